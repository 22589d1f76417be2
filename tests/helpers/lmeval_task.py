"""An lm-eval task file and its data for the lm-eval tests: a generate_until task over two documents."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

TASK = """\
task: task_api_benchmark
dataset_path: json
dataset_kwargs:
  data_files:
    test: data.jsonl
test_split: test
output_type: generate_until
description: "You turn requests into API calls.\\n\\n"
doc_to_text: "Request: {{ request }}\\nCall:"
doc_to_target: call
generation_kwargs:
  until: ["\\n", "Request:"]
  max_gen_toks: 24
  do_sample: false
metric_list:
  - metric: exact_match
    ignore_case: true
"""
DOCS = [
    {"request": "list my tasks", "call": "list()", "category": "read"},
    {"request": "add milk", "call": "add('milk')"},
]


def write_task(directory: Path, task: str = TASK, docs: list[dict[str, Any]] | None = None, name: str = "task.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "data.jsonl").write_text("".join(json.dumps(doc) + "\n" for doc in (DOCS if docs is None else docs)))
    path = directory / name
    path.write_text(textwrap.dedent(task))
    return path
