"""The engine: schedules, work triggers and job_runs, on a real (tiny) DuckDB store."""

from __future__ import annotations

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
