"""taskbench merge: three shards and a merge print and write what one unsharded run does."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.helpers.known_run import write_known_run
from tests.helpers.merging import field_differences, leaves, merge, read_json, run_shards, taskbench_section

MODEL = "--taskbench-model=model:respond"
RUN = (MODEL, "--taskbench-no-cache")  # a cache hit in one run and not in the other would differ in how, not in what
ROOT = Path(__file__).resolve().parents[1]
SHIPPED_MODEL = ROOT / "models" / "task-api-tiny"


@pytest.fixture(autouse=True)
def _not_on_github_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    """These runs must not write to the step summary of a CI job that runs the tests."""
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)


def _without_times(text: str) -> str:
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "TIME", text)


def test_three_shards_and_a_merge_equal_one_run(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    write_known_run(pytester)
    outputs = ["--taskbench-report=REPORT.html", "--taskbench-markdown=REPORT.md", "--taskbench-summary-json=REPORT.json"]
    single = pytester.runpytest("cases", *RUN, *[o.replace("REPORT", "single") for o in outputs])
    files = run_shards(pytester, 3, *RUN, *[o.replace("REPORT", "merged") for o in outputs])
    assert not (pytester.path / "merged.json").exists()  # a shard defers the reports to the merge
    status, printed, err = merge(capsys, *files)
    assert err == ""
    assert status == single.ret == 0
    one, merged = read_json(pytester.path / "single.json"), read_json(pytester.path / "merged.json")
    assert field_differences(one, merged) == [] and leaves(one) > 100
    assert one["verdict"] == "pass" and one["suites"]["tasks"]["aggregate"] == pytest.approx(0.7333, abs=1e-4)
    assert [line.replace("merged", "single") for line in taskbench_section(printed)] == taskbench_section(single.outlines)
    assert (pytester.path / "merged.md").read_text() == (pytester.path / "single.md").read_text()
    html = [_without_times((pytester.path / f"{name}.html").read_text()) for name in ("single", "merged")]
    assert html[0] == html[1]


def test_the_merge_gates_compares_and_saves_a_baseline_as_one_run_does(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    write_known_run(pytester)
    pytester.runpytest("cases", *RUN, "--taskbench-save-baseline=before.json")
    model = pytester.path / "model.py"
    model.write_text(model.read_text().replace('{"action": "create", "title": "buy milk"}', "nothing"))  # a1 regresses
    args = [
        "--taskbench-compare=before.json",
        "--taskbench-min-aggregate=0.7",
        "--taskbench-comparison-file=REPORT-cmp.json",
        "--taskbench-save-baseline=REPORT-base.json",
    ]
    single = pytester.runpytest("cases", *RUN, *[a.replace("REPORT", "single") for a in args])
    files = run_shards(pytester, 3, *RUN, *[a.replace("REPORT", "merged") for a in args])
    status, printed, _ = merge(capsys, *files)
    assert status == single.ret == 1  # the aggregate falls to 0.633 < 0.7
    assert any(line.startswith("  FAIL min_aggregate: weighted aggregate 0.633 < 0.700") for line in printed)
    assert field_differences(read_json(pytester.path / "single-cmp.json"), read_json(pytester.path / "merged-cmp.json")) == []
    baselines = [read_json(pytester.path / f"{name}-base.json") for name in ("single", "merged")]
    assert baselines[0]["cases"] == baselines[1]["cases"] and baselines[0]["suites"] == baselines[1]["suites"] and len(baselines[0]["cases"]) == 10


def test_flags_given_to_the_merge_override_the_recorded_ones(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    write_known_run(pytester)
    files = run_shards(pytester, 2, *RUN)
    assert merge(capsys, *files)[0] == 0  # the suite's gate: min_aggregate 0.7 < 0.733
    status, printed, _ = merge(capsys, *files, "--taskbench-min-aggregate=0.8", "--taskbench-summary-json=strict.json")
    assert status == 1 and "verdict: FAIL (1 gate failed: min_aggregate)" in printed
    assert read_json(pytester.path / "strict.json")["verdict"] == "fail"


def test_a_whole_runs_results_file_merges_alone(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    write_known_run(pytester)
    single = pytester.runpytest("cases", *RUN, "--taskbench-results=all.jsonl", "--taskbench-summary-json=single.json")
    status, printed, _ = merge(capsys, "all.jsonl", "--taskbench-summary-json=again.json")
    assert status == single.ret == 0
    assert field_differences(read_json(pytester.path / "single.json"), read_json(pytester.path / "again.json")) == []


@pytest.mark.slow
def test_shards_on_the_shipped_suite_with_a_callable_and_with_n2_inside_a_shard(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(ROOT / "cases", pytester.path / "cases")
    pytester.makepyfile(model='def respond(prompts):\n    return [\'{"action": "list"}\' if len(p) % 3 else \'{"action": "create"}\' for p in prompts]\n')
    single = pytester.runpytest_subprocess("cases", *RUN, "--taskbench-summary-json=single.json", "-p", "no:cacheprovider")
    files = run_shards(pytester, 3, *RUN, "--taskbench-summary-json=merged.json", "-p", "no:cacheprovider", runner="subprocess")
    status, printed, _ = merge(capsys, *files)
    assert status == single.ret == 1  # the callable fails the suite's min_aggregate gate
    one = read_json(pytester.path / "single.json")
    assert field_differences(one, read_json(pytester.path / "merged.json")) == [] and one["suites"]["task-api"]["cases"] == 500
    assert [line.replace("merged", "single") for line in taskbench_section(printed)] == taskbench_section(single.outlines)
    parallel = pytester.runpytest_subprocess(
        "cases", *RUN, "--taskbench-summary-json=merged.json", "--taskbench-shard=2/3", "--taskbench-results=n2.jsonl", "-n", "2", "-p", "no:cacheprovider"
    )
    assert parallel.ret == 0
    lines = [files[1].read_text().splitlines(), (pytester.path / "n2.jsonl").read_text().splitlines()]
    assert lines[0][1:] == lines[1][1:] and len(lines[0]) > 150  # every case result, in the same order
    headers = [json.loads(part[0]) for part in lines]
    for header in headers:
        del header["created"], header["counters"]
    assert headers[0] == headers[1]


@pytest.mark.slow
def test_shards_of_the_shipped_model_merge_to_one_run(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(ROOT / "cases", pytester.path / "cases")
    model = f"--taskbench-model={SHIPPED_MODEL}"
    pick = ("-k", "adversarial and format_compliance", "--taskbench-max-new-tokens=32")  # 10 short answers: a real checkpoint, four model loads
    single = pytester.runpytest_subprocess("cases", model, *pick, "--taskbench-summary-json=single.json", "-p", "no:cacheprovider")
    files = run_shards(pytester, 3, model, *pick, "--taskbench-summary-json=merged.json", "-p", "no:cacheprovider", runner="subprocess")
    status, printed, _ = merge(capsys, *files)
    assert status == single.ret
    one = read_json(pytester.path / "single.json")
    assert field_differences(one, read_json(pytester.path / "merged.json")) == [] and one["suites"]["task-api"]["cases"] == 10
    assert [line.replace("merged", "single") for line in taskbench_section(printed)] == taskbench_section(single.outlines)


def test_the_documented_workflow_uses_only_flags_that_exist() -> None:
    import yaml

    from pytest_taskbench.cli.main import build_parser
    from pytest_taskbench.settings import OPTIONS

    workflow = yaml.safe_load((ROOT / "docs" / "examples" / "files" / "sharded" / "taskbench-sharded.yml").read_text())
    shard_job, merge_job = workflow["jobs"]["shard"], workflow["jobs"]["merge"]
    shard_run = next(step["run"] for step in shard_job["steps"] if "--taskbench-shard" in step.get("run", ""))
    merge_run = next(step["run"] for step in merge_job["steps"] if step.get("run", "").startswith("taskbench merge"))
    plugin_flags = {option.flag for option in OPTIONS}
    used = {token.split("=")[0] for token in shard_run.split() if token.startswith("--")}
    assert used <= plugin_flags and {"--taskbench-shard", "--taskbench-results"} <= used
    merge_parser = next(action for action in build_parser()._subparsers._group_actions[0].choices.items() if action[0] == "merge")[1]  # type: ignore[union-attr]
    merge_flags = {flag for action in merge_parser._actions for flag in action.option_strings}
    assert {token.split("=")[0] for token in merge_run.split() if token.startswith("--")} <= merge_flags
    count = len(shard_job["strategy"]["matrix"]["shard"])
    assert f"--taskbench-shard=${{{{ matrix.shard }}}}/{count}" in shard_run and merge_job["needs"] == "shard"
    uses = [step.get("uses", "") for job in (shard_job, merge_job) for step in job["steps"]]
    assert any(u.startswith("actions/upload-artifact@") for u in uses) and any(u.startswith("actions/download-artifact@") for u in uses)


def test_under_github_actions_the_merge_writes_the_step_summary_and_annotations_of_one_run(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_known_run(pytester)
    files = run_shards(pytester, 3, *RUN)  # shards outside GitHub Actions: what they print does not matter here
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(pytester.path))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path / "single-step.md"))
    single = pytester.runpytest("cases", *RUN, "--taskbench-min-aggregate=0.8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path / "merged-step.md"))
    status, printed, _ = merge(capsys, *files, "--taskbench-min-aggregate=0.8")
    assert status == single.ret == 1
    step = (pytester.path / "merged-step.md").read_text()
    assert step == (pytester.path / "single-step.md").read_text() and "❌ FAIL" in step
    annotations = [line for line in printed if line.startswith("::") and not line.startswith(("::stop-commands::", "::taskbench-"))]
    expected = [line for line in single.outlines if line.startswith("::") and not line.startswith(("::stop-commands::", "::taskbench-"))]
    assert annotations == expected and any(line.startswith("::error file=cases/taskbench.yaml") for line in annotations)
    assert printed[0].startswith("::stop-commands::taskbench-") and any(line.startswith("::taskbench-") for line in printed)  # resumed before the annotations
