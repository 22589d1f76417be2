"""Baselines end to end: save, compare two rule-based models, update, refuse bad or foreign files, report the comparison."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_taskbench.baseline import load
from pytest_taskbench.suite import load_suite
from tests.helpers.suites import jsonl

SUITE = """\
name: demo
categories:
  greet: {weight: 0.5, scorer: exact_match}
  shout: {weight: 0.5, scorer: exact_match}
"""
# model_a echoes every prompt: all cases pass but g7 (expects "UP").
MODEL_A = "def respond(prompts):\n    return list(prompts)\n"
# model_b breaks g1, g2 and the critical s1, and fixes g7.
MODEL_B = """\
def respond(prompts):
    return ["wrong" if p in ("w1", "w2", "s1") else "UP" if p == "up" else p for p in prompts]
"""
A, B = "--taskbench-model=model_a:respond", "--taskbench-model=model_b:respond"
BASELINE = ".taskbench/baselines/default.json"


@pytest.fixture
def suite(pytester: pytest.Pytester, write_suite: Callable[..., Path]) -> Path:
    greet = [{"id": f"g{i}", "input": f"w{i}", "expected": f"w{i}"} for i in range(1, 7)] + [{"id": "g7", "input": "up", "expected": "UP"}]
    shout = [{"id": "s1", "input": "s1", "expected": "s1", "critical": True}] + [{"id": f"s{i}", "input": f"s{i}", "expected": f"s{i}"} for i in range(2, 5)]
    cases = write_suite(
        SUITE,
        files={
            "greet.jsonl": jsonl(greet, {"category": "greet", "difficulty": "simple"}),
            "shout.jsonl": jsonl(shout, {"category": "shout", "difficulty": "complex"}),
        },
        model=None,
    )
    pytester.makepyfile(model_a=MODEL_A, model_b=MODEL_B)
    return cases


@pytest.fixture
def saved(pytester: pytest.Pytester, suite: Path) -> Path:
    """A baseline of model_a."""
    result = pytester.runpytest("cases", A, "--taskbench-save-baseline")
    result.stdout.fnmatch_lines([f"taskbench: saved baseline {BASELINE} (11 cases)"])
    return pytester.path / BASELINE


def test_save_baseline_stores_every_case_the_model_and_the_suite_hash(saved: Path, suite: Path) -> None:
    baseline = load(saved)
    assert len(baseline.cases) == 11 and baseline.model.startswith("callable:model_a:respond:")
    record = baseline.suites["cases/taskbench.yaml"]
    assert record.content_hash == load_suite(suite / "taskbench.yaml").content_hash() and record.name == "demo"
    g7 = next(c for c in baseline.cases if c.id == "g7")
    assert (g7.key, g7.output, g7.passed, g7.score, g7.category, g7.difficulty) == ("cases/greet.jsonl::g7", "up", False, 0.0, "greet", "simple")
    assert baseline.config["seed"] == 20240601 and baseline.created.endswith("Z")


def test_save_baseline_takes_a_name(pytester: pytest.Pytester, suite: Path) -> None:
    pytester.runpytest("cases", A, "--taskbench-save-baseline=main")
    assert len(load(pytester.path / ".taskbench/baselines/main.json").cases) == 11


def test_compare_names_regressions_fixes_and_the_verdict(pytester: pytest.Pytester, saved: Path) -> None:
    result = pytester.runpytest("cases", B, "--taskbench-compare=default")
    result.stdout.fnmatch_lines(
        [
            f"baseline: {BASELINE} (model callable:model_a:respond:*, saved *)",
            "  compared on 11 shared cases",
            "aggregate 0.732 vs 0.929 baseline: -0.196 (95% CI * to *), not significant (one-sided sign-flip p = *); 3 cases regressed, 1 fixed (McNemar p = 0.625)",
            "  greet: 0.714 vs 0.857: -0.143 (95% CI *), 2 cases regressed, 1 fixed (McNemar p = 1.000), not significant (*)",
            "  shout: 0.750 vs 1.000: -0.250 (95% CI *), 1 case regressed, 0 fixed (McNemar p = 1.000), not significant (*)",
            "cases: 3 regressed, 1 fixed, 0 other score changes, 4 outputs changed, 0 new, 0 only in the baseline",
            "regressed:",
            "  cases/greet.jsonl::g1  1.00 -> 0.00",
            "  cases/greet.jsonl::g2  1.00 -> 0.00",
            "  cases/shout.jsonl::s1  1.00 -> 0.00  [critical]",
            "fixed:",
            "  cases/greet.jsonl::g7  0.00 -> 1.00",
        ]
    )
    assert result.ret == 0  # no regression gate is configured


def test_critical_regression_gate_fails_while_a_drop_inside_the_noise_does_not(pytester: pytest.Pytester, saved: Path) -> None:
    result = pytester.runpytest(
        "cases", B, "--taskbench-compare=default", "--taskbench-fail-on-critical-regression", "--taskbench-fail-on-significant-regression"
    )
    result.stdout.fnmatch_lines(
        [
            "  PASS significant_regression: aggregate change -0.196 (p = *): not significant",
            "  FAIL critical_regression: critical cases that passed before and fail now: 1 (cases/shout.jsonl::s1)",
            "verdict: FAIL (1 gate failed: critical_regression)",
        ]
    )
    assert result.ret == 1


def test_same_model_gives_no_change_and_passes_every_regression_gate(pytester: pytest.Pytester, saved: Path) -> None:
    pytester.makeini(
        "[pytest]\ntaskbench_fail_on_significant_regression = true\ntaskbench_fail_on_category_regression = true\ntaskbench_non_inferiority_margin = 0.02\n"
    )
    result = pytester.runpytest("cases", A, "--taskbench-compare=default")
    result.stdout.fnmatch_lines(
        ["aggregate 0.929 vs 0.929 baseline: +0.000 (95% CI +0.000 to +0.000), no change (one-sided sign-flip p = 1.000)*", "verdict: PASS*"]
    )
    assert result.ret == 0


def test_a_significant_regression_fails_its_gate(pytester: pytest.Pytester, write_suite: Callable[..., Path]) -> None:
    rows = [{"id": f"c{i}", "input": f"w{i}", "expected": f"w{i}"} for i in range(40)]
    write_suite("name: big\ncategories:\n  greet: {weight: 1.0}\n", files={"c.jsonl": jsonl(rows, {"category": "greet", "difficulty": "simple"})}, model=None)
    pytester.makepyfile(model_a=MODEL_A, model_c="def respond(prompts):\n    return [p if int(p[1:]) >= 15 else 'no' for p in prompts]\n")
    pytester.runpytest("cases", A, "--taskbench-save-baseline")
    result = pytester.runpytest("cases", "--taskbench-model=model_c:respond", "--taskbench-compare=default", "--taskbench-fail-on-significant-regression")
    result.stdout.fnmatch_lines(
        [
            "aggregate 0.625 vs 1.000 baseline: -0.375 (95% CI * to *), significant regression (one-sided sign-flip p < 0.001); 15 cases regressed, 0 fixed (McNemar p < 0.001)",
            "  FAIL significant_regression: aggregate change -0.375 (p < 0.001): significant regression",
        ]
    )
    assert result.ret == 1


def test_a_baseline_from_a_changed_suite_is_refused_unless_shared_only(pytester: pytest.Pytester, saved: Path, suite: Path) -> None:
    with (suite / "greet.jsonl").open("a") as handle:
        handle.write(json.dumps({"id": "g8", "input": "w8", "expected": "w8"}) + "\n")
    refused = pytester.runpytest("cases", A, "--taskbench-compare=default")
    refused.stdout.fnmatch_lines(
        [
            "  FAIL baseline: refusing to compare: .taskbench/baselines/default.json was saved from a different suite: 'demo' with content hash *; pass --taskbench-compare-shared-only*"
        ]
    )
    assert refused.ret == 1
    shared = pytester.runpytest("cases", A, "--taskbench-compare=default", "--taskbench-compare-shared-only")
    shared.stdout.fnmatch_lines(
        [
            "  compared on 11 shared cases; the suite changed since the baseline*",
            "cases: 0 regressed, 0 fixed, 0 other score changes, 0 outputs changed, 1 new, 0 only in the baseline",
        ]
    )
    assert shared.ret == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no baseline file here; create one with --taskbench-save-baseline"),
        ('{"format": "pytest-taskbench-baseline", "version": 1, "cases": [\n  {"key": ', "ends before the JSON does (truncated?)"),
        ('{"machine_info": {}, "benchmarks": []}', "not a pytest-taskbench baseline"),
        ("not json at all", "is not valid JSON"),
        # wrong types were an INTERNALERROR (exit 3)
        (
            '{"format": "pytest-taskbench-baseline", "version": 1, "suites": {}, "cases": [{"key": 5, "suite": "s", "category": "c", "score": 1, "passed": true}]}',
            "key must be a string, got 5",
        ),
        ('{"format": "pytest-taskbench-baseline", "version": 1, "suites": {}, "cases": [' + "[" * 100000 + "]" * 100000 + "]}", "nested too deeply to read"),
    ],
)
def test_bad_truncated_or_foreign_baseline_files_are_usage_errors(pytester: pytest.Pytester, suite: Path, content: str | None, message: str) -> None:
    if content is not None:
        (pytester.path / "old.json").write_text(content)
    result = pytester.runpytest("cases", A, "--taskbench-compare=old.json")
    result.stderr.fnmatch_lines([f"ERROR: taskbench: */old.json*: *{message}*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_update_baseline_rewrites_it_in_place_without_applying_regression_gates(pytester: pytest.Pytester, saved: Path) -> None:
    result = pytester.runpytest("cases", B, "--taskbench-compare=default", "--taskbench-update-baseline", "--taskbench-fail-on-critical-regression")
    result.stdout.fnmatch_lines(
        [
            "note: updating .taskbench/baselines/default.json: regression gates not applied; review the diff",
            "cases: 3 regressed, 1 fixed*",
            f"taskbench: updated baseline {BASELINE} (11 cases from this run); review its diff before committing",
        ]
    )
    assert result.ret == 0
    baseline = load(saved)
    assert baseline.model.startswith("callable:model_b:respond:")
    assert next(c for c in baseline.cases if c.id == "g1").output == "wrong"
    again = pytester.runpytest("cases", B, "--taskbench-compare=default", "--taskbench-fail-on-critical-regression")
    again.stdout.fnmatch_lines(["aggregate * baseline: +0.000 *, no change*"])
    assert again.ret == 0


def test_a_subset_update_keeps_the_cases_that_did_not_run(pytester: pytest.Pytester, saved: Path) -> None:
    result = pytester.runpytest("cases", B, "-k", "g1", "--taskbench-update-baseline")
    result.stdout.fnmatch_lines([f"taskbench: updated baseline {BASELINE} (1 cases from this run, 10 kept from cases that did not run)*"])
    outputs = {c.id: c.output for c in load(saved).cases}
    assert len(outputs) == 11 and outputs["g1"] == "wrong" and outputs["s1"] == "s1"


def test_comparison_reaches_json_report_junit_xml_and_the_comparison_file(pytester: pytest.Pytester, saved: Path) -> None:
    pytester.runpytest(
        "cases",
        B,
        "--taskbench-compare=default",
        "--json-report",
        "--json-report-file=report.json",
        "--junitxml=junit.xml",
        "--taskbench-comparison-file=out/comparison.json",
    )
    summary = json.loads((pytester.path / "report.json").read_text())["taskbench"]["suites"]["demo"]
    comparison = summary["comparison"]
    assert [c["key"] for c in comparison["regressions"]] == ["cases/greet.jsonl::g1", "cases/greet.jsonl::g2", "cases/shout.jsonl::s1"]
    assert comparison["critical_regressions"] == ["cases/shout.jsonl::s1"] and comparison["aggregate"]["verdict"] == "not significant"
    assert summary["statistics"]["aggregate_ci"]["method"] == "stratified percentile bootstrap"
    assert summary["categories"]["greet"]["pass_rate_ci"]["method"] == "Wilson"
    properties = {p.get("name"): p.get("value") for p in ET.parse(pytester.path / "junit.xml").iter("property")}
    assert properties["taskbench.baseline.verdict"] == "not significant" and properties["taskbench.baseline.regressed"] == "3"
    assert "taskbench.aggregate_ci_low" in properties
    written = json.loads((pytester.path / "out/comparison.json").read_text())
    assert written["suites"]["demo"]["fixes"][0]["key"] == "cases/greet.jsonl::g7"


@pytest.mark.slow
def test_xdist_saves_and_compares_the_same_as_one_process(pytester: pytest.Pytester, suite: Path) -> None:
    pytester.runpytest("cases", A, "-n", "2", "--taskbench-save-baseline")
    baseline = load(pytester.path / BASELINE)
    assert len(baseline.cases) == 11 and baseline.model.startswith("callable:model_a:respond:")  # identity comes from the workers
    result = pytester.runpytest("cases", B, "-n", "2", "--taskbench-compare=default", "--taskbench-fail-on-critical-regression")
    result.stdout.fnmatch_lines(["cases: 3 regressed, 1 fixed, 0 other score changes, 4 outputs changed, 0 new, 0 only in the baseline"])
    assert result.ret == 1


def test_interval_gate_and_the_small_run_warning(pytester: pytest.Pytester, suite: Path) -> None:
    result = pytester.runpytest("cases", A, "--taskbench-min-aggregate-lower-bound=0.95")
    result.stdout.fnmatch_lines(
        [
            "  0.929 ± 0.* (standard error); 95% CI * to 1.000 (stratified percentile bootstrap over cases within each category, seed 20240601)",
            "warning: only 11 cases ran, fewer than the suite's min_cases (100): the aggregate's 95% interval * is too wide to trust a gate on; *",
            "  FAIL min_aggregate_lower_bound: lower bound of the aggregate's 95% interval 0.* < 0.950",
        ]
    )
    assert result.ret == 1


def test_regression_gates_from_the_suite_file(pytester: pytest.Pytester, saved: Path, suite: Path) -> None:
    (suite / "taskbench.yaml").write_text(SUITE + "gates:\n  fail_on_critical_regression: true\n  alpha: 0.1\n")
    result = pytester.runpytest("cases", B, "--taskbench-compare=default", "--taskbench-compare-shared-only")
    result.stdout.fnmatch_lines(["aggregate * (90% CI *", "  FAIL critical_regression: *"])
    assert result.ret == 1
    (suite / "taskbench.yaml").write_text(SUITE + "gates:\n  alpha: 2\n")
    bad = pytester.runpytest("cases", A)
    bad.stdout.fnmatch_lines(["*gates.alpha must be a number above 0 and at most 0.5, got 2*"])
