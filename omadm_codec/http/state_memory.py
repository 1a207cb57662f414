"""``MemoryState``: the ``StateStore`` in this process (the default: nothing to install, one
worker). The same rules as the Redis engine, on dicts; expiry runs off heaps of deadlines, a
bounded batch at a time, so no request ever walks the whole store.
"""

from __future__ import annotations

import heapq
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import islice

from ..security.nonces import LEVELS, NonceManager, StoredNonce
from .state import (
    MAX_CLAIM,
    Account,
    AuthState,
    DeviceOwned,
    Entry,
    EntryState,
    NonceSwap,
    SessionBusy,
    SessionCommit,
    SessionConflict,
    SessionRecord,
    StartReads,
    StateStore,
    ThrottleRule,
    ThrottleState,
    check_throttle_kind,
    documented_by,
    next_throttle,
    outcome_detail,
    session_ref,
)


@dataclass(slots=True)
class _Session:
    snapshot: bytes
    version: int
    device_id: str
    tier: str | None
    expires: float
    lock_owner: str | None = None
    lock_until: float = 0.0


@dataclass(slots=True)
class _Entry:
    command: str
    key: str | None
    repeatable: bool
    enqueued_at: float
    state: EntryState = "queued"
    session: str | None = None
    history: list[tuple[float, str, str | None]] = field(default_factory=list)
    """As ``Entry.history``; the detail of the ``done`` record is None, read off the
    outcome when the entry is read (``outcome_detail``: not on a commit's path)."""
    outcome: str | None = None


@dataclass(slots=True)
class _Device:
    seq: int = 0
    entries: dict[str, _Entry] = field(default_factory=dict)
    """Every entry the operator has not forgotten, finished ones included."""
    queued: dict[str, None] = field(default_factory=dict)
    """The ids of the ``queued`` entries, oldest first; with ``sent``, what a session's
    path reads, so its cost does not grow with the finished entries kept in ``entries``."""
    sent: dict[str, dict[str, None]] = field(default_factory=dict)
    """Session token -> the ids of its ``sent`` entries."""
    keys: dict[str, list[str]] = field(default_factory=dict)
    inflight: dict[str, float] = field(default_factory=dict)
    """token -> when to look at it again (its session's expiry)."""
    owner: str | None = None


def _requeue(device: _Device, entry_ids: list[str]) -> None:
    """Back into ``device.queued`` in their place: by id, the order they were queued in (a
    session releases few; a rebuild is simplest)."""
    device.queued = dict.fromkeys(sorted([*device.queued, *entry_ids], key=int))


@documented_by(StateStore)
class MemoryState:
    """The in-process ``StateStore``. ``clock`` is wall-clock seconds (``time.time``), the
    same clock the HTTP tier gives sessions, so a restored snapshot's timers stay right.
    ``max_throttle_keys`` bounds each throttle kind (least recently used dropped first)."""

    local = True

    def __init__(self, *, clock: Callable[[], float] = time.time,
                 max_throttle_keys: int = 65_536, nonces: NonceManager | None = None) -> None:
        self.clock = clock
        self.max_throttle_keys = max_throttle_keys
        self.nonces = nonces if nonces is not None else NonceManager()
        """The nonce slots are this manager's (a server configured with a ``NonceManager``
        keeps using it, pre-seeded nonces included)."""
        self._sessions: dict[str, _Session] = {}
        self._tiers: dict[str, int] = {}
        self._order: dict[str, OrderedDict[str, None]] = {}  # tier -> tokens, least recent first
        self._expiry: list[tuple[float, str]] = []  # (expires, token), lazily deleted
        self._devices: dict[str, _Device] = {}
        self._reap: list[tuple[float, str, str]] = []  # (when, device, token)
        self._accounts: dict[str, Account] = {}
        self._bound: dict[str, str] = {}  # account created without devices -> its one device
        self._nonces: dict[tuple[str, str], StoredNonce] = self.nonces._slots
        self._throttle: dict[str, OrderedDict[str, ThrottleState]] = {}
        self._rules: dict[tuple[str, str], ThrottleRule] = {}
        self._trusted: OrderedDict[tuple[str, str], float] = OrderedDict()

    def use_nonces(self, nonces: NonceManager) -> None:
        """Keep nonces in ``nonces`` from now on (its slots win over this store's)."""
        if nonces is self.nonces:
            return
        for key, slot in self.nonces._slots.items():
            nonces._slots.setdefault(key, slot)
        self.nonces = nonces
        self._nonces = nonces._slots

    # -- sessions ------------------------------------------------------------------------------

    def _live(self, token: str, now: float) -> _Session | None:
        found = self._sessions.get(token)
        if found is not None and found.expires <= now:
            self._drop(token)
            return None
        return found

    def _drop(self, token: str) -> None:
        found = self._sessions.pop(token, None)
        if found is not None and found.tier is not None:
            self._tiers[found.tier] -= 1
            self._order[found.tier].pop(token, None)

    def tier_of(self, token: str) -> str | None:
        """The tier the session of ``token`` is counted in (``preauth``, ``auth``), or None
        (no such session, ended, or not counted); this process only, without waiting."""
        found = self._sessions.get(token)
        return None if found is None else found.tier

    def alive(self, token: str) -> bool:
        """Whether the session of ``token`` is stored and not expired (this process only)."""
        return self._live(token, self.clock()) is not None

    def __len__(self) -> int:
        return len(self._sessions)

    def due(self, now: float) -> list[str]:
        """Tokens of the sessions whose TTL ends by ``now`` (a walk of every session: for
        ``DMServerApp.sweep``, never on a request's path)."""
        return [token for token, found in self._sessions.items() if found.expires <= now]

    def purge(self, limit: int = 256) -> int:
        """Drop up to ``limit`` expired sessions (their deadlines come off a heap)."""
        now = self.clock()
        dropped = 0
        while self._expiry and self._expiry[0][0] <= now and dropped < limit:
            expires, token = heapq.heappop(self._expiry)
            found = self._sessions.get(token)
            if found is not None and found.expires <= now:
                self._drop(token)
                dropped += 1
        return dropped

    async def session_open(self, token: str, owner: str, lock_ms: int) -> SessionRecord | None:
        now = self.clock()
        found = self._live(token, now)
        if found is None:
            return None
        if found.lock_owner not in (None, owner) and found.lock_until > now:
            raise SessionBusy(token, found.lock_until - now)
        found.lock_owner, found.lock_until = owner, now + lock_ms / 1000
        return SessionRecord(found.snapshot, found.version, found.device_id, owner)

    async def session_release(self, token: str, owner: str) -> None:
        found = self._sessions.get(token)
        if found is not None and found.lock_owner == owner:
            found.lock_owner, found.lock_until = None, 0.0

    async def session_commit(self, token: str, commit: SessionCommit) -> None:
        now = self.clock()
        found = self._live(token, now)
        # 1. Every check first: a commit that fails changes nothing.
        if commit.version == 0:
            if found is not None:
                raise SessionConflict("exists")
        elif found is None:
            raise SessionConflict("gone")
        elif found.version != commit.version:
            raise SessionConflict("version")
        elif found.lock_owner != commit.owner or found.lock_until <= now:
            raise SessionConflict("lock")
        if found is not None and found.device_id != commit.device_id:
            raise SessionConflict("device")
        device = self._devices.get(commit.device_id)
        if commit.claim and (device is None
                             or not all(map(device.queued.__contains__, commit.claim))):
            raise SessionConflict("claimed")  # (``queued`` holds the queued ids: no walk)
        # 2. Apply.
        self._drop(token)
        if commit.snapshot is not None:
            version = commit.version + 1
            expires = now + commit.ttl
            self._sessions[token] = _Session(commit.snapshot, version, commit.device_id,
                                             commit.tier, expires)
            if commit.tier is not None:
                self._tiers[commit.tier] = self._tiers.get(commit.tier, 0) + 1
                self._order.setdefault(commit.tier, OrderedDict())[token] = None
            heapq.heappush(self._expiry, (expires, token))
            if len(self._expiry) > 2 * len(self._sessions) + 65_536:
                # Entries of sessions committed again wait for their deadline; past this
                # size they go at once (one entry per live session).
                self._expiry = [(found.expires, key) for key, found in self._sessions.items()]
                heapq.heapify(self._expiry)
        if device is None:
            if not (commit.claim or commit.complete or commit.release):
                return
            device = self._devices.setdefault(commit.device_id, _Device())
        entries = device.entries
        when = commit.now
        if commit.claim:
            # One history record for all (a tuple: shared), and a hash once per commit.
            sent_mark: tuple[float, str, str | None] = (when, "sent", session_ref(token) or "")
            queued = device.queued
            sent = device.sent.setdefault(token, {})
            for entry_id in commit.claim:
                entry = entries[entry_id]
                entry.state, entry.session = "sent", token
                entry.history.append(sent_mark)
                queued.pop(entry_id, None)  # (an id named twice is claimed once)
                sent[entry_id] = None
        if commit.complete or commit.release:
            sent = device.sent.get(token, {})
            done_mark: tuple[float, str, str | None] = (when, "done", None)
            for entry_id, outcome in commit.complete:
                if sent.pop(entry_id, 0) is None:  # sent in this session (its state, token)
                    entry = entries[entry_id]
                    entry.state, entry.outcome = "done", outcome
                    entry.history.append(done_mark)
            requeued = []
            for release in commit.release:
                if release.entry_id in sent:
                    entry = entries[release.entry_id]
                    to: EntryState = "queued" if entry.repeatable else release.to
                    entry.state = to
                    entry.history.append((commit.now, to, release.reason))
                    del sent[release.entry_id]
                    if to == "queued":
                        requeued.append(release.entry_id)
            if not sent:
                device.sent.pop(token, None)
            if requeued:
                _requeue(device, requeued)
        if commit.claim or token in device.inflight:
            # (A session with no entry in ``inflight`` has none sent: only a claim, here,
            # makes one ``sent``, and ``_track`` puts it in.)
            self._track(commit.device_id, device, token,
                        now + commit.ttl if commit.snapshot is not None else now)

    def _track(self, device_id: str, device: _Device, token: str, when: float) -> None:
        """Remember to look at ``token`` again at ``when`` while it has commands in flight."""
        if device.sent.get(token):
            device.inflight[token] = when
            heapq.heappush(self._reap, (when, device_id, token))
            return
        device.inflight.pop(token, None)

    async def session_count(self, tier: str) -> int:
        while self.purge():
            pass
        return self._tiers.get(tier, 0)

    async def session_evict(self, tier: str) -> str | None:
        order = self._order.get(tier)
        now = self.clock()
        while order:
            token = next(iter(order))
            live = self._live(token, now)  # an expired one leaves the order by itself
            if live is not None:
                self._drop(token)
                return token
            order.pop(token, None)
        return None

    # -- device queues --------------------------------------------------------------------------

    async def enqueue(self, device_id: str, commands: Sequence[str], *, key: str | None = None,
                      repeatable: bool = False, now: float) -> list[str]:
        device = self._devices.setdefault(device_id, _Device())
        if key is not None and key in device.keys:
            return list(device.keys[key])
        ids = []
        for command in commands:
            device.seq += 1
            entry_id = str(device.seq)
            device.entries[entry_id] = _Entry(command, key, repeatable, now,
                                              history=[(now, "queued", key or "")])
            device.queued[entry_id] = None
            ids.append(entry_id)
        if key is not None:
            device.keys[key] = ids
        return ids

    def _entry(self, device_id: str, entry_id: str, entry: _Entry) -> Entry:
        outcome = entry.outcome
        history = tuple([(when, state, outcome_detail(outcome or "") if detail is None
                          else detail) for when, state, detail in entry.history])
        return Entry(entry_id, device_id, entry.command, entry.state,
                     session_ref(entry.session), entry.key,
                     entry.repeatable, entry.enqueued_at, history,
                     None if outcome is None else json.loads(outcome))

    async def queued(self, device_id: str, limit: int = MAX_CLAIM) -> list[Entry]:
        device = self._devices.get(device_id)
        if device is None:
            return []
        entries = device.entries
        return [self._entry(device_id, entry_id, entries[entry_id])
                for entry_id in islice(device.queued, limit)]

    async def claimable(self, device_id: str, limit: int = MAX_CLAIM) -> list[tuple[str, str]]:
        device = self._devices.get(device_id)
        if device is None:
            return []
        entries = device.entries
        return [(entry_id, entries[entry_id].command) for entry_id in islice(device.queued, limit)]

    def devices(self) -> list[str]:
        """Every device with queue entries or an owner (this process only)."""
        return list(self._devices)

    async def entries(self, device_id: str) -> list[Entry]:
        device = self._devices.get(device_id)
        if device is None:
            return []
        return [self._entry(device_id, i, e) for i, e in device.entries.items()]

    async def forget(self, device_id: str, entry_ids: Sequence[str]) -> int:
        device = self._devices.get(device_id)
        if device is None:
            return 0
        gone = 0
        for entry_id in entry_ids:
            entry = device.entries.get(entry_id)
            if entry is not None and entry.state in ("done", "unknown"):
                del device.entries[entry_id]
                gone += 1
        return gone

    async def reap(self, now: float, limit: int = 256) -> int:
        self.purge(limit)
        changed = 0
        looked = 0
        while self._reap and self._reap[0][0] <= now and looked < limit:
            when, device_id, token = heapq.heappop(self._reap)
            looked += 1
            device = self._devices.get(device_id)
            if device is None or device.inflight.get(token) != when:
                continue  # superseded by a later commit
            session = self._live(token, self.clock())  # liveness by the store's own clock
            if session is not None:
                device.inflight[token] = session.expires
                heapq.heappush(self._reap, (session.expires, device_id, token))
                continue
            del device.inflight[token]
            requeued = []
            for entry_id in device.sent.pop(token, {}):
                entry = device.entries[entry_id]
                entry.state = "queued" if entry.repeatable else "unknown"
                entry.history.append((now, entry.state, "session_expired"))
                changed += 1
                if entry.state == "queued":
                    requeued.append(entry_id)
            if requeued:
                _requeue(device, requeued)
        return changed

    # -- nonces and accounts --------------------------------------------------------------------

    async def start_reads(self, username: str, device_id: str,
                          tiers: Sequence[str] = ()) -> StartReads:
        return StartReads(await self.load_auth(username), await self.claimable(device_id),
                          {tier: await self.session_count(tier) for tier in tiers})

    async def load_auth(self, username: str) -> AuthState:
        nonces = {level: self._nonces[(username, level)] for level in LEVELS
                  if (username, level) in self._nonces}
        return AuthState(self._accounts.get(username), nonces)

    async def swap_nonces(self, username: str, swaps: Sequence[NonceSwap]) -> bool:
        for swap in swaps:
            if swap.level not in LEVELS:
                raise ValueError(f"level must be one of {LEVELS}")
        for swap in swaps:
            if self._nonces.get((username, swap.level)) != swap.expected:
                return False
        for swap in swaps:
            if swap.new is None:
                self._nonces.pop((username, swap.level), None)
            else:
                self._nonces[(username, swap.level)] = swap.new
        return True

    async def put_account(self, account: Account) -> None:
        for device_id in account.devices or ():
            owner = self._devices.get(device_id, _Device()).owner
            if owner is not None and owner != account.username:
                raise DeviceOwned(device_id, owner)
        old = self._accounts.get(account.username)
        for device_id in (old.devices or ()) if old is not None else ():
            if device_id not in (account.devices or ()):
                self._devices[device_id].owner = None
        bound = self._bound.get(account.username)
        if bound is not None and account.devices is not None:
            self._bound.pop(account.username)  # a fixed set replaces the binding
            if bound not in account.devices:
                self._devices[bound].owner = None
        for device_id in account.devices or ():
            self._devices.setdefault(device_id, _Device()).owner = account.username
        self._accounts[account.username] = account

    async def delete_account(self, username: str) -> None:
        old = self._accounts.pop(username, None)
        for device_id in (old.devices or ()) if old is not None else ():
            self._devices[device_id].owner = None
        bound = self._bound.pop(username, None)
        if bound is not None and self._devices[bound].owner == username:
            self._devices[bound].owner = None
        for level in LEVELS:
            self._nonces.pop((username, level), None)

    async def device_owner(self, device_id: str) -> str | None:
        device = self._devices.get(device_id)
        return None if device is None else device.owner

    async def claim_device(self, username: str, device_id: str) -> bool:
        account = self._accounts.get(username)
        if account is None:
            return False
        if account.devices is not None:
            return device_id in account.devices
        owner = self._devices.get(device_id, _Device()).owner
        if owner is not None:
            return owner == username
        if username in self._bound:
            return False  # its one device is another
        self._bound[username] = device_id
        self._devices.setdefault(device_id, _Device()).owner = username
        return True

    # -- throttling ----------------------------------------------------------------------------

    def _kind(self, kind: str) -> OrderedDict[str, ThrottleState]:
        check_throttle_kind(kind)
        return self._throttle.setdefault(kind, OrderedDict())

    async def throttle_fail(self, kind: str, key: str, now: float,
                            rule: ThrottleRule) -> ThrottleState:
        table = self._kind(kind)
        state = next_throttle(table.get(key), now, rule)
        table[key] = state
        self._rules[(kind, key)] = rule
        table.move_to_end(key)
        while len(table) > self.max_throttle_keys:
            old, _ = table.popitem(last=False)
            self._rules.pop((kind, old), None)
        return state

    async def throttle_get(self, kind: str, key: str) -> ThrottleState | None:
        table = self._kind(kind)
        state = table.get(key)
        rule = self._rules.get((kind, key))
        if state is not None and rule is not None and self.clock() >= state.expires_at(rule):
            del table[key]  # past its window: forgotten, as a Redis key's TTL would
            return None
        return state

    async def throttle_reads(self, keys: Sequence[tuple[str, str]],
                             pair: tuple[str, str] | None = None
                             ) -> tuple[list[ThrottleState | None], float]:
        records = [await self.throttle_get(kind, key) for kind, key in keys]
        return records, 0.0 if pair is None else await self.throttle_trusted_until(*pair)

    async def throttle_clear(self, kind: str, key: str) -> None:
        self._kind(kind).pop(key, None)

    async def throttle_trust(self, account: str, address: str, until: float) -> None:
        self._trusted[(account, address)] = until
        self._trusted.move_to_end((account, address))
        while len(self._trusted) > self.max_throttle_keys:
            self._trusted.popitem(last=False)

    async def throttle_trusted_until(self, account: str, address: str) -> float:
        until = self._trusted.get((account, address), 0.0)
        return until if until > self.clock() else 0.0

    async def close(self) -> None:
        return None


__all__ = ["MemoryState"]
