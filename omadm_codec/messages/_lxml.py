"""lxml, configured once: the hardened parser, its errors as ``DecodeError``, the small string
helpers, and ``TreeWalker`` (element budget, error offsets, canonical re-serialization) that
every walk of its trees builds on: the message reader and ``XmlDocument.from_xml``.

The one idea: libxml2 reports lines, not bytes, so ``line_offset`` turns a line into the byte
offset of its start; every lxml-path error offset is built from it.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from lxml import etree  # type: ignore[import-untyped]

from .._backend import active
from ..errors import DecodeError, EncodeError
from ..limits import Limits
from ..wbxml._xmlscan_py import EV_EOF, EV_START

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


def syntax_error(exc: etree.XMLSyntaxError, data: bytes,
                 limits: Limits | None = None) -> DecodeError:
    """The ``DecodeError`` for XML lxml refused, with the codec's reason codes (the ones
    ``xml_to_wbxml`` gives for the same bytes) and a clean message.

    The verdict (reason, offset) is the shared XML scanner's when it finds the fault, so
    ``decode`` and ``xml_to_wbxml`` agree on malformed input; lxml's own report (its words
    without its location noise) is the detail."""
    detail = clean_message(exc)
    verdict = scanner_verdict(data, limits)
    if verdict is not None:
        return DecodeError(verdict.reason, verdict.offset, detail)
    message = str(exc)
    if "Excessive depth" in message:
        reason = "too_deep"
    elif any(word in message.lower() for word in ("huge", "too large", "too long", "too big",
                                                   "resource limit")):
        reason = "too_large"  # libxml2's node limits (XML_MAX_TEXT_LENGTH and the like)
    elif "amplification" in message or "entity" in message.lower():
        reason = "undefined_entity"
    elif "Invalid bytes in character encoding" in message:
        reason = "invalid_utf8"
    else:
        reason = "malformed_xml"
    line, column = exc.position if exc.position else (0, 0)
    return DecodeError(reason, column_offset(data, line, column), detail)


_LOCATION = re.compile(r"(?:, line \d+, column \d+)|(?: \(<string>, line \d+\))"
                       r"|(?: line \d+\b)")
_NON_UTF8_DECL = re.compile(rb"""^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?\bencoding\s*=\s*"""
                            rb"""["'](?![Uu][Tt][Ff]-?8["'])""")


def clean_message(exc: etree.XMLSyntaxError) -> str:
    """libxml2's words for ``exc`` without the location lxml and libxml2 add (``, line 25,
    column 149 (<string>, line 25)``): the error's offset is the location."""
    return _LOCATION.sub("", getattr(exc, "msg", None) or str(exc)).strip().rstrip(",")


def scanner_verdict(data: bytes, limits: Limits | None = None) -> EncodeError | None:
    """The shared XML scanner's first fault in ``data`` (as ``xml_to_wbxml`` reports it), or
    None when it finds none or cannot judge (a declared encoding other than UTF-8)."""
    if _NON_UTF8_DECL.match(data) or data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return None
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    scan = active("wbxml._xmlscan")
    try:
        scan.check_chars(data, start)
        scanner = scan.Scanner(data, start, limits if limits is not None else Limits())
        while scanner.next() != EV_EOF:
            pass
    except EncodeError as exc:
        return exc
    except DecodeError:
        return None
    return None


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


class TreeWalker:
    """What every walk of an lxml tree parsed from ``data`` shares: the element budget, byte
    offsets of elements for errors, and canonical re-serialization of embedded markup."""

    def __init__(self, data: bytes, limits: Limits) -> None:
        self.raw = data
        self.limits = limits
        self.elements = 0
        self.root: Any = None
        self._starts: list[int] | None = None

    def offset(self, el: Any) -> int:
        """Byte offset of ``el``'s start tag (see the module docstring)."""
        starts = self.start_offsets()
        if starts is not None and self.root is not None:
            for index, candidate in enumerate(self.root.iter(etree.Element)):
                if candidate is el:
                    if index < len(starts):
                        return starts[index]
                    break
        line = el.sourceline
        return line_offset(self.raw, line) if line else -1

    def start_offsets(self) -> list[int] | None:
        """The byte offset of every start tag in document order (one scanner pass, cached),
        or ``None`` when the scanner refuses the bytes."""
        if self._starts is None:
            starts: list[int] = []
            try:
                scanner = active("wbxml._xmlscan").Scanner(self.raw, 0, self.limits)
                while True:
                    event = scanner.next()
                    if event == EV_START:
                        starts.append(scanner.offset)
                    elif event == EV_EOF:
                        break
            except (EncodeError, DecodeError):
                starts = []
            self._starts = starts
        return self._starts or None

    def fail(self, reason: str, el: Any, detail: str = "") -> DecodeError:
        return DecodeError(reason, self.offset(el), detail)

    def serialize(self, el: Any, parent_nsmap: dict[str | None, str], depth: int,
                  out: list[str]) -> None:
        """Canonical XML of ``el``: namespaces declared where they differ from the parent,
        whitespace-only text between elements dropped (it is not data)."""
        if depth > self.limits.max_depth:
            raise self.fail("too_deep", el, "embedded document nested too deep")
        self.elements += 1
        if self.elements > self.limits.max_elements:
            raise self.fail("too_many_elements", el)
        tag = el.tag
        if not isinstance(tag, str):
            raise self.fail("undefined_entity", el, "unexpanded entity reference")
        ns, local = split(tag)
        prefix = el.prefix
        name = f"{prefix}:{local}" if prefix else local
        nsmap: dict[str | None, str] = el.nsmap
        parts = [name]
        if None in parent_nsmap and None not in nsmap:
            parts.append('xmlns=""')
        for key in sorted(nsmap, key=lambda k: k or ""):
            uri = nsmap[key]
            if parent_nsmap.get(key) != uri:
                parts.append(f'xmlns="{escape_attr(uri)}"' if key is None else
                             f'xmlns:{key}="{escape_attr(uri)}"')
        for key, value in el.attrib.items():
            attr_ns, attr_local = split(key)
            if attr_ns is None:
                parts.append(f'{attr_local}="{escape_attr(value)}"')
            else:
                attr_prefix = "xml" if attr_ns == "http://www.w3.org/XML/1998/namespace" else \
                    next((p for p, u in nsmap.items() if u == attr_ns and p), None)
                parts.append(f'{attr_prefix}:{attr_local}="{escape_attr(value)}"')
        out.append("<" + " ".join(parts))
        text = el.text
        if len(el) == 0:
            if text:
                out.append(">" + escape_text(text) + f"</{name}>")
            else:
                out.append("/>")
            return
        out.append(">")
        if text and not text.isspace():
            out.append(escape_text(text))
        for child in el:
            self.serialize(child, nsmap, depth + 1, out)
            tail = child.tail
            if tail and not tail.isspace():
                out.append(escape_text(tail))
        out.append(f"</{name}>")


def canonical_fragment(xml: str | bytes) -> str:
    """The canonical serialization of one XML element (for ``XmlDocument.from_xml``)."""
    data = xml.encode("utf-8") if isinstance(xml, str) else bytes(xml)
    root = parse_fragment(data)
    out: list[str] = []
    TreeWalker(data, Limits()).serialize(root, {}, 0, out)
    return "".join(out)
