"""The outbound adaptors: each outside party reads only its own format, and loses nothing on the way.

The warehouse reads pick-request CSVs its adaptor wrote from CMP's order-request files; the
accounting package imports journal and transaction CSVs its adaptor wrote from CMP's sl-posting and
gl-posting files. Each conversion is a pure function, checked here by round trips over documents of
every shape the schemas allow (odd text, the largest amounts, empty batches), and on real runs:
the party's files are where the docs say, and what was booked or taken in is what CMP sent.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmpsim.engine import Step
from cmpsim.files import decrypt, encode_document, encrypt
from cmpsim.ledger import accounting_system_step
from cmpsim.ledger.accounting import RECEIVED
from cmpsim.ledger.adaptor import (
    GL_COLUMNS,
    IMPORT,
    SL_COLUMNS,
    gl_journal_csv,
    read_gl_journal_import,
    read_sl_transaction_import,
    sl_transaction_csv,
)
from cmpsim.orders.warehouse import PICK_COLUMNS, pick_request_csv, read_pick_request
from cmpsim.validation import first_problem
from conftest import live_copy

# Any text a scenario or a customer may put in a field: commas, quotes, line breaks, tabs, NUL, any
# script; never a lone surrogate, which is no text at all.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12)
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)  # may be empty
CENTS = st.integers(min_value=0, max_value=10**18 - 1)  # up to 16 digits before the point
DATES = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31))
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def amount(cents: int) -> str:
    return f"{'-' if cents < 0 else ''}{abs(cents) // 100}.{abs(cents) % 100:02d}"


@st.composite
def order_requests(draw) -> dict:
    orders, line_id = [], 0
    for o in range(draw(st.integers(1, 4))):
        lines = []
        for no in range(1, draw(st.integers(1, 3)) + 1):
            line_id += 1
            lines.append({"requestLineId": f"RL-{line_id:09d}", "lineNo": no, "productId": draw(TEXT),
                          "quantity": draw(st.integers(1, 100000)), "serialised": draw(st.booleans())})
        orders.append({"orderId": f"HW-{o + 1:08d}", "accountId": draw(TEXT), "fraudCheck": "passed", "lines": lines,
                       "delivery": {"name": draw(TEXT), "line1": draw(TEXT), "city": draw(TEXT),
                                    "postcode": draw(TEXT), "country": draw(st.sampled_from(["GB", "NL", "DE"]))}})
    return {"fileType": "order-request", "batchId": "WB-0000042", "warehouseId": "WH-NORTH",
            "createdAt": "2026-01-05T10:00:00", "extractedAt": "2026-01-05T10:05:00", "fraudCheckRequired": True,
            "orders": orders}


@st.composite
def posting_files(draw, ledger: str) -> dict:
    """A posting batch's file, with 0 to 4 records (an empty batch is extracted too)."""
    records = []
    for i in range(draw(st.integers(0, 4))):
        header = {"postingId": f"{ledger}:invoice:INV-{i:08d}", "docType": draw(st.sampled_from(
                      ["invoice", "payment", "payment_reversal", "refund", "refund_payout"])),
                  "docId": draw(TEXT), "accountId": draw(TEXT), "postingDate": draw(DATES).isoformat()}
        if ledger == "SL":
            records.append({**header, "amount": amount(draw(st.integers(-(10**18) + 1, 10**18 - 1))),
                            "description": draw(ANY_TEXT)})
        else:
            lines = [{"lineNo": no, "glAccount": draw(st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True)),
                      "debit": amount(draw(CENTS)), "credit": amount(draw(CENTS)), "description": draw(ANY_TEXT)}
                     for no in range(1, draw(st.integers(2, 4)) + 1)]
            records.append({**header, "description": draw(ANY_TEXT), "lines": lines})
    kind = "sl-posting" if ledger == "SL" else "gl-posting"
    return {"fileType": kind, "ledger": ledger, "batchId": "PB-0000007", "createdAt": "2026-01-08T02:10:00",
            "currency": "EUR", "records" if ledger == "SL" else "journals": records}


@PROPERTY
@given(document=order_requests())
def test_every_request_line_reaches_the_pick_request_as_it_was_sent(document):
    assert first_problem("order-request.schema.json", document) is None
    picked = read_pick_request(pick_request_csv(document))
    assert picked.columns == PICK_COLUMNS
    assert picked.rows() == [
        (line["requestLineId"], order["orderId"], line["lineNo"], line["productId"], line["quantity"],
         line["serialised"], order["accountId"], order["delivery"]["name"], order["delivery"]["line1"],
         order["delivery"]["city"], order["delivery"]["postcode"], order["delivery"]["country"], document["batchId"])
        for order in document["orders"] for line in order["lines"]]


@PROPERTY
@given(document=posting_files("GL"))
def test_every_journal_line_reaches_the_journal_import_to_the_cent(document):
    assert first_problem("gl-posting.schema.json", document) is None
    imported = read_gl_journal_import(gl_journal_csv(document))
    assert imported.columns == GL_COLUMNS
    assert imported.rows() == [
        ("PB-0000007", j["postingId"], j["postingDate"], "EUR", j["docType"], j["docId"], j["accountId"],
         j["description"], line["lineNo"], line["glAccount"], line["debit"], line["credit"], line["description"])
        for j in document["journals"] for line in j["lines"]]
    # The amounts are the same decimal text, so the same to the cent (no float on the way).
    assert sum(map(Decimal, imported["DEBIT"]), Decimal(0)) == sum(
        (Decimal(line["debit"]) for j in document["journals"] for line in j["lines"]), Decimal(0))


@PROPERTY
@given(document=posting_files("SL"))
def test_every_sales_ledger_record_reaches_the_transaction_import_to_the_cent(document):
    assert first_problem("sl-posting.schema.json", document) is None
    imported = read_sl_transaction_import(sl_transaction_csv(document))
    assert imported.columns == SL_COLUMNS
    assert imported.rows() == [
        ("PB-0000007", r["postingId"], r["postingDate"], "EUR", r["docType"], r["docId"], r["accountId"],
         r["amount"], r["description"]) for r in document["records"]]


def test_an_import_reads_like_a_journal_import():
    """What a person opening the file sees: a header row, one row per line, the journal repeated."""
    document = {"fileType": "gl-posting", "ledger": "GL", "batchId": "PB-0000001", "createdAt": "2026-01-08T02:10:00",
                "currency": "EUR", "journals": [{
                    "postingId": "GL:invoice:INV-00000001", "docType": "invoice", "docId": "INV-00000001",
                    "accountId": "ACC-0000001", "postingDate": "2026-01-08", "description": "Invoice INV-00000001",
                    "lines": [{"lineNo": 1, "glAccount": "1100", "debit": "36.00", "credit": "0.00",
                               "description": "Receivables"},
                              {"lineNo": 2, "glAccount": "4000", "debit": "0.00", "credit": "30.00",
                               "description": "Revenue, \"Fibre\""},
                              {"lineNo": 3, "glAccount": "2200", "debit": "0.00", "credit": "6.00",
                               "description": "VAT"}]}]}
    assert gl_journal_csv(document).decode().splitlines() == [
        "BATCH_NO,JOURNAL_REF,JOURNAL_DATE,CURRENCY,DOC_TYPE,DOCUMENT,CUSTOMER_ID,DESCRIPTION,LINE_NO,ACCT_NO,"
        "DEBIT,CREDIT,MEMO",
        "PB-0000001,GL:invoice:INV-00000001,2026-01-08,EUR,invoice,INV-00000001,ACC-0000001,Invoice INV-00000001,"
        "1,1100,36.00,0.00,Receivables",
        "PB-0000001,GL:invoice:INV-00000001,2026-01-08,EUR,invoice,INV-00000001,ACC-0000001,Invoice INV-00000001,"
        "2,4000,0.00,30.00,\"Revenue, \"\"Fibre\"\"\"",
        "PB-0000001,GL:invoice:INV-00000001,2026-01-08,EUR,invoice,INV-00000001,ACC-0000001,Invoice INV-00000001,"
        "3,2200,0.00,6.00,VAT"]
    empty = {**document, "journals": []}
    assert gl_journal_csv(empty).decode() == ",".join(GL_COLUMNS) + "\n"
    assert read_gl_journal_import(gl_journal_csv(empty)).height == 0


def test_each_warehouse_takes_in_its_pick_requests_and_nothing_else(small_run):
    """Every order-request file handed to a warehouse is a CSV in the warehouse's inbox with the same
    lines, and the warehouse's intake (`wh_requests`) holds exactly those lines, from that CSV."""
    run_dir, key = small_run.run_dir, small_run.scenario.key()
    sent = small_run.sql("""SELECT party, name, path, records FROM generic_files
                            WHERE kind = 'order-request' AND status = 'Transmitted' ORDER BY name""").rows()
    assert len({party for party, *_ in sent}) == 2 and sum(r for *_, r in sent) > 100
    expected_csvs = set()
    for party, name, path, records in sent:
        document = json.loads(decrypt(key, "order-request", (run_dir / path).read_bytes()))
        csv = run_dir / "files" / "parties" / party / "inbox" / name.replace(".json.enc", ".csv")
        lines = sorted((line["requestLineId"], order["orderId"], line["productId"], line["quantity"],
                        line["serialised"]) for order in document["orders"] for line in order["lines"])
        assert len(lines) == records
        assert sorted(read_pick_request(csv.read_bytes()).select("CMP_REF", "ORDER_REF", "SKU", "QTY", "SERIALISED")
                      .rows()) == lines, csv
        taken = small_run.sql("""SELECT request_line_id, order_id, product_id, quantity, serialised FROM wh_requests
                                 WHERE warehouse_id = ? AND file_name = ? ORDER BY ALL""", [party, csv.name]).rows()
        assert taken == lines, csv
        expected_csvs.add(csv.relative_to(run_dir))
    assert {p.relative_to(run_dir) for p in run_dir.glob("files/parties/*/inbox/*")} == expected_csvs
    assert small_run.sql("SELECT count(*) AS n FROM wh_requests")["n"][0] == sum(r for *_, r in sent)


@pytest.mark.parametrize("fixture", ["small_run", "billing_run"])
def test_the_ledger_books_exactly_what_the_transmitted_files_said(request, fixture):
    """Every posting file the ledger system processed has its import file beside `received/`, and the
    books hold each of its records the ledger did not refuse — same ids, accounts and amounts to the
    cent — from that file and no other."""
    run = request.getfixturevalue(fixture)
    run_dir, key = run.run_dir, run.scenario.key()
    files = run.sql("SELECT file_name, ledger, status, records, accepted, rejected FROM acct_files ORDER BY ALL")
    assert set(files["status"]) == {"Processed"} and set(files["ledger"]) == {"SL", "GL"}
    refused = run.sql("SELECT source_file, posting_id FROM posting_responses WHERE outcome = 'rejected'").rows()
    assert refused  # each scenario has the ledger refuse records (a `reject` fault)
    for name, ledger, _, records, accepted, rejected in files.rows():
        kind = name.split("__")[0]
        document = json.loads(decrypt(key, kind, (run_dir / RECEIVED / name).read_bytes()))
        assert (run_dir / IMPORT / name.replace(".json.enc", ".csv")).is_file()
        not_booked = {p for source, p in refused if source == name}
        assert len(not_booked) == rejected and records == accepted + rejected
        if ledger == "SL":
            expected = sorted((r["postingId"], r["docType"], r["docId"], r["accountId"],
                               dt.date.fromisoformat(r["postingDate"]), Decimal(r["amount"]), r["description"])
                              for r in document["records"] if r["postingId"] not in not_booked)
            booked = run.sql("""SELECT posting_id, doc_type, doc_id, account_id, posting_date, amount, description
                                FROM sl_entries WHERE source_file = ? ORDER BY ALL""", [name]).rows()
        else:
            expected = sorted((j["postingId"], line["lineNo"], line["glAccount"], Decimal(line["debit"]),
                               Decimal(line["credit"]), line["description"], j["docType"], j["docId"], j["accountId"],
                               dt.date.fromisoformat(j["postingDate"]))
                              for j in document["journals"] if j["postingId"] not in not_booked for line in j["lines"])
            booked = run.sql("""SELECT j.posting_id, e.line_no, e.gl_account, e.debit, e.credit, e.description,
                                       e.doc_type, e.doc_id, e.account_id, e.posting_date
                                FROM gl_entries e JOIN gl_journals j USING (journal_id)
                                WHERE j.source_file = ? ORDER BY ALL""", [name]).rows()
        assert booked == expected, name
    imported = {p.name for p in (run_dir / IMPORT).iterdir()}
    assert imported == {n.replace(".json.enc", ".csv") for n in files["file_name"]}


def test_a_file_the_adaptor_cannot_open_is_refused_whole_and_never_imported(billing_run, tmp_path):
    sim = live_copy(billing_run, tmp_path / "copy", "2026-02-11T23:00:00")
    name = "gl-posting__ledger__PB-9999999.json.enc"
    document = {"fileType": "gl-posting", "ledger": "GL", "batchId": "PB-9999999", "createdAt": "2026-02-11T22:00:00",
                "currency": "EUR", "journals": []}
    (sim.run_dir / RECEIVED / name).write_bytes(encrypt(bytes(32), "gl-posting", name, encode_document(document)))
    books = sim.store.scalar("SELECT count(*) FROM gl_entries")
    assert sim.execute(Step("Ledger System", "external", None, accounting_system_step)) == 1
    assert sim.store.frame("SELECT status, reason FROM acct_files WHERE file_name = ?", [name]).rows() == [
        ("Refused", "authentication failed: the file was altered or encrypted with another key")]
    assert not (sim.run_dir / IMPORT / "gl-posting__ledger__PB-9999999.csv").exists()
    assert sim.store.scalar("SELECT count(*) FROM gl_entries") == books
    answer = sim.run_dir / "files" / "in" / "posting-error" / "posting-error__ledger__PB-9999999-GL.json.enc"
    error = json.loads(decrypt(sim.key, "posting-error", answer.read_bytes()))
    assert error["errors"] == [] and error["fileError"].startswith("authentication failed")
    assert not list((sim.run_dir / "files" / "in" / "posting-response").glob("*PB-9999999*"))  # nothing booked
    sim.store.close()
