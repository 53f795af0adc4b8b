"""Price lists on Siebel CRM orders, as OSM resolves them (seed 004, "Supporting Multiple Price Lists").

An order header always has a price list; each order line may have its own. OSM bills every line
with its *resolved* price list:

- a top-level line uses its own price list, or the header's when it has none;
- a component of a customizable product (service bundle, marketing bundle, non-service-bundle
  customizable product) uses its bundle's resolved price list. Siebel CRM assigns it and the
  component's own value cannot be changed, so it is ignored;
- on a modify order, only lines with action Add or Update are priced from the order. Siebel CRM
  does not send prior price lists, so a price-list change on any other line is ignored and the
  line keeps its installed asset's price list.

`resolve_orders` resolves every order of a batch in one pass (a few lines in plain Python, more as
polars steps: the same result); an order whose structure is broken comes back with a `problem`
(the reason to reject it) instead of stopping the batch.
`resolve_new`, `resolve_revision` and `resolve_modify` are its one-order forms, which raise
ValueError with that reason instead.

Order lines are a frame with columns `line_no` ("1", "2", "2.1"), `product`, `action`,
`parent_line_no` (null on top-level lines), `is_bundle` and `price_list` (null, "" or "-" for
empty). Modify orders add `asset_id` (null on Add lines). Resolved lines gain
`resolved_price_list`, `price_list_source` ("line", "bundle", "header" or "asset") and
`price_list_from_header` (the price list came from the order header, possibly via the bundle).
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

import polars as pl

PRICED_ON_MODIFY = ("Add", "Update")  # the actions whose price list OSM takes from a modify order
PRICED_AS_NEW = ("new", "supplemental", "follow-on")  # a supplemental order is the whole revised order
ORDER_TYPES = (*PRICED_AS_NEW, "modify")
RESOLVED = ("resolved_price_list", "price_list_source", "price_list_from_header")


def resolve_orders(lines: pl.DataFrame) -> pl.DataFrame:
    """Price lists of the lines of many orders at once; orders never mix (every join is per order).

    `lines` has `order_id`, `order_type` (one of `ORDER_TYPES`), `header_price_list`, the order-line
    columns above, `asset_id`, and the installed asset's `asset_price_list` and `asset_from_header`
    (null on lines naming no installed asset). 'new', 'follow-on' and 'supplemental' orders resolve
    as new orders (Tables 8-2, 8-3), 'modify' orders as Table 8-4; a revision of a modify order is
    'modify'. The result is `lines` in its row order plus the `RESOLVED` columns and `problem`: null,
    or why the whole order must be rejected, repeated on each of its lines, whose `RESOLVED` columns
    are then null.
    """
    if lines.height <= FEW and _plain(lines):
        return _resolve_few(lines)
    return _resolve_many(lines)


def asset_price_changes(resolved: pl.DataFrame) -> pl.DataFrame:
    """The price list each Update line of an accepted modify order gives its asset (Table 8-4).

    One row per such line: `asset_id`, `price_list`, `price_list_from_header`. Assets on no Update
    line keep their price list, even one populated from a header that has since changed. When
    several orders of a batch may update one asset, pass only the lines `assets.judge_lines` accepted.
    """
    return resolved.filter(
        pl.col("problem").is_null() & (pl.col("order_type") == "modify") & (pl.col("action") == "Update")
    ).select("asset_id", price_list="resolved_price_list", price_list_from_header="price_list_from_header")


def resolve_new(lines: pl.DataFrame, header_price_list: str) -> pl.DataFrame:
    """Price lists of a new order (Table 8-2).

    An empty top-level line takes the header's price list; a component takes its bundle's.
    """
    return _one_order(resolve_orders(_as_order(lines, "new", header_price_list)), lines.columns)


def resolve_revision(base: pl.DataFrame, revised_lines: pl.DataFrame, header_price_list: str) -> pl.DataFrame:
    """Price lists of a supplemental order that revises a new order (Table 8-3).

    `base` is the resolved base order (from `resolve_new`); `revised_lines` is the whole revised
    order, since each revision replaces the previous one. The revision resolves like a new order
    with the (possibly changed) header, so: a changed header reaches every new and existing line
    without a price list; a changed line price list replaces the old one; a removed line price list
    falls back to the header's. The result adds `previous_price_list` (null on lines new in the
    revision) and `price_list_changed`, the changes OSM computes for each order line.
    A supplemental order for a modify order follows the modify rules: use `resolve_modify`.
    """
    previous = base.select("line_no", previous_price_list="resolved_price_list")
    return (
        resolve_new(revised_lines, header_price_list)
        .join(previous, on="line_no", how="left", validate="m:1", maintain_order="left")
        .with_columns(price_list_changed=pl.col("resolved_price_list").ne_missing(pl.col("previous_price_list")))
    )


def resolve_modify(
    lines: pl.DataFrame, header_price_list: str, assets: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Price lists of a modify order on installed assets (Table 8-4): (resolved lines, assets after).

    `assets` has `asset_id`, `product`, `price_list` and `price_list_from_header`. An Update line
    sets its asset's price list: its own, its bundle's for a component, or the header's when left
    empty. An Add line is priced like a line of a new order. Every other line keeps its asset's
    price list, whatever the line says. Assets on no Update line keep their price list even when it
    came from a header that has since changed: OSM never repopulates them.
    """
    installed = assets.select("asset_id", asset_price_list="price_list", asset_from_header="price_list_from_header")
    on_assets = lines.join(installed, on="asset_id", how="left", validate="m:1", maintain_order="left")
    resolved = resolve_orders(_as_order(on_assets, "modify", header_price_list))
    changes = asset_price_changes(resolved).select(
        "asset_id", new_price_list="price_list", new_from_header="price_list_from_header"
    )
    assets_after = (
        assets.join(changes, on="asset_id", how="left", validate="1:1", maintain_order="left")
        .with_columns(
            price_list=pl.coalesce("new_price_list", "price_list"),
            price_list_from_header=pl.coalesce("new_from_header", "price_list_from_header"),
        )
        .drop("new_price_list", "new_from_header")
    )
    return _one_order(resolved, lines.columns), assets_after


# CRM Order Capture resolves a few lines per wake-up: each polars step costs 0.3-1 ms however few the rows (a 3-line
# batch ~5 ms), the same rules in Python ~0.15 ms. Both give the same frame (tests/test_pricelists.py compares them on
# generated batches).
FEW = 64
# The columns the Python rules read, in the order of `_Line`'s fields, with the types they take.
_READ = {
    "order_id": pl.String, "order_type": pl.String, "header_price_list": pl.String, "line_no": pl.String,
    "parent_line_no": pl.String, "action": pl.String, "is_bundle": pl.Boolean, "price_list": pl.String,
    "asset_id": pl.String, "asset_price_list": pl.String, "asset_from_header": pl.Boolean,
}  # fmt: skip
# The characters polars' str.strip_chars() strips (Rust's whitespace); Python's str.strip() would also strip \x1c-\x1f.
_BLANKS = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"


class _Line(NamedTuple):
    """One order line as the Python rules read it; `header` and `own` are emptied as `_price_list_or_null` does."""

    order_id: str
    order_type: str | None
    header: str | None
    line_no: str
    parent: str | None
    action: str
    is_bundle: bool | None
    own: str | None
    asset_id: str | None
    asset_price_list: str | None
    asset_from_header: bool | None


def _plain(lines: pl.DataFrame) -> bool:
    """Whether the batch is one the Python rules take: the columns they read have the types they expect, no order
    id, line number or action is missing (a missing action leaves a modify line neither ignored nor priced in
    polars), and no column is named like one the resolution adds. Anything else goes to the polars steps, which
    handle or refuse it."""
    schema = lines.schema
    return (
        all(schema.get(column) == dtype for column, dtype in _READ.items())
        and not any(lines[column].null_count() for column in ("order_id", "line_no", "action"))
        and not any(column.startswith("_") or column in (*RESOLVED, "problem") for column in lines.columns)
    )


def _resolve_few(lines: pl.DataFrame) -> pl.DataFrame:
    """`resolve_orders` in plain Python, for a few lines: the same rules, row by row, one frame built at the end."""
    rows = _read(lines)
    by_order: dict[str, list[_Line]] = {}
    for line in rows:
        by_order.setdefault(line.order_id, []).append(line)
    problems = {order_id: _order_problem(order) for order_id, order in by_order.items()}
    bundles = {
        (line.order_id, line.line_no): _top_price_list(line)
        for line in rows
        if line.is_bundle and problems[line.order_id] is None
    }
    resolved = [_price_list(line, bundles) if problems[line.order_id] is None else (None,) * 3 for line in rows]
    columns = list(zip(*resolved, strict=True)) or [()] * 3
    dtypes = (pl.String, pl.String, pl.Boolean)
    return lines.hstack(
        [
            *(pl.Series(name, values, dtype) for name, values, dtype in zip(RESOLVED, columns, dtypes, strict=True)),
            pl.Series("problem", [problems[line.order_id] for line in rows], pl.String),
        ]
    )


def _read(lines: pl.DataFrame) -> list[_Line]:
    """The lines as `_Line`s, read column by column (no polars step)."""
    read = map(_Line._make, zip(*(lines.get_column(column).to_list() for column in _READ), strict=True))
    return [line._replace(header=_price_list_or_none(line.header), own=_price_list_or_none(line.own)) for line in read]


def _price_list_or_none(value: str | None) -> str | None:
    """`_price_list_or_null` on one value."""
    value = None if value is None else value.strip(_BLANKS)
    return None if value in ("", "-") else value


def _order_problem(order: list[_Line]) -> str | None:
    """Why one order cannot be resolved, in `_order_problems`' words and order of checks, or None."""
    order_types = list(dict.fromkeys(line.order_type for line in order))
    headers = list(dict.fromkeys(line.header for line in order))
    if len(order_types) > 1:
        return "lines disagree on the order type"
    if order_types[0] not in ORDER_TYPES:
        return f"unknown order type {'(none)' if order_types[0] is None else order_types[0]}"
    if len(headers) > 1:
        return "lines disagree on the order header's price list"
    if headers[0] is None:
        return "order header must have a price list"
    numbered = Counter(line.line_no for line in order)
    top_bundles = {line.line_no for line in order if line.is_bundle and line.parent is None}
    updates = Counter(line.asset_id for line in order if _updates(line))
    listed = (
        ("line numbers used more than once", dict.fromkeys(n.line_no for n in order if numbered[n.line_no] > 1)),
        ("lines whose parent is not a top-level bundle line of the order",
         [n.line_no for n in order if n.parent is not None and n.parent not in top_bundles]),
        ("lines that name no installed asset",
         [n.line_no for n in order if n.order_type == "modify" and n.action != "Add" and n.asset_price_list is None]),
        ("assets updated by more than one line",
         dict.fromkeys(n.asset_id for n in order if _updates(n) and updates[n.asset_id] > 1)),
    )  # fmt: skip
    # The items as polars' "['" + list.join("', '") + "']" writes them (repr() would quote some differently).
    return next((f"{what}: ['" + "', '".join(items) + "']" for what, items in listed if items), None)


def _updates(line: _Line) -> bool:
    """Whether the line updates an installed asset (what no two lines of an order may do to one asset)."""
    return line.order_type == "modify" and line.action == "Update" and line.asset_id is not None


def _ignored(line: _Line) -> bool:
    """Whether the line keeps its asset's price list: a modify line that is neither Add nor Update."""
    return line.order_type == "modify" and line.action not in PRICED_ON_MODIFY


def _top_price_list(line: _Line) -> tuple[str | None, str, bool | None]:
    """A line's (price list, source, from header), as if it were top-level: the asset's, its own or the header's."""
    if _ignored(line):
        return line.asset_price_list, "asset", line.asset_from_header
    if line.own is not None:
        return line.own, "line", False
    return line.header, "header", True


def _price_list(line: _Line, bundles: dict[tuple[str, str], tuple]) -> tuple[str | None, str, bool | None]:
    """A line's resolved (price list, source, from header): a priced component takes its bundle's."""
    if line.parent is None or _ignored(line):
        return _top_price_list(line)
    price_list, _, from_header = bundles.get((line.order_id, line.parent), (None, None, None))
    return price_list, "bundle", from_header


def _resolve_many(lines: pl.DataFrame) -> pl.DataFrame:
    """`resolve_orders` as polars steps, for batches of any size."""
    own_or_header = lines.with_columns(
        _own=_price_list_or_null("price_list"),
        _header=_price_list_or_null("header_price_list"),
        _parent=pl.col("parent_line_no").cast(pl.String),
    )
    checked = own_or_header.join(_order_problems(own_or_header), on="order_id", how="left", maintain_order="left")
    return _resolve(checked).select(*lines.columns, *RESOLVED, "problem")


def _price_list_or_null(column: str) -> pl.Expr:
    """A price list with "" and "-" read as empty (null)."""
    return pl.col(column).cast(pl.String).str.strip_chars().replace(["", "-"], None)


def _order_problems(lines: pl.DataFrame) -> pl.DataFrame:
    """(order_id, problem) for each order that cannot be resolved; the first problem found wins.

    Line numbers are unique in an order, every component hangs directly under a top-level bundle
    line of its order, every modify line but an Add names an installed asset, and no asset is
    updated twice by one order.
    """
    top_bundles = (
        lines.filter(pl.col("is_bundle") & pl.col("_parent").is_null())
        .select("order_id", _parent="line_no", _parent_is_bundle=pl.lit(True))
        .unique()
    )
    on_modify = pl.col("order_type") == "modify"
    update = on_modify & (pl.col("action") == "Update") & pl.col("asset_id").is_not_null()
    flagged = lines.join(top_bundles, on=["order_id", "_parent"], how="left", maintain_order="left").with_columns(
        _duplicated=pl.len().over("order_id", "line_no") > 1,
        _orphan=pl.col("_parent").is_not_null() & pl.col("_parent_is_bundle").is_null(),
        _no_asset=on_modify & (pl.col("action") != "Add") & pl.col("asset_price_list").is_null(),
        _updated_twice=update & (update.sum().over("order_id", "asset_id") > 1),
    )
    per_order = flagged.group_by("order_id", maintain_order=True).agg(
        order_types=pl.col("order_type").unique(maintain_order=True),
        headers=pl.col("_header").unique(maintain_order=True),
        duplicated=pl.col("line_no").filter("_duplicated").unique(maintain_order=True),
        orphans=pl.col("line_no").filter("_orphan"),
        no_asset=pl.col("line_no").filter("_no_asset"),
        updated_twice=pl.col("asset_id").filter("_updated_twice").unique(maintain_order=True),
    )
    order_type = pl.col("order_types").list.first()
    return per_order.select(
        "order_id",
        problem=pl.coalesce(
            pl.when(pl.col("order_types").list.len() > 1).then(pl.lit("lines disagree on the order type")),
            pl.when(~order_type.is_in(ORDER_TYPES) | order_type.is_null()).then(
                pl.format("unknown order type {}", order_type.fill_null("(none)"))
            ),
            pl.when(pl.col("headers").list.len() > 1).then(pl.lit("lines disagree on the order header's price list")),
            pl.when(pl.col("headers").list.first().is_null()).then(pl.lit("order header must have a price list")),
            _listed("line numbers used more than once", "duplicated"),
            _listed("lines whose parent is not a top-level bundle line of the order", "orphans"),
            _listed("lines that name no installed asset", "no_asset"),
            _listed("assets updated by more than one line", "updated_twice"),
        ),
    ).filter(pl.col("problem").is_not_null())


def _listed(what: str, column: str) -> pl.Expr:
    """The text "<what>: ['a', 'b']" when the list column is not empty, else null."""
    items = pl.concat_str(pl.lit("['"), pl.col(column).list.join("', '"), pl.lit("']"))
    return pl.when(pl.col(column).list.len() > 0).then(pl.format(what + ": {}", items))


def _resolve(lines: pl.DataFrame) -> pl.DataFrame:
    """Resolve top-level lines first, then hand each bundle's price list to its components."""
    ignored = (pl.col("order_type") == "modify") & ~pl.col("action").is_in(PRICED_ON_MODIFY)
    own = pl.col("_own")
    top = lines.with_columns(
        _top_price_list=pl.when(ignored).then("asset_price_list").otherwise(pl.coalesce(own, "_header")),
        _top_source=pl.when(ignored)
        .then(pl.lit("asset"))
        .when(own.is_not_null())
        .then(pl.lit("line"))
        .otherwise(pl.lit("header")),
        _top_from_header=pl.when(ignored).then("asset_from_header").otherwise(own.is_null()),
    )
    bundles = top.filter(pl.col("is_bundle") & pl.col("problem").is_null()).select(
        "order_id", _parent="line_no", _bundle_price_list="_top_price_list", _bundle_from_header="_top_from_header"
    )
    takes_bundle = pl.col("_parent").is_not_null() & ~ignored
    accepted = pl.col("problem").is_null()
    return top.join(
        bundles, on=["order_id", "_parent"], how="left", validate="m:1", maintain_order="left"
    ).with_columns(
        resolved_price_list=pl.when(accepted).then(
            pl.when(takes_bundle).then("_bundle_price_list").otherwise("_top_price_list")
        ),
        price_list_source=pl.when(accepted).then(pl.when(takes_bundle).then(pl.lit("bundle")).otherwise("_top_source")),
        price_list_from_header=pl.when(accepted).then(
            pl.when(takes_bundle).then("_bundle_from_header").otherwise("_top_from_header")
        ),
    )


def _as_order(lines: pl.DataFrame, order_type: str, header_price_list: str | None) -> pl.DataFrame:
    """The lines of one order in the frame `resolve_orders` takes."""
    missing = {"asset_id": pl.String, "asset_price_list": pl.String, "asset_from_header": pl.Boolean}
    return lines.with_columns(
        order_id=pl.lit("", pl.String),
        order_type=pl.lit(order_type, pl.String),
        header_price_list=pl.lit(header_price_list, pl.String),
        **{name: pl.lit(None, dtype) for name, dtype in missing.items() if name not in lines.columns},
    )


def _one_order(resolved: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """The resolved lines of a one-order call, or ValueError with the order's problem."""
    problems = resolved["problem"].drop_nulls()
    if problems.len():
        raise ValueError(problems[0])
    return resolved.select(*columns, *RESOLVED)
