"""An OpenAI-compatible HTTP server as the model: ``--taskbench-model=http://host:port/v1``.

Works with vLLM, TGI, llama.cpp's server, Ollama and ``transformers serve``:
``/chat/completions`` (default) or ``/completions``, several requests in flight,
retries with exponential backoff on 429, 5xx, timeouts and connection errors, and
one clear failure per case when a request finally fails. Only the standard library
is used (``http.client`` and a thread pool).

Servers differ in their defaults, so every request states ``max_tokens`` and
``temperature`` (``transformers serve`` generates 1024 tokens when max_tokens is
left out; vLLM and others sample at temperature 0.7 when it is). Errors come back
as OpenAI's ``{"error": {"message": ...}}`` or FastAPI's ``{"detail": ...}``;
both are read.

Samples (a sampled suite with ``repeats: N``): a prompt's N samples are asked for in one
request with ``"n": N`` and a ``seed``; a server that answers with fewer choices (it
ignores ``n``, as ``transformers serve`` does) gets the missing samples as one request
each, sample i with its own seed, and is not asked for ``n`` again. ``top_p``,
``top_k`` and ``seed`` are sent only when set (``top_k`` is not part of OpenAI's API:
vLLM takes it, some servers refuse it).

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

import functools
import http.client
import itertools
import json
import os
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from pytest_taskbench import defaults
from pytest_taskbench.generation.answers import completion_texts, error_message, excerpt, redact
from pytest_taskbench.generation.base import Generation, GenerationParams, ModelLoadError, Prompt, apply_stop
from pytest_taskbench.generation.concurrency import AdaptiveLimit
from pytest_taskbench.generation.transport import (
    Connection,
    ConnectionPool,
    Deadline,
    RequestFailed,
    Unreachable,
    origin_of,
    read_body,
)
from pytest_taskbench.guards.display import safe_text

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
OVERLOAD_STATUSES = frozenset({429, 503})  # the server says it has too much to do: fewer requests in flight
MAX_SERVER_STOP_SEQUENCES = 4  # OpenAI's limit; the rest are applied here
MAX_RESPONSE_BYTES = 16 * 1024 * 1024  # one answer's body; memory per request in flight stays within a few times this
MAX_ERROR_BODY_BYTES = 64 * 1024  # of an error body only the start is read (and 300 characters shown)
MAX_REDIRECTS = 3  # same-origin hops followed within one request
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# A key this short is a placeholder ("EMPTY", "ollama", "dummy"), not a secret: it is still redacted from
# errors and server texts, but not from answers, where replacing a common word would silently change scores.
MIN_KEY_LENGTH_REDACTED_IN_ANSWERS = 8


@dataclass(frozen=True)
class HttpOptions:
    endpoint: str = "chat"  # "chat" or "completions"
    model: str | None = None  # None: the only model the server's /models lists
    api_key_env: str = "TASKBENCH_API_KEY"
    concurrency: int = defaults.HTTP_CONCURRENCY  # the most requests in flight; fewer while the server slows down (concurrency.py)
    fixed_concurrency: bool = False  # hold ``concurrency`` requests in flight instead of adapting
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
        self._takes_n: bool | None = None  # None: not known yet; False once a server answered fewer choices than asked
        self._tls = ssl.create_default_context() if self._origin[0] == "https" else None
        self._pool = ConnectionPool(self._tls, max_idle=max(1, self.options.concurrency))
        self.limit = AdaptiveLimit(cap=max(1, self.options.concurrency), fixed=self.options.fixed_concurrency)

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
        """Yield each answer as it arrives, as many requests in flight as ``self.limit`` allows."""
        calls = [functools.partial(self.generate_one, prompt, params) for prompt in prompts]
        for index, generations in self._in_flight(calls, lambda index: 1):
            yield [index], generations

    def _in_flight(self, calls: Sequence[Callable[[], Any]], count: Callable[[int], int]) -> Iterator[tuple[int, list[Generation]]]:
        """Run ``calls`` on a pool of threads, keeping ``self.limit.limit`` of them running; yield (index, generations) as each ends.

        A call returns one Generation or a list of them; one that raises (none should) fails its ``count(index)`` outputs alone.
        """
        if not calls:
            return
        executor = ThreadPoolExecutor(max_workers=self.limit.cap, thread_name_prefix="taskbench-http")
        waiting = iter(range(len(calls)))
        pending: dict[Future[Any], int] = {}
        try:
            while True:
                for index in itertools.islice(waiting, max(0, self.limit.limit - len(pending))):
                    pending[executor.submit(calls[index])] = index
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    index = pending.pop(future)
                    try:
                        answer = future.result()
                        generations = answer if isinstance(answer, list) else [answer]
                    except Exception as exc:  # noqa: BLE001 - the calls do not raise; if one ever does, that case fails alone
                        generations = [Generation(None, self._scrub(f"unexpected {type(exc).__name__}: {exc}"))] * count(index)
                    yield index, generations
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    def generate_samples_iter(
        self, prompts: Sequence[Prompt], params: GenerationParams, samples: Sequence[Sequence[int]]
    ) -> Iterator[tuple[list[int], list[list[Generation]]]]:
        """Yield each prompt's samples as they arrive (see the module docstring), as many prompts in flight as ``self.limit`` allows."""
        calls = [functools.partial(self.generate_samples, prompt, params, list(indices)) for prompt, indices in zip(prompts, samples)]
        for index, generations in self._in_flight(calls, lambda index: len(samples[index])):
            yield [index], [generations]

    def generate_samples(self, prompt: Prompt, params: GenerationParams, indices: list[int]) -> list[Generation]:
        """Samples ``indices`` of one prompt: one request with ``n`` while the server honours it, else one request per sample."""
        url = self.base_url + ("/chat/completions" if self.options.endpoint == "chat" else "/completions")
        got: list[Generation] = []
        refused = False
        if len(indices) > 1 and self._takes_n is not False:
            try:
                answer = self._ask(url, self.body(prompt, params, n=len(indices), sample=indices[0]), params)
            except Exception as exc:  # noqa: BLE001 - one case's failure must not end the session
                answer = Generation(None, self._scrub(f"POST {url} failed: unexpected {type(exc).__name__}: {exc}"))
            if isinstance(answer, Generation):  # a failed request: the per-sample requests below say what is wrong
                refused = True
            else:
                got = [Generation(text) for text in answer[: len(indices)]]
                with self._lock:
                    self._takes_n = len(answer) >= len(indices)
        for index in indices[len(got) :]:
            got.append(self.generate_one(prompt, params, sample=index))
        if refused and got[0].text is not None:  # the request with n failed and the one without it worked: the server refuses n
            with self._lock:
                self._takes_n = False
        return got

    def close(self) -> None:
        self._pool.close()

    def generation_facts(self) -> dict[str, float | int]:
        """For the summary's generation line: requests sent, the most in flight at once, and over how long."""
        stats = self.limit.stats
        return {
            "http_requests": stats.requests,
            "http_peak_in_flight": stats.peak_in_flight,
            "http_concurrency_cap": self.limit.cap,
            "http_seconds": round(stats.busy_seconds, 3),
            "http_overloads": stats.overloads,
            "http_connections": self._pool.opened,
        }

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

    def body(self, prompt: Prompt, params: GenerationParams, *, n: int = 1, sample: int = 0) -> dict[str, Any]:
        """The request body. max_tokens and temperature are always explicit (server defaults differ).

        A sampled request carries the settings that are set and a seed per sample (the suite's seed plus
        the sample index), so a server that honours seeds answers sample i the same way every time.
        """
        body: dict[str, Any] = {"model": self.model_name, "max_tokens": params.max_new_tokens, "temperature": params.temperature, "stream": False}
        if params.sampled:
            body.update({key: value for key, value in (("top_p", params.top_p), ("top_k", params.top_k)) if value is not None})
            if params.seed is not None:
                body["seed"] = (params.seed + sample) % 2**63
            if n > 1:
                body["n"] = n
        if self.options.endpoint == "chat":
            messages = [dict(m) for m in prompt.messages] if params.use_chat_template else [{"role": "user", "content": prompt.text}]
            body["messages"] = messages
        else:
            body["prompt"] = prompt.text
        if params.stop:
            body["stop"] = list(params.stop[:MAX_SERVER_STOP_SEQUENCES])
        return body

    def generate_one(self, prompt: Prompt, params: GenerationParams, sample: int = 0) -> Generation:
        """One request, retried with backoff; never raises (anything unexpected fails this case alone)."""
        path = "/chat/completions" if self.options.endpoint == "chat" else "/completions"
        url = self.base_url + path
        try:
            answer = self._ask(url, self.body(prompt, params, sample=sample), params)
        except Exception as exc:  # noqa: BLE001 - one case's failure must not end the session
            return Generation(None, self._scrub(f"POST {url} failed: unexpected {type(exc).__name__}: {exc}"))
        return answer if isinstance(answer, Generation) else Generation(answer[0])

    def _ask(self, url: str, body: dict[str, Any], params: GenerationParams) -> list[str] | Generation:
        """The answer's texts (one per choice, stop sequences applied, at least one), or a failed Generation saying why."""
        retries = 0 if self._server_down else self.options.retries  # a server seen gone gets one try per case
        attempt = 0
        while True:
            attempt += 1
            try:
                data = self._request("POST", url, body)
                texts = completion_texts(data, self.options.endpoint, self._api_key())
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
                texts = [redact(text, key) for text in texts]
            return [apply_stop(text, params.stop) for text in texts]

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
            answer = self._counted_exchange(method, target, data, key, deadline)
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
            raise RequestFailed(f"the server answered with something that is not JSON: {excerpt(raw, key)}") from None
        if not isinstance(parsed, dict):
            raise RequestFailed(f"the server answered with JSON that is not an object: {excerpt(raw, key)}")
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

    def _counted_exchange(self, method: str, url: str, data: bytes | None, key: str | None, deadline: Deadline) -> _Answer:
        """``_exchange``; a generation request (a POST) waits for any pause the server asked for and tells the concurrency limit how it went."""
        if method != "POST":
            return self._exchange(method, url, data, key, deadline)
        self.limit.wait_turn()
        self.limit.sent()
        try:
            answer = self._exchange(method, url, data, key, deadline)
        except RequestFailed as exc:
            if exc.overload:
                self.limit.overloaded()
            else:
                self.limit.failed()
            raise
        except BaseException:
            self.limit.failed()
            raise
        if answer.status in OVERLOAD_STATUSES:
            self.limit.overloaded(_retry_after(answer.retry_after))
        else:
            self.limit.answered()
        return answer

    def _exchange(self, method: str, url: str, data: bytes | None, key: str | None, deadline: Deadline) -> _Answer:
        """Send one request on a kept-alive connection (or a new one) and read its answer; transport failures become RequestFailed.

        A kept-alive connection the server has since closed fails before any answer; the request is then sent again, once,
        on a new connection.
        """
        origin = origin_of(url)
        connection, kept_alive = self._pool.take(origin[1], origin[2], deadline)
        if kept_alive:
            try:
                return self._exchange_on(connection, method, url, data, key, deadline, kept_alive=True)
            except _ClosedByServer:
                connection, _ = self._pool.take_new(origin[1], origin[2], deadline)
        return self._exchange_on(connection, method, url, data, key, deadline, kept_alive=False)

    def _exchange_on(
        self, connection: Connection, method: str, url: str, data: bytes | None, key: str | None, deadline: Deadline, *, kept_alive: bool
    ) -> _Answer:
        parts = urllib.parse.urlsplit(url)
        origin = origin_of(url)
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if key and origin == self._origin:
            headers["Authorization"] = f"Bearer {key}"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        response: http.client.HTTPResponse | None = None
        reusable = False
        try:
            if not connection.is_open:
                connection.connect()
            try:
                connection.request(method, path, body=data, headers=headers)
                response = connection.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                if kept_alive:  # the server closed it while it was idle: nothing was answered
                    raise _ClosedByServer from None
                raise
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
            reusable = response.isclosed() and not response.will_close  # the whole answer read, and the server keeps the connection open
            return _Answer(status, response.getheader("Location"), response.getheader("Retry-After"), body)
        except (RequestFailed, _ClosedByServer):
            raise
        except TimeoutError:  # the deadline, or a socket call that used up the time left
            raise RequestFailed(f"no complete answer within {deadline.seconds:g}s (--taskbench-http-timeout)", retry=True, overload=True) from None
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
            if reusable:
                self._pool.give_back(connection)
            else:
                connection.close()


class _ClosedByServer(Exception):
    """A kept-alive connection turned out closed before the request was answered."""


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
