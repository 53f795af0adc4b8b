"""Tables of the billing run (seed 002), payments and the simulated customers and bank.

Money is DECIMAL(18,2) everywhere; a line's tax is rounded half away from zero from its own net.
`cust_*` and `bank_*` tables hold the state of the simulated customers and their bank: outside
parties that meet CMP only through what CMP shows a customer (the bill) and through files.
"""

DDL = """
-- Pro-rating: amount * num / den rounded half away from zero to the cent, in exact integer cents.
CREATE OR REPLACE MACRO prorate(amount, num, den) AS
    ((((amount::DECIMAL(18,2) * 100)::HUGEINT * num * 2 + den) // (2 * den))::DECIMAL(18,0)
     * 0.01::DECIMAL(3,2))::DECIMAL(18,2);
CREATE TABLE IF NOT EXISTS bill_cycles (
    account_id VARCHAR NOT NULL, period_start DATE NOT NULL, period_end DATE NOT NULL,
    invoice_id VARCHAR, statement_id VARCHAR, stage VARCHAR NOT NULL, billed_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS invoices (
    invoice_id VARCHAR, account_id VARCHAR NOT NULL, invoice_type VARCHAR NOT NULL,
    invoice_date DATE NOT NULL, period_start DATE, period_end DATE, due_date DATE NOT NULL,
    currency VARCHAR NOT NULL, lines INTEGER NOT NULL, net_amount DECIMAL(18,2) NOT NULL,
    tax_amount DECIMAL(18,2) NOT NULL, gross_amount DECIMAL(18,2) NOT NULL, status VARCHAR NOT NULL,
    produced_at TIMESTAMP NOT NULL, statement_id VARCHAR, posted_at TIMESTAMP, print_status VARCHAR);
CREATE TABLE IF NOT EXISTS invoice_lines (
    invoice_id VARCHAR NOT NULL, line_no INTEGER NOT NULL, line_type VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL, description VARCHAR NOT NULL, product_id VARCHAR,
    product_class VARCHAR NOT NULL, quantity DECIMAL(18,3) NOT NULL, period_from DATE, period_to DATE,
    days INTEGER, period_days INTEGER, net_amount DECIMAL(18,2) NOT NULL, tax_rate DECIMAL(6,4) NOT NULL,
    tax_amount DECIMAL(18,2) NOT NULL, gross_amount DECIMAL(18,2) NOT NULL);
CREATE TABLE IF NOT EXISTS account_discounts (
    account_id VARCHAR NOT NULL, discount_id VARCHAR NOT NULL, description VARCHAR NOT NULL,
    percent DECIMAL(5,2) NOT NULL, line_types VARCHAR[] NOT NULL, products VARCHAR[]);
CREATE TABLE IF NOT EXISTS usage_records (
    usage_id VARCHAR, asset_id VARCHAR NOT NULL, account_id VARCHAR NOT NULL, product_id VARCHAR NOT NULL,
    usage_date DATE NOT NULL, units DECIMAL(18,3) NOT NULL, unit VARCHAR NOT NULL, rate DECIMAL(18,4) NOT NULL,
    amount DECIMAL(18,2) NOT NULL, rated_at TIMESTAMP NOT NULL, invoice_id VARCHAR);
CREATE TABLE IF NOT EXISTS usage_archives (
    file VARCHAR NOT NULL, archived_at TIMESTAMP NOT NULL, usage_from DATE NOT NULL, usage_to DATE NOT NULL,
    records BIGINT NOT NULL, amount DECIMAL(18,2) NOT NULL);
CREATE TABLE IF NOT EXISTS statements (
    statement_id VARCHAR, account_id VARCHAR NOT NULL, statement_date DATE NOT NULL,
    previous_balance DECIMAL(18,2) NOT NULL, invoiced DECIMAL(18,2) NOT NULL, paid DECIMAL(18,2) NOT NULL,
    adjustments DECIMAL(18,2) NOT NULL, new_balance DECIMAL(18,2) NOT NULL, items INTEGER NOT NULL,
    due_date DATE NOT NULL, produced_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS statement_items (
    statement_id VARCHAR NOT NULL, item_no INTEGER NOT NULL, doc_type VARCHAR NOT NULL, doc_id VARCHAR NOT NULL,
    doc_date DATE NOT NULL, description VARCHAR NOT NULL, amount DECIMAL(18,2) NOT NULL);
CREATE TABLE IF NOT EXISTS bill_documents (
    document_id VARCHAR, doc_type VARCHAR NOT NULL, doc_id VARCHAR NOT NULL, account_id VARCHAR NOT NULL,
    path VARCHAR NOT NULL, sha256 VARCHAR NOT NULL, bytes BIGINT NOT NULL, rendered_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS payments (
    payment_id VARCHAR, account_id VARCHAR NOT NULL, invoice_id VARCHAR, amount DECIMAL(18,2) NOT NULL,
    received_on DATE NOT NULL, bank_ref VARCHAR NOT NULL, file_id VARCHAR NOT NULL, status VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS payment_reversals (
    reversal_id VARCHAR, payment_id VARCHAR NOT NULL, account_id VARCHAR NOT NULL,
    amount DECIMAL(18,2) NOT NULL, returned_on DATE NOT NULL, reason VARCHAR NOT NULL, bank_ref VARCHAR NOT NULL,
    file_id VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS refunds (
    refund_id VARCHAR, account_id VARCHAR NOT NULL, amount DECIMAL(18,2) NOT NULL, requested_on DATE NOT NULL,
    status VARCHAR NOT NULL, instruction_file_id VARCHAR, paid_on DATE, bank_ref VARCHAR,
    created_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS bank_transactions (
    file_id VARCHAR NOT NULL, transaction_id VARCHAR NOT NULL, tx_type VARCHAR NOT NULL, reference VARCHAR NOT NULL,
    account_id VARCHAR NOT NULL, amount DECIMAL(18,2) NOT NULL, value_date DATE NOT NULL, applied VARCHAR);
CREATE TABLE IF NOT EXISTS cust_bills (
    invoice_id VARCHAR NOT NULL, account_id VARCHAR NOT NULL, amount DECIMAL(18,2) NOT NULL,
    seen_at TIMESTAMP NOT NULL, behaviour VARCHAR NOT NULL, pay_on DATE, bounce_on DATE, again_on DATE);
CREATE TABLE IF NOT EXISTS bank_payouts (
    refund_id VARCHAR NOT NULL, account_id VARCHAR NOT NULL, amount DECIMAL(18,2) NOT NULL, pay_on DATE NOT NULL,
    file_name VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS bank_sent (
    transaction_id VARCHAR NOT NULL, tx_type VARCHAR NOT NULL, reference VARCHAR NOT NULL, account_id VARCHAR NOT NULL,
    amount DECIMAL(18,2) NOT NULL, value_date DATE NOT NULL, file_name VARCHAR NOT NULL);
-- Archived usage (Parquet files in the run folder, see cmpsim.billing.archiving) and all usage.
CREATE VIEW IF NOT EXISTS archived_usage AS SELECT * FROM usage_records WHERE false;
CREATE OR REPLACE VIEW usage_history AS SELECT * FROM usage_records UNION ALL SELECT * FROM archived_usage;
CREATE OR REPLACE VIEW account_activity AS
    SELECT account_id, 'invoice' AS doc_type, invoice_id AS doc_id, invoice_date AS doc_date,
           gross_amount AS amount, produced_at AS created_at FROM invoices
    UNION ALL SELECT account_id, 'payment', payment_id, received_on, -amount, created_at FROM payments
    UNION ALL SELECT account_id, 'payment_reversal', reversal_id, returned_on, amount, created_at
              FROM payment_reversals
    UNION ALL SELECT account_id, 'refund', refund_id, requested_on, amount, created_at FROM refunds;
CREATE OR REPLACE VIEW account_balances AS
    SELECT a.account_id, coalesce(sum(x.amount), 0)::DECIMAL(18,2) AS balance
    FROM accounts a LEFT JOIN account_activity x USING (account_id) GROUP BY a.account_id;
-- What every document about an invoice shows (the bill PDF, the bill-ready e-mail, SMS, push and
-- letter): one source, so no two documents can disagree. The period is given by its first and last
-- day billed, both included (an invoice's period_end is the day after its last day).
CREATE OR REPLACE VIEW invoice_documents AS
    SELECT invoice_id, account_id, statement_id, invoice_type, invoice_date, due_date, currency, net_amount,
           tax_amount, gross_amount, period_start AS period_first_day, (period_end - 1)::DATE AS period_last_day
    FROM invoices;
CREATE OR REPLACE VIEW invoice_status AS
    SELECT i.invoice_id, i.account_id, i.invoice_date, i.due_date, i.gross_amount,
           coalesce(p.paid, 0)::DECIMAL(18,2) AS paid,
           (i.gross_amount - coalesce(p.paid, 0))::DECIMAL(18,2) AS outstanding,
           CASE WHEN coalesce(p.paid, 0) >= i.gross_amount THEN 'Paid'
                WHEN coalesce(p.paid, 0) > 0 THEN 'Part Paid' ELSE 'Unpaid' END AS status
    FROM invoices i LEFT JOIN (
        SELECT p.invoice_id, sum(p.amount) FILTER (WHERE p.status <> 'Returned') AS paid
        FROM payments p GROUP BY p.invoice_id) p USING (invoice_id);
CREATE OR REPLACE VIEW billing_runs AS
    SELECT started_at::DATE AS run_date, min(started_at) AS started_at,
           count(*) FILTER (WHERE status = 'Completed') AS jobs_completed,
           min(job) FILTER (WHERE status = 'Failed') AS failed_job,
           CASE WHEN count(*) FILTER (WHERE status = 'Completed') = 5 THEN 'Completed' ELSE 'Incomplete' END AS status,
           sum(processed) FILTER (WHERE job = 'Invoice Production') AS invoices,
           sum(processed) FILTER (WHERE job = 'Invoice Posting') AS documents_posted
    FROM job_runs WHERE job IN ('Invoice Production', 'Statement Production', 'Bill Print', 'Invoice Posting',
                                'Usage Archiving')
    GROUP BY ALL;
"""
