"""Pure rendering of a finished run: terminal lines and a JSON-serialisable summary.

Nothing here computes a figure; it formats what ``summary`` and ``gates`` computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_taskbench.analysis import FailureAnalysis
from pytest_taskbench.gates import Verdict
from pytest_taskbench.results import CaseResult
from pytest_taskbench.summary import GroupSummary, RunSummary

MAX_FAILING_SHOWN = 10


@dataclass(frozen=True)
class SuiteReport:
    """Everything known about one suite at the end of a run."""

    summary: RunSummary
    verdict: Verdict
    failing: tuple[CaseResult, ...] = ()
    counters: Mapping[str, Any] = field(default_factory=dict)
    analysis: FailureAnalysis | None = None
    cases: tuple[CaseResult, ...] = ()  # every result of the suite, for the HTML report and the samples log

    def lines(self, verbose: int = 0) -> list[str]:
        return terminal_lines(self, verbose)

    def to_dict(self) -> dict[str, Any]:
        return summary_dict(self)


def _pct(value: float) -> str:
    return f"{100 * value:5.1f}%"


def _table(title: str, groups: Sequence[GroupSummary], with_weight: bool) -> list[str]:
    width = max([len(title)] + [len(g.name) for g in groups])
    header = f"{title:<{width}}  cases   mean  pass rate" + ("  weight" if with_weight else "")
    rows = [header]
    for g in groups:
        row = f"{g.name:<{width}}  {g.cases:5d}  {g.mean:5.3f}     {_pct(g.pass_rate)}"
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
    if s.aggregate is not None:
        lines.append(f"aggregate (category-weighted mean score): {s.aggregate:.3f}  [{s.band}]")
        lines.append(f"pass rate: {s.passed}/{s.cases} cases scored >= {s.pass_threshold:g} ({_pct(s.pass_rate).strip()})")
    for note in s.notes:
        lines.append(f"note: {note}")
    if report.counters:
        lines.append(generation_line(report.counters))
    lines.append("gates:")
    for gate in verdict.gates:
        lines.append(f"  {'PASS' if gate.passed else 'FAIL'} {gate.name}: {gate.message}")
    if report.failing:
        shown = report.failing if verbose > 0 else report.failing[:MAX_FAILING_SHOWN]
        lines.append(f"cases below the pass threshold or failed: {len(report.failing)}" + (f" (first {len(shown)}; -v shows all)" if len(shown) < len(report.failing) else ""))
        for result in shown:
            lines.append(f"  {result.nodeid}  {result.score:.2f}  {_one_line(result.reason)}")
    if report.analysis is not None:
        lines.extend(report.analysis.lines())
    lines.append(verdict_line(report))
    return lines


def generation_line(counters: Mapping[str, Any]) -> str:
    generated = int(counters.get("generated", 0))
    cached = int(counters.get("cached", 0))
    seconds = float(counters.get("generation_seconds", 0.0))
    return f"generation: {generated + cached} outputs ({generated} generated, {cached} from cache) in {seconds:.1f}s"


def verdict_line(report: SuiteReport) -> str:
    failed = report.verdict.failed_gates
    if failed:
        return f"verdict: FAIL ({len(failed)} gate{'s' if len(failed) > 1 else ''} failed: {', '.join(g.name for g in failed)})"
    below = report.summary.failed
    tail = f"; {below} case{'s' if below != 1 else ''} below the pass threshold" if below else ""
    return f"verdict: PASS (all gates hold{tail})"


def _one_line(text: str, limit: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def summary_dict(report: SuiteReport) -> dict[str, Any]:
    s = report.summary

    def groups(items: Sequence[GroupSummary]) -> dict[str, dict[str, Any]]:
        return {
            g.name: {"cases": g.cases, "mean": g.mean, "pass_rate": g.pass_rate, "passed": g.passed, "errors": g.errors}
            | ({"weight": g.weight} if g.weight is not None else {})
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
        "gates": [
            {"name": g.name, "passed": g.passed, "measured": g.measured, "threshold": g.threshold, "message": g.message}
            for g in report.verdict.gates
        ],
        "verdict": "pass" if report.verdict.passed else "fail",
        "failing_cases": [r.nodeid for r in report.failing],
        "generation": dict(report.counters),
        "analysis": None if report.analysis is None else report.analysis.to_dict(),
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
    return pairs
