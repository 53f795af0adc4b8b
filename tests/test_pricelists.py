"""Price lists on new, supplemental and modify orders: Tables 8-2, 8-3 and 8-4 of seed 004."""

from __future__ import annotations

import re

import polars as pl
import pytest

from cmpsim.fulfilment.pricelists import resolve_modify, resolve_new, resolve_revision

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
