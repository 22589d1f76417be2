"""The baseline file: its diff-friendly format, the committed fixture, and clear errors for bad files."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_taskbench.baseline import BASELINE_DIR, BaselineError, BaselinePlan, SuiteRecord, build_baseline, dumps, load, merged, resolve
from pytest_taskbench.results import CaseResult

FIXTURE = Path(__file__).parent / "data" / "baseline_v1.json"
SUITE = "cases/taskbench.yaml"


def result(case_id: str, score: float, suite: str = SUITE) -> CaseResult:
    return CaseResult(case_id, f"cases/c.jsonl::{case_id}", suite, "greet", "simple", score, score >= 0.8, input=case_id, output=f"out {case_id}")


def test_committed_v1_fixture_still_loads() -> None:
    baseline = load(FIXTURE)
    assert baseline.version == 1 and baseline.model == "callable:model:respond:0123456789abcdef"
    assert baseline.created == "2026-11-24T12:00:00Z"
    assert baseline.suites[SUITE].name == "demo" and baseline.suites[SUITE].weights == {"greet": 0.75, "shout": 0.25}
    assert [c.key for c in baseline.cases] == ["cases/greet.jsonl::g1", "cases/greet.jsonl::g2", "cases/greet.jsonl::g3", "cases/shout.yaml::s1"]
    g2, g3 = baseline.cases[1], baseline.cases[2]
    assert (g2.critical, g2.passed, g2.difficulty, g2.output) == (True, False, "complex", "hi")
    assert (g3.status, g3.output) == ("error", None)


def test_format_round_trips_byte_for_byte_with_one_case_per_line() -> None:
    text = FIXTURE.read_text()
    assert dumps(load(FIXTURE)) == text
    case_lines = [line for line in text.splitlines() if line.startswith("    {")]
    assert len(case_lines) == 4 and all(json.loads(line.rstrip(",")) for line in case_lines)


def test_cases_are_sorted_by_key_whatever_order_they_finished_in() -> None:
    first = build_baseline([result("b", 1.0), result("a", 0.0)], {SUITE: SuiteRecord("s", "h")}, model="m", config={})
    second = build_baseline([result("a", 0.0), result("b", 1.0)], {SUITE: SuiteRecord("s", "h")}, model="m", config={})
    assert [c.id for c in first.cases] == ["a", "b"]
    assert dumps(first).split('"cases"')[1] == dumps(second).split('"cases"')[1]


def test_broken_cases_are_not_stored() -> None:
    broken = replace(result("x", 0.0), status="broken")
    assert [case.id for case in build_baseline([broken, result("a", 1.0)], {}, model="m", config={}).cases] == ["a"]


def test_an_empty_baseline_is_valid_json(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(dumps(build_baseline([], {}, model="m", config={})))
    assert load(path).cases == ()


BASE = '{{"format": "pytest-taskbench-baseline", "version": 1, "suites": {{}}, "cases": [{case}]}}'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (FIXTURE.read_text()[:900], "ends before the JSON does (truncated?)"),
        ('{"format": "pytest-taskbench-baseline", "version": 1,, }', "is not valid JSON"),
        ('{"benchmarks": []}', 'not a pytest-taskbench baseline (expected a JSON object with "format": "pytest-taskbench-baseline")'),
        ("[1, 2]", "not a pytest-taskbench baseline"),
        ('{"format": "pytest-taskbench-baseline", "version": 99, "suites": {}, "cases": []}', "format version 99 is newer"),
        ('{"format": "pytest-taskbench-baseline", "version": 1, "suites": {}, "cases": [{"key": "a"}]}', "case 1 lacks suite, category, score, passed"),
        ('{"format": "pytest-taskbench-baseline", "version": 1, "suites": {"s": {}}, "cases": []}', "suite 's' lacks its content_hash"),
        # wrong types once gave INTERNALERROR or were accepted silently
        (BASE.format(case='{"key": 5, "suite": "s", "category": "c", "score": 1, "passed": true}'), "case 1 ('5'): key must be a string, got 5"),
        (BASE.format(case="[1, 2]"), "case 1 lacks key, suite, category, score, passed"),
        (BASE.format(case='{"key": "k", "suite": "s", "category": ["c"], "score": 1, "passed": true}'), "case 1 ('k'): category must be a string, got ['c']"),
        (
            BASE.format(case='{"key": "k", "suite": "s", "category": "c", "score": 1, "passed": true, "output": 7}'),
            "case 1 ('k'): output must be a string, got 7",
        ),
        (
            BASE.format(case='{"key": "k", "suite": "s", "category": "c", "score": true, "passed": true}'),
            "case 1 ('k'): score must be a number from 0 to 1, got True",
        ),
        (BASE.format(case='{"key": "k", "suite": "s", "category": "c", "score": 7, "passed": true}'), "score must be a number from 0 to 1, got 7"),
        (BASE.format(case='{"key": "k", "suite": "s", "category": "c", "score": 1, "passed": "yes"}'), "passed must be true or false"),
        (
            BASE.format(
                case='{"key": "k", "suite": "s", "category": "c", "score": 1, "passed": true}, {"key": "k", "suite": "s", "category": "c", "score": 1, "passed": true}'
            ),
            "case 2: key 'k' repeats case 1",
        ),
        (
            '{"format": "pytest-taskbench-baseline", "version": 1, "suites": {"s": {"content_hash": "h", "weights": [1]}}, "cases": []}',
            "suite 's': weights must be a mapping, got [1]",
        ),
        (
            '{"format": "pytest-taskbench-baseline", "version": 1, "suites": {"s": {"content_hash": "h", "aggregate": "high"}}, "cases": []}',
            "suite 's': aggregate must be a number, got 'high'",
        ),
        (
            '{"format": "pytest-taskbench-baseline", "version": 1, "suites": {"s": {"content_hash": "h", "weights": {"a": "x"}}}, "cases": []}',
            "suite 's': weights.a must be a number >= 0, got 'x'",
        ),
        ('{"format": "pytest-taskbench-baseline", "version": 1, "model": 5, "suites": {}, "cases": []}', "'model' must be a string, got 5"),
        ('{"format": "pytest-taskbench-baseline", "version": true, "suites": {}, "cases": []}', "no valid format version (got True)"),
        (
            '{"format": "pytest-taskbench-baseline",\n "version": 1,\n "version": 1, "suites": {}, "cases": []}',
            ":3: duplicate key 'version': already given at line 2 of the same object",
        ),
        ('{"format": "pytest-taskbench-baseline", "version": 1, "suites": {}, "cases": [' + "[" * 100000 + "]" * 100000 + "]}", "nested too deeply to read"),
        (
            '{"format": "pytest-taskbench-baseline", "version": 1, "suites": {}, "cases": [], "x": ' + "[" * 150 + "]" * 150 + "}",
            "nests deeper than 100 levels",
        ),
        (BASE.format(case='{"key": "k\\ud800", "suite": "s", "category": "c", "score": 1, "passed": true}'), "holds a lone surrogate \\ud800"),
    ],
)
def test_bad_files_give_an_error_naming_the_file_and_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(text)
    with pytest.raises(BaselineError) as info:
        load(path)
    assert str(info.value).startswith(str(path)) and message in str(info.value)


def test_a_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="no baseline file here; create one with --taskbench-save-baseline"):
        load(tmp_path / "nope.json")


def test_names_live_under_rootdir_and_paths_are_relative_to_the_invocation_dir(tmp_path: Path) -> None:
    root, here = tmp_path / "root", tmp_path / "here"
    assert resolve("main", root, here) == root / BASELINE_DIR / "main.json"
    assert resolve("ci/last.json", root, here) == (here / "ci" / "last.json").resolve()


@pytest.mark.parametrize("spec", ["cases", "a b", "../x"])
def test_a_test_path_or_odd_name_is_refused(tmp_path: Path, spec: str) -> None:
    (tmp_path / "cases").mkdir()
    with pytest.raises(BaselineError, match="expected a baseline NAME"):
        resolve(spec, tmp_path, tmp_path, "--taskbench-save-baseline")


def test_updating_from_a_subset_keeps_the_cases_that_did_not_run() -> None:
    old = build_baseline(
        [result("a", 1.0), result("b", 1.0), result("z", 1.0, suite="other/taskbench.yaml")],
        {SUITE: SuiteRecord("s", "h"), "other/taskbench.yaml": SuiteRecord("o", "h")},
        model="old",
        config={},
    )
    new = build_baseline([result("a", 0.0)], {SUITE: SuiteRecord("s", "h2")}, model="new", config={})
    subset = merged(old, new, replaced_suites=[])
    assert [(c.id, c.score) for c in subset.cases] == [("a", 0.0), ("b", 1.0), ("z", 1.0)]
    assert subset.suites[SUITE].content_hash == "h2" and "other/taskbench.yaml" in subset.suites
    full = merged(old, new, replaced_suites=[SUITE])
    assert [c.id for c in full.cases] == ["a", "z"]


def test_plan_reads_the_compared_baseline_and_update_without_one_creates_it(tmp_path: Path) -> None:
    target = tmp_path / BASELINE_DIR / "default.json"
    target.parent.mkdir(parents=True)
    target.write_text(FIXTURE.read_text())
    plan = BaselinePlan.from_options(save=None, compare="default", update=False, shared_only=False, rootdir=tmp_path, invocation_dir=tmp_path)
    assert plan.baseline is not None and plan.baseline.path == ".taskbench/baselines/default.json" and plan.update_path is None
    fresh = BaselinePlan.from_options(save=None, compare="new.json", update=True, shared_only=False, rootdir=tmp_path, invocation_dir=tmp_path)
    assert fresh.baseline is None and fresh.update_path == tmp_path / "new.json"
    with pytest.raises(BaselineError, match="no baseline file here"):
        BaselinePlan.from_options(save=None, compare="new.json", update=False, shared_only=False, rootdir=tmp_path, invocation_dir=tmp_path)
