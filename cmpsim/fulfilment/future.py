"""The CRM's simulated future state of an asset (seed 004, "About Future-Dated Orders").

When an order changes an asset, the CRM judges it against the state the asset will be in when the
order is due — after every order still open on that asset and due no later — not against its state
today. CRM Order Capture does it for the lines of new and modify orders that name an existing asset
(Suspend, Resume, Update, Delete, moves), with the same transition rules as fulfilment
(`assets.judge_lines`), the orders on one asset taken in due-date order, then submission order:

- a line that does not fit that future state rejects its order at submission, with the state and
  the order that will leave it so ("line 1: Resume needs a Suspended asset, found Active on
  2026-01-08 12:00 after order TV-RESUME");
- the seed's guidelines for several future-dated orders on one asset are not refusals but warnings,
  logged on the new order: "Future-Dated Orders On Asset" when another future-dated order on the same
  asset is still open, and "Future State Conflict" when the new order, due earlier, invalidates a
  previously submitted one (which should be revised: order management will reject its line when it
  comes due).

Follow-on orders (their asset may not exist before their base completes) and revisions (they replace
their base) are judged by order management as before.
"""

from __future__ import annotations

import polars as pl

from cmpsim.fulfilment import assets as asset_rules
from cmpsim.fulfilment.jobs import epoch_s

OPEN_LINES = ("Submitted", "In Progress", "Fallout")
NO_PROBLEMS = pl.DataFrame(schema={"order_id": pl.String, "reason": pl.String})
NO_WARNINGS = pl.DataFrame(schema={"order_id": pl.String, "activity": pl.String, "detail": pl.String})


def judge_future(sim, orders: pl.DataFrame, lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """For a batch being submitted (`orders`: order_id, seq, order_type, submitted_s, due_s, external_id;
    `lines`: order_id, line_ref, action, asset_id, location), the orders refused on an asset's future
    state (order_id, reason) and the warnings to log (order_id, activity, detail)."""
    judged = orders.filter(pl.col("order_type").is_in(["new", "modify"]))
    new = (lines.filter(pl.col("asset_id").is_not_null() & (pl.col("action") != "Add"))
           .join(judged.select("order_id", "seq", "due_s", "submitted_s", "external_id"), on="order_id"))
    if new.height == 0:
        return NO_PROBLEMS, NO_WARNINGS
    assets = sim.store.frame("SELECT asset_id, state, location FROM assets WHERE asset_id IN (SELECT unnest(?))",
                             [new["asset_id"].unique().sort().to_list()])
    known = new.filter(pl.col("asset_id").is_in(assets["asset_id"].implode()))
    if known.height == 0:
        return NO_PROBLEMS, NO_WARNINGS  # no such asset: order management rejects the line, as before
    pending = sim.store.frame(f"""
        SELECT l.order_id, l.line_ref, l.action, l.asset_id, l.location, s.seq, {epoch_s(sim, 's.due_at')} AS due_s,
               {epoch_s(sim, 's.submitted_at')} AS submitted_s, s.external_id
        FROM service_lines l JOIN service_orders s USING (order_id) JOIN orders o USING (order_id)
        WHERE l.asset_id IN (SELECT unnest(?::VARCHAR[])) AND l.status IN {OPEN_LINES}
          AND o.status IN ('Submitted', 'In Progress') AND o.order_type <> 'supplemental'""",
                                 [known["asset_id"].unique().sort().to_list()])
    every = pl.concat([pending.with_columns(new=pl.lit(False)),
                       known.select(pending.columns).with_columns(new=pl.lit(True))])
    projected = _project(every, assets)
    # What was already invalid before this batch is not the new orders' doing.
    already = (_project(pending.with_columns(new=pl.lit(False)), assets).filter(pl.col("verdict") == "rejected")
               .select("order_id", "line_ref")) if pending.height else pending.select("order_id", "line_ref")
    return _refusals(sim, projected), _warnings(sim, projected, already)


def _project(lines: pl.DataFrame, assets: pl.DataFrame) -> pl.DataFrame:
    """Every line judged against the state its asset will be in: per asset, the orders in (due, seq)
    order, each on the state the ones before leave. Adds verdict, reason, from_state, the moment of
    that state (`state_due_s`) and the order that left it (`state_by`)."""
    lines = lines.sort("due_s", "seq", "line_ref").with_columns(
        name=pl.coalesce("external_id", "order_id"),
        rank=pl.struct("due_s", "seq").rank("dense").over("asset_id").cast(pl.Int64))
    state = assets.with_columns(state_due_s=pl.lit(None, pl.Int64), state_by=pl.lit(None, pl.String))
    judged = []
    for rank in range(1, int(lines["rank"].max()) + 1):  # a few orders per asset at most
        step = lines.filter(pl.col("rank") == rank)
        verdicts = asset_rules.judge_lines(step.select("order_id", "seq", line_no="line_ref", action="action",
                                                       asset_id="asset_id", location="location"),
                                           state.select("asset_id", "state", "location"))
        step = step.with_columns(verdicts.select("verdict", "reason", "from_state", "new_state", "new_location"))
        judged.append(step.join(state.select("asset_id", "state_due_s", "state_by"), on="asset_id", how="left",
                                maintain_order="left"))
        moved = step.filter(pl.col("verdict") == "accepted").group_by("asset_id", maintain_order=True).agg(
            state=pl.col("new_state").last(), location=pl.col("new_location").last(),
            state_due_s=pl.col("due_s").first(), state_by=pl.col("name").first())
        state = pl.concat([state.join(moved, on="asset_id", how="anti"), moved.select(state.columns)])
    return pl.concat(judged)


def _moment(column: str, sim) -> pl.Expr:
    return (pl.lit(sim.start) + pl.duration(seconds=column)).dt.strftime("%Y-%m-%d %H:%M")


def _refusals(sim, projected: pl.DataFrame) -> pl.DataFrame:
    """A new line that does not fit its asset's future state: its order is refused, the first line's reason."""
    refused = projected.filter(pl.col("new") & (pl.col("verdict") == "rejected")).sort("order_id", "line_ref")
    if refused.height == 0:
        return NO_PROBLEMS
    return refused.group_by("order_id", maintain_order=True).first().select(
        "order_id", reason=pl.format("line {}: {}", "line_ref", "reason") + pl.when(pl.col("state_by").is_not_null())
        .then(pl.format(" on {} after order {}", _moment("state_due_s", sim), "state_by")).otherwise(pl.lit("")))


def _warnings(sim, projected: pl.DataFrame, already: pl.DataFrame) -> pl.DataFrame:
    """The seed's guidelines: another open future-dated order on the asset; an open order that the new
    one, due earlier, invalidates (a line the future state no longer fits, that fitted before)."""
    future = pl.col("due_s") > pl.col("submitted_s")
    new = projected.filter(pl.col("new") & (pl.col("verdict") == "accepted"))
    old = projected.filter(~pl.col("new"))
    crowded = (new.filter(future).join(old.filter(future), on="asset_id", suffix="_old")
               .select("order_id", activity=pl.lit("Future-Dated Orders On Asset"),
                       detail=pl.format("asset {} has future-dated order {} due {}", "asset_id", "name_old",
                                        _moment("due_s_old", sim))))
    broken = old.filter(pl.col("verdict") == "rejected").join(already, on=["order_id", "line_ref"], how="anti")
    invalidated = (new.join(broken, on="asset_id", suffix="_old").filter(pl.col("rank") < pl.col("rank_old"))
                   .select("order_id", activity=pl.lit("Future State Conflict"),
                           detail=pl.format("invalidates order {} line {} on asset {}: revise it ({})", "name_old",
                                            "line_ref_old", "asset_id", "reason_old")))
    return pl.concat([crowded, invalidated]).unique(maintain_order=True)
