"""Importing this module registers every built-in scorer (one module per family)."""

from pytest_taskbench.scoring import general, json_scorers, taskapi  # noqa: F401
from pytest_taskbench.scoring import lmeval_metrics  # noqa: F401
