# The WBXML path's own builder (included by _fast_c.pyx after build.pxi): the content models of
# build.pxi's _Build, read straight from the tokens.
#
# The one idea: _Build on _WbxmlEvents pays for the XML scanner's event shape on every element
# (an open-element stack, a start event, a text event, an end event, each through a call);
# here a tag is one byte and a table look-up, a leaf one run of at most LEAF_SCAN printable
# ASCII bytes (STR_I or OPAQUE), and the builder asks for exactly what its content model
# expects. A Data holding a nested DevInf or TNDS document gets its markup written from the
# document's tokens (nested_markup). An element whose content is anything else (a
# string-table reference, an entity, a longer text, a nested document with any of those, a
# base64 NextNonce) is handed to _Build on the events and comes back (to_events,
# from_events), and so is an unknown MetInf child (kept as markup). Outside the common ground
# (pages other than SyncML and MetInf, a DS command) it raises _GiveUp, and the caller runs
# _Build on the events from the start, whose verdict then stands. Where it vouches it gives
# what _Build gives - the same values, the same leaf-table strings, the same Data hints and
# the same limits (elements, depth, text sizes) - which tests/test_wbxml_token_decode.py
# holds it to on every input.

cdef const char* _NO_TEXT = ""


@cython.final
cdef class _TokenBuild:
    cdef const unsigned char* p
    cdef Py_ssize_t pos, end, elements, max_elements, max_opaque
    cdef int page, depth, max_depth
    cdef _Tags tags
    cdef _Build gen          # takes the elements this reader does not (to_events)
    cdef object ns           # page 0's namespace: the root's
    cdef unsigned int steps  # events as _WbxmlEvents counts them, for the switch point
    # Set by tag(): whether the element has content, its page, its slot.
    cdef bint content
    cdef int tpage, slot
    cdef bint empty  # set by enter() on an element without content: tag() ends it
    # Set by the text readers: _plain holds for the text (leaf) / the Data's hint (data).
    cdef bint plain
    cdef object hint
    # A Meta's first Type, classified (classify_type_c), for the Data class; -1: none.
    cdef int meta_type
    cdef int cls  # the Data class of the Data element about to be read (see item, cred)
    # Set by text(): the element's text in the input (t_len 0: none), whether it has a space.
    cdef const unsigned char* t_ptr
    cdef Py_ssize_t t_len
    cdef bint t_space

    cdef inline int step(self, unsigned int n) except -1:
        """``n`` events read (as _WbxmlEvents counts them), the switch point on the way."""
        self.steps += n
        if (self.steps & (HANDOFF_EVERY - 1)) < n:
            _switch()
        return 0

    cdef inline int tag(self) except -2:
        """The next token as a child: its N_* code (``content``, ``tpage``, ``slot`` set), or
        -1 at the parent's END (the parent closed). Gives up on anything else."""
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t pos = self.pos
        cdef unsigned char tok
        cdef int slot
        if self.empty:  # the end of an element without content (its END counted by tag)
            self.empty = False
            return -1
        if pos >= self.end:
            _give_up()
        tok = p[pos]
        if tok == 0x00:  # SWITCH_PAGE
            if pos + 2 >= self.end:
                _give_up()
            self.page = p[pos + 1]
            pos += 2
            tok = p[pos]
        if tok == 0x01:  # END
            self.pos = pos + 1
            self.depth -= 1
            self.step(1)
            return -1
        if tok & 0x80 or (tok & 0x3F) <= 4 or self.page > 1:
            _give_up()  # attributes, a global token, or a page that is not SyncML or MetInf
        slot = (self.page << 6) | (tok & 0x3F)
        if self.tags.kind[slot] < 0 or self.depth >= self.max_depth:
            _give_up()
        self.elements += 1
        if self.elements > self.max_elements:
            _give_up()
        self.content = tok & 0x40
        self.tpage = self.page
        self.slot = slot
        self.pos = pos + 1
        if self.content:
            self.depth += 1
            self.step(1)
        else:
            self.step(2)  # its START and its END
        return self.tags.name_code[slot]

    cdef inline int child(self) except -2:
        """``tag`` in the root's namespace (page 0), as _Build.child requires."""
        cdef int code = self.tag()
        if code >= 0 and self.tpage != 0:
            _give_up()
        return code

    cdef inline int enter(self) except -1:
        """Into the element just read, to read its children: one without content has none,
        the next ``tag`` says so (as _WbxmlEvents' pending END)."""
        if not self.content:
            self.empty = True
        return 0

    cdef bint text(self, int cls) except -1:
        """The element's content as one text - STR_I or OPAQUE of printable ASCII then END -
        or nothing (an empty element, or its END at once): True, the text in ``t_ptr`` /
        ``t_len`` (0: none), ``t_space`` whether it has a space. False for any other
        content, nothing read: the caller hands the element to _Build (``to_events``).
        ``cls``: the Data class of a Data element (1: CDATA, whose '<' the guard checks)."""
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t pos = self.pos, stop, n, length, i
        cdef unsigned char tok
        cdef bint space = False
        self.t_len = 0
        self.t_space = False
        if not self.content:
            return True
        tok = p[pos]  # pos < end: the parent's END is still to come
        if tok == 0x01:
            self.pos = pos + 1
            self.depth -= 1
            self.step(1)
            return True
        if tok == 0x03:  # STR_I
            # At most LEAF_SCAN bytes here: a longer text (a base64 Data) is _Build's, whose
            # NUL search and checks run on SIMD, not eight bytes a step.
            stop = pos + 1 + (self.max_opaque if self.max_opaque < LEAF_SCAN else LEAF_SCAN) + 1
            if stop > self.end:
                stop = self.end
            i = _printable_run(p, pos + 1, stop, &space)
            if i >= stop or p[i] != 0 or i == pos + 1:
                return False  # another byte, too long, or empty: _Build's events
            n = i - pos - 1
            self.t_ptr = p + pos + 1
            pos = i + 1
        elif tok == 0xC3:  # OPAQUE, where _WbxmlEvents.content makes it plain text
            if self.tags.kind[self.slot] == 5 or cls == 2 or cls == 3:
                return False  # NextNonce (base64) or a nested document
            length = _mb_u_int32(p, pos + 1, self.end, &pos)
            if (length <= 0 or length > self.max_opaque or length > LEAF_SCAN
                    or length >= self.end - pos):
                return False  # a long one is _Build's too (see STR_I)
            if _printable_run(p, pos, pos + length, &space) != pos + length:
                return False
            self.t_ptr = p + pos
            n = length
            pos += length
        else:
            return False
        if pos >= self.end or p[pos] != 0x01 or n >= _MAX_FAST_TEXT:
            return False
        if cls == 1 and n > _GUARD_MAX_TAG and find1(self.t_ptr, 0, n, 0x3C) >= 0:
            return False
        self.t_len = n
        self.t_space = space
        self.pos = pos + 1
        self.depth -= 1
        self.step(2)
        return True

    # --- handing one element to _Build -------------------------------------------------------

    cdef int to_events(self) except -1:
        """Put ``gen``'s token source where this reader is - right after the start tag of an
        element with content (``slot``) - so that a _Build reader takes the element."""
        cdef _WbxmlEvents wb = self.gen.wb
        cdef _Open* top
        wb.pos = self.pos
        wb.doc.page = self.page
        wb.depth = self.depth
        wb.elements = self.elements
        wb.run = 0
        wb.pending_end = False
        wb.slot = self.slot
        wb.code = self.tags.name_code[self.slot]
        top = &wb.open[self.depth - 1]
        top[0] = _OPEN_BLANK
        top.kind = self.tags.kind[self.slot]
        if top.kind == 1:  # K_DATA
            top.cls = self.cls
        self.gen.steps = self.steps
        return 0

    cdef int from_events(self) except -1:
        """After the _Build reader: on from where the token source ended the element."""
        cdef _WbxmlEvents wb = self.gen.wb
        if wb.pending_end or wb.nested_open or wb.depth != self.depth - 1:
            _give_up()
        self.pos = wb.pos
        self.page = wb.doc.page
        self.depth = wb.depth
        self.elements = wb.elements
        self.steps = self.gen.steps
        return 0

    cdef str leaf(self, bint cache=True):
        """``_Build.leaf``: the element's text, ``plain`` set."""
        cdef str text
        if not self.text(self.data_cls()):
            if self.tags.kind[self.slot] == 4:
                _give_up()  # a Type's capture and classification: type_leaf reads it
            self.to_events()
            text = self.gen.leaf(cache)
            self.plain = self.gen.plain
            self.from_events()
            return text
        if self.t_len == 0:
            self.plain = True
            return ""
        return _leaf_ascii(self.t_ptr, self.t_len, not self.t_space, cache, &self.plain)

    cdef inline int data_cls(self) noexcept:
        """0, or for a Data element the class its text needs (set by ``item``/``cred``)."""
        return self.cls if self.tags.kind[self.slot] == 1 else 0

    cdef str token(self):
        return _token_ok(self.leaf(), self.plain)

    cdef str ident(self, bint allow_empty=False):
        return _ident_ok(self.leaf(), self.plain, allow_empty)

    cdef bint flag(self) except -1:
        if self.leaf().strip():
            _give_up()
        return True

    cdef object number(self):
        return _number_of(self.token())

    cdef inline int rank(self, int* ranks, int code, int last) except -1:
        cdef int r = ranks[code]
        if r < last:
            _give_up()
        return r

    cdef object data(self, object fmt):
        """``_Build.data`` for text: the value, its hint in ``self.hint``."""
        cdef str text
        cdef object value
        if not self.text(self.cls):
            if self.cls == 2 or self.cls == 3:  # C_NEST_DEVINF / C_NEST_DMTNDS
                value = self.nested_markup()
                if value is not None:
                    self.hint = _MARKUP
                    return value
            self.to_events()
            value = self.gen.data(fmt)
            self.hint = self.gen.hint
            self.from_events()
            return value
        if self.t_len == 0:
            text = ""
        else:  # as _Build: no leaf table for Data
            text = _leaf_ascii(self.t_ptr, self.t_len, False, False, &self.plain)
        value = self.gen.plain_data(text, fmt, self.cls == 1)  # a CDATA class text: CDATA
        self.hint = self.gen.hint
        return value

    # --- a nested DevInf or TNDS document ----------------------------------------------------

    cdef object nested_markup(self):
        """``_Build.data`` of a Data whose whole content is one OPAQUE holding a WBXML DevInf
        or TNDS document (``cls`` 2 or 3): its canonical XML as ``_Build.serialize`` writes it
        from the events, written here from the tokens. None, nothing read, for anything it
        does not read: the caller hands the Data to _Build (``to_events``), which decides."""
        cdef const unsigned char* p = self.p
        cdef _WbxmlEvents wb = self.gen.wb
        cdef Py_ssize_t pos = self.pos, start, end, length, elements = self.elements
        cdef _Doc outer
        cdef _Tags tags
        cdef Py_ssize_t budget = wb.table_budget
        cdef int page
        cdef unsigned char tok
        cdef unsigned int steps = 0
        if p[pos] != 0xC3:
            return None
        length = _mb_u_int32(p, pos + 1, self.end, &start)
        if length <= 0 or length > self.max_opaque:
            return None
        end = start + length
        if end >= self.end or p[end] != 0x01:
            return None  # more content in the Data than the document
        # The document's header, read as _WbxmlEvents.nested does; the document wb is on and
        # its string-table budget are put back (to_events sets the cursor).
        outer = wb.doc
        try:
            tags = wb.header(start, end, self.depth)
        except _GiveUp:
            return None
        finally:
            wb.doc = outer
            wb.table_budget = budget
        if tags.lang_kind != (LANG_DEVINF if self.cls == 2 else LANG_MGMTTREE):
            return None
        pos = wb.pos
        page = 0
        while pos < end and p[pos] == 0x00:  # SWITCH_PAGE before the root
            if pos + 1 >= end:
                return None
            page = p[pos + 1]
            pos += 2
        if pos >= end:
            return None
        tok = p[pos]
        self.gen.mark.len = 0
        self.gen.run.len = 0
        if not self.nested_element(tags, end, &pos, &page, &elements, &steps, tok, self.ns, 0):
            self.gen.run.len = 0
            return None
        if pos != end:
            return None  # something after the root, in the OPAQUE
        self.elements = elements
        self.pos = end + 1  # the Data's END
        self.depth -= 1
        self.step(steps + 2)  # the Data's text-less content: the OPAQUE, and its END
        return _XML_DOCUMENT.make1(_str(self.gen.mark.data, self.gen.mark.len))

    cdef bint nested_element(self, _Tags tags, Py_ssize_t end, Py_ssize_t* at, int* page_at,
                             Py_ssize_t* elements, unsigned int* steps, unsigned char tok,
                             object parent_ns, int level) except -1:
        """The element whose tag ``tok`` is at ``at[0]`` (at ``level`` in the nested
        document, which ends at ``end``), written to ``gen.mark`` as ``_Build.serialize``
        writes it - text runs gathered in ``gen.run`` and flushed by ``_Build.flush_run`` -
        with the checks the events make on the way (limits, XML text, pages, tags). False:
        not read here (the caller hands the Data to _Build)."""
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t pos = at[0], stop, n, run = 0
        cdef Buf* out = &self.gen.mark
        cdef int slot, page = page_at[0]
        cdef bint kids = False
        cdef object ns
        cdef const unsigned char* name_ptr
        cdef Py_ssize_t name_len
        if tok & 0x80 or (tok & 0x3F) <= 4 or page > 3:
            return False  # attributes, a global token, or no page of a language
        slot = (page << 6) | (tok & 0x3F)
        # As _WbxmlEvents.start: a known tag of no kind (DevInf and DMDDF have none), within
        # the depth (the open elements outside: self.depth) and element limits; as
        # _Build.serialize: within its depth (6 at the Data's child).
        if (tags.kind[slot] != 0 or self.depth + level >= self.max_depth
                or 6 + level > self.max_depth):
            return False
        elements[0] += 1
        if elements[0] > self.max_elements:
            return False
        steps[0] += 1
        # The table's names are ASCII and short (_make_tags): serialize's name checks hold.
        name_ptr = tags.name_ptr[slot]
        name_len = tags.name_len[slot]
        ns = <object>PyTuple_GET_ITEM(tags.ns, page)
        pos += 1
        self.gen.open_markup(name_ptr, name_len, ns, parent_ns)
        if not tok & 0x40:
            buf_add(out, <const unsigned char*>b"/>", 2)
            steps[0] += 1
            at[0] = pos
            return True
        while True:
            if pos >= end:
                return False
            tok = p[pos]
            if tok == 0x00:  # SWITCH_PAGE
                if pos + 1 >= end:
                    return False
                page = p[pos + 1]
                pos += 2
            elif tok == 0x01:  # END
                pos += 1
                steps[0] += 1
                self.gen.close_markup(name_ptr, name_len, kids)
                at[0] = pos
                page_at[0] = page
                return True
            elif tok == 0x03:  # STR_I: as _WbxmlEvents.content
                stop = find1(p, pos + 1, end, 0)
                n = stop - pos - 1
                if stop < 0 or n > self.max_opaque or not _xml_text_ok(p + pos + 1, n):
                    return False
                run += n
                if run >= _MAX_FAST_TEXT:
                    return False
                if n and not kids and run == n and stop + 1 < end and p[stop + 1] == 0x01:
                    # The usual leaf, one text then END: escaped straight into the markup, as
                    # close_markup would write it from the run.
                    buf_byte(out, 0x3E)
                    _esc_into(out, p + pos + 1, n)
                    _tag_into(out, name_ptr, name_len, True)
                    steps[0] += 2
                    at[0] = stop + 2
                    page_at[0] = page
                    return True
                if n:
                    buf_add(&self.gen.run, p + pos + 1, n)
                    steps[0] += 1
                pos = stop + 1
            else:
                if not kids:
                    buf_byte(out, 0x3E)
                    kids = True
                if self.gen.run.len:
                    self.gen.flush_run(False)
                at[0] = pos
                if not self.nested_element(tags, end, at, &page, elements, steps, tok, ns,
                                           level + 1):
                    return False
                pos = at[0]
                run = 0

    # --- Meta ---------------------------------------------------------------------------------

    cdef object meta(self, bint first):
        """``_Build.meta`` for the known MetInf children; ``self.meta_type`` is set to the
        class of its first Type when ``first`` (the parent's first Meta), else left."""
        cdef int code
        cdef unsigned long long seen = 0, bit
        cdef bint field_level = False
        cdef list emi = [], extra = []
        cdef dict parts
        fmt = type_ = mark = size = anchor = version = next_nonce = max_msg = max_obj = None
        mem = None
        self.enter()
        while True:
            code = self.tag()
            if code < 0:
                break
            if code < N_FieldLevel or code > N_Mem or self.tpage != 1:
                extra.append(self.meta_extra(code))
                continue
            if code != N_EMI:
                bit = 1ULL << (code - N_FieldLevel)
                if seen & bit:
                    _give_up()
                seen |= bit
            if code == N_Format:
                fmt = self.leaf()
            elif code == N_Type:
                type_ = self.type_leaf(first)
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
                    _give_up()
                anchor = _ANCHOR.make2(parts[N_Next], parts.get(N_Last))
            else:  # Mem
                parts = self.sub_leaves(N_SharedMem, N_FreeMem, N_FreeID)
                if N_FreeMem not in parts or N_FreeID not in parts:
                    _give_up()
                mem = _MEM.make3(parts[N_FreeMem], parts[N_FreeID], N_SharedMem in parts)
        return _META.make13(field_level, fmt, type_, mark, size, anchor, version, next_nonce,
                            max_msg, max_obj, emi, mem, extra)

    cdef object meta_extra(self, int code):
        """An unknown Meta child, kept verbatim: serialized by _Build (``_Build.meta``)."""
        cdef object ns = self.tags.ns[self.tpage]
        cdef Scanner sc = self.gen.sc
        if N_FieldLevel <= code <= N_Mem:
            _give_up()  # a MetInf name in another namespace: the quirk "metinf_namespace"
        if not self.content:
            _give_up()  # an empty one: _Build's pending END
        self.to_events()
        self.gen.wb.name_fields()
        local = _str(sc.local_ptr, sc.local_len)
        self.gen.mark.len = 0
        self.gen.serialize(ns, self.ns, 4)
        self.from_events()
        return _META_EXTRA.make2(local, _str(self.gen.mark.data, self.gen.mark.len))

    cdef str type_leaf(self, bint first):
        """A MetInf Type, as _WbxmlEvents reads it: its text, back-rewritten where it names a
        WBXML DevInf or TNDS document, and classified for the Data class when it is the first
        Type of the parent's first Meta (``meta_type``; not an element without content)."""
        cdef const unsigned char* text
        cdef Py_ssize_t n
        cdef int depth = self.depth
        cdef _Open* o
        if not self.text(0):
            # _Build's capture reads it: set the open elements its end_token looks at.
            self.to_events()
            o = self.gen.wb.open
            o[depth - 1].capturing = True
            self.gen.wb.capture.len = 0
            o[depth - 2] = _OPEN_BLANK
            o[depth - 2].kind = 2  # K_META
            o[depth - 2].first_meta = first
            o[depth - 3] = _OPEN_BLANK
            value = self.gen.leaf(True)
            self.plain = self.gen.plain
            if first and o[depth - 2].type_seen:
                self.meta_type = o[depth - 3].type_code
            self.from_events()
            return value
        if not self.content or self.t_len == 0:
            if first and self.content and self.meta_type < 0:
                self.meta_type = wtext.classify_type_c(_NO_TEXT, 0)
            self.plain = True
            return ""
        text = self.t_ptr
        n = self.t_len
        if first and self.meta_type < 0:
            self.meta_type = wtext.classify_type_c(<const char*>text, n)
        text = _type_as_xml(text, &n, self.tags.rewrite)
        return _leaf_ascii(text, n, not self.t_space, True, &self.plain)

    cdef dict sub_leaves(self, int a, int b, int c):
        cdef dict parts = {}
        cdef int code
        self.enter()
        while True:
            code = self.tag()
            if code < 0:
                return parts
            if (self.tpage != 1 or code == N_OTHER or (code != a and code != b and code != c)
                    or code in parts):
                _give_up()
            parts[code] = self.leaf()

    cdef object first_meta(self, bint first, int* type_code):
        """A Meta child: the parent's first when ``first``; its first Type's class into
        ``type_code`` then (0: none)."""
        cdef object meta
        self.meta_type = -1
        meta = self.meta(first)
        if first:
            type_code[0] = self.meta_type if self.meta_type >= 0 else 0
        return meta

    # --- Item --------------------------------------------------------------------------------

    cdef object loc(self, _Shape shape):
        cdef int code, last = 0
        uri = name = None
        self.enter()
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
                _give_up()
        if uri is None:
            _give_up()
        return shape.make2(uri, name)

    cdef str parent_uri(self):
        cdef int code
        uri = None
        self.enter()
        while True:
            code = self.child()
            if code < 0:
                break
            if code != N_LocURI or uri is not None:
                _give_up()
            uri = self.token()
        if uri is None:
            _give_up()
        return uri

    cdef object item(self, object command_meta, int command_type, int command_kind):
        """``_Build.item``; ``command_type`` / ``command_kind``: its command's first Meta Type
        class and element kind, for the Data class."""
        cdef int code, last = 0, item_type = 0
        cdef bint more_data = False, seen_data = False, meta_seen = False
        target = source = meta = data = hint = source_parent = target_parent = None
        self.enter()
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
                meta = self.first_meta(not meta_seen, &item_type)
                meta_seen = True
            elif code == N_Data and not seen_data:
                seen_data = True
                use = meta if meta is not None and _META.get(meta, 1) else command_meta
                self.cls = wtext.data_class_c(item_type, command_type, command_kind)
                data = self.data(_META.get(use, 1) if use is not None else None)
                hint = self.hint
            elif code == N_MoreData:
                more_data = self.flag()
            else:
                _give_up()
        return _ITEM.make8(target, source, source_parent, target_parent, meta, data, more_data,
                           hint)

    # --- commands ----------------------------------------------------------------------------

    cdef object item_command(self, int kind):
        cdef int code, last = 0, command_type = 0
        cdef int command_kind = self.tags.kind[self.slot]
        cdef bint no_resp = False, meta_seen = False
        cdef list items = []
        cmd_id = meta = None
        self.enter()
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
                meta = self.first_meta(not meta_seen, &command_type)
                meta_seen = True
            elif code == N_Item:
                items.append(self.item(meta, command_type, command_kind))
            else:
                _give_up()
        if cmd_id is None or not items:
            _give_up()
        return (<_Shape>ITEM_SHAPES[kind]).make4(cmd_id, items, meta, no_resp)

    cdef object alert(self, int outer_type):
        cdef int code, last = 0
        cdef int kind = self.tags.kind[self.slot]
        cdef bint no_resp = False
        cdef list items = []
        cmd_id = value = correlator = None
        self.enter()
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
                self.cls = wtext.data_class_c(0, outer_type, 0)  # outer: SyncBody or a container
                value = self.number()
            elif code == N_Correlator and correlator is None:
                correlator = self.token()
            elif code == N_Item:
                items.append(self.item(None, 0, kind))
            else:
                _give_up()
        if cmd_id is None:
            _give_up()
        return _ALERT.make5(cmd_id, value, correlator, items, no_resp)

    cdef object exec_(self):
        cdef int code, last = 0, command_type = 0
        cdef int kind = self.tags.kind[self.slot]
        cdef bint no_resp = False, meta_seen = False
        cdef list items = []
        cmd_id = meta = correlator = None
        self.enter()
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
                meta = self.first_meta(not meta_seen, &command_type)
                meta_seen = True
            elif code == N_Correlator and correlator is None:
                correlator = self.token()
            elif code == N_Item:
                items.append(self.item(meta, command_type, kind))
            else:
                _give_up()
        if cmd_id is None or not items:
            _give_up()
        return _EXEC.make5(cmd_id, items, meta, correlator, no_resp)

    cdef object status(self, int outer_type):
        cdef int code, last = 0
        cdef int kind = self.tags.kind[self.slot]
        cdef bint no_resp = False
        cdef list items = [], target_refs = [], source_refs = []
        cmd_id = msg_ref = cmd_ref = cmd = value = chal = None
        self.enter()
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
                self.cls = wtext.data_class_c(0, outer_type, 0)
                value = self.number()
                if not STATUS_MIN <= value <= STATUS_MAX:
                    _give_up()  # the quirk status_code_range: the reference reader's
            elif code == N_NoResp:
                no_resp = self.flag()
            elif code == N_Item:
                items.append(self.item(None, 0, kind))
            else:
                _give_up()
        if cmd_id is None or msg_ref is None or cmd_ref is None or cmd is None or value is None:
            _give_up()
        return _STATUS.make10(cmd_id, msg_ref, cmd_ref, cmd, value, target_refs, source_refs,
                              chal, items, no_resp)

    cdef object results(self):
        cdef int code, last = 0, command_type = 0
        cdef int kind = self.tags.kind[self.slot]
        cdef bint no_resp = False, meta_seen = False
        cdef list items = []
        cmd_id = msg_ref = cmd_ref = meta = target_ref = source_ref = None
        self.enter()
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
                meta = self.first_meta(not meta_seen, &command_type)
                meta_seen = True
            elif code == N_TargetRef and target_ref is None:
                target_ref = self.token()
            elif code == N_SourceRef and source_ref is None:
                source_ref = self.token()
            elif code == N_Item:
                items.append(self.item(meta, command_type, kind))
            else:
                _give_up()
        if cmd_id is None or cmd_ref is None or not items:
            _give_up()
        return _RESULTS.make8(cmd_id, cmd_ref, items, msg_ref, meta, target_ref, source_ref,
                              no_resp)

    cdef object container(self, int kind, int depth):
        cdef int code, last = 0, own_type = 0
        cdef bint no_resp = False, meta_seen = False
        cdef list commands = []
        cmd_id = meta = None
        if depth > self.max_depth:
            _give_up()
        self.enter()
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
                meta = self.first_meta(not meta_seen, &own_type)
                meta_seen = True
            else:
                commands.append(self.command(code, depth + 1, own_type))
        if cmd_id is None or not commands:
            _give_up()
        return (_ATOMIC if kind == N_Atomic else _SEQUENCE).make4(cmd_id, commands, meta, no_resp)

    cdef object command(self, int code, int depth, int outer_type):
        """A command; ``outer_type``: its container's first Meta Type class (0 in SyncBody)."""
        if code == N_Status:
            return self.status(outer_type)
        if code == N_Add or code == N_Copy or code == N_Delete or code == N_Get \
                or code == N_Replace:
            return self.item_command(code)
        if code == N_Alert:
            return self.alert(outer_type)
        if code == N_Results:
            return self.results()
        if code == N_Exec:
            return self.exec_()
        if code == N_Atomic or code == N_Sequence:
            return self.container(code, depth)
        _give_up()  # a DS command (quirk) or not a command

    # --- header and message ------------------------------------------------------------------

    cdef object cred(self):
        cdef int code, last = 0, cred_type = 0
        cdef bint meta_seen = False
        meta = data = None
        self.enter()
        while True:
            code = self.child()
            if code < 0:
                break
            last = self.rank(R_CRED, code, last)
            if code == N_Meta and meta is None:
                meta = self.first_meta(not meta_seen, &cred_type)
                meta_seen = True
            elif code == N_Data and data is None:
                # SyncHdr's own Meta comes after Cred (R_HDR): no Type of it counts yet.
                self.cls = wtext.data_class_c(cred_type, 0, 0)
                data = self.leaf(False)
            else:
                _give_up()
        if not data:
            _give_up()
        return _CRED.make2(data, meta)

    cdef object chal(self):
        cdef int code, unused = 0
        meta = None
        self.enter()
        while True:
            code = self.child()
            if code < 0:
                break
            if code != N_Meta or meta is not None:
                _give_up()
            meta = self.first_meta(True, &unused)
        if meta is None:
            _give_up()
        return _CHAL.make1(meta)

    cdef object header(self):
        cdef int code, last = 0, unused = 0
        cdef bint no_resp = False
        ver_dtd = ver_proto = session_id = msg_id = target = source = None
        resp_uri = cred = meta = None
        self.enter()
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
                meta = self.first_meta(True, &unused)
            else:
                _give_up()
        return _header_of(ver_dtd, ver_proto, session_id, msg_id, target, source, resp_uri,
                          no_resp, cred, meta)

    cdef object message(self):
        cdef int code
        cdef bint final = False
        cdef list commands = []
        if self.child() != N_SyncML:
            _give_up()
        self.enter()
        ns_version = NS_VERSION.get(self.ns)
        if ns_version is None:
            _give_up()
        if self.child() != N_SyncHdr:
            _give_up()
        hdr = self.header()
        if self.child() != N_SyncBody:
            _give_up()
        self.enter()
        if ns_version != hdr.ver_dtd:
            _give_up()  # quirk "version_mismatch"
        while True:
            code = self.child()
            if code < 0:
                break
            if final:
                _give_up()
            if code == N_Final:
                final = self.flag()
            else:
                commands.append(self.command(code, 1, 0))
        if self.child() != -1 or self.pos != self.end:
            _give_up()  # not the root's END, or something after it
        return _MESSAGE.make4(hdr, commands, final, [])


cdef _TokenBuild _spare_token_build = None
"""Kept between calls like _spare_build: taken before any Python code can run."""


cdef object _token_build(_Build gen, _Limits limits):
    """The model from ``_TokenBuild`` on the document ``wb.setup`` just read the header of (the
    cursor on its first body token, its language's tags chosen), or None: _Build decides. The
    caller disables the collector."""
    global _spare_token_build
    cdef _TokenBuild tb = _spare_token_build
    cdef _WbxmlEvents wb = gen.wb
    _spare_token_build = None
    if tb is None:
        tb = _TokenBuild.__new__(_TokenBuild)
    tb.gen = gen
    tb.p = wb.p
    tb.pos = wb.pos
    tb.end = wb.doc.end
    tb.tags = wb.tags
    tb.ns = wb.tags.ns[0]
    gen.ns = tb.ns  # the root's namespace, as _Build.message sets it (serialize compares)
    tb.page = 0
    tb.depth = 0
    tb.elements = 0
    tb.max_depth = limits.max_depth
    tb.max_elements = limits.max_elements
    tb.max_opaque = limits.max_opaque
    tb.steps = 0
    tb.cls = 0
    tb.empty = False
    try:
        return tb.message()
    except _GiveUp:
        return None
    finally:
        tb.p = NULL
        tb.t_ptr = NULL
        tb.gen = None
        _spare_token_build = tb


def _token_build_only(bytes data not None, object limits):
    """_TokenBuild alone, with _Build for the elements it hands over but no start again on
    _Build when it gives up (for the tests: which messages it vouches for), or None."""
    cdef _Limits c_limits = _c_limits(limits)
    cdef _Build build = _token_path_build()
    if len(data) > c_limits.max_input_size:
        return None
    build.max_depth = c_limits.max_depth
    build.max_opaque = c_limits.max_opaque
    cdef int gc_was_enabled = PyGC_Disable()
    try:
        build.wb.setup(data, c_limits)
        build.sc = build.wb.sc
        return _token_build(build, c_limits)
    except (_GiveUp, UnicodeDecodeError):
        return None
    finally:
        if gc_was_enabled:
            PyGC_Enable()
        build.wb.release()
