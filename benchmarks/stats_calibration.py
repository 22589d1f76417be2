"""How often the regression gates fire: on pairs of runs with no true change (false alarms) and with a true drop (detection).

Each simulated case has its own pass probability (Beta(6, 1.5), mean about 0.80, so
cases differ in difficulty as real ones do); the baseline and the current run are
independent pass/fail draws, the current one at the case's probability minus ``drop``.
With ``--repeats K`` each run draws K samples per case and a case's value is their mean
(the ``mean`` policy), as a sampled model's run with ``repeats: K`` has it. Every pair goes
through the real code path: a Baseline, CaseResults, compare_suite and
regression_results with ``fail_on_significant_regression`` and
``fail_on_category_regression`` switched on (two categories, weights 0.5 / 0.5).

Beside the gates as they are, the script reports the rule they replaced (before
pytest-taskbench 0.2: a two-sided sign-flip p-value below alpha with the change
negative, Holm over the categories' two-sided p-values), read off the same comparisons.

    python benchmarks/stats_calibration.py                  # 400 pairs each, 500 cases, repeats 1 and 4
    python benchmarks/stats_calibration.py --pairs 1000 --cases 500 --repeats 1 --exact-pairs 0

First, the test's variants on pass/fail scores, computed exactly on many simulated pairs
(``exact_rates``): the two-sided rule, the one-sided exact test the gates use, a mid-p
version and the randomised test of level exactly alpha (the ceiling for any unbiased test).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pytest_taskbench.baseline import SuiteRecord, build_baseline
from pytest_taskbench.results import CaseResult, SampleResult
from pytest_taskbench.verdict.compare import ComparedSuite, Comparison, GroupChange, compare_suite
from pytest_taskbench.verdict.gates import GateConfig, regression_results
from pytest_taskbench.verdict.stats import holm_adjust

SUITE = "cases/taskbench.yaml"
WEIGHTS = {"a": 0.5, "b": 0.5}
GATES = GateConfig({"fail_on_significant_regression": True, "fail_on_category_regression": True})
ALPHA = 0.05


def _run(passes: np.ndarray) -> list[CaseResult]:
    """Results from a (cases, repeats) array of sample outcomes; a case's score is its samples' mean."""
    results = []
    for i, row in enumerate(passes):
        score = float(np.mean(row))
        samples = tuple(SampleResult(str(bool(ok)), float(ok), bool(ok)) for ok in row) if len(row) > 1 else ()
        category = "ab"[i % 2]
        results.append(
            CaseResult(f"c{i}", f"cases/c.jsonl::c{i}", SUITE, category, "simple", score, score >= 0.8, input=f"q{i}", output=str(score), samples=samples)
        )
    return results


def _old_rule(comparison: Comparison) -> dict[str, bool]:
    """The two-sided rule the gates used before: p = 2 * min(one-sided p-values) below alpha, and the change negative."""

    def two_sided(group: GroupChange) -> float:
        assert group.flips is not None
        return min(1.0, 2 * min(group.flips.less, group.flips.greater))

    aggregate = comparison.aggregate
    adjusted = holm_adjust([two_sided(g) for g in comparison.categories])
    return {
        "significant_regression": aggregate.change < 0 and two_sided(aggregate) < ALPHA,
        "category_regression": any(g.change < 0 and p < ALPHA for g, p in zip(comparison.categories, adjusted)),
    }


def gate_firing_rates(pairs: int, cases: int, drop: float, seed: int, repeats: int = 1) -> dict[str, float]:
    """The share of pairs in which each gate fired (and, under ``old:``, in which the replaced two-sided rule would have)."""
    rng = np.random.default_rng(seed)
    fired = {"significant_regression": 0, "category_regression": 0, "old:significant_regression": 0, "old:category_regression": 0}
    for _ in range(pairs):
        probability = rng.beta(6, 1.5, size=cases)
        before = _run(rng.random((cases, repeats)) < probability[:, None])
        now = _run(rng.random((cases, repeats)) < np.clip(probability - drop, 0, 1)[:, None])
        baseline = build_baseline(before, {SUITE: SuiteRecord("sim", "hash")}, model="m", config={})
        comparison = compare_suite(baseline, now, ComparedSuite(SUITE, "sim", "hash", WEIGHTS, "m"), alpha=ALPHA)
        for gate in regression_results(GATES, comparison):
            fired[gate.name] += not gate.passed
        for name, hit in _old_rule(comparison).items():
            fired[f"old:{name}"] += hit
    return {name: count / pairs for name, count in fired.items()}


def exact_rates(pairs: int, cases: int, drop: float, seed: int, alpha: float = ALPHA) -> dict[str, float]:
    """On pass/fail scores the sign-flip test is McNemar's exact test on the cases that changed; its variants, computed exactly.

    The share of ``pairs`` simulated pairs (the same model of cases as above, vectorised) in which each rule finds a
    drop: the two-sided rule, the one-sided exact test, its mid-p version, and the randomised test of level exactly
    alpha (the most powerful unbiased test on this data, the ceiling for any unbiased test of that level).
    """
    from scipy import stats

    rng = np.random.default_rng(seed)
    probability = rng.beta(6, 1.5, size=(pairs, cases))
    before = rng.random((pairs, cases)) < probability
    now = rng.random((pairs, cases)) < np.clip(probability - drop, 0, 1)
    regressed, fixed = (before & ~now).sum(axis=1), (~before & now).sum(axis=1)
    moved = regressed + fixed
    at_least = stats.binom.sf(regressed - 1, moved, 0.5)  # P(as many regressions or more) when a move is a coin flip
    exactly = stats.binom.pmf(regressed, moved, 0.5)
    at_most = stats.binom.cdf(regressed, moved, 0.5)
    more = at_least - exactly
    randomised = np.where(at_least < alpha, 1.0, np.where(more < alpha, (alpha - more) / np.where(exactly > 0, exactly, 1), 0.0))
    return {
        "two-sided rule (before)": float(np.mean((regressed > fixed) & (np.minimum(1, 2 * np.minimum(at_least, at_most)) < alpha))),
        "one-sided exact (now)": float(np.mean(at_least < alpha)),
        "one-sided mid-p": float(np.mean(at_least - exactly / 2 < alpha)),
        "randomised, level exactly alpha": float(np.mean(randomised)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=400)
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--drop", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, nargs="+", default=[1, 4], help="samples per case (one block of figures each)")
    parser.add_argument("--exact-pairs", type=int, default=40000, help="pairs for the exact comparison of test variants (0: skip)")
    args = parser.parse_args()
    if args.exact_pairs:
        for label, drop in (("no true change", 0.0), (f"true drop of {args.drop:g}", args.drop)):
            rates = exact_rates(args.exact_pairs, args.cases, drop, args.seed)
            print(f"{label}, {args.exact_pairs} pairs of {args.cases} pass/fail cases, the test's variants computed exactly (aggregate):")
            for name, rate in rates.items():
                print(f"  {name:32s} finds a drop in {100 * rate:6.2f}% of pairs")
    for repeats in args.repeats:
        for label, drop in (("no true change (false-alarm rate)", 0.0), (f"true drop of {args.drop:g} (detection rate)", args.drop)):
            began = time.perf_counter()
            rates = gate_firing_rates(args.pairs, args.cases, drop, args.seed, repeats)
            first = rates["significant_regression"]
            margin = 1.96 * np.sqrt(max(first, 1 / args.pairs) * (1 - first) / args.pairs)
            print(f"{label}, {args.pairs} pairs of {args.cases} cases, repeats {repeats} ({time.perf_counter() - began:.0f}s):")
            for name in ("significant_regression", "category_regression"):
                print(f"  {name:24s} fired in {100 * rates[name]:5.1f}% of pairs (the two-sided rule it replaced: {100 * rates['old:' + name]:5.1f}%)")
            print(f"  (sampling error of the first rate: about ±{100 * margin:.1f} points)")


if __name__ == "__main__":
    main()
