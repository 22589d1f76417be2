"""Reading the files users hand us (case, suite, baseline, task and outputs files) without being hurt by them.

Every reader here turns any problem into a ``FileProblem`` that names the file
and line; none lets a parser's own exception out. What they defend against:

- encodings: a UTF-8 byte-order mark is dropped; bytes that are not UTF-8 are
  reported at the line that holds them (JSON Lines: only that line is lost);
- lines: JSON Lines split on ``\\n`` only (``\\r\\n`` accepted), never on the
  other characters ``str.splitlines`` treats as line breaks (U+2028, U+0085,
  ``\\x1c`` ...), which are legal inside JSON strings;
- duplicate keys in a JSON object or YAML mapping: an error naming both lines,
  never the silent "last one wins" of ``json`` and PyYAML;
- YAML: control characters, mappings and lists nested past ``MAX_NESTING`` (the
  composer recurses), integers too long to read, impossible dates;
- values (``value_problem``): nesting past ``MAX_NESTING``, YAML aliases that
  expand past ``MAX_VALUES`` values (an "alias bomb") or refer to themselves,
  and lone surrogates, which are not text (``"\\ud800"`` in JSON) and break
  every writer downstream.

``json_text`` writes JSON that can always be encoded as UTF-8.

Domain code: no pytest import.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MAX_NESTING = 100  # levels of lists/objects in one value (scorers and reports walk values recursively)
MAX_VALUES = 100_000  # values one case (or suite file) may expand to, counting each YAML alias use
_YAML_DOCUMENT_NESTING = MAX_NESTING + 8  # the document wraps cases in a few levels of its own
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTAINERS = (dict, list, tuple, set, frozenset)


class FileProblem(Exception):
    """A problem located in a file: ``path:line: message``."""

    def __init__(self, path: str | Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = str(path)
        self.line = line
        self.message = message


# text -----------------------------------------------------------------------------------------


def read_bytes(path: Path, shown: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FileProblem(shown, 1, f"cannot read the file: {exc.strerror or exc}") from None


def decode(raw: bytes, shown: str, first_line: int = 1) -> str:
    """UTF-8 text without a byte-order mark; bytes that are not UTF-8 are reported at their line and column."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = first_line + raw.count(b"\n", 0, exc.start)
        column = len(raw[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        raise FileProblem(shown, line, f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at column {column}; save the file as UTF-8") from None


def read_text(path: Path, shown: str) -> str:
    return decode(read_bytes(path, shown), shown)


def split_lines(text: str) -> list[str]:
    """Lines split on ``\\n`` alone (a ``\\r`` before it is dropped): JSON strings may hold U+2028, ``\\x1c`` and the like."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def raw_lines(raw: bytes) -> Iterator[tuple[int, bytes]]:
    """``(line number, bytes)`` of a JSON Lines file, split on ``\\n`` alone, each line still to be decoded on its own."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        yield number, line[:-1] if line.endswith(b"\r") else line


def escape_surrogates(text: str) -> str:
    """``text`` with each lone surrogate written as its ``\\udXXX`` escape, so it can be encoded."""
    return _LONE_SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def text_only(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (keys too) written as its escape: for what
    scorers derive from outputs, where ``json.loads`` turns a ``"\\ud800"`` written by a model into one."""
    if isinstance(value, str):
        return escape_surrogates(value) if _LONE_SURROGATE.search(value) else value
    if isinstance(value, Mapping):
        return {text_only(key): text_only(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [text_only(item) for item in value]
    return value


def json_text(value: Any, **options: Any) -> str:
    """``json.dumps`` with non-ASCII kept readable and lone surrogates escaped (valid JSON that encodes as UTF-8)."""
    return escape_surrogates(json.dumps(value, ensure_ascii=False, **options))


# JSON ------------------------------------------------------------------------------------------


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def parse_json(text: str, shown: str, first_line: int = 1) -> Any:
    """Parse JSON strictly: a duplicate key, nesting Python cannot follow or an over-long number is a ``FileProblem``.

    Args:
        text: the JSON text (a whole file, or one line of a JSON Lines file).
        shown: how messages name the file.
        first_line: the line ``text`` starts at in the file.
    """
    try:
        return json.loads(text, object_pairs_hook=_unique_object)
    except _DuplicateKey as exc:
        found = duplicate_key_position(text)
        if found is None:  # cannot happen for text json accepted up to the duplicate; keep the message useful anyway
            raise FileProblem(shown, first_line, f"duplicate key {exc.key!r} in one object") from None
        key, first, second = found
        first_at, second_at = (first_line + text.count("\n", 0, offset) for offset in (first, second))
        if first_at == second_at:
            raise FileProblem(shown, second_at, f"duplicate key {key!r} in one object (columns {_column(text, first)} and {_column(text, second)})") from None
        raise FileProblem(shown, second_at, f"duplicate key {key!r}: already given at line {first_at} of the same object") from None
    except json.JSONDecodeError as exc:
        raise FileProblem(shown, first_line + exc.lineno - 1, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise FileProblem(shown, first_line, f"invalid JSON: nested too deeply to read (values may nest at most {MAX_NESTING} levels)") from None
    except ValueError as exc:  # an integer literal past Python's 4300-digit limit
        raise FileProblem(shown, first_line, f"invalid JSON: {str(exc).split(';')[0]}") from None


def _column(text: str, offset: int) -> int:
    return offset - text.rfind("\n", 0, offset)


def duplicate_key_position(text: str) -> tuple[str, int, int] | None:
    """The first key that repeats within one JSON object, with the offsets of both occurrences (None when none does)."""
    open_objects: list[dict[str, int] | None] = []  # per open container: key -> offset for objects, None for arrays
    expect_key = False
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        if char == '"':
            try:
                value, end = json.decoder.scanstring(text, index + 1)  # type: ignore[attr-defined]
            except ValueError:
                return None
            keys = open_objects[-1] if open_objects else None
            if expect_key and keys is not None:
                if value in keys:
                    return value, keys[value], index
                keys[value] = index
                expect_key = False
            index = end
            continue
        if char == "{":
            open_objects.append({})
            expect_key = True
        elif char == "[":
            open_objects.append(None)
        elif char in "]}":
            if open_objects:
                open_objects.pop()
        elif char == ",":
            expect_key = bool(open_objects) and open_objects[-1] is not None
        index += 1
    return None


# YAML ------------------------------------------------------------------------------------------


class LineIndex:
    """Line numbers of character offsets, counting ``\n`` only.

    YAML also breaks lines at ``\r``, NEL, U+2028 and U+2029, so PyYAML's own line numbers can
    disagree with the editor and with our JSON Lines reader; its marks' offsets do not.
    """

    def __init__(self, text: str) -> None:
        self._breaks = [index for index, char in enumerate(text) if char == "\n"]

    def line(self, offset: int) -> int:
        return bisect.bisect_left(self._breaks, offset) + 1

    def of(self, mark: Any) -> int:
        """The line of a PyYAML mark (1 when there is none)."""
        return self.line(mark.index) if mark is not None else 1


class StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys, deep nesting, over-long integers and impossible dates."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self.lines = LineIndex(stream)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > _YAML_DOCUMENT_NESTING:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_NESTING} levels", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # a merge (<<) may be overridden: that is what it is for
            key = self.construct_object(key_node, deep=True)
            try:
                earlier = seen.get(key)
            except TypeError:
                continue  # an unhashable key: SafeLoader reports it with its line
            if earlier is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}: already given at line {self.lines.of(earlier.start_mark)} of the same mapping", key_node.start_mark
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError, TypeError) as exc:  # an integer past 4300 digits, a date like 2026-02-30
            raise yaml.constructor.ConstructorError(None, None, f"cannot read {node.value!r}: {str(exc).split(';')[0]}", node.start_mark) from None


def yaml_problem(shown: str, exc: BaseException, text: str = "") -> FileProblem:
    """A YAML parser error (or a RecursionError) as a ``FileProblem`` at its line."""
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        character = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        return FileProblem(
            shown,
            line,
            f"invalid YAML: control character U+{character:04X} is not allowed in YAML; write it as an escape (\\x{character:02x}) in a double-quoted string",
        )
    if isinstance(exc, RecursionError):
        return FileProblem(shown, 1, f"invalid YAML: nested too deeply to read (values may nest at most {MAX_NESTING} levels)")
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return FileProblem(shown, LineIndex(text).of(mark), f"invalid YAML: {problem}")


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML document: its value, its node (None for an empty document) and its line numbers."""

    value: Any
    node: yaml.Node | None
    lines: LineIndex


def compose_yaml(text: str, shown: str, loader: type[StrictLoader] = StrictLoader) -> YamlDocument:
    """The document's value and node; a ``FileProblem`` for anything unreadable."""
    try:
        parser = loader(text)
    except yaml.YAMLError as exc:  # the reader checks every character when it is created
        raise yaml_problem(shown, exc, text) from None
    try:
        node = parser.get_single_node()
        return YamlDocument(parser.construct_document(node) if node is not None else None, node, parser.lines)
    except (yaml.YAMLError, RecursionError) as exc:
        raise yaml_problem(shown, exc, text) from None
    finally:
        parser.dispose()


def parse_yaml(text: str, shown: str, loader: type[StrictLoader] = StrictLoader) -> Any:
    return compose_yaml(text, shown, loader).value


# values ----------------------------------------------------------------------------------------


def value_problem(value: Any, *, max_nesting: int = MAX_NESTING, max_values: int = MAX_VALUES) -> str | None:
    """Why a loaded value cannot be used safely, or None.

    Walks the value once without recursion; a part shared through YAML aliases is
    walked once but counted every time it is used, so an alias bomb is found in
    time linear in the file, before anything expands it.
    """
    figures: dict[int, tuple[int, int]] = {}  # id -> (nesting, values when expanded)
    active: set[int] = set()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        item, finished = stack.pop()
        if isinstance(item, str):
            found = _LONE_SURROGATE.search(item)
            if found:
                return f"holds a lone surrogate \\u{ord(found.group()):04x}, which is not text (a JSON escape of half a character?)"
            continue
        if not isinstance(item, _CONTAINERS):
            continue
        key = id(item)
        children = _children(item)
        if finished:
            nesting = 1 + max((figures[id(c)][0] for c in children if isinstance(c, _CONTAINERS)), default=0)
            size = 1 + sum(figures[id(c)][1] if isinstance(c, _CONTAINERS) else 1 for c in children)
            figures[key] = (nesting, size)
            active.discard(key)
            if nesting > max_nesting:
                return f"nests deeper than {max_nesting} levels of lists and objects"
            if size > max_values:
                return f"expands to more than {max_values} values (YAML aliases repeating a large value?)"
            continue
        if key in figures:
            continue
        if key in active:
            return "contains itself (a recursive YAML alias)"
        active.add(key)
        stack.append((item, True))
        stack.extend((child, False) for child in children)
    return None


def _children(item: Any) -> list[Any]:
    if isinstance(item, Mapping):
        return [part for pair in item.items() for part in pair]
    return list(item)
