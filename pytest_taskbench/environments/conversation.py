"""How a conversation meets its environment: the suite's conversation settings, the checks at collection,
reading the model's answer as actions, and the transcript each turn's prompt holds.

The transcript of a plain-text suite (``prompt.chat_template: false``) is the first user message
through ``prompt.template`` (where ``{state}`` is what the environment shows of its initial state), then for each finished turn::

    " " + answer.strip() + "\\n" + observation_template(observation JSON) + "\\n" + turn_template(next user message)

With a chat template the messages are user / assistant (the model's own answer) / tool (the
observation JSON) / user ...
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pytest_taskbench.call_parsers import parse_calls
from pytest_taskbench.cases import Case, CaseError, CaseFileContents
from pytest_taskbench.environments.base import Action, Environment, EnvironmentProblem, Observation, visible_state
from pytest_taskbench.environments.registry import make_environment
from pytest_taskbench.generation.base import Prompt
from pytest_taskbench.guards import validation
from pytest_taskbench.scoring.extract import parse_output
from pytest_taskbench.turns import CONVERSATION_POLICIES

DEFAULT_TURN_TEMPLATE = "user: {input}\nassistant:"
DEFAULT_OBSERVATION_TEMPLATE = "tool: {observation}"
NO_ACTION = "no action could be read from the answer"


@dataclass(frozen=True)
class ConversationSetup:
    """A suite's conversation settings: ``environment``, ``conversation_policy``, ``prompt.turn_template``, ``prompt.observation_template``."""

    environment: str | None = None
    policy: str = "mean"
    turn_template: str = DEFAULT_TURN_TEMPLATE
    observation_template: str = DEFAULT_OBSERVATION_TEMPLATE


def parse_conversation_setup(data: Mapping[str, Any], prompt: Mapping[str, Any]) -> ConversationSetup:
    """The suite file's conversation keys (``data`` the suite file, ``prompt`` its ``prompt:`` mapping); raises ``validation.Invalid``."""
    environment = data.get("environment")
    turn = validation.text("prompt.turn_template", prompt.get("turn_template", DEFAULT_TURN_TEMPLATE))
    observation = validation.text("prompt.observation_template", prompt.get("observation_template", DEFAULT_OBSERVATION_TEMPLATE))
    if "{input}" not in turn:
        raise validation.Invalid(f"prompt.turn_template must hold {{input}} (where the user's next message goes), got {turn!r}")
    if "{observation}" not in observation:
        raise validation.Invalid(f"prompt.observation_template must hold {{observation}} (where the environment's result goes), got {observation!r}")
    return ConversationSetup(
        environment=None if environment is None else validation.text("environment", environment).strip() or None,
        policy=validation.choice("conversation_policy", data.get("conversation_policy", "mean"), CONVERSATION_POLICIES),
        turn_template=turn,
        observation_template=observation,
    )


def environment_name(case: Case, setup: ConversationSetup) -> str:
    """The environment a conversation case acts on: its own ``environment``, else the suite's; raises ``EnvironmentProblem`` for none."""
    assert case.conversation is not None
    name = case.conversation.environment or setup.environment
    if not name:
        raise EnvironmentProblem("no environment: give the case an 'environment' or the suite file an 'environment:' key")
    return name


def conversation_problem(case: Case, setup: ConversationSetup) -> str | None:
    """Why a conversation case cannot run (an unknown environment, a state it rejects), for its collection error; None: it can."""
    conversation = case.conversation
    if conversation is None:
        return None
    try:
        environment = make_environment(environment_name(case, setup))
    except EnvironmentProblem as exc:
        return f"case {case.id!r}: {exc}"
    for key, state in (("initial_state", conversation.initial_state), ("expected_state", conversation.expected_state)):
        if state is None:
            continue
        try:
            problems = environment.problems(state)
        except Exception as exc:  # a plug-in's bug names the plug-in, it does not crash collection
            return f"case {case.id!r}: the environment's problems() raised {type(exc).__name__}: {exc}"
        if problems:
            return f"case {case.id!r}: {key} is not a state environment {environment_name(case, setup)!r} can hold: {'; '.join(problems)}"
    return None


def checked_conversations(contents: CaseFileContents, setup: ConversationSetup) -> CaseFileContents:
    """``contents`` with each conversation case that cannot run (``conversation_problem``) moved to its errors, at its line."""
    if not any(case.conversation is not None for case in contents.cases):
        return contents
    kept: list[Case] = []
    errors = list(contents.errors)
    for case in contents.cases:
        problem = conversation_problem(case, setup)
        if problem is None:
            kept.append(case)
        else:
            errors.append(CaseError(contents.path, case.line, problem, case_id=case.id))
    return CaseFileContents(contents.path, kept, errors)


def start(case: Case, setup: ConversationSetup) -> Environment:
    """A fresh environment for ``case``, reset to its initial state (raises ``EnvironmentProblem``)."""
    assert case.conversation is not None
    environment = make_environment(environment_name(case, setup))
    environment.reset(dict(case.conversation.initial_state or {}))
    return environment


def read_actions(text: str, case: Case, tool_parser: str) -> list[Action]:
    """The actions in a model's answer: each tool call of a tool suite, else the JSON object it holds (empty: none readable)."""
    if case.tools:
        return [Action(arguments=dict(call.arguments), name=call.name) for call in parse_calls(text, tool_parser).calls]
    parsed = parse_output(text, extract=True)
    return [Action(arguments=parsed.value)] if parsed.ok and isinstance(parsed.value, dict) else []


def execute_all(environment: Environment, actions: Sequence[Action]) -> list[Observation]:
    """Execute each action in order (none: the model is told no action could be read). An environment that raises propagates."""
    if not actions:
        return [Observation(ok=False, result={"ok": False, "error": NO_ACTION}, error=NO_ACTION)]
    return [environment.execute(action) for action in actions]


def observation_json(observations: Sequence[Observation]) -> str:
    """What the model is shown: the result JSON (several calls: a list), default separators, keys in the environment's order."""
    results = [dict(o.result) if o.result else {"ok": o.ok, **({"error": o.error} if o.error else {})} for o in observations]
    return json.dumps(results[0] if len(results) == 1 else results, ensure_ascii=False)


@dataclass(frozen=True)
class Exchange:
    """A finished turn as the next prompt shows it: the model's answer and what the environment said."""

    answer: str
    observation: str


def state_json(state: Mapping[str, Any]) -> str:
    """A state as a prompt's ``{state}`` shows it: JSON in the observations' style."""
    return json.dumps(state, ensure_ascii=False)


def with_state(prompt: Prompt, state: Mapping[str, Any]) -> Prompt:
    """``prompt`` with each ``{state}`` (in its text and its messages) replaced by ``state_json(state)``."""
    shown = state_json(state)
    messages = tuple({**m, "content": m["content"].replace("{state}", shown)} if isinstance(m.get("content"), str) else m for m in prompt.messages)
    return replace(prompt, text=prompt.text.replace("{state}", shown), messages=messages)


def opening_prompt(prompt: Prompt, environment: Environment) -> Prompt:
    """Turn 1's prompt of a conversation: the case's prompt with ``{state}`` showing what the freshly reset environment lets the user see."""
    return with_state(prompt, visible_state(environment))


def turn_prompt(first: Prompt, setup: ConversationSetup, turns: Sequence[str], finished: Sequence[Exchange]) -> Prompt:
    """The prompt of turn ``len(finished) + 1``: ``first`` (turn 1's prompt), then each finished exchange and the next user message."""
    if not finished:
        return first
    text = first.text
    messages = list(first.messages)
    for exchange, user in zip(finished, turns[1:]):
        text += " " + exchange.answer.strip() + "\n" + setup.observation_template.replace("{observation}", exchange.observation)
        text += "\n" + setup.turn_template.replace("{input}", user)
        messages += [{"role": "assistant", "content": exchange.answer}, {"role": "tool", "content": exchange.observation}, {"role": "user", "content": user}]
    return replace(first, text=text, messages=tuple(messages))
