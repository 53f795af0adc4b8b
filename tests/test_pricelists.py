"""Price lists on new, supplemental and modify orders: Tables 8-2, 8-3 and 8-4 of seed 004."""

from __future__ import annotations

import random
import re
from collections import Counter

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from cmpsim.fulfilment import pricelists
from cmpsim.fulfilment.pricelists import (
    FEW,
    ORDER_TYPES,
    RESOLVED,
    _plain,
    _price_list_or_none,
    _resolve_few,
    _resolve_many,
    asset_price_changes,
    resolve_modify,
    resolve_new,
    resolve_orders,
    resolve_revision,
)

CONSUMER = "Consumer Price List"  # the order header's price list (the seed leaves it unnamed)
PREMIUM = "Premium Consumer Price List"
BUSINESS = "Business Price List"
LINE_SCHEMA = {
    "line_no": pl.String, "product": pl.String, "action": pl.String,
    "parent_line_no": pl.String, "is_bundle": pl.Boolean, "price_list": pl.String,
}  # fmt: skip


def order(*rows: tuple) -> pl.DataFrame:
    """Order lines as the seed prints them: (line number, product, action, price list)."""
    return pl.DataFrame(
        [
            (no, product, action, no.rpartition(".")[0] or None, product.endswith("Bundle"), price_list)
            for no, product, action, price_list in rows
        ],
        schema=LINE_SCHEMA,
        orient="row",
    )


def price_lists(resolved: pl.DataFrame, key: str = "product", value: str = "resolved_price_list") -> dict:
    return dict(zip(resolved[key], resolved[value], strict=True))


TABLE_8_2 = order(
    ("1", "Internet Access", "Add", "-"),
    ("2", "VoIP Service Bundle", "Add", PREMIUM),
    ("2.1", "VoIP Access", "Add", "-"),
    ("2.2", "VoIP Voicemail", "Add", "-"),
)
TABLE_8_3 = order(
    ("1", "Internet Access", "Add", PREMIUM),
    ("2", "VoIP Service Bundle", "Add", "-"),
    ("2.1", "VoIP Access", "Add", "-"),
    ("2.2", "VoIP Voicemail", "Add", "-"),
)
TABLE_8_4 = order(
    ("1", "Internet Access", "Update", CONSUMER),
    ("2", "VoIP Service Bundle", "Update", PREMIUM),
    ("2.1", "VoIP Access", "Update", "-"),
    ("2.2", "VoIP Voicemail", "Update", "-"),
)


def installed(resolved: pl.DataFrame) -> pl.DataFrame:
    """The assets a completed order leaves: one per line, asset id "A" + line number."""
    return resolved.select(
        asset_id="A" + pl.col("line_no"), product="product",
        price_list="resolved_price_list", price_list_from_header="price_list_from_header",
    )  # fmt: skip


def with_assets(lines: pl.DataFrame) -> pl.DataFrame:
    """Modify-order lines: each line but an Add names the asset its line number installed."""
    return lines.with_columns(asset_id=pl.when(pl.col("action") != "Add").then("A" + pl.col("line_no")))


def test_table_8_2_new_order_components_take_the_bundle_and_empty_lines_the_header():
    resolved = resolve_new(TABLE_8_2, CONSUMER)
    assert price_lists(resolved) == {
        "Internet Access": CONSUMER,  # populated by OSM from the order header
        "VoIP Service Bundle": PREMIUM,
        "VoIP Access": PREMIUM,  # populated by Siebel CRM from the bundle
        "VoIP Voicemail": PREMIUM,
    }
    assert price_lists(resolved, value="price_list_source") == {
        "Internet Access": "header", "VoIP Service Bundle": "line", "VoIP Access": "bundle", "VoIP Voicemail": "bundle",
    }  # fmt: skip


def test_a_component_cannot_have_its_own_price_list_on_a_new_order():
    lines = TABLE_8_2.with_columns(
        price_list=pl.when(pl.col("line_no") == "2.1").then(pl.lit(BUSINESS)).otherwise("price_list")
    )
    assert price_lists(resolve_new(lines, CONSUMER))["VoIP Access"] == PREMIUM


def test_a_bundle_without_a_price_list_passes_the_headers_to_its_components():
    lines = TABLE_8_2.with_columns(price_list=pl.lit(None, pl.String))
    assert set(resolve_new(lines, CONSUMER)["resolved_price_list"]) == {CONSUMER}


def test_table_8_3_supplemental_order_changes_internet_access_and_the_whole_voip_bundle():
    revised = resolve_revision(resolve_new(TABLE_8_2, CONSUMER), TABLE_8_3, CONSUMER)
    assert price_lists(revised) == {
        "Internet Access": PREMIUM,  # line price list changed
        "VoIP Service Bundle": CONSUMER,  # line price list removed: the header's
        "VoIP Access": CONSUMER,
        "VoIP Voicemail": CONSUMER,
    }
    assert price_lists(revised, value="previous_price_list") == {
        "Internet Access": CONSUMER, "VoIP Service Bundle": PREMIUM, "VoIP Access": PREMIUM, "VoIP Voicemail": PREMIUM,
    }  # fmt: skip
    assert revised["price_list_changed"].all()


def test_a_changed_header_reaches_new_and_existing_lines_without_a_price_list():
    revision = pl.concat([TABLE_8_2, order(("3", "Static IP", "Add", "-"))])
    revised = resolve_revision(resolve_new(TABLE_8_2, CONSUMER), revision, BUSINESS)
    assert price_lists(revised) == {
        "Internet Access": BUSINESS,  # existing line, empty
        "VoIP Service Bundle": PREMIUM,  # its own price list stands
        "VoIP Access": PREMIUM,
        "VoIP Voicemail": PREMIUM,
        "Static IP": BUSINESS,  # new line, empty
    }
    assert price_lists(revised, value="price_list_changed") == {
        "Internet Access": True, "VoIP Service Bundle": False, "VoIP Access": False, "VoIP Voicemail": False,
        "Static IP": True,
    }  # fmt: skip


def test_table_8_4_modify_order_updates_the_installed_assets():
    assets = installed(resolve_revision(resolve_new(TABLE_8_2, CONSUMER), TABLE_8_3, CONSUMER))
    lines, after = resolve_modify(with_assets(TABLE_8_4), CONSUMER, assets)
    assert price_lists(after, value="price_list") == {
        "Internet Access": CONSUMER,
        "VoIP Service Bundle": PREMIUM,
        "VoIP Access": PREMIUM,  # populated by Siebel CRM from the bundle
        "VoIP Voicemail": PREMIUM,
    }
    assert price_lists(lines) == price_lists(after, value="price_list")
    assert not after["price_list_from_header"].any()


def test_a_header_change_on_a_modify_order_prices_added_lines_but_never_repopulates_assets():
    assets = installed(resolve_new(TABLE_8_2, CONSUMER))  # Internet Access from the header
    lines = with_assets(order(("1", "Internet Access", "Suspend", "-"), ("3", "Static IP", "Add", "-")))
    lines, after = resolve_modify(lines, BUSINESS, assets)
    assert price_lists(lines) == {"Internet Access": CONSUMER, "Static IP": BUSINESS}
    assert after.equals(assets)


def test_price_list_changes_on_lines_that_are_not_updates_are_ignored():
    assets = installed(resolve_new(TABLE_8_2, CONSUMER))
    lines = with_assets(order(("1", "Internet Access", "Suspend", BUSINESS)))
    resolved, after = resolve_modify(lines, CONSUMER, assets)
    assert price_lists(resolved) == {"Internet Access": CONSUMER}
    assert price_lists(resolved, value="price_list_source") == {"Internet Access": "asset"}
    assert after.equals(assets)


def test_an_update_line_left_empty_takes_the_headers_price_list():
    assets = installed(resolve_revision(resolve_new(TABLE_8_2, CONSUMER), TABLE_8_3, CONSUMER))
    _, after = resolve_modify(with_assets(order(("1", "Internet Access", "Update", "-"))), BUSINESS, assets)
    assert price_lists(after, value="price_list")["Internet Access"] == BUSINESS
    assert price_lists(after, value="price_list_from_header")["Internet Access"]


def test_a_bundle_component_not_set_to_update_keeps_its_price_list():
    assets = installed(resolve_new(TABLE_8_2, CONSUMER))
    lines = order(
        ("2", "VoIP Service Bundle", "Update", BUSINESS),
        ("2.1", "VoIP Access", "Update", "-"),
        ("2.2", "VoIP Voicemail", "Resume", "-"),  # step 1 of the seed skipped for this component
    )
    _, after = resolve_modify(with_assets(lines), CONSUMER, assets)
    assert price_lists(after, value="price_list") == {
        "Internet Access": CONSUMER,
        "VoIP Service Bundle": BUSINESS,
        "VoIP Access": BUSINESS,
        "VoIP Voicemail": PREMIUM,  # its line is no Update: the bundle's new price list never reaches it
    }


@pytest.mark.parametrize(
    "lines, header, message",
    [
        (TABLE_8_2, None, "header must have a price list"),
        (TABLE_8_2, "-", "header must have a price list"),
        (pl.concat([TABLE_8_2, TABLE_8_2.head(1)]), CONSUMER, "used more than once: ['1']"),
        (order(("1", "Internet Access", "Add", "-"), ("1.1", "Modem", "Add", "-")), CONSUMER, "not a top-level bundle"),
        (order(("3.1", "VoIP Access", "Add", "-")), CONSUMER, "not a top-level bundle line of the order: ['3.1']"),
    ],
)
def test_malformed_orders_are_refused(lines, header, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        resolve_new(lines, header)


def test_a_modify_line_must_name_an_installed_asset():
    assets = installed(resolve_new(TABLE_8_2, CONSUMER))
    with pytest.raises(ValueError, match="name no installed asset"):
        resolve_modify(with_assets(order(("7", "Internet Access", "Update", "-"))), CONSUMER, assets)


# --- many orders at once -------------------------------------------------------------------------------------------

NO_ASSETS = pl.DataFrame(
    schema={"asset_id": pl.String, "product": pl.String, "price_list": pl.String, "price_list_from_header": pl.Boolean}
)


def submitted(order_id: str, order_type: str, header: str | None, lines: pl.DataFrame, assets=NO_ASSETS):
    """The lines of one submitted order as `resolve_orders` takes them, installed assets joined in."""
    if "asset_id" not in lines.columns:
        lines = lines.with_columns(asset_id=pl.lit(None, pl.String))
    found = assets.select("asset_id", asset_price_list="price_list", asset_from_header="price_list_from_header")
    return lines.join(found, on="asset_id", how="left", maintain_order="left").select(
        pl.lit(order_id).alias("order_id"), pl.lit(order_type).alias("order_type"),
        pl.lit(header, pl.String).alias("header_price_list"),
        *LINE_SCHEMA, "asset_id", "asset_price_list", "asset_from_header",
    )  # fmt: skip


def interleaved(*orders: pl.DataFrame) -> pl.DataFrame:
    """One batch whose rows take turns between the orders, so that a join missing order_id would mix them."""
    numbered = [o.with_columns(turn=pl.int_range(pl.len())) for o in orders]
    return pl.concat(numbered).sort("turn", maintain_order=True).drop("turn")


def one_by_one(batch: pl.DataFrame) -> pl.DataFrame:
    """Each order of the batch resolved alone, back in the batch's row order."""
    numbered = batch.with_row_index("row")
    alone = [resolve_orders(numbered.filter(pl.col("order_id") == o)) for o in numbered["order_id"].unique()]
    return pl.concat(alone).sort("row").drop("row")


def lines_of(resolved: pl.DataFrame, order_id: str) -> pl.DataFrame:
    return resolved.filter(pl.col("order_id") == order_id)


def test_tables_8_2_8_3_and_8_4_resolved_in_one_batch_as_each_alone():
    base_assets = installed(resolve_revision(resolve_new(TABLE_8_2, CONSUMER), TABLE_8_3, CONSUMER))
    batch = interleaved(
        submitted("SO-1", "new", CONSUMER, TABLE_8_2),
        submitted("SO-2", "supplemental", CONSUMER, TABLE_8_3),
        submitted("SO-3", "modify", CONSUMER, with_assets(TABLE_8_4), base_assets),
        submitted("SO-4", "follow-on", BUSINESS, TABLE_8_2),
    )
    resolved = resolve_orders(batch)
    assert_frame_equal(resolved, one_by_one(batch))
    assert resolved["problem"].is_null().all()
    assert price_lists(lines_of(resolved, "SO-1")) == price_lists(resolve_new(TABLE_8_2, CONSUMER))
    assert price_lists(lines_of(resolved, "SO-2")) == price_lists(resolve_new(TABLE_8_3, CONSUMER))
    assert price_lists(lines_of(resolved, "SO-4")) == {
        "Internet Access": BUSINESS, "VoIP Service Bundle": PREMIUM, "VoIP Access": PREMIUM, "VoIP Voicemail": PREMIUM,
    }  # fmt: skip
    modified, after = resolve_modify(with_assets(TABLE_8_4), CONSUMER, base_assets)
    for column in RESOLVED:
        assert lines_of(resolved, "SO-3")[column].to_list() == modified[column].to_list()
    assert (
        asset_price_changes(resolved).rows() == after.select("asset_id", "price_list", "price_list_from_header").rows()
    )


def test_a_malformed_order_gets_its_reason_and_leaves_the_rest_of_the_batch_alone():
    assets = installed(resolve_new(TABLE_8_2, CONSUMER))
    orphan = order(("1", "Internet Access", "Add", "-"), ("3.1", "VoIP Access", "Add", "-"))
    batch = interleaved(
        submitted("SO-1", "new", CONSUMER, TABLE_8_2),
        submitted("SO-2", "new", "-", TABLE_8_2),
        submitted("SO-3", "new", CONSUMER, pl.concat([TABLE_8_3, TABLE_8_3.tail(1)])),
        submitted("SO-4", "supplemental", CONSUMER, orphan),
        submitted("SO-5", "modify", CONSUMER, with_assets(order(("7", "Internet Access", "Update", "-"))), assets),
        submitted("SO-6", "modify", CONSUMER, with_assets(TABLE_8_4).with_columns(asset_id=pl.lit("A1")), assets),
        submitted("SO-7", "modify", BUSINESS, with_assets(order(("1", "Internet Access", "Update", "-"))), assets),
        submitted("SO-8", "change", CONSUMER, TABLE_8_2),
    )
    resolved = resolve_orders(batch)
    assert_frame_equal(resolved, one_by_one(batch))
    problems = resolved.group_by("order_id").agg(pl.col("problem").unique())
    assert dict(zip(problems["order_id"], problems["problem"].list.first(), strict=True)) == {
        "SO-1": None,
        "SO-2": "order header must have a price list",
        "SO-3": "line numbers used more than once: ['2.2']",
        "SO-4": "lines whose parent is not a top-level bundle line of the order: ['3.1']",
        "SO-5": "lines that name no installed asset: ['7']",
        "SO-6": "assets updated by more than one line: ['A1']",
        "SO-7": None,
        "SO-8": "unknown order type change",
    }
    assert problems["problem"].list.len().max() == 1  # the reason is on every line of its order
    assert price_lists(lines_of(resolved, "SO-1")) == price_lists(resolve_new(TABLE_8_2, CONSUMER))
    rejected = resolved.filter(pl.col("problem").is_not_null())
    assert rejected.height == 20 and rejected.select(RESOLVED).null_count().row(0) == (20, 20, 20)
    assert asset_price_changes(resolved).rows() == [("A1", BUSINESS, True)]  # SO-6 is rejected, SO-7 is not


PRICE_LISTS = [None, "", "-", CONSUMER, PREMIUM, BUSINESS]


def random_order(rng: random.Random, order_id: str, assets: pl.DataFrame) -> pl.DataFrame:
    """An order of random shape, line numbers shared with every other order, sometimes malformed."""
    order_type = rng.choice(["new", "supplemental", "follow-on", "modify", "modify"])
    actions = ["Add", "Update", "Suspend", "Resume", "Delete", "Move-Add"] if order_type == "modify" else ["Add"]
    rows = []
    for top in range(1, rng.randint(1, 4) + 1):
        product = rng.choice(["Internet Access", "VoIP Service Bundle", "IPTV Bundle", "Static IP"])
        rows.append((str(top), product, rng.choice(actions), rng.choice(PRICE_LISTS)))
        for component in range(1, (rng.randint(0, 3) if product.endswith("Bundle") else 0) + 1):
            rows.append((f"{top}.{component}", "Component", rng.choice(actions), rng.choice(PRICE_LISTS)))
    if rng.random() < 0.1:
        rows.append(rng.choice(rows))  # a line number used twice
    if rng.random() < 0.1:
        rows.append(("9.1", "Component", "Add", None))  # an orphan
    lines = order(*rows).with_columns(asset_id=pl.when(pl.col("action") != "Add").then("A" + pl.col("line_no")))
    if rng.random() < 0.1:
        lines = lines.with_columns(asset_id=pl.lit("A9"))  # names no installed asset
    header = rng.choice([CONSUMER, PREMIUM, BUSINESS, CONSUMER, BUSINESS, "-"])
    return submitted(order_id, order_type, header, lines, assets)


def test_a_few_hundred_random_orders_resolve_in_one_batch_as_each_alone():
    rng = random.Random(4)
    assets = installed(resolve_new(TABLE_8_2, CONSUMER).vstack(resolve_new(order(
        ("3", "IPTV Bundle", "Add", BUSINESS), ("3.1", "Component", "Add", "-"), ("3.2", "Component", "Add", "-"),
        ("4", "Static IP", "Add", "-"),
    ), PREMIUM)))  # fmt: skip
    batch = pl.concat([random_order(rng, f"SO-{n}", assets) for n in range(300)]).sample(fraction=1.0, seed=4)
    resolved = resolve_orders(batch)
    assert_frame_equal(resolved, one_by_one(batch))
    assert 0 < resolved["problem"].null_count() < resolved.height  # both kinds of order were drawn
    accepted = resolved.filter(pl.col("problem").is_null())
    assert accepted.select(RESOLVED).null_count().row(0) == (0, 0, 0)
    for order_id in [f"SO-{n}" for n in range(60)]:  # and through the one-order functions
        alone = lines_of(batch, order_id)
        header, order_type = alone["header_price_list"][0], alone["order_type"][0]
        single = alone.select(*LINE_SCHEMA, "asset_id")
        expected = lines_of(resolved, order_id)
        if expected["problem"][0] is not None:
            call = resolve_modify if order_type == "modify" else resolve_new
            with pytest.raises(ValueError, match=re.escape(expected["problem"][0])):
                call(single, header, assets) if order_type == "modify" else call(single, header)
            continue
        if order_type == "modify":
            got, _ = resolve_modify(single, header, assets)
        else:
            got = resolve_new(single.drop("asset_id"), header)
        assert got.select(RESOLVED).rows() == expected.select(RESOLVED).rows()


# --- a few lines in plain Python, as polars resolves many ----------------------------------------------------------

BATCH_SCHEMA = {
    "order_id": pl.String, "order_type": pl.String, "header_price_list": pl.String, **LINE_SCHEMA,
    "asset_id": pl.String, "asset_price_list": pl.String, "asset_from_header": pl.Boolean,
}  # fmt: skip
MESSY_PRICE_LISTS = [None, "", "-", " - ", " x ", "\u3000x\t", "\x1cx", CONSUMER, PREMIUM, BUSINESS]
MESSY_HEADERS = [CONSUMER, CONSUMER, " Consumer Price List\n", PREMIUM, BUSINESS, BUSINESS, "-", "", None]
# Installed assets by id: (price list, from header); A0 is installed without a price list, A9 is not installed.
INSTALLED = {
    f"A{n}": (price_list, from_header)
    for n, price_list, from_header in [
        ("1", CONSUMER, True), ("2", PREMIUM, False), ("3", BUSINESS, None), ("1.1", CONSUMER, False),
        ("1.2", PREMIUM, True), ("2.1", PREMIUM, False), ("2.2", CONSUMER, None), ("3.1", BUSINESS, True),
        ("3.2", PREMIUM, False), ("0", None, None),
    ]
}  # fmt: skip
MODIFY_ACTIONS = ["Add", "Update", "Update", "Suspend", "Resume", "Delete", "Move-Add"]


def messy_order(rng: random.Random, order_id: str) -> list[tuple]:
    """The rows of one order as `resolve_orders` takes them (`BATCH_SCHEMA`), every rule's corner drawn now and then."""
    order_type = rng.choice([*ORDER_TYPES, "modify"]) if rng.random() > 0.1 else rng.choice(["change", None])
    header = rng.choice(MESSY_HEADERS) if rng.random() < 0.3 else CONSUMER
    shape = []  # (line number, parent, is a bundle, action and asset, or None to draw them)
    for top in range(1, rng.randint(1, 3) + 1):
        is_bundle = rng.choice([True, True, True, False, None])
        shape.append((str(top), None, is_bundle, None))
        for component in range(1, (rng.randint(0, 2) if is_bundle or rng.random() < 0.1 else 0) + 1):
            shape.append((f"{top}.{component}", str(top), rng.choice([False, False, None, True]), None))
    if rng.random() < 0.1:
        shape.append(("9.1", rng.choice(["9", "1", "1.1", ""]), False, None))  # an orphan, or a component of line 1
    if rng.random() < 0.08:
        shape.append(rng.choice(shape))  # a line number used twice
    if order_type == "modify" and rng.random() < 0.15:
        shape += [("7", None, False, ("Update", "A1")), ("8", None, None, ("Update", "A1"))]  # an asset updated twice
    rows = []
    for line_no, parent, is_bundle, given in shape:
        action = rng.choice(MODIFY_ACTIONS if order_type == "modify" else ["Add", "Add", "Add", "Update"])
        asset_id = f"A{line_no}" if action != "Add" else None
        if rng.random() < 0.08:
            asset_id = rng.choice([None, "A0", "A9", "A2.1"])  # none, installed without a price list, unknown, other
        action, asset_id = given or (action, asset_id)
        asset_price_list, asset_from_header = INSTALLED.get(asset_id, (None, None))
        row_type = order_type if rng.random() > 0.03 else rng.choice(["new", "modify", None])
        row_header = header if rng.random() > 0.05 else rng.choice(MESSY_HEADERS)
        rows.append((order_id, row_type, row_header, line_no, "Product", action, parent, is_bundle,
                     rng.choice(MESSY_PRICE_LISTS), asset_id, asset_price_list, asset_from_header))  # fmt: skip
    return rows


def messy_batch(rng: random.Random, prefix: str = "SO") -> pl.DataFrame:
    """A few orders whose lines arrive in random order, as a wake-up of CRM Order Capture may resolve them."""
    rows = [row for n in range(rng.randint(1, 4)) for row in messy_order(rng, f"{prefix}-{n}")]
    rng.shuffle(rows)
    return pl.DataFrame(rows, schema=BATCH_SCHEMA, orient="row")


def test_a_few_lines_resolve_in_python_exactly_as_polars_resolves_them():
    rng = random.Random(20)
    problems, sources = Counter(), Counter()
    for _ in range(500):
        batch = messy_batch(rng)
        assert batch.height <= FEW and _plain(batch)
        resolved = _resolve_few(batch)
        assert_frame_equal(resolved, _resolve_many(batch))
        per_order = resolved.unique("order_id")["problem"]
        problems.update(re.sub(r": \[.*|(?<=order type) .*", "", p) for p in per_order.drop_nulls())
        problems["accepted"] += per_order.null_count()
        sources.update(resolved["price_list_source"].drop_nulls())
    # Every problem and every source was drawn often enough for the comparison to mean something.
    assert min(problems.values()) >= 20 and len(problems) == 9, problems
    assert min(sources.values()) >= 100 and set(sources) == {"line", "bundle", "header", "asset"}, sources


def test_price_lists_are_stripped_of_what_polars_strips():
    padded = [chr(c) + "x" + chr(c) for c in range(0x3001)]
    stripped = pl.Series(padded).str.strip_chars().to_list()
    assert [_price_list_or_none(p) for p in padded] == stripped
    assert [_price_list_or_none(p) for p in ["", " ", " - ", "-\t", None]] == [None] * 5


def test_resolve_orders_resolves_a_few_plain_lines_in_python_and_more_in_polars(monkeypatch):
    calls = []  # only the calls from resolve_orders: this module holds the two paths as they were imported
    for name in ("_resolve_few", "_resolve_many"):
        path = getattr(pricelists, name)
        monkeypatch.setattr(pricelists, name, lambda lines, name=name, path=path: calls.append(name) or path(lines))
    rng = random.Random(5)
    few = messy_batch(rng)
    many = pl.concat([few, *(messy_batch(rng, f"B{n}") for n in range(12))]).head(FEW + 1)
    assert many.height == FEW + 1
    no_action = few.with_columns(action=pl.when(pl.int_range(pl.len()) > 0).then("action"))
    assert_frame_equal(resolve_orders(few), _resolve_many(few))
    assert_frame_equal(resolve_orders(many).head(few.height), _resolve_few(few))
    assert_frame_equal(resolve_orders(few.clear()), _resolve_many(few.clear()))
    assert resolve_orders(no_action).height == few.height
    assert calls == ["_resolve_few", "_resolve_many", "_resolve_few", "_resolve_many"]


@pytest.mark.parametrize(
    "change",
    [
        pl.when(pl.col("line_no") == "2.2").then(None).otherwise("action").alias("action"),
        pl.lit(None, pl.String).alias("order_id"),
        pl.lit(None, pl.String).alias("line_no"),
        pl.col("order_type").cast(pl.Categorical),
        pl.col("parent_line_no").cast(pl.Categorical),
        pl.lit(None).alias("asset_price_list"),
        pl.lit(1).alias("_own"),
        pl.lit(None, pl.String).alias("problem"),
    ],
)
def test_a_batch_the_python_rules_might_read_differently_goes_to_polars(change):
    batch = submitted("SO-1", "modify", CONSUMER, TABLE_8_4.with_columns(asset_id=pl.lit(None, pl.String)))
    assert _plain(batch)
    assert not _plain(batch.with_columns(change))
