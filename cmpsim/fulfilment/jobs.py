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


def plan_durations(sim, products: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Step durations for lines of these products, and the index of each line's point of no return
    step (seed 004: set per order item; a product may name its own step)."""
    spec = sim.scenario["service"]["fulfilment"]
    rng, n = sim.rng("fulfilment.durations"), len(products)
    steps = np.column_stack([np.round(draw(s["duration_minutes"], rng, n) * 60).astype(np.int64)
                             for s in spec["steps"]]) if n else np.zeros((0, len(spec["steps"])), dtype=np.int64)
    names = [s["name"] for s in spec["steps"]]
    own = {p["id"]: p["point_of_no_return"] for p in sim.scenario["service"]["products"] if "point_of_no_return" in p}
    return steps, np.asarray([names.index(own.get(p, spec["point_of_no_return"])) for p in products], dtype=np.int64)


def _fallout_steps(sim, todo: list[list[str]], at_random: list[bool], scripted: list[str | None]) -> list[int | None]:
    """Per job (the names of the steps it has to do), the index of the step that fails, or None: the
    step a scenario scripted for the line, else one drawn with the fallout rate where `at_random`."""
    rate, n = float(sim.scenario["service"]["fallout"]["rate"]), len(todo)
    falls, at = np.zeros(n, dtype=bool), np.zeros(n)
    if rate > 0 and any(at_random):
        rng = sim.rng("fulfilment.fallout")
        falls, at = rng.random(n) < rate, rng.random(n)
    return [steps.index(script) if script in steps else
            int(at[i] * len(steps)) if at_random[i] and falls[i] and steps else None
            for i, (steps, script) in enumerate(zip(todo, scripted, strict=True))]


def _at_random(sim, lines: pl.DataFrame, fulfils: bool) -> list[bool]:
    """Which lines may fall out at random: fulfilment work of orders the scenario did not name."""
    if not (fulfils and sim.scenario["service"]["fallout"]["rate"] > 0):
        return [False] * lines.height
    named = set(sim.store.frame("SELECT order_id FROM service_orders WHERE external_id IS NOT NULL "
                                "AND order_id IN (SELECT unnest(?::VARCHAR[]))",
                                [lines["order_id"].unique().sort().to_list()])["order_id"].to_list())
    return [order_id not in named for order_id in lines["order_id"].to_list()]


def queue_jobs(sim, lines: pl.DataFrame, kind: str, undo: list[list[tuple[str, int]]] | None = None,
               with_steps: bool = True, from_step: list[int] | None = None, may_fall_out: bool = True) -> None:
    """Queue one job per line (columns order_id, line_no, product_id, priority, seq, release_s);
    `undo` holds, per line, the compensation tasks done first (("Undo Design", seconds), …);
    `from_step`, per line, the index of the first step to do (a line back from fallout goes on from the
    step that failed). A fulfilment job may fall out at one of its steps: at the step an optional column
    `fallout_at` names (a scenario's script), or at random with `fallout.rate` on an order without a
    CRM id (explicit orders are exact cases: they fail only as scripted), unless `may_fall_out` is
    False. It then ends with that step (`fallout_step`), and its point of no return, if later, is
    never reached (null)."""
    if lines.height == 0:
        return
    n = lines.height
    names = [s["name"] for s in sim.scenario["service"]["fulfilment"]["steps"]]
    durations, ponr_at = plan_durations(sim, lines["product_id"].to_list())
    first = from_step or [0] * n
    undo = undo or [[] for _ in range(n)]
    todo = [list(zip(names[f:], row[f:], strict=True)) if with_steps else []
            for f, row in zip(first, durations.tolist(), strict=True)]
    fulfils = may_fall_out and kind == "fulfil"
    scripted = lines["fallout_at"].to_list() if fulfils and "fallout_at" in lines.columns else [None] * n
    fails = _fallout_steps(sim, [[name for name, _ in t] for t in todo], _at_random(sim, lines, fulfils), scripted)
    plans = []
    for tasks, steps, f, p, k in zip(undo, todo, first, ponr_at.tolist(), fails, strict=True):
        undo_s = sum(s for _, s in tasks)
        # The point of no return: the end of its step, at once when it was passed before (a line back
        # from fallout), never when the job falls out first; a compensation-only job has none to pass.
        ponr = undo_s + (sum(s for _, s in steps[:p - f + 1]) if p >= f else 0) if steps else undo_s
        if k is not None:
            steps = steps[:k + 1]
            ponr = ponr if p - f <= k else None
        every = tasks + steps
        plans.append(([name for name, _ in every], [s for _, s in every], ponr,
                      steps[k][0] if k is not None else None))
    base = sim.store.allocate("fulfilment_job", n)
    jobs = lines.select("order_id", "line_no", "priority", "seq", "release_s").with_columns(
        job_no=pl.int_range(1, n + 1) + base, kind=pl.lit(kind),
        duration_s=pl.Series([sum(d) for _, d, _, _ in plans], dtype=pl.Int64),
        steps=pl.Series([s for s, _, _, _ in plans], dtype=pl.List(pl.String)),
        step_durations_s=pl.Series([d for _, d, _, _ in plans], dtype=pl.List(pl.Int64)),
        ponr_offset_s=pl.Series([p for _, _, p, _ in plans], dtype=pl.Int64),
        fallout_step=pl.Series([k for _, _, _, k in plans], dtype=pl.String))
    jobs = jobs.with_columns(seq=pl.col("seq").cast(pl.Int64) * 1000 + pl.col("line_no"))
    queue = work_queue(sim)
    queue.add(jobs)
    if queue.detached:  # a revision works on the record: it holds the queue until the revision is done
        queue.write(sim.con)


def named_assets(sim, asset_ids: pl.Series) -> pl.DataFrame:
    """State and location of the assets some lines name: never the whole installed base."""
    return sim.store.frame("SELECT asset_id, state, location FROM assets WHERE asset_id IN (SELECT unnest(?))",
                           [asset_ids.drop_nulls().unique().sort().to_list()])


def sync_public_lines(sim, orders_sql: str, ended_lines: str | None = None, repriced: bool = False) -> None:
    """The public order_lines follow service_lines (status, reason, price list); with `ended_lines` (a
    table of order_id, line_no, ended_at) those lines are completed at ended_at too; `repriced` (after a
    revision) sets the unit price the line's price list or its manual override gives, too."""
    completed, ended = (", completed_at = coalesce(e.ended_at, order_lines.completed_at)",
                        f"LEFT JOIN {ended_lines} e USING (order_id, line_no)") if ended_lines else ("", "")
    lines = f"SELECT * FROM service_lines WHERE order_id IN ({orders_sql})"
    price = ""
    if repriced:
        lines = f"""SELECT s.*, p.recurring FROM ({lines}) s LEFT JOIN service_prices p
                    ON p.product_id = s.product_id AND p.price_list = s.resolved_price_list"""
        price = ", unit_price = coalesce(l.price_override, l.recurring, 0)"
    sim.con.execute(f"""
        UPDATE order_lines SET status = l.status, status_reason = l.reason, price_list = l.resolved_price_list,
               product_id = l.product_id, action = l.action, quantity = l.quantity{price}{completed}
        FROM ({lines}) l {ended}
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
                     min(l.line_ref || ': ' || l.reason) FILTER (WHERE l.status IN ('Rejected', 'Failed')
                                                                 OR l.reason LIKE 'cancelled in fallout%')
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
