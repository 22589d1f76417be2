"""Write the report files a run asked for: HTML, Markdown (and the GitHub job summary), the samples log, the comparison.

Called once on the controller after the summaries and verdicts exist (never on an
xdist worker). Relative paths are taken from the directory pytest was invoked
in, like ``--junitxml``. A file that cannot be written becomes a message, not a
crash: the verdict still stands.

Domain code: no pytest import.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_taskbench.generation.base import Prompt
from pytest_taskbench.history import HistoryRecord
from pytest_taskbench.reports.github import append_step_summary
from pytest_taskbench.reports.html import render_html
from pytest_taskbench.reports.markdown import markdown_summary
from pytest_taskbench.reports.samples import PromptKey, write_samples
from pytest_taskbench.reports.summary import comparison_dict, summary_dict, summary_document
from pytest_taskbench.verdict.finish import SuiteReport


@dataclass(frozen=True)
class ReportRequest:
    """The files asked for (paths as the user gave them; None: not asked for) and the model to name in them."""

    html: str | None = None
    markdown: str | None = None
    samples: str | None = None
    comparison: str | None = None
    model: str = ""
    summary_json: str | None = None
    passed: bool = True  # the run's verdict, for the JSON summary


def write_report_files(
    reports: Sequence[SuiteReport],
    request: ReportRequest,
    invocation_dir: Path,
    *,
    prompts: Callable[[], Mapping[PromptKey, Prompt]],
    environ: Mapping[str, str] = os.environ,
    trends: Mapping[str, Sequence[HistoryRecord]] | None = None,
) -> list[str]:
    """Write every requested file; returns one line per file for the terminal.

    ``prompts`` builds the prompt of every case, only when the samples log is asked for;
    ``trends`` (the history's records by suite file) adds the trend to the HTML and Markdown.
    """
    messages: list[str] = []
    step_summary = environ.get("GITHUB_STEP_SUMMARY")
    markdown = markdown_summary(reports, trends) if request.markdown or step_summary else ""
    if request.html:
        html = render_html(reports, model=request.model, trends=trends)
        messages.append(_write(invocation_dir, "--taskbench-report", request.html, "HTML report", lambda path: _text(path, html)))
    if request.markdown:
        messages.append(_write(invocation_dir, "--taskbench-markdown", request.markdown, "Markdown summary", lambda path: _text(path, markdown)))
    if step_summary:
        try:
            append_step_summary(markdown, environ)
        except OSError as exc:
            messages.append(f"taskbench: cannot append to GITHUB_STEP_SUMMARY ({step_summary}): {exc}")
    if request.samples:
        cases = [result for report in reports for result in report.cases]
        messages.append(
            _write(invocation_dir, "--taskbench-log-samples", request.samples, "samples log", lambda path: f" ({write_samples(path, cases, prompts())} cases)")
        )
    if request.summary_json:
        text = json.dumps(summary_document([summary_dict(report) for report in reports], request.passed), indent=2, sort_keys=True, default=str) + "\n"
        messages.append(_write(invocation_dir, "--taskbench-summary-json", request.summary_json, "JSON summary", lambda path: _text(path, text)))
    if request.comparison:
        data = {r.summary.suite_name: comparison_dict(r.comparison) for r in reports if r.comparison is not None}
        text = json.dumps({"suites": data}, indent=2, sort_keys=True) + "\n"
        messages.append(
            _write(invocation_dir, "--taskbench-comparison-file", request.comparison, "comparison with the baseline", lambda path: _text(path, text))
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
