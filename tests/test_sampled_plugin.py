"""Sampled runs through pytest: one item per case, pass@k and flaky cases in every report, the cache, gates, baselines, xdist."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from pytest_taskbench.cli.main import main
from pytest_taskbench.history import HistoryRecord
from tests.helpers.merging import field_differences, merge, read_json, run_shards, taskbench_section

# Deterministic "sampling": the sample index decides. steady-* always answer right, broken-* never,
# flaky-* right on even samples only. It logs how many outputs each call asked for.
SAMPLING_MODEL = """\
from pathlib import Path

def respond(prompts, samples):
    with Path(__file__).with_name("calls.log").open("a") as log:
        log.write(f"{len(prompts)}\\n")
    out = []
    for prompt, index in zip(prompts, samples):
        word = prompt.split()[-1]
        right = word.startswith("steady") or (word.startswith("flaky") and index % 2 == 0)
        out.append(word.upper() if right else "wrong")
    return out
"""
SUITE = """\
name: sampled
categories:
  a: {weight: 0.5, scorer: exact_match}
  b: {weight: 0.5, scorer: exact_match}
generation: {temperature: 0.8}
"""
MODEL = "--taskbench-model=model:respond"
SUMMARY_HOOK = """\
import json
from pathlib import Path

def pytest_taskbench_summary(config, summary):
    Path("summary.json").write_text(json.dumps(summary, sort_keys=True))
"""


def write(pytester: pytest.Pytester, suite: str = SUITE) -> None:
    cases = pytester.path / "cases"
    cases.mkdir(exist_ok=True)
    (cases / "taskbench.yaml").write_text(suite)
    rows = {"a": ["steady1", "steady2", "flaky1", "broken1"], "b": ["steady3", "flaky2", "broken2", "broken3"]}
    for category, words in rows.items():
        lines = [json.dumps({"id": w, "input": f"say {w}", "expected": w.upper(), "category": category, "difficulty": "simple"}) for w in words]
        (cases / f"{category}.jsonl").write_text("\n".join(lines) + "\n")
    (pytester.path / "model.py").write_text(SAMPLING_MODEL)
    pytester.makeconftest(SUMMARY_HOOK)


def calls(pytester: pytest.Pytester) -> list[int]:
    log = pytester.path / "calls.log"
    return [int(line) for line in log.read_text().splitlines()] if log.exists() else []


def summary(pytester: pytest.Pytester) -> dict:  # type: ignore[type-arg]
    return dict(json.loads((pytester.path / "summary.json").read_text()))


def test_a_sampled_run_reports_pass_at_k_pass_hat_k_and_the_flaky_cases(pytester: pytest.Pytester) -> None:
    write(pytester)
    result = pytester.runpytest("cases", MODEL, "--taskbench-repeats=4", "--junitxml=out.xml", "--taskbench-log-samples=samples.jsonl")
    result.assert_outcomes(passed=3, failed=5)  # one item per case; a flaky case's mean 0.5 is below 0.8
    result.stdout.fnmatch_lines(
        [
            "samples: 4 per case (policy mean)*",
            "category            cases   pass@1   pass@4   pass^4  flaky",
            "a                       4    0.625    0.750    0.500      1",
            "b                       4    0.375    0.500    0.250      1",
            "overall (weighted)      8    0.500    0.625    0.375      2",
            "  95% CI, cases resampled (not samples): pass@1 * to *; pass@4 * to *; pass^4 * to *",
            "flaky cases (samples disagree): 2",
            "  cases/a.jsonl::flaky1  2/4 samples passed (50%); the case fails",
            "  cases/b.jsonl::flaky2  2/4 samples passed (50%); the case fails",
        ]
    )
    sampling = summary(pytester)["sampling"]
    assert sampling["overall"]["pass@4"] == 0.625 and sampling["categories"]["a"]["pass^4"] == 0.5
    assert [f["nodeid"] for f in sampling["flaky_cases"]] == ["cases/a.jsonl::flaky1", "cases/b.jsonl::flaky2"]
    # every sample's output and score rides the test report (JUnit XML writes the properties) and the samples log
    case = ET.parse(pytester.path / "out.xml").getroot().find(".//testcase[@name='flaky1']")
    assert case is not None
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert [(s["output"], s["score"]) for s in json.loads(properties["taskbench.samples"] or "")] == [("FLAKY1", 1.0), ("wrong", 0.0)] * 2
    logged = {line["case_id"]: line for line in map(json.loads, (pytester.path / "samples.jsonl").read_text().splitlines())}
    assert [s["passed"] for s in logged["flaky2"]["samples"]] == [True, False, True, False] and logged["flaky2"]["policy"] == "mean"


def test_a_warm_rerun_calls_nothing_and_more_repeats_generate_only_the_new_samples(pytester: pytest.Pytester) -> None:
    write(pytester)
    pytester.runpytest("cases", MODEL, "--taskbench-repeats=4")
    assert sum(calls(pytester)) == 8 * 4
    (pytester.path / "calls.log").unlink()
    warm = pytester.runpytest("cases", MODEL, "--taskbench-repeats=4")
    assert calls(pytester) == []
    warm.stdout.fnmatch_lines(["generation: 32 outputs (0 generated, 32 from cache)*"])
    more = pytester.runpytest("cases", MODEL, "--taskbench-repeats=6")
    assert sum(calls(pytester)) == 8 * 2  # exactly two more per case
    more.stdout.fnmatch_lines(["samples: 6 per case*", "generation: 48 outputs (16 generated, 32 from cache)*"])


def test_policies_decide_a_case_and_a_case_may_set_its_own(pytester: pytest.Pytester) -> None:
    write(pytester, SUITE + "repeats: 4\npolicy: any\n")
    b = pytester.path / "cases" / "b.jsonl"
    b.write_text(b.read_text().replace('"id": "flaky2",', '"id": "flaky2", "policy": "all",'))
    result = pytester.runpytest("cases", MODEL, "-rA")
    result.assert_outcomes(passed=4, failed=4)  # flaky1 passes under any; flaky2 fails under its own all
    result.stdout.fnmatch_lines(["*PASSED cases/a.jsonl::flaky1*", "*FAILED cases/b.jsonl::flaky2 - score 0.000 < 0.8: 2/4 samples passed (all)*"])


def test_the_flaky_gates_decide_the_exit_status(pytester: pytest.Pytester) -> None:
    write(pytester)
    held = pytester.runpytest("cases", MODEL, "--taskbench-repeats=4", "--taskbench-max-flaky-cases=2")
    assert held.ret == 0
    failed = pytester.runpytest("cases", MODEL, "--taskbench-repeats=4", "--taskbench-max-flaky-cases=1", "--taskbench-min-case-pass-rate=0.5")
    assert failed.ret == 1
    failed.stdout.fnmatch_lines(
        [
            "  FAIL max_flaky_cases: flaky cases (samples disagree) 2 > 1 (cases/a.jsonl::flaky1 2/4, cases/b.jsonl::flaky2 2/4)",
            "  FAIL min_case_pass_rate: lowest share of a case's samples that pass 0.000 < 0.500; 3 case(s) below*",
            "verdict: FAIL (2 gates failed: max_flaky_cases, min_case_pass_rate)",
        ]
    )


def test_greedy_repeats_warn_that_the_samples_are_identical(pytester: pytest.Pytester) -> None:
    write(pytester, SUITE.replace("generation: {temperature: 0.8}\n", ""))
    result = pytester.runpytest("cases", MODEL, "--taskbench-repeats=3")
    result.stdout.fnmatch_lines(["warning: repeats 3 with greedy decoding (temperature 0): every sample of a case is the same output, generated once*"])
    assert sum(calls(pytester)) == 8  # one output per case, not three
    result.stdout.fnmatch_lines(["flaky cases (samples disagree): none"])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("repeats: 0", "cases/taskbench.yaml: repeats must be a whole number from 1 to 1000, got 0"),
        ("generation: {temperature: -1}", "cases/taskbench.yaml: generation.temperature must be a number from 0 to 10, got -1"),
        ("policy: sometimes", "cases/taskbench.yaml: policy must be one of mean, all, any, majority, rate:X, got 'sometimes'"),
        ("policy: rate:1.5", "cases/taskbench.yaml: policy: rate:X needs the share of samples that must pass*got 'rate:1.5'"),
    ],
)
def test_bad_sampling_settings_are_one_clear_error(pytester: pytest.Pytester, line: str, message: str) -> None:
    write(pytester, SUITE.replace("generation: {temperature: 0.8}\n", "") + line + "\n")
    result = pytester.runpytest("cases", MODEL)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([f"*{message}*"])


def test_a_bad_repeats_option_names_the_flag(pytester: pytest.Pytester) -> None:
    write(pytester)
    result = pytester.runpytest("cases", MODEL, "--taskbench-repeats=0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--taskbench-repeats / ini taskbench_repeats must be a whole number from 1 to 1000, got*0*"])


def test_a_baseline_with_repeats_compares_with_a_run_with_repeats(pytester: pytest.Pytester) -> None:
    write(pytester)
    pytester.runpytest("cases", MODEL, "--taskbench-repeats=4", "--taskbench-save-baseline")
    stored = (pytester.path / ".taskbench/baselines/default.json").read_text()
    assert '"id": "flaky1"' in stored and '"sample_pass_rate": 0.5' in stored and '"samples": 4' in stored
    same = pytester.runpytest("cases", MODEL, "--taskbench-repeats=4", "--taskbench-compare=default", "--taskbench-fail-on-significant-regression")
    same.stdout.fnmatch_lines(["aggregate 0.500 vs 0.500 baseline: +0.000*no change*"])
    assert "drew a different number of samples" not in same.stdout.str() and same.ret == 1 - 1
    mismatched = pytester.runpytest("cases", MODEL, "--taskbench-compare=default")
    mismatched.stdout.fnmatch_lines(["warning: 8 of 8 compared cases drew a different number of samples or used another policy in the baseline*"])


@pytest.mark.slow  # runs pytest in subprocesses
def test_xdist_gives_the_same_summary(pytester: pytest.Pytester) -> None:
    write(pytester)
    figures = {}
    for name, extra in {"n0": ["-n", "0"], "n2": ["-n", "2"]}.items():
        (pytester.path / "summary.json").unlink(missing_ok=True)
        result = pytester.runpytest_subprocess("cases", MODEL, "--taskbench-repeats=4", "--taskbench-no-cache", "-p", "xdist", *extra)
        result.stdout.fnmatch_lines(["overall (weighted)      8    0.500    0.625    0.375      2"])
        data = summary(pytester)
        figures[name] = (data["sampling"], data["aggregate"], data["statistics"]["aggregate_ci"])
    assert figures["n0"] == figures["n2"]


def test_html_and_markdown_show_the_samples_table_the_flaky_cases_and_every_sample(pytester: pytest.Pytester) -> None:
    write(pytester)
    model = pytester.path / "model.py"
    model.write_text(model.read_text().replace('"wrong"', '"<b>wrong</b>"'))  # output text must stay inert
    pytester.runpytest("cases", MODEL, "--taskbench-repeats=4", "--taskbench-report=report.html", "--taskbench-markdown=summary.md")
    html = (pytester.path / "report.html").read_text()
    assert (
        '<tr data-group="overall"><td>overall (weighted)</td><td class="num">8</td><td class="num">0.500</td><td class="num">0.625</td><td class="num">0.375</td>'
        in html
    )
    assert '<li data-flaky="cases/a.jsonl::flaky1"><a href="#' in html
    assert html.count('<details class="samples"><summary>2/4 samples passed (mean) · flaky</summary>') == 2
    assert '<li data-sample="2" data-score="0.000000" data-passed="false">' in html and "&lt;b&gt;wrong&lt;/b&gt;" in html and "<b>wrong</b>" not in html
    markdown = (pytester.path / "summary.md").read_text()
    assert "| **overall** (weighted) | 8 | 0.500 | 0.625 | 0.375 | 2 |" in markdown
    assert "| `cases/a.jsonl::flaky1` | a | 2/4 (50%) | fails |" in markdown


def test_shards_of_a_sampled_run_merge_to_the_same_samples_summary(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    write(pytester)
    run = (MODEL, "--taskbench-repeats=4", "--taskbench-no-cache")
    single = pytester.runpytest("cases", *run, "--taskbench-summary-json=single.json", "--taskbench-markdown=single.md")
    files = run_shards(pytester, 2, *run, "--taskbench-summary-json=merged.json", "--taskbench-markdown=merged.md")
    lines = [json.loads(line) for line in files[0].read_text().splitlines()[1:]]
    flaky = next(line for line in lines + [json.loads(x) for x in files[1].read_text().splitlines()[1:]] if line["case_id"] == "flaky1")
    assert [s["passed"] for s in flaky["samples"]] == [True, False, True, False] and flaky["policy"] == "mean"  # every sample travels
    status, printed, err = merge(capsys, *files)
    assert err == "" and status == single.ret
    one, merged = read_json(pytester.path / "single.json"), read_json(pytester.path / "merged.json")
    assert field_differences(one, merged) == []
    assert one["suites"]["sampled"]["sampling"]["overall"]["pass@4"] == 0.625
    assert [f["nodeid"] for f in merged["suites"]["sampled"]["sampling"]["flaky_cases"]] == ["cases/a.jsonl::flaky1", "cases/b.jsonl::flaky2"]
    assert [line.replace("merged", "single") for line in taskbench_section(printed)] == taskbench_section(single.outlines)
    assert "overall (weighted)      8    0.500    0.625    0.375      2" in printed
    assert (pytester.path / "merged.md").read_text() == (pytester.path / "single.md").read_text()
    other = pytester.runpytest("cases", MODEL, "--taskbench-repeats=3", "--taskbench-no-cache", "--taskbench-shard=2/2", "--taskbench-results=other.jsonl")
    assert other.ret in (0, 1)
    status, _, err = merge(capsys, files[0], pytester.path / "other.jsonl")
    assert status == 4 and "score-changing settings" in err and "repeats" in err  # shards drawn with other repeats are not one run


def test_the_history_records_how_many_samples_a_run_drew(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    write(pytester)
    pytester.runpytest("cases", MODEL, "--taskbench-history")
    pytester.runpytest("cases", MODEL, "--taskbench-repeats=4", "--taskbench-history")
    records = [json.loads(line) for line in (pytester.path / ".taskbench/history/history.jsonl").read_text().splitlines()]
    assert [r["repeats"] for r in records] == [1, 4]
    assert records[0]["sampling"] is None and records[1]["sampling"] == {"pass@1": 0.5, "pass@4": 0.625, "pass^4": 0.375, "flaky": 2}
    capsys.readouterr()
    assert main(["history", ".taskbench/history"]) == 0
    table = capsys.readouterr().out.splitlines()
    start, end = table[0].index("samples"), table[0].index("aggregate")  # columns by position: commit and branch are empty outside git
    assert table[0][start:end].split() == ["samples", "pass@1", "flaky"]
    assert [row[start:end].split() for row in table[1:]] == [["1"], ["4", "0.500", "2"]]  # a greedy run has no pass@1 or flaky figure
    with pytest.raises(ValueError, match="repeats must be a whole number >= 1, got 0"):
        HistoryRecord.from_dict({**records[1], "repeats": 0})
