"""The Order Fulfilment daemon: release, schedule on limited workers by priority, complete.

Each line of a released order becomes one fulfilment job: a worker carries the line through the
configured steps one after another, so the job's duration is the sum of the steps' durations
(drawn when the line is released) and the point of no return falls at a known offset into it.
At every poll the daemon, in this order:
1. releases the orders now due (received from the order queue, `orderqueue`; a future-dated order
   at its due date; a follow-on order once the
   base lines it depends on are complete), judging each line's action against its asset;
2. schedules the window since the last poll with `scheduling.schedule_window`: higher priority
   first among jobs not started, FIFO within a priority, no pre-emption — exact for every job
   released at or before the window (a follow-on's release waits for the poll after its base);
3. completes the jobs that ended: assets change, charges are handed to billing, lines and orders
   complete;
4. applies the supplemental orders submitted since (`revisions.apply_revisions`).

The queue of jobs and the workers live in memory (`workqueue.WorkQueue`), written to the record at
every commit; an idle poll's look reads the queue and, once per wake-up, the orders.
"""

from __future__ import annotations

import polars as pl

from cmpsim.fulfilment import assets as asset_rules
from cmpsim.fulfilment.effects import apply_line_effects
from cmpsim.fulfilment.fallout import fell_out, scripted_fallouts
from cmpsim.fulfilment.jobs import epoch_s, epoch_ts, finish_orders, named_assets, queue_jobs, sync_public_lines
from cmpsim.fulfilment.revisions import apply_revisions
from cmpsim.fulfilment.scheduling import schedule_window
from cmpsim.fulfilment.workqueue import JOB_COLUMNS, TIMES, work_queue

ORDERS = """
    SELECT count(*) FILTER (WHERE o.status = 'Pending' AND s.received_at <= $now) AS revisions,
           min(CASE WHEN o.status = 'Submitted' THEN greatest(s.due_at, s.received_at) ELSE s.received_at END)
               FILTER (WHERE o.status = 'Submitted' OR s.received_at > $now) AS next_due
    FROM service_orders s JOIN orders o USING (order_id)
    WHERE o.kind = 'service' AND o.status IN ('Pending', 'Submitted') AND s.received_at IS NOT NULL"""


def _state(sim) -> dict:
    """What a poll may have to do, in seconds since the start: jobs queued and released, the next job
    to end, the first worker free, the first poll that can start a job released later (from the queue
    in memory), revisions pending and the next order due. The last two are one query, read again only
    when they may have changed: after a wake-up of a step of the service domain did work (the order
    queue received orders, CRM Order Capture recorded some, the fallout desk, this daemon), after this
    poll released or revised orders, or in a new wake-up once the clock reaches the next order due.
    Before that the clock alone changes neither: a pending revision counts from its receipt, and every
    receipt still to come is a candidate for the next order due."""
    queue = work_queue(sim)
    key = (sim.versions.get("service", 0), sim.versions.get("?", 0), queue.orders_changed)
    (looked, wake_no), _, due = queue.orders_look
    if looked != key or (due is not None and sim.now_s >= due and wake_no != sim.wake_no):
        revisions, next_due = sim.con.execute(ORDERS, {"now": sim.now}).fetchall()[0]
        queue.orders_look = ((key, sim.wake_no), revisions, sim.second_of(next_due))
    queued, next_end, first_free, next_release = queue.look(sim.now_s)
    _, revisions, next_due = queue.orders_look
    return {"queued": queued, "next_end": next_end, "first_free": first_free, "revisions": revisions,
            "next_due": next_due, "next_release": next_release}


def _due_now(moment: int | None, now_s: int) -> bool:
    return moment is not None and moment <= now_s


def fulfilment_due(sim) -> bool:
    """Anything to release, start, complete or revise now: else the poll opens no transaction."""
    s, now_s = _state(sim), sim.now_s
    return bool(s["revisions"] or _due_now(s["next_due"], now_s) or _due_now(s["next_end"], now_s)
                or (s["queued"] and _due_now(s["first_free"], now_s)))


def fulfilment_wake_at(sim) -> int | None:
    """The first second a poll will have work with nothing else happening: a job ends, an order falls
    due, a worker frees up for a queued job."""
    s = _state(sim)
    moments = [m for m in (s["next_end"], s["next_due"], s["first_free"] if s["queued"] else None,
                           s["next_release"]) if m is not None]
    return min(moments) if moments else None


FIXPOINT_ROUNDS_MAX = 20  # rounds of one poll; each ends more lines, so a handful always suffices


def fulfilment_step(sim) -> int:
    """Release, schedule, complete, revise: each phase only when the state says it has something."""
    poll_s = sim.scenario["service"]["fulfilment"]["poll_minutes"] * 60
    t0, t1 = max(sim.now_s - poll_s, 0), sim.now_s
    total = 0
    # Until nothing is left to do now: a line completed in this poll can make a follow-on order due
    # at once, and a wake-up run again at the same moment must find nothing left.
    for _ in range(FIXPOINT_ROUNDS_MAX):
        s = _state(sim)
        done = released(sim) if _due_now(s["next_due"], t1) else 0
        started = scheduled(sim, t0, t1) if done or s["queued"] else 0
        ended = completed(sim) if started or _due_now(s["next_end"], t1) else 0
        work = done + started + ended + (revised(sim) if s["revisions"] else 0)
        total += work
        if not work:
            break
    return total


def revised(sim) -> int:
    """The supplemental orders pending, applied in SQL over the record: the queue is written before and
    loaded again after, and jobs queued meanwhile go straight to the record."""
    queue = work_queue(sim)
    queue.write(sim.con)
    queue.detached = True
    try:
        revisions = apply_revisions(sim)
    finally:
        queue.load(sim.con)
        queue.orders_changed += 1
    return revisions


def released(sim) -> int:
    """Orders due now become In Progress, each accepted line a queued job (and what its completion will
    need of the line is held with the queue)."""
    lines = sim.store.frame(f"""
        WITH deps AS (
            SELECT f.order_id, bool_and(b.status = 'Complete') AS ready, max(p.completed_at) AS done_at
            FROM service_lines f
            JOIN service_lines b ON b.order_id = f.depends_on_order AND b.line_ref = f.depends_on_line
            JOIN order_lines p ON p.order_id = b.order_id AND p.line_no = b.line_no
            WHERE f.depends_on_order IS NOT NULL AND f.status = 'Submitted' GROUP BY f.order_id),
        due AS (
            SELECT s.order_id, s.seq, o.priority, s.external_id, o.account_id,
                   greatest(s.received_at, s.due_at, coalesce(d.done_at, s.received_at)) AS release_at
            FROM service_orders s JOIN orders o USING (order_id) LEFT JOIN deps d USING (order_id)
            WHERE o.kind = 'service' AND o.status = 'Submitted' AND s.received_at <= $now AND s.due_at <= $now
              AND coalesce(d.ready, true))
        SELECT d.order_id, d.seq, d.priority, {epoch_s(sim, 'd.release_at')} AS release_s, l.line_no,
               l.line_ref, l.product_id, l.action, l.asset_id, l.location, d.external_id, l.resolved_price_list,
               l.price_list_from_header, l.price_override, l.quantity, d.account_id
        FROM due d JOIN service_lines l USING (order_id) WHERE l.status = 'Submitted'
        ORDER BY d.seq, l.line_no""", {"now": sim.now})
    if lines.height == 0:
        return 0
    work_queue(sim).orders_changed += 1
    verdicts = asset_rules.judge_lines(
        lines.filter(pl.col("action") != "Add").select("order_id", "seq", line_no="line_ref", action="action",
                                                       asset_id="asset_id", location="location"),
        named_assets(sim, lines["asset_id"]))
    rejected = verdicts.filter(pl.col("verdict") == "rejected").select("order_id", line_ref="line_no",
                                                                       reason="reason")
    accepted = lines.join(rejected, on=["order_id", "line_ref"], how="anti")
    scripts = scripted_fallouts(sim).drop("scripted_outcome")
    work_queue(sim).hold_lines(accepted.with_columns(order_seq="seq"))
    queue_jobs(sim, accepted.join(scripts, on=["external_id", "line_ref"], how="left", maintain_order="left"),
               kind="fulfil")
    _mark_released(sim, lines.group_by("order_id").agg(release_s=pl.col("release_s").min()), rejected)
    return lines.select("order_id").n_unique()


def _mark_released(sim, orders: pl.DataFrame, rejected: pl.DataFrame) -> None:
    con = sim.con
    con.register("_rel", orders.to_arrow())
    con.register("_rej", rejected.to_arrow())
    con.execute("""UPDATE service_lines SET status = 'In Progress'
                   WHERE status = 'Submitted' AND order_id IN (SELECT order_id FROM _rel)""")
    if rejected.height:
        con.execute("""UPDATE service_lines SET status = 'Rejected', reason = r.reason FROM _rej r
                       WHERE service_lines.order_id = r.order_id AND service_lines.line_ref = r.line_ref""")
    # Released at the moment the order became due (submission, due date or its base line's end), which
    # the poll only notices later: waits are measured from there.
    con.execute(f"""UPDATE service_orders SET released_at = {epoch_ts(sim, 'r.release_s')} FROM _rel r
                    WHERE service_orders.order_id = r.order_id""")
    con.execute("UPDATE orders SET status = 'In Progress' WHERE order_id IN (SELECT order_id FROM _rel)")
    sync_public_lines(sim, "SELECT order_id FROM _rel")
    # Stamped when the order became due, like released_at: its lines may start before this poll.
    sim.store.record_event_frame(orders.select(
        ts=pl.lit(sim.start) + pl.duration(seconds="release_s"), object_type=pl.lit("order"), object_id="order_id",
        activity=pl.lit("Order Released"), detail=pl.lit(None, pl.String)), sim.current_job)
    finish_orders(sim, orders["order_id"].to_list())


def scheduled(sim, t0: int, t1: int) -> int:
    """Start queued jobs on free workers in [t0, t1): priority first, then FIFO, no pre-emption."""
    queue = work_queue(sim)
    queued = queue.queued_before(sim.now_s)
    if queued.height == 0:
        return 0
    plan = schedule_window(queued["release_s"].to_numpy(), queued["priority"].to_numpy(), queued["seq"].to_numpy(),
                           queued["duration_s"].to_numpy(), queue.busy_s, t0, t1)
    if len(plan.job_index) == 0:
        return 0
    started = pl.DataFrame({"job_no": queued["job_no"].to_numpy()[plan.job_index], "start_s": plan.start_s,
                            "end_s": plan.end_s, "worker": plan.worker,
                            "order_id": queued["order_id"].to_numpy()[plan.job_index]})
    queue.start(started.drop("order_id"), plan.busy_until_s)
    # An order starts with its first job: stamped once, and logged for the orders stamped now.
    sim.con.register("_started", started.group_by("order_id").agg(start_s=pl.col("start_s").min()).to_arrow())
    first = sim.con.execute(f"""UPDATE service_orders SET started_at = {epoch_ts(sim, 'f.start_s')} FROM _started f
                                WHERE service_orders.order_id = f.order_id AND service_orders.started_at IS NULL
                                RETURNING service_orders.started_at, service_orders.order_id""").fetchall()
    sim.store.record_events_at([at for at, _ in first], "order", [order_id for _, order_id in first],
                               "Fulfilment Started", sim.current_job)
    return len(plan.job_index)


def completed(sim) -> int:
    """Jobs that ended by now: their lines complete (or fail on their asset), orders follow."""
    queue = work_queue(sim)
    ended = queue.ended_by(sim.now_s)
    if ended.height == 0:
        return 0
    con = sim.con
    times = {at: pl.lit(sim.start) + pl.duration(seconds=s) for at, s in TIMES.items()}
    lines = pl.concat([ended.with_columns(**times).select(JOB_COLUMNS),
                       queue.lines_of(con, ended).drop("order_id", "line_no")], how="horizontal")
    con.register("_ended", lines.to_arrow())
    queue.finish(ended["job_no"])
    fell = pl.col("fallout_step").is_not_null()
    fell_out(sim, lines.filter((pl.col("kind") == "fulfil") & fell))
    fulfilled = lines.filter((pl.col("kind") == "fulfil") & ~fell)
    apply_line_effects(sim, fulfilled.sort("ended_at", "order_seq", "line_no", maintain_order=True))
    queue.forget_lines(fulfilled)
    # A fulfilled line is completed when its job ended, whatever the verdict (a compensation job's is not,
    # nor one that fell out).
    con.register("_line_ends", fulfilled.select("order_id", "line_no", "ended_at").to_arrow())
    sync_public_lines(sim, "SELECT order_id FROM _ended", ended_lines="_line_ends")
    finish_orders(sim, ended["order_id"].to_list())
    return ended.height
