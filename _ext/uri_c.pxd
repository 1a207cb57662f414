# Declarations for uri_c.pyx, the compiled twin of omadm_codec/_uri_py.py.
# Every function that can fail raises a Python exception (TreeAddressError & co.), so each
# cdef returning a C value says how it reports that.

# One raw segment that holds "%" escapes or non-ASCII characters: full check, then decode.
cdef str _decode_slow(str raw, Py_ssize_t index, str uri)

# Scans path[start:] up to the next "/" or the end; returns the decoded name and sets end[0]
# to the position of that "/" (or len(path)). Raises on the segment's first problem.
cdef str _next_name(str path, Py_ssize_t start, Py_ssize_t index, Py_ssize_t max_depth,
                    Py_ssize_t max_seg_len, str uri, Py_ssize_t* end)

# (prop, list_kind, list_sign, list_props) of the text after "?"; raises bad_query.
cdef tuple _parse_query(str query, str uri)

# The node path (text before "?", stripped) as a tuple of decoded names.
cdef tuple _parse_path(str text, str path, str uri, Py_ssize_t max_depth, Py_ssize_t max_seg_len)
