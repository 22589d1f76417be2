"""lm-eval task YAML through pytest: collection, the prompts the model sees, refusals, saved lm-eval samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.lmeval_task import TASK, write_task

MODEL = "--taskbench-model=model:respond"
# Records every prompt it is sent, and answers "list()" followed by a line the stop sequence must cut.
RECORDING_MODEL = """\
import json, pathlib

def respond(prompts):
    with pathlib.Path("prompts.jsonl").open("a") as out:
        for prompt in prompts:
            out.write(json.dumps(prompt) + "\\n")
    return ["LIST()\\nRequest: more" for _ in prompts]
"""


@pytest.fixture
def task_dir(pytester: pytest.Pytester) -> Path:
    (pytester.path / "model.py").write_text(RECORDING_MODEL)
    write_task(pytester.path / "tasks")
    return pytester.path / "tasks"


def test_a_task_dir_without_taskbench_yaml_collects_one_item_per_document(pytester: pytest.Pytester, task_dir: Path) -> None:
    (task_dir / "ci.yaml").write_text("task: deploy\nsteps: [build]\n")
    result = pytester.runpytest("tasks", "--co", "-q")
    result.stdout.fnmatch_lines(["tasks/task.yaml::doc_0", "tasks/task.yaml::doc_1", "2 tests collected*"])
    assert "ci.yaml" not in result.stdout.str()
    assert result.ret == 0


def test_the_model_gets_lm_evals_prompt_and_scores_follow_its_metric(pytester: pytest.Pytester, task_dir: Path) -> None:
    result = pytester.runpytest("tasks", MODEL, "-p", "no:randomly")
    # "LIST()" cut at the stop sequence "\n" matches "list()" with ignore_case; "add('milk')" does not
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*taskbench: task_api_benchmark*", "*expected \"add('milk')\", got 'LIST()' after filter 'none'*"])
    prompts = [json.loads(line) for line in (pytester.path / "prompts.jsonl").read_text().splitlines()]
    assert prompts == [
        "You turn requests into API calls.\n\nRequest: list my tasks\nCall:",
        "You turn requests into API calls.\n\nRequest: add milk\nCall:",
    ]


def test_no_lm_eval_option_leaves_task_yaml_alone(pytester: pytest.Pytester, task_dir: Path) -> None:
    result = pytester.runpytest("tasks", "--co", "-q", "--taskbench-no-lm-eval")
    assert "task.yaml" not in result.stdout.str()


def test_unsupported_key_is_a_collection_error_naming_file_and_key(pytester: pytest.Pytester, task_dir: Path) -> None:
    (task_dir / "task.yaml").write_text(TASK.replace("output_type: generate_until", "output_type: loglikelihood"))
    result = pytester.runpytest("tasks", MODEL)
    result.stdout.fnmatch_lines(["*tasks/task.yaml: output_type: 'loglikelihood' is not supported*", "*1 error*"])
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert not (pytester.path / "prompts.jsonl").exists()


def test_a_document_that_cannot_render_fails_alone_naming_its_line(pytester: pytest.Pytester, task_dir: Path) -> None:
    task = TASK.replace("{{ request }}", "{{ request.strip() }}")
    write_task(task_dir, task, docs=[{"request": "ok", "call": "list()"}, {"request": None, "call": "x"}])
    result = pytester.runpytest("tasks", "--co", "-q")
    result.stdout.fnmatch_lines(["tasks/task.yaml::doc_0", "tasks/task.yaml::line2", "2 tests collected*"])
    result = pytester.runpytest("tasks", MODEL)
    result.stdout.fnmatch_lines(["*broken case definition: tasks/data.jsonl:2: doc_1: cannot render*"])


def test_lm_eval_log_samples_are_scored_without_a_model(pytester: pytest.Pytester, task_dir: Path) -> None:
    samples = pytester.path / "samples_task_api_benchmark_2026-01-01T00-00-00.jsonl"
    lines = [
        {"doc_id": 0, "doc": {}, "target": "list()", "arguments": {}, "resps": [["List()"]], "filtered_resps": ["List()"]},
        {"doc_id": 1, "doc": {}, "target": "add('milk')", "arguments": {}, "resps": [["add(milk)"]], "filtered_resps": ["add(milk)"]},
    ]
    samples.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = pytester.runpytest("tasks", f"--taskbench-outputs={samples}")
    result.assert_outcomes(passed=1, failed=1)
    assert not (pytester.path / "prompts.jsonl").exists()
