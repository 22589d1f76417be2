"""Threshold gates: turn a RunSummary into the CI verdict, with a reason for every gate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from pytest_taskbench.settings import Settings
from pytest_taskbench.suite import GateConfig
from pytest_taskbench.summary import RunSummary


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
    return gates


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
    return Verdict(tuple(results))


def decide_exit_status(pytest_status: int, verdict_passed: bool, other_failures: int) -> int:
    """The run's exit status: the gates decide, unless pytest already stopped for another reason.

    0 and 1 are replaced (cases below the threshold alone do not fail the run);
    interrupted (2), internal error (3), usage error (4) and no tests (5) stand.
    Failures outside taskbench cases (ordinary tests, crashes) still give 1.
    """
    if pytest_status not in (0, 1):
        return pytest_status
    if other_failures:
        return 1
    return 0 if verdict_passed else 1
