"""Invariants of a run, checked in SQL over whole tables: every check returns the rows that break it.

    report = check(run.con)              # every invariant, as the database stands (a finished run: its end)
    report.ok                            # True when no row breaks any invariant
    report.failures                      # check, rule, object_type, object_id, source, detail
    report.failed()                      # names of the checks that found rows

A check is a named invariant (TigerBeetle asserts them after every step, Beancount makes them
pipeline stages that return errors as data); each of its rules is one SELECT over whole tables that
yields what breaks it — the object and its id (which document), the table or file (where), and a
detail in words (what). Nothing loops over rows in Python, and a check never raises: a rule that
cannot run (a table gone) is itself a failure row. `cmpsim check RUN` runs them on a finished run;
`cmpsim run --check` after every simulated day (`check_day`).

The allowed lifecycles of orders, invoices, generic files and communications are data below
(`LIFECYCLES`), taken from the seeds' state diagrams (000, 001, 003, 004) and from the activity
sequences of the event logs of the shipped scenarios.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from cmpsim import reconcile as reconciliation
from cmpsim.errors import InvariantsBroken
from cmpsim.files import DESCRIBED, KEPT

__all__ = ["CHECKS", "Check", "CheckReport", "InvariantsBroken", "check", "check_day"]

START = "(start)"  # where every object's log begins


@dataclass(frozen=True)
class Lifecycle:
    """The states one kind of object goes through, as its table and the event log record them."""

    name: str
    object_type: str  # events.object_type
    entered_by: dict[str, str]  # activity -> the state it enters, in lifecycle order (ties at one moment)
    moves: dict[str, tuple[str, ...]]  # state -> the states it may move to; START -> the initial states
    silent: dict[str, tuple[str, ...]] = field(default_factory=dict)  # state -> statuses it shows unlogged

    def states(self) -> list[str]:
        seen = list(dict.fromkeys(self.entered_by.values()))
        return seen + [s for shown in self.silent.values() for s in shown if s not in seen]


LIFECYCLES = (
    # Seeds 000/001: New -> Awaiting Generation -> Awaiting Dispatch -> Complete or Error (the fraud
    # check, and a failed unit at the warehouse, end in Error).
    Lifecycle("hardware order", "order", {
        "Order Created": "New", "Order Generated": "Awaiting Generation",
        "Order Request Generated": "Awaiting Dispatch", "Order Complete": "Complete", "Order Error": "Error"}, {
        START: ("New",), "New": ("Awaiting Generation",), "Awaiting Generation": ("Awaiting Dispatch",),
        "Awaiting Dispatch": ("Complete", "Error")}),
    # Seed 004: submitted (or rejected at once), released when due, complete or failed; a revision is
    # pending until applied or refused, or discarded when a follow-on order of its base comes first. A
    # revision that moves a released order's due date ahead sends it back to Submitted without an event
    # (cmpsim.fulfilment.revisions), hence the silent status.
    Lifecycle("service order", "order", {
        "Order Submitted": "Submitted", "Revision Submitted": "Pending", "Order Released": "In Progress",
        "Order Complete": "Complete", "Order Failed": "Failed", "Revision Applied": "Applied",
        "Order Rejected": "Rejected", "Revision Rejected": "Rejected", "Revision Discarded": "Discarded"}, {
        START: ("Submitted", "Pending", "Rejected"), "Submitted": ("In Progress",),
        "In Progress": ("Complete", "Failed"), "Pending": ("Applied", "Rejected", "Discarded")},
        silent={"In Progress": ("Submitted",)}),
    # Seed 002: produced by Invoice Production, posted to both ledgers by Invoice Posting (the S/L part
    # first, so the G/L posting is the one that completes it).
    Lifecycle("invoice", "invoice", {"Invoice Produced": "Produced", "Posted To General Ledger": "Posted"},
              {START: ("Produced",), "Produced": ("Posted",)}),
    Lifecycle("outbound file", "generic_file", {"File Extracted": "Extracted", "File Transmitted": "Transmitted"},
              {START: ("Extracted",), "Extracted": ("Transmitted",)}),
    Lifecycle("inbound file", "generic_file", {"File Loaded": "Loaded", "File Quarantined": "Quarantined",
                                               "File Duplicate": "Duplicate"},
              {START: ("Loaded", "Quarantined", "Duplicate")}),
    # Seed 003: Comms Request Header -> Comms Monitor (details gathered) -> a daemon or a monitor job
    # (rendered, sent; gateways retry) -> what the providers report: a delivered message may still
    # bounce or come back, a read one not (cmpsim.comms.status). A header waiting for its case to be
    # resolved is logged as requested.
    Lifecycle("communication", "comm", {
        "Comm Requested": "Requested", "Comm Gathered": "Gathered", "Comm Retry Scheduled": "Retrying",
        "Comm Rendered": "Rendered", "Comm Sent": "Sent", "Comm Delivered": "Delivered", "Comm Read": "Read",
        "Comm Bounced": "Bounced", "Comm Returned": "Returned", "Comm Failed": "Failed"}, {
        START: ("Requested",), "Requested": ("Gathered", "Failed"),
        "Gathered": ("Rendered", "Sent", "Retrying", "Failed"), "Retrying": ("Sent", "Failed"), "Rendered": ("Sent",),
        "Sent": ("Delivered", "Read", "Bounced", "Returned"), "Delivered": ("Read", "Bounced", "Returned")},
        silent={"Requested": ("Waiting",)}),
)

# Order lines have no log of their own: their status follows their order's. (order kind, order
# status) -> (statuses its lines may have, statuses of which at least one line must have one).
LINES_OF = {
    ("hardware", "New"): (("New",), ()),
    ("hardware", "Awaiting Generation"): (("Awaiting Generation",), ()),
    ("hardware", "Awaiting Dispatch"): (("Awaiting Dispatch", "Complete", "Error"), ("Awaiting Dispatch",)),
    ("hardware", "Complete"): (("Complete",), ("Complete",)),
    ("hardware", "Error"): (("Complete", "Error"), ("Error",)),
    ("service", "Submitted"): (("Submitted", "Rejected", "Cancelled"), ()),
    ("service", "In Progress"): (("Submitted", "In Progress", "Complete", "Failed", "Rejected", "Cancelled",
                                  "Fallout"), ()),
    ("service", "Complete"): (("Complete", "Failed", "Rejected", "Cancelled"), ("Complete",)),
    ("service", "Failed"): (("Failed", "Rejected", "Cancelled"), ()),
    ("service", "Rejected"): (("Rejected",), ()),
    ("service", "Pending"): (("Pending",), ()),
    ("service", "Applied"): (("Applied",), ()),
    ("service", "Discarded"): (("Discarded",), ()),
}

# Ids allocated from a counter, numbered from 1 without gaps: a missing number is a lost row.
NUMBERED = (  # (object type, table, id column, prefix, digits, counter)
    ("order", "orders", "order_id", "HW", 8, "hardware_order"),
    ("order", "orders", "order_id", "SO", 8, "service_order"),
    ("invoice", "invoices", "invoice_id", "INV", 8, "invoice"),
    ("generic_file", "generic_files", "file_id", "GF", 8, "generic_file"),
    ("comm", "comms", "request_id", "CR", 8, "comms_request"),
)


COLUMNS = ("check", "rule", "object_type", "object_id", "source", "detail")
SCHEMA = {c: pl.Utf8 for c in COLUMNS}
IN_TRANSIT_DAYS = 1  # what CMP posted this recently may still be on its way to the ledgers


@dataclass(frozen=True)
class Context:
    """What the rules of a check are written against."""

    as_of: dt.datetime
    run_dir: Path | None
    receivables: str | None
    in_transit_days: int

    @property
    def moment(self) -> str:
        return f"TIMESTAMP '{self.as_of:%Y-%m-%d %H:%M:%S}'"

    def in_transit(self, alias: str) -> str:
        """SQL: a posting of the document `alias` names is still on its way, posted less than a day ago; or
        the document was posted to one ledger less than a day ago and not yet to the other (a posting run
        cut short, which the next night's run completes)."""
        doc = f"t.doc_type = {alias}.doc_type AND t.doc_id = {alias}.doc_id"
        recent = f"t.updated_at > {self.moment} - INTERVAL {self.in_transit_days} DAY"
        return (f"(EXISTS (SELECT 1 FROM postings t WHERE {doc} AND t.status <> 'Accepted' AND {recent}) "
                f"OR (SELECT count(DISTINCT t.ledger) = 1 AND bool_and({recent}) FROM postings t WHERE {doc}))")


Rule = tuple[str, str]  # (what must hold, in words; a SELECT of object_type, object_id, source, detail)


@dataclass(frozen=True)
class Check:
    """A named invariant and the rules that find the rows breaking it."""

    name: str
    invariant: str
    rules: Callable[[Context], list[Rule]]


OBJECTS = """
    SELECT CASE kind WHEN 'hardware' THEN 'hardware order' WHEN 'service' THEN 'service order' END AS lifecycle,
           'order' AS object_type, order_id AS object_id, status, 'orders' AS source FROM orders
    UNION ALL SELECT 'invoice', 'invoice', invoice_id, status, 'invoices' FROM invoices
    UNION ALL SELECT CASE direction WHEN 'out' THEN 'outbound file' WHEN 'in' THEN 'inbound file' END, 'generic_file',
                     file_id, status, 'generic_files' FROM generic_files
    UNION ALL SELECT 'communication', 'comm', request_id, status, 'comms' FROM comms"""

# Every state-changing event of an object of a table, with the state it enters (NULL: an activity of
# another lifecycle), in the order of the log: by moment, then lifecycle order (the log orders the
# events of one moment by name, not by cause), then sequence.
PATH = f"""
    SELECT o.lifecycle, o.object_type, o.object_id, o.status, o.source, e.activity, e.ts, e.seq, s.state,
           coalesce(s.rank, 999) AS rank
    FROM events e JOIN ({OBJECTS}) o ON o.object_type = e.object_type AND o.object_id = e.object_id
         LEFT JOIN _ck_states s ON s.lifecycle = o.lifecycle AND s.activity = e.activity
    WHERE e.activity IN (SELECT activity FROM _ck_states x WHERE x.object_type = e.object_type)"""


def _numbered(object_type: str, table: str, number: str, label: str, counter: str, where: str = "true") -> str:
    """Rows numbered 1..the counter's value, each number once: a missing number is a lost (or deleted)
    row, a repeated one a duplicate, one beyond the counter a row nobody allocated."""
    return f"""
        WITH ids AS (SELECT {number} AS n FROM {table} WHERE {where}),
             top AS (SELECT coalesce(max(value), 0) AS last FROM counters WHERE name = '{counter}')
        SELECT '{object_type}' AS object_type, {label.format(n='g.n')} AS object_id, '{table}' AS source,
               'number allocated (counter {counter}), no row: lost or deleted' AS detail
        FROM top, range(1, top.last + 1) g(n) ANTI JOIN ids ON ids.n = g.n
        UNION ALL
        SELECT '{object_type}', {label.format(n='n')}, '{table}',
               CASE WHEN count(*) > 1 THEN count(*) || ' rows with this number' ELSE 'numbered beyond the counter' END
        FROM ids, top GROUP BY n, top.last HAVING count(*) > 1 OR n IS NULL OR n < 1 OR n > top.last"""


def _journals(c: Context) -> list[Rule]:
    return [
        ("a booked journal's lines balance", """
            SELECT 'gl_journal' AS object_type, journal_id AS object_id, 'gl_entries' AS source,
                   min(doc_type) || ' ' || min(doc_id) || ': debits ' || sum(debit) || ', credits ' || sum(credit)
                   AS detail
            FROM gl_entries GROUP BY journal_id HAVING sum(debit) <> sum(credit)"""),
        ("a booked journal's totals balance", """
            SELECT 'gl_journal' AS object_type, journal_id AS object_id, 'gl_journals' AS source,
                   doc_type || ' ' || doc_id || ': total debit ' || total_debit || ', total credit ' || total_credit
                   AS detail
            FROM gl_journals WHERE total_debit <> total_credit"""),
        ("CMP's journal of a document balances", """
            SELECT 'posting' AS object_type, posting_id AS object_id, 'posting_lines' AS source,
                   'debits ' || sum(debit) || ', credits ' || sum(credit) AS detail
            FROM posting_lines GROUP BY posting_id HAVING sum(debit) <> sum(credit)"""),
    ]


def _control(c: Context) -> list[Rule]:
    explained = f"(len(b.faults) > 0 OR {c.in_transit('b')})"
    return [
        ("a document's S/L amount equals its receivables net, unless a recorded fault explains it", f"""
            SELECT b.doc_type AS object_type, b.doc_id AS object_id, 'sl_entries, gl_entries' AS source,
                   b.break_type || ': S/L ' || coalesce(b.sl_amount::VARCHAR, 'none') || ', receivables control '
                   || coalesce(b.gl_amount::VARCHAR, 'none') || ', difference ' || b.difference
                   || ', no fault recorded' || coalesce(' (' || b.cause || ')', '') AS detail
            FROM _rc_breaks b WHERE b.difference <> 0 AND NOT {explained}"""),
        ("the S/L total equals the receivables control account, but for what faults explain", f"""
            WITH totals AS (
                SELECT (SELECT coalesce(sum(amount), 0) FROM sl_entries) AS sl,
                       (SELECT coalesce(sum(debit - credit), 0) FROM gl_entries
                        WHERE gl_account = {_text(c.receivables)}) AS gl),
                 known AS (SELECT coalesce(sum(b.difference), 0) AS d FROM _rc_breaks b WHERE {explained})
            SELECT 'ledger' AS object_type, 'receivables control' AS object_id, 'sl_entries, gl_entries' AS source,
                   'S/L total ' || sl || ', receivables control ' || gl || ', difference ' || (sl - gl)
                   || ', explained by recorded faults or in transit ' || d AS detail
            FROM totals, known WHERE sl - gl <> d"""),
    ]


def _objects(c: Context) -> list[Rule]:
    rules = [
        ("one row per object", """
            SELECT object_type, object_id, source, count(*) || ' rows with this id' AS detail FROM (
                SELECT 'order' AS object_type, order_id AS object_id, 'orders' AS source FROM orders
                UNION ALL SELECT 'order line', order_id || ' line ' || line_no, 'order_lines' FROM order_lines
                UNION ALL SELECT 'invoice', invoice_id, 'invoices' FROM invoices
                UNION ALL SELECT 'generic_file', file_id, 'generic_files' FROM generic_files
                UNION ALL SELECT 'comm', request_id, 'comms' FROM comms)
            GROUP BY ALL HAVING count(*) > 1"""),
        ("ids numbered from 1 without gaps up to their counter", _union(*(
            _numbered(t, table, f"try_cast(substr({col}, {len(prefix) + 2}) AS BIGINT)",
                      f"'{prefix}-' || lpad({{n}}::VARCHAR, {digits}, '0')", counter, f"{col} LIKE '{prefix}-%'")
            for t, table, col, prefix, digits, counter in NUMBERED))),
        ("every object of a table is in the event log, and every object of the log in its table", f"""
            WITH objects AS ({OBJECTS}),
                 logged AS (SELECT DISTINCT object_type, object_id FROM events
                            WHERE object_type IN ('order', 'invoice', 'generic_file', 'comm'))
            SELECT o.object_type, o.object_id, o.source, 'in ' || o.source || ', never in the event log' AS detail
            FROM objects o ANTI JOIN logged l ON l.object_type = o.object_type AND l.object_id = o.object_id
            UNION ALL
            SELECT l.object_type, l.object_id, 'events', 'in the event log, not in its table: lost'
            FROM logged l ANTI JOIN objects o ON o.object_type = l.object_type AND o.object_id = l.object_id"""),
        ("every order has lines numbered 1..n, every line an order", """
            SELECT 'order line' AS object_type, l.order_id || ' line ' || l.line_no AS object_id,
                   'order_lines' AS source, 'a line of no order: its order is lost' AS detail
            FROM order_lines l ANTI JOIN orders o USING (order_id)
            UNION ALL
            SELECT 'order', o.order_id, 'order_lines', 'an order without lines' FROM orders o
            ANTI JOIN order_lines l USING (order_id)
            UNION ALL
            SELECT 'order', order_id, 'order_lines', 'lines numbered ' || min(line_no) || '..' || max(line_no) || ', '
                   || count(DISTINCT line_no) || ' numbers: a line is lost'
            FROM order_lines GROUP BY order_id HAVING min(line_no) <> 1 OR max(line_no) <> count(DISTINCT line_no)"""),
    ]
    if c.run_dir is not None:
        rules.append(("every registered generic file is at its path with its checksum; CMP's folders hold no other",
                      """
            SELECT 'generic_file' AS object_type, g.file_id AS object_id, g.path AS source,
                   CASE WHEN d.path IS NULL THEN 'not at its registered path: lost'
                        ELSE 'its bytes are not those registered (sha256 ' || d.sha256 || ')' END AS detail
            FROM generic_files g LEFT JOIN _ck_disk d ON d.path = g.path WHERE d.path IS NULL OR d.sha256 <> g.sha256
            UNION ALL
            SELECT 'generic_file', d.path, d.path, 'a generic file in CMP''s folders its register does not name'
            FROM _ck_disk d WHERE d.path LIKE '%.json.enc' AND d.path NOT LIKE 'files/in/%'
              AND d.path NOT IN (SELECT path FROM generic_files)
            UNION ALL
            SELECT 'generic_file', g.file_id, g.path, g.status || ' without its reason note beside it'
            FROM generic_files g WHERE g.status IN ('Quarantined', 'Duplicate')
              AND g.path || '.reason.json' NOT IN (SELECT path FROM _ck_disk)"""))
    return rules


def _states(c: Context) -> list[Rule]:
    return [
        ("an object's status is a state of its lifecycle", f"""
            SELECT o.object_type, o.object_id, o.source,
                   coalesce(o.lifecycle, 'an object of unknown kind') || ' in status ' || coalesce(o.status, 'null')
                   || ', not a state of its lifecycle' AS detail
            FROM ({OBJECTS}) o ANTI JOIN _ck_known k ON k.lifecycle = o.lifecycle AND k.status = o.status"""),
        ("the log starts in an initial state and moves only along allowed transitions", f"""
            WITH path AS (SELECT *, lag(state, 1, '{START}') OVER (PARTITION BY object_type, object_id
                                                                  ORDER BY ts, rank, seq) AS previous FROM ({PATH}))
            SELECT object_type, object_id, 'events' AS source,
                   lifecycle || ': ' || CASE WHEN state IS NULL THEN activity || ' is not an activity of its lifecycle'
                                             ELSE previous || ' -> ' || state || ' (' || activity || ') is not allowed'
                                        END || ' (event ' || seq || ', ' || strftime(ts, '%Y-%m-%d %H:%M') || ')'
                   AS detail
            FROM path p WHERE state IS NULL OR (previous IS DISTINCT FROM state AND NOT EXISTS (
                SELECT 1 FROM _ck_moves m WHERE m.lifecycle = p.lifecycle AND m.from_state = p.previous
                                            AND m.to_state = p.state))"""),
        ("an object's status is the state its log leads to", f"""
            WITH last AS (SELECT * FROM ({PATH}) WHERE state IS NOT NULL
                          QUALIFY row_number() OVER (PARTITION BY object_type, object_id
                                                     ORDER BY ts DESC, rank DESC, seq DESC) = 1)
            SELECT o.object_type, o.object_id, o.source,
                   o.lifecycle || ' in status ' || o.status || ', its log leads to ' || coalesce(l.state, 'no state')
                   AS detail
            FROM ({OBJECTS}) o LEFT JOIN last l ON l.object_type = o.object_type AND l.object_id = o.object_id
            WHERE o.status IS DISTINCT FROM l.state
              AND (o.object_type, o.object_id) IN (SELECT object_type, object_id FROM events)
              AND NOT EXISTS (SELECT 1 FROM _ck_silent x WHERE x.lifecycle = o.lifecycle AND x.state = l.state
                                                           AND x.status = o.status)"""),
        ("an order's lines are in statuses its own status allows", """
            WITH l AS (SELECT o.kind, o.status AS order_status, l.order_id, l.line_no, l.status
                       FROM order_lines l JOIN orders o USING (order_id))
            SELECT 'order line' AS object_type, l.order_id || ' line ' || l.line_no AS object_id,
                   'order_lines' AS source,
                   'a line in status ' || l.status || ' of a ' || l.kind || ' order ' || l.order_status AS detail
            FROM l ANTI JOIN _ck_lines_of k ON k.kind = l.kind AND k.order_status = l.order_status
                                            AND k.line_status = l.status
            UNION ALL
            SELECT 'order', o.order_id, 'order_lines', 'a ' || o.kind || ' order ' || o.status || ' with no line '
                   || r.needs
            FROM orders o JOIN (SELECT kind, order_status, string_agg(line_status, ' or ' ORDER BY line_status) AS needs
                                FROM _ck_lines_of WHERE required GROUP BY ALL) r
                 ON r.kind = o.kind AND r.order_status = o.status
            WHERE NOT EXISTS (SELECT 1 FROM order_lines l JOIN _ck_lines_of k ON k.line_status = l.status
                              WHERE l.order_id = o.order_id AND k.kind = o.kind AND k.order_status = o.status
                                AND k.required)"""),
        ("a hardware line agrees with what became of its units", """
            WITH units AS (SELECT object_id AS order_id, try_cast(split_part(detail, ':', 1) AS INTEGER) AS line_no,
                                  bool_or(activity = 'Item Failed') AS failed
                           FROM events WHERE object_type = 'order' AND activity IN ('Item Dispatched', 'Item Failed')
                           GROUP BY ALL)
            SELECT 'order line' AS object_type, l.order_id || ' line ' || l.line_no AS object_id,
                   'order_lines' AS source,
                   CASE WHEN u.failed THEN 'a unit failed at the warehouse, yet the line is ' || l.status
                        ELSE 'in Error with no failed unit and no failed fraud check' END AS detail
            FROM order_lines l JOIN orders o USING (order_id) LEFT JOIN units u USING (order_id, line_no)
            WHERE o.kind = 'hardware'
              AND ((coalesce(u.failed, false) AND l.status NOT IN ('Awaiting Dispatch', 'Error'))
                   OR (l.status = 'Error' AND NOT coalesce(u.failed, false)
                       AND coalesce(l.status_reason, '') NOT LIKE 'Fraud check failed%'))"""),
    ]


def _stock(c: Context) -> list[Rule]:
    return [
        # Free stock (on hand less reserved) may be negative: a line no warehouse can cover is placed at
        # the first one anyway, to fail there OUT_OF_STOCK (cmpsim.orders.request).
        ("stock on hand and reserved is never negative", """
            SELECT 'stock' AS object_type, warehouse_id || ' ' || product_id AS object_id, 'stock' AS source,
                   'on hand ' || on_hand || ', reserved ' || reserved AS detail
            FROM stock WHERE on_hand < 0 OR reserved < 0
            UNION ALL
            SELECT 'stock', warehouse_id || ' ' || product_id, 'wh_stock', 'physical stock ' || on_hand
            FROM wh_stock WHERE on_hand < 0"""),
        ("reserved stock equals the units in requests not yet answered", """
            WITH flight AS (SELECT warehouse_id, product_id, sum(quantity) AS units FROM request_lines
                            WHERE status IN ('Batched', 'Sent') GROUP BY ALL)
            SELECT 'stock' AS object_type, warehouse_id || ' ' || product_id AS object_id,
                   'stock, request_lines' AS source,
                   'reserved ' || coalesce(s.reserved, 0) || ', units in flight ' || coalesce(f.units, 0) AS detail
            FROM stock s FULL JOIN flight f USING (warehouse_id, product_id)
            WHERE coalesce(s.reserved, 0) <> coalesce(f.units, 0)"""),
    ]


def _posted_once(c: Context) -> list[Rule]:
    return [
        ("CMP posts a posted invoice once to each ledger, a produced one not to the G/L", """
            WITH per AS (SELECT i.invoice_id, i.status, count(p.posting_id) FILTER (WHERE p.ledger = 'SL') AS sl,
                                count(p.posting_id) FILTER (WHERE p.ledger = 'GL') AS gl
                         FROM invoices i LEFT JOIN postings p ON p.doc_type = 'invoice' AND p.doc_id = i.invoice_id
                         GROUP BY ALL)
            SELECT 'invoice' AS object_type, invoice_id AS object_id, 'postings' AS source,
                   status || ' with ' || sl || ' S/L and ' || gl || ' G/L posting(s)' AS detail
            FROM per WHERE sl > 1 OR gl > 1 OR (status = 'Posted' AND (sl <> 1 OR gl <> 1))
                        OR (status = 'Produced' AND gl > 0)
            UNION ALL
            SELECT 'invoice', p.doc_id, 'postings', 'posted as ' || p.posting_id || ', no such invoice'
            FROM postings p WHERE p.doc_type = 'invoice' AND p.doc_id NOT IN (SELECT invoice_id FROM invoices)"""),
        ("each ledger books an invoice CMP posted once, unless a recorded fault explains it", f"""
            WITH booked AS (SELECT doc_id, 'SL' AS ledger, count(*) AS n FROM sl_entries WHERE doc_type = 'invoice'
                            GROUP BY ALL
                            UNION ALL SELECT doc_id, 'GL', count(*) FROM gl_journals WHERE doc_type = 'invoice'
                            GROUP BY ALL),
                 sides AS (SELECT coalesce(p.doc_id, b.doc_id) AS doc_id, coalesce(p.ledger, b.ledger) AS ledger,
                                 p.status, p.updated_at, coalesce(b.n, 0) AS n
                          FROM (SELECT * FROM postings WHERE doc_type = 'invoice') p
                          FULL JOIN booked b ON b.doc_id = p.doc_id AND b.ledger = p.ledger)
            SELECT 'invoice' AS object_type, doc_id AS object_id,
                   CASE ledger WHEN 'SL' THEN 'sl_entries' ELSE 'gl_journals' END AS source,
                   'booked ' || n || ' time(s) in the ' || ledger || CASE WHEN status IS NULL
                   THEN ', never posted by CMP' ELSE ', CMP''s posting ' || status END || ', no fault recorded'
                   AS detail
            FROM sides
            WHERE doc_id NOT IN (SELECT doc_id FROM _rc_breaks WHERE doc_type = 'invoice' AND len(faults) > 0)
              AND (n > 1 OR status IS NULL OR (n = 0 AND (status = 'Accepted' OR updated_at <= {c.moment}
                                                          - INTERVAL {c.in_transit_days} DAY)))"""),
    ]


def _booked_as_posted(ledger: str) -> str:
    """SQL joins: a booking (alias e, its posting id and source file) with CMP's posting, the ledger
    system's record of the file, and the attempt that file carried."""
    return f"""
        LEFT JOIN postings p ON p.posting_id = e.posting_id AND p.ledger = '{ledger}'
        LEFT JOIN acct_files f ON f.file_name = e.source_file AND f.status = 'Processed' AND f.ledger = '{ledger}'
        LEFT JOIN generic_files g ON g.name = e.source_file AND g.direction = 'out'
        LEFT JOIN posting_attempts a ON a.posting_id = e.posting_id AND a.batch_id = g.batch_id"""


def _differs(*pairs: tuple[str, str]) -> str:
    """SQL: the fields that differ between two sides, named with both values, or NULL."""
    return "nullif(concat_ws(', ', " + ", ".join(
        f"CASE WHEN {a} IS DISTINCT FROM {b} THEN '{a.split('.')[-1]} ' || coalesce({a}::VARCHAR, 'null') || "
        f"' against ' || coalesce({b}::VARCHAR, 'null') END" for a, b in pairs) + "), '')"


def _append_only(c: Context) -> list[Rule]:
    booked = ("e.posted_at", "f.received_at"), ("e.posting_date", "a.posting_date"), (
        "e.period", "strftime(e.posting_date, '%Y-%m')")
    document = ("e.doc_type", "p.doc_type"), ("e.doc_id", "p.doc_id"), ("e.account_id", "p.account_id")
    sl_differs = _differs(*document, ("e.amount", "p.amount"), ("e.description", "p.description"), *booked)
    gl_differs = _differs(*document, ("e.lines", "c.lines"), ("e.total_debit", "c.debit"),
                          ("e.total_credit", "c.credit"), *booked)
    line_differs = _differs(("e.gl_account", "l.gl_account"), ("e.debit", "l.debit"), ("e.credit", "l.credit"),
                            ("e.description", "l.description"), ("e.doc_type", "j.doc_type"), ("e.doc_id", "j.doc_id"),
                            ("e.account_id", "j.account_id"), ("e.posting_date", "j.posting_date"),
                            ("e.period", "j.period"), ("e.posted_at", "j.posted_at"))
    return [
        ("ledger entries, journals and events are numbered without gaps up to their counters", _union(
            _numbered("sl_entry", "sl_entries", "entry_id", "{n}::VARCHAR", "sl_entry"),
            _numbered("gl_journal", "gl_journals", "try_cast(substr(journal_id, 5) AS BIGINT)",
                      "'JNL-' || lpad({n}::VARCHAR, 9, '0')", "gl_journal"),
            _numbered("event", "events", "seq", "{n}::VARCHAR", "event"))),
        ("each S/L entry is what CMP posted, booked from the file that carried it", f"""
            SELECT 'sl_entry' AS object_type, e.entry_id AS object_id, 'sl_entries' AS source,
                   e.posting_id || ': ' || CASE WHEN p.posting_id IS NULL THEN 'no S/L posting by CMP'
                       WHEN f.file_name IS NULL THEN 'from ' || e.source_file || ', a file the ledger never processed'
                       ELSE {sl_differs} END AS detail
            FROM sl_entries e {_booked_as_posted('SL')}
            WHERE p.posting_id IS NULL OR f.file_name IS NULL
               OR {sl_differs} IS NOT NULL"""),
        ("each G/L journal is what CMP posted, booked from the file that carried it", f"""
            WITH cmp AS (SELECT posting_id, count(*) AS lines, sum(debit) AS debit, sum(credit) AS credit
                         FROM posting_lines GROUP BY ALL)
            SELECT 'gl_journal' AS object_type, e.journal_id AS object_id, 'gl_journals' AS source,
                   e.posting_id || ': ' || CASE WHEN p.posting_id IS NULL THEN 'no G/L posting by CMP'
                       WHEN f.file_name IS NULL THEN 'from ' || e.source_file || ', a file the ledger never processed'
                       ELSE {gl_differs} END AS detail
            FROM gl_journals e {_booked_as_posted('GL')} LEFT JOIN cmp c ON c.posting_id = e.posting_id
            WHERE p.posting_id IS NULL OR f.file_name IS NULL
               OR {gl_differs} IS NOT NULL"""),
        ("each G/L line is CMP's line of the posting, under its journal's header", f"""
            SELECT 'gl_journal' AS object_type, e.journal_id || ' line ' || e.line_no AS object_id,
                   'gl_entries' AS source,
                   CASE WHEN j.journal_id IS NULL THEN 'a line of no journal'
                        WHEN l.posting_id IS NULL THEN 'no such line in CMP''s posting ' || j.posting_id
                        ELSE {line_differs} END
                   AS detail
            FROM gl_entries e LEFT JOIN gl_journals j USING (journal_id)
                 LEFT JOIN posting_lines l ON l.posting_id = j.posting_id AND l.line_no = e.line_no
            WHERE j.journal_id IS NULL OR l.posting_id IS NULL
               OR {line_differs} IS NOT NULL
            UNION ALL
            SELECT 'gl_journal', j.journal_id, 'gl_entries', 'booked with ' || j.lines || ' lines, '
                   || coalesce(n, 0) || ' kept'
            FROM gl_journals j LEFT JOIN (SELECT journal_id, count(*) AS n FROM gl_entries GROUP BY ALL)
                 USING (journal_id) WHERE coalesce(n, 0) <> j.lines"""),
        ("the books hold as many records from each file as the ledger system accepted", """
            WITH booked AS (SELECT source_file, count(*) AS n FROM sl_entries GROUP BY ALL
                            UNION ALL SELECT source_file, count(*) FROM gl_journals GROUP BY ALL)
            SELECT 'ledger file' AS object_type, f.file_name AS object_id, 'acct_files' AS source,
                   'accepted ' || f.accepted || ' record(s), the books hold ' || coalesce(b.n, 0) AS detail
            FROM acct_files f LEFT JOIN booked b ON b.source_file = f.file_name
            WHERE f.status = 'Processed' AND coalesce(b.n, 0) <> f.accepted"""),
        ("every CMP posting keeps its attempts, and every batch the attempts it recorded", """
            SELECT 'posting' AS object_type, a.posting_id AS object_id, 'posting_attempts' AS source,
                   'attempt ' || a.attempt || ' of a posting that is gone: deleted' AS detail
            FROM posting_attempts a ANTI JOIN postings p USING (posting_id)
            UNION ALL
            SELECT 'posting', p.posting_id, 'postings', 'made ' || p.attempts || ' attempt(s), '
                   || coalesce(a.n, 0) || ' kept'
            FROM postings p LEFT JOIN (SELECT posting_id, count(DISTINCT attempt) AS n, max(attempt) AS m
                                       FROM posting_attempts GROUP BY ALL) a USING (posting_id)
            WHERE coalesce(a.n, 0) <> p.attempts OR a.m <> p.attempts
            UNION ALL
            SELECT 'posting batch', b.batch_id, 'posting_batches', 'recorded ' || b.sl_records || ' S/L and '
                   || b.gl_records || ' G/L record(s), holds ' || coalesce(a.sl, 0) || ' and ' || coalesce(a.gl, 0)
            FROM posting_batches b LEFT JOIN (SELECT batch_id, count(*) FILTER (WHERE posting_id LIKE 'SL:%') AS sl,
                                                     count(*) FILTER (WHERE posting_id LIKE 'GL:%') AS gl
                                              FROM posting_attempts GROUP BY ALL) a USING (batch_id)
            WHERE coalesce(a.sl, 0) <> b.sl_records OR coalesce(a.gl, 0) <> b.gl_records"""),
    ]


def _union(*selects: str) -> str:
    return " UNION ALL ".join(f"({sql})" for sql in selects)


def _text(value: str | None) -> str:
    """A SQL string literal (or NULL)."""
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


CHECKS = (
    Check("journals_balance", "Every journal balances: debits equal credits, in CMP's postings and in the "
          "general ledger.", _journals),
    Check("receivables_control", "The sum of the sales-ledger balances equals the receivables control account, "
          "unless a recorded fault explains the difference (or its documents were posted less than a day ago).",
          _control),
    Check("objects_once", "No order, line, invoice, generic file or communication is lost or duplicated: one row "
          "each, numbered without gaps, in its table and in the event log alike; every registered file on disk "
          "with its checksum.", _objects),
    Check("states_and_transitions", "Every order, line, invoice, generic file and communication is in one state "
          "of its lifecycle, reached by allowed transitions, and its table says what its log says.", _states),
    Check("stock_not_negative", "Stock never goes negative (on hand and reserved at CMP, physical at the "
          "warehouses), and what is reserved is what is in flight.", _stock),
    Check("invoices_posted_once", "Every invoice is posted exactly once per ledger: one S/L and one G/L posting "
          "by CMP, each booked once, unless a recorded fault explains it.", _posted_once),
    Check("postings_append_only", "No posting was ever updated or deleted: every ledger entry is numbered without "
          "gaps and is what CMP posted in the file the ledger system read; CMP's postings keep their attempts; "
          "the event log has no gaps.", _append_only),
)


@dataclass(frozen=True)
class CheckReport:
    """The outcome of every check on a database as it stood at `as_of`."""

    as_of: dt.datetime
    failures: pl.DataFrame  # one row per offending object and rule, columns COLUMNS
    seconds: dict[str, float] = field(default_factory=dict)  # wall seconds per check, never stored

    @property
    def ok(self) -> bool:
        return self.failures.height == 0

    def failed(self) -> list[str]:
        """Names of the checks that found offending rows, in the order of CHECKS."""
        found = set(self.failures["check"])
        return [c.name for c in CHECKS if c.name in found]

    def counts(self) -> dict[str, int]:
        """Offending rows per check, every check named (0: it holds)."""
        counts = dict(self.failures.group_by("check").len().rows())
        return {c.name: counts.get(c.name, 0) for c in CHECKS}

    def summary(self, rows_max: int | None = None) -> dict[str, Any]:
        """Plain data for JSON: every check with what it asserts and its offending rows."""
        out = []
        for c in CHECKS:
            rows = self.failures.filter(pl.col("check") == c.name).drop("check")
            out.append({"check": c.name, "invariant": c.invariant, "holds": rows.height == 0,
                        "offending": rows.height, "rows": rows.head(rows_max).to_dicts() if rows_max is not None
                        else rows.to_dicts()})
        return {"as_of": self.as_of.isoformat(), "ok": self.ok, "checks": out}


def check(con: duckdb.DuckDBPyConnection, *, as_of: dt.datetime | None = None,
          run_dir: Path | str | None = None) -> CheckReport:
    """Run every check on the database of `con` as it stands now.

    `as_of` is the simulated moment the database stands at (a midnight in `--check` mode; default:
    the end of the run), from which postings of the last day count as possibly still in transit.
    `run_dir` is the run folder whose generic files are compared with the register (default: the
    folder of the database file; none for a database in memory)."""
    cursor = con.cursor()  # temporary tables stay on a connection of the check's own
    try:
        context = _context(cursor, as_of, run_dir)
        frames, seconds = [], {}
        for c in CHECKS:
            began = time.perf_counter()
            frames.extend(_run_rule(cursor, c.name, rule, sql, context) for rule, sql in c.rules(context))
            seconds[c.name] = time.perf_counter() - began
    finally:
        cursor.close()
    failures = pl.concat([pl.DataFrame(schema=SCHEMA), *frames], how="vertical")
    return CheckReport(context.as_of, failures, seconds)


def check_day(sim, day: int) -> CheckReport:
    """A day hook (`Simulation.day_hooks`): check the run at this midnight; raise InvariantsBroken on a failure."""
    report = check(sim.con, as_of=sim.now, run_dir=sim.run_dir)
    if not report.ok:
        raise InvariantsBroken(day, report)
    return report


def _run_rule(cursor, check_name: str, rule: str, sql: str, context: Context) -> pl.DataFrame:
    """One rule's offending rows, in a stable order; a rule that cannot run is reported, not raised."""
    try:
        frame = cursor.sql(f"""SELECT object_type::VARCHAR AS object_type, object_id::VARCHAR AS object_id,
                                      source::VARCHAR AS source, detail::VARCHAR AS detail
                               FROM ({sql}) ORDER BY ALL""").pl()
    except duckdb.Error as exc:
        frame = pl.DataFrame([{"object_type": "check", "object_id": rule, "source": "database",
                               "detail": f"the rule could not run: {str(exc).splitlines()[0]}"}], schema={
                                   c: pl.Utf8 for c in COLUMNS[2:]})
    return frame.with_columns(check=pl.lit(check_name), rule=pl.lit(rule)).select(COLUMNS)


def _context(cursor, as_of: dt.datetime | None, run_dir: Path | str | None) -> Context:
    info = dict(cursor.execute("SELECT key, value FROM run_info").fetchall())
    if as_of is None:
        as_of = dt.datetime.fromisoformat(info["start_date"]) + dt.timedelta(days=int(info["horizon_days"]))
    if run_dir is None:
        path = cursor.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
        run_dir = Path(path[0][0]).resolve().parent if path and path[0][0] else None
    receivables = cursor.execute("SELECT min(gl_account) FROM posting_rules WHERE rule = 'receivables'").fetchall()
    _reconcile(cursor)
    _lifecycle_tables(cursor)
    if run_dir is not None:
        _disk_table(cursor, Path(run_dir))
    return Context(as_of=as_of, run_dir=Path(run_dir) if run_dir is not None else None,
                   receivables=receivables[0][0] if receivables else None, in_transit_days=IN_TRANSIT_DAYS)


def _reconcile(cursor) -> None:
    """The document-level comparison of both ledgers with the cause of each break (`_rc_breaks`),
    which the ledger checks read; an empty list when the books cannot be compared."""
    try:
        reconciliation.reconcile(cursor)
    except duckdb.Error:
        cursor.execute("""CREATE OR REPLACE TEMP TABLE _rc_breaks (break_type VARCHAR, doc_type VARCHAR,
                          doc_id VARCHAR, sl_amount DECIMAL(18,2), gl_amount DECIMAL(18,2),
                          difference DECIMAL(18,2), cause VARCHAR, faults INTEGER[])""")


def _lifecycle_tables(cursor) -> None:
    """LIFECYCLES and LINES_OF as temporary tables the rules join: states entered by activities (with
    their rank in lifecycle order), allowed moves, statuses a table may show, silent statuses."""
    states = [(lc.name, lc.object_type, activity, state, list(dict.fromkeys(lc.entered_by.values())).index(state))
              for lc in LIFECYCLES for activity, state in lc.entered_by.items()]
    moves = [(lc.name, a, b) for lc in LIFECYCLES for a, targets in lc.moves.items() for b in targets]
    known = [(lc.name, status) for lc in LIFECYCLES for status in lc.states()]
    silent = [(lc.name, state, status) for lc in LIFECYCLES for state, shown in lc.silent.items() for status in shown]
    lines = [(kind, order_status, line_status, line_status in needed)
             for (kind, order_status), (allowed, needed) in LINES_OF.items() for line_status in allowed]
    for name, columns, rows in (("_ck_states", "lifecycle, object_type, activity, state, rank", states),
                                ("_ck_moves", "lifecycle, from_state, to_state", moves),
                                ("_ck_known", "lifecycle, status", known),
                                ("_ck_silent", "lifecycle, state, status", silent),
                                ("_ck_lines_of", "kind, order_status, line_status, required", lines)):
        frame = pl.DataFrame(rows, schema=[c.strip() for c in columns.split(",")], orient="row")
        cursor.register("_ck_frame", frame.to_arrow())
        cursor.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _ck_frame")
        cursor.unregister("_ck_frame")


def _disk_table(cursor, run_dir: Path) -> None:
    """`_ck_disk`: every generic file and quarantine note under the run's `files/`, with the SHA-256 of
    its bytes. Listed and hashed here rather than by DuckDB's glob, which skips names with a backslash."""
    folder = run_dir / "files"
    paths = []
    for root, dirs, names in os.walk(folder):  # os.walk does not descend into links to folders
        here = Path(root)
        # Inboxes hold what partners drop (read by the Load daemons, not here); a folder kept whole in
        # quarantine is the partner's, never looked into.
        dirs[:] = [d for d in dirs if not (here == folder and d == "in")
                   and not (here.parent == folder / "quarantine" and d.endswith(KEPT))]
        paths += [here / n for n in names
                  if n.endswith((".json.enc", ".reason.json", DESCRIBED)) and stat.S_ISREG(os.lstat(here / n).st_mode)]
    paths.sort()
    frame = pl.DataFrame({"path": [p.relative_to(run_dir).as_posix() for p in paths],
                          "sha256": [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]},
                         schema={"path": pl.Utf8, "sha256": pl.Utf8})
    cursor.register("_ck_frame", frame.to_arrow())
    cursor.execute("CREATE OR REPLACE TEMP TABLE _ck_disk AS SELECT * FROM _ck_frame")
    cursor.unregister("_ck_frame")
