"""What an analyst waits for: shipped scenarios run as they are, one fresh process each, timed.

Prints one row per scenario — simulated days, wall seconds of the run, seconds per simulated day,
wake-ups that did work (`job_runs`), events, peak memory — and then where the time went (the steps
that took most, from `Run.wall_s`). The issue's targets: the 42-day baseline under 10 s, a 7-day
what-if under 3 s.

    .venv/bin/python benchmarks/engine.py                               # baseline 7 days, what-ifs 3 days
    .venv/bin/python benchmarks/engine.py --run baseline:42 --run priority-what-if:3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from harness import child_json, peak_rss_mb, render, shipped

DEFAULT_RUNS = ("baseline:7", "priority-what-if:3", "service:8")
TOP_STEPS = 5


def measure(name: str, days: int) -> dict:
    import cmpsim

    scenario = shipped(name, days)
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        with cmpsim.run(scenario, out=Path(folder) / "run") as run:
            wall = time.perf_counter() - began
            counts = run.sql("SELECT (SELECT count(*) FROM job_runs) AS runs, (SELECT count(*) FROM events) AS events")
            top = sorted(run.wall_s.items(), key=lambda kv: -kv[1])[:TOP_STEPS]
    return {"scenario": name, "days": days, "wall_s": wall, "runs": counts["runs"][0], "events": counts["events"][0],
            "peak_mb": peak_rss_mb(), "top": top}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", help="SCENARIO:DAYS, a file of scenarios/ (repeatable)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, days = args.child.split(":")
        print(json.dumps(measure(name, int(days))))
        return
    rows, tops = [], []
    for spec in args.run or DEFAULT_RUNS:
        r = child_json(__file__, "--child", spec)
        rows.append([r["scenario"], str(r["days"]), f"{r['wall_s']:.1f}", f"{r['wall_s'] / r['days']:.2f}",
                     f"{r['runs']:,}", f"{r['events']:,}", f"{r['peak_mb']:.0f}"])
        tops.append(f"  {r['scenario']}: " + ", ".join(f"{step} {s:.1f} s" for step, s in r["top"]))
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores")
    print(render(["scenario", "days", "run s", "s/day", "job runs", "events", "peak MB"], rows))
    print("where the time went (wall seconds per step):")
    print("\n".join(tops))


if __name__ == "__main__":
    main()
