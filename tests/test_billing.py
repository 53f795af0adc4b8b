"""The daily billing run (seed 002) on a real run: the job sequence and a failure stopping it,
pro-rating, discounts, tax rounding, statements, bill documents, usage archiving, immediate bills."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import ROUND_HALF_UP, Decimal

import duckdb

import cmpsim
from cmpsim.billing import BILLING_RUN_JOBS
from pdftext import pdf_text

CENT = Decimal("0.01")


def half_up(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def test_the_five_jobs_run_every_day_in_sequence(billing_run):
    runs = billing_run.sql("""SELECT started_at::DATE AS day, list(job ORDER BY run_no) AS jobs,
                                     list(status ORDER BY run_no) AS statuses, max(run_no) - min(run_no) AS spread
                              FROM job_runs WHERE job IN (SELECT unnest(?)) GROUP BY ALL ORDER BY day""",
                           [list(BILLING_RUN_JOBS)])
    assert runs.height == 38  # one billing run a day
    normal = runs.filter(runs["day"] != day("2026-01-15"))
    assert all(jobs == list(BILLING_RUN_JOBS) for jobs in normal["jobs"].to_list())
    assert set(normal["spread"]) == {4}  # nothing ran between two jobs of a run
    assert {s for statuses in normal["statuses"].to_list() for s in statuses} == {"Completed"}


def test_a_failed_job_stops_the_run_for_the_day_and_the_next_run_catches_up(billing_run):
    failed_day = billing_run.sql("""SELECT job, status, detail FROM job_runs
                                    WHERE started_at::DATE = '2026-01-15' AND job IN (SELECT unnest(?))
                                    ORDER BY run_no""", [list(BILLING_RUN_JOBS)]).rows()
    assert [(job, status) for job, status, _ in failed_day] == [
        ("Invoice Production", "Completed"), ("Statement Production", "Failed")]
    assert "crashed (injected fault): its work was rolled back" in failed_day[1][2]
    # The cycle of the 15th was invoiced that day; its statements came with the next day's run.
    cycle = billing_run.sql("""SELECT c.billed_at::DATE AS billed, s.statement_date, c.stage
                               FROM bill_cycles c LEFT JOIN statements s USING (statement_id)
                               WHERE c.period_end = '2026-01-15' AND c.invoice_id IS NOT NULL""")
    assert cycle.height > 10
    assert set(cycle["billed"]) == {day("2026-01-15")} and set(cycle["statement_date"]) == {day("2026-01-16")}
    posted = billing_run.sql("""SELECT DISTINCT posted_at::DATE AS d FROM invoices i JOIN bill_cycles c
                                USING (invoice_id) WHERE c.period_end = '2026-01-15'""")["d"].to_list()
    assert posted == [day("2026-01-16")]
    assert billing_run.sql("SELECT count(*) AS n FROM faults_injected WHERE kind = 'fail_job'")["n"][0] == 1
    assert billing_run.sql("SELECT count(*) AS n FROM events WHERE activity = 'Job Failed'")["n"][0] == 1


def test_recurring_charges_are_prorated_by_day_with_discount_and_tax_per_line(billing_run):
    lines = billing_run.sql("""
        SELECT i.invoice_date, l.line_type, l.period_from, l.period_to, l.days, l.period_days, l.net_amount,
               l.tax_amount, l.gross_amount
        FROM invoice_lines l JOIN invoices i USING (invoice_id)
        WHERE i.account_id = 'ACC-DEMO-1' AND (l.source_id = 'AS-BILL-INET-1' OR l.source_id LIKE '%:AS-BILL-INET-1')
        ORDER BY i.invoice_date, l.line_no""").rows(named=True)
    # 8 January: Active from 5 January, 3 days of a 31-day period: 30.00 x 3/31 = 2.903 -> 2.90.
    january = [line for line in lines if line["invoice_date"] == day("2026-01-08")]
    assert [(x["line_type"], x["days"], x["net_amount"], x["tax_amount"]) for x in january] == [
        ("recurring", 3, Decimal("2.90"), Decimal("0.58")),
        ("discount", 3, Decimal("-0.29"), Decimal("-0.06")),  # -0.058 rounds away from zero
    ]
    # 8 February: Active 8-19 January and 25 January-7 February (suspended 20-24): 26 days.
    february = [line for line in lines if line["invoice_date"] == day("2026-02-08")]
    assert [(x["line_type"], x["period_from"], x["period_to"], x["days"], x["net_amount"]) for x in february] == [
        ("recurring", day("2026-01-08"), day("2026-01-20"), 12, Decimal("11.61")),
        ("discount", day("2026-01-08"), day("2026-01-20"), 12, Decimal("-1.16")),
        ("recurring", day("2026-01-25"), day("2026-02-08"), 14, Decimal("13.55")),
        ("discount", day("2026-01-25"), day("2026-02-08"), 14, Decimal("-1.36")),
    ]
    for x in lines:
        assert x["gross_amount"] == x["net_amount"] + x["tax_amount"]


def test_prorating_rounds_half_away_from_zero_in_exact_cents():
    con = duckdb.connect()
    con.execute("CREATE MACRO prorate(amount, num, den) AS "
                + cmpsim.billing.tables.DDL.split("CREATE OR REPLACE MACRO prorate(amount, num, den) AS")[1]
                .split(";")[0])
    cases = [("30.00", 3, 31), ("0.05", 1, 2), ("10.00", 1, 3), ("19.99", 17, 28), ("1000000.01", 29, 31),
             ("0.01", 1, 2), ("30.00", 31, 31)]
    for amount, days, period in cases:
        expected = half_up(Decimal(amount) * days / period)
        prorated = con.execute("SELECT prorate(?::DECIMAL(18,2), ?, ?)", [amount, days, period]).fetchall()[0][0]
        assert prorated == expected


def test_every_line_is_taxed_on_its_own_net_and_totals_are_sums_of_lines(billing_run):
    lines = billing_run.sql("SELECT net_amount, tax_rate, tax_amount, gross_amount FROM invoice_lines").rows()
    assert len(lines) > 500
    for net, rate, tax, gross in lines:
        assert tax == half_up(net * rate) and gross == net + tax
    mismatched = billing_run.sql("""
        SELECT count(*) AS n FROM invoices i JOIN (SELECT invoice_id, sum(net_amount) AS net, sum(tax_amount) AS tax,
                                                          sum(gross_amount) AS gross, count(*) AS lines
                                                   FROM invoice_lines GROUP BY ALL) l USING (invoice_id)
        WHERE i.net_amount <> l.net OR i.tax_amount <> l.tax OR i.gross_amount <> l.gross OR i.lines <> l.lines""")
    assert mismatched["n"][0] == 0


def test_a_cycle_invoice_bills_charges_usage_and_recurring_of_its_period_once(billing_run):
    billed_twice = billing_run.sql("""SELECT source_id FROM invoice_lines WHERE line_type IN ('hardware', 'one_off')
                                      GROUP BY ALL HAVING count(*) > 1""")
    assert billed_twice.height == 0
    late = billing_run.sql("""SELECT count(*) AS n FROM charges c JOIN invoices i USING (invoice_id)
                              WHERE c.charge_date >= i.period_end""")
    assert late["n"][0] == 0  # a charge is billed on the first invoice whose period it falls in
    usage = billing_run.sql("""SELECT l.net_amount, u.amount FROM invoice_lines l JOIN invoices i USING (invoice_id)
                               JOIN (SELECT invoice_id, asset_id, sum(amount) AS amount FROM usage_history
                                     GROUP BY ALL) u ON u.invoice_id = l.invoice_id AND u.asset_id = l.source_id
                               WHERE l.line_type = 'usage'""")
    assert usage.height > 20 and (usage["net_amount"] == usage["amount"]).all()
    periods = billing_run.sql("""SELECT account_id, period_start, period_end FROM bill_cycles ORDER BY ALL""").rows()
    follows = {}
    for account, start, end in periods:  # each account's periods follow each other without gap or overlap
        assert follows.get(account, start) == start
        follows[account] = end


def test_statements_carry_the_balance_forward(billing_run):
    statements = billing_run.sql("""SELECT account_id, statement_date, previous_balance, invoiced, paid, adjustments,
                                           new_balance FROM statements ORDER BY account_id, statement_date""").rows()
    last: dict[str, Decimal] = {}
    for account, _, previous, invoiced, paid, adjustments, new in statements:
        assert previous == last.get(account, Decimal("0.00"))
        assert new == previous + invoiced - paid + adjustments
        last[account] = new
    second = billing_run.sql("""SELECT count(*) AS n FROM statements WHERE previous_balance <> 0
                                AND statement_date = '2026-02-08'""")
    assert second["n"][0] > 0
    # What CMP says an account owes after its statement equals the sum of its documents up to then.
    drift = billing_run.sql("""
        SELECT count(*) AS n FROM statements s
        WHERE s.new_balance <> (SELECT coalesce(sum(x.amount), 0) FROM account_activity x
                                WHERE x.account_id = s.account_id AND x.created_at <= s.produced_at)""")
    assert drift["n"][0] == 0


def test_a_bill_pdf_shows_the_invoice_lines(billing_run):
    documents = billing_run.sql("""SELECT d.path, d.doc_id, c.invoice_id FROM bill_documents d
                                   JOIN bill_cycles c ON c.statement_id = d.doc_id
                                   WHERE d.account_id = 'ACC-DEMO-1' ORDER BY d.rendered_at""").rows()
    assert len(documents) == 2  # its two cycles, always rendered (billing.bill_print.accounts)
    path, statement_id, invoice_id = documents[-1]
    text = pdf_text((billing_run.run_dir / path).read_bytes())
    assert "Ada Lovelace" in text and statement_id in text and invoice_id in text
    lines = billing_run.sql("SELECT description, gross_amount FROM invoice_lines WHERE invoice_id = ? ORDER BY line_no",
                            [invoice_id]).rows()
    for description, gross in lines:
        assert description.split(" (")[0] in text and f"{gross:,.2f}" in text
    gross = billing_run.sql("SELECT gross_amount FROM invoices WHERE invoice_id = ?", [invoice_id])["gross_amount"][0]
    assert f"{gross:,.2f}" in text


def test_old_usage_is_archived_to_parquet_and_stays_queryable(billing_run, tmp_path):
    archives = billing_run.sql("SELECT * FROM usage_archives ORDER BY file")
    assert archives.height > 5
    # The last run (11 February) archived every invoiced record older than 14 days' retention.
    left = billing_run.sql("""SELECT count(*) AS n FROM usage_records
                              WHERE usage_date < DATE '2026-02-11' - 14 AND invoice_id IS NOT NULL""")
    assert left["n"][0] == 0
    counts = billing_run.sql("""SELECT (SELECT count(*) FROM archived_usage) AS archived,
                                       (SELECT sum(records) FROM usage_archives) AS registered""").row(0)
    assert counts[0] == counts[1] > 0
    for file in archives["file"]:
        assert (billing_run.run_dir / file).is_file()
    moved = tmp_path / "moved"
    shutil.copytree(billing_run.run_dir, moved)  # a run folder can move and still be read whole
    with cmpsim.open_run(moved) as copy:
        assert copy.sql("SELECT count(*) AS n FROM usage_history")["n"][0] == (
            billing_run.sql("SELECT count(*) AS n FROM usage_history")["n"][0])


def test_hardware_billed_at_once_is_invoiced_on_completion_outside_the_cycle(immediate_on_work_run):
    run = immediate_on_work_run
    charges = run.sql("""SELECT c.charge_date, c.status, i.invoice_type, i.produced_at, i.invoice_date
                         FROM charges c JOIN invoices i USING (invoice_id) WHERE c.billing_mode = 'immediate'""")
    assert charges.height > 50 and set(charges["status"]) == {"Billed"}
    assert set(charges["invoice_type"]) == {"immediate"}
    # produced when the dispatch job that billed them was done (it signals Immediate Invoice Production)
    early = run.sql("""SELECT count(*) AS n FROM charges c JOIN invoices i USING (invoice_id)
                       WHERE c.billing_mode = 'immediate' AND i.produced_at <> (
                           SELECT min(ended_at) FROM job_runs r WHERE r.job = 'Sales Order Dispatch'
                           AND r.started_at = c.charge_date)""")["n"][0]
    assert early == 0 and (charges["produced_at"] > charges["charge_date"]).all()
    assert run.sql("SELECT count(*) AS n FROM charges WHERE status = 'Unbilled'")["n"][0] == 0
    # One invoice per order and completion: lines a second warehouse dispatched later get their own.
    per_invoice = run.sql("""SELECT invoice_id, count(DISTINCT source_id) AS orders, count(DISTINCT charge_date) AS at
                             FROM charges WHERE billing_mode = 'immediate' GROUP BY ALL""")
    assert set(per_invoice["orders"]) == {1} and set(per_invoice["at"]) == {1}


def test_the_seed_probes_fire_on_a_day_without_sl_extract(billing_run):
    """Seed 002: both probes count today's S/L extract files; the alert notifies its recipients, the
    SLA probe records the breach and notifies no one. Statement Production failed on 15 January, so
    Invoice Posting did not run and no S/L file was extracted that day."""
    results = billing_run.sql("""SELECT probe, evaluated_at, value, breached FROM probe_results
                                 WHERE probe LIKE 'Invoice Posting Extract Completed S/L %' AND breached
                                 ORDER BY probe""").rows()
    at = "2026-01-15 06:00:00"
    assert [(p, str(t), v) for p, t, v, _ in results] == [
        ("Invoice Posting Extract Completed S/L Alert", at, 0), ("Invoice Posting Extract Completed S/L SLA", at, 0)]
    alerts = billing_run.sql("SELECT probe, recipient, status FROM probe_alerts WHERE evaluated_at = ? ORDER BY ALL",
                             [at]).rows()
    assert alerts == [("Invoice Posting Extract Completed S/L Alert", "billing-ops@cmpsim.example", "Requested"),
                      ("Invoice Posting Extract Completed S/L Alert", "finance@cmpsim.example", "Requested")]
    notified = billing_run.sql("""SELECT target, channel FROM comms WHERE trigger = 'probe_alert'
                                  AND object_id = 'Invoice Posting Extract Completed S/L Alert @ 2026-01-15 06:00'
                                  ORDER BY target""").rows()
    assert notified == [("billing-ops@cmpsim.example", "email"), ("finance@cmpsim.example", "email")]
    unfinished = billing_run.sql("""SELECT evaluated_at, detail FROM probe_results
                                    WHERE probe = 'Billing Run Not Completed' AND breached""").rows()
    assert len(unfinished) == 1 and str(unfinished[0][0]) == "2026-01-15 07:00:00"
    assert "Statement Production" in unfinished[0][1] and "Failed" in unfinished[0][1]
