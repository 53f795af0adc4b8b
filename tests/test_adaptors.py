"""The outbound adaptors: each outside party reads only its own format, and loses nothing on the way.

The warehouse reads pick-request CSVs its adaptor wrote from CMP's order-request files. The
conversion is a pure function, checked here by round trips over documents of every shape the
schema allows (odd text, the largest quantities), and on a real run: the party's files are where
the docs say, and what the warehouse took in is what CMP sent.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmpsim.files import decrypt
from cmpsim.orders.warehouse import PICK_COLUMNS, pick_request_csv, read_pick_request
from cmpsim.validation import first_problem

# Any text a scenario or a customer may put in a field: commas, quotes, line breaks, tabs, NUL, any
# script; never a lone surrogate, which is no text at all.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12)
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


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
