# cython: language_level=3
"""XML -> WBXML, byte-identical to libwbxml 0.11.8 (compiled twin of ``wbxml/_encode_py.py``).

Same algorithm as the pure twin (read its docstring): one pass over the scanner's events with an
explicit element stack; a tag byte is written at its start tag and gets its content bit OR-ed in
when the first child node arrives. Here the scanner is C (``_xmlscan_c``, cimported), tag names are looked up
in C hash tables built from ``codepages`` at import (no Python string per tag), the output is a
growing C buffer, and the string table is counted with a C hash over the output bytes.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyObject
from libc.stdint cimport uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memchr, memcmp, memcpy, memmove, memset

from omadm_codec.wbxml._xmlscan_c cimport (
    EVENT_CDATA,
    EVENT_DOCTYPE,
    EVENT_END,
    EVENT_START,
    EVENT_TEXT,
    Scanner,
    check_chars_c,
)
from omadm_codec.wbxml._xmlbuf cimport *  # Buf and the byte helpers
from omadm_codec.wbxml._handoff cimport HANDOFF_EVERY
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF


cdef extern from "omadm_codec/wbxml/_scan_simd.h":
    Py_ssize_t omadm_text_run(const unsigned char* s, Py_ssize_t i, Py_ssize_t n,
                              int* special, int* content) noexcept nogil
    Py_ssize_t omadm_skip_indent(const unsigned char* s, Py_ssize_t i, Py_ssize_t n) noexcept nogil
    Py_ssize_t omadm_ascii_name_end(const unsigned char* s, Py_ssize_t i,
                                    Py_ssize_t n) noexcept nogil

# ASCII bytes of XML names (a name with any other byte, or a prefix, is the scanner's).
cdef unsigned char ASCII_NAME_START[256]
cdef unsigned char ASCII_NAME[256]


cdef void _init_names() noexcept:
    cdef int c
    for c in range(256):
        ASCII_NAME_START[c] = (65 <= c <= 90) or (97 <= c <= 122) or c == 95
        ASCII_NAME[c] = ASCII_NAME_START[c] or (48 <= c <= 57) or c == 46 or c == 45


_init_names()

from omadm_codec.wbxml import _encode_rules as common
from omadm_codec.wbxml._markup import (
    MARKER, MARKUP_VALUE, FragmentLimit, NotMarkup, check_fragment,
)
from omadm_codec.errors import EncodeError
from omadm_codec.wbxml._switch import switch_point as _switch_point
from omadm_codec.limits import DEFAULT_LIMITS as _DEFAULT_LIMITS

# DEFAULT_LIMITS is frozen: read its values once.
cdef object _DEFAULT_LIMITS_OBJ = _DEFAULT_LIMITS
cdef Py_ssize_t _DEF_INPUT = _DEFAULT_LIMITS.max_input_size
cdef Py_ssize_t _DEF_DEPTH = _DEFAULT_LIMITS.max_depth
cdef Py_ssize_t _DEF_ELEMENTS = _DEFAULT_LIMITS.max_elements
cdef Py_ssize_t _DEF_OPAQUE = _DEFAULT_LIMITS.max_opaque

__all__ = ["xml_to_wbxml"]

cdef enum:
    NLANG = 10
    NPAGE = 4
    NSLOT = 256   # a page holds at most 56 tags: under a quarter full, short probe runs
    KIND_NONE = 0
    KIND_ELEMENT = 1
    KIND_TEXT = 2
    KIND_CDATA = 3
    F_DATA = 1
    F_META = 2
    F_TYPE = 4
    F_ADDREP = 8
    # Classification of a Type's text; TV_NONE means "no Type found".
    TV_NONE = 0
    TV_PLAIN = 1
    TV_CLEAR = 2
    TV_VOBJECT = 3
    TV_OTHER = 4
    CLS_PLAIN = 0
    CLS_CLEAR = 1
    CLS_VOBJECT = 2
    # common.encode_attributes operation kinds (checked equal at import, below).
    ATTR_RAW = 0
    ATTR_STRING = 1
    ATTR_LITERAL = 2

cdef struct Slot:
    const unsigned char* name
    Py_ssize_t length
    uint64_t w0, w1   # a name of up to 16 bytes, zero-padded: compared as two words
    int token
    int flags   # F_* of the tag name (the frame flags of elements with this name)

cdef struct Frame:
    Py_ssize_t tag_pos
    Py_ssize_t offset
    int flags
    int first
    int cls
    int tval
    int mval
    bint content
    bint tseen
    bint mseen
    bint b64
    bint markup         # a Data marked wbxml:opaque="markup"
    PyObject* ns        # the element's namespace (borrowed: the scanner keeps it while open)

cdef Slot TABLE[NLANG][NPAGE][NSLOT]
cdef bint HAS_PAGE[NLANG][NPAGE]
_KEEP_ALIVE = []
LANG_INDEX = {}
_HEADERS = [None] * (NLANG * 4)
"""Header bytes without a string table, at language index * 4 + version byte."""


_NAME_FLAGS = {b"Data": F_DATA, b"Meta": F_META, b"Type": F_TYPE, b"Add": F_ADDREP,
               b"Replace": F_ADDREP}


cdef uint64_t LOW_BYTES[9]  # LOW_BYTES[k]: the low k bytes of a word set


cdef inline uint64_t load_word(const unsigned char* s) noexcept:
    cdef uint64_t w
    memcpy(&w, s, 8)
    return w


cdef inline unsigned int name_key(const unsigned char* s, Py_ssize_t n, uint64_t* w0,
                                  uint64_t* w1, bint wide) noexcept:
    """The tag-table hash of the name s[:n], and for n <= 16 its bytes as two zero-padded
    words (little-endian order on every target: only equality and the hash use them; longer
    names: FNV-1a, words 0, compared byte by byte). ``wide``: s[0:16] may be read (the name
    lies well inside the input); else only s[:n] is."""
    cdef uint64_t h
    cdef unsigned char pad[16]
    cdef Py_ssize_t k
    if n > 16:
        w0[0] = w1[0] = 0
        return name_hash(s, n)
    if not wide:
        for k in range(16):
            pad[k] = s[k] if k < n else 0
        s = pad
    if n <= 8:
        w0[0] = load_word(s) & LOW_BYTES[n]
        w1[0] = 0
    else:
        w0[0] = load_word(s)
        w1[0] = load_word(s + 8) & LOW_BYTES[n - 8]
    h = (w0[0] * 0x9E3779B97F4A7C15ULL) ^ (w1[0] * 0xC2B2AE3D27D4EB4FULL) ^ <uint64_t>n
    return <unsigned int>(h >> 40)


cdef inline bint same_name(const unsigned char* a, const unsigned char* b, Py_ssize_t n,
                           const unsigned char* limit) noexcept:
    """a[:n] == b[:n] for two names in one input ending at limit: a word at a time where
    the words lie inside it."""
    cdef uint64_t x
    if n <= 8 and a + 8 <= limit and b + 8 <= limit:
        x = load_word(a) ^ load_word(b)
        return (x & LOW_BYTES[n]) == 0
    if n <= 16 and a + 16 <= limit and b + 16 <= limit:
        x = load_word(a) ^ load_word(b)
        return x == 0 and ((load_word(a + 8) ^ load_word(b + 8)) & LOW_BYTES[n - 8]) == 0
    return same_bytes(a, b, n)


cdef void _init_words() noexcept:
    cdef int k
    cdef unsigned char probe[8]
    for k in range(9):
        memset(probe, 0, 8)
        memset(probe, 0xFF, k)
        memcpy(&LOW_BYTES[k], probe, 8)


_init_words()


cdef void _build_tables() except *:
    cdef int li, page, slot
    cdef bytes tag
    cdef uint64_t w0, w1
    memset(TABLE, 0, sizeof(TABLE))
    memset(HAS_PAGE, 0, sizeof(HAS_PAGE))
    for li, name in enumerate(common.INFO):
        LANG_INDEX[name] = li
        info = common.INFO[name]
        for page, tags in info.by_page.items():
            HAS_PAGE[li][page] = True
            for tag, token in tags.items():
                _KEEP_ALIVE.append(tag)
                slot = name_key(tag, len(tag), &w0, &w1, False) & (NSLOT - 1)
                while TABLE[li][page][slot].name != NULL:
                    slot = (slot + 1) & (NSLOT - 1)
                TABLE[li][page][slot].name = tag
                TABLE[li][page][slot].length = len(tag)
                TABLE[li][page][slot].w0 = w0
                TABLE[li][page][slot].w1 = w1
                TABLE[li][page][slot].token = token
                TABLE[li][page][slot].flags = _NAME_FLAGS.get(tag, 0)


_build_tables()
assert (common.ATTR_RAW, common.ATTR_STRING, common.ATTR_LITERAL) == (
    ATTR_RAW, ATTR_STRING, ATTR_LITERAL)
for _name, _li in LANG_INDEX.items():
    for _version in common.VERSIONS.values():
        _HEADERS[_li * 4 + _version] = common.header(_version, common.INFO[_name], b"")


@cython.final
cdef class _Lang:
    """One LangInfo's fields as the encoder reads them (C fields: no attribute lookups)."""
    cdef object info
    cdef int li
    cdef bint is_syncml
    cdef dict ns_page
    cdef object attrs
    cdef Py_ssize_t base          # string-table offset of entry 0 (after a stored FPI)
    # The last default namespaces looked up in ns_page, with their pages (documents of one
    # language repeat two or three): held references, compared by identity.
    cdef PyObject* seen_ns[4]     # owned references (see page_of), NULL when unused
    cdef int seen_page[4]
    cdef int seen_next
    cdef tuple headers            # header bytes without a string table, by version byte

    def __init__(self, info):
        cdef int k
        self.info = info
        self.li = LANG_INDEX[info.name]
        self.is_syncml = info.is_syncml
        self.ns_page = info.ns_page
        self.attrs = info.attrs
        self.base = 0 if info.public_id else len(info.fpi) + 1
        self.headers = tuple(_HEADERS[self.li * 4 + version] for version in range(4))
        self.seen_next = 0
        for k in range(4):
            self.seen_ns[k] = NULL

    cdef inline int page_of(self, object ns) except -2:
        """ns_page.get(ns, 0), remembered for the last four namespace objects."""
        cdef int k, page
        for k in range(4):
            if self.seen_ns[k] == <PyObject*>ns:
                return self.seen_page[k]
        page = self.ns_page.get(ns, 0)
        k = self.seen_next
        Py_INCREF(ns)
        Py_XDECREF(self.seen_ns[k])
        self.seen_ns[k] = <PyObject*>ns
        self.seen_page[k] = page
        self.seen_next = (k + 1) & 3
        return page


cdef dict _LANGS = {name: _Lang(info) for name, info in common.INFO.items()}

# The last root without a DOCTYPE that chose a language: namespace, root name, _Lang.
cdef object _last_ns = None
cdef bytes _last_name = None
cdef _Lang _last_lang = None


cdef _Lang root_language(object fpi, object sysid, Scanner sc):
    global _last_ns, _last_name, _last_lang
    cdef bytes local
    cdef _Lang lang = _last_lang
    if fpi is None and sysid is None and lang is not None:
        if ((_last_ns is sc.ns_uri or _last_ns == sc.ns_uri)
                and PyBytes_GET_SIZE(_last_name) == sc.local_len
                and same_bytes(<const unsigned char*>PyBytes_AS_STRING(_last_name),
                               sc.local_ptr, sc.local_len)):
            return lang
    local = PyBytes_FromStringAndSize(<char*>sc.local_ptr, sc.local_len)
    info = common.select_language(fpi, sysid, sc.ns_uri, local, sc.offset)
    lang = _LANGS[info.name]
    if fpi is None and sysid is None:
        # No Python code runs between these writes, nor between the reads above (the GIL is
        # held throughout): the three always agree.
        _last_ns, _last_name = sc.ns_uri, local
        _last_lang = lang
    return lang


cdef inline int table_lookup(int li, int page, const unsigned char* s, Py_ssize_t n,
                             unsigned int h, uint64_t w0, uint64_t w1) noexcept:
    cdef int slot = h & (NSLOT - 1)
    cdef Slot* entry
    while True:
        entry = &TABLE[li][page][slot]
        if entry.name == NULL:
            return -1
        if entry.length == n and entry.w0 == w0 and entry.w1 == w1 and (
                n <= 16 or same_bytes(entry.name, s, n)):
            return entry.token | entry.flags << 16
        slot = (slot + 1) & (NSLOT - 1)


cdef inline Py_ssize_t write_mb(unsigned char* dest, Py_ssize_t value) noexcept:
    """mb_u_int32 of value at dest (room for 5 bytes); returns the byte count."""
    cdef unsigned char tmp[5]
    cdef int i = 4, n
    tmp[4] = value & 0x7F
    value >>= 7
    while value:
        i -= 1
        tmp[i] = 0x80 | (value & 0x7F)
        value >>= 7
    n = 5 - i
    memcpy(dest, tmp + i, n)
    return n


cdef inline uint64_t text_hash(const unsigned char* s, Py_ssize_t n) noexcept:
    """A hash of s[:n] eight bytes at a time (string-table counting; any good mix will do)."""
    cdef uint64_t h = <uint64_t>n * 0x9E3779B97F4A7C15ULL
    cdef uint64_t word
    while n >= 8:
        memcpy(&word, s, 8)
        h = (h ^ word) * 0xFF51AFD7ED558CCDULL
        h ^= h >> 32
        s += 8
        n -= 8
    word = 0
    memcpy(&word, s, n)
    h = (h ^ word) * 0xC4CEB9FE1A85EC53ULL
    return h ^ (h >> 29)


cdef inline bint name_is(const unsigned char* s, Py_ssize_t n, const char* lit,
                         Py_ssize_t m) noexcept:
    return n == m and same_bytes(s, <const unsigned char*>lit, m)


cdef int classify_type(const unsigned char* s, Py_ssize_t n) noexcept:
    if (name_is(s, n, b"application/vnd.syncml-devinf+xml", 33)
            or name_is(s, n, b"application/vnd.syncml.dmtnds+xml", 33)
            or name_is(s, n, b"application/vnd.syncml-devinf+wbxml", 35)
            or name_is(s, n, b"application/vnd.syncml.dmtnds+wbxml", 35)):
        return TV_PLAIN
    if name_is(s, n, b"text/clear", 10):
        return TV_CLEAR
    if (name_is(s, n, b"text/x-vcard", 12) or name_is(s, n, b"text/x-vcalendar", 16)
            or name_is(s, n, b"text/directory;profile=vCard", 28)):
        return TV_VOBJECT
    return TV_OTHER


cdef bint lower_equals(const unsigned char* s, Py_ssize_t n, const char* lit,
                       Py_ssize_t m) noexcept:
    cdef Py_ssize_t i
    cdef unsigned char c
    if n != m:
        return False
    for i in range(n):
        c = s[i]
        if 65 <= c <= 90:
            c += 32
        if c != <unsigned char>lit[i]:
            return False
    return True


cdef int add_crlf(Buf* b, const unsigned char* s, Py_ssize_t n) except -1:
    """Append s with a CR written before every LF."""
    cdef Py_ssize_t i = 0, j
    cdef const unsigned char* hit
    while i < n:
        hit = <const unsigned char*>memchr(s + i, 0x0A, n - i)
        if hit == NULL:
            return buf_add(b, s + i, n - i)
        j = hit - s
        buf_add(b, s + i, j - i)
        buf_byte(b, 0x0D)
        buf_byte(b, 0x0A)
        i = j + 1
    return 0


@cython.final
cdef class Encoder:
    """Encodes one document (the outer one, or one embedded DevInf / MgmtTree)."""

    cdef Scanner sc
    cdef int version
    cdef bint string_table, keep, is_syncml
    cdef object limits
    cdef object info
    cdef _Lang lang
    cdef int li
    cdef Buf out
    cdef Buf gbuf       # gathered character data of an opaque-class Data
    cdef Buf bbuf       # text of a base64 marker element
    cdef Buf spliced    # the body after string-table substitution
    cdef Py_ssize_t gathering   # frame index of the gathering Data, or -1
    # While the gathered data is one piece of the input itself, it is not copied.
    cdef const unsigned char* gather_ptr
    cdef Py_ssize_t gather_len
    cdef bint gather_direct
    cdef int page
    cdef int attr_page          # attribute code page (separate from the tag page)
    cdef object attr_tables     # the language's AttrTables, None if it has no attributes
    cdef Py_ssize_t max_opaque
    cdef Frame* frames
    cdef Py_ssize_t depth, cap
    cdef object last_ns
    cdef int last_first
    cdef dict ns_page
    # String-table records: body position, kind (0 STR_I, 1 LITERAL), string length.
    cdef Py_ssize_t* rec_pos
    cdef Py_ssize_t* rec_len
    cdef Py_ssize_t nrec, rec_cap
    cdef list literals   # names of LITERAL records, in order

    cdef int setup(self, Scanner sc, int version, bint string_table, bint keep,
                   object limits, Py_ssize_t max_opaque) except -1:
        """Ready for one document; a reused encoder keeps only its buffers' memory."""
        self.sc = sc
        self.version = version
        self.string_table = string_table
        self.keep = keep
        self.limits = limits
        self.info = None
        self.lang = None
        self.li = 0
        self.is_syncml = False
        self.out.len = self.gbuf.len = self.bbuf.len = self.spliced.len = 0
        self.gathering = -1
        self.gather_ptr = NULL
        self.gather_len = 0
        self.gather_direct = False
        self.page = self.attr_page = 0
        self.attr_tables = None
        self.max_opaque = max_opaque
        self.depth = 0
        self.last_ns = None
        self.last_first = -1
        self.ns_page = None
        self.nrec = 0
        self.literals = None
        # WBXML is smaller than its XML: one allocation covers the usual document.
        return buf_grow(&self.out, sc.end - sc.pos + 64)

    cdef void idle(self) noexcept:
        """Drop what the call held; give back buffers too large to keep."""
        self.literals = None
        if self.out.cap > _KEEP_MAX:
            free(self.out.data)
            self.out.data = NULL
            self.out.len = self.out.cap = 0
        if self.gbuf.cap > _KEEP_MAX:
            free(self.gbuf.data)
            self.gbuf.data = NULL
            self.gbuf.len = self.gbuf.cap = 0
        if self.spliced.cap > _KEEP_MAX:
            free(self.spliced.data)
            self.spliced.data = NULL
            self.spliced.len = self.spliced.cap = 0
        if self.bbuf.cap > _KEEP_MAX:
            free(self.bbuf.data)
            self.bbuf.data = NULL
            self.bbuf.len = self.bbuf.cap = 0

    def __dealloc__(self):
        free(self.out.data)
        free(self.gbuf.data)
        free(self.bbuf.data)
        free(self.spliced.data)
        free(self.frames)
        free(self.rec_pos)
        free(self.rec_len)

    # -- writers ------------------------------------------------------------------------------
    cdef int record(self, Py_ssize_t pos, Py_ssize_t length) except -1:
        cdef Py_ssize_t cap
        cdef Py_ssize_t* fresh
        if self.nrec >= self.rec_cap:
            cap = self.rec_cap * 2 if self.rec_cap else 64
            fresh = <Py_ssize_t*>realloc(self.rec_pos, cap * sizeof(Py_ssize_t))
            if fresh == NULL:
                raise MemoryError()
            self.rec_pos = fresh
            fresh = <Py_ssize_t*>realloc(self.rec_len, cap * sizeof(Py_ssize_t))
            if fresh == NULL:
                raise MemoryError()
            self.rec_len = fresh
            self.rec_cap = cap
        self.rec_pos[self.nrec] = pos
        self.rec_len[self.nrec] = length
        self.nrec += 1
        return 0

    cdef int str_i(self, const unsigned char* s, Py_ssize_t n, bint crlf) except -1:
        cdef Py_ssize_t start = self.out.len
        buf_grow(&self.out, n + 2)
        self.out.data[self.out.len] = 0x03
        self.out.len += 1
        if crlf:
            add_crlf(&self.out, s, n)
        else:
            memcpy(self.out.data + self.out.len, s, n)
            self.out.len += n
        buf_byte(&self.out, 0x00)
        if self.string_table and self.out.len - start - 2 > 3:
            self.record(start, self.out.len - start - 2)
        return 0

    cdef int opaque(self, const unsigned char* s, Py_ssize_t n, bint crlf) except -1:
        cdef Py_ssize_t extra = 0, i
        cdef const unsigned char* hit
        cdef unsigned char c
        if crlf:
            i = 0
            while i < n:
                hit = <const unsigned char*>memchr(s + i, 0x0A, n - i)
                if hit == NULL:
                    break
                extra += 1
                i = hit - s + 1
        buf_byte(&self.out, 0xC3)
        buf_mb(&self.out, n + extra)
        if not extra:
            return buf_add(&self.out, s, n)
        buf_grow(&self.out, n + extra)
        return add_crlf(&self.out, s, n)

    cdef int gather(self, const unsigned char* s, Py_ssize_t n, Frame* frame) except -1:
        """Add a run to the gathered bytes of the opaque Data. libwbxml converts line ends per
        piece: every LF of a run directly in a vObject-class Data, and a run that is exactly
        one LF anywhere in it (its single-LF rule for CDATA, which gathered text becomes)."""
        cdef bint crlf = False
        if frame == &self.frames[self.gathering] and frame.cls == CLS_VOBJECT:
            crlf = memchr(s, 0x0A, n) != NULL
        elif self.is_syncml and n == 1 and s[0] == 0x0A:
            crlf = True
        if self.gbuf.len == 0 and not self.gather_direct:
            if not crlf and self.sc.p <= s < self.sc.p + self.sc.end:
                # The first run is a slice of the input: keep a pointer, copy only if needed.
                self.gather_direct = True
                self.gather_ptr = s
                self.gather_len = n
                return 0
        elif self.gather_direct:
            self.gather_direct = False
            buf_add(&self.gbuf, self.gather_ptr, self.gather_len)
        if crlf:
            return add_crlf(&self.gbuf, s, n)
        return buf_add(&self.gbuf, s, n)

    cdef inline int mark(self, Frame* frame, int kind) except -1:
        if not frame.content:
            frame.content = True
            self.out.data[frame.tag_pos] |= 0x40
        if frame.first == KIND_NONE:
            frame.first = kind
        return 0

    cdef inline Frame* push_frame(self) except NULL:
        cdef Frame* frame
        if self.depth >= self.cap:
            self.grow_frames()
        frame = &self.frames[self.depth]
        memset(frame, 0, sizeof(Frame))
        self.depth += 1
        return frame

    cdef int grow_frames(self) except -1:
        cdef Py_ssize_t cap
        cdef Frame* fresh
        if self.depth >= self.cap:
            cap = self.cap * 2 if self.cap else 32
            fresh = <Frame*>realloc(self.frames, cap * sizeof(Frame))
            if fresh == NULL:
                raise MemoryError()
            self.frames = fresh
            self.cap = cap
        return 0

    # -- driver -------------------------------------------------------------------------------
    cdef bytes run(self, object fpi, object sysid, object nested):
        cdef Scanner sc = self.sc
        cdef int event = EVENT_START
        cdef unsigned int steps = 0
        cdef bint started = nested is not None   # the scanner's current event is ours
        self.info = nested
        if started:
            self.use_language(_LANGS[nested.name])
        while True:
            # One call site: the C compiler inlines the fast reader (and what it calls) here.
            # _next_fast reads a first start tag as the scanner would (anything before it, a
            # declaration, DOCTYPE, comment or whitespace, it leaves to the scanner).
            if started:
                started = False
            else:
                event = _next_fast(self, sc)
            if event == EVENT_START:
                if self.depth == 0 and self.info is None:
                    self.use_language(root_language(fpi, sysid, sc))
                _on_start(self, sc)
                if self.depth and self.frames[self.depth - 1].markup:
                    self.on_markup()
                    event = EVENT_END  # on_markup stopped at the Data's end: end it below
            if event == EVENT_END:
                _on_end(self)  # its one call site
                if self.depth == 0 and nested is not None:
                    break
            elif event == EVENT_TEXT:
                if self.depth:
                    _on_text(self, sc.text_ptr, sc.text_len)
            elif event == EVENT_CDATA:
                self.on_cdata(sc.text_ptr, sc.text_len)
            elif event == EVENT_DOCTYPE:
                fpi = sc.fpi
                sysid = sc.sysid
            elif event != EVENT_START:
                break
            steps += 1
            if (steps & (HANDOFF_EVERY - 1)) == 0:
                _switch_point()  # a large document: other threads run now and then (_handoff.pxd)
        return self.finish()

    # -- the scanner's usual syntax, read here ----------------------------------------------
    cdef int use_language(self, _Lang lang) except -1:
        self.lang = lang
        self.info = lang.info
        self.li = lang.li
        self.is_syncml = lang.is_syncml
        self.ns_page = lang.ns_page
        self.attr_tables = lang.attrs
        return 0

    cdef bytes finish(self):
        info = self.info
        cdef Py_ssize_t base = self.lang.base
        cdef bytes table = b""
        cdef bytes head
        cdef object body
        cdef bytes result
        cdef char* dest
        cdef Buf* src = &self.out
        if self.nrec:
            table = self.apply_table(base)
            if self.spliced.len:
                src = &self.spliced
        # One copy of the body, straight into the result object.
        if table:
            head = common.header(self.version, info, table)
        else:
            head = <bytes>self.lang.headers[self.version]
        result = PyBytes_FromStringAndSize(NULL, len(head) + src.len)
        dest = <char*>result
        memcpy(dest, <char*>head, len(head))
        memcpy(dest + len(head), src.data, src.len)
        return result

    cdef bytes apply_table(self, Py_ssize_t base):
        """The pure twin's apply_string_table with a C hash over the strings: returns the
        table and leaves the new body in self.spliced."""
        cdef Py_ssize_t n = self.nrec, size = 16, i, slot, u, nuniq = 0, lit = 0, done = 0
        cdef Py_ssize_t* slots
        cdef Py_ssize_t* uniq_of
        cdef Py_ssize_t* count
        cdef Py_ssize_t* where
        cdef const unsigned char** key
        cdef Buf table
        cdef Buf* body = &self.spliced
        cdef uint64_t h
        cdef uint64_t* full
        cdef const unsigned char* s
        cdef Py_ssize_t length, pos
        while size < 2 * n:
            size *= 2
        slots = <Py_ssize_t*>malloc(size * sizeof(Py_ssize_t))
        uniq_of = <Py_ssize_t*>malloc(n * sizeof(Py_ssize_t))
        count = <Py_ssize_t*>malloc(n * sizeof(Py_ssize_t))
        where = <Py_ssize_t*>malloc(n * sizeof(Py_ssize_t))
        key = <const unsigned char**>malloc(n * sizeof(const unsigned char*))
        full = <uint64_t*>malloc(n * sizeof(uint64_t))
        memset(&table, 0, sizeof(Buf))
        body.len = 0
        try:
            if not (slots and uniq_of and count and where and key and full):
                raise MemoryError()
            for i in range(size):
                slots[i] = -1
            for i in range(n):
                pos = self.rec_pos[i]
                length = self.rec_len[i]
                if self.out.data[pos] == 0x03:
                    s = self.out.data + pos + 1
                else:
                    s = <const unsigned char*>(<char*><bytes>self.literals[lit])
                    lit += 1
                key[i] = s
                h = text_hash(s, length)
                full[i] = h
                slot = h & (size - 1)
                while True:
                    u = slots[slot]
                    if u < 0:
                        u = slots[slot] = i
                        count[i] = 0
                        where[i] = -1
                        break
                    if (full[u] == h and self.rec_len[u] == length
                            and memcmp(key[u], s, length) == 0):
                        break
                    slot = (slot + 1) & (size - 1)
                uniq_of[i] = u
                count[u] += 1 if s == self.out.data + pos + 1 else 2
            if self.literals is None:
                # Only STR_I -> STR_T swaps, each shorter than what it replaces (03 + 4 or more
                # bytes + 00 vs 83 + at most 5): compact the body in place, no second buffer.
                return self.compact_in_place(n, uniq_of, count, where, key, base)
            buf_grow(body, self.out.len)
            for i in range(n):
                u = uniq_of[i]
                if count[u] < 2:
                    continue
                if where[u] < 0:
                    where[u] = base + table.len
                    buf_add(&table, key[u], self.rec_len[u])
                    buf_byte(&table, 0)
                pos = self.rec_pos[i]
                if self.out.data[pos] == 0x03:
                    buf_add(body, self.out.data + done, pos - done)
                    buf_byte(body, 0x83)
                    buf_mb(body, where[u])
                    done = pos + self.rec_len[i] + 2
                else:
                    buf_add(body, self.out.data + done, pos + 1 - done)
                    buf_mb(body, where[u])
                    done = pos + 1
            buf_add(body, self.out.data + done, self.out.len - done)
            if table.len + base > self.limits.max_string_table:
                raise EncodeError("too_large", -1)
            return PyBytes_FromStringAndSize(<char*>table.data, table.len)
        finally:
            free(slots)
            free(full)
            free(uniq_of)
            free(count)
            free(where)
            free(key)
            free(table.data)

    cdef bytes compact_in_place(self, Py_ssize_t n, Py_ssize_t* uniq_of, Py_ssize_t* count,
                                Py_ssize_t* where, const unsigned char** key,
                                Py_ssize_t base):
        cdef Buf table
        cdef Py_ssize_t i, u, pos, done = 0, write = 0, chunk
        cdef unsigned char* data = self.out.data
        memset(&table, 0, sizeof(Buf))
        try:
            for i in range(n):
                u = uniq_of[i]
                if count[u] < 2:
                    continue
                if where[u] < 0:
                    where[u] = base + table.len
                    buf_add(&table, key[u], self.rec_len[u])
                    buf_byte(&table, 0)
                pos = self.rec_pos[i]
                chunk = pos - done
                memmove(data + write, data + done, chunk)
                write += chunk
                data[write] = 0x83
                write += 1
                write += write_mb(data + write, where[u])
                done = pos + self.rec_len[i] + 2
            chunk = self.out.len - done
            memmove(data + write, data + done, chunk)
            self.out.len = write + chunk
            if table.len + base > self.limits.max_string_table:
                raise EncodeError("too_large", -1)
            self.spliced.len = 0
            return PyBytes_FromStringAndSize(<char*>table.data, table.len)
        finally:
            free(table.data)

    cdef int start_general(self, Scanner sc, int code) except -1:
        """The rest of a start tag after its parent is marked and its name looked up (code):
        unknown names, attributes, markers, gathering."""
        cdef Frame* parent = &self.frames[self.depth - 1] if self.depth else NULL
        cdef Frame* frame
        cdef const unsigned char* local = sc.local_ptr
        cdef Py_ssize_t n = sc.local_len, tag_pos
        cdef int flags
        cdef Encoder child
        cdef bint marker = False, others = False
        if self.gathering >= 0 and (code < 0 or sc.plain_attrs or (
                sc.attr_list is not None and any(
                    ns != common.MARKER_NS or name != b"opaque" for name, _, ns in sc.attr_list))):
            # Foreign markup in an opaque Data: libwbxml would move the text gathered so far
            # (and the markup's own text) to the Data's end; it stays in place instead. (A
            # nested DevInf / MgmtTree is not foreign: libwbxml's order is kept for it.)
            if not (code < 0 and parent != NULL and self.is_syncml and (
                    (name_is(local, n, b"DevInf", 6) and sc.ns_uri == common.NS_DEVINF)
                    or (name_is(local, n, b"MgmtTree", 8) and sc.ns_uri == common.NS_DMDDF12))):
                self.flush_gathered()
                parent = &self.frames[self.depth - 1]
        if code < 0:
            # DevInf and MgmtTree have no token in the SyncML pages: check for them here only.
            if parent != NULL and self.is_syncml and (
                    (name_is(local, n, b"DevInf", 6) and sc.ns_uri == common.NS_DEVINF)
                    or (name_is(local, n, b"MgmtTree", 8) and sc.ns_uri == common.NS_DMDDF12)):
                nested = common.embedded_language(
                    self.info, PyBytes_FromStringAndSize(<char*>local, n), sc.offset)
                child = Encoder.__new__(Encoder)
                child.setup(sc, self.version, self.string_table, self.keep, self.limits,
                            self.max_opaque)
                doc = child.run(None, None, nested)
                self.opaque(<const unsigned char*>(<char*><bytes>doc), len(doc), False)
                return 0
            if not self.string_table:
                raise EncodeError("unknown_element", sc.offset)
            tag_pos = self.out.len
            if self.literals is None:
                self.literals = []
            self.literals.append(PyBytes_FromStringAndSize(<char*>local, n))
            self.record(tag_pos, n)
            buf_byte(&self.out, 0x04)
            # Unknown names are never Data/Meta/Type/Add/Replace in SyncML, where flags matter.
            flags = 0
        else:
            flags = code >> 16
            tag_pos = _write_tag(self, code)
        frame = _open_frame(self, sc, tag_pos, flags)
        if sc.attr_list is not None:
            for attr_local, value, attr_ns in sc.attr_list:
                if attr_ns == common.MARKER_NS and attr_local == b"opaque" and value == b"base64":
                    frame.b64 = True
                    self.bbuf.len = 0
                    marker = True
                elif (attr_ns == common.MARKER_NS and attr_local == b"opaque"
                        and value == MARKUP_VALUE):
                    if not (frame.flags & F_DATA and self.is_syncml and self.depth >= 2):
                        raise EncodeError("unknown_attribute", sc.offset,
                                          "wbxml:opaque=\"markup\" belongs on a SyncML <Data>")
                    frame.markup = True
                    marker = True
                else:
                    others = True
        if self.attr_tables is not None:
            self.attributes(tag_pos, frame.b64)
        elif code < 0 or others or sc.plain_attrs:
            # A LITERAL, or attributes in a language without attribute tokens (rare: Python).
            self.write_ops(tag_pos, common.syncml_attributes(
                sc.data[sc.offset:sc.pos], sc.offset, code < 0, sc.ns_uri,
                <object>self.frames[self.depth - 2].ns if self.depth >= 2 else b"",
                self.string_table, marker))
        return 0

    cdef int end_base64(self, Frame* frame) except -1:
        """The OPAQUE of a base64 marker element that ends (its text decoded)."""
        data = common.decode_base64(
            [PyBytes_FromStringAndSize(<char*>self.bbuf.data, self.bbuf.len)], frame.offset)
        return self.opaque(<const unsigned char*>(<char*><bytes>data), len(data), False)

    cdef int on_markup(self) except -1:
        """A Data marked as holding markup (just started): its content, verbatim, as one
        OPAQUE and the marker, up to its end tag (the current event, not yet handled); the
        scanner still checks it (well-formedness, limits)."""
        cdef Scanner sc = self.sc
        cdef Py_ssize_t start = sc.pos, stop, depth = 0
        cdef int event
        cdef Frame* frame
        while True:
            event = sc.next_event()
            if event == EVENT_START:
                depth += 1
            elif event == EVENT_END:
                if not depth:
                    break
                depth -= 1
        stop = sc.offset if sc.offset > start else start
        frame = &self.frames[self.depth - 1]
        content = sc.data[start:stop]
        try:
            check_fragment(content, 1 << 30, 1 << 30)
        except NotMarkup:
            raise EncodeError("bad_markup", frame.offset,
                              "wbxml:opaque=\"markup\" on a Data that holds no markup that "
                              "stands alone (an element, every prefix declared inside)") from None
        except FragmentLimit as exc:
            raise EncodeError(exc.reason, frame.offset) from None
        self.mark(frame, KIND_ELEMENT)
        self.opaque(<const unsigned char*>(<char*><bytes>content), len(content), False)
        buf_add(&self.out, <const unsigned char*>(<char*><bytes>MARKER), len(MARKER))
        return 0  # the caller (run) ends the Data

    cdef int attributes(self, Py_ssize_t tag_pos, bint marker) except -1:
        """The start tag's attribute list after its tag byte (languages with attributes; the
        rules and the work are in common.encode_attributes)."""
        cdef Scanner sc = self.sc
        ops, self.attr_page = common.start_tag_attributes(
            self.attr_tables, sc.data, sc.offset, sc.pos, self.attr_page, self.string_table,
            marker)
        return self.write_ops(tag_pos, ops)

    cdef int write_ops(self, Py_ssize_t tag_pos, object ops) except -1:
        """An attribute list (common.encode_attributes operations, a list or an iterator)
        after the tag byte."""
        cdef bytes payload
        cdef int kind
        for kind, payload in ops:
            self.out.data[tag_pos] |= 0x80
            if kind == ATTR_RAW:
                buf_add(&self.out, <const unsigned char*>(<char*>payload), len(payload))
            elif kind == ATTR_STRING:
                self.str_i(<const unsigned char*>(<char*>payload), len(payload), False)
            else:
                if self.literals is None:
                    self.literals = []
                self.literals.append(payload)
                self.record(self.out.len, len(payload))
                buf_byte(&self.out, 0x04)
        return 0

    cdef int flush_gathered(self) except -1:
        """Write what the gathering Data has gathered, as one OPAQUE, and stop gathering."""
        if not self.gather_direct:
            self.gather_ptr = self.gbuf.data
            self.gather_len = self.gbuf.len
        if self.gather_len > self.max_opaque:
            raise EncodeError("too_large", self.frames[self.gathering].offset)
        self.opaque(self.gather_ptr, self.gather_len, False)
        self.gathering = -1
        self.gather_direct = False
        return 0

    cdef int on_cdata(self, const unsigned char* s, Py_ssize_t n) except -1:
        cdef Frame* frame = &self.frames[self.depth - 1]
        if frame.first == KIND_NONE and frame.flags & F_TYPE:
            frame.tseen = True
            frame.tval = TV_OTHER
        self.mark(frame, KIND_CDATA)
        if frame.b64:
            return buf_add(&self.bbuf, s, n)
        if self.gathering >= 0:
            # libwbxml fails here (its error 13); we keep the section's bytes in the run.
            return self.gather(s, n, frame)
        if self.is_syncml and n == 1 and s[0] == 0x0A:
            return self.opaque(s, 1, True)
        if n:
            self.opaque(s, n, frame.cls == CLS_VOBJECT)
        return 0


# -- the per-event path ------------------------------------------------------------------
# Module functions, each called from one place, so the C compiler inlines them all into
# Encoder.run: one function per event instead of four (reader, start tag, lookup, handler).
# As methods they would sit in the vtable, their addresses taken, and stay calls. What is
# rare (Encoder.start_general, end_base64, the scanner's own next_event) stays out of line.

cdef inline int _next_fast(Encoder self, Scanner sc) except -1:
    """``self.sc.next_event()`` for the usual syntax, read here with the scanner's state
    kept exactly as it keeps it: a start tag with an ASCII name and no attribute but
    ``xmlns="..."``, an end tag right after its name, a text run with no ``]``, ``&`` or
    CR that ends at a tag. Anything else (a comment, a PI, CDATA, a reference, prefixes,
    other attributes, a limit reached, an error) is left to the scanner from the same
    position, so events, errors and offsets are the scanner's own."""
    cdef const unsigned char* p = sc.p
    cdef Py_ssize_t pos = sc.pos, end = sc.end, lt
    cdef int special = 0, content = 0
    cdef unsigned char c
    cdef Frame* frame
    if sc.pending_end:
        sc.pending_end = False
        return _pop_fast(self, sc, sc.offset)
    if pos + 1 >= end:
        return sc.next_event()
    c = p[pos]
    if c != 0x3C:
        if sc.depth == 0:
            return sc.next_event()
        # Indentation (space, TAB, LF up to a tag) is most runs: a plain loop finds it.
        lt = omadm_skip_indent(p, pos, end)
        if lt >= end or p[lt] != 0x3C:
            lt = omadm_text_run(p, lt, end, &special, &content)
        if (special or lt + 1 >= end or p[lt + 1] == 0x21 or p[lt + 1] == 0x3F
                or lt - pos > sc.max_text):
            return sc.next_event()
        sc.pos = lt
        if not content and not self.keep and self.gathering < 0:
            # Whitespace only, to be trimmed away: of what _on_text does, only mark()
            # remains, where nothing else applies (plain Data class, no base64 marker,
            # not the first content of a Type).
            if self.depth == 0:
                pos = lt
            else:
                frame = &self.frames[self.depth - 1]
                if (frame.cls == CLS_PLAIN and not frame.b64 and not (
                        frame.first == KIND_NONE and frame.flags & F_TYPE)):
                    self.mark(frame, KIND_TEXT)
                    pos = lt
        if pos != lt:
            sc.text_ptr = p + pos
            sc.text_len = lt - pos
            sc.offset = pos
            return EVENT_TEXT
        # (the run ended at a tag: '<' then neither '!' nor '?')
    # One call site each: inlined here.
    c = p[pos + 1]
    if c == 0x2F:
        return _end_fast(self, sc, pos)
    return _start_fast(self, sc, pos)

cdef inline int _end_fast(Encoder self, Scanner sc, Py_ssize_t pos) except -1:
    """The end tag at pos (``</``), as _next_fast reads it."""
    cdef const unsigned char* p = sc.p
    cdef Py_ssize_t d = sc.depth, i
    if d == 0:
        sc.pos = pos
        return sc.next_event()
    i = pos + 2 + sc.name_len[d - 1]
    if (i < sc.end and p[i] == 0x3E and same_name(
            p + pos + 2, p + sc.name_at[d - 1], sc.name_len[d - 1], p + sc.end)):
        sc.pos = i + 1
        return _pop_fast(self, sc, pos)
    sc.pos = pos
    return sc.next_event()

cdef inline int _start_fast(Encoder self, Scanner sc, Py_ssize_t pos) except -1:
    """The start tag at pos (``<`` then not ``/``), as _next_fast reads it. The name is not
    hashed here: _lookup hashes it its own way (sc.local_hash is left as it was)."""
    cdef const unsigned char* p = sc.p
    cdef Py_ssize_t end = sc.end, i, j, d
    cdef unsigned char c = p[pos + 1]
    cdef object value             # an xmlns="..." value, set only where has_value
    cdef bint has_value = False   # (no reference counting on the usual tag)
    sc.pos = pos
    if not ASCII_NAME_START[c] or sc.root_done:
        return sc.next_event()
    i = omadm_ascii_name_end(p, pos + 1, end)
    if i + 1 >= end:
        return sc.next_event()
    c = p[i]
    if c == 0x3E or (c == 0x2F and p[i + 1] == 0x3E):
        j = i
    elif (i + 8 < end and c == 0x20 and memcmp(p + i + 1, b"xmlns=", 6) == 0
            and (p[i + 7] == 0x22 or p[i + 7] == 0x27)):
        # The scanner makes this same call at this point (its errors are the same).
        value = sc.attr_value(i + 7, True)
        has_value = True
        j = sc.pos
        if not (j + 1 < end and (p[j] == 0x3E or (p[j] == 0x2F and p[j + 1] == 0x3E))):
            sc.pos = pos
            return sc.next_event()
    else:
        return sc.next_event()
    d = sc.depth
    if sc.elements >= sc.max_elements or d >= sc.max_depth or d >= sc.cap:
        sc.pos = pos  # the scanner raises the limit (or grows its arrays)
        return sc.next_event()
    sc.elements += 1
    if has_value:
        sc.keep_namespace(value)
        sc.cur_ns = value
    if sc.attr_list is not None:
        sc.attr_list = None
    sc.plain_attrs = 0
    if sc.ns_uri is not sc.cur_ns:
        sc.ns_uri = sc.cur_ns
    sc.local_ptr = p + pos + 1
    sc.local_len = i - pos - 1
    sc.name_at[d] = pos + 1
    sc.name_len[d] = i - pos - 1
    sc.ns_at[d] = <PyObject*>sc.cur_ns
    sc.depth = d + 1
    sc.root_seen = True
    sc.offset = pos
    if p[j] == 0x2F:
        sc.pos = j + 2
        sc.pending_end = True
    else:
        sc.pos = j + 1
    return EVENT_START

cdef inline int _pop_fast(Encoder self, Scanner sc, Py_ssize_t pos) except -1:
    """The scanner's pop_element, inline where no namespace frame or root ends."""
    cdef Py_ssize_t d = sc.depth
    if d <= 1 or sc.ns_top == d:
        return sc.pop_element(pos)
    sc.depth = d - 1
    if sc.ns_at[d - 2] != <PyObject*>sc.cur_ns:
        sc.cur_ns = <object>sc.ns_at[d - 2]
    sc.offset = pos
    return EVENT_END


cdef inline int _lookup(Encoder self, PyObject* ns, const unsigned char* s,
                        Py_ssize_t n) except -2:
    """flags << 16 | page << 8 | token, or -1: the namespace's page first, then the rest.
    s[:n] lies in the scanner's input; ns is borrowed (the scanner holds it)."""
    cdef int first, page, token
    cdef uint64_t w0, w1
    cdef unsigned int h = name_key(s, n, &w0, &w1, s + 16 <= self.sc.p + self.sc.end)
    if ns != <PyObject*>self.last_ns:
        self.last_first = self.lang.page_of(<object>ns)
        self.last_ns = <object>ns
    first = self.last_first
    if 0 <= first < NPAGE and HAS_PAGE[self.li][first]:
        token = table_lookup(self.li, first, s, n, h, w0, w1)
        if token >= 0:
            return first << 8 | token
    for page in range(NPAGE):
        if page != first and HAS_PAGE[self.li][page]:
            token = table_lookup(self.li, page, s, n, h, w0, w1)
            if token >= 0:
                return page << 8 | token
    return -1

cdef inline void _data_class(Encoder self, Frame* frame) noexcept:
    """The class of a SyncML Data just pushed (frame, at depth >= 2): from the Type in its
    parent's or grandparent's Meta, else vObject under Add / Replace."""
    # frames may have moved (realloc): fetch the ancestors here.
    cdef Frame* parent = &self.frames[self.depth - 2]
    cdef Frame* grand = &self.frames[self.depth - 3] if self.depth >= 3 else NULL
    cdef int tv = parent.mval if parent.mseen else TV_NONE
    if tv == TV_NONE and grand != NULL and grand.mseen:
        tv = grand.mval
    if tv == TV_PLAIN:
        frame.cls = CLS_PLAIN
    elif tv == TV_CLEAR:
        frame.cls = CLS_CLEAR
    elif tv == TV_VOBJECT:
        frame.cls = CLS_VOBJECT
    elif grand != NULL and grand.flags & F_ADDREP:
        frame.cls = CLS_VOBJECT


cdef inline int _on_start(Encoder self, Scanner sc) except -1:
    cdef Frame* parent
    cdef int code
    if self.depth:
        parent = &self.frames[self.depth - 1]
        if parent.b64:
            raise EncodeError("bad_base64", sc.offset)
        if parent.first == KIND_NONE and parent.flags & F_TYPE:
            parent.tseen = True
            parent.tval = TV_OTHER
        self.mark(parent, KIND_ELEMENT)
    code = _lookup(self, <PyObject*>sc.ns_uri, sc.local_ptr, sc.local_len)
    if (code < 0 or self.gathering >= 0 or sc.attr_list is not None or sc.plain_attrs
            or self.attr_tables is not None):
        return self.start_general(sc, code)
    # The usual element, written here: a known tag, no attribute, in a language without
    # attribute tokens, nothing gathering (the same two steps start_general takes for it).
    _open_frame(self, sc, _write_tag(self, code), code >> 16)
    return 0


cdef inline Py_ssize_t _write_tag(Encoder self, int code) except -1:
    """A known tag's token, its code page switched first; where the token is in the output."""
    cdef int page = (code >> 8) & 0xFF
    cdef Py_ssize_t tag_pos
    if page != self.page:
        buf_byte(&self.out, 0x00)
        buf_byte(&self.out, page)
        self.page = page
    tag_pos = self.out.len
    buf_byte(&self.out, code & 0x3F)
    return tag_pos


cdef inline Frame* _open_frame(Encoder self, Scanner sc, Py_ssize_t tag_pos,
                               int flags) except NULL:
    """The frame of an element whose tag was just written at ``tag_pos``."""
    cdef Frame* frame = self.push_frame()
    frame.tag_pos = tag_pos
    frame.offset = sc.offset
    frame.flags = flags
    frame.ns = <PyObject*>sc.ns_uri
    if frame.flags & F_DATA and self.is_syncml and self.depth >= 2:
        _data_class(self, frame)
    return frame


cdef inline int _on_end(Encoder self) except -1:
    cdef Frame* frame = &self.frames[self.depth - 1]
    cdef Frame* parent
    self.depth -= 1
    if self.gathering == self.depth:
        self.flush_gathered()
    if frame.b64 and frame.content:
        self.end_base64(frame)
    if frame.content:
        buf_byte(&self.out, 0x01)
    if self.depth:
        parent = &self.frames[self.depth - 1]
        if frame.flags & F_TYPE and not parent.tseen:
            parent.tseen = True
            parent.tval = frame.tval if frame.tseen else TV_OTHER
        elif frame.flags & F_META and not parent.mseen:
            parent.mseen = True
            parent.mval = frame.tval if frame.tseen else TV_NONE
    return 0

cdef inline int _on_text(Encoder self, const unsigned char* s, Py_ssize_t n) except -1:
    cdef Frame* frame = &self.frames[self.depth - 1]
    cdef unsigned char* dest
    if frame.first == KIND_NONE and frame.flags & F_TYPE:
        frame.tseen = True
        frame.tval = classify_type(s, n)
    if frame.b64:
        self.mark(frame, KIND_TEXT)
        return buf_add(&self.bbuf, s, n)
    if self.gathering >= 0:
        self.mark(frame, KIND_TEXT)
        return self.gather(s, n, frame)
    if frame.cls != CLS_PLAIN and frame.first != KIND_CDATA:
        self.mark(frame, KIND_TEXT)
        self.gathering = self.depth - 1
        self.gbuf.len = 0
        self.gather_direct = False
        return self.gather(s, n, frame)
    self.mark(frame, KIND_TEXT)
    if not self.keep:
        while n and is_ws(s[0]):
            s += 1
            n -= 1
        while n and is_ws(s[n - 1]):
            n -= 1
        if not n:
            return 0
    if self.is_syncml and n == 33:
        if lower_equals(s, n, b"application/vnd.syncml-devinf+xml", 33):
            s = <const unsigned char*>b"application/vnd.syncml-devinf+wbxml"
            n = 35
        elif lower_equals(s, n, b"application/vnd.syncml.dmtnds+xml", 33):
            s = <const unsigned char*>b"application/vnd.syncml.dmtnds+wbxml"
            n = 35
    if frame.cls == CLS_VOBJECT or self.string_table:
        return self.str_i(s, n, frame.cls == CLS_VOBJECT)
    # The usual run: str_i's bytes (STR_I, the text, its NUL), written here.
    buf_grow(&self.out, n + 2)
    dest = self.out.data + self.out.len
    dest[0] = 0x03
    memcpy(dest + 1, s, n)
    dest[n + 1] = 0x00
    self.out.len += n + 2
    return 0


_PLAIN_DECLARATIONS = tuple(
    f'<?xml version={q}1.0{q}{enc}?>'.encode()
    for q in "\"'"
    for enc in ("", f" encoding={q}UTF-8{q}", f" encoding={q}utf-8{q}")
)
"""XML declarations that name no encoding or UTF-8: no lxml detour needed."""


cdef Encoder _idle = None  # an encoder (with its scanner) no call is using (GIL held)
cdef Py_ssize_t _KEEP_MAX = 8 * 1024 * 1024  # largest buffer an idle encoder keeps


def xml_to_wbxml(xml, *, wbxml_version="1.3", string_table=False, keep_whitespace=False,
                 limits=None):
    """Encode a SyncML DM XML document (DevInf, MetInf, DDF and PROV 1.0 too) as WBXML.

    With ``string_table=False`` the bytes equal libwbxml's wherever libwbxml loses nothing;
    nothing is ever dropped: an attribute in a SyncML, DevInf or DDF document (libwbxml drops
    it) is the error ``unknown_attribute``, as an unknown element is ``unknown_element``.
    ``string_table=True`` moves repeated text (longer than 3 bytes) into the string table and
    writes unknown elements as LITERAL tags, attributes as LITERAL attribute starts with
    inline-string values (and unknown PROV attributes as LITERAL attribute starts). A SyncML
    ``Data`` marked ``wbxml:opaque="markup"`` (``wbxml_to_xml`` writes it) holds markup that
    travels as its text: one OPAQUE and an empty string. Raises ``EncodeError`` (reason, byte
    offset) on bad input.
    """
    global _idle
    cdef bytes data
    cdef Py_ssize_t start, max_input, max_depth, max_elements, max_opaque, n
    cdef int version
    cdef bint via_lxml = False
    cdef Scanner scanner
    cdef Encoder encoder
    cdef const char* head
    if limits is None and wbxml_version == "1.3":
        version = 3
        limits = _DEFAULT_LIMITS_OBJ
        max_input, max_depth, max_elements, max_opaque = _DEF_INPUT, _DEF_DEPTH, _DEF_ELEMENTS, _DEF_OPAQUE
    else:
        version, limits = common.check_options(wbxml_version, limits)
        max_input = limits.max_input_size
        max_depth = limits.max_depth
        max_elements = limits.max_elements
        max_opaque = limits.max_opaque
    # The usual input: UTF-8 bytes starting with a tag or with one of the common UTF-8
    # declarations; everything else takes the general (Python) path.
    if type(xml) is bytes:
        n = PyBytes_GET_SIZE(xml)
        head = PyBytes_AS_STRING(xml)
    else:
        n = 0
    if (n > 1 and head[0] == 0x3C and n <= max_input
            and ((head[1] != 0x3F and head[1] != 0)
                 or (<bytes>xml).startswith(_PLAIN_DECLARATIONS))):
        data = xml
    else:
        data, via_lxml = common.prepare_input(xml, limits)
    n = PyBytes_GET_SIZE(data)
    head = PyBytes_AS_STRING(data)
    start = 3 if n >= 3 and memcmp(head, b"\xef\xbb\xbf", 3) == 0 else 0
    # Take the idle encoder (another thread entering meanwhile makes its own); an error
    # leaves it to the garbage collector, a success puts it back.
    encoder = _idle
    if encoder is None:
        encoder = Encoder.__new__(Encoder)
        scanner = Scanner.__new__(Scanner)
    else:
        _idle = None
        scanner = encoder.sc
    try:
        check_chars_c(<const unsigned char*>head, start, n)
        scanner.setup(data, start, max_depth, max_elements, max_opaque)
        encoder.setup(scanner, version, string_table is True or bool(string_table),
                      keep_whitespace is True or bool(keep_whitespace), limits, max_opaque)
        result = encoder.run(None, None, None)
    except EncodeError as exc:
        if via_lxml:
            raise EncodeError(exc.reason, -1, exc.detail) from None
        raise
    encoder.idle()
    scanner.idle()
    if _idle is None:
        _idle = encoder
    return result
