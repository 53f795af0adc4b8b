"""Scenario files: validation messages name file, field path, expected and found."""

from __future__ import annotations

import textwrap

import pytest

from cmpsim.errors import InputError
from cmpsim.scenario import load
from conftest import BASELINE, SMALL


def write(tmp_path, text: str, name: str = "s.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def variant(tmp_path, body: str):
    """A scenario extending the baseline with `body`."""
    return write(tmp_path, f"extends: {BASELINE}\n" + textwrap.dedent(body))


def message(path) -> str:
    with pytest.raises(InputError) as caught:
        load(path)
    return str(caught.value)


def test_baseline_loads_with_defaults_filled_in():
    scenario = load(BASELINE)
    assert scenario.name == "baseline"
    assert scenario["schedules"]["load_poll_minutes"] == 60
    assert scenario["warehouses"][0]["dispatch_time"] == "17:00"  # quoted time stays a string
    assert scenario.property("sales.order.request.extract.fraudcheckrequired") is True
    assert len(scenario.key()) == 32


def test_extends_overrides_a_few_keys_and_keeps_the_rest():
    scenario = load(SMALL)
    assert scenario.name == "small"
    assert scenario.horizon_days == 6
    assert scenario["demand"]["orders_per_day"] == 70
    assert scenario["demand"]["product_mix"] == load(BASELINE)["demand"]["product_mix"]


def test_negative_arrival_rate_names_file_path_expected_found(tmp_path):
    path = variant(tmp_path, "demand: {orders_per_day: -5}\n")
    assert message(path) == f"{path}: demand.orders_per_day: expected a number >= 0, found -5"


def test_misspelt_field_is_reported_with_the_known_ones(tmp_path):
    path = variant(tmp_path, "demand: {orders_per_dya: 5}\n")
    text = message(path)
    assert text.startswith(f"{path}: demand.orders_per_dya: expected one of the fields ")
    assert text.endswith("found unknown field 'orders_per_dya'")


def test_money_as_a_float_is_refused_because_it_would_not_be_exact(tmp_path):
    path = write(tmp_path, (BASELINE.read_text()).replace('unit_price: "499.00"', "unit_price: 499.0"))
    assert message(path) == (f"{path}: catalogue.products[0].unit_price: expected a value of type string, found 499.0")


def test_unknown_product_in_the_mix(tmp_path):
    path = variant(tmp_path, "demand: {product_mix: {PHN-X200: 1, PHN-NOPE: 2}}\n")
    assert message(path) == (
        f"{path}: demand.product_mix.PHN-NOPE: expected a product of the catalogue, found unknown product 'PHN-NOPE'"
    )


def test_distribution_error_is_reported_inside_its_branch(tmp_path):
    path = variant(tmp_path, "demand: {generation_delay_minutes: {dist: lognormal, mean: 5}}\n")
    assert message(path) == f"{path}: demand.generation_delay_minutes.sd: expected a field 'sd', found no such field"


def test_priorities_by_table_8_5_name_are_the_numbers_the_run_stores(tmp_path):
    """Seed 004, Table 8-5: Low 3, Medium 5, High 7, Urgent 9; a name and its number weigh together."""
    path = variant(tmp_path, """\
        service:
          demand: {priority_mix: {Low: 40, "3": 10, High: 15, Urgent: 5}}
          explicit_orders:
            - {id: A, at: "2026-01-05T09:00", account: ACC-DEMO-1, priority: Urgent,
               lines: [{line: "1", product: INET, action: Add}]}
        """)
    service = load(path)["service"]
    assert dict(service["demand"]["priority_mix"]) == {"3": 50, "5": 30, "7": 30, "9": 10}
    assert service["explicit_orders"][0]["priority"] == 9


@pytest.mark.parametrize(("given", "expected"), [
    ('priority: Critical', "service.explicit_orders[0].priority: expected a priority 0-9, or Low, Medium, High, "
                           "Urgent, found 'Critical'"),
    ('priority: 10', "service.explicit_orders[0].priority: expected a number <= 9, found 10"),
])
def test_a_priority_off_both_scales_is_refused_saying_what_is_allowed(tmp_path, given, expected):
    path = variant(tmp_path, f"""\
        service:
          explicit_orders:
            - {{id: A, at: "2026-01-05T09:00", account: ACC-DEMO-1, {given},
               lines: [{{line: "1", product: INET, action: Add}}]}}
        """)
    assert message(path) == f"{path}: {expected}"


@pytest.mark.parametrize(("line", "expected"), [
    ('{line: "1", product: INET, asset: AS-X-1}',
     "expected one of Add, Move-Add, Move-Delete, Delete, Update, Suspend, Resume (only a line with a "
     "price_override and an asset may leave it out: the CRM makes it Update), found nothing"),
    ('{line: "1", product: INET, action: Suspend, asset: AS-X-1, price_override: "20.00"}',
     "expected Update, Add or nothing on a line with a price_override (a manual price override makes a line on "
     "an installed asset an Update), found 'Suspend'"),
])
def test_a_line_says_its_action_unless_a_price_override_makes_it_an_update(tmp_path, line, expected):
    """Seed 004, Table 8-4: overriding a line's price manually changes its action to Update."""
    path = variant(tmp_path, f"""\
        service:
          explicit_orders:
            - {{id: A, type: modify, at: "2026-01-05T09:00", account: ACC-DEMO-1, lines: [{line}]}}
        """)
    assert message(path) == f"{path}: service.explicit_orders[0].lines[0].action: {expected}"


def test_a_products_point_of_no_return_is_one_of_the_steps(tmp_path):
    path = variant(tmp_path, """\
        service:
          products:
            - {id: INET, name: Internet, tax: standard, point_of_no_return: Shipping,
               prices: {Consumer Price List: {recurring: "30.00", one_off: "0.00"}}}
        """)
    assert message(path) == (f"{path}: service.products[0].point_of_no_return: expected one of the steps "
                             "Design, Provision, Activate, found 'Shipping'")


def test_error_in_the_parent_file_names_the_parent(tmp_path):
    parent = write(tmp_path, BASELINE.read_text().replace("horizon_days: 42", "horizon_days: zero"), "parent.yaml")
    child = write(tmp_path, "extends: parent.yaml\nname: child\n", "child.yaml")
    assert message(child) == f"{parent}: horizon_days: expected a value of type integer, found 'zero'"


def test_yaml_syntax_error_gives_line_and_column(tmp_path):
    path = write(tmp_path, "name: x\nseed: [1, 2\n")
    assert message(path).startswith(f"{path}: expected valid YAML, found ")
    assert "line 3" in message(path)


def test_missing_file_and_extends_cycle(tmp_path):
    assert message(tmp_path / "nope.yaml") == f"{tmp_path / 'nope.yaml'}: expected a scenario file, found no such file"
    a = write(tmp_path, "extends: b.yaml\n", "a.yaml")
    write(tmp_path, "extends: a.yaml\n", "b.yaml")
    assert "extends: expected a chain of at most 8 files without cycles" in message(a)


def test_explicit_order_outside_the_horizon(tmp_path):
    path = variant(
        tmp_path,
        """
        demand:
          explicit_orders:
            - {at: "2027-01-01T10:00", account: ACC-DEMO-1, lines: [{product: PHN-X200}]}
        """,
    )
    assert message(path) == (
        f"{path}: demand.explicit_orders[0].at: expected a time within the horizon "
        "2026-01-05 .. 2026-02-16, found 2027-01-01T10:00"
    )


def test_key_from_environment_wins_and_is_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("CMPSIM_KEY", "ab" * 32)
    assert load(BASELINE).key() == bytes.fromhex("ab" * 32)
    monkeypatch.setenv("CMPSIM_KEY", "not-hex")
    with pytest.raises(InputError, match="environment variable CMPSIM_KEY: expected 64 hex digits"):
        load(BASELINE).key()


def test_every_shipped_scenario_is_valid():
    shipped = sorted((BASELINE.parent).glob("*.yaml"))
    assert len(shipped) >= 6
    for path in shipped:
        assert load(path).name == path.stem
