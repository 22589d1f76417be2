"""Properties of every built-in scorer: scores in [0, 1], never raising, perfect outputs, monotonicity."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_taskbench import Case, Score
from pytest_taskbench.scoring import Scorer, build_scorer, registered_scorers
from pytest_taskbench.scoring.extract import jsonable
from pytest_taskbench.scoring.general import expected_text
from pytest_taskbench.scoring.packs.taskapi import TASK_ACTIONS, task_expected
from pytest_taskbench.scoring.registry import PACKS
from tests.helpers.embeddings import trigram_models
from tests.helpers.scorers import ISSUE_4_SCORERS

DEFAULTS = {"priority": "medium"}
PRIORITIES = ("low", "medium", "high", "urgent")
TASK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["action"],
    "properties": {
        "action": {"enum": list(TASK_ACTIONS)},
        "title": {"type": "string", "minLength": 1},
        "priority": {"enum": list(PRIORITIES)},
        "due_date": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
        "due_time": {"type": "string", "pattern": "^[0-9]{2}:[0-9]{2}$"},
        "assignee": {"type": "string", "minLength": 1},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
}
EMBEDDINGS = trigram_models()  # semantic_similarity and the semantic field credit compare texts with it
CONTEXT = {"schema": TASK_SCHEMA, "defaults": DEFAULTS, "reference_date": dt.date(2026, 3, 4), "suite_dir": ".", "embeddings": EMBEDDINGS}
EXAMPLES = settings(max_examples=150, deadline=None)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
yaml_values = st.recursive(
    json_scalars | st.dates() | st.datetimes() | st.just(float("nan")),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner) | st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=3),
    max_leaves=8,
)
iso_dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31)).map(dt.date.isoformat)
clock_times = st.times().map(lambda t: t.strftime("%H:%M"))
titles = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=30).filter(str.strip)
task_fields = {
    "title": titles,
    "priority": st.sampled_from(PRIORITIES),
    "due_date": iso_dates,
    "due_time": clock_times,
    "assignee": titles,
    "tags": st.lists(st.text(min_size=1, max_size=8), max_size=3),
}
task_objects = st.fixed_dictionaries({"action": st.sampled_from(TASK_ACTIONS)}, optional=task_fields)
expected_values = yaml_values | task_objects | st.sampled_from(TASK_ACTIONS)


def dumped(values: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    return values.map(lambda value: json.dumps(jsonable(value)))


outputs = st.one_of(
    st.text(),
    dumped(json_values),
    dumped(task_objects),
    dumped(task_objects).map(lambda text: f"Sure, here it is:\n```json\n{text}\n```"),
    dumped(task_objects).map(lambda text: f"The answer is {text} I hope"),
    st.integers(1, 200).map(lambda depth: "[" * depth + "]" * depth),
)
cases = st.builds(
    Case,
    id=st.just("c1"),
    category=st.just("any"),
    difficulty=st.just("simple"),
    expected=expected_values,
    input=st.text(max_size=30),
    metadata=st.dictionaries(st.text(max_size=8), yaml_values, max_size=2),
)


# Every scorer the package ships, including any added after these tests were written, but the judge: it
# writes prompts for a model and reads its answers inside a run (tests/test_judge_scorer.py has its properties).
NEEDS_A_RUN = {"judge"}
BUILTINS = sorted(
    name for name, factory in registered_scorers().items() if factory.__module__.startswith("pytest_taskbench.scoring.") and name not in NEEDS_A_RUN
)


def build_all(extract_json: bool) -> dict[str, Scorer]:
    return {name: build_scorer(name, {**CONTEXT, "extract_json": extract_json}, packs=PACKS) for name in BUILTINS}


SCORERS = {flag: build_all(flag) for flag in (False, True)}


def test_the_property_tests_cover_the_issue_4_scorers() -> None:
    assert set(ISSUE_4_SCORERS) <= set(BUILTINS)


def check(result: Any) -> Score:
    assert isinstance(result, Score)
    assert 0.0 <= result.value <= 1.0
    assert isinstance(result.reason, str) and result.reason
    json.dumps(result.details, allow_nan=False)
    return result


@EXAMPLES
@given(output=outputs, case=cases, extract_json=st.booleans())
def test_every_scorer_returns_a_score_in_unit_interval_and_never_raises(output: str, case: Case, extract_json: bool) -> None:
    for scorer_fn in SCORERS[extract_json].values():
        check(scorer_fn(output, case))


TASK_SCORERS = ("action_recognition", "entity_extraction", "default_handling", "edge_case")


def perfect_output(name: str, case: Case) -> str:
    """The output a scorer should give full marks to."""
    if name in ("exact_match", "regex", "semantic_similarity"):
        return expected_text(case.expected)
    if name == "contains":
        return " ".join(expected_text(item) for item in (case.expected if isinstance(case.expected, (list, tuple)) else [case.expected]))
    expected = task_expected(case) if name in TASK_SCORERS else jsonable(case.expected)
    if name == "default_handling" and isinstance(expected, dict) and expected.get("action") == "create":
        expected = {**DEFAULTS, **expected}
    return json.dumps(expected)


@EXAMPLES
@given(case=cases)
def test_a_perfect_output_scores_1(case: Case) -> None:
    for name in ("exact_match", "json_equal", "json_subset", "field_match", "contains", "semantic_similarity", *TASK_SCORERS):
        if name in TASK_SCORERS and not isinstance(task_expected(case), dict):
            continue  # a Task API case expects an object (or an action name); nothing else has a perfect answer
        result = check(SCORERS[False][name](perfect_output(name, case), case))
        assert result.value == 1.0, (name, result)


@EXAMPLES
@given(text=st.text(), forbidden=st.lists(st.text(min_size=1), max_size=3))
def test_text_scorers_perfect_outputs(text: str, forbidden: list[str]) -> None:
    case = Case(id="c1", category="any", difficulty="simple", expected=forbidden, input="x")
    assert build_scorer({"name": "regex", "pattern": re.escape(text.strip()), "full_match": True})(text, case).value == 1.0
    assert build_scorer("not_contains")("", case).value == 1.0


@EXAMPLES
@given(task=task_objects, extract_json=st.booleans())
def test_schema_valid_outputs_score_1_for_format_compliance_and_json_schema(task: dict[str, Any], extract_json: bool) -> None:
    case = Case(id="c1", category="any", difficulty="simple", expected=None, input="x")
    for name in ("format_compliance", "json_schema"):
        assert SCORERS[extract_json][name](json.dumps(task), case).value == 1.0


def corrupt(value: Any) -> Any:
    """A wrong value of the same field: another priority, a shifted date, a different title."""
    if isinstance(value, list):
        return [*value, "zz-extra"]
    if value in PRIORITIES:
        return PRIORITIES[(PRIORITIES.index(value) + 1) % len(PRIORITIES)]
    return f"{value}-not"


@st.composite
def broken_outputs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(expected, output with some fields missing / wrong / partly right, one field that is not right)."""
    expected = draw(task_objects.filter(lambda task: len(task) > 1))
    output = dict(expected)
    for name in list(expected)[1:]:
        damage = draw(st.sampled_from(["keep", "drop", "wrong", "contains"]))
        if damage == "drop":
            del output[name]
        elif damage == "wrong":
            output[name] = corrupt(expected[name])
        elif damage == "contains" and isinstance(expected[name], str):
            output[name] = f"please {expected[name].upper()} soon"
    if output == expected:
        name = draw(st.sampled_from(list(expected)[1:]))
        output[name] = corrupt(expected[name])
    broken = [name for name in expected if output.get(name) != expected[name]]
    return expected, output, draw(st.sampled_from(broken))


rule_params = st.fixed_dictionaries(
    {
        "weights": st.dictionaries(st.sampled_from(sorted(task_fields)), st.floats(0, 5), max_size=4),
        "missing_credit": st.floats(0, 1),
        "wrong_credit": st.floats(0, 1),
        "contains_credit": st.floats(0, 1),
    }
)


@EXAMPLES
@given(broken=broken_outputs(), rules=rule_params, name=st.sampled_from(["entity_extraction", "field_match", "edge_case"]))
def test_fixing_one_field_never_lowers_the_score(broken: tuple[dict[str, Any], dict[str, Any], str], rules: dict[str, Any], name: str) -> None:
    expected, output, field_name = broken
    scorer_fn = build_scorer({"name": name, **rules}, packs=PACKS)
    case = Case(id="c1", category="any", difficulty="simple", expected=expected, input="x")
    before = check(scorer_fn(json.dumps(output), case))
    after = check(scorer_fn(json.dumps({**output, field_name: expected[field_name]}), case))
    assert after.value >= before.value


@EXAMPLES
@given(broken=broken_outputs())
def test_fixing_one_field_never_lowers_default_handling(broken: tuple[dict[str, Any], dict[str, Any], str]) -> None:
    expected, output, field_name = broken
    case = Case(id="c1", category="any", difficulty="simple", expected=expected, input="x")
    scorer_fn = SCORERS[False]["default_handling"]
    before = check(scorer_fn(json.dumps(output), case))
    after = check(scorer_fn(json.dumps({**output, field_name: expected[field_name]}), case))
    assert after.value >= before.value


@EXAMPLES
@given(output=st.text(), more=st.text(), needles=st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=4))
def test_adding_text_never_lowers_contains(output: str, more: str, needles: list[str]) -> None:
    case = Case(id="c1", category="any", difficulty="simple", expected=needles, input="x")
    scorer_fn = SCORERS[False]["contains"]
    assert scorer_fn(output + more, case).value >= scorer_fn(output, case).value
