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
    if lines.height <= FEW and _plain(lines, assets):
        return _judge_few(lines, assets)
    return _judge_many(lines, assets)


# A poll judges a few lines; a polars plan costs ~7 ms however few, the same rules in Python ~0.1 ms.
# Both give the same verdicts (tests/test_assets.py compares them on generated batches).
FEW = 64
_TO = {(a, f): (t, e) for a, f, t, e in TRANSITIONS.rows()}
_NEEDS = dict(NEEDS.rows())


def _plain(lines: pl.DataFrame, assets: pl.DataFrame) -> bool:
    """Whether the batch is one the Python rules take: line numbers of digits and dots, no missing
    keys, one row per asset (anything else goes to the polars plan, which handles or refuses it)."""
    keys = ["order_id", "line_no", "action"] + (["seq"] if "seq" in lines.columns else [])
    return (not any(lines[c].null_count() for c in keys)
            and all(all(p.isdigit() for p in n.split(".")) for n in lines["line_no"].to_list())
            and assets["asset_id"].null_count() == 0 and assets["state"].null_count() == 0
            and assets["asset_id"].n_unique() == assets.height)


def _judge_few(lines: pl.DataFrame, assets: pl.DataFrame) -> pl.DataFrame:
    """`judge_lines` in plain Python, for a few lines: the same rules, row by row."""
    orders, numbers, actions, named, places = (lines[c].to_list() for c in
                                               ("order_id", "line_no", "action", "asset_id", "location"))
    seqs = lines["seq"].to_list() if "seq" in lines.columns else None
    found = {a: (state, place) for a, state, place in assets.select("asset_id", "state", "location").rows()}
    n = lines.height

    def sort_key(i: int) -> tuple:
        line = (tuple(int(p) for p in numbers[i].split(".")), numbers[i], i)
        return ((seqs[i],) if seqs is not None else ()) + (orders[i],) + line

    # Per asset, the first (seq, order, line) naming it, and whether that order moves it as a pair.
    by_order: dict[tuple, list[int]] = {}
    for i in sorted((i for i in range(n) if named[i] is not None), key=sort_key):
        by_order.setdefault((named[i], orders[i]), []).append(i)
    claims: dict[str, tuple] = {}
    for (asset, order), rows in by_order.items():
        if asset not in claims:
            acts = [actions[i] for i in rows]
            pair = len(rows) == 2 and acts.count("Move-Delete") == 1 and acts.count("Move-Add") == 1
            claims[asset] = (rows[0], order, numbers[rows[0]], pair)
    blocked: list[str | None] = [None] * n
    for i in range(n):
        claim = claims.get(named[i])
        if claim is not None and i != claim[0] and not (orders[i] == claim[1] and claim[3]):
            blocked[i] = f"asset {named[i]} is already being changed by order {claim[1]} line {claim[2]}"
    # What the order's own accepted Move-Delete leaves the asset in, for its Move-Add.
    moved = {(orders[i], named[i]): _TO[("Move-Delete", found[named[i]][0])][0] for i in range(n)
             if actions[i] == "Move-Delete" and blocked[i] is None and named[i] in found
             and ("Move-Delete", found[named[i]][0]) in _TO}
    columns: dict[str, list] = {"from_state": [], "verdict": [], "reason": [], "new_state": [], "new_location": []}
    for i in range(n):
        state, place = found.get(named[i], (None, None))
        from_state = moved.get((orders[i], named[i])) if actions[i] == "Move-Add" and blocked[i] is None else None
        from_state = from_state or state or NO_ASSET
        to_state, effect = _TO.get((actions[i], from_state), (None, None))
        accepted = to_state is not None and blocked[i] is None
        columns["from_state"].append(from_state)
        columns["verdict"].append("accepted" if accepted else "rejected")
        columns["reason"].append(None if accepted else blocked[i] or
                                 f"{actions[i]} needs {_NEEDS[actions[i]]}, found "
                                 f"{'no asset' if from_state == NO_ASSET else from_state}")
        columns["new_state"].append(to_state if accepted else state)
        columns["new_location"].append(place if not accepted or effect == "kept" else
                                       places[i] if effect == "line" else None)
    return lines.with_columns(pl.Series(name, values, dtype=pl.String) for name, values in columns.items())


def _judge_many(lines: pl.DataFrame, assets: pl.DataFrame) -> pl.DataFrame:
    """`judge_lines` as one polars plan, for batches of any size."""
    # One lazy plan, collected once: many rows per call, where each eager step would cost its own pass.
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
