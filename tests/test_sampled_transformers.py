"""Sampling with a real transformers checkpoint: num_return_sequences, seeding, reproducibility through pytest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_taskbench.generation.base import GenerationParams, Prompt
from tests.helpers.tiny_models import build_tiny_model

pytestmark = pytest.mark.slow  # builds and loads a real checkpoint

WORDS = ["hello world", "book a meeting", "cancel my order", "the quick fox", "what is the weather", "send a refund"]
PROMPTS = [Prompt(({"role": "user", "content": w},), w) for w in WORDS[:3]]
HOT = GenerationParams(max_new_tokens=6, temperature=1.5, seed=3)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("sampling") / "model")


def texts(checkpoint: Path, params: GenerationParams, samples: list[list[int]]) -> tuple[list[list[str | None]], int]:
    from pytest_taskbench.generation.hf import TransformersBackend

    backend = TransformersBackend(checkpoint, batch_size=8)
    produced = [[g.text for g in group] for _, groups in backend.generate_samples_iter(PROMPTS, params, samples) for group in groups]
    return produced, backend.model_calls


def test_a_batch_draws_every_prompts_samples_in_one_call_the_same_way_each_time(checkpoint: Path) -> None:
    import torch

    state = torch.random.get_rng_state()
    first, calls = texts(checkpoint, HOT, [[0, 1, 2, 3]] * 3)
    assert calls == 1 and all(len(group) == 4 for group in first)
    assert torch.equal(torch.random.get_rng_state(), state)  # the process's own random state is left alone
    assert any(len(set(group)) > 1 for group in first)  # samples differ
    again, _ = texts(checkpoint, HOT, [[0, 1, 2, 3]] * 3)
    assert again == first  # same batch, same seed: same samples
    other, _ = texts(checkpoint, GenerationParams(max_new_tokens=6, temperature=1.5, seed=4), [[0, 1, 2, 3]] * 3)
    assert other != first


def test_the_prompts_run_once_and_the_samples_are_those_num_return_sequences_draws(checkpoint: Path) -> None:
    import torch

    from pytest_taskbench.generation.hf import TransformersBackend

    prompts = [Prompt(({"role": "user", "content": w},), w) for w in ["hello", "book a meeting with ana on friday at noon", "the quick fox"]]
    backend = TransformersBackend(checkpoint, batch_size=8)
    calls: list[tuple[int, int]] = []
    backend.load()
    model = backend._model
    assert model is not None
    hook = model.register_forward_pre_hook(lambda _module, args, kwargs: calls.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    try:
        shared = backend.generate_batch_samples(prompts, HOT, [[0, 1, 2, 3]] * 3)
    finally:
        hook.remove()
    assert calls[0][0] == 3 and all(rows == 12 for rows, _ in calls[1:])  # the prompts once (left-padded), then 4 samples of each
    assert calls[1][1] == 1  # generate starts from the cached prompt: only the last prompt token is new
    backend._share_prefill = False
    assert backend.generate_batch_samples(prompts, HOT, [[0, 1, 2, 3]] * 3) == shared  # the same seed draws the same samples either way
    # greedy continuations from the shared cache equal those of the prompts run whole (left padding and positions are right)
    features = [{"input_ids": backend.encode(prompt, HOT)} for prompt in prompts]
    encoded = backend._tokenizer.pad(features, padding=True, return_tensors="pt")
    with torch.inference_mode():
        whole = model.generate(**{k: v.repeat_interleave(2, dim=0) for k, v in encoded.items()}, do_sample=False, max_new_tokens=6)
        backend._share_prefill = True
        prefilled = backend._prefill(dict(encoded), 2)
        assert prefilled is not None
        continued = model.generate(**prefilled, do_sample=False, max_new_tokens=6)
    assert torch.equal(whole, continued)


SUITE = """\
name: sampled
categories:
  chat: {weight: 1.0, scorer: exact_match}
generation: {max_new_tokens: 5, temperature: 1.5}
repeats: 3
"""


def test_the_same_command_draws_the_same_samples(pytester: pytest.Pytester, checkpoint: Path) -> None:
    cases = pytester.path / "cases"
    cases.mkdir()
    (cases / "taskbench.yaml").write_text(SUITE)
    rows = [{"id": f"c{i}", "input": w, "expected": "-", "category": "chat", "difficulty": "simple"} for i, w in enumerate(WORDS)]
    (cases / "chat.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    logs = []
    for run in range(2):
        result = pytester.runpytest_subprocess("cases", f"--taskbench-model={checkpoint}", "--taskbench-no-cache", f"--taskbench-log-samples=run{run}.jsonl")
        result.stdout.fnmatch_lines(["samples: 3 per case (policy mean)*", "generation: 18 outputs (18 generated, 0 from cache)*"])
        logs.append([line["samples"] for line in map(json.loads, (pytester.path / f"run{run}.jsonl").read_text().splitlines())])
    assert logs[0] == logs[1] and len(logs[0]) == 6
    assert len({s["output"] for case in logs[0] for s in case}) > 6  # real sampling: more than one output per case overall


def test_a_warm_rerun_loads_no_model_and_more_repeats_generate_only_the_new_samples(pytester: pytest.Pytester, checkpoint: Path) -> None:
    cases = pytester.path / "cases"
    cases.mkdir()
    (cases / "taskbench.yaml").write_text(SUITE)
    rows = [{"id": f"c{i}", "input": w, "expected": "-", "category": "chat", "difficulty": "simple"} for i, w in enumerate(WORDS)]
    (cases / "chat.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    model = f"--taskbench-model={checkpoint}"
    first = pytester.runpytest_subprocess("cases", model, "--taskbench-log-samples=first.jsonl")
    first.stdout.fnmatch_lines(["generation: 18 outputs (18 generated, 0 from cache)*model loaded 1 time; on cpu (float32)"])
    warm = pytester.runpytest_subprocess("cases", model, "--taskbench-log-samples=warm.jsonl")
    warm.stdout.fnmatch_lines(["generation: 18 outputs (0 generated, 18 from cache) in *s"])  # no "model loaded": nothing was
    assert (pytester.path / "warm.jsonl").read_text() == (pytester.path / "first.jsonl").read_text()
    more = pytester.runpytest_subprocess("cases", model, "--taskbench-repeats=5", "--taskbench-log-samples=more.jsonl")
    more.stdout.fnmatch_lines(["samples: 5 per case*", "generation: 30 outputs (12 generated, 18 from cache)*model loaded 1 time; on cpu (float32)"])
    before = [line["samples"] for line in map(json.loads, (pytester.path / "first.jsonl").read_text().splitlines())]
    after = [line["samples"] for line in map(json.loads, (pytester.path / "more.jsonl").read_text().splitlines())]
    assert [samples[:3] for samples in after] == before  # the first three samples of each case are the cached ones
