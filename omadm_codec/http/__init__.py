"""The HTTP layer: the DM HTTP(S) binding (dm-protocol.md 9) around the sans-IO sessions.

Owns: the ASGI server application (``app``), what a session is built with (``config``), the
state every worker shares (``state``: the interface; ``state_memory``, ``state_redis``: its
engines; ``state_url``: choosing one), what one request sees of accounts and nonces
(``credentials``), the durable queue's delivery through sessions (``delivery``), commands
and outcomes as stored (``stored``), the operator's API (``operator``) and the device
registry over it, with account-to-device ownership (``registry``), a lean Redis client
(``_resp``), the connection guards (``connections``), the uvicorn runner (``runner``),
rate-limited logging (``logs``), the client transport on httpx (``client``) and the
binding's wire rules (``wire``). May import: ``session`` and every layer below it.

The one idea: HTTP only carries the sans-IO sessions. Needs the ``http`` extra (``uvicorn``,
``httpx``) to serve or to connect; importing this package does not.
"""

from __future__ import annotations

from ..errors import OmaDmError
from .app import DMServerApp
from .client import client_tls_context, run_http_session
from .config import ServerApp, ServerConfig, server_guards
from .connections import HttpLimits
from .operator import DeviceQueues
from .registry import DeviceOwnership, DeviceRegistry
from .runner import ServerThread, TlsConfig
from .state import (
    Account,
    Entry,
    SessionBusy,
    SessionConflict,
    StateError,
    StateStore,
    StateUnavailable,
)
from .state_memory import MemoryState
from .state_url import open_store
from .wire import ACCEPT, COMPRESS_MIN, HMAC_HEADER, MAX_BODY, PREAUTH_MAX_BODY, USER_AGENT

__all__ = [
    "ACCEPT", "COMPRESS_MIN", "Account", "DMServerApp", "DeviceOwnership", "DeviceQueues",
    "DeviceRegistry", "Entry", "HMAC_HEADER", "HttpLimits", "MAX_BODY", "MemoryState",
    "OmaDmError", "PREAUTH_MAX_BODY", "ServerApp", "ServerConfig", "ServerThread",
    "SessionBusy", "SessionConflict", "StateError", "StateStore", "StateUnavailable",
    "TlsConfig", "USER_AGENT", "client_tls_context", "open_store", "run_http_session",
    "server_guards",
]
