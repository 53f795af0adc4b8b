"""AgentView: customer service agents taking hardware orders, checking stock, generating orders.

The agents are simulated, not part of CMP. Each wake-up covers the time since the last one:
orders arrive as a Poisson process over business hours, get their items (lines) while New, some
get a stock check first, and each is generated (New → Awaiting Generation) after a delay drawn at
creation; a share is abandoned and stays New. Explicit scenario orders arrive at their own times.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from cmpsim.arrivals import arrivals_in, random_account_ids
from cmpsim.randomness import draw
from cmpsim.reference import random_names

DAY_S = 86_400


def agentview_step(sim) -> int:
    """One AgentView wake-up: take orders, check stock, generate the orders that are due."""
    interval_s = sim.scenario["schedules"]["agentview_interval_minutes"] * 60
    # Orders are taken up to now once: a wake-up run again at the same moment takes none twice.
    taken_until = sim.store.allocate("agentview.taken_until_s", 0)
    t0, t1 = max(sim.now_s - interval_s, taken_until, 0), sim.now_s
    sim.store.allocate("agentview.taken_until_s", max(t1 - taken_until, 0))
    orders, lines = _arrivals(sim, t0, t1)
    taken = _insert_orders(sim, orders, lines)
    checks = _stock_checks(sim, orders, lines, t0, t1)
    generated = _generate_due(sim)
    return taken + checks + generated


def _arrivals(sim, t0: int, t1: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    random_orders, random_lines = _random_orders(sim, t0, t1)
    explicit_orders, explicit_lines = _explicit_orders(sim, t0, t1)
    orders = pl.concat([random_orders, explicit_orders]).sort("created_s", "source", "source_no")
    base = sim.store.allocate("hardware_order", orders.height)
    ids = orders.select("source", "source_no").with_columns(
        order_id=pl.format("HW-{}", (pl.int_range(1, orders.height + 1) + base).cast(pl.Utf8).str.zfill(8))
    )
    orders = orders.join(ids, on=["source", "source_no"], how="left", maintain_order="left")
    lines = pl.concat([random_lines, explicit_lines]).join(ids, on=["source", "source_no"], how="inner")
    return orders, lines.sort("order_id", "line_no")


def _order_schema() -> dict[str, pl.DataType]:
    return {
        "source": pl.Utf8,
        "source_no": pl.Int64,
        "created_s": pl.Int64,
        "account_id": pl.Utf8,
        "gift_name": pl.Utf8,
        "enrol_devices": pl.Boolean,
        "generate_after_s": pl.Int64,
        "stock_check": pl.Boolean,
        "fraud_draw": pl.Float64,
        "delivery_line1": pl.Utf8,
        "delivery_city": pl.Utf8,
        "delivery_postcode": pl.Utf8,
        "delivery_country": pl.Utf8,
    }


def _line_schema() -> dict[str, pl.DataType]:
    return {"source": pl.Utf8, "source_no": pl.Int64, "line_no": pl.Int32, "product_id": pl.Utf8, "quantity": pl.Int32}


def _random_orders(sim, t0: int, t1: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    demand = sim.scenario["demand"]
    rng = sim.rng("demand")
    created = arrivals_in(sim, rng, demand["orders_per_day"], t0, t1)
    n = len(created)
    if n == 0:
        return pl.DataFrame(schema=_order_schema()), pl.DataFrame(schema=_line_schema())
    gift = rng.random(n) < demand["gift_delivery_rate"]
    abandoned = rng.random(n) < demand["abandon_rate"]
    delay_s = np.round(draw(demand["generation_delay_minutes"], rng, n) * 60).astype(np.int64)
    orders = pl.DataFrame(
        {
            "source": ["random"] * n,
            "source_no": np.arange(n, dtype=np.int64),
            "created_s": created,
            "account_id": random_account_ids(sim, rng, n),
            "gift_name": pl.Series(random_names(rng, n)).zip_with(
                pl.Series(gift), pl.Series([None] * n, dtype=pl.Utf8)
            ),
            "enrol_devices": rng.random(n) < demand["enrolment_rate"],
            "generate_after_s": pl.Series(np.where(abandoned, -1, delay_s)).replace(-1, None),
            "stock_check": rng.random(n) < demand["stock_check_rate"],
            "fraud_draw": rng.random(n),
        }
    ).with_columns(
        **{
            c: pl.lit(None, pl.Utf8)
            for c in ("delivery_line1", "delivery_city", "delivery_postcode", "delivery_country")
        }
    )
    return orders.cast(_order_schema()), _random_lines(sim, rng, n)


def _random_lines(sim, rng: np.random.Generator, n: int) -> pl.DataFrame:
    demand = sim.scenario["demand"]
    per_order = np.maximum(np.round(draw(demand["lines_per_order"], rng, n)), 1).astype(np.int64)
    total = int(per_order.sum())
    mix = demand["product_mix"]
    products = np.asarray(list(mix))
    weights = np.asarray(list(mix.values()), dtype=float)
    order_no = np.repeat(np.arange(n, dtype=np.int64), per_order)
    line_no = np.arange(total) - np.repeat(np.cumsum(per_order) - per_order, per_order) + 1
    return pl.DataFrame(
        {
            "source": ["random"] * total,
            "source_no": order_no,
            "line_no": line_no,
            "product_id": products[rng.choice(len(products), size=total, p=weights / weights.sum())],
            "quantity": np.maximum(np.round(draw(demand["quantity"], rng, total)), 1).astype(np.int64),
        }
    ).cast(_line_schema())


def _explicit_orders(sim, t0: int, t1: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    orders, lines = [], []
    for i, spec in enumerate(sim.scenario["demand"]["explicit_orders"]):
        at_s = int((dt.datetime.fromisoformat(spec["at"]) - sim.start).total_seconds())
        if not t0 < at_s <= t1 and not (t0 == 0 and at_s == 0):
            continue
        delivery = spec.get("delivery")
        address = delivery["address"] if delivery else {}
        orders.append(
            {
                "source": "explicit",
                "source_no": i,
                "created_s": at_s,
                "account_id": spec["account"],
                "gift_name": delivery["name"] if delivery else None,
                "enrol_devices": spec.get("enrol_devices", False),
                "generate_after_s": None
                if spec.get("generate") is False
                else int(round(spec.get("generation_delay_minutes", 0) * 60)),
                "stock_check": False,
                "fraud_draw": 1.0,  # explicit orders pass the random part
                "delivery_line1": address.get("line1"),
                "delivery_city": address.get("city"),
                "delivery_postcode": address.get("postcode"),
                "delivery_country": address.get("country"),
            }
        )
        lines += [
            {
                "source": "explicit",
                "source_no": i,
                "line_no": j + 1,
                "product_id": line["product"],
                "quantity": line.get("quantity", 1),
            }
            for j, line in enumerate(spec["lines"])
        ]
    return pl.DataFrame(orders, schema=_order_schema()), pl.DataFrame(lines, schema=_line_schema())


def _insert_orders(sim, orders: pl.DataFrame, lines: pl.DataFrame) -> int:
    if orders.height == 0:
        return 0
    con, start = sim.con, sim.start
    con.register("_orders", orders.to_arrow())
    con.register("_lines", lines.to_arrow())
    con.execute(
        """
        INSERT INTO orders
        SELECT o.order_id, 'hardware', 'new', o.account_id, 'New', NULL, 5, a.price_list,
               ?::TIMESTAMP + to_seconds(o.created_s), NULL, NULL
        FROM _orders o JOIN accounts a USING (account_id) ORDER BY o.order_id""",
        [start],
    )
    con.execute(
        """
        INSERT INTO sales_order_details
        SELECT o.order_id, coalesce(o.gift_name, a.name), coalesce(o.delivery_line1, a.address_line1),
               coalesce(o.delivery_city, a.city), coalesce(o.delivery_postcode, a.postcode),
               coalesce(o.delivery_country, a.country),
               ?::TIMESTAMP + to_seconds(o.created_s + o.generate_after_s), o.enrol_devices,
               'not checked', o.fraud_draw
        FROM _orders o JOIN accounts a USING (account_id) ORDER BY o.order_id""",
        [start],
    )
    con.execute(
        """
        INSERT INTO generation_queue
        SELECT order_id, ?::TIMESTAMP + to_seconds(created_s + generate_after_s) FROM _orders
        WHERE generate_after_s IS NOT NULL ORDER BY order_id""",
        [start],
    )
    con.execute("""
        INSERT INTO order_lines
        SELECT l.order_id, l.line_no, l.product_id, 'Add', p.price_list, l.quantity, p.unit_price,
               'New', NULL, NULL
        FROM _lines l JOIN products p USING (product_id) ORDER BY l.order_id, l.line_no""")
    created = pl.lit(start) + pl.duration(seconds="created_s")
    sim.store.record_event_frame(pl.concat([
        orders.select(ts=created, object_type=pl.lit("order"), object_id="order_id",
                      activity=pl.lit("Order Created"), detail="account_id"),
        lines.join(orders.select("order_id", "created_s"), on="order_id").select(
            ts=created, object_type=pl.lit("order"), object_id="order_id", activity=pl.lit("Item Added"),
            detail=pl.concat_str("line_no", pl.lit(": "), "quantity", pl.lit(" x "), "product_id")),
    ]), sim.current_job)
    return orders.height


def _stock_checks(sim, orders: pl.DataFrame, lines: pl.DataFrame, t0: int, t1: int) -> int:
    """Stock checks by agents: before some orders are generated, and on their own (no order)."""
    checked = (
        orders.filter("stock_check")
        .select("order_id", "created_s")
        .join(lines.select("order_id", "product_id", "quantity"), on="order_id")
    )
    rng = sim.rng("stock_checks")
    times = arrivals_in(sim, rng, sim.scenario["demand"]["stock_checks_per_day"], t0, t1)
    n = len(times)
    mix = sim.scenario["demand"]["product_mix"]
    standalone = pl.DataFrame(
        {
            "order_id": pl.Series([None] * n, dtype=pl.Utf8),
            "created_s": times,
            "product_id": np.asarray(list(mix))[rng.integers(0, len(mix), n)] if n else np.zeros(0, dtype=str),
            "quantity": rng.integers(1, 4, n),
        }
    ).cast({"product_id": pl.Utf8, "quantity": pl.Int32})
    checks = pl.concat([checked.cast({"quantity": pl.Int32}), standalone]).sort(
        "created_s", "order_id", "product_id", nulls_last=True
    )
    if checks.height == 0:
        return 0
    base = sim.store.allocate("stock_check", checks.height)
    checks = checks.with_columns(
        check_id=pl.format("SC-{}", (pl.int_range(1, checks.height + 1) + base).cast(pl.Utf8).str.zfill(8))
    )
    # Seed 001: a deployment connected to a warehouse asks the warehouse itself: what it held at that
    # moment less what it had been asked for and not dispatched; otherwise the check reads CMP's view
    # (on hand less reserved).
    sim.con.register("_checks", checks.to_arrow())
    sim.con.execute(
        """
        INSERT INTO stock_checks
        WITH checks AS (SELECT *, ?::TIMESTAMP + to_seconds(created_s) AS checked_at FROM _checks),
        asked AS (
            SELECT c.check_id, r.warehouse_id,
                   sum(r.quantity) FILTER (WHERE r.received_at <= c.checked_at
                                             AND (r.dispatched_at IS NULL OR r.dispatched_at > c.checked_at)) AS open,
                   sum(r.quantity) FILTER (WHERE r.outcome = 'SHIPPED' AND r.dispatched_at > c.checked_at) AS since
            FROM checks c JOIN wh_requests r USING (product_id) JOIN warehouses w USING (warehouse_id)
            WHERE w.connected GROUP BY ALL),
        views AS (
            SELECT c.check_id, s.warehouse_id, w.preference, w.connected,
                   CASE WHEN w.connected THEN coalesce(h.on_hand, 0) + coalesce(a.since, 0) - coalesce(a.open, 0)
                        ELSE s.on_hand - s.reserved END AS available
            FROM checks c JOIN stock s USING (product_id) JOIN warehouses w USING (warehouse_id)
                 LEFT JOIN wh_stock h USING (warehouse_id, product_id)
                 LEFT JOIN asked a ON a.check_id = c.check_id AND a.warehouse_id = s.warehouse_id)
        SELECT c.check_id, c.checked_at, c.order_id, c.product_id, c.quantity,
               arg_min(v.warehouse_id, v.preference) FILTER (WHERE v.available >= c.quantity),
               coalesce(max(v.available), 0), coalesce(max(v.available), 0) >= c.quantity,
               CASE WHEN bool_or(v.connected) THEN 'warehouse' ELSE 'cmp' END
        FROM checks c LEFT JOIN views v USING (check_id)
        GROUP BY c.check_id, c.checked_at, c.order_id, c.product_id, c.quantity ORDER BY c.check_id""",
        [sim.start],
    )
    return checks.height


def _generate_due(sim) -> int:
    """New → Awaiting Generation for every order whose agent has pressed Generate by now."""
    # The queue holds only orders still to generate, so a wake-up never scans the order history.
    due = sorted(
        sim.con.execute(
            "DELETE FROM generation_queue WHERE generate_at <= ? RETURNING order_id, generate_at", [sim.now]
        ).fetchall()
    )
    if due:
        ids, moments = [d[0] for d in due], [d[1] for d in due]
        sim.con.execute(
            """UPDATE orders SET status = 'Awaiting Generation', generated_at = g.generate_at
                           FROM (SELECT unnest(?) AS order_id, unnest(?) AS generate_at) g
                           WHERE orders.order_id = g.order_id""",
            [ids, moments],
        )
        sim.con.execute(
            """UPDATE order_lines SET status = 'Awaiting Generation'
                           WHERE order_id IN (SELECT unnest(?))""",
            [ids],
        )
        sim.store.record_events_at(moments, "order", ids, "Order Generated", sim.current_job)
    return len(due)
