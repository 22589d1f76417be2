"""A finished run as data: the JSON summary (pytest-json-report, the ``pytest_taskbench_summary`` hook) and JUnit XML properties."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_taskbench.reports.judging import calibration_dict
from pytest_taskbench.verdict.analysis import CategoryNote, ConfusionMatrix, FailureAnalysis
from pytest_taskbench.verdict.compare import CaseChange, Comparison, GroupChange
from pytest_taskbench.verdict.finish import SuiteReport
from pytest_taskbench.verdict.sampling import GroupSampling, SamplingSummary
from pytest_taskbench.verdict.stats import Interval
from pytest_taskbench.verdict.summary import GroupSummary, RunSummary


def summary_dict(report: SuiteReport) -> dict[str, Any]:
    s = report.summary

    def groups(items: Sequence[GroupSummary]) -> dict[str, dict[str, Any]]:
        return {
            g.name: {"cases": g.cases, "mean": g.mean, "pass_rate": g.pass_rate, "passed": g.passed, "errors": g.errors}
            | ({"judge_errors": g.judge_errors} if g.judge_errors else {})
            | ({"weight": g.weight} if g.weight is not None else {})
            | {"mean_ci": _ci_dict(g.mean_ci), "pass_rate_ci": _ci_dict(g.pass_rate_ci)}
            for g in items
        }

    summary = {
        "suite": s.suite_name,
        "suite_path": s.suite_path,
        "aggregate": s.aggregate,
        "band": s.band,
        "pass_threshold": s.pass_threshold,
        "cases": s.cases,
        "passed": s.passed,
        "failed": s.failed,
        "errors": s.errors,
        "broken": s.broken,
        "total_in_suite": s.total_in_suite,
        "subset": s.is_subset,
        "weights_used": dict(s.weights_used),
        "categories": groups(s.categories),
        "difficulties": groups(s.difficulties),
        "notes": list(s.notes),
        "gates": [{"name": g.name, "passed": g.passed, "measured": g.measured, "threshold": g.threshold, "message": g.message} for g in report.verdict.gates],
        "verdict": "pass" if report.verdict.passed else "fail",
        "failing_cases": [r.nodeid for r in report.failing],
        "statistics": statistics_dict(s),
        "warnings": list(s.warnings),
        "comparison": None if report.comparison is None else comparison_dict(report.comparison),
        "generation": dict(report.counters),
        "analysis": None if report.analysis is None else analysis_dict(report.analysis),
    }
    if report.calibration:  # only a run with a judge has them, so other summaries keep their shape
        summary |= {
            "judge_errors": s.judge_errors,
            "calibration": [calibration_dict(a) for a in report.calibration],
            "ungated_categories": list(report.ungated),
        }
    if s.conversations:  # only a suite with conversation cases has it, so other summaries keep their shape
        found = report.analysis.conversations if report.analysis is not None else None
        summary["conversations"] = {
            "cases": s.conversations,
            "side_effects": dict(s.side_effects),
            "critical_side_effects": list(s.critical_side_effects),
            "first_wrong_turn": {} if found is None else {str(turn): n for turn, n in sorted(found.first_wrong_turn.items())},
        }
    if s.sampling is not None:  # only a run with repeats has it, so other summaries keep their shape
        summary["sampling"] = sampling_dict(s.sampling)
    return summary


def _at_k(group: GroupSampling) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "cases": group.cases,
        "samples": group.samples,
        "sample_pass_rate": group.sample_pass_rate,
        "flaky": group.flaky,
    }
    for figure in group.figures:
        figures[f"pass@{figure.k}"] = figure.pass_at
        figures[f"pass^{figure.k}"] = figure.pass_all
        figures[f"cases_with_{figure.k}_samples"] = figure.cases
        if figure.pass_at_ci is not None:
            figures[f"pass@{figure.k}_ci"] = _ci_dict(figure.pass_at_ci)
        if figure.pass_all_ci is not None:
            figures[f"pass^{figure.k}_ci"] = _ci_dict(figure.pass_all_ci)
    return figures


def sampling_dict(sampling: SamplingSummary) -> dict[str, Any]:
    """pass@k, pass^k and flaky cases (a run with repeats)."""
    return {
        "k": list(sampling.ks),
        "repeats": list(sampling.repeats),
        "policies": list(sampling.policies),
        "categories": {g.name: _at_k(g) for g in sampling.categories},
        "overall": _at_k(sampling.overall),
        "flaky_cases": [
            {"nodeid": f.nodeid, "category": f.category, "passed_samples": f.passes, "samples": f.samples, "passed": f.passed} for f in sampling.flaky
        ],
    }


def summary_document(summaries: Sequence[dict[str, Any]], passed: bool) -> dict[str, Any]:
    """The run's JSON summary: its verdict and each suite's ``summary_dict`` by name (pytest-json-report's ``taskbench`` key holds the same)."""
    return {"verdict": "pass" if passed else "fail", "suites": {summary["suite"]: summary for summary in summaries}}


def _ci_dict(interval: Interval | None) -> dict[str, Any] | None:
    return None if interval is None else {"low": interval.low, "high": interval.high, "level": interval.level, "method": interval.method}


def statistics_dict(s: RunSummary) -> dict[str, Any]:
    """The aggregate's uncertainty and how it was computed."""
    return {
        "aggregate_ci": _ci_dict(s.aggregate_ci),
        "aggregate_se": s.aggregate_se,
        "pass_rate_ci": _ci_dict(s.pass_rate_ci),
        "minimum_detectable_effect": s.min_detectable_effect,
        "alpha": s.alpha,
        "seed": s.seed,
    }


def flat_properties(report: SuiteReport, with_suite_prefix: bool = False) -> list[tuple[str, str]]:
    """Session-level figures as (name, value) pairs for JUnit XML <properties>."""
    s = report.summary
    prefix = f"taskbench.{s.suite_name}." if with_suite_prefix else "taskbench."
    pairs: list[tuple[str, str]] = [
        (prefix + "suite", s.suite_name),
        (prefix + "aggregate", "" if s.aggregate is None else f"{s.aggregate:.6f}"),
        (prefix + "band", s.band),
        (prefix + "cases", str(s.cases)),
        (prefix + "passed", str(s.passed)),
        (prefix + "verdict", "pass" if report.verdict.passed else "fail"),
    ]
    for g in s.categories:
        pairs.append((f"{prefix}category.{g.name}.mean", f"{g.mean:.6f}"))
        pairs.append((f"{prefix}category.{g.name}.pass_rate", f"{g.pass_rate:.6f}"))
        pairs.append((f"{prefix}category.{g.name}.cases", str(g.cases)))
    for gate in report.verdict.gates:
        pairs.append((f"{prefix}gate.{gate.name}", ("pass: " if gate.passed else "fail: ") + gate.message))
    if s.aggregate_ci is not None and s.aggregate_se is not None:
        pairs += [(prefix + "aggregate_ci_low", f"{s.aggregate_ci.low:.6f}"), (prefix + "aggregate_ci_high", f"{s.aggregate_ci.high:.6f}")]
        pairs.append((prefix + "aggregate_se", f"{s.aggregate_se:.6f}"))
    if s.sampling is not None:
        for figure in s.sampling.overall.figures:
            pairs += [(f"{prefix}pass@{figure.k}", f"{figure.pass_at:.6f}"), (f"{prefix}pass^{figure.k}", f"{figure.pass_all:.6f}")]
        pairs.append((prefix + "flaky_cases", str(len(s.sampling.flaky))))
    if report.comparison is not None:
        pairs += flat_comparison_properties(report.comparison, prefix)
    return pairs


def flat_comparison_properties(comparison: Comparison, prefix: str) -> list[tuple[str, str]]:
    """The comparison's headline figures as JUnit XML properties."""
    agg = comparison.aggregate
    pairs = [
        (prefix + "baseline", comparison.baseline_path),
        (prefix + "baseline.aggregate", f"{agg.baseline_mean:.6f}"),
        (prefix + "baseline.change", f"{agg.change:+.6f}"),
        (prefix + "baseline.p_value", f"{agg.p_value:.6f}"),
        (prefix + "baseline.verdict", agg.verdict),
        (prefix + "baseline.regressed", str(len(comparison.regressions))),
        (prefix + "baseline.fixed", str(len(comparison.fixes))),
    ]
    if agg.interval is not None:
        pairs += [(prefix + "baseline.change_ci_low", f"{agg.interval.low:+.6f}"), (prefix + "baseline.change_ci_high", f"{agg.interval.high:+.6f}")]
    return pairs


def group_change_dict(change: GroupChange) -> dict[str, Any]:
    return {
        "cases": change.cases,
        "baseline_mean": change.baseline_mean,
        "mean": change.mean,
        "change": change.change,
        "change_ci": _ci_dict(change.interval),
        "p_value": change.p_value,
        "p_adjusted": change.p_adjusted,
        "mcnemar_p": change.mcnemar_p,
        "regressed": change.regressed,
        "fixed": change.fixed,
        "verdict": change.verdict,
    }


def _case_change_dict(change: CaseChange) -> dict[str, Any]:
    return {
        "key": change.key,
        "category": change.category,
        "baseline_score": change.baseline_score,
        "score": change.score,
        "baseline_passed": change.baseline_passed,
        "passed": change.passed,
        "output_changed": change.output_changed,
        "critical": change.critical,
    }


def comparison_dict(comparison: Comparison) -> dict[str, Any]:
    """The comparison with the baseline, as the JSON summary and ``--taskbench-comparison-file`` hold it."""
    return {
        "baseline": comparison.baseline_path,
        "baseline_model": comparison.baseline_model,
        "baseline_created": comparison.baseline_created,
        "model": comparison.model,
        "alpha": comparison.alpha,
        "suite_changed": comparison.suite_changed,
        "shared_cases": comparison.aggregate.cases,
        "aggregate": group_change_dict(comparison.aggregate),
        "categories": {group.name: group_change_dict(group) for group in comparison.categories},
        "regressions": [_case_change_dict(c) for c in comparison.regressions],
        "fixes": [_case_change_dict(c) for c in comparison.fixes],
        "score_changes": [_case_change_dict(c) for c in comparison.score_changes],
        "critical_regressions": [c.key for c in comparison.critical_regressions],
        "outputs_changed": list(comparison.outputs_changed),
        "new_cases": list(comparison.new_cases),
        "missing_cases": list(comparison.missing_cases),
        "input_changed": list(comparison.input_changed),
    }


def confusion_dict(matrix: ConfusionMatrix) -> dict[str, Any]:
    return {
        "field": matrix.field,
        "expected": list(matrix.expected_labels),
        "got": list(matrix.got_labels),
        "counts": [[matrix.count(e, g) for g in matrix.got_labels] for e in matrix.expected_labels],
        "confusions": [{"expected": e, "got": g, "count": n, "cases": list(matrix.cells[(e, g)])} for e, g, n in matrix.confusions()],
    }


def analysis_dict(analysis: FailureAnalysis) -> dict[str, Any]:
    def notes(items: Sequence[CategoryNote]) -> list[dict[str, Any]]:
        return [{"category": n.category, "mean": n.mean, "cases": n.cases, "recommendation": n.recommendation} for n in items]

    return {
        "thresholds": {"strength": analysis.config.strength, "weakness": analysis.config.weakness},
        "failing": analysis.failing,
        "strengths": notes(analysis.strengths),
        "weaknesses": notes(analysis.weaknesses),
        "parse_errors": list(analysis.parse_errors),
        "model_errors": list(analysis.model_errors),
        "confusion": None if analysis.confusion is None else confusion_dict(analysis.confusion),
        "fields": [{"field": f.name, "missing": f.missing, "wrong": f.wrong, "partial": f.partial, "invented": f.invented} for f in analysis.fields],
        "functions": [{"function": f.name, "wrong": f.wrong, "partial": f.partial, "missing": f.missing, "extra": f.extra} for f in analysis.functions],
        "failure_rate_by_difficulty": {g.name: {"cases": g.cases, "failed": g.failed, "rate": g.failure_rate} for g in analysis.by_difficulty},
        "difficulty_trend": analysis.difficulty_trend,
        "conversations": None
        if analysis.conversations is None
        else {
            "cases": analysis.conversations.cases,
            "failing": analysis.conversations.failing,
            "first_wrong_turn": {str(turn): n for turn, n in sorted(analysis.conversations.first_wrong_turn.items())},
            "side_effects": dict(analysis.conversations.side_effects),
            "flagged": list(analysis.conversations.flagged),
        },
        "category_by_difficulty": [
            {"category": c.category, "difficulty": c.difficulty, "cases": c.cases, "mean": c.mean, "passed": c.passed} for c in analysis.cross
        ],
    }
