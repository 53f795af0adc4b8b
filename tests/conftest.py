"""Shared fixtures: small real runs (a real DuckDB file, real encrypted files) reused by tests."""

from __future__ import annotations

from pathlib import Path

import pytest

import cmpsim
from cmpsim.scenario import load

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
