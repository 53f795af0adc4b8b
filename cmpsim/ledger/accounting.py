"""The ledger system behind the adaptor: a simulated third-party accounting system.

It takes the posting files CMP transmitted to `files/parties/ledger/received/`, in name order, and
books what it accepts into the sales ledger (`sl_entries`) and the general ledger (`gl_journals`,
`gl_entries`) — the only way anything reaches the books. The adaptor stands at the door: a file
whose bytes it has already taken (the same checksum as a file processed) is set aside as a
duplicate, a file it cannot open (authentication, JSON or schema) is refused whole, and every
other file becomes an import file of the accounting package's own format (cmpsim.ledger.adaptor,
in `files/parties/ledger/import/`). The accounting package books from that import file only, and
for every file answers CMP with a response file (the records booked) and, when it refused some,
an error file (each refused record with a code):
- PERIOD_CLOSED: the record is dated in a month the ledger has closed (a month closes
  `ledger.accounting_system.period_close_days` after its end);
- UNBALANCED (a journal whose debits differ from its credits), UNKNOWN_ACCOUNT (a G/L account
  not in the chart of accounts);
- VALIDATION_FAILED: refused by the scenario's `reject` fault (count = records refused).
Transmitted files stay in `received/`, where CMP's register says they are; `acct_files` is the
ledger system's own record of what it has read, by the transmitted file's name and checksum.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from cmpsim import faults
from cmpsim.files import FileRejected, deliver_inbound, sha256
from cmpsim.ledger.adaptor import import_file, read_gl_journal_import, read_sl_transaction_import

PARTY = "ledger"
RECEIVED = Path("files", "parties", PARTY, "received")


def files_waiting(sim) -> list[Path]:
    """Files received and not yet read, in name order."""
    folder = sim.run_dir / RECEIVED
    names = sorted(p.name for p in folder.glob("*.json.enc")) if folder.is_dir() else []
    if len(names) <= sim.store.scalar("SELECT count(*) FROM acct_files"):
        return []  # every file received was read (a file is read once, and never leaves the folder)
    read = {r[0] for r in sim.con.execute("SELECT file_name FROM acct_files WHERE file_name IN (SELECT unnest(?))",
                                          [names]).fetchall()}
    return [folder / n for n in names if n not in read]


def accounting_system_step(sim) -> int:
    """Book every file received and not yet read; returns files read."""
    paths = files_waiting(sim)
    for path in paths:
        _process(sim, path)
    return len(paths)


def _process(sim, path: Path) -> None:
    """One transmitted file through the adaptor's door (duplicate, refused, or converted), then booked
    from its import file."""
    blob, kind = path.read_bytes(), path.name.split("__")[0]
    ledger = "SL" if kind == "sl-posting" else "GL"
    # The checksum is of the bytes CMP transmitted: a file sent again re-extracted (new name, new
    # creation time) is a new file to the ledger, even where its import file would read the same.
    digest = sha256(blob)
    if sim.store.scalar("SELECT count(*) FROM acct_files WHERE sha256 = ? AND status = 'Processed'", [digest]):
        _log_file(sim, path.name, ledger, digest, "Duplicate", None, None, None, "same bytes as a file processed")
        return
    try:
        imported = import_file(sim, kind, path.name, blob)
    except FileRejected as exc:
        _log_file(sim, path.name, ledger, digest, "Refused", None, None, None, str(exc))
        _answer(sim, ledger, path.name, 0, [], pl.DataFrame(), file_error=str(exc))
        return
    records = _records(imported.read_bytes(), ledger)
    verdicts = _judge(sim, ledger, kind, path.name, records)
    accepted = verdicts.filter(pl.col("code").is_null())
    _book(sim, ledger, path.name, records.join(accepted.select("postingId"), on="postingId", how="semi"))
    rejected = verdicts.filter(pl.col("code").is_not_null())
    _log_file(sim, path.name, ledger, digest, "Processed", records.height, accepted.height, rejected.height, None)
    _answer(sim, ledger, path.name, records.height, accepted["postingId"].to_list(), rejected)


def _records(csv_bytes: bytes, ledger: str) -> pl.DataFrame:
    """The records of an import file, one per S/L transaction or G/L journal (its lines nested, in
    line order), in the order of the file, under the names the judging and booking use."""
    if ledger == "SL":
        return read_sl_transaction_import(csv_bytes).select(
            postingId="TXN_REF", docType="DOC_TYPE", docId="DOCUMENT", accountId="CUSTOMER_ID", postingDate="TXN_DATE",
            amount="AMOUNT", description="DESCRIPTION")
    lines = read_gl_journal_import(csv_bytes)
    return lines.group_by("JOURNAL_REF", maintain_order=True).agg(
        pl.col("DOC_TYPE", "DOCUMENT", "CUSTOMER_ID", "JOURNAL_DATE", "DESCRIPTION").first(),
        lines=pl.struct(lineNo="LINE_NO", glAccount="ACCT_NO", debit="DEBIT", credit="CREDIT", description="MEMO"),
    ).select(postingId="JOURNAL_REF", docType="DOC_TYPE", docId="DOCUMENT", accountId="CUSTOMER_ID",
             postingDate="JOURNAL_DATE", description="DESCRIPTION", lines="lines")


def _judge(sim, ledger: str, kind: str, file_name: str, records: pl.DataFrame) -> pl.DataFrame:
    """(postingId, code, message) per record: code null when it can be booked."""
    close_days = sim.scenario["ledger"]["accounting_system"]["period_close_days"]
    sim.con.register("_acct_incoming", records.to_arrow())
    checks = """
        CASE WHEN ?::TIMESTAMP >= (date_trunc('month', postingDate::DATE) + INTERVAL 1 MONTH
                                   + to_days(?::INTEGER))::TIMESTAMP
             THEN 'PERIOD_CLOSED' END"""
    if ledger == "GL":
        checks = """
        CASE WHEN (SELECT sum(l.debit::DECIMAL(18,2)) - sum(l.credit::DECIMAL(18,2)) FROM unnest(lines) t(l)) <> 0
                 THEN 'UNBALANCED'
             WHEN (SELECT count(*) FROM unnest(lines) t(l)
                   WHERE l.glAccount NOT IN (SELECT gl_account FROM gl_accounts)) > 0 THEN 'UNKNOWN_ACCOUNT'
             ELSE """ + checks + " END"
    verdicts = sim.store.frame(f"""
        SELECT "postingId", {checks} AS code, strftime(postingDate::DATE, '%Y-%m') AS period
        FROM _acct_incoming ORDER BY "postingId" """, [sim.now, close_days])
    sim.con.unregister("_acct_incoming")
    verdicts = _injected_rejections(sim, kind, file_name, verdicts)
    return verdicts.with_columns(message=pl.when(pl.col("code") == "PERIOD_CLOSED").then(
        pl.format("period {} is closed; post it in an open period", "period"))
        .when(pl.col("code") == "UNBALANCED").then(pl.lit("journal debits and credits differ"))
        .when(pl.col("code") == "UNKNOWN_ACCOUNT").then(pl.lit("a line names an account not in the chart"))
        .when(pl.col("code") == "VALIDATION_FAILED").then(pl.lit("record failed validation in the ledger system"))
    ).drop("period")


def _injected_rejections(sim, kind: str, file_name: str, verdicts: pl.DataFrame) -> pl.DataFrame:
    """The scenario's `reject` faults refuse the first records of today's files, up to their count."""
    for fault_no, left in faults.remaining(sim, "reject", file_kind=kind):
        hit = verdicts.filter(pl.col("code").is_null()).head(left)["postingId"].to_list()
        for posting_id in hit:
            faults.record(sim, fault_no, kind, posting_id, f"refused in {file_name}")
        verdicts = verdicts.with_columns(code=pl.when(pl.col("postingId").is_in(hit))
                                         .then(pl.lit("VALIDATION_FAILED")).otherwise("code"))
    return verdicts


def _book(sim, ledger: str, file_name: str, records: pl.DataFrame) -> None:
    if records.height == 0:
        return
    con = sim.con
    con.register("_acct_booked", records.to_arrow())
    if ledger == "SL":
        base = sim.store.allocate("sl_entry", records.height)
        con.execute("""
            INSERT INTO sl_entries
            SELECT ? + row_number() OVER (ORDER BY "postingId"), "accountId", "docType", "docId", "postingId",
                   "postingDate"::DATE, strftime("postingDate"::DATE, '%Y-%m'), ?, amount::DECIMAL(18,2),
                   description, ? FROM _acct_booked ORDER BY "postingId" """, [base, sim.now, file_name])
    else:
        base = sim.store.allocate("gl_journal", records.height)
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _acct_journals AS
            SELECT 'JNL-' || lpad((? + row_number() OVER (ORDER BY "postingId"))::VARCHAR, 9, '0') AS journal_id, *
            FROM _acct_booked""", [base])
        con.execute("""
            INSERT INTO gl_journals
            SELECT journal_id, "postingId", "docType", "docId", "accountId", "postingDate"::DATE,
                   strftime("postingDate"::DATE, '%Y-%m'), ?, len(lines),
                   (SELECT sum(l.debit::DECIMAL(18,2)) FROM unnest(lines) t(l)),
                   (SELECT sum(l.credit::DECIMAL(18,2)) FROM unnest(lines) t(l)), ?
            FROM _acct_journals ORDER BY journal_id""", [sim.now, file_name])
        con.execute("""
            INSERT INTO gl_entries
            SELECT j.journal_id, l.lineNo, l.glAccount, j."docType", j."docId", j."accountId", j."postingDate"::DATE,
                   strftime(j."postingDate"::DATE, '%Y-%m'), ?, l.debit::DECIMAL(18,2), l.credit::DECIMAL(18,2),
                   l.description
            FROM (SELECT journal_id, "docType", "docId", "accountId", "postingDate", unnest(lines) AS l
                  FROM _acct_journals) j
            ORDER BY j.journal_id, l.lineNo""", [sim.now])
    con.unregister("_acct_booked")


def _log_file(sim, name, ledger, digest, status, records, accepted, rejected, reason) -> None:
    sim.con.execute("INSERT INTO acct_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [name, ledger, digest, sim.now, status, records, accepted, rejected, reason])


def _answer(sim, ledger: str, source: str, records: int, accepted: list[str], rejected: pl.DataFrame,
            file_error: str | None = None) -> None:
    """A response file for every file read; an error file when something was refused."""
    stem = f"{source.split('__')[-1].removesuffix('.json.enc')}-{ledger}"
    at = sim.now.strftime("%Y-%m-%dT%H:%M:%S")
    common = {"ledger": ledger, "sourceFile": source, "processedAt": at}
    if file_error is None:
        deliver_inbound(sim, "posting-response", PARTY, f"posting-response__{PARTY}__{stem}.json.enc",
                        {"fileType": "posting-response", **common, "records": records, "accepted": accepted})
    if file_error is not None or rejected.height:
        errors = [{"postingId": p, "code": c, "message": m} for p, c, m in
                  rejected.select("postingId", "code", "message").rows()] if rejected.height else []
        document = {"fileType": "posting-error", **common, "errors": errors}
        if file_error is not None:
            document["fileError"] = file_error[:500]
        deliver_inbound(sim, "posting-error", PARTY, f"posting-error__{PARTY}__{stem}.json.enc", document)
