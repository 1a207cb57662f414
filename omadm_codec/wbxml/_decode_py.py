"""WBXML -> XML for SyncML DM and WAP provisioning documents (pure twin of ``wbxml._decode_c``).

The one idea: a single forward pass over the tokens with an explicit element stack (no
recursion), writing XML as it goes. A start tag is left open (``<Name`` without ``>``) until its
first child, text or END arrives, so an element with no content becomes ``<X/>`` and a binary
OPAQUE that is an element's whole content can still put its marker attribute into the tag.

Output follows libwbxml 0.11.8's compact (or indent) mode, except where libwbxml is lossy or
writes XML that is not well-formed; there we differ, on purpose:

* text is written verbatim (no whitespace stripping); CR is written ``&#13;`` so it survives
  re-parsing (also inside CDATA, which is split around it), and ``]]>`` in CDATA is split;
* OPAQUE bytes that are not valid UTF-8 XML text are written as base64 and the element gets
  ``xmlns:wbxml="urn:omadm-codec:wbxml" wbxml:opaque="base64"``; this is only possible when the
  OPAQUE is the element's whole content (else ``invalid_text``). NextNonce OPAQUE is base64
  without a marker, as libwbxml does;
* STR_I / STR_T / ENTITY text that is invalid in the charset or holds a character XML forbids
  raises ``DecodeError("invalid_text", offset of the token)``; so do literal names that are not
  plain ASCII XML names, and duplicate or ``xmlns`` literal attributes;
* unknown tag tokens (page-0 token 0x30 included) raise ``unknown_token`` (libwbxml writes
  ``<unknown>``); EXT_* raise ``unsupported_extension``; PIs are skipped;
* a SyncML ``Data`` whose whole content is one OPAQUE followed by an empty inline string (the
  marker ``_markup`` describes) and whose bytes are markup that stands alone is written as
  that markup, in a Data marked ``xmlns:wbxml="urn:omadm-codec:wbxml" wbxml:opaque="markup"``
  (libwbxml writes the text); its elements count towards ``max_depth`` and ``max_elements``
  (those errors point at the OPAQUE); other bytes are written as the OPAQUE they are;
* a LITERAL element may carry namespace declarations as LITERAL attributes (``xmlns``,
  ``xmlns:p``): they are written when libxml2 would accept them, else ``invalid_text``; on a
  tokenised element (whose namespace comes from its code page) they are ``invalid_text``;
* attributes: in a language with attribute tables (PROV 1.0) a value is the start token's
  prefix followed by inline / table strings, entities, UTF-8 OPAQUE and value tokens, on the
  attribute code page (SWITCH_PAGE inside an attribute list; it persists across elements). An
  unknown start or value token (or a value token where a start belongs) raises
  ``unknown_attribute``; an assembled value longer than ``max_opaque`` raises ``too_large``.
  TAB, LF and CR in values are written as character references (libwbxml writes them raw,
  which a parser reads back as spaces). Elements of a code page without a namespace get no
  ``xmlns``;
* the Data classification only sees a Meta that comes before the Data (we stream); a nested
  document must be of the language its Type announces (DevInf, or DM DDF for TNDS), so nesting
  stops after one level; a nested document that fails to parse falls back to text (base64 if
  binary), except for limit errors, which propagate;
* string-table references (STR_T, LITERAL names, the FPI) may copy out at most
  16 x len(input) + 1 MiB bytes per call (``too_large`` at the index), so a few bytes of STR_T
  cannot expand to gigabytes; every other construct is bounded by a constant factor, by
  ``max_elements`` or (indent mode) by ``indent x max_depth`` per element;
* WBXML 1.0 (no charset field) is accepted; a string-table string may end at the table's end
  without its terminator (real phones send that); non-minimal mb_u_int32 are accepted.

Error offsets are absolute in the outer input (nested documents included). ``truncated`` points
at the length field when a declared length runs past the end, else at the end of the (outer or
nested) document. ``too_large`` points at the length field (string table, OPAQUE), at the first
byte of an STR_I string, or at ``max_input_size`` for the whole input; ``too_deep`` and
``too_many_elements`` at the tag token; token-level errors at the token; mb_u_int32 errors at
the integer's first byte.
"""

from __future__ import annotations

import base64

from ..errors import DecodeError
from ..limits import DEFAULT_LIMITS, Limits, over_input_size
from ._decode_tables import (
    C_CDATA,
    C_NEST_DEVINF,
    C_NEST_DMTNDS,
    C_PLAIN,
    END,
    ENTITY,
    EXTENSIONS,
    K_DATA,
    K_META,
    K_NEXTNONCE,
    K_OTHER,
    K_TYPE,
    LIMIT_REASONS,
    LITERAL,
    OPAQUE,
    OPAQUE_MARKER,
    PI,
    STR_I,
    STR_T,
    SWITCH_PAGE,
    T_NONE,
    T_OTHER,
    TABLE_BUDGET_BASE,
    TABLE_BUDGET_FACTOR,
    UTF16_CHARSETS,
    TagInfo,
    charset_to_utf8,
    classify_type,
    data_class,
    nested_language_ok,
    prologue,
    rewrite_type,
    root_open_ns,
    tag_table,
    valid_entity,
    valid_name,
)
from ._markup import (
    MARKUP_MARKER,
    FragmentLimit,
    NotMarkup,
    check_fragment,
    declaration_ok,
    is_declaration,
)
from .codepages import BY_FPI, BY_PUBLIC_ID, CHARSETS, FPI_ALIASES, Language

__all__ = ["wbxml_to_xml"]


class _Element:
    """One open element on the stack."""

    __slots__ = ("close", "page", "kind", "pending", "has_children", "has_text", "type_code",
                 "meta_seen", "first_meta", "type_seen", "cls", "capture")

    def __init__(self, close: bytes, page: int, kind: int) -> None:
        self.close = close
        self.page = page
        """The code page whose namespace is in effect here (-1: none)."""
        self.kind = kind
        self.pending = True
        """The start tag still lacks its ``>``."""
        self.has_children = False
        self.has_text = False
        self.type_code = T_NONE
        """Set from the first Type in this element's first Meta child."""
        self.meta_seen = False
        self.first_meta = False
        """This is a Meta and the first one of its parent."""
        self.type_seen = False
        self.cls = C_PLAIN
        """Rendering class of a Data element."""
        self.capture: bytearray | None = None
        """Text of a MetInf Type, held back for the Type classification and rewrite."""


def _escape(text: bytes) -> bytes:
    return (text.replace(b"&", b"&amp;").replace(b"<", b"&lt;").replace(b">", b"&gt;")
            .replace(b'"', b"&quot;").replace(b"'", b"&apos;").replace(b"\r", b"&#13;"))


def _escape_attr(text: bytes) -> bytes:
    return _escape(text).replace(b"\t", b"&#9;").replace(b"\n", b"&#10;")


def _cdata(text: bytes) -> bytes:
    body = text.replace(b"]]>", b"]]]]><![CDATA[>").replace(b"\r", b"]]>&#13;<![CDATA[")
    return b"<![CDATA[" + body + b"]]>"


def _opaque_text(raw: bytes) -> bytes | None:
    return charset_to_utf8(raw, 106)


class _Decoder:
    """State shared by the outer document and a nested one: input, output, stack, counters."""

    def __init__(self, data: bytes, indent: int | None, limits: Limits) -> None:
        self.data = data
        self.indent = indent
        self.limits = limits
        self.out = bytearray()
        self.stack: list[_Element] = []
        self.elements = 0
        # Bytes that string-table references (STR_T, LITERAL, the FPI) may copy out in one call:
        # a 2-byte STR_T can name a 1 MB string, so without a budget output is not bounded.
        self.table_budget = TABLE_BUDGET_FACTOR * len(data) + TABLE_BUDGET_BASE

    # -- primitive readers -------------------------------------------------------------------

    def mb(self, pos: int, end: int) -> tuple[int, int]:
        """mb_u_int32 at ``pos``: (value, next pos). At most 5 bytes, value below 2**32."""
        data = self.data
        value = 0
        for i in range(5):
            if pos + i >= end:
                raise DecodeError("truncated", end)
            byte = data[pos + i]
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                if value >= 1 << 32:
                    raise DecodeError("mb_u_int32_overflow", pos)
                return value, pos + i + 1
        raise DecodeError("mb_u_int32_overflow", pos)

    def termstr(self, pos: int, end: int, width: int) -> int:
        """Offset of the terminator of the string starting at ``pos``."""
        data = self.data
        if width == 1:
            at = data.find(b"\0", pos, end)
        else:
            at = data.find(b"\0\0", pos, end)
            while at != -1 and (at - pos) & 1:
                at = data.find(b"\0\0", at + 1, end)
        if at == -1:
            raise DecodeError("truncated", end)
        return at

    def newline(self, depth: int) -> None:
        assert self.indent is not None
        self.out += b"\n" + b" " * (self.indent * depth)

    def open_content(self, element: _Element) -> None:
        """Something goes into ``element``: finish its start tag and release held-back text."""
        if element.pending:
            self.out += b">"
            element.pending = False
        if element.capture is not None:
            if element.capture:
                self.out += _escape(bytes(element.capture))
                element.has_text = True
            element.capture = None

    def text(self, element: _Element, text: bytes) -> None:
        if not text:
            return
        if element.capture is not None:
            element.capture += text
            return
        self.open_content(element)
        self.out += _cdata(text) if element.cls == C_CDATA else _escape(text)
        element.has_text = True

    # -- documents ---------------------------------------------------------------------------

    def document(self, start: int, end: int, nested: int) -> None:
        """Decode the document in ``data[start:end]``; ``nested`` is 0 or the Data class."""
        data, limits = self.data, self.limits
        pos = start
        if pos >= end:
            raise DecodeError("truncated", end)
        version = data[pos]
        if version > 3:
            raise DecodeError("unsupported_version", pos)
        pid_off = pos + 1
        public_id, pos = self.mb(pid_off, end)
        lang: Language | None = None
        fpi_index = fpi_off = 0
        if public_id == 0:
            fpi_off = pos
            fpi_index, pos = self.mb(pos, end)
        else:
            lang = BY_PUBLIC_ID.get(public_id)
            if lang is None:
                raise DecodeError("unknown_public_id", pid_off)
        charset = 106
        if version != 0:
            charset_off = pos
            charset, pos = self.mb(pos, end)
            if charset not in CHARSETS:
                raise DecodeError("bad_charset", charset_off)
        width = 2 if charset in UTF16_CHARSETS else 1
        len_off = pos
        table_len, pos = self.mb(pos, end)
        if table_len > end - pos:
            raise DecodeError("truncated", len_off)
        if table_len > limits.max_string_table:
            raise DecodeError("too_large", len_off)
        table_start, table_end = pos, pos + table_len
        pos = table_end

        def table_string(index: int, index_off: int) -> bytes:
            if index >= table_len:
                raise DecodeError("bad_string_table_ref", index_off)
            at = table_start + index
            if width == 1:
                stop = data.find(b"\0", at, table_end)
            else:
                stop = data.find(b"\0\0", at, table_end)
                while stop != -1 and (stop - at) & 1:
                    stop = data.find(b"\0\0", stop + 1, table_end)
            text = data[at:table_end if stop == -1 else stop]
            self.table_budget -= len(text)
            if self.table_budget < 0:
                raise DecodeError("too_large", index_off)
            return text

        if lang is None:
            fpi = charset_to_utf8(table_string(fpi_index, fpi_off), charset)
            key = fpi.decode().lower() if fpi is not None else ""
            lang = BY_FPI.get(key) or FPI_ALIASES.get(key)
            if lang is None:
                raise DecodeError("unknown_public_id", pid_off)
        if nested and not nested_language_ok(nested, lang):
            raise DecodeError("unknown_public_id", pid_off)
        tags = tag_table(lang)
        out, stack, indent = self.out, self.stack, self.indent
        if not nested:
            out += prologue(lang, indent)
        base = len(stack)
        tag_page = 0
        root_done = False

        def string_text(raw: bytes, tok_off: int) -> bytes:
            text = charset_to_utf8(raw, charset)
            if text is None:
                raise DecodeError("invalid_text", tok_off)
            return text

        def content_value(tok: int, tok_off: int, pos: int) -> tuple[bytes, int, bool]:
            """A string, entity or opaque token: (bytes, next pos, is_opaque)."""
            if tok == STR_I:
                stop = self.termstr(pos, end, width)
                if stop - pos > limits.max_opaque:
                    raise DecodeError("too_large", pos)
                return string_text(data[pos:stop], tok_off), stop + width, False
            if tok == STR_T:
                index, nxt = self.mb(pos, end)
                return string_text(table_string(index, pos), tok_off), nxt, False
            if tok == ENTITY:
                code, nxt = self.mb(pos, end)
                if not valid_entity(code):
                    raise DecodeError("invalid_text", tok_off)
                return chr(code).encode(), nxt, False
            # OPAQUE
            length, nxt = self.mb(pos, end)
            if length > end - nxt:
                raise DecodeError("truncated", pos)
            if length > limits.max_opaque:
                raise DecodeError("too_large", pos)
            return data[nxt:nxt + length], nxt + length, True

        def literal_name(pos: int, tok_off: int, declaration: bool = False) -> tuple[bytes, int]:
            """A LITERAL name; ``declaration``: ``xmlns:p`` is one too (a LITERAL element's
            attribute)."""
            index, nxt = self.mb(pos, end)
            name = charset_to_utf8(table_string(index, pos), charset)
            if name is None or not (valid_name(name) or (
                    declaration and name.startswith(b"xmlns:") and valid_name(name[6:]))):
                raise DecodeError("invalid_text", tok_off)
            return name, nxt

        def skip_pi(pos: int) -> int:
            while True:
                if pos >= end:
                    raise DecodeError("truncated", end)
                tok_off, tok = pos, data[pos]
                pos += 1
                if tok == END:
                    return pos
                if tok == SWITCH_PAGE:
                    if pos >= end:
                        raise DecodeError("truncated", end)
                    pos += 1
                elif tok == LITERAL:
                    index, nxt = self.mb(pos, end)
                    table_string(index, pos)
                    pos = nxt
                elif tok == STR_I:
                    pos = self.termstr(pos, end, width) + width
                elif tok in (STR_T, ENTITY, OPAQUE):
                    if tok == STR_T:
                        index, nxt = self.mb(pos, end)
                        table_string(index, pos)
                        pos = nxt
                    elif tok == ENTITY:
                        pos = self.mb(pos, end)[1]
                    else:
                        length, nxt = self.mb(pos, end)
                        if length > end - nxt:
                            raise DecodeError("truncated", pos)
                        pos = nxt + length
                elif tok in EXTENSIONS:
                    raise DecodeError("unsupported_extension", tok_off)
                else:
                    raise DecodeError("unknown_token", tok_off)

        attr_page = 0  # the attribute code page: separate from the tag page, kept across tags
        attr_starts, attr_values = lang.attr_start_by_token, lang.attr_value_by_token

        def attributes(pos: int, literal: bool) -> int:
            """The attribute list of a start tag; ``literal``: the element is a LITERAL (it
            may declare namespaces)."""
            nonlocal attr_page
            seen: set[bytes] = set()
            while True:
                if pos >= end:
                    raise DecodeError("truncated", end)
                tok_off, tok = pos, data[pos]
                pos += 1
                if tok == END:
                    return pos
                if tok == SWITCH_PAGE:
                    if pos >= end:
                        raise DecodeError("truncated", end)
                    attr_page = data[pos]
                    pos += 1
                    continue
                if tok in EXTENSIONS:
                    raise DecodeError("unsupported_extension", tok_off)
                if tok == LITERAL:
                    name, pos = literal_name(pos, tok_off, literal)
                    value = bytearray()
                elif attr_starts:
                    start = attr_starts.get((attr_page, tok)) if tok < 0x80 else None
                    if start is None:
                        raise DecodeError("unknown_attribute", tok_off)
                    name, value = start[0].encode(), bytearray(start[1].encode())
                else:
                    raise DecodeError("unknown_token", tok_off)
                declaration = is_declaration(name)
                if name in seen or (declaration and not literal):
                    raise DecodeError("invalid_text", tok_off)
                seen.add(name)
                while pos < end:
                    vtok_off, vtok = pos, data[pos]
                    if vtok == SWITCH_PAGE:
                        if pos + 1 >= end:
                            raise DecodeError("truncated", end)
                        attr_page = data[pos + 1]
                        pos += 2
                        continue
                    if vtok in EXTENSIONS:
                        raise DecodeError("unsupported_extension", pos)
                    if vtok in (STR_I, STR_T, ENTITY, OPAQUE):
                        piece, pos, is_opaque = content_value(vtok, vtok_off, pos + 1)
                        if is_opaque and piece and _opaque_text(piece) is None:
                            raise DecodeError("invalid_text", vtok_off)
                        value += piece
                    elif vtok >= 0x80 and attr_values:
                        text = attr_values.get((attr_page, vtok))
                        if text is None:
                            raise DecodeError("unknown_attribute", vtok_off)
                        value += text.encode()
                        pos += 1
                    else:
                        break
                    if len(value) > limits.max_opaque:
                        raise DecodeError("too_large", vtok_off)
                if declaration and not declaration_ok(name, bytes(value)):
                    raise DecodeError("invalid_text", tok_off)
                out.extend(b" " + name + b'="' + _escape_attr(bytes(value)) + b'"')

        while True:
            if pos >= end:
                if len(stack) > base or not root_done:
                    raise DecodeError("truncated", end)
                return
            tok_off, tok = pos, data[pos]
            pos += 1
            if root_done:
                if tok == PI:
                    pos = skip_pi(pos)
                    continue
                raise DecodeError("trailing_data", tok_off)
            if tok == SWITCH_PAGE:
                if pos >= end:
                    raise DecodeError("truncated", end)
                tag_page = data[pos]
                pos += 1
                continue
            if tok == END:
                if len(stack) <= base:
                    raise DecodeError("unbalanced_end", tok_off)
                self.close(stack, lang)
                root_done = len(stack) == base
                continue
            if tok == PI:
                pos = skip_pi(pos)
                continue
            if tok in EXTENSIONS:
                raise DecodeError("unsupported_extension", tok_off)
            ident = tok & 0x3F
            if ident < LITERAL:
                # Content: STR_I, STR_T, ENTITY, OPAQUE.
                if len(stack) <= base:
                    raise DecodeError("unknown_token", tok_off)
                top = stack[-1]
                value, pos, is_opaque = content_value(tok, tok_off, pos)
                if not is_opaque:
                    self.text(top, value)
                    continue
                if top.kind == K_NEXTNONCE:
                    if value:
                        self.open_content(top)
                        out += base64.b64encode(value)
                        top.has_text = True
                    continue
                if value and top.cls in (C_NEST_DEVINF, C_NEST_DMTNDS):
                    if self.nested(top, pos - len(value), pos):
                        continue
                if (top.kind == K_DATA and top.pending and top.capture is None
                        and data[pos:pos + 1] == b"\x03"
                        and data[pos + 1:pos + 2 + width] == b"\0" * width + b"\x01"):
                    after = self.markup(top, value, tok_off)
                    if after:
                        pos += 1 + width
                        continue
                text = _opaque_text(value)
                if text is not None:
                    self.text(top, text)
                elif top.pending and not top.capture and pos < end and data[pos] == END:
                    top.capture = None
                    top.pending = False
                    out += OPAQUE_MARKER + b">" + base64.b64encode(value)
                    top.has_text = True
                else:
                    raise DecodeError("invalid_text", tok_off)
                continue
            # A start tag: tokenised or literal.
            parent = stack[-1] if len(stack) > base else None
            if ident == LITERAL:
                name, pos = literal_name(pos, tok_off)
                info = TagInfo(b"<" + name, b"<" + name, b"</" + name + b">", K_OTHER,
                               parent.page if parent is not None else -1)
            else:
                found = tags.get((tag_page, ident))
                if found is None:
                    raise DecodeError("unknown_token", tok_off)
                info = found
            depth = len(stack) + 1
            if depth > limits.max_depth:
                raise DecodeError("too_deep", tok_off)
            self.elements += 1
            if self.elements > limits.max_elements:
                raise DecodeError("too_many_elements", tok_off)
            if stack:
                outer = stack[-1]
                self.open_content(outer)
                if indent is not None and not outer.has_text:
                    self.newline(depth - 1)
                outer.has_children = True
            if parent is None:
                out += root_open_ns(lang, info) if ident != LITERAL else info.open
            elif ident != LITERAL and info.page != parent.page:
                out += info.open_ns
            else:
                out += info.open
            if tok & 0x80:
                pos = attributes(pos, ident == LITERAL)
            element = _Element(info.close, info.page, info.kind)
            if info.kind == K_META and parent is not None and not parent.meta_seen:
                parent.meta_seen = True
                element.first_meta = True
            if not tok & 0x40:
                out += b"/>"
                root_done = parent is None
                continue
            if info.kind == K_DATA and parent is not None:
                grand = stack[-2] if len(stack) > base + 1 else None
                element.cls = data_class(parent.type_code,
                                         grand.type_code if grand is not None else T_NONE,
                                         grand.kind if grand is not None else K_OTHER)
            elif info.kind == K_TYPE:
                element.capture = bytearray()
            stack.append(element)

    def close(self, stack: list[_Element], lang: Language) -> None:
        element = stack.pop()
        if element.kind == K_TYPE:
            # capture is None when an element or a binary OPAQUE interrupted the text.
            text = None if element.capture is None else bytes(element.capture)
            if len(stack) >= 2 and stack[-1].first_meta and not stack[-1].type_seen:
                stack[-1].type_seen = True
                stack[-2].type_code = T_OTHER if text is None else classify_type(text)
            if text:
                element.capture = bytearray(rewrite_type(lang, text))
                self.open_content(element)
            element.capture = None
        out = self.out
        if element.pending:
            out += b"/>"
            return
        if self.indent is not None and element.has_children and not element.has_text:
            self.newline(len(stack))
        out += element.close

    def markup(self, data_element: _Element, value: bytes, tok_off: int) -> bool:
        """The OPAQUE ``value`` followed by the marker, the whole content of a SyncML Data:
        written as the markup it holds, when it is markup that stands alone."""
        limits = self.limits
        try:
            elements = check_fragment(value, limits.max_depth - len(self.stack),
                                      limits.max_elements - self.elements)
        except NotMarkup:
            return False
        except FragmentLimit as exc:
            raise DecodeError(exc.reason, tok_off) from None
        self.elements += elements
        data_element.pending = False
        data_element.has_text = True
        self.out += MARKUP_MARKER + b">" + value
        return True

    def nested(self, data_element: _Element, start: int, end: int) -> bool:
        """Try ``data[start:end]`` as a nested document inside ``data_element``; undo on failure."""
        out_len, elements, depth = len(self.out), self.elements, len(self.stack)
        pending, has_children = data_element.pending, data_element.has_children
        try:
            self.document(start, end, data_element.cls)
        except DecodeError as exc:
            if exc.reason in LIMIT_REASONS:
                raise
            del self.out[out_len:]
            del self.stack[depth:]
            self.elements = elements
            data_element.pending, data_element.has_children = pending, has_children
            return False
        return True


def wbxml_to_xml(wbxml: bytes, *, indent: int | None = None,
                 limits: Limits | None = None) -> bytes:
    """Decode a WBXML document to UTF-8 XML (compact, or pretty with ``indent`` spaces).

    Raises ``DecodeError`` with a ``reason`` and the absolute byte ``offset`` of the problem.
    """
    limits = DEFAULT_LIMITS if limits is None else limits
    if indent is not None and not 0 <= indent <= 255:
        raise ValueError("indent must be None or 0..255 (as libwbxml's)")
    data = bytes(wbxml)
    if len(data) > limits.max_input_size:
        raise DecodeError("too_large", limits.max_input_size,
                          over_input_size(len(data), limits.max_input_size))
    decoder = _Decoder(data, indent, limits)
    decoder.document(0, len(data), 0)
    if indent is not None:
        decoder.out += b"\n"
    return bytes(decoder.out)
