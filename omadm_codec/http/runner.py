"""Running an ASGI app under uvicorn in a daemon thread, on 127.0.0.1 or any address, with TLS
and mutual TLS, behind the connection guards of ``connections.HttpLimits``: for tests, the
demo and ``omadm-codec serve``.

Everything that can go wrong before serving fails in the caller's thread with an error that
names its subject: ``OSError`` with the address as ``filename`` (port in use, an address not
of this host), with the file as ``filename`` (a TLS file missing, unreadable or not PEM).
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

from .connections import HttpLimits, guarded_protocol, handshake_bounded_loop_factory
from .logs import install_log_limits


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """Server TLS: certificate chain and key; ``client_ca`` makes client certificates
    mandatory (mutual TLS), verified against that CA."""

    certfile: str
    keyfile: str
    client_ca: str | None = None


def listening_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket bound to (host, port), created as ``IPPROTO_TCP`` so that asyncio sets
    ``TCP_NODELAY`` on every connection it accepts (it checks the protocol number).
    ``reuse_port``: several worker processes listen on one port (``SO_REUSEPORT``: the
    kernel spreads the connections)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def check_tls_files(tls: TlsConfig) -> None:
    """Load ``tls``'s files as the server will, failing here with an ``OSError`` whose
    ``filename`` is the file to blame (``ssl`` itself names none)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    load_pem(context, tls.certfile, tls.keyfile)
    if tls.client_ca is not None:
        load_pem(context, ca_file=tls.client_ca)


def load_pem(context: ssl.SSLContext, certfile: str | None = None, keyfile: str | None = None,
             *, ca_file: str | None = None) -> None:
    """``context.load_cert_chain`` / ``load_verify_locations`` with errors that name the
    file: each is opened first (``FileNotFoundError`` etc. carry its name), and an ``ssl``
    refusal becomes an ``OSError`` naming the file it concerns."""
    for path in (certfile, keyfile, ca_file):
        if path is not None:
            with open(path, "rb"):
                pass
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=ca_file)
        except ssl.SSLError as exc:
            raise OSError(errno.EINVAL, f"not a PEM CA certificate ({_ssl_reason(exc)})",
                          ca_file) from None
    if certfile is not None:
        try:
            context.load_cert_chain(certfile, keyfile)
        except ssl.SSLError as exc:
            what = "certificate" if keyfile is None else "certificate and key pair"
            raise OSError(errno.EINVAL, f"not a PEM {what}, or the key does not match "
                                        f"({_ssl_reason(exc)})",
                          certfile if keyfile is None else f"{certfile}, {keyfile}") from None


def _ssl_reason(exc: ssl.SSLError) -> str:
    return str(exc.reason or exc).split(" (_ssl.c:")[0].replace("_", " ").lower()


def settle_heap() -> None:
    """For a process that is about to serve (``omadm-codec serve`` calls it once, after its
    start-up): collect, then move everything alive into the collector's permanent generation
    (``gc.freeze``), so a full collection no longer walks the modules, tables and accounts
    of start-up. Such a collection holds the interpreter lock for its whole walk; with a
    worker thread creating tens of thousands of objects per large message, it was the
    event loop's longest wait (docs/security.md, "Event-loop stall at the limits"). Not for a
    library's host process: what is frozen is never collected, even once it is garbage."""
    import gc

    gc.collect()
    gc.freeze()


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
                 trusted_proxies: str | None = None, reuse_port: bool = False) -> None:
        import uvicorn

        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is not a TCP port (0-65535)")
        if tls is not None:
            check_tls_files(tls)
        self.limits = limits if limits is not None else HttpLimits()
        install_log_limits()
        try:
            self.sock = listening_socket(host, port, reuse_port=reuse_port)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, f"{host}:{port}") from None
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
        self.tls = tls
        self.scheme = "https" if tls is not None else "http"
        shown = f"[{host}]" if ":" in host else host
        self.url = f"{self.scheme}://{shown}:{self.port}"
        self.timeout = timeout
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        try:
            if self.tls is None:
                self.server.run(sockets=[self.sock])
            else:
                # What ``Server.run`` does, on loops that bound the TLS handshake.
                factory = handshake_bounded_loop_factory(
                    self.server.config.get_loop_factory(), self.limits.handshake_timeout)
                with asyncio.Runner(loop_factory=factory) as runner:
                    runner.run(self.server.serve(sockets=[self.sock]))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by __enter__
            self.failure = exc

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + self.timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                self.stop()
                if self.failure is not None and not isinstance(self.failure, SystemExit):
                    raise self.failure
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
