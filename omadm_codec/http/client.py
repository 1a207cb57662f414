"""The device end of the HTTP binding: drives a sans-IO ``ClientSession`` over httpx, following
``RespURI`` and resending through the session's own timer on timeouts.
"""

from __future__ import annotations

import ssl
import time
import zlib
from collections.abc import Callable
from typing import Any

from ..errors import RemoteProtocolError
from ..session import ClientSession, Outgoing
from ..session import events as ev
from .wire import ACCEPT, COMPRESS_MIN, HMAC_HEADER, USER_AGENT

Trace = Callable[[str, Outgoing], None]


def client_tls_context(ca_file: str | None = None, certfile: str | None = None,
                       keyfile: str | None = None) -> ssl.SSLContext:
    """A TLS context trusting ``ca_file`` (default: the system's), with an optional client
    certificate for mutual TLS. A missing or bad file is an ``OSError`` naming it."""
    from .runner import load_pem

    if ca_file is not None:  # checked first: the errors of create_default_context name no file
        load_pem(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), ca_file=ca_file)
    context = ssl.create_default_context(cafile=ca_file)
    load_pem(context, certfile, keyfile)
    return context


def _retry_after(value: str | None, ceiling: float) -> float:
    """Seconds from a ``Retry-After`` header (delta-seconds only), at most ``ceiling``."""
    try:
        return min(max(float(value or "1"), 0.0), ceiling)
    except ValueError:
        return min(1.0, ceiling)


def run_http_session(client: ClientSession, url: str, *, http: Any = None,
                     verify: ssl.SSLContext | bool = True, timeout: float = 10.0,
                     max_messages: int = 500, trace: Trace | None = None,
                     compress: bool = False, busy_retries: int = 5,
                     max_retry_after: float = 10.0) -> list[ev.Event]:
    """Run ``client`` against the DM server at ``url`` until the session ends.

    ``http`` is an ``httpx.Client`` to reuse (else one is made with ``verify``). Every POST is
    bounded by ``timeout``; a timed-out request goes through the session's timer (resend with
    the same MsgID, then abort). Returns the client's events. Raises ``OmaDmError`` subclasses
    for protocol failures and ``httpx.HTTPError`` for transport failures that outlast the
    retries. ``compress`` gzips request bodies of at least ``COMPRESS_MIN`` bytes
    (``Content-Encoding: gzip``; the ``x-syncml-hmac`` stays over the DM message); compressed
    responses are undone by httpx. A 503 (server busy or its store unreachable) is retried
    with the same message after its ``Retry-After`` (at most ``max_retry_after`` seconds),
    ``busy_retries`` times per message.
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
                for _ in range(busy_retries):
                    if response.status_code != 503:
                        break
                    time.sleep(_retry_after(response.headers.get("retry-after"),
                                            max_retry_after))
                    response = http.post(client.resp_uri or url, content=content,
                                         headers=headers)
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
