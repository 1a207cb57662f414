"""Byte-level checks and lenient repairs done on XML input before any parser sees it.

The one idea: everything dangerous or quirky in the prolog (a DOCTYPE internal subset, an
ENTITY declaration, a UTF-16 declaration) and the one lexical quirk lxml cannot recover from
without ``recover=True`` (a bare ``&`` in text) is found here by scanning bytes, so the error
has an exact byte offset and the lxml parser below never runs in a permissive mode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import DecodeError
from ..limits import over_input_size

_WS = b" \t\r\n"
_XML_DECL_ENCODING = re.compile(rb"""<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_PUBLIC_ID = re.compile(rb"""PUBLIC\s+["']([^"']*)["']""")
_NAME_REF = rb"(?:#[0-9]+|#x[0-9A-Fa-f]+|[A-Za-z_:][A-Za-z0-9_.:-]*);"
_BARE_AMP = re.compile(rb"&(?!" + _NAME_REF + rb")")
# CDATA sections and comments may hold a literal '&'; they are skipped, not searched.
_AMP_OUTSIDE_CDATA = re.compile(
    rb"<!\[CDATA\[.*?\]\]>|<!--.*?-->|(&)(?!" + _NAME_REF + rb")", re.S
)
_UTF16 = {"utf-16", "utf-16le", "utf-16be", "utf16", "ucs-2"}
MAX_TAG = 64 * 1024
# A start tag longer than MAX_TAG bytes: only an attribute or namespace flood makes one, and
# lxml would build every attribute (about 17x the input in memory) before we could refuse it.
# (A CDATA section holding '<' then MAX_TAG bytes without '<' or '>' would be refused too.)
_LONG_TAG = re.compile(rb"<[A-Za-z_:][^<>]{%d}" % MAX_TAG)


@dataclass(slots=True)
class Prepared:
    """The bytes to hand to lxml, and what the prolog said."""

    data: bytes
    doctype_public_id: str | None


def _quirk(quirks: list[str], code: str, strict: bool, offset: int) -> None:
    if strict:
        raise DecodeError(code, offset, "rejected in strict mode")
    if code not in quirks:
        quirks.append(code)


def _fix_utf16(data: bytes, strict: bool, quirks: list[str]) -> bytes:
    """UTF-16 input (a BOM, or NUL bytes in the first characters) or a UTF-16 declaration on
    UTF-8 bytes (what .NET writers produce): lenient re-encodes as UTF-8 without the
    declaration; strict rejects (``utf16_declared``)."""
    is_utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(data) > 1 and 0 in data[:2])
    head = data
    if is_utf16:
        _quirk(quirks, "utf16_declared", strict, 0)
        try:
            text = data.decode("utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else
                               ("utf-16-be" if data[0] == 0 else "utf-16-le"))
        except UnicodeDecodeError as exc:
            raise DecodeError("bad_encoding", exc.start, "invalid UTF-16") from None
        head = text.encode("utf-8")
    start = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    while start < len(head) and head[start] in _WS:
        start += 1
    match = _XML_DECL_ENCODING.match(head, start)
    if match is None:
        return head
    if match.group(1).decode("ascii").lower() not in _UTF16:
        if is_utf16:
            raise DecodeError("bad_encoding", 0, "UTF-16 bytes with another declared encoding")
        return head
    offset = match.start(1)
    _quirk(quirks, "utf16_declared", strict, offset)
    return head[:offset] + b"UTF-8" + head[offset + len(match.group(1)):]


def _scan_prolog(data: bytes) -> str | None:
    """Walk the prolog (XML declaration, comments, PIs, DOCTYPE) up to the root element.

    Returns the DOCTYPE public id, if any. Raises on an internal subset or an ENTITY."""
    pos = 0
    end = len(data)
    public_id: str | None = None
    if data.startswith(b"\xef\xbb\xbf"):
        pos = 3
    while True:
        while pos < end and data[pos] in _WS:
            pos += 1
        if data.startswith(b"<?", pos):
            close = data.find(b"?>", pos + 2)
            if close < 0:
                raise DecodeError("malformed_xml", pos, "unterminated processing instruction")
            pos = close + 2
        elif data.startswith(b"<!--", pos):
            close = data.find(b"-->", pos + 4)
            if close < 0:
                raise DecodeError("malformed_xml", pos, "unterminated comment")
            pos = close + 3
        elif data.startswith(b"<!DOCTYPE", pos):
            start = pos
            quote = 0
            pos += 9
            while pos < end:
                byte = data[pos]
                if quote:
                    if byte == quote:
                        quote = 0
                elif byte in (0x22, 0x27):
                    quote = byte
                elif byte == 0x5B:  # '[' opens an internal subset
                    # Refused where the DOCTYPE starts, as the shared scanner does.
                    entity = data.find(b"<!ENTITY", pos)
                    if entity >= 0:
                        raise DecodeError("forbidden_dtd", start,
                                          f"an ENTITY declaration (byte {entity}) in the DOCTYPE")
                    raise DecodeError("forbidden_dtd", start,
                                      f"a DOCTYPE internal subset (byte {pos})")
                elif byte == 0x3E:
                    break
                pos += 1
            else:
                raise DecodeError("malformed_xml", start, "unterminated DOCTYPE")
            found = _PUBLIC_ID.search(data, start, pos)
            if found is not None:
                public_id = found.group(1).decode("latin-1")
            pos += 1
        elif data.startswith(b"<!", pos):
            if data.startswith(b"<!ENTITY", pos):
                raise DecodeError("forbidden_dtd", pos, "an ENTITY declaration")
            raise DecodeError("malformed_xml", pos, "markup declaration outside a DOCTYPE")
        else:
            return public_id


def _fix_bare_ampersands(data: bytes, strict: bool, quirks: list[str]) -> bytes:
    """A bare ``&`` (``MAXDT=15&DR=1``): lenient escapes it (``bare_ampersand``)."""
    if b"&" not in data or _BARE_AMP.search(data) is None:
        return data
    positions = [m.start(1) for m in _AMP_OUTSIDE_CDATA.finditer(data) if m.start(1) >= 0]
    if not positions:
        return data
    _quirk(quirks, "bare_ampersand", strict, positions[0])
    parts = []
    last = 0
    for position in positions:
        parts.append(data[last:position])
        parts.append(b"&amp;")
        last = position + 1
    parts.append(data[last:])
    return b"".join(parts)


def prepare_xml(data: bytes, strict: bool, quirks: list[str], max_input_size: int) -> Prepared:
    """All byte-level checks, in order; returns the bytes for lxml."""
    if len(data) > max_input_size:
        raise DecodeError("too_large", max_input_size, over_input_size(len(data), max_input_size))
    data = _fix_utf16(data, strict, quirks)
    public_id = _scan_prolog(data)
    if len(data) > MAX_TAG:
        long_tag = _LONG_TAG.search(data)
        if long_tag is not None:
            raise DecodeError("tag_too_long", long_tag.start(), f"a tag over {MAX_TAG} bytes")
    data = _fix_bare_ampersands(data, strict, quirks)
    return Prepared(data, public_id)
