# Included by _fast_c.pyx (before _Build): WBXML tokens as the XML scanner's events, the
# compiled twin of omadm_codec/messages/_fast_py/wbxml_events.py (read its docstring for the rules).
#
# The one idea: _WbxmlEvents owns a bare Scanner object and fills the C fields the builder
# reads after sc.next_event() on WBXML (ns_uri, text_ptr/len; local_ptr/len on request, see
# name_fields), so every _Build method runs unchanged on WBXML; _Build.next_ev() picks the
# source. Tag names, N_* codes and namespaces are precomputed per language (_Tags), text
# points into the input wherever it can. Anything outside the common ground raises _GiveUp: the caller
# then takes the XML hub.

from base64 import b64encode

from cpython.tuple cimport PyTuple_GET_ITEM
from libc.stdint cimport uint32_t

from omadm_codec.wbxml import _decode_tables as wbc
from omadm_codec.wbxml.codepages import BY_FPI, BY_PUBLIC_ID, FPI_ALIASES, LANGUAGES

cimport omadm_codec.wbxml._decode_text as wtext

cdef enum:
    EVENT_OPAQUE = 6       # binary OPAQUE, an element's whole content (text_ptr/len: raw bytes)
    TAG_SLOTS = 256        # (page & 3) << 6 | token: SyncML languages use pages 0-2

# What a language is to this source.
cdef enum:
    LANG_OTHER = 0
    LANG_SYNCML = 1
    LANG_DEVINF = 2
    LANG_MGMTTREE = 3

cdef Py_ssize_t _MAX_FAST_TEXT = share.MAX_FAST_TEXT
cdef Py_ssize_t _GUARD_MAX_TAG = share.MAX_TAG
cdef Py_ssize_t _TABLE_BUDGET_FACTOR = wbc.TABLE_BUDGET_FACTOR
cdef Py_ssize_t _TABLE_BUDGET_BASE = wbc.TABLE_BUDGET_BASE
cdef bytes _DEVINF_XML = wbc.DEVINF_XML
cdef bytes _DMTNDS_XML = wbc.DMTNDS_XML
cdef bytes _DEVINF_WBXML = wbc.DEVINF_WBXML  # module attributes read once, not per Type
cdef bytes _DMTNDS_WBXML = wbc.DMTNDS_WBXML


cdef inline bint _xml_text_ok(const unsigned char* s, Py_ssize_t n) noexcept:
    """``wtext.utf8_xml_ok`` (strict UTF-8 of XML characters), with a loop for the short
    printable-ASCII strings most SyncML text is, which needs no call."""
    cdef Py_ssize_t i = 0
    cdef uint64_t w
    if n <= 64:
        while i + 8 <= n:
            # A byte below 0x20 or from 0x7F on sets its high bit in one of the three terms
            # (the lowest such byte for certain; a borrow or carry only adds false alarms,
            # which the full check then answers).
            memcpy(&w, s + i, 8)
            if ((w - 0x2020202020202020ULL) | (w + 0x0101010101010101ULL) | w) \
                    & 0x8080808080808080ULL:
                return wtext.utf8_xml_ok(s, n)
            i += 8
        while i < n:
            if s[i] < 0x20 or s[i] >= 0x7F:
                return wtext.utf8_xml_ok(s, n)
            i += 1
        return True
    return wtext.utf8_xml_ok(s, n)


cdef Py_ssize_t _KEEP_BYTES = 65536


cdef inline void _shrink(Buf* buf) noexcept:
    """Free a scratch buffer that grew past _KEEP_BYTES: a reused object keeps small ones."""
    if buf.cap > _KEEP_BYTES:
        free(buf.data)
        buf.data = NULL
        buf.len = buf.cap = 0


@cython.final
cdef class _Tags:
    """One language's tokenised tags by slot ``(page << 6) | token``."""
    cdef const unsigned char* name_ptr[TAG_SLOTS]
    cdef Py_ssize_t name_len[TAG_SLOTS]
    cdef int kind[TAG_SLOTS]     # K_* role, -1: no such tag
    cdef int name_code[TAG_SLOTS]  # the builder's N_* code of the name (names.pxi)
    cdef tuple ns                # page (0-3) -> namespace bytes
    cdef list keep
    cdef int lang_kind
    cdef int rewrite             # Type back-rewrite: 0 none, 1 devinf, 2 devinf and dmtnds


cdef dict _TAGS_BY_LANG = {}
cdef dict _CODE_BY_NAME = {name: code for code, name in enumerate(_NAME_BYTES) if code}


cdef _Tags _make_tags(object lang):
    cdef _Tags tags = _Tags.__new__(_Tags)
    cdef int slot, page, token
    cdef bytes name, ns
    cdef dict infos = wbc.tag_table(lang)
    tags.keep = []
    for slot in range(TAG_SLOTS):
        tags.kind[slot] = -1
    cdef list ns_by_page = [b""] * 4
    for page, tokens in lang.pages.items():
        ns = lang.namespaces.get(page, "").encode("ascii")
        if ns == METINF_NS:
            ns = METINF_NS  # one object: the builder compares by identity first
        ns_by_page[page] = ns
        for token, tag_name in tokens.items():
            name = tag_name.encode("ascii")
            tags.keep.append(name)
            slot = (page << 6) | token
            tags.name_ptr[slot] = <const unsigned char*>(<char*>name)
            tags.name_len[slot] = len(name)
            tags.kind[slot] = infos[(page, token)].kind
            tags.name_code[slot] = _CODE_BY_NAME.get(name, N_OTHER)
    tags.ns = tuple(ns_by_page)
    tags.lang_kind = {"SyncML": LANG_SYNCML, "DevInf": LANG_DEVINF,
                      "MgmtTree": LANG_MGMTTREE}.get(lang.root, LANG_OTHER)
    tags.rewrite = (2 if lang.name == "SYNCML12" else
                    1 if lang.name in ("SYNCML10", "SYNCML11") else 0)
    return tags


for _lang in LANGUAGES:
    if max(_lang.pages) <= 3 and all(t < 64 for p in _lang.pages.values() for t in p):
        _TAGS_BY_LANG[_lang.name] = _make_tags(_lang)
cdef _Tags _SYNCML12_TAGS = _TAGS_BY_LANG["SYNCML12"]
cdef _Tags _SYNCML11_TAGS = _TAGS_BY_LANG["SYNCML11"]
cdef _Tags _SYNCML10_TAGS = _TAGS_BY_LANG["SYNCML10"]
assert [BY_PUBLIC_ID[i].name for i in (0x1201, 0x0FD3, 0x0FD1)] == [
    "SYNCML12", "SYNCML11", "SYNCML10"]


@cython.final
cdef class _Limits:
    """A ``Limits`` as C integers, the depth capped at MAX_FAST_DEPTH (libxml2's)."""
    cdef object source
    cdef Py_ssize_t max_input_size, max_depth, max_elements, max_opaque, max_string_table
    cdef Py_ssize_t max_depth_raw  # the Limits' own (the builder's depth checks use it)


cdef _Limits _last_limits = None


cdef _Limits _c_limits(object limits):
    """``limits`` in C integers; the last one is kept (a ``Limits`` is frozen, and most
    calls pass the same one)."""
    global _last_limits
    cdef _Limits found = _last_limits
    if found is not None and found.source is limits:
        return found
    found = _Limits.__new__(_Limits)
    found.source = limits
    found.max_input_size = limits.max_input_size
    found.max_depth_raw = limits.max_depth
    found.max_depth = min(found.max_depth_raw, share.MAX_FAST_DEPTH)
    found.max_elements = limits.max_elements
    found.max_opaque = limits.max_opaque
    found.max_string_table = limits.max_string_table
    _last_limits = found
    return found


cdef struct _Open:      # small fields: the stack is zeroed with every _WbxmlEvents
    signed char kind
    signed char cls
    signed char type_code
    unsigned char meta_seen
    unsigned char first_meta
    unsigned char type_seen
    unsigned char pending   # nothing written into it yet (a binary OPAQUE may be its content)
    unsigned char capturing # a MetInf Type whose text gathers in _WbxmlEvents.capture


cdef _Open _OPEN_BLANK = _Open(kind=0, cls=0, type_code=0, meta_seen=0, first_meta=0,
                               type_seen=0, pending=1, capturing=0)

cdef extern from *:
    """
    static inline int omadm_ctz64(unsigned long long x) { return __builtin_ctzll(x); }
    """
    int _ctz64 "omadm_ctz64"(unsigned long long x) noexcept nogil

DEF LEAF_SCAN = 128  # leaf_ascii's longest run: past it the memchr and SIMD checks pay


cdef inline const unsigned char* _type_as_xml(const unsigned char* text, Py_ssize_t* n,
                                             int rewrite) noexcept:
    """A MetInf Type's text as the hub writes it: the WBXML DevInf / TNDS type names back to
    their XML ones (``rewrite``: ``_Tags.rewrite``), ``n`` updated; else ``text`` itself."""
    if rewrite and wtext.bytes_eq(<const char*>text, n[0], _DEVINF_WBXML):
        n[0] = len(_DEVINF_XML)
        return <const unsigned char*>(<char*>_DEVINF_XML)
    if rewrite == 2 and wtext.bytes_eq(<const char*>text, n[0], _DMTNDS_WBXML):
        n[0] = len(_DMTNDS_XML)
        return <const unsigned char*>(<char*>_DMTNDS_XML)
    return text


cdef inline Py_ssize_t _printable_run(const unsigned char* p, Py_ssize_t i, Py_ssize_t stop,
                                      bint* space) noexcept:
    """The index of the first byte at or after ``i`` (below ``stop``) that is not printable
    ASCII (0x20-0x7E), ``stop`` if none; ``space`` set when the run has a space. Eight bytes a
    step."""
    cdef uint64_t w, x, bad, blank
    cdef unsigned char c
    while i + 8 <= stop:
        memcpy(&w, p + i, 8)
        bad = ((w - 0x2020202020202020ULL) | (w + 0x0101010101010101ULL) | w) \
            & 0x8080808080808080ULL
        x = w ^ 0x2020202020202020ULL
        blank = (x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL
        # A byte below 0x20 or from 0x7F on sets its high bit in one of the three terms; the
        # lowest set bit is exact (a borrow or carry only marks bytes above it). The same holds
        # for a space in ``x``.
        if bad:
            bad &= -bad  # the first byte that is not printable ASCII
            if blank & (bad - 1):
                space[0] = True
            return i + (_ctz64(bad) >> 3)
        if blank:
            space[0] = True
        i += 8
    while i < stop:
        c = p[i]
        if <unsigned char>(c - 0x21) >= 0x5E:  # not 0x21-0x7E
            if c != 0x20:
                return i
            space[0] = True
        i += 1
    return stop


cdef inline Py_ssize_t _mb_u_int32(const unsigned char* p, Py_ssize_t pos, Py_ssize_t end,
                                   Py_ssize_t* after) noexcept:
    """The mb_u_int32 at ``pos`` (at most 5 bytes, below 2**32, all before ``end``), ``after``
    set past it; -1 when there is none."""
    cdef Py_ssize_t i
    cdef unsigned long long value = 0
    cdef unsigned char byte
    for i in range(5):
        if pos + i >= end:
            return -1
        byte = p[pos + i]
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            if value >= (1ULL << 32):
                return -1
            after[0] = pos + i + 1
            return <Py_ssize_t>value
    return -1


cdef struct _Doc:
    Py_ssize_t end
    Py_ssize_t table_start
    Py_ssize_t table_len
    Py_ssize_t base     # open elements outside this document
    int page


@cython.final
cdef class _WbxmlEvents:
    cdef Scanner sc
    cdef bytes data
    cdef const unsigned char* p
    cdef Py_ssize_t pos, max_depth, max_elements, max_opaque, max_table, elements, depth
    cdef Py_ssize_t table_budget
    # Text bytes since the last element start or end: one text node of the hub's XML, which
    # must stay under libxml2's node limit (MAX_FAST_TEXT) for the path to vouch.
    cdef Py_ssize_t run
    cdef int code       # event field: the N_* code of the start tag's name
    cdef int slot       # event field: the start tag's slot in ``tags`` (see name_fields)
    cdef _Doc doc, outer
    cdef _Tags tags, outer_tags
    cdef bint nested_open, pending_end, root_done
    cdef _Open* open    # open_cap entries; start() sets every field of the one it uses
    cdef Py_ssize_t open_cap
    cdef Buf capture
    cdef unsigned char entity[4]
    cdef object hold    # keeps alive the bytes text_ptr points into (base64 of a NextNonce)

    def __dealloc__(self):
        free(self.capture.data)
        free(self.open)

    cdef int setup(self, bytes data, _Limits limits) except -1:
        """Start on ``data``: every piece of state is set here (the object is reused)."""
        cdef _Open* grown
        self.data = data
        self.p = <const unsigned char*>(<char*>data)
        self.max_depth = limits.max_depth
        self.max_elements = limits.max_elements
        self.max_opaque = limits.max_opaque
        self.max_table = limits.max_string_table
        if self.open_cap < limits.max_depth + 1:
            grown = <_Open*>realloc(self.open, (limits.max_depth + 1) * sizeof(_Open))
            if grown == NULL:
                raise MemoryError()
            self.open = grown
            self.open_cap = limits.max_depth + 1
        self.pos = self.elements = self.depth = 0
        self.table_budget = _TABLE_BUDGET_FACTOR * len(data) + _TABLE_BUDGET_BASE
        self.run = 0
        self.nested_open = self.pending_end = self.root_done = False
        self.capture.len = 0
        self.hold = None
        if self.sc is None:
            self.sc = Scanner.__new__(Scanner)
        self.sc.ns_uri = b""
        self.tags = self.header(0, len(data), 0)
        if self.tags.lang_kind != LANG_SYNCML:
            raise _GiveUp()
        return 0

    cdef void release(self) noexcept:
        """Drop the references to the input (the object waits for the next decode), and a
        capture buffer grown past _KEEP_BYTES by one odd message."""
        self.data = None
        self.p = NULL
        self.hold = None
        _shrink(&self.capture)

    # -- primitive readers ----------------------------------------------------------------

    cdef inline Py_ssize_t mb(self, Py_ssize_t end) except -1:
        """The mb_u_int32 at the cursor (at most 5 bytes, below 2**32), cursor past it."""
        cdef Py_ssize_t value = _mb_u_int32(self.p, self.pos, end, &self.pos)
        if value < 0:
            raise _GiveUp()
        return value

    cdef int table_string(self, Py_ssize_t index) except -1:
        """The string-table string at ``index`` into text_ptr / text_len."""
        cdef Py_ssize_t at, stop, table_end
        if index >= self.doc.table_len:
            raise _GiveUp()
        at = self.doc.table_start + index
        table_end = self.doc.table_start + self.doc.table_len
        stop = find1(self.p, at, table_end, 0)
        if stop < 0:
            stop = table_end
        self.table_budget -= stop - at
        if self.table_budget < 0:
            raise _GiveUp()
        self.sc.text_ptr = self.p + at
        self.sc.text_len = stop - at
        return 0

    cdef _Tags header(self, Py_ssize_t start, Py_ssize_t end, Py_ssize_t base):
        """Version, public id, charset (UTF-8 only) and string table of the document at
        ``start`` into ``self.doc``; the cursor ends on its first body token."""
        cdef Py_ssize_t public_id, fpi_index = -1, table_len, charset
        cdef unsigned char version
        cdef _Tags tags = None
        if start >= end or self.p[start] > 3:
            raise _GiveUp()
        version = self.p[start]
        self.pos = start + 1
        public_id = self.mb(end)
        if public_id == 0:
            fpi_index = self.mb(end)
        elif public_id == 0x1201:  # the SyncML versions without the dictionary look-ups
            tags = _SYNCML12_TAGS
        elif public_id == 0x0FD3:
            tags = _SYNCML11_TAGS
        elif public_id == 0x0FD1:
            tags = _SYNCML10_TAGS
        if version != 0:
            charset = self.mb(end)
            if charset != 106 and charset != 0:
                raise _GiveUp()  # another charset: the hub converts it
        table_len = self.mb(end)
        if table_len > end - self.pos or table_len > self.max_table:
            raise _GiveUp()
        self.doc.end = end
        self.doc.table_start = self.pos
        self.doc.table_len = table_len
        self.doc.base = base
        self.doc.page = 0
        self.pos += table_len
        if tags is not None:
            return tags
        if fpi_index < 0:
            lang = BY_PUBLIC_ID.get(public_id)
        else:
            self.table_string(fpi_index)
            if not wtext.utf8_xml_ok(self.sc.text_ptr, self.sc.text_len):
                raise _GiveUp()
            key = _str(self.sc.text_ptr, self.sc.text_len).lower()
            lang = BY_FPI.get(key) or FPI_ALIASES.get(key)
        if lang is None:
            raise _GiveUp()
        found = _TAGS_BY_LANG.get(lang.name)
        if found is None:
            raise _GiveUp()
        return <_Tags>found

    # -- events ---------------------------------------------------------------------------

    cdef int next_event(self) except -1:
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t pos, end
        cdef unsigned char tok
        cdef int ident, event
        if self.pending_end:
            self.pending_end = False
            return self.close()
        while True:
            end = self.doc.end
            pos = self.pos
            if pos >= end:
                if self.depth or not self.root_done:
                    raise _GiveUp()
                return EVENT_EOF
            if self.root_done:
                raise _GiveUp()  # trailing PI or garbage: the hub decides
            tok = p[pos]
            self.pos = pos + 1
            if tok == 0x00:  # SWITCH_PAGE
                if pos + 1 >= end:
                    raise _GiveUp()
                self.doc.page = p[pos + 1]
                self.pos = pos + 2
                continue
            if tok == 0x01:  # END
                if self.depth <= self.doc.base:
                    raise _GiveUp()
                return self.end_token()
            if tok == 0x03 or tok == 0x83 or tok == 0x02 or tok == 0xC3:
                if self.depth <= self.doc.base:
                    raise _GiveUp()
                event = self.content(tok)
                if event:
                    return event
                continue
            ident = tok & 0x3F
            if ident <= 4 or tok & 0x80 or self.doc.page > 3:
                raise _GiveUp()  # LITERAL, EXT_*, PI, attributes, a page of no SyncML language
            return self.start((self.doc.page << 6) | ident, tok & 0x40)

    cdef inline int quick_event(self) except -1:
        """``next_event`` for the usual tokens between elements - a tag (after a
        SWITCH_PAGE too), END of an element that captures no text, the end of an empty
        element - with the same checks and state; 0 for anything else, nothing read
        (``next_event`` decides)."""
        cdef Py_ssize_t pos = self.pos
        cdef unsigned char tok
        if self.pending_end:
            self.pending_end = False
            return self.close()
        if pos >= self.doc.end or self.root_done:
            return 0
        tok = self.p[pos]
        if tok == 0x01:  # END
            if self.depth <= self.doc.base or self.open[self.depth - 1].capturing:
                return 0
            self.pos = pos + 1
            return self.close()
        if tok == 0x00:
            return self.quick_switch(pos)
        if tok & 0x80 or (tok & 0x3F) <= 4 or self.doc.page > 3:
            return 0
        self.pos = pos + 1
        return self.start((self.doc.page << 6) | (tok & 0x3F), tok & 0x40)

    cdef int quick_switch(self, Py_ssize_t pos) except -1:
        """``quick_event`` at a SWITCH_PAGE (``pos``): the tag after it, or 0, nothing read."""
        cdef unsigned char tok, page
        if pos + 2 >= self.doc.end:
            return 0
        page = self.p[pos + 1]
        tok = self.p[pos + 2]
        if tok & 0x80 or (tok & 0x3F) <= 4 or page > 3:
            return 0
        self.doc.page = page
        self.pos = pos + 3
        return self.start((page << 6) | (tok & 0x3F), tok & 0x40)

    cdef inline Py_ssize_t leaf_ascii(self, bint* spaced) noexcept:
        """``leaf_text`` for the usual leaf, one STR_I of 1 to LEAF_SCAN printable ASCII
        bytes (0x20-0x7E) then END, read eight bytes a step; ``spaced``: whether one is a
        space. Returns the length, the state as ``leaf_text`` leaves it; 0: nothing read
        (``leaf_text`` decides)."""
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t pos = self.pos, end = self.doc.end, i, stop
        cdef bint space = False
        cdef _Open* top = self.leaf_open(True)
        if top == NULL:
            return 0
        stop = end if end - (pos + 1) < LEAF_SCAN else pos + 1 + LEAF_SCAN
        i = _printable_run(p, pos + 1, stop, &space)
        if i >= stop or p[i] != 0:
            return 0
        if top.capturing:  # a MetInf Type: its text is read here, not gathered
            top.capturing = False
            if not self.leaf_take(top, i, False):
                top.capturing = True
                return 0
            spaced[0] = space  # a rewritten Type has no space either
            return self.leaf_type(i - pos - 1)
        if not self.leaf_take(top, i, False):
            return 0
        spaced[0] = space
        return i - pos - 1

    cdef inline int start(self, int slot, bint has_content) except -1:
        """A start tag: its element pushed, the event fields set. The tags that matter to the
        Data classification or the Type capture (``kind`` not K_OTHER), and the root, go
        through ``start_kind``; the rest, most tags, take this short path."""
        cdef int kind = self.tags.kind[slot]  # self.tags read in place: no reference taken
        cdef Py_ssize_t depth = self.depth
        cdef _Open* parent
        cdef PyObject* ns
        if kind != 0 or depth == 0:  # K_OTHER is 0
            return self.start_kind(slot, kind, has_content)
        if depth >= self.max_depth or kind < 0:
            raise _GiveUp()
        self.elements += 1
        if self.elements > self.max_elements:
            raise _GiveUp()
        self.run = 0
        parent = &self.open[depth - 1]
        if parent.capturing:
            raise _GiveUp()  # an element inside a MetInf Type
        parent.pending = False
        self.open[depth] = _OPEN_BLANK  # kind K_OTHER (0) included
        self.depth = depth + 1
        if not has_content:
            self.pending_end = True
        self.slot = slot
        self.code = self.tags.name_code[slot]
        ns = PyTuple_GET_ITEM(self.tags.ns, slot >> 6)
        if <PyObject*>self.sc.ns_uri != ns:
            self.sc.ns_uri = <object>ns
        return EVENT_START

    cdef int start_kind(self, int slot, int kind, bint has_content) except -1:
        """``start`` for the root and the tags of a ``kind`` (Meta, Data, Type, ...)."""
        cdef PyObject* ns
        cdef _Open* element
        cdef _Open* parent
        cdef _Open* grand
        if kind < 0 or self.depth >= self.max_depth:
            raise _GiveUp()
        self.elements += 1
        self.run = 0
        if self.elements > self.max_elements:
            raise _GiveUp()
        element = &self.open[self.depth]
        element[0] = _OPEN_BLANK  # one store: every field but kind
        element.kind = kind
        if self.depth:
            parent = &self.open[self.depth - 1]
            if parent.capturing:
                raise _GiveUp()  # an element inside a MetInf Type
            parent.pending = False
            if kind == 2 and not parent.meta_seen:  # K_META
                parent.meta_seen = True
                element.first_meta = True
            if has_content and kind == 1:  # K_DATA
                if self.depth >= 2:
                    grand = &self.open[self.depth - 2]
                    element.cls = wtext.data_class_c(parent.type_code, grand.type_code,
                                                     grand.kind)
                else:
                    element.cls = wtext.data_class_c(parent.type_code, 0, 0)
        if has_content and kind == 4:  # K_TYPE
            element.capturing = True
            self.capture.len = 0
        self.depth += 1
        if not has_content:
            self.pending_end = True
        self.slot = slot
        self.code = self.tags.name_code[slot]
        ns = PyTuple_GET_ITEM(self.tags.ns, slot >> 6)
        if <PyObject*>self.sc.ns_uri != ns:
            self.sc.ns_uri = <object>ns
        return EVENT_START

    cdef void name_fields(self) noexcept:
        """The current start tag's name into the scanner's ``local_ptr`` / ``local_len`` (as
        the XML scanner sets them): only serializing markup and unknown MetInf children read
        them, so ``start`` keeps just the slot."""
        self.sc.local_ptr = self.tags.name_ptr[self.slot]
        self.sc.local_len = self.tags.name_len[self.slot]

    cdef int end_token(self) except -1:
        """END: the end event, after the text of a MetInf Type (rewritten, as the hub does)."""
        cdef _Open* element = &self.open[self.depth - 1]
        cdef const unsigned char* text
        cdef Py_ssize_t n
        if not element.capturing:
            return self.close()
        element.capturing = False
        text = self.capture.data
        n = self.capture.len
        if self.depth >= 3 and self.open[self.depth - 2].first_meta \
                and not self.open[self.depth - 2].type_seen:
            self.open[self.depth - 2].type_seen = True
            self.open[self.depth - 3].type_code = wtext.classify_type_c(<const char*>text, n)
        if n == 0:
            return self.close()
        if n >= _MAX_FAST_TEXT:
            raise _GiveUp()
        text = _type_as_xml(text, &n, self.tags.rewrite)
        self.sc.text_ptr = text
        self.sc.text_len = n
        self.pending_end = True
        return EVENT_TEXT

    cdef inline int close(self) except -1:
        self.run = 0
        self.depth -= 1
        if self.depth == self.doc.base:
            if self.doc.base == 0:
                self.root_done = True
            else:
                # A nested document ends with its root: what follows is the outer one's.
                if self.pos != self.doc.end:
                    raise _GiveUp()
                self.doc = self.outer
                self.tags = self.outer_tags
                self.nested_open = False
        return EVENT_END

    cdef int leaf_text(self) except -1:
        """Right after a START event: when the element's content is one STR_I of XML text
        (not empty, not CDATA, not captured) and then its END, take both events at once -
        the text fields as ``content`` sets them, the state as ``close`` leaves it - and
        return 1. Else 0, nothing consumed (next_event gives the events, or gives up)."""
        cdef Py_ssize_t stop
        cdef _Open* top = self.leaf_open(False)
        if top == NULL:
            return 0
        stop = find1(self.p, self.pos + 1, self.doc.end, 0)
        return stop >= 0 and self.leaf_take(top, stop, True)

    cdef inline _Open* leaf_open(self, bint capture_ok) noexcept:
        """The open element whose content a leaf fast path may take - it starts with a
        STR_I, is not CDATA, and is not captured unless ``capture_ok`` - or NULL."""
        cdef Py_ssize_t pos = self.pos
        cdef _Open* top
        if (self.pending_end or pos >= self.doc.end or self.p[pos] != 0x03
                or self.depth - 1 <= self.doc.base):
            return NULL
        top = &self.open[self.depth - 1]
        if (top.capturing and not capture_ok) or top.cls == 1:
            return NULL
        return top

    cdef Py_ssize_t leaf_type(self, Py_ssize_t n) noexcept:
        """After ``leaf_take`` of a captured MetInf Type (its text in text_ptr / text_len, its
        element closed): what ``end_token`` does with the text - the enclosing command's
        Data class, the Type back-rewrite - without the capture buffer. The text's length."""
        cdef const unsigned char* text = self.sc.text_ptr
        cdef _Open* meta = &self.open[self.depth - 1]  # the Type's parent (depth is closed)
        if self.depth >= 2 and meta.first_meta and not meta.type_seen:
            meta.type_seen = True
            self.open[self.depth - 2].type_code = wtext.classify_type_c(<const char*>text, n)
        self.sc.text_ptr = _type_as_xml(text, &n, self.tags.rewrite)
        self.sc.text_len = n
        return n

    cdef inline bint leaf_take(self, _Open* top, Py_ssize_t stop, bint check) noexcept:
        """Take the STR_I at ``self.pos`` (its NUL at ``stop``) and the END after it as one
        step - the text fields as ``content`` sets them, the state as ``close`` leaves it -
        when the text is not empty, within the limits and (``check``) XML text; False:
        nothing read. Both leaf fast paths end here."""
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t pos = self.pos, n = stop - pos - 1
        if (n == 0 or n > self.max_opaque or stop + 1 >= self.doc.end or p[stop + 1] != 0x01
                or self.run + n >= _MAX_FAST_TEXT):
            return False
        if check and not _xml_text_ok(p + pos + 1, n):
            return False
        self.sc.text_ptr = p + pos + 1
        self.sc.text_len = n
        top.pending = False
        self.pos = stop + 2
        self.run = 0
        self.depth -= 1
        return True

    cdef int content(self, unsigned char tok) except -1:
        """A STR_I, STR_T, ENTITY or OPAQUE: its event, or 0 when it yields none."""
        cdef _Open* top = &self.open[self.depth - 1]
        cdef Py_ssize_t end = self.doc.end, pos = self.pos, stop, length, code
        cdef bint opaque_text = False
        if tok == 0x03:  # STR_I
            stop = find1(self.p, pos, end, 0)
            if stop < 0 or stop - pos > self.max_opaque:
                raise _GiveUp()
            self.sc.text_ptr = self.p + pos
            self.sc.text_len = stop - pos
            self.pos = stop + 1
        elif tok == 0x83:  # STR_T
            self.table_string(self.mb(end))
        elif tok == 0x02:  # ENTITY
            code = self.mb(end)
            if not (code == 0x9 or code == 0xA or code == 0xD or 0x20 <= code <= 0xD7FF
                    or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF):
                raise _GiveUp()
            self.sc.text_len = wtext.encode_utf8(<uint32_t>code, self.entity)
            self.sc.text_ptr = self.entity
            opaque_text = True  # already checked
        else:  # OPAQUE
            length = self.mb(end)
            pos = self.pos
            if length > end - pos or length > self.max_opaque:
                raise _GiveUp()
            self.pos = pos + length
            if (self.pos + 1 < end and self.p[self.pos] == 0x03
                    and self.p[self.pos + 1] == 0):
                raise _GiveUp()  # maybe markup carried as its text: the hub decides
            if top.kind == 5:  # K_NEXTNONCE: base64, as libwbxml writes it
                self.hold = b64encode(self.data[pos:pos + length])
                self.sc.text_ptr = <const unsigned char*>(<char*>self.hold)
                self.sc.text_len = len(self.hold)
                opaque_text = True
            elif length and (top.cls == 2 or top.cls == 3):  # C_NEST_DEVINF / DMTNDS
                return self.nested(top.cls, pos, pos + length)
            else:
                self.sc.text_ptr = self.p + pos
                self.sc.text_len = length
                if not _xml_text_ok(self.p + pos, length):
                    return self.binary(top)
                opaque_text = True
        if not opaque_text and not _xml_text_ok(self.sc.text_ptr, self.sc.text_len):
            raise _GiveUp()
        if self.sc.text_len == 0:
            return 0
        if top.capturing:
            buf_add(&self.capture, self.sc.text_ptr, self.sc.text_len)
            return 0
        top.pending = False
        if top.cls == 1 and self.sc.text_len > _GUARD_MAX_TAG and find1(
                self.sc.text_ptr, 0, self.sc.text_len, 0x3C) >= 0:  # C_CDATA
            raise _GiveUp()  # the guard's tag_too_long would see '<' in the CDATA
        self.run += self.sc.text_len
        if self.run >= _MAX_FAST_TEXT:
            raise _GiveUp()
        return EVENT_CDATA if top.cls == 1 else EVENT_TEXT

    cdef int binary(self, _Open* top) except -1:
        """OPAQUE bytes that are not XML text: only an element's whole content (the hub's
        base64 marker); anywhere else wbxml_to_xml refuses them."""
        if (not top.pending or top.capturing or self.pos >= self.doc.end
                or self.p[self.pos] != 0x01):
            raise _GiveUp()
        top.pending = False
        if (self.sc.text_len + 2) // 3 * 4 >= _MAX_FAST_TEXT:  # the hub's base64 text
            raise _GiveUp()
        return EVENT_OPAQUE

    cdef int nested(self, int cls, Py_ssize_t start, Py_ssize_t end) except -1:
        """A nested document inside a Data's OPAQUE: its elements follow as events."""
        cdef _Doc outer = self.doc
        cdef _Tags tags
        if self.nested_open:
            raise _GiveUp()
        tags = self.header(start, end, self.depth)
        if tags.lang_kind != (LANG_DEVINF if cls == 2 else LANG_MGMTTREE):
            raise _GiveUp()  # the hub writes it as text instead
        self.outer = outer
        self.outer_tags = self.tags
        self.tags = tags
        self.nested_open = True
        return 0
