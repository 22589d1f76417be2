"""Batching must not change what is scored: a tiny real transformers model, batched vs one at a time."""

from __future__ import annotations

import gc
import json
import random
import weakref
from collections.abc import Sequence
from pathlib import Path

import pytest

from pytest_taskbench.generation.base import BaseBackend, GenerationParams, Prompt
from pytest_taskbench.generation.engine import GenerationEngine, Job
from pytest_taskbench.generation.hf import CPU_TOKEN_BUDGET, TransformersBackend, collector_paused, resolve_device
from tests.helpers.tiny_models import SENTENCES, build_tiny_model


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def backend(tiny_model: Path) -> TransformersBackend:
    loaded = TransformersBackend(tiny_model, batch_size=4)
    loaded.load()
    return loaded


def prompts(count: int, seed: int = 0) -> list[Prompt]:
    words = " ".join(SENTENCES).split()
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 14)))
        made.append(Prompt(({"role": "user", "content": text},), text))
    return made


@pytest.mark.slow
@pytest.mark.parametrize("chat_template", [True, False])
def test_greedy_outputs_are_identical_batched_and_one_at_a_time(backend: TransformersBackend, chat_template: bool) -> None:
    params = GenerationParams(max_new_tokens=8, use_chat_template=chat_template)
    batch = prompts(12)
    backend.batch_size = 12
    batched = backend.generate(batch, params)
    alone = [backend.generate([prompt], params)[0] for prompt in batch]
    assert [g.error for g in batched] == [None] * 12
    assert [g.text for g in batched] == [g.text for g in alone]
    assert len({g.text for g in batched}) > 1  # the prompts really lead to different outputs


@pytest.mark.slow
def test_prompts_are_generated_longest_first(backend: TransformersBackend) -> None:
    batch = prompts(10, seed=3)
    params = GenerationParams()
    order = backend.order(batch, params)
    lengths = [len(backend.encode(batch[index], params)) for index in order]
    assert lengths == sorted(lengths, reverse=True)


@pytest.mark.slow
def test_auto_batch_size_comes_from_real_prompt_lengths(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    auto = TransformersBackend(tiny_model, batch_size=0)
    auto.load()
    monkeypatch.setattr(auto, "token_budget", lambda: 200)
    params = GenerationParams(max_new_tokens=10, use_chat_template=False)
    long_prompt = Prompt(({"role": "user", "content": "x"},), " ".join(["hello"] * 40))
    short_prompt = Prompt(({"role": "user", "content": "x"},), "hello world")
    batch = [short_prompt] * 30 + [long_prompt] * 3
    order = auto.order(batch, params)
    assert auto.next_batch_size(order, batch, params) == 200 // (40 + 10)  # the longest prompt in this batch sets it
    assert auto.next_batch_size(order[3:], batch, params) == 200 // (2 + 10)  # not the model's 256-token context
    outputs = auto.generate(batch, params)
    assert all(g.error is None for g in outputs)
    assert auto.model_calls == 1 + 2  # the 3 long prompts in one batch, then 30 short ones in batches of 16 and 14


@pytest.mark.slow
def test_token_budget_on_cpu_is_bounded(backend: TransformersBackend) -> None:
    assert 0 < backend.token_budget() <= CPU_TOKEN_BUDGET
    assert resolve_device("auto") in ("cpu", "cuda", "mps")


@pytest.mark.slow
def test_stop_sequences_are_honoured_in_the_text_the_scorer_sees(backend: TransformersBackend) -> None:
    params = GenerationParams(max_new_tokens=12)
    candidates = [(prompt, g.text or "") for prompt, g in zip(prompts(16), backend.generate(prompts(16), params))]
    prompt, full = next((prompt, text) for prompt, text in candidates if len(text.split()) >= 3)
    stop = " " + full.split()[2]
    cut = backend.generate([prompt], GenerationParams(max_new_tokens=12, stop=(stop,)))[0].text
    assert cut == full[: full.index(stop)]


class Flaky(BaseBackend):
    """Raises out-of-memory on batches larger than ``limit``, like a GPU would."""

    name = "flaky"

    def __init__(self, batch_size: int, limit: int) -> None:
        super().__init__(batch_size)
        self.limit = limit
        self.sizes: list[int] = []

    def identity(self) -> str:
        return "flaky"

    def is_out_of_memory(self, error: Exception) -> bool:
        return "out of memory" in str(error)

    def generate_batch(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[str]:
        self.sizes.append(len(prompts))
        if len(prompts) > self.limit:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [prompt.text.upper() for prompt in prompts]


def test_out_of_memory_halves_the_batch_and_loses_nothing() -> None:
    backend = Flaky(batch_size=16, limit=4)
    batch = prompts(40)
    outputs = backend.generate(batch, GenerationParams())
    assert [g.text for g in outputs] == [p.text.upper() for p in batch]
    assert backend.batch_size == 4  # later batches start at the size that fit
    assert backend.out_of_memory_backoffs >= 2
    assert backend.sizes[:3] == [16, 8, 4]
    assert max(backend.sizes[-5:]) == 4


def test_engine_generates_identical_prompts_once_and_checks_batching() -> None:
    backend = Flaky(batch_size=8, limit=100)
    prompt = prompts(1)[0]
    jobs = [Job(f"case{i}", prompt if i < 3 else prompts(1, seed=i)[0], GenerationParams(), f"case{i}") for i in range(6)]
    engine = GenerationEngine(lambda: backend)
    engine.plan(jobs)
    engine.prefetch()
    assert backend.sizes == [4]  # six jobs, four distinct prompts
    assert engine.counters.generated == 6 and engine.counters.batches == 1
    assert engine.check_batching(3) == []
    assert engine.counters.batching_checked == 3
    assert any("0 of 3 sampled outputs differ" in note for note in engine.notes())


def test_check_batching_reports_disagreements() -> None:
    class PaddingSensitive(Flaky):
        def generate_batch(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[str]:
            return [p.text + ("!" if len(prompts) > 1 else "") for p in prompts]

    engine = GenerationEngine(lambda: PaddingSensitive(batch_size=8, limit=100))
    engine.plan([Job(f"c{i}", p, GenerationParams(), f"c{i}") for i, p in enumerate(prompts(5, seed=9))])
    engine.prefetch()
    found = engine.check_batching(2)
    assert len(found) == 2 and all(d.batched == d.alone + "!" for d in found)
    assert "2 of 2 sampled outputs differ" in engine.notes()[0]


SUITE = """\
name: tiny
categories:
  chat: {weight: 1.0, scorer: exact_match}
generation: {max_new_tokens: 6}
"""


@pytest.mark.slow
def test_plugin_run_with_a_real_model_checks_batching_and_reuses_the_cache(pytester: pytest.Pytester, tiny_model: Path) -> None:
    cases = pytester.mkdir("cases")
    (cases / "taskbench.yaml").write_text(SUITE)
    rows = [{"id": f"c{i}", "input": p.text, "expected": "x", "category": "chat", "difficulty": "simple"} for i, p in enumerate(prompts(10, seed=5))]
    (cases / "chat.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    model = f"--taskbench-model={tiny_model}"
    first = pytester.runpytest(model, "--taskbench-batch-size=4", "--taskbench-check-batching=5", "--taskbench-pass-threshold=0")
    first.assert_outcomes(passed=10)
    first.stdout.fnmatch_lines(["*batching check: 0 of 5 sampled outputs differ when generated one at a time*"])
    with pytest.MonkeyPatch.context() as patch:  # served wholly from the cache: the weights are never loaded
        patch.setattr(TransformersBackend, "load", lambda self: pytest.fail("loaded the model for a fully cached run"))
        again = pytester.runpytest(model, "--taskbench-batch-size=auto", "--taskbench-pass-threshold=0")
    again.assert_outcomes(passed=10)
    again.stdout.fnmatch_lines(["*0 generated, 10 from cache*"])


@pytest.mark.slow
def test_loading_runs_one_full_collection_and_leaves_the_collector_on(tiny_model: Path) -> None:
    # the collector's repeated full passes over the growing torch/transformers heap cost 0.7 s of a 4 s load
    collections: list[int] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(record)
    try:
        TransformersBackend(tiny_model, batch_size=4).load()
    finally:
        gc.callbacks.remove(record)
    assert collections == [2]
    assert gc.isenabled()


def test_collector_paused_frees_cycles_made_inside_and_restores_the_callers_setting() -> None:
    class Node:
        pass

    with collector_paused():
        assert not gc.isenabled()
        node = Node()
        node.self = node  # type: ignore[attr-defined]
        alive = weakref.ref(node)
        del node
        assert alive() is not None  # a cycle: only the collector can free it
    assert alive() is None and gc.isenabled()

    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
