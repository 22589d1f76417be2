"""Generate outputs ahead of the items that need them, in batches.

The plugin plans every case that will run (in run order). The first item that
asks for an output triggers generation of everything planned from that point
on, grouped by generation settings, so a session makes few large batched calls
instead of one call per item.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from pytest_taskbench.generation.base import Backend, Generation, GenerationParams, Prompt


@dataclass(frozen=True)
class Job:
    key: Hashable
    prompt: Prompt
    params: GenerationParams


@dataclass
class EngineCounters:
    generated: int = 0
    cached: int = 0
    errors: int = 0
    generation_seconds: float = 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {"generated": self.generated, "cached": self.cached, "errors": self.errors, "generation_seconds": round(self.generation_seconds, 3)}


class GenerationEngine:
    def __init__(self, backend_factory: Callable[[], Backend]) -> None:
        self._backend_factory = backend_factory
        self._backend: Backend | None = None
        self._planned: list[Job] = []
        self._position: dict[Hashable, int] = {}
        self._results: dict[Hashable, Generation] = {}
        self._lookahead: int | None = None
        self.counters = EngineCounters()

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = self._backend_factory()
        return self._backend

    def plan(self, jobs: Sequence[Job], lookahead: int | None = None) -> None:
        """Record the jobs the session will need, in the order items will run.

        ``lookahead`` caps how many planned jobs one miss generates (None: all that follow).
        """
        self._planned = list(jobs)
        self._lookahead = lookahead
        self._position = {job.key: index for index, job in enumerate(self._planned)}

    def get(self, job: Job) -> Generation:
        """The generation for ``job``, generating it (and the planned jobs after it) if needed."""
        if job.key not in self._results:
            start = self._position.get(job.key)
            end = None if start is None or self._lookahead is None else start + self._lookahead
            pending = [job] if start is None else [j for j in self._planned[start:end] if j.key not in self._results]
            self._generate(pending)
        return self._results[job.key]

    def _generate(self, jobs: Sequence[Job]) -> None:
        by_params: dict[GenerationParams, list[Job]] = {}
        for job in jobs:
            by_params.setdefault(job.params, []).append(job)
        for params, group in by_params.items():
            began = time.perf_counter()
            generations = self.backend.generate([job.prompt for job in group], params)
            self.counters.generation_seconds += time.perf_counter() - began
            for job, generation in zip(group, generations):
                self._results[job.key] = generation
                self.counters.generated += 1
                self.counters.errors += generation.error is not None

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
