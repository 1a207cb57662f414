"""The pure-Python twin of the message fast path: XML bytes -> model without an lxml tree.

The one idea: the shared XML scanner (``_xmlscan``) yields events and a recursive descent, one
method per SyncML element, builds the model objects as the elements close. The fast path vouches
only for messages the reference lxml path (``messages._reader``) would accept *without any
quirk*: the moment it meets anything else (a quirk, an error, a construct it does not model
such as attributes, prefixes or another declared encoding) it gives up and ``decode_xml``
returns ``None``; the caller then runs the reference path, which gives the verdict (model and
quirks, or the ``DecodeError`` with its reason). So the fast path never has to reproduce an
error, only the exact model of a clean message. The compiled twin
(``_ext/omadm_codec/messages/_fast_c.pyx``) is this module's logic, method for method, on the
scanner's C fields.

``decode_wbxml`` runs the same builder on WBXML tokens (``decode_wbxml_tokens``: the events
come from ``wbxml_events.WbxmlEvents``, no XML text in between; binary OPAQUE arrives as an
``EV_OPAQUE`` event that ``_Build.opaque`` turns into what the reader makes of the hub's base64
marker). Where the token path gives up it falls back to the XML hub
(``decode_wbxml_via_xml``: this twin's ``wbxml_to_xml``, then the XML fast path with the
reader's from-WBXML rule for Format ``bin``), and then to the reference path.
``encode_xml`` is the reference writer (``messages._writer``); ``encode_wbxml``
(``wbxml_writer``) writes WBXML tokens straight from the model, the bytes of the writer's
XML through ``xml_to_wbxml``. The compiled twin writes the same bytes into C buffers.

Offsets: the fast path never raises, so every ``DecodeError`` comes from the reference path,
with its offsets (exact byte offsets: the byte-level guards' own, and the offending element's
start tag for errors found in the lxml tree).
"""

from __future__ import annotations

import re
from dataclasses import replace

from ...errors import DecodeError, EncodeError
from ...limits import Limits
from ...wbxml._decode_py import wbxml_to_xml
from ...wbxml._xmlscan_py import (
    EV_CDATA,
    EV_DOCTYPE,
    EV_END,
    EV_EOF,
    EV_START,
    EV_TEXT,
    Scanner,
    check_chars,
)
from .._fast_vocab import (
    COMMAND_RANK,
    ITEM_COMMANDS,
    MAX_FAST_DEPTH,
    MAX_FAST_TEXT,
    METINF_NAMES_B,
    METINF_NS_B,
    NS_URI,
    NS_VERSION_EXACT,
    ORDER_ALERT_B,
    ORDER_CONTAINER_B,
    ORDER_CRED_B,
    ORDER_EXEC_B,
    ORDER_HDR_B,
    ORDER_ITEM_B,
    ORDER_ITEM_COMMAND_B,
    ORDER_LOC_B,
    ORDER_RESULTS_B,
    ORDER_STATUS_B,
    doctype_ok,
    doctype_version,
    encode_xml,
    escape_text,
    good_id,
    is_number,
    lexical_ok,
    name_ok,
)
from .._schema import STATUS_MAX, STATUS_MIN, VER_PROTO
from ..model import (
    Alert,
    Anchor,
    Atomic,
    Chal,
    Command,
    Cred,
    DataHint,
    DataValue,
    Exec,
    Item,
    Mem,
    Message,
    Meta,
    MetaExtra,
    Results,
    Sequence,
    Source,
    Status,
    SyncHdr,
    Target,
    XmlDocument,
)
from .wbxml_events import EV_OPAQUE, WbxmlEvents, WbxmlGiveUp
from .wbxml_writer import encode_wbxml

__all__ = ["decode_wbxml", "decode_wbxml_tokens", "decode_wbxml_via_xml", "decode_xml",
           "encode_wbxml", "encode_xml"]

# The start tag forms the fast path models: no attribute at all, or one default-namespace
# declaration of a plain URI; any prefix, any other attribute gives up (matched after '<').
_TAG = re.compile(rb"[^\s/>:]+(?:[ \t\r\n]+xmlns[ \t\r\n]*=[ \t\r\n]*"
                  rb"(?:'(?:%s)'|\"(?:%s)\"))?[ \t\r\n]*/?>" % (NS_URI, NS_URI))
_WS = b" \t\r\n"
_VERSIONS = frozenset(NS_VERSION_EXACT.values())


class _GiveUp(Exception):
    """Not a message the fast path vouches for: the reference path decides."""


def _node(text: bytes) -> bytes:
    """``text``, the bytes between two tags, unless libxml2 would refuse a node that long
    (the compiled twin counts the same run as its events arrive)."""
    if len(text) >= MAX_FAST_TEXT:
        raise _giveup()
    return text


def _giveup() -> _GiveUp:
    return _GiveUp()


class _Build:
    """One decode: the scanner, the root namespace, the limits."""

    def __init__(self, data: bytes, sc: Scanner | WbxmlEvents, limits: Limits,
                 from_wbxml: bool) -> None:
        self.raw = data
        self.from_wbxml = from_wbxml
        self.wbxml = isinstance(sc, WbxmlEvents)
        """Events straight from WBXML tokens: no start tag to check, OPAQUE events."""
        self.sc = sc
        self.limits = limits
        self.ns = b""
        self.run: list[bytes] = []
        self.cdata = False

    # --- events ------------------------------------------------------------------------

    def start_ok(self) -> None:
        """The current start tag is one the fast path models (see ``_TAG``)."""
        if self.wbxml:
            return
        if _TAG.match(self.raw, self.sc.offset + 1) is None:
            raise _giveup()

    def child(self) -> bytes | None:
        """The local name of the next child element (in the root namespace), or ``None`` at
        the parent's end; whitespace between elements is skipped, other text gives up."""
        sc = self.sc
        run = 0
        while True:
            ev = sc.next()
            if ev == EV_START:
                self.start_ok()
                if sc.ns != self.ns:
                    raise _giveup()
                return sc.local
            if ev == EV_END:
                return None
            if ev != EV_TEXT or not _blank(sc.text):
                raise _giveup()
            run += len(sc.text)
            if run >= MAX_FAST_TEXT:
                raise _giveup()  # libxml2 would refuse the (whitespace) node

    def meta_child(self) -> tuple[bytes, bytes] | None:
        """Like ``child`` but any namespace: (local name, namespace)."""
        sc = self.sc
        run = 0
        while True:
            ev = sc.next()
            if ev == EV_START:
                self.start_ok()
                return sc.local, sc.ns
            if ev == EV_END:
                return None
            if ev != EV_TEXT or not _blank(sc.text):
                raise _giveup()
            run += len(sc.text)
            if run >= MAX_FAST_TEXT:
                raise _giveup()

    def leaf(self) -> str:
        """The text of a text-only element, up to its end."""
        sc = self.sc
        parts = []
        while True:
            ev = sc.next()
            if ev == EV_TEXT or ev == EV_CDATA:
                parts.append(sc.text)
            elif ev == EV_END:
                return _node(b"".join(parts)).decode("utf-8")
            else:
                raise _giveup()

    def token(self) -> str:
        text = self.leaf()
        if text.strip() != text:
            raise _giveup()  # quirk "whitespace"
        return text

    def ident(self, allow_empty: bool = False) -> str:
        value = self.token()
        if not good_id(value, allow_empty):
            raise _giveup()
        return value

    def flag(self) -> bool:
        if self.leaf().strip():
            raise _giveup()
        return True

    def number(self) -> int:
        value = self.token()
        if not is_number(value):
            raise _giveup()
        return int(value)

    # --- embedded markup ---------------------------------------------------------------

    def serialize(self, local: bytes, ns: bytes, parent_ns: bytes, depth: int,
                  out: list[str]) -> None:
        """Canonical XML of the element just started (as ``_reader.serialize`` writes it)."""
        if depth > self.limits.max_depth or not name_ok(local):
            raise _giveup()
        sc = self.sc
        name = local.decode("utf-8")
        head = "<" + name
        if ns != parent_ns:
            head += ' xmlns=""' if not ns else ' xmlns="' + _escape_attr(ns.decode("utf-8")) + '"'
        out.append(head)
        run: list[bytes] = []
        kids = False
        while True:
            ev = sc.next()
            if ev == EV_TEXT or ev == EV_CDATA:
                run.append(sc.text)
                continue
            text = _node(b"".join(run)).decode("utf-8")
            run = []
            if ev == EV_START:
                self.start_ok()
                if not kids:
                    out.append(">")
                    kids = True
                if text and not text.isspace():
                    out.append(escape_text(text))
                self.serialize(sc.local, sc.ns, ns, depth + 1, out)
            elif ev == EV_END:
                if kids:
                    if text and not text.isspace():
                        out.append(escape_text(text))
                    out.append("</" + name + ">")
                elif text:
                    out.append(">" + escape_text(text) + "</" + name + ">")
                else:
                    out.append("/>")
                return
            else:
                raise _giveup()

    # --- Meta, Item, Data ----------------------------------------------------------------

    def meta(self) -> Meta:
        meta = Meta()
        seen: set[bytes] = set()
        while True:
            found = self.meta_child()
            if found is None:
                return meta
            local, ns = found
            if local not in METINF_NAMES_B or ns != METINF_NS_B:
                if local in METINF_NAMES_B and (not ns or ns == self.ns
                                                or ns.lower().startswith(METINF_NS_B)):
                    raise _giveup()  # quirk "metinf_namespace"
                out: list[str] = []
                self.serialize(local, ns, self.ns, 4, out)
                meta.extra.append(MetaExtra(local.decode("utf-8"), "".join(out)))
                continue
            if local != b"EMI":
                if local in seen:
                    raise _giveup()
                seen.add(local)
            self.metinf(meta, local)

    def metinf(self, meta: Meta, local: bytes) -> None:
        if local == b"Format":
            meta.format = self.leaf()
        elif local == b"Type":
            meta.type = self.leaf()
        elif local == b"Mark":
            meta.mark = self.leaf()
        elif local == b"Size":
            meta.size = self.number()
        elif local == b"MaxMsgSize":
            meta.max_msg_size = self.number()
        elif local == b"MaxObjSize":
            meta.max_obj_size = self.number()
        elif local == b"NextNonce":
            meta.next_nonce = self.leaf()
        elif local == b"Version":
            meta.version = self.leaf()
        elif local == b"EMI":
            meta.emi.append(self.leaf())
        elif local == b"FieldLevel":
            meta.field_level = self.flag()
        elif local == b"Anchor":
            parts = self.sub_leaves((b"Last", b"Next"))
            if b"Next" not in parts:
                raise _giveup()
            meta.anchor = Anchor(parts[b"Next"], parts.get(b"Last"))
        else:  # Mem
            parts = self.sub_leaves((b"SharedMem", b"FreeMem", b"FreeID"))
            if b"FreeMem" not in parts or b"FreeID" not in parts:
                raise _giveup()
            meta.mem = Mem(parts[b"FreeMem"], parts[b"FreeID"], b"SharedMem" in parts)

    def sub_leaves(self, names: tuple[bytes, ...]) -> dict[bytes, str]:
        parts: dict[bytes, str] = {}
        while True:
            found = self.meta_child()
            if found is None:
                return parts
            local = found[0]
            if local not in names or local in parts:
                raise _giveup()
            parts[local] = self.leaf()

    def loc(self) -> tuple[str, str | None]:
        uri = name = None
        last = 0
        while True:
            local = self.child()
            if local is None:
                break
            last = _rank(ORDER_LOC_B, local, last)
            if local == b"LocURI" and uri is None:
                uri = self.token()
            elif local == b"LocName" and name is None:
                name = self.leaf()
            else:
                raise _giveup()
        if uri is None:
            raise _giveup()
        return uri, name

    def parent_uri(self) -> str:
        uri = None
        while True:
            local = self.child()
            if local is None:
                break
            if local != b"LocURI" or uri is not None:
                raise _giveup()
            uri = self.token()
        if uri is None:
            raise _giveup()
        return uri

    def data(self, fmt: str | None) -> tuple[DataValue, DataHint]:
        sc = self.sc
        run: list[bytes] = []
        cdata = False
        out: list[str] | None = None
        while True:
            ev = sc.next()
            if ev == EV_TEXT:
                run.append(sc.text)
                continue
            if ev == EV_CDATA:
                run.append(sc.text)
                cdata = True
                continue
            if ev == EV_OPAQUE:
                return self.opaque(fmt)
            text = _node(b"".join(run)).decode("utf-8")
            run = []
            if ev == EV_START:
                self.start_ok()
                if out is None:
                    out = []
                if text and not text.isspace():
                    out.append(escape_text(text))
                self.serialize(sc.local, sc.ns, self.ns, 6, out)
            elif ev == EV_END:
                if out is not None:
                    if text and not text.isspace():
                        out.append(escape_text(text))
                    return XmlDocument("".join(out)), DataHint.MARKUP
                if len(text) > self.limits.max_opaque:
                    raise _giveup()
                if self.from_wbxml and fmt == "bin":
                    # wbxml_to_xml writes OPAQUE that happens to be UTF-8 as text: under
                    # Format bin it is the bytes that were sent (as _reader does).
                    return text.encode("utf-8"), DataHint.OPAQUE
                return text, (DataHint.CDATA if cdata and text else DataHint.TEXT)
            else:
                raise _giveup()

    def opaque(self, fmt: str | None) -> tuple[DataValue, DataHint]:
        """Binary OPAQUE, the whole content of the Data (the token source checked that): the
        reference reader's value for the XML hub's base64 marker."""
        raw = self.sc.text
        if self.sc.next() != EV_END:
            raise _giveup()
        if fmt != "bin":
            # OPAQUE is bytes only when it is binary: libwbxml writes text Data as OPAQUE.
            try:
                return raw.decode("utf-8"), DataHint.OPAQUE
            except UnicodeDecodeError:
                pass
        return raw, DataHint.OPAQUE

    def item(self, command_meta: Meta | None) -> Item:
        target = source = meta = data = hint = None
        source_parent = target_parent = None
        more_data = seen_data = False
        last = 0
        while True:
            local = self.child()
            if local is None:
                break
            last = _rank(ORDER_ITEM_B, local, last)
            if local == b"Target" and target is None:
                target = Target(*self.loc())
            elif local == b"Source" and source is None:
                source = Source(*self.loc())
            elif local == b"SourceParent" and source_parent is None:
                source_parent = self.parent_uri()
            elif local == b"TargetParent" and target_parent is None:
                target_parent = self.parent_uri()
            elif local == b"Meta" and meta is None:
                meta = self.meta()
            elif local == b"Data" and not seen_data:
                seen_data = True
                # DTD order puts Meta before Data: the item's Meta is known here.
                use = meta if meta is not None and meta.format else command_meta
                data, hint = self.data(use.format if use is not None else None)
            elif local == b"MoreData":
                more_data = self.flag()
            else:
                raise _giveup()
        return Item(target, source, source_parent, target_parent, meta, data, more_data, hint)

    # --- commands ----------------------------------------------------------------------

    def item_command(self, local: bytes) -> Command:
        cmd_id = meta = None
        no_resp = False
        items: list[Item] = []
        last = 0
        while True:
            name = self.child()
            if name is None:
                break
            last = _rank(ORDER_ITEM_COMMAND_B, name, last)
            if name == b"CmdID" and cmd_id is None:
                cmd_id = self.ident()
            elif name == b"NoResp":
                no_resp = self.flag()
            elif name == b"Meta" and meta is None:
                meta = self.meta()
            elif name == b"Item":
                items.append(self.item(meta))
            else:
                raise _giveup()
        if cmd_id is None or not items:
            raise _giveup()
        return ITEM_COMMANDS[local](cmd_id, items, meta, no_resp)

    def alert(self) -> Alert:
        cmd_id = code = correlator = None
        no_resp = False
        items: list[Item] = []
        last = 0
        while True:
            name = self.child()
            if name is None:
                break
            last = _rank(ORDER_ALERT_B, name, last)
            if name == b"CmdID" and cmd_id is None:
                cmd_id = self.ident()
            elif name == b"NoResp":
                no_resp = self.flag()
            elif name == b"Data" and code is None:
                code = self.number()  # an empty <Data/> is the quirk "empty_data"
            elif name == b"Correlator" and correlator is None:
                correlator = self.token()
            elif name == b"Item":
                items.append(self.item(None))
            else:
                raise _giveup()
        if cmd_id is None:
            raise _giveup()
        return Alert(cmd_id, code, correlator, items, no_resp)

    def exec_(self) -> Exec:
        cmd_id = meta = correlator = None
        no_resp = False
        items: list[Item] = []
        last = 0
        while True:
            name = self.child()
            if name is None:
                break
            last = _rank(ORDER_EXEC_B, name, last)
            if name == b"CmdID" and cmd_id is None:
                cmd_id = self.ident()
            elif name == b"NoResp":
                no_resp = self.flag()
            elif name == b"Meta" and meta is None:
                meta = self.meta()
            elif name == b"Correlator" and correlator is None:
                correlator = self.token()
            elif name == b"Item":
                items.append(self.item(meta))
            else:
                raise _giveup()
        if cmd_id is None or not items:
            raise _giveup()
        return Exec(cmd_id, items, meta, correlator, no_resp)

    def status(self) -> Status:
        cmd_id = msg_ref = cmd_ref = cmd = code = chal = None
        no_resp = False
        target_refs: list[str] = []
        source_refs: list[str] = []
        items: list[Item] = []
        last = 0
        while True:
            name = self.child()
            if name is None:
                break
            last = _rank(ORDER_STATUS_B, name, last)
            if name == b"CmdID" and cmd_id is None:
                cmd_id = self.ident()
            elif name == b"MsgRef" and msg_ref is None:
                msg_ref = self.ident()
            elif name == b"CmdRef" and cmd_ref is None:
                cmd_ref = self.ident(True)
            elif name == b"Cmd" and cmd is None:
                cmd = self.token()
            elif name == b"TargetRef":
                target_refs.append(self.token())
            elif name == b"SourceRef":
                source_refs.append(self.token())
            elif name == b"Chal" and chal is None:
                chal = self.chal()
            elif name == b"Data" and code is None:
                code = self.number()
                if not STATUS_MIN <= code <= STATUS_MAX:
                    raise _giveup()  # the quirk status_code_range: the reference reader's
            elif name == b"NoResp":
                no_resp = self.flag()
            elif name == b"Item":
                items.append(self.item(None))
            else:
                raise _giveup()
        if cmd_id is None or msg_ref is None or cmd_ref is None or cmd is None or code is None:
            raise _giveup()
        return Status(cmd_id, msg_ref, cmd_ref, cmd, code, target_refs, source_refs, chal,
                      items, no_resp)

    def results(self) -> Results:
        cmd_id = msg_ref = cmd_ref = meta = target_ref = source_ref = None
        no_resp = False
        items: list[Item] = []
        last = 0
        while True:
            name = self.child()
            if name is None:
                break
            last = _rank(ORDER_RESULTS_B, name, last)
            if name == b"CmdID" and cmd_id is None:
                cmd_id = self.ident()
            elif name == b"NoResp":
                no_resp = self.flag()
            elif name == b"MsgRef" and msg_ref is None:
                msg_ref = self.ident()
            elif name == b"CmdRef" and cmd_ref is None:
                cmd_ref = self.ident(True)
            elif name == b"Meta" and meta is None:
                meta = self.meta()
            elif name == b"TargetRef" and target_ref is None:
                target_ref = self.token()
            elif name == b"SourceRef" and source_ref is None:
                source_ref = self.token()
            elif name == b"Item":
                items.append(self.item(meta))
            else:
                raise _giveup()
        if cmd_id is None or cmd_ref is None or not items:
            raise _giveup()
        return Results(cmd_id, cmd_ref, items, msg_ref, meta, target_ref, source_ref, no_resp)

    def container(self, local: bytes, depth: int) -> Command:
        if depth > self.limits.max_depth:
            raise _giveup()
        cmd_id = meta = None
        no_resp = False
        commands: list[Command] = []
        last = 0
        while True:
            name = self.child()
            if name is None:
                break
            last = _rank(ORDER_CONTAINER_B, name, last)
            if name == b"CmdID" and cmd_id is None:
                cmd_id = self.ident()
            elif name == b"NoResp":
                no_resp = self.flag()
            elif name == b"Meta" and meta is None:
                meta = self.meta()
            else:
                commands.append(self.command(name, depth + 1))
        if cmd_id is None or not commands:
            raise _giveup()
        cls = Atomic if local == b"Atomic" else Sequence
        return cls(cmd_id, commands, meta, no_resp)

    def command(self, local: bytes, depth: int) -> Command:
        if local in ITEM_COMMANDS:
            return self.item_command(local)
        if local == b"Status":
            return self.status()
        if local == b"Alert":
            return self.alert()
        if local == b"Results":
            return self.results()
        if local == b"Exec":
            return self.exec_()
        if local == b"Atomic" or local == b"Sequence":
            return self.container(local, depth)
        raise _giveup()  # a DS command (quirk) or not a command

    # --- header and message --------------------------------------------------------------

    def cred(self) -> Cred:
        meta = data = None
        last = 0
        while True:
            name = self.child()
            if name is None:
                break
            last = _rank(ORDER_CRED_B, name, last)
            if name == b"Meta" and meta is None:
                meta = self.meta()
            elif name == b"Data" and data is None:
                data = self.leaf()
            else:
                raise _giveup()
        if not data:
            raise _giveup()
        return Cred(data, meta)

    def chal(self) -> Chal:
        meta = None
        while True:
            name = self.child()
            if name is None:
                break
            if name != b"Meta" or meta is not None:
                raise _giveup()
            meta = self.meta()
        if meta is None:
            raise _giveup()
        return Chal(meta)

    def header(self) -> SyncHdr:
        ver_dtd = ver_proto = session_id = msg_id = target = source = None
        resp_uri = cred = meta = None
        no_resp = False
        last = 0
        while True:
            name = self.child()
            if name is None:
                break
            last = _rank(ORDER_HDR_B, name, last)
            if name == b"VerDTD" and ver_dtd is None:
                ver_dtd = self.token()
            elif name == b"VerProto" and ver_proto is None:
                ver_proto = self.token()
            elif name == b"SessionID" and session_id is None:
                session_id = self.ident()
            elif name == b"MsgID" and msg_id is None:
                msg_id = self.ident()
            elif name == b"Target" and target is None:
                target = Target(*self.loc())
            elif name == b"Source" and source is None:
                source = Source(*self.loc())
            elif name == b"RespURI" and resp_uri is None:
                resp_uri = self.token()
            elif name == b"NoResp":
                no_resp = self.flag()
            elif name == b"Cred" and cred is None:
                cred = self.cred()
            elif name == b"Meta" and meta is None:
                meta = self.meta()
            else:
                raise _giveup()
        if (ver_dtd is None or ver_proto is None or session_id is None or msg_id is None
                or target is None or source is None):
            raise _giveup()
        if ver_dtd not in _VERSIONS or VER_PROTO.fullmatch(ver_proto) is None:
            raise _giveup()
        return SyncHdr(session_id, msg_id, target, source, ver_dtd, ver_proto, resp_uri,
                       no_resp, cred, meta)

    def message(self) -> Message:
        sc = self.sc
        fpi = None
        while True:
            ev = sc.next()
            if ev == EV_START:
                break
            if ev == EV_DOCTYPE:
                fpi = sc.fpi
                if not doctype_ok(fpi, sc.sysid):
                    raise _giveup()
            elif ev != EV_TEXT:
                raise _giveup()
        self.start_ok()
        if sc.local != b"SyncML":
            raise _giveup()
        ns_version = NS_VERSION_EXACT.get(sc.ns)
        if ns_version is None:
            raise _giveup()  # no namespace, another case, another namespace
        self.ns = sc.ns
        if self.child() != b"SyncHdr":
            raise _giveup()
        hdr = self.header()
        if self.child() != b"SyncBody":
            raise _giveup()
        if ns_version != hdr.ver_dtd or (fpi is not None and
                                          doctype_version(fpi) not in (None, hdr.ver_dtd)):
            raise _giveup()  # quirk "version_mismatch"
        commands: list[Command] = []
        final = False
        while True:
            name = self.child()
            if name is None:
                break
            if final:
                raise _giveup()
            if name == b"Final":
                final = self.flag()
            else:
                commands.append(self.command(name, 1))
        if self.child() is not None or sc.next() != EV_EOF:
            raise _giveup()
        return Message(hdr, commands, final, [])


def _blank(text: bytes) -> bool:
    """Whitespace-only text, as ``str.isspace`` sees it (what lxml's reader checks)."""
    return not text.strip(_WS) or text.decode("utf-8").isspace()


def _rank(order: dict[bytes, int], local: bytes, last: int) -> int:
    """The content-model rank of ``local``; out of order is the quirk ``element_order``."""
    rank = order.get(local, COMMAND_RANK)
    if rank < last:
        raise _giveup()
    return rank


def _escape_attr(text: str) -> str:
    return (escape_text(text).replace('"', "&quot;").replace("\n", "&#10;")
            .replace("\t", "&#9;"))


def decode_xml(data: bytes, limits: Limits) -> Message | None:
    """The model of a clean SyncML DM XML message, or ``None``: the reference path decides
    (a quirk, an error, or a construct outside the fast path). Quirks are never recorded
    here, so ``strict`` does not matter; the result has ``quirks == []``."""
    if len(data) > limits.max_input_size:
        return None
    return _decode(data, limits, False)


def decode_bytes(data: bytes, limits: Limits) -> Message | None:
    """``decode_wbxml`` or ``decode_xml`` as the first bytes tell (``messages._sniff``): the
    model, or ``None`` (also for input over ``max_input_size``)."""
    if len(data) > limits.max_input_size:
        return None
    if data and data[0] <= 3 and data[:2] != b"\x00<":
        return decode_wbxml(data, limits)
    return _decode(data, limits, False)


def decode_wbxml(data: bytes, limits: Limits) -> Message | None:
    """Like ``decode_xml`` for WBXML: the model built straight from the tokens
    (``decode_wbxml_tokens``) or, where that path does not vouch, through this twin's
    ``wbxml_to_xml`` and the XML fast path; ``None`` when neither vouches."""
    msg = decode_wbxml_tokens(data, limits)
    if msg is None:
        msg = decode_wbxml_via_xml(data, limits)
    return msg


def decode_wbxml_tokens(data: bytes, limits: Limits) -> Message | None:
    """The token path alone: the builder on ``WbxmlEvents``, no XML text in between. Gives
    the model ``decode_wbxml_via_xml`` gives, or ``None`` (it vouches for less)."""
    if len(data) > limits.max_input_size:
        return None
    if limits.max_depth > MAX_FAST_DEPTH:
        limits = replace(limits, max_depth=MAX_FAST_DEPTH)
    try:
        events = WbxmlEvents(data, limits, limits.max_depth)
        return _Build(data, events, limits, True).message()
    except (_GiveUp, WbxmlGiveUp, UnicodeDecodeError):
        return None


def decode_wbxml_via_xml(data: bytes, limits: Limits) -> Message | None:
    """The XML hub: this twin's ``wbxml_to_xml`` then the XML fast path (``None`` for
    anything the WBXML decoder refuses: the reference path reports it)."""
    if len(data) > limits.max_input_size:
        return None
    try:
        xml = wbxml_to_xml(data, limits=limits)
    except DecodeError:
        return None
    return _decode(xml, limits, True)


def _decode(data: bytes, limits: Limits, from_wbxml: bool) -> Message | None:
    if not lexical_ok(data):
        return None
    if limits.max_depth > MAX_FAST_DEPTH:
        limits = replace(limits, max_depth=MAX_FAST_DEPTH)
    try:
        check_chars(data, 0)
        sc = Scanner(data, 0, limits)
        return _Build(data, sc, limits, from_wbxml).message()
    except (_GiveUp, EncodeError, UnicodeDecodeError):
        return None
