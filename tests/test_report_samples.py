"""--taskbench-log-samples: one JSON line per case, with the prompt the model saw; written once, by the controller."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.known_run import CASES, INPUTS, OUTPUTS, SUITE, write_known_run
from tests.helpers.lmeval_task import write_task

MODEL = "--taskbench-model=model:respond"


@pytest.fixture
def known_run(pytester: pytest.Pytester) -> Path:
    return write_known_run(pytester)


def read_samples(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_case_is_one_line_with_prompt_output_expected_score_and_details(pytester: pytest.Pytester, known_run: Path) -> None:
    (known_run / "taskbench.yaml").write_text(SUITE + 'prompt:\n  template: "Q: {input}\\nA:"\n')
    result = pytester.runpytest("cases", MODEL, "--taskbench-log-samples=logs/samples.jsonl")
    result.stdout.fnmatch_lines(["taskbench: samples log written to *logs/samples.jsonl (10 cases)"])
    samples = read_samples(pytester.path / "logs" / "samples.jsonl")
    assert [s["nodeid"] for s in samples] == sorted(f"cases/{category}.jsonl::{case_id}" for case_id, category, *_ in CASES)
    a5 = next(s for s in samples if s["case_id"] == "a5")
    assert a5["prompt"] == f"Q: {INPUTS['a5']}\nA:"
    assert a5["messages"] == [{"role": "user", "content": f"Q: {INPUTS['a5']}\nA:"}]
    assert (a5["input"], a5["output"], a5["expected"]) == (INPUTS["a5"], OUTPUTS[INPUTS["a5"]], {"action": "delete", "title": "old tasks"})
    assert (a5["score"], a5["passed"], a5["status"], a5["file"], a5["line"], a5["difficulty"]) == (0.0, False, "scored", "cases/actions.jsonl", 5, "complex")
    assert str(a5["reason"]).startswith("invalid JSON") and a5["details"]["parse_error"]  # type: ignore[index]
    e2 = next(s for s in samples if s["case_id"] == "e2")
    assert e2["details"]["fields"]["due_date"]["status"] == "missing"  # type: ignore[index]
    assert round(float(e2["score"]), 3) == 0.667  # type: ignore[arg-type]


@pytest.mark.slow
def test_samples_are_the_same_with_and_without_xdist(pytester: pytest.Pytester, known_run: Path) -> None:
    pytester.runpytest("cases", MODEL, "-p", "no:xdist", "--taskbench-log-samples=one.jsonl", "--taskbench-markdown=one.md")
    result = pytester.runpytest_subprocess("cases", MODEL, "-n", "2", "--taskbench-log-samples=two.jsonl", "--taskbench-markdown=two.md")
    result.stdout.fnmatch_lines(["taskbench: samples log written to *two.jsonl (10 cases)"])
    assert (pytester.path / "two.jsonl").read_text() == (pytester.path / "one.jsonl").read_text()
    assert (pytester.path / "two.md").read_text() == (pytester.path / "one.md").read_text()


def test_an_unwritable_path_is_reported_not_a_crash(pytester: pytest.Pytester, known_run: Path) -> None:
    (pytester.path / "blocked").write_text("a file, not a directory")
    result = pytester.runpytest("cases", MODEL, "--taskbench-log-samples=blocked/samples.jsonl")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["taskbench: cannot write the samples log (--taskbench-log-samples=blocked/samples.jsonl): *"])


def test_each_case_file_is_read_once_for_collection_and_the_samples(pytester: pytest.Pytester, known_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []

    def counting(method: Any) -> Any:
        def read(path: Path, *args: Any, **kwargs: Any) -> Any:
            if path.suffix == ".jsonl" and path.parent.name == "cases":
                reads.append(path.name)
            return method(path, *args, **kwargs)

        return read

    monkeypatch.setattr(Path, "read_text", counting(Path.read_text))
    monkeypatch.setattr(Path, "read_bytes", counting(Path.read_bytes))
    result = pytester.runpytest("cases", MODEL, "-p", "no:xdist", "--taskbench-log-samples=samples.jsonl")
    result.stdout.fnmatch_lines(["taskbench: samples log written to samples.jsonl (10 cases)"])
    assert sorted(reads) == ["actions.jsonl", "entities.jsonl", "format.jsonl"]
    assert all(s["prompt"] == INPUTS[str(s["case_id"])] for s in read_samples(pytester.path / "samples.jsonl"))


def test_lm_eval_samples_carry_the_prompt_lm_eval_built(pytester: pytest.Pytester) -> None:
    (pytester.path / "model.py").write_text('def respond(prompts):\n    return ["list()" for _ in prompts]\n')
    write_task(pytester.path / "tasks")
    result = pytester.runpytest("tasks", MODEL, "--taskbench-log-samples=samples.jsonl")
    result.stdout.fnmatch_lines(["taskbench: samples log written to samples.jsonl (2 cases)"])
    prompts = {s["case_id"]: s["prompt"] for s in read_samples(pytester.path / "samples.jsonl")}
    description = "You turn requests into API calls.\n\n"
    assert prompts == {"doc_0": description + "Request: list my tasks\nCall:", "doc_1": description + "Request: add milk\nCall:"}
