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

import tempfile
import time
from pathlib import Path
from typing import Any

from harness import main, peak_rss_mb, render, scaled_warehouses

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.yaml"
HEADROOM = 2.0  # capacity and stock this many times what the demand needs, so neither blocks the flow


def overrides(orders: int, days: int) -> dict[str, Any]:
    """Scenario overrides that make about `orders` orders over `days` days flow unhindered."""
    from cmpsim.scenario import load

    base = load(BASELINE).public_dict()
    per_day = orders / days
    base_total = base["demand"]["orders_per_day"] * base["horizon_days"]
    capacity_scale = HEADROOM * max(1.0, per_day / base["demand"]["orders_per_day"])
    stock_scale = HEADROOM * max(1.0, orders / base_total)
    warehouses = scaled_warehouses(base["warehouses"], capacity_scale, stock_scale)
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
        "peak_rss_mb": peak_rss_mb(),
        "statuses": {k: int(v) for k, v in statuses.items()},
    }


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
    return render(head, rows)


if __name__ == "__main__":
    main(str(Path(__file__).resolve()), __doc__.splitlines()[0], measure, table)
