"""The server's guards in process, without sockets (issue 13): the failure throttle, the
session caps' counts and the expiry heap of the in-process state store, device ownership,
what a session refuses without changing, large objects in, the memory budget and the log
limiter. The same behaviours are
attacked over HTTP in ``tests/test_attacks.py``; these pin the rules and the numbers."""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
from typing import Any

import pytest
from attack_server import (
    DEVICE_ID,
    DEVICE_SECRET,
    DEVICE_USER,
    alert,
    basic_cred,
    cred_xml,
    devinfo,
    message,
    results,
    status,
)

from omadm_codec.errors import ForeignMessage, RemoteProtocolError
from omadm_codec.http import DeviceOwnership, DMServerApp, MemoryState, ServerConfig
from omadm_codec.http.logs import RateLimitFilter
from omadm_codec.http.registry import run_now
from omadm_codec.http.state import SessionCommit
from omadm_codec.limits import MemoryBudget, Reservation
from omadm_codec.messages import decode
from omadm_codec.messages.model import Get, Item, Target
from omadm_codec.security import auth
from omadm_codec.security.nonces import NonceManager
from omadm_codec.security.throttle import Throttle, ThrottleRule, ThrottleRules
from omadm_codec.session import ServerSession, State
from omadm_codec.session import events as ev
from omadm_codec.session.guards import SessionGuards

SECRETS = {DEVICE_USER: auth.secret_hash(DEVICE_USER, DEVICE_SECRET),
           "other": auth.secret_hash("other", "other-pw")}
URI = "http://dm.example/dm"
LOG_URI = "./Vendor/Acme/Logs/Boot"


def server(guards: SessionGuards | None = None, aauth: str = "BASIC") -> ServerSession:
    return ServerSession(server_id="srv", server_uri=URI, secret_lookup=SECRETS.get,
                         nonces=NonceManager(), aauth_type=aauth, resp_uri=f"{URI}/s/t",
                         guards=guards or SessionGuards())


def pkg1(user: str = DEVICE_USER, password: str = DEVICE_SECRET, *, cred: bool = True,
         dev_id: str = DEVICE_ID, extra: str = "", session_id: str = "A1") -> bytes:
    return message(session_id, 1, URI, dev_id, alert(1, 1201) + devinfo(2, dev_id) + extra,
                   loc_name=user,
                   cred=cred_xml("BASIC", basic_cred(user, password)) if cred else "")


def authenticated(guards: SessionGuards | None = None, get: bool = True) -> ServerSession:
    """A BASIC session past package 1, with a Get sent and waiting for its Status."""
    session = server(guards)
    session.receive(pkg1(), now=0.0)
    if get:
        session.send_commands([Get("0", [Item(target=Target(LOG_URI))])])
    session.data_to_send()
    assert session.state is State.WAIT and session.username == DEVICE_USER
    return session


# -- the throttle -------------------------------------------------------------------------------


def test_backoff_doubles_after_the_free_failures_up_to_the_cap() -> None:
    rule = ThrottleRule(free_failures=5, window=3600, base_lock=1, max_lock=900)
    assert [rule.lock_for(n) for n in range(1, 9)] == [0, 0, 0, 0, 0, 1, 2, 4]
    assert rule.lock_for(50) == 900


def test_failures_lock_each_key_and_survive_sessions() -> None:
    throttle = Throttle(ThrottleRules(address=ThrottleRule(free_failures=3)))
    for n in range(6):
        throttle.failed(now=float(n), account="a", device="d", address="1.2.3.4")
    # Six failures: account and device (5 free) locked for 1 s, the address (3 free) for 4 s.
    assert throttle.retry_after(now=5.5, account="a") == pytest.approx(0.5)
    assert throttle.retry_after(now=5.5, device="d") == pytest.approx(0.5)
    assert throttle.retry_after(now=5.5, address="1.2.3.4") == pytest.approx(3.5)
    assert throttle.retry_after(now=5.5, account="b", device="e", address="5.6.7.8") == 0
    # A seventh failure doubles the lock; nothing of it depends on sessions.
    throttle.failed(now=7.0, account="a")
    assert throttle.retry_after(now=7.0, account="a") == pytest.approx(2.0)


def test_the_count_starts_again_after_a_quiet_window() -> None:
    throttle = Throttle(ThrottleRules(account=ThrottleRule(free_failures=2, window=10)))
    throttle.failed(now=0, account="a")
    throttle.failed(now=1, account="a")
    throttle.failed(now=12, account="a")  # the window passed: this is failure 1 again
    assert throttle.retry_after(now=12, account="a") == 0
    throttle.failed(now=13, account="a")
    throttle.failed(now=14, account="a")
    assert throttle.retry_after(now=14, account="a") == pytest.approx(1.0)


def test_success_clears_and_trusts_the_address_it_came_from() -> None:
    throttle = Throttle()
    throttle.succeeded(now=0, account="a", device="d", address="10.0.0.1")
    for n in range(8):
        throttle.failed(now=1 + n * 0.01, account="a", device="d", address="10.0.0.9")
    assert throttle.retry_after(now=2, account="a", device="d", address="10.0.0.9") > 0
    # The device's own address is exempt from the account and device locks...
    assert throttle.retry_after(now=2, account="a", device="d", address="10.0.0.1") == 0
    # ...and a success clears them.
    throttle.succeeded(now=3, account="a", device="d", address="10.0.0.9")
    assert throttle.retry_after(now=3, account="a", device="d") == 0


def test_the_tables_are_bounded_per_kind() -> None:
    throttle = Throttle(ThrottleRules(max_keys=4))
    for n in range(100):
        throttle.failed(now=0, account=f"made-up-{n}", address="1.1.1.1")
    assert len(throttle.table) == 4 + 1  # type: ignore[arg-type]


def test_a_locked_account_is_refused_unverified_and_answered_like_a_wrong_password() -> None:
    throttle = Throttle()
    guards = SessionGuards(throttle=throttle)
    for _ in range(6):
        throttle.failed(now=0, account=DEVICE_USER)
    locked = server(guards)
    events = locked.receive(pkg1(), now=0.5, peer="10.0.0.2")
    assert [e.reason for e in events if isinstance(e, ev.AuthenticationFailed)] == ["throttled"]
    wrong = server(SessionGuards(throttle=Throttle()))
    wrong.receive(pkg1(password="nope"), now=0.5)
    a, b = decode(locked.data_to_send().body), decode(wrong.data_to_send().body)
    assert [(c.ELEMENT, c.data) for c in a.commands] == [(c.ELEMENT, c.data) for c in b.commands]
    # After the lock, the right password gets in (and clears the account).
    later = server(guards)
    later.receive(pkg1(), now=2.0)
    assert later.username == DEVICE_USER
    assert throttle.retry_after(now=2.0, account=DEVICE_USER) == 0


# -- what a session refuses without changing ---------------------------------------------------


@pytest.mark.parametrize("foreign", ["garbage", "session_id", "source", "account"])
def test_a_foreign_message_changes_nothing(foreign: str) -> None:
    session = authenticated()
    before = session.snapshot()
    body = status(1, "1", "0", "SyncHdr", 200) + status(2, "1", "3", "Get", 200)
    data = {
        "garbage": b"<SyncML><SyncHdr>",
        "session_id": message("B2", 2, URI, DEVICE_ID, body, loc_name=DEVICE_USER),
        "source": message("A1", 2, URI, "IMEI:666", body, loc_name=DEVICE_USER),
        "account": message("A1", 2, URI, DEVICE_ID, body, loc_name="other"),
    }[foreign]
    with pytest.raises(ForeignMessage) as info:
        session.receive(data, now=5.0)
    assert session.snapshot() == before
    if foreign == "garbage":
        assert info.value.response == b""
    else:
        refusal = decode(info.value.response)
        assert refusal.commands[0].data in (400, 401)  # type: ignore[union-attr]
    # The peer's own next message is taken as if nothing happened.
    session.receive(message("A1", 2, URI, DEVICE_ID, status(1, "1", "0", "SyncHdr", 200),
                            loc_name=DEVICE_USER), now=6.0)
    assert session.state is State.SEND


def test_a_first_message_that_does_not_decode_still_ends_the_session() -> None:
    session = server()
    with pytest.raises(RemoteProtocolError) as info:
        session.receive(b"<SyncML><oops", now=0)
    assert not isinstance(info.value, ForeignMessage) and session.state is State.ERROR


def test_unauthenticated_messages_are_bounded_and_answered_with_the_challenge_alone() -> None:
    gets = "".join(f"<Get><CmdID>{n}</CmdID><Item><Target><LocURI>./A</LocURI></Target>"
                   "</Item></Get>" for n in range(3, 33))
    session = server(SessionGuards(preauth_command_statuses=False), aauth="DIGEST")
    session.receive(pkg1(cred=False, extra=gets), now=0)
    answer = decode(session.data_to_send().body)
    assert [c.ELEMENT for c in answer.commands] == ["Status"]  # the challenge alone, on request
    assert answer.commands[0].data == 407 and answer.commands[0].chal  # type: ignore[union-attr]
    spec = server(aauth="DIGEST")
    spec.receive(pkg1(cred=False, extra=gets), now=0)
    statuses = decode(spec.data_to_send().body).commands
    assert len(statuses) == 33  # PRO 2.4.1: one per command, by default
    assert statuses[0].chal  # type: ignore[union-attr]
    with pytest.raises(RemoteProtocolError) as info:
        server().receive(pkg1(cred=False, extra=gets + "<Get><CmdID>33</CmdID><Item><Target>"
                                                       "<LocURI>./B</LocURI></Target></Item>"
                                                       "</Get>"), now=0)
    assert info.value.reason == "too_many_commands"


def test_every_state_has_a_deadline() -> None:
    guards = SessionGuards(preauth_idle_timeout=30, retain_ended=60)
    session = server(guards, aauth="DIGEST")
    assert session.expires_at() is None  # nothing taken yet: nothing to keep
    session.receive(pkg1(cred=False), now=100)
    session.data_to_send()
    assert session.expires_at() == 130  # before authentication: the short timeout
    running = authenticated(guards)
    assert running.expires_at() == 300  # idle_timeout, from its last message at 0
    running.abort()
    running.receive(message("A1", 2, URI, DEVICE_ID, status(1, "1", "0", "SyncHdr", 200),
                            loc_name=DEVICE_USER), now=10)
    running.data_to_send()
    assert running.state is State.ABORTED and running.expires_at() == 70


def test_abandon_hands_back_every_command_once() -> None:
    session = authenticated()
    queued = Get("0", [Item(target=Target("./Queued"))])
    session.send_commands([queued])
    events = session.abandon("internal_error")
    refused = [e for e in events if isinstance(e, ev.CommandRefused)]
    assert [e.command.items[0].target.loc_uri for e in refused] == [LOG_URI, "./Queued"]  # type: ignore[attr-defined]
    assert {e.reason for e in refused} == {"internal_error"}
    assert isinstance(events[-1], ev.SessionEnded) and session.state is State.ABORTED
    assert session.abandon("internal_error") == []


# -- large objects in ---------------------------------------------------------------------------


def get_ref(session: ServerSession) -> tuple[str, str]:
    """(MsgID, CmdID) of the Get ``authenticated`` sent."""
    return next(iter(session._pending))


def chunk(session: ServerSession, msg_id: int, data: str, *, first: bool = False,
          more: bool = True, size: int | None = None) -> int | None:
    msg_ref, cmd_ref = get_ref(session)
    body = status(1, str(msg_id - 1), "0", "SyncHdr", 200)
    if first:
        body += status(2, msg_ref, cmd_ref, "Get", 200)
    body += results(3, msg_ref, cmd_ref, [(LOG_URI, data)], more_data=more, size=size)
    session.receive(message("A1", msg_id, URI, DEVICE_ID, body, loc_name=DEVICE_USER,
                            final=not more), now=float(msg_id))
    answer = decode(session.data_to_send().body)
    codes = [c.data for c in answer.commands if c.ELEMENT == "Status" and c.cmd == "Results"]
    return codes[0] if codes else None  # type: ignore[return-value]


def test_max_obj_size_is_advertised_and_enforced_as_chunks_arrive() -> None:
    guards = SessionGuards(max_obj_size=10_000)
    declared = authenticated(guards)
    assert chunk(declared, 2, "x" * 100, first=True, size=20_000) == 413  # before buffering
    assert declared._incoming is not None and declared._incoming.parts == []
    undeclared = authenticated(guards)
    codes = [chunk(undeclared, 2, "x" * 4000, first=True)]
    codes += [chunk(undeclared, n, "x" * 4000) for n in (3, 4, 5)]
    assert codes == [213, 213, 413, 413]
    past = authenticated(guards)
    assert chunk(past, 2, "x" * 3000, first=True, size=5000) == 213
    assert chunk(past, 3, "x" * 3000) == 424  # past the declared Size: not at the end
    fresh = server(guards)
    fresh.receive(pkg1(), now=0)
    meta = decode(fresh.data_to_send().body).header.meta
    assert meta is not None and meta.max_obj_size == 10_000  # advertised in every message


def test_the_budget_is_shared_and_given_back() -> None:
    budget = MemoryBudget(10_000)
    guards = SessionGuards(incoming_budget=budget)
    a, b = authenticated(guards), authenticated(guards)
    assert chunk(a, 2, "a" * 6000, first=True) == 213
    assert budget.used == 6000
    assert chunk(b, 2, "b" * 6000, first=True) == 413  # over what is left
    assert chunk(a, 3, "a" * 1000, more=False) is None  # complete: handed to the application
    assert budget.used == 0
    c = authenticated(guards)
    assert chunk(c, 2, "c" * 6000, first=True) == 213 and budget.used == 6000
    c.abandon("timeout")
    assert budget.used == 0
    d = authenticated(guards)
    chunk(d, 2, "d" * 6000, first=True)
    del d
    gc.collect()
    assert budget.used == 0  # a session thrown away gives its bytes back


def test_a_refused_object_ends_with_its_code_when_the_device_stops_sending() -> None:
    session = authenticated(SessionGuards(max_obj_size=1000))
    assert chunk(session, 2, "x" * 100, first=True, size=5000) == 413
    # The device stops the object (as it must after a code other than 213).
    events = session.receive(message("A1", 3, URI, DEVICE_ID, status(1, "2", "0", "SyncHdr",
                                                                      200),
                                      loc_name=DEVICE_USER), now=3)
    done = [e for e in events if isinstance(e, ev.CommandCompleted)]
    assert [d.status for d in done] == [413] and done[0].results == ()
    assert not any(isinstance(e, ev.LargeObjectInterrupted) for e in events)
    answer = decode(session.data_to_send().body)
    assert not [c for c in answer.commands if c.ELEMENT == "Alert"]


def test_results_that_interrupt_an_object_get_alert_1225() -> None:
    session = authenticated()
    assert chunk(session, 2, "part one", first=True) == 213
    msg_ref, cmd_ref = get_ref(session)
    two = (status(1, "2", "0", "SyncHdr", 200)
           + results(2, msg_ref, cmd_ref, [(LOG_URI, "a"), (LOG_URI, "b")]))
    events = session.receive(message("A1", 3, URI, DEVICE_ID, two, loc_name=DEVICE_USER),
                             now=3)
    answer = decode(session.data_to_send().body)
    assert [c.data for c in answer.commands if c.ELEMENT == "Alert"] == [1225]
    assert any(isinstance(e, ev.LargeObjectInterrupted) for e in events)
    done = [e for e in events if isinstance(e, ev.CommandCompleted)]
    assert len(done) == 1 and len(done[0].results[0].items) == 2
    assert session.state is State.WAIT  # the 1225 needs its Status: not the last message


def test_a_snapshot_keeps_the_new_state() -> None:
    guards = SessionGuards(max_obj_size=10_000, incoming_budget=MemoryBudget(50_000))
    session = authenticated(guards)
    chunk(session, 2, "x" * 3000, first=True, size=5000)
    restored = ServerSession.restore(session.snapshot(), secret_lookup=SECRETS.get,
                                     guards=guards)
    assert restored._incoming is not None and restored._incoming.received == 3000
    assert guards.incoming_budget is not None and guards.incoming_budget.used == 6000
    pending = server(aauth="DIGEST")
    pending.receive(pkg1(cred=False), now=0)
    pending.data_to_send()
    again = ServerSession.restore(pending.snapshot(), secret_lookup=SECRETS.get)
    assert again.policy.pending_nonce == pending.policy.pending_nonce is not None


# -- the store ------------------------------------------------------------------------------------


def stranger(n: int, now: float = 0.0) -> ServerSession:
    session = server(aauth="DIGEST")
    session.receive(pkg1(cred=False, dev_id=f"IMEI:{n}", session_id=format(n + 1, "X")),
                    now=now)
    session.data_to_send()
    return session


def _commit(store: MemoryState, token: str, tier: str | None, now: float, ttl: float,
            version: int = 0, owner: str = "new", snapshot: bytes | None = b"s") -> None:
    run_now(store.session_commit(token, SessionCommit(
        device_id=f"dev-{token}", version=version, owner=owner, snapshot=snapshot, ttl=ttl,
        now=now, tier=tier)))


def test_tiers_are_counted_apart_and_ended_sessions_leave_them() -> None:
    """The session caps' counts (issue 13 item 6 on the state store): strangers and
    authenticated sessions are counted apart, an ended session (kept for retransmissions)
    leaves its count at once, a deleted or expired one too. What the app does at a cap
    (503, nothing evicted) is attacked over HTTP in ``test_attacks.py`` (item 6)."""
    clock = [0.0]
    store = MemoryState(clock=lambda: clock[0])
    _commit(store, "auth", "auth", 0.0, 300.0)
    for n in range(10):
        _commit(store, f"s{n}", "preauth", 0.0, 30.0)
    assert run_now(store.session_count("preauth")) == 10
    assert run_now(store.session_count("auth")) == 1
    record = run_now(store.session_open("auth", "me", 1000))
    assert record is not None
    _commit(store, "auth", "ended", 0.0, 60.0, version=record.version, owner="me")
    assert run_now(store.session_count("auth")) == 0 and store.alive("auth")
    clock[0] = 31.0  # the strangers' TTL is over: counted no more, and gone
    assert run_now(store.session_count("preauth")) == 0 and len(store) == 1


def _post(app: DMServerApp, body: bytes, path: str = "/dm") -> int:
    """One POST through the ASGI app, in process; the HTTP status."""
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "scheme": "http",
             "headers": [(b"content-type", b"application/vnd.syncml.dm+xml")],
             "client": ("127.0.0.9", 1000), "server": ("127.0.0.1", 80)}
    asyncio.run(app(scope, receive, send))
    return int(sent[0]["status"])


def test_strangers_past_their_cap_evict_only_strangers() -> None:
    """The app at the strangers' cap (issue 13 item 6): each new stranger takes the place of
    the least recently active one (every one is answered, with a challenge), the
    authenticated session stays; past the authenticated cap a new authentication is 503."""
    config = ServerConfig(server_id="srv", secret_lookup=SECRETS.get, aauth_type="BASIC")
    app = DMServerApp(config, max_sessions=1, max_preauth_sessions=3)
    for device in (DEVICE_ID, "IMEI:other"):  # so that each session runs on after package 1
        app.registry.enqueue(device, [Get("0", [Item(target=Target(LOG_URI))])])
    assert _post(app, pkg1()) == 200
    statuses = [_post(app, pkg1(cred=False, dev_id=f"IMEI:{n}", session_id=f"B{n}"))
                for n in range(10)]
    assert statuses == [200] * 10
    store = app.store
    assert isinstance(store, MemoryState)
    assert run_now(store.session_count("preauth")) == 3
    assert run_now(store.session_count("auth")) == 1 and len(store) == 4
    other = pkg1("other", "other-pw", dev_id="IMEI:other", session_id="C1")
    assert _post(app, other) == 503  # room for one authenticated session: nobody evicted
    assert run_now(store.session_count("auth")) == 1


def test_expiry_takes_only_what_is_due_in_batches() -> None:
    clock = [0.0]
    store = MemoryState(clock=lambda: clock[0])
    for n in range(600):
        _commit(store, f"s{n}", "preauth", float(n % 2), 30.0)  # due at 30 or 31
    _commit(store, "auth", "auth", 0.0, 300.0)
    clock[0] = 29.0
    assert store.purge() == 0
    clock[0] = 31.5
    assert [store.purge(256), store.purge(256), store.purge(256), store.purge(256)] == [
        256, 256, 88, 0]
    assert len(store) == 1 and store.alive("auth")


def test_the_heap_stays_bounded() -> None:
    store = MemoryState(clock=lambda: 0.0)
    version = 0
    for _ in range(200_000):  # one long session: a deadline per commit, all in the future
        if version:
            record = run_now(store.session_open("t", "me", 1000))
            assert record is not None
        _commit(store, "t", "auth", 0.0, 300.0, version=version, owner="me")
        version += 1
    assert len(store._expiry) < 70_000


# -- ownership, budget, log limiter ------------------------------------------------------------


def test_ownership() -> None:
    owners = DeviceOwnership()
    owners.allow("a", ["d1", "d2"])
    assert owners.claim("a", "d2") and not owners.claim("a", "d3")
    assert owners.claim("b", "d3") and not owners.claim("b", "d4")  # first use binds one
    assert not owners.claim("b", "d1") and owners.owner_of("d3") == "b"
    with pytest.raises(ValueError):
        owners.allow("c", ["d1"])
    owners.forget("b")
    assert owners.claim("c", "d3")


def test_reservation_gives_back_when_dropped() -> None:
    budget = MemoryBudget(100)
    held = Reservation(budget)
    assert held.grow(60) and not held.grow(50) and budget.used == 60
    del held
    assert budget.used == 0


def test_log_limiter_lets_a_burst_through_then_counts() -> None:
    limiter = RateLimitFilter(burst=3, period=3600)
    records = [logging.LogRecord("x", logging.ERROR, __file__, 1, "boom %d", (n,), None)
               for n in range(10)]
    passed = [limiter.filter(r) for r in records]
    assert passed == [True] * 3 + [False] * 7
    other = logging.LogRecord("x", logging.ERROR, __file__, 1, "another kind", None, None)
    assert limiter.filter(other)
    state = next(iter(limiter._kinds.values()))
    state[0] = 1.0  # a token came back
    late = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom %d", (11,), None)
    assert limiter.filter(late) and late.getMessage() == "boom 11 [7 similar messages suppressed]"


def test_the_defaults_are_the_documented_ones() -> None:
    """docs/limits.md, "The DM server": every default in that table."""
    from omadm_codec.http import MAX_BODY, PREAUTH_MAX_BODY, HttpLimits, server_guards
    from omadm_codec.http.app import EXPIRY_BATCH
    from omadm_codec.http.config import INCOMING_BUDGET
    from omadm_codec.http.logs import BURST, PERIOD
    from omadm_codec.http.wire import BODY_TIMEOUT, OFFLOAD_MIN

    assert (PREAUTH_MAX_BODY, MAX_BODY, BODY_TIMEOUT, OFFLOAD_MIN) == (
        16 << 10, 256 << 10, 10.0, 64 << 10)
    guards = server_guards()
    assert (guards.preauth_max_commands, guards.preauth_idle_timeout, guards.retain_ended,
            guards.max_obj_size, guards.message_auth, guards.preauth_command_statuses) == (
        32, 30.0, 60.0, 4 << 20, "session", True)
    assert guards.incoming_budget is not None and guards.incoming_budget.total == INCOMING_BUDGET
    assert INCOMING_BUDGET == 64 << 20
    rules = ThrottleRules()
    assert rules.account == rules.device == ThrottleRule(5, 3600.0, 1.0, 900.0)
    assert rules.address == ThrottleRule(50, 3600.0, 1.0, 900.0)
    assert (rules.max_keys, rules.trust_for) == (65_536, 86_400.0)
    caps = inspect.signature(DMServerApp).parameters
    assert (caps["max_sessions"].default, caps["max_preauth_sessions"].default) == (
        100_000, 10_000)
    limits = HttpLimits()
    assert (limits.header_timeout, limits.keepalive_timeout, limits.max_connections,
            limits.max_connections_per_client, limits.max_header_bytes, limits.backlog,
            limits.graceful_timeout) == (10.0, 5.0, None, None, 16 << 10, 128, 10.0)
    assert HttpLimits(max_connections=None).connection_cap() <= 1000
    assert (EXPIRY_BATCH, BURST, PERIOD) == (256, 10, 60.0)
