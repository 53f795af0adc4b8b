"""The engine: schedules, work triggers and job_runs, on a real (tiny) DuckDB store."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from cmpsim.engine import DAY_S, DailyAt, Every, OnWork, Simulation, Step
from cmpsim.scenario import load
from cmpsim.store import Store
from conftest import SMALL


def simulation(tmp_path, steps) -> Simulation:
    store = Store(tmp_path / "t.duckdb")
    return Simulation(scenario=load(SMALL), store=store, run_dir=tmp_path, key=b"k" * 32, steps=steps)


def test_polls_schedules_and_work_triggers(tmp_path):
    woke: list[tuple[str, int]] = []

    def producer(sim):
        woke.append(("producer", sim.now_s))
        return 1 if sim.now_s in (3600, 7200) else 0

    def consumer(sim):
        woke.append(("consumer", sim.now_s))
        return 5

    def nightly(sim):
        woke.append(("nightly", sim.now_s))
        return 0

    sim = simulation(
        tmp_path,
        [
            Step("Producer", "daemon", Every(3600, 0), producer, emits=("work",)),
            Step("Consumer", "job", OnWork("work"), consumer),
            Step("Nightly", "job", DailyAt((22 * 3600,)), nightly),
        ],
    )
    sim.run(1)
    assert [t for name, t in woke if name == "producer"] == list(range(0, DAY_S, 3600))
    assert [t for name, t in woke if name == "consumer"] == [3600, 7200]  # woken by work only
    assert [t for name, t in woke if name == "nightly"] == [22 * 3600]
    runs = sim.store.frame("SELECT job, processed, started_at FROM job_runs ORDER BY run_no")
    assert runs["job"].to_list() == ["Producer", "Consumer", "Producer", "Consumer"]  # idle wake-ups leave no row


def test_a_failed_step_rolls_back_everything_it_wrote(tmp_path):
    def broken(sim):
        sim.con.execute("INSERT INTO run_info VALUES ('half', 'written')")
        sim.store.allocate("thing", 5)
        raise RuntimeError("boom")

    sim = simulation(tmp_path, [Step("Broken", "job", Every(DAY_S), broken)])
    try:
        sim.run(1)
    except RuntimeError:
        pass
    assert sim.store.frame("SELECT * FROM run_info").height == 0
    assert sim.store.allocate("thing", 1) == 0  # the counter moved back too


def test_a_bulk_insert_that_fails_in_a_transaction_raises_its_own_error(tmp_path):
    """A statement that fails (or is interrupted by Ctrl-C, which the run must recognise to stop
    resumably) aborts the transaction; the error raised must be that one, not the connection's
    refusal to unregister the frame afterwards."""
    store = Store(tmp_path / "run.duckdb")
    store.con.execute("CREATE TABLE keyed (k INTEGER PRIMARY KEY)")
    store.insert("keyed", pl.DataFrame({"k": [1]}))
    with pytest.raises(duckdb.ConstraintException), store.transaction():
        store.insert("keyed", pl.DataFrame({"k": [1]}))
    assert store.frame("SELECT k FROM keyed")["k"].to_list() == [1]


def test_day_hooks_run_at_midnight_before_steps_due_then(tmp_path):
    order: list[str] = []
    sim = simulation(
        tmp_path, [Step("Midnight", "job", DailyAt((0,)), lambda s: order.append(f"step{s.now_s // DAY_S}") or 0)]
    )
    sim.day_hooks.append(lambda s, day: order.append(f"hook{day}"))
    sim.run(3)
    assert order == ["step0", "hook1", "step1", "hook2", "step2"]


def test_random_streams_depend_on_seed_name_and_moment_only(tmp_path):
    sim = simulation(tmp_path, [])
    first = sim.rng("demand").random(3)
    assert (first == sim.rng("demand").random(3)).all()
    assert not (first == sim.rng("warehouse").random(3)).all()


def test_events_held_as_rows_are_numbered_as_the_database_numbers_events_of_queries(tmp_path):
    """A step may log events as rows (numbered in memory) or as queries (numbered by DuckDB): the same
    events get the same sequence numbers either way, ties broken by the order they were recorded and
    NULL details last, and rows mixed with a query in one wake-up are numbered with it."""
    import datetime as dt

    import polars as pl

    at = dt.datetime(2026, 1, 5, 9)
    first = pl.DataFrame({"ts": [at] * 4, "object_type": ["order"] * 4, "object_id": ["SO-2", "SO-1", "SO-1", "SO-2"],
                          "activity": ["Line Complete", "Order Complete", "Line Complete", "Line Complete"],
                          "detail": [None, "é", "2 Add", "z"]})
    second = pl.DataFrame({"ts": [at, at - dt.timedelta(hours=1)], "object_type": ["order", "asset"],
                           "object_id": ["SO-1", "AS-1"], "activity": ["A Note", "Asset Active"],
                           "detail": [None, "z"]})

    def logged(*, as_query: bool) -> list[tuple]:
        store = Store(tmp_path / f"{as_query}.duckdb")
        with store.transaction():
            store.record_event_frame(first, "Job")
            if as_query:
                store.con.register("_second", second.to_arrow())
                store.record_events("SELECT ts, object_type, object_id, activity, 'Job' AS job, detail FROM _second")
            else:
                store.record_event_frame(second, "Job")
        rows = store.con.execute("SELECT seq, object_id, activity, detail FROM events ORDER BY seq").fetchall()
        store.close()
        return rows

    assert logged(as_query=False) == logged(as_query=True) == [
        (1, "AS-1", "Asset Active", "z"), (2, "SO-1", "Line Complete", "2 Add"),
        (3, "SO-1", "Order Complete", "é"), (4, "SO-1", "A Note", None),
        (5, "SO-2", "Line Complete", "z"), (6, "SO-2", "Line Complete", None)]
