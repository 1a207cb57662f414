"""What one request sees of accounts and nonces: a snapshot of the store's records for the
accounts the request touches, read before the (synchronous, sans-IO) session runs, and the
nonce changes it made, written back by compare-and-set afterwards.

The one idea: the session asks for an account it was not given (``AccountMissing``); the
request loads it and runs the session again from its snapshot. Nothing is written until the
session has run to the end, so a redone run leaves no trace. A nonce consumed by another
worker meanwhile makes the write fail (``swaps`` no longer match), and the request is redone:
the second run sees the nonce consumed (a replay).
"""

from __future__ import annotations

from collections.abc import Callable

from ..security import auth
from ..security.nonces import NonceManager, StoredNonce
from .state import AuthState, NonceSwap


class AccountMissing(Exception):
    """The session touched ``account``, which this request has not loaded yet. Deliberately
    not an ``OmaDmError``: no protocol code may catch it."""

    def __init__(self, account: str) -> None:
        super().__init__(account)
        self.account = account


Loader = Callable[[str], AuthState]
"""Reads one account's record and nonces at once, without waiting (an in-process store)."""


class RequestNonces(NonceManager):
    """A ``NonceManager`` over the slots of the loaded accounts only. With ``load`` (a store
    in this process), an account not loaded yet is read on the spot instead of
    ``AccountMissing``: the session runs once, so whatever it drew (a nonce) is drawn once.
    ``like``: the server's configured ``NonceManager``, whose nonce size and source it uses."""

    def __init__(self, loaded: dict[str, AuthState], load: Loader | None = None,
                 like: NonceManager | None = None) -> None:
        super().__init__()
        if like is not None:  # the configured manager's nonce size and source
            self._size, self._token = like._size, like._token
        self._loaded = loaded
        self._load = load
        for account, state in loaded.items():
            for level, slot in state.nonces.items():
                self._slots[(account, level)] = slot

    def _key(self, account: str, level: str) -> tuple[str, str]:  # type: ignore[override]
        key = NonceManager._key(account, level)
        if account not in self._loaded:
            self.load(account)
        return key

    def load(self, account: str) -> AuthState:
        """The loaded state of ``account``: read now with ``load``, else ``AccountMissing``."""
        state = self._loaded.get(account)
        if state is None:
            if self._load is None:
                raise AccountMissing(account)
            state = self._load(account)
            self.add(account, state)
        return state

    def add(self, account: str, state: AuthState) -> None:
        """Load one more account (one this run has not touched yet)."""
        self._loaded[account] = state
        for level, slot in state.nonces.items():
            self._slots[(account, level)] = slot

    def forget(self) -> None:
        """Drop every loaded account (the next run reads them afresh)."""
        self._loaded.clear()

    def swaps(self) -> dict[str, list[NonceSwap]]:
        """The changes this run made, per account, as compare-and-set operations."""
        out: dict[str, list[NonceSwap]] = {}
        for account, state in self._loaded.items():
            for level in ("CLCRED", "SRVCRED"):
                before: StoredNonce | None = state.nonces.get(level)
                after = self._slots.get((account, level))
                if after != before:
                    out.setdefault(account, []).append(NonceSwap(level, before, after))
        return out


class RequestSecrets:
    """``secret_lookup`` for the session: the store's account record first, then the
    configured lookup (accounts given to the server at start-up)."""

    def __init__(self, loaded: dict[str, AuthState],
                 fallback: Callable[[str], auth.Secret | None],
                 nonces: RequestNonces | None = None) -> None:
        self._loaded = loaded
        self._fallback = fallback
        self._nonces = nonces

    def __call__(self, username: str) -> auth.Secret | None:
        state = self._loaded.get(username)
        if state is None:
            if self._nonces is None:
                raise AccountMissing(username)
            state = self._nonces.load(username)  # AccountMissing unless it can read now
        if state.account is not None:
            return state.account.secret
        return self._fallback(username)


__all__ = ["AccountMissing", "Loader", "RequestNonces", "RequestSecrets"]
