"""Throughput of service order fulfilment at a given number of orders.

For each size N, replays `scenarios/service.yaml` scaled so that about N service orders arrive over
the horizon (demand and accounts scaled up, no explicit orders, enough fulfilment workers to keep
them about 80% busy), then prints one table: service orders submitted, simulated days, wall seconds,
orders submitted and fulfilled (Complete) per second, lines completed, events per second, peak
memory (RSS) and orders per final status. Each size runs in its own subprocess so that its peak
memory is measured on its own.

    .venv/bin/python benchmarks/service_orders.py                       # 10000 and 100000 orders
    .venv/bin/python benchmarks/service_orders.py --orders 20000 --days 30 --keep runs/bench
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import main, peak_rss_mb, render

ROOT = Path(__file__).resolve().parent.parent
SERVICE = ROOT / "scenarios" / "service.yaml"
UTILISATION = 0.8  # target share of worker time spent on lines


def workers_needed(service: dict[str, Any], orders_per_day: float) -> int:
    """Workers that keep fulfilment about UTILISATION busy at `orders_per_day` (mean work per line
    times expected lines per order; a bundle brings its component lines, a modify order has one line)."""
    from cmpsim.randomness import mean_of

    work_minutes = sum(mean_of(step["duration_minutes"]) for step in service["fulfilment"]["steps"])
    components = {p["id"]: len(p.get("components") or ()) for p in service["products"]}
    mix = service["demand"]["product_mix"]
    new_lines = sum(w * (1 + components[p]) for p, w in mix.items()) / sum(mix.values())
    modify = service["demand"]["modify_rate"]
    lines_per_order = (1 - modify) * new_lines + modify * 1
    return max(1, math.ceil(orders_per_day * lines_per_order * work_minutes / (UTILISATION * 1440)))


def overrides(orders: int, days: int) -> dict[str, Any]:
    """Scenario overrides that make about `orders` service orders over `days` days flow unhindered."""
    from cmpsim.scenario import load

    service = load(SERVICE).public_dict()["service"]
    per_day = orders / days  # orders arrive in business hours only; this is the daily total
    return {
        "horizon_days": days,
        "accounts": {"generate": {"count": max(5000, orders // 2)}},
        "service": {
            "demand": {"orders_per_day": per_day},
            "explicit_orders": [],
            "fulfilment": {"workers": workers_needed(service, per_day)},
        },
    }


def measure(orders: int, days: int, keep: Path | None) -> dict[str, Any]:
    """One run of about `orders` service orders, in this process; returns its figures."""
    import cmpsim
    from cmpsim.scenario import load

    scenario = load(SERVICE, overrides=overrides(orders, days))
    with tempfile.TemporaryDirectory(prefix="cmpsim-bench-") as tmp:
        out = (keep if keep is not None else Path(tmp)) / f"service-{orders}"
        started = time.perf_counter()
        with cmpsim.run(scenario, out=out) as run:
            wall = time.perf_counter() - started
            statuses = dict(
                run.con.execute("SELECT status, count(*) FROM orders WHERE kind = 'service' GROUP BY ALL").fetchall()
            )
            lines = run.store.scalar(
                "SELECT count(*) FROM order_lines l JOIN orders o USING (order_id) "
                "WHERE o.kind = 'service' AND l.status = 'Complete'"
            )
            events = run.store.scalar("SELECT count(*) FROM events")
    return {
        "orders": sum(statuses.values()),
        "days": days,
        "workers": scenario["service"]["fulfilment"]["workers"],
        "wall_s": wall,
        "lines_complete": int(lines),
        "events": int(events),
        "peak_rss_mb": peak_rss_mb(),
        "statuses": {k: int(v) for k, v in statuses.items()},
    }


def table(results: list[dict[str, Any]]) -> str:
    seen = {s for r in results for s in r["statuses"]}
    statuses = [s for s in ("Complete", "In Progress", "Submitted") if s in seen] + sorted(
        seen - {"Complete", "In Progress", "Submitted"}
    )
    head = ["orders", "days", "workers", "wall s", "orders/s", "fulfilled/s", "lines done", "events/s", "peak MB"]
    rows = [
        [
            f"{r['orders']:,}",
            str(r["days"]),
            str(r["workers"]),
            f"{r['wall_s']:.1f}",
            f"{r['orders'] / r['wall_s']:,.0f}",
            f"{r['statuses'].get('Complete', 0) / r['wall_s']:,.0f}",
            f"{r['lines_complete']:,}",
            f"{r['events'] / r['wall_s']:,.0f}",
            f"{r['peak_rss_mb']:,.0f}",
        ]
        + [f"{r['statuses'].get(s, 0):,}" for s in statuses]
        for r in results
    ]
    head += statuses
    return render(head, rows)


if __name__ == "__main__":
    main(str(Path(__file__).resolve()), __doc__.splitlines()[0], measure, table)
