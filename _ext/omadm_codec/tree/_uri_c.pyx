"""Management-tree URIs, compiled twin of ``omadm_codec/tree/_uri_py.py`` (same names, same results).

The one idea: one left-to-right scan over the URI text classifies each segment; a segment of
plain ASCII pchars is sliced out as-is (the common case, no copy of the rules in Python), and
only a segment with ``%`` escapes or non-ASCII characters takes the slow decoding path, written
to mirror the pure twin step by step so both raise the same first error. ``resolve`` walks the
node dicts while it parses, but reports a missing node only after the whole URI has been
checked, exactly as the pure twin (parse first, then walk) does. On an ASCII URI it does not
even build the segment strings: each plain segment is hashed (FNV-1a) during the scan and
looked up in the parent's child index, a C table built from the children dict after repeated
lookups and trusted only while that dict's version tag is unchanged (any Add, Delete, rename,
rollback or new dict drops it). A miss there, an escaped segment or a non-ASCII URI falls back
to the dict, so the index changes speed, never a result.
"""

cimport cython
from cpython.dict cimport PyDict_GetItemWithError
from cpython.ref cimport PyObject
from cpython.set cimport PySet_Contains
from libc.stdint cimport uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcmp, memcpy


cdef extern from *:
    """
    /* A dict's version tag changes on every mutation and a new dict gets a fresh one, so
       (dict, tag) unchanged means the dict's keys and values are exactly as when indexed.
       The field is deprecated from 3.12 on and gone later: there the index is never used. */
    #if PY_VERSION_HEX < 0x030C0000
    static inline int omadm_dict_tag(PyObject *d, uint64_t *tag) {
        *tag = ((PyDictObject *)d)->ma_version_tag;
        return 1;
    }
    #else
    static inline int omadm_dict_tag(PyObject *d, uint64_t *tag) { (void)d; *tag = 0; return 0; }
    #endif
    """
    bint omadm_dict_tag(object d, uint64_t* tag)


cdef extern from "Python.h":
    # The str internals (PEP 393): direct reads instead of a bounds-checked item call per
    # character, which perf showed as the largest single cost of the scan.
    int PyUnicode_KIND(object text)
    void* PyUnicode_DATA(object text)
    bint PyUnicode_IS_ASCII(object text)
    Py_UCS4 PyUnicode_READ(int kind, void* data, Py_ssize_t index)
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    Py_ssize_t PyUnicode_GET_LENGTH(object text)
    bint PyUnicode_CheckExact(object text)
    bint PyDict_Next(object d, Py_ssize_t* pos, PyObject** key, PyObject** value)
from cpython.unicode cimport PyUnicode_FindChar

from omadm_codec.tree._uri_py import SEGMENT_SAFE, ParsedUri
from omadm_codec.errors import NodeNotFound, PermissionDenied, TreeAddressError

# 1 when the ASCII code point may stand unescaped in a segment (pchar minus "%", plus ".").
cdef unsigned char SAFE_TABLE[128]
for _safe_char in SEGMENT_SAFE:
    SAFE_TABLE[ord(_safe_char)] = 1

cdef str _HEX = "0123456789abcdefABCDEF"
cdef str _STRIP = " \t\r\n"


ctypedef struct _Slot:
    uint64_t hash
    PyObject* key
    PyObject* value


cdef uint64_t _FNV_OFFSET = 14695981039346656037ULL
cdef uint64_t _FNV_PRIME = 1099511628211ULL


cdef class NodeBase:
    """Base of tree nodes: ``children`` (dict, or None for a leaf) and ``acl`` (or None).

    They are C struct fields so ``resolve`` reads them without an attribute lookup;
    omadm_codec.tree.nodes.Node subclasses the active twin's NodeBase.
    """

    cdef public object children
    cdef public object acl
    # Child index for resolve: open addressing on an FNV-1a hash of a name's ASCII bytes, built
    # from ``children`` when it was the dict ``_indexed`` at version ``_tag``; entries borrow
    # the dict's references, so they are read only while (dict, tag) still match.
    cdef _Slot* _table
    cdef Py_ssize_t _mask
    cdef void* _indexed
    cdef uint64_t _tag
    cdef Py_ssize_t _pending

    def __init__(self):
        self.children = None
        self.acl = None

    def __dealloc__(self):
        free(self._table)


cdef inline uint64_t _fnv(const unsigned char* data, Py_ssize_t length) noexcept:
    # Must match the hash _scan_ascii computes on the fly.
    cdef uint64_t h = _FNV_OFFSET
    cdef Py_ssize_t i
    for i in range(length):
        h = (h ^ data[i]) * _FNV_PRIME
    return h


cdef bint _build_index(NodeBase node, dict children) noexcept:
    # Index every exact-str ASCII key; False (no index, callers use the dict) when out of memory.
    cdef Py_ssize_t cap = 8
    while cap < 2 * len(children):
        cap <<= 1
    cdef _Slot* table = <_Slot*>calloc(cap, sizeof(_Slot))
    if table is NULL:
        return False
    cdef Py_ssize_t pos = 0
    cdef Py_ssize_t i
    cdef PyObject* key
    cdef PyObject* value
    cdef uint64_t h
    while PyDict_Next(children, &pos, &key, &value):
        if not PyUnicode_CheckExact(<object>key) or not PyUnicode_IS_ASCII(<object>key):
            continue
        h = _fnv(<const unsigned char*>PyUnicode_DATA(<object>key),
                 PyUnicode_GET_LENGTH(<object>key))
        i = <Py_ssize_t>(h & <uint64_t>(cap - 1))
        while table[i].key is not NULL:  # cap >= 2 * len: an empty slot always exists
            i = (i + 1) & (cap - 1)
        table[i].hash = h
        table[i].key = key
        table[i].value = value
    free(node._table)
    node._table = table
    node._mask = cap - 1
    return True


cdef PyObject* _indexed_child(NodeBase node, dict children, const unsigned char* name,
                              Py_ssize_t length, uint64_t h) noexcept:
    # The child named by the ASCII bytes name[:length], or NULL: not indexed (yet) or not
    # found; the caller then asks the dict itself, so NULL never means "missing" by itself.
    cdef uint64_t tag
    cdef Py_ssize_t i
    cdef PyObject* key
    if not omadm_dict_tag(children, &tag):
        return NULL
    if node._indexed != <void*>children or node._tag != tag:
        # Changed since indexed: drop the table and wait for lookups to pay for a new one.
        free(node._table)
        node._table = NULL
        node._indexed = <void*>children
        node._tag = tag
        node._pending = 0
        return NULL
    if node._table is NULL:
        # Build only after enough lookups on the unchanged dict to amortise the O(n) build,
        # so alternating Add and Get under one big node stays linear.
        node._pending += 1
        if node._pending < 2 or node._pending * 16 < len(children):
            return NULL
        if not _build_index(node, children):
            return NULL
    i = <Py_ssize_t>(h & <uint64_t>node._mask)
    while True:
        key = node._table[i].key
        if key is NULL:
            return NULL
        if (node._table[i].hash == h and PyUnicode_GET_LENGTH(<object>key) == length
                and memcmp(PyUnicode_DATA(<object>key), name, length) == 0):
            return node._table[i].value
        i = (i + 1) & node._mask


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int _scan_ascii(const unsigned char* data, Py_ssize_t start, Py_ssize_t stop,
                     Py_ssize_t index, Py_ssize_t max_depth, Py_ssize_t max_seg_len, str uri,
                     Py_ssize_t* end, uint64_t* hash_out) except -1:
    # _next_name for an ASCII text without building the name: the same checks in the same
    # order. Returns 1 when the segment has escapes (the caller decodes it with _next_name),
    # else 0 with the segment's FNV-1a hash. data[:stop] is in bounds.
    cdef Py_ssize_t pos = start
    cdef unsigned char ch
    cdef bint slow = False
    cdef uint64_t h = _FNV_OFFSET
    if start == stop or data[start] == b"/":
        if index == 0:
            raise TreeAddressError("leading_slash", 0, uri)
        raise TreeAddressError("trailing_slash" if start == stop else "empty_segment", index, uri)
    while pos < stop:
        ch = data[pos]
        if ch == b"/":
            break
        if not SAFE_TABLE[ch]:
            slow = True
        h = (h ^ ch) * _FNV_PRIME
        pos += 1
    end[0] = pos
    if max_depth and index >= max_depth:
        raise TreeAddressError("too_deep", index, uri, status=414)
    if slow:
        return 1
    if (pos - start == 1 and data[start] == b".") or (
        pos - start == 2 and data[start] == b"." and data[start + 1] == b"."
    ):
        raise TreeAddressError("dot_segment", index, uri)
    if max_seg_len and pos - start > max_seg_len:
        raise TreeAddressError("segment_too_long", index, uri, status=414)
    hash_out[0] = h
    return 0


cdef inline bint _is_bad_code(Py_UCS4 ch):
    # C0 controls, DEL, C1 controls and lone surrogates are never part of a name.
    return ch < 0x20 or (0x7F <= ch < 0xA0) or (0xD800 <= ch <= 0xDFFF)


def escape_segment(str name):
    """The canonical escaped form of one decoded node name."""
    cdef Py_UCS4 ch
    cdef bint plain = True
    for ch in name:
        if ch >= 128 or not SAFE_TABLE[<Py_ssize_t>ch]:
            plain = False
            break
    if plain:
        return name
    out = []
    for ch in name:
        if ch < 128 and SAFE_TABLE[<Py_ssize_t>ch]:
            out.append(ch)
        else:
            for byte in chr(ch).encode("utf-8"):
                out.append("%%%02X" % byte)
    return "".join(out)


def format_uri(segments):
    """``.`` for the root, else ``./`` followed by the escaped names joined by ``/``."""
    if not segments:
        return "."
    return "./" + "/".join([escape_segment(name) for name in segments])


cdef str _decode_slow(str raw, Py_ssize_t index, str uri):
    cdef Py_ssize_t length = len(raw)
    cdef Py_ssize_t pos = 0
    cdef Py_UCS4 ch
    if raw == "." or raw == "..":
        raise TreeAddressError("dot_segment", index, uri)
    while pos < length:
        ch = raw[pos]
        if ch == "%":
            if pos + 2 >= length:
                raise TreeAddressError("bad_escape", index, uri)
            if raw[pos + 1] not in _HEX or raw[pos + 2] not in _HEX:
                raise TreeAddressError("bad_escape", index, uri)
            pos += 3
            continue
        if ch >= 128 or not SAFE_TABLE[<Py_ssize_t>ch]:
            if ch < 0xA0 or 0xD800 <= ch <= 0xDFFF:
                raise TreeAddressError("bad_char", index, uri)
        pos += 1
    cdef bytearray data = bytearray()
    pos = 0
    while pos < length:
        ch = raw[pos]
        if ch == "%":
            data.append(int(raw[pos + 1:pos + 3], 16))
            pos += 3
        else:
            data += chr(ch).encode("utf-8")
            pos += 1
    cdef str name
    try:
        name = data.decode("utf-8")
    except UnicodeDecodeError:
        raise TreeAddressError("bad_utf8", index, uri) from None
    for ch in name:
        if ch < 0x20 or 0x7F <= ch < 0xA0:
            raise TreeAddressError("bad_char", index, uri)
        if ch == "/":
            raise TreeAddressError("slash_in_name", index, uri)
    if name == "." or name == "..":
        raise TreeAddressError("dot_segment", index, uri)
    return name


@cython.boundscheck(False)
@cython.wraparound(False)
cdef inline str _next_name(str text, Py_ssize_t start, Py_ssize_t stop, Py_ssize_t index,
                    Py_ssize_t max_depth, Py_ssize_t max_seg_len, str uri, Py_ssize_t* end):
    # The segment is text[start:...] inside the path text[:stop]; stop <= len(text), so the
    # unchecked reads below are all in bounds.
    cdef Py_ssize_t pos = start
    cdef Py_UCS4 ch
    cdef bint slow = False
    cdef str name
    cdef int kind = PyUnicode_KIND(text)
    cdef void* data = PyUnicode_DATA(text)
    if start == stop or PyUnicode_READ(kind, data, start) == "/":
        if index == 0:
            raise TreeAddressError("leading_slash", 0, uri)
        raise TreeAddressError("trailing_slash" if start == stop else "empty_segment", index, uri)
    while pos < stop:
        ch = PyUnicode_READ(kind, data, pos)
        if ch == "/":
            break
        if ch >= 128 or not SAFE_TABLE[<Py_ssize_t>ch]:
            slow = True
        pos += 1
    end[0] = pos
    if max_depth and index >= max_depth:
        raise TreeAddressError("too_deep", index, uri, status=414)
    if not slow and PyUnicode_IS_ASCII(text):
        # Plain ASCII segment of an ASCII text: copy the bytes into a new ASCII str directly.
        name = PyUnicode_New(pos - start, 127)
        memcpy(PyUnicode_DATA(name), <char*>data + start, pos - start)
    else:
        name = text[start:pos]
    if slow:
        name = _decode_slow(name, index, uri)
    elif (pos - start == 1 and text[start] == ".") or (
        pos - start == 2 and text[start] == "." and text[start + 1] == "."
    ):
        raise TreeAddressError("dot_segment", index, uri)
    if max_seg_len and len(name) > max_seg_len:
        raise TreeAddressError("segment_too_long", index, uri, status=414)
    return name


cdef inline bint _letters(str word):
    return word.isascii() and word.isalpha()


cdef tuple _parse_query(str query, str uri):
    cdef Py_ssize_t cut, pos
    cdef str body, kind, rest, sign, name
    if query.startswith("prop="):
        name = query[5:]
        if not _letters(name):
            raise TreeAddressError("bad_query", -1, uri)
        return (name, None, "", ())
    if query.startswith("list="):
        body = query[5:]
        cut = len(body)
        for pos in range(len(body)):
            if body[pos] == "+" or body[pos] == "-":
                cut = pos
                break
        kind = body[:cut]
        if not _letters(kind):
            raise TreeAddressError("bad_query", -1, uri)
        rest = body[cut:]
        if not rest:
            return (None, kind, "", ())
        sign = rest[0]
        names = rest[1:].replace("+" if sign == "-" else "-", "\0").split(sign)
        for name in names:
            if not _letters(name):
                raise TreeAddressError("bad_query", -1, uri)
        return (None, kind, sign, tuple(names))
    raise TreeAddressError("bad_query", -1, uri)


@cython.boundscheck(False)
@cython.wraparound(False)
cdef Py_ssize_t _path_start(str text, Py_ssize_t stop, str uri) except -1:
    # Where the first segment starts (after "./"), or -2 for the root "."; raises for an
    # empty path. Reads are below stop <= len(text).
    cdef int kind = PyUnicode_KIND(text)
    cdef void* data = PyUnicode_DATA(text)
    if stop == 1 and PyUnicode_READ(kind, data, 0) == ".":
        return -2
    if stop >= 2 and PyUnicode_READ(kind, data, 0) == "." and PyUnicode_READ(kind, data, 1) == "/":
        if stop == 2:
            raise TreeAddressError("trailing_slash", 0, uri)
        return 2
    if stop == 0:
        raise TreeAddressError("empty_uri", 0, uri)
    return 0


cdef tuple _parse_path(str text, Py_ssize_t stop, str uri, Py_ssize_t max_depth,
                       Py_ssize_t max_seg_len):
    cdef Py_ssize_t start = _path_start(text, stop, uri)
    cdef Py_ssize_t end = 0
    cdef Py_ssize_t index = 0
    if start == -2:
        return ()
    names = []
    while True:
        names.append(_next_name(text, start, stop, index, max_depth, max_seg_len, uri, &end))
        if end >= stop:
            break
        start = end + 1
        index += 1
    return tuple(names)


cdef inline bint _is_space(Py_UCS4 ch):
    return ch == " " or ch == "\t" or ch == "\r" or ch == "\n"


cdef str _stripped(str text):
    cdef Py_ssize_t n = len(text)
    cdef int kind = PyUnicode_KIND(text)
    cdef void* data = PyUnicode_DATA(text)
    if n and (_is_space(PyUnicode_READ(kind, data, 0))
              or _is_space(PyUnicode_READ(kind, data, n - 1))):
        return text.strip(_STRIP)
    return text


def parse_uri(uri, Py_ssize_t max_depth=0, Py_ssize_t max_tot_len=0, Py_ssize_t max_seg_len=0):
    """Parse and check ``uri``; raise ``TreeAddressError`` (400/414) on the first problem."""
    if not isinstance(uri, str):
        raise TypeError("uri must be str")
    cdef str text = _stripped(<str>uri)
    cdef Py_ssize_t n = len(text)
    if max_tot_len and n > max_tot_len:
        raise TreeAddressError("uri_too_long", -1, uri, status=414)
    cdef Py_ssize_t mark = PyUnicode_FindChar(text, "?", 0, n, 1)
    cdef tuple segments = _parse_path(text, n if mark < 0 else mark, uri, max_depth,
                                      max_seg_len)
    if mark >= 0:
        prop, list_kind, list_sign, list_props = _parse_query(text[mark + 1:], uri)
        return ParsedUri(segments, prop, list_kind, list_sign, list_props)
    return ParsedUri(segments)


def normalize_uri(uri, Py_ssize_t max_depth=0, Py_ssize_t max_tot_len=0,
                  Py_ssize_t max_seg_len=0):
    """The canonical text of ``uri`` (``.`` or ``./a/b``, names re-escaped, query kept)."""
    parsed = parse_uri(uri, max_depth, max_tot_len, max_seg_len)
    text = format_uri(parsed.segments)
    if parsed.prop is not None:
        return f"{text}?prop={parsed.prop}"
    if parsed.list_kind is not None:
        props = "".join([parsed.list_sign + name for name in parsed.list_props])
        return f"{text}?list={parsed.list_kind}{props}"
    return text


def check_name(name, Py_ssize_t max_seg_len=0):
    """Check a decoded node name (a rename, a TNDS NodeName); return it or raise 400/414."""
    if not isinstance(name, str):
        raise TypeError("name must be str")
    cdef Py_UCS4 ch
    if not name:
        raise TreeAddressError("empty_segment", 0, name)
    for ch in <str>name:
        if ch == "/":
            raise TreeAddressError("slash_in_name", 0, name)
        if _is_bad_code(ch):
            raise TreeAddressError("bad_char", 0, name)
    if name == "." or name == "..":
        raise TreeAddressError("dot_segment", 0, name)
    if max_seg_len and len(name) > max_seg_len:
        raise TreeAddressError("segment_too_long", 0, name, status=414)
    return name


cdef bint _grants(object acl, str command, str server_id) except -1:
    # C calls instead of ``.get`` and ``in``: Acl.grants maps a command to a frozenset of ids.
    cdef PyObject* ids = PyDict_GetItemWithError(<dict?>acl.grants, command)
    if ids is NULL:
        return False
    return PySet_Contains(<object>ids, "*") == 1 or PySet_Contains(<object>ids, server_id) == 1


def acl_grants(acl, str command, str server_id):
    """Whether the parsed ACL ``acl`` (an ``Acl``) grants ``command`` to ``server_id``."""
    return _grants(acl, command, server_id)


def resolve(root, uri, str command, str server_id, Py_ssize_t max_depth=0,
            Py_ssize_t max_tot_len=0, Py_ssize_t max_seg_len=0):
    """Parse ``uri``, find its node under ``root``, check ``command`` in its effective ACL.

    Same contract as the pure twin: returns ``(node, parsed)`` with ``parsed`` None when the
    URI has no query; raises 400/414, then 404 (first missing name), then 425, in that order.
    """
    return _resolve(root, uri, command, server_id, max_depth, max_tot_len, max_seg_len)


# -- the common Get, finished here ---------------------------------------------------------------

from cpython.object cimport PyTypeObject
from cpython.ref cimport Py_INCREF


cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        int type
        Py_ssize_t offset
        int flags
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member
    object PyType_GenericAlloc(PyTypeObject* type, Py_ssize_t nitems)
    void* PyType_GetSlot(PyTypeObject* type, int slot)
    int Py_tp_alloc

cdef extern from "structmember.h":
    int T_OBJECT_EX   # what ``__slots__`` entries are
    int READONLY

cdef enum:
    _ACCESS = 0
    _PARENT = 1
    _NAME = 2
    _VALUE = 3
    _FORMAT = 4
    _TYPE = 5
    _NODE_FIELDS = 6
    _MAX_VALUE_FIELDS = 8

cdef bint _slot_offsets(object cls, tuple names, Py_ssize_t* offsets) except -1:
    """The slot offsets of ``names`` on ``cls`` (plain ``__slots__`` entries), or False."""
    cdef PyMemberDef* member
    cdef Py_ssize_t i
    for i in range(len(names)):
        descriptor = getattr(cls, names[i], None)
        if type(descriptor).__name__ != "member_descriptor":
            return False
        member = (<PyMemberDescrObject*><PyObject*>descriptor).d_member
        if member.type != T_OBJECT_EX or member.flags & READONLY:
            return False
        offsets[i] = member.offset
    return True


cdef inline PyObject* _slot(object obj, Py_ssize_t offset) noexcept:
    """The slot at offset (NULL when unset)."""
    return (<PyObject**>((<char*><PyObject*>obj) + offset))[0]


# The node class last seen, with its slots' offsets (a process has one, two in tests).
cdef object _node_type = None
cdef Py_ssize_t _node_off[_NODE_FIELDS]
cdef tuple _NODE_NAMES = ("access", "parent", "name", "value", "format", "type")
# The value class last given (NodeValue): made by filling its slots, value/format/type first
# and every later field from its dataclass default.
cdef object _value_type = None
cdef bint _value_direct = False
cdef Py_ssize_t _value_count = 0
cdef Py_ssize_t _value_off[_MAX_VALUE_FIELDS]
cdef list _value_defaults = []


cdef bint _learn_value(object make) except -1:
    global _value_type, _value_direct, _value_count, _value_defaults
    import dataclasses
    _value_type = make
    _value_direct = False
    if (not isinstance(make, type) or not dataclasses.is_dataclass(make)
            or hasattr(make, "__post_init__")
            or PyType_GetSlot(<PyTypeObject*>make, Py_tp_alloc)
            != PyType_GetSlot(<PyTypeObject*>object, Py_tp_alloc)):
        return False
    fields = dataclasses.fields(make)
    if len(fields) < 3 or len(fields) > _MAX_VALUE_FIELDS or any(not f.init for f in fields):
        return False
    defaults = []
    for f in fields[3:]:
        if f.default is dataclasses.MISSING:
            return False
        defaults.append(f.default)
    if not _slot_offsets(make, tuple(f.name for f in fields), _value_off):
        return False
    _value_count = len(fields)
    _value_defaults = defaults
    _value_direct = True
    return True


cdef object _make_value(object make, object value, object fmt, object typ):
    """``make(value, fmt, typ)``, by filling the slots when the class allows."""
    cdef Py_ssize_t i
    cdef PyObject** slot
    if make is not _value_type:
        _learn_value(make)
    if not _value_direct:
        return make(value, fmt, typ)
    obj = PyType_GenericAlloc(<PyTypeObject*>make, 0)
    for i in range(_value_count):
        item = value if i == 0 else fmt if i == 1 else typ if i == 2 else _value_defaults[i - 3]
        Py_INCREF(item)
        slot = <PyObject**>((<char*><PyObject*>obj) + _value_off[i])
        slot[0] = <PyObject*>item  # a fresh object: every slot is still NULL
    return obj


def get_leaf(root, uri, str server_id, Py_ssize_t max_depth=0, Py_ssize_t max_tot_len=0,
             Py_ssize_t max_seg_len=0, make=None):
    """``resolve(root, uri, "Get", server_id, ...)`` with the common Get finished here: for a
    leaf holding a value, reached by a URI without a query, whose AccessType (``access``)
    allows Get or is not described, and outside ``./Inbox``, returns ``make(value, format,
    type)``; otherwise resolve's own ``(node, parsed)``, for the caller's full Get. Same
    errors as resolve (the checks here only choose between the two answers)."""
    global _node_type
    cdef PyObject* access
    cdef PyObject* parent
    cdef PyObject* up
    cdef PyObject* top
    cdef PyObject* name
    cdef PyObject* value
    cdef PyObject* fmt
    cdef PyObject* typ
    found = _resolve(root, uri, "Get", server_id, max_depth, max_tot_len, max_seg_len)
    node, parsed = <tuple>found
    if parsed is not None or not isinstance(node, NodeBase) or (<NodeBase>node).children is not None:
        return found
    if type(node) is not _node_type:
        _node_type = None
        if not _slot_offsets(type(node), _NODE_NAMES, _node_off):
            return found
        _node_type = type(node)
    access = _slot(node, _node_off[_ACCESS])
    value = _slot(node, _node_off[_VALUE])
    fmt = _slot(node, _node_off[_FORMAT])
    typ = _slot(node, _node_off[_TYPE])
    parent = _slot(node, _node_off[_PARENT])
    if access == NULL or value == NULL or fmt == NULL or typ == NULL or parent == NULL:
        return found
    if <object>value is None:
        return found
    if <object>access is not None and (type(<object>access) is not frozenset
                                       or PySet_Contains(<object>access, "Get") != 1):
        return found
    # ./Inbox and below: the node's top-level ancestor (the root's child) is named Inbox.
    top = <PyObject*>node
    while parent != NULL and <object>parent is not None:
        if type(<object>parent) is not _node_type:
            return found
        up = _slot(<object>parent, _node_off[_PARENT])
        if up == NULL:
            return found
        if <object>up is None:
            name = _slot(<object>top, _node_off[_NAME])
            if name == NULL or <object>name == "Inbox":
                return found
            break
        top = parent
        parent = up
    return _make_value(make, <object>value, <object>fmt, <object>typ)


@cython.boundscheck(False)
@cython.wraparound(False)
cdef tuple _resolve(root, uri, str command, str server_id, Py_ssize_t max_depth,
                    Py_ssize_t max_tot_len, Py_ssize_t max_seg_len):
    if not isinstance(uri, str):
        raise TypeError("uri must be str")
    cdef str text = _stripped(<str>uri)
    cdef Py_ssize_t n = len(text)
    if max_tot_len and n > max_tot_len:
        raise TreeAddressError("uri_too_long", -1, uri, status=414)
    cdef Py_ssize_t mark = PyUnicode_FindChar(text, "?", 0, n, 1)
    cdef Py_ssize_t stop = n if mark < 0 else mark
    cdef Py_ssize_t start = _path_start(text, stop, uri)
    cdef Py_ssize_t end = 0
    cdef Py_ssize_t index = 0
    cdef Py_ssize_t missing = -1
    cdef str name
    cdef object node = root
    cdef object acl = root.acl
    cdef object children, child_acl
    cdef PyObject* child
    cdef bint fast
    # An ASCII text (the usual case) is scanned as bytes: a plain segment is hashed during the
    # scan and found through the parent's child index without building a str; only escaped
    # segments, index misses and non-ASCII texts build the name and ask the dict.
    cdef bint ascii = PyUnicode_IS_ASCII(text)
    cdef const unsigned char* data = <const unsigned char*>PyUnicode_DATA(text)
    cdef uint64_t h = 0
    cdef bint plain
    if start != -2:
        while True:
            plain = False
            name = None
            if ascii:
                plain = _scan_ascii(data, start, stop, index, max_depth, max_seg_len, uri,
                                    &end, &h) == 0
            if not plain:
                name = _next_name(text, start, stop, index, max_depth, max_seg_len, uri, &end)
            if missing < 0:
                # NodeBase fields are read from the struct; any other node type by attribute.
                fast = isinstance(node, NodeBase)
                children = (<NodeBase>node).children if fast else node.children
                child = NULL
                if children is not None:
                    if plain and fast:
                        child = _indexed_child(<NodeBase>node, <dict?>children, data + start,
                                               end - start, h)
                    if child is NULL:
                        if name is None:
                            name = PyUnicode_New(end - start, 127)
                            memcpy(PyUnicode_DATA(name), data + start, end - start)
                        child = PyDict_GetItemWithError(<dict?>children, name)
                if child is NULL:
                    missing = index
                else:
                    node = <object>child
                    if isinstance(node, NodeBase):
                        child_acl = (<NodeBase>node).acl
                    else:
                        child_acl = node.acl
                    if child_acl is not None:
                        acl = child_acl
            if end >= stop:
                break
            start = end + 1
            index += 1
    parsed = None
    if mark >= 0:
        prop, list_kind, list_sign, list_props = _parse_query(text[mark + 1:], uri)
        parsed = ParsedUri(_parse_path(text, stop, uri, max_depth, max_seg_len),
                           prop, list_kind, list_sign, list_props)
    if missing >= 0:
        raise NodeNotFound("not_found", missing, uri)
    if not _grants(acl, command, server_id):
        raise PermissionDenied("acl", uri)
    if parsed is not None and parsed.prop is None and parsed.list_kind is None:
        return node, None
    return node, parsed
