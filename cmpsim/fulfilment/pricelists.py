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

Order lines are a frame with columns `line_no` ("1", "2", "2.1"), `product`, `action`,
`parent_line_no` (null on top-level lines), `is_bundle` and `price_list` (null, "" or "-" for
empty). Modify orders add `asset_id` (null on Add lines). Resolved lines gain
`resolved_price_list`, `price_list_source` ("line", "bundle", "header" or "asset") and
`price_list_from_header` (the price list came from the order header, possibly via the bundle).
"""

from __future__ import annotations

import polars as pl

PRICED_ON_MODIFY = ("Add", "Update")  # the actions whose price list OSM takes from a modify order


def resolve_new(lines: pl.DataFrame, header_price_list: str) -> pl.DataFrame:
    """Price lists of a new order (Table 8-2).

    An empty top-level line takes the header's price list; a component takes its bundle's.
    """
    lines = _normalised(lines, header_price_list)
    return _resolve(
        lines.with_columns(
            price_list_ignored=pl.lit(False),
            asset_price_list=pl.lit(None, pl.String),
            asset_from_header=pl.lit(None, pl.Boolean),
        ),
        header_price_list,
    )


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
    lines = _normalised(lines, header_price_list)
    _check_assets_referenced(lines, assets)
    installed = assets.select("asset_id", asset_price_list="price_list", asset_from_header="price_list_from_header")
    resolved = _resolve(
        lines.join(installed, on="asset_id", how="left", validate="m:1", maintain_order="left").with_columns(
            price_list_ignored=~pl.col("action").is_in(PRICED_ON_MODIFY)
        ),
        header_price_list,
    )
    updates = resolved.filter(pl.col("action") == "Update").select(
        "asset_id", new_price_list="resolved_price_list", new_from_header="price_list_from_header"
    )
    assets_after = (
        assets.join(updates, on="asset_id", how="left", validate="1:1", maintain_order="left")
        .with_columns(
            price_list=pl.coalesce("new_price_list", "price_list"),
            price_list_from_header=pl.coalesce("new_from_header", "price_list_from_header"),
        )
        .drop("new_price_list", "new_from_header")
    )
    return resolved, assets_after


def _resolve(lines: pl.DataFrame, header_price_list: str) -> pl.DataFrame:
    """Resolve top-level lines first, then hand each bundle's price list to its components."""
    ignored, own = pl.col("price_list_ignored"), pl.col("price_list")
    top = lines.with_columns(
        top_price_list=pl.when(ignored).then("asset_price_list").otherwise(pl.coalesce(own, pl.lit(header_price_list))),
        top_source=pl.when(ignored)
        .then(pl.lit("asset"))
        .when(own.is_not_null())
        .then(pl.lit("line"))
        .otherwise(pl.lit("header")),
        top_from_header=pl.when(ignored).then("asset_from_header").otherwise(own.is_null()),
    )
    bundles = top.filter("is_bundle").select(
        parent_line_no="line_no", bundle_price_list="top_price_list", bundle_from_header="top_from_header"
    )
    takes_bundle = pl.col("parent_line_no").is_not_null() & ~ignored
    return (
        top.join(bundles, on="parent_line_no", how="left", validate="m:1", maintain_order="left")
        .with_columns(
            resolved_price_list=pl.when(takes_bundle).then("bundle_price_list").otherwise("top_price_list"),
            price_list_source=pl.when(takes_bundle).then(pl.lit("bundle")).otherwise("top_source"),
            price_list_from_header=pl.when(takes_bundle).then("bundle_from_header").otherwise("top_from_header"),
        )
        .drop("price_list_ignored", "asset_price_list", "asset_from_header", "top_price_list", "top_source")
        .drop("top_from_header", "bundle_price_list", "bundle_from_header")
    )


def _normalised(lines: pl.DataFrame, header_price_list: str | None) -> pl.DataFrame:
    """Lines with "" and "-" read as an empty price list, after checking the order's structure."""
    if not header_price_list or header_price_list.strip() in ("", "-"):
        raise ValueError("an order header must have a price list")
    lines = lines.with_columns(
        pl.col("line_no", "parent_line_no").cast(pl.String),
        price_list=pl.col("price_list").cast(pl.String).str.strip_chars().replace(["", "-"], None),
    )
    _check_structure(lines)
    return lines


def _check_structure(lines: pl.DataFrame) -> None:
    """Line numbers are unique and every component hangs directly under a top-level bundle line."""
    duplicated = lines.filter(pl.col("line_no").is_duplicated())["line_no"].unique().to_list()
    if duplicated:
        raise ValueError(f"line numbers used more than once: {sorted(duplicated)}")
    bundles = lines.filter(pl.col("is_bundle") & pl.col("parent_line_no").is_null()).select(parent_line_no="line_no")
    orphans = lines.filter(pl.col("parent_line_no").is_not_null()).join(bundles, on="parent_line_no", how="anti")
    if orphans.height:
        raise ValueError(
            f"lines whose parent is not a top-level bundle line of the order: {orphans['line_no'].to_list()}"
        )


def _check_assets_referenced(lines: pl.DataFrame, assets: pl.DataFrame) -> None:
    """Every line but an Add names an installed asset, and no asset is updated twice."""
    on_assets = lines.filter(pl.col("action") != "Add")
    unknown = on_assets.join(assets, on="asset_id", how="anti")
    if unknown.height:
        raise ValueError(f"lines that name no installed asset: {unknown['line_no'].to_list()}")
    twice = on_assets.filter(pl.col("action") == "Update").filter(pl.col("asset_id").is_duplicated())
    if twice.height:
        raise ValueError(f"assets updated by more than one line: {twice['asset_id'].unique().to_list()}")
