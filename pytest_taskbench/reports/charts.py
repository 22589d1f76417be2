"""SVG charts for the HTML report, drawn in Python so they read without JavaScript.

Each chart is one ``<svg>`` with a ``viewBox`` (it scales to its card) and a
``<title>``; bars carry ``data-*`` attributes (``data-category``, ``data-mean``,
``data-failure-rate``, ...) for tests and scripts. Colours follow the analysis
thresholds: below ``weakness`` red, at or above ``strength`` green, amber between.

Domain code: no pytest import.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from pytest_taskbench.guards.display import safe_text
from pytest_taskbench.verdict.analysis import AnalysisConfig, FailureAnalysis
from pytest_taskbench.verdict.finish import SuiteReport
from pytest_taskbench.verdict.summary import GroupSummary

WEAK, MIDDLE, STRONG = "#d64545", "#e8a33d", "#2f9e5b"
FIELD_COLOURS = {"missing": "#e8a33d", "wrong": "#d64545", "partial": "#f2d16b", "invented": "#8e6bbf"}


def esc(value: Any) -> str:
    """Text for HTML (element or attribute): markup escaped, controls, bidi controls and surrogates shown as escapes.

    Newlines and tabs stay (outputs show as written, ``white-space: pre-wrap``); a lone surrogate
    becomes ``\\ud800``, so the report always encodes as UTF-8.
    """
    return escape(safe_text(str(value), multiline=True), quote=True)


def zone_colour(value: float, config: AnalysisConfig) -> str:
    return STRONG if value >= config.strength else (WEAK if value < config.weakness else MIDDLE)


def _svg(width: int, height: int, label: str, body: list[str], cls: str) -> str:
    return (
        f'<svg class="chart {cls}" role="img" aria-label="{esc(label)}" viewBox="0 0 {width} {height}" width="100%" '
        f'style="max-width:{width}px" xmlns="http://www.w3.org/2000/svg"><title>{esc(label)}</title>{"".join(body)}</svg>'
    )


def aggregate_gauge(report: SuiteReport, config: AnalysisConfig) -> str:
    """The aggregate on a 0-1 scale with the weak / middle / strong zones, its interval and the gate."""
    s = report.summary
    left, span, width, height = 20, 600, 640, 86

    def x(v: float) -> float:
        return left + span * max(0.0, min(1.0, v))

    body = [
        f'<rect class="zone" x="{x(0):.1f}" y="26" width="{x(config.weakness) - x(0):.1f}" height="26" fill="{WEAK}" opacity="0.15"/>',
        f'<rect class="zone" x="{x(config.weakness):.1f}" y="26" width="{x(config.strength) - x(config.weakness):.1f}" height="26" fill="{MIDDLE}" opacity="0.18"/>',
        f'<rect class="zone" x="{x(config.strength):.1f}" y="26" width="{x(1) - x(config.strength):.1f}" height="26" fill="{STRONG}" opacity="0.15"/>',
    ]
    for tick in (0, 0.2, 0.4, 0.6, 0.8, 1.0):
        body.append(f'<text x="{x(tick):.1f}" y="70" font-size="11" text-anchor="middle" fill="#5f6b7a">{tick:g}</text>')
    if s.aggregate is not None:
        colour = zone_colour(s.aggregate, config)
        body.append(
            f'<rect class="bar aggregate" data-value="{s.aggregate:.6f}" x="{x(0):.1f}" y="31" width="{x(s.aggregate) - x(0):.1f}" height="16" rx="3" fill="{colour}"/>'
        )
        interval = s.aggregate_ci
        if interval is not None:
            body.append(_whisker(x(interval.low), x(interval.high), 39, "aggregate"))
        label = f"{s.aggregate:.3f}" + (f"  [{interval.low:.3f}, {interval.high:.3f}]" if interval is not None else "")
        body.append(
            f'<text x="{min(x(s.aggregate), x(1) - 4):.1f}" y="18" font-size="13" font-weight="700" text-anchor="{"end" if s.aggregate > 0.75 else "start"}">{esc(label)}</text>'
        )
    gate = next((g for g in report.verdict.gates if g.name == "min_aggregate"), None)
    if gate is not None:
        body.append(
            f'<line class="gate" x1="{x(gate.threshold):.1f}" x2="{x(gate.threshold):.1f}" y1="22" y2="56" stroke="#1f2430" stroke-width="2" stroke-dasharray="4 3"/>'
        )
        body.append(f'<text x="{x(gate.threshold) + 4:.1f}" y="84" font-size="11" fill="#1f2430">gate {gate.threshold:g}</text>')
    return _svg(width, height, f"aggregate {s.aggregate}", body, "gauge")


def _whisker(x1: float, x2: float, y: float, what: str) -> str:
    return (
        f'<g class="whisker" data-for="{esc(what)}" stroke="#1f2430" stroke-width="1.5"><line x1="{x1:.1f}" x2="{x2:.1f}" y1="{y}" y2="{y}"/>'
        f'<line x1="{x1:.1f}" x2="{x1:.1f}" y1="{y - 6}" y2="{y + 6}"/><line x1="{x2:.1f}" x2="{x2:.1f}" y1="{y - 6}" y2="{y + 6}"/></g>'
    )


def category_chart(groups: Sequence[GroupSummary], config: AnalysisConfig) -> str:
    """One horizontal bar per category (mean score), with its interval, weight and case count."""
    label_w, span, row_h, top = 210, 480, 40, 26
    width, height = label_w + span + 130, top + row_h * len(groups) + 8

    def x(v: float) -> float:
        return label_w + span * max(0.0, min(1.0, v))

    body = []
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        body.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top - 4}" y2="{height - 6}" stroke="#dde2ea"/>')
        body.append(f'<text x="{x(tick):.1f}" y="{top - 8}" font-size="11" text-anchor="middle" fill="#5f6b7a">{tick:g}</text>')
    for threshold in (config.weakness, config.strength):
        body.append(
            f'<line class="threshold" x1="{x(threshold):.1f}" x2="{x(threshold):.1f}" y1="{top - 4}" y2="{height - 6}" stroke="#5f6b7a" stroke-dasharray="3 3"/>'
        )
    for i, g in enumerate(groups):
        y = top + i * row_h
        weight = "" if g.weight is None else f"weight {g.weight:.2f} · "
        body.append(f'<text x="{label_w - 10}" y="{y + 15}" font-size="13" font-weight="600" text-anchor="end">{esc(g.name)}</text>')
        body.append(f'<text x="{label_w - 10}" y="{y + 30}" font-size="11" text-anchor="end" fill="#5f6b7a">{weight}{g.cases} cases</text>')
        body.append(
            f'<rect class="bar category" data-category="{esc(g.name)}" data-mean="{g.mean:.6f}" data-weight="{g.weight or 0:.6f}" '
            f'x="{x(0):.1f}" y="{y + 8}" width="{x(g.mean) - x(0):.1f}" height="18" rx="3" fill="{zone_colour(g.mean, config)}"/>'
        )
        interval = g.mean_ci
        if interval is not None:
            body.append(_whisker(x(interval.low), x(interval.high), y + 17, g.name))
        text = f"{g.mean:.3f}" + (f" [{interval.low:.2f}, {interval.high:.2f}]" if interval is not None else "")
        body.append(f'<text x="{x(1) + 8:.1f}" y="{y + 22}" font-size="12">{esc(text)}</text>')
    return _svg(width, height, "mean score by category", body, "categories")


def difficulty_chart(groups: Sequence[GroupSummary]) -> str:
    """Failure rate by difficulty, one column each, in the suite's difficulty order."""
    groups = [g for g in groups if g.cases]
    col_w, gap, left, top, plot_h = 64, 26, 40, 18, 150
    width, height = left + len(groups) * (col_w + gap) + 10, top + plot_h + 40

    def y(v: float) -> float:
        return top + plot_h * (1 - v)

    body = []
    for tick in (0, 0.5, 1.0):
        body.append(f'<line x1="{left - 4}" x2="{width - 6}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#dde2ea"/>')
        body.append(f'<text x="{left - 8}" y="{y(tick) + 4:.1f}" font-size="11" text-anchor="end" fill="#5f6b7a">{tick:.0%}</text>')
    for i, g in enumerate(groups):
        rate = g.failure_rate
        x0 = left + gap / 2 + i * (col_w + gap)
        body.append(
            f'<rect class="bar difficulty" data-difficulty="{esc(g.name)}" data-failure-rate="{rate:.6f}" x="{x0:.1f}" y="{y(rate):.1f}" '
            f'width="{col_w}" height="{y(0) - y(rate):.1f}" rx="3" fill="{WEAK if rate > 0.5 else (MIDDLE if rate > 0.2 else STRONG)}"/>'
        )
        body.append(f'<text x="{x0 + col_w / 2:.1f}" y="{y(rate) - 4:.1f}" font-size="12" font-weight="600" text-anchor="middle">{rate:.0%}</text>')
        body.append(f'<text x="{x0 + col_w / 2:.1f}" y="{y(0) + 16:.1f}" font-size="12" text-anchor="middle">{esc(g.name)}</text>')
        body.append(f'<text x="{x0 + col_w / 2:.1f}" y="{y(0) + 31:.1f}" font-size="11" text-anchor="middle" fill="#5f6b7a">{g.failed}/{g.cases} fail</text>')
    return _svg(width, height, "failure rate by difficulty", body, "difficulties")


def field_chart(analysis: FailureAnalysis, limit: int = 8) -> str:
    """Stacked bars: how often each field was missing, wrong, partly right or invented in failing cases."""
    fields = analysis.fields[:limit]
    label_w, span, row_h, top = 130, 300, 26, 24
    most = max(f.total for f in fields)
    width, height = label_w + span + 50, top + row_h * len(fields) + 6
    body = []
    for j, (status, colour) in enumerate(FIELD_COLOURS.items()):
        body.append(
            f'<rect x="{label_w + j * 80}" y="4" width="10" height="10" fill="{colour}"/><text x="{label_w + j * 80 + 14}" y="13" font-size="11">{status}</text>'
        )
    for i, f in enumerate(fields):
        y, x0 = top + i * row_h, float(label_w)
        body.append(f'<text x="{label_w - 8}" y="{y + 14}" font-size="12" text-anchor="end">{esc(f.name)}</text>')
        for status, colour in FIELD_COLOURS.items():
            n = getattr(f, status)
            if n:
                w = span * n / most
                body.append(
                    f'<rect class="bar field" data-field="{esc(f.name)}" data-status="{status}" data-count="{n}" x="{x0:.1f}" y="{y + 2}" width="{w:.1f}" height="16" fill="{colour}"><title>{esc(f.name)}: {n} {status}</title></rect>'
                )
                x0 += w
        body.append(f'<text x="{x0 + 6:.1f}" y="{y + 14}" font-size="12">{f.total}</text>')
    return _svg(width, height, "fields most often missing or wrong", body, "fields")
