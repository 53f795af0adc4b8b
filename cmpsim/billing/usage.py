"""Usage Rating: yesterday's usage of every active subscription, rated as it arrives.

The network reports one usage record per asset per day of use for products with a usage profile
(`service.products[].usage`): units drawn from the profile's `daily_units` (3 decimals; a day
drawn as zero units is no record), rated at
its `rate` per unit; amount = round(units × rate) half away from zero to the cent. An asset is
reported for a day when it was Active at some moment of that day. Invoice Production bills the
rated usage of a period; Usage Archiving moves old billed usage out of the hot table.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from cmpsim.randomness import draw


def usage_rating_step(sim) -> int:
    """Rate yesterday's usage of every asset that was Active during it; returns records rated."""
    day = sim.today - dt.timedelta(days=1)
    rated_through = sim.store.allocate("usage.rated_through_day", 0)  # a day is rated once, whatever reruns
    if day < sim.start.date() or day.toordinal() <= rated_through:
        return 0
    sim.store.allocate("usage.rated_through_day", day.toordinal() - rated_through)
    active = sim.store.frame("""
        SELECT DISTINCT r.asset_id, r.account_id, r.product_id, sp.usage_unit AS unit, sp.usage_rate::VARCHAR AS rate
        FROM recurring_charges r JOIN service_products sp USING (product_id)
        WHERE sp.usage_rate IS NOT NULL AND r.state = 'Active'
          AND r.active_from < ?::DATE + 1 AND (r.active_to IS NULL OR r.active_to >= ?::DATE)
        ORDER BY r.asset_id""", [day, day])
    if active.height == 0:
        return 0
    rng = sim.rng("billing.usage")
    profiles = {p["id"]: p["usage"]["daily_units"] for p in sim.scenario["service"]["products"] if "usage" in p}
    units = np.zeros(active.height)
    for product, spec in sorted(profiles.items()):
        mask = (active["product_id"] == product).to_numpy()
        units[mask] = draw(spec, rng, int(mask.sum()))
    units = np.round(units, 3)
    active = active.filter(pl.Series(units > 0))
    base = sim.store.allocate("usage_record", active.height)
    records = active.with_columns(
        usage_id=pl.format("U-{}", (pl.int_range(1, active.height + 1) + base).cast(pl.Utf8).str.zfill(10)),
        usage_date=pl.lit(day), units=pl.Series(np.char.mod("%.3f", units[units > 0])))
    sim.con.register("_usage", records.to_arrow())
    sim.con.execute("""
        INSERT INTO usage_records
        SELECT usage_id, asset_id, account_id, product_id, usage_date, units::DECIMAL(18,3), unit,
               rate::DECIMAL(18,4), round(units::DECIMAL(18,3) * rate::DECIMAL(18,4), 2)::DECIMAL(18,2), ?, NULL
        FROM _usage ORDER BY usage_id""", [sim.now])
    sim.con.unregister("_usage")
    return active.height
