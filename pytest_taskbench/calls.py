"""Tool calls as data: the functions a model may call, the calls it made, and the calls a case expects.

- ``Tool``: one function of a suite's ``tools:`` list (an OpenAI function schema: name,
  description, JSON Schema ``parameters``), plus ``destructive`` (an extra call to it fails
  the case). ``read_tools`` checks a list of them, each ``parameters`` against the JSON Schema
  draft 2020-12 metaschema, and names the entry that is wrong.
- ``ToolCall``: a call a model made: the function's name, its arguments as a JSON object,
  and the text it was read from (``raw``). ``call_parsers.py`` reads them from text.
- ``ExpectedCall``: a call a case expects. An argument may accept several values, written
  ``{"any_of": [v1, v2]}`` (``null`` among them: the argument may be left out); any other
  value, a list or an object included, is the one value expected.

Nothing here imports pytest or another layer above the data.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema.exceptions import SchemaError
from jsonschema.validators import Draft202012Validator

from pytest_taskbench.guards import validation
from pytest_taskbench.guards.files import FileProblem, compose_yaml, parse_json, read_text, value_problem

ANY_OF = "any_of"
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.\-]{1,64}")  # OpenAI's rule for function names (plus '.'), used with fullmatch
TOOL_KEYS = ("type", "function", "name", "description", "parameters", "destructive", "strict")
FUNCTION_KEYS = ("name", "description", "parameters", "destructive", "strict")
EXPECTED_CALL_KEYS = ("name", "arguments")


@dataclass(frozen=True)
class Tool:
    """One function a model may call.

    Attributes:
        name: the function's name.
        parameters: a JSON Schema (draft 2020-12) for its arguments object.
        description: what it does, for the model.
        destructive: an extra call to it makes a case fail, whatever else matched.
    """

    name: str
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    description: str = ""
    destructive: bool = False

    @property
    def declared(self) -> tuple[str, ...]:
        """The argument names its schema declares (``parameters.properties``)."""
        properties = self.parameters.get("properties")
        return tuple(properties) if isinstance(properties, Mapping) else ()

    @property
    def closed(self) -> bool:
        """Whether arguments beyond the declared ones are refused (no ``additionalProperties``/``patternProperties`` opening it)."""
        return self.parameters.get("additionalProperties", False) is False and "patternProperties" not in self.parameters

    @property
    def required(self) -> tuple[str, ...]:
        required = self.parameters.get("required")
        return tuple(name for name in required if isinstance(name, str)) if isinstance(required, list) else ()

    def as_openai(self) -> dict[str, Any]:
        """The tool as an OpenAI ``tools`` entry (what backends send; ``destructive`` is ours and stays here)."""
        function: dict[str, Any] = {"name": self.name}
        if self.description:
            function["description"] = self.description
        function["parameters"] = json.loads(json.dumps(self.parameters))
        return {"type": "function", "function": function}


@dataclass(frozen=True)
class ToolCall:
    """A call a model made: a function name, its arguments, and the text it came from."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    raw: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": dict(self.arguments)}


@dataclass(frozen=True)
class AnyOf:
    """The values an expected argument accepts; ``None`` among them lets the argument be left out."""

    values: tuple[Any, ...]

    def as_json(self) -> dict[str, Any]:
        return {ANY_OF: list(self.values)}


@dataclass(frozen=True)
class ExpectedCall:
    """A call a case expects; an argument's value is the one expected value or an ``AnyOf``."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)

    def acceptable(self, argument: str) -> tuple[Any, ...]:
        """The values ``argument`` may take (``(None,)`` when the call does not name it: it must be left out)."""
        if argument not in self.arguments:
            return (None,)
        value = self.arguments[argument]
        return value.values if isinstance(value, AnyOf) else (value,)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": {key: value.as_json() if isinstance(value, AnyOf) else value for key, value in self.arguments.items()}}


def calls_json(calls: Sequence[ToolCall | ExpectedCall]) -> list[dict[str, Any]]:
    """Calls as plain JSON (for properties, logs and reports)."""
    return [call.as_json() for call in calls]


# the suite's tool list ------------------------------------------------------------------------------


class ToolProblem(validation.Invalid):
    """A tool list entry that is not a valid function schema; ``index`` is the entry (0-based), None for the list itself."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


def read_tools(value: Any, name: str = "tools") -> tuple[Tool, ...]:
    """Check a tool list (OpenAI ``[{"type": "function", "function": {...}}]`` or flat ``[{"name": ..., "parameters": ...}]``).

    Raises:
        ToolProblem: naming the entry (its ``index``), the function and what is wrong, e.g. a
            ``parameters`` that is not valid JSON Schema (with the path of the bad part).
    """
    if not isinstance(value, list) or not value:
        raise ToolProblem(f"{name} must be a non-empty list of function schemas, got {_shown(value)}")
    tools: list[Tool] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(value):
        try:
            tool = _tool(entry, f"{name}[{index}]")
        except validation.Invalid as exc:
            raise ToolProblem(str(exc), index) from None
        if tool.name in seen:
            raise ToolProblem(f"{name}[{index}]: function {tool.name!r} is listed twice (first as {name}[{seen[tool.name]}])", index)
        seen[tool.name] = index
        tools.append(tool)
    return tuple(tools)


def located_tools(value: Any, shown: str, lines: Sequence[int] = (), name: str = "tools") -> tuple[Tool, ...]:
    """``read_tools`` with a problem raised as a ``FileProblem`` at its entry's line (``lines[index]``; 1 when unknown)."""
    try:
        return read_tools(value, name)
    except ToolProblem as exc:
        line = lines[exc.index] if exc.index is not None and exc.index < len(lines) else (lines[0] - 1 if lines and lines[0] > 1 else 1)
        raise FileProblem(shown, line, str(exc)) from None


def load_tools_file(path: Path, shown: str) -> tuple[Tool, ...]:
    """A tool list from a JSON or YAML file (a list of function schemas, or an object with a ``tools`` list).

    Raises:
        FileProblem: the file cannot be read, or an entry is not a valid function schema (at the entry's line).
    """
    text = read_text(path, shown)
    if path.suffix.lower() == ".json":
        value = parse_json(text, shown)
        key = "tools" if isinstance(value, dict) and set(value) == {"tools"} else None
        items = value["tools"] if key else value
        lines = _json_item_lines(text, key) if isinstance(items, list) else []
    else:
        document = compose_yaml(text, shown)
        value, node = document.value, document.node
        key = "tools" if isinstance(value, dict) and set(value) == {"tools"} else None
        if key and isinstance(node, yaml.MappingNode):
            node = node.value[0][1]
        items = value["tools"] if key else value
        lines = [document.lines.of(item.start_mark) for item in node.value] if isinstance(node, yaml.SequenceNode) else []
    problem = value_problem(items)
    if problem is not None:
        raise FileProblem(shown, 1, f"the tool list {problem}")
    return located_tools(items, shown, lines)


def _json_item_lines(text: str, key: str | None) -> list[int]:
    """The line each element of the file's top-level array (or of its ``key`` array) starts at."""
    decoder = json.JSONDecoder()
    index = text.index("[") if key is None else text.index("[", text.index(json.dumps(key)))
    index += 1
    lines: list[int] = []
    while True:
        while index < len(text) and (text[index].isspace() or text[index] == ","):
            index += 1
        if index >= len(text) or text[index] == "]":
            return lines
        lines.append(text.count("\n", 0, index) + 1)
        _, index = decoder.raw_decode(text, index)


def _tool(entry: Any, where: str) -> Tool:
    entry = validation.mapping(where, entry, what='a function schema {"type": "function", "function": {"name": ..., "parameters": ...}}')
    validation.only_keys(where, entry, TOOL_KEYS)
    if "function" in entry:
        if entry.get("type", "function") != "function":
            raise validation.Invalid(f"{where}: type must be 'function', got {_shown(entry.get('type'))}")
        clash = sorted(set(entry) & {"name", "description", "parameters"})
        if clash:
            raise validation.Invalid(f"{where}: give {', '.join(clash)} inside 'function', not beside it")
        function = validation.mapping(f"{where}.function", entry["function"])
        validation.only_keys(f"{where}.function", function, FUNCTION_KEYS)
        destructive = entry.get("destructive", function.get("destructive", False))
    else:
        function, destructive = entry, entry.get("destructive", False)
    tool_name = validation.text(f"{where}: name", function.get("name"))
    if not NAME_PATTERN.fullmatch(tool_name):
        raise validation.Invalid(f"{where}: function name {tool_name!r} may hold only letters, digits, '_', '-' and '.', at most 64 of them")
    here = f"{where} ({tool_name})"
    parameters = function.get("parameters", {"type": "object", "properties": {}})
    _check_parameters(here, parameters)
    return Tool(
        name=tool_name,
        parameters=parameters,
        description=validation.text(f"{here}: description", function.get("description", ""), empty=True),
        destructive=validation.flag(f"{here}: destructive", destructive),
    )


def _check_parameters(where: str, parameters: Any) -> None:
    if not isinstance(parameters, dict):
        raise validation.Invalid(f"{where}: parameters must be a JSON Schema object, got {_shown(parameters)}")
    try:
        Draft202012Validator.check_schema(parameters)
    except SchemaError as exc:
        raise validation.Invalid(f"{where}: parameters is not valid JSON Schema (draft 2020-12): at {exc.json_path}: {exc.message}") from None
    except Exception as exc:  # noqa: BLE001 - a hostile schema (a bad regex, deep nesting) must be one clear error too
        raise validation.Invalid(f"{where}: parameters cannot be checked as JSON Schema: {type(exc).__name__}: {exc}") from None
    if parameters.get("type") != "object":
        raise validation.Invalid(f'{where}: parameters must describe an object ("type": "object"), got type {_shown(parameters.get("type"))}')
    properties = parameters.get("properties", {})
    if not isinstance(properties, dict):
        raise validation.Invalid(f"{where}: parameters.properties must map argument names to schemas")
    undeclared = [name for name in parameters.get("required", []) if name not in properties]
    if undeclared:
        raise validation.Invalid(f"{where}: parameters.required names {', '.join(map(repr, undeclared))}, which parameters.properties does not declare")


def narrowed(tools: Sequence[Tool], names: Sequence[str], where: str) -> tuple[Tool, ...]:
    """The tools ``names`` picks out of ``tools``, in the order of ``names``; Invalid for a name that is not there."""
    by_name = {tool.name: tool for tool in tools}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise validation.Invalid(f"{where} names {', '.join(map(repr, unknown))}, not in the suite's tools ({', '.join(by_name)})")
    return tuple(by_name[name] for name in dict.fromkeys(names))


# a case's expected calls ------------------------------------------------------------------------------


def read_expected_calls(value: Any, tools: Sequence[Tool], where: str) -> tuple[ExpectedCall, ...]:
    """Check a case's ``expected_calls`` against the tools it may call.

    Raises:
        validation.Invalid: a call that is not ``{name, arguments}``, a function not in the
            tools, an argument the function does not declare, an ``any_of`` that is not a
            non-empty list, or a value the argument's schema refuses.
    """
    if not isinstance(value, list):
        raise validation.Invalid(f"{where} must be a list of {{name, arguments}} (an empty list: no call is expected), got {_shown(value)}")
    by_name = {tool.name: tool for tool in tools}
    calls = []
    for position, item in enumerate(value, start=1):
        here = f"{where}[{position}]"
        item = validation.mapping(here, item, what="a call {name, arguments}")
        validation.only_keys(here, item, EXPECTED_CALL_KEYS)
        name = validation.text(f"{here}: name", item.get("name"))
        tool = by_name.get(name)
        if tool is None:
            offered = ", ".join(by_name) or "none"
            raise validation.Invalid(f"{here}: function {name!r} is not in the case's tools ({offered})")
        arguments = validation.mapping(f"{here} ({name}): arguments", item.get("arguments", {}), what="an object of argument values")
        calls.append(ExpectedCall(name, {str(key): _expected_value(tool, str(key), argument, f"{here} ({name})") for key, argument in arguments.items()}))
    return tuple(calls)


def plain(value: Any) -> Any:
    """A value read from YAML as the JSON a model would write: dates and times as ISO text (``2026-03-05``, not a date object)."""
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def _expected_value(tool: Tool, argument: str, value: Any, where: str) -> Any:
    value = plain(value)
    if argument not in tool.declared and tool.closed:
        raise validation.Invalid(f"{where}: argument {argument!r} is not declared by {tool.name} (it declares {', '.join(tool.declared) or 'none'})")
    is_any_of = isinstance(value, dict) and set(value) == {ANY_OF}
    alternatives = value[ANY_OF] if is_any_of else [value]
    if is_any_of and (not isinstance(alternatives, list) or not alternatives):
        raise validation.Invalid(f"{where}: argument {argument!r}: any_of must be a non-empty list of accepted values, got {_shown(alternatives)}")
    for alternative in alternatives:
        problem = None if alternative is None else argument_problem(tool, argument, alternative)
        if problem is not None:
            raise validation.Invalid(f"{where}: argument {argument!r}: expected value {_shown(alternative)} breaks {tool.name}'s schema: {problem}")
    return AnyOf(tuple(alternatives)) if is_any_of else value


def argument_problem(tool: Tool, argument: str, value: Any) -> str | None:
    """Why ``value`` is not a valid ``argument`` of ``tool`` on its own (None when it is, or when nothing declares it)."""
    properties = tool.parameters.get("properties")
    if not isinstance(properties, Mapping) or argument not in properties:
        return None
    schema = {key: item for key, item in tool.parameters.items() if key in ("$defs", "definitions", "$schema", "$id")}
    schema.update({"type": "object", "properties": {argument: properties[argument]}})
    try:
        errors = list(Draft202012Validator(schema).iter_errors({argument: value}))
    except Exception as exc:  # noqa: BLE001 - a schema that cannot be applied: say so instead of raising
        return f"cannot check it: {type(exc).__name__}: {exc}"
    return errors[0].message if errors else None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
