"""Checks for scorer factory parameters.

Factories call these on the values a suite file gives them; each raises
``ValueError`` naming the parameter, the value and what was expected, which
``build_scorer`` turns into a ``ScorerError`` reported at collection.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def non_negative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)


def unit(name: str, value: Any) -> float:
    number = non_negative(name, value)
    if number > 1:
        raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}")
    return number


def names(name: str, value: Any) -> frozenset[str]:
    """A field name or a list of field names."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple, set, frozenset)) or not all(isinstance(item, str) for item in items):
        raise ValueError(f"{name} must be a field name or a list of field names, got {value!r}")
    return frozenset(items)


def weights(name: str, value: Any) -> dict[str, float]:
    """A mapping of field name to a weight >= 0 (``None`` means no per-field weights)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must map field names to numbers, e.g. {{priority: 3, title: 2}}, got {value!r}")
    return {str(key): non_negative(f"{name}.{key}", weight) for key, weight in value.items()}


def choice(name: str, value: Any, options: tuple[str, ...]) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(options)}, got {value!r}")
    return str(value)


def text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {value!r}")
    return value
