"""A short Markdown summary for a pull request comment (and the GitHub job summary).

It renders each ``SuiteReport``: figures, gates, the comparison with a baseline
when there is one, the failure analysis, the failing cases folded in
``<details>``. Text from cases and the model is rendered inert (``untrusted``).

Domain code: no pytest import.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_taskbench.formatting import percent
from pytest_taskbench.guards.display import safe_text
from pytest_taskbench.history import HistoryRecord
from pytest_taskbench.reports.judging import agreement_line, bias_line, confusion_rows
from pytest_taskbench.reports.trend import trend_markdown
from pytest_taskbench.results import CaseResult
from pytest_taskbench.verdict.analysis import FailureAnalysis
from pytest_taskbench.verdict.calibration import Agreement
from pytest_taskbench.verdict.compare import Comparison
from pytest_taskbench.verdict.finish import SuiteReport
from pytest_taskbench.verdict.sampling import SamplingSummary
from pytest_taskbench.verdict.stats import Interval

MAX_FAILING_ROWS = 50
REASON_LIMIT = 160


def _interval(interval: Interval | None) -> str:
    return "" if interval is None else f"{interval.low:.3f}–{interval.high:.3f}"


def _level(interval: Interval | None) -> str:
    return "CI" if interval is None else f"{interval.level:.0%} CI"


def _one_line(value: Any, limit: int, safe_first: bool) -> str:
    raw = str(value)
    text = " ".join(safe_text(raw).split()) if safe_first else safe_text(" ".join(raw.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def cell(value: Any, limit: int = REASON_LIMIT) -> str:
    """Trusted text (suite, category and difficulty names, our own prose) for a table cell: one line, no pipes, no raw HTML."""
    return _html(_one_line(value, limit, safe_first=False))


# Text that neither cmark-gfm nor GitHub's filters after it can turn into markup, a link, an
# image, a mention, an issue reference or an emoji: letters, digits, spaces, non-ASCII symbols and
# punctuation, and these ASCII characters; ``&<>|`` are escaped. An underscore counts only between
# two letters or digits (there it can neither open nor close emphasis); a colon only before a space,
# at the end or between two digits (``16:00``; so no ``https://``, ``mailto:`` or ``:emoji:``, and
# no ``:100:`` either); ``www.`` (which the autolink extension links) and ``GH-1`` (an issue
# reference) not at all. Everything else is a code span.
_INERT_ASCII = frozenset(" ,.;:()'\"%+=?!/<>&|{}-")
_NOT_INERT = re.compile(r"www\.|gh-\d|:[\w+-]+:|(?<![0-9]):(?=[^ ])|:(?=[^ 0-9])", re.IGNORECASE)


def _inert(text: str) -> bool:
    for i, char in enumerate(text):
        if char.isascii():
            if char.isalnum() or char in _INERT_ASCII:
                continue
            if char == "_" and 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum():
                continue
            return False
        if unicodedata.category(char)[0] not in "LMNPS":
            return False
    return not _NOT_INERT.search(text)


def code(value: Any, limit: int = REASON_LIMIT, *, table: bool = False) -> str:
    """Untrusted text as a code span: nothing in it is Markdown, HTML, a link or a mention.

    The fence is one backtick longer than the longest run of backticks in the text; ``table``
    escapes pipes, which GitHub's table extension would otherwise take for a cell's end even
    inside a code span (it removes the backslash before rendering the span).
    """
    return _code_span(_one_line(value, limit, safe_first=True), table)


def _code_span(text: str, table: bool) -> str:
    if not text:
        return ""
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""  # else a backtick there would join the fence
    body = text.replace("|", "\\|") if table else text
    return f"{fence}{pad}{body}{pad}{fence}"


def untrusted(value: Any, limit: int = REASON_LIMIT, *, table: bool = False) -> str:
    """Untrusted text (outputs, reasons, case text, labels, field names, baseline contents, messages quoting them).

    Shown as it is (``&<>|`` escaped) when it is plainly inert (``_inert``), so ordinary reasons and
    advice read as prose; otherwise as a ``code`` span. Controls are escaped first (``safe_text``).
    """
    text = _one_line(value, limit, safe_first=True)
    return _html(text) if _inert(text) else _code_span(text, table)


def markdown_summary(reports: Sequence[SuiteReport], trends: Mapping[str, Sequence[HistoryRecord]] | None = None) -> str:
    """The whole Markdown document: one section per suite (with a trend line from ``trends``, the history's records by suite file)."""
    return "\n".join(line for report in reports for line in suite_markdown(report, (trends or {}).get(report.summary.suite_path, ()))).rstrip() + "\n"


def suite_markdown(report: SuiteReport, trend: Sequence[HistoryRecord] = ()) -> list[str]:
    s, verdict = report.summary, report.verdict
    failed = verdict.failed_gates
    status = "✅ PASS" if verdict.passed else f"❌ FAIL ({len(failed)} gate{'s' if len(failed) != 1 else ''} failed: {', '.join(g.name for g in failed)})"
    lines = [f"### taskbench: {cell(s.suite_name)} — {status}", ""]
    if s.aggregate is not None:
        interval = s.aggregate_ci
        headline = f"**Aggregate {s.aggregate:.3f}**" + (f" ({_level(interval)} {_interval(interval)})" if interval else "") + f" · {s.band}"
        headline += f" · {s.passed}/{s.cases} cases pass ({percent(s.pass_rate)}) at score ≥ {s.pass_threshold:g}"
        lines.append(headline)
    else:
        lines.append(f"{s.cases} cases ran")
    if s.is_subset:
        lines.append(f"_A subset: {s.cases} of {s.total_in_suite} cases ran; the figures cover only those._")
    trend_line = trend_markdown(trend)
    if trend_line:
        lines += ["", trend_line]
    lines.append("")
    if s.categories:
        level = next((_level(g.mean_ci) for g in s.categories if g.mean_ci is not None), "CI")
        lines += [f"| category | cases | mean | {level} | pass rate | weight |", "|---|--:|--:|--:|--:|--:|"]
        for g in s.categories:
            lines.append(f"| {cell(g.name)} | {g.cases} | {g.mean:.3f} | {_interval(g.mean_ci) or '–'} | {percent(g.pass_rate)} | {g.weight or 0:.2f} |")
        lines.append("")
    if s.sampling is not None:
        lines += sampling_markdown(s.sampling)
    lines.append("**Gates:** " + " · ".join(f"{'✅' if g.passed else '❌'} {untrusted(g.message)}" for g in verdict.gates))  # a refused baseline quotes it
    lines.append("")
    if report.calibration:
        lines += calibration_markdown(report.calibration)
    if report.comparison is not None:
        lines += comparison_markdown(report.comparison) + [""]
    if report.analysis is not None:
        lines += analysis_markdown(report.analysis)
    if report.failing:
        lines += failing_markdown(report.failing)
    return lines + [""]


def calibration_markdown(calibration: Sequence[Agreement]) -> list[str]:
    """Each judge's agreement with the human labels, and its confusion table when it has labels."""
    lines = ["**Judge calibration** (agreement with the human labels)", ""]
    for a in calibration:
        lines += [f"- {cell(agreement_line(a), 600)}"] + ([f"- {cell(bias_line(a), 300)}"] if a.pairs else []) + [""]
        if a.labelled:
            rows = confusion_rows(a)
            lines += ["| " + " | ".join(cell(c) for c in rows[0]) + " |", "|---|" + "--:|" * (len(rows[0]) - 1)]
            lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows[1:]] + [""]
    return lines


def sampling_markdown(sampling: SamplingSummary) -> list[str]:
    """pass@k and pass^k per category and overall, then the flaky cases folded in ``<details>``."""
    columns = [f"pass@{k}" for k in sampling.ks] + [f"pass^{k}" for k in sampling.ks if k > 1]
    repeats = "/".join(str(n) for n in sampling.repeats)
    lines = [f"**Samples:** {repeats} per case, policy {', '.join(cell(p) for p in sampling.policies)}", ""]
    lines += ["| category | cases | " + " | ".join(columns) + " | flaky |", "|---|--:|" + "--:|" * len(columns) + "--:|"]
    for name, g in [(cell(g.name), g) for g in sampling.categories] + [("**overall** (weighted)", sampling.overall)]:
        values = [g.at(k) for k in sampling.ks]
        cells = [f"{v.pass_at:.3f}" if v else "–" for v in values] + [f"{v.pass_all:.3f}" if v else "–" for k, v in zip(sampling.ks, values) if k > 1]
        lines.append(f"| {name} | {g.cases} | " + " | ".join(cells) + f" | {g.flaky} |")
    lines.append("")
    if sampling.flaky:
        shown = sampling.flaky[:MAX_FAILING_ROWS]
        more = f" (first {len(shown)})" if len(shown) < len(sampling.flaky) else ""
        lines += [f"<details><summary>{len(sampling.flaky)} flaky case{'s' if len(sampling.flaky) != 1 else ''}: samples disagree{more}</summary>", ""]
        lines += ["| case | category | samples passed | case |", "|---|---|--:|---|"]
        for f in shown:
            lines.append(
                f"| {code(f.nodeid, table=True)} | {cell(f.category)} | {f.passes}/{f.samples} ({percent(f.rate)}) | {'passes' if f.passed else 'fails'} |"
            )
        lines += ["", "</details>", ""]
    return lines


def comparison_markdown(comparison: Comparison) -> list[str]:
    change = comparison.aggregate
    ci = _interval(change.interval)
    line = f"**Against the baseline** ({untrusted(comparison.baseline_model)}, {change.cases} shared cases): aggregate {change.baseline_mean:.3f} → {change.mean:.3f}"
    line += f" ({change.change:+.3f}" + (f", {_level(change.interval)} {ci}" if ci else "") + f", p = {change.p_value:.3g}; {change.verdict})"
    lines = [line]
    for title, changes in (("Regressions", comparison.regressions), ("Fixes", comparison.fixes)):
        if changes:
            shown = ", ".join(f"{code(c.key)} {c.baseline_score:.2f} → {c.score:.2f}" for c in changes[:10])
            lines.append(f"- {title} ({len(changes)}): {shown}" + (" …" if len(changes) > 10 else ""))
    return lines


def analysis_markdown(analysis: FailureAnalysis) -> list[str]:
    c = analysis.config
    items: list[str] = []
    if analysis.strengths:
        items.append(f"- **Strengths** (≥ {c.strength:.2f}): " + ", ".join(f"{cell(n.category)} {percent(n.mean)}" for n in analysis.strengths))
    for note in analysis.weaknesses:
        advice = untrusted(note.recommendation.replace(" -> ", " → "), 300)  # quotes confusion labels
        items.append(f"- **Weakness** (< {c.weakness:.2f}): **{cell(note.category)}**: {advice}")
    if analysis.parse_errors:
        items.append(f"- **Invalid JSON** in {len(analysis.parse_errors)} case{'s' if len(analysis.parse_errors) != 1 else ''}: " + _ids(analysis.parse_errors))
    if analysis.model_errors:
        items.append(f"- **Model errors** in {len(analysis.model_errors)} case{'s' if len(analysis.model_errors) != 1 else ''}: " + _ids(analysis.model_errors))
    if analysis.confusion is not None and analysis.confusion.confusions():
        m = analysis.confusion
        pairs = ", ".join(f"{untrusted(e)} → {untrusted(g)}: {n}" for e, g, n in m.confusions()[:8])
        items.append(f"- **{code(m.field)} confusions** ({m.correct}/{m.total} right): {pairs}")
    if analysis.fields:
        items.append("- **Fields most often missing or wrong:** " + "; ".join(untrusted(f.describe()) for f in analysis.fields[:5]))
    if analysis.functions:
        items.append("- **Functions most often wrong, missing or extra:** " + "; ".join(untrusted(f.describe()) for f in analysis.functions[:5]))
    if analysis.conversations is not None:
        found = analysis.conversations
        items.append(f"- **Conversations:** {untrusted(found.describe())}" + (f"; critical side effects in {_ids(found.flagged)}" if found.flagged else ""))
    rates = [g for g in analysis.by_difficulty if g.cases]
    if len(rates) > 1:
        shown = " · ".join(f"{cell(g.name)} {percent(g.failure_rate)} ({g.failed}/{g.cases})" for g in rates)
        items.append(f"- **Failure rate by difficulty:** {shown}; {analysis.difficulty_trend}")
    return (["**Failure analysis**", ""] + items + [""]) if items else []


def _ids(ids: Sequence[str], limit: int = 10) -> str:
    return ", ".join(code(i) for i in ids[:limit]) + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def failing_markdown(failing: Sequence[CaseResult]) -> list[str]:
    shown = failing[:MAX_FAILING_ROWS]
    more = f" (first {len(shown)})" if len(shown) < len(failing) else ""
    lines = [f"<details><summary>{len(failing)} failing case{'s' if len(failing) != 1 else ''}{more}</summary>", ""]
    lines += ["| case | category | difficulty | score | reason |", "|---|---|---|--:|---|"]
    for r in shown:
        lines.append(f"| {code(r.nodeid, table=True)} | {cell(r.category)} | {cell(r.difficulty)} | {r.score:.2f} | {untrusted(r.reason, table=True)} |")
    return lines + ["", "</details>"]
