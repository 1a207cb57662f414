"""What both ``xml_to_wbxml`` twins share: option checks, language choice, the lxml fallback.

Nothing here runs per tag or per byte of text; the twins hold the hot loops. The one idea:
every input is turned into UTF-8 bytes the scanner understands (``prepare_input``), and the
language of a document is chosen once, from its DOCTYPE or its root (``select_language``),
following libwbxml's order (see shared/spec/libwbxml-encoding-rules.md section 1).
"""

from __future__ import annotations

import binascii
import re

from . import codepages
from .codepages import Language
from .errors import EncodeError
from .limits import DEFAULT_LIMITS, Limits

VERSIONS = {"1.1": 0x01, "1.2": 0x02, "1.3": 0x03}
CHARSET_UTF8 = 0x6A
MARKER_NS = b"urn:omadm-codec:wbxml"

# Data classes (rules file section 3): plain text, opaque without / with LF -> CRLF.
CLS_PLAIN = 0
CLS_CLEAR = 1
CLS_VOBJECT = 2
_PLAIN_TYPES = frozenset({
    b"application/vnd.syncml-devinf+xml", b"application/vnd.syncml.dmtnds+xml",
    b"application/vnd.syncml-devinf+wbxml", b"application/vnd.syncml.dmtnds+wbxml",
})
_VOBJECT_TYPES = frozenset({b"text/x-vcard", b"text/x-vcalendar", b"text/directory;profile=vCard"})
REWRITE = {
    b"application/vnd.syncml-devinf+xml": b"application/vnd.syncml-devinf+wbxml",
    b"application/vnd.syncml.dmtnds+xml": b"application/vnd.syncml.dmtnds+wbxml",
}
"""Type rewrite: stripped text, ASCII-lowered -> what is written (SyncML documents only)."""
REWRITE_LEN = frozenset(len(k) for k in REWRITE)

SYNCML_NAMES = frozenset({"SYNCML10", "SYNCML11", "SYNCML12"})
_NS_ORDER = ("SYNCML12", "DEVINF12", "DMDDF12", "SYNCML11", "DEVINF11", "SYNCML10", "DEVINF10")
NS_DEVINF = codepages.NS_DEVINF.encode()
NS_DMDDF12 = codepages.NS_DMDDF12.encode()


def data_class(type_text: bytes | None, grandparent: bytes | None) -> int:
    """The class of a ``Data`` given the deciding Type text (None: no Type found)."""
    if type_text is not None:
        if type_text in _PLAIN_TYPES:
            return CLS_PLAIN
        if type_text == b"text/clear":
            return CLS_CLEAR
        if type_text in _VOBJECT_TYPES:
            return CLS_VOBJECT
    if grandparent == b"Add" or grandparent == b"Replace":
        return CLS_VOBJECT
    return CLS_PLAIN


def check_options(wbxml_version: str, limits: Limits | None) -> tuple[int, Limits]:
    version = VERSIONS.get(wbxml_version) if isinstance(wbxml_version, str) else None
    if version is None:
        raise ValueError(f"wbxml_version must be one of {sorted(VERSIONS)}, not {wbxml_version!r}")
    if limits is None:
        limits = DEFAULT_LIMITS
    elif not isinstance(limits, Limits):
        raise TypeError("limits must be a Limits instance")
    return version, limits


# -- input --------------------------------------------------------------------------------------
_ENCODING_DECL = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._\-]*)["']""")
_UTF8_NAMES = frozenset({b"utf-8", b"utf8", b"us-ascii", b"ascii"})


def prepare_input(xml: bytes | str, limits: Limits) -> tuple[bytes, bool]:
    """(UTF-8 bytes, came_through_lxml). Str is encoded to UTF-8 and its declaration ignored.

    Bytes in another encoding (a declaration naming one, a UTF-16 BOM or layout) are parsed by
    lxml with a hardened parser and re-serialised as UTF-8, keeping CDATA sections, so the
    scanner sees the same document. Offsets then refer to that re-serialisation, so errors on
    this path carry offset -1.
    """
    if isinstance(xml, str):
        data = xml.encode("utf-8", "surrogatepass")
        from_str = True
    elif isinstance(xml, (bytes, bytearray, memoryview)):
        data = bytes(xml)
        from_str = False
    else:
        raise TypeError(f"xml must be bytes or str, not {type(xml).__name__}")
    if len(data) > limits.max_input_size:
        raise EncodeError("too_large", limits.max_input_size)
    if from_str or (data[:1] == b"<" and data[1:2] not in (b"?", b"\x00")) or not _needs_lxml(data):
        return data, False
    return _via_lxml(data, limits), True


def _needs_lxml(data: bytes) -> bool:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or data[:4] in (b"<\x00?\x00", b"\x00<\x00?"):
        return True
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    if data.startswith(b"<?xml", start):
        close = data.find(b"?>", start)
        decl = data[start:close if close >= 0 else start + 200]
        match = _ENCODING_DECL.search(decl)
        if match is not None and match.group(1).lower() not in _UTF8_NAMES:
            return True
    return False


def _via_lxml(data: bytes, limits: Limits) -> bytes:
    from lxml import etree  # type: ignore[import-untyped]

    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
        recover=False, remove_comments=True, remove_pis=True, strip_cdata=False,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        text = str(exc)
        reason = "undefined_entity" if "not defined" in text else "malformed_xml"
        if "ENTITY" in text or "DOCTYPE" in text:
            reason = "forbidden_dtd"
        raise EncodeError(reason, -1, text) from None
    except (ValueError, LookupError) as exc:
        raise EncodeError("malformed_xml", -1, str(exc)) from None
    out: bytes = etree.tostring(root.getroottree(), encoding="utf-8", xml_declaration=False)
    if len(out) > limits.max_input_size:
        raise EncodeError("too_large", -1)
    return out


def decode_base64(parts: list[bytes], offset: int) -> bytes:
    """The marker element's text as bytes; ASCII whitespace (line wrapping) is ignored."""
    text = b"".join(parts).translate(None, b" \t\r\n")
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise EncodeError("bad_base64", offset) from None


# -- languages ----------------------------------------------------------------------------------
class LangInfo:
    """A ``Language`` prepared for encoding: byte-keyed tag lookups, header bytes."""

    def __init__(self, lang: Language) -> None:
        self.lang = lang
        self.name = lang.name
        self.is_syncml = lang.name in SYNCML_NAMES
        self.ns_page = {ns.encode(): page for page, ns in lang.namespaces.items()}
        self.page_order = sorted(lang.pages)
        self.by_page = {
            page: {tag.encode(): token for token, tag in tags.items()}
            for page, tags in lang.pages.items()
        }
        self.fpi = lang.fpi.encode()
        self.public_id = lang.public_id

    def lookup(self, ns: bytes, local: bytes) -> int:
        """page << 8 | token, or -1: the namespace's page first, then every other page."""
        first = self.ns_page.get(ns, 0)
        tags = self.by_page.get(first)
        if tags is not None:
            token = tags.get(local)
            if token is not None:
                return first << 8 | token
        for page in self.page_order:
            if page != first:
                token = self.by_page[page].get(local)
                if token is not None:
                    return page << 8 | token
        return -1


INFO = {lang.name: LangInfo(lang) for lang in codepages.LANGUAGES}


_SELECTED: dict[tuple[bytes | None, bytes | None, bytes, bytes], LangInfo] = {}


def select_language(fpi: bytes | None, sysid: bytes | None, ns: bytes, local: bytes,
                    offset: int) -> LangInfo:
    """DOCTYPE public id, then system id, then root namespace (prefix), then root name."""
    key = (fpi, sysid, ns, local)
    info = _SELECTED.get(key)
    if info is None:
        info = _select_language(fpi, sysid, ns, local, offset)
        if len(_SELECTED) < 256:  # bounded: keys come from untrusted documents
            _SELECTED[key] = info
    return info


def _select_language(fpi: bytes | None, sysid: bytes | None, ns: bytes, local: bytes,
                     offset: int) -> LangInfo:
    if fpi is not None:
        wanted = fpi.lower()
        for lang in codepages.LANGUAGES:
            if lang.fpi.lower().encode() == wanted:
                return INFO[lang.name]
    if sysid is not None:
        for lang in codepages.LANGUAGES:
            if lang.dtd.encode() == sysid:
                return INFO[lang.name]
    if ns:
        lowered = ns.lower()
        for name in _NS_ORDER:
            info = INFO[name]
            main_ns = info.lang.namespaces[min(info.lang.namespaces)].lower().encode()
            if lowered.startswith(main_ns):
                return info
        raise EncodeError("unknown_language", offset)
    for lang in codepages.LANGUAGES:
        if lang.root.encode() == local:
            return INFO[lang.name]
    raise EncodeError("unknown_language", offset)


def embedded_language(outer: LangInfo, local: bytes, offset: int) -> LangInfo:
    if local == b"DevInf":
        return INFO[codepages.DEVINF_FOR_SYNCML[outer.name].name]
    if outer.name != "SYNCML12":
        # libwbxml has no DDF table for SyncML 1.0/1.1 documents (its error 101).
        raise EncodeError("unknown_language", offset)
    return INFO["DMDDF12"]


def mb_u_int32(value: int) -> bytes:
    out = bytearray((value & 0x7F,))
    value >>= 7
    while value:
        out.insert(0, 0x80 | (value & 0x7F))
        value >>= 7
    return bytes(out)


_HEADERS: dict[tuple[int, str], bytes] = {}


def header(version: int, info: LangInfo, table: bytes) -> bytes:
    """version, public id, charset, string table. An FPI without a number is table entry 0."""
    if not table:
        key = (version, info.name)
        head = _HEADERS.get(key)
        if head is None:
            head = _HEADERS[key] = _header(version, info, table)
        return head
    return _header(version, info, table)


def _header(version: int, info: LangInfo, table: bytes) -> bytes:
    if info.public_id:
        return (bytes((version,)) + mb_u_int32(info.public_id) + bytes((CHARSET_UTF8,))
                + mb_u_int32(len(table)) + table)
    table = info.fpi + b"\x00" + table
    return bytes((version, 0, 0, CHARSET_UTF8)) + mb_u_int32(len(table)) + table


def apply_string_table(body: bytes | bytearray, records: list[tuple[int, int, bytes]],
                       base: int, limits: Limits) -> tuple[bytes, bytes]:
    """(table, new body): repeated long STR_I strings become STR_T; literals get an index.

    ``records`` are (position in body, kind, string) in body order; kind 0 = a STR_I token
    (``03 string 00``), kind 1 = a LITERAL tag byte whose index is still missing. ``base`` is
    where our entries start in the table (after the FPI, if any). Linear: one dict pass.
    """
    counts: dict[bytes, int] = {}
    for _, kind, text in records:
        counts[text] = counts.get(text, 0) + (2 if kind else 1)
    index: dict[bytes, int] = {}
    table = bytearray()
    out = bytearray()
    done = 0
    for pos, kind, text in records:
        if counts[text] < 2:
            continue
        where = index.get(text)
        if where is None:
            where = index[text] = base + len(table)
            table += text
            table.append(0)
        if kind:
            out += body[done:pos + 1]
            out += mb_u_int32(where)
            done = pos + 1
        else:
            out += body[done:pos]
            out.append(0x83)
            out += mb_u_int32(where)
            done = pos + len(text) + 2
    out += body[done:]
    if len(table) + base > limits.max_string_table:
        raise EncodeError("too_large", -1)
    return bytes(table), bytes(out)
