"""Samples per case (repeats): pass@k and pass^k estimators, policies, the cluster bootstrap, validation, gates, the one-sided test."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_taskbench.cases import load_case_file
from pytest_taskbench.guards.validation import Invalid
from pytest_taskbench.results import CaseResult, Policy, SampleResult, parse_policy
from pytest_taskbench.suite import SuiteError, load_suite
from pytest_taskbench.verdict.gates import Evidence, GateConfig, evaluate
from pytest_taskbench.verdict.sampling import pass_at_k, pass_hat_k, summarize_samples
from pytest_taskbench.verdict.stats import sign_flip_test, sign_flips, stratified_mean
from pytest_taskbench.verdict.summary import summarize


def brute_force(n: int, c: int, k: int) -> tuple[float, float]:
    """(pass@k, pass^k) by enumerating every k-subset of n samples of which the first c pass."""
    subsets = list(itertools.combinations(range(n), k))
    at = sum(any(i < c for i in subset) for subset in subsets) / len(subsets)
    every = sum(all(i < c for i in subset) for subset in subsets) / len(subsets)
    return at, every


@given(st.integers(1, 9).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_the_estimators_equal_the_share_of_k_subsets(nck: tuple[int, int, int]) -> None:
    n, c, k = nck
    at, every = brute_force(n, c, k)
    assert pass_at_k(n, c, k) == pytest.approx(at)
    assert pass_hat_k(n, c, k) == pytest.approx(every)


def test_estimator_edges() -> None:
    assert pass_at_k(10, 0, 5) == 0 and pass_at_k(10, 10, 1) == 1 and pass_at_k(10, 6, 5) == 1  # 4 failures cannot fill 5 draws
    assert pass_at_k(200, 1, 1) == pytest.approx(0.005)
    assert pass_hat_k(4, 3, 4) == 0 and pass_hat_k(4, 4, 4) == 1
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


@given(st.lists(st.floats(0, 1), min_size=1, max_size=12), st.floats(0, 1))
def test_each_policy_is_what_it_says(scores: list[float], threshold: float) -> None:
    passing = sum(score >= threshold for score in scores)
    n = len(scores)
    assert Policy("all").combine(scores, threshold) == (min(scores), passing == n)
    assert Policy("any").combine(scores, threshold) == (max(scores), passing >= 1)
    assert Policy("majority").combine(scores, threshold)[1] == (passing > n / 2)
    assert Policy("rate", 0.75).combine(scores, threshold)[1] == (passing >= 0.75 * n)
    mean, passed = Policy().combine(scores, threshold)
    assert mean == pytest.approx(sum(scores) / n) and passed == (mean >= threshold)


def test_policies_are_read_and_bad_ones_named() -> None:
    assert str(parse_policy("policy", "rate:0.8")) == "rate:0.8" and parse_policy("policy", "all") == Policy("all")
    with pytest.raises(Invalid, match=r"policy: rate:X needs the share of samples that must pass, above 0 and at most 1 \(rate:0.8\), got 'rate:1.5'"):
        parse_policy("policy", "rate:1.5")
    with pytest.raises(Invalid, match=r"policy must be one of mean, all, any, majority, rate:X, got 'best'"):
        parse_policy("policy", "best")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("repeats: 0", "repeats must be a whole number from 1 to 1000, got 0"),
        ("generation: {temperature: -0.5}", "generation.temperature must be a number from 0 to 10, got -0.5"),
        ("policy: best", "policy must be one of mean, all, any, majority, rate:X, got 'best'"),
        ("policy: rate:1.5", "policy: rate:X needs the share of samples that must pass"),
        ("generation: {top_p: 0}", "generation.top_p must be a number above 0 and at most 1, got 0"),
        ("pass_at_k: [0, 4]", "pass_at_k must be a whole number from 1 to 1000, got 0"),
    ],
)
def test_bad_sampling_settings_in_the_suite_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    suite = tmp_path / "taskbench.yaml"
    suite.write_text(f"categories: {{a: 1}}\n{text}\n")
    with pytest.raises(SuiteError) as raised:
        load_suite(suite)
    assert str(raised.value).startswith(f"{suite}: ") and message in str(raised.value)


def test_a_category_and_a_case_set_their_own_repeats_and_policy(tmp_path: Path) -> None:
    suite_file = tmp_path / "taskbench.yaml"
    suite_file.write_text("categories: {a: {weight: 0.5, repeats: 3, policy: all}, b: 0.5}\nrepeats: 2\npolicy: any\n")
    suite = load_suite(suite_file)
    cases = tmp_path / "a.jsonl"
    cases.write_text(
        '{"id": "x", "input": "q", "expected": "a", "category": "a", "difficulty": "simple"}\n'
        '{"id": "y", "input": "q", "expected": "a", "category": "a", "difficulty": "simple", "repeats": 5, "policy": "rate:0.6"}\n'
        '{"id": "z", "input": "q", "expected": "a", "category": "b", "difficulty": "simple"}\n'
        '{"id": "bad", "input": "q", "expected": "a", "category": "b", "difficulty": "simple", "repeats": 0}\n'
        '{"id": "worse", "input": "q", "expected": "a", "category": "b", "difficulty": "simple", "policy": "rate:1.5"}\n'
    )
    contents = load_case_file(cases, categories=["a", "b"])
    x, y, z = contents.cases
    assert (suite.repeats_for(x), str(suite.policy_for(x))) == (3, "all")
    assert (suite.repeats_for(y), str(suite.policy_for(y))) == (5, "rate:0.6")
    assert (suite.repeats_for(z), str(suite.policy_for(z))) == (2, "any")
    assert [(e.line, e.message) for e in contents.errors] == [
        (4, "case 'bad': repeats must be a whole number from 1 to 1000, got 0"),
        (5, "case 'worse': policy: rate:X needs the share of samples that must pass, above 0 and at most 1 (rate:0.8), got 'rate:1.5'"),
    ]


def sampled(case: int, category: str, outcomes: list[bool]) -> CaseResult:
    samples = tuple(SampleResult("yes" if ok else "no", float(ok), ok) for ok in outcomes) if len(outcomes) > 1 else ()
    score, passed = Policy().combine([float(ok) for ok in outcomes], 0.8)
    return CaseResult(f"c{case}", f"cases/{category}.jsonl::c{case}", "cases/taskbench.yaml", category, "simple", score, passed, samples=samples)


def test_pass_at_k_per_category_and_overall_and_the_flaky_cases() -> None:
    results = [
        sampled(0, "a", [True] * 4),
        sampled(1, "a", [True, False, False, False]),
        sampled(2, "b", [False] * 4),
        sampled(3, "b", [True, True, False, True]),
    ]
    sampling = summarize_samples(results, {"a": 0.5, "b": 0.5})
    assert sampling is not None and sampling.ks == (1, 4)
    a, b = sampling.categories
    assert a.at(1) is not None and a.at(1).pass_at == pytest.approx((1 + 0.25) / 2)  # type: ignore[union-attr]
    assert a.at(4).pass_at == 1.0 and a.at(4).pass_all == 0.5  # type: ignore[union-attr]
    assert b.at(4).pass_at == 0.5 and b.at(4).pass_all == 0.0  # type: ignore[union-attr]
    assert sampling.overall.at(4).pass_all == pytest.approx(0.25)  # type: ignore[union-attr]
    assert [(f.nodeid, f.passes, f.samples) for f in sampling.flaky] == [("cases/a.jsonl::c1", 1, 4), ("cases/b.jsonl::c3", 3, 4)]
    assert summarize_samples([sampled(0, "a", [True])], {"a": 1.0}) is None  # no repeats: nothing to say


def _summary(results: list[CaseResult]):  # type: ignore[no-untyped-def]
    summary = summarize(
        results, suite_name="s", suite_path="cases/taskbench.yaml", weights={"a": 0.5, "b": 0.5}, difficulties=["simple"], pass_threshold=0.8, band_for=str
    )
    from dataclasses import replace

    return replace(summary, sampling=summarize_samples(results, summary.weights_used))


def test_the_flaky_and_case_pass_rate_gates() -> None:
    results = [sampled(0, "a", [True] * 4), sampled(1, "a", [True, False, True, True]), sampled(2, "b", [True, True, False, True])]
    summary = _summary(results)
    verdict = evaluate(GateConfig({"max_flaky_cases": 1, "min_case_pass_rate": 0.7}), Evidence(summary))
    flaky, rate = verdict.gates[-2:]
    assert (flaky.name, flaky.passed, flaky.measured) == ("max_flaky_cases", False, 2)
    assert "flaky cases (samples disagree) 2 > 1" in flaky.message and "cases/a.jsonl::c1 3/4" in flaky.message
    assert (rate.name, rate.passed, rate.measured) == ("min_case_pass_rate", True, 0.75)
    assert not evaluate(GateConfig({"min_case_pass_rate": 0.8}), Evidence(summary)).passed


def test_samples_of_one_case_never_narrow_an_interval_as_if_they_were_cases() -> None:
    # every case's four samples agree: they say no more than one sample would
    agreeing = [[True] * 4, [False] * 4, [True] * 4, [True] * 4, [False] * 4, [True] * 4] * 8
    cases = [sampled(i, "ab"[i % 2], o) for i, o in enumerate(agreeing)]
    sampling = summarize_samples(cases, {"a": 0.5, "b": 0.5})
    assert sampling is not None
    one = sampling.overall.at(1)
    assert one is not None and one.pass_at_ci is not None
    width = one.pass_at_ci.high - one.pass_at_ci.low
    single = stratified_mean({g: [float(o[0]) for i, o in enumerate(agreeing) if "ab"[i % 2] == g] for g in "ab"}, {"a": 0.5, "b": 0.5}, label="pass@1")
    assert single.interval is not None and width == pytest.approx(single.interval.high - single.interval.low)
    # the same sample outcomes taken as cases of their own: four times the units, an interval about half as wide
    flat = {g: [float(ok) for i, o in enumerate(agreeing) if "ab"[i % 2] == g for ok in o] for g in "ab"}
    as_cases = stratified_mean(flat, {"a": 0.5, "b": 0.5}, label="pass@1")
    assert as_cases.interval is not None and as_cases.estimate == pytest.approx(one.pass_at)
    assert width > 1.6 * (as_cases.interval.high - as_cases.interval.low)


def test_the_sign_flip_test_gives_both_one_sided_p_values_exactly_for_few_cases() -> None:
    flips = sign_flips({"a": [-1.0] * 12}, {"a": 1.0})
    assert flips.less == pytest.approx(1 / 4096) and flips.greater == 1.0  # only the all-negative pattern is as low
    assert sign_flip_test({"a": [-1.0] * 12}, {"a": 1.0}) == pytest.approx(2 / 4096)
    assert sign_flips({"a": [0.0] * 5}, {"a": 1.0}).towards(0.0) == 1.0


@given(st.lists(st.sampled_from([-1.0, -0.5, 0.0, 0.5, 1.0]), min_size=1, max_size=40))
def test_the_two_tails_cover_every_flip(differences: list[float]) -> None:
    flips = sign_flips({"a": differences}, {"a": 1.0}, resamples=999)
    assert 0 < flips.less <= 1 and 0 < flips.greater <= 1
    assert flips.less + flips.greater >= 1 - 1e-9  # a flip is below or above the observed sum, or both when tied
    mirrored = sign_flips({"a": [-d for d in differences]}, {"a": 1.0}, resamples=999)
    if sum(1 for d in differences if d) <= 16:  # exact: a mirror image swaps the tails
        assert math.isclose(mirrored.less, flips.greater) and math.isclose(mirrored.greater, flips.less)
