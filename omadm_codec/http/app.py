"""The ASGI application serving OMA DM over HTTP(S) (dm-protocol.md 9): one POST, one DM
message each way; the first answer of a session gives a ``RespURI`` holding an unguessable
token, and every later POST of that session goes there, so the session is found by token,
never by anything the client chose. The token is a bearer secret: it must travel over TLS
(docs/security.md); the session also refuses any message that is not from its own peer
(``ForeignMessage``).

The one idea: a worker keeps nothing of a session between two requests. Each request opens
the session's sealed snapshot in the ``StateStore`` (taking its lock), runs the sans-IO
session, and commits the new snapshot together with what the session did to the device's
durable queue, in one atomic step. So any worker process (``uvicorn --workers N``, several
``omadm-codec serve`` on one port, any balancer) can take any request of any session, and a
worker killed mid-request loses nothing: the device's retransmission finds the snapshot as it
was before that request.

Every request ends in a defined answer: what the session refuses is a DM refusal or a 4xx;
anything that goes wrong inside the server is logged (rate-limited), answered 500, and the
session is dropped with its commands released in the durable queue (``queued`` again if they
never left or are repeatable, else ``unknown``).
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
from collections.abc import Awaitable, Callable, Coroutine, Iterable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import CoroutineType
from typing import Any, TypeVar

from ..errors import ForeignMessage, LocalProtocolError, RemoteProtocolError, SnapshotError
from ..limits import Reservation
from ..security import auth
from ..session import CONTENT_TYPES, DS_CONTENT_TYPES, ServerSession
from ..session import events as ev
from ..session.guards import SessionGuards
from ..session.states import TERMINAL
from .config import ServerApp, ServerConfig
from .credentials import AccountMissing, RequestNonces, RequestSecrets
from .delivery import Delivery
from .logs import install_log_limits
from .ownership import ClaimMissing, RequestClaim
from .registry import DeviceRegistry, run_now
from .state import (
    AuthState,
    SessionBusy,
    SessionCommit,
    SessionConflict,
    SessionRecord,
    StateStore,
    StateUnavailable,
    ThrottleState,
    new_token,
    token_tag,
)
from .state_memory import MemoryState
from .throttling import RequestThrottle, ThrottleMissing, read_missing
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
Observer = Callable[[ServerSession, list[ev.Event]], None]
Headers = list[tuple[str, str]]
Reply = tuple[int, Headers, bytes]
T = TypeVar("T")

_timeout = getattr(asyncio, "timeout", None)

PLAIN: Headers = [("cache-control", "no-store")]
CLOSE: Headers = [("cache-control", "no-store"), ("connection", "close")]
# An unknown or expired session token: there is no session to answer in DM terms
# (docs/interop.md); the body says what happened.
UNKNOWN_SESSION = b"unknown or expired DM session: start a new one\n"
UNKNOWN_HEADERS: Headers = [*PLAIN, ("content-type", "text/plain")]
EXPIRY_BATCH = 256
"""Expired sessions the reaper drops before it lets other work run."""
MAX_RUNS = 4
"""A request runs its session at most this often (accounts loaded late, a nonce or a
queued command taken meanwhile by another worker) before it answers 503."""


class _Redo(Exception):
    """Run the request again from the stored state (nothing was written)."""


@dataclasses.dataclass(slots=True)
class _Reads:
    """What one request read from a shared store for its session's guards (failure records,
    device claims), kept across its runs."""

    records: dict[tuple[str, str], ThrottleState | None] = dataclasses.field(
        default_factory=dict)
    trusted: dict[tuple[str, str], float] = dataclasses.field(default_factory=dict)
    claims: dict[tuple[str, str], bool] = dataclasses.field(default_factory=dict)
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    """Session counts of the capped tiers, read ahead with a new session's account."""


_NOT_STARTED = object()
_DM_MEDIA = frozenset(CONTENT_TYPES.values())
_DS_MEDIA = frozenset(DS_CONTENT_TYPES.values())
_NOTED = frozenset({ev.AuthenticationFailed, ev.SessionStarted})
"""The events ``_note`` looks at (the session makes them of these classes exactly)."""


class _Resumed:
    """Awaits ``waiter``, a coroutine already run up to its first suspension, which gave
    ``yielded`` (``_NOT_STARTED``: any awaitable, not run yet): the rest of
    ``await waiter``, resumed where it stopped (what ``yield from`` does from the start)."""

    __slots__ = ("waiter", "yielded")

    def __init__(self, waiter: Any, yielded: Any) -> None:
        self.waiter = waiter
        self.yielded = yielded

    def __await__(self) -> Any:
        waiter, value = self.waiter, self.yielded
        if value is _NOT_STARTED:
            return (yield from waiter.__await__())
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                waiter.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - a cancellation goes to the waiter
                try:
                    value = waiter.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    value = waiter.send(sent)
                except StopIteration as done:
                    return done.value


class _TimedOut(Exception):
    """The request body stalled for longer than ``body_timeout``."""


@dataclass(slots=True)
class _Outcome:
    reply: Reply
    session: ServerSession | None
    batches: list[list[ev.Event]]
    committed: bool = False
    """The session's commit went through (it released the lock itself)."""


def _unknown() -> _Outcome:
    return _Outcome((404, list(UNKNOWN_HEADERS), UNKNOWN_SESSION), None, [])


def _busy(retry_after: float) -> _Outcome:
    return _Outcome((503, [*CLOSE, ("retry-after", str(max(1, math.ceil(retry_after))))], b""),
                    None, [])


class DMServerApp:
    """ASGI application serving OMA DM on ``path`` (and ``path/s/<token>`` for RespURI).

    ``store`` is where everything lives between requests (default: an in-process
    ``MemoryState`` sharing ``config.nonces``; a ``RedisState`` for several workers).
    ``registry`` is the operator's view of the same store (accounts, which devices each
    account may speak for, queues, outcomes). The durable queue of each device is delivered
    by every session: queued commands go out when the device's session starts, their outcomes
    are recorded once, and a session that ends without an answer puts them back (never sent,
    or repeatable) or marks them ``unknown``.

    ``app_factory()`` gives a server application for one new session, called inline with
    the session and each batch of its events (it may queue commands); it lives in this
    process, so it needs a local store. ``observers`` are called after each request's commit
    with the same batches (logging, metrics): they run in any worker.

    HTTP rules (dm-protocol.md 9.1): POST only (405), a DM media type (415; the SyncML DS types
    too unless ``config.strict``: libdmclient as shipped posts them, the quirk
    ``ds_media_type``, answered in the DM type), a body of at most ``max_body`` bytes after
    any ``Content-Encoding: gzip|deflate`` is undone (413; another coding 415, a corrupt one
    400), ``Accept-Charset`` must allow UTF-8 (406, no body). The ``x-syncml-hmac`` of a
    compressed request is checked over the DM message, not the compressed bytes. When the
    store cannot be reached, or the session stays busy with another request, the answer is
    503 with ``Retry-After`` (the device retries; nothing was lost).

    Bounds (docs/limits.md): a message of a session that has not authenticated (every POST
    to ``path``, and a challenged session's next ones) may carry ``preauth_max_body`` bytes
    (for a new session a declared ``Content-Length`` over it is refused from the header: 413,
    connection closed); a body that stalls for ``body_timeout`` seconds gets 408; a client
    address locked by the failure throttle gets 429 with ``Retry-After`` before anything is
    read. Bodies of ``offload_min`` bytes or more are decoded and answered in a worker thread,
    so they do not stall the event loop (other clients). At most ``max_sessions`` running
    authenticated sessions and ``max_preauth_sessions`` sessions not yet authenticated are
    live (None: no cap): past the first cap a new authentication gets 503 with
    ``Retry-After`` (nothing authenticated is ever evicted); past the second the least
    recently active stranger makes room for the new one.

    The RespURI is ``base_url`` + ``path`` + ``/s/<token>``; without ``base_url`` it is built
    from the address the request arrived on (the listening socket), never from the request's
    ``Host`` header.
    """

    def __init__(self, config: ServerConfig, *, path: str = "/dm",
                 store: StateStore | None = None, registry: DeviceRegistry | None = None,
                 app_factory: Callable[[], ServerApp] | None = None,
                 observers: Iterable[Observer] = (), max_body: int = MAX_BODY,
                 base_url: str | None = None, compress_responses: bool = False,
                 seal_key: bytes | None = None, lock_ms: int = 10_000,
                 busy_wait: float = 2.0, retention: float = 60.0,
                 reap_interval: float = 5.0, max_sessions: int | None = 100_000,
                 max_preauth_sessions: int | None = 10_000,
                 preauth_max_body: int = PREAUTH_MAX_BODY, body_timeout: float = BODY_TIMEOUT,
                 offload_min: int = OFFLOAD_MIN) -> None:
        self.config = config
        self.path = path.rstrip("/") or "/dm"
        if store is None:
            store = registry.state if registry is not None else MemoryState(
                nonces=config.nonces)
        if isinstance(store, MemoryState):
            store.use_nonces(config.nonces)  # one process: the configured manager is the store
        if registry is None:
            registry = DeviceRegistry(state=store)
        elif registry.state is not store:
            raise ValueError("the registry must be a view of the app's store")
        if app_factory is not None and not store.local:
            raise ValueError("app_factory applications live in one process: with a shared "
                             "store, use observers and the durable queue")
        if seal_key is None:
            if not store.local:
                raise ValueError("a shared store needs the snapshot seal key every worker "
                                 "shares (seal_key)")
            seal_key = secrets.token_bytes(32)
        for cap in (max_sessions, max_preauth_sessions):
            if cap is not None and cap < 1:
                raise ValueError("session caps must be >= 1 (or None: no cap)")
        self.store = store
        self.registry = registry
        self._claims_by_registry = config.guards.device_claim is None
        if self._claims_by_registry:
            # The registry says which devices each account may speak for (on a shared
            # store: the store, for the accounts it holds).
            config.guards = dataclasses.replace(config.guards, device_claim=self._claim)
        self.app_factory = app_factory
        self.observers = list(observers)
        self.max_body = max_body
        self.preauth_max_body = min(preauth_max_body, max_body)
        self.body_timeout = body_timeout
        self.offload_min = offload_min
        self.base_url = base_url.rstrip("/") if base_url else None
        self.compress_responses = compress_responses
        """gzip responses of at least ``COMPRESS_MIN`` bytes to clients whose
        ``Accept-Encoding`` allows it (off by default: few devices ask)."""
        self.seal_key = seal_key
        self.lock_ms = lock_ms
        """How long a request may hold its session's lock (a killed worker's lock expires)."""
        self.busy_wait = busy_wait
        """Seconds a request waits for its session's lock before answering 503."""
        self.retention = retention
        """Seconds an ended session is kept, to answer a retransmitted last message."""
        self.reap_interval = reap_interval
        """Seconds between two looks for expired sessions with commands in flight."""
        self.max_sessions = max_sessions
        """Live authenticated sessions at most: a new authentication beyond it gets 503 with
        Retry-After (None: no cap)."""
        self.max_preauth_sessions = max_preauth_sessions
        """Live sessions not yet authenticated at most: beyond it the least recently active
        of them is evicted for a new one (None: no cap; with neither cap, sessions are not
        counted at all)."""
        # The application of each live session, by RespURI token (local stores only).
        self._apps: dict[str, ServerApp] = {}
        # The bytes of large objects in flight each live session holds in this process (its
        # share of ``guards.incoming_budget``), by RespURI token.
        self._held: dict[str, Reservation] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._app_lock = threading.Lock()
        self.log = logging.getLogger("omadm_codec.http")
        install_log_limits()
        self.sessions_completed = 0
        self.sessions_failed = 0

    def _claim(self, account: str, device_id: str) -> bool:
        return self.registry.claim(account, device_id)  # whichever registry is current

    # -- background work ---------------------------------------------------------------------

    async def reap(self, now: float | None = None) -> int:
        """Settle the commands of sessions that expired (TTL) in flight: ``unknown``, or
        queued again when repeatable. Returns how many changed. Runs by itself every
        ``reap_interval`` seconds while the app serves."""
        changed = await self.store.reap(time.time() if now is None else now)
        if (self._apps or self._held) and isinstance(self.store, MemoryState):
            # The applications and held bytes of sessions that expired (they get no event:
            # the session is gone with its TTL).
            for token in [t for t in self._apps if not self.store.alive(t)]:
                del self._apps[token]
                self.sessions_failed += 1
            for token in [t for t in self._held if not self.store.alive(t)]:
                self._held.pop(token).release()
        return changed

    def sweep(self, now: float | None = None) -> int:
        """Time out, now, every session of the in-process store whose timer ends by ``now``
        (wall-clock seconds, the sessions' clock; default: now), without waiting for their
        TTL: each application gets its session's ``SessionEnded("timeout")`` events, and the
        commands are settled as for any session that ends unanswered. Returns how many
        running sessions ended. For tests and callers without an event loop; a server does
        this by itself (TTL and ``reap``)."""
        if not isinstance(self.store, MemoryState):
            raise RuntimeError("sweep needs the in-process store: the reaper runs by itself")
        coro = self._sweep(time.time() if now is None else now)
        try:
            coro.send(None)
        except StopIteration as stop:
            return int(stop.value)
        coro.close()  # pragma: no cover - the in-process store never waits
        raise RuntimeError("the in-process store waited")

    async def _sweep(self, now: float) -> int:
        assert isinstance(self.store, MemoryState)
        store, config, ended = self.store, self.config, 0
        for token in store.due(now):
            owner = secrets.token_hex(8)
            try:
                record = await store.session_open(token, owner, self.lock_ms)
            except SessionBusy:
                continue  # a request of it is in flight: its own commit decides
            if record is None:
                continue
            session = ServerSession.restore(
                record.snapshot, secret_lookup=config.secret_lookup, nonces=config.nonces,
                server_secret=config.server_secret, key=self.seal_key, guards=config.guards,
                accounts_for_device=config.accounts_for_device)
            events: list[ev.Event] = []
            if session.state not in TERMINAL:
                events = session.handle_timer(now=now) or session.abandon("timeout")
                self._call(self._apps.pop(token, None), session, events)
                ended += 1
                self.sessions_failed += 1
            self._let_go(session)
            held = self._held.pop(token, None)
            if held is not None:
                held.release()
            delivery = Delivery()
            delivery.feed(events)
            await store.session_commit(token, SessionCommit(
                device_id=record.device_id, version=record.version, owner=owner,
                snapshot=None, ttl=0, now=now, complete=delivery.complete,
                release=delivery.release, tier=self._tier(session)))
        await self.reap(now)
        return ended

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self.reap_interval)
            try:
                if isinstance(self.store, MemoryState):
                    # Expired sessions go a batch at a time: requests run in between.
                    while self.store.purge(EXPIRY_BATCH) == EXPIRY_BATCH:
                        await asyncio.sleep(0)
                await self.reap()
            except StateUnavailable as exc:
                self.log.warning("reaping expired sessions: %s", exc)
            except Exception:  # noqa: BLE001 - the reaper must outlive any one failure
                self.log.exception("reaping expired sessions failed")

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def _stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            try:
                await self._reaper
            except asyncio.CancelledError:
                pass
            self._reaper = None
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    async def _cpu(self, big: bool, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)``, in the worker thread when ``big`` (a large body must not
        stall the event loop); a session is touched by one request at a time either way."""
        if not big:
            return fn(*args, **kwargs)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="omadm-dm")
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, lambda: fn(*args, **kwargs))

    # -- ASGI ------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self._start_reaper()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self._stop()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if self._reaper is None:
            self._start_reaper()
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
            waiter: Any = receive()
            yielded: Any = _NOT_STARTED  # not a coroutine: awaited the plain way
            ready = False
            if type(waiter) is CoroutineType or isinstance(waiter, Coroutine):
                # The usual body is there already (it came with the headers): taken without
                # arming a timer. One that has to wait is resumed under the timer.
                try:
                    yielded = waiter.send(None)
                except StopIteration as done:
                    message, ready = done.value, True
            try:
                if ready:
                    pass
                elif _timeout is not None:  # a timer, not a task per read (Python 3.11+)
                    async with _timeout(self.body_timeout):
                        message = await _Resumed(waiter, yielded)
                else:  # pragma: no cover - Python 3.10
                    message = await asyncio.wait_for(_Resumed(waiter, yielded),
                                                     self.body_timeout)
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
            return 405, [*PLAIN, ("allow", "POST")], b"", headers
        token = None
        if path.startswith(self.path + "/s/"):
            token = path[len(self.path) + 3:]
        elif path != self.path:
            return 404, list(PLAIN), b"", headers
        client = scope.get("client")
        peer = str(client[0]) if client else None
        throttle = self.config.guards.throttle
        if throttle is not None and peer is not None:
            # The sessions' clock (wall-clock: a snapshot may be restored in another worker).
            wait = throttle.retry_after(now=time.time(), address=peer)
            if wait > 0:  # a dict lookup: a locked address costs nothing more
                return 429, [*CLOSE, ("retry-after", str(math.ceil(wait)))], b"", headers
        content_type = headers.get("content-type", "")
        if content_type not in _DM_MEDIA:  # (a DM type as devices send it: nothing to parse)
            media = content_type.split(";")[0].strip().lower()
            if media not in _DM_MEDIA and (self.config.strict or media not in _DS_MEDIA):
                return 415, list(PLAIN), b"", headers
        charset = headers.get("accept-charset")
        if charset is not None and not accepts(charset, "utf-8"):
            return 406, list(PLAIN), b"", headers
        if token is not None and token_tag(token) is None:
            return 404, list(UNKNOWN_HEADERS), UNKNOWN_SESSION, headers
        # Before authentication a message is small: a new session's is bounded before a byte
        # of it is read; a live session's once its snapshot says whether it authenticated.
        limit = self.max_body
        if token is None or (isinstance(self.store, MemoryState)
                             and self.store.tier_of(token) == "preauth"):
            limit = self.preauth_max_body  # in process, known before reading: a dict lookup
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                return 400, list(CLOSE), b"", headers
            if int(declared) > limit:
                return 413, list(CLOSE), b"", headers
        try:
            body = await self._read(receive, limit)
        except _TimedOut:
            return 408, list(CLOSE), b"", headers
        if body is None:
            return 413, list(CLOSE), b"", headers
        coding = headers.get("content-encoding")
        if coding is not None:
            try:
                body = inflate(body, coding, limit)
            except BadBody as bad:
                return bad.status, list(PLAIN), b"", headers
        hmac = headers.get(HMAC_HEADER)
        try:
            if token is None:
                done = await self._start(scope, body, content_type, hmac, peer)
            else:
                done = await self._continue(token, body, content_type, hmac, peer)
        except StateUnavailable as exc:
            self.log.warning("state store unavailable: %s", exc)
            return 503, [*CLOSE, ("retry-after", "1")], b"", headers
        self._observe(done)
        status, out_headers, out = done.reply
        return status, out_headers, out, headers

    def _observe(self, done: _Outcome) -> None:
        if not self.observers or done.session is None:
            return
        for batch in done.batches:
            for observer in self.observers:
                try:
                    observer(done.session, batch)
                except Exception:  # noqa: BLE001 - an observer's bug is logged, not fatal
                    self.log.exception("an observer failed")

    # -- one request -------------------------------------------------------------------------

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

    async def _start(self, scope: Scope, body: bytes, content_type: str, hmac: str | None,
                     peer: str | None) -> _Outcome:
        """Package 1 on the base path: a new session (its token made once its device is
        known, so the session's keys live with the device's)."""
        config = self.config
        base = self.base_url or self._local_base(scope)
        app = self.app_factory() if self.app_factory is not None else None

        def make(secret_lookup: RequestSecrets, nonces: RequestNonces,
                 guards: SessionGuards) -> ServerSession:
            return ServerSession(
                server_id=config.server_id, server_uri=f"{base}{self.path}",
                secret_lookup=secret_lookup, nonces=nonces, aauth_type=config.aauth_type,
                server_secret=config.server_secret, server_auth_type=config.server_auth_type,
                max_msg_size=config.max_msg_size, idle_timeout=config.idle_timeout,
                guards=guards, strict=config.strict,
                accounts_for_device=config.accounts_for_device,
                max_commands_per_message=config.max_commands_per_message)

        def name(session: ServerSession) -> str:
            token = new_token(session.device_id)
            session.resp_uri = f"{base}{self.path}/s/{token}"
            return token

        loaded: dict[str, AuthState] = {}
        queued: dict[str, list[tuple[str, str]]] = {}
        reads = _Reads()
        for _ in range(MAX_RUNS):
            try:
                return await self._run(make, name, None, app, body, content_type, hmac, peer,
                                       loaded, queued, reads)
            except _Redo:
                continue
        return _busy(1)

    async def _continue(self, token: str, body: bytes, content_type: str,
                        hmac: str | None, peer: str | None) -> _Outcome:
        owner = secrets.token_hex(8)
        waited, pause = 0.0, 0.005
        while True:
            try:
                record = await self.store.session_open(token, owner, self.lock_ms)
                break
            except SessionBusy as busy:
                # Another request of this session (a retransmission, a racing duplicate) is
                # running: wait for it, then answer from what it left (the cache).
                if waited >= self.busy_wait:
                    return _busy(busy.retry_after)
                await asyncio.sleep(pause)
                waited += pause
                pause = min(pause * 2, 0.1)
        if record is None:
            self._apps.pop(token, None)
            held = self._held.pop(token, None)
            if held is not None:
                held.release()
            return _unknown()
        config = self.config
        app = self._apps.get(token)

        def restore(secret_lookup: RequestSecrets, nonces: RequestNonces,
                    guards: SessionGuards) -> ServerSession:
            held = self._held.pop(token, None)
            if held is not None:
                held.release()  # the restored session adopts its bytes again
            return ServerSession.restore(record.snapshot, secret_lookup=secret_lookup,
                                         nonces=nonces, server_secret=config.server_secret,
                                         key=self.seal_key, guards=guards,
                                         accounts_for_device=config.accounts_for_device)

        done = None
        try:
            loaded: dict[str, AuthState] = {}
            reads = _Reads()
            for _ in range(MAX_RUNS):
                try:
                    done = await self._run(restore, lambda _s: token, record, app, body,
                                           content_type, hmac, peer, loaded, {}, reads)
                    return done
                except _Redo:
                    continue
            return _busy(1)
        except SnapshotError as exc:
            self.log.error("refused a stored session snapshot (%s): token %s..., device tag %s",
                           exc.reason, token[:8], token_tag(token))
            return _unknown()
        finally:
            if done is None or not done.committed:
                # A request that failed leaves the session as it was (for the device's
                # retransmission) and gives its lock back.
                try:
                    await self.store.session_release(token, owner)
                except StateUnavailable:
                    pass  # the lock expires by itself

    async def _load_into(self, loaded: dict[str, AuthState], account: str) -> None:
        loaded[account] = await self.store.load_auth(account)

    async def _queue_into(self, queued: dict[str, list[tuple[str, str]]],
                          device_id: str) -> None:
        queued[device_id] = await self.store.claimable(device_id)

    async def _start_into(self, loaded: dict[str, AuthState],
                          queued: dict[str, list[tuple[str, str]]], counts: dict[str, int],
                          account: str, device_id: str) -> None:
        """Package 1: the account, the device's queue and the session counts the caps will
        ask for, in one round trip."""
        reads = await self.store.start_reads(account, device_id, self._capped_tiers())
        loaded[account] = reads.auth
        queued[device_id] = reads.claimable
        counts.update(reads.counts)

    def _needs_auth_state(self, session: ServerSession) -> bool:
        """Whether this message of ``session`` will touch its account's nonces (so they are
        read before it runs, not discovered missing half-way): every message of an HMAC
        session, and while the server authenticates itself. A local store is read always
        (it costs nothing)."""
        if self.store.local:
            return True
        config = self.config
        return (session.policy.accepted_type == auth.META_MAC
                or (config.server_secret is not None and (
                    config.server_auth_type == "HMAC" or not session._server_authenticated)))

    def _keep(self, token: str, session: ServerSession) -> None:
        """After a commit: the bytes of a large object in flight stay counted against the
        budget while the session lives (in this process); anything else is given back."""
        incoming = session._incoming
        if incoming is None or session.state in TERMINAL:
            if incoming is not None:
                incoming.reservation.release()
            return
        self._held[token] = incoming.reservation

    @staticmethod
    def _let_go(session: ServerSession) -> None:
        """A run whose session is not kept gives back what it adopted."""
        if session._incoming is not None:
            session._incoming.reservation.release()

    async def _run(self, make: Callable[[RequestSecrets, RequestNonces, SessionGuards],
                                        ServerSession],
                   name: Callable[[ServerSession], str], record: SessionRecord | None,
                   app: ServerApp | None, body: bytes, content_type: str,
                   hmac: str | None, peer: str | None, loaded: dict[str, AuthState],
                   queued: dict[str, list[tuple[str, str]]], reads: _Reads) -> _Outcome:
        """Run the session on one message and commit; ``_Redo`` if it must run again (with
        ``loaded``, the accounts read so far, ``queued``, a device's queue read ahead, and
        ``reads``, the failure records, device claims and session counts read, kept)."""
        store = self.store
        load = None
        if isinstance(store, MemoryState):  # read on the spot: no second run of the session
            def load(user: str) -> AuthState:
                return run_now(store.load_auth(user))
        nonces = RequestNonces(loaded, load, like=self.config.nonces)
        guards = self.config.guards
        throttle = None
        if not store.local:
            # Failures count, and devices are bound, in the store, for every worker.
            claim = guards.device_claim
            if self._claims_by_registry:
                claim = RequestClaim(loaded, reads.claims, self._claim)
            if guards.throttle is not None:
                throttle = RequestThrottle(guards.throttle, reads.records, reads.trusted)
            guards = dataclasses.replace(guards, throttle=throttle, device_claim=claim)
        session = make(RequestSecrets(loaded, self.config.secret_lookup, nonces), nonces,
                       guards)
        kept = False
        try:
            done = await self._exchange(session, name, record, app, body, content_type, hmac,
                                        peer, loaded, queued, nonces, reads.counts)
            kept = done.committed and done.session is session
            if throttle is not None:
                await throttle.flush(store, self.log)
            return done
        finally:
            if not kept:
                self._let_go(session)

    async def _exchange(self, session: ServerSession, name: Callable[[ServerSession], str],
                        record: SessionRecord | None, app: ServerApp | None, body: bytes,
                        content_type: str, hmac: str | None, peer: str | None,
                        loaded: dict[str, AuthState], queued: dict[str, list[tuple[str, str]]],
                        nonces: RequestNonces, counts: dict[str, int]) -> _Outcome:
        store = self.store
        user = session.username
        was_auth = user is not None
        was_over = session.state in TERMINAL
        if record is not None and not was_auth and len(body) > self.preauth_max_body:
            # A session that has not authenticated takes only small messages.
            return _Outcome((413, list(CLOSE), b""), None, [])
        if user is not None and user not in loaded and self._needs_auth_state(session):
            loaded[user] = await store.load_auth(user)
            nonces.add(user, loaded[user])
        big = len(body) >= self.offload_min
        delivery = Delivery()
        batches: list[list[ev.Event]] = []
        delivering: list[ev.Event] = []
        try:
            if big:
                events = await self._cpu(big, session.receive, body, now=time.time(),
                                         content_type=content_type, hmac=hmac, peer=peer)
            else:  # (the usual body: called here, no coroutine of ``_cpu`` per call)
                events = session.receive(body, now=time.time(), content_type=content_type,
                                         hmac=hmac, peer=peer)
            user = session.username
            if user is not None and user not in loaded and self._needs_auth_state(session):
                loaded[user] = await store.load_auth(user)
                nonces.add(user, loaded[user])
            if self._note(session, events, peer):
                if session.device_id in queued:
                    entries = queued.pop(session.device_id)
                else:
                    entries = await store.claimable(session.device_id)
                delivery.take(session, entries)
            token = name(session)  # before data_to_send: the answer carries it in RespURI
            delivering = list(events)
            batches.append(events)
            out, after = (await self._cpu(big, self._answer, app, session, events, delivering)
                          if big else self._answer(app, session, events, delivering))
            delivery.feed(events)
            if after:
                batches.append(after)
                delivery.feed(after)
        except ThrottleMissing as missing:
            # The failure records of the keys the message names (and, for package 1, its
            # account and queue: the run that follows needs them) in one round.
            throttle = session.guards.throttle
            assert isinstance(throttle, RequestThrottle)
            reads = [read_missing(store, throttle.local, missing, throttle.records,
                                  throttle.trusted)]
            account = next((k for kind, k in missing.keys if kind == "account"), None)
            starting = (record is None and bool(session.device_id)
                        and session.device_id not in queued)
            if starting and account is not None and account not in loaded:
                reads.append(self._start_into(loaded, queued, counts, account,
                                              session.device_id))
            else:
                if account is not None and account not in loaded:
                    reads.append(self._load_into(loaded, account))
                if starting:
                    reads.append(self._queue_into(queued, session.device_id))
            await asyncio.gather(*reads)
            raise _Redo() from missing
        except ClaimMissing as missing:
            # Verified: the account binds its one device now (or learns it is another's).
            reads_of = session.guards.device_claim
            assert isinstance(reads_of, RequestClaim)
            reads_of.claims[(missing.account, missing.device)] = await store.claim_device(
                missing.account, missing.device)
            raise _Redo() from missing
        except AccountMissing as missing:
            if record is None and session.device_id and session.device_id not in queued:
                await self._start_into(loaded, queued, counts, missing.account,
                                       session.device_id)
            else:
                loaded[missing.account] = await store.load_auth(missing.account)
            raise _Redo() from missing
        except ForeignMessage as exc:
            # Not the session's peer, or not a message: refused; the session goes on as it was.
            self.log.info("refused a foreign message (%s) for session of %s from %s",
                          exc.reason, session.device_id, peer)
            if exc.response:
                return _Outcome((200, self._dm_headers(exc.response), exc.response), None, [])
            return _Outcome((400, list(PLAIN), b""), None, [])
        except RemoteProtocolError as exc:
            if was_over:
                # Whatever is posted after the end leaves the session, and its count, as
                # they were (a retry gets ``ForeignMessage("session_over")`` before this).
                return _Outcome((400, list(PLAIN), b""), None, [])
            return await self._refused(session, record, name, app, exc, nonces)
        except LocalProtocolError:
            return _Outcome((409, list(PLAIN), b""), None, [])
        except (StateUnavailable, _Redo):
            raise
        except Exception:  # noqa: BLE001 - any failure inside still gets a defined answer
            return await self._failed(session, record, name, app, batches, delivering, nonces)
        entering = self._tier(session)
        if entering in ("auth", "preauth") and (
                record is None or (entering == "auth" and not was_auth)):
            if (await self._full(entering, counts if record is None else {})
                    and not await self._make_room(entering, record)):
                self.log.warning("session cap reached (%s): a new session was refused", entering)
                if record is None:
                    return _busy(5)
                # A challenged session authenticating now: refused, and it leaves no trace
                # (its place among the unauthenticated is given back).
                events = session.abandon("store_full")
                self._call(app, session, events)
                return await self._end(session, record, name, events, nonces, _busy(5).reply)
        await self._swap(nonces)
        ended = session.state in TERMINAL
        commit = SessionCommit(
            device_id=session.device_id if record is None else record.device_id,
            version=0 if record is None else record.version,
            owner=record.owner if record is not None else "new",
            snapshot=session.snapshot(self.seal_key),
            ttl=min(self.retention, session.idle_timeout) if ended else self._ttl(session),
            now=time.time(), claim=delivery.claim, complete=delivery.complete,
            release=delivery.release, tier=entering)
        try:
            await store.session_commit(token, commit)
        except SessionConflict as exc:
            if record is None and exc.reason == "claimed":
                raise _Redo() from exc  # another session of the device took its commands
            # Our lock expired under us: the device's retransmission finds the stored state.
            self.log.warning("session commit lost (%s)", exc.reason)
            return _busy(1)
        if record is None and app is not None and not ended:
            self._apps[token] = app
        self._keep(token, session)
        if ended and not was_over:
            self._apps.pop(token, None)
            if session.end_reason == "completed":
                self.sessions_completed += 1
            else:
                self.sessions_failed += 1
        headers = [("content-type", out.content_type), ("cache-control", "no-store")]
        if out.hmac:
            headers.append((HMAC_HEADER, out.hmac))
        return _Outcome((200, headers, out.body), session, batches, committed=True)

    @staticmethod
    def _ttl(session: ServerSession) -> float:
        """Seconds a running session lives after this message: its own timer (the short one
        before authentication), else ``idle_timeout``."""
        deadline = session.expires_at()
        if deadline is None:
            return session.idle_timeout
        return max(1.0, min(session.idle_timeout, deadline - time.time()))

    def _tier(self, session: ServerSession) -> str | None:
        """Which session count ``session`` is in: ``preauth``, ``auth``, or ``ended`` (kept
        only to answer a retransmission: counted by neither cap, so a finished session makes
        room at once); None when no cap is set (nothing is counted)."""
        if self.max_sessions is None and self.max_preauth_sessions is None:
            return None
        if session.state in TERMINAL:
            return "ended"
        return "auth" if session.username else "preauth"

    def _capped_tiers(self) -> tuple[str, ...]:
        """The tiers whose sessions are capped (their counts are read ahead at package 1)."""
        return tuple(tier for tier, cap in (("auth", self.max_sessions),
                                            ("preauth", self.max_preauth_sessions))
                     if cap is not None)

    async def _full(self, tier: str | None, counts: dict[str, int]) -> bool:
        """Whether a session entering ``tier`` would pass its cap. ``counts``: the tier
        counts read ahead with the new session's account (one round trip less); a cap is
        never exact across workers anyway (a count, then a commit), so a count read one
        session run earlier bounds the same way."""
        cap = (self.max_sessions if tier == "auth"
               else self.max_preauth_sessions if tier == "preauth" else None)
        if cap is None:
            return False
        count = counts.pop(tier or "", None)
        if count is None:
            count = await self.store.session_count(tier or "")
        return count >= cap

    async def _make_room(self, tier: str | None, record: SessionRecord | None) -> bool:
        """At the cap of strangers, a new one takes the place of the least recently active
        (it has authenticated nothing, so nothing of value is lost); an authenticated session
        is never evicted. True if room was made."""
        if tier != "preauth" or record is not None:
            return False
        token = await self.store.session_evict("preauth")
        if token is None:
            return False
        self._apps.pop(token, None)
        held = self._held.pop(token, None)
        if held is not None:
            held.release()
        return True

    async def _swap(self, nonces: RequestNonces) -> None:
        for account, swaps in nonces.swaps().items():
            if not await self.store.swap_nonces(account, swaps):
                nonces.forget()  # read them again: another worker changed this nonce
                raise _Redo()

    async def _end(self, session: ServerSession, record: SessionRecord,
                   name: Callable[[ServerSession], str], events: list[ev.Event],
                   nonces: RequestNonces, reply: Reply) -> _Outcome:
        """Delete a live session whose request ended it, settling its commands."""
        delivery = Delivery()
        delivery.feed(events)
        await self._swap(nonces)
        token = name(session)
        try:
            await self.store.session_commit(token, SessionCommit(
                device_id=record.device_id, version=record.version, owner=record.owner,
                snapshot=None, ttl=0, now=time.time(), complete=delivery.complete,
                release=delivery.release, tier=self._tier(session)))
        except SessionConflict:
            return _busy(1)
        self._apps.pop(token, None)
        self.sessions_failed += 1
        return _Outcome(reply, session, [events], committed=True)

    async def _refused(self, session: ServerSession, record: SessionRecord | None,
                       name: Callable[[ServerSession], str], app: ServerApp | None,
                       exc: RemoteProtocolError, nonces: RequestNonces) -> _Outcome:
        """A message the session refused: package 1 leaves nothing stored; a live session
        ends, and its commands are settled (``unknown`` if sent, else queued again)."""
        reply: Reply
        if exc.reason == "too_many_commands":
            reply = (413, list(CLOSE), b"")
        elif exc.response:
            reply = (200, self._dm_headers(exc.response), exc.response)
        else:
            reply = (400, list(PLAIN), b"")
        if record is None:
            self.sessions_failed += 1
            return _Outcome(reply, None, [])
        events = session.abandon(exc.reason)
        self._call(app, session, events)
        return await self._end(session, record, name, events, nonces, reply)

    async def _failed(self, session: ServerSession, record: SessionRecord | None,
                      name: Callable[[ServerSession], str], app: ServerApp | None,
                      batches: list[list[ev.Event]], delivering: list[ev.Event],
                      nonces: RequestNonces) -> _Outcome:
        """Something inside the server failed on this message: logged, answered 500, and
        the session dropped. Commands the device answered in this message are recorded; the
        rest (and any the device left without a Status in the batch the application failed
        on) are released like those of any session that ends unanswered."""
        self.log.exception("internal error in the session of %s", session.device_id or "?")
        reply: Reply = (500, list(CLOSE), b"")
        if record is None:
            self.sessions_failed += 1
            return _Outcome(reply, None, [])  # nothing was claimed: the queue is as it was
        try:
            events: list[ev.Event] = []
            failing = {id(e) for e in delivering}
            taken: set[int] = set()
            for event in (e for batch in [*batches, delivering] for e in batch):
                if not isinstance(event, ev.CommandCompleted) or id(event) in taken:
                    continue
                taken.add(id(event))
                if event.outcome == "no_status" and id(event) in failing:
                    events.append(ev.CommandRefused(event.command, "internal_error", sent=True))
                else:
                    events.append(event)
            dropped = session.abandon("internal_error")
            try:
                self._call(app, session, [e for e in events
                                          if isinstance(e, ev.CommandRefused)] + dropped)
            except Exception:  # noqa: BLE001
                self.log.exception("the application failed taking back a dropped session")
            return await self._end(session, record, name, events + dropped, nonces, reply)
        except (StateUnavailable, _Redo):
            raise
        except Exception:  # noqa: BLE001 - the lock is released; the TTL ends the session
            self.log.exception("dropping a failed session failed")
            return _Outcome(reply, None, [])

    def _note(self, session: ServerSession, events: list[ev.Event], peer: str | None) -> bool:
        """Log the refusals worth an operator's eye; True if the session started (one pass
        over a message's events)."""
        if _NOTED.isdisjoint(map(type, events)):
            return False  # (the usual message: a walk in C, not an isinstance per event)
        started = False
        for event in events:
            if isinstance(event, ev.AuthenticationFailed):
                if event.reason == "device_not_owned":
                    self.log.warning("account %r may not speak for device %r (from %s): "
                                     "refused", session.policy.username, session.device_id,
                                     peer)
                elif event.reason == "throttled":
                    self.log.info("throttled: device %r from %s", session.device_id, peer)
            elif isinstance(event, ev.SessionStarted):
                started = True
        return started

    @staticmethod
    def _dm_headers(response: bytes) -> Headers:
        kind = "wbxml" if response[:1] < b"\x04" else "xml"
        return [("content-type", CONTENT_TYPES[kind]), ("cache-control", "no-store")]

    def _answer(self, app: ServerApp | None, session: ServerSession, events: list[ev.Event],
                delivering: list[ev.Event]) -> tuple[Any, list[ev.Event]]:
        """The application on the message's events, the answer, the application on what
        building it ended (in the worker thread for a large body). ``delivering`` ends with
        the batch the application is on, for ``_failed``."""
        self._call(app, session, events)
        out = session.data_to_send()
        after = session.take_events()
        if after:
            delivering[:] = after
            self._call(app, session, after)
        return out, after

    def _call(self, app: ServerApp | None, session: ServerSession,
              events: list[ev.Event]) -> None:
        if app is not None and events:
            with self._app_lock:  # applications are called from one thread at a time
                app(session, events)


__all__ = ["DMServerApp", "Observer"]
