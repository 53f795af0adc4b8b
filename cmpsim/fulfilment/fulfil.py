"""The Order Fulfilment daemon: release, schedule on limited workers by priority, complete.

Each line of a released order becomes one fulfilment job: a worker carries the line through the
configured steps one after another, so the job's duration is the sum of the steps' durations
(drawn when the line is released) and the point of no return falls at a known offset into it.
At every poll the daemon, in this order:
1. releases the orders now due (a future-dated order at its due date; a follow-on order once the
   base lines it depends on are complete), judging each line's action against its asset;
2. schedules the window since the last poll with `scheduling.schedule_window`: higher priority
   first among jobs not started, FIFO within a priority, no pre-emption — exact for every job
   released at or before the window (a follow-on's release waits for the poll after its base);
3. completes the jobs that ended: assets change, charges are handed to billing, lines and orders
   complete;
4. applies the supplemental orders submitted since (`revisions.apply_revisions`).
"""

from __future__ import annotations

import polars as pl

from cmpsim.fulfilment import assets as asset_rules
from cmpsim.fulfilment.effects import apply_line_effects
from cmpsim.fulfilment.jobs import epoch_s, epoch_ts, finish_orders, named_assets, queue_jobs, sync_public_lines
from cmpsim.fulfilment.revisions import apply_revisions
from cmpsim.fulfilment.scheduling import schedule_window

STATE = """
    SELECT (SELECT count(*) FROM fulfilment_jobs WHERE status = 'Queued') AS queued,
           (SELECT min(ended_at) FROM fulfilment_jobs WHERE status = 'Running') AS next_end,
           (SELECT min(busy_until) FROM fulfilment_workers) AS first_free,
           count(*) FILTER (WHERE o.status = 'Pending') AS revisions,
           min(s.due_at) FILTER (WHERE o.status = 'Submitted') AS next_due
    FROM service_orders s JOIN orders o USING (order_id)
    WHERE o.kind = 'service' AND o.status IN ('Pending', 'Submitted')"""


def _state(sim) -> dict:
    """What a poll may have to do: jobs queued, the next job to end, the first worker free, revisions
    pending, the next order due."""
    cursor = sim.con.execute(STATE)
    names = [d[0] for d in cursor.description]
    return dict(zip(names, cursor.fetchall()[0], strict=True))


def fulfilment_due(sim) -> bool:
    """Anything to release, start, complete or revise now: else the poll opens no transaction."""
    s, now = _state(sim), sim.now
    return bool(s["revisions"] or (s["next_due"] is not None and s["next_due"] <= now)
                or (s["next_end"] is not None and s["next_end"] <= now)
                or (s["queued"] and s["first_free"] <= now))


def fulfilment_wake_at(sim) -> int | None:
    """The first moment a poll will have work with nothing else happening: a job ends, an order falls
    due, a worker frees up for a queued job."""
    s = _state(sim)
    moments = [m for m in (s["next_end"], s["next_due"], s["first_free"] if s["queued"] else None) if m is not None]
    return sim.second_of(min(moments)) if moments else None


FIXPOINT_ROUNDS_MAX = 20  # rounds of one poll; each ends more lines, so a handful always suffices


def fulfilment_step(sim) -> int:
    """Release, schedule, complete, revise: each phase only when the state says it has something."""
    poll_s = sim.scenario["service"]["fulfilment"]["poll_minutes"] * 60
    t0, t1 = max(sim.now_s - poll_s, 0), sim.now_s
    total = 0
    # Until nothing is left to do now: a line completed in this poll can make a follow-on order due
    # at once, and a wake-up run again at the same moment must find nothing left.
    for _ in range(FIXPOINT_ROUNDS_MAX):
        s, now = _state(sim), sim.now
        done = released(sim) if s["next_due"] is not None and s["next_due"] <= now else 0
        started = scheduled(sim, t0, t1) if done or s["queued"] else 0
        ended = completed(sim) if started or (s["next_end"] is not None and s["next_end"] <= now) else 0
        work = done + started + ended + (apply_revisions(sim) if s["revisions"] else 0)
        total += work
        if not work:
            break
    return total


def released(sim) -> int:
    """Orders due now become In Progress, each accepted line a queued job."""
    lines = sim.store.frame(f"""
        WITH deps AS (
            SELECT f.order_id, bool_and(b.status = 'Complete') AS ready, max(p.completed_at) AS done_at
            FROM service_lines f
            JOIN service_lines b ON b.order_id = f.depends_on_order AND b.line_ref = f.depends_on_line
            JOIN order_lines p ON p.order_id = b.order_id AND p.line_no = b.line_no
            WHERE f.depends_on_order IS NOT NULL AND f.status = 'Submitted' GROUP BY f.order_id),
        due AS (
            SELECT s.order_id, s.seq, o.priority,
                   greatest(s.submitted_at, s.due_at, coalesce(d.done_at, s.submitted_at)) AS release_at
            FROM service_orders s JOIN orders o USING (order_id) LEFT JOIN deps d USING (order_id)
            WHERE o.kind = 'service' AND o.status = 'Submitted' AND s.due_at <= ? AND coalesce(d.ready, true))
        SELECT d.order_id, d.seq, d.priority, {epoch_s(sim, 'd.release_at')} AS release_s, l.line_no,
               l.line_ref, l.action, l.asset_id, l.location
        FROM due d JOIN service_lines l USING (order_id) WHERE l.status = 'Submitted'
        ORDER BY d.seq, l.line_no""", [sim.now])
    if lines.height == 0:
        return 0
    verdicts = asset_rules.judge_lines(
        lines.filter(pl.col("action") != "Add").select("order_id", "seq", line_no="line_ref", action="action",
                                                       asset_id="asset_id", location="location"),
        named_assets(sim, lines["asset_id"]))
    rejected = verdicts.filter(pl.col("verdict") == "rejected").select("order_id", line_ref="line_no",
                                                                       reason="reason")
    accepted = lines.join(rejected, on=["order_id", "line_ref"], how="anti")
    queue_jobs(sim, accepted, kind="fulfil")
    _mark_released(sim, lines.group_by("order_id").agg(release_s=pl.col("release_s").min()), rejected)
    return lines.select("order_id").n_unique()


def _mark_released(sim, orders: pl.DataFrame, rejected: pl.DataFrame) -> None:
    con = sim.con
    con.register("_rel", orders.to_arrow())
    con.register("_rej", rejected.to_arrow())
    con.execute("""UPDATE service_lines SET status = 'In Progress'
                   WHERE status = 'Submitted' AND order_id IN (SELECT order_id FROM _rel)""")
    con.execute("""UPDATE service_lines SET status = 'Rejected', reason = r.reason FROM _rej r
                   WHERE service_lines.order_id = r.order_id AND service_lines.line_ref = r.line_ref""")
    # Released at the moment the order became due (submission, due date or its base line's end), which
    # the poll only notices later: waits are measured from there.
    con.execute(f"""UPDATE service_orders SET released_at = {epoch_ts(sim, 'r.release_s')} FROM _rel r
                    WHERE service_orders.order_id = r.order_id""")
    con.execute("UPDATE orders SET status = 'In Progress' WHERE order_id IN (SELECT order_id FROM _rel)")
    sync_public_lines(sim, "SELECT order_id FROM _rel")
    # Stamped when the order became due, like released_at: its lines may start before this poll.
    sim.store.record_events(f"""SELECT {epoch_ts(sim, 'release_s')} AS ts, 'order' AS object_type,
                                       order_id AS object_id, 'Order Released' AS activity, ? AS job,
                                       NULL AS detail FROM _rel""",
                            [sim.current_job])
    finish_orders(sim, "SELECT order_id FROM _rel")


def scheduled(sim, t0: int, t1: int) -> int:
    """Start queued jobs on free workers in [t0, t1): priority first, then FIFO, no pre-emption."""
    queued = sim.store.frame(f"""
        SELECT job_no, {epoch_s(sim, 'release_at')} AS release_s, priority, seq, duration_s
        FROM fulfilment_jobs WHERE status = 'Queued' AND release_at < ? ORDER BY job_no""", [sim.now])
    if queued.height == 0:
        return 0
    workers = sim.store.frame(f"SELECT worker, {epoch_s(sim, 'busy_until')} AS busy_s FROM fulfilment_workers "
                              "ORDER BY worker")
    plan = schedule_window(queued["release_s"].to_numpy(), queued["priority"].to_numpy(), queued["seq"].to_numpy(),
                           queued["duration_s"].to_numpy(), workers["busy_s"].to_numpy(), t0, t1)
    if len(plan.job_index) == 0:
        return 0
    started = pl.DataFrame({"job_no": queued["job_no"].to_numpy()[plan.job_index], "start_s": plan.start_s,
                            "end_s": plan.end_s, "worker": plan.worker})
    con, start = sim.con, f"TIMESTAMP '{sim.start:%Y-%m-%d %H:%M:%S}'"
    con.register("_started", started.to_arrow())
    con.execute(f"""UPDATE fulfilment_jobs SET status = 'Running', worker = s.worker,
                           started_at = {start} + to_seconds(s.start_s), ended_at = {start} + to_seconds(s.end_s)
                    FROM _started s WHERE fulfilment_jobs.job_no = s.job_no""")
    con.register("_busy", pl.DataFrame({"worker": workers["worker"], "busy_s": plan.busy_until_s}).to_arrow())
    con.execute(f"""UPDATE fulfilment_workers SET busy_until = {start} + to_seconds(b.busy_s)
                    FROM _busy b WHERE fulfilment_workers.worker = b.worker""")
    con.execute("""CREATE OR REPLACE TEMP TABLE _first AS
                   SELECT j.order_id, min(j.started_at) AS started_at FROM fulfilment_jobs j
                   JOIN service_orders s USING (order_id)
                   WHERE j.job_no IN (SELECT job_no FROM _started) AND s.started_at IS NULL GROUP BY ALL""")
    con.execute("""UPDATE service_orders SET started_at = f.started_at FROM _first f
                   WHERE service_orders.order_id = f.order_id""")
    sim.store.record_events("""SELECT started_at AS ts, 'order' AS object_type, order_id AS object_id,
                                      'Fulfilment Started' AS activity, ? AS job, NULL AS detail FROM _first""",
                            [sim.current_job])
    return len(plan.job_index)


def completed(sim) -> int:
    """Jobs that ended by now: their lines complete (or fail on their asset), orders follow."""
    con = sim.con
    con.execute("""CREATE OR REPLACE TEMP TABLE _ended AS
                   SELECT j.*, l.line_ref, l.action, l.asset_id, l.location, l.product_id, l.resolved_price_list,
                          l.price_list_from_header, l.quantity, o.account_id, s.seq AS order_seq, s.external_id
                   FROM fulfilment_jobs j JOIN service_lines l USING (order_id, line_no)
                   JOIN orders o USING (order_id) JOIN service_orders s USING (order_id)
                   WHERE j.status = 'Running' AND j.ended_at <= ?""", [sim.now])
    n = sim.store.scalar("SELECT count(*) FROM _ended")
    if n == 0:
        return 0
    con.execute("UPDATE fulfilment_jobs SET status = 'Done' WHERE job_no IN (SELECT job_no FROM _ended)")
    apply_line_effects(sim, sim.store.frame(
        "SELECT * FROM _ended WHERE kind = 'fulfil' ORDER BY ended_at, order_seq, line_no"))
    sync_public_lines(sim, "SELECT order_id FROM _ended")
    finish_orders(sim, "SELECT order_id FROM _ended")
    return n
