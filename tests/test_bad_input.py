"""Broken input fails where it is, names file and line, and loses nothing else."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.suites import jsonl

MODEL = "--taskbench-model=model:respond"
GOOD = jsonl([{"id": "ok1", "input": "a", "expected": "a"}, {"id": "ok2", "input": "b", "expected": "b"}], {"difficulty": "simple"})


@pytest.mark.parametrize(
    ("filename", "text", "node", "message"),
    [
        ("greet.jsonl", '{"id": "x", "input": "a", "expected": "a", "difficulty": "simple"}\n{not json\n', "line2", "cases/greet.jsonl:2: invalid JSON: *"),
        (
            "greet.jsonl",
            '{"id": "x", "input": "a", "expected": "a", "difficulty": "simple", "colour": 1}\n',
            "x",
            "cases/greet.jsonl:1: unknown case field(s) colour; allowed: *",
        ),
        ("greet.jsonl", '{"id": "x", "input": "a", "difficulty": "simple"}\n', "x", "cases/greet.jsonl:1: case 'x': missing 'expected'*"),
        (
            "greet.jsonl",
            '{"id": "x", "input": "a", "expected": 1, "difficulty": "hard"}\n',
            "x",
            "cases/greet.jsonl:1: case 'x': difficulty must be one of simple, moderate, complex, adversarial, got 'hard'",
        ),
        (
            "misc.jsonl",
            '{"id": "x", "input": "a", "expected": 1, "difficulty": "simple", "category": "poetry"}\n',
            "x",
            "cases/misc.jsonl:1: case 'x': unknown category 'poetry'; the suite defines greet, shout",
        ),
        (
            "greet.jsonl",
            '{"id": "x", "input": "a", "messages": [], "expected": 1, "difficulty": "simple"}\n',
            "x",
            "cases/greet.jsonl:1: case 'x' needs exactly one of 'input' (a string) or 'messages' (a chat list)",
        ),
        (
            "greet.jsonl",
            '{"id": "has space", "input": "a", "expected": 1, "difficulty": "simple"}\n',
            "line1",
            "cases/greet.jsonl:1: case id 'has space' may hold only*",
        ),
        ("greet.yaml", "- id: y\n  input: [unclosed\n", "line3", "cases/greet.yaml:3: invalid YAML: *"),
        (
            "greet.json",
            '[{"id": "j", "input": "a", "expected": 1, "difficulty": "simple"},\n 7]\n',
            "line2",
            "cases/greet.json:2: a case must be an object/mapping, got int",
        ),
    ],
)
def test_broken_case_fails_alone_naming_file_and_line(
    pytester: pytest.Pytester, write_suite: Callable[..., Path], filename: str, text: str, node: str, message: str
) -> None:
    write_suite(files={"good.jsonl": GOOD.replace('"simple"}', '"simple", "category": "greet"}'), filename: text})
    result = pytester.runpytest("cases", MODEL, "-rf")
    result.stdout.fnmatch_lines(
        [f"broken case definition: {message}", "  FAIL valid_cases: broken case definitions * > 0", f"FAILED cases/{filename}::{node} - *"]
    )
    assert result.parseoutcomes()["passed"] >= 2  # the good file's cases still ran
    assert result.ret == 1


def test_duplicate_id_names_both_places(pytester: pytest.Pytester, write_suite: Callable[..., Path]) -> None:
    write_suite(
        files={
            "greet.jsonl": jsonl(
                [{"id": "a", "input": "x", "expected": "x"}, {"id": "b", "input": "y", "expected": "y"}, {"id": "a", "input": "z", "expected": "z"}],
                {"difficulty": "simple"},
            )
        }
    )
    result = pytester.runpytest("cases", MODEL)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["broken case definition: cases/greet.jsonl:4: duplicate case id 'a': already defined at cases/greet.jsonl:2"])


def test_unknown_scorer_fails_its_case_and_lists_known_scorers(pytester: pytest.Pytester, write_suite: Callable[..., Path]) -> None:
    write_suite(
        files={
            "greet.jsonl": jsonl(
                [{"id": "a", "input": "x", "expected": "x"}, {"id": "b", "input": "y", "expected": "y", "scorer": "telepathy"}], {"difficulty": "simple"}
            )
        }
    )
    result = pytester.runpytest("cases", MODEL)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["broken case definition: cases/greet.jsonl:3: case 'b': unknown scorer 'telepathy'; known scorers: *exact_match*"])


def test_bad_scorer_parameters_fail_their_case(pytester: pytest.Pytester, write_suite: Callable[..., Path]) -> None:
    write_suite(
        files={"greet.jsonl": jsonl([{"id": "a", "input": "x", "expected": "x", "scorer": {"name": "exact_match", "shout": True}}], {"difficulty": "simple"})}
    )
    result = pytester.runpytest("cases", MODEL)
    result.stdout.fnmatch_lines(["broken case definition: cases/greet.jsonl:2: case 'a': bad parameters for scorer 'exact_match': *shout*"])


def test_invalid_suite_file_is_a_collection_error_naming_it(pytester: pytest.Pytester, write_suite: Callable[..., Path]) -> None:
    write_suite(suite="name: x\ncategories:\n  greet: {weight: -1}\n", files={"greet.jsonl": GOOD})
    result = pytester.runpytest("cases", MODEL)
    result.stdout.fnmatch_lines(["*cases/taskbench.yaml: category 'greet': weight must be a number >= 0, got -1*"])
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_weights_not_summing_to_one_are_normalised_with_a_note(pytester: pytest.Pytester, write_suite: Callable[..., Path]) -> None:
    write_suite(
        suite="name: w\ncategories:\n  greet: {weight: 3, scorer: exact_match}\n  shout: {weight: 1, scorer: exact_match}\n",
        files={"greet.jsonl": GOOD},
    )
    result = pytester.runpytest("cases", MODEL, "-W", "ignore::UserWarning")
    result.stdout.fnmatch_lines(["greet * 0.75", "note: category weights sum to 4, not 1; normalised to greet=0.750, shout=0.250"])


def test_only_files_below_a_suite_root_are_collected(pytester: pytest.Pytester, write_suite: Callable[..., Path]) -> None:
    write_suite(files={"greet.jsonl": GOOD, "_fixtures/notes.json": '{"not": "cases"}', ".hidden.jsonl": "garbage"})
    pytester.mkdir(".github")
    (pytester.path / ".github" / "ci.yml").write_text("on: push\n")
    (pytester.path / "config.json").write_text('{"a": 1}')
    (pytester.path / "data.jsonl").write_text("not a case\n")
    result = pytester.runpytest(".", "--co", "-q")
    result.stdout.fnmatch_lines(["cases/greet.jsonl::ok1", "cases/greet.jsonl::ok2", "2 tests collected*"])


def test_schema_file_named_by_the_suite_is_not_collected(pytester: pytest.Pytester, write_suite: Callable[..., Path]) -> None:
    write_suite(
        suite="name: s\nschema: output.schema.json\ncategories:\n  greet: {weight: 1, scorer: exact_match}\n",
        files={"greet.jsonl": GOOD, "output.schema.json": '{"type": "object"}'},
    )
    result = pytester.runpytest("cases", "--co", "-q")
    result.stdout.fnmatch_lines(["2 tests collected*"])
