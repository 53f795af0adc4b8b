"""Shared fixtures: small real runs (a real DuckDB file, real encrypted files) reused by tests."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
from pathlib import Path

import pytest
import simpy

import cmpsim
from cmpsim.engine import Simulation
from cmpsim.runs import DB_NAME
from cmpsim.scenario import Scenario, load
from cmpsim.store import Store

TESTS = Path(__file__).parent
SMALL = TESTS / "scenarios" / "small.yaml"
BASELINE = TESTS.parent / "scenarios" / "baseline.yaml"


def run_small(out: Path, **overrides) -> cmpsim.Run:
    """The small scenario with overrides merged over it, run into `out`."""
    return cmpsim.run(load(SMALL, overrides=overrides), out=out)


def shared_run(tmp_path_factory, name: str, scenario: Scenario) -> cmpsim.Run:
    """A session's run of `scenario`, made once for all the test workers (pytest -n): the first worker
    that needs it runs it while the others wait, and each works on its own copy of the finished folder,
    as if it had run it itself (runs are deterministic). Without workers, a plain run."""
    own = tmp_path_factory.mktemp(name) / "run"
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return cmpsim.run(scenario, out=own)
    shared = tmp_path_factory.getbasetemp().parent / f"shared-{name}"
    shared.mkdir(exist_ok=True)
    with open(shared / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or when a worker dies
        if not (shared / "done").is_file():
            shutil.rmtree(shared / "run", ignore_errors=True)  # a worker killed half-way
            cmpsim.run(scenario, out=shared / "run").close()
            (shared / "done").touch()
    shutil.copytree(shared / "run", own)
    return cmpsim.Run(own, scenario, Store(own / DB_NAME))


@pytest.fixture(scope="session")
def small_run(tmp_path_factory) -> cmpsim.Run:
    run = shared_run(tmp_path_factory, "small", load(SMALL))
    yield run
    run.close()


@pytest.fixture(scope="session")
def immediate_on_work_run(tmp_path_factory) -> cmpsim.Run:
    """Fraud check off, hardware billed at once, request job triggered by arriving work."""
    run = shared_run(tmp_path_factory, "variant", load(SMALL, overrides={
        "properties": {"sales.order.request.extract.fraudcheckrequired": False},
        "billing": {"hardware_charges": "immediate"},
        "schedules": {"sales_order_request": {"trigger": "on_work"}},
    }))
    yield run
    run.close()


BILLING_SMALL = TESTS / "scenarios" / "billing-small.yaml"


@pytest.fixture(scope="session")
def billing_run(tmp_path_factory) -> cmpsim.Run:
    """Two bill cycles with known cases: see tests/scenarios/billing-small.yaml."""
    run = shared_run(tmp_path_factory, "billing", load(BILLING_SMALL))
    yield run
    run.close()


def live_copy(run: cmpsim.Run, folder: Path, at: str) -> Simulation:
    """A copy of a finished run, open for steps to run again at simulated moment `at` (ISO text)."""
    shutil.copytree(run.run_dir, folder)
    sim = Simulation(scenario=run.scenario, store=Store(folder / DB_NAME), run_dir=folder, key=run.scenario.key())
    sim.env = simpy.Environment(initial_time=(dt.datetime.fromisoformat(at) - sim.start).total_seconds())
    return sim
