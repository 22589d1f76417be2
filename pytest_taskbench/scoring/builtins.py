"""Importing this module registers every built-in scorer (one module per family)."""

from pytest_taskbench.scoring import general  # noqa: F401
