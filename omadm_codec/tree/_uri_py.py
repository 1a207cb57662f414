"""Management-tree URIs, pure-Python twin: parse, validate, normalise, and the Get hot path.

The one idea: a URI is checked segment by segment, left to right, and the first problem found
is the one reported (``TreeAddressError`` with that segment's index and a 400 or 414 status), so
both twins agree on which error a bad URI gets. Node names are stored decoded; the canonical
text form re-escapes them (``escape_segment``). The compiled twin is
``_ext/omadm_codec/tree/_uri_c.pyx``.

Rules (dm-protocol.md 6.1/6.2, interop Q6/Q7): the root is ``.``; ``./A`` == ``A``; no leading or
trailing ``/``; no empty, ``.`` or ``..`` segment; ``%XX`` escapes are decoded per segment as
UTF-8 and a decoded name may not contain ``/`` or control characters; surrounding ASCII
whitespace is stripped (Q6), inner whitespace is refused. Limits are the DevDetail/URI values,
``0`` = unlimited: MaxTotLen counts characters of the whole (stripped) URI including the query,
MaxDepth counts segments, MaxSegLen counts characters of a decoded name.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..errors import NodeNotFound, PermissionDenied, TreeAddressError

# pchar of dm-protocol.md 6.1 minus "%" (handled as an escape), plus "." inside a segment.
SEGMENT_SAFE = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_!~*'():@&=+$,."
)
_HEX = "0123456789abcdefABCDEF"
_STRIP = " \t\r\n"


class NodeBase:
    """Base of tree nodes: ``children`` (dict, or None for a leaf) and ``acl`` (or None).
    The compiled twin's is a C type whose fields the Get hot path reads directly."""

    __slots__ = ("children", "acl")

    def __init__(self) -> None:
        self.children: dict[str, Any] | None = None
        self.acl: Any = None


class ParsedUri(NamedTuple):
    """A checked URI. Shared by both twins (the compiled one builds these too)."""

    segments: tuple[str, ...]
    """Decoded node names from the root down; ``()`` is the root."""
    prop: str | None = None
    """``?prop=NAME``: the property name, else None."""
    list_kind: str | None = None
    """``?list=KIND...``: ``Struct``, ``StructData``, ``TNDS`` (or another word), else None."""
    list_sign: str = ""
    """``"+"`` or ``"-"`` when the list names properties, else ``""``."""
    list_props: tuple[str, ...] = ()
    """The property names after the ``+``/``-`` signs, in order."""

    @property
    def node_uri(self) -> str:
        """The canonical node URI, without the query."""
        return format_uri(self.segments)


def escape_segment(name: str) -> str:
    """The canonical escaped form of one decoded node name."""
    if all(ch in SEGMENT_SAFE for ch in name):
        return name
    out = []
    for ch in name:
        if ch in SEGMENT_SAFE:
            out.append(ch)
        else:
            out.extend(f"%{byte:02X}" for byte in ch.encode("utf-8"))
    return "".join(out)


def format_uri(segments: tuple[str, ...] | list[str]) -> str:
    """``.`` for the root, else ``./`` followed by the escaped names joined by ``/``."""
    if not segments:
        return "."
    return "./" + "/".join([escape_segment(name) for name in segments])


def _decode_segment(raw: str, index: int, uri: str) -> str:
    """Check one non-empty raw segment and return its decoded name."""
    if raw == "." or raw == "..":
        raise TreeAddressError("dot_segment", index, uri)
    simple = True
    length = len(raw)
    pos = 0
    while pos < length:
        ch = raw[pos]
        if ch == "%":
            if pos + 2 >= length:
                raise TreeAddressError("bad_escape", index, uri)
            if raw[pos + 1] not in _HEX or raw[pos + 2] not in _HEX:
                raise TreeAddressError("bad_escape", index, uri)
            simple = False
            pos += 3
            continue
        if ch not in SEGMENT_SAFE:
            code = ord(ch)
            # Non-ASCII letters may come unescaped; C1 controls and lone surrogates may not.
            if code < 0xA0 or 0xD800 <= code <= 0xDFFF:
                raise TreeAddressError("bad_char", index, uri)
            simple = False
        pos += 1
    if simple:
        return raw
    data = bytearray()
    pos = 0
    while pos < length:
        ch = raw[pos]
        if ch == "%":
            data.append(int(raw[pos + 1 : pos + 3], 16))
            pos += 3
        else:
            data += ch.encode("utf-8")
            pos += 1
    try:
        name = data.decode("utf-8")
    except UnicodeDecodeError:
        raise TreeAddressError("bad_utf8", index, uri) from None
    for ch in name:
        code = ord(ch)
        if code < 0x20 or 0x7F <= code < 0xA0:
            raise TreeAddressError("bad_char", index, uri)
        if ch == "/":
            raise TreeAddressError("slash_in_name", index, uri)
    if name == "." or name == "..":
        raise TreeAddressError("dot_segment", index, uri)
    return name


def _letters(word: str) -> bool:
    return word.isascii() and word.isalpha()


def _parse_query(query: str, uri: str) -> tuple[str | None, str | None, str, tuple[str, ...]]:
    if query.startswith("prop="):
        name = query[5:]
        if not _letters(name):
            raise TreeAddressError("bad_query", -1, uri)
        return name, None, "", ()
    if query.startswith("list="):
        body = query[5:]
        cut = len(body)
        for pos, ch in enumerate(body):
            if ch == "+" or ch == "-":
                cut = pos
                break
        kind = body[:cut]
        if not _letters(kind):
            raise TreeAddressError("bad_query", -1, uri)
        rest = body[cut:]
        if not rest:
            return None, kind, "", ()
        sign = rest[0]
        names = rest[1:].replace("+" if sign == "-" else "-", "\0").split(sign)
        for name in names:
            if not _letters(name):  # "\0" from a mixed sign fails here too
                raise TreeAddressError("bad_query", -1, uri)
        return None, kind, sign, tuple(names)
    raise TreeAddressError("bad_query", -1, uri)


def parse_uri(
    uri: str, max_depth: int = 0, max_tot_len: int = 0, max_seg_len: int = 0
) -> ParsedUri:
    """Parse and check ``uri``; raise ``TreeAddressError`` (400/414) on the first problem."""
    if not isinstance(uri, str):
        raise TypeError("uri must be str")
    text = uri.strip(_STRIP)
    if max_tot_len and len(text) > max_tot_len:
        raise TreeAddressError("uri_too_long", -1, uri, status=414)
    mark = text.find("?")
    path = text if mark < 0 else text[:mark]
    prop: str | None = None
    list_kind: str | None = None
    list_sign = ""
    list_props: tuple[str, ...] = ()
    if path == ".":
        segments: tuple[str, ...] = ()
    else:
        if path.startswith("./"):
            path = path[2:]
        if not path:
            reason = "trailing_slash" if text.startswith("./") else "empty_uri"
            raise TreeAddressError(reason, 0, uri)
        raws = path.split("/")
        names = []
        last = len(raws) - 1
        for index, raw in enumerate(raws):
            if not raw:
                if index == 0:
                    raise TreeAddressError("leading_slash", 0, uri)
                raise TreeAddressError(
                    "trailing_slash" if index == last else "empty_segment", index, uri
                )
            if max_depth and index >= max_depth:
                raise TreeAddressError("too_deep", index, uri, status=414)
            name = _decode_segment(raw, index, uri)
            if max_seg_len and len(name) > max_seg_len:
                raise TreeAddressError("segment_too_long", index, uri, status=414)
            names.append(name)
        segments = tuple(names)
    if mark >= 0:
        prop, list_kind, list_sign, list_props = _parse_query(text[mark + 1 :], uri)
    return ParsedUri(segments, prop, list_kind, list_sign, list_props)


def normalize_uri(uri: str, max_depth: int = 0, max_tot_len: int = 0, max_seg_len: int = 0) -> str:
    """The canonical text of ``uri`` (``.`` or ``./a/b``, names re-escaped, query kept)."""
    parsed = parse_uri(uri, max_depth, max_tot_len, max_seg_len)
    text = format_uri(parsed.segments)
    if parsed.prop is not None:
        return f"{text}?prop={parsed.prop}"
    if parsed.list_kind is not None:
        props = "".join(parsed.list_sign + name for name in parsed.list_props)
        return f"{text}?list={parsed.list_kind}{props}"
    return text


def check_name(name: str, max_seg_len: int = 0) -> str:
    """Check a decoded node name (a rename, a TNDS NodeName); return it or raise 400/414."""
    if not isinstance(name, str):
        raise TypeError("name must be str")
    if not name:
        raise TreeAddressError("empty_segment", 0, name)
    for ch in name:
        code = ord(ch)
        if ch == "/":
            raise TreeAddressError("slash_in_name", 0, name)
        if code < 0x20 or 0x7F <= code < 0xA0 or 0xD800 <= code <= 0xDFFF:
            raise TreeAddressError("bad_char", 0, name)
    if name == "." or name == "..":
        raise TreeAddressError("dot_segment", 0, name)
    if max_seg_len and len(name) > max_seg_len:
        raise TreeAddressError("segment_too_long", 0, name, status=414)
    return name


def acl_grants(acl: Any, command: str, server_id: str) -> bool:
    """Whether the parsed ACL ``acl`` (an ``Acl``) grants ``command`` to ``server_id``."""
    ids = acl.grants.get(command)
    return ids is not None and ("*" in ids or server_id in ids)


def resolve(
    root: Any,
    uri: str,
    command: str,
    server_id: str,
    max_depth: int = 0,
    max_tot_len: int = 0,
    max_seg_len: int = 0,
) -> tuple[Any, ParsedUri | None]:
    """The hot path: parse ``uri``, find its node under ``root``, check ``command`` in its
    effective ACL (the nearest ancestor-or-self with a non-empty ACL). Returns ``(node, parsed)``
    where ``parsed`` is None when the URI has no query (so the fast path builds nothing).

    Raises ``TreeAddressError`` (400/414), ``NodeNotFound`` (404, ``.segment`` = first missing
    name) or ``PermissionDenied`` (425). Nodes need ``.children`` (dict, None for a leaf) and
    ``.acl`` (an ``Acl`` or None); the root always has an ACL.
    """
    parsed = parse_uri(uri, max_depth, max_tot_len, max_seg_len)
    node = root
    acl = root.acl
    for index, name in enumerate(parsed.segments):
        children = node.children
        child = children.get(name) if children is not None else None
        if child is None:
            raise NodeNotFound("not_found", index, uri)
        node = child
        if child.acl is not None:
            acl = child.acl
    ids = acl.grants.get(command)
    if ids is None or ("*" not in ids and server_id not in ids):
        raise PermissionDenied("acl", uri)
    if parsed.prop is None and parsed.list_kind is None:
        return node, None
    return node, parsed


def get_leaf(
    root: Any,
    uri: str,
    server_id: str,
    max_depth: int = 0,
    max_tot_len: int = 0,
    max_seg_len: int = 0,
    make: Any = None,
) -> Any:
    """``resolve(root, uri, "Get", server_id, ...)`` with the common Get finished here: for a
    leaf holding a value, reached by a URI without a query, whose AccessType (``access``)
    allows Get or is not described, and outside ``./Inbox``, returns ``make(value, format,
    type)``; otherwise resolve's own ``(node, parsed)``, for the caller's full Get. Same
    errors as resolve (the checks here only choose between the two answers)."""
    found = resolve(root, uri, "Get", server_id, max_depth, max_tot_len, max_seg_len)
    node, parsed = found
    if parsed is not None or node.children is not None or node.value is None:
        return found
    if node.access is not None and "Get" not in node.access:
        return found
    top = node
    while top.parent is not None and top.parent.parent is not None:
        top = top.parent
    if top.parent is not None and top.name == "Inbox":
        return found
    return make(node.value, node.format, node.type)


__all__ = [
    "SEGMENT_SAFE",
    "NodeBase",
    "ParsedUri",
    "acl_grants",
    "check_name",
    "escape_segment",
    "format_uri",
    "get_leaf",
    "normalize_uri",
    "parse_uri",
    "resolve",
]
