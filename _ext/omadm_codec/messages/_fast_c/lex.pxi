# Included by _fast_c.pyx: the byte-level checks the XML fast path makes before it scans
# (the compiled side of ``share.lexical_ok``), and the namespace URI form it accepts.
#
# The one idea: one memchr walk over '<' finds the rare constructs (comments, processing
# instructions) that need the full Python check, which the common message has none of, and,
# only in an input longer than the guard's MAX_TAG, bounds the start tags.

cdef inline bint _alnum(unsigned char c) noexcept:
    return (0x30 <= c <= 0x39) or (0x41 <= (c & 0xDF) <= 0x5A)


cdef Py_ssize_t _ns_uri_end(const unsigned char* p, Py_ssize_t i, Py_ssize_t end) noexcept:
    """The end of the ``share.NS_URI`` match at ``i`` (a scheme, ':', unreserved characters;
    or nothing); ``i`` itself when there is no scheme."""
    cdef Py_ssize_t j = i
    cdef unsigned char c
    if j >= end or not (0x41 <= (p[j] & 0xDF) <= 0x5A):
        return i
    j += 1
    while j < end and (_alnum(p[j]) or p[j] == 0x2B or p[j] == 0x2E or p[j] == 0x2D):
        j += 1
    if j >= end or p[j] != 0x3A:
        return i
    j += 1
    while j < end:
        c = p[j]
        if not (_alnum(c) or c == 0x2E or c == 0x5F or c == 0x7E or c == 0x3A or c == 0x2F
                or c == 0x2D):
            break
        j += 1
    return j


cdef bint _lexical_ok(bytes data):
    """``share.lexical_ok`` with a C pre-pass: one memchr walk over '<' finds whether any
    comment or processing instruction (past the common declarations) needs the full check;
    only an input over MAX_TAG bytes can hold a start tag that long."""
    cdef const unsigned char* p = <const unsigned char*>(<char*>data)
    cdef Py_ssize_t n = len(data), i = 0, k
    cdef unsigned char c
    cdef const unsigned char* hit
    cdef bytes decl
    if n >= 3 and p[0] == 0xEF and p[1] == 0xBB and p[2] == 0xBF:
        i = 3
    if n - i >= 5 and memcmp(p + i, b"<?xml", 5) == 0:
        for decl in _PLAIN_DECLARATIONS:
            k = len(decl)
            if n - i >= k and memcmp(p + i, <const char*>decl, k) == 0:
                i += k
                break
        else:
            return share.lexical_ok(data)
    if n <= _MAX_TAG:
        # No start tag to bound: only '<?' and '<!-' matter, found from their second byte
        # ('?' and '!' are rare in a message, '<' is in every tag).
        return _no_pi_or_comment(data, i)
    # One walk over '<': '<?' (a processing instruction) and '<!-' (a comment) need the
    # full check; past MAX_TAG bytes, a start tag (or '<x' inside CDATA) is bounded by it.
    # The runs scanned for a tag end at the next '<', so every '<' is seen and the pass
    # stays linear.
    while i < n:
        hit = <const unsigned char*>memchr(p + i, 0x3C, n - i)
        if hit == NULL:
            return True
        i = hit - p + 1
        if i >= n:
            return True
        c = p[i]
        if c == 0x3F or (c == 0x21 and i + 1 < n and p[i + 1] == 0x2D):
            return share.lexical_ok(data)
        if n > _MAX_TAG and (c == 0x5F or c == 0x3A or (0x41 <= (c & 0xDF) <= 0x5A)):
            k = i + 1
            while k < n and p[k] != 0x3C and p[k] != 0x3E:
                k += 1
            if k - (i + 1) >= _MAX_TAG:
                return False
            i = k
    return True


cdef bint _no_pi_or_comment(bytes data, Py_ssize_t i):
    """``_lexical_ok``'s walk for an input without a start tag to bound: True when
    ``data[i:]`` has no '<?' and no '<!-', else the answer of the full check."""
    cdef const unsigned char* p = <const unsigned char*>(<char*>data)
    cdef Py_ssize_t n = len(data)
    cdef const unsigned char* hit
    cdef Py_ssize_t k = i
    while k < n:
        hit = <const unsigned char*>memchr(p + k, 0x3F, n - k)  # '?'
        if hit == NULL:
            break
        k = hit - p
        if k > i and p[k - 1] == 0x3C:
            return share.lexical_ok(data)
        k += 1
    k = i
    while k < n:
        hit = <const unsigned char*>memchr(p + k, 0x21, n - k)  # '!'
        if hit == NULL:
            return True
        k = hit - p
        if k > i and p[k - 1] == 0x3C and k + 1 < n and p[k + 1] == 0x2D:
            return share.lexical_ok(data)
        k += 1
    return True


cdef Py_ssize_t _MAX_TAG = share.MAX_TAG
_PLAIN_DECLARATIONS = (b'<?xml version="1.0" encoding="UTF-8"?>',
                       b"<?xml version='1.0' encoding='UTF-8'?>",
                       b'<?xml version="1.0" encoding="utf-8"?>',
                       b'<?xml version="1.0"?>')
