"""Small suites and case files for pytester runs: the demo suite, the echo model, JSONL text."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

DEMO_SUITE = """\
name: demo
categories:
  greet: {weight: 0.75, scorer: exact_match}
  shout: {weight: 0.25, scorer: {name: exact_match, ignore_case: true}}
"""

ECHO_MODEL = """\
def respond(prompts):
    return list(prompts)
"""


def jsonl(rows: Sequence[dict[str, Any]], defaults: dict[str, Any] | None = None) -> str:
    """A JSONL case file: an optional ``{"defaults": ...}`` line, then one case a line."""
    lines = [json.dumps({"defaults": defaults})] if defaults else []
    return "\n".join(lines + [json.dumps(row) for row in rows]) + "\n"
