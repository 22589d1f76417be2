"""The state scorer: how close the state a conversation left is to the one it should have left, and what it broke.

States are JSON mappings. A key an environment declares as a record collection
(``RecordCollection("tasks", key="title")``) holds a list of records matched one to one:
by the key field (trimmed, case-folded) or, without a key, greedily by best field credit.
Every other top-level key is compared as one field. Fields are credited by the
field-credit engine (``scoring/fields.py``; strings case-insensitively).

The score is the mean credit over the units: each expected record (its field credit; 0
when no record matches), each record the state holds that the expected one does not (0),
and each other expected key. Identical states score 1.

Unintended changes are listed with the initial state at hand:

- ``deleted``: a record that was there at the start and that the expected state keeps is gone;
- ``modified``: a record the expected state keeps exactly as it was has changed (its fields named);
- ``added``: a record is there that neither the expected nor the initial state has.

Deleting or modifying a record the expected state keeps is a *critical side effect*: the
conversation fails with score 0 however well it did otherwise (``conversations.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_taskbench.scoring.extract import parse_output
from pytest_taskbench.scoring.fields import FieldRules, compare_field, compare_fields, describe, fields_details, weighted_credit
from pytest_taskbench.scoring.registry import scorer
from pytest_taskbench.scoring.score import Score, Scorer

SIDE_EFFECT_KINDS = ("deleted", "modified", "added")
CRITICAL_KINDS = frozenset({"deleted", "modified"})
STATE_RULES = FieldRules(ignore_case=True)


@dataclass(frozen=True)
class SideEffect:
    """One unintended change: its kind, the collection, the record (its key, or its position) and the fields changed."""

    kind: str
    collection: str
    record: str
    fields: tuple[str, ...] = ()

    @property
    def critical(self) -> bool:
        return self.kind in CRITICAL_KINDS

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "collection": self.collection, "record": self.record, "fields": list(self.fields), "critical": self.critical}

    def describe(self) -> str:
        changed = f" ({', '.join(self.fields)})" if self.fields else ""
        return f"{self.kind} {self.collection} record {self.record!r}{changed}"


@dataclass(frozen=True)
class StateComparison:
    """The state score, its reason, what each record got and the unintended changes."""

    score: float
    reason: str
    records: list[dict[str, Any]] = field(default_factory=list)
    side_effects: tuple[SideEffect, ...] = ()

    @property
    def critical(self) -> tuple[SideEffect, ...]:
        return tuple(effect for effect in self.side_effects if effect.critical)

    def details(self) -> dict[str, Any]:
        return {"records": self.records, "side_effects": [effect.as_dict() for effect in self.side_effects]}


def compare_states(
    expected: Mapping[str, Any],
    actual: Mapping[str, Any],
    collections: Mapping[str, str | None],
    initial: Mapping[str, Any] | None = None,
    rules: FieldRules = STATE_RULES,
) -> StateComparison:
    """Compare ``actual`` with ``expected``; ``collections`` maps each record list's key in the state to its key field (None: best match)."""
    credits: list[float] = []
    records: list[dict[str, Any]] = []
    effects: list[SideEffect] = []
    problems: list[str] = []
    for name, wanted in expected.items():
        if name in collections and isinstance(wanted, list):
            got = actual.get(name)
            before = (initial or {}).get(name)
            _compare_collection(
                name,
                wanted,
                got if isinstance(got, list) else [],
                before if isinstance(before, list) else None,
                collections[name],
                rules,
                credits,
                records,
                effects,
            )
        else:
            result = compare_field(name, wanted, actual.get(name), rules)
            credits.append(result.credit)
            records.append({"key": name, "status": result.status, "credit": round(result.credit, 6)})
            if result.status != "match":
                problems.append(describe({name: result}))
    score = sum(credits) / len(credits) if credits else 1.0
    score = min(1.0, max(0.0, score))
    missing = sum(1 for r in records if r["status"] == "missing_record")
    extra = sum(1 for r in records if r["status"] == "extra_record")
    wrong = sum(1 for r in records if r["status"] == "partial")
    parts = [f"{missing} expected record{'s' if missing != 1 else ''} missing"] if missing else []
    parts += [f"{wrong} record{'s' if wrong != 1 else ''} partly right"] if wrong else []
    parts += [f"{extra} record{'s' if extra != 1 else ''} not expected"] if extra else []
    parts += problems
    reason = "the state matches the expected state" if not parts else "; ".join(parts)
    return StateComparison(score, reason, records, tuple(effects))


def _norm(value: Any) -> str:
    return value.strip().casefold() if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _label(record: Any, key: str | None, index: int) -> str:
    if key is not None and isinstance(record, Mapping) and key in record:
        return str(record[key])
    return f"#{index + 1}"


def _pairs(wanted: Sequence[Any], got: Sequence[Any], key: str | None, rules: FieldRules) -> list[int | None]:
    """For each expected record, the index of the actual record it matches (None: no match)."""
    if key is not None:
        by_key: dict[str, int] = {}
        for index, record in enumerate(got):
            if isinstance(record, Mapping) and key in record:
                by_key.setdefault(_norm(record[key]), index)
        return [by_key.get(_norm(record[key])) if isinstance(record, Mapping) and key in record else None for record in wanted]
    # no key: the best-credit pairs first (greedy), each actual record used once
    scored = sorted(
        ((_credit(w, g, rules), i, j) for i, w in enumerate(wanted) for j, g in enumerate(got)),
        key=lambda item: (-item[0], item[1], item[2]),
    )
    chosen: list[int | None] = [None] * len(wanted)
    used: set[int] = set()
    for credit, i, j in scored:
        if credit > 0 and chosen[i] is None and j not in used:
            chosen[i] = j
            used.add(j)
    return chosen


def _credit(wanted: Any, got: Any, rules: FieldRules) -> float:
    if isinstance(wanted, Mapping) and isinstance(got, Mapping):
        return weighted_credit(compare_fields(wanted, got, rules))
    return 1.0 if _norm(wanted) == _norm(got) else 0.0


def _compare_collection(
    name: str,
    wanted: Sequence[Any],
    got: Sequence[Any],
    before: Sequence[Any] | None,
    key: str | None,
    rules: FieldRules,
    credits: list[float],
    records: list[dict[str, Any]],
    effects: list[SideEffect],
) -> None:
    pairs = _pairs(wanted, got, key, rules)
    initial_pairs = _pairs(wanted, before, key, rules) if before is not None else [None] * len(wanted)
    for index, (record, match, origin) in enumerate(zip(wanted, pairs, initial_pairs)):
        label = _label(record, key, index)
        kept = before is not None and origin is not None  # the record was there at the start and the expected state keeps it
        if match is None:
            credits.append(0.0)
            records.append({"collection": name, "key": label, "status": "missing_record", "credit": 0.0, "expected": record})
            if kept:
                effects.append(SideEffect("deleted", name, label))
            continue
        actual = got[match]
        if isinstance(record, Mapping) and isinstance(actual, Mapping):
            results = compare_fields(record, actual, rules)
            credit = weighted_credit(results)
            detail: dict[str, Any] = {"fields": fields_details(results)}
        else:
            credit = 1.0 if _norm(record) == _norm(actual) else 0.0
            detail = {"expected": record, "got": actual}
        credits.append(credit)
        records.append({"collection": name, "key": label, "status": "match" if credit >= 1.0 else "partial", "credit": round(credit, 6), **detail})
        if kept and before is not None and origin is not None and _same(record, before[origin]) and not _same(actual, before[origin]):
            effects.append(SideEffect("modified", name, label, _changed(before[origin], actual)))
    matched = {index for index in pairs if index is not None}
    for index, record in enumerate(got):
        if index in matched:
            continue
        label = _label(record, key, index)
        credits.append(0.0)
        records.append({"collection": name, "key": label, "status": "extra_record", "credit": 0.0, "got": record})
        if before is not None and not _was_there(record, before, key):
            effects.append(SideEffect("added", name, label))


def _same(left: Any, right: Any) -> bool:
    return json.dumps(left, sort_keys=True, ensure_ascii=False) == json.dumps(right, sort_keys=True, ensure_ascii=False)


def _was_there(record: Any, before: Sequence[Any], key: str | None) -> bool:
    """Whether ``record`` was in the initial state (by its key; without one, exactly)."""
    if key is not None and isinstance(record, Mapping) and key in record:
        return any(isinstance(other, Mapping) and key in other and _norm(other[key]) == _norm(record[key]) for other in before)
    return any(_same(record, other) for other in before)


def _changed(before: Any, after: Any) -> tuple[str, ...]:
    if not (isinstance(before, Mapping) and isinstance(after, Mapping)):
        return ()
    return tuple(sorted(name for name in {*before, *after} if not _same(before.get(name), after.get(name))))


@scorer("state")
def state(*, collections: Mapping[str, Any] | None = None, extract_json: bool = False) -> Scorer:
    """Compare a state (the output, as JSON) with the case's expected state: records matched by key or best match, fields credited.

    Conversation cases are scored by it on their final state with their environment's record
    collections and initial state (unintended changes listed); as a category scorer it compares
    any JSON state an output holds.

    Args:
        collections: the record lists, as a mapping of the state's key to the record's key field (null: best match).
        extract_json: also accept JSON inside prose or a code fence.
    """
    lists = {str(name): (None if key is None else str(key)) for name, key in (collections or {}).items()}

    def score(output: str, case: Any) -> Score:
        parsed = parse_output(output, extract=extract_json)
        expected = case.expected
        if not parsed.ok or not isinstance(parsed.value, dict):
            return Score(0.0, f"the output is not a state (a JSON object): {parsed.error or 'a JSON ' + type(parsed.value).__name__}")
        if not isinstance(expected, Mapping):
            return Score(0.0, "the case has no expected state (a mapping)")
        conversation = getattr(case, "conversation", None)
        initial = getattr(conversation, "initial_state", None)
        compared = compare_states(expected, parsed.value, lists, initial)
        effects = "".join(f"; side effect: {effect.describe()}" for effect in compared.side_effects[:3])
        return Score(compared.score, compared.reason + effects, compared.details())

    return score
