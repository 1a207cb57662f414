"""What every new server session is built with (``ServerConfig``), and the shape of a server
application (``ServerApp``)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from ..limits import MemoryBudget
from ..security.nonces import NonceManager
from ..security.throttle import Throttle
from ..session import ServerSession
from ..session import events as ev
from ..session.guards import SessionGuards

ServerApp = Callable[[ServerSession, list[ev.Event]], None]
"""Called with a session and each batch of its events; queues commands, records outcomes."""

INCOMING_BUDGET = 64 << 20
"""Bytes of large objects in flight all sessions of a server may buffer together."""


def server_guards() -> SessionGuards:
    """The guards a server gets by default: failures throttled across sessions (rules in
    ``security.throttle.ThrottleRules``) and a shared ``INCOMING_BUDGET``."""
    return SessionGuards(throttle=Throttle(), incoming_budget=MemoryBudget(INCOMING_BUDGET))


@dataclass(slots=True)
class ServerConfig:
    """What every new server session is built with."""

    server_id: str
    secret_lookup: Callable[[str], str | bytes | None]
    server_secret: str | None = None
    aauth_type: str | Callable[[str | None], str] = "DIGEST"
    """Client authentication: one type, or a callable giving it per account name."""
    server_auth_type: str = "DIGEST"
    nonces: NonceManager = field(default_factory=NonceManager)
    max_msg_size: int = 65536
    idle_timeout: float = 300.0
    guards: SessionGuards = field(default_factory=server_guards)
    """Limits before authentication, large objects in, per-message authentication, the
    failure throttle and device ownership (``DMServerApp`` fills ``device_claim`` from its
    registry when it is None)."""
    strict: bool = False
    """Absorb no client deviation: each quirk is refused (415 for a DS media type; see
    ``ServerSession`` and docs/interop.md)."""
    accounts_for_device: Callable[[str], Collection[str]] | None = None
    """The accounts a device (by its LocURI) may authenticate as: for auth-md5 without
    ``Source/LocName``, the one account that fits (``ServerSession``)."""
    max_commands_per_message: int | None = None
    """At most this many queued commands per server message (``ServerSession``)."""
