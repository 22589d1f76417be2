"""Failure analysis: why a run scored what it scored.

Everything here reads what a run already produced: the ``RunSummary`` for
category and difficulty figures (never recomputed) and each ``CaseResult``'s
scorer details for the patterns behind the failures:

* strengths and weaknesses: categories at or above ``strength`` (0.90) and below
  ``weakness`` (0.80), each with a recommendation that names the category's most
  common failure;
* invalid JSON: which cases the scorer could not parse (``details["parse_error"]``);
* a confusion matrix on one field (``action`` by default) over every scored case
  whose expected object has that field: expected value by the output's value;
* fields most often missing, wrong, partly right or invented in failing cases
  (``details["fields"]``, nested fields as ``filter.status``);
* functions most often wrong, missing or extra in the failing cases of a tool-call
  suite (``details["call_results"]``: ``scoring/tool_calls.py``);
* failure rate by difficulty, and mean score by category and difficulty.

Configure it in ``taskbench.yaml``::

    analysis:
      strength: 0.9          # categories at or above this are strengths
      weakness: 0.8          # categories below this are weaknesses
      confusion_field: action  # null turns the confusion matrix off

Domain code: no pytest import.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_taskbench import defaults
from pytest_taskbench.formatting import count, percent
from pytest_taskbench.results import CaseResult
from pytest_taskbench.scoring.details import observed
from pytest_taskbench.scoring.extract import parse_output
from pytest_taskbench.verdict.summary import GroupSummary, RunSummary

INVALID = "(invalid JSON)"
MISSING = "(missing)"
SHOWN_IN_LINE = 5
FIELD_STATUSES = ("missing", "wrong", "partial", "invented")
CALL_STATUSES = ("wrong", "partial", "missing", "extra")


@dataclass(frozen=True)
class AnalysisConfig:
    """Thresholds for strengths and weaknesses, and the field the confusion matrix is drawn on."""

    strength: float = defaults.STRENGTH
    weakness: float = defaults.WEAKNESS
    confusion_field: str | None = None  # the field whose expected-by-output table to draw, e.g. "action"


@dataclass(frozen=True)
class CategoryNote:
    """A strength or a weakness: one category, its mean score and what to do about it."""

    category: str
    mean: float
    cases: int
    recommendation: str


@dataclass(frozen=True)
class FieldProblems:
    """How often one field was not right in the failing cases."""

    name: str
    missing: int = 0
    wrong: int = 0
    partial: int = 0
    invented: int = 0

    @property
    def total(self) -> int:
        return self.missing + self.wrong + self.partial + self.invented

    def describe(self) -> str:
        parts = [f"{getattr(self, status)} {status}" for status in FIELD_STATUSES if getattr(self, status)]
        return f"{self.name} {self.total} ({', '.join(parts)})"


@dataclass(frozen=True)
class FunctionProblems:
    """How often calls to one function were not right in the failing cases of a tool-call suite."""

    name: str
    wrong: int = 0  # called as expected with wrong arguments
    partial: int = 0  # called as expected with arguments partly right
    missing: int = 0  # expected and not called
    extra: int = 0  # called and not expected

    @property
    def total(self) -> int:
        return self.wrong + self.partial + self.missing + self.extra

    def describe(self) -> str:
        parts = [f"{getattr(self, status)} {status}" for status in CALL_STATUSES if getattr(self, status)]
        return f"{self.name} {self.total} ({', '.join(parts)})"


@dataclass(frozen=True)
class ConfusionMatrix:
    """Expected value (rows) by the output's value (columns) of one field, with the cases in each cell."""

    field: str
    expected_labels: tuple[str, ...]
    got_labels: tuple[str, ...]
    cells: Mapping[tuple[str, str], tuple[str, ...]]

    def count(self, expected: str, got: str) -> int:
        return len(self.cells.get((expected, got), ()))

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.cells.values())

    @property
    def correct(self) -> int:
        return sum(len(ids) for (expected, got), ids in self.cells.items() if expected == got)

    def confusions(self) -> list[tuple[str, str, int]]:
        """Off-diagonal cells, most frequent first: (expected, got, count)."""
        pairs = [(e, g, len(ids)) for (e, g), ids in self.cells.items() if e != g]
        return sorted(pairs, key=lambda pair: (-pair[2], pair[0], pair[1]))


@dataclass(frozen=True)
class CrossCell:
    """Cases of one category at one difficulty."""

    category: str
    difficulty: str
    cases: int
    mean: float
    passed: int


@dataclass(frozen=True)
class ConversationFindings:
    """Where conversations go wrong: the turn each failing one first went wrong at, and the side effects by kind."""

    cases: int
    failing: int
    first_wrong_turn: Mapping[int, int]  # turn number -> failing conversations that first went wrong there
    side_effects: Mapping[str, int]  # kind (deleted, modified, added) -> how many, over every conversation
    flagged: tuple[str, ...]  # the cases with a critical side effect

    def describe(self) -> str:
        turns = ", ".join(f"turn {turn}: {number}" for turn, number in sorted(self.first_wrong_turn.items())) or "none"
        effects = ", ".join(f"{kind} {number}" for kind, number in sorted(self.side_effects.items())) or "none"
        return f"{self.failing} of {self.cases} conversations fail; first wrong at {turns}; unintended changes: {effects}"


def conversation_findings(scored: Sequence[CaseResult]) -> ConversationFindings | None:
    """The conversation figures of a suite's results (None: it has no conversation case)."""
    conversations = [r for r in scored if r.conversation is not None]
    if not conversations:
        return None
    failing = [r for r in conversations if not r.passed]
    turns = Counter(int(r.conversation["first_wrong_turn"]) for r in failing if r.conversation and r.conversation.get("first_wrong_turn"))
    effects = Counter(str(effect.get("kind")) for r in conversations for effect in r.side_effects)
    flagged = tuple(r.case_id for r in conversations if r.critical_side_effects)
    return ConversationFindings(len(conversations), len(failing), dict(turns), dict(effects), flagged)


@dataclass(frozen=True)
class FailureAnalysis:
    """The patterns behind a run's failures; render it, never recompute it."""

    config: AnalysisConfig
    failing: int
    strengths: tuple[CategoryNote, ...] = ()
    weaknesses: tuple[CategoryNote, ...] = ()
    parse_errors: tuple[str, ...] = ()
    model_errors: tuple[str, ...] = ()
    confusion: ConfusionMatrix | None = None
    fields: tuple[FieldProblems, ...] = ()
    functions: tuple[FunctionProblems, ...] = ()
    by_difficulty: tuple[GroupSummary, ...] = ()
    categories: tuple[str, ...] = ()
    cross: tuple[CrossCell, ...] = field(default_factory=tuple)
    conversations: ConversationFindings | None = None

    def cell(self, category: str, difficulty: str) -> CrossCell | None:
        return next((c for c in self.cross if c.category == category and c.difficulty == difficulty), None)

    @property
    def difficulty_trend(self) -> str:
        """A sentence on how the failure rate moves with difficulty (in the suite's order)."""
        groups = [g for g in self.by_difficulty if g.cases]
        if len(groups) < 2:
            return ""
        rates = [g.failure_rate for g in groups]
        if all(b >= a for a, b in zip(rates, rates[1:])):
            return "rises with difficulty" if rates[-1] > rates[0] else "flat across difficulty"
        if all(b <= a for a, b in zip(rates, rates[1:])):
            return "falls with difficulty"
        worst = max(range(len(groups)), key=lambda i: rates[i])
        return f"not monotonic: {groups[worst].name} fails most"


def analyze(results: Iterable[CaseResult], summary: RunSummary, config: AnalysisConfig = AnalysisConfig()) -> FailureAnalysis:
    """Analyse one suite's results.

    Args:
        results: the suite's case results (broken case definitions are ignored).
        summary: the suite's summary, the source of every category and difficulty figure.
        config: thresholds and the confusion field.

    Returns:
        The analysis, ready for the terminal, HTML and Markdown renderers.
    """
    scored = [r for r in results if r.status != "broken"]
    failing = [r for r in scored if not r.passed]
    confusion = confusion_matrix(scored, config.confusion_field) if config.confusion_field else None
    strengths = tuple(
        CategoryNote(g.name, g.mean, g.cases, f"reliable: keep its {count(g.cases, 'case')} as a regression guard")
        for g in summary.categories
        if g.mean >= config.strength
    )
    weaknesses = tuple(
        CategoryNote(g.name, g.mean, g.cases, recommend(g, [r for r in failing if r.category == g.name], config.confusion_field))
        for g in sorted(summary.categories, key=lambda g: g.mean)
        if g.mean < config.weakness
    )
    return FailureAnalysis(
        config=config,
        failing=len(failing),
        strengths=strengths,
        weaknesses=weaknesses,
        parse_errors=tuple(r.case_id for r in failing if r.status == "scored" and r.details.get("parse_error")),
        model_errors=tuple(r.case_id for r in failing if r.status == "error"),
        confusion=confusion,
        fields=field_problems(failing),
        functions=function_problems(failing),
        by_difficulty=summary.difficulties,
        categories=tuple(g.name for g in summary.categories),
        cross=cross_table(scored, [g.name for g in summary.categories], [g.name for g in summary.difficulties]),
        conversations=conversation_findings(scored),
    )


def recommend(category: GroupSummary, failing: Sequence[CaseResult], confusion_field: str | None) -> str:
    """A recommendation for a weak category that names its most common failure."""
    current = f"(current {percent(category.mean)})"
    name = category.name
    if not failing:
        return f"add training data for {name}: its cases pass but score low {current}"
    parse_errors = sum(bool(r.details.get("parse_error")) for r in failing if r.status == "scored")
    if 2 * parse_errors >= len(failing):
        return (
            f"make {name} outputs valid JSON: {parse_errors} of {len(failing)} failures are parse errors; add format examples or constrained decoding {current}"
        )
    matrix = confusion_matrix(failing, confusion_field) if confusion_field else None
    confusions = [c for c in matrix.confusions() if c[1] not in (INVALID, MISSING)] if matrix is not None else []
    if confusions and 2 * confusions[0][2] >= len(failing):
        expected, got, n = confusions[0]
        return f"add training data that tells {expected} from {got} in {name}: {n} of {len(failing)} failures answer {got} for {expected} {current}"
    confused = sum(n for _, _, n in confusions)
    if confusions and 2 * confused >= len(failing):
        top = ", ".join(f"{e} -> {g} {n}" for e, g, n in confusions[:3])
        return f"add training data for {name} that separates the {confusion_field} values it confuses most: {top} ({confused} of {len(failing)} failures) {current}"
    calls = [r for r in failing if _calls_a_wrong_function(r)]
    if calls and 2 * len(calls) >= len(failing):
        worst = sorted(function_problems(calls), key=lambda p: (-(p.missing + p.extra), p.name))[:3]
        named = "; ".join(
            f"{p.name} " + ", ".join(f"{n} {what}" for n, what in ((p.missing, "missing"), (p.extra, "extra")) if n) for p in worst if p.missing + p.extra
        )
        return f"add training data for {name} that calls the right functions: {len(calls)} of {len(failing)} failures miss a call or make an extra one ({named}) {current}"
    fields = field_problems(failing)
    if fields:
        return f"add training data for {name} covering {fields[0].name} (not right in {count(fields[0].total, 'failing case')}) {current}"
    return f"add training data for {name} {current}"


def _as_object(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _label(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def field_values(result: CaseResult, name: str) -> tuple[str, str] | None:
    """(expected, got) labels of one field for a scored case whose expected object has it; else None.

    The output's value comes from the scorer's details when it recorded one
    (``observed[<name>]`` or ``fields[<name>]["got"]``: ``scoring/details.py``), otherwise from parsing the output.
    """
    expected = _as_object(result.expected)
    if result.status != "scored" or result.output is None or not isinstance(expected, Mapping) or name not in expected:
        return None
    details = result.details
    got: Any
    if details.get("parse_error"):
        return _label(expected[name]), INVALID
    known, got = observed(details, name)
    if not known:
        parsed = parse_output(result.output, extract=bool(details.get("extracted")))
        if not parsed.ok or not isinstance(parsed.value, Mapping):
            return _label(expected[name]), INVALID
        got = parsed.value.get(name)
    return _label(expected[name]), MISSING if got is None else _label(got)


def confusion_matrix(results: Iterable[CaseResult], name: str | None) -> ConfusionMatrix | None:
    """The confusion matrix of field ``name``, or None when no case expects that field."""
    if not name:
        return None
    cells: dict[tuple[str, str], list[str]] = {}
    for result in results:
        pair = field_values(result, name)
        if pair is not None:
            cells.setdefault(pair, []).append(result.case_id)
    if not cells:
        return None
    expected_labels = sorted({e for e, _ in cells})
    special = [label for label in (MISSING, INVALID) if any(g == label for _, g in cells)]
    got_labels = expected_labels + sorted({g for _, g in cells} - set(expected_labels) - set(special)) + special
    return ConfusionMatrix(name, tuple(expected_labels), tuple(got_labels), {pair: tuple(ids) for pair, ids in sorted(cells.items())})


def _walk_fields(fields: Any, prefix: str = "") -> Iterable[tuple[str, str]]:
    if not isinstance(fields, Mapping):
        return
    for name, detail in fields.items():
        if not isinstance(detail, Mapping):
            continue
        if isinstance(detail.get("fields"), Mapping):
            yield from _walk_fields(detail["fields"], f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", str(detail.get("status", ""))


def field_problems(failing: Iterable[CaseResult]) -> tuple[FieldProblems, ...]:
    """Per field, how many failing cases had it missing, wrong, partly right or invented; worst first."""
    counts: dict[str, Counter[str]] = {}
    for result in failing:
        for name, status in _walk_fields(result.details.get("fields")):
            if status in FIELD_STATUSES:
                counts.setdefault(name, Counter())[status] += 1
    problems = [FieldProblems(name, **{s: c[s] for s in FIELD_STATUSES}) for name, c in counts.items()]
    return tuple(sorted(problems, key=lambda p: (-(p.missing + p.wrong), -p.total, p.name)))


def _calls_a_wrong_function(result: CaseResult) -> bool:
    """Whether a tool-call case missed an expected call or made an extra one (rather than getting arguments wrong)."""
    results = result.details.get("call_results")
    return isinstance(results, list) and any(isinstance(call, Mapping) and call.get("status") in ("missing", "extra") for call in results)


def function_problems(failing: Iterable[CaseResult]) -> tuple[FunctionProblems, ...]:
    """Per function, how many calls to it were wrong, partly right, missing or extra in the failing cases; worst first."""
    counts: dict[str, Counter[str]] = {}
    for result in failing:
        results = result.details.get("call_results")
        for call in results if isinstance(results, list) else []:
            if isinstance(call, Mapping) and isinstance(call.get("function"), str) and call.get("status") in CALL_STATUSES:
                counts.setdefault(call["function"], Counter())[call["status"]] += 1
    problems = [FunctionProblems(name, **{s: c[s] for s in CALL_STATUSES}) for name, c in counts.items()]
    return tuple(sorted(problems, key=lambda p: (-p.total, p.name)))


def cross_table(results: Sequence[CaseResult], categories: Sequence[str], difficulties: Sequence[str]) -> tuple[CrossCell, ...]:
    """Mean score and passes per (category, difficulty) that has cases, in summary order."""
    buckets: dict[tuple[str, str], list[CaseResult]] = {}
    for result in results:
        buckets.setdefault((result.category, result.difficulty), []).append(result)
    return tuple(
        CrossCell(c, d, len(rs), sum(r.score for r in rs) / len(rs), sum(r.passed for r in rs))
        for c in categories
        for d in difficulties
        if (rs := buckets.get((c, d)))
    )
