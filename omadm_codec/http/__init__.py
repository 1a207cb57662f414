"""The HTTP layer: the DM HTTP(S) binding (dm-protocol.md 9) around the sans-IO sessions.

Owns: the ASGI server application (``app``), what a session is built with (``config``), the
session stores (``stores``), the device registry (``registry``), the uvicorn thread runner
(``runner``), the client transport on httpx (``client``) and the binding's wire rules
(``wire``). May import: ``session`` and every layer below it.

The one idea: HTTP only carries the sans-IO sessions. Needs the ``http`` extra (``uvicorn``,
``httpx``) to serve or to connect; importing this package does not.
"""

from __future__ import annotations

from ..errors import OmaDmError
from .app import DMServerApp
from .client import client_tls_context, run_http_session
from .config import ServerApp, ServerConfig
from .registry import DeviceRegistry
from .runner import ServerThread, TlsConfig
from .stores import MemorySessionStore, SessionStore, SnapshotSessionStore
from .wire import ACCEPT, COMPRESS_MIN, HMAC_HEADER, MAX_BODY, USER_AGENT

__all__ = [
    "ACCEPT", "COMPRESS_MIN", "DMServerApp", "DeviceRegistry", "HMAC_HEADER", "MAX_BODY",
    "MemorySessionStore", "OmaDmError", "ServerApp", "ServerConfig", "ServerThread",
    "SessionStore", "SnapshotSessionStore", "TlsConfig", "USER_AGENT", "client_tls_context",
    "run_http_session",
]
