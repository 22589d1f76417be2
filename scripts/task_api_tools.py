"""Make the tool-call variant of the shipped Task API suite: ``cases-tools/`` from ``cases/``.

The Task API suite asks for one JSON object per request (``{"action": "create", "title": ...}``).
Its tool-call variant offers the same six actions as functions and expects calls instead,
so both answer formats can be benchmarked on the same 500 requests:

- ``tools_from_schema(schema)`` derives the tool list from ``cases/task_api.schema.json``:
  ``create_task``, ``update_task``, ``complete_task``, ``delete_task`` (marked
  ``destructive``), ``list_tasks`` (the list filter's fields as its arguments) and
  ``ask_clarification``, each argument's schema taken from the schema's field;
- ``expected_call(expected)`` turns an expected JSON object into the expected call: the
  action names the function, the other fields are its arguments (a list's filter,
  flattened), and a create's ``priority: medium`` becomes ``{"any_of": ["medium", null]}``:
  medium is the tool's declared default, so a call may also leave it out;
- ``main`` writes ``cases-tools/task_api.tools.json`` and one case file per category,
  each case the original one (same id, input, category, difficulty, tags, rationale,
  critical flag, metadata) with ``expected_calls`` in place of ``expected``.

Usage::

    python scripts/task_api_tools.py           # write cases-tools/
    python scripts/task_api_tools.py --check   # exit 1 when the committed files differ from what it writes
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # generated_files, beside this script
from generated_files import write_or_check  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "cases"
TARGET = ROOT / "cases-tools"
TOOLS_FILE = "task_api.tools.json"
FUNCTIONS = {
    "create": ("create_task", "Create a new task."),
    "update": ("update_task", "Change fields of an existing task, named by its title; give only the fields that change."),
    "complete": ("complete_task", "Mark an existing task, named by its title, as done."),
    "delete": ("delete_task", "Delete one existing task, named by its title. It cannot be undone."),
    "list": ("list_tasks", "List tasks; every argument narrows the list."),
    "clarify": ("ask_clarification", "Ask the user a question instead of acting: the request is ambiguous, incomplete, destructive in bulk or unsupported."),
}
TASK_FIELDS = ("title", "priority", "due_date", "due_time", "assignee", "tags")
DEFAULT_PRIORITY = "medium"
CASE_KEYS = ("id", "input", "category", "difficulty", "tags", "rationale", "critical", "metadata")


def _resolved(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with a local ``$ref`` replaced by what it points at (models read plain schemas best)."""
    node = copy.deepcopy(node)
    reference = node.pop("$ref", None)
    if reference is None:
        return node
    target: Any = schema
    for part in reference.removeprefix("#/").split("/"):
        target = target[part]
    return {**_resolved(schema, target), **node}


def _parameters(schema: dict[str, Any], fields: dict[str, dict[str, Any]], required: Sequence[str]) -> dict[str, Any]:
    return {"type": "object", "properties": fields, "required": list(required), "additionalProperties": False}


def tools_from_schema(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The Task API's actions as OpenAI function schemas, each argument's schema from the output schema's field."""
    properties = schema["properties"]
    task = {name: _resolved(schema, properties[name]) for name in TASK_FIELDS}
    title = {key: value for key, value in task["title"].items() if key != "description"}
    creating = {**task, "title": {**title, "description": "The new task's title."}, "priority": {**task["priority"], "default": DEFAULT_PRIORITY}}
    changing = {**task, "title": {**title, "description": "The title of the task to change."}}
    filters = {name: _resolved(schema, value) for name, value in properties["filter"]["properties"].items()}
    clarify = {name: _resolved(schema, properties[name]) for name in ("question", "reason")}
    arguments = {
        "create": (creating, ["title"]),
        "update": (changing, ["title"]),
        "complete": ({"title": {**title, "description": "The title of the task that is done."}}, ["title"]),
        "delete": ({"title": {**title, "description": "The title of the task to delete."}}, ["title"]),
        "list": (filters, []),
        "clarify": (clarify, ["reason"]),
    }
    tools = []
    for action, (name, description) in FUNCTIONS.items():
        fields, required = arguments[action]
        entry: dict[str, Any] = {
            "type": "function",
            "function": {"name": name, "description": description, "parameters": _parameters(schema, fields, required)},
        }
        if action == "delete":
            entry["destructive"] = True
        tools.append(entry)
    return tools


def expected_call(expected: dict[str, Any]) -> dict[str, Any]:
    """The expected Task API object as the expected call."""
    action = expected["action"]
    name, _ = FUNCTIONS[action]
    if action == "list":
        arguments = dict(expected.get("filter", {}))
    else:
        arguments = {key: value for key, value in expected.items() if key != "action"}
    if action == "create" and arguments.get("priority") == DEFAULT_PRIORITY:
        arguments["priority"] = {"any_of": [DEFAULT_PRIORITY, None]}
    return {"name": name, "arguments": arguments}


def converted_case(case: dict[str, Any]) -> dict[str, Any]:
    """A case of the JSON suite as a case of the tool-call suite."""
    converted = {key: case[key] for key in CASE_KEYS if key in case}
    converted["expected_calls"] = [expected_call(case["expected"])]
    return converted


def outputs(source: Path = SOURCE) -> dict[str, str]:
    """File name -> text of every file the variant holds besides its taskbench.yaml."""
    schema = json.loads((source / "task_api.schema.json").read_text(encoding="utf-8"))
    files = {TOOLS_FILE: json.dumps(tools_from_schema(schema), indent=2, ensure_ascii=False) + "\n"}
    for path in sorted(source.glob("*.jsonl")):
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        files[path.name] = "".join(json.dumps(converted_case(case), ensure_ascii=False) + "\n" for case in lines)
    return files


def main(argv: Sequence[str] | None = None) -> int:
    return write_or_check((__doc__ or "").splitlines()[0], TARGET, outputs, argv, out_help="the variant's folder (default cases-tools)")


if __name__ == "__main__":
    raise SystemExit(main())
