"""The in-process engine reads a session's commands through two indexes (the queued ids, the
sent ids per session) instead of walking every entry a device has kept, finished ones
included: after any run of enqueues, sessions and reaps, what the indexes give must be what
a walk over the entries gives. (What the indexes buy: ``benchmarks/bench_history.py``.)"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from omadm_codec.http.state import MAX_CLAIM, Release, SessionCommit, new_token
from omadm_codec.http.state_memory import MemoryState

DEV = "IMEI:490154203237518"

OUTCOMES = ("done", "release_queued", "release_unknown", "abandon")


@dataclass
class Plan:
    """One session: what is queued before it, how many it claims, what becomes of each."""

    enqueue: int
    repeatable: bool
    claim: int
    fates: list[str]
    ended: bool
    """The session's second commit deletes it (else it lives on, and is reaped later)."""


plans = st.lists(st.builds(
    Plan, enqueue=st.integers(0, 4), repeatable=st.booleans(), claim=st.integers(0, 5),
    fates=st.lists(st.sampled_from(OUTCOMES), min_size=5, max_size=5), ended=st.booleans()),
    min_size=1, max_size=12)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def check(store: MemoryState) -> None:
    """The indexes against a walk over every entry the device keeps."""
    entries = await store.entries(DEV)
    queued = [e for e in entries if e.state == "queued"]  # entry ids ascend (enqueue order)
    assert await store.claimable(DEV, MAX_CLAIM) == [(e.entry_id, e.command)
                                                     for e in queued[:MAX_CLAIM]]
    assert [e.entry_id for e in await store.queued(DEV, 3)] == [e.entry_id for e in queued[:3]]
    device = store._devices.get(DEV)
    if device is None:
        assert not entries
        return
    by_token: dict[str, list[str]] = {}
    for entry_id, entry in device.entries.items():
        if entry.state == "sent":
            assert entry.session is not None
            by_token.setdefault(entry.session, []).append(entry_id)
    assert {t: list(ids) for t, ids in device.sent.items()} == by_token
    assert list(device.queued) == [e.entry_id for e in queued]


@settings(max_examples=150, deadline=None)
@given(plans)
def test_indexes_agree_with_a_walk_over_the_entries(runs: list[Plan]) -> None:
    async def body() -> None:
        clock = Clock()
        store = MemoryState(clock=clock)
        serial = 0
        for plan in runs:
            serial += 1
            clock.now += 1
            if plan.enqueue:
                await store.enqueue(DEV, [f"<C{serial}.{k}/>" for k in range(plan.enqueue)],
                                    repeatable=plan.repeatable, now=clock.now)
            claimed = [i for i, _ in await store.claimable(DEV)][:plan.claim]
            token = new_token(DEV)
            await store.session_commit(token, SessionCommit(
                DEV, 0, "w", b"snap", 30.0, clock.now, claim=claimed))
            await check(store)
            complete, release = [], []
            for entry_id, fate in zip(claimed, plan.fates, strict=False):
                if fate == "done":
                    complete.append((entry_id, '{"status":200,"item_statuses":[]}'))
                elif fate == "release_queued":
                    release.append(Release(entry_id, "queued", "never_sent"))
                elif fate == "release_unknown":
                    release.append(Release(entry_id, "unknown", "timeout"))
            assert await store.session_open(token, "w", 1000) is not None
            await store.session_commit(token, SessionCommit(
                DEV, 1, "w", None if plan.ended else b"snap", 30.0, clock.now,
                complete=complete, release=release))
            await check(store)
            if serial % 3 == 0:
                await store.forget(DEV, [e.entry_id for e in await store.entries(DEV)
                                         if e.state in ("done", "unknown")][:2])
                await check(store)
        clock.now += 3600  # every session expired: what was left in flight is reaped
        while await store.reap(clock.now):
            pass
        await check(store)
        assert all(entry.state != "sent" for entry in await store.entries(DEV))
    asyncio.run(body())
