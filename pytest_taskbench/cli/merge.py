"""``taskbench merge``: one verdict from the results files of a run's shards; ``taskbench history``: the trend of past runs.

The merge reads every shard's ``--taskbench-results`` file, checks they are the
shards of one run (``resultsfile.combine``), checks the suite in this checkout is
the one they ran, and hands the union to ``TaskbenchRun.finish``: the function a
pytest run calls at its end. So the summary, intervals, gates, baseline comparison,
report files, history record and exit status are those of one unsharded run.

The options that decide the verdict and the reports (``role="finish"`` in
``settings.py``) are recorded in the results files; the merge applies them, and the
same ``--taskbench-*`` flags given to the merge override them.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from pytest_taskbench.baseline import BaselineError
from pytest_taskbench.guards.display import safe_text
from pytest_taskbench.history import history_file, read_history, select
from pytest_taskbench.reports.github import github_annotations, resume_commands, stop_commands
from pytest_taskbench.reports.terminal import terminal_lines
from pytest_taskbench.reports.trend import trend_lines
from pytest_taskbench.resultsfile import MergedRun, ResultsFileError, read_and_combine
from pytest_taskbench.run import Finished, TaskbenchRun
from pytest_taskbench.settings import DEFAULT_HISTORY_DIR, OPTIONS, Settings, SettingsError, argparse_options
from pytest_taskbench.suite import SuiteError
from pytest_taskbench.verdict.gates import GATES, decide_exit_status

REFUSED = 4  # pytest's usage error: what an unsharded run gives for input it cannot use
FINISH_OPTIONS = [option for option in OPTIONS if option.role == "finish"]


def configure_merge(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="RESULTS.jsonl", help="the results file of every shard (--taskbench-results)")
    parser.add_argument(
        "--rootdir",
        type=Path,
        default=None,
        help="the directory the shards ran pytest in: suite paths in the files are below it (default: the current directory)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="list every failing case, as pytest -v does")
    group = parser.add_argument_group("verdict and reports (recorded in the results files; a flag here overrides the recorded value)")
    for option in FINISH_OPTIONS:
        group.add_argument(option.flag, **argparse_options(option))


def run_merge(args: argparse.Namespace) -> int:
    """Merge, finish and print; the exit status of one unsharded run, or 4 when the input is refused."""
    invocation_dir = Path.cwd()
    rootdir = (args.rootdir or invocation_dir).resolve()
    try:
        merged = read_and_combine(args.files)
        settings = _settings(merged, args)
        run = TaskbenchRun(settings, rootdir)
        _check_suites(run, merged)
        run.plan_baselines(invocation_dir)
    except (ResultsFileError, SettingsError, BaselineError) as exc:
        print(f"taskbench merge: {exc}", file=sys.stderr)
        return REFUSED
    shards = merged.shard_count if merged.header.shard is not None else None
    finished = run.finish(
        merged.results, invocation_dir=invocation_dir, worker_counters=merged.counters, model_identity=merged.model_identity or None, shards=shards
    )
    _print(finished, merged, rootdir, args.verbose)
    outcome = merged.outcome
    return decide_exit_status(outcome.pytest_status, finished.passed, outcome.other_failures, stopped_early=outcome.stopped_early)


def _settings(merged: MergedRun, args: argparse.Namespace) -> Settings:
    """The shards' settings, with the finishing options given to the merge put over the recorded ones."""
    header = merged.header
    recorded = Settings(model=header.model_spec or None).with_recorded(header.score_settings).with_recorded(header.finish_settings)
    given = {option.dest: getattr(args, option.ini_name) for option in FINISH_OPTIONS if getattr(args, option.ini_name) not in (None, [], False)}
    if not given:
        return recorded
    parsed = Settings.from_lookup(lambda option: given.get(option.dest))
    changes: dict[str, Any] = {name: getattr(parsed, name) for name in given if not _is_gate(name)}
    gates = {**recorded.gates, **{name: parsed.gates[name] for name in given if _is_gate(name)}}
    return replace(recorded, **changes, gates=gates)


def _is_gate(name: str) -> bool:
    return name in GATES


def _check_suites(run: TaskbenchRun, merged: MergedRun) -> None:
    """Every suite the shards ran is here, unchanged: the merge reads its weights, gates and case count from it."""
    for path, facts in sorted(merged.header.suites.items()):
        try:
            suite = run.catalog.suite_of_result(path)
        except (SuiteError, OSError) as exc:
            raise ResultsFileError(
                f"{merged.files[0].path}: the shards ran suite {path}, which cannot be read below {run.rootdir} ({exc}); run the merge in the shards' checkout, or pass --rootdir"
            ) from None
        now = run.catalog.content_hash(suite)
        if now != facts.content_hash:
            raise ResultsFileError(
                f"{merged.files[0].path}: suite {path} changed since the shards ran (content hash {facts.content_hash[:12]} in the results, {now[:12]} here); "
                "merge in a checkout of the commit the shards ran"
            )
        if facts.total is not None:  # the same content: the count the shards took holds
            run.known_totals[path] = facts.total


def sep_line(title: str, width: int, char: str = "=") -> str:
    """A section line as pytest's ``write_sep`` draws it."""
    count = max((width - len(title) - 2) // 2, 1)
    line = f"{char * count} {title} {char * count}"
    return line + char if len(line) + 1 <= width else line


def _print(finished: Finished, merged: MergedRun, rootdir: Path, verbose: int) -> None:
    width = shutil.get_terminal_size((80, 24)).columns
    token = f"taskbench-{secrets.token_hex(16)}" if os.environ.get("GITHUB_ACTIONS") == "true" else None
    if token:  # as in a pytest run: no line printed before the annotations is read as a workflow command
        print(stop_commands(token))
    count = merged.shard_count
    print(
        f"taskbench merge: {len(merged.results)} case results from {len(merged.files)} file{'s' if len(merged.files) != 1 else ''}"
        + (f" ({count} shards)" if count > 1 else "")
    )
    for report in finished.reports:
        print(sep_line(f"taskbench: {safe_text(report.summary.suite_name)}", width))
        for line in terminal_lines(report, verbose):
            print(line)
    for message in finished.messages:
        print(safe_text(message))
    if token:
        print(resume_commands(token))
        for line in github_annotations(finished.reports, rootdir):
            print(line)


# --------------------------------------------------------------------------- history


def configure_history(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", nargs="?", type=Path, default=Path(DEFAULT_HISTORY_DIR), help=f"the history directory (default: {DEFAULT_HISTORY_DIR})")
    parser.add_argument("--suite", help="only this suite (its file, as the results name it, or its name)")
    parser.add_argument("--model", help="only models whose identity or spec contains this text")
    parser.add_argument("--last", type=_positive, metavar="N", help="only the last N runs")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def run_history(args: argparse.Namespace) -> int:
    """Print the trend table, oldest first; unreadable lines are skipped with a warning on stderr."""
    directory: Path = args.directory
    history = read_history(directory, str(history_file(directory)))
    for warning in history.warnings:
        print(f"taskbench history: warning: {warning}", file=sys.stderr)
    records = select(history.records, suite=args.suite, model=args.model, last=args.last)
    if not records:
        filters = " matching the filters" if args.suite or args.model else ""
        print(f"no runs{filters} in {history_file(directory)}; record runs with --taskbench-history={directory}")
        return 0
    for line in trend_lines(records):
        print(line)
    return 0
