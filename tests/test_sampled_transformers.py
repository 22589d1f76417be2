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
