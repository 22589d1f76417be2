"""Start-up stays small: help, collection and a run served from the cache import neither torch nor transformers.

Each run is a real pytest process on a copy of part of the shipped suite with the shipped checkpoint;
a conftest plugin reports, as pytest ends, which of the heavy modules the process imported.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / "task-api-tiny"
REPORTER = """
import sys

def pytest_unconfigure(config):
    heavy = [name for name in ("torch", "transformers") if name in sys.modules]
    print("HEAVY:", " ".join(heavy) or "none")
"""

pytestmark = pytest.mark.slow


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    cases = pytester.path / "cases"
    cases.mkdir()
    shutil.copy(REPO / "cases" / "taskbench.yaml", cases)
    shutil.copy(REPO / "cases" / "task_api.schema.json", cases)
    lines = (REPO / "cases" / "format_compliance.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (cases / "format_compliance.jsonl").write_text("".join(lines[:6]), encoding="utf-8")
    pytester.makeconftest(REPORTER)
    return pytester


def heavy(result: pytest.RunResult) -> str:
    return next(line.removeprefix("HEAVY:").strip() for line in result.outlines if line.startswith("HEAVY:"))


def test_help_and_collection_import_no_torch(suite: pytest.Pytester) -> None:
    assert heavy(suite.runpytest_subprocess("--help")) == "none"
    collected = suite.runpytest_subprocess("--co", "-q", "cases", f"--taskbench-model={MODEL}")
    assert "6 tests collected" in collected.stdout.str()
    assert heavy(collected) == "none"


def test_a_run_served_from_the_cache_imports_no_torch(suite: pytest.Pytester) -> None:
    first = suite.runpytest_subprocess("cases", f"--taskbench-model={MODEL}", "-q", "--tb=no")
    assert heavy(first) == "torch transformers"  # it generated: the reporter sees the import when it happens
    first.stdout.fnmatch_lines(["generation: 6 outputs (6 generated, 0 from cache) in *; model loaded 1 time; on cpu (float32)"])
    again = suite.runpytest_subprocess("cases", f"--taskbench-model={MODEL}", "-q", "--tb=no")
    again.stdout.fnmatch_lines(["generation: 6 outputs (0 generated, 6 from cache) in *"])
    assert heavy(again) == "none"


def test_xdist_workers_with_every_output_cached_load_no_model(suite: pytest.Pytester) -> None:
    suite.runpytest_subprocess("cases", f"--taskbench-model={MODEL}", "-q", "--tb=no")
    again = suite.runpytest_subprocess("cases", f"--taskbench-model={MODEL}", "-q", "--tb=no", "-n", "2")
    again.stdout.fnmatch_lines(["generation: 6 outputs (0 generated, 6 from cache) in *"])
    assert "model loaded" not in again.stdout.str()
