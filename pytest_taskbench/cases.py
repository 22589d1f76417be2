"""Benchmark cases: the Case value and loading JSONL / YAML / JSON case files.

Loading never stops at the first problem: every case that can be read is
returned, and every problem becomes a ``CaseError`` naming its file and line,
so one bad line costs one case, not the run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pytest_taskbench.calls import ExpectedCall, Tool, calls_json, narrowed, read_expected_calls
from pytest_taskbench.discovery import CASE_FILE_SUFFIXES
from pytest_taskbench.guards import validation
from pytest_taskbench.guards.files import FileProblem, compose_yaml, decode, parse_json, raw_lines, read_bytes, read_text, value_problem
from pytest_taskbench.results import Policy, parse_policy
from pytest_taskbench.turns import CONVERSATION_KEYS, Conversation, TurnInvalid, is_conversation, read_conversation, turn_lines

DIFFICULTIES: tuple[str, ...] = ("simple", "moderate", "complex", "adversarial")
CHAT_ROLES = frozenset({"system", "user", "assistant"})
CASE_KEYS = frozenset(
    {
        "id",
        "input",
        "messages",
        "expected",
        "category",
        "difficulty",
        "scorer",
        "tags",
        "rationale",
        "critical",
        "metadata",
        "tools",
        "expected_calls",
        "calls_ordered",
        "human_label",
        "human_score",
        "repeats",
        "policy",
    }
    | CONVERSATION_KEYS
)
MAX_REPEATS = 1000
CASE_ID_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")  # used with fullmatch: "$" would let a trailing newline in

ScorerSpec = str | Mapping[str, Any]
ToolsByCategory = Mapping[str, tuple[Tool, ...]]  # the tools each category's cases may call (the suite's ``tools:``, narrowed)


class CaseError(FileProblem):
    """A problem with one case (or a whole case file), located by file and line.

    ``case_id`` is the broken case's own id when it has a usable one, so its pytest item
    can carry that name (``-k typo``, ``--lf``) instead of its line.
    """

    def __init__(self, path: str | Path, line: int, message: str, case_id: str | None = None) -> None:
        super().__init__(path, line, message)
        self.case_id = case_id


@dataclass(frozen=True)
class Case:
    """One benchmark case: a request, what the model should answer, and how to judge it."""

    id: str
    category: str
    difficulty: str
    expected: Any
    input: str | None = None
    messages: tuple[Mapping[str, str], ...] | None = None
    scorer: ScorerSpec | None = None
    tags: tuple[str, ...] = ()
    rationale: str = ""
    critical: bool = False
    metadata: Mapping[str, Any] = field(default_factory=dict)
    path: str = ""
    line: int = 0
    tools: tuple[Tool, ...] = ()  # the functions the model is offered for this case (the suite's tools:, narrowed)
    expected_calls: tuple[ExpectedCall, ...] | None = None  # None: the case expects no tool calls at all (not a tool-call case)
    calls_ordered: bool = False  # the expected calls must come in this order
    human_label: str | None = None  # a person's verdict on the output, on the judge's scale ("pass", "4", "better")
    human_score: float | None = None  # or a person's score in [0, 1], mapped onto the judge's scale
    repeats: int | None = None  # samples to draw for this case (None: its category's or the suite's)
    policy: Policy | None = None
    conversation: Conversation | None = None  # a conversation case's turns and world (turns.py); None: a single-turn case

    @property
    def request_text(self) -> str:
        """The user's request: ``input``, the last user message of ``messages``, or a conversation's first turn."""
        if self.conversation is not None:
            return self.conversation.turns[0].user
        if self.input is not None:
            return self.input
        for message in reversed(self.messages or ()):
            if message.get("role") == "user":
                return message.get("content", "")
        return ""

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class CaseFileContents:
    """Everything read from one case file: the good cases and located errors."""

    path: str
    cases: list[Case] = field(default_factory=list)
    errors: list[CaseError] = field(default_factory=list)


@dataclass(frozen=True)
class RawCase:
    line: int
    data: Any
    turn_lines: tuple[int, ...] = ()  # a YAML conversation case: the line of each of its turns


def load_case_file(
    path: str | Path,
    *,
    categories: Sequence[str] | None = None,
    difficulties: Sequence[str] = DIFFICULTIES,
    display_path: str | None = None,
    tools: ToolsByCategory | None = None,
) -> CaseFileContents:
    """Read a JSONL, YAML or JSON case file.

    Never raises for what the file holds: every problem becomes a ``CaseError``
    at its line (a bad JSON line costs that line; an unreadable YAML or JSON
    document costs the file), and every case that can be read is returned.

    Args:
        path: the case file.
        categories: the suite's categories; a case naming another is an error.
            The file's stem is the default category when it names one of them.
        difficulties: the allowed difficulty levels.
        display_path: how errors name the file (defaults to ``path``).
        tools: the tools each category may call (None: the suite has no ``tools:``, and a
            case that names tools or expected calls is an error).

    Returns:
        The valid cases in file order and one ``CaseError`` per problem.
    """
    file_path = Path(path)
    shown = display_path or str(path)
    contents = CaseFileContents(path=shown)
    try:
        defaults, raw_cases, parse_errors = _parse(file_path, shown)
    except FileProblem as exc:
        contents.errors.append(CaseError(shown, exc.line, exc.message))
        return contents
    contents.errors.extend(parse_errors)

    inferred: dict[str, Any] = {}
    if categories and file_path.stem in categories:
        inferred["category"] = file_path.stem
    base = {**inferred, **defaults}

    first_line_of: dict[str, int] = {}
    for raw in raw_cases:
        try:
            case = _build_case(raw, base, shown, categories, difficulties, tools)
        except CaseError as exc:
            contents.errors.append(exc)
            continue
        if case.id in first_line_of:
            contents.errors.append(
                CaseError(
                    shown,
                    raw.line,
                    f"duplicate case id {case.id!r}: already defined at {shown}:{first_line_of[case.id]}",
                )
            )
            continue
        first_line_of[case.id] = raw.line
        contents.cases.append(case)
    return contents


Parsed = tuple[dict[str, Any], list[RawCase], list[CaseError]]


def _parse(path: Path, shown: str) -> Parsed:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _parse_jsonl(read_bytes(path, shown), shown)
    if suffix in (".yaml", ".yml"):
        return _parse_yaml(read_text(path, shown), shown)
    if suffix == ".json":
        return _parse_json(read_text(path, shown), shown)
    raise FileProblem(shown, 1, f"unknown case file type {suffix!r}; use one of {', '.join(CASE_FILE_SUFFIXES)}")


def _parse_jsonl(raw: bytes, shown: str) -> Parsed:
    """Each line on its own: a line that is not UTF-8 or not JSON costs that line only."""
    defaults: dict[str, Any] = {}
    raw_cases: list[RawCase] = []
    errors: list[CaseError] = []
    for number, line_bytes in raw_lines(raw):
        try:
            line = decode(line_bytes, shown, number)
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            data = parse_json(stripped, shown, number)
        except FileProblem as exc:
            errors.append(CaseError(shown, exc.line, exc.message))
            continue
        if isinstance(data, dict) and set(data) == {"defaults"}:
            if raw_cases:
                errors.append(CaseError(shown, number, "a defaults line must come before the first case"))
            elif not isinstance(data["defaults"], dict):
                errors.append(CaseError(shown, number, "defaults must be an object"))
            else:
                defaults = dict(data["defaults"])
            continue
        raw_cases.append(RawCase(number, data))
    return defaults, raw_cases, errors


def _parse_yaml(text: str, shown: str) -> Parsed:
    document = compose_yaml(text, shown)
    data, node, line_of = document.value, document.node, document.lines.of
    if node is None:
        return {}, [], []
    if isinstance(data, list):
        assert isinstance(node, yaml.SequenceNode)
        defaults, items, item_nodes = {}, data, node.value
    elif isinstance(data, dict) and "cases" in data:
        _check_document_keys(data, shown, line_of(node.start_mark))
        cases_node = next(value for key, value in node.value if key.value == "cases")
        if not isinstance(data["cases"], list):
            raise FileProblem(shown, line_of(cases_node.start_mark), "'cases' must be a list of cases")
        defaults, items, item_nodes = _defaults_of(data, shown), data["cases"], cases_node.value
    else:
        raise FileProblem(shown, line_of(node.start_mark), "a YAML case file holds a list of cases or a mapping with 'cases:' (and optional 'defaults:')")
    return defaults, [RawCase(line_of(item_node.start_mark), item, turn_lines(item_node, line_of)) for item, item_node in zip(items, item_nodes)], []


def _check_document_keys(data: dict[str, Any], shown: str, line: int) -> None:
    unknown = set(data) - {"defaults", "cases"}
    if unknown:
        raise FileProblem(shown, line, f"unknown top-level keys {sorted(map(str, unknown))}; a case document has 'defaults' and 'cases'")


def _defaults_of(data: dict[str, Any], shown: str) -> dict[str, Any]:
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise FileProblem(shown, 1, "'defaults' must be a mapping")
    return dict(defaults)


def _parse_json(text: str, shown: str) -> Parsed:
    data = parse_json(text, shown)
    if isinstance(data, list):
        return {}, _json_array_items(text, text.index("["), data), []
    if isinstance(data, dict) and "cases" in data:
        _check_document_keys(data, shown, 1)
        if not isinstance(data["cases"], list):
            raise FileProblem(shown, 1, "'cases' must be an array of cases")
        start = _json_value_offset(text, "cases")
        return _defaults_of(data, shown), _json_array_items(text, start, data["cases"]), []
    raise FileProblem(shown, 1, "a JSON case file holds an array of cases or an object with 'cases' (and optional 'defaults')")


def _json_value_offset(text: str, key: str) -> int:
    """Offset of the value of a top-level key, found by decoding the object's members in turn."""
    decoder = json.JSONDecoder()
    index = text.index("{") + 1
    while True:
        index = _skip(text, index, ",")
        name, index = decoder.raw_decode(text, index)
        index = _skip(text, index, ":")
        if name == key:
            return index
        _, index = decoder.raw_decode(text, index)


def _json_array_items(text: str, start: int, values: list[Any]) -> list[RawCase]:
    decoder = json.JSONDecoder()
    index = start + 1
    items: list[RawCase] = []
    for value in values:
        index = _skip(text, index, ",")
        items.append(RawCase(text.count("\n", 0, index) + 1, value))
        _, index = decoder.raw_decode(text, index)
    return items


def _skip(text: str, index: int, separators: str) -> int:
    while index < len(text) and (text[index].isspace() or text[index] in separators):
        index += 1
    return index


def _build_case(
    raw: RawCase,
    base: Mapping[str, Any],
    shown: str,
    categories: Sequence[str] | None,
    difficulties: Sequence[str],
    tools: ToolsByCategory | None = None,
) -> Case:
    try:
        return _case(raw, base, shown, categories, difficulties, tools)
    except validation.Invalid as exc:  # a problem inside one turn: that turn's own line where the file has one (YAML)
        line = raw.turn_lines[exc.turn - 1] if isinstance(exc, TurnInvalid) and exc.turn <= len(raw.turn_lines) else raw.line
        raise CaseError(shown, line, str(exc), case_id=_usable_id(raw.data)) from None


def _usable_id(data: Any) -> str | None:
    case_id = data.get("id") if isinstance(data, dict) else None
    return case_id if isinstance(case_id, str) and CASE_ID_PATTERN.fullmatch(case_id) else None


def _case(
    raw: RawCase, base: Mapping[str, Any], shown: str, categories: Sequence[str] | None, difficulties: Sequence[str], tools: ToolsByCategory | None
) -> Case:
    if not isinstance(raw.data, dict):
        raise validation.Invalid(f"a case must be an object/mapping, got {type(raw.data).__name__}")
    data = {**base, **raw.data}
    problem = value_problem(data)
    if problem is not None:
        raise validation.Invalid(f"case {str(data.get('id'))[:40]!r} {problem}" if isinstance(data.get("id"), (str, int)) else f"the case {problem}")
    validation.only_keys("", data, CASE_KEYS, noun="case field")

    case_id = data.get("id")
    if isinstance(case_id, int) and not isinstance(case_id, bool):
        case_id = str(case_id)
    if not isinstance(case_id, str) or not case_id:
        raise validation.Invalid("missing 'id' (a non-empty string, unique in the file)")
    if not CASE_ID_PATTERN.fullmatch(case_id):
        raise validation.Invalid(f"case id {case_id!r} may hold only letters, digits, '_', '.' and '-'")
    name = f"case {case_id!r}"

    if is_conversation(data):
        return _conversation_case(name, case_id, data, raw, shown, categories, difficulties, tools)
    validation.only_keys("", data, CASE_KEYS - CONVERSATION_KEYS, noun="case field (a conversation case has 'turns')")
    has_input, has_messages = "input" in data, "messages" in data
    if has_input == has_messages:
        raise validation.Invalid(f"{name} needs exactly one of 'input' (a string) or 'messages' (a chat list)")
    text_input = validation.text(f"{name}: input", data["input"], empty=True) if has_input else None
    messages = _messages(name, data["messages"]) if has_messages else None
    if "expected" not in data and "expected_calls" not in data:
        raise validation.Invalid(f"{name}: missing 'expected' (the answer the model should give) or 'expected_calls' (the calls it should make)")
    category = _category(name, data, categories)
    case_tools, expected_calls = _tool_calls(name, data, tools.get(category, ()) if tools is not None else None)
    return Case(
        id=case_id,
        category=category,
        difficulty=validation.choice(f"{name}: difficulty", data.get("difficulty"), difficulties),
        expected=data["expected"] if "expected" in data else calls_json(expected_calls or ()),
        input=text_input,
        messages=messages,
        scorer=None if data.get("scorer") is None else scorer_spec(f"{name}: scorer", data["scorer"]),
        tags=validation.texts(f"{name}: tags", data.get("tags", ())),
        rationale=validation.text(f"{name}: rationale", data.get("rationale", ""), empty=True),
        critical=validation.flag(f"{name}: critical", data.get("critical", False)),
        metadata=validation.mapping(f"{name}: metadata", data.get("metadata", {})),
        path=shown,
        line=raw.line,
        tools=case_tools,
        expected_calls=expected_calls,
        calls_ordered=validation.flag(f"{name}: calls_ordered", data.get("calls_ordered", False)),
        human_label=_human_label(name, data.get("human_label")),
        human_score=None if data.get("human_score") is None else validation.unit(f"{name}: human_score", data["human_score"]),
        repeats=None if data.get("repeats") is None else validation.whole(f"{name}: repeats", data["repeats"], minimum=1, maximum=MAX_REPEATS),
        policy=None if data.get("policy") is None else parse_policy(f"{name}: policy", data["policy"]),
    )


def _conversation_case(
    name: str,
    case_id: str,
    data: Mapping[str, Any],
    raw: RawCase,
    shown: str,
    categories: Sequence[str] | None,
    difficulties: Sequence[str],
    tools: ToolsByCategory | None,
) -> Case:
    """A case with ``turns``: its conversation is read by ``turns.py``; ``expected`` is its expected state (None: not scored)."""
    category = _category(name, data, categories)
    for key in ("expected", "expected_calls", "calls_ordered", "tools"):
        if key in data:
            raise validation.Invalid(f"{name}: '{key}' belongs to a turn in a conversation case (or use expected_state for the final state)")
    conversation = read_conversation(name, data, tools.get(category, ()) if tools is not None else None)
    return Case(
        id=case_id,
        category=category,
        difficulty=validation.choice(f"{name}: difficulty", data.get("difficulty"), difficulties),
        expected=conversation.expected_state,
        scorer=None if data.get("scorer") is None else scorer_spec(f"{name}: scorer", data["scorer"]),
        tags=validation.texts(f"{name}: tags", data.get("tags", ())),
        rationale=validation.text(f"{name}: rationale", data.get("rationale", ""), empty=True),
        critical=validation.flag(f"{name}: critical", data.get("critical", False)),
        metadata=validation.mapping(f"{name}: metadata", data.get("metadata", {})),
        path=shown,
        line=raw.line,
        tools=tools.get(category, ()) if tools is not None else (),
        conversation=conversation,
    )


def _category(name: str, data: Mapping[str, Any], categories: Sequence[str] | None) -> str:
    if not isinstance(data.get("category"), str) or not data["category"]:
        raise validation.Invalid(f"{name}: missing 'category'")
    category: str = data["category"]
    if categories is not None and category not in categories:
        raise validation.Invalid(f"{name}: unknown category {category!r}; the suite defines {', '.join(categories)}")
    return category


def _tool_calls(name: str, data: Mapping[str, Any], category_tools: tuple[Tool, ...] | None) -> tuple[tuple[Tool, ...], tuple[ExpectedCall, ...] | None]:
    """The case's tools (its category's, narrowed by its own ``tools:``) and its expected calls, checked against them."""
    if category_tools is None:
        named = [key for key in ("tools", "expected_calls", "calls_ordered") if key in data]
        if named:
            raise validation.Invalid(f"{name}: {', '.join(named)} needs the suite to declare 'tools:' in taskbench.yaml")
        return (), None
    case_tools = category_tools
    if "tools" in data:
        names = validation.texts(f"{name}: tools", data["tools"], empty=False)
        case_tools = narrowed(category_tools, names, f"{name}: tools")
    if "expected_calls" not in data:
        return case_tools, None
    return case_tools, read_expected_calls(data["expected_calls"], case_tools, f"{name}: expected_calls")


def _human_label(name: str, value: Any) -> str | None:
    """A person's verdict: a word ("pass", "better") or a point on a scale (4, read as "4")."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, bool):  # YAML's yes/no and true/false
        return "pass" if value else "fail"
    return validation.text(f"{name}: human_label", value).strip()


def scorer_spec(name: str, value: Any) -> ScorerSpec:
    """A scorer name, or a mapping with a string ``name`` and its parameters (a case's or a category's ``scorer:``)."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("name"), str) and value["name"]:
        return value
    raise validation.Invalid(f"{name} must be a scorer name or a mapping with 'name' and its parameters, got {value!r}")


def _messages(name: str, value: Any) -> tuple[Mapping[str, str], ...]:
    if not isinstance(value, list) or not value:
        raise validation.Invalid(f"{name}: 'messages' must be a non-empty list of {{role, content}}")
    messages = []
    for position, message in enumerate(value, start=1):
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise validation.Invalid(f"{name}: message {position} must have exactly 'role' and 'content'")
        role = validation.choice(f"{name}: message {position}: role", message["role"], sorted(CHAT_ROLES))
        messages.append({"role": role, "content": validation.text(f"{name}: message {position}: content", message["content"], empty=True)})
    return tuple(messages)
