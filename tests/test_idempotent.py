"""Idempotent reruns: every job and daemon wake-up, run a second time at the same moment, changes
nothing (no record processed, no table changed).

The engine's `_execute` is wrapped so that each wake-up that did work is executed again at once, and
the content of every table (count and a hash of all rows) is compared before and after the rerun.
One run covers the hardware lifecycle, the billing run, posting and the ledger system, payments,
communications and probes (tests/scenarios/crash.yaml); service fulfilment runs under random seeds
drawn by hypothesis (derandomized, so CI always tries the same cases).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cmpsim
from cmpsim import engine
from cmpsim.scenario import load

SCENARIOS = Path(__file__).parent / "scenarios"
BOOKKEEPING = {"wakeups", "job_runs", "counters"}  # the journal of the first run only; nothing else may move
EXECUTE = engine.Simulation._execute  # the engine's own, whatever a test has patched in since


def fingerprint(con) -> dict[str, tuple]:
    tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()]
    return {t: con.execute(f'SELECT count(*), coalesce(sum(hash(x)::HUGEINT), 0) FROM "{t}" x').fetchall()[0]
            for t in tables if t not in BOOKKEEPING}


def run_doubled(monkeypatch, scenario, out: Path, **kwargs) -> tuple[Counter, dict]:
    """Run with every wake-up that did work executed twice; returns wake-ups checked per step and
    the first offence per step that was not idempotent."""
    original = EXECUTE
    checked: Counter = Counter()
    offences: dict[str, str] = {}

    def twice(self, step, record_idle):
        processed = original(self, step, record_idle)
        if processed:
            # Events a wake-up held as rows are numbered, in memory until the window's commit, and so is
            # the working state of a process (the Comms Trigger's cursor): written first, so that what is
            # compared is the whole record.
            self.store.write_events()
            self.store.write_working()
            before = fingerprint(self.con)
            again = original(self, step, record_idle)
            self.store.write_events()
            self.store.write_working()
            changed = sorted(t for t, v in fingerprint(self.con).items() if before.get(t) != v)
            checked[step.name] += 1
            if again or changed:
                offences.setdefault(step.name, f"at {self.now}: processed {again} again, changed {changed}")
        return processed

    monkeypatch.setattr(engine.Simulation, "_execute", twice)
    with cmpsim.run(scenario, out=out, **kwargs):
        pass
    return checked, offences


def test_every_wakeup_of_the_order_to_cash_processes_run_twice_changes_nothing(monkeypatch, tmp_path):
    checked, offences = run_doubled(monkeypatch, load(SCENARIOS / "crash.yaml"), tmp_path / "run")
    assert not offences, offences
    # It really covered every process: these jobs and daemons did work and were run twice.
    for name in ("AgentView", "Sales Order Request", "Warehouse Intake", "Sales Order Dispatch", "Invoice Production",
                 "Invoice Posting", "Comms Monitor", "Comms SMS Daemon", "Usage Rating"):
        assert checked[name] > 0, f"{name} never did work: {sorted(checked)}"
    assert any(name.startswith("Probe ") for name in checked)
    assert any("Ledger" in name for name in checked), sorted(checked)


@settings(max_examples=2, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=2**31))
def test_every_fulfilment_wakeup_run_twice_changes_nothing(monkeypatch, tmp_path_factory, seed):
    out = tmp_path_factory.mktemp("service") / "run"
    checked, offences = run_doubled(monkeypatch, load(SCENARIOS / "service-small.yaml"), out, seed=seed, days=3)
    assert not offences, f"seed {seed}: {offences}"
    assert checked["Order Fulfilment"] > 0 and checked["CRM Order Capture"] > 0
