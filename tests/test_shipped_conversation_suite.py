"""The shipped conversation suite (cases/conversations/): what the script writes, stratified, each expected state reached by its expected actions."""

from __future__ import annotations

import copy
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_taskbench.environments import Action
from pytest_taskbench.environments.task_api import TaskApi, title_key
from tests.helpers.scripts import script

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "cases" / "conversations"
DIFFICULTY_SHARES = {"simple": 0.4, "moderate": 0.3, "complex": 0.2, "adversarial": 0.1}


@lru_cache(maxsize=1)
def suite_file() -> dict[str, Any]:
    data = yaml.safe_load((SUITE / "taskbench.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@lru_cache(maxsize=1)
def cases() -> tuple[dict[str, Any], ...]:
    found: list[dict[str, Any]] = []
    for path in sorted(SUITE.glob("*.yaml")):
        if path.name != "taskbench.yaml":
            found += yaml.safe_load(path.read_text(encoding="utf-8"))
    return tuple(found)


def played(case: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The state the expected actions reach, and the refusals on the way."""
    environment = TaskApi()
    environment.reset(copy.deepcopy(case["initial_state"]))
    refusals = [f"turn {n}: {o.error}" for n, turn in enumerate(case["turns"], 1) if not (o := environment.execute(Action(arguments=turn["expected"]))).ok]
    return environment.state(), refusals


def test_the_committed_cases_are_what_the_script_writes() -> None:
    for name, text in script("task_api_conversations").outputs().items():
        assert (SUITE / name).read_text(encoding="utf-8") == text, f"cases/conversations/{name} is stale: run python scripts/task_api_conversations.py"


@pytest.mark.slow  # plays all 210 shipped conversations through task_api: about a second, and only the case script changes them
def test_every_expected_state_is_what_the_expected_actions_reach() -> None:
    """The oracle at the level of the environment: playing each case's expected turns leaves exactly its expected state."""
    wrong = {}
    for case in cases():
        state, refusals = played(case)
        if refusals or state != case["expected_state"]:
            wrong[case["id"]] = refusals or "a different state"
    assert wrong == {}


def test_the_states_are_ones_the_environment_accepts() -> None:
    environment = TaskApi()
    assert {case["id"]: problems for case in cases() for key in ("initial_state", "expected_state") if (problems := environment.problems(case[key]))} == {}


def test_the_suite_is_large_stratified_and_two_to_five_turns_long() -> None:
    assert len(cases()) >= 200 and len({case["id"] for case in cases()}) == len(cases())
    counts = Counter(case["difficulty"] for case in cases())
    assert {level: counts[level] / len(cases()) for level in DIFFICULTY_SHARES} == pytest.approx(DIFFICULTY_SHARES, abs=0.01)
    assert {len(case["turns"]) for case in cases()} <= {2, 3, 4, 5}
    assert all("user" in turn and "expected" in turn for case in cases() for turn in case["turns"])


def test_every_complex_and_adversarial_case_is_hand_written() -> None:
    hard = [case for case in cases() if case["difficulty"] in ("complex", "adversarial")]
    assert hard and all("handwritten" in case["tags"] for case in hard)
    assert all("generated" in case["tags"] for case in cases() if case["difficulty"] in ("simple", "moderate"))


def test_each_category_is_weighted_in_the_suite_file_and_safety_weighs_most() -> None:
    categories = suite_file()["categories"]
    assert {case["category"] for case in cases()} == set(categories)
    assert sum(entry["weight"] for entry in categories.values()) == pytest.approx(1.0)
    assert max(categories, key=lambda name: categories[name]["weight"]) == "safety"


def test_the_suite_prompt_is_the_shared_transcript_format_the_model_was_trained_on() -> None:
    prompt = suite_file()["prompt"]
    training = script("train_tiny_model")
    assert prompt == {
        "template": training.CONVERSATION_PROMPT_TEMPLATE,
        "turn_template": training.TURN_TEMPLATE,
        "observation_template": training.OBSERVATION_TEMPLATE,
        "chat_template": False,
    }
    assert prompt["turn_template"] == "Request: {input}\nJSON:" and prompt["observation_template"] == "Result: {observation}"
    assert suite_file()["environment"] == "task_api" and str(suite_file()["reference_date"]) == training.REFERENCE_DATE


def _own(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {title_key(task["title"]): task for task in state["tasks"] if "owner" not in task}


def test_every_safety_case_keeps_a_task_so_deleting_everything_is_a_side_effect() -> None:
    """A callable that deletes every task it can must break each safety case's expected state."""
    keeps_nothing = []
    for case in cases():
        if case["category"] != "safety":
            continue
        initial, expected = _own(case["initial_state"]), _own(case["expected_state"])
        if not set(initial) & set(expected):  # a task the user had and still has (changed or not): deleting it is unintended
            keeps_nothing.append(case["id"])
    assert keeps_nothing == []
    assert all(case.get("critical") for case in cases() if case["category"] == "safety")


def test_other_users_tasks_end_every_conversation_as_they_began() -> None:
    changed = []
    for case in cases():
        before = [task for task in case["initial_state"]["tasks"] if "owner" in task]
        after = [task for task in case["expected_state"]["tasks"] if "owner" in task]
        if before != after:
            changed.append(case["id"])
    assert changed == []
    kinds = Counter(tag for case in cases() if case["category"] == "safety" for tag in case["tags"])
    for kind in ("injection", "harmful", "other_users", "destructive", "over_refusal"):
        assert kinds[kind] >= 3, kind
