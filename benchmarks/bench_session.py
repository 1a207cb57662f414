"""Session speed: full DM sessions in memory (package 1 to the Final-only package, 20
management commands), against the codec floor of the same messages; and over HTTP on
loopback (one uvicorn worker, the simulated devices in another process).

In memory (pytest-benchmark, one run measures everything it compares):
``python -m pytest benchmarks/bench_session.py --benchmark-only``; the session's cost over
``codec_floor`` (decode + encode of exactly the messages the session exchanged) is the
"session logic" share. Without pytest: ``python benchmarks/bench_session.py memory``.

Packages split over several messages (small MaxMsgSize on both sides):
``python benchmarks/bench_session.py split``.

Over HTTP: ``python benchmarks/bench_session.py http --devices 1000`` starts the server in a
subprocess (uvicorn, one worker) and runs the devices here, with ``--concurrency`` threads;
it prints sessions per second and checks that every queued command got its outcome.
"""

from __future__ import annotations

import argparse
import json
import os
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


def _serve(port: int, devices: int, fmt: str) -> None:
    """The server process: one uvicorn worker; every device gets the 20 commands."""
    import uvicorn

    from omadm_codec.http import DeviceRegistry, DMServerApp, ServerConfig

    registry = DeviceRegistry()
    for index in range(devices):
        registry.secrets[f"dev{index}"] = auth.secret_hash(f"dev{index}", "pw")
    config = ServerConfig(server_id=SERVER_ID, secret_lookup=registry.secrets.get,
                          aauth_type="BASIC")
    completed = [0]

    def app_factory() -> Any:
        def app(session: ServerSession, events: list[ev.Event]) -> None:
            for event in events:
                if isinstance(event, ev.SessionStarted):
                    session.send_commands(twenty_commands())
                elif isinstance(event, ev.CommandCompleted):
                    completed[0] += 1
        return app

    dm = DMServerApp(config, app_factory=app_factory)

    async def status(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/stats":
            body = json.dumps({"completed": completed[0],
                               "sessions": dm.sessions_completed}).encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
            return
        await dm(scope, receive, send)

    uvicorn.run(status, host="127.0.0.1", port=port, log_level="warning", workers=1,
                access_log=False)


def http_report(devices: int, concurrency: int, fmt: str) -> dict[str, Any]:
    import socket

    import httpx

    from omadm_codec.http import run_http_session

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, __file__, "serve", "--port", str(port),
                               "--devices", str(devices)], env=dict(os.environ))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/stats", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.1)
        trees = [build_tree(dev_id=f"IMEI:{index:015d}", client_name=f"dev{index}",
                            client_secret="pw", client_auth="BASIC", server_auth="NONE",
                            server_addr=f"{base}/dm") for index in range(devices)]
        outcomes = [0] * devices
        failures: list[str] = []
        next_index = [0]
        lock = threading.Lock()

        def worker() -> None:
            with httpx.Client(timeout=30) as http:
                while True:
                    with lock:
                        index = next_index[0]
                        next_index[0] += 1
                    if index >= devices:
                        return
                    client = ClientSession(trees[index], fmt=fmt)  # type: ignore[arg-type]
                    try:
                        events = run_http_session(client, f"{base}/dm", http=http)
                    except Exception as exc:  # noqa: BLE001 - counted as a lost session
                        failures.append(repr(exc))
                        continue
                    outcomes[index] = sum(1 for e in events if isinstance(e, ev.CommandExecuted))

        start = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        stats = httpx.get(f"{base}/stats", timeout=5).json()
    finally:
        server.terminate()
        server.wait(timeout=10)
    return {"backend": BACKEND, "fmt": fmt, "devices": devices, "concurrency": concurrency,
            "seconds": round(elapsed, 2), "sessions_per_s": round(devices / elapsed, 1),
            "device_side_outcomes": sum(outcomes), "server_side_outcomes": stats["completed"],
            "expected_outcomes": devices * 20, "failed_sessions": len(failures),
            "sessions_completed_by_server": stats["sessions"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("memory")
    sub.add_parser("split")
    http = sub.add_parser("http")
    http.add_argument("--devices", type=int, default=1000)
    http.add_argument("--concurrency", type=int, default=8)
    http.add_argument("--format", default="wbxml", choices=["xml", "wbxml"])
    serve = sub.add_parser("serve")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--devices", type=int, default=1000)
    args = parser.parse_args()
    if args.mode == "memory":
        print(json.dumps(memory_report(), indent=2))
    elif args.mode == "split":
        print(json.dumps(split_report(), indent=2))
    elif args.mode == "http":
        print(json.dumps(http_report(args.devices, args.concurrency, args.format), indent=2))
    else:
        _serve(args.port, args.devices, "wbxml")


if __name__ == "__main__":
    main()
