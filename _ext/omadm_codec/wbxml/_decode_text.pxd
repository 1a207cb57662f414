# Structs and small inline byte helpers of the compiled WBXML decoder (_decode_c.pyx),
# cimported from there; header-only: no module of its own is built or imported.
#
# Everything here works on ``const unsigned char*`` + length and never reads outside it. The
# word-at-a-time ("SWAR") tests look at 8 bytes at once and fall back to one byte at a time only
# for a word that may hold something interesting; they decide nothing on their own.

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport realloc
from libc.string cimport memcmp, memcpy, strlen


cdef extern from "omadm_codec/wbxml/_decode_simd.h":
    size_t omadm_skip_plain_ascii(const unsigned char* s, size_t n) noexcept nogil
    size_t omadm_escape_at(const unsigned char* s, size_t n, int attr) noexcept nogil
    size_t omadm_cdata_at(const unsigned char* s, size_t n) noexcept nogil
    size_t omadm_safe_text_len(const unsigned char* s, size_t n) noexcept nogil
    size_t omadm_plain_text_len(const unsigned char* s, size_t n) noexcept nogil


cdef struct Buf:
    char* ptr
    Py_ssize_t len
    Py_ssize_t cap

cdef struct Elem:
    const char* close       # "</Name>" (owned by a _Tags table or the decoder's keep list)
    Py_ssize_t close_n
    int page                # code page whose namespace is in effect here (-1: none)
    int kind                # K_* role in the Data classification
    int cls                 # C_* rendering class of a Data element
    int type_code           # T_* from the first Type of this element's first Meta child
    bint pending            # the start tag still lacks its ">"
    bint has_children
    bint has_text
    bint meta_seen
    bint first_meta         # a Meta that is its parent's first
    bint type_seen
    bint capturing          # a MetInf Type whose text is held back in the decoder's capture

cdef struct Doc:
    Py_ssize_t end
    Py_ssize_t table_start
    Py_ssize_t table_len
    int charset
    int width               # terminator width: 2 for UTF-16, else 1
    bint utf8
    int rewrite             # Type back-rewrite: 0 none, 1 devinf only, 2 devinf and dmtnds
    int attr_page           # attribute code page (separate from the tag page)


cdef inline int buf_grow(Buf* b, Py_ssize_t extra) except -1:
    cdef Py_ssize_t cap = b.cap * 2 if b.cap else 4096
    while cap < b.len + extra:
        cap *= 2
    cdef char* ptr = <char*>realloc(b.ptr, cap)
    if ptr == NULL:
        raise MemoryError()
    b.ptr = ptr
    b.cap = cap
    return 0

cdef inline int buf_put(Buf* b, const char* s, Py_ssize_t n) except -1:
    if b.len + n > b.cap:
        buf_grow(b, n)
    memcpy(b.ptr + b.len, s, n)
    b.len += n
    return 0

cdef inline int buf_byte(Buf* b, char c) except -1:
    if b.len + 1 > b.cap:
        buf_grow(b, 1)
    b.ptr[b.len] = c
    b.len += 1
    return 0

cdef inline int buf_obj(Buf* b, bytes s) except -1:
    return buf_put(b, PyBytes_AS_STRING(s), PyBytes_GET_SIZE(s))


cdef enum:
    PAD = 48        # a tag string lives in a PAD-byte slot (zero-padded): copied PAD at a time
    SLACK = 128     # room ensured before each token: '>' + a start tag + "/>" or an end tag


cdef inline void put_padded(Buf* b, const char* s, Py_ssize_t n) noexcept:
    """Append s[:n] (n <= PAD) whose storage has PAD readable bytes, with room for PAD
    ensured: one fixed-size copy (a few vector moves) instead of a memcpy call."""
    memcpy(b.ptr + b.len, s, PAD)
    b.len += n


# -- word-at-a-time tests (exact as booleans) ---------------------------------------------------

cdef inline uint64_t load64(const unsigned char* s) noexcept:
    cdef uint64_t v
    memcpy(&v, s, 8)
    return v

cdef inline uint64_t has_less(uint64_t v, uint64_t n) noexcept:
    """Non-zero iff some byte of v is < n (n <= 128)."""
    return (v - 0x0101010101010101ULL * n) & ~v & 0x8080808080808080ULL

cdef inline uint64_t has_byte(uint64_t v, uint64_t c) noexcept:
    """Non-zero iff some byte of v equals c."""
    return has_less(v ^ (0x0101010101010101ULL * c), 1)


cdef inline bint cont(unsigned char c) noexcept:
    return (c & 0xC0) == 0x80

cdef inline bint utf8_xml_ok(const unsigned char* s, Py_ssize_t n) noexcept:
    """Strict UTF-8 holding only characters XML 1.0 allows (same rule as the pure twin)."""
    cdef Py_ssize_t i = 0
    cdef unsigned char c
    cdef uint64_t v
    while i < n:
        i += omadm_skip_plain_ascii(s + i, n - i)
        if i >= n:
            break
        if i + 8 <= n:
            v = load64(s + i)
            if (v & 0x8080808080808080ULL) == 0 and has_less(v, 0x20) == 0:
                i += 8
                continue
        c = s[i]
        if c < 0x80:
            if c < 0x20 and c != 0x09 and c != 0x0A and c != 0x0D:
                return False
            i += 1
        elif 0xC2 <= c <= 0xDF:
            if i + 1 >= n or not cont(s[i + 1]):
                return False
            i += 2
        elif 0xE0 <= c <= 0xEF:
            if i + 2 >= n or not cont(s[i + 1]) or not cont(s[i + 2]):
                return False
            if c == 0xE0 and s[i + 1] < 0xA0:
                return False
            if c == 0xED and s[i + 1] > 0x9F:
                return False
            if c == 0xEF and s[i + 1] == 0xBF and s[i + 2] >= 0xBE:
                return False
            i += 3
        elif 0xF0 <= c <= 0xF4:
            if i + 3 >= n or not cont(s[i + 1]) or not cont(s[i + 2]) or not cont(s[i + 3]):
                return False
            if c == 0xF0 and s[i + 1] < 0x90:
                return False
            if c == 0xF4 and s[i + 1] > 0x8F:
                return False
            i += 4
        else:
            return False
    return True


cdef inline int put_escaped(Buf* b, const unsigned char* s, Py_ssize_t n,
                            bint attr) except -1:
    """Text with & < > " ' CR as entities (attribute values: TAB and LF too)."""
    cdef Py_ssize_t i, run = 0
    cdef unsigned char c
    if b.len + n > b.cap:
        buf_grow(b, n)
    while True:
        i = run + <Py_ssize_t>omadm_escape_at(s + run, n - run, attr)
        if i >= n:
            break
        buf_put(b, <const char*>s + run, i - run)
        c = s[i]
        if c == b'&':
            buf_put(b, b"&amp;", 5)
        elif c == b'<':
            buf_put(b, b"&lt;", 4)
        elif c == b'>':
            buf_put(b, b"&gt;", 4)
        elif c == b'"':
            buf_put(b, b"&quot;", 6)
        elif c == b"'":
            buf_put(b, b"&apos;", 6)
        elif c == b'\r':
            buf_put(b, b"&#13;", 5)
        elif c == b'\t':
            buf_put(b, b"&#9;", 4)
        else:  # LF in an attribute value (omadm_escape_at finds nothing else)
            buf_put(b, b"&#10;", 5)
        run = i + 1
    return buf_put(b, <const char*>s + run, n - run)


cdef inline int put_cdata(Buf* b, const unsigned char* s, Py_ssize_t n) except -1:
    """A CDATA section; ``]]>`` and CR are split out so the text survives re-parsing."""
    cdef Py_ssize_t i = 0, run = 0
    buf_put(b, b"<![CDATA[", 9)
    if b.len + n > b.cap:
        buf_grow(b, n)
    while True:
        i += <Py_ssize_t>omadm_cdata_at(s + i, n - i)
        if i >= n:
            break
        if s[i] == b'\r':
            buf_put(b, <const char*>s + run, i - run)
            buf_put(b, b"]]>&#13;<![CDATA[", 17)
            i += 1
            run = i
        elif i + 2 < n and s[i + 1] == b']' and s[i + 2] == b'>':
            # Split "]]>" between its "]]" and its ">".
            buf_put(b, <const char*>s + run, i + 2 - run)
            buf_put(b, b"]]><![CDATA[>", 13)
            i += 3
            run = i
        else:
            i += 1
    buf_put(b, <const char*>s + run, n - run)
    return buf_put(b, b"]]>", 3)


cdef inline Py_ssize_t encode_utf8(uint32_t code, unsigned char* out) noexcept:
    """UTF-8 of a code point already checked to be an XML Char."""
    if code < 0x80:
        out[0] = code
        return 1
    if code < 0x800:
        out[0] = 0xC0 | (code >> 6)
        out[1] = 0x80 | (code & 0x3F)
        return 2
    if code < 0x10000:
        out[0] = 0xE0 | (code >> 12)
        out[1] = 0x80 | ((code >> 6) & 0x3F)
        out[2] = 0x80 | (code & 0x3F)
        return 3
    out[0] = 0xF0 | (code >> 18)
    out[1] = 0x80 | ((code >> 12) & 0x3F)
    out[2] = 0x80 | ((code >> 6) & 0x3F)
    out[3] = 0x80 | (code & 0x3F)
    return 4


cdef inline bint bytes_eq(const char* s, Py_ssize_t n, const char* literal) noexcept:
    cdef Py_ssize_t k = strlen(literal)
    return n == k and memcmp(s, literal, k) == 0


cdef inline int classify_type_c(const char* s, Py_ssize_t n) noexcept:
    """``_decode_tables.classify_type`` (T_* values)."""
    if bytes_eq(s, n, b"application/vnd.syncml-devinf+wbxml"):
        return 1
    if bytes_eq(s, n, b"application/vnd.syncml.dmtnds+wbxml"):
        return 2
    if (bytes_eq(s, n, b"application/vnd.syncml-devinf+xml")
            or bytes_eq(s, n, b"application/vnd.syncml.dmtnds+xml")):
        return 3
    if bytes_eq(s, n, b"text/clear"):
        return 4
    if (bytes_eq(s, n, b"text/x-vcard") or bytes_eq(s, n, b"text/x-vcalendar")
            or bytes_eq(s, n, b"text/directory;profile=vCard")):
        return 5
    return 6


cdef inline int data_class_c(int item_type, int command_type, int command_kind) noexcept:
    """``_decode_tables.data_class`` (C_* values)."""
    cdef int code = item_type if item_type else command_type
    if code == 1:
        return 2
    if code == 2:
        return 3
    if code == 3:
        return 0
    if code == 4 or code == 5:
        return 1
    return 1 if command_kind == 3 else 0
