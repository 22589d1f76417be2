"""The backend interface: prompts in, generations out.

A backend implements ``generate_batch``; ``BaseBackend.generate`` adds what every
backend needs: batching, stop sequences, and isolating a failing prompt so one
bad case fails alone instead of taking its batch (or the session) down.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class GenerationParams:
    """Settings that change what a model generates (and so belong in the cache key)."""

    max_new_tokens: int = 128
    stop: tuple[str, ...] = ()
    temperature: float = 0.0  # 0 means greedy decoding
    use_chat_template: bool = True
    # sampling only (temperature > 0); None: the backend's own default. A run fills in ``seed`` for a sampled suite.
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None

    @property
    def sampled(self) -> bool:
        """Whether outputs are drawn at random (temperature above 0), so that repeated samples differ."""
        return self.temperature > 0


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

    Sampled suites (temperature above 0, ``repeats``) go through
    ``generate_samples_iter``, which asks ``generate_batch_samples`` for several
    samples of each prompt. Its default sends each prompt once per sample through
    ``generate_batch``; override it to draw a prompt's samples together (the
    transformers backend uses ``num_return_sequences``) or to seed each sample.
    """

    name = "backend"
    batch_counts_sequences = False  # True: next_batch_size sizes sequences (a prompt's N samples count N times)

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

    # several samples per prompt -------------------------------------------------------------------
    def generate_batch_samples(self, prompts: Sequence[Prompt], params: GenerationParams, samples: Sequence[Sequence[int]]) -> list[list[str]]:
        """For each prompt, one output per sample index in ``samples[i]`` (default: each prompt sent once per sample)."""
        flat = [prompt for prompt, indices in zip(prompts, samples) for _ in indices]
        texts = self.generate_batch(flat, params)
        if not isinstance(texts, list) or len(texts) != len(flat):
            raise TypeError(f"{self.name} returned {type(texts).__name__} for {len(flat)} prompts; expected a list of {len(flat)} strings")
        grouped, start = [], 0
        for indices in samples:
            grouped.append(texts[start : start + len(indices)])
            start += len(indices)
        return grouped

    def generate_samples_iter(
        self, prompts: Sequence[Prompt], params: GenerationParams, samples: Sequence[Sequence[int]]
    ) -> Iterator[tuple[list[int], list[list[Generation]]]]:
        """Yield ``(indices, samples per prompt)`` batch by batch: ``samples[i]`` names the sample indices wanted of prompt i.

        Batches are formed as in ``generate_iter`` (a batch holds ``next_batch_size`` prompts, each with its samples, or,
        when ``batch_counts_sequences``, that many sequences); a batch that runs out of memory is halved, and a single
        prompt's samples are split in two.
        """
        remaining = self.order(prompts, params)
        while remaining:
            size = max(1, self.next_batch_size(remaining, prompts, params))
            if self.batch_counts_sequences:
                size = max(1, size // max(1, len(samples[remaining[0]])))
            batch, remaining = remaining[:size], remaining[size:]
            yield batch, self._samples_isolated([prompts[i] for i in batch], params, [samples[i] for i in batch])

    def _samples_isolated(self, prompts: Sequence[Prompt], params: GenerationParams, samples: Sequence[Sequence[int]]) -> list[list[Generation]]:
        try:
            grouped = self._call_samples(prompts, params, samples)
        except Exception as exc:
            if self.is_out_of_memory(exc):
                self.out_of_memory_backoffs += 1
                if len(prompts) > 1:
                    self.batch_size = max(1, min(self.batch_size, len(prompts) // 2))
                    half = len(prompts) // 2
                    return self._samples_isolated(prompts[:half], params, samples[:half]) + self._samples_isolated(prompts[half:], params, samples[half:])
                if len(samples[0]) > 1:
                    half = len(samples[0]) // 2
                    first = self._samples_isolated(prompts, params, [samples[0][:half]])[0]
                    return [first + self._samples_isolated(prompts, params, [samples[0][half:]])[0]]
            if len(prompts) == 1:
                return [[Generation(None, f"{type(exc).__name__}: {exc}")] * len(samples[0])]
            return [group for prompt, indices in zip(prompts, samples) for group in self._samples_isolated([prompt], params, [indices])]
        return [[Generation(apply_stop(text, params.stop)) for text in texts] for texts in grouped]

    def _call_samples(self, prompts: Sequence[Prompt], params: GenerationParams, samples: Sequence[Sequence[int]]) -> list[list[str]]:
        self.model_calls += 1
        grouped = self.generate_batch_samples(prompts, params, samples)
        wanted = [len(indices) for indices in samples]
        if (
            not isinstance(grouped, list)
            or [len(texts) if isinstance(texts, list) else -1 for texts in grouped] != wanted
            or not all(isinstance(text, str) for texts in grouped for text in texts)
        ):
            raise TypeError(
                f"{self.name} returned {type(grouped).__name__} for {wanted} samples of {len(prompts)} prompts; expected a list of lists of strings"
            )
        return grouped

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
