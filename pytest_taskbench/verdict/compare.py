"""Compare a run with a baseline case by case, test the change, and apply the regression gates.

Only *shared* cases are paired: cases in both the run and the baseline whose
input and expected answer are unchanged. For those, per category and for the
weighted aggregate, the change in mean score gets a paired stratified bootstrap
interval and a sign-flip permutation p-value, and pass/fail flips get McNemar's
exact test (see ``stats``). Category p-values are Holm-adjusted before a
category counts as significantly changed, so a suite with many categories does
not raise more false alarms than one with few.

Domain code: no pytest import.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pytest_taskbench.baseline import Baseline, BaselineCase, sha256
from pytest_taskbench.guards.display import safe_text
from pytest_taskbench.results import CaseResult
from pytest_taskbench.suite import GateConfig
from pytest_taskbench.verdict.gates import GateResult
from pytest_taskbench.verdict.stats import DEFAULT_ALPHA, DEFAULT_SEED, Interval, holm_adjust, mcnemar_exact, sign_flip_test, stratified_mean
from pytest_taskbench.verdict.summary import weighted_aggregate

MAX_CASES_SHOWN = 10


class IncompatibleBaseline(Exception):
    """The baseline was made from another suite (or shares no case with the run)."""


@dataclass(frozen=True)
class ComparedSuite:
    """This run's side of a comparison: the suite (checked against the baseline's record of it), its weights and the model."""

    file: str
    name: str
    content_hash: str
    weights: Mapping[str, float]
    model: str


@dataclass(frozen=True)
class CaseChange:
    """A shared case whose pass state, score or output moved."""

    key: str
    category: str
    baseline_score: float
    score: float
    baseline_passed: bool
    passed: bool
    output_changed: bool
    critical: bool = False
    baseline_output: str | None = None


@dataclass(frozen=True)
class GroupChange:
    """The change of one category's mean score (or of the weighted aggregate) on the shared cases."""

    name: str
    cases: int
    baseline_mean: float
    mean: float
    interval: Interval | None
    p_value: float
    mcnemar_p: float
    regressed: int
    fixed: int
    unchanged: bool
    alpha: float = DEFAULT_ALPHA
    p_adjusted: float | None = None

    @property
    def change(self) -> float:
        return self.mean - self.baseline_mean

    @property
    def tested_p(self) -> float:
        """The p-value the verdict uses: Holm-adjusted for categories, as is for the aggregate."""
        return self.p_value if self.p_adjusted is None else self.p_adjusted

    @property
    def significant(self) -> bool:
        """``tested_p`` below alpha; the sign of ``change`` says which way."""
        return not self.unchanged and self.tested_p < self.alpha

    @property
    def significant_regression(self) -> bool:
        return self.significant and self.change < 0

    @property
    def verdict(self) -> str:
        if self.unchanged:
            return "no change"
        if self.significant:
            return "significant regression" if self.change < 0 else "significant improvement"
        return "not significant"

    def to_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "baseline_mean": self.baseline_mean,
            "mean": self.mean,
            "change": self.change,
            "change_ci": None if self.interval is None else self.interval.to_dict(),
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "mcnemar_p": self.mcnemar_p,
            "regressed": self.regressed,
            "fixed": self.fixed,
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class Comparison:
    """One suite's run against the baseline."""

    baseline_path: str
    baseline_model: str
    baseline_created: str
    model: str
    alpha: float
    suite_changed: bool
    aggregate: GroupChange
    categories: tuple[GroupChange, ...]
    regressions: tuple[CaseChange, ...]
    fixes: tuple[CaseChange, ...]
    score_changes: tuple[CaseChange, ...]
    outputs_changed: tuple[str, ...]
    new_cases: tuple[str, ...]
    missing_cases: tuple[str, ...]
    input_changed: tuple[str, ...]

    @property
    def critical_regressions(self) -> tuple[CaseChange, ...]:
        return tuple(change for change in self.regressions if change.critical)

    def lines(self, verbose: int = 0) -> list[str]:
        return comparison_lines(self, verbose)

    def to_dict(self) -> dict[str, Any]:
        def case(change: CaseChange) -> dict[str, Any]:
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

        return {
            "baseline": self.baseline_path,
            "baseline_model": self.baseline_model,
            "baseline_created": self.baseline_created,
            "model": self.model,
            "alpha": self.alpha,
            "suite_changed": self.suite_changed,
            "shared_cases": self.aggregate.cases,
            "aggregate": self.aggregate.to_dict(),
            "categories": {group.name: group.to_dict() for group in self.categories},
            "regressions": [case(c) for c in self.regressions],
            "fixes": [case(c) for c in self.fixes],
            "score_changes": [case(c) for c in self.score_changes],
            "critical_regressions": [c.key for c in self.critical_regressions],
            "outputs_changed": list(self.outputs_changed),
            "new_cases": list(self.new_cases),
            "missing_cases": list(self.missing_cases),
            "input_changed": list(self.input_changed),
        }


def compare_suite(
    baseline: Baseline,
    results: Sequence[CaseResult],
    suite: ComparedSuite,
    *,
    alpha: float = DEFAULT_ALPHA,
    seed: int = DEFAULT_SEED,
    shared_only: bool = False,
) -> Comparison:
    """Compare one suite's results with the baseline; raises IncompatibleBaseline.

    A baseline saved from a different suite (another name or content hash) is refused unless
    ``shared_only``, which compares the cases both hold with unchanged input and expected answer.
    """
    record = baseline.suites.get(suite.file)
    shown = baseline.path or "the baseline"
    fix = "pass --taskbench-compare-shared-only to compare the cases both share, or save a new baseline with --taskbench-save-baseline"
    if record is None and not shared_only:
        held = ", ".join(f"{r.name} ({path})" for path, r in baseline.suites.items()) or "no suite"
        raise IncompatibleBaseline(f"{shown} holds no results for suite {suite.name!r} ({suite.file}); it holds {held}; {fix}")
    suite_changed = record is None or record.name != suite.name or record.content_hash != suite.content_hash
    if suite_changed and not shared_only:
        assert record is not None
        raise IncompatibleBaseline(
            f"{shown} was saved from a different suite: {record.name!r} with content hash {record.content_hash[:12]}, "
            f"this run's suite is {suite.name!r} with content hash {suite.content_hash[:12]} (cases or the suite file changed); {fix}"
        )
    before = {case.key: case for case in baseline.cases} if record is None else baseline.cases_of(suite.file)
    now = {result.nodeid: result for result in results if result.status != "broken"}
    input_changed = sorted(key for key in now.keys() & before.keys() if not _same_case(before[key], now[key]))
    shared = sorted(key for key in now.keys() & before.keys() if key not in input_changed)
    if not shared:
        raise IncompatibleBaseline(f"{shown}: no case of suite {suite.name!r} in this run is in the baseline with the same input; {fix}")
    changes = [_case_change(before[key], now[key]) for key in shared]
    by_category: dict[str, list[CaseChange]] = {}
    for change in changes:
        by_category.setdefault(change.category, []).append(change)
    return Comparison(
        baseline_path=shown,
        baseline_model=baseline.model,
        baseline_created=baseline.created,
        model=suite.model,
        alpha=alpha,
        suite_changed=suite_changed,
        aggregate=_group_change("aggregate", by_category, suite.weights, alpha, seed),
        categories=_category_changes(by_category, suite.weights, alpha, seed),
        regressions=tuple(c for c in changes if c.baseline_passed and not c.passed),
        fixes=tuple(c for c in changes if c.passed and not c.baseline_passed),
        score_changes=tuple(c for c in changes if c.passed == c.baseline_passed and abs(c.score - c.baseline_score) > 1e-9),
        outputs_changed=tuple(c.key for c in changes if c.output_changed),
        new_cases=tuple(sorted(now.keys() - before.keys())),
        missing_cases=tuple(sorted(before.keys() - now.keys())),
        input_changed=tuple(input_changed),
    )


def _same_case(before: BaselineCase, now: CaseResult) -> bool:
    return (not before.input_sha256 or before.input_sha256 == sha256(now.input)) and (
        not before.expected_sha256 or before.expected_sha256 == sha256(now.expected)
    )


def _case_change(before: BaselineCase, now: CaseResult) -> CaseChange:
    return CaseChange(
        now.nodeid,
        now.category,
        before.score,
        round(now.score, 6),
        before.passed,
        now.passed,
        before.output != now.output,
        now.critical or before.critical,
        baseline_output=before.output,
    )


def _group_change(name: str, by_category: Mapping[str, Sequence[CaseChange]], weights: Mapping[str, float], alpha: float, seed: int) -> GroupChange:
    changes = [change for items in by_category.values() for change in items]
    differences = {category: [c.score - c.baseline_score for c in items] for category, items in by_category.items()}
    # Only the change needs resampling; the two means are plain weighted means of category means.
    current, _ = weighted_aggregate({k: sum(c.score for c in v) / len(v) for k, v in by_category.items()}, weights)
    before, _ = weighted_aggregate({k: sum(c.baseline_score for c in v) / len(v) for k, v in by_category.items()}, weights)
    delta = stratified_mean(differences, weights, alpha=alpha, seed=seed, label=f"change:{name}")
    regressed = sum(c.baseline_passed and not c.passed for c in changes)
    fixed = sum(c.passed and not c.baseline_passed for c in changes)
    return GroupChange(
        name=name,
        cases=len(changes),
        baseline_mean=math.nan if before is None else before,
        mean=math.nan if current is None else current,
        interval=delta.interval,
        p_value=sign_flip_test(differences, weights, seed=seed, label=f"change:{name}"),
        mcnemar_p=mcnemar_exact(regressed, fixed),
        regressed=regressed,
        fixed=fixed,
        unchanged=not any(any(values) for values in differences.values()),
        alpha=alpha,
    )


def _category_changes(by_category: Mapping[str, Sequence[CaseChange]], weights: Mapping[str, float], alpha: float, seed: int) -> tuple[GroupChange, ...]:
    order = [name for name in weights if name in by_category] + sorted(by_category.keys() - weights.keys())
    groups = [_group_change(name, {name: by_category[name]}, {name: 1.0}, alpha, seed) for name in order]
    adjusted = holm_adjust([g.p_value for g in groups])
    return tuple(replace(g, p_adjusted=p) for g, p in zip(groups, adjusted))


# gates --------------------------------------------------------------------------


def regression_gates(comparison: Comparison, gates: GateConfig) -> tuple[GateResult, ...]:
    """The regression gates configured in ``gates``, checked against the comparison."""
    agg = comparison.aggregate
    level = f"{100 * (1 - comparison.alpha):g}%"
    results: list[GateResult] = []
    stated = f"aggregate change {agg.change:+.3f} ({_p(agg.p_value)}): {agg.verdict}"
    if gates.fail_on_significant_regression:
        results.append(GateResult("significant_regression", not agg.significant_regression, agg.p_value, comparison.alpha, stated))
    if gates.max_aggregate_drop is not None:
        too_far = agg.change < -gates.max_aggregate_drop
        passed = not (too_far and agg.significant_regression)
        message = f"{stated}; largest drop allowed {gates.max_aggregate_drop:.3f}"
        if too_far and not agg.significant_regression:
            message += " (exceeded, but inside the noise, so the gate holds)"
        results.append(GateResult("max_aggregate_drop", passed, agg.change, -gates.max_aggregate_drop, message))
    if gates.non_inferiority_margin is not None:
        margin = -gates.non_inferiority_margin
        if agg.interval is None:
            results.append(GateResult("non_inferiority", agg.unchanged, agg.change, margin, f"no {level} interval for the change on {agg.cases} shared cases"))
        else:
            low = agg.interval.low
            relation = ">" if low > margin else "<="
            results.append(
                GateResult("non_inferiority", low > margin, low, margin, f"lower {level} bound of the aggregate's change {low:+.3f} {relation} {margin:+.3f}")
            )
    if gates.fail_on_category_regression:
        regressed = [g for g in comparison.categories if g.significant_regression]
        names = ", ".join(f"{g.name} {g.change:+.3f} (Holm-adjusted {_p(g.tested_p)})" for g in regressed)
        results.append(GateResult("category_regression", not regressed, len(regressed), 0, f"categories with a significant regression: {names or 'none'}"))
    if gates.fail_on_critical_regression:
        critical = comparison.critical_regressions
        keys = ", ".join(c.key for c in critical[:5]) + (" ..." if len(critical) > 5 else "")
        results.append(
            GateResult(
                "critical_regression",
                not critical,
                len(critical),
                0,
                f"critical cases that passed before and fail now: {len(critical)}" + (f" ({keys})" if keys else ""),
            )
        )
    return tuple(results)


def has_regression_gates(gates: GateConfig) -> bool:
    return bool(
        gates.fail_on_significant_regression
        or gates.max_aggregate_drop is not None
        or gates.non_inferiority_margin is not None
        or gates.fail_on_category_regression
        or gates.fail_on_critical_regression
    )


def refused_gate(message: str) -> GateResult:
    """The failing gate a run gets when its baseline cannot be compared."""
    return GateResult("baseline", False, 0, 0, f"refusing to compare: {message}")


# rendering ----------------------------------------------------------------------


def _p(value: float) -> str:
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


def _cases(count: int) -> str:
    return f"{count} case{'' if count == 1 else 's'}"


def _interval(interval: Interval | None) -> str:
    if interval is None:
        return "no interval"
    return f"{100 * interval.level:g}% CI {interval.low:+.3f} to {interval.high:+.3f}"


def comparison_lines(comparison: Comparison, verbose: int = 0) -> list[str]:
    agg = comparison.aggregate
    lines = [
        f"baseline: {safe_text(comparison.baseline_path)} (model {safe_text(comparison.baseline_model or 'unknown')}, saved {safe_text(comparison.baseline_created)})",
        f"  compared on {agg.cases} shared cases"
        + ("; the suite changed since the baseline (--taskbench-compare-shared-only)" if comparison.suite_changed else ""),
        f"aggregate {agg.mean:.3f} vs {agg.baseline_mean:.3f} baseline: {agg.change:+.3f} ({_interval(agg.interval)}), {agg.verdict} "
        f"(sign-flip {_p(agg.p_value)}); {_cases(agg.regressed)} regressed, {agg.fixed} fixed (McNemar {_p(agg.mcnemar_p)})",
    ]
    for g in comparison.categories:
        lines.append(
            f"  {safe_text(g.name)}: {g.mean:.3f} vs {g.baseline_mean:.3f}: {g.change:+.3f} ({_interval(g.interval)}), {_cases(g.regressed)} regressed, "
            f"{g.fixed} fixed (McNemar {_p(g.mcnemar_p)}), {g.verdict} (Holm-adjusted sign-flip {_p(g.tested_p)})"
        )
    lines.append(
        f"cases: {len(comparison.regressions)} regressed, {len(comparison.fixes)} fixed, {len(comparison.score_changes)} other score changes, "
        f"{len(comparison.outputs_changed)} outputs changed, {len(comparison.new_cases)} new, {len(comparison.missing_cases)} only in the baseline"
        + (f", {len(comparison.input_changed)} with a changed input (not compared)" if comparison.input_changed else "")
    )
    for title, changes in (("regressed", comparison.regressions), ("fixed", comparison.fixes)):
        shown = changes if verbose > 0 else changes[:MAX_CASES_SHOWN]
        if changes:
            lines.append(f"{title}:" + (f" (first {len(shown)} of {len(changes)}; -v shows all)" if len(shown) < len(changes) else ""))
            lines.extend(f"  {safe_text(c.key)}  {c.baseline_score:.2f} -> {c.score:.2f}" + ("  [critical]" if c.critical else "") for c in shown)
    return lines


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


@dataclass(frozen=True)
class BaselineCheck:
    """What the baseline adds to one suite's report: the comparison, its gates, and notes."""

    comparison: Comparison | None = None
    gates: tuple[GateResult, ...] = ()
    notes: tuple[str, ...] = ()


def check_against_baseline(
    baseline: Baseline | None,
    results: Sequence[CaseResult],
    suite: ComparedSuite,
    *,
    gates: GateConfig,
    seed: int = DEFAULT_SEED,
    shared_only: bool = False,
    updating: bool = False,
) -> BaselineCheck:
    """Compare with the baseline (when there is one) and evaluate the regression gates.

    While the baseline is being updated the comparison is shown for review but its gates
    are not applied, and a baseline from another suite is not refused: updating blesses
    this run, as syrupy's ``--snapshot-update`` does.
    """
    if baseline is None:
        note = "regression gates are configured but there is no baseline to compare with (--taskbench-compare)"
        return BaselineCheck(notes=(note,) if has_regression_gates(gates) and not updating else ())
    try:
        comparison = compare_suite(baseline, results, suite, alpha=gates.alpha, seed=seed, shared_only=shared_only or updating)
    except IncompatibleBaseline as exc:
        if updating:
            return BaselineCheck(notes=(f"not compared with the old baseline: {exc}",))
        return BaselineCheck(gates=(refused_gate(str(exc)),))
    if updating:
        return BaselineCheck(comparison, notes=(f"updating {comparison.baseline_path}: regression gates not applied; review the diff",))
    return BaselineCheck(comparison, regression_gates(comparison, gates))
