"""Line actions on asset states: the whole action × state matrix, and moves within one order."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from cmpsim.fulfilment.assets import (
    ACTIONS,
    NO_ASSET,
    STATES,
    TRANSITIONS,
    _judge_few,
    _judge_many,
    _plain,
    judge_lines,
)

ASSET_SCHEMA = {"asset_id": pl.String, "state": pl.String, "location": pl.String}
LINE_SCHEMA = {"order_id": pl.String, "line_no": pl.String, "action": pl.String, "asset_id": pl.String,
               "location": pl.String}  # fmt: skip

# Every action on every state it may find: the new state, or the rejection reason.
EXPECTED = {
    ("Add", NO_ASSET): "Active",
    ("Add", "Active"): "Add needs no existing asset, found Active",
    ("Add", "Suspended"): "Add needs no existing asset, found Suspended",
    ("Add", "Moving"): "Add needs no existing asset, found Moving",
    ("Add", "Disconnected"): "Add needs no existing asset, found Disconnected",
    ("Suspend", NO_ASSET): "Suspend needs an Active asset, found no asset",
    ("Suspend", "Active"): "Suspended",
    ("Suspend", "Suspended"): "Suspend needs an Active asset, found Suspended",
    ("Suspend", "Moving"): "Suspend needs an Active asset, found Moving",
    ("Suspend", "Disconnected"): "Suspend needs an Active asset, found Disconnected",
    ("Resume", NO_ASSET): "Resume needs a Suspended asset, found no asset",
    ("Resume", "Active"): "Resume needs a Suspended asset, found Active",
    ("Resume", "Suspended"): "Active",
    ("Resume", "Moving"): "Resume needs a Suspended asset, found Moving",
    ("Resume", "Disconnected"): "Resume needs a Suspended asset, found Disconnected",
    ("Move-Delete", NO_ASSET): "Move-Delete needs an Active asset, found no asset",
    ("Move-Delete", "Active"): "Moving",
    ("Move-Delete", "Suspended"): "Move-Delete needs an Active asset, found Suspended",
    ("Move-Delete", "Moving"): "Move-Delete needs an Active asset, found Moving",
    ("Move-Delete", "Disconnected"): "Move-Delete needs an Active asset, found Disconnected",
    ("Move-Add", NO_ASSET): "Move-Add needs a Moving asset, found no asset",
    ("Move-Add", "Active"): "Move-Add needs a Moving asset, found Active",
    ("Move-Add", "Suspended"): "Move-Add needs a Moving asset, found Suspended",
    ("Move-Add", "Moving"): "Active",
    ("Move-Add", "Disconnected"): "Move-Add needs a Moving asset, found Disconnected",
    ("Update", NO_ASSET): "Update needs an Active or Suspended asset, found no asset",
    ("Update", "Active"): "Active",
    ("Update", "Suspended"): "Suspended",
    ("Update", "Moving"): "Update needs an Active or Suspended asset, found Moving",
    ("Update", "Disconnected"): "Update needs an Active or Suspended asset, found Disconnected",
    ("Delete", NO_ASSET): "Delete needs an Active, Suspended or Moving asset, found no asset",
    ("Delete", "Active"): "Disconnected",
    ("Delete", "Suspended"): "Disconnected",
    ("Delete", "Moving"): "Disconnected",
    ("Delete", "Disconnected"): "Delete needs an Active, Suspended or Moving asset, found Disconnected",
}


def assets(*rows: tuple) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=ASSET_SCHEMA, orient="row")


def lines(*rows: tuple) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=LINE_SCHEMA, orient="row")


def test_the_matrix_covers_every_action_on_every_state():
    assert set(EXPECTED) == {(a, s) for a in ACTIONS for s in (NO_ASSET, *STATES)}


@pytest.mark.parametrize("action, state", list(EXPECTED))
def test_an_action_on_a_state(action, state):
    installed = assets() if state == NO_ASSET else assets(("A1", state, None if state == "Moving" else "Old Street 1"))
    asset_id = None if state == NO_ASSET else "A1"
    judged = judge_lines(lines(("O1", "1", action, asset_id, "New Street 2")), installed).row(0, named=True)
    expected = EXPECTED[action, state]
    assert judged["from_state"] == state
    if expected in STATES:
        assert (judged["verdict"], judged["reason"], judged["new_state"]) == ("accepted", None, expected)
    else:
        assert (judged["verdict"], judged["reason"]) == ("rejected", expected)
        assert judged["new_state"] == (None if state == NO_ASSET else state)  # the asset is left as it was


def test_every_accepted_transition_is_in_the_table_and_nothing_leaves_disconnected():
    accepted = {(a, s) for (a, s), outcome in EXPECTED.items() if outcome in STATES}
    assert accepted == set(TRANSITIONS.select("action", "from_state").iter_rows())
    assert TRANSITIONS.filter(pl.col("from_state") == "Disconnected").is_empty()


def test_locations_follow_adds_and_moves_and_stay_put_otherwise():
    installed = assets(("A1", "Active", "Old Street 1"), ("A2", "Active", "Old Street 1"))
    judged = judge_lines(
        lines(
            ("O1", "1", "Add", "A9", "New Street 2"),
            ("O1", "2", "Move-Delete", "A1", None),
            ("O2", "1", "Suspend", "A2", "New Street 2"),  # a location on a Suspend line is ignored
        ),
        installed,
    )
    assert judged["new_location"].to_list() == ["New Street 2", None, "Old Street 1"]


def test_a_move_pair_in_one_order_reinstalls_the_asset_at_the_new_location():
    judged = judge_lines(
        lines(("O1", "1", "Move-Delete", "A1", None), ("O1", "2", "Move-Add", "A1", "New Street 2")),
        assets(("A1", "Active", "Old Street 1")),
    )
    assert judged.select("action", "from_state", "verdict", "new_state", "new_location").rows() == [
        ("Move-Delete", "Active", "accepted", "Moving", None),
        ("Move-Add", "Moving", "accepted", "Active", "New Street 2"),
    ]


def test_a_suspended_asset_must_be_resumed_before_it_moves():
    judged = judge_lines(
        lines(("O1", "1", "Move-Delete", "A1", None), ("O1", "2", "Move-Add", "A1", "New Street 2")),
        assets(("A1", "Suspended", "Old Street 1")),
    )
    assert judged["reason"].to_list() == [
        "Move-Delete needs an Active asset, found Suspended",
        "Move-Add needs a Moving asset, found Suspended",
    ]
    assert judged["new_location"].to_list() == ["Old Street 1", "Old Street 1"]


def test_a_move_delete_in_another_order_does_not_count_for_a_move_add():
    judged = judge_lines(
        lines(("O1", "1", "Move-Delete", "A1", None), ("O2", "1", "Move-Add", "A1", "New Street 2")),
        assets(("A1", "Active", "Old Street 1")),
    )
    assert judged.select("order_id", "from_state", "verdict", "reason", "new_state", "new_location").rows() == [
        ("O1", "Active", "accepted", None, "Moving", None),
        ("O2", "Active", "rejected", "asset A1 is already being changed by order O1 line 1", "Active", "Old Street 1"),
    ]


def test_of_two_orders_on_one_asset_the_second_is_rejected_and_the_first_judged_as_alone():
    judged = judge_lines(
        lines(("O2", "1", "Delete", "A1", None), ("O1", "3", "Suspend", "A1", None), ("O1", "1", "Add", "A2", "X 1")),
        assets(("A1", "Active", "Old Street 1")),
    )
    assert judged.select("order_id", "line_no", "verdict", "reason", "new_state").rows() == [
        ("O2", "1", "rejected", "asset A1 is already being changed by order O1 line 3", "Active"),
        ("O1", "3", "accepted", None, "Suspended"),
        ("O1", "1", "accepted", None, "Active"),
    ]


def test_the_submission_sequence_decides_which_order_gets_the_asset():
    batch = lines(("O1", "1", "Suspend", "A1", None), ("O2", "1", "Delete", "A1", None))
    judged = judge_lines(batch.with_columns(seq=pl.Series([2, 1])), assets(("A1", "Active", "Old Street 1")))
    assert judged.select("order_id", "verdict", "reason", "new_state").rows() == [
        ("O1", "rejected", "asset A1 is already being changed by order O2 line 1", "Active"),
        ("O2", "accepted", None, "Disconnected"),
    ]
    assert judged.columns[: len(batch.columns) + 1] == [*batch.columns, "seq"]


def test_a_move_pair_keeps_its_asset_against_a_later_order_and_a_third_line_of_its_own():
    judged = judge_lines(
        lines(
            ("O1", "2", "Move-Add", "A1", "New Street 2"),
            ("O1", "10", "Move-Delete", "A1", None),
            ("O2", "1", "Suspend", "A1", None),
        ),
        assets(("A1", "Active", "Old Street 1")),
    )
    assert judged.select("verdict", "from_state", "new_state", "new_location").rows() == [
        ("accepted", "Moving", "Active", "New Street 2"),
        ("accepted", "Active", "Moving", None),
        ("rejected", "Active", "Active", "Old Street 1"),
    ]
    assert judged["reason"][2] == "asset A1 is already being changed by order O1 line 2"
    crowded = judge_lines(
        lines(
            ("O1", "1", "Move-Delete", "A1", None),
            ("O1", "2", "Move-Add", "A1", "New Street 2"),
            ("O1", "3", "Update", "A1", None),
        ),
        assets(("A1", "Active", "Old Street 1")),
    )
    assert crowded.select("verdict", "from_state", "reason").rows() == [
        ("accepted", "Active", None),
        ("rejected", "Active", "asset A1 is already being changed by order O1 line 1"),
        ("rejected", "Active", "asset A1 is already being changed by order O1 line 1"),
    ]


def test_unknown_actions_are_refused():
    with pytest.raises(ValueError, match="unknown line actions: \\['Transfer'\\]"):
        judge_lines(lines(("O1", "1", "Transfer", "A1", None)), assets(("A1", "Active", "Old Street 1")))


# A poll's few lines are judged in plain Python, a large batch by one polars plan: the same verdicts.
LINE_ROWS = st.tuples(st.sampled_from(["O1", "O2", "O3"]), st.sampled_from(["1", "2", "10", "1.1", "2.10", "2.9"]),
                      st.sampled_from(ACTIONS), st.sampled_from([None, "A1", "A2", "A3", "AS-O1-1"]),
                      st.sampled_from([None, "New Street 2", "Hill 3"]))
ASSET_ROWS = st.dictionaries(st.sampled_from(["A1", "A2", "A3"]),
                             st.tuples(st.sampled_from(STATES), st.sampled_from([None, "Old Street 1"])), max_size=3)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(rows=st.lists(LINE_ROWS, max_size=8), installed=ASSET_ROWS,
       seqs=st.one_of(st.none(), st.lists(st.integers(1, 3), min_size=8, max_size=8)))
def test_a_few_lines_are_judged_in_python_exactly_as_the_plan_judges_many(rows, installed, seqs):
    batch = lines(*rows)
    if seqs is not None:
        batch = batch.with_columns(seq=pl.Series(seqs[: batch.height], dtype=pl.Int64))
    found = assets(*[(a, state, place) for a, (state, place) in installed.items()])
    assert _plain(batch, found)
    assert_frame_equal(_judge_few(batch, found), _judge_many(batch, found))


def test_a_line_number_that_is_not_numbers_goes_to_the_plan():
    odd = lines(("O1", "2a", "Suspend", "A1", None), ("O1", "1", "Add", None, "X 1"))
    assert not _plain(odd, assets(("A1", "Active", "Old Street 1")))
    assert judge_lines(odd, assets(("A1", "Active", "Old Street 1")))["verdict"].to_list() == ["accepted"] * 2
