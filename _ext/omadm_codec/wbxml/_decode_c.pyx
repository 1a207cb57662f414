"""WBXML -> XML for SyncML DM and WAP provisioning documents (compiled twin of ``omadm_codec.wbxml._decode_py``).

The one idea is the pure twin's (read its docstring for every rule and every deliberate
difference from libwbxml): one forward pass over the tokens with an explicit element stack,
start tags left open until their first content. Here the pass runs over a
``const unsigned char*`` with C loops, writes into a growing C buffer (a warm scratch buffer
reused across calls), and looks tags up in per-language C arrays of ready-made ``<Name`` /
``</Name>`` byte strings. Text checks and escaping (``_decode_text.pxd``) skip 16 bytes at
a time with SSE2 (``wbxml_decode_simd.h``) where available. Python objects appear
only off the hot path (header, literal names, attributes, PIs, non-UTF-8 charsets, MetInf Type
texts, base64, nested documents) and on errors.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memchr

from omadm_codec.wbxml._decode_text cimport *  # Buf, Elem, Doc and the inline byte helpers

import binascii

from omadm_codec.wbxml._decode_tables import (
    LIMIT_REASONS, OPAQUE_MARKER, TABLE_BUDGET_BASE, TABLE_BUDGET_FACTOR, UTF16_CHARSETS,
    charset_to_utf8, nested_language_ok, prologue, tag_table, valid_entity, valid_name,
)
from omadm_codec.wbxml.codepages import BY_FPI, BY_PUBLIC_ID, CHARSETS, FPI_ALIASES
from omadm_codec.errors import DecodeError
from omadm_codec.limits import DEFAULT_LIMITS, over_input_size

__all__ = ["wbxml_to_xml"]

# Same values as omadm_codec.wbxml._decode_tables (the differential tests keep them in step).
cdef enum:
    SWITCH_PAGE = 0x00
    END = 0x01
    ENTITY = 0x02
    STR_I = 0x03
    LITERAL = 0x04
    PI = 0x43
    STR_T = 0x83
    OPAQUE = 0xC3
    K_OTHER = 0
    K_DATA = 1
    K_META = 2
    K_TYPE = 4
    K_NEXTNONCE = 5
    T_NONE = 0
    T_OTHER = 6
    C_PLAIN = 0
    C_CDATA = 1
    C_NEST_DEVINF = 2
    C_NEST_DMTNDS = 3
    NPAGES = 3
    NSLOTS = 192

cdef inline bint is_extension(unsigned char tok) noexcept:
    return tok in (0x40, 0x41, 0x42, 0x80, 0x81, 0x82, 0xC0, 0xC1, 0xC2)


# -- per-language tag tables ----------------------------------------------------------------

@cython.final
cdef class _Tags:
    """C arrays over one language's TagInfo table, slot = page * 64 + token."""
    cdef const char* open_p[NSLOTS]
    cdef Py_ssize_t open_n[NSLOTS]
    cdef const char* open_ns_p[NSLOTS]
    cdef Py_ssize_t open_ns_n[NSLOTS]
    cdef const char* close_p[NSLOTS]
    cdef Py_ssize_t close_n[NSLOTS]
    cdef int kind[NSLOTS]
    cdef bint present[NSLOTS]
    cdef object keep
    cdef object lang
    cdef bint root_xmlns
    cdef int rewrite
    cdef bytes prologue
    cdef bytes prologue_indent

    def __init__(self, lang):
        cdef int slot
        self.lang = lang
        self.keep = []
        self.root_xmlns = lang.root_xmlns
        self.rewrite = {"SYNCML10": 1, "SYNCML11": 1, "SYNCML12": 2}.get(lang.name, 0)
        self.prologue = prologue(lang, None)
        self.prologue_indent = prologue(lang, 0)
        for slot in range(NSLOTS):
            self.present[slot] = False
        for (page, token), info in tag_table(lang).items():
            slot = page * 64 + token
            self.keep.append(info)
            self.open_p[slot] = PyBytes_AS_STRING(info.open)
            self.open_n[slot] = len(info.open)
            self.open_ns_p[slot] = PyBytes_AS_STRING(info.open_ns)
            self.open_ns_n[slot] = len(info.open_ns)
            self.close_p[slot] = PyBytes_AS_STRING(info.close)
            self.close_n[slot] = len(info.close)
            self.kind[slot] = info.kind
            self.present[slot] = True

cdef dict _TAGS = {}
cdef dict _FPI_SEEN = {}  # (string-table FPI bytes, charset) -> Language, for known FPIs
cdef object _limits_seen = None
cdef char* _scratch = NULL  # an idle output buffer, taken by one call at a time (GIL held)
cdef Py_ssize_t _scratch_cap = 0
cdef Py_ssize_t _SCRATCH_MAX = 8 * 1024 * 1024  # (the last Limits seen, its values clamped to C sizes)

cdef _Tags tags_for(lang):
    cdef _Tags tags = _TAGS.get(lang.name)
    if tags is None:
        tags = _Tags(lang)
        _TAGS[lang.name] = tags
    return tags


# -- the decoder -----------------------------------------------------------------------------

@cython.final
cdef class _Decoder:
    """State shared by the outer document and a nested one: input, output, stack, counters."""
    cdef bytes data
    cdef const unsigned char* p
    cdef Py_ssize_t indent
    cdef Py_ssize_t max_depth, max_string_table, max_opaque, max_elements
    cdef Buf out
    cdef Buf capture
    cdef Elem* stack
    cdef Py_ssize_t depth, stack_cap, elements
    cdef Py_ssize_t table_budget  # string-table bytes references may still copy out
    cdef Doc doc
    cdef _Tags tags
    cdef object lang
    cdef bint root_xmlns
    cdef list keep
    cdef object held

    def __cinit__(self):
        self.out.ptr = NULL
        self.out.len = self.out.cap = 0
        self.capture.ptr = NULL
        self.capture.len = self.capture.cap = 0
        self.stack = NULL
        self.depth = self.stack_cap = self.elements = 0

    cdef int setup(self, bytes data, indent, limits) except -1:
        self.data = data
        self.p = <const unsigned char*>PyBytes_AS_STRING(data)
        self.table_budget = TABLE_BUDGET_FACTOR * len(data) + TABLE_BUDGET_BASE
        self.indent = -1 if indent is None else indent
        global _limits_seen
        seen = _limits_seen
        if seen is None or seen[0] is not limits:
            seen = (limits, tuple(min(value, 1 << 62) for value in (
                limits.max_depth, limits.max_string_table, limits.max_opaque,
                limits.max_elements)))
            _limits_seen = seen  # one reference swap: safe when threads share the cache
        self.max_depth, self.max_string_table, self.max_opaque, self.max_elements = seen[1]
        # Write into the module's warm scratch buffer when no other call holds it: a fresh
        # buffer per call costs a page fault per 4 KB of output, more than the decoding itself.
        global _scratch, _scratch_cap
        if _scratch != NULL:
            self.out.ptr, self.out.cap = _scratch, _scratch_cap
            _scratch, _scratch_cap = NULL, 0
        need = 2 * len(data) + 512  # output is about 1-4x the input; it grows when needed
        if self.out.cap < need:
            buf_grow(&self.out, need - self.out.len)
        return 0

    def __dealloc__(self):
        self.release()
        free(self.capture.ptr)
        free(self.stack)

    # -- primitive readers ---------------------------------------------------------------------

    cdef Py_ssize_t mb(self, Py_ssize_t pos, Py_ssize_t end, uint32_t* value) except -1:
        """mb_u_int32 at ``pos`` into ``value``; returns the next pos. At most 5 bytes, < 2**32."""
        cdef uint64_t v = 0
        cdef int i
        cdef unsigned char byte
        for i in range(5):
            if pos + i >= end:
                raise DecodeError("truncated", end)
            byte = self.p[pos + i]
            v = (v << 7) | (byte & 0x7F)
            if not byte & 0x80:
                if v >= (<uint64_t>1 << 32):
                    raise DecodeError("mb_u_int32_overflow", pos)
                value[0] = <uint32_t>v
                return pos + i + 1
        raise DecodeError("mb_u_int32_overflow", pos)

    cdef Py_ssize_t termstr(self, Py_ssize_t pos, Py_ssize_t end) except -1:
        """Offset of the terminator of the string starting at ``pos``."""
        cdef const unsigned char* q
        cdef Py_ssize_t i
        if self.doc.width == 1:
            q = <const unsigned char*>memchr(self.p + pos, 0, end - pos) if end > pos else NULL
            if q != NULL:
                return q - self.p
        else:
            i = pos
            while i + 1 < end:
                if self.p[i] == 0 and self.p[i + 1] == 0:
                    return i
                i += 2
        raise DecodeError("truncated", end)

    cdef int table_range(self, uint32_t index, Py_ssize_t index_off, Py_ssize_t* at,
                         Py_ssize_t* stop) except -1:
        """The string at ``index`` of the string table: [at, stop) (table end ends it too)."""
        cdef Py_ssize_t tend = self.doc.table_start + self.doc.table_len, i
        cdef const unsigned char* q
        if index >= <uint64_t>self.doc.table_len:
            raise DecodeError("bad_string_table_ref", index_off)
        at[0] = self.doc.table_start + index
        stop[0] = tend
        if self.doc.width == 1:
            q = <const unsigned char*>memchr(self.p + at[0], 0, tend - at[0])
            if q != NULL:
                stop[0] = q - self.p
        else:
            i = at[0]
            while i + 1 < tend:
                if self.p[i] == 0 and self.p[i + 1] == 0:
                    stop[0] = i
                    break
                i += 2
        self.table_budget -= stop[0] - at[0]
        if self.table_budget < 0:
            raise DecodeError("too_large", index_off)
        return 0

    cdef bytes table_bytes(self, uint32_t index, Py_ssize_t index_off):
        cdef Py_ssize_t at, stop
        self.table_range(index, index_off, &at, &stop)
        return self.data[at:stop]

    cdef int string_text(self, Py_ssize_t at, Py_ssize_t stop, Py_ssize_t tok_off,
                         const unsigned char** s, Py_ssize_t* n) except -1:
        """Validate (and for non-UTF-8 charsets convert) a string to UTF-8 XML text."""
        if self.doc.utf8:
            if not utf8_xml_ok(self.p + at, stop - at):
                raise DecodeError("invalid_text", tok_off)
            s[0] = self.p + at
            n[0] = stop - at
            return 0
        text = charset_to_utf8(self.data[at:stop], self.doc.charset)
        if text is None:
            raise DecodeError("invalid_text", tok_off)
        self.held = text
        s[0] = <const unsigned char*>PyBytes_AS_STRING(text)
        n[0] = PyBytes_GET_SIZE(text)
        return 0

    cdef object literal_name(self, Py_ssize_t pos, Py_ssize_t tok_off, Py_ssize_t* nxt):
        cdef uint32_t index
        nxt[0] = self.mb(pos, self.doc.end, &index)
        name = charset_to_utf8(self.table_bytes(index, pos), self.doc.charset)
        if name is None or not valid_name(name):
            raise DecodeError("invalid_text", tok_off)
        return name

    # -- output helpers ------------------------------------------------------------------------

    cdef int newline(self, Py_ssize_t depth) except -1:
        cdef Py_ssize_t k = self.indent * depth, i
        if self.out.len + k + 1 > self.out.cap:
            buf_grow(&self.out, k + 1)
        self.out.ptr[self.out.len] = b'\n'
        for i in range(k):
            self.out.ptr[self.out.len + 1 + i] = b' '
        self.out.len += k + 1
        return 0

    cdef int open_content(self, Elem* e) except -1:
        """Something goes into ``e``: finish its start tag and release held-back Type text."""
        if e.pending:
            buf_byte(&self.out, b'>')
            e.pending = False
        if e.capturing:
            if self.capture.len:
                put_escaped(&self.out, <const unsigned char*>self.capture.ptr,
                            self.capture.len, False)
                e.has_text = True
            e.capturing = False
            self.capture.len = 0
        return 0

    cdef int text(self, Elem* e, const unsigned char* s, Py_ssize_t n) except -1:
        if n == 0:
            return 0
        if e.capturing:
            return buf_put(&self.capture, <const char*>s, n)
        self.open_content(e)
        if e.cls == C_CDATA:
            put_cdata(&self.out, s, n)
        else:
            put_escaped(&self.out, s, n, False)
        e.has_text = True
        return 0

    # -- tokens --------------------------------------------------------------------------------

    cdef Py_ssize_t content(self, unsigned char tok, Py_ssize_t tok_off,
                            Py_ssize_t pos) except -1:
        """STR_I, STR_T, ENTITY or OPAQUE into the top element; returns the next pos."""
        cdef Elem* top = &self.stack[self.depth - 1]
        cdef Py_ssize_t end = self.doc.end, stop, at, nxt, after
        cdef const unsigned char* s
        cdef Py_ssize_t n
        cdef uint32_t value
        cdef unsigned char utf8[4]
        if tok == STR_I:
            stop = self.termstr(pos, end)
            if stop - pos > self.max_opaque:
                raise DecodeError("too_large", pos)
            self.string_text(pos, stop, tok_off, &s, &n)
            self.text(top, s, n)
            return stop + self.doc.width
        if tok == STR_T:
            nxt = self.mb(pos, end, &value)
            self.table_range(value, pos, &at, &stop)
            self.string_text(at, stop, tok_off, &s, &n)
            self.text(top, s, n)
            return nxt
        if tok == ENTITY:
            nxt = self.mb(pos, end, &value)
            if not valid_entity(value):
                raise DecodeError("invalid_text", tok_off)
            n = encode_utf8(value, utf8)
            self.text(top, utf8, n)
            return nxt
        nxt = self.mb(pos, end, &value)
        if value > end - nxt:
            raise DecodeError("truncated", pos)
        if value > self.max_opaque:
            raise DecodeError("too_large", pos)
        s = self.p + nxt
        n = value
        after = nxt + n
        if top.kind == K_NEXTNONCE:
            if n:
                self.open_content(top)
                buf_obj(&self.out, binascii.b2a_base64(self.data[nxt:after], newline=False))
                top.has_text = True
            return after
        if n and (top.cls == C_NEST_DEVINF or top.cls == C_NEST_DMTNDS):
            if self.nested(nxt, after):
                return after
            top = &self.stack[self.depth - 1]
        if n and not top.capturing and omadm_safe_text_len(s, n) == <size_t>n:
            # One pass instead of the UTF-8 check then the escaping (or CDATA) copy: every byte
            # is ASCII text with nothing to escape and no CR or '>' to split out of a CDATA
            # section (base64 payloads: the large-object case). Same bytes as text() writes.
            self.open_content(top)
            if top.cls == C_CDATA:
                buf_put(&self.out, b"<![CDATA[", 9)
                buf_put(&self.out, <const char*>s, n)
                buf_put(&self.out, b"]]>", 3)
            else:
                buf_put(&self.out, <const char*>s, n)
            top.has_text = True
            return after
        if utf8_xml_ok(s, n):
            self.text(top, s, n)
        elif (top.pending and (not top.capturing or self.capture.len == 0) and after < end
              and self.p[after] == END):
            top.capturing = False
            self.capture.len = 0
            top.pending = False
            buf_obj(&self.out, OPAQUE_MARKER)
            buf_byte(&self.out, b'>')
            buf_obj(&self.out, binascii.b2a_base64(self.data[nxt:after], newline=False))
            top.has_text = True
        else:
            raise DecodeError("invalid_text", tok_off)
        return after

    cdef object value_bytes(self, unsigned char tok, Py_ssize_t tok_off, Py_ssize_t pos,
                            Py_ssize_t* nxt):
        """An attribute value piece as bytes (the attribute path is rare: Python objects)."""
        cdef Py_ssize_t end = self.doc.end, stop, at
        cdef const unsigned char* s
        cdef Py_ssize_t n
        cdef uint32_t value
        if tok == STR_I:
            stop = self.termstr(pos, end)
            if stop - pos > self.max_opaque:
                raise DecodeError("too_large", pos)
            self.string_text(pos, stop, tok_off, &s, &n)
            nxt[0] = stop + self.doc.width
            return PyBytes_FromStringAndSize(<const char*>s, n)
        if tok == STR_T:
            nxt[0] = self.mb(pos, end, &value)
            self.table_range(value, pos, &at, &stop)
            self.string_text(at, stop, tok_off, &s, &n)
            return PyBytes_FromStringAndSize(<const char*>s, n)
        if tok == ENTITY:
            nxt[0] = self.mb(pos, end, &value)
            if not valid_entity(value):
                raise DecodeError("invalid_text", tok_off)
            return chr(value).encode()
        at = self.mb(pos, end, &value)
        if value > end - at:
            raise DecodeError("truncated", pos)
        if value > self.max_opaque:
            raise DecodeError("too_large", pos)
        nxt[0] = at + value
        if value and not utf8_xml_ok(self.p + at, value):
            raise DecodeError("invalid_text", tok_off)
        return self.data[at:at + value]

    cdef Py_ssize_t attributes(self, Py_ssize_t pos) except -1:
        cdef Py_ssize_t end = self.doc.end, tok_off, vtok_off, nxt
        cdef unsigned char tok, vtok
        seen = set()
        attr_starts = self.lang.attr_start_by_token
        attr_values = self.lang.attr_value_by_token
        while True:
            if pos >= end:
                raise DecodeError("truncated", end)
            tok_off = pos
            tok = self.p[pos]
            pos += 1
            if tok == END:
                return pos
            if tok == SWITCH_PAGE:
                if pos >= end:
                    raise DecodeError("truncated", end)
                self.doc.attr_page = self.p[pos]
                pos += 1
                continue
            if is_extension(tok):
                raise DecodeError("unsupported_extension", tok_off)
            if tok == LITERAL:
                name = self.literal_name(pos, tok_off, &nxt)
                pos = nxt
                value = bytearray()
            elif attr_starts:
                start = attr_starts.get((self.doc.attr_page, tok)) if tok < 0x80 else None
                if start is None:
                    raise DecodeError("unknown_attribute", tok_off)
                name = start[0].encode()
                value = bytearray(start[1].encode())
            else:
                raise DecodeError("unknown_token", tok_off)
            if name in seen or name == b"xmlns":
                raise DecodeError("invalid_text", tok_off)
            seen.add(name)
            while pos < end:
                vtok_off = pos
                vtok = self.p[pos]
                if vtok == SWITCH_PAGE:
                    if pos + 1 >= end:
                        raise DecodeError("truncated", end)
                    self.doc.attr_page = self.p[pos + 1]
                    pos += 2
                    continue
                if is_extension(vtok):
                    raise DecodeError("unsupported_extension", pos)
                if vtok == STR_I or vtok == STR_T or vtok == ENTITY or vtok == OPAQUE:
                    value += self.value_bytes(vtok, vtok_off, pos + 1, &nxt)
                    pos = nxt
                elif vtok >= 0x80 and attr_values:
                    text = attr_values.get((self.doc.attr_page, vtok))
                    if text is None:
                        raise DecodeError("unknown_attribute", vtok_off)
                    value += text.encode()
                    pos += 1
                else:
                    break
                if len(value) > self.max_opaque:
                    raise DecodeError("too_large", vtok_off)
            buf_byte(&self.out, b' ')
            buf_obj(&self.out, name)
            buf_put(&self.out, b'="', 2)
            raw = bytes(value)
            put_escaped(&self.out, <const unsigned char*>PyBytes_AS_STRING(raw), len(raw), True)
            buf_byte(&self.out, b'"')

    cdef Py_ssize_t skip_pi(self, Py_ssize_t pos) except -1:
        cdef Py_ssize_t end = self.doc.end, tok_off, at, stop, nxt
        cdef unsigned char tok
        cdef uint32_t value
        while True:
            if pos >= end:
                raise DecodeError("truncated", end)
            tok_off = pos
            tok = self.p[pos]
            pos += 1
            if tok == END:
                return pos
            if tok == SWITCH_PAGE:
                if pos >= end:
                    raise DecodeError("truncated", end)
                pos += 1
            elif tok == LITERAL or tok == STR_T:
                nxt = self.mb(pos, end, &value)
                self.table_range(value, pos, &at, &stop)
                pos = nxt
            elif tok == STR_I:
                pos = self.termstr(pos, end) + self.doc.width
            elif tok == ENTITY:
                pos = self.mb(pos, end, &value)
            elif tok == OPAQUE:
                at = self.mb(pos, end, &value)
                if value > end - at:
                    raise DecodeError("truncated", pos)
                pos = at + value
            elif is_extension(tok):
                raise DecodeError("unsupported_extension", tok_off)
            else:
                raise DecodeError("unknown_token", tok_off)

    # -- documents -----------------------------------------------------------------------------

    cdef int push(self) except -1:
        cdef Elem* grown
        if self.depth == self.stack_cap:
            grown = <Elem*>realloc(self.stack, (self.stack_cap * 2 + 16) * sizeof(Elem))
            if grown == NULL:
                raise MemoryError()
            self.stack = grown
            self.stack_cap = self.stack_cap * 2 + 16
        self.depth += 1
        return 0

    cdef int document(self, Py_ssize_t start, Py_ssize_t end, int nested) except -1:
        """Decode the document in ``data[start:end]``; ``nested`` is 0 or the Data class."""
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t pos = start, pid_off, fpi_off = 0, len_off, charset_off, tok_off
        cdef Py_ssize_t depth, base, nxt
        cdef uint32_t public_id, fpi_index = 0, charset = 106, table_len
        cdef unsigned char version, tok, ident
        cdef int tag_page = 0, slot, page, kind
        cdef bint root_done = False, in_doc, literal, first_meta
        cdef Elem* parent
        cdef Elem* outer
        cdef Elem* e
        cdef _Tags tags
        cdef const char* close_p
        cdef Py_ssize_t close_n
        if pos >= end:
            raise DecodeError("truncated", end)
        version = p[pos]
        if version > 3:
            raise DecodeError("unsupported_version", pos)
        pid_off = pos + 1
        pos = self.mb(pid_off, end, &public_id)
        lang = None
        if public_id == 0:
            fpi_off = pos
            pos = self.mb(pos, end, &fpi_index)
        else:
            lang = BY_PUBLIC_ID.get(public_id)
            if lang is None:
                raise DecodeError("unknown_public_id", pid_off)
        if version != 0:
            charset_off = pos
            pos = self.mb(pos, end, &charset)
            if charset != 106 and charset not in CHARSETS:
                raise DecodeError("bad_charset", charset_off)
        len_off = pos
        pos = self.mb(pos, end, &table_len)
        if table_len > end - pos:
            raise DecodeError("truncated", len_off)
        if table_len > self.max_string_table:
            raise DecodeError("too_large", len_off)
        self.doc.end = end
        self.doc.table_start = pos
        self.doc.table_len = table_len
        self.doc.charset = charset
        self.doc.width = 1 if charset == 106 or charset not in UTF16_CHARSETS else 2
        self.doc.utf8 = charset == 106 or charset == 0
        self.doc.attr_page = 0
        pos += table_len
        if lang is None:
            raw = self.table_bytes(fpi_index, fpi_off)
            lang = _FPI_SEEN.get((raw, charset))
            if lang is None:
                fpi = charset_to_utf8(raw, charset)
                key = fpi.decode().lower() if fpi is not None else ""
                lang = BY_FPI.get(key) or FPI_ALIASES.get(key)
                if lang is None:
                    raise DecodeError("unknown_public_id", pid_off)
                if len(_FPI_SEEN) < 64:  # bounded: spellings are attacker-chosen
                    _FPI_SEEN[(raw, charset)] = lang
        if nested and not nested_language_ok(nested, lang):
            raise DecodeError("unknown_public_id", pid_off)
        tags = tags_for(lang)
        self.tags = tags
        self.lang = lang
        self.root_xmlns = tags.root_xmlns
        self.doc.rewrite = tags.rewrite
        if not nested:
            buf_obj(&self.out, tags.prologue_indent if self.indent >= 0 else tags.prologue)
        base = self.depth
        while True:
            if pos >= end:
                if self.depth > base or not root_done:
                    raise DecodeError("truncated", end)
                return 0
            tok_off = pos
            tok = p[pos]
            pos += 1
            if root_done:
                if tok == PI:
                    pos = self.skip_pi(pos)
                    continue
                raise DecodeError("trailing_data", tok_off)
            if tok == SWITCH_PAGE:
                if pos >= end:
                    raise DecodeError("truncated", end)
                tag_page = p[pos]
                pos += 1
                continue
            if tok == END:
                if self.depth <= base:
                    raise DecodeError("unbalanced_end", tok_off)
                self.close()
                root_done = self.depth == base
                continue
            if tok == PI:
                pos = self.skip_pi(pos)
                continue
            if is_extension(tok):
                raise DecodeError("unsupported_extension", tok_off)
            ident = tok & 0x3F
            if ident < LITERAL:
                if self.depth <= base:
                    raise DecodeError("unknown_token", tok_off)
                pos = self.content(tok, tok_off, pos)
                continue
            # A start tag: tokenised or literal.
            in_doc = self.depth > base
            literal = ident == LITERAL
            if literal:
                name = self.literal_name(pos, tok_off, &nxt)
                pos = nxt
                close = b"</" + name + b">"
                if self.keep is None:
                    self.keep = []
                self.keep.append(close)
                close_p = PyBytes_AS_STRING(close)
                close_n = len(close)
                kind = K_OTHER
                page = self.stack[self.depth - 1].page if in_doc else -1
                slot = 0
            else:
                if tag_page >= NPAGES or not tags.present[tag_page * 64 + ident]:
                    raise DecodeError("unknown_token", tok_off)
                slot = tag_page * 64 + ident
                close_p = tags.close_p[slot]
                close_n = tags.close_n[slot]
                kind = tags.kind[slot]
                page = tag_page
            depth = self.depth + 1
            if depth > self.max_depth:
                raise DecodeError("too_deep", tok_off)
            self.elements += 1
            if self.elements > self.max_elements:
                raise DecodeError("too_many_elements", tok_off)
            if self.depth:
                outer = &self.stack[self.depth - 1]
                self.open_content(outer)
                if self.indent >= 0 and not outer.has_text:
                    self.newline(depth - 1)
                outer.has_children = True
            if literal:
                buf_byte(&self.out, b'<')
                buf_obj(&self.out, name)
            elif (not in_doc and self.root_xmlns) or (
                    in_doc and page != self.stack[self.depth - 1].page):
                buf_put(&self.out, tags.open_ns_p[slot], tags.open_ns_n[slot])
            else:
                buf_put(&self.out, tags.open_p[slot], tags.open_n[slot])
            if tok & 0x80:
                pos = self.attributes(pos)
            first_meta = False
            if kind == K_META and in_doc and not self.stack[self.depth - 1].meta_seen:
                self.stack[self.depth - 1].meta_seen = True
                first_meta = True
            if not tok & 0x40:
                buf_put(&self.out, b"/>", 2)
                root_done = not in_doc
                continue
            self.push()
            e = &self.stack[self.depth - 1]
            e.close = close_p
            e.close_n = close_n
            e.page = page
            e.kind = kind
            e.cls = C_PLAIN
            e.type_code = T_NONE
            e.pending = True
            e.has_children = e.has_text = e.meta_seen = e.type_seen = False
            e.first_meta = first_meta
            e.capturing = kind == K_TYPE
            if kind == K_TYPE:
                self.capture.len = 0
            elif kind == K_DATA and in_doc:
                parent = &self.stack[self.depth - 2]
                if self.depth - 1 > base + 1:
                    outer = &self.stack[self.depth - 3]
                    e.cls = data_class_c(parent.type_code, outer.type_code, outer.kind)
                else:
                    e.cls = data_class_c(parent.type_code, T_NONE, K_OTHER)

    cdef int close(self) except -1:
        cdef Elem el = self.stack[self.depth - 1]
        cdef Py_ssize_t depth = self.depth - 1
        self.depth = depth
        if el.kind == K_TYPE:
            # Not capturing any more: an element or a binary OPAQUE interrupted the text.
            if depth >= 2 and self.stack[depth - 1].first_meta and \
                    not self.stack[depth - 1].type_seen:
                self.stack[depth - 1].type_seen = True
                self.stack[depth - 2].type_code = (
                    classify_type_c(self.capture.ptr, self.capture.len) if el.capturing
                    else T_OTHER)
            if el.capturing and self.capture.len:
                if el.pending:
                    buf_byte(&self.out, b'>')
                    el.pending = False
                self.put_type_text()
                el.has_text = True
            self.capture.len = 0
        if el.pending:
            buf_put(&self.out, b"/>", 2)
            return 0
        if self.indent >= 0 and el.has_children and not el.has_text:
            self.newline(depth)
        buf_put(&self.out, el.close, el.close_n)
        return 0

    cdef bytes result(self):
        result = PyBytes_FromStringAndSize(self.out.ptr, self.out.len)
        self.release()
        return result

    cdef void release(self) noexcept:
        """Give the output buffer back as the scratch buffer (or free it: one is kept)."""
        global _scratch, _scratch_cap
        if self.out.ptr == NULL:
            return
        if _scratch == NULL and self.out.cap <= _SCRATCH_MAX:
            _scratch, _scratch_cap = self.out.ptr, self.out.cap
        else:
            free(self.out.ptr)
        self.out.ptr = NULL
        self.out.len = self.out.cap = 0

    cdef int put_type_text(self) except -1:
        """The held-back Type text, with libwbxml's back-rewrite of ``+wbxml`` to ``+xml``."""
        cdef const char* s = self.capture.ptr
        cdef Py_ssize_t n = self.capture.len
        if self.doc.rewrite >= 1 and bytes_eq(s, n, b"application/vnd.syncml-devinf+wbxml"):
            return buf_put(&self.out, b"application/vnd.syncml-devinf+xml", 33)
        if self.doc.rewrite == 2 and bytes_eq(s, n, b"application/vnd.syncml.dmtnds+wbxml"):
            return buf_put(&self.out, b"application/vnd.syncml.dmtnds+xml", 33)
        return put_escaped(&self.out, <const unsigned char*>s, n, False)

    cdef bint nested(self, Py_ssize_t start, Py_ssize_t end) except -1:
        """Try ``data[start:end]`` as a nested document in the top (Data) element."""
        cdef Py_ssize_t out_len = self.out.len, elements = self.elements, depth = self.depth
        cdef Elem* top = &self.stack[self.depth - 1]
        cdef bint pending = top.pending, has_children = top.has_children
        cdef int cls = top.cls
        cdef Doc saved = self.doc
        cdef _Tags tags = self.tags
        lang, root_xmlns = self.lang, self.root_xmlns
        ok = True
        try:
            self.document(start, end, cls)
        except DecodeError as exc:
            if exc.reason in LIMIT_REASONS:
                raise
            self.out.len = out_len
            self.depth = depth
            self.elements = elements
            top = &self.stack[self.depth - 1]
            top.pending = pending
            top.has_children = has_children
            ok = False
        self.doc = saved
        self.tags = tags
        self.lang = lang
        self.root_xmlns = root_xmlns
        return ok


def wbxml_to_xml(wbxml, *, indent=None, limits=None):
    """Decode a WBXML document to UTF-8 XML (compact, or pretty with ``indent`` spaces).

    Raises ``DecodeError`` with a ``reason`` and the absolute byte ``offset`` of the problem.
    """
    if limits is None:
        limits = DEFAULT_LIMITS
    if indent is not None and not 0 <= indent <= 255:
        raise ValueError("indent must be None or 0..255 (as libwbxml's)")
    cdef bytes data = bytes(wbxml)
    if len(data) > limits.max_input_size:
        raise DecodeError("too_large", limits.max_input_size,
                          over_input_size(len(data), limits.max_input_size))
    cdef _Decoder decoder = _Decoder.__new__(_Decoder)
    decoder.setup(data, indent, limits)
    decoder.document(0, len(data), 0)
    if indent is not None:
        buf_byte(&decoder.out, b'\n')
    return decoder.result()
