"""A run: a scenario replayed into a run folder, and the object users explore it through.

run = cmpsim.run("scenarios/baseline.yaml", seed=7, out="runs/try")
run.table("orders")             # a polars DataFrame
run.sql("SELECT status, count(*) FROM orders GROUP BY ALL")
run.con                         # the DuckDB connection itself
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from cmpsim import billing, comms, fulfilment, ledger, orders, probes, reference
from cmpsim.check import check_day
from cmpsim.engine import Chain, Simulation, Step
from cmpsim.errors import InputError
from cmpsim.files import encode_document, write_atomic
from cmpsim.scenario import Scenario, load, stored
from cmpsim.store import Store
from cmpsim.summary import summarise

DB_NAME = "cmpsim.duckdb"
MARKER = "run.json"

Progress = Callable[[int, int], None]  # (days done, days in all)


@dataclass
class Run:
    """A finished (or opened) run: its folder, its scenario and its database."""

    run_dir: Path
    scenario: Scenario | None
    store: Store
    wall_s: dict[str, float] = field(default_factory=dict)  # wall seconds per step of this replay, not stored

    @property
    def con(self):
        return self.store.con

    def table(self, name: str) -> pl.DataFrame:
        """A whole table (or view) of the run database as a polars DataFrame."""
        known = self.store.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])
        if not known:
            raise InputError(str(self.run_dir / DB_NAME), name, "a table of the run database", "no such table")
        return self.store.frame(f'SELECT * FROM "{name}"')

    def sql(self, query: str, params: list | None = None) -> pl.DataFrame:
        return self.store.frame(query, params)

    def summary(self) -> dict[str, Any]:
        return summarise(self.con)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_out(scenario: Scenario) -> Path:
    return Path("runs") / f"{scenario.name}-seed{scenario.seed}"


def run(
    scenario: str | Path | Scenario,
    *,
    seed: int | None = None,
    out: str | Path | None = None,
    days: int | None = None,
    progress: Progress | None = None,
    check: bool = False,
) -> Run:
    """Replay a scenario into a fresh run folder and return the run, its database still open.

    With `check`, every invariant (cmpsim.check) is checked at each simulated midnight and at the end;
    the first day that breaks one stops the run with `InvariantsBroken`, which holds the rows."""
    scenario = prepare(scenario, seed=seed, days=days)
    key = scenario.key()
    run_dir = _prepare_folder(Path(out) if out is not None else default_out(scenario))
    store = Store(run_dir / DB_NAME)
    _create(store, scenario)
    steps = _steps(scenario)
    sim = Simulation(scenario=scenario, store=store, run_dir=run_dir, key=key, steps=steps)
    if check:
        sim.day_hooks.append(check_day)
    finished = _simulate(sim, progress)
    if check:
        check_day(sim, scenario.horizon_days)  # the last midnight: the clock stops before its hooks
    return finished


def resume(run_dir: str | Path, scenario: str | Path | Scenario | None = None,
           progress: Progress | None = None) -> Run:
    """Continue a run that was interrupted (killed, power cut) from what its database committed.

    A finished run is returned as it is. Otherwise the schedule is replayed from the journal of
    wake-ups up to the last one committed, without running any step; committed file moves that did
    not happen are made, half-written `.part` files removed; then the run goes on for real. It ends
    with the same database and files as a run that was never interrupted. The scenario is the one
    stored with the run; the file key comes from the environment variable it names or, when the
    scenario file holds the key, from `scenario` (which must be the one the run was started with)."""
    run_dir = Path(run_dir)
    if (run_dir / MARKER).is_file():
        return open_run(run_dir)  # it had finished (killed after its last write): nothing to do
    if not (run_dir / DB_NAME).is_file():
        if scenario is None:
            raise InputError(str(run_dir), "", "a run folder with cmpsim.duckdb", "no database")
        return run(scenario, out=run_dir, progress=progress)  # killed before it began: start it
    store = Store(run_dir / DB_NAME)
    stored = store.scalar("SELECT value FROM run_info WHERE key = 'scenario_json'")
    if stored is None:  # interrupted before its first commit: nothing to continue from
        store.close()
        if scenario is None:
            raise InputError(str(run_dir), "run_info.scenario_json", "a run that had begun",
                             "none: it stopped before its first commit; give the scenario to start it again")
        return run(scenario, out=run_dir, progress=progress)
    try:
        checked = _stored_scenario(run_dir, json.loads(stored), scenario)
        sim = Simulation(scenario=checked, store=store, run_dir=run_dir, key=checked.key(), steps=_steps(checked))
    except BaseException:
        store.close()
        raise
    sim.resume_from()
    store.finish_moves()
    for leftover in sorted(run_dir.rglob("*.part")):
        leftover.unlink()
    return _simulate(sim, progress)


def _stored_scenario(run_dir: Path, data: dict[str, Any], given: str | Path | Scenario | None) -> Scenario:
    if given is None:
        return stored(data, str(run_dir / DB_NAME))
    checked = prepare(given, seed=int(data["seed"]), days=int(data["horizon_days"]))
    if json.dumps(checked.public_dict(), sort_keys=True) != json.dumps(data, sort_keys=True):
        raise InputError(str(checked.source), "", f"the scenario the run in {run_dir} was started with",
                         "a different scenario")
    return checked


def _simulate(sim: Simulation, progress: Progress | None) -> Run:
    scenario, store, run_dir = sim.scenario, sim.store, sim.run_dir
    if progress is not None:
        sim.day_hooks.append(lambda _sim, day: progress(day, scenario.horizon_days))
    sim.run(scenario.horizon_days)
    store.con.execute("CHECKPOINT")
    summary = summarise(store.con)
    write_atomic(run_dir / "summary.json", encode_document(summary))
    write_atomic(
        run_dir / MARKER,
        encode_document(
            {"scenario": scenario.name, "seed": scenario.seed, "days": scenario.horizon_days, "database": DB_NAME}
        ),
    )
    return Run(run_dir, scenario, store, dict(sim.wall_s))


def prepare(scenario: str | Path | Scenario, *, seed: int | None = None, days: int | None = None) -> Scenario:
    """The scenario to run, with `--seed` and `--days` applied: every input checked before a run starts."""
    if not isinstance(scenario, Scenario):
        scenario = load(scenario)
    if seed is not None:
        scenario = scenario.replace(seed=_checked_int("--seed", seed, 0, 2**32 - 1))
    if days is not None:
        scenario = scenario.replace(horizon_days=_checked_int("--days", days, 1, 3660))
    scenario.key()
    _steps(scenario)
    return scenario


def _steps(scenario: Scenario) -> list[Step | Chain]:
    """Every job, daemon and outside party of the run; a fault naming a job that is not there is refused."""
    chosen = set(scenario["processes"])
    steps = [step for name, package in (("hardware", orders), ("service", fulfilment), ("billing", billing),
                                        ("ledger", ledger), ("probes", probes), ("comms", comms))
             if name in chosen for step in package.steps(scenario)]
    names = sorted({s.name for item in steps for s in (item.jobs if isinstance(item, Chain) else (item,))})
    for i, fault in enumerate(scenario["faults"]):
        if fault["kind"] == "fail_job" and fault["job"] not in names:
            raise InputError(scenario.source, f"faults[{i}].job", f"one of the jobs {', '.join(names)}",
                             repr(fault["job"]))
    return steps


def open_run(run_dir: str | Path, writable: bool = False) -> Run:
    """Open a finished run folder, read-only unless `writable` (to apply status updates from outside)."""
    run_dir = Path(run_dir)
    if not (run_dir / MARKER).is_file() or not (run_dir / DB_NAME).is_file():
        raise InputError(str(run_dir), "", "a run folder written by cmpsim run", "no run.json and cmpsim.duckdb")
    return Run(run_dir, None, Store(run_dir / DB_NAME, read_only=not writable))


def _checked_int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(f"argument {name}", "", f"a whole number from {low} to {high}", repr(value))
    return value


def _prepare_folder(run_dir: Path) -> Path:
    """A fresh folder: a previous run there is replaced, anything else is left alone."""
    if run_dir.exists():
        if not run_dir.is_dir():
            raise InputError(str(run_dir), "", "a folder for the run", "a file")
        if any(run_dir.iterdir()):
            if not (run_dir / MARKER).is_file() and not (run_dir / DB_NAME).is_file():
                raise InputError(
                    str(run_dir),
                    "",
                    "a new or empty folder, or an earlier cmpsim run",
                    "a folder with other files in it",
                )
            shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def _create(store: Store, scenario: Scenario) -> None:
    with store.transaction():
        orders.create_tables(store)
        fulfilment.create_tables(store)
        billing.create_tables(store)
        ledger.create_tables(store)
        probes.create_tables(store)
        comms.create_tables(store)
        reference.load_reference(store, scenario)
        orders.load_reference(store, scenario)
        fulfilment.load_reference(store, scenario)
        billing.load_reference(store, scenario)
        ledger.load_reference(store, scenario)
        comms.load_reference(store, scenario)
        store.set_info("scenario", scenario.name)
        store.set_info("seed", str(scenario.seed))
        store.set_info("start_date", scenario["start_date"])
        store.set_info("horizon_days", str(scenario.horizon_days))
        store.set_info("scenario_json", json.dumps(scenario.public_dict(), sort_keys=True))
