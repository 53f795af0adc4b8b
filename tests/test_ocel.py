"""The OCEL 2.0 export as a process miner meets it: PM4Py reads the JSON and the SQLite form, they
hold every event and object of the run, and the process map of a run with hardware and service
orders shows the seeds' order lifecycle — with revisions, follow-ons, errors and reposts."""

from __future__ import annotations

import json
import shutil
from collections import Counter, deque

import pm4py
import pytest
from click.testing import CliRunner

import cmpsim
from cmpsim.cli import main
from cmpsim.exchange import export_ocel
from cmpsim.scenario import load
from conftest import TESTS

BASE = TESTS / "scenarios" / "tmf-small.yaml"
# A future-dated order revised before it starts (a line added) and a follow-on waiting for its line,
# beside the random service and hardware traffic.
# REV-BASE starts at 12:00 and passes its point of no return at 13:45: FOLLOW comes after (seed 004).
REVISED = [
    {"id": "REV-BASE", "at": "2026-01-06T09:00", "due": "2026-01-06T12:00", "account": "ACC-DEMO-1", "priority": 5,
     "lines": [{"line": "1", "product": "INET", "action": "Add"}]},
    {"id": "REV", "type": "supplemental", "base_order": "REV-BASE", "at": "2026-01-06T09:30", "account": "ACC-DEMO-1",
     "lines": [{"line": "1", "product": "INET", "action": "Add"}, {"line": "2", "product": "IPTV", "action": "Add"}]},
    {"id": "FOLLOW", "type": "follow-on", "base_order": "REV-BASE", "at": "2026-01-06T15:00", "account": "ACC-DEMO-1",
     "lines": [{"line": "1", "product": "INET", "action": "Suspend", "asset": "AS-REV-BASE-1", "depends_on": "1"}]},
]
# The object types the issue names, and the table that holds one row per object of each.
TABLES = {"order": "orders", "order line": "order_lines", "warehouse batch": "warehouse_batches",
          "generic file": "generic_files", "invoice": "invoices", "payment": "payments",
          "ledger journal": "gl_journals", "communication": "comms", "account": "accounts", "charge": "charges",
          "device": "devices", "asset": "assets", "statement": "statements", "posting": "postings", "case": "wf_cases"}


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    """Four days to the first bill cycle and the morning repost of a refused journal (fault of small.yaml)."""
    run = cmpsim.run(load(BASE, overrides={"horizon_days": 4, "service": {"explicit_orders": REVISED}}),
                     out=tmp_path_factory.mktemp("ocel") / "run")
    yield run
    run.close()


@pytest.fixture(scope="module")
def exported(mixed_run, tmp_path_factory):
    return export_ocel(mixed_run, tmp_path_factory.mktemp("ocel-out"))


@pytest.fixture(scope="module")
def logs(exported):
    json_path, sqlite_path = exported.paths
    return {"json": pm4py.read_ocel2_json(str(json_path)), "sqlite": pm4py.read_ocel2_sqlite(str(sqlite_path))}


@pytest.fixture(scope="module")
def raw(exported) -> dict:
    return json.loads(exported.paths[0].read_text())


def db_count(run: cmpsim.Run, table: str) -> int:
    return run.sql(f"SELECT count(*) FROM {table}").item()


@pytest.mark.parametrize("form", ["json", "sqlite"])
def test_pm4py_reads_every_event_of_the_run(logs, mixed_run, form):
    ocel = logs[form]
    expected = dict(mixed_run.sql("SELECT activity, count(*) FROM events GROUP BY 1").rows())
    assert len(ocel.events) == db_count(mixed_run, "events") == sum(expected.values()) > 1000
    assert Counter(ocel.events["ocel:activity"]) == expected


def test_the_files_hold_one_object_per_row_of_each_object_table(raw, mixed_run, exported):
    in_file = Counter(o["type"] for o in raw["objects"])
    for ocel_type, table in TABLES.items():
        assert in_file[ocel_type] == exported.objects.get(ocel_type, 0) == db_count(mixed_run, table), ocel_type
    assert len(raw["events"]) == db_count(mixed_run, "events")


@pytest.mark.parametrize("form", ["json", "sqlite"])
def test_pm4py_keeps_the_objects_that_take_part_in_events(logs, raw, mixed_run, form):
    """PM4Py drops objects no event touches (an account that never ordered, an installed-base asset
    never billed in the run); every object the process touched is there, with its type."""
    touched = {r["objectId"] for e in raw["events"] for r in e["relationships"]}
    expected = Counter(o["type"] for o in raw["objects"] if o["id"] in touched)
    assert Counter(logs[form].objects["ocel:type"]) == expected
    for ocel_type in ("order", "order line", "warehouse batch", "generic file", "invoice", "ledger journal",
                      "communication", "posting", "charge", "statement"):
        assert expected[ocel_type] == db_count(mixed_run, TABLES[ocel_type]) > 0, ocel_type
    assert 0 < expected["account"] <= db_count(mixed_run, "accounts")


def test_both_forms_read_the_same(logs):
    for part in ("events", "objects", "relations", "o2o"):
        assert len(getattr(logs["json"], part)) == len(getattr(logs["sqlite"], part)), part


def reachable(edges: set[tuple[str, str]], start: str, goal: str) -> bool:
    seen, todo = {start}, deque([start])
    while todo:
        here = todo.popleft()
        if here == goal:
            return True
        for a, b in edges:
            if a == here and b not in seen:
                seen.add(b)
                todo.append(b)
    return False


def test_the_process_map_shows_the_order_lifecycle_of_the_seeds(logs):
    ocdfg = pm4py.discover_ocdfg(logs["json"])
    edges = {ot: set(couples) for ot, couples in ocdfg["edges"]["event_couples"].items()}
    order = edges["order"]
    assert set(ocdfg["start_activities"]["events"]["order"]) == {"Order Created", "Order Submitted",
                                                                 "Revision Submitted"}
    # hardware (seeds 000, 001): every step directly follows the one before for some order
    hardware = ["Order Created", "Item Added", "Order Generated", "Order Request Generated", "Fraud Check Passed",
                "File Extracted", "File Transmitted", "Item Dispatched", "File Loaded", "Charge Created",
                "Order Complete", "Comm Requested"]
    assert set(zip(hardware, hardware[1:], strict=False)) <= order
    assert ("Fraud Check Failed", "Order Error") in order
    # service (seed 004): released, worked line by line, assets changed, complete; then billed
    assert {("Line Complete", "Asset Active"), ("Asset Active", "Order Complete")} <= order
    for a, b in [("Order Submitted", "Fulfilment Started"), ("Fulfilment Started", "Line Complete"),
                 ("Order Complete", "Invoice Produced"), ("Revision Submitted", "Revision Applied")]:
        assert reachable(order, a, b), (a, b)
    # the other lifecycles: files, communications, the repost of a refused posting
    assert ("File Extracted", "File Transmitted") in edges["generic file"]
    assert ("Comm Requested", "Comm Gathered") in edges["communication"]
    assert ("Posting Rejected", "Posting Reposted") in edges["posting"]


def test_revisions_follow_ons_errors_and_reposts_are_related(raw, mixed_run):
    ids = dict(mixed_run.sql("SELECT external_id, order_id FROM service_orders WHERE external_id IS NOT NULL").rows())
    objects = {o["id"]: o for o in raw["objects"]}
    assert {"objectId": ids["REV-BASE"], "qualifier": "revises"} in objects[ids["REV"]]["relationships"]
    assert {"objectId": ids["REV-BASE"], "qualifier": "follows"} in objects[ids["FOLLOW"]]["relationships"]
    activities = Counter(e["type"] for e in raw["events"])
    assert activities["File Quarantined"] == activities["File Duplicate"] == 1  # the tampered and the resent file
    repost = next(e for e in raw["events"] if e["type"] == "Posting Reposted")
    qualifiers = {r["qualifier"] for r in repost["relationships"]}
    assert {"posting", "document", "customer", "job"} <= qualifiers
    posting = next(r["objectId"] for r in repost["relationships"] if r["qualifier"] == "posting")
    journal = next(o for o in raw["objects"] if o["type"] == "ledger journal"
                   and {"objectId": posting, "qualifier": "books"} in o["relationships"])
    assert journal["id"].startswith("JNL-")


def test_an_order_carries_its_status_over_time(raw, mixed_run):
    order = mixed_run.sql("""SELECT order_id FROM orders WHERE kind = 'hardware' AND status = 'Complete'
                             ORDER BY order_id LIMIT 1""").item()
    spec = next(o for o in raw["objects"] if o["id"] == order)
    statuses = [(a["time"], a["value"]) for a in spec["attributes"] if a["name"] == "status"]
    times = mixed_run.sql("""SELECT strftime(ts, '%Y-%m-%dT%H:%M:%SZ'), activity FROM events
                             WHERE object_id = ? AND activity IN ('Order Created', 'Order Generated',
                                   'Order Request Generated', 'Order Complete') ORDER BY seq""", [order]).rows()
    assert [v for _, v in statuses] == ["New", "Awaiting Generation", "Awaiting Dispatch", "Complete"]
    assert sorted(t for t, _ in statuses) == sorted(t for t, _ in times)
    constant = {a["name"]: a for a in spec["attributes"] if a["name"] != "status"}
    assert constant["kind"] == {"name": "kind", "time": "1970-01-01T00:00:00Z", "value": "hardware"}


def test_amounts_are_written_exactly(exported, mixed_run):
    text = exported.paths[0].read_text()
    for invoice_id, gross in mixed_run.sql("SELECT invoice_id, gross_amount FROM invoices").rows():
        assert f'{{"name":"gross_amount","time":"1970-01-01T00:00:00Z","value":{gross}}}' in text, invoice_id


def test_the_same_run_exports_the_same_bytes(mixed_run, exported, tmp_path):
    again = export_ocel(mixed_run, tmp_path)
    for first, second in zip(exported.paths, again.paths, strict=True):
        assert first.read_bytes() == second.read_bytes(), first.name


def test_the_command_writes_the_chosen_form_and_refuses_a_folder_that_is_no_run(mixed_run, tmp_path):
    copy = tmp_path / "copy"  # the fixture keeps its run open for writing: the command reads a copy
    shutil.copytree(mixed_run.run_dir, copy)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["export-ocel", str(copy), str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{db_count(mixed_run, 'events'):,} events of ")
    assert [p.name for p in out.iterdir()] == ["copy.json"]
    result = CliRunner().invoke(main, ["export-ocel", str(out), str(tmp_path / "x")])
    assert result.exit_code == 2
    assert result.stderr == (f"cmpsim: error: {out}: expected a run folder written by cmpsim run, "
                             "found no run.json and cmpsim.duckdb\n")
    assert not (tmp_path / "x").exists()
