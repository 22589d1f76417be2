"""What one process reads once: suite files, case files, scorers and suites' content hashes.

Collection, scoring, the case count at the end, the samples log and the baseline
all ask the catalog, so no file is parsed twice and no scorer is built twice.

Domain code: no pytest import.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pytest_taskbench.cases import Case, CaseFileContents
from pytest_taskbench.scoring.registry import ScorerError, build_scorer, split_spec
from pytest_taskbench.scoring.score import Scorer
from pytest_taskbench.suite import SUITE_FILE_NAME, Suite, find_suite_file, load_suite


class Catalog:
    """Suites, case files, scorers and content hashes, each read or built once per process.

    Args:
        rootdir: paths are shown relative to it.
        load_other_suite: reads a suite file not named ``taskbench.yaml`` (an lm-eval task file);
            raises ``SuiteError``.
        run_context: suite -> what the run offers its scorer factories besides the suite's own
            scoring context (the tool parser, the judges' names, the embedding models).
    """

    def __init__(self, rootdir: Path, load_other_suite: Callable[[Path], Suite], run_context: Callable[[Suite], Mapping[str, Any]] | None = None) -> None:
        self.rootdir = rootdir
        self._load_other_suite = load_other_suite
        self._run_context = run_context
        self._suites: dict[Path, Suite] = {}
        self._suite_file_of_dir: dict[Path, Path | None] = {}
        self._scorers: dict[tuple[Path, str], Scorer] = {}
        self._case_files: dict[Path, CaseFileContents] = {}
        self._content_hashes: dict[Path, str] = {}
        self._reported_suite_errors: set[Path] = set()

    def suite_file_for(self, path: Path) -> Path | None:
        """The ``taskbench.yaml`` that ``path`` lies below, if any."""
        directory = path.parent
        if directory not in self._suite_file_of_dir:
            self._suite_file_of_dir[directory] = find_suite_file(path)
        return self._suite_file_of_dir[directory]

    def suite_at(self, suite_file: Path) -> Suite:
        """Load (once) and return the suite; raises SuiteError."""
        key = suite_file.resolve()
        if key not in self._suites:
            self._suites[key] = load_suite(suite_file) if suite_file.name == SUITE_FILE_NAME else self._load_other_suite(suite_file)
        return self._suites[key]

    def suite_of_result(self, suite_path: str) -> Suite:
        """The suite a result names by its displayed path."""
        return self.suite_at(self.rootdir / suite_path)

    def claim_suite_error(self, suite_file: Path) -> bool:
        """True the first time a broken suite file is met in this process, so its error is reported once."""
        key = suite_file.resolve()
        if key in self._reported_suite_errors:
            return False
        self._reported_suite_errors.add(key)
        return True

    def case_file(self, suite: Suite, path: Path) -> CaseFileContents:
        """A case file read once per process: collection, the suite's case count and the samples log share it."""
        key = path.resolve()
        if key not in self._case_files:
            self._case_files[key] = suite.load_cases(path, display_path=self.display_path(path))
        return self._case_files[key]

    def reader(self, suite: Suite) -> Callable[[Path], CaseFileContents]:
        """This catalog's reader of ``suite``'s case files."""
        return lambda path: self.case_file(suite, path)

    def content_hash(self, suite: Suite) -> str:
        """The suite's content hash, read once per process and only when a baseline needs it."""
        if suite.path not in self._content_hashes:
            self._content_hashes[suite.path] = suite.content_hash()
        return self._content_hashes[suite.path]

    def display_path(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.rootdir.resolve()).as_posix()
        except ValueError:
            return str(path)

    def scorer_for(self, suite: Suite, case: Case) -> Scorer:
        """The scorer a case uses, built once per suite and spec; raises ScorerError.

        A case file may only name a registered scorer: a ``package.module:function`` there would
        import and run code named by a file that holds case text (see the threat model).
        """
        if case.scorer is not None and ":" in split_spec(case.scorer)[0]:
            raise ScorerError(
                f"scorer {split_spec(case.scorer)[0]!r} names Python code, which a case file may not; "
                "name it as a category's scorer in the suite file, or register it with @scorer in conftest.py"
            )
        spec = suite.scorer_spec_for(case)
        key = (suite.path, json.dumps(spec, sort_keys=True, default=str))
        if key not in self._scorers:
            context = {**suite.scoring_context(), **(self._run_context(suite) if self._run_context is not None else {})}
            self._scorers[key] = build_scorer(spec, context, suite.scorer_packs)
        built = self._scorers[key]
        check = getattr(built, "check_case", None)  # a scorer that cannot score this case (a judge: a label off its scale)
        if callable(check):
            try:
                check(case)
            except ValueError as exc:
                raise ScorerError(f"scorer {split_spec(spec)[0]!r}: {exc}") from None
        return built
