"""Supplemental (revision) orders: applied by the fulfilment daemon at the poll after submission.

A revision is refused when its base order is complete (or rejected, failed), when the base has a
line past the point of no return (it must come as a follow-on order), or when it was submitted while
another revision of the same base was pending, i.e. submitted and not yet applied (one pending
revision per open order, seed 004). Otherwise OSM
suspends the base order's fulfilment, computes the change of every line, compensates the steps
already done on lines the change affects, and resumes:
- a line only in the revision is added; a line only in the base is cancelled;
- a line whose product, action, asset, location or quantity changed is redone: its queued job is
  cancelled, its running job interrupted (the worker is free at once), and a new job is queued that
  first compensates the done steps (`compensation_factor` × their duration) and then does every
  step again;
- a line whose price list alone changed (Table 8-3) keeps its work and takes the new price list;
- the header's price list, priority and due date follow the revision (the due date only while no
  line has started fulfilment).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from cmpsim.fulfilment.jobs import epoch_s, queue_jobs, sync_public_lines

WORK_FIELDS = ("product_id", "action", "asset_id", "location", "quantity")
# What a repriced line takes from its revision: its price list as sent and resolved, its manual price.
PRICE_FIELDS = ("requested_price_list", "resolved_price_list", "price_list_source", "price_list_from_header",
                "price_override")
SUSPENDED = "Suspended"  # the step of a running job held while its order's revision is worked out


def apply_revisions(sim) -> int:
    if not sim.store.scalar("SELECT count(*) FROM orders WHERE status = 'Pending'"):
        return 0
    pending = sim.store.frame("""
        SELECT r.order_id AS revision_id, r.base_order_id, s.seq, o.priority, o.price_list, r.due_at,
               b.status AS base_status, b.order_type AS base_type,
               (SELECT count(*) FROM fulfilment_jobs j WHERE j.order_id = r.base_order_id AND j.kind = 'fulfil'
                  AND j.status IN ('Running', 'Done') AND j.started_at + to_seconds(j.ponr_offset_s) <= ?) AS past_ponr,
               (SELECT count(*) FROM service_orders e JOIN orders eo ON eo.order_id = e.order_id
                 WHERE e.base_order_id = r.base_order_id AND e.seq < r.seq AND eo.order_type = 'supplemental'
                   AND (eo.status = 'Pending' OR (eo.status = 'Applied' AND eo.completed_at > r.submitted_at)))
                   AS earlier_pending
        FROM service_orders r JOIN service_orders s USING (order_id) JOIN orders o ON o.order_id = r.order_id
             JOIN orders b ON b.order_id = r.base_order_id
        WHERE o.status = 'Pending' AND r.received_at <= ? ORDER BY s.seq""", [sim.now, sim.now])
    if pending.height == 0:
        return 0
    verdicts = pending.with_columns(reason=pl.when(pl.col("base_type") == "supplemental")
                                    .then(pl.lit("the base order is itself a revision: revise the order it revised"))
                                    .when(pl.col("base_status") == "Complete")
                                    .then(pl.lit("revision of a completed order"))
                                    .when(pl.col("base_status").is_in(["Rejected", "Failed"]))
                                    .then(pl.format("the base order is {}", "base_status"))
                                    .when(pl.col("past_ponr") > 0)
                                    .then(pl.lit("the base order is past the point of no return: "
                                                 "submit a follow-on order"))
                                    .when(pl.col("earlier_pending") > 0)
                                    .then(pl.lit("another revision of the base order is already pending")))
    _close(sim, verdicts)
    if verdicts["reason"].null_count():  # at least one revision accepted
        _apply(sim)
    return pending.height


def _close(sim, verdicts: pl.DataFrame) -> None:
    con = sim.con
    con.register("_rv", verdicts.to_arrow())
    con.execute("""UPDATE orders SET status = CASE WHEN r.reason IS NULL THEN 'Applied' ELSE 'Rejected' END,
                          status_reason = r.reason, completed_at = ?
                   FROM _rv r WHERE orders.order_id = r.revision_id""", [sim.now])
    con.execute("""UPDATE service_orders SET revision_status = CASE WHEN r.reason IS NULL THEN 'Applied'
                          ELSE 'Rejected' END FROM _rv r WHERE service_orders.order_id = r.revision_id""")
    con.execute("""UPDATE service_lines SET status = CASE WHEN r.reason IS NULL THEN 'Applied' ELSE 'Rejected' END
                   FROM _rv r WHERE service_lines.order_id = r.revision_id""")
    sync_public_lines(sim, "SELECT revision_id FROM _rv")
    sim.store.record_events("""
        SELECT ?::TIMESTAMP AS ts, 'order' AS object_type, revision_id AS object_id,
               CASE WHEN reason IS NULL THEN 'Revision Applied' ELSE 'Revision Rejected' END AS activity,
               ? AS job, coalesce(reason, 'to ' || base_order_id) AS detail FROM _rv""", [sim.now, sim.current_job])


def _delta(sim) -> pl.DataFrame:
    """Per line of every revised base order: added, removed, redo, repriced or unchanged."""
    return sim.store.frame(f"""
        SELECT coalesce(b.order_id, r.base_order_id) AS base_order_id, coalesce(b.line_ref, n.line_ref) AS line_ref,
               b.line_no AS base_line_no, n.order_id AS revision_id, n.line_no AS revision_line_no,
               CASE WHEN b.line_ref IS NULL THEN 'added' WHEN n.line_ref IS NULL THEN 'removed'
                    WHEN {' OR '.join(f'b.{f} IS DISTINCT FROM n.{f}' for f in WORK_FIELDS)} THEN 'redo'
                    WHEN b.resolved_price_list IS DISTINCT FROM n.resolved_price_list
                         OR b.price_override IS DISTINCT FROM n.price_override THEN 'repriced'
                    ELSE 'unchanged' END AS change
        FROM (SELECT l.* FROM service_lines l JOIN _rv r ON l.order_id = r.base_order_id AND r.reason IS NULL
              WHERE l.status NOT IN ('Cancelled', 'Rejected')) b
        FULL JOIN (SELECT l.*, r.base_order_id FROM service_lines l JOIN _rv r
                   ON l.order_id = r.revision_id AND r.reason IS NULL) n
          ON n.base_order_id = b.order_id AND n.line_ref = b.line_ref
        LEFT JOIN _rv r ON r.revision_id = n.order_id
        ORDER BY 1, 2""")


def _apply(sim) -> None:
    con = sim.con
    delta = _delta(sim)
    con.register("_delta", delta.to_arrow())
    resume = sim.now + dt.timedelta(minutes=float(sim.scenario["service"]["fulfilment"]["revision_minutes"]))
    for activity, where, at in (("'Fulfilment Suspended'", "TRUE", sim.now),
                                ("'Line ' || upper(change[1]) || change[2:]", "change <> 'unchanged'", sim.now),
                                ("'Fulfilment Resumed'", "TRUE", resume)):
        sim.store.record_events(f"""
            SELECT DISTINCT ?::TIMESTAMP AS ts, 'order' AS object_type, base_order_id AS object_id,
                   {activity} AS activity, ? AS job,
                   CASE WHEN {activity} LIKE 'Line %' THEN line_ref END AS detail
            FROM _delta WHERE {where}""", [at, sim.current_job])
    undo = _stop_affected_work(sim)
    _hold_the_rest(sim, resume)
    _rewrite_lines(sim)
    _requeue(sim, undo, resume)


def _stop_affected_work(sim) -> dict[tuple[str, int], tuple[str, list[tuple[str, int]]]]:
    """Cancel queued jobs and interrupt running ones of removed and redone lines; returns, per line, its
    change and the compensation tasks its done steps need: one "Undo <step>" per step done (not
    undone since), latest first, each `compensation_factor` of the step's duration."""
    con, now = sim.con, sim.now
    factor = float(sim.scenario["service"]["fulfilment"]["compensation_factor"])
    affected = sim.store.frame("""
        SELECT j.job_no, j.order_id, j.line_no, j.status, j.worker, j.steps, j.step_durations_s,
               (epoch(?::TIMESTAMP) - epoch(j.started_at))::BIGINT AS worked_s, d.change
        FROM fulfilment_jobs j JOIN _delta d ON d.base_order_id = j.order_id AND d.base_line_no = j.line_no
        WHERE d.change IN ('removed', 'redo') AND j.status IN ('Queued', 'Running')""", [now])
    undo = {}
    for job in affected.iter_rows(named=True):  # a handful of rows
        done = _steps_done(job["steps"], job["step_durations_s"], job["worked_s"]) if job["status"] == "Running" else []
        undo[(job["order_id"], job["line_no"])] = (job["change"], [
            (f"Undo {name}", round(seconds * factor)) for name, seconds in reversed(done)
            if not name.startswith("Undo ") and name != SUSPENDED])
    con.register("_stopped", affected.select("job_no", "status", "worker").to_arrow())
    con.execute("""UPDATE fulfilment_jobs SET status = CASE s.status WHEN 'Running' THEN 'Interrupted'
                          ELSE 'Cancelled' END, interrupted_at = ?
                   FROM _stopped s WHERE fulfilment_jobs.job_no = s.job_no""", [now])
    con.execute("""UPDATE fulfilment_workers SET busy_until = ? WHERE worker IN (
                       SELECT worker FROM _stopped WHERE status = 'Running')""", [now])
    return undo


def _steps_done(steps: list[str], durations: list[int], worked_s: int) -> list[tuple[str, int]]:
    """The steps of a job finished `worked_s` seconds after it started."""
    ends = np.cumsum(durations)
    return [(name, int(d)) for name, d, end in zip(steps, durations, ends, strict=True) if end <= worked_s]


def _hold_the_rest(sim, resume: dt.datetime) -> None:
    """Seed 004: order management suspends the revised order's fulfilment flows while it computes the
    changes and the compensation plan. The order's lines still running pause until it resumes (their
    worker waits with them: a step "Suspended" in their steps, their end and their point of no return
    later by the pause), and its queued lines wait to be released until then."""
    con, now = sim.con, sim.now
    pause_s = int((resume - now).total_seconds())
    if pause_s <= 0:
        return
    running = sim.store.frame("""
        SELECT j.job_no, j.steps, j.step_durations_s, j.ponr_offset_s,
               (epoch(?::TIMESTAMP) - epoch(j.started_at))::BIGINT AS worked_s
        FROM fulfilment_jobs j WHERE j.status = 'Running'
          AND j.order_id IN (SELECT base_order_id FROM _rv WHERE reason IS NULL)""", [now])
    held = [_paused(job, pause_s) for job in running.iter_rows(named=True)]
    if held:
        con.register("_held", pl.DataFrame(held, schema={
            "job_no": pl.Int64, "steps": pl.List(pl.String), "step_durations_s": pl.List(pl.Int64),
            "ponr_offset_s": pl.Int64}).to_arrow())
        con.execute("""UPDATE fulfilment_jobs SET steps = h.steps, step_durations_s = h.step_durations_s,
                              ponr_offset_s = h.ponr_offset_s, duration_s = duration_s + ?,
                              ended_at = ended_at + to_seconds(?)
                       FROM _held h WHERE fulfilment_jobs.job_no = h.job_no""", [pause_s, pause_s])
        con.execute("""UPDATE fulfilment_workers SET busy_until = j.ended_at FROM fulfilment_jobs j
                       WHERE j.job_no IN (SELECT job_no FROM _held) AND fulfilment_workers.worker = j.worker""")
    con.execute("""UPDATE fulfilment_jobs SET release_at = greatest(release_at, ?::TIMESTAMP)
                   WHERE status = 'Queued' AND order_id IN (SELECT base_order_id FROM _rv WHERE reason IS NULL)""",
                [resume])


def _paused(job: dict, pause_s: int) -> dict:
    """A running job's steps with a pause of `pause_s` inserted where it stands (a step under way is
    split around it)."""
    steps, durations, worked = list(job["steps"]), list(job["step_durations_s"]), job["worked_s"]
    ends = np.cumsum(durations)
    i = int(np.searchsorted(ends, worked, side="right"))  # the step under way (or the next to begin)
    part = worked - (int(ends[i - 1]) if i else 0)
    if part > 0:  # the step under way: what is done of it, the pause, the rest of it
        steps[i:i + 1] = [steps[i], SUSPENDED, steps[i]]
        durations[i:i + 1] = [part, pause_s, durations[i] - part]
    else:
        steps.insert(i, SUSPENDED)
        durations.insert(i, pause_s)
    ponr = job["ponr_offset_s"] + (pause_s if worked < job["ponr_offset_s"] else 0)
    return {"job_no": job["job_no"], "steps": steps, "step_durations_s": durations, "ponr_offset_s": ponr}


def _rewrite_lines(sim) -> None:
    """The base orders take the revised lines and header; removed lines are cancelled."""
    con = sim.con
    fields = ", ".join(f"{f} = n.{f}" for f in WORK_FIELDS + PRICE_FIELDS)
    con.execute(f"""UPDATE service_lines SET {fields}
                    FROM _delta d JOIN service_lines n ON n.order_id = d.revision_id AND n.line_no = d.revision_line_no
                    WHERE service_lines.order_id = d.base_order_id AND service_lines.line_no = d.base_line_no
                      AND d.change IN ('redo', 'repriced', 'unchanged')""")  # a line's price list as sent, too
    con.execute("""UPDATE service_lines SET status = 'Cancelled', reason = 'removed by revision ' || d.revision_id
                   FROM (SELECT d.*, r.revision_id AS rev FROM _delta d JOIN _rv r ON r.base_order_id = d.base_order_id
                         AND r.reason IS NULL) d
                   WHERE service_lines.order_id = d.base_order_id AND service_lines.line_no = d.base_line_no
                     AND d.change = 'removed'""")
    con.execute("""
        INSERT INTO service_lines
        SELECT d.base_order_id, m.top + row_number() OVER (PARTITION BY d.base_order_id ORDER BY d.line_ref),
               n.line_ref, n.parent_ref, n.product_id, n.is_bundle, n.action, n.requested_price_list,
               n.resolved_price_list, n.price_list_source, n.price_list_from_header, n.asset_id, n.location,
               n.depends_on_order, n.depends_on_line, n.quantity, 'Submitted', NULL, n.price_override
        FROM _delta d JOIN service_lines n ON n.order_id = d.revision_id AND n.line_no = d.revision_line_no
             JOIN (SELECT order_id, max(line_no) AS top FROM service_lines GROUP BY ALL) m
               ON m.order_id = d.base_order_id
        WHERE d.change = 'added' ORDER BY 1, 2""")
    con.execute("""
        INSERT INTO order_lines SELECT l.order_id, l.line_no, l.product_id, l.action, l.resolved_price_list,
               l.quantity, coalesce(l.price_override, p.recurring, 0), l.status, NULL, NULL
        FROM service_lines l LEFT JOIN service_prices p ON p.product_id = l.product_id
             AND p.price_list = l.resolved_price_list
        WHERE l.order_id IN (SELECT base_order_id FROM _rv WHERE reason IS NULL)
          AND NOT EXISTS (SELECT 1 FROM order_lines o WHERE o.order_id = l.order_id AND o.line_no = l.line_no)
        ORDER BY l.order_id, l.line_no""")
    _take_header(sim)
    con.execute("""UPDATE service_lines SET status = 'In Progress'
                   WHERE order_id IN (SELECT r.base_order_id FROM _rv r JOIN orders o ON o.order_id = r.base_order_id
                                      WHERE r.reason IS NULL AND o.status = 'In Progress')
                     AND status = 'Submitted'""")
    sync_public_lines(sim, "SELECT base_order_id FROM _rv WHERE reason IS NULL", repriced=True)


def _take_header(sim) -> None:
    """Price list and priority always; the due date only while nothing of the base has started."""
    con = sim.con
    con.execute("""UPDATE orders SET price_list = r.price_list, priority = r.priority
                   FROM _rv r WHERE orders.order_id = r.base_order_id AND r.reason IS NULL""")
    con.execute("""UPDATE fulfilment_jobs SET priority = r.priority FROM _rv r
                   WHERE fulfilment_jobs.order_id = r.base_order_id AND r.reason IS NULL
                     AND fulfilment_jobs.status = 'Queued'""")
    con.execute("""UPDATE service_orders SET due_at = r.due_at FROM _rv r
                   WHERE service_orders.order_id = r.base_order_id AND r.reason IS NULL
                     AND service_orders.started_at IS NULL""")
    # A released order not yet started whose new due date lies ahead goes back to waiting for it.
    con.execute("""CREATE OR REPLACE TEMP TABLE _deferred AS
                   SELECT s.order_id FROM service_orders s JOIN orders o USING (order_id)
                   WHERE s.order_id IN (SELECT base_order_id FROM _rv WHERE reason IS NULL)
                     AND o.status = 'In Progress' AND s.started_at IS NULL AND s.due_at > ?""", [sim.now])
    con.execute("UPDATE fulfilment_jobs SET status = 'Cancelled' WHERE status = 'Queued' "
                "AND order_id IN (SELECT order_id FROM _deferred)")
    con.execute("UPDATE orders SET status = 'Submitted' WHERE order_id IN (SELECT order_id FROM _deferred)")
    con.execute("UPDATE service_lines SET status = 'Submitted' WHERE status = 'In Progress' "
                "AND order_id IN (SELECT order_id FROM _deferred)")


def _requeue(sim, undo: dict[tuple[str, int], tuple[str, list[tuple[str, int]]]], resume: dt.datetime) -> None:
    """New jobs for redone and added lines of running base orders, their done steps undone first, and
    compensation jobs for removed ones: all released when the order's fulfilment resumes."""
    lines = sim.store.frame(f"""
        SELECT l.order_id, l.line_no, l.product_id, o.priority, s.seq, {epoch_s(sim, '?::TIMESTAMP')} AS release_s
        FROM service_lines l JOIN orders o USING (order_id) JOIN service_orders s USING (order_id)
        WHERE o.status = 'In Progress' AND l.status = 'In Progress'
          AND l.order_id IN (SELECT base_order_id FROM _rv WHERE reason IS NULL)
          AND NOT EXISTS (SELECT 1 FROM fulfilment_jobs j WHERE j.order_id = l.order_id AND j.line_no = l.line_no
                          AND j.status IN ('Queued', 'Running', 'Done'))
        ORDER BY s.seq, l.line_no""", [resume])
    queue_jobs(sim, lines, kind="fulfil", undo=[undo.get(key, ("", []))[1] for key in
                                                 zip(lines["order_id"], lines["line_no"], strict=True)])
    removed = sorted(key for key, (change, tasks) in undo.items() if change == "removed" and tasks)
    if removed:
        meta = sim.store.frame(f"""
            SELECT l.order_id, l.line_no, l.product_id, o.priority, s.seq, {epoch_s(sim, '?::TIMESTAMP')} AS release_s
            FROM service_lines l JOIN orders o USING (order_id) JOIN service_orders s USING (order_id)
            WHERE l.order_id IN (SELECT unnest(?::VARCHAR[]))
            ORDER BY l.order_id, l.line_no""", [resume, sorted({o for o, _ in removed})]).join(
            pl.DataFrame(removed, schema={"order_id": pl.String, "line_no": pl.Int32}, orient="row"),
            on=["order_id", "line_no"], maintain_order="left")
        queue_jobs(sim, meta, kind="compensate", undo=[undo[key][1] for key in
                                                       zip(meta["order_id"], meta["line_no"], strict=True)],
                   with_steps=False)
