"""What a completed order line does to the asset it names: one transition table, one join.

An asset is a product installed on an account, at a location (service point), in one state:

- Active: in service at its location;
- Suspended: at its location, service suspended;
- Moving: taken out of its old location by a Move-Delete, waiting for the Move-Add that installs
  it at the new one (its location is empty meanwhile);
- Disconnected: gone for good; no line may act on it again.

`TRANSITIONS` lists every (action, from_state) a line may complete on; anything else is rejected
with the reason "<action> needs <states it accepts>, found <state>". `NO_ASSET` stands for a line
that names no existing asset: only Add accepts it, and only Add creates an asset.

Choices where seed 004 is silent: a move reinstalls an Active service (Move-Delete needs Active,
so a suspended asset is resumed before it moves, and suspension is never silently lost on the
way); a Move-Add needs a Moving asset, which is either left so by an earlier order or moved out
by a Move-Delete of the same order; a Moving asset may still be deleted (the customer cancels
during the move). Update changes attributes and price list (see `pricelists.resolve_modify`) but
never the state.
"""

from __future__ import annotations

import polars as pl

NO_ASSET = "none"
ACTIONS = ("Add", "Move-Add", "Move-Delete", "Delete", "Update", "Suspend", "Resume")
STATES = ("Active", "Suspended", "Moving", "Disconnected")

# location_effect: "line" takes the line's location, "cleared" empties it, "kept" leaves it as it was.
TRANSITIONS = pl.DataFrame(
    [
        ("Add", NO_ASSET, "Active", "line"),
        ("Suspend", "Active", "Suspended", "kept"),
        ("Resume", "Suspended", "Active", "kept"),
        ("Move-Delete", "Active", "Moving", "cleared"),
        ("Move-Add", "Moving", "Active", "line"),
        ("Update", "Active", "Active", "kept"),
        ("Update", "Suspended", "Suspended", "kept"),
        ("Delete", "Active", "Disconnected", "kept"),
        ("Delete", "Suspended", "Disconnected", "kept"),
        ("Delete", "Moving", "Disconnected", "kept"),
    ],
    schema={"action": pl.String, "from_state": pl.String, "to_state": pl.String, "location_effect": pl.String},
    orient="row",
)


def _needs(from_states: list[str]) -> str:
    if from_states == [NO_ASSET]:
        return "no existing asset"
    article = "an" if from_states[0][0] in "AEIOU" else "a"
    listed = " or ".join(filter(None, [", ".join(from_states[:-1]), from_states[-1]]))
    return f"{article} {listed} asset"


# What each action accepts, in words, for the rejection reasons.
NEEDS = pl.DataFrame(
    [(a, _needs(TRANSITIONS.filter(pl.col("action") == a)["from_state"].to_list())) for a in ACTIONS],
    schema={"action": pl.String, "needs": pl.String},
    orient="row",
)


def judge_lines(lines: pl.DataFrame, assets: pl.DataFrame) -> pl.DataFrame:
    """Each line's verdict on completion, and what it leaves its asset in, for many orders at once.

    `lines` has `order_id`, `line_no`, `action`, `asset_id` (null, or a new id, on an Add),
    `location` (the new location of an Add or Move-Add) and optionally `seq` (the order in which
    the orders were submitted); `assets` has `asset_id`, `state` and `location`. The result is
    `lines` in its row order plus `from_state` (the state the line finds), `verdict` ("accepted" or
    "rejected"), `reason` (null when accepted), `new_state` and `new_location`; a rejected line
    leaves its asset as it was (`new_state` null when there is none).

    A Move-Add finds its asset as the accepted Move-Delete of the same order leaves it (Moving), so
    for such a pair the Move-Add's `new_state` is the asset's state after the order. Otherwise one
    asset takes one line per call: when several lines name it, the first in (`seq`, `order_id`,
    `line_no`) order is judged, with its Move pair, and the others are rejected with the reason
    "asset <id> is already being changed by order <order_id> line <line_no>".
    """
    _check_actions(lines)
    # One lazy plan, collected once: a few rows per call, where each eager step would cost its own pass.
    found = assets.lazy().select("asset_id", current_state="state", current_location="location")
    numbered = lines.lazy().with_row_index("_row")
    first = pl.col("_row") == pl.col("claimed_by_row")
    in_pair = (pl.col("order_id") == pl.col("claimed_by_order")) & pl.col("claimed_as_pair")
    claimed = numbered.join(_asset_claims(numbered), on="asset_id", how="left", maintain_order="left").with_columns(
        blocked=pl.when(pl.col("claimed_by_row").is_not_null() & ~first & ~in_pair).then(
            pl.format("asset {} is already being changed by order {} line {}", "asset_id", "claimed_by_order",
                      "claimed_by_line")
        )
    )  # fmt: skip
    moved_out = (
        claimed.filter((pl.col("action") == "Move-Delete") & pl.col("blocked").is_null())
        .join(found, on="asset_id", validate="m:1")
        .join(TRANSITIONS.lazy(), left_on=["action", "current_state"], right_on=["action", "from_state"])
        .select("order_id", "asset_id", moved_state="to_state", action=pl.lit("Move-Add"))
    )
    moved = pl.when(pl.col("blocked").is_null()).then("moved_state")
    return (
        claimed.join(found, on="asset_id", how="left", validate="m:1", maintain_order="left")
        .join(moved_out, on=["order_id", "asset_id", "action"], how="left", validate="m:1", maintain_order="left")
        .with_columns(from_state=pl.coalesce(moved, "current_state", pl.lit(NO_ASSET)))
        .join(TRANSITIONS.lazy(), on=["action", "from_state"], how="left", validate="m:1", maintain_order="left")
        .join(NEEDS.lazy(), on="action", how="left", validate="m:1", maintain_order="left")
        .with_columns(_verdict_columns())
        .select(*lines.columns, "from_state", "verdict", "reason", "new_state", "new_location")
        .collect()
    )


def _asset_claims(lines: pl.LazyFrame) -> pl.LazyFrame:
    """Per asset named on a line: the first line naming it, and whether that line's order moves it as a pair.

    "First" is in (`seq`, `order_id`, `line_no`) order, with line numbers compared part by part
    ("2.1" before "10").
    """
    by_order = ["seq", "order_id"] if "seq" in lines.collect_schema().names() else ["order_id"]
    line_key = [pl.col("line_no").str.split(".").cast(pl.List(pl.Int64), strict=False), pl.col("line_no"), "_row"]
    return (
        lines.filter(pl.col("asset_id").is_not_null())
        .sort(*by_order, *line_key)
        .group_by("asset_id", "order_id", maintain_order=True)
        .agg(
            first_row=pl.col("_row").first(),
            first_line=pl.col("line_no").first(),
            move_pair=(pl.len() == 2)
            & ((pl.col("action") == "Move-Delete").sum() == 1)
            & ((pl.col("action") == "Move-Add").sum() == 1),
        )
        .group_by("asset_id", maintain_order=True)
        .agg(
            claimed_by_row=pl.col("first_row").first(),
            claimed_by_order=pl.col("order_id").first(),
            claimed_by_line=pl.col("first_line").first(),
            claimed_as_pair=pl.col("move_pair").first(),
        )
    )


def _verdict_columns() -> list[pl.Expr]:
    accepted = pl.col("to_state").is_not_null() & pl.col("blocked").is_null()
    found = pl.when(pl.col("from_state") == NO_ASSET).then(pl.lit("no asset")).otherwise("from_state")
    return [
        pl.when(accepted).then(pl.lit("accepted")).otherwise(pl.lit("rejected")).alias("verdict"),
        pl.when(accepted)
        .then(None)
        .otherwise(pl.coalesce("blocked", pl.format("{} needs {}, found {}", "action", "needs", found)))
        .alias("reason"),
        pl.when(accepted).then("to_state").otherwise("current_state").alias("new_state"),
        pl.when(~accepted | (pl.col("location_effect") == "kept"))
        .then("current_location")
        .when(pl.col("location_effect") == "line")
        .then("location")
        .otherwise(None)
        .alias("new_location"),
    ]


def _check_actions(lines: pl.DataFrame) -> None:
    """Every action is one of `ACTIONS`: an unknown one is a fault of the caller, not of an order."""
    unknown = lines.filter(~pl.col("action").is_in(ACTIONS))
    if unknown.height:
        raise ValueError(f"unknown line actions: {unknown['action'].unique().sort().to_list()}; known: {ACTIONS}")
