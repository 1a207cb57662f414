"""Connection-level guards for the HTTP server (``HttpLimits``), and the uvicorn protocols
(httptools or h11) that enforce them (``guarded_protocol``).

The one idea: a connection holds a descriptor and memory whether or not it ever sends a
request, so each is bounded in time and in number before any application code runs:

- at most ``max_connections`` at once (and ``max_connections_per_client`` per address): one
  over the cap is answered ``503`` with ``Retry-After`` at once and closed, so the server
  never runs out of descriptors (accept failing with EMFILE is what floods a log and locks
  every device out);
- a request's head must arrive within ``header_timeout`` seconds of its first byte (or of
  the connection); ``408`` and close otherwise (the body's own timeout is the application's,
  ``DMServerApp(body_timeout=)``);
- an idle keep-alive connection closes after ``keepalive_timeout``;
- every accepted socket gets ``TCP_NODELAY`` (a response written in two parts must not wait
  for the client's delayed ACK: about 40 ms per request otherwise);
- under TLS, the handshake must end within ``handshake_timeout`` seconds (asyncio's default
  is 60 s, and a connection still in its handshake is not yet seen by the protocol, so the
  cap above cannot count it: the time bound is what frees its descriptor).

Two parsers enforce the same guards (``HttpLimits.parser``): uvicorn's httptools protocol
(llhttp, in C; the default when ``httptools`` is installed, as the ``http`` extra does) and its
h11 protocol (pure Python: 0.1-0.2 ms more CPU per request, docs/performance.md).
httptools has no head-size cap of its own: the head is counted here (the request line and
every header as they complete, exactly; a header line still arriving by the bytes of the
reads it spans), so a head over ``max_header_bytes`` gets 400 and close; one that never ends
holds at most one read more (256 KB) until then. (h11 caps only a head still incomplete
after a read: a whole head in one read is taken up to that read's size.)

uvicorn (``http`` extra) is imported only when the protocol class is built.
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

RESERVED_DESCRIPTORS = 64
"""Descriptors kept free for everything but client connections (logs, listeners, files)."""
REFUSED = (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n"
           b"Content-Length: 0\r\n\r\n")
TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Bounds on connections; the defaults are in docs/limits.md."""

    header_timeout: float = 10.0
    """Seconds from a request's first byte (or the connection) to the end of its head."""
    keepalive_timeout: float = 5.0
    """Seconds an idle keep-alive connection is kept."""
    handshake_timeout: float = 10.0
    """Seconds a TLS handshake may take (from the accept)."""
    max_connections: int | None = None
    """Open connections at once; None: ``min(1000, descriptor limit - 64)``."""
    max_connections_per_client: int | None = None
    """Open connections from one address (None: no cap of its own; many devices may share
    one address behind a carrier NAT)."""
    max_header_bytes: int = 16 << 10
    """Largest request head (h11's incomplete-event cap)."""
    backlog: int = 128
    """Listen queue length."""
    graceful_timeout: float = 10.0
    """Seconds requests in flight may take to finish at shutdown."""
    parser: Literal["auto", "h11", "httptools"] = "auto"
    """The HTTP/1.1 parser: ``httptools`` (C; the ``httptools`` package, in the ``http``
    extra), ``h11`` (pure Python), or ``auto``: httptools when it is installed, else h11."""

    def parser_in_force(self) -> str:
        """``h11`` or ``httptools``: ``parser``, with ``auto`` resolved."""
        if self.parser != "auto":
            return self.parser
        try:
            import httptools  # noqa: F401
        except ImportError:
            return "h11"
        return "httptools"

    def connection_cap(self) -> int:
        """The connection cap in force: ``max_connections``, or derived from this process's
        descriptor limit."""
        if self.max_connections is not None:
            return self.max_connections
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return 1000
        return max(1, min(1000, soft - RESERVED_DESCRIPTORS))


def raise_descriptor_limit() -> int:
    """Raise this process's soft descriptor limit to its hard limit; returns the new soft
    limit (unchanged if it cannot be raised)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def handshake_bounded_loop_factory(base: Callable[[], asyncio.AbstractEventLoop] | None,
                                   timeout: float) -> Callable[[], asyncio.AbstractEventLoop]:
    """A loop factory making the loops of ``base`` (uvicorn's choice: uvloop or asyncio;
    None: asyncio's), whose TLS servers bound the handshake to ``timeout`` seconds.

    uvicorn creates its servers without ``ssl_handshake_timeout``; a subclass of the loop is
    the one place that sees every ``create_server`` call without copying uvicorn's start-up.
    """
    probe = (base or asyncio.new_event_loop)()
    loop_class = type(probe)
    probe.close()

    class HandshakeBoundedLoop(loop_class):  # type: ignore[valid-type,misc]
        async def create_server(self, *args: Any, **kwargs: Any) -> Any:
            if kwargs.get("ssl") is not None and kwargs.get("ssl_handshake_timeout") is None:
                kwargs["ssl_handshake_timeout"] = timeout
            return await super().create_server(*args, **kwargs)

    return HandshakeBoundedLoop


class _ConnectionGuards:
    """What both guarded protocols do alike (mixed in before uvicorn's protocol class, so its
    ``connection_made`` / ``connection_lost`` wrap uvicorn's): TCP_NODELAY and the connection
    caps when a connection is made, the count given back when it is lost, and the head timer. A
    subclass sets ``_limits``, ``_cap`` and ``_by_client`` (one server's counts) and says
    whether a request's head is still arriving (``_head_pending``)."""

    _limits: HttpLimits
    _cap: int
    _by_client: Counter[str]
    _header_timer: Any = None
    _counted: str | None = None
    # uvicorn's protocol provides these.
    client: Any
    connections: Any
    loop: Any
    transport: Any

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._admit(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()
        super().connection_lost(exc)  # type: ignore[misc]

    def _admit(self, transport: Any) -> None:
        """After uvicorn's ``connection_made``: no Nagle delay, then the caps (over one: 503
        at once and closed), then the head timer."""
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        host = self.client[0] if self.client else ""
        per_client = self._limits.max_connections_per_client
        if len(self.connections) > self._cap or (
                per_client is not None and self._by_client[host] >= per_client):
            transport.write(REFUSED)
            transport.close()
            return
        if per_client is not None:
            self._by_client[host] += 1
            self._counted = host
        self._arm_header_timer()

    def _release(self) -> None:
        """Before uvicorn's ``connection_lost``: the timer and this connection's count go."""
        self._cancel_header_timer()
        if self._counted is not None:
            self._by_client[self._counted] -= 1
            if self._by_client[self._counted] <= 0:
                del self._by_client[self._counted]
            self._counted = None

    def _head_pending(self) -> bool:
        raise NotImplementedError

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self._limits.header_timeout,
                                                  self._header_timed_out)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self._head_pending() and not self.transport.is_closing():
            self.transport.write(TIMED_OUT)
            self.transport.close()


def guarded_protocol(limits: HttpLimits) -> type[Any]:
    """A uvicorn protocol class enforcing ``limits`` (pass as ``Config(http=...)``): its
    ``HttpToolsProtocol`` or its ``H11Protocol``, as ``limits.parser_in_force()`` says.
    Each call makes a new class: its per-address counts belong to one server."""
    parser = limits.parser_in_force()
    if parser == "httptools":
        return _guarded_httptools(limits)
    if parser != "h11":
        raise ValueError(f"parser must be 'auto', 'h11' or 'httptools', not {parser!r}")
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    cap = limits.connection_cap()
    by_client: Counter[str] = Counter()

    class GuardedH11Protocol(_ConnectionGuards, H11Protocol):
        _limits, _cap, _by_client = limits, cap, by_client

        def data_received(self, data: bytes) -> None:
            if self.conn.their_state is h11.IDLE and self._header_timer is None:
                self._arm_header_timer()  # a new request's head starts arriving
            super().data_received(data)

        def handle_events(self) -> None:
            super().handle_events()
            if self.conn.their_state is not h11.IDLE:
                self._cancel_header_timer()  # the head is in

        def _head_pending(self) -> bool:
            return self.conn.their_state is h11.IDLE

    return GuardedH11Protocol


class _HeadTooLarge(Exception):
    """Raised inside a parser callback: httptools stops and uvicorn answers 400 and closes."""


def _guarded_httptools(limits: HttpLimits) -> type[Any]:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError as exc:  # said plainly to the operator
        raise ImportError("the httptools parser needs httptools: pip install httptools"
                          ) from exc

    cap = limits.connection_cap()
    max_head = limits.max_header_bytes
    by_client: Counter[str] = Counter()

    class GuardedHttpToolsProtocol(_ConnectionGuards, HttpToolsProtocol):
        _limits, _cap, _by_client = limits, cap, by_client
        _in_head = True
        """Between a request's first byte (or the connection) and the end of its head."""
        _head_size = 0
        """Bytes of the current head's request line and headers completed so far."""
        _pending = 0
        """Bytes of reads since the last completed part of the head (a header arriving)."""
        _progress = False
        """A part of the head completed during the read being parsed."""

        def data_received(self, data: bytes) -> None:
            self._progress = False
            super().data_received(data)
            if not self._in_head or self.transport.is_closing():
                return
            if self._header_timer is None:
                # A head still arriving after this read: timed from now. (A head that came
                # whole in one read, the usual case, never arms the timer.)
                self._arm_header_timer()
            # The head is still arriving: what this read added to a part not yet complete
            # (not counted in a read where a part completed: its tail is unknown).
            self._pending = 0 if self._progress else self._pending + len(data)
            if self._head_size + self._pending > max_head:
                self.send_400_response("Request head too large.")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_head, self._head_size, self._pending = True, 0, 0
            self._progress = True

        def _grow(self, size: int) -> None:
            self._head_size += size
            self._pending = 0
            self._progress = True
            if self._head_size > max_head:
                raise _HeadTooLarge()

        def on_url(self, url: bytes) -> None:
            self._grow(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._grow(len(name) + len(value) + 4)  # ": " and CRLF
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._cancel_header_timer()  # the head is in
            super().on_headers_complete()

        def _head_pending(self) -> bool:
            return self._in_head

    return GuardedHttpToolsProtocol


__all__ = ["HttpLimits", "guarded_protocol", "handshake_bounded_loop_factory",
           "raise_descriptor_limit"]
