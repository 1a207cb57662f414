"""Running an ASGI app under uvicorn in a daemon thread, on 127.0.0.1 or any address, with TLS
and mutual TLS, behind the connection guards of ``connections.HttpLimits``: for tests, the
demo and ``omadm-codec serve``.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

from .connections import HttpLimits, guarded_protocol
from .logs import install_log_limits


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """Server TLS: certificate chain and key; ``client_ca`` makes client certificates
    mandatory (mutual TLS), verified against that CA."""

    certfile: str
    keyfile: str
    client_ca: str | None = None


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port), created as ``IPPROTO_TCP`` so that asyncio sets
    ``TCP_NODELAY`` on every connection it accepts (it checks the protocol number)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


class ServerThread:
    """uvicorn serving ``app`` on 127.0.0.1 and a free port, in a daemon thread.

    Use as a context manager; ``url`` is the base URL. Startup is bounded by ``timeout``
    seconds (``RuntimeError`` if the server does not start in time); at stop, requests in
    flight get ``limits.graceful_timeout`` seconds to finish (no new connection is taken).

    ``trusted_proxies``: addresses (comma-separated, ``*`` for any) whose
    ``X-Forwarded-For`` names the client (uvicorn's ``forwarded_allow_ips``; by default only
    127.0.0.1, or ``$FORWARDED_ALLOW_IPS``). Behind a proxy this is what makes the failure
    throttle count devices, not the proxy.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0,
                 tls: TlsConfig | None = None, timeout: float = 10.0,
                 log_level: str = "warning", limits: HttpLimits | None = None,
                 trusted_proxies: str | None = None) -> None:
        import uvicorn

        self.limits = limits if limits is not None else HttpLimits()
        install_log_limits()
        self.sock = listening_socket(host, port)
        self.port = self.sock.getsockname()[1]
        kwargs: dict[str, Any] = {}
        if tls is not None:
            kwargs.update(ssl_certfile=tls.certfile, ssl_keyfile=tls.keyfile)
            if tls.client_ca is not None:
                kwargs.update(ssl_ca_certs=tls.client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
        config = uvicorn.Config(
            app, log_level=log_level, lifespan="auto", http=guarded_protocol(self.limits),
            timeout_keep_alive=self.limits.keepalive_timeout,  # type: ignore[arg-type]
            timeout_graceful_shutdown=self.limits.graceful_timeout,  # type: ignore[arg-type]
            backlog=self.limits.backlog,
            h11_max_incomplete_event_size=self.limits.max_header_bytes,
            forwarded_allow_ips=trusted_proxies, **kwargs)
        self.server = uvicorn.Server(config)
        self.scheme = "https" if tls is not None else "http"
        shown = f"[{host}]" if ":" in host else host
        self.url = f"{self.scheme}://{shown}:{self.port}"
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
        """Ask uvicorn to exit (it stops accepting and drains requests in flight), wait for its
        thread (up to ``timeout`` + ``limits.graceful_timeout`` seconds) and close the socket."""
        self.server.should_exit = True
        self.thread.join(self.timeout + self.limits.graceful_timeout)
        self.sock.close()

    def __exit__(self, *exc: object) -> None:
        self.stop()
