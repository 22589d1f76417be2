"""Conversation cases: driven turn by turn, batched across cases, and scored as one case each.

A round generates the next turn of every running conversation at once through the
generation engine (its cache, its length-sorted batches), then executes each answer in
that case's own environment; the next round's prompts hold the answers and observations.
So turn 1 of every planned conversation goes to the model in batches, then turn 2 of those
still running, and so on. Each turn is an ordinary generation of a prompt that holds the
conversation so far, so the cache keys it by that prompt: a killed run resumes mid-conversation
and a warm re-run makes no model calls.

Which conversations a round drives follows the engine's plan: in one process, all of them
before the first item runs; under pytest-xdist, the case asked for and the conversations
already sent to this worker (``upcoming``).

A conversation's score combines its turn scores (the category scorer on each turn with an
``expected``/``expected_calls``) and its state score (``scoring/state.py`` on the final state)
under its policy; a critical side effect (a record the expected state keeps, deleted or
changed) scores 0 and fails it. An environment that raises fails that case; an action the
environment refuses is shown to the model, and fails the case with the reason at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pytest_taskbench.calls import calls_json
from pytest_taskbench.cases import Case
from pytest_taskbench.environments.base import Environment, Observation
from pytest_taskbench.environments.conversation import (
    Exchange,
    environment_name,
    execute_all,
    observation_json,
    opening_prompt,
    read_actions,
    start,
    turn_prompt,
)
from pytest_taskbench.generation.base import GenerationParams, Prompt
from pytest_taskbench.generation.engine import GenerationEngine, Job
from pytest_taskbench.results import CaseResult, Status
from pytest_taskbench.scoring.score import Scorer, safe_score
from pytest_taskbench.scoring.state import StateComparison, compare_states
from pytest_taskbench.suite import Suite

Planned = tuple[Suite, Case, str]


@dataclass
class TurnRecord:
    """What happened at one turn: the model's answer, the actions read from it and what the environment said."""

    user: str
    output: str | None = None
    error: str | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)
    observations: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"user": self.user, "output": self.output, "error": self.error, "actions": self.actions, "observations": self.observations}


@dataclass
class ConversationRun:
    """One conversation case on its way: its environment, the turns done, and why it stopped early (``failure``)."""

    suite: Suite
    case: Case
    nodeid: str
    environment: Environment | None = None
    turns: list[TurnRecord] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    state_before: dict[str, Any] = field(default_factory=dict)
    opening: Prompt | None = None  # turn 1's prompt, its {state} filled from the environment at the start
    state_after: dict[str, Any] = field(default_factory=dict)
    failure: str | None = None  # the environment raised, or the model gave no output: the case fails with this
    model_error: bool = False

    @property
    def users(self) -> list[str]:
        assert self.case.conversation is not None
        return [turn.user for turn in self.case.conversation.turns]

    @property
    def done(self) -> bool:
        return self.failure is not None or len(self.turns) == len(self.users)


class ConversationDriver:
    """Drives the planned conversation cases through the engine, a turn of many cases per round."""

    def __init__(self, engine: GenerationEngine, params_for: Callable[[Suite], GenerationParams], tool_parser: str) -> None:
        self._engine = engine
        self._params_for = params_for
        self._tool_parser = tool_parser
        self._planned: list[Planned] = []
        self._runs: dict[str, ConversationRun] = {}
        self._upcoming: Callable[[], Iterable[str]] | None = None
        self._lookahead: int | None = None
        self.rounds = 0

    def plan(self, planned: Sequence[Planned], lookahead: int | None = None, upcoming: Callable[[], Iterable[str]] | None = None) -> None:
        self._planned = [item for item in planned if item[1].conversation is not None]
        self._lookahead, self._upcoming = lookahead, upcoming

    def prefetch(self) -> None:
        """Drive every planned conversation now (one process: before the first item runs)."""
        self.drive([item for item in self._planned if item[2] not in self._runs])

    def run(self, suite: Suite, case: Case, nodeid: str) -> ConversationRun:
        """The finished conversation of ``nodeid``, driving it (with the conversations planned after it) if needed."""
        if nodeid not in self._runs:
            self.drive(self._pending_from((suite, case, nodeid)))
        return self._runs[nodeid]

    def _pending_from(self, item: Planned) -> list[Planned]:
        keys = [key for _, _, key in self._planned]
        if self._upcoming is not None:
            wanted = set(self._upcoming())
            return [item] + [p for p in self._planned if p[2] in wanted and p[2] != item[2] and p[2] not in self._runs]
        if item[2] not in keys:
            return [item]
        start_at = keys.index(item[2])
        end = None if self._lookahead is None else start_at + self._lookahead
        return [p for p in self._planned[start_at:end] if p[2] not in self._runs]

    def drive(self, items: Sequence[Planned]) -> None:
        """Run ``items`` to their end: each round generates the next turn of every running one, in one batched call."""
        runs = [self._start(*item) for item in items]
        for run in runs:
            self._runs[run.nodeid] = run
        while True:
            running = [run for run in runs if not run.done]
            if not running:
                break
            self.rounds += 1
            jobs = [self._job(run) for run in running]
            for run, generation in zip(running, self._engine.produce(jobs)):
                self._advance(run, generation.text, generation.error)
        for run in runs:
            self._finish(run)

    def _start(self, suite: Suite, case: Case, nodeid: str) -> ConversationRun:
        run = ConversationRun(suite, case, nodeid)
        try:
            run.environment = start(case, suite.conversation)
            run.state_before = run.environment.state()
            run.opening = opening_prompt(suite.prompt_for(case), run.environment)
        except Exception as exc:  # an environment that cannot start fails its case, not the session
            run.failure = f"the environment could not start: {type(exc).__name__}: {exc}"
        return run

    def _job(self, run: ConversationRun) -> Job:
        assert run.opening is not None
        prompt = turn_prompt(run.opening, run.suite.conversation, run.users, run.exchanges)
        return Job((run.nodeid, len(run.turns) + 1), prompt, self._params_for(run.suite), run.case.id)

    def _advance(self, run: ConversationRun, text: str | None, error: str | None) -> None:
        record = TurnRecord(run.users[len(run.turns)])
        run.turns.append(record)
        if text is None:
            record.error = error
            run.failure, run.model_error = f"model error at turn {len(run.turns)}: {error}", True
            return
        record.output = text
        actions = read_actions(text, run.case, self._tool_parser)
        record.actions = [{"name": a.name, "arguments": dict(a.arguments)} if a.name is not None else dict(a.arguments) for a in actions]
        assert run.environment is not None
        try:
            observations = execute_all(run.environment, actions)
        except Exception as exc:  # a bug in the environment: this case fails with it, the session goes on
            run.failure = f"the environment raised at turn {len(run.turns)}: {type(exc).__name__}: {exc}"
            return
        record.observations = [_observation(o) for o in observations]
        run.exchanges.append(Exchange(text, observation_json(observations)))

    def _finish(self, run: ConversationRun) -> None:
        if run.environment is not None:
            try:
                run.state_after = run.environment.state()
            except Exception as exc:
                run.failure = run.failure or f"the environment's state() raised: {type(exc).__name__}: {exc}"


def _observation(observation: Observation) -> dict[str, Any]:
    return {"ok": observation.ok, "result": dict(observation.result), "error": observation.error}


def conversation_result(run: ConversationRun, base: CaseResult, scorer: Scorer | None) -> CaseResult:
    """The case's result: turn scores, the state score and side effects, combined under the conversation policy."""
    case, conversation = run.case, run.case.conversation
    assert conversation is not None
    threshold = base.threshold
    policy = conversation.policy or run.suite.conversation.policy
    turns: list[dict[str, Any]] = []
    parts: list[float] = []
    first_wrong: int | None = None
    refused: list[str] = []
    for index, (turn, record) in enumerate(zip(conversation.turns, run.turns), start=1):
        entry = record.as_dict()
        if (turn.has_expected or turn.expected_calls is not None) and scorer is not None and record.output is not None:
            expected = turn.expected if turn.has_expected else calls_json(turn.expected_calls or ())
            turn_case = replace(case, input=turn.user, expected=expected, expected_calls=turn.expected_calls, conversation=None)
            score = safe_score(scorer, record.output, turn_case)
            entry.update(expected=expected, score=round(score.value, 6), reason=score.reason)
            parts.append(score.value)
            if score.value < threshold and first_wrong is None:
                first_wrong = index
        for observation in record.observations:
            if not observation["ok"]:
                refused.append(f"turn {index}: {observation['error'] or 'refused'}")
                first_wrong = first_wrong or index
        turns.append(entry)
    compared: StateComparison | None = None
    if conversation.expected_state is not None and run.environment is not None and run.failure is None:
        collections = {c.path: c.key for c in run.environment.collections}
        compared = compare_states(conversation.expected_state, run.state_after, collections, conversation.initial_state or {})
        parts.append(compared.score)
    details: dict[str, Any] = {
        "environment": environment_name(case, run.suite.conversation),
        "policy": policy,
        "turns": turns,
        "turns_run": len(run.turns),
        "state_before": run.state_before,
        "state_after": run.state_after,
        "expected_state": conversation.expected_state,
        "state_score": None if compared is None else round(compared.score, 6),
        "state_reason": None if compared is None else compared.reason,
        "state_records": [] if compared is None else compared.records,
        "side_effects": [] if compared is None else [effect.as_dict() for effect in compared.side_effects],
        "refused": refused,
        "first_wrong_turn": first_wrong,
    }
    output = run.turns[-1].output if run.turns else None
    if run.failure is not None:
        status: Status = "error"  # the model or the environment failed: the case has no score of its own
        return replace(base, status=status, score=0.0, passed=False, reason=run.failure, output=output, conversation=details)
    value = _combine(policy, parts)
    reasons = [] if compared is None else [f"state: {compared.reason}"]
    critical = [] if compared is None else list(compared.critical)
    if critical:
        value, reasons = 0.0, [f"critical side effect: {'; '.join(effect.describe() for effect in critical)}", *reasons]
    if refused:
        reasons.append(f"the environment refused an action ({refused[0]})")
    wrong_turns = [f"turn {t_index}: {t['reason']}" for t_index, t in enumerate(turns, start=1) if t.get("score") is not None and t["score"] < threshold]
    reasons += wrong_turns[:2]
    passed = value >= threshold and not critical and not refused
    if not reasons:
        reasons = [f"{len(parts)} part{'s' if len(parts) != 1 else ''} scored, policy {policy}"]
    if first_wrong is None and not passed:
        details["first_wrong_turn"] = len(run.turns) if compared is None or compared.score < threshold or critical else None
    return replace(base, score=value, passed=passed, reason="; ".join(reasons), output=output, conversation=details)


def _combine(policy: str, parts: Sequence[float]) -> float:
    if not parts:
        return 1.0
    if policy == "final":  # the state score when there is one (it comes last), else the last scored turn
        return parts[-1]
    if policy == "all":
        return min(parts)
    return sum(parts) / len(parts)
