"""The scorers issue #4 asked for, and the README's Scorers section with its code blocks."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def scorers_section() -> str:
    """The README's "Scorers" section, where the reference table and the plug-in example live."""
    text = README.read_text()
    start = text.index("\n## Scorers\n")
    return text[start : text.index("\n## ", start + 1)]


ISSUE_4_SCORERS = (
    "action_recognition",
    "entity_extraction",
    "default_handling",
    "edge_case",
    "format_compliance",
    "exact_match",
    "json_equal",
    "json_subset",
    "regex",
    "contains",
    "not_contains",
    "json_schema",
    "field_match",
)


def doc_block(language: str, first_line: str) -> str:
    """The fenced block of the docs whose first line is ``first_line``."""
    for block in re.findall(rf"```{language}\n(.*?)```", scorers_section(), re.DOTALL):
        if block.startswith(first_line):
            return block
    raise AssertionError(f"README.md has no {language} block starting {first_line!r}")
