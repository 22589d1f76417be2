"""pytest-taskbench: regression-test language models on your own tasks, inside pytest.

Public API; importing it loads nothing heavy (no torch, no transformers).
"""

from pytest_taskbench.cases import Case, CaseError
from pytest_taskbench.generation.base import BaseBackend, Generation, GenerationParams, Prompt
from pytest_taskbench.scoring.registry import ScorerError, scorer
from pytest_taskbench.scoring.score import Score, Scorer
from pytest_taskbench.version import VERSION

__version__ = VERSION

__all__ = [
    "BaseBackend",
    "Case",
    "CaseError",
    "Generation",
    "GenerationParams",
    "Prompt",
    "Score",
    "Scorer",
    "ScorerError",
    "__version__",
    "scorer",
]
