"""`transformers serve` as a test fixture: a real OpenAI-compatible server on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """`transformers serve` on a free loopback port; started on demand, always stopped."""

    def __init__(self, model: Path, log: Path) -> None:
        self.model, self.log = model, log
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def ensure(self) -> str:
        if self.process is not None and self.process.poll() is None:
            return self.url
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "transformers.cli.transformers",
            "serve",
            str(self.model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--device",
            "cpu",
        ]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}  # under xdist, tests/conftest.py has set the worker's share of threads
        self.process = subprocess.Popen(command, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"transformers serve exited with {self.process.returncode}:\n{self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                    if response.status == 200:
                        self.url = f"http://127.0.0.1:{port}/v1"
                        return self.url
            except OSError:
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"transformers serve did not become healthy in 120 s:\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
