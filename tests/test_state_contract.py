"""The ``StateStore`` contract: every engine (in-process, Redis, a 3-node Redis Cluster) must
pass every test here. Redis tests start their own ``redis-server`` (skipped with the reason
when the binary is absent)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from redis_server import RedisCluster, RedisServer, need_redis

from omadm_codec.http.state import (
    MAX_CLAIM,
    Account,
    DeviceOwned,
    NonceSwap,
    Release,
    SessionBusy,
    SessionCommit,
    SessionConflict,
    StateStore,
    StateUnavailable,
    ThrottleRule,
    device_tag,
    new_token,
    session_ref,
    token_tag,
)
from omadm_codec.http.state_url import open_store
from omadm_codec.security.nonces import StoredNonce

DEV = "IMEI:490154203237518"
OTHER = "IMEI:356938035643809"


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    need_redis()
    with RedisServer() as server:
        yield server.url


@pytest.fixture(scope="module")
def cluster_url() -> Iterator[str]:
    need_redis(cluster=True)
    with RedisCluster() as cluster:
        yield cluster.url


@pytest.fixture(params=["memory", "redis", "cluster"])
def engine(request: pytest.FixtureRequest) -> Callable[[], StateStore]:
    """A factory of fresh, empty stores of one engine (called inside the test's loop)."""
    if request.param == "memory":
        return lambda: open_store(None)
    url = request.getfixturevalue("redis_url" if request.param == "redis" else "cluster_url")

    def make() -> StateStore:
        return open_store(url)
    return make


def run(engine: Callable[[], StateStore],
        body: Callable[[StateStore], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        store = engine()
        if not store.local:
            client: Any = store.client  # type: ignore[attr-defined]
            inner = getattr(client, "client", None)
            if hasattr(inner, "get_primaries"):
                await inner.flushall(target_nodes=inner.get_primaries())
            else:
                await client.execute_command("FLUSHALL")
        try:
            return await body(store)
        finally:
            await store.close()
    return asyncio.run(main())


def commit(device: str = DEV, version: int = 0, owner: str = "w1",
           snapshot: bytes | None = b"snap", ttl: float = 30.0, **kw: Any) -> SessionCommit:
    return SessionCommit(device_id=device, version=version, owner=owner, snapshot=snapshot,
                         ttl=ttl, now=time.time(), **kw)


def test_tokens_carry_the_device_tag() -> None:
    token = new_token(DEV)
    assert token_tag(token) == device_tag(DEV)
    assert token_tag(new_token(DEV)) == token_tag(token) and new_token(DEV) != token
    for bad in ("", "abc", "x" * 40, token + "x", token.replace(".", "-"), "../" + token,
                "é" * 32 + "." + device_tag(DEV)):
        assert token_tag(bad) is None


def test_session_versions_and_ttl(engine: Callable[[], StateStore]) -> None:
    async def body(store: StateStore) -> None:
        token = new_token(DEV)
        assert await store.session_open(token, "w1", 1000) is None
        assert await store.session_open("not-a-token", "w1", 1000) is None
        await store.session_commit(token, commit(snapshot=b"one"))
        with pytest.raises(SessionConflict):  # version 0: must not exist yet
            await store.session_commit(token, commit(snapshot=b"again"))
        record = await store.session_open(token, "w1", 1000)
        assert record is not None
        assert (record.snapshot, record.version, record.device_id) == (b"one", 1, DEV)
        await store.session_commit(token, commit(version=1, snapshot=b"two"))
        record = await store.session_open(token, "w2", 1000)
        assert record is not None and (record.snapshot, record.version) == (b"two", 2)
        with pytest.raises(SessionConflict):  # stale version
            await store.session_commit(token, commit(version=1, owner="w2", snapshot=b"x"))
        with pytest.raises(SessionConflict):  # w9 does not hold the lock
            await store.session_commit(token, commit(version=2, owner="w9"))
        await store.session_release(token, "w2")
        record = await store.session_open(token, "w3", 1000)
        assert record is not None and record.snapshot == b"two"
        await store.session_release(token, "w3")
        # TTL: gone after it, and no longer counted.
        short = new_token(DEV)
        await store.session_commit(short, commit(snapshot=b"s", ttl=0.3, tier="preauth"))
        assert await store.session_count("preauth") == 1
        assert await store.session_count("auth") == 1
        await asyncio.sleep(0.5)
        assert await store.session_open(short, "w1", 1000) is None
        assert await store.session_count("preauth") == 0
        # Deleting.
        record = await store.session_open(token, "w1", 1000)
        assert record is not None
        await store.session_commit(token, commit(version=record.version, snapshot=None))
        assert await store.session_open(token, "w1", 1000) is None
        assert await store.session_count("auth") == 0
    run(engine, body)


def test_the_least_recent_session_of_a_tier_is_evicted(
        engine: Callable[[], StateStore]) -> None:
    async def body(store: StateStore) -> None:
        assert await store.session_evict("preauth") is None
        tokens = [new_token(f"{DEV}-{n}") for n in range(3)]
        for n, token in enumerate(tokens):
            await store.session_commit(token, commit(snapshot=b"s", ttl=30 + n, tier="preauth",
                                                     device=f"{DEV}-{n}"))
        kept = new_token(DEV)
        await store.session_commit(kept, commit(snapshot=b"a", tier="auth"))
        assert await store.session_evict("preauth") == tokens[0]
        assert await store.session_open(tokens[0], "w1", 1000) is None
        assert await store.session_count("preauth") == 2
        assert await store.session_count("auth") == 1  # another tier is never touched
        assert await store.session_open(kept, "w1", 1000) is not None
    run(engine, body)


def test_a_commit_through_a_token_of_another_device_is_refused(
        engine: Callable[[], StateStore]) -> None:
    async def body(store: StateStore) -> None:
        token = new_token(DEV)
        await store.session_commit(token, commit())
        record = await store.session_open(token, "w1", 1000)
        assert record is not None
        with pytest.raises((SessionConflict, ValueError)):
            await store.session_commit(token, commit(device=OTHER, version=1))
    run(engine, body)


def test_one_request_of_a_session_at_a_time(engine: Callable[[], StateStore]) -> None:
    async def body(store: StateStore) -> None:
        token = new_token(DEV)
        await store.session_commit(token, commit())
        assert await store.session_open(token, "w1", 5000) is not None
        with pytest.raises(SessionBusy) as busy:
            await store.session_open(token, "w2", 5000)
        assert 0 < busy.value.retry_after <= 5
        with pytest.raises(SessionConflict):  # w2 does not hold the lock
            await store.session_commit(token, commit(version=1, owner="w2"))
        await store.session_release(token, "w2")  # not the owner: no effect
        with pytest.raises(SessionBusy):
            await store.session_open(token, "w2", 5000)
        await store.session_release(token, "w1")
        assert await store.session_open(token, "w2", 100) is not None
        # A lock whose holder died expires; the late holder's commit then loses.
        await asyncio.sleep(0.25)
        assert await store.session_open(token, "w3", 5000) is not None
        with pytest.raises(SessionConflict):
            await store.session_commit(token, commit(version=1, owner="w2"))
        await store.session_commit(token, commit(version=1, owner="w3", snapshot=b"w3"))
        # Many racing opens: exactly one wins.
        opened = await asyncio.gather(*(store.session_open(token, f"r{i}", 5000)
                                        for i in range(20)), return_exceptions=True)
        assert sum(1 for o in opened if not isinstance(o, BaseException)) == 1
        assert all(isinstance(o, SessionBusy) for o in opened if isinstance(o, BaseException))
    run(engine, body)


def test_racing_commits_of_one_version_one_wins(engine: Callable[[], StateStore]) -> None:
    async def body(store: StateStore) -> None:
        token = new_token(DEV)
        await store.session_commit(token, commit())
        await store.session_open(token, "w1", 5000)
        done = await asyncio.gather(*(store.session_commit(token, commit(
            version=1, snapshot=f"v{i}".encode())) for i in range(10)), return_exceptions=True)
        assert sum(1 for d in done if d is None) == 1
        assert all(isinstance(d, SessionConflict) for d in done if d is not None)
    run(engine, body)


def test_enqueue_is_idempotent_and_ordered(engine: Callable[[], StateStore]) -> None:
    async def body(store: StateStore) -> None:
        now = time.time()
        ids = await store.enqueue(DEV, ["<Get>1</Get>", "<Get>2</Get>"], key="op-1", now=now)
        assert ids == ["1", "2"]
        assert await store.enqueue(DEV, ["<Get>other</Get>"], key="op-1", now=now) == ids
        ids3 = await store.enqueue(DEV, ["<Get>3</Get>"], repeatable=True, now=now)
        assert ids3 == ["3"]
        queued = await store.queued(DEV)
        assert [(e.entry_id, e.command, e.state, e.key, e.repeatable) for e in queued] == [
            ("1", "<Get>1</Get>", "queued", "op-1", False),
            ("2", "<Get>2</Get>", "queued", "op-1", False),
            ("3", "<Get>3</Get>", "queued", None, True)]
        assert queued[0].history[0][1] == "queued"
        assert abs(queued[0].enqueued_at - now) < 1e-3
        assert [e.entry_id for e in await store.queued(DEV, limit=2)] == ["1", "2"]
        assert await store.claimable(DEV, limit=2) == [("1", "<Get>1</Get>"),
                                                       ("2", "<Get>2</Get>")]
        assert await store.claimable(OTHER) == []
        assert await store.queued(OTHER) == [] and await store.entries(OTHER) == []
        assert await store.enqueue(OTHER, ["<Get>x</Get>"], now=now) == ["1"]
    run(engine, body)


def test_claim_complete_exactly_once(engine: Callable[[], StateStore]) -> None:
    async def body(store: StateStore) -> None:
        await store.enqueue(DEV, ["<A/>", "<B/>", "<C/>"], now=time.time())
        s1, s2 = new_token(DEV), new_token(DEV)
        await store.session_commit(s1, commit(claim=["1", "2"]))
        assert [e.entry_id for e in await store.queued(DEV)] == ["3"]
        assert await store.claimable(DEV) == [("3", "<C/>")]
        # Another session cannot claim what s1 holds; that commit changes nothing at all.
        with pytest.raises(SessionConflict):
            await store.session_commit(s2, commit(claim=["3", "2"]))
        assert await store.session_open(s2, "w", 1000) is None
        assert [e.entry_id for e in await store.queued(DEV)] == ["3"]
        outcome = json.dumps({"status": 200, "item_statuses": [200]})
        await store.session_open(s1, "w1", 1000)
        await store.session_commit(s1, commit(version=1, complete=[("1", outcome)]))
        await store.session_open(s1, "w1", 1000)
        later = json.dumps({"status": 500})
        # A second answer for the same command, and one from another session: both ignored.
        await store.session_commit(s1, commit(version=2, complete=[("1", later)]))
        await store.session_commit(s2, commit(complete=[("2", later)]))
        entries = {e.entry_id: e for e in await store.entries(DEV)}
        assert entries["1"].state == "done" and entries["1"].outcome == {
            "status": 200, "item_statuses": [200]}
        assert [h[1] for h in entries["1"].history] == ["queued", "sent", "done"]
        assert entries["1"].session == session_ref(s1) and session_ref(s1) not in s1
        assert entries["2"].state == "sent" and entries["2"].session == session_ref(s1)
        assert entries["1"].history[1] == (pytest.approx(time.time(), abs=60), "sent",
                                           session_ref(s1))
        assert entries["2"].outcome is None
        assert entries["3"].state == "queued"
    run(engine, body)


def test_a_full_claim_and_its_answers_in_one_commit_each(
        engine: Callable[[], StateStore]) -> None:
    """MAX_CLAIM commands claimed in one commit, then most answered and the rest released in
    the next: more entries than one read or write of the Redis engine's script takes."""
    async def body(store: StateStore) -> None:
        await store.enqueue(DEV, [f"<A{n}/>" for n in range(MAX_CLAIM + 5)], now=time.time())
        claimable = await store.claimable(DEV)
        assert len(claimable) == MAX_CLAIM
        assert claimable[-1] == (str(MAX_CLAIM), f"<A{MAX_CLAIM - 1}/>")
        ids = [entry_id for entry_id, _ in claimable]
        token = new_token(DEV)
        await store.session_commit(token, commit(claim=ids))
        assert [e.entry_id for e in await store.queued(DEV)] == [
            str(n) for n in range(MAX_CLAIM + 1, MAX_CLAIM + 6)]
        record = await store.session_open(token, "w1", 1000)
        assert record is not None
        outcome = json.dumps({"status": 200})
        answered, left = ids[:600], ids[600:]
        await store.session_commit(token, commit(
            version=record.version, complete=[(i, outcome) for i in answered],
            release=[Release(i, "unknown", "no_answer") for i in left]))
        states = {e.entry_id: e.state for e in await store.entries(DEV)}
        assert all(states[i] == "done" for i in answered)
        assert all(states[i] == "unknown" for i in left)
        assert len(await store.queued(DEV)) == 5
    run(engine, body)


def test_release_unknown_or_back_in_place(engine: Callable[[], StateStore]) -> None:
    async def body(store: StateStore) -> None:
        now = time.time()
        await store.enqueue(DEV, ["<A/>", "<B/>"], now=now)
        await store.enqueue(DEV, ["<R/>"], repeatable=True, now=now)
        await store.enqueue(DEV, ["<D/>"], now=now)
        token = new_token(DEV)
        await store.session_commit(token, commit(claim=["1", "2", "3"]))
        await store.session_open(token, "w1", 1000)
        await store.session_commit(token, commit(version=1, snapshot=None, release=[
            Release("1", "unknown", "timeout"), Release("2", "queued", "never_sent"),
            Release("3", "unknown", "timeout")]))
        entries = {e.entry_id: e for e in await store.entries(DEV)}
        assert entries["1"].state == "unknown"
        assert entries["1"].history[-1][1:] == ("unknown", "timeout")
        assert entries["2"].state == "queued" and entries["3"].state == "queued"
        # Back in their places, ahead of what was queued after them.
        assert [e.entry_id for e in await store.queued(DEV)] == ["2", "3", "4"]
        assert await store.forget(DEV, ["1", "2", "99"]) == 1  # only done/unknown go
        assert [e.entry_id for e in await store.entries(DEV)] == ["2", "3", "4"]
    run(engine, body)


def test_one_commit_claims_answers_and_releases_in_order(
        engine: Callable[[], StateStore]) -> None:
    """The commit applies claim, complete, release in that order (the Redis engine reads and
    writes every entry once): a command claimed and answered in one commit is done, one
    claimed and released is back in its place, a second answer in the commit is ignored,
    and the history details are the engines' shared rule (``outcome_detail``)."""
    async def body(store: StateStore) -> None:
        now = time.time()
        await store.enqueue(DEV, ["<A/>", "<B/>", "<C/>", "<D/>"], now=now)
        token = new_token(DEV)
        done = '{"status":200,"item_statuses":[]}'
        refused = '{"status":0,"refused":"too_large","item_statuses":[]}'
        await store.session_commit(token, commit(
            claim=["1", "2", "3"],
            complete=[("1", done), ("1", '{"status":500}'), ("2", refused), ("4", done)],
            release=[Release("3", "queued", "never_sent"), Release("4", "unknown", "x")]))
        entries = {e.entry_id: e for e in await store.entries(DEV)}
        assert [h[1:] for h in entries["1"].history] == [
            ("queued", ""), ("sent", session_ref(token)), ("done", "200")]
        assert entries["1"].outcome == {"status": 200, "item_statuses": []}
        assert entries["2"].state == "done" and entries["2"].history[-1][1:] == (
            "done", "too_large")
        assert entries["3"].state == "queued" and entries["3"].history[-1][1:] == (
            "queued", "never_sent")
        assert entries["4"].state == "queued" and len(entries["4"].history) == 1
        assert [e.entry_id for e in await store.queued(DEV)] == ["3", "4"]
        # Nothing of it stays in flight: a later reap of the session changes nothing.
        record = await store.session_open(token, "w1", 1000)
        assert record is not None
        await store.session_commit(token, commit(version=1, snapshot=None))
        assert await store.reap(time.time() + 3600) == 0
    run(engine, body)


def test_start_reads_are_the_three_reads(engine: Callable[[], StateStore]) -> None:
    async def body(store: StateStore) -> None:
        await store.put_account(Account("dev", "secret", frozenset({DEV})))
        await store.swap_nonces("dev", [NonceSwap("CLCRED", None,
                                                  StoredNonce(b"n1", False, True))])
        await store.enqueue(DEV, ["<A/>", "<B/>"], now=time.time())
        await store.session_commit(new_token(OTHER), commit(device=OTHER, tier="preauth"))
        reads = await store.start_reads("dev", DEV, ("auth", "preauth"))
        assert reads.auth == await store.load_auth("dev")
        assert reads.auth.account is not None and reads.auth.account.secret == "secret"
        assert reads.claimable == await store.claimable(DEV) == [("1", "<A/>"), ("2", "<B/>")]
        assert reads.counts == {"auth": 0, "preauth": 1}
        nobody = await store.start_reads("nobody", OTHER)
        assert nobody.auth.account is None and nobody.claimable == [] and nobody.counts == {}
    run(engine, body)


def test_reap_releases_commands_of_expired_sessions(engine: Callable[[], StateStore]) -> None:
    async def body(store: StateStore) -> None:
        now = time.time()
        await store.enqueue(DEV, ["<A/>"], now=now)
        await store.enqueue(DEV, ["<R/>"], repeatable=True, now=now)
        await store.enqueue(DEV, ["<L/>"], now=now)
        short, long = new_token(DEV), new_token(DEV)
        await store.session_commit(short, commit(ttl=0.2, claim=["1", "2"]))
        await store.session_commit(long, commit(ttl=30, claim=["3"]))
        assert await store.reap(time.time()) == 0
        await asyncio.sleep(0.4)
        assert await store.reap(time.time() + 0.05) == 2
        entries = {e.entry_id: e for e in await store.entries(DEV)}
        assert entries["1"].state == "unknown"
        assert entries["1"].history[-1][1:] == ("unknown", "session_expired")
        assert entries["2"].state == "queued"
        assert entries["3"].state == "sent"
        assert await store.reap(time.time() + 60) == 0  # the live one: looked at, kept
        assert (await store.entries(DEV))[2].state == "sent"
        assert await store.reap(time.time() + 60) == 0  # nothing twice
    run(engine, body)


def test_nonces_compare_and_set(engine: Callable[[], StateStore]) -> None:
    async def body(store: StateStore) -> None:
        assert (await store.load_auth("alice")).nonces == {}
        fresh = StoredNonce(b"n" * 16)
        assert await store.swap_nonces("alice", [NonceSwap("CLCRED", None, fresh)])
        assert not await store.swap_nonces("alice", [NonceSwap("CLCRED", None, fresh)])
        state = await store.load_auth("alice")
        assert state.nonces == {"CLCRED": fresh} and state.account is None
        # A consume: exactly one of many racing workers wins.
        used = StoredNonce(fresh.value, consumed=True)
        won = await asyncio.gather(*(store.swap_nonces(
            "alice", [NonceSwap("CLCRED", fresh, used)]) for _ in range(12)))
        assert won.count(True) == 1
        # All or nothing over several levels.
        srv = StoredNonce(b"s" * 16, issued_here=False)
        assert not await store.swap_nonces("alice", [
            NonceSwap("SRVCRED", None, srv), NonceSwap("CLCRED", fresh, fresh)])
        assert "SRVCRED" not in (await store.load_auth("alice")).nonces
        assert await store.swap_nonces("alice", [
            NonceSwap("SRVCRED", None, srv), NonceSwap("CLCRED", used, None)])
        assert (await store.load_auth("alice")).nonces == {"SRVCRED": srv}
        with pytest.raises(ValueError):
            await store.swap_nonces("alice", [NonceSwap("OTHER", None, srv)])
    run(engine, body)


def test_accounts_own_their_devices(engine: Callable[[], StateStore]) -> None:
    async def body(store: StateStore) -> None:
        await store.put_account(Account("alice", "hash-a", frozenset({DEV})))
        await store.put_account(Account("open", "hash-o"))
        state = await store.load_auth("alice")
        assert state.account == Account("alice", "hash-a", frozenset({DEV}))
        assert (await store.load_auth("open")).account == Account("open", "hash-o", None)
        assert await store.device_owner(DEV) == "alice"
        assert await store.device_owner(OTHER) is None
        with pytest.raises(DeviceOwned) as owned:
            await store.put_account(Account("mallory", "hash-m", frozenset({OTHER, DEV})))
        assert owned.value.owner == "alice"
        assert await store.device_owner(OTHER) is None  # the refused call undid its claims
        assert (await store.load_auth("mallory")).account is None
        await store.put_account(Account("alice", "hash-a2", frozenset({OTHER})))
        assert await store.device_owner(DEV) is None
        assert await store.device_owner(OTHER) == "alice"
        await store.swap_nonces("alice", [NonceSwap("CLCRED", None, StoredNonce(b"x" * 16))])
        await store.delete_account("alice")
        assert await store.load_auth("alice") == (await store.load_auth("nobody"))
        assert await store.device_owner(OTHER) is None
    run(engine, body)


def test_an_account_without_devices_binds_exactly_one(engine: Callable[[], StateStore]) -> None:
    """What ``claim_device`` answers, for every worker alike: an account created with devices
    speaks for those; one created without binds the first device it claims, and only that
    one; a device another account owns is refused; the store's unknown accounts get nothing;
    two claims racing bind one device."""
    async def body(store: StateStore) -> None:
        await store.put_account(Account("alice", "hash-a", frozenset({DEV})))
        await store.put_account(Account("open", "hash-o"))
        await store.put_account(Account("late", "hash-l"))
        assert await store.claim_device("alice", DEV)
        assert not await store.claim_device("alice", OTHER)
        assert not await store.claim_device("nobody", OTHER)
        assert not await store.claim_device("open", DEV)  # alice's
        assert await store.device_owner(OTHER) is None
        assert await store.claim_device("open", OTHER)
        assert await store.claim_device("open", OTHER)  # again: its device
        assert await store.device_owner(OTHER) == "open"
        assert not await store.claim_device("late", OTHER)  # open's now
        assert not await store.claim_device("open", "IMEI:3")  # exactly one
        await store.put_account(Account("open", "hash-o2"))  # re-seeded: still bound
        assert not await store.claim_device("open", "IMEI:3")
        assert await store.claim_device("open", OTHER)
        assert await store.device_owner("IMEI:3") is None
        won = await asyncio.gather(*(store.claim_device("late", f"IMEI:{n}")
                                     for n in range(4, 12)))
        assert won.count(True) == 1
        await store.delete_account("open")
        assert await store.device_owner(OTHER) is None
        await store.put_account(Account("open", "hash-o3"))
        assert await store.claim_device("open", "IMEI:3")  # a new account binds afresh
        await store.put_account(Account("open", "hash-o4", frozenset({OTHER})))
        assert await store.device_owner("IMEI:3") is None  # a fixed set replaces the binding
        assert await store.claim_device("open", OTHER)
    run(engine, body)


def test_throttle_records(engine: Callable[[], StateStore]) -> None:
    async def body(store: StateStore) -> None:
        rule = ThrottleRule(free_failures=3, window=60, base_lock=1.0, max_lock=5)
        now = time.time()
        assert await store.throttle_get("account", "alice") is None
        states = [await store.throttle_fail("account", "alice", now + i, rule)
                  for i in range(7)]
        assert [s.failures for s in states] == [1, 2, 3, 4, 5, 6, 7]
        assert [s.locked_until for s in states[:3]] == [0.0, 0.0, 0.0]
        assert states[3].locked_until == pytest.approx(now + 3 + 1)
        assert states[4].locked_until == pytest.approx(now + 4 + 2)
        assert states[5].locked_until == pytest.approx(now + 5 + 4)
        assert states[6].locked_until == pytest.approx(now + 6 + 5)  # capped at max_lock
        assert states[6].last_failure == pytest.approx(now + 6)
        got = await store.throttle_get("account", "alice")
        assert got is not None and got.failures == 7
        assert await store.throttle_get("device", "alice") is None  # kinds are separate
        late = await store.throttle_fail("account", "alice", now + 200, rule)  # window over
        assert (late.failures, late.locked_until) == (1, 0.0)
        # Racing failures on several workers all count.
        await asyncio.gather(*(store.throttle_fail("address", "10.0.0.1", now, rule)
                               for _ in range(20)))
        counted = await store.throttle_get("address", "10.0.0.1")
        assert counted is not None and counted.failures == 20
        await store.throttle_clear("account", "alice")
        assert await store.throttle_get("account", "alice") is None
        # A record is forgotten with its window.
        short = ThrottleRule(free_failures=3, window=0.3, base_lock=1.0, max_lock=5)
        await store.throttle_fail("device", "IMEI:1", time.time(), short)
        await asyncio.sleep(0.5)
        assert await store.throttle_get("device", "IMEI:1") is None
        # Trusted (account, address) pairs.
        assert await store.throttle_trusted_until("alice", "10.0.0.1") == 0.0
        await store.throttle_trust("alice", "10.0.0.1", time.time() + 30)
        assert await store.throttle_trusted_until("alice", "10.0.0.1") > time.time()
        assert await store.throttle_trusted_until("alice", "10.0.0.2") == 0.0
        await store.throttle_trust("bob", "10.0.0.1", time.time() + 0.2)
        await asyncio.sleep(0.4)
        assert await store.throttle_trusted_until("bob", "10.0.0.1") == 0.0
        # Several records and a pair in one round trip: what each read alone gives.
        keys = [("address", "10.0.0.1"), ("account", "alice"), ("account", "carol")]
        alone = [await store.throttle_get(kind, key) for kind, key in keys]
        assert alone[0] is not None and alone[1] is None
        assert await store.throttle_reads(keys, ("alice", "10.0.0.1")) == (
            alone, await store.throttle_trusted_until("alice", "10.0.0.1"))
        assert (await store.throttle_reads(keys, ("alice", "10.0.0.1")))[1] > 0
        assert await store.throttle_reads(keys[:1]) == (alone[:1], 0.0)
        assert await store.throttle_reads([], ("bob", "10.0.0.1")) == ([], 0.0)
        with pytest.raises(ValueError):
            await store.throttle_fail("other", "x", now, rule)
        with pytest.raises(ValueError):
            await store.throttle_reads([("other", "x")])
    run(engine, body)


def test_redis_down_is_unavailable_not_a_crash() -> None:
    need_redis()
    server = RedisServer()
    url = server.url  # never started: nothing listens there

    async def body() -> None:
        store = open_store(url, timeout=0.5)
        try:
            for call in (store.session_open(new_token(DEV), "w", 100),
                         store.enqueue(DEV, ["<A/>"], now=0.0), store.load_auth("x"),
                         store.session_commit(new_token(DEV), commit())):
                with pytest.raises(StateUnavailable):
                    await call
        finally:
            await store.close()
    asyncio.run(body())


def test_redis_slow_is_unavailable_within_the_timeout() -> None:
    need_redis()
    with RedisServer() as server:
        async def body() -> None:
            store = open_store(server.url, timeout=0.3)
            try:
                await store.enqueue(DEV, ["<A/>"], now=0.0)
                server.pause()
                started = time.monotonic()
                with pytest.raises(StateUnavailable):
                    await store.queued(DEV)
                assert time.monotonic() - started < 2
                server.resume()
            finally:
                server.resume()
                await store.close()
        asyncio.run(body())


def test_redis_snapshot_key_is_staged_renamed_and_dropped(redis_url: str) -> None:
    """The snapshot lives in its own key beside the session's hash: a winning commit renames
    its staged copy there, a losing one deletes it, a deleting one drops both; the snapshot key
    has the session's TTL."""
    async def body(store: StateStore) -> None:
        client: Any = store.client  # type: ignore[attr-defined]

        async def keys() -> list[str]:
            got = await client.execute_command("KEYS", "omadm:*")
            return sorted(k.decode() for k in got if b":s:" in k or b":p:" in k)

        token = new_token(DEV)
        tag = device_tag(DEV)
        session, snap = f"omadm:{{{tag}}}:s:{token}", f"omadm:{{{tag}}}:p:{token}"
        await store.session_commit(token, commit(snapshot=b"one", ttl=30.0))
        assert await keys() == [snap, session]
        assert await client.execute_command("GET", snap) == b"one"
        assert 0 < await client.execute_command("PTTL", snap) <= 30_000
        with pytest.raises(SessionConflict):  # loses: its staged copy goes too
            await store.session_commit(token, commit(snapshot=b"again"))
        with pytest.raises(SessionConflict):
            await store.session_commit(token, commit(version=1, owner="w9", snapshot=b"x"))
        assert await keys() == [snap, session]
        record = await store.session_open(token, "w1", 1000)
        assert record is not None and record.snapshot == b"one"
        await store.session_commit(token, commit(version=1, snapshot=b"two", ttl=5.0))
        assert await client.execute_command("GET", snap) == b"two"
        assert 0 < await client.execute_command("PTTL", snap) <= 5_000
        record = await store.session_open(token, "w1", 1000)
        assert record is not None and record.snapshot == b"two"
        await store.session_commit(token, commit(version=2, snapshot=None))
        assert await keys() == []
    run(lambda: open_store(redis_url), body)


def test_redis_session_stored_with_its_snapshot_in_the_hash_still_opens(redis_url: str) -> None:
    """A session written before the snapshot had its own key (``snap`` in the hash) opens, and
    its next commit moves the snapshot out."""
    async def body(store: StateStore) -> None:
        client: Any = store.client  # type: ignore[attr-defined]
        token = new_token(DEV)
        session = f"omadm:{{{device_tag(DEV)}}}:s:{token}"
        await client.execute_command("HSET", session, "snap", b"old", "ver", 3, "dev", DEV,
                                     "tier", "auth")
        await client.execute_command("PEXPIRE", session, 30_000)
        record = await store.session_open(token, "w1", 1000)
        assert record is not None and (record.snapshot, record.version) == (b"old", 3)
        await store.session_commit(token, commit(version=3, snapshot=b"new"))
        assert await client.execute_command("HGET", session, "snap") is None
        record = await store.session_open(token, "w2", 1000)
        assert record is not None and (record.snapshot, record.version) == (b"new", 4)
    run(lambda: open_store(redis_url), body)


def test_redis_scripts_flushed_are_loaded_again(redis_url: str) -> None:
    """A server that lost its scripts (restarted, SCRIPT FLUSH): the open and the commit load
    them and run again, and the commit's staged snapshot is not left behind."""
    async def body(store: StateStore) -> None:
        client: Any = store.client  # type: ignore[attr-defined]
        await store.enqueue(DEV, ["<A/>"], now=time.time())
        token = new_token(DEV)
        await store.session_commit(token, commit(snapshot=b"one", claim=["1"]))
        await client.execute_command("SCRIPT", "FLUSH")
        record = await store.session_open(token, "w1", 1000)
        assert record is not None and record.snapshot == b"one"
        await client.execute_command("SCRIPT", "FLUSH")
        await store.session_commit(token, commit(
            version=1, snapshot=b"two", complete=[("1", json.dumps({"status": 200}))]))
        keys = await client.execute_command("KEYS", "omadm:*:p:*")
        assert [k.decode() for k in keys] == [f"omadm:{{{device_tag(DEV)}}}:p:{token}"]
        record = await store.session_open(token, "w1", 1000)
        assert record is not None and record.snapshot == b"two"
        assert [e.state for e in await store.entries(DEV)] == ["done"]
    run(lambda: open_store(redis_url), body)
