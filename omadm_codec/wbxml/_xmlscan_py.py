"""A hand-written byte scanner for the XML subset SyncML uses: a cursor that yields events.

``Scanner(data, limits)`` walks UTF-8 bytes once; each ``next()`` returns one event code (``EV_*``)
and leaves that event's fields on the scanner (``name``/``local``/``ns``/``attrs`` for a start
tag, ``text`` for text and CDATA, ``fpi``/``sysid`` for a DOCTYPE, ``offset`` for all).
The one idea: a *text run* is all character data up to the next tag or CDATA section, with
comments and PIs transparent, so ``EV_TEXT`` carries the whole run, entities resolved and line
ends normalised (CRLF and CR -> LF). ``<X/>`` yields ``EV_START`` then ``EV_END``.
Supported: XML declaration, comments, PIs, an external-id-only DOCTYPE, elements, attributes
(namespaces resolved, prefixes included), text, CDATA, the five predefined entities, character
references, a UTF-8 BOM. The caller validates UTF-8 first (``check_chars``); the scanner then
only sees well-formed UTF-8. Errors are ``EncodeError`` with an absolute byte offset.
"""

from __future__ import annotations

import re

from ..errors import EncodeError
from ..limits import Limits

__all__ = ["EV_CDATA", "EV_DOCTYPE", "EV_END", "EV_EOF", "EV_START", "EV_TEXT", "Scanner",
           "check_chars"]

EV_EOF = 0
EV_START = 1
EV_END = 2
EV_TEXT = 3
EV_CDATA = 4
EV_DOCTYPE = 5

# Bytes that may not appear raw in an XML 1.0 document, plus U+FFFE / U+FFFF.
_BAD_CHAR = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|\xef\xbf[\xbe\xbf]")
_NAME = re.compile(rb"[A-Za-z_:\x80-\xff][A-Za-z0-9_:.\-\x80-\xff]*")
_WS = b" \t\r\n"
_PREDEFINED = {b"amp": b"&", b"lt": b"<", b"gt": b">", b"quot": b'"', b"apos": b"'"}
XML_NS_URI = b"http://www.w3.org/XML/1998/namespace"


def check_chars(data: bytes, start: int) -> None:
    """Raise ``invalid_utf8`` / ``malformed_xml`` at the first bad byte from ``start`` on.

    Whichever comes first wins, so the compiled twin's single C pass gives the same answer.
    """
    stop = len(data)
    try:
        data[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        stop = start + exc.start
        bad = _BAD_CHAR.search(data, start, stop)
        if bad is None:
            raise EncodeError("invalid_utf8", stop) from None
        raise EncodeError("malformed_xml", bad.start()) from None
    bad = _BAD_CHAR.search(data, start, stop)
    if bad is not None:
        raise EncodeError("malformed_xml", bad.start())


def _valid_codepoint(cp: int) -> bool:
    if cp < 0x20:
        return cp in (0x9, 0xA, 0xD)
    return not (0xD800 <= cp <= 0xDFFF or cp in (0xFFFE, 0xFFFF) or cp > 0x10FFFF)


class Scanner:
    """Cursor over one XML document (see the module docstring for the event fields)."""

    def __init__(self, data: bytes, start: int, limits: Limits) -> None:
        self.data = data
        self.pos = start
        self.end = len(data)
        self.max_depth = limits.max_depth
        self.max_elements = limits.max_elements
        self.max_text = limits.max_opaque
        self.elements = 0
        self.stack: list[bytes] = []
        # Namespace bindings: one dict per open element that declared any, with its depth.
        self.ns_frames: list[tuple[int, dict[bytes, bytes]]] = [(0, {b"xml": XML_NS_URI})]
        self.default_ns: list[tuple[int, bytes]] = [(0, b"")]
        self.root_seen = False
        self.root_done = False
        self.pending_end = False
        self.seen_doctype = False
        # Event fields.
        self.offset = 0
        self.name = b""
        self.local = b""
        self.ns = b""
        self.attrs: list[tuple[bytes, bytes, bytes]] = []
        """Namespaced attributes of a start tag: (local name, value, namespace URI). Attributes
        without a prefix are checked (syntax, duplicates, references) but not kept: SyncML
        defines none, libwbxml writes none, and a flood of them must cost no memory."""
        self.plain_attrs = 0
        """How many unprefixed attributes other than ``xmlns`` the start tag has (the encoder
        refuses or writes them; the scanner keeps none)."""
        self.text = b""
        self.fpi: bytes | None = None
        self.sysid: bytes | None = None

    @property
    def depth(self) -> int:
        return len(self.stack)

    @property
    def plain_attr_count(self) -> int:
        return self.plain_attrs

    def _fail(self, reason: str, offset: int) -> EncodeError:
        return EncodeError(reason, offset)

    def next(self) -> int:
        if self.pending_end:
            self.pending_end = False
            return self._pop_element(self.offset)
        data = self.data
        end = self.end
        pieces: list[bytes] = []
        run_start = -1
        while True:
            pos = self.pos
            if pos >= end:
                if pieces:
                    return self._text_event(pieces, run_start)
                if self.stack or not self.root_seen:
                    raise self._fail("malformed_xml", end)
                return EV_EOF
            if data[pos] != 0x3C:  # text up to the next '<'
                if run_start < 0:
                    run_start = pos
                lt = data.find(b"<", pos)
                if lt < 0:
                    lt = end
                self._text_piece(pos, lt, pieces)
                self.pos = lt
                continue
            nxt = data[pos + 1] if pos + 1 < end else -1
            if nxt == 0x21 and data.startswith(b"<!--", pos):  # comment: transparent
                close = data.find(b"-->", pos + 4)
                if close < 0:
                    raise self._fail("malformed_xml", pos)
                self.pos = close + 3
                continue
            if nxt == 0x3F:  # PI: transparent; the XML declaration only at the start
                self._skip_pi(pos)
                continue
            if pieces:
                return self._text_event(pieces, run_start)
            if nxt == 0x21:
                if data.startswith(b"<![CDATA[", pos):
                    return self._cdata(pos)
                if data.startswith(b"<!DOCTYPE", pos):
                    return self._doctype(pos)
                raise self._fail("malformed_xml", pos)
            if nxt == 0x2F:
                return self._end_tag(pos)
            return self._start_tag(pos)

    # -- character data -------------------------------------------------------------------
    def _text_piece(self, pos: int, stop: int, pieces: list[bytes]) -> None:
        data = self.data
        if not self.stack:
            # Outside the root only whitespace may appear (and no references).
            i = pos
            while i < stop:
                if data[i] not in _WS:
                    raise self._fail("malformed_xml", i)
                i += 1
            return
        bracket = data.find(b"]]>", pos, stop)
        if bracket >= 0:
            raise self._fail("malformed_xml", bracket)
        i = pos
        while i < stop:
            amp = data.find(b"&", i, stop)
            chunk_end = stop if amp < 0 else amp
            if chunk_end > i:
                chunk = data[i:chunk_end]
                if b"\r" in chunk:
                    chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
                pieces.append(chunk)
            if amp < 0:
                break
            value, i = self._reference(amp, stop)
            pieces.append(value)

    def _reference(self, amp: int, stop: int) -> tuple[bytes, int]:
        """Resolve the reference at ``amp``; returns (UTF-8 bytes, position after ';')."""
        data = self.data
        semi = data.find(b";", amp + 1, min(stop, amp + 40))
        if semi < 0:
            raise self._fail("malformed_xml", amp)
        body = data[amp + 1:semi]
        if body[:1] == b"#":
            digits = body[1:]
            base = 10
            if digits[:1] == b"x":
                digits = digits[1:]
                base = 16
            ok = len(digits) > 0 and all(
                (48 <= c <= 57) or (base == 16 and (97 <= c <= 102 or 65 <= c <= 70))
                for c in digits
            )
            if not ok:
                raise self._fail("malformed_xml", amp)
            cp = int(digits, base)
            if not _valid_codepoint(cp):
                raise self._fail("malformed_xml", amp)
            return chr(cp).encode("utf-8"), semi + 1
        value = _PREDEFINED.get(body)
        if value is None:
            match = _NAME.fullmatch(body)
            raise self._fail("undefined_entity" if match else "malformed_xml", amp)
        return value, semi + 1

    def _text_event(self, pieces: list[bytes], run_start: int) -> int:
        self.text = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self.offset = run_start
        if len(self.text) > self.max_text:
            raise self._fail("too_large", run_start)
        return EV_TEXT

    def _cdata(self, pos: int) -> int:
        if not self.stack:
            raise self._fail("malformed_xml", pos)
        close = self.data.find(b"]]>", pos + 9)
        if close < 0:
            raise self._fail("malformed_xml", pos)
        text = self.data[pos + 9:close]
        if b"\r" in text:
            text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        self.text = text
        self.offset = pos
        self.pos = close + 3
        if len(text) > self.max_text:
            raise self._fail("too_large", pos)
        return EV_CDATA

    def _skip_pi(self, pos: int) -> None:
        data = self.data
        close = data.find(b"?>", pos + 2)
        if close < 0:
            raise self._fail("malformed_xml", pos)
        match = _NAME.match(data, pos + 2)
        if match is None:
            raise self._fail("malformed_xml", pos)
        target = match.group()
        if target.lower() == b"xml":
            # The XML declaration: only as the very first thing (after a BOM).
            first = 3 if data.startswith(b"\xef\xbb\xbf") else 0
            if pos != first or target != b"xml":
                raise self._fail("malformed_xml", pos)
        self.pos = close + 2

    # -- DOCTYPE ----------------------------------------------------------------------------
    def _doctype(self, pos: int) -> int:
        data = self.data
        if self.root_seen or self.seen_doctype:
            raise self._fail("malformed_xml", pos)
        self.seen_doctype = True
        i = self._skip_ws(pos + 9, required=True)
        match = _NAME.match(data, i)
        if match is None:
            raise self._fail("malformed_xml", pos)
        i = match.end()
        self.fpi = self.sysid = None
        j = self._skip_ws(i, required=False)
        if data.startswith(b"PUBLIC", j) and j > i:
            i = self._skip_ws(j + 6, required=True)
            self.fpi, i = self._quoted(i, pos)
            j = self._skip_ws(i, required=False)
            if j < self.end and data[j] in b"'\"" and j > i:
                self.sysid, i = self._quoted(j, pos)
                j = self._skip_ws(i, required=False)
        elif data.startswith(b"SYSTEM", j) and j > i:
            i = self._skip_ws(j + 6, required=True)
            self.sysid, i = self._quoted(i, pos)
            j = self._skip_ws(i, required=False)
        if j < self.end and data[j] == 0x5B:  # '[': an internal subset (entities live there)
            raise self._fail("forbidden_dtd", pos)
        if j >= self.end or data[j] != 0x3E:
            raise self._fail("malformed_xml", pos)
        self.pos = j + 1
        self.offset = pos
        return EV_DOCTYPE

    def _skip_ws(self, i: int, required: bool) -> int:
        start = i
        data = self.data
        while i < self.end and data[i] in _WS:
            i += 1
        if required and i == start:
            raise self._fail("malformed_xml", i)
        return i

    def _quoted(self, i: int, at: int) -> tuple[bytes, int]:
        data = self.data
        if i >= self.end or data[i] not in b"'\"":
            raise self._fail("malformed_xml", at)
        close = data.find(data[i:i + 1], i + 1)
        if close < 0:
            raise self._fail("malformed_xml", at)
        return data[i + 1:close], close + 1

    # -- tags -------------------------------------------------------------------------------
    def _start_tag(self, pos: int) -> int:
        data = self.data
        if self.root_done:
            raise self._fail("malformed_xml", pos)
        match = _NAME.match(data, pos + 1)
        if match is None:
            raise self._fail("malformed_xml", pos)
        name = match.group()
        i = match.end()
        attrs: list[tuple[bytes, bytes, bytes]] = []
        seen: set[bytes] | None = None
        plain = 0
        while True:
            j = self._skip_ws(i, required=False)
            if j >= self.end:
                raise self._fail("malformed_xml", pos)
            c = data[j]
            if c == 0x3E or (c == 0x2F and data.startswith(b"/>", j)):
                break
            if j == i:
                raise self._fail("malformed_xml", j)
            amatch = _NAME.match(data, j)
            if amatch is None:
                raise self._fail("malformed_xml", j)
            aname = amatch.group()
            k = self._skip_ws(amatch.end(), required=False)
            if k >= self.end or data[k] != 0x3D:
                raise self._fail("malformed_xml", k)
            k = self._skip_ws(k + 1, required=False)
            value, i = self._attr_value(k)
            if seen is None:
                seen = set()
            if aname in seen:
                raise self._fail("malformed_xml", j)
            seen.add(aname)
            # Only xmlns declarations and prefixed attributes are kept (see ``attrs``).
            if b":" in aname or aname == b"xmlns":
                attrs.append((aname, value, b""))
            else:
                plain += 1
        self.elements += 1
        if self.elements > self.max_elements:
            raise self._fail("too_many_elements", pos)
        if len(self.stack) >= self.max_depth:
            raise self._fail("too_deep", pos)
        depth = len(self.stack) + 1
        if attrs:
            attrs = self._bind_namespaces(attrs, depth, pos)
        self.ns, self.local = self._resolve(name, pos, element=True)
        self.stack.append(name)
        self.root_seen = True
        self.name = name
        self.attrs = attrs
        self.plain_attrs = plain
        self.offset = pos
        if data[j] == 0x2F:
            self.pos = j + 2
            self.pending_end = True
        else:
            self.pos = j + 1
        return EV_START

    def _attr_value(self, k: int) -> tuple[bytes, int]:
        data = self.data
        if k >= self.end or data[k] not in b"'\"":
            raise self._fail("malformed_xml", k)
        close = data.find(data[k:k + 1], k + 1)
        if close < 0:
            raise self._fail("malformed_xml", k)
        lt = data.find(b"<", k + 1, close)
        if lt >= 0:
            raise self._fail("malformed_xml", lt)
        pieces: list[bytes] = []
        i = k + 1
        while i < close:
            amp = data.find(b"&", i, close)
            chunk_end = close if amp < 0 else amp
            if chunk_end > i:
                chunk = data[i:chunk_end].replace(b"\r\n", b" ")
                pieces.append(chunk.translate(_ATTR_WS))
            if amp < 0:
                break
            value, i = self._reference(amp, close)
            pieces.append(value)
        return b"".join(pieces), close + 1

    def _bind_namespaces(self, attrs: list[tuple[bytes, bytes, bytes]], depth: int,
                         pos: int) -> list[tuple[bytes, bytes, bytes]]:
        bindings: dict[bytes, bytes] = {}
        for aname, value, _ in attrs:
            if aname == b"xmlns":
                self.default_ns.append((depth, value))
            elif aname.startswith(b"xmlns:"):
                prefix = aname[6:]
                if not prefix or b":" in prefix or (not value and prefix != b"xml"):
                    raise self._fail("malformed_xml", pos)
                bindings[prefix] = value
        if bindings:
            self.ns_frames.append((depth, bindings))
        out: list[tuple[bytes, bytes, bytes]] = []
        for aname, value, _ in attrs:
            if aname == b"xmlns" or aname.startswith(b"xmlns:"):
                continue
            ns, local = self._resolve(aname, pos, element=False)
            out.append((local, value, ns))
        return out

    def _resolve(self, qname: bytes, pos: int, element: bool) -> tuple[bytes, bytes]:
        colon = qname.find(b":")
        if colon < 0:
            return (self.default_ns[-1][1] if element else b""), qname
        prefix = qname[:colon]
        local = qname[colon + 1:]
        if not prefix or not local or b":" in local:
            raise self._fail("malformed_xml", pos)
        for _, bindings in reversed(self.ns_frames):
            uri = bindings.get(prefix)
            if uri is not None:
                return uri, local
        raise self._fail("malformed_xml", pos)

    def _end_tag(self, pos: int) -> int:
        data = self.data
        match = _NAME.match(data, pos + 2)
        if match is None or not self.stack or match.group() != self.stack[-1]:
            raise self._fail("malformed_xml", pos)
        j = self._skip_ws(match.end(), required=False)
        if j >= self.end or data[j] != 0x3E:
            raise self._fail("malformed_xml", pos)
        self.pos = j + 1
        return self._pop_element(pos)

    def _pop_element(self, pos: int) -> int:
        depth = len(self.stack)
        self.name = self.stack.pop()
        if self.ns_frames[-1][0] == depth:
            self.ns_frames.pop()
        if self.default_ns[-1][0] == depth:
            self.default_ns.pop()
        if not self.stack:
            self.root_done = True
        self.offset = pos
        return EV_END


_ATTR_WS = bytes.maketrans(b"\t\n\r", b"   ")
