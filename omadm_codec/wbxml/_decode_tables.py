"""Data and small helpers shared by both WBXML decoder twins (none of it is on the hot path).

The one idea: everything a decoder needs to know about a tag token is precomputed once per
language into a ``TagInfo`` (its ready-made ``<Name``, ``<Name xmlns="..."`` and ``</Name>`` bytes
and its *kind*, the role it plays in libwbxml's Data classification), so the decoding loops only
look things up. Both twins import these tables, which keeps their outputs identical.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .codepages import CHARSETS, NS_METINF, SYNCML10, SYNCML11, SYNCML12, Language

# Global tokens (wbxml-reppro.md section 1.4).
SWITCH_PAGE = 0x00
END = 0x01
ENTITY = 0x02
STR_I = 0x03
LITERAL = 0x04
PI = 0x43
STR_T = 0x83
OPAQUE = 0xC3
EXTENSIONS = frozenset((0x40, 0x41, 0x42, 0x80, 0x81, 0x82, 0xC0, 0xC1, 0xC2))

# Element kinds: what an element means to the Data classification (libwbxml rules, section 3 of
# libwbxml-encoding-rules.md) and to the Type back-rewrite.
K_OTHER = 0
K_DATA = 1
K_META = 2
K_ADDREP = 3
K_TYPE = 4
K_NEXTNONCE = 5

# What the first Type of an element's first Meta says about Data.
T_NONE = 0
T_NEST_DEVINF = 1
T_NEST_DMTNDS = 2
T_PLAIN = 3
T_CLEAR = 4
T_VOBJECT = 5
T_OTHER = 6

# How a Data element's content is rendered.
C_PLAIN = 0
C_CDATA = 1
C_NEST_DEVINF = 2
C_NEST_DMTNDS = 3

DEVINF_WBXML = b"application/vnd.syncml-devinf+wbxml"
DMTNDS_WBXML = b"application/vnd.syncml.dmtnds+wbxml"
DEVINF_XML = b"application/vnd.syncml-devinf+xml"
DMTNDS_XML = b"application/vnd.syncml.dmtnds+xml"
_VOBJECT = (b"text/x-vcard", b"text/x-vcalendar", b"text/directory;profile=vCard")

OPAQUE_MARKER = b' xmlns:wbxml="urn:omadm-codec:wbxml" wbxml:opaque="base64"'
"""Written into the start tag of an element whose content is base64 of binary OPAQUE bytes."""

TABLE_BUDGET_FACTOR = 16
TABLE_BUDGET_BASE = 1 << 20
"""String-table bytes one call may copy out: FACTOR x input length + BASE (see the twins)."""

LIMIT_REASONS = frozenset(("too_deep", "too_large", "too_many_elements"))
"""Errors inside a nested document that are not a reason to fall back to plain text."""

UTF16_CHARSETS = frozenset((1013, 1014, 1015))

# Characters XML 1.0 forbids (surrogates cannot survive a strict decode, so they are not listed).
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_.\-]*\Z")


@dataclass(frozen=True, slots=True)
class TagInfo:
    open: bytes
    """``<Name``: the start tag, left open for attributes and the xmlns decision."""
    open_ns: bytes
    """``<Name xmlns="..."``, used when the page differs from the parent element's."""
    close: bytes
    """``</Name>``."""
    kind: int
    page: int


def _kind(lang: Language, page: int, name: str) -> int:
    namespace = lang.namespaces.get(page, "")
    if namespace.upper().startswith("SYNCML:SYNCML"):
        if name == "Data":
            return K_DATA
        if name == "Meta":
            return K_META
        if name in ("Add", "Replace"):
            return K_ADDREP
    if namespace == NS_METINF:
        if name == "Type":
            return K_TYPE
        if name == "NextNonce":
            return K_NEXTNONCE
    return K_OTHER


_TABLES: dict[str, dict[tuple[int, int], TagInfo]] = {}


def tag_table(lang: Language) -> dict[tuple[int, int], TagInfo]:
    """(page, token) -> TagInfo for every tag of ``lang`` (built once per language)."""
    cached = _TABLES.get(lang.name)
    if cached is not None:
        return cached
    table = {}
    for page, tokens in lang.pages.items():
        xmlns = lang.namespaces.get(page)
        for token, name in tokens.items():
            raw = name.encode()
            # A page without a namespace (PROV's second page) changes nothing in the XML.
            open_ns = b"<" + raw
            if xmlns is not None:
                open_ns += b' xmlns="' + xmlns.encode() + b'"'
            table[(page, token)] = TagInfo(b"<" + raw, open_ns, b"</" + raw + b">",
                                           _kind(lang, page, name), page)
    _TABLES[lang.name] = table
    return table


def root_open_ns(lang: Language, info: TagInfo) -> bytes:
    """The start tag of a document's root: with xmlns unless the language says none."""
    return info.open_ns if lang.root_xmlns else info.open


def prologue(lang: Language, indent: int | None) -> bytes:
    """libwbxml's prologue: XML declaration and DOCTYPE (a newline after each in indent mode)."""
    sep = b"" if indent is None else b"\n"
    return (b'<?xml version="1.0"?>' + sep + b"<!DOCTYPE " + lang.root.encode() + b' PUBLIC "'
            + lang.fpi.encode() + b'" "' + lang.dtd.encode() + b'">' + sep)


def rewrite_type(lang: Language, text: bytes) -> bytes:
    """libwbxml's back-rewrite of a MetInf Type text (exact, lowercase match only)."""
    if lang in (SYNCML10, SYNCML11, SYNCML12) and text == DEVINF_WBXML:
        return DEVINF_XML
    if lang is SYNCML12 and text == DMTNDS_WBXML:
        return DMTNDS_XML
    return text


def classify_type(text: bytes) -> int:
    """What a Type text (as it stands in the WBXML) means for the Data rendering."""
    if text == DEVINF_WBXML:
        return T_NEST_DEVINF
    if text == DMTNDS_WBXML:
        return T_NEST_DMTNDS
    if text in (DEVINF_XML, DMTNDS_XML):
        return T_PLAIN
    if text == b"text/clear":
        return T_CLEAR
    if text in _VOBJECT:
        return T_VOBJECT
    return T_OTHER


def data_class(item_type: int, command_type: int, command_kind: int) -> int:
    """libwbxml's Data classification from the Item's and the command's first Meta Type."""
    code = item_type or command_type
    if code == T_NEST_DEVINF:
        return C_NEST_DEVINF
    if code == T_NEST_DMTNDS:
        return C_NEST_DMTNDS
    if code == T_PLAIN:
        return C_PLAIN
    if code in (T_CLEAR, T_VOBJECT):
        return C_CDATA
    return C_CDATA if command_kind == K_ADDREP else C_PLAIN


def nested_language_ok(cls: int, lang: Language) -> bool:
    """A nested document must be of the language its Type announces (so nesting stops at one)."""
    if cls == C_NEST_DEVINF:
        return lang.root == "DevInf"
    return lang.root == "MgmtTree"


def charset_to_utf8(raw: bytes, charset: int) -> bytes | None:
    """``raw`` (a string in the document charset) as UTF-8 XML text, or None if not valid text.

    UTF-16 (1015) follows RFC 2781: a BOM picks the byte order, else big-endian.
    """
    codec = CHARSETS[charset]
    if charset == 1015:
        if raw[:2] == b"\xff\xfe":
            codec, raw = "utf-16-le", raw[2:]
        else:
            codec = "utf-16-be"
            if raw[:2] == b"\xfe\xff":
                raw = raw[2:]
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError:
        return None
    if _FORBIDDEN.search(text):
        return None
    return raw if codec == "utf-8" else text.encode("utf-8")


def valid_name(name: bytes) -> bool:
    """A literal tag or attribute name we can write as it is (ASCII XML Name without a colon)."""
    return _NAME.match(name) is not None


def valid_entity(code: int) -> bool:
    """XML 1.0 Char production."""
    return (code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF)
