"""Unit tests for case loading: every format, defaults, line numbers and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_taskbench.cases import Case, load_case_file

CATEGORIES = ["action", "edge"]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_jsonl_defaults_and_stem_category(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "action.jsonl",
        '# a comment\n{"defaults": {"difficulty": "simple", "tags": ["t"]}}\n\n{"id": "a1", "input": "hi", "expected": {"action": "list"}}\n'
        '{"id": "a2", "input": "x", "expected": 1, "category": "edge", "difficulty": "complex", "critical": true}\n',
    )
    contents = load_case_file(path, categories=CATEGORIES)
    assert contents.errors == []
    first, second = contents.cases
    assert (first.id, first.category, first.difficulty, first.tags, first.line) == ("a1", "action", "simple", ("t",), 4)
    assert first.expected == {"action": "list"}
    assert (second.category, second.difficulty, second.critical, second.line) == ("edge", "complex", True, 5)


def test_yaml_document_with_defaults_and_messages(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "misc.yaml",
        "defaults:\n  category: edge\n  difficulty: adversarial\ncases:\n  - id: m1\n    messages:\n      - {role: system, content: be brief}\n      - {role: user, content: done with it}\n    expected: {action: complete}\n    rationale: context\n  - id: m2\n    input: ''\n    expected: {action: clarify}\n",
    )
    contents = load_case_file(path, categories=CATEGORIES)
    assert contents.errors == []
    m1, m2 = contents.cases
    assert m1.messages == ({"role": "system", "content": "be brief"}, {"role": "user", "content": "done with it"})
    assert m1.request_text == "done with it" and m1.rationale == "context" and m1.line == 5
    assert m2.input == "" and m2.line == 11


def test_json_array_and_object_forms_give_line_numbers(tmp_path: Path) -> None:
    rows = [{"id": f"j{i}", "input": "x", "expected": i, "category": "edge", "difficulty": "simple"} for i in range(3)]
    array = write(tmp_path, "a.json", json.dumps(rows, indent=2))
    contents = load_case_file(array, categories=CATEGORIES)
    assert [c.id for c in contents.cases] == ["j0", "j1", "j2"]
    assert [c.line for c in contents.cases] == [2, 9, 16]
    document = write(
        tmp_path,
        "b.json",
        json.dumps({"defaults": {"difficulty": "moderate"}, "cases": [{"id": "k", "input": "y", "expected": None, "category": "edge"}]}, indent=1),
    )
    (case,) = load_case_file(document, categories=CATEGORIES).cases
    assert (case.difficulty, case.expected, case.line) == ("moderate", None, 6)  # the line of its opening brace


def test_every_bad_line_is_reported_and_good_lines_kept(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "action.jsonl",
        '{"id": "ok", "input": "a", "expected": 1, "difficulty": "simple"}\n[1, 2]\n{"id": "ok", "input": "b", "expected": 2, "difficulty": "simple"}\n{"defaults": {"difficulty": "simple"}}\n',
    )
    contents = load_case_file(path, categories=CATEGORIES, display_path="cases/action.jsonl")
    assert [c.id for c in contents.cases] == ["ok"]
    assert [str(e) for e in contents.errors] == [
        "cases/action.jsonl:4: a defaults line must come before the first case",
        "cases/action.jsonl:2: a case must be an object/mapping, got list",
        "cases/action.jsonl:3: duplicate case id 'ok': already defined at cases/action.jsonl:1",
    ]


def test_unreadable_and_unknown_files_are_errors(tmp_path: Path) -> None:
    binary = tmp_path / "bad.jsonl"
    binary.write_bytes(b"\xff\xfe\x00")
    assert str(load_case_file(binary).errors[0]).endswith("bad.jsonl:1: not valid UTF-8: byte 0xff at column 1; save the file as UTF-8")
    assert "cannot read the file" in str(load_case_file(tmp_path / "missing.jsonl").errors[0])
    assert "invalid YAML" in str(load_case_file(write(tmp_path, "x.yaml", "a: [1\n")).errors[0])
    assert "a YAML case file holds a list of cases" in str(load_case_file(write(tmp_path, "y.yaml", "just: a mapping\n")).errors[0])


@pytest.mark.slow
@given(st.lists(st.text(max_size=30), min_size=1, max_size=8, unique=True))
def test_any_inputs_round_trip_through_jsonl(inputs: list[str]) -> None:
    import tempfile

    rows = [{"id": f"c{i}", "input": text, "expected": text, "category": "edge", "difficulty": "simple"} for i, text in enumerate(inputs)]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "cases.jsonl"
        path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
        contents = load_case_file(path, categories=CATEGORIES)
    assert contents.errors == []
    assert [c.input for c in contents.cases] == inputs
    assert all(isinstance(c, Case) for c in contents.cases)
