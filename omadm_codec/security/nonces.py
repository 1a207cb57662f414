"""Nonce bookkeeping: issue, store, consume, and refuse replays, per (account, level).

One idea: a stored nonce has exactly one life. It is *issued* (random, >= 16 octets from
``secrets``), may authenticate exactly one message (then it is *consumed*, and a second use is
a replay), and is replaced only by a fresh issue or by a nonce from a peer that has
authenticated. A nonce offered by an unauthenticated peer may be used to build the next
credential but never overwrites the stored one (dm-protocol.md 3.4, SEC 5.1.3.4).

``level`` follows the DMAcc ``AAuthLevel`` naming: ``CLCRED`` holds the nonce the client's
credentials are computed with (issued by the server), ``SRVCRED`` the nonce the server's
credentials and the package-0 digest use (issued by the client). Sans-IO: no clock, no disk.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..errors import AuthenticationError

MIN_NONCE_SIZE = 16
LEVELS = ("CLCRED", "SRVCRED")


@dataclass(frozen=True, slots=True)
class StoredNonce:
    """One (account, level) slot."""

    value: bytes
    """The nonce octets (base64 only on the wire)."""
    consumed: bool = False
    """True once the nonce authenticated a message; it can never authenticate another."""
    issued_here: bool = True
    """True if this side generated it; False if an authenticated peer supplied it."""


class NonceManager:
    """Issues and tracks nonces. Every failing call leaves the store unchanged."""

    def __init__(self, size: int = MIN_NONCE_SIZE,
                 token: Callable[[int], bytes] = secrets.token_bytes) -> None:
        if size < MIN_NONCE_SIZE:
            raise ValueError(f"nonces must be at least {MIN_NONCE_SIZE} octets")
        self._size = size
        self._token = token
        self._slots: dict[tuple[str, str], StoredNonce] = {}

    @staticmethod
    def _key(account: str, level: str) -> tuple[str, str]:
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
        return (account, level)

    def issue(self, account: str, level: str = "CLCRED") -> bytes:
        """A fresh random nonce, stored (unconsumed) as the one the peer must use next. Only
        for a peer that has authenticated (a challenge to anyone else: ``challenge_nonce``)."""
        key = self._key(account, level)
        nonce = self._token(self._size)
        if len(nonce) < MIN_NONCE_SIZE:
            raise ValueError("nonce source returned too few octets")
        self._slots[key] = StoredNonce(nonce)
        return nonce

    def challenge_nonce(self) -> bytes:
        """A fresh random nonce from the same source, stored nowhere: what a challenge to a
        peer that has not authenticated carries (it must not replace the stored one)."""
        nonce = self._token(self._size)
        if len(nonce) < MIN_NONCE_SIZE:
            raise ValueError("nonce source returned too few octets")
        return nonce

    def get(self, account: str, level: str = "CLCRED") -> StoredNonce | None:
        """The stored slot, or None if nothing was ever stored."""
        return self._slots.get(self._key(account, level))

    def current(self, account: str, level: str = "CLCRED") -> bytes | None:
        """The stored nonce value (consumed or not), e.g. to build an outgoing credential."""
        slot = self._slots.get(self._key(account, level))
        return None if slot is None else slot.value

    def usable(self, account: str, level: str = "CLCRED") -> bytes:
        """The nonce a message must be checked with now.

        Raises ``AuthenticationError("no_nonce")`` if none was ever issued and
        ``AuthenticationError("replay")`` if the stored one already authenticated a message.
        """
        slot = self._slots.get(self._key(account, level))
        if slot is None:
            raise AuthenticationError("no_nonce")
        if slot.consumed:
            raise AuthenticationError("replay")
        return slot.value

    def consume(self, account: str, level: str, nonce: bytes) -> None:
        """Mark ``nonce`` used: call it once the message it authenticated has been accepted.

        Raises ``AuthenticationError``: ``replay`` (already consumed) or ``stale`` (not the
        stored nonce); the store is unchanged then.
        """
        key = self._key(account, level)
        slot = self._slots.get(key)
        if slot is None or not secrets.compare_digest(slot.value, nonce):
            raise AuthenticationError("stale")
        if slot.consumed:
            raise AuthenticationError("replay")
        self._slots[key] = replace(slot, consumed=True)

    def offer(self, account: str, level: str, nonce: bytes, *, authenticated: bool) -> bool:
        """A ``NextNonce`` received from the peer. Stored only if the peer authenticated.

        Returns True if stored. An unauthenticated peer's nonce is still usable by the caller
        for the next credential it builds, but is not kept (no nonce planting).
        """
        key = self._key(account, level)
        if not authenticated:
            return False
        self._slots[key] = StoredNonce(bytes(nonce), issued_here=False)
        return True

    def reset_resync(self, account: str, level: str, nonce: bytes) -> None:
        """Store the resync default nonce after a nonce-resync package 0 was accepted."""
        self._slots[self._key(account, level)] = StoredNonce(bytes(nonce), issued_here=False)

    def snapshot(self) -> dict[tuple[str, str], StoredNonce]:
        """A copy of every slot (for persistence by the caller, and for tests)."""
        return dict(self._slots)
