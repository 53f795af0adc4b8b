"""Workflow events: customer service cases, which raise communications (seed 003).

The workflow engine opens a case for a share (`comms.workflow.case_rate`) of the orders that end in
error, fail or are rejected, and agents resolve each after a drawn time (`resolve_hours`). Opening a
case is a workflow event: it creates its communication header at once; with WhenToCreate OnResolve
(the default) the communication waits for the resolution before it is gathered and sent.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from cmpsim.comms.tables import cursor_sql, move_cursor
from cmpsim.randomness import draw
from cmpsim.store import registered

SUBJECT = """CASE o.status WHEN 'Error' THEN 'Order ' || o.order_id || ' could not be completed'
                           WHEN 'Failed' THEN 'Service order ' || o.order_id || ' failed'
                           ELSE 'Order ' || o.order_id || ' was not accepted' END"""


PROBLEMS = ("Order Error", "Order Failed", "Order Rejected")


def workflow_due(sim) -> bool:
    """Orders gone wrong since the last case opened (in the log, or held in memory for it), or cases
    due to be resolved: an hourly look of one statement, which writes nothing."""
    cursor, due = sim.con.execute(f"""
        SELECT coalesce({cursor_sql('workflow')}, 0),
               (SELECT count(*) FROM wf_cases WHERE resolved_at IS NULL AND resolve_at <= ?)""",
                                  [sim.now]).fetchall()[0]
    return bool(due) or sim.store.has_events_since(cursor, PROBLEMS)


def workflow_step(sim) -> int:
    """Open cases for the orders that went wrong since the last wake-up, resolve the cases due."""
    return _open(sim) + _resolve(sim)


def _open(sim) -> int:
    spec = sim.scenario["comms"]["workflow"]
    last = sim.store.scalar(f"SELECT {cursor_sql('workflow')}") or 0
    top = sim.store.scalar("SELECT max(seq) FROM events") or 0
    found = sim.store.frame(f"""
        SELECT e.seq, o.order_id, o.account_id, {SUBJECT} AS subject
        FROM events e JOIN orders o ON o.order_id = e.object_id
        WHERE e.seq > ? AND e.seq <= ? AND e.object_type = 'order'
          AND e.activity IN {PROBLEMS}
        ORDER BY e.seq""", [last, top])
    if found.height == 0:
        return 0
    # The cursor moves to the last order event found, so a wake-up run again finds nothing new.
    move_cursor(sim.con, "workflow", int(found["seq"].max()))
    found = found.drop("seq")
    rng = sim.rng("comms.workflow")
    found = found.filter(pl.Series(rng.random(found.height) < spec["case_rate"]))
    if found.height == 0:
        return 0
    hours = np.maximum(draw(spec["resolve_hours"], rng, found.height), 0.25)
    base = sim.store.allocate("case", found.height)
    cases = found.with_columns(
        case_id=pl.format("CASE-{}", (pl.int_range(1, found.height + 1) + base).cast(pl.Utf8).str.zfill(7)),
        resolve_s=pl.Series(np.round(hours * 3600).astype(np.int64)))
    with registered(sim.con, "_wf_new", cases.to_arrow()):
        sim.con.execute("""
            INSERT INTO wf_cases SELECT case_id, account_id, 'order problem', order_id, subject, ?, ?,
                                        ?::TIMESTAMP + to_seconds(resolve_s), NULL
            FROM _wf_new ORDER BY case_id""", [spec["when_to_create"], sim.now, sim.now])
    sim.store.record_events_at(sim.now, "case", cases["case_id"].to_list(), "Case Opened", sim.current_job,
                               cases["subject"].to_list())
    return cases.height


def _resolve(sim) -> int:
    resolved = sim.con.execute("""UPDATE wf_cases SET resolved_at = ? WHERE resolved_at IS NULL AND resolve_at <= ?
                                  RETURNING case_id, subject""", [sim.now, sim.now]).fetchall()
    sim.store.record_events_at(sim.now, "case", [case_id for case_id, _ in resolved], "Case Resolved",
                               sim.current_job, [subject for _, subject in resolved])
    return len(resolved)
