"""How long a command takes before it does anything: `cmpsim --help`, `cmpsim --version` and
`cmpsim validate` of one scenario file, each as a user starts it (a fresh interpreter), timed over
several runs; prints the median and the slowest wall time and the CPU time of each.

The commands import what they need when they run (cmpsim/cli.py), so the help and the version answer
without loading DuckDB, polars, jsonschema or weasyprint. Target: `cmpsim --help` under 0.5 s.

    .venv/bin/python benchmarks/startup.py              # 7 runs of each
    .venv/bin/python benchmarks/startup.py --runs 20
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness import render

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "cmpsim --help": ["--help"],
    "cmpsim --version": ["--version"],
    "cmpsim validate scenarios/service.yaml": ["validate", str(ROOT / "scenarios" / "service.yaml")],
    "cmpsim validate scenarios/baseline.yaml": ["validate", str(ROOT / "scenarios" / "baseline.yaml")],
}
HELP_SECONDS_TARGET = 0.5


def timed(args: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one `cmpsim ARGS`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cmpsim", *args], check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each command (default 7)")
    args = parser.parse_args()
    rows, help_median = [], None
    for name, command in COMMANDS.items():
        timed(command)  # one run first, so every timed run finds the files in the page cache
        runs = [timed(command) for _ in range(args.runs)]
        walls, cpus = [w for w, _ in runs], [c for _, c in runs]
        rows.append([name, f"{statistics.median(walls):.2f}", f"{max(walls):.2f}", f"{statistics.median(cpus):.2f}"])
        if name == "cmpsim --help":
            help_median = statistics.median(walls)
    print(render(["command", "median s", "slowest s", "CPU s"], rows))
    verdict = "met" if help_median < HELP_SECONDS_TARGET else "NOT met"
    print(f"target: cmpsim --help under {HELP_SECONDS_TARGET} s: {verdict} ({help_median:.2f} s)")
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}, "
          f"{args.runs} runs of each")


if __name__ == "__main__":
    main()
