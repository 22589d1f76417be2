"""Reading lm-eval task YAML: prompts, targets and generation settings as lm-eval builds them; refusals."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pytest_taskbench.generation.outputs import sample_as_output
from pytest_taskbench.lmeval.suite import load_lm_eval_suite
from pytest_taskbench.lmeval.task import LmEvalError, looks_like_task_file
from tests.helpers.lmeval_task import TASK, write_task


def test_prompt_is_description_then_doc_to_text_with_no_delimiter(tmp_path: Path) -> None:
    suite = load_lm_eval_suite(write_task(tmp_path), cwd=tmp_path)
    first, second = suite.cases
    # lm-eval zero-shot generate_until: description + doc_to_text(doc); target_delimiter only joins a continuation
    assert first.input == "You turn requests into API calls.\n\nRequest: list my tasks\nCall:"
    assert suite.prompt_for(first).text == first.input
    assert suite.prompt_for(first).messages == (
        {"role": "system", "content": "You turn requests into API calls.\n\n"},
        {"role": "user", "content": "Request: list my tasks\nCall:"},
    )
    assert (first.id, first.expected, second.id, second.expected) == ("doc_0", "list()", "doc_1", "add('milk')")


def test_generation_settings_follow_generation_kwargs_and_skip_the_chat_template(tmp_path: Path) -> None:
    params = load_lm_eval_suite(write_task(tmp_path), cwd=tmp_path).generation
    assert (params.stop, params.max_new_tokens, params.temperature, params.use_chat_template) == (("\n", "Request:"), 24, 0.0, False)
    assert load_lm_eval_suite(write_task(tmp_path), cwd=tmp_path, chat_template=True).generation.use_chat_template is True


def test_lm_eval_defaults_without_generation_kwargs(tmp_path: Path) -> None:
    task = TASK.split("generation_kwargs:")[0]
    params = load_lm_eval_suite(write_task(tmp_path, task), cwd=tmp_path).generation
    assert (params.stop, params.max_new_tokens, params.temperature) == (("\n\n",), 256, 0.0)


def test_field_name_versus_template_and_list_targets(tmp_path: Path) -> None:
    task = TASK.replace('doc_to_text: "Request: {{ request }}\\nCall:"', "doc_to_text: request").replace(
        "doc_to_target: call", 'doc_to_target: "{{ answers }}"'
    )
    docs = [{"request": "q1", "answers": ["a", "b"]}, {"request": "q2", "answers": ["c"]}]
    suite = load_lm_eval_suite(write_task(tmp_path, task, docs), cwd=tmp_path)
    assert [c.input for c in suite.cases] == ["You turn requests into API calls.\n\nq1", "You turn requests into API calls.\n\nq2"]
    assert [c.expected for c in suite.cases] == [["a", "b"], ["c"]]


def test_missing_columns_are_none_and_int_float_columns_unify_as_in_datasets(tmp_path: Path) -> None:
    task = TASK.replace('doc_to_text: "Request: {{ request }}\\nCall:"', 'doc_to_text: "{{ request }} {{ n }} {{ note }}"')
    docs = [{"request": "a", "call": "x", "n": 1}, {"request": "b", "call": "y", "n": 2.5, "note": "hi"}]
    suite = load_lm_eval_suite(write_task(tmp_path, task, docs), cwd=tmp_path)
    assert [c.metadata["lm_eval"]["text"] for c in suite.cases] == ["a 1.0 None", "b 2.5 hi"]


def test_categories_from_documents_yaml_or_task_name(tmp_path: Path) -> None:
    suite = load_lm_eval_suite(write_task(tmp_path), cwd=tmp_path)
    assert [c.category for c in suite.cases] == ["read", "task_api_benchmark"]
    assert suite.weights == {"read": 0.5, "task_api_benchmark": 0.5}  # by document count: the aggregate is lm-eval's mean
    task = TASK + "metadata:\n  taskbench:\n    category: api\n    category_field: kind\n"
    assert {c.category for c in load_lm_eval_suite(write_task(tmp_path / "b", task), cwd=tmp_path / "b").cases} == {"api"}


def test_local_include_is_merged_with_the_including_file_winning(tmp_path: Path) -> None:
    write_task(tmp_path, TASK.replace("task: task_api_benchmark\n", ""), name="_base.yaml")
    child = tmp_path / "child.yaml"
    child.write_text("include: _base.yaml\ntask: child\ndescription: ''\n")
    suite = load_lm_eval_suite(child, cwd=tmp_path)
    assert (suite.name, suite.cases[0].input) == ("child", "Request: list my tasks\nCall:")


def test_templates_render_in_the_sandbox(tmp_path: Path) -> None:
    task = TASK.replace('"Request: {{ request }}\\nCall:"', '"{{ request.__class__.__mro__[1].__subclasses__() }}"')
    suite = load_lm_eval_suite(write_task(tmp_path, task), cwd=tmp_path)
    assert not suite.cases
    assert "SecurityError" in suite.errors[0].message or "unsafe" in suite.errors[0].message
    assert suite.errors[0].line == 1


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}{{ request }}", "the template executed more than 2000000 steps"),
        pytest.param(  # waits out the 1 s regex timeout
            "{{ request | regex_replace('(a|aa)+$', '') }}", "took more than 1s on a 41-character text (catastrophic backtracking?)", marks=pytest.mark.slow
        ),
        ("{{ 'x' * 1000000000 }}", "is too large"),
        ("{{ 10 ** 100000000 }}", "exponent too large"),
    ],
)
def test_templates_that_would_hang_fail_their_document_quickly(tmp_path: Path, template: str, message: str) -> None:
    task = TASK.replace('"Request: {{ request }}\\nCall:"', json.dumps(template))
    docs = [{"request": "a" * 40 + "b", "call": "x()"}]
    started = time.perf_counter()
    suite = load_lm_eval_suite(write_task(tmp_path, task, docs), cwd=tmp_path)
    assert time.perf_counter() - started < 10  # a hang, before the bounds, ran until killed
    assert not suite.cases
    assert suite.errors[0].line == 1 and message in suite.errors[0].message


def test_a_bad_data_line_fails_its_document_only(tmp_path: Path) -> None:
    path = write_task(tmp_path)
    with (tmp_path / "data.jsonl").open("a") as data:
        data.write('{"request": "x", "request": "y", "call": "z()"}\n{not json\n{"request": "' + "[" * 150 + '", "call": ' + "[" * 150 + "]" * 150 + "}\n")
        data.write(json.dumps({"request": "last", "call": "last()"}) + "\n")
    suite = load_lm_eval_suite(path, cwd=tmp_path)
    assert [case.input.rsplit("\n", 2)[-2] for case in suite.cases] == ["Request: list my tasks", "Request: add milk", "Request: last"]
    assert [(e.line, e.message.split(":")[0]) for e in suite.errors] == [
        (3, "duplicate key 'request' in one object (columns 2 and 18)"),
        (4, "invalid JSON"),
        (5, "the document nests deeper than 100 levels of lists and objects"),
    ]


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (("output_type: generate_until", "output_type: multiple_choice"), "output_type"),
        (("test_split: test", "test_split: test\ndoc_to_choice: ['a', 'b']"), "doc_to_choice"),
        (("test_split: test", "test_split: test\nnum_fewshot: 5"), "num_fewshot"),
        (("dataset_path: json", "dataset_path: gsm8k"), "dataset_path"),
        (("do_sample: false", "do_sample: false\n  top_p: 0.9"), "generation_kwargs.top_p"),
        (("test_split: test", "test_split: test\ninclude: hub_task"), "include"),
        (("test_split: test", "test_split: test\nprompt_style: x"), "prompt_style"),
    ],
)
def test_unsupported_keys_are_errors_naming_file_and_key(tmp_path: Path, change: tuple[str, str], key: str) -> None:
    path = write_task(tmp_path, TASK.replace(*change))
    with pytest.raises(LmEvalError) as raised:
        load_lm_eval_suite(path, cwd=tmp_path)
    assert raised.value.key == key
    assert str(raised.value).startswith(f"{path}: {key}: ")


def test_function_tags_are_never_executed_without_opt_in(tmp_path: Path) -> None:
    (tmp_path / "utils.py").write_text("open(__file__ + '.ran', 'w').close()\ndef process(dataset):\n    return dataset\n")
    path = write_task(tmp_path, TASK + "process_docs: !function utils.process\n")
    with pytest.raises(LmEvalError, match="process_docs: `!function utils.process` .* was not executed"):
        load_lm_eval_suite(path, cwd=tmp_path)
    assert not (tmp_path / "utils.py.ran").exists()
    assert looks_like_task_file(path)


def test_function_tags_run_when_allowed(tmp_path: Path) -> None:
    (tmp_path / "utils.py").write_text("def process(dataset):\n    return dataset.map(lambda d: {'request': d['request'].upper()})\n")
    path = write_task(tmp_path, TASK + "process_docs: !function utils.process\n")
    suite = load_lm_eval_suite(path, cwd=tmp_path, allow_functions=True)
    assert suite.cases[0].metadata["lm_eval"]["text"] == "Request: LIST MY TASKS\nCall:"


def test_recognition_needs_yaml_suffix_task_key_and_an_lm_eval_key(tmp_path: Path) -> None:
    assert looks_like_task_file(write_task(tmp_path))
    (tmp_path / "ci.yaml").write_text("task: deploy\nsteps: [build]\n")
    (tmp_path / "cases.yaml").write_text("- {id: a, input: x, expected: y}\n")
    (tmp_path / "task.yml").write_text(TASK)
    assert not any(looks_like_task_file(tmp_path / name) for name in ("ci.yaml", "cases.yaml", "task.yml"))


def test_log_samples_line_becomes_a_saved_output() -> None:
    line = {"doc_id": 3, "doc": {}, "target": "x", "arguments": {}, "resps": [["raw answer"]], "filtered_resps": ["answer"]}
    assert sample_as_output(line) == {"id": "doc_3", "output": "raw answer"}
