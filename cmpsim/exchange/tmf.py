"""TM Forum documents out of a run: product orders (TMF622), customer bills and their applied
billing rates (TMF678), communication messages (TMF681).

`export_tmf(run, out_dir)` writes one JSON array per resource, as a TMF API lists it
(`GET /customerBill` …), sorted by id, so the same run gives byte-identical files. Each document is
valid against the TM Forum v4 swagger definition of its resource (tests/test_tmf.py checks every one).
"""

from __future__ import annotations

import time
from pathlib import Path

from cmpsim.exchange.jsontext import write_array
from cmpsim.exchange.tmf622_export import product_orders_sql
from cmpsim.exchange.tmf678 import applied_billing_rates_sql, customer_bills_sql
from cmpsim.exchange.tmf681 import communication_messages_sql

# file name → (the TMF resource it lists, the query rendering one document per row)
RESOURCES = {
    "productOrder.json": ("TMF622 ProductOrder", product_orders_sql),
    "customerBill.json": ("TMF678 CustomerBill", customer_bills_sql),
    "appliedCustomerBillingRate.json": ("TMF678 AppliedCustomerBillingRate", applied_billing_rates_sql),
    "communicationMessage.json": ("TMF681 CommunicationMessage", communication_messages_sql),
}


def export_tmf(run, out_dir: str | Path) -> dict[str, int]:
    """Write every resource file into `out_dir`; returns the documents written per file (and `seconds`)."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    counts = {name: write_array(run.con, sql(), out_dir / name) for name, (_, sql) in RESOURCES.items()}
    counts["seconds"] = round(time.perf_counter() - started, 3)
    return counts
