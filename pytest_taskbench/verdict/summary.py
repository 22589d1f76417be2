"""Summarise case results: per category and difficulty, and the category-weighted aggregate.

Figures cover the cases that ran. When only some categories ran (``-k``,
``--lf``), the aggregate re-normalises the weights of the categories present
and the summary says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_taskbench import defaults
from pytest_taskbench.results import CaseResult

if TYPE_CHECKING:
    from pytest_taskbench.verdict.sampling import SamplingSummary
    from pytest_taskbench.verdict.stats import Interval


@dataclass(frozen=True)
class GroupSummary:
    """Figures for one group of cases (a category or a difficulty level)."""

    name: str
    cases: int
    mean: float
    passed: int
    errors: int = 0
    weight: float | None = None
    mean_ci: Interval | None = None  # percentile bootstrap of the mean (stats.with_intervals)
    pass_rate_ci: Interval | None = None  # Wilson interval of the pass rate
    judge_errors: int = 0

    @property
    def pass_rate(self) -> float:
        return self.passed / self.cases if self.cases else 0.0

    @property
    def failed(self) -> int:
        return self.cases - self.passed

    @property
    def failure_rate(self) -> float:
        return 1 - self.pass_rate


@dataclass(frozen=True)
class RunSummary:
    """What a run measured for one suite."""

    suite_name: str
    suite_path: str
    pass_threshold: float
    categories: tuple[GroupSummary, ...]
    difficulties: tuple[GroupSummary, ...]
    aggregate: float | None
    band: str
    cases: int
    passed: int
    errors: int
    broken: int
    total_in_suite: int | None
    weights_used: Mapping[str, float] = field(default_factory=dict)
    missing_categories: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    # uncertainty, filled in by stats.with_intervals (None when not computed or too few cases)
    aggregate_ci: Interval | None = None
    aggregate_se: float | None = None
    pass_rate_ci: Interval | None = None
    min_detectable_effect: float | None = None
    alpha: float = defaults.ALPHA
    seed: int | None = None
    warnings: tuple[str, ...] = ()
    judge_errors: int = 0  # cases whose judge gave no readable verdict
    sampling: SamplingSummary | None = None  # pass@k, pass^k and flaky cases, when cases were drawn more than once
    conversations: int = 0  # conversation cases among ``cases``
    side_effects: Mapping[str, int] = field(default_factory=dict)  # unintended changes to a conversation's state, by kind
    critical_side_effects: tuple[str, ...] = ()  # the cases with a critical side effect (a record the expected state keeps, deleted or changed)

    @property
    def failed(self) -> int:
        return self.cases - self.passed

    @property
    def pass_rate(self) -> float:
        return self.passed / self.cases if self.cases else 0.0

    @property
    def is_subset(self) -> bool:
        return self.total_in_suite is not None and self.cases + self.broken < self.total_in_suite

    def category(self, name: str) -> GroupSummary | None:
        return next((group for group in self.categories if group.name == name), None)


def group(results: Sequence[CaseResult], key: str, order: Sequence[str], weights: Mapping[str, float] | None = None) -> tuple[GroupSummary, ...]:
    """One GroupSummary per value of ``key`` present in ``results``, in ``order`` then first-seen order."""
    buckets: dict[str, list[CaseResult]] = {}
    for result in results:
        buckets.setdefault(getattr(result, key), []).append(result)
    names = [name for name in order if name in buckets] + [name for name in buckets if name not in order]
    return tuple(
        GroupSummary(
            name=name,
            cases=len(buckets[name]),
            mean=sum(r.score for r in buckets[name]) / len(buckets[name]),
            passed=sum(r.passed for r in buckets[name]),
            errors=sum(r.status == "error" for r in buckets[name]),
            weight=None if weights is None else weights.get(name, 0.0),
            judge_errors=sum(r.status == "judge_error" for r in buckets[name]),
        )
        for name in names
    )


def weighted_aggregate(means: Mapping[str, float], weights: Mapping[str, float]) -> tuple[float | None, dict[str, float]]:
    """Weighted mean of category means over the categories present; returns it and the weights used."""
    present = {name: weights.get(name, 0.0) for name in means}
    total = sum(present.values())
    if not means or total <= 0:
        return None, {}
    used = {name: weight / total for name, weight in present.items()}
    return sum(means[name] * used[name] for name in means), used


def summarize(
    results: Iterable[CaseResult],
    *,
    suite_name: str,
    suite_path: str,
    weights: Mapping[str, float],
    difficulties: Sequence[str],
    pass_threshold: float,
    band_for: Callable[[float], str],
    total_in_suite: int | None = None,
    notes: Sequence[str] = (),
) -> RunSummary:
    all_results = list(results)
    scored = [r for r in all_results if r.status != "broken"]
    categories = group(scored, "category", list(weights), weights)
    aggregate, used = weighted_aggregate({c.name: c.mean for c in categories}, weights)
    missing = tuple(name for name, weight in weights.items() if weight > 0 and name not in used)
    all_notes = list(notes)
    if scored and missing:
        all_notes.append(f"no cases ran for {', '.join(missing)}: the aggregate re-weights the categories that ran")
    return RunSummary(
        suite_name=suite_name,
        suite_path=suite_path,
        pass_threshold=pass_threshold,
        categories=categories,
        difficulties=group(scored, "difficulty", difficulties),
        aggregate=aggregate,
        band=band_for(aggregate) if aggregate is not None else "no cases",
        cases=len(scored),
        passed=sum(r.passed for r in scored),
        errors=sum(r.status == "error" for r in scored),
        judge_errors=sum(r.status == "judge_error" for r in scored),
        broken=len(all_results) - len(scored),
        conversations=sum(r.conversation is not None for r in scored),
        side_effects=dict(Counter(str(effect.get("kind")) for r in scored for effect in r.side_effects)),
        critical_side_effects=tuple(r.case_id for r in scored if r.critical_side_effects),
        total_in_suite=total_in_suite,
        weights_used=used,
        missing_categories=missing if scored else (),
        notes=tuple(all_notes),
    )
