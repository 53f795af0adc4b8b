"""TMF678 out: every invoice as a CustomerBill, every invoice line as an AppliedCustomerBillingRate.

Both documents are built in one query each over the whole table (cmpsim.exchange.jsontext), with
amounts written from DECIMAL(18,2) exactly. The mapping (docs/exchange.md):
- `runType` onCycle for cycle invoices, offCycle for invoices billed at once;
- `state` settled (paid), partiallyPaid, sent (on a statement or rendered), else new;
- `amountDue` the gross amount, `remainingAmount` what is still outstanding, `appliedPayment` the
  payments naming the invoice that were not returned;
- `taxItem` one per tax rate; `taxRate` is a fraction (0.2), as in the TMF678 CustomerBill sample;
- a rate's `appliedBillingRateType` recurringCharge, usageCharge, oneTimeCharge (one-off service
  and hardware charges) or appliedBillingCredit (discounts).
"""

from __future__ import annotations

from cmpsim.exchange.jsontext import array, json_str, moment, money, obj

API = "/tmf-api/customerBillManagement/v4"
ACCOUNT_API = "/tmf-api/accountManagement/v4/billingAccount/"
INVENTORY_API = "/tmf-api/productInventoryManagement/v4/product/"


def _account_ref(account_sql: str, name_sql: str) -> str:
    return obj(("id", json_str(account_sql)), ("href", json_str(f"'{ACCOUNT_API}' || {account_sql}")),
               ("name", json_str(name_sql)), ("@referredType", json_str("'BillingAccount'")))


def _bill_ref(invoice_sql: str) -> str:
    return obj(("id", json_str(invoice_sql)), ("href", json_str(f"'{API}/customerBill/' || {invoice_sql}")),
               ("@referredType", json_str("'CustomerBill'")))


def _tax(rate_sql: str, amount_sql: str, currency_sql: str) -> str:
    return obj(("taxCategory", json_str("'VAT'")), ("taxRate", f"to_json({rate_sql})"),
               ("taxAmount", money(amount_sql, currency_sql)))


def customer_bills_sql() -> str:
    """One CustomerBill (JSON text) per invoice, ordered by invoice id."""
    state = """CASE s.status WHEN 'Paid' THEN 'settled' WHEN 'Part Paid' THEN 'partiallyPaid'
                   ELSE CASE WHEN i.statement_id IS NOT NULL OR i.print_status = 'Rendered' THEN 'sent' ELSE 'new' END
               END"""
    period = f"""CASE WHEN i.period_start IS NOT NULL THEN
                 {obj(("startDateTime", moment("i.period_start")), ("endDateTime", moment("i.period_end")))} END"""
    return f"""
        WITH taxes AS (
            SELECT l.invoice_id, {array(_tax("l.tax_rate", "l.tax_amount", "i.currency"), "l.tax_rate")} AS items
            FROM (SELECT invoice_id, tax_rate, sum(tax_amount)::DECIMAL(18,2) AS tax_amount
                  FROM invoice_lines GROUP BY ALL) l JOIN invoices i USING (invoice_id)
            GROUP BY l.invoice_id),
        paid AS (
            SELECT p.invoice_id, max(p.created_at) AS last_at, {array(obj(
                ("appliedAmount", money("p.amount", "i.currency")),
                ("payment", obj(("id", json_str("p.payment_id")),
                                ("href", json_str("'/tmf-api/paymentManagement/v4/payment/' || p.payment_id")),
                                ("@referredType", json_str("'Payment'")))),
                ("@type", json_str("'AppliedPayment'"))), "p.payment_id")} AS items
            FROM payments p JOIN invoices i USING (invoice_id) WHERE p.status <> 'Returned' GROUP BY p.invoice_id),
        documents AS (
            SELECT i.invoice_id, {array(obj(
                ("id", json_str("d.document_id")), ("attachmentType", json_str("'bill'")),
                ("mimeType", json_str("'application/pdf'")), ("name", json_str("d.path")),
                ("size", obj(("amount", "d.bytes::VARCHAR"), ("units", json_str("'bytes'")))),
                ("@type", json_str("'AttachmentRefOrValue'"))), "d.document_id")} AS items
            FROM invoices i JOIN bill_documents d
              ON (d.doc_type = 'invoice' AND d.doc_id = i.invoice_id)
              OR (d.doc_type = 'bill' AND d.doc_id = i.statement_id)
            GROUP BY i.invoice_id)
        SELECT {obj(
            ("id", json_str("i.invoice_id")),
            ("href", json_str(f"'{API}/customerBill/' || i.invoice_id")),
            ("billNo", json_str("i.invoice_id")),
            ("billDate", moment("i.invoice_date")),
            ("category", json_str("'normal'")),
            ("lastUpdate", moment("greatest(i.produced_at, i.posted_at, paid.last_at)")),
            ("nextBillDate", moment("CASE WHEN i.invoice_type = 'cycle' THEN i.invoice_date + INTERVAL 1 MONTH END")),
            ("paymentDueDate", moment("i.due_date")),
            ("amountDue", money("i.gross_amount", "i.currency")),
            ("appliedPayment", "coalesce(paid.items, '[]')"),
            ("billDocument", "documents.items"),
            ("billingAccount", _account_ref("i.account_id", "a.name")),
            ("billingPeriod", period),
            ("remainingAmount", money("s.outstanding", "i.currency")),
            ("runType", json_str("CASE i.invoice_type WHEN 'cycle' THEN 'onCycle' ELSE 'offCycle' END")),
            ("state", json_str(state)),
            ("taxExcludedAmount", money("i.net_amount", "i.currency")),
            ("taxIncludedAmount", money("i.gross_amount", "i.currency")),
            ("taxItem", "coalesce(taxes.items, '[]')"),
            ("@type", json_str("'CustomerBill'")))}
        FROM invoices i JOIN invoice_status s USING (invoice_id) LEFT JOIN accounts a ON a.account_id = i.account_id
             LEFT JOIN taxes USING (invoice_id) LEFT JOIN paid USING (invoice_id)
             LEFT JOIN documents USING (invoice_id)
        ORDER BY i.invoice_id"""


def applied_billing_rates_sql() -> str:
    """One AppliedCustomerBillingRate (JSON text) per invoice line, ordered by invoice and line."""
    kind = """CASE l.line_type WHEN 'recurring' THEN 'recurringCharge' WHEN 'usage' THEN 'usageCharge'
                               WHEN 'discount' THEN 'appliedBillingCredit' ELSE 'oneTimeCharge' END"""
    # The product instance a line bills: the asset of a recurring or usage line (or of the line a
    # discount reduces); hardware and one-off lines bill a charge, not an installed product.
    asset = """CASE WHEN l.line_type IN ('recurring', 'usage') THEN l.source_id
                    WHEN l.line_type = 'discount' AND l.source_id LIKE '%:AS-%' THEN split_part(l.source_id, ':', 2)
               END"""
    product = f"""CASE WHEN ({asset}) IS NOT NULL THEN {obj(
        ("id", json_str(asset)), ("href", json_str(f"'{INVENTORY_API}' || {asset}")),
        ("name", json_str("coalesce(sp.name, hp.name, l.product_id)")),
        ("@referredType", json_str("'Product'")))} END"""
    coverage = f"""CASE WHEN l.period_from IS NOT NULL THEN
                   {obj(("startDateTime", moment("l.period_from")), ("endDateTime", moment("l.period_to")))} END"""
    characteristic = "'[' || concat_ws(',', " + ", ".join(
        obj(("name", json_str(f"'{name}'")), ("valueType", json_str(f"'{vtype}'")), ("value", value))
        for name, vtype, value in (("lineType", "string", json_str("l.line_type")),
                                   ("productOffering", "string", json_str("l.product_id")),
                                   ("quantity", "number", "l.quantity::VARCHAR"),
                                   ("source", "string", json_str("l.source_id")))) + ") || ']'"
    return f"""
        SELECT {obj(
            ("id", json_str("l.invoice_id || '-' || l.line_no")),
            ("href", json_str(f"'{API}/appliedCustomerBillingRate/' || l.invoice_id || '-' || l.line_no")),
            ("appliedBillingRateType", json_str(kind)),
            ("date", moment("i.produced_at")),
            ("description", json_str("l.description")),
            ("isBilled", "'true'"),
            ("name", json_str("coalesce(sp.name, hp.name, l.description)")),
            ("appliedTax", "'[' || " + _tax("l.tax_rate", "l.tax_amount", "i.currency") + " || ']'"),
            ("bill", _bill_ref("l.invoice_id")),
            ("billingAccount", _account_ref("i.account_id", "a.name")),
            ("characteristic", characteristic),
            ("periodCoverage", coverage),
            ("product", product),
            ("taxExcludedAmount", money("l.net_amount", "i.currency")),
            ("taxIncludedAmount", money("l.gross_amount", "i.currency")),
            ("@type", json_str("'AppliedCustomerBillingRate'")))}
        FROM invoice_lines l JOIN invoices i USING (invoice_id) LEFT JOIN accounts a ON a.account_id = i.account_id
             LEFT JOIN service_products sp ON sp.product_id = l.product_id
             LEFT JOIN products hp ON hp.product_id = l.product_id
        ORDER BY l.invoice_id, l.line_no"""
