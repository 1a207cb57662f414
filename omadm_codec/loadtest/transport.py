"""How a simulated device's messages travel: the ``Transport`` protocol, its ``Reply``, and the
typed ``TransportError`` every engine raises (Locust's client lives in ``_locust``; the
blocking one here serves tests and single devices without gevent).
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from typing import Any, Protocol

from ..http.wire import HMAC_HEADER

ERROR_KINDS: dict[str, str] = {
    "connect": "the server could not be reached (refused, no route, DNS)",
    "tls": "the TLS handshake failed (certificate, protocol)",
    "timeout": "no answer within the request timeout",
    "reset": "the connection broke before a whole answer arrived",
    "other": "another transport failure",
}


class TransportError(Exception):
    """A request that got no HTTP answer; ``kind`` is one of ``ERROR_KINDS``."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass(slots=True)
class Reply:
    """One HTTP answer (not frozen: one is made per request, and a frozen dataclass's
    ``__init__`` costs twice as much)."""

    status: int
    content_type: str
    body: bytes
    hmac: str | None
    elapsed: float
    """Seconds from sending the request to the whole answer."""


class Transport(Protocol):
    """How a device sends a message and gets the answer (``HttpxTransport``, Locust's)."""

    def post(self, url: str, body: bytes, headers: dict[str, str], name: str) -> Reply:
        """POST ``body``; ``name`` labels the request in statistics (``pkg1``, ``pkg3``).
        Raises ``TransportError``."""
        ...


def classify(exc: BaseException) -> TransportError:
    """Any client library's exception as a ``TransportError`` (by type, then by text)."""
    if isinstance(exc, TransportError):
        return exc
    text = f"{type(exc).__name__}: {exc}"
    low = text.lower()
    if isinstance(exc, ssl.SSLError) or "ssl" in low or "certificate" in low or "tls" in low:
        return TransportError("tls", text)
    if isinstance(exc, TimeoutError) or "timeout" in low or "timed out" in low:
        return TransportError("timeout", text)
    if isinstance(exc, ConnectionRefusedError | ConnectionAbortedError) or any(
            word in low for word in ("refused", "name or service", "no route", "getaddrinfo",
                                     "connecterror", "unreachable", "nodename")):
        return TransportError("connect", text)
    if isinstance(exc, ConnectionResetError | BrokenPipeError) or any(
            word in low for word in ("reset", "remoteprotocolerror", "disconnected",
                                     "incomplete", "broken pipe", "closed")):
        return TransportError("reset", text)
    return TransportError("other", text)


class HttpxTransport:
    """A blocking transport on httpx (the ``http`` extra): for tests and plain threads."""

    def __init__(self, *, timeout: float = 10.0, verify: ssl.SSLContext | bool = True) -> None:
        import httpx

        self._http = httpx.Client(timeout=timeout, verify=verify)

    def post(self, url: str, body: bytes, headers: dict[str, str], name: str) -> Reply:
        """POST ``body`` to ``url``; ``TransportError`` when no HTTP answer came."""
        start = time.perf_counter()
        try:
            response = self._http.post(url, content=body, headers=headers)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a typed TransportError
            raise classify(exc) from exc
        return Reply(response.status_code, response.headers.get("content-type", ""),
                     response.content, response.headers.get(HMAC_HEADER),
                     time.perf_counter() - start)

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> HttpxTransport:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()





def check_reachable(url: str, *, tls: ssl.SSLContext | None = None,
                    timeout: float = 5.0) -> None:
    """Connect to ``url``'s host (and finish the TLS handshake for https) once, before a run:
    an unreachable server or a certificate the device would refuse is a ``TransportError``
    at once, not a thousand failed sessions."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TransportError("connect", f"{url!r} is not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout) as sock:
            if parts.scheme == "https":
                context = tls if tls is not None else ssl.create_default_context()
                with context.wrap_socket(sock, server_hostname=parts.hostname):
                    pass
    except OSError as exc:
        error = classify(exc)
        if error.kind == "other":
            error = TransportError("connect", error.detail)
        raise TransportError(error.kind, f"{parts.hostname}:{port}: {error.detail}") from exc


def tls_context(ca_file: str | None = None, *, insecure: bool = False) -> ssl.SSLContext:
    """The devices' TLS context: the system's trust (or ``ca_file``); ``insecure`` turns
    verification off (a test server with a self-made certificate)."""
    context = ssl.create_default_context(cafile=ca_file)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context

__all__ = ["ERROR_KINDS", "HttpxTransport", "Reply", "Transport", "TransportError",
           "check_reachable", "classify", "tls_context"]
