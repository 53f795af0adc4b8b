"""Why a break happened, when the run knows: the injected fault, the refused record, the lost file.

A break's document is followed through CMP's side: its postings (one per ledger), each attempt to
post them and the file that carried it (`posting_attempts`, `generic_files`), and the faults the
scenario injected on those files, on those records, or on the Invoice Posting job that day
(`faults_injected`). A fault explains a break when its kind can cause that type of break:

    missing in GL / SL / both   a file lost or held, a record refused, a crash between the two ledgers
    duplicate posting           a file sent twice
    wrong GL account            a receivables line posted to another account
    amount mismatch             a record posted with a wrong amount
    different periods           a file held past the period end (then refused, re-posted in the next)

Without a fault, what CMP knows still says something: a record refused by the ledger system (its
code and message), or posted and not booked yet (in transit).
"""

from __future__ import annotations

CAUSING = """
    SELECT * FROM (VALUES ('missing in GL', 'lose'), ('missing in GL', 'delay'), ('missing in GL', 'reject'),
                          ('missing in GL', 'crash_job'), ('missing in SL', 'lose'), ('missing in SL', 'delay'),
                          ('missing in SL', 'reject'), ('missing in SL', 'crash_job'),
                          ('missing in both', 'lose'), ('missing in both', 'delay'), ('missing in both', 'reject'),
                          ('missing in both', 'crash_job'), ('duplicate posting', 'duplicate'),
                          ('wrong GL account', 'wrong_account'), ('amount mismatch', 'wrong_amount'),
                          ('different periods', 'delay'), ('different periods', 'reject')) t(break_type, kind)"""

# Which ledger's records a break type is about (NULL: either).
MISSING_LEDGER = "CASE b.break_type WHEN 'missing in GL' THEN 'GL' WHEN 'missing in SL' THEN 'SL' END"

FAULT_TEXT = """CASE f.kind
    WHEN 'lose' THEN h.ledger || ' file ' || h.file_name || ' lost in transmission'
    WHEN 'duplicate' THEN h.ledger || ' file ' || h.file_name || ' sent twice (re-extracted)'
    WHEN 'delay' THEN h.ledger || ' file ' || h.file_name || ' ' || f.detail
    WHEN 'reject' THEN h.ledger || ' record ' || h.posting_id || ' refused by the ledger system'
    WHEN 'wrong_amount' THEN f.detail
    WHEN 'wrong_account' THEN f.detail
    WHEN 'crash_job' THEN f.file_name || ' crashed half-way: S/L posted, G/L left for the next run' END
    || ' (' || strftime(f.injected_at, '%Y-%m-%d %H:%M') || ', fault ' || f.fault_no || ')'"""


def add_causes(con) -> None:
    """Add `cause` and `faults` (the scenario fault numbers) to `_rc_breaks`."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _rc_hits AS
        WITH carried AS (
            SELECT p.doc_type, p.doc_id, p.ledger, p.posting_id, p.created_at, a.attempt, a.outcome, a.reason,
                   a.posting_date, g.name AS file_name
            FROM postings p JOIN (SELECT DISTINCT doc_type, doc_id FROM _rc_breaks) USING (doc_type, doc_id)
                 JOIN posting_attempts a USING (posting_id) LEFT JOIN generic_files g ON g.file_id = a.file_id),
        on_files AS (
            SELECT c.*, f.fault_no FROM carried c JOIN faults_injected f
                ON f.file_name = c.file_name AND f.kind IN ('lose', 'duplicate', 'delay')
            UNION ALL
            SELECT c.*, f.fault_no FROM carried c JOIN faults_injected f
                ON f.file_name = c.posting_id AND f.kind IN ('reject', 'wrong_amount', 'wrong_account')
            UNION ALL
            SELECT c.*, f.fault_no FROM carried c JOIN faults_injected f
                ON f.kind = 'crash_job' AND f.file_name = 'Invoice Posting' AND c.ledger = 'GL' AND c.attempt = 1
               AND c.created_at > f.injected_at
               AND EXISTS (SELECT 1 FROM postings s WHERE s.ledger = 'SL' AND s.doc_type = c.doc_type
                           AND s.doc_id = c.doc_id AND s.created_at = f.injected_at))
        SELECT DISTINCT b.doc_type, b.doc_id, b.break_type, f.fault_no, f.injected_at, {FAULT_TEXT} AS text
        FROM _rc_breaks b JOIN on_files h USING (doc_type, doc_id)
             JOIN faults_injected f ON f.fault_no = h.fault_no
             JOIN ({CAUSING}) k ON k.break_type = b.break_type AND k.kind = f.kind
        WHERE h.ledger = coalesce({MISSING_LEDGER}, h.ledger)""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _rc_known AS
        SELECT p.doc_type, p.doc_id,
               string_agg(p.ledger || ' record ' || p.posting_id || CASE p.status
                   WHEN 'Rejected' THEN ' refused by the ledger system: ' || p.reject_code || ': ' || p.reason
                   ELSE ' posted, not booked (' || lower(p.status) || ')' END, '; ' ORDER BY p.ledger) AS text
        FROM postings p JOIN _rc_breaks b USING (doc_type, doc_id)
        WHERE p.status <> 'Accepted' GROUP BY ALL""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _rc_reposts AS
        SELECT p.doc_type, p.doc_id,
               string_agg(p.ledger || ' record refused ' || split_part(a.reason, ':', 1) || ', re-posted dated '
                          || strftime(n.posting_date, '%Y-%m-%d'), '; ' ORDER BY p.ledger, a.attempt) AS text
        FROM postings p JOIN (SELECT DISTINCT doc_type, doc_id FROM _rc_breaks
                              WHERE break_type = 'different periods') USING (doc_type, doc_id)
             JOIN posting_attempts a ON a.posting_id = p.posting_id AND a.outcome = 'rejected'
             JOIN posting_attempts n ON n.posting_id = p.posting_id AND n.attempt = a.attempt + 1
        GROUP BY ALL""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _rc_breaks AS
        SELECT b.* EXCLUDE (cause, faults), nullif(concat_ws('; ', b.cause, CASE WHEN b.break_type = 'different periods'
                                                                           THEN r.text END), '') AS cause, b.faults
        FROM (SELECT b.*, coalesce(h.text, k.text) AS cause, coalesce(h.faults, []) AS faults
              FROM _rc_breaks b
        LEFT JOIN (SELECT doc_type, doc_id, break_type, string_agg(text, '; ' ORDER BY injected_at, fault_no) AS text,
                          list(DISTINCT fault_no ORDER BY fault_no) AS faults
                   FROM _rc_hits GROUP BY ALL) h USING (doc_type, doc_id, break_type)
        LEFT JOIN _rc_known k USING (doc_type, doc_id)) b
        LEFT JOIN _rc_reposts r USING (doc_type, doc_id)""")


TRAIL = """
    WITH keys AS (
        SELECT ? AS object_id
        UNION SELECT posting_id FROM postings WHERE doc_type = ? AND doc_id = ?
        UNION SELECT a.file_id FROM postings p JOIN posting_attempts a USING (posting_id)
              WHERE p.doc_type = ? AND p.doc_id = ? AND a.file_id IS NOT NULL)
    SELECT ts, object_type, object_id, activity, job, detail FROM events WHERE object_id IN (SELECT object_id FROM keys)
    UNION ALL
    SELECT posted_at, 'sl_entry', entry_id::VARCHAR, 'Booked In Sales Ledger', 'Ledger System',
           posting_id || ' ' || amount::VARCHAR || ' period ' || period || ' from ' || source_file
    FROM sl_entries WHERE doc_type = ? AND doc_id = ?
    UNION ALL
    SELECT posted_at, 'gl_journal', journal_id, 'Booked In General Ledger', 'Ledger System',
           posting_id || ' ' || total_debit::VARCHAR || ' period ' || period || ' from ' || source_file
    FROM gl_journals WHERE doc_type = ? AND doc_id = ?
    UNION ALL
    SELECT f.injected_at, 'fault', f.fault_no::VARCHAR, 'Fault Injected: ' || f.kind, 'scenario', f.detail
    FROM faults_injected f
    WHERE f.file_name IN (SELECT p.posting_id FROM postings p WHERE p.doc_type = ? AND p.doc_id = ?)
       OR f.file_name IN (SELECT g.name FROM postings p JOIN posting_attempts a USING (posting_id)
                          JOIN generic_files g ON g.file_id = a.file_id WHERE p.doc_type = ? AND p.doc_id = ?)
    ORDER BY 1, 2, 3"""
