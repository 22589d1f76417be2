"""The turns of a conversation case: what the user says at each turn and, optionally, what the model should answer.

A conversation case lists ``turns:`` instead of ``input``/``messages``. Each turn is
``{user: TEXT}`` plus an optional ``expected`` (the answer, scored by the case's category
scorer) or ``expected_calls`` (a tool suite's calls). The model's own answer at each turn,
not the expected one, is what the next turn's prompt holds.

Data only: reading and checking the case keys (``cases.py`` calls ``read_conversation``).
Running a conversation is ``conversations.py``; its world is ``environments/``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from pytest_taskbench.calls import ExpectedCall, Tool, read_expected_calls
from pytest_taskbench.guards import validation

CONVERSATION_KEYS = frozenset({"turns", "environment", "initial_state", "expected_state"})
CONVERSATION_POLICIES = ("final", "mean", "all")  # how turn scores and the state score become the case's score
TURN_KEYS = ("user", "expected", "expected_calls")
MAX_TURNS = 100


class TurnInvalid(validation.Invalid):
    """A problem inside one turn; ``turn`` (from 1) lets the case file name the turn's own line."""

    def __init__(self, message: str, turn: int) -> None:
        super().__init__(message)
        self.turn = turn


@dataclass(frozen=True)
class Turn:
    """One user message of a conversation and what the model should answer to it (``has_expected`` False: nothing is scored)."""

    user: str
    expected: Any = None
    has_expected: bool = False
    expected_calls: tuple[ExpectedCall, ...] | None = None


@dataclass(frozen=True)
class Conversation:
    """A case's conversation: its turns, its world and the state it should leave."""

    turns: tuple[Turn, ...]
    environment: str | None = None  # None: the suite's ``environment:``
    initial_state: Mapping[str, Any] | None = None  # None: the environment's empty state ({})
    expected_state: Mapping[str, Any] | None = None  # None: the state is not scored
    policy: str | None = None  # final | mean | all (None: the suite's ``conversation_policy``)

    @property
    def scored_turns(self) -> int:
        return sum(turn.has_expected or turn.expected_calls is not None for turn in self.turns)


def is_conversation(data: Mapping[str, Any]) -> bool:
    """Whether a raw case is a conversation case (it has ``turns``)."""
    return "turns" in data


def read_conversation(name: str, data: Mapping[str, Any], tools: Sequence[Tool] | None) -> Conversation:
    """Check a raw case's conversation keys (``name`` is "case 'id'"); raises ``validation.Invalid`` naming the problem.

    ``tools`` are the functions the case may call (None: the suite offers none, and a turn's
    ``expected_calls`` is an error).
    """
    for key in ("input", "messages", "repeats"):
        if key in data:
            hint = "a conversation's input is its turns" if key != "repeats" else "a conversation case is run once (sampling conversations is not supported)"
            raise validation.Invalid(f"{name}: '{key}' cannot be used with 'turns' ({hint})")
    raw_turns = data["turns"]
    if not isinstance(raw_turns, list) or not raw_turns:
        raise validation.Invalid(f"{name}: 'turns' must be a non-empty list of turns, each {{user: TEXT}} with an optional expected or expected_calls")
    if len(raw_turns) > MAX_TURNS:
        raise validation.Invalid(f"{name}: {len(raw_turns)} turns; a conversation may have at most {MAX_TURNS}")
    turns = []
    for index, raw in enumerate(raw_turns, start=1):
        try:
            turns.append(_turn(f"{name}: turn {index}", raw, tools))
        except validation.Invalid as exc:
            raise TurnInvalid(str(exc), index) from None
    environment = data.get("environment")
    if environment is not None:
        environment = validation.text(f"{name}: environment", environment).strip()
    policy = data.get("policy")
    if policy is not None:
        policy = validation.choice(f"{name}: policy (a conversation policy)", policy, CONVERSATION_POLICIES)
    expected_state = _state(f"{name}: expected_state", data.get("expected_state"))
    if expected_state is None and not any(turn.has_expected or turn.expected_calls is not None for turn in turns):
        raise validation.Invalid(f"{name}: nothing to score: give a turn an 'expected' (or 'expected_calls') or the case an 'expected_state'")
    return Conversation(
        turns=tuple(turns),
        environment=environment or None,
        initial_state=_state(f"{name}: initial_state", data.get("initial_state")),
        expected_state=expected_state,
        policy=policy,
    )


def turn_lines(node: yaml.Node, line_of: Callable[[Any], int]) -> tuple[int, ...]:
    """The line each turn of a YAML case starts on (empty when the case has no list of turns)."""
    if isinstance(node, yaml.MappingNode):
        turns = next((value for key, value in node.value if key.value == "turns"), None)
        if isinstance(turns, yaml.SequenceNode):
            return tuple(line_of(turn.start_mark) for turn in turns.value)
    return ()


def _turn(where: str, raw: Any, tools: Sequence[Tool] | None) -> Turn:
    if not isinstance(raw, dict):
        raise validation.Invalid(f"{where} must be a mapping {{user: TEXT}}, got {type(raw).__name__}")
    validation.only_keys(where, raw, TURN_KEYS, noun="turn key")
    if "user" not in raw:
        raise validation.Invalid(f"{where} has no 'user' (the message the user sends at this turn)")
    user = validation.text(f"{where}: user", raw["user"])
    if "expected" in raw and "expected_calls" in raw:
        raise validation.Invalid(f"{where} has both 'expected' and 'expected_calls'; give one")
    calls = None
    if "expected_calls" in raw:
        if tools is None:
            raise validation.Invalid(f"{where}: expected_calls needs the suite to declare 'tools:' in taskbench.yaml")
        calls = read_expected_calls(raw["expected_calls"], tools, f"{where}: expected_calls")
    return Turn(user=user, expected=raw.get("expected"), has_expected="expected" in raw, expected_calls=calls)


def _state(where: str, value: Any) -> Mapping[str, Any] | None:
    if value is None:
        return None
    return validation.mapping(where, value, what="a mapping (the environment's state, e.g. {tasks: [...]})")
