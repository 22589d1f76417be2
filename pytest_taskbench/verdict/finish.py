"""From one suite's case results to its ``SuiteReport``: summary, intervals, comparison, gates, analysis.

Everything here takes plain values and returns plain values: no file is read or
written and nothing is rendered (``reports/`` renders a ``SuiteReport``).

Domain code: no pytest import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pytest_taskbench.baseline import Baseline
from pytest_taskbench.results import CaseResult
from pytest_taskbench.verdict.analysis import AnalysisConfig, FailureAnalysis, analyze
from pytest_taskbench.verdict.calibration import Agreement, agreements, untrusted_categories
from pytest_taskbench.verdict.compare import ComparedSuite, Comparison, IncompatibleBaseline, compare_suite
from pytest_taskbench.verdict.gates import Evidence, GateConfig, Verdict, evaluate, refused_gate
from pytest_taskbench.verdict.sampling import summarize_samples
from pytest_taskbench.verdict.stats import with_intervals
from pytest_taskbench.verdict.summary import RunSummary, summarize


@dataclass(frozen=True)
class SuiteReport:
    """Everything known about one suite at the end of a run."""

    summary: RunSummary
    verdict: Verdict
    cases: tuple[CaseResult, ...] = ()  # every result of the suite, in run order
    counters: Mapping[str, Any] = field(default_factory=dict)
    analysis: FailureAnalysis | None = None
    comparison: Comparison | None = None  # against the baseline (--taskbench-compare)
    calibration: tuple[Agreement, ...] = ()  # each model judge's agreement with the human labels
    ungated: tuple[str, ...] = ()  # categories an untrusted judge scored: reported, not gated

    @property
    def failing(self) -> tuple[CaseResult, ...]:
        """The cases below the pass threshold, model errors and broken definitions, by node id."""
        return tuple(sorted((r for r in self.cases if not r.passed), key=lambda r: r.nodeid))


@dataclass(frozen=True)
class SuiteSetup:
    """What finishing a suite needs to know about it, as plain values."""

    compared: ComparedSuite  # its file, name, content hash, weights and the model, as a comparison names them
    difficulties: Sequence[str]
    pass_threshold: float
    band_for: Callable[[float], str]
    gates: GateConfig  # with command-line overrides applied
    analysis: AnalysisConfig
    total_in_suite: int | None = None
    min_cases: int | None = None
    notes: Sequence[str] = ()
    warnings: Sequence[str] = ()
    pass_at_k: Sequence[int] = ()  # the k of pass@k to report (empty: 1 and the most samples a case had)


@dataclass(frozen=True)
class BaselineUse:
    """The baseline this run is compared with, and how: ``updating`` shows the comparison without its gates."""

    baseline: Baseline | None = None  # none to compare with (or none yet, when updating creates it)
    shared_only: bool = False
    updating: bool = False


def finish_suite(
    results: Sequence[CaseResult], setup: SuiteSetup, *, baseline: BaselineUse, seed: int, counters: Mapping[str, Any] | None = None
) -> SuiteReport:
    """Summarise one suite's results, compare them with the baseline, check the gates, analyse the failures."""
    suite = setup.compared
    gates = setup.gates

    def summary_of(chosen: Sequence[CaseResult], notes: Sequence[str]) -> RunSummary:
        summary = summarize(
            chosen,
            suite_name=suite.name,
            suite_path=suite.file,
            weights=suite.weights,
            difficulties=setup.difficulties,
            pass_threshold=setup.pass_threshold,
            band_for=setup.band_for,
            total_in_suite=setup.total_in_suite,
            notes=notes,
        )
        summary = with_intervals(
            summary, chosen, alpha=gates.alpha, seed=seed, min_cases=setup.min_cases, gated=gates.reads_figures or baseline.baseline is not None
        )
        sampling = summarize_samples(chosen, summary.weights_used or suite.weights, setup.pass_at_k, alpha=gates.alpha, seed=seed)
        return replace(summary, sampling=sampling)

    summary = summary_of(results, setup.notes)
    summary = replace(summary, warnings=summary.warnings + tuple(setup.warnings))
    minimum = gates.threshold("judge_min_agreement") if gates.is_on("judge_min_agreement") else None
    calibration = agreements(results, alpha=gates.alpha, seed=seed, minimum=minimum)
    ungated = untrusted_categories(calibration)
    gated = [r for r in results if r.category not in ungated]
    comparison, gated_comparison, notes, refusal = _compare(results, setup, baseline, seed)
    if comparison is not None and comparison.repeats_note:
        summary = replace(summary, warnings=summary.warnings + (comparison.repeats_note,))
    gated_summary = summary
    if ungated:  # the gates read the categories whose scores are trusted
        gated_summary = summary_of(gated, ())
        gated_comparison = _compare(gated, setup, baseline, seed)[1] if gated_comparison is not None else None
        notes += _untrusted_notes(calibration, gated_summary)
    verdict = evaluate(gates, Evidence(gated_summary, gated_comparison, calibration))
    if refusal is not None:
        verdict = Verdict((*verdict.gates, refused_gate(refusal)))
    summary = replace(summary, notes=summary.notes + notes)
    analysis = analyze(results, summary, setup.analysis)
    return SuiteReport(summary, verdict, tuple(results), dict(counters or {}), analysis, comparison, calibration, ungated)


def _untrusted_notes(calibration: Sequence[Agreement], gated: RunSummary) -> tuple[str, ...]:
    notes = [f"judge {a.judge} is not trusted ({a.trust}): {', '.join(a.categories)} reported, not gated" for a in calibration if not a.trusted]
    figure = f"; their weighted aggregate {gated.aggregate:.3f}" if gated.aggregate is not None else ""
    notes.append(f"the gates read the categories a trusted scorer scored ({', '.join(c.name for c in gated.categories) or 'none'}{figure})")
    return tuple(notes)


def _compare(
    results: Sequence[CaseResult], setup: SuiteSetup, use: BaselineUse, seed: int
) -> tuple[Comparison | None, Comparison | None, tuple[str, ...], str | None]:
    """(the comparison shown, the one the gates read, notes, why the baseline was refused).

    While the baseline is being updated the comparison is shown for review but its gates are
    not applied, and a baseline from another suite is not refused: updating blesses this run,
    as syrupy's ``--snapshot-update`` does.
    """
    if use.baseline is None:
        wanted = setup.gates.wants_baseline and not use.updating
        return None, None, ("regression gates are configured but there is no baseline to compare with (--taskbench-compare)",) if wanted else (), None
    try:
        comparison = compare_suite(use.baseline, results, setup.compared, alpha=setup.gates.alpha, seed=seed, shared_only=use.shared_only or use.updating)
    except IncompatibleBaseline as exc:
        if use.updating:
            return None, None, (f"not compared with the old baseline: {exc}",), None
        return None, None, (), str(exc)
    if use.updating:
        return comparison, None, (f"updating {comparison.baseline_path}: regression gates not applied; review the diff",), None
    return comparison, comparison, (), None
