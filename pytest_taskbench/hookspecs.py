"""Hooks a conftest.py or plugin can implement to extend taskbench."""

from __future__ import annotations

from typing import Any

import pluggy
import pytest

hookspec = pluggy.HookspecMarker("pytest")


@hookspec
def pytest_taskbench_summary(config: pytest.Config, summary: dict[str, Any]) -> None:
    """Called with each suite's JSON summary at the end of the run; change it in place.

    The same dict is what pytest-json-report stores under ``taskbench``.
    Example ``conftest.py``:

    ```python
    def pytest_taskbench_summary(config, summary):
        summary["model_card"] = "checkpoint-2026-11"
    ```
    """
