# The compiled twin's model -> WBXML writer (included by _fast_c.pyx after the XML writer).
#
# Contract: the bytes (or the EncodeError) of the reference path
# xml_to_wbxml(write_xml(msg, for_wbxml=True), keep_whitespace=True), the same as
# omadm_codec/messages/_fast_py/wbxml_writer.py. The one idea: _Tokens is that module's walk, element for
# element, with the compiled XML writer's value checks (same first error), writing tokens
# into one C buffer; parts it does not reproduce token by token raise Fallback and the whole
# message takes the reference path (see messages/_fast_tokens.py). Model fields are read by slot
# offset and long text is checked a word at a time (wbxml_writer_fast.pxi).

from cpython.long cimport PyLong_AsUnsignedLongLong
from cpython.object cimport PyObject
from libc.string cimport memcpy
from omadm_codec.wbxml._xmlbuf cimport buf_mb, find3

from omadm_codec.wbxml import _encode_rules as _tk_common
from omadm_codec.messages import _fast_tokens as _tk_share
from omadm_codec.limits import DEFAULT_LIMITS as _TK_LIMITS

_TkFallback = _tk_share.Fallback
_TK_REWRITE = _tk_common.REWRITE
_TK_EMBEDDED = _tk_share.embedded_data
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
cdef int TK_VOBJECT = _tk_share.CLS_VOBJECT
cdef Py_ssize_t _TK_MAX_OPAQUE = _TK_LIMITS.max_opaque
# For the bound of _tk_share.over_limits, written out in C in _Tokens.message.
cdef Py_ssize_t _TK_MAX_INPUT = _TK_LIMITS.max_input_size
cdef Py_ssize_t _TK_MAX_ELEMENTS = _TK_LIMITS.max_elements
cdef Py_ssize_t _TK_XML_FIXED = _tk_share._XML_FIXED
cdef Py_ssize_t _TK_XML_PER_ELEMENT = _tk_share._XML_PER_ELEMENT
cdef Py_ssize_t _TK_XML_PER_BYTE = _tk_share._XML_PER_BYTE
cdef int _TK_MAX_DEPTH = _tk_share.MAX_CONTAINER_DEPTH
cdef int _TK_REWRITE_LEN = next(iter(_tk_common.REWRITE_LEN))  # one length (33)
assert len(_tk_common.REWRITE_LEN) == 1 and len(_TK_VERSIONS) == TK_NVERSION
assert len(_tk_share.ELEMENTS) <= TK_NELEMENT

# page << 8 | token per version and element id; -1: the version's code pages lack it.
cdef int _TK_CODE[TK_NVERSION][TK_NELEMENT]


cdef int _tk_build_codes() except -1:
    cdef int v, e
    for v, ver_dtd in enumerate(_TK_VERSIONS):
        for e, name in enumerate(_tk_share.ELEMENTS):
            code = _tk_share.TABLES[ver_dtd].codes[name]
            _TK_CODE[v][e] = -1 if code is None else code[0] << 8 | code[1]
    return 0


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
cdef int E_Exec = _TK_ID["Exec"], E_Atomic = _TK_ID["Atomic"]
cdef int E_Sequence = _TK_ID["Sequence"]
cdef int E_FieldLevel = _TK_ID["FieldLevel"], E_Format = _TK_ID["Format"]
cdef int E_Type = _TK_ID["Type"], E_Mark = _TK_ID["Mark"], E_Size = _TK_ID["Size"]
cdef int E_Anchor = _TK_ID["Anchor"], E_Last = _TK_ID["Last"], E_Next = _TK_ID["Next"]
cdef int E_Version = _TK_ID["Version"], E_NextNonce = _TK_ID["NextNonce"]
cdef int E_MaxMsgSize = _TK_ID["MaxMsgSize"], E_MaxObjSize = _TK_ID["MaxObjSize"]
cdef int E_EMI = _TK_ID["EMI"], E_Mem = _TK_ID["Mem"], E_SharedMem = _TK_ID["SharedMem"]
cdef int E_FreeMem = _TK_ID["FreeMem"], E_FreeID = _TK_ID["FreeID"]
cdef dict _TK_NAME_B = {index: name.encode("ascii") for name, index in _TK_ID.items()}
cdef dict _TK_COMMAND_ID = {cls: _TK_ID[cls.ELEMENT] for cls in (
    share.ITEM_COMMANDS[b"Add"], share.ITEM_COMMANDS[b"Copy"], share.ITEM_COMMANDS[b"Delete"],
    share.ITEM_COMMANDS[b"Get"], share.ITEM_COMMANDS[b"Replace"], Status, Alert, Results,
    Exec, Atomic, Sequence)}
"""The exact model command classes -> element id (their fields are read by slot)."""
cdef dict _TK_TYPE_CLASS = _tk_share.TYPE_CLASS

include "wbxml_writer_fast.pxi"


cdef int _tk_class(object item_meta, object command_meta, int grand) except -1:
    """The class of a ``Data`` (``data_class``): the Item's (parent's) first Meta's Type
    decides, else the command's (grandparent's); a Type that names no class, or none, leaves
    it to the grandparent's name. An empty Type is found and names none."""
    type_text = None
    if item_meta is not None:
        type_text = _tk_attr(item_meta, type(item_meta) is Meta, O_META_TYPE, "type")
    if type_text is None and command_meta is not None:
        type_text = _tk_attr(command_meta, type(command_meta) is Meta, O_META_TYPE, "type")
    if type_text is not None:
        cls = _TK_TYPE_CLASS.get(type_text)
        if cls is not None:
            return cls
    return TK_VOBJECT if grand == E_Add or grand == E_Replace else TK_PLAIN


@cython.final
cdef class _Tokens:
    cdef Buf out
    cdef const int* codes         # this version's row of _TK_CODE
    cdef object ver_dtd
    cdef int page                 # the encoder's current tag page
    cdef Py_ssize_t elements      # tags written (the scanner's element count)
    cdef bint surrogate           # a lone surrogate in an ID: invalid_char at the end
    cdef Py_ssize_t raw_len       # UTF-8 bytes of the spliced embedded documents
    cdef Py_ssize_t raw_elements  # a bound on their elements

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
        if self.out.len + 3 > self.out.cap:
            buf_grow(&self.out, 3)
        if page != self.page:
            self.out.data[self.out.len] = 0
            self.out.data[self.out.len + 1] = <unsigned char>page
            self.out.len += 2
            self.page = page
        self.elements += 1
        self.out.data[self.out.len] = <unsigned char>(code & 0x3F)
        self.out.len += 1
        if (self.elements & (HANDOFF_EVERY - 1)) == 0:
            _switch_point()  # a large message: other threads run now and then (_handoff.pxd)
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
        buf_grow(&self.out, n + 6)
        buf_byte(&self.out, TK_OPAQUE)
        buf_mb(&self.out, <unsigned long>n)
        return buf_add(&self.out, s, n)

    cdef int opaque_crlf(self, const unsigned char* s, Py_ssize_t n, bint crlf,
                         bint pre, bint post) except -1:
        """OPAQUE of [">"] s ["]]"], every LF written CR LF when ``crlf``."""
        cdef Py_ssize_t size = n + pre + 2 * post, start = 0
        cdef const unsigned char* hit
        if crlf:
            size += _tk_count_lf(s, n)
        if size > _TK_MAX_OPAQUE:
            raise _TkFallback("opaque run past max_opaque")
        buf_grow(&self.out, size + 6)
        buf_byte(&self.out, TK_OPAQUE)
        buf_mb(&self.out, <unsigned long>size)
        if pre:
            buf_byte(&self.out, 0x3E)
        while crlf and start < n:
            hit = <const unsigned char*>memchr(s + start, 0x0A, n - start)
            if hit == NULL:
                break
            buf_add(&self.out, s + start, hit - (s + start))
            buf_add(&self.out, <const unsigned char*>b"\r\n", 2)
            start = hit - s + 1
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

    # --- values (the checks of xml_writer.pxi's _Writer) --------------------------------

    cdef int leaf_bytes(self, int element, const unsigned char* s, Py_ssize_t n) except -1:
        """``<element>s</element>``: a bare tag when ``s`` is empty."""
        cdef Py_ssize_t pos = self.open(element)
        if n:
            self.out.data[pos] |= TK_CONTENT
            self.str_i(s, n)
            return buf_byte(&self.out, TK_END)
        return 0

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

    cdef int leaf_text(self, int element, object value, str what) except -1:
        cdef Py_ssize_t n
        cdef const unsigned char* s = self.text(value, what, &n)
        return self.leaf_bytes(element, s, n)

    cdef int leaf_token(self, int element, object value, str what) except -1:
        """A token: text without surrounding whitespace (the decoder would trim it)."""
        cdef Py_ssize_t n
        cdef const unsigned char* s = self.text(value, what, &n)
        if not _plain(value) and value != value.strip():
            raise EncodeError("bad_value", -1, f"{what} has surrounding whitespace")
        return self.leaf_bytes(element, s, n)

    cdef int leaf_code(self, int element, object value, str what, bint classed=False,
                       int cls=0) except -1:
        """A non-negative int as decimal text; ``classed``: the text of a ``Data`` of class
        ``cls`` (Status / Alert codes)."""
        cdef unsigned long long number
        cdef unsigned char digits[24]
        cdef int start = 24
        cdef bytes text
        cdef Py_ssize_t pos
        if type(value) is not int:
            raise EncodeError("bad_code", -1, f"{what} must be a non-negative int, not {shown(value)}")
        try:
            number = PyLong_AsUnsignedLongLong(value)
        except OverflowError:
            if value < 0:
                raise EncodeError("bad_code", -1,
                                  f"{what} must be a non-negative int, not {shown(value)}") from None
            text = str(value).encode("ascii")
            pos = self.open(element)
            self.classed_text(<const unsigned char*>(<char*>text), len(text),
                              cls if classed else TK_PLAIN)
            return self.end_content(pos)
        while True:
            start -= 1
            digits[start] = <unsigned char>(0x30 + number % 10)
            number //= 10
            if number == 0:
                break
        pos = self.open(element)
        self.classed_text(digits + start, 24 - start, cls if classed else TK_PLAIN)
        return self.end_content(pos)

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

    cdef int meta(self, object meta) except -1:
        cdef Py_ssize_t pos, inner
        cdef bint exact = type(meta) is Meta
        if not exact and not isinstance(meta, Meta):
            raise EncodeError("bad_value", -1, "meta must be a Meta")
        pos = self.open(E_Meta)
        if _tk_attr(meta, exact, O_META_FIELD_LEVEL, "field_level"):
            self.open(E_FieldLevel)
        value = _tk_attr(meta, exact, O_META_FORMAT, "format")
        if value is not None:
            self.leaf_text(E_Format, value, "Format")
        value = _tk_attr(meta, exact, O_META_TYPE, "type")
        if value is not None:
            self.leaf_text(E_Type, value, "Type")
        value = _tk_attr(meta, exact, O_META_MARK, "mark")
        if value is not None:
            self.leaf_text(E_Mark, value, "Mark")
        value = _tk_attr(meta, exact, O_META_SIZE, "size")
        if value is not None:
            self.leaf_code(E_Size, value, "Size")
        anchor = _tk_attr(meta, exact, O_META_ANCHOR, "anchor")
        if anchor is not None:
            inner = self.open(E_Anchor)
            exact = type(anchor) is Anchor
            value = _tk_attr(anchor, exact, O_ANCHOR_LAST, "last")
            if value is not None:
                self.leaf_text(E_Last, value, "Last")
            self.leaf_text(E_Next, _tk_attr(anchor, exact, O_ANCHOR_NEXT, "next"), "Next")
            self.close(inner)
            exact = type(meta) is Meta
        value = _tk_attr(meta, exact, O_META_VERSION, "version")
        if value is not None:
            self.leaf_text(E_Version, value, "Version")
        value = _tk_attr(meta, exact, O_META_NEXT_NONCE, "next_nonce")
        if value is not None:
            self.leaf_text(E_NextNonce, value, "NextNonce")
        value = _tk_attr(meta, exact, O_META_MAX_MSG_SIZE, "max_msg_size")
        if value is not None:
            self.leaf_code(E_MaxMsgSize, value, "MaxMsgSize")
        value = _tk_attr(meta, exact, O_META_MAX_OBJ_SIZE, "max_obj_size")
        if value is not None:
            self.leaf_code(E_MaxObjSize, value, "MaxObjSize")
        for emi in _tk_attr(meta, exact, O_META_EMI, "emi"):
            self.leaf_text(E_EMI, emi, "EMI")
        mem = _tk_attr(meta, exact, O_META_MEM, "mem")
        if mem is not None:
            inner = self.open(E_Mem)
            exact = type(mem) is Mem
            if _tk_attr(mem, exact, O_MEM_SHARED_MEM, "shared_mem"):
                self.open(E_SharedMem)
            self.leaf_text(E_FreeMem, _tk_attr(mem, exact, O_MEM_FREE_MEM, "free_mem"),
                           "FreeMem")
            self.leaf_text(E_FreeID, _tk_attr(mem, exact, O_MEM_FREE_ID, "free_id"), "FreeID")
            self.close(inner)
            exact = type(meta) is Meta
        if _tk_attr(meta, exact, O_META_EXTRA, "extra"):
            raise _TkFallback("MetaExtra: raw XML")
        return self.close(pos)

    cdef int loc(self, int element, object loc) except -1:
        cdef bint exact = type(loc) is Target or type(loc) is Source
        cdef Py_ssize_t pos = self.open(element)
        self.leaf_token(E_LocURI, _tk_attr(loc, exact, O_LOC_URI, "loc_uri"), "LocURI")
        name = _tk_attr(loc, exact, O_LOC_NAME, "loc_name")
        if name is not None:
            self.leaf_text(E_LocName, name, "LocName")
        return self.close(pos)

    cdef int parent_loc(self, int element, object value, str what) except -1:
        cdef Py_ssize_t pos = self.open(element)
        self.leaf_token(E_LocURI, value, what)
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

    cdef int data(self, object item, bint exact, object fmt, object item_meta,
                  object command_meta, int grand, int open_elements) except -1:
        """The Item's ``<Data>``: the class comes from ``item_meta`` / ``command_meta`` and
        ``grand`` (the command's element id); ``open_elements``: the elements open around
        the Data."""
        cdef Py_ssize_t pos, n
        cdef const unsigned char* s
        cdef str text
        cdef bytes nested
        data = _tk_attr(item, exact, O_ITEM_DATA, "data")
        if data is None:
            return 0
        if type(data) is str:
            text = data
        elif isinstance(data, bytes):
            return self.binary(data)
        elif isinstance(data, XmlDocument):
            nested, marker, size, elements = _TK_EMBEDDED(data.xml, self.ver_dtd,
                                                          open_elements + 1, _xml_to_wbxml)
            self.raw_len += size
            self.raw_elements += elements
            pos = self.open(E_Data)
            self.opaque(<const unsigned char*>(<char*>nested), len(nested))
            if marker:  # markup as its text: the empty string after it says so
                buf_add(&self.out, <const unsigned char*>b"\x03\x00", 2)
            return self.close(pos)
        elif isinstance(data, str):
            text = data
        else:
            raise EncodeError("bad_value", -1, f"Data of type {type(data).__name__}")
        hint = _tk_attr(item, exact, O_ITEM_DATA_HINT, "data_hint")
        try:
            s = <const unsigned char*>PyUnicode_AsUTF8AndSize(text, &n)
        except UnicodeEncodeError:  # the reference's _NOT_XML matches it: invalid_char
            raise EncodeError("invalid_char", -1, "Data holds a lone surrogate") from None
        if _bad_xml_char(s, n) or (fmt != "bin" and (
                hint is _OPAQUE_HINT or "\n" in text or "\r" in text)):
            pos = self.open(E_Data)
            if n:
                self.opaque(s, n)
            return self.close(pos)
        if hint is _CODE_DATA and n and "\r" not in text:
            return self.cdata(s, n, _tk_class(item_meta, command_meta, grand))
        pos = self.open(E_Data)
        if n:
            self.classed_text(s, n, _tk_class(item_meta, command_meta, grand))
        return self.close(pos)

    cdef int item(self, object item, object command_meta, int grand,
                  int open_elements) except -1:
        cdef Py_ssize_t pos
        cdef bint exact = type(item) is Item
        if not exact and not isinstance(item, Item):
            raise EncodeError("bad_value", -1, "items must hold Item objects")
        pos = self.open(E_Item)
        value = _tk_attr(item, exact, O_ITEM_TARGET, "target")
        if value is not None:
            self.loc(E_Target, value)
        value = _tk_attr(item, exact, O_ITEM_SOURCE, "source")
        if value is not None:
            self.loc(E_Source, value)
        value = _tk_attr(item, exact, O_ITEM_SOURCE_PARENT, "source_parent")
        if value is not None:
            self.parent_loc(E_SourceParent, value, "SourceParent")
        value = _tk_attr(item, exact, O_ITEM_TARGET_PARENT, "target_parent")
        if value is not None:
            self.parent_loc(E_TargetParent, value, "TargetParent")
        meta = _tk_attr(item, exact, O_ITEM_META, "meta")
        if meta is not None:
            self.meta(meta)
        use = meta if meta is not None and meta.format else command_meta
        self.data(item, exact, use.format if use is not None else None, meta, command_meta,
                  grand, open_elements + 1)
        if _tk_attr(item, exact, O_ITEM_MORE_DATA, "more_data"):
            self.open(E_MoreData)
        return self.close(pos)

    cdef int items(self, object items, object meta, bint required, int element, str what,
                   int open_elements) except -1:
        if required and not items:
            raise EncodeError("missing_element", -1, f"{what} needs at least one Item")
        for item in items:
            self.item(item, meta, element, open_elements)
        return 0

    # --- commands ---------------------------------------------------------------------------

    cdef Py_ssize_t head(self, int element, object cmd_id, object no_resp) except -1:
        cdef Py_ssize_t pos = self.open(element)
        self.ident(E_CmdID, cmd_id, "CmdID")
        if no_resp:
            self.open(E_NoResp)
        return pos

    cdef int command(self, object command, int depth, object container_meta,
                     int container) except -1:
        """``container_meta`` / ``container``: the enclosing Atomic / Sequence's Meta and
        element id (SyncBody at the top): they decide the class of Status / Alert Data."""
        cdef Py_ssize_t pos, inner
        cdef int open_elements = depth + 2  # SyncML, SyncBody, the containers, the command
        cdef int element = _TK_COMMAND_ID.get(type(command), -1)
        cdef bint exact = element >= 0
        cdef str name
        if depth > _TK_MAX_DEPTH:
            raise _TkFallback("Atomic / Sequence nested near the scanner's depth limit")
        if element == E_Status or (not exact and isinstance(command, Status)):
            pos = self.open(E_Status)
            self.ident(E_CmdID, _tk_attr(command, exact, O_ST_CMD_ID, "cmd_id"), "CmdID")
            if _tk_attr(command, exact, O_ST_NO_RESP, "no_resp"):
                self.open(E_NoResp)  # not in the Status content model; kept if it was sent
            self.ident(E_MsgRef, _tk_attr(command, exact, O_ST_MSG_REF, "msg_ref"), "MsgRef")
            self.ident(E_CmdRef, _tk_attr(command, exact, O_ST_CMD_REF, "cmd_ref"), "CmdRef",
                       True)
            self.leaf_token(E_Cmd, _tk_attr(command, exact, O_ST_CMD, "cmd"), "Cmd")
            for ref in _tk_attr(command, exact, O_ST_TARGET_REFS, "target_refs"):
                self.leaf_token(E_TargetRef, ref, "TargetRef")
            for ref in _tk_attr(command, exact, O_ST_SOURCE_REFS, "source_refs"):
                self.leaf_token(E_SourceRef, ref, "SourceRef")
            chal = _tk_attr(command, exact, O_ST_CHAL, "chal")
            if chal is not None:
                inner = self.open(E_Chal)
                self.meta(_tk_attr(chal, type(chal) is Chal, O_CHAL_META, "meta"))
                self.close(inner)
            self.leaf_code(E_Data, _tk_attr(command, exact, O_ST_DATA, "data"), "Status Data",
                           True, _tk_class(None, container_meta, container))
            self.items(_tk_attr(command, exact, O_ST_ITEMS, "items"), None, False, E_Status,
                       "Status", open_elements)
        elif element == E_Results or (not exact and isinstance(command, Results)):
            pos = self.open(E_Results)
            self.ident(E_CmdID, _tk_attr(command, exact, O_RS_CMD_ID, "cmd_id"), "CmdID")
            if _tk_attr(command, exact, O_RS_NO_RESP, "no_resp"):
                self.open(E_NoResp)  # not in the Results content model; kept if it was sent
            value = _tk_attr(command, exact, O_RS_MSG_REF, "msg_ref")
            if value is not None:
                self.ident(E_MsgRef, value, "MsgRef")
            self.ident(E_CmdRef, _tk_attr(command, exact, O_RS_CMD_REF, "cmd_ref"), "CmdRef",
                       True)
            meta = _tk_attr(command, exact, O_RS_META, "meta")
            if meta is not None:
                self.meta(meta)
            value = _tk_attr(command, exact, O_RS_TARGET_REF, "target_ref")
            if value is not None:
                self.leaf_token(E_TargetRef, value, "TargetRef")
            value = _tk_attr(command, exact, O_RS_SOURCE_REF, "source_ref")
            if value is not None:
                self.leaf_token(E_SourceRef, value, "SourceRef")
            self.items(_tk_attr(command, exact, O_RS_ITEMS, "items"), meta, True, E_Results,
                       "Results", open_elements)
        elif exact and element != E_Alert and element != E_Exec and \
                element != E_Atomic and element != E_Sequence or \
                not exact and isinstance(command, _ItemCommand):
            name = command.ELEMENT
            element = _TK_ID[name]
            pos = self.head(element, _tk_attr(command, exact, O_IC_CMD_ID, "cmd_id"),
                            _tk_attr(command, exact, O_IC_NO_RESP, "no_resp"))
            meta = _tk_attr(command, exact, O_IC_META, "meta")
            if meta is not None:
                self.meta(meta)
            self.items(_tk_attr(command, exact, O_IC_ITEMS, "items"), meta, True, element,
                       name, open_elements)
        elif element == E_Alert or (not exact and isinstance(command, Alert)):
            pos = self.head(E_Alert, _tk_attr(command, exact, O_AL_CMD_ID, "cmd_id"),
                            _tk_attr(command, exact, O_AL_NO_RESP, "no_resp"))
            value = _tk_attr(command, exact, O_AL_DATA, "data")
            if value is not None:
                self.leaf_code(E_Data, value, "Alert Data", True,
                               _tk_class(None, container_meta, container))
            value = _tk_attr(command, exact, O_AL_CORRELATOR, "correlator")
            if value is not None:
                self.leaf_token(E_Correlator, value, "Correlator")
            self.items(_tk_attr(command, exact, O_AL_ITEMS, "items"), None, False, E_Alert,
                       "Alert", open_elements)
        elif element == E_Exec or (not exact and isinstance(command, Exec)):
            pos = self.head(E_Exec, _tk_attr(command, exact, O_EX_CMD_ID, "cmd_id"),
                            _tk_attr(command, exact, O_EX_NO_RESP, "no_resp"))
            meta = _tk_attr(command, exact, O_EX_META, "meta")
            if meta is not None:
                self.meta(meta)
            value = _tk_attr(command, exact, O_EX_CORRELATOR, "correlator")
            if value is not None:
                self.leaf_token(E_Correlator, value, "Correlator")
            self.items(_tk_attr(command, exact, O_EX_ITEMS, "items"), meta, True, E_Exec,
                       "Exec", open_elements)
        elif exact or isinstance(command, _Container):
            name = command.ELEMENT
            element = _TK_ID[name]
            pos = self.head(element, _tk_attr(command, exact, O_CT_CMD_ID, "cmd_id"),
                            _tk_attr(command, exact, O_CT_NO_RESP, "no_resp"))
            meta = _tk_attr(command, exact, O_CT_META, "meta")
            if meta is not None:
                self.meta(meta)
            commands = _tk_attr(command, exact, O_CT_COMMANDS, "commands")
            if not commands:
                raise EncodeError("missing_element", -1, f"{name} needs at least one command")
            for child in commands:
                self.command(child, depth + 1, meta, element)
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
        cdef bint exact = type(hdr) is SyncHdr
        if not exact and not isinstance(hdr, SyncHdr):
            raise EncodeError("bad_value", -1, "header must be a SyncHdr")
        ver_dtd = _tk_attr(hdr, exact, O_HDR_VER_DTD, "ver_dtd")
        if isinstance(ver_dtd, str) and ver_dtd in _TK_VERSIONS:
            version = _TK_VERSIONS.index(ver_dtd)
        else:
            raise EncodeError("bad_version", -1, f"VerDTD {shown(ver_dtd)}")
        ver_proto = _tk_attr(hdr, exact, O_HDR_VER_PROTO, "ver_proto")
        if not isinstance(ver_proto, str) or not _VER_PROTO_OUT.fullmatch(ver_proto):
            raise EncodeError("bad_version", -1, f"VerProto {shown(ver_proto)}")
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
        self.ident(E_SessionID, _tk_attr(hdr, exact, O_HDR_SESSION_ID, "session_id"),
                   "SessionID")
        self.ident(E_MsgID, _tk_attr(hdr, exact, O_HDR_MSG_ID, "msg_id"), "MsgID")
        self.loc(E_Target, _tk_attr(hdr, exact, O_HDR_TARGET, "target"))
        self.loc(E_Source, _tk_attr(hdr, exact, O_HDR_SOURCE, "source"))
        value = _tk_attr(hdr, exact, O_HDR_RESP_URI, "resp_uri")
        if value is not None:
            self.leaf_token(E_RespURI, value, "RespURI")
        if _tk_attr(hdr, exact, O_HDR_NO_RESP, "no_resp"):
            self.open(E_NoResp)
        cred = _tk_attr(hdr, exact, O_HDR_CRED, "cred")
        if cred is not None:
            inner = self.open(E_Cred)
            cred_meta = cred.meta
            if cred_meta is not None:
                self.meta(cred_meta)
            value = cred.data
            if not value:
                raise EncodeError("missing_element", -1, "Cred needs Data")
            s = self.text(value, "Cred Data", &n)
            data_pos = self.open(E_Data)
            # The SyncHdr's own Meta comes after the Cred: only the Cred's Meta decides.
            self.classed_text(s, n, _tk_class(cred_meta, None, E_SyncHdr))
            self.end_content(data_pos)
            self.close(inner)
        value = _tk_attr(hdr, exact, O_HDR_META, "meta")
        if value is not None:
            self.meta(value)
        self.close(pos)
        return root

    cdef bytes message(self, object msg):
        cdef Py_ssize_t root, body
        cdef bint exact = type(msg) is Message
        if not exact and not isinstance(msg, Message):
            raise EncodeError("bad_value", -1, f"not a Message: {type(msg).__name__}")
        root = self.header(_tk_attr(msg, exact, O_MSG_HEADER, "header"))
        body = self.open(E_SyncBody)
        for command in _tk_attr(msg, exact, O_MSG_COMMANDS, "commands"):
            self.command(command, 1, None, E_SyncBody)
        if _tk_attr(msg, exact, O_MSG_FINAL, "final"):
            self.open(E_Final)
        self.close(body)
        self.close(root)
        if self.surrogate:
            raise EncodeError("invalid_char", -1, "a lone surrogate in the message")
        # _tk_share.over_limits, in C: the same bound on the intermediate XML.
        if (_TK_XML_FIXED + _TK_XML_PER_ELEMENT * self.elements
                + _TK_XML_PER_BYTE * self.out.len + self.raw_len > _TK_MAX_INPUT
                or self.elements + self.raw_elements > _TK_MAX_ELEMENTS):
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
