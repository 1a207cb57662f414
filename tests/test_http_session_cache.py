"""The worker's cache of live sessions (``DMServerApp(session_cache=)``): a request whose
store record holds exactly the snapshot this worker committed uses the live object instead
of restoring it, and must not be told apart from a restore by anything.

Real sessions run in process through the ASGI callable, on a fixed clock and a seeded source
of randomness, once with the cache and once without: answers and store state must be the
same bytes. Every time the app takes a session from the cache, the test restores the store's
record with the same collaborators and compares the two objects field by field.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import pytest

from omadm_codec.http import DMServerApp, MemoryState, ServerConfig
from omadm_codec.http import app as app_module
from omadm_codec.http.registry import run_now
from omadm_codec.http.state import SessionConflict
from omadm_codec.http.wire import HMAC_HEADER
from omadm_codec.limits import MemoryBudget, Reservation
from omadm_codec.messages.model import Command, Get, Item, Meta, Replace, Target
from omadm_codec.security import auth
from omadm_codec.security.nonces import NonceManager
from omadm_codec.security.policy import AuthPolicy
from omadm_codec.session import ClientSession, ServerSession, State, UiResponse
from omadm_codec.session import events as ev
from omadm_codec.session.guards import SessionGuards
from omadm_codec.tools.demo_scenario import DemoServerApp, generic_alert_item
from omadm_codec.tools.simulator import (
    DEVICE_SECRET,
    DEVICE_USER,
    SERVER_ID,
    SERVER_SECRET,
    ScriptedUser,
    build_tree,
)

START = 1_800_000_000.0
BASE = "http://127.0.0.1:8000"


class Clock(list[float]):
    """``[now]``: the wall clock of the app and the sessions. ``reset()`` sets it and the
    seeded randomness (tokens, lock owners, nonces) back to their start, so the same
    session gives the same bytes in every run."""

    def __init__(self) -> None:
        super().__init__([START])
        self.rng = random.Random(15)

    def reset(self) -> None:
        self[0] = START
        self.rng.seed(15)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    now = Clock()
    monkeypatch.setattr(time, "time", lambda: now[0])
    monkeypatch.setattr(random, "_urandom", lambda n: now.rng.randbytes(n))  # ``secrets``
    return now


class Spy:
    """Every cached session the app rebinds is compared with a restore of its stored
    record made with the same collaborators (the app's own restores are left alone)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.apps: list[DMServerApp] = []
        self.hits = 0
        self.restores = 0
        restoring = [0]
        rebind = ServerSession.rebind
        restore = ServerSession.restore.__func__  # type: ignore[attr-defined]

        def counted_restore(cls: type[ServerSession], data: bytes, **kw: Any) -> ServerSession:
            restoring[0] += 1
            try:
                return restore(cls, data, **kw)  # type: ignore[no-any-return]
            finally:
                restoring[0] -= 1
                self.restores += 1

        def checked_rebind(session: ServerSession, **kw: Any) -> None:
            rebind(session, **kw)
            if restoring[0]:
                return
            self.hits += 1
            token = (session.resp_uri or "").rsplit("/s/", 1)[1]
            dm = self.apps[-1]  # the app running now
            stored = dm.store._sessions[token].snapshot  # type: ignore[attr-defined]
            restoring[0] += 1
            try:
                twin = restore(ServerSession, stored, key=dm.seal_key, **kw)
            finally:
                restoring[0] -= 1
            assert session.nonces is kw["nonces"] and session.guards is kw["guards"]
            assert state_of(session) == state_of(twin)
            assert session.snapshot(dm.seal_key) == stored

        monkeypatch.setattr(ServerSession, "restore", classmethod(counted_restore))
        monkeypatch.setattr(ServerSession, "rebind", checked_rebind)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    return Spy(monkeypatch)


# Collaborators a request hands in (compared by identity in ``checked_rebind``).
_PASSED = {"nonces", "_secret_lookup", "guards", "accounts_for_device", "_aauth_for"}


def state_of(value: Any, path: str = "") -> Any:
    """A session's state as plain data: its records field by field, commands and messages
    by value, a ``Pending``'s parent by position, a reservation by what it holds."""
    if isinstance(value, ServerSession):
        return {k: state_of(v, k) for k, v in sorted(vars(value).items()) if k not in _PASSED}
    if isinstance(value, AuthPolicy):
        return {k: state_of(v) for k, v in sorted(vars(value).items())
                if k not in ("_lookup", "_nonces")}
    if isinstance(value, Reservation):
        return ("reservation", value.size, value.budget is not None)
    if isinstance(value, (list, tuple, deque)):
        return [state_of(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: state_of(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(value)
    if type(value).__name__ == "Pending":
        return {f.name: ("parent", value.parent is not None) if f.name == "parent"
                else state_of(getattr(value, f.name), f"{path}.{f.name}")
                for f in dataclasses.fields(value)}
    if dataclasses.is_dataclass(value) and type(value).__module__.startswith(
            "omadm_codec.session"):
        return {f.name: state_of(getattr(value, f.name), f"{path}.{f.name}")
                for f in dataclasses.fields(value)}
    return value  # numbers, strings, bytes, enums, the message model (compared by value)


# -- driving sessions ------------------------------------------------------------------------


Reply = tuple[int, dict[str, str], bytes]


def post(dm: DMServerApp, path: str, body: bytes, content_type: str,
         hmac: str | None = None) -> Reply:
    out: list[Any] = []
    headers = [(b"content-type", content_type.encode())]
    if hmac:
        headers.append((HMAC_HEADER.encode(), hmac.encode()))

    async def receive() -> Any:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Any) -> None:
        out.append(message)

    async def call() -> None:
        await dm({"type": "http", "method": "POST", "path": path, "scheme": "http",
                  "headers": headers, "client": ("127.0.0.1", 1),
                  "server": ("127.0.0.1", 8000)}, receive, send)
        if dm._reaper is not None:
            await dm._stop()

    asyncio.run(call())
    return (out[0]["status"], {k.decode(): v.decode() for k, v in out[0]["headers"]},
            bytes(out[1]["body"]))


def run_session(dm: DMServerApp, client: ClientSession, clock: Clock,
                on_reply: Callable[[int, Reply], None] | None = None) -> list[Reply]:
    """One whole session of ``client`` against ``dm``, a second of clock per message."""
    replies: list[Reply] = []
    client.start(now=clock[0])
    while (message := client.data_to_send(now=clock[0])) is not None:
        path = "/dm" + client.resp_uri.split("/dm", 1)[1] if client.resp_uri else "/dm"
        reply = post(dm, path, message.body, message.content_type, message.hmac)
        replies.append(reply)
        if on_reply is not None:
            on_reply(len(replies), reply)
        clock[0] += 1.0
        if reply[0] != 200:
            break
        client.receive(reply[2], now=clock[0], content_type=reply[1]["content-type"],
                       hmac=reply[1].get(HMAC_HEADER))
    return replies


def store_state(store: MemoryState) -> Any:
    return ({token: (s.snapshot, s.version, s.device_id, s.tier, s.expires, s.lock_owner)
             for token, s in store._sessions.items()},
            {dev: [(entry_id, e.state, e.outcome, e.history, e.session)
                   for entry_id, e in d.entries.items()]
             for dev, d in store._devices.items()},
            dict(store._tiers), dict(store.nonces._slots))


def twenty_commands() -> list[Command]:
    return [*(Get("0", [Item(target=Target("./Vendor/Acme/Settings/Ringtone"))])
              for _ in range(10)),
            *(Replace("0", [Item(target=Target("./Vendor/Acme/Settings/Brightness"),
                                 meta=Meta(format="int"), data=str(40 + i))])
              for i in range(10))]


def queued_sessions(session_cache: int, clock: Clock, spy: Spy, fmt: str,
                    devices: int = 3) -> Any:
    """The benchmark's session (BASIC, 20 commands from the durable queue) for ``devices``
    devices, the first two started together (their requests interleave)."""
    users = [f"dev{i}" for i in range(devices)]
    stored = {u: auth.secret_hash(u, "pw") for u in users}
    dm = DMServerApp(ServerConfig(server_id=SERVER_ID, secret_lookup=stored.get,
                                  aauth_type="BASIC"),
                     store=MemoryState(clock=time.time), base_url=BASE,
                     session_cache=session_cache)
    spy.apps.append(dm)
    clients = []
    for i, user in enumerate(users):
        dev_id = f"IMEI:{i:015d}"
        dm.registry.enqueue(dev_id, twenty_commands())
        tree = build_tree(dev_id=dev_id, client_name=user, client_secret="pw",
                          client_auth="BASIC", server_auth="NONE", server_addr=f"{BASE}/dm")
        clients.append(ClientSession(tree, fmt=fmt, session_id=f"1A{i}"))  # type: ignore[arg-type]
    replies: list[Reply] = []
    # Two sessions interleaved: each one's package 1, then each one's package 3.
    first, second = clients[0], clients[1]
    pending = []
    for client in (first, second):
        client.start(now=clock[0])
        message = client.data_to_send(now=clock[0])
        assert message is not None
        reply = post(dm, "/dm", message.body, message.content_type)
        replies.append(reply)
        pending.append((client, reply))
        clock[0] += 1
    for client, reply in pending:
        client.receive(reply[2], now=clock[0], content_type=reply[1]["content-type"])
        while (message := client.data_to_send(now=clock[0])) is not None:
            assert client.resp_uri is not None
            path = "/dm" + client.resp_uri.split("/dm", 1)[1]
            reply = post(dm, path, message.body, message.content_type)
            replies.append(reply)
            clock[0] += 1
            client.receive(reply[2], now=clock[0], content_type=reply[1]["content-type"])
        assert client.state is State.CLOSED
    for client in clients[2:]:
        replies += run_session(dm, client, clock)
        assert client.state is State.CLOSED
    assert dm.sessions_completed == devices
    return replies, store_state(dm.store), dm  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["xml", "wbxml"])
def test_queued_sessions_answer_the_same_bytes_with_and_without_the_cache(
        clock: Clock, spy: Spy, fmt: str) -> None:
    off_replies, off_store, _ = queued_sessions(0, clock, spy, fmt)
    assert spy.hits == 0
    clock.reset()
    on_replies, on_store, dm = queued_sessions(app_module.SESSION_CACHE, clock, spy, fmt)
    assert spy.hits == 3  # each session's package 3 used the object package 1 committed
    assert on_replies == off_replies
    assert on_store == off_store
    assert not dm._live  # every session ended: nothing kept


def demo_session(session_cache: int, clock: Clock, spy: Spy, server_auth: str,
                 fmt: str) -> Any:
    apps: list[DemoServerApp] = []

    def factory() -> DemoServerApp:
        apps.append(DemoServerApp())
        return apps[-1]

    nonces = NonceManager()
    nonce = b"cache-test-srv-nonce"
    nonces.reset_resync(DEVICE_USER, "SRVCRED", nonce)
    stored = {DEVICE_USER: auth.secret_hash(DEVICE_USER, DEVICE_SECRET)}
    config = ServerConfig(server_id=SERVER_ID, secret_lookup=stored.get,
                          server_secret=SERVER_SECRET, server_auth_type=server_auth,
                          nonces=nonces)
    dm = DMServerApp(config, app_factory=factory, store=MemoryState(clock=time.time),
                     base_url=BASE, session_cache=session_cache)
    spy.apps.append(dm)
    tree = build_tree(server_addr=f"{BASE}/dm", server_auth=server_auth, server_nonce=nonce)
    client = ClientSession(tree, fmt=fmt, max_msg_size=4096,  # type: ignore[arg-type]
                           ui=ScriptedUser([UiResponse(200), UiResponse(304)]),
                           session_id="2B")
    client.queue_alert(1226, [generic_alert_item()])
    replies = run_session(dm, client, clock)
    assert client.state is State.CLOSED, replies[-1][:2]
    assert apps and apps[0].failures(tree) == []
    return replies, store_state(dm.store), len(replies)


@pytest.mark.parametrize("fmt", ["xml", "wbxml"])
@pytest.mark.parametrize("server_auth", ["DIGEST", "HMAC"])
def test_the_demo_script_answers_the_same_bytes_with_and_without_the_cache(
        clock: Clock, spy: Spy, server_auth: str, fmt: str) -> None:
    """Both packages of the demo (Atomic, Sequence, a large object sent in chunks, UI
    alerts), split over many messages by a small MaxMsgSize, server authentication."""
    off = demo_session(0, clock, spy, server_auth, fmt)
    assert spy.hits == 0
    clock.reset()
    on = demo_session(app_module.SESSION_CACHE, clock, spy, server_auth, fmt)
    assert spy.hits == on[2] - 1  # every message after package 1
    assert on == off


def large_results_session(session_cache: int, clock: Clock, spy: Spy) -> Any:
    """The device sends a 10 KiB Results in chunks (the server's MaxMsgSize is 3000): the
    session holds the bytes received so far, and their share of the budget, between
    requests."""
    stored = {DEVICE_USER: auth.secret_hash(DEVICE_USER, DEVICE_SECRET)}
    budget = MemoryBudget(1 << 20)
    config = ServerConfig(server_id=SERVER_ID, secret_lookup=stored.get, max_msg_size=3000,
                          guards=SessionGuards(incoming_budget=budget))
    dm = DMServerApp(config, store=MemoryState(clock=time.time), base_url=BASE,
                     session_cache=session_cache)
    spy.apps.append(dm)
    tree = build_tree(server_addr=f"{BASE}/dm", server_auth="NONE")
    tree.device_replace("./Vendor/Acme/Firmware/Package", bytes(range(256)) * 40, "bin")
    dev_id = str(tree.device_get("./DevInfo/DevId"))
    dm.registry.enqueue(dev_id, [Get("0", [Item(target=Target(
        "./Vendor/Acme/Firmware/Package"))])])
    client = ClientSession(tree, session_id="3C")
    used: list[int] = []
    replies = run_session(dm, client, clock, lambda _n, _r: used.append(budget.used))
    assert client.state is State.CLOSED
    assert max(used) > 0 and used[-1] == 0  # held while the object arrived, then given back
    outcome = dm.registry.outcomes[dev_id][0]
    assert outcome.status == 200 and len(str(outcome.results[0].items[0].data)) > 10_000
    return replies, store_state(dm.store), used, len(replies)


def test_results_arriving_in_chunks_answer_the_same_with_and_without_the_cache(
        clock: Clock, spy: Spy) -> None:
    off = large_results_session(0, clock, spy)
    clock.reset()
    on = large_results_session(app_module.SESSION_CACHE, clock, spy)
    assert on[3] >= 5 and spy.hits == on[3] - 1
    assert on == off


# -- what never goes through the cache ---------------------------------------------------------


def started(dm: DMServerApp, clock: Clock, index: int = 0, user: str = DEVICE_USER,
            client_auth: str = "BASIC") -> tuple[ClientSession, str]:
    """A session after its package 1 (answered, committed): the client and its token."""
    tree = build_tree(dev_id=f"IMEI:{index:015d}", client_name=user, server_addr=f"{BASE}/dm",
                      client_auth=client_auth, server_auth="NONE")
    dm.registry.enqueue(f"IMEI:{index:015d}", twenty_commands()[:3])
    client = ClientSession(tree, session_id=f"4D{index}")
    client.start(now=clock[0])
    message = client.data_to_send(now=clock[0])
    assert message is not None
    status, headers, body = post(dm, "/dm", message.body, message.content_type)
    assert status == 200
    client.receive(body, now=clock[0], content_type=headers["content-type"])
    assert client.resp_uri is not None
    return client, client.resp_uri.rsplit("/s/", 1)[1]


SENT: dict[int, Any] = {}


def go_on(dm: DMServerApp, client: ClientSession, clock: Clock, again: bool = False) -> Reply:
    """The client's next message (its package 3) posted; ``again``: the last one again (a
    retransmission)."""
    message = SENT[id(client)] if again else client.data_to_send(now=clock[0])
    assert message is not None and client.resp_uri is not None
    SENT[id(client)] = message
    return post(dm, "/dm" + client.resp_uri.split("/dm", 1)[1], message.body,
                message.content_type)


def basic_app(users: int = 8, **kw: Any) -> DMServerApp:
    stored = {f"user{i}": auth.secret_hash(f"user{i}", DEVICE_SECRET) for i in range(users)}
    stored[DEVICE_USER] = auth.secret_hash(DEVICE_USER, DEVICE_SECRET)
    return DMServerApp(ServerConfig(server_id=SERVER_ID, secret_lookup=stored.get,
                                    aauth_type="BASIC"),
                       store=MemoryState(clock=time.time), base_url=BASE, **kw)


def test_a_replaced_snapshot_is_restored_and_a_tampered_one_refused(
        clock: Clock, spy: Spy, caplog: pytest.LogCaptureFixture) -> None:
    dm = basic_app()
    spy.apps.append(dm)
    # The same bytes in another object (what a shared store hands back): the object is used.
    client, token = started(dm, clock)
    record = dm.store._sessions[token]
    record.snapshot = bytes(bytearray(record.snapshot))
    assert go_on(dm, client, clock)[0] == 200 and spy.hits == 1
    # Another valid snapshot of the session (another worker committed): restored from it.
    client, token = started(dm, clock, 1, "user1")
    record = dm.store._sessions[token]
    other = ServerSession.restore(record.snapshot, secret_lookup=dm.config.secret_lookup,
                                  key=dm.seal_key)
    other.quirks.append("from_elsewhere")
    record.snapshot = other.snapshot(dm.seal_key)
    before = spy.restores
    assert go_on(dm, client, clock)[0] == 200
    assert spy.hits == 1 and spy.restores == before + 1
    final = ServerSession.restore(dm.store._sessions[token].snapshot,
                                  secret_lookup=dm.config.secret_lookup, key=dm.seal_key)
    assert "from_elsewhere" in final.quirks  # what the store held is what went on
    # Tampered bytes: refused (their seal fails), logged, never bypassed by the cached object.
    client, token = started(dm, clock, 2, "user2")
    record = dm.store._sessions[token]
    record.snapshot = record.snapshot.replace(b'"started":true', b'"started":fals', 1)
    with caplog.at_level(logging.ERROR, "omadm_codec.http"):
        status, _, body = go_on(dm, client, clock)
    assert status == 404 and body == app_module.UNKNOWN_SESSION
    assert "refused a stored session snapshot (corrupt)" in caplog.text
    assert spy.hits == 1 and token not in dm._live
    # A record of another version with the very bytes is not trusted either.
    client, token = started(dm, clock, 3, "user3")
    dm.store._sessions[token].version += 1
    before = spy.restores
    assert go_on(dm, client, clock)[0] == 200
    assert spy.hits == 1 and spy.restores == before + 1


def test_a_failed_request_leaves_nothing_cached(clock: Clock, spy: Spy,
                                                monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    # An exception in the application: 500, the session dropped.
    calls = []

    def failing() -> Any:
        def app(session: ServerSession, events: list[ev.Event]) -> None:
            calls.append(len(events))
            if any(isinstance(e, ev.CommandCompleted) for e in events):
                raise RuntimeError("the application failed")
        return app

    dm = basic_app(app_factory=failing)
    spy.apps.append(dm)
    client, token = started(dm, clock)
    assert token in dm._live
    with caplog.at_level(logging.CRITICAL, "omadm_codec.http"):
        assert go_on(dm, client, clock)[0] == 500
    assert token not in dm._live and token not in dm.store._sessions and spy.hits == 1
    # A lost commit: 503; the retransmission restores what the store holds, and goes on.
    dm = basic_app()
    spy.apps.append(dm)
    client, token = started(dm, clock, 1, "user1")
    commit = dm.store.session_commit
    lost = []

    async def losing(token_: str, change: Any) -> None:
        if not lost:
            lost.append(token_)
            raise SessionConflict("lock")
        await commit(token_, change)

    monkeypatch.setattr(dm.store, "session_commit", losing)
    with caplog.at_level(logging.CRITICAL, "omadm_codec.http"):
        assert go_on(dm, client, clock)[0] == 503
    assert lost == [token] and token not in dm._live and spy.hits == 2
    before = spy.restores
    status, headers, body = go_on(dm, client, clock, again=True)
    assert status == 200 and spy.restores == before + 1 and spy.hits == 2
    client.receive(body, now=clock[0], content_type=headers["content-type"])
    assert client.state is State.CLOSED and dm.sessions_completed == 1


def test_a_run_again_restores_instead_of_reusing_the_object_it_changed(
        clock: Clock, spy: Spy, monkeypatch: pytest.MonkeyPatch) -> None:
    """``_Redo`` after the session took the message: the next run must not get the object
    that took it (it would see a retransmission)."""
    results = []
    for cache in (0, app_module.SESSION_CACHE):
        clock.reset()
        dm = basic_app(session_cache=cache)
        spy.apps.append(dm)
        client, token = started(dm, clock)
        swap = dm._swap
        redone = []

        async def once(nonces: Any, swap: Any = swap, redone: list[int] = redone) -> None:
            if not redone:
                redone.append(1)
                raise app_module._Redo()
            await swap(nonces)

        monkeypatch.setattr(dm, "_swap", once)
        reply = go_on(dm, client, clock)
        assert redone and reply[0] == 200
        results.append((reply, store_state(dm.store)))
    assert spy.hits == 1
    assert results[0] == results[1]


def test_the_cache_is_bounded_and_forgets_ended_and_expired_sessions(
        clock: Clock, spy: Spy) -> None:
    dm = basic_app(session_cache=2)
    spy.apps.append(dm)
    sessions = [started(dm, clock, i, f"user{i}") for i in range(5)]
    assert list(dm._live) == [sessions[3][1], sessions[4][1]]  # the most recent two
    for client, _ in sessions:  # evicted or not, each session goes on
        status, headers, body = go_on(dm, client, clock)
        assert status == 200
        client.receive(body, now=clock[0], content_type=headers["content-type"])
        assert client.state is State.CLOSED
    assert spy.hits == 2 and not dm._live and dm.sessions_completed == 5
    # Expired: the reaper drops it with the store's copy.
    client, token = started(dm, clock, 5, "user5")
    assert token in dm._live
    clock[0] += dm.config.idle_timeout + 1
    run_now(dm.reap())
    assert not dm._live
    # No cache at all.
    dm = basic_app(session_cache=0)
    started(dm, clock, 6, "user6")
    assert not dm._live
    with pytest.raises(ValueError, match="session_cache"):
        basic_app(session_cache=-1)


def test_sweep_and_eviction_drop_the_cached_object(clock: Clock, spy: Spy) -> None:
    dm = basic_app()
    spy.apps.append(dm)
    _, token = started(dm, clock)
    assert token in dm._live
    assert dm.sweep(now=clock[0] + dm.config.idle_timeout + 1) == 1
    assert token not in dm._live and not dm.store.alive(token)
    # A session challenged at package 1 (not authenticated) makes room for a new one.
    client, token = started(dm, clock, 1, "user1", client_auth="DIGEST")
    assert dm.store.tier_of(token) == "preauth" and token in dm._live
    assert run_now(dm._make_room("preauth", None))
    assert token not in dm._live and not dm.store.alive(token)
