"""Throughput of the hardware sales-order lifecycle at a given number of orders.

For each size N, replays `scenarios/baseline.yaml` scaled so that about N hardware orders arrive
over the horizon (demand, accounts, warehouse capacity and stock scaled up, no faults, no
explicit orders), then prints one table: orders created, simulated days, wall seconds, orders and
events per second, peak memory (RSS) and orders per final status. Each size runs in its own
subprocess so that its peak memory is measured on its own.

    .venv/bin/python benchmarks/hardware_orders.py                       # 10000 and 100000 orders
    .venv/bin/python benchmarks/hardware_orders.py --orders 20000 --days 30 --keep runs/bench
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.yaml"
HEADROOM = 2.0  # capacity and stock this many times what the demand needs, so neither blocks the flow
DEFAULT_SIZES = (10_000, 100_000)


def overrides(orders: int, days: int) -> dict[str, Any]:
    """Scenario overrides that make about `orders` orders over `days` days flow unhindered."""
    from cmpsim.scenario import load

    base = load(BASELINE).public_dict()
    per_day = orders / days
    base_total = base["demand"]["orders_per_day"] * base["horizon_days"]
    capacity_scale = HEADROOM * max(1.0, per_day / base["demand"]["orders_per_day"])
    stock_scale = HEADROOM * max(1.0, orders / base_total)
    warehouses = [
        {
            **w,
            "daily_capacity_units": int(w["daily_capacity_units"] * capacity_scale),
            "stock": {p: int(q * stock_scale) for p, q in w["stock"].items()},
        }
        for w in base["warehouses"]
    ]
    return {
        "horizon_days": days,
        "demand": {"orders_per_day": per_day, "explicit_orders": []},
        "accounts": {"generate": {"count": max(5000, orders // 2)}},
        "warehouses": warehouses,
        "faults": [],
    }


def measure(orders: int, days: int, keep: Path | None) -> dict[str, Any]:
    """One run of about `orders` orders, in this process; returns its figures."""
    import cmpsim
    from cmpsim.scenario import load

    scenario = load(BASELINE, overrides=overrides(orders, days))
    with tempfile.TemporaryDirectory(prefix="cmpsim-bench-") as tmp:
        out = (keep if keep is not None else Path(tmp)) / f"hardware-{orders}"
        started = time.perf_counter()
        with cmpsim.run(scenario, out=out) as run:
            wall = time.perf_counter() - started
            statuses = dict(run.con.execute("SELECT status, count(*) FROM orders GROUP BY ALL").fetchall())
            events = run.store.scalar("SELECT count(*) FROM events")
    return {
        "orders": sum(statuses.values()),
        "days": days,
        "wall_s": wall,
        "events": int(events),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KB on Linux
        "statuses": {k: int(v) for k, v in statuses.items()},
    }


def in_subprocess(orders: int, days: int, keep: Path | None) -> dict[str, Any]:
    """Run `measure` in a fresh interpreter and read back the JSON line it prints last."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(orders), "--days", str(days)]
    if keep is not None:
        cmd += ["--keep", str(keep)]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(results: list[dict[str, Any]]) -> str:
    from cmpsim.summary import ORDER_STATUSES

    seen = {s for r in results for s in r["statuses"]}
    statuses = [s for s in ORDER_STATUSES if s in seen] + sorted(seen - set(ORDER_STATUSES))
    head = ["orders", "days", "wall s", "orders/s", "events/s", "peak MB"] + statuses
    rows = [
        [
            f"{r['orders']:,}",
            str(r["days"]),
            f"{r['wall_s']:.1f}",
            f"{r['orders'] / r['wall_s']:,.0f}",
            f"{r['events'] / r['wall_s']:,.0f}",
            f"{r['peak_rss_mb']:,.0f}",
        ]
        + [f"{r['statuses'].get(s, 0):,}" for s in statuses]
        for r in results
    ]
    widths = [max(len(c) for c in col) for col in zip(head, *rows, strict=True)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, action="append", help="orders to run (repeatable)")
    parser.add_argument("--days", type=int, default=30, help="simulated days (default 30)")
    parser.add_argument("--keep", type=Path, help="keep the run folders under this folder")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(measure(args.child, args.days, args.keep)))
        return
    results = [in_subprocess(n, args.days, args.keep) for n in args.orders or DEFAULT_SIZES]
    print(table(results))
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}")


if __name__ == "__main__":
    main()
