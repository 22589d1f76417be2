"""Baseline files: a stored run that later runs are compared with, case by case.

The file is JSON, written so that a diff of two versions reads well in a pull
request: the header (format, model, suites, configuration) is indented one key
per line, and then each case sits on one line of its own, sorted by its key
(the pytest node id, ``path/to/file.jsonl::case_id``)::

    {
      "config": {"alpha": 0.05, "seed": 20240601},
      "created": "2026-11-24T23:30:00Z",
      "format": "pytest-taskbench-baseline",
      "model": "callable:model:respond:3f2a...",
      "suites": {"cases/taskbench.yaml": {"content_hash": "9c1e...", "name": "demo", ...}},
      "taskbench_version": "0.1.0",
      "version": 1,
      "cases": [
        {"category": "greet", "critical": false, "difficulty": "simple", "expected_sha256": "...", "id": "g1", "input_sha256": "...", "key": "cases/greet.jsonl::g1", "output": "hello", "passed": true, "score": 1.0, "status": "scored", "suite": "cases/taskbench.yaml"},
        ...
      ]
    }

Domain code: no pytest import.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from pytest_taskbench.guards import validation
from pytest_taskbench.guards.files import FileProblem, json_text, parse_json, read_text, value_problem
from pytest_taskbench.results import CaseResult
from pytest_taskbench.version import VERSION as TASKBENCH_VERSION

FORMAT = "pytest-taskbench-baseline"
VERSION = 1
DEFAULT_NAME = "default"
BASELINE_DIR = Path(".taskbench") / "baselines"
CASE_FIELDS = ("key", "suite", "category", "score", "passed")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


class BaselineError(Exception):
    """A baseline file that cannot be used; the message names the file, the problem and the fix."""


@dataclass(frozen=True)
class BaselineCase:
    """One case as it was when the baseline was saved."""

    key: str
    suite: str
    id: str
    category: str
    difficulty: str
    score: float
    passed: bool
    status: str = "scored"
    critical: bool = False
    input_sha256: str = ""
    expected_sha256: str = ""
    output: str | None = None
    samples: int = 1  # with repeats: how many samples the case drew ("score" is its policy's value over them)
    sample_pass_rate: float | None = None  # with repeats: the share of its samples that passed
    policy: str | None = None  # with repeats: the policy that made "score" and "passed"


@dataclass(frozen=True)
class SuiteRecord:
    """What identifies a suite, and its headline figures, at the time of the baseline."""

    name: str
    content_hash: str
    pass_threshold: float = 0.8
    weights: Mapping[str, float] = field(default_factory=dict)
    aggregate: float | None = None
    cases: int = 0
    subset: bool = False


@dataclass(frozen=True)
class Baseline:
    created: str
    model: str
    suites: Mapping[str, SuiteRecord]
    cases: tuple[BaselineCase, ...]
    config: Mapping[str, Any] = field(default_factory=dict)
    taskbench_version: str = ""
    version: int = VERSION
    path: str = ""

    def cases_of(self, suite: str) -> dict[str, BaselineCase]:
        return {case.key: case for case in self.cases if case.suite == suite}


def sha256(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def case_from_result(result: CaseResult) -> BaselineCase:
    return BaselineCase(
        key=result.nodeid,
        suite=result.suite,
        id=result.case_id,
        category=result.category,
        difficulty=result.difficulty,
        score=round(result.score, 6),
        passed=result.passed,
        status=result.status,
        critical=result.critical,
        input_sha256=sha256(result.input),
        expected_sha256=sha256(result.expected),
        output=result.output,
        samples=result.repeats,
        sample_pass_rate=round(result.sample_pass_rate, 6) if result.samples else None,
        policy=result.policy if result.samples else None,
    )


SAMPLE_FIELDS = ("samples", "sample_pass_rate", "policy")  # written only for a case drawn more than once, so other baselines read as before


def _case_row(case: BaselineCase) -> dict[str, Any]:
    row = asdict(case)
    if case.samples == 1:
        for name in SAMPLE_FIELDS:
            row.pop(name)
    return row


def build_baseline(
    results: Iterable[CaseResult],
    suites: Mapping[str, SuiteRecord],
    *,
    model: str,
    config: Mapping[str, Any],
    created: dt.datetime | None = None,
) -> Baseline:
    """A baseline of every scored case in ``results`` (broken case definitions have no score and are left out)."""
    moment = (created or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).replace(microsecond=0)
    cases = sorted((case_from_result(r) for r in results if r.status != "broken"), key=lambda case: case.key)
    return Baseline(moment.isoformat().replace("+00:00", "Z"), model, dict(suites), tuple(cases), dict(config), TASKBENCH_VERSION)


def merged(old: Baseline, new: Baseline, replaced_suites: Iterable[str]) -> Baseline:
    """``new`` plus the cases of ``old`` that did not run, except in ``replaced_suites`` (suites that ran in full)."""
    replaced = set(replaced_suites)
    ran = {case.key for case in new.cases}
    kept = [case for case in old.cases if case.key not in ran and case.suite not in replaced]
    kept_suites = {case.suite for case in kept}
    suites = {**{name: record for name, record in old.suites.items() if name in kept_suites}, **new.suites}
    return replace(new, suites=suites, cases=tuple(sorted([*new.cases, *kept], key=lambda case: case.key)))


def dumps(baseline: Baseline) -> str:
    header = {
        "format": FORMAT,
        "version": VERSION,
        "created": baseline.created,
        "model": baseline.model,
        "taskbench_version": baseline.taskbench_version,
        "config": dict(baseline.config),
        "suites": {name: asdict(record) for name, record in sorted(baseline.suites.items())},
    }
    head = json_text(header, indent=2, sort_keys=True)
    rows = ",\n".join("    " + json_text(_case_row(case), sort_keys=True) for case in baseline.cases)
    return head[: -len("\n}")] + ',\n  "cases": [' + (f"\n{rows}\n  ]" if rows else "]") + "\n}\n"


def save(baseline: Baseline, path: Path) -> None:
    """Write atomically (a temporary file, then rename), so a crash never leaves half a baseline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(dumps(baseline), encoding="utf-8")
    os.replace(temporary, path)


def load(path: Path) -> Baseline:
    """Read and check a baseline file; raises BaselineError naming the file, the problem and the fix.

    A baseline is user input like any other file: every field is checked for its type, and a
    duplicate key, a bad encoding or nesting no baseline has is an error naming the line.
    """
    shown = str(path)
    if not path.exists():
        raise BaselineError(f"{path}: no baseline file here; create one with --taskbench-save-baseline")
    try:
        text = read_text(path, shown)
    except FileProblem as exc:
        raise BaselineError(f"{exc}; restore it from version control or save a new one with --taskbench-save-baseline") from None
    try:
        data = parse_json(text, shown)
    except FileProblem as exc:
        stripped = text.strip()
        truncated = exc.message.startswith("invalid JSON") and stripped.startswith("{") and not stripped.endswith("}")
        problem = exc.message
        if problem.startswith("invalid JSON: "):
            problem = f"the baseline file is not valid JSON ({problem.removeprefix('invalid JSON: ')})"
        if truncated:
            problem = "the baseline file ends before the JSON does (truncated?)"
        raise BaselineError(f"{exc.path}:{exc.line}: {problem}; restore it from version control or save a new one with --taskbench-save-baseline") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BaselineError(f'{path}: not a pytest-taskbench baseline (expected a JSON object with "format": "{FORMAT}")')
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise BaselineError(f"{path}: baseline has no valid format version (got {version!r})")
    if version > VERSION:
        raise BaselineError(f"{path}: baseline format version {version} is newer than this pytest-taskbench reads ({VERSION}); upgrade pytest-taskbench")
    return _parse(data, path)


Check = Callable[[str, Any], Any]
TEXT: Check = partial(validation.text, empty=True)
COUNT: Check = partial(validation.whole, minimum=0)
# (field, its check, may be null) for each stored value; unknown keys are ignored (forward compatible)
_CASE_SCHEMA: tuple[tuple[str, Check, bool], ...] = (
    ("key", TEXT, False),
    ("suite", TEXT, False),
    ("id", TEXT, False),
    ("category", TEXT, False),
    ("difficulty", TEXT, False),
    ("score", validation.unit, False),
    ("passed", validation.flag, False),
    ("status", TEXT, False),
    ("critical", validation.flag, False),
    ("input_sha256", TEXT, False),
    ("expected_sha256", TEXT, False),
    ("output", TEXT, True),
    ("samples", partial(validation.whole, minimum=1), False),
    ("sample_pass_rate", validation.unit, True),
    ("policy", TEXT, True),
)
_SUITE_SCHEMA: tuple[tuple[str, Check, bool], ...] = (
    ("name", TEXT, False),
    ("content_hash", TEXT, False),
    ("pass_threshold", validation.unit, False),
    ("weights", validation.mapping, False),
    ("aggregate", validation.number, True),
    ("cases", COUNT, False),
    ("subset", validation.flag, False),
)


def _typed(raw: dict[str, Any], schema: tuple[tuple[str, Check, bool], ...], where: str) -> dict[str, Any]:
    """The known fields of ``raw``, each checked (a bool is never a number); raises ``validation.Invalid``."""
    return {name: None if raw[name] is None and nullable else check(f"{where}: {name}", raw[name]) for name, check, nullable in schema if name in raw}


def _parse(data: dict[str, Any], path: Path) -> Baseline:
    try:
        return _checked(data, path)
    except validation.Invalid as exc:
        raise BaselineError(f"{path}: {exc}; restore the file or save a new baseline with --taskbench-save-baseline") from None


def _checked(data: dict[str, Any], path: Path) -> Baseline:
    problem = value_problem(data, max_values=10_000_000)
    if problem is not None:
        raise validation.Invalid(f"the file {problem}")
    raw_cases = data.get("cases")
    raw_suites = data.get("suites")
    if not isinstance(raw_cases, list):
        raise validation.Invalid("'cases' must be a list")
    raw_suites = validation.mapping("'suites'", raw_suites, what="a mapping of suite file to its record")
    for name in ("created", "model", "taskbench_version"):
        validation.text(f"'{name}'", data.get(name, ""), empty=True)
    config = validation.mapping("'config'", data.get("config") or {}, what="an object")
    cases = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_cases, start=1):
        missing = [name for name in CASE_FIELDS if not isinstance(raw, dict) or name not in raw]
        if missing:
            raise validation.Invalid(f"case {index} lacks {', '.join(missing)}")
        values = _typed(raw, _CASE_SCHEMA, f"case {index} ({str(raw.get('key'))[:80]!r})")
        if values["key"] in seen:
            raise validation.Invalid(f"case {index}: key {values['key']!r} repeats case {seen[values['key']]}")
        seen[values["key"]] = index
        cases.append(BaselineCase(**{"id": values["key"].rpartition("::")[2], "difficulty": "", **values, "score": float(values["score"])}))
    suites = {}
    for name, raw in raw_suites.items():
        if not isinstance(raw, dict) or "content_hash" not in raw:
            raise validation.Invalid(f"suite {name!r} lacks its content_hash")
        values = _typed(raw, _SUITE_SCHEMA, f"suite {name!r}")
        for category, weight in values.get("weights", {}).items():
            validation.number(f"suite {name!r}: weights.{category}", weight, minimum=0)
        suites[str(name)] = SuiteRecord(**values)
    return Baseline(
        created=str(data.get("created", "")),
        model=str(data.get("model", "")),
        suites=suites,
        cases=tuple(cases),
        config=config,
        taskbench_version=str(data.get("taskbench_version", "")),
        version=int(data["version"]),
        path=str(path),
    )


def resolve(spec: str, rootdir: Path, invocation_dir: Path, flag: str = "--taskbench-compare") -> Path:
    """A baseline NAME (``rootdir/.taskbench/baselines/NAME.json``) or a PATH ending in ``.json`` (relative to where pytest started).

    Raises BaselineError for anything else, and for a name that is an existing file or
    directory: ``--taskbench-save-baseline cases`` more likely meant the test path ``cases``.
    """
    if spec.endswith(".json"):
        return (invocation_dir / spec).resolve()
    if not _NAME.fullmatch(spec) or (invocation_dir / spec).exists():
        raise BaselineError(
            f"{flag} {spec!r}: expected a baseline NAME (letters, digits, '-', '_', '.') or a PATH ending in .json; "
            f"if {spec!r} is a test path, write {flag}=NAME or put the flag after the paths"
        )
    return rootdir / BASELINE_DIR / f"{spec}.json"


@dataclass(frozen=True)
class BaselinePlan:
    """Which baseline files this run reads and writes, resolved from the options before any case runs."""

    baseline: Baseline | None = None
    save_path: Path | None = None
    update_path: Path | None = None
    shared_only: bool = False

    @classmethod
    def from_options(cls, *, save: str | None, compare: str | None, update: bool, shared_only: bool, rootdir: Path, invocation_dir: Path) -> BaselinePlan:
        """Resolve and read the files; raises BaselineError for a bad name or an unusable baseline.

        ``update`` rewrites the compared baseline (or the default one); when that file does not
        exist yet, it is created and there is nothing to compare with.
        """
        save_path = resolve(save, rootdir, invocation_dir, "--taskbench-save-baseline") if save else None
        compare_path = resolve(compare, rootdir, invocation_dir) if compare else None
        update_path = (compare_path or rootdir / BASELINE_DIR / f"{DEFAULT_NAME}.json") if update else None
        read = compare_path or update_path
        baseline = None
        if read is not None and (not update or read.exists()):
            baseline = replace(load(read), path=_shown(read, rootdir))
        return cls(baseline, save_path, update_path, shared_only)


def write_baselines(plan: BaselinePlan, baseline: Baseline, complete_suites: Iterable[str], rootdir: Path) -> list[str]:
    """Save and/or update baseline files with this run; returns one line per file written."""
    messages = []
    if plan.save_path is not None:
        save(baseline, plan.save_path)
        messages.append(f"taskbench: saved baseline {_shown(plan.save_path, rootdir)} ({len(baseline.cases)} cases)")
    if plan.update_path is not None:
        old = plan.baseline  # when updating, the baseline read is the one being updated
        updated = baseline if old is None else merged(old, baseline, complete_suites)
        save(updated, plan.update_path)
        kept = len(updated.cases) - len(baseline.cases)
        messages.append(
            f"taskbench: {'updated' if old else 'created'} baseline {_shown(plan.update_path, rootdir)} ({len(baseline.cases)} cases from this run"
            + (f", {kept} kept from cases that did not run" if kept else "")
            + "); review its diff before committing"
        )
    return messages


def _shown(path: Path, rootdir: Path) -> str:
    try:
        return path.resolve().relative_to(rootdir.resolve()).as_posix()
    except ValueError:
        return str(path)
