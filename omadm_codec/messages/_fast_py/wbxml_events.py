"""WBXML tokens as the XML scanner's events, for the message builder (pure-Python twin).

``WbxmlEvents(data, limits)`` reads a SyncML WBXML message once, forward, and each ``next()``
returns the event the shared XML scanner (``wbxml._xmlscan_py``) would return on the XML that
``wbxml_to_xml`` writes for the same bytes: ``EV_START`` (``local``, ``ns``), ``EV_END``,
``EV_TEXT`` / ``EV_CDATA`` (``text``), ``EV_EOF``, plus ``EV_OPAQUE`` (``text`` holds the raw
bytes of a binary OPAQUE that is an element's whole content, where ``wbxml_to_xml`` writes its
base64 marker). So the builder in ``_fast_py/build.py`` runs unchanged on WBXML, with no XML text
in between.

The one idea: this source mirrors ``wbxml_to_xml`` rule for rule (element namespace from the
code page, libwbxml's Data classification deciding CDATA, the MetInf Type rewrite, NextNonce
OPAQUE as base64, a nested DevInf / TNDS document inside OPAQUE streamed as elements) but it
never reports an error: anything outside that common ground (attributes, LITERAL, EXT_*, PI,
charsets other than UTF-8, limits reached, a nested document that does not parse, anything
``wbxml_to_xml`` refuses) raises ``WbxmlGiveUp`` and the caller takes the XML hub instead.
"""

from __future__ import annotations

import base64

from ...limits import Limits
from ...wbxml._decode_tables import (
    C_CDATA,
    C_NEST_DEVINF,
    C_NEST_DMTNDS,
    C_PLAIN,
    END,
    ENTITY,
    K_DATA,
    K_META,
    K_NEXTNONCE,
    K_OTHER,
    K_TYPE,
    LITERAL,
    OPAQUE,
    STR_I,
    STR_T,
    SWITCH_PAGE,
    T_NONE,
    TABLE_BUDGET_BASE,
    TABLE_BUDGET_FACTOR,
    charset_to_utf8,
    classify_type,
    data_class,
    nested_language_ok,
    rewrite_type,
    tag_table,
    valid_entity,
)
from ...wbxml._xmlscan_py import EV_CDATA, EV_END, EV_EOF, EV_START, EV_TEXT
from ...wbxml.codepages import (
    BY_FPI,
    BY_PUBLIC_ID,
    FPI_ALIASES,
    SYNCML10,
    SYNCML11,
    SYNCML12,
    Language,
)
from .._fast_vocab import MAX_FAST_TEXT
from .._guard import MAX_TAG

__all__ = ["EV_OPAQUE", "WbxmlEvents", "WbxmlGiveUp"]

EV_OPAQUE = 6

_OUTER = (SYNCML10, SYNCML11, SYNCML12)


class WbxmlGiveUp(Exception):
    """Not a message the token path vouches for: the XML hub decides."""


class _Tag:
    """A tokenised tag of one language: its name, namespace and Data-classification role."""

    __slots__ = ("local", "ns", "kind")

    def __init__(self, local: bytes, ns: bytes, kind: int) -> None:
        self.local = local
        self.ns = ns
        self.kind = kind


_TAGS: dict[str, dict[tuple[int, int], _Tag]] = {}


def _tags(lang: Language) -> dict[tuple[int, int], _Tag]:
    """(page, token) -> _Tag, built once per language (the same bytes objects every call);
    the kinds are the WBXML decoder's (``tag_table``)."""
    table = _TAGS.get(lang.name)
    if table is None:
        table = {}
        infos = tag_table(lang)
        for page, tokens in lang.pages.items():
            ns = lang.namespaces.get(page, "").encode("ascii")
            for token, name in tokens.items():
                table[(page, token)] = _Tag(name.encode("ascii"), ns, infos[(page, token)].kind)
        _TAGS[lang.name] = table
    return table


class _Open:
    """One open element (what ``wbxml_to_xml``'s ``_Element`` tracks that matters here)."""

    __slots__ = ("kind", "cls", "type_code", "meta_seen", "first_meta", "type_seen", "pending",
                 "capture")

    def __init__(self, kind: int) -> None:
        self.kind = kind
        self.cls = C_PLAIN
        self.type_code = T_NONE
        self.meta_seen = False
        self.first_meta = False
        self.type_seen = False
        self.pending = True
        """Nothing written into the element yet (where a binary OPAQUE may be its content)."""
        self.capture: list[bytes] | None = None
        """Text of a MetInf Type, held back for the classification and the rewrite."""


class _Doc:
    """The document being read: the outer message or a nested one inside OPAQUE."""

    __slots__ = ("end", "table_start", "table_len", "lang", "tags", "page", "base")

    def __init__(self, end: int, table_start: int, table_len: int, lang: Language,
                 base: int) -> None:
        self.end = end
        self.table_start = table_start
        self.table_len = table_len
        self.lang = lang
        self.tags = _tags(lang)
        self.page = 0
        self.base = base
        """Stack depth outside this document (0 for the outer message)."""


def _giveup() -> WbxmlGiveUp:
    return WbxmlGiveUp()


class WbxmlEvents:
    """Cursor over one WBXML message (see the module docstring for the event fields)."""

    def __init__(self, data: bytes, limits: Limits, max_depth: int) -> None:
        self.data = data
        self.pos = 0
        self.limits = limits
        self.max_depth = max_depth
        self.elements = 0
        self.table_budget = TABLE_BUDGET_FACTOR * len(data) + TABLE_BUDGET_BASE
        # Text bytes since the last element start or end: one text node of the hub's XML,
        # which must stay under libxml2's node limit (MAX_FAST_TEXT) for the path to vouch.
        self.run = 0
        self.stack: list[_Open] = []
        self.docs: list[_Doc] = []
        self.pending_end = False
        self.root_done = False
        # Event fields.
        self.offset = 0
        self.local = b""
        self.ns = b""
        self.text = b""
        self.fpi: bytes | None = None
        self.sysid: bytes | None = None
        """No DOCTYPE event: the one wbxml_to_xml writes names the version of the root's
        namespace, so it never disagrees with it."""
        self.doc = self.header(0, len(data), 0)
        if self.doc.lang not in _OUTER:
            raise _giveup()

    # -- primitive readers ----------------------------------------------------------------

    def mb(self, end: int) -> int:
        """The mb_u_int32 at the cursor (at most 5 bytes, below 2**32), cursor past it."""
        data = self.data
        pos = self.pos
        value = 0
        for i in range(5):
            if pos + i >= end:
                raise _giveup()
            byte = data[pos + i]
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                if value >= 1 << 32:
                    raise _giveup()
                self.pos = pos + i + 1
                return value
        raise _giveup()

    def table_string(self, doc: _Doc, index: int) -> bytes:
        if index >= doc.table_len:
            raise _giveup()
        at = doc.table_start + index
        table_end = doc.table_start + doc.table_len
        stop = self.data.find(b"\0", at, table_end)
        text = self.data[at:table_end if stop < 0 else stop]
        self.table_budget -= len(text)
        if self.table_budget < 0:
            raise _giveup()
        return text

    def header(self, start: int, end: int, base: int) -> _Doc:
        """Version, public id, charset (UTF-8 only) and string table of the document at
        ``start``; the cursor ends on its first body token."""
        data = self.data
        if start >= end or data[start] > 3:
            raise _giveup()
        version = data[start]
        self.pos = start + 1
        public_id = self.mb(end)
        fpi_index = self.mb(end) if public_id == 0 else -1
        if version != 0 and self.mb(end) not in (0, 106):
            raise _giveup()  # another charset: the hub converts it
        table_len = self.mb(end)
        if table_len > end - self.pos or table_len > self.limits.max_string_table:
            raise _giveup()
        table_start = self.pos
        self.pos += table_len
        if fpi_index < 0:
            lang = BY_PUBLIC_ID.get(public_id)
        else:
            doc = _Doc(end, table_start, table_len, SYNCML12, base)
            fpi = charset_to_utf8(self.table_string(doc, fpi_index), 106)
            key = fpi.decode().lower() if fpi is not None else ""
            lang = BY_FPI.get(key) or FPI_ALIASES.get(key)
        if lang is None:
            raise _giveup()
        return _Doc(end, table_start, table_len, lang, base)

    def text_value(self, raw: bytes) -> bytes:
        text = charset_to_utf8(raw, 106)
        if text is None:
            raise _giveup()
        return text

    # -- events ---------------------------------------------------------------------------

    def next(self) -> int:
        if self.pending_end:
            self.pending_end = False
            return self.close()
        data = self.data
        while True:
            doc = self.doc
            end = doc.end
            pos = self.pos
            if pos >= end:
                if self.stack or not self.root_done:
                    raise _giveup()
                return EV_EOF
            if self.root_done:
                raise _giveup()  # trailing PI or garbage: the hub decides
            tok = data[pos]
            self.offset = pos
            self.pos = pos + 1
            if tok == SWITCH_PAGE:
                if pos + 1 >= end:
                    raise _giveup()
                doc.page = data[pos + 1]
                self.pos = pos + 2
                continue
            if tok == END:
                if len(self.stack) <= doc.base:
                    raise _giveup()
                return self.end_token()
            ident = tok & 0x3F
            if tok in (STR_I, STR_T, ENTITY, OPAQUE):
                if len(self.stack) <= doc.base:
                    raise _giveup()
                event = self.content(tok, doc)
                if event:
                    return event
                continue
            if ident <= LITERAL or tok & 0x80:
                raise _giveup()  # LITERAL, EXT_*, PI, attributes
            tag = doc.tags.get((doc.page, ident))
            if tag is None:
                raise _giveup()
            return self.start(tag, tok & 0x40 != 0)

    def start(self, tag: _Tag, has_content: bool) -> int:
        stack = self.stack
        if len(stack) >= self.max_depth:
            raise _giveup()
        self.elements += 1
        self.run = 0
        if self.elements > self.limits.max_elements:
            raise _giveup()
        parent = stack[-1] if stack else None
        element = _Open(tag.kind)
        if parent is not None:
            if parent.capture is not None:
                raise _giveup()  # an element inside a MetInf Type
            parent.pending = False
            if tag.kind == K_META and not parent.meta_seen:
                parent.meta_seen = True
                element.first_meta = True
            if has_content and tag.kind == K_DATA:
                grand = stack[-2] if len(stack) >= 2 else None
                element.cls = data_class(parent.type_code,
                                         grand.type_code if grand is not None else T_NONE,
                                         grand.kind if grand is not None else K_OTHER)
        if has_content and tag.kind == K_TYPE:
            element.capture = []
        stack.append(element)
        if not has_content:
            self.pending_end = True
        self.local = tag.local
        self.ns = tag.ns
        return EV_START

    def end_token(self) -> int:
        """END: the end event, after the text of a MetInf Type (rewritten, as the hub does)."""
        element = self.stack[-1]
        if element.capture is None:
            return self.close()
        text = b"".join(element.capture)
        element.capture = None
        stack = self.stack
        if len(stack) >= 3 and stack[-2].first_meta and not stack[-2].type_seen:
            stack[-2].type_seen = True
            stack[-3].type_code = classify_type(text)
        if not text:
            return self.close()
        if len(text) >= MAX_FAST_TEXT:
            raise _giveup()
        self.text = rewrite_type(self.doc.lang, text)
        self.pending_end = True
        return EV_TEXT

    def close(self) -> int:
        self.run = 0
        self.stack.pop()
        doc = self.doc
        if len(self.stack) == doc.base:
            if doc.base == 0:
                self.root_done = True
            else:
                # A nested document ends with its root: what follows is the outer one's.
                if self.pos != doc.end:
                    raise _giveup()
                self.doc = self.docs.pop()
        return EV_END

    def content(self, tok: int, doc: _Doc) -> int:
        """A STR_I, STR_T, ENTITY or OPAQUE: its event, or 0 when it yields none."""
        data = self.data
        top = self.stack[-1]
        end = doc.end
        tok_off = self.pos - 1
        if tok == STR_I:
            pos = self.pos
            stop = data.find(b"\0", pos, end)
            if stop < 0 or stop - pos > self.limits.max_opaque:
                raise _giveup()
            text = self.text_value(data[pos:stop])
            self.pos = stop + 1
        elif tok == STR_T:
            text = self.text_value(self.table_string(doc, self.mb(end)))
        elif tok == ENTITY:
            code = self.mb(end)
            if not valid_entity(code):
                raise _giveup()
            text = chr(code).encode("utf-8")
        else:
            length = self.mb(end)
            pos = self.pos
            if length > end - pos or length > self.limits.max_opaque:
                raise _giveup()
            raw = data[pos:pos + length]
            self.pos = pos + length
            if data[pos + length:pos + length + 2] == b"\x03\x00":
                raise _giveup()  # maybe markup carried as its text: the hub decides
            if top.kind == K_NEXTNONCE:
                text = base64.b64encode(raw)
            elif raw and top.cls in (C_NEST_DEVINF, C_NEST_DMTNDS):
                return self.nested(top, pos, pos + length)
            else:
                found = charset_to_utf8(raw, 106)
                if found is None:
                    return self.binary(top, raw, tok_off)
                text = found
        if not text:
            return 0
        if top.capture is not None:
            top.capture.append(text)
            return 0
        top.pending = False
        if top.cls == C_CDATA and len(text) > MAX_TAG and b"<" in text:
            raise _giveup()  # the guard's tag_too_long would see '<' in the CDATA
        self.run += len(text)
        if self.run >= MAX_FAST_TEXT:
            raise _giveup()
        self.text = text
        return EV_CDATA if top.cls == C_CDATA else EV_TEXT

    def binary(self, top: _Open, raw: bytes, tok_off: int) -> int:
        """OPAQUE bytes that are not XML text: only an element's whole content (the hub's
        base64 marker); anywhere else ``wbxml_to_xml`` refuses them."""
        pos = self.pos
        if (not top.pending or top.capture is not None or pos >= self.doc.end
                or self.data[pos] != END):
            raise _giveup()
        top.pending = False
        if (len(raw) + 2) // 3 * 4 >= MAX_FAST_TEXT:  # the hub's base64 text
            raise _giveup()
        self.offset = tok_off
        self.text = raw
        return EV_OPAQUE

    def nested(self, data_element: _Open, start: int, end: int) -> int:
        """A nested document inside a Data's OPAQUE: its elements follow as events."""
        doc = self.header(start, end, len(self.stack))
        if not nested_language_ok(data_element.cls, doc.lang):
            raise _giveup()  # the hub writes it as text instead
        self.docs.append(self.doc)
        self.doc = doc
        return 0
