"""--taskbench-outputs: score a file of saved outputs with no model at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_taskbench.generation.base import GenerationParams, ModelLoadError, Prompt
from pytest_taskbench.generation.engine import Job
from pytest_taskbench.generation.outputs import SavedOutputs

SUITE = """\
name: saved
categories:
  shout: {weight: 1.0, scorer: exact_match}
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> Path:
    cases = pytester.mkdir("cases")
    (cases / "taskbench.yaml").write_text(SUITE)
    rows = [{"id": word, "input": word, "expected": word.upper(), "category": "shout", "difficulty": "simple"} for word in ("alpha", "bravo", "charlie")]
    (cases / "shout.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return cases


def write_outputs(pytester: pytest.Pytester, *lines: dict[str, str]) -> None:
    (pytester.path / "outputs.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_saved_outputs_are_scored_with_no_model(pytester: pytest.Pytester, suite: Path) -> None:
    write_outputs(
        pytester, {"id": "alpha", "output": "ALPHA"}, {"id": "bravo", "output": "nope"}, {"nodeid": "cases/shout.jsonl::charlie", "output": "CHARLIE"}
    )
    result = pytester.runpytest("--taskbench-outputs=outputs.jsonl")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*expected 'BRAVO', got 'nope'*"])
    assert not (pytester.path / ".pytest_cache" / "d" / "taskbench").exists()  # nothing generated, nothing cached


def test_a_case_with_no_saved_output_fails_with_a_clear_reason(pytester: pytest.Pytester, suite: Path) -> None:
    write_outputs(pytester, {"id": "alpha", "output": "ALPHA"}, {"id": "bravo", "error": "timeout"})
    result = pytester.runpytest("--taskbench-outputs=outputs.jsonl", "--taskbench-max-errors=5")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*no output for case 'charlie'*outputs.jsonl*", "*saved outputs record an error: timeout*"])


def test_an_unreadable_outputs_file_is_one_usage_error(pytester: pytest.Pytester, suite: Path) -> None:
    (pytester.path / "outputs.jsonl").write_text('{"id": "alpha", "output": "ALPHA"}\nnot json\n')
    result = pytester.runpytest("--taskbench-outputs=outputs.jsonl")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(['*outputs.jsonl:2: invalid JSON: Expecting value (column 1); expected {"id": CASE_ID, "output": TEXT} on each line'])
    missing = pytester.runpytest("--taskbench-outputs=missing.jsonl")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    missing.stderr.fnmatch_lines(["*cannot read the outputs file*"])


def test_saved_outputs_win_over_a_model_and_never_call_it(pytester: pytest.Pytester, suite: Path) -> None:
    (pytester.path / "model.py").write_text("def respond(prompts):\n    raise SystemExit('the model must not be called')\n")
    write_outputs(pytester, {"id": "alpha", "output": "ALPHA"}, {"id": "bravo", "output": "BRAVO"}, {"id": "charlie", "output": "CHARLIE"})
    pytester.runpytest("--taskbench-model=model:respond", "--taskbench-outputs=outputs.jsonl").assert_outcomes(passed=3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"id": "a", "output": "x"}\n{"id": "a", "output": "y"}\n', "id 'a' repeats line 1"),
        ('{"output": "x"}\n', 'needs a string "id"'),
        ('{"id": "a", "output": 3}\n', '"output" must be a string'),
        ("[1, 2]\n", "expected a JSON object"),
    ],
)
def test_bad_lines_name_the_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text(text)
    with pytest.raises(ModelLoadError, match=message):
        SavedOutputs.load(path)


def test_lookup_prefers_the_nodeid(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text('{"id": "same", "output": "by id"}\n{"nodeid": "b.jsonl::same", "output": "by nodeid"}\n\n')
    saved = SavedOutputs.load(path)
    prompt = Prompt(({"role": "user", "content": "q"},), "q")
    jobs = [Job("a.jsonl::same", prompt, GenerationParams(), "same"), Job("b.jsonl::same", prompt, GenerationParams(), "same")]
    assert [g.text for g in saved.outputs_for(jobs)] == ["by id", "by nodeid"]
