"""Numbers and days as people read them, the same way in every report, table and document.

One locale (`LOCALE`, English: `1,234.50`, `5 Jan 2026`) and one set of patterns, formatted by
Babel from the CLDR data rather than by hand. Money is exact: an amount is rounded to the cent by
the project's one rule (half a cent away from zero) before Babel sees it, so Babel never rounds it
again (its own rule is half to even); floats are refused. Shares are percentages with one decimal,
hours have one decimal and say "h". Babel is imported on first use, so that a command that formats
nothing (`cmpsim --help`) does not pay for loading it.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

LOCALE = "en"
CENT = Decimal("0.01")
DAY = "d MMM y"  # 5 Jan 2026
MISSING = "—"  # a figure the run does not have (no completed order, no invoice yet)

#: What a figure counts, so that it is shown with its unit: see `figure`.
UNITS = ("count", "share", "hours", "money")


def cents(value: Decimal | int) -> Decimal:
    """`value` to the cent, half a cent away from zero; never -0.00. A float is a TypeError."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"money must be a Decimal, found {type(value).__name__}: {value!r}")
    value = Decimal(value)
    if not value.is_finite():
        raise ValueError(f"money must be a finite number, found {value}")
    rounded = value.quantize(CENT, rounding=ROUND_HALF_UP)
    return abs(rounded) if rounded.is_zero() else rounded


def amount(value: Decimal | int) -> str:
    """An amount to the cent with thousands separators, for a column that names its currency:
    Decimal("-1234.5") → "-1,234.50"."""
    from babel.numbers import format_decimal

    return format_decimal(cents(value), format="#,##0.00", locale=LOCALE)


def money(value: Decimal | int, currency: str) -> str:
    """An amount with its currency, where the figure stands alone: (2817784.51, "EUR") → "€2,817,784.51"."""
    if not currency:
        return amount(value)
    from babel.numbers import format_currency

    return format_currency(cents(value), currency, locale=LOCALE)


def count(value: int | None) -> str:
    """A whole number with thousands separators: 10204 → "10,204"."""
    return MISSING if value is None else _decimal(value, "#,##0")


def share(value: float | None) -> str:
    """A share of 1 as a percentage with one decimal: 0.2074 → "20.7%"."""
    from babel.numbers import format_percent

    return MISSING if value is None else format_percent(value, format="#,##0.0%", locale=LOCALE)


def hours(value: float | None) -> str:
    """A duration in hours with one decimal: 7.4712 → "7.5 h"."""
    return MISSING if value is None else _decimal(value, "#,##0.0") + " h"


def number(value: float | None, decimals: int = 1) -> str:
    """A measured number with `decimals` decimals and thousands separators."""
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return MISSING if value is None else _decimal(value, pattern)


def _decimal(value: float | int, pattern: str) -> str:
    from babel.numbers import format_decimal

    return format_decimal(value, format=pattern, locale=LOCALE)


def day(value: dt.date) -> str:
    """A day: "5 Jan 2026"."""
    if not isinstance(value, dt.date):
        raise TypeError(f"day must be a datetime.date, found {type(value).__name__}: {value!r}")
    from babel.dates import format_date

    return format_date(value, DAY, locale=LOCALE)


def moment(value: dt.datetime | None) -> str:
    """A moment of simulated time to the minute: "22 Jan 2026, 06:00" (no time zone: the run's clock)."""
    return MISSING if value is None else f"{day(value.date())}, {value:%H:%M}"


def figure(value: Any, unit: str, currency: str = "") -> str:
    """A key figure in its unit (one of UNITS)."""
    if value is None:
        return MISSING
    if unit == "money":
        return money(value, currency)
    if unit == "share":
        return share(value)
    if unit == "hours":
        return hours(value)
    if unit == "count":
        return count(value)
    raise ValueError(f"unit must be one of {', '.join(UNITS)}, found {unit!r}")


# --- words for the codes a run stores ------------------------------------------------------------

#: How a person says a code the run database stores (channels, kinds of probe, billing modes, processes).
WORDS = {
    "email": "E-mail", "sms": "SMS", "letter": "Letter", "push_handset": "Push to handset",
    "push_external": "Push to external app",
    "alert": "Alert", "sla": "SLA",
    "next_invoice": "on the next invoice", "immediate": "at once, on their own invoice",
    "hardware": "hardware sales orders", "service": "service orders", "billing": "billing", "ledger": "ledger postings",
    "probes": "probes", "comms": "customer communications",
    "GL": "General ledger", "SL": "Sales ledger",
}
PRIORITY_NAMES = {3: "Low", 5: "Medium", 7: "High", 9: "Urgent"}  # Siebel CRM, Table 8-5


def sentence(text: str) -> str:
    """Text as a label begins: "invoiced, gross" → "Invoiced, gross" (the rest as it is: "GL" stays)."""
    return text[:1].upper() + text[1:]


def shortened(text: str, chars_max: int) -> str:
    """`text` cut to `chars_max` characters, an ellipsis saying so."""
    return text if len(text) <= chars_max else text[: chars_max - 1] + "…"


def words(code: str | None) -> str:
    """A stored code in words: "push_handset" → "Push to handset"; an unknown code loses its underscores."""
    if code is None:
        return MISSING
    return WORDS.get(code, code.replace("_", " "))


def priority(value: int | None) -> str:
    """A service-order priority with its name where it has one: 9 → "Urgent (9)", 4 → "4"."""
    if value is None:
        return MISSING
    return f"{PRIORITY_NAMES[value]} ({value})" if value in PRIORITY_NAMES else str(value)


def condition(target: str) -> str:
    """A probe's target — the condition a healthy value meets — in words: "> 0" → "value above 0"."""
    comparisons = {">=": "at least", "<=": "at most", "==": "equal to", "!=": "not", ">": "above", "<": "below"}
    for sign, word in comparisons.items():
        if target.strip().startswith(sign):
            return f"value {word} {target.strip()[len(sign):].strip()}"
    return target
