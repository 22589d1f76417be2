"""Log samples: every case as one JSON line, for analysis later or for diffing two runs.

Like lm-evaluation-harness's ``--log_samples``: the prompt the model saw (and the
names of the tools offered with it), its output (and the tool calls read from it),
the expected answer, the score, the scorer's reason and details; a case drawn more
than once (``repeats``) also has ``policy`` and ``samples``, each sample's output,
score, pass state, reason and error. Lines
are sorted by node id, and keys within a line too, so two runs of the same suite
diff line by line.

The prompt is not carried on test reports (it would double every report's size
under xdist); it is rebuilt on the controller with ``Suite.prompt_for``, the same
function that built it for the model, from the cases the run already read
(``Suite.valid_cases`` with ``TaskbenchRun.case_file``, which caches each case
file; an lm-eval suite holds its documents), so no case file is parsed a second time.

Domain code: no pytest import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pytest_taskbench.cases import Case, CaseFileContents
from pytest_taskbench.environments.conversation import opening_prompt, start
from pytest_taskbench.generation.base import Prompt
from pytest_taskbench.guards.files import json_text
from pytest_taskbench.results import CaseResult
from pytest_taskbench.suite import Suite

PromptKey = tuple[str, str]  # (case file as displayed, case id)


def suite_prompts(suite: Suite, load: Callable[[Path], CaseFileContents]) -> dict[PromptKey, Prompt]:
    """The prompt of every valid case in the suite, keyed like ``CaseResult`` (``path``, ``case_id``).

    ``load`` reads one case file; pass the run's cached reader so nothing is parsed twice.
    """
    return {(case.path, case.id): _prompt(suite, case) for case in suite.valid_cases(load)}


def _prompt(suite: Suite, case: Case) -> Prompt:
    """A case's prompt; a conversation's turn 1 as the model saw it, its ``{state}`` filled from a fresh environment."""
    prompt = suite.prompt_for(case)
    if case.conversation is None:
        return prompt
    try:
        return opening_prompt(prompt, start(case, suite.conversation))
    except Exception:  # the case already failed with the reason; the log keeps the unfilled template
        return prompt


def sample(result: CaseResult, prompt: Prompt | None) -> dict[str, Any]:
    """One line of the log."""
    return {
        "suite": result.suite,
        "nodeid": result.nodeid,
        "case_id": result.case_id,
        "category": result.category,
        "difficulty": result.difficulty,
        "file": result.path,
        "line": result.line,
        "prompt": None if prompt is None else prompt.text,
        "messages": None if prompt is None else [dict(m) for m in prompt.messages],
        "tools": None if prompt is None or not prompt.tools else [_tool_name(tool) for tool in prompt.tools],
        "calls": result.calls,
        "input": result.input,
        "output": result.output,
        "expected": result.expected,
        "score": result.score,
        "passed": result.passed,
        "threshold": result.threshold,
        "status": result.status,
        "reason": result.reason,
        "details": dict(result.details),
        "tags": list(result.tags),
        "critical": result.critical,
    } | ({"policy": result.policy, "samples": [sample.as_dict() for sample in result.samples]} if result.samples else {})


def _tool_name(tool: Mapping[str, Any]) -> Any:
    function = tool.get("function")
    return function.get("name") if isinstance(function, Mapping) else tool.get("name")


def write_samples(path: Path, results: Iterable[CaseResult], prompts: Mapping[PromptKey, Prompt]) -> int:
    """Write one JSON line per result (sorted by node id); returns how many."""
    ordered = sorted(results, key=lambda r: r.nodeid)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for result in ordered:
            line = sample(result, prompts.get((result.path, result.case_id)))
            handle.write(json_text(line, sort_keys=True, default=str) + "\n")
    return len(ordered)
