"""Model outputs and case text are untrusted: what the plugin prints and writes must not act on them.

A model output holding ``\\n::error file=README.md,line=1::injected`` or ``::add-mask::x``
would be a command to the GitHub Actions runner if printed on a line of its own; ANSI
escapes, NULs and right-to-left overrides would act on the terminal or the reader; Markdown
in a reason would show images, links and mentions in a pull request; a lone surrogate
would crash a renderer. See ``safe_text`` and README "Untrusted text".
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options
from hypothesis import example, given
from hypothesis import strategies as st

from pytest_taskbench.guards.display import safe_text
from pytest_taskbench.reports.github import annotations
from pytest_taskbench.reports.html import render_html
from pytest_taskbench.reports.markdown import markdown_summary
from pytest_taskbench.reports.terminal import comparison_lines, terminal_lines
from pytest_taskbench.verdict.analysis import AnalysisConfig, analyze
from pytest_taskbench.verdict.compare import Comparison, GroupChange
from pytest_taskbench.verdict.finish import SuiteReport
from pytest_taskbench.verdict.gates import GateResult, Verdict
from tests.helpers.known_run import known_results, summary_of
from tests.helpers.suites import jsonl

MODEL = "--taskbench-model=model:respond"
INJECTED = "\n::error file=README.md,line=1::injected"
HOSTILE = f"ok{INJECTED}\n  ::add-mask::secret\r\x1b[2J\x00\u202eevil\x85::warning::nel\u2028::notice::ls ##[add-mask]legacy"
RAW = ("\x1b", "\x00", "\u202e", "\x85", "\u2028")

SUITE = """\
name: hostile
categories:
  plain: {weight: 0.5, scorer: exact_match}
  json: {weight: 0.5, scorer: field_match}
analysis: {confusion_field: action}
"""

# The model echoes the hostile text for plain cases, and for json cases answers an object whose
# action (a confusion label) and an invented field's name are hostile; alone, it answers otherwise
# (a batching disagreement, which the generation notes quote).
HOSTILE_MODEL = f"""\
import json

HOSTILE = {HOSTILE!r}


def respond(prompts):
    if len(prompts) == 1:
        return ["alone " + HOSTILE]
    return [json.dumps({{"action": HOSTILE, HOSTILE: 1}}) if p.startswith("json") else HOSTILE for p in prompts]
"""


@pytest.fixture
def hostile_suite(write_suite: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    bad_scorer = {"name": "exact_match", INJECTED: 1}  # its TypeError quotes the key: a broken case's message
    return write_suite(
        SUITE,
        files={
            "plain.jsonl": jsonl(
                [
                    {"id": "p1", "input": "say hi", "expected": "hi"},
                    {"id": "p2", "input": f"repeat {HOSTILE}", "expected": f"no{HOSTILE}", "rationale": f"why {HOSTILE}"},
                    {"id": "p3", "input": "x", "expected": "y", "scorer": bad_scorer},
                ],
                defaults={"category": "plain", "difficulty": "simple"},
            ),
            "json.jsonl": jsonl(
                [{"id": f"j{i}", "input": f"json {i}", "expected": {"action": "create"}} for i in range(3)],
                defaults={"category": "json", "difficulty": "moderate"},
            ),
        },
        model=HOSTILE_MODEL,
    )


def run_hostile(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    result = pytester.runpytest("cases", MODEL, "-p", "no:cacheprovider", "--taskbench-check-batching=2", *args)
    assert result.ret == 1
    return result


def command_like(line: str) -> bool:
    """What the runner could take for a command: ``::`` after leading whitespace, or ``##[`` anywhere."""
    return line.lstrip().startswith("::") or "##[" in line


@pytest.mark.parametrize("args", [(), ("-rA", "-v")], ids=["default", "rA-v"])
def test_untrusted_text_stays_on_its_line_outside_github(pytester: pytest.Pytester, hostile_suite: Path, args: tuple[str, ...]) -> None:
    result = run_hostile(pytester, *args)
    out = result.stdout.str()
    assert not [char for char in RAW if char in out]
    assert not [line for line in result.stdout.lines if line.lstrip().startswith("::")]
    assert "\\n::error file=README.md,line=1::injected" in out  # shown, escaped, inside a line
    result.stdout.fnmatch_lines(["output:   ok\\n::error file=README.md,line=1::injected\\n  ::add-mask::secret\\r\\x1b[2J\\x00\\u202eevil\\x85*"])
    result.stdout.fnmatch_lines(["input:    repeat ok\\n::error*", "expected: nook\\n::error*", "output:   ok\\n::error*", "rationale: why ok\\n::error*"])
    result.stdout.fnmatch_lines(["*action confusions*create -> ok\\n::error file=README.md*"])  # an output value as a confusion label
    result.stdout.fnmatch_lines(["broken case definition: *unexpected keyword argument '\\n::error file=README.md*"])


@pytest.mark.parametrize("args", [(), ("-rA", "-v")], ids=["default", "rA-v"])
def test_github_runs_no_command_from_the_session_output(
    pytester: pytest.Pytester, hostile_suite: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(pytester.path))
    result = run_hostile(pytester, *args)
    lines = result.stdout.lines
    assert not [char for char in RAW if char in result.stdout.str()]
    stop = next(i for i, line in enumerate(lines) if command_like(line))
    token = lines[stop].removeprefix("::stop-commands::")
    assert re.fullmatch("taskbench-[0-9a-f]{32}", token), lines[stop]
    resume = lines.index(f"::{token}::")
    assert stop < min(i for i, line in enumerate(lines) if "cases/" in line or "p1" in line)  # before any case output
    assert resume > lines.index(next(line for line in lines if "short test summary info" in line))
    assert resume > max(i for i, line in enumerate(lines) if line.startswith("FAILED "))
    assert not [line for line in lines[stop + 1 : resume] if line.lstrip().startswith("::")]  # stopped anyway
    after = [line for line in lines[resume + 1 :] if command_like(line)]
    assert after and all(re.match(r"::(error|warning|notice) [^:]*title=taskbench", line) for line in after), after
    assert not [line for line in after if line.startswith("::error file=README.md")]
    assert not [line for line in lines[:stop] if command_like(line)]


def test_github_commands_resume_even_when_the_session_breaks(pytester: pytest.Pytester, hostile_suite: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    pytester.makeconftest("def pytest_collection_finish(session):\n    raise RuntimeError('boom')\n")
    result = pytester.runpytest("cases", MODEL, "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    commands = [line for line in result.stdout.lines if line.startswith("::")]
    assert len(commands) == 2 and commands[1] == f"::{commands[0].removeprefix('::stop-commands::')}::"  # no summary ran; unconfigure resumed


# Markdown ------------------------------------------------------------------------------------

MARKDOWN_HOSTILE = (
    "![x](https://example.com/p.png) [docs](https://example.com/) @octocat www.example.com https://example.org "
    "<img src=x onerror=alert(1)> *em* _u_ ~~del~~ #1 GH-2 :tada: $x$ [^1] | `tick` ``two`` \\| end"
)


def hostile_report(text: str) -> SuiteReport:
    """The known run with ``text`` as a failing case's reason and output, an action label and a field name."""
    results = known_results()
    results[2] = replace(
        results[2], reason=text, output=json.dumps({"action": text}), details={"observed": {"action": text}, "fields": {text: {"status": "invented"}}}
    )
    summary = summary_of(results)
    gate = GateResult("baseline", False, 0, 0, f"refusing to compare: {text}")
    return SuiteReport(summary, Verdict((gate,)), tuple(results), {}, analyze(results, summary, AnalysisConfig(confusion_field="action")))


def github_html(markdown: str) -> str:
    """GitHub's Markdown (cmark-gfm with its extensions, autolink and table among them), raw HTML let through."""
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE | Options.CMARK_OPT_FOOTNOTES)


def outside_code(rendered: str) -> str:
    return re.sub(r"<code>.*?</code>", "", rendered, flags=re.DOTALL)


class Cells(HTMLParser):
    """The text of every table row's cells, and the tags inside them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.tags: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif self._cell is not None:
            self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def failing_table(rendered: str) -> Cells:
    table = rendered[rendered.index("<details>") :]
    parser = Cells()
    parser.feed(table)
    return parser


def test_markdown_shows_hostile_text_inert_on_github_and_ordinary_text_as_prose() -> None:
    report = hostile_report(MARKDOWN_HOSTILE)
    ordinary = "expected list, got update; invalid JSON: Expecting ',' delimiter (due_date 100%)"
    times = 'due_time invented: "16:00"; filter wrong: expected {"a": 1}'
    reasons = {"a4": ordinary, "a5": times, "e2": "at 10:30:00 :100:"}  # an emoji's :name: is no prose
    report = replace(report, cases=tuple(replace(r, reason=reasons.get(r.case_id, r.reason)) for r in report.cases))
    text = markdown_summary([report])
    rendered = github_html(text)
    assert "<img" not in rendered
    assert "<a " not in rendered and "href" not in rendered  # the summary has no link of its own
    assert "<del>" not in rendered and "<em>" not in rendered and "<sup" not in rendered
    assert rendered.count("@octocat") >= 4 and "@octocat" not in outside_code(rendered)
    assert "www.example.com" not in outside_code(rendered) and "#1" not in outside_code(rendered)
    cells = failing_table(rendered)
    assert {len(row) for row in cells.rows} == {5}
    assert set(cells.tags) == {"code"}
    assert f"| 0.50 | {ordinary} |" in text and f"| 0.00 | {times} |" in text  # ordinary text stays prose, as before
    assert "| 0.67 | `at 10:30:00 :100:` |" in text


OWN_TAGS = {"h3", "p", "strong", "table", "thead", "tbody", "tr", "th", "td", "ul", "li", "details", "summary", "code"}
MARKDOWN_CHARS = st.sampled_from(
    list("abz09 _*`~|\\[]()<>!@#:/.&;$^{}-=+\"'\n\t") + ["www.", "https://", "GH-1", "\x1b", "\u202e", "é", "→", "😀", "&amp;", "<b>"]
)


@given(st.lists(MARKDOWN_CHARS, max_size=30).map("".join))
@example("a\\|b")
@example("`")
@example(" `` x")
@example("a_b_ _c_")
@example('due 16:00 {"a": 1}; 10:30:00 :100: a:b')
def test_any_reason_renders_as_its_own_text_in_one_cell(reason: str) -> None:
    rendered = github_html(markdown_summary([hostile_report(reason)]))
    cells = failing_table(rendered)
    assert {len(row) for row in cells.rows} == {5}
    assert set(cells.tags) <= {"code"}
    shown = " ".join(safe_text(reason).split())
    row = next(row for row in cells.rows if row[0] == "cases/actions.jsonl::a3")
    assert row[4].replace("\n", " ") == (shown if len(shown) <= 160 else shown[:159] + "…")
    prose = html.unescape(outside_code(rendered))
    assert "@" not in prose and "#" not in re.sub("&#[0-9]+;", "", outside_code(rendered)) and "www." not in prose.lower()
    assert set(re.findall(r"</?([a-z][a-z0-9]*)", rendered)) <= OWN_TAGS  # no <a>, <img>, <em>, <del>, <sup>, <input>, <script>...


# the escape function --------------------------------------------------------------------------

ESCAPED = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
SEQUENCE = re.compile(r"\\(\\|n|r|t|x[0-9a-f]{2}|u[0-9a-f]{4})")


def unescape(shown: str) -> str:
    """The inverse of ``safe_text`` for a text that held no backslash: the escapes Python writes."""
    named = {"n": "\n", "r": "\r", "t": "\t"}
    return SEQUENCE.sub(lambda m: named.get(m.group(1)) or chr(int(m.group(1)[1:], 16)), shown)


@given(st.text(alphabet=st.characters(codec=None, categories=None)))
@example("\\n\n\\\n\\\\x1b\x1b\\u202e\u202e\\")
@example("\ud800\udc00")
def test_safe_text_is_one_safe_line_that_keeps_the_text(text: str) -> None:
    shown = safe_text(text)
    assert not ESCAPED.search(shown)
    assert len(shown.splitlines()) <= 1
    shown.encode("utf-8")
    if "\\" not in text:  # a text that spells an escape out is shown as it is, so only these read back
        assert unescape(shown) == text
    multiline = safe_text(text, multiline=True)
    assert not ESCAPED.search(multiline.replace("\n", "").replace("\r", "").replace("\t", ""))
    multiline.encode("utf-8")


def test_ordinary_text_is_unchanged() -> None:
    for text in ("expected 'HI', got 'hi'", 'say "hi" — ok 😀', "C:\\dir\\file", "a b\\"):
        assert safe_text(text) == text
    assert safe_text("a\nb\t\x1b") == "a\\nb\\t\\x1b"
    assert safe_text("\\n") == "\\n"  # spelled out, not doubled


# every renderer, any str ---------------------------------------------------------------------

NASTY = "\ud800 lone \udfff, \x00 nul \x1b[2J esc \u202e rlo \x85 nel \u2028 ls \x7f\n::error::x"


def nasty_report() -> SuiteReport:
    results = known_results()
    results = [replace(r, output=NASTY + (r.output or ""), reason=NASTY + r.reason, input=NASTY, case_id=r.case_id) for r in results]
    results[2] = replace(results[2], details={"observed": {"action": NASTY}, "fields": {NASTY: {"status": "invented"}}})
    summary = summary_of(results)
    return SuiteReport(summary, Verdict((GateResult("baseline", False, 0, 0, NASTY),)), tuple(results), {}, analyze(results, summary))


def test_every_renderer_takes_surrogates_and_controls(tmp_path: Path) -> None:
    report = nasty_report()
    page = render_html([report], title=NASTY, model=NASTY)
    summary = markdown_summary([report])
    terminal = "\n".join(terminal_lines(report, verbose=1))
    commands = "\n".join(annotations([report], tmp_path))
    for text in (page, summary, terminal, commands):
        text.encode("utf-8")  # no lone surrogate left
        assert not [char for char in ("\x00", "\x1b", "\u202e", "\x85", "\u2028") if char in text]
    assert "\\ud800 lone \\udfff" in page and "\\ud800 lone \\udfff" in terminal and "\\ud800 lone \\udfff" in summary
    assert not [line for line in terminal.splitlines() if line.lstrip().startswith("::")]


def test_files_written_from_a_hostile_run_are_valid_utf8(pytester: pytest.Pytester, hostile_suite: Path) -> None:
    (pytester.path / "model.py").write_text(HOSTILE_MODEL.replace("HOSTILE = ", "HOSTILE = '\\ud800' + "))
    result = pytester.runpytest("cases", MODEL, "-p", "no:cacheprovider", "--taskbench-report=r.html", "--taskbench-markdown=s.md")
    assert result.ret == 1, result.stdout.str()
    for name in ("r.html", "s.md"):
        text = (pytester.path / name).read_bytes().decode("utf-8")
        assert "\\ud800" in text and "\x1b" not in text
    assert "\\ud800ok\\n::error file=README.md" in result.stdout.str()


def test_comparison_lines_escape_the_baseline_file() -> None:
    change = GroupChange("aggregate", 3, 0.5, 0.6, None, 0.5, 1.0, 0, 0, False)
    comparison = Comparison(
        baseline_path="base.json",
        baseline_model=f"evil{INJECTED}",
        baseline_created="2026\x1b[2J",
        model="m",
        alpha=0.05,
        suite_changed=False,
        aggregate=change,
        categories=(),
        regressions=(),
        fixes=(),
        score_changes=(),
        outputs_changed=(),
        new_cases=(),
        missing_cases=(),
        input_changed=(),
    )
    lines = comparison_lines(comparison)
    assert lines[0] == "baseline: base.json (model evil\\n::error file=README.md,line=1::injected, saved 2026\\x1b[2J)"
    assert len("\n".join(lines).splitlines()) == len(lines)
