"""The whole pipeline at 10,000, 100,000 and 1,000,000 orders over 30 simulated days.

For each size N, replays the baseline scaled so that about N orders arrive in 30 days — 85 % hardware
sales orders, 15 % service orders — over N/4 accounts with an installed base (half of them), with
warehouses, fulfilment workers and stock sized so that nothing blocks the flow; every process runs:
orders, fulfilment, the daily billing run, posting to the ledgers through files, payments, refunds,
communications (bill notices and order notices by SMS and push, letters and bills rendered for a
sample only), probes; then the run is reconciled. It prints, per size, one row: orders, days, wall
seconds (run and reconciliation), events and events per second, peak memory; then where the time
went (the steps that took most). Each size runs in its own subprocess.

    .venv/bin/python benchmarks/pipeline.py                                # 10k, 100k and 1M
    .venv/bin/python benchmarks/pipeline.py --orders 100000 --keep runs/bench --naive-orders 0

After the table, in the same invocation, it runs the naive baseline (benchmarks/naive_orders.py,
20,000 orders; --naive-orders 0 skips it) and the sweep speed-up (benchmarks/sweep.py, 20
replications; --sweep-replications 0 skips it).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import main, peak_rss_mb, render, scaled_warehouses

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.yaml"
SERVICE_SHARE = 0.15
HEADROOM = 2.0


def overrides(orders: int, days: int) -> dict[str, Any]:
    """The baseline scaled to `orders` orders over `days` days, nothing blocking the flow."""
    from cmpsim.randomness import mean_of
    from cmpsim.scenario import load

    base = load(BASELINE).public_dict()
    hardware_per_day = orders * (1 - SERVICE_SHARE) / days
    service_per_day = orders * SERVICE_SHARE / days
    scale = HEADROOM * max(1.0, hardware_per_day / base["demand"]["orders_per_day"])
    stock_scale = HEADROOM * max(1.0, hardware_per_day * days / (base["demand"]["orders_per_day"] * 28))
    warehouses = scaled_warehouses(base["warehouses"], scale, stock_scale)
    service = base["service"]
    work_minutes = sum(mean_of(s["duration_minutes"]) for s in service["fulfilment"]["steps"])
    workers = max(4, math.ceil(service_per_day * 1.8 * work_minutes / (0.8 * 1440)))
    return {
        "horizon_days": days,
        "accounts": {"generate": {"count": max(2000, orders // 4)}},
        "warehouses": warehouses,
        "demand": {"orders_per_day": hardware_per_day, "explicit_orders": [],
                   "stock_checks_per_day": hardware_per_day * 0.25},
        "service": {"demand": {"orders_per_day": service_per_day}, "explicit_orders": [],
                    "installed_base": {"share": 0.5}, "fulfilment": {"workers": workers}},
        "billing": {"bill_print": {"mode": "sample", "sample_rate": 0.0001, "accounts": [],
                                   "documents_per_run_max": 20}},
        "comms": {"rules": [
            {"trigger": "order_dispatched", "template": "order-dispatched", "channel": "sms"},
            {"trigger": "order_error", "template": "order-problem", "channel": "sms"},
            {"trigger": "invoice_produced", "template": "bill-ready", "channel": "push_handset"},
            {"trigger": "payment_overdue", "template": "payment-reminder", "channel": "letter", "after_days": 7},
            {"trigger": "probe_alert", "template": "probe-alert", "channel": "recipient"}],
            "app_share": 1.0,
            "letters": {"mode": "sample", "sample_rate": 0.001, "accounts": [], "documents_per_run_max": 5}},
        "faults": [],
    }


def measure(orders: int, days: int, keep: Path | None) -> dict[str, Any]:
    import cmpsim
    from cmpsim.reconcile import reconcile
    from cmpsim.scenario import load

    scenario = load(BASELINE, overrides=overrides(orders, days))
    with tempfile.TemporaryDirectory(prefix="cmpsim-bench-") as tmp:
        out = (keep if keep is not None else Path(tmp)) / f"pipeline-{orders}"
        started = time.perf_counter()
        with cmpsim.run(scenario, out=out) as run:
            ran = time.perf_counter() - started
            began = time.perf_counter()
            rec = reconcile(run.con)
            reconciled = time.perf_counter() - began
            counts = dict(run.con.execute("SELECT kind, count(*) FROM orders GROUP BY ALL").fetchall())
            figures = {name: run.store.scalar(f"SELECT count(*) FROM {table}") for name, table in (
                ("events", "events"), ("invoices", "invoices"), ("comms", "comms"), ("postings", "postings"))}
            top = sorted(run.wall_s.items(), key=lambda kv: -kv[1])[:6]
    return {"orders": sum(counts.values()), "hardware": counts.get("hardware", 0), "service": counts.get("service", 0),
            "days": days, "run_s": ran, "reconcile_s": reconciled, "breaks": rec.breaks.height,
            "peak_mb": peak_rss_mb(), "top": top, **figures}


def table(results: list[dict[str, Any]]) -> str:
    head = ["orders", "hardware", "service", "days", "invoices", "comms", "run s", "reconcile s", "wall s",
            "events", "events/s", "peak MB", "breaks"]
    rows = [[f"{r['orders']:,}", f"{r['hardware']:,}", f"{r['service']:,}", str(r["days"]), f"{r['invoices']:,}",
             f"{r['comms']:,}", f"{r['run_s']:.1f}", f"{r['reconcile_s']:.2f}",
             f"{r['run_s'] + r['reconcile_s']:.1f}", f"{r['events']:,}",
             f"{r['events'] / r['run_s']:,.0f}", f"{r['peak_mb']:.0f}", str(r["breaks"])] for r in results]
    where = "\n".join(f"  {r['orders']:>9,} orders: " + ", ".join(f"{name} {s:.1f} s" for name, s in r["top"])
                      for r in results)
    return render(head, rows) + "\nwhere the time went (wall seconds per step):\n" + where


def extras(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The options of the runs that follow the table: the naive baseline and the sweep speed-up."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--naive-orders", type=int, default=20_000, help="orders of the naive baseline (0: skip)")
    parser.add_argument("--sweep-replications", type=int, default=20, help="replications of the sweep (0: skip)")
    return parser.parse_known_args(argv)


if __name__ == "__main__":
    extra, rest = extras(sys.argv[1:])
    main(__file__, "The whole order-to-cash pipeline at scale.", measure, table, rest,
         sizes=(10_000, 100_000, 1_000_000), days=30)
    if "--child" not in rest:
        here = Path(__file__).resolve().parent
        if extra.naive_orders:
            print("\nnaive baseline: the hardware lifecycle, one SimPy process per order, row-by-row writes")
            subprocess.run([sys.executable, str(here / "naive_orders.py"), "--orders", str(extra.naive_orders)],
                           check=True)
        if extra.sweep_replications:
            print("\nsweep: the baseline for 3 days, serial against 2 local Dask workers")
            subprocess.run([sys.executable, str(here / "sweep.py"), "--replications", str(extra.sweep_replications)],
                           check=True)
