"""cmpsim check: every invariant holds on a real run, and each one fails, naming the row, on a copy of
that run where a test broke it on purpose (one thing broken per test, as a defect of the engine would)."""

from __future__ import annotations

import base64
import shutil

import pytest
from click.testing import CliRunner

from cmpsim import runs
from cmpsim.check import CHECKS, check
from cmpsim.cli import main
from conftest import SMALL, live_copy

END = "2026-01-11T00:00:00"  # the end of the small run


@pytest.fixture
def broken(small_run, tmp_path):
    """A writable copy of the small run, to break."""
    sim = live_copy(small_run, tmp_path / "run", END)
    yield sim
    sim.store.close()


def failing(sim) -> tuple[list[str], list[tuple[str, str, str]]]:
    """The checks that fail, and their rows as (check, object_id, detail)."""
    report = check(sim.con, run_dir=sim.run_dir)
    return report.failed(), [(r["check"], r["object_id"], r["detail"]) for r in report.failures.iter_rows(named=True)]


def one(sim, sql: str) -> tuple:
    return sim.con.execute(sql).fetchall()[0]


def test_every_invariant_holds_on_the_small_run(small_run):
    report = check(small_run.con)
    assert report.ok, report.failures
    assert list(report.counts()) == [c.name for c in CHECKS] and set(report.counts().values()) == {0}
    assert report.as_of.isoformat() == END


def test_a_journal_that_does_not_balance(broken):
    journal, posting = one(broken, """SELECT j.journal_id, j.posting_id FROM gl_journals j
                                      WHERE doc_type = 'invoice' ORDER BY 1 LIMIT 1""")
    # The ledger system and CMP both carry a revenue line 1.00 too high: every copy agrees, none balances.
    broken.con.execute(f"""UPDATE gl_entries SET credit = credit + 1 WHERE journal_id = '{journal}' AND line_no = 2;
                           UPDATE posting_lines SET credit = credit + 1 WHERE posting_id = '{posting}' AND line_no = 2;
                           UPDATE gl_journals SET total_credit = total_credit + 1 WHERE journal_id = '{journal}'""")
    checks, rows = failing(broken)
    assert checks == ["journals_balance"]
    assert {object_id for _, object_id, _ in rows} == {journal, posting}


def test_a_difference_between_the_ledgers_that_no_fault_explains(broken):
    invoice, amount = one(broken, "SELECT doc_id, amount FROM sl_entries ORDER BY entry_id LIMIT 1")
    # CMP posts the S/L record 10.00 off, and the ledger books what it was sent: no fault recorded.
    broken.con.execute(f"""UPDATE postings SET amount = amount + 10 WHERE posting_id = 'SL:invoice:{invoice}';
                           UPDATE sl_entries SET amount = amount + 10 WHERE doc_id = '{invoice}'""")
    checks, rows = failing(broken)
    assert checks == ["receivables_control"]
    assert ("receivables_control", invoice,
            f"amount mismatch: S/L {amount + 10}, receivables control {amount}, difference 10.00, no fault recorded"
            ) in rows
    assert any(object_id == "receivables control" and "difference 10.00" in detail for _, object_id, detail in rows)


def test_a_recorded_fault_explains_a_difference(broken):
    invoice = one(broken, "SELECT doc_id FROM sl_entries ORDER BY entry_id LIMIT 1")[0]
    broken.con.execute(f"""UPDATE postings SET amount = amount + 10 WHERE posting_id = 'SL:invoice:{invoice}';
                           UPDATE sl_entries SET amount = amount + 10 WHERE doc_id = '{invoice}';
                           INSERT INTO faults_injected VALUES (9, 'wrong_amount', 'SL', TIMESTAMP '2026-01-08 02:00',
                               'SL:invoice:{invoice}', 'posted 10.00 off its amount')""")
    assert failing(broken)[0] == []


def test_a_lost_order(broken):
    order = one(broken, "SELECT order_id FROM orders WHERE status = 'Complete' ORDER BY 1 LIMIT 1")[0]
    broken.con.execute(f"DELETE FROM orders WHERE order_id = '{order}'")
    checks, rows = failing(broken)
    assert checks == ["objects_once"]
    assert ("objects_once", order, "number allocated (counter hardware_order), no row: lost or deleted") in rows
    assert ("objects_once", order, "in the event log, not in its table: lost") in rows


def test_a_communication_twice(broken):
    request = one(broken, "SELECT request_id FROM comms ORDER BY 1 LIMIT 1")[0]
    broken.con.execute(f"INSERT INTO comms SELECT * FROM comms WHERE request_id = '{request}'")
    checks, rows = failing(broken)
    assert checks == ["objects_once"]
    assert rows == [("objects_once", request, "2 rows with this id"),
                    ("objects_once", request, "2 rows with this number")]


def test_a_generic_file_altered_or_lost_on_disk(broken):
    altered, lost = [r[:2] for r in broken.con.execute(
        "SELECT file_id, path FROM generic_files WHERE status = 'Loaded' ORDER BY file_id LIMIT 2").fetchall()]
    path = broken.run_dir / altered[1]
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    (broken.run_dir / lost[1]).unlink()
    checks, rows = failing(broken)
    assert checks == ["objects_once"]
    assert {(object_id, detail.split(" (")[0]) for _, object_id, detail in rows} == {
        (altered[0], "its bytes are not those registered"), (lost[0], "not at its registered path: lost")}


def test_an_order_whose_table_disagrees_with_its_log(broken):
    order = one(broken, """SELECT order_id FROM orders WHERE kind = 'hardware' AND status = 'Complete'
                           ORDER BY 1 LIMIT 1""")[0]
    broken.con.execute(f"UPDATE orders SET status = 'Awaiting Generation' WHERE order_id = '{order}'")
    checks, rows = failing(broken)
    assert checks == ["states_and_transitions"]
    assert ("states_and_transitions", order, "hardware order in status Awaiting Generation, its log leads to Complete"
            ) in rows
    assert any(object_id.startswith(f"{order} line ") for _, object_id, _ in rows)  # its lines no longer fit


def test_a_transition_the_lifecycle_does_not_allow(broken):
    invoice = one(broken, "SELECT invoice_id FROM invoices WHERE status = 'Posted' ORDER BY 1 LIMIT 1")[0]
    # The engine logs a posted invoice as produced again (and counts the event, as it would).
    broken.con.execute(f"""INSERT INTO events SELECT max(seq) + 1, TIMESTAMP '2026-01-10 12:00', 'invoice',
                                  '{invoice}', 'Invoice Produced', 'Invoice Production', NULL FROM events;
                           UPDATE counters SET value = value + 1 WHERE name = 'event'""")
    checks, rows = failing(broken)
    assert checks == ["states_and_transitions"]
    assert [(object_id, detail.split(" (event")[0]) for _, object_id, detail in rows] == [
        (invoice, "invoice: Posted -> Produced (Invoice Produced) is not allowed"),
        (invoice, "invoice in status Posted, its log leads to Produced")]


def test_a_status_that_is_no_state(broken):
    request = one(broken, "SELECT request_id FROM comms WHERE status = 'Delivered' ORDER BY 1 LIMIT 1")[0]
    broken.con.execute(f"UPDATE comms SET status = 'Misplaced' WHERE request_id = '{request}'")
    checks, rows = failing(broken)
    assert checks == ["states_and_transitions"]
    assert ("states_and_transitions", request,
            "communication in status Misplaced, not a state of its lifecycle") in rows


def test_negative_stock(broken):
    warehouse, product = one(broken, "SELECT warehouse_id, product_id FROM stock ORDER BY ALL LIMIT 1")
    broken.con.execute(f"""UPDATE stock SET on_hand = -3 WHERE warehouse_id = '{warehouse}'
                           AND product_id = '{product}'""")
    checks, rows = failing(broken)
    assert checks == ["stock_not_negative"]
    assert rows[0][:2] == ("stock_not_negative", f"{warehouse} {product}") and rows[0][2].startswith("on hand -3")


def test_an_invoice_posted_twice_to_the_general_ledger(broken):
    invoice = one(broken, "SELECT invoice_id FROM invoices WHERE status = 'Posted' ORDER BY 1 LIMIT 1")[0]
    broken.con.execute(f"INSERT INTO postings SELECT * FROM postings WHERE posting_id = 'GL:invoice:{invoice}'")
    checks, rows = failing(broken)
    assert checks == ["invoices_posted_once"]
    assert rows == [("invoices_posted_once", invoice, "Posted with 1 S/L and 2 G/L posting(s)")]


def test_a_booked_entry_edited(broken):
    entry, posting = one(broken, "SELECT entry_id, posting_id FROM sl_entries ORDER BY 1 LIMIT 1")
    broken.con.execute(f"UPDATE sl_entries SET description = 'adjusted' WHERE entry_id = {entry}")
    checks, rows = failing(broken)
    assert checks == ["postings_append_only"]
    assert rows[0][:2] == ("postings_append_only", str(entry))
    assert rows[0][2].startswith(f"{posting}: description adjusted against ")


def test_a_posting_attempt_and_an_event_deleted(broken):
    posting, batch = one(broken, "SELECT posting_id, batch_id FROM postings WHERE ledger = 'SL' AND attempts = 1 "
                                 "ORDER BY 1 LIMIT 1")
    seq = one(broken, "SELECT min(seq) FROM events WHERE activity = 'Item Added'")[0]
    broken.con.execute(f"""DELETE FROM posting_attempts WHERE posting_id = '{posting}';
                           DELETE FROM events WHERE seq = {seq}""")
    checks, rows = failing(broken)
    assert checks == ["postings_append_only"]
    assert ("postings_append_only", posting, "made 1 attempt(s), 0 kept") in rows
    assert ("postings_append_only", batch, "recorded 63 S/L and 63 G/L record(s), holds 62 and 63") in rows
    assert ("postings_append_only", str(seq), "number allocated (counter event), no row: lost or deleted") in rows


def test_a_booked_entry_deleted_breaks_three_invariants(broken):
    entry, invoice = one(broken, "SELECT entry_id, doc_id FROM sl_entries ORDER BY 1 LIMIT 1")
    broken.con.execute(f"DELETE FROM sl_entries WHERE entry_id = {entry}")
    checks, rows = failing(broken)
    assert checks == ["receivables_control", "invoices_posted_once", "postings_append_only"]
    assert ("postings_append_only", str(entry), "number allocated (counter sl_entry), no row: lost or deleted") in rows
    assert ("invoices_posted_once", invoice,
            "booked 0 time(s) in the SL, CMP's posting Accepted, no fault recorded") in rows


def test_a_rule_that_cannot_run_is_a_failure_not_a_crash(broken):
    broken.con.execute("DROP TABLE wh_stock")
    checks, rows = failing(broken)
    assert checks == ["stock_not_negative"]
    assert rows[0][2].startswith("the rule could not run: Catalog Error")


def test_cmpsim_check_exit_status_and_rows(small_run, tmp_path):
    shutil.copytree(small_run.run_dir, tmp_path / "good")
    result = CliRunner().invoke(main, ["check", str(tmp_path / "good")])
    assert result.exit_code == 0, result.output
    assert "every invariant holds" in result.output
    sim = live_copy(small_run, tmp_path / "bad", END)
    sim.con.execute("UPDATE stock SET on_hand = -1 WHERE product_id = 'PHN-X200'")
    sim.store.close()
    result = CliRunner().invoke(main, ["check", str(tmp_path / "bad"), "--rows", "1"])
    assert result.exit_code == 1
    assert "stock_not_negative: 2 offending row(s), first 1" in result.output and "on hand -1" in result.output
    result = CliRunner().invoke(main, ["check", str(tmp_path / "bad"), "--json"])
    assert result.exit_code == 1 and '"offending": 2' in result.output
    result = CliRunner().invoke(main, ["check", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "expected a run folder written by cmpsim run" in result.output


def test_run_check_checks_every_day_and_stops_at_the_first_that_breaks(tmp_path, monkeypatch):
    seen, check_day = [], runs.check_day

    def breaking_on_day_two(sim, day):
        seen.append(day)
        if day == 2:  # an engine defect: stock taken below zero, in the day's record (flushed at midnight)
            sim.con.execute("UPDATE stock SET on_hand = -1 WHERE product_id = 'PHN-X200'")
            sim.store.flush()
        return check_day(sim, day)

    monkeypatch.setattr(runs, "check_day", breaking_on_day_two)
    result = CliRunner().invoke(main, ["run", str(SMALL), "--days", "3", "--check", "--out", str(tmp_path / "run")])
    assert seen == [1, 2] and result.exit_code == 1, result.output
    assert "stock_not_negative: 2 offending row(s)" in result.output
    assert "run stopped on day 2 (2026-01-07 00:00): stock_not_negative failed" in result.output


def test_run_check_passes_a_run_that_keeps_every_invariant(tmp_path):
    result = CliRunner().invoke(main, ["run", str(SMALL), "--days", "2", "--check", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "checked after each of 2 simulated days: every invariant held" in result.output


# Secrets: the file key reaches no file of the run folder, no table of its database.
def test_the_key_is_written_nowhere_in_the_run_folder(small_run):
    key = small_run.scenario.key()
    forms = [key, key.hex().encode(), key.hex().upper().encode(), base64.b64encode(key), base64.urlsafe_b64encode(key)]
    files = [p for p in small_run.run_dir.rglob("*") if p.is_file()]
    assert len(files) > 100 and any(p.name == "cmpsim.duckdb" for p in files)
    assert [p for p in files if any(form in p.read_bytes() for form in forms)] == []
    columns = small_run.con.execute("""SELECT table_name, column_name FROM information_schema.columns
                                       WHERE data_type = 'VARCHAR' AND table_schema = 'main'""").fetchall()
    found = small_run.con.execute(" UNION ALL ".join(  # the database's pages may be compressed: ask it too
        f"""SELECT '{t}.{c}' FROM "{t}" WHERE lower("{c}") LIKE '%{key.hex()}%'
                                       OR "{c}" LIKE '%{base64.b64encode(key).decode()}%'""" for t, c in columns
    )).fetchall()
    assert len(columns) > 100 and found == []
