"""Tool-call suites through the plugin: tools in taskbench.yaml, expected calls in cases, bad input, exports, nested suites."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_taskbench.generation.base import GenerationParams, Prompt
from pytest_taskbench.generation.cache import SAMPLING_FIELDS, entry_key
from pytest_taskbench.guards.validation import Invalid
from pytest_taskbench.results import CaseResult
from pytest_taskbench.resultsfile import read_results_file
from pytest_taskbench.suite import load_suite
from tests.helpers.browser import chromium_driver
from tests.helpers.merging import field_differences, merge, read_json, run_shards
from tests.helpers.suites import jsonl
from tests.helpers.tool_suites import CASES, SUITE, TOOL_MODEL, TOOLS_YAML

MODEL = "--taskbench-model=model:respond"


def literal(pattern: str) -> str:
    """An fnmatch pattern whose '[' is a character, not a set ('*' still matches anything)."""
    return pattern.replace("[", "[[]")


@pytest.fixture
def tool_suite(write_suite: Callable[..., Path]) -> Path:
    return write_suite(suite=SUITE, files={"calls.jsonl": jsonl(CASES, {"difficulty": "simple"})}, model=TOOL_MODEL)


def test_calls_are_scored_and_exported_with_the_parsed_calls(pytester: pytest.Pytester, tool_suite: Path) -> None:
    result = pytester.runpytest("cases", MODEL, "--junitxml=junit.xml", "--taskbench-log-samples=samples.jsonl", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*score 0.000 < 0.8: extra call to destructive function delete_task: the case fails whatever else matched*",
            '*score 0.000 < 0.8: no call: expected list_tasks(status="open")*',
            "*functions most often wrong, missing or extra: delete_task 1 (1 extra); list_tasks 1 (1 missing)*",
        ]
    )
    properties = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")} for case in ET.parse(pytester.path / "junit.xml").iter("testcase")
    }
    assert json.loads(properties["add"]["taskbench.calls"]) == [{"name": "create_task", "arguments": {"title": "Milk", "priority": "high"}}]
    assert json.loads(properties["chat"]["taskbench.calls"]) == []
    samples = {line["case_id"]: line for line in map(json.loads, (pytester.path / "samples.jsonl").read_text().splitlines())}
    assert samples["wipe"]["tools"] == ["create_task", "delete_task", "list_tasks"]
    assert [call["name"] for call in samples["wipe"]["calls"]] == ["list_tasks", "delete_task"]
    assert samples["add"]["expected"] == CASES[0]["expected_calls"]


def test_a_suite_without_tools_exports_no_calls(pytester: pytest.Pytester, demo_suite: Path) -> None:
    pytester.runpytest("cases", MODEL, "--junitxml=junit.xml", "--taskbench-log-samples=samples.jsonl", "-p", "no:cacheprovider")
    assert "taskbench.calls" not in (pytester.path / "junit.xml").read_text()
    assert all(json.loads(line)["calls"] is None for line in (pytester.path / "samples.jsonl").read_text().splitlines())


def test_tools_narrowed_per_category_and_per_case(pytester: pytest.Pytester, write_suite: Callable[..., Path]) -> None:
    suite = SUITE.replace("calls: {weight: 1, scorer: tool_calls}", "calls: {weight: 1, scorer: exact_match, tools: [list_tasks, create_task]}")
    rows = [
        {"id": "category", "input": "which", "expected": "list_tasks,create_task"},
        {"id": "case", "input": "which", "expected": "create_task", "tools": ["create_task"]},
    ]
    write_suite(suite=suite, files={"calls.jsonl": jsonl(rows, {"difficulty": "simple"})}, model=TOOL_MODEL)
    pytester.runpytest("cases", MODEL, "-p", "no:cacheprovider").assert_outcomes(passed=2)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {"id": "x", "input": "a", "expected_calls": [{"name": "send_email", "arguments": {}}]},
            "cases/calls.jsonl:3: case 'x': expected_calls[1]: function 'send_email' is not in the case's tools (create_task, delete_task, list_tasks)",
        ),
        (
            {"id": "x", "input": "a", "expected_calls": [{"name": "create_task", "arguments": {"title": "T", "colour": "red"}}]},
            "cases/calls.jsonl:3: case 'x': expected_calls[1] (create_task): argument 'colour' is not declared by create_task (it declares title, priority)",
        ),
        (
            {"id": "x", "input": "a", "expected_calls": [{"name": "create_task", "arguments": {"title": "T", "priority": {"any_of": ["high", "asap"]}}}]},
            "cases/calls.jsonl:3: case 'x': expected_calls[1] (create_task): argument 'priority': expected value 'asap' breaks create_task's schema: *",
        ),
        (
            {"id": "x", "input": "a", "expected_calls": [{"name": "list_tasks"}], "tools": ["create_task"]},
            "cases/calls.jsonl:3: case 'x': expected_calls[1]: function 'list_tasks' is not in the case's tools (create_task)",
        ),
        (
            {"id": "x", "input": "a", "expected_calls": [], "tools": ["nope"]},
            "cases/calls.jsonl:3: case 'x': tools names 'nope', not in the suite's tools (create_task, delete_task, list_tasks)",
        ),
    ],
)
def test_bad_expected_calls_fail_their_case_naming_file_line_and_problem(
    pytester: pytest.Pytester, write_suite: Callable[..., Path], row: dict[str, object], message: str
) -> None:
    rows = [CASES[0], row]
    write_suite(suite=SUITE, files={"calls.jsonl": jsonl(rows, {"difficulty": "simple"})}, model=TOOL_MODEL)
    result = pytester.runpytest("cases", MODEL, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([f"broken case definition: {literal(message)}"])


def test_expected_calls_need_the_suite_to_declare_tools(pytester: pytest.Pytester, write_suite: Callable[..., Path]) -> None:
    write_suite(files={"greet.jsonl": jsonl([{"id": "x", "input": "a", "expected_calls": []}], {"difficulty": "simple"})})
    result = pytester.runpytest("cases", MODEL, "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["broken case definition: cases/greet.jsonl:2: case 'x': expected_calls needs the suite to declare 'tools:' in taskbench.yaml"])


@pytest.mark.parametrize(
    ("tools", "files", "message"),
    [
        (
            TOOLS_YAML.replace("properties: {status: {enum: [open, done]}}", "properties: {status: {type: strng}}"),
            {},
            "*cases/taskbench.yaml:20: tools[2] (list_tasks): parameters is not valid JSON Schema (draft 2020-12): at $.properties.status.type: 'strng' is not valid*",
        ),
        (
            "tools: tools.json\n",
            {"tools.json": '[\n  {"name": "a"},\n  {"name": "b",\n   "parameters": {"type": "object", "required": ["x"]}}\n]\n'},
            "*cases/tools.json:3: tools[1] (b): parameters.required names 'x', which parameters.properties does not declare*",
        ),
        ("tools: [{name: a}, {name: a}]\n", {}, "*cases/taskbench.yaml:4: tools[1]: function 'a' is listed twice (first as tools[0])*"),
        ("tools: [{name: a b}]\n", {}, "*cases/taskbench.yaml:4: tools[0]: function name 'a b' may hold only letters*"),
        ("tools: [{name: a}]\nprompt: {chat_template: false}\n", {}, "*cases/taskbench.yaml: tools reach a model through its chat template*"),
        ("tools: [{name: a}]\ntool_choice: b\n", {}, "*cases/taskbench.yaml: tool_choice must be one of auto, none, required, a, got 'b'*"),
    ],
)
def test_a_bad_tool_list_is_a_collection_error_naming_file_line_and_problem(
    pytester: pytest.Pytester, write_suite: Callable[..., Path], tools: str, files: dict[str, str], message: str
) -> None:
    suite = "name: tools\ncategories:\n  calls: {weight: 1, scorer: tool_calls}\n" + tools
    write_suite(suite=suite, files={"calls.jsonl": jsonl([{"id": "x", "input": "a", "expected": 1}], {"difficulty": "simple"}), **files})
    result = pytester.runpytest("cases", MODEL, "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines([literal(message)])
    assert result.ret != 0


def test_a_suite_folder_inside_a_suite_is_its_own_suite_and_both_are_gated(pytester: pytest.Pytester, demo_suite: Path) -> None:
    (demo_suite / "tools").mkdir()
    (demo_suite / "tools" / "taskbench.yaml").write_text(SUITE + "min_cases: 3\ngates: {min_aggregate: 0.9}\n")
    (demo_suite / "tools" / "calls.jsonl").write_text(jsonl(CASES, {"difficulty": "simple"}))
    (pytester.path / "model.py").write_text(
        TOOL_MODEL.replace("def respond(prompts, tools):", "def respond(prompts, tools=None):\n    tools = tools or [[]] * len(prompts)")
    )
    result = pytester.runpytest("cases", MODEL, "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*taskbench: demo*", "5 of 5 cases ran*", "*taskbench: tools*", "3 of 3 cases ran*", "*FAIL min_aggregate*"])
    alone = pytester.runpytest("cases/tools", MODEL, "-p", "no:cacheprovider")
    alone.assert_outcomes(passed=1, failed=2)
    outer = load_suite(demo_suite / "taskbench.yaml")
    assert [path.relative_to(demo_suite).as_posix() for path in outer.case_files()] == ["greet.jsonl", "shout.yaml"]  # not tools/*: another suite's


def test_the_cache_key_holds_the_tools_and_is_unchanged_without_them() -> None:
    import hashlib
    from dataclasses import asdict

    prompt = Prompt(({"role": "user", "content": "hi"},), "hi")
    params = GenerationParams()
    settings = {name: value for name, value in asdict(params).items() if value is not None or name not in SAMPLING_FIELDS}
    before = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "text": "hi", "params": settings}
    assert entry_key("m", prompt, params) == hashlib.sha256(json.dumps(before, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    tool = {"type": "function", "function": {"name": "a", "parameters": {"type": "object"}}}
    with_tools = Prompt(prompt.messages, prompt.text, (tool,))
    assert entry_key("m", with_tools, params) != entry_key("m", prompt, params)
    assert entry_key("m", with_tools, params) != entry_key("m", Prompt(prompt.messages, prompt.text, (tool,), "required"), params)


def test_the_html_report_lists_expected_and_actual_calls_with_their_verdicts(pytester: pytest.Pytester, tool_suite: Path) -> None:
    pytester.runpytest("cases", MODEL, "--taskbench-report=report.html", "-p", "no:cacheprovider")
    html = (pytester.path / "report.html").read_text()
    row = html[html.index('data-nodeid="cases/calls.jsonl::wipe"') :]
    row = row[: row.index("</tr>")]
    assert 'data-expected-calls="1"' in row and 'data-actual-calls="2"' in row
    assert row.count('data-status="match"') == 2 and row.count('data-status="extra"') == 1
    assert "delete_task(title=&quot;everything&quot;)" in row


@pytest.mark.slow  # starts a browser
def test_expected_and_actual_calls_sit_side_by_side_in_the_browser(pytester: pytest.Pytester, tool_suite: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    pytester.runpytest("cases", MODEL, "--taskbench-report=report.html", "-p", "no:cacheprovider")
    driver = chromium_driver(tmp_path)
    try:
        driver.get((pytester.path / "report.html").as_uri())
        rows = {row.get_attribute("data-nodeid").split("::")[1]: row for row in driver.find_elements(By.CSS_SELECTOR, "tr.case")}
        wipe = rows["wipe"]
        expected = wipe.find_element(By.CSS_SELECTOR, "[data-expected-calls]")
        actual = wipe.find_element(By.CSS_SELECTOR, "[data-actual-calls]")
        assert expected.is_displayed() and actual.is_displayed()
        assert expected.location["x"] + expected.size["width"] <= actual.location["x"]  # expected on the left, actual on its right
        assert abs(expected.location["y"] - actual.location["y"]) < 40  # on the same row
        assert [item.text for item in actual.find_elements(By.CSS_SELECTOR, "li")] == [
            "match list_tasks()",
            'extra delete_task(title="everything")',
        ]
        assert rows["chat"].find_element(By.CSS_SELECTOR, "[data-actual-calls]").text == "no call"
        assert [item.text for item in rows["chat"].find_elements(By.CSS_SELECTOR, "[data-expected-calls] li")] == ['missing list_tasks(status="open")']
    finally:
        driver.quit()


@pytest.mark.slow  # starts xdist workers
def test_the_calls_reach_the_controller_under_xdist(pytester: pytest.Pytester, tool_suite: Path) -> None:
    pytester.runpytest("cases", MODEL, "--taskbench-log-samples=one.jsonl", "-p", "no:cacheprovider")
    pytester.runpytest("cases", MODEL, "--taskbench-log-samples=two.jsonl", "-p", "no:cacheprovider", "-n", "2")
    one, two = ([json.loads(line) for line in (pytester.path / name).read_text().splitlines()] for name in ("one.jsonl", "two.jsonl"))
    assert [line["calls"] for line in two] == [line["calls"] for line in one] and any(line["calls"] for line in one)
    assert [line["details"]["call_results"] for line in two] == [line["details"]["call_results"] for line in one]


def test_the_calls_survive_a_results_file_and_a_merge(pytester: pytest.Pytester, tool_suite: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = ["--taskbench-report=REPORT.html", "--taskbench-summary-json=REPORT.json", "--taskbench-results=REPORT.jsonl"]
    one_run = pytester.runpytest("cases", MODEL, "--taskbench-no-cache", *[o.replace("REPORT", "single") for o in outputs])
    files = run_shards(pytester, 2, MODEL, "--taskbench-no-cache", *[o.replace("REPORT", "merged") for o in outputs[:2]])
    status, printed, _ = merge(capsys, *files)
    assert status == one_run.ret, printed  # the verdict decides, as in the single run
    single = {result.case_id: result for result in read_results_file(pytester.path / "single.jsonl").results}
    merged = {result.case_id: result for file in files for result in read_results_file(file).results}
    assert merged == single and single["wipe"].calls == [{"name": "list_tasks", "arguments": {}}, {"name": "delete_task", "arguments": {"title": "everything"}}]
    assert single["wipe"].details["call_results"][-1] == {
        "status": "extra",
        "function": "delete_task",
        "expected": None,
        "got": 1,
        "credit": 0.0,
        "destructive": True,
    }
    one, both = read_json(pytester.path / "single.json"), read_json(pytester.path / "merged.json")
    assert field_differences(one, both) == [] and one["suites"]["tools"]["analysis"]["functions"]
    html = [re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "TIME", (pytester.path / f"{name}.html").read_text()) for name in ("single", "merged")]
    assert html[0] == html[1] and "data-expected-calls" in html[0]


def test_a_results_file_line_with_calls_that_are_no_calls_is_refused() -> None:
    line = {"case_id": "a", "nodeid": "cases/a.jsonl::a", "suite": "s", "category": "c", "difficulty": "", "score": 1.0, "passed": True}
    assert CaseResult.from_dict({**line, "calls": [{"name": "f", "arguments": {}}]}).calls == [{"name": "f", "arguments": {}}]
    for bad, message in (("f()", "calls must be a list of calls or null"), (["f()"], "calls[0] must be a call {name, arguments}")):
        with pytest.raises(Invalid, match=re.escape(message)):
            CaseResult.from_dict({**line, "calls": bad})


def test_the_suites_hash_changes_with_its_tool_list_file(tmp_path: Path) -> None:
    (tmp_path / "taskbench.yaml").write_text(SUITE.split("tools:")[0] + "tools: tools.yaml\n")
    (tmp_path / "tools.yaml").write_text(TOOLS_YAML)
    (tmp_path / "calls.jsonl").write_text(jsonl(CASES, {"difficulty": "simple"}))
    before = load_suite(tmp_path / "taskbench.yaml").content_hash()
    (tmp_path / "tools.yaml").write_text(TOOLS_YAML.replace("Create a task.", "Create a task, now described differently."))
    after = load_suite(tmp_path / "taskbench.yaml")
    assert after.case_files() == [tmp_path / "calls.jsonl"] and after.content_hash() != before


def test_a_sampled_tool_case_scores_each_sample_and_keeps_the_representative_samples_calls(pytester: pytest.Pytester, write_suite: Callable[..., Path]) -> None:
    model = (
        TOOL_MODEL.replace("def respond(prompts, tools):", "def respond(prompts, tools, samples):")
        .replace(
            'answers.append(call("create_task", title=prompt[4:], priority="high"))',
            'answers.append(call("create_task", title=prompt[4:], priority="high") if sample % 2 == 0 else "no idea")',
        )
        .replace("for prompt, offered in zip(prompts, tools):", "for prompt, offered, sample in zip(prompts, tools, samples):")
    )
    write_suite(suite=SUITE + "repeats: 2\ngeneration: {temperature: 0.7}\n", files={"calls.jsonl": jsonl(CASES, {"difficulty": "simple"})}, model=model)
    pytester.runpytest("cases", MODEL, "--taskbench-results=results.jsonl", "--taskbench-log-samples=samples.jsonl", "-p", "no:cacheprovider")
    results = {result.case_id: result for result in read_results_file(pytester.path / "results.jsonl").results}
    add = results["add"]
    assert [sample.score for sample in add.samples] == [1.0, 0.0] and add.score == 0.5
    assert add.output == "no idea" and add.calls == []  # the representative sample is the first whose pass state is the case's: the failing one
    assert results["chat"].calls == [] and results["wipe"].calls == [
        {"name": "list_tasks", "arguments": {}},
        {"name": "delete_task", "arguments": {"title": "everything"}},
    ]
