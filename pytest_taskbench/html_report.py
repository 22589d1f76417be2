"""A self-contained HTML report: one file, inline CSS, SVG charts drawn here, a little vanilla JS.

It opens offline: nothing is fetched (no CDN, fonts, images or scripts from the
network). The charts are SVG computed in Python, so they read without JavaScript;
the script only filters the case table. Every value from a case or a suite file
is escaped. The report renders ``SuiteReport`` objects (summary, verdict,
analysis, comparison): it computes no figure of its own.

Charts carry ``data-*`` attributes (``data-category``, ``data-mean``, ...) so
tests and scripts can read them.

Domain code: no pytest import.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from html import escape
from typing import Any

from pytest_taskbench.analysis import AnalysisConfig, FailureAnalysis
from pytest_taskbench.report import SuiteReport
from pytest_taskbench.results import CaseResult
from pytest_taskbench.summary import GroupSummary

WEAK, MIDDLE, STRONG, NEUTRAL = "#d64545", "#e8a33d", "#2f9e5b", "#5b7db1"
FIELD_COLOURS = {"missing": "#e8a33d", "wrong": "#d64545", "partial": "#f2d16b", "invented": "#8e6bbf"}
TEXT_LIMIT = 4000

CSS = """
:root{--ink:#1f2430;--muted:#5f6b7a;--line:#dde2ea;--bg:#f6f8fb;--card:#fff;--weak:#d64545;--mid:#e8a33d;--strong:#2f9e5b}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
main{max-width:1180px;margin:0 auto;padding:24px}h1{font-size:22px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px}
h3{font-size:15px;margin:0 0 8px}.muted{color:var(--muted)}.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px;margin:12px 0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));gap:12px;margin:12px 0}.grid .card{margin:0}
.headline{display:flex;flex-wrap:wrap;gap:28px;align-items:baseline}.big{font-size:34px;font-weight:700}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.pass{background:var(--strong)}.fail{background:var(--weak)}.error,.broken{background:#7a4fb0}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{font-size:12px;color:var(--muted);font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.heat td{text-align:center}.matrix td,.matrix th{text-align:center}.matrix th[scope=row]{text-align:right}
.txt{white-space:pre-wrap;word-break:break-word;max-height:9em;overflow:auto;font:12px/1.35 ui-monospace,SFMono-Regular,Menlo,monospace}
.filters{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin-bottom:8px}
.filters input[type=search]{flex:1;min-width:220px;padding:6px 8px;border:1px solid var(--line);border-radius:6px;font:inherit}
.filters select{padding:5px;border:1px solid var(--line);border-radius:6px;font:inherit}
ul.tight{margin:4px 0;padding-left:20px}svg text{font-family:inherit}.side{display:grid;grid-template-columns:1fr 1fr;gap:8px}
tr.case:target{outline:2px solid #5b7db1}
"""

SCRIPT = """
document.querySelectorAll('[data-case-table]').forEach(function (box) {
  var rows = Array.prototype.slice.call(box.querySelectorAll('tbody tr.case'));
  var search = box.querySelector('input[type=search]');
  var selects = Array.prototype.slice.call(box.querySelectorAll('select[data-filter]'));
  var count = box.querySelector('[data-shown]');
  rows.forEach(function (row) { row.dataset.text = row.textContent.toLowerCase(); });
  function apply() {
    var words = search.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var shown = 0;
    rows.forEach(function (row) {
      var ok = words.every(function (w) { return row.dataset.text.indexOf(w) !== -1; });
      selects.forEach(function (s) { if (s.value && row.dataset[s.dataset.filter] !== s.value) { ok = false; } });
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown + ' of ' + rows.length + ' cases';
  }
  search.addEventListener('input', apply);
  selects.forEach(function (s) { s.addEventListener('change', apply); });
  apply();
});
"""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _zone(value: float, config: AnalysisConfig) -> str:
    return STRONG if value >= config.strength else (WEAK if value < config.weakness else MIDDLE)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-").lower() or "suite"


def _svg(width: int, height: int, label: str, body: list[str], cls: str) -> str:
    return (
        f'<svg class="chart {cls}" role="img" aria-label="{_e(label)}" viewBox="0 0 {width} {height}" width="100%" '
        f'style="max-width:{width}px" xmlns="http://www.w3.org/2000/svg"><title>{_e(label)}</title>{"".join(body)}</svg>'
    )


def _ci(obj: Any, name: str) -> Any:
    return getattr(obj, name, None)


def aggregate_gauge(report: SuiteReport, config: AnalysisConfig) -> str:
    """The aggregate on a 0-1 scale with the weak / middle / strong zones, its interval and the gate."""
    s = report.summary
    left, span, width, height = 20, 600, 640, 86
    x = lambda v: left + span * max(0.0, min(1.0, v))  # noqa: E731
    body = [
        f'<rect class="zone" x="{x(0):.1f}" y="26" width="{x(config.weakness) - x(0):.1f}" height="26" fill="{WEAK}" opacity="0.15"/>',
        f'<rect class="zone" x="{x(config.weakness):.1f}" y="26" width="{x(config.strength) - x(config.weakness):.1f}" height="26" fill="{MIDDLE}" opacity="0.18"/>',
        f'<rect class="zone" x="{x(config.strength):.1f}" y="26" width="{x(1) - x(config.strength):.1f}" height="26" fill="{STRONG}" opacity="0.15"/>',
    ]
    for tick in (0, 0.2, 0.4, 0.6, 0.8, 1.0):
        body.append(f'<text x="{x(tick):.1f}" y="70" font-size="11" text-anchor="middle" fill="#5f6b7a">{tick:g}</text>')
    if s.aggregate is not None:
        colour = _zone(s.aggregate, config)
        body.append(f'<rect class="bar aggregate" data-value="{s.aggregate:.6f}" x="{x(0):.1f}" y="31" width="{x(s.aggregate) - x(0):.1f}" height="16" rx="3" fill="{colour}"/>')
        interval = _ci(s, "aggregate_ci")
        if interval is not None:
            body.append(_whisker(x(interval.low), x(interval.high), 39, "aggregate"))
        label = f"{s.aggregate:.3f}" + (f"  [{interval.low:.3f}, {interval.high:.3f}]" if interval is not None else "")
        body.append(f'<text x="{min(x(s.aggregate), x(1) - 4):.1f}" y="18" font-size="13" font-weight="700" text-anchor="{"end" if s.aggregate > 0.75 else "start"}">{_e(label)}</text>')
    gate = next((g for g in report.verdict.gates if g.name == "min_aggregate"), None)
    if gate is not None:
        body.append(f'<line class="gate" x1="{x(gate.threshold):.1f}" x2="{x(gate.threshold):.1f}" y1="22" y2="56" stroke="#1f2430" stroke-width="2" stroke-dasharray="4 3"/>')
        body.append(f'<text x="{x(gate.threshold) + 4:.1f}" y="84" font-size="11" fill="#1f2430">gate {gate.threshold:g}</text>')
    return _svg(width, height, f"aggregate {s.aggregate}", body, "gauge")


def _whisker(x1: float, x2: float, y: float, what: str) -> str:
    return (
        f'<g class="whisker" data-for="{_e(what)}" stroke="#1f2430" stroke-width="1.5"><line x1="{x1:.1f}" x2="{x2:.1f}" y1="{y}" y2="{y}"/>'
        f'<line x1="{x1:.1f}" x2="{x1:.1f}" y1="{y - 6}" y2="{y + 6}"/><line x1="{x2:.1f}" x2="{x2:.1f}" y1="{y - 6}" y2="{y + 6}"/></g>'
    )


def category_chart(groups: Sequence[GroupSummary], config: AnalysisConfig) -> str:
    """One horizontal bar per category (mean score), with its interval, weight and case count."""
    label_w, span, row_h, top = 210, 480, 40, 26
    width, height = label_w + span + 130, top + row_h * len(groups) + 8
    x = lambda v: label_w + span * max(0.0, min(1.0, v))  # noqa: E731
    body = []
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        body.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top - 4}" y2="{height - 6}" stroke="#dde2ea"/>')
        body.append(f'<text x="{x(tick):.1f}" y="{top - 8}" font-size="11" text-anchor="middle" fill="#5f6b7a">{tick:g}</text>')
    for threshold in (config.weakness, config.strength):
        body.append(f'<line class="threshold" x1="{x(threshold):.1f}" x2="{x(threshold):.1f}" y1="{top - 4}" y2="{height - 6}" stroke="#5f6b7a" stroke-dasharray="3 3"/>')
    for i, g in enumerate(groups):
        y = top + i * row_h
        weight = "" if g.weight is None else f"weight {g.weight:.2f} · "
        body.append(f'<text x="{label_w - 10}" y="{y + 15}" font-size="13" font-weight="600" text-anchor="end">{_e(g.name)}</text>')
        body.append(f'<text x="{label_w - 10}" y="{y + 30}" font-size="11" text-anchor="end" fill="#5f6b7a">{weight}{g.cases} cases</text>')
        body.append(
            f'<rect class="bar category" data-category="{_e(g.name)}" data-mean="{g.mean:.6f}" data-weight="{g.weight or 0:.6f}" '
            f'x="{x(0):.1f}" y="{y + 8}" width="{x(g.mean) - x(0):.1f}" height="18" rx="3" fill="{_zone(g.mean, config)}"/>'
        )
        interval = _ci(g, "mean_ci")
        if interval is not None:
            body.append(_whisker(x(interval.low), x(interval.high), y + 17, g.name))
        text = f"{g.mean:.3f}" + (f" [{interval.low:.2f}, {interval.high:.2f}]" if interval is not None else "")
        body.append(f'<text x="{x(1) + 8:.1f}" y="{y + 22}" font-size="12">{_e(text)}</text>')
    return _svg(width, height, "mean score by category", body, "categories")


def difficulty_chart(groups: Sequence[GroupSummary]) -> str:
    """Failure rate by difficulty, one column each, in the suite's difficulty order."""
    groups = [g for g in groups if g.cases]
    col_w, gap, left, top, plot_h = 64, 26, 40, 18, 150
    width, height = left + len(groups) * (col_w + gap) + 10, top + plot_h + 40
    y = lambda v: top + plot_h * (1 - v)  # noqa: E731
    body = []
    for tick in (0, 0.5, 1.0):
        body.append(f'<line x1="{left - 4}" x2="{width - 6}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#dde2ea"/>')
        body.append(f'<text x="{left - 8}" y="{y(tick) + 4:.1f}" font-size="11" text-anchor="end" fill="#5f6b7a">{tick:.0%}</text>')
    for i, g in enumerate(groups):
        rate = 1 - g.pass_rate
        x0 = left + gap / 2 + i * (col_w + gap)
        body.append(
            f'<rect class="bar difficulty" data-difficulty="{_e(g.name)}" data-failure-rate="{rate:.6f}" x="{x0:.1f}" y="{y(rate):.1f}" '
            f'width="{col_w}" height="{y(0) - y(rate):.1f}" rx="3" fill="{WEAK if rate > 0.5 else (MIDDLE if rate > 0.2 else STRONG)}"/>'
        )
        body.append(f'<text x="{x0 + col_w / 2:.1f}" y="{y(rate) - 4:.1f}" font-size="12" font-weight="600" text-anchor="middle">{rate:.0%}</text>')
        body.append(f'<text x="{x0 + col_w / 2:.1f}" y="{y(0) + 16:.1f}" font-size="12" text-anchor="middle">{_e(g.name)}</text>')
        body.append(f'<text x="{x0 + col_w / 2:.1f}" y="{y(0) + 31:.1f}" font-size="11" text-anchor="middle" fill="#5f6b7a">{g.cases - g.passed}/{g.cases} fail</text>')
    return _svg(width, height, "failure rate by difficulty", body, "difficulties")


def field_chart(analysis: FailureAnalysis, limit: int = 8) -> str:
    """Stacked bars: how often each field was missing, wrong, partly right or invented in failing cases."""
    fields = analysis.fields[:limit]
    label_w, span, row_h, top = 130, 300, 26, 24
    most = max(f.total for f in fields)
    width, height = label_w + span + 50, top + row_h * len(fields) + 6
    body = []
    for j, (status, colour) in enumerate(FIELD_COLOURS.items()):
        body.append(f'<rect x="{label_w + j * 80}" y="4" width="10" height="10" fill="{colour}"/><text x="{label_w + j * 80 + 14}" y="13" font-size="11">{status}</text>')
    for i, f in enumerate(fields):
        y, x0 = top + i * row_h, float(label_w)
        body.append(f'<text x="{label_w - 8}" y="{y + 14}" font-size="12" text-anchor="end">{_e(f.name)}</text>')
        for status, colour in FIELD_COLOURS.items():
            n = getattr(f, status)
            if n:
                w = span * n / most
                body.append(f'<rect class="bar field" data-field="{_e(f.name)}" data-status="{status}" data-count="{n}" x="{x0:.1f}" y="{y + 2}" width="{w:.1f}" height="16" fill="{colour}"><title>{_e(f.name)}: {n} {status}</title></rect>')
                x0 += w
        body.append(f'<text x="{x0 + 6:.1f}" y="{y + 14}" font-size="12">{f.total}</text>')
    return _svg(width, height, "fields most often missing or wrong", body, "fields")


def _heat(value: float, config: AnalysisConfig) -> str:
    colour = _zone(value, config)
    return f"background:{colour}{'33' if colour != MIDDLE else '40'}"


def cross_table(analysis: FailureAnalysis, difficulties: Sequence[str]) -> str:
    columns = [d for d in difficulties if any(c.difficulty == d for c in analysis.cross)]
    head = "".join(f'<th class="num">{_e(d)}</th>' for d in columns)
    rows = []
    for category in analysis.categories:
        cells = []
        for d in columns:
            c = analysis.cell(category, d)
            cells.append(
                '<td class="muted">–</td>'
                if c is None
                else f'<td data-category="{_e(category)}" data-difficulty="{_e(d)}" style="{_heat(c.mean, analysis.config)}">{c.mean:.2f} <span class="muted">({c.passed}/{c.cases})</span></td>'
            )
        rows.append(f'<tr><th scope="row">{_e(category)}</th>{"".join(cells)}</tr>')
    return f'<table class="heat cross"><thead><tr><th>category \\ difficulty</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table><p class="muted">Mean score (passed/cases) per cell.</p>'


def confusion_table(analysis: FailureAnalysis, anchor: str) -> str:
    m = analysis.confusion
    if m is None:
        return ""
    head = "".join(f'<th scope="col">{_e(g)}</th>' for g in m.got_labels)
    rows = []
    for e in m.expected_labels:
        total = sum(m.count(e, g) for g in m.got_labels) or 1
        cells = []
        for g in m.got_labels:
            ids = m.cells.get((e, g), ())
            if not ids:
                cells.append("<td></td>")
                continue
            colour = STRONG if e == g else WEAK
            alpha = 0.15 + 0.6 * len(ids) / total
            title = ", ".join(ids[:30]) + (" …" if len(ids) > 30 else "")
            cells.append(f'<td data-expected="{_e(e)}" data-got="{_e(g)}" data-count="{len(ids)}" title="{_e(title)}" style="background:rgba({_rgb(colour)},{alpha:.2f})">{len(ids)}</td>')
        rows.append(f'<tr><th scope="row">{_e(e)}</th>{"".join(cells)}</tr>')
    return (
        f'<table class="matrix" id="{anchor}-confusion"><thead><tr><th>expected \\ output</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        f'<p class="muted">{m.correct} of {m.total} cases give the expected <code>{_e(m.field)}</code>. Rows: expected; columns: the model\'s output. Hover a cell for its cases.</p>'
    )


def _rgb(colour: str) -> str:
    return ",".join(str(int(colour[i : i + 2], 16)) for i in (1, 3, 5))


def _case_links(ids: Sequence[str], anchor: str, limit: int = 20) -> str:
    links = ", ".join(f'<a href="#{anchor}-case-{_e(_slug(i))}">{_e(i)}</a>' for i in ids[:limit])
    return links + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def analysis_section(analysis: FailureAnalysis, anchor: str) -> str:
    c = analysis.config
    items = []
    for note in analysis.strengths:
        items.append(f'<li><span class="badge pass">strength</span> <b>{_e(note.category)}</b> {_pct(note.mean)}: {_e(note.recommendation)}</li>')
    for note in analysis.weaknesses:
        items.append(f'<li><span class="badge fail">weakness</span> <b>{_e(note.category)}</b>: {_e(note.recommendation)}</li>')
    patterns = []
    if analysis.parse_errors:
        patterns.append(f"<li><b>Invalid JSON</b> in {len(analysis.parse_errors)} cases: {_case_links(analysis.parse_errors, anchor)}</li>")
    if analysis.model_errors:
        patterns.append(f"<li><b>Model errors</b> in {len(analysis.model_errors)} cases: {_case_links(analysis.model_errors, anchor)}</li>")
    if analysis.confusion is not None:
        for e, g, n in analysis.confusion.confusions()[:8]:
            ids = analysis.confusion.cells[(e, g)]
            patterns.append(f"<li><code>{_e(analysis.confusion.field)}</code> {_e(e)} → {_e(g)}: <b>{n}</b> ({_case_links(ids, anchor, 8)})</li>")
    if analysis.difficulty_trend:
        patterns.append(f"<li>Failure rate {_e(analysis.difficulty_trend)}.</li>")
    parts = [
        f'<div class="card"><h3>Strengths (≥ {c.strength:.2f}) and weaknesses (&lt; {c.weakness:.2f})</h3>'
        + (f'<ul class="tight">{"".join(items)}</ul>' if items else '<p class="muted">No category is above the strength or below the weakness threshold.</p>')
        + "</div>",
        f'<div class="card"><h3>Failure patterns ({analysis.failing} failing cases)</h3>'
        + (f'<ul class="tight">{"".join(patterns)}</ul>' if patterns else '<p class="muted">No pattern: nothing failed.</p>')
        + (field_chart(analysis) if analysis.fields else "")
        + "</div>",
    ]
    return f'<div class="grid">{"".join(parts)}</div>'


def comparison_section(comparison: Any, cases: Sequence[CaseResult]) -> str:
    """The comparison with the baseline: the aggregate's change and the regressions and fixes side by side."""
    by_node = {r.nodeid: r for r in cases}
    a = comparison.aggregate
    interval = "" if a.interval is None else f", {a.interval.level:.0%} CI [{a.interval.low:+.3f}, {a.interval.high:+.3f}]"
    parts = [
        f'<p>Baseline <b>{_e(comparison.baseline_model)}</b> ({_e(comparison.baseline_created)}), {a.cases} shared cases: aggregate '
        f"{a.baseline_mean:.3f} → <b>{a.mean:.3f}</b> ({a.change:+.3f}{interval}; p = {a.p_value:.3g}): <b>{_e(a.verdict)}</b>. "
        f"{a.regressed} regressions, {a.fixed} fixes.</p>"
    ]
    if comparison.categories:
        rows = "".join(
            f'<tr><td>{_e(g.name)}</td><td class="num">{g.cases}</td><td class="num">{g.baseline_mean:.3f}</td><td class="num">{g.mean:.3f}</td>'
            f'<td class="num">{g.change:+.3f}</td><td>{_e(g.verdict)}</td></tr>'
            for g in comparison.categories
        )
        parts.append(f'<table><thead><tr><th>category</th><th class="num">shared</th><th class="num">baseline</th><th class="num">now</th><th class="num">change</th><th>verdict</th></tr></thead><tbody>{rows}</tbody></table>')
    for title, changes, badge in (("Regressions", comparison.regressions, "fail"), ("Fixes", comparison.fixes, "pass")):
        if not changes:
            continue
        parts.append(f"<h3>{title} ({len(changes)})</h3>")
        for change in changes:
            now = by_node.get(change.key)
            before_output = getattr(change, "baseline_output", None)
            parts.append(
                f'<div class="card change {badge}" data-key="{_e(change.key)}"><div><span class="badge {badge}">{title[:-1].lower()}</span> '
                f"<code>{_e(change.key)}</code> {change.baseline_score:.2f} → <b>{change.score:.2f}</b></div>"
                f'<div class="side"><div><h3>baseline output</h3><div class="txt">{_e(_clip(before_output)) if before_output is not None else "<span class=muted>not recorded in the baseline</span>"}</div></div>'
                f'<div><h3>output now</h3><div class="txt">{_e(_clip(now.output if now else None))}</div>'
                f'<div class="muted">{_e(now.reason) if now else ""}</div></div></div></div>'
            )
    return "".join(parts)


def _clip(text: Any) -> str:
    if text is None:
        return ""
    text = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + f"\n… ({len(text) - TEXT_LIMIT} more characters)"


def _outcome(r: CaseResult) -> str:
    return r.status if r.status != "scored" else ("pass" if r.passed else "fail")


def case_table(report: SuiteReport, anchor: str) -> str:
    """Every case, failing first, with a search box and filters by category, difficulty and outcome."""
    cases = sorted(report.cases, key=lambda r: (r.passed, r.score, r.nodeid))

    def options(name: str, values: Sequence[str]) -> str:
        choices = "".join(f'<option value="{_e(v)}">{_e(v)}</option>' for v in values)
        return f'<select data-filter="{name}" aria-label="{name}"><option value="">every {name}</option>{choices}</select>'

    categories = [g.name for g in report.summary.categories] + sorted({r.category for r in cases} - {g.name for g in report.summary.categories})
    difficulties = [g.name for g in report.summary.difficulties]
    outcomes = [o for o in ("fail", "pass", "error", "broken") if any(_outcome(r) == o for r in cases)]
    rows = []
    for r in cases:
        outcome = _outcome(r)
        rows.append(
            f'<tr class="case" id="{anchor}-case-{_e(_slug(r.case_id))}" data-category="{_e(r.category)}" data-difficulty="{_e(r.difficulty)}" data-outcome="{outcome}" data-nodeid="{_e(r.nodeid)}">'
            f'<td><span class="badge {outcome}">{outcome}</span></td><td><b>{_e(r.case_id)}</b><div class="muted">{_e(r.path)}:{r.line}</div></td>'
            f'<td>{_e(r.category)}<div class="muted">{_e(r.difficulty)}</div></td><td class="num">{r.score:.2f}</td>'
            f'<td><div class="txt">{_e(_clip(r.input))}</div></td><td><div class="txt">{_e(_clip(r.expected))}</div></td>'
            f'<td><div class="txt">{_e(_clip(r.output))}</div></td><td>{_e(r.reason)}</td></tr>'
        )
    return (
        f'<div class="card" data-case-table><div class="filters"><input type="search" placeholder="Search cases: id, input, expected, output, reason" aria-label="search cases">'
        f'{options("category", categories)}{options("difficulty", difficulties)}{options("outcome", outcomes)}<span class="muted" data-shown>{len(cases)} cases</span></div>'
        f'<table class="cases"><thead><tr><th>outcome</th><th>case</th><th>category</th><th class="num">score</th><th>input</th><th>expected</th><th>output</th><th>reason</th></tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table></div>'
    )


def suite_section(report: SuiteReport, anchor: str) -> str:
    s, verdict = report.summary, report.verdict
    analysis = report.analysis
    config = analysis.config if analysis is not None else AnalysisConfig()
    badge = '<span class="badge pass">PASS</span>' if verdict.passed else '<span class="badge fail">FAIL</span>'
    interval = _ci(s, "aggregate_ci")
    ran = f"{s.cases} of {s.total_in_suite} cases ran" if s.total_in_suite is not None else f"{s.cases} cases ran"
    parts = [
        f'<section class="suite" id="{anchor}" data-suite="{_e(s.suite_name)}"><h2>{_e(s.suite_name)} {badge}</h2><p class="muted">{_e(s.suite_path)} · {_e(ran)}'
        + (" (a subset: figures cover only the cases that ran)" if s.is_subset else "")
        + "</p>",
        '<div class="card"><div class="headline">'
        + (f'<div><div class="muted">aggregate (category-weighted mean)</div><div class="big">{s.aggregate:.3f}</div></div>' if s.aggregate is not None else "")
        + (f'<div><div class="muted">{interval.level:.0%} interval</div><b>[{interval.low:.3f}, {interval.high:.3f}]</b></div>' if interval is not None else "")
        + f'<div><div class="muted">band</div><b>{_e(s.band)}</b></div><div><div class="muted">pass rate (score ≥ {s.pass_threshold:g})</div><b>{s.passed}/{s.cases} ({_pct(s.pass_rate)})</b></div>'
        + f"</div>{aggregate_gauge(report, config)}</div>",
    ]
    for note in s.notes:
        parts.append(f'<p class="muted">note: {_e(note)}</p>')
    gates = "".join(f'<li><span class="badge {"pass" if g.passed else "fail"}">{"PASS" if g.passed else "FAIL"}</span> {_e(g.name)}: {_e(g.message)}</li>' for g in verdict.gates)
    level = next((g.mean_ci.level for g in s.categories if _ci(g, "mean_ci") is not None), None)
    whiskers = f"whiskers: {level:.0%} interval; " if level is not None else ""
    parts.append(
        f'<div class="card"><h3>Mean score by category</h3>{category_chart(s.categories, config) if s.categories else "<p class=muted>No scored cases.</p>"}'
        f'<p class="muted">Bars: mean score; {whiskers}dashed lines: the weakness ({config.weakness:g}) and strength ({config.strength:g}) thresholds.</p></div>'
        '<div class="grid">'
        f'<div class="card"><h3>Failure rate by difficulty</h3>{difficulty_chart(s.difficulties) if s.difficulties else ""}</div>'
        f'<div class="card"><h3>Gates</h3><ul class="tight">{gates}</ul></div>'
        "</div>"
    )
    comparison = getattr(report, "comparison", None)
    if comparison is not None:
        parts.append(f'<h2>Against the baseline</h2><div class="card comparison">{comparison_section(comparison, report.cases)}</div>')
    if analysis is not None:
        parts.append("<h2>Failure analysis</h2>" + analysis_section(analysis, anchor))
        parts.append('<div class="grid">')
        if analysis.cross:
            parts.append(f'<div class="card"><h3>Category by difficulty</h3>{cross_table(analysis, [g.name for g in s.difficulties])}</div>')
        if analysis.confusion is not None:
            parts.append(f'<div class="card"><h3>Confusion matrix: <code>{_e(analysis.confusion.field)}</code></h3>{confusion_table(analysis, anchor)}</div>')
        parts.append("</div>")
    parts.append(f"<h2>Cases</h2>{case_table(report, anchor)}</section>")
    return "".join(parts)


def render_html(reports: Sequence[SuiteReport], *, title: str = "taskbench report", generated: dt.datetime | None = None, model: str = "") -> str:
    """The whole report as one HTML document."""
    when = (generated or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    passed = all(r.verdict.passed for r in reports)
    anchors = [f"suite-{i}-{_slug(r.summary.suite_name)}" for i, r in enumerate(reports)]
    nav = " · ".join(f'<a href="#{a}">{_e(r.summary.suite_name)}</a>' for a, r in zip(anchors, reports)) if len(reports) > 1 else ""
    sections = "".join(suite_section(r, a) for r, a in zip(reports, anchors))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>"
        f'<h1>{_e(title)} <span class="badge {"pass" if passed else "fail"}" id="verdict">{"PASS" if passed else "FAIL"}</span></h1>'
        f'<p class="muted">{_e(when)}' + (f" · model <code>{_e(model)}</code>" if model else "") + f"{' · ' + nav if nav else ''}</p>"
        f"{sections}</main><script>{SCRIPT}</script></body></html>\n"
    )
