"""Service order fulfilment (seed 004): order lines with actions, assets, revisions, follow-on and
future-dated orders, price lists, priorities under limited capacity."""

from __future__ import annotations

import polars as pl

from cmpsim.engine import Every, Step, in_domain
from cmpsim.fulfilment.capture import capture_step
from cmpsim.fulfilment.fallout import fallout_step, fallout_wake_at
from cmpsim.fulfilment.fulfil import fulfilment_due, fulfilment_step, fulfilment_wake_at
from cmpsim.fulfilment.installed import installed_base
from cmpsim.fulfilment.orderqueue import order_queue_due, order_queue_step, order_queue_wake_at
from cmpsim.fulfilment.tables import DDL
from cmpsim.scenario import Scenario
from cmpsim.store import Store

__all__ = ["create_tables", "load_reference", "steps"]


def create_tables(store: Store) -> None:
    store.con.execute(DDL)


def load_reference(store: Store, scenario: Scenario) -> None:
    """Service products with their prices per price list, and the idle fulfilment workers."""
    if "service" not in scenario.data:
        return
    service, rates = scenario["service"], scenario["catalogue"]["tax_rates"]
    store.insert("service_products", pl.DataFrame([
        {"product_id": p["id"], "name": p["name"], "is_bundle": p["bundle"], "tax_rate": rates[p["tax"]],
         "product_class": p.get("class", "service"), "usage_unit": p.get("usage", {}).get("unit"),
         "usage_rate": p.get("usage", {}).get("rate")}
        for p in service["products"]], schema={"product_id": pl.Utf8, "name": pl.Utf8, "is_bundle": pl.Boolean,
                                                "tax_rate": pl.Utf8, "product_class": pl.Utf8, "usage_unit": pl.Utf8,
                                                "usage_rate": pl.Utf8}))
    store.insert("service_prices", pl.DataFrame([
        {"product_id": p["id"], "price_list": name, "recurring": price["recurring"], "one_off": price["one_off"]}
        for p in service["products"] for name, price in p["prices"].items()],
        schema={"product_id": pl.Utf8, "price_list": pl.Utf8, "recurring": pl.Utf8, "one_off": pl.Utf8}))
    assets, periods = installed_base(store, scenario)
    store.insert("assets", assets)
    store.insert("recurring_charges", periods)
    store.insert("fulfilment_workers", pl.DataFrame({
        "worker": range(service["fulfilment"]["workers"]),
        "busy_until": [scenario.start] * service["fulfilment"]["workers"]}))
    store.insert("fallout_operators", pl.DataFrame({
        "operator": range(service["fallout"]["operators"]),
        "busy_until": [scenario.start] * service["fallout"]["operators"]}))
    store.insert("queue_consumers", pl.DataFrame({
        "consumer": range(service["order_queue"]["consumers"]),
        "busy_until": [scenario.start] * service["order_queue"]["consumers"]}))


def steps(scenario: Scenario) -> list[Step]:
    if "service" not in scenario.data:
        return []
    service = scenario["service"]
    if not (service["demand"]["orders_per_day"] or service["explicit_orders"]):
        return []  # no order can ever arrive: the installed base is billed, nothing is fulfilled
    capture_s = scenario["schedules"]["agentview_interval_minutes"] * 60
    poll_s = scenario["service"]["fulfilment"]["poll_minutes"] * 60
    queue_s = scenario["service"]["order_queue"]["poll_seconds"]
    desk_s = service["fallout"]["poll_minutes"] * 60
    return in_domain([
        Step("CRM Order Capture", "user", Every(capture_s, capture_s), capture_step),
        Step("Order Queue", "daemon", Every(queue_s, queue_s), order_queue_step, due=order_queue_due,
             due_on_state_only=True, wake_at=order_queue_wake_at),
        Step("Order Fulfilment", "daemon", Every(poll_s, poll_s), fulfilment_step, due=fulfilment_due,
             wake_at=fulfilment_wake_at),
    ] + ([Step("Fallout Desk", "user", Every(desk_s, desk_s), fallout_step, due_on_state_only=True,
               wake_at=fallout_wake_at)] if service["fallout"]["rate"] > 0 else []), "service")
