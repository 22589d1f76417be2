"""Case files as pytest collectors and cases as pytest items (pytest's non-python-tests pattern)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from pytest_taskbench.cases import Case, CaseError
from pytest_taskbench.guards.display import safe_text
from pytest_taskbench.lmeval.suite import LmEvalSuite
from pytest_taskbench.results import CaseResult
from pytest_taskbench.scoring.registry import ScorerError
from pytest_taskbench.suite import Suite, SuiteError

if TYPE_CHECKING:
    from _pytest._code.code import ExceptionInfo, TerminalRepr

    from pytest_taskbench.catalog import Catalog
    from pytest_taskbench.run import TaskbenchRun


class CaseFailed(Exception):
    """A case scored below the pass threshold, or the model failed on it."""

    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.reason)
        self.result = result


class CaseDefinitionError(Exception):
    """A case (or whole case file) that cannot be run as written."""

    def __init__(self, error: CaseError) -> None:
        super().__init__(str(error))
        self.error = error


RUN_KEY = pytest.StashKey["TaskbenchRun"]()  # the process's run, created in plugin.pytest_configure


def get_run(config: pytest.Config) -> TaskbenchRun:
    return config.stash[RUN_KEY]


class CaseFile(pytest.File):
    """A JSONL / YAML / JSON file of cases below a suite root."""

    def collect(self) -> Iterator[pytest.Item]:
        catalog = get_run(self.config).catalog
        suite_file = catalog.suite_file_for(self.path)
        assert suite_file is not None  # pytest_collect_file only makes CaseFiles below a suite it could read
        suite = catalog.suite_at(suite_file)
        contents = catalog.case_file(suite, self.path)
        yield from self.case_items(catalog, suite, contents.cases, contents.errors)

    def case_items(self, catalog: Catalog, suite: Suite, cases: Sequence[Case], errors: Sequence[CaseError]) -> Iterator[pytest.Item]:
        """A CaseItem per good case, a BrokenCaseItem per problem (so one bad case fails alone)."""
        for case in cases:
            try:
                catalog.scorer_for(suite, case)
            except ScorerError as exc:
                yield BrokenCaseItem.from_parent(self, name=case.id, error=CaseError(case.path, case.line, f"case {case.id!r}: {exc}"), suite=suite)
            else:
                yield CaseItem.from_parent(self, name=case.id, case=case, suite=suite)
        taken = {case.id for case in cases}
        for error in errors:
            name = error.case_id if error.case_id and error.case_id not in taken else f"line{error.line}"
            while name in taken:
                name += "_"
            taken.add(name)
            yield BrokenCaseItem.from_parent(self, name=name, error=error, suite=suite)


class BrokenSuiteFile(pytest.File):
    """Carries the error of an invalid suite file: one collection error, however many case files sit below it."""

    def __init__(self, *, error: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def collect(self) -> Iterator[pytest.Item]:
        raise self.CollectError(safe_text(self.error))


class LmEvalTaskFile(CaseFile):
    """An lm-evaluation-harness task YAML: one item per document, prompts as lm-eval builds them (lmeval.py)."""

    def collect(self) -> Iterator[pytest.Item]:
        run = get_run(self.config)
        try:
            suite = run.catalog.suite_at(self.path)
        except SuiteError as exc:  # an unsupported key or a !function: one clear error naming the file and the key
            raise self.CollectError(safe_text(str(exc))) from None
        assert isinstance(suite, LmEvalSuite)
        yield from self.case_items(run.catalog, suite, suite.cases, suite.errors)


class CaseItem(pytest.Item):
    """One benchmark case: generate, score, record properties, fail below the threshold."""

    def __init__(self, *, case: Case, suite: Suite, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.suite = suite
        self.extra_keyword_matches.update({case.category, case.difficulty, *case.tags})
        self.add_marker(pytest.mark.taskbench)

    def runtest(self) -> None:
        result = get_run(self.config).evaluate(self.suite, self.case, self.nodeid)
        self.user_properties.extend(result.to_properties())
        if not result.passed:
            raise CaseFailed(result)

    def repr_failure(self, excinfo: ExceptionInfo[BaseException], style: Any = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, CaseFailed):
            return format_failure(excinfo.value.result, self.case)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, self.case.line - 1, f"{self.case.category}: {self.case.id}"


class BrokenCaseItem(pytest.Item):
    """Stands in for a case that could not be read, so the problem fails one item, not the run."""

    def __init__(self, *, error: CaseError, suite: Suite, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error
        self.suite = suite

    def runtest(self) -> None:
        run = get_run(self.config)
        result = CaseResult(
            case_id=self.name,
            nodeid=self.nodeid,
            suite=run.catalog.display_path(self.suite.path),
            category="",
            difficulty="",
            score=0.0,
            passed=False,
            status="broken",
            reason=self.error.message,
            path=self.error.path,
            line=self.error.line,
        )
        self.user_properties.extend(result.to_properties())
        raise CaseDefinitionError(self.error)

    def repr_failure(self, excinfo: ExceptionInfo[BaseException], style: Any = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, CaseDefinitionError):
            return f"broken case definition: {safe_text(str(excinfo.value.error))}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, self.error.line - 1, f"broken case: {self.name}"


MAX_SAMPLES_SHOWN = 10


def _show(value: Any, limit: int = 500) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return safe_text(text) if len(text) <= limit else safe_text(text[:limit]) + f"... ({len(text)} chars)"


def format_failure(result: CaseResult, case: Case) -> str:
    """Short, readable failure: where, input, expected, output, score and reason.

    Each value is shown on its own line with ``safe_text`` (a newline in an output reads ``\\n``),
    so no model output or case text starts a line of the log: pytest prints this text in the
    failure section and, on CI, whole in the short test summary.
    """
    if result.status == "error":
        headline = f"model error: {safe_text(str(result.details.get('model_error', result.reason)))}"
    elif result.status == "judge_error":
        headline = f"judge error: {safe_text(result.reason)}"
    else:
        headline = f"score {result.score:.3f} < {result.threshold:g}: {safe_text(result.reason)}"
    lines = [headline, f"case:     {safe_text(case.location)} ({safe_text(case.category)}, {safe_text(case.difficulty)})"]
    lines.append(f"input:    {_show(case.request_text)}")
    lines.append(f"expected: {_show(case.expected)}")
    if result.output is not None:
        lines.append(f"output:   {_show(result.output)}")
    judged = result.details.get("judge")
    if isinstance(judged, dict) and judged.get("reasoning"):
        lines.append(f"judge:    {safe_text(str(judged.get('name')))} said {safe_text(str(judged.get('verdict')))}: {_show(judged['reasoning'])}")
    for number, sample in enumerate(result.samples[:MAX_SAMPLES_SHOWN], start=1):
        shown = _show(sample.output, 200) if sample.output is not None else f"model error: {safe_text(str(sample.error))}"
        lines.append(f"sample {number}: {sample.score:.3f} {'pass' if sample.passed else 'fail'}  {shown}")
    if len(result.samples) > MAX_SAMPLES_SHOWN:
        lines.append(f"... and {len(result.samples) - MAX_SAMPLES_SHOWN} more samples (--taskbench-log-samples writes them all)")
    if case.rationale:
        lines.append(f"rationale: {safe_text(case.rationale)}")
    return "\n".join(lines)
