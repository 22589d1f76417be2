"""One case's result, and its round trip through pytest user properties.

Results travel on test reports (``report.user_properties``) so the session
summary is computed the same way in one process and under pytest-xdist, where
only reports reach the controller. Values are plain str/float/bool so that JUnit
XML (which writes ``str(value)``) and pytest-json-report (which keeps only
JSON-serialisable values) both carry them; structured values are JSON strings.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from pytest_taskbench.guards import validation

PREFIX = "taskbench."
Status = Literal["scored", "error", "judge_error", "broken"]


@dataclass(frozen=True)
class SampleResult:
    """One sample of a case drawn more than once (``repeats``): its output (None on a model error), score and pass state."""

    output: str | None
    score: float
    passed: bool
    reason: str = ""
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"output": self.output, "score": round(self.score, 6), "passed": self.passed, "reason": self.reason, "error": self.error}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> SampleResult:
        output, error = value.get("output"), value.get("error")
        return cls(
            None if output is None else str(output),
            float(value.get("score", 0.0)),
            bool(value.get("passed", False)),
            str(value.get("reason", "")),
            None if error is None else str(error),
        )


@dataclass(frozen=True)
class CaseResult:
    """What one case produced.

    ``status`` is "scored" (the scorer ran), "error" (the model failed on this
    case; score 0), "judge_error" (the model answered but its judge gave no
    readable verdict or could not run; score 0) or "broken" (the case definition
    itself is invalid; it has no category and counts in no figure, but fails the run).
    """

    case_id: str
    nodeid: str
    suite: str
    category: str
    difficulty: str
    score: float
    passed: bool
    status: Status = "scored"
    reason: str = ""
    output: str | None = None
    input: str = ""
    expected: Any = None
    details: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    critical: bool = False
    path: str = ""
    line: int = 0
    threshold: float = 0.8
    calls: list[dict[str, Any]] | None = None  # the tool calls read from the output (None: the case offered no tools)
    # with repeats > 1: every sample, in order, and the policy that turned them into ``score`` and ``passed``
    samples: tuple[SampleResult, ...] = ()
    policy: str = "mean"
    # a conversation case: its turns (outputs, actions, observations, scores), the state before and after, side effects
    conversation: Mapping[str, Any] | None = None

    @property
    def side_effects(self) -> list[Mapping[str, Any]]:
        """A conversation's unintended changes to its environment's state (each with ``kind`` and ``critical``)."""
        return list(self.conversation.get("side_effects") or ()) if self.conversation else []

    @property
    def critical_side_effects(self) -> int:
        return sum(bool(effect.get("critical")) for effect in self.side_effects)

    @property
    def repeats(self) -> int:
        """How many samples were drawn for the case (1 without repeats)."""
        return len(self.samples) or 1

    @property
    def sample_passes(self) -> int:
        """How many samples passed (the case's own pass state without repeats)."""
        return sum(sample.passed for sample in self.samples) if self.samples else int(self.passed)

    @property
    def sample_pass_rate(self) -> float:
        return self.sample_passes / self.repeats

    @property
    def flaky(self) -> bool:
        """Some samples passed and some failed."""
        return 0 < self.sample_passes < len(self.samples)

    def to_properties(self) -> list[tuple[str, object]]:
        return self._properties() + (
            [(PREFIX + "policy", self.policy), (PREFIX + "samples", json.dumps([s.as_dict() for s in self.samples], ensure_ascii=False))]
            if self.samples
            else []
        )

    def _properties(self) -> list[tuple[str, object]]:
        calls: list[tuple[str, object]] = (
            [] if self.calls is None else [(PREFIX + "calls", json.dumps(self.calls, ensure_ascii=False, sort_keys=True, default=str))]
        )
        if self.conversation is not None:
            calls += [
                (PREFIX + "conversation", json.dumps(self.conversation, ensure_ascii=False, default=str)),
                (PREFIX + "turn_scores", json.dumps([turn.get("score") for turn in self.conversation.get("turns", ())])),
                (PREFIX + "side_effects", len(self.side_effects)),
                (PREFIX + "critical_side_effects", self.critical_side_effects),
            ]
        return [
            (PREFIX + "case_id", self.case_id),
            (PREFIX + "suite", self.suite),
            (PREFIX + "category", self.category),
            (PREFIX + "difficulty", self.difficulty),
            (PREFIX + "score", round(self.score, 6)),
            (PREFIX + "passed", self.passed),
            (PREFIX + "threshold", self.threshold),
            (PREFIX + "status", self.status),
            (PREFIX + "reason", self.reason),
            (PREFIX + "output", "" if self.output is None else self.output),
            (PREFIX + "input", self.input),
            (PREFIX + "expected", json.dumps(self.expected, ensure_ascii=False, sort_keys=True)),
            (PREFIX + "details", json.dumps(self.details, ensure_ascii=False, sort_keys=True, default=str)),
            (PREFIX + "tags", ",".join(self.tags)),
            (PREFIX + "critical", self.critical),
            (PREFIX + "location", f"{self.path}:{self.line}"),
            *calls,
        ]

    @classmethod
    def from_properties(cls, nodeid: str, properties: Iterable[tuple[str, object]]) -> CaseResult | None:
        """Rebuild a result from a report's user properties; None when the report is not a taskbench case."""
        values: dict[str, Any] = {key[len(PREFIX) :]: value for key, value in properties if key.startswith(PREFIX)}
        if "score" not in values or "status" not in values:
            return None
        path, _, line = str(values.get("location", ":0")).rpartition(":")
        return cls(
            case_id=str(values["case_id"]),
            nodeid=nodeid,
            suite=str(values["suite"]),
            category=str(values["category"]),
            difficulty=str(values["difficulty"]),
            score=float(values["score"]),
            passed=bool(values["passed"]),
            status=values["status"],
            reason=str(values.get("reason", "")),
            output=str(values["output"]) if values.get("output") is not None else None,
            input=str(values.get("input", "")),
            expected=_loads(values.get("expected")),
            details=_loads(values.get("details")) or {},
            tags=tuple(t for t in str(values.get("tags", "")).split(",") if t),
            critical=bool(values.get("critical", False)),
            path=path,
            line=int(line or 0),
            threshold=float(values.get("threshold", 0.8)),
            calls=_loads(values["calls"]) if "calls" in values else None,
            samples=tuple(SampleResult.from_dict(item) for item in _loads(values.get("samples")) or () if isinstance(item, dict)),
            policy=str(values.get("policy", "mean")),
            conversation=_loads(values["conversation"]) if "conversation" in values else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """Every field as a JSON value (the results file's case line): ``from_dict`` reads it back equal.

        Built from the dataclass's own fields, so a field added to ``CaseResult`` is written
        without touching the results file's format; a field whose value is not plain JSON
        (a tuple becomes a list) needs a line in ``_FROM_JSON``.
        """
        return {item.name: _json_value(getattr(self, item.name)) for item in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaseResult:
        """The result ``to_dict`` wrote; unknown keys are ignored (a newer writer), missing optional ones take their defaults.

        Raises:
            validation.Invalid: a required field is missing or a field has the wrong type.
        """
        missing = [name for name in _REQUIRED if name not in data]
        if missing:
            raise validation.Invalid(f"a case result lacks {', '.join(missing)}")
        values: dict[str, Any] = {}
        for name in _FIELD_NAMES:
            if name in data:
                value = data[name]
                plain = _PLAIN.get(name)
                if plain is None or not plain(value):  # the checks below only run for what the quick test does not pass
                    check = _FROM_JSON.get(name)
                    value = check(name, value) if check is not None else value
                values[name] = tuple(value) if name == "tags" else value
        return cls(**values)


_FIELD_NAMES = tuple(item.name for item in fields(CaseResult))


def _json_value(value: Any) -> Any:
    if isinstance(value, SampleResult):  # unrounded, unlike the user property: a results file keeps the exact scores
        return {"output": value.output, "score": value.score, "passed": value.passed, "reason": value.reason, "error": value.error}
    if isinstance(value, tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _json_value(item) for key, item in value.items()}
    return value


def _status(name: str, value: Any) -> Status:
    return validation.choice(name, value, ("scored", "error", "judge_error", "broken"))  # type: ignore[return-value]


def _optional_text(name: str, value: Any) -> str | None:
    return None if value is None else validation.text(name, value, empty=True)


def _calls(name: str, value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise validation.Invalid(f"{name} must be a list of calls or null, got {type(value).__name__}")
    return [validation.mapping(f"{name}[{index}]", call, what="a call {name, arguments}") for index, call in enumerate(value)]


def _samples(name: str, value: Any) -> tuple[SampleResult, ...]:
    if not isinstance(value, list):
        raise validation.Invalid(f"{name} must be a list of samples, got {type(value).__name__}")
    items = value
    samples = []
    for index, item in enumerate(items):
        where = f"{name}[{index}]"
        data = validation.mapping(where, item)
        output, error = data.get("output"), data.get("error")
        samples.append(
            SampleResult(
                _optional_text(f"{where}.output", output),
                validation.unit(f"{where}.score", data.get("score")),
                validation.flag(f"{where}.passed", data.get("passed")),
                validation.text(f"{where}.reason", data.get("reason", ""), empty=True),
                _optional_text(f"{where}.error", error),
            )
        )
    return tuple(samples)


def _policy(name: str, value: Any) -> str:
    return str(parse_policy(name, value))


def _unit_number(value: Any) -> bool:
    return type(value) in (float, int) and 0 <= value <= 1


_REQUIRED = ("case_id", "nodeid", "suite", "category", "difficulty", "score", "passed")
# what most values are: a quick test per field, so reading 50,000 results spends no time on messages it does not need
_PLAIN: Mapping[str, Any] = {
    "case_id": lambda value: type(value) is str and value != "",
    "nodeid": lambda value: type(value) is str and value != "",
    "suite": lambda value: type(value) is str and value != "",
    "category": lambda value: type(value) is str,
    "difficulty": lambda value: type(value) is str,
    "score": _unit_number,
    "passed": lambda value: type(value) is bool,
    "status": lambda value: value in ("scored", "error", "judge_error", "broken"),
    "reason": lambda value: type(value) is str,
    "output": lambda value: value is None or type(value) is str,
    "input": lambda value: type(value) is str,
    "expected": lambda value: True,
    "details": lambda value: type(value) is dict,
    "tags": lambda value: type(value) is list and all(type(tag) is str for tag in value),
    "critical": lambda value: type(value) is bool,
    "path": lambda value: type(value) is str,
    "line": lambda value: type(value) is int and value >= 0,
    "threshold": _unit_number,
    "calls": lambda value: value is None or (type(value) is list and all(type(call) is dict for call in value)),
}
_FROM_JSON: Mapping[str, Any] = {
    "case_id": lambda name, value: validation.text(name, value),
    "nodeid": lambda name, value: validation.text(name, value),
    "suite": lambda name, value: validation.text(name, value),
    "category": lambda name, value: validation.text(name, value, empty=True),
    "difficulty": lambda name, value: validation.text(name, value, empty=True),
    "score": validation.unit,
    "passed": validation.flag,
    "status": _status,
    "reason": lambda name, value: validation.text(name, value, empty=True),
    "output": _optional_text,
    "input": lambda name, value: validation.text(name, value, empty=True),
    "details": lambda name, value: validation.mapping(name, value),
    "tags": lambda name, value: validation.texts(name, value, single=False),
    "critical": validation.flag,
    "path": lambda name, value: validation.text(name, value, empty=True),
    "line": lambda name, value: validation.whole(name, value, minimum=0),
    "threshold": validation.unit,
    "calls": _calls,
    "samples": _samples,
    "policy": _policy,
    "conversation": lambda name, value: None if value is None else validation.mapping(name, value),
}


def _loads(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


POLICY_NAMES = ("mean", "all", "any", "majority", "rate:X")


@dataclass(frozen=True)
class Policy:
    """How a case's samples become its score and pass/fail (``policy:`` in the suite, a category or a case).

    ``mean`` (the default): the mean of the sample scores, passing at the threshold. The others
    are order statistics: the case's score is the k-th best sample score and it passes when at
    least k samples pass, with k = n for ``all`` (pass^k), 1 for ``any`` (pass@k over the
    samples), ``n // 2 + 1`` for ``majority`` and ``ceil(X * n)`` for ``rate:X``.
    """

    name: str = "mean"
    rate: float | None = None

    def __str__(self) -> str:
        return f"rate:{self.rate:g}" if self.name == "rate" else self.name

    def needed(self, samples: int) -> int:
        """How many of ``samples`` samples must pass (not used by ``mean``)."""
        if self.name == "all":
            return samples
        if self.name == "any":
            return 1
        if self.name == "majority":
            return samples // 2 + 1
        return max(1, min(samples, math.ceil((self.rate or 1.0) * samples - 1e-9)))

    def combine(self, scores: Sequence[float], threshold: float) -> tuple[float, bool]:
        """The case's (score, passed) from its sample scores."""
        if not scores:
            return 0.0, False
        if self.name == "mean":
            score = sum(scores) / len(scores)
        else:
            score = sorted(scores, reverse=True)[self.needed(len(scores)) - 1]
        return score, score >= threshold


_RATE = re.compile(r"rate:([0-9]*\.?[0-9]+)")


def parse_policy(name: str, value: Any) -> Policy:
    """``mean``, ``all``, ``any``, ``majority`` or ``rate:X`` (0 < X <= 1); raises ``validation.Invalid`` naming ``name``."""
    if value in ("mean", "all", "any", "majority"):
        return Policy(str(value))
    match = _RATE.fullmatch(value) if isinstance(value, str) else None
    if match is not None and 0 < float(match.group(1)) <= 1:
        return Policy("rate", float(match.group(1)))
    if isinstance(value, str) and value.startswith("rate:"):
        raise validation.Invalid(f"{name}: rate:X needs the share of samples that must pass, above 0 and at most 1 (rate:0.8), got {value!r}")
    raise validation.Invalid(f"{name} must be one of {', '.join(POLICY_NAMES)}, got {value!r}")
