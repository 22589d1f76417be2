"""The pytest plugin: thin hooks that translate pytest events into calls on the domain modules."""

from __future__ import annotations

import atexit
import functools
import gc
import os
import secrets
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pytest_taskbench import hookspecs
from pytest_taskbench.baseline import DEFAULT_NAME as DEFAULT_BASELINE_NAME
from pytest_taskbench.baseline import BaselineError
from pytest_taskbench.cases import CASE_FILE_SUFFIXES
from pytest_taskbench.generation import ModelLoadError, check_model_spec, model_kind, threads_per_process
from pytest_taskbench.generation.cache import clear_cache
from pytest_taskbench.generation.progress import ProgressPrinter
from pytest_taskbench.guards.display import safe_text
from pytest_taskbench.items import BrokenSuiteFile, CaseFile, CaseItem, LmEvalTaskFile
from pytest_taskbench.lmeval.suite import looks_like_task_file
from pytest_taskbench.reports.files import write_report_files
from pytest_taskbench.reports.markdown import github_annotations, resume_commands, stop_commands
from pytest_taskbench.reports.model import SuiteReport, flat_properties
from pytest_taskbench.results import CaseResult
from pytest_taskbench.run import ModelHandle, TaskbenchRun
from pytest_taskbench.settings import OPTIONS, OptionSpec, Settings, SettingsError
from pytest_taskbench.suite import SuiteError
from pytest_taskbench.verdict.gates import decide_exit_status

MODEL_OPTION = "--taskbench-model"
RUN_KEY = pytest.StashKey[TaskbenchRun]()
SESSION_KEY = pytest.StashKey["TaskbenchSession"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register every taskbench option as a --taskbench-* flag and an ini key."""
    group = parser.getgroup("taskbench", "taskbench: benchmark a language model on your own cases")
    for option in OPTIONS:
        kwargs: dict[str, Any] = {"dest": option.ini_name, "default": None, "help": option.help}
        if option.kind == "bool":
            kwargs["action"] = "store_true"
        elif option.kind == "list":
            kwargs.update(action="append", metavar=option.metavar)
        elif option.kind == "name":
            kwargs.update(nargs="?", const=DEFAULT_BASELINE_NAME, metavar=option.metavar)
        else:
            kwargs["metavar"] = option.metavar
        group.addoption(option.flag, **kwargs)
        parser.addini(option.ini_name, help=option.help, type=option.ini_type, default=None)  # type: ignore[arg-type]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Add the pytest_taskbench_* hooks."""
    pluginmanager.add_hookspecs(hookspecs)


def _lookup(config: pytest.Config, option: OptionSpec) -> Any:
    value = config.getoption(option.ini_name)
    return value if value is not None else config.getini(option.ini_name)


def pytest_configure(config: pytest.Config) -> None:
    """Resolve settings, check the model spec cheaply, and create the run and its hook object."""
    config.addinivalue_line("markers", "taskbench: a benchmark case collected from a taskbench case file")
    try:
        settings = Settings.from_lookup(lambda option: _lookup(config, option))
    except SettingsError as exc:
        raise pytest.UsageError(f"taskbench: {exc}") from None
    if settings.model and not config.option.help:
        _check_model(settings.model, config.rootpath)
    run = TaskbenchRun(_share_cpus_among_workers(config, settings), config.rootpath)
    _setup_generation(config, run)
    if not config.option.help and not hasattr(config, "workerinput"):  # only the controller reads and writes baselines
        try:
            run.plan_baselines(config.invocation_params.dir)
        except BaselineError as exc:
            raise pytest.UsageError(f"taskbench: {exc}") from None
    config.stash[RUN_KEY] = run
    config.add_cleanup(lambda: _unfreeze_heap(config))  # pushed before pytest's unraisable-exception cleanup, so popped after its gc.collect()
    session = TaskbenchSession(config, run)
    config.stash[SESSION_KEY] = session
    config.pluginmanager.register(session, "taskbench-session")
    config.pluginmanager.register(GitHubCommands(session), "taskbench-github")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(session), "taskbench-xdist")


def _share_cpus_among_workers(config: pytest.Config, settings: Settings) -> Settings:
    """Under pytest-xdist, each worker's torch gets its share of the CPUs, unless --taskbench-threads or OMP_NUM_THREADS says."""
    workers = getattr(config, "workerinput", {}).get("workercount")
    if not workers or settings.threads is not None or "OMP_NUM_THREADS" in os.environ:
        return settings
    return replace(settings, threads=threads_per_process(int(workers)))


def _setup_generation(config: pytest.Config, run: TaskbenchRun) -> None:
    """Default the cache to pytest's cache dir (none with -p no:cacheprovider) and clear it once (on the controller)."""
    if run.cache_dir is None and run.settings.model and getattr(config, "cache", None) is not None and not config.option.help:
        run.cache_dir = config.cache.mkdir("taskbench")
    if run.settings.clear_cache and run.cache_dir is not None and not hasattr(config, "workerinput"):
        clear_cache(run.cache_dir)


def _progress_printer(config: pytest.Config) -> ProgressPrinter | None:
    """Progress lines through the terminal reporter; none with -q."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or config.option.verbose < 0:
        return None
    return ProgressPrinter(reporter.write_line, reporter.rewrite if reporter.isatty() else None)


_FROZE_HEAP = pytest.StashKey[bool]()


def _freeze_heap(config: pytest.Config) -> None:
    """Move everything alive now (torch, transformers, the model) out of the garbage collector's sight.

    Nothing loaded with the model becomes garbage before the session ends, yet every full
    collection walks all of it: pytest's two collections at unconfigure took 0.4 s once torch
    and transformers were imported. Left alone when the process froze objects itself.
    """
    if gc.get_freeze_count() == 0:
        gc.freeze()
        config.stash[_FROZE_HEAP] = True
        _freeze_at_exit()


def _unfreeze_heap(config: pytest.Config) -> None:
    """Hand the objects frozen by this session back to the collector (an in-process run must not keep them)."""
    if config.stash.get(_FROZE_HEAP, False):
        gc.unfreeze()
        del config.stash[_FROZE_HEAP]


@functools.cache
def _freeze_at_exit() -> None:
    # The interpreter's final collections walk the whole torch/transformers heap again (1 s here) only to
    # free memory the operating system takes back anyway; freezing first, at exit, skips that walk.
    atexit.register(gc.freeze)


def _check_model(spec: str, rootdir: Path) -> None:
    if model_kind(spec) == "callable" and str(rootdir) not in sys.path:
        sys.path.append(str(rootdir))  # so `module:function` resolves from the project root like conftest.py does
    try:
        check_model_spec(spec)
    except ModelLoadError as exc:
        raise pytest.UsageError(f"taskbench: {exc}") from None


def pytest_unconfigure(config: pytest.Config) -> None:
    """Release the model and drop the stash entries."""
    run = config.stash.get(RUN_KEY, None)
    if run is not None:
        run.close()
        del config.stash[RUN_KEY]
    if SESSION_KEY in config.stash:
        del config.stash[SESSION_KEY]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.File | None:
    """Collect a file as cases when it lies below a directory holding taskbench.yaml and matches its case_files."""
    run = parent.config.stash.get(RUN_KEY, None)
    if run is None or file_path.suffix.lower() not in CASE_FILE_SUFFIXES:
        return None
    if not run.settings.no_lm_eval and looks_like_task_file(file_path):
        return LmEvalTaskFile.from_parent(parent, path=file_path)  # anywhere: an lm-eval task dir needs no taskbench.yaml
    suite_file = run.suite_file_for(file_path)
    if suite_file is None:
        return None
    try:
        suite = run.suite_at(suite_file)
    except SuiteError as exc:  # one collection error for the suite, on the first of its files pytest visits
        return BrokenSuiteFile.from_parent(parent, path=file_path, error=str(exc)) if run.claim_suite_error(suite_file) else None
    return CaseFile.from_parent(parent, path=file_path) if suite.holds_case_file(file_path) else None


@pytest.fixture(scope="session")
def taskbench_model(pytestconfig: pytest.Config) -> ModelHandle:
    """The session's model (loaded once, shared with the case items): ``taskbench_model.generate([...])``."""
    run = pytestconfig.stash[RUN_KEY]
    if not run.settings.model:
        pytest.fail(f"the taskbench_model fixture needs a model: pass {MODEL_OPTION}=PATH or module:function", pytrace=False)
    return ModelHandle(run)


class TaskbenchSession:
    """Collects case results from test reports and turns them into the summary and the verdict."""

    def __init__(self, config: pytest.Config, run: TaskbenchRun) -> None:
        self.config = config
        self.run = run
        self.results: list[CaseResult] = []
        self.other_failures = 0
        self.worker_counters: list[dict[str, Any]] = []
        self.reports: list[SuiteReport] = []
        self.summaries: list[dict[str, Any]] = []
        self.file_messages: list[str] = []
        self.generation_notes: list[str] = []
        self.model_identity: str | None = None  # of the model that produced the results (from a worker under xdist)
        self.baseline_messages: list[str] = []

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        """Load the model once, before any case runs, and plan generation for the cases about to run."""
        items = [item for item in session.items if isinstance(item, CaseItem)]
        if session.config.option.collectonly or not items:
            return
        if not self.run.settings.model and not self.run.settings.outputs:
            raise pytest.UsageError(f"taskbench: {len(items)} benchmark cases collected but no model; pass {MODEL_OPTION}=PATH or module:function")
        distributed = hasattr(session.config, "workerinput")
        try:  # a broken model is one usage error, not a failure per item
            self.model_identity = self.run.backend.identity()
            upcoming = _sent_to_this_worker(session) if distributed else None
            self.run.plan([(item.suite, item.case, item.nodeid) for item in items], distributed=distributed, upcoming=upcoming)
            if distributed:
                self.run.engine.load()
            else:  # generate before the first item so progress lines do not break pytest's own; weights load only on a cache miss
                self.run.engine.progress = _progress_printer(self.config)
                self.generation_notes = self.run.generate_planned(check_batching=self.run.settings.check_batching)
        except ModelLoadError as exc:
            raise pytest.UsageError(f"taskbench: {exc}") from None
        _freeze_heap(session.config)

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
            self.config.workeroutput["taskbench_model"] = self.model_identity  # type: ignore[attr-defined]
            return
        if not self.results:
            return
        self.reports = self.run.finish(self.results, self.worker_counters, self.model_identity)
        self.baseline_messages = self.run.write_baselines(self.reports, self.results, self.model_identity)
        self.summaries = [report.to_dict() for report in self.reports]
        for summary in self.summaries:
            self.config.hook.pytest_taskbench_summary(config=self.config, summary=summary)
        _add_junit_properties(self.config, self.reports)
        self.file_messages = write_report_files(self.reports, self.run, self.config.invocation_params.dir)
        session.exitstatus = decide_exit_status(
            int(session.exitstatus),
            all(r.verdict.passed for r in self.reports),
            self.other_failures,
            stopped_early=bool(session.shouldstop or session.shouldfail),
        )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Print each suite's summary, gates and verdict (the workflow annotations come later: GitHubCommands)."""
        for report in self.reports:
            terminalreporter.write_sep("=", f"taskbench: {safe_text(report.summary.suite_name)}")
            for line in report.lines(self.config.option.verbose):
                terminalreporter.write_line(line, red=line.startswith(("verdict: FAIL", "  FAIL")), green=line.startswith("verdict: PASS"))
        for message in self.file_messages + self.baseline_messages:
            terminalreporter.write_line(safe_text(message))
        for note in self.generation_notes:  # a batching disagreement quotes outputs
            terminalreporter.write_line(f"taskbench generation: {safe_text(note)}" if not note.startswith(" ") else safe_text(note), yellow=True)

    @pytest.hookimpl(optionalhook=True)
    def pytest_json_modifyreport(self, json_report: dict[str, Any]) -> None:
        """Put the per-suite summaries in pytest-json-report's top-level data."""
        if self.summaries:
            json_report["taskbench"] = {
                "verdict": "pass" if all(r.verdict.passed for r in self.reports) else "fail",
                "suites": {summary["suite"]: summary for summary in self.summaries},
            }


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


def _add_junit_properties(config: pytest.Config, reports: list[SuiteReport]) -> None:
    from _pytest.junitxml import xml_key  # LogXML's stash key; its add_global_property is the public route

    xml = config.stash.get(xml_key, None)
    if xml is None:
        return
    for report in reports:
        for name, value in flat_properties(report, with_suite_prefix=len(reports) > 1):
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
            for line in github_annotations(self.session.reports, self.session.config.rootpath):
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
        """Keep the generation counters a worker reports when it finishes."""
        counters = getattr(node, "workeroutput", {}).get("taskbench")
        if counters:
            self.session.worker_counters.append(counters)
        self.session.model_identity = self.session.model_identity or getattr(node, "workeroutput", {}).get("taskbench_model")
