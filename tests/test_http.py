"""The HTTP binding on real loopback sockets: uvicorn in a thread, httpx as the device's
transport. Every server stops by itself (``ServerThread`` bounds start and stop)."""

from __future__ import annotations

import pytest

pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from omadm_codec.http import (  # noqa: E402
    DeviceRegistry,
    DMServerApp,
    MemoryState,
    ServerConfig,
    ServerThread,
    run_http_session,
)
from omadm_codec.messages.model import Get, Item, Target  # noqa: E402
from omadm_codec.security import auth  # noqa: E402
from omadm_codec.security.nonces import NonceManager  # noqa: E402
from omadm_codec.session import ClientSession, State, UiResponse  # noqa: E402
from omadm_codec.session import events as ev  # noqa: E402
from omadm_codec.tools.demo_scenario import DemoServerApp, generic_alert_item  # noqa: E402
from omadm_codec.tools.simulator import (  # noqa: E402
    DEVICE_SECRET,
    DEVICE_USER,
    SERVER_ID,
    SERVER_SECRET,
    ScriptedUser,
    build_tree,
)

NONCE = b"http-test-srv-nonce"


def config(server_auth: str = "HMAC") -> ServerConfig:
    nonces = NonceManager()
    nonces.reset_resync(DEVICE_USER, "SRVCRED", NONCE)
    stored = {DEVICE_USER: auth.secret_hash(DEVICE_USER, DEVICE_SECRET)}
    return ServerConfig(server_id=SERVER_ID, secret_lookup=stored.get,
                        server_secret=SERVER_SECRET, server_auth_type=server_auth,
                        nonces=nonces)


@pytest.mark.parametrize("fmt", ["xml", "wbxml"])
@pytest.mark.parametrize("server_auth", ["DIGEST", "HMAC"])
def test_demo_script_over_http(fmt: str, server_auth: str) -> None:
    apps: list[DemoServerApp] = []

    def factory() -> DemoServerApp:
        apps.append(DemoServerApp())
        return apps[-1]

    cfg = config(server_auth)
    store = MemoryState()
    app = DMServerApp(cfg, app_factory=factory, store=store)
    with ServerThread(app, timeout=10) as server:
        url = f"{server.url}/dm"
        tree = build_tree(server_addr=url, server_auth=server_auth, server_nonce=NONCE)
        client = ClientSession(tree, fmt=fmt, max_msg_size=8192,  # type: ignore[arg-type]
                               ui=ScriptedUser([UiResponse(200), UiResponse(304)]))
        client.queue_alert(1226, [generic_alert_item()])
        seen: list[str] = []
        run_http_session(client, url, timeout=10,
                         trace=lambda d, m: seen.append(m.content_type))
    assert apps and apps[0].failures(tree) == []
    assert client.state is State.CLOSED and app.sessions_completed == 1
    # Every message after the first went to the RespURI with the session's token.
    assert client.resp_uri is not None and client.resp_uri.startswith(url + "/s/")
    assert len(client.resp_uri.rsplit("/", 1)[1]) >= 32
    assert all(ct.startswith(f"application/vnd.syncml.dm+{fmt}") for ct in seen)
    assert len(store) == 1
    # What the HTTP tier kept is a sealed snapshot, not an object.
    kept = next(iter(store._sessions.values())).snapshot
    assert isinstance(kept, bytes) and kept.startswith(b"omadm-codec-session\n")


def test_registry_queue_and_refusals() -> None:
    registry = DeviceRegistry()
    registry.add_account(DEVICE_USER, DEVICE_SECRET)
    cfg = config()
    cfg.secret_lookup = registry.secrets.get
    app = DMServerApp(cfg, registry=registry)
    with ServerThread(app, timeout=10) as server:
        url = f"{server.url}/dm"
        tree = build_tree(server_addr=url, server_auth="HMAC", server_nonce=NONCE)
        dev_id = str(tree.device_get("./DevInfo/DevId"))
        get = Get("0", [Item(target=Target("./DevInfo/Mod"))])
        registry.enqueue(dev_id, [get])
        events = run_http_session(ClientSession(tree), url, timeout=10)
        assert any(isinstance(e, ev.SessionEnded) and e.reason == "completed" for e in events)
        outcome = registry.outcomes[dev_id][0]
        assert outcome.command == get and outcome.status == 200
        assert outcome.results[0].items[0].data == "AX-5 Pro"
        with httpx.Client(timeout=5) as http:
            assert http.get(url).status_code == 405
            assert http.post(url, content=b"<x/>",
                             headers={"content-type": "text/plain"}).status_code == 415
            dm = {"content-type": "application/vnd.syncml.dm+xml"}
            assert http.post(f"{url}/s/not-a-token", content=b"<x/>",
                             headers=dm).status_code == 404
            assert http.post(url, content=b"<SyncML>", headers=dm).status_code == 400
            assert http.post(url, content=b"x" * (app.max_body + 1),
                             headers=dm).status_code == 413
            assert http.post(f"{server.url}/elsewhere", content=b"",
                             headers=dm).status_code == 404


def test_wrong_device_password_over_http_ends_the_session() -> None:
    app = DMServerApp(config())
    with ServerThread(app, timeout=10) as server:
        url = f"{server.url}/dm"
        tree = build_tree(server_addr=url, server_auth="HMAC", server_nonce=NONCE,
                          client_secret="wrong")
        client = ClientSession(tree)
        events = run_http_session(client, url, timeout=10)
    assert client.state is State.ABORTED
    assert any(isinstance(e, ev.SessionEnded) and e.reason == "auth_failed" for e in events)
    assert app.sessions_completed == 0


def test_idle_sessions_time_out_in_the_store() -> None:
    registry = DeviceRegistry()
    registry.add_account(DEVICE_USER, DEVICE_SECRET)
    cfg = config()
    cfg.secret_lookup = registry.secrets.get
    cfg.idle_timeout = 5.0
    store = registry.state
    assert isinstance(store, MemoryState)
    app = DMServerApp(cfg, registry=registry)
    with ServerThread(app, timeout=10) as server:
        url = f"{server.url}/dm"
        tree = build_tree(server_addr=url, server_auth="HMAC", server_nonce=NONCE)
        dev_id = str(tree.device_get("./DevInfo/DevId"))
        registry.enqueue(dev_id, [Get("0", [Item(target=Target("./DevInfo/Mod"))])])
        client = ClientSession(tree)
        client.start(now=0)
        first = client.data_to_send(now=0)
        assert first is not None
        with httpx.Client(timeout=5) as http:
            reply = http.post(url, content=first.body,
                              headers={"content-type": first.content_type})
        assert reply.status_code == 200 and len(store) == 1
    # The device went away after the challenge; past the idle timeout its session is gone
    # with its TTL (nothing was sent in it, so the queue is as it was).
    import asyncio
    import time

    assert store.alive(client.resp_uri.rsplit("/", 1)[1]) if client.resp_uri else True
    store.clock = lambda: time.time() + 60
    assert asyncio.run(app.reap()) == 0
    assert len(store) == 0
    assert [c.ELEMENT for c in registry.queues[dev_id]] == ["Get"]


@pytest.mark.parametrize("fmt", ["xml", "wbxml"])
def test_gzip_both_ways_keeps_hmac_over_the_dm_message(fmt: str) -> None:
    registry = DeviceRegistry()
    registry.add_account(DEVICE_USER, DEVICE_SECRET)
    cfg = config("HMAC")
    cfg.secret_lookup = registry.secrets.get
    app = DMServerApp(cfg, registry=registry, compress_responses=True)
    codings: list[str | None] = []
    with ServerThread(app, timeout=10) as server:
        url = f"{server.url}/dm"
        tree = build_tree(server_addr=url, server_auth="HMAC", server_nonce=NONCE)
        dev_id = str(tree.device_get("./DevInfo/DevId"))
        # Enough Gets that package 2 passes COMPRESS_MIN and gets gzipped.
        registry.enqueue(dev_id, [Get("0", [Item(target=Target("./DevInfo/Mod"))])
                                  for _ in range(40)])

        def hook(response: httpx.Response) -> None:
            codings.append(response.headers.get("content-encoding"))

        with httpx.Client(timeout=10, event_hooks={"response": [hook]}) as http:
            client = ClientSession(tree, fmt=fmt)  # type: ignore[arg-type]
            run_http_session(client, url, http=http, compress=True)
    assert client.state is State.CLOSED
    assert len(registry.outcomes[dev_id]) == 40
    assert all(o.status == 200 for o in registry.outcomes[dev_id])
    assert "gzip" in codings  # the server compressed at least package 2


def test_content_coding_and_charset_refusals() -> None:
    import gzip
    import zlib

    app = DMServerApp(config(), max_body=4096)
    dm = {"content-type": "application/vnd.syncml.dm+xml"}
    with ServerThread(app, timeout=10) as server, httpx.Client(timeout=5) as http:
        url = f"{server.url}/dm"

        def post(body: bytes, **headers: str) -> int:
            return http.post(url, content=body, headers={**dm, **headers}).status_code

        # A bomb: 4 KiB allowed, 1 MiB of zeros compressed to about 1 KiB.
        assert post(gzip.compress(b"\0" * (1 << 20)), **{"content-encoding": "gzip"}) == 413
        assert post(b"not gzip at all", **{"content-encoding": "gzip"}) == 400
        assert post(gzip.compress(b"<SyncML>")[:-4], **{"content-encoding": "gzip"}) == 400
        assert post(b"<SyncML>", **{"content-encoding": "br"}) == 415
        assert post(b"<SyncML>", **{"accept-charset": "ISO-8859-1"}) == 406
        assert post(b"<SyncML>", **{"accept-charset": "utf-8;q=0, *"}) == 406
        # Allowed codings reach the DM layer (which refuses the broken message: 400).
        assert post(zlib.compress(b"<SyncML>"), **{"content-encoding": "deflate"}) == 400
        raw = zlib.compressobj(wbits=-15)
        assert post(raw.compress(b"<SyncML>") + raw.flush(),
                    **{"content-encoding": "deflate", "accept-charset": "utf-8, *;q=0.1"}) == 400


def test_a_body_that_waits_is_read_and_a_stalled_one_gets_408() -> None:
    """The body is taken at once when it is there; a receive that has to wait is resumed
    under ``body_timeout`` (its parts all read), and one that stalls past it gets 408."""
    import asyncio

    app = DMServerApp(ServerConfig(server_id=SERVER_ID, secret_lookup={}.get),
                      body_timeout=0.3)
    body = b"<SyncML>not a DM message</SyncML>"

    async def call(receive: object) -> tuple[int, int]:
        out: list[dict[str, object]] = []

        async def send(message: dict[str, object]) -> None:
            out.append(message)
        await app({"type": "http", "method": "POST", "path": "/dm",
                   "headers": [(b"content-type", b"application/vnd.syncml.dm+xml")]},
                  receive, send)  # type: ignore[arg-type]
        return int(out[0]["status"]), len(parts)  # type: ignore[call-overload]

    parts: list[bytes] = []

    async def at_once() -> dict[str, object]:
        parts.append(body)
        return {"type": "http.request", "body": body, "more_body": False}

    async def waits() -> dict[str, object]:
        await asyncio.sleep(0.02)  # each part after a wait (a suspension under the timer)
        parts.append(body[:5] if not parts else body[5:])
        return {"type": "http.request", "body": parts[-1], "more_body": len(parts) == 1}

    async def stalls() -> dict[str, object]:
        await asyncio.sleep(30)
        raise AssertionError("not reached")

    async def run() -> None:
        assert await call(at_once) == (400, 1)  # read, decoded, refused: not a DM message
        parts.clear()
        assert await call(waits) == (400, 2)  # both parts read, the same answer
        parts.clear()
        started = asyncio.get_running_loop().time()
        assert (await call(stalls))[0] == 408
        assert asyncio.get_running_loop().time() - started < 5
        await app._stop()

    asyncio.run(run())
