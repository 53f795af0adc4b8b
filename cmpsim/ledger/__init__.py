"""Invoice posting (seed 002): the sales and general ledgers, and how postings reach them.

CMP posts every financial document (Invoice Posting job, in the daily billing run); the extract
daemons write the postings as S/L and G/L files; the transmission daemon hands them to the ledger
system, which books them into `sl_entries` and `gl_entries` and answers with response and error
files; CMP applies the answers and reposts what can be corrected.
"""

from __future__ import annotations

from functools import partial

import polars as pl

from cmpsim.arrivals import seconds_of_day
from cmpsim.engine import DailyAt, Every, Step, in_domain
from cmpsim.files import inbox_has_files
from cmpsim.ledger.accounting import accounting_system_step, files_waiting
from cmpsim.ledger.extract import (
    extract_due,
    extract_step,
    transmission_due,
    transmission_step,
    transmission_wake_at,
)
from cmpsim.ledger.posting import invoice_posting_step
from cmpsim.ledger.responses import load_responses_step, repost_step
from cmpsim.ledger.tables import DDL
from cmpsim.scenario import Scenario
from cmpsim.store import Store

__all__ = ["create_tables", "invoice_posting_step", "load_reference", "steps"]


def create_tables(store: Store) -> None:
    store.con.execute(DDL)


def load_reference(store: Store, scenario: Scenario) -> None:
    """The chart of accounts and the posting rules of the scenario."""
    ledger = scenario["ledger"]
    store.insert("gl_accounts", pl.DataFrame(
        [{"gl_account": a["code"], "name": a["name"], "account_type": a["type"]} for a in ledger["chart_of_accounts"]]))
    rules = ledger["posting_rules"]
    rows = [{"rule": rule, "product_class": None, "gl_account": code} for rule, code in rules.items()
            if rule != "revenue"]
    rows += [{"rule": "revenue", "product_class": None if cls == "default" else cls, "gl_account": code}
             for cls, code in rules["revenue"].items()]
    store.insert("posting_rules", pl.DataFrame(rows, schema={"rule": pl.Utf8, "product_class": pl.Utf8,
                                                             "gl_account": pl.Utf8}))


def _responses_waiting(sim) -> bool:
    return inbox_has_files(sim, "posting-response") or inbox_has_files(sim, "posting-error")


def steps(scenario: Scenario) -> list[Step]:
    """The daemons that carry postings to the ledgers, the ledger system itself, and the repost job.
    (The Invoice Posting job runs inside the billing run; see cmpsim.billing.)"""
    ledger = scenario["ledger"]
    extract_s, transmit_s = ledger["extract_poll_minutes"] * 60, ledger["transmission_poll_minutes"] * 60
    respond_s = ledger["response_poll_minutes"] * 60
    acct_s = ledger["accounting_system"]["poll_minutes"] * 60
    repost_at = tuple(seconds_of_day(t) for t in ledger["repost_at"])
    return in_domain([
        Step("Extract Invoice Posting To Generic Format (S/L Invoice Posting)", "daemon", Every(extract_s, 360),
             partial(extract_step, ledger="SL"), due=partial(extract_due, ledger="SL"),
             due_on_state_only=True),
        Step("Extract Invoice Posting To Generic Format (G/L Invoice Posting)", "daemon", Every(extract_s, 420),
             partial(extract_step, ledger="GL"), due=partial(extract_due, ledger="GL"),
             due_on_state_only=True),
        Step("Transmission Invoice Posting To CMP Ledger", "daemon", Every(transmit_s, 480), transmission_step,
             due=transmission_due, wake_at=transmission_wake_at),
        Step("Ledger System", "external", Every(acct_s, 540), accounting_system_step,
             due=lambda sim: bool(files_waiting(sim)), due_on_state_only=True),
        Step("Load Invoice Posting Responses From Generic Format", "daemon", Every(respond_s, 600),
             load_responses_step, due=_responses_waiting),
        Step("Invoice Posting Repost", "job", DailyAt(repost_at), repost_step),
    ], "ledger")
