"""An OpenAI-compatible HTTP server as the model: ``--taskbench-model=http://host:port/v1``.

Works with vLLM, TGI, llama.cpp's server, Ollama and ``transformers serve``:
``/chat/completions`` (default) or ``/completions``, several requests in flight,
retries with exponential backoff on 429, 5xx and connection errors, and one
clear failure per case when a request finally fails. Only the standard library
is used (urllib and a thread pool).

Servers differ in their defaults, so every request states ``max_tokens`` and
``temperature`` (``transformers serve`` generates 1024 tokens when max_tokens is
left out; vLLM and others sample at temperature 0.7 when it is). Errors come back
as OpenAI's ``{"error": {"message": ...}}`` or FastAPI's ``{"detail": ...}``;
both are read.

The API key is read from an environment variable (``TASKBENCH_API_KEY`` unless
``--taskbench-http-api-key-env`` names another) and only ever put in the
``Authorization`` header: never in the identity, the cache, errors or reports.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from pytest_taskbench.generation.base import Generation, GenerationParams, ModelLoadError, Prompt, apply_stop

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_SERVER_STOP_SEQUENCES = 4  # OpenAI's limit; the rest are applied here


@dataclass(frozen=True)
class HttpOptions:
    endpoint: str = "chat"  # "chat" or "completions"
    model: str | None = None  # None: the only model the server's /models lists
    api_key_env: str = "TASKBENCH_API_KEY"
    concurrency: int = 8
    timeout: float = 120.0
    retries: int = 3
    backoff: float = 0.5  # seconds before the first retry; doubles each time
    max_backoff: float = 20.0


class RequestFailed(Exception):
    """A request that will not succeed by retrying, or whose retries ran out."""

    def __init__(self, message: str, *, retry: bool = False, connection: bool = False, wait: float | None = None) -> None:
        super().__init__(message)
        self.retry = retry
        self.connection = connection
        self.wait = wait


def check_base_url(spec: str) -> None:
    """Cheap validation of ``http://host:port/v1`` before any item runs."""
    parsed = urllib.parse.urlparse(spec)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ModelLoadError(f"{spec!r} is not a server URL; expected http://HOST:PORT/v1")


def error_message(body: bytes) -> str:
    """The server's own words from an error body: OpenAI's ``error`` or FastAPI's ``detail`` shape."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", errors="replace").strip()[:300] or "(empty body)"
    if isinstance(data, dict):
        error = data.get("error", data.get("detail"))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            return str(error)[:300]
    return json.dumps(data)[:300]


class HttpBackend:
    """Generation through an OpenAI-compatible server; see the module docstring."""

    name = "http"

    def __init__(self, base_url: str, options: HttpOptions | None = None) -> None:
        check_base_url(base_url)
        self.base_url = base_url.rstrip("/")
        self.options = options or HttpOptions()
        self.model_calls = 0
        self._model_name = self.options.model
        self._server_down = False
        self._lock = threading.Lock()

    # protocol -----------------------------------------------------------------
    def identity(self) -> str:
        """Server URL, endpoint and model name: what the server answers with is all we can know of it."""
        return f"http:{self.base_url}:{self.options.endpoint}:{self.model_name}"

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        results: list[Generation] = [Generation(None, "not generated")] * len(prompts)
        for indices, generations in self.generate_iter(prompts, params):
            results[indices[0]] = generations[0]
        return results

    def generate_iter(self, prompts: Sequence[Prompt], params: GenerationParams) -> Iterator[tuple[list[int], list[Generation]]]:
        """Yield each answer as it arrives, ``concurrency`` requests in flight."""
        if not prompts:
            return
        executor = ThreadPoolExecutor(max_workers=max(1, self.options.concurrency), thread_name_prefix="taskbench-http")
        try:
            pending: dict[Future[Generation], int] = {executor.submit(self.generate_one, prompt, params): index for index, prompt in enumerate(prompts)}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield [pending.pop(future)], [future.result()]
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        return None

    # requests -----------------------------------------------------------------
    @property
    def model_name(self) -> str:
        if self._model_name is None:
            self._model_name = self._discover_model()
        return self._model_name

    def _discover_model(self) -> str:
        url = f"{self.base_url}/models"
        try:
            data = self._request("GET", url, None)
        except RequestFailed as exc:
            raise ModelLoadError(f"cannot list the server's models at {url} ({exc}); pass --taskbench-http-model=NAME") from None
        names = [str(m.get("id")) for m in data.get("data", []) if isinstance(m, dict) and m.get("id")]
        if len(names) != 1:
            listed = ", ".join(names[:10]) or "none"
            raise ModelLoadError(f"{url} lists {len(names)} models ({listed}); pick one with --taskbench-http-model=NAME")
        return names[0]

    def body(self, prompt: Prompt, params: GenerationParams) -> dict[str, Any]:
        """The request body. max_tokens and temperature are always explicit (server defaults differ)."""
        body: dict[str, Any] = {"model": self.model_name, "max_tokens": params.max_new_tokens, "temperature": params.temperature, "stream": False}
        if self.options.endpoint == "chat":
            messages = [dict(m) for m in prompt.messages] if params.use_chat_template else [{"role": "user", "content": prompt.text}]
            body["messages"] = messages
        else:
            body["prompt"] = prompt.text
        if params.stop:
            body["stop"] = list(params.stop[:MAX_SERVER_STOP_SEQUENCES])
        return body

    def generate_one(self, prompt: Prompt, params: GenerationParams) -> Generation:
        """One request, retried with backoff; never raises."""
        path = "/chat/completions" if self.options.endpoint == "chat" else "/completions"
        url = self.base_url + path
        body = self.body(prompt, params)
        retries = 0 if self._server_down else self.options.retries  # a server seen gone gets one try per case
        attempt = 0
        while True:
            attempt += 1
            try:
                data = self._request("POST", url, body)
                text = _completion_text(data, self.options.endpoint)
            except RequestFailed as exc:
                if exc.retry and attempt <= retries:
                    delay = exc.wait if exc.wait is not None else self.options.backoff * 2 ** (attempt - 1)
                    time.sleep(min(delay, self.options.max_backoff))
                    continue
                if exc.connection:
                    with self._lock:
                        self._server_down = True
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                return Generation(None, f"POST {url} failed{tries}: {exc}")
            with self._lock:
                self._server_down = False
            return Generation(apply_stop(text, params.stop))

    def _request(self, method: str, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.options.api_key_env) if self.options.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        with self._lock:
            self.model_calls += method == "POST"
        try:
            with urllib.request.urlopen(request, timeout=self.options.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            status = exc.code
            message = f"HTTP {status}: {error_message(exc.read())}"
            retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            raise RequestFailed(message, retry=status in RETRY_STATUSES, wait=retry_after) from None
        except (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RequestFailed(f"cannot reach the server ({reason}); is it running?", retry=True, connection=True) from None
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise RequestFailed(f"the server answered with something that is not JSON: {raw[:200]!r}") from None
        if not isinstance(parsed, dict):
            raise RequestFailed(f"the server answered with JSON that is not an object: {raw[:200]!r}")
        return parsed


def _completion_text(data: dict[str, Any], endpoint: str) -> str:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        if "error" in data or "detail" in data:
            raise RequestFailed(error_message(json.dumps(data).encode()))
        raise RequestFailed(f"the response has no choices: {json.dumps(data)[:200]}")
    choice = choices[0]
    text = (choice.get("message") or {}).get("content") if endpoint == "chat" else choice.get("text")
    return "" if text is None else str(text)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
