"""A judged run in shards: the merge gives the verdicts, the calibration and the trust of one run."""

from __future__ import annotations

import re

import pytest

from tests.helpers.judging import write_labelled_suite
from tests.helpers.merging import field_differences, leaves, merge, read_json, run_shards, taskbench_section

# the judge asked once (one run) or three times (three shards): how, not what
RUN = ("--taskbench-outputs=outputs.jsonl", "--taskbench-no-cache")
HOW = ("judge_model_calls", "judge_model_loads")
REPORTS = ("--taskbench-report=REPORT.html", "--taskbench-markdown=REPORT.md", "--taskbench-summary-json=REPORT.json")


@pytest.fixture(autouse=True)
def _not_on_github_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)


def _without(value: object) -> object:
    if isinstance(value, dict):
        return {key: _without(item) for key, item in value.items() if key not in HOW}
    if isinstance(value, list):
        return [_without(item) for item in value]
    return value


def _same_run(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str], judge: str, *, minimum: bool = True) -> tuple[int, dict[str, object], list[str]]:
    write_labelled_suite(pytester.path, judge)
    if not minimum:  # no judge_min_agreement: the judge's cases gate whatever its agreement
        suite = pytester.path / "cases" / "taskbench.yaml"
        suite.write_text(suite.read_text().replace("  judge_min_agreement: 0.5\n", ""))
    single = pytester.runpytest("cases", *RUN, *[option.replace("REPORT", "single") for option in REPORTS])
    files = run_shards(pytester, 3, *RUN, *[option.replace("REPORT", "merged") for option in REPORTS])
    status, printed, err = merge(capsys, *files)
    assert err == "" and status == single.ret
    one, merged = read_json(pytester.path / "single.json"), read_json(pytester.path / "merged.json")
    assert field_differences(_without(one), _without(merged)) == [] and leaves(one) > 100
    assert [line.replace("merged", "single") for line in taskbench_section(printed) if not line.startswith("judges:")] == [
        line for line in taskbench_section(single.outlines) if not line.startswith("judges:")
    ]
    assert (pytester.path / "merged.md").read_text() == (pytester.path / "single.md").read_text()
    html = [re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "TIME", (pytester.path / f"{name}.html").read_text()) for name in ("single", "merged")]
    assert html[0] == html[1]
    return status, one, printed


def test_a_trusted_judge_in_three_shards_gates_the_merge_as_it_gates_one_run(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    status, summary, printed = _same_run(pytester, capsys, "judges:oracle")
    assert status == 1 and any(line.startswith("  FAIL min_category[replies]: replies mean 0.500 < 0.900") for line in printed)
    [agreement] = summary["suites"]["labelled"]["calibration"]  # type: ignore[index]
    assert agreement["trusted"] is True and agreement["kappa"] == 1.0 and agreement["labelled"] == 10
    html = (pytester.path / "merged.html").read_text()  # the verdicts and the reasoning travelled in the results files
    assert (
        html.count("judge default: fail (human: fail)") == 5
        and "the response {&quot;action&quot;: &quot;list&quot;, &quot;title&quot;: &quot;Pay rent&quot;} differs" in html
    )


def test_an_untrusted_judge_in_three_shards_cannot_fail_the_merge(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    status, summary, printed = _same_run(pytester, capsys, "judges:contrarian")
    assert (
        status == 0 and "note: judge default is not trusted (lower bound of kappa's 95% interval -1.000 < 0.5 required): replies reported, not gated" in printed
    )
    assert summary["suites"]["labelled"]["ungated_categories"] == ["replies"]  # type: ignore[index]


def test_judge_errors_survive_the_results_files(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    status, summary, printed = _same_run(pytester, capsys, "judges:mumbler", minimum=False)
    assert status == 1 and summary["suites"]["labelled"]["judge_errors"] == 10  # type: ignore[index]
    assert "  FAIL max_judge_errors: cases the judge gave no readable verdict on 10 > 0" in printed


def test_shards_judged_by_different_judges_do_not_merge(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    write_labelled_suite(pytester.path, "judges:oracle")
    pytester.runpytest("cases", *RUN, "--taskbench-shard=1/2", "--taskbench-results=one.jsonl")
    pytester.runpytest("cases", *RUN, "--taskbench-shard=2/2", "--taskbench-results=two.jsonl", "--taskbench-judge-model=judges:contrarian")
    status, _, err = merge(capsys, "one.jsonl", "two.jsonl")
    assert status != 0 and "judge_model" in err and "judges:contrarian" in err, err
