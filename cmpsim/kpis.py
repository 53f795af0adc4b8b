"""The key figures of a run: what analysts compare between runs and across sweeps.

One flat mapping of named numbers per run — counts, shares, hours, money — computed in SQL from the
public tables. Money stays exact (Decimal); shares and hours are floats rounded to 4 places, so the
same run always gives the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

KPIS: dict[str, tuple[str, str]] = {  # name: (what it is, SQL returning one value)
    "hardware_orders": ("hardware orders placed", "SELECT count(*) FROM orders WHERE kind = 'hardware'"),
    "hardware_complete_share": ("share of hardware orders completed", "SELECT coalesce(avg((status = 'Complete')::INT),"
                                " 0) FROM orders WHERE kind = 'hardware'"),
    "hardware_error_share": ("share of hardware orders in error",
                             "SELECT coalesce(avg((status = 'Error')::INT), 0) FROM orders WHERE kind = 'hardware'"),
    "service_orders": ("service orders submitted", "SELECT count(*) FROM orders WHERE kind = 'service'"),
    "service_complete": ("service orders completed",
                         "SELECT count(*) FROM orders WHERE kind = 'service' AND status = 'Complete'"),
    "service_lead_time_h": ("mean service lead time, hours", "SELECT avg(lead_time_hours) FROM service_lead_times"),
    "urgent_lead_time_h": ("mean lead time of Urgent (9) service orders, hours",
                           "SELECT avg(lead_time_hours) FROM service_lead_times WHERE priority = 9"),
    "low_lead_time_h": ("mean lead time of Low (3) service orders, hours",
                        "SELECT avg(lead_time_hours) FROM service_lead_times WHERE priority = 3"),
    "invoices": ("invoices produced", "SELECT count(*) FROM invoices"),
    "invoiced_gross": ("gross amount invoiced", "SELECT coalesce(sum(gross_amount), 0) FROM invoices"),
    "payments_received": ("amount received from customers", "SELECT coalesce(sum(amount), 0) FROM payments"),
    "receivables": ("sales-ledger balance at the end", "SELECT coalesce(sum(amount), 0) FROM sl_entries"),
    "ledger_breaks": ("documents not reconciling between S/L and G/L", None),
    "comms": ("communications raised", "SELECT count(*) FROM comms"),
    "comms_failed_share": ("share of communications failed or bounced",
                           "SELECT coalesce(avg((status IN ('Failed', 'Bounced'))::INT), 0) FROM comms"),
    "probe_breaches": ("probe evaluations breached", "SELECT count(*) FILTER (WHERE breached) FROM probe_results"),
    "events": ("state changes logged", "SELECT count(*) FROM events"),
}


#: The unit each figure is counted in (`cmpsim.formats.figure` shows it so), and the group it is read in.
UNITS = {
    "hardware_orders": "count", "hardware_complete_share": "share", "hardware_error_share": "share",
    "service_orders": "count", "service_complete": "count", "service_lead_time_h": "hours",
    "urgent_lead_time_h": "hours", "low_lead_time_h": "hours", "invoices": "count", "invoiced_gross": "money",
    "payments_received": "money", "receivables": "money", "ledger_breaks": "count", "comms": "count",
    "comms_failed_share": "share", "probe_breaches": "count", "events": "count",
}
GROUPS = {
    "Orders": ("hardware_orders", "hardware_complete_share", "hardware_error_share", "service_orders",
               "service_complete", "service_lead_time_h", "urgent_lead_time_h", "low_lead_time_h"),
    "Billing and ledgers": ("invoices", "invoiced_gross", "payments_received", "receivables", "ledger_breaks"),
    "Communications and control": ("comms", "comms_failed_share", "probe_breaches", "events"),
}


def label(name: str) -> str:
    """A figure's name in words, as a heading says it: "Share of hardware orders in error"."""
    from cmpsim.formats import sentence

    return sentence(KPIS[name][0].removesuffix(", hours"))


def currency(con) -> str:
    """The currency the run invoiced in ("" before its first invoice)."""
    return con.execute("SELECT coalesce(max(currency), '') FROM invoices").fetchall()[0][0]


def stored_scenario(con) -> dict[str, Any]:
    """The scenario the run was started with, as stored in its database ({} for a run without one)."""
    import json

    stored = con.execute("SELECT value FROM run_info WHERE key = 'scenario_json'").fetchall()
    return json.loads(stored[0][0]) if stored else {}


def kpis(con) -> dict[str, Any]:
    """The figures of the run behind `con` (a DuckDB connection to a run database)."""
    from cmpsim.reconcile import reconcile

    out: dict[str, Any] = {}
    for name, (_, sql) in KPIS.items():
        value = reconcile(con).breaks.height if sql is None else con.execute(sql).fetchall()[0][0]
        out[name] = round(value, 4) if isinstance(value, float) else value
    return out


def is_money(value: Any) -> bool:
    return isinstance(value, Decimal)


# --- the receivables roll-forward ----------------------------------------------------------------

#: (what the line says, SQL of its amount and its number of documents). Every line is a figure of the
#: run; together they walk from the opening sales-ledger balance to the closing one.
ROLL_FORWARD_SQL = """
WITH first_day AS (SELECT value::DATE AS day FROM run_info WHERE key = 'start_date'),
docs AS (SELECT doc_type, doc_id, sl_amount FROM financial_documents WHERE sl_amount IS NOT NULL),
entries AS (SELECT doc_type, doc_id, amount FROM sl_entries WHERE posted_at >= (SELECT day FROM first_day)),
posted AS (SELECT doc_type, doc_id, sum(amount) AS amount FROM entries GROUP BY ALL),
lines(line_no, what, amount, documents) AS (
    SELECT 1.0, 'opening', coalesce(sum(amount), 0), count(*) FROM sl_entries
    WHERE posted_at < (SELECT day FROM first_day)
    UNION ALL SELECT 2, 'invoiced', coalesce(sum(sl_amount), 0), count(*) FROM docs WHERE doc_type = 'invoice'
    UNION ALL SELECT 3, 'received', coalesce(sum(sl_amount), 0), count(*) FROM docs WHERE doc_type = 'payment'
    UNION ALL SELECT 4, 'returned', coalesce(sum(sl_amount), 0), count(*) FROM docs WHERE doc_type = 'payment_reversal'
    UNION ALL SELECT 5, 'refunded', coalesce(sum(sl_amount), 0), count(*) FROM docs WHERE doc_type = 'refund'
    UNION ALL SELECT 6 + list_position(['invoice', 'payment', 'payment_reversal', 'refund'], t.doc_type) / 10,
                     'not posted: ' || t.doc_type, coalesce(-sum(d.sl_amount), 0), count(d.doc_id)
              FROM (VALUES ('invoice'), ('payment'), ('payment_reversal'), ('refund')) t(doc_type)
                   LEFT JOIN (SELECT * FROM docs ANTI JOIN posted USING (doc_type, doc_id)) d USING (doc_type)
              GROUP BY t.doc_type
    UNION ALL SELECT 7, 'posted differently', coalesce(sum(p.amount - d.sl_amount), 0),
                     count(*) FILTER (WHERE p.amount <> d.sl_amount)
              FROM docs d JOIN posted p USING (doc_type, doc_id)
    UNION ALL SELECT 8, 'no document', coalesce(sum(e.amount), 0), count(*)
              FROM entries e ANTI JOIN docs d USING (doc_type, doc_id))
SELECT what, amount::DECIMAL(18,2), documents FROM lines ORDER BY line_no
"""

ROLL_FORWARD_LINES = {  # what -> how a finance reader says it; the amounts carry their sign
    "opening": "Opening receivables (sales ledger before the first day)",
    "invoiced": "Invoiced (gross, tax included)",
    "received": "Received from customers",
    "returned": "Payments returned by the bank",
    "refunded": "Refunds to customers",
    "not posted: invoice": "Invoiced, not yet in the sales ledger at the end",
    "not posted: payment": "Received, not yet in the sales ledger at the end",
    "not posted: payment_reversal": "Returned, not yet in the sales ledger at the end",
    "not posted: refund": "Refunded, not yet in the sales ledger at the end",
    "posted differently": "Posted with another amount or more than once (ledger faults)",
    "no document": "Sales-ledger entries of no known document",
}


@dataclass(frozen=True)
class RollForward:
    """From the opening sales-ledger balance to the closing one, line by line, in the run's currency.

    Each line is summed from the run's documents (financial_documents) and sales-ledger entries; the
    lines add up to the closing balance to the cent (`ties`), or the difference says by how much not.
    "Not yet in the sales ledger" holds the received-not-posted and invoiced-not-posted documents of
    the end of the run; "posted with another amount or more than once" what a ledger fault did."""

    currency: str
    lines: list[tuple[str, str, Decimal, int]]  # (key, words, amount, documents)
    closing: Decimal

    @property
    def difference(self) -> Decimal:
        return sum((amount for _, _, amount, _ in self.lines), Decimal("0.00")) - self.closing

    @property
    def ties(self) -> bool:
        return self.difference == 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: amounts as exact text."""
        return {"currency": self.currency, "closing": str(self.closing), "ties": self.ties,
                "difference": str(self.difference),
                "lines": [{"line": key, "what": words, "amount": str(amount), "documents": documents}
                          for key, words, amount, documents in self.lines]}


def roll_forward(con) -> RollForward:
    """The receivables roll-forward of the run behind `con` (see RollForward)."""
    rows = con.execute(ROLL_FORWARD_SQL).fetchall()
    closing = con.execute("SELECT coalesce(sum(amount), 0)::DECIMAL(18,2) FROM sl_entries").fetchall()[0][0]
    lines = [(what, ROLL_FORWARD_LINES[what], amount, documents) for what, amount, documents in rows]
    return RollForward(currency(con), lines, closing)
