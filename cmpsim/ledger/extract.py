"""Extract Invoice Posting To Generic Format (S/L and G/L) and Transmission Invoice Posting To CMP
Ledger: the daemons that carry posting batches to the ledger system.

Each extract daemon writes every posting batch it has not written yet as one encrypted generic
file of its ledger (`sl-posting`, `gl-posting`; see `schemas/`), even a batch with no records,
and marks the batch's postings Extracted. The transmission daemon then hands the files over to the
ledger system's inbox (status Transmitted).
"""

from __future__ import annotations

from cmpsim.files import OutboundFile, transmit_outbound, write_outbound

LEDGER_PARTY = "ledger"
FILE_KIND = {"SL": "sl-posting", "GL": "gl-posting"}
GL_JOURNALS = """
    SELECT p.posting_id AS "postingId", p.doc_type AS "docType", p.doc_id AS "docId", p.account_id AS "accountId",
           strftime(p.posting_date, '%Y-%m-%d') AS "postingDate", p.description,
           list(struct_pack("lineNo" := l.line_no, "glAccount" := l.gl_account, debit := l.debit::VARCHAR,
                            credit := l.credit::VARCHAR, description := l.description) ORDER BY l.line_no) AS lines
    FROM postings p JOIN posting_lines l USING (posting_id)
    WHERE p.batch_id = ? AND p.ledger = 'GL' GROUP BY ALL ORDER BY p.posting_id"""
SL_RECORDS = """
    SELECT posting_id AS "postingId", doc_type AS "docType", doc_id AS "docId", account_id AS "accountId",
           strftime(posting_date, '%Y-%m-%d') AS "postingDate", amount::VARCHAR AS amount, description
    FROM postings WHERE batch_id = ? AND ledger = 'SL' ORDER BY posting_id"""


def extract_due(sim, ledger: str) -> bool:
    column = f"{ledger.lower()}_file_id"
    return bool(sim.store.scalar(f"SELECT count(*) FROM posting_batches WHERE {column} IS NULL"))


def extract_step(sim, ledger: str) -> int:
    """Write every posting batch not yet extracted for `ledger` ('SL' or 'GL'); returns files written."""
    column, kind = f"{ledger.lower()}_file_id", FILE_KIND[ledger]
    batches = [r[0] for r in sim.con.execute(
        f"SELECT batch_id FROM posting_batches WHERE {column} IS NULL ORDER BY batch_id").fetchall()]
    files = [OutboundFile(kind, LEDGER_PARTY, f"{kind}__{LEDGER_PARTY}__{batch}.json.enc",
                          _document(sim, ledger, batch), 0, batch) for batch in batches]
    files = [OutboundFile(f.kind, f.party, f.name, f.document, len(_records(f.document)), f.batch_id) for f in files]
    file_ids = write_outbound(sim, files, f"{kind}.schema.json")
    for batch, file_id in zip(batches, file_ids, strict=True):
        sim.con.execute(f"UPDATE posting_batches SET {column} = ? WHERE batch_id = ?", [file_id, batch])
        sim.con.execute("""UPDATE posting_attempts SET file_id = ? WHERE batch_id = ? AND file_id IS NULL
                             AND posting_id LIKE ? || ':%'""", [file_id, batch, ledger])
    sim.con.execute("""UPDATE postings SET status = 'Extracted', updated_at = ?
                       WHERE status = 'Posted' AND ledger = ? AND batch_id IN (SELECT unnest(?))""",
                    [sim.now, ledger, batches])
    return len(batches)


def _document(sim, ledger: str, batch: str) -> dict:
    cursor = sim.con.execute(SL_RECORDS if ledger == "SL" else GL_JOURNALS, [batch])
    names = [d[0] for d in cursor.description]
    records = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return {"fileType": FILE_KIND[ledger], "ledger": ledger, "batchId": batch,
            "createdAt": sim.now.strftime("%Y-%m-%dT%H:%M:%S"), "currency": sim.scenario["currency"],
            "records" if ledger == "SL" else "journals": records}


def _records(document: dict) -> list:
    return document.get("records", document.get("journals"))


def transmission_step(sim) -> int:
    """Hand every extracted posting file over to the ledger system; returns files transmitted."""
    return sum(len(transmit_outbound(sim, kind, LEDGER_PARTY)) for kind in FILE_KIND.values())
