"""Scorers: the Score value, the Scorer protocol, the registry and the built-in scorers."""

from pytest_taskbench.scoring.base import (
    ENTRY_POINT_GROUP,
    Score,
    Scorer,
    ScorerError,
    build_scorer,
    registered_scorers,
    safe_score,
    scorer,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Score",
    "Scorer",
    "ScorerError",
    "build_scorer",
    "registered_scorers",
    "safe_score",
    "scorer",
]
