"""Billing (seed 002): the daily billing run, usage rating, payments and refunds.

The billing run is a chain of five jobs, strictly in sequence, each starting only when the one
before completed: Invoice Production → Statement Production → Bill Print → Invoice Posting →
Usage Archiving. A failed job stops the chain for the day; the next day's run catches up, since
every job takes all the work that is due and not yet done.
"""

from __future__ import annotations

import polars as pl

from cmpsim import randomness
from cmpsim.arrivals import seconds_of_day
from cmpsim.billing.archiving import usage_archiving_step
from cmpsim.billing.customers import bank_step, customers_step
from cmpsim.billing.payments import load_payments_step, payment_allocation_step, refund_step
from cmpsim.billing.printing import bill_print_step
from cmpsim.billing.production import immediate_invoice_step, invoice_production_step
from cmpsim.billing.statements import statement_production_step
from cmpsim.billing.tables import DDL
from cmpsim.billing.usage import usage_rating_step
from cmpsim.engine import Chain, DailyAt, Every, OnWork, Step, in_domain
from cmpsim.files import inbox_has_files
from cmpsim.ledger import invoice_posting_step
from cmpsim.scenario import Scenario
from cmpsim.store import Store

__all__ = ["BILLING_RUN_JOBS", "create_tables", "load_reference", "steps"]

BILLING_RUN_JOBS = ("Invoice Production", "Statement Production", "Bill Print", "Invoice Posting", "Usage Archiving")
USAGE_RATING_AT_S = 30 * 60  # 00:30: yesterday's usage is rated before the billing run bills it
CUSTOMERS_AT_S = 12 * 3600  # customers look at their bills around noon


def create_tables(store: Store) -> None:
    store.con.execute(DDL)


def load_reference(store: Store, scenario: Scenario) -> None:
    """The discounts each account has: listed accounts always, others drawn once per run."""
    accounts = store.frame("SELECT account_id FROM accounts ORDER BY account_id")["account_id"]
    rng = randomness.stream(scenario.seed, "billing.discounts", 0)
    rows = []
    for discount in scenario["billing"]["discounts"]:
        drawn = rng.random(accounts.len()) < discount.get("account_share", 0.0)
        chosen = set(accounts.filter(pl.Series(drawn)).to_list()) | set(discount.get("accounts", ()))
        rows += [{"account_id": a, "discount_id": discount["id"], "description": discount["description"],
                  "percent": discount["percent"], "line_types": list(discount.get("line_types", ["recurring"])),
                  "products": list(discount["products"]) if "products" in discount else None}
                 for a in sorted(chosen)]
    if rows:
        store.insert("account_discounts", pl.DataFrame(rows, schema={
            "account_id": pl.Utf8, "discount_id": pl.Utf8, "description": pl.Utf8, "percent": pl.Utf8,
            "line_types": pl.List(pl.Utf8), "products": pl.List(pl.Utf8)}))


def steps(scenario: Scenario) -> list[Step | Chain]:
    billing, payments = scenario["billing"], scenario["payments"]
    run_at = DailyAt((seconds_of_day(billing["run_at"]),))
    jobs = (invoice_production_step, statement_production_step, bill_print_step, invoice_posting_step,
            usage_archiving_step)
    # The run posts to the ledgers too (Invoice Posting), which wakes the extract daemons.
    chain = Chain("Billing Run", run_at, tuple(Step(name, "job", run_at, job, writes=("billing", "ledger"))
                                              for name, job in zip(BILLING_RUN_JOBS, jobs, strict=True)))
    load_s = scenario["schedules"]["load_poll_minutes"] * 60
    return in_domain([
        chain,
        Step("Immediate Invoice Production", "job", OnWork("charges.created"), immediate_invoice_step),
        Step("Usage Rating", "job", DailyAt((USAGE_RATING_AT_S,)), usage_rating_step),
        Step("Customers", "user", DailyAt((CUSTOMERS_AT_S,)), customers_step),
        Step("Bank", "external", DailyAt((seconds_of_day(payments["bank_statement_at"]),)), bank_step),
        Step("Load Payments From Generic Format", "daemon", Every(load_s, 240), load_payments_step,
             emits=("payments.loaded",), due=lambda sim: inbox_has_files(sim, "bank-statement")),
        Step("Payment Allocation", "job", OnWork("payments.loaded"), payment_allocation_step),
        Step("Refund Processing", "job", DailyAt(tuple(seconds_of_day(t) for t in payments["allocation_at"])),
             refund_step),
    ], "billing")
