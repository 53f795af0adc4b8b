"""What both benchmarks share: one child process per size (so peak memory is that size's own),
a plain fixed-width table, and the command line `--orders N … --days D --keep DIR` (or another size
than orders, such as `--accounts N`)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_SIZES = (10_000, 100_000)

Measure = Callable[[int, int, Path | None], dict[str, Any]]
Table = Callable[[list[dict[str, Any]]], str]


def scaled_warehouses(warehouses: list[dict[str, Any]], capacity: float, stock: float,
                      **settings: Any) -> list[dict[str, Any]]:
    """The scenario's warehouses with daily capacity and stock multiplied (and `settings` applied)."""
    return [{**w, **settings, "daily_capacity_units": int(w["daily_capacity_units"] * capacity),
             "stock": {p: int(q * stock) for p, q in w["stock"].items()}} for w in warehouses]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def render(head: list[str], rows: list[list[str]]) -> str:
    """Right-aligned columns under a header and a rule."""
    widths = [max(len(c) for c in col) for col in zip(head, *rows, strict=True)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def child_json(script: str | Path, *args: str) -> dict[str, Any]:
    """Run a benchmark script in a fresh interpreter and read back the JSON line it prints last."""
    done = subprocess.run([sys.executable, str(script), *args], stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _in_subprocess(script: str, size: int, days: int, keep: Path | None) -> dict[str, Any]:
    """Run the script's `measure` for one size in a fresh interpreter."""
    return child_json(script, "--child", str(size), "--days", str(days), *(["--keep", str(keep)] if keep else []))


def main(script: str, description: str, measure: Measure, table: Table, argv: list[str] | None = None, *,
         size: str = "orders", sizes: tuple[int, ...] = DEFAULT_SIZES, days: int = 30) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(f"--{size}", dest="sizes", type=int, action="append", help=f"{size} to run (repeatable)")
    parser.add_argument("--days", type=int, default=days, help=f"simulated days (default {days})")
    parser.add_argument("--keep", type=Path, help="keep the run folders under this folder")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(measure(args.child, args.days, args.keep)))
        return
    results = [_in_subprocess(script, n, args.days, args.keep) for n in args.sizes or sizes]
    print(table(results))
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}")


def shipped(name: str, days: int):
    """The shipped scenario `name` (a file of scenarios/) cut to `days` days, with the faults of those days."""
    import datetime as dt

    from cmpsim.scenario import load

    path = Path(__file__).resolve().parent.parent / "scenarios" / f"{name}.yaml"
    full = load(path)
    end = (full.start + dt.timedelta(days=days)).date()
    faults = [dict(f) for f in full["faults"] if dt.date.fromisoformat(f["date"]) < end]
    return load(path, overrides={"horizon_days": days, "faults": faults})


def scenario_options(parser: argparse.ArgumentParser) -> None:
    """`--scenario NAME --days D`, or `--orders N --days D` for the whole pipeline of benchmarks/pipeline.py."""
    parser.add_argument("--scenario", default="baseline", help="a file of scenarios/ (default baseline)")
    parser.add_argument("--days", type=int, default=3, help="simulated days (default 3)")
    parser.add_argument("--orders", type=int, help="in place of a scenario, the whole pipeline of "
                                                   "benchmarks/pipeline.py with this many orders over the days")


def chosen_scenario(args: argparse.Namespace) -> tuple[str, Any]:
    """What `scenario_options` chose: its name for a report, and the scenario."""
    if args.orders:
        from pipeline import BASELINE, overrides

        from cmpsim.scenario import load

        return f"{args.orders:,} orders", load(BASELINE, overrides=overrides(args.orders, args.days))
    return args.scenario, shipped(args.scenario, args.days)
