"""How many requests to keep in flight against a server: adaptive, capped, polite.

A server that answers every request in the same time however many are in flight
(vLLM, TGI and other continuous-batching servers behave so far past a handful of
requests) is kept busy by sending more at once; one that slows down as requests pile
up gains nothing from more and should get fewer. ``AdaptiveLimit`` finds out by
measuring what each level gives, in rounds (a round ends when as many requests as the
limit, at least ``MIN_ROUND``, have been answered since it began):

- it starts at ``start`` requests in flight and doubles after each round whose answers
  per second rose by at least ``SLOW_START_GAIN`` over the best round so far;
- a round that did not gain that much means the server is saturated: the limit goes
  back to the best level, and from then on every ``PROBE_EVERY`` rounds tries a quarter
  more (kept only when it answers ``PROBE_GAIN`` faster) or, every other time, a fifth
  fewer (kept when it answers at least ``KEEP_FEWER`` as fast): a saturated server gets
  the fewest requests that keep it as busy, not a queue that only adds latency;
- an overload signal (429, 503, a timeout) halves the limit and ends the doubling;
- a ``Retry-After`` pauses every request, new and retried, until its time has passed
  (``wait_turn``): a server that asked for a pause is not hammered meanwhile;
- it never goes above ``cap``; ``fixed=True`` holds it at the cap.

Answers per second, not latency, decide: an LLM server's latency varies with each
answer's length, while a round's throughput averages over many answers.

Thread-safe: requests run on a pool's threads and report here; the thread that
submits them reads ``limit``. Domain code: no pytest import.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_START = 32
MIN_ROUND = 8  # answers a round needs at the least, so a low limit's rate is not one answer's luck
SLOW_START_GAIN = 1.2  # doubling the requests in flight must raise the answers per second this much to go on doubling
PROBE_EVERY = 2  # saturated: rounds between tries of a quarter more requests in flight
PROBE_GROWTH = 1.25
PROBE_GAIN = 1.1
PROBE_SHRINK = 0.8
KEEP_FEWER = 0.95


@dataclass
class LimitStats:
    """What a run of requests saw: for the summary's generation line."""

    peak_in_flight: int = 0
    requests: int = 0
    overloads: int = 0
    paused_seconds: float = 0.0
    first_sent: float | None = None
    last_done: float | None = None

    @property
    def busy_seconds(self) -> float:
        if self.first_sent is None or self.last_done is None:
            return 0.0
        return max(0.0, self.last_done - self.first_sent)


@dataclass
class AdaptiveLimit:
    """The number of requests to keep in flight; see the module docstring."""

    cap: int
    fixed: bool = False
    start: int = DEFAULT_START
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    stats: LimitStats = field(default_factory=LimitStats)

    def __post_init__(self) -> None:
        if self.cap < 1:
            raise ValueError(f"cap must be at least 1, not {self.cap}")
        self._limit = self.cap if self.fixed else max(1, min(self.start, self.cap))
        self._phase = "slow start"  # then "steady", with a "probe" round now and then
        self._best_limit = self._limit
        self._best_rate: float | None = None
        self._round_start: float | None = None
        self._round_answers = 0
        self._steady_rounds = 0
        self._probe_up = False
        self._paused_until = 0.0
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def limit(self) -> int:
        """Requests to keep in flight now (1 to ``cap``)."""
        return self._limit

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def wait_turn(self) -> None:
        """Sleep until a pause a server asked for (``Retry-After``) has passed."""
        while True:
            with self._lock:
                left = self._paused_until - self.clock()
            if left <= 0:
                return
            self.stats.paused_seconds += left
            self.sleep(left)

    def sent(self) -> None:
        """A request goes out now."""
        with self._lock:
            now = self.clock()
            self._in_flight += 1
            self.stats.requests += 1
            self.stats.peak_in_flight = max(self.stats.peak_in_flight, self._in_flight)
            if self.stats.first_sent is None:
                self.stats.first_sent = now
            if self._round_start is None:
                self._round_start = now

    def answered(self) -> None:
        """A request came back with an answer that is not an overload signal."""
        with self._lock:
            self._done()
            if self.fixed:
                return
            self._round_answers += 1
            if self._round_answers >= max(self._limit, MIN_ROUND):
                self._end_round()

    def overloaded(self, retry_after: float | None = None) -> None:
        """The server said it is overloaded (429, 503) or a request timed out; ``retry_after``: seconds it asked to wait."""
        with self._lock:
            self._done()
            self.stats.overloads += 1
            if retry_after is not None and retry_after > 0:
                self._paused_until = max(self._paused_until, self.clock() + retry_after)
            if self.fixed:
                return
            self._limit = max(1, self._limit // 2)
            self._phase, self._best_limit, self._best_rate = "steady", self._limit, None
            self._new_round()

    def failed(self) -> None:
        """A request ended without an answer that says anything about load (a refused connection, a malformed answer)."""
        with self._lock:
            self._done()

    def _done(self) -> None:
        self._in_flight = max(0, self._in_flight - 1)
        self.stats.last_done = self.clock()

    def _new_round(self) -> None:
        self._round_start, self._round_answers = self.clock(), 0

    def _end_round(self) -> None:
        now = self.clock()
        began = now if self._round_start is None else self._round_start
        rate = self._round_answers / max(1e-9, now - began)
        best = self._best_rate
        if self._phase == "slow start":
            if best is None or rate >= best * SLOW_START_GAIN:
                self._best_rate, self._best_limit = rate, self._limit
                self._limit = min(self.cap, self._limit * 2)
            else:
                self._limit, self._phase = self._best_limit, "steady"
        elif self._phase == "probe":
            better = rate >= best * (PROBE_GAIN if self._probe_up else KEEP_FEWER) if best is not None else True
            if better:
                self._best_rate, self._best_limit = max(rate, best or rate), self._limit
            self._limit, self._phase = self._best_limit, "steady"
        else:
            self._best_rate = rate if best is None else (best + rate) / 2  # what this level gives now, smoothed: the server's speed drifts
            self._steady_rounds += 1
            if self._steady_rounds >= PROBE_EVERY:
                self._steady_rounds = 0
                self._probe_up = not self._probe_up
                if self._probe_up and self._limit < self.cap:
                    self._phase, self._limit = "probe", min(self.cap, max(self._limit + 1, int(self._limit * PROBE_GROWTH)))
                elif not self._probe_up and self._limit > 1:
                    self._phase, self._limit = "probe", max(1, int(self._limit * PROBE_SHRINK))
        self._new_round()
