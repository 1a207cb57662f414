# cython: language_level=3
"""XML byte scanner for the SyncML subset (compiled twin of ``omadm_codec.wbxml._xmlscan_py``).

Same events, fields, errors and offsets as the pure twin; read its docstring first. Cython code
cimports ``Scanner`` (``from omadm_codec.wbxml._xmlscan_c cimport Scanner``, declared in
``xmlscan_c.pxd``) and reads the event fields as C values: text is a pointer + length, into
the input when a run is one clean piece (no reference, no CR), else into the scanner's scratch
buffer, which the next call overwrites. Python code uses ``next()`` and the properties.
Element names on the stack are (offset, length) pairs into the input.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.object cimport PyObject
from libc.stdint cimport uint64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memchr, memcmp, memcpy, memset

from omadm_codec.wbxml._xmlbuf cimport *  # Buf and the byte helpers

from omadm_codec.errors import EncodeError


cdef extern from "Python.h":
    # On a borrowed PyObject* (Cython's own declarations take an object: a reference each).
    Py_ssize_t _bytes_size "PyBytes_GET_SIZE"(PyObject* o) noexcept
    const char* _bytes_data "PyBytes_AS_STRING"(PyObject* o) noexcept


cdef extern from "omadm_codec/wbxml/_scan_simd.h":
    Py_ssize_t omadm_skip_xml_ascii(const unsigned char* s, Py_ssize_t n) noexcept nogil
    Py_ssize_t omadm_text_run(const unsigned char* s, Py_ssize_t i, Py_ssize_t n,
                              int* special, int* content) noexcept nogil
    int omadm_any_special(const unsigned char* s, Py_ssize_t n) noexcept nogil

__all__ = ["EV_CDATA", "EV_DOCTYPE", "EV_END", "EV_EOF", "EV_START", "EV_TEXT", "Scanner",
           "check_chars"]

EV_EOF = EVENT_EOF
EV_START = EVENT_START
EV_END = EVENT_END
EV_TEXT = EVENT_TEXT
EV_CDATA = EVENT_CDATA
EV_DOCTYPE = EVENT_DOCTYPE

# Character classes of the pure twin's _NAME regex and of XML whitespace.
cdef unsigned char NAME_START[256]
cdef unsigned char NAME_CHAR[256]
cdef unsigned char IS_WS[256]


cdef void _init_classes():
    cdef int c
    for c in range(256):
        NAME_START[c] = (65 <= c <= 90) or (97 <= c <= 122) or c == 95 or c == 58 or c >= 128
        NAME_CHAR[c] = NAME_START[c] or (48 <= c <= 57) or c == 46 or c == 45
        IS_WS[c] = c == 32 or c == 9 or c == 13 or c == 10


_init_classes()
XML_NS_URI = b"http://www.w3.org/XML/1998/namespace"
# Never mutated: every scanner starts from these.
_BASE_FRAME = (0, {b"xml": XML_NS_URI})
# Namespace URIs seen in xmlns="..." (bytes are immutable, so sharing across calls is safe).
# A small ring: a document full of odd URIs can only evict, never grow it.
cdef list _NS_CACHE = []
cdef int _ns_cache_next = 0
cdef Py_ssize_t _ns_cache_hit = 0  # the entry found last: a document repeats one or two URIs


cdef int remember_namespace(bytes value) except -1:
    global _ns_cache_next
    if len(_NS_CACHE) < 16:
        _NS_CACHE.append(value)
    else:
        _NS_CACHE[_ns_cache_next] = value
        _ns_cache_next = (_ns_cache_next + 1) % 16
    return 0


cdef inline bint _is_bytes_of(PyObject* item, const unsigned char* s, Py_ssize_t n) noexcept:
    return (_bytes_size(item) == n
            and memcmp(_bytes_data(item), <const char*>s, <size_t>n) == 0)


cdef object cached_namespace(const unsigned char* s, Py_ssize_t n):
    """The cached URI equal to s[:n], or None. Borrowed list items, no reference counting
    until the hit is returned (the GIL is held: nothing changes the list meanwhile)."""
    global _ns_cache_hit
    cdef Py_ssize_t k, m = PyList_GET_SIZE(_NS_CACHE)
    if _ns_cache_hit < m and _is_bytes_of(PyList_GET_ITEM(_NS_CACHE, _ns_cache_hit), s, n):
        return <object>PyList_GET_ITEM(_NS_CACHE, _ns_cache_hit)
    for k in range(m):
        if _is_bytes_of(PyList_GET_ITEM(_NS_CACHE, k), s, n):
            _ns_cache_hit = k
            return <object>PyList_GET_ITEM(_NS_CACHE, k)
    return None
_PREDEFINED = {b"amp": b"&", b"lt": b"<", b"gt": b">", b"quot": b'"', b"apos": b"'"}


cdef inline unsigned char _predefined(const unsigned char* s, Py_ssize_t n) noexcept:
    """The character of the predefined entity named s[:n] (amp, lt, gt, quot, apos), else 0:
    what _PREDEFINED holds, without a bytes object and a dict lookup per reference."""
    if n == 3 and s[0] == b'a' and s[1] == b'm' and s[2] == b'p':
        return b'&'
    if n == 2 and s[1] == b't':
        if s[0] == b'l':
            return b'<'
        if s[0] == b'g':
            return b'>'
    if n == 4 and memcmp(s, b"quot", 4) == 0:
        return b'"'
    if n == 4 and memcmp(s, b"apos", 4) == 0:
        return b"'"
    return 0


cdef inline Py_ssize_t k_name_len(const unsigned char* p, Py_ssize_t at,
                                  Py_ssize_t end) noexcept:
    """Length of the XML name starting at p[at]."""
    cdef Py_ssize_t k = at
    while k < end and NAME_CHAR[p[k]]:
        k += 1
    return k - at


cdef inline uint64_t zero_bytes(uint64_t x) noexcept:
    """0x80 in every byte of x that is zero, exactly (bytes below 0x80 assumed)."""
    return ~(((x & 0x7F7F7F7F7F7F7F7FULL) + 0x7F7F7F7F7F7F7F7FULL) | x) & 0x8080808080808080ULL


cdef Py_ssize_t check_chars_c(const unsigned char* p, Py_ssize_t start,
                            Py_ssize_t end) except -2:
    """Raise at the first invalid UTF-8 sequence or forbidden XML character (see the pure
    twin's check_chars). ASCII is checked eight bytes at a time; a word that is not plain
    printable ASCII is then walked byte by byte."""
    cdef Py_ssize_t i = start, stop
    cdef uint64_t word, controls
    cdef unsigned char c
    while i < end:
        i += omadm_skip_xml_ascii(p + i, end - i)
        if i >= end:
            break
        if i + 8 <= end:
            memcpy(&word, p + i, 8)
            # Eight ASCII bytes whose only control characters are TAB, LF or CR. With no high
            # bit set these byte-wise tests are exact (no carry crosses a byte).
            if (word & 0x8080808080808080ULL) == 0:
                controls = ~(word + 0x6060606060606060ULL) & 0x8080808080808080ULL
                if controls == 0 or (controls & ~(zero_bytes(word ^ 0x0A0A0A0A0A0A0A0AULL)
                                                  | zero_bytes(word ^ 0x0909090909090909ULL)
                                                  | zero_bytes(word ^ 0x0D0D0D0D0D0D0D0DULL))
                                     ) == 0:
                    i += 8
                    continue
            stop = i + 8
        else:
            stop = end
        while i < stop:
            c = p[i]
            if 0x20 <= c < 0x80 or c == 10 or c == 9 or c == 13:
                i += 1
            else:
                i = check_one(p, i, end)
    return 0


cdef inline Py_ssize_t check_one(const unsigned char* p, Py_ssize_t i, Py_ssize_t end) except -1:
    """Check the character starting at i; return the index after it."""
    cdef unsigned char c = p[i], c1, c2
    cdef int n
    if c < 0x80:
        if c < 0x20 and c != 9 and c != 10 and c != 13:
            raise EncodeError("malformed_xml", i)
        return i + 1
    if 0xC2 <= c <= 0xDF:
        n = 2
    elif 0xE0 <= c <= 0xEF:
        n = 3
    elif 0xF0 <= c <= 0xF4:
        n = 4
    else:
        raise EncodeError("invalid_utf8", i)
    if i + 1 >= end:
        raise EncodeError("invalid_utf8", i)
    c1 = p[i + 1]
    if (c1 & 0xC0) != 0x80:
        raise EncodeError("invalid_utf8", i)
    if n == 3:
        if (c == 0xE0 and c1 < 0xA0) or (c == 0xED and c1 >= 0xA0):
            raise EncodeError("invalid_utf8", i)
    elif n == 4:
        if (c == 0xF0 and c1 < 0x90) or (c == 0xF4 and c1 >= 0x90):
            raise EncodeError("invalid_utf8", i)
    if n >= 3:
        if i + 2 >= end or (p[i + 2] & 0xC0) != 0x80:
            raise EncodeError("invalid_utf8", i)
        c2 = p[i + 2]
        if n == 3 and c == 0xEF and c1 == 0xBF and (c2 == 0xBE or c2 == 0xBF):
            raise EncodeError("malformed_xml", i)
    if n == 4:
        if i + 3 >= end or (p[i + 3] & 0xC0) != 0x80:
            raise EncodeError("invalid_utf8", i)
    return i + n


cdef inline void _push_plain(Scanner sc, Py_ssize_t at, Py_ssize_t length) noexcept:
    """push_name once the stack has room (the usual case, inline where it is hot)."""
    sc.name_at[sc.depth] = at
    sc.name_len[sc.depth] = length
    sc.ns_at[sc.depth] = <PyObject*>sc.cur_ns
    sc.depth += 1


cdef inline void _resolve_plain(Scanner sc, Py_ssize_t start, Py_ssize_t stop) noexcept:
    """resolve_element for a name without a prefix: in the namespace in force."""
    if sc.ns_uri is not sc.cur_ns:
        sc.ns_uri = sc.cur_ns
    sc.local_ptr = sc.p + start
    sc.local_len = stop - start


cdef inline void _pop_plain(Scanner sc) noexcept:
    """pop_element's usual case: not the root, no namespace frame to drop."""
    sc.depth -= 1
    if sc.ns_at[sc.depth - 1] != <PyObject*>sc.cur_ns:
        sc.cur_ns = <object>sc.ns_at[sc.depth - 1]


cdef class Scanner:
    """Cursor over one XML document; see omadm_codec/wbxml/_xmlscan_py.py for the event fields."""

    def __init__(self, bytes data, Py_ssize_t start, object limits):
        self.setup(data, start, limits.max_depth, limits.max_elements, limits.max_opaque)

    cdef int setup(self, bytes data, Py_ssize_t start, Py_ssize_t max_depth,
                   Py_ssize_t max_elements, Py_ssize_t max_text) except -1:
        """What __init__ does, for Cython callers (``Scanner.__new__(Scanner)`` + setup)."""
        self.data = data
        self.p = <const unsigned char*>(<char*>data)
        self.pos = start
        self.end = len(data)
        self.max_depth = max_depth
        self.max_elements = max_elements
        self.max_text = max_text
        # A reused scanner (see idle) keeps its C arrays' memory, nothing else.
        if self.ns_frames is None or len(self.ns_frames) != 1:
            self.ns_frames = [_BASE_FRAME]
        self.ns_top = 0
        self.cur_ns = b""
        self.ns_uri = b""
        self.attr_list = None
        self.depth = self.elements = self.nattr = self.offset = 0
        self.root_seen = self.root_done = self.pending_end = self.seen_doctype = False
        self.local_ptr = self.text_ptr = NULL
        self.local_len = self.text_len = 0
        self.scratch.len = 0
        if self.ns_keep is not None and len(self.ns_keep) > 16:
            self.ns_keep = None  # kept across documents while short (see keep_namespace)
        self.pending_attrs = self.pending_default = None
        if self.fpi is not None or self.sysid is not None:
            self.fpi = self.sysid = None
        return 0

    cdef void idle(self) noexcept:
        """Drop what the document held, for reuse by the next setup."""
        self.data = None
        self.p = NULL
        if self.scratch.cap > 8 * 1024 * 1024:
            free(self.scratch.data)
            self.scratch.data = NULL
            self.scratch.len = self.scratch.cap = 0

    def __dealloc__(self):
        free(self.attr_at)
        free(self.attr_len)
        free(self.attr_slots)
        free(self.ns_at)
        free(self.name_at)
        free(self.name_len)
        free(self.scratch.data)

    cdef object fail(self, str reason, Py_ssize_t offset):
        return EncodeError(reason, offset)

    cdef int next_event(self) except -1:
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t end = self.end
        cdef Py_ssize_t pos, lt, close, run_start = -1
        cdef int mode = 0  # 0: no text yet, 1: text points into the input, 2: into scratch
        cdef int nxt, special_c, content_c
        cdef bint special
        if self.pending_end:
            self.pending_end = False
            return self.pop_element(self.offset)
        while True:
            pos = self.pos
            if pos >= end:
                if mode:
                    return self.text_event(run_start, mode)
                if self.depth or not self.root_seen:
                    raise self.fail("malformed_xml", end)
                return EVENT_EOF
            if p[pos] != 0x3C:
                if run_start < 0:
                    run_start = pos
                # The run up to the next '<', and whether a ']', '&' or CR is in it (SSE2).
                special_c = content_c = 0
                lt = omadm_text_run(p, pos, end, &special_c, &content_c)
                special = special_c != 0
                if mode == 0 and not special and self.depth:
                    # text_piece's usual case inline: the run is one clean piece of the input.
                    self.text_ptr = p + pos
                    self.text_len = lt - pos
                    mode = 1
                else:
                    mode = self.text_piece(pos, lt, mode, special)
                self.pos = lt
                continue
            nxt = p[pos + 1] if pos + 1 < end else -1
            if nxt == 0x21 and pos + 4 <= end and p[pos + 2] == 0x2D and p[pos + 3] == 0x2D:
                close = find3(p, pos + 4, end, 0x2D, 0x2D, 0x3E)
                if close < 0:
                    raise self.fail("malformed_xml", pos)
                self.pos = close + 3
                continue
            if nxt == 0x3F:
                self.skip_pi(pos)
                continue
            if mode:
                return self.text_event(run_start, mode)
            if nxt == 0x21:
                if pos + 9 <= end and memcmp(p + pos, b"<![CDATA[", 9) == 0:
                    return self.cdata(pos)
                if pos + 9 <= end and memcmp(p + pos, b"<!DOCTYPE", 9) == 0:
                    return self.doctype(pos)
                raise self.fail("malformed_xml", pos)
            if nxt == 0x2F:
                return self.end_tag(pos)
            return self.start_tag(pos)

    # -- character data ---------------------------------------------------------------------
    cdef int text_piece(self, Py_ssize_t pos, Py_ssize_t stop, int mode,
                        bint special) except -1:
        """Add p[pos:stop] to the run; special = it may hold ']', '&' or CR."""
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t i, amp, bracket
        if self.depth == 0:
            i = pos
            while i < stop:
                if not IS_WS[p[i]]:
                    raise self.fail("malformed_xml", i)
                i += 1
            return mode
        if special:
            bracket = find3(p, pos, stop, 0x5D, 0x5D, 0x3E)
            if bracket >= 0:
                raise self.fail("malformed_xml", bracket)
            special = find1(p, pos, stop, 0x26) >= 0 or find1(p, pos, stop, 0x0D) >= 0
        if mode == 0 and not special:
            self.text_ptr = p + pos
            self.text_len = stop - pos
            return 1
        if mode == 1:
            self.scratch.len = 0
            buf_add(&self.scratch, self.text_ptr, self.text_len)
        elif mode == 0:
            self.scratch.len = 0
        i = pos
        while i < stop:
            amp = find1(p, i, stop, 0x26)
            if amp < 0:
                self.add_normalised(i, stop)
                break
            self.add_normalised(i, amp)
            i = self.reference(amp, stop, &self.scratch)
        return 2

    cdef int add_normalised(self, Py_ssize_t i, Py_ssize_t stop) except -1:
        """Append p[i:stop] to scratch with CRLF and CR turned into LF."""
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t cr
        while i < stop:
            cr = find1(p, i, stop, 0x0D)
            if cr < 0:
                buf_add(&self.scratch, p + i, stop - i)
                return 0
            buf_add(&self.scratch, p + i, cr - i)
            buf_byte(&self.scratch, 0x0A)
            i = cr + 2 if cr + 1 < stop and p[cr + 1] == 0x0A else cr + 1
        return 0

    cdef Py_ssize_t reference(self, Py_ssize_t amp, Py_ssize_t stop, Buf* out) except -1:
        """Resolve the reference at amp into out; returns the position after its ';'."""
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t limit = stop if stop < amp + 40 else amp + 40
        cdef Py_ssize_t semi = find1(p, amp + 1, limit, 0x3B)
        cdef Py_ssize_t i, start
        cdef unsigned long cp = 0
        cdef int base = 10, d
        cdef unsigned char c
        cdef unsigned char enc[4]
        if semi < 0:
            raise self.fail("malformed_xml", amp)
        if p[amp + 1] == 0x23:  # '#'
            start = amp + 2
            if start < semi and p[start] == 0x78:  # 'x'
                base = 16
                start += 1
            if start >= semi:
                raise self.fail("malformed_xml", amp)
            for i in range(start, semi):
                c = p[i]
                if 48 <= c <= 57:
                    d = c - 48
                elif base == 16 and 97 <= c <= 102:
                    d = c - 87
                elif base == 16 and 65 <= c <= 70:
                    d = c - 55
                else:
                    raise self.fail("malformed_xml", amp)
                if cp <= 0x10FFFF:
                    cp = cp * base + d
            if cp < 0x20:
                if cp != 9 and cp != 10 and cp != 13:
                    raise self.fail("malformed_xml", amp)
            elif (0xD800 <= cp <= 0xDFFF) or cp == 0xFFFE or cp == 0xFFFF or cp > 0x10FFFF:
                raise self.fail("malformed_xml", amp)
            if cp < 0x80:
                enc[0] = <unsigned char>cp
                buf_add(out, enc, 1)
            elif cp < 0x800:
                enc[0] = 0xC0 | (cp >> 6)
                enc[1] = 0x80 | (cp & 0x3F)
                buf_add(out, enc, 2)
            elif cp < 0x10000:
                enc[0] = 0xE0 | (cp >> 12)
                enc[1] = 0x80 | ((cp >> 6) & 0x3F)
                enc[2] = 0x80 | (cp & 0x3F)
                buf_add(out, enc, 3)
            else:
                enc[0] = 0xF0 | (cp >> 18)
                enc[1] = 0x80 | ((cp >> 12) & 0x3F)
                enc[2] = 0x80 | ((cp >> 6) & 0x3F)
                enc[3] = 0x80 | (cp & 0x3F)
                buf_add(out, enc, 4)
            return semi + 1
        c = _predefined(p + amp + 1, semi - amp - 1)
        if c:
            buf_add(out, &c, 1)
            return semi + 1
        value = _PREDEFINED.get(PyBytes_FromStringAndSize(<char*>p + amp + 1, semi - amp - 1))
        if value is None:
            if semi > amp + 1 and NAME_START[p[amp + 1]]:
                for i in range(amp + 2, semi):
                    if not NAME_CHAR[p[i]]:
                        raise self.fail("malformed_xml", amp)
                raise self.fail("undefined_entity", amp)
            raise self.fail("malformed_xml", amp)
        buf_add(out, <const unsigned char*>(<char*>value), 1)
        return semi + 1

    cdef int text_event(self, Py_ssize_t run_start, int mode) except -1:
        if mode == 2:
            self.text_ptr = self.scratch.data
            self.text_len = self.scratch.len
        self.offset = run_start
        if self.text_len > self.max_text:
            raise self.fail("too_large", run_start)
        return EVENT_TEXT

    cdef int cdata(self, Py_ssize_t pos) except -1:
        cdef Py_ssize_t close
        if self.depth == 0:
            raise self.fail("malformed_xml", pos)
        close = find3(self.p, pos + 9, self.end, 0x5D, 0x5D, 0x3E)
        if close < 0:
            raise self.fail("malformed_xml", pos)
        if find1(self.p, pos + 9, close, 0x0D) < 0:
            self.text_ptr = self.p + pos + 9
            self.text_len = close - pos - 9
        else:
            self.scratch.len = 0
            self.add_normalised(pos + 9, close)
            self.text_ptr = self.scratch.data
            self.text_len = self.scratch.len
        self.offset = pos
        self.pos = close + 3
        if self.text_len > self.max_text:
            raise self.fail("too_large", pos)
        return EVENT_CDATA

    cdef int skip_pi(self, Py_ssize_t pos) except -1:
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t close = find2(p, pos + 2, self.end, 0x3F, 0x3E)
        cdef Py_ssize_t i = pos + 2
        cdef Py_ssize_t first
        if close < 0:
            raise self.fail("malformed_xml", pos)
        if i >= self.end or not NAME_START[p[i]]:
            raise self.fail("malformed_xml", pos)
        while i < self.end and NAME_CHAR[p[i]]:
            i += 1
        if i - pos - 2 == 3 and (p[pos + 2] | 0x20) == 0x78 and (p[pos + 3] | 0x20) == 0x6D \
                and (p[pos + 4] | 0x20) == 0x6C:
            first = 3 if self.end >= 3 and memcmp(p, b"\xef\xbb\xbf", 3) == 0 else 0
            if pos != first or memcmp(p + pos + 2, b"xml", 3) != 0:
                raise self.fail("malformed_xml", pos)
        self.pos = close + 2
        return 0

    # -- DOCTYPE ----------------------------------------------------------------------------
    cdef int doctype(self, Py_ssize_t pos) except -1:
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t i, j, end = self.end
        if self.root_seen or self.seen_doctype:
            raise self.fail("malformed_xml", pos)
        self.seen_doctype = True
        i = self.skip_ws(pos + 9, True)
        if i >= end or not NAME_START[p[i]]:
            raise self.fail("malformed_xml", pos)
        while i < end and NAME_CHAR[p[i]]:
            i += 1
        self.fpi = self.sysid = None
        j = self.skip_ws(i, False)
        if j + 6 <= end and memcmp(p + j, b"PUBLIC", 6) == 0 and j > i:
            i = self.skip_ws(j + 6, True)
            i = self.quoted(i, pos, True)
            j = self.skip_ws(i, False)
            if j < end and (p[j] == 0x22 or p[j] == 0x27) and j > i:
                i = self.quoted(j, pos, False)
                j = self.skip_ws(i, False)
        elif j + 6 <= end and memcmp(p + j, b"SYSTEM", 6) == 0 and j > i:
            i = self.skip_ws(j + 6, True)
            i = self.quoted(i, pos, False)
            j = self.skip_ws(i, False)
        if j < end and p[j] == 0x5B:  # '[': an internal subset (entities live there)
            raise self.fail("forbidden_dtd", pos)
        if j >= end or p[j] != 0x3E:
            raise self.fail("malformed_xml", pos)
        self.pos = j + 1
        self.offset = pos
        return EVENT_DOCTYPE

    cdef Py_ssize_t skip_ws(self, Py_ssize_t i, bint required) except -1:
        cdef Py_ssize_t start = i
        while i < self.end and IS_WS[self.p[i]]:
            i += 1
        if required and i == start:
            raise self.fail("malformed_xml", i)
        return i

    cdef Py_ssize_t quoted(self, Py_ssize_t i, Py_ssize_t at, bint is_fpi) except -1:
        cdef Py_ssize_t close
        if i >= self.end or (self.p[i] != 0x22 and self.p[i] != 0x27):
            raise self.fail("malformed_xml", at)
        close = find1(self.p, i + 1, self.end, self.p[i])
        if close < 0:
            raise self.fail("malformed_xml", at)
        value = PyBytes_FromStringAndSize(<char*>self.p + i + 1, close - i - 1)
        if is_fpi:
            self.fpi = value
        else:
            self.sysid = value
        return close + 1

    # -- tags -------------------------------------------------------------------------------
    cdef int start_tag(self, Py_ssize_t pos) except -1:
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t end = self.end
        cdef Py_ssize_t i = pos + 1, j, name_end, colon = -1
        cdef unsigned int h
        if self.root_done:
            raise self.fail("malformed_xml", pos)
        if i >= end or not NAME_START[p[i]]:
            raise self.fail("malformed_xml", pos)
        # The FNV-1a hash of the local name comes for free here (the encoder's tag lookup).
        h = FNV_OFFSET
        while i < end and NAME_CHAR[p[i]]:
            if p[i] == 0x3A and colon < 0:
                colon = i
                h = FNV_OFFSET
            else:
                h = (h ^ p[i]) * FNV_PRIME
            i += 1
        name_end = i
        self.local_hash = h
        # Most tags end right after the name; only the others touch Python objects.
        if i < end and (p[i] == 0x3E or (p[i] == 0x2F and i + 1 < end and p[i + 1] == 0x3E)):
            j = i
            if self.pending_attrs is not None:
                self.pending_attrs = None
            if self.pending_default is not None:
                self.pending_default = None
            self.plain_attrs = 0
        elif (i + 8 < end and p[i] == 0x20 and memcmp(p + i + 1, b"xmlns=", 6) == 0
                and (p[i + 7] == 0x22 or p[i + 7] == 0x27)):
            # Just ` xmlns="..."` (every MetInf element): the same steps as parse_attrs.
            value = self.attr_value(i + 7, True)
            j = self.pos
            if j < end and (p[j] == 0x3E or (p[j] == 0x2F and j + 1 < end and p[j + 1] == 0x3E)):
                self.pending_attrs = None
                self.pending_default = value
                self.plain_attrs = 0
            else:
                j = self.parse_attrs(pos, i)
        else:
            j = self.parse_attrs(pos, i)
        self.elements += 1
        if self.elements > self.max_elements:
            raise self.fail("too_many_elements", pos)
        if self.depth >= self.max_depth:
            raise self.fail("too_deep", pos)
        if self.pending_default is not None:
            self.keep_namespace(self.pending_default)
            self.cur_ns = self.pending_default
        if self.pending_attrs is not None:
            self.attr_list = self.bind_namespaces(self.pending_attrs, self.depth + 1, pos)
        elif self.attr_list is not None:
            self.attr_list = None
        # resolve_element and push_name, their usual case inline (no prefix, room on the stack).
        if colon < 0:
            _resolve_plain(self, pos + 1, name_end)
        else:
            self.resolve_element(pos + 1, name_end, colon, pos)
        if self.depth < self.cap:
            _push_plain(self, pos + 1, name_end - pos - 1)
        else:
            self.push_name(pos + 1, name_end - pos - 1)
        self.root_seen = True
        self.offset = pos
        if p[j] == 0x2F:
            self.pos = j + 2
            self.pending_end = True
        else:
            self.pos = j + 1
        return EVENT_START

    cdef Py_ssize_t parse_attrs(self, Py_ssize_t pos, Py_ssize_t i) except -1:
        """Attributes from i to the tag's '>' or '/>' (returned). Prefixed ones (xmlns:p too)
        go to pending_attrs as raw (name, value, b"") tuples, an xmlns="..." value to
        pending_default; unprefixed ones are only checked, duplicates by a C hash set over
        their names in the input, so a flood of them allocates no Python objects."""
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t end = self.end
        cdef Py_ssize_t j, k, aname_at
        cdef list attrs = None
        cdef object default_value = None
        cdef bint has_default = False, is_default, prefixed
        cdef int c
        self.nattr = 0
        self.plain_attrs = 0
        while True:
            j = self.skip_ws(i, False)
            if j >= end:
                raise self.fail("malformed_xml", pos)
            c = p[j]
            if c == 0x3E or (c == 0x2F and j + 1 < end and p[j + 1] == 0x3E):
                break
            if j == i:
                raise self.fail("malformed_xml", j)
            if not NAME_START[c]:
                raise self.fail("malformed_xml", j)
            aname_at = j
            k = j
            prefixed = False
            while k < end and NAME_CHAR[p[k]]:
                prefixed |= p[k] == 0x3A
                k += 1
            # The default namespace declaration is the common attribute: no name object.
            is_default = k - j == 5 and memcmp(p + j, b"xmlns", 5) == 0
            aname = PyBytes_FromStringAndSize(<char*>p + j, k - j) if prefixed else None
            k = self.skip_ws(k, False)
            if k >= end or p[k] != 0x3D:
                raise self.fail("malformed_xml", k)
            k = self.skip_ws(k + 1, False)
            value = self.attr_value(k, is_default, is_default or prefixed)
            i = self.pos
            if is_default:
                if has_default:
                    raise self.fail("malformed_xml", aname_at)
                has_default = True
                default_value = value
                continue
            self.note_attribute(aname_at, k_name_len(p, aname_at, end))
            if prefixed:
                if attrs is None:
                    attrs = []
                attrs.append((aname, value, b""))
            else:
                self.plain_attrs += 1
        self.pending_attrs = attrs
        self.pending_default = default_value
        return j

    cdef int note_attribute(self, Py_ssize_t at, Py_ssize_t n) except -1:
        """Record one attribute name of the current tag; malformed_xml if it is a repeat.
        Up to 8 names are compared directly; beyond, an open-addressing table of their
        offsets is kept (rebuilt at double size when half full): linear overall."""
        cdef Py_ssize_t idx = self.nattr, k, slot, size, other
        cdef Py_ssize_t* fresh
        cdef const unsigned char* p = self.p
        if idx >= self.attr_cap:
            size = self.attr_cap * 2 if self.attr_cap else 16
            fresh = <Py_ssize_t*>realloc(self.attr_at, size * sizeof(Py_ssize_t))
            if fresh == NULL:
                raise MemoryError()
            self.attr_at = fresh
            fresh = <Py_ssize_t*>realloc(self.attr_len, size * sizeof(Py_ssize_t))
            if fresh == NULL:
                raise MemoryError()
            self.attr_len = fresh
            self.attr_cap = size
        if idx < 8:
            for k in range(idx):
                if self.attr_len[k] == n and same_bytes(p + self.attr_at[k], p + at, n):
                    raise self.fail("malformed_xml", at)
        else:
            if 2 * (idx + 1) > self.slot_count or idx == 8:
                self.rehash_attributes(4 * (idx + 1))
            slot = name_hash(p + at, n) & (self.slot_count - 1)
            while True:
                other = self.attr_slots[slot] - 1
                if other < 0:
                    self.attr_slots[slot] = idx + 1
                    break
                if (self.attr_len[other] == n
                        and same_bytes(p + self.attr_at[other], p + at, n)):
                    raise self.fail("malformed_xml", at)
                slot = (slot + 1) & (self.slot_count - 1)
        self.attr_at[idx] = at
        self.attr_len[idx] = n
        self.nattr = idx + 1
        return 0

    cdef int rehash_attributes(self, Py_ssize_t at_least) except -1:
        cdef Py_ssize_t size = 16, k, slot
        cdef Py_ssize_t* fresh
        while size < at_least:
            size *= 2
        fresh = <Py_ssize_t*>realloc(self.attr_slots, size * sizeof(Py_ssize_t))
        if fresh == NULL:
            raise MemoryError()
        self.attr_slots = fresh
        self.slot_count = size
        memset(self.attr_slots, 0, size * sizeof(Py_ssize_t))
        for k in range(self.nattr):
            slot = name_hash(self.p + self.attr_at[k], self.attr_len[k]) & (size - 1)
            while self.attr_slots[slot]:
                slot = (slot + 1) & (size - 1)
            self.attr_slots[slot] = k + 1
        return 0

    cdef object attr_value(self, Py_ssize_t k, bint cacheable, bint want=True):
        """The normalised value of the attribute starting at quote k; sets self.pos after it.
        want=False only checks it (its references included) and returns None."""
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t close, lt, i, amp, n
        cdef Buf* out = &self.scratch
        cdef unsigned char c
        if k >= self.end or (p[k] != 0x22 and p[k] != 0x27):
            raise self.fail("malformed_xml", k)
        close = find1(p, k + 1, self.end, p[k])
        if close < 0:
            raise self.fail("malformed_xml", k)
        lt = find1(p, k + 1, close, 0x3C)
        if lt >= 0:
            raise self.fail("malformed_xml", lt)
        self.pos = close + 1
        n = close - k - 1
        if cacheable and find1(p, k + 1, close, 0x26) < 0:
            # Namespace URIs repeat (xmlns on every MetInf element): reuse the bytes object.
            cached = cached_namespace(p + k + 1, n)
            if cached is not None:
                return cached
        out.len = 0
        i = k + 1
        while i < close:
            amp = find1(p, i, close, 0x26)
            if amp < 0:
                amp = close
            while i < amp:
                c = p[i]
                if c == 0x0D and i + 1 < amp and p[i + 1] == 0x0A:
                    i += 1
                    continue
                buf_byte(out, 0x20 if IS_WS[c] else c)
                i += 1
            if amp < close:
                i = self.reference(amp, close, out)
        if not want:
            return None
        value = PyBytes_FromStringAndSize(<char*>out.data, out.len)
        if cacheable:
            remember_namespace(value)
        return value

    cdef list bind_namespaces(self, list attrs, Py_ssize_t depth, Py_ssize_t pos):
        cdef dict bindings = {}
        cdef list out = []
        for aname, value, _ in attrs:
            if aname.startswith(b"xmlns:"):
                prefix = aname[6:]
                if not prefix or b":" in prefix or (not value and prefix != b"xml"):
                    raise self.fail("malformed_xml", pos)
                bindings[prefix] = value
        if bindings:
            self.ns_frames.append((depth, bindings))
            self.ns_top = depth
        for aname, value, _ in attrs:
            if aname.startswith(b"xmlns:"):
                continue
            ns, local = self.resolve_prefixed(aname, pos)
            out.append((local, value, ns))
        return out

    cdef tuple resolve_prefixed(self, bytes qname, Py_ssize_t pos):
        colon = qname.find(b":")
        prefix = qname[:colon]
        local = qname[colon + 1:]
        if not prefix or not local or b":" in local:
            raise self.fail("malformed_xml", pos)
        for _, bindings in reversed(self.ns_frames):
            uri = (<dict>bindings).get(prefix)
            if uri is not None:
                return uri, local
        raise self.fail("malformed_xml", pos)

    cdef int resolve_element(self, Py_ssize_t start, Py_ssize_t stop, Py_ssize_t colon,
                             Py_ssize_t pos) except -1:
        if colon < 0:
            _resolve_plain(self, start, stop)
            return 0
        ns, local = self.resolve_prefixed(
            PyBytes_FromStringAndSize(<char*>self.p + start, stop - start), pos)
        self.ns_uri = ns
        self.local_ptr = self.p + colon + 1
        self.local_len = stop - colon - 1
        return 0

    cdef int keep_namespace(self, object value) except -1:
        """Own ``value`` for as long as ns_at may point to it (ns_at's pointers are borrowed).
        Namespace values are mostly the same cached objects, so one among the last four owned
        is not added again (four: constant work per tag, whatever the document): the list
        stays a handful long, and is reused by the next document."""
        cdef Py_ssize_t k, n
        if self.ns_keep is None:
            self.ns_keep = [value]
            return 0
        n = PyList_GET_SIZE(self.ns_keep)
        for k in range(n - 1, n - 5 if n > 4 else -1, -1):
            if PyList_GET_ITEM(self.ns_keep, k) == <PyObject*>value:  # borrowed, compared only
                return 0
        self.ns_keep.append(value)
        return 0

    cdef int push_name(self, Py_ssize_t at, Py_ssize_t length) except -1:
        cdef Py_ssize_t cap
        cdef Py_ssize_t* fresh
        cdef PyObject** fresh_ns
        if self.depth >= self.cap:
            cap = self.cap * 2 if self.cap else 32
            fresh = <Py_ssize_t*>realloc(self.name_at, cap * sizeof(Py_ssize_t))
            if fresh == NULL:
                raise MemoryError()
            self.name_at = fresh
            fresh = <Py_ssize_t*>realloc(self.name_len, cap * sizeof(Py_ssize_t))
            if fresh == NULL:
                raise MemoryError()
            self.name_len = fresh
            fresh_ns = <PyObject**>realloc(self.ns_at, cap * sizeof(PyObject*))
            if fresh_ns == NULL:
                raise MemoryError()
            self.ns_at = fresh_ns
            self.cap = cap
        _push_plain(self, at, length)
        return 0

    cdef int end_tag(self, Py_ssize_t pos) except -1:
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t i = pos + 2, j, n
        if self.depth:
            # The usual end tag: the open element's name then '>' (what the loop below accepts
            # too, with the same result).
            n = self.name_len[self.depth - 1]
            j = pos + 2 + n
            if (j < self.end and p[j] == 0x3E
                    and same_bytes(p + pos + 2, p + self.name_at[self.depth - 1], n)):
                self.pos = j + 1
                if self.depth > 1 and self.ns_top != self.depth:
                    _pop_plain(self)
                    self.offset = pos
                    return EVENT_END
                return self.pop_element(pos)
        if i >= self.end or not NAME_START[p[i]]:
            raise self.fail("malformed_xml", pos)
        while i < self.end and NAME_CHAR[p[i]]:
            i += 1
        n = i - pos - 2
        if (self.depth == 0 or self.name_len[self.depth - 1] != n or
                not same_bytes(p + pos + 2, p + self.name_at[self.depth - 1], n)):
            raise self.fail("malformed_xml", pos)
        j = i if i < self.end and p[i] == 0x3E else self.skip_ws(i, False)
        if j >= self.end or p[j] != 0x3E:
            raise self.fail("malformed_xml", pos)
        self.pos = j + 1
        return self.pop_element(pos)

    cdef int pop_element(self, Py_ssize_t pos) except -1:
        cdef Py_ssize_t depth = self.depth
        self.depth -= 1
        if self.ns_top == depth:
            self.ns_frames.pop()
            self.ns_top = self.ns_frames[-1][0]
        if self.depth == 0:
            self.root_done = True
            self.cur_ns = b""
        elif self.ns_at[self.depth - 1] != <PyObject*>self.cur_ns:
            self.cur_ns = <object>self.ns_at[self.depth - 1]
        self.offset = pos
        return EVENT_END

    cdef int leaf_text(self) except -1:
        """Right after a START event: when the element holds one clean text run (no '&',
        ']', CR; not empty) and then its end tag, take both events at once - the text fields
        as the TEXT event sets them, the state and ``offset`` as the END event leaves them -
        and return 1. Else 0, nothing consumed (next_event gives the events, or the error).
        Only the usual case: not the root, no namespace frame to pop."""
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t pos = self.pos, end = self.end, d = self.depth, lt, j, n
        cdef const unsigned char* hit
        cdef Py_ssize_t short_end = pos + 64 if end - pos > 64 else end
        cdef int special = 0, content = 0
        if self.pending_end or pos >= end or p[pos] == 0x3C or d <= 1 or self.ns_top == d:
            return 0
        lt = omadm_text_run(p, pos, short_end, &special, &content)
        if special:
            return 0
        if lt == short_end and lt < end:
            # A long run (a large Data): its end by memchr, its special bytes in a second
            # pass, both cheaper there than omadm_text_run's one.
            hit = <const unsigned char*>memchr(p + lt, 0x3C, end - lt)
            if hit == NULL:
                return 0
            if omadm_any_special(p + lt, hit - p - lt):
                return 0
            lt = hit - p
        if lt + 2 >= end or p[lt + 1] != 0x2F or lt - pos > self.max_text:
            return 0
        n = self.name_len[d - 1]
        j = lt + 2 + n
        if j >= end or p[j] != 0x3E or not same_bytes(p + lt + 2, p + self.name_at[d - 1], n):
            return 0
        self.text_ptr = p + pos
        self.text_len = lt - pos
        self.pos = j + 1
        _pop_plain(self)
        self.offset = lt
        return 1

    # -- Python view (tests, tools); Cython code reads the C fields directly ---------------------
    def next(self):
        """Advance to the next event and return its code (``EV_*``)."""
        return self.next_event()

    @property
    def local(self):
        return PyBytes_FromStringAndSize(<char*>self.local_ptr, self.local_len)

    @property
    def ns(self):
        return self.ns_uri

    @property
    def attrs(self):
        return list(self.attr_list) if self.attr_list is not None else []

    @property
    def plain_attr_count(self):
        return self.plain_attrs

    @property
    def text(self):
        return PyBytes_FromStringAndSize(<char*>self.text_ptr, self.text_len)


def check_chars(bytes data, Py_ssize_t start):
    """Raise ``invalid_utf8`` / ``malformed_xml`` at the first bad byte from ``start`` on."""
    check_chars_c(<const unsigned char*>(<char*>data), start, len(data))
