"""JSON scorers usable by any suite: json_equal, json_subset, json_schema and field_match.

Each parses the output with ``parse_output`` (``extract_json`` decides whether
JSON inside prose or a code fence counts) and compares it with ``case.expected``
made plain by ``jsonable``. Every score's details carry ``extracted`` and
``parse_error``; an output that does not parse scores 0 with reason
"invalid JSON: <parse error>".
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from jsonschema.exceptions import SchemaError, best_match
from jsonschema.protocols import Validator
from jsonschema.validators import Draft202012Validator, validator_for

from pytest_taskbench.scoring import params
from pytest_taskbench.scoring.extract import clip, jsonable, parse_output
from pytest_taskbench.scoring.fields import field_rules, invalid_json, score_object, with_semantic
from pytest_taskbench.scoring.registry import scorer
from pytest_taskbench.scoring.score import Score, Scorer
from pytest_taskbench.scoring.semantic import Embeddings
from pytest_taskbench.scoring.values import extra_keys, first_difference

if TYPE_CHECKING:
    from pytest_taskbench.cases import Case

SCHEMA_MESSAGE_LIMIT = 300


@scorer("json_equal")
def json_equal(*, tolerance: float = 0.0, extract_json: bool = False) -> Scorer:
    """1 when the output is the expected JSON value (key order and whitespace ignored), else 0.

    Args:
        tolerance: numbers within this absolute distance are equal (``true`` never equals ``1``).
        extract_json: also accept JSON inside prose or a code fence.
    """
    tolerance = params.non_negative("tolerance", tolerance)
    extract = params.flag("extract_json", extract_json)

    def score(output: str, case: Case) -> Score:
        parsed = parse_output(output, extract=extract)
        if not parsed.ok:
            return invalid_json(parsed)
        difference = first_difference(jsonable(case.expected), parsed.value, tolerance)
        if difference is None:
            return Score(1.0, "equal JSON", {**parsed.details(), "difference": None})
        return Score(0.0, difference.reason, {**parsed.details(), "difference": difference.as_details()})

    return score


@scorer("json_subset")
def json_subset(*, extra: str = "allow", extra_penalty: float = 0.25, tolerance: float = 0.0, extract_json: bool = False) -> Scorer:
    """Every expected key must be present and equal (nested objects too); keys beyond them are allowed or penalised.

    Args:
        extra: "allow" (extra keys cost nothing) or "penalise".
        extra_penalty: with "penalise", each extra key subtracts this much (1 forbids extras).
        tolerance: numbers within this absolute distance are equal.
        extract_json: also accept JSON inside prose or a code fence.
    """
    mode = params.choice("extra", extra, ("allow", "penalise"))
    penalty = params.unit("extra_penalty", extra_penalty) if mode == "penalise" else 0.0
    tolerance = params.non_negative("tolerance", tolerance)
    extract = params.flag("extract_json", extract_json)

    def score(output: str, case: Case) -> Score:
        parsed = parse_output(output, extract=extract)
        if not parsed.ok:
            return invalid_json(parsed)
        expected = jsonable(case.expected)
        difference = first_difference(expected, parsed.value, tolerance, extra_keys=False)
        extras = extra_keys(expected, parsed.value)
        details = {**parsed.details(), "difference": difference and difference.as_details(), "extra_keys": extras}
        if difference is not None:
            return Score(0.0, difference.reason, details)
        value = max(0.0, 1.0 - penalty * len(extras))
        if not extras:
            return Score(1.0, "all expected keys match", details)
        verdict = f"penalised {penalty:g} each" if penalty else "allowed"
        return Score(value, f"expected keys match; {len(extras)} extra key(s) {verdict}: {', '.join(extras[:5])}", details)

    return score


@scorer("json_schema")
def json_schema(*, schema: Mapping[str, Any] | None = None, extract_json: bool = False) -> Scorer:
    """1 when the output is JSON valid under the schema, else 0 (use format_compliance for 0.5 on a schema violation).

    Args:
        schema: a JSON Schema object; defaults to the suite's ``schema:`` (inline or a file).
        extract_json: also accept JSON inside prose or a code fence.
    """
    validator = compiled_schema(require_schema(schema, "json_schema"))
    return schema_scorer(validator, extract=params.flag("extract_json", extract_json), violation_score=0.0)


def schema_scorer(validator: Validator, *, extract: bool, violation_score: float) -> Scorer:
    """1 for JSON valid under the schema, ``violation_score`` for JSON that breaks it, 0 for output that does not parse.

    Details always hold ``schema_error`` (message or None), ``schema_path`` (JSONPath of the
    offending value or None) and ``schema_errors`` (how many errors; 0 when valid).
    """

    def score(output: str, case: Case) -> Score:
        parsed = parse_output(output, extract=extract)
        problem = schema_violation(validator, parsed.value) if parsed.ok else None
        details = {**parsed.details(), **(problem or {"schema_error": None, "schema_path": None, "schema_errors": 0})}
        if not parsed.ok:
            return invalid_json(parsed, details)
        if problem is None:
            return Score(1.0, "valid JSON under the schema", details)
        return Score(violation_score, f"schema violation at {problem['schema_path']}: {problem['schema_error']}", details)

    return score


def require_schema(schema: Any, scorer_name: str) -> Mapping[str, Any]:
    """The schema a scorer was given (usually the suite's ``schema:``). Raises ValueError when there is none."""
    if schema is None:
        raise ValueError(f"{scorer_name} needs a JSON Schema: set 'schema:' in taskbench.yaml or give the scorer a 'schema' mapping")
    if not isinstance(schema, Mapping):
        raise ValueError(f"schema must be a JSON Schema object, got {type(schema).__name__}")
    return schema


def compiled_schema(schema: Mapping[str, Any]) -> Validator:
    """A validator for the schema, built once per distinct schema however many scorers use it.

    Raises:
        ValueError: the schema itself is invalid.
    """
    return _compile(json.dumps(jsonable(schema), sort_keys=True))


@functools.lru_cache(maxsize=64)
def _compile(schema_text: str) -> Validator:
    schema = json.loads(schema_text)
    validator_class = validator_for(schema, default=Draft202012Validator)
    try:
        validator_class.check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"invalid JSON Schema at {exc.json_path}: {exc.message}") from None
    return validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)


def schema_violation(validator: Validator, instance: Any) -> dict[str, Any] | None:
    """None when valid; otherwise the most relevant error as details keys ``schema_error``, ``schema_path``, ``schema_errors``."""
    try:
        errors = list(validator.iter_errors(instance))
        if not errors:
            return None
        error = best_match(errors)
        message, path = error.message, error.json_path
    except Exception as exc:  # a schema that cannot be applied (a bad regex) must not crash a case
        message, path, errors = f"cannot validate: {type(exc).__name__}: {exc}", "$", []
    return {"schema_error": clip(message, SCHEMA_MESSAGE_LIMIT), "schema_path": path, "schema_errors": max(len(errors), 1)}


@scorer("field_match")
def field_match(
    *,
    weights: Mapping[str, float] | None = None,
    default_weight: float = 1.0,
    missing_credit: float = 0.0,
    wrong_credit: float = 0.0,
    contains_credit: float = 0.5,
    contains_fields: list[str] | tuple[str, ...] = (),
    ignore_case: bool = False,
    ignore: list[str] | tuple[str, ...] = (),
    tolerance: float = 0.0,
    extract_json: bool = False,
    semantic: Any = None,
    embeddings: Embeddings | None = None,
) -> Scorer:
    """Partial credit over the expected object's fields (see ``fields.py`` for statuses and credits).

    Args:
        weights: per-field weights, e.g. ``{priority: 3, title: 2}``; unlisted fields weigh ``default_weight``.
        missing_credit: credit for a field the output lacks (or gives as null).
        wrong_credit: credit for a field with a wrong value.
        contains_credit: credit when a ``contains_fields`` string holds the expected one, case-insensitively.
        contains_fields: fields that earn ``contains_credit`` by containment (e.g. ``[title]``).
        ignore_case: strings that differ only in case match.
        ignore: expected fields never scored.
        tolerance: numbers within this absolute distance match.
        extract_json: also accept JSON inside prose or a code fence.
        semantic: string fields credited by meaning: a field name or list, or field -> ``{model, threshold,
            scale, floor, credit}`` (``scoring/semantic.py``; needs an embedding model in the suite).
        embeddings: the run's embedding models (filled in by the run).
    """
    rules = field_rules(
        weights=weights,
        default_weight=default_weight,
        missing_credit=missing_credit,
        wrong_credit=wrong_credit,
        contains_credit=contains_credit,
        contains_fields=contains_fields,
        ignore_case=ignore_case,
        ignore=ignore,
        tolerance=tolerance,
        semantic=semantic,
        embeddings=embeddings,
    )
    extract = params.flag("extract_json", extract_json)

    def score(output: str, case: Case) -> Score:
        return score_object(parse_output(output, extract=extract), jsonable(case.expected), rules)

    return with_semantic(score, rules, lambda case: jsonable(case.expected), extract)
