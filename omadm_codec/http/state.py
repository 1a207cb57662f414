"""Everything the HTTP tier keeps between two requests, behind one small typed interface
(``StateStore``), so any worker process can take any request of any session.

What it holds, and the rule each part keeps:

- **Sessions**, by RespURI token, as sealed snapshot bytes (``ServerSession.snapshot``) with a
  version and a time to live. A request opens its session (``session_open``: takes the
  session's lock for ``lock_ms`` and returns the snapshot and its version) and ends with one
  ``session_commit``: the new snapshot, and every change the request made to the device's
  queue, applied all together or not at all, only if the version and the lock are still the
  ones it opened (else ``SessionConflict``, and nothing changed). A second request of the same
  session meanwhile gets ``SessionBusy`` (it waits and retries; the retry sees the first
  request's snapshot, so a retransmission is answered from the cache). Expiry is the store's
  TTL: an abandoned session costs nothing after its TTL.
- **Nonces**, per account and level (``CLCRED``/``SRVCRED``), changed only by compare-and-set
  (``swap_nonces``): a nonce consumed by one worker is consumed for all.
- **Accounts**: the stored secret of each user name and the DevIds it may speak for; the
  reverse index ``device_owner`` refuses a DevId to a second account.
- **Per-device durable command queues**: ``enqueue`` (an idempotency key makes a retried
  enqueue one command) puts entries in state ``queued``; a session commit moves them to
  ``sent`` (in that session), then ``done`` with the outcome, recorded once. A session that
  ends without an answer releases them: ``unknown`` if they may have reached the device,
  ``queued`` again if they provably did not (never sent) or are marked ``repeatable``. Sessions
  that expire are found by ``reap``. Every change is kept in the entry's history.
- **Throttle records**, per (kind, key) (``account``, ``device``, ``address``): failures
  counted while they keep coming within a window, a lock with exponential back-off past the
  free failures, and the (account, address) pairs trusted after a success; they outlive
  sessions (the records of issue 13's ``security.throttle``, kept here for every worker).

Keys of one device and of every session of that device share a hash tag (``device_tag``), so
on Redis Cluster each commit is one atomic script on one shard; keys of one account share
another. The RespURI token carries its device's tag (``new_token``).

Engines: ``MemoryState`` (this process; the default, needs nothing installed) and
``RedisState`` (``pip install 'omadm_codec[redis]'``). Both pass ``tests/test_state_contract.py``.
Every method is a coroutine; an engine that cannot reach its backend raises
``StateUnavailable`` (the HTTP tier answers 503 with Retry-After).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..errors import OmaDmError
from ..security.nonces import StoredNonce

EntryState = Literal["queued", "sent", "done", "unknown"]
ENTRY_STATES: tuple[str, ...] = ("queued", "sent", "done", "unknown")
THROTTLE_KINDS: tuple[str, ...] = ("account", "device", "address")
MAX_CLAIM = 1000
"""At most this many queued commands are handed to one session (the rest wait)."""


class StateError(OmaDmError):
    """Base of the state store's errors."""


class StateUnavailable(StateError):
    """The backend cannot be reached or answered too slowly; nothing is known to have
    changed. The HTTP tier answers 503 with ``Retry-After``."""


class SessionBusy(StateError):
    """Another request of the same session holds its lock (``retry_after`` seconds at most)."""

    def __init__(self, token: str, retry_after: float) -> None:
        super().__init__(f"session {token[:8]}... is busy")
        self.retry_after = retry_after


class SessionConflict(StateError):
    """A commit lost: the session's version or lock changed since it was opened, or a command
    it claimed is no longer queued. Nothing of the commit was applied."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DeviceOwned(StateError):
    """A DevId already belongs to another account."""

    def __init__(self, device_id: str, owner: str) -> None:
        super().__init__(f"{device_id} belongs to {owner}")
        self.device_id = device_id
        self.owner = owner


# -- keys and tokens ------------------------------------------------------------------------------


def device_tag(device_id: str) -> str:
    """The hash tag shared by every key of one device and of its sessions (16 hex digits of
    SHA-256: spreads devices over a cluster's slots, never two devices' keys in one key)."""
    return hashlib.sha256(device_id.encode("utf-8")).hexdigest()[:16]


def account_tag(username: str) -> str:
    """The hash tag shared by the keys of one account (its record and its nonces)."""
    return hashlib.sha256(b"acct\0" + username.encode("utf-8")).hexdigest()[:16]


def new_token(device_id: str) -> str:
    """A fresh RespURI token for a session of ``device_id``: 24 random octets (the bearer
    secret), then its device's tag, so the session's keys land with the device's."""
    return f"{secrets.token_urlsafe(24)}.{device_tag(device_id)}"


def session_ref(token: str | None) -> str | None:
    """What the operator sees of a session: 12 hex digits of SHA-1 of its token (the token
    itself is the device's bearer secret and is never shown)."""
    return None if token is None else hashlib.sha1(token.encode("utf-8")).hexdigest()[:12]


_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}\.([0-9a-f]{16})")


def token_tag(token: str) -> str | None:
    """The device tag inside ``token``, or None if the token is not one of ours."""
    match = _TOKEN.fullmatch(token)
    return None if match is None else match.group(1)


# -- records -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A stored session as ``session_open`` returns it (the caller holds its lock)."""

    snapshot: bytes
    version: int
    """Incremented by every commit; a commit names the version it started from."""
    device_id: str
    """The device the session was created for (fixed for its life)."""
    owner: str
    """The lock's owner id, to pass back in the commit (or to ``session_release``)."""


@dataclass(frozen=True, slots=True)
class Release:
    """A sent command whose session ended without its answer."""

    entry_id: str
    to: Literal["queued", "unknown"]
    """``queued`` only when it provably never left, or it is repeatable (the store decides
    that last part: a repeatable entry always goes back to ``queued``)."""
    reason: str


@dataclass(slots=True)
class SessionCommit:
    """Everything one request changes, applied atomically by ``session_commit``."""

    device_id: str
    version: int
    """The version opened (0: the session must not exist yet)."""
    owner: str
    """The lock owner given to ``session_open`` (any id for a new session)."""
    snapshot: bytes | None
    """The new snapshot, or None to delete the session."""
    ttl: float
    """Seconds the session lives after this commit (ignored when deleting)."""
    now: float
    """Wall-clock time of the request (history, in-flight deadlines)."""
    claim: list[str] = field(default_factory=list)
    """Entry ids now sent in this session: each must still be ``queued``."""
    complete: list[tuple[str, str]] = field(default_factory=list)
    """(entry id, outcome JSON): each ``sent`` in this session becomes ``done``, once."""
    release: list[Release] = field(default_factory=list)
    tier: str | None = "auth"
    """``preauth`` or ``auth``: which session count the session belongs to; ``ended``: in
    neither any more (kept for a retransmission); None: not counted (a server with no
    session caps saves the bookkeeping)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One command of a device's durable queue, as the operator sees it."""

    entry_id: str
    device_id: str
    command: str
    """The command as enqueued: canonical XML of one DM command."""
    state: EntryState
    session: str | None
    """``session_ref`` of the session it was sent in (state ``sent``, and kept after)."""
    key: str | None
    """The idempotency key it was enqueued with."""
    repeatable: bool
    enqueued_at: float
    history: tuple[tuple[float, str, str], ...]
    """(time, state, detail) of every change, oldest first."""
    outcome: dict[str, Any] | None
    """Once ``done``: ``status``, ``item_statuses``, ``results`` (XML), ``data``,
    ``children``, and ``refused`` when the session could not send it at all."""


@dataclass(frozen=True, slots=True)
class Account:
    """A device account: the stored ``auth.secret_hash`` and the DevIds it may manage
    (None: any DevId, as before accounts owned devices)."""

    username: str
    secret: str
    devices: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class AuthState:
    """An account and its nonces, read together (one round trip)."""

    account: Account | None
    nonces: dict[str, StoredNonce]
    """level -> slot."""


@dataclass(frozen=True, slots=True)
class StartReads:
    """What a new session's first message needs from the store, read together (one round
    trip): its account, its device's queue, and the session counts of the capped tiers."""

    auth: AuthState
    claimable: list[tuple[str, str]]
    """As ``claimable(device_id)``."""
    counts: dict[str, int]
    """tier -> ``session_count(tier)`` for each tier asked for."""


@dataclass(frozen=True, slots=True)
class NonceSwap:
    """Replace the (account, ``level``) slot by ``new`` only if it is still ``expected``
    (None: no slot)."""

    level: str
    expected: StoredNonce | None
    new: StoredNonce | None


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    """How one kind of key is throttled: a record is forgotten ``window`` seconds after its
    last failure (and not before its lock ends); past ``free_failures`` each failure locks
    the key for ``base_lock * 2 ** (failures - free_failures - 1)`` seconds, at most
    ``max_lock``."""

    free_failures: int = 5
    window: float = 3600.0
    base_lock: float = 1.0
    max_lock: float = 900.0

    def lock_for(self, failures: int) -> float:
        """Seconds locked after the ``failures``-th failure (0: not locked)."""
        over = failures - self.free_failures
        if over <= 0:
            return 0.0
        return min(self.base_lock * 2.0 ** min(over - 1, 64), self.max_lock)


@dataclass(frozen=True, slots=True)
class ThrottleState:
    """One key's record."""

    failures: int
    last_failure: float
    locked_until: float

    def expires_at(self, rule: ThrottleRule) -> float:
        """When the record is forgotten: ``window`` after the last failure, not before the
        lock ends."""
        return max(self.last_failure + rule.window, self.locked_until)


# -- the interface ----------------------------------------------------------------------------


class StateStore(Protocol):
    """What the HTTP tier keeps between requests. Every method may raise
    ``StateUnavailable``; a method that raises changed nothing (or, for ``put_account``,
    undid what it had done)."""

    local: bool
    """True if the state lives in this process (one worker only)."""

    # sessions
    async def session_open(self, token: str, owner: str, lock_ms: int) -> SessionRecord | None:
        """The stored session, its lock now held by ``owner`` for ``lock_ms`` (None if no
        such session, or expired). Raises ``SessionBusy`` if another owner holds it."""
        ...

    async def session_commit(self, token: str, commit: SessionCommit) -> None:
        """Apply ``commit`` atomically and release the lock; ``SessionConflict`` if it
        lost (nothing applied)."""
        ...

    async def session_release(self, token: str, owner: str) -> None:
        """Give the lock back without a change (a request that failed)."""
        ...

    async def session_count(self, tier: str) -> int:
        """Live sessions of ``tier`` (``preauth`` or ``auth``), expired ones not counted."""
        ...

    async def session_evict(self, tier: str) -> str | None:
        """Drop the live session of ``tier`` whose TTL ends first (the least recently
        active: a stranger making room for a new one, issue 13); returns its token, or None
        if the tier is empty. Its commands in flight, if any, are settled by ``reap``."""
        ...

    # device queues and outcomes
    async def enqueue(self, device_id: str, commands: Sequence[str], *, key: str | None = None,
                      repeatable: bool = False, now: float) -> list[str]:
        """Queue commands (canonical XML, one command each) for the device's next session;
        returns their entry ids. The same ``key`` again returns the first call's ids and
        queues nothing."""
        ...

    async def queued(self, device_id: str, limit: int = MAX_CLAIM) -> list[Entry]:
        """The device's ``queued`` entries, oldest first."""
        ...

    async def claimable(self, device_id: str, limit: int = MAX_CLAIM) -> list[tuple[str, str]]:
        """(entry id, command XML) of the device's ``queued`` entries, oldest first: what a
        starting session takes (``queued`` without the history, for the hot path)."""
        ...

    async def entries(self, device_id: str) -> list[Entry]:
        """Every entry of the device (any state), by entry id."""
        ...

    async def forget(self, device_id: str, entry_ids: Sequence[str]) -> int:
        """Drop ``done``/``unknown`` entries (the operator has read them); returns how many."""
        ...

    async def reap(self, now: float, limit: int = 256) -> int:
        """Release the commands of sessions that expired (TTL) with commands in flight;
        returns how many commands changed state."""
        ...

    async def start_reads(self, username: str, device_id: str,
                          tiers: Sequence[str] = ()) -> StartReads:
        """``load_auth(username)``, ``claimable(device_id)`` and ``session_count`` of each
        of ``tiers``, in one round trip (a new session's first message). It changes nothing
        but what ``session_count`` forgets (expired sessions); each part is as fresh as the
        call, like the three calls made at once."""
        ...

    # nonces and accounts
    async def load_auth(self, username: str) -> AuthState:
        """The account record (None if the store has none) and the nonces of ``username``,
        read together."""
        ...

    async def swap_nonces(self, username: str, swaps: Sequence[NonceSwap]) -> bool:
        """All of ``swaps`` or none (False: a slot was not as expected)."""
        ...

    async def put_account(self, account: Account) -> None:
        """Create or replace; ``DeviceOwned`` if a DevId belongs to another account."""
        ...

    async def delete_account(self, username: str) -> None:
        """Forget the account, its nonces and its claim on its DevIds."""
        ...

    async def device_owner(self, device_id: str) -> str | None:
        """The account that owns ``device_id``, or None."""
        ...

    async def claim_device(self, username: str, device_id: str) -> bool:
        """Whether the account may speak for ``device_id`` (False for an account the store
        does not hold): one created with devices, for those; one created without, for
        exactly one, the first it claims, bound now (atomically: two workers binding two
        devices at once bind one). A binding survives ``put_account`` with no devices again
        (a worker re-seeding its accounts at start-up), and ends with the account."""
        ...

    # throttling
    async def throttle_fail(self, kind: str, key: str, now: float,
                            rule: ThrottleRule) -> ThrottleState:
        """Count one failure for (kind, key), atomically (workers failing at once each
        count), and return the new record."""
        ...

    async def throttle_get(self, kind: str, key: str) -> ThrottleState | None:
        """The record, or None (never failed, or forgotten past its window)."""
        ...

    async def throttle_reads(self, keys: Sequence[tuple[str, str]],
                             pair: tuple[str, str] | None = None
                             ) -> tuple[list[ThrottleState | None], float]:
        """``throttle_get`` of each (kind, key) and ``throttle_trusted_until(*pair)`` (0.0
        without a pair), in one round trip (what a message names, read at once)."""
        ...

    async def throttle_clear(self, kind: str, key: str) -> None:
        """Forget the record of (kind, key) (after a success)."""
        ...

    async def throttle_trust(self, account: str, address: str, until: float) -> None:
        """``account`` authenticated from ``address``: exempt from the account and device
        locks until ``until``."""
        ...

    async def throttle_trusted_until(self, account: str, address: str) -> float:
        """Until when the pair is trusted (0.0: not)."""
        ...

    async def close(self) -> None:
        """Release the engine's connections (the store's data stays)."""
        ...


# -- helpers both engines share -----------------------------------------------------------------


def documented_by(protocol: type) -> Callable[[type], type]:
    """Class decorator: an engine's method without a docstring of its own gets the one of
    the same method of ``protocol`` (the interface is documented once)."""
    def decorate(cls: type) -> type:
        for name, value in vars(cls).items():
            spec = getattr(protocol, name, None)
            if callable(value) and not getattr(value, "__doc__", None) and spec is not None:
                value.__doc__ = spec.__doc__
        return cls
    return decorate


def next_throttle(old: ThrottleState | None, now: float, rule: ThrottleRule) -> ThrottleState:
    """The record after one more failure at ``now`` (the Redis engine runs the same rule in
    Lua)."""
    if old is None or now >= old.expires_at(rule):
        old = ThrottleState(0, now, 0.0)
    failures = old.failures + 1
    lock = rule.lock_for(failures)
    locked = max(old.locked_until, now + lock) if lock else old.locked_until
    return ThrottleState(failures, now, locked)


_DETAIL = re.compile(r'^\{"status":(-?\d+)(?:,"refused":"([^"\\]*)")?')


def outcome_detail(outcome: str) -> str:
    """The history detail of a completion: the refusal reason, else the status code (read
    off the front of the outcome JSON, which ``stored.outcome_json`` writes status first)."""
    match = _DETAIL.match(outcome)
    if match is None:
        return ""
    return match.group(2) or match.group(1)


def nonce_to_json(slot: StoredNonce | None) -> str | None:
    """A nonce slot as the canonical JSON the engines store (None stays None), so that two
    equal slots are equal strings for compare-and-set."""
    if slot is None:
        return None
    return json.dumps([slot.value.hex(), slot.consumed, slot.issued_here],
                      separators=(",", ":"))


def nonce_from_json(text: str | bytes | None) -> StoredNonce | None:
    """The slot ``nonce_to_json`` wrote."""
    if text is None:
        return None
    value, consumed, issued_here = json.loads(text)
    return StoredNonce(bytes.fromhex(value), bool(consumed), bool(issued_here))


def check_throttle_kind(kind: str) -> None:
    """``ValueError`` unless ``kind`` is one of ``THROTTLE_KINDS``."""
    if kind not in THROTTLE_KINDS:
        raise ValueError(f"throttle kind must be one of {THROTTLE_KINDS}, not {kind!r}")


__all__ = [
    "ENTRY_STATES", "MAX_CLAIM", "THROTTLE_KINDS", "Account", "AuthState", "DeviceOwned",
    "Entry", "EntryState", "NonceSwap", "Release", "SessionBusy", "SessionCommit",
    "SessionConflict", "SessionRecord", "StartReads", "StateError", "StateStore",
    "StateUnavailable",
    "ThrottleRule", "ThrottleState", "account_tag", "device_tag", "documented_by", "new_token",
    "next_throttle",
    "nonce_from_json", "nonce_to_json", "outcome_detail", "session_ref", "token_tag",
]
