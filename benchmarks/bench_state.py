"""What the shared state costs Redis, measured on a ``redis-server`` this script starts:
bytes per live session (mid-session with 20 commands in flight, and a challenged session not
yet authenticated), per queued command and per finished command (outcome and history kept),
and the commands and Redis CPU one whole session costs. The figures docs/scaling.md builds
on.

``python benchmarks/bench_state.py [--devices 2000] [--cluster]`` (``--cluster``: the same
sessions on a 3-node Redis Cluster, for the commands per shard). The DM server runs in this
process (``DMServerApp`` driven through ASGI calls, no sockets), the devices replay one
recorded session (``bench_session.record_session``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_session import TOKEN, _substitutions, _user, record_session, twenty_commands  # noqa: E402

from omadm_codec import BACKEND  # noqa: E402
from omadm_codec.http import DeviceQueues, DMServerApp, ServerConfig, open_store  # noqa: E402
from omadm_codec.security import auth  # noqa: E402
from omadm_codec.tools.simulator import SERVER_ID  # noqa: E402

BASE = "http://127.0.0.1:8080"


def _free_port(highest: int = 55535) -> int:
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port <= highest:
            return port


def _redis(tmp: str, cluster: bool = False) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("needs redis-server (Debian package redis-server)")
    port = _free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp, "--save", "",
            "--appendonly", "no", "--loglevel", "warning"]
    if cluster:
        args += ["--cluster-enabled", "yes", "--cluster-config-file",
                 os.path.join(tmp, f"nodes-{port}.conf")]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    process.port = port  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return process
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def _info(port: int, section: str) -> dict[str, str]:
    out = subprocess.run(["redis-cli", "-p", str(port), "info", section], capture_output=True,
                         text=True, check=True).stdout
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line)


def _commands(port: int) -> dict[str, int]:
    stats = _info(port, "commandstats")
    return {k[len("cmdstat_"):]: int(v.split("calls=")[1].split(",")[0])
            for k, v in stats.items() if k.startswith("cmdstat_")}


def _memory(ports: list[int]) -> int:
    return sum(int(_info(p, "memory")["used_memory"]) for p in ports)


def _cpu(ports: list[int]) -> float:
    total = 0.0
    for port in ports:
        info = _info(port, "cpu")
        total += float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
    return total


class Driver:
    """Devices replaying the recorded session through ASGI calls into ``app``."""

    def __init__(self, app: DMServerApp, template: dict[str, Any]) -> None:
        self.app = app
        self.messages = [bytes.fromhex(m) for m in template["messages"]]
        self.token = template["token"].encode()
        self.content_type = template["content_type"].encode()

    async def post(self, path: str, body: bytes) -> bytes:
        out: list[Any] = []
        queue = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> Any:
            return queue.pop(0)

        async def send(message: Any) -> None:
            out.append(message)
        await self.app({"type": "http", "method": "POST", "path": path, "scheme": "http",
                        "headers": [(b"content-type", self.content_type)]}, receive, send)
        if out[0]["status"] != 200:
            raise RuntimeError(f"HTTP {out[0]['status']}")
        return bytes(out[1]["body"])

    async def session(self, index: int, messages: int | None = None) -> None:
        bodies = self.messages[:messages]
        for old, new in _substitutions(index):
            bodies = [b.replace(old, new) for b in bodies]
        token = None
        for body in bodies:
            if token is None:
                reply = await self.post("/dm", body)
                found = TOKEN.search(reply)
                assert found is not None
                token = found.group(1)
            else:
                await self.post(f"/dm/s/{token.decode()}", body.replace(self.token, token))

    async def unauthenticated(self, index: int) -> None:
        """Package 1 with a wrong password: a challenged session, not authenticated."""
        body = self.messages[0]
        for old, new in _substitutions(index):
            body = body.replace(old, new)
        import base64

        good = base64.b64encode(f"{_user(index)}:pw".encode())
        await self.post("/dm", body.replace(good, base64.b64encode(
            f"{_user(index)}:px".encode())))


async def measure(url: str, ports: list[int], devices: int, template: dict[str, Any]
                  ) -> dict[str, Any]:
    secrets_ = {_user(i): auth.secret_hash(_user(i), "pw") for i in range(3 * devices)}
    config = ServerConfig(server_id=SERVER_ID, secret_lookup=secrets_.get, aauth_type="BASIC")
    store = open_store(url)
    app = DMServerApp(config, store=store, seal_key=b"k" * 32, base_url=BASE, retention=1.0)
    driver = Driver(app, template)
    queues = DeviceQueues(store)
    out: dict[str, Any] = {"backend": BACKEND, "devices": devices, "store": url}
    empty = _memory(ports)
    for index in range(devices):
        await queues.enqueue(f"IMEI:{index:015d}", twenty_commands())
    queued = _memory(ports)
    out["bytes_per_queued_command"] = round((queued - empty) / (devices * 20))
    # Package 1 answered: every device's session is live with its 20 commands in flight.
    for index in range(devices):
        await driver.session(index, messages=1)
    live = _memory(ports)
    out["bytes_per_live_session_20_in_flight"] = round((live - queued) / devices)
    for index in range(devices, 2 * devices):
        await driver.unauthenticated(index)
    challenged = _memory(ports)
    out["bytes_per_challenged_session"] = round((challenged - live) / devices)
    # Whole sessions on fresh devices: the commands and CPU one session costs Redis.
    for index in range(2 * devices, 3 * devices):
        await queues.enqueue(f"IMEI:{index:015d}", twenty_commands())
    before_done = _memory(ports)
    calls = [_commands(p) for p in ports]
    cpu = _cpu(ports)
    COUNTS.update(round_trips=0, commands=0, writes=0)
    started = time.perf_counter()
    for index in range(2 * devices, 3 * devices):
        await driver.session(index)
    elapsed = time.perf_counter() - started
    cpu = _cpu(ports) - cpu
    after = [_commands(p) for p in ports]
    used: dict[str, int] = {}
    for before_node, after_node in zip(calls, after, strict=True):
        for name, count in after_node.items():
            delta = count - before_node.get(name, 0)
            if delta and not name.startswith(("info", "config")):
                used[name] = used.get(name, 0) + delta
    out["redis_commands_per_session"] = {k: round(v / devices, 2)
                                         for k, v in sorted(used.items())}
    out["worker_requests_per_session"] = round(COUNTS["round_trips"] / devices, 2)
    out["worker_round_trips_per_session"] = round(COUNTS["writes"] / devices, 2)
    out["worker_commands_per_session"] = round(COUNTS["commands"] / devices, 2)
    out["redis_cpu_ms_per_session"] = round(cpu / devices * 1e3, 3)
    out["sessions_per_s_in_process"] = round(devices / elapsed, 1)
    # Finished sessions stay for their retention (1 s here), then only the finished
    # commands (outcome and history) stay, until the operator forgets them.
    done = _memory(ports)
    out["bytes_per_finished_session_in_retention"] = round((done - before_done) / devices)
    await asyncio.sleep(1.5)
    for port in ports:  # SCAN expires what it meets: the retention's end, now
        subprocess.run(["redis-cli", "-p", str(port), "--scan"], capture_output=True)
    kept = _memory(ports)
    out["bytes_per_finished_command_kept"] = round((kept - before_done) / (devices * 20))
    await store.close()
    return out


COUNTS = {"round_trips": 0, "commands": 0, "writes": 0}


def _count_requests() -> None:
    """Count what the workers send (the lean client's requests, its writes to the socket,
    and commands). Requests made at once (``asyncio.gather``) go out in one write and wait
    together: with one session at a time, as here, the writes are the round trips waited."""
    from omadm_codec.http import _resp

    original = _resp.RespClient.execute_many
    flush = _resp._Protocol._flush

    async def counted(self: Any, commands: list[tuple[Any, ...]]) -> list[Any]:
        COUNTS["round_trips"] += 1
        COUNTS["commands"] += len(commands)
        return await original(self, commands)

    def counted_flush(self: Any) -> None:
        COUNTS["writes"] += 1
        flush(self)

    _resp.RespClient.execute_many = counted  # type: ignore[method-assign]
    _resp._Protocol._flush = counted_flush  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--cluster", action="store_true")
    args = parser.parse_args()
    template = record_session(BASE, "wbxml")
    _count_requests()
    with tempfile.TemporaryDirectory(prefix="omadm-state-") as tmp:
        nodes = [_redis(tmp, args.cluster) for _ in range(3 if args.cluster else 1)]
        ports = [n.port for n in nodes]  # type: ignore[attr-defined]
        try:
            if args.cluster:
                subprocess.run(["redis-cli", "--cluster", "create",
                                *(f"127.0.0.1:{p}" for p in ports), "--cluster-replicas", "0",
                                "--cluster-yes"], check=True, capture_output=True)
                while "cluster_state:ok" not in subprocess.run(
                        ["redis-cli", "-p", str(ports[0]), "cluster", "info"],
                        capture_output=True, text=True).stdout:
                    time.sleep(0.1)
                url = f"redis+cluster://127.0.0.1:{ports[0]}"
            else:
                url = f"redis://127.0.0.1:{ports[0]}/0"
            report = asyncio.run(measure(url, ports, args.devices, template))
            if args.cluster:
                report["keys_per_node"] = [int(_info(p, "keyspace").get("db0", "keys=0")
                                               .split("keys=")[1].split(",")[0])
                                           for p in ports]
        finally:
            for node in nodes:
                node.terminate()
                node.wait(10)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
