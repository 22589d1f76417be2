"""A small tool-call suite for pytester runs: three tools (one destructive), a rule-based model that calls them, three cases."""

from __future__ import annotations

TOOLS_YAML = """\
tools:
  - type: function
    function:
      name: create_task
      description: Create a task.
      parameters:
        type: object
        properties:
          title: {type: string}
          priority: {enum: [low, medium, high]}
        required: [title]
  - type: function
    destructive: true
    function:
      name: delete_task
      parameters: {type: object, properties: {title: {type: string}}, required: [title]}
  - name: list_tasks
    parameters: {type: object, properties: {status: {enum: [open, done]}}}
"""
SUITE = (
    """\
name: tools
categories:
  calls: {weight: 1, scorer: tool_calls}
"""
    + TOOLS_YAML
)
# Answers by the request: calls (hermes style) for "add", a destructive extra for "wipe", prose for "chat";
# "which" answers with the names of the tools it was offered, to show narrowing.
TOOL_MODEL = """\
import json

def call(name, **arguments):
    return "<tool_call>" + json.dumps({"name": name, "arguments": arguments}) + "</tool_call>"

def respond(prompts, tools):
    answers = []
    for prompt, offered in zip(prompts, tools):
        if prompt.startswith("add "):
            answers.append(call("create_task", title=prompt[4:], priority="high"))
        elif prompt.startswith("wipe"):
            answers.append(call("list_tasks") + call("delete_task", title="everything"))
        elif prompt.startswith("which"):
            answers.append(",".join(tool["function"]["name"] for tool in offered))
        else:
            answers.append("Happy to help!")
    return answers
"""
CASES = [
    {"id": "add", "input": "add Milk", "expected_calls": [{"name": "create_task", "arguments": {"title": "Milk", "priority": {"any_of": ["high", "medium"]}}}]},
    {"id": "wipe", "input": "wipe all", "expected_calls": [{"name": "list_tasks", "arguments": {}}]},
    {"id": "chat", "input": "chat", "expected_calls": [{"name": "list_tasks", "arguments": {"status": "open"}}]},
]
