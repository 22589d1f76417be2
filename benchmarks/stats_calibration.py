"""How often the regression gates fire: on pairs of runs with no true change (false alarms) and with a true drop (detection).

Each simulated case has its own pass probability (Beta(6, 1.5), mean about 0.80, so
cases differ in difficulty as real ones do); the baseline and the current run are
independent pass/fail draws, the current one at the case's probability minus ``drop``.
Every pair goes through the real code path: a Baseline, CaseResults, compare_suite
and regression_results with ``fail_on_significant_regression`` and
``fail_on_category_regression`` switched on (two categories, weights 0.5 / 0.5).

    python benchmarks/stats_calibration.py                  # 400 pairs each, 500 cases
    python benchmarks/stats_calibration.py --pairs 1000 --cases 500
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pytest_taskbench.baseline import SuiteRecord, build_baseline
from pytest_taskbench.results import CaseResult
from pytest_taskbench.verdict.compare import ComparedSuite, compare_suite
from pytest_taskbench.verdict.gates import GateConfig, regression_results

SUITE = "cases/taskbench.yaml"
WEIGHTS = {"a": 0.5, "b": 0.5}
GATES = GateConfig({"fail_on_significant_regression": True, "fail_on_category_regression": True})


def _run(passed: np.ndarray) -> list[CaseResult]:
    return [
        CaseResult(f"c{i}", f"cases/c.jsonl::c{i}", SUITE, "ab"[i % 2], "simple", float(ok), bool(ok), input=f"q{i}", output=str(bool(ok)))
        for i, ok in enumerate(passed)
    ]


def gate_firing_rates(pairs: int, cases: int, drop: float, seed: int) -> dict[str, float]:
    """The share of pairs in which each gate fired."""
    rng = np.random.default_rng(seed)
    fired = {"significant_regression": 0, "category_regression": 0}
    for _ in range(pairs):
        probability = rng.beta(6, 1.5, size=cases)
        before = _run(rng.random(cases) < probability)
        now = _run(rng.random(cases) < np.clip(probability - drop, 0, 1))
        baseline = build_baseline(before, {SUITE: SuiteRecord("sim", "hash")}, model="m", config={})
        comparison = compare_suite(baseline, now, ComparedSuite(SUITE, "sim", "hash", WEIGHTS, "m"))
        for gate in regression_results(GATES, comparison):
            fired[gate.name] += not gate.passed
    return {name: count / pairs for name, count in fired.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=400)
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--drop", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for label, drop in (("no true change (false-alarm rate)", 0.0), (f"true drop of {args.drop:g} (detection rate)", args.drop)):
        began = time.perf_counter()
        rates = gate_firing_rates(args.pairs, args.cases, drop, args.seed)
        margin = 1.96 * np.sqrt(max(rates["significant_regression"], 1 / args.pairs) * (1 - rates["significant_regression"]) / args.pairs)
        print(f"{label}, {args.pairs} pairs of {args.cases} cases ({time.perf_counter() - began:.0f}s):")
        for name, rate in rates.items():
            print(f"  {name:24s} fired in {100 * rate:5.1f}% of pairs")
        print(f"  (sampling error of the first rate: about ±{100 * margin:.1f} points)")


if __name__ == "__main__":
    main()
