"""Triggers: what creates an entry in the Comms Request Header (`comms`).

The Comms Trigger is invoked by the work that logs a triggering event — a hardware order dispatched
(Order Complete), an order in error, failed or rejected, an invoice produced, a customer service case
opened — or raises a probe alert (engine.OnEvents): within that wake-up and at its moment, it reads
the event log from where it stopped (`comms_cursor`) and creates one header per rule (`comms.rules`)
whose trigger matches, and one per recipient of each pending probe alert. A daily job adds the
invoices overdue by the rule's `after_days`. A workflow event makes its header when it is created,
whatever its WhenToCreate (seed 003); with OnResolve the header waits (status Waiting) until the case
is resolved.

The channel is the rule's, or the customer's preferred one (`preferred`), or follows the probe
recipient (`recipient`: an address with @ by e-mail, anything else by push to external). Each
communication goes to exactly one target, chosen when the Comms Monitor gathers its details.
"""

from __future__ import annotations

import polars as pl

from cmpsim.comms.tables import cursor_sql, move_cursor
from cmpsim.probes import ACTIVITY as PROBE_ACTIVITY
from cmpsim.store import registered

# The events each trigger makes headers for: their object type, their activities, hardware orders only.
EVENT_TRIGGERS = {
    "order_dispatched": ("order", ("Order Complete",), True),
    "order_error": ("order", ("Order Error", "Order Failed", "Order Rejected"), False),
    "invoice_produced": ("invoice", ("Invoice Produced",), False),
    "workflow_event": ("case", ("Case Opened",), False),
}
ACTIVITIES = tuple(activity for _, activities, _ in EVENT_TRIGGERS.values() for activity in activities)
# What invokes the Comms Trigger: an event it makes headers for, or a probe raising an alert.
INVOKED_BY = (*ACTIVITIES, PROBE_ACTIVITY["alert"])
# One pass over the events logged since the trigger last read the log (?: after, up to), those in the
# table and those still held in memory (`_cm_held`), each joined to the rules it matches (?: rule, object
# type, activity, hardware only); then the pending probe alerts (?: rule, up to the moment).
CANDIDATES = """
    SELECT r.rule_no, e.object_id, coalesce(o.account_id, i.account_id, w.account_id) AS account_id,
           NULL::VARCHAR AS recipient, e.seq AS sort
    FROM (SELECT seq, object_type, object_id, activity FROM events WHERE seq > ? AND seq <= ?
          UNION ALL SELECT seq, object_type, object_id, activity FROM _cm_held) e
    JOIN (SELECT unnest(?::INTEGER[]) AS rule_no, unnest(?::VARCHAR[]) AS object_type,
                 unnest(?::VARCHAR[]) AS activity, unnest(?::BOOLEAN[]) AS hardware_only) r
         USING (object_type, activity)
    LEFT JOIN orders o ON e.object_type = 'order' AND o.order_id = e.object_id
    LEFT JOIN invoices i ON e.object_type = 'invoice' AND i.invoice_id = e.object_id
    LEFT JOIN wf_cases w ON e.object_type = 'case' AND w.case_id = e.object_id
    WHERE NOT r.hardware_only OR o.kind = 'hardware'
    UNION ALL
    SELECT r.rule_no, a.probe || ' @ ' || strftime(a.evaluated_at, '%Y-%m-%d %H:%M'), NULL, a.recipient,
           epoch(a.evaluated_at)::BIGINT
    FROM probe_alerts a, (SELECT unnest(?::INTEGER[]) AS rule_no) r
    WHERE a.status = 'Pending' AND a.evaluated_at <= ?
    ORDER BY sort, rule_no, object_id, recipient"""
CANDIDATE_SCHEMA = {"rule_no": pl.Int64, "object_id": pl.String, "account_id": pl.String, "recipient": pl.String,
                    "sort": pl.Int64}
OBJECT_TYPE = {"order_dispatched": "order", "order_error": "order", "invoice_produced": "invoice",
               "workflow_event": "case", "payment_overdue": "invoice", "probe_alert": "probe_alert"}


def rules(sim, trigger: str) -> list[tuple[int, dict]]:
    return [(i, r) for i, r in enumerate(sim.scenario["comms"]["rules"]) if r["trigger"] == trigger]


class ReadUpTo:
    """The last event of the log the Comms Trigger has read: kept in memory between commits and
    written to `comms_cursor` at each (store.WorkingState), so a resumed run reads on from where its
    last flush left it and creates no header twice."""

    def __init__(self, seq: int | None):
        self.seq = self._marked = self._written = seq

    def write(self, con) -> None:
        if self.seq != self._written:
            move_cursor(con, "events", self.seq)
            self._written = self.seq

    def mark(self) -> None:
        self._marked = self.seq

    def restore(self) -> None:
        self.seq = self._marked


def _read_up_to(store) -> ReadUpTo:
    return ReadUpTo(store.scalar(f"SELECT {cursor_sql('events')}"))


def comms_trigger_step(sim) -> int:
    """Headers for the events logged since the trigger last read the log and for pending probe alerts,
    created when the work that logged them invokes it: they carry that wake-up's moment."""
    cursor = sim.store.working("comms trigger", _read_up_to)
    last, top = cursor.seq or 0, sim.store.last_event
    matching, alerting = _event_rules(sim), [rule_no for rule_no, _ in rules(sim, "probe_alert")]
    created = []
    if matching[0] or alerting:
        with registered(sim.con, "_cm_held", sim.store.held_events(last, ACTIVITIES).to_arrow()):
            found = sim.con.execute(CANDIDATES, [last, top, *matching, alerting, sim.now]).fetchall()
        created = _create(sim, pl.DataFrame(found, schema=CANDIDATE_SCHEMA, orient="row"))
    if "probe_alert" in created:  # the alerts a header was requested for
        sim.con.execute("UPDATE probe_alerts SET status = 'Requested' WHERE status = 'Pending' AND evaluated_at <= ?",
                        [sim.now])
    cursor.seq = top
    return len(created)


def _event_rules(sim) -> list[list]:
    """The rules of event triggers, one row per activity each matches, as four columns: rule number,
    object type, activity, hardware orders only."""
    rows = [(rule_no, object_type, activity, hardware)
            for rule_no, rule in enumerate(sim.scenario["comms"]["rules"]) if rule["trigger"] in EVENT_TRIGGERS
            for object_type, activities, hardware in [EVENT_TRIGGERS[rule["trigger"]]] for activity in activities]
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[], [], [], []]


def payment_overdue_step(sim) -> int:
    """Headers for the invoices still unpaid `after_days` after their due date (once per invoice)."""
    parts = [f"""
        SELECT {rule_no} AS rule_no, s.invoice_id AS object_id, s.account_id, NULL AS recipient, 0 AS sort
        FROM invoice_status s
        WHERE s.outstanding > 0 AND s.due_date + {int(rule.get('after_days', 0))} <= DATE '{sim.today}'
          AND NOT EXISTS (SELECT 1 FROM comms c WHERE c.rule_no = {rule_no} AND c.object_id = s.invoice_id)"""
             for rule_no, rule in rules(sim, "payment_overdue")]
    if not parts:
        return 0
    return len(_create(sim, sim.store.frame(f"SELECT * FROM ({' UNION ALL '.join(parts)}) "
                                            "ORDER BY sort, rule_no, object_id, recipient")))


def _create(sim, found: pl.DataFrame) -> list[str]:
    """Insert one header per candidate found (rule_no, object_id, account_id, recipient, in order),
    channel resolved. Returns the trigger of each."""
    if found.height == 0:
        return []
    spec = sim.scenario["comms"]
    rule = pl.DataFrame([{"rule_no": i, "trigger": r["trigger"], "template": r["template"],
                          "rule_channel": r["channel"]} for i, r in enumerate(spec["rules"])])
    found = found.with_columns(pl.col("rule_no").cast(pl.Int64)).join(rule, on="rule_no").with_columns(
        object_type=pl.col("trigger").replace_strict(OBJECT_TYPE),
        waiting=(pl.col("trigger") == "workflow_event") & pl.lit(spec["workflow"]["when_to_create"] == "OnResolve"))
    base = sim.store.allocate("comms_request", found.height)
    found = found.with_columns(
        request_id=pl.format("CR-{}", (pl.int_range(1, found.height + 1) + base).cast(pl.Utf8).str.zfill(8)))
    with registered(sim.con, "_cm_new", found.to_arrow()):
        created = sim.con.execute("""
            INSERT INTO comms
            SELECT n.request_id,
                   CASE n.rule_channel WHEN 'preferred' THEN coalesce(p.channel, 'letter')
                                       WHEN 'recipient' THEN CASE WHEN n.recipient LIKE '%@%' THEN 'email'
                                                                  ELSE 'push_external' END
                                       ELSE n.rule_channel END,
                   CASE WHEN n.waiting THEN 'Waiting' ELSE 'Requested' END, ?, n.trigger, n.template, n.account_id,
                   n.object_type, n.object_id, n.recipient, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, ?,
                   n.rule_no, NULL
            FROM _cm_new n LEFT JOIN comms_preferences p USING (account_id) ORDER BY n.request_id
            RETURNING request_id, trigger, object_id, channel, status""", [sim.now, sim.now]).fetchall()
    sim.store.record_events_at(
        sim.now, "comm", [request_id for request_id, *_ in created], "Comm Requested", sim.current_job,
        [f"{trigger} {object_id} by {channel}{' (waits for the case to be resolved)' if status == 'Waiting' else ''}"
         for _, trigger, object_id, channel, status in created])
    return [trigger for _, trigger, *_ in created]
