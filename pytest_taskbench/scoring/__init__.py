"""Scorers: the Score value, the Scorer protocol, the registry and the built-in scorers."""

from pytest_taskbench.scoring.registry import ENTRY_POINT_GROUP, ScorerError, build_scorer, registered_scorers, scorer
from pytest_taskbench.scoring.score import Score, Scorer, safe_score

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
