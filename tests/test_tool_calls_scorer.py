"""The tool_calls scorer: matching, argument credit, schema problems, destructive calls, and its properties."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_taskbench import Case, ExpectedCall, Tool, ToolCall
from pytest_taskbench.call_parsers import ParsedCalls
from pytest_taskbench.calls import AnyOf
from pytest_taskbench.scoring.fields import field_rules
from pytest_taskbench.scoring.registry import ScorerError, build_scorer
from pytest_taskbench.scoring.tool_calls import CallRules, best_assignment, ordered_alignment, score_calls

PRIORITY = {"enum": ["low", "medium", "high", "urgent"]}
TOOLS = (
    Tool(
        "create_task",
        {
            "type": "object",
            "properties": {"title": {"type": "string"}, "priority": PRIORITY, "due_date": {"type": "string"}, "tags": {"type": "array"}},
            "required": ["title"],
            "additionalProperties": False,
        },
    ),
    Tool("delete_task", {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}, destructive=True),
    Tool("list_tasks", {"type": "object", "properties": {"status": {"enum": ["open", "done"]}, "due_date": {"type": "string"}}}),
)
EXAMPLES = settings(max_examples=120, deadline=None)


def case(expected: list[ExpectedCall], *, ordered: bool = False, tools: tuple[Tool, ...] = TOOLS) -> Case:
    return Case(
        id="c",
        category="calls",
        difficulty="simple",
        expected=[call.as_json() for call in expected],
        input="x",
        tools=tools,
        expected_calls=tuple(expected),
        calls_ordered=ordered,
    )


def text(*calls: tuple[str, dict[str, Any]]) -> str:
    return "".join(f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>" for name, arguments in calls)


SCORER = build_scorer("tool_calls")
CREATE = ExpectedCall("create_task", {"title": "Buy milk", "priority": "high"})
LIST = ExpectedCall("list_tasks", {"status": "open"})


def test_the_expected_calls_in_any_order_score_1_and_prose_scores_0() -> None:
    expected = case([CREATE, LIST])
    assert SCORER(text(("list_tasks", {"status": "open"}), ("create_task", {"title": "Buy milk", "priority": "high"})), expected).value == 1.0
    prose = SCORER("Sure, I have created the task 'Buy milk' for you.", expected)
    assert prose.value == 0.0
    assert prose.reason.startswith("no call: expected create_task(")


def test_argument_credit_tells_missing_from_wrong_from_invented() -> None:
    result = SCORER(text(("create_task", {"title": "Buy milk", "due_date": "2026-03-05"})), case([CREATE]))
    arguments = result.details["call_results"][0]["arguments"]
    assert {name: detail["status"] for name, detail in arguments.items()} == {"title": "match", "priority": "missing", "due_date": "invented"}
    assert result.value == pytest.approx(1 / 3)
    assert "priority missing" in result.reason and "due_date invented" in result.reason
    wrong = SCORER(text(("create_task", {"title": "Buy milk", "priority": "low"})), case([CREATE]))
    assert wrong.details["call_results"][0]["arguments"]["priority"]["status"] == "wrong"
    assert wrong.value == pytest.approx(0.5)


def test_any_of_accepts_each_listed_value_and_null_lets_an_argument_be_left_out() -> None:
    expected = case([ExpectedCall("create_task", {"title": "Buy milk", "priority": AnyOf(("medium", None))})])
    for given_arguments in ({"title": "Buy milk"}, {"title": "Buy milk", "priority": "medium"}):
        assert SCORER(text(("create_task", given_arguments)), expected).value == 1.0
    assert SCORER(text(("create_task", {"title": "Buy milk", "priority": "high"})), expected).value == pytest.approx(0.5)


def test_dates_compare_as_dates_and_weights_count_per_argument() -> None:
    expected = case([ExpectedCall("create_task", {"title": "A", "due_date": "2026-03-05"})])
    assert SCORER(text(("create_task", {"title": "A", "due_date": "2026-03-05T00:00:00"})), expected).value == 1.0
    weighted = build_scorer({"name": "tool_calls", "weights": {"create_task.due_date": 3}})
    assert weighted(text(("create_task", {"title": "A", "due_date": "2026-03-06"})), expected).value == pytest.approx(1 / 4)


def test_an_extra_call_is_penalised_and_an_extra_destructive_call_fails_the_case() -> None:
    expected = case([CREATE])
    right = ("create_task", {"title": "Buy milk", "priority": "high"})
    extra = SCORER(text(right, ("list_tasks", {})), expected)
    assert extra.value == pytest.approx(0.5) and "extra call 2 list_tasks" in extra.reason
    free = build_scorer({"name": "tool_calls", "extra_weight": 0})
    assert free(text(right, ("list_tasks", {})), expected).value == 1.0
    destructive = free(text(right, ("delete_task", {"title": "Buy milk"})), expected)
    assert destructive.value == 0.0
    assert "destructive function delete_task" in destructive.reason
    assert destructive.details["call_results"][-1]["destructive"] is True


def test_schema_problems_are_named_call_by_call() -> None:
    result = SCORER(text(("create_task", {"priority": 3, "colour": "red"}), ("send_email", {})), case([CREATE]))
    problems = result.details["schema_errors"]
    assert "argument 'colour' is not declared by create_task" in problems["0"]
    assert any("missing required argument" in p and "'title'" in p for p in problems["0"])
    assert any(p.startswith("argument 'priority': 3 is not one of") for p in problems["0"])
    assert problems["1"] == ["unknown function 'send_email' (offered: create_task, delete_task, list_tasks)"]


def test_an_unreadable_call_counts_as_an_extra_call() -> None:
    result = SCORER(text(("create_task", {"title": "Buy milk", "priority": "high"})) + "<tool_call>{not json</tool_call>", case([CREATE]))
    assert result.value == pytest.approx(0.5)
    assert result.details["parse_problems"] and "unreadable call" in result.reason


def test_calls_ordered_needs_the_order_and_aligns_past_an_extra_call() -> None:
    a, b = ExpectedCall("list_tasks", {"status": "open"}), ExpectedCall("create_task", {"title": "T"})
    given_calls = text(("create_task", {"title": "T"}), ("list_tasks", {"status": "open"}))
    assert SCORER(given_calls, case([a, b])).value == 1.0
    assert SCORER(given_calls, case([a, b], ordered=True)).value == pytest.approx(1 / 3)  # one pair in order, one missing, one extra
    aligned = SCORER(text(("list_tasks", {"status": "open"}), ("list_tasks", {}), ("create_task", {"title": "T"})), case([a, b], ordered=True))
    assert aligned.value == pytest.approx(2 / 3)


def test_the_assignment_is_the_best_of_all_and_ties_pairs_each_call_once() -> None:
    rng = random.Random(7)
    for _ in range(60):
        rows, columns = rng.randint(1, 5), rng.randint(1, 5)
        credit = [[rng.choice([0.0, 0.25, 0.5, 1.0, rng.random()]) for _ in range(columns)] for _ in range(rows)]
        pairs = best_assignment(credit)
        assert len(pairs) == min(rows, columns)
        assert len({i for i, _ in pairs}) == len({j for _, j in pairs}) == len(pairs)
        best = max(sum(credit[i][j] for i, j in zip(order, cols)) for order in _permutations(range(rows)) for cols in _permutations(range(columns)))
        assert sum(credit[i][j] for i, j in pairs) == pytest.approx(best)


def _permutations(items: range) -> list[tuple[int, ...]]:
    from itertools import permutations

    return list(permutations(items))


def test_the_ordered_alignment_keeps_both_orders() -> None:
    eligible: list[list[float | None]] = [[None, 1.0, None], [0.5, None, 0.2]]
    assert ordered_alignment(eligible) == [(0, 1), (1, 2)]


def test_function_weight_credits_the_right_function_as_one_more_argument() -> None:
    expected = case([ExpectedCall("complete_task", {"title": "Car wash"})], tools=(*TOOLS, Tool("complete_task", TOOLS[1].parameters)))
    wrong_title = text(("complete_task", {"title": "Pay my car"}))
    assert SCORER(wrong_title, expected).value == 0.0
    credited = build_scorer({"name": "tool_calls", "function_weight": 1})
    assert credited(wrong_title, expected).value == pytest.approx(0.5)
    assert credited(text(("complete_task", {"title": "Car wash"})), expected).value == 1.0
    assert credited(text(("delete_task", {"title": "Car wash"})), expected).value == 0.0  # a wrong function earns nothing
    with pytest.raises(ScorerError, match="function_weight must be a number >= 0, got -1"):
        build_scorer({"name": "tool_calls", "function_weight": -1})


VALID = build_scorer("valid_tool_calls")


@pytest.mark.parametrize(
    ("output", "score", "reason"),
    [
        (text(("create_task", {"title": "Milk", "priority": "low"})), 1.0, "the call is well formed"),
        (text(("create_task", {"title": "A"}), ("list_tasks", {"status": "open"})), 1.0, "all 2 calls are well formed"),
        (text(("create_task", {"title": "Milk", "priority": "asap"})), 0.5, "call 1 create_task: argument 'priority': 'asap' is not one of"),
        (text(("create_task", {"priority": "low"})), 0.5, "call 1 create_task: missing required argument: 'title' is a required property"),
        (text(("send_email", {})), 0.5, "call 1 send_email: unknown function 'send_email'"),
        ("Sure, I added Milk to your list.", 0.0, "no call"),
        ("<tool_call>{not json</tool_call>", 0.0, "unreadable call: "),
    ],
)
def test_valid_tool_calls_scores_the_form_of_the_calls_not_their_content(output: str, score: float, reason: str) -> None:
    result = VALID(output, case([ExpectedCall("list_tasks", {"status": "done"})]))  # the wrong call, but a well-formed one, still scores 1
    assert result.value == score and result.reason.startswith(reason), result.reason


def test_valid_tool_calls_accepts_no_call_where_none_is_expected() -> None:
    assert VALID("I cannot help with that.", case([])).value == 1.0
    assert VALID(text(("list_tasks", {})), case([])).value == 1.0  # a call where none is expected is tool_calls' business
    assert build_scorer({"name": "valid_tool_calls", "invalid_score": 0})(text(("send_email", {})), case([])).value == 0.0


def test_no_expected_call_and_no_call_scores_1() -> None:
    assert SCORER("I cannot help with that.", case([])).value == 1.0
    assert SCORER(text(("list_tasks", {})), case([])).value == 0.0


# properties -------------------------------------------------------------------------

names = st.sampled_from(["create_task", "delete_task", "list_tasks", "other"])
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
argument_names = st.sampled_from(["title", "priority", "due_date", "status", "tags", "x"])
arguments = st.dictionaries(argument_names, json_values, max_size=4)
given_calls = st.lists(st.builds(ToolCall, names, arguments), max_size=4)
expected_calls = st.lists(st.builds(ExpectedCall, names.filter(lambda n: n != "other"), arguments), max_size=4)
RULES = CallRules(field_rules(contains_fields=("title",)))
function_weights = st.sampled_from([0.0, 0.5, 1.0])


def rules_with(function_weight: float) -> CallRules:
    return CallRules(RULES.fields, function_weight=function_weight)


@EXAMPLES
@given(expected=expected_calls, calls=given_calls, problems=st.lists(st.text(max_size=5), max_size=2), ordered=st.booleans(), function_weight=function_weights)
def test_the_score_lies_in_0_1_and_scoring_never_raises(
    expected: list[ExpectedCall], calls: list[ToolCall], problems: list[str], ordered: bool, function_weight: float
) -> None:
    score = score_calls(expected, ParsedCalls(tuple(calls), tuple(problems)), TOOLS, rules_with(function_weight), ordered=ordered)
    assert 0.0 <= score.value <= 1.0
    json.dumps(score.details, default=str)


@pytest.mark.slow  # 120 hypothesis examples of whole call lists: about a second; the score-range property stays in the fast loop
@EXAMPLES
@given(expected=expected_calls, calls=given_calls, seed=st.randoms(), function_weight=function_weights)
def test_unordered_scores_do_not_depend_on_the_order_of_the_calls(
    expected: list[ExpectedCall], calls: list[ToolCall], seed: random.Random, function_weight: float
) -> None:
    shuffled_calls, shuffled_expected = list(calls), list(expected)
    seed.shuffle(shuffled_calls)
    seed.shuffle(shuffled_expected)
    rules = rules_with(function_weight)
    first = score_calls(expected, ParsedCalls(tuple(calls)), TOOLS, rules).value
    assert score_calls(shuffled_expected, ParsedCalls(tuple(shuffled_calls)), TOOLS, rules).value == pytest.approx(first)


@pytest.mark.slow  # 120 hypothesis examples of whole call lists: about a second; the score-range property stays in the fast loop
@EXAMPLES
@given(expected=expected_calls.filter(bool), calls=given_calls.filter(bool), data=st.data(), ordered=st.booleans(), function_weight=function_weights)
def test_fixing_an_argument_never_lowers_the_score(
    expected: list[ExpectedCall], calls: list[ToolCall], data: st.DataObject, ordered: bool, function_weight: float
) -> None:
    """Set one argument of a call to what its paired expected call wants (or drop an invented one): the score never falls."""
    rules = rules_with(function_weight)
    before = score_calls(expected, ParsedCalls(tuple(calls)), TOOLS, rules, ordered=ordered)
    pairs = [(r["expected"], r["got"]) for r in before.details["call_results"] if r["expected"] is not None and r["got"] is not None]
    if not pairs:
        return
    i, j = data.draw(st.sampled_from(pairs))
    names_to_fix = sorted(set(expected[i].arguments) | set(calls[j].arguments))
    if not names_to_fix:
        return
    name = data.draw(st.sampled_from(names_to_fix))
    fixed_arguments = dict(calls[j].arguments)
    if name in expected[i].arguments:
        fixed_arguments[name] = expected[i].arguments[name]
    else:
        fixed_arguments.pop(name)  # an invented argument, fixed by leaving it out
    fixed = [*calls[:j], ToolCall(calls[j].name, fixed_arguments), *calls[j + 1 :]]
    assert score_calls(expected, ParsedCalls(tuple(fixed)), TOOLS, rules, ordered=ordered).value >= before.value - 1e-9
