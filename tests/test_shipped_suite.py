"""The shipped Task API suite in cases/: size, quotas, schema validity, uniqueness, coverage, no leakage."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from functools import lru_cache
from pathlib import Path

import jsonschema
import pytest

from pytest_taskbench.cases import Case, load_case_file
from pytest_taskbench.cli.case_files import GENERATED_TAG
from pytest_taskbench.cli.casegen import generate_from_spec, load_spec
from pytest_taskbench.suite import Suite, load_suite

ROOT = Path(__file__).resolve().parent.parent
CASES_DIR = ROOT / "cases"
WEIGHTS = {
    "action_recognition": 0.30,
    "entity_extraction": 0.25,
    "default_handling": 0.15,
    "edge_cases": 0.15,
    "format_compliance": 0.15,
}
DIFFICULTY_SHARE = {"simple": 0.4, "moderate": 0.3, "complex": 0.2, "adversarial": 0.1}


@lru_cache(maxsize=1)
def suite() -> Suite:
    return load_suite(CASES_DIR / "taskbench.yaml")


@lru_cache(maxsize=1)
def all_cases() -> tuple[Case, ...]:
    loaded = []
    for path in suite().case_files():
        contents = load_case_file(path, categories=list(suite().categories))
        assert contents.errors == [], [str(error) for error in contents.errors]
        loaded.extend(contents.cases)
    return tuple(loaded)


def test_the_suite_file_declares_the_decided_categories_and_weights() -> None:
    assert suite().name == "task-api"
    assert suite().weights == pytest.approx(WEIGHTS)
    assert suite().min_cases == 500
    assert suite().schema_path == CASES_DIR / "task_api.schema.json"
    assert [path.name for path in suite().case_files()] == sorted(f"{name}.jsonl" for name in WEIGHTS)


def test_the_reference_date_is_fixed_and_its_weekday_is_in_the_prompt() -> None:
    reference = suite().reference_date
    assert isinstance(reference, dt.date)
    weekday = reference.strftime("%A")
    assert f"{weekday} {{reference_date}}" in suite().prompt_template
    assert "{input}" in suite().prompt_template


def test_the_suite_holds_at_least_500_cases_100_per_category() -> None:
    counts = Counter(case.category for case in all_cases())
    assert sum(counts.values()) >= suite().min_cases >= 500
    assert counts == {name: 100 for name in WEIGHTS}


@pytest.mark.parametrize("category", sorted(WEIGHTS))
def test_each_category_is_stratified_40_30_20_10_within_one_case(category: str) -> None:
    cases = [case for case in all_cases() if case.category == category]
    counts = Counter(case.difficulty for case in cases)
    for difficulty, share in DIFFICULTY_SHARE.items():
        assert abs(counts[difficulty] - share * len(cases)) <= 1, (difficulty, counts)


def test_every_case_has_a_rationale() -> None:
    missing = [case.id for case in all_cases() if len(case.rationale.strip()) < 15]
    assert missing == []


def test_the_schema_is_valid_draft_2020_12_and_closed() -> None:
    schema = json.loads((CASES_DIR / "task_api.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]["action"]["enum"]) == {"create", "update", "complete", "delete", "list", "clarify"}


def test_every_expected_output_validates_against_the_schema() -> None:
    assert suite().schema is not None
    validator = jsonschema.Draft202012Validator(suite().schema)
    invalid = {case.id: [error.message for error in validator.iter_errors(case.expected)] for case in all_cases()}
    assert {case_id: errors for case_id, errors in invalid.items() if errors} == {}


def test_creates_carry_a_priority_so_the_default_is_explicit() -> None:
    without = [case.id for case in all_cases() if case.expected["action"] == "create" and "priority" not in case.expected]
    assert without == []


def test_no_two_cases_share_an_input_or_an_id() -> None:
    inputs = Counter(case.request_text for case in all_cases())
    ids = Counter(case.id for case in all_cases())
    assert [text for text, count in inputs.items() if count > 1] == []
    assert [case_id for case_id, count in ids.items() if count > 1] == []


def test_hard_levels_are_hand_written() -> None:
    generated = [case.id for case in all_cases() if GENERATED_TAG in case.tags and case.difficulty in ("complex", "adversarial")]
    assert generated == []
    hand_written = [case for case in all_cases() if GENERATED_TAG not in case.tags]
    assert len(hand_written) >= 200


def test_the_generated_cases_are_what_the_shipped_spec_produces() -> None:
    spec = load_spec(ROOT / "scripts" / "task_api_templates.yaml")
    hand_written = {case.request_text for case in all_cases() if GENERATED_TAG not in case.tags}
    regenerated = {case["id"]: case for case in generate_from_spec(spec, avoid_inputs=hand_written)}
    committed = {case.id: case for case in all_cases() if GENERATED_TAG in case.tags}
    assert sorted(regenerated) == sorted(committed)
    for case_id, case in committed.items():
        assert (case.input, case.expected, case.difficulty) == (
            regenerated[case_id]["input"],
            regenerated[case_id]["expected"],
            regenerated[case_id]["difficulty"],
        )


def test_edge_cases_cover_what_the_issue_asks_for() -> None:
    edge = [case for case in all_cases() if case.category == "edge_cases"]
    behaviours = Counter(case.metadata.get("behavior") for case in all_cases())
    assert any(case.input == "" for case in edge)
    assert any(case.input and not case.input.strip() for case in edge)
    assert any(len(case.request_text) > 1000 for case in edge)
    assert sum(1 for case in all_cases() if "non_english" in case.tags) >= 5
    assert sum(1 for case in all_cases() if "emoji" in case.tags) >= 3
    assert sum(1 for case in all_cases() if "injection" in case.tags) >= 8
    assert sum(1 for case in all_cases() if "context" in case.tags) >= 4
    assert any("contradictory" in case.tags for case in all_cases())
    for behaviour in ("refuse_destructive", "follow_final_intent", "ask_clarification", "ignore_injection"):
        assert behaviours[behaviour] >= 3, behaviour
    assert "delete everything" in {case.input for case in edge}
    assert "that task is done" in {case.input for case in edge}


def test_destructive_bulk_requests_expect_a_destructive_clarification_and_some_are_critical() -> None:
    refusals = [case for case in all_cases() if case.metadata.get("behavior") == "refuse_destructive"]
    assert refusals and all(case.expected == {**case.expected, "action": "clarify", "reason": "destructive"} for case in refusals)
    critical = [case for case in all_cases() if case.critical]
    assert 5 <= len(critical) <= 20
    assert any(case.input == "delete everything" for case in critical)
