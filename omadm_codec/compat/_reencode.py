"""libwbxml 0.11.8's WBXML choices that our encoder does not make itself, applied to its output:
libwbxml's string table (``xml2wbxml`` without ``-n``), WBXML 1.0 and anonymous documents.

The one idea: our encoder's bytes equal libwbxml's with string tables off, and with our own
table on they differ only in which strings are references (ours replace whole inline strings,
and name LITERAL tags). So its output is walked token by token, every reference resolved back
to text, and the body written again with libwbxml's table (``wbxml_strtbl_*`` in
``wbxml_encoder.c``, rule for rule):

1. strings: the content of every text node that is not whitespace-only and is longer than 3
   bytes (stripped unless whitespace is kept; CDATA as it is), and the attribute values libwbxml
   would not tokenise, in document order (an element's attributes before its content);
   embedded DevInf / MgmtTree documents collect their own, for their own table;
2. each distinct string met more than once goes into the table, in first-seen order;
3. the strings met once are split into words at whitespace, and each distinct word longer than
   3 bytes met more than once goes in too;
4. each inline string of the body (content outside CDATA, and attribute values) is cut at
   every occurrence of each table entry, entry by entry in table order, leftmost first:
   ``STR_I`` before, ``STR_T``, and the rest searched again; LITERAL names join the table as
   they are met; the FPI of a language without a public id number joins last.

libwbxml's table search is cubic; ours only tries the entries that occur in each string.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import EncodeError
from ..limits import Limits
from ..wbxml._encode_rules import (
    CLS_PLAIN,
    CLS_VOBJECT,
    attribute_start,
    data_class,
    mb_u_int32,
    select_language,
    tag_attributes,
)
from ..wbxml._xmlscan_py import EV_CDATA, EV_DOCTYPE, EV_END, EV_EOF, EV_START, EV_TEXT, Scanner

_WS = b" \t\n\r\v\f"
_MIN = 3
"""WBXML_ENCODER_STRING_TABLE_MIN: table strings are longer than this."""
_CHARSET_UTF8 = 0x6A
_NESTED = {(b"DevInf", b"syncml:devinf"), (b"MgmtTree", b"syncml:dmddf1.2")}
_NO_MATCH = b"\x00"  # a Type whose first child is not text (never a known type)


@dataclass(slots=True)
class _Doc:
    """What the XML walk learns of one document (the outer one or an embedded one)."""

    strings: list[tuple[bytes, bytes]] = field(default_factory=list)
    """(the string as collected, as libwbxml finally writes it), in document order."""
    nested: list[tuple[int, _Doc]] = field(default_factory=list)
    """(element starts of this document before it, the embedded document), in order."""
    starts: int = 0


class _Frame:
    """An open element, with what decides a ``Data``'s class (as our encoder tracks it)."""

    __slots__ = ("local", "first", "tval", "tseen", "mval", "mseen", "cls")

    def __init__(self, local: bytes) -> None:
        self.local = local
        self.first = True  # no child yet
        self.tval: bytes | None = None
        self.tseen = False
        self.mval: bytes | None = None
        self.mseen = False
        self.cls = CLS_PLAIN


def _collect(xml: bytes, keep: bool, limits: Limits) -> _Doc:
    """The strings of every document in ``xml`` (rule 1).

    libwbxml's table holds the collected node buffers themselves, and encoding a text node
    strips that buffer in place (unless whitespace is kept, or the text is in a CDATA section
    or an opaque-class ``Data``): so entries are found by the text as collected and written as
    stripped. (libwbxml counts the table's length and offsets before the stripping: when a
    repeated text has edge whitespace, its table length and references are wrong and its
    output is corrupt. Ours counts what it writes.)"""
    start = 3 if xml.startswith(b"\xef\xbb\xbf") else 0
    sc = Scanner(xml, start, limits)
    docs: list[_Doc] = [_Doc()]
    roots: list[int] = []  # element depth at which each embedded document's root sits
    frames: list[_Frame] = []
    tables = None
    syncml = False
    fpi = sysid = None
    while True:
        event = sc.next()
        if event == EV_EOF:
            break
        doc = docs[-1]
        if event == EV_DOCTYPE:
            fpi, sysid = sc.fpi, sc.sysid
        elif event == EV_START:
            parent = frames[-1] if frames else None
            if parent is None:
                info = select_language(fpi, sysid, sc.ns, sc.local, sc.offset)
                syncml = info.is_syncml
                tables = info.attrs
            else:
                if parent.first and parent.local == b"Type":
                    parent.tseen, parent.tval = True, _NO_MATCH
                parent.first = False
                if syncml and not roots and (sc.local, sc.ns) in _NESTED:
                    child = _Doc()
                    doc.nested.append((doc.starts, child))
                    docs.append(child)
                    roots.append(len(frames) + 1)
                    doc = child
            frame = _Frame(sc.local)
            if syncml and sc.local == b"Data" and parent is not None:
                grand = frames[-2] if len(frames) > 1 else None
                type_text = parent.mval if parent.mseen else None
                if type_text is None and grand is not None and grand.mseen:
                    type_text = grand.mval
                frame.cls = data_class(type_text, grand.local if grand is not None else None)
            frames.append(frame)
            doc.starts += 1
            if tables is not None:
                for name, value in tag_attributes(xml[sc.offset:sc.pos], sc.offset, True):
                    page, _, rest = attribute_start(tables, name, value)
                    if len(value) > _MIN and (page < 0 or rest == value) \
                            and tables.any_value.search(value) is None:
                        doc.strings.append((value, value))
        elif event == EV_END:
            if roots and roots[-1] == len(frames):
                roots.pop()
                docs.pop()
            frame = frames.pop()
            if frames:
                parent = frames[-1]
                if frame.local == b"Type" and not parent.tseen:
                    parent.tseen = True
                    parent.tval = frame.tval if frame.tseen else _NO_MATCH
                elif frame.local == b"Meta" and not parent.mseen:
                    parent.mseen = True
                    parent.mval = frame.tval if frame.tseen else None
        elif event in (EV_TEXT, EV_CDATA):
            frame = frames[-1]
            text = sc.text
            if event == EV_TEXT and frame.first and frame.local == b"Type":
                frame.tseen, frame.tval = True, text
            elif event == EV_CDATA and frame.first and frame.local == b"Type":
                frame.tseen, frame.tval = True, _NO_MATCH
            frame.first = False
            raw_kept = event == EV_CDATA or frame.cls != CLS_PLAIN
            if raw_kept and syncml and frame.cls == CLS_VOBJECT:
                text = text.replace(b"\n", b"\r\n")  # libwbxml's LF -> CRLF in vObjects
            if len(text) > _MIN and text.strip(_WS):
                doc.strings.append((text, text if keep or raw_kept else text.strip(_WS)))
    return docs[0]


def _table(strings: list[tuple[bytes, bytes]]) -> list[bytes]:
    """Rules 2 and 3: the table's entries (as written), in order."""
    entries: dict[bytes, None] = {}
    final: dict[bytes, bytes] = {}
    once: list[bytes] = []
    counts: dict[bytes, int] = {}
    for raw, written in strings:
        counts[raw] = counts.get(raw, 0) + 1
        final.setdefault(raw, written)  # the first occurrence's buffer is the entry
    for raw, count in counts.items():
        if count > 1:
            entries.setdefault(final[raw])
        else:
            once.append(raw)
    words = [word for text in once for word in text.split()]
    for word, count in _counted(words).items():
        if count > 1 and len(word) > _MIN:
            entries.setdefault(word)
    return [entry for entry in entries if entry]


def _counted(items: list[bytes]) -> dict[bytes, int]:
    counts: dict[bytes, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


class _Table:
    def __init__(self, entries: list[bytes]) -> None:
        self.entries: list[tuple[bytes, int]] = []
        self.index: dict[bytes, int] = {}
        self.size = 0
        for text in entries:
            self.add(text)

    def add(self, text: bytes) -> int:
        found = self.index.get(text)
        if found is None:
            found = self.index[text] = self.size
            self.entries.append((text, found))
            self.size += len(text) + 1
        return found

    def data(self) -> bytes:
        return b"".join(text + b"\x00" for text, _ in self.entries)

    def cut(self, text: bytes) -> list[bytes | int]:
        """Rule 4 for one inline string: strings and table offsets."""
        pieces: list[bytes | int] = [text]
        for entry, offset in self.entries:
            if entry not in text:
                continue
            i = 0
            while i < len(pieces):
                piece = pieces[i]
                if isinstance(piece, bytes):
                    at = piece.find(entry)
                    if at >= 0:
                        rest = piece[at + len(entry):]
                        pieces[i] = piece[:at]
                        pieces.insert(i + 1, offset)
                        if rest:
                            pieces.insert(i + 2, rest)
                i += 1
        return pieces


@dataclass(slots=True)
class _Header:
    version: int
    public_id: int
    """0 when the FPI is in the string table."""
    fpi: bytes | None
    table: bytes
    body_start: int


def _mb(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for _ in range(5):
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos
    raise EncodeError("malformed_xml", -1, "bad mb_u_int32 in our own output")


def _cstr(data: bytes, pos: int) -> tuple[bytes, int]:
    end = data.index(b"\x00", pos)
    return data[pos:end], end + 1


def _header(data: bytes) -> _Header:
    version = data[0]
    public_id, pos = _mb(data, 1)
    index = -1
    if public_id == 0:
        index, pos = _mb(data, pos)
    _, pos = _mb(data, pos)  # charset: always UTF-8 in our output
    length, pos = _mb(data, pos)
    table = data[pos:pos + length]
    fpi = _cstr(table, index)[0] if index >= 0 else None
    return _Header(version, public_id, fpi, table, pos + length)


def rewrite(ours: bytes, xml: bytes, *, version: int, string_table: bool, anonymous: bool,
            keep: bool, limits: Limits) -> bytes:
    """libwbxml's bytes for ``xml``, from our encoder's output ``ours`` (made with our string
    table when ``string_table``, so that unknown elements are LITERALs)."""
    return _document(ours, _collect(xml, keep, limits), version, string_table, anonymous)


def _document(ours: bytes, doc: _Doc, version: int, string_table: bool,
              anonymous: bool) -> bytes:
    head = _header(ours)
    table = _Table(_table(doc.strings) if string_table else [])
    body = _body(ours, head, doc, table, version, string_table)
    if head.public_id:
        public = mb_u_int32(head.public_id)
    elif anonymous:
        public = b"\x01"
    else:
        assert head.fpi is not None
        public = b"\x00" + mb_u_int32(table.add(head.fpi))
    tbl = table.data()
    return bytes((version,)) + public + bytes((_CHARSET_UTF8,)) + mb_u_int32(len(tbl)) + tbl \
        + body


def _body(data: bytes, head: _Header, doc: _Doc, table: _Table, version: int,
          string_table: bool) -> bytes:
    out = bytearray()
    pos = head.body_start
    end = len(data)
    attrs = False
    starts = 0
    nested = list(doc.nested)

    def string(text: bytes) -> None:
        for piece in table.cut(text) if string_table else [text]:
            if isinstance(piece, int):
                out.append(0x83)
                out.extend(mb_u_int32(piece))
            elif piece:
                out.append(0x03)
                out.extend(piece)
                out.append(0x00)

    while pos < end:
        tok = data[pos]
        if tok == 0x00:  # SWITCH_PAGE
            out += data[pos:pos + 2]
            pos += 2
        elif tok == 0x01:  # END
            out.append(tok)
            pos += 1
            attrs = False
        elif tok == 0x02 or tok in (0x80, 0x81, 0x82):  # ENTITY, EXT_T_*
            value, after = _mb(data, pos + 1)
            out += data[pos:after]
            pos = after
        elif tok == 0x03:  # STR_I
            text, pos = _cstr(data, pos + 1)
            string(text)
        elif tok == 0x83:  # STR_T
            index, pos = _mb(data, pos + 1)
            string(_cstr(head.table, index)[0])
        elif tok in (0x04, 0x44, 0x84, 0xC4) and (not attrs or tok == 0x04):  # LITERAL*
            index, pos = _mb(data, pos + 1)
            out.append(tok)
            out += mb_u_int32(table.add(_cstr(head.table, index)[0]))
            if not attrs:
                starts += 1
                attrs = bool(tok & 0x80)
        elif tok in (0x40, 0x41, 0x42):  # EXT_I_*
            _, after = _cstr(data, pos + 1)
            out += data[pos:after]
            pos = after
        elif tok == 0xC3:  # OPAQUE
            length, start = _mb(data, pos + 1)
            payload = data[start:start + length]
            pos = start + length
            if nested and nested[0][0] == starts and not attrs:
                _, inner = nested.pop(0)
                payload = _document(payload, inner, version, string_table, False)
            out.append(0xC3)
            out += mb_u_int32(len(payload))
            out += payload
        else:  # a tag (content) or an attribute start / value token
            out.append(tok)
            pos += 1
            if not attrs:
                starts += 1
                attrs = bool(tok & 0x80)
    return bytes(out)


__all__ = ["rewrite"]
