"""The engine: schedules, work triggers and job_runs, on a real (tiny) DuckDB store."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from cmpsim.engine import DAY_S, Chain, DailyAt, Every, OnEvents, OnWork, Simulation, Step
from cmpsim.errors import InputError
from cmpsim.scenario import load
from cmpsim.store import Store
from conftest import SMALL

INSTANT = {"defaults": {c: {"startup_seconds": 0, "per_record_seconds": 0}
                        for c in ("job", "daemon", "user", "external")}}


def simulation(tmp_path, steps, costs: dict | None = None) -> Simulation:
    """A simulation of `steps` whose wake-ups take no time, unless `costs` (a cost_model) says so."""
    store = Store(tmp_path / "t.duckdb")
    scenario = load(SMALL, overrides={"cost_model": costs or INSTANT})
    return Simulation(scenario=scenario, store=store, run_dir=tmp_path, key=b"k" * 32, steps=steps)


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


def job_runs(sim) -> list[tuple]:
    return sim.store.con.execute("""SELECT job, strftime(started_at, '%H:%M:%S'), strftime(ended_at, '%H:%M:%S'),
                                           processed FROM job_runs ORDER BY run_no""").fetchall()


def test_a_step_that_declares_only_when_its_work_is_due_wakes_then_and_is_asked_once_a_poll(tmp_path):
    """A step whose work is all in one moment declares `wake_at` alone: it is due once that second has
    come, its polls before are idle (no wake-up, and not asked again until then, nothing having changed),
    and each look asks it once."""
    asked: list[int] = []
    woke: list[int] = []
    items = [5400, 9000]  # seconds an item falls due

    def first_due(sim):
        asked.append(sim.now_s)
        return items[0] if items else None

    def work(sim):
        woke.append(sim.now_s)
        items.pop(0)
        return 1

    sim = simulation(tmp_path, [Step("Desk", "daemon", Every(1800), work, wake_at=first_due, due_on_state_only=True)])
    sim.run(1)
    assert woke == [5400, 9000]  # the polls of 01:30 and 02:30, never the ones before
    # Asked once a look: at the first poll, at each poll where its moment had come, and at the first poll
    # after each wake-up (which changed its state); never at the polls between.
    assert asked == [0, 5400, 7200, 9000, 10800]


def test_a_wake_up_takes_its_start_up_and_time_per_record(tmp_path):
    """A job that handled 600 records at 01:00 with a start-up of 30 s and 0.5 s a record ends 5 min 30 s
    later; the job it signals starts then, and its own effects carry its start."""
    def batch(sim):
        return 600 if sim.now_s == 3600 else 0

    sim = simulation(tmp_path, [Step("Batch", "job", DailyAt((3600,)), batch, emits=("done",)),
                                Step("Next", "job", OnWork("done"), lambda sim: 1)],
                     {"steps": {"Batch": {"startup_seconds": 30, "per_record_seconds": 0.5}}})
    sim.run(1)
    assert job_runs(sim) == [("Batch", "01:00:00", "01:05:30", 600), ("Next", "01:05:30", "01:06:00", 1)]


def test_a_chained_job_starts_when_the_one_before_ends(tmp_path):
    sim = simulation(tmp_path, [Chain("Billing", DailyAt((7200,)), (
        Step("First", "job", None, lambda sim: 100), Step("Second", "job", None, lambda sim: 0),
        Step("Third", "job", None, lambda sim: 10)))], {"defaults": {"job": {"startup_seconds": 60,
                                                                              "per_record_seconds": 6}}})
    sim.run(1)
    assert job_runs(sim) == [("First", "02:00:00", "02:11:00", 100), ("Second", "02:11:00", "02:12:00", 0),
                             ("Third", "02:12:00", "02:14:00", 10)]


def test_a_daemon_never_overlaps_itself_and_skips_the_polls_due_while_it_works(tmp_path):
    """Polls every 10 minutes; the 00:10 poll takes 25 minutes, so the polls of 00:20 and 00:30 are
    skipped and the next is at 00:40."""
    polls: list[int] = []

    def daemon(sim):
        polls.append(sim.now_s // 60)
        return 50 if sim.now_s == 600 else 0

    sim = simulation(tmp_path, [Step("Poller", "daemon", Every(600), daemon)],
                     {"defaults": {"daemon": {"startup_seconds": 0, "per_record_seconds": 30}}})
    sim.run(1)
    assert polls[:5] == [0, 10, 40, 50, 60]
    assert job_runs(sim) == [("Poller", "00:10:00", "00:35:00", 50)]


def test_a_job_waits_for_a_batch_slot_and_work_signalled_meanwhile_wakes_it_again(tmp_path):
    """One batch slot: B, due at 01:00 with A still working (00:50-01:10), starts at 01:10. Work signalled
    to A while it worked (at 01:00) wakes it again once it is done, after B, which waited first."""
    def a(sim):
        return 20

    def kick(sim):
        sim.signal("a")
        return 0

    sim = simulation(tmp_path, [Step("Kick", "daemon", DailyAt((3000, 3600)), kick),
                                Step("A", "job", OnWork("a"), a),
                                Step("B", "job", DailyAt((3600,)), lambda sim: 1)],
                     {"defaults": {"job": {"startup_seconds": 0, "per_record_seconds": 60}}, "slots": {"job": 1}})
    sim.run(1)
    assert job_runs(sim) == [("A", "00:50:00", "01:10:00", 20), ("B", "01:10:00", "01:11:00", 1),
                             ("A", "01:11:00", "01:31:00", 20)]


def test_a_cost_for_a_step_the_run_does_not_have_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"cost_model\.steps\.Invoice Productoin: expected a job or daemon of "
                                         r"the run \(Batch\), found 'Invoice Productoin'"):
        simulation(tmp_path, [Step("Batch", "job", DailyAt((3600,)), lambda sim: 0)],
                   {"steps": {"Invoice Productoin": {"startup_seconds": 1}}})


def test_ctrl_c_in_a_wake_up_stops_the_run_before_any_other_step_of_that_second(tmp_path):
    """SimPy alone only fails the interrupted step's process and raises when it reaches that event,
    after the other steps due in the same second ran (a probe among them flushing the window)."""
    ran: list[str] = []

    def interrupted(sim):
        ran.append("A")
        raise KeyboardInterrupt

    sim = simulation(tmp_path, [Step("A", "job", DailyAt((3600,)), interrupted),
                                Step("B", "job", DailyAt((3600,)), lambda sim: ran.append("B") or 1)])
    with pytest.raises(KeyboardInterrupt):
        sim.run(1)
    assert ran == ["A"]


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


def requested(sim) -> int:
    """A trigger: one request per order completed in the log since its last request (it reads the log)."""
    sim.con.execute("CREATE TABLE IF NOT EXISTS requested (at_s BIGINT, seq BIGINT)")
    return len(sim.con.execute("""
        INSERT INTO requested SELECT ?, seq FROM events
        WHERE activity = 'Order Complete' AND seq > (SELECT coalesce(max(seq), 0) FROM requested) RETURNING seq""",
                               [sim.now_s]).fetchall())


def completing(sim, at_s: tuple[int, ...], activity: str = "Order Complete") -> int:
    """A step that completes two orders at the moments `at_s` (logged as rows) and does other work else."""
    if sim.now_s not in at_s:
        return 0
    sim.store.record_events_at(sim.now, "order", [f"SO-{sim.now_s}-1", f"SO-{sim.now_s}-2"], activity, "Orders")
    return 2


TRIGGER = Step("Trigger", "daemon", OnEvents(("Order Complete",)), requested, emits=("requested",),
               reads_pending="events")


def test_a_step_whose_work_logs_a_watched_event_invokes_its_trigger_within_its_wake_up(tmp_path):
    """Orders completed at 01:00 by a poll that takes a minute: the trigger runs within that wake-up (at
    01:00, on the events it logged, no job_runs row of its own) and the job it signals starts at 01:01,
    when the work is over. A poll that logs other work (02:00) invokes nothing."""
    monitor: list[int] = []

    def orders(sim):
        return completing(sim, (3600,)) or completing(sim, (7200,), "Order Released")

    gathering = Step("Monitor", "job", OnWork("requested"), lambda sim: monitor.append(sim.now_s) or 1)
    sim = simulation(tmp_path, [Step("Orders", "daemon", Every(3600), orders), TRIGGER, gathering],
                     {"defaults": {"daemon": {"startup_seconds": 60, "per_record_seconds": 0}}})
    sim.run(1)
    assert sim.con.execute("SELECT at_s, count(*) FROM requested GROUP BY ALL").fetchall() == [(3600, 2)]
    assert monitor == [3660]
    assert [j for j, *_ in job_runs(sim)] == ["Orders", "Monitor", "Orders"]
    journal = sim.con.execute("SELECT wake_no, at_s, step, processed FROM wakeups ORDER BY wake_no, step").fetchall()
    orders_wake = next(w for w, at, step, _ in journal if step == "Orders" and at == 3600)
    assert (orders_wake, 3600, "Trigger", 2) in journal  # under the number of the wake-up that invoked it


def test_a_trigger_invoked_by_a_job_of_a_chain_signals_when_the_chain_is_done(tmp_path):
    """The first job of a nightly chain logs orders completed (as a query): the trigger runs at once, the
    job it signals starts when the whole chain is done (02:00 + 10 min + 10 min)."""
    monitor: list[int] = []

    def logging_by_query(sim):
        sim.store.record_events("SELECT ?::TIMESTAMP AS ts, 'order' AS object_type, 'SO-1' AS object_id, "
                                "'Order Complete' AS activity, 'First' AS job, NULL AS detail", [sim.now])
        return 1

    sim = simulation(tmp_path, [Chain("Nightly", DailyAt((7200,)), (Step("First", "job", None, logging_by_query),
                                                                    Step("Second", "job", None, lambda sim: 1))),
                                TRIGGER, Step("Monitor", "user", OnWork("requested"),
                                              lambda sim: monitor.append(sim.now_s) or 1)],
                     {"defaults": {"job": {"startup_seconds": 600, "per_record_seconds": 0}}})
    sim.run(1)
    assert sim.con.execute("SELECT at_s FROM requested").fetchall() == [(7200,)]
    assert monitor == [7200 + 1200]


def test_a_resumed_run_raises_what_a_trigger_invoked_before_its_stop_signalled(tmp_path):
    """Orders completed at 23:00 by a job of two hours: the job the trigger signals starts at 01:00 the
    next day. A run stopped at midnight and resumed replays the 23:00 wake-up without running it, and
    must still raise that signal at 01:00: then it holds what a run never stopped holds."""
    def steps():
        return [Step("Orders", "job", DailyAt((23 * 3600,)), lambda sim: completing(sim, (23 * 3600,))), TRIGGER,
                Step("Monitor", "user", OnWork("requested"), lambda sim: 1)]

    costs = {**INSTANT, "steps": {"Orders": {"startup_seconds": 7200}}}

    def journal(sim) -> list[tuple]:
        return sim.con.execute("SELECT * FROM wakeups ORDER BY wake_no, step").fetchall() + job_runs(sim)

    (tmp_path / "whole").mkdir()
    whole = simulation(tmp_path / "whole", steps(), costs)
    whole.run(2)
    (tmp_path / "stopped").mkdir()
    stopped = simulation(tmp_path / "stopped", steps(), costs)
    stopped.run(1)
    stopped.store.close()
    resumed = simulation(tmp_path / "stopped", steps(), costs)
    resumed.resume_from()
    resumed.run(2)
    assert ("Monitor", "01:00:00", "01:00:00", 1) in job_runs(whole)
    assert journal(resumed) == journal(whole)
