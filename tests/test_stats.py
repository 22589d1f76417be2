"""The statistics: intervals, paired tests, the minimum detectable effect, and their properties."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_taskbench.results import CaseResult
from pytest_taskbench.verdict.stats import (
    holm_adjust,
    mcnemar_exact,
    mean_interval,
    minimum_detectable_effect,
    sign_flip_test,
    stratified_mean,
    wilson_interval,
    with_intervals,
)
from pytest_taskbench.verdict.summary import summarize, weighted_aggregate

scores = st.lists(st.floats(min_value=0, max_value=1, allow_nan=False), max_size=40)
FAST = settings(max_examples=40, deadline=None)


def test_mean_interval_needs_two_values() -> None:
    assert mean_interval([]) is None
    assert mean_interval([0.7]) is None


def test_constant_scores_give_a_zero_width_interval() -> None:
    interval = mean_interval([0.5] * 20)
    assert interval is not None and (interval.low, interval.high) == (0.5, 0.5)
    assert interval.method == "percentile bootstrap" and interval.level == 0.95


def test_same_seed_same_interval_and_case_order_does_not_matter() -> None:
    generator = random.Random(1)
    values = [generator.random() for _ in range(50)]
    shuffled = random.Random(2).sample(values, len(values))
    assert mean_interval(values, seed=7) == mean_interval(shuffled, seed=7)
    assert mean_interval(values, seed=7) != mean_interval(values, seed=8)


def test_interval_narrows_with_more_cases() -> None:
    rng = np.random.default_rng(0)
    small, large = mean_interval(rng.random(30).tolist()), mean_interval(rng.random(600).tolist())
    assert small is not None and large is not None
    assert large.high - large.low < (small.high - small.low) / 2


def test_wilson_interval_matches_the_formula() -> None:
    interval = wilson_interval(8, 10)
    assert interval is not None and interval.method == "Wilson"
    z = 1.959963984540054
    centre = (0.8 + z * z / 20) / (1 + z * z / 10)
    half = z / (1 + z * z / 10) * math.sqrt(0.8 * 0.2 / 10 + z * z / 400)
    assert interval.low == pytest.approx(centre - half) and interval.high == pytest.approx(centre + half)
    assert wilson_interval(0, 0) is None
    assert wilson_interval(0, 10).low == 0.0 and wilson_interval(10, 10).high == 1.0  # type: ignore[union-attr]


def test_stratified_aggregate_uses_the_category_weights() -> None:
    groups = {"a": [1.0] * 10, "b": [0.0] * 10 + [1.0] * 10}
    estimate = stratified_mean(groups, {"a": 0.8, "b": 0.2})
    assert estimate.estimate == pytest.approx(0.8 * 1.0 + 0.2 * 0.5)
    assert estimate.interval is not None and estimate.standard_error is not None
    # only b varies, with weight 0.2: the aggregate's spread is a fifth of b's
    b_alone = stratified_mean({"b": groups["b"]}, {"b": 1.0})
    assert estimate.standard_error == pytest.approx(0.2 * b_alone.standard_error, rel=0.15)  # type: ignore[operator]


def test_single_case_categories_enter_as_constants_and_all_singletons_give_no_interval() -> None:
    assert stratified_mean({"a": [1.0], "b": [0.0]}, {"a": 0.5, "b": 0.5}).interval is None
    estimate = stratified_mean({"a": [1.0], "b": [0.0, 1.0, 1.0, 0.0]}, {"a": 0.5, "b": 0.5})
    assert estimate.interval is not None and estimate.interval.low >= 0.5


def test_mcnemar_exact() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(10, 0) == pytest.approx(2 * 0.5**10)
    assert mcnemar_exact(11, 2) == pytest.approx(0.0225, abs=1e-4)


def test_sign_flip_test_is_exact_for_few_cases() -> None:
    assert sign_flip_test({"a": [0.0] * 5}, {"a": 1.0}) == 1.0
    # 12 differences, all negative: 2 of the 4096 sign patterns are as extreme (4096 <= 4999 resamples, so exact)
    assert sign_flip_test({"a": [-1.0] * 12}, {"a": 1.0}) == pytest.approx(2 / 4096)


def test_holm_adjustment() -> None:
    assert holm_adjust([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm_adjust([]) == []


def test_minimum_detectable_effect_shrinks_with_the_square_root_of_cases() -> None:
    at_100 = minimum_detectable_effect({"a": 0.85}, {"a": 100}, {"a": 1.0})
    at_400 = minimum_detectable_effect({"a": 0.85}, {"a": 400}, {"a": 1.0})
    assert at_100 is not None and at_400 is not None
    assert at_100 / at_400 == pytest.approx(2, rel=0.05)
    # (1.96 + 0.84) * sqrt(2 * p(1 - p) / n) with the adjusted p = (85 + 2) / 104
    adjusted = 87 / 104
    assert at_100 == pytest.approx(2.8016 * math.sqrt(2 * adjusted * (1 - adjusted) / 100), rel=1e-3)
    assert minimum_detectable_effect({}, {}, {"a": 1.0}) is None


def _results(values: dict[str, list[float]]) -> list[CaseResult]:
    return [
        CaseResult(f"{name}{i}", f"c.jsonl::{name}{i}", "cases/taskbench.yaml", name, "simple", score, score >= 0.8)
        for name, scores_ in values.items()
        for i, score in enumerate(scores_)
    ]


def _summary(results: list[CaseResult], weights: dict[str, float]):  # type: ignore[no-untyped-def]
    return summarize(
        results, suite_name="s", suite_path="cases/taskbench.yaml", weights=weights, difficulties=["simple"], pass_threshold=0.8, band_for=lambda v: "b"
    )


def test_with_intervals_fills_every_group_and_warns_only_for_gated_small_runs() -> None:
    results = _results({"a": [1.0, 0.0, 1.0, 1.0], "b": [0.5, 1.0]})
    summary = _summary(results, {"a": 0.5, "b": 0.5})
    filled = with_intervals(summary, results, gated=True)
    assert all(g.mean_ci is not None and g.pass_rate_ci is not None for g in filled.categories + filled.difficulties)
    assert filled.aggregate_ci is not None and filled.aggregate_ci.contains(filled.aggregate)  # type: ignore[arg-type]
    assert filled.min_detectable_effect is not None
    assert len(filled.warnings) == 1 and "fewer than the suite's min_cases (100)" in filled.warnings[0]
    assert with_intervals(summary, results, gated=False).warnings == ()
    assert with_intervals(summary, results, gated=True, min_cases=6).warnings == ()


@FAST
@given(scores)
def test_mean_interval_contains_the_mean_and_stays_in_range(values: list[float]) -> None:
    interval = mean_interval(values)
    if len(values) < 2:
        assert interval is None
        return
    assert interval is not None
    assert 0 <= interval.low <= sum(values) / len(values) <= interval.high <= 1
    assert interval.contains(sum(values) / len(values))


@FAST
@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), scores.filter(bool), min_size=1), st.lists(st.floats(0.1, 5), min_size=3, max_size=3))
def test_aggregate_interval_contains_the_summary_aggregate(groups: dict[str, list[float]], raw_weights: list[float]) -> None:
    weights = dict(zip("abc", raw_weights))
    means = {name: sum(v) / len(v) for name, v in groups.items()}
    aggregate, _ = weighted_aggregate(means, weights)
    estimate = stratified_mean(groups, weights)
    assert aggregate is not None and estimate.estimate == pytest.approx(aggregate)
    assert min(means.values()) - 1e-9 <= estimate.estimate <= max(means.values()) + 1e-9
    if estimate.interval is not None:
        assert estimate.interval.contains(estimate.estimate)


@FAST
@given(st.integers(0, 200), st.integers(1, 200))
def test_wilson_interval_contains_the_pass_rate(passed: int, cases: int) -> None:
    passed = min(passed, cases)
    interval = wilson_interval(passed, cases)
    assert interval is not None and 0 <= interval.low <= passed / cases <= interval.high <= 1
