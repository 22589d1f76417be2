"""Agreement between a judge and the human labels: kappa against known values, its interval, trust, and order."""

from __future__ import annotations

import random
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_taskbench.results import CaseResult
from pytest_taskbench.verdict.calibration import NO_VERDICT, agreements, cohen_kappa, untrusted_categories


def result(human: str | None, verdict: str | None, scale: str = "pass_fail", category: str = "c", **extra: Any) -> CaseResult:
    judged = {"name": "default", "scale": scale, "human": human, "verdict": verdict, **extra}
    return CaseResult("x", "n", "s", category, "simple", 1.0, True, details={"judge": judged})


def test_kappa_matches_a_worked_example() -> None:
    # the classic 2x2 example (Wikipedia, "Cohen's kappa"): 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> kappa 0.4
    pairs = [(1, 1)] * 20 + [(1, 0)] * 5 + [(0, 1)] * 10 + [(0, 0)] * 15
    kappa, interval = cohen_kappa(pairs, 2, 2, ordinal=False)
    assert kappa == pytest.approx(0.4)
    assert interval is not None and interval.low < 0.4 < interval.high and interval.level == 0.95


def test_quadratic_weights_count_a_near_miss_as_partial_agreement() -> None:
    near = [(i, min(i + 1, 4)) for i in range(5)] * 4  # always one point off (or on the top)
    far = [(i, 4 - i) for i in range(5)] * 4  # reversed
    assert cohen_kappa(near, 5, 5, ordinal=True)[0] > 0.7  # a one-point miss costs little
    assert cohen_kappa(near, 5, 5, ordinal=False)[0] < 0.3  # unweighted, every miss is a full miss
    assert cohen_kappa(far, 5, 5, ordinal=True)[0] == pytest.approx(-1.0)


def test_a_judge_that_cannot_answer_agrees_with_no_one() -> None:
    [agreement] = agreements([result("pass", None), result("fail", None), result("pass", "pass"), result("fail", "fail")])
    assert agreement.columns == ("fail", "pass", NO_VERDICT) and agreement.no_verdict == 2
    assert agreement.accuracy == 0.5 and agreement.kappa is not None and agreement.kappa < 1.0


def test_trust_needs_the_interval_above_the_minimum_and_labels_at_all() -> None:
    labelled = [result(label, label) for label in ["pass", "fail"] * 10]
    [perfect] = agreements(labelled, minimum=0.6)
    assert perfect.trusted and perfect.kappa == 1.0
    [noisy] = agreements([result(h, v) for h, v in [("pass", "pass"), ("fail", "pass"), ("pass", "fail"), ("fail", "fail")] * 3], minimum=0.6)
    assert not noisy.trusted and "< 0.6 required" in noisy.trust
    [unlabelled] = agreements([result(None, "pass", category="q")], minimum=0.6)
    assert not unlabelled.trusted and "no case it scored has a human label" in unlabelled.trust
    assert untrusted_categories([perfect, unlabelled]) == ("q",)
    [anything] = agreements([result(None, "pass")])
    assert anything.trusted  # no minimum required


def test_position_and_verbosity_bias_of_a_pairwise_judge() -> None:
    pairs = [
        result("better", "tie", "pairwise", orders=["better", "worse"], flipped=True, output_longer=True),
        result("better", "better", "pairwise", orders=["better", "better"], flipped=False, output_longer=True),
        result("worse", "worse", "pairwise", orders=["worse", "worse"], flipped=False, output_longer=True),
    ]
    [agreement] = agreements(pairs)
    assert (agreement.pairs, agreement.flips, agreement.decided, agreement.longer_preferred) == (3, 1, 2, 1)


labels = st.sampled_from(["1", "2", "3", "4", "5"])


@given(st.lists(st.tuples(labels, labels | st.none()), min_size=2, max_size=40), st.randoms())
def test_agreement_lies_in_range_contains_its_estimate_and_ignores_case_order(pairs: list[tuple[str, str | None]], shuffler: random.Random) -> None:
    results = [result(h, v, "1-5") for h, v in pairs]
    [agreement] = agreements(results)
    shuffled = list(results)
    shuffler.shuffle(shuffled)
    [again] = agreements(shuffled)
    assert again == agreement
    assert agreement.labelled == len(pairs) and sum(agreement.confusion.values()) == len(pairs)
    if agreement.kappa is not None:
        assert -1.0 - 1e-9 <= agreement.kappa <= 1.0 + 1e-9
        if agreement.kappa_ci is not None:
            assert agreement.kappa_ci.contains(agreement.kappa)


@given(st.lists(st.sampled_from(["pass", "fail"]), min_size=2, max_size=30).filter(lambda xs: len(set(xs)) == 2))
def test_a_judge_that_matches_every_label_has_kappa_1(human: list[str]) -> None:
    [agreement] = agreements([result(label, label) for label in human])
    assert agreement.kappa == pytest.approx(1.0) and agreement.accuracy == 1.0


@settings(max_examples=25)  # each example bootstraps 2,000 tables; 25 cover both weightings
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=2, max_size=60), st.booleans())
def test_kappa_is_what_scikit_learn_computes(pairs: list[tuple[int, int]], ordinal: bool) -> None:
    from sklearn.metrics import cohen_kappa_score

    human, judge = zip(*pairs)
    ours, _ = cohen_kappa(pairs, 5, 5, ordinal=ordinal)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns where kappa is undefined (every label and verdict the same)
        theirs = cohen_kappa_score(human, judge, labels=list(range(5)), weights="quadratic" if ordinal else None)
    if ours is None:
        assert np.isnan(theirs) or len(set(human) | set(judge)) == 1
    else:
        assert ours == pytest.approx(float(theirs), abs=1e-9)
