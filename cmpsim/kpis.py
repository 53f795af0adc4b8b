"""The key figures of a run: what analysts compare between runs and across sweeps.

One flat mapping of named numbers per run — counts, shares, hours, money — computed in SQL from the
public tables. Money stays exact (Decimal); shares and hours are floats rounded to 4 places, so the
same run always gives the same figures.
"""

from __future__ import annotations

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
