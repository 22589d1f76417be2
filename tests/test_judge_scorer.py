"""The judge scorer's prompts and how it reads answers: robust parsing, never a silent pass, scales and criteria."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_taskbench import Case
from pytest_taskbench.scoring import ScorerError, build_scorer
from pytest_taskbench.scoring.judge import JudgeNotRun, JudgeScorer, read_answer, scale_of

CASE = Case(id="c1", category="c", difficulty="simple", expected={"action": "create", "title": "Call mom"}, input="remind me to call mom")


def scorer(**params: object) -> JudgeScorer:
    built = build_scorer({"name": "judge", "rubric": "Right action and title.", **params}, {"judges": ["default"]})
    assert isinstance(built, JudgeScorer)
    return built


@pytest.mark.parametrize(
    ("answer", "verdict"),
    [
        ('{"reasoning": "same title", "verdict": "pass"}', "pass"),
        ('Sure.\n```json\n{"reasoning": "wrong action", "verdict": "FAIL"}\n```\nDone.', "fail"),
        ('{"explanation": "fine", "score": true}', "pass"),
        ("The title matches, the action too.\nVERDICT: pass", "pass"),
        ("**Verdict:** fail.", "fail"),
        ('{"notes": "no verdict here"} then verdict = yes', "pass"),
    ],
)
def test_a_verdict_is_read_from_json_or_a_verdict_line(answer: str, verdict: str) -> None:
    assert read_answer(answer, scale_of("pass_fail")).verdict == verdict


@pytest.mark.parametrize("answer", ["", "looks good to me", '{"verdict": "maybe"}', '{"action": "create", "title": "Call mom"}', "VERDICT: 7"])
def test_an_answer_with_no_readable_verdict_is_a_problem_not_a_pass(answer: str) -> None:
    reading = read_answer(answer, scale_of("pass_fail"))
    assert reading.verdict is None and "no readable verdict" in reading.problem


# Text the judge might write that names no verdict: never read as one.
no_verdict_text = st.text().filter(lambda t: not any(w in t.lower() for w in ("pass", "fail", "yes", "no", "true", "false", "correct", "verdict", "score")))


@given(no_verdict_text)
def test_text_without_a_verdict_never_scores(answer: str) -> None:
    judged = scorer(scale="pass_fail").verdict("out", CASE, [answer])
    assert judged.score is None and judged.error.startswith("judge 'default' gave no readable verdict")


@given(reasoning=st.text(), verdict=st.sampled_from(["pass", "fail"]), prose=st.text(alphabet=st.characters(exclude_characters="{}")))
def test_a_json_verdict_is_read_whatever_the_reasoning_and_the_prose_around_it(reasoning: str, verdict: str, prose: str) -> None:
    answer = f"{prose}\n{json.dumps({'reasoning': reasoning, 'verdict': verdict})}"
    judged = scorer(scale="pass_fail").verdict("out", CASE, [answer])
    assert judged.score is not None and judged.score.value == (1.0 if verdict == "pass" else 0.0)
    assert judged.details["reasoning"] == " ".join(reasoning.split())[:600] or len(" ".join(reasoning.split())) > 600


@given(points=st.integers(2, 10), data=st.data())
def test_a_point_scale_maps_1_to_n_onto_0_to_1(points: int, data: st.DataObject) -> None:
    given_point = data.draw(st.integers(1, points))
    judged = scorer(scale=points).verdict("out", CASE, [json.dumps({"verdict": given_point})])
    assert judged.score is not None and judged.score.value == pytest.approx((given_point - 1) / (points - 1))
    off = data.draw(st.integers(points + 1, 1000))
    assert scorer(scale=points).verdict("out", CASE, [json.dumps({"verdict": off})]).score is None


def test_criteria_are_rated_each_and_weighted() -> None:
    criteria = [{"name": "action", "description": "the right action", "weight": 3}, {"name": "title", "description": "the right title", "weight": 1}]
    judge = scorer(rubric={"criteria": criteria}, scale=5)
    [prompt] = judge.prompts("{}", CASE)
    assert "- action (weight 3): the right action" in prompt.text and '"criteria": {"action": <verdict>, "title": <verdict>}' in prompt.text
    judged = judge.verdict("{}", CASE, [json.dumps({"reasoning": "ok", "criteria": {"action": 5, "title": 1}})])
    assert judged.score is not None and judged.score.value == pytest.approx(0.75)
    assert judged.details["criteria"] == {"action": "5", "title": "1"} and judged.details["verdict"] == "4"
    lines = judge.verdict("{}", CASE, ["action: 5\ntitle: 3"])
    assert lines.score is not None and lines.score.value == pytest.approx((3 * 1 + 0.5) / 4)
    assert judge.verdict("{}", CASE, ["action: 5"]).error.startswith("judge 'default' gave no readable verdict for every criterion")


def test_the_prompt_holds_the_rubric_the_request_the_reference_and_the_output() -> None:
    [prompt] = scorer(scale="pass_fail").prompts('{"action": "list"}', CASE)
    system, user = prompt.messages
    assert system["role"] == "system" and '"pass" or "fail"' in system["content"]
    for part in ("Rubric:\nRight action and title.", "Request:\nremind me to call mom", '"title": "Call mom"', 'Response to grade:\n{"action": "list"}'):
        assert part in user["content"]
    assert prompt.text == f"{system['content']}\n\n{user['content']}"
    [blind] = scorer(scale="pass_fail", reference=False).prompts("x", CASE)
    assert "Call mom" not in blind.text


def test_a_pairwise_judge_asks_both_orders_and_a_flip_is_a_tie() -> None:
    judge = scorer(scale="pairwise")
    first, second = judge.prompts("my answer", CASE)
    assert "Response A:\nmy answer" in first.text and "Response B:\nmy answer" in second.text
    consistent = judge.verdict("my answer", CASE, ['{"verdict": "A"}', '{"verdict": "B"}'])
    assert consistent.score is not None and consistent.score.value == 1.0 and consistent.details["flipped"] is False
    flipped = judge.verdict("my answer", CASE, ['{"verdict": "A"}', '{"verdict": "A"}'])
    assert flipped.score is not None and flipped.score.value == 0.5 and flipped.details["flipped"] is True
    assert flipped.details["orders"] == ["better", "worse"]


def test_human_labels_map_onto_the_scale() -> None:
    labelled = Case(id="c", category="c", difficulty="simple", expected="x", input="y", human_label="Yes")
    assert scorer(scale="pass_fail").human(labelled) == "pass"
    scored = Case(id="c", category="c", difficulty="simple", expected="x", input="y", human_score=0.6)
    assert scorer(scale=5).human(scored) == "3" and scorer(scale="pass_fail").human(scored) == "pass"
    with pytest.raises(ValueError, match="human_label '9' is not on the judge's scale 1-5"):
        scorer(scale=5).check_case(Case(id="c", category="c", difficulty="simple", expected="x", input="y", human_label="9"))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "the judge needs a scale: pass_fail, a number of points from 2 to 100"),
        ({"scale": 1}, "scale must be pass_fail, a whole number of points from 2 to 100, or pairwise, got 1"),
        ({"scale": "pass_fail", "rubric": None}, "the judge needs a rubric"),
        ({"scale": "pass_fail", "judge": "strict"}, "no judge named 'strict': the suite declares default"),
        ({"scale": "pairwise", "rubric": [{"name": "a", "description": "b"}]}, "a pairwise judge takes a rubric text, not criteria"),
        ({"scale": 5, "rubric": [{"name": "a", "description": "b", "weight": -1}]}, "weight must be a number >= 0"),
    ],
)
def test_bad_judge_parameters_are_one_clear_error(params: dict[str, object], message: str) -> None:
    spec = {"name": "judge", "rubric": "ok", **params}
    with pytest.raises(ScorerError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_scorer(spec, {"judges": ["default"]})


def test_called_outside_a_run_the_judge_says_so() -> None:
    with pytest.raises(JudgeNotRun, match="scores inside a taskbench run"):
        scorer(scale="pass_fail")("out", CASE)
