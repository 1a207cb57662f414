"""Where live server sessions are kept between requests, by RespURI token: the ``SessionStore``
protocol, the in-process default and the snapshot store.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, MutableMapping
from typing import Protocol

from ..session import ServerSession
from ..session import events as ev
from .config import ServerConfig


class StoreFull(Exception):
    """The store cannot take another authenticated session (its cap is reached; nothing
    authenticated is ever evicted to make room). ``retry_after``: seconds worth waiting."""

    def __init__(self, retry_after: float = 1.0) -> None:
        super().__init__("session store full")
        self.retry_after = retry_after


Evicted = Callable[[str, ServerSession], None]
"""Told of a session the store dropped to make room (never an authenticated one)."""


class SessionStore(Protocol):
    """Where live server sessions are kept between requests, by RespURI token.

    ``put`` may raise ``StoreFull``. A store that times sessions out itself also has
    ``expire(now, limit=None)`` and ``next_deadline()`` (see ``MemorySessionStore``).
    """

    def get(self, token: str) -> ServerSession | None:
        """The session stored under ``token``, or None if there is none."""
        ...

    def put(self, token: str, session: ServerSession) -> None:
        """Store ``session`` under ``token``, replacing any session stored there (or raise
        ``StoreFull``)."""
        ...

    def delete(self, token: str) -> None:
        """Forget the session under ``token``; no error if there is none."""
        ...


class MemorySessionStore:
    """The default store, in this process: three bounded tiers and a deadline heap.

    Sessions whose peer has not authenticated live in their own tier of at most
    ``max_unauthenticated``; when it is full the oldest of *them* is evicted (``on_evict``
    is told), so a flood of strangers never pushes out an authenticated session. Running
    authenticated sessions are at most ``max_sessions``; when they are, a new authentication
    is refused (``StoreFull``) rather than evicting anyone. Ended sessions, kept only to
    answer a retransmission of their last message, are at most ``max_sessions`` too, the
    oldest evicted first.

    Every session has a deadline (``ServerSession.expires_at``: its idle timer, or the end
    of its retention once ended; a fallback of ``retain_unknown`` seconds otherwise) kept in a
    heap with one authoritative entry per session, so ``expire`` touches only the sessions
    that are due, in batches of ``limit``, and never walks the store.
    """

    def __init__(self, max_sessions: int = 100_000, max_unauthenticated: int | None = None,
                 *, on_evict: Evicted | None = None, retain_unknown: float = 60.0) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be >= 1")
        self.max_sessions = max_sessions
        self.max_unauthenticated = (max_unauthenticated if max_unauthenticated is not None
                                    else min(10_000, max_sessions))
        if self.max_unauthenticated < 1:
            raise ValueError("max_unauthenticated must be >= 1")
        self.on_evict = on_evict
        self.retain_unknown = retain_unknown
        self._authenticated: OrderedDict[str, ServerSession] = OrderedDict()
        self._strangers: OrderedDict[str, ServerSession] = OrderedDict()
        self._ended: OrderedDict[str, ServerSession] = OrderedDict()
        self._heap: list[tuple[float, int, str]] = []
        self._entry: dict[str, tuple[float, int]] = {}  # token -> its authoritative entry
        self._seq = itertools.count()

    def get(self, token: str) -> ServerSession | None:
        """The session of RespURI token ``token``, or None if there is none."""
        for tier in (self._authenticated, self._strangers, self._ended):
            session = tier.get(token)
            if session is not None:
                return session
        return None

    def put(self, token: str, session: ServerSession) -> None:
        """Keep ``session`` under ``token``, in the tier its state and authentication say,
        with its deadline; ``StoreFull`` if it is a new running authenticated session and
        that tier is full."""
        if session.state.name in ("CLOSED", "ABORTED", "ERROR"):
            tier, cap = self._ended, self.max_sessions
        elif session.username is not None:
            if token not in self._authenticated and \
                    len(self._authenticated) >= self.max_sessions:
                raise StoreFull()
            tier, cap = self._authenticated, self.max_sessions
        else:
            tier, cap = self._strangers, self.max_unauthenticated
        for other in (self._authenticated, self._strangers, self._ended):
            if other is not tier:
                other.pop(token, None)
        tier[token] = session
        tier.move_to_end(token)
        while len(tier) > cap:
            old, evicted = tier.popitem(last=False)
            self._entry.pop(old, None)
            if self.on_evict is not None and tier is self._strangers:
                self.on_evict(old, evicted)
        self._schedule(token, session)

    def delete(self, token: str) -> None:
        """Forget the session of ``token`` (no error if there is none)."""
        self._authenticated.pop(token, None)
        self._strangers.pop(token, None)
        self._ended.pop(token, None)
        self._entry.pop(token, None)

    def _deadline(self, session: ServerSession) -> float:
        deadline = session.expires_at()
        return deadline if deadline is not None else time.monotonic() + self.retain_unknown

    def _schedule(self, token: str, session: ServerSession) -> None:
        deadline = self._deadline(session)
        entry = self._entry.get(token)
        # One authoritative entry per session: a later deadline is found when the earlier
        # entry comes due; only an earlier one needs a new entry.
        if entry is None or deadline < entry[0]:
            seq = next(self._seq)
            self._entry[token] = (deadline, seq)
            heapq.heappush(self._heap, (deadline, seq, token))
            if len(self._heap) > 2 * len(self._entry) + 65_536:
                self._compact()

    def _compact(self) -> None:
        # Entries of deleted sessions wait for their deadline; past this size they go at once.
        self._heap = [(d, q, t) for t, (d, q) in self._entry.items()]
        heapq.heapify(self._heap)

    def next_deadline(self) -> float | None:
        """The earliest deadline any kept session has (None: nothing kept)."""
        heap = self._heap
        while heap and self._entry.get(heap[0][2], (0.0, -1))[1] != heap[0][1]:
            heapq.heappop(heap)  # stale: the session went or was rescheduled earlier
        return heap[0][0] if heap else None

    def expire(self, now: float, limit: int | None = None,
               busy: Callable[[str], bool] | None = None
               ) -> list[tuple[str, ServerSession, list[ev.Event]]]:
        """Deal with (at most ``limit``) sessions whose deadline passed: a running one whose
        timer ran out ends, an ended one past its retention is forgotten; one for which
        ``busy(token)`` is true (a request in flight) is looked at again a second later.
        Returns (token, session, events) of the sessions that ended just now."""
        ended: list[tuple[str, ServerSession, list[ev.Event]]] = []
        done = 0
        heap = self._heap
        while heap and heap[0][0] <= now and (limit is None or done < limit):
            deadline, seq, token = heapq.heappop(heap)
            if self._entry.get(token, (0.0, -1))[1] != seq:
                continue
            done += 1
            session = self.get(token)
            if session is None:  # pragma: no cover - entries leave with their session
                self._entry.pop(token, None)
                continue
            actual = session.expires_at()
            if busy is not None and busy(token):
                actual = now + 1.0
            if actual is not None and actual > now:
                seq = next(self._seq)
                self._entry[token] = (actual, seq)
                heapq.heappush(heap, (actual, seq, token))
                continue
            if session.state.name in ("CLOSED", "ABORTED", "ERROR"):
                self.delete(token)
                continue
            events = session.handle_timer(now=now)
            self.delete(token)
            if not events:  # no timer of its own (e.g. never answered): end it here
                events = session.abandon("timeout")
            ended.append((token, session, events))
        return ended

    def __len__(self) -> int:
        return len(self._authenticated) + len(self._strangers) + len(self._ended)

    @property
    def unauthenticated(self) -> int:
        """Sessions kept whose peer has not authenticated."""
        return len(self._strangers)


class SnapshotSessionStore:
    """Keeps sessions as ``snapshot()`` bytes in any mapping (a dict, a shelve, a cache
    client's mapping facade), so the HTTP tier holds no session object between requests.

    The seal ``key`` makes stored snapshots unforgeable; secrets and the nonce store are
    supplied again on every restore.
    """

    def __init__(self, config: ServerConfig, key: bytes,
                 mapping: MutableMapping[str, bytes] | None = None) -> None:
        self.config = config
        self.key = key
        self.mapping: MutableMapping[str, bytes] = mapping if mapping is not None else {}

    def get(self, token: str) -> ServerSession | None:
        """Restore the session stored under ``token`` (the seal checked with ``key``), or None."""
        data = self.mapping.get(token)
        if data is None:
            return None
        return ServerSession.restore(data, secret_lookup=self.config.secret_lookup,
                                     nonces=self.config.nonces,
                                     server_secret=self.config.server_secret, key=self.key,
                                     guards=self.config.guards,
                                     accounts_for_device=self.config.accounts_for_device)

    def put(self, token: str, session: ServerSession) -> None:
        """Store ``session.snapshot(key)`` under ``token``."""
        self.mapping[token] = session.snapshot(self.key)

    def delete(self, token: str) -> None:
        """Forget the snapshot of ``token`` (no error if there is none)."""
        self.mapping.pop(token, None)

    def __len__(self) -> int:
        return len(self.mapping)
