"""The state scorer: identical states score 1, scores lie in [0, 1], unintended deletions and changes are flagged."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pytest_taskbench.scoring.state import compare_states

KEYS = {"items": "key"}
values = st.one_of(st.integers(-5, 5), st.text(max_size=4), st.booleans(), st.none())
record = st.fixed_dictionaries({"key": st.text(min_size=1, max_size=6)}, optional={"value": values, "tag": values})
records = st.lists(record, max_size=6, unique_by=lambda r: r["key"].strip().casefold())
states = st.fixed_dictionaries({"items": records}, optional={"note": values})


@given(states)
def test_identical_states_score_one_with_no_side_effects(state: dict[str, Any]) -> None:
    compared = compare_states(state, state, KEYS, state)
    assert compared.score == 1.0
    assert compared.side_effects == ()


@given(states, states, states)
def test_any_two_states_score_in_the_unit_interval(expected: dict[str, Any], actual: dict[str, Any], initial: dict[str, Any]) -> None:
    for collections in (KEYS, {"items": None}):
        assert 0.0 <= compare_states(expected, actual, collections, initial).score <= 1.0


@given(states, st.data())
def test_deleting_a_record_the_expected_state_keeps_is_a_critical_side_effect(state: dict[str, Any], data: st.DataObject) -> None:
    if not state["items"]:
        return
    gone = data.draw(st.sampled_from(state["items"]))
    actual = {**state, "items": [r for r in state["items"] if r is not gone]}
    compared = compare_states(state, actual, KEYS, state)
    assert [(e.kind, e.record, e.critical) for e in compared.critical] == [("deleted", gone["key"], True)]
    assert compared.score < 1.0


def test_a_changed_record_the_expected_state_keeps_as_it_was_is_flagged_with_its_fields() -> None:
    state = {"items": [{"key": "rent", "value": "open"}, {"key": "milk", "value": "open"}]}
    actual = {"items": [{"key": "rent", "value": "done"}, {"key": "milk", "value": "open"}]}
    compared = compare_states(state, actual, KEYS, state)
    assert [(e.kind, e.record, e.fields) for e in compared.side_effects] == [("modified", "rent", ("value",))]


def test_an_intended_change_and_an_added_record_are_not_critical() -> None:
    initial = {"items": [{"key": "rent", "value": "open"}]}
    expected = {"items": [{"key": "rent", "value": "done"}]}
    actual = {"items": [{"key": "Rent ", "value": "done"}, {"key": "spam", "value": 1}]}
    compared = compare_states(expected, actual, KEYS, initial)
    assert [(e.kind, e.critical) for e in compared.side_effects] == [("added", False)]
    assert compared.score == 0.5  # the expected record matches (key trimmed, case-folded); the extra one scores 0


def test_without_a_key_records_are_matched_by_best_field_credit() -> None:
    expected = {"items": [{"key": "a", "value": 1}, {"key": "b", "value": 2}]}
    actual = {"items": [{"key": "b", "value": 2}, {"key": "a", "value": 9}]}
    compared = compare_states(expected, actual, {"items": None}, None)
    assert compared.score == 0.75
