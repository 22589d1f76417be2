"""A rule-based stand-in for a checkpoint, so the examples run in a second: it guesses the action from a keyword."""

import json

KEYWORDS = (
    ("delete", "delete"),
    ("remove", "delete"),
    ("show", "list"),
    ("list", "list"),
    ("done", "complete"),
    ("finished", "complete"),
    ("change", "update"),
    ("move", "update"),
)


def _action(prompt: str) -> str:
    text = prompt.lower()
    return next((action for word, action in KEYWORDS if word in text), "create")


def early(prompts):
    """An early checkpoint: always creates a task."""
    return [json.dumps({"action": "create"}) for _ in prompts]


def late(prompts):
    """A later checkpoint: picks the action from a keyword."""
    return [json.dumps({"action": _action(prompt)}) for prompt in prompts]
