"""DDF (dm-protocol.md 8, TND 8.5): parse a device description into ``NodeDescription``s and
the rules ``DMTree`` enforces from them.

The one idea: a description is attached to a node (``Node.description``) and its children's
descriptions travel with it, so a node created later under a described parent is checked
against the matching child description: a named child by name, otherwise the unnamed
placeholder (``<x>``, an empty ``NodeName``). What is enforced: AccessType (which commands a
node accepts: 405), DFFormat (the format of an Add or Replace: 415), Scope (servers never
create or delete permanent nodes: 405), Occurrence (at most one for ``One`` / ``ZeroOrOne``
placeholders, at most N for ``ZeroOrN`` / ``OneOrN``: 405), and undescribed children of a
described interior node (405). Mandatory-child checks (``One`` / ``OneOrMore``) are the
builder's business: a tree may be under construction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import InvalidValue, NotAllowed, ValueTooLarge
from ._xml import local_name as _local
from ._xml import parse_document
from .nodes import FORMATS

ACCESS_TYPES = ("Add", "Copy", "Delete", "Exec", "Get", "Replace")
OCCURRENCES = ("One", "ZeroOrOne", "ZeroOrMore", "OneOrMore", "ZeroOrN", "OneOrN")
MAX_DDF_BYTES = 4 << 20
MAX_DDF_NODES = 20_000
MAX_DDF_DEPTH = 32


@dataclass
class NodeDescription:
    """One DDF ``Node``: what may exist at a place in the tree, and how it may be used."""

    name: str
    """``""`` for an unnamed placeholder (``<x>``)."""
    access: frozenset[str]
    format: str
    """DFFormat: one of ``FORMATS``."""
    occurrence: str = "One"
    max_occurrence: int = 0
    """N of ``ZeroOrN`` / ``OneOrN``; 0 otherwise."""
    scope: str = "Dynamic"
    """``Permanent`` or ``Dynamic``."""
    df_type: tuple[str, ...] = ()
    """MIME types (leaves) or the one DDFName / MO identifier (interior)."""
    path: str = ""
    """``Path`` of a top-level Node (absolute in a DDF), else ""."""
    default_value: str | None = None
    case_sense: str = ""
    children: list[NodeDescription] = field(default_factory=list)

    @property
    def permanent(self) -> bool:
        """True when the node's Scope is Permanent (it cannot be deleted)."""
        return self.scope == "Permanent"

    def child(self, name: str) -> NodeDescription | None:
        """The description of a child named ``name``: by name, else the placeholder."""
        placeholder = None
        for child in self.children:
            if child.name == name:
                return child
            if child.name == "":
                placeholder = child
        return placeholder

    def max_count(self) -> int:
        """How many siblings a placeholder allows (0 = unbounded)."""
        if self.occurrence in ("One", "ZeroOrOne"):
            return 1
        if self.occurrence in ("ZeroOrN", "OneOrN"):
            return self.max_occurrence
        return 0


def _bad(detail: str) -> InvalidValue:
    return InvalidValue("bad_ddf", detail=detail)


def parse_ddf(document: str | bytes) -> list[NodeDescription]:
    """The top-level node descriptions of a DDF ``MgmtTree``. Malformed: 415 ``bad_ddf``;
    too big / deep / many nodes: 413."""
    root = parse_document(document, max_bytes=MAX_DDF_BYTES, too_large="ddf_too_large", bad=_bad)
    if _local(root) != "MgmtTree":
        raise _bad("not a MgmtTree")
    tops: list[NodeDescription] = []
    pending: list[tuple[object, int, list[NodeDescription]]] = [
        (child, 1, tops) for child in reversed(list(root)) if _local(child) == "Node"
    ]
    count = 0
    while pending:
        element, depth, sink = pending.pop()
        count += 1
        if count > MAX_DDF_NODES:
            raise ValueTooLarge("ddf_too_many_nodes")
        if depth > MAX_DDF_DEPTH:
            raise ValueTooLarge("ddf_too_deep")
        description, kids = _parse_node(element)
        sink.append(description)
        pending.extend((kid, depth + 1, description.children) for kid in reversed(kids))
    return tops


def _text(element: object) -> str:
    text = element.text  # type: ignore[attr-defined]
    return text.strip() if isinstance(text, str) else ""


def _parse_node(element: object) -> tuple[NodeDescription, list[object]]:
    name = path = ""
    props = None
    kids: list[object] = []
    for child in element:  # type: ignore[attr-defined]
        tag = _local(child)
        if tag == "NodeName":
            name = _text(child)
        elif tag == "Path":
            path = _text(child)
        elif tag == "DFProperties":
            props = child
        elif tag == "Node":
            kids.append(child)
    if "/" in name or name in (".", ".."):
        raise _bad(f"NodeName {name!r}")
    if props is None:
        raise _bad(f"DFProperties missing on {name!r}")
    access: set[str] = set()
    fmt = ""
    occurrence, max_occurrence, scope = "One", 0, "Dynamic"
    df_type: list[str] = []
    default_value: str | None = None
    case_sense = ""
    for prop in props:
        tag = _local(prop)
        inner = list(prop)
        if tag == "AccessType":
            for item in inner:
                if _local(item) not in ACCESS_TYPES:
                    raise _bad(f"AccessType {_local(item)}")
                access.add(_local(item))
        elif tag == "DFFormat":
            if len(inner) != 1 or _local(inner[0]) not in FORMATS or _local(inner[0]) == "b64":
                raise _bad("DFFormat")
            fmt = _local(inner[0])
        elif tag == "Occurrence":
            if len(inner) != 1 or _local(inner[0]) not in OCCURRENCES:
                raise _bad("Occurrence")
            occurrence = _local(inner[0])
            if occurrence in ("ZeroOrN", "OneOrN"):
                text = _text(inner[0])
                if not text.isdigit() or not 0 < int(text) < 2**31:
                    raise _bad("Occurrence N")
                max_occurrence = int(text)
        elif tag == "Scope":
            if len(inner) != 1 or _local(inner[0]) not in ("Permanent", "Dynamic"):
                raise _bad("Scope")
            scope = _local(inner[0])
        elif tag == "DFType":
            df_type = [_text(item) for item in inner if _local(item) in ("MIME", "DDFName")]
        elif tag == "DefaultValue":
            default_value = _text(prop)
        elif tag == "CaseSense":
            case_sense = _local(inner[0]) if inner else ""
    if not fmt:
        raise _bad(f"DFFormat missing on {name!r}")
    if fmt != "node" and kids:
        raise _bad(f"children under leaf {name!r}")
    return NodeDescription(
        name,
        frozenset(access),
        fmt,
        occurrence,
        max_occurrence,
        scope,
        tuple(df_type),
        path,
        default_value,
        case_sense,
    ), kids


def check_add(
    parent_description: NodeDescription | None,
    siblings: Mapping[str, object],
    name: str,
    fmt: str,
    uri: str,
) -> NodeDescription | None:
    """The description a new child ``name`` of a described parent gets; raises 405 / 415."""
    if parent_description is None:
        return None
    description = parent_description.child(name)
    if description is None:
        raise NotAllowed("undescribed_node", uri)
    if description.permanent:
        raise NotAllowed("permanent", uri)
    if "Add" not in description.access:
        raise NotAllowed("access_type", uri)
    check_format(description, fmt, uri)
    if description.name == "" and description.max_count():
        described = [s for s in siblings if parent_description.child(s) is description]
        if len(described) >= description.max_count():
            raise NotAllowed("occurrence", uri)
    return description


def check_format(description: NodeDescription | None, fmt: str, uri: str) -> None:
    """DFFormat: the format of an Add or Replace must be the described one (b64 for bin)."""
    if description is None:
        return
    given = "bin" if fmt == "b64" else fmt
    if given != description.format:
        raise InvalidValue("ddf_format", uri, detail=f"{fmt} != {description.format}")


__all__ = [
    "ACCESS_TYPES",
    "OCCURRENCES",
    "NodeDescription",
    "check_add",
    "check_format",
    "parse_ddf",
]
