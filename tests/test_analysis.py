"""Failure analysis on the known run: strengths, weaknesses, patterns, and the suite's analysis settings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pytest_taskbench.reports.summary import confusion_dict
from pytest_taskbench.reports.terminal import analysis_lines
from pytest_taskbench.results import CaseResult
from pytest_taskbench.suite import SuiteError, parse_suite
from pytest_taskbench.verdict.analysis import INVALID, MISSING, AnalysisConfig, FailureAnalysis, analyze, field_values
from tests.helpers.known_run import FAILING, known_results, summary_of, write_known_run

ON_ACTION = AnalysisConfig(confusion_field="action")  # what the known run's suite configures


def analysis_of(results: list[CaseResult], config: AnalysisConfig = ON_ACTION) -> FailureAnalysis:
    return analyze(results, summary_of(results), config)


def test_strengths_and_weaknesses_follow_the_thresholds_with_recommendations() -> None:
    analysis = analysis_of(known_results())
    assert [(n.category, round(n.mean, 3)) for n in analysis.strengths] == [("format", 1.0)]
    assert [(n.category, round(n.mean, 3)) for n in analysis.weaknesses] == [("actions", 0.6), ("entities", 0.778)]
    actions, entities = analysis.weaknesses
    assert actions.recommendation == "add training data that tells create from list in actions: 2 of 3 failures answer list for create (current 60%)"
    assert entities.recommendation == "add training data for entities covering due_date (not right in 2 failing cases) (current 78%)"


def test_thresholds_are_configurable() -> None:
    analysis = analysis_of(known_results(), AnalysisConfig(strength=0.75, weakness=0.7, confusion_field="action"))
    assert [n.category for n in analysis.strengths] == ["entities", "format"]
    assert [n.category for n in analysis.weaknesses] == ["actions"]


def test_parse_errors_name_their_cases_and_dominate_the_recommendation() -> None:
    results = [
        replace(r, score=0.0, passed=False, details={"parse_error": "Expecting value"}) if r.case_id in ("a1", "a2", "a3") else r for r in known_results()
    ]
    analysis = analysis_of(results)
    assert analysis.parse_errors == ("a1", "a2", "a3", "a5")
    assert analysis.weaknesses[0].recommendation.startswith("make actions outputs valid JSON: 4 of 5 failures are parse errors")


def test_spread_confusions_are_named_in_the_recommendation() -> None:
    results = [replace(r, output='{"action": "update", "title": "write <report> & send"}', details={}) if r.case_id == "a4" else r for r in known_results()]
    actions = analysis_of(results).weaknesses[0]
    assert (
        actions.recommendation
        == "add training data for actions that separates the action values it confuses most: create -> list 1, create -> update 1 (2 of 3 failures) (current 60%)"
    )


def test_confusion_matrix_counts_every_case_that_expects_the_field() -> None:
    matrix = analysis_of(known_results()).confusion
    assert matrix is not None
    assert matrix.expected_labels == ("complete", "create", "delete", "list")
    assert matrix.got_labels == ("complete", "create", "delete", "list", INVALID)
    assert (matrix.total, matrix.correct) == (10, 7)
    assert matrix.count("create", "create") == 4
    assert matrix.cells[("create", "list")] == ("a3", "a4")
    assert matrix.confusions() == [("create", "list", 2), ("delete", INVALID, 1)]
    assert confusion_dict(matrix)["counts"][1] == [0, 4, 0, 2, 0]


def test_confusion_field_is_configurable_and_absent_when_no_case_expects_it() -> None:
    analysis = analysis_of(known_results(), AnalysisConfig(confusion_field="due_date"))
    assert analysis.confusion is not None
    assert analysis.confusion.confusions() == [("2026-03-06", MISSING, 1), ("2026-03-07", "2026-03-09", 1)]
    assert analysis_of(known_results(), AnalysisConfig(confusion_field="priority")).confusion is None
    assert analysis_of(known_results(), AnalysisConfig(confusion_field=None)).confusion is None


def test_field_values_read_scorer_details_first_then_the_output() -> None:
    base = known_results()[2]  # a3: create -> list
    assert field_values(base, "action") == ("create", "list")
    from_details = replace(base, details={"observed": {"action": "update"}})
    assert field_values(from_details, "action") == ("create", "update")
    parsed = replace(base, details={}, expected='{"action": "create"}', output='{"title": "x"}')
    assert field_values(parsed, "action") == ("create", MISSING)
    assert field_values(replace(base, status="error", output=None), "action") is None


def test_fields_most_often_wrong_count_only_failing_cases() -> None:
    fields = analysis_of(known_results()).fields
    assert [(f.name, f.missing, f.wrong) for f in fields] == [("action", 0, 2), ("due_date", 1, 1)]


def test_nested_fields_are_counted_by_dotted_name() -> None:
    nested = {"fields": {"filter": {"status": "partial", "fields": {"status": {"status": "wrong"}, "tag": {"status": "match"}}}}}
    results = [replace(known_results()[2], details=nested)]
    assert [(f.name, f.wrong) for f in analysis_of(results).fields] == [("filter.status", 1)]


def test_failure_rate_by_difficulty_and_category_by_difficulty() -> None:
    analysis = analysis_of(known_results())
    assert [(g.name, g.cases - g.passed, g.cases) for g in analysis.by_difficulty] == [("simple", 0, 4), ("moderate", 2, 3), ("complex", 3, 3)]
    assert analysis.difficulty_trend == "rises with difficulty"
    cell = analysis.cell("actions", "complex")
    assert cell is not None and (cell.cases, cell.mean, cell.passed) == (2, 0.25, 0)
    assert analysis.cell("format", "complex") is None


def test_terminal_lines_are_concise_and_name_the_patterns() -> None:
    lines = analysis_lines(analysis_of(known_results()))
    assert lines == [
        "failure analysis:",
        "  strengths (>= 0.90): format 100%",
        "  weaknesses (< 0.80):",
        "    actions: add training data that tells create from list in actions: 2 of 3 failures answer list for create (current 60%)",
        "    entities: add training data for entities covering due_date (not right in 2 failing cases) (current 78%)",
        "  invalid JSON: 1 case (a5)",
        f"  action confusions (7/10 right): create -> list: 2, delete -> {INVALID}: 1",
        "  fields most often missing or wrong: action 2 (2 wrong); due_date 2 (1 missing, 1 wrong)",
        "  failure rate by difficulty: simple 0% (0/4), moderate 67% (2/3), complex 100% (3/3); rises with difficulty",
    ]


def test_empty_and_all_passing_runs() -> None:
    assert analysis_lines(analysis_of([])) == []
    passing = [r for r in known_results() if r.case_id not in FAILING]
    analysis = analysis_of(passing)
    assert (analysis.failing, analysis.weaknesses, analysis.parse_errors, analysis.fields) == (0, (), (), ())
    assert [n.category for n in analysis.strengths] == ["actions", "entities", "format"]


def test_model_errors_are_listed_apart_from_parse_errors() -> None:
    results = [
        replace(r, status="error", output=None, score=0.0, passed=False, details={"model_error": "boom"}) if r.case_id == "f1" else r for r in known_results()
    ]
    analysis = analysis_of(results)
    assert analysis.model_errors == ("f1",)
    assert "f1" not in analysis.parse_errors
    assert "  model errors: 1 case (f1)" in analysis_lines(analysis)


@pytest.mark.parametrize(
    ("analysis", "message"),
    [
        ({"strength": 1.5}, "analysis.strength must be a number from 0 to 1, got 1.5"),
        ({"weakness": 0.95}, "analysis.weakness (0.95) must not be above analysis.strength (0.9)"),
        ({"confusion": "action"}, "unknown key(s) confusion in analysis; allowed: confusion_field, strength, weakness"),
        ({"confusion_field": ""}, "analysis.confusion_field must be a field name or null"),
        ("high", "'analysis' must be a mapping"),
    ],
)
def test_suite_rejects_bad_analysis_settings(analysis: object, message: str) -> None:
    with pytest.raises(SuiteError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_suite({"categories": {"a": 1}, "analysis": analysis}, Path("taskbench.yaml"))


def test_suite_reads_analysis_settings() -> None:
    suite = parse_suite({"categories": {"a": 1}, "analysis": {"strength": 0.95, "weakness": 0.5, "confusion_field": None}}, Path("taskbench.yaml"))
    assert suite.analysis == AnalysisConfig(strength=0.95, weakness=0.5, confusion_field=None)


def test_analysis_ends_the_terminal_summary(pytester: pytest.Pytester) -> None:
    write_known_run(pytester)
    result = pytester.runpytest("cases", "--taskbench-model=model:respond", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=5, failed=5)
    result.stdout.fnmatch_lines(
        [
            "failure analysis:",
            "  strengths (>= 0.90): format 100%",
            "  weaknesses (< 0.80):",
            "    actions: add training data that tells create from list*",
            "    entities: add training data for entities covering due_date*",
            "  invalid JSON: 1 case (a5)",
            "  action confusions (7/10 right): create -> list: 2, *",
            "  fields most often missing or wrong: *",
            "  failure rate by difficulty: simple 0% (0/4), moderate 67% (2/3), complex 100% (3/3); rises with difficulty",
            "verdict: *",
        ]
    )


def _tool_result(case_id: str, score: float, call_results: list[dict[str, object]]) -> CaseResult:
    fields = {f"{call['function']}.{name}": verdict for call in call_results for name, verdict in dict(call.get("arguments") or {}).items()}  # type: ignore[call-overload]
    details = {"call_results": call_results, "fields": fields}
    return CaseResult(case_id, f"cases/calls.jsonl::{case_id}", "cases/taskbench.yaml", "calls", "simple", score, score >= 0.8, details=details)


def test_a_tool_call_category_that_calls_the_wrong_functions_is_told_so() -> None:
    wrong_function = [{"status": "missing", "function": "delete_task"}, {"status": "extra", "function": "create_task"}]
    wrong_argument = [{"status": "wrong", "function": "create_task", "arguments": {"title": {"status": "wrong", "expected": "A", "got": "B"}}}]
    results = [_tool_result(f"w{i}", 0.0, wrong_function) for i in range(3)] + [_tool_result("a", 0.5, wrong_argument), _tool_result("ok", 1.0, [])]
    (calls,) = analysis_of(results, AnalysisConfig()).weaknesses
    assert calls.recommendation == (
        "add training data for calls that calls the right functions: 3 of 4 failures miss a call or make an extra one"
        " (create_task 3 extra; delete_task 3 missing) (current 30%)"
    )
    (mostly_arguments,) = analysis_of([*results[2:], *[replace(results[3], case_id=f"a{i}") for i in range(2)]], AnalysisConfig()).weaknesses
    assert mostly_arguments.recommendation == "add training data for calls covering create_task.title (not right in 3 failing cases) (current 50%)"
