"""Writing case files: a whole file, generated cases merged into one, and one new case checked and appended.

``merge_generated`` regenerates the cases tagged ``generated`` in a case file
without touching the hand-written cases beside them; ``check_new_case`` and
``append_case`` serve the ``taskbench add-case`` command.

Domain code: no pytest import.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_taskbench.cases import CaseFileContents, load_case_file
from pytest_taskbench.guards.files import split_lines
from pytest_taskbench.suite import SuiteError, find_suite_file, load_suite

GENERATED_TAG = "generated"


class CasegenError(Exception):
    """A generator spec, template set or case that cannot be used; the message says why."""


CASE_KEY_ORDER = ("id", "input", "messages", "expected", "category", "difficulty", "scorer", "critical", "tags", "rationale", "metadata")


def ordered(case: Mapping[str, Any]) -> dict[str, Any]:
    return {key: case[key] for key in CASE_KEY_ORDER if key in case}


def case_line(case: Mapping[str, Any], *, file_stem: str | None = None) -> str:
    """One JSONL line; ``category`` is left out when the file's stem already names it."""
    fields = ordered(case)
    if file_stem is not None and fields.get("category") == file_stem:
        del fields["category"]
    return json.dumps(fields, ensure_ascii=False)


def write_case_file(path: str | Path, cases: Sequence[Mapping[str, Any]], *, defaults: Mapping[str, Any] | None = None) -> None:
    """Write cases as an ordinary JSONL case file (replacing it)."""
    target = Path(path)
    lines = [json.dumps({"defaults": dict(defaults)}, ensure_ascii=False)] if defaults else []
    lines.extend(case_line(case, file_stem=target.stem) for case in cases)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def merge_generated(path: str | Path, cases: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """Replace the generated cases of a JSONL file, keeping every other line as it is.

    Returns (generated cases written, lines kept). The new generated cases come
    first, after a defaults line if there is one.
    """
    target = Path(path)
    kept: list[str] = []
    header: list[str] = []
    if target.exists():
        for line in split_lines(target.read_text(encoding="utf-8")):
            data = _json_or_none(line)
            if isinstance(data, dict) and set(data) == {"defaults"} and not kept:
                header.append(line)
            elif not (isinstance(data, dict) and GENERATED_TAG in (data.get("tags") or [])):
                kept.append(line)
    fresh = [case_line(case, file_stem=target.stem) for case in cases]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(line + "\n" for line in header + fresh + kept), encoding="utf-8")
    return len(fresh), len([line for line in kept if line.strip()])


def _json_or_none(line: str) -> Any:
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return None


def check_new_case(path: str | Path, case: Mapping[str, Any]) -> list[str]:
    """Every reason ``case`` cannot be appended to ``path`` (empty when it can).

    Applies the loader's rules, and when the file sits below a ``taskbench.yaml``
    the suite's categories and output schema; refuses an id already in the file
    and an input already asked by any case of the suite.
    """
    target = Path(path)
    if target.suffix != ".jsonl":
        return [f"{target}: cases can only be appended to a .jsonl file (add this one by hand, or to a .jsonl file beside it)"]
    suite = None
    suite_file = find_suite_file(target.resolve().parent)
    if suite_file is not None:
        try:
            suite = load_suite(suite_file)
        except SuiteError as exc:
            return [f"cannot read the suite this file belongs to: {exc}"]
    # The suite's own reader applies its categories and difficulties; outside a suite, the loader's defaults.
    read: Callable[..., CaseFileContents] = suite.load_cases if suite is not None else load_case_file

    header = _defaults_line(target)
    with tempfile.TemporaryDirectory() as scratch:
        probe = Path(scratch) / (target.name if target.suffix == ".jsonl" else target.stem + ".jsonl")
        probe.write_text("".join(line + "\n" for line in [*header, json.dumps(dict(case), ensure_ascii=False)]), encoding="utf-8")
        loaded = read(probe, display_path=str(target))
    problems = [f"{target}: {error.message}" for error in loaded.errors]

    if suite is not None and suite.schema is not None and "expected" in case:
        from jsonschema import Draft202012Validator

        schema_name = suite.schema_path.name if suite.schema_path else "the suite schema"
        for error in Draft202012Validator(suite.schema).iter_errors(case["expected"]):
            where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
            problems.append(f"{target}: 'expected' does not follow {schema_name}: {error.message} (at {where})")

    existing = read(target, display_path=_shown(target)).cases if target.exists() else []
    problems.extend(
        f"{target}: duplicate case id {other.id!r}: already defined at {target}:{other.line}; choose another id"
        for other in existing
        if other.id == case.get("id")
    )
    new_input = case.get("input")
    if isinstance(new_input, str):
        files = suite.case_files() if suite is not None else ([target] if target.exists() else [])
        for file in files:
            cases = existing if file.resolve() == target.resolve() else read(file, display_path=_shown(file)).cases  # read each file once
            problems.extend(
                f"{target}: duplicate input: case {other.id!r} at {other.location} already asks exactly this" for other in cases if other.input == new_input
            )
    return problems


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it, as the user would type it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _defaults_line(target: Path) -> list[str]:
    if target.suffix != ".jsonl" or not target.exists():
        return []
    for line in split_lines(target.read_text(encoding="utf-8")):
        if not line.strip() or line.strip().startswith("#"):
            continue
        data = _json_or_none(line)
        return [line] if isinstance(data, dict) and set(data) == {"defaults"} else []
    return []


def append_case(path: str | Path, case: Mapping[str, Any]) -> None:
    """Append one case as a JSONL line (call ``check_new_case`` first)."""
    target = Path(path)
    if target.suffix != ".jsonl":
        raise CasegenError(f"{target}: cases can only be appended to a .jsonl file")
    existing = target.read_text(encoding="utf-8") if target.exists() else ""
    separator = "" if not existing or existing.endswith("\n") else "\n"
    with target.open("a", encoding="utf-8") as handle:
        handle.write(separator + case_line(case, file_stem=target.stem) + "\n")
