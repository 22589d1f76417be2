"""lm-evaluation-harness task YAML: reading and validating a task file, with the settings lm-eval uses.

A file is an lm-eval task when it is named ``*.yaml`` (the only suffix lm-eval's
task index reads) and its top-level mapping has a ``task`` key plus one of
``doc_to_text``, ``include``, ``dataset_path`` or ``output_type``
(``looks_like_task_file``). Such a file becomes an ``LmEvalSuite``: a taskbench
``Suite`` whose cases are the task's documents, one per document, in order.

What lm-eval does, and so what we do (lm_eval 0.4.x, ``ConfigurableTask``):

* a string ``doc_to_text`` / ``doc_to_target`` that names a column of the data
  is that column's value; any other string is a Jinja template rendered with
  the document (``StrictUndefined``, ``keep_trailing_newline``, the
  ``regex_replace`` filter); we render it in Jinja's sandbox;
* the zero-shot ``generate_until`` context is ``description`` (itself a field
  name or template) followed directly by ``doc_to_text(doc)``: no delimiter,
  no chat template unless asked (``--taskbench-lm-eval-chat-template`` is
  ``lm_eval --apply_chat_template``: the description as the system message);
* ``generation_kwargs``: ``until`` (default ``[fewshot_delimiter]``),
  ``max_gen_toks`` (default 256), ``do_sample`` / ``temperature`` (default greedy);
* a rendered target that looks like ``[...]`` is a list of acceptable answers;
* ``include:`` merges local YAML files (the including file wins).

Anything else that would change prompts or scores is refused with an
``LmEvalError`` naming the file and the key: never a silent difference.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pytest_taskbench.generation.base import GenerationParams
from pytest_taskbench.guards import validation
from pytest_taskbench.guards.files import (
    FileProblem,
    StrictLoader,
    parse_yaml,
    read_text,
    value_problem,
)
from pytest_taskbench.guards.validation import unknown_keys
from pytest_taskbench.scoring.packs.lm_eval import parse_filters, parse_metrics
from pytest_taskbench.suite import SuiteError

SCORER_NAME = "lm_eval_exact_match"
DEFAULT_MAX_GEN_TOKS = 256  # lm_eval.defaults.DEFAULT_MAX_GEN_TOKS, the hf model's default
SIGNATURE_KEYS = ("doc_to_text", "include", "dataset_path", "output_type")
_TASK_LINE = re.compile(r"^task\s*:", re.MULTILINE)
_SIGNATURE_LINE = re.compile(rf"^({'|'.join(SIGNATURE_KEYS)})\s*:", re.MULTILINE)

# Every field of lm_eval.config.task.TaskConfig: a key outside this set makes lm-eval itself fail.
TASK_CONFIG_KEYS = frozenset(
    """task task_alias tag custom_dataset dataset_path dataset_name dataset_kwargs training_split
    validation_split test_split fewshot_split process_docs doc_to_text doc_to_target doc_to_image
    doc_to_audio unsafe_code doc_to_choice process_results use_prompt description target_delimiter
    fewshot_delimiter fewshot_config num_fewshot metric_list output_type generation_kwargs repeats
    filter_list should_decontaminate doc_to_decontamination_query gen_prefix metadata""".split()
)
UNSUPPORTED_KEYS: Mapping[str, str] = {
    "doc_to_choice": "multiple-choice tasks are scored by loglikelihood, which taskbench does not compute",
    "doc_to_image": "multimodal tasks are not supported",
    "doc_to_audio": "multimodal tasks are not supported",
    "process_results": "custom result processing would score differently from taskbench's exact_match",
    "use_prompt": "promptsource prompts are not supported; write doc_to_text as a Jinja template",
    "fewshot_config": "few-shot prompting is not supported (zero-shot only)",
    "custom_dataset": "custom dataset loaders are not supported; use a local JSON/JSONL file",
    "gen_prefix": "gen_prefix is not supported",
    "dataset_name": "hub dataset configurations are not supported (nothing is downloaded)",
    "unsafe_code": "tasks that execute generated code are not supported",
}
GENERATION_KEYS = ("until", "max_gen_toks", "max_new_tokens", "max_tokens", "max_completion_tokens", "do_sample", "temperature")
FUNCTION_KEYS = ("doc_to_text", "doc_to_target", "process_docs")
TASKBENCH_METADATA_KEYS = frozenset({"category", "category_field", "weights", "pass_threshold", "gates", "bands", "primary_filter"})


class LmEvalError(SuiteError):
    """An lm-eval task we cannot run exactly as lm-eval would; names the file and the key."""

    def __init__(self, path: str | Path, key: str, message: str) -> None:
        super().__init__(f"{path}: {key}: {message}")
        self.path = str(path)
        self.key = key
        self.message = message


@dataclass(frozen=True)
class FunctionRef:
    """A ``!function module.name`` tag, kept as text: nothing is imported unless the user opts in."""

    name: str
    yaml_path: Path
    line: int

    def load(self) -> Callable[..., Any]:
        """Import ``module.py`` next to the YAML file that holds the tag (lm-eval's rule) and return the function."""
        module_name, _, function_name = self.name.rpartition(".")
        module_path = self.yaml_path.parent / f"{module_name}.py"
        spec = importlib.util.spec_from_file_location(f"taskbench_lm_eval_{module_name}", module_path)
        if not module_name or spec is None or spec.loader is None or not module_path.is_file():
            raise LmEvalError(self.yaml_path, "!function", f"cannot import {self.name!r}: no module file {module_path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        function = getattr(module, function_name, None)
        if not callable(function):
            raise LmEvalError(self.yaml_path, "!function", f"{module_path} defines no function {function_name!r}")
        return function  # type: ignore[no-any-return]


def _task_loader(yaml_path: Path) -> type[StrictLoader]:
    class TaskLoader(StrictLoader):
        pass

    def function_tag(loader: yaml.SafeLoader, node: yaml.Node) -> FunctionRef:
        return FunctionRef(str(loader.construct_scalar(node)), yaml_path, node.start_mark.line + 1)  # type: ignore[arg-type]

    TaskLoader.add_constructor("!function", function_tag)
    return TaskLoader


def read_yaml(path: Path) -> Any:
    """Parse one YAML file with ``!function`` tags recognised (as ``FunctionRef``) and never executed."""
    try:
        data = parse_yaml(read_text(path, str(path)), str(path), _task_loader(path))
    except FileProblem as exc:
        raise LmEvalError(path, "file", f"line {exc.line}: {exc.message}") from None
    problem = value_problem(data)
    if problem is not None:
        raise LmEvalError(path, "file", f"the task file {problem}")
    return data


def looks_like_task_file(path: Path) -> bool:
    """True for a ``*.yaml`` whose top-level mapping has ``task`` and an lm-eval signature key."""
    if path.suffix != ".yaml" or not path.is_file():
        return False
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if not (_TASK_LINE.search(text) and _SIGNATURE_LINE.search(text)):
        return False  # cheap text check first: most YAML in a repository is not an lm-eval task
    try:
        data = parse_yaml(text, str(path), _task_loader(path))
    except FileProblem:
        return True  # has the signature lines: report the YAML error instead of ignoring the file
    return isinstance(data, dict) and "task" in data and any(key in data for key in SIGNATURE_KEYS)


def load_task_config(path: Path, _seen: frozenset[Path] = frozenset()) -> dict[str, Any]:
    """The task's YAML with local ``include:`` files merged in (the including file's keys win)."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise LmEvalError(path, "file", "an lm-eval task file must hold a mapping")
    includes = data.pop("include", None)
    if includes is None:
        return data
    merged: dict[str, Any] = {}
    for include in includes if isinstance(includes, list) else [includes]:
        target = Path(str(include))
        target = target if target.is_absolute() else path.parent / target
        if not target.is_file():
            raise LmEvalError(path, "include", f"{include!r} is not a local file next to the task; taskbench follows include: only to local YAML files")
        if target.resolve() in _seen | {path.resolve()}:
            raise LmEvalError(path, "include", f"{include!r} includes itself")
        inherited = load_task_config(target, _seen | {path.resolve()})
        inherited.pop("task_list", None)
        merged.update(inherited)
    merged.update(data)
    return merged


@dataclass(frozen=True)
class LmEvalTask:
    """A validated lm-eval ``generate_until`` task, ready to turn its documents into cases."""

    path: Path
    name: str
    config: Mapping[str, Any]
    data_files: tuple[Path, ...]
    generation: GenerationParams
    scorer: Mapping[str, Any]
    taskbench: Mapping[str, Any]
    doc_to_text: Any
    doc_to_target: Any
    description: Any
    process_docs: Callable[..., Any] | None = None


def load_task(path: Path, *, allow_functions: bool = False, chat_template: bool = False, cwd: Path | None = None) -> LmEvalTask:
    """Read and validate an lm-eval task YAML. Raises ``LmEvalError`` naming the file and the key."""
    config = load_task_config(path)

    def fail(key: str, message: str) -> LmEvalError:
        return LmEvalError(path, key, message)

    for key in config:
        if key in ("group", "class"):
            raise fail(key, "groups and Python task classes are not supported; point pytest at the task YAML files")
        if key not in TASK_CONFIG_KEYS:
            raise fail(key, f"not an lm-eval task key (lm-eval rejects it too); known keys: {', '.join(sorted(TASK_CONFIG_KEYS))}")
        if key in UNSUPPORTED_KEYS and config[key] not in (None, False):
            raise fail(key, f"not supported: {UNSUPPORTED_KEYS[key]}")
    if not isinstance(config.get("task"), str) or not config["task"]:
        raise fail("task", "must be the task's name (a string)")
    if config.get("output_type", "generate_until") != "generate_until":
        raise fail("output_type", f"{config['output_type']!r} is not supported: taskbench runs generate_until tasks only")
    if config.get("num_fewshot") not in (None, 0):
        raise fail("num_fewshot", "few-shot prompting is not supported (zero-shot only)")
    if config.get("repeats", 1) != 1:
        raise fail("repeats", "only repeats: 1 is supported")
    functions = {key: found for key in (*FUNCTION_KEYS, "description") if isinstance(found := config.get(key), FunctionRef)}
    for key, ref in _all_function_refs(config):
        if key not in FUNCTION_KEYS or not allow_functions:
            hint = "" if key not in FUNCTION_KEYS else "; pass --taskbench-lm-eval-allow-functions to import and run it"
            raise fail(key, f"`!function {ref.name}` (line {ref.line} of {ref.yaml_path.name}) runs Python code and was not executed{hint}")
    if "doc_to_text" not in config:
        raise fail("doc_to_text", "missing: how each document becomes a prompt")
    if "doc_to_target" not in config:
        raise fail("doc_to_target", "missing: each document's expected answer")
    for key in ("doc_to_text", "doc_to_target", "description"):
        if config.get(key) is not None and not isinstance(config[key], (str, FunctionRef)):
            raise fail(key, f"must be a field name or a Jinja template, got {type(config[key]).__name__}")
    try:
        filters, metrics = config.get("filter_list"), config.get("metric_list")
        parse_filters(filters)
        parse_metrics(metrics)
    except ValueError as exc:
        key = "filter_list" if str(exc).startswith("filter_list") else "metric_list"
        raise fail(key, str(exc)) from None
    taskbench = _taskbench_metadata(config.get("metadata"), fail)
    scorer: dict[str, Any] = {"name": SCORER_NAME, "filters": filters, "metrics": metrics}
    if "primary_filter" in taskbench:
        scorer["primary_filter"] = taskbench["primary_filter"]
    resolved = {key: ref.load() for key, ref in functions.items()}
    return LmEvalTask(
        path=path,
        name=config["task"],
        config=config,
        data_files=_data_files(config, path, cwd or Path.cwd(), fail),
        generation=generation_params(config, chat_template, fail),
        scorer={key: value for key, value in scorer.items() if value is not None},
        taskbench=taskbench,
        doc_to_text=resolved.get("doc_to_text", config["doc_to_text"]),
        doc_to_target=resolved.get("doc_to_target", config["doc_to_target"]),
        description=config.get("description") or "",
        process_docs=resolved.get("process_docs"),
    )


def _all_function_refs(value: Any, key: str = "") -> list[tuple[str, FunctionRef]]:
    if isinstance(value, FunctionRef):
        return [(key, value)]
    if isinstance(value, dict):
        return [found for k, v in value.items() for found in _all_function_refs(v, key or str(k))]
    if isinstance(value, list):
        return [found for item in value for found in _all_function_refs(item, key)]
    return []


def _taskbench_metadata(metadata: Any, fail: Callable[[str, str], LmEvalError]) -> dict[str, Any]:
    """Our settings ride in lm-eval's free-form ``metadata: {taskbench: {...}}``, so lm-eval still runs the file."""
    if not isinstance(metadata, dict) or metadata.get("taskbench") is None:
        return {}
    settings = metadata["taskbench"]
    if not isinstance(settings, dict):
        raise fail("metadata.taskbench", "must be a mapping")
    unknown = unknown_keys(settings, TASKBENCH_METADATA_KEYS)
    if unknown:
        raise fail("metadata.taskbench", f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(TASKBENCH_METADATA_KEYS))}")
    return dict(settings)


def generation_params(config: Mapping[str, Any], chat_template: bool, fail: Callable[[str, str], LmEvalError]) -> GenerationParams:
    """lm-eval's generation settings for the task (TaskConfig.__post_init__ and normalize_gen_kwargs)."""
    fewshot_delimiter = config.get("fewshot_delimiter", "\n\n")
    kwargs = config.get("generation_kwargs")
    if kwargs is None:
        kwargs = {"until": [fewshot_delimiter], "do_sample": False, "temperature": 0.0}
    if not isinstance(kwargs, dict):
        raise fail("generation_kwargs", f"must be a mapping, got {kwargs!r}")
    unknown = unknown_keys(kwargs, GENERATION_KEYS)
    if unknown:
        raise fail(f"generation_kwargs.{unknown[0]}", f"not supported (supported: {', '.join(GENERATION_KEYS)})")
    try:
        until = validation.texts("generation_kwargs.until", kwargs.get("until", [fewshot_delimiter]))
        limit = next((kwargs[key] for key in GENERATION_KEYS[1:5] if kwargs.get(key) is not None), DEFAULT_MAX_GEN_TOKS)
        limit = validation.whole("generation_kwargs.max_gen_toks", limit, minimum=1)
        temperature = validation.number("generation_kwargs.temperature", kwargs.get("temperature", 0.0), minimum=0)
    except validation.Invalid as exc:
        raise _keyed(fail, exc) from None
    do_sample = kwargs.get("do_sample")
    if do_sample is False:
        temperature = 0.0  # lm-eval: do_sample false means greedy whatever the temperature
    elif do_sample is True and temperature == 0:
        raise fail("generation_kwargs.do_sample", "do_sample: true needs a temperature > 0")
    return GenerationParams(max_new_tokens=limit, stop=until, temperature=temperature, use_chat_template=chat_template)


def _keyed(fail: Callable[[str, str], LmEvalError], exc: validation.Invalid) -> LmEvalError:
    """A check's message (``key must be X, got Y``) as the task error that names the key first."""
    key, _, rest = str(exc).partition(" ")
    return fail(key, rest)


def _data_files(config: Mapping[str, Any], path: Path, cwd: Path, fail: Callable[[str, str], LmEvalError]) -> tuple[Path, ...]:
    """The local files holding the evaluated split (test_split, else validation_split, as lm-eval's eval_docs)."""
    split = config.get("test_split") or config.get("validation_split")
    if not split:
        raise fail("test_split", "the task needs test_split or validation_split: lm-eval evaluates one of them")
    dataset_path = config.get("dataset_path")
    kwargs = config.get("dataset_kwargs") or {}
    if not isinstance(dataset_path, str) or not dataset_path:
        raise fail("dataset_path", "missing: use dataset_path: json with dataset_kwargs.data_files, or a local directory")
    if not isinstance(kwargs, dict):
        raise fail("dataset_kwargs", "must be a mapping")
    unknown = unknown_keys(kwargs, ("data_files", "field"))
    if unknown:
        raise fail(f"dataset_kwargs.{unknown[0]}", "not supported (supported: data_files, field)")

    def local(name: str, key: str) -> Path:
        # datasets resolves relative paths against the working directory; the task's directory is our fallback
        candidate = Path(name).expanduser()
        for option in [candidate] if candidate.is_absolute() else [cwd / candidate, path.parent / candidate]:
            if option.exists():
                return option
        raise fail(key, f"{name!r} is not a local file or directory (looked in {cwd} and {path.parent}); hub datasets are not supported")

    if dataset_path == "json":
        files = kwargs.get("data_files")
        if files is None:
            raise fail("dataset_kwargs.data_files", "dataset_path: json needs dataset_kwargs.data_files")
        by_split = files if isinstance(files, dict) else {"train": files}
        if split not in by_split:
            raise fail("test_split", f"split {split!r} is not in data_files (splits: {', '.join(map(str, by_split))})")
        chosen = by_split[split]
        return tuple(local(str(name), "dataset_kwargs.data_files") for name in (chosen if isinstance(chosen, list) else [chosen]))
    if Path(dataset_path).suffix in (".json", ".jsonl"):
        return (local(dataset_path, "dataset_path"),)  # our convenience; lm-eval wants dataset_path: json + data_files
    if "/" not in dataset_path and not dataset_path.startswith("."):
        raise fail("dataset_path", f"{dataset_path!r} looks like a hub dataset; only local data is supported (dataset_path: json + dataset_kwargs.data_files)")
    directory = local(dataset_path, "dataset_path")
    found = [directory / f"{split}{suffix}" for suffix in (".jsonl", ".json") if (directory / f"{split}{suffix}").is_file()]
    if not found:
        raise fail("dataset_path", f"no {split}.jsonl or {split}.json in {directory}")
    return tuple(found[:1])
