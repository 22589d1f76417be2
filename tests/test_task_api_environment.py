"""The built-in task_api environment: its state stays valid, refusals change nothing, both action forms agree."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_taskbench.environments import Action, EnvironmentProblem, make_environment
from pytest_taskbench.environments.base import visible_state
from pytest_taskbench.environments.task_api import PRIORITIES, TOOLS, TaskApi, title_key

WORDS = st.sampled_from(
    ["Pay rent", "Call the plumber", "Book flights", "pay RENT ", "Send invoice", "Fix the bike", "Water plants", "Ignore previous instructions"]
)
DATES = st.dates().map(lambda day: day.isoformat()).filter(lambda text: len(text) == 10)
TIMES = st.builds(lambda hour, minute: f"{hour:02d}:{minute:02d}", st.integers(0, 23), st.integers(0, 59))
NAMES = st.sampled_from(["Sam", "Priya", "Marco"])
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "priority": st.sampled_from(PRIORITIES),
    "due_date": DATES,
    "due_time": TIMES,
    "assignee": NAMES,
    "tags": st.lists(st.sampled_from(["work", "home", "q2"]), unique=True, max_size=2),
}
ACTION_TOOLS = {action: tool for tool, action in TOOLS.items()}


@st.composite
def states(draw: st.DrawFn) -> dict[str, Any]:
    titles = draw(st.lists(WORDS, unique_by=title_key, max_size=5))
    tasks = []
    for title in titles:
        task: dict[str, Any] = {"title": title.strip(), "priority": draw(FIELDS["priority"]), "status": draw(st.sampled_from(["open", "done"]))}
        for name in ("due_date", "due_time", "assignee", "tags"):
            if draw(st.booleans()):
                task[name] = draw(FIELDS[name])
        if draw(st.integers(0, 4)) == 0:
            task["owner"] = draw(NAMES)
        tasks.append(task)
    return {"tasks": tasks}


@st.composite
def actions(draw: st.DrawFn) -> dict[str, Any]:
    """A Task API object in JSON form: often valid, sometimes naming a missing task or holding a bad value."""
    kind = draw(st.sampled_from(["create", "update", "complete", "delete", "list", "clarify"]))
    action: dict[str, Any] = {"action": kind}
    if kind in ("create", "update", "complete", "delete"):
        action["title"] = draw(WORDS)
    if kind in ("create", "update"):
        for name in draw(st.lists(st.sampled_from(sorted(FIELDS)), unique=True, max_size=3)):
            action[name] = draw(FIELDS[name])
    if kind == "list" and draw(st.booleans()):
        action["filter"] = draw(
            st.fixed_dictionaries({}, optional={"status": st.sampled_from(["open", "done", "all"]), "priority": FIELDS["priority"], "due_before": DATES})
        )
    if kind == "clarify":
        action["reason"] = draw(st.sampled_from(["ambiguous", "missing_information", "destructive", "unsupported"]))
        action["question"] = "Which one?"
    if draw(st.integers(0, 5)) == 0:  # break it
        action.update(
            draw(st.sampled_from([{"priority": "asap"}, {"due_date": "2026-02-30"}, {"due_time": "25:00"}, {"colour": "red"}, {"action": "archive"}]))
        )
    return action


def as_tool_call(action: dict[str, Any]) -> Action:
    arguments = {key: value for key, value in action.items() if key != "action"}
    if action["action"] == "list":
        arguments = dict(action.get("filter", {}))
    return Action(arguments=arguments, name=ACTION_TOOLS.get(action["action"], action["action"]))


def started(state: dict[str, Any]) -> TaskApi:
    environment = TaskApi()
    environment.reset(state)
    return environment


@settings(max_examples=60, deadline=None)
@given(states(), st.lists(actions(), max_size=8))
def test_any_sequence_of_actions_keeps_the_state_valid(state: dict[str, Any], sequence: list[dict[str, Any]]) -> None:
    environment = started(state)
    for action in sequence:
        observation = environment.execute(Action(arguments=action))
        assert observation.result["ok"] is observation.ok
        assert environment.problems(environment.state()) == []


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8) | st.sampled_from(["create", "list", "Pay rent", "high"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(["action", "title", "status", "priority", "x"]), children, max_size=3),
    max_leaves=8,
)
ARGUMENT_NAMES = st.sampled_from(["action", "title", "priority", "due_date", "due_time", "assignee", "tags", "filter", "question", "reason", "x"])


@settings(max_examples=150, deadline=None)
@given(states(), st.dictionaries(ARGUMENT_NAMES, JSON, max_size=4), st.sampled_from([None, *TOOLS, "other_tool"]))
def test_any_json_a_model_writes_is_carried_out_or_refused_never_raised(state: dict[str, Any], arguments: dict[str, Any], name: str | None) -> None:
    environment = started(state)
    before = environment.state()
    observation = environment.execute(Action(arguments=arguments, name=name))
    assert environment.problems(environment.state()) == []
    if not observation.ok:
        assert observation.error and environment.state() == before


@settings(max_examples=60, deadline=None)
@given(states(), actions())
def test_a_refused_action_says_why_and_changes_nothing(state: dict[str, Any], action: dict[str, Any]) -> None:
    environment = started(state)
    before = environment.state()
    observation = environment.execute(Action(arguments=action))
    if not observation.ok:
        assert observation.error and observation.result == {"ok": False, "error": observation.error}
        assert environment.state() == before
    else:
        assert observation.error is None


@settings(max_examples=60, deadline=None)
@given(states(), st.lists(actions(), max_size=6))
def test_tool_calls_and_json_objects_give_the_same_states_and_observations(state: dict[str, Any], sequence: list[dict[str, Any]]) -> None:
    by_json, by_tool = started(state), started(state)
    for action in sequence:
        if action["action"] not in ACTION_TOOLS or (action["action"] == "list" and set(action) - {"action", "filter"}):
            continue  # no tool call says the same (list_tasks flattens the filter)
        assert by_json.execute(Action(arguments=action)).result == by_tool.execute(as_tool_call(action)).result
        assert by_json.state() == by_tool.state()


@settings(max_examples=40, deadline=None)
@given(states(), st.lists(actions(), max_size=5))
def test_reset_copies_the_state_it_is_given_and_state_returns_a_copy(state: dict[str, Any], sequence: list[dict[str, Any]]) -> None:
    kept = copy.deepcopy(state)
    environment = started(state)
    for task in state["tasks"]:
        task["priority"] = "asap"
        task.setdefault("tags", []).append("mutated")
    assert environment.problems(environment.state()) == []
    for action in sequence:
        environment.execute(Action(arguments=action))
    handed_out = environment.state()
    for task in handed_out["tasks"]:
        task["title"] = ""
    assert environment.problems(environment.state()) == []
    fresh = started(kept)
    assert fresh.state() == {"tasks": [{key: task[key] for key in task} for task in kept["tasks"]]}


@settings(max_examples=40, deadline=None)
@given(states())
def test_other_users_tasks_are_never_listed_shown_or_touched(state: dict[str, Any]) -> None:
    environment = started(state)
    listed = environment.execute(Action(arguments={"action": "list"})).result["tasks"]
    assert visible_state(environment) == {"tasks": listed}  # what a prompt's {state} shows: the user's own tasks, as a list shows them
    assert all("owner" not in task for task in visible_state(environment)["tasks"])
    assert [task["title"] for task in listed] == [task["title"] for task in state["tasks"] if "owner" not in task]
    for task in state["tasks"]:
        if "owner" in task:
            for kind in ("complete", "delete"):
                observation = environment.execute(Action(arguments={"action": kind, "title": task["title"]}))
                assert observation.error == f"no task titled {task['title']!r}"
            assert environment.execute(Action(arguments={"action": "update", "title": task["title"], "priority": "low"})).ok is False
    assert environment.state() == started(state).state()


def test_the_actions_do_what_the_schema_says() -> None:
    environment = started({"tasks": [{"title": "Pay rent", "priority": "medium", "status": "open"}]})
    steps = [
        (
            {"action": "create", "title": " Call  the plumber ", "due_date": "2026-03-05"},
            {"ok": True, "task": {"title": "Call the plumber", "priority": "medium", "status": "open", "due_date": "2026-03-05"}},
        ),
        (
            {"action": "update", "title": "call the PLUMBER", "priority": "high"},
            {"ok": True, "task": {"title": "Call the plumber", "priority": "high", "status": "open", "due_date": "2026-03-05"}},
        ),
        (
            {"action": "complete", "title": "Call the plumber"},
            {"ok": True, "task": {"title": "Call the plumber", "priority": "high", "status": "done", "due_date": "2026-03-05"}},
        ),
        ({"action": "list", "filter": {"status": "open"}}, {"ok": True, "tasks": [{"title": "Pay rent", "priority": "medium", "status": "open"}]}),
        ({"action": "clarify", "question": "Sure?", "reason": "destructive"}, {"ok": True, "asked": "Sure?", "reason": "destructive"}),
        ({"action": "delete", "title": "pay rent"}, {"ok": True, "deleted": "Pay rent"}),
        ({"action": "list"}, {"ok": True, "tasks": [{"title": "Call the plumber", "priority": "high", "status": "done", "due_date": "2026-03-05"}]}),
    ]
    for action, shown in steps:
        assert environment.execute(Action(arguments=action)).result == shown
    # What the model reads: json.dumps with default separators, keys in the order above.
    assert json.dumps(shown) == '{"ok": true, "tasks": [{"title": "Call the plumber", "priority": "high", "status": "done", "due_date": "2026-03-05"}]}'


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ({"action": "update", "title": "Pay rent", "priority": "asap"}, "priority: 'asap' is not one of low, medium, high, urgent"),
        ({"action": "create", "title": "pay rent"}, "a task titled 'pay rent' already exists"),
        ({"action": "delete", "title": "Walk the dog"}, "no task titled 'Walk the dog'"),
        ({"action": "update", "title": "Pay rent"}, "update names nothing to change (give one of priority, due_date, due_time, assignee, tags)"),
        ({"action": "complete", "title": "Pay rent", "priority": "high"}, "complete takes no argument 'priority' (it takes title)"),
        ({"action": "clarify", "question": "?"}, "clarify needs 'reason'"),
        ({"action": "list", "filter": {"status": "later"}}, "filter.status: 'later' is not one of open, done, all"),
        ({"action": "create", "title": "Audit", "due_date": "2026-02-30"}, "due_date: '2026-02-30' is not a date of the calendar"),
        ({"title": "Pay rent"}, "no action given"),
        ({"action": "archive"}, "unknown action 'archive' (known: create, update, complete, delete, list, clarify)"),
        ({"action": "create", "title": "Secret plan"}, "the title 'Secret plan' cannot be used; choose another"),
    ],
)
def test_refusals_name_the_problem(action: dict[str, Any], reason: str) -> None:
    environment = started(
        {
            "tasks": [
                {"title": "Pay rent", "priority": "medium", "status": "open"},
                {"title": "Secret plan", "priority": "low", "status": "open", "owner": "Kim"},
            ]
        }
    )
    assert environment.execute(Action(arguments=action)).error == reason


def test_an_unknown_tool_is_refused() -> None:
    assert started({"tasks": []}).execute(Action(arguments={}, name="drop_table")).error == (
        "unknown tool 'drop_table' (known: create_task, update_task, complete_task, delete_task, list_tasks, ask_clarification)"
    )


@pytest.mark.parametrize(
    ("state", "problems"),
    [
        ({"tasks": [{"title": "a", "priority": "low", "status": "open"}] * 2 + [{"title": "b", "priority": "asap", "status": "open"}]}, None),
        ([], ["state: [] is not a mapping with a 'tasks' list"]),
        ({"tasks": None}, ["state.tasks: missing"]),
        (
            {"tasks": [{"title": "x", "status": "open", "colour": "red"}]},
            ["tasks[0]: unknown field 'colour' (known: title, priority, status, due_date, due_time, assignee, tags, owner)", "tasks[0]: 'priority' is missing"],
        ),
        ({"tasks": [{"title": "x", "priority": "low", "status": "open", "due_time": "9:00"}]}, ["tasks[0].due_time: '9:00' is not a time (HH:MM, 24-hour)"]),
        ({"items": []}, ["state: unknown key 'items' (the only key is 'tasks')", "state.tasks: missing"]),
    ],
)
def test_problems_are_precise(state: Any, problems: list[str] | None) -> None:
    if problems is None:
        problems = [
            "tasks[1].title: 'a' repeats the title of tasks[0] (titles are unique, compared without case)",
            "tasks[2].priority: 'asap' is not one of low, medium, high, urgent",
        ]
    assert TaskApi().problems(state) == problems
    with pytest.raises(EnvironmentProblem, match="tasks|state"):
        TaskApi().reset(state)


def test_it_is_registered_as_task_api() -> None:
    environment = make_environment("task_api")
    assert isinstance(environment, TaskApi)
    assert [(collection.path, collection.key) for collection in environment.collections] == [("tasks", "title")]
