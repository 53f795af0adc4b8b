"""E-mails and letters: the Comms Email and Letter Monitor jobs merge and render them, the Comms
Email and Letter daemons transmit them.

- Email Monitor (woken when the Comms Monitor gathered e-mails): merges each e-mail's template and
  writes a real MIME message, `comms/email/<account>/<request>.eml`, with the bill PDF attached when
  the rule asks (`attach_bill`) and Bill Print rendered one.
- Letter Monitor (woken for letters): renders letters as PDF with weasyprint — all, none, or a sample
  (`comms.letters`, as for bills: rendering costs time) — and for the others writes the print data
  (the merged letter as JSON) the print vendor composes from: `comms/letters/<account>/<request>.pdf`
  or `.json`.
- Email and Letter daemons: hand each rendered document to the mail server or the print vendor, an
  outbox folder per channel (`comms/outbox/email/`, `comms/outbox/letter/`): the communication is Sent.
A template that cannot be used fails its communication with the reason.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from cmpsim.comms.data import decode
from cmpsim.comms.gateways import provider_outcomes
from cmpsim.comms.render import TemplateRefused, email_bytes, letter_pdfs, render_message
from cmpsim.files import encode_document, sha256, write_atomic
from cmpsim.store import registered

OUTBOX = {"email": Path("comms", "outbox", "email"), "letter": Path("comms", "outbox", "letter")}


def _gathered(sim, channel: str) -> pl.DataFrame:
    return sim.store.frame("""
        SELECT c.request_id, coalesce(c.account_id, 'staff') AS folder, c.template, c.target, c.rule_no, c.created_at,
               d.data FROM comms c JOIN comms_details d USING (request_id)
        WHERE c.channel = ? AND c.status = 'Gathered' ORDER BY c.request_id""", [channel])


def email_monitor_step(sim) -> int:
    """Merge and write every gathered e-mail; returns e-mails handled."""
    todo = _gathered(sim, "email")
    spec = sim.scenario["comms"]
    provider, rules = dict(sim.scenario["billing"]["provider"]), spec["rules"]
    rows, failed = [], []
    decoded = [(row, decode(row[-1], provider)) for row in todo.rows()]
    # The invoice whose printed bill each e-mail attaches (None: none), the bills found in one query.
    billed = [merged["invoice"]["invoice_id"] if rules[rule_no].get("attach_bill") and merged.get("invoice")
              and merged["invoice"].get("has_bill_pdf") else None for (*_, rule_no, _, _), merged in decoded]
    bills = _bill_paths(sim, [invoice_id for invoice_id in billed if invoice_id is not None])
    for ((request_id, folder, template, target, *_), merged), invoice_id in zip(decoded, billed, strict=True):
        path = bills.get(invoice_id)
        attachments = [(f"bill-{invoice_id}.pdf", (sim.run_dir / path).read_bytes(), "application/pdf")] if path else []
        if "invoice" in merged:  # the e-mail says the bill is attached only when it is
            merged["invoice"] = {**merged["invoice"], "has_bill_pdf": bool(attachments)}
        try:
            message = render_message(template, "email", merged, spec["templates"])
        except TemplateRefused as exc:
            failed.append((request_id, str(exc)))
            continue
        eml = email_bytes(message, sender=spec["sender"], to=target, message_id=f"<{request_id}@cmpsim.example>",
                          date=sim.now, attachments=attachments)
        rows.append(_write(sim, request_id, Path("comms", "email", folder, f"{request_id}.eml"), eml, "eml",
                           message.subject, []))
    _rendered(sim, rows, failed)
    return todo.height


def _bill_paths(sim, invoice_ids: list[str]) -> dict[str, str]:
    """The printed bill of each invoice (its own document, or its statement's), in one query for all."""
    if not invoice_ids:
        return {}
    return dict(sim.con.execute("""
        SELECT i.invoice_id, min(d.path) FROM invoices i
        JOIN bill_documents d ON d.doc_id = i.invoice_id OR d.doc_id = i.statement_id
        WHERE i.invoice_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY i.invoice_id""",
                                [sorted(set(invoice_ids))]).fetchall())


def letter_monitor_step(sim) -> int:
    """Render (or hand as print data) every gathered letter; returns letters handled."""
    todo = _gathered(sim, "letter")
    spec = sim.scenario["comms"]
    provider = dict(sim.scenario["billing"]["provider"])
    chosen = set(_sample(sim, todo))
    rows, failed = [], []
    for request_id, folder, template, _, _, _, data in todo.rows():
        merged = decode(data, provider)
        try:
            message = render_message(template, "letter", merged, spec["templates"])
            if request_id in chosen:
                refused: list[str] = []
                document, kind, name = letter_pdfs([(message, merged)], refused=refused)[0], "pdf", f"{request_id}.pdf"
            else:  # the print vendor composes it from the merged letter
                refused, kind, name = [], "print-data", f"{request_id}.json"
                document = encode_document({"requestId": request_id, "subject": message.subject, "html": message.html})
        except TemplateRefused as exc:
            failed.append((request_id, str(exc)))
            continue
        rows.append(_write(sim, request_id, Path("comms", "letters", folder, name), document, kind, message.subject,
                           refused))
    _rendered(sim, rows, failed)
    return todo.height


def _sample(sim, todo: pl.DataFrame) -> list[str]:
    spec = sim.scenario["comms"]["letters"]
    if spec["mode"] == "none" or todo.height == 0:
        return []
    if spec["mode"] == "all":
        return todo["request_id"].to_list()
    accounts = sim.store.frame("SELECT request_id, account_id FROM comms WHERE request_id IN (SELECT unnest(?))",
                               [todo["request_id"].to_list()])
    listed = set(accounts.filter(pl.col("account_id").is_in(list(spec["accounts"])))["request_id"])
    draws = sim.rng("comms.letters").random(todo.height)
    sampled = [r for r, u in zip(todo["request_id"], draws, strict=True) if u < spec["sample_rate"] and r not in listed]
    return sorted(listed) + sampled[: spec["documents_per_run_max"]]


def _write(sim, request_id: str, path: Path, data: bytes, kind: str, subject: str | None,
           refused: list[str]) -> tuple:
    write_atomic(sim.run_dir / path, data)
    return (request_id, kind, str(path), sha256(data), len(data), refused, subject)


def _rendered(sim, rows: list[tuple], failed: list[tuple[str, str]]) -> None:
    con = sim.con
    if rows:
        frame = pl.DataFrame(rows, schema={"request_id": pl.Utf8, "kind": pl.Utf8, "path": pl.Utf8, "sha256": pl.Utf8,
                                           "bytes": pl.Int64, "refused_urls": pl.List(pl.Utf8), "subject": pl.Utf8},
                             orient="row")
        sim.store.insert("comms_documents", frame.drop("subject").with_columns(rendered_at=pl.lit(sim.now)))
        with registered(con, "_cm_docs", frame.to_arrow()):
            con.execute("""UPDATE comms SET status = 'Rendered', document = d.path, message = d.subject, updated_at = ?
                           FROM _cm_docs d WHERE comms.request_id = d.request_id""", [sim.now])
    if failed:
        failures = pl.DataFrame(failed, schema=["request_id", "reason"], orient="row")
        with registered(con, "_cm_failed", failures.to_arrow()):
            con.execute("""UPDATE comms SET status = 'Failed', reason = f.reason, updated_at = ?
                           FROM _cm_failed f WHERE comms.request_id = f.request_id""", [sim.now])
    sim.store.record_events_at(sim.now, "comm", [r[0] for r in rows] + [f[0] for f in failed],
                               ["Comm Rendered"] * len(rows) + ["Comm Failed"] * len(failed), sim.current_job,
                               [r[2] for r in rows] + [f[1] for f in failed])


def transmit_due(sim, channel: str) -> bool:
    return bool(sim.store.scalar("SELECT count(*) FROM comms WHERE channel = ? AND status = 'Rendered'", [channel]))


def transmit_step(sim, channel: str) -> int:
    """The Comms Email or Letter daemon: every rendered document goes to the channel's outbox."""
    ready = sim.store.frame("""SELECT request_id, document FROM comms WHERE channel = ? AND status = 'Rendered'
                               ORDER BY request_id""", [channel])
    if ready.height == 0:
        return 0
    moved = [str(OUTBOX[channel] / Path(doc).name) for doc in ready["document"]]
    for doc, target in zip(ready["document"], moved, strict=True):
        sim.store.move_file(sim.run_dir / doc, sim.run_dir / target)
    con = sim.con
    with registered(con, "_cm_out", ready.with_columns(moved=pl.Series(moved)).to_arrow()):
        con.execute("""UPDATE comms SET status = 'Sent', sent_at = ?, document = o.moved, updated_at = ?
                       FROM _cm_out o WHERE comms.request_id = o.request_id""", [sim.now, sim.now])
        con.execute("""UPDATE comms_documents SET path = o.moved FROM _cm_out o
                       WHERE comms_documents.request_id = o.request_id""")
    sim.store.record_events_at(sim.now, "comm", ready["request_id"].to_list(), "Comm Sent", sim.current_job, moved)
    provider_outcomes(sim, channel, ready.select("request_id", sent_at=pl.lit(sim.now)))
    return ready.height
