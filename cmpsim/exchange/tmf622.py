"""TMF622 product orders in: TM Forum ProductOrder documents become service orders of a scenario.

`import_product_orders(source, base, out)` reads one JSON file (an order, or a list of orders) or a
folder of them, checks every order against what cmpsim can fulfil, and writes a scenario file that
extends `base` with the orders as explicit service orders (plus the products, price lists, discounts
and accounts they need). `cmpsim run OUT` then replays them. Nothing is written unless every order
fits; an order that does not fit is named with its file, field path, what was expected and found.

The mapping, with the reasons for each choice, is in docs/exchange.md; in short:
- items → lines; `add` → Add, `delete` → Delete, `modify` → Update, or Suspend / Resume when the
  product's status is `suspended` / `active`; `noChange` items are not fulfilled;
- `productOrderItemRelationship` of type `bundles` → a bundle line with its components under it;
- `priority` "0" (highest) … "4" → 9, 7, 5, 3, 1 on the seeds' scale (Urgent, High, Medium, Low); a
  CRM that sends Siebel's names instead ("Low", "Medium", "High", "Urgent", Table 8-5) → 3, 5, 7, 9;
- `requestedStartDate` after `orderDate` → a future-dated order due then;
- item prices → the order's own price list `TMF622 <order id>`; percentage price alterations →
  discounts of the billing account on that product.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from cmpsim.errors import InputError, describe
from cmpsim.exchange import DATE_MODES
from cmpsim.exchange.tmf622_items import Item, OrderItems, read_items
from cmpsim.priorities import from_tmf622
from cmpsim.scenario import Scenario, load
from cmpsim.validation import first_problem, format_path

SCHEMA = "tmf622-product-order.schema.json"

PRICE_LIST_PREFIX = "TMF622 "
DISCOUNT_DESCRIPTION_CHARS_MAX = 120


@dataclass(frozen=True)
class Source:
    """One ProductOrder document: the file it came from and where in it (`[3]` in a list)."""

    file: str
    prefix: str
    doc: dict[str, Any]

    def path(self, *parts: Any) -> str:
        inner = format_path(list(parts))
        if not self.prefix:
            return inner
        return f"{self.prefix}.{inner}" if inner and not inner.startswith("[") else self.prefix + inner

    def error(self, parts: tuple | list, expected: str, found: str) -> InputError:
        return InputError(self.file, self.path(*parts), expected, found)


@dataclass
class Order:
    """A checked ProductOrder, in cmpsim's terms."""

    source: Source
    order_id: str
    at: dt.datetime
    due: dt.datetime | None
    priority: int | None
    account: str
    account_name: str | None
    items: OrderItems

    @property
    def price_list(self) -> str | None:
        return PRICE_LIST_PREFIX + self.order_id if self.items.priced else None


@dataclass
class Imported:
    """What an import wrote, for the user to read."""

    path: Path
    orders: int
    lines: int
    new_products: list[str] = field(default_factory=list)
    new_accounts: list[str] = field(default_factory=list)
    discounts: int = 0
    shift_days: int = 0
    notes: list[str] = field(default_factory=list)


def import_product_orders(source: str | Path, base: str | Path, out: str | Path, dates: str = "auto") -> Imported:
    """Check every ProductOrder in `source` and write scenario `out` extending `base` with them."""
    if dates not in DATE_MODES:
        raise InputError("argument --dates", "", "auto, keep or shift", repr(dates))
    source, base_path, out = Path(source), Path(base), Path(out)
    if out.resolve() == base_path.resolve() or out.is_dir():
        raise InputError("argument --out", "", "the path of a new scenario file (not the base, not a folder)",
                         str(out))
    scenario = load(base_path)
    if "service" not in scenario.data:
        raise InputError(str(base_path), "service", "a base scenario with service fulfilment (products, price "
                         "lists, workers)", "no service section")
    orders = [_read_order(s, scenario) for s in read_sources(source)]
    _check_ids(orders, scenario)
    shift = _shift(orders, scenario, dates)
    doc, imported = _scenario_document(orders, scenario, base_path, out, shift)
    _write_checked(doc, imported.notes, out)
    imported.path = out
    return imported


# --- reading --------------------------------------------------------------------------------------

def read_sources(source: Path) -> list[Source]:
    """The ProductOrders of a file (one order or a list) or of every `*.json` file of a folder."""
    if source.is_dir():
        files = sorted(source.glob("*.json"))
        if not files:
            raise InputError(str(source), "", "a folder with TMF622 ProductOrder files (*.json)", "no .json file")
    elif source.is_file():
        files = [source]
    else:
        raise InputError(str(source), "", "a TMF622 ProductOrder file or a folder of them", "no such file or folder")
    found: list[Source] = []
    for path in files:
        doc = _load_json(path)
        if isinstance(doc, list):
            found += [Source(str(path), f"[{i}]", d) for i, d in enumerate(doc)]
        else:
            found.append(Source(str(path), "", doc))
    for s in found:
        if not isinstance(s.doc, dict):
            raise s.error([], "a TMF622 ProductOrder (a JSON object)", describe(s.doc))
    if not found:
        raise InputError(str(source), "", "at least one ProductOrder", "an empty list")
    return found


def _load_json(path: Path) -> Any:
    """JSON with every number exact: amounts become Decimal, never float."""
    try:
        return json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except UnicodeDecodeError as exc:
        raise InputError(str(path), "", "UTF-8 text", f"undecodable byte at offset {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise InputError(str(path), "", "valid JSON", f"{exc.msg} at line {exc.lineno}, column {exc.colno}") from None


def _read_order(src: Source, scenario: Scenario) -> Order:
    kind = src.doc.get("@type", "ProductOrder")
    if kind != "ProductOrder":
        raise src.error(["@type"], "a ProductOrder (cmpsim imports product orders; a cancellation or another "
                        "resource has no counterpart here)", repr(kind))
    problem = first_problem(SCHEMA, src.doc)
    if problem is not None:
        path, expected, found = problem
        raise InputError(src.file, src.path(*_split(path)), expected, found)
    doc = src.doc
    at = _moment(src, "orderDate")
    due = _moment(src, "requestedStartDate") if "requestedStartDate" in doc else None
    items = read_items(src, scenario["currency"])
    account, name = _account(src, items.items)
    priority = None if doc.get("priority") is None else from_tmf622(doc["priority"])
    return Order(source=src, order_id=doc["id"], at=at, due=due if due and due > at else None,
                 priority=priority, account=account, account_name=name, items=items)


def _split(path: str) -> list[Any]:
    """A formatted path back into parts (so a list prefix can go in front of it)."""
    parts: list[Any] = []
    for piece in path.replace("[", ".[").split("."):
        if piece:
            parts.append(int(piece[1:-1]) if piece.startswith("[") else piece)
    return parts


def _moment(src: Source, key: str) -> dt.datetime:
    """An ISO 8601 moment as simulated time: converted to UTC, to the second (simulated time's grain)."""
    text = src.doc[key]
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise src.error([key], "an ISO 8601 date-time like 2019-04-30T08:13:59.506Z", repr(text)) from None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.replace(microsecond=0)


def _account(src: Source, items: list[Item]) -> tuple[str, str | None]:
    """The one billing account of the order: on the order, or the same on every item that names one."""
    doc = src.doc
    account = doc.get("billingAccount", {}).get("id")
    name = doc.get("billingAccount", {}).get("name")
    for item in items:
        given = item.raw.get("billingAccount", {}).get("id")
        if given is None:
            continue
        if account is None:
            account, name = given, item.raw["billingAccount"].get("name")
        elif given != account:
            raise src.error(item.parts + ["billingAccount", "id"],
                            f"the order's billing account {account!r} (cmpsim bills an order to one account)",
                            repr(given))
    if account is None:
        raise src.error(["billingAccount"], "the order's billing account (billingAccount.id on the order or on "
                        "its items)", "nothing")
    customers = [p.get("name") for p in doc.get("relatedParty", [])
                 if "customer" in (str(p.get("role", "")) + str(p.get("@referredType", ""))).lower()]
    return account, name or next((c for c in customers if c), None)


def _check_ids(orders: list[Order], scenario: Scenario) -> None:
    taken = {o["id"]: f"{scenario.source} (service.explicit_orders)" for o in scenario["service"]["explicit_orders"]}
    for order in orders:
        if order.order_id in taken:
            raise order.source.error(["id"], f"an order id not used before (it is in {taken[order.order_id]})",
                                     repr(order.order_id))
        taken[order.order_id] = order.source.file


# --- dates ----------------------------------------------------------------------------------------

def _shift(orders: list[Order], scenario: Scenario, mode: str) -> dt.timedelta:
    """Whole days to move every order by, so that they fall in the scenario's horizon.

    `keep`: never (an order outside the horizon is an error); `shift`: always, the first order to
    the scenario's first day; `auto`: only when some order falls outside the horizon."""
    start = scenario.start
    end = start + dt.timedelta(days=scenario.horizon_days)
    first = min(o.at for o in orders)
    inside = all(start <= o.at < end for o in orders)
    shift = dt.timedelta(days=(start.date() - first.date()).days)
    if mode == "keep" or (mode == "auto" and inside):
        shift = dt.timedelta(0)
    for order in orders:
        moved = order.at + shift
        if not start <= moved < end:
            moved_by = f" after moving the orders by {shift.days} days" if shift else ""
            raise order.source.error(["orderDate"], f"a time within the horizon {start:%Y-%m-%d} .. {end:%Y-%m-%d} "
                                     f"of {scenario.source}{moved_by}", f"{order.source.doc['orderDate']}")
        order.at = moved
        order.due = order.due + shift if order.due else None
    return shift


# --- the scenario ---------------------------------------------------------------------------------

def _scenario_document(orders: list[Order], scenario: Scenario, base_path: Path, out: Path,
                       shift: dt.timedelta) -> tuple[dict[str, Any], Imported]:
    plain = scenario.public_dict()
    service = plain["service"]
    tax_rates = dict(scenario["catalogue"]["tax_rates"])
    new_rates: dict[str, str] = {}
    products, new_products = _products(orders, service, tax_rates, new_rates)
    accounts, new_accounts = _accounts(orders, scenario, plain["accounts"].get("listed", []))
    discounts = _discounts(orders)
    explicit = service["explicit_orders"] + [_explicit_order(o) for o in orders]
    doc: dict[str, Any] = {
        "extends": _extends(base_path, out),
        "name": out.stem,
    }
    if new_rates:
        doc["catalogue"] = {"tax_rates": new_rates}
    if new_accounts:
        doc["accounts"] = {"listed": accounts}
    doc["service"] = {
        "price_lists": service["price_lists"] + [o.price_list for o in orders if o.price_list],
        "products": products,
        "explicit_orders": explicit,
    }
    if discounts:
        doc["billing"] = {"discounts": plain["billing"]["discounts"] + discounts}
    imported = Imported(path=out, orders=len(orders), lines=sum(len(o.items.lines) for o in orders),
                        new_products=new_products, new_accounts=new_accounts, discounts=len(discounts),
                        shift_days=shift.days, notes=_notes(orders, scenario, shift))
    return doc, imported


def _extends(base: Path, out: Path) -> str:
    """The base as `extends` names it: relative when both files share a folder above the root."""
    base, folder = base.resolve(), out.resolve().parent
    if os.path.commonpath([base, folder]) == base.anchor:
        return str(base)
    return os.path.relpath(base, folder)


def _products(orders: list[Order], service: dict, tax_rates: dict[str, str],
              new_rates: dict[str, str]) -> tuple[list[dict], list[str]]:
    """The service catalogue with the products the orders name and each order's price list."""
    products = {p["id"]: p for p in service["products"]}
    default_list = service["default_price_list"]
    new: list[str] = []
    taxes: dict[str, tuple[Decimal, Order, Item]] = {}
    for order in orders:
        for item in order.items.lines:
            spec = products.get(item.product)
            if spec is None:
                spec = products[item.product] = {"id": item.product, "name": item.product_name, "tax": "",
                                                 "bundle": item.is_bundle, "components": [], "prices": {}}
                new.append(item.product)
            if item.product in new:
                _new_product_tax(order, item, taxes, tax_rates, new_rates)
                spec["components"] = sorted(set(spec["components"]) | set(order.items.component_products(item)))
            if order.price_list:
                known = spec["prices"].get(default_list, {"recurring": "0.00", "one_off": "0.00"})
                spec["prices"][order.price_list] = {
                    "recurring": _money(item.recurring) if item.recurring is not None else known["recurring"],
                    "one_off": _money(item.one_off) if item.one_off is not None else known["one_off"]}
    for product_id in new:
        rate, _, _ = taxes[product_id]
        products[product_id]["tax"] = _tax_key(rate, tax_rates, new_rates)
    # Lists are replaced whole by `extends`, so the catalogue is written out in full, id and name first.
    ordered = [{"id": p["id"], "name": p["name"], **{k: v for k, v in p.items() if k not in ("id", "name")}}
               for p in products.values()]
    return ordered, new


def _new_product_tax(order: Order, item: Item, taxes: dict, tax_rates: dict[str, str],
                     new_rates: dict[str, str]) -> None:
    """A new product's tax rate is the one its prices carry; unpriced, it is zero-rated."""
    rate = item.tax_rate
    if rate is None:
        if item.product not in taxes:
            taxes[item.product] = (Decimal(0), order, item)
        return
    seen = taxes.get(item.product)
    if seen is not None and seen[2].tax_rate is not None and seen[0] != rate:
        raise order.source.error(item.tax_path, f"the tax rate product {item.product} has in {seen[1].source.file} "
                                 f"{seen[1].source.path(*seen[2].tax_path)} ({seen[0]})", str(rate))
    taxes[item.product] = (rate, order, item)


def _tax_key(rate: Decimal, tax_rates: dict[str, str], new_rates: dict[str, str]) -> str:
    for key in sorted(tax_rates) + sorted(new_rates):
        if Decimal((tax_rates | new_rates)[key]) == rate:
            return key
    key = f"tmf-{rate.normalize():f}".replace(".", "_")
    new_rates[key] = f"{rate.normalize():f}"
    return key


def _accounts(orders: list[Order], scenario: Scenario, listed: list[dict]) -> tuple[list[dict], list[str]]:
    """The scenario's listed accounts, with the billing accounts it does not know yet added."""
    known = {a["id"] for a in listed}
    generated = scenario["accounts"]["generate"]["count"]
    country = scenario["accounts"]["generate"]["country"]
    new: list[str] = []
    for order in orders:
        if order.account in known or _is_generated(order.account, generated):
            continue
        # TMF622 carries no address: the account gets a visible placeholder (docs/exchange.md).
        listed.append({"id": order.account, "name": order.account_name or order.account,
                       "address": {"line1": "(address not in the TMF622 order)", "city": "(unknown)",
                                   "postcode": "(unknown)", "country": country}})
        known.add(order.account)
        new.append(order.account)
    return listed, new


def _is_generated(account: str, generated: int) -> bool:
    return account.startswith("ACC-") and account[4:].isdigit() and 1 <= int(account[4:]) <= generated


def _discounts(orders: list[Order]) -> list[dict]:
    out = []
    for order in orders:
        for item in order.items.lines:
            for n, alt in enumerate(item.alterations, start=1):
                description = alt.description or f"{alt.percent.normalize():f}% off {item.product_name}"
                out.append({"id": f"TMF-{order.order_id}-{item.tmf_id}-{n}"[:40],
                            "description": description[:DISCOUNT_DESCRIPTION_CHARS_MAX],
                            "percent": f"{alt.percent.normalize():f}", "line_types": [alt.line_type],
                            "products": [item.product], "accounts": [order.account]})
    return out


def _explicit_order(order: Order) -> dict[str, Any]:
    spec: dict[str, Any] = {"id": order.order_id, "at": f"{order.at:%Y-%m-%dT%H:%M:%S}", "account": order.account}
    if order.items.modifies_only:
        spec["type"] = "modify"
    if order.priority is not None:
        spec["priority"] = order.priority
    if order.due is not None:
        spec["due"] = f"{order.due:%Y-%m-%dT%H:%M:%S}"
    if order.price_list:
        spec["price_list"] = order.price_list
    spec["lines"] = [line.explicit_line() for line in order.items.lines]
    return spec


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):f}"


def _notes(orders: list[Order], scenario: Scenario, shift: dt.timedelta) -> list[str]:
    """What the user should know about the import: written at the top of the scenario file."""
    end = scenario.start + dt.timedelta(days=scenario.horizon_days)
    notes = [f"{len(orders)} order(s) from TMF622: " + ", ".join(
        f"{o.order_id} ({o.source.file}{' ' + o.source.prefix if o.source.prefix else ''})" for o in orders)]
    if shift:
        notes.append(f"dates moved by {shift.days} days so that the first order falls on {scenario.start:%Y-%m-%d}")
    for o in orders:
        for item in o.items.lines:
            notes.append(f"order {o.order_id} item {item.tmf_id} -> line {item.line_ref} {item.action} {item.product}")
        notes += [f"order {o.order_id}: {n}" for n in o.items.notes]
        if o.due and o.due >= end:
            notes.append(f"order {o.order_id} is due {o.due:%Y-%m-%d %H:%M}, after the end of the run ({end:%Y-%m-%d})")
    return notes


def _write_checked(doc: dict[str, Any], notes: list[str], out: Path) -> None:
    """Write the scenario whole or not at all, and only once it loads as a valid scenario."""
    header = "".join(f"# {line}\n" for line in ["Written by cmpsim import-tmf (docs/exchange.md).", *notes])
    text = header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=118)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    try:
        load(tmp)
    except InputError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(str(out), exc.path, exc.expected, exc.found) from None
    os.replace(tmp, out)
