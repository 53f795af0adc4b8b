"""Customers who pay their bills, and the bank that tells CMP: simulated outside parties.

Customers see their invoices (as they would on a bill or in the self-care portal) and decide, one
draw per invoice from the stream "payments.customers": some never pay, some pay late (after the
due date), the rest on time; some payments will bounce (the payer's bank returns them) and some
are made twice. The bank sends CMP one statement file a day with yesterday's transactions —
customers' payments (credits), returned payments, refunds it paid out on CMP's instruction — and
collects CMP's refund instructions. Neither party touches CMP's tables other than reading bills.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from cmpsim.files import collect_outbound, deliver_inbound
from cmpsim.randomness import draw


def customers_step(sim) -> int:
    """Customers decide how they will pay the invoices they received since yesterday."""
    bills = sim.store.frame("""
        SELECT invoice_id, account_id, gross_amount::VARCHAR AS amount, invoice_date, due_date
        FROM invoices i WHERE NOT EXISTS (SELECT 1 FROM cust_bills c WHERE c.invoice_id = i.invoice_id)
          AND i.produced_at <= ? ORDER BY invoice_id""", [sim.now])
    n = bills.height
    if n == 0:
        return 0
    spec, rng = sim.scenario["payments"], sim.rng("payments.customers")
    never = rng.random(n) < spec["never_rate"]
    late = ~never & (rng.random(n) < spec["late_rate"])
    bounce = ~never & (rng.random(n) < spec["bounce_rate"])
    twice = ~never & (rng.random(n) < spec["duplicate_rate"])
    on_time_days = np.ceil(draw(spec["on_time_days"], rng, n)).astype(np.int64)
    late_days = np.maximum(np.ceil(draw(spec["late_days"], rng, n)), 1).astype(np.int64)
    bounce_days = np.maximum(np.ceil(draw(spec["bounce_after_days"], rng, n)), 1).astype(np.int64)
    again_days = np.maximum(np.ceil(draw(spec["duplicate_after_days"], rng, n)), 1).astype(np.int64)
    nothing_due = (bills["amount"].cast(pl.Decimal(18, 2)) <= 0).to_numpy()
    today = pl.lit(sim.today)
    plans = bills.with_columns(
        behaviour=pl.Series(np.where(nothing_due, "nothing due", np.where(never, "never", np.where(late, "late",
                                                                                                  "on time")))),
        pay_on=pl.max_horizontal(today, pl.when(pl.Series(late)).then(
            pl.col("due_date") + pl.duration(days=pl.Series(late_days))).otherwise(pl.min_horizontal(
                "due_date", pl.col("invoice_date") + pl.duration(days=pl.Series(on_time_days))))))
    plans = plans.with_columns(
        pay_on=pl.when(pl.col("behaviour").is_in(["late", "on time"])).then("pay_on"),
        bounce_on=pl.when(pl.Series(bounce & ~nothing_due)).then(pl.col("pay_on") + pl.duration(
            days=pl.Series(bounce_days))),
        again_on=pl.when(pl.Series(twice & ~nothing_due)).then(pl.col("pay_on") + pl.duration(
            days=pl.Series(again_days))),
        seen_at=pl.lit(sim.now))
    sim.store.insert("cust_bills", plans.select("invoice_id", "account_id", "amount", "seen_at", "behaviour",
                                                "pay_on", "bounce_on", "again_on"))
    return n


def bank_step(sim) -> int:
    """The bank pays the refunds it was instructed to, and sends yesterday's statement to CMP."""
    _collect_instructions(sim)
    day = sim.today - dt.timedelta(days=1)
    sent_through = sim.store.allocate("bank.statement_through_day", 0)  # one statement a day, whatever reruns
    if day < sim.start.date() or day.toordinal() <= sent_through:
        return 0
    sim.store.allocate("bank.statement_through_day", day.toordinal() - sent_through)
    transactions = sim.store.frame("""
        SELECT 'CR-' || invoice_id AS transaction_id, 'credit' AS tx_type, invoice_id AS reference, account_id, amount
        FROM cust_bills WHERE pay_on = ?
        UNION ALL SELECT 'CR2-' || invoice_id, 'credit', invoice_id, account_id, amount FROM cust_bills
                  WHERE again_on = ?
        UNION ALL SELECT 'RT-' || invoice_id, 'return', 'CR-' || invoice_id, account_id, amount FROM cust_bills
                  WHERE bounce_on = ?
        UNION ALL SELECT 'DB-' || refund_id, 'debit', refund_id, account_id, amount FROM bank_payouts WHERE pay_on = ?
        ORDER BY 1""", [day] * 4)
    name = f"bank-statement__bank__{day:%Y%m%d}.json.enc"
    document = {
        "fileType": "bank-statement", "bank": "bank", "statementDate": day.isoformat(),
        "createdAt": sim.now.strftime("%Y-%m-%dT%H:%M:%S"),
        "transactions": [{"transactionId": t, "type": k, "reference": r, "accountId": a, "amount": str(m),
                          "valueDate": day.isoformat()} for t, k, r, a, m in transactions.rows()],
    }
    deliver_inbound(sim, "bank-statement", "bank", name, document)
    sim.store.insert("bank_sent", transactions.with_columns(value_date=pl.lit(day), file_name=pl.lit(name)))
    return max(transactions.height, 1)


def _collect_instructions(sim) -> None:
    rows = [(i["refundId"], i["accountId"], i["amount"], sim.today, name)
            for name, document in collect_outbound(sim, "payment-instruction", "bank")
            for i in document["instructions"]]
    if rows:
        sim.store.insert("bank_payouts", pl.DataFrame(
            rows, schema=["refund_id", "account_id", "amount", "pay_on", "file_name"], orient="row"))
