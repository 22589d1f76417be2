"""The hook objects a session registers: results from reports, the verdict, GitHub's command stop, xdist.

``TaskbenchSession`` collects each case's result from its test report (so the
summary is the same in one process and under pytest-xdist, where only reports
reach the controller), calls ``run.finish`` at the end, sets the exit status and
prints the summary. ``GitHubCommands`` and ``XdistHooks`` are registered beside it.
"""

from __future__ import annotations

import gc
import os
import secrets
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from pytest_taskbench.generation import ModelLoadError
from pytest_taskbench.generation.progress import ProgressPrinter
from pytest_taskbench.generation.runtime import freeze_heap
from pytest_taskbench.guards.display import safe_text
from pytest_taskbench.items import BrokenCaseItem, CaseItem
from pytest_taskbench.reports.github import github_annotations, resume_commands, stop_commands
from pytest_taskbench.reports.summary import flat_properties, summary_dict, summary_document
from pytest_taskbench.reports.terminal import terminal_lines
from pytest_taskbench.results import CaseResult
from pytest_taskbench.resultsfile import Outcome, SuiteFacts
from pytest_taskbench.run import Finished, TaskbenchRun
from pytest_taskbench.shards import ShardKey, assign
from pytest_taskbench.verdict.gates import decide_exit_status

MODEL_OPTION = "--taskbench-model"
CHECK_BATCHING_OPTION = "--taskbench-check-batching"


class TaskbenchSession:
    """Collects case results from test reports and turns them into the summary and the verdict."""

    def __init__(self, config: pytest.Config, run: TaskbenchRun) -> None:
        self.config = config
        self.run = run
        self.results: list[CaseResult] = []
        self.other_failures = 0
        self.worker_counters: list[dict[str, Any]] = []
        self.worker_model: str | None = None  # the identity a worker reports (under xdist the controller never loads the model)
        self.finished = Finished([], [])
        self.summaries: list[dict[str, Any]] = []
        self.generation_notes: list[str] = []
        self.froze_heap = False
        self.collection: dict[str, SuiteFacts] = {}  # the suites collected, for the results file (under xdist: from a worker)
        self.shard_lines: list[str] = []  # a shard's summary, instead of a verdict

    @pytest.hookimpl(trylast=True)  # after -k and -m have deselected theirs: the shards split what was selected
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """Keep only this shard's items (--taskbench-shard); note the suites collected (--taskbench-results)."""
        settings = self.run.settings
        shard = settings.shard_spec
        if shard is None and not settings.results:
            return
        selected = list(items)
        if shard is not None:
            places = assign([_shard_key(self.run, item) for item in selected], shard.count)
            items[:] = [item for item, place in zip(selected, places) if place == shard.index]
            deselected = [item for item, place in zip(selected, places) if place != shard.index]
            if deselected:
                config.hook.pytest_deselected(items=deselected)
        suite_items = (CaseItem, BrokenCaseItem)
        self.collection = self.run.describe_suites(
            [item.suite for item in selected if isinstance(item, suite_items)], [item.suite for item in items if isinstance(item, suite_items)]
        )

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        """Load the model once, before any case runs, and plan generation for the cases about to run."""
        items = [item for item in session.items if isinstance(item, CaseItem)]
        if session.config.option.collectonly or not items:
            return
        if not self.run.settings.model and not self.run.settings.outputs:
            raise pytest.UsageError(
                f"taskbench: {len(items)} benchmark cases collected but no model; pass {MODEL_OPTION}=PATH, URL, NAME:ARGS or module:function (or --taskbench-outputs=FILE)"
            )
        distributed = hasattr(session.config, "workerinput")
        try:  # a broken model is one usage error, not a failure per item
            self.generation_notes = self.run.prepare(
                [(item.suite, item.case, item.nodeid) for item in items],
                distributed=distributed,
                upcoming=_sent_to_this_worker(session) if distributed else None,
                progress=None if distributed else _progress_printer(self.config),  # in one process, generation runs before the first item
            )
        except ModelLoadError as exc:
            raise pytest.UsageError(f"taskbench: {exc}") from None
        self.froze_heap = freeze_heap()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Take each case's result from its call-phase report; count other failures."""
        result = CaseResult.from_properties(report.nodeid, report.user_properties) if report.when == "call" else None
        if result is not None:
            self.results.append(result)
        elif report.failed:
            self.other_failures += 1

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Compute summaries and gates (on the controller) and set the exit status from the verdict."""
        if hasattr(self.config, "workerinput"):
            self.config.workeroutput["taskbench"] = self.run.counters()  # type: ignore[attr-defined]
            self.config.workeroutput["taskbench_model"] = self.run.model_identity  # type: ignore[attr-defined]
            self.config.workeroutput["taskbench_collection"] = {path: vars(facts) for path, facts in self.collection.items()}  # type: ignore[attr-defined]
            return
        settings = self.run.settings
        if self.config.option.collectonly:  # nothing ran: no results file, no shard summary
            return
        stopped = bool(session.shouldstop or session.shouldfail)
        status = int(session.exitstatus)
        if settings.shard is not None:
            if status == pytest.ExitCode.NO_TESTS_COLLECTED and any(facts.selected for facts in self.collection.values()):
                status = 0  # the other shards hold every selected case: an empty shard is not an empty run
            self._finish_shard(status, stopped)
            session.exitstatus = decide_exit_status(status, True, self.other_failures, stopped_early=stopped)  # the merge decides the verdict
            return
        if self.results:
            if self.worker_counters and settings.check_batching:
                self.generation_notes.append(f"{CHECK_BATCHING_OPTION} is skipped under pytest-xdist: run it without -n")
            self.finished = self.run.finish(
                self.results, invocation_dir=self.config.invocation_params.dir, worker_counters=self.worker_counters, model_identity=self.worker_model
            )
            self.summaries = [summary_dict(report) for report in self.finished.reports]
            for summary in self.summaries:
                self.config.hook.pytest_taskbench_summary(config=self.config, summary=summary)
            _add_junit_properties(self.config, self.finished)
            session.exitstatus = decide_exit_status(status, self.finished.passed, self.other_failures, stopped_early=stopped)
        if settings.results:
            message = self._write_results(status, stopped)
            self.finished = Finished(self.finished.reports, [*self.finished.messages, message])

    def _write_results(self, status: int, stopped: bool) -> str:
        header = self.run.results_header(
            self.collection,
            selection=_selection(self.config),
            outcome=Outcome(status, stopped, self.other_failures),
            worker_counters=self.worker_counters,
        )
        if self.worker_model and not header.model_identity:
            header = replace(header, model_identity=self.worker_model)
        return self.run.write_results(self.run.settings.results or "", header, sorted(self.results, key=_collection_order), self.config.invocation_params.dir)

    def _finish_shard(self, status: int, stopped: bool) -> None:
        """A shard prints what it ran and writes its results file; the verdict and the reports come from the merge."""
        shard = self.run.settings.shard
        lines = []
        for path, facts in sorted(self.collection.items()):
            ran = [r for r in self.results if r.suite == path]
            passed = sum(1 for r in ran if r.passed)
            lines.append(f"{safe_text(facts.name)} ({safe_text(path)}): {len(ran)} of {facts.selected} selected cases ran in shard {shard}, {passed} passed")
        if self.run.settings.results:
            lines.append(self._write_results(status, stopped))
            lines.append("the figures, gates, verdict and reports of the whole run come from `taskbench merge` over every shard's results file")
        else:
            lines.append("warning: no --taskbench-results=PATH: this shard's results are not kept for `taskbench merge`, and a shard computes no verdict")
        self.shard_lines = lines

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Print each suite's summary, gates and verdict (the workflow annotations come later: GitHubCommands)."""
        if self.shard_lines:
            terminalreporter.write_sep("=", f"taskbench: shard {self.run.settings.shard}")
            for line in self.shard_lines:
                terminalreporter.write_line(line, yellow=line.startswith("warning:"))
        for report in self.finished.reports:
            terminalreporter.write_sep("=", f"taskbench: {safe_text(report.summary.suite_name)}")
            for line in terminal_lines(report, self.config.option.verbose):
                terminalreporter.write_line(line, red=line.startswith(("verdict: FAIL", "  FAIL")), green=line.startswith("verdict: PASS"))
        for message in self.finished.messages:
            terminalreporter.write_line(safe_text(message))
        for note in self.generation_notes:  # a batching disagreement quotes outputs
            terminalreporter.write_line(f"taskbench generation: {safe_text(note)}" if not note.startswith(" ") else safe_text(note), yellow=True)

    @pytest.hookimpl(optionalhook=True)
    def pytest_json_modifyreport(self, json_report: dict[str, Any]) -> None:
        """Put the per-suite summaries in pytest-json-report's top-level data."""
        if self.summaries:
            json_report["taskbench"] = summary_document(self.summaries, self.finished.passed)  # as the pytest_taskbench_summary hooks left them

    def release_heap(self) -> None:
        """Hand the objects frozen for this session back to the collector (an in-process run must not keep them).

        The plugin registers this as a config cleanup at configure time: pushed before pytest's
        unraisable-exception cleanup, it runs after that cleanup's ``gc.collect()``, which then
        still skips the frozen heap.
        """
        if self.froze_heap:
            gc.unfreeze()
            self.froze_heap = False


def _progress_printer(config: pytest.Config) -> ProgressPrinter | None:
    """Progress lines through the terminal reporter; none with -q."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or config.option.verbose < 0:
        return None
    return ProgressPrinter(reporter.write_line, reporter.rewrite if reporter.isatty() else None)


def _sent_to_this_worker(session: pytest.Session) -> Callable[[], list[str]] | None:
    """Under pytest-xdist: the node ids the controller has sent this worker and it has not run yet.

    Read from xdist's ``WorkerInteractor`` (its ``torun`` queue and ``nextitem_index``); None when
    they are not there (another xdist version), and the engine then generates a batch ahead instead.
    """
    interactor = next((p for p in session.config.pluginmanager.get_plugins() if type(p).__name__ == "WorkerInteractor"), None)
    queue = getattr(interactor, "torun", None)
    if interactor is None or queue is None or not callable(getattr(queue, "lock", None)):
        return None
    items = session.items

    def upcoming() -> list[str]:
        with queue.lock() as waiting:
            indices = [getattr(interactor, "nextitem_index", None), *waiting]
        return [items[index].nodeid for index in indices if isinstance(index, int) and 0 <= index < len(items)]

    return upcoming


def _shard_key(run: TaskbenchRun, item: pytest.Item) -> ShardKey:
    """A case's stratum is its suite, category and difficulty; its identity, its case file below the suite root and its id."""
    if isinstance(item, (CaseItem, BrokenCaseItem)):
        suite = run.catalog.display_path(item.suite.path)
        try:
            file = item.path.resolve().relative_to(item.suite.root.resolve()).as_posix()
        except ValueError:
            file = item.path.name
        if isinstance(item, CaseItem):
            return ShardKey((suite, item.case.category, item.case.difficulty), f"{file}::{item.case.id}")
        return ShardKey((suite, "", "broken"), f"{file}::{item.name}")
    return ShardKey(("",), item.nodeid)  # an ordinary test runs in one shard too


def _selection(config: pytest.Config) -> dict[str, Any]:
    """What selected the items: the test paths, -k and -m (the shards of one run share them)."""
    return {"args": list(config.args), "keyword": config.option.keyword or "", "markexpr": config.option.markexpr or ""}


def _collection_order(result: CaseResult) -> tuple[str, str, int, str]:
    return (result.suite, result.path, result.line, result.nodeid)


def _add_junit_properties(config: pytest.Config, finished: Finished) -> None:
    from _pytest.junitxml import xml_key  # LogXML's stash key; its add_global_property is the public route

    xml = config.stash.get(xml_key, None)
    if xml is None:
        return
    for report in finished.reports:
        for name, value in flat_properties(report, with_suite_prefix=len(finished.reports) > 1):
            xml.add_global_property(name, value)


class GitHubCommands:
    """Under GitHub Actions, keep the runner from executing anything the session prints; then annotate.

    The runner reads every line a step prints, leading whitespace trimmed, as a possible
    workflow command (``::add-mask::x``, ``::error file=...::x``), and anywhere in a line the
    older ``##[command]x`` form. Model outputs and case text are shown escaped, one line each,
    but pytest prints node ids and failure sections too, and other plugins print what they
    like. So a model run prints ``::stop-commands::TOKEN`` (a fresh random token, which no
    output generated before it can know) when the session starts, and ``::TOKEN::``, which
    resumes command processing, after pytest's short test summary: this ``tryfirst`` wrapper
    is outside TerminalReporter's, which prints the failures before its yield and the short
    summary after it. Only then come taskbench's own annotations. Should the summary never
    run (an internal error), ``pytest_unconfigure`` resumes.
    """

    def __init__(self, session: TaskbenchSession) -> None:
        self.session = session
        self.token: str | None = None

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        config = session.config
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        settings = self.session.run.settings
        if reporter is None or hasattr(config, "workerinput") or os.environ.get("GITHUB_ACTIONS") != "true" or not (settings.model or settings.outputs):
            return
        self.token = f"taskbench-{secrets.token_hex(16)}"
        reporter.write_line(stop_commands(self.token))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> Any:
        try:
            return (yield)
        finally:
            self._resume(terminalreporter)
            for line in github_annotations(self.session.finished.reports, self.session.config.rootpath):
                terminalreporter.write_line(line)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            self._resume(reporter)

    def _resume(self, reporter: Any) -> None:
        if self.token is not None:
            reporter.write_line(resume_commands(self.token))
            self.token = None


class XdistHooks:
    """Registered only when pytest-xdist is active: merge worker counters on the controller."""

    def __init__(self, session: TaskbenchSession) -> None:
        self.session = session

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """Keep the generation counters and the model identity a worker reports when it finishes."""
        output = getattr(node, "workeroutput", {})
        if output.get("taskbench"):
            self.session.worker_counters.append(output["taskbench"])
        self.session.worker_model = self.session.worker_model or output.get("taskbench_model")
        if not self.session.collection and output.get("taskbench_collection"):  # every worker collects the same items
            self.session.collection = {path: SuiteFacts(**facts) for path, facts in output["taskbench_collection"].items()}
