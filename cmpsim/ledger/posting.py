"""The Invoice Posting job: every financial document becomes one record per ledger.

Run as the fourth job of the daily billing run, it takes every document not posted yet — invoices,
payments, payments returned, refunds, refunds paid out — and creates, in one posting batch:
- an S/L record per document that touches a customer's account: + for what the customer owes
  (invoice, returned payment, refund), − for what they paid;
- a G/L record per document: a balanced journal from the scenario's posting rules.
    invoice           Dr receivables (gross)   Cr revenue by product class (net)   Dr discounts   Cr tax payable
    payment           Dr bank                  Cr receivables
    payment returned  Dr receivables           Cr bank
    refund            Dr receivables           Cr refunds payable
    refund paid out   Dr refunds payable       Cr bank
A posting's id is its idempotency key (`SL:invoice:INV-00000001`): a document is posted to each
ledger once, however often the job runs. The extract daemons write each batch as S/L and G/L
files; the ledgers book what they receive. One batch a day is made even when there is nothing to
post, so the S/L extract probe tells a day whose billing run did not post from a quiet day.
"""

from __future__ import annotations

from cmpsim import faults


def invoice_posting_step(sim) -> int:
    """Post every document not posted yet to each ledger; returns documents posted.

    The S/L part is written first, then the G/L part; a crash in between (scenario fault
    `crash_job`) keeps the S/L postings, and the next run posts what the G/L still lacks."""
    con = sim.con
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _post_docs AS
        SELECT d.*,
               d.sl_amount IS NOT NULL AND NOT EXISTS (SELECT 1 FROM postings p WHERE p.ledger = 'SL'
                   AND p.doc_type = d.doc_type AND p.doc_id = d.doc_id) AS need_sl,
               NOT EXISTS (SELECT 1 FROM postings p WHERE p.ledger = 'GL'
                   AND p.doc_type = d.doc_type AND p.doc_id = d.doc_id) AS need_gl
        FROM financial_documents d WHERE d.created_at <= ?""", [sim.now])
    con.execute("DELETE FROM _post_docs WHERE NOT need_sl AND NOT need_gl")
    n = sim.store.scalar("SELECT count(*) FROM _post_docs")
    posted_today = sim.store.scalar(
        "SELECT count(*) FROM posting_batches WHERE kind = 'posting' AND created_at::DATE = ?", [sim.today])
    if n == 0 and posted_today:
        return 0
    batch = f"PB-{sim.store.allocate('posting_batch', 1) + 1:07d}"
    con.execute("INSERT INTO posting_batches VALUES (?, 'posting', ?, ?, 0, 0, NULL, NULL)",
                [batch, sim.now, sim.current_job])
    _post_sales_ledger(sim, batch)
    sim.checkpoint()
    _post_general_ledger(sim, batch)
    con.execute("""UPDATE invoices SET status = 'Posted', posted_at = ?
                   WHERE posted_at IS NULL AND invoice_id IN (SELECT doc_id FROM _post_docs WHERE doc_type = 'invoice')
                     AND invoice_id IN (SELECT doc_id FROM postings WHERE ledger = 'SL' AND doc_type = 'invoice')
                     AND invoice_id IN (SELECT doc_id FROM postings WHERE ledger = 'GL' AND doc_type = 'invoice')""",
                [sim.now])
    return n


def _post_sales_ledger(sim, batch: str) -> None:
    sim.con.execute("""
        CREATE OR REPLACE TEMP TABLE _post_new AS
        SELECT 'SL:' || doc_type || ':' || doc_id AS posting_id, 'SL' AS ledger, doc_type, doc_id, account_id,
               posting_date, sl_amount AS amount, description FROM _post_docs WHERE need_sl""")
    _wrong_amount(sim, "SL")
    _insert_postings(sim, batch, "SL")


def _post_general_ledger(sim, batch: str) -> None:
    _journal_lines(sim)
    _wrong_amount(sim, "GL")
    _wrong_account(sim)
    sim.con.execute("""
        CREATE OR REPLACE TEMP TABLE _post_new AS
        SELECT 'GL:' || d.doc_type || ':' || d.doc_id AS posting_id, 'GL' AS ledger, d.doc_type, d.doc_id,
               d.account_id, d.posting_date, sum(l.debit) AS amount, d.description
        FROM _post_docs d JOIN _post_gl_lines l ON l.posting_id = 'GL:' || d.doc_type || ':' || d.doc_id
        WHERE d.need_gl GROUP BY ALL""")
    sim.con.execute("""INSERT INTO posting_lines SELECT posting_id, line_no, gl_account, debit, credit, description
                       FROM _post_gl_lines ORDER BY posting_id, line_no""")
    _insert_postings(sim, batch, "GL")


def _insert_postings(sim, batch: str, ledger: str) -> None:
    con = sim.con
    con.execute("""
        INSERT INTO postings
        SELECT posting_id, ledger, doc_type, doc_id, account_id, posting_date, strftime(posting_date, '%Y-%m'),
               amount, description, ?, 'Posted', 1, NULL, NULL, ?, ? FROM _post_new ORDER BY posting_id""",
                [batch, sim.now, sim.now])
    con.execute("""INSERT INTO posting_attempts SELECT posting_id, 1, ?, NULL, posting_date, NULL, NULL, NULL
                   FROM _post_new ORDER BY posting_id""", [batch])
    con.execute(f"UPDATE posting_batches SET {ledger.lower()}_records = (SELECT count(*) FROM _post_new) "
                "WHERE batch_id = ?", [batch])
    name = "Sales Ledger" if ledger == "SL" else "General Ledger"
    sim.store.record_events(f"""
        SELECT ?::TIMESTAMP AS ts, doc_type AS object_type, doc_id AS object_id, 'Posted To {name}' AS activity,
               ? AS job, posting_id || ' in batch ' || ? || ': ' || amount::VARCHAR AS detail
        FROM postings WHERE batch_id = ? AND ledger = ? AND created_at = ?""",
                            [sim.now, sim.current_job, batch, batch, ledger, sim.now])


def _first_invoice(sim, ledger: str) -> str | None:
    return sim.store.scalar(f"SELECT min('{ledger}:invoice:' || doc_id) FROM _post_docs "
                            f"WHERE doc_type = 'invoice' AND need_{ledger.lower()}")


def _wrong_amount(sim, ledger: str) -> None:
    """Scenario fault `wrong_amount`: the first invoice posted today goes to `ledger` off by `amount`
    (on the G/L, receivables and the first revenue line both, so the journal still balances)."""
    for fault_no, _ in faults.remaining(sim, "wrong_amount"):
        spec = sim.scenario["faults"][fault_no]
        target = _first_invoice(sim, ledger)
        if spec["ledger"] != ledger or target is None:
            continue
        if ledger == "SL":
            sim.con.execute("UPDATE _post_new SET amount = amount + ?::DECIMAL(18,2) WHERE posting_id = ?",
                            [spec["amount"], target])
        else:
            sim.con.execute("""UPDATE _post_gl_lines SET debit = debit + CASE line_no WHEN 1 THEN ?::DECIMAL(18,2)
                                                                                    ELSE 0 END,
                                      credit = credit + CASE line_no WHEN 2 THEN ?::DECIMAL(18,2) ELSE 0 END
                               WHERE posting_id = ? AND line_no IN (1, 2)""", [spec["amount"], spec["amount"], target])
        faults.record(sim, fault_no, ledger, target, f"{target} posted {spec['amount']} off its amount")
        return


def _wrong_account(sim) -> None:
    """Scenario fault `wrong_account`: the receivables line of the first invoice posted today goes to
    another account of the chart."""
    target = _first_invoice(sim, "GL")
    for fault_no, _ in faults.remaining(sim, "wrong_account")[:1]:
        if target is None:
            return
        account = sim.scenario["faults"][fault_no]["account"]
        sim.con.execute("UPDATE _post_gl_lines SET gl_account = ? WHERE posting_id = ? AND line_no = 1",
                        [account, target])
        faults.record(sim, fault_no, "GL", target, f"{target} receivables line posted to account {account}")


def _journal_lines(sim) -> None:
    """`_post_gl_lines`: the balanced journal of each document, by the scenario's posting rules.

    Each line is first an amount signed credit-positive; it becomes a debit or a credit by its sign,
    so a journal balances exactly when its signed amounts sum to zero (asserted)."""
    con = sim.con
    con.execute("CREATE OR REPLACE TEMP VIEW _post_invoices AS "
                "SELECT doc_id FROM _post_docs WHERE doc_type = 'invoice' AND need_gl")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _post_signed AS
        WITH rule AS (SELECT rule, gl_account FROM posting_rules WHERE rule <> 'revenue'),
             revenue AS (SELECT product_class, gl_account FROM posting_rules WHERE rule = 'revenue')
        SELECT 'GL:' || d.doc_type || ':' || d.doc_id AS posting_id, x.*
        FROM (SELECT * FROM _post_docs WHERE need_gl) d, LATERAL (
            SELECT 1 AS sort, (SELECT gl_account FROM rule WHERE rule = CASE d.doc_type
                       WHEN 'payment' THEN 'bank' WHEN 'refund_payout' THEN 'refunds' ELSE 'receivables' END)
                       AS gl_account, -d.amount AS signed, d.description AS description
            UNION ALL
            SELECT 2, (SELECT gl_account FROM rule WHERE rule = CASE d.doc_type
                       WHEN 'payment' THEN 'receivables' WHEN 'refund' THEN 'refunds' ELSE 'bank' END),
                   d.amount, d.description
            WHERE d.doc_type <> 'invoice') x
        UNION ALL
        SELECT 'GL:invoice:' || l.invoice_id, 3,
               CASE WHEN l.line_type = 'discount' THEN (SELECT gl_account FROM rule WHERE rule = 'discounts')
                    ELSE coalesce((SELECT gl_account FROM revenue r WHERE r.product_class = l.product_class),
                                  (SELECT gl_account FROM revenue r WHERE r.product_class IS NULL)) END,
               l.net_amount, CASE WHEN l.line_type = 'discount' THEN 'Discounts allowed' ELSE 'Revenue' END
        FROM invoice_lines l WHERE l.invoice_id IN (SELECT doc_id FROM _post_invoices)
        UNION ALL
        SELECT 'GL:invoice:' || l.invoice_id, 4, (SELECT gl_account FROM rule WHERE rule = 'tax_payable'),
               l.tax_amount, 'Tax payable'
        FROM invoice_lines l WHERE l.invoice_id IN (SELECT doc_id FROM _post_invoices)""")
    unbalanced = sim.store.scalar("SELECT count(*) FROM (SELECT posting_id FROM _post_signed GROUP BY ALL "
                                  "HAVING sum(signed) <> 0)")
    assert unbalanced == 0, f"{unbalanced} journal(s) would not balance"
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _post_gl_lines AS
        SELECT posting_id,
               row_number() OVER (PARTITION BY posting_id ORDER BY sort, gl_account)::INTEGER AS line_no,
               gl_account, greatest(-amount, 0)::DECIMAL(18,2) AS debit, greatest(amount, 0)::DECIMAL(18,2) AS credit,
               description
        FROM (SELECT posting_id, sort, gl_account, min(description) AS description, sum(signed) AS amount
              FROM _post_signed GROUP BY posting_id, sort, gl_account)
        WHERE amount <> 0""")
