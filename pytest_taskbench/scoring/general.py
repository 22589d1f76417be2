"""General-purpose scorers usable by any suite."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_taskbench.scoring.base import Score, Scorer, scorer

if TYPE_CHECKING:
    from pytest_taskbench.cases import Case


@scorer("exact_match")
def exact_match(*, strip: bool = True, ignore_case: bool = False) -> Scorer:
    """1 when the output equals the expected string (after optional strip / case folding)."""

    def normalise(text: str) -> str:
        text = text.strip() if strip else text
        return text.casefold() if ignore_case else text

    def score(output: str, case: Case) -> Score:
        expected = case.expected if isinstance(case.expected, str) else str(case.expected)
        if normalise(output) == normalise(expected):
            return Score(1.0, "exact match")
        return Score(0.0, f"expected {expected!r}, got {output!r}")

    return score
