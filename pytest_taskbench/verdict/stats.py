"""Statistics for a run and for a comparison with a baseline, on top of ``scipy.stats``.

Every function takes plain numbers (sequences or numpy arrays) and returns plain
values. Resampling is seeded: the same results and the same seed give the same
interval. Inputs are sorted before resampling, so the order in which cases
finished (which varies under xdist) never changes a figure.

What each figure is:

- mean score of a group: percentile bootstrap interval of the mean
  (``scipy.stats.bootstrap``, ``method="percentile"``).
- pass rate of a group: Wilson score interval
  (``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``).
- weighted aggregate: stratified percentile bootstrap. Each category is
  resampled on its own (scipy resamples every sample passed to ``bootstrap``
  independently), and the statistic is the weighted mean of the category means,
  so every resample keeps the category sizes and weights of the run. Its
  standard error is the standard deviation of those resampled aggregates.
- change against a baseline: on the shared cases, the per-case differences
  (current minus baseline) are bootstrapped the same stratified way for the
  interval, and tested with a one-sided sign-flip permutation test in the
  direction the change went (a regression gate asks one question: did it drop?),
  exact up to 16 moved cases; see ``sign_flips``.
- pass/fail flips: McNemar's exact test, a two-sided binomial test of
  regressions against regressions + fixes at 1/2.
"""

from __future__ import annotations

import inspect
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from pytest_taskbench import defaults
from pytest_taskbench.formatting import count
from pytest_taskbench.results import CaseResult
from pytest_taskbench.verdict.summary import GroupSummary, RunSummary, weighted_aggregate

DEFAULT_SEED = defaults.SEED
DEFAULT_ALPHA = defaults.ALPHA
BOOTSTRAP_RESAMPLES = 2000
PERMUTATION_RESAMPLES = 4999
DEFAULT_POWER = 0.8
# scipy resamples in batches of this many, which bounds memory on large runs
# (a permutation batch holds batch x cases x 2 indices).
_BATCH = 500
_PERMUTATION_BATCH = 2000


@dataclass(frozen=True)
class Interval:
    """A two-sided confidence interval and the method that produced it."""

    low: float
    high: float
    level: float
    method: str

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


@dataclass(frozen=True)
class StratifiedEstimate:
    """A weighted mean of group means, its resampled interval and standard error."""

    estimate: float
    interval: Interval | None
    standard_error: float | None


def _generator(seed: int, label: str) -> np.random.Generator:
    """A generator per (seed, figure), so one figure's resamples do not depend on which others were computed."""
    return np.random.default_rng([seed, zlib.crc32(label.encode())])


def _rng_kwargs(function: Any, generator: np.random.Generator) -> dict[str, Any]:
    # scipy 1.15 renamed random_state to rng (SPEC 7); accept both so scipy>=1.11 works.
    name = "rng" if "rng" in inspect.signature(function).parameters else "random_state"
    return {name: generator}


def _clamped(low: float, high: float, point: float, level: float, method: str) -> Interval:
    # Resampled statistics are summed in a different order than the point estimate, so a
    # degenerate interval can miss it by one rounding step; widen by at most that much.
    return Interval(min(float(low), point), max(float(high), point), level, method)


def _weighted_groups(groups: Mapping[str, Sequence[float]], weights: Mapping[str, float]) -> tuple[dict[str, np.ndarray], float | None, dict[str, float]]:
    """The non-empty groups sorted (so case order never matters), their weighted mean of means, and the weights used."""
    arrays = {name: np.sort(np.asarray(values, dtype=float)) for name, values in groups.items() if len(values)}
    estimate, used = weighted_aggregate({name: float(np.mean(values)) for name, values in arrays.items()}, weights)
    return arrays, estimate, used


def mean_interval(values: Sequence[float], *, alpha: float = DEFAULT_ALPHA, seed: int = DEFAULT_SEED, label: str = "mean") -> Interval | None:
    """Percentile bootstrap interval of the mean; None for fewer than two values.

    Args:
        values: one score per case.
        alpha: 1 - confidence level.
        seed: resampling seed.
        label: names the figure, so different figures use different resamples.
    """
    return stratified_mean({"": values}, {"": 1.0}, alpha=alpha, seed=seed, label=label).interval


def stratified_mean(
    groups: Mapping[str, Sequence[float]],
    weights: Mapping[str, float],
    *,
    alpha: float = DEFAULT_ALPHA,
    seed: int = DEFAULT_SEED,
    label: str = "aggregate",
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> StratifiedEstimate:
    """Weighted mean of group means with a stratified percentile bootstrap interval.

    Groups with no values are left out and the weights of the others renormalised
    (as the summary's aggregate does). A group with one value cannot be resampled
    and enters every resample as that value. With no group of two or more values
    there is no interval (``interval`` and ``standard_error`` are None).

    Args:
        groups: values per group (category).
        weights: weight per group; groups missing here weigh 0.
        alpha: 1 - confidence level of the interval.
        seed: resampling seed.
        label: names the figure, so different figures use different resamples.
        resamples: bootstrap resamples.
    """
    arrays, estimate, used = _weighted_groups(groups, weights)
    if estimate is None:
        return StratifiedEstimate(math.nan, None, None)
    varying = [name for name in sorted(arrays) if len(arrays[name]) >= 2 and used[name] > 0]
    if not varying:
        return StratifiedEstimate(estimate, None, None)
    fixed = sum(used[name] * float(np.mean(values)) for name, values in arrays.items() if name not in varying)
    factors = [used[name] for name in varying]

    def statistic(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        aggregate: np.ndarray = fixed + sum(factor * np.mean(sample, axis=axis) for factor, sample in zip(factors, samples))
        return aggregate

    from scipy import stats

    level = 1 - alpha
    result = stats.bootstrap(
        tuple(arrays[name] for name in varying),
        statistic,
        n_resamples=resamples,
        batch=_BATCH,
        vectorized=True,
        confidence_level=level,
        method="percentile",
        **_rng_kwargs(stats.bootstrap, _generator(seed, label)),
    )
    interval = result.confidence_interval
    method = "stratified percentile bootstrap" if len(arrays) > 1 else "percentile bootstrap"
    return StratifiedEstimate(estimate, _clamped(interval.low, interval.high, estimate, level, method), float(result.standard_error))


def wilson_interval(passed: int, cases: int, *, alpha: float = DEFAULT_ALPHA) -> Interval | None:
    """Wilson score interval of a pass rate; None when there are no cases."""
    if cases <= 0:
        return None
    from scipy import stats

    interval = stats.binomtest(passed, cases).proportion_ci(confidence_level=1 - alpha, method="wilson")
    return _clamped(interval.low, interval.high, passed / cases, 1 - alpha, "Wilson")


def mcnemar_exact(regressed: int, fixed: int) -> float:
    """Two-sided p-value of McNemar's exact test on the discordant pairs (1.0 when there are none)."""
    discordant = regressed + fixed
    if discordant == 0:
        return 1.0
    from scipy import stats

    return float(stats.binomtest(regressed, discordant, 0.5).pvalue)


@dataclass(frozen=True)
class SignFlip:
    """One-sided p-values of a paired sign-flip test: that the change is a drop (``less``) and that it is a rise (``greater``)."""

    less: float
    greater: float

    def towards(self, change: float) -> float:
        """The p-value in the direction the change went (1.0 for no change)."""
        if change < 0:
            return self.less
        if change > 0:
            return self.greater
        return 1.0


EXACT_SIGN_FLIPS = 16  # up to this many moved cases, every sign pattern is enumerated (2**16 patterns)


def sign_flips(
    differences: Mapping[str, Sequence[float]],
    weights: Mapping[str, float],
    *,
    seed: int = DEFAULT_SEED,
    label: str = "change",
    resamples: int = PERMUTATION_RESAMPLES,
) -> SignFlip:
    """One-sided p-values that the weighted mean of per-group mean differences is zero, against a drop and against a rise.

    Under no change a case is as likely to move up as down, so the sign of each paired
    difference is flipped at random; the statistic is the same weighted mean of group
    means the aggregate uses. Both tails come from the same flips. With up to 16 moved
    cases every sign pattern is enumerated (an exact p-value); otherwise ``resamples``
    random patterns give ``(b + 1) / (resamples + 1)``, which never falls below the exact
    p-value's expectation (Phipson and Smyth, 2010), so the test keeps its level. A flip
    as extreme as the observed one counts (ties matter: scores often take few values).
    """
    arrays, _, used = _weighted_groups(differences, weights)
    if not used:
        return SignFlip(1.0, 1.0)
    names = sorted(arrays)
    flat = np.concatenate([arrays[name] for name in names])
    factor = np.concatenate([np.full(len(arrays[name]), used[name] / len(arrays[name])) for name in names])
    # A zero difference contributes nothing whatever its sign, so only the cases that moved are flipped.
    values = (flat * factor)[flat != 0]
    if len(values) == 0:
        return SignFlip(1.0, 1.0)
    observed = float(np.sum(values))
    tolerance = 1e-9 * float(np.sum(np.abs(values)))
    if len(values) <= EXACT_SIGN_FLIPS:
        patterns = ((np.arange(2 ** len(values))[:, None] >> np.arange(len(values))) & 1) * 2 - 1
        flipped = patterns @ values
        return SignFlip(float(np.mean(flipped <= observed + tolerance)), float(np.mean(flipped >= observed - tolerance)))
    generator = _generator(seed, label)
    at_most = at_least = 0
    done = 0
    while done < resamples:
        size = min(_PERMUTATION_BATCH, resamples - done)
        signs = generator.integers(0, 2, size=(size, len(values)), dtype=np.int8) * 2 - 1
        flipped = signs @ values
        at_most += int(np.sum(flipped <= observed + tolerance))
        at_least += int(np.sum(flipped >= observed - tolerance))
        done += size
    return SignFlip((at_most + 1) / (resamples + 1), (at_least + 1) / (resamples + 1))


def sign_flip_test(
    differences: Mapping[str, Sequence[float]],
    weights: Mapping[str, float],
    *,
    seed: int = DEFAULT_SEED,
    label: str = "change",
    resamples: int = PERMUTATION_RESAMPLES,
) -> float:
    """Two-sided p-value of the sign-flip test (twice the smaller one-sided p-value, at most 1)."""
    flips = sign_flips(differences, weights, seed=seed, label=label, resamples=resamples)
    return min(1.0, 2 * min(flips.less, flips.greater))


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given): controls the chance of any false alarm across groups."""
    order = sorted(range(len(p_values)), key=lambda index: p_values[index])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def minimum_detectable_effect(
    means: Mapping[str, float],
    counts: Mapping[str, int],
    weights: Mapping[str, float],
    *,
    alpha: float = DEFAULT_ALPHA,
    power: float = DEFAULT_POWER,
) -> float | None:
    """Smallest drop of the weighted aggregate a two-sided test at ``alpha`` detects with ``power``.

    MDE = (z[1 - alpha/2] + z[power]) * sqrt(2 * sum_c w_c^2 * p_c (1 - p_c) / n_c), with
    p_c = (n_c * mean_c + 2) / (n_c + 4). This is the standard error of the difference
    between two runs whose case results are independent, with each case treated as
    pass/fail at its category's (Agresti-Coull adjusted) mean: the largest variance a
    score in [0, 1] with that mean can have. A paired comparison of two models that
    mostly agree case by case does better, so read it as an upper bound.
    """
    aggregate, used = weighted_aggregate({name: mean for name, mean in means.items() if counts.get(name, 0) > 0}, weights)
    if aggregate is None:
        return None
    from scipy import stats

    variance = 0.0
    for name, weight in used.items():
        n = counts[name]
        adjusted = (n * means[name] + 2) / (n + 4)
        variance += weight**2 * adjusted * (1 - adjusted) / n
    z = float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))
    return z * math.sqrt(2 * variance)


DEFAULT_MIN_CASES = defaults.MIN_CASES


def with_intervals(
    summary: RunSummary,
    results: Sequence[CaseResult],
    *,
    alpha: float = DEFAULT_ALPHA,
    seed: int = DEFAULT_SEED,
    min_cases: int | None = None,
    gated: bool = False,
) -> RunSummary:
    """The summary with intervals on every group, on the aggregate and on the pass rate.

    When ``gated`` and fewer than ``min_cases`` (default 100) cases ran, a warning
    says the interval is too wide to trust and gives the minimum detectable effect.
    """
    scored = [r for r in results if r.status != "broken"]
    by_category = _scores_by(scored, "category")
    by_difficulty = _scores_by(scored, "difficulty")

    def with_ci(group: GroupSummary, scores: Mapping[str, list[float]], kind: str) -> GroupSummary:
        values = scores.get(group.name, [])
        return replace(
            group,
            mean_ci=mean_interval(values, alpha=alpha, seed=seed, label=f"{kind}:{group.name}"),
            pass_rate_ci=wilson_interval(group.passed, group.cases, alpha=alpha),
        )

    aggregate = stratified_mean(by_category, summary.weights_used, alpha=alpha, seed=seed)
    mde = minimum_detectable_effect(
        {g.name: g.mean for g in summary.categories}, {g.name: g.cases for g in summary.categories}, summary.weights_used, alpha=alpha
    )
    warnings = list(summary.warnings)
    minimum = min_cases or DEFAULT_MIN_CASES
    if gated and 0 < summary.cases < minimum:
        width = f"{aggregate.interval.low:.3f} to {aggregate.interval.high:.3f}" if aggregate.interval else "not computable"
        if mde is None:
            detect = "drops of unknown size"
        elif mde < 1:
            detect = f"only drops of about {mde:.3f} or more"
        else:
            detect = "no drop at all (it would take more than the whole 0-1 scale)"
        warnings.append(
            f"only {count(summary.cases, 'case')} ran, fewer than the suite's min_cases ({minimum}): the aggregate's "
            f"{100 * (1 - alpha):g}% interval ({width}) is too wide to trust a gate on; a baseline comparison at this size "
            f"detects {detect} (80% power, alpha {alpha:g})"
        )
    return replace(
        summary,
        categories=tuple(with_ci(g, by_category, "category") for g in summary.categories),
        difficulties=tuple(with_ci(g, by_difficulty, "difficulty") for g in summary.difficulties),
        aggregate_ci=aggregate.interval,
        aggregate_se=aggregate.standard_error,
        pass_rate_ci=wilson_interval(summary.passed, summary.cases, alpha=alpha),
        min_detectable_effect=mde,
        alpha=alpha,
        seed=seed,
        warnings=tuple(warnings),
    )


def _scores_by(results: Sequence[CaseResult], key: str) -> dict[str, list[float]]:
    scores: dict[str, list[float]] = {}
    for result in results:
        scores.setdefault(getattr(result, key), []).append(result.score)
    return scores
