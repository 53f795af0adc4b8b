"""Where a run's time goes, statement by statement: every DuckDB statement a run makes, timed.

Runs a shipped scenario for a few days with the run database's connection wrapped in a timer, then
prints the run's wall time, the time spent in statements and how many there were, and the statements
that took most (count, total and mean time, the statement's first characters) — what to move out
of SQL next (docs/engine.md).

    .venv/bin/python benchmarks/statements.py                       # the baseline, 3 days
    .venv/bin/python benchmarks/statements.py --scenario priority-what-if --days 3 --top 40
    .venv/bin/python benchmarks/statements.py --step "Order Fulfilment"   # one step's statements only
    .venv/bin/python benchmarks/statements.py --orders 100000 --days 3     # the pipeline at 1M orders' rate
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from collections import Counter
from pathlib import Path

from harness import chosen_scenario, scenario_options

SHOWN_CHARS = 100
STEP = {"only": None, "now": None}  # --step: count the statements made while that step runs


class TimedConnection:
    """The run's DuckDB connection, with the time of each statement added to `spent` under its text."""

    def __init__(self, con, spent: Counter, made: Counter):
        self._con, self._spent, self._made = con, spent, made

    def __getattr__(self, name):
        return getattr(self._con, name)

    def execute(self, sql, *args, **kwargs):
        began = time.perf_counter()
        try:
            return self._con.execute(sql, *args, **kwargs)
        finally:
            self._count(sql, time.perf_counter() - began)

    def sql(self, sql, *args, **kwargs):
        return TimedRelation(self._con.sql(sql, *args, **kwargs), sql, self)

    def _count(self, sql, seconds: float) -> None:
        if STEP["only"] is not None and STEP["now"] != STEP["only"]:
            return
        key = re.sub(r"\s+", " ", str(sql)).strip()[:SHOWN_CHARS]
        self._spent[key] += seconds
        self._made[key] += 1


class TimedRelation:
    """A relation from `sql()`: the statement runs when its rows are asked for, and is timed then."""

    def __init__(self, relation, sql, owner: TimedConnection):
        self._relation, self._sql, self._owner = relation, sql, owner

    def __getattr__(self, name):
        attribute = getattr(self._relation, name)
        if not callable(attribute):
            return attribute

        def timed(*args, **kwargs):
            began = time.perf_counter()
            try:
                return attribute(*args, **kwargs)
            finally:
                self._owner._count(self._sql, time.perf_counter() - began)
        return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scenario_options(parser)
    parser.add_argument("--top", type=int, default=25, help="statements shown (default 25)")
    parser.add_argument("--step", help="only the statements of this step (its wake-ups and due looks)")
    args = parser.parse_args()

    import cmpsim
    from cmpsim import engine, store

    STEP["only"] = args.step
    executed = engine.Simulation.execute

    def execute(self, step, *a, **kw):
        STEP["now"] = step.name
        try:
            return executed(self, step, *a, **kw)
        finally:
            STEP["now"] = None

    engine.Simulation.execute = execute
    invoked = getattr(engine.Simulation, "_run_trigger", None)

    def run_trigger(self, trigger, step):  # a trigger runs within the wake-up that invokes it: its own
        STEP["now"] = trigger.name
        try:
            return invoked(self, trigger, step)
        finally:
            STEP["now"] = step.name

    if invoked is not None:
        engine.Simulation._run_trigger = run_trigger

    spent, made = Counter(), Counter()
    opened = store.Store.__init__

    def timed_store(self, *a, **kw):
        opened(self, *a, **kw)
        self.con = TimedConnection(self.con, spent, made)

    store.Store.__init__ = timed_store
    name, scenario = chosen_scenario(args)
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        cmpsim.run(scenario, out=Path(folder) / "run").close()
        wall = time.perf_counter() - began
    total = sum(spent.values())
    print(f"{name}, {args.days} days: run {wall:.1f} s, of which {total:.1f} s in "
          + (f"{args.step}'s " if args.step else "") +
          f"{sum(made.values()):,} statements ({100 * total / wall:.0f} %)")
    print(f"{'s':>7} {'count':>6} {'ms each':>8}  statement")
    for key, seconds in spent.most_common(args.top):
        print(f"{seconds:7.2f} {made[key]:6} {1000 * seconds / made[key]:8.1f}  {key}")


if __name__ == "__main__":
    main()
