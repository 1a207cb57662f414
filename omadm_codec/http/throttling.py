"""The failure throttle of one request on a shared store (Redis): the records of the keys a
message names are read before the (synchronous, sans-IO) session decides, and the failures
and successes it recorded are written after it ran, so every worker counts against the same
records.

The one idea, as for accounts (``credentials``): the session asks for a record the request
has not read (``ThrottleMissing``, naming every key the message names at once); the request
reads them all in one round and runs the session again. A failure is written as the store's
atomic increment, not as the record this worker computed, so two workers failing at once
both count. Each record read or written is also copied into the server's own throttle,
whose table then answers the address check made before a body is read (a locked address
costs a dict lookup, as on one worker).
"""

from __future__ import annotations

import logging

from ..security.throttle import FailureRecord, MemoryFailureTable, Throttle
from ..security.throttle import ThrottleRule as Rule
from .state import StateStore, StateUnavailable, ThrottleRule, ThrottleState

Key = tuple[str, str]
"""(kind, key): kind is account, device or address."""


class ThrottleMissing(Exception):
    """The session asked about keys this request has not read. Deliberately not an
    ``OmaDmError``: no protocol code may catch it."""

    def __init__(self, keys: list[Key], pair: tuple[str, str] | None) -> None:
        super().__init__(keys, pair)
        self.keys = keys
        self.pair = pair
        """(account, address) whose trust is not read yet, or None."""


class RequestThrottle(Throttle):
    """A ``Throttle`` over what one request read (``records``, ``trusted``: kept across the
    runs of the request) that records its writes for ``flush``."""

    def __init__(self, local: Throttle, records: dict[Key, ThrottleState | None],
                 trusted: dict[tuple[str, str], float]) -> None:
        super().__init__(local.rules, table=_NO_TABLE)
        self.local = local
        self.records = records
        self.trusted = trusted
        self.failures: list[tuple[str, str, Rule]] = []
        self.cleared: list[Key] = []
        self.trusts: list[tuple[str, str, float]] = []
        self.now = 0.0

    def retry_after(self, *, now: float, account: str | None = None, device: str | None = None,
                    address: str | None = None) -> float:
        """As ``Throttle.retry_after``, from the records read (``ThrottleMissing`` names
        every key not read yet, with the trusted pair)."""
        keys = self._keys(account, device, address)
        pair = (account, address) if account is not None and address is not None else None
        missing = [(kind, key) for kind, key, _ in keys if (kind, key) not in self.records]
        if missing or (pair is not None and pair not in self.trusted):
            raise ThrottleMissing(missing, pair if pair not in self.trusted else None)
        trusted = pair is not None and self.trusted[pair] > now
        wait = 0.0
        for kind, key, _ in keys:
            if trusted and kind != "address":
                continue
            record = self.records[(kind, key)]
            if record is not None and record.locked_until > now:
                wait = max(wait, record.locked_until - now)
        return wait

    def failed(self, *, now: float, account: str | None = None, device: str | None = None,
               address: str | None = None) -> None:
        """One failure under every key given, written by ``flush`` (as the store's atomic
        increment: no read needed)."""
        self.now = now
        self.failures.extend(self._keys(account, device, address))

    def succeeded(self, *, now: float, account: str | None = None, device: str | None = None,
                  address: str | None = None) -> None:
        """As ``Throttle.succeeded``, written by ``flush``."""
        # Only what changes is written: a record read as absent needs no clearing, and a
        # trust is renewed once it has run a tenth of its time (no write per session).
        self.now = now
        for kind, key in (("account", account), ("device", device)):
            if key is None or getattr(self.rules, kind) is None:
                continue  # a kind turned off keeps no records
            if self.records.get((kind, key), _UNREAD) is not None:
                self.cleared.append((kind, key))
        if account is not None and address is not None and self.rules.trust_for > 0:
            until = now + self.rules.trust_for
            if self.trusted.get((account, address), 0.0) < until - self.rules.trust_for / 10:
                self.trusts.append((account, address, until))

    async def flush(self, store: StateStore, log: logging.Logger) -> None:
        """Write what the run recorded; a store that fails is logged (the answer is made:
        a lost count is one more guess allowed, not a wrong answer)."""
        try:
            for kind, key, rule in self.failures:
                state = await store.throttle_fail(kind, key, self.now, ThrottleRule(
                    rule.free_failures, rule.window, rule.base_lock, rule.max_lock))
                self.local.table.put(kind, key, FailureRecord(
                    state.failures, state.last_failure, state.locked_until))
            for kind, key in self.cleared:
                await store.throttle_clear(kind, key)
                self.local.table.delete(kind, key)
            for account, address, until in self.trusts:
                await store.throttle_trust(account, address, until)
                self.local.table.trust(account, address, until)
        except StateUnavailable as exc:
            log.warning("failure throttle not written: %s", exc)


async def read_missing(store: StateStore, local: Throttle, missing: ThrottleMissing,
                       records: dict[Key, ThrottleState | None],
                       trusted: dict[tuple[str, str], float]) -> None:
    """Read what ``missing`` names into ``records`` and ``trusted`` (and the server's own
    table, for its address check)."""
    # The records and the trusted pair read together (one round trip, not two).
    states, until = await store.throttle_reads(missing.keys, missing.pair)
    for (kind, key), state in zip(missing.keys, states, strict=True):
        records[(kind, key)] = state
        if state is None:
            local.table.delete(kind, key)
        else:
            local.table.put(kind, key, FailureRecord(
                state.failures, state.last_failure, state.locked_until))
    if missing.pair is not None:
        trusted[missing.pair] = until


_UNREAD = ThrottleState(0, 0.0, 0.0)
"""Stands for a record this request did not read (cleared to be sure)."""
_NO_TABLE = MemoryFailureTable(1)
"""The table a ``RequestThrottle`` never uses (it reads ``records``)."""


__all__ = ["RequestThrottle", "ThrottleMissing", "read_missing"]
