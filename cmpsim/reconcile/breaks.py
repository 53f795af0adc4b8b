"""Sales ledger against general ledger, in SQL over the whole books: control totals, the trial
balance, and every break at document level.

Both ledgers (and CMP's own postings) are read as one stream of rows and aggregated once per
document (doc_type, doc_id), with numbers only: on the S/L side its entries (count, amount, month);
on the G/L side its journals (count, the net of their lines on the receivables control account,
month, balance, whether an account is one the rules never use); on CMP's side whether it posted the
document to each ledger. Only documents that break leave the aggregation; their account, periods and
first booking are then read for them alone. The first rule that matches classifies a document:

1. unbalanced journal   the document's journal lines: debits differ from credits
2. duplicate posting    more than one entry (S/L) or journal (G/L) for the document
3. missing in GL        booked in the S/L, no journal
4. missing in SL        a journal that should have a sales-ledger entry (every document but a
                        refund paid out), no S/L entry
5. wrong GL account     a journal line on an account the posting rules never use for this kind of
                        document, or a document with an S/L entry whose journal has no receivables line
6. amount mismatch      S/L amount ≠ the journal's net on the receivables account
7. different periods    same amount, booked in different accounting periods (cut-off, timing)
8. missing in both      posted by CMP, booked in neither ledger (a document CMP posts to the G/L
                        only, a refund paid out, is "missing in GL" when its journal is)
"""

from __future__ import annotations

BREAK_TYPES = ("unbalanced journal", "duplicate posting", "missing in GL", "missing in SL", "wrong GL account",
               "amount mismatch", "different periods", "missing in both")

# The posting rules a journal of each document type may use (cmpsim.ledger.posting).
ALLOWED_RULES = {"invoice": ("receivables", "revenue", "discounts", "tax_payable"), "payment": ("bank", "receivables"),
                 "payment_reversal": ("receivables", "bank"), "refund": ("receivables", "refunds"),
                 "refund_payout": ("refunds", "bank")}


def _before(cutoff: str | None, column: str) -> str:
    return f"{column} < TIMESTAMP '{cutoff}'" if cutoff else "true"


def _allowed_case(con) -> str:
    """SQL: the accounts the posting rules allow for the row's doc_type, as a list literal per type."""
    rules: dict[str, list[str]] = {}
    for rule, account in con.execute("SELECT rule, gl_account FROM posting_rules ORDER BY 1, 2").fetchall():
        rules.setdefault(rule, []).append(account)
    branches = " ".join(
        f"WHEN '{doc_type}' THEN {sorted({a for r in allowed for a in rules.get(r, [])})!r}"
        for doc_type, allowed in ALLOWED_RULES.items())
    return f"CASE doc_type {branches} ELSE [] END"


# Counts per document travel packed in one UBIGINT, 15 bits a field (a document with 32,768 entries
# or more would spill into the next field), so that the one aggregation over tens of millions of
# rows sums three numbers per document rather than ten.
FIELD_BITS, FIELD_MASK = 15, 32767
SL_ENTRIES, JOURNALS, RECEIVABLE_LINES, FOREIGN_LINES, POSTED_SL, POSTED_GL = 0, 15, 30, 45, 60, 61


def _field(shift: int, mask: int = FIELD_MASK) -> str:
    return f"((packed >> {shift}) & {mask})"


def classify_sql(con, cutoff: str | None) -> str:
    """Every document that does not reconcile, with its break type, in one pass over both ledgers and
    CMP's postings. Each row contributes numbers and a document is their sum: packed counts, the S/L
    amount less the G/L receivables net (`delta`), the G/L debits less credits (`net`), and the S/L
    month less the journal's month (carried by its first line), which compare exactly when a
    document has one entry and one journal, as one that reconciles has."""
    receivables = con.execute("SELECT min(gl_account) FROM posting_rules WHERE rule = 'receivables'").fetchall()[0][0]
    month = "year(posting_date) * 12 + month(posting_date)"
    is_recv = f"gl_account = '{receivables}'"
    return f"""
        WITH booked AS (
            SELECT doc_type, doc_id, 1::UBIGINT << {SL_ENTRIES} AS packed, amount AS delta, 0::DECIMAL(18,2) AS net,
                   {month} AS months
            FROM sl_entries WHERE {_before(cutoff, 'posted_at')}
            UNION ALL
            SELECT doc_type, doc_id,
                   ((line_no = 1)::UBIGINT << {JOURNALS}) + (({is_recv})::UBIGINT << {RECEIVABLE_LINES})
                   + ((NOT {is_recv} AND NOT list_contains({_allowed_case(con)}, gl_account))::UBIGINT
                      << {FOREIGN_LINES}),
                   CASE WHEN {is_recv} THEN credit - debit ELSE 0 END, debit - credit,
                   CASE WHEN line_no = 1 THEN -({month}) ELSE 0 END
            FROM gl_entries WHERE {_before(cutoff, 'posted_at')}
            UNION ALL
            SELECT doc_type, doc_id, 1::UBIGINT << CASE ledger WHEN 'SL' THEN {POSTED_SL} ELSE {POSTED_GL} END, 0, 0, 0
            FROM postings WHERE {_before(cutoff, 'created_at')}),
        per_document AS (
            SELECT doc_type, doc_id, sum(packed)::UBIGINT AS packed, sum(delta) AS delta, sum(net) AS net,
                   sum(months) AS months
            FROM booked GROUP BY doc_type, doc_id),
        counted AS (
            SELECT doc_type, doc_id, delta, net, months, {_field(SL_ENTRIES)} AS sl_count,
                   {_field(JOURNALS)} AS gl_count, {_field(RECEIVABLE_LINES)} AS receivable_lines,
                   {_field(FOREIGN_LINES)} AS foreign_lines, {_field(POSTED_SL, 1)} = 1 AS posted_sl,
                   {_field(POSTED_GL, 1)} = 1 AS posted_gl
            FROM per_document
            WHERE delta <> 0 OR net <> 0 OR months <> 0
               OR packed & ((1::UBIGINT << {RECEIVABLE_LINES + FIELD_BITS}) - 1)
                  <> (1::UBIGINT << {SL_ENTRIES}) + (1::UBIGINT << {JOURNALS}) + (1::UBIGINT << {RECEIVABLE_LINES}))
        SELECT doc_type, doc_id, sl_count, gl_count, CASE
            WHEN net <> 0 THEN 'unbalanced journal'
            WHEN sl_count > 1 OR gl_count > 1 THEN 'duplicate posting'
            WHEN sl_count = 0 AND gl_count = 0 AND posted_sl AND posted_gl THEN 'missing in both'
            WHEN sl_count = 0 AND gl_count = 0 AND posted_gl THEN 'missing in GL'
            WHEN sl_count = 0 AND gl_count = 0 AND posted_sl THEN 'missing in SL'
            WHEN gl_count = 0 AND sl_count > 0 THEN 'missing in GL'
            WHEN sl_count = 0 AND gl_count > 0 AND doc_type <> 'refund_payout' THEN 'missing in SL'
            WHEN foreign_lines > 0 OR (sl_count > 0 AND receivable_lines = 0) THEN 'wrong GL account'
            WHEN sl_count > 0 AND delta <> 0 THEN 'amount mismatch'
            WHEN sl_count > 0 AND months <> 0 THEN 'different periods' END AS break_type
        FROM counted"""


def describe_sql(cutoff: str | None, period: str | None) -> str:
    """The break list from `_rc_classified`: each break with its account, periods and first booking."""
    before = _before(cutoff, "posted_at")
    in_period = f"AND '{period}' IN (sl_period, gl_period, sl_period_last, gl_period_last)" if period else ""
    return f"""
        WITH keys AS (SELECT doc_type, doc_id FROM _rc_classified WHERE break_type IS NOT NULL),
        sl AS (SELECT doc_type, doc_id, min(account_id) AS account_id, sum(amount) AS amount, min(period) AS period,
                      max(period) AS period_last, min(posted_at) AS posted_at
               FROM sl_entries WHERE {before} AND (doc_type, doc_id) IN (SELECT doc_type, doc_id FROM keys)
               GROUP BY ALL),
        gl AS (SELECT doc_type, doc_id, min(account_id) AS account_id,
                      sum(debit - credit) FILTER (WHERE gl_account = (SELECT min(gl_account) FROM posting_rules
                                                                      WHERE rule = 'receivables')) AS amount,
                      min(period) AS period, max(period) AS period_last, min(posted_at) AS posted_at
               FROM gl_entries WHERE {before} AND (doc_type, doc_id) IN (SELECT doc_type, doc_id FROM keys)
               GROUP BY ALL),
        cmp AS (SELECT doc_type, doc_id, min(account_id) AS account_id, min(period) AS period FROM postings
                WHERE (doc_type, doc_id) IN (SELECT doc_type, doc_id FROM keys) GROUP BY ALL)
        SELECT c.break_type, c.doc_type, c.doc_id, coalesce(s.account_id, g.account_id, p.account_id) AS account_id,
               s.amount AS sl_amount,
               CASE WHEN c.gl_count > 0 THEN coalesce(g.amount, 0)::DECIMAL(18,2) END AS gl_amount,
               (coalesce(s.amount, 0) - coalesce(g.amount, 0))::DECIMAL(18,2) AS difference,
               c.sl_count, c.gl_count,
               coalesce(s.period, CASE WHEN g.period IS NULL THEN p.period END) AS sl_period,
               coalesce(g.period, CASE WHEN s.period IS NULL THEN p.period END) AS gl_period,
               s.period_last AS sl_period_last, g.period_last AS gl_period_last,
               least(s.posted_at, g.posted_at) AS first_booked
        FROM _rc_classified c LEFT JOIN sl s USING (doc_type, doc_id) LEFT JOIN gl g USING (doc_type, doc_id)
             LEFT JOIN cmp p USING (doc_type, doc_id)
        WHERE c.break_type IS NOT NULL {in_period}"""


def control_sql(cutoff: str | None, period: str | None) -> str:
    """S/L total against the receivables control account, per accounting period."""
    where = f"WHERE period = '{period}'" if period else ""
    return f"""
        WITH booked AS (
            SELECT period, sum(amount) AS sl, 0 AS gl FROM sl_entries WHERE {_before(cutoff, 'posted_at')}
            GROUP BY period
            UNION ALL
            SELECT period, 0, sum(debit - credit) FROM gl_entries
            WHERE {_before(cutoff, 'posted_at')}
              AND gl_account = (SELECT min(gl_account) FROM posting_rules WHERE rule = 'receivables')
            GROUP BY period)
        SELECT period, sum(sl)::DECIMAL(18,2) AS sl_total, sum(gl)::DECIMAL(18,2) AS gl_receivables,
               (sum(sl) - sum(gl))::DECIMAL(18,2) AS difference
        FROM booked {where} GROUP BY period ORDER BY period"""


def trial_balance_sql(cutoff: str | None) -> str:
    """Journals, unbalanced journals, debits and credits. A journal can only be unbalanced in a
    document whose lines do not balance or that has several journals: only those are grouped by
    journal (after the break list, `_rc_breaks`)."""
    before = _before(cutoff, "posted_at")
    return f"""
        WITH suspects AS (
            SELECT journal_id FROM gl_entries
            WHERE {before} AND (doc_type, doc_id) IN (SELECT doc_type, doc_id FROM _rc_breaks
                                                     WHERE break_type IN ('unbalanced journal', 'duplicate posting'))
            GROUP BY journal_id HAVING sum(debit) <> sum(credit))
        SELECT count(*) FILTER (WHERE line_no = 1) AS journals, (SELECT count(*) FROM suspects) AS unbalanced_journals,
               coalesce(sum(debit), 0)::DECIMAL(18,2) AS debits, coalesce(sum(credit), 0)::DECIMAL(18,2) AS credits
        FROM gl_entries WHERE {before}"""
