"""Payments and refunds on CMP's side: the bank statement is loaded and applied, credits refunded.

- Load Payments From Generic Format (daemon): collects, authenticates and validates the bank's
  statement files (see `cmpsim.files.load_inbound`) and stages their transactions.
- Payment Allocation (job, on arriving statements): a credit becomes a payment on the account of
  the invoice it names; a return reverses the payment it names (a payment reversal document); a
  debit confirms a refund paid out. A transaction is applied once: an unknown reference or one
  already applied is kept and marked `ignored: …`, never applied.
- Refund Processing (job, scheduled): an account whose balance has been in credit since its last
  payment at least `payments.refund_after_days` ago is refunded the credit; the refunds go to the
  bank as one payment-instruction file.
Every document here is posted to the ledgers by the next Invoice Posting job.
"""

from __future__ import annotations

import polars as pl

from cmpsim.files import InboundKind, OutboundFile, load_inbound, write_outbound


def _stage_statement(sim, file_id: str, document: dict) -> int:
    rows = document["transactions"]
    frame = pl.DataFrame(rows, schema={"transactionId": pl.Utf8, "type": pl.Utf8, "reference": pl.Utf8,
                                       "accountId": pl.Utf8, "amount": pl.Utf8, "valueDate": pl.Utf8})
    sim.store.insert("bank_transactions", frame.select(
        file_id=pl.lit(file_id), transaction_id="transactionId", tx_type="type", reference="reference",
        account_id="accountId", amount="amount", value_date=pl.col("valueDate").str.to_date(strict=False),
        applied=pl.lit(None, pl.Utf8)))
    return frame.height


BANK_STATEMENT = InboundKind(kind="bank-statement", schema="bank-statement.schema.json", stage=_stage_statement)


def load_payments_step(sim) -> int:
    return load_inbound(sim, BANK_STATEMENT)


def payment_allocation_step(sim) -> int:
    """Apply every staged bank transaction; returns how many were looked at."""
    con = sim.con
    n = sim.store.scalar("SELECT count(*) FROM bank_transactions WHERE applied IS NULL")
    if not n:
        return 0
    con.execute("""
        UPDATE bank_transactions SET applied = v.verdict
        FROM (SELECT t.file_id, t.transaction_id,
                     CASE WHEN t.value_date IS NULL THEN 'ignored: impossible value date'
                          WHEN EXISTS (SELECT 1 FROM bank_transactions o WHERE o.transaction_id = t.transaction_id
                                       AND o.applied = 'applied') THEN 'ignored: transaction already applied'
                          WHEN row_number() OVER (PARTITION BY t.transaction_id ORDER BY t.file_id) > 1
                              THEN 'ignored: transaction twice in the statements'
                          WHEN t.tx_type = 'credit' AND i.invoice_id IS NULL THEN 'ignored: unknown invoice'
                          WHEN t.tx_type = 'return' AND (p.payment_id IS NULL OR p.status <> 'Received')
                              THEN 'ignored: no received payment with this reference'
                          WHEN t.tx_type = 'debit' AND (r.refund_id IS NULL OR r.status <> 'Requested')
                              THEN 'ignored: no refund awaiting payout with this reference'
                          ELSE 'applied' END AS verdict
              FROM bank_transactions t
              LEFT JOIN invoices i ON t.tx_type = 'credit' AND i.invoice_id = t.reference
              LEFT JOIN payments p ON t.tx_type = 'return' AND p.bank_ref = t.reference
              LEFT JOIN refunds r ON t.tx_type = 'debit' AND r.refund_id = t.reference
              WHERE t.applied IS NULL) v
        WHERE bank_transactions.file_id = v.file_id AND bank_transactions.transaction_id = v.transaction_id""")
    con.execute("""CREATE OR REPLACE TEMP TABLE _pay_applied AS SELECT * FROM bank_transactions
                   WHERE applied = 'applied' AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.bank_ref = transaction_id)
                     AND NOT EXISTS (SELECT 1 FROM payment_reversals r WHERE r.bank_ref = transaction_id)
                     AND NOT EXISTS (SELECT 1 FROM refunds f WHERE f.bank_ref = transaction_id)""")
    _record_payments(sim)
    _record_returns(sim)
    _record_payouts(sim)
    return n


def _record_payments(sim) -> None:
    n = sim.store.scalar("SELECT count(*) FROM _pay_applied WHERE tx_type = 'credit'")
    base = sim.store.allocate("payment", n)
    sim.con.execute("""
        INSERT INTO payments
        SELECT 'PAY-' || lpad((? + row_number() OVER (ORDER BY t.value_date, t.transaction_id))::VARCHAR, 8, '0'),
               i.account_id, i.invoice_id, t.amount, t.value_date, t.transaction_id, t.file_id, 'Received', ?
        FROM _pay_applied t JOIN invoices i ON i.invoice_id = t.reference WHERE t.tx_type = 'credit'
        ORDER BY 1""", [base, sim.now])
    sim.store.record_events("""
        SELECT created_at AS ts, 'payment' AS object_type, payment_id AS object_id, 'Payment Received' AS activity,
               ? AS job, account_id || ' ' || amount::VARCHAR || ' for ' || invoice_id AS detail
        FROM payments WHERE bank_ref IN (SELECT transaction_id FROM _pay_applied)""", [sim.current_job])


def _record_returns(sim) -> None:
    n = sim.store.scalar("SELECT count(*) FROM _pay_applied WHERE tx_type = 'return'")
    base = sim.store.allocate("payment_reversal", n)
    sim.con.execute("""
        INSERT INTO payment_reversals
        SELECT 'REV-' || lpad((? + row_number() OVER (ORDER BY t.value_date, t.transaction_id))::VARCHAR, 8, '0'),
               p.payment_id, p.account_id, p.amount, t.value_date, 'returned by the payer''s bank', t.transaction_id,
               t.file_id, ?
        FROM _pay_applied t JOIN payments p ON p.bank_ref = t.reference WHERE t.tx_type = 'return' ORDER BY 1""",
                    [base, sim.now])
    sim.con.execute("""UPDATE payments SET status = 'Returned' WHERE payment_id IN (
                           SELECT payment_id FROM payment_reversals
                           WHERE bank_ref IN (SELECT transaction_id FROM _pay_applied))""")
    sim.store.record_events("""
        SELECT created_at AS ts, 'payment' AS object_type, payment_id AS object_id, 'Payment Returned' AS activity,
               ? AS job, reversal_id || ' ' || amount::VARCHAR AS detail
        FROM payment_reversals WHERE bank_ref IN (SELECT transaction_id FROM _pay_applied)""", [sim.current_job])


def _record_payouts(sim) -> None:
    sim.con.execute("""
        UPDATE refunds SET status = 'Paid', paid_on = t.value_date, bank_ref = t.transaction_id
        FROM _pay_applied t WHERE t.tx_type = 'debit' AND refunds.refund_id = t.reference""")
    sim.store.record_events("""
        SELECT ?::TIMESTAMP AS ts, 'refund' AS object_type, refund_id AS object_id, 'Refund Paid' AS activity,
               ? AS job, account_id || ' ' || amount::VARCHAR AS detail
        FROM refunds WHERE bank_ref IN (SELECT transaction_id FROM _pay_applied)""", [sim.now, sim.current_job])


def refund_step(sim) -> int:
    """Refund every credit balance that has lasted long enough; returns refunds requested."""
    con = sim.con
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _pay_credits AS
        SELECT b.account_id, -b.balance AS amount, a.name AS payee
        FROM account_balances b JOIN accounts a USING (account_id)
        WHERE b.balance < 0
          AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.account_id = b.account_id AND r.status = 'Requested')
          AND (SELECT max(p.received_on) FROM payments p WHERE p.account_id = b.account_id) <= ?::DATE - ?::INTEGER""",
                [sim.today, sim.scenario["payments"]["refund_after_days"]])
    n = sim.store.scalar("SELECT count(*) FROM _pay_credits")
    if not n:
        return 0
    base = sim.store.allocate("refund", n)
    con.execute("""
        INSERT INTO refunds
        SELECT 'RFD-' || lpad((? + row_number() OVER (ORDER BY account_id))::VARCHAR, 8, '0'), account_id, amount,
               ?::DATE, 'Requested', NULL, NULL, NULL, ?
        FROM _pay_credits ORDER BY account_id""", [base, sim.today, sim.now])
    batch = f"RB-{sim.store.allocate('refund_batch', 1) + 1:07d}"
    instructions = [{"refundId": r, "accountId": a, "payee": p, "amount": str(m)} for r, a, p, m in con.execute(
        """SELECT r.refund_id, r.account_id, c.payee, r.amount FROM refunds r JOIN _pay_credits c USING (account_id)
           WHERE r.created_at = ? AND r.status = 'Requested' ORDER BY r.refund_id""", [sim.now]).fetchall()]
    [file_id] = write_outbound(sim, [OutboundFile(
        "payment-instruction", "bank", f"payment-instruction__bank__{batch}.json.enc",
        {"fileType": "payment-instruction", "batchId": batch, "createdAt": sim.now.strftime("%Y-%m-%dT%H:%M:%S"),
         "instructions": instructions}, len(instructions), batch)], "payment-instruction.schema.json")
    con.execute("UPDATE refunds SET instruction_file_id = ? WHERE created_at = ? AND status = 'Requested'",
                [file_id, sim.now])
    sim.store.record_events("""
        SELECT created_at AS ts, 'refund' AS object_type, refund_id AS object_id, 'Refund Requested' AS activity,
               ? AS job, account_id || ' ' || amount::VARCHAR AS detail FROM refunds WHERE created_at = ?""",
                            [sim.current_job, sim.now])
    return n
