"""The installed base: subscriptions customers already have when a run starts.

A provider is never empty on the first simulated day: a share of accounts holds one active
subscription, installed some time before the start, billed every cycle like any other asset.
Drawn once, in one vectorised step, from the stream "service.installed_base".
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from cmpsim import randomness
from cmpsim.scenario import Scenario

AGE_DAYS_DEFAULT = {"dist": "uniform", "low": 30, "high": 720}


def installed_base(store, scenario: Scenario) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(assets, recurring-charge periods) of the installed base; empty frames without one."""
    spec = scenario["service"].get("installed_base")
    accounts = store.frame("SELECT account_id FROM accounts ORDER BY account_id")["account_id"]
    rng = randomness.stream(scenario.seed, "service.installed_base", 0)
    has = rng.random(accounts.len()) < (spec["share"] if spec else 0.0)
    n = int(has.sum())
    mix = spec["product_mix"] if spec else {"-": 1}
    weights = np.asarray(list(mix.values()), dtype=float)
    products = np.asarray(list(mix))[rng.choice(len(mix), n, p=weights / weights.sum())]
    age_days = np.floor(randomness.draw(spec.get("age_days", AGE_DAYS_DEFAULT) if spec else AGE_DAYS_DEFAULT, rng, n))
    since = [scenario.start - dt.timedelta(days=int(d) + 1) for d in age_days]
    price_list = scenario["service"]["default_price_list"]
    assets = pl.DataFrame({
        "asset_id": [f"AS-IB-{i + 1:07d}" for i in range(n)], "account_id": accounts.filter(pl.Series(has)),
        "product_id": pl.Series(products, dtype=pl.Utf8), "state": ["Active"] * n,
        "location": [f"IB-{i + 1:07d}" for i in range(n)], "price_list": [price_list] * n,
        "price_list_from_header": [True] * n, "created_by": ["installed base"] * n,
        "changed_at": pl.Series(since, dtype=pl.Datetime("us"))})
    prices = store.frame("""SELECT p.product_id, p.recurring::VARCHAR AS monthly_amount, s.tax_rate::VARCHAR AS tax_rate
                            FROM service_prices p JOIN service_products s USING (product_id)
                            WHERE p.price_list = ?""", [price_list])
    periods = assets.join(prices, on="product_id", how="left").select(
        "asset_id", "account_id", "product_id", "price_list", "monthly_amount", "tax_rate", "state",
        active_from="changed_at", active_to=pl.lit(None, pl.Datetime("us")), order_id=pl.lit("installed base"),
        line_no=pl.lit(0, pl.Int32))
    return assets, periods
