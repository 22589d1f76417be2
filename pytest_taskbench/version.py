"""The installed package's version, read from its metadata (pyproject.toml is the one place it is written)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("pytest-taskbench")
except PackageNotFoundError:  # imported from a source tree that was never installed
    VERSION = "0+unknown"
