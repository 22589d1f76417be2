"""Code blocks of the manual (``docs/**/*.md``), for tests that run what the docs show.

A block that only includes a file (``--8<-- "path"``) stands for that file's text.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
INCLUDE = re.compile(r'^--8<-- "([^"]+)"$')


def _expanded(block: str) -> str:
    lines = [line for line in block.strip().splitlines() if not line.startswith("<!--")]
    if len(lines) == 1 and (match := INCLUDE.match(lines[0])):
        return (ROOT / match.group(1)).read_text(encoding="utf-8")
    return block


def doc_blocks(language: str, page: str | None = None) -> list[str]:
    """Every fenced ``language`` block of one page (``how-to/write-a-scorer.md``) or of every page, dedented."""
    pages = [DOCS / page] if page else sorted(DOCS.rglob("*.md"))
    blocks = []
    for path in pages:
        for block in re.findall(rf"^[ \t]*```{language}\n(.*?)^[ \t]*```", path.read_text(encoding="utf-8"), re.DOTALL | re.MULTILINE):
            blocks.append(_expanded(textwrap.dedent(block)))
    return blocks


def doc_block(language: str, first_line: str, page: str | None = None) -> str:
    """The fenced ``language`` block of the docs whose text starts with ``first_line``."""
    for block in doc_blocks(language, page):
        if block.startswith(first_line):
            return block
    raise AssertionError(f"the docs ({page or 'any page'}) have no {language} block starting {first_line!r}")
