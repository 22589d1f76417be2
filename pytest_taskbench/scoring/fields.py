"""Field-by-field partial credit: the engine behind ``field_match`` and the Task API scorers.

Each expected field of an object gets a status and a credit in [0, 1]:

============  ==========================================================  ===================
status        when                                                        credit
============  ==========================================================  ===================
``match``     equal (rules below); or expected null and absent/null        1
``partial``   a ``contains_fields`` string holds the expected one          ``contains_credit``
              (case-insensitively); an object or list partly right         share that is right;
              a ``semantic`` string field close enough in meaning          its rule's credit
``missing``   absent or null in the output                                ``missing_credit``
``wrong``     any other value                                             ``wrong_credit``
``invented``  expected null (or, for default_handling, not expected at    ``wrong_credit``
              all) but the output gives a value                           (default_handling: 0)
============  ==========================================================  ===================

The score is ``sum(weight * credit) / sum(weight)`` over the checked fields (1
when there are none). Values compare as follows: strings after trimming
(``ignore_case`` folds case too); numbers within ``tolerance``; ISO dates,
datetimes at midnight and times as dates and times (``compare.as_temporal``);
nested objects field by field (credit = their own weighted score); lists as
unordered collections (credit = shared items / all distinct items).

A partial credit is never below ``wrong_credit``, and a match always earns 1,
so correcting one field never lowers the score.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pytest_taskbench.scoring import params
from pytest_taskbench.scoring.extract import ParsedOutput, parse_output, short
from pytest_taskbench.scoring.score import Score, Scorer
from pytest_taskbench.scoring.semantic import Embeddings, EmbeddingScorer, SemanticRule, semantic_fields
from pytest_taskbench.scoring.values import as_temporal, first_difference, json_type

if TYPE_CHECKING:
    from pytest_taskbench.cases import Case

Status = Literal["match", "partial", "missing", "wrong", "invented"]
REASON_PROBLEMS = 4


@dataclass(frozen=True)
class FieldRules:
    """How fields are weighted and credited; build one with ``field_rules`` (which checks the values)."""

    weights: Mapping[str, float] = field(default_factory=dict)
    default_weight: float = 1.0
    missing_credit: float = 0.0
    wrong_credit: float = 0.0
    contains_credit: float = 0.5
    contains_fields: frozenset[str] = frozenset()
    ignore_case: bool = False
    ignore: frozenset[str] = frozenset()
    tolerance: float = 0.0
    semantic: Mapping[str, SemanticRule] = field(default_factory=dict)  # string fields credited by meaning (scoring/semantic.py)

    def weight(self, name: str) -> float:
        return self.weights.get(name, self.default_weight)


def field_rules(
    *,
    weights: Any = None,
    default_weight: Any = 1.0,
    missing_credit: Any = 0.0,
    wrong_credit: Any = 0.0,
    contains_credit: Any = 0.5,
    contains_fields: Any = (),
    ignore_case: Any = False,
    ignore: Any = (),
    tolerance: Any = 0.0,
    semantic: Any = None,
    embeddings: Embeddings | None = None,
) -> FieldRules:
    """Check scorer parameters and build ``FieldRules``. Raises ValueError naming a bad parameter."""
    return FieldRules(
        weights=params.weights("weights", weights),
        default_weight=params.non_negative("default_weight", default_weight),
        missing_credit=params.unit("missing_credit", missing_credit),
        wrong_credit=params.unit("wrong_credit", wrong_credit),
        contains_credit=params.unit("contains_credit", contains_credit),
        contains_fields=params.names("contains_fields", contains_fields),
        ignore_case=params.flag("ignore_case", ignore_case),
        ignore=params.names("ignore", ignore),
        tolerance=params.non_negative("tolerance", tolerance),
        semantic=semantic_fields(semantic, embeddings),
    )


@dataclass(frozen=True)
class FieldResult:
    """The verdict on one field."""

    status: Status
    credit: float
    weight: float
    expected: Any
    got: Any
    fields: Mapping[str, FieldResult] | None = None
    similarity: float | None = None  # for a field credited by meaning

    def as_details(self) -> dict[str, Any]:
        details: dict[str, Any] = {
            "status": self.status,
            "expected": self.expected,
            "got": self.got,
            "credit": round(self.credit, 6),
            "weight": self.weight,
        }
        if self.fields is not None:
            details["fields"] = fields_details(self.fields)
        if self.similarity is not None:
            details["similarity"] = round(self.similarity, 6)
        return details


def compare_fields(expected: Mapping[str, Any], got: Mapping[str, Any], rules: FieldRules) -> dict[str, FieldResult]:
    """One result per expected field that ``rules.ignore`` does not name, in expected order."""
    return {name: compare_field(name, value, got.get(name), rules) for name, value in expected.items() if name not in rules.ignore}


def compare_field(name: str, expected: Any, got: Any, rules: FieldRules) -> FieldResult:
    """Judge one field; ``got`` is None when the output lacks it or gives null."""
    weight = rules.weight(name)

    def result(status: Status, credit: float, nested: Mapping[str, FieldResult] | None = None) -> FieldResult:
        return FieldResult(status, credit, weight, expected, got, nested)

    if got is None:
        return result("match", 1.0) if expected is None else result("missing", rules.missing_credit)
    if expected is None:
        return result("invented", rules.wrong_credit)
    if isinstance(expected, Mapping) and isinstance(got, Mapping):
        nested = compare_fields(expected, got, rules)
        credit = weighted_credit(nested)
        return result(_graded(credit, rules), max(credit, rules.wrong_credit), nested)
    if isinstance(expected, list) and isinstance(got, list):
        credit = _overlap(expected, got, rules)
        return result(_graded(credit, rules), max(credit, rules.wrong_credit))
    if _scalars_equal(expected, got, rules):
        return result("match", 1.0)
    contained = rules.contains_credit if name in rules.contains_fields and _contains(expected, got) else 0.0
    rule = rules.semantic.get(name)
    if rule is not None and isinstance(expected, str) and isinstance(got, str):
        similarity = rule.similarity(expected.strip(), got.strip())
        credit = max(contained, rule.credit * rule.value(similarity))
        status: Status = "partial" if credit > rules.wrong_credit else "wrong"
        return FieldResult(status, max(credit, rules.wrong_credit), weight, expected, got, None, similarity)
    if contained:
        return result("partial", max(contained, rules.wrong_credit))
    return result("wrong", rules.wrong_credit)


def _graded(credit: float, rules: FieldRules) -> Status:
    if credit >= 1.0:
        return "match"
    return "partial" if credit > rules.wrong_credit else "wrong"


def _normal_text(text: str, rules: FieldRules) -> str:
    text = text.strip()
    return text.casefold() if rules.ignore_case else text


def _scalars_equal(expected: Any, got: Any, rules: FieldRules) -> bool:
    when = as_temporal(expected)
    if when is not None and when == as_temporal(got):
        return True
    if isinstance(expected, str) and isinstance(got, str):
        return _normal_text(expected, rules) == _normal_text(got, rules)
    return first_difference(expected, got, rules.tolerance) is None


def _contains(expected: Any, got: Any) -> bool:
    if not (isinstance(expected, str) and isinstance(got, str)):
        return False
    needle = expected.strip().casefold()
    return bool(needle) and needle in got.casefold()


def _overlap(expected: list[Any], got: list[Any], rules: FieldRules) -> float:
    """Shared items over all distinct items (a multiset Jaccard index); 1 when both are empty."""

    def key(item: Any) -> str:
        if isinstance(item, str):
            return _normal_text(item, rules)
        return json.dumps(item, sort_keys=True, ensure_ascii=False)

    left, right = Counter(map(key, expected)), Counter(map(key, got))
    union = sum((left | right).values())
    return 1.0 if union == 0 else sum((left & right).values()) / union


def weighted_credit(results: Mapping[str, FieldResult]) -> float:
    """``sum(weight * credit) / sum(weight)``, or 1 when nothing carries weight."""
    total = sum(result.weight for result in results.values())
    if total <= 0:
        return 1.0
    return min(1.0, max(0.0, sum(result.weight * result.credit for result in results.values()) / total))


def fields_details(results: Mapping[str, FieldResult]) -> dict[str, Any]:
    return {name: result.as_details() for name, result in results.items()}


def describe(results: Mapping[str, FieldResult]) -> str:
    """A one-line reason: "all 4 fields match", or the count and the first few problems."""
    if not results:
        return "no fields to check"
    problems = [_problem(name, result) for name, result in results.items() if result.status != "match"]
    if not problems:
        return f"all {len(results)} fields match" if len(results) > 1 else "the field matches"
    shown = "; ".join(problems[:REASON_PROBLEMS]) + (f"; +{len(problems) - REASON_PROBLEMS} more" if len(problems) > REASON_PROBLEMS else "")
    return f"{len(results) - len(problems)}/{len(results)} fields match; {shown}"


def _problem(name: str, result: FieldResult) -> str:
    if result.status == "missing":
        return f"{name} missing"
    if result.status == "invented":
        return f"{name} invented: {short(result.got)}"
    verb = "partly right" if result.status == "partial" else "wrong"
    meaning = f" (similarity {result.similarity:.2f})" if result.similarity is not None else ""
    return f"{name} {verb}: expected {short(result.expected)}, got {short(result.got)}{meaning}"


def invalid_json(parsed: ParsedOutput, details: Mapping[str, Any] | None = None) -> Score:
    """Score 0 for an output that does not parse, with the parse error as the reason."""
    return Score(0.0, f"invalid JSON: {parsed.error}", parsed.details() if details is None else details)


def object_failure(parsed: ParsedOutput, details: Mapping[str, Any]) -> Score | None:
    """Score 0 when the output is not JSON or not a JSON object; None when it is an object."""
    if not parsed.ok:
        return invalid_json(parsed, details)
    if not isinstance(parsed.value, dict):
        return Score(0.0, f"output is a JSON {json_type(parsed.value)}, not an object", details)
    return None


def score_fields(results: Mapping[str, FieldResult], details: Mapping[str, Any], prefix: str = "") -> Score:
    """The weighted score of field results, with ``fields`` added to the details."""
    reason = describe(results)
    return Score(weighted_credit(results), f"{prefix}{reason}", {**details, "fields": fields_details(results)})


def score_object(parsed: ParsedOutput, expected: Any, rules: FieldRules, details: Mapping[str, Any] | None = None) -> Score:
    """Field credit of a parsed output against an expected object (a non-object is compared whole, as field ``$``)."""
    merged = {**parsed.details(), **(details or {})}
    if not isinstance(expected, Mapping):
        if not parsed.ok:
            return invalid_json(parsed, merged)
        whole = dataclasses.replace(rules, weights={}, default_weight=1.0)
        return score_fields({"$": compare_field("$", expected, parsed.value, whole)}, merged)
    failure = object_failure(parsed, merged)
    if failure is not None:
        return failure
    return score_fields(compare_fields(expected, parsed.value, rules), merged)


def semantic_texts(expected: Any, got: Any, rules: FieldRules) -> dict[str, list[str]]:
    """Model name -> the strings ``compare_fields`` will embed for these values (so the run embeds them ahead, in batches)."""
    texts: dict[str, list[str]] = {}

    def walk(expected: Any, got: Any) -> None:
        if not (isinstance(expected, Mapping) and isinstance(got, Mapping)):
            return
        for name, value in expected.items():
            if name in rules.ignore:
                continue
            other = got.get(name)
            rule = rules.semantic.get(name)
            if rule is not None and isinstance(value, str) and isinstance(other, str) and not _scalars_equal(value, other, rules):
                texts.setdefault(rule.model, []).extend([value.strip(), other.strip()])
            walk(value, other)

    if rules.semantic:
        walk(expected, got)
    return texts


def with_semantic(score: Scorer, rules: FieldRules, expected_of: Callable[[Case], Any], extract: bool) -> Scorer:
    """``score`` as an ``EmbeddingScorer`` when ``rules`` credit a field by meaning (so the run embeds ahead), else unchanged."""
    if not rules.semantic:
        return score

    def texts(output: str, case: Case) -> dict[str, list[str]]:
        parsed = parse_output(output, extract=extract)
        return semantic_texts(expected_of(case), parsed.value, rules) if parsed.ok else {}

    return EmbeddingScorer(score, texts)
