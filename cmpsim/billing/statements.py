"""The Statement Production job: a statement for every account billed this cycle.

A statement carries the balance forward: previous balance (the last statement's new balance, 0 for
the first), then every document of the account not yet on a statement — invoices (the cycle's and
those billed at once since), payments received, payments returned by the bank, refunds — and the
new balance. It reads CMP's own documents (`account_activity`), not the ledger: what the customer
owes is what CMP billed and received. An account with nothing to show and nothing owed gets none.
"""

from __future__ import annotations

ITEM_TEXT = """CASE x.doc_type
    WHEN 'invoice' THEN 'Invoice ' || x.doc_id
    WHEN 'payment' THEN 'Payment received, thank you'
    WHEN 'payment_reversal' THEN 'Payment returned by your bank'
    WHEN 'refund' THEN 'Refund of your credit balance' END"""


def statement_production_step(sim) -> int:
    """Statements for the bill cycles invoiced and not yet stated; returns statements produced."""
    con = sim.con
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _st_cycles AS
        SELECT account_id, period_end FROM bill_cycles WHERE stage = 'Invoiced'""")
    if not sim.store.scalar("SELECT count(*) FROM _st_cycles"):
        return 0
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _st_items AS
        SELECT x.account_id, x.doc_type, x.doc_id, x.doc_date, {ITEM_TEXT} AS description, x.amount,
               row_number() OVER (PARTITION BY x.account_id ORDER BY x.doc_date, x.created_at, x.doc_id) AS item_no
        FROM account_activity x
        WHERE x.account_id IN (SELECT account_id FROM _st_cycles) AND x.created_at <= ?
          AND NOT EXISTS (SELECT 1 FROM statement_items s WHERE s.doc_type = x.doc_type AND s.doc_id = x.doc_id)""",
                [sim.now])
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _st_stated AS
        WITH previous AS (SELECT account_id, arg_max(new_balance, statement_date) AS balance FROM statements
                          WHERE account_id IN (SELECT account_id FROM _st_cycles) GROUP BY ALL),
             sums AS (SELECT account_id, count(*) AS items,
                             coalesce(sum(amount) FILTER (WHERE doc_type = 'invoice'), 0) AS invoiced,
                             coalesce(-sum(amount) FILTER (WHERE doc_type = 'payment'), 0) AS paid,
                             coalesce(sum(amount) FILTER (WHERE doc_type IN ('payment_reversal', 'refund')), 0)
                                 AS adjustments
                      FROM _st_items GROUP BY ALL)
        SELECT DISTINCT c.account_id, coalesce(p.balance, 0) AS previous_balance, coalesce(s.items, 0) AS items,
               coalesce(s.invoiced, 0) AS invoiced, coalesce(s.paid, 0) AS paid,
               coalesce(s.adjustments, 0) AS adjustments
        FROM _st_cycles c LEFT JOIN previous p USING (account_id) LEFT JOIN sums s USING (account_id)
        WHERE coalesce(s.items, 0) > 0 OR coalesce(p.balance, 0) <> 0""")
    n = sim.store.scalar("SELECT count(*) FROM _st_stated")
    base = sim.store.allocate("statement", n)
    terms = sim.scenario["billing"]["payment_terms_days"]
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _st_new AS
        SELECT 'ST-' || lpad((? + row_number() OVER (ORDER BY account_id))::VARCHAR, 8, '0') AS statement_id, *
        FROM _st_stated""", [base])
    con.execute("""
        INSERT INTO statements
        SELECT statement_id, account_id, ?::DATE, previous_balance, invoiced, paid, adjustments,
               previous_balance + invoiced - paid + adjustments, items, ?::DATE + ?::INTEGER, ?
        FROM _st_new ORDER BY statement_id""", [sim.today, sim.today, terms, sim.now])
    con.execute("""
        INSERT INTO statement_items
        SELECT s.statement_id, i.item_no, i.doc_type, i.doc_id, i.doc_date, i.description, i.amount
        FROM _st_items i JOIN _st_new s USING (account_id) ORDER BY s.statement_id, i.item_no""")
    _close_cycles(sim)
    return n


def _close_cycles(sim) -> None:
    con = sim.con
    con.execute("""
        UPDATE bill_cycles SET stage = 'Stated', statement_id = s.statement_id
        FROM _st_cycles c LEFT JOIN _st_new s USING (account_id)
        WHERE bill_cycles.stage = 'Invoiced' AND bill_cycles.account_id = c.account_id""")
    con.execute("""
        UPDATE invoices SET statement_id = x.statement_id
        FROM (SELECT s.statement_id, i.doc_id FROM _st_items i JOIN _st_new s USING (account_id)
              WHERE i.doc_type = 'invoice') x
        WHERE invoices.invoice_id = x.doc_id""")
    sim.store.record_events("""
        SELECT produced_at AS ts, 'statement' AS object_type, statement_id AS object_id,
               'Statement Produced' AS activity, ? AS job,
               account_id || ' balance ' || new_balance::VARCHAR AS detail
        FROM statements WHERE statement_id IN (SELECT statement_id FROM _st_new)""", [sim.current_job])
