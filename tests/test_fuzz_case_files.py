"""Fuzzing the case loader with mutations of the shipped suite's own case lines.

Whatever the bytes, reading a case file never raises, never takes long, reports every problem at a
line the file has, and keeps every case it did not break. The default run is quick; a longer,
nightly-style run sets more examples::

    TASKBENCH_FUZZ_EXAMPLES=20000 python -m pytest tests/test_fuzz_case_files.py -p no:cacheprovider
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_taskbench.cases import load_case_file

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "cases").glob("*.jsonl"))
CATEGORIES = [path.stem for path in SHIPPED]
# every 7th shipped case, with the category its file name gives it written out, so it stands alone in any file
SHIPPED_LINES = [
    json.dumps({**json.loads(line), "category": path.stem})
    for path in SHIPPED
    for line in path.read_text(encoding="utf-8").splitlines()
    if line.startswith('{"id"')
][::7]
EXAMPLES = int(os.environ.get("TASKBENCH_FUZZ_EXAMPLES", "150"))
SECONDS_PER_FILE = 5.0  # far above what any file takes; the old loader hung or crashed on some of these
FUZZ = settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture], deadline=None)

NASTY_BYTES = [
    b"\x00",
    b"\xff",
    b"\xef\xbb\xbf",
    b"\r",
    b"\n",
    b"\r\n",
    b"\x1c",
    b"\x0b",
    "\u2028".encode(),
    "\u0085".encode(),
    b"\\ud800",
    b'"',
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\t",
    b"#",
]
YAML_SPECIALS = [
    "&a ",
    "*a",
    "!!binary ",
    "!!python/object:os.system ",
    "? ",
    "<<: *a",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "\t",
    "\x1c",
    "{",
    "[",
    "|\n",
    ">\n",
    "~",
    "yes",
    "2026-02-30",
    "9" * 4400,
    ".inf",
]


def shipped_cases() -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(st.sampled_from(SHIPPED_LINES), min_size=1, max_size=6, unique=True).map(lambda lines: [json.loads(line) for line in lines])


@st.composite
def mutated_value(draw: st.DrawFn, value: Any) -> Any:
    """A case field with its type or shape changed the ways that once broke the loader."""
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return None
    if choice == 1:
        return draw(st.one_of(st.integers(), st.floats(allow_nan=True), st.booleans()))
    if choice == 2:
        depth = draw(st.integers(90, 1200))
        return json.loads("[" * depth + "]" * depth)
    if choice == 3:
        return draw(st.text(max_size=20))
    if choice == 4:
        return [value] * draw(st.integers(0, 3))
    if choice == 5:
        return {"name": value}
    return value


@st.composite
def mutated_case(draw: st.DrawFn, case: dict[str, Any]) -> dict[str, Any]:
    mutated = dict(case)
    for key in draw(st.lists(st.sampled_from(sorted(case) + ["scorer", "tags", "messages", "metadata", "colour"]), max_size=3)):
        if draw(st.booleans()):
            mutated[key] = draw(mutated_value(case.get(key)))
        else:
            mutated.pop(key, None)
    return mutated


def mutate_bytes(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    for position, kind, piece in edits:
        at = position % (len(data) + 1)
        if kind == 0:
            data = data[:at] + piece + data[at:]
        elif kind == 1:
            data = data[:at] + data[at + 1 :]
        elif kind == 2:
            data = data[:at]
        else:
            data = data[:at] + piece + data[at + len(piece) :]
    return data


byte_edits = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 3), st.sampled_from(NASTY_BYTES) | st.binary(min_size=1, max_size=4)), max_size=4)


def load(tmp_path: Path, name: str, data: bytes) -> tuple[Any, float]:
    path = tmp_path / name
    path.write_bytes(data)
    started = time.perf_counter()
    contents = load_case_file(path, categories=CATEGORIES)
    return contents, time.perf_counter() - started


def check_located(contents: Any, data: bytes) -> None:
    lines = max(1, data.count(b"\n") + 1)
    for error in contents.errors:
        assert 1 <= error.line <= lines, str(error)
        assert error.message and "Traceback" not in error.message
    for case in contents.cases:
        assert 1 <= case.line <= lines


@pytest.mark.slow  # a fuzzer: hundreds of mutated files, about a second
@FUZZ
@given(cases=shipped_cases(), edits=st.lists(st.tuples(st.integers(0, 5), byte_edits), max_size=3), mutations=st.data())
def test_jsonl_mutations_cost_only_the_lines_they_touch(
    tmp_path_factory: pytest.TempPathFactory, cases: list[dict[str, Any]], edits: list[tuple[int, list[tuple[int, int, bytes]]]], mutations: st.DataObject
) -> None:
    rows = [mutations.draw(mutated_case(case)) if mutations.draw(st.booleans()) else case for case in cases]
    lines = [json.dumps(row, ensure_ascii=mutations.draw(st.booleans())).encode() for row in rows]
    touched: set[int] = set()
    for index, line_edits in edits:
        index %= len(lines)
        lines[index] = mutate_bytes(lines[index], line_edits)
        touched.add(index)
    data = b"\n".join(lines) + b"\n"
    contents, seconds = load(tmp_path_factory.mktemp("fuzz"), "cases.jsonl", data)
    assert seconds < SECONDS_PER_FILE
    check_located(contents, data)
    kept_ids = [case.id for case in contents.cases]
    for index, (row, original) in enumerate(zip(rows, cases)):
        if index not in touched and row is original and b"\n" not in lines[index] and b"\r" not in lines[index] and kept_ids.count(row["id"]) <= 1:
            assert row["id"] in kept_ids, f"line {index + 1} was not touched but its case was lost"


@pytest.mark.slow  # a fuzzer: hundreds of mutated files, about a second
@FUZZ
@given(
    cases=shipped_cases(), edits=byte_edits, specials=st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(YAML_SPECIALS)), max_size=3), flow=st.booleans()
)
def test_yaml_mutations_never_raise_and_are_located(
    tmp_path_factory: pytest.TempPathFactory, cases: list[dict[str, Any]], edits: list[tuple[int, int, bytes]], specials: list[tuple[int, str]], flow: bool
) -> None:
    text = yaml.safe_dump({"cases": cases} if flow else cases, default_flow_style=flow, allow_unicode=True)
    for position, special in specials:
        at = position % (len(text) + 1)
        text = text[:at] + special + text[at:]
    data = mutate_bytes(text.encode(), edits)
    contents, seconds = load(tmp_path_factory.mktemp("fuzz"), "cases.yaml", data)
    assert seconds < SECONDS_PER_FILE
    check_located(contents, data)


@FUZZ
@given(cases=shipped_cases(), edits=byte_edits, wrap=st.booleans(), duplicate=st.booleans())
def test_json_document_mutations_never_raise_and_are_located(
    tmp_path_factory: pytest.TempPathFactory, cases: list[dict[str, Any]], edits: list[tuple[int, int, bytes]], wrap: bool, duplicate: bool
) -> None:
    text = json.dumps({"cases": cases}, indent=1) if wrap else json.dumps(cases, indent=1)
    if duplicate and wrap:
        text = text[:-1] + ', "cases": []}'
    data = mutate_bytes(text.encode(), edits)
    contents, seconds = load(tmp_path_factory.mktemp("fuzz"), "cases.json", data)
    assert seconds < SECONDS_PER_FILE
    check_located(contents, data)


@pytest.mark.slow  # a fuzzer: hundreds of mutated files, about a second
@settings(max_examples=max(5, EXAMPLES // 15), suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture], deadline=None)
@given(cases=shipped_cases(), edits=byte_edits, kind=st.sampled_from(["jsonl", "yaml", "json"]))
def test_a_fuzzed_file_beside_good_ones_fails_only_its_own_items(
    pytester: pytest.Pytester, write_suite: Callable[..., Path], cases: list[dict[str, Any]], edits: list[tuple[int, int, bytes]], kind: str
) -> None:
    """End to end: collection never errors, broken lines are failing items naming file:line, the good file's cases pass."""
    suite = "categories:\n" + "".join(f"  {name}: {{weight: 1, scorer: exact_match}}\n" for name in CATEGORIES)
    good = "".join(
        json.dumps({"id": f"g{i}", "input": f"g{i}", "expected": f"g{i}", "category": CATEGORIES[0], "difficulty": "simple"}) + "\n" for i in range(3)
    )
    text = {
        "jsonl": "".join(json.dumps(case) + "\n" for case in cases),
        "yaml": yaml.safe_dump(cases, allow_unicode=True),
        "json": json.dumps(cases, indent=1),
    }[kind]
    cases_dir = write_suite(suite, {"good.jsonl": good})
    for earlier in cases_dir.glob("fuzzed.*"):  # hypothesis reuses the pytester directory between examples
        earlier.unlink()
    (cases_dir / f"fuzzed.{kind}").write_bytes(mutate_bytes(text.encode(), edits))
    result = pytester.runpytest("cases", "--taskbench-model=model:respond", "-p", "no:cacheprovider", "-rf")
    output = result.stdout.str()
    assert "INTERNALERROR" not in output and "errors" not in result.parseoutcomes()
    assert "verdict: " in output
    assert result.parseoutcomes()["passed"] >= 3
    for failure in [line for line in output.splitlines() if line.startswith("broken case definition: ")]:
        assert failure.startswith(f"broken case definition: cases/fuzzed.{kind}:")
