"""Reading a model's tool calls from its text: the parser registry and the built-in parsers.

A *call parser* takes the text a model wrote and returns the calls in it
(``ParsedCalls``: the calls, and a problem per piece of text that looked like a
call but could not be read). Which one reads a model's text is the option
``--taskbench-tool-parser`` (ini ``taskbench_tool_parser``):

=============  ==========================================================================
``auto``       ``hermes`` when the text holds a ``<tool_call>`` tag, else ``json`` (default)
``hermes``     each ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` block, the
               format of Hermes, Qwen and the shipped tiny model; servers' structured
               ``tool_calls`` are written into the output in this form too
``json``       the JSON values in the text: a call object, a list of them, or
               ``{"tool_calls": [...]}`` (OpenAI's message shape)
``pkg.mod:fn`` your own function ``fn(text) -> list`` of ``ToolCall`` or ``{"name", "arguments"}``
               (or a ``ParsedCalls``)
=============  ==========================================================================

A call object is ``{"name": ..., "arguments": {...}}``; ``parameters`` is read as
``arguments``, OpenAI's ``{"function": {"name": ..., "arguments": "<JSON text>"}}``
is read too, and arguments given as JSON text are decoded. Register a parser with
``@call_parser("name")`` (in a ``conftest.py``) or the entry-point group
``pytest_taskbench.call_parsers``. Parsing never raises: text with no call in it
gives no calls (the scorer counts that as "no call"), and a parser that raises
gives its error as a problem.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, TypeVar

from pytest_taskbench import defaults
from pytest_taskbench.calls import ToolCall

ENTRY_POINT_GROUP = "pytest_taskbench.call_parsers"
DEFAULT_PARSER = defaults.TOOL_PARSER
MAX_JSON_STARTS = 200  # '{' and '[' tried as the start of a JSON value: bounds the work on hostile text
_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.DOTALL)


@dataclass(frozen=True)
class ParsedCalls:
    """The calls read from one text, and why any piece that looked like a call could not be read."""

    calls: tuple[ToolCall, ...] = ()
    problems: tuple[str, ...] = ()


CallParser = Callable[[str], Any]  # text -> ParsedCalls, or a list of ToolCall / {"name", "arguments"}
F = TypeVar("F", bound=CallParser)


class CallParserError(ValueError):
    """An unknown parser name, or one registered twice."""


_PARSERS: dict[str, tuple[CallParser, str]] = {}
_loaded_entry_points = False


def call_parser(name: str) -> Callable[[F], F]:
    """Register a function ``(text) -> list of calls`` as the tool-call parser ``name``.

    Example::

        from pytest_taskbench import ToolCall, call_parser

        @call_parser("pythonic")
        def pythonic(text):
            # [create_task(title="Milk")] -> ToolCall("create_task", {"title": "Milk"})
            ...

    Raises:
        CallParserError: another function is registered under ``name`` already.
    """

    def register(function: F) -> F:
        _register(name, function)
        return function

    return register


def _register(name: str, function: CallParser) -> None:
    where = f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"
    earlier = _PARSERS.get(name)
    if earlier is not None and earlier[1] != where:
        raise CallParserError(f"tool-call parser {name!r} is registered twice: by {earlier[1]} and by {where}; rename one of them")
    _PARSERS[name] = (function, where)


def _load_entry_points() -> None:
    global _loaded_entry_points
    if not _loaded_entry_points:
        _loaded_entry_points = True
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            _register(entry_point.name, entry_point.load())


def registered_parsers() -> list[str]:
    _load_entry_points()
    return sorted(_PARSERS)


def resolve_parser(spec: str) -> CallParser:
    """The parser a name or ``package.module:function`` names.

    Raises:
        CallParserError: unknown name, or a dotted path that does not import.
    """
    _load_entry_points()
    if spec in _PARSERS:
        return _PARSERS[spec][0]
    if ":" in spec:
        module_name, _, attribute = spec.partition(":")
        try:
            function = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise CallParserError(f"cannot import tool-call parser {spec!r}: {exc}") from None
        if not callable(function):
            raise CallParserError(f"tool-call parser {spec!r} is not callable")
        return function  # type: ignore[no-any-return]
    raise CallParserError(f"unknown tool-call parser {spec!r}; known: {', '.join(registered_parsers())} (or give package.module:function)")


def parse_calls(text: str | None, parser: str | CallParser = DEFAULT_PARSER) -> ParsedCalls:
    """The calls in ``text`` read by ``parser`` (a name, ``package.module:function`` or a function). Never raises."""
    if not text:
        return ParsedCalls()
    try:
        function = resolve_parser(parser) if isinstance(parser, str) else parser
        return as_parsed(function(text))
    except Exception as exc:  # noqa: BLE001 - a parser's bug must fail one case, not the run
        return ParsedCalls((), (f"the tool-call parser raised {type(exc).__name__}: {exc}",))


def as_parsed(value: Any) -> ParsedCalls:
    """What a parser returned as ``ParsedCalls``: ToolCalls and call objects are kept, anything else is a problem."""
    if isinstance(value, ParsedCalls):
        return value
    if not isinstance(value, (list, tuple)):
        return ParsedCalls((), (f"the tool-call parser returned {type(value).__name__}, not a list of calls",))
    calls: list[ToolCall] = []
    problems: list[str] = []
    for item in value:
        call = item if isinstance(item, ToolCall) else call_from_json(item, json.dumps(item, ensure_ascii=False, default=str))
        (calls if isinstance(call, ToolCall) else problems).append(call)  # type: ignore[arg-type]
    return ParsedCalls(tuple(calls), tuple(problems))


def call_from_json(value: Any, raw: str = "") -> ToolCall | str:
    """A call object read as a ToolCall, or a problem saying why it is not one."""
    if not isinstance(value, Mapping):
        return f"not a call object: {_short(raw)}"
    if isinstance(value.get("function"), Mapping):  # OpenAI: {"type": "function", "function": {"name", "arguments"}}
        value = value["function"]
    name = value.get("name")
    if not isinstance(name, str) or not name:
        return f"a call without a function name: {_short(raw)}"
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except (ValueError, RecursionError):
            return f"{name}: arguments are not valid JSON: {_short(arguments)}"
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, Mapping):
        return f"{name}: arguments are not an object: {_short(raw)}"
    return ToolCall(name, dict(arguments), raw)


def _short(text: str, limit: int = 120) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _decode(text: str) -> tuple[Any, str | None]:
    try:
        return json.loads(text), None
    except (ValueError, RecursionError) as exc:
        return None, str(exc)


def _json_values(text: str) -> Iterator[tuple[Any, str]]:
    """Each JSON object or array in ``text`` (scanning left to right, past each one found), with its text."""
    decoder = json.JSONDecoder()
    index, tries = 0, 0
    while tries < MAX_JSON_STARTS:
        starts = [position for position in (text.find("{", index), text.find("[", index)) if position != -1]
        if not starts:
            return
        start = min(starts)
        tries += 1
        try:
            value, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            index = start + 1
            continue
        yield value, text[start:end]
        index = end


def _calls_in(value: Any, raw: str) -> list[ToolCall | str] | None:
    """The calls a JSON value holds, or None when it holds none (ordinary JSON is not a call)."""
    if isinstance(value, Mapping) and isinstance(value.get("tool_calls"), list):
        return [call_from_json(item, json.dumps(item, ensure_ascii=False)) for item in value["tool_calls"]]
    if isinstance(value, Mapping) and ("name" in value or isinstance(value.get("function"), Mapping)):
        return [call_from_json(value, raw)]
    if isinstance(value, list) and value and all(isinstance(item, Mapping) and ("name" in item or "function" in item) for item in value):
        return [call_from_json(item, json.dumps(item, ensure_ascii=False)) for item in value]
    return None


def _collect(found: list[ToolCall | str]) -> ParsedCalls:
    return ParsedCalls(tuple(c for c in found if isinstance(c, ToolCall)), tuple(c for c in found if isinstance(c, str)))


@call_parser("json")
def json_calls(text: str) -> ParsedCalls:
    """Calls written as JSON: the whole text, else each JSON value in it, in order."""
    whole, _ = _decode(text.strip())
    values = [(whole, text.strip())] if whole is not None else list(_json_values(text))
    found: list[ToolCall | str] = []
    for value, raw in values:
        found.extend(_calls_in(value, raw) or [])
    return _collect(found)


@call_parser("hermes")
def hermes_calls(text: str) -> ParsedCalls:
    """Calls in ``<tool_call>...</tool_call>`` blocks, one JSON call object (or a list of them) each."""
    found: list[ToolCall | str] = []
    for match in _TOOL_CALL.finditer(text):
        body = match.group(1).strip()
        if not match.group(0).endswith("</tool_call>"):
            found.append(f"a <tool_call> without its closing </tool_call> (cut off?): {_short(body)}")
            continue
        value, error = _decode(body)
        if error is not None:
            found.append(f"a <tool_call> that is not valid JSON ({error}): {_short(body)}")
            continue
        found.extend(_calls_in(value, body) or [f"a <tool_call> that holds no call object: {_short(body)}"])
    return _collect(found)


@call_parser("auto")
def auto_calls(text: str) -> ParsedCalls:
    """``hermes`` when the text holds ``<tool_call>``, else ``json``."""
    return hermes_calls(text) if "<tool_call>" in text else json_calls(text)


def calls_text(calls: list[tuple[str, Any]]) -> str:
    """Structured calls (a server's ``tool_calls``: name and arguments, the latter an object or JSON text) as ``<tool_call>`` blocks.

    Arguments that are JSON text are kept as the server wrote them when they parse, so nothing is lost.
    """
    blocks = []
    for name, arguments in calls:
        if isinstance(arguments, str):
            parsed, error = _decode(arguments) if arguments.strip() else ({}, None)
            arguments = parsed if error is None else arguments
        blocks.append("<tool_call>" + json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False) + "</tool_call>")
    return "".join(blocks)
