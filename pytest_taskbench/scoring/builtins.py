"""Importing this module registers every built-in scorer (one module per family)."""

from pytest_taskbench.lmeval import metrics  # noqa: F401
from pytest_taskbench.scoring import general, json_scorers  # noqa: F401
from pytest_taskbench.scoring.packs import taskapi  # noqa: F401
