"""Model -> canonical XML bytes, written directly as strings (no tree, no lxml).

The one idea: one fixed layout, so the same model always gives the same bytes: no
whitespace between elements, children in DTD order, ``xmlns="syncml:metinf"`` on every MetInf
element (as libwbxml writes it), the root namespace chosen by ``VerDTD``. Every value is
checked on the way out (IDs are non-empty strings without whitespace, codes are ints), and a
model that cannot be written raises ``EncodeError`` before any output is returned.

``for_wbxml=True`` writes the intermediate XML handed to ``xml_to_wbxml``: text that came as
OPAQUE goes back as ``wbxml:opaque`` so that the WBXML encoder restores the OPAQUE kind, and
markup (an ``XmlDocument`` other than an embedded TNDS / DevInf root) is marked
``wbxml:opaque="markup"`` so that it travels as its text (see ``omadm_codec.wbxml._markup``).
"""

from __future__ import annotations

import base64
import re
from typing import Any

from ..errors import EncodeError
from ..wbxml import codepages
from ._schema import BAD_ID, ID_MAX, OPAQUE_MARKUP, OPAQUE_NS, SYNCML_NS, nested_root
from .model import (
    Alert,
    Command,
    Cred,
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

# Characters XML 1.0 cannot carry at all, even as character references.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_VER_PROTO = re.compile(r"(DM|SyncML)/[0-9]+\.[0-9]+")
_MI = ' xmlns="syncml:metinf">'
_OPAQUE_OPEN = f'<Data xmlns:wbxml="{OPAQUE_NS}" wbxml:opaque="base64">'
_MARKUP_OPEN = f'<Data xmlns:wbxml="{OPAQUE_NS}" wbxml:opaque="{OPAQUE_MARKUP}">'
assert len(_MARKUP_OPEN) == len(_OPAQUE_OPEN)  # _fast_tokens bounds the XML by the latter


def markup_travels_as_text(xml: str, ver_dtd: str) -> bool:
    """Whether an ``XmlDocument`` goes into WBXML as its text (OPAQUE and the marker): it
    holds an element, and it is not an embedded document WBXML nests (``nested_root``)."""
    return "<" in xml and not nested_root(xml, ver_dtd)


_TAG_NAME = re.compile(r"<([^\s/>!?]+)")
_PAGE0_NAMES = {
    "1.0": frozenset(codepages.SYNCML10.pages[0].values()),
    "1.1": frozenset(codepages.SYNCML11.pages[0].values()),
    "1.2": frozenset(codepages.SYNCML12.pages[0].values()),
}


def _check_extra_for_wbxml(xml: str, ver_dtd: str) -> None:
    """A ``MetaExtra`` goes into WBXML (without a string table) only as SyncML elements of
    the SyncML namespace: the encoder tokenises any name a code page knows whatever its
    namespace, so an unknown MetInf child in another namespace would come back as a
    different element (or not at all). Anything else is ``unknown_element``, not a silent
    change."""
    names = _TAG_NAME.findall(xml)
    known = _PAGE0_NAMES.get(ver_dtd, _PAGE0_NAMES["1.2"])
    bad = next((name for name in names if name not in known), None)
    if bad is not None or "xmlns" in xml:
        raise EncodeError("unknown_element", -1,
                          f"<{bad or names[0]}> in Meta has no WBXML form (no code page holds "
                          "it in its namespace)")


def _esc(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        # A literal CR would be normalised away by every XML parser.
        text = text.replace("\r", "&#13;")
    return text


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise EncodeError("bad_value", -1, f"{what} must be str, not {type(value).__name__}")
    if _NOT_XML.search(value):
        raise EncodeError("invalid_char", -1, f"{what} holds a character XML cannot carry")
    return _esc(value)


def _ident(value: Any, what: str, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise EncodeError("bad_id", -1, f"{what} must be str, not {type(value).__name__}")
    if (not value and not allow_empty) or len(value) > ID_MAX or BAD_ID.search(value):
        raise EncodeError("bad_id", -1, f"bad {what} {value[:40]!r}")
    return _esc(value)


def _token(value: Any, what: str) -> str:
    text = _text(value, what)
    if value != value.strip():
        # The decoder trims it (quirk ``whitespace``): it would not come back equal.
        raise EncodeError("bad_value", -1, f"{what} has surrounding whitespace")
    return text


def _code(value: Any, what: str) -> str:
    if type(value) is not int or value < 0:
        raise EncodeError("bad_code", -1, f"{what} must be a non-negative int, not {value!r}")
    return str(value)


class _Writer:
    def __init__(self, for_wbxml: bool, ver_dtd: str = "1.2") -> None:
        self.out: list[str] = []
        self.for_wbxml = for_wbxml
        self.ver_dtd = ver_dtd  # the header's, once written: which markup WBXML nests

    def meta(self, meta: Meta) -> None:
        if not isinstance(meta, Meta):
            raise EncodeError("bad_value", -1, "meta must be a Meta")
        w = self.out.append
        w("<Meta>")
        if meta.field_level:
            w('<FieldLevel xmlns="syncml:metinf"/>')
        for name, value in (("Format", meta.format), ("Type", meta.type), ("Mark", meta.mark)):
            if value is not None:
                w(f"<{name}{_MI}{_text(value, name)}</{name}>")
        if meta.size is not None:
            w(f"<Size{_MI}{_code(meta.size, 'Size')}</Size>")
        if meta.anchor is not None:
            w(f"<Anchor{_MI}")
            if meta.anchor.last is not None:
                w(f"<Last>{_text(meta.anchor.last, 'Last')}</Last>")
            w(f"<Next>{_text(meta.anchor.next, 'Next')}</Next></Anchor>")
        if meta.version is not None:
            w(f"<Version{_MI}{_text(meta.version, 'Version')}</Version>")
        if meta.next_nonce is not None:
            w(f"<NextNonce{_MI}{_text(meta.next_nonce, 'NextNonce')}</NextNonce>")
        if meta.max_msg_size is not None:
            w(f"<MaxMsgSize{_MI}{_code(meta.max_msg_size, 'MaxMsgSize')}</MaxMsgSize>")
        if meta.max_obj_size is not None:
            w(f"<MaxObjSize{_MI}{_code(meta.max_obj_size, 'MaxObjSize')}</MaxObjSize>")
        for emi in meta.emi:
            w(f"<EMI{_MI}{_text(emi, 'EMI')}</EMI>")
        if meta.mem is not None:
            w(f"<Mem{_MI}")
            if meta.mem.shared_mem:
                w("<SharedMem/>")
            w(f"<FreeMem>{_text(meta.mem.free_mem, 'FreeMem')}</FreeMem>"
              f"<FreeID>{_text(meta.mem.free_id, 'FreeID')}</FreeID></Mem>")
        for extra in meta.extra:
            if self.for_wbxml:
                _check_extra_for_wbxml(extra.xml, self.ver_dtd)
            w(extra.xml)
        w("</Meta>")

    def loc(self, name: str, loc: Target | Source) -> None:
        w = self.out.append
        w(f"<{name}><LocURI>{_token(loc.loc_uri, 'LocURI')}</LocURI>")
        if loc.loc_name is not None:
            w(f"<LocName>{_text(loc.loc_name, 'LocName')}</LocName>")
        w(f"</{name}>")

    def data(self, item: Item, fmt: str | None) -> None:
        data = item.data
        w = self.out.append
        if data is None:
            return
        if isinstance(data, bytes):
            w(_OPAQUE_OPEN + base64.b64encode(data).decode("ascii") + "</Data>")
        elif isinstance(data, XmlDocument):
            if self.for_wbxml and markup_travels_as_text(data.xml, self.ver_dtd):
                w(_MARKUP_OPEN + data.xml + "</Data>")
            else:
                w("<Data>" + data.xml + "</Data>")
        elif isinstance(data, str):
            if _NOT_XML.search(data) or (self.for_wbxml and fmt != "bin" and (
                    item.data_hint is DataHint.OPAQUE or "\n" in data or "\r" in data)):
                # Through the WBXML encoder as raw OPAQUE: it keeps the OPAQUE kind, and
                # line ends exactly (libwbxml rewrites LF to CRLF in Add/Replace text Data).
                try:
                    raw = data.encode("utf-8")
                except UnicodeEncodeError:
                    raise EncodeError("invalid_char", -1, "Data holds a lone surrogate") from None
                w(_OPAQUE_OPEN + base64.b64encode(raw).decode("ascii") + "</Data>")
            elif item.data_hint is DataHint.CDATA and data and "\r" not in data:
                w("<Data><![CDATA[" + data.replace("]]>", "]]]]><![CDATA[>") + "]]></Data>")
            else:
                w("<Data>" + _esc(data) + "</Data>")
        else:
            raise EncodeError("bad_value", -1, f"Data of type {type(data).__name__}")

    def item(self, item: Item, command_meta: Meta | None) -> None:
        if not isinstance(item, Item):
            raise EncodeError("bad_value", -1, "items must hold Item objects")
        w = self.out.append
        w("<Item>")
        if item.target is not None:
            self.loc("Target", item.target)
        if item.source is not None:
            self.loc("Source", item.source)
        if item.source_parent is not None:
            w(f"<SourceParent><LocURI>{_token(item.source_parent, 'SourceParent')}"
              "</LocURI></SourceParent>")
        if item.target_parent is not None:
            w(f"<TargetParent><LocURI>{_token(item.target_parent, 'TargetParent')}"
              "</LocURI></TargetParent>")
        if item.meta is not None:
            self.meta(item.meta)
        meta = item.meta if item.meta is not None and item.meta.format else command_meta
        self.data(item, meta.format if meta is not None else None)
        if item.more_data:
            w("<MoreData/>")
        w("</Item>")

    def items(self, items: list[Item], meta: Meta | None, required: bool, what: str) -> None:
        if required and not items:
            raise EncodeError("missing_element", -1, f"{what} needs at least one Item")
        for item in items:
            self.item(item, meta)

    def head(self, name: str, command: Any) -> None:
        w = self.out.append
        w(f"<{name}><CmdID>{_ident(command.cmd_id, 'CmdID')}</CmdID>")
        if command.no_resp:
            w("<NoResp/>")

    def command(self, command: Command, depth: int) -> None:
        w = self.out.append
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
            w(f"<Status><CmdID>{_ident(command.cmd_id, 'CmdID')}</CmdID>")
            if command.no_resp:  # not in the Status content model; kept if it was sent
                w("<NoResp/>")
            w(f"<MsgRef>{_ident(command.msg_ref, 'MsgRef')}</MsgRef>"
              f"<CmdRef>{_ident(command.cmd_ref, 'CmdRef', True)}</CmdRef>"
              f"<Cmd>{_token(command.cmd, 'Cmd')}</Cmd>")
            for ref in command.target_refs:
                w(f"<TargetRef>{_token(ref, 'TargetRef')}</TargetRef>")
            for ref in command.source_refs:
                w(f"<SourceRef>{_token(ref, 'SourceRef')}</SourceRef>")
            if command.chal is not None:
                w("<Chal>")
                self.meta(command.chal.meta)
                w("</Chal>")
            w(f"<Data>{_code(command.data, 'Status Data')}</Data>")
            self.items(command.items, None, False, name)
        elif isinstance(command, Alert):
            name = "Alert"
            self.head(name, command)
            if command.data is not None:
                w(f"<Data>{_code(command.data, 'Alert Data')}</Data>")
            if command.correlator is not None:
                w(f"<Correlator>{_token(command.correlator, 'Correlator')}</Correlator>")
            self.items(command.items, None, False, name)
        elif isinstance(command, Results):
            name = "Results"
            w(f"<Results><CmdID>{_ident(command.cmd_id, 'CmdID')}</CmdID>")
            if command.no_resp:  # not in the Results content model; kept if it was sent
                w("<NoResp/>")
            if command.msg_ref is not None:
                w(f"<MsgRef>{_ident(command.msg_ref, 'MsgRef')}</MsgRef>")
            w(f"<CmdRef>{_ident(command.cmd_ref, 'CmdRef', True)}</CmdRef>")
            if command.meta is not None:
                self.meta(command.meta)
            if command.target_ref is not None:
                w(f"<TargetRef>{_token(command.target_ref, 'TargetRef')}</TargetRef>")
            if command.source_ref is not None:
                w(f"<SourceRef>{_token(command.source_ref, 'SourceRef')}</SourceRef>")
            self.items(command.items, command.meta, True, name)
        elif isinstance(command, Exec):
            name = "Exec"
            self.head(name, command)
            if command.meta is not None:
                self.meta(command.meta)
            if command.correlator is not None:
                w(f"<Correlator>{_token(command.correlator, 'Correlator')}</Correlator>")
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
            w(command.xml)
            return
        else:
            raise EncodeError("bad_value", -1, f"not a command: {type(command).__name__}")
        w(f"</{name}>")

    def header(self, hdr: SyncHdr) -> str:
        if not isinstance(hdr, SyncHdr):
            raise EncodeError("bad_value", -1, "header must be a SyncHdr")
        namespace = SYNCML_NS.get(hdr.ver_dtd) if isinstance(hdr.ver_dtd, str) else None
        if namespace is None:
            raise EncodeError("bad_version", -1, f"VerDTD {hdr.ver_dtd!r}")
        if not isinstance(hdr.ver_proto, str) or not _VER_PROTO.fullmatch(hdr.ver_proto):
            raise EncodeError("bad_version", -1, f"VerProto {hdr.ver_proto!r}")
        self.ver_dtd = hdr.ver_dtd
        w = self.out.append
        w(f'<SyncML xmlns="{namespace}"><SyncHdr><VerDTD>{hdr.ver_dtd}</VerDTD>'
          f"<VerProto>{hdr.ver_proto}</VerProto>"
          f"<SessionID>{_ident(hdr.session_id, 'SessionID')}</SessionID>"
          f"<MsgID>{_ident(hdr.msg_id, 'MsgID')}</MsgID>")
        self.loc("Target", hdr.target)
        self.loc("Source", hdr.source)
        if hdr.resp_uri is not None:
            w(f"<RespURI>{_token(hdr.resp_uri, 'RespURI')}</RespURI>")
        if hdr.no_resp:
            w("<NoResp/>")
        if hdr.cred is not None:
            self.cred(hdr.cred)
        if hdr.meta is not None:
            self.meta(hdr.meta)
        w("</SyncHdr>")
        return namespace

    def cred(self, cred: Cred) -> None:
        w = self.out.append
        w("<Cred>")
        if cred.meta is not None:
            self.meta(cred.meta)
        if not cred.data:
            raise EncodeError("missing_element", -1, "Cred needs Data")
        w(f"<Data>{_text(cred.data, 'Cred Data')}</Data></Cred>")


def write_xml(msg: Message, for_wbxml: bool = False) -> bytes:
    """The canonical XML of ``msg``, as UTF-8 bytes with an XML declaration."""
    if not isinstance(msg, Message):
        raise EncodeError("bad_value", -1, f"not a Message: {type(msg).__name__}")
    writer = _Writer(for_wbxml)
    writer.out.append('<?xml version="1.0" encoding="UTF-8"?>')
    writer.header(msg.header)
    writer.out.append("<SyncBody>")
    for command in msg.commands:
        writer.command(command, 1)
    if msg.final:
        writer.out.append("<Final/>")
    writer.out.append("</SyncBody></SyncML>")
    try:
        return "".join(writer.out).encode("utf-8")
    except UnicodeEncodeError:
        raise EncodeError("invalid_char", -1, "a lone surrogate in the message") from None


def write_command_xml(command: Command) -> bytes:
    """The canonical XML of one command, exactly as ``write_xml`` writes it in a body."""
    writer = _Writer(False)
    writer.command(command, 1)
    try:
        return "".join(writer.out).encode("utf-8")
    except UnicodeEncodeError:
        raise EncodeError("invalid_char", -1, "a lone surrogate in the command") from None


def write_commands_xml(commands: list[Command], final: bool, ver_dtd: str,
                       for_wbxml: bool = False) -> bytes:
    """A command list: ``<SyncML><SyncBody>`` without a SyncHdr, as ``write_xml`` writes a
    body (``ver_dtd`` names the namespace)."""
    namespace = SYNCML_NS.get(ver_dtd) if isinstance(ver_dtd, str) else None
    if namespace is None:
        raise EncodeError("bad_version", -1, f"VerDTD {ver_dtd!r}")
    writer = _Writer(for_wbxml, ver_dtd)
    writer.out.append(f'<?xml version="1.0" encoding="UTF-8"?><SyncML xmlns="{namespace}">'
                      "<SyncBody>")
    for command in commands:
        writer.command(command, 1)
    if final:
        writer.out.append("<Final/>")
    writer.out.append("</SyncBody></SyncML>")
    try:
        return "".join(writer.out).encode("utf-8")
    except UnicodeEncodeError:
        raise EncodeError("invalid_char", -1, "a lone surrogate in the commands") from None
