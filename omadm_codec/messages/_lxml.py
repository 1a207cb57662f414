"""lxml, configured once: the hardened parser, its errors as ``DecodeError``, and the small
string helpers used to walk and re-serialize its trees.

The one idea: libxml2 reports lines, not bytes, so ``line_offset`` turns a line into the byte
offset of its start; every lxml-path error offset is built from it.
"""

from __future__ import annotations

import threading
from typing import Any

from lxml import etree  # type: ignore[import-untyped]

from ..errors import DecodeError

_local = threading.local()


def parser() -> etree.XMLParser:
    """The hardened parser of this thread (lxml parsers are not safe to share)."""
    instance: etree.XMLParser | None = getattr(_local, "parser", None)
    if instance is None:
        instance = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
            huge_tree=False, recover=False, remove_pis=True, remove_comments=True,
            strip_cdata=False,
            # No collect_ids=False: in lxml 6.1.3 it makes libxml2 try to fetch the
            # external DTD of an external-id DOCTYPE (refused by no_network, but an error).
        )
        _local.parser = instance
    return instance


def syntax_error(exc: etree.XMLSyntaxError, data: bytes) -> DecodeError:
    message = str(exc)
    if "Excessive depth" in message:
        reason = "too_deep"
    elif "huge" in message.lower() or "too large" in message.lower():
        reason = "too_large"
    elif "amplification" in message or "entity" in message.lower():
        reason = "entity_reference"
    else:
        reason = "xml_syntax"
    line, column = exc.position if exc.position else (0, 0)
    return DecodeError(reason, column_offset(data, line, column), message)


def column_offset(data: bytes, line: int, column: int) -> int:
    """Byte offset of lxml's (1-based line, 1-based column): libxml2 counts the column in
    characters, so the line's first ``column - 1`` characters are measured in UTF-8 bytes."""
    start = line_offset(data, line)
    if column <= 1:
        return start
    stop = data.find(b"\n", start)
    text = data[start:stop if stop >= 0 else len(data)].decode("utf-8", "replace")
    return start + len(text[:column - 1].encode("utf-8", "surrogatepass"))


def line_offset(data: bytes, line: int) -> int:
    """Byte offset of the start of 1-based ``line`` (0 when unknown)."""
    if line <= 1:
        return 0
    pos = -1
    for _ in range(line - 1):
        pos = data.find(b"\n", pos + 1)
        if pos < 0:
            return 0
    return pos + 1


def parse_fragment(xml: str | bytes) -> Any:
    """Parse one element with the byte-level guards and the hardened parser (for
    ``XmlDocument``); raises ``DecodeError`` (a ``ValueError``)."""
    from ._guard import prepare_xml

    data = xml.encode("utf-8") if isinstance(xml, str) else bytes(xml)
    prepared = prepare_xml(data, True, [], 16 * 1024 * 1024)
    try:
        return etree.fromstring(prepared.data, parser())
    except etree.XMLSyntaxError as exc:
        raise syntax_error(exc, prepared.data) from None


_SPLIT_CACHE: dict[str, tuple[str | None, str]] = {}


def split(tag: str) -> tuple[str | None, str]:
    """``"{ns}local"`` -> ``(ns, local)``; cached, the cache bounded against hostile names."""
    found = _SPLIT_CACHE.get(tag)
    if found is not None:
        return found
    if tag[0] == "{":
        ns, _, local = tag[1:].partition("}")
        found = ns, local
    else:
        found = None, tag
    if len(_SPLIT_CACHE) < 1024:
        _SPLIT_CACHE[tag] = found
    return found


def escape_text(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;"))


def escape_attr(text: str) -> str:
    return (escape_text(text).replace('"', "&quot;").replace("\n", "&#10;")
            .replace("\t", "&#9;"))
