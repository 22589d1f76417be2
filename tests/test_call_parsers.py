"""Reading tool calls from a model's text: the hermes, json and auto parsers, custom parsers, and what never raises."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_taskbench import ToolCall, call_parser, parse_calls
from pytest_taskbench.call_parsers import CallParserError, calls_text, resolve_parser


def names_and_arguments(text: str, parser: str = "auto") -> list[tuple[str, dict[str, Any]]]:
    return [(call.name, dict(call.arguments)) for call in parse_calls(text, parser).calls]


def test_hermes_reads_each_tool_call_block_in_order() -> None:
    text = ' <tool_call>{"name": "a", "arguments": {"x": 1}}</tool_call>\n<tool_call>{"name": "b", "arguments": {}}</tool_call>'
    assert names_and_arguments(text, "hermes") == [("a", {"x": 1}), ("b", {})]
    assert parse_calls(text, "hermes").calls[0].raw == '{"name": "a", "arguments": {"x": 1}}'


def test_a_broken_or_cut_off_call_is_a_problem_not_an_error() -> None:
    parsed = parse_calls('<tool_call>{"name": "a", "arguments": {</tool_call><tool_call>{"name": "b"', "hermes")
    assert parsed.calls == ()
    assert len(parsed.problems) == 2
    assert "not valid JSON" in parsed.problems[0] and "without its closing" in parsed.problems[1]


def test_json_reads_a_call_a_list_or_openai_tool_calls_and_ignores_other_json() -> None:
    assert names_and_arguments('{"name": "a", "arguments": {"x": 1}}', "json") == [("a", {"x": 1})]
    assert names_and_arguments('Calling: [{"name": "a", "parameters": {}}, {"name": "b", "arguments": "{\\"y\\": 2}"}] now', "json") == [
        ("a", {}),
        ("b", {"y": 2}),
    ]
    openai = {"tool_calls": [{"id": "1", "type": "function", "function": {"name": "c", "arguments": '{"z": true}'}}]}
    assert names_and_arguments(json.dumps(openai), "json") == [("c", {"z": True})]
    assert names_and_arguments('{"action": "create", "title": "Milk"}', "json") == []


def test_auto_reads_hermes_blocks_when_there_are_any_else_json() -> None:
    assert names_and_arguments('<tool_call>{"name": "a", "arguments": {}}</tool_call> {"name": "ignored"}') == [("a", {})]
    assert names_and_arguments('{"name": "b", "arguments": {}}') == [("b", {})]


@pytest.mark.parametrize("text", ["", "Sure! I added it.", "<tool_call>", "{" * 5000, "[" * 300 + "]" * 300, '{"name": 5}', '{"name": "a", "arguments": [1]}'])
def test_text_without_a_readable_call_gives_no_call(text: str) -> None:
    for parser in ("auto", "hermes", "json"):
        assert parse_calls(text, parser).calls == ()


def test_a_custom_parser_by_name_or_dotted_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_parsers.py").write_text(
        "def pythonic(text):\n    name, _, rest = text.partition('(')\n    return [{'name': name.strip(), 'arguments': {}}]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert names_and_arguments("create_task()", "my_parsers:pythonic") == [("create_task", {})]

    @call_parser("test-upper")
    def upper(text: str) -> list[ToolCall]:
        return [ToolCall(text.upper())]

    assert names_and_arguments("go", "test-upper") == [("GO", {})]
    with pytest.raises(CallParserError, match="registered twice"):
        call_parser("test-upper")(lambda text: [])
    with pytest.raises(CallParserError, match="unknown tool-call parser 'nope'; known: auto, hermes, json"):
        resolve_parser("nope")
    sys.modules.pop("my_parsers", None)


def test_a_parser_that_raises_or_returns_junk_gives_a_problem() -> None:
    def broken(text: str) -> Any:
        raise RuntimeError("boom")

    assert parse_calls("x", broken).problems == ("the tool-call parser raised RuntimeError: boom",)
    assert parse_calls("x", lambda text: 5).problems == ("the tool-call parser returned int, not a list of calls",)
    assert parse_calls("x", lambda text: [{"arguments": {}}]).problems[0].startswith("a call without a function name")


argument_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=100, deadline=None)
@given(calls=st.lists(st.tuples(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), st.dictionaries(st.text(max_size=6), argument_values, max_size=3)), max_size=3))
def test_structured_calls_written_as_text_read_back_the_same(calls: list[tuple[str, dict[str, Any]]]) -> None:
    """What the HTTP backend writes for a server's tool_calls, every built-in parser reads back unchanged."""
    as_json_text = [(name, json.dumps(arguments)) for name, arguments in calls]
    for written in (calls_text(list(calls)), calls_text(as_json_text)):  # type: ignore[arg-type]
        for parser in ("auto", "hermes", "json"):
            assert names_and_arguments(written, parser) == calls
