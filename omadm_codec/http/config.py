"""What every new server session is built with (``ServerConfig``), and the shape of a server
application (``ServerApp``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..security.nonces import NonceManager
from ..session import ServerSession
from ..session import events as ev

ServerApp = Callable[[ServerSession, list[ev.Event]], None]
"""Called with a session and each batch of its events; queues commands, records outcomes."""


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
