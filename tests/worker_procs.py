"""DM server worker processes for the multi-worker tests: ``python -m omadm_codec serve
--store URL`` processes, each on its own port of 127.0.0.1 (so a test can say which worker a
message goes to) or all on one port with SO_REUSEPORT; killed with SIGKILL, restarted, and
torn down after. Plus ``Steer``, an httpx transport that sends each request to the worker a
test chooses, whatever host the RespURI names.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent


class Worker:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None


SERVE_CREDENTIALS = ("--demo-credentials", "--server-auth", "HMAC")
"""The simulated device's account, server password and first nonce (serve has no default
account since issue 13), the server authenticated by HMAC as the devices of these tests ask."""


class Workers:
    """``count`` serve processes on the store ``store_url`` (context manager). ``args`` are
    extra ``serve`` options; every worker shares one seal key."""

    def __init__(self, store_url: str, count: int = 2, *, args: tuple[str, ...] = (),
                 reuse_port: bool = False) -> None:
        self.store_url = store_url
        self.count = count
        self.args = args
        self.reuse_port = reuse_port
        self.shared_port = free_port() if reuse_port else None
        self.env = dict(os.environ, OMADM_SEAL_KEY=secrets.token_hex(32),
                        PYTHONUNBUFFERED="1")
        path = os.environ.get("PYTHONPATH")
        self.env["PYTHONPATH"] = str(ROOT) + (os.pathsep + path if path else "")
        self.workers: list[Worker] = []

    def start_one(self, port: int | None = None) -> Worker:
        port = port if port is not None else (self.shared_port or free_port())
        command = [sys.executable, "-m", "omadm_codec", "serve", "--port", str(port),
                   "--store", self.store_url, "--quiet-banner", *SERVE_CREDENTIALS, *self.args]
        if self.reuse_port:
            command.append("--reuse-port")
        process = subprocess.Popen(command, env=self.env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        worker = Worker(process, port)
        deadline = time.monotonic() + 30
        while not any(line.startswith("worker ") for line in worker.output):
            if not worker.alive() or time.monotonic() > deadline:
                worker.process.kill()
                raise RuntimeError("a DM worker did not start:\n" + "\n".join(worker.output))
            time.sleep(0.02)
        return worker

    def __enter__(self) -> Workers:
        try:
            for _ in range(self.count):
                self.workers.append(self.start_one())
        except BaseException:
            self.__exit__()
            raise
        return self

    def kill(self, index: int, sig: int = signal.SIGKILL) -> None:
        worker = self.workers[index]
        worker.process.send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            worker.process.wait(10)

    def restart(self, index: int) -> Worker:
        old = self.workers[index]
        if old.alive():
            old.process.kill()
            old.process.wait(10)
        self.workers[index] = self.start_one(old.port)
        return self.workers[index]

    def url(self, index: int = 0) -> str:
        return f"http://127.0.0.1:{self.workers[index].port}/dm"

    def ports(self) -> list[int]:
        return [w.port for w in self.workers]

    def output(self) -> str:
        return "\n".join(line for w in self.workers for line in w.output)

    def wait_output(self, text: str, timeout: float = 15.0) -> str:
        """The workers' output once it holds ``text`` (their lines arrive through a reader
        thread, after the answer that caused them may already be back)."""
        deadline = time.monotonic() + timeout
        while text not in (out := self.output()):
            assert time.monotonic() < deadline, out
            time.sleep(0.02)
        return out

    def __exit__(self, *exc: object) -> None:
        for worker in self.workers:
            if worker.alive():
                worker.process.send_signal(signal.SIGCONT)
                worker.process.terminate()
        for worker in self.workers:
            try:
                worker.process.wait(10)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait(5)


class Steer(httpx.BaseTransport):
    """Sends each request to the port ``choose(n)`` gives for the n-th request (0-based),
    and records (port, path, status) of every exchange."""

    def __init__(self, choose: Callable[[int], int]) -> None:
        self.choose = choose
        self.inner = httpx.HTTPTransport()
        self.log: list[tuple[int, str, int]] = []
        self.before: Callable[[int, int], None] | None = None
        """Called with (n, port) just before the n-th request goes out."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        n = len(self.log)
        port = self.choose(n)
        if self.before is not None:
            self.before(n, port)
        request.url = request.url.copy_with(port=port)
        try:
            response = self.inner.handle_request(request)
        except httpx.TransportError:
            self.log.append((port, request.url.path, 0))
            raise
        response.read()
        self.log.append((port, request.url.path, response.status_code))
        return response

    def close(self) -> None:
        self.inner.close()


def client_for(steer: Steer, timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(transport=steer, timeout=timeout)
