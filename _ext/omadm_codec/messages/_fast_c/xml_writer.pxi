# Included by _fast_c.pyx: model -> canonical XML bytes, written into one C buffer.
#
# The one idea: messages._writer, statement for statement (same element order, same checks in
# the same order, so the same EncodeError for the same bad model), but every value goes
# straight from the str's UTF-8 into the buffer, checked and escaped in the same pass.
# Invariant: a lone surrogate in a field the reference does not check (IDs, embedded markup)
# is reported, as the reference does, only after everything else was written
# (``invalid_char`` from the final UTF-8 encoding).

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport uint64_t
from libc.string cimport memcpy
from omadm_codec.wbxml._xmlbuf cimport buf_grow

import binascii

from omadm_codec.messages import _writer as _ref_writer
from omadm_codec.messages._schema import SYNCML_NS as _SYNCML_NS
from omadm_codec.messages.model import _Container, _DsCommand, _ItemCommand

_VER_PROTO_OUT = _ref_writer._VER_PROTO
_OPAQUE_OPEN_B = _ref_writer._OPAQUE_OPEN.encode("ascii")
_MI_B = _ref_writer._MI.encode("ascii")
_B64 = binascii.b2a_base64
_CODE_DATA = DataHint.CDATA
_OPAQUE_HINT = DataHint.OPAQUE


cdef inline int _put(Buf* b, const char* s, Py_ssize_t n) except -1:
    return buf_add(b, <const unsigned char*>s, n)


cdef unsigned char _CLASS[256]  # 1: escaped (& < > CR); 2: never in XML; 3: 0xEF (U+FFFE?)


cdef void _init_classes():
    cdef int c
    for c in range(256):
        _CLASS[c] = 0
    for c in range(0x20):
        if c != 0x09 and c != 0x0A and c != 0x0D:
            _CLASS[c] = 2
    _CLASS[0x26] = _CLASS[0x3C] = _CLASS[0x3E] = _CLASS[0x0D] = 1
    _CLASS[0xEF] = 3


_init_classes()


cdef extern from *:
    """
    #define OMADM_ASCII_HIGH 0x8080808080808080ULL
    #define OMADM_ASCII_SPACE 0x2020202020202020ULL
    """
    const uint64_t ASCII_HIGH "OMADM_ASCII_HIGH"
    const uint64_t ASCII_SPACE "OMADM_ASCII_SPACE"


@cython.boundscheck(False)
@cython.wraparound(False)
cdef bint _bad_xml_char(const unsigned char* s, Py_ssize_t n) noexcept:
    """UTF-8 ``s`` holds a character XML 1.0 cannot carry (``_writer._NOT_XML`` but the
    surrogates, which never reach UTF-8). Skips eight bytes at a time while none is below 0x20
    or above 0x7F (the only bytes it can flag); used by both writers."""
    cdef Py_ssize_t i = 0, j
    cdef uint64_t word
    cdef unsigned char k
    while i + 8 <= n:
        memcpy(&word, s + i, 8)
        # No high bit, and no byte below 0x20 (the "has less than" test is exact when no
        # high bit is set).
        if (word & ASCII_HIGH) == 0 and ((word - ASCII_SPACE) & ~word & ASCII_HIGH) == 0:
            i += 8
            continue
        for j in range(i, i + 8):
            k = _CLASS[s[j]]
            if k >= 2 and (k == 2 or (j + 2 < n and s[j + 1] == 0xBF
                                      and (s[j + 2] == 0xBE or s[j + 2] == 0xBF))):
                return True
        i += 8
    for j in range(i, n):
        k = _CLASS[s[j]]
        if k >= 2 and (k == 2 or (j + 2 < n and s[j + 1] == 0xBF
                                  and (s[j + 2] == 0xBE or s[j + 2] == 0xBF))):
            return True
    return False


cdef bint _not_xml(str text):
    """``_writer._NOT_XML.search(text)`` is not None, in C."""
    cdef Py_ssize_t n
    cdef const char* s
    try:
        s = PyUnicode_AsUTF8AndSize(text, &n)
    except UnicodeEncodeError:
        return True  # a lone surrogate
    return _bad_xml_char(<const unsigned char*>s, n)


cdef int _esc_into(Buf* out, const unsigned char* s, Py_ssize_t n) except -1:
    """``s`` into ``out`` with ``& < > CR`` escaped (``_writer._esc``, ``_lxml.escape_text``)."""
    cdef Py_ssize_t i = 0, start = 0
    cdef unsigned char c
    while i < n:
        # ASCII text with nothing to escape (class 0 below), 16 bytes at a time
        i += <Py_ssize_t>wtext.omadm_safe_text_len(s + i, <size_t>(n - i))
        if i >= n:
            break
        c = s[i]
        if _CLASS[c] != 1:
            i += 1
            continue
        buf_add(out, s + start, i - start)
        if c == 0x26:
            buf_add(out, <const unsigned char*>b"&amp;", 5)
        elif c == 0x3C:
            buf_add(out, <const unsigned char*>b"&lt;", 4)
        elif c == 0x3E:
            buf_add(out, <const unsigned char*>b"&gt;", 4)
        else:
            buf_add(out, <const unsigned char*>b"&#13;", 5)
        i += 1
        start = i
    return buf_add(out, s + start, n - start)


@cython.final
cdef class _Writer:
    cdef Buf out
    cdef bint for_wbxml
    cdef bint surrogate   # a lone surrogate in an unchecked field: invalid_char at the end
    cdef unsigned int steps  # commands and items written, for the switch point

    cdef inline int step(self) except -1:
        self.steps += 1
        if (self.steps & (HANDOFF_COMMANDS - 1)) == 0:
            _switch_point()  # a large message: other threads run now and then (_handoff.pxd)
        return 0

    def __dealloc__(self):
        free(self.out.data)

    # --- values ----------------------------------------------------------------------------

    cdef int raw(self, str value) except -1:
        """An unchecked value, written as is (the reference's ``w(value)``)."""
        cdef Py_ssize_t n
        cdef const char* s
        try:
            s = PyUnicode_AsUTF8AndSize(value, &n)
        except UnicodeEncodeError:
            self.surrogate = True
            return 0
        return _put(&self.out, s, n)

    cdef int esc(self, str value, bint check) except -1:
        """``_esc(value)``; with ``check`` first ``_text``'s test for characters XML cannot
        carry (raised here), else a lone surrogate is only noted (see the invariant)."""
        cdef Py_ssize_t n
        cdef const unsigned char* s
        try:
            s = <const unsigned char*>PyUnicode_AsUTF8AndSize(value, &n)
        except UnicodeEncodeError:
            if check:
                raise EncodeError("invalid_char", -1, "a character XML cannot carry") from None
            self.surrogate = True
            return 0
        if check and _bad_xml_char(s, n):
            raise EncodeError("invalid_char", -1, "a character XML cannot carry")
        return _esc_into(&self.out, s, n)

    cdef int text(self, object value, str what) except -1:
        if type(value) is not str and not isinstance(value, str):
            raise EncodeError("bad_value", -1, f"{what} must be str, not {type(value).__name__}")
        return self.esc(value, True)

    cdef int token(self, object value, str what) except -1:
        self.text(value, what)
        if not _plain(value) and value != value.strip():
            raise EncodeError("bad_value", -1, f"{what} has surrounding whitespace")
        return 0

    cdef int ident(self, object value, str what, bint allow_empty=False) except -1:
        if type(value) is not str and not isinstance(value, str):
            raise EncodeError("bad_id", -1, f"{what} must be str, not {type(value).__name__}")
        if not (value and len(value) <= 256 and _plain(value)) and \
                not share.good_id(value, allow_empty):
            raise EncodeError("bad_id", -1, f"bad {what} {value[:40]!r}")
        return self.esc(value, False)

    cdef int code(self, object value, str what) except -1:
        cdef bytes digits
        if type(value) is not int or value < 0:
            raise EncodeError("bad_code", -1, f"{what} must be a non-negative int, not {shown(value)}")
        digits = str(value).encode("ascii")
        return buf_add(&self.out, <const unsigned char*>(<char*>digits), len(digits))

    cdef int element(self, const char* open_, Py_ssize_t n_open, object value, int kind,
                     str what, const char* close, Py_ssize_t n_close) except -1:
        """``open_`` value ``close``, the value as ``kind``: 0 text, 1 token, 2 code."""
        _put(&self.out, open_, n_open)
        if kind == 0:
            self.text(value, what)
        elif kind == 1:
            self.token(value, what)
        else:
            self.code(value, what)
        return _put(&self.out, close, n_close)

    # --- Meta, Item, Data ------------------------------------------------------------------

    cdef int meta(self, object meta) except -1:
        if not isinstance(meta, Meta):
            raise EncodeError("bad_value", -1, "meta must be a Meta")
        _put(&self.out, "<Meta>", 6)
        if meta.field_level:
            _put(&self.out, '<FieldLevel xmlns="syncml:metinf"/>', 35)
        if meta.format is not None:
            self.element('<Format xmlns="syncml:metinf">', 30, meta.format, 0, "Format",
                         "</Format>", 9)
        if meta.type is not None:
            self.element('<Type xmlns="syncml:metinf">', 28, meta.type, 0, "Type", "</Type>", 7)
        if meta.mark is not None:
            self.element('<Mark xmlns="syncml:metinf">', 28, meta.mark, 0, "Mark", "</Mark>", 7)
        if meta.size is not None:
            self.element('<Size xmlns="syncml:metinf">', 28, meta.size, 2, "Size", "</Size>", 7)
        anchor = meta.anchor
        if anchor is not None:
            _put(&self.out, '<Anchor xmlns="syncml:metinf">', 30)
            if anchor.last is not None:
                self.element("<Last>", 6, anchor.last, 0, "Last", "</Last>", 7)
            self.element("<Next>", 6, anchor.next, 0, "Next", "</Next></Anchor>", 16)
        if meta.version is not None:
            self.element('<Version xmlns="syncml:metinf">', 31, meta.version, 0, "Version",
                         "</Version>", 10)
        if meta.next_nonce is not None:
            self.element('<NextNonce xmlns="syncml:metinf">', 33, meta.next_nonce, 0,
                         "NextNonce", "</NextNonce>", 12)
        if meta.max_msg_size is not None:
            self.element('<MaxMsgSize xmlns="syncml:metinf">', 34, meta.max_msg_size, 2,
                         "MaxMsgSize", "</MaxMsgSize>", 13)
        if meta.max_obj_size is not None:
            self.element('<MaxObjSize xmlns="syncml:metinf">', 34, meta.max_obj_size, 2,
                         "MaxObjSize", "</MaxObjSize>", 13)
        for emi in meta.emi:
            self.element('<EMI xmlns="syncml:metinf">', 27, emi, 0, "EMI", "</EMI>", 6)
        mem = meta.mem
        if mem is not None:
            _put(&self.out, '<Mem xmlns="syncml:metinf">', 27)
            if mem.shared_mem:
                _put(&self.out, "<SharedMem/>", 12)
            self.element("<FreeMem>", 9, mem.free_mem, 0, "FreeMem", "</FreeMem>", 10)
            self.element("<FreeID>", 8, mem.free_id, 0, "FreeID", "</FreeID></Mem>", 15)
        for extra in meta.extra:
            self.raw(extra.xml)
        return _put(&self.out, "</Meta>", 7)

    cdef int loc(self, bint target, object loc) except -1:
        _put(&self.out, "<Target><LocURI>" if target else "<Source><LocURI>", 16)
        self.token(loc.loc_uri, "LocURI")
        _put(&self.out, "</LocURI>", 9)
        if loc.loc_name is not None:
            self.element("<LocName>", 9, loc.loc_name, 0, "LocName", "</LocName>", 10)
        return _put(&self.out, "</Target>" if target else "</Source>", 9)

    cdef int opaque(self, bytes raw) except -1:
        cdef bytes b64 = _B64(raw, newline=False)
        buf_add(&self.out, <const unsigned char*>(<char*>_OPAQUE_OPEN_B), len(_OPAQUE_OPEN_B))
        buf_add(&self.out, <const unsigned char*>(<char*>b64), len(b64))
        return _put(&self.out, "</Data>", 7)

    cdef int data(self, object item, object fmt) except -1:
        cdef str text
        data = item.data
        if data is None:
            return 0
        if isinstance(data, bytes):
            return self.opaque(data)
        if isinstance(data, XmlDocument):
            _put(&self.out, "<Data>", 6)
            self.raw(data.xml)
            return _put(&self.out, "</Data>", 7)
        if not isinstance(data, str):
            raise EncodeError("bad_value", -1, f"Data of type {type(data).__name__}")
        text = data
        hint = item.data_hint
        if _not_xml(text) or (self.for_wbxml and fmt != "bin" and (
                hint is _OPAQUE_HINT or "\n" in text or "\r" in text)):
            try:
                raw = text.encode("utf-8")
            except UnicodeEncodeError:
                raise EncodeError("invalid_char", -1, "Data holds a lone surrogate") from None
            return self.opaque(raw)
        if hint is _CODE_DATA and text and "\r" not in text:
            _put(&self.out, "<Data><![CDATA[", 15)
            self.raw(text.replace("]]>", "]]]]><![CDATA[>"))
            return _put(&self.out, "]]></Data>", 10)
        _put(&self.out, "<Data>", 6)
        self.esc(text, False)
        return _put(&self.out, "</Data>", 7)

    cdef int item(self, object item, object command_meta) except -1:
        self.step()
        if not isinstance(item, Item):
            raise EncodeError("bad_value", -1, "items must hold Item objects")
        _put(&self.out, "<Item>", 6)
        if item.target is not None:
            self.loc(True, item.target)
        if item.source is not None:
            self.loc(False, item.source)
        if item.source_parent is not None:
            _put(&self.out, "<SourceParent><LocURI>", 22)
            self.token(item.source_parent, "SourceParent")
            _put(&self.out, "</LocURI></SourceParent>", 24)
        if item.target_parent is not None:
            _put(&self.out, "<TargetParent><LocURI>", 22)
            self.token(item.target_parent, "TargetParent")
            _put(&self.out, "</LocURI></TargetParent>", 24)
        meta = item.meta
        if meta is not None:
            self.meta(meta)
        use = meta if meta is not None and meta.format else command_meta
        self.data(item, use.format if use is not None else None)
        if item.more_data:
            _put(&self.out, "<MoreData/>", 11)
        return _put(&self.out, "</Item>", 7)

    cdef int items(self, object items, object meta, bint required, str what) except -1:
        if required and not items:
            raise EncodeError("missing_element", -1, f"{what} needs at least one Item")
        for item in items:
            self.item(item, meta)
        return 0

    cdef int name(self, str name, bint close) except -1:
        _put(&self.out, "</" if close else "<", 2 if close else 1)
        self.raw(name)
        return _put(&self.out, ">", 1)

    cdef int head(self, str name, object command) except -1:
        self.name(name, False)
        _put(&self.out, "<CmdID>", 7)
        self.ident(command.cmd_id, "CmdID")
        _put(&self.out, "</CmdID>", 8)
        if command.no_resp:
            _put(&self.out, "<NoResp/>", 9)
        return 0

    cdef int ref(self, const char* open_, Py_ssize_t n_open, object value, str what,
                 bint allow_empty, const char* close, Py_ssize_t n_close) except -1:
        _put(&self.out, open_, n_open)
        self.ident(value, what, allow_empty)
        return _put(&self.out, close, n_close)

    cdef int command(self, object command, int depth) except -1:
        cdef str name
        self.step()
        if depth > 64:
            raise EncodeError("too_deep", -1, "Atomic/Sequence nested too deep")
        if isinstance(command, _ItemCommand):
            name = command.ELEMENT
            self.head(name, command)
            if command.meta is not None:
                self.meta(command.meta)
            self.items(command.items, command.meta, True, name)
        elif isinstance(command, Status):
            name = "Status"
            _put(&self.out, "<Status>", 8)
            self.ref("<CmdID>", 7, command.cmd_id, "CmdID", False, "</CmdID>", 8)
            if command.no_resp:
                _put(&self.out, "<NoResp/>", 9)
            self.ref("<MsgRef>", 8, command.msg_ref, "MsgRef", False, "</MsgRef>", 9)
            self.ref("<CmdRef>", 8, command.cmd_ref, "CmdRef", True, "</CmdRef>", 9)
            self.element("<Cmd>", 5, command.cmd, 1, "Cmd", "</Cmd>", 6)
            for ref in command.target_refs:
                self.element("<TargetRef>", 11, ref, 1, "TargetRef", "</TargetRef>", 12)
            for ref in command.source_refs:
                self.element("<SourceRef>", 11, ref, 1, "SourceRef", "</SourceRef>", 12)
            if command.chal is not None:
                _put(&self.out, "<Chal>", 6)
                self.meta(command.chal.meta)
                _put(&self.out, "</Chal>", 7)
            self.element("<Data>", 6, command.data, 2, "Status Data", "</Data>", 7)
            self.items(command.items, None, False, name)
        elif isinstance(command, Alert):
            name = "Alert"
            self.head(name, command)
            if command.data is not None:
                self.element("<Data>", 6, command.data, 2, "Alert Data", "</Data>", 7)
            if command.correlator is not None:
                self.element("<Correlator>", 12, command.correlator, 1, "Correlator",
                             "</Correlator>", 13)
            self.items(command.items, None, False, name)
        elif isinstance(command, Results):
            name = "Results"
            _put(&self.out, "<Results>", 9)
            self.ref("<CmdID>", 7, command.cmd_id, "CmdID", False, "</CmdID>", 8)
            if command.no_resp:
                _put(&self.out, "<NoResp/>", 9)
            if command.msg_ref is not None:
                self.ref("<MsgRef>", 8, command.msg_ref, "MsgRef", False, "</MsgRef>", 9)
            self.ref("<CmdRef>", 8, command.cmd_ref, "CmdRef", True, "</CmdRef>", 9)
            if command.meta is not None:
                self.meta(command.meta)
            if command.target_ref is not None:
                self.element("<TargetRef>", 11, command.target_ref, 1, "TargetRef",
                             "</TargetRef>", 12)
            if command.source_ref is not None:
                self.element("<SourceRef>", 11, command.source_ref, 1, "SourceRef",
                             "</SourceRef>", 12)
            self.items(command.items, command.meta, True, name)
        elif isinstance(command, Exec):
            name = "Exec"
            self.head(name, command)
            if command.meta is not None:
                self.meta(command.meta)
            if command.correlator is not None:
                self.element("<Correlator>", 12, command.correlator, 1, "Correlator",
                             "</Correlator>", 13)
            self.items(command.items, command.meta, True, name)
        elif isinstance(command, _Container):
            name = command.ELEMENT
            self.head(name, command)
            if command.meta is not None:
                self.meta(command.meta)
            if not command.commands:
                raise EncodeError("missing_element", -1, f"{name} needs at least one command")
            for child in command.commands:
                self.command(child, depth + 1)
        elif isinstance(command, _DsCommand):
            if not isinstance(command.xml, str):
                raise EncodeError("bad_value", -1, "a DS command's xml must be str")
            return self.raw(command.xml)
        else:
            raise EncodeError("bad_value", -1, f"not a command: {type(command).__name__}")
        return self.name(name, True)

    cdef int header(self, object hdr) except -1:
        if not isinstance(hdr, SyncHdr):
            raise EncodeError("bad_value", -1, "header must be a SyncHdr")
        ver_dtd = hdr.ver_dtd
        namespace = _SYNCML_NS.get(ver_dtd) if isinstance(ver_dtd, str) else None
        if namespace is None:
            raise EncodeError("bad_version", -1, f"VerDTD {shown(ver_dtd)}")
        ver_proto = hdr.ver_proto
        if not isinstance(ver_proto, str) or not _VER_PROTO_OUT.fullmatch(ver_proto):
            raise EncodeError("bad_version", -1, f"VerProto {shown(ver_proto)}")
        _put(&self.out, '<SyncML xmlns="', 15)
        self.raw(namespace)
        _put(&self.out, '"><SyncHdr><VerDTD>', 19)
        self.raw(ver_dtd)
        _put(&self.out, "</VerDTD><VerProto>", 19)
        self.raw(ver_proto)
        _put(&self.out, "</VerProto>", 11)
        self.ref("<SessionID>", 11, hdr.session_id, "SessionID", False, "</SessionID>", 12)
        self.ref("<MsgID>", 7, hdr.msg_id, "MsgID", False, "</MsgID>", 8)
        self.loc(True, hdr.target)
        self.loc(False, hdr.source)
        if hdr.resp_uri is not None:
            self.element("<RespURI>", 9, hdr.resp_uri, 1, "RespURI", "</RespURI>", 10)
        if hdr.no_resp:
            _put(&self.out, "<NoResp/>", 9)
        cred = hdr.cred
        if cred is not None:
            _put(&self.out, "<Cred>", 6)
            if cred.meta is not None:
                self.meta(cred.meta)
            if not cred.data:
                raise EncodeError("missing_element", -1, "Cred needs Data")
            self.element("<Data>", 6, cred.data, 0, "Cred Data", "</Data></Cred>", 14)
        if hdr.meta is not None:
            self.meta(hdr.meta)
        return _put(&self.out, "</SyncHdr>", 10)

    cdef bytes message(self, object msg):
        if not isinstance(msg, Message):
            raise EncodeError("bad_value", -1, f"not a Message: {type(msg).__name__}")
        buf_grow(&self.out, 4096)
        _put(&self.out, '<?xml version="1.0" encoding="UTF-8"?>', 38)
        self.header(msg.header)
        _put(&self.out, "<SyncBody>", 10)
        for command in msg.commands:
            self.command(command, 1)
        if msg.final:
            _put(&self.out, "<Final/>", 8)
        _put(&self.out, "</SyncBody></SyncML>", 20)
        if self.surrogate:
            raise EncodeError("invalid_char", -1, "a lone surrogate in the message")
        return PyBytes_FromStringAndSize(<char*>self.out.data, self.out.len)


def encode_xml(msg):
    """The canonical XML of ``msg`` (the bytes of ``messages._writer.write_xml``)."""
    cdef _Writer writer = _Writer.__new__(_Writer)
    return writer.message(msg)
