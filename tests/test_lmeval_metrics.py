"""lm-eval's exact_match options and filters, as lm-eval (and HF evaluate) apply them."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_taskbench.cases import Case
from pytest_taskbench.scoring.packs.lm_eval import ExactMatch, parse_filters, parse_metrics, score_response
from pytest_taskbench.scoring.registry import ScorerError, build_scorer

LM_EVAL = ("lm_eval",)  # the pack lm-eval's exact_match lives in


def case(expected: Any) -> Case:
    return Case(id="doc_0", category="c", difficulty="unspecified", expected=expected, input="q")


def em_score(output: str, expected: Any, **spec: Any) -> float:
    return build_scorer({"name": "lm_eval_exact_match", **spec}, packs=LM_EVAL)(output, case(expected)).value


def test_plain_exact_match_is_strict_about_case_space_and_punctuation() -> None:
    assert em_score("Paris", "Paris") == 1.0
    assert em_score("paris", "Paris") == 0.0
    assert em_score(" Paris", "Paris") == 0.0  # lm-eval does not strip
    assert em_score("Paris.", "Paris") == 0.0


def test_ignore_case_and_ignore_punctuation() -> None:
    metrics = [{"metric": "exact_match", "ignore_case": True, "ignore_punctuation": True}]
    assert em_score("PARIS!", "paris", metrics=metrics) == 1.0
    assert em_score("Pa-ris", "paris", metrics=metrics) == 1.0
    assert em_score("Paris ", "paris", metrics=metrics) == 0.0  # whitespace is not punctuation


def test_regexes_to_ignore_apply_before_case_folding_to_both_sides() -> None:
    metric = ExactMatch(regexes_to_ignore=("[A-Z]+ ",), ignore_case=True)
    # the uppercase prefix is removed first; lowering first would have kept it
    assert metric("THE answer", "answer") == 1.0
    assert metric("the answer", "answer") == 0.0
    assert ExactMatch(regexes_to_ignore=(",", r"\$")).normalise("$1,000") == "1000"


def test_ignore_numbers() -> None:
    assert ExactMatch(ignore_numbers=True)("abc123", "abc") == 1.0


def test_regex_filter_default_pattern_group_select_and_fallback() -> None:
    (pipeline,) = parse_filters([{"name": "strict-match", "filter": [{"function": "regex"}, {"function": "take_first"}]}])
    assert pipeline.apply("work... #### 1,234") == "1,234"
    assert pipeline.apply("no marker") == "[invalid]"
    (last,) = parse_filters([{"name": "flex", "filter": [{"function": "regex", "regex_pattern": r"(-?\d+)|(yes)", "group_select": -1}]}])
    # findall returns tuples for several groups: lm-eval takes the first non-empty group
    assert last.apply("1 then 2 then yes") == "yes"
    assert last.apply("1 then 22") == "22"


def test_score_uses_the_first_pipeline_and_logs_every_filter() -> None:
    filters = [
        {"name": "strict", "filter": [{"function": "regex", "regex_pattern": "ANSWER: (\\w+)"}, {"function": "take_first"}]},
        {"name": "loose", "filter": [{"function": "remove_whitespace"}, {"function": "take_first"}]},
    ]
    score = build_scorer({"name": "lm_eval_exact_match", "filters": filters}, packs=LM_EVAL)(" yes ", case("yes"))
    assert score.value == 0.0
    assert score.details["exact_match,strict"] == 0.0
    assert score.details["exact_match,loose"] == 1.0
    assert score.details["filtered,strict"] == "[invalid]"
    assert build_scorer({"name": "lm_eval_exact_match", "filters": filters, "primary_filter": "loose"}, packs=LM_EVAL)(" yes ", case("yes")).value == 1.0


def test_list_target_means_any_answer_and_other_targets_are_cast_to_text() -> None:
    assert em_score("b", ["a", "b"]) == 1.0
    assert em_score("c", ["a", "b"]) == 0.0
    assert em_score("42", 42) == 1.0


def test_the_last_exact_match_entry_wins_as_in_lm_eval() -> None:
    metrics = parse_metrics([{"metric": "exact_match", "ignore_case": True}, {"metric": "exact_match"}])
    assert score_response("A", "a", parse_filters(None), metrics)["exact_match,none"] == 0.0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"metrics": [{"metric": "bleu"}]}, "metric 'bleu' is not supported"),
        ({"metrics": [{"metric": "exact_match", "ignore_spaces": True}]}, "unsupported exact_match option(s) ignore_spaces"),
        ({"filters": [{"name": "x", "filter": [{"function": "majority_vote"}]}]}, "filter function 'majority_vote' is not supported"),
        ({"filters": [{"name": "x", "filter": [{"function": "regex", "regex_pattern": "("}]}]}, "invalid regex_pattern"),
        ({"primary_filter": "nope"}, "primary_filter 'nope' names no filter pipeline"),
    ],
)
def test_unsupported_metrics_and_filters_are_errors(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ScorerError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_scorer({"name": "lm_eval_exact_match", **spec}, packs=LM_EVAL)
