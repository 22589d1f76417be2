"""The generation cache: every output a model produced, on disk, so nothing is generated twice.

An entry is keyed by the model's identity (``Backend.identity()``: weights,
tokenizer, chat template, dtype; see the README, "What the model's identity is made of"), the exact prompt (chat
messages and plain text) and every generation setting. Scorers, thresholds and
weights are not in the key, so changing them re-scores from the cache.

Layout: ``<dir>/v1/<model-digest>/<key[:2]>/<key>.json``, one small JSON file per
output. Each is written to a temporary file and moved into place with
``os.replace``, which is atomic, so

- an output is on disk as soon as its batch finishes: a run killed half way
  keeps everything generated so far and the next run resumes from there;
- concurrent writers (xdist workers, two CI jobs on one cache) never leave a
  half-written entry: the last writer of a key wins with a complete file.

A corrupt or unreadable entry is reported once (``problems``) and treated as a
miss, never raised; an entry that cannot be written is skipped and reported; only
a cache directory that takes no file at all turns the cache off for the run.
Domain code: no pytest import.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

from pytest_taskbench.generation.base import Backend, GenerationParams, Prompt, backend_identity
from pytest_taskbench.guards.files import json_text, value_problem

FORMAT = "v1"


SAMPLING_FIELDS = ("top_p", "top_k", "seed")  # in the key only when set, so a greedy run's keys are what they always were


def entry_key(identity: str, prompt: Prompt, params: GenerationParams, sample: int | None = None) -> str:
    """The cache key of one output: a sha256 over the model identity, the prompt, the settings and, for a sampled
    output, its sample index (sample i of a case is the same entry whatever ``repeats`` is, so raising it adds entries)."""
    settings = {name: value for name, value in asdict(params).items() if value is not None or name not in SAMPLING_FIELDS}
    material: dict[str, object] = {
        "model": identity,
        "messages": [dict(message) for message in prompt.messages],
        "text": prompt.text,
        "params": settings,
    }
    if sample is not None:
        material["sample"] = sample
    # surrogatepass: a prompt may hold a lone surrogate (a test's own prompt); it must still have a key
    return hashlib.sha256(json.dumps(material, sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class GenerationCache:
    """Outputs on disk under ``directory``, for one model identity.

    Args:
        directory: the cache root (shared by every model; each identity gets a folder).
        identity: the model's identity string (``Backend.identity()``).
        read: serve hits (False for ``--taskbench-refresh-cache``: regenerate, then overwrite).
    """

    directory: Path
    identity: str
    read: bool = True
    problem_counts: dict[str, int] = field(default_factory=dict)
    first_problem: dict[str, str] = field(default_factory=dict)
    disabled: bool = False

    @cached_property
    def model_directory(self) -> Path:
        digest = hashlib.sha256(self.identity.encode()).hexdigest()[:20]
        return self.directory / FORMAT / digest

    def _path(self, key: str) -> Path:
        return self.model_directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        """The cached output for ``key``, or None (a miss, a refresh, or an unreadable entry)."""
        if self.disabled or not self.read:
            return None
        path = self._path(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._problem("unreadable", f"cannot read cache entry {path}: {exc}; generating instead")
            return None
        try:
            entry = json.loads(raw)
            if not isinstance(entry, dict) or entry.get("key") != key or not isinstance(entry.get("output"), str):
                raise ValueError("not a taskbench cache entry for this key")
            if value_problem(entry["output"]) is not None:
                raise ValueError("the output is not valid text")
        except ValueError as exc:
            self._problem("corrupt", f"corrupt cache entry {path} ({exc}); ignored and regenerated")
            return None
        output: str = entry["output"]
        return output

    def put(self, key: str, output: str, meta: Mapping[str, object] | None = None) -> None:
        """Store one output atomically.

        An entry that cannot be written (its path taken by a directory, say) is skipped and
        reported; only a cache directory that takes no file at all turns caching off for the run.
        """
        if self.disabled:
            return
        path = self._path(key)
        entry = {"key": key, "output": output, "model": self.identity, **(meta or {})}
        try:
            _write_atomically(path, json_text(entry))
        except OSError as exc:
            if self._writable():
                self._problem("entry", f"cannot write cache entry {path}: {exc.strerror or exc}; that output is not cached")
                return
            self._problem("unwritable", f"cannot write the generation cache at {self.directory}: {exc.strerror or exc}; caching is off for this run")
            self.disabled = True

    def _writable(self) -> bool:
        """Whether the cache takes a new file at all (a probe written and removed)."""
        try:
            self.model_directory.mkdir(parents=True, exist_ok=True)
            handle, probe = tempfile.mkstemp(dir=self.model_directory, prefix=".probe-")
            os.close(handle)
            os.unlink(probe)
        except OSError:
            return False
        return True

    def entries(self) -> int:
        """How many outputs this model has in the cache."""
        if not self.model_directory.is_dir():
            return 0
        return sum(1 for _ in self.model_directory.glob("*/*.json"))

    @property
    def problems(self) -> list[str]:
        """One line per kind of problem met (the first instance, and how many more), never one per entry."""
        lines = []
        for kind, message in self.first_problem.items():
            more = self.problem_counts[kind] - 1
            lines.append(message + (f" (and {more} more like it)" if more else ""))
        return lines

    def _problem(self, kind: str, message: str) -> None:
        self.first_problem.setdefault(kind, message)
        self.problem_counts[kind] = self.problem_counts.get(kind, 0) + 1


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def clear_cache(directory: Path) -> int:
    """Delete every cached output under ``directory`` (all models); returns how many were removed."""
    root = directory / FORMAT
    if not root.is_dir():
        return 0
    removed = sum(1 for _ in root.glob("*/*/*.json"))
    shutil.rmtree(root, ignore_errors=True)
    return removed


def open_cache(backend: Backend, directory: Path | None, *, enabled: bool = True, read: bool = True) -> GenerationCache | None:
    """The cache for ``backend`` under ``directory``, or None when caching is off or the backend has no identity."""
    if not enabled or directory is None:
        return None
    identity = backend_identity(backend)
    if identity is None:
        return None  # a custom backend that cannot say what it is must not share outputs with another
    return GenerationCache(Path(directory), identity, read=read)
