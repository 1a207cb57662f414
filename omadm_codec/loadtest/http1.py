"""A lean HTTP/1.1 client for the devices: one keep-alive connection per server, POST only.

Why our own: the harness must cost at most half of what the server spends per session (issue
16), and geventhttpclient's request building and response parsing (headers as Python objects,
a connection pool, a liveness ``select`` before every reuse) cost about 0.1 ms per request,
the largest part of a lean session (profiled). A device needs one thing: POST bytes, read
the status, three headers and the body. This module does that on the standard ``socket`` (so
under Locust, whose gevent patches it, every wait is cooperative), with ``Content-Length``
and chunked bodies, ``Connection: close``, TLS, and one time limit per read.

Errors are plain exceptions (``OSError``, ``ssl.SSLError``, ``TimeoutError``,
``ConnectionError``, ``ProtocolError``); the transport turns them into a ``TransportError``.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

MAX_HEADER_BYTES = 64 * 1024
"""An answer whose header block is larger is refused (``ProtocolError``)."""
MAX_BODY_BYTES = 64 * 1024 * 1024
"""An answer body larger than this is refused (``ProtocolError``): memory stays bounded."""


class ProtocolError(ConnectionError):
    """The server's answer is not HTTP/1.x as this client reads it."""


@dataclass(slots=True)
class Answer:
    """One HTTP answer: status, the headers a device reads, the body. (Not frozen: a frozen
    dataclass's ``__init__`` sets each field through ``object.__setattr__``, and one is made
    per request.)"""

    status: int
    content_type: str
    hmac: str | None
    body: bytes


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed URL: where to connect, the request line's path, the Host header."""

    scheme: str
    host: str
    port: int
    path: str
    host_header: str

    @classmethod
    def parse(cls, url: str) -> Target:
        """``http(s)://host[:port]/path`` (IPv6 hosts in brackets); ``ValueError`` else."""
        scheme, sep, rest = url.partition("://")
        scheme = scheme.lower()
        if not sep or scheme not in ("http", "https"):
            raise ValueError(f"{url!r} is not an http(s) URL")
        netloc, slash, path = rest.partition("/")
        netloc = netloc.rpartition("@")[2]
        host, colon, port = netloc.rpartition(":")
        if not colon or "]" in port:
            host, port = netloc, "443" if scheme == "https" else "80"
        if not host or not port.isdigit():
            raise ValueError(f"{url!r}: no host or a bad port")
        path = (slash + path) or "/"
        if any(ch in path for ch in "\r\n ") or any(ch in netloc for ch in "\r\n "):
            raise ValueError(f"{url!r}: whitespace in the URL")
        return cls(scheme, host.strip("[]"), int(port), path.partition("#")[0], netloc)


class Connection:
    """One keep-alive connection to ``target``'s server (opened on first use, re-opened
    after the server closed it)."""

    def __init__(self, target: Target, *, timeout: float,
                 tls: ssl.SSLContext | None = None) -> None:
        self.scheme, self.host, self.port = target.scheme, target.host, target.port
        self.timeout = timeout
        self.tls = tls
        self.sock: socket.socket | None = None
        self._buffer = b""

    def _open(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.scheme == "https":
            context = self.tls if self.tls is not None else ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=self.host)
        self._buffer = b""
        return sock

    def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None
                self._buffer = b""

    def post(self, target: Target, body: bytes, headers: dict[str, str]) -> Answer:
        """POST ``body`` to ``target`` with ``headers`` (values without CR/LF)."""
        lines = [f"POST {target.path} HTTP/1.1\r\nHost: {target.host_header}\r\n"
                 f"Content-Length: {len(body)}\r\n"]
        for name, value in headers.items():
            if "\r" in value or "\n" in value:
                raise ValueError(f"header {name}: a CR or LF in its value")
            lines.append(f"{name}: {value}\r\n")
        lines.append("\r\n")
        request = "".join(lines).encode("latin-1") + body
        reused = self.sock is not None
        if self.sock is None:
            self.sock = self._open()
        try:
            self._send(request)
            return self._read()
        except _StaleConnection:
            # The server closed the idle keep-alive connection before reading this request
            # (nothing came back): the same request once more, on a new connection.
            self.close()
            if not reused:
                raise ProtocolError("the server closed the connection without an answer") \
                    from None
            self.sock = self._open()
            try:
                self._send(request)
                return self._read()
            except _StaleConnection:
                self.close()
                raise ProtocolError("the server closed the connection without an answer") \
                    from None
            except BaseException:
                self.close()
                raise
        except BaseException:
            self.close()
            raise

    def _send(self, data: bytes) -> None:
        # ``send``, not ``sendall``: gevent's ``sendall`` asks the kernel for SO_SNDBUF
        # (getsockopt) on every call and slices the data by it; a request goes out in one
        # ``send`` nearly always (profiled: 3% of the harness's CPU).
        assert self.sock is not None
        sent = self.sock.send(data)
        if sent < len(data):
            view = memoryview(data)[sent:]
            while view:
                view = view[self.sock.send(view):]

    def _recv(self) -> bytes:
        assert self.sock is not None
        return self.sock.recv(65536)

    def _read(self) -> Answer:
        data = self._buffer
        self._buffer = b""
        end = data.find(b"\r\n\r\n")
        while end < 0:
            chunk = self._recv()
            if not chunk:
                if not data:
                    raise _StaleConnection()
                raise ProtocolError("the connection closed inside the answer's headers")
            data += chunk
            if len(data) > MAX_HEADER_BYTES and data.find(b"\r\n\r\n") < 0:
                raise ProtocolError("the answer's headers exceed 64 KB")
            end = data.find(b"\r\n\r\n")
        head = data[:end].decode("latin-1")
        rest = data[end + 4:]
        status_line, _, header_block = head.partition("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
        status = int(parts[1])
        length: int | None = None
        chunked = close = False
        content_type, hmac = "", None
        for line in header_block.split("\r\n"):
            name, colon, value = line.partition(":")
            if not colon:
                continue
            name = name.strip().lower()
            value = value.strip()
            if name == "content-length":
                if not value.isdigit():
                    raise ProtocolError(f"a bad Content-Length: {value[:40]!r}")
                length = int(value)
            elif name == "content-type":
                content_type = value
            elif name == "x-syncml-hmac":
                hmac = value
            elif name == "transfer-encoding":
                chunked = "chunked" in value.lower()
            elif name == "connection":
                close = "close" in value.lower()
        if 100 <= status < 200:
            # An interim answer (100 Continue): the real one follows.
            self._buffer = rest
            return self._read()
        if chunked:
            body, rest = self._chunked(rest)
        elif length is not None:
            if length > MAX_BODY_BYTES:
                raise ProtocolError(f"an answer of {length} bytes (over the bound)")
            while len(rest) < length:
                chunk = self._recv()
                if not chunk:
                    raise ProtocolError("the connection closed inside the answer's body")
                rest += chunk
            body, rest = rest[:length], rest[length:]
        elif status in (204, 304):
            body = b""
        else:
            # No length: the body runs to the end of the connection.
            pieces = [rest]
            size = len(rest)
            while True:
                chunk = self._recv()
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise ProtocolError("an answer over the bound")
                pieces.append(chunk)
            body, rest, close = b"".join(pieces), b"", True
        if close:
            self.close()
        else:
            self._buffer = rest
        return Answer(status, content_type, hmac, body)

    def _chunked(self, data: bytes) -> tuple[bytes, bytes]:
        pieces: list[bytes] = []
        size = 0
        while True:
            end = data.find(b"\r\n")
            while end < 0:
                data += self._more()
                end = data.find(b"\r\n")
            text = data[:end].split(b";", 1)[0].strip()
            try:
                length = int(text, 16)
            except ValueError:
                raise ProtocolError(f"a bad chunk size: {text[:20]!r}") from None
            data = data[end + 2:]
            if length == 0:
                # Trailers, up to the empty line.
                while True:
                    end = data.find(b"\r\n")
                    while end < 0:
                        data += self._more()
                        end = data.find(b"\r\n")
                    line, data = data[:end], data[end + 2:]
                    if not line:
                        return b"".join(pieces), data
            size += length
            if size > MAX_BODY_BYTES:
                raise ProtocolError("an answer over the bound")
            while len(data) < length + 2:
                data += self._more()
            pieces.append(data[:length])
            data = data[length + 2:]

    def _more(self) -> bytes:
        chunk = self._recv()
        if not chunk:
            raise ProtocolError("the connection closed inside a chunked body")
        return chunk


class _StaleConnection(Exception):
    """The connection closed before any byte of the answer."""


__all__ = ["MAX_BODY_BYTES", "MAX_HEADER_BYTES", "Answer", "Connection", "ProtocolError",
           "Target"]
