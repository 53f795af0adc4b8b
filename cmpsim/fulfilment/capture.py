"""CRM Order Capture: service orders submitted from CRM to order management (seed 004).

Each wake-up takes the orders submitted since the last one: the scenario's explicit orders (every
order type, for exact cases) and random ones (new orders, some future-dated, and modify orders on
installed assets). It checks what can be checked at submission — known products and price lists,
the structure of bundles, the base order of a follow-on — resolves price lists, and records each
order as Submitted, Pending (a supplemental order, applied by the fulfilment daemon) or Rejected
with its reason. Nothing here takes a worker: fulfilment is `cmpsim.fulfilment.fulfil`.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from cmpsim.arrivals import arrivals_in, random_account_ids
from cmpsim.fulfilment import pricelists
from cmpsim.fulfilment.future import judge_future
from cmpsim.fulfilment.jobs import epoch_s, epoch_ts, sync_public_lines
from cmpsim.fulfilment.orderqueue import dequeue, message_queue, message_seconds
from cmpsim.fulfilment.workqueue import work_queue
from cmpsim.randomness import draw
from cmpsim.store import registered

ORDER_COLUMNS = {"source_no": pl.Int64, "external_id": pl.Utf8, "submitted_s": pl.Int64, "account_id": pl.Utf8,
                 "order_type": pl.Utf8, "base_external": pl.Utf8, "priority": pl.Int32, "due_s": pl.Int64,
                 "header_price_list": pl.Utf8}
PICKED = {"asset_id": pl.String, "account_id": pl.String, "product_id": pl.String, "state": pl.String}
NAMED_ASSETS = {"asset_id": pl.String, "asset_price_list": pl.String, "asset_from_header": pl.Boolean}
LINE_COLUMNS = {"source_no": pl.Int64, "line_ref": pl.Utf8, "product_id": pl.Utf8, "action": pl.Utf8,
                "price_list": pl.Utf8, "asset_id": pl.Utf8, "location": pl.Utf8, "depends_on_line": pl.Utf8,
                "quantity": pl.Int32, "price_override": pl.Utf8}


def capture_step(sim) -> int:
    interval_s = sim.scenario["schedules"]["agentview_interval_minutes"] * 60
    # Orders are captured up to now once: a wake-up run again at the same moment captures none twice.
    taken_until = sim.store.allocate("crm.captured_until_s", 0)
    t0, t1 = max(sim.now_s - interval_s, taken_until, 0), sim.now_s
    sim.store.allocate("crm.captured_until_s", max(t1 - taken_until, 0))
    explicit_orders, explicit_lines = _explicit(sim, t0, t1)
    random_orders, random_lines = _random(sim, t0, t1)
    orders = pl.concat([explicit_orders, random_orders]).sort("submitted_s", "source_no")
    if orders.height == 0:
        return 0
    base = sim.store.allocate("service_order", orders.height)
    orders = orders.with_columns(
        order_id=pl.format("SO-{}", (pl.int_range(1, orders.height + 1) + base).cast(pl.Utf8).str.zfill(8)),
        seq=pl.int_range(1, orders.height + 1) + base)
    lines = pl.concat([explicit_lines, random_lines]).join(orders.select("source_no", "order_id"), on="source_no")
    _record(sim, orders, lines)
    dequeue(sim)  # the order queue's consumers listen: they take what was dropped at once
    return orders.height


def _explicit(sim, t0: int, t1: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    orders, lines = [], []
    explicit = sim.scenario["service"]["explicit_orders"]
    for i, spec in enumerate(explicit):
        source_no = i - len(explicit)  # negative: before random orders of the same second, in file order
        at_s = _seconds_since_start(sim, spec["at"])
        if not (t0 < at_s <= t1 or (t0 == 0 and at_s == 0)):
            continue
        due_s = _seconds_since_start(sim, spec["due"]) if spec.get("due") else None  # a revision keeps its base's
        orders.append({"source_no": source_no, "external_id": spec["id"], "submitted_s": at_s,
                       "account_id": spec["account"], "order_type": spec.get("type", "new"),
                       "base_external": spec.get("base_order"), "priority": spec.get("priority"),
                       "due_s": due_s, "header_price_list": spec.get("price_list")})
        # A line whose price is overridden and says no action is an Update: the CRM makes it so (Table 8-4).
        lines += [{"source_no": source_no, "line_ref": line["line"], "product_id": line["product"],
                   "action": line.get("action", "Update"), "price_list": line.get("price_list"),
                   "asset_id": line.get("asset"), "location": line.get("location"),
                   "depends_on_line": line.get("depends_on"), "quantity": line.get("quantity", 1),
                   "price_override": line.get("price_override")} for line in spec["lines"]]
    return pl.DataFrame(orders, schema=ORDER_COLUMNS), pl.DataFrame(lines, schema=LINE_COLUMNS)


def _seconds_since_start(sim, text: str) -> int:
    return int((dt.datetime.fromisoformat(text) - sim.start).total_seconds())


def _random(sim, t0: int, t1: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """New orders for random accounts, and modify orders on randomly chosen installed assets."""
    demand = sim.scenario["service"]["demand"]
    rng = sim.rng("service.demand")
    submitted = arrivals_in(sim, rng, demand["orders_per_day"], t0, t1)
    n = len(submitted)
    if n == 0 or not demand["product_mix"]:
        return pl.DataFrame(schema=ORDER_COLUMNS), pl.DataFrame(schema=LINE_COLUMNS)
    priorities = np.asarray([int(k) for k in demand["priority_mix"]])
    weights = np.asarray(list(demand["priority_mix"].values()), dtype=float)
    future = rng.random(n) < demand["future_dated_rate"]
    ahead_s = np.round(draw(demand["future_days"], rng, n) * 86400).astype(np.int64)
    modify = rng.random(n) < demand["modify_rate"]
    orders = pl.DataFrame({
        "source_no": np.arange(n, dtype=np.int64), "external_id": [None] * n, "submitted_s": submitted.astype(np.int64),
        "account_id": random_account_ids(sim, rng, n), "order_type": np.where(modify, "modify", "new"),
        "base_external": [None] * n, "priority": priorities[rng.choice(len(priorities), n, p=weights / weights.sum())],
        "due_s": submitted.astype(np.int64) + np.where(future & ~modify, ahead_s, 0),
        "header_price_list": [None] * n}).cast(ORDER_COLUMNS)
    orders, modify_lines = _modify_lines(sim, rng, orders)
    new_lines = _new_order_lines(sim, rng, orders.filter(pl.col("order_type") == "new"))
    return orders, pl.concat([new_lines, modify_lines])


def _new_order_lines(sim, rng: np.random.Generator, orders: pl.DataFrame) -> pl.DataFrame:
    """One product per new order, with its components under it when it is a bundle."""
    mix = sim.scenario["service"]["demand"]["product_mix"]
    products = np.asarray(list(mix))
    weights = np.asarray(list(mix.values()), dtype=float)
    chosen = products[rng.choice(len(products), orders.height, p=weights / weights.sum())]
    components = pl.DataFrame([{"product_id": p["id"], "component": c} for p in sim.scenario["service"]["products"]
                               for c in p["components"]], schema={"product_id": pl.Utf8, "component": pl.Utf8})
    top = pl.DataFrame({"source_no": orders["source_no"], "product_id": pl.Series(chosen, dtype=pl.Utf8)}
                       ).with_columns(line_ref=pl.lit("1"))
    parts = (top.join(components, on="product_id", maintain_order="left_right")
             .with_columns(line_ref=pl.format("1.{}", pl.int_range(1, pl.len() + 1).over("source_no")),
                           product_id="component").drop("component"))
    return (pl.concat([top, parts.select(top.columns)]).with_columns(
        action=pl.lit("Add"), price_list=pl.lit(None, pl.Utf8), asset_id=pl.lit(None, pl.Utf8),
        location=pl.format("SP-{}", "source_no"), depends_on_line=pl.lit(None, pl.Utf8),
        quantity=pl.lit(1, pl.Int32), price_override=pl.lit(None, pl.Utf8)).select(list(LINE_COLUMNS))
            .cast(LINE_COLUMNS))


def _modify_lines(sim, rng: np.random.Generator, orders: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A modify order acts on one installed asset: Suspend, Update or Delete an Active one, Resume a
    Suspended one. Without installed assets to pick from, a modify order becomes a new order."""
    wanted = orders.filter(pl.col("order_type") == "modify")
    count = sim.store.scalar("SELECT count(*) FROM assets WHERE state IN ('Active', 'Suspended')") \
        if wanted.height else 0
    k = min(wanted.height, count)
    chosen = np.sort(rng.choice(count, k, replace=False)).tolist() if k else []
    picked = sim.store.frame("""
        SELECT asset_id, account_id, product_id, state FROM (
            SELECT *, row_number() OVER (ORDER BY asset_id) - 1 AS rn FROM assets
            WHERE state IN ('Active', 'Suspended'))
        WHERE rn IN (SELECT unnest(?)) ORDER BY rn""", [chosen]) if k else pl.DataFrame(schema=PICKED)
    acting = wanted.head(k).with_columns(account_id=picked["account_id"])
    unplaced = wanted.slice(k)["source_no"].implode()
    kept = orders.with_columns(
        order_type=pl.when(pl.col("source_no").is_in(unplaced)).then(pl.lit("new")).otherwise("order_type")
    ).update(acting.select("source_no", "account_id"), on="source_no")
    verbs = np.asarray(["Suspend", "Update", "Delete"])[rng.choice(3, k, p=[0.4, 0.3, 0.3])]
    lines = pl.DataFrame({
        "source_no": acting["source_no"], "line_ref": ["1"] * k, "product_id": picked["product_id"],
        "action": np.where(picked["state"].to_numpy() == "Suspended", "Resume", verbs),
        "price_list": [None] * k, "asset_id": picked["asset_id"], "location": [None] * k,
        "depends_on_line": [None] * k, "quantity": [1] * k, "price_override": [None] * k}, schema=LINE_COLUMNS)
    return kept, lines


def _record(sim, orders: pl.DataFrame, lines: pl.DataFrame) -> None:
    """Check, resolve price lists and insert a batch of submitted orders with their lines."""
    service = sim.scenario["service"]
    con = sim.con
    con.register("_so", orders.to_arrow())
    con.register("_sl", lines.to_arrow())
    # Base orders by their CRM id: submitted before, or earlier in this very batch (asked only when an
    # order names one: a statement costs milliseconds, and random orders never do).
    checked = _unrelated(orders, service["default_price_list"]) if orders["base_external"].is_null().all() \
        else sim.store.frame("""
        WITH known AS (SELECT external_id, order_id, seq FROM service_orders WHERE external_id IS NOT NULL
                       UNION ALL SELECT external_id, order_id, seq FROM _so WHERE external_id IS NOT NULL)
        SELECT o.* REPLACE (coalesce(o.priority, bo.priority, 5) AS priority,
                            coalesce(o.due_s, epoch(bs.due_at)::BIGINT - epoch(?::TIMESTAMP)::BIGINT,
                                     o.submitted_s) AS due_s),
               coalesce(o.header_price_list, bo.price_list, ?) AS header, b.order_id AS base_order_id
        FROM _so o LEFT JOIN known b ON b.external_id = o.base_external AND b.seq < o.seq
             LEFT JOIN orders bo ON bo.order_id = b.order_id AND o.order_type = 'supplemental'
             LEFT JOIN service_orders bs ON bs.order_id = b.order_id AND o.order_type = 'supplemental'
        ORDER BY o.seq""", [sim.start, service["default_price_list"]])
    # The assets the lines name, never the whole installed base (and no statement when they name none).
    assets = sim.store.frame("""SELECT asset_id, price_list AS asset_price_list,
                                       price_list_from_header AS asset_from_header FROM assets
                                WHERE asset_id IN (SELECT asset_id FROM _sl)""") \
        if lines["asset_id"].is_not_null().any() else pl.DataFrame(schema=NAMED_ASSETS)
    products = pl.DataFrame([{"product_id": p["id"], "is_bundle": p["bundle"]} for p in service["products"]])
    lines = (lines.join(checked.select("order_id", "order_type", "header", "base_order_id"), on="order_id")
             .join(products, on="product_id", how="left").join(assets, on="asset_id", how="left")
             .with_columns(parent_ref=pl.when(pl.col("line_ref").str.contains(r"\.")).then(
                 pl.col("line_ref").str.extract(r"^(\d+)\.")).otherwise(None)))
    problems = _problems(sim, checked, lines, set(service["price_lists"]))
    # The CRM judges changes to assets on the state they will be in when the order is due (future.py).
    refused, warnings = judge_future(sim, checked, lines)
    resolved = pricelists.resolve_orders(lines.select(
        "order_id", "order_type", header_price_list="header", line_no="line_ref", parent_line_no="parent_ref",
        product="product_id", action="action", is_bundle=pl.col("is_bundle").fill_null(False),
        price_list="price_list", asset_id="asset_id", asset_price_list="asset_price_list",
        asset_from_header="asset_from_header"))
    lines = lines.join(resolved.select("order_id", line_ref="line_no", resolved_price_list="resolved_price_list",
                                       price_list_source="price_list_source",
                                       price_list_from_header="price_list_from_header", problem="problem"),
                       on=["order_id", "line_ref"], how="left")
    structural = lines.filter(pl.col("problem").is_not_null()).group_by("order_id").agg(
        reason=pl.col("problem").first())
    reasons = pl.concat([problems, structural, refused]).group_by("order_id", maintain_order=True).agg(
        reason=pl.col("reason").first())
    checked = checked.join(reasons, on="order_id", how="left")
    _insert(sim, checked, lines)
    # The seed's guidelines on future-dated orders, as warnings on the orders accepted.
    warned = warnings.join(checked.filter(pl.col("reason").is_null()).select("order_id", "submitted_s"), on="order_id")
    sim.store.record_event_frame(warned.select(
        ts=pl.lit(sim.start) + pl.duration(seconds="submitted_s"), object_type=pl.lit("order"), object_id="order_id",
        activity="activity", detail="detail"), sim.current_job)


def _unrelated(orders: pl.DataFrame, default_price_list: str) -> pl.DataFrame:
    """The checked orders of a batch where none names a base order: its own priority, due date and
    header price list, or the defaults (what the query over the base orders gives them)."""
    return orders.with_columns(priority=pl.coalesce("priority", pl.lit(5, pl.Int32)),
                               due_s=pl.coalesce("due_s", "submitted_s"),
                               header=pl.coalesce("header_price_list", pl.lit(default_price_list, pl.String)),
                               base_order_id=pl.lit(None, pl.String)).sort("seq")


def _problems(sim, orders: pl.DataFrame, lines: pl.DataFrame, price_lists: set[str]) -> pl.DataFrame:
    """The first reason, per order, that makes it unusable at submission (none: accepted)."""
    known_lists = pl.Series(sorted(price_lists)).implode()
    unknown_product = lines.filter(pl.col("is_bundle").is_null()).select(
        "order_id", reason=pl.format("line {}: unknown product {}", "line_ref", "product_id"))
    unknown_list = pl.concat([
        orders.filter(~pl.col("header").is_in(known_lists)).select(
            "order_id", reason=pl.format("unknown price list {} on the order header", "header")),
        lines.filter(pl.col("price_list").is_not_null() & ~pl.col("price_list").is_in(known_lists)
                     & ~pl.col("price_list").is_in(["", "-"])).select(
            "order_id", reason=pl.format("line {}: unknown price list {}", "line_ref", "price_list"))])
    no_base = orders.filter((pl.col("order_type") == "supplemental") & pl.col("base_order_id").is_null()).select(
        "order_id", reason=pl.format("base order {} was never submitted", "base_external"))
    follow_ons = lines.filter((pl.col("order_type") == "follow-on") & pl.col("base_order_id").is_not_null()
                              & pl.col("depends_on_line").is_not_null())
    # The lines of the base orders named, recorded or in this batch, never all lines.
    recorded = sim.store.frame("""
        SELECT order_id AS base_order_id, line_ref AS depends_on_line FROM service_lines
        WHERE order_id IN (SELECT unnest(?::VARCHAR[]))""", [follow_ons["base_order_id"].unique().sort().to_list()]) \
        if follow_ons.height else pl.DataFrame(schema={"base_order_id": pl.String, "depends_on_line": pl.String})
    base_lines = pl.concat([recorded, lines.select(base_order_id="order_id", depends_on_line="line_ref")])
    dangling = (follow_ons.join(base_lines, on=["base_order_id", "depends_on_line"], how="anti")
                .select("order_id", reason=pl.format("follow-on line {} references line {} that does not exist "
                                                     "on the base order", "line_ref", "depends_on_line")))
    return pl.concat([unknown_product, unknown_list, no_base, dangling, _follow_on_bases(sim, orders)])


def _follow_on_bases(sim, orders: pl.DataFrame) -> pl.DataFrame:
    """Seed 004, before a follow-on order is created: its base must be an open order past the point of
    no return (a complete one is changed by a modify order, one not yet past it by a supplemental
    order). A base submitted in the same batch has not started. Judged at the follow-on's submission
    against fulfilment's record, the queue in memory written first."""
    follow_ons = orders.filter((pl.col("order_type") == "follow-on") & pl.col("base_order_id").is_not_null())
    if follow_ons.height == 0:
        return pl.DataFrame(schema={"order_id": pl.String, "reason": pl.String})
    work_queue(sim).write(sim.con)
    bases = sim.store.frame(f"""
        SELECT o.order_id AS base_order_id, o.status AS base_status, o.order_type AS base_type,
               {epoch_s(sim, 'o.completed_at')} AS base_completed_s,
               (SELECT min({epoch_s(sim, 'j.started_at')} + j.ponr_offset_s) FROM fulfilment_jobs j
                WHERE j.order_id = o.order_id AND j.kind = 'fulfil' AND j.started_at IS NOT NULL
                  AND (j.interrupted_at IS NULL
                       OR j.interrupted_at >= j.started_at + to_seconds(j.ponr_offset_s))) AS ponr_s
        FROM orders o WHERE o.order_id IN (SELECT unnest(?::VARCHAR[]))""",
                                 [follow_ons["base_order_id"].unique().sort().to_list()])
    judged = follow_ons.join(bases, on="base_order_id", how="left").with_columns(
        done=pl.col("base_completed_s") <= pl.col("submitted_s"))
    return judged.select("order_id", reason=pl.when(pl.col("base_type") == "supplemental")
                         .then(pl.lit("the base order is itself a revision: follow on the order it revised"))
                         .when(pl.col("done") & (pl.col("base_status") == "Complete"))
                         .then(pl.lit("the base order is complete: submit a modify order"))
                         .when(pl.col("done"))
                         .then(pl.format("the base order is {}", "base_status"))
                         .when(pl.col("ponr_s").is_null() | (pl.col("ponr_s") > pl.col("submitted_s")))
                         .then(pl.lit("the base order is not past the point of no return: submit a supplemental "
                                      "order"))).drop_nulls("reason")


def _insert(sim, orders: pl.DataFrame, lines: pl.DataFrame) -> None:
    con, start = sim.con, sim.start
    queue = message_queue(sim)  # loaded (the first time) before the new messages are in the record
    orders = orders.with_columns(
        status=pl.when(pl.col("reason").is_not_null()).then(pl.lit("Rejected"))
        .when(pl.col("order_type") == "supplemental").then(pl.lit("Pending")).otherwise(pl.lit("Submitted")),
        # A follow-on whose base was never submitted is processed as a base order (seed 004).
        processed_as=pl.when((pl.col("order_type") == "follow-on") & pl.col("base_order_id").is_null())
        .then(pl.lit("base")).otherwise("order_type"),
        shown_type=pl.when((pl.col("order_type") == "new") & (pl.col("due_s") > pl.col("submitted_s")))
        .then(pl.lit("future-dated")).otherwise("order_type"))
    # Dropped into the order queue (orderqueue.py); each message's processing time drawn now.
    orders = orders.with_columns(message_s=pl.Series(message_seconds(sim, orders.height), dtype=pl.Int64))
    lines = lines.join(orders.select("order_id", "status"), on="order_id").with_columns(
        line_no=pl.col("line_ref").rank("ordinal").over("order_id").cast(pl.Int32),
        depends_on_order=pl.when(pl.col("depends_on_line").is_not_null()).then("base_order_id"))
    con.register("_so", orders.to_arrow())
    con.register("_sl", lines.to_arrow())
    con.execute("""
        INSERT INTO orders SELECT order_id, 'service', shown_type, account_id, status, reason, priority, header,
               ?::TIMESTAMP + to_seconds(submitted_s), NULL, CASE WHEN status = 'Rejected'
               THEN ?::TIMESTAMP + to_seconds(submitted_s) END
        FROM _so ORDER BY order_id""", [start, start])
    con.execute("""
        INSERT INTO service_orders SELECT order_id, external_id, seq, base_order_id, processed_as,
               ?::TIMESTAMP + to_seconds(submitted_s), ?::TIMESTAMP + to_seconds(due_s), NULL, NULL,
               CASE WHEN order_type = 'supplemental' THEN status END,
               CASE WHEN status <> 'Rejected' THEN 'Queued' END, message_s, NULL, NULL, NULL,
               status, ?::TIMESTAMP + to_seconds(submitted_s)
        FROM _so ORDER BY order_id""", [start, start, start])
    queue.enqueue(orders.filter(pl.col("status") != "Rejected"))
    con.execute("""
        INSERT INTO service_lines SELECT l.order_id, l.line_no, l.line_ref, l.parent_ref, l.product_id,
               coalesce(l.is_bundle, false), l.action, nullif(nullif(l.price_list, ''), '-'), l.resolved_price_list,
               l.price_list_source, l.price_list_from_header, l.asset_id, l.location, l.depends_on_order,
               l.depends_on_line, l.quantity, l.status, NULL, l.price_override::DECIMAL(18,2)
        FROM _sl l ORDER BY l.order_id, l.line_no""")
    con.execute("""
        INSERT INTO order_lines SELECT l.order_id, l.line_no, l.product_id, l.action, l.resolved_price_list,
               l.quantity, coalesce(l.price_override::DECIMAL(18,2), p.recurring, 0), l.status, NULL, NULL
        FROM _sl l LEFT JOIN service_prices p ON p.product_id = l.product_id AND p.price_list = l.resolved_price_list
        ORDER BY l.order_id, l.line_no""")
    sim.store.record_event_frame(orders.select(
        ts=pl.lit(start) + pl.duration(seconds="submitted_s"), object_type=pl.lit("order"), object_id="order_id",
        activity=pl.col("status").replace_strict({"Rejected": "Order Rejected", "Pending": "Revision Submitted"},
                                                 default="Order Submitted"),
        detail=pl.coalesce("reason", pl.concat_str("shown_type", pl.lit(" priority "), "priority"))),
        sim.current_job)
    _discard_pending_revisions(sim, orders.filter((pl.col("order_type") == "follow-on")
                                                  & pl.col("base_order_id").is_not_null() & pl.col("reason").is_null()))


def _discard_pending_revisions(sim, follow_ons: pl.DataFrame) -> None:
    """Seed 004: before a follow-on order is created, the supplemental orders of its base still pending
    are discarded. A revision submitted before the follow-on and not yet applied is Discarded when the
    follow-on is submitted, with the follow-on named."""
    if follow_ons.height == 0:
        return
    con = sim.con
    with registered(con, "_fo", follow_ons.select("order_id", "base_order_id", "seq", "submitted_s").to_arrow()):
        discarded = con.execute(f"""
        UPDATE orders SET status = 'Discarded', status_reason = 'discarded for follow-on order ' || h.follow_on,
               completed_at = {epoch_ts(sim, 'h.at_s')}
        FROM (SELECT s.order_id, arg_min(f.order_id, f.seq) AS follow_on, arg_min(f.submitted_s, f.seq) AS at_s
              FROM service_orders s JOIN orders o USING (order_id)
              JOIN _fo f ON f.base_order_id = s.base_order_id AND s.seq < f.seq
              WHERE o.status = 'Pending' GROUP BY s.order_id) h
        WHERE orders.order_id = h.order_id
        RETURNING orders.order_id, orders.completed_at, orders.status_reason""").fetchall()
    if not discarded:
        return
    ids = [order_id for order_id, _, _ in discarded]
    frame = pl.DataFrame({"order_id": ids, "at": [at for _, at, _ in discarded]})
    with registered(con, "_discarded", frame.to_arrow()):
        # A revision still in the order queue is taken out of it: order management never sees it. The
        # CRM discarded it itself: its copy says so at once.
        con.execute("UPDATE service_orders SET revision_status = 'Discarded', crm_status = 'Discarded', "
                    "crm_updated_at = d.at, queue_status = CASE queue_status WHEN 'Queued' THEN 'Withdrawn' "
                    "ELSE queue_status END FROM _discarded d WHERE service_orders.order_id = d.order_id")
        con.execute("UPDATE service_lines SET status = 'Discarded' WHERE order_id IN (SELECT order_id FROM _discarded)")
        sync_public_lines(sim, "SELECT order_id FROM _discarded")
    message_queue(sim).withdraw(ids)
    sim.store.record_events_at([at for _, at, _ in discarded], "order", ids, "Revision Discarded", sim.current_job,
                               detail=[reason for _, _, reason in discarded])
