# Header-only helpers shared by the XML scanner and the WBXML encoder: a growing byte buffer
# and memchr-based searches. cimported with `from xmlbuf cimport *`; no module is built from it.
# Invariant: every Buf write goes through buf_grow first, so len <= cap always holds.

from libc.stdlib cimport realloc
from libc.string cimport memchr, memcpy


cdef struct Buf:
    unsigned char* data
    Py_ssize_t len
    Py_ssize_t cap


cdef inline int buf_grow(Buf* b, Py_ssize_t extra) except -1:
    cdef Py_ssize_t need = b.len + extra
    cdef Py_ssize_t cap = b.cap * 2
    cdef unsigned char* fresh
    if need <= b.cap:
        return 0
    if cap < need:
        cap = need if need > 256 else 256
    fresh = <unsigned char*>realloc(b.data, cap)
    if fresh == NULL:
        raise MemoryError()
    b.data = fresh
    b.cap = cap
    return 0


cdef inline int buf_byte(Buf* b, unsigned char c) except -1:
    if b.len >= b.cap:
        buf_grow(b, 1)
    b.data[b.len] = c
    b.len += 1
    return 0


cdef inline int buf_add(Buf* b, const unsigned char* s, Py_ssize_t n) except -1:
    if b.len + n > b.cap:
        buf_grow(b, n)
    memcpy(b.data + b.len, s, n)
    b.len += n
    return 0


cdef inline int buf_mb(Buf* b, unsigned long value) except -1:
    cdef unsigned char tmp[5]
    cdef int i = 4
    tmp[4] = value & 0x7F
    value >>= 7
    while value:
        i -= 1
        tmp[i] = 0x80 | (value & 0x7F)
        value >>= 7
    return buf_add(b, tmp + i, 5 - i)


cdef inline Py_ssize_t find3(const unsigned char* p, Py_ssize_t i, Py_ssize_t end,
                      unsigned char a, unsigned char b, unsigned char c) noexcept:
    """Index of the 3-byte sequence a b c in p[i:end], or -1."""
    cdef const unsigned char* hit
    while i + 3 <= end:
        hit = <const unsigned char*>memchr(p + i, a, end - i - 2)
        if hit == NULL:
            return -1
        i = hit - p
        if p[i + 1] == b and p[i + 2] == c:
            return i
        i += 1
    return -1


cdef inline Py_ssize_t find2(const unsigned char* p, Py_ssize_t i, Py_ssize_t end,
                      unsigned char a, unsigned char b) noexcept:
    cdef const unsigned char* hit
    while i + 2 <= end:
        hit = <const unsigned char*>memchr(p + i, a, end - i - 1)
        if hit == NULL:
            return -1
        i = hit - p
        if p[i + 1] == b:
            return i
        i += 1
    return -1


cdef inline Py_ssize_t find1(const unsigned char* p, Py_ssize_t i, Py_ssize_t end,
                             unsigned char a) noexcept:
    cdef const unsigned char* hit
    if i >= end:
        return -1
    hit = <const unsigned char*>memchr(p + i, a, end - i)
    return -1 if hit == NULL else hit - p


cdef inline bint is_ws(unsigned char c) noexcept:
    return c == 32 or c == 9 or c == 10 or c == 13


cdef inline bint same_bytes(const unsigned char* a, const unsigned char* b,
                            Py_ssize_t n) noexcept:
    """memcmp(a, b, n) == 0 without a library call: the names compared here are short."""
    cdef Py_ssize_t i
    for i in range(n):
        if a[i] != b[i]:
            return False
    return True


cdef extern from *:
    """
    #define OMADM_FNV_OFFSET 2166136261U
    #define OMADM_FNV_PRIME 16777619U
    """
    const unsigned int FNV_OFFSET "OMADM_FNV_OFFSET"
    const unsigned int FNV_PRIME "OMADM_FNV_PRIME"


cdef inline unsigned int name_hash(const unsigned char* s, Py_ssize_t n) noexcept:
    """FNV-1a over s[:n]: the scanner computes it while reading a tag name."""
    cdef unsigned int h = FNV_OFFSET
    cdef Py_ssize_t i
    for i in range(n):
        h = (h ^ s[i]) * FNV_PRIME
    return h
