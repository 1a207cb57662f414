"""XML -> model, through lxml with a hardened parser (the pure-Python decode path).

The one idea: lxml only tokenises; this module walks the tree once, element by element, with
one small method per SyncML element, and checks as it goes everything a content model says
(known children, no stray text, singletons once, required ones present). Leniency lives in one
place, ``_Reader.quirk``: in strict mode it raises ``DecodeError(code)``, otherwise it records
``code`` in ``Message.quirks`` and the caller applies the repair.

Offsets: lxml reports only a line per element, so a structural error's offset is found after
the fact (errors are rare, the happy path pays nothing): the offending element's index in
document order picks the matching start tag from one pass of the active twin's byte scanner
(``_xmlscan``), giving the exact byte offset of its ``<`` in the bytes lxml parsed (the input,
or its lenient repair when a quirk rewrote bytes). Should the scanner refuse what lxml
accepted, the start of the element's line is used. Syntax errors convert lxml's line and
character column into a byte offset (``_lxml.syntax_error``).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from lxml import etree  # type: ignore[import-untyped]

from ..errors import DecodeError
from ..limits import Limits
from ._lxml import (
    TreeWalker,
    escape_text,
    parser,
    split,
    syntax_error,
)
from ._schema import (
    BAD_ID,
    ID_MAX,
    METINF_NAMES,
    METINF_NS,
    NS_VERSION,
    OPAQUE_ATTR,
    OPAQUE_MARKUP,
    OPAQUE_NS,
    ORDER_ALERT,
    ORDER_CONTAINER,
    ORDER_CRED,
    ORDER_EXEC,
    ORDER_HDR,
    ORDER_ITEM,
    ORDER_ITEM_COMMAND,
    ORDER_LOC,
    ORDER_RESULTS,
    ORDER_ROOT,
    ORDER_STATUS,
    STATUS_MAX,
    STATUS_MIN,
    SYNCML_NS,
    VER_PROTO,
)
from .model import (
    Add,
    Alert,
    Anchor,
    Atomic,
    Chal,
    Command,
    CommandList,
    Copy,
    Cred,
    DataHint,
    DataValue,
    Delete,
    Exec,
    Get,
    Item,
    Map,
    Mem,
    Message,
    Meta,
    MetaExtra,
    Put,
    Replace,
    Results,
    Search,
    Sequence,
    Source,
    Status,
    Sync,
    SyncHdr,
    Target,
    XmlDocument,
)


class _Reader(TreeWalker):
    """One decode: the input (for offsets), the mode, the quirks met, the limits."""

    def __init__(self, data: bytes, strict: bool, quirks: list[str], limits: Limits,
                 from_wbxml: bool = False) -> None:
        super().__init__(data, limits)
        self.from_wbxml = from_wbxml
        self.strict = strict
        self.quirks = quirks
        self.ns: str | None = None
        self.tag_prefix = ""
        self.context: dict[str | None, str] = {}
        self.has_cdata = b"<![CDATA[" in data

    # --- errors and quirks ---------------------------------------------------------------

    def quirk(self, code: str, el: Any, detail: str = "") -> None:
        if self.strict:
            raise self.fail(code, el, detail or "rejected in strict mode")
        if code not in self.quirks:
            self.quirks.append(code)

    # --- generic walking -----------------------------------------------------------------

    def kids(self, el: Any, order: dict[str, int] | None = None) -> list[tuple[str, Any]]:
        """The element children of a structural element as (local name, element); stray
        text, foreign namespaces, attributes and entity references are errors. With
        ``order`` (name -> rank in the content model; other names rank 99, i.e. commands
        after the head of Atomic/Sequence) children out of DTD order are the quirk
        ``element_order``."""
        if el.attrib:
            raise self.fail("unexpected_attribute", el, f"attribute on <{split(el.tag)[1]}>")
        text = el.text
        if text is not None and not text.isspace():
            raise self.fail("unexpected_text", el, "text in element content")
        out = []
        self.elements += len(el)
        if self.elements > self.limits.max_elements:
            raise self.fail("too_many_elements", el)
        prefix = self.tag_prefix
        cut = len(prefix)
        last = 0
        for child in el:
            tag = child.tag
            if not isinstance(tag, str):
                raise self.fail("undefined_entity", child, "unexpanded entity reference")
            tail = child.tail
            if tail is not None and not tail.isspace():
                raise self.fail("unexpected_text", child, "text in element content")
            # Fast path: the tag is "{root namespace}Local" (or "Local" without a namespace).
            if (tag.startswith(prefix) if cut else tag[0] != "{"):
                local = tag[cut:]
            else:
                ns, local = split(tag)
                if local != "Meta" or ns is None or not ns.lower().startswith(METINF_NS):
                    raise self.fail("bad_namespace", child, f"<{local}> in namespace {ns!r}")
                self.quirk("metinf_namespace", child, "<Meta> itself in the MetInf namespace")
            if order is not None:
                rank = order.get(local, 99)
                if rank < last:
                    self.quirk("element_order", child, f"<{local}> out of DTD order")
                    order = None  # reported once per parent
                else:
                    last = rank
            out.append((local, child))
        return out

    def leaf(self, el: Any) -> str:
        if len(el) or el.attrib:
            raise self.fail("unexpected_element", el, "element content in a text element")
        text: str | None = el.text
        return text if text is not None else ""

    def token(self, el: Any) -> str:
        """A LocURI, ID, version or code: surrounding whitespace is a quirk."""
        text = self.leaf(el)
        stripped = text.strip()
        if stripped != text:
            self.quirk("whitespace", el, "whitespace around a token")
        return stripped

    def ident(self, el: Any, allow_empty: bool = False) -> str:
        value = self.token(el)
        if (not value and not allow_empty) or len(value) > ID_MAX or BAD_ID.search(value):
            raise self.fail("bad_id", el, f"bad {split(el.tag)[1]} {value[:40]!r}")
        return value

    def flag(self, el: Any) -> bool:
        if self.leaf(el).strip():
            raise self.fail("unexpected_text", el, "text in an empty element")
        return True

    def number(self, el: Any, reason: str) -> int:
        value = self.token(el)
        if not (value.isascii() and value.isdigit()) or len(value) > 10:
            raise self.fail(reason, el, f"not a decimal number: {value[:40]!r}")
        return int(value)

    def once(self, current: Any, new: Any, what: str, el: Any) -> Any:
        """``new``, unless the element was already seen (``duplicate_element``)."""
        if current is not None:
            raise self.fail("duplicate_element", el, f"second <{what}>")
        return new

    def no_cmd_id(self, el: Any) -> str:
        """A command without CmdID: lenient reads it as ``""`` so that a server can answer it
        with Status 400 and an empty CmdRef (as Windows does); the model cannot be re-encoded
        until it gets an ID."""
        self.quirk("missing_cmd_id", el, f"<{split(el.tag)[1]}> without <CmdID>")
        return ""

    def missing(self, el: Any, what: str) -> DecodeError:
        return self.fail("missing_element", el, f"<{split(el.tag)[1]}> without <{what}>")

    # --- serialization of embedded markup -------------------------------------------------

    def markup(self, el: Any, depth: int) -> str:
        out: list[str] = []
        self.serialize(el, self.context, depth, out)
        return "".join(out)

    # --- Meta, Item, Data ------------------------------------------------------------------

    def meta(self, el: Any) -> Meta:
        if el.attrib:
            raise self.fail("unexpected_attribute", el)
        text = el.text
        if text is not None and not text.isspace():
            raise self.fail("unexpected_text", el, "text in <Meta>")
        meta = Meta()
        seen: set[str] = set()
        for child in el:
            if not isinstance(child.tag, str):
                raise self.fail("undefined_entity", child)
            tail = child.tail
            if tail is not None and not tail.isspace():
                raise self.fail("unexpected_text", child, "text in <Meta>")
            ns, local = split(child.tag)
            known = local in METINF_NAMES and (
                ns is None or ns == self.ns or ns.lower().startswith(METINF_NS))
            if not known:
                meta.extra.append(MetaExtra(local, self.markup(child, 4)))
                continue
            if ns != METINF_NS:
                self.quirk("metinf_namespace", child, f"MetInf <{local}> in namespace {ns!r}")
            if child.prefix:
                self.quirk("metinf_prefix", child, f"MetInf <{child.prefix}:{local}>")
            if local != "EMI":
                if local in seen:
                    raise self.fail("duplicate_element", child, f"second <{local}>")
                seen.add(local)
            self.meta_child(meta, local, child)
        return meta

    def meta_child(self, meta: Meta, local: str, child: Any) -> None:
        if local == "Format":
            meta.format = self.leaf(child)
        elif local == "Type":
            meta.type = self.leaf(child)
        elif local == "Mark":
            meta.mark = self.leaf(child)
        elif local == "Size":
            meta.size = self.number(child, "bad_number")
        elif local == "MaxMsgSize":
            meta.max_msg_size = self.number(child, "bad_number")
        elif local == "MaxObjSize":
            meta.max_obj_size = self.number(child, "bad_number")
        elif local == "NextNonce":
            meta.next_nonce = self.leaf(child)
        elif local == "Version":
            meta.version = self.leaf(child)
        elif local == "EMI":
            meta.emi.append(self.leaf(child))
        elif local == "FieldLevel":
            meta.field_level = self.flag(child)
        elif local == "Anchor":
            parts = self.sub_leaves(child, ("Last", "Next"))
            if "Next" not in parts:
                raise self.missing(child, "Next")
            meta.anchor = Anchor(next=parts["Next"], last=parts.get("Last"))
        else:  # Mem
            parts = self.sub_leaves(child, ("SharedMem", "FreeMem", "FreeID"))
            if "FreeMem" not in parts or "FreeID" not in parts:
                raise self.missing(child, "FreeMem/FreeID")
            meta.mem = Mem(free_mem=parts["FreeMem"], free_id=parts["FreeID"],
                           shared_mem="SharedMem" in parts)

    def sub_leaves(self, el: Any, names: tuple[str, ...]) -> dict[str, str]:
        if el.attrib or (el.text is not None and not el.text.isspace()):
            raise self.fail("unexpected_text", el)
        parts: dict[str, str] = {}
        for child in el:
            if not isinstance(child.tag, str):
                raise self.fail("undefined_entity", child)
            local = split(child.tag)[1]
            if local not in names:
                raise self.fail("unexpected_element", child, f"<{local}> in MetInf")
            if local in parts:
                raise self.fail("duplicate_element", child, f"second <{local}>")
            parts[local] = self.leaf(child)
        return parts

    def loc(self, el: Any, cls: type[Target] | type[Source]) -> Target | Source:
        uri: str | None = None
        name: str | None = None
        for local, child in self.kids(el, ORDER_LOC):
            if local == "LocURI":
                uri = self.once(uri, self.token(child), local, child)
            elif local == "LocName":
                name = self.once(name, self.leaf(child), local, child)
            else:
                raise self.fail("unexpected_element", child, f"<{local}> in <{cls.__name__}>")
        if uri is None:
            raise self.missing(el, "LocURI")
        return cls(uri, name)

    def parent_uri(self, el: Any) -> str:
        uri: str | None = None
        for local, child in self.kids(el):
            if local != "LocURI":
                raise self.fail("unexpected_element", child, f"<{local}> in a *Parent")
            uri = self.once(uri, self.token(child), local, child)
        if uri is None:
            raise self.missing(el, "LocURI")
        return uri

    def data(self, el: Any, fmt: str | None) -> tuple[DataValue, DataHint]:
        attrib = el.attrib
        if attrib:
            if len(attrib) == 1 and attrib.get(OPAQUE_ATTR) == OPAQUE_MARKUP and len(el):
                # Markup that travelled in WBXML as its text: the marker's own prefix is
                # not part of it.
                return self.markup_data(el, {**self.context, "wbxml": OPAQUE_NS})
            if len(attrib) != 1 or attrib.get(OPAQUE_ATTR) != "base64" or len(el):
                raise self.fail("unexpected_attribute", el, "attribute on <Data>")
            try:
                raw = base64.b64decode("".join((el.text or "").split()), validate=True)
            except (binascii.Error, ValueError):
                raise self.fail("bad_opaque", el, "wbxml:opaque content is not base64") from None
            if len(raw) > self.limits.max_opaque:
                raise self.fail("too_large", el, f"Data of {len(raw)} bytes")
            if fmt != "bin":
                # OPAQUE is bytes only when it is binary: libwbxml writes text Data as OPAQUE.
                try:
                    return raw.decode("utf-8"), DataHint.OPAQUE
                except UnicodeDecodeError:
                    pass
            return raw, DataHint.OPAQUE
        if len(el) == 0:
            text: str = el.text or ""
            if len(text) > self.limits.max_opaque:
                raise self.fail("too_large", el, f"Data of {len(text)} characters")
            if self.from_wbxml and fmt == "bin":
                # wbxml_to_xml writes OPAQUE that happens to be UTF-8 as text: under Format
                # bin it is the bytes that were sent.
                return text.encode("utf-8"), DataHint.OPAQUE
            if text and self.has_cdata and b"<![CDATA[" in etree.tostring(el, with_tail=False):
                return text, DataHint.CDATA
            return text, DataHint.TEXT
        return self.markup_data(el, self.context)

    def markup_data(self, el: Any, context: dict[str | None, str]) -> tuple[DataValue, DataHint]:
        """A Data holding elements: their canonical XML (``context``: the namespaces in scope
        that are not part of it)."""
        out: list[str] = []
        text = el.text
        if text and not text.isspace():
            out.append(escape_text(text))
        for child in el:
            self.serialize(child, context, 6, out)
            tail = child.tail
            if tail and not tail.isspace():
                out.append(escape_text(tail))
        return XmlDocument("".join(out)), DataHint.MARKUP

    def item(self, el: Any, command_meta: Meta | None) -> Item:
        item = Item()
        data_el = None
        for local, child in self.kids(el, ORDER_ITEM):
            if local == "Target":
                item.target = self.once(item.target, self.loc(child, Target), local, child)
            elif local == "Source":
                item.source = self.once(item.source, self.loc(child, Source), local, child)
            elif local == "SourceParent":
                item.source_parent = self.once(item.source_parent, self.parent_uri(child),
                                               local, child)
            elif local == "TargetParent":
                item.target_parent = self.once(item.target_parent, self.parent_uri(child),
                                               local, child)
            elif local == "Meta":
                item.meta = self.once(item.meta, self.meta(child), local, child)
            elif local == "Data":
                data_el = self.once(data_el, child, local, child)
            elif local == "MoreData":
                item.more_data = self.flag(child)
            else:
                raise self.fail("unexpected_element", child, f"<{local}> in <Item>")
        if data_el is not None:
            meta = item.meta if item.meta is not None and item.meta.format else command_meta
            item.data, item.data_hint = self.data(data_el, meta.format if meta else None)
        return item

    # --- commands ----------------------------------------------------------------------------

    def item_command(self, el: Any, cls: Callable[..., Command]) -> Command:
        cmd_id = meta = None
        no_resp = False
        item_els = []
        for local, child in self.kids(el, ORDER_ITEM_COMMAND):
            if local == "CmdID":
                cmd_id = self.once(cmd_id, self.ident(child), local, child)
            elif local == "NoResp":
                no_resp = self.flag(child)
            elif local == "Meta":
                meta = self.once(meta, self.meta(child), local, child)
            elif local == "Item":
                item_els.append(child)
            else:
                raise self.fail("unexpected_element", child, f"<{local}> in a command")
        if cmd_id is None:
            cmd_id = self.no_cmd_id(el)
        if not item_els:
            raise self.missing(el, "Item")
        items = [self.item(child, meta) for child in item_els]
        return cls(cmd_id=cmd_id, items=items, meta=meta, no_resp=no_resp)

    def alert(self, el: Any) -> Alert:
        cmd_id = code = correlator = None
        no_resp = False
        item_els = []
        for local, child in self.kids(el, ORDER_ALERT):
            if local == "CmdID":
                cmd_id = self.once(cmd_id, self.ident(child), local, child)
            elif local == "NoResp":
                no_resp = self.flag(child)
            elif local == "Data":
                if not self.leaf(child).strip():
                    self.quirk("empty_data", child, "empty <Data/> as the alert code")
                    continue
                code = self.once(code, self.number(child, "bad_code"), local, child)
            elif local == "Correlator":
                correlator = self.once(correlator, self.token(child), local, child)
            elif local == "Item":
                item_els.append(child)
            else:
                raise self.fail("unexpected_element", child, f"<{local}> in <Alert>")
        if cmd_id is None:
            cmd_id = self.no_cmd_id(el)
        items = [self.item(child, None) for child in item_els]
        return Alert(cmd_id=cmd_id, data=code, correlator=correlator, items=items,
                     no_resp=no_resp)

    def exec_(self, el: Any) -> Exec:
        cmd_id = meta = correlator = None
        no_resp = False
        item_els = []
        for local, child in self.kids(el, ORDER_EXEC):
            if local == "CmdID":
                cmd_id = self.once(cmd_id, self.ident(child), local, child)
            elif local == "NoResp":
                no_resp = self.flag(child)
            elif local == "Meta":
                meta = self.once(meta, self.meta(child), local, child)
            elif local == "Correlator":
                correlator = self.once(correlator, self.token(child), local, child)
            elif local == "Item":
                item_els.append(child)
            else:
                raise self.fail("unexpected_element", child, f"<{local}> in <Exec>")
        if cmd_id is None:
            cmd_id = self.no_cmd_id(el)
        if not item_els:
            raise self.missing(el, "Item")
        items = [self.item(child, meta) for child in item_els]
        return Exec(cmd_id=cmd_id, items=items, meta=meta, correlator=correlator,
                    no_resp=no_resp)

    def status(self, el: Any) -> Status:
        cmd_id = msg_ref = cmd_ref = cmd = code = chal = None
        no_resp = False
        target_refs: list[str] = []
        source_refs: list[str] = []
        item_els = []
        for local, child in self.kids(el, ORDER_STATUS):
            if local == "CmdID":
                cmd_id = self.once(cmd_id, self.ident(child), local, child)
            elif local == "MsgRef":
                msg_ref = self.once(msg_ref, self.ident(child), local, child)
            elif local == "CmdRef":
                cmd_ref = self.once(cmd_ref, self.ident(child, True), local, child)
            elif local == "Cmd":
                cmd = self.once(cmd, self.token(child), local, child)
            elif local == "TargetRef":
                target_refs.append(self.token(child))
            elif local == "SourceRef":
                source_refs.append(self.token(child))
            elif local == "Chal":
                chal = self.once(chal, self.chal(child), local, child)
            elif local == "Data":
                if not self.leaf(child).strip():
                    raise self.fail("empty_data", child, "empty <Data/> as the status code")
                code = self.once(code, self.number(child, "bad_code"), local, child)
                if not STATUS_MIN <= code <= STATUS_MAX:
                    # libdmclient answers 0 when it could not check the server: not a status.
                    self.quirk("status_code_range", child, f"status code {code}")
            elif local == "NoResp":
                no_resp = self.flag(child)
            elif local == "Item":
                item_els.append(child)
            else:
                raise self.fail("unexpected_element", child, f"<{local}> in <Status>")
        if cmd_id is None:
            cmd_id = self.no_cmd_id(el)
        if cmd_ref is None and cmd == "SyncHdr":
            # The SyncHdr has no CmdID; it is always CmdRef 0 (dm-protocol.md 1.6), and OMA's
            # own examples leave CmdRef out.
            self.quirk("missing_cmd_ref", el, "SyncHdr Status without <CmdRef>")
            cmd_ref = "0"
        for value, what in ((msg_ref, "MsgRef"), (cmd_ref, "CmdRef"),
                            (cmd, "Cmd"), (code, "Data")):
            if value is None:
                raise self.missing(el, what)
        assert cmd_id is not None and msg_ref is not None and cmd_ref is not None
        assert cmd is not None and code is not None
        items = [self.item(child, None) for child in item_els]
        return Status(cmd_id=cmd_id, msg_ref=msg_ref, cmd_ref=cmd_ref, cmd=cmd, data=code,
                      target_refs=target_refs, source_refs=source_refs, chal=chal, items=items,
                      no_resp=no_resp)

    def results(self, el: Any) -> Results:
        cmd_id = msg_ref = cmd_ref = meta = target_ref = source_ref = None
        no_resp = False
        item_els = []
        for local, child in self.kids(el, ORDER_RESULTS):
            if local == "CmdID":
                cmd_id = self.once(cmd_id, self.ident(child), local, child)
            elif local == "NoResp":
                no_resp = self.flag(child)
            elif local == "MsgRef":
                msg_ref = self.once(msg_ref, self.ident(child), local, child)
            elif local == "CmdRef":
                cmd_ref = self.once(cmd_ref, self.ident(child, True), local, child)
            elif local == "Meta":
                meta = self.once(meta, self.meta(child), local, child)
            elif local == "TargetRef":
                target_ref = self.once(target_ref, self.token(child), local, child)
            elif local == "SourceRef":
                source_ref = self.once(source_ref, self.token(child), local, child)
            elif local == "Item":
                item_els.append(child)
            else:
                raise self.fail("unexpected_element", child, f"<{local}> in <Results>")
        if cmd_id is None:
            cmd_id = self.no_cmd_id(el)
        if cmd_ref is None:
            raise self.missing(el, "CmdRef")
        if not item_els:
            raise self.missing(el, "Item")
        items = [self.item(child, meta) for child in item_els]
        return Results(cmd_id=cmd_id, cmd_ref=cmd_ref, items=items, msg_ref=msg_ref, meta=meta,
                       target_ref=target_ref, source_ref=source_ref, no_resp=no_resp)

    def container(self, el: Any, cls: Callable[..., Command], depth: int) -> Command:
        if depth > self.limits.max_depth:
            raise self.fail("too_deep", el, "Atomic/Sequence nested too deep")
        cmd_id = meta = None
        no_resp = False
        commands: list[Command] = []
        for local, child in self.kids(el, ORDER_CONTAINER):
            if local == "CmdID":
                cmd_id = self.once(cmd_id, self.ident(child), local, child)
            elif local == "NoResp":
                no_resp = self.flag(child)
            elif local == "Meta":
                meta = self.once(meta, self.meta(child), local, child)
            else:
                commands.append(self.command(local, child, depth + 1))
        if cmd_id is None:
            cmd_id = self.no_cmd_id(el)
        if not commands:
            raise self.missing(el, "a command")
        return cls(cmd_id=cmd_id, commands=commands, meta=meta, no_resp=no_resp)

    def ds_command(self, el: Any, cls: Callable[..., Command]) -> Command:
        local = split(el.tag)[1]
        self.quirk("unsupported_in_dm", el, f"<{local}> is a DS command, not used in DM")
        cmd_id = ""
        no_resp = False
        for child in el:
            if isinstance(child.tag, str) and split(child.tag)[1] == "CmdID":
                cmd_id = self.ident(child)
            elif isinstance(child.tag, str) and split(child.tag)[1] == "NoResp":
                no_resp = True
        return cls(cmd_id=cmd_id, xml=self.markup(el, 3), no_resp=no_resp)

    def command(self, local: str, el: Any, depth: int) -> Command:
        if local in _ITEM_COMMANDS:
            return self.item_command(el, _ITEM_COMMANDS[local])
        if local == "Status":
            return self.status(el)
        if local == "Alert":
            return self.alert(el)
        if local == "Results":
            return self.results(el)
        if local == "Exec":
            return self.exec_(el)
        if local == "Atomic":
            return self.container(el, Atomic, depth)
        if local == "Sequence":
            return self.container(el, Sequence, depth)
        if local in _DS:
            return self.ds_command(el, _DS[local])
        raise self.fail("unexpected_element", el, f"<{local}> is not a command")

    # --- header and message ------------------------------------------------------------------

    def cred(self, el: Any) -> Cred:
        meta = data = None
        for local, child in self.kids(el, ORDER_CRED):
            if local == "Meta":
                meta = self.once(meta, self.meta(child), local, child)
            elif local == "Data":
                data = self.once(data, self.leaf(child), local, child)
            else:
                raise self.fail("unexpected_element", child, f"<{local}> in <Cred>")
        if not data:
            raise self.fail("empty_data", el, "<Cred> without credential data")
        return Cred(data=data, meta=meta)

    def chal(self, el: Any) -> Chal:
        meta = None
        for local, child in self.kids(el):
            if local != "Meta":
                raise self.fail("unexpected_element", child, f"<{local}> in <Chal>")
            meta = self.once(meta, self.meta(child), local, child)
        if meta is None:
            raise self.missing(el, "Meta")
        return Chal(meta)

    def header(self, el: Any) -> SyncHdr:
        values: dict[str, Any] = {}
        no_resp = False
        for local, child in self.kids(el, ORDER_HDR):
            if local in ("VerDTD", "VerProto", "RespURI"):
                value: Any = self.token(child)
            elif local in ("SessionID", "MsgID"):
                value = self.ident(child)
            elif local == "Target":
                value = self.loc(child, Target)
            elif local == "Source":
                value = self.loc(child, Source)
            elif local == "Cred":
                value = self.cred(child)
            elif local == "Meta":
                value = self.meta(child)
            elif local == "NoResp":
                no_resp = self.flag(child)
                continue
            else:
                raise self.fail("unexpected_element", child, f"<{local}> in <SyncHdr>")
            if local in values:
                raise self.fail("duplicate_element", child, f"second <{local}>")
            values[local] = value
        for required in ("VerDTD", "VerProto", "SessionID", "MsgID", "Target", "Source"):
            if required not in values:
                raise self.missing(el, required)
        ver_dtd, ver_proto = values["VerDTD"], values["VerProto"]
        if ver_dtd not in SYNCML_NS:
            raise self.fail("bad_version", el, f"VerDTD {ver_dtd!r}")
        if not VER_PROTO.fullmatch(ver_proto):
            if ver_proto.startswith("SyncML/"):
                self.quirk("unsupported_in_dm", el, f"VerProto {ver_proto!r} is SyncML DS")
            else:
                raise self.fail("bad_version", el, f"VerProto {ver_proto!r}")
        return SyncHdr(
            session_id=values["SessionID"], msg_id=values["MsgID"], target=values["Target"],
            source=values["Source"], ver_dtd=ver_dtd, ver_proto=ver_proto,
            resp_uri=values.get("RespURI"), no_resp=no_resp, cred=values.get("Cred"),
            meta=values.get("Meta"),
        )

    def namespace(self, ns: str | None, el: Any, missing_is_quirk: bool) -> str | None:
        """Take ``ns`` (of ``el``) as the SyncML namespace of what follows; its VerDTD.
        No namespace is the quirk ``namespace_missing`` on a ``<SyncML>`` root only: a
        command list is written without one."""
        ns_version: str | None = None
        if ns is None:
            if missing_is_quirk:
                self.quirk("namespace_missing", el, "SyncML root without a namespace")
        else:
            ns_version = NS_VERSION.get(ns.lower())
            if ns_version is None:
                raise self.fail("bad_namespace", el, f"namespace {ns!r}")
            if SYNCML_NS[ns_version] != ns:
                self.quirk("namespace_case", el, f"namespace {ns!r}")
        self.ns = ns
        self.tag_prefix = "{" + ns + "}" if ns is not None else ""
        self.context = {None: ns} if ns is not None else {}
        return ns_version

    def body(self, el: Any) -> tuple[list[Command], bool]:
        """The commands of a SyncBody (or of a bare command list) and its Final."""
        commands: list[Command] = []
        final = False
        for child_local, child in self.kids(el):
            if final:
                raise self.fail("unexpected_element", child, "element after <Final/>")
            if child_local == "Final":
                final = self.flag(child)
            else:
                commands.append(self.command(child_local, child, 1))
        return commands, final

    def command_list(self, root: Any, wrapped: bool) -> CommandList:
        """A command list: ``root`` is ``<SyncML>`` (no SyncHdr), ``<SyncBody>``, or (bare
        commands, ``wrapped``) the wrapper ``decode_commands`` put around them."""
        self.root = root
        ns, local = split(root.tag)
        body = root
        if wrapped:
            first = next((child for child in root if isinstance(child.tag, str)), None)
            if first is None:
                raise self.fail("not_syncml", root, "no command")
            self.namespace(split(first.tag)[0], first, False)
        elif local == "SyncBody":
            self.namespace(ns, root, False)
        else:
            self.namespace(ns, root, True)
            found = None
            for child_local, child in self.kids(root, ORDER_ROOT):
                if child_local == "SyncBody":
                    found = self.once(found, child, child_local, child)
                elif child_local == "SyncHdr":
                    raise self.fail("unexpected_element", child,
                                    "a SyncHdr: a message, for decode(), not a command list")
                else:
                    raise self.fail("unexpected_element", child, f"<{child_local}> in <SyncML>")
            if found is None:
                raise self.missing(root, "SyncBody")
            body = found
        commands, final = self.body(body)
        return CommandList(commands, final, self.quirks)

    def message(self, root: Any, doctype_public_id: str | None) -> Message:
        self.root = root
        ns, local = split(root.tag)
        if local != "SyncML":
            raise self.fail("not_syncml", root, f"root element <{local}>")
        ns_version = self.namespace(ns, root, True)
        header = body = None
        for child_local, child in self.kids(root, ORDER_ROOT):
            if child_local == "SyncHdr":
                header = self.once(header, child, child_local, child)
            elif child_local == "SyncBody":
                body = self.once(body, child, child_local, child)
            else:
                raise self.fail("unexpected_element", child, f"<{child_local}> in <SyncML>")
        if header is None or body is None:
            raise self.missing(root, "SyncHdr" if header is None else "SyncBody")
        hdr = self.header(header)
        declared = [ns_version]
        if doctype_public_id:
            found = re.search(r"SyncML ([0-9]\.[0-9])", doctype_public_id, re.I)
            declared.append(found.group(1) if found else None)
        if any(v is not None and v != hdr.ver_dtd for v in declared):
            self.quirk("version_mismatch", root, f"namespace/DOCTYPE vs VerDTD {hdr.ver_dtd}")
        commands, final = self.body(body)
        return Message(header=hdr, commands=commands, final=final, quirks=self.quirks)



_ITEM_COMMANDS: dict[str, Callable[..., Command]] = {
    "Add": Add, "Copy": Copy, "Delete": Delete, "Get": Get, "Replace": Replace,
}
_DS: dict[str, Callable[..., Command]] = {"Map": Map, "Put": Put, "Search": Search, "Sync": Sync}


def read_xml(data: bytes, strict: bool, quirks: list[str], limits: Limits,
             doctype_public_id: str | None, from_wbxml: bool = False) -> Message:
    """Parse prepared XML bytes (see ``_guard.prepare_xml``) into a ``Message``."""
    try:
        root = etree.fromstring(data, parser())
    except etree.XMLSyntaxError as exc:
        raise syntax_error(exc, data, limits) from None
    return _Reader(data, strict, quirks, limits, from_wbxml).message(root, doctype_public_id)


_WRAP = b"<omadm-codec-commands>"
_WRAP_END = b"</omadm-codec-commands>"
_ROOTS = frozenset({b"SyncML", b"SyncBody"})
_NAME = re.compile(rb"<(?:[A-Za-z_][A-Za-z0-9_.-]*:)?([A-Za-z_][A-Za-z0-9_.-]*)")


def _first_element(data: bytes) -> tuple[int, bytes] | None:
    """(offset, local name) of the first start tag after the prolog (declaration, comments,
    PIs, a DOCTYPE), or None when there is none. The guard has vetted the prolog."""
    pos = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    end = len(data)
    while pos < end:
        lt = data.find(b"<", pos)
        if lt < 0:
            return None
        if data.startswith(b"<?", lt):
            close, skip = data.find(b"?>", lt + 2), 2
        elif data.startswith(b"<!--", lt):
            close, skip = data.find(b"-->", lt + 4), 3
        elif data.startswith(b"<!", lt):
            close, skip = data.find(b">", lt + 2), 1
        else:
            found = _NAME.match(data, lt)
            return (lt, found.group(1)) if found else (lt, b"")
        if close < 0:
            return None
        pos = close + skip
    return None


def read_commands(data: bytes, strict: bool, quirks: list[str], limits: Limits,
                  from_wbxml: bool = False) -> CommandList:
    """Parse prepared XML bytes holding a command list (see ``CommandList``): a ``<SyncML>``
    or ``<SyncBody>`` root as it stands, bare commands inside a wrapper element inserted
    before the first of them; offsets are given back in ``data``."""
    first = _first_element(data)
    if first is None:
        raise DecodeError("not_syncml", len(data), "no element: no command")
    at, local = first
    wrapped = local not in _ROOTS
    text = data[:at] + _WRAP + data[at:] + _WRAP_END if wrapped else data
    try:
        try:
            root = etree.fromstring(text, parser())
        except etree.XMLSyntaxError as exc:
            raise syntax_error(exc, text) from None
        return _Reader(text, strict, quirks, limits, from_wbxml).command_list(root, wrapped)
    except DecodeError as exc:
        if not wrapped or exc.offset < at:
            raise
        offset = max(at, exc.offset - len(_WRAP))
        raise DecodeError(exc.reason, min(offset, len(data)), exc.detail) from None
