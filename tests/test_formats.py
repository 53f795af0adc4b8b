"""Numbers and days as every report, table and bill shows them (`cmpsim.formats`): one locale, one
rounding rule for money, never a float amount."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmpsim import documents, formats


@pytest.mark.parametrize(("value", "shown"), [
    (Decimal("-1234.5"), "-1,234.50"), (Decimal("0.005"), "0.01"), (Decimal("-0.005"), "-0.01"),
    (Decimal("-0.004"), "0.00"), (Decimal("2817784.514"), "2,817,784.51"), (12, "12.00"),
])
def test_an_amount_is_rounded_half_away_from_zero_and_separated_in_thousands(value, shown):
    assert formats.amount(value) == shown == documents.money(value)  # the bills say it the same way


@given(st.decimals(min_value=Decimal("-1e15"), max_value=Decimal("1e15"), places=3))
def test_an_amount_shown_reads_back_as_its_value_to_the_cent(value):
    shown = formats.amount(value)
    assert Decimal(shown.replace(",", "")) == formats.cents(value)
    assert Decimal(shown.replace(",", "")) - value in (Decimal(0), *[Decimal(d) / 1000 for d in range(-5, 6)])


def test_money_is_never_a_float():
    with pytest.raises(TypeError, match="money must be a Decimal, found float"):
        formats.amount(1.5)
    with pytest.raises(TypeError):
        formats.money(True, "EUR")


def test_figures_say_their_unit():
    assert formats.figure(Decimal("2817784.51"), "money", "EUR") == "€2,817,784.51"
    assert formats.figure(Decimal("-3.10"), "money", "GBP") == "-£3.10"
    assert formats.figure(0.2074, "share") == "20.7%" and formats.figure(0.73, "share") == "73.0%"
    assert formats.figure(7.4712, "hours") == "7.5 h" and formats.figure(10204, "count") == "10,204"
    assert formats.figure(None, "hours") == formats.MISSING
    with pytest.raises(ValueError, match="unit must be one of"):
        formats.figure(1, "furlongs")


def test_days_codes_priorities_and_probe_targets_in_words():
    assert formats.day(dt.date(2026, 9, 5)) == "5 Sep 2026" == documents.date(dt.date(2026, 9, 5))
    assert formats.moment(dt.datetime(2026, 1, 22, 6, 0, 59)) == "22 Jan 2026, 06:00"
    assert documents.period(dt.date(2026, 1, 15), dt.date(2026, 2, 14)) == "15\u00a0Jan – 14\u00a0Feb\u00a02026"
    assert formats.words("push_handset") == "Push to handset" and formats.words("sla") == "SLA"
    assert formats.words("some_new_code") == "some new code"
    assert formats.priority(9) == "Urgent (9)" and formats.priority(4) == "4"
    assert formats.condition("> 0") == "value above 0" and formats.condition(" >= 12.5") == "value at least 12.5"
    assert formats.condition("== 0") == "value equal to 0"
