"""Reconciliation of the sales ledger against the general ledger: with no fault it reconciles to the
cent; each fault kind, injected alone, gives exactly the breaks it causes — the right documents,
type, amounts and cause — and no others."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from decimal import Decimal

import pytest
from test_cli import cmpsim as cli

import cmpsim
from cmpsim.kpis import roll_forward
from cmpsim.reconcile import reconcile, trail
from cmpsim.scenario import load
from conftest import TESTS
from pdftext import pdf_text

LEDGER_SMALL = TESTS / "scenarios" / "ledger-small.yaml"


def run_with(tmp_path, faults: list[dict], days: int = 14) -> cmpsim.Run:
    """The ledger-only scenario with these faults, over `days` days from 5 January."""
    return cmpsim.run(load(LEDGER_SMALL, overrides={"faults": faults, "horizon_days": days}), out=tmp_path / "run")


def carried_by(run, file_kind: str, day: str) -> list[dict]:
    """The postings the first `file_kind` file extracted on `day` carried, with their documents."""
    return run.sql("""
        SELECT p.posting_id, p.ledger, p.doc_type, p.doc_id, p.amount, g.name
        FROM posting_attempts a JOIN postings p USING (posting_id) JOIN generic_files g ON g.file_id = a.file_id
        WHERE g.file_id = (SELECT min(file_id) FROM generic_files WHERE kind = ? AND registered_at::DATE = ?)
        ORDER BY p.doc_type, p.doc_id""", [file_kind, day]).rows(named=True)


def found(rec) -> set[tuple[str, str, str]]:
    return {(b["break_type"], b["doc_type"], b["doc_id"]) for b in rec.breaks.iter_rows(named=True)}


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> cmpsim.Run:
    run = run_with(tmp_path_factory.mktemp("clean"), [], days=36)
    yield run
    run.close()


def test_without_faults_the_ledgers_reconcile_to_the_cent(clean):
    rec = reconcile(clean.con)
    assert rec.reconciled and rec.breaks.height == 0
    assert rec.control["period"].to_list() == ["2026-01", "2026-02"]
    assert (rec.control["sl_total"] == rec.control["gl_receivables"]).all()
    tb = rec.trial_balance.row(0, named=True)
    assert tb["debits"] == tb["credits"] > 0 and tb["unbalanced_journals"] == 0
    for day in ("2026-01-08", "2026-01-31", "2026-02-06"):  # and on any day, once its files are booked
        assert reconcile(clean.con, as_of=dt.date.fromisoformat(day)).reconciled


def test_a_lost_gl_file_leaves_its_documents_missing_in_the_gl(tmp_path):
    with run_with(tmp_path, [{"kind": "lose", "file_kind": "gl-posting", "date": "2026-01-08"}]) as run:
        lost = carried_by(run, "gl-posting", "2026-01-08")
        assert len(lost) > 10 and any(p["doc_type"] == "invoice" for p in lost)
        rec = reconcile(run.con)
        assert found(rec) == {("missing in GL", p["doc_type"], p["doc_id"]) for p in lost}
        sl = {r[0]: r[1] for r in run.sql("SELECT doc_id, amount FROM postings WHERE ledger = 'SL'").rows()}
        for b in rec.breaks.iter_rows(named=True):
            assert b["sl_amount"] == sl.get(b["doc_id"]) and b["gl_amount"] is None and b["faults"] == [0]
            assert b["gl_period"] is None or b["doc_type"] == "refund_payout"  # booked in no G/L period
            assert b["cause"] == (f"GL file {lost[0]['name']} lost in transmission (2026-01-08 02:08, fault 0)")
        assert rec.control.filter(rec.control["period"] == "2026-01")["difference"][0] == sum(
            b["sl_amount"] or 0 for b in rec.breaks.iter_rows(named=True))


def test_a_lost_sl_file_leaves_its_documents_missing_in_the_sl(tmp_path):
    with run_with(tmp_path, [{"kind": "lose", "file_kind": "sl-posting", "date": "2026-01-08"}]) as run:
        lost = carried_by(run, "sl-posting", "2026-01-08")
        rec = reconcile(run.con)
        assert len(lost) > 10 and found(rec) == {("missing in SL", p["doc_type"], p["doc_id"]) for p in lost}
        for b in rec.breaks.iter_rows(named=True):
            assert b["sl_amount"] is None and b["gl_amount"] == -b["difference"] != 0
            assert "lost in transmission" in b["cause"] and b["faults"] == [0]


def test_a_file_sent_twice_is_a_duplicate_posting_of_each_record(tmp_path):
    with run_with(tmp_path, [{"kind": "duplicate", "file_kind": "sl-posting", "date": "2026-01-08"}]) as run:
        sent = carried_by(run, "sl-posting", "2026-01-08")
        rec = reconcile(run.con)
        assert len(sent) > 10 and found(rec) == {("duplicate posting", p["doc_type"], p["doc_id"]) for p in sent}
        amounts = {p["doc_id"]: p["amount"] for p in sent}
        for b in rec.breaks.iter_rows(named=True):
            assert b["sl_count"] == 2 and b["sl_amount"] == 2 * amounts[b["doc_id"]] == 2 * b["gl_amount"]
            assert b["cause"].startswith(f"SL file {sent[0]['name']} sent twice") and b["faults"] == [0]


def test_records_refused_by_the_ledger_system_are_missing_until_reposted(tmp_path):
    with run_with(tmp_path, [{"kind": "reject", "file_kind": "gl-posting", "date": "2026-01-08", "count": 3}]) as run:
        refused = run.sql("SELECT file_name, detail FROM faults_injected ORDER BY file_name").rows()
        assert len(refused) == 3 and all(detail.startswith("refused in gl-posting__") for _, detail in refused)
        before_repost = reconcile(run.con, as_of=dt.datetime(2026, 1, 8, 8, 0))  # re-posted at 09:00
        docs = {p.split(":")[2] for p, _ in refused}
        assert {b[2] for b in found(before_repost)} == docs
        assert {b[0] for b in found(before_repost)} == {"missing in GL"}
        for b in before_repost.breaks.iter_rows(named=True):
            assert "refused by the ledger system" in b["cause"] and b["faults"] == [0]
        assert reconcile(run.con).reconciled  # re-posted the same morning: nothing left


def test_a_file_held_past_the_period_end_is_booked_in_another_period(tmp_path):
    # The G/L file of the 22 January cycle arrives on 6 February, after January closed (5 February).
    fault = {"kind": "delay", "file_kind": "gl-posting", "date": "2026-01-22", "days": 15}
    with run_with(tmp_path, [fault], days=36) as run:
        held = carried_by(run, "gl-posting", "2026-01-22")
        expected = {(p["doc_type"], p["doc_id"]) for p in held}
        assert len(held) > 3
        rec = reconcile(run.con)
        assert found(rec) == {("different periods", t, d) for t, d in expected}
        for b in rec.breaks.iter_rows(named=True):
            assert (b["sl_period"], b["gl_period"]) == ("2026-01", "2026-02") and b["difference"] == 0
            assert "held in transmission until 2026-02-06" in b["cause"]
            assert "GL record refused PERIOD_CLOSED, re-posted dated 2026-02-01" in b["cause"]
        in_transit = reconcile(run.con, as_of=dt.date(2026, 2, 3))
        assert found(in_transit) == {("missing in GL", t, d) for t, d in expected}
        by_period = {r["period"]: r["difference"] for r in rec.control.iter_rows(named=True)}
        assert by_period["2026-01"] == -by_period["2026-02"] != 0 and sum(by_period.values()) == 0


@pytest.mark.parametrize("ledger", ["SL", "GL"])
def test_an_invoice_posted_with_a_wrong_amount(tmp_path, ledger):
    fault = {"kind": "wrong_amount", "ledger": ledger, "amount": "10.00", "date": "2026-01-08"}
    with run_with(tmp_path, [fault]) as run:
        first = run.sql("SELECT min(invoice_id) AS i FROM invoices WHERE invoice_date = '2026-01-08'")["i"][0]
        rec = reconcile(run.con)
        assert found(rec) == {("amount mismatch", "invoice", first)}
        b = rec.breaks.row(0, named=True)
        gross = run.sql("SELECT gross_amount FROM invoices WHERE invoice_id = ?", [first])["gross_amount"][0]
        wrong = gross + Decimal("10.00")
        assert (b["sl_amount"], b["gl_amount"]) == ((wrong, gross) if ledger == "SL" else (gross, wrong))
        posting = run.sql("""SELECT strftime(started_at, '%Y-%m-%d %H:%M') AS t FROM job_runs
                             WHERE job = 'Invoice Posting' AND started_at::DATE = '2026-01-08'""")["t"][0]
        assert b["cause"] == f"{ledger}:invoice:{first} posted 10.00 off its amount ({posting}, fault 0)"


def test_a_receivables_line_posted_to_the_wrong_account(tmp_path):
    with run_with(tmp_path, [{"kind": "wrong_account", "account": "4900", "date": "2026-01-08"}]) as run:
        first = run.sql("SELECT min(invoice_id) AS i FROM invoices WHERE invoice_date = '2026-01-08'")["i"][0]
        rec = reconcile(run.con)
        assert found(rec) == {("wrong GL account", "invoice", first)}
        b = rec.breaks.row(0, named=True)
        assert b["gl_amount"] == 0 and b["difference"] == b["sl_amount"] > 0
        assert "receivables line posted to account 4900" in b["cause"]
        tb = rec.trial_balance.row(0, named=True)
        assert tb["unbalanced_journals"] == 0 and tb["debits"] == tb["credits"]  # balanced, on the wrong account


def test_invoice_posting_crashing_half_way_leaves_the_gl_behind_for_a_day(tmp_path):
    with run_with(tmp_path, [{"kind": "crash_job", "job": "Invoice Posting", "date": "2026-01-08"}]) as run:
        runs = run.sql("""SELECT job, status, started_at FROM job_runs WHERE started_at::DATE = '2026-01-08'
                          AND job IN ('Invoice Posting', 'Usage Archiving') ORDER BY run_no""").rows()
        assert [r[:2] for r in runs] == [("Invoice Posting", "Failed")]  # and the billing run stopped there
        sl_only = run.sql("""SELECT doc_type, doc_id FROM postings WHERE ledger = 'SL'
                             AND created_at = ?""", [runs[0][2]]).rows()
        rec = reconcile(run.con, as_of=dt.date(2026, 1, 8))
        assert len(sl_only) > 10 and found(rec) == {("missing in GL", t, d) for t, d in sl_only}
        assert all("Invoice Posting crashed half-way" in c for c in rec.breaks["cause"])
        gl_next_day = run.sql("""SELECT DISTINCT created_at::DATE AS d FROM postings WHERE ledger = 'GL'
                                 AND doc_id IN (SELECT unnest(?))""", [[d for _, d in sl_only]])["d"].to_list()
        assert gl_next_day == [dt.date(2026, 1, 9)]
        assert reconcile(run.con).reconciled


def test_an_unbalanced_journal_is_found(clean, tmp_path):
    shutil.copytree(clean.run_dir, tmp_path / "copy")
    import duckdb

    con = duckdb.connect(str(tmp_path / "copy" / "cmpsim.duckdb"))
    journal = con.execute("SELECT min(journal_id) FROM gl_journals WHERE doc_type = 'invoice'").fetchall()[0][0]
    con.execute("UPDATE gl_entries SET credit = credit + 0.01 WHERE journal_id = ? AND line_no = 2", [journal])
    rec = reconcile(con)
    doc = con.execute("SELECT doc_id FROM gl_journals WHERE journal_id = ?", [journal]).fetchall()[0][0]
    assert found(rec) == {("unbalanced journal", "invoice", doc)}
    assert rec.trial_balance["unbalanced_journals"][0] == 1
    con.close()


def test_the_trail_of_a_document_shows_what_happened_to_it(tmp_path):
    with run_with(tmp_path, [{"kind": "lose", "file_kind": "gl-posting", "date": "2026-01-08"}]) as run:
        invoice = carried_by(run, "gl-posting", "2026-01-08")[0]["doc_id"]
        activities = trail(run.con, "invoice", invoice)["activity"].to_list()
        assert activities[:3] == ["Fault Injected: lose", "Invoice Produced", "Posted To Sales Ledger"] or (
            "Fault Injected: lose" in activities)
        assert "Booked In Sales Ledger" in activities and "Booked In General Ledger" not in activities


def test_the_command_exit_codes_json_and_report(clean, tmp_path):
    shutil.copytree(clean.run_dir, tmp_path / "clean")  # the fixture holds its database open
    ok = cli("reconcile", tmp_path / "clean", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["reconciled"] is True
    run_with(tmp_path, [{"kind": "wrong_account", "account": "4900", "date": "2026-01-08"}]).close()
    bad = cli("reconcile", tmp_path / "run", "--report")
    assert bad.returncode == 1 and "wrong GL account" in bad.stdout
    text = pdf_text((tmp_path / "run" / "reports" / "reconciliation-end.pdf").read_bytes())
    for words in ("Breaks by type (documents)", "Breaks by the day the document was first booked"):
        assert words in text, words  # the charts, drawn with their words readable
    assert (tmp_path / "run" / "reports" / "reconciliation-end.html").is_file()
    assert cli("reconcile", tmp_path / "clean", "--as-of", "31/01/2026").returncode == 2
    assert cli("reconcile", tmp_path / "nothing").returncode == 2


def test_the_receivables_roll_forward_ties_and_names_what_ledger_faults_did(tmp_path):
    """Finance walks from invoiced to receivables line by line: received-not-posted, lost, duplicated
    and mis-posted documents each have their line, and the lines add up to the closing sales-ledger
    balance to the cent."""
    faults = [{"kind": "lose", "file_kind": "sl-posting", "date": "2026-01-08"},  # days of bill cycles
              {"kind": "duplicate", "file_kind": "sl-posting", "date": "2026-01-15"},
              {"kind": "wrong_amount", "ledger": "SL", "amount": "10.00", "date": "2026-01-22"}]
    with run_with(tmp_path, faults, days=24) as run:
        lost, twice = carried_by(run, "sl-posting", "2026-01-08"), carried_by(run, "sl-posting", "2026-01-15")
        roll = roll_forward(run.con)
        lines = {key: (amount, documents) for key, _, amount, documents in roll.lines}
        closing = run.sql("SELECT sum(amount) AS s FROM sl_entries")["s"][0]
        documents = run.sql("SELECT doc_type, sum(sl_amount) AS s FROM financial_documents GROUP BY ALL")
        by_type = dict(documents.iter_rows())
    assert roll.ties and roll.closing == closing and roll.currency == "EUR"
    assert lines["invoiced"][0] == by_type["invoice"] and lines["received"][0] == by_type["payment"]
    assert lines["posted differently"] == (sum(p["amount"] for p in twice if p["ledger"] == "SL")
                                           + Decimal("10.00"), len([p for p in twice if p["ledger"] == "SL"]) + 1)
    lost_sl = [p for p in lost if p["ledger"] == "SL"]
    assert len(twice) >= 5
    not_posted = sum(lines[key][1] for key in lines if key.startswith("not posted"))
    assert len(lost_sl) >= 5 and not_posted >= len(lost_sl)
    assert lines["no document"] == (0, 0) and lines["opening"] == (0, 0)


def test_the_roll_forward_is_in_the_summary_and_the_command_line(clean, tmp_path):
    summary = clean.summary()["receivables_roll_forward"]
    assert summary["ties"] is True and summary["difference"] == "0.00"
    assert Decimal(summary["closing"]) == clean.sql("SELECT sum(amount) AS s FROM sl_entries")["s"][0]
    assert [line["line"] for line in summary["lines"]][:3] == ["opening", "invoiced", "received"]
    shutil.copytree(clean.run_dir, tmp_path / "clean")  # the fixture holds its database open
    shown = cli("summary", tmp_path / "clean")
    assert shown.returncode == 0 and "Receivables roll-forward (EUR)" in shown.stdout
    assert "Received, not yet in the sales ledger at the end" in shown.stdout
    assert "the roll-forward ties to the cent" in shown.stdout

