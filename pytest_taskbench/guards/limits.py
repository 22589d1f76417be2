"""Bounds on work that hostile input could make endless: regular expressions and lm-eval templates.

A pattern from a suite or task file meets model outputs nobody has read, and a
template meets documents nobody has checked; either can ask for more work than
any run has time for (catastrophic backtracking, loops nested in a sandboxed
Jinja template). Both are bounded here, and going past a bound raises
``WorkLimitExceeded``, which costs the one case or document concerned.

- Regular expressions run on the ``regex`` package (the same syntax as ``re``
  for the patterns suites use) with a timeout of ``REGEX_SECONDS`` per call.
- Templates run under a trace function that counts the lines executed in
  template code and stops at ``TEMPLATE_STEPS``; Jinja compiles templates to
  Python, so this bounds every loop whatever it iterates over.

Domain code: no pytest import.
"""

from __future__ import annotations

import functools
import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

REGEX_SECONDS = 1.0
TEMPLATE_STEPS = 2_000_000  # lines of template code one rendering may execute (a real template runs dozens)
TEMPLATE_FILENAME = "<template>"  # the file name Jinja compiles templates from strings under


class WorkLimitExceeded(Exception):
    """A regular expression or template asked for more work than any case may take."""


@dataclass(frozen=True)
class BoundedPattern:
    """A compiled pattern whose every match gives up after ``REGEX_SECONDS``."""

    source: str
    compiled: Any

    def _run(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.compiled, method)(*args, timeout=REGEX_SECONDS, **kwargs)
        except TimeoutError:
            raise WorkLimitExceeded(
                f"the regular expression /{self.source}/ took more than {REGEX_SECONDS:g}s on a {len(str(args[-1]))}-character text (catastrophic backtracking?)"
            ) from None

    def search(self, text: str) -> Any:
        return self._run("search", text)

    def fullmatch(self, text: str) -> Any:
        return self._run("fullmatch", text)

    def findall(self, text: str) -> list[Any]:
        found: list[Any] = self._run("findall", text)
        return found

    def sub(self, replacement: str, text: str, count: int = 0) -> str:
        result: str = self._run("sub", replacement, text, count=count)
        return result


@functools.lru_cache(maxsize=512)
def compile_pattern(pattern: str, flags: int = 0) -> BoundedPattern:
    """Compile with ``re``'s flags (same values in ``regex``); raises ``re.error`` for an invalid pattern.

    The pattern is checked by ``re`` first, so what is valid, and the message when it is not, are
    Python's own; ``regex`` then runs it.
    """
    import regex

    with warnings.catch_warnings():  # "possible nested set" is a FutureWarning, which -W error would raise
        warnings.simplefilter("ignore")
        re.compile(pattern, flags)
        try:
            return BoundedPattern(pattern, regex.compile(pattern, int(flags)))
        except regex.error as exc:
            raise re.error(str(exc)) from None


@contextmanager
def template_budget(steps: int = TEMPLATE_STEPS) -> Iterator[None]:
    """Run the block with template code limited to ``steps`` executed lines; past them, ``WorkLimitExceeded``."""
    left = steps

    def count_lines(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal left
        if event == "line":
            left -= 1
            if left < 0:
                raise WorkLimitExceeded(f"the template executed more than {steps} steps (a loop too large to render?)")
        return count_lines

    def trace_templates(frame: FrameType, event: str, arg: Any) -> Any:
        return count_lines if frame.f_code.co_filename == TEMPLATE_FILENAME else None

    previous = sys.gettrace()
    sys.settrace(trace_templates)
    try:
        yield
    finally:
        sys.settrace(previous)
