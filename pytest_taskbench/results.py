"""One case's result, and its round trip through pytest user properties.

Results travel on test reports (``report.user_properties``) so the session
summary is computed the same way in one process and under pytest-xdist, where
only reports reach the controller. Values are plain str/float/bool so that JUnit
XML (which writes ``str(value)``) and pytest-json-report (which keeps only
JSON-serialisable values) both carry them; structured values are JSON strings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

PREFIX = "taskbench."
Status = Literal["scored", "error", "judge_error", "broken"]


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

    def to_properties(self) -> list[tuple[str, object]]:
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
        )


def _loads(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value
