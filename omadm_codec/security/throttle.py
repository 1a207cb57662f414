"""Authentication failures that outlive sessions: counted per account, per device and per
client address, answered with exponential backoff and a lockout window.

The one idea: a guess costs the guesser, not the server. Every failed verification is
recorded under each key the message named (the account it claimed, the SyncHdr Source LocURI,
the client address); past ``free_failures`` within ``window`` a key is locked for
``base_lock * 2**n`` seconds (at most ``max_lock``), and while any of its keys is locked a
message is refused *before* any digest is computed, with the same answer a wrong password
gets, so a lock tells nothing about whether the account exists (unknown names are tracked
exactly like known ones). A success clears the account and device keys and marks the
(account, address) pair trusted for ``trust_for`` seconds: the account and device locks a
stranger provokes do not apply to an address that device authenticated from (the address
lock still does).

Sans-IO: the caller passes ``now`` (any monotonic clock). Storage is a ``FailureTable``
(``MemoryFailureTable`` in process, bounded per kind), so the records can move to a shared
store without touching the rules. Thread-safe.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol

KINDS = ("account", "device", "address")


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    """How one kind of key is throttled."""

    free_failures: int = 5
    """Failures allowed within ``window`` before the first lock."""
    window: float = 3600.0
    """Seconds without a failure after which the count starts again."""
    base_lock: float = 1.0
    """The first lock, in seconds; each further failure doubles it."""
    max_lock: float = 900.0
    """The longest lock, in seconds."""

    def __post_init__(self) -> None:
        if self.free_failures < 0 or self.window <= 0 or self.base_lock <= 0 \
                or self.max_lock < self.base_lock:
            raise ValueError(f"inconsistent throttle rule {self!r}")

    def lock_for(self, failures: int) -> float:
        """Seconds locked after the ``failures``-th failure (0: not locked)."""
        over = failures - self.free_failures
        if over <= 0:
            return 0.0
        return min(self.base_lock * 2.0 ** min(over - 1, 64), self.max_lock)


@dataclass(frozen=True, slots=True)
class ThrottleRules:
    """The rules per kind of key; None turns a kind off."""

    account: ThrottleRule | None = field(default_factory=ThrottleRule)
    device: ThrottleRule | None = field(default_factory=ThrottleRule)
    address: ThrottleRule | None = field(default_factory=lambda: ThrottleRule(free_failures=50))
    """Higher: many honest devices may share one address (carrier NAT)."""
    max_keys: int = 65_536
    """Records kept per kind (least recently used dropped first)."""
    trust_for: float = 86_400.0
    """Seconds an (account, address) that authenticated is exempt from the account and
    device locks."""


@dataclass(slots=True)
class FailureRecord:
    """What is known about one key."""

    failures: int
    last_failure: float
    locked_until: float

    def expires_at(self, rule: ThrottleRule) -> float:
        """When this record stops mattering: its window after the last failure, or the end of
        its lock if that is later."""
        return max(self.last_failure + rule.window, self.locked_until)


class FailureTable(Protocol):
    """Where failure records and trusted pairs are kept (by kind and key)."""

    def get(self, kind: str, key: str) -> FailureRecord | None:
        """The record of ``key`` (``kind``: account, device or address), or None."""
        ...

    def put(self, kind: str, key: str, record: FailureRecord) -> None:
        """Keep ``record`` for ``key`` (the table may drop old records to stay bounded)."""
        ...

    def delete(self, kind: str, key: str) -> None:
        """Forget the record of ``key``; no error if there is none."""
        ...

    def trusted_until(self, account: str, address: str) -> float:
        """Until when ``account`` is trusted at ``address`` (0.0: not trusted)."""
        ...

    def trust(self, account: str, address: str, until: float) -> None:
        """Trust ``account`` at ``address`` until ``until``."""
        ...


class MemoryFailureTable:
    """The in-process table: one bounded LRU per kind, so a flood of one kind (say, made-up
    account names) only pushes out records of that kind."""

    def __init__(self, max_keys: int = 65_536) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be >= 1")
        self.max_keys = max_keys
        self._tables: dict[str, OrderedDict[str, FailureRecord]] = {
            kind: OrderedDict() for kind in KINDS}
        self._trusted: OrderedDict[tuple[str, str], float] = OrderedDict()

    def get(self, kind: str, key: str) -> FailureRecord | None:
        """The record of ``key``, or None (a hit makes it the most recently used)."""
        table = self._tables[kind]
        record = table.get(key)
        if record is not None:
            table.move_to_end(key)
        return record

    def put(self, kind: str, key: str, record: FailureRecord) -> None:
        """Keep ``record``; past ``max_keys`` records of ``kind``, the least recently used
        goes."""
        table = self._tables[kind]
        table[key] = record
        table.move_to_end(key)
        while len(table) > self.max_keys:
            table.popitem(last=False)

    def delete(self, kind: str, key: str) -> None:
        """Forget the record of ``key`` (no error if there is none)."""
        self._tables[kind].pop(key, None)

    def trusted_until(self, account: str, address: str) -> float:
        """Until when ``account`` is trusted at ``address`` (0.0: not trusted)."""
        return self._trusted.get((account, address), 0.0)

    def trust(self, account: str, address: str, until: float) -> None:
        """Trust ``account`` at ``address`` until ``until`` (bounded like the records)."""
        self._trusted[(account, address)] = until
        self._trusted.move_to_end((account, address))
        while len(self._trusted) > self.max_keys:
            self._trusted.popitem(last=False)

    def __len__(self) -> int:
        return sum(len(table) for table in self._tables.values())


class Throttle:
    """Counts failed verifications across sessions and says when a key may try again."""

    def __init__(self, rules: ThrottleRules | None = None,
                 table: FailureTable | None = None) -> None:
        self.rules = rules if rules is not None else ThrottleRules()
        self.table: FailureTable = table if table is not None else MemoryFailureTable(
            self.rules.max_keys)
        self._lock = threading.Lock()

    def _keys(self, account: str | None, device: str | None,
              address: str | None) -> list[tuple[str, str, ThrottleRule]]:
        # Written out (no loop over the kinds, no getattr): every request asks for its
        # address, every package 1 for all three.
        rules = self.rules
        keys = []
        if account is not None and rules.account is not None:
            keys.append(("account", account, rules.account))
        if device is not None and rules.device is not None:
            keys.append(("device", device, rules.device))
        if address is not None and rules.address is not None:
            keys.append(("address", address, rules.address))
        return keys

    def retry_after(self, *, now: float, account: str | None = None, device: str | None = None,
                    address: str | None = None) -> float:
        """Seconds before a message naming these keys may be verified (0.0: now)."""
        with self._lock:
            trusted = (account is not None and address is not None
                       and self.table.trusted_until(account, address) > now)
            wait = 0.0
            for kind, key, _ in self._keys(account, device, address):
                if trusted and kind != "address":
                    continue
                record = self.table.get(kind, key)
                if record is not None and record.locked_until > now:
                    wait = max(wait, record.locked_until - now)
            return wait

    def failed(self, *, now: float, account: str | None = None, device: str | None = None,
               address: str | None = None) -> None:
        """Record one failed verification under every key given."""
        with self._lock:
            for kind, key, rule in self._keys(account, device, address):
                record = self.table.get(kind, key)
                if record is None or now >= record.expires_at(rule):
                    record = FailureRecord(0, now, 0.0)
                record.failures += 1
                record.last_failure = now
                lock = rule.lock_for(record.failures)
                if lock:
                    record.locked_until = max(record.locked_until, now + lock)
                self.table.put(kind, key, record)

    def succeeded(self, *, now: float, account: str | None = None, device: str | None = None,
                  address: str | None = None) -> None:
        """A verification succeeded: the account and device start afresh, and the
        (account, address) pair is trusted for ``trust_for`` seconds."""
        with self._lock:
            if account is not None:
                self.table.delete("account", account)
                if address is not None and self.rules.trust_for > 0:
                    self.table.trust(account, address, now + self.rules.trust_for)
            if device is not None:
                self.table.delete("device", device)


__all__ = ["FailureRecord", "FailureTable", "MemoryFailureTable", "Throttle", "ThrottleRule",
           "ThrottleRules"]
