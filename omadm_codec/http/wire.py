"""What both ends of the DM HTTP binding agree on (dm-protocol.md 9.1): header names, the
size bounds, and the body codings (``Content-Encoding: gzip|deflate``, ``Accept-*`` lists).
"""

from __future__ import annotations

import zlib

from ..session import CONTENT_TYPES

USER_AGENT = "omadm-codec/0.1"
ACCEPT = ", ".join(CONTENT_TYPES.values())
HMAC_HEADER = "x-syncml-hmac"
MAX_BODY = 256 << 10
"""Largest request body (after any Content-Encoding is undone) of an authenticated session:
four times the MaxMsgSize a server advertises by default (64 KiB), and small enough that
decoding it holds the interpreter for well under 50 ms (docs/security.md)."""
PREAUTH_MAX_BODY = 16 << 10
"""Largest request body before the session authenticated (a real package 1 is ~2 KiB)."""
BODY_TIMEOUT = 10.0
"""Seconds a request body may stall between two reads (408 then)."""
OFFLOAD_MIN = 64 << 10
"""Request bodies from this size on are decoded and answered in a worker thread."""
COMPRESS_MIN = 1024
"""Responses shorter than this are never compressed (gzip would not pay for its header)."""


class BadBody(Exception):
    """A request body the binding refuses before any DM layer sees it; ``status`` is the
    HTTP answer (413 too large, 415 unknown content coding, 400 corrupt)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def inflate(body: bytes, coding: str, limit: int) -> bytes:
    """The DM message inside a ``Content-Encoding: gzip|deflate`` body (dm-protocol.md 9.1
    lets either side compress). Inflates at most ``limit + 1`` bytes, so a compression bomb
    costs bounded memory and time; ``deflate`` is zlib-wrapped per RFC 9110, raw deflate is
    accepted too (some clients send it)."""
    codings = [c.strip().lower() for c in coding.split(",") if c.strip()]
    for name in reversed(codings):  # applied in order, so undone last-first
        if name == "identity":
            continue
        if name in ("gzip", "x-gzip"):
            wbits = [31]
        elif name == "deflate":
            wbits = [15, -15]
        else:
            raise BadBody(415)
        for bits in wbits:
            inflater = zlib.decompressobj(bits)
            try:
                plain = inflater.decompress(body, limit + 1)
            except zlib.error:
                continue
            if len(plain) > limit or inflater.unconsumed_tail:
                raise BadBody(413)
            if not inflater.eof or inflater.unused_data:
                raise BadBody(400)
            body = plain
            break
        else:
            raise BadBody(400)
    return body


def accepts(header: str | None, wanted: str) -> bool:
    """Whether an ``Accept-Charset`` / ``Accept-Encoding`` value allows ``wanted`` (absent
    header: anything goes; ``*`` counts; ``q=0`` refuses)."""
    if header is None:
        return True
    star = False
    for part in header.split(","):
        name, _, params = part.partition(";")
        name = name.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if name == wanted:
            return quality > 0
        if name == "*":
            star = quality > 0
    return star
