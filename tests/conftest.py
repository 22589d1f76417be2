"""Shared fixtures: write small suites and rule-based models into a pytester directory."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

# Same reason: hypothesis' terminal summary imports this module in every in-process run;
# importing it once here keeps each pytester run from paying for the import again.
import hypothesis.internal.observability  # noqa: F401, E402
import pytest

# Import scipy.stats (and the numpy submodules it loads) before any in-process pytester run:
# pytester drops modules first imported during a run, and numpy's extension modules cannot be
# imported twice in one process. The plugin imports scipy lazily so `pytest --help` stays fast.
import scipy.stats  # noqa: F401, E402
from hypothesis import settings

from tests.helpers.suites import DEMO_SUITE, ECHO_MODEL, jsonl

# No per-example deadline anywhere: a property that touches files or the bootstrap can take
# longer than hypothesis' 200 ms on a loaded CI machine, and a deadline failure there says
# nothing about the code under test.
settings.register_profile("taskbench", deadline=None)
settings.load_profile("taskbench")


def pytest_configure(config: pytest.Config) -> None:
    # Under pytest-xdist, a process a test starts (a docs example's run, a served model) would
    # give torch every core, and beside the other workers its threads wait on each other at
    # every operation: the transformers serve example took 122 s that way, 21 s with one thread.
    # Each worker's children get the worker's share; a test that needs another count sets it.
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))


@pytest.fixture
def write_suite(pytester: pytest.Pytester) -> Callable[..., Path]:
    """Write cases/taskbench.yaml, case files and an optional model module; return the cases dir."""

    def write(suite: str = DEMO_SUITE, files: dict[str, str] | None = None, model: str | None = ECHO_MODEL) -> Path:
        cases = pytester.mkdir("cases") if not (pytester.path / "cases").exists() else pytester.path / "cases"
        (cases / "taskbench.yaml").write_text(textwrap.dedent(suite))
        for name, text in (files or {}).items():
            target = cases / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        if model is not None:
            (pytester.path / "model.py").write_text(model)
        return cases

    return write


@pytest.fixture
def demo_suite(write_suite: Callable[..., Path]) -> Path:
    """Four greet cases (two pass with the echo model) and one shout case (passes, case-insensitive)."""
    return write_suite(
        files={
            "greet.jsonl": jsonl(
                [
                    {"id": "g1", "input": "hello", "expected": "hello"},
                    {"id": "g2", "input": "bye", "expected": "bye"},
                    {"id": "g3", "input": "hi", "expected": "HI"},
                    {"id": "g4", "input": "yo", "expected": "nope", "difficulty": "adversarial"},
                ],
                defaults={"difficulty": "simple"},
            ),
            "shout.yaml": "- id: s1\n  input: abc\n  expected: ABC\n  difficulty: moderate\n  category: shout\n",
        }
    )
