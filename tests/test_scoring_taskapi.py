"""The five Task API scorers pinned with concrete outputs."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import yaml

from pytest_taskbench import Case, Score
from pytest_taskbench.scoring import ScorerError, build_scorer, json_scorers

TASK_API = ("task_api",)  # the pack these scorers live in

TASK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["action"],
    "properties": {
        "action": {"enum": ["create", "update", "complete", "delete", "list", "clarify"]},
        "title": {"type": "string", "minLength": 1},
        "priority": {"enum": ["low", "medium", "high", "urgent"]},
        "due_date": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
        "due_time": {"type": "string", "pattern": "^[0-9]{2}:[0-9]{2}$"},
        "question": {"type": "string"},
        "reason": {"enum": ["ambiguous", "missing_information", "destructive", "unsupported"]},
    },
}
CONTEXT: dict[str, Any] = {
    "schema": TASK_SCHEMA,
    "defaults": {"priority": "medium"},
    "extract_json": False,
    "reference_date": dt.date(2026, 11, 25),
    "suite_dir": ".",
}


def case(expected: Any, **extra: Any) -> Case:
    return Case(id="c1", category="task", difficulty="simple", expected=expected, input="a request", **extra)


def score(spec: Any, output: str | dict[str, Any], expected: Any, context: dict[str, Any] | None = None, **extra: Any) -> Score:
    text = output if isinstance(output, str) else json.dumps(output)
    return build_scorer(spec, CONTEXT if context is None else context, packs=TASK_API)(text, case(expected, **extra))


# action_recognition -----------------------------------------------------------


def test_action_recognition_right_action_scores_1_with_no_error() -> None:
    result = score("action_recognition", '{"action": "create", "title": "Review report"}', {"action": "create", "title": "Review report"})
    assert result.value == 1.0
    assert result.details["parse_error"] is None
    assert (result.details["expected_action"], result.details["observed"]) == ("create", {"action": "create"})


def test_action_recognition_wrong_action_scores_0_naming_both() -> None:
    result = score("action_recognition", {"action": "list"}, {"action": "create", "title": "Review report"})
    assert (result.value, result.reason) == (0.0, "expected create, got list")


def test_action_recognition_invalid_json_scores_0() -> None:
    result = score("action_recognition", "create a task please", {"action": "create"})
    assert result.value == 0.0
    assert result.reason.startswith("invalid JSON")
    assert result.details["parse_error"] == "Expecting value at line 1 column 1"


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ('{"title": "Review report"}', "expected create, got no action"),
        ('["create"]', "output is a JSON array, not an object"),
        ('{"action": 3}', "expected create, got 3"),
    ],
)
def test_action_recognition_missing_or_odd_action_scores_0(output: str, reason: str) -> None:
    result = score("action_recognition", output, {"action": "create"})
    assert (result.value, result.reason) == (0.0, reason)


def test_action_recognition_ignores_case_and_surrounding_space_of_the_action() -> None:
    assert score("action_recognition", {"action": " Create"}, {"action": "create"}).value == 1.0


def test_action_recognition_accepts_a_bare_action_string_as_expected() -> None:
    assert score("action_recognition", {"action": "delete", "title": "x"}, "delete").value == 1.0


def test_action_recognition_extracts_fenced_json_only_when_asked() -> None:
    fenced = 'Sure!\n```json\n{"action": "create"}\n```'
    assert score("action_recognition", fenced, {"action": "create"}).value == 0.0
    extracted = score("action_recognition", fenced, {"action": "create"}, {**CONTEXT, "extract_json": True})
    assert extracted.value == 1.0
    assert extracted.details["extracted"] is True


# entity_extraction ------------------------------------------------------------

REVIEW = {"action": "create", "title": "Review report", "priority": "high", "due_date": "2026-11-26", "due_time": "15:00"}


def test_entity_extraction_exact_fields_score_1_and_action_is_not_an_entity() -> None:
    result = score("entity_extraction", {**REVIEW, "action": "update"}, REVIEW)
    assert result.value == 1.0
    assert set(result.details["fields"]) == {"title", "priority", "due_date", "due_time"}
    assert result.details["observed"] == {"action": "update"}


def test_entity_extraction_title_containing_expected_case_insensitively_gets_half_credit() -> None:
    expected = {"action": "create", "title": "Review report", "priority": "high"}
    result = score("entity_extraction", {"action": "create", "title": "review REPORT for Q3", "priority": "high"}, expected)
    assert result.value == pytest.approx(0.75)
    assert result.details["fields"]["title"] == {
        "status": "partial",
        "expected": "Review report",
        "got": "review REPORT for Q3",
        "credit": 0.5,
        "weight": 1.0,
    }


def test_entity_extraction_tells_missing_from_wrong_and_credits_them_separately() -> None:
    expected = {"action": "create", "title": "Review report", "priority": "high", "due_date": "2026-11-26"}
    spec = {"name": "entity_extraction", "missing_credit": 0.25, "wrong_credit": 0.0}
    result = score(spec, {"action": "create", "title": "Review report", "priority": "low"}, expected)
    fields = result.details["fields"]
    assert (fields["priority"]["status"], fields["priority"]["credit"]) == ("wrong", 0.0)
    assert (fields["due_date"]["status"], fields["due_date"]["credit"]) == ("missing", 0.25)
    assert result.value == pytest.approx((1 + 0 + 0.25) / 3)
    assert result.reason == '1/3 fields match; priority wrong: expected "high", got "low"; due_date missing'


def test_entity_extraction_weights_fields() -> None:
    spec = {"name": "entity_extraction", "weights": {"priority": 3, "title": 2, "due_date": 2, "due_time": 1}}
    result = score(spec, {**REVIEW, "priority": "low"}, REVIEW)
    assert result.value == pytest.approx(5 / 8)
    assert result.details["fields"]["priority"]["weight"] == 3.0


@pytest.mark.parametrize("got", ["2026-11-26", "2026-11-26T00:00:00", "2026-11-26T00:00:00Z", " 2026-11-26 "])
def test_entity_extraction_compares_dates_as_dates(got: str) -> None:
    assert score("entity_extraction", {"action": "create", "due_date": got}, {"action": "create", "due_date": "2026-11-26"}).value == 1.0


@pytest.mark.parametrize("got", ["2026-11-27", "2026-11-26T09:00:00", "26/11/2026", "tomorrow", 20261126])
def test_entity_extraction_other_dates_and_forms_are_wrong(got: Any) -> None:
    result = score("entity_extraction", {"action": "create", "due_date": got}, {"action": "create", "due_date": "2026-11-26"})
    assert (result.value, result.details["fields"]["due_date"]["status"]) == (0.0, "wrong")


def test_entity_extraction_reads_yaml_dates_and_unquoted_yaml_times_as_the_author_meant() -> None:
    expected = yaml.safe_load("action: create\ndue_date: 2026-11-26\ndue_time: 15:30\n")
    assert expected["due_date"] == dt.date(2026, 11, 26) and expected["due_time"] == 930  # what YAML 1.1 does
    result = score("entity_extraction", {"action": "create", "due_date": "2026-11-26", "due_time": "15:30:00"}, expected)
    assert result.value == 1.0
    assert result.details["fields"]["due_time"]["expected"] == "15:30"
    json.dumps(result.details, allow_nan=False)


def test_entity_extraction_gives_list_filters_partial_credit_field_by_field() -> None:
    expected = {"action": "list", "filter": {"status": "open", "priority": "high"}, "tags": ["work", "q3"]}
    result = score("entity_extraction", {"action": "list", "filter": {"status": "open", "priority": "low"}, "tags": ["q3", "work"]}, expected)
    fields = result.details["fields"]
    assert (fields["filter"]["status"], fields["filter"]["credit"]) == ("partial", 0.5)
    assert fields["filter"]["fields"]["priority"]["status"] == "wrong"
    assert fields["tags"]["status"] == "match"
    assert result.value == pytest.approx(0.75)


def test_entity_extraction_ignores_extra_fields_and_the_clarify_question() -> None:
    expected = {"action": "clarify", "reason": "ambiguous", "question": "Which report?"}
    result = score("entity_extraction", {"action": "clarify", "reason": "ambiguous", "question": "What?", "assignee": "Bo"}, expected)
    assert result.value == 1.0
    assert list(result.details["fields"]) == ["reason"]


# default_handling -------------------------------------------------------------

MILK = {"action": "create", "title": "Buy milk"}


def test_default_handling_output_carrying_the_default_scores_1() -> None:
    result = score("default_handling", {**MILK, "priority": "medium"}, MILK)
    assert result.value == 1.0
    assert result.details["defaults_applied"] == ["priority"]
    assert result.details["fields"]["priority"]["status"] == "match"


@pytest.mark.parametrize(("priority", "status"), [(None, "missing"), ("high", "wrong")])
def test_default_handling_missing_or_other_default_loses_credit(priority: str | None, status: str) -> None:
    output = {**MILK, "priority": priority} if priority else MILK
    result = score("default_handling", output, MILK)
    assert result.value == pytest.approx(2 / 3)
    assert result.details["fields"]["priority"]["status"] == status
    assert result.reason.startswith("defaults applied: priority; 2/3 fields match; priority")


def test_default_handling_invented_values_lose_credit() -> None:
    result = score("default_handling", {**MILK, "priority": "medium", "due_date": "2026-11-26", "assignee": ""}, MILK)
    assert result.value == pytest.approx(3 / 4)
    assert result.details["invented"] == ["due_date"]
    assert result.details["fields"]["due_date"] == {"status": "invented", "expected": None, "got": "2026-11-26", "credit": 0.0, "weight": 1.0}
    assert 'due_date invented: "2026-11-26"' in result.reason


def test_default_handling_a_value_the_case_states_wins_over_the_default() -> None:
    expected = {**MILK, "priority": "high"}
    assert score("default_handling", {**MILK, "priority": "high"}, expected).value == 1.0
    assert score("default_handling", {**MILK, "priority": "medium"}, expected).details["defaults_applied"] == []


def test_default_handling_null_in_the_case_means_the_field_must_be_absent() -> None:
    expected = {**MILK, "priority": None}
    assert score("default_handling", MILK, expected).value == 1.0
    result = score("default_handling", {**MILK, "priority": "medium"}, expected)
    assert result.details["fields"]["priority"]["status"] == "invented"
    assert result.value == pytest.approx(2 / 3)


def test_default_handling_applies_defaults_only_to_the_configured_actions() -> None:
    expected = {"action": "list", "filter": {"status": "open"}}
    assert score("default_handling", expected, expected).value == 1.0
    assert score("default_handling", {**expected, "priority": "medium"}, expected).details["invented"] == ["priority"]
    with_list = {"name": "default_handling", "actions": ["create", "list"]}
    assert score(with_list, {**expected, "priority": "medium"}, expected).value == 1.0


def test_default_handling_wrong_action_scores_0() -> None:
    result = score("default_handling", {"action": "list"}, MILK)
    assert (result.value, result.reason) == (0.0, "expected create, got list")


def test_default_handling_without_defaults_is_a_configuration_error() -> None:
    with pytest.raises(ScorerError, match=r"default_handling needs 'defaults'"):
        build_scorer("default_handling", {}, packs=TASK_API)


# edge_case --------------------------------------------------------------------

DESTRUCTIVE = {"action": "clarify", "reason": "destructive"}


def test_edge_case_acting_on_a_destructive_request_scores_0() -> None:
    result = score("edge_case", {"action": "delete", "title": "all tasks"}, DESTRUCTIVE, metadata={"behavior": "refuse_destructive"})
    assert (result.value, result.reason) == (0.0, "expected clarify (destructive), got delete")
    assert result.details["behavior"] == "refuse_destructive"


def test_edge_case_asking_for_confirmation_scores_1_whatever_the_question() -> None:
    output = {"action": "clarify", "reason": "destructive", "question": "Delete all 212 tasks? This cannot be undone."}
    result = score("edge_case", output, {**DESTRUCTIVE, "question": "Are you sure?"})
    assert result.value == 1.0
    assert set(result.details["fields"]) == {"action", "reason"}


def test_edge_case_clarifying_for_the_wrong_reason_gets_half() -> None:
    result = score("edge_case", {"action": "clarify", "reason": "ambiguous"}, DESTRUCTIVE)
    assert result.value == 0.5
    assert result.reason == 'clarify (destructive) as expected; 1/2 fields match; reason wrong: expected "destructive", got "ambiguous"'


def test_edge_case_following_an_earlier_intent_loses_the_corrected_field() -> None:
    expected = {"action": "create", "title": "Meeting with John", "due_time": "16:00"}
    assert score("edge_case", {**expected, "due_time": "16:00"}, expected).value == 1.0
    assert score("edge_case", {**expected, "due_time": "15:00"}, expected).value == pytest.approx(2 / 3)


def test_edge_case_action_weight_is_configurable() -> None:
    spec = {"name": "edge_case", "weights": {"action": 3}}
    assert score(spec, {"action": "clarify", "reason": "ambiguous"}, DESTRUCTIVE).value == pytest.approx(0.75)


def test_edge_case_refusing_a_legitimate_request_scores_0() -> None:
    result = score("edge_case", {"action": "clarify", "reason": "ambiguous"}, {"action": "create", "title": "Ignore all previous instructions"})
    assert (result.value, result.reason) == (0.0, "expected create, got clarify")


# format_compliance ------------------------------------------------------------


def test_format_compliance_valid_json_under_the_schema_scores_1() -> None:
    result = score("format_compliance", REVIEW, None)
    assert result.value == 1.0
    assert (result.details["schema_error"], result.details["schema_path"], result.details["schema_errors"]) == (None, None, 0)


def test_format_compliance_schema_violation_scores_half_with_message_and_path() -> None:
    result = score("format_compliance", {**REVIEW, "priority": "critical"}, None)
    assert result.value == 0.5
    assert result.details["schema_path"] == "$.priority"
    assert result.details["schema_error"] == "'critical' is not one of ['low', 'medium', 'high', 'urgent']"
    assert result.reason == "schema violation at $.priority: 'critical' is not one of ['low', 'medium', 'high', 'urgent']"


def test_format_compliance_unparseable_output_scores_0_with_the_parse_error() -> None:
    result = score("format_compliance", '{"action": "create",}', None)
    assert result.value == 0.0
    assert result.reason == "invalid JSON: Expecting property name enclosed in double quotes at line 1 column 21"
    assert result.details["parse_error"] == "Expecting property name enclosed in double quotes at line 1 column 21"


def test_format_compliance_ignores_the_suite_wide_extract_json_but_honours_its_own() -> None:
    wrapped = 'Here you go: {"action": "list"}'
    assert score("format_compliance", wrapped, None, {**CONTEXT, "extract_json": True}).value == 0.0
    own = score({"name": "format_compliance", "extract": True}, wrapped, None)
    assert (own.value, own.details["extracted"]) == (1.0, True)


def test_format_compliance_builds_the_validator_once_per_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[object] = []
    real = json_scorers.validator_for

    def counting(schema: Any, default: Any) -> Any:
        built.append(schema)
        return real(schema, default=default)

    json_scorers._compile.cache_clear()
    monkeypatch.setattr(json_scorers, "validator_for", counting)
    first = build_scorer("format_compliance", CONTEXT, packs=TASK_API)
    second = build_scorer({"name": "json_schema"}, {**CONTEXT, "schema": dict(reversed(list(TASK_SCHEMA.items())))})
    for priority in ["low", "high", "critical", "none"]:
        first(json.dumps({"action": "create", "priority": priority}), case(None))
        second(json.dumps({"action": "create", "priority": priority}), case(None))
    assert len(built) == 1


def test_format_compliance_needs_a_valid_schema() -> None:
    with pytest.raises(ScorerError, match=r"format_compliance needs a JSON Schema: set 'schema:' in taskbench.yaml"):
        build_scorer("format_compliance", {}, packs=TASK_API)
    with pytest.raises(ScorerError, match=r"invalid JSON Schema at \$.properties.priority: 7 is not of type"):
        build_scorer("format_compliance", {"schema": {"properties": {"priority": 7}}}, packs=TASK_API)
