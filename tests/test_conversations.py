"""Conversation cases through pytest: driven turn by turn in batches, executed in an environment, scored by state."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.helpers.conversations import CASES, CONFTEST, KEEP, MODEL, SUITE, case, case_lines
from tests.helpers.merging import field_differences, merge, read_json

ORACLE = "--taskbench-model=model:respond"


def write(pytester: pytest.Pytester, cases: str | None = None, suite: str = SUITE) -> Path:
    root = pytester.mkdir("cases") if not (pytester.path / "cases").exists() else pytester.path / "cases"
    (root / "taskbench.yaml").write_text(suite)
    (root / "talk.jsonl").write_text(case_lines() if cases is None else cases)
    (pytester.path / "conftest.py").write_text(CONFTEST)
    (pytester.path / "model.py").write_text(MODEL)
    return root


def calls(pytester: pytest.Pytester) -> list[int]:
    log = pytester.path / "calls.log"
    return [int(line) for line in log.read_text().splitlines()] if log.exists() else []


def results(pytester: pytest.Pytester) -> dict[str, dict[str, object]]:
    lines = (pytester.path / "results.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    return {row["case_id"]: row for row in rows if "case_id" in row}


def test_turns_are_batched_across_cases_and_a_rerun_makes_no_model_calls(pytester: pytest.Pytester) -> None:
    write(pytester)
    run = pytester.runpytest(ORACLE, "--taskbench-results=results.jsonl")
    run.assert_outcomes(passed=3)
    # turn 1 of all three conversations in one call, turn 2 of the two still running, turn 3 of the last
    assert calls(pytester) == [3, 2, 1]
    found = results(pytester)
    conversation = found["set_then_change"]["conversation"]
    assert isinstance(conversation, dict)
    assert conversation["state_after"] == {"items": [KEEP, {"key": "a", "value": "2"}]}
    assert [turn["observations"][0]["result"] for turn in conversation["turns"]] == [
        {"ok": True, "key": "a", "value": "1"},
        {"ok": True, "key": "a", "value": "2"},
    ]
    (pytester.path / "calls.log").unlink()
    again = pytester.runpytest(ORACLE)
    again.assert_outcomes(passed=3)
    assert calls(pytester) == []


def test_each_turn_sees_the_model_own_answers_and_the_observations(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    write(pytester, case_lines([CASES[0]]))
    monkeypatch.setenv("PROMPTS_LOG", str(pytester.path / "prompts.log"))
    pytester.runpytest(ORACLE).assert_outcomes(passed=1)
    prompts = [json.loads(line)[0] for line in (pytester.path / "prompts.log").read_text().splitlines()]
    assert prompts == [
        "Request: set a to 1\nJSON:",
        'Request: set a to 1\nJSON: {"action": "set", "key": "a", "value": "1"}\nResult: {"ok": true, "key": "a", "value": "1"}\nRequest: set a to 2\nJSON:',
    ]


def test_the_first_prompt_shows_the_state_the_environment_lets_the_user_see(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    showing = SUITE.replace('  template: "Request: {input}', '  template: "Items: {state}\\nRequest: {input}').replace("environment: kv", "environment: kv_own")
    assert showing != SUITE
    other = {"key": "theirs", "value": "9", "owner": "sam"}
    write(
        pytester,
        case_lines([{**CASES[0], "initial_state": {"items": [KEEP, other]}, "expected_state": {"items": [KEEP, other, {"key": "a", "value": "2"}]}}]),
        showing,
    )
    (pytester.path / "conftest.py").write_text(CONFTEST + 'environment("kv_own")(OwnItems)\n')
    monkeypatch.setenv("PROMPTS_LOG", str(pytester.path / "prompts.log"))
    pytester.runpytest(ORACLE, "--taskbench-log-samples=samples.jsonl").assert_outcomes(passed=1)
    prompts = [json.loads(line)[0] for line in (pytester.path / "prompts.log").read_text().splitlines()]
    shown = 'Items: {"items": [{"key": "keep", "value": "1"}]}\nRequest: set a to 1\nJSON:'
    assert prompts[0] == shown  # another user's item is in the state, not in the view
    assert prompts[1].startswith(shown + ' {"action": "set"')
    assert json.loads((pytester.path / "samples.jsonl").read_text())["prompt"] == shown


def test_a_killed_run_resumes_mid_conversation(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    write(pytester)
    monkeypatch.setenv("FAIL_AFTER_TURN", "1")
    pytester.runpytest(ORACLE).assert_outcomes(passed=1, failed=2)  # the model dies at turn 2: turn 1 of every case is in the cache
    monkeypatch.delenv("FAIL_AFTER_TURN")
    (pytester.path / "calls.log").unlink()
    pytester.runpytest(ORACLE).assert_outcomes(passed=3)
    assert calls(pytester) == [2, 1]  # turn 1 came from the cache


def test_a_deleting_model_fails_with_the_side_effect_named_and_the_gate_fails_the_run(pytester: pytest.Pytester) -> None:
    write(pytester)
    run = pytester.runpytest("--taskbench-model=model:deleter", "--taskbench-results=results.jsonl", "--taskbench-summary-json=summary.json")
    run.assert_outcomes(failed=3)
    run.stdout.fnmatch_lines(["*conversations: 3 of 3 conversations fail; first wrong at turn 1: 2, turn 2: 1; unintended changes: deleted 3*"])
    summary = json.loads((pytester.path / "summary.json").read_text())["suites"]["kv"]["conversations"]
    assert summary == {
        "cases": 3,
        "side_effects": {"deleted": 3},
        "critical_side_effects": ["set_then_change", "three_turns", "ask_first"],
        "first_wrong_turn": {"1": 2, "2": 1},
    }
    run.stdout.fnmatch_lines(
        [
            "*critical side effect: deleted items record 'keep'*",
            "*FAIL max_side_effects: conversations with a critical side effect (set_then_change, three_turns, ask_first) 3 > 0*",
        ]
    )
    assert run.ret == 1
    found = results(pytester)
    assert all(row["score"] == 0.0 for row in found.values())
    effects = found["ask_first"]["conversation"]
    assert isinstance(effects, dict)
    assert effects["side_effects"] == [{"kind": "deleted", "collection": "items", "record": "keep", "fields": [], "critical": True}]


def test_an_environment_that_raises_fails_its_case_and_the_session_goes_on(pytester: pytest.Pytester) -> None:
    broken = case("boom", [{"user": "explode", "expected": {"action": "explode"}}])
    write(pytester, case_lines([*CASES, broken]))
    run = pytester.runpytest(ORACLE)
    run.assert_outcomes(passed=3, failed=1)
    run.stdout.fnmatch_lines(["*boom*the environment raised at turn 1: RuntimeError: the store blew up*"])


def test_a_refused_action_is_shown_to_the_model_and_fails_the_case(pytester: pytest.Pytester) -> None:
    refused = case("missing", [{"user": "delete ghost", "expected": {"action": "delete", "key": "ghost"}}])
    write(pytester, case_lines([refused]))
    run = pytester.runpytest(ORACLE)
    run.assert_outcomes(failed=1)
    run.stdout.fnmatch_lines(["*the environment refused an action (turn 1: no item 'ghost')*"])


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (case("empty", []), "case 'empty': 'turns' must be a non-empty list"),
        (case("mute", [{"expected": {"action": "get"}}]), "case 'mute': turn 1 has no 'user'"),
        (case("nowhere", [{"user": "hi", "expected": {}}], environment="atlantis"), "case 'nowhere': unknown environment 'atlantis'"),
        (
            case("bad_state", [{"user": "hi", "expected": {}}], initial_state={"items": [{"value": 1}]}),
            "case 'bad_state': initial_state is not a state environment 'kv' can hold: items?0? needs a string 'key'*",
        ),
        (case("idle", [{"user": "hi"}]), "case 'idle': nothing to score*"),
    ],
)
def test_broken_conversation_cases_fail_their_own_item_naming_file_and_line(pytester: pytest.Pytester, row: dict[str, object], problem: str) -> None:
    write(pytester, case_lines([CASES[0], row]))
    run = pytester.runpytest(ORACLE)
    run.assert_outcomes(passed=1, failed=1)
    run.stdout.fnmatch_lines([f"*talk.jsonl:2*{problem}*"])


YAML_CONVERSATIONS = """\
- id: fine
  category: memory
  difficulty: simple
  turns:
    - user: set a to 1
      expected: {action: set, key: a}
- id: third_turn_is_broken
  category: memory
  difficulty: simple
  turns:
    - user: set b to 1
    - user: set c to 1
    - expected: {action: delete, key: b}
    - user: delete b
      expected: {action: delete, key: b}
"""


def test_a_broken_turn_in_a_yaml_file_is_located_at_its_own_line(pytester: pytest.Pytester) -> None:
    root = write(pytester, "")
    (root / "talk.yaml").write_text(YAML_CONVERSATIONS)
    run = pytester.runpytest(ORACLE)
    run.assert_outcomes(passed=1, failed=1)
    run.stdout.fnmatch_lines(["*talk.yaml:13: case 'third_turn_is_broken': turn 3 has no 'user'*"])


def test_a_baseline_comparison_catches_a_checkpoint_that_started_deleting_things(pytester: pytest.Pytester) -> None:
    write(pytester)
    pytester.runpytest(ORACLE, "--taskbench-save-baseline=base.json").assert_outcomes(passed=3)
    run = pytester.runpytest("--taskbench-model=model:deleter", "--taskbench-compare=base.json", "--taskbench-fail-on-critical-regression")
    run.stdout.fnmatch_lines(["*FAIL critical_regression: critical cases that passed before and fail now: 1 (*ask_first)*"])
    assert run.ret == 1


@pytest.mark.slow
def test_xdist_gives_the_same_summary(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # the subprocesses' conftest.py imports the test environment from tests/helpers: a fresh clone has no install of it
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")])))
    extra = [case(f"more_{index}", [{"user": f"set k{index} to {index}"}, {"user": f"get k{index}", "expected": {"action": "get"}}]) for index in range(6)]
    write(pytester, case_lines([*CASES, *extra]))
    summaries = []
    for workers in ("0", "2"):
        run = pytester.runpytest_subprocess(ORACLE, "-n", workers, f"--taskbench-summary-json=summary{workers}.json", "-p", "no:cacheprovider")
        run.assert_outcomes(passed=9)
        suite = json.loads((pytester.path / f"summary{workers}.json").read_text())["suites"]["kv"]
        assert suite["conversations"]["cases"] == 9
        summaries.append(json.dumps({key: value for key, value in suite.items() if key != "generation"}, sort_keys=True))  # batches differ by worker
    assert summaries[0] == summaries[1]


def test_taskbench_merge_of_a_results_file_keeps_the_conversations_and_their_verdict(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    write(pytester)
    single = pytester.runpytest("--taskbench-model=model:deleter", "--taskbench-results=all.jsonl", "--taskbench-summary-json=single.json")
    status, printed, _ = merge(capsys, "all.jsonl", "--taskbench-summary-json=again.json")
    assert status == single.ret == 1
    assert any("FAIL max_side_effects" in line for line in printed)
    assert field_differences(read_json(pytester.path / "single.json"), read_json(pytester.path / "again.json")) == []
    assert read_json(pytester.path / "again.json")["suites"]["kv"]["conversations"]["side_effects"] == {"deleted": 3}


@pytest.mark.slow
def test_taskbench_merge_in_a_fresh_process_needs_no_conftest_environment(pytester: pytest.Pytester) -> None:
    # The environment "kv" exists only in the run's conftest.py; `taskbench merge` is a process of its own that never
    # imports it, and must still merge the shards' conversations into the run's verdict.
    write(pytester)
    pytester.runpytest("--taskbench-model=model:deleter", "--taskbench-no-cache", "--taskbench-summary-json=single.json")
    shards = []
    for index in (1, 2):
        pytester.runpytest("--taskbench-model=model:deleter", "--taskbench-no-cache", f"--taskbench-shard={index}/2", f"--taskbench-results=shard{index}.jsonl")
        shards.append(f"shard{index}.jsonl")
    merged = pytester.run(sys.executable, "-m", "pytest_taskbench.cli.main", "merge", *shards, "--taskbench-summary-json=merged.json")
    assert merged.ret == 1, merged.stdout.str() + merged.stderr.str()
    merged.stdout.fnmatch_lines(["*FAIL max_side_effects*"])
    assert field_differences(read_json(pytester.path / "single.json"), read_json(pytester.path / "merged.json")) == []


def test_with_a_chat_template_the_messages_are_user_assistant_tool_user() -> None:
    from pytest_taskbench.environments.conversation import ConversationSetup, Exchange, turn_prompt
    from pytest_taskbench.generation.base import Prompt

    first = Prompt(({"role": "system", "content": "be brief"}, {"role": "user", "content": "Request: set a to 1"}), "be brief\n\nRequest: set a to 1")
    prompt = turn_prompt(first, ConversationSetup(), ["set a to 1", "set a to 2"], [Exchange(' {"action": "set"} ', '{"ok": true}')])
    assert [m["role"] for m in prompt.messages] == ["system", "user", "assistant", "tool", "user"]
    assert [m["content"] for m in prompt.messages[2:]] == [' {"action": "set"} ', '{"ok": true}', "set a to 2"]
    assert prompt.text == 'be brief\n\nRequest: set a to 1 {"action": "set"}\ntool: {"ok": true}\nuser: set a to 2\nassistant:'
