"""Arrivals over business hours, shared by every process that simulates customers or agents.

Orders (hardware or service) arrive as a Poisson process during the scenario's business hours: a
wake-up covering (t0, t1] draws how many arrived in the business part of it, then when.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from cmpsim.reference import generated_account_id

DAY_S = 86_400


def business_windows(sim, t0: int, t1: int) -> list[tuple[int, int]]:
    """The parts of (t0, t1] that fall in business hours, in seconds since the run start."""
    hours = sim.scenario["demand"]["business_hours"]
    open_s, close_s = (seconds_of_day(hours["open"]), seconds_of_day(hours["close"]))
    out = []
    for day in range(t0 // DAY_S, t1 // DAY_S + 1):
        lo, hi = max(t0, day * DAY_S + open_s), min(t1, day * DAY_S + close_s)
        if hi > lo:
            out.append((lo, hi))
    return out


def seconds_of_day(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def uniform_times(rng: np.random.Generator, windows: list[tuple[int, int]], n: int) -> np.ndarray:
    lengths = np.asarray([hi - lo for lo, hi in windows], dtype=float)
    pick = rng.choice(len(windows), size=n, p=lengths / lengths.sum())
    starts = np.asarray([lo for lo, _ in windows])[pick]
    return (starts + np.floor(rng.random(n) * lengths[pick]) + 1).astype(np.int64)


def random_account_ids(sim, rng: np.random.Generator, n: int) -> np.ndarray:
    generated = int(sim.scenario["accounts"]["generate"]["count"])
    listed = np.asarray([a["id"] for a in sim.scenario["accounts"].get("listed", ())], dtype=object)
    idx = rng.integers(0, generated + len(listed), n)
    ids = pl.select(generated_account_id(pl.Series(np.minimum(idx, max(generated - 1, 0))))).to_series().to_numpy()
    if len(listed):
        ids = np.where(idx < generated, ids, listed[np.clip(idx - generated, 0, len(listed) - 1)])
    return ids.astype(object)




def arrivals_in(sim, rng: np.random.Generator, per_day: float, t0: int, t1: int) -> np.ndarray:
    """Sorted arrival times (seconds since the start) in (t0, t1] of `per_day` arrivals a business day."""
    windows = business_windows(sim, t0, t1)
    hours = sim.scenario["demand"]["business_hours"]
    day_s = seconds_of_day(hours["close"]) - seconds_of_day(hours["open"])
    n = int(rng.poisson(per_day * sum(hi - lo for lo, hi in windows) / day_s)) if windows and per_day else 0
    return np.sort(uniform_times(rng, windows, n)) if n else np.zeros(0, dtype=np.int64)
