"""The comparison with a baseline as domain code: case-by-case diff, paired tests, regression gates."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_taskbench.baseline import SuiteRecord, build_baseline
from pytest_taskbench.results import CaseResult
from pytest_taskbench.verdict.compare import ComparedSuite, IncompatibleBaseline, compare_suite
from pytest_taskbench.verdict.gates import GateConfig, regression_results

SUITE = "cases/taskbench.yaml"
WEIGHTS = {"a": 0.5, "b": 0.5}
ALL_GATES = GateConfig(
    {
        "fail_on_significant_regression": True,
        "fail_on_category_regression": True,
        "fail_on_critical_regression": True,
        "max_aggregate_drop": 0.0,
        "non_inferiority_margin": 0.05,
    }
)


def run(scores: list[float], critical: int | None = None) -> list[CaseResult]:
    return [
        CaseResult(f"c{i}", f"cases/c.jsonl::c{i}", SUITE, "ab"[i % 2], "simple", s, s >= 0.8, input=f"q{i}", output=f"{s}", critical=i == critical)
        for i, s in enumerate(scores)
    ]


def compare(before: list[CaseResult], now: list[CaseResult], content_hash: str = "h", shared_only: bool = False):  # type: ignore[no-untyped-def]
    baseline = build_baseline(before, {SUITE: SuiteRecord("s", "h")}, model="old", config={})
    return compare_suite(baseline, now, ComparedSuite(SUITE, "s", content_hash, WEIGHTS, "new"), shared_only=shared_only)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0]), min_size=1, max_size=60))
def test_identical_runs_give_no_change_and_no_gate_fires(scores: list[float]) -> None:
    comparison = compare(run(scores), run(scores))
    agg = comparison.aggregate
    assert agg.verdict == "no change" and agg.change == 0 and agg.p_value == 1.0 and agg.mcnemar_p == 1.0
    assert agg.interval is None or (agg.interval.low, agg.interval.high) == (0.0, 0.0)
    assert not comparison.regressions and not comparison.fixes and not comparison.score_changes and not comparison.outputs_changed
    assert all(gate.passed for gate in regression_results(ALL_GATES, comparison))


def test_regressions_fixes_score_changes_and_new_and_missing_cases() -> None:
    before = run([1.0, 1.0, 0.0, 0.5, 1.0], critical=0)
    now = run([0.0, 1.0, 1.0, 0.25], critical=0) + [CaseResult("n", "cases/c.jsonl::n", SUITE, "a", "simple", 1.0, True)]
    comparison = compare(before, now)
    assert [c.key for c in comparison.regressions] == ["cases/c.jsonl::c0"]
    assert [c.key for c in comparison.fixes] == ["cases/c.jsonl::c2"]
    assert [c.key for c in comparison.score_changes] == ["cases/c.jsonl::c3"]
    assert comparison.new_cases == ("cases/c.jsonl::n",) and comparison.missing_cases == ("cases/c.jsonl::c4",)
    assert [c.key for c in comparison.critical_regressions] == ["cases/c.jsonl::c0"]
    assert comparison.aggregate.cases == 4
    failed = {gate.name for gate in regression_results(ALL_GATES, comparison) if not gate.passed}
    assert "critical_regression" in failed and "significant_regression" not in failed  # four cases are noise


def test_aggregate_change_is_the_weighted_change_of_category_means() -> None:
    comparison = compare(run([1.0] * 8), run([0.0, 1.0] * 4))  # every "a" case (even index) drops
    by_name = {g.name: g for g in comparison.categories}
    assert by_name["a"].change == -1.0 and by_name["b"].change == 0.0
    assert comparison.aggregate.change == pytest.approx(-0.5)
    assert comparison.aggregate.interval is not None and comparison.aggregate.interval.contains(-0.5)


def test_a_clear_regression_is_significant_and_fails_every_regression_gate() -> None:
    comparison = compare(run([1.0] * 80), run([0.0] * 30 + [1.0] * 50))
    assert comparison.aggregate.verdict == "significant regression" and comparison.aggregate.mcnemar_p < 1e-6
    gates = {gate.name: gate for gate in regression_results(ALL_GATES, comparison)}
    assert not any(gates[name].passed for name in ("significant_regression", "max_aggregate_drop", "non_inferiority", "category_regression"))
    assert gates["critical_regression"].passed


def test_a_drop_beyond_the_limit_but_inside_the_noise_holds_the_gate() -> None:
    comparison = compare(run([1.0] * 10), run([0.0] + [1.0] * 9))
    gate = regression_results(GateConfig({"max_aggregate_drop": 0.05}), comparison)[0]
    assert gate.passed and "not significant" in gate.message and "inside the noise" in gate.message


def test_a_changed_case_input_is_not_paired() -> None:
    now = [replace(r, input="edited") if r.case_id == "c1" else r for r in run([1.0] * 4)]
    comparison = compare(run([1.0] * 4), now)
    assert comparison.input_changed == ("cases/c.jsonl::c1",) and comparison.aggregate.cases == 3


def test_a_baseline_from_another_suite_is_refused_unless_shared_only() -> None:
    with pytest.raises(
        IncompatibleBaseline, match="was saved from a different suite: 's' with content hash h, this run's suite is 's' with content hash other"
    ):
        compare(run([1.0] * 4), run([1.0] * 4), content_hash="other")
    assert compare(run([1.0] * 4), run([1.0] * 4), content_hash="other", shared_only=True).suite_changed
    with pytest.raises(IncompatibleBaseline, match="no case of suite 's' in this run is in the baseline"):
        compare(run([1.0] * 4), [replace(r, nodeid="x::" + r.case_id) for r in run([1.0] * 4)])
