"""Reference data a run starts from: customer accounts and the product catalogue.

Generated accounts are drawn in one vectorised step from the stream "accounts", so the same seed
gives the same customers; listed accounts come verbatim from the scenario.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from cmpsim import randomness
from cmpsim.scenario import Scenario
from cmpsim.store import Store

FIRST_NAMES = [
    "Ada",
    "Alan",
    "Grace",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "John",
    "Margaret",
    "Ken",
    "Radia",
    "Tim",
    "Sophie",
    "Dennis",
    "Hedy",
    "Linus",
    "Karen",
    "Niklaus",
    "Katherine",
    "Claude",
    "Joan",
    "Vint",
    "Lynn",
    "Bjarne",
    "Mary",
    "Guido",
]
LAST_NAMES = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "McCarthy",
    "Hamilton",
    "Thompson",
    "Perlman",
    "Berners-Lee",
    "Wilson",
    "Ritchie",
    "Lamarr",
    "Torvalds",
    "Sparck Jones",
    "Wirth",
    "Johnson",
    "Shannon",
    "Clarke",
    "Cerf",
    "Conway",
    "Stroustrup",
    "Keller",
    "van Rossum",
]
STREETS = [
    "High Street",
    "Station Road",
    "Church Lane",
    "Mill Road",
    "Park Avenue",
    "Victoria Road",
    "Green Lane",
    "Manor Road",
    "Kings Road",
    "Queens Road",
    "New Street",
    "London Road",
]
CITIES = [
    ("Leeds", "LS"),
    ("Bristol", "BS"),
    ("Manchester", "M"),
    ("Glasgow", "G"),
    ("Cardiff", "CF"),
    ("Norwich", "NR"),
    ("York", "YO"),
    ("Belfast", "BT"),
    ("Brighton", "BN"),
    ("Oxford", "OX"),
]


def generated_account_id(index: pl.Expr) -> pl.Expr:
    """ACC-0000001 for index 0: the id pattern scenario files may refer to."""
    return pl.format("ACC-{}", (index + 1).cast(pl.Utf8).str.zfill(7))


def random_names(rng: np.random.Generator, n: int) -> pl.Series:
    first = np.asarray(FIRST_NAMES)[rng.integers(0, len(FIRST_NAMES), n)]
    last = np.asarray(LAST_NAMES)[rng.integers(0, len(LAST_NAMES), n)]
    return pl.Series(np.char.add(np.char.add(first, " "), last))


def load_reference(store: Store, scenario: Scenario) -> None:
    """Insert accounts and products; called once when a run database is created."""
    store.insert("accounts", _accounts(scenario))
    store.insert("products", _products(scenario))


def _accounts(scenario: Scenario) -> pl.DataFrame:
    spec = scenario["accounts"]["generate"]
    n = int(spec["count"])
    rng = randomness.stream(scenario.seed, "accounts", 0)
    city_idx = rng.integers(0, len(CITIES), n)
    cities = np.asarray([c for c, _ in CITIES])[city_idx]
    areas = np.asarray([a for _, a in CITIES])[city_idx]
    letters = np.asarray(list("ABDEFGHJLNPQRSTUWXYZ"))
    postcodes = (
        pl.DataFrame(
            {
                "a": areas,
                "d": rng.integers(1, 30, n),
                "e": rng.integers(1, 10, n),
                "x": letters[rng.integers(0, len(letters), n)],
                "y": letters[rng.integers(0, len(letters), n)],
            }
        )
        .select(pl.format("{}{} {}{}{}", "a", "d", "e", "x", "y"))
        .to_series()
    )
    names = random_names(rng, n)
    cycles = np.asarray(spec["bill_cycle_days"])[rng.integers(0, len(spec["bill_cycle_days"]), n)]
    generated = pl.DataFrame(
        {
            "account_id": pl.select(generated_account_id(pl.int_range(0, n, eager=True))).to_series(),
            "name": names,
            "address_line1": pl.Series(rng.integers(1, 200, n)).cast(pl.Utf8)
            + " "
            + pl.Series(np.asarray(STREETS)[rng.integers(0, len(STREETS), n)]),
            "city": pl.Series(cities, dtype=pl.Utf8),
            "postcode": postcodes,
            "country": pl.Series([spec["country"]] * n, dtype=pl.Utf8),
            "email": (
                names.str.to_lowercase().str.replace_all(r"[^a-z]+", ".")
                + pl.Series(np.arange(1, n + 1)).cast(pl.Utf8)
                + "@example.net"
            ),
            "phone": pl.Series(rng.integers(7_000_000_000, 7_999_999_999, n)).cast(pl.Utf8).str.replace(r"^", "+44"),
            "bill_cycle_day": pl.Series(cycles, dtype=pl.Int32),
            "hardware_charges": _hardware_choice(spec, rng, n),
        }
    )
    listed = pl.DataFrame(
        [
            {
                "account_id": a["id"],
                "name": a["name"],
                "address_line1": a["address"]["line1"],
                "city": a["address"]["city"],
                "postcode": a["address"]["postcode"],
                "country": a["address"]["country"],
                "email": a.get("email"),
                "phone": a.get("phone"),
                "bill_cycle_day": a.get("bill_cycle_day", 1),
                "hardware_charges": a.get("hardware_charges"),
            }
            for a in scenario["accounts"].get("listed", ())
        ],
        schema=generated.schema,
    )
    return pl.concat([generated, listed]).with_columns(price_list=pl.lit(scenario["catalogue"]["price_list"]))


def _hardware_choice(spec, rng, n: int) -> pl.Series:
    """How each generated customer chose to be billed for hardware: a share asked for it at once, the
    others take the scenario's default (null); drawn after everything else, so a scenario without the
    share generates the very same accounts."""
    share = spec.get("hardware_immediate_share")
    if share is None:
        return pl.Series([None] * n, dtype=pl.Utf8)
    return pl.Series(np.where(rng.random(n) < share, "immediate", "next_invoice"), dtype=pl.Utf8)


def _products(scenario: Scenario) -> pl.DataFrame:
    catalogue = scenario["catalogue"]
    rows = [
        {
            "product_id": p["id"],
            "name": p["name"],
            "product_class": p["class"],
            "unit_price": p["unit_price"],
            "tax_code": p["tax"],
            "tax_rate": catalogue["tax_rates"][p["tax"]],
            "serialised": p["serialised"],
            "manufacturer": p["manufacturer"],
            "enrolable": p["enrolable"],
            "price_list": catalogue["price_list"],
        }
        for p in catalogue["products"]
    ]
    # Amounts travel as strings and become DECIMAL inside DuckDB: never a float on the way.
    return pl.DataFrame(
        rows,
        schema={
            "product_id": pl.Utf8,
            "name": pl.Utf8,
            "product_class": pl.Utf8,
            "unit_price": pl.Utf8,
            "tax_code": pl.Utf8,
            "tax_rate": pl.Utf8,
            "serialised": pl.Boolean,
            "manufacturer": pl.Utf8,
            "enrolable": pl.Boolean,
            "price_list": pl.Utf8,
        },
    )
