"""The naive baseline: the hardware-order lifecycle written the obvious way, against cmpsim.

The obvious way is one SimPy process per order and one SQL statement per row: the process inserts
its order and its lines, waits for each job or daemon that moves it on, and at each step updates
its own rows and appends its own event, one statement at a time, on a DuckDB file like cmpsim's.

Both run the same work: the baseline's hardware shop scaled to N orders over 30 days, with fraud
check, abandonment, enrolment, stock checks, warehouse errors and faults off and capacity and stock
ample — where the two models coincide. The naive model replays cmpsim's own orders and the
warehouses' lead-time draws (it is handed the run's orders, lines, generation moments and lead
times), and mirrors cmpsim's timetable: AgentView every hour, Sales Order Request at its scheduled
times, the extract daemon and the warehouse intake on their 30-minute polls, each warehouse's daily
dispatch run over the lines ready by then, the hourly load daemon and Sales Order Dispatch on arrival
of work. The benchmark prints both wall times, the ratio, and how many orders end in the same
status at the same moment in both.

    .venv/bin/python benchmarks/naive_orders.py                 # 20,000 orders
    .venv/bin/python benchmarks/naive_orders.py --orders 5000
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import simpy
from harness import main, peak_rss_mb, render, scaled_warehouses

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.yaml"
HEADROOM = 2.0
DAY_S = 86_400

NAIVE_DDL = """
CREATE TABLE orders (order_id VARCHAR PRIMARY KEY, account_id VARCHAR, status VARCHAR, created_at TIMESTAMP,
                     generated_at TIMESTAMP, completed_at TIMESTAMP);
CREATE TABLE order_lines (order_id VARCHAR, line_no INTEGER, product_id VARCHAR, quantity INTEGER, status VARCHAR,
                          PRIMARY KEY (order_id, line_no));
CREATE TABLE request_lines (request_line_id VARCHAR PRIMARY KEY, order_id VARCHAR, line_no INTEGER, unit_no INTEGER,
                            product_id VARCHAR, quantity INTEGER, warehouse_id VARCHAR, status VARCHAR,
                            ready_at TIMESTAMP, dispatched_at TIMESTAMP);
CREATE TABLE stock (warehouse_id VARCHAR, product_id VARCHAR, on_hand INTEGER, reserved INTEGER,
                    PRIMARY KEY (warehouse_id, product_id));
CREATE TABLE events (ts TIMESTAMP, object_type VARCHAR, object_id VARCHAR, activity VARCHAR);
"""


def overrides(orders: int, days: int) -> dict[str, Any]:
    """The baseline's hardware shop scaled to `orders` orders, with everything random but the flow off."""
    from cmpsim.scenario import load

    base = load(BASELINE).public_dict()
    per_day = orders / days
    scale = HEADROOM * max(1.0, per_day / base["demand"]["orders_per_day"])
    stock_scale = HEADROOM * max(1.0, orders / (base["demand"]["orders_per_day"] * base["horizon_days"]))
    warehouses = scaled_warehouses(base["warehouses"], scale, stock_scale, error_rate=0)
    return {
        "horizon_days": days,
        "demand": {"orders_per_day": per_day, "explicit_orders": [], "abandon_rate": 0, "enrolment_rate": 0,
                   "stock_check_rate": 0, "stock_checks_per_day": 0},
        "accounts": {"generate": {"count": max(5000, orders // 2)}},
        "warehouses": warehouses,
        "processes": ["hardware"],
        "properties": {"sales.order.request.extract.fraudcheckrequired": False},
        "faults": [],
    }


def measure(orders: int, days: int, keep: Path | None) -> dict[str, Any]:
    """cmpsim on the work, then the naive model on the same orders; both timed in this process."""
    import cmpsim
    from cmpsim.scenario import load

    scenario = load(BASELINE, overrides=overrides(orders, days))
    with tempfile.TemporaryDirectory(prefix="cmpsim-naive-") as tmp:
        folder = keep if keep is not None else Path(tmp)
        started = time.perf_counter()
        with cmpsim.run(scenario, out=folder / f"cmpsim-{orders}") as run:
            cmpsim_s = time.perf_counter() - started
            work = _work(run.con, scenario)
            expected = run.con.execute(
                "SELECT order_id, status, completed_at FROM orders"
            ).fetchall()
        started = time.perf_counter()
        got = naive_run(work, folder / f"naive-{orders}.duckdb")
        naive_s = time.perf_counter() - started
    by_id = {o: (s, t) for o, s, t in got}
    same = sum(1 for o, s, t in expected if by_id.get(o) == (s, t))
    statuses: dict[str, int] = {}
    for _, s, _ in expected:
        statuses[s] = statuses.get(s, 0) + 1
    return {"orders": len(expected), "days": days, "cmpsim_s": cmpsim_s, "naive_s": naive_s,
            "same": same, "statuses": statuses, "peak_mb": peak_rss_mb()}


def _work(con: duckdb.DuckDBPyConnection, scenario) -> dict[str, Any]:
    """What the naive model is handed: the run's orders, lines, generation moments and lead times."""
    start = scenario.start
    orders = con.execute(
        """SELECT o.order_id, o.account_id, epoch(o.created_at - ?::TIMESTAMP)::BIGINT,
                  epoch(d.generate_at - ?::TIMESTAMP)::BIGINT
           FROM orders o JOIN sales_order_details d USING (order_id) ORDER BY o.created_at, o.order_id""",
        [start, start]).fetchall()
    lines: dict[str, list[tuple]] = {}
    for order_id, line_no, product_id, quantity, serialised in con.execute(
            """SELECT l.order_id, l.line_no, l.product_id, l.quantity, p.serialised
               FROM order_lines l JOIN products p USING (product_id) ORDER BY ALL""").fetchall():
        lines.setdefault(order_id, []).append((line_no, product_id, quantity, serialised))
    lead = {(o, n, u): s for o, n, u, s in con.execute(
        """SELECT r.order_id, r.line_no, r.unit_no, epoch(w.ready_at - w.received_at)::BIGINT
           FROM request_lines r JOIN wh_requests w USING (request_line_id)""").fetchall()}
    return {
        "start": start,
        "horizon_s": scenario.horizon_days * DAY_S,
        "orders": orders,
        "lines": lines,
        "lead_s": lead,
        "warehouses": con.execute(
            "SELECT warehouse_id, dispatch_time FROM warehouses ORDER BY preference").fetchall(),
        "stock": [(w["id"], p, q) for w in scenario["warehouses"] for p, q in w["stock"].items()],
        "schedules": scenario["schedules"],
    }


def naive_run(work: dict[str, Any], db: Path) -> list[tuple]:
    """Every order its own SimPy process; every row written by its own statement."""
    con = duckdb.connect(str(db))
    con.execute(NAIVE_DDL)
    for warehouse_id, product_id, on_hand in work["stock"]:
        con.execute("INSERT INTO stock VALUES (?, ?, ?, 0)", [warehouse_id, product_id, on_hand])
    start, s = work["start"], work["schedules"]
    agentview_s = s["agentview_interval_minutes"] * 60
    request_times = sorted(_seconds(t) for t in s["sales_order_request"]["at"])
    extract, load = s["extract_poll_minutes"] * 60, s["load_poll_minutes"] * 60
    env = simpy.Environment()
    ids = iter(range(1, 10**9))

    def at(second: int) -> dt.datetime:
        return start + dt.timedelta(seconds=second)

    def event(object_id: str, activity: str) -> None:
        con.execute("INSERT INTO events VALUES (?, 'order', ?, ?)", [at(env.now), object_id, activity])

    def order(order_id: str, account_id: str, created_s: int, generate_s: int):
        yield env.timeout(created_s - env.now)
        con.execute("INSERT INTO orders VALUES (?, ?, 'New', ?, NULL, NULL)", [order_id, account_id, at(env.now)])
        for line_no, product_id, quantity, _ in work["lines"][order_id]:
            con.execute("INSERT INTO order_lines VALUES (?, ?, ?, ?, 'New')", [order_id, line_no, product_id, quantity])
        event(order_id, "Order Created")
        yield env.timeout(_next_tick(max(generate_s, env.now), agentview_s, agentview_s) - env.now)
        con.execute("UPDATE orders SET status = 'Awaiting Generation', generated_at = ? WHERE order_id = ?",
                    [at(generate_s), order_id])
        con.execute("UPDATE order_lines SET status = 'Awaiting Generation' WHERE order_id = ?", [order_id])
        event(order_id, "Order Generated")
        # At a moment both wake, Sales Order Request runs before AgentView (cmpsim's step order).
        yield env.timeout(_next_daily(env.now + 1, request_times) - env.now)
        units = []
        for line_no, product_id, quantity, serialised in work["lines"][order_id]:
            for unit_no in range(1, (quantity if serialised else 1) + 1):
                warehouse_id = _reserve(con, work["warehouses"], product_id, 1 if serialised else quantity)
                request_line_id = f"RL-{next(ids):09d}"
                con.execute("INSERT INTO request_lines VALUES (?, ?, ?, ?, ?, ?, ?, 'Requested', NULL, NULL)",
                            [request_line_id, order_id, line_no, unit_no, product_id,
                             1 if serialised else quantity, warehouse_id])
                units.append((request_line_id, warehouse_id, product_id, 1 if serialised else quantity,
                              work["lead_s"].get((order_id, line_no, unit_no), DAY_S)))
        con.execute("UPDATE orders SET status = 'Awaiting Dispatch' WHERE order_id = ?", [order_id])
        con.execute("UPDATE order_lines SET status = 'Awaiting Dispatch' WHERE order_id = ?", [order_id])
        event(order_id, "Order Requested")
        received = _next_tick(_next_tick(env.now, extract, 60), extract, 120)
        shipped = []
        for request_line_id, warehouse_id, product_id, quantity, lead_s in units:
            ready = received + lead_s
            con.execute("UPDATE request_lines SET ready_at = ? WHERE request_line_id = ?", [at(ready), request_line_id])
            dispatch = _next_daily(ready, [_seconds(t) for w, t in work["warehouses"] if w == warehouse_id])
            shipped.append((_next_tick(dispatch, load, 180), dispatch, request_line_id, warehouse_id, product_id,
                            quantity))
        for loaded, dispatch, request_line_id, warehouse_id, product_id, quantity in sorted(shipped):
            yield env.timeout(loaded - env.now)
            con.execute("UPDATE request_lines SET status = 'Dispatched', dispatched_at = ? WHERE request_line_id = ?",
                        [at(dispatch), request_line_id])
            con.execute("""UPDATE stock SET on_hand = on_hand - ?, reserved = reserved - ?
                           WHERE warehouse_id = ? AND product_id = ?""", [quantity, quantity, warehouse_id, product_id])
            event(request_line_id, "Line Dispatched")
        con.execute("UPDATE order_lines SET status = 'Complete' WHERE order_id = ?", [order_id])
        con.execute("UPDATE orders SET status = 'Complete', completed_at = ? WHERE order_id = ?",
                    [at(env.now), order_id])
        event(order_id, "Order Complete")

    for order_id, account_id, created_s, generate_s in work["orders"]:
        env.process(order(order_id, account_id, created_s, generate_s))
    env.run(until=work["horizon_s"])
    result = con.execute("SELECT order_id, status, completed_at FROM orders").fetchall()
    con.close()
    return result


def _reserve(con: duckdb.DuckDBPyConnection, warehouses: list[tuple], product_id: str, quantity: int) -> str:
    """The first warehouse in preference order with free stock (else the first), reserved there."""
    chosen = warehouses[0][0]
    for warehouse_id, _ in warehouses:
        free = con.execute("SELECT on_hand - reserved FROM stock WHERE warehouse_id = ? AND product_id = ?",
                           [warehouse_id, product_id]).fetchall()
        if free and free[0][0] >= quantity:
            chosen = warehouse_id
            break
    con.execute("UPDATE stock SET reserved = reserved + ? WHERE warehouse_id = ? AND product_id = ?",
                [quantity, chosen, product_id])
    return chosen


def _seconds(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def _next_tick(t: int, interval: int, offset: int) -> int:
    """The first wake-up at or after t of a daemon polling every `interval` from `offset`."""
    return offset + max(0, -(-(t - offset) // interval)) * interval


def _next_daily(t: int, times: list[int]) -> int:
    """The first of the daily moments `times` at or after t."""
    day = t // DAY_S * DAY_S
    for offset in sorted(times):
        if day + offset >= t:
            return day + offset
    return day + DAY_S + min(times)


def table(results: list[dict[str, Any]]) -> str:
    head = ["orders", "days", "cmpsim s", "naive s", "naive / cmpsim", "same status and moment", "peak MB"]
    rows = [[f"{r['orders']:,}", str(r["days"]), f"{r['cmpsim_s']:.1f}", f"{r['naive_s']:.1f}",
             f"{r['naive_s'] / r['cmpsim_s']:.1f}x", f"{r['same']:,} of {r['orders']:,}", f"{r['peak_mb']:.0f}"]
            for r in results]
    return render(head, rows) + "\n" + "\n".join(
        f"  final statuses at {r['orders']:,} orders: {r['statuses']}" for r in results)


if __name__ == "__main__":
    main(str(Path(__file__).resolve()), __doc__.splitlines()[0], measure, table, sizes=(20_000,))
