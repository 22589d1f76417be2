"""An OpenAI-compatible HTTP server as the model: ``--taskbench-model=http://host:port/v1``.

Works with vLLM, TGI, llama.cpp's server, Ollama and ``transformers serve``:
``/chat/completions`` (default) or ``/completions``, several requests in flight,
retries with exponential backoff on 429, 5xx, timeouts and connection errors, and
one clear failure per case when a request finally fails. Only the standard library
is used (``http.client`` and a thread pool).

A prompt's tools are sent as ``tools`` (with ``tool_choice`` when the suite sets
one); the calls a server returns in ``message.tool_calls`` are written after the
message's text as ``<tool_call>{"name": ..., "arguments": ...}</tool_call>`` blocks,
which every built-in tool-call parser reads, and a server that returns its calls as
text needs nothing more.

Servers differ in their defaults, so every request states ``max_tokens`` and
``temperature`` (``transformers serve`` generates 1024 tokens when max_tokens is
left out; vLLM and others sample at temperature 0.7 when it is). Errors come back
as OpenAI's ``{"error": {"message": ...}}`` or FastAPI's ``{"detail": ...}``;
both are read.

The server is not trusted. Whatever one request gets back (a slow or endless
answer, a huge one, malformed JSON, a redirect elsewhere) fails that case alone:

- ``timeout`` is a deadline for the whole request (connect, send, status line,
  headers, body, redirects followed): every blocking socket call gets only the
  time left, so a server trickling bytes cannot hold a case longer. A timeout is
  retried like other transient errors and does not mark the server as gone.
- An answer's body is read in chunks and refused past ``MAX_RESPONSE_BYTES``.
- Redirects are never followed to another origin (scheme, host, port). A POST
  follows only a same-origin 307 or 308 (which keep the method and body); a GET
  (``/models``) any same-origin redirect, ``MAX_REDIRECTS`` at most.

The API key is read from an environment variable (``TASKBENCH_API_KEY`` unless
``--taskbench-http-api-key-env`` names another) and only ever put in the
``Authorization`` header of requests to the base URL's origin: never in the
identity, the cache, errors or reports. Servers may echo it back, so its value is
replaced by ``***`` in everything a server says (error bodies, answers, model
names, ``Location`` headers) before it is kept or shown.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from pytest_taskbench.call_parsers import calls_text
from pytest_taskbench.generation.base import Generation, GenerationParams, ModelLoadError, Prompt, apply_stop
from pytest_taskbench.generation.transport import (
    Connection,
    Deadline,
    RequestFailed,
    Unreachable,
    origin_of,
    read_body,
)
from pytest_taskbench.guards.display import safe_text

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_SERVER_STOP_SEQUENCES = 4  # OpenAI's limit; the rest are applied here
MAX_RESPONSE_BYTES = 16 * 1024 * 1024  # one answer's body; memory per request in flight stays within a few times this
MAX_ERROR_BODY_BYTES = 64 * 1024  # of an error body only the start is read (and 300 characters shown)
MAX_REDIRECTS = 3  # same-origin hops followed within one request
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
REDACTED = "***"
# A key this short is a placeholder ("EMPTY", "ollama", "dummy"), not a secret: it is still redacted from
# errors and server texts, but not from answers, where replacing a common word would silently change scores.
MIN_KEY_LENGTH_REDACTED_IN_ANSWERS = 8


@dataclass(frozen=True)
class HttpOptions:
    endpoint: str = "chat"  # "chat" or "completions"
    model: str | None = None  # None: the only model the server's /models lists
    api_key_env: str = "TASKBENCH_API_KEY"
    concurrency: int = 8
    timeout: float = 120.0  # seconds for a whole request: connect, send, headers and body
    retries: int = 3
    backoff: float = 0.5  # seconds before the first retry; doubles each time
    max_backoff: float = 20.0


def check_base_url(spec: str) -> None:
    """Cheap validation of ``http://host:port/v1`` before any item runs."""
    parsed = urllib.parse.urlparse(spec)
    try:
        parsed.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise ModelLoadError(f"{spec!r} has a bad port; expected http://HOST:PORT/v1") from None
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ModelLoadError(f"{spec!r} is not a server URL; expected http://HOST:PORT/v1")


def error_message(body: bytes, secret: str | None = None) -> str:
    """The server's own words from an error body: OpenAI's ``error`` or FastAPI's ``detail`` shape.

    ``secret`` (the API key) is replaced by ``***`` before the text is cut to length, so no part of it
    survives; control characters and lone surrogates are escaped. Never raises.
    """
    raw = body.decode("utf-8", errors="replace")
    words = raw
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        pass
    else:
        try:
            words = _error_words(data)
        except Exception:  # noqa: BLE001 - e.g. RecursionError from str() of a deep structure: show the body itself
            words = raw
    return safe_text(redact(words, secret)).strip()[:300] or "(empty body)"


def _error_words(data: Any) -> str:
    if isinstance(data, dict):
        error = data.get("error", data.get("detail"))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            return str(error)
    return json.dumps(data)


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` (as is, JSON-, repr- or URL-escaped) replaced by ``***``."""
    if not secret:
        return text
    forms = {secret, json.dumps(secret)[1:-1], repr(secret)[1:-1], urllib.parse.quote(secret), urllib.parse.quote(secret, safe="")}
    for form in sorted(forms, key=len, reverse=True):
        if form:
            text = text.replace(form, REDACTED)
    return text


def _excerpt(raw: bytes | bytearray, secret: str | None, length: int = 200) -> str:
    """The start of a body for a message, quoted: redacted before it is cut, so no part of the key is left."""
    # enough bytes for `length` characters plus a key (or an escaped form of it) that starts among them
    text = redact(bytes(raw[: 4 * length + 8 * len(secret or "")]).decode("utf-8", errors="replace"), secret)
    return repr(text[:length])


def _json_excerpt(data: Any, secret: str | None, length: int = 200) -> str:
    """A JSON value written back for a message, redacted before it is cut."""
    try:
        text = json.dumps(data)
    except Exception:  # noqa: BLE001 - e.g. too deeply nested to write back: say so instead
        return "(not shown: too deeply nested)"
    return redact(text, secret)[:length]


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


@dataclass
class _Answer:
    status: int
    location: str | None
    retry_after: str | None
    body: bytearray


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
        self._discovery = threading.Lock()
        self._origin = origin_of(self.base_url)
        self._tls = ssl.create_default_context() if self._origin[0] == "https" else None

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
                    try:
                        generation = future.result()
                    except Exception as exc:  # noqa: BLE001 - generate_one does not raise; if it ever does, that case fails alone
                        generation = Generation(None, self._scrub(f"unexpected {type(exc).__name__}: {exc}"))
                    yield [pending.pop(future)], [generation]
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        return None

    # requests -----------------------------------------------------------------
    @property
    def model_name(self) -> str:
        if self._model_name is None:
            with self._discovery:  # one discovery however many requests start at once
                if self._model_name is None:
                    self._model_name = self._discover_model()
        return self._model_name

    def _api_key(self) -> str | None:
        return (os.environ.get(self.options.api_key_env) or None) if self.options.api_key_env else None

    def _scrub(self, message: str) -> str:
        """A message fit to keep and show: the API key redacted, control characters and lone surrogates escaped."""
        return safe_text(redact(message, self._api_key()))

    def _discover_model(self) -> str:
        url = f"{self.base_url}/models"
        try:
            data = self._request("GET", url, None)
        except RequestFailed as exc:
            raise ModelLoadError(self._scrub(f"cannot list the server's models at {url} ({exc}); pass --taskbench-http-model=NAME")) from None
        except Exception as exc:  # noqa: BLE001 - whatever the server did, one clear usage error
            raise ModelLoadError(
                self._scrub(f"cannot list the server's models at {url} (unexpected {type(exc).__name__}: {exc}); pass --taskbench-http-model=NAME")
            ) from None
        key = self._api_key()
        listed = data.get("data")
        names = [
            safe_text(redact(m["id"], key))
            for m in (listed if isinstance(listed, list) else [])
            if isinstance(m, dict) and isinstance(m.get("id"), str) and m["id"]
        ]
        if len(names) != 1:
            shown = ", ".join(name[:100] for name in names[:10]) or "none"
            raise ModelLoadError(f"{url} lists {len(names)} models ({shown}); pick one with --taskbench-http-model=NAME")
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
        if prompt.tools and self.options.endpoint == "chat":
            body["tools"] = [dict(tool) for tool in prompt.tools]
            if prompt.tool_choice is not None:
                body["tool_choice"] = prompt.tool_choice
        return body

    def generate_one(self, prompt: Prompt, params: GenerationParams) -> Generation:
        """One request, retried with backoff; never raises (anything unexpected fails this case alone)."""
        path = "/chat/completions" if self.options.endpoint == "chat" else "/completions"
        url = self.base_url + path
        try:
            return self._generate_one(url, prompt, params)
        except Exception as exc:  # noqa: BLE001 - one case's failure must not end the session
            return Generation(None, self._scrub(f"POST {url} failed: unexpected {type(exc).__name__}: {exc}"))

    def _generate_one(self, url: str, prompt: Prompt, params: GenerationParams) -> Generation:
        body = self.body(prompt, params)
        retries = 0 if self._server_down else self.options.retries  # a server seen gone gets one try per case
        attempt = 0
        while True:
            attempt += 1
            try:
                data = self._request("POST", url, body)
                text = _completion_text(data, self.options.endpoint, self._api_key(), params.stop)
            except RequestFailed as exc:
                if exc.retry and attempt <= retries:
                    delay = exc.wait if exc.wait is not None else self.options.backoff * 2 ** (attempt - 1)
                    time.sleep(min(delay, self.options.max_backoff))
                    continue
                if exc.connection:
                    with self._lock:
                        self._server_down = True
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                return Generation(None, self._scrub(f"POST {url} failed{tries}: {exc}"))
            with self._lock:
                self._server_down = False
            key = self._api_key()
            if key and len(key) >= MIN_KEY_LENGTH_REDACTED_IN_ANSWERS:
                text = redact(text, key)
            return Generation(text)

    def _request(self, method: str, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """One request (following allowed redirects) within one deadline; the JSON object it answers with."""
        key = self._api_key()
        data = json.dumps(body).encode() if body is not None else None
        deadline = Deadline(self.options.timeout)
        with self._lock:
            self.model_calls += method == "POST"
        target = url
        redirects = 0
        while True:
            answer = self._exchange(method, target, data, key, deadline)
            if answer.status not in REDIRECT_STATUSES:
                break
            target = self._redirect_target(method, target, answer, key)
            redirects += 1
            if redirects > MAX_REDIRECTS:
                raise RequestFailed(
                    f"more than {MAX_REDIRECTS} redirects, the last to {self._shown_url(target, key)}; point --taskbench-model at the final URL"
                )
        status, raw = answer.status, answer.body
        if not 200 <= status < 300:
            raise RequestFailed(f"HTTP {status}: {error_message(bytes(raw), key)}", retry=status in RETRY_STATUSES, wait=_retry_after(answer.retry_after))
        try:
            parsed = json.loads(raw)
        except RecursionError:
            raise RequestFailed("the server answered with JSON nested too deeply to read") from None
        except ValueError:
            raise RequestFailed(f"the server answered with something that is not JSON: {_excerpt(raw, key)}") from None
        if not isinstance(parsed, dict):
            raise RequestFailed(f"the server answered with JSON that is not an object: {_excerpt(raw, key)}")
        return parsed

    def _shown_url(self, url: str, key: str | None) -> str:
        return safe_text(redact(url, key))[:200]

    def _redirect_target(self, method: str, current: str, answer: _Answer, key: str | None) -> str:
        """The URL a redirect may be followed to, or RequestFailed saying why it is not followed."""
        if not answer.location:
            raise RequestFailed(f"HTTP {answer.status}: a redirect without a Location header")
        target = urllib.parse.urljoin(current, answer.location.strip())
        try:
            same_origin = origin_of(target) == self._origin
        except ValueError:
            same_origin = False
        if not same_origin:
            reason = "it is another origin (scheme, host or port), and the API key is only ever sent to the configured one"
        elif method != "GET" and answer.status not in (307, 308):
            reason = f"a {answer.status} turns a {method} into a GET; only 307 and 308 are followed"
        else:
            return target
        raise RequestFailed(
            f"the server redirected the {method} to {self._shown_url(target, key)} (HTTP {answer.status}), not followed: {reason}; "
            "point --taskbench-model at the final URL"
        )

    def _connection(self, host: str, port: int, deadline: Deadline) -> Connection:
        """A connection for one request. A keep-alive pool would hand one out here (and take it back in _exchange)."""
        return Connection(host, port, deadline, self._tls)

    def _exchange(self, method: str, url: str, data: bytes | None, key: str | None, deadline: Deadline) -> _Answer:
        """Send one request and read its answer (the body capped); transport failures become RequestFailed."""
        parts = urllib.parse.urlsplit(url)
        origin = origin_of(url)
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if key and origin == self._origin:
            headers["Authorization"] = f"Bearer {key}"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection = self._connection(origin[1], origin[2], deadline)
        response: http.client.HTTPResponse | None = None
        try:
            connection.connect()
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            status = response.status
            if status in REDIRECT_STATUSES:
                body = bytearray()  # not needed, and it may be large
            elif 200 <= status < 300:
                body = bytearray()
                too_large = response.length is not None and response.length > MAX_RESPONSE_BYTES  # said up front: read none of it
                if not too_large:
                    body, too_large = read_body(response, MAX_RESPONSE_BYTES, whole=True)
                if too_large:
                    raise RequestFailed(
                        f"the answer is larger than {MAX_RESPONSE_BYTES // (1024 * 1024)} MiB ({MAX_RESPONSE_BYTES} bytes), the most one answer may be"
                    )
            else:
                body, _ = read_body(response, MAX_ERROR_BODY_BYTES, whole=False)
            return _Answer(status, response.getheader("Location"), response.getheader("Retry-After"), body)
        except RequestFailed:
            raise
        except TimeoutError:  # the deadline, or a socket call that used up the time left
            raise RequestFailed(f"no complete answer within {deadline.seconds:g}s (--taskbench-http-timeout)", retry=True) from None
        except Unreachable as exc:
            raise RequestFailed(f"cannot reach the server ({exc}); is it running?", retry=True, connection=True) from None
        except ssl.SSLCertVerificationError as exc:
            raise RequestFailed(f"the server's TLS certificate is not trusted ({exc.verify_message or exc})") from None
        except (ConnectionError, http.client.IncompleteRead, ssl.SSLError) as exc:
            raise RequestFailed(f"the connection broke before a complete answer ({type(exc).__name__}: {exc})", retry=True) from None
        except http.client.HTTPException as exc:
            raise RequestFailed(f"the server's answer is not valid HTTP ({type(exc).__name__}: {str(exc)[:200]})") from None
        except OSError as exc:
            raise RequestFailed(f"connection error ({exc})", retry=True) from None
        except ValueError as exc:  # e.g. http.client refusing a URL with control characters
            raise RequestFailed(f"cannot send the request ({exc})") from None
        finally:
            if response is not None:
                response.close()  # http.client hands the socket to a response that will close it
            connection.close()


def _completion_text(data: dict[str, Any], endpoint: str, secret: str | None = None, stop: Sequence[str] = ()) -> str:
    """The answer's text cut at ``stop``, then its tool calls; RequestFailed naming what is wrong when the answer does not have the expected shape."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        if "error" in data or "detail" in data:
            try:
                words = _error_words(data)
            except Exception:  # noqa: BLE001 - e.g. too deeply nested to write out
                words = "(an error the server gave too deeply nested to show)"
            raise RequestFailed(redact(words, secret)[:300])
        raise RequestFailed(f"the response has no choices: {_json_excerpt(data, secret)}")
    choice = choices[0]
    if endpoint != "chat":
        return _cut(_text(choice.get("text"), "choices[0].text", secret), stop, secret)
    if "message" not in choice:
        raise RequestFailed(f"the response's choices[0] has no message: {_json_excerpt(choice, secret)}")
    message = choice["message"]
    if not isinstance(message, dict):
        raise RequestFailed(f"the response's choices[0].message is {_kind(message)}, not an object: {_json_excerpt(message, secret)}")
    content = message.get("content")
    if isinstance(content, list):  # OpenAI's content parts: [{"type": "text", "text": "..."}, ...]
        texts = []
        for index, part in enumerate(content):
            if not (isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                raise RequestFailed(
                    f'the response\'s choices[0].message.content[{index}] is not a {{"type": "text", "text": ...}} part: {_json_excerpt(part, secret)}'
                )
            texts.append(part["text"])
        return _cut("".join(texts), stop, secret) + _tool_calls_text(message.get("tool_calls"), secret)
    return _cut(_text(content, "choices[0].message.content", secret), stop, secret) + _tool_calls_text(message.get("tool_calls"), secret)


def _cut(text: str, stop: Sequence[str], secret: str | None) -> str:
    """The text with the key redacted (a real key, not a placeholder), then cut at the first stop sequence."""
    return apply_stop(redact(text, secret) if secret and len(secret) >= MIN_KEY_LENGTH_REDACTED_IN_ANSWERS else text, stop)


def _tool_calls_text(tool_calls: Any, secret: str | None) -> str:
    """A message's structured ``tool_calls`` as ``<tool_call>`` blocks after its text (call_parsers.py reads them back)."""
    if tool_calls is None or tool_calls == []:
        return ""
    calls = []
    for index, call in enumerate(tool_calls if isinstance(tool_calls, list) else [tool_calls]):
        function = call.get("function") if isinstance(call, dict) else None
        if not (isinstance(function, dict) and isinstance(function.get("name"), str)):
            raise RequestFailed(f"the response's choices[0].message.tool_calls[{index}] has no function name: {_json_excerpt(call, secret)}")
        calls.append((function["name"], function.get("arguments", {})))
    return calls_text(calls)


def _text(value: Any, where: str, secret: str | None) -> str:
    if value is None:
        return ""  # e.g. content null beside tool calls: the model said nothing
    if not isinstance(value, str):
        raise RequestFailed(f"the response's {where} is {_kind(value)}, not text: {_json_excerpt(value, secret)}")
    return value


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
