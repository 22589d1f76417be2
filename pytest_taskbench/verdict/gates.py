"""Threshold gates: turn a RunSummary into the CI verdict, with a reason for every gate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from pytest_taskbench.settings import Settings
from pytest_taskbench.suite import GateConfig
from pytest_taskbench.verdict.summary import RunSummary


@dataclass(frozen=True)
class GateResult:
    """One gate's outcome: ``measured`` compared with ``threshold``."""

    name: str
    passed: bool
    measured: float
    threshold: float
    message: str


@dataclass(frozen=True)
class Verdict:
    gates: tuple[GateResult, ...]

    @property
    def passed(self) -> bool:
        return all(gate.passed for gate in self.gates)

    @property
    def failed_gates(self) -> tuple[GateResult, ...]:
        return tuple(gate for gate in self.gates if not gate.passed)


def effective_gates(suite_gates: GateConfig, settings: Settings, categories: Sequence[str]) -> GateConfig:
    """The suite's gates with command-line / ini overrides applied."""
    gates = suite_gates
    if settings.min_aggregate is not None:
        gates = replace(gates, min_aggregate=settings.min_aggregate)
    if settings.min_pass_rate is not None:
        gates = replace(gates, min_pass_rate=settings.min_pass_rate)
    if settings.max_errors is not None:
        gates = replace(gates, max_errors=settings.max_errors)
    if settings.strict:
        gates = replace(gates, strict=True)
    if settings.min_category:
        merged = dict(gates.min_category)
        for name, threshold in settings.min_category.items():
            for category in categories if name == "*" else [name]:
                merged[category] = threshold
        gates = replace(gates, min_category=merged)
    return _statistical_overrides(gates, settings)


_STAT_OVERRIDES = ("alpha", "min_aggregate_lower_bound", "max_aggregate_drop", "non_inferiority_margin")
_STAT_SWITCHES = ("fail_on_significant_regression", "fail_on_category_regression", "fail_on_critical_regression")


def _statistical_overrides(gates: GateConfig, settings: Settings) -> GateConfig:
    """Command-line / ini values for the interval and regression gates (a switch can only turn a gate on)."""
    values = {name: getattr(settings, name) for name in _STAT_OVERRIDES if getattr(settings, name) is not None}
    values.update({name: True for name in _STAT_SWITCHES if getattr(settings, name)})
    return replace(gates, **values) if values else gates


def gated_on_figures(gates: GateConfig) -> bool:
    """True when a gate reads a figure that sampling noise moves (so too few cases deserve a warning)."""
    return bool(
        gates.min_aggregate is not None
        or gates.min_category
        or gates.min_pass_rate is not None
        or gates.min_aggregate_lower_bound is not None
        or gates.fail_on_significant_regression
        or gates.max_aggregate_drop is not None
        or gates.non_inferiority_margin is not None
        or gates.fail_on_category_regression
    )


def _minimum(name: str, measured: float, threshold: float, what: str) -> GateResult:
    passed = measured >= threshold
    relation = ">=" if passed else "<"
    return GateResult(name, passed, measured, threshold, f"{what} {measured:.3f} {relation} {threshold:.3f}")


def _maximum(name: str, measured: int, threshold: int, what: str) -> GateResult:
    passed = measured <= threshold
    relation = "<=" if passed else ">"
    return GateResult(name, passed, measured, threshold, f"{what} {measured} {relation} {threshold}")


def evaluate_gates(summary: RunSummary, gates: GateConfig) -> Verdict:
    """Check every configured gate. Broken case definitions always fail the run."""
    results: list[GateResult] = [_maximum("valid_cases", summary.broken, 0, "broken case definitions")]
    if gates.min_aggregate is not None and summary.aggregate is not None:
        results.append(_minimum("min_aggregate", summary.aggregate, gates.min_aggregate, "weighted aggregate"))
    for name, threshold in gates.min_category.items():
        category = summary.category(name)
        if category is not None:
            results.append(_minimum(f"min_category[{name}]", category.mean, threshold, f"{name} mean"))
    if gates.min_pass_rate is not None and summary.cases:
        results.append(_minimum("min_pass_rate", summary.pass_rate, gates.min_pass_rate, "pass rate"))
    if gates.max_errors is not None:
        results.append(_maximum("max_errors", summary.errors, gates.max_errors, "cases the model failed to answer"))
    if gates.strict:
        results.append(_maximum("strict", summary.failed, 0, "cases below the pass threshold"))
    if gates.min_aggregate_lower_bound is not None and summary.aggregate is not None:
        results.append(_lower_bound(summary, gates.min_aggregate_lower_bound))
    return Verdict(tuple(results))


def _lower_bound(summary: RunSummary, threshold: float) -> GateResult:
    interval = summary.aggregate_ci
    what = f"lower bound of the aggregate's {100 * (1 - summary.alpha):g}% interval"
    if interval is None:
        return GateResult("min_aggregate_lower_bound", False, 0.0, threshold, f"{what}: none on {summary.cases} cases (a category needs 2 or more)")
    return _minimum("min_aggregate_lower_bound", interval.low, threshold, what)


def decide_exit_status(pytest_status: int, verdict_passed: bool, other_failures: int, stopped_early: bool = False) -> int:
    """The run's exit status: the gates decide, unless pytest already stopped for another reason.

    0 and 1 are replaced (cases below the threshold alone do not fail the run);
    interrupted (2), internal error (3), usage error (4) and no tests (5) stand,
    and so does the status of a run stopped early (``-x``, ``--maxfail``).
    Failures outside taskbench cases (ordinary tests, crashes) still give 1.
    """
    if pytest_status not in (0, 1) or stopped_early:
        return pytest_status
    if other_failures:
        return 1
    return 0 if verdict_passed else 1
