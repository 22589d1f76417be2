"""Compare a run with a baseline case by case and test the change (the regression gates read it: ``gates.py``).

Only *shared* cases are paired: cases in both the run and the baseline whose
input and expected answer are unchanged. For those, per category and for the
weighted aggregate, the change in mean score gets a paired stratified bootstrap
interval and a one-sided sign-flip permutation p-value in the direction it went
(a drop is tested as a drop: the regression gates fire at most alpha of the time
when nothing changed), and pass/fail flips get McNemar's exact test (see
``stats``). Category p-values are Holm-adjusted, within each direction, before a
category counts as significantly changed, so a suite with many categories does
not raise more false alarms than one with few.

Domain code: no pytest import.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from pytest_taskbench.baseline import Baseline, BaselineCase, sha256
from pytest_taskbench.results import CaseResult
from pytest_taskbench.verdict.stats import DEFAULT_ALPHA, DEFAULT_SEED, Interval, SignFlip, holm_adjust, mcnemar_exact, sign_flips, stratified_mean
from pytest_taskbench.verdict.summary import weighted_aggregate


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
    flips: SignFlip | None = None  # both one-sided p-values; ``p_value`` is the one in the direction of the change

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
    repeats_note: str = ""  # set when the baseline and this run drew different numbers of samples per case

    @property
    def critical_regressions(self) -> tuple[CaseChange, ...]:
        return tuple(change for change in self.regressions if change.critical)


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
        repeats_note=_repeats_note(before, now, shared),
    )


def _repeats_note(before: Mapping[str, BaselineCase], now: Mapping[str, CaseResult], shared: Sequence[str]) -> str:
    """A warning when the paired cases drew different numbers of samples (or used another policy) in the baseline."""
    differ = [key for key in shared if before[key].samples != now[key].repeats or (now[key].samples and before[key].policy not in (None, now[key].policy))]
    if not differ:
        return ""
    key = differ[0]
    was, is_ = before[key], now[key]
    return (
        f"{len(differ)} of {len(shared)} compared cases drew a different number of samples or used another policy in the baseline "
        f"(e.g. {key}: {was.samples} sample(s), policy {was.policy or 'none'}, now {is_.repeats}, policy {is_.policy if is_.samples else 'none'}): "
        "a case's value is a mean or an order statistic of its samples, so its noise differs and the comparison mixes two measurements; "
        "save the baseline with the same repeats and policy as the runs compared with it"
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
    flips = sign_flips(differences, weights, seed=seed, label=f"change:{name}")
    regressed = sum(c.baseline_passed and not c.passed for c in changes)
    fixed = sum(c.passed and not c.baseline_passed for c in changes)
    return GroupChange(
        name=name,
        cases=len(changes),
        baseline_mean=math.nan if before is None else before,
        mean=math.nan if current is None else current,
        interval=delta.interval,
        p_value=flips.towards((current or 0.0) - (before or 0.0)),
        flips=flips,
        mcnemar_p=mcnemar_exact(regressed, fixed),
        regressed=regressed,
        fixed=fixed,
        unchanged=not any(any(values) for values in differences.values()),
        alpha=alpha,
    )


def _category_changes(by_category: Mapping[str, Sequence[CaseChange]], weights: Mapping[str, float], alpha: float, seed: int) -> tuple[GroupChange, ...]:
    order = [name for name in weights if name in by_category] + sorted(by_category.keys() - weights.keys())
    groups = [_group_change(name, {name: by_category[name]}, {name: 1.0}, alpha, seed) for name in order]
    # Holm within each direction: a category that dropped is adjusted among every category's p-value for a drop, and
    # one that rose among the p-values for a rise, so each of "a category regressed" and "a category improved" keeps alpha.
    drops = holm_adjust([g.flips.less if g.flips else 1.0 for g in groups])
    rises = holm_adjust([g.flips.greater if g.flips else 1.0 for g in groups])
    return tuple(replace(g, p_adjusted=drop if g.change < 0 else rise if g.change > 0 else 1.0) for g, drop, rise in zip(groups, drops, rises))


# gates --------------------------------------------------------------------------


# rendering ----------------------------------------------------------------------
