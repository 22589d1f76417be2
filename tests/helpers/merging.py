"""Running a suite in shards and merging them, and comparing what a merge and a single run produce."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_taskbench.cli.main import main

# Counters that say how the work was done, not what it found: three shards load the model three times
# and take their own time; every other field of the JSON summary must be equal.
HOW_NOT_WHAT = ("generation_seconds", "model_loads", "batches", "model_calls")


def field_differences(single: Any, merged: Any, path: str = "") -> list[str]:
    """Every leaf where the two JSON values differ, as ``path: single != merged``."""
    if isinstance(single, dict) and isinstance(merged, dict):
        return [d for key in sorted(set(single) | set(merged), key=str) for d in field_differences(single.get(key), merged.get(key), f"{path}.{key}")]
    if isinstance(single, list) and isinstance(merged, list) and len(single) == len(merged):
        return [d for i, (a, b) in enumerate(zip(single, merged)) for d in field_differences(a, b, f"{path}[{i}]")]
    if path.rsplit(".", 1)[-1] in HOW_NOT_WHAT:
        return []
    return [] if single == merged else [f"{path}: {single!r} != {merged!r}"]


def leaves(value: Any) -> int:
    """How many leaf fields a JSON value has (so a comparison can show it compared something)."""
    if isinstance(value, dict):
        return sum(leaves(v) for v in value.values())
    if isinstance(value, list):
        return sum(leaves(v) for v in value)
    return 1


def taskbench_section(lines: Sequence[str]) -> list[str]:
    """The lines of the ``taskbench: NAME`` sections (and the messages after them), without the generation line."""
    out: list[str] = []
    inside = False
    for line in lines:
        if line.startswith("=") and " taskbench: " in line:
            inside = True
        elif line.startswith("=") or line.startswith("taskbench merge:"):
            inside = False
        if inside and not line.startswith("generation:"):
            out.append(line)
    return out


def run_shards(pytester: pytest.Pytester, count: int, *args: str, runner: str = "inprocess") -> list[Path]:
    """Run shard 1..count of ``pytest cases ARGS``, each writing shard-I.jsonl; returns the files."""
    files = []
    for index in range(1, count + 1):
        name = f"shard-{index}.jsonl"
        run = pytester.runpytest if runner == "inprocess" else pytester.runpytest_subprocess
        result = run("cases", *args, f"--taskbench-shard={index}/{count}", f"--taskbench-results={name}")
        assert result.ret in (0, 1), result.stdout.str()
        files.append(pytester.path / name)
    return files


def merge(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, list[str], str]:
    """``taskbench merge ARGS`` in this process: (exit status, stdout lines, stderr)."""
    capsys.readouterr()
    status = main(["merge", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
