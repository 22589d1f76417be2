"""Parsing model output as JSON, extraction from prose and code fences, and case values as plain JSON."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from pytest_taskbench.scoring.extract import MAX_DEPTH, ParsedOutput, jsonable, parse_output


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "empty output"),
        ("   \n", "empty output"),
        ("{'action': 'create'}", "Expecting property name enclosed in double quotes at line 1 column 2"),
        ('{"a": 1} and more', "Extra data at line 1 column 10"),
        ('{"p": NaN}', "NaN is not valid JSON"),
        ("[Infinity]", "Infinity is not valid JSON"),
        ('{"p": 1e999}', "number 1e999 is out of range"),
        ("9" * 5000, "Exceeds the limit (4300 digits) for integer string conversion: value has 5000 digits"),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), f"JSON nested deeper than {MAX_DEPTH} levels"),
        ("[" * 100_000, f"JSON nested deeper than {MAX_DEPTH} levels"),
    ],
)
def test_parse_errors_are_values_not_exceptions(text: str, error: str) -> None:
    assert parse_output(text) == ParsedOutput(error=error)


def test_whole_output_parses_without_extraction() -> None:
    assert parse_output(' {"a": [1, 2.5, null]}\n') == ParsedOutput({"a": [1, 2.5, None]})
    assert parse_output("[" * MAX_DEPTH + "]" * MAX_DEPTH).ok


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('Sure!\n```json\n{"action": "create"}\n```\nAnything else?', {"action": "create"}),
        ('```\n["a", "b"]\n```', ["a", "b"]),
        ('```text\nnot json\n```\n```json\n{"n": 2}\n```', {"n": 2}),
        ('Here is the task: {"action": "list", "filter": {"status": "open"}}. Done {"x": 1}', {"action": "list", "filter": {"status": "open"}}),
        ('I think {this} is it: {"n": 1}', {"n": 1}),
    ],
)
def test_extraction_finds_fenced_blocks_then_the_first_object(text: str, value: object) -> None:
    assert parse_output(text).ok is False
    assert parse_output(text, extract=True) == ParsedOutput(value, extracted=True)


def test_extraction_failure_keeps_the_whole_text_error() -> None:
    assert parse_output("no json here {oops}", extract=True) == ParsedOutput(
        error="Expecting value at line 1 column 1; no JSON in a code fence or the text either"
    )


def test_details_say_whether_extraction_was_needed() -> None:
    assert parse_output('{"a": 1}', extract=True).details() == {"extracted": False, "parse_error": None}
    assert parse_output('x {"a": 1}', extract=True).details() == {"extracted": True, "parse_error": None}


def test_jsonable_turns_yaml_values_into_plain_json() -> None:
    value = {
        1: dt.date(2026, 11, 26),
        "when": dt.datetime(2026, 11, 26, 15, 0),
        "tags": ("a", "b"),
        "set": {"y", "x"},
        "nan": float("nan"),
        "obj": object,
    }
    plain = jsonable(value)
    assert plain == {
        "1": "2026-11-26",
        "when": "2026-11-26T15:00:00",
        "tags": ["a", "b"],
        "set": ["x", "y"],
        "nan": "nan",
        "obj": "<class 'object'>",
    }
    json.dumps(plain, allow_nan=False)
