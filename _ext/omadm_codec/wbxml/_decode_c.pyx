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
from libc.string cimport memchr, memcpy, memset

from omadm_codec.wbxml._decode_text cimport *  # Buf, Elem, Doc and the inline byte helpers
from omadm_codec.wbxml._handoff cimport HANDOFF_EVERY

import binascii

from omadm_codec.wbxml._decode_tables import (
    LIMIT_REASONS, OPAQUE_MARKER, TABLE_BUDGET_BASE, TABLE_BUDGET_FACTOR, UTF16_CHARSETS,
    charset_to_utf8, nested_language_ok, prologue, tag_table, valid_entity, valid_name,
)
from omadm_codec.wbxml._markup import (
    MARKUP_MARKER, FragmentLimit, NotMarkup, check_fragment, declaration_ok, is_declaration,
)
from omadm_codec.wbxml.codepages import BY_FPI, BY_PUBLIC_ID, CHARSETS, FPI_ALIASES
from omadm_codec.errors import DecodeError
from omadm_codec.limits import DEFAULT_LIMITS, over_input_size
from omadm_codec.wbxml._switch import switch_point as _switch_point

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
    """C arrays over one language's TagInfo table, slot = page * 64 + token. Every tag string
    is copied into a zero-padded PAD-byte slot here, so the decoder copies it PAD at a time."""
    cdef const char* open_p[NSLOTS]
    cdef Py_ssize_t open_n[NSLOTS]
    cdef const char* open_ns_p[NSLOTS]
    cdef Py_ssize_t open_ns_n[NSLOTS]
    cdef const char* close_p[NSLOTS]
    cdef Py_ssize_t close_n[NSLOTS]
    cdef char strings[NSLOTS][3][PAD]
    cdef int kind[NSLOTS]
    cdef bint present[NSLOTS]
    cdef object lang
    cdef bint root_xmlns
    cdef int rewrite
    cdef bytes prologue
    cdef bytes prologue_indent

    def __init__(self, lang):
        cdef int slot, i
        self.lang = lang
        self.root_xmlns = lang.root_xmlns
        self.rewrite = {"SYNCML10": 1, "SYNCML11": 1, "SYNCML12": 2}.get(lang.name, 0)
        self.prologue = prologue(lang, None)
        self.prologue_indent = prologue(lang, 0)
        memset(self.strings, 0, sizeof(self.strings))
        for slot in range(NSLOTS):
            self.present[slot] = False
        for (page, token), info in tag_table(lang).items():
            slot = page * 64 + token
            for i, text in enumerate((info.open, info.open_ns, info.close)):
                if len(text) > PAD:  # the code pages' longest is 46 bytes
                    raise ValueError(f"tag string longer than {PAD} bytes: {text!r}")
                memcpy(self.strings[slot][i], PyBytes_AS_STRING(text), len(text))
            self.open_p[slot] = self.strings[slot][0]
            self.open_n[slot] = len(info.open)
            self.open_ns_p[slot] = self.strings[slot][1]
            self.open_ns_n[slot] = len(info.open_ns)
            self.close_p[slot] = self.strings[slot][2]
            self.close_n[slot] = len(info.close)
            self.kind[slot] = info.kind
            self.present[slot] = True

cdef dict _TAGS = {}
cdef dict _FPI_SEEN = {}  # (string-table FPI bytes, charset) -> Language, for known FPIs
cdef object _limits_seen = None  # (the last Limits seen, its values clamped to C sizes)
cdef Py_ssize_t _SCRATCH_MAX = 8 * 1024 * 1024  # largest output buffer an idle decoder keeps
cdef bytes _PADDING = bytes(PAD)
cdef Py_ssize_t _BUDGET_FACTOR = TABLE_BUDGET_FACTOR
cdef Py_ssize_t _BUDGET_BASE = TABLE_BUDGET_BASE
# DEFAULT_LIMITS is frozen: its values, read once, serve every call that passes no limits.
cdef Py_ssize_t _DEF_INPUT = DEFAULT_LIMITS.max_input_size
cdef Py_ssize_t _DEF_DEPTH = DEFAULT_LIMITS.max_depth
cdef Py_ssize_t _DEF_TABLE = DEFAULT_LIMITS.max_string_table
cdef Py_ssize_t _DEF_OPAQUE = DEFAULT_LIMITS.max_opaque
cdef Py_ssize_t _DEF_ELEMENTS = DEFAULT_LIMITS.max_elements
# The last public id seen in a header, with its language and tag tables (a DM server sees one
# or two ids): the common header costs no dictionary lookup.
cdef uint32_t _last_pid = 0
cdef object _last_lang = None
cdef _Tags _last_tags = None


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

    cdef int setup(self, bytes data, Py_ssize_t indent, limits) except -1:
        """Ready for one call (a reused decoder keeps its buffers: nothing else carries over).
        ``limits`` None means DEFAULT_LIMITS."""
        self.data = data
        self.p = <const unsigned char*>PyBytes_AS_STRING(data)
        self.table_budget = _BUDGET_FACTOR * PyBytes_GET_SIZE(data) + _BUDGET_BASE
        self.indent = indent
        self.depth = self.elements = 0
        self.capture.len = 0
        self.out.len = 0
        if limits is None:
            self.max_depth, self.max_string_table = _DEF_DEPTH, _DEF_TABLE
            self.max_opaque, self.max_elements = _DEF_OPAQUE, _DEF_ELEMENTS
        else:
            global _limits_seen
            seen = _limits_seen
            if seen is None or seen[0] is not limits:
                seen = (limits, tuple(min(value, 1 << 62) for value in (
                    limits.max_depth, limits.max_string_table, limits.max_opaque,
                    limits.max_elements)))
                _limits_seen = seen  # one reference swap: safe when threads share the cache
            self.max_depth, self.max_string_table, self.max_opaque, self.max_elements = seen[1]
        # Output is about 1-4x the input; it grows when needed. A reused decoder's buffer is
        # warm: a fresh one per call costs a page fault per 4 KB, more than the decoding.
        cdef Py_ssize_t need = 2 * PyBytes_GET_SIZE(data) + 512
        if self.out.cap < need:
            buf_grow(&self.out, need)
        return 0

    cdef void idle(self) noexcept:
        """Drop what the call held (the input, literal names, converted text) and give back an
        output buffer too large to keep."""
        self.data = None
        self.keep = None
        self.held = None
        self.p = NULL
        if self.out.cap > _SCRATCH_MAX:
            self.release()
        if self.capture.cap > 65536:  # held-back Type text is short; a long one is not kept
            free(self.capture.ptr)
            self.capture.ptr = NULL
            self.capture.len = self.capture.cap = 0

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

    cdef object literal_name(self, Py_ssize_t pos, Py_ssize_t tok_off, Py_ssize_t* nxt,
                             bint declaration=False):
        """A LITERAL name; ``declaration``: ``xmlns:p`` is one too (a LITERAL element's
        attribute)."""
        cdef uint32_t index
        nxt[0] = self.mb(pos, self.doc.end, &index)
        name = charset_to_utf8(self.table_bytes(index, pos), self.doc.charset)
        if name is None or not (valid_name(name) or (
                declaration and name.startswith(b"xmlns:") and valid_name(name[6:]))):
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
        if (top.kind == K_DATA and top.pending and not top.capturing
                and after + 1 + self.doc.width < end and self.p[after] == STR_I
                and self.p[after + 1] == 0 and self.p[after + self.doc.width] == 0
                and self.p[after + 1 + self.doc.width] == END):
            # Maybe markup carried as its text (the marker: an empty string after it).
            if self.markup(top, nxt, after, tok_off):
                return after + 1 + self.doc.width
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

    cdef bint markup(self, Elem* data_element, Py_ssize_t start, Py_ssize_t stop,
                     Py_ssize_t tok_off) except -1:
        """The OPAQUE data[start:stop] followed by the marker, the whole content of a SyncML
        Data: written as the markup it holds, when it is markup that stands alone."""
        value = self.data[start:stop]
        try:
            elements = check_fragment(value, self.max_depth - self.depth,
                                      self.max_elements - self.elements)
        except NotMarkup:
            return False
        except FragmentLimit as exc:
            raise DecodeError(exc.reason, tok_off) from None
        self.elements += elements
        data_element.pending = False
        data_element.has_text = True
        buf_obj(&self.out, MARKUP_MARKER)
        buf_byte(&self.out, b'>')
        buf_obj(&self.out, value)
        return True

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

    cdef Py_ssize_t attributes(self, Py_ssize_t pos, bint literal) except -1:
        """The attribute list of a start tag; ``literal``: the element is a LITERAL (it may
        declare namespaces)."""
        cdef Py_ssize_t end = self.doc.end, tok_off, vtok_off, nxt
        cdef unsigned char tok, vtok
        cdef bint declaration
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
                name = self.literal_name(pos, tok_off, &nxt, literal)
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
            declaration = is_declaration(name)
            if name in seen or (declaration and not literal):
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
            if declaration and not declaration_ok(name, bytes(value)):
                raise DecodeError("invalid_text", tok_off)
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
        """Decode the document in ``data[start:end]``; ``nested`` is 0 or the Data class.

        The output has SLACK bytes of room at the top of each token, so the usual writes (a
        ``>``, a tag string, ``/>``) need no capacity check; whatever writes more (text, an
        indent, held-back Type text, attributes, a literal name) checks for itself, and the
        room is ensured again before the start tag that may follow it."""
        global _last_pid, _last_lang, _last_tags
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t pos = start, pid_off, fpi_off = 0, len_off, charset_off, tok_off
        cdef Py_ssize_t depth, base, nxt, n
        cdef uint32_t public_id, fpi_index = 0, charset = 106, table_len
        cdef unsigned char version, tok, ident
        cdef int tag_page = 0, slot, page, kind
        cdef bint root_done = False, in_doc, literal, first_meta
        cdef Elem* parent
        cdef Elem* outer
        cdef Elem* e
        cdef _Tags tags = None
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
        elif public_id == _last_pid and _last_tags is not None:
            lang = _last_lang
            tags = _last_tags
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
        if charset == 106:
            self.doc.width = 1
            self.doc.utf8 = True
        else:
            self.doc.width = 1 if charset not in UTF16_CHARSETS else 2
            self.doc.utf8 = charset == 0
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
        if tags is None:
            tags = tags_for(lang)
            if public_id != 0:
                _last_pid, _last_lang, _last_tags = public_id, lang, tags
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
            if self.out.len + SLACK > self.out.cap:
                buf_grow(&self.out, SLACK)
            tok_off = pos
            tok = p[pos]
            pos += 1
            if root_done:
                if tok == PI:
                    pos = self.skip_pi(pos)
                    continue
                raise DecodeError("trailing_data", tok_off)
            if tok == END:
                if self.depth <= base:
                    raise DecodeError("unbalanced_end", tok_off)
                e = &self.stack[self.depth - 1]
                if e.kind != K_TYPE and self.indent < 0:
                    # close() without its Type and indent steps, SLACK bytes of room at hand.
                    self.depth -= 1
                    if e.pending:
                        self.out.ptr[self.out.len] = b'/'
                        self.out.ptr[self.out.len + 1] = b'>'
                        self.out.len += 2
                    elif e.close_n <= PAD:
                        put_padded(&self.out, e.close, e.close_n)
                    else:
                        buf_put(&self.out, e.close, e.close_n)
                else:
                    self.close()
                root_done = self.depth == base
                continue
            if tok == SWITCH_PAGE:
                if pos >= end:
                    raise DecodeError("truncated", end)
                tag_page = p[pos]
                pos += 1
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
                e = &self.stack[self.depth - 1]
                if tok == STR_I and self.doc.utf8 and not e.capturing:
                    # The usual string: plain ASCII up to its terminator, copied out as it is
                    # (what content() writes for it; anything else goes there).
                    n = omadm_plain_text_len(p + pos, end - pos)
                    if pos + n < end and p[pos + n] == 0 and n <= self.max_opaque:
                        if n:
                            if e.pending:
                                self.out.ptr[self.out.len] = b'>'
                                self.out.len += 1
                                e.pending = False
                            if e.cls == C_CDATA:
                                buf_put(&self.out, b"<![CDATA[", 9)
                                buf_put(&self.out, <const char*>p + pos, n)
                                buf_put(&self.out, b"]]>", 3)
                            elif n <= 32 and pos + 32 <= end:
                                # SLACK bytes of room: one fixed 32-byte move, no memcpy call
                                # (the bytes after the string are the input's own).
                                memcpy(self.out.ptr + self.out.len, p + pos, 32)
                                self.out.len += n
                            else:
                                buf_put(&self.out, <const char*>p + pos, n)
                            e.has_text = True
                        pos += n + 1
                        continue
                pos = self.content(tok, tok_off, pos)
                continue
            # A start tag: tokenised or literal.
            in_doc = self.depth > base
            literal = ident == LITERAL
            if literal:
                name = self.literal_name(pos, tok_off, &nxt)
                pos = nxt
                # Zero-padded like the tables' strings (close_n stays the real length).
                close = b"</" + name + b">" + _PADDING
                if self.keep is None:
                    self.keep = []
                self.keep.append(close)
                close_p = PyBytes_AS_STRING(close)
                close_n = len(name) + 3
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
            if (self.elements & (HANDOFF_EVERY - 1)) == 0:
                _switch_point()  # a large document: other threads run now and then (_handoff.pxd)
            if self.depth:
                outer = &self.stack[self.depth - 1]
                if outer.capturing:
                    self.open_content(outer)
                elif outer.pending:
                    self.out.ptr[self.out.len] = b'>'
                    self.out.len += 1
                    outer.pending = False
                if self.indent >= 0:
                    if not outer.has_text:
                        self.newline(depth - 1)
                    if self.out.len + SLACK > self.out.cap:
                        buf_grow(&self.out, SLACK)
                outer.has_children = True
                if self.out.len + SLACK > self.out.cap:  # the capture flush may have used it
                    buf_grow(&self.out, SLACK)
            if literal:
                buf_byte(&self.out, b'<')
                buf_obj(&self.out, name)
            elif (not in_doc and self.root_xmlns) or (
                    in_doc and page != self.stack[self.depth - 1].page):
                put_padded(&self.out, tags.open_ns_p[slot], tags.open_ns_n[slot])
            else:
                put_padded(&self.out, tags.open_p[slot], tags.open_n[slot])
            if tok & 0x80:
                pos = self.attributes(pos, literal)
            first_meta = False
            if kind == K_META and in_doc and not self.stack[self.depth - 1].meta_seen:
                self.stack[self.depth - 1].meta_seen = True
                first_meta = True
            if not tok & 0x40:
                buf_put(&self.out, b"/>", 2)
                root_done = not in_doc
                continue
            if self.depth == self.stack_cap:
                self.push()
            else:
                self.depth += 1
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

    cdef void release(self) noexcept:
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


cdef _Decoder _idle = None  # a decoder no call is using, with its warm buffers (GIL held)


def wbxml_to_xml(wbxml, *, indent=None, limits=None):
    """Decode a WBXML document to UTF-8 XML (compact, or pretty with ``indent`` spaces).

    Raises ``DecodeError`` with a ``reason`` and the absolute byte ``offset`` of the problem.
    """
    global _idle
    cdef Py_ssize_t max_input = _DEF_INPUT, ind = -1
    cdef bytes data
    cdef _Decoder decoder
    if limits is DEFAULT_LIMITS:
        limits = None
    if indent is not None:
        if not 0 <= indent <= 255:
            raise ValueError("indent must be None or 0..255 (as libwbxml's)")
        ind = indent
    data = <bytes>wbxml if type(wbxml) is bytes else bytes(wbxml)
    if limits is not None:
        max_input = min(limits.max_input_size, 1 << 62)
    if PyBytes_GET_SIZE(data) > max_input:
        limit = DEFAULT_LIMITS.max_input_size if limits is None else limits.max_input_size
        raise DecodeError("too_large", limit, over_input_size(PyBytes_GET_SIZE(data), limit))
    # Take the idle decoder (another thread entering meanwhile makes its own); an error leaves
    # it to the garbage collector, a success puts it back.
    decoder = _idle
    if decoder is None:
        decoder = _Decoder.__new__(_Decoder)
    else:
        _idle = None
    decoder.setup(data, ind, limits)
    decoder.document(0, PyBytes_GET_SIZE(data), 0)
    if ind >= 0:
        buf_byte(&decoder.out, b'\n')
    result = PyBytes_FromStringAndSize(decoder.out.ptr, decoder.out.len)
    decoder.idle()
    if _idle is None:
        _idle = decoder
    return result
