"""The ASGI application serving OMA DM over HTTP(S) (dm-protocol.md 9): one POST, one DM
message each way; the first answer of a session gives a ``RespURI`` holding an unguessable
token, and every later POST of that session goes there, so the session is found by token,
never by anything the client chose.

The one idea: a worker keeps nothing of a session between two requests. Each request opens
the session's sealed snapshot in the ``StateStore`` (taking its lock), runs the sans-IO
session, and commits the new snapshot together with what the session did to the device's
durable queue, in one atomic step. So any worker process (``uvicorn --workers N``, several
``omadm-codec serve`` on one port, any balancer) can take any request of any session, and a
worker killed mid-request loses nothing: the device's retransmission finds the snapshot as it
was before that request.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from ..errors import LocalProtocolError, RemoteProtocolError, SnapshotError
from ..security import auth
from ..session import CONTENT_TYPES, ServerSession
from ..session import events as ev
from ..session.states import TERMINAL
from .config import ServerApp, ServerConfig
from .credentials import AccountMissing, RequestNonces, RequestSecrets
from .delivery import Delivery
from .registry import DeviceRegistry
from .state import (
    AuthState,
    SessionBusy,
    SessionCommit,
    SessionConflict,
    SessionRecord,
    StateStore,
    StateUnavailable,
    new_token,
    token_tag,
)
from .state_memory import MemoryState
from .wire import COMPRESS_MIN, HMAC_HEADER, MAX_BODY, BadBody, accepts, inflate

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Observer = Callable[[ServerSession, list[ev.Event]], None]
Reply = tuple[int, list[tuple[str, str]], bytes]

log = logging.getLogger("omadm_codec.http")
PLAIN = [("cache-control", "no-store")]
MAX_RUNS = 4
"""A request runs its session at most this often (accounts loaded late, a nonce or a
queued command taken meanwhile by another worker) before it answers 503."""


class _Redo(Exception):
    """Run the request again from the stored state (nothing was written)."""


@dataclass(slots=True)
class _Outcome:
    reply: Reply
    session: ServerSession | None
    batches: list[list[ev.Event]]
    committed: bool = False
    """The session's commit went through (it released the lock itself)."""


class _RateLimitedLog:
    """At most one log line per ``interval`` seconds per kind (a flood must not flood the
    log); the lines held back are counted in the next one."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def __call__(self, level: int, kind: str, text: str) -> None:
        now = time.monotonic()
        if now - self._last.get(kind, -1e9) < self.interval:
            self._held[kind] = self._held.get(kind, 0) + 1
            return
        held = self._held.pop(kind, 0)
        self._last[kind] = now
        log.log(level, "%s%s", text, f" ({held} more like it not shown)" if held else "")


class DMServerApp:
    """ASGI application serving OMA DM on ``path`` (and ``path/s/<token>`` for RespURI).

    ``store`` is where everything lives between requests (default: an in-process
    ``MemoryState`` sharing ``config.nonces``; a ``RedisState`` for several workers).
    ``registry`` is the operator's view of the same store (accounts, queues, outcomes). The
    durable queue of each device is delivered by every session: queued commands go out when
    the device's session starts, their outcomes are recorded once, and a session that ends
    without an answer puts them back (never sent, or repeatable) or marks them ``unknown``.

    ``app_factory()`` gives a server application for one new session, called inline with
    the session and each batch of its events (it may queue commands); it lives in this
    process, so it needs a local store. ``observers`` are called after each request's commit
    with the same batches (logging, metrics): they run in any worker.

    HTTP rules (dm-protocol.md 9.1): POST only (405), a DM media type (415), a body of at most
    ``max_body`` bytes after any ``Content-Encoding: gzip|deflate`` is undone (413; another
    coding 415, a corrupt one 400), ``Accept-Charset`` must allow UTF-8 (406, no body). The
    ``x-syncml-hmac`` of a compressed request is checked over the DM message, not the
    compressed bytes. When the store cannot be reached, or the session stays busy with another
    request, the answer is 503 with ``Retry-After`` (the device retries; nothing was lost).
    """

    def __init__(self, config: ServerConfig, *, path: str = "/dm",
                 store: StateStore | None = None, registry: DeviceRegistry | None = None,
                 app_factory: Callable[[], ServerApp] | None = None,
                 observers: Iterable[Observer] = (), max_body: int = MAX_BODY,
                 base_url: str | None = None, compress_responses: bool = False,
                 seal_key: bytes | None = None, lock_ms: int = 10_000,
                 busy_wait: float = 2.0, retention: float = 60.0,
                 reap_interval: float = 5.0, max_sessions: int | None = None,
                 max_preauth_sessions: int | None = None) -> None:
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
        self.store = store
        self.registry = registry
        self.app_factory = app_factory
        self.observers = list(observers)
        self.max_body = max_body
        self.base_url = base_url
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
        Retry-After (None: no cap, and no counting)."""
        self.max_preauth_sessions = max_preauth_sessions
        """Live sessions not yet authenticated at most: a new one beyond it gets 503."""
        # The application of each live session, by RespURI token (local stores only).
        self._apps: dict[str, ServerApp] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._log = _RateLimitedLog()
        self.sessions_completed = 0
        self.sessions_failed = 0

    # -- background work ---------------------------------------------------------------------

    async def reap(self, now: float | None = None) -> int:
        """Settle the commands of sessions that expired (TTL) in flight: ``unknown``, or
        queued again when repeatable. Returns how many changed. Runs by itself every
        ``reap_interval`` seconds while the app serves."""
        changed = await self.store.reap(time.time() if now is None else now)
        if self._apps and isinstance(self.store, MemoryState):
            # The applications of sessions that expired (they get no event: the session
            # is gone with its TTL).
            for token in [t for t in self._apps if not self.store.alive(t)]:
                del self._apps[token]
                self.sessions_failed += 1
        return changed

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self.reap_interval)
            try:
                await self.reap()
            except StateUnavailable as exc:
                self._log(logging.WARNING, "reap", f"reaping expired sessions: {exc}")
            except Exception:  # noqa: BLE001 - the reaper must outlive any one failure
                log.exception("reaping expired sessions failed")

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    # -- ASGI ------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self._start_reaper()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self._reaper is not None:
                        self._reaper.cancel()
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
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        if scope.get("method") != "POST":
            return 405, [*PLAIN, ("allow", "POST")], b"", headers
        token = None
        if path.startswith(self.path + "/s/"):
            token = path[len(self.path) + 3:]
        elif path != self.path:
            return 404, list(PLAIN), b"", headers
        content_type = headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() not in CONTENT_TYPES.values():
            return 415, list(PLAIN), b"", headers
        if not accepts(headers.get("accept-charset"), "utf-8"):
            return 406, list(PLAIN), b"", headers
        coding = headers.get("content-encoding")
        body = await self._read(receive, self.max_body)
        if body is None:
            return 413, list(PLAIN), b"", headers
        if coding is not None:
            try:
                body = inflate(body, coding, self.max_body)
            except BadBody as bad:
                return bad.status, list(PLAIN), b"", headers
        hmac = headers.get(HMAC_HEADER)
        try:
            if token is None:
                done = await self._start(scope, headers, body, content_type, hmac)
            else:
                done = await self._continue(token, body, content_type, hmac)
        except StateUnavailable as exc:
            self._log(logging.WARNING, "store", f"state store unavailable: {exc}")
            return 503, [*PLAIN, ("retry-after", "1")], b"", headers
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
                    self._log(logging.ERROR, "observer", "an observer failed")

    # -- one request -------------------------------------------------------------------------

    def _base(self, scope: Scope, headers: dict[str, str]) -> str:
        if self.base_url is not None:
            return self.base_url
        host = headers.get("host") or "127.0.0.1"
        return f"{scope.get('scheme', 'http')}://{host}"

    async def _start(self, scope: Scope, headers: dict[str, str], body: bytes,
                     content_type: str, hmac: str | None) -> _Outcome:
        """Package 1 on the base path: a new session (its token made once its device is
        known, so the session's keys live with the device's)."""
        config = self.config
        base = self._base(scope, headers)
        app = self.app_factory() if self.app_factory is not None else None

        def make(secret_lookup: RequestSecrets, nonces: RequestNonces) -> ServerSession:
            return ServerSession(
                server_id=config.server_id, server_uri=f"{base}{self.path}",
                secret_lookup=secret_lookup, nonces=nonces, aauth_type=config.aauth_type,
                server_secret=config.server_secret, server_auth_type=config.server_auth_type,
                max_msg_size=config.max_msg_size, idle_timeout=config.idle_timeout)

        def name(session: ServerSession) -> str:
            token = new_token(session.device_id)
            session.resp_uri = f"{base}{self.path}/s/{token}"
            return token

        loaded: dict[str, AuthState] = {}
        queued: dict[str, list[tuple[str, str]]] = {}
        for _ in range(MAX_RUNS):
            try:
                return await self._run(make, name, None, app, body, content_type, hmac,
                                       loaded, queued)
            except _Redo:
                continue
        return _Outcome((503, [*PLAIN, ("retry-after", "1")], b""), None, [])

    async def _continue(self, token: str, body: bytes, content_type: str,
                        hmac: str | None) -> _Outcome:
        if token_tag(token) is None:
            return _Outcome((404, list(PLAIN), b""), None, [])
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
                    return _Outcome((503, [*PLAIN, ("retry-after", str(
                        max(1, round(busy.retry_after))))], b""), None, [])
                await asyncio.sleep(pause)
                waited += pause
                pause = min(pause * 2, 0.1)
        if record is None:
            self._apps.pop(token, None)
            return _Outcome((404, list(PLAIN), b""), None, [])
        config = self.config
        app = self._apps.get(token)

        def restore(secret_lookup: RequestSecrets, nonces: RequestNonces) -> ServerSession:
            return ServerSession.restore(record.snapshot, secret_lookup=secret_lookup,
                                         nonces=nonces, server_secret=config.server_secret,
                                         key=self.seal_key)

        done = None
        try:
            loaded: dict[str, AuthState] = {}
            for _ in range(MAX_RUNS):
                try:
                    done = await self._run(restore, lambda _s: token, record, app, body,
                                           content_type, hmac, loaded, {})
                    return done
                except _Redo:
                    continue
            return _Outcome((503, [*PLAIN, ("retry-after", "1")], b""), None, [])
        except SnapshotError as exc:
            self._log(logging.ERROR, "seal", f"refused a stored session snapshot "
                      f"({exc.reason}): token {token[:8]}..., device tag {token_tag(token)}")
            return _Outcome((404, list(PLAIN), b""), None, [])
        finally:
            if done is None or not done.committed:
                # A request that failed leaves the session as it was (for the device's
                # retransmission) and gives its lock back.
                try:
                    await self.store.session_release(token, owner)
                except StateUnavailable:
                    pass  # the lock expires by itself

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

    async def _run(self, make: Callable[[RequestSecrets, RequestNonces], ServerSession],
                   name: Callable[[ServerSession], str], record: SessionRecord | None,
                   app: ServerApp | None, body: bytes, content_type: str,
                   hmac: str | None, loaded: dict[str, AuthState],
                   queued: dict[str, list[tuple[str, str]]]) -> _Outcome:
        """Run the session on one message and commit; ``_Redo`` if it must run again (with
        ``loaded``, the accounts read so far, and ``queued``, a device's queue read ahead,
        kept)."""
        store = self.store
        nonces = RequestNonces(loaded)
        session = make(RequestSecrets(loaded, self.config.secret_lookup), nonces)
        user = session.username
        was_auth = user is not None
        if user is not None and user not in loaded and self._needs_auth_state(session):
            loaded[user] = await store.load_auth(user)
            nonces.add(user, loaded[user])
        delivery = Delivery()
        batches: list[list[ev.Event]] = []
        try:
            events = session.receive(body, now=time.time(), content_type=content_type,
                                     hmac=hmac)
            user = session.username
            if user is not None and user not in loaded and self._needs_auth_state(session):
                loaded[user] = await store.load_auth(user)
                nonces.add(user, loaded[user])
        except AccountMissing as missing:
            if record is None and session.device_id and session.device_id not in queued:
                # Package 1: read the account and the device's queue in one round trip.
                state, entries = await asyncio.gather(
                    store.load_auth(missing.account), store.claimable(session.device_id))
                loaded[missing.account] = state
                queued[session.device_id] = entries
            else:
                loaded[missing.account] = await store.load_auth(missing.account)
            raise _Redo() from missing
        except RemoteProtocolError as exc:
            return await self._refused(session, record, name, app, exc, nonces)
        except LocalProtocolError:
            return _Outcome((409, list(PLAIN), b""), None, [])
        if any(isinstance(e, ev.SessionStarted) for e in events):
            if session.device_id in queued:
                entries = queued.pop(session.device_id)
            else:
                entries = await store.claimable(session.device_id)
            delivery.take(session, entries)
        token = name(session)  # before data_to_send: the answer carries it in RespURI
        self._call(app, session, events)
        batches.append(events)
        delivery.feed(events)
        try:
            out = session.data_to_send()
        except AccountMissing as missing:  # a shared store's guess was wrong: read, redo
            loaded[missing.account] = await store.load_auth(missing.account)
            raise _Redo() from missing
        after = session.take_events()
        if after:
            self._call(app, session, after)
            batches.append(after)
            delivery.feed(after)
        entering = self._tier(session)
        if entering is not None and (record is None or (entering == "auth" and not was_auth)):
            if await self._full(entering):  # the cap: refused before anything is written
                return _Outcome((503, [*PLAIN, ("retry-after", "5")], b""), None, [])
        await self._swap(nonces)
        ended = session.state in TERMINAL
        commit = SessionCommit(
            device_id=session.device_id if record is None else record.device_id,
            version=0 if record is None else record.version,
            owner=record.owner if record is not None else "new",
            snapshot=session.snapshot(self.seal_key),
            ttl=min(self.retention, session.idle_timeout) if ended else session.idle_timeout,
            now=time.time(), claim=delivery.claim, complete=delivery.complete,
            release=delivery.release, tier=self._tier(session))
        try:
            await store.session_commit(token, commit)
        except SessionConflict as exc:
            if record is None and exc.reason == "claimed":
                raise _Redo() from exc  # another session of the device took its commands
            # Our lock expired under us: the device's retransmission finds the stored state.
            self._log(logging.WARNING, "conflict", f"session commit lost ({exc.reason})")
            return _Outcome((503, [*PLAIN, ("retry-after", "1")], b""), None, [])
        if record is None and app is not None and not ended:
            self._apps[token] = app
        if ended:
            self._apps.pop(token, None)
            if session.state.name == "CLOSED":
                self.sessions_completed += 1
            else:
                self.sessions_failed += 1
        headers = [("content-type", out.content_type), ("cache-control", "no-store")]
        if out.hmac:
            headers.append((HMAC_HEADER, out.hmac))
        return _Outcome((200, headers, out.body), session, batches, committed=True)

    def _tier(self, session: ServerSession) -> str | None:
        if self.max_sessions is None and self.max_preauth_sessions is None:
            return None
        return "auth" if session.username else "preauth"

    async def _full(self, tier: str | None) -> bool:
        """Whether a session entering ``tier`` would pass its cap."""
        cap = {"auth": self.max_sessions, "preauth": self.max_preauth_sessions}.get(tier or "")
        return cap is not None and await self.store.session_count(tier or "") >= cap

    async def _swap(self, nonces: RequestNonces) -> None:
        for account, swaps in nonces.swaps().items():
            if not await self.store.swap_nonces(account, swaps):
                nonces.forget()  # read them again: another worker changed this nonce
                raise _Redo()

    async def _refused(self, session: ServerSession, record: SessionRecord | None,
                       name: Callable[[ServerSession], str], app: ServerApp | None,
                       exc: RemoteProtocolError, nonces: RequestNonces) -> _Outcome:
        """A message the session refused: package 1 leaves nothing stored; a live session
        ends, and its commands are settled (``unknown`` if sent, else queued again)."""
        if exc.response:
            kind = "wbxml" if exc.response[:1] < b"\x04" else "xml"
            reply: Reply = (200, [("content-type", CONTENT_TYPES[kind]),
                                  ("cache-control", "no-store")], exc.response)
        else:
            reply = (400, list(PLAIN), b"")
        if getattr(exc, "session_unchanged", False) or record is None:
            if record is None:
                self.sessions_failed += 1
            return _Outcome(reply, None, [])
        events = session.abandon(exc.reason)
        self._call(app, session, events)
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
            return _Outcome((503, [*PLAIN, ("retry-after", "1")], b""), None, [])
        self._apps.pop(token, None)
        self.sessions_failed += 1
        return _Outcome(reply, session, [events], committed=True)

    @staticmethod
    def _call(app: ServerApp | None, session: ServerSession, events: list[ev.Event]) -> None:
        if app is not None and events:
            app(session, events)


__all__ = ["DMServerApp", "Observer"]
