# The recursive-descent builder (included by _fast_c.pyx): the compiled twin of
# omadm_codec/messages/_fast_py/build.py's _Build, method for method, on the scanner's C fields.

cdef Py_ssize_t _NODE_LIMIT = share.MAX_FAST_TEXT


cdef object _ver_proto_ok = None  # the last VerProto (a str) that matched VER_PROTO


cdef inline bint _is_indent(unsigned char c) noexcept:
    return c == 0x20 or c == 0x0A or c == 0x09


cdef int _give_up() except -1:
    """Out of line, so that the inline event path stays small."""
    raise _GiveUp()


cdef int _switch() except -1:
    _switch_point()
    return 0


cdef void _remember_ver_proto(object value):
    global _ver_proto_ok
    _ver_proto_ok = value


# The value rules both builders (_Build, and _TokenBuild in token_build.pxi) apply to a leaf's
# text (``plain``: _plain holds for it).

cdef inline str _token_ok(str text, bint plain):
    """A token: no surrounding whitespace."""
    if not plain and text.strip() != text:
        _give_up()
    return text


cdef inline str _ident_ok(str value, bint plain, bint allow_empty):
    """An ID (``share.good_id``); a plain one of at most 256 characters needs no regex."""
    if not plain and value.strip() != value:
        _give_up()
    if plain and value and len(value) <= 256:
        return value
    if not share.good_id(value, allow_empty):
        _give_up()
    return value


cdef object _number_of(str value):
    """A decimal code or size: ASCII digits, at most 10 (``share.is_number``)."""
    cdef Py_UCS4 ch
    cdef long long result = 0
    if not value or len(value) > 10:
        _give_up()
    for ch in value:
        if ch < 0x30 or ch > 0x39:
            _give_up()
        result = result * 10 + (<long long>ch - 48)
    if result < 4096:
        return _SMALL_INTS[result]
    return result


cdef object _header_of(object ver_dtd, object ver_proto, object session_id, object msg_id,
                       object target, object source, object resp_uri, bint no_resp,
                       object cred, object meta):
    """The SyncHdr of a header's children, read: its required ones there, its versions
    known."""
    if (ver_dtd is None or ver_proto is None or session_id is None or msg_id is None
            or target is None or source is None):
        _give_up()
    if ver_dtd not in VERSIONS:
        _give_up()
    if ver_proto is not _ver_proto_ok:  # a cached leaf: the regex runs once for it
        if VER_PROTO.fullmatch(ver_proto) is None:
            _give_up()
        _remember_ver_proto(ver_proto)
    return _SYNC_HDR.make10(session_id, msg_id, target, source, ver_dtd, ver_proto,
                           resp_uri, no_resp, cred, meta)


cdef inline void _put_short(unsigned char* d, const unsigned char* s, Py_ssize_t n) noexcept:
    """``n`` bytes (at most 16) from ``s`` to ``d``: fixed-size moves the compiler inlines, where
    ``memcpy`` of a variable length is a call - tag names are a few bytes."""
    if n >= 8:
        memcpy(d, s, 8)
        memcpy(d + n - 8, s + n - 8, 8)
    elif n >= 4:
        memcpy(d, s, 4)
        memcpy(d + n - 4, s + n - 4, 4)
    else:
        while n > 0:
            n -= 1
            d[n] = s[n]


cdef inline int _tag_into(Buf* out, const unsigned char* name, Py_ssize_t n,
                          bint closing) except -1:
    """``<name`` or (``closing``) ``</name>`` into ``out``."""
    cdef unsigned char* d
    if n > 16:
        buf_add(out, <const unsigned char*>b"</", 2 if closing else 1)
        buf_add(out, name, n)
        if closing:
            buf_byte(out, 0x3E)
        return 0
    if out.len + n + 3 > out.cap:
        buf_grow(out, n + 3)
    d = out.data + out.len
    d[0] = 0x3C
    if closing:
        d[1] = 0x2F
        _put_short(d + 2, name, n)
        d[n + 2] = 0x3E
        out.len += n + 3
    else:
        _put_short(d + 1, name, n)
        out.len += n + 1
    return 0


@cython.final
cdef class _Build:
    cdef Scanner sc
    cdef _WbxmlEvents wb   # the event source when ``wbxml`` (it fills ``sc``'s fields)
    cdef bint wbxml
    cdef const unsigned char* p
    cdef Py_ssize_t end, max_depth, max_opaque
    cdef bint from_wbxml
    cdef object ns
    cdef object hint  # set by data() and opaque(): the DataHint of the value returned
    cdef Buf mark   # embedded markup being serialized (Data, unknown MetInf children)
    cdef Buf run    # the text run of the element being serialized
    # XML source: text and CDATA bytes since the last tag. libxml2 makes one node of at most
    # this much, and refuses a node of MAX_FAST_TEXT bytes (without huge_tree).
    cdef Py_ssize_t text_run
    cdef bint plain  # set by leaf(): its text is printable ASCII without spaces
    cdef unsigned int steps  # events read, for the switch point (kept across calls)

    def __dealloc__(self):
        free(self.mark.data)
        free(self.run.data)

    # --- events --------------------------------------------------------------------------

    cdef inline int one_step(self) except -1:
        """``next_ev``'s count of one event read by a shortcut."""
        self.steps += 1
        if (self.steps & (HANDOFF_EVERY - 1)) == 0:
            _switch()  # a large message: other threads run now and then (_handoff.pxd)
        return 0

    cdef inline int two_steps(self) except -1:
        """``next_ev``'s count of two events (a text and its end) read in one step."""
        self.steps += 2
        if (self.steps & (HANDOFF_EVERY - 1)) <= 1:  # one of the two reached the mark
            _switch()
        return 0

    cdef inline int next_ev(self) except -1:
        cdef int ev
        self.one_step()
        if self.wbxml:
            return self.wb.next_event()  # the token source keeps its own count
        ev = self.sc.next_event()
        if ev == EVENT_TEXT or ev == EVENT_CDATA:
            self.text_run += self.sc.text_len
            if self.text_run >= _NODE_LIMIT:
                _give_up()  # libxml2 would refuse the node: the reference path reports
        else:
            self.text_run = 0
        return ev

    cdef inline int code(self) noexcept:
        """The code of the current start tag's local name (N_OTHER if not one of ours)."""
        if self.wbxml:
            return self.wb.code
        cdef Scanner sc = self.sc
        cdef unsigned int h = sc.local_hash
        cdef unsigned int slot = h % SLOTS
        cdef int code
        while True:
            code = _slot_code[slot]
            if code == 0:
                return N_OTHER
            if (_slot_hash[slot] == h and _name_len[code] == sc.local_len
                    and _same(_name_ptr[code], sc.local_ptr, sc.local_len)):
                return code
            slot = (slot + 1) % SLOTS

    cdef inline int start_ok(self) except -1:
        """The current start tag has no attribute but maybe ``xmlns="..."``, and no prefix:
        the usual ``<Name>`` here, anything else in ``start_ok_general``."""
        cdef Py_ssize_t i
        if self.wbxml:
            return 0  # a token start tag: no attributes (the source gives up on them)
        i = self.sc.offset + 1 + self.sc.local_len
        if i < self.end and (self.p[i] == 0x3E or self.p[i] == 0x2F):
            return 0  # '>' or '/>': the name was the whole qname
        return self.start_ok_general()

    cdef int start_ok_general(self) except -1:
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t end = self.end
        cdef Py_ssize_t i = self.sc.offset + 1 + self.sc.local_len
        cdef unsigned char c, quote
        if i >= end:
            raise _GiveUp()
        c = p[i]
        if c == 0x3E or c == 0x2F:  # '>' or '/>': the name was the whole qname
            return 0
        if not _is_ws(c):
            raise _GiveUp()  # a prefix: the local name is not the whole qname
        while i < end and _is_ws(p[i]):
            i += 1
        if i < end and (p[i] == 0x3E or p[i] == 0x2F):
            return 0
        if i + 5 > end or memcmp(p + i, b"xmlns", 5) != 0:
            raise _GiveUp()
        i += 5
        while i < end and _is_ws(p[i]):
            i += 1
        if i >= end or p[i] != 0x3D:
            raise _GiveUp()
        i += 1
        while i < end and _is_ws(p[i]):
            i += 1
        if i >= end or (p[i] != 0x22 and p[i] != 0x27):
            raise _GiveUp()
        quote = p[i]
        i = _ns_uri_end(p, i + 1, end)
        if i >= end or p[i] != quote:
            raise _GiveUp()
        i += 1
        while i < end and _is_ws(p[i]):
            i += 1
        if i < end and (p[i] == 0x3E or p[i] == 0x2F):
            return 0
        raise _GiveUp()

    cdef inline int skip_blank(self) except -1:
        """The current TEXT event is whitespace as ``str.isspace`` sees it, or give up."""
        cdef const unsigned char* t = self.sc.text_ptr
        cdef Py_ssize_t i
        for i in range(self.sc.text_len):
            if not _is_ws(t[i]):
                return self.skip_blank_general()
        return 0

    cdef inline void skip_indent(self) noexcept:
        """XML: step the scanner past indentation (space, TAB, LF) up to the next tag, where
        its next events would be that blank text (which ``child`` skips) and the tag. Only
        a run the scanner would pass: inside an element, before '<' that starts a start or
        end tag (a comment, PI or CDATA would join the run), within the text limits."""
        cdef Scanner sc = self.sc
        cdef Py_ssize_t i = sc.pos, j, end = self.end
        cdef const unsigned char* p = self.p
        if i >= end or not _is_indent(p[i]) or sc.pending_end or sc.depth == 0:
            return
        j = omadm_skip_indent(p, i, end)
        if (j + 1 < end and p[j] == 0x3C and p[j + 1] != 0x21 and p[j + 1] != 0x3F
                and j - i <= sc.max_text and j - i < _NODE_LIMIT):
            sc.pos = j

    cdef int skip_blank_general(self) except -1:
        """``skip_blank`` past ASCII whitespace: other Unicode spaces pass, the rest gives up."""
        if not _str(self.sc.text_ptr, self.sc.text_len).isspace():
            raise _GiveUp()
        return 0

    cdef int child(self) except -2:
        """The code of the next child element (in the root namespace), or -1 at the parent's
        end; whitespace between elements is skipped, other text gives up."""
        cdef int ev
        if self.wbxml:
            ev = self.wb.quick_event()
            if ev:
                self.one_step()
                if ev == EVENT_END:
                    return -1
                if self.sc.ns_uri is not self.ns and self.sc.ns_uri != self.ns:
                    raise _GiveUp()
                return self.wb.code
        elif self.sc.pos < self.end and _is_indent(self.p[self.sc.pos]):
            self.skip_indent()
        while True:
            ev = self.next_ev()
            if ev == EVENT_START:
                if not self.wbxml:
                    self.start_ok()
                if self.sc.ns_uri is not self.ns and self.sc.ns_uri != self.ns:
                    raise _GiveUp()
                return self.code()
            if ev == EVENT_END:
                return -1
            if ev != EVENT_TEXT:
                raise _GiveUp()
            self.skip_blank()

    cdef int meta_child(self) except -2:
        """Like ``child`` in any namespace (the caller reads ``self.sc.ns_uri``)."""
        cdef int ev
        if self.wbxml:
            ev = self.wb.quick_event()
            if ev:
                self.one_step()
                return -1 if ev == EVENT_END else self.wb.code
        elif self.sc.pos < self.end and _is_indent(self.p[self.sc.pos]):
            self.skip_indent()
        while True:
            ev = self.next_ev()
            if ev == EVENT_START:
                if not self.wbxml:
                    self.start_ok()
                return self.code()
            if ev == EVENT_END:
                return -1
            if ev != EVENT_TEXT:
                raise _GiveUp()
            self.skip_blank()

    cdef str leaf(self, bint cache=True):
        """The element's text (``self.plain``: whether ``_plain`` holds for it); ``cache``
        as ``_leaf_str`` takes it."""
        cdef int ev
        cdef str text
        cdef Py_ssize_t n
        cdef bint spaced
        if self.wbxml:
            n = self.wb.leaf_ascii(&spaced)
            if n:
                self.two_steps()
                return _leaf_ascii(self.sc.text_ptr, n, not spaced, cache, &self.plain)
        if self.leaf_fast():
            return _leaf_str(self.sc.text_ptr, self.sc.text_len, cache, &self.plain)
        ev = self.next_ev()
        if ev == EVENT_END:
            self.plain = True
            return ""
        if ev != EVENT_TEXT and ev != EVENT_CDATA:
            raise _GiveUp()
        text = _leaf_str(self.sc.text_ptr, self.sc.text_len, cache, &self.plain)
        ev = self.next_ev()
        if ev == EVENT_END:
            return text
        while True:  # more than one text node: rare
            if ev != EVENT_TEXT and ev != EVENT_CDATA:
                raise _GiveUp()
            text += _str(self.sc.text_ptr, self.sc.text_len)
            ev = self.next_ev()
            if ev == EVENT_END:
                self.plain = _plain(text)
                return text

    cdef inline bint leaf_fast(self) except -1:
        """``Scanner.leaf_text`` or ``_WbxmlEvents.leaf_text`` - the element's one text run
        and its end as one step - with ``next_ev``'s bookkeeping for the two events; False:
        nothing read."""
        if self.wbxml:
            if not self.wb.leaf_text():
                return False
        elif not self.sc.leaf_text():
            return False
        self.two_steps()  # the TEXT and the END event
        if not self.wbxml:
            if self.text_run + self.sc.text_len >= _NODE_LIMIT:
                _give_up()  # as next_ev for the TEXT event
            self.text_run = 0  # as next_ev for the END event
        return True

    cdef str token(self):
        return _token_ok(self.leaf(), self.plain)

    cdef str ident(self, bint allow_empty=False):
        return _ident_ok(self.leaf(), self.plain, allow_empty)

    cdef bint flag(self) except -1:
        if self.leaf().strip():
            raise _GiveUp()
        return True

    cdef object number(self):
        return _number_of(self.token())

    cdef inline int rank(self, int* ranks, int code, int last) except -1:
        cdef int r = ranks[code]  # ranks[N_OTHER] is COMMAND_RANK (_fill)
        if r < last:
            _give_up()
        return r

    # --- embedded markup -------------------------------------------------------------------

    cdef int serialize(self, object ns, object parent_ns, int depth) except -1:
        """Canonical XML of the element just started (as ``_reader.serialize`` writes it),
        appended to ``self.mark``; text runs gather in ``self.run`` (empty between calls)."""
        cdef Scanner sc = self.sc
        cdef Buf* out = &self.mark
        cdef int ev
        cdef bint kids = False
        if self.wbxml:
            self.wb.name_fields()
        # start_ok vouched that the local name is the whole qname (XML: it points into the
        # input; WBXML: into the language's tag table): stable across the events below.
        cdef const unsigned char* name_ptr = sc.local_ptr
        cdef Py_ssize_t name_len = sc.local_len, i
        if depth > self.max_depth or name_len > 256:
            raise _GiveUp()
        for i in range(name_len):
            if name_ptr[i] >= 0x80:
                raise _GiveUp()  # libxml2 checks the Unicode name classes; the scanner not
        self.open_markup(name_ptr, name_len, ns, parent_ns)
        while True:
            ev = self.next_ev()
            if ev == EVENT_TEXT or ev == EVENT_CDATA:
                buf_add(&self.run, sc.text_ptr, sc.text_len)
                continue
            if ev == EVENT_START:
                if not self.wbxml:
                    self.start_ok()
                if not kids:
                    buf_byte(out, 0x3E)
                    kids = True
                self.flush_run(False)
                self.serialize(sc.ns_uri, ns, depth + 1)
            elif ev == EVENT_END:
                return self.close_markup(name_ptr, name_len, kids)
            else:
                raise _GiveUp()

    cdef int open_markup(self, const unsigned char* name, Py_ssize_t n, object ns,
                         object parent_ns) except -1:
        """``<name`` into ``self.mark``, with an xmlns where ``ns`` is not ``parent_ns``."""
        cdef Buf* out = &self.mark
        _tag_into(out, name, n, False)
        if ns is not parent_ns and ns != parent_ns:
            # Only share.NS_URI values get here (start_ok, the tag tables): nothing to escape.
            if not ns:
                buf_add(out, <const unsigned char*>b' xmlns=""', 9)
            else:
                buf_add(out, <const unsigned char*>b' xmlns="', 8)
                buf_add(out, <const unsigned char*>(<char*><bytes>ns), len(<bytes>ns))
                buf_byte(out, 0x22)
        return 0

    cdef int close_markup(self, const unsigned char* name, Py_ssize_t n, bint kids) except -1:
        """The end of the element ``open_markup`` began, its gathered text run flushed: after
        children, the run unless blank and ``</name>``; else ``>``, the run and ``</name>``,
        or ``/>`` when there is no text."""
        if kids:
            if self.run.len:
                self.flush_run(False)
            return _tag_into(&self.mark, name, n, True)
        if self.run.len:
            buf_byte(&self.mark, 0x3E)
            self.flush_run(True)
            return _tag_into(&self.mark, name, n, True)
        return buf_add(&self.mark, <const unsigned char*>b"/>", 2)

    cdef int flush_run(self, bint keep_blank) except -1:
        """The gathered text run into ``self.mark``, escaped; a whitespace-only run (as
        ``str.isspace`` sees it) is dropped unless ``keep_blank``."""
        cdef Py_ssize_t i, n = self.run.len
        cdef bint blank = True
        if n == 0:
            return 0
        self.run.len = 0
        if not keep_blank:
            for i in range(n):
                if not _is_ws(self.run.data[i]):
                    blank = False
                    break
            if not blank and _str(self.run.data, n).isspace():
                blank = True
            if blank:
                return 0
        return _esc_into(&self.mark, self.run.data, n)

    cdef int mark_text(self, str text) except -1:
        """Text of ``<Data>`` around embedded elements, as ``_reader.data`` keeps it."""
        cdef bytes raw
        if text and not text.isspace():
            raw = text.encode("utf-8")
            _esc_into(&self.mark, <const unsigned char*>(<char*>raw), len(raw))
        return 0

    # --- Meta, Item, Data --------------------------------------------------------------------

    cdef object meta(self):
        cdef Scanner sc = self.sc
        cdef int code
        cdef unsigned long long seen = 0, bit
        cdef object ns
        cdef bint field_level = False
        cdef list emi = [], extra = []
        cdef dict parts
        fmt = type_ = mark = size = anchor = version = next_nonce = max_msg = max_obj = None
        mem = None
        while True:
            code = self.meta_child()
            if code < 0:
                break
            ns = sc.ns_uri
            if code < N_FieldLevel or code > N_Mem or (ns is not METINF_NS and ns != METINF_NS):
                if (N_FieldLevel <= code <= N_Mem and (not ns or ns == self.ns
                                                       or ns.lower().startswith(METINF_NS))):
                    raise _GiveUp()  # quirk "metinf_namespace"
                if self.wbxml:
                    self.wb.name_fields()
                local = _str(sc.local_ptr, sc.local_len)
                self.mark.len = 0
                self.serialize(ns, self.ns, 4)
                extra.append(_META_EXTRA.make2(local, _str(self.mark.data, self.mark.len)))
                continue
            if code != N_EMI:
                bit = 1ULL << (code - N_FieldLevel)
                if seen & bit:
                    raise _GiveUp()
                seen |= bit
            # Each MetInf element at most once (``seen``), EMI repeated: the model's fields.
            if code == N_Format:
                fmt = self.leaf()
            elif code == N_Type:
                type_ = self.leaf()
            elif code == N_Mark:
                mark = self.leaf()
            elif code == N_Size:
                size = self.number()
            elif code == N_MaxMsgSize:
                max_msg = self.number()
            elif code == N_MaxObjSize:
                max_obj = self.number()
            elif code == N_NextNonce:
                next_nonce = self.leaf(False)
            elif code == N_Version:
                version = self.leaf()
            elif code == N_EMI:
                emi.append(self.leaf())
            elif code == N_FieldLevel:
                field_level = self.flag()
            elif code == N_Anchor:
                parts = self.sub_leaves(N_Last, N_Next, N_OTHER)
                if N_Next not in parts:
                    raise _GiveUp()
                anchor = _ANCHOR.make2(parts[N_Next], parts.get(N_Last))
            else:  # Mem
                parts = self.sub_leaves(N_SharedMem, N_FreeMem, N_FreeID)
                if N_FreeMem not in parts or N_FreeID not in parts:
                    raise _GiveUp()
                mem = _MEM.make3(parts[N_FreeMem], parts[N_FreeID], N_SharedMem in parts)
        return _META.make13(field_level, fmt, type_, mark, size, anchor, version, next_nonce,
                            max_msg, max_obj, emi, mem, extra)

    cdef dict sub_leaves(self, int a, int b, int c):
        cdef dict parts = {}
        cdef int code
        while True:
            code = self.meta_child()
            if code < 0:
                return parts
            if code == N_OTHER or (code != a and code != b and code != c) or code in parts:
                raise _GiveUp()
            parts[code] = self.leaf()

    cdef object loc(self, _Shape shape):
        """A Target or Source (``shape``) from LocURI and LocName."""
        cdef int code, last = 0
        uri = name = None
        while True:
            code = self.child()
            if code < 0:
                break
            last = self.rank(R_LOC, code, last)
            if code == N_LocURI and uri is None:
                uri = self.token()
            elif code == N_LocName and name is None:
                name = self.leaf()
            else:
                raise _GiveUp()
        if uri is None:
            raise _GiveUp()
        return shape.make2(uri, name)

    cdef str parent_uri(self):
        cdef int code
        uri = None
        while True:
            code = self.child()
            if code < 0:
                break
            if code != N_LocURI or uri is not None:
                raise _GiveUp()
            uri = self.token()
        if uri is None:
            raise _GiveUp()
        return uri

    cdef object data(self, object fmt):
        """The Data's value; its DataHint in ``self.hint``."""
        cdef int ev
        cdef str text = ""
        cdef bint cdata = False, markup = False
        cdef Py_ssize_t n
        cdef bint spaced
        if self.wbxml:
            n = self.wb.leaf_ascii(&spaced)
            if n:  # as below, the text made without the UTF-8 decoder
                self.two_steps()
                return self.plain_data(_leaf_ascii(self.sc.text_ptr, n, False, False, &spaced),
                                       fmt, False)
        if self.leaf_fast():
            # One text run then the end: the EVENT_END case below, with no CDATA, no markup.
            return self.plain_data(_str(self.sc.text_ptr, self.sc.text_len), fmt, False)
        while True:
            ev = self.next_ev()
            if ev == EVENT_TEXT or ev == EVENT_CDATA:
                if ev == EVENT_CDATA:
                    cdata = True
                if len(text) == 0:
                    text = _str(self.sc.text_ptr, self.sc.text_len)
                else:
                    text += _str(self.sc.text_ptr, self.sc.text_len)
                continue
            if ev == EVENT_OPAQUE:
                return self.opaque(fmt)
            if ev == EVENT_START:
                if not self.wbxml:
                    self.start_ok()
                if not markup:
                    markup = True
                    self.mark.len = 0
                self.mark_text(text)
                text = ""
                self.serialize(self.sc.ns_uri, self.ns, 6)
            elif ev == EVENT_END:
                if markup:
                    self.mark_text(text)
                    self.hint = _MARKUP
                    return _XML_DOCUMENT.make1(_str(self.mark.data, self.mark.len))
                return self.plain_data(text, fmt, cdata)
            else:
                raise _GiveUp()

    cdef inline object plain_data(self, str text, object fmt, bint cdata):
        """A Data of text alone (no markup): its value, its hint in ``self.hint``."""
        if len(text) > self.max_opaque:
            raise _GiveUp()
        if self.from_wbxml and fmt is not None and fmt == "bin":
            # wbxml_to_xml writes OPAQUE that happens to be UTF-8 as text: under
            # Format bin it is the bytes that were sent (as _reader does).
            self.hint = _OPAQUE
            return text.encode("utf-8")
        self.hint = _CDATA if cdata and text else _TEXT
        return text

    cdef object opaque(self, object fmt):
        """Binary OPAQUE, the whole content of the Data (the token source checked that): the
        reference reader's value for the XML hub's base64 marker."""
        cdef bytes raw = (<const char*>self.sc.text_ptr)[:self.sc.text_len]
        if self.next_ev() != EVENT_END:
            raise _GiveUp()
        self.hint = _OPAQUE
        if fmt != "bin":
            # OPAQUE is bytes only when it is binary: libwbxml writes text Data as OPAQUE.
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                pass
        return raw

    cdef object item(self, object command_meta):
        cdef int code, last = 0
        cdef bint more_data = False, seen_data = False
        target = source = meta = data = hint = source_parent = target_parent = None
        while True:
            code = self.child()
            if code < 0:
                break
            last = self.rank(R_ITEM, code, last)
            if code == N_Target and target is None:
                target = self.loc(_TARGET)
            elif code == N_Source and source is None:
                source = self.loc(_SOURCE)
            elif code == N_SourceParent and source_parent is None:
                source_parent = self.parent_uri()
            elif code == N_TargetParent and target_parent is None:
                target_parent = self.parent_uri()
            elif code == N_Meta and meta is None:
                meta = self.meta()
            elif code == N_Data and not seen_data:
                seen_data = True
                use = meta if meta is not None and _META.get(meta, 1) else command_meta
                data = self.data(_META.get(use, 1) if use is not None else None)
                hint = self.hint
            elif code == N_MoreData:
                more_data = self.flag()
            else:
                raise _GiveUp()
        return _ITEM.make8(target, source, source_parent, target_parent, meta, data, more_data,
                            hint)

    # --- commands ------------------------------------------------------------------------------

    cdef object item_command(self, int kind):
        cdef int code, last = 0
        cdef bint no_resp = False
        cdef list items = []
        cmd_id = meta = None
        while True:
            code = self.child()
            if code < 0:
                break
            last = self.rank(R_ITEM_COMMAND, code, last)
            if code == N_CmdID and cmd_id is None:
                cmd_id = self.ident()
            elif code == N_NoResp:
                no_resp = self.flag()
            elif code == N_Meta and meta is None:
                meta = self.meta()
            elif code == N_Item:
                items.append(self.item(meta))
            else:
                raise _GiveUp()
        if cmd_id is None or not items:
            raise _GiveUp()
        return (<_Shape>ITEM_SHAPES[kind]).make4(cmd_id, items, meta, no_resp)

    cdef object alert(self):
        cdef int code, last = 0
        cdef bint no_resp = False
        cdef list items = []
        cmd_id = value = correlator = None
        while True:
            code = self.child()
            if code < 0:
                break
            last = self.rank(R_ALERT, code, last)
            if code == N_CmdID and cmd_id is None:
                cmd_id = self.ident()
            elif code == N_NoResp:
                no_resp = self.flag()
            elif code == N_Data and value is None:
                value = self.number()  # an empty <Data/> is the quirk "empty_data"
            elif code == N_Correlator and correlator is None:
                correlator = self.token()
            elif code == N_Item:
                items.append(self.item(None))
            else:
                raise _GiveUp()
        if cmd_id is None:
            raise _GiveUp()
        return _ALERT.make5(cmd_id, value, correlator, items, no_resp)

    cdef object exec_(self):
        cdef int code, last = 0
        cdef bint no_resp = False
        cdef list items = []
        cmd_id = meta = correlator = None
        while True:
            code = self.child()
            if code < 0:
                break
            last = self.rank(R_EXEC, code, last)
            if code == N_CmdID and cmd_id is None:
                cmd_id = self.ident()
            elif code == N_NoResp:
                no_resp = self.flag()
            elif code == N_Meta and meta is None:
                meta = self.meta()
            elif code == N_Correlator and correlator is None:
                correlator = self.token()
            elif code == N_Item:
                items.append(self.item(meta))
            else:
                raise _GiveUp()
        if cmd_id is None or not items:
            raise _GiveUp()
        return _EXEC.make5(cmd_id, items, meta, correlator, no_resp)

    cdef object status(self):
        cdef int code, last = 0
        cdef bint no_resp = False
        cdef list items = [], target_refs = [], source_refs = []
        cmd_id = msg_ref = cmd_ref = cmd = value = chal = None
        while True:
            code = self.child()
            if code < 0:
                break
            last = self.rank(R_STATUS, code, last)
            if code == N_CmdID and cmd_id is None:
                cmd_id = self.ident()
            elif code == N_MsgRef and msg_ref is None:
                msg_ref = self.ident()
            elif code == N_CmdRef and cmd_ref is None:
                cmd_ref = self.ident(True)
            elif code == N_Cmd and cmd is None:
                cmd = self.token()
            elif code == N_TargetRef:
                target_refs.append(self.token())
            elif code == N_SourceRef:
                source_refs.append(self.token())
            elif code == N_Chal and chal is None:
                chal = self.chal()
            elif code == N_Data and value is None:
                value = self.number()
                if not STATUS_MIN <= value <= STATUS_MAX:
                    raise _GiveUp()  # the quirk status_code_range: the reference reader's
            elif code == N_NoResp:
                no_resp = self.flag()
            elif code == N_Item:
                items.append(self.item(None))
            else:
                raise _GiveUp()
        if cmd_id is None or msg_ref is None or cmd_ref is None or cmd is None or value is None:
            raise _GiveUp()
        return _STATUS.make10(cmd_id, msg_ref, cmd_ref, cmd, value, target_refs, source_refs,
                             chal, items, no_resp)

    cdef object results(self):
        cdef int code, last = 0
        cdef bint no_resp = False
        cdef list items = []
        cmd_id = msg_ref = cmd_ref = meta = target_ref = source_ref = None
        while True:
            code = self.child()
            if code < 0:
                break
            last = self.rank(R_RESULTS, code, last)
            if code == N_CmdID and cmd_id is None:
                cmd_id = self.ident()
            elif code == N_NoResp:
                no_resp = self.flag()
            elif code == N_MsgRef and msg_ref is None:
                msg_ref = self.ident()
            elif code == N_CmdRef and cmd_ref is None:
                cmd_ref = self.ident(True)
            elif code == N_Meta and meta is None:
                meta = self.meta()
            elif code == N_TargetRef and target_ref is None:
                target_ref = self.token()
            elif code == N_SourceRef and source_ref is None:
                source_ref = self.token()
            elif code == N_Item:
                items.append(self.item(meta))
            else:
                raise _GiveUp()
        if cmd_id is None or cmd_ref is None or not items:
            raise _GiveUp()
        return _RESULTS.make8(cmd_id, cmd_ref, items, msg_ref, meta, target_ref, source_ref,
                              no_resp)

    cdef object container(self, int kind, int depth):
        cdef int code, last = 0
        cdef bint no_resp = False
        cdef list commands = []
        cmd_id = meta = None
        if depth > self.max_depth:
            raise _GiveUp()
        while True:
            code = self.child()
            if code < 0:
                break
            last = self.rank(R_CONTAINER, code, last)
            if code == N_CmdID and cmd_id is None:
                cmd_id = self.ident()
            elif code == N_NoResp:
                no_resp = self.flag()
            elif code == N_Meta and meta is None:
                meta = self.meta()
            else:
                commands.append(self.command(code, depth + 1))
        if cmd_id is None or not commands:
            raise _GiveUp()
        return (_ATOMIC if kind == N_Atomic else _SEQUENCE).make4(cmd_id, commands, meta, no_resp)

    cdef object command(self, int code, int depth):
        if code == N_Status:
            return self.status()
        if code == N_Add or code == N_Copy or code == N_Delete or code == N_Get \
                or code == N_Replace:
            return self.item_command(code)
        if code == N_Alert:
            return self.alert()
        if code == N_Results:
            return self.results()
        if code == N_Exec:
            return self.exec_()
        if code == N_Atomic or code == N_Sequence:
            return self.container(code, depth)
        raise _GiveUp()  # a DS command (quirk) or not a command

    # --- header and message --------------------------------------------------------------------

    cdef object cred(self):
        cdef int code, last = 0
        meta = data = None
        while True:
            code = self.child()
            if code < 0:
                break
            last = self.rank(R_CRED, code, last)
            if code == N_Meta and meta is None:
                meta = self.meta()
            elif code == N_Data and data is None:
                data = self.leaf(False)
            else:
                raise _GiveUp()
        if not data:
            raise _GiveUp()
        return _CRED.make2(data, meta)

    cdef object chal(self):
        cdef int code
        meta = None
        while True:
            code = self.child()
            if code < 0:
                break
            if code != N_Meta or meta is not None:
                raise _GiveUp()
            meta = self.meta()
        if meta is None:
            raise _GiveUp()
        return _CHAL.make1(meta)

    cdef object header(self):
        cdef int code, last = 0
        cdef bint no_resp = False
        ver_dtd = ver_proto = session_id = msg_id = target = source = None
        resp_uri = cred = meta = None
        while True:
            code = self.child()
            if code < 0:
                break
            last = self.rank(R_HDR, code, last)
            if code == N_VerDTD and ver_dtd is None:
                ver_dtd = self.token()
            elif code == N_VerProto and ver_proto is None:
                ver_proto = self.token()
            elif code == N_SessionID and session_id is None:
                session_id = self.ident()
            elif code == N_MsgID and msg_id is None:
                msg_id = self.ident()
            elif code == N_Target and target is None:
                target = self.loc(_TARGET)
            elif code == N_Source and source is None:
                source = self.loc(_SOURCE)
            elif code == N_RespURI and resp_uri is None:
                resp_uri = self.token()
            elif code == N_NoResp:
                no_resp = self.flag()
            elif code == N_Cred and cred is None:
                cred = self.cred()
            elif code == N_Meta and meta is None:
                meta = self.meta()
            else:
                raise _GiveUp()
        return _header_of(ver_dtd, ver_proto, session_id, msg_id, target, source, resp_uri,
                          no_resp, cred, meta)

    cdef object message(self):
        cdef Scanner sc = self.sc
        cdef int ev, code
        cdef bint final = False
        cdef list commands = []
        fpi = None
        while True:
            ev = self.next_ev()
            if ev == EVENT_START:
                break
            if ev == EVENT_DOCTYPE:
                fpi = sc.fpi
                if not share.doctype_ok(fpi, sc.sysid):
                    raise _GiveUp()
            elif ev != EVENT_TEXT:
                raise _GiveUp()
        self.start_ok()
        if self.code() != N_SyncML:
            raise _GiveUp()
        ns_version = NS_VERSION.get(sc.ns_uri)
        if ns_version is None:
            raise _GiveUp()  # no namespace, another case, another namespace
        self.ns = sc.ns_uri
        if self.child() != N_SyncHdr:
            raise _GiveUp()
        hdr = self.header()
        if self.child() != N_SyncBody:
            raise _GiveUp()
        if ns_version != hdr.ver_dtd or (
                fpi is not None and share.doctype_version(fpi) not in (None, hdr.ver_dtd)):
            raise _GiveUp()  # quirk "version_mismatch"
        while True:
            code = self.child()
            if code < 0:
                break
            if final:
                raise _GiveUp()
            if code == N_Final:
                final = self.flag()
            else:
                commands.append(self.command(code, 1))
        if self.child() != -1 or self.next_ev() != EVENT_EOF:
            raise _GiveUp()
        return _MESSAGE.make4(hdr, commands, final, [])
