"""Importing this module registers every built-in scorer (one module per family)."""

from pytest_taskbench.scoring import (  # noqa: F401
    general,
    json_scorers,
    lmeval_metrics,  # noqa: F401
    taskapi,
)
