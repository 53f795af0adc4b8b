"""The items of one TMF622 ProductOrder as cmpsim order lines: actions, bundles, prices.

`read_items` checks what the schema cannot (a bundle naming an item that is not there, a modify
without the product it modifies, an amount with three decimals, a price in another currency) and
numbers the lines: item ids that are whole numbers are kept (a component 110 of bundle 100 becomes
line `100.110`), other ids are numbered in document order (`1`, `1.1`, `1.2`, `2`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

AMOUNT_DIGITS_MAX = 16  # DECIMAL(18,2): 16 digits before the point
ONE_OFF_TYPES = ("nonRecurring", "oneTime")
LINE_TYPES = {"recurring": "recurring", "nonRecurring": "one_off", "oneTime": "one_off"}
NUMERIC_ID = re.compile(r"[1-9][0-9]{0,8}")
PRODUCT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class Alteration:
    """A percentage price alteration: a discount on one line type of the product."""

    percent: Decimal
    line_type: str
    description: str | None
    months: int | None


@dataclass
class Item:
    tmf_id: str
    parts: list[Any]  # field path of the item in its document
    raw: dict[str, Any]
    action: str | None  # cmpsim's action; None: noChange, not fulfilled
    product: str
    product_name: str
    is_bundle: bool
    quantity: int
    asset: str | None
    location: str | None
    parent: str | None = None  # the bundle item it is a component of
    recurring: Decimal | None = None
    one_off: Decimal | None = None
    tax_rate: Decimal | None = None
    tax_path: list[Any] = field(default_factory=list)
    alterations: list[Alteration] = field(default_factory=list)
    line_ref: str = ""

    def explicit_line(self) -> dict[str, Any]:
        line: dict[str, Any] = {"line": self.line_ref, "product": self.product, "action": self.action}
        if self.asset is not None and self.action != "Add":
            line["asset"] = self.asset
        if self.location is not None:
            line["location"] = self.location
        if self.quantity != 1:
            line["quantity"] = self.quantity
        return line


@dataclass
class OrderItems:
    items: list[Item]
    notes: list[str]

    @property
    def lines(self) -> list[Item]:
        """The items that become order lines, in line order."""
        return sorted((i for i in self.items if i.action), key=lambda i: _ref_key(i.line_ref))

    @property
    def priced(self) -> bool:
        return any(i.recurring is not None or i.one_off is not None for i in self.lines)

    @property
    def modifies_only(self) -> bool:
        return all(i.action != "Add" for i in self.lines)

    def component_products(self, bundle: Item) -> list[str]:
        return [i.product for i in self.lines if i.parent == bundle.tmf_id]


def read_items(src, currency: str) -> OrderItems:
    """The order's items, checked and numbered; `src` is the order's Source (for error paths)."""
    raw = _flatten(src.doc["productOrderItem"], ["productOrderItem"])
    notes: list[str] = []
    items = [_item(src, parts, doc, currency, notes) for parts, doc, _ in raw]
    by_id: dict[str, Item] = {}
    for item in items:
        if item.tmf_id in by_id:
            raise src.error(item.parts + ["id"], "item ids unique within the order", f"{item.tmf_id!r} twice")
        by_id[item.tmf_id] = item
    _bundles(src, items, by_id, {i.tmf_id: p for (_, _, p), i in zip(raw, items, strict=True) if p}, notes)
    if not any(i.action for i in items):
        raise src.error(["productOrderItem"], "at least one item to add, modify or delete", "only noChange items")
    _number(items)
    return OrderItems(items, notes)


def _flatten(docs: list[dict], parts: list[Any], parent: str | None = None) -> list[tuple[list, dict, str | None]]:
    """Items in document order; items nested in an item's `productOrderItem` are its components."""
    out = []
    for i, doc in enumerate(docs):
        here = parts + [i]
        out.append((here, doc, parent))
        out += _flatten(doc.get("productOrderItem", []), here + ["productOrderItem"], doc["id"])
    return out


def _item(src, parts: list[Any], doc: dict[str, Any], currency: str, notes: list[str]) -> Item:
    product = doc.get("product", {})
    offering = doc.get("productOffering")
    if offering is None:
        raise src.error(parts + ["productOffering"], "the product offering ordered (productOffering.id: a product "
                        "of the scenario's service catalogue, or a new one)", "nothing")
    if not PRODUCT_ID.fullmatch(offering["id"]):
        raise src.error(parts + ["productOffering", "id"], "a product id of letters, digits, '-' and '_'",
                        repr(offering["id"]))
    action = _action(src, parts, doc)
    if action is None:
        notes.append(f"item {doc['id']} (noChange) is not fulfilled")
    places = product.get("place") or [{}]
    item = Item(tmf_id=doc["id"], parts=parts, raw=doc, action=action, product=offering["id"],
                product_name=offering.get("name") or offering["id"], is_bundle=bool(product.get("isBundle")),
                quantity=doc.get("quantity", 1), asset=product.get("id"),
                location=places[0].get("id") or places[0].get("name"))
    _prices(src, item, currency, notes)
    return item


def _action(src, parts: list[Any], doc: dict[str, Any]) -> str | None:
    """TMF add / modify / delete / noChange onto the seeds' actions (docs/exchange.md)."""
    tmf = doc["action"]
    if tmf == "noChange":
        return None
    if tmf == "add":
        return "Add"
    if not doc.get("product", {}).get("id"):
        raise src.error(parts + ["product", "id"], f"the id of the installed product (a cmpsim asset like "
                        f"AS-IB-0000027) that a {tmf} acts on", "nothing")
    if tmf == "delete":
        return "Delete"
    status = str(doc["product"].get("status", "")).lower()
    return {"suspended": "Suspend", "active": "Resume"}.get(status, "Update")


def _prices(src, item: Item, currency: str, notes: list[str]) -> None:
    """The item's net recurring (monthly) and one-off price, its tax rate and percentage alterations."""
    for j, price in enumerate(item.raw.get("itemPrice", [])):
        parts = item.parts + ["itemPrice", j]
        slot = "one_off" if price["priceType"] in ONE_OFF_TYPES else "recurring"
        if getattr(item, slot) is not None:
            raise src.error(parts + ["priceType"], f"one {price['priceType']} price per item (cmpsim has one "
                            f"{slot.replace('_', '-')} price per product and price list)", "a second one")
        amount = price["price"].get("dutyFreeAmount")
        if amount is None:
            raise src.error(parts + ["price", "dutyFreeAmount"], "the price net of tax (cmpsim adds tax when it "
                            "bills)", "nothing")
        setattr(item, slot, _amount(src, parts + ["price", "dutyFreeAmount"], amount, currency))
        if "taxRate" in price["price"]:
            item.tax_rate, item.tax_path = _rate(price["price"]["taxRate"]), parts + ["price", "taxRate"]
        for k, alteration in enumerate(price.get("priceAlteration", [])):
            _alteration(src, item, parts + ["priceAlteration", k], alteration, notes)


def _amount(src, parts: list[Any], money: dict[str, Any], currency: str) -> Decimal:
    value = money["value"]
    if money["unit"] != currency:
        raise src.error(parts + ["unit"], f"the scenario's currency {currency}", repr(money["unit"]))
    if not isinstance(value, Decimal):
        value = Decimal(value)
    digits = value.as_tuple()
    if digits.exponent < -2 and value != value.quantize(Decimal("0.01")):
        raise src.error(parts + ["value"], "an amount with at most two decimals", f"{value}")
    if value >= Decimal(10) ** AMOUNT_DIGITS_MAX:
        raise src.error(parts + ["value"], f"an amount below 10^{AMOUNT_DIGITS_MAX}", f"{value}")
    return value.quantize(Decimal("0.01"))


def _rate(value: Decimal | int) -> Decimal:
    """TMF samples write tax rates both ways (0.25 and 20): up to 1 it is a fraction, above a percentage."""
    rate = Decimal(value)
    return (rate / 100 if rate > 1 else rate).quantize(Decimal("0.0001")).normalize()


def _alteration(src, item: Item, parts: list[Any], alteration: dict[str, Any], notes: list[str]) -> None:
    percent = alteration["price"].get("percentage")
    if percent is None:
        raise src.error(parts + ["price", "percentage"], "a percentage (cmpsim applies price alterations as "
                        "percentage discounts)", "an alteration without one")
    percent = Decimal(percent)
    if percent != percent.quantize(Decimal("0.01")):
        raise src.error(parts + ["price", "percentage"], "a percentage with at most two decimals", f"{percent}")
    if percent == 0:
        return
    months = alteration.get("applicationDuration")
    if months:
        notes.append(f"item {item.tmf_id}: discount {alteration.get('name') or percent} applies for the whole run "
                     f"(applicationDuration {months} is not modelled)")
    item.alterations.append(Alteration(percent, LINE_TYPES[alteration["priceType"]],
                                       alteration.get("description") or alteration.get("name"), months))


def _bundles(src, items: list[Item], by_id: dict[str, Item], nested: dict[str, str], notes: list[str]) -> None:
    """`bundles` relationships (and nested items) make components; a bundle is one level deep."""
    parent_of = dict(nested)
    for item in items:
        for k, rel in enumerate(item.raw.get("productOrderItemRelationship", [])):
            parts = item.parts + ["productOrderItemRelationship", k]
            if rel["id"] not in by_id or rel["id"] == item.tmf_id:
                raise src.error(parts + ["id"], "the id of another item of this order", repr(rel["id"]))
            if rel["relationshipType"] != "bundles":
                notes.append(f"item {item.tmf_id} {rel['relationshipType']} {rel['id']}: not modelled, "
                             "the lines are fulfilled independently")
                continue
            if parent_of.get(rel["id"], item.tmf_id) != item.tmf_id:
                raise src.error(parts + ["id"], "a component of one bundle only",
                                f"{rel['id']!r}, already in bundle {parent_of[rel['id']]!r}")
            parent_of[rel["id"]] = item.tmf_id
    for child, parent in parent_of.items():
        if parent in parent_of:
            raise src.error(by_id[child].parts + ["id"], "components one level below their bundle (a cmpsim "
                            "bundle has no sub-bundles)", f"{child!r} in {parent!r}, itself in {parent_of[parent]!r}")
        by_id[child].parent = parent
        by_id[parent].is_bundle = True


def _number(items: list[Item]) -> None:
    """Line references: whole-number item ids are kept; otherwise lines are numbered in order."""
    acting = [i for i in items if i.action]
    by_id = {i.tmf_id: i for i in items}
    keep = all(NUMERIC_ID.fullmatch(i.tmf_id) for i in acting)
    top = [i for i in acting if not (i.parent and by_id[i.parent].action)]
    for n, item in enumerate(top, start=1):
        item.line_ref = item.tmf_id if keep else str(n)
    for bundle in top:
        parts = [i for i in acting if i.parent == bundle.tmf_id]
        for n, item in enumerate(parts, start=1):
            item.line_ref = f"{bundle.line_ref}.{item.tmf_id if keep else n}"
    for item in acting:
        if item.parent and not by_id[item.parent].action:
            item.parent = None  # its bundle is not changed: it stands as a line of its own


def _ref_key(ref: str) -> tuple[int, ...]:
    return tuple(int(p) for p in ref.split("."))
