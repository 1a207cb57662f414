"""The DM HTTP(S) binding (dm-protocol.md 9): an ASGI server application, a client transport
on httpx, and a uvicorn thread runner for tests and the demo.

The one idea: HTTP only carries the sans-IO sessions. The server answers each POST with the
message ``ServerSession.data_to_send()`` built; the first answer of a session gives a
``RespURI`` holding an unguessable token, and every later POST of that session goes there, so
the session is found by token (``SessionStore``), never by anything the client chose. The
client follows ``RespURI`` and resends on timeouts through the session's own timer.

Needs the ``http`` extra (``uvicorn``, ``httpx``); importing this module does not.
"""

from __future__ import annotations

import secrets
import socket
import ssl
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import LocalProtocolError, OmaDmError, RemoteProtocolError
from .model import Command
from .nonces import NonceManager
from .session import ClientSession, ServerSession
from .session import events as ev
from .session._common import CONTENT_TYPES, Outgoing

USER_AGENT = "omadm-codec/0.1"
ACCEPT = ", ".join(CONTENT_TYPES.values())
HMAC_HEADER = "x-syncml-hmac"
MAX_BODY = 1 << 20
COMPRESS_MIN = 1024
"""Responses shorter than this are never compressed (gzip would not pay for its header)."""

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ServerApp = Callable[[ServerSession, list[ev.Event]], None]


class _BadBody(Exception):
    """A request body the binding refuses before any DM layer sees it; ``status`` is the
    HTTP answer (413 too large, 415 unknown content coding, 400 corrupt)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _inflate(body: bytes, coding: str, limit: int) -> bytes:
    """The DM message inside a ``Content-Encoding: gzip|deflate`` body (dm-protocol.md 9.1
    lets either side compress). Inflates at most ``limit + 1`` bytes, so a compression bomb
    costs bounded memory and time; ``deflate`` is zlib-wrapped per RFC 9110, raw deflate is
    accepted too (some clients send it)."""
    codings = [c.strip().lower() for c in coding.split(",") if c.strip()]
    for name in reversed(codings):  # applied in order, so undone last-first
        if name == "identity":
            continue
        if name in ("gzip", "x-gzip"):
            wbits = [31]
        elif name == "deflate":
            wbits = [15, -15]
        else:
            raise _BadBody(415)
        for bits in wbits:
            inflater = zlib.decompressobj(bits)
            try:
                plain = inflater.decompress(body, limit + 1)
            except zlib.error:
                continue
            if len(plain) > limit or inflater.unconsumed_tail:
                raise _BadBody(413)
            if not inflater.eof or inflater.unused_data:
                raise _BadBody(400)
            body = plain
            break
        else:
            raise _BadBody(400)
    return body


def _accepts(header: str | None, wanted: str) -> bool:
    """Whether an ``Accept-Charset`` / ``Accept-Encoding`` value allows ``wanted`` (absent
    header: anything goes; ``*`` counts; ``q=0`` refuses)."""
    if header is None:
        return True
    star = False
    for part in header.split(","):
        name, _, params = part.partition(";")
        name = name.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if name == wanted:
            return quality > 0
        if name == "*":
            star = quality > 0
    return star


class SessionStore(Protocol):
    """Where live server sessions are kept between requests, by RespURI token."""

    def get(self, token: str) -> ServerSession | None: ...

    def put(self, token: str, session: ServerSession) -> None: ...

    def delete(self, token: str) -> None: ...


class MemorySessionStore:
    """The default store: a bounded dict in this process (oldest evicted first)."""

    def __init__(self, max_sessions: int = 100_000) -> None:
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, ServerSession] = OrderedDict()

    def get(self, token: str) -> ServerSession | None:
        return self._sessions.get(token)

    def put(self, token: str, session: ServerSession) -> None:
        self._sessions[token] = session
        self._sessions.move_to_end(token)
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)

    def delete(self, token: str) -> None:
        self._sessions.pop(token, None)

    def expire(self, now: float) -> list[tuple[str, ServerSession, list[ev.Event]]]:
        """Run every session's timer; drop the ones that ended. Returns (token, session,
        events) of the sessions that timed out just now."""
        ended = []
        for token, session in list(self._sessions.items()):
            if session.state.name in ("CLOSED", "ABORTED", "ERROR"):
                if session.next_timer() is None and session._last_activity is not None \
                        and now - session._last_activity > session.idle_timeout:
                    del self._sessions[token]
                continue
            events = session.handle_timer(now=now)
            if events:
                ended.append((token, session, events))
                del self._sessions[token]
        return ended

    def __len__(self) -> int:
        return len(self._sessions)


class SnapshotSessionStore:
    """Keeps sessions as ``snapshot()`` bytes in any mapping (a dict, a shelve, a cache
    client's mapping facade), so the HTTP tier holds no session object between requests.

    The seal ``key`` makes stored snapshots unforgeable; secrets and the nonce store are
    supplied again on every restore.
    """

    def __init__(self, config: ServerConfig, key: bytes,
                 mapping: MutableMapping[str, bytes] | None = None) -> None:
        self.config = config
        self.key = key
        self.mapping: MutableMapping[str, bytes] = mapping if mapping is not None else {}

    def get(self, token: str) -> ServerSession | None:
        data = self.mapping.get(token)
        if data is None:
            return None
        return ServerSession.restore(data, secret_lookup=self.config.secret_lookup,
                                     nonces=self.config.nonces,
                                     server_secret=self.config.server_secret, key=self.key)

    def put(self, token: str, session: ServerSession) -> None:
        self.mapping[token] = session.snapshot(self.key)

    def delete(self, token: str) -> None:
        self.mapping.pop(token, None)

    def __len__(self) -> int:
        return len(self.mapping)


@dataclass(slots=True)
class DeviceRegistry:
    """Device accounts and the per-device command queue the server application fills.

    ``enqueue(device_id, commands)`` queues commands for the device's next session (keyed by
    its DevInfo DevId, the SyncHdr Source LocURI); ``outcomes[device_id]`` collects the
    ``CommandCompleted`` events of its sessions.
    """

    secrets: dict[str, str] = field(default_factory=dict)
    """Client user name -> stored ``auth.secret_hash``."""
    queues: dict[str, list[Command]] = field(default_factory=dict)
    outcomes: dict[str, list[ev.CommandCompleted]] = field(default_factory=dict)

    def add_account(self, username: str, password: str) -> None:
        from . import auth

        self.secrets[username] = auth.secret_hash(username, password)

    def enqueue(self, device_id: str, commands: list[Command]) -> None:
        self.queues.setdefault(device_id, []).extend(commands)

    def __call__(self, session: ServerSession, events: list[ev.Event]) -> None:
        """The default server application: hand the device its queue, record outcomes."""
        for event in events:
            if isinstance(event, ev.SessionStarted):
                queued = self.queues.pop(event.device_id, [])
                if queued:
                    session.send_commands(queued)
            elif isinstance(event, ev.CommandCompleted):
                self.outcomes.setdefault(session.device_id, []).append(event)


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
                and _accepts(request_headers.get("accept-encoding"), "gzip")):
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
        if not _accepts(headers.get("accept-charset"), "utf-8"):
            return 406, plain, b"", headers
        coding = headers.get("content-encoding")
        body = await self._read(receive, self.max_body)
        if body is None:
            return 413, plain, b"", headers
        if coding is not None:
            try:
                body = _inflate(body, coding, self.max_body)
            except _BadBody as bad:
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


# -- running uvicorn in a thread ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """Server TLS: certificate chain and key; ``client_ca`` makes client certificates
    mandatory (mutual TLS), verified against that CA."""

    certfile: str
    keyfile: str
    client_ca: str | None = None


class ServerThread:
    """uvicorn serving ``app`` on 127.0.0.1 and a free port, in a daemon thread.

    Use as a context manager; ``url`` is the base URL. Startup and shutdown are bounded by
    ``timeout`` seconds (``RuntimeError`` if the server does not start in time).
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0,
                 tls: TlsConfig | None = None, timeout: float = 10.0,
                 log_level: str = "warning") -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        kwargs: dict[str, Any] = {}
        if tls is not None:
            kwargs.update(ssl_certfile=tls.certfile, ssl_keyfile=tls.keyfile)
            if tls.client_ca is not None:
                kwargs.update(ssl_ca_certs=tls.client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
        config = uvicorn.Config(app, log_level=log_level, lifespan="off",
                                timeout_graceful_shutdown=1, **kwargs)
        self.server = uvicorn.Server(config)
        self.scheme = "https" if tls is not None else "http"
        self.url = f"{self.scheme}://{host}:{self.port}"
        self.timeout = timeout
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + self.timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                self.stop()
                raise RuntimeError("the DM server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(self.timeout)
        self.sock.close()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the client transport -------------------------------------------------------------------

Trace = Callable[[str, Outgoing], None]


def client_tls_context(ca_file: str | None = None, certfile: str | None = None,
                       keyfile: str | None = None) -> ssl.SSLContext:
    """A TLS context trusting ``ca_file`` (default: the system's), with an optional client
    certificate for mutual TLS."""
    context = ssl.create_default_context(cafile=ca_file)
    if certfile is not None:
        context.load_cert_chain(certfile, keyfile)
    return context


def run_http_session(client: ClientSession, url: str, *, http: Any = None,
                     verify: ssl.SSLContext | bool = True, timeout: float = 10.0,
                     max_messages: int = 500, trace: Trace | None = None,
                     compress: bool = False) -> list[ev.Event]:
    """Run ``client`` against the DM server at ``url`` until the session ends.

    ``http`` is an ``httpx.Client`` to reuse (else one is made with ``verify``). Every POST is
    bounded by ``timeout``; a timed-out request goes through the session's timer (resend with
    the same MsgID, then abort). Returns the client's events. Raises ``OmaDmError`` subclasses
    for protocol failures and ``httpx.HTTPError`` for transport failures that outlast the
    retries. ``compress`` gzips request bodies of at least ``COMPRESS_MIN`` bytes
    (``Content-Encoding: gzip``; the ``x-syncml-hmac`` stays over the DM message); compressed
    responses are undone by httpx.
    """
    import httpx

    own = http is None
    if http is None:
        http = httpx.Client(verify=verify, timeout=timeout)
    events: list[ev.Event] = []
    try:
        if client.state.name == "IDLE":
            events.extend(client.start(now=time.monotonic()))
        for _ in range(max_messages):
            out = client.data_to_send(now=time.monotonic())
            if out is None:
                break
            if trace is not None:
                trace("C", out)
            headers = {"content-type": out.content_type, "accept": ACCEPT,
                       "accept-charset": "UTF-8", "user-agent": USER_AGENT,
                       "cache-control": "no-store"}
            if out.hmac:
                headers[HMAC_HEADER] = out.hmac
            content = out.body
            if compress and len(content) >= COMPRESS_MIN:
                content = zlib.compress(content, 6, wbits=31)
                headers["content-encoding"] = "gzip"
            try:
                response = http.post(client.resp_uri or url, content=content, headers=headers)
            except httpx.TimeoutException:
                deadline = client.next_timer()
                events.extend(client.handle_timer(now=deadline if deadline else 0.0))
                continue
            if response.status_code != 200:
                raise RemoteProtocolError("http_status", str(response.status_code),
                                          response=response.content)
            reply = Outgoing(response.content, response.headers.get("content-type", ""),
                             "", True, response.headers.get(HMAC_HEADER))
            if trace is not None:
                trace("S", reply)
            events.extend(client.receive(response.content, now=time.monotonic(),
                                         content_type=reply.content_type, hmac=reply.hmac))
    finally:
        if own:
            http.close()
    return events


__all__ = [
    "DMServerApp", "DeviceRegistry", "MemorySessionStore", "OmaDmError", "ServerConfig",
    "ServerThread", "SessionStore", "SnapshotSessionStore", "TlsConfig", "client_tls_context",
    "run_http_session",
]
