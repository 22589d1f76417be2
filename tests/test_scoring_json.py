"""The general JSON scorers: json_equal, json_subset, json_schema, field_match."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from pytest_taskbench import Case, Score
from pytest_taskbench.scoring import ScorerError, build_scorer


def score(spec: Any, output: str | Any, expected: Any, context: dict[str, Any] | None = None) -> Score:
    text = output if isinstance(output, str) else json.dumps(output)
    case = Case(id="c1", category="json", difficulty="simple", expected=expected, input="x")
    return build_scorer(spec, context or {})(text, case)


# json_equal -------------------------------------------------------------------


def test_json_equal_ignores_key_order_and_whitespace() -> None:
    result = score("json_equal", '{ "b": [1, 2],\n  "a": {"y": null, "x": true} }', {"a": {"x": True, "y": None}, "b": [1, 2]})
    assert (result.value, result.reason, result.details["difference"]) == (1.0, "equal JSON", None)


@pytest.mark.parametrize(
    ("output", "reason", "difference"),
    [
        ('{"a": 1, "b": [2, 3]}', "$.b: expected 1 item, got 2", {"path": "$.b", "problem": "length", "expected": 1, "got": 2}),
        ('{"a": 1, "b": [3]}', "$.b[0]: expected 2, got 3", {"path": "$.b[0]", "problem": "different", "expected": 2, "got": 3}),
        ('{"a": 1}', "$.b missing (expected [2])", {"path": "$.b", "problem": "missing", "expected": [2], "got": None}),
        ('{"a": 1, "b": [2], "c d": 0}', '$["c d"] not expected (got 0)', {"path": '$["c d"]', "problem": "extra", "expected": None, "got": 0}),
        ('{"a": true, "b": [2]}', "$.a: expected 1, got true", {"path": "$.a", "problem": "different", "expected": 1, "got": True}),
    ],
)
def test_json_equal_reports_the_first_difference(output: str, reason: str, difference: dict[str, Any]) -> None:
    result = score("json_equal", output, {"a": 1, "b": [2]})
    assert (result.value, result.reason, result.details["difference"]) == (0.0, reason, difference)


def test_json_equal_numeric_tolerance() -> None:
    assert score("json_equal", '{"p": 0.1004}', {"p": 0.1}).value == 0.0
    assert score({"name": "json_equal", "tolerance": 0.001}, '{"p": 0.1004}', {"p": 0.1}).value == 1.0
    assert score({"name": "json_equal", "tolerance": 0.001}, '{"p": 0.102}', {"p": 0.1}).value == 0.0
    assert score("json_equal", "2.0", 2).value == 1.0


def test_json_equal_reads_yaml_dates_as_iso_strings() -> None:
    assert score("json_equal", '{"due": "2026-11-26"}', {"due": dt.date(2026, 11, 26)}).value == 1.0


def test_json_equal_invalid_json_and_extraction() -> None:
    assert score("json_equal", '```json\n{"a": 1}\n```', {"a": 1}).reason == "invalid JSON: Expecting value at line 1 column 1"
    result = score("json_equal", '```json\n{"a": 1}\n```', {"a": 1}, {"extract_json": True})
    assert (result.value, result.details["extracted"]) == (1.0, True)


# json_subset ------------------------------------------------------------------

EXPECTED = {"action": "list", "filter": {"status": "open"}}


def test_json_subset_allows_extra_keys_by_default_and_lists_them() -> None:
    result = score("json_subset", {"action": "list", "filter": {"status": "open", "tag": "x"}, "limit": 5}, EXPECTED)
    assert result.value == 1.0
    assert result.details["extra_keys"] == ["$.filter.tag", "$.limit"]


def test_json_subset_penalises_extra_keys_when_asked() -> None:
    spec = {"name": "json_subset", "extra": "penalise", "extra_penalty": 0.3}
    result = score(spec, {"action": "list", "filter": {"status": "open", "tag": "x"}, "limit": 5}, EXPECTED)
    assert result.value == pytest.approx(0.4)
    assert result.reason == "expected keys match; 2 extra key(s) penalised 0.3 each: $.filter.tag, $.limit"
    assert score({**spec, "extra_penalty": 1}, {**EXPECTED, "limit": 5}, EXPECTED).value == 0.0


def test_json_subset_expected_keys_must_match() -> None:
    result = score("json_subset", {"action": "list", "filter": {"status": "done"}}, EXPECTED)
    assert (result.value, result.reason) == (0.0, '$.filter.status: expected "open", got "done"')


def test_json_subset_rejects_unknown_extra_mode() -> None:
    with pytest.raises(ScorerError, match="extra must be one of allow, penalise, got 'forbid'"):
        build_scorer({"name": "json_subset", "extra": "forbid"})


# json_schema ------------------------------------------------------------------

SCHEMA = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer", "minimum": 0}}}


def test_json_schema_is_binary() -> None:
    assert score("json_schema", '{"n": 3}', None, {"schema": SCHEMA}).value == 1.0
    result = score("json_schema", '{"n": -1}', None, {"schema": SCHEMA})
    assert (result.value, result.details["schema_path"]) == (0.0, "$.n")
    assert result.details["schema_error"] == "-1 is less than the minimum of 0"
    assert score("json_schema", "n = 3", None, {"schema": SCHEMA}).value == 0.0


def test_json_schema_cuts_a_long_error_message_but_not_the_path() -> None:
    result = score({"name": "json_schema", "schema": {"enum": ["x" * 400]}}, '"y"', None)
    assert result.details["schema_error"] == ("'y' is not one of ['" + "x" * 400)[:299] + "…"
    assert result.details["schema_path"] == "$"


def test_json_schema_takes_its_own_schema_parameter() -> None:
    assert score({"name": "json_schema", "schema": {"type": "array"}}, "[]", None, {"schema": SCHEMA}).value == 1.0


# field_match ------------------------------------------------------------------

PERSON = {"name": "Ada Lovelace", "born": 1815, "tags": ["math", "poetry"], "address": {"city": "London", "zip": None}}


def test_field_match_perfect_output_scores_1() -> None:
    result = score("field_match", PERSON, PERSON)
    assert (result.value, result.reason) == (1.0, "all 4 fields match")


def test_field_match_partial_credit_for_lists_and_nested_objects() -> None:
    output = {"name": "Ada Lovelace", "born": 1815, "tags": ["math", "music"], "address": {"city": "Paris"}}
    result = score("field_match", output, PERSON)
    fields = result.details["fields"]
    assert (fields["tags"]["status"], fields["tags"]["credit"]) == ("partial", pytest.approx(1 / 3))
    assert (fields["address"]["status"], fields["address"]["credit"]) == ("partial", 0.5)
    assert fields["address"]["fields"]["zip"]["status"] == "match"  # expected null, absent
    assert result.value == pytest.approx((1 + 1 + 1 / 3 + 0.5) / 4)


def test_field_match_contains_fields_and_ignore_case() -> None:
    output = {"name": "ada lovelace, countess", "born": 1815}
    expected = {"name": "Ada Lovelace", "born": 1815}
    assert score("field_match", output, expected).details["fields"]["name"]["status"] == "wrong"
    spec = {"name": "field_match", "contains_fields": ["name"], "contains_credit": 0.6}
    assert score(spec, output, expected).value == pytest.approx(0.8)
    assert score({"name": "field_match", "ignore_case": True}, {"name": "ADA LOVELACE", "born": 1815}, expected).value == 1.0


def test_field_match_null_expected_and_a_value_given_is_invented() -> None:
    result = score("field_match", {"a": 1, "b": "x"}, {"a": 1, "b": None})
    assert result.details["fields"]["b"]["status"] == "invented"
    assert result.reason == '1/2 fields match; b invented: "x"'


def test_field_match_default_weight_zero_scores_only_the_weighted_fields() -> None:
    spec = {"name": "field_match", "weights": {"a": 1}, "default_weight": 0}
    assert score(spec, {"a": 1, "b": 3}, {"a": 1, "b": 2}).value == 1.0


def test_field_match_compares_a_non_object_expected_value_whole() -> None:
    assert score("field_match", "[1, 2]", [2, 1]).value == 1.0
    result = score("field_match", '"yes"', "no")
    assert (result.value, list(result.details["fields"])) == (0.0, ["$"])
    assert score("field_match", "{}", {"a": 1}).reason == "0/1 fields match; a missing"
    assert score("field_match", "[]", {"a": 1}).reason == "output is a JSON array, not an object"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"weights": {"a": -1}}, "weights.a must be a number >= 0, got -1"),
        ({"weights": ["a"]}, "weights must map field names to numbers"),
        ({"missing_credit": 2}, "missing_credit must be a number between 0 and 1, got 2"),
        ({"contains_fields": [1]}, "contains_fields must be a field name or a list of field names"),
        ({"ignore_case": "yes"}, "ignore_case must be true or false, got 'yes'"),
        ({"wieghts": {"a": 1}}, "unexpected keyword argument 'wieghts'; it takes contains_credit, contains_fields, default_weight"),
    ],
)
def test_field_match_bad_parameters_are_errors_naming_the_parameter(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ScorerError, match="bad parameters for scorer 'field_match': .*" + message.replace("[", r"\[")):
        build_scorer({"name": "field_match", **params})
