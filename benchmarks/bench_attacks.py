"""The DM server under attack, measured (issue 13; the figures of docs/security.md).

The server runs in a subprocess (``DMServerApp`` + ``DeviceRegistry`` on the project's own
runner, one event loop), the attackers and probes here, over loopback:

``python benchmarks/bench_attacks.py guesses``
    Password guessing against one account: from one address (8 connections), then from 32
    addresses (127.0.0.x, 4 connections each); wrong BASIC passwords as fast as the server
    answers. Reports requests answered per second and *verified* guesses per second (the
    server's own count of digests it checked), against what the throttle rules allow.

``python benchmarks/bench_attacks.py stall``
    Event-loop stall at the limits: a probe (GET, answered 405 without session work) every
    5 ms while (a) strangers post unauthenticated messages at the pre-auth limits (16 KiB,
    32 commands) from 8 connections, (b) an authenticated device posts messages at the body
    limit (256 KiB of dense WBXML). Reports the probe's median and worst latency over its
    idle baseline, and the server's own worst loop lag (a 1 ms timer's lateness).

``python benchmarks/bench_attacks.py memory``
    Server RSS: per unauthenticated session and per running authenticated session (each
    kept with a Get in flight), and in total under a flood of unauthenticated sessions past
    the store's cap (the total stops growing at the cap).

``python benchmarks/bench_attacks.py cost``
    In process, no network: the cost of one request refused by an address lock (429), one
    refused by an account lock (decoded, no digest), one ordinary challenge (407), and one
    unauthenticated message at the limits (16 KiB, 32 commands): the event loop's work per
    request. For an authenticated message at the body limit (256 KiB of dense WBXML), which
    is handled off the loop, the longest step that holds the interpreter: its decode, and the
    longest another thread waits for the interpreter during it (a 1 ms ticker's lateness).

Every mode prints JSON. Figures depend on the machine and its load; run each more than once.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

from omadm_codec import BACKEND, xml_to_wbxml
from omadm_codec.http import DeviceRegistry, DMServerApp, ServerConfig
from omadm_codec.messages.model import Get, Item, Target
from omadm_codec.security.throttle import ThrottleRules
from omadm_codec.session import events as ev

USER = "device-0001"
PASSWORD = "device-secret-0001"
DM_XML = "application/vnd.syncml.dm+xml"
DM_WBXML = "application/vnd.syncml.dm+wbxml"


# -- messages (raw XML, as an attacker writes them) --------------------------------------------


def package1(user: str, dev_id: str, session_id: str, *, password: str | None = None,
             extra: str = "") -> bytes:
    cred = ""
    if password is not None:
        data = base64.b64encode(f"{user}:{password}".encode()).decode()
        cred = ('<Cred><Meta><Format xmlns="syncml:metinf">b64</Format><Type '
                'xmlns="syncml:metinf">syncml:auth-basic</Type></Meta>'
                f"<Data>{data}</Data></Cred>")
    return message(session_id, 1, dev_id, user, cred,
                   "<Alert><CmdID>1</CmdID><Data>1201</Data></Alert><Replace><CmdID>2</CmdID>"
                   "<Item><Source><LocURI>./DevInfo/DevId</LocURI></Source>"
                   f"<Data>{dev_id}</Data></Item></Replace>{extra}")


def message(session_id: str, msg_id: int, dev_id: str, user: str, cred: str, body: str,
            final: bool = True) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?><SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr>'
            f"<VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>{session_id}"
            f"</SessionID><MsgID>{msg_id}</MsgID><Target><LocURI>http://x/dm</LocURI></Target>"
            f"<Source><LocURI>{dev_id}</LocURI><LocName>{user}</LocName></Source>{cred}"
            f"</SyncHdr><SyncBody>{body}{'<Final/>' if final else ''}</SyncBody></SyncML>"
            ).encode()


def gets(first: int, count: int) -> str:
    return "".join(f"<Get><CmdID>{n}</CmdID><Item><Target><LocURI>./DevInfo/Mod</LocURI>"
                   f"</Target></Item></Get>" for n in range(first, first + count))


def post_raw(port: int, path: str, body: bytes, content_type: str = DM_XML,
             source: str = "127.0.0.1") -> tuple[int, bytes]:
    """One POST on a fresh connection from ``source``; (status, body)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30,
                                    source_address=(source, 0))
    try:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
                     f"{content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), rest


# -- the server (subprocess) -------------------------------------------------------------------


def serve(accounts: int, max_unauthenticated: int, offload_min: int, settle: bool) -> None:
    from omadm_codec.http import ServerThread
    from omadm_codec.http.runner import settle_heap

    registry = DeviceRegistry()
    for n in range(accounts):
        registry.add_account(f"acct-{n}", PASSWORD, devices=[f"IMEI:{n:015d}"])
        registry.enqueue(f"IMEI:{n:015d}", [Get("0", [Item(target=Target("./DevInfo/Mod"))])])
    registry.add_account(USER, PASSWORD, devices=["IMEI:490154203237518"])
    config = ServerConfig(server_id="bench", secret_lookup=registry.secrets.get,
                          aauth_type="BASIC")
    reasons: dict[str, int] = {}

    def app(session: Any, events: list[ev.Event]) -> None:
        for event in events:
            if isinstance(event, ev.AuthenticationFailed):
                reasons[event.reason] = reasons.get(event.reason, 0) + 1

    dm = DMServerApp(config, registry=registry, app_factory=lambda: app,
                     max_preauth_sessions=max_unauthenticated, offload_min=offload_min)
    lag = [0.0]

    async def monitor() -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            lag[0] = max(lag[0], time.perf_counter() - started - 0.001)

    running: list[Any] = []

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if not running and scope["type"] == "http":
            running.append(asyncio.get_running_loop().create_task(monitor()))
        if scope["type"] == "http" and scope["path"] == "/stats":
            with open("/proc/self/status") as fh:
                rss = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS"))
            body = json.dumps({"rss_kib": rss, "store": len(dm.store),
                               "unauthenticated": getattr(dm.store, "_tiers", {}).get("preauth"),
                               "reasons": reasons, "lag_ms": round(lag[0] * 1000, 1)}).encode()
            if scope.get("query_string") == b"reset":
                lag[0] = 0.0
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
            return
        await dm(scope, receive, send)

    if settle:
        settle_heap()  # as omadm-codec serve does
    with ServerThread(asgi) as server:
        print(f"READY {server.port}", flush=True)
        sys.stdin.read()


class Server:
    def __init__(self, accounts: int = 0, max_unauthenticated: int = 10_000,
                 offload_min: int = 64 << 10, settle: bool = True) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "serve", "--accounts", str(accounts),
             "--max-unauthenticated", str(max_unauthenticated),
             "--offload-min", str(offload_min), *([] if settle else ["--no-settle-heap"])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=dict(os.environ))
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        found = re.match(r"READY (\d+)", line)
        if not found:
            raise RuntimeError(f"server did not start: {line!r}")
        self.port = int(found.group(1))

    def stats(self, reset: bool = False) -> dict[str, Any]:
        import httpx

        url = f"http://127.0.0.1:{self.port}/stats" + ("?reset" if reset else "")
        return httpx.get(url, timeout=10).json()  # type: ignore[no-any-return]

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def flood(port: int, bodies: list[bytes], width: int, sources: list[str],
          content_type: str = DM_XML) -> list[int]:
    codes: list[int] = [0] * len(bodies)
    todo = list(enumerate(bodies))
    lock = threading.Lock()

    def worker(source: str) -> None:
        while True:
            with lock:
                if not todo:
                    return
                index, body = todo.pop()
            codes[index] = post_raw(port, "/dm", body, content_type, source)[0]

    threads = [threading.Thread(target=worker, args=(s,)) for s in sources for _ in range(width)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


# -- modes ---------------------------------------------------------------------------------------


def _guess_for(port: int, sources: list[str], width: int, seconds: float) -> tuple[int, float]:
    """Wrong guesses for one account from ``width`` connections per source address, for
    ``seconds``; (requests answered, seconds taken)."""
    stop = time.monotonic() + seconds
    answered = [0]
    lock = threading.Lock()

    def attacker(source: str) -> None:
        n = 0
        while time.monotonic() < stop:
            n += 1
            post_raw(port, "/dm", package1(USER, "IMEI:490154203237518",
                                           f"{source}-{threading.get_ident()}-{n}",
                                           password=f"guess-{n}"), source=source)
            with lock:
                answered[0] += 1

    threads = [threading.Thread(target=attacker, args=(s,)) for s in sources
               for _ in range(width)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answered[0], time.monotonic() - started


def guesses(seconds: float) -> dict[str, Any]:
    rules = ThrottleRules()
    out: dict[str, Any] = {"backend": BACKEND}
    for label, sources, width in (("one address", ["127.0.0.1"], 8),
                                  ("32 addresses", [f"127.0.1.{n}" for n in range(1, 33)], 2)):
        with Server() as server:
            answered, elapsed = _guess_for(server.port, sources, width, seconds)
            reasons = server.stats()["reasons"]
        verified = reasons.get("bad_password", 0)
        out[label] = {"seconds": round(elapsed, 1), "requests_per_s": round(answered / elapsed),
                      "verified_guesses": verified,
                      "verified_guesses_per_s": round(verified / elapsed, 2),
                      "refused_unverified": reasons.get("throttled", 0)}
    account = rules.account
    assert account is not None
    # Steady state: one guess per max_lock, since failures never age out while guessing.
    out["allowed_per_account"] = {
        "first_hour": _allowed(account.free_failures, account.base_lock, account.max_lock, 3600),
        "per_hour_after": round(3600 / account.max_lock, 1),
        "steady_guesses_per_s": round(1 / account.max_lock, 5)}
    return out


def _allowed(free: int, base: float, cap: float, horizon: float) -> int:
    """Verified guesses one account allows in ``horizon`` seconds under the rule."""
    t, n = 0.0, 0
    while True:
        n += 1
        lock = 0.0 if n <= free else min(base * 2 ** (n - free - 1), cap)
        if t + lock > horizon:
            return n
        t += lock


def _probe(port: int, stop: threading.Event, out: list[float]) -> None:
    import httpx

    with httpx.Client(timeout=60) as http:
        while not stop.is_set():
            started = time.perf_counter()
            http.get(f"http://127.0.0.1:{port}/dm")
            out.append(time.perf_counter() - started)
            time.sleep(0.005)


def stall(seconds: float, offload_min: int, settle: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"backend": BACKEND, "offload_min": offload_min,
                           "settle_heap": settle, "load_average": os.getloadavg()[0]}
    preauth = _preauth_at_limit()
    with Server(accounts=1, offload_min=offload_min, settle=settle) as server:
        out["idle"] = _while(server, seconds, lambda stop: stop.wait())
        out["preauth_message_bytes"] = len(preauth)
        out["preauth"] = _while(server, seconds, lambda stop: _flood_until(
            server.port, preauth, stop))
        # An authenticated device at the body limit: dense WBXML Alerts answered one by one.
        user, dev_id = "acct-0", f"IMEI:{0:015d}"
        status, body = post_raw(server.port, "/dm", package1(user, dev_id, "B",
                                                              password=PASSWORD))
        resp_uri = re.search(rb"<RespURI>http://[^/]+(/[^<]+)</RespURI>", body)
        assert status == 200 and resp_uri is not None
        path = resp_uri.group(1).decode()
        count = _densest(dev_id, user, 256 << 10)

        def big(msg_id: int) -> bytes:
            return xml_to_wbxml(message("B", msg_id, dev_id, user, "", _alerts(count),
                                        final=False))

        out["auth_message_bytes"] = len(big(2))
        msg_id = [2]

        def authenticated(stop: threading.Event) -> None:
            while not stop.is_set():
                code, _ = post_raw(server.port, path, big(msg_id[0]), DM_WBXML)
                if code != 200:
                    raise RuntimeError(f"the authenticated message got {code}")
                msg_id[0] += 1

        out["authenticated"] = _while(server, seconds, authenticated)
    return out


def _alerts(count: int) -> str:
    return "".join(f"<Alert><CmdID>{n}</CmdID><Data>1226</Data><Item><Source><LocURI>./A"
                   f"</LocURI></Source><Meta><Type xmlns=\"syncml:metinf\">x</Type></Meta>"
                   f"<Data>x</Data></Item></Alert>" for n in range(2, count + 2))


def _densest(dev_id: str, user: str, limit: int) -> int:
    """How many 1226 Alerts the largest WBXML message within ``limit`` bytes holds."""
    low, high = 1, 20000
    while low < high:
        mid = (low + high + 1) // 2
        size = len(xml_to_wbxml(message("B", 99999, dev_id, user, "", _alerts(mid),
                                        final=False)))
        low, high = (mid, high) if size <= limit else (low, mid - 1)
    return low


def _flood_until(port: int, body: bytes, stop: threading.Event) -> None:
    def worker() -> None:
        while not stop.is_set():
            post_raw(port, "/dm", body)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _while(server: Server, seconds: float, load: Any) -> dict[str, Any]:
    latencies: list[float] = []
    stop = threading.Event()
    prober = threading.Thread(target=_probe, args=(server.port, stop, latencies))
    prober.start()
    time.sleep(1.0)
    idle = statistics.median(latencies)
    server.stats(reset=True)
    seen = len(latencies)
    loaded = threading.Event()
    worker = threading.Thread(target=load, args=(loaded,))
    worker.start()
    time.sleep(seconds)
    loaded.set()
    worker.join()
    lag = server.stats(reset=True)["lag_ms"]
    stop.set()
    prober.join()
    during = sorted(latencies[seen:])
    return {"probe_idle_ms": round(idle * 1000, 1),
            "probe_median_over_idle_ms": round((statistics.median(during) - idle) * 1000, 1),
            "probe_p99_over_idle_ms": round((during[int(len(during) * 0.99)] - idle) * 1000, 1),
            "probe_worst_over_idle_ms": round((during[-1] - idle) * 1000, 1),
            "server_worst_loop_lag_ms": lag, "probes": len(during)}


def memory(strangers: int, authenticated: int, cap: int) -> dict[str, Any]:
    out: dict[str, Any] = {"backend": BACKEND, "unauthenticated_cap": cap}
    with Server(accounts=authenticated, max_unauthenticated=cap) as server:
        base = server.stats()["rss_kib"]
        bodies = [package1(f"made-up-{n}", f"IMEI:9{n:014d}", format(n + 1, "X"))
                  for n in range(min(strangers, cap))]
        flood(server.port, bodies, 8, ["127.0.0.1"])
        at_cap = server.stats()
        per = (at_cap["rss_kib"] - base) * 1024 / max(1, at_cap["unauthenticated"])
        out["per_unauthenticated_session_bytes"] = round(per)
        out["rss_at_cap_mib"] = round(at_cap["rss_kib"] / 1024, 1)
        more = [package1(f"made-up-{n}", f"IMEI:8{n:014d}", format(n + 1, "X"))
                for n in range(cap, strangers)]
        flood(server.port, more, 8, ["127.0.0.1"])
        after = server.stats()
        out["flood_sessions"] = strangers
        out["rss_after_flood_mib"] = round(after["rss_kib"] / 1024, 1)
        out["kept_after_flood"] = after["unauthenticated"]
        before_auth = after["rss_kib"]
        bodies = [package1(f"acct-{n}", f"IMEI:{n:015d}", format(n + 1, "X"), password=PASSWORD)
                  for n in range(authenticated)]
        codes = flood(server.port, bodies, 8, ["127.0.0.1"])
        assert all(code == 200 for code in codes)
        done = server.stats()
        out["authenticated_sessions"] = done["store"] - done["unauthenticated"]
        out["per_authenticated_session_bytes"] = round(
            (done["rss_kib"] - before_auth) * 1024 / max(1, out["authenticated_sessions"]))
        out["rss_total_mib"] = round(done["rss_kib"] / 1024, 1)
    return out


def cost(rounds: int) -> dict[str, Any]:
    """Per-request cost in this process, through the ASGI interface, no network."""
    registry = DeviceRegistry()
    registry.add_account(USER, PASSWORD, devices=["IMEI:1"])
    config = ServerConfig(server_id="bench", secret_lookup=registry.secrets.get,
                          aauth_type="BASIC")
    dm = DMServerApp(config, registry=registry)
    throttle = config.guards.throttle
    assert throttle is not None
    for _ in range(100):
        throttle.failed(now=time.monotonic(), address="10.9.9.9", account="locked-acct")
    challenge = package1(USER, "IMEI:1", "C")
    locked = package1("locked-acct", "IMEI:2", "L", password="x")
    at_limit = _preauth_at_limit()

    def run(body: bytes, client: str) -> float:
        async def once() -> None:
            sent = [False]

            async def receive() -> dict[str, Any]:
                sent[0] = True
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(_: Any) -> None:
                return None

            scope = {"type": "http", "method": "POST", "path": "/dm", "client": (client, 1),
                     "server": ("127.0.0.1", 80), "scheme": "http",
                     "headers": [(b"content-type", DM_XML.encode())]}
            await dm(scope, receive, send)

        async def many() -> float:
            started = time.perf_counter()
            for _ in range(rounds):
                await once()
            return (time.perf_counter() - started) / rounds

        return asyncio.run(many())

    from omadm_codec.messages import decode, encode

    user, dev_id = "acct-0", f"IMEI:{0:015d}"
    big = xml_to_wbxml(message("B", 2, dev_id, user, "",
                               _alerts(_densest(dev_id, user, 256 << 10)), final=False))
    decodes = []
    for _ in range(max(3, rounds // 200)):
        started = time.perf_counter()
        decode(big)
        decodes.append(time.perf_counter() - started)
    held = [_held(lambda: decode(big)) for _ in range(max(3, rounds // 200))]
    # The same ticker while this thread sleeps as long (the lock free): the machine's own
    # lateness, to subtract by eye.
    asleep = [_held(lambda: time.sleep(statistics.median(decodes)))
              for _ in range(max(3, rounds // 200))]
    model = decode(big)
    stretches = {"decode": [_stretch(lambda: decode(big)) for _ in range(max(3, rounds // 200))],
                 "encode_wbxml": [_stretch(lambda: encode(model, "wbxml"))
                                  for _ in range(max(3, rounds // 200))]}
    return {"backend": BACKEND,
            "address_locked_429_us": round(run(challenge, "10.9.9.9") * 1e6, 1),
            "account_locked_401_us": round(run(locked, "10.1.1.1") * 1e6, 1),
            "challenge_407_us": round(run(challenge, "10.1.1.2") * 1e6, 1),
            "preauth_at_limits_us": round(run(at_limit, "10.1.1.3") * 1e6, 1),
            "preauth_at_limits_bytes": len(at_limit),
            "auth_limit_decode_ms": {"bytes": len(big),
                                     "median": round(statistics.median(decodes) * 1000, 1),
                                     "max": round(max(decodes) * 1000, 1)},
            # The longest another thread waited for the interpreter during that decode: the
            # worst lateness of a 1 ms ticker, per decode (its result kept, so that freeing
            # the model is not counted); the switch interval bounds what Python code holds.
            "auth_limit_decode_held_ms": {
                "switch_interval_ms": round(sys.getswitchinterval() * 1000, 1),
                "median": round(statistics.median(h for h, _ in held) * 1000, 1),
                "max": round(max(h for h, _ in held) * 1000, 1),
                "decode_median": round(statistics.median(d for _, d in held) * 1000, 1),
                "asleep_median": round(statistics.median(h for h, _ in asleep) * 1000, 1),
                "asleep_max": round(max(h for h, _ in asleep) * 1000, 1)},
            # Compiled twins: the stretches of the call between two of its switch points
            # (where a waiting thread is handed the lock), its start and its end: the median
            # stretch, and the longest per call (median and worst over the calls). None for
            # the pure twins (Python code: the interpreter's own switch points).
            "auth_limit_stretch_ms": {name: _stretches(runs) for name, runs in stretches.items()}}


def _stretches(runs: list[tuple[float, float] | None]) -> dict[str, float] | None:
    """``_stretch`` over several calls: the typical stretch, and the longest per call."""
    got = [run for run in runs if run is not None]
    if not got:
        return None
    return {"typical": round(statistics.median(typical for typical, _ in got) * 1000, 2),
            "longest_median": round(statistics.median(longest for _, longest in got) * 1000, 2),
            "longest_max": round(max(longest for _, longest in got) * 1000, 2)}


def _stretch(call: Any) -> tuple[float, float] | None:
    """(the median, the longest) time ``call()`` ran without reaching a switch point of the
    compiled twins (``omadm_codec.wbxml._switch``), from its start to its end; None for the
    pure twins. Each compiled module's ``_switch_point`` is replaced by a stamp for the call.
    On a loaded machine the longest includes the thread's own preemptions (it holds the lock
    then too)."""
    if BACKEND != "cython":
        return None
    names = ("omadm_codec.messages._fast_c", "omadm_codec.wbxml._decode_c",
             "omadm_codec.wbxml._encode_c")
    # (A build from before the switch points has none: the whole call is one stretch.)
    modules = [sys.modules[name] for name in names
               if hasattr(sys.modules.get(name), "_switch_point")]
    stamps: list[float] = []
    originals = [module._switch_point for module in modules]  # type: ignore[attr-defined]
    for module in modules:
        module._switch_point = lambda: stamps.append(time.perf_counter())  # type: ignore[attr-defined]
    try:
        started = time.perf_counter()
        result = call()
        ended = time.perf_counter()
    finally:
        for module, original in zip(modules, originals, strict=True):
            module._switch_point = original  # type: ignore[attr-defined]
    del result
    marks = [started, *stamps, ended]
    gaps = [after - before for before, after in zip(marks, marks[1:], strict=False)]
    return statistics.median(gaps), max(gaps)


def _held(call: Any) -> tuple[float, float]:
    """(the worst lateness of a thread ticking every 1 ms while ``call()`` runs, the call's
    duration). The ticker waits for the interpreter lock whenever ``call`` holds it."""
    stop = threading.Event()
    late = [0.0]

    def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            late[0] = max(late[0], now - last - 0.001)
            last = now

    thread = threading.Thread(target=ticker)
    thread.start()
    time.sleep(0.02)
    late[0] = 0.0
    started = time.perf_counter()
    result = call()
    took = time.perf_counter() - started
    stop.set()
    thread.join()
    del result
    return late[0], took


def _preauth_at_limit() -> bytes:
    """An unauthenticated package 1 of 32 commands, padded to just under 16 KiB."""
    body = package1(USER, "IMEI:490154203237518", "S", extra=gets(3, 30))
    pad = 16 * 1024 - len(body) - 64
    return package1(USER, "IMEI:490154203237518", "S", extra=gets(3, 29)
                    + f"<Get><CmdID>32</CmdID><Item><Target><LocURI>./{'a' * pad}"
                    "</LocURI></Target></Item></Get>")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    g = sub.add_parser("guesses")
    g.add_argument("--seconds", type=float, default=10.0)
    s = sub.add_parser("stall")
    s.add_argument("--seconds", type=float, default=5.0)
    s.add_argument("--offload-min", type=int, default=64 << 10,
                   help="bodies from this size are handled off the event loop (compare with "
                        "a size above the body limit: everything on the loop)")
    s.add_argument("--no-settle-heap", action="store_true",
                   help="the server skips serve's gc.freeze at start-up (for comparison)")
    m = sub.add_parser("memory")
    m.add_argument("--strangers", type=int, default=20_000)
    m.add_argument("--authenticated", type=int, default=2_000)
    m.add_argument("--cap", type=int, default=10_000)
    c = sub.add_parser("cost")
    c.add_argument("--rounds", type=int, default=2000)
    v = sub.add_parser("serve")
    v.add_argument("--accounts", type=int, default=0)
    v.add_argument("--max-unauthenticated", type=int, default=10_000)
    v.add_argument("--offload-min", type=int, default=64 << 10)
    v.add_argument("--no-settle-heap", action="store_true")
    args = parser.parse_args()
    if args.mode == "serve":
        serve(args.accounts, args.max_unauthenticated, args.offload_min,
              not args.no_settle_heap)
        return
    result = {"guesses": lambda: guesses(args.seconds),
              "stall": lambda: stall(args.seconds, args.offload_min,
                                     not args.no_settle_heap),
              "memory": lambda: memory(args.strangers, args.authenticated, args.cap),
              "cost": lambda: cost(args.rounds)}[args.mode]()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
