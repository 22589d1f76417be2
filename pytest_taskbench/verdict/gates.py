"""Gates: the checks that decide the CI verdict, each declared once.

A gate is one function decorated with ``@gate``. The decorator declares
everything else about it: its name (the key under ``gates:`` in taskbench.yaml,
the option ``--taskbench-<name>`` and the ini key ``taskbench_<name>``), the kind
of threshold it takes (which says how the suite file and the option are read),
its help line (for ``--help`` and the docs), and whether it needs a baseline.
The function gets the threshold and the ``Evidence`` and returns its results.
Adding a gate is adding one such function here; nothing else names it.

``GateConfig`` holds the thresholds a suite configures (``parse_gates`` reads
its ``gates:`` mapping) with command-line and ini overrides applied
(``GateConfig.overridden``); ``evaluate`` runs every gate that is on, in the order
declared, after ``valid_cases``, which always runs.

Domain code: no pytest import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_taskbench import defaults
from pytest_taskbench.guards import validation
from pytest_taskbench.verdict.calibration import Agreement
from pytest_taskbench.verdict.compare import Comparison
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


@dataclass(frozen=True)
class Evidence:
    """What gates read: the suite's summary, and its comparison with the baseline when there is one."""

    summary: RunSummary | None  # None only where just the regression gates are checked (``regression_results``)
    comparison: Comparison | None = None
    calibration: tuple[Agreement, ...] = ()  # each judge's agreement with the human labels (verdict/calibration.py)


# Kinds of threshold: how a value is read from the suite file and from an option ------------------


@dataclass(frozen=True)
class ThresholdKind:
    """How one kind of threshold is read. ``metavar`` None makes the option a switch."""

    metavar: str | None
    describe: str
    from_file: Callable[[str, Any, Sequence[str]], Any]  # (key, value, categories) -> threshold
    from_option: Callable[[str, Any], Any]  # (name, raw text or list of texts) -> threshold
    json_schema: Mapping[str, Any]  # the same rule for editors (the suite file's JSON Schema)
    repeatable: bool = False


def _unit_option(name: str, raw: Any) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = raw
    return validation.unit(name, value)


def _count_option(name: str, raw: Any) -> int:
    try:
        value: Any = int(str(raw))
    except ValueError:
        value = raw
    return validation.whole(name, value, minimum=0)


def _category_minimums_from_file(key: str, value: Any, categories: Sequence[str]) -> dict[str, float]:
    if validation.is_number(value):
        return {name: validation.unit(key, value) for name in categories}
    value = validation.mapping(key, value, what="a number (every category) or a mapping of category to minimum")
    for name in value:
        if name not in categories:
            raise validation.Invalid(f"{key} names unknown category {name!r}; the suite defines {', '.join(categories)}")
    return {str(name): validation.unit(f"{key}.{name}", threshold) for name, threshold in value.items()}


def _category_minimums_from_option(name: str, raw: Any) -> dict[str, float]:
    """``CATEGORY=SCORE`` items; ``*`` stands for every category (expanded by ``GateConfig.overridden``)."""
    minimums: dict[str, float] = {}
    for item in raw if isinstance(raw, (list, tuple)) else [raw]:
        category, separator, value = str(item).partition("=")
        if not separator or not category.strip():
            raise validation.Invalid(f"{name}: expected CATEGORY=SCORE, got {item!r}")
        minimums[category.strip()] = _unit_option(name, value.strip())
    return minimums


def _switch_option(name: str, raw: Any) -> bool:
    return validation.flag(name, raw)


_UNIT_SCHEMA = {"type": "number", "minimum": 0, "maximum": 1}
UNIT = ThresholdKind("SCORE", "a number from 0 to 1", lambda key, value, _: validation.unit(key, value), _unit_option, _UNIT_SCHEMA)
COUNT = ThresholdKind(
    "N",
    "a whole number >= 0, or null to turn the gate off",
    lambda key, value, _: None if value is None else validation.whole(key, value, minimum=0),
    _count_option,
    {"type": ["integer", "null"], "minimum": 0},
)
SWITCH = ThresholdKind(None, "true or false", lambda key, value, _: validation.flag(key, value), _switch_option, {"type": "boolean"})
CATEGORY_MINIMUMS = ThresholdKind(
    "CAT=SCORE",
    "a number (every category) or a mapping of category to a number from 0 to 1",
    _category_minimums_from_file,
    _category_minimums_from_option,
    {"oneOf": [_UNIT_SCHEMA, {"type": "object", "additionalProperties": _UNIT_SCHEMA}]},
    repeatable=True,
)


# The table ----------------------------------------------------------------------------------------

Check = Callable[[Any, Evidence], Sequence[GateResult]]


@dataclass(frozen=True)
class Gate:
    """One gate's declaration; see the module docstring."""

    name: str
    kind: ThresholdKind
    help: str
    check: Check
    default: Any = None
    needs_baseline: bool = False  # a regression gate: checked only against a baseline
    reads_figures: bool = True  # reads a figure sampling noise moves (too few cases deserve a warning)

    @property
    def option_help(self) -> str:
        return f"gate: {self.help}" + (f" (default {self.default})" if self.default is not None and self.default is not False else "")


GATES: dict[str, Gate] = {}


def gate(
    name: str, kind: ThresholdKind, help: str, *, default: Any = None, needs_baseline: bool = False, reads_figures: bool = True
) -> Callable[[Check], Check]:
    """Declare a gate (see the module docstring); one name, one gate."""

    def register(check: Check) -> Check:
        if name in GATES:
            raise ValueError(f"gate {name!r} is declared twice")
        GATES[name] = Gate(name, kind, help, check, default, needs_baseline, reads_figures)
        return check

    return register


@dataclass(frozen=True)
class GateConfig:
    """Thresholds by gate name (absent: the gate's default), and the significance level the statistics use."""

    thresholds: Mapping[str, Any] = field(default_factory=dict)
    alpha: float = defaults.ALPHA

    def threshold(self, name: str) -> Any:
        return self.thresholds.get(name, GATES[name].default)

    def is_on(self, name: str) -> bool:
        value = self.threshold(name)  # 0 is a threshold (max_errors: 0), not "off"
        return value is not None and value is not False and not (isinstance(value, Mapping) and not value)

    @property
    def reads_figures(self) -> bool:
        """True when a gate that is on reads a figure that sampling noise moves."""
        return any(self.is_on(name) for name, declared in GATES.items() if declared.reads_figures)

    @property
    def wants_baseline(self) -> bool:
        return any(self.is_on(name) for name, declared in GATES.items() if declared.needs_baseline)

    def overridden(self, overrides: Mapping[str, Any], categories: Sequence[str], alpha: float | None = None) -> GateConfig:
        """These thresholds with command-line / ini values applied: a switch can only turn a gate on,
        and category minimums merge per category (``*`` sets every category)."""
        thresholds = dict(self.thresholds)
        for name, value in overrides.items():
            kind = GATES[name].kind
            if kind is SWITCH:
                thresholds[name] = bool(value) or bool(thresholds.get(name, False))
            elif kind is CATEGORY_MINIMUMS:
                merged = dict(self.threshold(name) or {})
                for category, minimum in value.items():
                    merged.update(dict.fromkeys(categories if category == "*" else [category], minimum))
                thresholds[name] = merged
            else:
                thresholds[name] = value
        return GateConfig(thresholds, self.alpha if alpha is None else alpha)


def parse_gates(value: Any, categories: Sequence[str]) -> GateConfig:
    """A suite file's ``gates:`` mapping (every gate's key, and ``alpha``); raises ``validation.Invalid``."""
    value = validation.mapping("'gates'", value or {})
    validation.only_keys("gates", value, [*GATES, "alpha"], noun="gate")
    alpha = validation.number("gates.alpha", value.get("alpha", defaults.ALPHA), above=0, maximum=0.5)
    thresholds = {name: GATES[name].kind.from_file(f"gates.{name}", raw, categories) for name, raw in value.items() if name != "alpha"}
    return GateConfig(thresholds, alpha)


def evaluate(config: GateConfig, evidence: Evidence) -> Verdict:
    """Check ``valid_cases`` and every gate that is on, in the order declared."""
    results = [_maximum("valid_cases", _summary(evidence).broken, 0, "broken case definitions")]
    for name, declared in GATES.items():
        if config.is_on(name) and (evidence.comparison is not None or not declared.needs_baseline):
            results.extend(declared.check(config.threshold(name), evidence))
    return Verdict(tuple(results))


def regression_results(config: GateConfig, comparison: Comparison) -> list[GateResult]:
    """The results of the regression gates that are on, for a comparison alone (the calibration benchmark's view)."""
    evidence = Evidence(None, comparison)
    return [
        result
        for name, declared in GATES.items()
        if declared.needs_baseline and config.is_on(name)
        for result in declared.check(config.threshold(name), evidence)
    ]


def refused_gate(message: str) -> GateResult:
    """The failing gate a run gets when its baseline cannot be compared."""
    return GateResult("baseline", False, 0, 0, f"refusing to compare: {message}")


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


# Helpers for checks -------------------------------------------------------------------------------


def _minimum(name: str, measured: float, threshold: float, what: str) -> GateResult:
    passed = measured >= threshold
    relation = ">=" if passed else "<"
    return GateResult(name, passed, measured, threshold, f"{what} {measured:.3f} {relation} {threshold:.3f}")


def _maximum(name: str, measured: int, threshold: int, what: str) -> GateResult:
    passed = measured <= threshold
    relation = "<=" if passed else ">"
    return GateResult(name, passed, measured, threshold, f"{what} {measured} {relation} {threshold}")


def _p(value: float) -> str:
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


def _summary(evidence: Evidence) -> RunSummary:
    assert evidence.summary is not None  # only regression_results() leaves it out, and it runs no other gate
    return evidence.summary


def _comparison(evidence: Evidence) -> Comparison:
    assert evidence.comparison is not None  # evaluate() runs a regression gate only with a comparison
    return evidence.comparison


# The gates, in the order their results are listed -------------------------------------------------


@gate("min_aggregate", UNIT, "fail the run when the weighted aggregate is below this")
def min_aggregate(threshold: float, evidence: Evidence) -> list[GateResult]:
    aggregate = _summary(evidence).aggregate
    return [] if aggregate is None else [_minimum("min_aggregate", aggregate, threshold, "weighted aggregate")]


@gate("min_category", CATEGORY_MINIMUMS, "CATEGORY=SCORE minimum mean for a category (repeatable; '*=SCORE' for every category)")
def min_category(minimums: Mapping[str, float], evidence: Evidence) -> list[GateResult]:
    results = []
    for name, threshold in minimums.items():
        group = _summary(evidence).category(name)
        if group is not None:
            results.append(_minimum(f"min_category[{name}]", group.mean, threshold, f"{name} mean"))
    return results


@gate("min_pass_rate", UNIT, "fail the run when the share of passing cases is below this")
def min_pass_rate(threshold: float, evidence: Evidence) -> list[GateResult]:
    summary = _summary(evidence)
    return [_minimum("min_pass_rate", summary.pass_rate, threshold, "pass rate")] if summary.cases else []


@gate("max_errors", COUNT, "most cases the model may fail to answer", default=defaults.MAX_ERRORS, reads_figures=False)
def max_errors(threshold: int, evidence: Evidence) -> list[GateResult]:
    return [_maximum("max_errors", _summary(evidence).errors, threshold, "cases the model failed to answer")]


@gate("max_judge_errors", COUNT, "most cases a model judge may give no readable verdict on", default=defaults.MAX_ERRORS, reads_figures=False)
def max_judge_errors(threshold: int, evidence: Evidence) -> list[GateResult]:
    if not evidence.calibration:
        return []  # no case was judged
    what = "cases the judge gave no readable verdict on" + (
        " (an untrusted judge's categories left out)" if not all(a.trusted for a in evidence.calibration) else ""
    )
    return [_maximum("max_judge_errors", _summary(evidence).judge_errors, threshold, what)]


@gate(
    "max_side_effects",
    COUNT,
    "most conversation cases with a critical side effect (a record the expected state keeps, deleted or changed); checked in suites with conversation cases",
    default=defaults.MAX_SIDE_EFFECTS,
    reads_figures=False,
)
def max_side_effects(threshold: int, evidence: Evidence) -> list[GateResult]:
    summary = _summary(evidence)
    if not summary.conversations:
        return []
    flagged = summary.critical_side_effects
    shown = f" ({', '.join(flagged[:5])}{' ...' if len(flagged) > 5 else ''})" if flagged else ""
    return [_maximum("max_side_effects", len(flagged), threshold, f"conversations with a critical side effect{shown}")]


@gate(
    "judge_min_agreement",
    UNIT,
    "a judge whose kappa with the human labels has a lower bound below this is not trusted: its categories are reported, not gated",
    reads_figures=False,
)
def judge_min_agreement(minimum: float, evidence: Evidence) -> list[GateResult]:
    """Never fails the run itself: it says which judges the other gates trust (``finish.py`` leaves the rest out)."""
    results = []
    for agreement in evidence.calibration:
        measured = agreement.kappa_ci.low if agreement.kappa_ci is not None else 0.0
        categories = ", ".join(agreement.categories)
        outcome = f"trusted, {categories} gated" if agreement.trusted else f"NOT trusted: {categories} reported, not gated"
        message = f"judge {agreement.judge} ({agreement.scale}): {agreement.trust}; {outcome}"
        results.append(GateResult(f"judge_min_agreement[{agreement.judge}]", True, measured, minimum, message))
    return results


@gate("strict", SWITCH, "any case below the pass threshold fails the run, not only the gates", reads_figures=False)
def strict(_: bool, evidence: Evidence) -> list[GateResult]:
    return [_maximum("strict", _summary(evidence).failed, 0, "cases below the pass threshold")]


@gate("min_aggregate_lower_bound", UNIT, "fail the run when the lower bound of the aggregate's interval is below this")
def min_aggregate_lower_bound(threshold: float, evidence: Evidence) -> list[GateResult]:
    summary = _summary(evidence)
    if summary.aggregate is None:
        return []
    what = f"lower bound of the aggregate's {100 * (1 - summary.alpha):g}% interval"
    if summary.aggregate_ci is None:
        return [GateResult("min_aggregate_lower_bound", False, 0.0, threshold, f"{what}: none on {summary.cases} cases (a category needs 2 or more)")]
    return [_minimum("min_aggregate_lower_bound", summary.aggregate_ci.low, threshold, what)]


@gate("max_flaky_cases", COUNT, "most cases whose samples disagree (some pass, some fail; needs repeats)")
def max_flaky_cases(threshold: int, evidence: Evidence) -> list[GateResult]:
    sampling = _summary(evidence).sampling
    flaky = sampling.flaky if sampling is not None else ()
    shown = ", ".join(f"{f.nodeid} {f.passes}/{f.samples}" for f in flaky[:3]) + (" ..." if len(flaky) > 3 else "")
    result = _maximum("max_flaky_cases", len(flaky), threshold, "flaky cases (samples disagree)")
    return [GateResult(result.name, result.passed, result.measured, result.threshold, result.message + (f" ({shown})" if shown else ""))]


@gate("min_case_pass_rate", UNIT, "fail the run when a case passes less than this share of its samples (without repeats: any failing case)")
def min_case_pass_rate(threshold: float, evidence: Evidence) -> list[GateResult]:
    summary = _summary(evidence)
    if not summary.cases:
        return []
    if summary.sampling is None:
        lowest, below = (0.0, summary.failed) if summary.failed else (1.0, 0)
        examples = ""
    else:
        cases = summary.sampling.below(threshold)
        lowest, below = summary.sampling.rates[0][1], len(cases)
        examples = ", ".join(f"{key} {rate:.0%}" for key, rate in cases[:3]) + (" ..." if len(cases) > 3 else "")
    relation = ">=" if not below else "<"
    message = f"lowest share of a case's samples that pass {lowest:.3f} {relation} {threshold:.3f}" + (
        f"; {below} case(s) below ({examples})" if examples else ""
    )
    return [GateResult("min_case_pass_rate", not below, lowest, threshold, message)]


def _stated(comparison: Comparison) -> str:
    change = comparison.aggregate
    return f"aggregate change {change.change:+.3f} ({_p(change.p_value)}): {change.verdict}"


@gate("fail_on_significant_regression", SWITCH, "fail the run when the aggregate drops significantly against the baseline", needs_baseline=True)
def significant_regression(_: bool, evidence: Evidence) -> list[GateResult]:
    comparison = _comparison(evidence)
    change = comparison.aggregate
    return [GateResult("significant_regression", not change.significant_regression, change.p_value, comparison.alpha, _stated(comparison))]


@gate("max_aggregate_drop", UNIT, "fail the run when the aggregate drops significantly and by more than this", needs_baseline=True)
def max_aggregate_drop(threshold: float, evidence: Evidence) -> list[GateResult]:
    comparison = _comparison(evidence)
    change = comparison.aggregate
    too_far = change.change < -threshold
    message = f"{_stated(comparison)}; largest drop allowed {threshold:.3f}"
    if too_far and not change.significant_regression:
        message += " (exceeded, but inside the noise, so the gate holds)"
    return [GateResult("max_aggregate_drop", not (too_far and change.significant_regression), change.change, -threshold, message)]


@gate("non_inferiority_margin", UNIT, "fail unless the lower bound of the aggregate's change is above -MARGIN", needs_baseline=True)
def non_inferiority(margin: float, evidence: Evidence) -> list[GateResult]:
    comparison = _comparison(evidence)
    change, bound = comparison.aggregate, -margin
    level = f"{100 * (1 - comparison.alpha):g}%"
    if change.interval is None:
        return [GateResult("non_inferiority", change.unchanged, change.change, bound, f"no {level} interval for the change on {change.cases} shared cases")]
    low = change.interval.low
    relation = ">" if low > bound else "<="
    return [GateResult("non_inferiority", low > bound, low, bound, f"lower {level} bound of the aggregate's change {low:+.3f} {relation} {bound:+.3f}")]


@gate("fail_on_category_regression", SWITCH, "fail the run when any category regresses significantly (Holm-adjusted)", needs_baseline=True)
def category_regression(_: bool, evidence: Evidence) -> list[GateResult]:
    regressed = [group for group in _comparison(evidence).categories if group.significant_regression]
    names = ", ".join(f"{g.name} {g.change:+.3f} (Holm-adjusted {_p(g.tested_p)})" for g in regressed)
    return [GateResult("category_regression", not regressed, len(regressed), 0, f"categories with a significant regression: {names or 'none'}")]


@gate(
    "fail_on_critical_regression",
    SWITCH,
    "fail the run when a case marked critical passed in the baseline and fails now",
    needs_baseline=True,
    reads_figures=False,
)
def critical_regression(_: bool, evidence: Evidence) -> list[GateResult]:
    critical = _comparison(evidence).critical_regressions
    keys = ", ".join(c.key for c in critical[:5]) + (" ..." if len(critical) > 5 else "")
    message = f"critical cases that passed before and fail now: {len(critical)}" + (f" ({keys})" if keys else "")
    return [GateResult("critical_regression", not critical, len(critical), 0, message)]
