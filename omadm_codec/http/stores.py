"""Where live server sessions are kept between requests, by RespURI token: the ``SessionStore``
protocol, the in-process default and the snapshot store.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import MutableMapping
from typing import Protocol

from ..session import ServerSession
from ..session import events as ev
from .config import ServerConfig


class SessionStore(Protocol):
    """Where live server sessions are kept between requests, by RespURI token."""

    def get(self, token: str) -> ServerSession | None:
        """The session stored under ``token``, or None if there is none."""
        ...

    def put(self, token: str, session: ServerSession) -> None:
        """Store ``session`` under ``token``, replacing any session stored there."""
        ...

    def delete(self, token: str) -> None:
        """Forget the session under ``token``; no error if there is none."""
        ...


class MemorySessionStore:
    """The default store: a bounded dict in this process (oldest evicted first)."""

    def __init__(self, max_sessions: int = 100_000) -> None:
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, ServerSession] = OrderedDict()

    def get(self, token: str) -> ServerSession | None:
        """The live session of RespURI token ``token``, or None if there is none."""
        return self._sessions.get(token)

    def put(self, token: str, session: ServerSession) -> None:
        """Keep ``session`` under ``token``; beyond ``max_sessions`` the least recently put is
        evicted."""
        self._sessions[token] = session
        self._sessions.move_to_end(token)
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)

    def delete(self, token: str) -> None:
        """Forget the session of ``token`` (no error if there is none)."""
        self._sessions.pop(token, None)

    def expire(self, now: float) -> list[tuple[str, ServerSession, list[ev.Event]]]:
        """Run every session's timer; drop the ones that ended. Returns (token, session,
        events) of the sessions that timed out just now."""
        ended = []
        for token, session in list(self._sessions.items()):
            if session.state.name in ("CLOSED", "ABORTED", "ERROR"):
                if session.next_timer() is None and session._last_activity is not None \
                        and now - session._last_activity > session.idle_timeout:
                    del self._sessions[token]
                continue
            events = session.handle_timer(now=now)
            if events:
                ended.append((token, session, events))
                del self._sessions[token]
        return ended

    def __len__(self) -> int:
        return len(self._sessions)


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
                                     server_secret=self.config.server_secret, key=self.key)

    def put(self, token: str, session: ServerSession) -> None:
        """Store ``session.snapshot(key)`` under ``token``."""
        self.mapping[token] = session.snapshot(self.key)

    def delete(self, token: str) -> None:
        """Forget the snapshot of ``token`` (no error if there is none)."""
        self.mapping.pop(token, None)

    def __len__(self) -> int:
        return len(self.mapping)
