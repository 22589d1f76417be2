"""A known run for the report tests: a small task-API suite whose every figure is worked out below.

Ten cases in three categories; a lookup-table model; a field-by-field scorer
(``tbscorer:fields``) whose details follow the scorer contract the analysis reads
(``parse_error``, ``extracted``, ``fields.<name>.status``).

=====  ==========  ==========  ===============================  =====
case   category    difficulty  what the model gets wrong        score
=====  ==========  ==========  ===============================  =====
a1     actions     simple      -                                1
a2     actions     simple      -                                1
a3     actions     moderate    action create -> list            0.5
a4     actions     complex     action create -> list            0.5
a5     actions     complex     invalid JSON                     0
e1     entities    simple      -                                1
e2     entities    moderate    due_date missing                 2/3
e3     entities    complex     due_date wrong                   2/3
f1     format      simple      -                                1
f2     format      moderate    -                                1
=====  ==========  ==========  ===============================  =====

actions 0.600 (weakness), entities 0.778 (weakness), format 1.000 (strength);
aggregate 0.5 * 0.6 + 0.3 * 0.7778 + 0.2 * 1 = 0.733; 5 of 10 pass.
Failure rate by difficulty: simple 0/4, moderate 2/3, complex 3/3.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_taskbench.results import CaseResult
from pytest_taskbench.verdict.analysis import analyze
from pytest_taskbench.verdict.finish import SuiteReport
from pytest_taskbench.verdict.gates import GateResult, Verdict
from pytest_taskbench.verdict.summary import RunSummary, summarize

SUITE = """\
name: tasks
categories:
  actions: {weight: 0.5, scorer: "tbscorer:fields"}
  entities: {weight: 0.3, scorer: "tbscorer:fields"}
  format: {weight: 0.2, scorer: "tbscorer:fields"}
difficulties: [simple, moderate, complex]
analysis: {confusion_field: action}
gates:
  min_aggregate: 0.7
"""

SCORER = """\
import json

from pytest_taskbench import Score


def fields():
    def score(output, case):
        try:
            got = json.loads(output)
        except ValueError as exc:
            return Score(0.0, f"invalid JSON: {exc}", {"parse_error": str(exc), "extracted": False})
        results = {}
        for name, want in case.expected.items():
            status = "match" if got.get(name) == want else ("missing" if got.get(name) is None else "wrong")
            results[name] = {"status": status, "expected": want, "got": got.get(name)}
        matched = sum(r["status"] == "match" for r in results.values())
        problems = [f"{n} {r['status']}" for n, r in results.items() if r["status"] != "match"]
        reason = "all fields match" if not problems else "; ".join(problems)
        return Score(matched / len(results), reason, {"parse_error": None, "extracted": False, "fields": results})
    return score
"""

# (id, category, difficulty, expected, output)
CASES: list[tuple[str, str, str, dict[str, Any], str]] = [
    ("a1", "actions", "simple", {"action": "create", "title": "buy milk"}, '{"action": "create", "title": "buy milk"}'),
    ("a2", "actions", "simple", {"action": "list"}, '{"action": "list"}'),
    ("a3", "actions", "moderate", {"action": "create", "title": "call bob"}, '{"action": "list", "title": "call bob"}'),
    ("a4", "actions", "complex", {"action": "create", "title": "write <report> & send"}, '{"action": "list", "title": "write <report> & send"}'),
    ("a5", "actions", "complex", {"action": "delete", "title": "old tasks"}, "Sure! I deleted them."),
    (
        "e1",
        "entities",
        "simple",
        {"action": "create", "title": "pay rent", "due_date": "2026-03-05"},
        '{"action": "create", "title": "pay rent", "due_date": "2026-03-05"}',
    ),
    ("e2", "entities", "moderate", {"action": "create", "title": "dentist", "due_date": "2026-03-06"}, '{"action": "create", "title": "dentist"}'),
    (
        "e3",
        "entities",
        "complex",
        {"action": "create", "title": "gym", "due_date": "2026-03-07"},
        '{"action": "create", "title": "gym", "due_date": "2026-03-09"}',
    ),
    ("f1", "format", "simple", {"action": "list"}, '{"action": "list"}'),
    ("f2", "format", "moderate", {"action": "complete", "title": "taxes"}, '{"action": "complete", "title": "taxes"}'),
]
INPUTS = {case_id: f"request {case_id}: {json.dumps(expected)}" for case_id, _, _, expected, _ in CASES}
OUTPUTS = {INPUTS[case_id]: output for case_id, _, _, _, output in CASES}
WEIGHTS = {"actions": 0.5, "entities": 0.3, "format": 0.2}  # as SUITE says
FAILING = ["a3", "a4", "a5", "e2", "e3"]
PASSING = ["a1", "a2", "e1", "f1", "f2"]

MODEL = f"""\
OUTPUTS = {OUTPUTS!r}


def respond(prompts):
    # a suite may wrap the input in a template "Q: {{input}}\\nA:"
    return [OUTPUTS[prompt.removeprefix("Q: ").removesuffix("\\nA:")] for prompt in prompts]
"""


def case_line(case_id: str) -> int:
    """The case's 1-based line in its JSONL file."""
    category = next(c for i, c, *_ in CASES if i == case_id)
    return [i for i, c, *_ in CASES if c == category].index(case_id) + 1


def write_known_run(pytester: pytest.Pytester) -> Path:
    """Write the suite, its case files, the model and the scorer; return the cases directory."""
    cases = pytester.mkdir("cases")
    (cases / "taskbench.yaml").write_text(SUITE)
    for category in ("actions", "entities", "format"):
        rows = [
            {"id": case_id, "input": INPUTS[case_id], "expected": expected, "difficulty": difficulty}
            for case_id, cat, difficulty, expected, _ in CASES
            if cat == category
        ]
        (cases / f"{category}.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    (pytester.path / "model.py").write_text(MODEL)
    (pytester.path / "tbscorer.py").write_text(SCORER)
    return cases


def known_results() -> list[CaseResult]:
    """The known run's results, scored by the same scorer, without running pytest."""
    namespace: dict[str, Any] = {}
    exec(compile(textwrap.dedent(SCORER), "tbscorer.py", "exec"), namespace)
    score = namespace["fields"]()
    results = []
    for case_id, category, difficulty, expected, output in CASES:
        value = score(output, SimpleNamespace(expected=expected))
        results.append(
            CaseResult(
                case_id=case_id,
                nodeid=f"cases/{category}.jsonl::{case_id}",
                suite="cases/taskbench.yaml",
                category=category,
                difficulty=difficulty,
                score=value.value,
                passed=value.value >= 0.8,
                reason=value.reason,
                output=output,
                input=INPUTS[case_id],
                expected=expected,
                details=dict(value.details),
                path=f"cases/{category}.jsonl",
                line=case_line(case_id),
            )
        )
    return results


def summary_of(results: list[CaseResult]) -> RunSummary:
    """The run summary of ``results`` under the known run's suite (weights, difficulties, pass threshold 0.8)."""
    return summarize(
        results,
        suite_name="tasks",
        suite_path="cases/taskbench.yaml",
        weights=WEIGHTS,
        difficulties=["simple", "moderate", "complex"],
        pass_threshold=0.8,
        band_for=lambda value: "good",
    )


def known_report() -> SuiteReport:
    """The known run as the report writers receive it: its summary, a passing verdict and its analysis."""
    results = known_results()
    summary = summary_of(results)
    return SuiteReport(
        summary, Verdict((GateResult("valid_cases", True, 0, 0, "broken case definitions 0 <= 0"),)), tuple(results), {}, analyze(results, summary)
    )
