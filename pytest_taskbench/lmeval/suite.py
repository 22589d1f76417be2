"""An lm-eval task file as a taskbench suite: its documents are the cases, its prompts are lm-eval's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from pytest_taskbench.cases import DIFFICULTIES, Case, CaseError, CaseFileContents
from pytest_taskbench.generation.base import Prompt
from pytest_taskbench.lmeval.documents import read_documents
from pytest_taskbench.lmeval.render import Renderer
from pytest_taskbench.lmeval.task import LmEvalError, LmEvalTask, load_task
from pytest_taskbench.suite import Suite, SuiteError, parse_suite

UNSPECIFIED_DIFFICULTY = "unspecified"


def task_cases(task: LmEvalTask, display: Callable[[Path], str] = str) -> tuple[list[Case], list[CaseError]]:
    """One case per document (id ``doc_<index>``) and one CaseError per document that cannot be rendered."""
    documents, errors = read_documents(task, display)
    renderer = Renderer(list(documents[0].doc) if documents else [])
    category_field = task.taskbench.get("category_field", "category")
    default_category = str(task.taskbench.get("category") or task.name)
    cases: list[Case] = []
    multiple_targets: bool | None = None
    for index, document in enumerate(documents):
        doc, shown = document.doc, display(document.path)
        try:
            text = renderer.render(task.doc_to_text, doc)
            description = renderer.description(task.description, doc)
            target = renderer.target(task.doc_to_target, doc)
        except Exception as exc:  # a template error costs one document, reported at its line
            errors.append(CaseError(shown, document.line, f"doc_{index}: cannot render the task's templates: {type(exc).__name__}: {exc}"))
            continue
        if not isinstance(text, str):
            errors.append(CaseError(shown, document.line, f"doc_{index}: doc_to_text gave {type(text).__name__}, not text"))
            continue
        if multiple_targets is None:
            multiple_targets = isinstance(target, list)  # lm-eval decides from the first document
        if multiple_targets:
            target = list(target)  # as lm-eval's process_results does; a string becomes its characters there too
        category = doc.get(category_field)
        difficulty = doc.get("difficulty")
        cases.append(
            Case(
                id=f"doc_{index}",
                category=category if isinstance(category, str) and category else default_category,
                difficulty=difficulty if difficulty in DIFFICULTIES else UNSPECIFIED_DIFFICULTY,
                expected=target,
                input=description + text,
                tags=("lm_eval", task.name),
                metadata={"lm_eval": {"task": task.name, "doc_id": index, "description": description, "text": text}},
                path=shown,
                line=document.line,
            )
        )
    return cases, errors


@dataclass(frozen=True)
class LmEvalSuite(Suite):
    """A Suite made from an lm-eval task file: the documents are its cases, the prompts lm-eval's."""

    task: LmEvalTask | None = None
    cases: tuple[Case, ...] = ()
    errors: tuple[CaseError, ...] = ()

    def prompt_for(self, case: Case) -> Prompt:
        info = case.metadata["lm_eval"]
        system = [{"role": "system", "content": info["description"]}] if info["description"] else []
        return Prompt((*system, {"role": "user", "content": info["text"]}), info["description"] + info["text"])

    def case_files(self) -> list[Path]:
        return list(self.task.data_files) if self.task else []

    def valid_cases(self, load: Callable[[Path], CaseFileContents] | None = None) -> list[Case]:
        return list(self.cases)  # the documents were read with the task file


def load_lm_eval_suite(
    path: Path,
    *,
    allow_functions: bool = False,
    chat_template: bool = False,
    display: Callable[[Path], str] = str,
    cwd: Path | None = None,
) -> LmEvalSuite:
    """The task file as a Suite; raises ``LmEvalError`` (a ``SuiteError``) naming the file and the key."""
    task = load_task(path, allow_functions=allow_functions, chat_template=chat_template, cwd=cwd)
    cases, errors = task_cases(task, display)
    counts: dict[str, int] = {}
    for case in cases:
        counts[case.category] = counts.get(case.category, 0) + 1
    weights = task.taskbench.get("weights") or {name: count / max(1, len(cases)) for name, count in counts.items()}
    if not weights:
        weights = {str(task.taskbench.get("category") or task.name): 1.0}
    data: dict[str, Any] = {
        "name": task.name,
        "categories": {name: {"weight": weight, "scorer": dict(task.scorer)} for name, weight in weights.items()},
        "difficulties": [*DIFFICULTIES, UNSPECIFIED_DIFFICULTY],
        "scorer_packs": ["lm_eval"],
        **{key: task.taskbench[key] for key in ("pass_threshold", "gates", "bands") if key in task.taskbench},
    }
    try:
        base = parse_suite(data, path)
    except SuiteError as exc:
        raise LmEvalError(path, "metadata.taskbench", str(exc).removeprefix(f"{path}: ")) from None
    unknown = sorted({case.category for case in cases} - set(base.categories))
    if unknown:
        raise LmEvalError(path, "metadata.taskbench.weights", f"no weight for categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}")
    values = {f.name: getattr(base, f.name) for f in fields(Suite)}
    values["generation"] = task.generation
    return LmEvalSuite(**values, task=task, cases=tuple(cases), errors=tuple(errors))
