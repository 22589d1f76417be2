"""Reading a model's output as JSON: strict parsing, and optional extraction from prose or code fences.

Models often wrap their JSON in prose ("Sure! Here is the task: {...}") or in a
Markdown code fence. Extraction is a per-suite option (``extract_json: true`` in
the suite's ``scoring:`` mapping, or a scorer parameter), off by default: a
suite that wants bare JSON should see the wrapping as a failure. When it is on,
the output is tried, in order, as

1. the whole text (after trimming whitespace);
2. each fenced block (```` ```json ... ``` ```` or a bare ```` ``` ... ``` ````), first to last;
3. the first ``{...}`` object found in the text.

``ParsedOutput.extracted`` says whether step 2 or 3 was needed, and every JSON
scorer copies it into its details as ``"extracted"``.

Parsing is strict JSON: ``NaN`` / ``Infinity`` and numbers that overflow a float
are rejected, and so is nesting deeper than ``MAX_DEPTH`` (so later recursive
comparisons cannot run out of stack on a hostile output). Nothing here raises.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 100
_NOTHING = object()
_FENCE = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:30]} is out of range")
    return value


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


@dataclass(frozen=True)
class ParsedOutput:
    """A parse attempt: the JSON value, or the reason there is none.

    Attributes:
        value: the parsed JSON value (``None`` both for JSON ``null`` and on failure; check ``ok``).
        error: why the output is not JSON, or ``None``.
        extracted: True when the JSON came from a code fence or from prose, not the whole output.
    """

    value: Any = None
    error: str | None = None
    extracted: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def details(self) -> dict[str, Any]:
        """The ``extracted`` and ``parse_error`` keys every JSON scorer puts in its details."""
        return {"extracted": self.extracted, "parse_error": self.error}


def parse_output(text: str, *, extract: bool = False) -> ParsedOutput:
    """Parse a model output as JSON; with ``extract``, also look inside code fences and prose.

    Args:
        text: the model output.
        extract: try fenced blocks and the first ``{...}`` object when the whole text is not JSON.

    Returns:
        The parsed value, or the parse error of the whole text (never raises).
    """
    if not isinstance(text, str):
        return ParsedOutput(error=f"output is {type(text).__name__}, not text")
    whole = _parse_whole(text)
    if whole.ok or not extract:
        return whole
    found = next(_extracted_values(text), _NOTHING)
    if found is _NOTHING:
        return ParsedOutput(error=f"{whole.error}; no JSON in a code fence or the text either")
    return ParsedOutput(found, extracted=True)


def _parse_whole(text: str) -> ParsedOutput:
    stripped = text.strip()
    if not stripped:
        return ParsedOutput(error="empty output")
    try:
        value = json.loads(stripped, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        return ParsedOutput(error=f"{exc.msg} at line {exc.lineno} column {exc.colno}")
    except (ValueError, RecursionError) as exc:  # NaN, overflow, over-long integers, nesting past the C parser's stack
        return ParsedOutput(error=_describe(exc))
    if too_deep(value):
        return ParsedOutput(error=f"JSON nested deeper than {MAX_DEPTH} levels")
    return ParsedOutput(value)


def _extracted_values(text: str) -> Iterator[Any]:
    for block in _FENCE.findall(text):
        found = _parse_whole(block)
        if found.ok:
            yield found.value
    start = text.find("{")
    while start != -1:
        try:
            value, _ = _DECODER.raw_decode(text, start)
        except (ValueError, RecursionError):
            value = None
        else:
            if not too_deep(value):
                yield value
                return
        start = text.find("{", start + 1)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return f"JSON nested deeper than {MAX_DEPTH} levels"
    # Python's integer-length error ends with advice about sys.set_int_max_str_digits(): not the model's problem.
    return str(exc).split(";")[0] or type(exc).__name__


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when arrays/objects nest more than ``limit`` levels (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def jsonable(value: Any) -> Any:
    """A case value as plain JSON: YAML dates become ISO strings, tuples/sets lists, keys strings.

    Case files in YAML turn an unquoted ``2026-11-26`` into a ``datetime.date``;
    scorers compare and report the ISO string the model would write.
    Non-finite floats and unknown objects become their ``str()``.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (dt.date, dt.time)):  # datetime is a date
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted((jsonable(item) for item in value), key=repr)
    return str(value)


def short(value: Any, limit: int = 40) -> str:
    """A value as compact JSON for a one-line reason, cut at ``limit`` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return clip(text, limit)


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in "…" when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
