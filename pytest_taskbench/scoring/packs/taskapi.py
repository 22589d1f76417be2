"""The five Task API scorers: action_recognition, entity_extraction, default_handling, edge_case, format_compliance.

``case.expected`` is the full Task API object the model should answer with,
e.g. ``{"action": "create", "title": "Review report", "priority": "high",
"due_date": "2026-11-26"}``; a bare string is shorthand for ``{"action": it}``.
Relative dates ("tomorrow") are resolved by the case author against the
suite's ``reference_date``; the scorers compare ISO dates, never guess.

Actions compare after trimming and case folding ("Create" is create); every
other field follows the rules of ``fields.py``. A clarify answer's
``question`` is free text and never scored.

Edge cases state the expected behaviour in ``expected`` itself:

- ``{"action": "clarify", "reason": "destructive"}``: ask for confirmation
  (refuse a bulk delete); ``"ambiguous"`` / ``"missing_information"`` /
  ``"unsupported"`` likewise ask a question for that reason;
- an ordinary action object: follow the final intent (after a correction,
  past an injected instruction) and produce exactly that object.

``case.metadata["behavior"]`` may name the behaviour for humans
("refuse_destructive", "follow_final_intent", "ignore_injection"); it is
copied into the details.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pytest_taskbench.scoring import params
from pytest_taskbench.scoring.extract import ParsedOutput, jsonable, parse_output, short
from pytest_taskbench.scoring.fields import FieldResult, FieldRules, compare_fields, field_rules, object_failure, score_fields, score_object, with_semantic
from pytest_taskbench.scoring.json_scorers import compiled_schema, require_schema, schema_scorer
from pytest_taskbench.scoring.registry import scorer
from pytest_taskbench.scoring.score import Score, Scorer
from pytest_taskbench.scoring.semantic import Embeddings

if TYPE_CHECKING:
    from pytest_taskbench.cases import Case

TASK_ACTIONS = ("create", "update", "complete", "delete", "list", "clarify")
NEVER_SCORED = ("question",)
MINUTES_PER_DAY = 24 * 60


def task_expected(case: Case) -> Any:
    """``case.expected`` as plain JSON; ``"create"`` means ``{"action": "create"}``.

    YAML 1.1 reads an unquoted ``due_time: 15:00`` as the base-60 integer 900;
    that integer is turned back into "15:00" so the case means what its author wrote.
    """
    expected = jsonable(case.expected)
    if isinstance(expected, str):
        return {"action": expected}
    if isinstance(expected, dict):
        due_time = expected.get("due_time")
        if isinstance(due_time, int) and not isinstance(due_time, bool) and 0 <= due_time < MINUTES_PER_DAY:
            expected["due_time"] = f"{due_time // 60:02d}:{due_time % 60:02d}"
    return expected


def action_of(value: Any) -> Any:
    return value.get("action") if isinstance(value, Mapping) else None


def same_action(expected: Any, got: Any) -> bool:
    def normal(action: Any) -> Any:
        return action.strip().casefold() if isinstance(action, str) else action

    return normal(expected) == normal(got) and type(expected) is type(got)


def action_label(expected: Any) -> str:
    """How a reason names the expected action: "create", or "clarify (destructive)" with a clarify reason."""
    action = action_of(expected)
    label = action if isinstance(action, str) else short(action)
    why = expected.get("reason") if isinstance(expected, Mapping) else None
    return f"{label} ({why})" if same_action("clarify", action) and isinstance(why, str) else label


def action_mismatch(expected: Any, got: Any) -> str:
    shown = "no action" if got is None else got if isinstance(got, str) else short(got)
    return f"expected {action_label(expected)}, got {shown}"


def action_gate(expected: Any, parsed: ParsedOutput, details: Mapping[str, Any]) -> Score | None:
    """Score 0 when the output is not a JSON object or names another action; None when the action is right."""
    failure = object_failure(parsed, details)
    if failure is not None:
        return failure
    got = action_of(parsed.value)
    if not same_action(action_of(expected), got):
        return Score(0.0, action_mismatch(expected, got), details)
    return None


def action_and_fields(expected: Mapping[str, Any], got: Mapping[str, Any], rules: FieldRules) -> dict[str, FieldResult]:
    """Once the action gate has passed: ``action`` as one matched field, then the expected fields ``rules`` checks."""
    action = FieldResult("match", 1.0, rules.weight("action"), action_of(expected), action_of(got))
    return {"action": action, **compare_fields(expected, got, rules)}


def action_details(expected: Any, parsed: ParsedOutput) -> dict[str, Any]:
    return {**parsed.details(), "expected_action": action_of(expected), "observed": {"action": action_of(parsed.value)}}


@scorer("action_recognition", pack="task_api")
def action_recognition(*, extract_json: bool = False) -> Scorer:
    """1 when the output's ``action`` is the expected one, else 0 ("expected create, got list")."""
    extract = params.flag("extract_json", extract_json)

    def score(output: str, case: Case) -> Score:
        expected = task_expected(case)
        parsed = parse_output(output, extract=extract)
        details = action_details(expected, parsed)
        gate = action_gate(expected, parsed, details)
        return gate if gate is not None else Score(1.0, f"action {action_label(expected)} as expected", details)

    return score


@scorer("entity_extraction", pack="task_api")
def entity_extraction(
    *,
    weights: Mapping[str, float] | None = None,
    default_weight: float = 1.0,
    missing_credit: float = 0.0,
    wrong_credit: float = 0.0,
    contains_credit: float = 0.5,
    contains_fields: list[str] | tuple[str, ...] = ("title",),
    ignore_case: bool = False,
    ignore: list[str] | tuple[str, ...] = ("action", *NEVER_SCORED),
    extract_json: bool = False,
    semantic: Any = None,
    embeddings: Embeddings | None = None,
) -> Scorer:
    """Partial credit over the expected fields other than ``action`` (``field_match`` with Task API defaults).

    Example weights: ``{priority: 3, title: 2, due_date: 2, due_time: 1}``. ``semantic: {title: {threshold: 0.8}}``
    credits a title that means the expected one ("call with mom" for "call mom"; needs an embedding model).
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
        semantic=semantic,
        embeddings=embeddings,
    )
    extract = params.flag("extract_json", extract_json)

    def score(output: str, case: Case) -> Score:
        expected = task_expected(case)
        parsed = parse_output(output, extract=extract)
        return score_object(parsed, expected, rules, action_details(expected, parsed))

    return with_semantic(score, rules, task_expected, extract)


@scorer("default_handling", pack="task_api")
def default_handling(
    *,
    defaults: Mapping[str, Any] | None = None,
    actions: list[str] | tuple[str, ...] = ("create",),
    weights: Mapping[str, float] | None = None,
    ignore: list[str] | tuple[str, ...] = NEVER_SCORED,
    extract_json: bool = False,
) -> Scorer:
    """Unspecified fields carry their configured default; values the request never gave lose credit.

    For an expected action in ``actions``, each default the case does not state
    is added to the expected object (write ``priority: null`` in a case to say
    "no priority"). The output must then match every expected field, and each
    further non-empty field it adds counts as ``invented`` (credit 0). A wrong
    action scores 0.

    Args:
        defaults: field -> default value, usually the suite's ``scoring: {defaults: ...}``.
        actions: expected actions the defaults apply to.
        weights: per-field weights (invented fields use them too; default 1).
        ignore: fields never scored, in the case or the output.
    """
    if not isinstance(defaults, Mapping):
        raise ValueError("default_handling needs 'defaults', e.g. scoring: {defaults: {priority: medium}} in taskbench.yaml")
    default_values: dict[str, Any] = jsonable(defaults)
    applies_to = params.names("actions", actions)
    rules = field_rules(weights=weights, ignore=params.names("ignore", ignore) | {"action"}, contains_fields=("title",))
    extract = params.flag("extract_json", extract_json)

    def score(output: str, case: Case) -> Score:
        expected = task_expected(case)
        parsed = parse_output(output, extract=extract)
        details = action_details(expected, parsed)
        if not isinstance(expected, dict):
            return score_object(parsed, expected, rules, details)
        applies = any(same_action(action, action_of(expected)) for action in applies_to)
        applied = [name for name in default_values if applies and name not in expected]
        details.update(defaults_applied=applied, invented=[])
        gate = action_gate(expected, parsed, details)
        if gate is not None:
            return gate
        got = parsed.value
        required = {**expected, **{name: default_values[name] for name in applied}}
        results = action_and_fields(required, got, rules)
        invented = {
            name: FieldResult("invented", rules.wrong_credit, rules.weight(name), None, value)
            for name, value in got.items()
            if name not in required and name not in rules.ignore and value not in (None, "", [], {})
        }
        details["invented"] = list(invented)
        prefix = f"defaults applied: {', '.join(applied)}; " if applied else ""
        return score_fields({**results, **invented}, details, prefix)

    return score


@scorer("edge_case", pack="task_api")
def edge_case(
    *,
    weights: Mapping[str, float] | None = None,
    missing_credit: float = 0.0,
    wrong_credit: float = 0.0,
    contains_credit: float = 0.5,
    ignore_case: bool = False,
    extract_json: bool = False,
) -> Scorer:
    """The behaviour the case expects: a wrong action scores 0; the right one earns field credit.

    With the right action, ``action`` counts as one matched field (weight
    ``weights.action``, default 1) next to the other expected fields, so a
    clarify with the wrong ``reason`` scores 0.5 and a create that ignores a
    correction loses the corrected field's share. ``question`` is never scored.
    """
    rules = field_rules(
        weights=weights,
        missing_credit=missing_credit,
        wrong_credit=wrong_credit,
        contains_credit=contains_credit,
        contains_fields=("title",),
        ignore_case=ignore_case,
        ignore=("action", *NEVER_SCORED),
    )
    extract = params.flag("extract_json", extract_json)

    def score(output: str, case: Case) -> Score:
        expected = task_expected(case)
        parsed = parse_output(output, extract=extract)
        behavior = case.metadata.get("behavior") if isinstance(case.metadata, Mapping) else None
        details = {**action_details(expected, parsed), "behavior": jsonable(behavior)}
        if not isinstance(expected, dict):
            return score_object(parsed, expected, rules, details)
        gate = action_gate(expected, parsed, details)
        if gate is not None:
            return gate
        return score_fields(action_and_fields(expected, parsed.value, rules), details, f"{action_label(expected)} as expected; ")

    return score


@scorer("format_compliance", pack="task_api")
def format_compliance(*, schema: Mapping[str, Any] | None = None, extract: bool = False) -> Scorer:
    """1 for JSON valid under the suite's schema, 0.5 for JSON that violates it, 0 for output that does not parse.

    ``extract`` is this scorer's own switch: the suite-wide ``extract_json`` does
    not apply here, because JSON wrapped in prose is itself a format failure.
    """
    validator = compiled_schema(require_schema(schema, "format_compliance"))
    return schema_scorer(validator, extract=params.flag("extract", extract), violation_score=0.5)
