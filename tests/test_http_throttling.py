"""The failure throttle as one request on a shared store sees it (``http.throttling``): it
reads before the session decides, asks for what it has not read, and writes only what
changed, as the store's atomic increments. Run here on the in-process engine (the contract
suite holds both engines to the same records; test_workers runs it on Redis)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from omadm_codec.http.state import ThrottleState
from omadm_codec.http.state_memory import MemoryState
from omadm_codec.http.throttling import RequestThrottle, ThrottleMissing, read_missing
from omadm_codec.security.throttle import Throttle, ThrottleRule, ThrottleRules

LOG = logging.getLogger("test")
KEYS = {"account": "alice", "device": "IMEI:1", "address": "10.0.0.1"}


def request(store: MemoryState, local: Throttle, now: float) -> RequestThrottle:
    """One request: read what the message names (as the app does on ThrottleMissing)."""
    throttle = RequestThrottle(local, {}, {})
    with pytest.raises(ThrottleMissing) as missing:
        throttle.retry_after(now=now, **KEYS)
    named = [(kind, key) for kind, key in KEYS.items() if getattr(local.rules, kind)]
    assert sorted(missing.value.keys) == sorted(named)
    assert missing.value.pair == ("alice", "10.0.0.1")
    asyncio.run(read_missing(store, local, missing.value, throttle.records, throttle.trusted))
    return throttle


def test_failures_lock_every_worker_and_a_success_clears_what_it_must() -> None:
    store = MemoryState()
    rules = ThrottleRules(account=ThrottleRule(free_failures=2), device=None,
                          address=ThrottleRule(free_failures=50))
    workers = [Throttle(rules), Throttle(rules)]
    now = time.time()
    for n in range(3):  # alternate workers: the store counts them all
        throttle = request(store, workers[n % 2], now + n)
        assert throttle.retry_after(now=now + n, **KEYS) == 0.0
        throttle.failed(now=now + n, **KEYS)
        asyncio.run(throttle.flush(store, LOG))
    record = asyncio.run(store.throttle_get("account", "alice"))
    assert record is not None and record.failures == 3 and record.locked_until > now + 2
    # The other worker, which saw two of the failures, refuses too once it has read.
    throttle = request(store, workers[1], now + 2.5)
    assert throttle.retry_after(now=now + 2.5, **KEYS) > 0
    # The worker that wrote the third failure refuses the address check from its copy.
    assert workers[0].table.get("account", "alice") is not None
    # After the lock: a success clears the account (the address keeps its count) and trusts
    # the pair; the next success writes nothing.
    later = record.locked_until + 1
    throttle = request(store, workers[1], later)
    assert throttle.retry_after(now=later, **KEYS) == 0.0
    throttle.succeeded(now=later, **KEYS)
    assert throttle.cleared == [("account", "alice")] and len(throttle.trusts) == 1
    asyncio.run(throttle.flush(store, LOG))
    assert asyncio.run(store.throttle_get("account", "alice")) is None
    assert asyncio.run(store.throttle_get("address", "10.0.0.1")) == ThrottleState(
        3, now + 2, 0.0)
    assert asyncio.run(store.throttle_trusted_until("alice", "10.0.0.1")) > later
    again = request(store, workers[0], later + 60)
    again.succeeded(now=later + 60, **KEYS)
    assert again.cleared == [] and again.trusts == []


def test_a_failure_before_any_read_is_still_counted() -> None:
    """A message refused before the throttle was asked (no credentials to check) still
    counts: ``failed`` needs no read."""
    store = MemoryState()
    throttle = RequestThrottle(Throttle(), {}, {})
    throttle.failed(now=time.time(), account="bob", address="10.0.0.2")
    asyncio.run(throttle.flush(store, LOG))
    got = asyncio.run(store.throttle_get("account", "bob"))
    assert got is not None and got.failures == 1
