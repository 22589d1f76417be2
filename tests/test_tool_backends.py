"""Tools through each backend: the HTTP backend sends them and reads tool_calls back, transformers renders them, a callable gets them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_taskbench import parse_calls
from pytest_taskbench.generation.base import GenerationParams, Prompt
from pytest_taskbench.generation.callable import CallableBackend
from pytest_taskbench.generation.http import HttpBackend, HttpOptions
from tests.helpers.servers import Script, chat_reply, scripted_server
from tests.helpers.tiny_models import build_tiny_model

TOOL = {"type": "function", "function": {"name": "create_task", "parameters": {"type": "object", "properties": {"title": {"type": "string"}}}}}
PROMPT = Prompt(({"role": "user", "content": "add milk"},), "add milk", (TOOL,))
FAST = dict(backoff=0.01, max_backoff=0.05)


@pytest.fixture
def scripted() -> Iterator[tuple[str, Script]]:
    with scripted_server() as running:
        yield running


def tool_calls_reply(content: str | None, *calls: tuple[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    structured = [{"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": arguments}} for i, (name, arguments) in enumerate(calls)]
    message = {"role": "assistant", "content": content, "tool_calls": structured}
    return 200, {"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}, {}


def test_the_http_backend_sends_tools_and_tool_choice_and_reads_structured_calls(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.replies = [tool_calls_reply(None, ("create_task", '{"title": "Milk"}'), ("create_task", {"title": "Eggs"}))]
    prompt = Prompt(PROMPT.messages, PROMPT.text, PROMPT.tools, "required")
    [generation] = HttpBackend(url, HttpOptions(**FAST)).generate([prompt], GenerationParams())
    body = script.requests[0]["body"]
    assert body["tools"] == [TOOL] and body["tool_choice"] == "required"
    assert [(c.name, dict(c.arguments)) for c in parse_calls(generation.text).calls] == [("create_task", {"title": "Milk"}), ("create_task", {"title": "Eggs"})]


def test_no_tools_and_no_tool_choice_are_sent_for_a_prompt_without_tools(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.replies = [chat_reply("hi")]
    HttpBackend(url, HttpOptions(**FAST)).generate([Prompt(PROMPT.messages, PROMPT.text)], GenerationParams())
    assert "tools" not in script.requests[0]["body"] and "tool_choice" not in script.requests[0]["body"]


def test_the_stop_sequence_cuts_the_text_not_the_calls_after_it(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.replies = [tool_calls_reply("Sure.\nDone", ("create_task", '{"title": "Milk"}'))]
    [generation] = HttpBackend(url, HttpOptions(**FAST)).generate([PROMPT], GenerationParams(stop=("\n",)))
    assert generation.text == 'Sure.<tool_call>{"name": "create_task", "arguments": {"title": "Milk"}}</tool_call>'


def test_a_server_that_returns_calls_as_text_needs_nothing_more(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.replies = [chat_reply('<tool_call>{"name": "create_task", "arguments": {"title": "Milk"}}</tool_call>')]
    [generation] = HttpBackend(url, HttpOptions(**FAST)).generate([PROMPT], GenerationParams())
    assert [call.name for call in parse_calls(generation.text).calls] == ["create_task"]


def test_a_malformed_tool_call_fails_that_case_with_the_servers_words(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.replies = [(200, {"choices": [{"message": {"content": None, "tool_calls": [{"type": "function", "function": {"arguments": "{}"}}]}}]}, {})]
    [generation] = HttpBackend(url, HttpOptions(**FAST)).generate([PROMPT], GenerationParams())
    assert generation.text is None
    assert "tool_calls[0] has no function name" in (generation.error or "")


def test_unparseable_arguments_from_a_server_stay_visible_as_an_unreadable_call(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.replies = [tool_calls_reply(None, ("create_task", "{title: Milk"))]
    [generation] = HttpBackend(url, HttpOptions(**FAST)).generate([PROMPT], GenerationParams())
    parsed = parse_calls(generation.text)
    assert parsed.calls == () and parsed.problems and "arguments are not valid JSON" in parsed.problems[0]


def test_a_callable_with_a_tools_parameter_gets_each_prompts_tools_and_a_one_argument_one_does_not() -> None:
    seen: list[Any] = []

    def with_tools(prompts: list[str], tools: list[list[dict[str, Any]]]) -> list[str]:
        seen.append(tools)
        return [json.dumps([tool["function"]["name"] for tool in offered]) for offered in tools]

    backend = CallableBackend("m:f", with_tools)
    texts = [g.text for g in backend.generate([PROMPT, Prompt(PROMPT.messages, "x")], GenerationParams())]
    assert texts == ['["create_task"]', "[]"]
    plain = CallableBackend("m:g", lambda prompts: [p.upper() for p in prompts])
    assert [g.text for g in plain.generate([PROMPT], GenerationParams())] == ["ADD MILK"]


@pytest.mark.slow  # builds and loads a transformers checkpoint
def test_transformers_renders_tools_with_the_chat_template_and_fails_alone_without_one(tmp_path: Path) -> None:
    from pytest_taskbench.generation.hf import TransformersBackend

    model = build_tiny_model(tmp_path / "model")
    config = json.loads((model / "tokenizer_config.json").read_text())
    template = "{% if tools %}tools: {% for t in tools %}{{ t.function.name }} {% endfor %}\n{% endif %}{% for m in messages %}{{ m['content'] }}{% endfor %}"
    (model / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": template}))
    for stale in model.glob("chat_template.*"):
        stale.unlink()
    backend = TransformersBackend(model)
    assert backend.render(PROMPT, GenerationParams()) == "tools: create_task add milk"  # (jinja drops the newline after a block tag)
    generations = backend.generate([PROMPT, Prompt(PROMPT.messages, PROMPT.text)], GenerationParams(max_new_tokens=2, use_chat_template=False))
    assert generations[0].text is None and "reach a transformers model only through its chat template" in (generations[0].error or "")
    assert generations[1].text is not None  # the prompt without tools is unaffected
