"""Load Invoice Posting Responses From Generic Format (daemon) and Invoice Posting Repost (job).

The load daemon collects the ledger system's response and error files (authenticated, decrypted,
validated like every inbound file) and applies them at once: each record named becomes Accepted
or Rejected (with the ledger's code and message). An answer counts only for the attempt it
answers — the file it names must be the posting's current extract — so a late answer to an
earlier attempt changes nothing.

The repost job, run on schedule like an operator's morning correction run, sends again every
rejected record whose cause it can correct, at most `ledger.repost_attempts_max` attempts in all:
PERIOD_CLOSED records are re-dated to the first day of the current month, VALIDATION_FAILED
records go again unchanged. Other rejections stay Rejected for a person to look at (the
`Postings Rejected` probe shows them).
"""

from __future__ import annotations

import polars as pl

from cmpsim.files import InboundKind, load_inbound

REPOSTABLE = ("PERIOD_CLOSED", "VALIDATION_FAILED")


def _stage(outcome: str):
    def stage(sim, file_id: str, document: dict) -> int:
        if outcome == "accepted":
            rows = [(p, None, None) for p in document["accepted"]]
        else:
            rows = [(e["postingId"], e["code"], e["message"]) for e in document["errors"]]
        frame = pl.DataFrame(rows, schema=["posting_id", "code", "message"], orient="row")
        sim.store.insert("posting_responses", frame.with_columns(
            file_id=pl.lit(file_id), source_file=pl.lit(document["sourceFile"]), outcome=pl.lit(outcome),
            processed_at=pl.lit(document["processedAt"]).str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False),
            applied=pl.lit(None, pl.Utf8)))
        return frame.height
    return stage


RESPONSES = (InboundKind("posting-response", "posting-response.schema.json", _stage("accepted")),
             InboundKind("posting-error", "posting-error.schema.json", _stage("rejected")))


def load_responses_step(sim) -> int:
    files = sum(load_inbound(sim, kind) for kind in RESPONSES)
    _apply(sim)
    return files


def _apply(sim) -> None:
    con = sim.con
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _resp_answers AS
        SELECT r.file_id, r.posting_id, r.outcome, r.code, r.message,
               CASE WHEN p.posting_id IS NULL THEN 'ignored: unknown posting'
                    WHEN f.name IS DISTINCT FROM r.source_file THEN 'ignored: answers an earlier attempt'
                    WHEN r.processed_at IS NULL THEN 'ignored: impossible processing time'
                    ELSE 'applied' END AS verdict
        FROM posting_responses r
        LEFT JOIN postings p USING (posting_id)
        LEFT JOIN posting_attempts a ON a.posting_id = r.posting_id AND a.attempt = p.attempts
        LEFT JOIN generic_files f ON f.file_id = a.file_id
        WHERE r.applied IS NULL""")
    con.execute("""UPDATE posting_responses SET applied = a.verdict FROM _resp_answers a
                   WHERE posting_responses.file_id = a.file_id AND posting_responses.posting_id = a.posting_id""")
    con.execute("""
        UPDATE postings SET status = CASE a.outcome WHEN 'accepted' THEN 'Accepted' ELSE 'Rejected' END,
               reject_code = a.code, reason = a.message, updated_at = ?
        FROM _resp_answers a WHERE a.verdict = 'applied' AND postings.posting_id = a.posting_id""", [sim.now])
    con.execute("""
        UPDATE posting_attempts SET outcome = a.outcome, reason = coalesce(a.code || ': ' || a.message, NULL),
               answered_at = ?
        FROM _resp_answers a JOIN postings p USING (posting_id)
        WHERE a.verdict = 'applied' AND posting_attempts.posting_id = a.posting_id
          AND posting_attempts.attempt = p.attempts""", [sim.now])
    sim.store.record_events("""
        SELECT ?::TIMESTAMP AS ts, 'posting' AS object_type, posting_id AS object_id, 'Posting Rejected' AS activity,
               ? AS job, code || ': ' || message AS detail
        FROM _resp_answers WHERE verdict = 'applied' AND outcome = 'rejected'""", [sim.now, sim.current_job])


def repost_step(sim) -> int:
    """Send again the rejected postings whose cause can be corrected; returns postings reposted."""
    con = sim.con
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _resp_repost AS
        SELECT posting_id, CASE reject_code WHEN 'PERIOD_CLOSED' THEN date_trunc('month', ?::DATE)::DATE
                                            ELSE posting_date END AS posting_date
        FROM postings WHERE status = 'Rejected' AND reject_code IN (SELECT unnest(?)) AND attempts < ?""",
                [sim.today, list(REPOSTABLE), sim.scenario["ledger"]["repost_attempts_max"]])
    n = sim.store.scalar("SELECT count(*) FROM _resp_repost")
    if not n:
        return 0
    batch = f"PB-{sim.store.allocate('posting_batch', 1) + 1:07d}"
    con.execute("""
        UPDATE postings SET status = 'Posted', attempts = attempts + 1, batch_id = ?, posting_date = r.posting_date,
               period = strftime(r.posting_date, '%Y-%m'), reject_code = NULL, reason = NULL, updated_at = ?
        FROM _resp_repost r WHERE postings.posting_id = r.posting_id""", [batch, sim.now])
    con.execute("""INSERT INTO posting_attempts
                   SELECT p.posting_id, p.attempts, ?, NULL, p.posting_date, NULL, NULL, NULL
                   FROM postings p WHERE p.posting_id IN (SELECT posting_id FROM _resp_repost) ORDER BY p.posting_id""",
                [batch])
    con.execute("""INSERT INTO posting_batches
                   SELECT ?, 'repost', ?, ?, count(*) FILTER (WHERE posting_id LIKE 'SL:%'),
                          count(*) FILTER (WHERE posting_id LIKE 'GL:%'), NULL, NULL FROM _resp_repost""",
                [batch, sim.now, sim.current_job])
    sim.store.record_events("""
        SELECT ?::TIMESTAMP AS ts, 'posting' AS object_type, posting_id AS object_id, 'Posting Reposted' AS activity,
               ? AS job, ? || ' dated ' || posting_date::VARCHAR AS detail FROM _resp_repost""",
                            [sim.now, sim.current_job, f"batch {batch}"])
    return n
