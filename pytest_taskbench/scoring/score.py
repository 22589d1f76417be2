"""The Score value and the Scorer protocol: what every scorer returns and how it is called."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pytest_taskbench.guards.files import text_only

if TYPE_CHECKING:
    from pytest_taskbench.cases import Case


@dataclass(frozen=True)
class Score:
    """The verdict of a scorer on one output.

    Attributes:
        value: in [0, 1]; 1 is a perfect answer.
        reason: one short human sentence ("expected create, got list").
        details: JSON-serialisable structured facts for reports and failure analysis.
    """

    value: float
    reason: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        value = float(self.value)
        if math.isnan(value) or not 0.0 <= value <= 1.0:
            raise ValueError(f"a score must lie in [0, 1], got {self.value!r}")
        object.__setattr__(self, "value", value)


class Scorer(Protocol):
    """Judges one model output against one case. Must not raise on any output."""

    def __call__(self, output: str, case: Case) -> Score: ...


def safe_score(scorer_fn: Scorer, output: str, case: Case) -> Score:
    """Call a scorer; a scorer that raises or returns a non-Score gives 0 with the error as reason."""
    try:
        result = scorer_fn(output, case)
    except Exception as exc:  # a third-party scorer bug must fail one case, not the run
        return Score(0.0, f"scorer raised {type(exc).__name__}: {exc}", {"scorer_error": repr(exc)})
    if not isinstance(result, Score):
        return Score(0.0, f"scorer returned {type(result).__name__}, not Score", {"scorer_error": "bad return type"})
    # A reason or detail quoting JSON the model wrote may hold a lone surrogate ("\ud800" parsed): keep it printable.
    return Score(result.value, text_only(result.reason), text_only(result.details))
