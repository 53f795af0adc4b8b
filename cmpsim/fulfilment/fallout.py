"""Fallout: fulfilment work that failed goes to a queue worked by operators (seed 004's failed orders).

A step of a line's fulfilment job can fail (a provisioning or activation system's error): with
`service.fallout.rate`, each fulfilment job may fall out at one of its steps, drawn when it is
queued (`jobs.queue_jobs`). The job then ends with that step (`fulfilment_jobs.fallout_step`), the
worker is free, and the line goes to **Fallout** (event Line Fallout) instead of completing: a
`fallout_tasks` row is queued for the operators. The order waits: it is complete only when every
line is final.

The Fallout Desk (simulated operators, `fallout.operators` of them) takes the tasks highest priority
first, FIFO within a priority, one at a time each, for `fallout.handling_minutes`, and resolves each
as drawn from `fallout.outcomes` when it was queued:
- **retry**: the line is sent back to fulfilment from the failed step (it may fall out again);
- **fix**: the operator repairs the data, then the line goes on from the failed step (it cannot fall
  out again);
- **cancel**: the line is Cancelled ("cancelled in fallout: <step> failed") and the steps it had done
  are undone by compensation tasks (`Undo <step>`, latest first, `compensation_factor` of each).
Each resolution is logged on the order (Fallout Retried, Fallout Fixed, Fallout Cancelled). A line no
longer in Fallout when its task ends (a revision changed it meanwhile) is left as it is.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from cmpsim.fulfilment import pools
from cmpsim.fulfilment.jobs import epoch_s, epoch_ts, finish_orders, queue_jobs, sync_public_lines
from cmpsim.fulfilment.revisions import SUSPENDED
from cmpsim.fulfilment.workqueue import work_queue
from cmpsim.randomness import draw
from cmpsim.store import registered

OUTCOMES = ("retry", "fix", "cancel")
DEFAULT_OUTCOMES = {"retry": 60, "fix": 30, "cancel": 10}  # not merged with a scenario's: its weights are all
EVENT = {"retry": "Fallout Retried", "fix": "Fallout Fixed", "cancel": "Fallout Cancelled"}
LOOK = """
    SELECT count(*) FILTER (WHERE status = 'Queued'), min(ended_at) FILTER (WHERE status = 'Working'),
           (SELECT min(busy_until) FROM fallout_operators)
    FROM fallout_tasks WHERE status IN ('Queued', 'Working')"""
TASK_SCHEMA = {"task_no": pl.Int64, "order_id": pl.String, "line_no": pl.Int32, "job_no": pl.Int64,
               "step": pl.String, "step_index": pl.Int32, "priority": pl.Int32, "seq": pl.Int64,
               "queued_s": pl.Int64, "handling_s": pl.Int64, "outcome": pl.String}


def scripted_fallouts(sim) -> pl.DataFrame:
    """The failures a scenario scripts on its explicit orders' lines: external_id, line_ref, the step
    that fails (`fallout_at`) and what the operator does (`scripted_outcome`)."""
    return pl.DataFrame([{"external_id": order["id"], "line_ref": line["line"], "fallout_at": line["fallout"]["step"],
                          "scripted_outcome": line["fallout"]["outcome"]}
                         for order in sim.scenario["service"]["explicit_orders"] for line in order["lines"]
                         if "fallout" in line],
                        schema={"external_id": pl.String, "line_ref": pl.String, "fallout_at": pl.String,
                                "scripted_outcome": pl.String})


def fell_out(sim, jobs: pl.DataFrame) -> None:
    """Lines whose fulfilment job ended in a failed step (`jobs`: the ended jobs' rows with their line,
    `ended_at`, `fallout_step`): Fallout, each with a task for the operators."""
    if jobs.height == 0:
        return
    jobs = jobs.sort("ended_at", "job_no")  # the draws follow this order
    spec = sim.scenario["service"]["fallout"]
    rng = sim.rng("fallout.tasks")
    n = jobs.height
    handling = np.round(draw(spec["handling_minutes"], rng, n) * 60).astype(np.int64)
    mix = spec.get("outcomes") or DEFAULT_OUTCOMES
    weights = np.asarray([float(mix.get(o, 0)) for o in OUTCOMES])
    outcomes = np.asarray(OUTCOMES)[rng.choice(len(OUTCOMES), n, p=weights / weights.sum())]
    names = [s["name"] for s in sim.scenario["service"]["fulfilment"]["steps"]]
    # A scripted failure is resolved as scripted (an explicit order's lines fail only so).
    jobs = jobs.with_columns(drawn=pl.Series(outcomes, dtype=pl.String)).join(
        scripted_fallouts(sim).select("external_id", "line_ref", "scripted_outcome"), on=["external_id", "line_ref"],
        how="left", maintain_order="left").with_columns(outcome=pl.coalesce("scripted_outcome", "drawn"))
    base = sim.store.allocate("fallout_task", n)
    tasks = jobs.select(
        task_no=pl.int_range(1, n + 1) + base, order_id="order_id", line_no="line_no", job_no="job_no",
        step="fallout_step", step_index=pl.col("fallout_step").replace_strict(names, list(range(len(names))),
                                                                              return_dtype=pl.Int32),
        priority="priority", seq="seq", queued_s=(pl.col("ended_at") - pl.lit(sim.start)).dt.total_seconds(),
        handling_s=pl.Series(handling), outcome="outcome").cast(TASK_SCHEMA)
    con = sim.con
    with registered(con, "_fell", tasks.to_arrow()):
        con.execute(f"""INSERT INTO fallout_tasks SELECT task_no, order_id, line_no, job_no, step, step_index, priority,
                               seq, {epoch_ts(sim, 'queued_s')}, handling_s, outcome, 'Queued', NULL, NULL, NULL
                        FROM _fell ORDER BY task_no""")
        con.execute("""UPDATE service_lines SET status = 'Fallout', reason = f.step || ' failed' FROM _fell f
                       WHERE service_lines.order_id = f.order_id AND service_lines.line_no = f.line_no""")
        sync_public_lines(sim, "SELECT order_id FROM _fell")
    sim.store.record_event_frame(jobs.select(
        ts="ended_at", object_type=pl.lit("order"), object_id="order_id", activity=pl.lit("Line Fallout"),
        detail=pl.concat_str("line_ref", pl.lit(" "), "action", pl.lit(" "), "product_id", pl.lit(": "),
                             "fallout_step", pl.lit(" failed"))), sim.current_job)


def fallout_wake_at(sim) -> int | None:
    """The first second the operators have something to do: one frees up for a queued task, or a
    task in hand is done."""
    return pools.next_moment(sim, LOOK)


def fallout_step(sim) -> int:
    return _take(sim) + _resolve(sim)


def _take(sim) -> int:
    """Operators take the queued tasks, highest priority first, from when each was queued."""
    queued = sim.store.frame(f"""
        SELECT task_no AS key, priority, seq, {epoch_s(sim, 'queued_at')} AS release_s, handling_s AS duration_s
        FROM fallout_tasks WHERE status = 'Queued' ORDER BY task_no""")
    taken = pools.take(sim, queued, "fallout_operators", "operator")
    if taken.height:
        with registered(sim.con, "_taken", taken.to_arrow()):
            sim.con.execute(f"""UPDATE fallout_tasks SET status = 'Working', operator = t.operator,
                                       started_at = {epoch_ts(sim, 't.start_s')}, ended_at = {epoch_ts(sim, 't.end_s')}
                                FROM _taken t WHERE fallout_tasks.task_no = t.key""")
    return taken.height


def _resolve(sim) -> int:
    """Tasks done by now: each line retried, fixed or cancelled, as its task's outcome says."""
    rows = sim.con.execute(f"""
        UPDATE fallout_tasks SET status = 'Resolved' WHERE status = 'Working' AND ended_at <= ?
        RETURNING task_no, order_id, line_no, job_no, step, step_index, outcome, operator, ended_at,
                  {epoch_s(sim, 'ended_at')} AS ended_s, handling_s""", [sim.now]).fetchall()
    done = pl.DataFrame(rows, orient="row", schema={
        "task_no": pl.Int64, "order_id": pl.String, "line_no": pl.Int32, "job_no": pl.Int64, "step": pl.String,
        "step_index": pl.Int32, "outcome": pl.String, "operator": pl.Int32, "ended_at": pl.Datetime("us"),
        "ended_s": pl.Int64, "handling_s": pl.Int64})
    if done.height == 0:
        return 0
    # Only lines still in fallout: a revision may have changed one meanwhile.
    with registered(sim.con, "_resolved", done.to_arrow()):
        lines = sim.store.frame("""
            SELECT d.*, l.line_ref, l.product_id, o.priority, s.seq
            FROM _resolved d JOIN service_lines l USING (order_id, line_no) JOIN orders o USING (order_id)
            JOIN service_orders s USING (order_id)
            WHERE l.status = 'Fallout' ORDER BY d.ended_at, d.task_no""")
    if lines.height:
        _go_on(sim, lines.filter(pl.col("outcome") != "cancel"))
        _cancel(sim, lines.filter(pl.col("outcome") == "cancel"))
        sim.store.record_event_frame(lines.select(
            ts="ended_at", object_type=pl.lit("order"), object_id="order_id",
            activity=pl.col("outcome").replace_strict(EVENT),
            detail=pl.format("line {}: {} failed, operator {} after {} min", "line_ref", "step", "operator",
                             pl.col("handling_s") // 60)), sim.current_job)
    return done.height


def _go_on(sim, lines: pl.DataFrame) -> None:
    """Retried and fixed lines go back to fulfilment from the step that failed."""
    if lines.height == 0:
        return
    con = sim.con
    with registered(con, "_again", lines.select("order_id", "line_no").to_arrow()):
        con.execute("""UPDATE service_lines SET status = 'In Progress', reason = NULL FROM _again a
                       WHERE service_lines.order_id = a.order_id AND service_lines.line_no = a.line_no""")
        sync_public_lines(sim, "SELECT order_id FROM _again")
    for outcome, may_fall_out in (("retry", True), ("fix", False)):
        again = lines.filter(pl.col("outcome") == outcome)
        queue_jobs(sim, again.select("order_id", "line_no", "product_id", "priority", "seq", release_s="ended_s"),
                   kind="fulfil", from_step=again["step_index"].to_list(), may_fall_out=may_fall_out)


def _cancel(sim, lines: pl.DataFrame) -> None:
    """Cancelled lines: their done steps are undone by compensation tasks, then their order can finish."""
    if lines.height == 0:
        return
    con = sim.con
    factor = float(sim.scenario["service"]["fulfilment"]["compensation_factor"])
    with registered(con, "_cancelled", lines.select("order_id", "line_no", "step", "ended_at").to_arrow()):
        con.execute("""UPDATE service_lines SET status = 'Cancelled', reason = 'cancelled in fallout: ' || c.step
                              || ' failed' FROM _cancelled c
                       WHERE service_lines.order_id = c.order_id AND service_lines.line_no = c.line_no""")
        # Final when the operator cancelled it: its order may complete from then on.
        sync_public_lines(sim, "SELECT order_id FROM _cancelled", ended_lines="_cancelled")
    undo = _done_steps(sim, lines, factor)
    undoing = [i for i, tasks in enumerate(undo) if tasks]
    queue_jobs(sim, lines[undoing].select("order_id", "line_no", "product_id", "priority", "seq",
                                          release_s="ended_s"),
               kind="compensate", undo=[undo[i] for i in undoing], with_steps=False)
    finish_orders(sim, lines["order_id"].unique().sort().to_list())


def _done_steps(sim, lines: pl.DataFrame, factor: float) -> list[list[tuple[str, int]]]:
    """Per line, the compensation tasks for the steps its fulfilment jobs finished (a failed step is not
    finished; a retried line did the steps before it in an earlier job), latest first, each
    `compensation_factor` of the step's duration."""
    queue = work_queue(sim)
    queue.write(sim.con)  # the jobs done since the last commit are in the record
    with registered(sim.con, "_undoing", lines.select("order_id", "line_no").to_arrow()):
        jobs = sim.store.frame("""
            SELECT j.order_id, j.line_no, j.steps, j.step_durations_s, j.fallout_step IS NOT NULL AS fell
            FROM fulfilment_jobs j JOIN _undoing u USING (order_id, line_no)
            WHERE j.kind = 'fulfil' AND j.status = 'Done' ORDER BY j.job_no""")
    done: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for job in jobs.iter_rows(named=True):  # a handful of rows: the lines cancelled now
        steps = list(zip(job["steps"], job["step_durations_s"], strict=True))[:-1 if job["fell"] else None]
        done.setdefault((job["order_id"], job["line_no"]), []).extend(
            (name, seconds) for name, seconds in steps if not name.startswith("Undo ") and name != SUSPENDED)
    return [[(f"Undo {name}", round(seconds * factor)) for name, seconds in reversed(done.get(key, []))]
            for key in zip(lines["order_id"].to_list(), lines["line_no"].to_list(), strict=True)]
