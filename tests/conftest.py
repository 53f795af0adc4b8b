"""Shared fixtures: small real runs (a real DuckDB file, real encrypted files) reused by tests."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import simpy

import cmpsim
from cmpsim.engine import Simulation
from cmpsim.runs import DB_NAME
from cmpsim.scenario import load
from cmpsim.store import Store

TESTS = Path(__file__).parent
SMALL = TESTS / "scenarios" / "small.yaml"
BASELINE = TESTS.parent / "scenarios" / "baseline.yaml"


def run_small(out: Path, **overrides) -> cmpsim.Run:
    """The small scenario with overrides merged over it, run into `out`."""
    return cmpsim.run(load(SMALL, overrides=overrides), out=out)


@pytest.fixture(scope="session")
def small_run(tmp_path_factory) -> cmpsim.Run:
    run = run_small(tmp_path_factory.mktemp("small") / "run")
    yield run
    run.close()


@pytest.fixture(scope="session")
def immediate_on_work_run(tmp_path_factory) -> cmpsim.Run:
    """Fraud check off, hardware billed at once, request job triggered by arriving work."""
    run = run_small(
        tmp_path_factory.mktemp("variant") / "run",
        properties={"sales.order.request.extract.fraudcheckrequired": False},
        billing={"hardware_charges": "immediate"},
        schedules={"sales_order_request": {"trigger": "on_work"}},
    )
    yield run
    run.close()


BILLING_SMALL = TESTS / "scenarios" / "billing-small.yaml"


@pytest.fixture(scope="session")
def billing_run(tmp_path_factory) -> cmpsim.Run:
    """Two bill cycles with known cases: see tests/scenarios/billing-small.yaml."""
    run = cmpsim.run(BILLING_SMALL, out=tmp_path_factory.mktemp("billing") / "run")
    yield run
    run.close()


def live_copy(run: cmpsim.Run, folder: Path, at: str) -> Simulation:
    """A copy of a finished run, open for steps to run again at simulated moment `at` (ISO text)."""
    shutil.copytree(run.run_dir, folder)
    sim = Simulation(scenario=run.scenario, store=Store(folder / DB_NAME), run_dir=folder, key=run.scenario.key())
    sim.env = simpy.Environment(initial_time=(dt.datetime.fromisoformat(at) - sim.start).total_seconds())
    return sim
