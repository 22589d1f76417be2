"""--taskbench-history and taskbench history: one record per suite per run, the trend table, the trend in the reports."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pytest_taskbench.history import Figure, HistoryRecord, append_records, read_history, select
from pytest_taskbench.reports.trend import trend_html, trend_markdown
from tests.helpers.merging import merge, run_shards
from tests.helpers.suites import jsonl

MODEL = "--taskbench-model=model:respond"
GOOD = "def respond(prompts):\n    return list(prompts)\n"
WORSE = "def respond(prompts):\n    return [p if int(p[1:]) % 2 else 'no' for p in prompts]\n"  # every even case fails


@pytest.fixture(autouse=True)
def _not_on_github_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    """These runs must not write to the step summary of a CI job that runs the tests."""
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)


def _record(time: str, aggregate: float, suite: str = "cases/taskbench.yaml", model: str = "m1", comparison: dict[str, object] | None = None) -> HistoryRecord:
    return HistoryRecord(
        time=time,
        suite=suite,
        suite_name="demo",
        suite_hash="h",
        model=model,
        model_spec=model,
        cases=10,
        passed=int(aggregate * 10),
        pass_rate=aggregate,
        verdict="pass",
        aggregate=Figure(aggregate, aggregate - 0.05, aggregate + 0.05, 10),
        categories={"greet": Figure(aggregate, None, None, 10)},
        comparison=comparison,
    )


def test_records_are_appended_and_a_corrupt_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    append_records(tmp_path, [_record("2026-01-02T00:00:00Z", 0.5)])
    with (tmp_path / "history.jsonl").open("a") as out:
        out.write('{"format": "pytest-taskbench-history", "version": 1, "time": "2026-01-0\n')  # a run killed mid-write
        out.write('{"format": "pytest-taskbench-history", "version": 1, "time": "x"}\n')  # a record lacking its fields
        out.write('{"format": "pytest-taskbench-history", "version": 9}\n')  # a newer writer
    append_records(tmp_path, [_record("2026-01-01T00:00:00Z", 0.6), _record("2026-01-03T00:00:00Z", 0.7, model="m2")])
    history = read_history(tmp_path, "h.jsonl")
    assert [r.aggregate.mean for r in history.records if r.aggregate] == [0.6, 0.5, 0.7]  # oldest first
    assert [w.split(": skipped")[0] for w in history.warnings] == ["h.jsonl:2", "h.jsonl:3", "h.jsonl:4"]
    assert "not JSON" in history.warnings[0] and "newer than this pytest-taskbench reads" in history.warnings[2]
    assert [r.model for r in select(history.records, model="m2")] == ["m2"]
    assert [r.time[:10] for r in select(history.records, last=2)] == ["2026-01-02", "2026-01-03"]
    assert select(history.records, suite="other.yaml") == []


def test_the_trend_marks_only_what_the_paired_test_found_significant() -> None:
    records = [
        _record("2026-01-01T00:00:00Z", 0.8),
        _record("2026-01-02T00:00:00Z", 0.6, comparison={"aggregate": "significant regression", "categories": {"greet": "not significant"}}),
        _record("2026-01-03T00:00:00Z", 0.61, comparison={"aggregate": "not significant", "categories": {}}),
    ]
    html = trend_html(records)
    assert html.count('class="run" data-series="aggregate"') == 3 and html.count('class="run" data-series="greet"') == 3
    assert html.count('class="mark"') == 1 and 'data-series="aggregate" data-run="1" data-mark="significant regression"' in html
    line = trend_markdown(records)
    assert line.startswith("**Trend** (last 3 runs): █▁▁ 0.800 → 0.610 (+0.010 since the previous run; 1 significant change against a baseline)")
    assert trend_html(records[:1]) == "" and trend_markdown(records[:1]) == ""


@pytest.fixture
def forty_cases(write_suite) -> Path:  # type: ignore[no-untyped-def]
    rows = [{"id": f"c{i}", "input": f"c{i}", "expected": f"c{i}", "difficulty": "simple"} for i in range(40)]
    return write_suite(suite="name: demo\ncategories:\n  greet: {weight: 1, scorer: exact_match}\n", files={"greet.jsonl": jsonl(rows)}, model=GOOD)  # type: ignore[no-any-return]


def three_recorded_runs(pytester: pytest.Pytester) -> None:
    """Run 1 saves a baseline; run 2, a worse model compared with it (a significant regression); run 3, the good model again, with the reports."""
    history = "--taskbench-history"
    assert pytester.runpytest("cases", MODEL, history, "--taskbench-save-baseline=base.json").ret == 0
    (pytester.path / "model.py").write_text(WORSE)
    pytester.runpytest("cases", MODEL, "--taskbench-compare=base.json", f"{history}=.taskbench/history")
    (pytester.path / "model.py").write_text(GOOD)
    result = pytester.runpytest("cases", MODEL, "--taskbench-report=report.html", "--taskbench-markdown=summary.md", "--taskbench-history=.taskbench/history")
    result.stdout.fnmatch_lines(["taskbench: history: 1 record appended to .taskbench/history/history.jsonl"])


def test_three_runs_make_three_records_shown_in_order(pytester: pytest.Pytester, forty_cases: Path, capsys: pytest.CaptureFixture[str]) -> None:
    subprocess.run(["git", "init", "-q", "-b", "trunk"], cwd=pytester.path, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x"], cwd=pytester.path, check=True)
    three_recorded_runs(pytester)
    lines = (pytester.path / ".taskbench" / "history" / "history.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["aggregate"]["mean"] for r in records] == [1.0, 0.5, 1.0]
    assert [r["comparison"] and r["comparison"]["aggregate"] for r in records] == [None, "significant regression", None]
    assert {r["branch"] for r in records} == {"trunk"} and all(len(r["commit"]) == 40 for r in records)
    assert records[1]["categories"]["greet"]["cases"] == 40 and records[1]["aggregate"]["low"] < 0.5 < records[1]["aggregate"]["high"]
    from pytest_taskbench.cli.main import main

    capsys.readouterr()
    assert main(["history", ".taskbench/history"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == [
        "time",
        "commit",
        "branch",
        "suite",
        "model",
        "cases",
        "aggregate",
        "interval",
        "change",
        "pass",
        "rate",
        "verdict",
        "vs",
        "baseline",
    ]
    assert [row.split()[6] for row in table[1:]] == ["1.000", "0.500", "1.000"]
    assert "-0.500" in table[2] and "significant regression" in table[2] and "+0.500" in table[3]
    assert main(["history", ".taskbench/history", "--last", "1"]) == 0 and len(capsys.readouterr().out.splitlines()) == 2
    markdown = (pytester.path / "summary.md").read_text()
    assert "**Trend** (last 3 runs): █▁█ 1.000 → 1.000 (+0.500 since the previous run; 1 significant change against a baseline)" in markdown
    html = (pytester.path / "report.html").read_text()
    assert html.count('<circle class="run" data-series="aggregate"') == 3 and html.count('class="mark" data-series="aggregate" data-run="1"') == 1


def test_history_is_off_unless_asked_and_a_merge_records_its_shards(pytester: pytest.Pytester, forty_cases: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytester.runpytest("cases", MODEL)
    assert not (pytester.path / ".taskbench").exists()
    files = run_shards(pytester, 2, MODEL, "--taskbench-history")
    assert not (pytester.path / ".taskbench").exists()  # a shard records nothing: the merge does
    assert merge(capsys, *files)[0] == 0
    record = json.loads((pytester.path / ".taskbench" / "history" / "history.jsonl").read_text())
    assert record["shards"] == 2 and record["cases"] == 40 and record["model"].startswith("callable:model:respond:")


@pytest.mark.slow
def test_the_trend_chart_renders_in_headless_chromium(pytester: pytest.Pytester, forty_cases: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    from tests.helpers.browser import chromium_driver

    three_recorded_runs(pytester)
    driver = chromium_driver(tmp_path)
    try:
        driver.get((pytester.path / "report.html").as_uri())
        charts = driver.find_elements(By.CSS_SELECTOR, "svg.trend-series")
        assert [c.get_attribute("data-series") for c in charts] == ["aggregate", "greet"]
        assert all(c.is_displayed() and c.size["height"] > 80 for c in charts)
        points = driver.execute_script(
            "return Array.from(document.querySelectorAll('svg.trend-series[data-series=aggregate] circle.run')).map(c => [c.getBoundingClientRect().x, c.getBoundingClientRect().y]);"
        )
        assert len(points) == 3 and points[0][0] < points[1][0] < points[2][0]
        assert points[1][1] > points[0][1] + 20 and abs(points[2][1] - points[0][1]) < 1  # 0.5 drawn lower than 1.0, twice 1.0 at one height
        mark = driver.find_element(By.CSS_SELECTOR, "svg.trend-series[data-series=aggregate] text.mark")
        assert mark.is_displayed() and mark.text == "▼" and mark.get_attribute("data-run") == "1"
        intervals = driver.execute_script(
            "return Array.from(document.querySelectorAll('svg.trend-series[data-series=aggregate] line.interval')).map(l => l.getBoundingClientRect().height);"
        )
        assert len(intervals) == 3 and intervals[1] > 5  # the worse run's interval is wide; the perfect runs' are points
        shot = tmp_path / "trend.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 20_000
    finally:
        driver.quit()
