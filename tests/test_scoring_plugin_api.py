"""Plugging a scorer into a real run: a conftest.py scorer scores its category, and an unknown scorer name fails its case."""

from __future__ import annotations

import json

import pytest

# both tests run the documented example in a pytest subprocess: about 2 s each
pytestmark = pytest.mark.slow

CONFTEST = """\
from pytest_taskbench import Score, scorer


@scorer("word_limit")
def word_limit(*, max_words: int = 3):
    def score(output, case):
        words = len(output.split())
        if words <= max_words:
            return Score(1.0, f"{words} words")
        return Score(0.0, f"{words} words, over the limit of {max_words}")

    return score
"""
SUITE = "categories:\n  short_answers: {weight: 1, scorer: {name: word_limit, max_words: 3}}\n"
MODEL = """\
def respond(prompts):
    return ["one two three" if "short" in prompt else "one two three four five six" for prompt in prompts]
"""
CASES = [
    {"id": "brief", "input": "answer short", "expected": None, "category": "short_answers", "difficulty": "simple"},
    {"id": "rambling", "input": "answer at length", "expected": None, "category": "short_answers", "difficulty": "simple"},
]


@pytest.fixture
def documented_suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A conftest.py scorer, a suite naming it, two cases and a rule-based model."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(mymodel=MODEL)
    cases = pytester.mkdir("cases")
    (cases / "taskbench.yaml").write_text(SUITE)
    (cases / "x.jsonl").write_text("".join(json.dumps(row) + "\n" for row in CASES))
    return pytester


def test_a_conftest_scorer_scores_the_cases_of_its_category(documented_suite: pytest.Pytester) -> None:
    result = documented_suite.runpytest_subprocess("cases", "--taskbench-model=mymodel:respond")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*short_answers: rambling*", "score 0.000 < 0.8: 6 words, over the limit of 3"])


def test_an_unknown_scorer_name_fails_its_case_naming_file_line_and_known_scorers(documented_suite: pytest.Pytester) -> None:
    typo = {"id": "typo", "input": "answer short", "expected": None, "category": "short_answers", "difficulty": "simple", "scorer": "wordlimit"}
    with (documented_suite.path / "cases" / "x.jsonl").open("a") as cases:
        cases.write(json.dumps(typo) + "\n")
    result = documented_suite.runpytest_subprocess("cases", "--taskbench-model=mymodel:respond")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*cases/x.jsonl:3: case 'typo': unknown scorer 'wordlimit'; known scorers: *exact_match*word_limit*"])
