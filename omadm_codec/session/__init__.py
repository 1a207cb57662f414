"""The session layer: sans-IO OMA DM sessions, ``ClientSession`` (the device) and
``ServerSession``. May import: ``security``, ``tree``, ``messages``, ``wbxml`` and the base
modules; never a socket, a clock or a thread.

The one idea, as in h11: bytes in, events and bytes out. ``receive(bytes, now=...)`` returns
events; ``data_to_send()`` returns the next message (``Outgoing``: body, content type, HMAC
header). No sockets, no clock, no threads: time is passed in and ``next_timer()`` says when
``handle_timer(now=...)`` is due. States and their legal moves are in ``states``.
"""

from __future__ import annotations

from . import events
from ._common import CONTENT_TYPES, DS_CONTENT_TYPES, Outgoing
from .behaviour import DeviceBehaviour
from .client import ClientSession
from .events import (
    AlertReceived,
    Authenticated,
    AuthenticationFailed,
    CommandCompleted,
    CommandExecuted,
    CommandRefused,
    SessionEnded,
    SessionStarted,
)
from .executor import UiAlert, UiResponse
from .server import SESSION_QUIRKS, ServerSession
from .states import TERMINAL, TRANSITIONS, Role, State, transition

__all__ = [
    "CONTENT_TYPES", "DS_CONTENT_TYPES", "TERMINAL", "TRANSITIONS", "AlertReceived",
    "Authenticated", "DeviceBehaviour", "SESSION_QUIRKS",
    "AuthenticationFailed", "ClientSession", "CommandCompleted", "CommandExecuted",
    "CommandRefused", "Outgoing", "Role", "ServerSession", "SessionEnded", "SessionStarted",
    "State", "UiAlert", "UiResponse", "events", "transition",
]
