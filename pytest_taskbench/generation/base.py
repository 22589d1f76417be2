"""The backend interface: prompts in, generations out.

A backend implements ``generate_batch``; ``BaseBackend.generate`` adds what every
backend needs: batching, stop sequences, and isolating a failing prompt so one
bad case fails alone instead of taking its batch (or the session) down.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class GenerationParams:
    """Settings that change what a model generates (and so belong in the cache key)."""

    max_new_tokens: int = 128
    stop: tuple[str, ...] = ()
    temperature: float = 0.0  # 0 means greedy decoding
    use_chat_template: bool = True


@dataclass(frozen=True)
class Prompt:
    """One prompt in both forms: chat messages, and the plain text used when no chat template applies.

    ``tools`` are the functions the model may call, as OpenAI ``tools`` entries
    (``{"type": "function", "function": {"name", "description", "parameters"}}``); a backend
    renders them with the chat template or sends them to the server. ``tool_choice`` is sent
    as the request's ``tool_choice`` when it is set.
    """

    messages: tuple[Mapping[str, str], ...]
    text: str
    tools: tuple[Mapping[str, Any], ...] = ()
    tool_choice: str | Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Generation:
    """The outcome for one prompt: text, or an error message saying why there is none."""

    text: str | None
    error: str | None = None
    cached: bool = False
    details: Mapping[str, object] = field(default_factory=dict)


class ModelLoadError(Exception):
    """The model could not be found or loaded; the plugin turns this into one usage error."""


class Backend(Protocol):
    """What the plugin needs from a model."""

    name: str

    def identity(self) -> str:
        """A string that changes whenever the model's outputs could change (weights, tokenizer, template)."""
        ...

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        """One Generation per prompt, in order. Must not raise for a single bad prompt."""
        ...

    def close(self) -> None: ...


class BaseBackend:
    """Base class for backends; register a factory that returns one with ``@backend("name")``.

    Override ``generate_batch`` (required), ``identity`` (required for caching:
    a backend whose ``identity`` raises NotImplementedError is never cached)
    and ``close`` (optional). To batch better, override ``order`` (the order
    prompts are generated in, e.g. by length to limit padding),
    ``next_batch_size`` (e.g. sized from the prompts' real lengths) and
    ``is_out_of_memory`` (a batch that fails with it is halved, not retried one
    by one). A ``load`` method, if you add one, is called before the first
    batch. Do not override ``generate`` or ``generate_iter``: they batch,
    apply stop sequences and isolate a failing prompt.
    """

    name = "backend"

    def __init__(self, batch_size: int = 8) -> None:
        self.batch_size = max(1, batch_size)
        self.model_calls = 0
        self.out_of_memory_backoffs = 0
        self.weight_loads = 0  # times the model itself was loaded (weights read, module imported)

    def identity(self) -> str:
        raise NotImplementedError

    def generate_batch(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[str]:
        raise NotImplementedError

    def close(self) -> None:
        return None

    def order(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[int]:
        """Indices of ``prompts`` in the order to generate them (default: as given)."""
        return list(range(len(prompts)))

    def next_batch_size(self, remaining: Sequence[int], prompts: Sequence[Prompt], params: GenerationParams) -> int:
        """How many of the ``remaining`` prompts (indices, in generation order) go in the next batch."""
        return self.batch_size

    def is_out_of_memory(self, error: Exception) -> bool:
        return False

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        results: list[Generation] = [Generation(None, "not generated")] * len(prompts)
        for indices, generations in self.generate_iter(prompts, params):
            for index, generation in zip(indices, generations):
                results[index] = generation
        return results

    def generate_iter(self, prompts: Sequence[Prompt], params: GenerationParams) -> Iterator[tuple[list[int], list[Generation]]]:
        """Yield ``(indices, generations)`` batch by batch, as each finishes, so callers can store outputs early."""
        remaining = self.order(prompts, params)
        while remaining:
            size = max(1, self.next_batch_size(remaining, prompts, params))
            batch, remaining = remaining[:size], remaining[size:]
            yield batch, self._generate_isolated([prompts[index] for index in batch], params)

    def _generate_isolated(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        try:
            texts = self._call(prompts, params)
        except Exception as exc:
            if len(prompts) == 1:
                return [Generation(None, f"{type(exc).__name__}: {exc}")]
            if self.is_out_of_memory(exc):
                self.out_of_memory_backoffs += 1
                self.batch_size = max(1, min(self.batch_size, len(prompts) // 2))
                half = len(prompts) // 2
                return self._generate_isolated(prompts[:half], params) + self._generate_isolated(prompts[half:], params)
            return [generation for prompt in prompts for generation in self._generate_isolated([prompt], params)]
        return [Generation(apply_stop(text, params.stop)) for text in texts]

    def _call(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[str]:
        self.model_calls += 1
        texts = self.generate_batch(prompts, params)
        if not isinstance(texts, list) or len(texts) != len(prompts) or not all(isinstance(t, str) for t in texts):
            raise TypeError(f"{self.name} returned {type(texts).__name__} for {len(prompts)} prompts; expected a list of {len(prompts)} strings")
        return texts


def backend_identity(backend: object) -> str | None:
    """``backend.identity()``, or None for a backend that cannot say what it is (no ``identity``, or it raises NotImplementedError)."""
    identity = getattr(backend, "identity", None)
    if not callable(identity):
        return None
    try:
        value = identity()
    except NotImplementedError:
        return None
    return value if isinstance(value, str) else None


def apply_stop(text: str, stop: Sequence[str]) -> str:
    """Cut ``text`` at the earliest stop sequence, so the scorer sees what an API with ``stop`` returns."""
    cut = len(text)
    for sequence in stop:
        if sequence:
            position = text.find(sequence)
            if position != -1:
                cut = min(cut, position)
    return text[:cut]
