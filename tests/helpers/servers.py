"""A scripted stdlib OpenAI-compatible server for backend tests (faults on demand); the real `transformers serve` is tests/helpers/serve.py."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, dict[str, Any], dict[str, str]]


@dataclass
class Script:
    """Replies in order (the last one repeats); records every request."""

    replies: list[Reply] = field(default_factory=list)
    delay: float = 0.0
    gather: int = 0  # hold each request until this many have been in flight at once (10 s at most)
    requests: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Condition = field(default_factory=threading.Condition)

    def next(self, request: dict[str, Any]) -> Reply:
        with self.lock:
            self.requests.append(request)
            index = min(len(self.requests), len(self.replies)) - 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.lock.notify_all()
            self.lock.wait_for(lambda: self.most_in_flight >= self.gather, timeout=10)
        time.sleep(self.delay)
        with self.lock:
            self.in_flight -= 1
        return self.replies[index]


def chat_reply(text: str) -> Reply:
    return 200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}, {}


@contextlib.contextmanager
def scripted_server() -> Iterator[tuple[str, Script]]:
    """A stdlib server answering each POST with the script's next reply; yields its /v1 URL and the script."""
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def _answer(self, request: dict[str, Any]) -> None:
            status, body, headers = script.next(request)
            data = json.dumps(body).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            if self.path == "/v1/models":
                body = json.dumps({"object": "list", "data": [{"id": "served-model", "object": "model"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_error(404)

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self._answer({"path": self.path, "body": body, "authorization": self.headers.get("Authorization")})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", script
    finally:
        server.shutdown()
        server.server_close()
