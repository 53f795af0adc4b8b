"""Tables of invoice posting (seed 002): what CMP posted, and what the ledgers booked.

CMP's side: every financial document (invoice, payment, payment reversal, refund, refund payout)
becomes one posting record per ledger (`postings`, with the journal lines of a G/L record in
`posting_lines`), gathered in a posting batch that the extract daemons write as S/L and G/L files.
The ledger system's side (the simulated accounting system behind the adaptor, `acct_*` tables):
the books themselves, `sl_entries` and `gl_entries`, filled only from the files it receives.
"""

DDL = """
CREATE TABLE IF NOT EXISTS gl_accounts (
    gl_account VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, account_type VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS posting_rules (
    rule VARCHAR NOT NULL, product_class VARCHAR, gl_account VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS posting_batches (
    batch_id VARCHAR, kind VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL, job VARCHAR NOT NULL,
    sl_records INTEGER NOT NULL, gl_records INTEGER NOT NULL, sl_file_id VARCHAR, gl_file_id VARCHAR);
CREATE TABLE IF NOT EXISTS postings (
    posting_id VARCHAR, ledger VARCHAR NOT NULL, doc_type VARCHAR NOT NULL, doc_id VARCHAR NOT NULL,
    account_id VARCHAR NOT NULL, posting_date DATE NOT NULL, period VARCHAR NOT NULL,
    amount DECIMAL(18,2) NOT NULL, description VARCHAR NOT NULL, batch_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL, attempts INTEGER NOT NULL, reject_code VARCHAR, reason VARCHAR,
    created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS posting_lines (
    posting_id VARCHAR NOT NULL, line_no INTEGER NOT NULL, gl_account VARCHAR NOT NULL,
    debit DECIMAL(18,2) NOT NULL, credit DECIMAL(18,2) NOT NULL, description VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS posting_attempts (
    posting_id VARCHAR NOT NULL, attempt INTEGER NOT NULL, batch_id VARCHAR NOT NULL, file_id VARCHAR,
    posting_date DATE NOT NULL, outcome VARCHAR, reason VARCHAR, answered_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS posting_responses (
    file_id VARCHAR NOT NULL, source_file VARCHAR NOT NULL, posting_id VARCHAR NOT NULL, outcome VARCHAR NOT NULL,
    code VARCHAR, message VARCHAR, processed_at TIMESTAMP NOT NULL, applied VARCHAR);
CREATE TABLE IF NOT EXISTS transmission_holds (
    file_name VARCHAR NOT NULL, fault_no INTEGER NOT NULL, held_at TIMESTAMP NOT NULL, until TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS sl_entries (
    entry_id BIGINT, account_id VARCHAR NOT NULL, doc_type VARCHAR NOT NULL, doc_id VARCHAR NOT NULL,
    posting_id VARCHAR NOT NULL, posting_date DATE NOT NULL, period VARCHAR NOT NULL,
    posted_at TIMESTAMP NOT NULL, amount DECIMAL(18,2) NOT NULL, description VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS gl_journals (
    journal_id VARCHAR, posting_id VARCHAR NOT NULL, doc_type VARCHAR NOT NULL, doc_id VARCHAR NOT NULL,
    account_id VARCHAR NOT NULL, posting_date DATE NOT NULL, period VARCHAR NOT NULL, posted_at TIMESTAMP NOT NULL,
    lines INTEGER NOT NULL, total_debit DECIMAL(18,2) NOT NULL, total_credit DECIMAL(18,2) NOT NULL,
    source_file VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS gl_entries (
    journal_id VARCHAR NOT NULL, line_no INTEGER NOT NULL, gl_account VARCHAR NOT NULL, doc_type VARCHAR NOT NULL,
    doc_id VARCHAR NOT NULL, account_id VARCHAR NOT NULL, posting_date DATE NOT NULL, period VARCHAR NOT NULL,
    posted_at TIMESTAMP NOT NULL, debit DECIMAL(18,2) NOT NULL, credit DECIMAL(18,2) NOT NULL,
    description VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS acct_files (
    file_name VARCHAR NOT NULL, ledger VARCHAR NOT NULL, sha256 VARCHAR NOT NULL, received_at TIMESTAMP NOT NULL,
    status VARCHAR NOT NULL, records INTEGER, accepted INTEGER, rejected INTEGER, reason VARCHAR);
-- Every financial document CMP posts, with its effect on the customer's account (null: none).
CREATE OR REPLACE VIEW financial_documents AS
    SELECT 'invoice' AS doc_type, invoice_id AS doc_id, account_id, invoice_date AS posting_date,
           gross_amount AS sl_amount, gross_amount AS amount, 'Invoice ' || invoice_id AS description,
           produced_at AS created_at FROM invoices
    UNION ALL SELECT 'payment', payment_id, account_id, received_on, -amount, amount, 'Payment ' || bank_ref, created_at
              FROM payments
    UNION ALL SELECT 'payment_reversal', reversal_id, account_id, returned_on, amount, amount,
                     'Payment ' || payment_id || ' returned', created_at FROM payment_reversals
    UNION ALL SELECT 'refund', refund_id, account_id, requested_on, amount, amount, 'Refund ' || refund_id, created_at
              FROM refunds
    UNION ALL SELECT 'refund_payout', refund_id, account_id, paid_on, NULL, amount,
                     'Refund ' || refund_id || ' paid out', created_at FROM refunds WHERE status = 'Paid';
CREATE OR REPLACE VIEW sl_balances AS
    SELECT account_id, sum(amount)::DECIMAL(18,2) AS balance, count(*) AS entries, max(posted_at) AS last_posted_at
    FROM sl_entries GROUP BY account_id;
CREATE OR REPLACE VIEW trial_balance AS
    SELECT e.gl_account, a.name, a.account_type, sum(e.debit)::DECIMAL(18,2) AS debit,
           sum(e.credit)::DECIMAL(18,2) AS credit, (sum(e.debit) - sum(e.credit))::DECIMAL(18,2) AS balance
    FROM gl_entries e LEFT JOIN gl_accounts a USING (gl_account) GROUP BY ALL;
"""
