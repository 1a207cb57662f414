"""The ASGI application serving OMA DM over HTTP(S) (dm-protocol.md 9): one POST, one DM
message each way; the first answer of a session gives a ``RespURI`` holding an unguessable
token, and every later POST of that session goes there, so the session is found by token
(``SessionStore``), never by anything the client chose.
"""

from __future__ import annotations

import secrets
import time
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..errors import LocalProtocolError, RemoteProtocolError
from ..session import CONTENT_TYPES, ServerSession
from .config import ServerApp, ServerConfig
from .registry import DeviceRegistry
from .stores import MemorySessionStore, SessionStore
from .wire import COMPRESS_MIN, HMAC_HEADER, MAX_BODY, BadBody, accepts, inflate

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class DMServerApp:
    """ASGI application serving OMA DM on ``path`` (and ``path/s/<token>`` for RespURI).

    ``app_factory()`` gives the server application for one new session (called with the
    session and each batch of its events); default: ``registry``.

    HTTP rules (dm-protocol.md 9.1): POST only (405), a DM media type (415), a body of at most
    ``max_body`` bytes after any ``Content-Encoding: gzip|deflate`` is undone (413; another
    coding 415, a corrupt one 400), ``Accept-Charset`` must allow UTF-8 (406, no body). The
    ``x-syncml-hmac`` of a compressed request is checked over the DM message, not the
    compressed bytes.
    """

    def __init__(self, config: ServerConfig, *, path: str = "/dm",
                 store: SessionStore | None = None, registry: DeviceRegistry | None = None,
                 app_factory: Callable[[], ServerApp] | None = None,
                 max_body: int = MAX_BODY, base_url: str | None = None,
                 compress_responses: bool = False) -> None:
        self.config = config
        self.path = path.rstrip("/") or "/dm"
        self.store: SessionStore = store if store is not None else MemorySessionStore()
        self.registry = registry if registry is not None else DeviceRegistry()
        self.app_factory = app_factory
        self.max_body = max_body
        self.base_url = base_url
        self.compress_responses = compress_responses
        """gzip responses of at least ``COMPRESS_MIN`` bytes to clients whose
        ``Accept-Encoding`` allows it (off by default: few devices ask)."""
        # The application of each live session, by RespURI token (sessions may be restored
        # objects, so never by identity).
        self._apps: dict[str, ServerApp] = {}
        self.sessions_completed = 0
        self.sessions_failed = 0
        self.sweep_interval = 30.0
        """Seconds between timer sweeps of the store (idle sessions time out)."""
        self._next_sweep = time.monotonic() + self.sweep_interval

    def sweep(self, now: float | None = None) -> int:
        """Time out idle sessions now (stores with an ``expire`` method); returns how many
        ended. Their applications get the ``SessionEnded("timeout")`` events."""
        expire = getattr(self.store, "expire", None)
        if expire is None:
            return 0
        ended = expire(time.monotonic() if now is None else now)
        for token, session, events in ended:
            app = self._apps.pop(token, None)
            self.sessions_failed += 1
            if app is not None:
                app(session, events)
        return len(ended)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + self.sweep_interval
            self.sweep()
        status, headers, body, request_headers = await self._handle(scope, receive)
        if (self.compress_responses and status == 200 and len(body) >= COMPRESS_MIN
                and accepts(request_headers.get("accept-encoding"), "gzip")):
            body = zlib.compress(body, 6, wbits=31)
            headers.append(("content-encoding", "gzip"))
        await send({"type": "http.response.start", "status": status,
                    "headers": [(k.encode("latin-1"), v.encode("latin-1"))
                                for k, v in headers]})
        await send({"type": "http.response.body", "body": body})

    async def _read(self, receive: Receive, limit: int) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _handle(self, scope: Scope, receive: Receive
                      ) -> tuple[int, list[tuple[str, str]], bytes, dict[str, str]]:
        path: str = scope.get("path", "")
        plain = [("cache-control", "no-store")]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        if scope.get("method") != "POST":
            return 405, [*plain, ("allow", "POST")], b"", headers
        token = None
        if path.startswith(self.path + "/s/"):
            token = path[len(self.path) + 3:]
        elif path != self.path:
            return 404, plain, b"", headers
        content_type = headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() not in CONTENT_TYPES.values():
            return 415, plain, b"", headers
        if not accepts(headers.get("accept-charset"), "utf-8"):
            return 406, plain, b"", headers
        coding = headers.get("content-encoding")
        body = await self._read(receive, self.max_body)
        if body is None:
            return 413, plain, b"", headers
        if coding is not None:
            try:
                body = inflate(body, coding, self.max_body)
            except BadBody as bad:
                return bad.status, plain, b"", headers
        if token is None:
            session, token = self._new_session(scope, headers)
        else:
            found = self.store.get(token)
            if found is None:
                return 404, plain, b"", headers
            session = found
        status, out_headers, out = self._exchange(session, token, body, content_type,
                                                  headers.get(HMAC_HEADER))
        return status, out_headers, out, headers

    def _new_session(self, scope: Scope,
                     headers: dict[str, str]) -> tuple[ServerSession, str]:
        config = self.config
        token = secrets.token_urlsafe(24)
        base = self.base_url
        if base is None:
            host = headers.get("host") or "127.0.0.1"
            base = f"{scope.get('scheme', 'http')}://{host}"
        session = ServerSession(
            server_id=config.server_id, server_uri=f"{base}{self.path}",
            secret_lookup=config.secret_lookup, nonces=config.nonces,
            aauth_type=config.aauth_type, server_secret=config.server_secret,
            server_auth_type=config.server_auth_type, max_msg_size=config.max_msg_size,
            idle_timeout=config.idle_timeout, resp_uri=f"{base}{self.path}/s/{token}")
        self._apps[token] = self.app_factory() if self.app_factory else self.registry
        return session, token

    def _exchange(self, session: ServerSession, token: str, body: bytes, content_type: str,
                  hmac: str | None) -> tuple[int, list[tuple[str, str]], bytes]:
        app = self._apps.get(token, self.registry)
        try:
            events = session.receive(body, now=time.monotonic(), content_type=content_type,
                                     hmac=hmac)
            app(session, events)
            out = session.data_to_send()
            after = session.take_events()
            if after:
                app(session, after)
        except RemoteProtocolError as exc:
            self.store.delete(token)
            self._apps.pop(token, None)
            self.sessions_failed += 1
            if exc.response:
                # A DM answer exists (SyncHdr Status + 1223): it travels like any other.
                kind = "wbxml" if exc.response[:1] < b"\x04" else "xml"
                return 200, [("content-type", CONTENT_TYPES[kind]),
                             ("cache-control", "no-store")], exc.response
            return 400, [("cache-control", "no-store")], b""
        except LocalProtocolError:
            return 409, [("cache-control", "no-store")], b""
        if session.state.name in ("CLOSED", "ABORTED"):
            # Kept (answers a retransmitted last message from the cache) until evicted.
            self._apps.pop(token, None)
            if session.state.name == "CLOSED":
                self.sessions_completed += 1
            else:
                self.sessions_failed += 1
        self.store.put(token, session)
        headers = [("content-type", out.content_type), ("cache-control", "no-store")]
        if out.hmac:
            headers.append((HMAC_HEADER, out.hmac))
        return 200, headers, out.body
