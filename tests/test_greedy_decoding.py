"""The greedy loop that drops finished rows (generation/greedy.py) gives exactly what ``generate`` gives."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pytest_taskbench.generation.base import GenerationParams, Prompt
from pytest_taskbench.generation.greedy import changed_settings
from pytest_taskbench.generation.hf import TransformersBackend

SHIPPED = Path(__file__).resolve().parent.parent / "models" / "task-api-tiny"
REQUESTS = [
    "add milk",
    "remind me to call Ana tomorrow at 3pm, high priority",
    "delete the dentist appointment",
    "what's on my list",
    "mark the report as done",
    "schedule a high priority meeting with John tomorrow at 3pm about the quarterly roadmap and budget",
    "pay rent on the 1st",
    "hmm",
    "move the standup to Friday 9:30 and tag it work",
    "cancel everything",
    "set the priority of water plants to low",
    "book flights to Lisbon for the conference next month and put it under travel",
]


def prompt(text: str) -> Prompt:
    return Prompt(({"role": "user", "content": text},), text)


def backend_for(path: Path, *, loop: bool) -> TransformersBackend:
    backend = TransformersBackend(path, batch_size=len(REQUESTS), threads=1)
    backend.load()
    backend._greedy_loop = None if loop else False  # None: decided from the model, as a run decides it
    return backend


def outputs(path: Path, params: GenerationParams, prompts: list[Prompt], *, loop: bool) -> list[str | None]:
    return [g.text for g in backend_for(path, loop=loop).generate(prompts, params)]


@pytest.fixture(scope="module")
def random_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped architecture and byte-level tokenizer with random weights: answers of every length, stop strings mid-token."""
    import shutil

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    target = tmp_path_factory.mktemp("random") / "model"
    config = AutoConfig.from_pretrained(SHIPPED, local_files_only=True)
    config.num_hidden_layers = 2
    torch.manual_seed(3)
    AutoModelForCausalLM.from_config(config).save_pretrained(target)
    for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        shutil.copy(SHIPPED / name, target / name)
    return target


@pytest.mark.slow
def test_the_shipped_model_answers_the_same_through_the_loop_and_through_generate() -> None:
    params = GenerationParams(max_new_tokens=96, stop=("\n",))
    prompts = [prompt(f"Today is Wednesday 2026-03-04.\nRequest: {request}\nJSON:") for request in REQUESTS]
    looped = backend_for(SHIPPED, loop=True)
    texts = [g.text for g in looped.generate(prompts, params)]
    assert looped._greedy_loop is True  # the loop really ran
    assert texts == outputs(SHIPPED, params, prompts, loop=False)
    assert len({len(text or "") for text in texts}) > 4  # rows finished at different steps


@pytest.mark.slow
def test_stop_strings_and_end_of_sequence_stop_each_row_where_generate_stops_it(random_model: Path) -> None:
    rng = random.Random(5)
    prompts = [prompt(" ".join(rng.choice(REQUESTS).split()[: rng.randint(1, 9)])) for _ in range(12)]
    free = outputs(random_model, GenerationParams(max_new_tokens=24), prompts, loop=False)
    # stop strings taken from inside the unstopped answers: each row meets one (or none) at its own step
    stops = tuple(sorted({text[len(text) // 3 : len(text) // 3 + 2] for text in free[:4] if text and len(text) > 6}))
    assert stops
    params = GenerationParams(max_new_tokens=24, stop=stops)
    stopped = outputs(random_model, params, prompts, loop=True)
    assert stopped == outputs(random_model, params, prompts, loop=False)
    assert stopped != free
    assert outputs(random_model, GenerationParams(max_new_tokens=24), prompts, loop=True) == free


@pytest.mark.slow
def test_a_model_whose_generation_config_changes_greedy_tokens_is_left_to_generate(random_model: Path, tmp_path: Path) -> None:
    import shutil

    from transformers import GenerationConfig

    penalised = tmp_path / "penalised"
    shutil.copytree(random_model, penalised)
    config = GenerationConfig.from_pretrained(penalised)
    config.repetition_penalty = 1.8
    config.save_pretrained(penalised)
    backend = backend_for(penalised, loop=True)
    prompts = [prompt(request) for request in REQUESTS[:4]]
    params = GenerationParams(max_new_tokens=16)
    texts = [g.text for g in backend.generate(prompts, params)]
    assert changed_settings(backend._model) == ["repetition_penalty"]
    assert backend._greedy_loop is False
    assert texts == outputs(penalised, params, prompts, loop=False)
    assert texts != outputs(random_model, params, prompts, loop=False)  # the penalty changes the answers the loop would have given


@pytest.mark.slow
def test_a_cache_with_reserved_room_gives_the_logits_of_one_that_grows_bit_for_bit(random_model: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, DynamicCache

    from pytest_taskbench.generation.greedy import reserve

    model = AutoModelForCausalLM.from_pretrained(random_model, local_files_only=True).eval()
    ids = torch.randint(2, 1000, (6, 40), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[:3, :11] = 0  # left padding on half the rows
    runs = []
    for reserved in (False, True):
        with torch.inference_mode():
            kv, step_mask = DynamicCache(), mask.clone()
            positions = (step_mask.cumsum(-1) - 1).clamp(min=0)
            logits = model(input_ids=ids, attention_mask=step_mask, position_ids=positions, past_key_values=kv, use_cache=True).logits[:, -1]
            if reserved:
                reserve(kv, 8)
                assert type(kv.layers[0]).__name__ == "ReservedLayer"
            position, steps = positions[:, -1:] + 1, []
            for step in range(12):  # past the 8 reserved positions: the layer grows as a DynamicLayer does
                tokens = logits.argmax(-1)
                if step in (4, 10):  # rows leave the batch, as finished rows do: inside the room, then after it ran out
                    keep = torch.tensor([0, 2, 5]) if step == 4 else torch.tensor([0, 2])
                    kv.batch_select_indices(keep)
                    step_mask, position, tokens = step_mask[keep], position[keep], tokens[keep]
                step_mask = torch.cat([step_mask, step_mask.new_ones((step_mask.shape[0], 1))], dim=1)
                logits = model(input_ids=tokens[:, None], attention_mask=step_mask, position_ids=position + step, past_key_values=kv, use_cache=True).logits[
                    :, -1
                ]
                steps.append(logits)
        runs.append(steps)
    assert all(torch.equal(plain, reserved) for plain, reserved in zip(*runs))
