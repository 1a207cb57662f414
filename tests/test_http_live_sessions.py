"""The in-process store keeps each session's object between requests (``keep_live`` /
``take_live``) instead of restoring its snapshot: the answers are the restore path's, byte
for byte; a request that does not commit leaves the snapshot to the next one; the object
lives and dies with the session's record."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from omadm_codec.http import DMServerApp, MemoryState, ServerConfig
from omadm_codec.http import app as app_module
from omadm_codec.http.registry import run_now
from omadm_codec.http.state import SessionCommit, StateUnavailable
from omadm_codec.http.stored import command_xml
from omadm_codec.messages.model import Get, Item, Target
from omadm_codec.security import auth
from omadm_codec.security.nonces import NonceManager
from omadm_codec.session import ClientSession, ServerSession, State
from omadm_codec.tools.simulator import (
    DEVICE_ID,
    DEVICE_SECRET,
    DEVICE_USER,
    SERVER_ID,
    SERVER_SECRET,
    build_tree,
)

BASE = "http://dm.example"
URL = f"{BASE}/dm"
NONCE = b"live-test-srv-nonce"
Answer = tuple[int, bytes]


def fixed_nonce(size: int) -> bytes:
    return b"n" * size  # the same on every run: two apps draw the same bytes


_tokens = itertools.count()


@pytest.fixture(autouse=True)
def fixed_tokens(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """RespURI tokens from a counter (``make_app`` starts it again), so two apps serving the
    same device agree."""
    monkeypatch.setattr(app_module, "new_token",
                        lambda device_id: f"{next(_tokens):032d}.{'0' * 16}")
    yield


def make_app(commands: int = 12) -> DMServerApp:
    global _tokens
    _tokens = itertools.count()
    nonces = NonceManager(token=fixed_nonce)
    nonces.reset_resync(DEVICE_USER, "SRVCRED", NONCE)
    stored = {DEVICE_USER: auth.secret_hash(DEVICE_USER, DEVICE_SECRET)}
    config = ServerConfig(server_id=SERVER_ID, secret_lookup=stored.get,
                          server_secret=SERVER_SECRET, server_auth_type="DIGEST",
                          nonces=nonces, max_commands_per_message=3)
    app = DMServerApp(config, base_url=BASE, store=MemoryState(nonces=nonces))
    gets = [Get(str(n), [Item(target=Target("./DevInfo/Mod"))]) for n in range(commands)]
    run_now(app.store.enqueue(DEVICE_ID, [command_xml(g) for g in gets], now=0.0))
    return app


def post(app: DMServerApp, url: str, body: bytes, content_type: str,
         hmac: str | None = None) -> Answer:
    """One POST through the ASGI app, in process: (status, body)."""
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    headers = [(b"content-type", content_type.encode())]
    if hmac:
        headers.append((b"x-syncml-hmac", hmac.encode()))
    scope = {"type": "http", "method": "POST", "path": urlsplit(url).path, "scheme": "http",
             "headers": headers, "client": ("127.0.0.9", 1000),
             "server": ("127.0.0.1", 80)}
    asyncio.run(app(scope, receive, send))
    return int(sent[0]["status"]), bytes(sent[1]["body"])


class Device:
    """The simulator's device, posting to an app in process."""

    def __init__(self) -> None:
        tree = build_tree(server_addr=URL, server_nonce=NONCE)
        self.client = ClientSession(tree, session_id="4BE0", max_msg_size=8192)
        self.client.start(now=0)
        self.out: Any = None

    def next(self) -> Any:
        self.out = self.client.data_to_send(now=0)
        return self.out

    def post(self, app: DMServerApp) -> Answer:
        out = self.out
        return post(app, self.client.resp_uri or URL, out.body, out.content_type, out.hmac)

    def take(self, answer: Answer) -> None:
        self.client.receive(answer[1], now=0, content_type=self.out.content_type)

    def run(self, app: DMServerApp) -> list[Answer]:
        answers = []
        while self.next() is not None:
            answers.append(self.post(app))
            assert answers[-1][0] == 200
            self.take(answers[-1])
        assert self.client.state is State.CLOSED
        return answers


def token_of(device: Device) -> str:
    assert device.client.resp_uri is not None
    return device.client.resp_uri.rsplit("/", 1)[1]


def outcomes(app: DMServerApp) -> list[tuple[str, str | None]]:
    return [(e.state, None if e.outcome is None else repr(e.outcome))
            for e in run_now(app.store.entries(DEVICE_ID))]


def test_the_live_path_answers_as_the_restore_path_does(
        monkeypatch: pytest.MonkeyPatch) -> None:
    live_app = make_app()
    kept: list[ServerSession] = []
    take_live = MemoryState.take_live

    def spy(self: MemoryState, token: str, version: int) -> ServerSession | None:
        found = take_live(self, token, version)
        if found is not None:
            kept.append(found)
        return found

    monkeypatch.setattr(MemoryState, "take_live", spy)
    live = Device().run(live_app)
    assert len(kept) == len(live) - 1  # every message after package 1 went on in place
    monkeypatch.setattr(MemoryState, "take_live", lambda *_: None)  # restore every time
    restored_app = make_app()
    restored = Device().run(restored_app)
    assert len(live) >= 5 and live == restored
    assert outcomes(live_app) == outcomes(restored_app)
    assert all(state == "done" for state, _ in outcomes(live_app))


def test_an_ended_session_keeps_no_object() -> None:
    app = make_app(commands=1)
    device = Device()
    device.run(app)
    assert isinstance(app.store, MemoryState)
    record = app.store._sessions[token_of(device)]
    assert record.live is None and record.snapshot  # kept to answer a retransmission


def test_a_request_that_does_not_commit_leaves_the_state_before_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The store fails the commit of the second message after the session ran on it: the
    object was taken out, so the device's retransmission restores the snapshot and gets the
    answer a server without the failure gave."""
    twin = Device()
    twin_answers = twin.run(make_app())
    app = make_app()
    store = app.store
    assert isinstance(store, MemoryState)
    device = Device()
    device.next()
    device.take(device.post(app))
    token = token_of(device)
    assert store._sessions[token].live is not None
    commit = MemoryState.session_commit

    async def failing(self: MemoryState, token: str, commit: SessionCommit) -> None:
        raise StateUnavailable("down for this test")

    monkeypatch.setattr(MemoryState, "session_commit", failing)
    device.next()
    assert device.post(app)[0] == 503
    assert store._sessions[token].live is None and store._sessions[token].version == 1
    monkeypatch.setattr(MemoryState, "session_commit", commit)
    again = device.post(app)  # the retransmission
    assert again == twin_answers[1]
    device.take(again)
    answers = [twin_answers[0], again]
    while device.next() is not None:
        answers.append(device.post(app))
        device.take(answers[-1])
    assert answers == twin_answers


def test_a_redone_run_restores_the_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    """A nonce changed meanwhile (the compare-and-set fails): the run is redone from the
    snapshot, not from the object the first run changed."""
    twin_answers = Device().run(make_app())
    app = make_app()
    store = app.store
    assert isinstance(store, MemoryState)
    restores: list[int] = []
    restore = ServerSession.restore.__func__  # type: ignore[attr-defined]

    def counting(cls: type[ServerSession], data: bytes, **kw: Any) -> ServerSession:
        restores.append(1)
        return restore(cls, data, **kw)  # type: ignore[no-any-return]

    monkeypatch.setattr(ServerSession, "restore", classmethod(counting))
    device = Device()
    device.next()
    answers = [device.post(app)]
    device.take(answers[0])
    swap = MemoryState.swap_nonces
    refused: list[str] = []

    async def once(self: MemoryState, username: str, swaps: Any) -> bool:
        if not refused:
            refused.append(username)
            return False
        return await swap(self, username, swaps)

    monkeypatch.setattr(MemoryState, "swap_nonces", once)
    device.next()
    answers.append(device.post(app))
    assert refused and restores == [1]  # the second run only
    device.take(answers[-1])
    while device.next() is not None:
        answers.append(device.post(app))
        device.take(answers[-1])
    assert answers == twin_answers


def stranger_record(store: MemoryState, token: str, now: float, ttl: float) -> ServerSession:
    session = ServerSession(server_id=SERVER_ID, server_uri=URL, secret_lookup=lambda _: None)
    session.device_id = token
    run_now(store.session_commit(token, SessionCommit(
        device_id=token, version=0, owner="new", snapshot=session.snapshot(), ttl=ttl,
        now=now, tier="preauth")))
    store.keep_live(token, 1, session)
    return session


def test_the_object_lives_and_dies_with_its_record() -> None:
    now = [1000.0]
    store = MemoryState(clock=lambda: now[0])
    kept = stranger_record(store, "a", now[0], ttl=10)
    store.keep_live("a", 2, ServerSession(server_id=SERVER_ID, server_uri=URL,
                                          secret_lookup=lambda _: None))
    assert store._sessions["a"].live is kept  # another version keeps nothing
    assert store.take_live("a", 2) is None and store._sessions["a"].live is kept
    assert store.take_live("a", 1) is kept and store.take_live("a", 1) is None
    store.keep_live("a", 1, kept)
    # The next commit replaces the record: the object of the version before goes with it.
    record = run_now(store.session_open("a", "me", 1000))
    assert record is not None
    run_now(store.session_commit("a", SessionCommit(
        device_id="a", version=1, owner="me", snapshot=record.snapshot, ttl=10,
        now=now[0], tier="preauth")))
    assert store._sessions["a"].live is None and store.take_live("a", 2) is None
    store.keep_live("a", 2, kept)
    # Expiry, eviction: the record goes, the object with it; the counts stay right.
    stranger_record(store, "b", now[0], ttl=100)
    now[0] += 50
    assert not store.alive("a") and "a" not in store._sessions
    assert run_now(store.session_count("preauth")) == 1
    assert run_now(store.session_evict("preauth")) == "b"
    assert len(store) == 0 and run_now(store.session_count("preauth")) == 0


def test_the_objects_kept_are_bounded() -> None:
    """Past ``max_live`` the least recently kept object goes (its session restores its
    snapshot next time): memory stays bounded whatever the session count."""
    store = MemoryState(max_live=2)
    kept = {token: stranger_record(store, token, 0.0, ttl=1e9) for token in "abc"}
    assert [t for t, r in store._sessions.items() if r.live is not None] == ["b", "c"]
    assert store.take_live("a", 1) is None and store.take_live("b", 1) is kept["b"]
    store.keep_live("b", 1, kept["b"])
    stranger_record(store, "d", 0.0, ttl=1e9)  # "c" is now the least recently kept
    assert [t for t, r in store._sessions.items() if r.live is not None] == ["b", "d"]
    assert len(store._kept) == 2
    nothing = MemoryState(max_live=0)
    stranger_record(nothing, "a", 0.0, ttl=1e9)
    assert nothing.take_live("a", 1) is None and not nothing._kept
