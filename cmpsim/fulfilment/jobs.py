"""Bookkeeping shared by release, completion and revisions: queueing jobs, keeping the public
order_lines in step with service_lines, and finishing orders."""

from __future__ import annotations

import numpy as np
import polars as pl

from cmpsim.fulfilment.workqueue import work_queue
from cmpsim.randomness import draw


def epoch_s(sim, column: str) -> str:
    """SQL: seconds since the run's start of a TIMESTAMP column."""
    return f"(epoch({column}) - epoch(TIMESTAMP '{sim.start:%Y-%m-%d %H:%M:%S}'))::BIGINT"


def epoch_ts(sim, seconds_sql: str) -> str:
    """SQL: the TIMESTAMP `seconds_sql` seconds after the run's start."""
    return f"(TIMESTAMP '{sim.start:%Y-%m-%d %H:%M:%S}' + to_seconds({seconds_sql}))"


def plan_durations(sim, products: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step durations for lines of these products, their total and the offset of the end of each
    line's point of no return (seed 004: set per order item; a product may name its own step)."""
    spec = sim.scenario["service"]["fulfilment"]
    rng, n = sim.rng("fulfilment.durations"), len(products)
    steps = np.column_stack([np.round(draw(s["duration_minutes"], rng, n) * 60).astype(np.int64)
                             for s in spec["steps"]]) if n else np.zeros((0, len(spec["steps"])), dtype=np.int64)
    names = [s["name"] for s in spec["steps"]]
    own = {p["id"]: p["point_of_no_return"] for p in sim.scenario["service"]["products"] if "point_of_no_return" in p}
    ponr = np.asarray([names.index(own.get(p, spec["point_of_no_return"])) for p in products], dtype=np.int64)
    return steps, steps.sum(axis=1), np.cumsum(steps, axis=1)[np.arange(n), ponr] if n else ponr


def queue_jobs(sim, lines: pl.DataFrame, kind: str, undo: list[list[tuple[str, int]]] | None = None,
               with_steps: bool = True) -> None:
    """Queue one job per line (columns order_id, line_no, product_id, priority, seq, release_s);
    `undo` holds, per line, the compensation tasks done first (("Undo Design", seconds), …)."""
    if lines.height == 0:
        return
    names = [s["name"] for s in sim.scenario["service"]["fulfilment"]["steps"]]
    steps, total, ponr = plan_durations(sim, lines["product_id"].to_list())
    if not with_steps:  # compensation only: the work of a removed line is undone, nothing is redone
        names, steps, total, ponr = [], steps[:, :0], total * 0, ponr * 0
    undo = undo or [[] for _ in range(lines.height)]
    undo_s = np.asarray([sum(s for _, s in tasks) for tasks in undo], dtype=np.int64)
    base = sim.store.allocate("fulfilment_job", lines.height)
    jobs = lines.select("order_id", "line_no", "priority", "seq", "release_s").with_columns(
        job_no=pl.int_range(1, lines.height + 1) + base, kind=pl.lit(kind),
        duration_s=pl.Series(total + undo_s),
        steps=pl.Series([[name for name, _ in tasks] + names for tasks in undo], dtype=pl.List(pl.String)),
        step_durations_s=pl.Series([[s for _, s in tasks] + row for tasks, row in
                                    zip(undo, steps.tolist(), strict=True)], dtype=pl.List(pl.Int64)),
        ponr_offset_s=pl.Series(ponr + undo_s))
    jobs = jobs.with_columns(seq=pl.col("seq").cast(pl.Int64) * 1000 + pl.col("line_no"))
    queue = work_queue(sim)
    queue.add(jobs)
    if queue.detached:  # a revision works on the record: it holds the queue until the revision is done
        queue.write(sim.con)


def named_assets(sim, asset_ids: pl.Series) -> pl.DataFrame:
    """State and location of the assets some lines name: never the whole installed base."""
    return sim.store.frame("SELECT asset_id, state, location FROM assets WHERE asset_id IN (SELECT unnest(?))",
                           [asset_ids.drop_nulls().unique().sort().to_list()])


def sync_public_lines(sim, orders_sql: str, ended_lines: str | None = None) -> None:
    """The public order_lines follow service_lines (status, reason, price list); with `ended_lines` (a
    table of order_id, line_no, ended_at) those lines are completed at ended_at too."""
    completed, ended = (", completed_at = coalesce(e.ended_at, order_lines.completed_at)",
                        f"LEFT JOIN {ended_lines} e USING (order_id, line_no)") if ended_lines else ("", "")
    sim.con.execute(f"""
        UPDATE order_lines SET status = l.status, status_reason = l.reason, price_list = l.resolved_price_list,
               product_id = l.product_id, action = l.action, quantity = l.quantity{completed}
        FROM (SELECT * FROM service_lines WHERE order_id IN ({orders_sql})) l {ended}
        WHERE order_lines.order_id = l.order_id AND order_lines.line_no = l.line_no""")


def finish_orders(sim, order_ids: list[str]) -> None:
    """Orders whose lines are all final and whose jobs are all done become Complete or Failed. An order
    with a job still queued or running is not even looked at (no statement when none is left)."""
    candidates = sorted(set(order_ids) - set(work_queue(sim).orders_with_open_jobs()))
    if not candidates:
        return
    finished = sim.con.execute("""
        UPDATE orders SET status = f.status, status_reason = f.first_problem, completed_at = f.completed_at
        FROM (SELECT l.order_id, CASE WHEN bool_or(l.status = 'Complete') THEN 'Complete' ELSE 'Failed' END AS status,
                     coalesce(max(l.completed_at), ?::TIMESTAMP) AS completed_at,
                     min(l.line_ref || ': ' || l.reason) FILTER (WHERE l.status IN ('Rejected', 'Failed'))
                         AS first_problem
              FROM (SELECT s.*, p.completed_at
                    FROM (SELECT * FROM service_lines WHERE order_id IN (SELECT unnest(?::VARCHAR[]))) s
                    JOIN order_lines p USING (order_id, line_no)) l JOIN orders o USING (order_id)
              WHERE o.status = 'In Progress'
              GROUP BY l.order_id
              HAVING bool_and(l.status IN ('Complete', 'Rejected', 'Failed', 'Cancelled'))) f
        WHERE orders.order_id = f.order_id
        RETURNING orders.completed_at, orders.order_id, orders.status, orders.status_reason""",
                               [sim.now, candidates]).fetchall()
    sim.store.record_events_at([f[0] for f in finished], "order", [f[1] for f in finished],
                               [f"Order {f[2]}" for f in finished], sim.current_job, [f[3] for f in finished])
