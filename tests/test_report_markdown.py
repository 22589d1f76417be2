"""--taskbench-markdown, the GitHub job summary and workflow annotations, on the known run."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_taskbench.reports.github import MAX_CASE_ANNOTATIONS, annotations, escape_data, escape_property, github_annotations, workflow_command
from pytest_taskbench.reports.markdown import cell
from pytest_taskbench.settings import OPTIONS_BY_DEST
from pytest_taskbench.verdict.finish import SuiteReport
from pytest_taskbench.verdict.gates import Verdict
from tests.helpers.known_run import known_report, known_results, summary_of, write_known_run

MODEL = "--taskbench-model=model:respond"


@pytest.fixture
def known_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    return write_known_run(pytester)


def test_markdown_summary_of_the_known_run(pytester: pytest.Pytester, known_run: Path) -> None:
    result = pytester.runpytest("cases", MODEL, "--taskbench-markdown=out/summary.md")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["taskbench: Markdown summary written to *out/summary.md"])
    text = (pytester.path / "out" / "summary.md").read_text()
    lines = text.splitlines()
    assert lines[0] == "### taskbench: tasks — ✅ PASS"
    assert lines[2].startswith("**Aggregate 0.733** (95% CI ") and lines[2].endswith(" · 5/10 cases pass (50%) at score ≥ 0.8")
    rows = [line for line in lines if line.startswith("| actions |") or line.startswith("| entities |") or line.startswith("| format |")]
    assert [row.split(" | ")[1:3] for row in rows] == [["5", "0.600"], ["3", "0.778"], ["2", "1.000"]]
    assert [row.split(" | ")[-2:] for row in rows] == [["40%", "0.50 |"], ["33%", "0.30 |"], ["100%", "0.20 |"]]
    assert "**Gates:** ✅ broken case definitions 0 &lt;= 0 · ✅ weighted aggregate 0.733 &gt;= 0.700 · ✅ cases the model failed to answer 0 &lt;= 0" in lines
    assert "- **Strengths** (≥ 0.90): format 100%" in lines
    assert (
        "- **Weakness** (< 0.80): **actions**: add training data that tells create from list in actions: 2 of 3 failures answer list for create (current 60%)"
        in lines
    )
    assert "- **Invalid JSON** in 1 case: `a5`" in lines
    assert "- **`action` confusions** (7/10 right): create → list: 2, delete → (invalid JSON): 1" in lines
    assert "- **Failure rate by difficulty:** simple 0% (0/4) · moderate 67% (2/3) · complex 100% (3/3); rises with difficulty" in lines
    assert "<details><summary>5 failing cases</summary>" in lines
    failing = [line.split(" | ")[0] for line in lines if line.startswith("| `cases/")]
    assert failing == [
        "| `cases/actions.jsonl::a3`",
        "| `cases/actions.jsonl::a4`",
        "| `cases/actions.jsonl::a5`",
        "| `cases/entities.jsonl::e2`",
        "| `cases/entities.jsonl::e3`",
    ]


def test_failing_gate_shows_in_the_headline(pytester: pytest.Pytester, known_run: Path) -> None:
    result = pytester.runpytest("cases", MODEL, "--taskbench-markdown=summary.md", "--taskbench-min-aggregate=0.8")
    assert result.ret == 1
    text = (pytester.path / "summary.md").read_text()
    assert text.startswith("### taskbench: tasks — ❌ FAIL (1 gate failed: min_aggregate)\n")
    assert "❌ weighted aggregate 0.733 &lt; 0.800" in text


def test_step_summary_is_appended_when_github_sets_it(pytester: pytest.Pytester, known_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    step_summary = pytester.path / "step_summary.md"
    step_summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    result = pytester.runpytest("cases", MODEL)
    assert result.ret == 0
    text = step_summary.read_text()
    assert text.startswith("# earlier step\n### taskbench: tasks — ✅ PASS\n")
    assert text.count("<details>") == 1


def test_annotations_under_github_actions_point_at_case_lines(pytester: pytest.Pytester, known_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = pytester.runpytest("cases", MODEL, "--taskbench-min-aggregate=0.8")
    assert result.ret == 1
    stop, resume, *commands = [line for line in result.stdout.lines if line.startswith("::")]
    token = stop.removeprefix("::stop-commands::")
    assert re.fullmatch("taskbench-[0-9a-f]{32}", token) and resume == f"::{token}::"  # the output between them runs no command
    assert commands == [
        "::error file=cases/taskbench.yaml,line=9,title=taskbench tasks%3A gate min_aggregate failed::weighted aggregate 0.733 < 0.800",
        '::warning file=cases/actions.jsonl,line=3,title=taskbench%3A a3 scored 0.50 < 0.8 (actions%2C moderate)::action wrong%0Aoutput: {"action": "list", "title": "call bob"}',
        '::warning file=cases/actions.jsonl,line=4,title=taskbench%3A a4 scored 0.50 < 0.8 (actions%2C complex)::action wrong%0Aoutput: {"action": "list", "title": "write <report> & send"}',
        "::warning file=cases/actions.jsonl,line=5,title=taskbench%3A a5 scored 0.00 < 0.8 (actions%2C complex)::invalid JSON: Expecting value: line 1 column 1 (char 0)%0Aoutput: Sure! I deleted them.",
        '::warning file=cases/entities.jsonl,line=2,title=taskbench%3A e2 scored 0.67 < 0.8 (entities%2C moderate)::due_date missing%0Aoutput: {"action": "create", "title": "dentist"}',
        '::warning file=cases/entities.jsonl,line=3,title=taskbench%3A e3 scored 0.67 < 0.8 (entities%2C complex)::due_date wrong%0Aoutput: {"action": "create", "title": "gym", "due_date": "2026-03-09"}',
    ]


def test_no_annotations_outside_github_actions(pytester: pytest.Pytester, known_run: Path) -> None:
    result = pytester.runpytest("cases", MODEL, "--taskbench-min-aggregate=0.8")
    assert not [line for line in result.stdout.lines if line.startswith("::")]


def test_annotation_paths_are_relative_to_the_github_workspace(tmp_path: Path) -> None:
    report = known_report()
    rootdir = tmp_path / "service"
    commands = github_annotations([report], rootdir, {"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(tmp_path)})
    assert commands[0].startswith("::warning file=service/cases/actions.jsonl,line=3,")
    assert github_annotations([report], rootdir, {"GITHUB_ACTIONS": "false"}) == []


def test_model_errors_are_errors_and_case_annotations_are_capped(tmp_path: Path) -> None:
    results = known_results()
    many = [replace(results[4], case_id=f"x{i}", nodeid=f"cases/actions.jsonl::x{i}", line=i + 1) for i in range(MAX_CASE_ANNOTATIONS + 2)]
    broken = replace(results[0], status="error", passed=False, score=0.0, output=None, reason="model error: boom")
    report = SuiteReport(summary_of(results), Verdict(()), cases=(broken, *many))
    commands = annotations([report], tmp_path)
    assert commands[0] == "::error file=cases/actions.jsonl,line=1,title=taskbench%3A model error on a1::model error: boom"
    assert sum(c.startswith("::warning ") for c in commands) == MAX_CASE_ANNOTATIONS
    assert commands[-1] == "::notice title=taskbench tasks::2 more failing cases (warnings) not annotated; see the job summary or the HTML report"


def test_workflow_command_escaping() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    assert workflow_command("error", "x: y, z", file="a,b.jsonl", line=3, title="t:1") == "::error file=a%2Cb.jsonl,line=3,title=t%3A1::x: y, z"
    assert workflow_command("notice", "m") == "::notice::m"


def test_markdown_cells_cannot_break_the_table() -> None:
    assert cell("a | b\n<script>") == "a \\| b &lt;script&gt;"


def test_help_lists_the_report_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    for dest in ("report", "markdown", "log_samples"):
        option = OPTIONS_BY_DEST[dest]
        result.stdout.fnmatch_lines([f"*{option.flag}={option.metavar}*"])
