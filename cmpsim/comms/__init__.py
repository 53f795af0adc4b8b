"""Customer communications (seed 003): triggers, the Comms Monitor, SMS and push daemons, e-mail and
letter jobs and daemons, long-term storage, status updates from outside.

Each communication goes to exactly one target. See docs/comms.md.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import polars as pl

from cmpsim import randomness
from cmpsim.arrivals import seconds_of_day
from cmpsim.comms.delivery import email_monitor_step, letter_monitor_step, transmit_due, transmit_step
from cmpsim.comms.gateways import GATEWAY_CHANNELS, gateway_step, gateway_wake_at
from cmpsim.comms.monitor import comms_monitor_step
from cmpsim.comms.status import (
    apply_status_updates,
    load_status_step,
    providers_step,
    providers_wake_at,
)
from cmpsim.comms.storage import LocalFolderStorage, Storage, storage_due, storage_step
from cmpsim.comms.tables import DDL
from cmpsim.comms.triggers import INVOKED_BY, comms_trigger_step, payment_overdue_step
from cmpsim.comms.workflow import workflow_due, workflow_step
from cmpsim.engine import DailyAt, Every, OnEvents, OnWork, Step, in_domain
from cmpsim.files import inbox_has_files
from cmpsim.scenario import Scenario
from cmpsim.store import Store

__all__ = ["LocalFolderStorage", "Storage", "create_tables", "load_reference", "steps", "update_status"]

DAEMON_NAMES = {"sms": "Comms SMS Daemon", "push_handset": "Comms Push To Handset Daemon",
                "push_external": "Comms Push To External Daemon"}
OVERDUE_AT = "08:00"


def create_tables(store: Store) -> None:
    store.con.execute(DDL)


def load_reference(store: Store, scenario: Scenario) -> None:
    """Each account's contact details and preferred channel (a channel it has a contact for)."""
    spec = scenario["comms"]
    accounts = store.frame("""SELECT account_id, email, phone, address_line1 || ', ' || city || ' ' || postcode
                                     || ', ' || country AS postal_address FROM accounts ORDER BY account_id""")
    rng = randomness.stream(scenario.seed, "comms.preferences", 0)
    n = accounts.height
    channels = np.asarray(list(spec["preferences"]))
    weights = np.asarray(list(spec["preferences"].values()), dtype=float)
    wanted = channels[rng.choice(len(channels), n, p=weights / weights.sum())] if n else np.asarray([], dtype=str)
    has_app = rng.random(n) < spec["app_share"]
    prefs = accounts.with_columns(
        device_token=pl.when(pl.Series(has_app)).then(pl.format("DT-{}", pl.col("account_id"))),
        wanted=pl.Series(wanted, dtype=pl.Utf8))
    prefs = prefs.with_columns(channel=pl.when(
        ((pl.col("wanted") == "email") & pl.col("email").is_not_null())
        | ((pl.col("wanted") == "sms") & pl.col("phone").is_not_null())
        | ((pl.col("wanted") == "push_handset") & pl.col("device_token").is_not_null())
        | (pl.col("wanted") == "letter")).then("wanted")
        .when(pl.col("email").is_not_null()).then(pl.lit("email")).otherwise(pl.lit("letter")))
    store.insert("comms_preferences", prefs.select("account_id", "channel", "email", "phone", "device_token",
                                                   "postal_address"))


def steps(scenario: Scenario) -> list[Step]:
    spec = scenario["comms"]
    poll_s = spec["poll_minutes"] * 60
    every = partial(Every, poll_s)
    return in_domain([
        # Invoked by the work that logs a triggering event or raises a probe alert, within its wake-up.
        Step("Comms Trigger", "daemon", OnEvents(INVOKED_BY), comms_trigger_step, emits=("comms.requested",)),
        Step("Payment Overdue Notification", "job", DailyAt((seconds_of_day(OVERDUE_AT),)), payment_overdue_step,
             emits=("comms.requested",)),
        Step("Customer Service", "user", Every(3600, 3300), workflow_step, emits=("comms.requested",),
             due=workflow_due, reads_pending="events"),
        Step("Comms Monitor", "job", OnWork("comms.requested"), comms_monitor_step,
             emits=("comms.gathered",)),
        *[Step(DAEMON_NAMES[c], "daemon", every(360 + 60 * i), partial(gateway_step, channel=c),
               wake_at=partial(gateway_wake_at, channel=c))
          for i, c in enumerate(GATEWAY_CHANNELS)],
        Step("Comms Email Monitor", "job", OnWork("comms.gathered"), email_monitor_step),
        Step("Comms Letter Monitor", "job", OnWork("comms.gathered"), letter_monitor_step),
        Step("Comms Email Daemon", "daemon", every(600), partial(transmit_step, channel="email"),
             due=partial(transmit_due, channel="email"), due_on_state_only=True),
        Step("Comms Letter Daemon", "daemon", every(660), partial(transmit_step, channel="letter"),
             due=partial(transmit_due, channel="letter"), due_on_state_only=True),
        Step("Comms Storage Daemon", "daemon", every(720), storage_step, due=storage_due,
             due_on_state_only=True, may_fail="before writing"),
        Step("Comms Providers", "external", Every(spec["providers"]["report_minutes"] * 60, 780), providers_step,
             wake_at=providers_wake_at),
        Step("Load Comms Status Updates", "daemon", Every(scenario["schedules"]["load_poll_minutes"] * 60, 840),
             load_status_step, due=lambda sim: inbox_has_files(sim, "comms-status")),
    ], "comms")


class _StatusApi:
    """What status.apply_status_updates needs of a simulation, for a finished run opened writable."""

    current_job = "Comms Status API"

    def __init__(self, run, now):
        self.store, self.con, self.now = run.store, run.store.con, now


def update_status(run, updates: list[dict[str, Any]], source: str = "api") -> int:
    """Apply status updates from an external system to a run opened writable
    (`cmpsim.open_run(path, writable=True)`): each {request_id, status: delivered|read|bounced|returned,
    at: datetime, reason?}. Returns how many communications changed; the same update twice changes
    nothing the second time."""
    now = max(u["at"] for u in updates)
    with run.store.transaction():
        return apply_status_updates(_StatusApi(run, now), updates, source)
