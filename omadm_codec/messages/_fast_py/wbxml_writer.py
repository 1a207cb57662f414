"""The pure-Python twin's model -> WBXML writer: tokens straight from the model.

Contract: the bytes (or the ``EncodeError``) of the reference path
``xml_to_wbxml(write_xml(msg, for_wbxml=True), keep_whitespace=True)``, the same as the
compiled twin's ``_ext/omadm_codec/messages/_fast_c/wbxml_writer.pxi``. The one idea:
``_Tokens`` walks the model as
``messages._writer`` does, with the same checks in the same order (so the same first error),
and writes what the encoder would make of each element the writer emits: a tag whose content
bit is set once a child arrives, STR_I text (with the Type rewrite), OPAQUE for binary and
opaque-class Data, SWITCH_PAGE lazily. Parts it does not reproduce token by token raise
``Fallback`` and the whole message takes the reference path (see ``_fast_tokens``).
"""

from __future__ import annotations

from ...errors import EncodeError
from ...limits import DEFAULT_LIMITS
from ...wbxml._encode_py import xml_to_wbxml
from ...wbxml._encode_rules import REWRITE, REWRITE_LEN
from ...wbxml._encode_rules import mb_u_int32 as _mb
from .._fast_tokens import (
    CLS_PLAIN,
    CLS_VOBJECT,
    MAX_CONTAINER_DEPTH,
    TABLES,
    TYPE_CLASS,
    Fallback,
    embedded_data,
    over_limits,
    reference_encode_wbxml,
)
from .._schema import BAD_ID, ID_MAX
from .._writer import _NOT_XML, _VER_PROTO
from ..model import (
    Alert,
    Command,
    DataHint,
    Exec,
    Item,
    Message,
    Meta,
    Results,
    Source,
    Status,
    SyncHdr,
    Target,
    XmlDocument,
    _Container,
    _DsCommand,
    _ItemCommand,
)

__all__ = ["encode_wbxml", "encode_wbxml_tokens"]

_END = 0x01
_STR_I = 0x03
_OPAQUE = 0xC3
_CONTENT = 0x40


def _text(value: object, what: str) -> bytes:
    """``_writer._text``'s checks; the value's UTF-8 (it holds no surrogate then)."""
    if not isinstance(value, str):
        raise EncodeError("bad_value", -1, f"{what} must be str, not {type(value).__name__}")
    if _NOT_XML.search(value):
        raise EncodeError("invalid_char", -1, f"{what} holds a character XML cannot carry")
    return value.encode("utf-8")


def _token(value: object, what: str) -> bytes:
    text = _text(value, what)
    assert isinstance(value, str)
    if value != value.strip():
        raise EncodeError("bad_value", -1, f"{what} has surrounding whitespace")
    return text


def _code(value: object, what: str) -> bytes:
    if type(value) is not int or value < 0:
        raise EncodeError("bad_code", -1, f"{what} must be a non-negative int, not {value!r}")
    return str(value).encode("ascii")


def _data_class(item_meta: Meta | None, command_meta: Meta | None, grand: str) -> int:
    """The class of a ``Data`` (``data_class``): the Item's (parent's) first Meta's Type
    decides, else the command's (grandparent's); a Type that names no class, or none, leaves
    it to the grandparent's name. An empty Type is found and names none."""
    type_text = item_meta.type if item_meta is not None else None
    if type_text is None and command_meta is not None:
        type_text = command_meta.type
    if type_text is not None:
        cls = TYPE_CLASS.get(type_text)
        if cls is not None:
            return cls
    return CLS_VOBJECT if grand in ("Add", "Replace") else CLS_PLAIN


class _Tokens:
    """One message's token stream; ``page`` is the encoder's current tag page."""

    __slots__ = ("out", "page", "codes", "ver_dtd", "elements", "surrogate", "raw_len",
                 "raw_elements")

    def __init__(self) -> None:
        self.out = bytearray()
        self.page = 0
        self.codes = TABLES["1.2"].codes
        self.ver_dtd = "1.2"
        self.elements = 0           # tags written (the scanner's element count)
        self.surrogate = False      # a lone surrogate in an ID: invalid_char at the end
        self.raw_len = 0            # UTF-8 bytes of the spliced embedded documents
        self.raw_elements = 0       # a bound on their elements

    # -- tokens -----------------------------------------------------------------------------
    def open(self, name: str) -> int:
        """Write ``name``'s tag (content bit clear); its position, for ``close``."""
        code = self.codes[name]
        if code is None:
            raise Fallback(f"{name} is on no code page of SyncML {self.ver_dtd}")
        page, token = code
        out = self.out
        if page != self.page:
            out.append(0)
            out.append(page)
            self.page = page
        self.elements += 1
        out.append(token)
        return len(out) - 1

    def close(self, pos: int) -> None:
        """Content bit and END when anything followed the tag at ``pos``."""
        out = self.out
        if len(out) > pos + 1:
            out[pos] |= _CONTENT
            out.append(_END)

    def str_i(self, text: bytes) -> None:
        if len(text) in REWRITE_LEN:  # the encoder's Type rewrite, on every SyncML text run
            text = REWRITE.get(text.lower(), text)
        out = self.out
        out.append(_STR_I)
        out += text
        out.append(0)

    def opaque(self, data: bytes) -> None:
        out = self.out
        out.append(_OPAQUE)
        out += _mb(len(data))
        out += data

    def leaf(self, name: str, text: bytes) -> None:
        """``<name>text</name>``: a bare tag when the text is empty."""
        pos = self.open(name)
        if text:
            self.out[pos] |= _CONTENT
            self.str_i(text)
            self.out.append(_END)

    def empty(self, name: str) -> None:
        self.open(name)

    def ident(self, name: str, value: object, what: str, allow_empty: bool = False) -> None:
        if not isinstance(value, str):
            raise EncodeError("bad_id", -1, f"{what} must be str, not {type(value).__name__}")
        if (not value and not allow_empty) or len(value) > ID_MAX or BAD_ID.search(value):
            raise EncodeError("bad_id", -1, f"bad {what} {value[:40]!r}")
        try:
            text = value.encode("utf-8")
        except UnicodeEncodeError:
            self.surrogate = True
            text = b""
        if b"\xef\xbf\xbe" in text or b"\xef\xbf\xbf" in text:
            raise Fallback("U+FFFE / U+FFFF in an ID: the scanner rejects it")
        self.leaf(name, text)

    # -- Meta, Item, Data ---------------------------------------------------------------------
    def meta(self, meta: Meta) -> None:
        if not isinstance(meta, Meta):
            raise EncodeError("bad_value", -1, "meta must be a Meta")
        pos = self.open("Meta")
        if meta.field_level:
            self.empty("FieldLevel")
        if meta.format is not None:
            self.leaf("Format", _text(meta.format, "Format"))
        if meta.type is not None:
            self.leaf("Type", _text(meta.type, "Type"))
        if meta.mark is not None:
            self.leaf("Mark", _text(meta.mark, "Mark"))
        if meta.size is not None:
            self.leaf("Size", _code(meta.size, "Size"))
        anchor = meta.anchor
        if anchor is not None:
            anchor_pos = self.open("Anchor")
            if anchor.last is not None:
                self.leaf("Last", _text(anchor.last, "Last"))
            self.leaf("Next", _text(anchor.next, "Next"))
            self.close(anchor_pos)
        if meta.version is not None:
            self.leaf("Version", _text(meta.version, "Version"))
        if meta.next_nonce is not None:
            self.leaf("NextNonce", _text(meta.next_nonce, "NextNonce"))
        if meta.max_msg_size is not None:
            self.leaf("MaxMsgSize", _code(meta.max_msg_size, "MaxMsgSize"))
        if meta.max_obj_size is not None:
            self.leaf("MaxObjSize", _code(meta.max_obj_size, "MaxObjSize"))
        for emi in meta.emi:
            self.leaf("EMI", _text(emi, "EMI"))
        mem = meta.mem
        if mem is not None:
            mem_pos = self.open("Mem")
            if mem.shared_mem:
                self.empty("SharedMem")
            self.leaf("FreeMem", _text(mem.free_mem, "FreeMem"))
            self.leaf("FreeID", _text(mem.free_id, "FreeID"))
            self.close(mem_pos)
        if meta.extra:
            raise Fallback("MetaExtra: raw XML")
        self.close(pos)

    def loc(self, name: str, loc: Target | Source) -> None:
        pos = self.open(name)
        self.leaf("LocURI", _token(loc.loc_uri, "LocURI"))
        if loc.loc_name is not None:
            self.leaf("LocName", _text(loc.loc_name, "LocName"))
        self.close(pos)

    def parent_loc(self, name: str, value: object) -> None:
        pos = self.open(name)
        self.leaf("LocURI", _token(value, name))
        self.close(pos)

    def classed_text(self, text: bytes, cls: int) -> None:
        """Non-empty character data in a ``Data`` of class ``cls``: STR_I when plain, else
        gathered into one OPAQUE (LF -> CRLF in the vObject class; a lone LF -> CRLF)."""
        if cls == CLS_PLAIN:
            self.str_i(text)
            return
        if cls == CLS_VOBJECT:
            text = text.replace(b"\n", b"\r\n")
        elif text == b"\n":
            text = b"\r\n"
        if len(text) > DEFAULT_LIMITS.max_opaque:  # the encoder's check on a gathered run
            raise Fallback("opaque run past max_opaque")
        self.opaque(text)

    def data(self, item: Item, fmt: object, command_meta: Meta | None, grand: str,
             open_elements: int) -> None:
        """The Item's ``<Data>``: the class comes from the Item's Meta, ``command_meta`` and
        ``grand`` (the command's element name); ``open_elements``: the elements open around
        the Data."""
        data = item.data
        if data is None:
            return
        if isinstance(data, bytes):
            self.binary(data)
        elif isinstance(data, XmlDocument):
            payload, marker, size, elements = embedded_data(data.xml, self.ver_dtd,
                                                            open_elements + 1, xml_to_wbxml)
            self.raw_len += size
            self.raw_elements += elements
            pos = self.open("Data")
            self.opaque(payload)
            if marker:  # markup as its text: the empty string after it says so
                self.out += b"\x03\x00"
            self.close(pos)
        elif isinstance(data, str):
            if _NOT_XML.search(data) or (fmt != "bin" and (
                    item.data_hint is DataHint.OPAQUE or "\n" in data or "\r" in data)):
                try:
                    raw = data.encode("utf-8")
                except UnicodeEncodeError:
                    raise EncodeError("invalid_char", -1, "Data holds a lone surrogate") from None
                self.binary(raw)
            elif item.data_hint is DataHint.CDATA and data and "\r" not in data:
                self.cdata(data, _data_class(item.meta, command_meta, grand))
            else:
                pos = self.open("Data")
                if data:
                    self.classed_text(data.encode("utf-8"),
                                      _data_class(item.meta, command_meta, grand))
                self.close(pos)
        else:
            raise EncodeError("bad_value", -1, f"Data of type {type(data).__name__}")

    def cdata(self, data: str, cls: int) -> None:
        """Data as the writer's CDATA sections, each one OPAQUE (a lone LF -> CRLF; every LF
        in the vObject class). The writer splits at "]]>": "a]]>b" -> "a]]", ">b"."""
        pos = self.open("Data")
        self.out[pos] |= _CONTENT
        parts = data.split("]]>")
        last = len(parts) - 1
        for index, part in enumerate(parts):
            section = (">" if index else "") + part + ("]]" if index < last else "")
            text = section.encode("utf-8")
            if text == b"\n":
                text = b"\r\n"
            elif cls == CLS_VOBJECT:
                text = text.replace(b"\n", b"\r\n")
            if text:
                self.opaque(text)
        self.out.append(_END)

    def binary(self, raw: bytes) -> None:
        """Data as the writer's base64 marker: the encoder turns it back into OPAQUE."""
        pos = self.open("Data")
        if raw:
            self.opaque(raw)
        self.close(pos)

    def item(self, item: Item, command_meta: Meta | None, grand: str,
             open_elements: int) -> None:
        if not isinstance(item, Item):
            raise EncodeError("bad_value", -1, "items must hold Item objects")
        pos = self.open("Item")
        if item.target is not None:
            self.loc("Target", item.target)
        if item.source is not None:
            self.loc("Source", item.source)
        if item.source_parent is not None:
            self.parent_loc("SourceParent", item.source_parent)
        if item.target_parent is not None:
            self.parent_loc("TargetParent", item.target_parent)
        if item.meta is not None:
            self.meta(item.meta)
        meta = item.meta if item.meta is not None and item.meta.format else command_meta
        self.data(item, meta.format if meta is not None else None, command_meta, grand,
                  open_elements + 1)
        if item.more_data:
            self.empty("MoreData")
        self.close(pos)

    def items(self, items: list[Item], meta: Meta | None, required: bool, what: str,
              open_elements: int) -> None:
        if required and not items:
            raise EncodeError("missing_element", -1, f"{what} needs at least one Item")
        for item in items:
            self.item(item, meta, what, open_elements)

    # -- commands -----------------------------------------------------------------------------
    def head(self, name: str, command: object) -> int:
        pos = self.open(name)
        self.ident("CmdID", command.cmd_id, "CmdID")  # type: ignore[attr-defined]
        if command.no_resp:  # type: ignore[attr-defined]
            self.empty("NoResp")
        return pos

    def coded_data(self, value: object, what: str, container_meta: Meta | None,
                   container: str) -> None:
        """Status / Alert ``<Data>``: the code; its class comes from the enclosing
        container's Meta (the command itself has none)."""
        digits = _code(value, what)
        pos = self.open("Data")
        self.out[pos] |= _CONTENT
        self.classed_text(digits, _data_class(None, container_meta, container))
        self.out.append(_END)

    def command(self, command: Command, depth: int, container_meta: Meta | None,
                container: str) -> None:
        """``container_meta`` / ``container``: the enclosing Atomic / Sequence's Meta and
        element name (``SyncBody`` at the top): they decide the class of Status / Alert
        Data."""
        if depth > MAX_CONTAINER_DEPTH:
            raise Fallback("Atomic / Sequence nested near the scanner's depth limit")
        open_elements = depth + 2  # SyncML, SyncBody, the containers, the command
        if isinstance(command, _ItemCommand):
            name = command.ELEMENT
            pos = self.head(name, command)
            if command.meta is not None:
                self.meta(command.meta)
            self.items(command.items, command.meta, True, name, open_elements)
        elif isinstance(command, Status):
            pos = self.open("Status")
            self.ident("CmdID", command.cmd_id, "CmdID")
            if command.no_resp:  # not in the Status content model; kept if it was sent
                self.empty("NoResp")
            self.ident("MsgRef", command.msg_ref, "MsgRef")
            self.ident("CmdRef", command.cmd_ref, "CmdRef", True)
            self.leaf("Cmd", _token(command.cmd, "Cmd"))
            for ref in command.target_refs:
                self.leaf("TargetRef", _token(ref, "TargetRef"))
            for ref in command.source_refs:
                self.leaf("SourceRef", _token(ref, "SourceRef"))
            if command.chal is not None:
                chal_pos = self.open("Chal")
                self.meta(command.chal.meta)
                self.close(chal_pos)
            self.coded_data(command.data, "Status Data", container_meta, container)
            self.items(command.items, None, False, "Status", open_elements)
        elif isinstance(command, Alert):
            pos = self.head("Alert", command)
            if command.data is not None:
                self.coded_data(command.data, "Alert Data", container_meta, container)
            if command.correlator is not None:
                self.leaf("Correlator", _token(command.correlator, "Correlator"))
            self.items(command.items, None, False, "Alert", open_elements)
        elif isinstance(command, Results):
            pos = self.open("Results")
            self.ident("CmdID", command.cmd_id, "CmdID")
            if command.no_resp:  # not in the Results content model; kept if it was sent
                self.empty("NoResp")
            if command.msg_ref is not None:
                self.ident("MsgRef", command.msg_ref, "MsgRef")
            self.ident("CmdRef", command.cmd_ref, "CmdRef", True)
            if command.meta is not None:
                self.meta(command.meta)
            if command.target_ref is not None:
                self.leaf("TargetRef", _token(command.target_ref, "TargetRef"))
            if command.source_ref is not None:
                self.leaf("SourceRef", _token(command.source_ref, "SourceRef"))
            self.items(command.items, command.meta, True, "Results", open_elements)
        elif isinstance(command, Exec):
            pos = self.head("Exec", command)
            if command.meta is not None:
                self.meta(command.meta)
            if command.correlator is not None:
                self.leaf("Correlator", _token(command.correlator, "Correlator"))
            self.items(command.items, command.meta, True, "Exec", open_elements)
        elif isinstance(command, _Container):
            name = command.ELEMENT
            pos = self.head(name, command)
            if command.meta is not None:
                self.meta(command.meta)
            if not command.commands:
                raise EncodeError("missing_element", -1, f"{name} needs at least one command")
            for child in command.commands:
                self.command(child, depth + 1, command.meta, name)
        elif isinstance(command, _DsCommand):
            if not isinstance(command.xml, str):
                raise EncodeError("bad_value", -1, "a DS command's xml must be str")
            raise Fallback("DS command: raw XML")
        else:
            raise EncodeError("bad_value", -1, f"not a command: {type(command).__name__}")
        self.close(pos)

    # -- header, message ----------------------------------------------------------------------
    def header(self, hdr: SyncHdr) -> int:
        """Checks the version, picks its tables, writes the SyncML tag and the SyncHdr."""
        if not isinstance(hdr, SyncHdr):
            raise EncodeError("bad_value", -1, "header must be a SyncHdr")
        table = TABLES.get(hdr.ver_dtd) if isinstance(hdr.ver_dtd, str) else None
        if table is None:
            raise EncodeError("bad_version", -1, f"VerDTD {hdr.ver_dtd!r}")
        if not isinstance(hdr.ver_proto, str) or not _VER_PROTO.fullmatch(hdr.ver_proto):
            raise EncodeError("bad_version", -1, f"VerProto {hdr.ver_proto!r}")
        self.codes = table.codes
        self.ver_dtd = hdr.ver_dtd
        self.out += table.header
        root = self.open("SyncML")
        pos = self.open("SyncHdr")
        self.leaf("VerDTD", hdr.ver_dtd.encode("ascii"))
        self.leaf("VerProto", hdr.ver_proto.encode("ascii"))
        self.ident("SessionID", hdr.session_id, "SessionID")
        self.ident("MsgID", hdr.msg_id, "MsgID")
        self.loc("Target", hdr.target)
        self.loc("Source", hdr.source)
        if hdr.resp_uri is not None:
            self.leaf("RespURI", _token(hdr.resp_uri, "RespURI"))
        if hdr.no_resp:
            self.empty("NoResp")
        cred = hdr.cred
        if cred is not None:
            cred_pos = self.open("Cred")
            if cred.meta is not None:
                self.meta(cred.meta)
            if not cred.data:
                raise EncodeError("missing_element", -1, "Cred needs Data")
            text = _text(cred.data, "Cred Data")
            data_pos = self.open("Data")
            self.out[data_pos] |= _CONTENT
            # The SyncHdr's own Meta comes after the Cred: only the Cred's Meta decides.
            self.classed_text(text, _data_class(cred.meta, None, "SyncHdr"))
            self.out.append(_END)
            self.close(cred_pos)
        if hdr.meta is not None:
            self.meta(hdr.meta)
        self.close(pos)
        return root

    def message(self, msg: Message) -> bytes:
        if not isinstance(msg, Message):
            raise EncodeError("bad_value", -1, f"not a Message: {type(msg).__name__}")
        root = self.header(msg.header)
        body = self.open("SyncBody")
        for command in msg.commands:
            self.command(command, 1, None, "SyncBody")
        if msg.final:
            self.empty("Final")
        self.close(body)
        self.close(root)
        if self.surrogate:
            raise EncodeError("invalid_char", -1, "a lone surrogate in the message")
        if over_limits(len(self.out), self.elements, self.raw_len, self.raw_elements):
            raise Fallback("near max_input_size / max_elements")
        return bytes(self.out)


def encode_wbxml_tokens(msg: Message) -> bytes:
    """The token writer alone: the WBXML of ``msg``, or ``Fallback`` where only the reference
    path is exact (tests call it to see that the fast path, not the fallback, answered)."""
    return _Tokens().message(msg)


def encode_wbxml(msg: Message) -> bytes:
    """WBXML of ``msg``: the bytes of ``xml_to_wbxml(write_xml(msg, for_wbxml=True),
    keep_whitespace=True)`` written straight from the model, or through that reference path
    for the parts the token writer leaves to it."""
    try:
        return _Tokens().message(msg)
    except EncodeError:
        raise
    except Exception:  # Fallback, or a model the reference writer itself chokes on
        return reference_encode_wbxml(msg, xml_to_wbxml)
