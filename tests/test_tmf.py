"""TM Forum exchange: the TMF622 sample order imports, fulfils and is billed; every exported
ProductOrder, CustomerBill, AppliedCustomerBillingRate and CommunicationMessage validates against
its TMF v4 swagger definition; malformed orders give one clear line and import nothing."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

import cmpsim
from cmpsim.cli import main
from cmpsim.exchange.tmf import export_tmf
from conftest import TESTS

TMF = TESTS / "external" / "tmf"  # a copy of the TM Forum samples (tests/external/README.md)
SAMPLE = TMF / "TMF622_Product_Ordering" / "ProductOrder.example.json"
BASE = TESTS / "scenarios" / "tmf-small.yaml"
SWAGGERS = {
    "productOrder.json": ("TMF622_Product_Ordering/TMF622-ProductOrdering-v4.0.0.swagger.json", "ProductOrder"),
    "customerBill.json": ("TMF678_Customer_Bill/TMF678-Customer_Bill-v4.0.0.swagger.json", "CustomerBill"),
    "appliedCustomerBillingRate.json": ("TMF678_Customer_Bill/TMF678-Customer_Bill-v4.0.0.swagger.json",
                                        "AppliedCustomerBillingRate"),
    "communicationMessage.json": ("TMF681_Communication/TMF681-Communication-v4.0.0.swagger.json",
                                  "CommunicationMessage"),
}


def cli(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def read(path: Path):
    return json.loads(Path(path).read_text(), parse_float=Decimal)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("tmf") / "tmf-sample.yaml"
    result = cli("import-tmf", SAMPLE, "--scenario", BASE, "--out", out)
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.fixture(scope="module")
def tmf_run(imported, tmp_path_factory):
    run = cmpsim.run(imported[0], out=tmp_path_factory.mktemp("tmf-run") / "run")
    yield run
    run.close()


@pytest.fixture(scope="module")
def exported(tmf_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("tmf-out")
    counts = export_tmf(tmf_run, out)
    return out, counts


def sample_order(run: cmpsim.Run) -> dict:
    return run.sql("SELECT o.*, s.due_at, s.submitted_at FROM orders o JOIN service_orders s USING (order_id) "
                   "WHERE s.external_id = '30001'").row(0, named=True)


# --- import ---------------------------------------------------------------------------------------

def test_the_sample_becomes_a_future_dated_bundle_order_with_its_prices(imported):
    path, output = imported
    doc = yaml.safe_load(path.read_text())
    order = doc["service"]["explicit_orders"][-1]
    # orderDate 2019-04-30T08:13:59.506Z moved onto the scenario's first day; requestedStartDate 3 days on
    assert order == {
        "id": "30001", "at": "2026-01-05T08:13:59", "account": "1513", "priority": 7, "due": "2026-01-08T08:13:59",
        "price_list": "TMF622 30001",
        "lines": [{"line": "100", "product": "14277", "action": "Add"},
                  {"line": "100.110", "product": "14305", "action": "Add"},
                  {"line": "100.120", "product": "14344", "action": "Add"},
                  {"line": "100.130", "product": "14354", "action": "Add"}]}
    products = {p["id"]: p for p in doc["service"]["products"]}
    assert products["14277"]["bundle"] is True and products["14277"]["components"] == ["14305", "14344", "14354"]
    assert products["14305"]["prices"]["TMF622 30001"] == {"recurring": "0.00", "one_off": "0.99"}
    assert products["14344"]["prices"]["TMF622 30001"] == {"recurring": "20.00", "one_off": "0.00"}
    assert products["14344"]["tax"] == "zero"  # taxRate 0: the catalogue's zero rate
    assert doc["billing"]["discounts"][-1] == {
        "id": "TMF-30001-120-1", "description": "20% for first 3 months", "percent": "20",
        "line_types": ["recurring"], "products": ["14344"], "accounts": ["1513"]}
    assert "dates moved by 2442 days" in output and "reliesOn 110: not modelled" in output
    assert f"run it with: cmpsim run {path}" in output


def test_the_sample_order_is_fulfilled_and_billed(tmf_run):
    order = sample_order(tmf_run)
    assert order["status"] == "Complete" and order["priority"] == 7
    assert order["due_at"] == dt.datetime(2026, 1, 8, 8, 13, 59) and order["completed_at"] > order["due_at"]
    lines = tmf_run.sql("SELECT line_ref, status, asset_id FROM service_lines WHERE order_id = ? ORDER BY line_no",
                        [order["order_id"]]).rows()
    assert lines == [("100", "Complete", "AS-30001-100"), ("100.110", "Complete", "AS-30001-100.110"),
                     ("100.120", "Complete", "AS-30001-100.120"), ("100.130", "Complete", "AS-30001-100.130")]
    billed = dict(tmf_run.sql("""SELECT l.source_id, l.net_amount
                                 FROM invoice_lines l JOIN invoices i USING (invoice_id)
                                 WHERE i.account_id = '1513' AND l.product_id IN ('14305', '14344')""").rows())
    # bill of 9 January: the access fee, 1 day of 31 of the tariff (20.00) and its 20 % welcome discount
    assert billed["AS-30001-100.120"] == Decimal("0.65")
    assert billed["TMF-30001-120-1:AS-30001-100.120"] == Decimal("-0.13")
    assert Decimal("0.99") in billed.values()


# --- export and round trip ------------------------------------------------------------------------

def validator(resource: str) -> jsonschema.Draft4Validator:
    """The swagger's definition of a resource, its $refs resolved inside the swagger file."""
    swagger_file, definition = SWAGGERS[resource]
    swagger = json.loads((TMF / swagger_file).read_text())
    formats = jsonschema.FormatChecker()

    @formats.checks("date-time", raises=ValueError)
    def date_time(value: object) -> bool:
        return not isinstance(value, str) or bool(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value))

    return jsonschema.Draft4Validator({"$ref": f"#/definitions/{definition}", "definitions": swagger["definitions"]},
                                      format_checker=formats)


@pytest.mark.parametrize("resource", sorted(SWAGGERS))
def test_every_exported_document_validates_against_its_swagger_definition(exported, tmf_run, resource):
    out, counts = exported
    docs = json.loads((out / resource).read_text())
    rows = {"productOrder.json": "service_orders", "customerBill.json": "invoices",
            "appliedCustomerBillingRate.json": "invoice_lines", "communicationMessage.json": "comms"}[resource]
    assert len(docs) == counts[resource] == tmf_run.sql(f"SELECT count(*) FROM {rows}").item() > 0
    check = validator(resource)
    problems = [(d["id"], e.message, list(e.absolute_path)) for d in docs for e in check.iter_errors(d)]
    assert problems == []


def test_the_sample_order_comes_back_as_a_completed_product_order(exported):
    sample = read(SAMPLE)
    back = next(o for o in read(exported[0] / "productOrder.json") if o.get("externalId") == sample["id"])
    assert back["state"] == "completed" and back["priority"] == sample["priority"]
    def moment(text: str) -> dt.datetime:  # simulated time is to the second
        return dt.datetime.fromisoformat(text).replace(microsecond=0)

    assert (moment(back["requestedStartDate"]) - moment(back["orderDate"])
            == moment(sample["requestedStartDate"]) - moment(sample["orderDate"]) == dt.timedelta(days=3))
    line = {"100": "100", "110": "100.110", "120": "100.120", "130": "100.130"}  # the documented numbering
    items = {i["id"]: i for i in back["productOrderItem"]}
    assert set(items) == {line[i["id"]] for i in sample["productOrderItem"]}
    for item in sample["productOrderItem"]:
        mine = items[line[item["id"]]]
        assert (mine["action"], mine["state"], mine["quantity"]) == (item["action"], "completed", item["quantity"])
        assert mine["productOffering"]["id"] == item["productOffering"]["id"]
        assert mine["product"]["isBundle"] is item["product"]["isBundle"]
        relations = item.get("productOrderItemRelationship", ())
        bundled = [line[r["id"]] for r in relations if r["relationshipType"] == "bundles"]
        assert [r["id"] for r in mine.get("productOrderItemRelationship", ())] == bundled
        for price in item.get("itemPrice", ()):
            kind = "recurring" if price["priceType"] == "recurring" else "nonRecurring"
            amount = next(p["price"]["dutyFreeAmount"] for p in mine["itemPrice"] if p["priceType"] == kind)
            assert amount == price["price"]["dutyFreeAmount"]  # the same Decimal: 0.99, 20 (as 20.00)


def bill_figures(bill: dict) -> tuple[Decimal, Decimal, Decimal]:
    """What a reader of the TMF678 sample takes from a bill: net, tax (sum of tax items), gross."""
    tax = sum((t["taxAmount"]["value"] for t in bill.get("taxItem", ())), Decimal(0))
    return bill["taxExcludedAmount"]["value"], tax, bill["taxIncludedAmount"]["value"]


def test_bills_read_like_the_tmf678_sample_and_carry_the_exact_amounts(exported, tmf_run):
    sample = read(TMF / "TMF678_Customer_Bill" / "CustomerBill.example.json")
    net, tax, gross = bill_figures(sample)
    assert net + tax == gross == Decimal("50.00")
    invoices = {r["invoice_id"]: r for r in tmf_run.sql("SELECT * FROM invoices").iter_rows(named=True)}
    for bill in read(exported[0] / "customerBill.json"):
        net, tax, gross = bill_figures(bill)
        invoice = invoices[bill["id"]]
        assert (net, tax, gross) == (invoice["net_amount"], invoice["tax_amount"], invoice["gross_amount"])
        assert bill["amountDue"]["unit"] == invoice["currency"]
    text = (exported[0] / "customerBill.json").read_text()
    for invoice in invoices.values():  # written from DECIMAL as is: 614.60, never 614.6 or 614.6000001
        assert f'"taxIncludedAmount":{{"unit":"EUR","value":{invoice["gross_amount"]}}}' in text


def test_applied_rates_add_up_to_their_bill_and_bill_the_imported_products(exported):
    rates = read(exported[0] / "appliedCustomerBillingRate.json")
    bills = {b["id"]: b for b in read(exported[0] / "customerBill.json")}
    for bill_id, bill in bills.items():
        mine = [r for r in rates if r["bill"]["id"] == bill_id]
        assert sum((r["taxIncludedAmount"]["value"] for r in mine), Decimal(0)) == bill["taxIncludedAmount"]["value"]
    tariff = [r for r in rates if r.get("product", {}).get("id") == "AS-30001-100.120"]
    kinds = {(r["appliedBillingRateType"], r["taxExcludedAmount"]["value"]) for r in tariff}
    assert {("recurringCharge", Decimal("0.65")), ("appliedBillingCredit", Decimal("-0.13"))} <= kinds
    assert tariff[0]["periodCoverage"] == {"startDateTime": "2026-01-08T00:00:00Z",
                                           "endDateTime": "2026-01-09T00:00:00Z"}


def test_communications_read_like_the_tmf681_sample(exported, tmf_run):
    sample = read(TMF / "TMF681_Communication" / "CommunicationMessage.example.json")
    messages = {m["id"]: m for m in read(exported[0] / "communicationMessage.json")}
    where = {"email": "email", "sms": "phoneNumber", "push_handset": "appUserId"}
    states = {"Sent": "completed", "Delivered": "completed", "Read": "completed", "Bounced": "failed",
              "Failed": "failed", "Returned": "failed", "Requested": "initial", "Waiting": "initial"}
    for comm in tmf_run.sql("SELECT * FROM comms").iter_rows(named=True):
        message = messages[comm["request_id"]]
        if comm["channel"] in where:
            assert message["receiver"][0].get(where[comm["channel"]]) == comm["target"]  # none before gathered
        assert message["state"] == states.get(comm["status"], "inProgress")
    sms = [m for m in messages.values() if m["messageType"] == sample["messageType"]]
    assert sms and all(m["content"] and m["receiver"][0]["phoneNumber"] for m in sms)


def test_the_same_run_exports_the_same_bytes(tmf_run, exported, tmp_path):
    export_tmf(tmf_run, tmp_path)
    for resource in SWAGGERS:
        assert (tmp_path / resource).read_bytes() == (exported[0] / resource).read_bytes()


# --- malformed input ------------------------------------------------------------------------------

def mutated(change) -> dict:
    """The sample with one change (read with plain floats: they are written back as the same text)."""
    doc = copy.deepcopy(json.loads(SAMPLE.read_text()))
    change(doc)
    return doc


ITEMS = "productOrderItem"
PRICE = "productOrderItem[1].itemPrice[0].price.dutyFreeAmount"
MALFORMED = {
    "order without id": (lambda d: d.pop("id"), "id: expected a field 'id', found no such field"),
    "item without id": (lambda d: d[ITEMS][1].pop("id"), f"{ITEMS}[1].id: expected a field 'id', found no such field"),
    "unknown action": (lambda d: d[ITEMS][2].update(action="upgrade"),
                       f"{ITEMS}[2].action: expected one of add, modify, delete, noChange, found 'upgrade'"),
    "amount as text": (lambda d: d[ITEMS][1]["itemPrice"][0]["price"]["dutyFreeAmount"].update(value="0.99"),
                       f"{PRICE}.value: expected a value of type number, found '0.99'"),
    "negative amount": (lambda d: d[ITEMS][1]["itemPrice"][0]["price"]["dutyFreeAmount"].update(value=-1),
                        f"{PRICE}.value: expected a number >= 0, found -1"),
    "three decimals": (lambda d: d[ITEMS][1]["itemPrice"][0]["price"]["dutyFreeAmount"].update(value=0.995),
                       f"{PRICE}.value: expected an amount with at most two decimals, found 0.995"),
    "other currency": (lambda d: d[ITEMS][1]["itemPrice"][0]["price"]["dutyFreeAmount"].update(unit="USD"),
                       f"{PRICE}.unit: expected the scenario's currency EUR, found 'USD'"),
    "bundle of a missing item": (lambda d: d[ITEMS][0]["productOrderItemRelationship"][0].update(id="999"),
                                 f"{ITEMS}[0].productOrderItemRelationship[0].id: expected the id of another item "
                                 "of this order, found '999'"),
    "modify without product": (lambda d: d[ITEMS][3].update(action="modify"),
                               f"{ITEMS}[3].product.id: expected the id of the installed product"),
    "priority out of scale": (lambda d: d.update(priority="7"),
                              "priority: expected one of 0, 1, 2, 3, 4, Low, Medium, High, Urgent, found '7'"),
    "no billing account": (lambda d: d[ITEMS][2].pop("billingAccount"), "billingAccount: expected the order's billing"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_order_gives_one_clear_line_and_imports_nothing(tmp_path, case):
    change, message = MALFORMED[case]
    source, out = tmp_path / "order.json", tmp_path / "new.yaml"
    source.write_text(json.dumps(mutated(change)))
    out.write_text("# an earlier import, left as it was\n")
    result = cli("import-tmf", source, "--scenario", BASE, "--out", out)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"cmpsim: error: {source}: {message}") and result.stderr.count("\n") == 1
    assert out.read_text() == "# an earlier import, left as it was\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.yaml", "order.json"]


def test_a_folder_with_one_bad_order_imports_none_of_them(tmp_path):
    folder = tmp_path / "orders"
    folder.mkdir()
    (folder / "a.json").write_text(SAMPLE.read_text())
    (folder / "b.json").write_text(json.dumps(mutated(lambda d: d.update(id="30002", priority="high"))))
    result = cli("import-tmf", folder, "--scenario", BASE, "--out", tmp_path / "new.yaml")
    assert result.exit_code == 2 and f"{folder / 'b.json'}: priority: expected one of 0" in result.stderr
    assert not (tmp_path / "new.yaml").exists() and not list(tmp_path.glob("*.part"))


def test_a_cancellation_is_refused_by_name(tmp_path):
    cancel = TMF / "TMF622_Product_Ordering" / "CancelProductOrder.example.json"
    result = cli("import-tmf", cancel, "--scenario", BASE, "--out", tmp_path / "new.yaml")
    assert result.exit_code == 2 and "@type: expected a ProductOrder" in result.stderr
    assert "found 'CancelProductOrder'" in result.stderr


def test_actions_priorities_and_new_accounts_map_as_documented(tmp_path):
    """Modify, delete, suspend, resume and noChange items with ids that are not numbers, kept dates."""
    def item(ident: str, action: str, status: str | None = None, asset: str | None = "AS-IB-0000001") -> dict:
        product = {"id": asset} if asset else {}
        if status:
            product["status"] = status
        return {"id": ident, "action": action, "productOffering": {"id": "INET"}, "product": product}

    orders = [{"id": f"MIX-{p}", "orderDate": "2026-01-06T10:00:00+01:00", "priority": p,
               "billingAccount": {"id": "NEW-1", "name": "New Customer"},
               "productOrderItem": [item("a", "modify"), item("b", "modify", "suspended"),
                                    item("c", "modify", "active"), item("d", "delete"), item("e", "noChange"),
                                    item("f", "add", asset=None)]} for p in ("0", "4", "High")]
    source, out = tmp_path / "orders.json", tmp_path / "mix.yaml"
    source.write_text(json.dumps(orders))
    result = cli("import-tmf", source, "--scenario", BASE, "--out", out, "--dates", "keep")
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load(out.read_text())
    first, last, named = doc["service"]["explicit_orders"][-3:]
    assert (first["priority"], last["priority"], named["priority"]) == (9, 1, 7)  # "High": Siebel's name
    assert first["at"] == "2026-01-06T09:00:00" and "type" not in first  # UTC, an order that also adds
    assert [(x["line"], x["action"], x.get("asset")) for x in first["lines"]] == [
        ("1", "Update", "AS-IB-0000001"), ("2", "Suspend", "AS-IB-0000001"), ("3", "Resume", "AS-IB-0000001"),
        ("4", "Delete", "AS-IB-0000001"), ("5", "Add", None)]
    assert doc["accounts"]["listed"][-1] == {"id": "NEW-1", "name": "New Customer", "address": {
        "line1": "(address not in the TMF622 order)", "city": "(unknown)", "postcode": "(unknown)", "country": "GB"}}
    assert "price_list" not in first  # no prices in the order: the account's price list


def test_orders_outside_the_horizon_are_refused_when_dates_are_kept(tmp_path):
    result = cli("import-tmf", SAMPLE, "--scenario", BASE, "--out", tmp_path / "x.yaml", "--dates", "keep")
    assert result.exit_code == 2
    assert result.stderr == (f"cmpsim: error: {SAMPLE}: orderDate: expected a time within the horizon 2026-01-05 .. "
                             f"2026-01-10 of {BASE}, found 2019-04-30T08:13:59.506Z\n")
