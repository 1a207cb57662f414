"""The ASGI application serving OMA DM over HTTP(S) (dm-protocol.md 9): one POST, one DM
message each way; the first answer of a session gives a ``RespURI`` holding an unguessable
token, and every later POST of that session goes there, so the session is found by token
(``SessionStore``), never by anything the client chose. The token is a bearer secret: it must
travel over TLS (docs/security.md); the session also refuses any message that is not from its
own peer (``ForeignMessage``).

Every request ends in a defined answer: what the session refuses is a DM refusal or a 4xx;
anything that goes wrong inside the server is logged (rate-limited), answered 500, and the
session is dropped with its commands handed back to the application (``CommandRefused``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import secrets
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..errors import ForeignMessage, LocalProtocolError, RemoteProtocolError
from ..session import CONTENT_TYPES, DS_CONTENT_TYPES, ServerSession
from ..session import events as ev
from .config import ServerApp, ServerConfig
from .logs import install_log_limits
from .registry import DeviceRegistry
from .stores import MemorySessionStore, SessionStore, StoreFull
from .wire import (
    BODY_TIMEOUT,
    COMPRESS_MIN,
    HMAC_HEADER,
    MAX_BODY,
    OFFLOAD_MIN,
    PREAUTH_MAX_BODY,
    BadBody,
    accepts,
    inflate,
)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Headers = list[tuple[str, str]]

_timeout = getattr(asyncio, "timeout", None)

EXPIRY_BATCH = 256
"""Sessions the expiry task deals with before it lets other work run."""
EXPIRY_POLL = 1.0
"""Longest sleep of the expiry task (a session put meanwhile may be due sooner)."""

_PLAIN: Headers = [("cache-control", "no-store")]
_CLOSE: Headers = [("cache-control", "no-store"), ("connection", "close")]
# An unknown or expired session token: there is no session to answer in DM terms
# (docs/interop.md); the body says what happened.
_UNKNOWN_SESSION = b"unknown or expired DM session: start a new one\n"
_UNKNOWN_HEADERS: Headers = [*_PLAIN, ("content-type", "text/plain")]


class _TimedOut(Exception):
    """The request body stalled for longer than ``body_timeout``."""


@dataclass(slots=True)
class _Outcome:
    """What one exchange with a session came to; the store is changed on the event loop."""

    status: int
    headers: Headers
    body: bytes
    action: str = "put"
    """``put``: store the session as it is now; ``drop``: forget it (a failed session);
    ``leave``: the session did not change (a refused foreign message)."""
    was_over: bool = False
    """The session had ended before this request (a retransmission of its last message)."""


class DMServerApp:
    """ASGI application serving OMA DM on ``path`` (and ``path/s/<token>`` for RespURI).

    ``app_factory()`` gives the server application for one new session (called with the
    session and each batch of its events); default: ``registry``.

    HTTP rules (dm-protocol.md 9.1): POST only (405), a DM media type (415; the SyncML DS types
    too unless ``config.strict``: libdmclient as shipped posts them, the quirk
    ``ds_media_type``, answered in the DM type), a body of at most
    ``max_body`` bytes after any ``Content-Encoding: gzip|deflate`` is undone (413; another
    coding 415, a corrupt one 400), ``Accept-Charset`` must allow UTF-8 (406, no body). The
    ``x-syncml-hmac`` of a compressed request is checked over the DM message, not the
    compressed bytes.

    Bounds (docs/limits.md): a request for a session that has not authenticated (every POST
    to ``path``) may carry ``preauth_max_body`` bytes; a declared ``Content-Length`` over the
    bound is refused from the header (413, connection closed); a body that stalls for
    ``body_timeout`` seconds gets 408; a client address locked by the failure throttle gets
    429 with ``Retry-After`` before anything is read. Bodies of ``offload_min`` bytes or more
    are handled in a worker thread, so decoding and answering them does not stall the event
    loop (other clients).

    The RespURI is ``base_url`` + ``path`` + ``/s/<token>``; without ``base_url`` it is built
    from the address the request arrived on (the listening socket), never from the request's
    ``Host`` header.
    """

    def __init__(self, config: ServerConfig, *, path: str = "/dm",
                 store: SessionStore | None = None, registry: DeviceRegistry | None = None,
                 app_factory: Callable[[], ServerApp] | None = None,
                 max_body: int = MAX_BODY, base_url: str | None = None,
                 compress_responses: bool = False, preauth_max_body: int = PREAUTH_MAX_BODY,
                 body_timeout: float = BODY_TIMEOUT, offload_min: int = OFFLOAD_MIN) -> None:
        self.config = config
        self.path = path.rstrip("/") or "/dm"
        self.registry = registry if registry is not None else DeviceRegistry()
        if config.guards.device_claim is None:
            # The registry says which devices each account may speak for.
            config.guards = dataclasses.replace(config.guards, device_claim=self._claim)
        self.store: SessionStore = store if store is not None else MemorySessionStore()
        if getattr(self.store, "on_evict", False) is None:
            self.store.on_evict = self._evicted  # type: ignore[attr-defined]
        self.app_factory = app_factory
        self.max_body = max_body
        self.preauth_max_body = min(preauth_max_body, max_body)
        self.body_timeout = body_timeout
        self.offload_min = offload_min
        self.base_url = base_url.rstrip("/") if base_url else None
        self.compress_responses = compress_responses
        """gzip responses of at least ``COMPRESS_MIN`` bytes to clients whose
        ``Accept-Encoding`` allows it (off by default: few devices ask)."""
        # The application of each kept session, by RespURI token (sessions may be restored
        # objects, so never by identity); it leaves with the session.
        self._apps: dict[str, ServerApp] = {}
        self.sessions_completed = 0
        self.sessions_failed = 0
        self.log = logging.getLogger("omadm_codec.http")
        install_log_limits()
        self._busy: dict[str, tuple[asyncio.Lock, int]] = {}  # tokens with requests in flight
        self._app_lock = threading.Lock()  # applications are called from one thread at a time
        self._pool: ThreadPoolExecutor | None = None
        self._expiry: asyncio.Task[None] | None = None

    def _claim(self, account: str, device_id: str) -> bool:
        return self.registry.claim(account, device_id)  # whichever registry is current

    # -- expiry -----------------------------------------------------------------------------

    def sweep(self, now: float | None = None) -> int:
        """Time out every session that is due now (stores with an ``expire`` method),
        without a batch limit; returns how many ended. Their applications get the
        ``SessionEnded("timeout")`` events. The server does this by itself, in batches, on a
        timer; this is for tests and callers without an event loop."""
        expire = getattr(self.store, "expire", None)
        if expire is None:
            return 0
        ended = expire(time.monotonic() if now is None else now)
        self._ended(ended)
        return len(ended)

    def _ended(self, ended: list[tuple[str, ServerSession, list[ev.Event]]]) -> None:
        for token, session, events in ended:
            app = self._apps.pop(token, None)
            self.sessions_failed += 1
            if app is not None:
                self._deliver(app, session, events)

    def _evicted(self, token: str, session: ServerSession) -> None:
        app = self._apps.pop(token, None)
        events = session.abandon("evicted")
        if app is not None and events:
            self._deliver(app, session, events)

    async def _expire_forever(self) -> None:
        store = self.store
        while True:
            try:
                deadline = store.next_deadline()  # type: ignore[attr-defined]
                now = time.monotonic()
                wait = EXPIRY_POLL if deadline is None else min(max(0.0, deadline - now),
                                                                EXPIRY_POLL)
                await asyncio.sleep(wait)
                while True:
                    now = time.monotonic()
                    ended = store.expire(now, limit=EXPIRY_BATCH,  # type: ignore[attr-defined]
                                         busy=self._busy.__contains__)
                    self._ended(ended)
                    deadline = store.next_deadline()  # type: ignore[attr-defined]
                    if deadline is None or deadline > now:
                        break
                    await asyncio.sleep(0)  # a batch at a time: requests go in between
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the timer must outlive any one failure
                self.log.exception("session expiry failed")
                await asyncio.sleep(EXPIRY_POLL)

    def _start_expiry(self) -> None:
        if self._expiry is None and hasattr(self.store, "next_deadline") \
                and hasattr(self.store, "expire"):
            self._expiry = asyncio.get_running_loop().create_task(self._expire_forever())

    async def _stop(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            try:
                await self._expiry
            except asyncio.CancelledError:
                pass
            self._expiry = None
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    # -- ASGI -------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self._start_expiry()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self._stop()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        self._start_expiry()
        status, headers, body, request_headers = await self._handle(scope, receive)
        if (self.compress_responses and status == 200 and len(body) >= COMPRESS_MIN
                and accepts(request_headers.get("accept-encoding"), "gzip")):
            body = zlib.compress(body, 6, wbits=31)
            headers.append(("content-encoding", "gzip"))
        headers.append(("content-length", str(len(body))))
        await send({"type": "http.response.start", "status": status,
                    "headers": [(k.encode("latin-1"), v.encode("latin-1"))
                                for k, v in headers]})
        await send({"type": "http.response.body", "body": body})

    async def _read(self, receive: Receive, limit: int) -> bytes | None:
        """The body, or None if it passes ``limit`` or the client went away; ``_TimedOut``
        if it stalls for ``body_timeout`` seconds."""
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                if _timeout is not None:  # a timer, not a task per read (Python 3.11+)
                    async with _timeout(self.body_timeout):
                        message = await receive()
                else:  # pragma: no cover - Python 3.10
                    message = await asyncio.wait_for(receive(), self.body_timeout)
            except asyncio.TimeoutError:
                raise _TimedOut() from None
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
                      ) -> tuple[int, Headers, bytes, dict[str, str]]:
        path: str = scope.get("path", "")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        if scope.get("method") != "POST":
            return 405, [*_PLAIN, ("allow", "POST")], b"", headers
        token = None
        if path.startswith(self.path + "/s/"):
            token = path[len(self.path) + 3:]
        elif path != self.path:
            return 404, list(_PLAIN), b"", headers
        client = scope.get("client")
        peer = str(client[0]) if client else None
        throttle = self.config.guards.throttle
        if throttle is not None and peer is not None:
            wait = throttle.retry_after(now=time.monotonic(), address=peer)
            if wait > 0:  # a dict lookup: a locked address costs nothing more
                return 429, [*_CLOSE, ("retry-after", str(math.ceil(wait)))], b"", headers
        content_type = headers.get("content-type", "")
        media = content_type.split(";")[0].strip().lower()
        if media not in CONTENT_TYPES.values() and (
                self.config.strict or media not in DS_CONTENT_TYPES.values()):
            return 415, list(_PLAIN), b"", headers
        if not accepts(headers.get("accept-charset"), "utf-8"):
            return 406, list(_PLAIN), b"", headers
        session = None
        if token is not None:
            session = self.store.get(token)
            if session is None:
                return 404, list(_UNKNOWN_HEADERS), _UNKNOWN_SESSION, headers
        # Before authentication a message is small: bound it before reading a byte of it.
        limit = self.preauth_max_body if session is None or session.username is None \
            else self.max_body
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                return 400, list(_CLOSE), b"", headers
            if int(declared) > limit:
                return 413, list(_CLOSE), b"", headers
        try:
            body = await self._read(receive, limit)
        except _TimedOut:
            return 408, list(_CLOSE), b"", headers
        if body is None:
            return 413, list(_CLOSE), b"", headers
        coding = headers.get("content-encoding")
        if coding is not None:
            try:
                body = inflate(body, coding, limit)
            except BadBody as bad:
                return bad.status, list(_PLAIN), b"", headers
        fresh = None
        if token is None:
            fresh, token = self._new_session(scope)
        status, out_headers, out = await self._serialized(
            token, fresh, body, content_type, headers.get(HMAC_HEADER), peer)
        return status, out_headers, out, headers

    # -- one exchange -------------------------------------------------------------------------

    async def _serialized(self, token: str, fresh: ServerSession | None, body: bytes,
                          content_type: str, hmac: str | None,
                          peer: str | None) -> tuple[int, Headers, bytes]:
        """Run one exchange with the session of ``token`` (``fresh``: a new one), one request
        per session at a time (sessions are not thread-safe), off the event loop for large
        bodies."""
        lock, users = self._busy.get(token, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._busy[token] = (lock, users + 1)
        try:
            async with lock:
                if fresh is not None:
                    session = fresh
                    app = self.app_factory() if self.app_factory else self.registry
                else:
                    # As the last request left it (that may have been while we read the body).
                    found = self.store.get(token)
                    if found is None:
                        return 404, list(_UNKNOWN_HEADERS), _UNKNOWN_SESSION
                    session, app = found, self._apps.get(token, self.registry)
                if len(body) >= self.offload_min:
                    if self._pool is None:
                        self._pool = ThreadPoolExecutor(1, thread_name_prefix="omadm-dm")
                    outcome = await asyncio.get_running_loop().run_in_executor(
                        self._pool, self._exchange, session, token, app, body, content_type,
                        hmac, peer)
                else:
                    outcome = self._exchange(session, token, app, body, content_type, hmac,
                                             peer)
                return self._settle(session, token, app, outcome)
        finally:
            lock, users = self._busy[token]
            if users <= 1:
                del self._busy[token]
            else:
                self._busy[token] = (lock, users - 1)

    def _settle(self, session: ServerSession, token: str, app: ServerApp,
                outcome: _Outcome) -> tuple[int, Headers, bytes]:
        """Apply an exchange's outcome to the store (on the event loop)."""
        if outcome.action == "drop":
            self.store.delete(token)
            self._apps.pop(token, None)
            self.sessions_failed += 1
        elif outcome.action == "put":
            try:
                self.store.put(token, session)
            except StoreFull as full:
                self.store.delete(token)
                self._apps.pop(token, None)
                self.sessions_failed += 1
                events = session.abandon("store_full")
                if events:
                    self._deliver(app, session, events)
                self.log.warning("session store full: an authenticated session was refused")
                return 503, [*_CLOSE, ("retry-after", str(math.ceil(full.retry_after)))], b""
            if session.state.name not in ("CLOSED", "ABORTED", "ERROR"):
                self._apps[token] = app
            elif not outcome.was_over:
                # Kept (answers a retransmitted last message from the cache) until it expires.
                self._apps.pop(token, None)
                if session.end_reason == "completed":
                    self.sessions_completed += 1
                else:
                    self.sessions_failed += 1
        return outcome.status, outcome.headers, outcome.body

    def _new_session(self, scope: Scope) -> tuple[ServerSession, str]:
        config = self.config
        token = secrets.token_urlsafe(24)
        base = self.base_url or self._local_base(scope)
        session = ServerSession(
            server_id=config.server_id, server_uri=f"{base}{self.path}",
            secret_lookup=config.secret_lookup, nonces=config.nonces,
            aauth_type=config.aauth_type, server_secret=config.server_secret,
            server_auth_type=config.server_auth_type, max_msg_size=config.max_msg_size,
            idle_timeout=config.idle_timeout, resp_uri=f"{base}{self.path}/s/{token}",
            guards=config.guards, strict=config.strict,
            accounts_for_device=config.accounts_for_device,
            max_commands_per_message=config.max_commands_per_message)
        return session, token

    @staticmethod
    def _local_base(scope: Scope) -> str:
        """The base URL of the address this request arrived on (the listening socket's,
        never the request's ``Host``)."""
        scheme = scope.get("scheme", "http")
        server = scope.get("server")
        if not server:
            return f"{scheme}://localhost"
        host, port = str(server[0]), server[1]
        if ":" in host:
            host = f"[{host}]"
        default = {"http": 80, "https": 443}.get(scheme)
        return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"

    def _deliver(self, app: ServerApp, session: ServerSession, events: list[ev.Event]) -> None:
        with self._app_lock:
            app(session, events)

    def _exchange(self, session: ServerSession, token: str, app: ServerApp, body: bytes,
                  content_type: str, hmac: str | None, peer: str | None) -> _Outcome:
        """One client message in, one answer out. Runs on the event loop or in the worker
        thread; touches the session and calls the application, never the store."""
        was_over = session.state.name in ("CLOSED", "ABORTED", "ERROR")
        delivering: list[ev.Event] = []
        try:
            events = session.receive(body, now=time.monotonic(), content_type=content_type,
                                     hmac=hmac, peer=peer)
            self._note(session, events, peer)
            delivering = events
            self._deliver(app, session, events)
            out = session.data_to_send()
            after = session.take_events()
            if after:
                delivering = after
                self._deliver(app, session, after)
        except ForeignMessage as exc:
            # Not the session's peer, or not a message: refused; the session goes on as it was.
            self.log.info("refused a foreign message (%s) for session of %s from %s",
                          exc.reason, session.device_id, peer)
            if exc.response:
                return _Outcome(200, self._dm_headers(exc.response), exc.response, "leave")
            return _Outcome(400, list(_PLAIN), b"", "leave")
        except RemoteProtocolError as exc:
            if was_over:
                # Whatever is posted after the end leaves the session, and its count, as
                # they were (a retry gets ``ForeignMessage("session_over")`` before this).
                return _Outcome(400, list(_PLAIN), b"", "leave")
            if exc.reason == "too_many_commands":
                return _Outcome(413, list(_CLOSE), b"", "drop")
            if exc.response:
                # A DM answer exists (SyncHdr Status + 1223): it travels like any other.
                return _Outcome(200, self._dm_headers(exc.response), exc.response, "drop")
            return _Outcome(400, list(_PLAIN), b"", "drop")
        except LocalProtocolError:
            return _Outcome(409, list(_PLAIN), b"", "leave")
        except Exception:  # noqa: BLE001 - any failure inside still gets a defined answer
            self.log.exception("internal error in the session of %s (token %s...)",
                               session.device_id or "?", token[:6])
            try:
                # A command the device never answered (no_status) in the batch the application
                # failed on was not recorded: it goes back like every other unanswered one.
                dropped: list[ev.Event] = [
                    ev.CommandRefused(e.command, "internal_error") for e in delivering
                    if isinstance(e, ev.CommandCompleted) and e.outcome == "no_status"]
                dropped += session.abandon("internal_error")
                if dropped:
                    self._deliver(app, session, dropped)
            except Exception:  # noqa: BLE001
                self.log.exception("the application failed taking back a dropped session")
            return _Outcome(500, list(_CLOSE), b"", "drop")
        headers = [("content-type", out.content_type), ("cache-control", "no-store")]
        if out.hmac:
            headers.append((HMAC_HEADER, out.hmac))
        return _Outcome(200, headers, out.body, was_over=was_over)

    def _note(self, session: ServerSession, events: list[ev.Event], peer: str | None) -> None:
        for event in events:
            if isinstance(event, ev.AuthenticationFailed) and event.reason == "device_not_owned":
                self.log.warning("account %r may not speak for device %r (from %s): refused",
                                 session.policy.username, session.device_id, peer)
            elif isinstance(event, ev.AuthenticationFailed) and event.reason == "throttled":
                self.log.info("throttled: device %r from %s", session.device_id, peer)

    @staticmethod
    def _dm_headers(response: bytes) -> Headers:
        kind = "wbxml" if response[:1] < b"\x04" else "xml"
        return [("content-type", CONTENT_TYPES[kind]), ("cache-control", "no-store")]
