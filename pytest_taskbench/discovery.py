"""Which files below a suite root are its case files: the rule collection and ``Suite.case_files`` share."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

CASE_FILE_SUFFIXES = (".jsonl", ".yaml", ".yml", ".json")


def iter_case_files(root: Path, patterns: Sequence[str], exclude: Sequence[Path] = (), nested_suite: str | None = None) -> Iterator[Path]:
    """Case files below a suite root, in sorted order (the same rule collection uses).

    With ``nested_suite`` (the suite file's name), a folder below ``root`` that holds such a
    file is another suite, and its files are not this one's.
    """
    excluded = {p.resolve() for p in exclude}
    for candidate in sorted(root.rglob("*")):
        if candidate.is_file() and is_case_file_name(candidate, root, patterns) and candidate.resolve() not in excluded:
            if nested_suite is None or not _in_nested_suite(candidate, root, nested_suite):
                yield candidate


def _in_nested_suite(path: Path, root: Path, suite_file: str) -> bool:
    directory = path.parent
    while directory != root and root in directory.parents:
        if (directory / suite_file).is_file():
            return True
        directory = directory.parent
    return False


def is_case_file_name(path: Path, root: Path, patterns: Sequence[str]) -> bool:
    """True when ``path`` (below ``root``) has a case-file suffix, matches a pattern, and no part starts with '.' or '_'."""
    relative = path.relative_to(root)
    if any(part.startswith((".", "_")) for part in relative.parts):
        return False
    if path.suffix.lower() not in CASE_FILE_SUFFIXES:
        return False
    return any(relative.match(pattern) or path.match(pattern) for pattern in patterns)
