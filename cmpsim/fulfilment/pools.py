"""Small pools that take queued items one at a time each: the order queue's consumers, the fallout
operators. A pool is a table of its members' free times (`<member> INTEGER, busy_until TIMESTAMP`);
its items are taken by `take`, with `scheduling.schedule_window`, the same rule as the fulfilment workers: the
highest priority first, the earliest release within a priority, never pre-empting one begun.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from cmpsim.fulfilment.jobs import epoch_s, epoch_ts
from cmpsim.fulfilment.scheduling import schedule_window
from cmpsim.store import registered


def take(sim, queued: pl.DataFrame, pool: str, member: str) -> pl.DataFrame:
    """The items of `queued` (columns key, priority, seq, release_s, duration_s) that the pool's members
    start by now (`take_by`), the members' free times read from and written to the pool's table."""
    if queued.height == 0:
        return take_by(queued, [], np.zeros(0, dtype=np.int64), sim.now_s, member)[0]
    members = sim.con.execute(f"SELECT {member}, {epoch_s(sim, 'busy_until')} FROM {pool} ORDER BY {member}"
                              ).fetchall()
    ids = [m for m, _ in members]
    taken, busy = take_by(queued, ids, np.asarray([b for _, b in members], dtype=np.int64), sim.now_s, member)
    if taken.height:
        with registered(sim.con, "_busy", pl.DataFrame({member: ids, "busy_s": busy}).to_arrow()):
            sim.con.execute(f"UPDATE {pool} SET busy_until = {epoch_ts(sim, 'b.busy_s')} FROM _busy b "
                            f"WHERE {pool}.{member} = b.{member}")
    return taken


def take_by(queued: pl.DataFrame, members: list[int], busy: np.ndarray, now_s: int,
            member: str) -> tuple[pl.DataFrame, np.ndarray]:
    """The items of `queued` that members (ids `members`, free from `busy`, seconds since the start)
    start by `now_s`, from the moment each was released when a member was free then (an item released
    before the pool saw it loses no time): key, start_s, end_s and `member` per item taken, and the
    members' free times after."""
    taken_schema = {"key": queued.schema["key"], "start_s": pl.Int64, "end_s": pl.Int64, member: pl.Int64}
    if queued.height == 0:
        return pl.DataFrame(schema=taken_schema), busy
    t0 = min(int(queued["release_s"].min()), int(busy.min()), now_s)
    plan = schedule_window(queued["release_s"].to_numpy(), queued["priority"].to_numpy(), queued["seq"].to_numpy(),
                           queued["duration_s"].to_numpy(), busy, t0, now_s + 1)
    if len(plan.job_index) == 0:
        return pl.DataFrame(schema=taken_schema), busy
    return pl.DataFrame({"key": queued["key"].to_numpy()[plan.job_index], "start_s": plan.start_s,
                         "end_s": plan.end_s, member: np.asarray(members)[plan.worker]}).cast(taken_schema), \
        np.asarray(plan.busy_until_s, dtype=np.int64)


def next_moment(sim, look: str) -> int | None:
    """The first second a pool has something to do, from its `look` (SQL giving the items queued, the
    first end of one in hand and the first member's free time): a member frees up for a queued item,
    or an item in hand is done."""
    queued, next_end, first_free = sim.con.execute(look).fetchall()[0]
    moments = [sim.second_of(next_end), sim.second_of(first_free) if queued else None]
    return min((m for m in moments if m is not None), default=None)
