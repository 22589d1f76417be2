"""Generating samples: one call per batch, a cache entry per sample index, resuming, the callable and HTTP backends."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pytest_taskbench.generation.base import BaseBackend, GenerationParams, Prompt
from pytest_taskbench.generation.cache import GenerationCache
from pytest_taskbench.generation.callable import CallableBackend
from pytest_taskbench.generation.engine import GenerationEngine, Job
from pytest_taskbench.generation.http import HttpBackend, HttpOptions

SAMPLED = GenerationParams(max_new_tokens=8, temperature=0.7, seed=11)
PROMPTS = [Prompt(({"role": "user", "content": f"q{i}"},), f"q{i}") for i in range(3)]


class Recording(BaseBackend):
    """Answers ``prompt#index@seed``; records each call's (prompt, sample indices) and can die after some calls."""

    name = "recording"

    def __init__(self, die_after: int | None = None) -> None:
        super().__init__(batch_size=2)
        self.calls: list[list[tuple[str, list[int]]]] = []
        self.die_after = die_after

    def identity(self) -> str:
        return "recording-v1"

    def generate_batch_samples(self, prompts: Sequence[Prompt], params: GenerationParams, samples: Sequence[Sequence[int]]) -> list[list[str]]:
        if self.die_after is not None and len(self.calls) >= self.die_after:
            raise KeyboardInterrupt  # a killed run: nothing after this batch is generated or cached
        self.calls.append([(p.text, list(s)) for p, s in zip(prompts, samples)])
        return [[f"{p.text}#{i}@{params.seed}" for i in s] for p, s in zip(prompts, samples)]

    def generated(self) -> int:
        return sum(len(indices) for call in self.calls for _, indices in call)


def run(backend: BaseBackend, cache_dir: Path, repeats: int, params: GenerationParams = SAMPLED) -> list[list[str | None]]:
    engine = GenerationEngine(lambda: backend, cache_factory=lambda b: GenerationCache(cache_dir, "recording-v1"))
    jobs = [Job(f"case{i}", prompt, params, f"case{i}", repeats) for i, prompt in enumerate(PROMPTS)]
    engine.plan(jobs)
    engine.prefetch()
    return [[g.text for g in engine.samples(job)] for job in jobs]


def test_each_prompt_asks_for_all_its_samples_in_one_call(tmp_path: Path) -> None:
    backend = Recording()
    outputs = run(backend, tmp_path, 4)
    assert outputs[0] == [f"q0#{i}@11" for i in range(4)]
    assert backend.calls == [[("q0", [0, 1, 2, 3]), ("q1", [0, 1, 2, 3])], [("q2", [0, 1, 2, 3])]]  # two prompts a batch, each with its four


def test_raising_repeats_generates_only_the_new_indices_and_settings_miss(tmp_path: Path) -> None:
    run(Recording(), tmp_path, 5)
    more = Recording()
    outputs = run(more, tmp_path, 8)
    assert more.generated() == 3 * 3 and {tuple(indices) for call in more.calls for _, indices in call} == {(5, 6, 7)}
    assert outputs[1] == [f"q1#{i}@11" for i in range(8)]  # 0-4 from the cache, 5-7 new
    warm = Recording()
    run(warm, tmp_path, 8)
    assert warm.calls == []  # nothing left to generate
    for changed in (GenerationParams(max_new_tokens=8, temperature=0.9, seed=11), GenerationParams(max_new_tokens=8, temperature=0.7, seed=12)):
        other = Recording()
        run(other, tmp_path, 2, changed)
        assert other.generated() == 6  # another temperature or seed: every sample misses


def test_a_killed_run_resumes_from_the_samples_it_cached(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        run(Recording(die_after=1), tmp_path, 3)  # the first batch (q0, q1) finished; then the run was killed
    resumed = Recording()
    outputs = run(resumed, tmp_path, 3)
    assert resumed.calls == [[("q2", [0, 1, 2])]]
    assert outputs[0] == ["q0#0@11", "q0#1@11", "q0#2@11"]


def test_greedy_repeats_generate_one_output_and_repeat_it(tmp_path: Path) -> None:
    class Greedy(Recording):
        def generate_batch(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[str]:
            self.calls.append([(p.text, [0]) for p in prompts])
            return [p.text.upper() for p in prompts]

    backend = Greedy()
    outputs = run(backend, tmp_path, 4, GenerationParams(max_new_tokens=8))
    assert outputs[2] == ["Q2"] * 4 and backend.generated() == 3


def test_a_callable_gets_each_prompts_sample_index_and_an_old_one_still_works() -> None:
    seen: list[tuple[list[str], list[int]]] = []

    def with_samples(prompts: list[str], samples: list[int]) -> list[str]:
        seen.append((prompts, samples))
        return [f"{p}/{s}" for p, s in zip(prompts, samples)]

    backend = CallableBackend("m:with_samples", with_samples)
    [(_, first)] = list(backend.generate_samples_iter(PROMPTS[:1], SAMPLED, [[0, 1, 2]]))
    assert [g.text for g in first[0]] == ["q0/0", "q0/1", "q0/2"] and seen == [(["q0", "q0", "q0"], [0, 1, 2])]
    assert [g.text for g in backend.generate(PROMPTS[:1], SAMPLED)] == ["q0/0"]  # plain generation: sample 0

    old = CallableBackend("m:old", lambda prompts: [p[::-1] for p in prompts])
    [(_, groups)] = list(old.generate_samples_iter(PROMPTS[:2], SAMPLED, [[0, 1], [0, 1]]))
    assert [[g.text for g in group] for group in groups] == [["0q", "0q"], ["1q", "1q"]]


# the HTTP backend against a stdlib server scripted to honour "n" or not ---------------------------


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, Any]]]:
    state: dict[str, Any] = {"honour_n": True, "requests": []}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state["requests"].append(body)
            n = body.get("n", 1) if state["honour_n"] else 1
            text = body["messages"][-1]["content"]
            choices = [{"index": i, "message": {"role": "assistant", "content": f"{text}:seed{body.get('seed')}:choice{i}"}} for i in range(n)]
            data = json.dumps({"choices": list(reversed(choices))}).encode()  # out of order: the backend sorts by index
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_address[1]}/v1", state
    finally:
        http.shutdown()
        http.server_close()


def test_http_asks_for_n_samples_in_one_request_when_the_server_honours_it(server: tuple[str, dict[str, Any]]) -> None:
    url, state = server
    backend = HttpBackend(url, HttpOptions(model="m", concurrency=1))
    [(_, [samples])] = list(backend.generate_samples_iter(PROMPTS[:1], GenerationParams(temperature=0.7, top_p=0.9, seed=5), [[0, 1, 2]]))
    assert [g.text for g in samples] == ["q0:seed5:choice0", "q0:seed5:choice1", "q0:seed5:choice2"]
    [request] = state["requests"]
    assert request["n"] == 3 and request["seed"] == 5 and request["top_p"] == 0.9 and request["temperature"] == 0.7 and "top_k" not in request


def test_http_falls_back_to_one_request_per_sample_with_distinct_seeds(server: tuple[str, dict[str, Any]]) -> None:
    url, state = server
    state["honour_n"] = False  # answers one choice whatever n says, as `transformers serve` does
    backend = HttpBackend(url, HttpOptions(model="m", concurrency=1))
    params = GenerationParams(temperature=0.7, seed=5)
    [(_, [samples])] = list(backend.generate_samples_iter(PROMPTS[:1], params, [[0, 1, 2]]))
    assert [g.text for g in samples] == ["q0:seed5:choice0", "q0:seed6:choice0", "q0:seed7:choice0"]
    assert [(r.get("n"), r["seed"]) for r in state["requests"]] == [(3, 5), (None, 6), (None, 7)]
    state["requests"].clear()
    list(backend.generate_samples_iter(PROMPTS[1:2], params, [[3, 4]]))
    assert [(r.get("n"), r["seed"]) for r in state["requests"]] == [(None, 8), (None, 9)]  # learnt: n is not asked for again


def test_a_greedy_http_request_is_what_it_always_was(server: tuple[str, dict[str, Any]]) -> None:
    url, state = server
    HttpBackend(url, HttpOptions(model="m")).generate(PROMPTS[:1], GenerationParams(max_new_tokens=5))
    assert set(state["requests"][0]) == {"model", "max_tokens", "temperature", "stream", "messages"}


def test_out_of_memory_halves_the_prompts_then_a_prompts_samples() -> None:
    class Small(Recording):
        def is_out_of_memory(self, error: Exception) -> bool:
            return isinstance(error, MemoryError)

        def generate_batch_samples(self, prompts: Sequence[Prompt], params: GenerationParams, samples: Sequence[Sequence[int]]) -> list[list[str]]:
            if sum(len(s) for s in samples) > 2:  # room for two sequences at a time
                raise MemoryError("out of memory")
            return super().generate_batch_samples(prompts, params, samples)

    backend = Small()
    [(_, groups)] = list(backend.generate_samples_iter(PROMPTS[:2], SAMPLED, [[0, 1, 2, 3], [0, 1, 2, 3]]))
    assert [[g.text for g in group] for group in groups] == [[f"q{p}#{i}@11" for i in range(4)] for p in range(2)]
    assert backend.calls == [[("q0", [0, 1])], [("q0", [2, 3])], [("q1", [0, 1])], [("q1", [2, 3])]]
    assert backend.batch_size == 1 and backend.out_of_memory_backoffs == 3  # the pair, then each prompt's four samples
