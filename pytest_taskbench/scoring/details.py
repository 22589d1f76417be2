"""The keys of ``Score.details`` that the failure analysis and the reports read.

A scorer may put any JSON-serialisable facts in its details; these keys have a
meaning beyond the scorer that wrote them, so a custom scorer that sets them
joins the failure analysis (invalid JSON, fields most often wrong, the confusion
matrix) without any other change::

    return Score(0.0, "expected create, got list", {"parse_error": None, "observed": {"action": "list"}})

Every key is optional.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypedDict

FieldStatus = Literal["match", "partial", "missing", "wrong", "invented"]


class FieldDetail(TypedDict, total=False):
    """The verdict on one field of a JSON object (``fields.py`` writes it)."""

    status: FieldStatus
    expected: Any
    got: Any
    credit: float  # in [0, 1]
    weight: float
    fields: dict[str, FieldDetail]  # a nested object's own fields


class ScoreDetails(TypedDict, total=False):
    """What the failure analysis reads from a scorer's details."""

    parse_error: str | None  # why the output is not JSON (None: it parsed); counted as "invalid JSON"
    extracted: bool  # the JSON came from a code fence or from prose, not the whole output
    fields: dict[str, FieldDetail]  # field-by-field verdicts: "fields most often missing or wrong"
    observed: dict[str, Any]  # values the output gave, by field name: the confusion matrix's columns
    model_error: str  # set by the run when the model gave no output for the case
    scorer_error: str  # set by the run when the scorer raised or returned something other than a Score


def observed(details: Mapping[str, Any], field: str) -> tuple[bool, Any]:
    """Whether the details say what the output gave for ``field``, and that value."""
    values = details.get("observed")
    if isinstance(values, dict) and field in values:
        return True, values[field]
    found = details.get("fields")
    if isinstance(found, dict) and isinstance(found.get(field), dict) and "got" in found[field]:
        return True, found[field]["got"]
    return False, None
