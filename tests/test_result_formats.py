"""Results leave the process in JUnit XML and pytest-json-report, identically under pytest-xdist."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

MODEL = "--taskbench-model=model:respond"


def _junit(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, ET.Element]:
    result = pytester.runpytest("cases", MODEL, "--junitxml=out.xml", *args)
    return result, ET.parse(pytester.path / "out.xml").getroot()


def test_junit_xml_carries_case_and_session_properties(pytester: pytest.Pytester, demo_suite: Path) -> None:
    _, root = _junit(pytester)
    cases = {tc.get("name"): {p.get("name"): p.get("value") for p in tc.iter("property")} for tc in root.iter("testcase")}
    g3 = cases["g3"]
    assert g3["taskbench.score"] == "0.0"
    assert g3["taskbench.passed"] == "False"
    assert g3["taskbench.category"] == "greet"
    assert g3["taskbench.difficulty"] == "simple"
    assert g3["taskbench.output"] == "hi"
    assert g3["taskbench.expected"] == '"HI"'
    assert g3["taskbench.reason"] == "expected 'HI', got 'hi'"
    assert cases["s1"]["taskbench.score"] == "1.0"

    suite_properties = {p.get("name"): p.get("value") for p in root.find("testsuite").find("properties")}  # type: ignore[union-attr]
    assert suite_properties["taskbench.aggregate"] == "0.625000"
    assert suite_properties["taskbench.category.greet.mean"] == "0.500000"
    assert suite_properties["taskbench.category.shout.pass_rate"] == "1.000000"
    assert suite_properties["taskbench.verdict"] == "pass"
    assert suite_properties["taskbench.gate.max_errors"].startswith("pass: ")


def test_json_report_carries_properties_and_summary(pytester: pytest.Pytester, demo_suite: Path) -> None:
    pytester.runpytest("cases", MODEL, "--json-report", "--json-report-file=report.json", "--taskbench-min-aggregate=0.7")
    report = json.loads((pytester.path / "report.json").read_text())
    assert report["exitcode"] == 1
    by_id = {test["nodeid"]: test for test in report["tests"]}
    properties = dict(item for prop in by_id["cases/greet.jsonl::g1"]["user_properties"] for item in prop.items())
    assert properties["taskbench.score"] == 1.0 and properties["taskbench.passed"] is True
    summary = report["taskbench"]["suites"]["demo"]
    assert report["taskbench"]["verdict"] == "fail"
    assert summary["aggregate"] == pytest.approx(0.625)
    greet = summary["categories"]["greet"]
    assert (greet["cases"], greet["mean"], greet["pass_rate"], greet["passed"], greet["weight"]) == (4, 0.5, 0.5, 2, 0.75)
    failed_gate = next(g for g in summary["gates"] if g["name"] == "min_aggregate")
    assert failed_gate["passed"] is False and failed_gate["threshold"] == 0.7
    assert summary["failing_cases"] == ["cases/greet.jsonl::g3", "cases/greet.jsonl::g4"]


def test_summary_hook_can_add_data_to_the_json_summary(pytester: pytest.Pytester, demo_suite: Path) -> None:
    pytester.makeconftest("def pytest_taskbench_summary(config, summary):\n    summary['model_card'] = 'v2'\n")
    pytester.runpytest("cases", MODEL, "--json-report", "--json-report-file=report.json")
    report = json.loads((pytester.path / "report.json").read_text())
    assert report["taskbench"]["suites"]["demo"]["model_card"] == "v2"


def _figures(output: str) -> list[str]:
    """The summary lines that must not depend on how the run was distributed."""
    keep = re.compile(r"^(\d+ of \d+ cases ran|greet |shout |simple |moderate |adversarial |aggregate|pass rate|  (PASS|FAIL) |verdict)")
    return [line for line in output.splitlines() if keep.match(line)]


@pytest.mark.slow
@pytest.mark.parametrize("gate", ["0.5", "0.7"])
def test_xdist_gives_the_same_summary_properties_and_verdict(pytester: pytest.Pytester, demo_suite: Path, gate: str) -> None:
    runs = {}
    for name, extra in {"plain": [], "n0": ["-n", "0"], "n2": ["-n", "2"]}.items():
        result = pytester.runpytest_subprocess("cases", MODEL, f"--taskbench-min-aggregate={gate}", f"--junitxml={name}.xml", *extra)
        root = ET.parse(pytester.path / f"{name}.xml").getroot()
        properties = {p.get("name"): p.get("value") for p in root.find("testsuite").find("properties")}  # type: ignore[union-attr]
        runs[name] = (result.ret, _figures(result.stdout.str()), properties)
    assert runs["plain"][1], "summary missing"
    assert runs["plain"] == runs["n0"] == runs["n2"]
    assert runs["plain"][0] == (0 if gate == "0.5" else 1)
