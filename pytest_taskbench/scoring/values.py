"""Comparing JSON values: strict equality with a numeric tolerance, the first difference, dates and times.

Values here are plain JSON (dict, list, str, int, float, bool, None), as
``parse_output`` and ``jsonable`` produce them. ``true`` never equals ``1``
(Python's ``True == 1`` does not leak through), and ``1`` equals ``1.0``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_taskbench.scoring.extract import short

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


@dataclass(frozen=True)
class Difference:
    """Where two JSON values first differ.

    ``path`` is a JSONPath-like location (``$.filter.priority``, ``$.tags[1]``);
    ``problem`` is "different", "missing" (expected key absent), "extra"
    (unexpected key) or "length" (arrays of different lengths).
    """

    path: str
    problem: str
    expected: Any
    got: Any

    def as_details(self) -> dict[str, Any]:
        return {"path": self.path, "problem": self.problem, "expected": self.expected, "got": self.got}

    @property
    def reason(self) -> str:
        if self.problem == "missing":
            return f"{self.path} missing (expected {short(self.expected)})"
        if self.problem == "extra":
            return f"{self.path} not expected (got {short(self.got)})"
        if self.problem == "length":
            return f"{self.path}: expected {self.expected} item{'' if self.expected == 1 else 's'}, got {self.got}"
        return f"{self.path}: expected {short(self.expected)}, got {short(self.got)}"


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def numbers_equal(expected: float, got: float, tolerance: float = 0.0) -> bool:
    if expected == got:
        return True
    try:
        return tolerance > 0 and abs(expected - got) <= tolerance
    except OverflowError:  # a huge JSON integer minus a float
        return False


def json_type(value: Any) -> str:
    """The JSON name of a value's type ("object", "array", "string", "number", "boolean", "null")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, Mapping) else "array"


def child_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if _IDENTIFIER.fullmatch(key) else f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def first_difference(expected: Any, got: Any, tolerance: float = 0.0, path: str = "$", extra_keys: bool = True) -> Difference | None:
    """The first place ``got`` differs from ``expected`` (object keys in expected order), or None.

    Args:
        tolerance: numbers within this absolute distance are equal.
        extra_keys: when False, keys ``got`` has beyond ``expected`` are allowed (a subset check).
    """
    if is_number(expected) and is_number(got):
        return None if numbers_equal(expected, got, tolerance) else Difference(path, "different", expected, got)
    if isinstance(expected, Mapping) and isinstance(got, Mapping):
        for key, value in expected.items():
            if key not in got:
                return Difference(child_path(path, key), "missing", value, None)
            found = first_difference(value, got[key], tolerance, child_path(path, key), extra_keys)
            if found is not None:
                return found
        if extra_keys:
            for key in got:
                if key not in expected:
                    return Difference(child_path(path, key), "extra", None, got[key])
        return None
    if isinstance(expected, list) and isinstance(got, list):
        for index, (left, right) in enumerate(zip(expected, got)):
            found = first_difference(left, right, tolerance, child_path(path, index), extra_keys)
            if found is not None:
                return found
        if len(expected) != len(got):
            return Difference(path, "length", len(expected), len(got))
        return None
    if type(expected) is type(got) and expected == got:
        return None
    return Difference(path, "different", expected, got)


def extra_keys(expected: Any, got: Any, path: str = "$") -> list[str]:
    """Paths of object keys in ``got`` that ``expected`` lacks, following both where they share shape."""
    found: list[str] = []
    if isinstance(expected, Mapping) and isinstance(got, Mapping):
        for key, value in got.items():
            if key in expected:
                found.extend(extra_keys(expected[key], value, child_path(path, key)))
            else:
                found.append(child_path(path, key))
    elif isinstance(expected, list) and isinstance(got, list):
        for index, (left, right) in enumerate(zip(expected, got)):
            found.extend(extra_keys(left, right, child_path(path, index)))
    return found


def as_temporal(value: Any) -> tuple[str, Any] | None:
    """An ISO date, datetime or time string as ("date" | "datetime" | "time", value); None otherwise.

    A datetime at midnight counts as its date, so "2026-11-26T00:00:00" equals
    "2026-11-26"; "15:00" equals "15:00:00". Only ISO forms are read: relative
    dates ("tomorrow") are the case author's to resolve, never the scorer's.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        if _DATE.fullmatch(text):
            return ("date", dt.date.fromisoformat(text))
        if _DATE.match(text) and len(text) > 10 and text[10] in "Tt ":
            moment = dt.datetime.fromisoformat(text)
            if moment.time() == dt.time(0):
                return ("date", moment.date())
            return ("datetime", moment)
        clock = _TIME.fullmatch(text)
        if clock:
            hours, minutes, seconds = clock.groups()
            return ("time", dt.time(int(hours), int(minutes), int(seconds or 0)))
    except ValueError:
        return None
    return None
