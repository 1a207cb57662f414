"""A minimal asyncio client for one Redis server: one connection per process, every request
written at once and answered in order (Redis answers a connection's commands in the order it
got them), replies parsed by ``hiredis``.

Why not ``redis.asyncio`` here: it costs 60-100 us of CPU per command on this project's
2-core machine (connection pool, per-command locks, response callbacks), about 0.5 ms per DM
session of 5 commands, which was the larger part of what a Redis-backed worker spends beyond
an in-process one. This client does only what ``RedisState`` needs (commands and pipelines of
raw replies, a deadline per request) at a fraction of that. The ``redis`` package is still
used for Redis Cluster and TLS (``RedisState.from_url`` chooses).
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


class ReplyError(Exception):
    """Redis answered an error (``NOSCRIPT ...``, ``WRONGTYPE ...``, ``OOM ...``)."""


class _Request:
    """A request in flight: its future, resolved with the list of its ``count`` replies."""

    __slots__ = ("future", "count", "replies")

    def __init__(self, future: asyncio.Future[list[Any]], count: int) -> None:
        self.future = future
        self.count = count
        self.replies: list[Any] = []


class _Protocol(asyncio.Protocol):
    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.waiting: deque[_Request] = deque()
        self.transport: Any = None
        self.closed = False
        self._out: list[bytes] = []

    def write(self, data: bytes) -> None:
        """Queue ``data``; everything queued in one turn of the event loop goes out in one
        send (concurrent requests share the system call)."""
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.append(data)

    def _flush(self) -> None:
        out, self._out = self._out, []
        if self.transport is not None and not self.closed:
            self.transport.write(b"".join(out))

    def connection_made(self, transport: Any) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            reply = self.reader.gets()
            if reply is False:
                return
            # A request that timed out still gets its replies, in their place: skipped here.
            request = self.waiting[0]
            replies = request.replies
            replies.append(reply)
            if len(replies) == request.count:
                self.waiting.popleft()
                if not request.future.done():
                    request.future.set_result(replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        while self.waiting:
            future = self.waiting.popleft().future
            if not future.done():
                future.set_exception(ConnectionError("the Redis connection was lost"))


def _expire(future: asyncio.Future[list[Any]]) -> None:
    if not future.done():
        future.set_exception(TimeoutError("Redis did not answer in time"))


class RespClient:
    """``redis://[user:password@]HOST[:PORT][/DB]`` or ``unix:///PATH[?db=N]``. Errors:
    ``ConnectionError``/``OSError`` (cannot reach), ``TimeoutError`` (no answer within
    ``timeout`` seconds), ``ReplyError`` (Redis said no)."""

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "unix"):
            raise ValueError(f"not a redis:// or unix:// URL: {url!r}")
        self.unix_path = parts.path if parts.scheme == "unix" else None
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 6379
        query = parse_qs(parts.query)
        db = query.get("db", [""])[0] if self.unix_path else parts.path.lstrip("/")
        self.db = int(db or 0)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout
        self._protocol: _Protocol | None = None
        self._connecting = asyncio.Lock()

    async def _connect(self) -> _Protocol:
        import hiredis

        async with self._connecting:
            if self._protocol is not None and not self._protocol.closed:
                return self._protocol
            loop = asyncio.get_running_loop()
            protocol = _Protocol(hiredis.Reader(replyError=ReplyError))
            if self.unix_path is not None:
                connect = loop.create_unix_connection(lambda: protocol, self.unix_path)
            else:
                connect = loop.create_connection(lambda: protocol, self.host, self.port)
            transport, _ = await asyncio.wait_for(connect, self.timeout)
            protocol.transport = transport  # (some loops call connection_made later)
            setup: list[tuple[Any, ...]] = []
            if self.password is not None:
                setup.append(("AUTH", self.password) if self.username is None
                             else ("AUTH", self.username, self.password))
            if self.db:
                setup.append(("SELECT", self.db))
            self._protocol = protocol
            if setup:
                for reply in await self._send(protocol, setup):
                    if isinstance(reply, ReplyError):
                        protocol.transport.close()
                        raise ConnectionError(f"Redis refused the connection: {reply}")
            return protocol

    async def _send(self, protocol: _Protocol, commands: list[tuple[Any, ...]]) -> list[Any]:
        import hiredis

        if not commands:
            return []
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        pack = hiredis.pack_command
        protocol.write(b"".join([pack(c) for c in commands]))
        # Answers come in order: one future for the request, resolved with all its replies.
        protocol.waiting.append(_Request(future, len(commands)))
        timer = loop.call_later(self.timeout, _expire, future)
        try:
            return await future
        finally:
            timer.cancel()

    async def execute_many(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Send ``commands`` in one write; their replies (a ``ReplyError`` instance for
        each one Redis refused)."""
        protocol = self._protocol
        if protocol is None or protocol.closed:
            protocol = await self._connect()
        return await self._send(protocol, commands)

    async def execute_command(self, *args: Any) -> Any:
        (reply,) = await self.execute_many([args])
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    async def aclose(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()


__all__ = ["ReplyError", "RespClient"]
