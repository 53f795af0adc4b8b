"""Probes (seed 002): read-only queries held to a target; alert probes notify, SLA probes only record.

One small run with three probes serves every test that needs a run: an alert and an SLA probe on
hardware orders waiting for dispatch for more than a day (breached on some days, not on others),
and an integrity probe that is never breached.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from decimal import Decimal

import pytest

import cmpsim
from cmpsim import probes
from cmpsim.errors import InputError
from cmpsim.scenario import load
from cmpsim.store import Store
from conftest import SMALL, run_small

STUCK = ("SELECT count(*) FROM orders WHERE kind = 'hardware' AND status = 'Awaiting Dispatch' "
         "AND created_at < $now - INTERVAL 1 DAY")
ALERT, SLA, INTEGRITY = "Hardware Orders Stuck Alert", "Hardware Orders Stuck SLA", "Orders Have Accounts"
RECIPIENTS = ["ops@example.net", "warehouse@example.net"]
PROBES = [
    {"name": ALERT, "kind": "alert", "query": STUCK, "target": "== 0", "recipients": RECIPIENTS,
     # 12:10: no other step of the small scenario wakes then, so the order history says exactly what it saw
     "schedule": {"at": ["12:10"]},
     "detail_query": STUCK.replace("count(*)", "order_id, created_at") + " ORDER BY created_at, order_id"},
    {"name": SLA, "kind": "sla", "query": STUCK, "target": "== 0", "schedule": {"at": ["12:10"]},
     "recipients": RECIPIENTS},
    {"name": INTEGRITY, "kind": "alert", "target": "== 0", "schedule": {"every_minutes": 720},
     "query": "SELECT count(*) FROM orders o "
              "WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.account_id = o.account_id)",
     "recipients": ["ops@example.net"]},
]
START = dt.datetime(2026, 1, 5)
DAYS = 6  # tests/scenarios/small.yaml


@pytest.fixture(scope="module")
def probed_run(tmp_path_factory):
    """The folder of a finished small run with PROBES, closed so other processes can open it."""
    out = tmp_path_factory.mktemp("probes") / "run"
    run_small(out, probes=PROBES).close()
    return out


@pytest.fixture
def opened(probed_run):
    with cmpsim.open_run(probed_run) as run:
        yield run


def cmpsim_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cmpsim", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


# --- what a probe may ask -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("DELETE FROM orders", "a statement of type DELETE"),
        ("UPDATE orders SET status = 'Complete'", "a statement of type UPDATE"),
        ("SELECT count(*) FROM orders; SELECT 1", "2 statements"),
        ("CREATE TABLE mine (a INTEGER)", "a statement of type CREATE"),
        ("COPY orders TO '/tmp/orders.csv'", "a statement of type COPY"),
        ("ATTACH '/tmp/other.duckdb' AS other", "a statement of type ATTACH"),
        ("PRAGMA version", "a statement of type PRAGMA"),
        ("SELECT * FROM read_csv('/etc/passwd')", "the table function read_csv"),
        ("SELECT count(*) FROM orders WHERE EXISTS (SELECT 1 FROM query('SELECT 1'))", "the table function query"),
        ("SELECT * FROM '/etc/passwd'", "Catalog Error: Table with name /etc/passwd does not exist!"),
        ("SELECT count(*) FROM nope", "Catalog Error: Table with name nope does not exist!"),
        ("SELECT count(nope) FROM orders", "Binder Error: Referenced column \"nope\" not found in FROM clause!"),
        ("SELECT count(*) FROM duckdb_settings()", "the table function duckdb_settings"),
        ("SELECT count(*) FROM duckdb_tables", "duckdb_tables, a table of DuckDB's catalog"),
        ("SELECT count(*) FROM information_schema.tables", "information_schema.tables"),
        ("SELECT count(*) FROM orders WHERE status = ?", "the positional parameter ? or $1"),
        ("SELECT count(*) FROM orders WHERE created_at > $yesterday", "$yesterday"),
        ("SELECT count(*) FROM orders WHERE created_at::DATE = current_date", "current_date"),
        ("SELECT count(*) FROM orders WHERE created_at > now()", "now()"),
        ("SELECT random()", "random()"),
        ("SELECT count(*) FROM orders USING SAMPLE 10%", "a sample (USING SAMPLE or TABLESAMPLE)"),
        ("DESCRIBE orders", "DESCRIBE, SHOW or SUMMARIZE"),
        ("WITH d AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM d", "a DELETE inside it"),
        ("WITH d AS (UPDATE orders SET status = 'x' RETURNING *) SELECT count(*) FROM d", "an UPDATE inside it"),
        ("WITH d AS (INSERT INTO orders SELECT * FROM orders RETURNING *) SELECT count(*) FROM d",
         "an INSERT inside it"),
        # DuckDB 2: the overloads over TIMESTAMP WITH TIME ZONE depend on the session's time zone.
        ("SELECT count(*) FROM orders WHERE created_at > now() - INTERVAL 1 DAY", "now()"),
        ("SELECT max(date_diff('day', created_at::TIMESTAMPTZ, $now::TIMESTAMPTZ)) FROM orders",
         "date_diff(VARCHAR, TIMESTAMP WITH TIME ZONE, TIMESTAMP WITH TIME ZONE)"),
        ("SELECT count(*) FROM orders WHERE timezone('UTC', created_at) > $now",
         "a TIMESTAMP WITH TIME ZONE value"),
        ("SELECT count(*) FROM orders WHERE to_timestamp(1)::VARCHAR > status", "a TIMESTAMP WITH TIME ZONE value"),
    ],
)
def test_query_problem_refuses_what_a_probe_may_not_run(query, found):
    problem = probes.query_problem(query)
    assert problem is not None and problem[1] == found
    assert all("\n" not in part for part in problem)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT count(*) FROM orders WHERE created_at::DATE = $today",
        "SELECT count(*) FROM postings WHERE status = 'Rejected'",  # a ledger table: the contract, run or not
        "SELECT count(*) FROM job_runs WHERE job = 'Usage Archiving' AND status = 'Completed' "
        "AND started_at::DATE = $today",
        "WITH late AS (SELECT * FROM orders WHERE created_at < $now - INTERVAL 2 DAY AND created_at >= $start) "
        "SELECT count(*) FROM late, range(1)",
        # Arithmetic and date functions over the simulated clock and columns bind pure overloads.
        "SELECT count(*) FROM orders WHERE created_at > $now - INTERVAL 1 DAY",
        "SELECT coalesce(max(date_diff('minute', created_at, $now)), 0) FROM orders",
        "SELECT count(*) FROM orders WHERE date_part('hour', created_at) < 6 AND $today - 1 < created_at::DATE",
        "SELECT count(*) FROM orders WHERE date_trunc('day', created_at) = $today + INTERVAL 1 DAY",
    ],
)
def test_query_problem_accepts_a_read_only_select_over_the_run_database(query):
    assert probes.query_problem(query) is None


def test_a_scenario_whose_probe_writes_does_not_load():
    probe = dict(PROBES[1], query="DELETE FROM orders")
    with pytest.raises(InputError) as caught:
        load(SMALL, overrides={"probes": [probe]})
    assert "probes[0].query: expected a read-only SELECT statement, found a statement of type DELETE" in str(
        caught.value)


# --- evaluation -----------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "probe.duckdb")
    store.con.execute("""INSERT INTO orders (order_id, kind, order_type, account_id, status, priority, created_at)
                         VALUES ('O-1', 'hardware', 'new', 'ACC-1', 'Awaiting Dispatch', 5, '2026-01-05 09:00')""")
    yield store
    store.close()


def probe(query: str, target: str = "== 0", **more) -> dict:
    return {"name": "p", "kind": "alert", "query": query, "target": target, "schedule": {"at": ["06:00"]}, **more}


def evaluate(store: Store, *declared: dict, at: dt.datetime = dt.datetime(2026, 1, 7, 6)):
    return probes.evaluate(store.con, list(declared), at, START, "on demand").to_dicts()


@pytest.mark.parametrize("query", ["DELETE FROM orders", "UPDATE orders SET status = 'Complete'",
                                   "INSERT INTO orders SELECT * FROM orders", "DROP TABLE orders"])
def test_evaluate_never_writes_even_a_write_statement_handed_to_it(store, query):
    before = store.con.execute("SELECT * FROM orders").fetchall()
    [result] = evaluate(store, probe(query))
    assert store.con.execute("SELECT * FROM orders").fetchall() == before
    assert result["breached"] and result["value"] is None and result["detail"].startswith("query failed: ")


def test_evaluate_with_check_refuses_to_run_what_a_scenario_could_not_declare(store):
    """evaluate_run re-checks the probes it reads back from a run database before running them."""
    declared = probe("SELECT count(*) FROM read_text('/etc/passwd')")
    result = probes.evaluate(store.con, [declared], dt.datetime(2026, 1, 7), START, "on demand", check=True).row(
        0, named=True)
    assert result["breached"] and result["detail"] == (
        "query refused: expected tables of the run database, unnest, range or generate_series, "
        "found the table function read_text")


def test_evaluate_sees_committed_data_only_while_a_step_is_open(store):
    """The engine runs each step in a transaction on the same connection: a probe sees the state
    every earlier step committed, not what the step around it has not committed yet."""
    store.con.execute("BEGIN TRANSACTION")
    store.con.execute("UPDATE orders SET status = 'Complete'")
    [result] = evaluate(store, probe("SELECT count(*) FROM orders WHERE status = 'Awaiting Dispatch'"))
    store.con.execute("COMMIT")
    assert result["value"] == Decimal(1) and result["breached"]


def test_parameters_are_the_simulated_moment(store):
    stuck = probe("SELECT count(*) FROM orders WHERE created_at < $now - INTERVAL 1 DAY AND created_at >= $start")
    today = probe("SELECT count(*) FROM orders WHERE created_at::DATE = $today", "> 0")
    assert [r["breached"] for r in evaluate(store, stuck, today, at=dt.datetime(2026, 1, 5, 12))] == [False, False]
    assert [r["breached"] for r in evaluate(store, stuck, today, at=dt.datetime(2026, 1, 6, 12))] == [True, True]


def test_a_value_that_is_no_number_is_a_breach_with_its_reason(store):
    results = evaluate(store, probe("SELECT NULL"), probe("SELECT 'x'"), probe("SELECT 'x'::INTEGER"),
                       probe("SELECT count(*) FROM orders WHERE false", "> 0"), probe("SELECT ' 0.5 '", "< 1"))
    assert [(r["breached"], r["detail"]) for r in results] == [
        (True, "no value"),
        (True, "not a number: 'x'"),
        (True, "query failed: Conversion Error: Could not convert string 'x' to INT32"),
        (True, None),
        (False, None),
    ]
    assert results[3]["value"] == 0 and results[4]["value"] == Decimal("0.5")


def test_a_breach_keeps_the_rows_behind_it_as_canonical_json(store):
    [result] = evaluate(store, probe("SELECT count(*) FROM orders", detail_query="SELECT * FROM orders; -- all"))
    [row] = json.loads(result["detail"])
    assert row["order_id"] == "O-1" and row["created_at"] == "2026-01-05 09:00:00" and row["completed_at"] is None
    assert result["detail"] == json.dumps([row], sort_keys=True, separators=(",", ":"))


# --- inside the run -------------------------------------------------------------------------------


def expected_stuck(run, at: dt.datetime) -> int:
    """Orders waiting for dispatch at `at` for more than a day, from the order history alone."""
    return run.con.execute("""
        SELECT count(*) FROM orders o
        WHERE o.kind = 'hardware' AND o.created_at < ?::TIMESTAMP - INTERVAL 1 DAY
          AND EXISTS (SELECT 1 FROM events e WHERE e.object_id = o.order_id AND e.ts < ?
                      AND e.activity = 'Order Request Generated')
          AND NOT EXISTS (SELECT 1 FROM events e WHERE e.object_id = o.order_id AND e.ts < ?
                          AND e.activity IN ('Order Complete', 'Order Error'))""", [at, at, at]).fetchall()[0][0]


def test_each_probe_is_evaluated_at_each_scheduled_time(opened):
    results = opened.sql("SELECT probe, evaluated_at, mode FROM probe_results ORDER BY probe, evaluated_at")
    by_probe = {name: results.filter(probe=name)["evaluated_at"].to_list() for name in (ALERT, SLA, INTEGRITY)}
    daily = [START + dt.timedelta(days=d, hours=12, minutes=10) for d in range(DAYS)]
    assert by_probe[ALERT] == by_probe[SLA] == daily
    assert by_probe[INTEGRITY] == [START + dt.timedelta(hours=12 * k) for k in range(1, 2 * DAYS)]
    assert set(results["mode"]) == {"scheduled"}
    runs = opened.sql("SELECT job, count(*) AS n FROM job_runs WHERE component = 'probe' GROUP BY job ORDER BY job")
    assert runs.rows() == [(f"Probe {ALERT}", 6), (f"Probe {SLA}", 6), (f"Probe {INTEGRITY}", 11)]


def test_a_breach_is_what_the_order_history_shows(opened):
    results = opened.sql(f"SELECT evaluated_at, value, breached FROM probe_results WHERE probe = '{ALERT}'").rows()
    expected = [(at, Decimal(expected_stuck(opened, at)).quantize(probes.VALUE_SCALE)) for at, _, _ in results]
    assert [(at, value) for at, value, _ in results] == expected
    assert all(breached == (value != 0) for _, value, breached in results)
    assert {breached for _, _, breached in results} == {True, False}  # the run shows both cases
    integrity = opened.sql(f"SELECT DISTINCT value, breached FROM probe_results WHERE probe = '{INTEGRITY}'")
    assert integrity.rows() == [(Decimal(0), False)]


def test_an_alert_probe_notifies_each_recipient_and_an_sla_probe_no_one(opened):
    breaches = opened.sql(f"""SELECT evaluated_at, value, detail FROM probe_results
                              WHERE probe = '{ALERT}' AND breached ORDER BY evaluated_at""").rows()
    alerts = opened.sql("SELECT probe, evaluated_at, recipient, message, status FROM probe_alerts "
                        "ORDER BY evaluated_at, recipient").rows()
    assert alerts == [
        (ALERT, at, recipient,
         f"Probe '{ALERT}' breached at {at:%Y-%m-%d %H:%M}: value {int(value)}, target == 0", "Requested")
        for at, value, _ in breaches for recipient in RECIPIENTS
    ]  # recorded Pending, then taken by the communications process (Requested: one communication each)
    sent = opened.sql(f"SELECT count(*) AS n FROM comms WHERE trigger = 'probe_alert' AND object_id LIKE '{ALERT} @%'")
    assert sent["n"][0] == len(alerts)
    first_rows = json.loads(breaches[0][2])
    assert 0 < len(first_rows) <= probes.DETAIL_ROWS_MAX and set(first_rows[0]) == {"order_id", "created_at"}
    assert first_rows == sorted(first_rows, key=lambda r: (r["created_at"], r["order_id"]))


def test_every_breach_is_an_event(opened):
    events = opened.sql("SELECT ts, object_id, activity, job, detail FROM events WHERE object_type = 'probe' "
                        "ORDER BY object_id, ts").rows()
    breaches = opened.sql("SELECT probe, evaluated_at, value FROM probe_results WHERE breached "
                          "ORDER BY probe, evaluated_at").rows()
    activity = {ALERT: "Probe Alert Raised", SLA: "SLA Breached"}
    assert events == [
        (at, name, activity[name], f"Probe {name}",
         f"Probe '{name}' breached at {at:%Y-%m-%d %H:%M}: value {int(value)}, target == 0")
        for name, at, value in breaches
    ]


# --- after the run --------------------------------------------------------------------------------


def test_evaluate_run_judges_the_end_of_the_run_and_writes_nothing(opened):
    end = START + dt.timedelta(days=DAYS)
    stored = opened.sql("SELECT count(*) FROM probe_results").item()
    results = {r["probe"]: r for r in probes.evaluate_run(opened).to_dicts()}
    assert list(results) == [ALERT, SLA, INTEGRITY]
    assert {r["evaluated_at"] for r in results.values()} == {end} and results[ALERT]["mode"] == "on demand"
    assert results[ALERT]["value"] == results[SLA]["value"] == expected_stuck(opened, end)
    assert results[ALERT]["alert_to"] == (RECIPIENTS if results[ALERT]["breached"] else [])
    assert results[SLA]["alert_to"] == [] and not results[INTEGRITY]["breached"]
    assert opened.sql("SELECT count(*) FROM probe_results").item() == stored
    with pytest.raises(InputError, match="at: expected a moment within the run"):
        probes.evaluate_run(opened, dt.datetime(2027, 1, 1))


def test_cli_exits_1_when_a_probe_is_breached_and_0_when_none_is(probed_run):
    with cmpsim.open_run(probed_run) as run:
        stuck_at_end = expected_stuck(run, START + dt.timedelta(days=DAYS))
    assert stuck_at_end > 0  # the small run ends with orders waiting: the probes are breached
    breached = cmpsim_cli("probes", probed_run)
    assert breached.returncode == 1, breached.stderr
    assert ALERT in breached.stdout and "ops@example.net, warehouse@example.net" in breached.stdout
    # On the first day no order can have waited a day yet.
    calm = cmpsim_cli("probes", probed_run, "--at", "2026-01-05T12:00", "--json")
    assert calm.returncode == 0, calm.stderr
    rows = json.loads(calm.stdout)
    assert [(r["probe"], r["value"], r["breached"], r["alert_to"]) for r in rows] == [
        (ALERT, "0", False, []), (SLA, "0", False, []), (INTEGRITY, "0", False, [])]


def test_cli_json_of_an_evaluation(probed_run):
    result = cmpsim_cli("probes", probed_run, "--json")
    assert result.returncode == 1
    rows = {r["probe"]: r for r in json.loads(result.stdout)}
    assert rows[ALERT]["breached"] and rows[ALERT]["value"] == rows[SLA]["value"] != "0"
    assert rows[ALERT]["evaluated_at"] == "2026-01-11T00:00" and rows[ALERT]["alert_to"] == RECIPIENTS
    assert rows[SLA]["alert_to"] == [] and rows[SLA]["recipients"] == RECIPIENTS


def test_cli_history_lists_the_evaluations_made_in_the_run(probed_run):
    with cmpsim.open_run(probed_run) as run:
        breaches = dict(run.sql("SELECT probe, count(*) FROM probe_results WHERE breached GROUP BY probe").rows())
    result = cmpsim_cli("probes", probed_run, "--history", "--json")
    assert result.returncode == 1, result.stderr
    rows = {r["probe"]: r for r in json.loads(result.stdout)}
    assert {name: (r["evaluations"], r["breaches"], r["alerts_raised"]) for name, r in rows.items()} == {
        ALERT: (6, breaches[ALERT], 2 * breaches[ALERT]), SLA: (6, breaches[SLA], 0), INTEGRITY: (11, 0, 0)}
    assert rows[INTEGRITY]["last_breach"] is None
    text = cmpsim_cli("probes", probed_run, "--history")
    assert text.returncode == 1 and "Probe evaluations during the run" in text.stdout and SLA in text.stdout


def test_cli_bad_input_exits_2(probed_run, tmp_path):
    not_a_run = cmpsim_cli("probes", tmp_path)
    assert not_a_run.returncode == 2 and "expected a run folder written by cmpsim run" in not_a_run.stderr
    bad_at = cmpsim_cli("probes", probed_run, "--at", "tomorrow")
    assert bad_at.returncode == 2
    assert bad_at.stderr == "cmpsim: error: argument --at: expected a moment like 2026-01-09T06:00, found 'tomorrow'\n"
    assert cmpsim_cli("probes", probed_run, "--at", "2026-01-09T06:00+01:00").returncode == 2
    assert cmpsim_cli("probes", probed_run, "--history", "--at", "2026-01-09T06:00").returncode == 2
    outside = cmpsim_cli("probes", probed_run, "--at", "2027-01-01T00:00")
    assert outside.returncode == 2 and "expected a moment within the run" in outside.stderr
