"""Tree nodes, their properties, and the value formats (dm-protocol.md 6.3, 6.4).

The one idea: a ``Node`` is a plain slotted record; every rule about who may change it lives
in ``DMTree``. A leaf has ``children is None``; an interior node has a dict (insertion order is
the order Get lists child names in). Values are stored decoded: ``bin`` as bytes, every other
leaf format as str; ``b64`` input is decoded on the way in and stored with Format ``bin``.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._backend import active
from ..errors import InvalidValue, ValueTooLarge
from .acl import Acl

if TYPE_CHECKING:
    from ._uri_py import NodeBase
else:
    NodeBase = active("tree._uri").NodeBase

FORMATS: frozenset[str] = frozenset(
    {"b64", "bin", "bool", "chr", "int", "node", "null", "xml", "date", "time", "float"}
)
PROPERTIES: tuple[str, ...] = ("ACL", "Format", "Name", "Size", "Title", "TStamp", "Type", "VerNo")
DEFAULT_LEAF_TYPE = "text/plain"
TNDS_TYPES = frozenset({"application/vnd.syncml.dmtnds+xml", "application/vnd.syncml.dmtnds+wbxml"})
MAX_TITLE_BYTES = 255
DM_VERSIONS: tuple[str, ...] = ("1.1", "1.2", "1.3")

ExecHandler = Callable[..., "int | None"]


class Node(NodeBase):
    """One node. ``value`` is None on interior nodes; ``acl`` None means inherit.
    ``children`` and ``acl`` live in ``NodeBase`` (a C struct with the compiled URI twin)."""

    __slots__ = (
        "name",
        "parent",
        "value",
        "format",
        "type",
        "title",
        "tstamp",
        "verno",
        "permanent",
        "access",
        "exec_handler",
        "description",
    )

    # Fields of NodeBase, narrowed for the tree.
    children: dict[str, Node] | None
    acl: Acl | None

    def __init__(
        self,
        name: str,
        parent: Node | None,
        *,
        interior: bool,
        value: str | bytes | None = None,
        format: str = "chr",
        type: str = "",
        acl: Acl | None = None,
        permanent: bool = False,
        access: frozenset[str] | None = None,
    ) -> None:
        self.name = name
        self.parent = parent
        self.children = {} if interior else None
        self.value = value
        self.format = "node" if interior else format
        self.type = type
        self.acl = acl
        self.title = ""
        self.tstamp = ""
        self.verno = 0
        self.permanent = permanent
        # DDF AccessType: None = not described (every command allowed by the node kind).
        self.access = access
        self.exec_handler: ExecHandler | None = None
        # DDF description (omadm_codec.tree.ddf.NodeDescription) or None.
        self.description: Any = None

    @property
    def is_interior(self) -> bool:
        """True for an interior node (a children mapping, maybe empty), False for a leaf."""
        return self.children is not None

    @property
    def size(self) -> int:
        """Bytes of the raw (decoded) value; 0 for interior nodes."""
        if isinstance(self.value, bytes):
            return len(self.value)
        return len(self.value.encode("utf-8")) if self.value is not None else 0

    def path(self) -> tuple[str, ...]:
        """The node's segment names from the root down (the root itself is ``()``)."""
        names = []
        node: Node | None = self
        while node is not None and node.parent is not None:
            names.append(node.name)
            node = node.parent
        return tuple(reversed(names))

    def __repr__(self) -> str:
        kind = "interior" if self.children is not None else "leaf"
        return f"<Node {'/'.join(self.path()) or '.'} {kind}>"


_NODE_CLASSES: dict[type, type[Node]] = {}


def node_class(uri_module: Any) -> type[Node]:
    """``Node`` built on ``uri_module``'s ``NodeBase``: ``Node`` itself for the active twin, an
    identical class on the other twin's base otherwise (tests and benchmarks that drive both
    twins in one process, so each twin walks the node type it is deployed with)."""
    base = uri_module.NodeBase
    if base is NodeBase:
        return Node
    cls = _NODE_CLASSES.get(base)
    if cls is None:
        body = {
            key: value
            for key, value in Node.__dict__.items()
            if key not in Node.__slots__ and key not in ("__dict__", "__weakref__")
        }
        cls = type("Node", (base,), body)
        _NODE_CLASSES[base] = cls
    return cls


@dataclass(frozen=True, slots=True)
class StructItem:
    """One node of a ``?list=Struct`` / ``StructData`` answer."""

    uri: str
    """Canonical URI of the node."""
    format: str
    type: str
    value: str | bytes | None
    """The leaf value for StructData; None for Struct and for interior nodes."""


@dataclass(frozen=True, slots=True)
class NodeValue:
    """What a Get returns: a leaf value, child names, a property, or a list answer."""

    value: str | bytes
    """Leaf value; child names joined by ``/``; property text; TNDS document."""
    format: str
    """DM Format of ``value`` (``node`` for interior nodes, ``chr`` for properties)."""
    type: str
    """MIME type (``text/plain`` for properties)."""
    items: tuple[StructItem, ...] = ()
    """For ``?list=Struct`` / ``StructData``: one entry per node, pre-order."""
    status: int = 200
    """The Get's DM status: 200, or 217 "OK with inherited ACL" (DM 1.3 tree, ``?prop=ACL`` of
    a node whose own ACL is empty; see ``properties.get_property``)."""


_last_tstamp: tuple[float, str] = (math.nan, "")


def format_tstamp(seconds: float) -> str:
    """ISO 8601 basic UTC, e.g. ``20010711T163817Z``."""
    global _last_tstamp
    whole = seconds // 1  # gmtime's second; NaN for NaN / inf, which never matches
    last = _last_tstamp
    if last[0] == whole:
        return last[1]
    text = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(seconds))
    _last_tstamp = (whole, text)
    return text


_INT = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT = re.compile(r"(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?INF|NaN)\Z")
_DATE = re.compile(r"([0-9]{4})-?([0-9]{2})-?([0-9]{2})\Z")
_TIME = re.compile(
    r"([0-9]{2}):?([0-9]{2})(?::?([0-9]{2})(?:[.,][0-9]+)?)?(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?\Z"
)
NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_FLOAT32_MAX = struct.unpack(">f", b"\x7f\x7f\xff\xff")[0]


def _text(value: str | bytes | None, fmt: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidValue("bad_utf8", detail=fmt) from None
    if isinstance(value, str):
        return value
    raise InvalidValue("bad_value_type", detail=type(value).__name__)


def _check_date(text: str) -> bool:
    import datetime

    match = _DATE.match(text)
    if match is None or (("-" in text) and text.count("-") != 2):
        return False
    try:
        datetime.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return False
    return True


def _check_time(text: str) -> bool:
    match = _TIME.match(text)
    if match is None:
        return False
    return int(match[1]) < 24 and int(match[2]) < 60 and int(match[3] or 0) < 61


def _check_xml(text: str) -> bool:
    from lxml import etree  # type: ignore[import-untyped]

    # XML content may have several top elements: wrap it. No DTD, no entities, no network.
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        etree.fromstring(f"<x>{text}</x>".encode(), parser)
    except etree.XMLSyntaxError:
        return False
    return True


def coerce_value(
    value: str | bytes | None, fmt: str, max_size: int
) -> tuple[str | bytes | None, str]:
    """Check ``value`` against leaf format ``fmt``; return (stored value, stored Format).

    Raises ``InvalidValue`` (415) for an unknown format or a value that does not match it, and
    ``ValueTooLarge`` (413) above ``max_size`` bytes.
    """
    if (type(value) is str and (fmt == "chr" or fmt == "int") and value.isascii()
            and value.isprintable() and len(value) <= max_size):
        # The usual value, printable ASCII: its UTF-8 size is its length, XML carries it,
        # and up to 9 digits are an int in range. Anything else takes the checks below.
        if fmt == "chr" or (value.isdigit() and len(value) < 10):
            return value, fmt
    if fmt not in FORMATS or fmt == "node":
        raise InvalidValue("bad_format", detail=fmt)
    if isinstance(value, bytes | bytearray) and len(value) > max_size:
        raise ValueTooLarge("value_too_large")
    if isinstance(value, str) and len(value) > max_size:
        raise ValueTooLarge("value_too_large")
    if fmt == "bin":
        if isinstance(value, str):
            value = value.encode("utf-8")
        return (bytes(value) if value is not None else b""), "bin"
    text = _text(value, fmt)
    if fmt == "b64":
        try:
            raw = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidValue("bad_b64") from None
        return raw, "bin"
    if len(text.encode("utf-8")) > max_size:
        raise ValueTooLarge("value_too_large")
    if NOT_XML_CHAR.search(text):
        # Text values travel in XML (or WBXML made from it); XML 1.0 cannot carry these.
        raise InvalidValue("bad_char", detail=fmt)
    ok = True
    if fmt == "null":
        ok = text == ""
    elif fmt == "bool":
        ok = text in ("true", "false")
    elif fmt == "int":
        ok = _INT.match(text) is not None and -(2**31) <= int(text) < 2**31
    elif fmt == "float":
        ok = _FLOAT.match(text) is not None and (
            "INF" in text
            or text == "NaN"
            or (math.isfinite(float(text)) and abs(float(text)) <= _FLOAT32_MAX)
        )
    elif fmt == "date":
        ok = _check_date(text)
    elif fmt == "time":
        ok = _check_time(text)
    elif fmt == "xml":
        ok = _check_xml(text)
    if not ok:
        raise InvalidValue("bad_value", detail=fmt)
    return text, fmt


def check_title(title: str) -> str:
    """``title`` if it is a valid Title property (text of at most 255 UTF-8 bytes); ``InvalidValue``
    or ``ValueTooLarge`` otherwise."""
    if not isinstance(title, str):
        raise InvalidValue("bad_value_type")
    if len(title.encode("utf-8")) > MAX_TITLE_BYTES:
        raise ValueTooLarge("title_too_long")
    return title


def iter_subtree(node: Node) -> Iterator[Node]:
    """``node`` and every descendant, pre-order."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if current.children:
            stack.extend(reversed(current.children.values()))


def subtree_size(node: Node) -> int:
    """How many nodes ``node`` and its descendants count."""
    return sum(1 for _ in iter_subtree(node))


__all__ = [
    "iter_subtree",
    "subtree_size",
    "DEFAULT_LEAF_TYPE",
    "FORMATS",
    "PROPERTIES",
    "TNDS_TYPES",
    "Node",
    "NodeValue",
    "StructItem",
    "coerce_value",
    "format_tstamp",
]
