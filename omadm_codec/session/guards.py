"""What bounds and watches a server session beyond its own messages (``SessionGuards``): the
limits on peers that have not authenticated, the incoming large-object bounds, per-message
authentication, and the shared components every session of a server consults (failure
throttle, account-to-device ownership, memory budget).

The one idea: a session is sans-IO and owns nothing shared; these are handed to it, the same
object for every session of one server, and each is a small component with its own interface
(``security.throttle.Throttle``, a ``DeviceClaim`` callable, ``limits.MemoryBudget``), so
where their state lives can change without touching the session.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..limits import MemoryBudget
from ..security.throttle import Throttle

DeviceClaim = Callable[[str, str], bool]
"""``claim(account, device_id)``: True if the authenticated ``account`` may speak for the
device (its SyncHdr Source LocURI). Called once per session, at first authentication; it may
record the pairing (first use binds)."""

MessageAuth = Literal["session", "every_message"]


@dataclass(frozen=True, slots=True)
class SessionGuards:
    """Shared by every session of one server; the defaults are in docs/limits.md."""

    preauth_max_commands: int = 32
    """Most commands a message may carry before its sender authenticated (decoding stops
    past about 64 elements per command: ``too_many_commands``)."""
    preauth_idle_timeout: float = 30.0
    """Seconds a session that never authenticated is kept after its last message."""
    preauth_command_statuses: bool = True
    """Answer an unauthenticated message with one Status per command (PRO 2.4.1: a 401/407
    answer holds a Status for every command received; bounded by ``preauth_max_commands``);
    ``False``: the SyncHdr Status and its challenge alone, a deviation that saves a few
    hundred bytes per challenge."""
    retain_ended: float = 60.0
    """Seconds an ended session is kept to answer a retransmission of its last message."""
    max_obj_size: int = 4 << 20
    """Largest object the server accepts from a device (advertised as MaxObjSize)."""
    incoming_budget: MemoryBudget | None = None
    """Bytes all sessions together may buffer for large objects in flight (None: only the
    per-object bound)."""
    message_auth: MessageAuth = "session"
    """``every_message``: every message must carry credentials (Cred, or the HMAC header),
    not only the first that authenticated; a token holder who copies the device's LocURI is
    refused too."""
    throttle: Throttle | None = None
    """Authentication failures counted across sessions (None: per session only)."""
    device_claim: DeviceClaim | None = None
    """Which devices an account may speak for (None: any)."""

    def __post_init__(self) -> None:
        if self.preauth_max_commands < 1 or self.max_obj_size < 1:
            raise ValueError("preauth_max_commands and max_obj_size must be >= 1")
        if self.message_auth not in ("session", "every_message"):
            raise ValueError(f"message_auth must be 'session' or 'every_message', "
                             f"not {self.message_auth!r}")


DEFAULT_GUARDS = SessionGuards()

__all__ = ["DEFAULT_GUARDS", "DeviceClaim", "MessageAuth", "SessionGuards"]
