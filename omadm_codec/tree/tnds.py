"""TNDS (dm-protocol.md 8): serialise a subtree to a ``MgmtTree`` document, parse one, and
apply it to the tree as an Add (many nodes, one status) or an exact subtree Replace.

The one idea: a TNDS document is relative to the command target. ``Get ./A?list=TNDS`` emits
``A``'s children as the top-level ``Node`` elements (no ``Path``), and ``Add ./A`` / ``Replace
./A`` with that document recreates / replaces exactly them, so serialise-then-apply round trips
(this is our answer to open point 7). Serialising builds the text directly (no element tree);
parsing uses lxml with DTDs, entities and network off, and size, depth and node-count limits
checked before anything is applied. Applying goes through the ordinary commands (so every
ACL, format and limit check applies) inside one transaction: all or nothing.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import (
    DecodeError,
    InvalidValue,
    NodeNotFound,
    NotAllowed,
    NotSupported,
    ValueTooLarge,
)
from ._xml import local_name as _local
from ._xml import parse_document
from .nodes import FORMATS, Node

if TYPE_CHECKING:
    from .tree import DMTree

TNDS_XML_TYPE = "application/vnd.syncml.dmtnds+xml"
TNDS_WBXML_TYPE = "application/vnd.syncml.dmtnds+wbxml"
NAMESPACE = "syncml:dmddf1.2"
TNDS_PROPERTIES: tuple[str, ...] = (
    "ACL",
    "Format",
    "Name",
    "Size",
    "Title",
    "TStamp",
    "Type",
    "VerNo",
    "Value",
)
MAX_DOCUMENT_BYTES = 4 << 20
MAX_DEPTH = 32
MAX_NODES = 20_000


def _escape(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")  # a raw CR would come back as LF
    return text


def select_properties(sign: str, names: tuple[str, ...]) -> frozenset[str]:
    """The properties to emit for ``?list=TNDS``, ``TNDS+a+b`` or ``TNDS-a-b`` (406 for an
    unknown name). ``Type`` is always emitted: RTProperties requires it."""
    for name in names:
        if name not in TNDS_PROPERTIES:
            raise NotSupported("tnds_property", detail=name)
    if sign == "+":
        return frozenset(names) | {"Type"}
    if sign == "-":
        return frozenset(TNDS_PROPERTIES) - (frozenset(names) - {"Type"})
    return frozenset(TNDS_PROPERTIES)


def to_tnds(
    tree: DMTree, node: Node, server_id: str, sign: str = "", names: tuple[str, ...] = ()
) -> str:
    """The TNDS XML of ``node``'s subtree (its children as top nodes; a leaf itself), holding
    only the nodes ``server_id`` may Get, with the selected properties."""
    props = select_properties(sign, names)
    out = [f'<MgmtTree xmlns="{NAMESPACE}"><VerDTD>1.2</VerDTD>']
    tops = list(node.children.values()) if node.children is not None else [node]
    readable = {id(n) for top in tops for _, n in tree.readable_subtree(top, server_id)}
    for top in tops:
        if id(top) in readable:
            _emit(top, props, readable, out)
    out.append("</MgmtTree>")
    return "".join(out)


def _emit(node: Node, props: frozenset[str], readable: set[int], out: list[str]) -> None:
    # Iterative pre-order with explicit close markers, so depth costs no Python stack.
    stack: list[Node | None] = [node]
    while stack:
        current = stack.pop()
        if current is None:
            out.append("</Node>")
            continue
        value = current.value
        fmt = current.format
        if isinstance(value, bytes):
            fmt, value = "b64", base64.b64encode(value).decode("ascii")
        out.append(f"<Node><NodeName>{_escape(current.name)}</NodeName><RTProperties>")
        if "ACL" in props and current.acl is not None:
            out.append(f"<ACL>{_escape(current.acl.text)}</ACL>")
        if "Format" in props or fmt == "b64":  # b64 text must say so, or it reads as chr
            out.append(f"<Format><{fmt}/></Format>")
        if "Name" in props:
            out.append(f"<Name>{_escape(current.name)}</Name>")
        if "Size" in props and current.children is None:
            out.append(f"<Size>{current.size}</Size>")
        if "Title" in props and current.title:
            out.append(f"<Title>{_escape(current.title)}</Title>")
        if "TStamp" in props and current.tstamp:
            out.append(f"<TStamp>{current.tstamp}</TStamp>")
        if current.children is None:
            out.append(f"<Type><MIME>{_escape(current.type)}</MIME></Type>")
        else:
            out.append(f"<Type><DDFName>{_escape(current.type)}</DDFName></Type>")
        if "VerNo" in props:
            out.append(f"<VerNo>{current.verno}</VerNo>")
        out.append("</RTProperties>")
        if current.children is None:
            if "Value" in props and value is not None:
                out.append(f"<Value>{_escape(value)}</Value>")
            out.append("</Node>")
            continue
        stack.append(None)
        stack.extend(
            child for child in reversed(current.children.values()) if id(child) in readable
        )


@dataclass
class TndsNode:
    """One parsed ``Node``: what to create (or replace) where."""

    name: str
    path: str
    """``Path`` text (top-level nodes only), relative to the command target; "" if absent."""
    format: str
    """Leaf format (``b64`` already decoded into ``value`` and turned into ``bin``) or node."""
    type: str
    acl: str | None
    """``None`` when the document has no ACL element (keep / inherit)."""
    title: str
    value: str | bytes | None
    children: list[TndsNode] = field(default_factory=list)


def _bad(detail: str) -> InvalidValue:
    return InvalidValue("bad_tnds", detail=detail)


def parse_tnds(document: str | bytes, max_nodes: int = MAX_NODES) -> list[TndsNode]:
    """Parse a TNDS XML document into its top-level nodes. Malformed: 415 ``bad_tnds``;
    too big / deep / many nodes: 413; a bad NodeName: 400/414 (``TreeAddressError``)."""
    from .uri import check_name

    root = parse_document(document, max_bytes=MAX_DOCUMENT_BYTES, too_large="tnds_too_large",
                          bad=_bad)
    dtd = root.getroottree().docinfo.internalDTD
    # A DOCTYPE naming the DDF DTD is fine (the WBXML decoder writes one); declarations are not.
    if dtd is not None and (any(True for _ in dtd.iterentities()) or dtd.elements()):
        raise _bad("DTD declarations")
    if _local(root) != "MgmtTree" or root.nsmap.get(None, NAMESPACE).lower() != NAMESPACE:
        raise _bad("not a MgmtTree")
    count = 0
    tops: list[TndsNode] = []
    # Explicit stack of (element, depth, sink list): no recursion on hostile depth.
    pending: list[tuple[object, int, list[TndsNode]]] = []
    for child in root:
        tag = _local(child)
        if tag == "Node":
            pending.append((child, 1, tops))
        elif tag not in ("VerDTD", "Man", "Mod"):
            raise _bad(f"unexpected {tag}")
    pending.reverse()
    while pending:
        element, depth, sink = pending.pop()
        count += 1
        if count > max_nodes:
            raise ValueTooLarge("tnds_too_many_nodes")
        if depth > MAX_DEPTH:
            raise ValueTooLarge("tnds_too_deep")
        node, kids = _parse_node(element, depth == 1, check_name)
        sink.append(node)
        pending.extend((kid, depth + 1, node.children) for kid in reversed(kids))
    return tops


def _text(element: object) -> str:
    text = element.text  # type: ignore[attr-defined]
    return text if isinstance(text, str) else ""


def _parse_node(element: object, top: bool, check_name: object) -> tuple[TndsNode, list[object]]:
    name = path = title = ""
    acl: str | None = None
    fmt = ""
    mime = ""
    value: str | None = None
    kids: list[object] = []
    seen_name = False
    for child in element:  # type: ignore[attr-defined]
        tag = _local(child)
        if tag == "NodeName":
            name, seen_name = _text(child), True
        elif tag == "Path":
            if not top:
                raise _bad("Path below the top level")
            path = _text(child)
        elif tag == "RTProperties":
            for prop in child:
                ptag = _local(prop)
                if ptag == "ACL":
                    acl = _text(prop)
                elif ptag == "Format":
                    inner = list(prop)
                    if len(inner) != 1 or _local(inner[0]) not in FORMATS:
                        raise _bad("Format")
                    fmt = _local(inner[0])
                elif ptag == "Type":
                    inner = list(prop)
                    if len(inner) > 1 or (inner and _local(inner[0]) not in ("MIME", "DDFName")):
                        raise _bad("Type")
                    mime = _text(inner[0]) if inner else ""
                elif ptag == "Title":
                    title = _text(prop)
                elif ptag not in ("Name", "Size", "TStamp", "VerNo"):
                    raise _bad(f"unexpected {ptag}")  # Size/TStamp/VerNo are the device's own
        elif tag == "Value":
            value = _text(child)
        elif tag == "Node":
            kids.append(child)
        elif tag != "DFProperties":
            raise _bad(f"unexpected {tag}")
    if not seen_name:
        raise _bad("NodeName missing")
    check_name(name)  # type: ignore[operator]
    if value is not None and kids:
        raise _bad("Value and child Nodes")
    if not fmt:
        fmt = "chr" if value is not None else "node"
    if fmt == "node" and value is not None:
        raise _bad("Value on an interior node")
    stored: str | bytes | None = value
    if fmt in ("b64", "bin"):
        try:
            stored = base64.b64decode("".join((value or "").split()), validate=True)
        except (binascii.Error, ValueError):
            raise _bad("b64 Value") from None
        fmt = "bin"
    elif fmt != "node" and stored is None:
        stored = ""
    if fmt != "node" and kids:
        raise _bad("child Nodes under a leaf")
    return TndsNode(name, path, fmt, mime, acl, title, stored), kids


def _document(tree: DMTree, value: str | bytes | None, mime: str) -> str | bytes:
    if value is None:
        raise _bad("empty")
    if mime == TNDS_WBXML_TYPE:
        from ..wbxml import wbxml_to_xml

        raw = value.encode("latin-1") if isinstance(value, str) else value
        try:
            return wbxml_to_xml(raw)
        except DecodeError as exc:
            raise InvalidValue("bad_tnds", detail=f"WBXML {exc.reason} at {exc.offset}") from None
    return value


def _create(tree: DMTree, segments: tuple[str, ...], item: TndsNode, server_id: str) -> None:
    uri = tree._uri.format_uri(segments)
    if item.format == "node":
        tree.add(uri, server_id, None, "node", item.type or None)
    else:
        tree.add(uri, server_id, item.value, item.format, item.type or None)
    _set_props(tree, uri, item, server_id)
    for child in item.children:
        _create(tree, segments + (child.name,), child, server_id)


def _set_props(tree: DMTree, uri: str, item: TndsNode, server_id: str) -> None:
    node = tree.find(uri)
    if item.acl is not None and (node.acl.text if node.acl else "") != item.acl:
        tree.replace(uri + "?prop=ACL", server_id, item.acl)
    if item.title and node.title != item.title:
        tree.replace(uri + "?prop=Title", server_id, item.title)


def _target(tree: DMTree, uri: str) -> tuple[Node, tuple[str, ...]]:
    parsed = tree.parse(uri)
    if parsed.prop is not None or parsed.list_kind is not None:
        raise NotAllowed("property_target", uri)
    node = tree._find(parsed.segments, uri)
    if node.children is None:
        raise NotAllowed("leaf_target", uri)
    return node, parsed.segments


def add_tnds(
    tree: DMTree, uri: str, server_id: str, value: str | bytes | None, mime: str = TNDS_XML_TYPE
) -> None:
    """Add every node of the document under ``uri`` (``Path`` relative to it): all or none."""
    _, base = _target(tree, uri)
    items = parse_tnds(_document(tree, value, mime), min(MAX_NODES, tree.max_nodes))
    with tree.transaction():
        for item in items:
            where = base
            if item.path not in ("", "."):
                where = base + tree.parse(item.path).segments
                if tree._find_quiet(where) is None:
                    raise NodeNotFound("not_found", len(where) - 1, uri)
            _create(tree, where + (item.name,), item, server_id)


def replace_tnds(
    tree: DMTree, uri: str, server_id: str, value: str | bytes | None, mime: str = TNDS_XML_TYPE
) -> None:
    """Make ``uri``'s subtree exactly the document: update nodes in both, add the new ones,
    delete the ones it lacks; every step with its own rights; all or nothing."""
    node, base = _target(tree, uri)
    tree._check(node, "Replace", server_id, uri)
    items = parse_tnds(_document(tree, value, mime), min(MAX_NODES, tree.max_nodes))
    if any(item.path not in ("", ".") for item in items):
        raise NotSupported("tnds_replace_path", uri)
    with tree.transaction():
        _sync(tree, base, node, items, server_id)


def _sync(
    tree: DMTree, base: tuple[str, ...], node: Node, items: list[TndsNode], server_id: str
) -> None:
    assert node.children is not None
    wanted = {item.name: item for item in items}
    if len(wanted) != len(items):
        raise _bad("duplicate NodeName")
    for name in [n for n in node.children if n not in wanted]:
        tree.delete(tree._uri.format_uri(base + (name,)), server_id)
    for item in items:
        segments = base + (item.name,)
        uri = tree._uri.format_uri(segments)
        current = node.children.get(item.name)
        if current is not None and (current.children is None) != (item.format != "node"):
            tree.delete(uri, server_id)  # leaf <-> interior: recreate
            current = None
        if current is None:
            _create(tree, segments, item, server_id)
            continue
        if current.children is None:
            same = (current.value, current.format) == (item.value, item.format)
            if not same or (item.type and item.type != current.type):
                tree.replace(uri, server_id, item.value, item.format, item.type or None)
        _set_props(tree, uri, item, server_id)
        if current.children is not None:
            _sync(tree, segments, current, item.children, server_id)
    order = [item.name for item in items]
    if list(node.children) != order:
        # Exact replacement includes the document's child order (journaled like any change).
        tree._save_children(node)
        node.children = {name: node.children[name] for name in order}


def tnds_to_wbxml(document: str) -> bytes:
    """A TNDS XML document as WBXML (DM DDF 1.2 code page) through the package's codec."""
    from ..wbxml import xml_to_wbxml

    return xml_to_wbxml(document)


__all__ = [
    "TNDS_WBXML_TYPE",
    "TNDS_XML_TYPE",
    "TndsNode",
    "add_tnds",
    "parse_tnds",
    "replace_tnds",
    "select_properties",
    "tnds_to_wbxml",
    "to_tnds",
]
