"""Invoice posting (seed 002) on a real run: balanced journals from the posting rules, each document
posted once to each ledger, the ledgers agreeing, rejections and re-posts, idempotent reruns."""

from __future__ import annotations

from decimal import Decimal

from cmpsim.engine import Step
from cmpsim.ledger import accounting_system_step, invoice_posting_step
from cmpsim.ledger.accounting import RECEIVED
from cmpsim.ledger.adaptor import IMPORT
from conftest import live_copy


def test_every_journal_balances(billing_run):
    unbalanced = billing_run.sql("""
        SELECT journal_id FROM gl_entries GROUP BY ALL HAVING sum(debit) <> sum(credit)
        UNION ALL SELECT posting_id FROM posting_lines GROUP BY ALL HAVING sum(debit) <> sum(credit)
        UNION ALL SELECT j.journal_id FROM gl_journals j JOIN (SELECT journal_id, sum(debit) AS d, sum(credit) AS c
                                                              FROM gl_entries GROUP BY ALL) e USING (journal_id)
                  WHERE j.total_debit <> e.d OR j.total_credit <> e.c""")
    assert unbalanced.height == 0
    debits, credits = billing_run.sql("SELECT sum(debit), sum(credit) FROM trial_balance").row(0)
    assert debits == credits > Decimal("100000")


def test_invoice_journals_follow_the_posting_rules(billing_run):
    rows = billing_run.sql("""
        SELECT i.invoice_id, i.gross_amount, i.tax_amount, e.gl_account, e.debit, e.credit
        FROM invoices i JOIN gl_journals j ON j.doc_type = 'invoice' AND j.doc_id = i.invoice_id
        JOIN gl_entries e USING (journal_id)""").rows(named=True)
    by_invoice: dict[str, dict[str, tuple]] = {}
    for r in rows:
        by_invoice.setdefault(r["invoice_id"], {})[r["gl_account"]] = (r["debit"], r["credit"], r)
    for lines in by_invoice.values():
        any_line = next(iter(lines.values()))[2]
        assert lines["1100"][:2] == (any_line["gross_amount"], 0)  # Dr receivables: what the customer owes
        assert lines.get("2200", (0, 0))[:2] == (0, any_line["tax_amount"])  # Cr tax payable (no line when 0)
    expected = billing_run.sql("""
        SELECT r.gl_account, sum(l.net_amount) AS net
        FROM invoice_lines l JOIN posting_rules r ON r.rule = 'revenue' AND r.product_class = l.product_class
        WHERE l.line_type <> 'discount' GROUP BY ALL ORDER BY 1""").rows()
    booked = billing_run.sql("""SELECT gl_account, sum(credit) - sum(debit) FROM gl_entries WHERE doc_type = 'invoice'
                                AND gl_account LIKE '4%' AND gl_account <> '4800' GROUP BY ALL ORDER BY 1""").rows()
    assert booked == expected and {a for a, _ in booked} >= {"4000", "4010", "4100", "4130", "4200"}
    discounts = billing_run.sql("""SELECT (SELECT -sum(net_amount) FROM invoice_lines WHERE line_type = 'discount'),
                                          (SELECT sum(debit) FROM gl_entries WHERE gl_account = '4800')""").row(0)
    assert discounts[0] == discounts[1] > 0


def test_payment_journals(billing_run):
    shapes = billing_run.sql("""
        SELECT doc_type, list(gl_account || CASE WHEN debit > 0 THEN ' Dr' ELSE ' Cr' END ORDER BY line_no) AS lines
        FROM gl_entries WHERE doc_type <> 'invoice' GROUP BY journal_id, doc_type""")
    seen = {d: set() for d in shapes["doc_type"]}
    for doc_type, lines in shapes.rows():
        seen[doc_type].add(tuple(lines))
    assert seen == {"payment": {("1000 Dr", "1100 Cr")}, "payment_reversal": {("1100 Dr", "1000 Cr")},
                    "refund": {("1100 Dr", "2300 Cr")}, "refund_payout": {("2300 Dr", "1000 Cr")}}


def test_each_document_is_posted_once_to_each_ledger_and_the_ledgers_agree(billing_run):
    twice = billing_run.sql("""
        SELECT ledger, doc_type, doc_id FROM postings GROUP BY ALL HAVING count(*) > 1
        UNION ALL SELECT 'SL', doc_type, doc_id FROM sl_entries GROUP BY ALL HAVING count(*) > 1
        UNION ALL SELECT 'GL', doc_type, doc_id FROM gl_journals GROUP BY ALL HAVING count(*) > 1""")
    assert twice.height == 0
    missing = billing_run.sql("""
        SELECT invoice_id FROM invoices WHERE posted_at IS NOT NULL AND (
            invoice_id NOT IN (SELECT doc_id FROM sl_entries) OR invoice_id NOT IN (SELECT doc_id FROM gl_journals))""")
    assert missing.height == 0
    sl, control = billing_run.sql("""
        SELECT (SELECT sum(amount) FROM sl_entries),
               (SELECT sum(debit - credit) FROM gl_entries WHERE gl_account = '1100')""").row(0)
    assert sl == control > 0
    per_account = billing_run.sql("""
        SELECT count(*) AS n FROM sl_balances s FULL JOIN (SELECT account_id, sum(debit - credit) AS balance
                                                         FROM gl_entries WHERE gl_account = '1100' GROUP BY ALL) g
             USING (account_id)
        WHERE s.balance IS DISTINCT FROM g.balance""")
    assert per_account["n"][0] == 0


def test_rejected_postings_are_reported_and_reposted(billing_run):
    rejected = billing_run.sql("""SELECT posting_id, attempt, batch_id, outcome, reason, answered_at
                                  FROM posting_attempts WHERE posting_id IN (
                                      SELECT posting_id FROM posting_attempts WHERE outcome = 'rejected')
                                  ORDER BY posting_id, attempt""").rows(named=True)
    assert [(r["attempt"], r["outcome"]) for r in rejected] == [(1, "rejected"), (2, "accepted")] * 2
    assert all(r["reason"].startswith("VALIDATION_FAILED") for r in rejected if r["attempt"] == 1)
    assert {r["posting_id"][:3] for r in rejected} == {"SL:"}
    assert {str(r["answered_at"])[:10] for r in rejected} == {"2026-01-08"}  # re-posted that morning (09:00)
    errors = billing_run.sql("SELECT * FROM generic_files WHERE kind = 'posting-error'")
    assert errors.height == 1 and errors["status"][0] == "Loaded"
    assert billing_run.sql("SELECT count(*) AS n FROM postings WHERE status <> 'Accepted'")["n"][0] == 0
    events = billing_run.sql("SELECT activity, count(*) AS n FROM events WHERE object_type = 'posting' GROUP BY ALL "
                             "ORDER BY 1").rows()
    assert events == [("Posting Rejected", 2), ("Posting Reposted", 2)]


def test_rerunning_invoice_posting_posts_nothing_twice(billing_run, tmp_path):
    sim = live_copy(billing_run, tmp_path / "copy", "2026-02-11T23:00:00")
    posting = Step("Invoice Posting", "job", None, invoice_posting_step)
    before = sim.store.scalar("SELECT count(*) FROM postings")
    first = sim.execute(posting)  # the documents of the last day (payments received since 02:00)
    after_first = sim.store.frame("SELECT * FROM postings ORDER BY posting_id")
    assert first > 0 and after_first.height > before
    assert sim.execute(posting) == 0
    assert sim.store.frame("SELECT * FROM postings ORDER BY posting_id").equals(after_first)
    assert sim.store.scalar("SELECT count(*) FROM posting_batches WHERE created_at = ?", [sim.now]) == 1
    sim.store.close()


def test_the_ledger_system_books_a_file_once_even_if_it_arrives_twice(billing_run, tmp_path):
    sim = live_copy(billing_run, tmp_path / "copy", "2026-02-11T23:00:00")
    received = sim.run_dir / RECEIVED
    original = sorted(received.glob("sl-posting__*.json.enc"))[10]
    (received / original.name.replace(".json.enc", "-again.json.enc")).write_bytes(original.read_bytes())
    entries = sim.store.scalar("SELECT count(*) FROM sl_entries")
    assert sim.execute(Step("Ledger System", "external", None, accounting_system_step)) == 1
    assert sim.store.scalar("SELECT count(*) FROM sl_entries") == entries
    assert sim.store.scalar("SELECT status FROM acct_files ORDER BY received_at DESC LIMIT 1") == "Duplicate"
    # The adaptor recognised the transmitted bytes and imported nothing for the copy.
    assert (sim.run_dir / IMPORT / original.name.replace(".json.enc", ".csv")).is_file()
    assert not (sim.run_dir / IMPORT / original.name.replace(".json.enc", "-again.csv")).exists()
    sim.store.close()
