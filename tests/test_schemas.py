"""The shipped JSON Schemas are up to date, accept the shipped suite, and refuse what the loaders refuse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from pytest_taskbench.cases import load_case_file
from pytest_taskbench.schemas import BUILDERS, FILES, shipped
from pytest_taskbench.scoring.extract import jsonable
from pytest_taskbench.suite import SuiteError, load_suite

ROOT = Path(__file__).resolve().parent.parent
SUITE = Draft202012Validator(shipped("taskbench.schema.json"), format_checker=Draft202012Validator.FORMAT_CHECKER)
CASE = Draft202012Validator(shipped("case.schema.json"))
CASE_FILE = Draft202012Validator(shipped("case-file.schema.json"))


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_shipped_schemas_are_what_the_tables_give(name: str) -> None:
    assert shipped(name) == json.loads(json.dumps(BUILDERS[FILES[name]]())), "stale schema: run python -m pytest_taskbench.schemas"


@pytest.mark.parametrize("name", sorted(FILES))
def test_each_schema_is_a_valid_json_schema(name: str) -> None:
    Draft202012Validator.check_schema(shipped(name))


def test_the_shipped_suite_and_its_cases_are_valid() -> None:
    text = (ROOT / "cases" / "taskbench.yaml").read_text(encoding="utf-8")
    assert not list(SUITE.iter_errors(jsonable(yaml.safe_load(text))))
    for path in sorted((ROOT / "cases").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith('{"id"'):
                assert not list(CASE.iter_errors(json.loads(line))), line


def test_the_shipped_suite_file_names_its_schema_for_editors() -> None:
    first = (ROOT / "cases" / "taskbench.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../pytest_taskbench/schemas/taskbench.schema.json"


def suite_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "taskbench.yaml"
    path.write_text(text, encoding="utf-8")
    return path


BROKEN_SUITES = [
    "categories: {}\n",
    "name: x\n",
    "categories: {a: 1}\ncolour: red\n",
    "categories: {a: {weight: x}}\n",
    "categories: {a: {weight: -1}}\n",
    "categories: {a: {weight: 1, scorer: [1]}}\n",
    "categories: {a: {weight: 1, pace: 3}}\n",
    "categories: {a: 1}\npass_threshold: 2\n",
    "categories: {a: 1}\npass_threshold: true\n",
    "categories: {a: 1}\nreference_date: soon\n",
    "categories: {a: 1}\ngates: {speed: 1}\n",
    "categories: {a: 1}\ngates: {min_aggregate: 1.5}\n",
    "categories: {a: 1}\ngates: {max_errors: -1}\n",
    "categories: {a: 1}\ngates: {strict: 1}\n",
    "categories: {a: 1}\ngates: {alpha: 0}\n",
    "categories: {a: 1}\ngates: {min_category: {a: high}}\n",
    "categories: {a: 1}\ngeneration: {max_new_tokens: 0}\n",
    "categories: {a: 1}\ngeneration: {max_new_tokens: true}\n",
    "categories: {a: 1}\ngeneration: {temperature: 11}\n",
    "categories: {a: 1}\ngeneration: {top_k: 0}\n",
    "categories: {a: 1}\ngeneration: {temperature: -0.5}\n",
    "categories: {a: 1}\ngeneration: {top_p: 0}\n",
    "categories: {a: 1}\ngeneration: {seed: -1}\n",
    "categories: {a: 1}\nrepeats: 0\n",
    "categories: {a: 1}\npolicy: best\n",
    "categories: {a: 1}\npolicy: rate:1.5\n",
    "categories: {a: {weight: 1, repeats: 0}}\n",
    "categories: {a: 1}\npass_at_k: [0]\n",
    "categories: {a: 1}\ndifficulties: 3\n",
    "categories: {a: 1}\ndifficulties: [easy, easy]\n",
    "categories: {a: 1}\nbands: {good: high}\n",
    "categories: {a: 1}\ncase_files: 7\n",
    "categories: {a: 1}\nmin_cases: 0\n",
    "categories: {a: 1}\nprompt: {system: [x]}\n",
    "categories: {a: 1}\nprompt: {chat_template: maybe}\n",
    "categories: {a: 1}\nscorer_packs: [nope]\n",
    "categories: {a: 1}\nanalysis: {strength: 2}\n",
    "categories: {a: 1}\nanalysis: {confusion: action}\n",
]


@pytest.mark.parametrize("text", BROKEN_SUITES)
def test_a_broken_suite_is_refused_by_the_loader_and_the_schema(tmp_path: Path, text: str) -> None:
    with pytest.raises(SuiteError):
        load_suite(suite_file(tmp_path, text))
    assert list(SUITE.iter_errors(jsonable(yaml.safe_load(text))))


VALUES: dict[str, list[Any]] = {
    "pass_threshold": [0, 0.5, 1, 1.5, -0.1, True, "x"],
    "min_cases": [1, 50, 0, -3, 1.5, True],
    "difficulties": [["a"], ["a", "b"], [], ["a", "a"], "a", [1]],
    "case_files": ["*.jsonl", ["*.jsonl", "*.yaml"], [], 7, [""]],
    "gates": [{}, {"min_aggregate": 0.5}, {"max_errors": None}, {"max_errors": 2}, {"alpha": 0.1}, {"alpha": 0.6}, {"strict": "yes"}, {"min_pass_rate": 2}],
    "generation": [
        {},
        {"max_new_tokens": 5},
        {"stop": "\n"},
        {"stop": ["a", 1]},
        {"temperature": 0.7},
        {"temperature": -1},
        {"top_p": 0.9, "seed": 3},
        {"top_k": 0},
    ],
    "repeats": [1, 5, 0, -2, 1.5, True, 1001],
    "policy": ["mean", "all", "any", "majority", "rate:0.8", "rate:.5", "rate:1", "rate:1.0", "rate:0", "rate:1.5", "rate:", "best", 3],
    "pass_at_k": [1, [1, 4], [], [0], "4", [2, 2]],
    "bands": [{"good": 0.5}, {}, {"good": 2}],
    "scorer_packs": [[], ["task_api"], ["nope"], "task_api"],
}


@given(st.fixed_dictionaries({}, optional={key: st.sampled_from(values) for key, values in VALUES.items()}))
def test_what_the_loader_accepts_the_schema_accepts(tmp_path_factory: pytest.TempPathFactory, extra: dict[str, Any]) -> None:
    """The schema is never stricter than the loader, so an editor never flags a suite that runs."""
    data = {"categories": {"a": 1}, **extra}
    try:
        load_suite(suite_file(tmp_path_factory.mktemp("suite"), yaml.safe_dump(data)))
    except SuiteError:
        return
    assert not list(SUITE.iter_errors(data)), data


GOOD_CASE = {"id": "a1", "input": "x", "expected": {"action": "list"}, "category": "a", "difficulty": "simple"}
BROKEN_CASES = [
    {"input": "x", "expected": 1, "category": "a", "difficulty": "simple"},
    {**GOOD_CASE, "id": "has space"},
    {**GOOD_CASE, "colour": "red"},
    {key: value for key, value in GOOD_CASE.items() if key != "expected"},
    {**GOOD_CASE, "messages": [{"role": "user", "content": "x"}]},
    {key: value for key, value in GOOD_CASE.items() if key != "input"},
    {**GOOD_CASE, "input": 7},
    {**GOOD_CASE, "tags": [1]},
    {**GOOD_CASE, "critical": "yes"},
    {**GOOD_CASE, "metadata": []},
    {**GOOD_CASE, "scorer": {"params": 1}},
    {key: value for key, value in {**GOOD_CASE, "messages": [{"role": "robot", "content": "x"}]}.items() if key != "input"},
]


@pytest.mark.parametrize("case", BROKEN_CASES, ids=lambda case: ",".join(sorted(case)))
def test_a_broken_case_is_refused_by_the_loader_and_the_schema(tmp_path: Path, case: dict[str, Any]) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(case) + "\n", encoding="utf-8")
    contents = load_case_file(path, categories=["a"])
    assert contents.errors and not contents.cases
    assert list(CASE.iter_errors(case))


def test_a_case_file_document_is_checked_whole(tmp_path: Path) -> None:
    document = {"defaults": {"category": "a", "difficulty": "simple"}, "cases": [{"id": "a1", "input": "x", "expected": 1}]}
    assert not list(CASE_FILE.iter_errors(document))
    path = tmp_path / "a.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    assert load_case_file(path, categories=["a"]).cases
    for broken in (
        {"cases": [{"id": "a1", "input": "x", "expected": 1}], "extra": 1},
        {"defaults": {"colour": "red"}, "cases": []},
        [{"id": "x y", "input": "x", "expected": 1}],
    ):
        assert list(CASE_FILE.iter_errors(broken)), broken
