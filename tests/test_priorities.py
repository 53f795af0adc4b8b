"""The priority scales: the seed's JMS values and TMF622's mapping onto them."""

from __future__ import annotations

import json

import pytest

from cmpsim.priorities import FROM_TMF622, NAMED, from_tmf622
from conftest import TESTS

SAMPLE = TESTS / "external" / "tmf" / "TMF622_Product_Ordering" / "ProductOrder.example.json"


def test_named_levels_of_table_8_5():
    assert NAMED == {"Low": 3, "Medium": 5, "High": 7, "Urgent": 9}


def test_tmf622_highest_is_urgent_and_order_is_kept():
    assert from_tmf622("0") == NAMED["Urgent"] and from_tmf622("3") == NAMED["Low"]
    values = [FROM_TMF622[str(i)] for i in range(5)]
    assert values == sorted(values, reverse=True) and all(0 <= v <= 9 for v in values)


def test_a_crm_sending_siebel_names_is_understood():
    assert [from_tmf622(name) for name in ("Low", "Medium", "High", "Urgent")] == [3, 5, 7, 9]


def test_the_tm_forum_sample_maps():
    priority = json.loads(SAMPLE.read_text())["priority"]
    assert from_tmf622(priority) in range(10)


@pytest.mark.parametrize("bad", ["5", "-1", "urgent", None, 1])
def test_anything_else_is_refused_with_the_expected_values(bad):
    with pytest.raises(ValueError, match=r'expected a TMF622 priority "0" \(highest\) … "4" \(lowest\) or Low, '):
        from_tmf622(bad)
