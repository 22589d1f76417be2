"""One HTTP exchange under a deadline: the transport under the HTTP backend (``http.py``).

Every blocking socket call (connect, TLS handshake, send, each recv) is given only the
time left before the request's deadline, so the deadline holds however the server
spreads its bytes out, with no extra thread and nothing to race: a watchdog that shuts
sockets down from another thread cannot interrupt a connect and must not touch a socket
the request has already closed (its descriptor may be reused). DNS resolution
(getaddrinfo) is the one step the deadline cannot interrupt.

Domain code: no pytest import.
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
import threading
import time
import urllib.parse
from typing import Any

READ_CHUNK_BYTES = 64 * 1024


class DeadlinePassed(TimeoutError):
    """The request's deadline passed before it completed."""


class Unreachable(Exception):
    """No connection could be opened: refused, no route, unknown host."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(cause.strerror or str(cause) or type(cause).__name__)


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left; raises ``DeadlinePassed`` when none are."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise DeadlinePassed("timed out")
        return left


class DeadlineSocket:
    """The parts of a socket ``http.client`` uses, each blocking call limited to the time left.

    Like a socket, it stays open until it and every file made from it are closed: http.client closes
    the connection's socket while the response still reads from its file.
    """

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self.sock = sock
        self.deadline = deadline
        self._files = 0
        self._closed = False

    def sendall(self, data: bytes) -> None:
        self.sock.settimeout(self.deadline.left())
        self.sock.sendall(data)  # the timeout bounds the whole sendall (Python >= 3.5)

    def recv_into(self, buffer: Any) -> int:
        self.sock.settimeout(self.deadline.left())
        return self.sock.recv_into(buffer)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        if mode != "rb":
            raise ValueError(f"unsupported mode {mode!r}")
        self._files += 1
        return io.BufferedReader(DeadlineReader(self))

    def file_closed(self) -> None:
        self._files -= 1
        if self._closed and self._files <= 0:
            self.sock.close()

    def close(self) -> None:
        self._closed = True
        if self._files <= 0:
            self.sock.close()


class DeadlineReader(io.RawIOBase):
    def __init__(self, sock: DeadlineSocket) -> None:
        super().__init__()
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._sock.recv_into(buffer)

    def close(self) -> None:
        if not self.closed:
            self._sock.file_closed()
        super().close()


def open_socket(host: str, port: int, deadline: Deadline) -> socket.socket:
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise Unreachable(exc) from None
    failure: OSError = OSError(f"no address for {host}")
    for family, kind, proto, _, address in addresses:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(deadline.left())
            sock.connect(address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except TimeoutError:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            failure = exc
        except BaseException:
            sock.close()
            raise
    raise Unreachable(failure)


class Connection(http.client.HTTPConnection):
    """One HTTP(S) connection whose connect, handshake, send and every read share one deadline."""

    def __init__(self, host: str, port: int, deadline: Deadline, tls: ssl.SSLContext | None) -> None:
        super().__init__(host, port)
        self._deadline = deadline
        self._tls = tls

    def connect(self) -> None:
        sock = open_socket(self.host, self.port, self._deadline)
        try:
            if self._tls is not None:
                sock.settimeout(self._deadline.left())
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        # http.client only calls sendall, makefile("rb") and close on its socket
        self.sock = DeadlineSocket(sock, self._deadline)

    @property
    def is_open(self) -> bool:
        return self.sock is not None

    def renew(self, deadline: Deadline) -> None:
        """Give a kept-alive connection the next request's deadline."""
        self._deadline = deadline
        if isinstance(self.sock, DeadlineSocket):
            self.sock.deadline = deadline


class ConnectionPool:
    """Kept-alive connections, by origin, for requests to take and give back (one thread uses a connection at a time).

    Opening a connection costs a round trip (two with TLS) and a socket in TIME_WAIT when
    it closes; a run of thousands of requests on fresh connections spends more on that
    than a fast server spends answering.
    """

    def __init__(self, tls: ssl.SSLContext | None, max_idle: int = 256) -> None:
        self._tls = tls
        self._max_idle = max_idle
        self._idle: dict[tuple[str, int], list[Connection]] = {}
        self._lock = threading.Lock()
        self.opened = 0

    def take(self, host: str, port: int, deadline: Deadline) -> tuple[Connection, bool]:
        """A connection to (host, port) with ``deadline``, and whether it was kept alive (True) or is new."""
        with self._lock:
            idle = self._idle.get((host, port)) or []
            while idle:
                connection = idle.pop()
                if connection.is_open:
                    connection.renew(deadline)
                    return connection, True
        return self.take_new(host, port, deadline)

    def take_new(self, host: str, port: int, deadline: Deadline) -> tuple[Connection, bool]:
        """A new connection to (host, port), never a kept-alive one."""
        with self._lock:
            self.opened += 1
        return Connection(host, port, deadline, self._tls), False

    def give_back(self, connection: Connection) -> None:
        """Keep ``connection`` for the next request to its origin (closed instead when the pool is full)."""
        with self._lock:
            idle = self._idle.setdefault((connection.host, connection.port), [])
            if connection.is_open and len(idle) < self._max_idle:
                idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            connections = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for connection in connections:
            connection.close()


def origin_of(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of ``url``; raises ValueError for a bad port."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


def read_body(response: http.client.HTTPResponse, limit: int, *, whole: bool) -> tuple[bytearray, bool]:
    """Up to ``limit`` bytes of the body, in chunks, and whether there was more (the rest is left unread).

    ``whole``: a body shorter than its Content-Length is an error (http.client ends it quietly).
    """
    data = bytearray()
    while True:
        chunk = response.read(min(READ_CHUNK_BYTES, limit + 1 - len(data)))
        if not chunk:
            if whole and response.length:
                raise RequestFailed(f"the connection broke before a complete answer ({len(data)} bytes read, {response.length} more expected)", retry=True)
            return data, False
        data += chunk
        if len(data) > limit:
            del data[limit:]
            return data, True


class RequestFailed(Exception):
    """A request that will not succeed by retrying, or whose retries ran out."""

    def __init__(self, message: str, *, retry: bool = False, connection: bool = False, wait: float | None = None, overload: bool = False) -> None:
        super().__init__(message)
        self.retry = retry
        self.connection = connection
        self.wait = wait
        self.overload = overload  # a timeout: the server may have too much to do
