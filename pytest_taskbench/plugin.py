"""The pytest plugin: thin hooks that translate pytest events into calls on the run.

Options and ini keys come from the option table (``settings.OPTIONS``); case files
become ``items.CaseFile``; the session's hook objects (``session.py``) turn test
reports into the verdict.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pytest_taskbench import hookspecs
from pytest_taskbench.baseline import BaselineError
from pytest_taskbench.discovery import CASE_FILE_SUFFIXES
from pytest_taskbench.generation import ModelLoadError, check_model_spec, model_kind
from pytest_taskbench.generation.cache import clear_cache
from pytest_taskbench.generation.runtime import threads_per_process
from pytest_taskbench.items import RUN_KEY, BrokenSuiteFile, CaseFile, LmEvalTaskFile
from pytest_taskbench.lmeval.task import looks_like_task_file
from pytest_taskbench.run import ModelHandle, TaskbenchRun
from pytest_taskbench.session import MODEL_OPTION, GitHubCommands, TaskbenchSession, XdistHooks
from pytest_taskbench.settings import OPTIONS, Option, Settings, SettingsError, argparse_options
from pytest_taskbench.suite import SuiteError

SESSION_KEY = pytest.StashKey[TaskbenchSession]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register every taskbench option as a --taskbench-* flag and an ini key."""
    group = parser.getgroup("taskbench", "taskbench: benchmark a language model on your own cases")
    for option in OPTIONS:
        group.addoption(option.flag, **argparse_options(option))
        parser.addini(option.ini_name, help=option.help, type=option.ini_type, default=None)  # type: ignore[arg-type]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Add the pytest_taskbench_* hooks."""
    pluginmanager.add_hookspecs(hookspecs)


def _lookup(config: pytest.Config, option: Option) -> Any:
    value = config.getoption(option.ini_name)
    return value if value is not None else config.getini(option.ini_name)


def pytest_configure(config: pytest.Config) -> None:
    """Resolve settings, check the model spec cheaply, and create the run and its hook objects."""
    config.addinivalue_line("markers", "taskbench: a benchmark case collected from a taskbench case file")
    try:
        settings = Settings.from_lookup(lambda option: _lookup(config, option))
    except SettingsError as exc:
        raise pytest.UsageError(f"taskbench: {exc}") from None
    for spec in (settings.model, settings.judge_model):  # a judge is a model too
        if spec and not config.option.help:
            _check_model(spec, (config.rootpath, config.invocation_params.dir))
    run = TaskbenchRun(_share_cpus_among_workers(config, settings), config.rootpath, cache_dir=_cache_dir(config, settings))
    controller = not hasattr(config, "workerinput")
    if settings.clear_cache and run.cache_dir is not None and controller:
        clear_cache(run.cache_dir)
    if not config.option.help and controller:  # only the controller reads and writes baselines
        try:
            run.plan_baselines(config.invocation_params.dir)
        except BaselineError as exc:
            raise pytest.UsageError(f"taskbench: {exc}") from None
    config.stash[RUN_KEY] = run
    session = TaskbenchSession(config, run)
    config.stash[SESSION_KEY] = session
    config.add_cleanup(session.release_heap)  # pushed before pytest's unraisable-exception cleanup, so run after its gc.collect()
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


def _cache_dir(config: pytest.Config, settings: Settings) -> Path | Callable[[], Path] | None:
    """The generation cache in pytest's cache directory (none with -p no:cacheprovider) unless --taskbench-cache-dir names one.

    Saved outputs are not cached, but a judge's answers and embeddings of them are: with saved outputs,
    the directory is made when a judge or an embedding model first opens its cache."""
    if settings.cache_dir or not (settings.model or settings.outputs) or getattr(config, "cache", None) is None or config.option.help:
        return None
    cache = config.cache
    return cache.mkdir("taskbench") if settings.model else lambda: cache.mkdir("taskbench")


def _check_model(spec: str, directories: tuple[Path, ...]) -> None:
    """One usage error, before any item, for a model spec that cannot work (see generation/registry.py for the rules)."""
    try:
        if model_kind(spec) == "callable":
            # `module:function` resolves from the project root, as conftest.py does, and from where pytest was started
            sys.path.extend(str(directory) for directory in dict.fromkeys(directories) if str(directory) not in sys.path)
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
    catalog = run.catalog
    suite_file = catalog.suite_file_for(file_path)
    if suite_file is None:
        return None
    try:
        suite = catalog.suite_at(suite_file)
    except SuiteError as exc:  # one collection error for the suite, on the first of its files pytest visits
        return BrokenSuiteFile.from_parent(parent, path=file_path, error=str(exc)) if catalog.claim_suite_error(suite_file) else None
    return CaseFile.from_parent(parent, path=file_path) if suite.holds_case_file(file_path) else None


@pytest.fixture(scope="session")
def taskbench_model(pytestconfig: pytest.Config) -> ModelHandle:
    """The session's model (loaded once, shared with the case items): ``taskbench_model.generate([...])``."""
    run = pytestconfig.stash[RUN_KEY]
    if not run.settings.model:
        pytest.fail(f"the taskbench_model fixture needs a model: pass {MODEL_OPTION}=PATH, URL, NAME:ARGS or module:function", pytrace=False)
    return ModelHandle(run)
