"""Generate outputs ahead of the items that need them, in batches, through the cache.

The plugin plans every case that will run (in run order). The first item that
asks for an output triggers generation of everything planned from that point
on (or ``lookahead`` jobs under xdist), grouped by generation settings, so a
session makes few large batched calls instead of one call per item.

Before generating, each job is looked up in the cache; each batch is written to
the cache as soon as it finishes, so a killed run resumes where it stopped.
Identical prompts with identical settings are generated once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Protocol, runtime_checkable

from pytest_taskbench.generation.base import Backend, Generation, GenerationParams, Prompt
from pytest_taskbench.generation.cache import GenerationCache, entry_key
from pytest_taskbench.guards.files import escape_surrogates, value_problem


@dataclass(frozen=True)
class Job:
    """One output to produce. ``key`` is the item's nodeid; ``case_id`` lets saved outputs be found by case id."""

    key: Hashable
    prompt: Prompt
    params: GenerationParams
    case_id: str = ""


@runtime_checkable
class OutputSource(Protocol):
    """A backend that answers jobs by case (saved outputs), not by prompt."""

    def outputs_for(self, jobs: Sequence[Job]) -> list[Generation]: ...


@dataclass
class Progress:
    """Where one round of generation stands, for a progress display."""

    total: int
    done: int
    cached: int
    seconds: float
    finished: bool = False


ProgressCallback = Callable[[Progress], None]


@dataclass
class EngineCounters:
    generated: int = 0
    cached: int = 0
    loaded: int = 0
    errors: int = 0
    model_calls: int = 0
    batches: int = 0
    generation_seconds: float = 0.0
    batching_checked: int = 0
    batching_disagreements: int = 0
    served: int = 0  # outputs handed to the cases that asked for them (generated or cached ones no case asked for are not)

    def as_dict(self) -> dict[str, float | int]:
        values: dict[str, float | int] = {f.name: getattr(self, f.name) for f in fields(self)}
        values["generation_seconds"] = round(self.generation_seconds, 3)
        return values


@dataclass(frozen=True)
class Disagreement:
    """A case whose output generated alone differs from its batched output."""

    key: Hashable
    batched: str
    alone: str


CacheFactory = Callable[[Backend], "GenerationCache | None"]


class GenerationEngine:
    def __init__(self, backend_factory: Callable[[], Backend], cache_factory: CacheFactory | None = None, progress: ProgressCallback | None = None) -> None:
        self._backend_factory = backend_factory
        self._cache_factory = cache_factory
        self._backend: Backend | None = None
        self._cache: GenerationCache | None = None
        self._planned: list[Job] = []
        self._position: dict[Hashable, int] = {}
        self._results: dict[Hashable, Generation] = {}
        self._jobs: dict[Hashable, Job] = {}
        self._lookahead: int | None = None
        self._upcoming: Callable[[], Iterable[Hashable]] | None = None
        self._served: set[Hashable] = set()
        self.progress = progress
        self.counters = EngineCounters()
        self.disagreements: list[Disagreement] = []

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = self._backend_factory()
            if self._cache_factory is not None and not isinstance(self._backend, OutputSource):
                self._cache = self._cache_factory(self._backend)
        return self._backend

    @property
    def weight_loads(self) -> int:
        """How often the model itself was loaded in this process (0 when every output came from the cache)."""
        return getattr(self._backend, "weight_loads", 0) if self._backend is not None else 0

    @property
    def out_of_memory_backoffs(self) -> int:
        """How often a batch ran out of memory and was split (the backend lowers its batch size each time)."""
        return getattr(self._backend, "out_of_memory_backoffs", 0) if self._backend is not None else 0

    def load(self) -> None:
        """Load the model's weights now (backends with a ``load`` method); raises ModelLoadError."""
        if isinstance(self.backend, OutputSource):
            return  # saved outputs: read when the backend was made (its ``load`` is the classmethod that made it)
        load = getattr(self.backend, "load", None)
        if callable(load):
            load()

    def plan(self, jobs: Sequence[Job], lookahead: int | None = None, upcoming: Callable[[], Iterable[Hashable]] | None = None) -> None:
        """Record the jobs the session will need, in the order items will run.

        A miss generates the planned jobs that follow it: with ``upcoming``, the
        jobs whose keys it returns (under pytest-xdist, the items already sent to
        this worker, so nothing is generated that another worker runs); else up to
        ``lookahead`` of them (None: all).
        """
        self._planned = list(jobs)
        self._lookahead = lookahead
        self._upcoming = upcoming
        self._position = {job.key: index for index, job in enumerate(self._planned)}

    def prefetch(self) -> None:
        """Produce every planned output now (what the first miss would do), e.g. before items run."""
        pending = [job for job in self._planned[: self._lookahead] if job.key not in self._results]
        if pending:
            self._generate(pending)

    def get(self, job: Job) -> Generation:
        """The generation for ``job``, generating it (and the planned jobs after it) if needed."""
        if job.key not in self._results:
            self._generate(self._pending_from(job))
        if job.key not in self._served:
            self._served.add(job.key)
            self.counters.served += 1
        return self._results[job.key]

    def generated(self, key: Hashable) -> Generation | None:
        """The generation already produced for ``key`` (None: not yet), without generating or counting it as served."""
        return self._results.get(key)

    def _pending_from(self, job: Job) -> list[Job]:
        start = self._position.get(job.key)
        if start is None:
            return [job]
        if self._upcoming is not None:
            wanted = set(self._upcoming())
            return [job] + [j for j in self._planned if j.key in wanted and j.key != job.key and j.key not in self._results]
        end = None if self._lookahead is None else start + self._lookahead
        return [j for j in self._planned[start:end] if j.key not in self._results]

    def _store(self, job: Job, generation: Generation) -> None:
        self._results[job.key] = generation
        self._jobs[job.key] = job

    def _generate(self, jobs: Sequence[Job]) -> None:
        backend = self.backend
        if isinstance(backend, OutputSource):
            for job, answer in zip(jobs, backend.outputs_for(jobs)):
                generation = checked(answer)
                self._store(job, generation)
                self.counters.loaded += generation.text is not None
                self.counters.errors += generation.text is None
            return
        cache = self._cache
        identity = cache.identity if cache is not None else ""  # read once, when the cache was opened
        # Identical prompt + settings (two cases asking the same thing) are generated once.
        misses: dict[str, list[Job]] = {}
        for job in jobs:
            key = entry_key(identity, job.prompt, job.params)
            text = cache.get(key) if cache is not None else None
            if text is not None:
                self._store(job, Generation(text, cached=True))
                self.counters.cached += 1
            else:
                misses.setdefault(key, []).append(job)
        if not misses:
            return
        self.load()
        began = time.perf_counter()
        state = Progress(total=len(misses), done=0, cached=len(jobs) - sum(len(group) for group in misses.values()), seconds=0.0)
        self._report(state)
        by_params: dict[GenerationParams, list[str]] = {}
        for key, group in misses.items():
            by_params.setdefault(group[0].params, []).append(key)
        try:
            for params, keys in by_params.items():
                prompts = [misses[key][0].prompt for key in keys]
                for indices, generations in _batches(backend, prompts, params):
                    self.counters.batches += 1
                    for index, answer in zip(indices, generations):
                        generation = checked(answer)
                        key = keys[index]
                        if cache is not None and generation.text is not None:
                            cache.put(key, generation.text)
                        for job in misses[key]:
                            self._store(job, generation)
                            self.counters.generated += 1
                            self.counters.errors += generation.text is None
                    state.done += len(indices)
                    state.seconds = time.perf_counter() - began
                    self._report(state)
        finally:
            self.counters.generation_seconds += time.perf_counter() - began
            self.counters.model_calls = int(getattr(backend, "model_calls", self.counters.model_calls))
        state.finished = True
        self._report(state)

    def _report(self, state: Progress) -> None:
        if self.progress is not None:
            self.progress(state)

    def check_batching(self, sample: int, seed: int = 0) -> list[Disagreement]:
        """Regenerate up to ``sample`` produced outputs one prompt at a time and list those that differ.

        Batching pads prompts to a common length; in low precision that can flip a
        near-tie between two tokens, so a batched greedy output may differ from the
        one-at-a-time output. This measures how often it happens on this run.
        """
        backend = self.backend
        if isinstance(backend, OutputSource) or sample <= 0:
            return []
        candidates = sorted((key for key, g in self._results.items() if g.text is not None), key=str)
        chosen = random.Random(seed).sample(candidates, min(sample, len(candidates)))
        found: list[Disagreement] = []
        for key in chosen:
            job = self._jobs[key]
            alone = backend.generate([job.prompt], job.params)[0]
            batched = self._results[key].text or ""
            if alone.text is not None and alone.text != batched:
                found.append(Disagreement(key, batched, alone.text))
        self.counters.batching_checked += len(chosen)
        self.counters.batching_disagreements += len(found)
        self.disagreements.extend(found)
        return found

    def notes(self) -> list[str]:
        """Lines for the summary: cache problems, batching disagreements."""
        lines = list(self._cache.problems) if self._cache is not None else []
        if self.counters.batching_checked:
            lines.append(
                f"batching check: {self.counters.batching_disagreements} of {self.counters.batching_checked} sampled outputs differ when generated one at a time"
            )
            lines.extend(f"  {d.key}: batched {d.batched[:60]!r} vs alone {d.alone[:60]!r}" for d in self.disagreements[:10])
        return lines

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()


def checked(generation: Generation) -> Generation:
    """A generation whose text and error are valid text: an output holding a lone surrogate (a
    ``"\\ud800"`` escape from a server or a callable) fails its case instead of every writer after it."""
    if generation.text is not None:
        problem = value_problem(generation.text)
        if problem is not None:
            return replace(generation, text=None, error=f"the model's output {problem}")
    if generation.error is not None and value_problem(generation.error) is not None:
        return replace(generation, error=escape_surrogates(generation.error))
    return generation


def _batches(backend: Any, prompts: Sequence[Prompt], params: GenerationParams) -> Any:
    """``backend.generate_iter`` when it has one (BaseBackend), else one call for everything."""
    if hasattr(backend, "generate_iter"):
        return backend.generate_iter(prompts, params)
    return iter([(list(range(len(prompts))), backend.generate(prompts, params))])
