"""The terminal summary: every line the plugin prints for a suite, rendered from its ``SuiteReport``.

Nothing here computes a figure. Names and texts that came from case files or the
model (categories, ids, reasons, labels) are shown with ``safe_text``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_taskbench.formatting import count, p_value, percent
from pytest_taskbench.guards.display import safe_text
from pytest_taskbench.reports.judging import calibration_lines, helpers_line
from pytest_taskbench.verdict.analysis import SHOWN_IN_LINE, FailureAnalysis
from pytest_taskbench.verdict.compare import Comparison
from pytest_taskbench.verdict.finish import SuiteReport
from pytest_taskbench.verdict.sampling import SamplingSummary
from pytest_taskbench.verdict.stats import Interval
from pytest_taskbench.verdict.summary import GroupSummary, RunSummary

MAX_FAILING_SHOWN = 10


def _table(title: str, groups: Sequence[GroupSummary], with_weight: bool) -> list[str]:
    names = [safe_text(g.name) for g in groups]
    width = max([len(title)] + [len(name) for name in names])
    header = f"{title:<{width}}  cases   mean  pass rate" + ("  weight" if with_weight else "")
    rows = [header]
    for name, g in zip(names, groups):
        row = f"{name:<{width}}  {g.cases:5d}  {g.mean:5.3f}     {percent(g.pass_rate, 1):>6}"
        if with_weight:
            row += f"  {g.weight or 0.0:6.2f}"
        if g.errors:
            row += f"  ({g.errors} model error{'s' if g.errors > 1 else ''})"
        if g.judge_errors:
            row += f"  ({g.judge_errors} judge error{'s' if g.judge_errors > 1 else ''})"
        rows.append(row)
    return rows


def terminal_lines(report: SuiteReport, verbose: int = 0) -> list[str]:
    s, verdict = report.summary, report.verdict
    lines: list[str] = []
    if s.total_in_suite is not None:
        ran = f"{s.cases} of {s.total_in_suite} cases ran"
        lines.append(ran + (" (a subset: figures cover only the cases that ran)" if s.is_subset else ""))
    else:
        lines.append(f"{s.cases} cases ran")
    if s.cases:
        lines.append("")
        lines.extend(_table("category", s.categories, with_weight=True))
        lines.append("")
        lines.extend(_table("difficulty", s.difficulties, with_weight=False))
        lines.append("")
        lines.extend(interval_lines(s))
    if s.sampling is not None:
        lines.extend(sampling_lines(s.sampling, s.alpha, verbose))
    if s.aggregate is not None:
        lines.append(f"aggregate (category-weighted mean score): {s.aggregate:.3f}  [{s.band}]")
        lines.extend(aggregate_interval_lines(s))
        lines.append(f"pass rate: {s.passed}/{s.cases} cases scored >= {s.pass_threshold:g} ({percent(s.pass_rate, 1)})")
        lines.extend(pass_rate_interval_lines(s))
    for note in s.notes:
        lines.append(f"note: {safe_text(note)}")
    lines.extend(f"warning: {safe_text(warning)}" for warning in s.warnings)
    if report.comparison is not None:
        lines.extend(comparison_lines(report.comparison, verbose))
    if report.counters:
        lines.append(generation_line(report.counters))
        if helpers_line(report.counters):
            lines.append(helpers_line(report.counters))
    lines.extend(calibration_lines(report.calibration))
    lines.append("gates:")
    for gate in verdict.gates:
        lines.append(f"  {'PASS' if gate.passed else 'FAIL'} {safe_text(gate.name)}: {safe_text(gate.message)}")
    failing = report.failing
    if failing:
        shown = failing if verbose > 0 else failing[:MAX_FAILING_SHOWN]
        lines.append(
            f"cases below the pass threshold or failed: {len(failing)}" + (f" (first {len(shown)}; -v shows all)" if len(shown) < len(failing) else "")
        )
        for result in shown:
            lines.append(f"  {safe_text(result.nodeid)}  {result.score:.2f}  {_one_line(result.reason)}")
    if report.analysis is not None:
        lines.extend(analysis_lines(report.analysis))
    lines.append(verdict_line(report))
    return lines


def sampling_lines(sampling: SamplingSummary, alpha: float, verbose: int = 0) -> list[str]:
    """pass@k and pass^k per category and overall, their intervals, and the flaky cases."""
    repeats = "/".join(str(n) for n in sampling.repeats)
    lines = [
        f"samples: {repeats} per case (policy {', '.join(safe_text(p) for p in sampling.policies)}); "
        "pass@k and pass^k from each case's samples (unbiased estimators: Chen et al. 2021, Yao et al. 2024)"
    ]
    columns = [f"pass@{k}" for k in sampling.ks] + [f"pass^{k}" for k in sampling.ks if k > 1]
    groups = [*sampling.categories, sampling.overall]
    names = [safe_text(g.name) for g in sampling.categories] + ["overall (weighted)"]
    width = max(len("category"), *(len(name) for name in names))
    lines.append(f"{'category':<{width}}  cases  " + "  ".join(f"{c:>7}" for c in columns) + "  flaky")
    for name, g in zip(names, groups):
        values = [g.at(k) for k in sampling.ks]
        cells = [f"{v.pass_at:7.3f}" if v else f"{'-':>7}" for v in values] + [
            f"{v.pass_all:7.3f}" if v else f"{'-':>7}" for k, v in zip(sampling.ks, values) if k > 1
        ]
        lines.append(f"{name:<{width}}  {g.cases:5d}  " + "  ".join(cells) + f"  {g.flaky:5d}")
    intervals = [
        f"{label}{figure.k} {_ci(interval)}"
        for figure in sampling.overall.figures
        for label, interval in (("pass@", figure.pass_at_ci), ("pass^", figure.pass_all_ci if figure.k > 1 else None))
        if interval is not None
    ]
    if intervals:
        lines.append(f"  {100 * (1 - alpha):g}% CI, cases resampled (not samples): " + "; ".join(intervals))
    flaky = sampling.flaky
    if flaky:
        shown = flaky if verbose > 0 else flaky[:MAX_FAILING_SHOWN]
        lines.append(f"flaky cases (samples disagree): {len(flaky)}" + (f" (first {len(shown)}; -v shows all)" if len(shown) < len(flaky) else ""))
        for case in shown:
            verdict = "passes" if case.passed else "fails"
            lines.append(f"  {safe_text(case.nodeid)}  {case.passes}/{case.samples} samples passed ({percent(case.rate, 0)}); the case {verdict}")
    else:
        lines.append("flaky cases (samples disagree): none")
    return lines + [""]


def _ci(interval: Interval | None, percent: bool = False) -> str:
    if interval is None:
        return "-"
    if percent:
        return f"{100 * interval.low:.1f}% to {100 * interval.high:.1f}%"
    return f"{interval.low:.3f} to {interval.high:.3f}"


def interval_lines(s: RunSummary) -> list[str]:
    """A table of each group's interval: the mean's (bootstrap) and the pass rate's (Wilson)."""
    rows = [(f"{kind} {safe_text(g.name)}", g) for kind, groups in (("category", s.categories), ("difficulty", s.difficulties)) for g in groups]
    if not any(g.pass_rate_ci is not None for _, g in rows):
        return []
    title = f"{100 * (1 - s.alpha):g}% intervals"
    width = max(len(label) for label in [title, *(label for label, _ in rows)])
    lines = [f"{title:<{width}}  {'mean (bootstrap)':<16}  pass rate (Wilson)"]
    lines += [f"{label:<{width}}  {_ci(g.mean_ci):<16}  {_ci(g.pass_rate_ci, percent=True)}" for label, g in rows]
    return lines + [""]


def aggregate_interval_lines(s: RunSummary) -> list[str]:
    if s.aggregate is None or s.aggregate_ci is None or s.aggregate_se is None:
        return []
    return [
        f"  {s.aggregate:.3f} ± {s.aggregate_se:.3f} (standard error); {100 * s.aggregate_ci.level:g}% CI "
        f"{_ci(s.aggregate_ci)} ({s.aggregate_ci.method} over cases within each category, seed {s.seed})"
    ]


def pass_rate_interval_lines(s: RunSummary) -> list[str]:
    if s.pass_rate_ci is None:
        return []
    return [f"  {100 * s.pass_rate_ci.level:g}% CI {_ci(s.pass_rate_ci, percent=True)} (Wilson)"]


def generation_line(counters: Mapping[str, Any]) -> str:
    generated, cached, saved = (int(counters.get(key, 0)) for key in ("generated", "cached", "loaded"))
    served = int(counters.get("served", generated + cached + saved))
    unused = generated + cached + saved - served
    seconds = float(counters.get("generation_seconds", 0.0))
    loads = int(counters.get("model_loads", 0))
    loaded = f"; model loaded {loads} time{'s' if loads != 1 else ''}" if loads else ""
    sources = f"{generated} generated, {cached} from cache" + (f", {saved} from saved outputs" if saved else "")
    elsewhere = f"; {unused} of them for cases another worker ran" if unused > 0 else ""
    backoffs = int(counters.get("out_of_memory_backoffs", 0))
    memory = f"; out of memory {backoffs} time{'s' if backoffs != 1 else ''}, batches split and the batch size lowered" if backoffs else ""
    return f"generation: {served} outputs ({sources}{elsewhere}) in {seconds:.1f}s{loaded}{memory}{_how_generated(counters)}"


def _how_generated(counters: Mapping[str, Any]) -> str:
    """Where a local model ran (device, dtype), or how busy a server was kept (requests in flight, requests per second)."""
    parts = []
    if counters.get("device"):
        parts.append(f"on {safe_text(str(counters['device']))}" + (f" ({safe_text(str(counters['dtype']))})" if counters.get("dtype") else ""))
    requests = int(counters.get("http_requests", 0))
    if requests:
        seconds = float(counters.get("http_seconds", 0.0))
        rate = f", {requests / seconds:.1f} requests/s" if seconds > 0 else ""
        parts.append(
            f"{requests} requests, up to {int(counters.get('http_peak_in_flight', 0))} in flight (cap {int(counters.get('http_concurrency_cap', 0))}){rate}"
        )
    return "".join(f"; {part}" for part in parts)


def verdict_line(report: SuiteReport) -> str:
    failed = report.verdict.failed_gates
    if failed:
        return f"verdict: FAIL ({len(failed)} gate{'s' if len(failed) > 1 else ''} failed: {', '.join(safe_text(g.name) for g in failed)})"
    below = report.summary.failed
    tail = f"; {below} case{'s' if below != 1 else ''} below the pass threshold" if below else ""
    return f"verdict: PASS (all gates hold{tail})"


def _one_line(text: str, limit: int = 100) -> str:
    """One line of at most ``limit`` characters: controls escaped (``\\n``), runs of spaces made one."""
    flat = " ".join(safe_text(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


MAX_CASES_SHOWN = 10


def _interval(interval: Interval | None) -> str:
    if interval is None:
        return "no interval"
    return f"{100 * interval.level:g}% CI {interval.low:+.3f} to {interval.high:+.3f}"


def comparison_lines(comparison: Comparison, verbose: int = 0) -> list[str]:
    agg = comparison.aggregate
    lines = [
        f"baseline: {safe_text(comparison.baseline_path)} (model {safe_text(comparison.baseline_model or 'unknown')}, saved {safe_text(comparison.baseline_created)})",
        f"  compared on {agg.cases} shared cases"
        + ("; the suite changed since the baseline (--taskbench-compare-shared-only)" if comparison.suite_changed else ""),
        f"aggregate {agg.mean:.3f} vs {agg.baseline_mean:.3f} baseline: {agg.change:+.3f} ({_interval(agg.interval)}), {agg.verdict} "
        f"(one-sided sign-flip {p_value(agg.p_value)}); {count(agg.regressed, 'case')} regressed, {agg.fixed} fixed (McNemar {p_value(agg.mcnemar_p)})",
    ]
    for g in comparison.categories:
        lines.append(
            f"  {safe_text(g.name)}: {g.mean:.3f} vs {g.baseline_mean:.3f}: {g.change:+.3f} ({_interval(g.interval)}), {count(g.regressed, 'case')} regressed, "
            f"{g.fixed} fixed (McNemar {p_value(g.mcnemar_p)}), {g.verdict} (Holm-adjusted one-sided sign-flip {p_value(g.tested_p)})"
        )
    lines.append(
        f"cases: {len(comparison.regressions)} regressed, {len(comparison.fixes)} fixed, {len(comparison.score_changes)} other score changes, "
        f"{len(comparison.outputs_changed)} outputs changed, {len(comparison.new_cases)} new, {len(comparison.missing_cases)} only in the baseline"
        + (f", {len(comparison.input_changed)} with a changed input (not compared)" if comparison.input_changed else "")
    )
    for title, changes in (("regressed", comparison.regressions), ("fixed", comparison.fixes)):
        shown = changes if verbose > 0 else changes[:MAX_CASES_SHOWN]
        if changes:
            lines.append(f"{title}:" + (f" (first {len(shown)} of {len(changes)}; -v shows all)" if len(shown) < len(changes) else ""))
            lines.extend(f"  {safe_text(c.key)}  {c.baseline_score:.2f} -> {c.score:.2f}" + ("  [critical]" if c.critical else "") for c in shown)
    return lines


def _first(ids: Sequence[str]) -> str:
    shown = ", ".join(safe_text(i) for i in ids[:SHOWN_IN_LINE])
    return shown + (f", +{len(ids) - SHOWN_IN_LINE} more" if len(ids) > SHOWN_IN_LINE else "")


def analysis_lines(analysis: FailureAnalysis) -> list[str]:
    """A concise block for the end of the terminal summary; every name and label shown with ``safe_text``."""
    lines = ["failure analysis:"]
    c = analysis.config
    if analysis.strengths:
        lines.append(f"  strengths (>= {c.strength:.2f}): " + ", ".join(f"{safe_text(n.category)} {percent(n.mean)}" for n in analysis.strengths))
    if analysis.weaknesses:
        lines.append(f"  weaknesses (< {c.weakness:.2f}):")
        lines.extend(f"    {safe_text(n.category)}: {safe_text(n.recommendation)}" for n in analysis.weaknesses)
    if analysis.parse_errors:
        lines.append(f"  invalid JSON: {count(len(analysis.parse_errors), 'case')} ({_first(analysis.parse_errors)})")
    if analysis.model_errors:
        lines.append(f"  model errors: {count(len(analysis.model_errors), 'case')} ({_first(analysis.model_errors)})")
    if analysis.confusion is not None:
        confusions = analysis.confusion.confusions()
        shown = ", ".join(f"{safe_text(e)} -> {safe_text(g)}: {n}" for e, g, n in confusions[:SHOWN_IN_LINE]) or "none"
        lines.append(f"  {safe_text(analysis.confusion.field)} confusions ({analysis.confusion.correct}/{analysis.confusion.total} right): {shown}")
    if analysis.fields:
        lines.append("  fields most often missing or wrong: " + "; ".join(safe_text(f.describe()) for f in analysis.fields[:SHOWN_IN_LINE]))
    if analysis.functions:
        lines.append("  functions most often wrong, missing or extra: " + "; ".join(safe_text(f.describe()) for f in analysis.functions[:SHOWN_IN_LINE]))
    if analysis.conversations is not None and (analysis.conversations.failing or analysis.conversations.side_effects):
        found = analysis.conversations
        flagged = f"; critical side effects: {_first(found.flagged)}" if found.flagged else ""
        lines.append(f"  conversations: {safe_text(found.describe())}{flagged}")
    if len([g for g in analysis.by_difficulty if g.cases]) > 1:
        rates = ", ".join(f"{safe_text(g.name)} {percent(g.failure_rate)} ({g.failed}/{g.cases})" for g in analysis.by_difficulty if g.cases)
        lines.append(f"  failure rate by difficulty: {rates}; {safe_text(analysis.difficulty_trend)}")
    return lines if len(lines) > 1 else []
