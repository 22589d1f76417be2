"""The backend interface: prompts in, generations out.

A backend implements ``generate_batch``; ``BaseBackend.generate`` adds what every
backend needs: batching, stop sequences, and isolating a failing prompt so one
bad case fails alone instead of taking its batch (or the session) down.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class GenerationParams:
    """Settings that change what a model generates (and so belong in the cache key)."""

    max_new_tokens: int = 128
    stop: tuple[str, ...] = ()
    temperature: float = 0.0  # 0 means greedy decoding
    use_chat_template: bool = True


@dataclass(frozen=True)
class Prompt:
    """One prompt in both forms: chat messages, and the plain text used when no chat template applies."""

    messages: tuple[Mapping[str, str], ...]
    text: str


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
    """Base class for backends.

    Override ``generate_batch`` (required), ``identity`` (required for caching)
    and ``close`` (optional). Do not override ``generate``: it batches, applies
    stop sequences and retries a failed batch one prompt at a time.
    """

    name = "backend"

    def __init__(self, batch_size: int = 8) -> None:
        self.batch_size = max(1, batch_size)
        self.model_calls = 0

    def identity(self) -> str:
        raise NotImplementedError

    def generate_batch(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[str]:
        raise NotImplementedError

    def close(self) -> None:
        return None

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        results: list[Generation] = []
        for start in range(0, len(prompts), self.batch_size):
            results.extend(self._generate_isolated(prompts[start : start + self.batch_size], params))
        return results

    def _generate_isolated(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        try:
            texts = self._call(prompts, params)
        except Exception as exc:
            if len(prompts) == 1:
                return [Generation(None, f"{type(exc).__name__}: {exc}")]
            return [generation for prompt in prompts for generation in self._generate_isolated([prompt], params)]
        return [Generation(apply_stop(text, params.stop)) for text in texts]

    def _call(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[str]:
        self.model_calls += 1
        texts = self.generate_batch(prompts, params)
        if not isinstance(texts, list) or len(texts) != len(prompts) or not all(isinstance(t, str) for t in texts):
            raise TypeError(f"{self.name} returned {type(texts).__name__} for {len(prompts)} prompts; expected a list of {len(prompts)} strings")
        return texts


def apply_stop(text: str, stop: Sequence[str]) -> str:
    """Cut ``text`` at the earliest stop sequence, so the scorer sees what an API with ``stop`` returns."""
    cut = len(text)
    for sequence in stop:
        if sequence:
            position = text.find(sequence)
            if position != -1:
                cut = min(cut, position)
    return text[:cut]
