"""The shipped tool-call variant (cases-tools/): made from the JSON suite, its tools from the schema, scored right by an oracle."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pytest

from pytest_taskbench.calls import AnyOf
from pytest_taskbench.cases import Case
from pytest_taskbench.scoring.registry import build_scorer
from pytest_taskbench.suite import Suite, load_suite
from tests.helpers.scripts import script

ROOT = Path(__file__).resolve().parent.parent
VARIANT = ROOT / "cases-tools"
TOOL_MODEL = ROOT / "models" / "task-api-tiny-tools"


@lru_cache(maxsize=1)
def variant() -> Suite:
    return load_suite(VARIANT / "taskbench.yaml")


@lru_cache(maxsize=1)
def variant_cases() -> tuple[Case, ...]:
    suite = variant()
    errors = [str(error) for path in suite.case_files() for error in suite.load_cases(path).errors]
    assert errors == []
    return tuple(suite.valid_cases())


def test_the_committed_variant_is_what_the_converter_writes() -> None:
    converter = script("task_api_tools")
    for name, text in converter.outputs().items():
        assert (VARIANT / name).read_text(encoding="utf-8") == text, f"cases-tools/{name} is stale: run python scripts/task_api_tools.py"


def test_the_variant_holds_every_case_of_the_json_suite_with_its_id_input_and_category() -> None:
    json_suite = load_suite(ROOT / "cases" / "taskbench.yaml")
    originals = {(case.id, case.input, case.category, case.difficulty) for case in json_suite.valid_cases()}
    assert {(case.id, case.input, case.category, case.difficulty) for case in variant_cases()} == originals
    assert variant().weights == pytest.approx(json_suite.weights)
    assert variant().count_cases() == 500 and json_suite.count_cases() == 500  # each suite counts its own cases only


def test_the_tools_come_from_the_task_api_schema() -> None:
    schema = json.loads((ROOT / "cases" / "task_api.schema.json").read_text(encoding="utf-8"))
    tools = {tool.name: tool for tool in variant().tools}
    assert list(tools) == ["create_task", "update_task", "complete_task", "delete_task", "list_tasks", "ask_clarification"]
    assert [tool.name for tool in variant().tools if tool.destructive] == ["delete_task"]
    actions = schema["properties"]["action"]["enum"]
    assert len(actions) == len(tools)
    filters = schema["properties"]["filter"]["properties"]
    assert set(tools["list_tasks"].declared) == set(filters)
    assert tools["ask_clarification"].parameters["properties"]["reason"]["enum"] == schema["properties"]["reason"]["enum"]
    assert tools["create_task"].parameters["properties"]["priority"]["enum"] == schema["$defs"]["priority"]["enum"]
    assert set(tools["create_task"].declared) == {"title", "priority", "due_date", "due_time", "assignee", "tags"}


def test_the_tiny_models_tool_answers_are_what_the_variant_expects() -> None:
    """The training script's calls for its own requests score 1.0 against the converter's expected calls for the same objects."""
    training, converter = script("train_tiny_model"), script("task_api_tools")
    assert training.TOOL_NAMES == tuple(tool.name for tool in variant().tools)
    assert training.TOOL_PROMPT_TEMPLATE == variant().prompt_template
    tools = variant().tools
    scorer = build_scorer(variant().categories["entity_extraction"].scorer)
    for example in training.make_training_data(n=400):
        expected = converter.expected_call(example.expected)
        case = Case(id="t", category="entity_extraction", difficulty="simple", expected=[expected], input=example.request, tools=tools)
        answer = training.ToolExample(example.request, (training.tool_call(example.expected),)).answer()
        assert scorer(answer, case).value == 1.0, (example, answer)


def oracle_text(case: Case) -> str:
    calls = []
    for call in case.expected_calls or ():
        arguments = {name: value.values[0] if isinstance(value, AnyOf) else value for name, value in call.arguments.items()}
        calls.append("<tool_call>" + json.dumps({"name": call.name, "arguments": arguments}) + "</tool_call>")
    return "".join(calls)


ORACLE = """\
import json
from pathlib import Path

ANSWERS = json.loads(Path(__file__).with_name("answers.json").read_text())

def respond(prompts, tools):
    return [ANSWERS[prompt] for prompt in prompts]
"""


@pytest.mark.slow  # 500 cases through the plugin, twice
def test_an_oracle_scores_1_on_every_case_and_prose_scores_0(pytester: pytest.Pytester) -> None:
    (pytester.path / "cases").mkdir()
    for path in VARIANT.iterdir():
        (pytester.path / "cases" / path.name).write_bytes(path.read_bytes())
    answers = {variant().prompt_for(case).text: oracle_text(case) for case in variant_cases()}
    assert len(answers) == 500
    (pytester.path / "answers.json").write_text(json.dumps(answers))
    (pytester.path / "oracle.py").write_text(ORACLE)
    result = pytester.runpytest("cases", "--taskbench-model=oracle:respond", "-p", "no:cacheprovider", "-q", "--tb=no")
    result.assert_outcomes(passed=500)
    result.stdout.fnmatch_lines(["aggregate (category-weighted mean score): 1.000*", "*verdict: PASS*"])
    (pytester.path / "prose.py").write_text("def respond(prompts, tools):\n    return ['Sure, I have taken care of that task for you.' for _ in prompts]\n")
    prose = pytester.runpytest("cases", "--taskbench-model=prose:respond", "-p", "no:cacheprovider", "-q", "--tb=no")
    prose.assert_outcomes(failed=500)
    prose.stdout.fnmatch_lines(["aggregate (category-weighted mean score): 0.000*"])


SLICE = "_00"  # cases 001-009 of each category: 45 requests, every kind of case, quick enough through a server


def samples(path: Path) -> dict[str, dict[str, object]]:
    return {line["case_id"]: line for line in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


@pytest.mark.slow  # loads the shipped model in a subprocess and starts `transformers serve`
def test_the_variant_runs_on_the_shipped_model_locally_and_through_transformers_serve_with_the_same_calls(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers.serve import Server

    (pytester.path / "cases").mkdir()
    for path in VARIANT.iterdir():
        (pytester.path / "cases" / path.name).write_bytes(path.read_bytes())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    common = ["cases", "-k", SLICE, "-p", "no:cacheprovider", "-q", "--tb=no"]
    local = pytester.runpytest_subprocess(*common, f"--taskbench-model={TOOL_MODEL}", "--taskbench-log-samples=local.jsonl")
    outcomes = local.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 45, local.stdout.str()
    assert 0 < outcomes.get("passed", 0) < 45  # the tiny model gets some right and some wrong
    server = Server(TOOL_MODEL, tmp_path / "serve.log")
    try:
        url = server.ensure()
        served = pytester.runpytest_subprocess(*common, f"--taskbench-model={url}", "--taskbench-log-samples=served.jsonl", "--taskbench-http-concurrency=1")
    finally:
        server.stop()
    by_local, by_server = samples(pytester.path / "local.jsonl"), samples(pytester.path / "served.jsonl")
    assert set(by_local) == set(by_server) and len(by_local) == 45
    assert all(line["status"] == "scored" for line in by_server.values()), served.stdout.str()
    # the server parsed the calls itself (structured tool_calls): they come back as <tool_call> blocks with no text before them
    assert all(str(line["output"]).startswith("<tool_call>") for line in by_server.values() if line["calls"])
    different = {
        case_id: (by_local[case_id]["calls"], by_server[case_id]["calls"]) for case_id in by_local if by_local[case_id]["calls"] != by_server[case_id]["calls"]
    }
    assert different == {}
    assert [by_local[case_id]["score"] for case_id in sorted(by_local)] == [by_server[case_id]["score"] for case_id in sorted(by_server)]
