"""Every shipped scenario, shortened, run once: its receivables roll-forward ties to the cent, and what
it computes — every table of the run database and every file of the run folder — equals the golden
results recorded in `tests/golden/shipped-scenarios.json`.

The golden results were recorded with the engine of wake-ups that each run SQL against the database
(before the working state moved into memory): a new engine must reproduce them, table for table and
byte for byte. A difference is allowed only where it fixes a defect; name it in INTENDED_CHANGES (and
the README) with the reason, then re-record (and move the reason to RECORDED_AGAIN):

    CMPSIM_PIN_RESULTS=1 .venv/bin/python -m pytest -p no:xdist tests/test_shipped_scenarios.py

Shortened: each scenario over its first bill cycle (8 January; service to its last explicit order,
the 12th), 400 generated accounts, the faults of those days. The ledger-faults scenario keeps all its
faults over 38 days, with billing and the ledgers only and 80 accounts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from decimal import Decimal
from importlib import metadata

import pytest
from test_reconcile import carried_by
from test_results_pinned import VERSIONS_OF, results

import cmpsim
from cmpsim.check import check
from cmpsim.kpis import roll_forward
from cmpsim.reconcile import reconcile
from cmpsim.scenario import load
from conftest import BASELINE, TESTS
from pdftext import pdf_text

SHIPPED = sorted(BASELINE.parent.glob("*.yaml"))
LEDGER_FAULTS = BASELINE.parent / "ledger-faults.yaml"
GOLDEN = TESTS / "golden" / "shipped-scenarios.json"
NOT_RESULTS = {"cmpsim.duckdb", "cmpsim.duckdb.wal", ".cmpsim-lock", ".cmpsim-run"}  # the database is in tables
#: Tables or files whose golden result a change of the engine may differ from, with the defect it fixes.
INTENDED_CHANGES: dict[str, str] = {}
#: Golden results recorded again since the first recording, each with the defect whose fix changed it
#: (compared as any other from then on).
RECORDED_AGAIN = {
    "comms_details": "the merge data named the target and channel the header was requested with, not the ones the "
                     "Comms Monitor chose: a customer's recipient had no target (test_comms.py checks it)",
}
#: Golden results recorded again because a rule of the seeds is now modelled as the seed states it
#: (issue 20): rule -> (scenario: the results it changed, why).
RECORDED_FOR_THE_SEEDS = {
    "follow-on orders": (
        "service: orders, service_orders, service_lines, order_lines, events, job_runs, wakeups, counters, "
        "summary.json",
        "seed 004: supplemental orders still pending when a follow-on order of their base is submitted are "
        "discarded first; LATE-REV (pending when LATE-FOLLOW came) is Discarded, no longer refused by the next "
        "fulfilment poll, which so has one wake-up with work fewer (job_runs, wakeups and the job_run counter)"),
    "revisions": (
        "every scenario: run_info; service, price-lists: events",
        "seed 004: a revision suspends its order's fulfilment while the changes and the compensation plan are "
        "worked out (fulfilment.revision_minutes, default 15, now in every resolved scenario kept in run_info); "
        "Fulfilment Resumed is logged 15 minutes after Fulfilment Suspended, no longer in the same second"),
    "point of no return per order item": (
        "service, priority-what-if, priority-capacity-cut: fulfilment_jobs, run_info; price-lists: run_info",
        "seed 004 sets the point of no return per order item: the service scenario's IPTV (and so the scenarios "
        "extending it) names its own, the end of Design (the set-top box ships), so IPTV jobs' ponr_offset_s are "
        "earlier; no revision outcome changed"),
    "jobs take time": (
        "every scenario: nearly every table and file",
        "issue 20 (seed 002's billing run, seed 003's comms jobs): a wake-up with work takes simulated time by the "
        "scenario's cost_model (default: a job 30 s + 0.05 s a record, a daemon 1 s + 0.01 s a record); job_runs "
        "end then, chained jobs start when the one before ended, a job signalled by another starts when that one "
        "is done, so every moment downstream of a job (billing documents, postings, files, communications, the "
        "draws taken at those moments) moved; the probe Billing Run Not Completed asks for ended_at <= $now"),
    "order queue": (
        "every scenario with service orders: service_orders, queue_consumers, events, job_runs, wakeups, counters, "
        "run_info, summary.json",
        "seed 004: the CRM drops each order into the order queue and its consumers hand it to order management; "
        "service_orders carries queue_status, message_s, dequeued_at, received_at, queue_consumer, the Order Queue "
        "daemon logs Order Received (its wake-ups and job runs are new); with the default queue (four consumers, "
        "instant messages) every order is received the second it was submitted, so no release, start or end moved"),
    "fallout and status updates back to the CRM": (
        "every scenario: run_info, probe_results (and what follows a probe: events, comms); every scenario with "
        "service orders: service_orders, fulfilment_jobs, events, job_runs, wakeups, counters",
        "seed 004 and issue 20: fulfilment_jobs carries fallout_step (null: no step failed, the default rate is "
        "0), the baseline's probe Fallout Backlog is evaluated at 09:00, 13:00 and 17:00 (never breached there), "
        "the Order Queue daemon sends order management's status changes back to service_orders.crm_status and "
        "crm_updated_at at its polls (so it wakes more often); seed-rules: its scripted and random fallouts; an "
        "instant message is received when the consumer takes it (Order Received logged by CRM Order Capture)"),
    "future state of assets": (
        "every scenario with random modify orders: orders, service_orders, service_lines, order_lines, events, "
        "fulfilment_jobs and everything downstream of the orders refused; seed-rules: its TV-* orders",
        "seed 004: the CRM judges a change to an asset on the state the asset will be in when the order is due; "
        "a random modify order on an asset that an open order will change first (a Suspend of an asset being "
        "suspended) is now Rejected at submission instead of failing its line in fulfilment"),
    "customers' choices and connected warehouses": (
        "every scenario: accounts, warehouses, stock_checks, run_info",
        "seeds 000 and 001: accounts carry hardware_charges (each customer's choice; null in the shipped "
        "scenarios: the scenario's default), warehouses carry connected (false) and stock_checks their source "
        "(cmp: no shipped warehouse is connected); no figure moved"),
    "manual price override": (
        "every scenario: assets, service_lines; price-lists: order_lines, recurring_charges, run_info; service: "
        "order_lines",
        "seed 004, Table 8-4: service_lines and assets carry price_override (null unless an order line sets one); "
        "price-lists' T84 overrides each line's price, which makes its lines Update (they say no action) and the "
        "overridden prices the assets' monthly charges; and order_lines.unit_price now follows a revision that "
        "repriced the line (it kept the price of the list the line had before: the service scenario's revised "
        "lines)"),
    "outbound adaptors": (
        "every scenario with hardware orders: wh_requests, files/parties/<warehouse>/inbox/*.csv; every scenario "
        "that posts to the ledger: files/parties/ledger/import/*.csv",
        "seeds 000 and 002: the warehouses and the ledger system read CMP's generic files only through their "
        "adaptors, which write each as the party's own CSV (a warehouse's pick request, the accounting package's "
        "journal or transaction import); wh_requests.file_name names the pick request the warehouse read. Every "
        "other table and every file there before is unchanged"),
    "comms trigger invoked": (
        "every scenario: comms, comms_details, comms_documents, comms_attempts, comms_status_updates, "
        "prov_outcomes, comms_cursor, events, file_moves, job_runs, wakeups, counters, summary.json; the e-mails, "
        "letters, their stored copies and the comms-status files",
        "seed 003, \"when a trigger is invoked, CMP creates an entry in the Comms Request Header table\": the "
        "Comms Trigger no longer polls the event log every comms.poll_minutes; it runs within the wake-up whose "
        "work logs a triggering event (an order completed, in error, failed or rejected, an invoice produced, a "
        "case opened) or raises a probe alert, so headers are created at that moment (before: 2 to 5 minutes "
        "later) and the Comms Monitor gathers them when that work is over (for the billing run, when the whole "
        "run is); request ids are numbered in another order, every moment of the comms pipeline after them moved, "
        "the trigger's polls and job_runs rows are gone and wakeups has a Comms Trigger row under each invoking "
        "wake-up; seed-rules: generic_files, posting_batches, posting_attempts, posting_responses and "
        "files/archive too, since the providers' comms-status files, numbered with the posting files, now come at "
        "other moments (a posting file's GF- number moved by one; nothing posted moved)"),
}


def shortened(scenario) -> dict:
    """The overrides that make `scenario` (a shipped file) short enough for the test suite."""
    if scenario == LEDGER_FAULTS:
        return {"processes": ["billing", "ledger"], "horizon_days": 38, "accounts": {"generate": {"count": 80}}}
    shipped = load(scenario)
    days = {"baseline": 5, "service": 8}.get(scenario.stem, min(4, shipped.horizon_days))
    end = (shipped.start + dt.timedelta(days=days)).date()
    return {"horizon_days": days, "accounts": {"generate": {"count": 400}},
            "faults": [dict(f) for f in shipped["faults"] if dt.date.fromisoformat(f["date"]) < end]}


@pytest.fixture(scope="module", params=SHIPPED, ids=lambda p: p.stem)
def shipped_run(request, tmp_path_factory):
    run = cmpsim.run(load(request.param, overrides=shortened(request.param)),
                     out=tmp_path_factory.mktemp(request.param.stem) / "run")
    yield request.param, run
    run.close()


def files(run_dir) -> dict[str, str]:
    """Every file of the run folder but the database, by path, with its SHA-256 — of its bytes, or for a
    PDF of its pages' text: how weasyprint subsets the bundled fonts depends on the machine's HarfBuzz,
    not on what the run computed."""
    return {str(path.relative_to(run_dir)): hashlib.sha256(
                pdf_text(path.read_bytes()).encode() if path.suffix == ".pdf" else path.read_bytes()).hexdigest()
            for path in sorted(run_dir.rglob("*")) if path.is_file() and path.name not in NOT_RESULTS}


def test_the_roll_forward_ties_on_every_shipped_scenario(shipped_run):
    """The lines add up to the closing sales-ledger balance to the cent; without a ledger fault nothing
    is posted differently and no entry lacks its document."""
    scenario, run = shipped_run
    roll = roll_forward(run.con)
    invoiced = run.sql("SELECT count(*) AS n, coalesce(sum(gross_amount), 0) AS gross FROM invoices").row(0)
    lines = {key: (amount, documents) for key, _, amount, documents in roll.lines}
    assert invoiced[0] > 0 and lines["invoiced"] == (invoiced[1], invoiced[0])  # a test that could not fail else
    closing = run.sql("SELECT sum(amount) AS s FROM sl_entries")["s"][0]
    assert roll.ties and roll.difference == 0 and roll.closing == closing
    assert lines["opening"] == lines["no document"] == (0, 0)
    if scenario != LEDGER_FAULTS:
        assert lines["posted differently"] == (0, 0)


@pytest.mark.parametrize("shipped_run", [LEDGER_FAULTS], ids=["ledger-faults"], indirect=True)
def test_the_roll_forward_of_the_ledger_faults_scenario_explains_each_line(shipped_run):
    """Each line of the ledger-faults run that is not plain business says which fault or moment made it."""
    _, run = shipped_run
    roll = roll_forward(run.con)
    twice = [p for p in carried_by(run, "sl-posting", "2026-01-27") if p["ledger"] == "SL"]
    documents = dict(run.sql("SELECT doc_type, sum(sl_amount) AS s FROM financial_documents GROUP BY ALL").iter_rows())
    unposted = run.sql("""
        SELECT d.doc_type, p.received_on, (SELECT max(received_on) FROM payments) AS last_statement
        FROM financial_documents d LEFT JOIN payments p ON p.payment_id = d.doc_id
        WHERE d.sl_amount IS NOT NULL AND (d.doc_type, d.doc_id) NOT IN (SELECT doc_type, doc_id FROM sl_entries)
        """).rows(named=True)
    gl_breaks = reconcile(run.con).breaks_by_type()
    lines = {key: (amount, documents) for key, _, amount, documents in roll.lines}
    assert roll.ties
    assert lines["invoiced"][0] == documents["invoice"] and lines["received"][0] == documents["payment"]
    # The S/L file of 27 January sent twice, and the invoice of 1 February posted 10.00 too high.
    assert len(twice) >= 1
    assert lines["posted differently"] == (sum(p["amount"] for p in twice) + Decimal("10.00"), len(twice) + 1)
    # Not yet in the sales ledger: the payments of the last bank statement, which the Invoice Posting
    # run after the end of the run would post; nothing the faults lost (they lost G/L files only).
    assert unposted and {(u["doc_type"], u["received_on"]) for u in unposted} == {
        ("payment", unposted[0]["last_statement"])}
    not_posted = {key: value for key, value in lines.items() if key.startswith("not posted")}
    assert sum(documents for _, documents in not_posted.values()) == len(unposted)
    # The G/L faults break the reconciliation, not the sales ledger's roll-forward.
    assert gl_breaks["missing in GL"] > 0 and gl_breaks["wrong GL account"] == 1


def test_cmpsim_check_holds_on_every_shipped_scenario(shipped_run):
    """Every invariant `cmpsim check` knows (balanced journals, append-only ledgers, statuses and
    moments in order, files as registered) holds on every shipped scenario's run."""
    scenario, run = shipped_run
    report = check(run.con, run_dir=run.run_dir)
    assert report.ok, report.failures.head(20).rows()


def test_every_table_and_file_equals_the_golden_results(shipped_run):
    scenario, run = shipped_run
    run.con.execute("CHECKPOINT")
    found = {"tables": results(run), "files": files(run.run_dir)}
    assert found["tables"]["events"]["rows"] > 0 and len(found["files"]) > 5  # a test that could not fail else
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}
    if os.environ.get("CMPSIM_PIN_RESULTS"):
        golden[scenario.stem] = {"overrides": shortened(scenario),
                                 "versions": {name: metadata.version(name) for name in VERSIONS_OF}, **found}
        GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True, default=str) + "\n")
    pinned = golden[scenario.stem]
    changed = [f"  {kind} {name}: {'absent' if name not in pinned[kind] else 'pinned'} → "
               f"{'absent' if name not in found[kind] else 'now'}"
               for kind in ("tables", "files") for name in sorted(pinned[kind].keys() | found[kind].keys())
               if pinned[kind].get(name) != found[kind].get(name) and name not in INTENDED_CHANGES]
    assert not changed, (f"{scenario.stem}: {len(changed)} results differ from the golden ones "
                         f"(recorded with {pinned['versions']}):\n" + "\n".join(changed))
