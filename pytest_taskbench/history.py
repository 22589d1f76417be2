"""Run history (``--taskbench-history=DIR``): one JSON line per suite per run in ``DIR/history.jsonl``.

Records are only ever appended, one ``write`` of one line each (``O_APPEND``), so two
runs finishing at once never interleave their lines on a local file system. Reading
skips a line that is not a record (cut short, edited by hand, from a newer version)
with a warning naming its line, never failing: a history is a convenience, never
part of the verdict.

A record holds the time, the git commit and branch (when the run was in a
repository), the model's identity and spec, the suite's file, name and content
hash, the aggregate with its interval, each category's mean with its interval, the
pass rate, the verdict, the comparison with a baseline when there was one (the
paired test's verdict for the aggregate and each category: what the trend chart
marks), for a merged run the shards it came from and, for a run that drew several
samples per case (``repeats``), how many and the overall pass@k, pass^k and number
of flaky cases: a mean over 4 samples and a single output differ in noise, so the
trend says which runs drew samples.

Domain code: no pytest import.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from pytest_taskbench.guards import validation
from pytest_taskbench.guards.files import json_text

FORMAT = "pytest-taskbench-history"
VERSION = 1
FILE_NAME = "history.jsonl"


@dataclass(frozen=True)
class Figure:
    """A mean with its interval (None where too few cases gave one)."""

    mean: float
    low: float | None = None
    high: float | None = None
    cases: int = 0


@dataclass(frozen=True)
class HistoryRecord:
    """One suite's figures from one run."""

    time: str
    suite: str  # the suite file, as results name it
    suite_name: str
    suite_hash: str
    model: str  # the model's identity (as a baseline records it)
    model_spec: str  # what --taskbench-model said
    cases: int
    passed: int
    pass_rate: float
    verdict: str  # "pass" or "fail"
    aggregate: Figure | None
    categories: Mapping[str, Figure] = field(default_factory=dict)
    level: float | None = None  # the intervals' confidence level
    commit: str = ""
    branch: str = ""
    comparison: Mapping[str, Any] | None = None  # {"baseline", "aggregate": verdict, "change", "p_value", "categories": {name: verdict}}
    shards: int | None = None  # a merged run: how many shards
    repeats: int = 1  # the most samples a case drew (1: one output per case)
    sampling: Mapping[str, float] | None = None  # with repeats: {"pass@1": .., "pass@K": .., "pass^K": .., "flaky": n} overall
    subset: bool = False
    taskbench_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HistoryRecord:
        """Raises ``validation.Invalid`` for anything that is not a record this version reads."""
        if data.get("format") != FORMAT:
            raise validation.Invalid(f'not a history record (no "format": "{FORMAT}")')
        version = validation.whole("version", data.get("version"), minimum=1)
        if version > VERSION:
            raise validation.Invalid(f"record format version {version} is newer than this pytest-taskbench reads ({VERSION})")
        known = {item.name for item in fields(cls)}
        values = {name: value for name, value in data.items() if name in known}
        for name in ("time", "suite", "suite_name", "model", "verdict"):
            validation.text(name, values.get(name), empty=name != "time")
        for name in ("cases", "passed"):
            validation.whole(name, values.get(name), minimum=0)
        validation.unit("pass_rate", values.get("pass_rate"))
        values["aggregate"] = None if values.get("aggregate") is None else _figure("aggregate", values["aggregate"])
        categories = validation.mapping("categories", values.get("categories", {}))
        values["categories"] = {str(name): _figure(f"categories.{name}", figure) for name, figure in categories.items()}
        if values.get("comparison") is not None:
            validation.mapping("comparison", values["comparison"])
        validation.whole("repeats", values.get("repeats", 1), minimum=1)
        if values.get("sampling") is not None:
            sampling = validation.mapping("sampling", values["sampling"])
            values["sampling"] = {str(name): validation.number(f"sampling.{name}", figure, minimum=0) for name, figure in sampling.items()}
        return cls(**values)


def _figure(name: str, data: Any) -> Figure:
    data = validation.mapping(name, data)
    low, high = data.get("low"), data.get("high")
    return Figure(
        validation.number(f"{name}.mean", data.get("mean")),
        None if low is None else validation.number(f"{name}.low", low),
        None if high is None else validation.number(f"{name}.high", high),
        validation.whole(f"{name}.cases", data.get("cases", 0), minimum=0),
    )


def history_file(directory: Path) -> Path:
    return directory / FILE_NAME


def append_records(directory: Path, records: Iterable[HistoryRecord]) -> int:
    """Append each record as one line (one ``write`` each, so concurrent runs do not interleave); returns how many."""
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    fd = os.open(history_file(directory), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for record in records:
            os.write(fd, (json_text(record.to_dict(), sort_keys=True) + "\n").encode("utf-8"))
            count += 1
    finally:
        os.close(fd)
    return count


@dataclass(frozen=True)
class History:
    records: tuple[HistoryRecord, ...]
    warnings: tuple[str, ...] = ()


def read_history(directory: Path, shown: str | None = None) -> History:
    """Every readable record, oldest first; a line that is not one is skipped with a warning naming it."""
    path = history_file(directory)
    where = shown or str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return History(())
    except OSError as exc:
        return History((), (f"{where}: cannot read the history: {exc.strerror or exc}",))
    records: list[HistoryRecord] = []
    warnings: list[str] = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line.decode("utf-8"))
            records.append(HistoryRecord.from_dict(validation.mapping("the line", data, what="a JSON object")))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            warnings.append(f"{where}:{number}: skipped a line that is not JSON ({getattr(exc, 'msg', exc)})")
        except (validation.Invalid, TypeError) as exc:
            warnings.append(f"{where}:{number}: skipped a line that is not a history record ({exc})")
    records.sort(key=lambda record: record.time)  # stable: records of one time keep their order in the file
    return History(tuple(records), tuple(warnings))


def select(records: Sequence[HistoryRecord], *, suite: str | None = None, model: str | None = None, last: int | None = None) -> list[HistoryRecord]:
    """The records of a suite (its file or name) and a model (a substring of its identity or spec), the last ``last`` of them."""
    chosen = [r for r in records if (suite is None or suite in (r.suite, r.suite_name)) and (model is None or model in r.model or model in r.model_spec)]
    return chosen[-last:] if last else chosen


def git_state(directory: Path, environ: Mapping[str, str] = os.environ) -> tuple[str, str]:
    """(commit, branch) of the repository holding ``directory``; empty strings outside one or without git.

    On GitHub Actions a pull request's checkout is a detached merge commit, so the branch
    comes from ``GITHUB_HEAD_REF`` (the pull request's branch) or ``GITHUB_REF_NAME``.
    """

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=directory, capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    if not commit:
        return environ.get("GITHUB_SHA", ""), environ.get("GITHUB_HEAD_REF") or environ.get("GITHUB_REF_NAME", "")
    branch = git("rev-parse", "--abbrev-ref", "HEAD")
    if branch in ("", "HEAD"):
        branch = environ.get("GITHUB_HEAD_REF") or environ.get("GITHUB_REF_NAME", "")
    return commit, branch
