"""Session speed: full DM sessions in memory (package 1 to the Final-only package, 20
management commands), against the codec floor of the same messages; and over HTTP on
loopback (one uvicorn worker, the simulated devices in another process).

In memory (pytest-benchmark, one run measures everything it compares):
``python -m pytest benchmarks/bench_session.py --benchmark-only``; the session's cost over
``codec_floor`` (decode + encode of exactly the messages the session exchanged) is the
"session logic" share. Without pytest: ``python benchmarks/bench_session.py memory``.

Packages split over several messages (small MaxMsgSize on both sides):
``python benchmarks/bench_session.py split``.

Over HTTP: ``python benchmarks/bench_session.py http --devices 1000`` starts the server in
subprocesses (uvicorn on uvloop with the HTTP protocol ``omadm-codec serve`` runs, or
``--http httptools``; ``--workers N`` processes on one port with
SO_REUSEPORT, ``--store redis`` on a ``redis-server`` it starts) and the devices in
``--clients`` other processes of ``--concurrency`` threads each; it prints sessions per
second, p50/p99 per message, server CPU per session against the server's share of the same
session in memory, and checks that every queued command got its outcome.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from typing import Any

from omadm_codec import BACKEND
from omadm_codec.messages import decode, encode
from omadm_codec.messages.model import Command, Get, Item, Meta, Replace, Target
from omadm_codec.security import auth
from omadm_codec.security.nonces import NonceManager
from omadm_codec.session import ClientSession, ServerSession
from omadm_codec.session import events as ev
from omadm_codec.tools.simulator import (
    DEVICE_SECRET,
    DEVICE_USER,
    SERVER_ID,
    Exchange,
    build_tree,
    run_in_memory,
)

STORED = {DEVICE_USER: auth.secret_hash(DEVICE_USER, DEVICE_SECRET)}


def twenty_commands() -> list[Command]:
    gets: list[Command] = [Get("0", [Item(target=Target("./Vendor/Acme/Settings/Ringtone"))])
                           for _ in range(10)]
    replaces: list[Command] = [
        Replace("0", [Item(target=Target("./Vendor/Acme/Settings/Brightness"),
                           meta=Meta(format="int"), data=str(40 + i))]) for i in range(10)]
    return gets + replaces


class MemoryBench:
    """One device and one server account; every run is a whole session with md5 client
    authentication (no challenge: the nonce from the previous session's 212 is used)."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.tree = build_tree(server_auth="NONE")
        self.nonces = NonceManager()
        self.commands = twenty_commands()
        self.completed = 0
        self.statuses: list[int] | None = None
        self.session()  # the first session takes the md5 challenge; later ones do not

    def _app(self, server: ServerSession, events: list[ev.Event]) -> None:
        for event in events:
            if isinstance(event, ev.SessionStarted):
                server.send_commands(self.commands)
            elif isinstance(event, ev.CommandCompleted):
                self.completed += 1
                if self.statuses is not None:
                    self.statuses.append(event.status)

    def session(self) -> Exchange:
        server = ServerSession(server_id=SERVER_ID, server_uri="http://127.0.0.1/dm",
                               secret_lookup=STORED.get, nonces=self.nonces)
        client = ClientSession(self.tree, fmt=self.fmt)  # type: ignore[arg-type]
        return run_in_memory(client, server, app=self._app)

    def messages(self) -> list[bytes]:
        exchange = self.session()
        assert len(exchange.messages) == 4, "expected package 1, 2, 3 and the Final-only 4"
        return [m.body for _, m in exchange.messages]

    @staticmethod
    def codec_floor(bodies: list[bytes], fmt: str) -> None:
        """What the same messages cost the codec alone: each decoded once, encoded once."""
        for body in bodies:
            encode(decode(body), fmt)  # type: ignore[arg-type]


class SplitBench(MemoryBench):
    """Packages that need several messages: 60 Gets to a device with a small MaxMsgSize (the
    server splits its package), then 12 ``?list=Struct`` Gets whose Results together exceed
    the server's small MaxMsgSize (the device splits its package; each Results alone fits, so
    every Get is answered 200, which ``split_report`` checks). Filling each message must not
    cost an encode per candidate command, nor the device's whole outbox per message."""

    DEVICE_MAX = {"wbxml": 1500, "xml": 3000}
    SERVER_MAX = {"wbxml": 1200, "xml": 2500}

    def __init__(self, fmt: str) -> None:
        gets: list[Command] = [Get("0", [Item(target=Target("./Vendor/Acme/Settings/Ringtone"))])
                               for _ in range(60)]
        listed = Target("./Vendor/Acme/Settings?list=Struct")
        lists: list[Command] = [Get("0", [Item(target=listed)]) for _ in range(12)]
        self.split_commands = gets + lists
        super().__init__(fmt)
        self.commands = self.split_commands

    def session(self) -> Exchange:
        server = ServerSession(server_id=SERVER_ID, server_uri="http://127.0.0.1/dm",
                               secret_lookup=STORED.get, nonces=self.nonces,
                               max_msg_size=self.SERVER_MAX[self.fmt])
        client = ClientSession(self.tree, fmt=self.fmt,  # type: ignore[arg-type]
                               max_msg_size=self.DEVICE_MAX[self.fmt])
        return run_in_memory(client, server, app=self._app)


def split_report(rounds: int = 20) -> dict[str, Any]:
    out: dict[str, Any] = {"backend": BACKEND}
    for fmt in ("wbxml", "xml"):
        bench = SplitBench(fmt)
        bench.statuses = []
        exchange = bench.session()
        assert bench.statuses and set(bench.statuses) == {200}, set(bench.statuses)
        bodies = [m.body for _, m in exchange.messages]
        session = _time(bench.session, rounds)
        floor = _time(lambda: MemoryBench.codec_floor(bodies, fmt), rounds)  # noqa: B023
        out[fmt] = {"sessions_per_s": round(1 / session, 1), "session_ms": session * 1e3,
                    "codec_floor_ms": floor * 1e3, "messages": len(bodies),
                    "session_logic_overhead": session / floor - 1}
    return out


def _time(fn: Any, rounds: int) -> float:
    fn()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            fn()
        best = min(best, (time.perf_counter() - start) / rounds)
    return best


def memory_report(rounds: int = 200) -> dict[str, Any]:
    out: dict[str, Any] = {"backend": BACKEND}
    for fmt in ("wbxml", "xml"):
        bench = MemoryBench(fmt)
        bodies = bench.messages()
        session = _time(bench.session, rounds)
        floor = _time(lambda: MemoryBench.codec_floor(bodies, fmt), rounds)  # noqa: B023
        out[fmt] = {"sessions_per_s": round(1 / session), "session_ms": session * 1e3,
                    "codec_floor_ms": floor * 1e3,
                    "session_logic_overhead": session / floor - 1,
                    "bytes_per_session": sum(map(len, bodies))}
    return out


# -- pytest-benchmark --------------------------------------------------------------------------

try:
    import pytest
except ImportError:  # pragma: no cover
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.mark.parametrize("fmt", ["wbxml", "xml"])
    @pytest.mark.parametrize("what", ["session", "codec_floor"])
    def test_session_speed(benchmark, what, fmt):  # type: ignore[no-untyped-def]
        bench = MemoryBench(fmt)
        benchmark.group = f"full session, 20 commands, {fmt}"
        benchmark.extra_info.update(session_op=what, fmt=fmt, backend=BACKEND)
        if what == "session":
            before = bench.completed
            benchmark.pedantic(bench.session, rounds=100, warmup_rounds=3)
            assert (bench.completed - before) % 20 == 0
        else:
            bodies = bench.messages()
            benchmark.pedantic(MemoryBench.codec_floor, (bodies, fmt), rounds=100,
                               warmup_rounds=3)


# -- over HTTP ---------------------------------------------------------------------------------


class _TimedServer:
    """A ``ServerSession`` whose receive / data_to_send / take_events are timed: the server's
    share of an in-memory session (what the HTTP tier's cost is compared with)."""

    def __init__(self, session: ServerSession) -> None:
        self._session = session
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def _timed(self, name: str, *args: Any, **kw: Any) -> Any:
        # CPU time, not wall time: on a shared machine a preempted call is not slower.
        start = time.process_time()
        try:
            return getattr(self._session, name)(*args, **kw)
        finally:
            self.seconds += time.process_time() - start

    def receive(self, *args: Any, **kw: Any) -> Any:
        return self._timed("receive", *args, **kw)

    def data_to_send(self) -> Any:
        return self._timed("data_to_send")

    def take_events(self) -> Any:
        return self._timed("take_events")


def _http_session_parts() -> tuple[Any, dict[str, Any], Any]:
    """The device tree, the stored secrets and the application of the HTTP benchmark's
    session, in memory (BASIC client auth, no server auth, 20 commands)."""
    tree = build_tree(dev_id="IMEI:000000000000000", client_name="dev0", client_secret="pw",
                      client_auth="BASIC", server_auth="NONE")
    stored = {"dev0": auth.secret_hash("dev0", "pw")}

    def app(server: ServerSession, events: list[ev.Event]) -> None:
        for event in events:
            if isinstance(event, ev.SessionStarted):
                server.send_commands(twenty_commands())

    return tree, stored, app


def server_session_cost(fmt: str, rounds: int = 100, runs: int = 10) -> float:
    """CPU seconds of server-side work per in-memory session (BASIC client auth, no server
    auth, 20 commands: the HTTP benchmark's session), the best of ``runs`` runs."""
    tree, stored, app = _http_session_parts()
    best = float("inf")
    for _ in range(runs):
        total = 0.0
        for _ in range(rounds):
            server = _TimedServer(ServerSession(
                server_id=SERVER_ID, server_uri="http://127.0.0.1/dm", secret_lookup=stored.get,
                aauth_type="BASIC"))
            run_in_memory(ClientSession(tree, fmt=fmt), server, app=app)  # type: ignore[arg-type]
            total += server.seconds
        best = min(best, total / rounds)
    return best


def whole_session_cost(fmt: str, rounds: int = 100, runs: int = 10) -> float:
    """CPU seconds per in-memory session of both sides together (the same session as
    ``server_session_cost``): the yardstick issue 15 states its HTTP target against
    ("about 4.1 ms against 0.35 ms", the whole in-memory session); the best of ``runs``."""
    tree, stored, app = _http_session_parts()
    best = float("inf")
    for _ in range(runs):
        start = time.thread_time()
        for _ in range(rounds):
            server = ServerSession(server_id=SERVER_ID, server_uri="http://127.0.0.1/dm",
                                   secret_lookup=stored.get, aauth_type="BASIC")
            run_in_memory(ClientSession(tree, fmt=fmt), server, app=app)  # type: ignore[arg-type]
        best = min(best, (time.thread_time() - start) / rounds)
    return best


def _user(index: int) -> str:
    """Device ``index``'s account: names of one length, so a recorded session can be
    replayed for any device by replacing equal-length strings."""
    return f"dev{index:06d}"


def _substitutions(index: int) -> list[tuple[bytes, bytes]]:
    import base64

    return [(b"IMEI:000000000000000", f"IMEI:{index:015d}".encode()),
            (base64.b64encode(b"dev000000:pw"),
             base64.b64encode(f"{_user(index)}:pw".encode())),
            (b"dev000000", _user(index).encode())]


TOKEN = re.compile(rb"/dm/s/([A-Za-z0-9_-]{32}(?:\.[0-9a-f]{16})?)")


def record_session(base: str, fmt: str) -> dict[str, Any]:
    """The device messages of one whole session of device 0 (BASIC, no server auth, 20
    commands), recorded against an in-process server answering as ``base`` would: what
    ``--replay`` devices send, with their own DevId, account and session token put in."""
    import asyncio

    from omadm_codec.http import DMServerApp, ServerConfig

    config = ServerConfig(server_id=SERVER_ID, secret_lookup={
        _user(0): auth.secret_hash(_user(0), "pw")}.get, aauth_type="BASIC")
    dm = DMServerApp(config, base_url=base)
    dm.registry.enqueue("IMEI:000000000000000", twenty_commands())
    tree = build_tree(dev_id="IMEI:000000000000000", client_name=_user(0), client_secret="pw",
                      client_auth="BASIC", server_auth="NONE", server_addr=f"{base}/dm")
    client = ClientSession(tree, fmt=fmt, session_id="1A2B")  # type: ignore[arg-type]
    client.start(now=0.0)
    sent: list[str] = []
    answers: list[str] = []
    token = ""

    async def post(path: str, body: bytes, content_type: str) -> tuple[str, bytes]:
        out: list[Any] = []
        queue = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> Any:
            return queue.pop(0)

        async def send(message: Any) -> None:
            out.append(message)
        await dm({"type": "http", "method": "POST", "path": path, "scheme": "http",
                  "headers": [(b"content-type", content_type.encode())]}, receive, send)
        assert out[0]["status"] == 200, out[0]["status"]
        headers = {k.decode(): v.decode() for k, v in out[0]["headers"]}
        return headers["content-type"], out[1]["body"]

    while (message := client.data_to_send(now=0.0)) is not None:
        path = "/dm" + client.resp_uri.split("/dm", 1)[1] if client.resp_uri else "/dm"
        sent.append(message.body.hex())
        content_type, body = asyncio.run(post(path, message.body, message.content_type))
        answers.append(body.hex())
        found = TOKEN.search(body)
        if found and not token:
            token = found.group(1).decode()
        client.receive(body, now=0.0, content_type=content_type)
    assert client.state.name == "CLOSED" and token
    return {"messages": sent, "answers": answers, "token": token,
            "content_type": CONTENT_TYPE[fmt]}


CONTENT_TYPE = {"xml": "application/vnd.syncml.dm+xml",
                "wbxml": "application/vnd.syncml.dm+wbxml"}


def app_cost(devices: int, fmt: str, wake: str = "none") -> dict[str, Any]:
    """CPU per session of ``DMServerApp`` alone on the in-process store: the recorded session
    replayed for ``devices`` devices one after the other through the ASGI callable (no
    sockets, no HTTP parser, no event-loop wake-ups), each request timed. Between the
    ``--store floor`` figure (the HTTP tier alone) and ``--store memory`` (both), with far
    less noise than either on a shared machine.

    ``wake`` adds, inside each timed request, what an HTTP answer also does: one byte
    written to a pipe read by a process on the other core, which either sleeps in ``read``
    (``sleeping``: every write wakes it, as an answer wakes the device waiting for it) or
    spins without sleeping (``polling``: the same write, no wake-up). The difference is
    what the machine charges the writer for waking another core."""
    import asyncio

    from omadm_codec.http import DMServerApp, ServerConfig
    from omadm_codec.http.registry import run_now
    from omadm_codec.http.stored import command_xml

    template = record_session("http://127.0.0.1:8000", fmt)
    messages = [bytes.fromhex(m) for m in template["messages"]]
    content_type = template["content_type"].encode()
    secrets_ = {_user(index): auth.secret_hash(_user(index), "pw") for index in range(devices)}
    dm = DMServerApp(ServerConfig(server_id=SERVER_ID, secret_lookup=secrets_.get,
                                  aauth_type="BASIC"))
    texts = [command_xml(c) for c in twenty_commands()]
    for index in range(devices):
        run_now(dm.store.enqueue(f"IMEI:{index:015d}", texts, now=time.time()))

    async def post(path: str, body: bytes) -> bytes:
        out: list[Any] = []

        async def receive() -> Any:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Any) -> None:
            out.append(message)
        await dm({"type": "http", "method": "POST", "path": path, "scheme": "http",
                  "headers": [(b"content-type", content_type)], "client": ("127.0.0.1", 1),
                  "server": ("127.0.0.1", 8000)}, receive, send)
        assert out[0]["status"] == 200, out[0]["status"]
        return bytes(out[1]["body"])

    waker = _Waker(wake) if wake != "none" else None

    async def run() -> float:
        cpu = 0.0
        for index in range(devices):
            path = "/dm"
            for message in messages:
                for old, new in _substitutions(index):
                    message = message.replace(old, new)
                start = time.process_time()
                answer = await post(path, message)
                if waker is not None:
                    waker.write()
                cpu += time.process_time() - start
                found = TOKEN.search(answer)
                if found and path == "/dm":
                    path = "/dm/s/" + found.group(1).decode()
        return cpu

    try:
        cpu = asyncio.run(run())
    finally:
        if waker is not None:
            waker.close()
    assert dm.sessions_completed == devices, dm.sessions_completed
    report: dict[str, Any] = {"backend": BACKEND, "fmt": fmt, "devices": devices,
                              "app_cpu_ms_per_session": round(cpu / devices * 1e3, 3)}
    if waker is not None:
        report.update(wake=wake, writes_per_session=len(messages),
                      write_us=round(waker.seconds / max(waker.writes, 1) * 1e6, 2))
    return report


class _Waker:
    """The far end of ``app_cost(wake=...)``: a child process pinned to another core reading
    a pipe, asleep in ``read`` (``sleeping``) or spinning on a non-blocking one
    (``polling``); this process stays on its own core."""

    def __init__(self, mode: str) -> None:
        if mode not in ("sleeping", "polling"):
            raise ValueError(f"wake: sleeping or polling, not {mode!r}")
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) < 2:
            raise SystemExit("--wake needs two cores")
        read_end, self._write_end = os.pipe()
        self._child = os.fork()
        if self._child == 0:  # pragma: no cover - the child
            os.close(self._write_end)
            os.sched_setaffinity(0, {cores[1]})
            if mode == "polling":
                os.set_blocking(read_end, False)
            while True:
                try:
                    if not os.read(read_end, 4096):
                        os._exit(0)
                except BlockingIOError:
                    pass
        os.close(read_end)
        os.sched_setaffinity(0, {cores[0]})
        self.writes = 0
        self.seconds = 0.0

    def write(self) -> None:
        start = time.perf_counter()
        os.write(self._write_end, b"x")
        self.seconds += time.perf_counter() - start
        self.writes += 1

    def close(self) -> None:
        os.close(self._write_end)
        os.waitpid(self._child, 0)


def _replay(base: str, first: int, last: int, concurrency: int, template: dict[str, Any]
            ) -> None:
    """A client process replaying the recorded session for devices ``first..last-1``: the
    devices cost next to nothing, so the server is what is measured (the server's own
    checks, and the outcomes in its store, say whether every session really ran)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    indexes = list(range(first, last))
    messages = [bytes.fromhex(m) for m in template["messages"]]
    old_token = template["token"].encode()
    headers = {"content-type": template["content_type"]}
    print("ready", flush=True)
    sys.stdin.readline()
    cpu_start = time.process_time()

    def worker() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        while True:
            with lock:
                if not indexes:
                    break
                index = indexes.pop(0)
            bodies = messages
            for old, new in _substitutions(index):
                bodies = [b.replace(old, new) for b in bodies]
            token = None
            try:
                for body in bodies:
                    path = "/dm" if token is None else f"/dm/s/{token.decode()}"
                    if token is not None:
                        body = body.replace(old_token, token)
                    start = time.perf_counter()
                    conn.request("POST", path, body, headers)
                    response = conn.getresponse()
                    data = response.read()
                    latencies.append(time.perf_counter() - start)
                    if response.status != 200:
                        raise RuntimeError(f"HTTP {response.status}")
                    if token is None:
                        found = TOKEN.search(data)
                        if found is None:
                            raise RuntimeError("no RespURI in the answer")
                        token = found.group(1)
            except Exception as exc:  # noqa: BLE001 - counted as a lost session
                failures.append(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"latencies": latencies, "failures": failures[:5],
                      "failed": len(failures), "executed": -1,
                      "cpu_s": time.process_time() - cpu_start}))


def _replay_polling(base: str, first: int, last: int, concurrency: int,
                    template: dict[str, Any]) -> None:
    """``_replay`` without ever sleeping: one thread, ``concurrency`` non-blocking
    connections polled in a loop (it burns its core), so no answer has a device to wake and
    the server pays no wake-ups (``http --poll-devices``). Answers must carry Content-Length
    (the DM server's do)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    latencies: list[float] = []
    failures: list[str] = []
    indexes = list(range(first, last))
    messages = [bytes.fromhex(m) for m in template["messages"]]
    old_token = template["token"].encode()
    content_type = template["content_type"].encode()

    class Device:
        def __init__(self) -> None:
            self.sock = socket.create_connection((host, port))
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock.setblocking(False)
            self.bodies: list[bytes] = []
            self.token: bytes | None = None
            self.buffer = b""
            self.started = 0.0

        def next_session(self) -> bool:
            if not indexes:
                return False
            index = indexes.pop()
            bodies = messages
            for old, new in _substitutions(index):
                bodies = [b.replace(old, new) for b in bodies]
            self.bodies, self.token = bodies, None
            self.send()
            return True

        def send(self) -> None:
            body = self.bodies.pop(0)
            path = b"/dm"
            if self.token is not None:
                body = body.replace(old_token, self.token)
                path = b"/dm/s/" + self.token
            request = (b"POST " + path + b" HTTP/1.1\r\nhost: " + host.encode()
                       + b"\r\ncontent-type: " + content_type + b"\r\ncontent-length: "
                       + str(len(body)).encode() + b"\r\n\r\n" + body)
            self.started = time.perf_counter()
            self.sock.setblocking(True)  # (a request fits the socket's buffer: no wait)
            self.sock.sendall(request)
            self.sock.setblocking(False)

        def poll(self) -> bool | None:
            """None: the answer is not whole yet; True: the session goes on or a new one
            started; False: this device has nothing left to do."""
            try:
                chunk = self.sock.recv(65536)
            except BlockingIOError:
                return None
            if not chunk:
                raise RuntimeError("connection closed")
            self.buffer += chunk
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return None
            head = self.buffer[:head_end].lower()
            length = int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            if len(self.buffer) < head_end + 4 + length:
                return None
            data = self.buffer[head_end + 4:head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length:]
            latencies.append(time.perf_counter() - self.started)
            if not head.startswith(b"http/1.1 200"):
                raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
            if self.token is None:
                found = TOKEN.search(data)
                if found is None:
                    raise RuntimeError("no RespURI in the answer")
                self.token = found.group(1)
            if self.bodies:
                self.send()
                return True
            return self.next_session()

    print("ready", flush=True)
    sys.stdin.readline()
    cpu_start = time.process_time()
    devices = [Device() for _ in range(concurrency)]
    active = [d for d in devices if d.next_session()]
    while active:
        still = []
        for device in active:
            try:
                done = device.poll()
            except Exception as exc:  # noqa: BLE001 - counted as a lost session
                failures.append(repr(exc))
                device.sock.close()
                device = Device()
                done = device.next_session()
            if done is not False:
                still.append(device)
        active = still
    for device in devices:
        device.sock.close()
    print(json.dumps({"latencies": latencies, "failures": failures[:5],
                      "failed": len(failures), "executed": -1,
                      "cpu_s": time.process_time() - cpu_start}))


HTTP_PROTOCOLS = ("serve", "serve-h11", "httptools")
"""``serve``: the HTTP protocol ``omadm-codec serve`` and ``ServerThread`` run by default
(issue 13's connection guards, on httptools when it is installed); ``serve-h11``: the same
guards on h11 (``HttpLimits(parser="h11")``, main before this change); ``httptools``:
uvicorn's own protocol, without the guards."""


def _serve(port: int, devices: int, store_url: str, reuse_port: bool,
           http: str = "serve") -> None:
    """One server worker: uvicorn (uvloop when installed) on ``port`` with the HTTP protocol
    ``http`` (``HTTP_PROTOCOLS``); with the in-process store it queues the 20 commands of
    every device itself."""
    import socket

    import uvicorn

    from omadm_codec.http import DMServerApp, ServerConfig

    secrets_ = {_user(index): auth.secret_hash(_user(index), "pw") for index in range(devices)}
    config = ServerConfig(server_id=SERVER_ID, secret_lookup=secrets_.get, aauth_type="BASIC")
    floor: list[bytes] = []
    if store_url.startswith("floor:"):
        # The HTTP tier's floor: the same requests answered with the recorded answers (same
        # bytes both ways), no DM work and no store.
        with open(store_url[len("floor:"):]) as source:
            template = json.load(source)
        floor = [bytes.fromhex(a) for a in template["answers"]]
        headers = [(b"content-type", template["content_type"].encode()),
                   (b"cache-control", b"no-store")]
        dm: Any = None
    elif store_url == "memory":
        dm = DMServerApp(config)
        try:
            from omadm_codec.http.registry import run_now
            from omadm_codec.http.stored import command_xml
        except ImportError:  # a tree without the state store (measuring main)
            for index in range(devices):
                dm.registry.enqueue(f"IMEI:{index:015d}", twenty_commands())
        else:
            texts = [command_xml(c) for c in twenty_commands()]  # encoded once for all
            for index in range(devices):
                run_now(dm.store.enqueue(f"IMEI:{index:015d}", texts, now=time.time()))
    else:
        from omadm_codec.http import open_store

        dm = DMServerApp(config, store=open_store(store_url),
                         seal_key=bytes.fromhex(os.environ["OMADM_SEAL_KEY"]))

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/stats":
            done = -1
            if store_url == "memory":
                done = sum(len(v) for v in dm.registry.outcomes.values())
            elif floor:
                done = 0
            body = json.dumps({"pid": os.getpid(), "sessions": dm.sessions_completed if dm else -1,
                               "done": done}).encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
            return
        if floor and scope["type"] == "http":
            while (await receive()).get("more_body"):
                pass
            answer = floor[0] if scope["path"] == "/dm" else floor[-1]
            await send({"type": "http.response.start", "status": 200, "headers": [
                *headers, (b"content-length", str(len(answer)).encode())]})
            await send({"type": "http.response.body", "body": answer})
            return
        await dm(scope, receive, send)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    options: dict[str, Any] = {"http": "httptools"}
    if http.startswith("serve"):
        from omadm_codec.http import HttpLimits
        from omadm_codec.http.connections import guarded_protocol

        # (``serve`` passes no parser: a tree from before ``HttpLimits.parser`` runs too.)
        limits = HttpLimits(parser="h11") if http == "serve-h11" else HttpLimits()
        options = {"http": guarded_protocol(limits),
                   "timeout_keep_alive": limits.keepalive_timeout,
                   "h11_max_incomplete_event_size": limits.max_header_bytes}
    config_ = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                             backlog=2048, **options)
    server = uvicorn.Server(config_)
    try:  # as ``omadm-codec serve`` does before it serves (a tree without it: skipped)
        from omadm_codec.http.runner import settle_heap
    except ImportError:  # pragma: no cover - measuring an older tree
        pass
    else:
        settle_heap()
    profile_to = os.environ.get("OMADM_BENCH_PROFILE")
    if profile_to:  # where a worker's CPU goes (cProfile, written at exit: one file per pid)
        import cProfile
        import signal

        # uvicorn raises the SIGTERM it caught again after shutdown: let it return instead.
        signal.signal(signal.SIGTERM, lambda *_: None)
        cProfile.runctx("server.run(sockets=[sock])", globals(), locals(),
                        f"{profile_to}.{os.getpid()}")
    else:
        server.run(sockets=[sock])


def _devices(base: str, first: int, last: int, concurrency: int, fmt: str) -> None:
    """A client process: devices ``first..last-1``, ``concurrency`` threads; prints JSON
    (per-message latencies, failures, commands the devices ran)."""
    import httpx

    from omadm_codec.http import run_http_session

    latencies: list[float] = []
    failures: list[str] = []
    executed = [0]
    lock = threading.Lock()
    indexes = list(range(first, last))

    class Timed(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            start = time.perf_counter()
            response = super().handle_request(request)
            response.read()
            latencies.append(time.perf_counter() - start)
            return response

    # The devices' trees are built before the clock starts (a tree costs more than a session).
    trees = {index: build_tree(dev_id=f"IMEI:{index:015d}", client_name=_user(index),
                               client_secret="pw", client_auth="BASIC", server_auth="NONE",
                               server_addr=f"{base}/dm") for index in indexes}
    print("ready", flush=True)
    sys.stdin.readline()  # "go": every client process is ready
    cpu_start = time.process_time()

    def worker() -> None:
        with httpx.Client(transport=Timed(), timeout=30) as http:
            while True:
                with lock:
                    if not indexes:
                        return
                    index = indexes.pop(0)
                client = ClientSession(trees[index], fmt=fmt)  # type: ignore[arg-type]
                try:
                    events = run_http_session(client, f"{base}/dm", http=http)
                except Exception as exc:  # noqa: BLE001 - counted as a lost session
                    failures.append(repr(exc))
                    continue
                with lock:
                    executed[0] += sum(1 for e in events if isinstance(e, ev.CommandExecuted))

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"latencies": latencies, "failures": failures[:5],
                      "failed": len(failures), "executed": executed[0],
                      "cpu_s": time.process_time() - cpu_start}))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    user, system = _cpu_split(pid)
    return user + system


def _cpu_split(pid: int) -> tuple[float, float]:
    """User and system CPU of a process so far, apart (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def _context_switches(pid: int) -> int:
    """Voluntary + involuntary context switches of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/status") as status:
        return sum(int(line.split()[1]) for line in status
                   if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")))


def _start_redis(tmp: str) -> tuple[subprocess.Popen[bytes], str]:
    import shutil
    import socket

    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("--store redis needs redis-server (Debian package redis-server)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir",
                                tmp, "--save", "", "--appendonly", "no", "--loglevel",
                                "warning"], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("redis-server did not start")
        time.sleep(0.05)
    return process, f"redis://127.0.0.1:{port}/0"


def http_report(devices: int, concurrency: int, fmt: str, store: str = "memory",
                workers: int = 1, clients: int = 2, redis_url: str | None = None,
                replay: bool = False, http: str = "serve", poll_devices: bool = False
                ) -> dict[str, Any]:
    import asyncio
    import secrets
    import socket
    import tempfile

    import httpx

    load_before = [round(x, 2) for x in os.getloadavg()]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tmp = tempfile.TemporaryDirectory(prefix="omadm-bench-")
    redis_process = None
    store_url = "memory"
    if store == "redis":
        if redis_url is None:
            redis_process, redis_url = _start_redis(tmp.name)
        store_url = redis_url
        from omadm_codec.http import DeviceQueues, open_store

        async def fill() -> None:
            state = open_store(store_url)
            try:
                client: Any = state.client  # type: ignore[attr-defined]
                await client.execute_command("FLUSHDB")
                from omadm_codec.http.stored import command_xml

                texts = [command_xml(c) for c in twenty_commands()]
                for index in range(devices):
                    await state.enqueue(f"IMEI:{index:015d}", texts, now=time.time())
            finally:
                await state.close()
        asyncio.run(fill())
    elif store == "floor":
        if not replay:
            raise SystemExit("--store floor answers recorded sessions: it needs --replay")
        store_url = "floor:" + os.path.join(tmp.name, "session.json")
        with open(store_url[len("floor:"):], "w") as out:
            json.dump(record_session(f"http://127.0.0.1:{port}", fmt), out)
    elif workers > 1:
        raise SystemExit("several workers need --store redis")
    env = dict(os.environ, OMADM_SEAL_KEY=secrets.token_hex(32))
    servers = [subprocess.Popen([sys.executable, __file__, "serve", "--port", str(port),
                                 "--devices", str(devices), "--store", store_url,
                                 "--http", http]
                                + (["--reuse-port"] if workers > 1 else []), env=env)
               for _ in range(workers)]
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                httpx.get(f"{base}/stats", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.1)
        time.sleep(0.5 * workers)  # every worker listening
        bounds = [devices * k // clients for k in range(clients + 1)]
        extra: list[str] = []
        if replay:
            template = os.path.join(tmp.name, "session.json")
            if store != "floor":  # (the floor's servers answer the one recorded already)
                with open(template, "w") as out:
                    json.dump(record_session(base, fmt), out)
            extra = ["--replay", template] + (["--poll"] if poll_devices else [])
        elif poll_devices:
            raise SystemExit("--poll-devices replays a recorded session: it needs --replay")
        runs = [subprocess.Popen([sys.executable, __file__, "devices", "--base", base,
                                  "--first", str(bounds[k]), "--last", str(bounds[k + 1]),
                                  "--concurrency", str(concurrency), "--format", fmt, *extra],
                                 stdout=subprocess.PIPE, stdin=subprocess.PIPE, env=env)
                for k in range(clients)]
        for run in runs:
            assert run.stdout is not None and run.stdout.readline().strip() == b"ready"
        cpu_before = {s.pid: _cpu_seconds(s.pid) for s in servers}
        system_before = {s.pid: _cpu_split(s.pid)[1] for s in servers}
        switches_before = {s.pid: _context_switches(s.pid) for s in servers}
        redis_before = _cpu_seconds(redis_process.pid) if redis_process else 0.0
        start = time.perf_counter()
        for run in runs:
            assert run.stdin is not None
            run.stdin.write(b"go\n")
            run.stdin.flush()
        results = [json.loads(run.communicate()[0]) for run in runs]
        elapsed = time.perf_counter() - start
        cpu = sum(_cpu_seconds(s.pid) - cpu_before[s.pid] for s in servers)
        system_cpu = sum(_cpu_split(s.pid)[1] - system_before[s.pid] for s in servers)
        switches = sum(_context_switches(s.pid) - switches_before[s.pid] for s in servers)
        redis_cpu = (_cpu_seconds(redis_process.pid) - redis_before) if redis_process else 0.0
        if store == "redis":
            async def count() -> int:
                state = open_store(store_url)
                try:
                    queues = DeviceQueues(state)
                    done = 0
                    for index in range(devices):
                        done += sum(1 for e in await queues.entries(f"IMEI:{index:015d}")
                                    if e.state == "done")
                    return done
                finally:
                    await state.close()
            server_outcomes = asyncio.run(count())
        else:
            server_outcomes = httpx.get(f"{base}/stats", timeout=10).json()["done"]
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=20)
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(10)
        tmp.cleanup()
    latencies = sorted(x for r in results for x in r["latencies"])
    failed = sum(r["failed"] for r in results)

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e3, 2)

    sessions = devices - failed
    return {"backend": BACKEND, "fmt": fmt, "store": store, "workers": workers, "http": http,
            "devices": devices, "client_processes": clients, "replay": replay,
            "concurrency_per_client": concurrency, "seconds": round(elapsed, 2),
            "sessions_per_s": round(sessions / elapsed, 1),
            "messages": len(latencies), "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "server_cpu_ms_per_session": round(cpu / max(sessions, 1) * 1e3, 3),
            "server_system_cpu_ms_per_session": round(system_cpu / max(sessions, 1) * 1e3, 3),
            "server_context_switches_per_session": round(switches / max(sessions, 1), 2),
            "redis_cpu_ms_per_session": round(redis_cpu / max(sessions, 1) * 1e3, 3),
            "client_cpu_ms_per_session": round(sum(r["cpu_s"] for r in results)
                                               / max(sessions, 1) * 1e3, 3),
            "load_average_before": load_before,
            "device_side_outcomes": sum(r["executed"] for r in results),
            "server_side_outcomes": server_outcomes, "expected_outcomes": devices * 20,
            "failed_sessions": failed,
            "failures": [f for r in results for f in r["failures"]][:3]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("memory")
    sub.add_parser("split")
    http = sub.add_parser("http")
    http.add_argument("--devices", type=int, default=1000)
    http.add_argument("--concurrency", type=int, default=8, help="threads per client process")
    http.add_argument("--clients", type=int, default=2, help="device processes")
    http.add_argument("--format", default="wbxml", choices=["xml", "wbxml"])
    http.add_argument("--store", default="memory", choices=["memory", "redis", "floor"],
                      help="floor: no DM work, the recorded answers (the HTTP tier's cost)")
    http.add_argument("--workers", type=int, default=1)
    http.add_argument("--redis-url", help="an existing Redis (default: start one)")
    http.add_argument("--http", default="serve", choices=HTTP_PROTOCOLS,
                      help="the workers' HTTP protocol (default: what omadm-codec serve runs)")
    http.add_argument("--replay", action="store_true",
                      help="devices replay one recorded session (server-bound load)")
    http.add_argument("--poll-devices", action="store_true",
                      help="with --replay: each device process polls its connections in one "
                           "thread and never sleeps, so answers wake no one (it burns a core)")
    app = sub.add_parser("app-cost", help="DMServerApp alone, in process (no HTTP)")
    app.add_argument("--devices", type=int, default=2000)
    app.add_argument("--format", default="wbxml", choices=["xml", "wbxml"])
    app.add_argument("--wake", default="none", choices=["none", "sleeping", "polling"],
                     help="after each answer, wake (or not) a process on the other core")
    cost = sub.add_parser("server-cost")
    cost.add_argument("--format", default="wbxml", choices=["xml", "wbxml"])
    serve = sub.add_parser("serve")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--devices", type=int, default=1000)
    serve.add_argument("--store", default="memory")
    serve.add_argument("--reuse-port", action="store_true")
    serve.add_argument("--http", default="serve", choices=HTTP_PROTOCOLS)
    devices = sub.add_parser("devices")
    devices.add_argument("--base", required=True)
    devices.add_argument("--first", type=int, required=True)
    devices.add_argument("--last", type=int, required=True)
    devices.add_argument("--concurrency", type=int, default=8)
    devices.add_argument("--format", default="wbxml")
    devices.add_argument("--replay", help="a recorded session (JSON) to replay")
    devices.add_argument("--poll", action="store_true",
                         help="one thread polling its connections, never asleep")
    args = parser.parse_args()
    if args.mode == "memory":
        print(json.dumps(memory_report(), indent=2))
    elif args.mode == "split":
        print(json.dumps(split_report(), indent=2))
    elif args.mode == "http":
        report = http_report(args.devices, args.concurrency, args.format, args.store,
                             args.workers, args.clients, args.redis_url, args.replay,
                             args.http, args.poll_devices)
        report["in_memory_server_ms_per_session"] = round(
            server_session_cost(args.format) * 1e3, 3)
        report["http_over_memory_cpu"] = round(
            report["server_cpu_ms_per_session"] / report["in_memory_server_ms_per_session"], 2)
        # The issue's own yardstick: the whole in-memory session, both sides in one thread.
        report["in_memory_whole_session_ms"] = round(whole_session_cost(args.format) * 1e3, 3)
        report["http_over_whole_session_cpu"] = round(
            report["server_cpu_ms_per_session"] / report["in_memory_whole_session_ms"], 2)
        print(json.dumps(report, indent=2))
    elif args.mode == "app-cost":
        print(json.dumps(app_cost(args.devices, args.format, args.wake)))
    elif args.mode == "server-cost":
        print(json.dumps({"backend": BACKEND, "fmt": args.format,
                          "server_ms_per_session": server_session_cost(args.format) * 1e3}))
    elif args.mode == "devices":
        if args.replay:
            with open(args.replay) as source:
                (_replay_polling if args.poll else _replay)(
                    args.base, args.first, args.last, args.concurrency, json.load(source))
        else:
            _devices(args.base, args.first, args.last, args.concurrency, args.format)
    else:
        _serve(args.port, args.devices, args.store, args.reuse_port, args.http)


if __name__ == "__main__":
    main()
