"""GitHub Actions: workflow annotations, the commands that stop and resume command processing, the job summary.

Annotations are workflow commands printed to stdout:
``::error file=cases/x.jsonl,line=3,title=...::message``. GitHub shows at most
10 errors and 10 warnings per step, so cases beyond ``MAX_CASE_ANNOTATIONS``
per level are summed up in one notice.

Domain code: no pytest import.
"""

# No ``from __future__ import annotations`` here: this module's public ``annotations()`` would
# rebind that name, which type checkers reject. Every annotation below also evaluates on Python 3.10.
# Workflow commands: https://github.com/actions/toolkit/blob/main/packages/core/src/command.ts (escapeData, escapeProperty)
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_taskbench.guards.display import safe_text
from pytest_taskbench.results import CaseResult
from pytest_taskbench.verdict.finish import SuiteReport

MAX_CASE_ANNOTATIONS = 10


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(level: str, message: str, **properties: Any) -> str:
    """``::level key=value,...::message`` with GitHub's escaping of the message and the properties."""
    props = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties.items() if value not in (None, ""))
    return f"::{level}{' ' + props if props else ''}::{escape_data(message)}"


def stop_commands(token: str) -> str:
    """The line after which the runner executes no workflow command until ``resume_commands(token)``."""
    return f"::stop-commands::{token}"


def resume_commands(token: str) -> str:
    return f"::{token}::"


def annotations(reports: Sequence[SuiteReport], rootdir: Path, workspace: str | None = None) -> list[str]:
    """Workflow annotations: an error per failing gate (at the suite file) and one per failing case (at its line).

    A model error or a broken case definition is an ``error``; a case that only scored below the
    pass threshold is a ``warning``: it fails the run only through a gate, which has its own error.
    Paths are relative to ``workspace`` (``GITHUB_WORKSPACE``, the checkout) when rootdir lies in it.
    """
    prefix = _prefix(rootdir, workspace)
    commands: list[str] = []
    for report in reports:
        s = report.summary
        for gate in report.verdict.failed_gates:
            line = _gate_line(rootdir / s.suite_path, gate.name)
            title = f"taskbench {safe_text(s.suite_name)}: gate {safe_text(gate.name)} failed"
            commands.append(workflow_command("error", safe_text(gate.message), file=prefix + s.suite_path, line=line, title=title))
        shown: dict[str, int] = {"error": 0, "warning": 0}
        left: dict[str, int] = {"error": 0, "warning": 0}
        for result in report.failing:
            level = "warning" if result.status == "scored" else "error"
            if shown[level] >= MAX_CASE_ANNOTATIONS:
                left[level] += 1
                continue
            shown[level] += 1
            commands.append(workflow_command(level, case_message(result), file=prefix + result.path, line=result.line or None, title=case_title(result)))
        if any(left.values()):
            more = " and ".join(f"{n} more failing case{'s' if n != 1 else ''} ({level}s)" for level, n in left.items() if n)
            commands.append(
                workflow_command("notice", f"{more} not annotated; see the job summary or the HTML report", title=f"taskbench {safe_text(s.suite_name)}")
            )
    return commands


def case_title(result: CaseResult) -> str:
    case_id = safe_text(result.case_id)
    if result.status == "broken":
        return f"taskbench: broken case {case_id}"
    if result.status == "error":
        return f"taskbench: model error on {case_id}"
    if result.status == "judge_error":
        return f"taskbench: judge error on {case_id}"
    return f"taskbench: {case_id} scored {result.score:.2f} < {result.threshold:g} ({safe_text(result.category)}, {safe_text(result.difficulty)})"


def case_message(result: CaseResult) -> str:
    """The reason, and the output of a case that scored low: each one line, controls shown escaped."""
    lines = [safe_text(result.reason or "failed")]
    if result.status == "scored":
        lines.append(f"output: {_short(result.output or '')}")
    return "\n".join(lines)


def _short(text: str, limit: int = 300) -> str:
    return safe_text(text if len(text) <= limit else text[: limit - 1] + "…")


def _prefix(rootdir: Path, workspace: str | None) -> str:
    if not workspace:
        return ""
    try:
        relative = rootdir.resolve().relative_to(Path(workspace).resolve()).as_posix()
    except ValueError:
        return ""
    return "" if relative == "." else relative + "/"


def _gate_line(suite_file: Path, gate_name: str) -> int | None:
    """The line of the gate's key in the suite file (``min_category[x]`` looks for ``min_category``), or of ``gates:``."""
    key = gate_name.split("[", 1)[0]
    try:
        lines = suite_file.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for wanted in (f"{key}:", "gates:"):
        for number, line in enumerate(lines, start=1):
            if line.strip().startswith(wanted):
                return number
    return None


def append_step_summary(text: str, environ: Mapping[str, str] = os.environ) -> Path | None:
    """Append to the file GitHub names in ``GITHUB_STEP_SUMMARY``; returns its path, or None when unset."""
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text if text.endswith("\n") else text + "\n")
    return path


def github_annotations(reports: Sequence[SuiteReport], rootdir: Path, environ: Mapping[str, str] = os.environ) -> list[str]:
    """The workflow annotations to print when running under GitHub Actions (``GITHUB_ACTIONS=true``), else none."""
    if environ.get("GITHUB_ACTIONS") != "true":
        return []
    return annotations(reports, rootdir, environ.get("GITHUB_WORKSPACE"))
