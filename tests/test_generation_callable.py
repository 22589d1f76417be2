"""A Python function as the model: a list of strings by default, the whole prompt and settings with ``@prompt_model``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_taskbench import GenerationParams, Prompt, prompt_model
from pytest_taskbench.generation.callable import CallableBackend
from tests.helpers.suites import jsonl

SUITE = """\
name: whole-prompt
categories:
  seen: {weight: 1, scorer: json_equal}
prompt:
  system: "Answer in JSON."
  template: "Request: {input}"
  chat_template: false
generation: {max_new_tokens: 7, stop: ["\\n\\n"], temperature: 0.25}
"""
# What each model saw, as JSON: the case's expected value is exactly that, so a case passes only when the model got it.
WHOLE_PROMPT_MODEL = """\
import json

from pytest_taskbench import GenerationParams, Prompt, prompt_model


@prompt_model
def respond(prompts, params):
    assert isinstance(params, GenerationParams), type(params)
    return [
        json.dumps(
            {
                "prompt": type(prompt).__name__ if isinstance(prompt, Prompt) else repr(prompt),
                "messages": [dict(message) for message in prompt.messages],
                "text": prompt.text,
                "params": [params.max_new_tokens, list(params.stop), params.temperature, params.use_chat_template],
            }
        )
        for prompt in prompts
    ]
"""
STRINGS_MODEL = """\
import json


def respond(prompts):
    return [json.dumps({"type": type(prompt).__name__, "prompt": prompt, "batch": type(prompts).__name__}) for prompt in prompts]
"""
PARAMS = [7, ["\n\n"], 0.25, False]


@pytest.fixture
def whole_prompt_suite(write_suite: Callable[..., Path]) -> Path:
    return write_suite(
        suite=SUITE,
        model=WHOLE_PROMPT_MODEL,
        files={
            "seen.jsonl": jsonl(
                [
                    {
                        "id": "plain",
                        "input": "list my tasks",
                        "expected": {
                            "prompt": "Prompt",
                            "messages": [{"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": "Request: list my tasks"}],
                            "text": "Answer in JSON.\n\nRequest: list my tasks",
                            "params": PARAMS,
                        },
                    },
                    {
                        "id": "chat",
                        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "bye"}],
                        "expected": {
                            "prompt": "Prompt",
                            "messages": [
                                {"role": "system", "content": "Answer in JSON."},
                                {"role": "user", "content": "hi"},
                                {"role": "assistant", "content": "hello"},
                                {"role": "user", "content": "bye"},
                            ],
                            "text": "system: Answer in JSON.\nuser: hi\nassistant: hello\nuser: bye\nassistant:",
                            "params": PARAMS,
                        },
                    },
                ],
                defaults={"difficulty": "simple"},
            )
        },
    )


def test_a_model_that_opts_in_gets_the_prompts_and_the_suites_generation_settings(pytester: pytest.Pytester, whole_prompt_suite: Path) -> None:
    result = pytester.runpytest("cases", "--taskbench-model=model:respond", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_the_command_line_reaches_the_params_it_gets(pytester: pytest.Pytester, whole_prompt_suite: Path) -> None:
    result = pytester.runpytest("cases", "--taskbench-model=callable:model:respond", "--taskbench-max-new-tokens=9", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)  # the expected params say the suite's 7 tokens
    result.stdout.fnmatch_lines(["score 0.000 < 0.8: $.params[0]: expected 7, got 9"] * 2)


def test_a_model_that_does_not_opt_in_still_gets_a_list_of_strings(pytester: pytest.Pytester, write_suite: Callable[..., Path]) -> None:
    expected = {"type": "str", "prompt": "Answer in JSON.\n\nRequest: list my tasks", "batch": "list"}
    write_suite(
        suite=SUITE,
        model=STRINGS_MODEL,
        files={"seen.jsonl": jsonl([{"id": "plain", "input": "list my tasks", "expected": expected, "difficulty": "simple"}])},
    )
    result = pytester.runpytest("cases", "--taskbench-model=model:respond", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_the_decorator_marks_the_function_and_returns_it() -> None:
    def respond(prompts: list[Prompt], params: GenerationParams) -> list[str]:
        return [f"{prompt.messages[-1]['content']}/{params.max_new_tokens}" for prompt in prompts]

    assert prompt_model(respond) is respond
    assert respond.taskbench_prompt_model is True  # type: ignore[attr-defined]
    backend = CallableBackend("m:respond", respond)
    [generation] = backend.generate([Prompt(({"role": "user", "content": "hey"},), "hey")], GenerationParams(max_new_tokens=3, stop=("/",)))
    assert generation.text == "hey"  # stop sequences are still cut from what it returns
    assert CallableBackend("m:f", lambda prompts: [json.dumps(prompts)]).generate([Prompt((), "t")], GenerationParams())[0].text == '["t"]'
