"""Checking the values read from files and options: one way to say what is wrong.

Every reader (case files, the suite file, lm-eval task files, baselines, generator
specs, options, scorer parameters) checks values with these helpers. Each takes
the value's name as the reader shows it (``gates.min_aggregate``, ``case 'a1':
difficulty``, ``--taskbench-alpha / ini taskbench_alpha``) and raises
``Invalid`` with a message that names it, the value and what was expected::

    gates.min_aggregate must be a number from 0 to 1, got 'high'

The reader then says where: a file and line (``FileProblem``), a suite file
(``SuiteError``) or an option (``SettingsError``). ``Invalid`` is a
``ValueError``, so a scorer factory's checks need no other handling.

Domain code: no pytest import.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


class Invalid(ValueError):
    """A value that is not what its name expects; the message names both and the value."""


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def is_number(value: Any) -> bool:
    """A finite int or float, and not a bool (YAML's ``true`` is not 1)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _range(minimum: float | None, maximum: float | None, above: float | None) -> str:
    if maximum is not None:
        if minimum is not None:
            return f" from {minimum:g} to {maximum:g}"
        return f" above {above:g} and at most {maximum:g}" if above is not None else f" at most {maximum:g}"
    if minimum is not None:
        return f" >= {minimum:g}"
    return f" above {above:g}" if above is not None else ""


def number(name: str, value: Any, *, minimum: float | None = None, maximum: float | None = None, above: float | None = None) -> float:
    """A number within the bounds (``above`` is exclusive, ``minimum`` and ``maximum`` inclusive)."""
    ok = is_number(value) and (minimum is None or value >= minimum) and (maximum is None or value <= maximum) and (above is None or value > above)
    if not ok:
        raise Invalid(f"{name} must be a number{_range(minimum, maximum, above)}, got {_shown(value)}")
    return float(value)


def unit(name: str, value: Any) -> float:
    """A number from 0 to 1 (a score, a rate, a weight share)."""
    return number(name, value, minimum=0, maximum=1)


def whole(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number within the bounds (not a bool, not 2.0)."""
    ok = isinstance(value, int) and not isinstance(value, bool) and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        bounds = f" from {minimum} to {maximum}" if minimum is not None and maximum is not None else f" >= {minimum}" if minimum is not None else ""
        raise Invalid(f"{name} must be a whole number{bounds}, got {_shown(value)}")
    return int(value)


def flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"{name} must be true or false, got {_shown(value)}")
    return value


def text(name: str, value: Any, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value):
        raise Invalid(f"{name} must be {'a string' if empty else 'a non-empty string'}, got {_shown(value)}")
    return value


def choice(name: str, value: Any, options: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in options:
        raise Invalid(f"{name} must be one of {', '.join(options)}, got {_shown(value)}")
    return value


def texts(name: str, value: Any, *, single: bool = True, empty: bool = True) -> tuple[str, ...]:
    """A list of strings (or, with ``single``, one string standing for a list of one)."""
    items = [value] if single and isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items) or (not empty and not items):
        listed = "a list of strings" if empty else "a non-empty list of strings"
        raise Invalid(f"{name} must be {'a string or ' + listed if single else listed}, got {_shown(value)}")
    return tuple(items)


def mapping(name: str, value: Any, *, what: str = "a mapping") -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise Invalid(f"{name} must be {what}, got {_shown(value)}")
    return value


def unknown_keys(mapping: Mapping[Any, Any], allowed: Iterable[str]) -> list[str]:
    """The keys of ``mapping`` outside ``allowed``, as sorted text (YAML keys may be numbers or null)."""
    known = set(allowed)
    return sorted(str(key) for key in mapping if key not in known)


def only_keys(name: str, value: Mapping[Any, Any], allowed: Iterable[str], *, noun: str = "key") -> None:
    """Refuse keys outside ``allowed``, listing them and what is allowed."""
    allowed = list(allowed)
    unknown = unknown_keys(value, allowed)
    if unknown:
        where = f" in {name}" if name else ""
        raise Invalid(f"unknown {noun}(s) {', '.join(unknown)}{where}; allowed: {', '.join(sorted(allowed))}")
