"""Hostile scenario files: whatever a field holds, loading ends in a scenario or an InputError."""
from __future__ import annotations

import copy

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmpsim.errors import InputError
from cmpsim.scenario import load
from conftest import BASELINE

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


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
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
