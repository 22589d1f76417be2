"""Results files (``--taskbench-results``): everything a verdict needs from one run or shard, and merging them.

A results file is JSON Lines: a header line, then one line per case, each the
case's ``CaseResult.to_dict()`` (so a field added to ``CaseResult`` travels without a
format change)::

    {"format": "pytest-taskbench-results", "version": 1, "cases": 167, "shard": {"index": 1, "count": 3},
     "model": {"identity": "...", "spec": "..."}, "suites": {"cases/taskbench.yaml": {...}},
     "settings": {"score": {...}, "finish": {...}}, "selection": {...}, "outcome": {...}, ...}
    {"case_id": "action_001", "category": "actions", "nodeid": "cases/actions.jsonl::action_001", ...}

The file is written once, at the end of the run, to a temporary file renamed into
place: a reader sees a whole file or none. ``combine`` checks that files are the
shards of one run (one suite version, one model, the same score-changing settings
and selection, each shard exactly once, no case twice) and returns their union; each
refusal names the file.

Domain code: no pytest import.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_taskbench.guards import validation
from pytest_taskbench.guards.files import FileProblem, json_text, raw_lines, read_bytes
from pytest_taskbench.results import CaseResult
from pytest_taskbench.shards import Shard
from pytest_taskbench.version import VERSION as TASKBENCH_VERSION

FORMAT = "pytest-taskbench-results"
VERSION = 1


class ResultsFileError(Exception):
    """A results file that cannot be read, or files that cannot be merged; the message names the file."""


@dataclass(frozen=True)
class SuiteFacts:
    """A suite as a run collected it: its name and content, and how many of its cases were selected."""

    name: str
    content_hash: str
    selected: int  # after -k / -m, before sharding
    in_shard: int  # of those, the ones this run's shard holds (all of them in an unsharded run)
    total: int | None = None  # valid cases in the whole suite (a merge need not read every case file again to tell a subset)


@dataclass(frozen=True)
class Outcome:
    """How the run ended, as far as the exit status needs it."""

    pytest_status: int = 0
    stopped_early: bool = False
    other_failures: int = 0


@dataclass(frozen=True)
class Header:
    """The first line of a results file."""

    model_identity: str
    model_spec: str
    suites: Mapping[str, SuiteFacts]
    score_settings: Mapping[str, Any]  # settings that change a case's score: equal in every shard
    finish_settings: Mapping[str, Any]  # settings the verdict and the reports read: applied by the merge
    selection: Mapping[str, Any]  # the test paths, -k and -m of the run
    shard: Shard | None = None
    outcome: Outcome = Outcome()
    counters: Mapping[str, Any] = field(default_factory=dict)
    cases: int = 0
    created: str = ""
    taskbench_version: str = TASKBENCH_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "taskbench_version": self.taskbench_version,
            "created": self.created,
            "cases": self.cases,
            "shard": None if self.shard is None else {"index": self.shard.index, "count": self.shard.count},
            "model": {"identity": self.model_identity, "spec": self.model_spec},
            "suites": {path: vars(facts) for path, facts in sorted(self.suites.items())},
            "settings": {"score": dict(self.score_settings), "finish": dict(self.finish_settings)},
            "selection": dict(self.selection),
            "outcome": vars(self.outcome),
            "counters": dict(self.counters),
        }


@dataclass(frozen=True)
class ResultsFile:
    path: str  # as given
    header: Header
    results: tuple[CaseResult, ...]
    lines: Mapping[str, int] = field(default_factory=dict)  # node id -> line number


def write_results_file(path: Path, header: Header, results: Sequence[CaseResult]) -> None:
    """Write the header and one line per result to a temporary file, then rename it into place."""
    created = header.created or dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    head = Header(**{**vars(header), "created": created, "cases": len(results)})
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as out:
            out.write(json_text(head.to_dict(), sort_keys=True) + "\n")
            for result in results:
                out.write(json_text(result.to_dict(), sort_keys=True, default=str) + "\n")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def read_results_file(path: Path, shown: str | None = None) -> ResultsFile:
    """Read and check one results file; raises ResultsFileError naming the file and the line."""
    shown = shown or str(path)
    try:
        raw = read_bytes(path, shown)
    except FileProblem as exc:
        raise ResultsFileError(f"{shown}: cannot read the results file: {exc.message.removeprefix('cannot read the file: ')}") from None
    lines = list(raw_lines(raw))
    if not lines:
        raise ResultsFileError(f"{shown}: empty file, not a results file (write one with --taskbench-results=PATH)")
    ends_whole = raw.endswith(b"\n")
    header = _header(_json_line(shown, 1, lines[0][1], last=len(lines) == 1 and not ends_whole), shown)
    results: list[CaseResult] = []
    numbers: dict[str, int] = {}
    for number, line in lines[1:]:
        data = _json_line(shown, number, line, last=number == len(lines) and not ends_whole)
        try:
            result = CaseResult.from_dict(validation.mapping("the line", data, what="a JSON object (one case result)"))
        except validation.Invalid as exc:
            raise ResultsFileError(f"{shown}:{number}: {exc}") from None
        if result.nodeid in numbers:
            raise ResultsFileError(f"{shown}:{number}: case {result.nodeid} repeats line {numbers[result.nodeid]}")
        numbers[result.nodeid] = number
        results.append(result)
    if len(results) != header.cases:
        raise ResultsFileError(
            f"{shown}: truncated: the header promises {header.cases} case results, the file holds {len(results)}; "
            "copy the whole file again (results files are written whole, so the copy or the upload was cut short)"
        )
    return ResultsFile(shown, header, tuple(results), numbers)


def _json_line(shown: str, number: int, line: bytes, *, last: bool) -> Any:
    try:
        return json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise ResultsFileError(f"{shown}:{number}: not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        if last:
            raise ResultsFileError(f"{shown}:{number}: truncated: the last line ends inside its JSON ({exc.msg}); copy the whole file again") from None
        raise ResultsFileError(f"{shown}:{number}: not valid JSON ({exc.msg} at column {exc.colno})") from None


def _header(data: Any, shown: str) -> Header:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ResultsFileError(
            f'{shown}:1: not a pytest-taskbench results file (expected a header with "format": "{FORMAT}"; write one with --taskbench-results)'
        )
    try:
        version = validation.whole("the format version", data.get("version"), minimum=1)
        if version > VERSION:
            raise ResultsFileError(
                f"{shown}:1: results format version {version} is newer than this pytest-taskbench reads ({VERSION}); upgrade pytest-taskbench"
            )
        shard_data = data.get("shard")
        shard = None
        if shard_data is not None:
            shard_data = validation.mapping("shard", shard_data)
            shard = Shard.parse("shard", f"{shard_data.get('index')}/{shard_data.get('count')}")
        model = validation.mapping("model", data.get("model"))
        suites = {}
        for path, facts in validation.mapping("suites", data.get("suites")).items():
            facts = validation.mapping(f"suites.{path}", facts)
            suites[str(path)] = SuiteFacts(
                validation.text(f"suites.{path}.name", facts.get("name"), empty=True),
                validation.text(f"suites.{path}.content_hash", facts.get("content_hash"), empty=True),
                validation.whole(f"suites.{path}.selected", facts.get("selected"), minimum=0),
                validation.whole(f"suites.{path}.in_shard", facts.get("in_shard"), minimum=0),
                None if facts.get("total") is None else validation.whole(f"suites.{path}.total", facts.get("total"), minimum=0),
            )
        settings = validation.mapping("settings", data.get("settings"))
        outcome = validation.mapping("outcome", data.get("outcome", {}))
        return Header(
            model_identity=validation.text("model.identity", model.get("identity"), empty=True),
            model_spec=validation.text("model.spec", model.get("spec"), empty=True),
            suites=suites,
            score_settings=validation.mapping("settings.score", settings.get("score")),
            finish_settings=validation.mapping("settings.finish", settings.get("finish")),
            selection=validation.mapping("selection", data.get("selection", {})),
            shard=shard,
            outcome=Outcome(
                validation.whole("outcome.pytest_status", outcome.get("pytest_status", 0), minimum=0),
                validation.flag("outcome.stopped_early", outcome.get("stopped_early", False)),
                validation.whole("outcome.other_failures", outcome.get("other_failures", 0), minimum=0),
            ),
            counters=validation.mapping("counters", data.get("counters", {})),
            cases=validation.whole("cases", data.get("cases"), minimum=0),
            created=validation.text("created", data.get("created", ""), empty=True),
            taskbench_version=validation.text("taskbench_version", data.get("taskbench_version", ""), empty=True),
        )
    except validation.Invalid as exc:
        raise ResultsFileError(f"{shown}:1: the header's {exc}") from None


# merging -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MergedRun:
    """The union of the shards of one run, and what the merge needs to finish it."""

    files: tuple[ResultsFile, ...]
    results: tuple[CaseResult, ...]

    @property
    def header(self) -> Header:
        return self.files[0].header

    @property
    def shard_count(self) -> int:
        shard = self.header.shard
        return 1 if shard is None else shard.count

    @property
    def model_identity(self) -> str:
        """The model's identity, from the first shard that loaded it (a shard that ran no case never did)."""
        return next((f.header.model_identity for f in self.files if f.header.model_identity), "")

    @property
    def counters(self) -> list[Mapping[str, Any]]:
        return [f.header.counters for f in self.files]

    @property
    def outcome(self) -> Outcome:
        """The shards' outcomes as one run's: a status other than 0 or 1 stands (the first such), stops and other failures add up."""
        statuses = [f.header.outcome.pytest_status for f in self.files if f.header.outcome.pytest_status not in (0, 1)]
        return Outcome(
            statuses[0] if statuses else max(f.header.outcome.pytest_status for f in self.files),
            any(f.header.outcome.stopped_early for f in self.files),
            sum(f.header.outcome.other_failures for f in self.files),
        )


def _differs(what: str, file: ResultsFile, value: Any, first: ResultsFile, expected: Any, why: str) -> ResultsFileError:
    return ResultsFileError(f"{file.path}: {what} {_shown(value)}, but {first.path} has {_shown(expected)}: {why}")


def _shown(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def combine(files: Sequence[ResultsFile]) -> MergedRun:
    """The union of the shards of one run; raises ResultsFileError naming the file for anything else.

    Refused: shards of another suite version or model, with other score-changing or finishing
    settings, of another selection; a shard missing or given twice; a case in two files.
    """
    if not files:
        raise ResultsFileError("no results files to merge")
    first = files[0]
    h0 = first.header
    for file in files[1:]:
        h = file.header
        if (h.model_identity or h.model_spec) != (h0.model_identity or h0.model_spec):
            raise _differs(
                "model", file, h.model_identity or h.model_spec, first, h0.model_identity or h0.model_spec, "shards of different models cannot be merged"
            )
        for path in sorted(set(h.suites) | set(h0.suites)):
            mine, theirs = h.suites.get(path), h0.suites.get(path)
            if mine is None or theirs is None:
                raise ResultsFileError(
                    f"{file.path}: suite {path} {'is missing' if mine is None else 'is not in'} {file.path if mine is None else first.path}: "
                    "the shards collected different suites; run every shard with the same test paths"
                )
            if mine.content_hash != theirs.content_hash:
                raise _differs(
                    f"suite {path} has content hash",
                    file,
                    mine.content_hash[:12],
                    first,
                    theirs.content_hash[:12],
                    "the shards ran different versions of the suite",
                )
            if mine.selected != theirs.selected:
                raise _differs(f"suite {path}: selected cases", file, mine.selected, first, theirs.selected, "the shards selected different cases")
        for what, mine_settings, theirs_settings in (
            ("score-changing settings", h.score_settings, h0.score_settings),
            ("verdict and report settings", h.finish_settings, h0.finish_settings),
            ("selection", h.selection, h0.selection),
        ):
            if dict(mine_settings) != dict(theirs_settings):
                keys = sorted(k for k in set(mine_settings) | set(theirs_settings) if mine_settings.get(k) != theirs_settings.get(k))
                raise _differs(
                    f"{what} {', '.join(keys)} =",
                    file,
                    {k: mine_settings.get(k) for k in keys},
                    first,
                    {k: theirs_settings.get(k) for k in keys},
                    "every shard must run the same command apart from --taskbench-shard and --taskbench-results",
                )
    _check_shards(files)
    seen: dict[str, tuple[ResultsFile, int]] = {}
    results: list[CaseResult] = []
    for file in files:
        for result in file.results:
            other = seen.get(result.nodeid)
            if other is not None:
                raise ResultsFileError(
                    f"{file.path}:{file.lines[result.nodeid]}: case {result.nodeid} is also in {other[0].path}:{other[1]}: the shards overlap"
                )
            seen[result.nodeid] = (file, file.lines[result.nodeid])
            results.append(result)
    results.sort(key=lambda r: (r.suite, r.path, r.line, r.nodeid))  # collection order, whatever order the files came in
    return MergedRun(tuple(files), tuple(results))


def _check_shards(files: Sequence[ResultsFile]) -> None:
    unsharded = [f for f in files if f.header.shard is None]
    if unsharded and len(files) > 1:
        raise ResultsFileError(f"{unsharded[0].path}: not a shard (run without --taskbench-shard): a whole run's results file can only be merged alone")
    if unsharded:
        return
    count = files[0].header.shard.count  # type: ignore[union-attr]
    by_index: dict[int, ResultsFile] = {}
    for file in files:
        shard = file.header.shard
        assert shard is not None
        if shard.count != count:
            raise ResultsFileError(f"{file.path}: shard {shard}, but {files[0].path} is shard {files[0].header.shard}: the shards split the run differently")
        if shard.index in by_index:
            raise ResultsFileError(f"{file.path}: shard {shard} is also {by_index[shard.index].path}: a shard given twice")
        by_index[shard.index] = file
    missing = [index for index in range(1, count + 1) if index not in by_index]
    if missing:
        given = ", ".join(f"{index}/{count} ({by_index[index].path})" for index in sorted(by_index))
        raise ResultsFileError(f"shard {', '.join(f'{index}/{count}' for index in missing)} missing: given {given}; pass every shard's results file")


def read_and_combine(paths: Iterable[Path]) -> MergedRun:
    """Read each file and combine them (raises ResultsFileError)."""
    return combine([read_results_file(path) for path in paths])
