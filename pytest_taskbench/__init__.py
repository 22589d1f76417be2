"""pytest-taskbench: regression-test language models on your own tasks, inside pytest.

Public API; importing it loads nothing heavy (no torch, no transformers).
"""

from pytest_taskbench.call_parsers import ParsedCalls, call_parser, parse_calls
from pytest_taskbench.calls import ExpectedCall, Tool, ToolCall
from pytest_taskbench.cases import Case, CaseError
from pytest_taskbench.generation.base import Backend, BaseBackend, Generation, GenerationParams, ModelLoadError, Prompt
from pytest_taskbench.generation.callable import prompt_model
from pytest_taskbench.generation.registry import BackendError, BackendOptions, backend
from pytest_taskbench.scoring.registry import ScorerError, scorer
from pytest_taskbench.scoring.score import Score, Scorer
from pytest_taskbench.version import VERSION

__version__ = VERSION

__all__ = [
    "Backend",
    "BackendError",
    "BackendOptions",
    "BaseBackend",
    "Case",
    "CaseError",
    "ExpectedCall",
    "Generation",
    "GenerationParams",
    "ModelLoadError",
    "ParsedCalls",
    "Prompt",
    "Score",
    "Scorer",
    "ScorerError",
    "Tool",
    "ToolCall",
    "__version__",
    "backend",
    "call_parser",
    "parse_calls",
    "prompt_model",
    "scorer",
]
