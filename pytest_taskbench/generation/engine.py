"""Generate outputs ahead of the items that need them, in batches, through the cache.

The plugin plans every case that will run (in run order). The first item that
asks for an output triggers generation of everything planned from that point
on (or ``lookahead`` jobs under xdist), grouped by generation settings, so a
session makes few large batched calls instead of one call per item.

Before generating, each job is looked up in the cache; each batch is written to
the cache as soon as it finishes, so a killed run resumes where it stopped.
Identical prompts with identical settings are generated once.

A job may ask for several samples (``repeats``). With sampling on (temperature
above 0) each sample is its own cache entry, keyed by its index, and only the
missing indices are generated, a prompt's samples together in one backend call
(``generate_samples_iter``): raising ``repeats`` from 5 to 8 generates samples
5, 6 and 7. With greedy decoding the samples would be identical, so one output
is generated and repeated.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
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
    samples: int = 1  # outputs wanted (repeats); distinct ones only when params.sampled

    @property
    def distinct(self) -> int:
        """How many different outputs to produce: ``samples`` when sampling, else one (repeated)."""
        return self.samples if self.params.sampled else 1


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
        self._results: dict[Hashable, list[Generation]] = {}
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

    def facts(self) -> dict[str, str | float | int]:
        """What the backend says about how it generated (device, dtype, requests in flight), for the generation line."""
        facts = getattr(self._backend, "generation_facts", None) if self._backend is not None else None
        return dict(facts()) if callable(facts) else {}

    def needs_model(self) -> bool:
        """Whether some planned output is missing from the cache, so that the model must be loaded to produce it."""
        cache = self._cache if not isinstance(self.backend, OutputSource) else None
        if cache is None:
            return True
        for job in self._planned:
            base = entry_key(cache.identity, job.prompt, job.params)
            for index in range(job.distinct):
                if cache.get(entry_key(cache.identity, job.prompt, job.params, index) if job.params.sampled else base) is None:
                    return True
        return False

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
        """The (first) generation for ``job``, generating it (and the planned jobs after it) if needed."""
        return self.samples(job)[0]

    def samples(self, job: Job) -> list[Generation]:
        """``job.samples`` generations for ``job``, generating what is missing (and the planned jobs after it)."""
        if job.key not in self._results:
            self._generate(self._pending_from(job))
        generations = self._results[job.key]
        if job.key not in self._served:
            self._served.add(job.key)
            self.counters.served += job.distinct if len(generations) == job.samples else 1
        return generations

    def produce(self, jobs: Sequence[Job]) -> list[Generation]:
        """The first generation of each job, generating those not produced yet together (one round of conversation turns)."""
        missing = [job for job in dict((job.key, job) for job in jobs).values() if job.key not in self._results]
        if missing:
            self._generate(missing)
        for job in jobs:
            if job.key not in self._served:
                self._served.add(job.key)
                self.counters.served += 1
        return [self._results[job.key][0] for job in jobs]

    def generated(self, key: Hashable) -> Generation | None:
        """The (first) generation already produced for ``key`` (None: not yet), without generating or counting it as served."""
        generations = self._results.get(key)
        return generations[0] if generations else None

    def _pending_from(self, job: Job) -> list[Job]:
        start = self._position.get(job.key)
        if start is None:
            return [job]
        if self._upcoming is not None:
            wanted = set(self._upcoming())
            return [job] + [j for j in self._planned if j.key in wanted and j.key != job.key and j.key not in self._results]
        end = None if self._lookahead is None else start + self._lookahead
        return [j for j in self._planned[start:end] if j.key not in self._results]

    def _store(self, job: Job, generations: list[Generation]) -> None:
        self._results[job.key] = generations
        self._jobs[job.key] = job

    def _generate(self, jobs: Sequence[Job]) -> None:
        backend = self.backend
        if isinstance(backend, OutputSource):  # saved outputs: one per case, whatever repeats asks
            for job, answer in zip(jobs, backend.outputs_for(jobs)):
                generation = checked(answer)
                self._store(job, [generation])
                self.counters.loaded += generation.text is not None
                self.counters.errors += generation.text is None
            return
        cache = self._cache
        identity = cache.identity if cache is not None else ""  # read once, when the cache was opened
        slots: dict[Hashable, list[Generation | None]] = {job.key: [None] * job.distinct for job in jobs}
        # Identical prompt + settings (two cases asking the same thing) are generated once: each missing
        # output is a (prompt key, sample index) with the jobs waiting for it.
        misses: dict[str, Miss] = {}
        for job in jobs:
            base = entry_key(identity, job.prompt, job.params)
            for index in range(job.distinct):
                key = entry_key(identity, job.prompt, job.params, index) if job.params.sampled else base
                text = cache.get(key) if cache is not None else None
                if text is not None:
                    slots[job.key][index] = Generation(text, cached=True)
                    self.counters.cached += 1
                else:
                    miss = misses.setdefault(base, Miss(job.prompt, job.params))
                    miss.waiting.setdefault(index, []).append(job.key)
        try:
            if misses:
                self._generate_misses(backend, cache, identity, misses, slots, cached=sum(g is not None for s in slots.values() for g in s))
        finally:
            for job in jobs:
                filled = slots[job.key]
                if all(generation is not None for generation in filled):
                    done = [generation for generation in filled if generation is not None]
                    self._store(job, done if job.params.sampled else done * job.samples)

    def _generate_misses(
        self,
        backend: Backend,
        cache: GenerationCache | None,
        identity: str,
        misses: dict[str, Miss],
        slots: dict[Hashable, list[Generation | None]],
        cached: int,
    ) -> None:
        self.load()
        began = time.perf_counter()
        state = Progress(total=sum(len(miss.waiting) for miss in misses.values()), done=0, cached=cached, seconds=0.0)
        self._report(state)
        # one backend round per (settings, samples wanted): a batch's prompts all want as many samples
        rounds: dict[tuple[GenerationParams, int], list[Miss]] = {}
        for miss in misses.values():
            rounds.setdefault((miss.params, len(miss.waiting) if miss.params.sampled else 0), []).append(miss)
        try:
            for (params, _), group in rounds.items():
                prompts = [miss.prompt for miss in group]
                if params.sampled:
                    wanted = [sorted(miss.waiting) for miss in group]
                    batches = _sample_batches(backend, prompts, params, wanted)
                else:
                    wanted = [[0] for _ in group]
                    batches = ((indices, [[g] for g in generations]) for indices, generations in _batches(backend, prompts, params))
                for positions, per_prompt in batches:
                    self.counters.batches += 1
                    for position, generations in zip(positions, per_prompt):
                        miss = group[position]
                        for index, answer in zip(wanted[position], generations):
                            generation = checked(answer)
                            if cache is not None and generation.text is not None:
                                key = entry_key(identity, miss.prompt, params, index if params.sampled else None)
                                cache.put(key, generation.text, {"sample": index} if params.sampled else None)
                            for job_key in miss.waiting[index]:
                                slots[job_key][index] = generation
                                self.counters.generated += 1
                                self.counters.errors += generation.text is None
                            state.done += 1
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
        candidates = sorted((key for key, g in self._results.items() if g[0].text is not None and not self._jobs[key].params.sampled), key=str)
        chosen = random.Random(seed).sample(candidates, min(sample, len(candidates)))
        found: list[Disagreement] = []
        for key in chosen:
            job = self._jobs[key]
            alone = backend.generate([job.prompt], job.params)[0]
            batched = self._results[key][0].text or ""
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


@dataclass
class Miss:
    """A prompt (with its settings) whose outputs are not in the cache: by sample index, the jobs waiting for each."""

    prompt: Prompt
    params: GenerationParams
    waiting: dict[int, list[Hashable]] = field(default_factory=dict)


def _sample_batches(backend: Any, prompts: Sequence[Prompt], params: GenerationParams, samples: Sequence[Sequence[int]]) -> Any:
    """``backend.generate_samples_iter`` when it has one (BaseBackend, the HTTP backend), else each prompt repeated once per sample."""
    if hasattr(backend, "generate_samples_iter"):
        return backend.generate_samples_iter(prompts, params, samples)
    flat = [prompt for prompt, indices in zip(prompts, samples) for _ in indices]
    generations = backend.generate(flat, params)
    grouped, start = [], 0
    for indices in samples:
        grouped.append(list(generations[start : start + len(indices)]))
        start += len(indices)
    return iter([(list(range(len(prompts))), grouped)])


def _batches(backend: Any, prompts: Sequence[Prompt], params: GenerationParams) -> Any:
    """``backend.generate_iter`` when it has one (BaseBackend), else one call for everything."""
    if hasattr(backend, "generate_iter"):
        return backend.generate_iter(prompts, params)
    return iter([(list(range(len(prompts))), backend.generate(prompts, params))])
