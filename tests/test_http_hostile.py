"""The HTTP backend against hostile or broken servers: each fault fails its own case, clearly, and the session ends normally.

Every server here is a real one on 127.0.0.1 (stdlib ``http.server`` in a thread) that writes its
answers byte by byte as the test scripts them, chosen per case by the case's input; the plugin runs
end to end with pytester.
"""

from __future__ import annotations

import json
import re
import select
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pytest_taskbench.generation import http as http_module
from pytest_taskbench.generation.base import GenerationParams, ModelLoadError, Prompt
from pytest_taskbench.generation.http import MAX_RESPONSE_BYTES, HttpBackend, HttpOptions

SUITE = "name: hostile\ncategories:\n  a: {weight: 1, scorer: exact_match}\n"
KEY = "sk-test-Zq8Vr3LmW0xKp5TnYb2Hc7Jd"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    case: str  # the case's input: the last message's content, or the prompt


Behaviour = Callable[["Handler", Seen, int], None]  # (handler, request, how many times this case was asked)


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, *args: Any) -> None:
        return None

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else {}
        messages = body.get("messages") or [{"content": body.get("prompt", "")}]
        seen = Seen(self.command, self.path, dict(self.headers.items()), str(messages[-1].get("content", "")))
        with self.server.lock:
            self.server.seen.append(seen)
            count = sum(1 for s in self.server.seen if s.case == seen.case and s.path == seen.path)
        try:
            self.server.route(seen)(self, seen, count)
        except OSError:
            pass  # the client gave up (as it should): nothing more to write

    do_GET = do_POST = _handle  # noqa: N815 - the http.server API

    # writing answers ----------------------------------------------------------------
    def raw(self, data: bytes) -> None:
        self.wfile.write(data)

    def trickle(self, data: bytes, every: float = 0.4, most: float = 12.0) -> None:
        """One byte at a time; stops when the client hangs up, after ``most`` seconds, or when the test ends."""
        ends = time.monotonic() + most
        for index in range(len(data)):
            if self.server.stopping.wait(every) or self._client_gone() or time.monotonic() > ends:
                return
            self.wfile.write(data[index : index + 1])

    def stall(self, most: float = 10.0) -> None:
        """Say nothing until the client hangs up (or ``most`` seconds, or the test ends)."""
        ends = time.monotonic() + most
        while time.monotonic() < ends and not self.server.stopping.is_set() and not self._client_gone(0.05):
            pass

    def _client_gone(self, wait: float = 0.0) -> bool:
        readable, _, _ = select.select([self.connection], [], [], wait)
        return bool(readable) and not self.connection.recv(1, 2)  # MSG_PEEK: b"" means the client closed


def response(status: int, body: bytes, headers: dict[str, str] | None = None, length: bool = True) -> bytes:
    head = [f"HTTP/1.1 {status} X", "Content-Type: application/json", "Connection: close"]
    head += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if length:
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def chat(text: Any) -> bytes:
    return response(200, json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}).encode())


def answer(data: bytes) -> Behaviour:
    return lambda handler, seen, count: handler.raw(data)


OK = answer(chat("ok"))


class Server(ThreadingHTTPServer):
    """A scripted server: ``routes`` maps a case's input (or a GET path) to how it is answered; records every request."""

    def __init__(self, routes: dict[str, Behaviour]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes = routes
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.url = f"http://127.0.0.1:{self.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def route(self, seen: Seen) -> Behaviour:
        return self.routes.get(seen.path if seen.method == "GET" else seen.case) or self.routes.get("*", OK)

    def asked(self, case: str) -> int:
        return sum(1 for s in self.seen if s.case == case)

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[dict[str, Behaviour]], Server]]:
    started: list[Server] = []

    def start(routes: dict[str, Behaviour]) -> Server:
        started.append(Server(routes))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def write_cases(pytester: pytest.Pytester, inputs: list[str]) -> None:
    cases = pytester.mkdir("cases")
    (cases / "taskbench.yaml").write_text(SUITE)
    rows = [{"id": text, "input": text, "expected": "ok", "category": "a", "difficulty": "simple"} for text in inputs]
    (cases / "a.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def run(pytester: pytest.Pytester, url: str, *options: str, model: bool = True) -> pytest.RunResult:
    return pytester.runpytest(f"--taskbench-model={url}", *(["--taskbench-http-model=m"] if model else []), "--taskbench-http-retries=0", *options)


def ended_normally(result: pytest.RunResult, passed: int, failed: int) -> None:
    """The session ran to its summary and verdict; the faulty cases failed, the others passed."""
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output and "Traceback" not in output
    result.assert_outcomes(passed=passed, failed=failed)
    result.stdout.fnmatch_lines(["*= taskbench: hostile =*", "*FAIL max_errors*", "verdict: FAIL*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def error_of(result: pytest.RunResult, case: str) -> str:
    """The model error the report shows for ``case``."""
    lines = result.stdout.lines
    starts = [index for index, line in enumerate(lines) if re.fullmatch(rf"_+ a: {re.escape(case)} _+", line)]
    assert starts, f"no failure shown for {case}:\n{result.stdout.str()}"
    line = lines[starts[0] + 1]
    assert line.startswith("model error: "), line
    return line


DEEP = 100_000


# malformed answers ----------------------------------------------------------------------


def test_malformed_answers_fail_their_own_case_clearly(pytester: pytest.Pytester, serve: Callable[[dict[str, Behaviour]], Server]) -> None:
    server = serve(
        {
            "fine": OK,
            "parts": answer(chat([{"type": "text", "text": "o"}, {"type": "text", "text": "k"}])),  # OpenAI's content parts
            "message-string": answer(response(200, b'{"choices": [{"message": "just a string"}]}')),
            "content-number": answer(chat(42)),
            "bad-part": answer(chat([{"type": "image_url", "image_url": {"url": "x"}}])),
            "deep": answer(response(200, b'{"choices": ' + b"[" * DEEP + b"]" * DEEP + b"}")),
            "deep-error": answer(response(400, b'{"error": ' + b"[" * DEEP + b"]" * DEEP + b"}")),
            "not-json": answer(response(200, b"<html>hello</html>")),
            "cut-short": answer(response(200, b'{"choices": []}', {"Content-Length": "500"}, length=False)),  # then hangs up
        }
    )
    write_cases(pytester, list(server.routes))
    result = run(pytester, server.url, "--taskbench-http-concurrency=2", "-rf")
    ended_normally(result, passed=2, failed=7)
    assert "choices[0].message is a string, not an object" in error_of(result, "message-string")
    assert "choices[0].message.content is a number, not text" in error_of(result, "content-number")
    assert 'content[0] is not a {"type": "text", "text": ...} part' in error_of(result, "bad-part")
    assert "JSON nested too deeply to read" in error_of(result, "deep")
    assert "HTTP 400" in error_of(result, "deep-error")
    assert "not JSON: '<html>hello</html>'" in error_of(result, "not-json")
    assert "the connection broke before a complete answer (15 bytes read, 485 more expected)" in error_of(result, "cut-short")


def test_nothing_one_request_does_raises_out_of_the_backend(monkeypatch: pytest.MonkeyPatch, serve: Callable[[dict[str, Behaviour]], Server]) -> None:
    server = serve({})

    def broken(*args: Any) -> str:
        raise KeyError("surprise")

    monkeypatch.setattr(http_module, "completion_texts", broken)
    [generation] = HttpBackend(server.url, HttpOptions(model="m")).generate([Prompt(({"role": "user", "content": "x"},), "x")], GenerationParams())
    assert generation.text is None and generation.error is not None
    assert "unexpected KeyError: 'surprise'" in generation.error


def test_a_model_list_of_the_wrong_shape_is_one_usage_error(serve: Callable[[dict[str, Behaviour]], Server]) -> None:
    server = serve({"/v1/models": answer(response(200, b'{"data": 5}'))})
    with pytest.raises(ModelLoadError, match=r"lists 0 models"):
        HttpBackend(server.url).model_name  # noqa: B018


def test_lone_surrogates_reach_the_answer_but_never_an_error_message(serve: Callable[[dict[str, Behaviour]], Server]) -> None:
    server = serve(
        {
            "answer": answer(response(200, b'{"choices": [{"message": {"content": "a\\ud800b"}}]}')),
            "error": answer(response(400, b'{"error": {"message": "bad \\udc80 input\\u001b[31m"}}')),
        }
    )
    backend = HttpBackend(server.url, HttpOptions(model="m"))
    prompts = [Prompt(({"role": "user", "content": name},), name) for name in ("answer", "error")]
    text, error = backend.generate(prompts, GenerationParams())
    assert text.text == "a\ud800b"  # the answer as the server gave it; the engine decides what to do with it
    assert error.text is None and error.error is not None
    error.error.encode("utf-8")  # no lone surrogate left in the message
    assert "bad \\udc80 input\\x1b[31m" in error.error  # escaped, terminal escapes too


# the deadline --------------------------------------------------------------------------


@pytest.mark.slow
def test_a_trickling_server_fails_its_cases_at_the_deadline(pytester: pytest.Pytester, serve: Callable[[dict[str, Behaviour]], Server]) -> None:
    def trickle_headers(handler: Handler, seen: Seen, count: int) -> None:
        handler.trickle(chat("ok"))  # the status line and headers, one byte every 0.4 s

    def trickle_body(handler: Handler, seen: Seen, count: int) -> None:
        whole = chat("ok")
        split = whole.index(b"\r\n\r\n") + 4
        handler.raw(whole[:split])
        handler.trickle(whole[split:])

    server = serve({"fine": OK, "slow-headers": trickle_headers, "slow-body": trickle_body})
    write_cases(pytester, ["fine", "slow-headers", "slow-body"])
    began = time.monotonic()
    result = run(pytester, server.url, "--taskbench-http-timeout=2", "--taskbench-http-concurrency=3")
    took = time.monotonic() - began
    ended_normally(result, passed=1, failed=2)
    for case in ("slow-headers", "slow-body"):
        assert "no complete answer within 2s (--taskbench-http-timeout)" in error_of(result, case)
    # A timeout per socket read never fires here (a byte comes every 0.4 s): the answers would take ~40 s.
    assert took < 8, f"took {took:.1f} s"


@pytest.mark.slow
def test_a_timeout_is_retried_and_does_not_mark_the_server_gone(pytester: pytest.Pytester, serve: Callable[[dict[str, Behaviour]], Server]) -> None:
    def silent(handler: Handler, seen: Seen, count: int) -> None:
        handler.stall()

    def silent_once(handler: Handler, seen: Seen, count: int) -> None:
        if count == 1:
            handler.stall()
        else:
            handler.raw(chat("ok"))

    server = serve({"slow": silent, "later": silent_once})
    write_cases(pytester, ["slow", "later"])  # one at a time: "later" starts after "slow" has finally failed
    result = pytester.runpytest(
        f"--taskbench-model={server.url}",
        "--taskbench-http-model=m",
        "--taskbench-http-timeout=1",
        "--taskbench-http-retries=1",
        "--taskbench-http-concurrency=1",
    )
    ended_normally(result, passed=1, failed=1)
    assert "failed after 2 attempts: no complete answer within 1s (--taskbench-http-timeout)" in error_of(result, "slow")
    assert "is it running" not in result.stdout.str()
    assert server.asked("slow") == 2 and server.asked("later") == 2  # the later case still got its retry


# size ----------------------------------------------------------------------------------


def test_an_answer_over_the_size_limit_fails_its_case(pytester: pytest.Pytester, serve: Callable[[dict[str, Behaviour]], Server]) -> None:
    huge = json.dumps({"choices": [{"message": {"content": "x" * (20 * 1024 * 1024)}}]}).encode()
    server = serve(
        {
            "fine": OK,
            "huge": answer(response(200, huge)),  # says its length up front
            "huge-unannounced": answer(response(200, huge, length=False)),  # ends when the connection closes
        }
    )
    write_cases(pytester, list(server.routes))
    result = run(pytester, server.url)
    ended_normally(result, passed=1, failed=2)
    for case in ("huge", "huge-unannounced"):
        assert "the answer is larger than 16 MiB (16777216 bytes)" in error_of(result, case)


def test_memory_stays_bounded_by_the_size_limit(serve: Callable[[dict[str, Behaviour]], Server]) -> None:
    def endless(handler: Handler, seen: Seen, count: int) -> None:
        handler.raw(response(200, b"", length=False) + b'{"choices": [{"message": {"content": "')
        block = b"x" * (1024 * 1024)
        for _ in range(100):
            if handler.server.stopping.is_set():
                return
            handler.raw(block)

    server = serve({"*": endless})
    backend = HttpBackend(server.url, HttpOptions(model="m", retries=0))
    tracemalloc.start()
    try:
        [generation] = backend.generate([Prompt(({"role": "user", "content": "x"},), "x")], GenerationParams())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert generation.error is not None and "larger than 16 MiB" in generation.error
    assert peak < 2 * MAX_RESPONSE_BYTES, f"peak {peak / 2**20:.0f} MiB"


# redirects -----------------------------------------------------------------------------


def redirect(status: int, location: str) -> Behaviour:
    return answer(response(status, b"", {"Location": location}))


def test_redirects_never_take_the_key_elsewhere(
    pytester: pytest.Pytester, serve: Callable[[dict[str, Behaviour]], Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKBENCH_API_KEY", KEY)
    elsewhere = serve({"*": OK})  # another origin: same host, another port
    server = serve(
        {
            "fine": OK,
            "302-elsewhere": redirect(302, f"{elsewhere.url}/chat/completions"),
            "307-elsewhere": redirect(307, f"{elsewhere.url}/chat/completions"),
            "307-here": lambda handler, seen, count: handler.raw(chat("ok") if seen.path == "/v1/moved" else response(307, b"", {"Location": "/v1/moved"})),
            "303-here": redirect(303, "/v1/moved"),
        }
    )
    write_cases(pytester, list(server.routes))
    result = run(pytester, server.url)
    assert elsewhere.seen == []  # no request at all, so certainly none with the key
    ended_normally(result, passed=2, failed=3)
    shown = f"the server redirected the POST to {elsewhere.url}/chat/completions"
    for case, status in (("302-elsewhere", 302), ("307-elsewhere", 307)):
        assert f"{shown} (HTTP {status}), not followed: it is another origin" in error_of(result, case)
        assert "point --taskbench-model at the final URL" in error_of(result, case)
    assert "(HTTP 303), not followed: a 303 turns a POST into a GET; only 307 and 308 are followed" in error_of(result, "303-here")
    moved = [s for s in server.seen if s.path == "/v1/moved"]  # the same-origin 307 was followed, as a POST with its body and key
    assert [(s.method, s.case, s.headers.get("Authorization")) for s in moved] == [("POST", "307-here", f"Bearer {KEY}")]


def test_model_discovery_follows_only_same_origin_redirects(
    pytester: pytest.Pytester, serve: Callable[[dict[str, Behaviour]], Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKBENCH_API_KEY", KEY)
    listing = answer(response(200, b'{"data": [{"id": "served"}]}'))
    elsewhere = serve({"/v1/models": listing})
    away = serve({"/v1/models": redirect(302, f"{elsewhere.url}/models")})
    write_cases(pytester, ["fine"])
    refused = run(pytester, away.url, model=False)
    assert elsewhere.seen == []
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(
        [f"*cannot list the server's models*redirected the GET to {elsewhere.url}/models (HTTP 302), not followed*point --taskbench-model at the final URL*"]
    )

    here = serve({"/v1/models": redirect(301, "/v1/models/all"), "/v1/models/all": listing})
    followed = run(pytester, here.url, model=False)
    followed.assert_outcomes(passed=1)
    assert [s.path for s in here.seen] == ["/v1/models", "/v1/models/all", "/v1/chat/completions"]


# the key never leaves the Authorization header ------------------------------------------


def test_the_key_a_server_echoes_is_in_no_output(
    pytester: pytest.Pytester, serve: Callable[[dict[str, Behaviour]], Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKBENCH_API_KEY", KEY)
    elsewhere = serve({})

    def echo_401(handler: Handler, seen: Seen, count: int) -> None:
        handler.raw(response(401, json.dumps({"error": {"message": f"Incorrect API key provided: {seen.headers['Authorization']}"}}).encode()))

    def echo_text(handler: Handler, seen: Seen, count: int) -> None:
        handler.raw(chat(f"your key is {seen.headers['Authorization'].removeprefix('Bearer ')}"))

    def echo_cut(handler: Handler, seen: Seen, count: int) -> None:  # the key across the 300th character of a plain-text error
        handler.raw(response(400, ("x" * 290 + seen.headers["Authorization"]).encode()))

    server = serve(
        {
            "/v1/models": answer(response(200, json.dumps({"data": [{"id": f"org/{KEY}/model"}]}).encode())),  # even in the model's name
            "fine": OK,
            "echo-401": echo_401,
            "echo-answer": echo_text,
            "echo-cut": echo_cut,
            "echo-location": redirect(302, f"{elsewhere.url}/v1/chat/completions?key={KEY}"),
        }
    )
    write_cases(pytester, ["fine", "echo-401", "echo-answer", "echo-cut", "echo-location"])
    outputs = {"junit": "j.xml", "report": "r.html", "markdown": "s.md", "samples": "s.jsonl"}
    result = run(
        pytester,
        server.url,
        f"--junitxml={outputs['junit']}",
        f"--taskbench-report={outputs['report']}",
        f"--taskbench-markdown={outputs['markdown']}",
        f"--taskbench-log-samples={outputs['samples']}",
        model=False,
    )
    ended_normally(result, passed=1, failed=4)
    assert "Incorrect API key provided: Bearer ***" in error_of(result, "echo-401")
    assert f"redirected the POST to {elsewhere.url}/v1/chat/completions?key=***" in error_of(result, "echo-location")
    assert all(s.headers.get("Authorization") == f"Bearer {KEY}" for s in server.seen)  # sent where it belongs
    texts = {"stdout": result.stdout.str(), "stderr": result.stderr.str()}
    texts.update({name: (pytester.path / path).read_text(encoding="utf-8") for name, path in outputs.items()})
    assert "your key is ***" in texts["samples"]
    for name, text in texts.items():
        assert KEY[:14] not in text, f"the key (or its start) is in {name}"


@pytest.mark.parametrize(("key", "redacted"), [(KEY, True), ("EMPTY", False)])
def test_answers_lose_a_real_key_but_keep_a_placeholder_word(
    serve: Callable[[dict[str, Behaviour]], Server], monkeypatch: pytest.MonkeyPatch, key: str, redacted: bool
) -> None:
    """A key as short as vLLM's "EMPTY" or Ollama's "ollama" is no secret; redacting it would change answers and their scores."""
    monkeypatch.setenv("TASKBENCH_API_KEY", key)
    server = serve({"answer": answer(chat(f"the word is {key}")), "error": answer(response(403, f"no such key {key}".encode()))})
    backend = HttpBackend(server.url, HttpOptions(model="m"))
    prompts = [Prompt(({"role": "user", "content": name},), name) for name in ("answer", "error")]
    text, error = backend.generate(prompts, GenerationParams())
    assert text.text == ("the word is ***" if redacted else f"the word is {key}")
    assert error.error is not None and error.error.endswith("HTTP 403: no such key ***")  # never in a message, however short
