"""A failing conversation in the HTML report: turn by turn, the state before and after and the diff, seen in a real browser; Markdown carries it too."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.browser import chromium_driver
from tests.helpers.conversations import CASES, CONFTEST, MODEL, SUITE, case_lines


def write(pytester: pytest.Pytester) -> None:
    root = pytester.mkdir("cases")
    (root / "taskbench.yaml").write_text(SUITE)
    (root / "talk.jsonl").write_text(
        case_lines([*CASES[:2], {**CASES[0], "id": "hostile", "turns": [{"user": "set <b>x</b> to 1", "expected": {"action": "set"}}]}])
    )
    (pytester.path / "conftest.py").write_text(CONFTEST)
    (pytester.path / "model.py").write_text(MODEL)


def test_markdown_names_the_turn_conversations_first_go_wrong_and_the_side_effects(pytester: pytest.Pytester) -> None:
    write(pytester)
    pytester.runpytest("--taskbench-model=model:deleter", "--taskbench-markdown=summary.md")
    markdown = (pytester.path / "summary.md").read_text()
    assert "**Conversations:** 3 of 3 conversations fail; first wrong at turn 1: 2, turn 2: 1; unintended changes: deleted 3" in markdown


@pytest.mark.slow
def test_a_failing_conversation_renders_turn_by_turn_with_states_and_diff(pytester: pytest.Pytester, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    write(pytester)
    pytester.runpytest("--taskbench-model=model:deleter", "--taskbench-report=report.html")
    report = pytester.path / "report.html"
    assert "<b>x</b>" not in report.read_text()  # case text is escaped
    driver = chromium_driver(tmp_path)
    try:
        driver.get(report.as_uri())
        block = driver.find_element(By.CSS_SELECTOR, "tr.case[data-nodeid$='three_turns'] details[data-conversation]")
        assert block.get_attribute("open") is not None and block.is_displayed()  # a failing conversation is unfolded
        turns = block.find_elements(By.CSS_SELECTOR, "li[data-turn]")
        assert [t.find_element(By.CSS_SELECTOR, "[data-user]").text for t in turns] == ["set b to 1", "set c to 1", "delete b"]
        assert [t.get_attribute("data-turn") for t in turns if t.get_attribute("data-first-wrong")] == ["2"]
        observations = [o.get_attribute("data-ok") for o in block.find_elements(By.CSS_SELECTOR, "[data-observation]")]
        assert observations == ["true", "false", "false"]  # keep deleted, then nothing left to delete
        before = block.find_element(By.CSS_SELECTOR, "[data-state=state_before]").text
        after = block.find_element(By.CSS_SELECTOR, "[data-state=state_after]").text
        assert '"keep"' in before and '"keep"' not in after
        effects = [e.text for e in block.find_elements(By.CSS_SELECTOR, "[data-side-effect]")]
        assert effects == ["critical deleted items record keep"]
        diff = [d.get_attribute("data-diff") for d in block.find_elements(By.CSS_SELECTOR, "[data-diff]")]
        assert diff == ["missing_record", "missing_record"]
        hostile = driver.find_element(By.CSS_SELECTOR, "tr.case[data-nodeid$='hostile'] [data-user]")
        assert hostile.text == "set <b>x</b> to 1"
    finally:
        driver.quit()
