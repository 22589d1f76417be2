"""Figures for cases drawn more than once (``repeats``): pass@k, pass^k, flaky cases.

For a case with n samples of which c pass, the unbiased estimators are

- pass@k = 1 - C(n - c, k) / C(n, k): the chance that at least one of k samples,
  drawn without replacement from the n, passes (Chen et al., 2021, "Evaluating Large
  Language Models Trained on Code", eq. 1, computed as their numerically stable product);
- pass^k = C(c, k) / C(n, k): the chance that all k pass (Yao et al., 2024, tau-bench).

A group's figure is the mean over its cases that have at least k samples; the overall
figure weighs the categories' figures as the aggregate does. Intervals resample cases,
not samples (a cluster bootstrap): a case's k samples are one unit, so drawing more
samples never narrows an interval as if they were more cases.

Domain code: no pytest import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pytest_taskbench.results import CaseResult
from pytest_taskbench.verdict.stats import DEFAULT_ALPHA, DEFAULT_SEED, Interval, stratified_mean
from pytest_taskbench.verdict.summary import weighted_aggregate


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for a case with ``n`` samples, ``c`` passing (requires 1 <= k <= n)."""
    if not 1 <= k <= n or not 0 <= c <= n:
        raise ValueError(f"pass@k needs 1 <= k <= n and 0 <= c <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Unbiased pass^k (all of k samples pass) for a case with ``n`` samples, ``c`` passing."""
    if not 1 <= k <= n or not 0 <= c <= n:
        raise ValueError(f"pass^k needs 1 <= k <= n and 0 <= c <= n, got n={n}, c={c}, k={k}")
    product = 1.0
    for i in range(k):
        product *= (c - i) / (n - i)
    return max(0.0, product)


@dataclass(frozen=True)
class AtK:
    """pass@k and pass^k of a group for one k, over the ``cases`` that had at least k samples."""

    k: int
    cases: int
    pass_at: float
    pass_all: float
    pass_at_ci: Interval | None = None
    pass_all_ci: Interval | None = None


@dataclass(frozen=True)
class GroupSampling:
    name: str
    cases: int
    samples: int
    sample_pass_rate: float  # the mean over cases of the share of samples that passed (pass@1)
    flaky: int
    figures: tuple[AtK, ...]

    def at(self, k: int) -> AtK | None:
        return next((figure for figure in self.figures if figure.k == k), None)


@dataclass(frozen=True)
class FlakyCase:
    """A case whose samples disagree: ``passes`` of ``samples`` passed."""

    nodeid: str
    category: str
    passes: int
    samples: int
    passed: bool  # the case's verdict under its policy

    @property
    def rate(self) -> float:
        return self.passes / self.samples


@dataclass(frozen=True)
class SamplingSummary:
    """What the samples of a run say beyond the cases' scores."""

    ks: tuple[int, ...]
    repeats: tuple[int, ...]  # the distinct sample counts cases had
    policies: tuple[str, ...]
    categories: tuple[GroupSampling, ...]
    overall: GroupSampling  # categories weighted as the aggregate
    flaky: tuple[FlakyCase, ...]  # lowest pass rate first
    rates: tuple[tuple[str, float], ...] = ()  # every case's share of passing samples, lowest first

    def below(self, rate: float) -> tuple[tuple[str, float], ...]:
        """The cases that passed less than ``rate`` of their samples."""
        return tuple(item for item in self.rates if item[1] < rate - 1e-12)


def default_ks(most: int) -> tuple[int, ...]:
    """1 and the most samples any case had."""
    return tuple(sorted({1, most}))


def summarize_samples(
    results: Sequence[CaseResult],
    weights: Mapping[str, float],
    ks: Sequence[int] = (),
    *,
    alpha: float = DEFAULT_ALPHA,
    seed: int = DEFAULT_SEED,
) -> SamplingSummary | None:
    """pass@k and pass^k per category and overall, and the flaky cases; None when no case had more than one sample."""
    scored = [r for r in results if r.status != "broken"]
    if not any(r.samples for r in scored):
        return None
    most = max(r.repeats for r in scored)
    wanted = tuple(sorted(k for k in set(ks) if k >= 1)) or default_ks(most)
    by_category: dict[str, list[CaseResult]] = {}
    for result in scored:
        by_category.setdefault(result.category, []).append(result)
    order = [name for name in weights if name in by_category] + [name for name in by_category if name not in weights]
    categories = tuple(_group(name, by_category[name], wanted) for name in order)
    overall = _overall(categories, by_category, weights, wanted, alpha, seed)
    flaky = sorted((FlakyCase(r.nodeid, r.category, r.sample_passes, r.repeats, r.passed) for r in scored if r.flaky), key=lambda f: (f.rate, f.nodeid))
    rates = tuple(sorted(((r.nodeid, r.sample_pass_rate) for r in scored), key=lambda item: (item[1], item[0])))
    return SamplingSummary(
        wanted, tuple(sorted({r.repeats for r in scored})), tuple(sorted({r.policy for r in scored if r.samples})), categories, overall, tuple(flaky), rates
    )


def _values(results: Sequence[CaseResult], k: int) -> tuple[list[float], list[float]]:
    """Per-case pass@k and pass^k of the cases with at least k samples."""
    eligible = [r for r in results if r.repeats >= k]
    return [pass_at_k(r.repeats, r.sample_passes, k) for r in eligible], [pass_hat_k(r.repeats, r.sample_passes, k) for r in eligible]


def _group(name: str, results: Sequence[CaseResult], ks: Sequence[int]) -> GroupSampling:
    figures = []
    for k in ks:
        at, all_ = _values(results, k)
        if at:
            figures.append(AtK(k, len(at), sum(at) / len(at), sum(all_) / len(all_)))
    return GroupSampling(
        name,
        len(results),
        sum(r.repeats for r in results),
        sum(r.sample_pass_rate for r in results) / len(results),
        sum(r.flaky for r in results),
        tuple(figures),
    )


def _overall(
    categories: Sequence[GroupSampling],
    by_category: Mapping[str, Sequence[CaseResult]],
    weights: Mapping[str, float],
    ks: Sequence[int],
    alpha: float,
    seed: int,
) -> GroupSampling:
    rate, _ = weighted_aggregate({g.name: g.sample_pass_rate for g in categories}, weights)
    figures = []
    for k in ks:
        per_case = {name: _values(results, k) for name, results in by_category.items()}
        at = stratified_mean({name: values[0] for name, values in per_case.items()}, weights, alpha=alpha, seed=seed, label=f"pass@{k}")
        all_ = stratified_mean({name: values[1] for name, values in per_case.items()}, weights, alpha=alpha, seed=seed, label=f"pass^{k}")
        cases = sum(len(values[0]) for values in per_case.values())
        if cases and at.estimate == at.estimate:  # nan: no category with weight has a case with k samples
            figures.append(AtK(k, cases, at.estimate, all_.estimate, at.interval, all_.interval))
    return GroupSampling(
        "overall",
        sum(g.cases for g in categories),
        sum(g.samples for g in categories),
        rate if rate is not None else 0.0,
        sum(g.flaky for g in categories),
        tuple(figures),
    )
