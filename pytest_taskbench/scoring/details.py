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


CallStatus = Literal["match", "partial", "wrong", "missing", "extra"]


class CallJSON(TypedDict):
    """One tool call as plain JSON (a model's, or an expected one, whose argument may be ``{"any_of": [...]}``)."""

    name: str
    arguments: dict[str, Any]


class CallResultDetail(TypedDict, total=False):
    """The verdict on one call (``scoring/tool_calls.py`` writes it): a pair, a missing expected call or an extra one."""

    status: CallStatus
    function: str
    expected: int | None  # index into expected_calls; None for an extra call
    got: int | None  # index into calls; None for a missing call
    credit: float  # in [0, 1]; 0 for missing and extra calls
    arguments: dict[str, FieldDetail]  # argument-by-argument verdicts of a pair
    destructive: bool  # an extra call to a function marked destructive: true (the case scores 0)


class ScoreDetails(TypedDict, total=False):
    """What the failure analysis reads from a scorer's details."""

    parse_error: str | None  # why the output is not JSON (None: it parsed); counted as "invalid JSON"
    extracted: bool  # the JSON came from a code fence or from prose, not the whole output
    fields: dict[str, FieldDetail]  # field-by-field verdicts: "fields most often missing or wrong"
    observed: dict[str, Any]  # values the output gave, by field name: the confusion matrix's columns
    model_error: str  # set by the run when the model gave no output for the case
    scorer_error: str  # set by the run when the scorer raised or returned something other than a Score
    calls: list[CallJSON]  # the tool calls read from the output, in its order
    expected_calls: list[CallJSON]  # the calls the case expects
    call_results: list[CallResultDetail]  # call by call: "functions most often wrong, missing or extra"
    schema_errors: dict[str, list[str]]  # by index into calls: an unknown function, a missing required argument, a wrong type
    parse_problems: list[str]  # text that looked like a call but could not be read (each counts as an extra call)


def observed(details: Mapping[str, Any], field: str) -> tuple[bool, Any]:
    """Whether the details say what the output gave for ``field``, and that value."""
    values = details.get("observed")
    if isinstance(values, dict) and field in values:
        return True, values[field]
    found = details.get("fields")
    if isinstance(found, dict) and isinstance(found.get(field), dict) and "got" in found[field]:
        return True, found[field]["got"]
    return False, None
