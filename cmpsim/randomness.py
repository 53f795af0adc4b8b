"""Named random streams and the duration distributions of scenario files.

Every subsystem draws from its own stream, derived from (seed, stream name, simulated second of the
wake-up). Adding a stream shifts no other, and a run resumed at any wake-up draws exactly the same
numbers as a run that was never interrupted. Draws are vectors: one call per step, never per row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np

UNIT_SECONDS = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0, "days": 86400.0}
# The longest duration a draw gives, in the unit of its spec; the schema bounds every parameter by it
# too. A lognormal tail could otherwise reach a moment no timestamp can hold (a mean of 1e300 hours).
DRAW_MAX = 1_000_000.0


def stream(seed: int, name: str, moment_s: int) -> np.random.Generator:
    """The generator of stream `name` at simulated second `moment_s` of a run seeded with `seed`."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    name_key = int.from_bytes(digest[:8], "big")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, name_key, moment_s])))


def draw(spec: Mapping[str, Any], rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw `n` values of a distribution spec, none above DRAW_MAX (see `_draw`)."""
    return np.minimum(_draw(spec, rng, n), DRAW_MAX)


def _draw(spec: Mapping[str, Any], rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw `n` values of a distribution spec (already validated by the scenario schema).

    Specs: {dist: fixed, value}, {dist: exponential, mean}, {dist: lognormal, mean, sd}
    (mean and sd of the distribution itself, not of its logarithm), {dist: uniform, low, high},
    {dist: empirical, values, weights}. The unit is the one named by the key holding the spec.
    """
    kind = spec["dist"]
    if kind == "fixed":
        return np.full(n, float(spec["value"]))
    if kind == "exponential":
        return rng.exponential(float(spec["mean"]), n)
    if kind == "uniform":
        return rng.uniform(float(spec["low"]), float(spec["high"]), n)
    if kind == "lognormal":
        mean, sd = float(spec["mean"]), float(spec["sd"])
        sigma2 = np.log1p((sd / mean) ** 2)
        return rng.lognormal(np.log(mean) - sigma2 / 2, np.sqrt(sigma2), n)
    if kind == "empirical":
        weights = np.asarray(spec.get("weights") or [1.0] * len(spec["values"]), dtype=float)
        return rng.choice(np.asarray(spec["values"], dtype=float), size=n, p=weights / weights.sum())
    raise ValueError(f"unknown distribution {kind!r}")  # unreachable after schema validation


def mean_of(spec: Mapping[str, Any]) -> float:
    """The expected value of a distribution spec, for capacity planning and queueing checks."""
    kind = spec["dist"]
    if kind == "fixed":
        return float(spec["value"])
    if kind in ("exponential", "lognormal"):
        return float(spec["mean"])
    if kind == "uniform":
        return (float(spec["low"]) + float(spec["high"])) / 2
    weights = np.asarray(spec.get("weights") or [1.0] * len(spec["values"]), dtype=float)
    return float(np.dot(np.asarray(spec["values"], dtype=float), weights / weights.sum()))
