"""Write the report files a run asked for: HTML, Markdown (and the GitHub job summary), log samples.

Called once on the controller after the summaries and verdicts exist (never on an
xdist worker). Relative paths are taken from the directory pytest was invoked
in, like ``--junitxml``. A file that cannot be written becomes a message, not a
crash: the verdict still stands.

Domain code: no pytest import.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path

from pytest_taskbench.generation.base import Prompt
from pytest_taskbench.reports.html import render_html
from pytest_taskbench.reports.markdown import append_step_summary, markdown_summary
from pytest_taskbench.reports.model import SuiteReport
from pytest_taskbench.reports.samples import PromptKey, suite_prompts, write_samples
from pytest_taskbench.run import TaskbenchRun


def write_report_files(reports: Sequence[SuiteReport], run: TaskbenchRun, invocation_dir: Path, environ: Mapping[str, str] = os.environ) -> list[str]:
    """Write every requested file; returns one line per file for the terminal."""
    settings = run.settings
    messages: list[str] = []
    step_summary = environ.get("GITHUB_STEP_SUMMARY")
    markdown = markdown_summary(reports) if settings.markdown or step_summary else ""
    if settings.report:
        html = render_html(reports, model=settings.model or "")
        messages.append(_write(invocation_dir, "--taskbench-report", settings.report, "HTML report", lambda path: _text(path, html)))
    if settings.markdown:
        messages.append(_write(invocation_dir, "--taskbench-markdown", settings.markdown, "Markdown summary", lambda path: _text(path, markdown)))
    if step_summary:
        try:
            append_step_summary(markdown, environ)
        except OSError as exc:
            messages.append(f"taskbench: cannot append to GITHUB_STEP_SUMMARY ({step_summary}): {exc}")
    if settings.log_samples:
        cases = [result for report in reports for result in report.cases]
        messages.append(
            _write(
                invocation_dir,
                "--taskbench-log-samples",
                settings.log_samples,
                "samples log",
                lambda path: f" ({write_samples(path, cases, _prompts(reports, run))} cases)",
            )
        )
    return messages


def _text(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return ""


def _write(base: Path, option: str, path_text: str, what: str, write: Callable[[Path], str]) -> str:
    path = base / path_text
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        detail = write(path)
    except OSError as exc:
        return f"taskbench: cannot write the {what} ({option}={path_text}): {exc}"
    return f"taskbench: {what} written to {path_text}{detail}"  # as given, like the option the user typed


def _prompts(reports: Sequence[SuiteReport], run: TaskbenchRun) -> dict[PromptKey, Prompt]:
    prompts: dict[PromptKey, Prompt] = {}
    for report in reports:
        suite = run.suite_at(run.rootdir / report.summary.suite_path)
        prompts.update(suite_prompts(suite, partial(run.case_file, suite)))
    return prompts
