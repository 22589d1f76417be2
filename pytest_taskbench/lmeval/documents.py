"""lm-eval task data: the documents of the evaluated split, read from local JSON or JSON Lines files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_taskbench.cases import CaseError
from pytest_taskbench.guards.files import FileProblem, decode, parse_json, raw_lines, read_bytes, value_problem
from pytest_taskbench.lmeval.task import LmEvalError, LmEvalTask


@dataclass(frozen=True)
class Document:
    doc: dict[str, Any]
    path: Path
    line: int


def read_documents(task: LmEvalTask, display: Callable[[Path], str] = str) -> tuple[list[Document], list[CaseError]]:
    """Documents in lm-eval's order, with missing columns filled with None and int/float columns unified (as datasets does).

    A JSON Lines document that cannot be read becomes a ``CaseError`` at its line; the others are kept.
    """
    field_name = task.config.get("dataset_kwargs", {}).get("field") if isinstance(task.config.get("dataset_kwargs"), dict) else None
    documents: list[Document] = []
    errors: list[CaseError] = []
    for data_file in task.data_files:
        found, problems = _read_file(data_file, field_name, task.path, display(data_file))
        documents.extend(found)
        errors.extend(problems)
    columns: dict[str, None] = {}
    for document in documents:
        columns.update(dict.fromkeys(document.doc))
    for column in columns:
        values = [d.doc.get(column) for d in documents]
        promote = any(isinstance(v, float) for v in values) and any(isinstance(v, int) and not isinstance(v, bool) for v in values)
        for document in documents:
            value = document.doc.setdefault(column, None)
            if promote and isinstance(value, int) and not isinstance(value, bool):
                document.doc[column] = float(value)
    if task.process_docs is not None:
        processed = list(task.process_docs(_Rows([d.doc for d in documents])))
        return [Document(dict(doc), task.data_files[0], 0) for doc in processed], errors
    return documents, errors


class _Rows(list):  # type: ignore[type-arg]
    """A list of documents with the ``map`` a process_docs function usually calls on a datasets.Dataset."""

    def map(self, function: Callable[[dict[str, Any]], dict[str, Any]], **_: Any) -> _Rows:
        return _Rows({**row, **function(row)} for row in self)


def _read_file(data_file: Path, field_name: str | None, task_path: Path, shown: str) -> tuple[list[Document], list[CaseError]]:
    try:
        raw = read_bytes(data_file, shown)
        text = decode(raw, shown) if data_file.suffix == ".json" or field_name else ""
    except FileProblem as exc:
        raise LmEvalError(task_path, "dataset_kwargs.data_files", str(exc)) from None
    if text:
        try:
            data = parse_json(text, shown)
        except FileProblem:
            data = None  # not one JSON document: read it as JSON Lines, as datasets does
        if data is not None:
            rows = data.get(field_name) if isinstance(data, dict) and field_name else data
            if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
                raise LmEvalError(task_path, "dataset_kwargs.field" if field_name else "dataset_path", f"{data_file} must hold a list of objects")
            return _checked([Document(dict(row), data_file, 1) for row in rows], shown)
    documents: list[Document] = []
    errors: list[CaseError] = []
    for number, line_bytes in raw_lines(raw):
        try:
            line = decode(line_bytes, shown, number)
            if not line.strip():
                continue
            row = parse_json(line, shown, number)
        except FileProblem as exc:
            errors.append(CaseError(shown, exc.line, exc.message))
            continue
        if not isinstance(row, dict):
            errors.append(CaseError(shown, number, "a document must be a JSON object"))
            continue
        documents.append(Document(row, data_file, number))
    kept, problems = _checked(documents, shown)
    return kept, errors + problems


def _checked(documents: list[Document], shown: str) -> tuple[list[Document], list[CaseError]]:
    """The documents whose values are safe to render and score, and an error for each of the others."""
    kept: list[Document] = []
    errors: list[CaseError] = []
    for document in documents:
        problem = value_problem(document.doc)
        if problem is None:
            kept.append(document)
        else:
            errors.append(CaseError(shown, document.line, f"the document {problem}"))
    return kept, errors
