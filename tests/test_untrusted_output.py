"""Model outputs and case text are untrusted: what the plugin prints and writes must not act on them.

A model output holding ``\\n::error file=README.md,line=1::injected`` or ``::add-mask::x``
would be a command to the GitHub Actions runner if printed on a line of its own; ANSI
escapes, NULs and right-to-left overrides would act on the terminal or the reader; Markdown
in a reason would show images, links and mentions in a pull request; a lone surrogate
would crash a renderer. See ``safe_text`` and README "Untrusted text".
"""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from pytest_taskbench.safe_text import safe_text

# the escape function --------------------------------------------------------------------------

ESCAPED = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
SEQUENCE = re.compile(r"\\(\\|n|r|t|x[0-9a-f]{2}|u[0-9a-f]{4})")


def unescape(shown: str) -> str:
    """The inverse of ``safe_text``: the escapes Python writes, and a doubled backslash."""
    named = {"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}
    return SEQUENCE.sub(lambda m: named.get(m.group(1)) or chr(int(m.group(1)[1:], 16)), shown)


@given(st.text(alphabet=st.characters(codec=None, categories=None)))
@example("\\n\n\\\n\\\\x1b\x1b\\u202e\u202e\\")
@example("\ud800\udc00")
def test_safe_text_is_one_safe_line_that_keeps_the_text(text: str) -> None:
    shown = safe_text(text)
    assert not ESCAPED.search(shown)
    assert len(shown.splitlines()) <= 1
    shown.encode("utf-8")
    assert unescape(shown) == text
    multiline = safe_text(text, multiline=True)
    assert not ESCAPED.search(multiline.replace("\n", "").replace("\r", "").replace("\t", ""))
    multiline.encode("utf-8")


def test_ordinary_text_is_unchanged() -> None:
    for text in ("expected 'HI', got 'hi'", 'say "hi" — ok 😀', "C:\\dir\\file", "a b\\"):
        assert safe_text(text) == text
    assert safe_text("a\nb\t\x1b") == "a\\nb\\t\\x1b"
    assert safe_text("\\n") == "\\\\n"
