"""Hostile scenario files: whatever a field holds, loading ends in a scenario or an InputError."""
from __future__ import annotations

import copy
import time

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz_inputs import EXAMPLE_S_MAX, fuzz

from cmpsim.errors import InputError
from cmpsim.scenario import load
from conftest import BASELINE, SMALL

BASE = yaml.safe_load(BASELINE.read_text())

junk = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def paths(node, prefix=()):
    """Every (path) to a value in the document, so a mutation can land anywhere."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from paths(value, prefix + (i,))


ALL_PATHS = [p for p in paths(BASE) if p]


@fuzz(60)
@given(where=st.sampled_from(ALL_PATHS), value=junk)
def test_any_value_anywhere_gives_a_scenario_or_a_clear_error(tmp_path_factory, where, value):
    document = copy.deepcopy(BASE)
    node = document
    for part in where[:-1]:
        node = node[part]
    node[where[-1]] = value
    path = tmp_path_factory.mktemp("fuzz") / "s.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    try:
        load(path)
    except InputError as error:
        text = str(error)
        assert text.startswith(f"{path}") and ": expected " in text and ", found " in text
        assert "\n" not in text


# Hostile text rather than hostile values: the file as bytes, cut, re-encoded, or holding what YAML
# allows and a scenario must not (deep nesting, huge numbers, aliases, paths that lead out).
SMALL_TEXT = SMALL.read_text()
RAW_VALUES = st.one_of(
    st.integers(1, 1500).map(lambda d: "[" * d + "]" * d),
    st.integers(1, 6000).map(lambda n: "9" * n),
    st.sampled_from([".inf", "-.inf", ".nan", "0x7fffffffffffffffff", "1e400", "~", "!!binary aGk=", "'\\u0000'",
                     "&a [*a]", "*undefined", "../../x", "/etc/passwd", "{extends: /etc/passwd}",
                     "!!python/object:os.system"]),
    st.integers(1, 5).map(lambda levels: _aliases(levels)))


def _aliases(levels: int) -> str:
    """A value whose aliases expand 10**levels times (a small 'billion laughs')."""
    anchors = ["&l0 [x, x, x, x, x, x, x, x, x, x]"]
    anchors += [f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "[" + ", ".join(anchors) + "]"


@st.composite
def hostile_texts(draw) -> bytes:
    text = SMALL_TEXT.replace("extends: ../../scenarios/baseline.yaml", f"extends: {BASELINE}")
    how = draw(st.sampled_from(["cut", "insert", "encode", "value", "extends"]))
    if how == "cut":
        return text.encode()[:draw(st.integers(0, len(text.encode())))]
    if how == "insert":
        at = draw(st.integers(0, len(text)))
        return text.encode()[:at] + draw(st.binary(max_size=40)) + text.encode()[at:]
    if how == "encode":
        return text.encode(draw(st.sampled_from(["utf-16", "utf-32", "latin-1", "utf-8-sig", "cp500"])),
                           errors="replace")
    if how == "value":
        key = draw(st.sampled_from(["horizon_days", "name", "description", "seed", "demand", "faults", "accounts"]))
        return f"{text}\n{key}: {draw(RAW_VALUES)}\n".encode()
    parent = draw(st.sampled_from(["/", "/dev/null", "/etc/passwd", "../../../../../x", ".", "ü" * 100, "a/" * 100]))
    return f"extends: {parent}\n".encode()


@fuzz(60)
@given(content=hostile_texts())
def test_any_text_gives_a_scenario_or_a_clear_error_quickly(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("fuzz") / "s.yaml"  # (the existing test above fuzzes values, this bytes)
    path.write_bytes(content)
    began = time.perf_counter()
    try:
        load(path)
    except InputError as error:
        assert ": expected " in str(error) and ", found " in str(error) and "\n" not in str(error)
    assert time.perf_counter() - began < EXAMPLE_S_MAX


# Defects these fuzz tests found in cmpsim/scenario.py, fixed, and kept as tests.
def test_a_scenario_nested_1000_deep_is_refused(tmp_path):
    (tmp_path / "s.yaml").write_text(f"extends: {SMALL}\ndescription: " + "[" * 1000 + "]" * 1000 + "\n")
    with pytest.raises(InputError):
        load(tmp_path / "s.yaml")


def test_a_number_of_5000_digits_is_refused(tmp_path):
    (tmp_path / "s.yaml").write_text(f"extends: {SMALL}\nhorizon_days: {'9' * 5000}\n")
    with pytest.raises(InputError):
        load(tmp_path / "s.yaml")


def test_not_a_number_is_refused(tmp_path):
    (tmp_path / "s.yaml").write_text(f"extends: {SMALL}\ndemand: {{orders_per_day: .nan}}\n")
    with pytest.raises(InputError):
        load(tmp_path / "s.yaml")


def test_extends_with_a_name_too_long_is_refused(tmp_path):
    (tmp_path / "s.yaml").write_text("extends: " + "ü" * 300 + "\n")
    with pytest.raises(InputError):
        load(tmp_path / "s.yaml")


def test_a_yaml_bomb_is_refused_for_what_it_is(tmp_path):
    (tmp_path / "s.yaml").write_text(f"extends: {SMALL}\ndescription: {_aliases(7)}\n")
    with pytest.raises(InputError) as refused:
        load(tmp_path / "s.yaml")
    assert "alias" in f"{refused.value.expected} {refused.value.found}".lower()
