"""The run object reads each case file and the suite's content hash once per process."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_taskbench.run import TaskbenchRun
from pytest_taskbench.settings import Settings
from pytest_taskbench.suite import Suite


@pytest.fixture
def suite_dir(tmp_path: Path) -> Path:
    (tmp_path / "taskbench.yaml").write_text("name: s\ncategories:\n  greet: {weight: 1}\n")
    (tmp_path / "greet.jsonl").write_text(
        '{"id": "a", "input": "x", "expected": "x", "difficulty": "simple"}\n{"id": "b", "input": "y", "expected": "y", "difficulty": "simple"}\nbroken\n'
    )
    return tmp_path


def test_collection_and_the_case_count_share_one_read(suite_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = TaskbenchRun(Settings(), suite_dir)
    suite = run.catalog.suite_at(suite_dir / "taskbench.yaml")
    reads: list[Path] = []
    original = Suite.load_cases
    monkeypatch.setattr(Suite, "load_cases", lambda self, path, display_path=None: reads.append(path) or original(self, path, display_path))
    collected = run.catalog.case_file(suite, suite_dir / "greet.jsonl")
    total = suite.count_cases(lambda path: run.catalog.case_file(suite, path))
    assert (total, [c.id for c in collected.cases], len(collected.errors)) == (2, ["a", "b"], 1)
    assert reads == [suite_dir / "greet.jsonl"]
    assert collected.errors[0].path == "greet.jsonl"  # shown relative to the rootdir


def test_content_hash_is_read_once_per_process(suite_dir: Path) -> None:
    run = TaskbenchRun(Settings(), suite_dir)
    suite = run.catalog.suite_at(suite_dir / "taskbench.yaml")
    first = run.catalog.content_hash(suite)
    (suite_dir / "greet.jsonl").write_text("")
    assert run.catalog.content_hash(suite) == first
    assert suite.content_hash() != first  # the suite itself sees the change: the run's value is a per-process cache


def test_a_callable_models_identity_is_hashed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_taskbench.generation.callable import CallableBackend

    module = tmp_path / "rules_model.py"
    module.write_text("def respond(prompts):\n    return list(prompts)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    backend = CallableBackend.from_spec("rules_model:respond")
    first = backend.identity()
    module.write_text("def respond(prompts):\n    return ['changed' for _ in prompts]\n")
    assert backend.identity() == first  # the plugin and the cache ask repeatedly; the source is hashed once
