"""The built-in ``task_api`` environment: an in-memory task list that follows the shipped Task API schema.

State: ``{"tasks": [{"title", "priority", "status", "due_date"?, "due_time"?, "assignee"?, "tags"?, "owner"?}]}``.
A task without ``owner`` is the user's own; a task with one belongs to another user, whom the
conversation's user must never see or change: lists leave it out and acting on it is refused
exactly as acting on a task that does not exist. Tasks are named by title, matched without
regard to case or surrounding/repeated spaces, so titles are unique in that sense.

Actions come as the Task API's JSON object (``{"action": "create", "title": ...}``, ``Action.name``
None) or as the tool calls of ``cases-tools/task_api.tools.json`` (``create_task``, ``update_task``,
``complete_task``, ``delete_task``, ``list_tasks`` with the filter's fields as arguments,
``ask_clarification``). Both forms of one request give the same state and observation.

Observations (``Observation.result``, the JSON the model is shown next):

- create, update, complete: ``{"ok": true, "task": TASK}`` (the task as it is now);
- delete: ``{"ok": true, "deleted": TITLE}``;
- list: ``{"ok": true, "tasks": [TASK, ...]}`` (the user's own tasks that match the filter, in list order);
- clarify: ``{"ok": true, "asked": QUESTION, "reason": REASON}`` (nothing changes);
- refused: ``{"ok": false, "error": WHY}``, and the state is exactly as before.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from pytest_taskbench.environments.base import Action, EnvironmentProblem, Observation, RecordCollection
from pytest_taskbench.environments.registry import environment

PRIORITIES = ("low", "medium", "high", "urgent")
STATUSES = ("open", "done")
LIST_STATUSES = ("open", "done", "all")
CLARIFY_REASONS = ("ambiguous", "missing_information", "destructive", "unsupported")
TASK_KEYS = ("title", "priority", "status", "due_date", "due_time", "assignee", "tags", "owner")  # also the order a task is shown in
EDITABLE = ("priority", "due_date", "due_time", "assignee", "tags")  # what create may set besides the title, and update may change
FILTER_KEYS = ("status", "priority", "due_date", "due_before", "assignee", "tag")
DEFAULT_PRIORITY = "medium"
ARGUMENTS: dict[str, tuple[str, ...]] = {  # the JSON form's keys besides "action", per action
    "create": ("title", *EDITABLE),
    "update": ("title", *EDITABLE),
    "complete": ("title",),
    "delete": ("title",),
    "list": ("filter",),
    "clarify": ("question", "reason"),
}
TOOLS = {  # tool name -> action (list_tasks takes the filter's fields as its arguments)
    "create_task": "create",
    "update_task": "update",
    "complete_task": "complete",
    "delete_task": "delete",
    "list_tasks": "list",
    "ask_clarification": "clarify",
}
_DATE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])")
_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


class Refused(Exception):
    """An action the environment does not carry out; the message is the reason the model is shown."""


def title_key(title: str) -> str:
    """How titles are compared: case-folded, with surrounding and repeated spaces removed."""
    return " ".join(title.split()).casefold()


def _one_of(value: object, choices: tuple[str, ...]) -> str:
    return f"{value!r} is not one of {', '.join(choices)}"


def field_problem(name: str, value: object) -> str | None:
    """Why ``value`` is not a valid task field or list filter ``name`` (None: it is)."""
    if name in ("priority",):
        return None if value in PRIORITIES else _one_of(value, PRIORITIES)
    if name == "status":
        return None if value in STATUSES else _one_of(value, STATUSES)
    if name in ("due_date", "due_before"):
        if not isinstance(value, str) or not _DATE.fullmatch(value):
            return f"{value!r} is not a date (YYYY-MM-DD)"
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return f"{value!r} is not a date of the calendar"
        return None
    if name == "due_time":
        return None if isinstance(value, str) and _TIME.fullmatch(value) else f"{value!r} is not a time (HH:MM, 24-hour)"
    if name in ("title", "assignee", "owner", "tag", "question"):
        return None if isinstance(value, str) and value.strip() else f"{value!r} is not a non-empty string"
    if name == "tags":
        if not isinstance(value, list) or not all(isinstance(tag, str) and tag.strip() for tag in value):
            return f"{value!r} is not a list of non-empty strings"
        return None if len(set(value)) == len(value) else f"{value!r} repeats a tag"
    return "is not a field"


def _task_problems(where: str, task: object) -> list[str]:
    if not isinstance(task, Mapping):
        return [f"{where}: {task!r} is not a mapping"]
    found = [f"{where}: unknown field {key!r} (known: {', '.join(TASK_KEYS)})" for key in task if key not in TASK_KEYS]
    found += [f"{where}: {key!r} is missing" for key in ("title", "priority", "status") if key not in task]
    for key in TASK_KEYS:
        if key in task and (problem := field_problem(key, task[key])) is not None:
            found.append(f"{where}.{key}: {problem}")
    return found


def state_problems(state: Any) -> list[str]:
    """Why ``state`` is not a task list this environment can hold (empty: it is)."""
    if not isinstance(state, Mapping):
        return [f"state: {state!r} is not a mapping with a 'tasks' list"]
    found = [f"state: unknown key {key!r} (the only key is 'tasks')" for key in state if key != "tasks"]
    tasks = state.get("tasks")
    if not isinstance(tasks, list):
        return [*found, f"state.tasks: {'missing' if tasks is None else repr(tasks) + ' is not a list'}"]
    seen: dict[str, int] = {}
    for index, task in enumerate(tasks):
        where = f"tasks[{index}]"
        problems = _task_problems(where, task)
        found += problems
        if not problems:
            key = title_key(task["title"])
            if key in seen:
                found.append(f"{where}.title: {task['title']!r} repeats the title of tasks[{seen[key]}] (titles are unique, compared without case)")
            seen.setdefault(key, index)
    return found


def shown(task: Mapping[str, Any]) -> dict[str, Any]:
    """A task as the model and the state show it: known keys in TASK_KEYS order, values copied."""
    return {key: copy.deepcopy(task[key]) for key in TASK_KEYS if key in task}


def action_of(action: Action) -> tuple[str, dict[str, Any]]:
    """(action name, its JSON-form arguments without "action") for either form; Refused when there is none."""
    arguments = action.arguments
    if not isinstance(arguments, Mapping):
        raise Refused(f"the arguments {arguments!r} are not a JSON object")
    if action.name is not None:
        if action.name not in TOOLS:
            raise Refused(f"unknown tool {action.name!r} (known: {', '.join(TOOLS)})")
        tool = TOOLS[action.name]
        if tool == "list":
            return tool, {"filter": dict(arguments)} if arguments else {}
        return tool, dict(arguments)
    kind = arguments.get("action")
    if not isinstance(kind, str) or kind not in ARGUMENTS:  # a model may write any JSON value here
        raise Refused("no action given" if kind is None else f"unknown action {kind!r} (known: {', '.join(ARGUMENTS)})")
    return str(kind), {key: value for key, value in arguments.items() if key != "action"}


def _checked(kind: str, arguments: dict[str, Any]) -> None:
    """Refused when an argument is unknown to the action or has a bad value."""
    for key, value in arguments.items():
        if key not in ARGUMENTS[kind]:
            raise Refused(f"{kind} takes no argument {key!r} (it takes {', '.join(ARGUMENTS[kind])})")
        if key == "filter":
            if not isinstance(value, Mapping):
                raise Refused(f"filter: {value!r} is not a JSON object")
            for name, wanted in value.items():
                if name not in FILTER_KEYS:
                    raise Refused(f"filter: unknown field {name!r} (known: {', '.join(FILTER_KEYS)})")
                if name == "status":
                    problem = None if wanted in LIST_STATUSES else _one_of(wanted, LIST_STATUSES)
                else:
                    problem = field_problem(name, wanted)
                if problem:
                    raise Refused(f"filter.{name}: {problem}")
        elif key == "reason":
            if value not in CLARIFY_REASONS:
                raise Refused(f"reason: {_one_of(value, CLARIFY_REASONS)}")
        elif (problem := field_problem(key, value)) is not None:
            raise Refused(f"{key}: {problem}")
    needed = {"create": "title", "update": "title", "complete": "title", "delete": "title", "clarify": "reason"}.get(kind)
    if needed and needed not in arguments:
        raise Refused(f"{kind} needs {needed!r}")


def _matches(task: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    status = wanted.get("status", "all")
    if status != "all" and task["status"] != status:
        return False
    for name in ("priority", "due_date", "assignee"):
        if name in wanted and task.get(name) != wanted[name]:
            return False
    if "due_before" in wanted and not (task.get("due_date") and task["due_date"] < wanted["due_before"]):
        return False
    return not ("tag" in wanted and wanted["tag"] not in task.get("tags", []))


@environment("task_api")
class TaskApi:
    """The user's task list (see the module docstring for state, actions and observations)."""

    collections: tuple[RecordCollection, ...] = (RecordCollection("tasks", key="title"),)

    def __init__(self) -> None:
        self._tasks: list[dict[str, Any]] = []

    def problems(self, state: Any) -> list[str]:
        return state_problems(state)

    def reset(self, initial_state: Mapping[str, Any]) -> None:
        problems = state_problems(initial_state)
        if problems:
            raise EnvironmentProblem("; ".join(problems))
        self._tasks = [shown(task) for task in initial_state["tasks"]]

    def state(self) -> dict[str, Any]:
        return {"tasks": [shown(task) for task in self._tasks]}

    def view(self) -> dict[str, Any]:
        """The user's own tasks: what a prompt's ``{state}`` shows (another user's tasks are never shown)."""
        return {"tasks": [shown(task) for task in self._tasks if "owner" not in task]}

    def execute(self, action: Action) -> Observation:
        try:
            kind, arguments = action_of(action)
            _checked(kind, arguments)
            result = getattr(self, f"_{kind}")(arguments)
        except Refused as refusal:
            return Observation(ok=False, result={"ok": False, "error": str(refusal)}, error=str(refusal))
        return Observation(ok=True, result={"ok": True, **result})

    # One method per action: each either changes the list and returns what the model is shown, or raises Refused first.

    def _find(self, title: str, *, own_only: bool = True) -> int | None:
        key = title_key(title)
        for index, task in enumerate(self._tasks):
            if title_key(task["title"]) == key and not (own_only and "owner" in task):
                return index
        return None

    def _own(self, title: str) -> int:
        index = self._find(title)
        if index is None:
            raise Refused(f"no task titled {title!r}")
        return index

    def _create(self, arguments: dict[str, Any]) -> dict[str, Any]:
        title = " ".join(arguments["title"].split())
        if self._find(title) is not None:
            raise Refused(f"a task titled {title!r} already exists")
        if self._find(title, own_only=False) is not None:  # another user's: say no more than that the title cannot be used
            raise Refused(f"the title {title!r} cannot be used; choose another")
        task = shown({"title": title, "priority": DEFAULT_PRIORITY, "status": "open", **{key: arguments[key] for key in EDITABLE if key in arguments}})
        self._tasks.append(task)
        return {"task": shown(task)}

    def _update(self, arguments: dict[str, Any]) -> dict[str, Any]:
        index = self._own(arguments["title"])
        changes = {key: arguments[key] for key in EDITABLE if key in arguments}
        if not changes:
            raise Refused(f"update names nothing to change (give one of {', '.join(EDITABLE)})")
        self._tasks[index] = shown({**self._tasks[index], **changes})
        return {"task": shown(self._tasks[index])}

    def _complete(self, arguments: dict[str, Any]) -> dict[str, Any]:
        index = self._own(arguments["title"])
        self._tasks[index] = {**self._tasks[index], "status": "done"}
        return {"task": shown(self._tasks[index])}

    def _delete(self, arguments: dict[str, Any]) -> dict[str, Any]:
        index = self._own(arguments["title"])
        title = self._tasks.pop(index)["title"]
        return {"deleted": title}

    def _list(self, arguments: dict[str, Any]) -> dict[str, Any]:
        wanted = arguments.get("filter", {})
        return {"tasks": [shown(task) for task in self._tasks if "owner" not in task and _matches(task, wanted)]}

    def _clarify(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return {"asked": arguments.get("question", ""), "reason": arguments["reason"]}
