"""Untrusted text made safe to show: control characters escaped, so a value stays on its line.

Model outputs, scorer reasons and details, case text, confusion labels, field
names and baseline file contents reach the terminal, the CI log and the report
files. Shown raw, a newline there starts a new log line (GitHub Actions runs a
line such as ``::error file=README.md::x`` or ``::add-mask::x`` as a workflow
command), an ANSI escape rewrites the terminal, a right-to-left override
reorders what a reader sees, and a lone surrogate cannot be encoded at all.

``safe_text`` shows each such character as an escape, as Python writes it:
``\\n``, ``\\r``, ``\\t``, ``\\xHH`` below U+0100, ``\\uHHHH`` above. Escaped are C0
controls, DEL, C1 controls (NEL included), the line and paragraph separators
U+2028 and U+2029, the bidirectional controls (U+061C, U+200E, U+200F,
U+202A-U+202E, U+2066-U+2069) and surrogates; all other text, backslashes
included, comes back unchanged. A backslash is not doubled: messages quote
escapes (``\\ud800``) and JSON outputs hold them, and doubling each would make
every such line harder to read for no safety gain. So a text that spells an
escape out reads like one that holds the character; only the latter is escaped.

Domain code: no pytest import.
"""

from __future__ import annotations

import re

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_ESCAPED = f"\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}\ud800-\udfff"
_ESCAPED_MULTILINE = f"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029{_BIDI}\ud800-\udfff"
_ONE_LINE = re.compile(f"[{_ESCAPED}]")
_MULTILINE = re.compile(f"[{_ESCAPED_MULTILINE}]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: str, *, multiline: bool = False) -> str:
    """``text`` with every control, separator, bidi control and surrogate shown as an escape.

    The result is one line and encodes as UTF-8. With ``multiline`` (for the HTML
    report, which shows outputs as they were written) newline, carriage return
    and tab stay as they are.
    """
    if multiline:
        return _MULTILINE.sub(_escape, text)
    return _ONE_LINE.sub(_escape, text)
