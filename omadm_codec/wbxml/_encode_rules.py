"""What both ``xml_to_wbxml`` twins share: option checks, language choice, the lxml fallback.

Nothing here runs per tag or per byte of text; the twins hold the hot loops. The one idea:
every input is turned into UTF-8 bytes the scanner understands (``prepare_input``), and the
language of a document is chosen once, from its DOCTYPE or its root (``select_language``),
following libwbxml's order (see shared/spec/libwbxml-encoding-rules.md section 1).
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from typing import cast

from ..errors import EncodeError
from ..limits import DEFAULT_LIMITS, Limits, over_input_size
from . import codepages
from .codepages import Language

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
        raise EncodeError("too_large", limits.max_input_size,
                          over_input_size(len(data), limits.max_input_size))
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


_LXML_LOCATION = re.compile(r"(?:, line \d+, column \d+)|(?: \(<string>, line \d+\))"
                            r"|(?: line \d+\b)")


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
        # libxml2's words without the location lxml adds (offsets here would be into the
        # re-encoded text, so the error has none).
        raise EncodeError(reason, -1, _LXML_LOCATION.sub("", exc.msg or text)) from None
    except (ValueError, LookupError) as exc:
        raise EncodeError("malformed_xml", -1, str(exc)) from None
    out: bytes = etree.tostring(root.getroottree(), encoding="utf-8", xml_declaration=False)
    if len(out) > limits.max_input_size:
        raise EncodeError("too_large", -1, "as UTF-8, the "
                          + over_input_size(len(out), limits.max_input_size))
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
        self.attrs = AttrTables(lang) if lang.attr_starts else None
        """Attribute tables, or None: the language's elements carry no attributes in WBXML."""

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


# -- attributes (languages with attribute tables: PROV 1.0) ------------------------------------
# libwbxml 0.11.8's rules, found by reading wbxml_encoder.c / wbxml_tables.c and checked by
# probing (tests/test_wbxml_prov.py):
# 1. Start token (wbxml_tables_get_attr_from_xml): walk the start table in order; among entries
#    with the attribute's name, an entry whose prefix equals the whole value wins at once;
#    otherwise the first entry with the longest prefix that is a proper prefix of the value;
#    otherwise the first entry without a prefix. No entry for the name: LITERAL (string table
#    on), else libwbxml fails (error 100) and we raise ``unknown_attribute``.
# 2. The rest of the value: walk the value table in order; every occurrence of an entry's text
#    in the still-unmatched strings (case-sensitive, leftmost first, non-overlapping) becomes
#    that value token, so earlier entries win overlaps. What stays are inline strings (STR_I),
#    empty ones dropped. Tokens inside a value can be anywhere ("http://x/IPV4" ends in IPV4).
# 3. Attribute tokens switch the *attribute* code page (SWITCH_PAGE in attribute state), which
#    is separate from the tag page and persists through the document; the list ends with END.
# 4. An element with attributes gets the 0x80 bit only in a language with attribute tables
#    (libwbxml drops SyncML attributes); the value is the XML-normalised one (references
#    resolved, literal TAB/LF/CR as spaces), never trimmed.
ATTR_RAW = 0
ATTR_STRING = 1
ATTR_LITERAL = 2


class AttrTables:
    """A language's attribute tables with byte strings, in libwbxml's table order."""

    def __init__(self, lang: Language) -> None:
        # Rule 1 as lookups: the first entry of a (name, prefix) pair wins, an exact match
        # beats any proper prefix, a longer prefix a shorter one, any prefix the bare name.
        self.with_prefix: dict[tuple[bytes, bytes], tuple[int, int]] = {}
        self.bare: dict[bytes, tuple[int, int]] = {}
        lengths: dict[bytes, set[int]] = {}
        for page, token, name, prefix in lang.attr_starts:
            if prefix is None:
                self.bare.setdefault(name.encode(), (page, token))
            else:
                self.with_prefix.setdefault((name.encode(), prefix.encode()), (page, token))
                lengths.setdefault(name.encode(), set()).add(len(prefix.encode()))
        self.prefix_lengths = {name: sorted(found, reverse=True)
                               for name, found in lengths.items()}
        """name -> the lengths of its prefixes, longest first."""
        self.values = [(page, token, text.encode()) for page, token, text in lang.attr_values]
        self.any_value = re.compile(b"|".join(re.escape(text) for _, _, text in self.values))
        """Matches where some value token's text occurs: most values hold none."""


def attribute_start(tables: AttrTables, name: bytes, value: bytes) -> tuple[int, int, bytes]:
    """(page, token, value left to encode) by rule 1; page -1 when the name has no token."""
    with_prefix = tables.with_prefix
    found = with_prefix.get((name, value))
    if found is not None:
        return found[0], found[1], b""
    for length in tables.prefix_lengths.get(name, ()):
        if length < len(value):
            found = with_prefix.get((name, value[:length]))
            if found is not None:
                return found[0], found[1], value[length:]
    found = tables.bare.get(name)
    if found is None:
        return -1, 0, value
    return found[0], found[1], value


def attribute_value_pieces(tables: AttrTables, value: bytes) -> list[bytes | tuple[int, int]]:
    """The value as inline strings and (page, token) value tokens, by rule 2.

    ``bytes.split`` finds exactly libwbxml's repeated leftmost search, in linear time (its
    list insertions are quadratic in the number of matches; ours are not).
    """
    if tables.any_value.search(value) is None:
        return [value] if value else []
    pieces: list[bytes | tuple[int, int]] = [value]
    # Only entries found in the whole value can be found in a piece of it. (``find``, not
    # ``in``: bytes.__contains__ first tries the needle as an integer, which costs more.)
    find = value.find
    for page, token, text in [entry for entry in tables.values if find(entry[2]) >= 0]:
        pair = (page, token)  # one object for every occurrence: a list slot each, no more
        split: list[bytes | tuple[int, int]] = []
        for piece in pieces:
            if type(piece) is not bytes or piece.find(text) < 0:
                split.append(piece)
                continue
            for k, part in enumerate(piece.split(text)):
                if k:
                    split.append(pair)
                if part:
                    split.append(part)
        pieces = split
    return pieces


def encode_attributes(tables: AttrTables, attrs: list[tuple[bytes, bytes]], page: int,
                      literals: bool, offset: int) -> tuple[list[tuple[int, bytes]], int]:
    """One element's attribute list as operations for a twin's writer, and the attribute
    page after it. Operations: (ATTR_RAW, bytes to append), (ATTR_STRING, an inline string),
    (ATTR_LITERAL, a name for a LITERAL attribute start); the closing END is included."""
    ops: list[tuple[int, bytes]] = []
    raw = bytearray()  # tokens since the last string: one operation per run of tokens
    for name, value in attrs:
        on_page, token, rest = attribute_start(tables, name, value)
        if on_page < 0:
            if not literals:
                raise EncodeError("unknown_attribute", offset)
            if raw:
                ops.append((ATTR_RAW, bytes(raw)))
                raw.clear()
            ops.append((ATTR_LITERAL, name))
        else:
            if on_page != page:
                raw += b"\x00" + _BYTES[on_page]
                page = on_page
            raw.append(token)
        if not rest:
            continue
        for piece in attribute_value_pieces(tables, rest):
            if type(piece) is bytes:
                if raw:
                    ops.append((ATTR_RAW, bytes(raw)))
                    raw.clear()
                ops.append((ATTR_STRING, piece))
                continue
            on_page, token = piece
            if on_page != page:
                raw += b"\x00" + _BYTES[on_page]
                page = on_page
            raw.append(token)
    raw.append(0x01)
    ops.append((ATTR_RAW, bytes(raw)))
    return ops, page


_BYTES = [bytes((value,)) for value in range(256)]
_ATTRIBUTE = re.compile(
    rb"""[ \t\r\n]+([^ \t\r\n=/>]+)[ \t\r\n]*=[ \t\r\n]*(?:"([^"]*)"|'([^']*)')""")
_REFERENCE = re.compile(rb"&(#x[0-9A-Fa-f]+|#[0-9]+|lt|gt|amp|quot|apos);")
_PREDEFINED = {b"lt": b"<", b"gt": b">", b"amp": b"&", b"quot": b'"', b"apos": b"'"}
_ATTR_WS = bytes.maketrans(b"\t\n\r", b"   ")


def _resolve(match: re.Match[bytes]) -> bytes:
    body = match.group(1)
    if body[:2] == b"#x":
        return chr(int(body[2:], 16)).encode("utf-8", "surrogatepass")
    if body[:1] == b"#":
        return chr(int(body[1:])).encode("utf-8", "surrogatepass")
    return _PREDEFINED[body]


def tag_attributes(tag: bytes, offset: int, marker: bool) -> list[tuple[bytes, bytes]]:
    """The attributes to encode of the start tag ``tag`` (at ``offset`` in the input):
    (name, normalised value), in document order.

    The scanners keep only prefixed attributes (SyncML has none), so a language with
    attribute tables reads them here, from a start tag the scanner has already checked
    (well-formed, no duplicates, only valid references: so the matches are contiguous).
    Namespace declarations are not attributes (libwbxml skips them too); with ``marker`` (the
    element carries our base64 marker) the marker attribute is skipped. Any other prefixed
    name is ``unknown_attribute``: libwbxml would write it as a LITERAL ``uri|name``, which no
    decoder turns back into it.
    """
    attrs: list[tuple[bytes, bytes]] = []
    for name, double_quoted, single_quoted in _ATTRIBUTE.findall(tag):
        if name == b"xmlns" or name.startswith(b"xmlns:"):
            continue
        if b":" in name:
            if marker and name.endswith(b":opaque"):
                continue
            raise EncodeError("unknown_attribute", offset)
        attrs.append((name, _normalise(double_quoted or single_quoted)))
    return attrs


def _normalise(value: bytes) -> bytes:
    """An attribute value as XML reads it: line ends and TAB as spaces, references resolved."""
    if b"\r" in value:
        value = value.replace(b"\r\n", b" ")
    value = value.translate(_ATTR_WS)
    if b"&" in value:
        value = _REFERENCE.sub(_resolve, value)
    return value


# -- attributes in SyncML, DevInf and DDF documents --------------------------------------------
# These languages have no attribute tokens, and libwbxml drops every attribute. We never drop
# one (a deliberate difference, docs/foreign-payloads.md): with the string table an attribute is
# written as a LITERAL attribute start (its name) and an inline string (its value, none when
# empty), after the tag byte with the 0x80 bit; without the string table a LITERAL has nowhere
# to point, so an attribute is the error ``unknown_attribute``, as an unknown element is
# ``unknown_element``. A LITERAL element also carries the namespace declarations a reader
# needs to put it back where it was: ``xmlns`` when its namespace is not its parent's, and the
# ``xmlns:p`` declarations of its start tag. Prefixed names (``p:name``, ``xml:lang``) would
# need a reader to track those prefixes: ``unknown_element`` / ``unknown_attribute``.
# Namespace declarations on tokenised elements produce no bytes (their namespace is the code
# page's), as in libwbxml; our own marker attributes (``wbxml:opaque``) are never written.


def syncml_attributes(tag: bytes, offset: int, literal: bool, element_ns: bytes,
                      parent_ns: bytes, string_table: bool,
                      marker: bool) -> Iterator[tuple[int, bytes]]:
    """The attribute list to write after the tag byte of the start tag ``tag`` (at ``offset``)
    in a SyncML-family document, as ``encode_attributes`` operations (END included), yielded
    one by one (a flood of attributes holds no list); nothing when nothing is to be written.
    ``literal``: the element is written as a LITERAL; ``element_ns`` / ``parent_ns``: its
    namespace and its parent element's (b"" at the root); ``marker``: the tag carries our
    ``wbxml:opaque`` marker (skipped). Errors are raised as the operations are taken."""
    if literal:
        name_end = 1
        while name_end < len(tag) and tag[name_end] not in b" \t\r\n/>":
            name_end += 1
        if b":" in tag[1:name_end]:
            raise EncodeError("unknown_element", offset,
                              "a prefixed name has no LITERAL form here")
    written = False
    if literal and string_table:
        # Namespace declarations first: a reader needs them before the names.
        if element_ns != parent_ns:
            written = True
            yield ATTR_LITERAL, b"xmlns"
            if element_ns:
                yield ATTR_STRING, element_ns
        for found in _ATTRIBUTE.finditer(tag):
            name = found.group(1)
            if name.startswith(b"xmlns:"):
                written = True
                yield ATTR_LITERAL, name
                yield ATTR_STRING, _normalise(found.group(2) or found.group(3) or b"")
    for found in _ATTRIBUTE.finditer(tag):
        name = found.group(1)
        if name == b"xmlns" or name.startswith(b"xmlns:"):
            continue
        if b":" in name:
            if marker and name.endswith(b":opaque"):
                continue
            raise EncodeError("unknown_attribute", offset,
                              "a prefixed attribute has no LITERAL form here")
        if not string_table:
            raise EncodeError("unknown_attribute", offset,
                              "an attribute needs string_table=True (libwbxml drops it)")
        written = True
        yield ATTR_LITERAL, name
        value = _normalise(found.group(2) or found.group(3) or b"")
        if value:
            yield ATTR_STRING, value
    if written:
        yield ATTR_RAW, b"\x01"


_OPS_CACHE: dict[tuple[AttrTables, bytes, int, bool, bool], tuple[list[tuple[int, bytes]], int]]
_OPS_CACHE = {}
_OPS_CACHE_KEY_MAX = 512
_OPS_CACHE_SIZE = 4096


def start_tag_attributes(tables: AttrTables, data: bytes, offset: int, end: int, page: int,
                         literals: bool, marker: bool) -> tuple[list[tuple[int, bytes]], int]:
    """``encode_attributes`` of the start tag ``data[offset:end]``: (operations, attribute page
    after it); no operations when the tag has no attributes to encode.

    The result depends only on the tag's bytes and the page before it, and provisioning
    documents repeat their tags (``<parm name="NAME" value=...``), so results are cached
    (bounded in entries and key size: tags come from untrusted documents). Errors are raised
    afresh each time, with this tag's offset.
    """
    tag = data[offset:end]
    key = (tables, tag, page, literals, marker)
    found = _OPS_CACHE.get(key)
    if found is not None:
        return found
    attrs = tag_attributes(tag, offset, marker)
    result = encode_attributes(tables, attrs, page, literals, offset) if attrs else ([], page)
    if len(tag) <= _OPS_CACHE_KEY_MAX and len(_OPS_CACHE) < _OPS_CACHE_SIZE:
        _OPS_CACHE[key] = result
    return result


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


def apply_string_table(body: bytes | bytearray, records: list[int | bytes],
                       base: int, limits: Limits) -> tuple[bytes, bytearray]:
    """(table, new body): repeated long STR_I strings become STR_T; literals get an index.

    ``records`` is flat, in body order: a position in body then a string, per record; the
    position of a STR_I token (``03 string 00``) as it is, that of a LITERAL tag byte whose
    index is still missing as ``-1 - position``. ``base`` is where our entries start in the
    table (after the FPI, if any). Linear: one dict pass.
    """
    # One dict: a string's count (>= 1), then, once it has its table entry, -1 - its index
    # (a flood of LITERALs or strings holds one entry per distinct string, not two).
    counts: dict[bytes, int] = {}
    places = cast("list[int]", records[::2])
    texts = cast("list[bytes]", records[1::2])
    for at, text in zip(places, texts, strict=True):
        counts[text] = counts.get(text, 0) + (2 if at < 0 else 1)
    table = bytearray()
    out = bytearray()
    done = 0
    for at, text in zip(places, texts, strict=True):
        kind = at < 0
        pos = -1 - at if kind else at
        found = counts[text]
        if found == 1:
            continue
        if found < 0:
            where = -1 - found
        else:
            where = base + len(table)
            counts[text] = -1 - where
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
        raise EncodeError("too_large", -1, f"a string table of {len(table) + base} bytes is over "
                                           f"max_string_table = {limits.max_string_table}")
    return bytes(table), out  # the caller joins it to the header: no copy here
