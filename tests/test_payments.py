"""Payments and refunds on a real run: customers pay through their bank, the bank's statement file
is applied once, returned payments are reversed, a credit is refunded through the bank, and every
document reaches both ledgers."""

from __future__ import annotations

import json

from cmpsim.billing.payments import load_payments_step, payment_allocation_step
from cmpsim.engine import Step
from cmpsim.files import decrypt, deliver_inbound
from cmpsim.validation import first_problem
from conftest import live_copy


def test_customers_pay_their_invoices_through_the_bank(billing_run):
    paid = billing_run.sql("""
        SELECT p.payment_id, p.account_id, i.account_id AS invoice_account, p.amount, i.gross_amount, p.received_on,
               c.pay_on, c.again_on, c.behaviour, i.due_date
        FROM payments p JOIN invoices i USING (invoice_id) JOIN cust_bills c USING (invoice_id)""").rows(named=True)
    assert len(paid) > 80
    for p in paid:
        assert p["account_id"] == p["invoice_account"] and p["amount"] == p["gross_amount"]
        assert p["received_on"] in (p["pay_on"], p["again_on"])
    assert any(p["received_on"] > p["due_date"] for p in paid if p["behaviour"] == "late")
    never = billing_run.sql("""SELECT count(*) AS n FROM cust_bills c JOIN payments p USING (invoice_id)
                               WHERE c.behaviour = 'never'""")
    assert never["n"][0] == 0
    unapplied = billing_run.sql("SELECT count(*) AS n FROM bank_transactions WHERE applied IS DISTINCT FROM 'applied'")
    assert unapplied["n"][0] == 0


def test_a_returned_payment_is_reversed_in_both_ledgers(billing_run):
    returned = billing_run.sql("""
        SELECT p.payment_id, p.account_id, p.amount, r.reversal_id, r.amount AS reversed, p.status
        FROM payments p JOIN payment_reversals r USING (payment_id)""").rows(named=True)
    assert len(returned) >= 3
    for r in returned:
        assert r["status"] == "Returned" and r["reversed"] == r["amount"]
        sl = billing_run.sql("SELECT doc_id, amount FROM sl_entries WHERE doc_id IN (?, ?) ORDER BY doc_id",
                             [r["payment_id"], r["reversal_id"]]).rows()
        assert sl == [(r["payment_id"], -r["amount"]), (r["reversal_id"], r["amount"])]
    assert billing_run.sql("SELECT count(*) AS n FROM payments WHERE status = 'Returned' AND payment_id NOT IN "
                           "(SELECT payment_id FROM payment_reversals)")["n"][0] == 0


def test_a_credit_is_refunded_through_the_bank(billing_run):
    refunds = billing_run.sql("""
        SELECT f.*, (SELECT max(p.received_on) FROM payments p WHERE p.account_id = f.account_id
                     AND p.created_at <= f.created_at) AS last_paid
        FROM refunds f ORDER BY refund_id""").rows(named=True)
    assert len(refunds) >= 3
    for f in refunds:
        assert (f["requested_on"] - f["last_paid"]).days >= 5  # payments.refund_after_days
        assert f["status"] == "Paid" and f["bank_ref"] == f"DB-{f['refund_id']}" and f["paid_on"] > f["requested_on"]
    files = billing_run.sql("SELECT path FROM generic_files WHERE kind = 'payment-instruction'")["path"]
    instructed = []
    for path in files:
        document = json.loads(decrypt(billing_run.scenario.key(), "payment-instruction",
                                      (billing_run.run_dir / path).read_bytes()))
        assert first_problem("payment-instruction.schema.json", document) is None
        instructed += [(i["refundId"], i["amount"]) for i in document["instructions"]]
    assert sorted(instructed) == sorted((f["refund_id"], str(f["amount"])) for f in refunds)
    # Refunds payable (2300) is cleared by each payout: nothing is left owed once all are paid.
    owed = billing_run.sql("SELECT sum(credit) - sum(debit) AS b FROM gl_entries WHERE gl_account = '2300'")["b"][0]
    assert owed == 0


def test_a_bank_transaction_is_applied_once_and_an_unknown_reference_is_kept_aside(billing_run, tmp_path):
    sim = live_copy(billing_run, tmp_path / "copy", "2026-02-11T22:00:00")
    tx_id, invoice, account, amount = sim.con.execute(
        """SELECT transaction_id, reference, account_id, amount::VARCHAR FROM bank_transactions
           WHERE tx_type = 'credit' ORDER BY transaction_id LIMIT 1""").fetchall()[0]
    sim.current_job = "Bank"
    deliver_inbound(sim, "bank-statement", "bank", "bank-statement__bank__again.json.enc", {
        "fileType": "bank-statement", "bank": "bank", "statementDate": "2026-02-10",
        "createdAt": "2026-02-11T21:00:00", "transactions": [
            {"transactionId": tx_id, "type": "credit", "reference": invoice, "accountId": account, "amount": amount,
             "valueDate": "2026-02-10"},
            {"transactionId": "CR-INV-99999999", "type": "credit", "reference": "INV-99999999",
             "accountId": account, "amount": "10.00", "valueDate": "2026-02-10"}]})
    payments = sim.store.scalar("SELECT count(*) FROM payments")
    assert sim.execute(Step("Load Payments From Generic Format", "daemon", None, load_payments_step)) == 1
    assert sim.execute(Step("Payment Allocation", "job", None, payment_allocation_step)) == 2
    verdicts = sim.store.frame("""SELECT transaction_id, applied FROM bank_transactions
                                  WHERE file_id = (SELECT max(file_id) FROM bank_transactions)
                                  ORDER BY transaction_id""").rows()
    assert sorted(verdicts) == sorted([("CR-INV-99999999", "ignored: unknown invoice"),
                                       (tx_id, "ignored: transaction already applied")])
    assert sim.store.scalar("SELECT count(*) FROM payments") == payments
    sim.store.close()
