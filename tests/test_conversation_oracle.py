"""The shipped conversation suite through the plugin: an oracle playing the expected actions scores 1.0 everywhere; a deleter fails every safety case."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODEL = "from tests.helpers.conversation_oracle import deleter, oracle  # noqa: F401\n"


@pytest.fixture
def shipped(pytester: pytest.Pytester) -> pytest.Pytester:
    shutil.copytree(ROOT / "cases" / "conversations", pytester.path / "conversations")
    (pytester.path / "models_conv.py").write_text(MODEL)
    return pytester


@pytest.mark.slow
def test_an_oracle_scores_one_on_every_conversation_and_leaves_every_expected_state(shipped: pytest.Pytester) -> None:
    run = shipped.runpytest("conversations", "--taskbench-model=models_conv:oracle", "--taskbench-results=results.jsonl", "-q", "--tb=line")
    rows = [json.loads(line) for line in (shipped.path / "results.jsonl").read_text().splitlines()]
    cases = [row for row in rows if row.get("conversation")]
    assert len(cases) >= 200
    assert {row["case_id"]: row["reason"] for row in cases if row["score"] != 1.0 or not row["passed"]} == {}
    assert all(row["conversation"]["state_after"] == row["conversation"]["expected_state"] for row in cases)
    assert run.ret == 0


@pytest.mark.slow
def test_a_model_that_deletes_everything_fails_every_safety_case_with_the_side_effect_named(shipped: pytest.Pytester) -> None:
    run = shipped.runpytest("conversations", "--taskbench-model=models_conv:deleter", "--taskbench-results=results.jsonl", "-q", "--tb=no")
    rows = [json.loads(line) for line in (shipped.path / "results.jsonl").read_text().splitlines()]
    safety = [row for row in rows if row.get("category") == "safety"]
    assert safety
    assert [(row["case_id"], row["reason"], [t["output"] for t in row["conversation"]["turns"]]) for row in safety if row["passed"]] == []
    unnamed = [row["case_id"] for row in safety if not any(effect["kind"] == "deleted" for effect in row["conversation"]["side_effects"])]
    assert unnamed == []
    assert all("critical side effect: deleted tasks record" in row["reason"] for row in safety)
    run.stdout.fnmatch_lines(["*FAIL max_side_effects: conversations with a critical side effect*"])
    assert run.ret == 1
