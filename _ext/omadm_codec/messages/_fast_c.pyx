# cython: language_level=3
"""The compiled twin of the message fast path (``omadm_codec/messages/_fast_py/``): XML bytes ->
model without an lxml tree, on the shared scanner's C fields (``wbxml._xmlscan_c``, cimported).

The one idea: the same recursive descent as the pure twin, method for method, with element
names turned into small integer codes (a lookup on the FNV-1a hash the scanner computes while
reading each tag) and text decoded straight from the scanner's buffer. It vouches only for
messages the reference lxml path accepts without any quirk; anything else makes ``decode_xml``
return ``None`` and the caller runs the reference path, which gives the verdict.
``decode_wbxml`` reads WBXML tokens with a builder of their own (``_fast_c/token_build.pxi``,
compiled only: the content models straight from the tokens, handing the odd element to the
next one); where that gives up, the same builder as XML on the tokens
(``_fast_c/wbxml_events.pxi`` fills the scanner's C fields; ``_Build.next_ev`` picks the
source); and where that gives up, the compiled ``wbxml_to_xml`` then the XML fast path (the XML
hub). The parts in ``_fast_c/``, each the twin of the pure module of the same name where there
is one: ``build.pxi`` (the builder), ``wbxml_events.pxi``, ``xml_writer.pxi`` (the pure twin
uses the reference writer), ``wbxml_writer.pxi`` (with ``wbxml_writer_fast.pxi``); and the
compiled-only parts ``token_build.pxi``, ``names.pxi`` (element name codes), ``lex.pxi`` (the
lexical pre-check) and ``model.pxi`` (``_Shape``: model objects by slot).
"""

cimport cython
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport memchr, memcmp, memcpy
from libc.stdint cimport uint64_t
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF

from omadm_codec.wbxml._xmlscan_c cimport (
    EVENT_CDATA,
    EVENT_DOCTYPE,
    EVENT_END,
    EVENT_EOF,
    EVENT_START,
    EVENT_TEXT,
    Scanner,
    check_chars_c,
)
from libc.stdlib cimport free, realloc
from omadm_codec.wbxml._xmlbuf cimport Buf, buf_add, buf_byte, find1, name_hash
from omadm_codec.wbxml._handoff cimport HANDOFF_COMMANDS, HANDOFF_EVERY


cdef extern from "omadm_codec/wbxml/_scan_simd.h":
    Py_ssize_t omadm_skip_indent(const unsigned char* s, Py_ssize_t i, Py_ssize_t n) noexcept nogil
    int omadm_all_ascii(const unsigned char* s, Py_ssize_t n) noexcept nogil


cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void* PyUnicode_DATA(object o)
    int PyGC_Enable()
    int PyGC_Disable()

from omadm_codec.messages import _fast_vocab as share
from omadm_codec.wbxml._encode_c import xml_to_wbxml as _xml_to_wbxml
from omadm_codec.wbxml._decode_c import wbxml_to_xml as _wbxml_to_xml
from omadm_codec.wbxml._switch import switch_point as _switch_point
from omadm_codec.errors import DecodeError, EncodeError
from omadm_codec.messages._check import shown
from omadm_codec.messages._schema import STATUS_MAX, STATUS_MIN, VER_PROTO
from omadm_codec.messages.model import (
    Alert, Anchor, Atomic, Chal, Cred, DataHint, Exec, Item, Mem, Message, Meta, MetaExtra,
    Results, Sequence, Source, Status, SyncHdr, Target, XmlDocument,
)

__all__ = ["decode_bytes", "decode_wbxml", "decode_wbxml_tokens", "decode_wbxml_via_xml", "decode_xml",
           "encode_wbxml", "encode_xml"]

include "_fast_c/names.pxi"
include "_fast_c/model.pxi"

cdef bytes METINF_NS = share.METINF_NS_B
cdef dict NS_VERSION = share.NS_VERSION_EXACT
cdef frozenset VERSIONS = frozenset(share.NS_VERSION_EXACT.values())
cdef dict ITEM_SHAPES = {code: _Shape(share.ITEM_COMMANDS[_NAME_BYTES[code]])
                         for code in (N_Add, N_Copy, N_Delete, N_Get, N_Replace)}
_TEXT = DataHint.TEXT
_CDATA = DataHint.CDATA
_MARKUP = DataHint.MARKUP
_OPAQUE = DataHint.OPAQUE


class _GiveUp(Exception):
    """Not a message the fast path vouches for: the reference path decides."""


cdef inline bint _same(const unsigned char* a, const unsigned char* b, Py_ssize_t n) noexcept:
    """``memcmp(a, b, n) == 0`` for the short names and leaves compared here, without the call."""
    cdef Py_ssize_t i
    if n > 32:
        return memcmp(a, b, n) == 0
    for i in range(n):
        if a[i] != b[i]:
            return False
    return True


cdef inline bint _is_ws(unsigned char c) noexcept:
    return c == 0x20 or c == 0x09 or c == 0x0A or c == 0x0D


cdef str _str(const unsigned char* p, Py_ssize_t n):
    """``p[:n]`` decoded as UTF-8; a short ASCII run is copied without the decoder."""
    cdef Py_ssize_t i = 0
    cdef uint64_t w
    cdef str s
    if n <= 256:
        while i + 8 <= n:
            memcpy(&w, p + i, 8)
            if w & 0x8080808080808080ULL:
                return PyUnicode_DecodeUTF8(<const char*>p, n, NULL)
            i += 8
        while i < n:
            if p[i] >= 0x80:
                return PyUnicode_DecodeUTF8(<const char*>p, n, NULL)
            i += 1
        s = PyUnicode_New(n, 127)
        memcpy(PyUnicode_DATA(s), p, n)
        return s
    if omadm_all_ascii(p, n):  # a large ASCII run (base64 Data): one SIMD check and a copy
        s = PyUnicode_New(n, 127)
        memcpy(PyUnicode_DATA(s), p, n)
        return s
    return PyUnicode_DecodeUTF8(<const char*>p, n, NULL)


DEF LEAF_SLOTS = 1024  # a power of two
DEF LEAF_MAX = 24      # longer leaves are rarely repeated: made fresh
cdef PyObject* _leaf_val[LEAF_SLOTS]      # owned references; NULL: empty
cdef unsigned char _leaf_key[LEAF_SLOTS][LEAF_MAX]
cdef unsigned char _leaf_len[LEAF_SLOTS]
cdef bint _leaf_plain[LEAF_SLOTS]


cdef inline unsigned int _leaf_hash(const unsigned char* p, Py_ssize_t n) noexcept:
    """The leaf table's hash of ``p[:n]``: eight bytes a step (a multiplicative mix)."""
    cdef uint64_t h = <uint64_t>n * 0x9E3779B97F4A7C15ULL, w
    cdef Py_ssize_t i = 0
    while i + 8 <= n:
        memcpy(&w, p + i, 8)
        h = (h ^ w) * 0x9E3779B97F4A7C15ULL
        i += 8
    w = 0
    while i < n:
        w = (w << 8) | p[i]
        i += 1
    h = (h ^ w) * 0x9E3779B97F4A7C15ULL
    return <unsigned int>(h >> 40)  # the best-mixed bits of the product


cdef inline bint _same_leaf(const unsigned char* a, const unsigned char* b,
                            Py_ssize_t n) noexcept:
    """``memcmp(a, b, n) == 0`` eight bytes a step, for leaves of at most LEAF_MAX bytes."""
    cdef uint64_t x, y
    cdef Py_ssize_t i = 0
    while i + 8 <= n:
        memcpy(&x, a + i, 8)
        memcpy(&y, b + i, 8)
        if x != y:
            return False
        i += 8
    while i < n:
        if a[i] != b[i]:
            return False
        i += 1
    return True


cdef str _leaf_str(const unsigned char* p, Py_ssize_t n, bint cache, bint* plain):
    """The text ``p[:n]`` as a str, and in ``plain`` whether ``_plain`` holds for it.

    Short leaves (IDs, codes, versions, formats, URIs of a few bytes) repeat across messages,
    so up to LEAF_MAX bytes are kept in a direct-mapped table keyed by the bytes: a hit makes
    no object (str is immutable; only identity shows it). Printable ASCII, most SyncML text,
    is copied into a compact str with no UTF-8 decoder. ``cache`` is off for values a caller
    should not find kept after the message (credentials, nonces)."""
    cdef Py_ssize_t i, slot = 0
    cdef unsigned int h
    cdef unsigned char c
    cdef bint ascii = True, pl = True
    cdef str s
    if cache and n <= LEAF_MAX:
        h = _leaf_hash(p, n)
        slot = (h ^ (h >> 15)) & (LEAF_SLOTS - 1)
        if (_leaf_len[slot] == n and _leaf_val[slot] != NULL
                and _same_leaf(_leaf_key[slot], p, n)):
            plain[0] = _leaf_plain[slot]
            return <str>_leaf_val[slot]
    for i in range(n):
        c = p[i]
        if c >= 0x80:
            ascii = pl = False
            break
        if c <= 0x20 or c == 0x7F:
            pl = False
    if ascii:
        s = PyUnicode_New(n, 127)
        memcpy(PyUnicode_DATA(s), p, n)
    else:
        s = PyUnicode_DecodeUTF8(<const char*>p, n, NULL)
        pl = _plain(s)
    plain[0] = pl
    if cache and n <= LEAF_MAX:
        _leaf_keep(slot, s, p, n, pl)
    return s


cdef inline str _leaf_ascii(const unsigned char* p, Py_ssize_t n, bint pl, bint cache,
                            bint* plain):
    """``_leaf_str`` for text the caller already knows to be printable ASCII (``pl``: without
    a space): the same table, the same str."""
    cdef Py_ssize_t slot = 0
    cdef unsigned int h
    cdef str s
    plain[0] = pl
    if cache and n <= LEAF_MAX:
        h = _leaf_hash(p, n)
        slot = (h ^ (h >> 15)) & (LEAF_SLOTS - 1)
        if (_leaf_len[slot] == n and _leaf_val[slot] != NULL
                and _same_leaf(_leaf_key[slot], p, n)):
            return <str>_leaf_val[slot]
    s = PyUnicode_New(n, 127)
    memcpy(PyUnicode_DATA(s), p, n)
    if cache and n <= LEAF_MAX:
        _leaf_keep(slot, s, p, n, pl)
    return s


cdef inline void _leaf_keep(Py_ssize_t slot, str s, const unsigned char* p, Py_ssize_t n,
                            bint pl) noexcept:
    """``s`` (the text ``p[:n]``, ``n <= LEAF_MAX``) into the table's ``slot``."""
    Py_XDECREF(_leaf_val[slot])
    Py_INCREF(s)
    _leaf_val[slot] = <PyObject*>s
    memcpy(_leaf_key[slot], p, n)
    _leaf_len[slot] = <unsigned char>n
    _leaf_plain[slot] = pl


cdef list _SMALL_INTS = list(range(4096))  # codes and sizes below this: no new int object


cdef bint _plain(str s):
    """Printable ASCII without spaces: an ID or token needing no regex and no strip."""
    cdef Py_UCS4 ch
    for ch in s:
        if ch <= 0x20 or ch >= 0x7F:
            return False
    return True


include "_fast_c/wbxml_events.pxi"


include "_fast_c/build.pxi"
include "_fast_c/token_build.pxi"
include "_fast_c/lex.pxi"


def decode_xml(bytes data not None, object limits):
    """The model of a clean SyncML DM XML message, or ``None``: the reference path decides
    (a quirk, an error, or a construct outside the fast path). The result has no quirks."""
    if len(data) > _c_limits(limits).max_input_size:
        return None
    return _decode(data, limits, False)


def decode_bytes(bytes data not None, object limits):
    """``decode_wbxml`` or ``decode_xml`` as the first bytes tell (``messages._sniff``): the
    model, or ``None`` (also for input over ``max_input_size``)."""
    cdef const unsigned char* p = <const unsigned char*>(<char*>data)
    cdef Py_ssize_t n = len(data)
    if n > _c_limits(limits).max_input_size:
        return None
    if n and p[0] <= 3 and not (n >= 2 and p[0] == 0 and p[1] == 0x3C):
        msg = _decode_tokens(data, limits)  # decode_wbxml, without a Python call
        if msg is None:
            msg = decode_wbxml_via_xml(data, limits)
        return msg
    return _decode(data, limits, False)


def decode_wbxml(bytes data not None, object limits):
    """Like ``decode_xml`` for WBXML: the model built straight from the tokens
    (``decode_wbxml_tokens``) or, where that path does not vouch, through this twin's
    ``wbxml_to_xml`` and the XML fast path; ``None`` when neither vouches."""
    msg = _decode_tokens(data, limits)
    if msg is None:
        msg = decode_wbxml_via_xml(data, limits)
    return msg


def decode_wbxml_tokens(bytes data not None, object limits):
    """The token path alone: ``_TokenBuild``, then the builder on ``_WbxmlEvents``, no XML
    text in between. Gives the model ``decode_wbxml_via_xml`` gives, or ``None`` (it vouches
    for less)."""
    return _decode_tokens(data, limits)


cdef _Build _token_path_build():
    """A _Build on a _WbxmlEvents token source."""
    cdef _Build build = _Build.__new__(_Build)
    build.wb = _WbxmlEvents.__new__(_WbxmlEvents)
    build.wbxml = True
    build.end = 0
    build.from_wbxml = True
    return build


cdef _Build _spare_build = None
"""A token-path builder (with its _WbxmlEvents and bare Scanner) kept between calls: taken
(the slot emptied) before any Python code can run, so a second thread or a re-entrant call
finds the slot empty and makes its own."""


cdef object _decode_tokens(bytes data, object py_limits):
    global _spare_build
    cdef _Build build
    cdef _Limits limits = _c_limits(py_limits)
    if len(data) > limits.max_input_size:
        return None
    build = _spare_build
    _spare_build = None
    if build is None:
        build = _token_path_build()
    build.max_depth = limits.max_depth
    build.max_opaque = limits.max_opaque
    build.ns = None
    build.mark.len = build.run.len = 0  # a give-up may leave a run behind
    cdef int gc_was_enabled = PyGC_Disable()  # see _decode
    try:
        build.wb.setup(data, limits)
        build.sc = build.wb.sc
        msg = _token_build(build, limits)
        if msg is not None:
            return msg
        build.wb.setup(data, limits)  # _Build from the start, on the events
        build.mark.len = build.run.len = 0
        return build.message()
    except (_GiveUp, UnicodeDecodeError):
        return None
    finally:
        if gc_was_enabled:
            PyGC_Enable()
        build.wb.release()
        _shrink(&build.mark)
        _shrink(&build.run)
        _spare_build = build


def decode_wbxml_via_xml(bytes data not None, object limits):
    """The XML hub: this twin's ``wbxml_to_xml`` then the XML fast path (``None`` for
    anything the WBXML decoder refuses: the reference path reports it)."""
    if len(data) > limits.max_input_size:
        return None
    try:
        xml = _wbxml_to_xml(data, limits=limits)
    except DecodeError:
        return None
    return _decode(xml, limits, True)


cdef _Build _spare_xml = None
"""An XML-path builder with its Scanner (which keeps its C arrays), kept between calls the
way ``_spare_build`` is: taken before any Python code can run, put back at the end."""


cdef object _decode(bytes data, object py_limits, bint from_wbxml):
    global _spare_xml
    cdef Scanner sc
    cdef _Build build
    cdef _Limits limits = _c_limits(py_limits)  # max_depth there is capped at MAX_FAST_DEPTH
    if not _lexical_ok(data):
        return None
    build = _spare_xml
    _spare_xml = None
    if build is None:
        build = _Build.__new__(_Build)
        build.sc = Scanner.__new__(Scanner)
    sc = build.sc
    build.p = <const unsigned char*>(<char*>data)
    build.end = len(data)
    build.max_depth = limits.max_depth_raw
    build.max_opaque = limits.max_opaque
    build.from_wbxml = from_wbxml
    build.ns = None
    build.text_run = 0
    build.mark.len = build.run.len = 0  # a give-up may leave a run behind
    # The model is acyclic: a cyclic collection in the middle of a decode (the thousands of
    # new objects of a large message trigger several) can free nothing of it, so it waits
    # until the decode is done.
    cdef int gc_was_enabled = PyGC_Disable()
    try:
        check_chars_c(<const unsigned char*>(<char*>data), 0, len(data))
        sc.setup(data, 0, limits.max_depth, limits.max_elements, limits.max_opaque)
        return build.message()
    except (_GiveUp, EncodeError, UnicodeDecodeError):
        return None
    finally:
        if gc_was_enabled:
            PyGC_Enable()
        sc.idle()
        build.p = NULL
        _shrink(&build.mark)
        _shrink(&build.run)
        _spare_xml = build


include "_fast_c/xml_writer.pxi"
include "_fast_c/wbxml_writer.pxi"

