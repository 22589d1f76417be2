"""HTTP backend benchmark: what concurrency buys against a server that takes a fixed time per answer.

    python benchmarks/bench_http.py                          # the shipped suite, 50 ms per answer, concurrency 1, 8, 32
    python benchmarks/bench_http.py --latency 0.2 --concurrency 1,16

A stub OpenAI-compatible server (the standard library's ThreadingHTTPServer, in this
process) answers ``/v1/models`` and ``/v1/chat/completions`` after ``--latency``
seconds with the same short answer, so the time a run spends generating is the
server's latency divided by the requests in flight, plus what the plugin's client
costs per request. pytest runs a copy of the shipped suite against it with
``--taskbench-no-cache`` at each ``--concurrency``, each a fresh process, and once
with an instant ``module:function`` model (no server, no cache) as the reference.
Every figure is read from the same run: the generation seconds from the summary's
``generation:`` line, the wall time of the whole pytest process.

Nothing is downloaded; everything runs offline on one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
ANSWER = '{"action": "list"}'
INSTANT_MODEL = "def respond(prompts):\n    return ['" + ANSWER + "' for _ in prompts]\n"
GENERATION = re.compile(r"^generation: (\d+) outputs .* in ([\d.]+)s", re.MULTILINE)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", type=Path, default=REPO / "cases", help="taskbench suite directory")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the stub server takes per answer")
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated --taskbench-http-concurrency values")
    return parser.parse_args(argv)


def serve(latency: float) -> tuple[ThreadingHTTPServer, str]:
    """A stub OpenAI-compatible server on a free local port, answering in a background thread."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return None

        def _send(self, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            self._send({"object": "list", "data": [{"id": "stub", "object": "model"}]})

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            time.sleep(latency)
            self._send({"choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}]})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


def run_pytest(workdir: Path, model: str, *extra: str) -> tuple[float, int, float]:
    """(wall seconds, outputs, generation seconds) of one fresh pytest process."""
    # Only the taskbench plugin loads, not whatever else the environment has installed.
    command = [sys.executable, "-m", "pytest", "-p", "pytest_taskbench.plugin", "cases", f"--taskbench-model={model}", "--taskbench-no-cache"]
    command += ["-q", "--tb=no", "-p", "no:cacheprovider", *extra]
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    began = time.perf_counter()
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - began
    match = GENERATION.search(done.stdout)
    if done.returncode not in (0, 1) or match is None:
        raise RuntimeError(f"pytest exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds, int(match.group(1)), float(match.group(2))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    levels = [int(value) for value in args.concurrency.split(",") if value.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="bench-http-"))
    try:
        shutil.copytree(args.suite, workdir / "cases")
        (workdir / "instant.py").write_text(INSTANT_MODEL)
        (workdir / "pytest.ini").write_text("[pytest]\n")  # keep any enclosing configuration out
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; suite {args.suite}")
        wall, cases, _ = run_pytest(workdir, "instant:respond")
        print(f"reference: instant module:function model, {cases} cases: {wall:.2f}s wall")
        server, url = serve(args.latency)
        try:
            print(f"stub server answering after {1000 * args.latency:.0f} ms ({url})")
            print("  concurrency     wall  generation  ideal  cases/s  (ideal: cases x latency / concurrency)")
            for level in levels:
                seconds, cases, generation = run_pytest(workdir, url, f"--taskbench-http-concurrency={level}")
                ideal = cases * args.latency / level
                print(f"  {level:>11}  {seconds:6.2f}s  {generation:9.2f}s  {ideal:5.2f}s  {cases / generation:7.1f}")
        finally:
            server.shutdown()
            server.server_close()
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
