"""The HTTP layer: the DM HTTP(S) binding (dm-protocol.md 9) around the sans-IO sessions.

Owns: the ASGI server application (``app``), what a session is built with (``config``), the
session stores (``stores``), the device registry and account-to-device ownership
(``registry``), the connection guards (``connections``), the uvicorn thread runner
(``runner``), rate-limited logging (``logs``), the client transport on httpx (``client``)
and the binding's wire rules (``wire``). May import: ``session`` and every layer below it.

The one idea: HTTP only carries the sans-IO sessions. Needs the ``http`` extra (``uvicorn``,
``httpx``) to serve or to connect; importing this package does not.
"""

from __future__ import annotations

from ..errors import OmaDmError
from .app import DMServerApp
from .client import client_tls_context, run_http_session
from .config import ServerApp, ServerConfig, server_guards
from .connections import HttpLimits
from .registry import DeviceOwnership, DeviceRegistry
from .runner import ServerThread, TlsConfig
from .stores import MemorySessionStore, SessionStore, SnapshotSessionStore, StoreFull
from .wire import ACCEPT, COMPRESS_MIN, HMAC_HEADER, MAX_BODY, PREAUTH_MAX_BODY, USER_AGENT

__all__ = [
    "ACCEPT", "COMPRESS_MIN", "DMServerApp", "DeviceOwnership", "DeviceRegistry",
    "HMAC_HEADER", "HttpLimits", "MAX_BODY", "MemorySessionStore", "OmaDmError",
    "PREAUTH_MAX_BODY", "ServerApp", "ServerConfig", "ServerThread", "SessionStore",
    "SnapshotSessionStore", "StoreFull", "TlsConfig", "USER_AGENT", "client_tls_context",
    "run_http_session", "server_guards",
]
