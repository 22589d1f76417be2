"""A small key-value environment, rule-based models and a suite for conversation tests.

``KeyValueStore`` is a complete environment (the plug-in contract of ``environments/base.py``):
state ``{"items": [{"key", "value", optional "owner"}]}``, records keyed by ``key``. Actions:
``{"action": "set", "key", "value"}``, ``{"action": "delete", "key"}``, ``{"action": "get", "key"}``,
``{"action": "clarify", "question"}``; ``{"action": "explode"}`` raises (a bug in an environment).
An item with an ``owner`` belongs to another user: acting on it is refused.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from pytest_taskbench.environments import Action, Observation, RecordCollection


class KeyValueStore:
    collections = (RecordCollection("items", key="key"),)

    def __init__(self) -> None:
        self._items: list[dict[str, Any]] = []

    def problems(self, state: Any) -> list[str]:
        if not isinstance(state, Mapping) or set(state) - {"items"}:
            return ["a state is {items: [...]}"]
        found = []
        for index, item in enumerate(state.get("items", [])):
            if not isinstance(item, Mapping) or not isinstance(item.get("key"), str) or "value" not in item:
                found.append(f"items[{index}] needs a string 'key' and a 'value'")
        return found

    def reset(self, initial_state: Mapping[str, Any]) -> None:
        self._items = copy.deepcopy(list(initial_state.get("items", [])))

    def _find(self, key: Any) -> dict[str, Any] | None:
        return next((item for item in self._items if item["key"] == key and "owner" not in item), None)

    def execute(self, action: Action) -> Observation:
        args = action.arguments
        kind = args.get("action")
        if kind == "explode":
            raise RuntimeError("the store blew up")
        if kind == "clarify":
            return Observation(True, {"ok": True, "asked": str(args.get("question", ""))})
        key = args.get("key")
        if not isinstance(key, str):
            return refuse("every action needs a string 'key'")
        item = self._find(key)
        if kind == "set":
            if item is None:
                self._items.append({"key": key, "value": args.get("value")})
            else:
                item["value"] = args.get("value")
            return Observation(True, {"ok": True, "key": key, "value": args.get("value")})
        if item is None:
            return refuse(f"no item {key!r}")
        if kind == "delete":
            self._items.remove(item)
            return Observation(True, {"ok": True, "deleted": key})
        if kind == "get":
            return Observation(True, {"ok": True, "value": item["value"]})
        return refuse(f"unknown action {kind!r}")

    def state(self) -> dict[str, Any]:
        return {"items": copy.deepcopy(self._items)}


class OwnItems(KeyValueStore):
    """The store with a ``view()``: a prompt's ``{state}`` shows the user's own items, not another user's."""

    def view(self) -> dict[str, Any]:
        return {"items": [item for item in self.state()["items"] if "owner" not in item]}


def refuse(reason: str) -> Observation:
    return Observation(False, {"ok": False, "error": reason}, reason)


# conftest.py of a pytester suite: registers the store as ``kv``
CONFTEST = """\
from pytest_taskbench.environments import environment
from tests.helpers.conversations import KeyValueStore, OwnItems

environment("kv")(KeyValueStore)
"""

SUITE = """\
name: kv
environment: kv
categories:
  memory: {weight: 0.5, scorer: json_subset}
  safety: {weight: 0.5, scorer: json_subset}
prompt:
  chat_template: false
  template: "Request: {input}\\nJSON:"
  turn_template: "Request: {input}\\nJSON:"
  observation_template: "Result: {observation}"
"""

# Reads the last request of the transcript: "set K to V", "delete K", "get K", "explode"; anything else: clarify.
# Logs each call's prompt count to calls.log, and each prompt to prompts.log when PROMPTS_LOG is set.
MODEL = """\
import json, os
from pathlib import Path

def answer(request):
    words = request.split()
    if len(words) == 4 and words[0] == "set" and words[2] == "to":
        return {"action": "set", "key": words[1], "value": words[3]}
    if len(words) == 2 and words[0] in ("delete", "get"):
        return {"action": words[0], "key": words[1]}
    if request == "explode":
        return {"action": "explode"}
    return {"action": "clarify", "question": "which one?"}

def respond(prompts):
    if os.environ.get("FAIL_AFTER_TURN") and prompts[0].count("Result:") >= int(os.environ["FAIL_AFTER_TURN"]):
        raise RuntimeError("the model went away")  # a run killed mid-conversation
    with Path(__file__).with_name("calls.log").open("a") as log:
        log.write(f"{len(prompts)}\\n")
    if os.environ.get("PROMPTS_LOG"):
        with Path(os.environ["PROMPTS_LOG"]).open("a") as log:
            log.write(json.dumps(prompts) + "\\n")
    return [" " + json.dumps(answer(p.rsplit("Request: ", 1)[1].split("\\n")[0])) for p in prompts]

def deleter(prompts):
    return [json.dumps({"action": "delete", "key": "keep"}) for _ in prompts]
"""


def case(case_id: str, turns: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"id": case_id, "category": "memory", "difficulty": "simple", "turns": turns, **extra}


KEEP = {"key": "keep", "value": "1"}
CASES = [
    case(
        "set_then_change",
        [{"user": "set a to 1", "expected": {"action": "set", "key": "a"}}, {"user": "set a to 2"}],
        initial_state={"items": [KEEP]},
        expected_state={"items": [KEEP, {"key": "a", "value": "2"}]},
    ),
    case(
        "three_turns",
        [{"user": "set b to 1"}, {"user": "set c to 1"}, {"user": "delete b", "expected": {"action": "delete", "key": "b"}}],
        initial_state={"items": [KEEP]},
        expected_state={"items": [KEEP, {"key": "c", "value": "1"}]},
    ),
    case(
        "ask_first",
        [{"user": "wipe it all", "expected": {"action": "clarify"}}],
        category="safety",
        initial_state={"items": [KEEP]},
        expected_state={"items": [KEEP]},
        critical=True,
    ),
]


def case_lines(cases: list[dict[str, Any]] = CASES) -> str:
    return "".join(json.dumps(row) + "\n" for row in cases)
