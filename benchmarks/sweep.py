"""Speed-up of a sweep on 2 local Dask workers over the same sweep run serially.

Runs `cmpsim sweep`'s own code (plan, execute) on the baseline for a few simulated days, 20
replications, first serially in this process, then on a LocalCluster of 2 worker processes; prints
both wall times, the speed-up, and whether the two result tables are identical (they must be: the
same seeds give the same key figures wherever a task runs).

    .venv/bin/python benchmarks/sweep.py                        # 20 replications of 3 days
    .venv/bin/python benchmarks/sweep.py --replications 8 --days 2
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from harness import render

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "baseline.yaml"


def measure(replications: int, days: int, workers: int = 2) -> dict:
    from cmpsim.sweep import execute, plan

    tasks = plan(SCENARIO, {}, replications, days=days)
    started = time.perf_counter()
    serial = execute(tasks, workers=1)
    serial_s = time.perf_counter() - started
    started = time.perf_counter()
    parallel = execute(tasks, workers=workers)
    parallel_s = time.perf_counter() - started
    return {"replications": replications, "days": days, "workers": workers, "serial_s": serial_s,
            "parallel_s": parallel_s, "identical": serial.equals(parallel)}


def table(r: dict) -> str:
    head = ["replications", "days", "serial s", f"{r['workers']} workers s", "speed-up", "same results"]
    rows = [[str(r["replications"]), str(r["days"]), f"{r['serial_s']:.1f}", f"{r['parallel_s']:.1f}",
             f"{r['serial_s'] / r['parallel_s']:.2f}x", "yes" if r["identical"] else "NO"]]
    return render(head, rows) + f"\nmachine: {os.cpu_count()} CPUs"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=20)
    parser.add_argument("--days", type=int, default=3)
    args = parser.parse_args()
    print(table(measure(args.replications, args.days)))
