"""Hostile and broken input: every run ends with a summary and a verdict, and only the affected case fails.

Each test reproduces one finding of the reliability audit with the audit's own set-up: a suite with
one category scored by action_recognition, a good case and a model that always answers
``{"action": "list"}``. (The HTTP findings live in test_http_hostile.py.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

SUITE = "categories: {a: {weight: 1, scorer: action_recognition}}\nscorer_packs: [task_api]\n"
GOOD = {"id": "ok", "input": "x", "expected": {"action": "list"}, "category": "a", "difficulty": "simple"}
LIST_MODEL = 'def respond(prompts):\n    return [\'{"action": "list"}\' for _ in prompts]\n'
MODEL = "--taskbench-model=model:respond"


def line(**changes: object) -> str:
    return json.dumps({**GOOD, **changes})


@pytest.fixture
def suite(write_suite: Callable[..., Path]) -> Callable[..., Path]:
    """Write the audit's suite with the good case in good.jsonl and the given files beside it."""

    def write(files: dict[str, str | bytes], model: str = LIST_MODEL, suite_text: str = SUITE) -> Path:
        cases = write_suite(suite_text, {"good.jsonl": line() + "\n"}, model)
        for name, content in files.items():
            target = cases / name
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
        return cases

    return write


def ends_with_a_verdict(result: pytest.RunResult) -> None:
    """The session reached the summary: no internal error, no collection error, a verdict line."""
    text = result.stdout.str()
    assert "INTERNALERROR" not in text and "errors" not in result.parseoutcomes()
    result.stdout.fnmatch_lines(["*taskbench: cases*", "verdict: *"])


# 1. lone surrogates ------------------------------------------------------------------------------


@pytest.mark.parametrize("cache", [[], ["--taskbench-no-cache"]])
def test_a_lone_surrogate_in_a_case_fails_that_case(pytester: pytest.Pytester, suite: Callable[..., Path], cache: list[str]) -> None:
    suite({"bad.jsonl": '{"id": "s", "input": "\\ud800", "expected": {"action": "list"}, "category": "a", "difficulty": "simple"}\n'})
    result = pytester.runpytest("cases", MODEL, *cache, "--taskbench-log-samples=samples.jsonl")
    ends_with_a_verdict(result)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["broken case definition: cases/bad.jsonl:1: case 's' holds a lone surrogate \\ud800, which is not text*"])
    assert result.ret == 1


def test_a_lone_surrogate_in_an_output_fails_that_case_and_every_file_is_written(pytester: pytest.Pytester, suite: Callable[..., Path]) -> None:
    model = (
        "def respond(prompts):\n"
        "    answers = {'surrogate': '\\ud800', 'parsed': '{\"action\": \"\\\\ud800\"}'}\n"
        '    return [answers.get(p, \'{"action": "list"}\') for p in prompts]\n'
    )
    suite({"more.jsonl": line(id="surrogate", input="surrogate") + "\n" + line(id="parsed", input="parsed") + "\n"}, model)
    files = ["--taskbench-log-samples=samples.jsonl", "--taskbench-report=report.html", "--taskbench-markdown=summary.md", "--junitxml=junit.xml"]
    result = pytester.runpytest("cases", MODEL, *files)
    ends_with_a_verdict(result)
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["model error: the model's output holds a lone surrogate \\ud800, which is not text*", "  FAIL max_errors: *1 > 0"])
    for name in ("samples.jsonl", "report.html", "summary.md", "junit.xml"):
        (pytester.path / name).read_bytes().decode("utf-8")  # written whole, and valid UTF-8
    samples = {row["case_id"]: row for row in map(json.loads, (pytester.path / "samples.jsonl").read_text().splitlines())}
    assert samples["parsed"]["reason"] == "expected list, got \\ud800"  # the output was text; what it parsed to is shown escaped
    warm = pytester.runpytest("cases", MODEL)  # the cache holds the good outputs, not the bad one
    warm.assert_outcomes(passed=1, failed=2)


@pytest.mark.slow
def test_a_parsed_lone_surrogate_travels_under_xdist(pytester: pytest.Pytester, suite: Callable[..., Path]) -> None:
    model = 'def respond(prompts):\n    return [\'{"action": "\\\\ud800"}\' for _ in prompts]\n'
    suite({}, model)
    result = pytester.runpytest_subprocess("cases", MODEL, "-n", "2")
    ends_with_a_verdict(result)
    result.assert_outcomes(failed=1)


# 2, 3, 8. parsers --------------------------------------------------------------------------------

BOMB = "- id: bomb\n  input: x\n  category: a\n  difficulty: simple\n  expected:\n    a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"    a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)
)


@pytest.mark.parametrize(
    ("name", "content", "node", "message"),
    [
        (
            "deep.jsonl",
            line(id="d", expected="[" * 1000 + "]" * 1000).replace('"[', "[").replace(']"', "]") + "\n",
            "line1",
            "cases/deep.jsonl:1: invalid JSON: nested too deeply to read*",
        ),
        ("big.jsonl", line(id="b").replace('"x"', "9" * 4301) + "\n", "line1", "cases/big.jsonl:1: invalid JSON: Exceeds the limit (4300 digits)*"),
        (
            "ctrl.yaml",
            "- id: ok2\n  input: x\n  expected: {action: list}\n  category: a\n  difficulty: simple\n- id: c\n  input: a\x1cb\n",
            "line7",
            "cases/ctrl.yaml:7: invalid YAML: control character U+001C is not allowed*",
        ),
        (
            "flow.yaml",
            "- id: f\n  input: x\n  expected: " + "[" * 3000 + "]" * 3000 + "\n",
            "line3",
            "cases/flow.yaml:3: invalid YAML: nested deeper than 100 levels",
        ),
        (
            "two.json",
            '{"cases": [' + line(id="j1") + '],\n "cases": [' + line(id="j2") + ", " + line(id="j3") + "]}",
            "line2",
            "cases/two.json:2: duplicate key 'cases': already given at line 1 of the same object",
        ),
        (
            "two.yaml",
            "cases:\n  - {id: a1, input: x, expected: 1, category: a, difficulty: simple}\ncases:\n  - {id: b1, input: x, expected: 1, category: a, difficulty: simple}\n",
            "line3",
            "cases/two.yaml:3: invalid YAML: duplicate key 'cases': already given at line 1*",
        ),
        ("bomb.yaml", BOMB, "bomb", "cases/bomb.yaml:1: case 'bomb' expands to more than 100000 values (YAML aliases*"),
        (
            "loop.yaml",
            "- &r {id: r, input: x, expected: [*r], category: a, difficulty: simple}\n",
            "r",
            "cases/loop.yaml:1: case 'r' contains itself (a recursive YAML alias)",
        ),
        ("nl.jsonl", line(id="a1\n") + "\n", "line1", "cases/nl.jsonl:1: case id 'a1\\n' may hold only letters*"),
        (
            "bad.jsonl",
            line(id="u1").encode() + b"\n" + line(id="u2").encode().replace(b'"x"', b'"\xff"') + b"\n" + line(id="u3").encode() + b"\n",
            "line2",
            "cases/bad.jsonl:2: not valid UTF-8: byte 0xff at column *",
        ),
    ],
)
def test_a_file_no_parser_can_read_fails_alone_at_its_line(
    pytester: pytest.Pytester, suite: Callable[..., Path], name: str, content: str | bytes, node: str, message: str
) -> None:
    suite({name: content})
    started = time.perf_counter()
    result = pytester.runpytest("cases", MODEL, "-rf")
    assert time.perf_counter() - started < 30  # the alias bomb used to run until killed
    ends_with_a_verdict(result)
    result.stdout.fnmatch_lines([f"broken case definition: {message}", "  FAIL valid_cases: *", f"FAILED cases/{name}::{node} - *"])
    assert result.parseoutcomes()["passed"] >= 1  # good.jsonl still ran
    assert result.ret == 1


def test_jsonl_lines_split_on_newlines_only(pytester: pytest.Pytester, suite: Callable[..., Path]) -> None:
    separators = "a\u2028b\u2029c\u0085d"
    suite(
        {
            "seps.jsonl": line(id="s1", input=separators).replace("\\u2028", "\u2028").replace("\\u2029", "\u2029").replace("\\u0085", "\u0085")
            + "\r\n"
            + line(id="s2", expected="nope")
            + "\r\n"
        }
    )
    result = pytester.runpytest("cases", MODEL, "-rf")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["FAILED cases/seps.jsonl::s2 - *"])
    assert "cases/seps.jsonl:2: s2" in result.stdout.str() or "seps.jsonl:2" in result.stdout.str()


@pytest.mark.parametrize("name", ["bom.jsonl", "bom.yaml", "bom.json"])
def test_a_byte_order_mark_loses_nothing(pytester: pytest.Pytester, suite: Callable[..., Path], name: str) -> None:
    body = {
        "bom.jsonl": line(id="b1") + "\n",
        "bom.yaml": "- {id: b1, input: x, expected: {action: list}, category: a, difficulty: simple}\n",
        "bom.json": "[" + line(id="b1") + "]",
    }[name]
    suite({name: b"\xef\xbb\xbf" + body.encode()})
    pytester.runpytest("cases", MODEL).assert_outcomes(passed=2)


# 10. the suite file ------------------------------------------------------------------------------


def test_a_broken_suite_is_one_collection_error_and_its_schema_is_not_collected(pytester: pytest.Pytester, suite: Callable[..., Path]) -> None:
    broken = SUITE.replace("action_recognition", "[1]") + "schema: schema.json\n"
    cases = suite({"more.jsonl": line(id="m") + "\n", "other.yaml": "- {id: o, input: x, expected: 1, category: a, difficulty: simple}\n"}, suite_text=broken)
    (cases / "schema.json").write_text('{"type": "object"}')
    result = pytester.runpytest("cases", MODEL)
    text = result.stdout.str()
    assert text.count("category 'a': scorer must be a scorer name or a mapping with 'name' and its parameters, got [1]") == 1
    assert result.parseoutcomes() == {"errors": 1}
    assert "schema.json" not in text
    assert result.ret == pytest.ExitCode.INTERRUPTED


# 11. the cache -----------------------------------------------------------------------------------


def test_one_unwritable_cache_entry_costs_that_entry_only(pytester: pytest.Pytester, suite: Callable[..., Path]) -> None:
    counter = "import pathlib\ndef respond(prompts):\n    with pathlib.Path('calls.txt').open('a') as f:\n        f.write(''.join(p + '\\n' for p in prompts))\n    return ['{\"action\": \"list\"}' for _ in prompts]\n"
    suite({"more.jsonl": "".join(line(id=f"c{i}", input=f"x{i}") + "\n" for i in range(3))}, counter)
    cold = pytester.runpytest("cases", MODEL, "--taskbench-cache-dir=cache")
    cold.assert_outcomes(passed=4)
    entries = sorted((pytester.path / "cache").rglob("*.json"))
    assert len(entries) == 4
    entries[0].unlink()
    entries[0].mkdir()  # an entry's path taken by a directory
    (pytester.path / "calls.txt").unlink()
    again = pytester.runpytest("cases", MODEL, "--taskbench-cache-dir=cache")
    again.assert_outcomes(passed=4)
    again.stdout.fnmatch_lines(["*generation: 4 outputs (1 generated, 3 from cache)*", "*cannot write cache entry *; that output is not cached*"])
    assert "caching is off" not in again.stdout.str()
    (pytester.path / "calls.txt").unlink()
    third = pytester.runpytest("cases", MODEL, "--taskbench-cache-dir=cache")
    third.stdout.fnmatch_lines(["*generation: 4 outputs (1 generated, 3 from cache)*"])  # the others still come from the cache
    assert len((pytester.path / "calls.txt").read_text().splitlines()) == 1


# 12. xdist ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_under_xdist_each_case_is_generated_once(pytester: pytest.Pytester, suite: Callable[..., Path]) -> None:
    suite({"many.jsonl": "".join(line(id=f"c{i}", input=f"x{i}") + "\n" for i in range(400))})
    result = pytester.runpytest_subprocess("cases", MODEL, "-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=401)
    result.stdout.fnmatch_lines(["generation: 401 outputs (401 generated, 0 from cache) in *; model loaded 2 times"])


def test_a_case_file_cannot_name_python_code_as_its_scorer(pytester: pytest.Pytester, suite: Callable[..., Path]) -> None:
    pytester.makepyfile(
        evil="import pathlib\ndef factory(**params):\n    pathlib.Path('ran').write_text('code from a case file ran')\n    return lambda output, case: None\n"
    )
    suite({"bad.jsonl": line(id="e", scorer={"name": "evil:factory"}) + "\n"})
    result = pytester.runpytest("cases", MODEL)
    ends_with_a_verdict(result)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["broken case definition: cases/bad.jsonl:1: case 'e': scorer 'evil:factory' names Python code, which a case file may not; *"])
    assert not (pytester.path / "ran").exists()
