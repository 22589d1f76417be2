"""A self-contained HTML report: one file, inline CSS, SVG charts (``html_charts``), a little vanilla JS.

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
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_taskbench.formatting import percent
from pytest_taskbench.history import HistoryRecord
from pytest_taskbench.reports.charts import MIDDLE, STRONG, WEAK, aggregate_gauge, category_chart, difficulty_chart, esc, field_chart, zone_colour
from pytest_taskbench.reports.conversation_html import conversation_block
from pytest_taskbench.reports.judging import agreement_line, bias_line, case_meaning, confusion_rows
from pytest_taskbench.reports.trend import trend_html
from pytest_taskbench.results import CaseResult
from pytest_taskbench.verdict.analysis import AnalysisConfig, FailureAnalysis
from pytest_taskbench.verdict.calibration import Agreement
from pytest_taskbench.verdict.compare import Comparison
from pytest_taskbench.verdict.finish import SuiteReport

TEXT_LIMIT = 4000

CSS = """
:root{--ink:#1f2430;--muted:#5f6b7a;--line:#dde2ea;--bg:#f6f8fb;--card:#fff;--weak:#d64545;--mid:#e8a33d;--strong:#2f9e5b}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
main{max-width:1180px;margin:0 auto;padding:24px}h1{font-size:22px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px}
h3{font-size:15px;margin:0 0 8px}.muted{color:var(--muted)}.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px;margin:12px 0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));gap:12px;margin:12px 0}.grid .card{margin:0}
.headline{display:flex;flex-wrap:wrap;gap:28px;align-items:baseline}.big{font-size:34px;font-weight:700}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.pass{background:var(--strong)}.fail{background:var(--weak)}.error,.broken,.judge_error{background:#7a4fb0}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{font-size:12px;color:var(--muted);font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.heat td{text-align:center}.matrix td,.matrix th{text-align:center}.matrix th[scope=row]{text-align:right}
ol.calls{margin:0 0 4px;padding-left:1.4em;font-size:12px}ol.calls li{margin:2px 0}
.txt{white-space:pre-wrap;word-break:break-word;max-height:9em;overflow:auto;font:12px/1.35 ui-monospace,SFMono-Regular,Menlo,monospace}
.filters{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin-bottom:8px}
.filters input[type=search]{flex:1;min-width:220px;padding:6px 8px;border:1px solid var(--line);border-radius:6px;font:inherit}
.filters select{padding:5px;border:1px solid var(--line);border-radius:6px;font:inherit}
ul.tight{margin:4px 0;padding-left:20px}svg text{font-family:inherit}.side{display:grid;grid-template-columns:1fr 1fr;gap:8px}
tr.case:target{outline:2px solid #5b7db1}.scroll{overflow-x:auto}
table.cases{table-layout:fixed}table.cases td{overflow-wrap:anywhere}table.cases th:nth-child(1){width:62px}table.cases th:nth-child(2){width:12%}
table.cases th:nth-child(3){width:10%}table.cases th:nth-child(4){width:52px}table.cases th:nth-child(5),table.cases th:nth-child(6),table.cases th:nth-child(7){width:15%}table.cases th:nth-child(8){width:13%}.change.regression{border-left:4px solid var(--weak)}.change.fix{border-left:4px solid var(--strong)}
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


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-").lower() or "suite"


def _heat(value: float, config: AnalysisConfig) -> str:
    colour = zone_colour(value, config)
    return f"background:{colour}{'33' if colour != MIDDLE else '40'}"


def cross_table(analysis: FailureAnalysis, difficulties: Sequence[str]) -> str:
    columns = [d for d in difficulties if any(c.difficulty == d for c in analysis.cross)]
    head = "".join(f'<th class="num">{esc(d)}</th>' for d in columns)
    rows = []
    for category in analysis.categories:
        cells = []
        for d in columns:
            c = analysis.cell(category, d)
            cells.append(
                '<td class="muted">–</td>'
                if c is None
                else f'<td data-category="{esc(category)}" data-difficulty="{esc(d)}" style="{_heat(c.mean, analysis.config)}">{c.mean:.2f} <span class="muted">({c.passed}/{c.cases})</span></td>'
            )
        rows.append(f'<tr><th scope="row">{esc(category)}</th>{"".join(cells)}</tr>')
    return f'<div class="scroll"><table class="heat cross"><thead><tr><th>category \\ difficulty</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div><p class="muted">Mean score (passed/cases) per cell.</p>'


def confusion_table(analysis: FailureAnalysis, anchor: str) -> str:
    m = analysis.confusion
    if m is None:
        return ""
    head = "".join(f'<th scope="col">{esc(g)}</th>' for g in m.got_labels)
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
            cells.append(
                f'<td data-expected="{esc(e)}" data-got="{esc(g)}" data-count="{len(ids)}" title="{esc(title)}" style="background:rgba({_rgb(colour)},{alpha:.2f})">{len(ids)}</td>'
            )
        rows.append(f'<tr><th scope="row">{esc(e)}</th>{"".join(cells)}</tr>')
    return (
        f'<div class="scroll"><table class="matrix" id="{anchor}-confusion"><thead><tr><th>expected \\ output</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
        f'<p class="muted">{m.correct} of {m.total} cases give the expected <code>{esc(m.field)}</code>. Rows: expected; columns: the model\'s output. Hover a cell for its cases.</p>'
    )


def _rgb(colour: str) -> str:
    return ",".join(str(int(colour[i : i + 2], 16)) for i in (1, 3, 5))


def _case_links(ids: Sequence[str], anchor: str, limit: int = 20) -> str:
    links = ", ".join(f'<a href="#{anchor}-case-{esc(_slug(i))}">{esc(i)}</a>' for i in ids[:limit])
    return links + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def analysis_section(analysis: FailureAnalysis, anchor: str) -> str:
    c = analysis.config
    items = []
    for note in analysis.strengths:
        items.append(f'<li><span class="badge pass">strength</span> <b>{esc(note.category)}</b> {percent(note.mean, 1)}: {esc(note.recommendation)}</li>')
    for note in analysis.weaknesses:
        items.append(f'<li><span class="badge fail">weakness</span> <b>{esc(note.category)}</b>: {esc(note.recommendation)}</li>')
    patterns = []
    if analysis.parse_errors:
        patterns.append(f"<li><b>Invalid JSON</b> in {len(analysis.parse_errors)} cases: {_case_links(analysis.parse_errors, anchor, 8)}</li>")
    if analysis.model_errors:
        patterns.append(f"<li><b>Model errors</b> in {len(analysis.model_errors)} cases: {_case_links(analysis.model_errors, anchor)}</li>")
    if analysis.confusion is not None:
        for e, g, n in analysis.confusion.confusions()[:6]:
            ids = analysis.confusion.cells[(e, g)]
            patterns.append(f"<li><code>{esc(analysis.confusion.field)}</code> {esc(e)} → {esc(g)}: <b>{n}</b> ({_case_links(ids, anchor, 4)})</li>")
    if analysis.functions:
        shown = "; ".join(esc(f.describe()) for f in analysis.functions[:6])
        patterns.append(f"<li><b>Functions most often wrong, missing or extra:</b> {shown}</li>")
    if analysis.difficulty_trend:
        patterns.append(f"<li>Failure rate {esc(analysis.difficulty_trend)}.</li>")
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


def comparison_section(comparison: Comparison, cases: Sequence[CaseResult]) -> str:
    """The comparison with the baseline: the aggregate's change and the regressions and fixes side by side."""
    by_node = {r.nodeid: r for r in cases}
    a = comparison.aggregate
    interval = "" if a.interval is None else f", {a.interval.level:.0%} CI [{a.interval.low:+.3f}, {a.interval.high:+.3f}]"
    parts = [
        f"<p>Baseline <b>{esc(comparison.baseline_model)}</b> ({esc(comparison.baseline_created)}), {a.cases} shared cases: aggregate "
        f"{a.baseline_mean:.3f} → <b>{a.mean:.3f}</b> ({a.change:+.3f}{interval}; p = {a.p_value:.3g}): <b>{esc(a.verdict)}</b>. "
        f"{a.regressed} regressions, {a.fixed} fixes.</p>"
    ]
    if comparison.categories:
        rows = "".join(
            f'<tr><td>{esc(g.name)}</td><td class="num">{g.cases}</td><td class="num">{g.baseline_mean:.3f}</td><td class="num">{g.mean:.3f}</td>'
            f'<td class="num">{g.change:+.3f}</td><td>{esc(g.verdict)}</td></tr>'
            for g in comparison.categories
        )
        parts.append(
            f'<table><thead><tr><th>category</th><th class="num">shared</th><th class="num">baseline</th><th class="num">now</th><th class="num">change</th><th>verdict</th></tr></thead><tbody>{rows}</tbody></table>'
        )
    for title, changes, kind, badge in (("Regressions", comparison.regressions, "regression", "fail"), ("Fixes", comparison.fixes, "fix", "pass")):
        if not changes:
            continue
        parts.append(f"<h3>{title} ({len(changes)})</h3>")
        for change in changes:
            now = by_node.get(change.key)
            before_output = change.baseline_output
            parts.append(
                f'<div class="card change {kind}" data-key="{esc(change.key)}"><div><span class="badge {badge}">{kind}</span> '
                f"<code>{esc(change.key)}</code> {change.baseline_score:.2f} → <b>{change.score:.2f}</b></div>"
                f'<div class="side"><div><h3>baseline output</h3><div class="txt">{esc(_clip(before_output)) if before_output is not None else "<span class=muted>not recorded in the baseline</span>"}</div></div>'
                f'<div><h3>output now</h3><div class="txt">{esc(_clip(now.output if now else None))}</div>'
                f'<div class="muted">{esc(now.reason) if now else ""}</div></div></div></div>'
            )
    return "".join(parts)


def calibration_section(calibration: Sequence[Agreement]) -> str:
    """A card per judge: its agreement with the human labels (with the interval), trusted or not, its confusion table."""
    cards = []
    for a in calibration:
        table = ""
        if a.labelled:
            rows = confusion_rows(a)
            head = "".join(f'<th scope="col">{esc(c)}</th>' for c in rows[0][1:])
            body = "".join(
                f'<tr><th scope="row">{esc(row[0])}</th>'
                + "".join(f'<td data-human="{esc(row[0])}" data-judge="{esc(col)}" data-count="{n}">{n}</td>' for col, n in zip(rows[0][1:], row[1:]))
                + "</tr>"
                for row in rows[1:]
            )
            table = f'<div class="scroll"><table class="matrix calibration-matrix"><thead><tr><th>human \\ judge</th>{head}</tr></thead><tbody>{body}</tbody></table></div>'
        badge = '<span class="badge pass">trusted</span>' if a.trusted else '<span class="badge fail">not trusted</span>'
        bias = f'<p class="muted">{esc(bias_line(a))}</p>' if a.pairs else ""
        kappa = "" if a.kappa is None else f"{a.kappa:.6f}"
        cards.append(
            f'<div class="card calibration" data-judge="{esc(a.judge)}" data-trusted="{str(a.trusted).lower()}" data-kappa="{kappa}">'
            f"<h3>judge {esc(a.judge)} {badge}</h3><p>{esc(agreement_line(a))}</p>{table}{bias}</div>"
        )
    return "".join(cards)


def _clip(text: Any) -> str:
    if text is None:
        return ""
    shown: str = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)
    return shown if len(shown) <= TEXT_LIMIT else shown[:TEXT_LIMIT] + f"\n… ({len(shown) - TEXT_LIMIT} more characters)"


def _call_line(call: Any) -> str:
    """``name(argument=value, ...)`` for a call given as JSON (an expected argument may be ``{"any_of": [...]}``)."""
    if not isinstance(call, dict):
        return json.dumps(call, ensure_ascii=False)
    arguments = call.get("arguments")
    arguments = arguments if isinstance(arguments, dict) else {}
    return f"{call.get('name')}(" + ", ".join(f"{name}={json.dumps(value, ensure_ascii=False)}" for name, value in arguments.items()) + ")"


def _calls_list(calls: Sequence[Any], statuses: Sequence[str], kind: str) -> str:
    """Calls one per line, each marked with its verdict (``data-status``) so expected and actual calls line up by eye."""
    if not calls:
        return f'<div class="muted" data-{kind}-calls="0">no call</div>'
    items = "".join(
        f'<li data-status="{esc(status)}"><span class="badge {"pass" if status == "match" else "fail"}">{esc(status)}</span> <code>{esc(_clip(_call_line(call)))}</code></li>'
        for call, status in zip(calls, statuses)
    )
    return f'<ol class="calls" data-{kind}-calls="{len(calls)}">{items}</ol>'


def _call_statuses(r: CaseResult, key: str, count: int) -> list[str]:
    """The verdict of each expected (``key`` "expected") or given ("got") call, from the scorer's ``call_results``."""
    statuses = ["" for _ in range(count)]
    results = r.details.get("call_results")
    for result in results if isinstance(results, list) else []:
        index = result.get(key) if isinstance(result, dict) else None
        if isinstance(index, int) and 0 <= index < count:
            statuses[index] = str(result.get("status", ""))
    return statuses


def _expected_cell(r: CaseResult) -> str:
    """The expected answer; for a tool-call case, the expected calls one per line beside the calls made."""
    if r.calls is None or not isinstance(r.expected, list):
        return f'<div class="txt">{esc(_clip(r.expected))}</div>'
    return _calls_list(r.expected, _call_statuses(r, "expected", len(r.expected)), "expected")


def _output_cell(r: CaseResult) -> str:
    """The output; for a tool-call case, the calls read from it first, then the text they came from."""
    text = f'<div class="txt">{esc(_clip(r.output))}</div>'
    if r.calls is None:
        return text
    return _calls_list(r.calls, _call_statuses(r, "got", len(r.calls)), "actual") + text


def _outcome(r: CaseResult) -> str:
    return r.status if r.status != "scored" else ("pass" if r.passed else "fail")


def case_table(report: SuiteReport, anchor: str) -> str:
    """Every case, failing first, with a search box and filters by category, difficulty and outcome."""
    cases = sorted(report.cases, key=lambda r: (r.passed, r.score, r.nodeid))

    def options(name: str, values: Sequence[str]) -> str:
        choices = "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in values)
        return f'<select data-filter="{name}" aria-label="{name}"><option value="">every {name}</option>{choices}</select>'

    categories = [g.name for g in report.summary.categories] + sorted({r.category for r in cases} - {g.name for g in report.summary.categories})
    difficulties = [g.name for g in report.summary.difficulties]
    outcomes = [o for o in ("fail", "pass", "error", "judge_error", "broken") if any(_outcome(r) == o for r in cases)]
    meaning = any(case_meaning(r) for r in cases)
    rows = []
    for r in cases:
        outcome = _outcome(r)
        rows.append(
            f'<tr class="case" id="{anchor}-case-{esc(_slug(r.case_id))}" data-category="{esc(r.category)}" data-difficulty="{esc(r.difficulty)}" data-outcome="{outcome}" data-nodeid="{esc(r.nodeid)}">'
            f'<td><span class="badge {outcome}">{outcome}</span></td><td><b>{esc(r.case_id)}</b><div class="muted">{esc(r.path)}:{r.line}</div></td>'
            f'<td>{esc(r.category)}<div class="muted">{esc(r.difficulty)}</div></td><td class="num">{r.score:.2f}</td>'
            f'<td><div class="txt">{esc(_clip(r.input))}</div></td><td>{_expected_cell(r)}</td>'
            f"<td>{_output_cell(r)}{samples_block(r)}{conversation_block(r)}</td>"
            + (f'<td class="judged">{"".join(f"<div>{esc(line)}</div>" for line in case_meaning(r))}</td>' if meaning else "")
            + f"<td>{esc(r.reason)}</td></tr>"
        )
    return (
        f'<div class="card" data-case-table><div class="filters"><input type="search" placeholder="Search cases: id, input, expected, output, reason" aria-label="search cases">'
        f'{options("category", categories)}{options("difficulty", difficulties)}{options("outcome", outcomes)}<span class="muted" data-shown>{len(cases)} cases</span></div>'
        f'<table class="cases"><thead><tr><th>outcome</th><th>case</th><th>category</th><th class="num">score</th><th>input</th><th>expected</th><th>output</th>'
        + ("<th>judge / similarity</th>" if meaning else "")
        + "<th>reason</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def samples_block(r: CaseResult) -> str:
    """Every sample of a case drawn more than once, folded: its score, pass state and output (or model error)."""
    if not r.samples:
        return ""
    items = "".join(
        f'<li data-sample="{number}" data-score="{sample.score:.6f}" data-passed="{str(sample.passed).lower()}">'
        f'<span class="badge {"pass" if sample.passed else "fail"}">{"pass" if sample.passed else "fail"}</span> {sample.score:.2f} '
        + (f'<div class="txt">{esc(_clip(sample.output))}</div>' if sample.output is not None else f'<div class="muted">model error: {esc(sample.error)}</div>')
        + "</li>"
        for number, sample in enumerate(r.samples, start=1)
    )
    flaky = " · flaky" if r.flaky else ""
    return f'<details class="samples"><summary>{r.sample_passes}/{r.repeats} samples passed ({esc(r.policy)}){flaky}</summary><ol class="tight">{items}</ol></details>'


def sampling_section(report: SuiteReport, anchor: str) -> str:
    """pass@k and pass^k per category and overall, and the flaky cases linked to their rows."""
    sampling = report.summary.sampling
    if sampling is None:
        return ""
    columns = [f"pass@{k}" for k in sampling.ks] + [f"pass^{k}" for k in sampling.ks if k > 1]
    rows = []
    for g in [*sampling.categories, sampling.overall]:
        values = [g.at(k) for k in sampling.ks]
        cells = [f"{v.pass_at:.3f}" if v else "–" for v in values] + [f"{v.pass_all:.3f}" if v else "–" for k, v in zip(sampling.ks, values) if k > 1]
        label = "overall (weighted)" if g is sampling.overall else esc(g.name)
        rows.append(
            f'<tr data-group="{esc(g.name)}"><td>{label}</td><td class="num">{g.cases}</td>'
            + "".join(f'<td class="num">{c}</td>' for c in cells)
            + f'<td class="num">{g.flaky}</td></tr>'
        )
    head = "".join(f'<th class="num">{esc(c)}</th>' for c in columns)
    table = f'<table class="sampling"><thead><tr><th>category</th><th class="num">cases</th>{head}<th class="num">flaky</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    by_node = {r.nodeid: r for r in report.cases}
    flaky = "".join(
        f'<li data-flaky="{esc(f.nodeid)}"><a href="#{anchor}-case-{esc(_slug(by_node[f.nodeid].case_id if f.nodeid in by_node else f.nodeid))}">{esc(f.nodeid)}</a>: '
        f"{f.passes}/{f.samples} samples passed ({percent(f.rate)}); the case {'passes' if f.passed else 'fails'}</li>"
        for f in sampling.flaky
    )
    repeats = "/".join(str(n) for n in sampling.repeats)
    return (
        f'<h2>Samples</h2><div class="card sampling-card"><p class="muted">{repeats} samples per case, policy {esc(", ".join(sampling.policies))}; '
        "pass@k and pass^k estimated from each case's samples without bias.</p>"
        f"{table}<h3>Flaky cases ({len(sampling.flaky)})</h3>"
        + (f'<ul class="tight flaky">{flaky}</ul>' if flaky else '<p class="muted">None: every case\'s samples agree.</p>')
        + "</div>"
    )


def suite_section(report: SuiteReport, anchor: str, trend: Sequence[HistoryRecord] = ()) -> str:
    s, verdict = report.summary, report.verdict
    analysis = report.analysis
    config = analysis.config if analysis is not None else AnalysisConfig()
    badge = '<span class="badge pass">PASS</span>' if verdict.passed else '<span class="badge fail">FAIL</span>'
    interval = s.aggregate_ci
    ran = f"{s.cases} of {s.total_in_suite} cases ran" if s.total_in_suite is not None else f"{s.cases} cases ran"
    parts = [
        f'<section class="suite" id="{anchor}" data-suite="{esc(s.suite_name)}"><h2>{esc(s.suite_name)} {badge}</h2><p class="muted">{esc(s.suite_path)} · {esc(ran)}'
        + (" (a subset: figures cover only the cases that ran)" if s.is_subset else "")
        + "</p>",
        '<div class="card"><div class="headline">'
        + (f'<div><div class="muted">aggregate (category-weighted mean)</div><div class="big">{s.aggregate:.3f}</div></div>' if s.aggregate is not None else "")
        + (f'<div><div class="muted">{interval.level:.0%} interval</div><b>[{interval.low:.3f}, {interval.high:.3f}]</b></div>' if interval is not None else "")
        + f'<div><div class="muted">band</div><b>{esc(s.band)}</b></div><div><div class="muted">pass rate (score ≥ {s.pass_threshold:g})</div><b>{s.passed}/{s.cases} ({percent(s.pass_rate, 1)})</b></div>'
        + f"</div>{aggregate_gauge(report, config)}</div>",
        trend_html(trend),
    ]
    for note in s.notes:
        parts.append(f'<p class="muted">note: {esc(note)}</p>')
    gates = "".join(
        f'<li><span class="badge {"pass" if g.passed else "fail"}">{"PASS" if g.passed else "FAIL"}</span> {esc(g.name)}: {esc(g.message)}</li>'
        for g in verdict.gates
    )
    level = next((g.mean_ci.level for g in s.categories if g.mean_ci is not None), None)
    whiskers = f"whiskers: {level:.0%} interval; " if level is not None else ""
    parts.append(
        f'<div class="card"><h3>Mean score by category</h3>{category_chart(s.categories, config) if s.categories else "<p class=muted>No scored cases.</p>"}'
        f'<p class="muted">Bars: mean score; {whiskers}dashed lines: the weakness ({config.weakness:g}) and strength ({config.strength:g}) thresholds.</p></div>'
        '<div class="grid">'
        f'<div class="card"><h3>Failure rate by difficulty</h3>{difficulty_chart(s.difficulties) if s.difficulties else ""}</div>'
        f'<div class="card"><h3>Gates</h3><ul class="tight">{gates}</ul></div>'
        "</div>"
    )
    if report.calibration:
        parts.append(f"<h2>Judge calibration</h2>{calibration_section(report.calibration)}")
    parts.append(sampling_section(report, anchor))
    if report.comparison is not None:
        parts.append(f'<h2>Against the baseline</h2><div class="card comparison">{comparison_section(report.comparison, report.cases)}</div>')
    if analysis is not None:
        parts.append("<h2>Failure analysis</h2>" + analysis_section(analysis, anchor))
        parts.append('<div class="grid">')
        if analysis.cross:
            parts.append(f'<div class="card"><h3>Category by difficulty</h3>{cross_table(analysis, [g.name for g in s.difficulties])}</div>')
        if analysis.confusion is not None:
            parts.append(f'<div class="card"><h3>Confusion matrix: <code>{esc(analysis.confusion.field)}</code></h3>{confusion_table(analysis, anchor)}</div>')
        parts.append("</div>")
    parts.append(f"<h2>Cases</h2>{case_table(report, anchor)}</section>")
    return "".join(parts)


def render_html(
    reports: Sequence[SuiteReport],
    *,
    title: str = "taskbench report",
    generated: dt.datetime | None = None,
    model: str = "",
    trends: Mapping[str, Sequence[HistoryRecord]] | None = None,
) -> str:
    """The whole report as one HTML document; ``trends`` (the history's records by suite file) adds each suite's trend chart."""
    when = (generated or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    passed = all(r.verdict.passed for r in reports)
    anchors = [f"suite-{i}-{_slug(r.summary.suite_name)}" for i, r in enumerate(reports)]
    nav = " · ".join(f'<a href="#{a}">{esc(r.summary.suite_name)}</a>' for a, r in zip(anchors, reports)) if len(reports) > 1 else ""
    sections = "".join(suite_section(r, a, (trends or {}).get(r.summary.suite_path, ())) for r, a in zip(reports, anchors))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>"
        f'<h1>{esc(title)} <span class="badge {"pass" if passed else "fail"}" id="verdict">{"PASS" if passed else "FAIL"}</span></h1>'
        f'<p class="muted">{esc(when)}' + (f" · model <code>{esc(model)}</code>" if model else "") + f"{' · ' + nav if nav else ''}</p>"
        f"{sections}</main><script>{SCRIPT}</script></body></html>\n"
    )
