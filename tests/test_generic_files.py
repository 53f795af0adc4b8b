"""Generic files: real AES-GCM, schema-checked JSON, quarantine with reasons, duplicates by checksum."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmpsim.files import FileRejected, decrypt, encrypt, open_document
from cmpsim.validation import first_problem
from conftest import run_small

KEY = bytes(range(32))
# Every kind of generic file a week of the small scenario exchanges (payment instructions need a
# credit older than the refund delay: see tests/test_billing.py).
KINDS_IN_A_WEEK = {"order-request", "order-dispatch", "enrolment-request", "enrolment-response", "bank-statement",
                   "sl-posting", "gl-posting", "posting-response", "posting-error", "comms-status"}


def test_encryption_round_trip_is_deterministic_and_authenticated():
    blob = encrypt(KEY, "order-dispatch", "a.json.enc", b'{"x": 1}')
    assert blob == encrypt(KEY, "order-dispatch", "a.json.enc", b'{"x": 1}')
    assert blob != encrypt(KEY, "order-dispatch", "b.json.enc", b'{"x": 1}')  # other name, other nonce
    assert decrypt(KEY, "order-dispatch", blob) == b'{"x": 1}'
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(FileRejected, match="authentication failed"):
        decrypt(KEY, "order-dispatch", tampered)
    with pytest.raises(FileRejected, match="authentication failed"):
        decrypt(bytes(32), "order-dispatch", blob)  # wrong key
    with pytest.raises(FileRejected, match="authentication failed"):
        decrypt(KEY, "enrolment-response", blob)  # a file of one kind passed off as another
    with pytest.raises(FileRejected, match="bad header or truncated"):
        decrypt(KEY, "order-dispatch", blob[:20])


def test_schema_problems_become_quarantine_reasons():
    bad = {
        "fileType": "order-dispatch",
        "warehouseId": "WH",
        "dispatchRunAt": "2026-01-01T10:00:00",
        "sourceFile": "x.csv",
        "lines": [
            {
                "requestLineId": "RL-000000001",
                "orderId": "HW-00000001",
                "productId": "P",
                "quantity": 0,
                "status": "dispatched",
                "dispatchedAt": "2026-01-01T10:00:00",
            }
        ],
    }
    blob = encrypt(KEY, "order-dispatch", "f", json.dumps(bad).encode())
    with pytest.raises(FileRejected) as caught:
        open_document(KEY, "order-dispatch", "order-dispatch.schema.json", blob)
    assert str(caught.value) == (
        "schema order-dispatch.schema.json: lines[0].quantity: expected a number >= 1, found 0"
    )
    with pytest.raises(FileRejected, match="not JSON"):
        open_document(KEY, "order-dispatch", "order-dispatch.schema.json", encrypt(KEY, "order-dispatch", "f", b"{"))


def all_generic_files(run_dir: Path):
    for path in sorted((run_dir / "files").rglob("*.json.enc")):
        yield path.name.split("__")[0], path


def test_every_file_the_run_wrote_validates_against_its_schema(small_run):
    key = small_run.scenario.key()
    seen = set()
    for kind, path in all_generic_files(small_run.run_dir):
        if "quarantine" in path.parts:
            continue
        document = json.loads(decrypt(key, kind, path.read_bytes()))
        assert first_problem(f"{kind}.schema.json", document) is None, path
        seen.add(kind)
    assert seen == KINDS_IN_A_WEEK


def test_every_registered_file_is_on_disk_with_its_checksum(small_run):
    import hashlib

    files = small_run.sql("SELECT path, sha256, direction, status FROM generic_files")
    assert set(files["status"]) == {"Transmitted", "Extracted", "Loaded", "Quarantined", "Duplicate"}
    for path, digest, _, _ in files.rows():
        assert hashlib.sha256((small_run.run_dir / path).read_bytes()).hexdigest() == digest


def test_tampered_file_is_quarantined_with_its_reason_and_nothing_applied(small_run):
    rows = small_run.sql("SELECT * FROM generic_files WHERE status = 'Quarantined'")
    assert rows.height == 1
    row = rows.row(0, named=True)
    assert row["reason"] == "authentication failed: the file was altered or encrypted with another key"
    quarantined = small_run.run_dir / row["path"]
    assert quarantined.is_file()  # kept, not lost
    note = json.loads((quarantined.parent / (quarantined.name + ".reason.json")).read_text())
    assert note["reason"] == row["reason"] and note["file_id"] == row["file_id"]
    assert small_run.sql("SELECT count(*) AS n FROM dispatch_batches WHERE file_id = ?", [row["file_id"]])["n"][0] == 0
    injected = small_run.sql("SELECT kind, file_name FROM faults_injected WHERE kind = 'tamper'")
    assert injected.rows() == [("tamper", row["name"])]


def test_duplicate_file_is_recognised_by_checksum_and_applied_once(small_run):
    dup = small_run.sql("SELECT * FROM generic_files WHERE status = 'Duplicate'").row(0, named=True)
    original = small_run.sql("SELECT * FROM generic_files WHERE file_id = ?", [dup["duplicate_of"]]).row(0, named=True)
    assert original["status"] == "Loaded" and original["sha256"] == dup["sha256"]
    assert dup["reason"] == f"same content as {original['file_id']}, already loaded"
    applied = small_run.sql("SELECT count(*) AS n FROM dispatch_batches")["n"][0]
    loaded = small_run.sql(
        "SELECT count(*) AS n FROM generic_files WHERE kind = 'order-dispatch' AND status = 'Loaded'"
    )
    assert applied == loaded["n"][0]


def test_garbled_and_lost_files(tmp_path):
    run = run_small(
        tmp_path / "run",
        horizon_days=4,
        faults=[
            {"kind": "garble", "file_kind": "order-dispatch", "date": "2026-01-07"},
            {"kind": "lose", "file_kind": "enrolment-response", "date": "2026-01-07"},
        ],
    )
    try:
        garbled = run.sql("SELECT reason FROM generic_files WHERE status = 'Quarantined'")["reason"].to_list()
        assert garbled == [
            "schema order-dispatch.schema.json: garbled: expected one of the fields "
            "dispatchRunAt, fileType, lines, sourceFile, warehouseId, found unknown field 'garbled'"
        ]
        lost = run.sql("SELECT file_name FROM faults_injected WHERE kind = 'lose'")["file_name"].to_list()
        assert len(lost) == 1
        assert run.sql("SELECT count(*) AS n FROM generic_files WHERE name = ?", lost)["n"][0] == 0
        # the instructions the lost file answered stay Sent: visible, not silently completed
        assert (
            run.sql(
                "SELECT count(*) AS n FROM mf_requests m JOIN enrolment_instructions i USING (instruction_id) "
                "WHERE m.answered_in = ? AND i.status = 'Sent'",
                lost,
            )["n"][0]
            > 0
        )
    finally:
        run.close()


def loader_simulation(tmp_path):
    """A bare run folder with the hardware tables and the load daemon, nothing else running."""
    from cmpsim import orders
    from cmpsim.engine import Every, Simulation, Step
    from cmpsim.orders.dispatch import load_sales_orders_step
    from cmpsim.scenario import load
    from cmpsim.store import Store
    from conftest import SMALL

    store = Store(tmp_path / "cmpsim.duckdb")
    orders.create_tables(store)
    sim = Simulation(scenario=load(SMALL), store=store, run_dir=tmp_path, key=KEY)
    return sim, Step("Load Sales Orders From Generic Format", "daemon", Every(3600), load_sales_orders_step)


def deliver(tmp_path, name: str, document) -> None:
    inbox = tmp_path / "files" / "in" / "order-dispatch"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / name).write_bytes(encrypt(KEY, "order-dispatch", name, json.dumps(document).encode()))


def dispatch_document(dispatched_at: str) -> dict:
    return {"fileType": "order-dispatch", "warehouseId": "WH-NORTH", "dispatchRunAt": "2026-01-05T17:00:00",
            "sourceFile": "x.csv", "lines": [{"requestLineId": "RL-000000001", "orderId": "HW-00000001",
                                              "productId": "PHN-X200", "quantity": 1, "status": "dispatched",
                                              "dispatchedAt": dispatched_at, "serialNumbers": ["SN1"]}]}


def test_an_impossible_date_is_quarantined_and_the_next_file_still_loads(tmp_path):
    sim, step = loader_simulation(tmp_path)
    deliver(tmp_path, "order-dispatch__WH-NORTH__a.json.enc", dispatch_document("2026-06-31T17:00:00"))
    deliver(tmp_path, "order-dispatch__WH-NORTH__b.json.enc", dispatch_document("2026-06-30T17:00:00"))
    assert sim.execute(step) == 2
    files = sim.store.frame("SELECT name, status, reason FROM generic_files ORDER BY name")
    assert files.rows() == [
        ("order-dispatch__WH-NORTH__a.json.enc", "Quarantined",
         "lines[0].dispatchedAt: expected a real date and time, found '2026-06-31T17:00:00'"),
        ("order-dispatch__WH-NORTH__b.json.enc", "Loaded", None)]
    assert sim.store.frame("SELECT count(*) AS n FROM dispatch_lines")["n"][0] == 1
    assert (tmp_path / "files" / "quarantine" / "order-dispatch" / "order-dispatch__WH-NORTH__a.json.enc").is_file()
    assert not any((tmp_path / "files" / "in" / "order-dispatch").iterdir())


def test_dispatch_lines_that_do_not_match_their_request_are_kept_but_not_applied(tmp_path):
    from cmpsim.engine import OnWork, Step
    from cmpsim.orders.dispatch import sales_order_dispatch_step

    sim, load_step = loader_simulation(tmp_path)
    sim.con.execute("""INSERT INTO request_lines VALUES ('RL-000000001', 'HW-00000001', 1, 1, 'PHN-X200', 1,
                       'WH-NORTH', 'WB-0000001', 'Sent', NULL, NULL, NULL, NULL)""")
    document = dispatch_document("2026-01-05T17:00:00")
    document["lines"][0]["quantity"] = 5  # the warehouse claims five units of a one-unit request
    unknown = {**document["lines"][0], "requestLineId": "RL-000000999", "quantity": 1}
    document["lines"].append(unknown)
    deliver(tmp_path, "order-dispatch__WH-NORTH__a.json.enc", document)
    sim.execute(load_step)
    sim.execute(Step("Sales Order Dispatch", "job", OnWork("x"), sales_order_dispatch_step))
    verdicts = sim.store.frame("SELECT request_line_id, applied FROM dispatch_lines ORDER BY 1").rows()
    assert verdicts == [("RL-000000001", "ignored: order, product or quantity differ from the request line"),
                        ("RL-000000999", "ignored: unknown request line")]
    assert sim.store.frame("SELECT status FROM request_lines")["status"].to_list() == ["Sent"]


def mutations(document):
    """Every path of a document, for a fuzzer to put something else there."""
    def walk(node, prefix):
        yield prefix
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in children:
            yield from walk(value, prefix + (key,))
    return [p for p in walk(document, ()) if p]


VALID_DISPATCH = dispatch_document("2026-01-05T17:00:00")


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(where=st.sampled_from(mutations(VALID_DISPATCH)),
       value=st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.text(max_size=30)
       | st.lists(st.integers(), max_size=3) | st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
def test_a_dispatch_file_with_anything_anywhere_is_loaded_or_quarantined(tmp_path_factory, where, value):
    import copy

    folder = tmp_path_factory.mktemp("fuzz")
    sim, step = loader_simulation(folder)
    document = copy.deepcopy(VALID_DISPATCH)
    node = document
    for part in where[:-1]:
        node = node[part]
    node[where[-1]] = value
    deliver(folder, "order-dispatch__WH-NORTH__f.json.enc", document)
    sim.execute(step)
    status = sim.store.frame("SELECT status FROM generic_files")["status"].to_list()
    assert status in (["Loaded"], ["Quarantined"])
    staged = sim.store.frame("SELECT count(*) AS n FROM dispatch_lines")["n"][0]
    assert staged == (1 if status == ["Loaded"] else 0)  # all of a file or nothing
    sim.store.close()
