"""Extract Invoice Posting To Generic Format (S/L and G/L) and Transmission Invoice Posting To CMP
Ledger: the daemons that carry posting batches to the ledger system.

Each extract daemon writes every posting batch it has not written yet as one encrypted generic
file of its ledger (`sl-posting`, `gl-posting`; see `schemas/`), even a batch with no records,
and marks the batch's postings Extracted. The transmission daemon then hands the files over to the
ledger system (status Transmitted).

Faults on the way (scenario data, per file kind and day): `lose` — the file never arrives (its bytes
are kept in `files/transit/lost/`, where CMP's register says it went); `duplicate` — the file is sent
again, re-extracted under another name, so the ledger system takes it for a new file; `delay` — the
file is held `days` days before it goes (a transmission past the period end).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from cmpsim import faults
from cmpsim.files import OutboundFile, decrypt, hand_over, waiting_outbound, write_outbound

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
    """Hand every extracted posting file over to the ledger system, faults permitting; returns files sent."""
    sent = 0
    for kind in FILE_KIND.values():
        names = [n for n in waiting_outbound(sim, kind, LEDGER_PARTY) if not _held(sim, n)]
        names = [n for n in names if not _hold(sim, kind, n)]
        lost = _hit(sim, "lose", kind, names, "lost in transmission")
        hand_over(sim, kind, LEDGER_PARTY, lost, "lost in transmission", to=LOST)
        names = [n for n in names if n not in lost]
        hand_over(sim, kind, LEDGER_PARTY, names, f"sent to {LEDGER_PARTY}")
        for name in _hit(sim, "duplicate", kind, names, "sent a second time, re-extracted"):
            copy = _re_extract(sim, kind, name)
            hand_over(sim, kind, LEDGER_PARTY, [copy], f"sent to {LEDGER_PARTY} again (re-extracted {name})")
        sent += len(names) + len(lost)
    return sent


def transmission_due(sim) -> bool:
    return any(n for kind in FILE_KIND.values() for n in waiting_outbound(sim, kind, LEDGER_PARTY)
               if not _held(sim, n))


def transmission_wake_at(sim) -> int | None:
    """When the next held file may go."""
    return sim.second_of(sim.store.scalar("SELECT min(until) FROM transmission_holds WHERE until > ?", [sim.now]))


def _hit(sim, fault_kind: str, kind: str, names: list[str], detail: str) -> list[str]:
    """The files today's faults of this kind take, in name order, each fault up to its count."""
    hit: list[str] = []
    for fault_no, left in faults.remaining(sim, fault_kind, file_kind=kind):
        for name in [n for n in names if n not in hit][:left]:
            faults.record(sim, fault_no, kind, name, detail)
            hit.append(name)
    return hit


def _hold(sim, kind: str, name: str) -> bool:
    """Scenario fault `delay`: hold the file `days` days; True when it is held from now."""
    for fault_no, _ in faults.remaining(sim, "delay", file_kind=kind)[:1]:
        until = sim.now + dt.timedelta(days=sim.scenario["faults"][fault_no]["days"])
        sim.con.execute("INSERT INTO transmission_holds VALUES (?, ?, ?, ?)", [name, fault_no, sim.now, until])
        faults.record(sim, fault_no, kind, name, f"held in transmission until {until:%Y-%m-%d %H:%M}")
        return True
    return False


def _held(sim, name: str) -> bool:
    return bool(sim.store.scalar("SELECT count(*) FROM transmission_holds WHERE file_name = ? AND until > ?",
                                 [name, sim.now]))


def _re_extract(sim, kind: str, name: str) -> str:
    """The same postings written again as a new file (new name, new creation time): a resend."""
    path = sim.run_dir / "files" / "out" / kind / LEDGER_PARTY / name  # handed over, moved at commit
    document = json.loads(decrypt(sim.key, kind, path.read_bytes()))
    document["createdAt"] = sim.now.strftime("%Y-%m-%dT%H:%M:%S")
    copy = name.replace(".json.enc", ".resent.json.enc")
    write_outbound(sim, [OutboundFile(kind, LEDGER_PARTY, copy, document, len(_records(document)),
                                      document["batchId"])], f"{kind}.schema.json")
    return copy


LOST = Path("files", "transit", "lost")
