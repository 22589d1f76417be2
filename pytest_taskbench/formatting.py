"""Numbers and counts as the summary, reports and messages write them: one way each."""

from __future__ import annotations

import inspect


def percent(share: float, decimals: int = 0) -> str:
    """``0.416`` as ``42%`` (or ``41.6%`` with one decimal)."""
    return f"{100 * share:.{decimals}f}%"


def count(n: int, noun: str) -> str:
    """``1 case``, ``2 cases``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def p_value(p: float) -> str:
    """``p = 0.013``, or ``p < 0.001`` below that."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def defined_at(function: object) -> str:
    """``package.module.name (line 12)``: where a registered function or class is defined, to tell two registrations apart."""
    module = getattr(function, "__module__", "?")
    name = getattr(function, "__qualname__", getattr(function, "__name__", repr(function)))
    try:
        line = f" (line {inspect.getsourcelines(function)[1]})"  # type: ignore[arg-type]
    except (OSError, TypeError):
        line = ""
    return f"{module}.{name}{line}"
