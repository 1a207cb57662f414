# The compiled twin's model -> WBXML writer (included by msgcodec_c.pyx after the XML writer).
#
# Contract: the bytes (or the EncodeError) of the reference path
# xml_to_wbxml(write_xml(msg, for_wbxml=True), keep_whitespace=True), the same as
# omadm_codec/_wbxml_writer_py.py. The one idea: _Tokens is that module's walk statement for
# statement, with the compiled XML writer's value checks (same first error), writing tokens
# into one C buffer; parts it does not reproduce token by token raise Fallback and the whole
# message takes the reference path (see _wbxml_tokens_share).

from libc.string cimport memcpy
from xmlbuf cimport buf_mb, find3

from omadm_codec import _wbxml_encode_common as _tk_common
from omadm_codec import _wbxml_tokens_share as _tk_share
from omadm_codec.limits import DEFAULT_LIMITS as _TK_LIMITS

_TkFallback = _tk_share.Fallback
_TK_REWRITE = _tk_common.REWRITE
_TK_NO_MATCH = _tk_share.NO_MATCH
_TK_CLASS_OF = _tk_common.data_class
_TK_NESTED = _tk_share.nested_document
_TK_OVER_LIMITS = _tk_share.over_limits
_TK_VERSIONS = tuple(_tk_share.TABLES)          # VerDTD per version index
_TK_HEADERS = tuple(t.header for t in _tk_share.TABLES.values())

cdef enum:
    TK_NVERSION = 3
    TK_NELEMENT = 64
    TK_END = 0x01
    TK_STR_I = 0x03
    TK_OPAQUE = 0xC3
    TK_CONTENT = 0x40

cdef int TK_PLAIN = _tk_share.CLS_PLAIN
cdef int TK_CLEAR = _tk_share.CLS_CLEAR
cdef int TK_VOBJECT = _tk_share.CLS_VOBJECT
cdef Py_ssize_t _TK_MAX_OPAQUE = _TK_LIMITS.max_opaque
cdef int _TK_MAX_DEPTH = _tk_share.MAX_CONTAINER_DEPTH
cdef int _TK_REWRITE_LEN = next(iter(_tk_common.REWRITE_LEN))  # one length (33)
assert len(_tk_common.REWRITE_LEN) == 1 and len(_TK_VERSIONS) == TK_NVERSION
assert len(_tk_share.ELEMENTS) <= TK_NELEMENT

# page << 8 | token per version and element id; -1: the version's code pages lack it.
cdef int _TK_CODE[TK_NVERSION][TK_NELEMENT]


cdef void _tk_build_codes():
    cdef int v, e
    for v, ver_dtd in enumerate(_TK_VERSIONS):
        for e, name in enumerate(_tk_share.ELEMENTS):
            code = _tk_share.TABLES[ver_dtd].codes[name]
            _TK_CODE[v][e] = -1 if code is None else code[0] << 8 | code[1]


_tk_build_codes()

# Element ids: the index of each name in _tk_share.ELEMENTS.
_TK_ID = {name: index for index, name in enumerate(_tk_share.ELEMENTS)}
cdef int E_SyncML = _TK_ID["SyncML"], E_SyncHdr = _TK_ID["SyncHdr"]
cdef int E_VerDTD = _TK_ID["VerDTD"], E_VerProto = _TK_ID["VerProto"]
cdef int E_SessionID = _TK_ID["SessionID"], E_MsgID = _TK_ID["MsgID"]
cdef int E_Target = _TK_ID["Target"], E_Source = _TK_ID["Source"]
cdef int E_LocURI = _TK_ID["LocURI"], E_LocName = _TK_ID["LocName"]
cdef int E_RespURI = _TK_ID["RespURI"], E_NoResp = _TK_ID["NoResp"], E_Cred = _TK_ID["Cred"]
cdef int E_Meta = _TK_ID["Meta"], E_Data = _TK_ID["Data"], E_SyncBody = _TK_ID["SyncBody"]
cdef int E_Final = _TK_ID["Final"], E_Item = _TK_ID["Item"]
cdef int E_SourceParent = _TK_ID["SourceParent"], E_TargetParent = _TK_ID["TargetParent"]
cdef int E_MoreData = _TK_ID["MoreData"], E_CmdID = _TK_ID["CmdID"]
cdef int E_Add = _TK_ID["Add"], E_Replace = _TK_ID["Replace"], E_Status = _TK_ID["Status"]
cdef int E_MsgRef = _TK_ID["MsgRef"], E_CmdRef = _TK_ID["CmdRef"], E_Cmd = _TK_ID["Cmd"]
cdef int E_TargetRef = _TK_ID["TargetRef"], E_SourceRef = _TK_ID["SourceRef"]
cdef int E_Chal = _TK_ID["Chal"], E_Alert = _TK_ID["Alert"]
cdef int E_Correlator = _TK_ID["Correlator"], E_Results = _TK_ID["Results"]
cdef int E_Exec = _TK_ID["Exec"]
cdef int E_FieldLevel = _TK_ID["FieldLevel"], E_Format = _TK_ID["Format"]
cdef int E_Type = _TK_ID["Type"], E_Mark = _TK_ID["Mark"], E_Size = _TK_ID["Size"]
cdef int E_Anchor = _TK_ID["Anchor"], E_Last = _TK_ID["Last"], E_Next = _TK_ID["Next"]
cdef int E_Version = _TK_ID["Version"], E_NextNonce = _TK_ID["NextNonce"]
cdef int E_MaxMsgSize = _TK_ID["MaxMsgSize"], E_MaxObjSize = _TK_ID["MaxObjSize"]
cdef int E_EMI = _TK_ID["EMI"], E_Mem = _TK_ID["Mem"], E_SharedMem = _TK_ID["SharedMem"]
cdef int E_FreeMem = _TK_ID["FreeMem"], E_FreeID = _TK_ID["FreeID"]
cdef dict _TK_NAME_B = {index: name.encode("ascii") for name, index in _TK_ID.items()}


cdef int _tk_class(object type_text, int grand) except -1:
    """``data_class``: plain, opaque, or opaque with LF -> CRLF (``_tk_share.CLS_*``)."""
    if type_text is None:
        return TK_VOBJECT if grand == E_Add or grand == E_Replace else TK_PLAIN
    return _TK_CLASS_OF(type_text, _TK_NAME_B[grand])


cdef object _tk_meta_type(object meta):
    """The text of a written Meta's first Type, as the encoder records it."""
    value = meta.type
    if value is None:
        return None
    return (<str>value).encode("utf-8") if value else _TK_NO_MATCH


@cython.final
cdef class _Tokens:
    cdef Buf out
    cdef const int* codes         # this version's row of _TK_CODE
    cdef object ver_dtd
    cdef int page                 # the encoder's current tag page
    cdef Py_ssize_t elements      # tags written (the scanner's element count)
    cdef bint surrogate           # a lone surrogate in an ID: invalid_char at the end
    cdef Py_ssize_t raw_len       # UTF-8 bytes of the spliced embedded documents
    cdef Py_ssize_t raw_lt        # their '<' count (a bound on their elements)

    def __dealloc__(self):
        free(self.out.data)

    # --- tokens ----------------------------------------------------------------------------

    cdef Py_ssize_t open(self, int element) except -1:
        """Write the element's tag (content bit clear); its position, for ``close``."""
        cdef int code = self.codes[element]
        cdef int page = code >> 8
        if code < 0:
            raise _TkFallback(f"{_TK_NAME_B[element]!r} is on no code page of SyncML "
                              f"{self.ver_dtd}")
        buf_grow(&self.out, 3)
        if page != self.page:
            self.out.data[self.out.len] = 0
            self.out.data[self.out.len + 1] = <unsigned char>page
            self.out.len += 2
            self.page = page
        self.elements += 1
        self.out.data[self.out.len] = <unsigned char>(code & 0x3F)
        self.out.len += 1
        return self.out.len - 1

    cdef inline int close(self, Py_ssize_t pos) except -1:
        """Content bit and END when anything followed the tag at ``pos``."""
        if self.out.len > pos + 1:
            self.out.data[pos] |= TK_CONTENT
            return buf_byte(&self.out, TK_END)
        return 0

    cdef inline int end_content(self, Py_ssize_t pos) except -1:
        self.out.data[pos] |= TK_CONTENT
        return buf_byte(&self.out, TK_END)

    cdef int str_i(self, const unsigned char* s, Py_ssize_t n) except -1:
        cdef bytes swapped
        if n == _TK_REWRITE_LEN:  # the encoder's Type rewrite, on every SyncML text run
            swapped = _TK_REWRITE.get((<bytes>PyBytes_FromStringAndSize(<char*>s, n)).lower())
            if swapped is not None:
                s = <const unsigned char*>(<char*>swapped)
                n = len(swapped)
                buf_byte(&self.out, TK_STR_I)
                buf_add(&self.out, s, n)
                return buf_byte(&self.out, 0)
        buf_grow(&self.out, n + 2)
        self.out.data[self.out.len] = TK_STR_I
        memcpy(self.out.data + self.out.len + 1, s, n)
        self.out.data[self.out.len + 1 + n] = 0
        self.out.len += n + 2
        return 0

    cdef int opaque(self, const unsigned char* s, Py_ssize_t n) except -1:
        buf_byte(&self.out, TK_OPAQUE)
        buf_mb(&self.out, <unsigned long>n)
        return buf_add(&self.out, s, n)

    cdef int opaque_crlf(self, const unsigned char* s, Py_ssize_t n, bint crlf,
                         bint pre, bint post) except -1:
        """OPAQUE of [">"] s [ "]]" ], every LF written CR LF when ``crlf``."""
        cdef Py_ssize_t i, size = n + pre + 2 * post, start = 0
        if crlf:
            for i in range(n):
                if s[i] == 0x0A:
                    size += 1
        if size > _TK_MAX_OPAQUE:
            raise _TkFallback("opaque run past max_opaque")
        buf_byte(&self.out, TK_OPAQUE)
        buf_mb(&self.out, <unsigned long>size)
        if pre:
            buf_byte(&self.out, 0x3E)
        if crlf:
            for i in range(n):
                if s[i] == 0x0A:
                    buf_add(&self.out, s + start, i - start)
                    buf_add(&self.out, <const unsigned char*>b"\r\n", 2)
                    start = i + 1
        buf_add(&self.out, s + start, n - start)
        if post:
            buf_add(&self.out, <const unsigned char*>b"]]", 2)
        return 0

    cdef int classed_text(self, const unsigned char* s, Py_ssize_t n, int cls) except -1:
        """Non-empty character data in a ``Data`` of class ``cls``: STR_I when plain, else
        gathered into one OPAQUE (LF -> CRLF in the vObject class; a lone LF -> CRLF)."""
        if cls == TK_PLAIN:
            return self.str_i(s, n)
        if cls == TK_VOBJECT:
            return self.opaque_crlf(s, n, True, False, False)
        if n == 1 and s[0] == 0x0A:
            return self.opaque(<const unsigned char*>b"\r\n", 2)
        return self.opaque_crlf(s, n, False, False, False)

    # --- values (the checks of msgcodec_write.pxi's _Writer) --------------------------------

    cdef int leaf_bytes(self, int element, const unsigned char* s, Py_ssize_t n) except -1:
        """``<element>s</element>``: a bare tag when ``s`` is empty."""
        cdef Py_ssize_t pos = self.open(element)
        if n:
            self.out.data[pos] |= TK_CONTENT
            self.str_i(s, n)
            return buf_byte(&self.out, TK_END)
        return 0

    cdef int leaf(self, int element, object value, int kind, str what) except -1:
        """The element holding ``value`` as ``kind``: 0 text, 1 token, 2 code."""
        cdef Py_ssize_t n
        cdef const unsigned char* s
        cdef bytes digits
        if kind == 2:
            digits = self.code(value, what)
            return self.leaf_bytes(element, <const unsigned char*>(<char*>digits),
                                   len(digits))
        s = self.text(value, what, &n)
        if kind == 1 and not _plain(value) and value != value.strip():
            raise EncodeError("bad_value", -1, f"{what} has surrounding whitespace")
        return self.leaf_bytes(element, s, n)

    cdef const unsigned char* text(self, object value, str what, Py_ssize_t* n) except NULL:
        """``_writer._text``'s checks; the value's UTF-8 (valid while ``value`` lives)."""
        cdef const unsigned char* s
        if type(value) is not str and not isinstance(value, str):
            raise EncodeError("bad_value", -1, f"{what} must be str, not {type(value).__name__}")
        try:
            s = <const unsigned char*>PyUnicode_AsUTF8AndSize(value, n)
        except UnicodeEncodeError:
            raise EncodeError("invalid_char", -1, "a character XML cannot carry") from None
        if _bad_xml_char(s, n[0]):
            raise EncodeError("invalid_char", -1, "a character XML cannot carry")
        return s

    cdef bytes code(self, object value, str what):
        if type(value) is not int or value < 0:
            raise EncodeError("bad_code", -1, f"{what} must be a non-negative int, not {value!r}")
        return str(value).encode("ascii")

    cdef int ident(self, int element, object value, str what, bint allow_empty=False) except -1:
        cdef Py_ssize_t n
        cdef const unsigned char* s
        if type(value) is not str and not isinstance(value, str):
            raise EncodeError("bad_id", -1, f"{what} must be str, not {type(value).__name__}")
        if not (value and len(value) <= 256 and _plain(value)) and \
                not share.good_id(value, allow_empty):
            raise EncodeError("bad_id", -1, f"bad {what} {value[:40]!r}")
        try:
            s = <const unsigned char*>PyUnicode_AsUTF8AndSize(value, &n)
        except UnicodeEncodeError:
            self.surrogate = True
            return self.leaf_bytes(element, NULL, 0)
        if _bad_xml_char(s, n):  # past good_id only U+FFFE / U+FFFF: the scanner's refusal
            raise _TkFallback("U+FFFE / U+FFFF in an ID")
        return self.leaf_bytes(element, s, n)

    # --- Meta, Item, Data -------------------------------------------------------------------

    cdef object meta(self, object meta):
        """Write ``meta``; the text of its first Type (``None``: it has none)."""
        cdef Py_ssize_t pos, inner
        if not isinstance(meta, Meta):
            raise EncodeError("bad_value", -1, "meta must be a Meta")
        pos = self.open(E_Meta)
        if meta.field_level:
            self.open(E_FieldLevel)
        if meta.format is not None:
            self.leaf(E_Format, meta.format, 0, "Format")
        if meta.type is not None:
            self.leaf(E_Type, meta.type, 0, "Type")
        if meta.mark is not None:
            self.leaf(E_Mark, meta.mark, 0, "Mark")
        if meta.size is not None:
            self.leaf(E_Size, meta.size, 2, "Size")
        anchor = meta.anchor
        if anchor is not None:
            inner = self.open(E_Anchor)
            if anchor.last is not None:
                self.leaf(E_Last, anchor.last, 0, "Last")
            self.leaf(E_Next, anchor.next, 0, "Next")
            self.close(inner)
        if meta.version is not None:
            self.leaf(E_Version, meta.version, 0, "Version")
        if meta.next_nonce is not None:
            self.leaf(E_NextNonce, meta.next_nonce, 0, "NextNonce")
        if meta.max_msg_size is not None:
            self.leaf(E_MaxMsgSize, meta.max_msg_size, 2, "MaxMsgSize")
        if meta.max_obj_size is not None:
            self.leaf(E_MaxObjSize, meta.max_obj_size, 2, "MaxObjSize")
        for emi in meta.emi:
            self.leaf(E_EMI, emi, 0, "EMI")
        mem = meta.mem
        if mem is not None:
            inner = self.open(E_Mem)
            if mem.shared_mem:
                self.open(E_SharedMem)
            self.leaf(E_FreeMem, mem.free_mem, 0, "FreeMem")
            self.leaf(E_FreeID, mem.free_id, 0, "FreeID")
            self.close(inner)
        if meta.extra:
            raise _TkFallback("MetaExtra: raw XML")
        self.close(pos)
        return _tk_meta_type(meta)

    cdef int loc(self, int element, object loc) except -1:
        cdef Py_ssize_t pos = self.open(element)
        self.leaf(E_LocURI, loc.loc_uri, 1, "LocURI")
        if loc.loc_name is not None:
            self.leaf(E_LocName, loc.loc_name, 0, "LocName")
        return self.close(pos)

    cdef int parent_loc(self, int element, object value, str what) except -1:
        cdef Py_ssize_t pos = self.open(element)
        self.leaf(E_LocURI, value, 1, what)
        return self.close(pos)

    cdef int binary(self, bytes raw) except -1:
        """Data as the writer's base64 marker: the encoder turns it back into OPAQUE."""
        cdef Py_ssize_t pos = self.open(E_Data)
        if len(raw):
            self.opaque(<const unsigned char*>(<char*>raw), len(raw))
        return self.close(pos)

    cdef int cdata(self, const unsigned char* s, Py_ssize_t n, int cls) except -1:
        """Data as the writer's CDATA sections, each one OPAQUE (a lone LF -> CRLF; every LF
        in the vObject class). The writer splits at "]]>": "a]]>b" -> "a]]", ">b"."""
        cdef Py_ssize_t pos = self.open(E_Data), i = 0, j
        cdef bint crlf = cls == TK_VOBJECT
        while True:
            j = find3(s, i, n, 0x5D, 0x5D, 0x3E)
            if j < 0:
                if i == 0 and n == 1 and s[0] == 0x0A:
                    self.opaque(<const unsigned char*>b"\r\n", 2)
                else:
                    self.opaque_crlf(s + i, n - i, crlf, i > 0, False)
                break
            self.opaque_crlf(s + i, j - i, crlf, i > 0, True)
            i = j + 3
        return self.end_content(pos)

    cdef int data(self, object item, object fmt, object type_text, int grand,
                  int open_elements) except -1:
        """The Item's ``<Data>``: ``type_text`` is the deciding Type text, ``grand`` the
        command's element id, ``open_elements`` the elements open around the Data."""
        cdef Py_ssize_t pos, n
        cdef const unsigned char* s
        cdef str text
        cdef bytes nested
        data = item.data
        if data is None:
            return 0
        if isinstance(data, bytes):
            return self.binary(data)
        if isinstance(data, XmlDocument):
            nested, size, lt = _TK_NESTED(data.xml, self.ver_dtd, open_elements + 1,
                                          _xml_to_wbxml)
            self.raw_len += size
            self.raw_lt += lt
            pos = self.open(E_Data)
            self.opaque(<const unsigned char*>(<char*>nested), len(nested))
            return self.close(pos)
        if not isinstance(data, str):
            raise EncodeError("bad_value", -1, f"Data of type {type(data).__name__}")
        text = data
        hint = item.data_hint
        if _not_xml(text) or (fmt != "bin" and (
                hint is _OPAQUE_HINT or "\n" in text or "\r" in text)):
            try:
                raw = text.encode("utf-8")
            except UnicodeEncodeError:
                raise EncodeError("invalid_char", -1, "Data holds a lone surrogate") from None
            return self.binary(raw)
        s = <const unsigned char*>PyUnicode_AsUTF8AndSize(text, &n)
        if hint is _CODE_DATA and n and "\r" not in text:
            return self.cdata(s, n, _tk_class(type_text, grand))
        pos = self.open(E_Data)
        if n:
            self.classed_text(s, n, _tk_class(type_text, grand))
        return self.close(pos)

    cdef int item(self, object item, object command_meta, object command_type, int grand,
                  int open_elements) except -1:
        cdef Py_ssize_t pos
        if not isinstance(item, Item):
            raise EncodeError("bad_value", -1, "items must hold Item objects")
        pos = self.open(E_Item)
        if item.target is not None:
            self.loc(E_Target, item.target)
        if item.source is not None:
            self.loc(E_Source, item.source)
        if item.source_parent is not None:
            self.parent_loc(E_SourceParent, item.source_parent, "SourceParent")
        if item.target_parent is not None:
            self.parent_loc(E_TargetParent, item.target_parent, "TargetParent")
        meta = item.meta
        type_text = None
        if meta is not None:
            type_text = self.meta(meta)
        if type_text is None:
            type_text = command_type
        use = meta if meta is not None and meta.format else command_meta
        self.data(item, use.format if use is not None else None, type_text, grand,
                  open_elements + 1)
        if item.more_data:
            self.open(E_MoreData)
        return self.close(pos)

    cdef int items(self, object items, object meta, object command_type, bint required,
                   int element, str what, int open_elements) except -1:
        if required and not items:
            raise EncodeError("missing_element", -1, f"{what} needs at least one Item")
        for item in items:
            self.item(item, meta, command_type, element, open_elements)
        return 0

    # --- commands ---------------------------------------------------------------------------

    cdef Py_ssize_t head(self, int element, object command) except -1:
        cdef Py_ssize_t pos = self.open(element)
        self.ident(E_CmdID, command.cmd_id, "CmdID")
        if command.no_resp:
            self.open(E_NoResp)
        return pos

    cdef int coded_data(self, object value, str what, object container_type,
                        int container) except -1:
        """Status / Alert ``<Data>``: the code; its class comes from the enclosing
        container's Meta (the command itself has none)."""
        cdef bytes digits = self.code(value, what)
        cdef Py_ssize_t pos = self.open(E_Data)
        self.classed_text(<const unsigned char*>(<char*>digits), len(digits),
                          _tk_class(container_type, container))
        return self.end_content(pos)

    cdef int command(self, object command, int depth, object container_type,
                     int container) except -1:
        """``container_type`` / ``container``: the enclosing Atomic / Sequence's Meta Type
        text and element id (SyncBody at the top)."""
        cdef Py_ssize_t pos, inner
        cdef int element
        cdef int open_elements = depth + 2  # SyncML, SyncBody, the containers, the command
        cdef str name
        if depth > _TK_MAX_DEPTH:
            raise _TkFallback("Atomic / Sequence nested near the scanner's depth limit")
        if isinstance(command, _ItemCommand):
            name = command.ELEMENT
            element = _TK_ID[name]
            pos = self.head(element, command)
            command_type = None
            if command.meta is not None:
                command_type = self.meta(command.meta)
            self.items(command.items, command.meta, command_type, True, element, name,
                       open_elements)
        elif isinstance(command, Status):
            pos = self.open(E_Status)
            self.ident(E_CmdID, command.cmd_id, "CmdID")
            if command.no_resp:  # not in the Status content model; kept if it was sent
                self.open(E_NoResp)
            self.ident(E_MsgRef, command.msg_ref, "MsgRef")
            self.ident(E_CmdRef, command.cmd_ref, "CmdRef", True)
            self.leaf(E_Cmd, command.cmd, 1, "Cmd")
            for ref in command.target_refs:
                self.leaf(E_TargetRef, ref, 1, "TargetRef")
            for ref in command.source_refs:
                self.leaf(E_SourceRef, ref, 1, "SourceRef")
            if command.chal is not None:
                inner = self.open(E_Chal)
                self.meta(command.chal.meta)
                self.close(inner)
            self.coded_data(command.data, "Status Data", container_type, container)
            self.items(command.items, None, None, False, E_Status, "Status", open_elements)
        elif isinstance(command, Alert):
            pos = self.head(E_Alert, command)
            if command.data is not None:
                self.coded_data(command.data, "Alert Data", container_type, container)
            if command.correlator is not None:
                self.leaf(E_Correlator, command.correlator, 1, "Correlator")
            self.items(command.items, None, None, False, E_Alert, "Alert", open_elements)
        elif isinstance(command, Results):
            pos = self.open(E_Results)
            self.ident(E_CmdID, command.cmd_id, "CmdID")
            if command.no_resp:  # not in the Results content model; kept if it was sent
                self.open(E_NoResp)
            if command.msg_ref is not None:
                self.ident(E_MsgRef, command.msg_ref, "MsgRef")
            self.ident(E_CmdRef, command.cmd_ref, "CmdRef", True)
            command_type = None
            if command.meta is not None:
                command_type = self.meta(command.meta)
            if command.target_ref is not None:
                self.leaf(E_TargetRef, command.target_ref, 1, "TargetRef")
            if command.source_ref is not None:
                self.leaf(E_SourceRef, command.source_ref, 1, "SourceRef")
            self.items(command.items, command.meta, command_type, True, E_Results, "Results",
                       open_elements)
        elif isinstance(command, Exec):
            pos = self.head(E_Exec, command)
            command_type = None
            if command.meta is not None:
                command_type = self.meta(command.meta)
            if command.correlator is not None:
                self.leaf(E_Correlator, command.correlator, 1, "Correlator")
            self.items(command.items, command.meta, command_type, True, E_Exec, "Exec",
                       open_elements)
        elif isinstance(command, _Container):
            name = command.ELEMENT
            element = _TK_ID[name]
            pos = self.head(element, command)
            command_type = None
            if command.meta is not None:
                command_type = self.meta(command.meta)
            if not command.commands:
                raise EncodeError("missing_element", -1, f"{name} needs at least one command")
            for child in command.commands:
                self.command(child, depth + 1, command_type, element)
        elif isinstance(command, _DsCommand):
            if not isinstance(command.xml, str):
                raise EncodeError("bad_value", -1, "a DS command's xml must be str")
            raise _TkFallback("DS command: raw XML")
        else:
            raise EncodeError("bad_value", -1, f"not a command: {type(command).__name__}")
        return self.close(pos)

    # --- header, message --------------------------------------------------------------------

    cdef Py_ssize_t header(self, object hdr) except -1:
        """Checks the version, picks its tables, writes the SyncML tag and the SyncHdr."""
        cdef Py_ssize_t root, pos, inner, data_pos, n
        cdef const unsigned char* s
        cdef int version
        cdef bytes head
        if not isinstance(hdr, SyncHdr):
            raise EncodeError("bad_value", -1, "header must be a SyncHdr")
        ver_dtd = hdr.ver_dtd
        if ver_dtd == "1.2" and type(ver_dtd) is str:
            version = 2
        elif isinstance(ver_dtd, str) and ver_dtd in _TK_VERSIONS:
            version = _TK_VERSIONS.index(ver_dtd)
        else:
            raise EncodeError("bad_version", -1, f"VerDTD {ver_dtd!r}")
        ver_proto = hdr.ver_proto
        if not isinstance(ver_proto, str) or not _VER_PROTO_OUT.fullmatch(ver_proto):
            raise EncodeError("bad_version", -1, f"VerProto {ver_proto!r}")
        self.codes = &_TK_CODE[version][0]
        self.ver_dtd = _TK_VERSIONS[version]
        head = _TK_HEADERS[version]
        buf_grow(&self.out, 1024)
        buf_add(&self.out, <const unsigned char*>(<char*>head), len(head))
        root = self.open(E_SyncML)
        pos = self.open(E_SyncHdr)
        s = <const unsigned char*>PyUnicode_AsUTF8AndSize(ver_dtd, &n)
        self.leaf_bytes(E_VerDTD, s, n)
        s = <const unsigned char*>PyUnicode_AsUTF8AndSize(ver_proto, &n)
        self.leaf_bytes(E_VerProto, s, n)
        self.ident(E_SessionID, hdr.session_id, "SessionID")
        self.ident(E_MsgID, hdr.msg_id, "MsgID")
        self.loc(E_Target, hdr.target)
        self.loc(E_Source, hdr.source)
        if hdr.resp_uri is not None:
            self.leaf(E_RespURI, hdr.resp_uri, 1, "RespURI")
        if hdr.no_resp:
            self.open(E_NoResp)
        cred = hdr.cred
        if cred is not None:
            inner = self.open(E_Cred)
            type_text = None
            if cred.meta is not None:
                type_text = self.meta(cred.meta)
            if not cred.data:
                raise EncodeError("missing_element", -1, "Cred needs Data")
            s = self.text(cred.data, "Cred Data", &n)
            data_pos = self.open(E_Data)
            # The SyncHdr's own Meta comes after the Cred: only the Cred's Meta decides.
            self.classed_text(s, n, _tk_class(type_text, E_SyncHdr))
            self.end_content(data_pos)
            self.close(inner)
        if hdr.meta is not None:
            self.meta(hdr.meta)
        self.close(pos)
        return root

    cdef bytes message(self, object msg):
        cdef Py_ssize_t root, body
        if not isinstance(msg, Message):
            raise EncodeError("bad_value", -1, f"not a Message: {type(msg).__name__}")
        root = self.header(msg.header)
        body = self.open(E_SyncBody)
        for command in msg.commands:
            self.command(command, 1, None, E_SyncBody)
        if msg.final:
            self.open(E_Final)
        self.close(body)
        self.close(root)
        if self.surrogate:
            raise EncodeError("invalid_char", -1, "a lone surrogate in the message")
        if _TK_OVER_LIMITS(self.out.len, self.elements, self.raw_len, self.raw_lt):
            raise _TkFallback("near max_input_size / max_elements")
        return PyBytes_FromStringAndSize(<char*>self.out.data, self.out.len)


def encode_wbxml_tokens(msg):
    """The token writer alone: the WBXML of ``msg``, or ``Fallback`` where only the reference
    path is exact (tests call it to see that the fast path, not the fallback, answered)."""
    cdef _Tokens writer = _Tokens.__new__(_Tokens)
    return writer.message(msg)


def encode_wbxml(msg):
    """WBXML of ``msg``: the bytes of ``xml_to_wbxml(write_xml(msg, for_wbxml=True),
    keep_whitespace=True)`` written straight from the model, or through that reference path
    for the parts the token writer leaves to it."""
    cdef _Tokens writer = _Tokens.__new__(_Tokens)
    try:
        return writer.message(msg)
    except EncodeError:
        raise
    except Exception:  # Fallback, or a model the reference writer itself chokes on
        return _tk_share.reference_encode_wbxml(msg, _xml_to_wbxml)
