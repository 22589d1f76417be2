"""Export a taskbench suite (or one category) as an lm-evaluation-harness task directory.

``taskbench export-lm-eval SUITE_DIR OUT_DIR`` writes ``OUT_DIR/<task>.yaml`` and
``OUT_DIR/<task>.jsonl``; ``lm_eval --include_path OUT_DIR --tasks <task>`` runs
it as it is, and pytest collects the same YAML back with the same prompts.

What carries over exactly: the prompt (``prompt.system`` becomes ``description``
followed by a blank line, ``prompt.template`` becomes the Jinja ``doc_to_text``),
``generation`` (``until`` = stop, ``max_gen_toks`` = max_new_tokens, greedy
unless a temperature is set) and exact_match with ``strip`` / ``ignore_case``.
What does not: any other scorer is exported as exact_match on the JSON text of
``expected``, so partial credit (field-level JSON scores) is lost; chat
``messages`` cases have no lm-eval equivalent and are left out, with a warning.
The prompt matches taskbench's plain-text prompt (lm-eval's default, no chat
template); lm-eval's ``--apply_chat_template`` puts the description, with its
trailing blank line, in the system message.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pytest_taskbench.cases import Case
from pytest_taskbench.scoring.registry import split_spec
from pytest_taskbench.suite import Suite

_JINJA_SYNTAX = re.compile(r"\{[{%#]|[}%#]\}")
_NAME = re.compile(r"[^A-Za-z0-9_]+")


@dataclass
class ExportResult:
    yaml_path: Path
    data_path: Path
    documents: int
    warnings: list[str] = field(default_factory=list)


def jinja_literal(text: str) -> str:
    """Text that Jinja renders back unchanged (``{% raw %}`` around anything that looks like Jinja)."""
    return f"{{% raw %}}{text}{{% endraw %}}" if _JINJA_SYNTAX.search(text) else text


def jinja_template(template: str, suite: Suite) -> str:
    """A taskbench prompt template in Jinja form: ``{input}`` becomes ``{{input}}``, ``{reference_date}`` is filled in,
    and everything else renders literally."""
    if suite.reference_date is not None:
        template = template.replace("{reference_date}", suite.reference_date.isoformat())
    return "{{input}}".join(jinja_literal(part) for part in template.split("{input}"))


def doc_to_text_template(suite: Suite) -> str:
    """The suite's user prompt template in Jinja form."""
    return jinja_template(suite.prompt_template, suite)


def description_text(suite: Suite) -> str:
    """lm-eval puts ``description`` (a template rendered with the document) directly before doc_to_text;
    taskbench joins system and user with a blank line."""
    return jinja_template(f"{suite.system_prompt}\n\n", suite) if suite.system_prompt else ""


def _metric_for(spec: Any) -> tuple[dict[str, Any], bool, str | None]:
    """(metric_list entry, strip?, warning) for a category's scorer."""
    name, params = split_spec(spec)
    if name == "exact_match" and set(params) <= {"strip", "ignore_case"}:
        return {"metric": "exact_match", "ignore_case": bool(params.get("ignore_case", False))}, bool(params.get("strip", True)), None
    return {"metric": "exact_match"}, True, f"scorer {name!r} exported as exact_match on the expected text: partial credit is lost"


def _target(expected: Any, strip: bool) -> str:
    text = expected if isinstance(expected, str) else json.dumps(expected, ensure_ascii=False, sort_keys=True)
    return text.strip() if strip else text


def export_suite(suite: Suite, out_dir: Path, *, category: str | None = None, task_name: str | None = None) -> ExportResult:
    """Write the task YAML and its JSONL data; raises ValueError for an unknown category or a mixed-metric export."""
    if category is not None and category not in suite.categories:
        raise ValueError(f"unknown category {category!r}; the suite has {', '.join(suite.categories)}")
    names = [category] if category else list(suite.categories)
    metrics = {name: _metric_for(suite.categories[name].scorer) for name in names}
    warnings = [f"category {name}: {warning}" for name, (_, _, warning) in metrics.items() if warning]
    distinct = {(json.dumps(metric, sort_keys=True), strip) for metric, strip, _ in metrics.values()}
    if len(distinct) > 1:
        raise ValueError(f"categories {', '.join(names)} score differently (an lm-eval task has one metric_list); export one --category at a time")
    metric, strip, _ = metrics[names[0]]

    cases: list[Case] = []
    for file in suite.case_files():
        contents = suite.load_cases(file)
        warnings.extend(f"skipped: {error}" for error in contents.errors)
        cases.extend(case for case in contents.cases if case.category in names)
    documents = []
    for case in cases:
        if case.input is None:
            warnings.append(f"skipped {case.id}: chat 'messages' cases have no lm-eval equivalent")
            continue
        if case.scorer is not None and _metric_for(case.scorer)[:2] != (metric, strip):
            warnings.append(f"case {case.id}: its own scorer is replaced by the category's exact_match")
        documents.append(
            {"id": case.id, "category": case.category, "difficulty": case.difficulty, "input": case.input, "target": _target(case.expected, strip)}
        )

    name = task_name or _NAME.sub("_", f"{suite.name}_{category}" if category else suite.name).strip("_").lower()
    out_dir.mkdir(parents=True, exist_ok=True)
    data_path = (out_dir / f"{name}.jsonl").resolve()
    data_path.write_text("".join(json.dumps(doc, ensure_ascii=False) + "\n" for doc in documents), encoding="utf-8")
    yaml_path = (out_dir / f"{name}.yaml").resolve()
    yaml_path.write_text(_task_yaml(suite, name, data_path, metric, strip, names), encoding="utf-8")
    return ExportResult(yaml_path, data_path, len(documents), warnings)


def _task_yaml(suite: Suite, name: str, data_path: Path, metric: Mapping[str, Any], strip: bool, categories: list[str]) -> str:
    params = suite.generation
    generation: dict[str, Any] = {"until": list(params.stop), "max_gen_toks": params.max_new_tokens, "do_sample": params.temperature > 0}
    generation["temperature"] = float(params.temperature)
    steps = ([{"function": "remove_whitespace"}] if strip else []) + [{"function": "take_first"}]
    total = sum(suite.categories[category].weight for category in categories) or 1.0
    weights = {category: suite.categories[category].weight / total for category in categories}
    config: dict[str, Any] = {
        "task": name,
        "dataset_path": "json",
        # datasets resolves relative data_files against the working directory, so the path is absolute
        "dataset_kwargs": {"data_files": {"test": str(data_path)}},
        "test_split": "test",
        "output_type": "generate_until",
        "description": description_text(suite),
        "doc_to_text": doc_to_text_template(suite),
        "doc_to_target": "target",
        "generation_kwargs": generation,
        "filter_list": [{"name": "strip" if strip else "none", "filter": steps}],
        "metric_list": [{**metric, "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0, "taskbench": {"weights": weights, "pass_threshold": suite.pass_threshold}},
    }
    header = f"# lm-eval task exported by `taskbench export-lm-eval` from suite {suite.name!r} ({suite.path}).\n"
    return header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=1000)


def configure_export(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``taskbench export-lm-eval``."""
    parser.add_argument("suite_dir", type=Path, help="the suite directory (holding taskbench.yaml) or its taskbench.yaml")
    parser.add_argument("out_dir", type=Path, help="directory receiving <task>.yaml and <task>.jsonl (created if missing)")
    parser.add_argument("--category", help="export only this category")
    parser.add_argument("--task-name", help="the lm-eval task name (default: the suite name, plus _<category>)")


def run_export(args: argparse.Namespace) -> int:
    """Export and print where the files went and what did not carry over."""
    from pytest_taskbench.suite import SUITE_FILE_NAME, SuiteError, load_suite

    suite_file = args.suite_dir if args.suite_dir.is_file() else args.suite_dir / SUITE_FILE_NAME
    try:
        result = export_suite(load_suite(suite_file), args.out_dir, category=args.category, task_name=args.task_name)
    except (SuiteError, ValueError) as exc:
        print(f"taskbench export-lm-eval: {exc}", file=sys.stderr)
        return 1
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    task = result.yaml_path.stem
    print(f"wrote {_shown(result.yaml_path)} and {_shown(result.data_path)} ({result.documents} documents)")
    print(f"run it: lm_eval --model hf --model_args pretrained=MODEL --include_path {_shown(result.yaml_path.parent)} --tasks {task}")
    return 0


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (what the user typed), else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
