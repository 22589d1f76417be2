"""The contract between a conversation and the world it acts on.

An *environment* holds a state (a JSON value: mappings, lists, strings, numbers), executes the
model's actions against it one at a time and shows the model what happened. A conversation
case names its environment and its ``initial_state``; after the last turn the state scorer
compares ``state()`` with the case's ``expected_state``.

An action the environment refuses (an unknown task, an argument of the wrong type) is not an
error of the run: ``execute`` returns an :class:`Observation` with ``ok=False`` and the reason,
and leaves the state exactly as it was. Only a bug in the environment itself raises.

An environment may also define ``view() -> dict``: the part of the state the user may see, which
a prompt's ``{state}`` shows the model at the start of a conversation (the built-in ``task_api``
leaves out other users' tasks). Without it, ``{state}`` shows ``state()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


class EnvironmentProblem(Exception):
    """A state the environment cannot start from (``initial_state``), or an environment that cannot be made."""


@dataclass(frozen=True)
class Action:
    """One thing the model asked for: a JSON object (``name`` None, as the Task API suite answers) or a tool call."""

    arguments: Mapping[str, Any]
    name: str | None = None  # the function's name for a tool call


@dataclass(frozen=True)
class Observation:
    """What executing an action did: shown to the model as the next tool/observation message."""

    ok: bool
    result: Mapping[str, Any] = field(default_factory=dict)  # the JSON the model is shown (for ok=False: at least the error)
    error: str | None = None  # why the action was refused (ok=False); the state did not change


@dataclass(frozen=True)
class RecordCollection:
    """A list in the state whose items the state scorer matches one to one: ``tasks`` keyed by ``title``."""

    path: str  # the top-level key holding the list
    key: str | None = None  # the field that identifies a record (None: best match by field credit)


@runtime_checkable
class Environment(Protocol):
    """What a conversation case needs from its world. One instance serves one case at a time."""

    collections: tuple[RecordCollection, ...]  # the record lists the state scorer matches record by record

    def problems(self, state: Any) -> list[str]:
        """Why ``state`` is not a state this environment can hold (empty: it is). Used at collection on ``initial_state`` and ``expected_state``."""
        ...

    def reset(self, initial_state: Mapping[str, Any]) -> None:
        """Start from ``initial_state`` (a deep copy; the case's data is never changed). Raises EnvironmentProblem for a state ``problems`` rejects."""
        ...

    def execute(self, action: Action) -> Observation:
        """Carry out one action; a refused action changes nothing and says why."""
        ...

    def state(self) -> dict[str, Any]:
        """The current state, as a JSON value the caller may keep (a copy)."""
        ...


def visible_state(environment: Environment) -> dict[str, Any]:
    """What the model may be shown of the state: the environment's ``view()`` when it has one, else ``state()``."""
    view = getattr(environment, "view", None)
    return dict(view()) if callable(view) else environment.state()
