"""Running an ASGI app under uvicorn in a daemon thread, on 127.0.0.1 or any address, with TLS
and mutual TLS: for tests, the demo and ``omadm-codec serve``.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any


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
                 log_level: str = "warning", reuse_port: bool = False) -> None:
        import uvicorn

        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP, and
        # without it Nagle and the peer's delayed ACK add ~40 ms to every answer.
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            # Several worker processes on one port: the kernel spreads the connections.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
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
        """Ask uvicorn to exit, wait for its thread (up to ``timeout`` seconds) and close the
        socket."""
        self.server.should_exit = True
        self.thread.join(self.timeout)
        self.sock.close()

    def __exit__(self, *exc: object) -> None:
        self.stop()
