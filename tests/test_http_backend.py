"""The OpenAI-compatible HTTP backend: against a scripted stdlib server, and against a real `transformers serve`."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from pytest_taskbench.generation.base import GenerationParams, ModelLoadError, Prompt
from pytest_taskbench.generation.http import HttpBackend, HttpOptions, error_message
from tests.helpers.serve import Server, free_port
from tests.helpers.servers import Script, chat_reply, scripted_server
from tests.helpers.tiny_models import build_tiny_model

PROMPT = Prompt(({"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}), "be brief\n\nhello")
FAST = dict(backoff=0.01, max_backoff=0.05)


@pytest.fixture
def scripted() -> Iterator[tuple[str, Script]]:
    with scripted_server() as running:
        yield running


def test_every_request_states_max_tokens_and_temperature(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.replies = [chat_reply("hi there. more")]
    backend = HttpBackend(url, HttpOptions(**FAST))
    [generation] = backend.generate([PROMPT], GenerationParams(max_new_tokens=17, stop=(".",)))
    assert generation.text == "hi there"  # the stop sequence is applied here too, whatever the server did
    request = script.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["model"] == "served-model"  # the only model /models lists
    assert request["body"]["max_tokens"] == 17 and request["body"]["temperature"] == 0.0
    assert request["body"]["messages"] == [dict(m) for m in PROMPT.messages]
    assert request["body"]["stop"] == ["."]


def test_completions_endpoint_sends_the_plain_prompt(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.replies = [(200, {"choices": [{"index": 0, "text": " world"}]}, {})]
    backend = HttpBackend(url, HttpOptions(endpoint="completions", model="m", **FAST))
    assert backend.generate([PROMPT], GenerationParams())[0].text == " world"
    assert script.requests[0]["path"] == "/v1/completions"
    assert script.requests[0]["body"]["prompt"] == PROMPT.text


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retries_with_backoff_then_succeeds(scripted: tuple[str, Script], status: int) -> None:
    url, script = scripted
    script.replies = [(status, {"error": {"message": "busy"}}, {"Retry-After": "0"}), (status, {"detail": "still busy"}, {}), chat_reply("ok")]
    backend = HttpBackend(url, HttpOptions(model="m", retries=3, **FAST))
    assert backend.generate([PROMPT], GenerationParams())[0].text == "ok"
    assert len(script.requests) == 3


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ({"error": {"message": "context too long", "type": "invalid_request_error"}}, "context too long"),
        ({"detail": "Server is pinned to 'x'; requested 'y'."}, "Server is pinned to 'x'"),
        ({"error": "bad model"}, "bad model"),
    ],
)
def test_a_client_error_fails_the_case_at_once_with_the_servers_words(scripted: tuple[str, Script], body: dict[str, Any], shown: str) -> None:
    url, script = scripted
    script.replies = [(400, body, {})]
    backend = HttpBackend(url, HttpOptions(model="m", retries=3, **FAST))
    [generation] = backend.generate([PROMPT], GenerationParams())
    assert generation.text is None
    assert generation.error is not None and "HTTP 400" in generation.error and shown in generation.error
    assert len(script.requests) == 1  # a 400 is not retried


def test_retries_run_out_into_a_clear_failure(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.replies = [(503, {"detail": "overloaded"}, {})]
    backend = HttpBackend(url, HttpOptions(model="m", retries=2, **FAST))
    [generation] = backend.generate([PROMPT], GenerationParams())
    assert generation.error == f"POST {url}/chat/completions failed after 3 attempts: HTTP 503: overloaded"


def test_several_requests_are_in_flight(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.replies, script.gather = [chat_reply("x")], 4
    backend = HttpBackend(url, HttpOptions(model="m", concurrency=4, **FAST))
    began = time.perf_counter()
    outputs = backend.generate([PROMPT] * 8, GenerationParams())
    assert [g.text for g in outputs] == ["x"] * 8
    assert script.most_in_flight == 4  # four at once, and never more than the option allows
    assert time.perf_counter() - began < 10  # one at a time, the first request would wait out the 10 s hold


def test_the_api_key_goes_in_the_header_only(scripted: tuple[str, Script], monkeypatch: pytest.MonkeyPatch) -> None:
    url, script = scripted
    monkeypatch.setenv("MY_SERVER_KEY", "sk-secret-123")
    script.replies = [(401, {"error": {"message": "bad key"}}, {})]
    backend = HttpBackend(url, HttpOptions(model="m", api_key_env="MY_SERVER_KEY", **FAST))
    [generation] = backend.generate([PROMPT], GenerationParams())
    assert script.requests[0]["authorization"] == "Bearer sk-secret-123"
    assert "sk-secret" not in (generation.error or "") and "sk-secret" not in backend.identity()


def test_no_server_fails_each_case_clearly_and_quickly() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    backend = HttpBackend(f"http://127.0.0.1:{port}/v1", HttpOptions(model="m", retries=2, **FAST))
    began = time.perf_counter()
    outputs = backend.generate([PROMPT] * 5, GenerationParams())
    assert all(g.text is None and "cannot reach the server" in (g.error or "") for g in outputs)
    assert time.perf_counter() - began < 5


def test_model_discovery_needs_exactly_one_model(scripted: tuple[str, Script]) -> None:
    url, _ = scripted
    assert HttpBackend(url).model_name == "served-model"
    with pytest.raises(ModelLoadError, match="cannot list the server's models"):
        HttpBackend(url + "/nothing-here").model_name  # noqa: B018


def test_error_message_shapes() -> None:
    assert error_message(b'{"detail": [{"msg": "field required"}]}') == "[{'msg': 'field required'}]"
    assert error_message(b"<html>502 Bad Gateway</html>") == "<html>502 Bad Gateway</html>"
    assert error_message(b"") == "(empty body)"


def test_bad_url_is_a_usage_error(pytester: pytest.Pytester) -> None:
    (pytester.path / "cases").mkdir()
    result = pytester.runpytest("--taskbench-model=http://")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*not a server URL*"])


def test_an_unreachable_server_with_no_model_name_is_one_usage_error(pytester: pytest.Pytester) -> None:
    cases = pytester.mkdir("cases")
    (cases / "taskbench.yaml").write_text(SUITE)
    (cases / "chat.jsonl").write_text(json.dumps({"id": "c", "input": "hi", "expected": "-", "category": "chat", "difficulty": "simple"}) + "\n")
    result = pytester.runpytest(f"--taskbench-model=http://127.0.0.1:{free_port()}/v1", "--taskbench-http-retries=0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*cannot list the server's models*pass --taskbench-http-model=NAME*"])


# a real server: transformers serve -------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("serve")
    running = Server(build_tiny_model(directory / "model"), directory / "serve.log")
    try:
        yield running
    finally:
        running.stop()


SUITE = """\
name: served
categories:
  chat: {weight: 1.0, scorer: exact_match}
generation: {max_new_tokens: 5}
"""
WORDS = [
    "hello world",
    "book a meeting",
    "cancel my order",
    "the quick fox",
    "what is the weather",
    "send a refund",
    "how are you",
    "jumps over",
    "at noon",
    "lazy dog",
]


def write_suite(pytester: pytest.Pytester, count: int) -> None:
    cases = pytester.path / "cases"
    cases.mkdir(exist_ok=True)
    (cases / "taskbench.yaml").write_text(SUITE)
    rows = [{"id": f"c{i:02d}", "input": WORDS[i % len(WORDS)] + f" {i}", "expected": "-", "category": "chat", "difficulty": "simple"} for i in range(count)]
    (cases / "chat.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def cache_entries(pytester: pytest.Pytester) -> list[Path]:
    return list(pytester.path.glob(".pytest_cache/d/taskbench/v1/*/*/*.json"))


@pytest.mark.slow  # starts `transformers serve`
@pytest.mark.parametrize("endpoint", ["chat", "completions"])
def test_a_real_server_answers_every_case_and_a_rerun_comes_from_the_cache(
    pytester: pytest.Pytester, server: Server, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = server.ensure()
    monkeypatch.setenv("TASKBENCH_API_KEY", "sk-never-written")
    write_suite(pytester, 6)
    options = [f"--taskbench-model={url}", f"--taskbench-http-endpoint={endpoint}", "--taskbench-pass-threshold=0", "--taskbench-http-concurrency=3"]
    first = pytester.runpytest(*options)
    first.assert_outcomes(passed=6)
    assert len(cache_entries(pytester)) == 6
    assert not any("sk-never-written" in path.read_text() for path in cache_entries(pytester))
    assert "sk-never-written" not in first.stdout.str()
    again = pytester.runpytest(*options)
    again.assert_outcomes(passed=6)
    again.stdout.fnmatch_lines(["*0 generated, 6 from cache*"])


class FrontDoor:
    """A one-connection-at-a-time proxy to the real server that goes away after a set number of answers.

    It closes its listening socket before it sends the last answer, so the client's next request is refused
    however fast the model is: stopping the server itself races a run that may finish first.
    """

    def __init__(self, upstream: str, answers: int) -> None:
        self.upstream, self.answers = upstream.rstrip("/"), answers
        self.answered = 0
        door = self

        class Forward(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _forward(self, data: bytes | None) -> None:
                request = urllib.request.Request(door.upstream + self.path.removeprefix("/v1"), data=data, method=self.command)
                request.add_header("Content-Type", "application/json")
                with urllib.request.urlopen(request, timeout=60) as response:
                    status, body = response.status, response.read()
                if self.command == "POST":
                    door.answered += 1
                    if door.answered == door.answers:
                        self.server.socket.close()  # refuse every later connection, then send this answer
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                self._forward(None)

            def do_POST(self) -> None:  # noqa: N802
                self._forward(self.rfile.read(int(self.headers["Content-Length"])))

        self.http = HTTPServer(("127.0.0.1", 0), Forward)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/v1"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.answered < self.answers:
            self.http.handle_request()

    def close(self) -> None:
        self.http.server_close()
        self.thread.join(timeout=5)


@pytest.mark.slow  # starts `transformers serve`
def test_the_server_stopped_mid_run_fails_the_rest_clearly(pytester: pytest.Pytester, server: Server) -> None:
    door = FrontDoor(server.ensure(), answers=3)
    write_suite(pytester, 12)
    began = time.monotonic()
    try:
        result = pytester.runpytest(
            f"--taskbench-model={door.url}", "--taskbench-pass-threshold=0", "--taskbench-http-concurrency=1", "--taskbench-http-retries=1"
        )
    finally:
        door.close()
    assert door.answered == 3 and len(cache_entries(pytester)) == 3
    result.assert_outcomes(passed=3, failed=9)  # cases answered before the stop keep their results
    result.stdout.fnmatch_lines(["*model error: POST */chat/completions failed*cannot reach the server*is it running?*"])
    result.stdout.fnmatch_lines(["*FAIL max_errors*", "verdict: FAIL*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the session ends normally, its verdict decided by the gates
    assert time.monotonic() - began < 60


@pytest.fixture(scope="module")
def sampling_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`transformers serve` with a model whose generation config samples: the server follows the model's do_sample."""
    directory = tmp_path_factory.mktemp("serve-sampling")
    model = build_tiny_model(directory / "model")
    config = json.loads((model / "generation_config.json").read_text())
    (model / "generation_config.json").write_text(json.dumps({**config, "do_sample": True}))
    running = Server(model, directory / "serve.log")
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.slow  # starts `transformers serve`
def test_a_real_server_that_ignores_n_gets_one_seeded_request_per_sample(sampling_server: Server) -> None:
    url = sampling_server.ensure()
    params = GenerationParams(max_new_tokens=5, temperature=1.5, seed=7)
    prompts = [Prompt(({"role": "user", "content": word},), word) for word in WORDS[:2]]

    def draw() -> tuple[list[list[str | None]], HttpBackend]:
        backend = HttpBackend(url, HttpOptions(concurrency=1))
        groups = [[g.text for g in group] for _, batch in backend.generate_samples_iter(prompts, params, [[0, 1, 2], [0, 1, 2]]) for group in batch]
        return groups, backend

    first, backend = draw()
    assert all(len(group) == 3 and all(text is not None for text in group) for group in first)
    # `transformers serve` answers one choice whatever n asks: the first prompt's request with n=3, then one request per
    # missing sample; the second prompt goes straight to one request per sample
    assert backend.model_calls == 3 + 3
    assert all(len(set(group)) > 1 for group in first)  # each sample has its own seed
    again, _ = draw()
    assert again == first  # and the server honours seeds: the same samples again
