"""Pure rendering of a finished run: terminal lines and a JSON-serialisable summary.

Nothing here computes a figure; it formats what ``summary`` and ``gates`` computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_taskbench.guards.display import safe_text
from pytest_taskbench.results import CaseResult
from pytest_taskbench.verdict.analysis import FailureAnalysis
from pytest_taskbench.verdict.compare import Comparison, flat_comparison_properties
from pytest_taskbench.verdict.gates import Verdict
from pytest_taskbench.verdict.stats import Interval
from pytest_taskbench.verdict.summary import GroupSummary, RunSummary

MAX_FAILING_SHOWN = 10


@dataclass(frozen=True)
class SuiteReport:
    """Everything known about one suite at the end of a run."""

    summary: RunSummary
    verdict: Verdict
    cases: tuple[CaseResult, ...] = ()  # every result of the suite, in run order
    counters: Mapping[str, Any] = field(default_factory=dict)
    analysis: FailureAnalysis | None = None
    comparison: Comparison | None = None  # against the baseline (--taskbench-compare)

    @property
    def failing(self) -> tuple[CaseResult, ...]:
        """The cases below the pass threshold, model errors and broken definitions, by node id."""
        return tuple(sorted((r for r in self.cases if not r.passed), key=lambda r: r.nodeid))

    def lines(self, verbose: int = 0) -> list[str]:
        return terminal_lines(self, verbose)

    def to_dict(self) -> dict[str, Any]:
        return summary_dict(self)


def _pct(value: float) -> str:
    return f"{100 * value:5.1f}%"


def _table(title: str, groups: Sequence[GroupSummary], with_weight: bool) -> list[str]:
    names = [safe_text(g.name) for g in groups]
    width = max([len(title)] + [len(name) for name in names])
    header = f"{title:<{width}}  cases   mean  pass rate" + ("  weight" if with_weight else "")
    rows = [header]
    for name, g in zip(names, groups):
        row = f"{name:<{width}}  {g.cases:5d}  {g.mean:5.3f}     {_pct(g.pass_rate)}"
        if with_weight:
            row += f"  {g.weight or 0.0:6.2f}"
        if g.errors:
            row += f"  ({g.errors} model error{'s' if g.errors > 1 else ''})"
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
    if s.aggregate is not None:
        lines.append(f"aggregate (category-weighted mean score): {s.aggregate:.3f}  [{s.band}]")
        lines.extend(aggregate_interval_lines(s))
        lines.append(f"pass rate: {s.passed}/{s.cases} cases scored >= {s.pass_threshold:g} ({_pct(s.pass_rate).strip()})")
        lines.extend(pass_rate_interval_lines(s))
    for note in s.notes:
        lines.append(f"note: {safe_text(note)}")
    lines.extend(f"warning: {safe_text(warning)}" for warning in s.warnings)
    if report.comparison is not None:
        lines.extend(report.comparison.lines(verbose))
    if report.counters:
        lines.append(generation_line(report.counters))
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
        lines.extend(report.analysis.lines())
    lines.append(verdict_line(report))
    return lines


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
    return f"generation: {served} outputs ({sources}{elsewhere}) in {seconds:.1f}s{loaded}"


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


def summary_dict(report: SuiteReport) -> dict[str, Any]:
    s = report.summary

    def groups(items: Sequence[GroupSummary]) -> dict[str, dict[str, Any]]:
        return {
            g.name: {"cases": g.cases, "mean": g.mean, "pass_rate": g.pass_rate, "passed": g.passed, "errors": g.errors}
            | ({"weight": g.weight} if g.weight is not None else {})
            | {"mean_ci": _ci_dict(g.mean_ci), "pass_rate_ci": _ci_dict(g.pass_rate_ci)}
            for g in items
        }

    return {
        "suite": s.suite_name,
        "suite_path": s.suite_path,
        "aggregate": s.aggregate,
        "band": s.band,
        "pass_threshold": s.pass_threshold,
        "cases": s.cases,
        "passed": s.passed,
        "failed": s.failed,
        "errors": s.errors,
        "broken": s.broken,
        "total_in_suite": s.total_in_suite,
        "subset": s.is_subset,
        "weights_used": dict(s.weights_used),
        "categories": groups(s.categories),
        "difficulties": groups(s.difficulties),
        "notes": list(s.notes),
        "gates": [{"name": g.name, "passed": g.passed, "measured": g.measured, "threshold": g.threshold, "message": g.message} for g in report.verdict.gates],
        "verdict": "pass" if report.verdict.passed else "fail",
        "failing_cases": [r.nodeid for r in report.failing],
        "statistics": statistics_dict(s),
        "warnings": list(s.warnings),
        "comparison": None if report.comparison is None else report.comparison.to_dict(),
        "generation": dict(report.counters),
        "analysis": None if report.analysis is None else report.analysis.to_dict(),
    }


def _ci_dict(interval: Interval | None) -> dict[str, Any] | None:
    return None if interval is None else interval.to_dict()


def statistics_dict(s: RunSummary) -> dict[str, Any]:
    """The aggregate's uncertainty and how it was computed."""
    return {
        "aggregate_ci": _ci_dict(s.aggregate_ci),
        "aggregate_se": s.aggregate_se,
        "pass_rate_ci": _ci_dict(s.pass_rate_ci),
        "minimum_detectable_effect": s.min_detectable_effect,
        "alpha": s.alpha,
        "seed": s.seed,
    }


def flat_properties(report: SuiteReport, with_suite_prefix: bool = False) -> list[tuple[str, str]]:
    """Session-level figures as (name, value) pairs for JUnit XML <properties>."""
    s = report.summary
    prefix = f"taskbench.{s.suite_name}." if with_suite_prefix else "taskbench."
    pairs: list[tuple[str, str]] = [
        (prefix + "suite", s.suite_name),
        (prefix + "aggregate", "" if s.aggregate is None else f"{s.aggregate:.6f}"),
        (prefix + "band", s.band),
        (prefix + "cases", str(s.cases)),
        (prefix + "passed", str(s.passed)),
        (prefix + "verdict", "pass" if report.verdict.passed else "fail"),
    ]
    for g in s.categories:
        pairs.append((f"{prefix}category.{g.name}.mean", f"{g.mean:.6f}"))
        pairs.append((f"{prefix}category.{g.name}.pass_rate", f"{g.pass_rate:.6f}"))
        pairs.append((f"{prefix}category.{g.name}.cases", str(g.cases)))
    for gate in report.verdict.gates:
        pairs.append((f"{prefix}gate.{gate.name}", ("pass: " if gate.passed else "fail: ") + gate.message))
    if s.aggregate_ci is not None and s.aggregate_se is not None:
        pairs += [(prefix + "aggregate_ci_low", f"{s.aggregate_ci.low:.6f}"), (prefix + "aggregate_ci_high", f"{s.aggregate_ci.high:.6f}")]
        pairs.append((prefix + "aggregate_se", f"{s.aggregate_se:.6f}"))
    if report.comparison is not None:
        pairs += flat_comparison_properties(report.comparison, prefix)
    return pairs
