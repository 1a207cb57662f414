"""Which devices an account may speak for, as one request on a shared store (Redis) sees it:
the session's ``device_claim`` answers from the account record the request read, and asks
the store (``ClaimMissing``) only for an account created without devices, whose one device
is bound at its first authentication, once for every worker (``StateStore.claim_device``).

The claim is asked only after the credentials verified, so a stranger binds nothing; the
request binds, then runs the session again with the answer (as for accounts and failure
records: nothing else was written by the first run).
"""

from __future__ import annotations

from collections.abc import Callable

from .state import AuthState


class ClaimMissing(Exception):
    """The session asked whether ``account`` may speak for ``device`` and only the store can
    say. Deliberately not an ``OmaDmError``: no protocol code may catch it."""

    def __init__(self, account: str, device: str) -> None:
        super().__init__(account, device)
        self.account = account
        self.device = device


class RequestClaim:
    """The ``SessionGuards.device_claim`` of one request. ``claims`` holds the store's
    answers (kept across the runs of the request); ``fallback`` answers for an account the
    store does not hold (one given to the server in its configuration only)."""

    def __init__(self, loaded: dict[str, AuthState], claims: dict[tuple[str, str], bool],
                 fallback: Callable[[str, str], bool]) -> None:
        self.loaded = loaded
        self.claims = claims
        self.fallback = fallback

    def __call__(self, account: str, device: str) -> bool:
        state = self.loaded.get(account)
        record = state.account if state is not None else None
        if record is None:
            return self.fallback(account, device)
        if record.devices is not None:
            return device in record.devices  # the store keeps each device to one account
        answer = self.claims.get((account, device))
        if answer is None:
            raise ClaimMissing(account, device)
        return answer


__all__ = ["ClaimMissing", "RequestClaim"]
