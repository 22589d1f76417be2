"""The history of runs as reports: a record from a ``SuiteReport``, the trend table, the Markdown line, the HTML chart.

A *significant change* is what the paired test of the comparison with a baseline
found when that run was compared (``--taskbench-compare``): the record keeps the
comparison's verdict for the aggregate and each category, and the chart marks
those runs. Runs that were not compared carry no mark: two unpaired runs' intervals
overlapping or not is no test of a change (see docs/explanation/statistics.md).

Domain code: no pytest import.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from pytest_taskbench.guards.display import safe_text
from pytest_taskbench.history import Figure, HistoryRecord
from pytest_taskbench.reports.charts import STRONG, WEAK, esc
from pytest_taskbench.verdict.finish import SuiteReport
from pytest_taskbench.version import VERSION

TREND_RUNS = 20  # runs the HTML chart and the Markdown line show
REGRESSION, IMPROVEMENT = "significant regression", "significant improvement"


def record_from_report(
    report: SuiteReport,
    *,
    model: str,
    model_spec: str,
    suite_hash: str,
    commit: str = "",
    branch: str = "",
    shards: int | None = None,
    now: dt.datetime | None = None,
) -> HistoryRecord:
    """One suite's figures from this run, as the history keeps them."""
    s = report.summary
    moment = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    comparison = None
    if report.comparison is not None:
        c = report.comparison
        comparison = {
            "baseline": c.baseline_path,
            "aggregate": c.aggregate.verdict,
            "change": c.aggregate.change,
            "p_value": c.aggregate.p_value,
            "categories": {g.name: g.verdict for g in c.categories},
        }
    ci = s.aggregate_ci
    sampling = None
    if s.sampling is not None:
        overall = s.sampling.overall
        sampling = {f"pass@{f.k}": f.pass_at for f in overall.figures} | {f"pass^{f.k}": f.pass_all for f in overall.figures if f.k > 1}
        sampling["flaky"] = overall.flaky
    return HistoryRecord(
        time=moment.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        suite=s.suite_path,
        suite_name=s.suite_name,
        suite_hash=suite_hash,
        model=model,
        model_spec=model_spec,
        cases=s.cases,
        passed=s.passed,
        pass_rate=s.pass_rate,
        verdict="pass" if report.verdict.passed else "fail",
        aggregate=None if s.aggregate is None else Figure(s.aggregate, ci.low if ci else None, ci.high if ci else None, s.cases),
        categories={g.name: Figure(g.mean, g.mean_ci.low if g.mean_ci else None, g.mean_ci.high if g.mean_ci else None, g.cases) for g in s.categories},
        level=ci.level if ci is not None else next((g.mean_ci.level for g in s.categories if g.mean_ci is not None), None),
        commit=commit,
        branch=branch,
        comparison=comparison,
        shards=shards,
        repeats=max(s.sampling.repeats) if s.sampling is not None else 1,
        sampling=sampling,
        subset=s.is_subset,
        taskbench_version=VERSION,
    )


def _mark(record: HistoryRecord, series: str | None) -> str:
    """The paired test's verdict for the aggregate (``series`` None) or a category, when that run was compared."""
    if record.comparison is None:
        return ""
    verdict = record.comparison.get("aggregate") if series is None else dict(record.comparison.get("categories") or {}).get(series)
    return str(verdict) if verdict in (REGRESSION, IMPROVEMENT) else ""


def _value(figure: Figure | None) -> str:
    return "–" if figure is None else f"{figure.mean:.3f}"


def trend_lines(records: Sequence[HistoryRecord]) -> list[str]:
    """The trend as a terminal table, oldest first: one row per record, the change from the previous row of its suite."""
    header = ["time", "commit", "branch", "suite", "model", "cases", "aggregate", "interval", "change", "pass rate", "verdict", "vs baseline"]
    sampled = any(r.repeats > 1 for r in records)
    if sampled:  # a mean over samples and a single output differ in noise: say which runs drew samples
        header[6:6] = ["samples", "pass@1", "flaky"]
    rows: list[list[str]] = []
    previous: dict[str, float] = {}
    for r in records:
        agg = r.aggregate
        change = ""
        if agg is not None and r.suite in previous:
            change = f"{agg.mean - previous[r.suite]:+.3f}"
        if agg is not None:
            previous[r.suite] = agg.mean
        interval = "" if agg is None or agg.low is None or agg.high is None else f"[{agg.low:.3f}, {agg.high:.3f}]"
        compared = ""
        if r.comparison is not None:
            compared = str(r.comparison.get("aggregate", ""))
        shards = f" ({r.shards} shards)" if r.shards else ""
        samples = [str(r.repeats), _figure_text(r.sampling, "pass@1"), _figure_text(r.sampling, "flaky", "{:.0f}")] if sampled else []
        rows.append(
            [
                r.time[:19] + "Z",
                r.commit[:10],
                safe_text(r.branch),
                safe_text(r.suite_name),
                safe_text(_short(r.model_spec or r.model)),
                f"{r.cases}{'*' if r.subset else ''}",
                *samples,
                _value(agg),
                interval,
                change,
                f"{r.pass_rate:.1%}",
                r.verdict.upper() + shards,
                safe_text(compared),
            ]
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *rows]]
    if any(r.subset for r in records):
        lines.append("* a subset of the suite ran")
    return lines


def _figure_text(sampling: Mapping[str, float] | None, name: str, form: str = "{:.3f}") -> str:
    return "" if sampling is None or name not in sampling else form.format(sampling[name])


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


SPARKS = "▁▂▃▄▅▆▇█"


def trend_markdown(records: Sequence[HistoryRecord]) -> str:
    """One line: the aggregate over the last runs as a sparkline, and the change from the previous run."""
    points = [r for r in records[-TREND_RUNS:] if r.aggregate is not None]
    if len(points) < 2:
        return ""
    values = [r.aggregate.mean for r in points if r.aggregate is not None]
    low, high = min(values), max(values)
    spark = "".join(SPARKS[0 if high == low else round((v - low) / (high - low) * (len(SPARKS) - 1))] for v in values)
    change = values[-1] - values[-2]
    marked = sum(1 for r in points if _mark(r, None))
    line = f"**Trend** (last {len(values)} runs): {spark} {values[0]:.3f} → {values[-1]:.3f} ({change:+.3f} since the previous run"
    return line + (f"; {marked} significant change{'s' if marked != 1 else ''} against a baseline)" if marked else ")")


def trend_html(records: Sequence[HistoryRecord]) -> str:
    """The aggregate and each category over the last runs: a small chart each, points with their intervals, significant changes marked."""
    records = list(records[-TREND_RUNS:])
    if len(records) < 2:
        return ""
    categories = list(dict.fromkeys(name for r in records for name in r.categories))
    charts = [_series_chart(records, None, "aggregate")] + [_series_chart(records, name, name) for name in categories]
    return (
        f'<div class="card trend" data-runs="{len(records)}"><h3>Trend over the last {len(records)} runs</h3><div class="grid">{"".join(charts)}</div>'
        '<p class="muted">Points: each run\'s mean; whiskers: its interval; ▼ / ▲: a significant regression / improvement the paired test found '
        "against that run's baseline (--taskbench-compare). Runs not compared carry no mark.</p></div>"
    )


def _series_chart(records: Sequence[HistoryRecord], category: str | None, title: str) -> str:
    width, height, left, right, top, bottom = 340, 160, 34, 10, 14, 34
    figures = [r.aggregate if category is None else r.categories.get(category) for r in records]
    known = [f for f in figures if f is not None]
    lows = [f.low if f.low is not None else f.mean for f in known]
    highs = [f.high if f.high is not None else f.mean for f in known]
    lo, hi = max(0.0, min(lows) - 0.02), min(1.0, max(highs) + 0.02)
    if hi - lo < 0.05:
        lo, hi = max(0.0, lo - 0.025), min(1.0, hi + 0.025)
    step = (width - left - right) / max(1, len(records) - 1)

    def x(i: int) -> float:
        return left + i * step

    def y(v: float) -> float:
        return top + (height - top - bottom) * (1 - (v - lo) / ((hi - lo) or 1))

    body = [
        f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#dde2ea"/><text x="{left - 4}" y="{y(v) + 4:.1f}" font-size="10" text-anchor="end" fill="#5f6b7a">{v:.2f}</text>'
        for v in (lo, (lo + hi) / 2, hi)
    ]
    path = " ".join(f"{x(i):.1f},{y(f.mean):.1f}" for i, f in enumerate(figures) if f is not None)
    body.append(f'<polyline points="{path}" fill="none" stroke="#5b7db1" stroke-width="1.5"/>')
    series = "aggregate" if category is None else category
    for i, (record, figure) in enumerate(zip(records, figures)):
        if figure is None:
            continue
        mark = _mark(record, category)
        low = "" if figure.low is None else f"{figure.low:.6f}"
        high = "" if figure.high is None else f"{figure.high:.6f}"
        if figure.low is not None and figure.high is not None:
            body.append(
                f'<line class="interval" x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{y(figure.low):.1f}" y2="{y(figure.high):.1f}" stroke="#1f2430" stroke-width="1.2"/>'
            )
        label = f"{record.time[:16].replace('T', ' ')} {record.commit[:8]}: {figure.mean:.3f}" + (f" [{low[:5]}, {high[:5]}]" if low and high else "")
        label += f" ({record.repeats} samples per case)" if record.repeats > 1 else ""
        body.append(
            f'<circle class="run" data-series="{esc(series)}" data-run="{i}" data-time="{esc(record.time)}" data-value="{figure.mean:.6f}" data-low="{low}" data-high="{high}" '
            f'data-mark="{esc(mark)}" cx="{x(i):.1f}" cy="{y(figure.mean):.1f}" r="3.5" fill="#5b7db1"><title>{esc(label + (" · " + mark if mark else ""))}</title></circle>'
        )
        if mark:  # below the interval for a regression, above it for an improvement
            below, above = y(figure.low if figure.low is not None else figure.mean), y(figure.high if figure.high is not None else figure.mean)
            colour, glyph, at = (WEAK, "▼", below + 13) if mark == REGRESSION else (STRONG, "▲", above - 5)
            body.append(
                f'<text class="mark" data-series="{esc(series)}" data-run="{i}" data-mark="{esc(mark)}" x="{x(i):.1f}" y="{at:.1f}" font-size="12" text-anchor="middle" fill="{colour}">{glyph}</text>'
            )
    for i in {0, len(records) - 1}:  # the first and the last run's dates
        anchor = "start" if i == 0 else "end"
        body.append(f'<text x="{x(i):.1f}" y="{height - 6}" font-size="10" text-anchor="{anchor}" fill="#5f6b7a">{esc(records[i].time[:10])}</text>')
    label = f"{title} over the last {len(records)} runs"
    return (
        f'<div><h3>{esc(title)}</h3><svg class="chart trend-series" data-series="{esc(series)}" role="img" aria-label="{esc(label)}" viewBox="0 0 {width} {height}" width="100%" '
        f'style="max-width:{width}px" xmlns="http://www.w3.org/2000/svg"><title>{esc(label)}</title>{"".join(body)}</svg></div>'
    )
