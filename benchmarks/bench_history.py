"""A device's finished commands must not make its next sessions dearer: one device runs
sessions of 20 commands back to back and nothing is forgotten (``DeviceQueues.forget`` is the
operator's to call), so its finished entries pile up, 20 per session. Printed: the server's
CPU per session (this process: ``DMServerApp`` through ASGI calls, no sockets) and, on
Redis, redis-server's CPU per session, in windows at growing history sizes, and the ratio of
the last window to the first. The yardstick is the same device with no history, in the same
run.

``python benchmarks/bench_history.py [--store memory|redis] [--sessions 2500] [--window 250]``
(``--store redis`` starts a ``redis-server``; needs the Debian package).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_session import _user, record_session, twenty_commands  # noqa: E402
from bench_state import BASE, Driver, _cpu, _redis  # noqa: E402

from omadm_codec import BACKEND  # noqa: E402
from omadm_codec.http import DeviceQueues, DMServerApp, ServerConfig, open_store  # noqa: E402
from omadm_codec.http.stored import command_xml  # noqa: E402
from omadm_codec.security import auth  # noqa: E402
from omadm_codec.tools.simulator import SERVER_ID  # noqa: E402

DEVICE = 0
"""The one device (``bench_session``'s numbering: ``IMEI:000000000000000``)."""


async def measure(url: str, ports: list[int], sessions: int, window: int,
                  template: dict[str, Any]) -> dict[str, Any]:
    store = open_store(url)
    try:
        secrets_ = {_user(DEVICE): auth.secret_hash(_user(DEVICE), "pw")}
        app = DMServerApp(ServerConfig(server_id=SERVER_ID, secret_lookup=secrets_.get,
                                       aauth_type="BASIC"),
                          store=store, seal_key=b"k" * 32)
        queues = DeviceQueues(store)
        device_id = f"IMEI:{DEVICE:015d}"
        texts = [command_xml(c) for c in twenty_commands()]
        driver = Driver(app, template)
        rows = []
        for first in range(0, sessions, window):
            cpu = 0.0
            redis_before = _cpu(ports) if ports else 0.0  # (its enqueues included)
            for _ in range(window):
                await store.enqueue(device_id, texts, now=time.time())
                start = time.process_time()
                await driver.session(DEVICE)
                cpu += time.process_time() - start
            redis_cpu = (_cpu(ports) - redis_before) if ports else 0.0
            rows.append({"finished_entries_before": first * 20,
                         "server_ms_per_session": round(cpu / window * 1e3, 3),
                         "redis_ms_per_session": round(redis_cpu / window * 1e3, 3)})
        entries = await queues.entries(device_id)
        done = sum(1 for e in entries if e.state == "done")
        assert done == sessions * 20, (done, sessions * 20)
    finally:
        await store.close()
    first, last = rows[0], rows[-1]
    report: dict[str, Any] = {
        "backend": BACKEND, "store": url.split(":", 1)[0], "sessions": sessions,
        "windows": rows, "finished_entries_at_end": done,
        "server_last_over_first": round(last["server_ms_per_session"]
                                        / first["server_ms_per_session"], 2)}
    if ports:
        report["redis_last_over_first"] = round(last["redis_ms_per_session"]
                                                / max(first["redis_ms_per_session"], 1e-9), 2)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", default="memory", choices=["memory", "redis"])
    parser.add_argument("--sessions", type=int, default=2500)
    parser.add_argument("--window", type=int, default=250)
    args = parser.parse_args()
    template = record_session(BASE, "wbxml")
    if args.store == "memory":
        report = asyncio.run(measure("memory", [], args.sessions, args.window, template))
    else:
        with tempfile.TemporaryDirectory(prefix="omadm-history-") as tmp:
            node = _redis(tmp)
            port: int = node.port  # type: ignore[attr-defined]
            try:
                report = asyncio.run(measure(f"redis://127.0.0.1:{port}/0", [port],
                                             args.sessions, args.window, template))
            finally:
                node.terminate()
                node.wait(10)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
