"""The ledger adaptor: CMP's S/L and G/L posting files in the accounting package's own import format.

Seed 002: "an adapter has been developed for third party accounting software". The accounting
package (cmpsim.ledger.accounting) imports CSV files of its own; the adaptor turns each posting file
CMP transmitted into one, written whole into `files/parties/ledger/import/<file name without
.json.enc>.csv`, beside `received/` where the transmitted files stay:
- a G/L journal import (`GL_COLUMNS`): one row per journal line, the journal's header repeated on
  each of its lines (journal reference = CMP's posting id, date, customer, document), DEBIT and CREDIT;
- an S/L transaction import (`SL_COLUMNS`): one row per record, AMOUNT signed (+ the customer owes
  more, − they paid).
Amounts are the decimal text of the generic file (`1234.50`), never a float; text columns are
written as they are, quoted where CSV needs it (RFC 4180, UTF-8, header row, `\\n` line ends).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from cmpsim.files import csv_bytes, open_document, read_csv_text, write_atomic

IMPORT = Path("files", "parties", "ledger", "import")
GL_COLUMNS = ["BATCH_NO", "JOURNAL_REF", "JOURNAL_DATE", "CURRENCY", "DOC_TYPE", "DOCUMENT", "CUSTOMER_ID",
              "DESCRIPTION", "LINE_NO", "ACCT_NO", "DEBIT", "CREDIT", "MEMO"]
SL_COLUMNS = ["BATCH_NO", "TXN_REF", "TXN_DATE", "CURRENCY", "DOC_TYPE", "DOCUMENT", "CUSTOMER_ID", "AMOUNT",
              "DESCRIPTION"]
_HEADER = {"postingId": pl.Utf8, "docType": pl.Utf8, "docId": pl.Utf8, "accountId": pl.Utf8, "postingDate": pl.Utf8}
_SL_RECORD = pl.Struct({**_HEADER, "amount": pl.Utf8, "description": pl.Utf8})
_GL_JOURNAL = pl.Struct({**_HEADER, "description": pl.Utf8, "lines": pl.List(pl.Struct({
    "lineNo": pl.Int64, "glAccount": pl.Utf8, "debit": pl.Utf8, "credit": pl.Utf8, "description": pl.Utf8}))})


def import_file(sim, kind: str, name: str, blob: bytes) -> Path:
    """The transmitted file `name` of `kind` (its bytes `blob`) authenticated, decrypted, checked against
    its schema and written whole as the accounting package's import file; returns where. A file that
    cannot be opened raises FileRejected and nothing is written."""
    document = open_document(sim.key, kind, f"{kind}.schema.json", blob)
    path = sim.run_dir / IMPORT / f"{name.removesuffix('.json.enc')}.csv"
    write_atomic(path, gl_journal_csv(document) if kind == "gl-posting" else sl_transaction_csv(document))
    return path


def gl_journal_csv(document: dict) -> bytes:
    """A gl-posting document as a G/L journal import: one row per line, in journal then line order."""
    journals = pl.DataFrame({"j": document["journals"]}, schema={"j": _GL_JOURNAL}).unnest("j")
    lines = journals.rename({"description": "journal_text"}).explode("lines").unnest("lines")
    return csv_bytes(lines.select(
        BATCH_NO=pl.lit(document["batchId"], pl.Utf8), JOURNAL_REF="postingId", JOURNAL_DATE="postingDate",
        CURRENCY=pl.lit(document["currency"], pl.Utf8), DOC_TYPE="docType", DOCUMENT="docId", CUSTOMER_ID="accountId",
        DESCRIPTION="journal_text", LINE_NO="lineNo", ACCT_NO="glAccount", DEBIT="debit", CREDIT="credit",
        MEMO="description"))


def sl_transaction_csv(document: dict) -> bytes:
    """An sl-posting document as an S/L transaction import: one row per record, in record order."""
    records = pl.DataFrame({"r": document["records"]}, schema={"r": _SL_RECORD}).unnest("r")
    return csv_bytes(records.select(
        BATCH_NO=pl.lit(document["batchId"], pl.Utf8), TXN_REF="postingId", TXN_DATE="postingDate",
        CURRENCY=pl.lit(document["currency"], pl.Utf8), DOC_TYPE="docType", DOCUMENT="docId", CUSTOMER_ID="accountId",
        AMOUNT="amount", DESCRIPTION="description"))


def read_gl_journal_import(data: bytes) -> pl.DataFrame:
    """A G/L journal import as the accounting package reads it: `GL_COLUMNS`, LINE_NO a whole number,
    amounts and every other column text exactly as written."""
    return read_csv_text(data, GL_COLUMNS).with_columns(pl.col("LINE_NO").cast(pl.Int64))


def read_sl_transaction_import(data: bytes) -> pl.DataFrame:
    """An S/L transaction import as the accounting package reads it: `SL_COLUMNS`, all text as written."""
    return read_csv_text(data, SL_COLUMNS)

