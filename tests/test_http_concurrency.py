"""The HTTP backend keeps a server busy and is polite to it: adaptive requests in flight, keep-alive, Retry-After.

The limit's rules are checked against simulated servers on a fake clock (fast, exact); the
backend against real stdlib servers whose behaviour is scripted (a fixed latency, a latency that
grows with the requests in flight, a 429 with Retry-After, connections closed while idle).
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_taskbench.generation.base import GenerationParams, Prompt
from pytest_taskbench.generation.concurrency import AdaptiveLimit
from pytest_taskbench.generation.http import HttpBackend, HttpOptions


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def simulate(limit: AdaptiveLimit, clock: FakeClock, latency: Callable[[int], float], rounds: int) -> list[int]:
    """Drive ``limit`` against a server answering ``n`` requests in flight in ``latency(n)`` seconds; the limit after each round."""
    seen = []
    for _ in range(rounds):
        in_flight = limit.limit
        for _ in range(in_flight):
            limit.sent()
        clock.now += latency(in_flight)
        for _ in range(in_flight):
            limit.answered()
        seen.append(limit.limit)
    return seen


def test_a_server_as_fast_at_any_load_gets_the_cap() -> None:
    clock = FakeClock()
    limit = AdaptiveLimit(cap=256, clock=clock, sleep=clock.sleep)
    seen = simulate(limit, clock, lambda n: 0.2, rounds=8)
    assert seen[:3] == [64, 128, 256]  # doubles each round from 32
    assert seen[-1] == 256
    assert limit.stats.peak_in_flight == 256


def test_a_server_that_slows_down_under_load_gets_fewer_requests_than_the_cap() -> None:
    knee = 8  # up to 8 in flight each answer takes 50 ms; beyond, they queue: the answers per second stay flat
    clock = FakeClock()
    limit = AdaptiveLimit(cap=256, clock=clock, sleep=clock.sleep)
    seen = simulate(limit, clock, lambda n: 0.05 * max(1.0, n / knee), rounds=80)
    assert max(seen) <= 64  # one doubling past the start showed no gain
    assert seen[-1] < 32  # and probing for fewer found that fewer keep it as busy
    assert seen[-1] >= 1


def test_a_server_that_scales_up_to_a_point_is_kept_near_it() -> None:
    knee = 100
    clock = FakeClock()
    limit = AdaptiveLimit(cap=1000, clock=clock, sleep=clock.sleep)
    seen = simulate(limit, clock, lambda n: 0.1 * max(1.0, n / knee), rounds=60)
    assert 64 <= seen[-1] <= 256


def test_an_overload_halves_the_limit_and_retry_after_pauses_every_request() -> None:
    clock = FakeClock()
    limit = AdaptiveLimit(cap=256, clock=clock, sleep=clock.sleep)
    simulate(limit, clock, lambda n: 0.2, rounds=3)
    before = limit.limit
    limit.sent()
    limit.overloaded(retry_after=2.0)
    assert limit.limit == before // 2
    limit.wait_turn()
    assert clock.slept == [2.0]
    limit.wait_turn()  # the pause has passed
    assert clock.slept == [2.0]


def test_a_fixed_limit_never_moves() -> None:
    clock = FakeClock()
    limit = AdaptiveLimit(cap=8, fixed=True, clock=clock, sleep=clock.sleep)
    seen = simulate(limit, clock, lambda n: 0.05 * n, rounds=10)
    limit.sent()
    limit.overloaded()
    assert set(seen) == {8} and limit.limit == 8


@given(
    cap=st.integers(1, 512),
    events=st.lists(st.tuples(st.sampled_from(["answered", "overloaded", "failed", "tick"]), st.floats(0.001, 5)), max_size=300),
)
def test_the_limit_stays_between_one_and_the_cap(cap: int, events: list[tuple[str, float]]) -> None:
    clock = FakeClock()
    limit = AdaptiveLimit(cap=cap, clock=clock, sleep=clock.sleep)
    for event, value in events:
        if event == "tick":
            clock.now += value
            continue
        limit.sent()
        if event == "answered":
            limit.answered()
        elif event == "overloaded":
            limit.overloaded(retry_after=value)
        else:
            limit.failed()
        assert 1 <= limit.limit <= cap
        assert limit.in_flight == 0
    assert limit.stats.requests == sum(event != "tick" for event, _ in events)


# real servers, scripted ------------------------------------------------------------------


class Scripted(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512

    def __init__(self, answer: Callable[[Scripted, int], tuple[int, dict[str, str], float]]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.answer = answer
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.arrivals: list[float] = []
        self.in_flight_seen: list[int] = []
        self.connections = 0
        self.keep_alive = True
        self.idle_timeout: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Scripted

    def setup(self) -> None:
        self.timeout = self.server.idle_timeout
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            self.server.in_flight += 1
            self.server.peak = max(self.server.peak, self.server.in_flight)
            self.server.arrivals.append(time.monotonic())
            self.server.in_flight_seen.append(self.server.in_flight)
            in_flight = self.server.in_flight
        status, headers, latency = self.server.answer(self.server, in_flight)
        time.sleep(latency)
        with self.server.lock:
            self.server.in_flight -= 1
        payload = {"choices": [{"message": {"role": "assistant", "content": "ok"}}]} if status == 200 else {"error": {"message": "slow down"}}
        body = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if not self.server.keep_alive:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[Scripted, int], tuple[int, dict[str, str], float]]], Scripted]]:
    servers: list[Scripted] = []

    def start(answer: Callable[[Scripted, int], tuple[int, dict[str, str], float]]) -> Scripted:
        server = Scripted(answer)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def prompts(count: int) -> list[Prompt]:
    return [Prompt(({"role": "user", "content": f"p{i}"},), f"p{i}") for i in range(count)]


PARAMS = GenerationParams(max_new_tokens=4)


@pytest.mark.slow
def test_a_server_answering_429_with_retry_after_is_waited_on_not_hammered(serve: Callable[..., Scripted]) -> None:
    refused: list[float] = []

    def answer(server: Scripted, in_flight: int) -> tuple[int, dict[str, str], float]:
        with server.lock:
            if len(server.arrivals) == 20 and not refused:  # the 20th request is told to come back in 2 s
                refused.append(time.monotonic())
                return 429, {"Retry-After": "2"}, 0.0
        return 200, {}, 0.02

    server = serve(answer)
    backend = HttpBackend(server.url, HttpOptions(model="m", concurrency=4, retries=2))
    results = backend.generate(prompts(60), PARAMS)
    assert all(r.text == "ok" for r in results)
    (at,) = refused
    in_pause = [t for t in server.arrivals if at + 0.1 < t < at + 1.9]  # those already sent when the 429 came are in the first 0.1 s
    assert in_pause == []
    assert any(t >= at + 2.0 for t in server.arrivals)
    assert backend.generation_facts()["http_overloads"] == 1


@pytest.mark.slow
def test_a_server_that_slows_down_under_load_gets_fewer_requests_in_flight(serve: Callable[..., Scripted]) -> None:
    server = serve(lambda server, in_flight: (200, {}, 0.03 * max(1.0, in_flight / 4)))  # beyond 4 in flight, more only queue
    backend = HttpBackend(server.url, HttpOptions(model="m", concurrency=256))
    assert all(r.text == "ok" for r in backend.generate(prompts(800), PARAMS))
    last = server.in_flight_seen[-200:]
    assert server.peak <= 128  # never near the cap (the simulated servers above check the rules exactly)
    assert sum(last) / len(last) <= 64


@pytest.mark.slow
def test_a_server_fast_at_any_load_gets_the_cap_on_kept_alive_connections(serve: Callable[..., Scripted]) -> None:
    server = serve(lambda server, in_flight: (200, {}, 0.05))
    backend = HttpBackend(server.url, HttpOptions(model="m", concurrency=64))
    assert all(r.text == "ok" for r in backend.generate(prompts(800), PARAMS))
    assert server.peak >= 48  # the server saw nearly all 64 at once (threads start a little apart)
    assert server.connections <= 64  # one per request in flight at the most, not one per request
    facts = backend.generation_facts()
    assert facts["http_peak_in_flight"] == 64 and facts["http_requests"] == 800 and facts["http_connections"] == server.connections


@pytest.mark.slow
def test_connections_the_server_closes_are_not_reused(serve: Callable[..., Scripted]) -> None:
    server = serve(lambda server, in_flight: (200, {}, 0.0))
    server.keep_alive = False
    backend = HttpBackend(server.url, HttpOptions(model="m", concurrency=4))
    assert all(r.text == "ok" for r in backend.generate(prompts(40), PARAMS))
    assert server.connections == 40


@pytest.mark.slow
def test_a_kept_alive_connection_closed_while_idle_is_replaced_without_failing_the_case(serve: Callable[..., Scripted]) -> None:
    server = serve(lambda server, in_flight: (200, {}, 0.0))
    server.idle_timeout = 0.2  # the server closes a connection idle this long, as servers do
    backend = HttpBackend(server.url, HttpOptions(model="m", concurrency=1, retries=0))
    assert backend.generate(prompts(1), PARAMS)[0].text == "ok"
    time.sleep(0.6)
    results = backend.generate(prompts(3), PARAMS)
    assert [r.text for r in results] == ["ok"] * 3, [r.error for r in results]
    assert server.connections == 2  # the closed one replaced once, then kept alive


def test_the_generation_line_says_how_busy_the_server_was_kept_across_workers() -> None:
    from pytest_taskbench.reports.terminal import generation_line
    from pytest_taskbench.run import merge_counters

    workers = [
        {
            "generated": 300,
            "served": 300,
            "generation_seconds": 2.0,
            "http_requests": 300,
            "http_peak_in_flight": 64,
            "http_concurrency_cap": 256,
            "http_seconds": 2.0,
        },
        {
            "generated": 200,
            "served": 200,
            "generation_seconds": 1.5,
            "http_requests": 200,
            "http_peak_in_flight": 128,
            "http_concurrency_cap": 256,
            "http_seconds": 2.5,
        },
    ]
    line = generation_line(merge_counters(workers))
    assert line.endswith("; 500 requests, up to 128 in flight (cap 256), 200.0 requests/s")  # side by side: the longest span, the largest peak


def test_the_generation_line_names_the_device_and_dtype_once_for_workers_that_agree() -> None:
    from pytest_taskbench.reports.terminal import generation_line
    from pytest_taskbench.run import merge_counters

    same = merge_counters([{"generated": 1, "device": "cpu", "dtype": "float32"}, {"generated": 1, "device": "cpu", "dtype": "float32"}])
    assert generation_line(same).endswith("; on cpu (float32)")
    mixed = merge_counters([{"device": "cuda:0", "dtype": "bfloat16"}, {"device": "cuda:1", "dtype": "bfloat16"}])
    assert generation_line(mixed).endswith("; on cuda:0/cuda:1 (bfloat16)")
