"""--taskbench-report: the self-contained HTML file, checked as text and rendered in headless Chromium."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest

from pytest_taskbench.reports.html import comparison_section, render_html
from tests.helpers.browser import chromium_driver
from tests.helpers.known_run import FAILING, PASSING, known_report, known_results, write_known_run

MODEL = "--taskbench-model=model:respond"


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: list[str] = field(default_factory=list)


class Elements(HTMLParser):
    """Every element with its attributes and the text directly inside it."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.all: list[Element] = []
        self._open: list[Element] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.all.append(element)
        if tag not in ("meta", "input", "line", "rect", "br", "option"):
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop().tag != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1].text.append(data)

    def select(self, tag: str, cls: str = "", **data: str) -> list[Element]:
        return [
            e
            for e in self.all
            if e.tag == tag
            and (not cls or cls in e.attrs.get("class", "").split())
            and all(e.attrs.get(f"data-{k.replace('_', '-')}") == v for k, v in data.items())
        ]


@pytest.fixture
def report_html(pytester: pytest.Pytester) -> Path:
    write_known_run(pytester)
    result = pytester.runpytest("cases", MODEL, "--taskbench-report=out/report.html")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["taskbench: HTML report written to *out/report.html"])
    return pytester.path / "out" / "report.html"


def test_charts_tables_and_cases_of_the_known_run(report_html: Path) -> None:
    page = Elements(report_html.read_text())
    bars = {
        e.attrs["data-category"]: (float(e.attrs["data-mean"]), float(e.attrs["data-weight"]), float(e.attrs["width"])) for e in page.select("rect", "category")
    }
    assert {name: (round(mean, 3), weight) for name, (mean, weight, _) in bars.items()} == {
        "actions": (0.6, 0.5),
        "entities": (0.778, 0.3),
        "format": (1.0, 0.2),
    }
    assert bars["actions"][2] < bars["entities"][2] < bars["format"][2]
    assert len(page.select("g", "whisker")) == 4  # the aggregate and three categories
    rates = {e.attrs["data-difficulty"]: round(float(e.attrs["data-failure-rate"]), 3) for e in page.select("rect", "difficulty")}
    assert rates == {"simple": 0.0, "moderate": 0.667, "complex": 1.0}
    assert float(page.select("rect", "aggregate")[0].attrs["data-value"]) == pytest.approx(0.7333, abs=1e-3)
    cells = {(e.attrs["data-expected"], e.attrs["data-got"]): int(e.attrs["data-count"]) for e in page.all if "data-got" in e.attrs}
    assert cells == {("complete", "complete"): 1, ("create", "create"): 4, ("create", "list"): 2, ("delete", "(invalid JSON)"): 1, ("list", "list"): 2}
    cross = {(e.attrs["data-category"], e.attrs["data-difficulty"]): "".join(e.text).strip() for e in page.select("td") if "data-difficulty" in e.attrs}
    assert cross[("actions", "complex")] == "0.25" and ("format", "complex") not in cross
    fields = {(e.attrs["data-field"], e.attrs["data-status"]): int(e.attrs["data-count"]) for e in page.select("rect", "field")}
    assert fields == {("action", "wrong"): 2, ("due_date", "missing"): 1, ("due_date", "wrong"): 1}
    rows = page.select("tr", "case")
    assert [r.attrs["data-nodeid"].split("::")[1] for r in rows][:5] == ["a5", "a3", "a4", "e2", "e3"]  # failing first, lowest score first
    assert sorted(r.attrs["data-nodeid"].split("::")[1] for r in rows if r.attrs["data-outcome"] == "fail") == FAILING
    assert sorted(r.attrs["data-nodeid"].split("::")[1] for r in rows if r.attrs["data-outcome"] == "pass") == PASSING


def test_the_file_is_self_contained_and_escapes_case_text(report_html: Path) -> None:
    html = report_html.read_text()
    assert "write &lt;report&gt; &amp; send" in html and "<report>" not in html
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls == {"http://www.w3.org/2000/svg"}  # an XML namespace name, never fetched
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", html)


def test_regressions_and_fixes_are_shown_side_by_side_with_both_outputs() -> None:
    results = known_results()
    interval = SimpleNamespace(low=-0.2, high=0.05, level=0.95)
    group = SimpleNamespace(
        name="actions", cases=5, baseline_mean=0.7, mean=0.6, change=-0.1, verdict="not significant", interval=interval, p_value=0.3, regressed=1, fixed=1
    )
    regression = SimpleNamespace(key="cases/actions.jsonl::a3", baseline_score=1.0, score=0.5, baseline_output='{"action": "create", "title": "call bob"}')
    fix = SimpleNamespace(key="cases/actions.jsonl::a1", baseline_score=0.0, score=1.0, baseline_output="<oops>")
    comparison = SimpleNamespace(
        baseline_model="m-old", baseline_created="2026-01-01", aggregate=group, categories=(group,), regressions=(regression,), fixes=(fix,)
    )
    page = Elements(comparison_section(comparison, results))
    cards = page.select("div", "change")
    assert [c.attrs["data-key"] for c in cards] == ["cases/actions.jsonl::a3", "cases/actions.jsonl::a1"]
    outputs = ["".join(e.text) for e in page.select("div", "txt")]
    assert outputs == [
        '{"action": "create", "title": "call bob"}',
        '{"action": "list", "title": "call bob"}',
        "<oops>",
        '{"action": "create", "title": "buy milk"}',
    ]


@pytest.mark.slow
def test_report_renders_in_headless_chromium(report_html: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = chromium_driver(tmp_path)
    try:
        driver.get(report_html.as_uri())
        screenshot = tmp_path / "report.png"
        assert driver.save_screenshot(str(screenshot))
        assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000
        drawn = driver.execute_script(
            "return Array.from(document.querySelectorAll('rect.bar.category')).map(r => [r.dataset.category, r.getBoundingClientRect().width]);"
        )
        assert [name for name, _ in drawn] == ["actions", "entities", "format"]
        widths = [width for _, width in drawn]
        assert 0 < widths[0] < widths[1] < widths[2]
        assert driver.execute_script("return document.querySelectorAll('rect.bar.difficulty').length;") == 3
        assert driver.execute_script("return document.querySelector('svg.categories').getBoundingClientRect().height;") > 100

        def visible() -> list[str]:
            return [row.get_attribute("data-nodeid").split("::")[1] for row in driver.find_elements(By.CSS_SELECTOR, "tr.case") if row.is_displayed()]

        count = driver.find_element(By.CSS_SELECTOR, "[data-shown]")
        assert len(visible()) == 10 and count.text == "10 of 10 cases"
        search = driver.find_element(By.CSS_SELECTOR, "input[type=search]")
        search.send_keys("dentist")
        assert visible() == ["e2"] and count.text == "1 of 10 cases"
        search.clear()
        search.send_keys(" ")  # clear() fires no input event; typing does
        Select(driver.find_element(By.CSS_SELECTOR, "select[data-filter=category]")).select_by_value("actions")
        Select(driver.find_element(By.CSS_SELECTOR, "select[data-filter=outcome]")).select_by_value("fail")
        assert sorted(visible()) == ["a3", "a4", "a5"] and count.text == "3 of 10 cases"
        search.send_keys("list")
        assert sorted(visible()) == ["a3", "a4"]
    finally:
        driver.quit()


def test_render_html_of_several_suites_links_each() -> None:
    report = known_report()
    html = render_html([report, report], title="two suites")
    page = Elements(html)
    assert len(page.select("section", "suite")) == 2
    assert [e.attrs["href"] for e in page.select("a") if re.fullmatch(r"#suite-\d-tasks", e.attrs.get("href", ""))] == ["#suite-0-tasks", "#suite-1-tasks"]
    assert [e.attrs["id"] for e in page.select("section", "suite")] == ["suite-0-tasks", "suite-1-tasks"]


def test_a_compared_run_shows_regressions_and_fixes(pytester: pytest.Pytester) -> None:
    write_known_run(pytester)
    pytester.runpytest("cases", MODEL, "--taskbench-save-baseline=baseline.json")
    model = (pytester.path / "model.py").read_text()
    fixed_a3 = model.replace('{"action": "list", "title": "call bob"}', '{"action": "create", "title": "call bob"}')
    (pytester.path / "model2.py").write_text(fixed_a3.replace(': \'{"action": "list"}\'', ": 'nope'", 1))  # a2 regresses
    result = pytester.runpytest("cases", "--taskbench-model=model2:respond", "--taskbench-compare=baseline.json", "--taskbench-report=compared.html")
    result.stdout.fnmatch_lines(["taskbench: HTML report written to *compared.html"])
    page = Elements((pytester.path / "compared.html").read_text())
    cards = {e.attrs["data-key"]: e.attrs["class"] for e in page.select("div", "change")}
    assert cards == {"cases/actions.jsonl::a2": "card change regression", "cases/actions.jsonl::a3": "card change fix"}
    outputs = ["".join(e.text) for e in page.select("div", "txt")]
    assert "nope" in outputs and '{"action": "create", "title": "call bob"}' in outputs
    # both sides of each card: the baseline's outputs for a2 and a3 are shown beside today's
    assert '{"action": "list"}' in outputs and '{"action": "list", "title": "call bob"}' in outputs
