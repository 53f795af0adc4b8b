"""The engine's targets (issue 17), each measured, in one table: target, measured, met or short by how much.

Every measurement runs in a fresh process of its own, on this machine, one after the other:

- `million`, `hundred-k`, `scaling`: the whole pipeline of benchmarks/pipeline.py at 1,000,000 and
  100,000 orders over 30 days (run and reconciliation), its peak memory, and t(1M) / t(100k);
- `naive`: benchmarks/naive_orders.py, 20,000 orders, cmpsim against one SimPy process per order;
- `baseline`: the main job as the README runs it (`cmpsim run scenarios/baseline.yaml`, 42 days,
  then `cmpsim report`), the whole process timed;
- `what-if`: a 7-day run of the priority what-if, as the ScenarioRunner makes it (`cmpsim.run`);
- `notebooks`: every workbench notebook executed by a real kernel on a copy, its slowest cell;
- `suite`: `./scripts/test`, the whole process timed.

All of them take about two hours on a 2-core machine today (the million alone most of it); choose:

    .venv/bin/python benchmarks/targets.py                         # every target
    .venv/bin/python benchmarks/targets.py --only what-if --only baseline
    .venv/bin/python benchmarks/targets.py --skip million --skip suite
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import child_json

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable


@dataclass(frozen=True)
class Figure:
    """One target measured: what was measured (text), and how far short of the target it is (1: met)."""

    measured: str
    short_by: float | None  # measured / limit for "under" targets, limit / measured for "at least"; None: not known


def _child(script: str, *args: str) -> dict:
    return child_json(HERE / script, *args)


def _timed(cmd: list[str], cwd: Path) -> float:
    began = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


PIPELINE: dict[int, dict] = {}


def _pipeline(orders: int, days: int) -> dict:
    if orders not in PIPELINE:
        PIPELINE[orders] = _child("pipeline.py", "--child", str(orders), "--days", str(days))
    return PIPELINE[orders]


def million(args) -> Figure:
    r = _pipeline(1_000_000, args.days)
    wall = r["run_s"] + r["reconcile_s"]
    return Figure(f"{wall:,.0f} s, {r['peak_mb'] / 1024:.1f} GB ({r['orders']:,} orders, {r['days']} days)",
                  max(wall / 60, r["peak_mb"] / 4096))


def hundred_k(args) -> Figure:
    r = _pipeline(100_000, args.days)
    wall = r["run_s"] + r["reconcile_s"]
    return Figure(f"{wall:,.1f} s ({r['orders']:,} orders, {r['days']} days)", wall / 8)


def scaling(args) -> Figure:
    big, small = _pipeline(1_000_000, args.days), _pipeline(100_000, args.days)
    ratio = (big["run_s"] + big["reconcile_s"]) / (small["run_s"] + small["reconcile_s"])
    return Figure(f"{ratio:.1f}x", ratio / 12)


def naive(args) -> Figure:
    r = _child("naive_orders.py", "--child", "20000", "--days", "30")
    times = r["naive_s"] / r["cmpsim_s"]
    return Figure(f"{times:.1f}x (cmpsim {r['cmpsim_s']:.1f} s, naive {r['naive_s']:.1f} s; "
                  f"{r['same']:,} of {r['orders']:,} orders the same)", 50 / times)


def baseline(args) -> Figure:
    with tempfile.TemporaryDirectory(prefix="cmpsim-targets-") as tmp:
        cmpsim = str(Path(PYTHON).with_name("cmpsim"))
        out = str(Path(tmp) / "baseline")
        wall = _timed([cmpsim, "run", "scenarios/baseline.yaml", "--out", out], ROOT)
        wall += _timed([cmpsim, "report", out], ROOT)
    return Figure(f"{wall:,.1f} s (run and report)", wall / 10)


def what_if(args) -> Figure:
    r = _child("engine.py", "--child", "priority-what-if:7")
    return Figure(f"{r['wall_s']:.1f} s", r["wall_s"] / 3)


def notebooks(args) -> Figure:
    """Each notebook executed by a real kernel on a copy (so the committed outputs stay as they are)."""
    import nbclient
    import nbformat

    slowest = []
    with tempfile.TemporaryDirectory(prefix="cmpsim-targets-") as tmp:
        shutil.copytree(ROOT / "scenarios", Path(tmp) / "scenarios")
        shutil.copytree(ROOT / "notebooks", Path(tmp) / "notebooks", ignore=shutil.ignore_patterns("jupyterlab"))
        for path in sorted((Path(tmp) / "notebooks").glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            nbclient.NotebookClient(nb, timeout=1800, kernel_name="python3", record_timing=True,
                                    resources={"metadata": {"path": str(path.parent)}}).execute()
            seconds = [_cell_seconds(cell) for cell in nb.cells if cell.cell_type == "code"]
            slowest.append((max(seconds), path.stem))
    worst, name = max(slowest)
    return Figure(f"slowest cell {worst:.1f} s ({name}); " +
                  ", ".join(f"{stem.split('-', 1)[1]} {s:.0f} s" for s, stem in slowest), worst / 10)


def _cell_seconds(cell) -> float:
    from datetime import datetime

    timing = cell.metadata.get("execution", {})
    began, ended = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (began and ended):
        return 0.0
    parse = lambda stamp: datetime.fromisoformat(stamp.replace("Z", "+00:00"))  # noqa: E731
    return (parse(ended) - parse(began)).total_seconds()


def suite(args) -> Figure:
    wall = _timed([str(ROOT / "scripts" / "test"), "-q", "-p", "no:cacheprovider"], ROOT)
    return Figure(f"{wall / 60:.1f} min", wall / 300)


TARGETS: dict[str, tuple[str, Callable[[argparse.Namespace], Figure]]] = {
    "million": ("1,000,000 orders over 30 days: under 60 s and 4 GB", million),
    "hundred-k": ("100,000 orders over 30 days: under 8 s", hundred_k),
    "scaling": ("t(1M) at most 12 x t(100k)", scaling),
    "naive": ("the naive baseline, 20,000 orders: at least 50x slower", naive),
    "baseline": ("the 42-day baseline (the README's main job): under 10 s", baseline),
    "what-if": ("a 7-day what-if: under 3 s", what_if),
    "notebooks": ("every notebook's run cells: under 10 s", notebooks),
    "suite": ("./scripts/test: under 5 minutes", suite),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=list(TARGETS), help="measure this target (repeatable)")
    parser.add_argument("--skip", action="append", choices=list(TARGETS), default=[], help="leave it out (repeatable)")
    parser.add_argument("--days", type=int, default=30, help="simulated days of the pipeline targets (default 30)")
    args = parser.parse_args()
    chosen = [name for name in (args.only or TARGETS) if name not in args.skip]
    rows = []
    for name in chosen:
        target, measure = TARGETS[name]
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        figure = measure(args)
        verdict = "met" if figure.short_by is not None and figure.short_by <= 1 else (
            f"short {figure.short_by:.1f}x" if figure.short_by is not None else "not known")
        rows.append([target, verdict, figure.measured])
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores")
    print(table(["target", "verdict", "measured"], rows))


def table(head: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns (the last one may be long) under a header and a rule."""
    widths = [max(len(c) for c in col) for col in zip(head, *rows, strict=True)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
