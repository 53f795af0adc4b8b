"""Hardware sales orders (seeds 000 and 001): New → Awaiting Generation → Awaiting Dispatch →
Complete or Error, with warehouses, generic files, fraud check and device enrolment."""

from __future__ import annotations

import polars as pl

from cmpsim.arrivals import seconds_of_day
from cmpsim.engine import DailyAt, Every, OnWork, Step, in_domain
from cmpsim.files import inbox_has_files, outbox_has_files
from cmpsim.orders.agentview import agentview_step
from cmpsim.orders.dispatch import load_sales_orders_step, sales_order_dispatch_step
from cmpsim.orders.enrolment import (
    enrolment_request_step,
    enrolment_response_step,
    load_enrolment_responses_step,
    manufacturer_step,
)
from cmpsim.orders.request import extract_sales_orders_step, sales_order_request_step
from cmpsim.orders.tables import DDL
from cmpsim.orders.warehouse import warehouse_dispatch_step, warehouse_intake_step
from cmpsim.scenario import Scenario
from cmpsim.store import Store

__all__ = ["create_tables", "load_reference", "steps"]


def create_tables(store: Store) -> None:
    store.con.execute(DDL)


def load_reference(store: Store, scenario: Scenario) -> None:
    """Warehouses and their stock, as CMP knows it and as the warehouses hold it."""
    warehouses = scenario["warehouses"]
    store.insert(
        "warehouses",
        pl.DataFrame(
            [
                {
                    "warehouse_id": w["id"],
                    "name": w.get("name", w["id"]),
                    "preference": i + 1,
                    "daily_capacity_units": w["daily_capacity_units"],
                    "dispatch_time": w["dispatch_time"],
                    "error_rate": float(w["error_rate"]),
                    "connected": bool(w["connected"]),
                }
                for i, w in enumerate(warehouses)
            ]
        ),
    )
    stock = pl.DataFrame(
        [{"warehouse_id": w["id"], "product_id": p, "on_hand": q} for w in warehouses for p, q in w["stock"].items()],
        schema={"warehouse_id": pl.Utf8, "product_id": pl.Utf8, "on_hand": pl.Int32},
    )
    store.insert("stock", stock.with_columns(reserved=pl.lit(0, pl.Int32)))
    store.insert("wh_stock", stock)


def _job_trigger(spec, signal: str):
    if spec["trigger"] == "on_work":
        return OnWork(signal)
    return DailyAt(tuple(seconds_of_day(t) for t in spec["at"]))


def _batches_ready(sim) -> bool:
    return bool(sim.store.scalar("SELECT count(*) FROM warehouse_batches WHERE status = 'Ready'"))


def _manufacturer_has_work(sim) -> bool:
    return outbox_has_files(sim, "enrolment-request") or bool(
        sim.store.scalar("SELECT count(*) FROM mf_requests WHERE answered_in IS NULL AND answer_at <= ?", [sim.now])
    )


def _manufacturer_wake_at(sim) -> int | None:
    return sim.second_of(sim.store.scalar("SELECT min(answer_at) FROM mf_requests WHERE answered_in IS NULL"))


def steps(scenario: Scenario) -> list[Step]:
    """The jobs and daemons of the process, with the outside parties they talk to."""
    demand = scenario["demand"]
    if not (demand["orders_per_day"] or demand["explicit_orders"] or demand["stock_checks_per_day"]):
        return []  # no hardware shop in this scenario: none of its jobs would ever have work
    s = scenario["schedules"]
    agentview_s = s["agentview_interval_minutes"] * 60
    dispatch_times = tuple(sorted({seconds_of_day(w["dispatch_time"]) for w in scenario["warehouses"]}))
    return in_domain([
        Step(
            "AgentView", "user", Every(agentview_s, agentview_s), agentview_step, emits=("orders.awaiting_generation",)
        ),
        Step(
            "Sales Order Request",
            "job",
            _job_trigger(s["sales_order_request"], "orders.awaiting_generation"),
            sales_order_request_step,
        ),
        Step(
            "Extract Sales Orders To Generic Format",
            "daemon",
            Every(s["extract_poll_minutes"] * 60, 60),
            extract_sales_orders_step,
            due=_batches_ready,
            due_on_state_only=True,
        ),
        Step(
            "Warehouse Intake",
            "external",
            Every(s["extract_poll_minutes"] * 60, 120),
            warehouse_intake_step,
            due=lambda sim: outbox_has_files(sim, "order-request"),
            due_on_state_only=True,
        ),
        Step("Warehouse Dispatch Run", "external", DailyAt(dispatch_times), warehouse_dispatch_step),
        Step(
            "Load Sales Orders From Generic Format",
            "daemon",
            Every(s["load_poll_minutes"] * 60, 180),
            load_sales_orders_step,
            emits=("dispatch.loaded",),
            due=lambda sim: inbox_has_files(sim, "order-dispatch"),
        ),
        Step(
            "Sales Order Dispatch",
            "job",
            _job_trigger(s["sales_order_dispatch"], "dispatch.loaded"),
            sales_order_dispatch_step,
            emits=("devices.pending", "charges.created"),
        ),
        Step(
            "Device Enrolment Request",
            "job",
            _job_trigger(s["device_enrolment_request"], "devices.pending"),
            enrolment_request_step,
        ),
        Step(
            "Manufacturer Gateway",
            "external",
            Every(s["manufacturer_poll_minutes"] * 60, 240),
            manufacturer_step,
            due=_manufacturer_has_work,
            wake_at=_manufacturer_wake_at,
        ),
        Step(
            "Load Device Enrolment From Generic Format",
            "daemon",
            Every(s["load_poll_minutes"] * 60, 300),
            load_enrolment_responses_step,
            emits=("enrolment.loaded",),
            due=lambda sim: inbox_has_files(sim, "enrolment-response"),
        ),
        Step(
            "Device Enrolment Response",
            "job",
            _job_trigger(s["device_enrolment_response"], "enrolment.loaded"),
            enrolment_response_step,
        ),
    ], "orders")
