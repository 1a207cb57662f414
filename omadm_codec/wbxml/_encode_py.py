"""XML -> WBXML, byte-identical to libwbxml 0.11.8 (pure-Python twin of ``wbxml._encode_c``).

One pass over the scanner's events with an explicit element stack. The one idea: a tag byte is
written when its start tag is seen, and its content bit (0x40) is OR-ed in later, when the first
child node (element, text run, CDATA) arrives; END is written only for elements so marked.
Everything else is the libwbxml rule set in shared/spec/libwbxml-encoding-rules.md: lazy
SWITCH_PAGE, STR_I for text and OPAQUE for CDATA, the ``Data`` classes (plain, opaque,
opaque with LF -> CRLF, decided from the Meta/Type seen before the ``Data``), the Type
rewrite, and embedded DevInf / MgmtTree written as nested WBXML documents inside OPAQUE.
Attributes are written right after the tag byte: for a language with attribute tables (PROV
1.0) by ``_encode_rules.encode_attributes`` (its comment block states the rules); in SyncML,
DevInf and DDF documents, which have no attribute tokens, as LITERAL attributes with the
string table and as the error ``unknown_attribute`` without it (``syncml_attributes``:
libwbxml drops them, we never do). A SyncML ``Data`` marked ``wbxml:opaque="markup"`` holds
foreign markup: its content is written verbatim as one OPAQUE and the marker ``03 00``
(``_markup`` explains why).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import EncodeError
from ..limits import Limits
from . import _encode_rules as common
from ._encode_rules import CLS_PLAIN, CLS_VOBJECT, LangInfo
from ._markup import MARKER, MARKUP_VALUE, FragmentLimit, NotMarkup, check_fragment
from ._xmlscan_py import (
    EV_CDATA,
    EV_DOCTYPE,
    EV_END,
    EV_EOF,
    EV_START,
    EV_TEXT,
    Scanner,
    check_chars,
)

__all__ = ["xml_to_wbxml"]

_KIND_NONE = 0
_KIND_ELEMENT = 1
_KIND_TEXT = 2
_KIND_CDATA = 3
_NO_MATCH = b"\x00"  # a Type whose first child is not text: found, but never matches
_WS = b" \t\r\n"


class _Frame:
    """One open element."""

    __slots__ = ("local", "tag_pos", "content", "first", "cls", "tval", "tseen", "mval",
                 "mseen", "gather", "b64", "offset", "ns", "markup")

    def __init__(self, local: bytes, tag_pos: int, offset: int, ns: bytes) -> None:
        self.local = local
        self.ns = ns                    # the element's namespace (a LITERAL child compares)
        self.markup = False             # a Data marked wbxml:opaque="markup"
        self.tag_pos = tag_pos          # index of the tag byte in the body
        self.content = False            # content bit set (END owed)
        self.first = _KIND_NONE         # kind of the first child node
        self.cls = CLS_PLAIN            # Data class; plain for every other element
        self.tval: bytes | None = None  # Type: first text / Meta: its first Type's text
        self.tseen = False
        self.mval: bytes | None = None  # the first Meta child's Type text (None: no Type)
        self.mseen = False
        self.gather: list[bytes] | None = None  # opaque Data gathering all its character data
        self.b64: list[bytes] | None = None     # base64 marker element's text
        self.offset = offset


def _mb(out: bytearray, value: int) -> None:
    if value < 0x80:
        out.append(value)
    else:
        out += common.mb_u_int32(value)


class _Encoder:
    """Encodes one document (the outer one, or one embedded DevInf / MgmtTree)."""

    def __init__(self, scanner: Scanner, version: int, string_table: bool, keep: bool,
                 limits: Limits) -> None:
        self.sc = scanner
        self.version = version
        self.string_table = string_table
        self.keep = keep
        self.limits = limits
        self.out = bytearray()
        # String-table records, flat (no tuple each: a flood of them stays small): position,
        # string; a LITERAL's position as -1 - position (see _encode_rules.apply_string_table).
        self.records: list[int | bytes] = []
        self.page = 0
        self.attr_page = 0
        self.frames: list[_Frame] = []
        self.gathering: _Frame | None = None
        self.info: LangInfo | None = None
        self.is_syncml = False

    # -- writers ------------------------------------------------------------------------------
    def _str_i(self, text: bytes) -> None:
        out = self.out
        if self.string_table and len(text) > 3:
            self.records += (len(out), text)
        out.append(0x03)
        out += text
        out.append(0x00)

    def _opaque(self, data: bytes) -> None:
        out = self.out
        out.append(0xC3)
        _mb(out, len(data))
        out += data

    def _mark(self, frame: _Frame, kind: int) -> None:
        if not frame.content:
            frame.content = True
            self.out[frame.tag_pos] |= 0x40
        if frame.first == _KIND_NONE:
            frame.first = kind

    # -- driver -------------------------------------------------------------------------------
    def run(self, fpi: bytes | None, sysid: bytes | None, nested: LangInfo | None) -> bytes:
        """Encode until the root's END (nested) or EOF; the scanner sits on the root START
        when ``nested`` is given."""
        sc = self.sc
        self.info = nested
        event = EV_START if nested is not None else sc.next()
        while True:
            if event == EV_TEXT:
                if self.frames:
                    self._text(sc.text)
            elif event == EV_START:
                if not self.frames:
                    if self.info is None:
                        self.info = common.select_language(fpi, sysid, sc.ns, sc.local, sc.offset)
                    self.is_syncml = self.info.is_syncml
                self._start()
                if self.frames and self.frames[-1].markup:
                    self._markup(self.frames[-1])
            elif event == EV_END:
                self._end()
                if not self.frames and nested is not None:
                    break
            elif event == EV_CDATA:
                self._cdata(sc.text)
            elif event == EV_DOCTYPE:
                fpi, sysid = sc.fpi, sc.sysid
            elif event == EV_EOF:
                break
            event = sc.next()
        assert self.info is not None
        base = 0 if self.info.public_id else len(self.info.fpi) + 1
        table = b""
        body: bytes | bytearray = self.out
        if self.records:
            table, body = common.apply_string_table(body, self.records, base, self.limits)
        return common.header(self.version, self.info, table) + body

    def _start(self) -> None:
        sc = self.sc
        info = self.info
        assert info is not None
        frames = self.frames
        parent = frames[-1] if frames else None
        local = sc.local
        if parent is not None:
            if parent.b64 is not None:
                raise EncodeError("bad_base64", sc.offset)
            if parent.first == _KIND_NONE and parent.local == b"Type":
                parent.tseen = True
                parent.tval = _NO_MATCH
            self._mark(parent, _KIND_ELEMENT)
            if self.is_syncml and (
                (local == b"DevInf" and sc.ns == common.NS_DEVINF)
                or (local == b"MgmtTree" and sc.ns == common.NS_DMDDF12)
            ):
                nested = common.embedded_language(info, local, sc.offset)
                child = _Encoder(sc, self.version, self.string_table, self.keep, self.limits)
                self._opaque(child.run(None, None, nested))
                return
        code = info.lookup(sc.ns, local)
        out = self.out
        if self.gathering is not None and (code < 0 or sc.plain_attrs or any(
                ns != common.MARKER_NS or name != b"opaque" for name, _, ns in sc.attrs)):
            # Foreign markup in an opaque Data: libwbxml would move the text gathered so far
            # (and the markup's own text) to the Data's end; it stays in place instead.
            self._flush_gathered()
        if code < 0:
            if not self.string_table:
                raise EncodeError("unknown_element", sc.offset)
            tag_pos = len(out)
            self.records += (-1 - tag_pos, local)
            out.append(0x04)
        else:
            page = code >> 8
            if page != self.page:
                out.append(0x00)
                out.append(page)
                self.page = page
            tag_pos = len(out)
            out.append(code & 0x3F)
        frame = _Frame(local, tag_pos, sc.offset, sc.ns)
        if local == b"Data" and self.is_syncml and parent is not None:
            grand = frames[-2] if len(frames) > 1 else None
            type_text = parent.mval if parent.mseen else None
            if type_text is None and grand is not None and grand.mseen:
                type_text = grand.mval
            frame.cls = common.data_class(type_text, grand.local if grand is not None else None)
        marker = others = False
        for attr_local, value, attr_ns in sc.attrs:
            if attr_ns == common.MARKER_NS and attr_local == b"opaque" and value == b"base64":
                frame.b64 = []
                marker = True
            elif attr_ns == common.MARKER_NS and attr_local == b"opaque" and value == MARKUP_VALUE:
                if not (local == b"Data" and self.is_syncml and parent is not None):
                    raise EncodeError("unknown_attribute", sc.offset,
                                      "wbxml:opaque=\"markup\" belongs on a SyncML <Data>")
                frame.markup = True
                marker = True
            else:
                others = True
        if info.attrs is not None:
            self._attributes(info.attrs, tag_pos, frame.b64 is not None)
        elif code < 0 or others or sc.plain_attrs:
            self._write_ops(tag_pos, common.syncml_attributes(
                sc.data[sc.offset:sc.pos], sc.offset, code < 0, sc.ns,
                parent.ns if parent is not None else b"", self.string_table, marker))
        frames.append(frame)

    def _markup(self, frame: _Frame) -> None:
        """A Data marked as holding markup (just started): its content, verbatim, as one
        OPAQUE and the marker; the scanner still checks it (well-formedness, limits)."""
        sc = self.sc
        start = sc.pos
        depth = 0
        while True:
            event = sc.next()
            if event == EV_START:
                depth += 1
            elif event == EV_END:
                if not depth:
                    break
                depth -= 1
        content = sc.data[start:max(start, sc.offset)]
        try:
            check_fragment(content, 1 << 30, 1 << 30)
        except NotMarkup:
            raise EncodeError("bad_markup", frame.offset,
                              "wbxml:opaque=\"markup\" on a Data that holds no markup that "
                              "stands alone (an element, every prefix declared inside)") from None
        except FragmentLimit as exc:
            raise EncodeError(exc.reason, frame.offset) from None
        self._mark(frame, _KIND_ELEMENT)
        self._opaque(content)
        self.out += MARKER
        self._end()

    def _attributes(self, tables: common.AttrTables, tag_pos: int, marker: bool) -> None:
        """The start tag's attribute list after its tag byte (languages with attributes)."""
        sc = self.sc
        ops, self.attr_page = common.start_tag_attributes(
            tables, sc.data, sc.offset, sc.pos, self.attr_page, self.string_table, marker)
        self._write_ops(tag_pos, ops)

    def _write_ops(self, tag_pos: int, ops: Iterable[tuple[int, bytes]]) -> None:
        """An attribute list (``encode_attributes`` operations) after the tag byte."""
        out = self.out
        for kind, payload in ops:
            out[tag_pos] |= 0x80
            if kind == common.ATTR_RAW:
                out += payload
            elif kind == common.ATTR_STRING:
                self._str_i(payload)
            else:
                self.records += (-1 - len(out), payload)
                out.append(0x04)

    def _flush_gathered(self) -> None:
        """Write what the gathering Data has gathered, as one OPAQUE, and stop gathering."""
        frame = self.gathering
        assert frame is not None
        data = b"".join(frame.gather or ())
        if len(data) > self.limits.max_opaque:
            raise EncodeError("too_large", frame.offset)
        self._opaque(data)
        self.gathering = None

    def _end(self) -> None:
        frame = self.frames.pop()
        if frame is self.gathering:
            self._flush_gathered()
        if frame.b64 is not None and frame.content:
            self._opaque(common.decode_base64(frame.b64, frame.offset))
        if frame.content:
            self.out.append(0x01)
        if self.frames:
            parent = self.frames[-1]
            if frame.local == b"Type" and not parent.tseen:
                parent.tseen = True
                parent.tval = frame.tval if frame.tseen else _NO_MATCH
            elif frame.local == b"Meta" and not parent.mseen:
                parent.mseen = True
                parent.mval = frame.tval if frame.tseen else None

    def _text(self, text: bytes) -> None:
        frame = self.frames[-1]
        if frame.first == _KIND_NONE and frame.local == b"Type":
            frame.tseen = True
            frame.tval = text
        if frame.b64 is not None:
            self._mark(frame, _KIND_TEXT)
            frame.b64.append(text)
            return
        gathering = self.gathering
        if gathering is not None:
            self._mark(frame, _KIND_TEXT)
            assert gathering.gather is not None
            gathering.gather.append(self._gathered(frame, text))
            return
        if frame.cls != CLS_PLAIN and frame.first != _KIND_CDATA:
            self._mark(frame, _KIND_TEXT)
            self.gathering = frame
            frame.gather = [self._gathered(frame, text)]
            return
        self._mark(frame, _KIND_TEXT)
        if not self.keep:
            text = text.strip(_WS)
            if not text:
                return
        if self.is_syncml and len(text) in common.REWRITE_LEN:
            text = common.REWRITE.get(text.lower(), text)
        if frame.cls == CLS_VOBJECT:
            text = text.replace(b"\n", b"\r\n")
        self._str_i(text)

    def _gathered(self, frame: _Frame, text: bytes) -> bytes:
        """A run as it joins an opaque Data's gathered bytes. libwbxml converts line ends per
        piece: every LF of a run directly in a vObject-class Data, and a run that is exactly
        one LF anywhere in it (its single-LF rule for CDATA, which gathered text becomes)."""
        if frame is self.gathering and frame.cls == CLS_VOBJECT:
            return text.replace(b"\n", b"\r\n")
        if self.is_syncml and text == b"\n":
            return b"\r\n"
        return text

    def _cdata(self, text: bytes) -> None:
        frame = self.frames[-1]
        if frame.first == _KIND_NONE and frame.local == b"Type":
            frame.tseen = True
            frame.tval = _NO_MATCH
        self._mark(frame, _KIND_CDATA)
        if frame.b64 is not None:
            frame.b64.append(text)
            return
        gathering = self.gathering
        if gathering is not None:
            # libwbxml fails here (its error 13); we keep the section's bytes in the run.
            assert gathering.gather is not None
            gathering.gather.append(self._gathered(frame, text))
            return
        if self.is_syncml and text == b"\n":
            text = b"\r\n"
        elif frame.cls == CLS_VOBJECT:
            text = text.replace(b"\n", b"\r\n")
        if text:
            self._opaque(text)


def xml_to_wbxml(xml: bytes | str, *, wbxml_version: str = "1.3", string_table: bool = False,
                 keep_whitespace: bool = False, limits: Limits | None = None) -> bytes:
    """Encode a SyncML DM XML document (DevInf, MetInf, DDF and PROV 1.0 too) as WBXML.

    With ``string_table=False`` the bytes equal libwbxml's wherever libwbxml loses nothing;
    nothing is ever dropped: an attribute in a SyncML, DevInf or DDF document (libwbxml drops
    it) is the error ``unknown_attribute``, as an unknown element is ``unknown_element``.
    ``string_table=True`` moves repeated text (longer than 3 bytes) into the string table and
    writes unknown elements as LITERAL tags, attributes as LITERAL attribute starts with
    inline-string values (and unknown PROV attributes as LITERAL attribute starts). A SyncML
    ``Data`` marked ``wbxml:opaque="markup"`` (``wbxml_to_xml`` writes it) holds markup that
    travels as its text: one OPAQUE and an empty string. Raises ``EncodeError`` (reason, byte
    offset) on bad input.
    """
    version, limits = common.check_options(wbxml_version, limits)
    data, via_lxml = common.prepare_input(xml, limits)
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        check_chars(data, start)
        scanner = Scanner(data, start, limits)
        encoder = _Encoder(scanner, version, bool(string_table), bool(keep_whitespace), limits)
        return encoder.run(None, None, None)
    except EncodeError as exc:
        if via_lxml:
            raise EncodeError(exc.reason, -1, exc.detail) from None
        raise
