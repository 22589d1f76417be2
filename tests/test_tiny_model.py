"""The shipped tiny model (models/): its training script, its size, and that it loads and answers offline."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import yaml

from pytest_taskbench.cases import Case, load_case_file
from pytest_taskbench.suite import Suite, load_suite
from tests.helpers.scripts import script

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
JSON_CHECKPOINTS = ("task-api-tiny", "task-api-tiny-early")
TOOL_CHECKPOINT = "task-api-tiny-tools"
CHECKPOINTS = (*JSON_CHECKPOINTS, TOOL_CHECKPOINT)
MAX_BYTES = 10 * 1024 * 1024


def training_module() -> ModuleType:
    """scripts/train_tiny_model.py imported as a module."""
    return script("train_tiny_model")


@lru_cache(maxsize=1)
def suite() -> Suite:
    return load_suite(ROOT / "cases" / "taskbench.yaml")


@lru_cache(maxsize=1)
def suite_cases() -> tuple[Case, ...]:
    categories = list(suite().categories)
    return tuple(case for path in suite().case_files() for case in load_case_file(path, categories=categories).cases)


def normalise(text: str) -> str:
    return " ".join(text.casefold().split())


# --------------------------------------------------------------------------- training data


@pytest.mark.slow  # builds the whole training set: seconds, and only the training script can change it
def test_training_data_is_deterministic_for_a_seed() -> None:
    make = training_module().make_training_data
    assert make(3, 500) == make(3, 500)
    assert make(3, 500) != make(4, 500)


@pytest.mark.slow  # builds the whole training set: seconds, and only the training script can change it
def test_training_answers_follow_the_suite_schema() -> None:
    validator = jsonschema.Draft202012Validator(suite().schema)
    examples = training_module().make_training_data(n=3000)
    assert [example.expected for example in examples if not validator.is_valid(example.expected)] == []
    assert {example.expected["action"] for example in examples} == {"create", "update", "complete", "delete", "list", "clarify"}


@pytest.mark.slow  # builds training sets: seconds, and only the training script can change it
def test_made_up_words_appear_only_when_asked_for_and_only_during_that_call() -> None:
    module = training_module()
    known = {word.casefold() for word in [*module.VERBS, *module.ADJECTIVES, *module.NOUNS]}

    def title_words(examples: list[Any]) -> set[str]:
        return {word.casefold() for example in examples for word in str(example.expected.get("title", "")).split()}

    plain, wild = module.make_training_data(5, 400), module.make_training_data(5, 400, wild_share=0.5)
    assert module.make_training_data(5, 400, wild_share=0.0) == plain
    made_up = title_words(wild) - title_words(plain) - known
    assert len(made_up) > 100
    assert module.make_training_data(5, 400) == plain  # the share is restored after the call

    def words(conversations: list[Any]) -> set[str]:
        return {word for conversation in conversations for word in re.findall(r"[a-z]+", conversation.text().casefold())}

    plain_words = words(module.make_conversation_data(5, 50))
    assert len(words(module.make_conversation_data(5, 50, wild_share=0.5)) - plain_words - known) > 20


@pytest.mark.slow  # builds the whole training set: seconds, and only the training script can change it
def test_the_tool_call_data_is_deterministic_and_its_calls_follow_the_tool_schemas() -> None:
    make = training_module().make_tool_training_data
    assert make(3, 300) == make(3, 300)
    assert make(3, 300) != make(4, 300)
    tools = {tool.name: tool for tool in load_suite(ROOT / "cases-tools" / "taskbench.yaml").tools}
    examples = make(n=2000)
    for example in examples:
        assert {call["name"] for call in example.calls} <= set(example.tools)
        for call in example.calls:
            assert jsonschema.Draft202012Validator(tools[call["name"]].parameters).is_valid(call["arguments"]), call
    assert {call["name"] for example in examples for call in example.calls} == set(tools)
    assert any(len(example.calls) == 2 for example in examples) and any(len(example.tools) < len(tools) for example in examples)


@lru_cache(maxsize=1)
def training_requests_and_corpus() -> tuple[frozenset[str], str]:
    """Every request of the three training sets (each turn of a conversation on its own), and all their texts."""
    module = training_module()
    examples = [*module.make_training_data(), *module.make_tool_training_data()]
    conversations = module.make_conversation_data()
    requests = {normalise(example.request) for example in examples} | {normalise(text) for conversation in conversations for text in conversation.requests}
    corpus = "\n".join(normalise(example.text()) for example in [*examples, *conversations])
    return frozenset(requests), corpus


def conversation_turns() -> list[tuple[str, str]]:
    """(case id, user text) of every turn of the shipped conversation suite."""
    turns = []
    for path in sorted((ROOT / "cases" / "conversations").glob("*.yaml")):
        if path.name != "taskbench.yaml":
            turns += [(case["id"], turn["user"]) for case in yaml.safe_load(path.read_text(encoding="utf-8")) for turn in case["turns"]]
    return turns


@pytest.mark.slow  # builds the whole training set: seconds, and only the training script can change it
def test_no_case_input_appears_in_the_training_data() -> None:
    requests, corpus = training_requests_and_corpus()
    assert [case.id for case in suite_cases() if normalise(case.request_text) in requests] == []
    long_inputs = [case for case in suite_cases() if len(case.request_text) >= 20]
    assert [case.id for case in long_inputs if normalise(case.request_text) in corpus] == []


@pytest.mark.slow  # builds the whole training set: seconds, and only the training script can change it
def test_no_conversation_turn_appears_in_the_training_data() -> None:
    """The conversation suite's turns are neither training requests nor (when long enough to be distinctive) inside a training text."""
    requests, corpus = training_requests_and_corpus()
    turns = conversation_turns()
    assert len(turns) > 500
    assert [(case_id, text) for case_id, text in turns if len(text) >= 12 and normalise(text) in requests] == []
    assert [(case_id, text) for case_id, text in turns if len(text) >= 20 and normalise(text) in corpus] == []


@pytest.mark.slow  # builds the whole training set: seconds, and only the training script can change it
def test_making_the_training_data_reads_no_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """The training data comes from the script's own templates: it cannot see the suite."""
    module = training_module()

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"make_training_data opened a file: {args!r}")

    monkeypatch.setattr("builtins.open", refuse)
    monkeypatch.setattr(Path, "open", refuse)
    monkeypatch.setattr(Path, "read_text", refuse)
    monkeypatch.setattr(Path, "read_bytes", refuse)
    assert len(module.make_training_data(n=200)) == 200
    assert len(module.make_tool_training_data(n=200)) == 200
    assert len(module.make_conversation_data(n=200)) == 200


def test_the_training_script_uses_the_suite_prompt_and_reference_date() -> None:
    module = training_module()
    assert module.PROMPT_TEMPLATE == suite().prompt_template
    assert module.REFERENCE_DATE == str(suite().reference_date)
    case = Case(id="x", category="edge_cases", difficulty="simple", expected={}, input="add milk")
    assert module.render_prompt("add milk") == suite().prompt_for(case).text


# --------------------------------------------------------------------------- the checkpoints


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_the_checkpoint_is_complete_safetensors_and_at_most_10_mb(name: str) -> None:
    directory = MODELS / name
    files = {path.name for path in directory.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "training_info.json"} <= files
    assert "pytorch_model.bin" not in files
    if name == TOOL_CHECKPOINT:  # the chat template of its training, and how `transformers serve` reads its calls
        assert (directory / "chat_template.jinja").read_text(encoding="utf-8") == training_module().CHAT_TEMPLATE
        config = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8"))
        assert config["response_template"] == training_module().RESPONSE_TEMPLATE
    else:  # the JSON suite sends its plain prompt
        assert "chat_template.jinja" not in files
    assert sum(path.stat().st_size for path in directory.iterdir()) <= MAX_BYTES


def test_the_early_checkpoint_stopped_sooner_with_a_higher_loss() -> None:
    final = json.loads((MODELS / "task-api-tiny" / "training_info.json").read_text(encoding="utf-8"))
    early = json.loads((MODELS / "task-api-tiny-early" / "training_info.json").read_text(encoding="utf-8"))
    assert early["step"] < final["step"]
    assert early["loss_last_50"] > final["loss_last_50"]
    assert final["seed"] == early["seed"] == training_module().SEED


def test_the_tool_checkpoint_was_trained_like_the_json_one_on_tool_calls() -> None:
    tools = json.loads((MODELS / TOOL_CHECKPOINT / "training_info.json").read_text(encoding="utf-8"))
    final = json.loads((MODELS / "task-api-tiny" / "training_info.json").read_text(encoding="utf-8"))
    assert tools["variant"] == "tools" and tools["seed"] == training_module().SEED
    module = training_module()
    assert tools["config"] == {**final["config"], "max_length": module.TOOL_MAX_LENGTH, "steps": module.TOOL_STEPS}
    assert tools["step"] == module.TOOL_STEPS and tools["loss_last_50"] < 0.1


def test_the_json_checkpoints_were_trained_on_single_requests_and_conversations_mixed() -> None:
    module = training_module()
    for name in JSON_CHECKPOINTS:
        facts = json.loads((MODELS / name / "training_info.json").read_text(encoding="utf-8"))
        assert facts["config"]["steps"] == module.TrainingConfig.steps and facts["seed"] == module.SEED
        assert facts["conversation_share"] == module.CONVERSATION_SHARE and facts["conversations"] > 0.9 * module.NUM_CONVERSATIONS
    assert json.loads((MODELS / "task-api-tiny-early" / "training_info.json").read_text(encoding="utf-8"))["step"] == int(
        module.TrainingConfig.steps * module.EARLY_FRACTION
    )


@pytest.fixture(scope="module")
def offline() -> Any:
    previous = {key: os.environ.get(key) for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    yield
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.mark.slow
def test_the_models_and_tokenizers_load_offline_with_eos_pad_and_the_chat_template_of_their_training(offline: None) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pytest_taskbench.generation.hf import TransformersBackend

    module = training_module()
    variant = load_suite(ROOT / "cases-tools" / "taskbench.yaml")
    request = "add milk to the list"
    tool_case = Case(id="x", category="edge_cases", difficulty="simple", expected={}, input=request, tools=variant.tools)
    json_case = Case(id="x", category="edge_cases", difficulty="simple", expected={}, input=request)
    for name in CHECKPOINTS:
        tokenizer = AutoTokenizer.from_pretrained(MODELS / name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(MODELS / name, local_files_only=True)
        assert tokenizer.eos_token and tokenizer.pad_token and tokenizer.eos_token != tokenizer.pad_token
        assert model.config.eos_token_id == tokenizer.eos_token_id
        assert sum(parameter.numel() for parameter in model.parameters()) < 2_500_000
        assert bool(getattr(tokenizer, "chat_template", None)) == (name == TOOL_CHECKPOINT)
    backend = TransformersBackend(MODELS / TOOL_CHECKPOINT)
    # the tool suite's prompt, rendered by the checkpoint's chat template, is the training prompt ...
    assert backend.render(variant.prompt_for(tool_case), variant.generation) == module.render_tool_prompt(request)
    # ... and without tools the chat template renders the plain prompt
    with_template = replace(suite().generation, use_chat_template=True)
    assert backend.render(suite().prompt_for(json_case), with_template) == module.render_prompt(request)
    tokenizer = AutoTokenizer.from_pretrained(MODELS / TOOL_CHECKPOINT, local_files_only=True)
    answer = module.ToolExample(request, ({"name": "create_task", "arguments": {"title": "Milk"}},)).answer()
    ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    parsed = tokenizer.parse_response(ids, prefix=module.render_tool_prompt(request))  # what `transformers serve` does
    assert parsed["tool_calls"] == [{"type": "function", "function": {"name": "create_task", "arguments": {"title": "Milk"}}}]


SAMPLE_IDS = (
    "action_057",
    "action_058",
    "action_059",
    "action_061",
    "entity_055",
    "entity_056",
    "entity_057",
    "default_058",
    "edge_039",
    "edge_042",
    "format_056",
    "format_058",
)


@pytest.mark.slow
def test_the_shipped_model_answers_simple_cases_with_schema_valid_json(offline: None) -> None:
    from pytest_taskbench.generation.hf import TransformersBackend

    cases = {case.id: case for case in suite_cases()}
    sample = [cases[case_id] for case_id in SAMPLE_IDS]
    backend = TransformersBackend(MODELS / "task-api-tiny", batch_size=8)
    generations = backend.generate([suite().prompt_for(case) for case in sample], suite().generation)
    validator = jsonschema.Draft202012Validator(suite().schema)
    answers = []
    for case, generation in zip(sample, generations):
        assert generation.error is None, case.id
        answer = json.loads(generation.text or "")
        assert validator.is_valid(answer), (case.id, answer)
        answers.append(answer)
    right_actions = sum(answer["action"] == case.expected["action"] for case, answer in zip(sample, answers))
    assert right_actions >= 10, [(case.id, answer) for case, answer in zip(sample, answers)]


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_a_slice_of_the_shipped_suite_runs_against_the_shipped_model(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The quick start in miniature: the real suite files, the real model, the real plugin, in a subprocess."""
    suite_copy = pytester.path / "cases"
    suite_copy.mkdir()
    for path in (ROOT / "cases").iterdir():
        if path.is_file():  # the Task API suite; cases/conversations/ is a suite of its own
            (suite_copy / path.name).write_bytes(path.read_bytes())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = pytester.runpytest_subprocess("cases", "-k", "action_05", f"--taskbench-model={MODELS / 'task-api-tiny'}", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 10, result.stdout.str()
    assert outcomes.get("passed", 0) >= 6
    result.stdout.fnmatch_lines(["*taskbench: task-api*", "10 of 500 cases ran*", "action_recognition * 10 *", "*verdict: PASS*"])
    assert result.ret == 0  # cases below the pass threshold fail as items; the gates decide the exit status
