"""libwbxml 0.11.8's XML generation (``wbxml_encoder.c``, ``xml_*``), replayed over the compact
XML our WBXML decoder writes: compact, indent (any width) and canonical, with and without
"keep ignorable whitespace".

The one idea: our decoder already writes libwbxml's element structure, prologue, namespaces,
Type back-rewrite and Data rendering (byte-identical in compact mode where libwbxml's output is
well-formed); only the layout differs. So that output is read back into libwbxml's tree shape
(elements, one text node per run, CDATA nodes, embedded documents as tree nodes) and written
again with libwbxml's rules, statement for statement:

* a text node: in compact / indent mode leading and trailing whitespace is stripped and a
  whitespace-only node writes nothing (its element still gets a start and an end tag); in
  canonical mode text is kept and CR, LF and TAB become ``&#13;``, ``&#10;``, ``&#9;``.
  ``& < > " '`` are always escaped (``&apos;``, ``&quot;`` included); CR is raw otherwise;
* indent mode: a newline after each start tag whose element has element children (and the
  indent grows), after each end tag and empty tag, before an end tag that follows text in such
  an element; text itself is never indented; an embedded document is written by a fresh writer
  starting at the current indent, inline after ``<Data>``, and ``</Data>`` follows it at once;
* CDATA content is written raw (a CR too).

Where libwbxml's own output is not well-formed XML we keep ours (see ``compat.libwbxml``):
binary OPAQUE stays base64 with its marker attribute, ``]]>`` in CDATA stays split, several
OPAQUE tokens in one opaque-class Data become one CDATA section (libwbxml nests them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_NESTED_NS = (b"syncml:devinf", b"syncml:dmddf1.2")
_METINF_NS = b"syncml:metinf"
_WS = b" \t\n\r\v\f"
_TOKEN = re.compile(
    rb"<!\[CDATA\[(.*?)\]\]>"           # 1: CDATA content
    rb"|</([^>\s]+)\s*>"                 # 2: end tag
    rb"|<([^>\s/]+)((?:\s+[^\s=>]+\s*=\s*\"[^\"]*\")*)\s*(/?)>"  # 3 name, 4 attrs, 5 empty
    rb"|([^<]+)", re.S)                  # 6: text
_ATTR = re.compile(rb"([^\s=]+)\s*=\s*\"([^\"]*)\"")
_REF = re.compile(rb"&(#x[0-9A-Fa-f]+|#[0-9]+|amp|lt|gt|quot|apos);")
_NAMED = {b"amp": b"&", b"lt": b"<", b"gt": b">", b"quot": b'"', b"apos": b"'"}


def _unescape(text: bytes) -> bytes:
    if b"&" not in text:
        return text

    def one(found: re.Match[bytes]) -> bytes:
        ref = found.group(1)
        if ref in _NAMED:
            return _NAMED[ref]
        code = int(ref[2:], 16) if ref[:2] == b"#x" else int(ref[1:])
        return chr(code).encode("utf-8", "surrogatepass")

    return _REF.sub(one, text)


@dataclass(slots=True)
class _Text:
    data: bytes


@dataclass(slots=True)
class _CData:
    data: bytes


@dataclass(slots=True)
class _Element:
    name: bytes
    attrs: list[tuple[bytes, bytes]]
    ns: bytes
    children: list[_Element | _Text | _CData] = field(default_factory=list)
    nested: bool = False
    """The root of an embedded document (libwbxml's tree node)."""

    def has_child_elt(self) -> bool:
        return any(isinstance(child, _Element) and not child.nested for child in self.children)


def _parse(body: bytes) -> _Element:
    """Our compact XML body (after the prologue) as libwbxml's tree."""
    stack: list[_Element] = []
    root: _Element | None = None
    for found in _TOKEN.finditer(body):
        cdata, end, name, attrs, empty, text = found.groups()
        if name is not None:
            pairs = [(key, _unescape(value)) for key, value in _ATTR.findall(attrs or b"")]
            parent = stack[-1] if stack else None
            ns = next((value for key, value in pairs if key == b"xmlns"),
                      parent.ns if parent is not None else b"")
            element = _Element(name, pairs, ns)
            if parent is not None:
                element.nested = parent.name == b"Data" and ns in _NESTED_NS and any(
                    key == b"xmlns" for key, _ in pairs)
                parent.children.append(element)
            else:
                root = element
            if not empty:
                stack.append(element)
        elif end is not None:
            stack.pop()
        elif cdata is not None:
            _add_cdata(stack[-1], cdata)
        elif text is not None and stack:
            stack[-1].children.append(_Text(_unescape(text)))
    assert root is not None
    return root


def _add_cdata(parent: _Element, data: bytes) -> None:
    """Our decoder splits one CDATA token around a CR (``]]>&#13;<![CDATA[``) and inside
    ``]]>`` (``]]]]><![CDATA[>``): join the pieces back into one node."""
    kids = parent.children
    if kids and isinstance(kids[-1], _CData):
        kids[-1].data += data
        return
    if len(kids) >= 2 and isinstance(kids[-2], _CData) and isinstance(kids[-1], _Text) \
            and kids[-1].data.strip(b"\r") == b"":
        carriage = kids.pop()
        assert isinstance(kids[-1], _CData)
        kids[-1].data += carriage.data + data
        return
    kids.append(_CData(data))


class _Writer:
    """libwbxml's encoder in XML output mode, for one document (a fresh one per embedded
    document, as ``encoder_duplicate``)."""

    def __init__(self, mode: str, delta: int, keep: bool, lang: str, indent: int = 0) -> None:
        self.mode = mode
        self.delta = delta
        self.keep = keep or mode == "canonical"
        self.lang = lang
        self.indent = indent
        self.in_content = False
        self.out = bytearray()

    def fix(self, text: bytes) -> bytes:
        """``xml_fix_text``: the five XML specials always, CR LF TAB in canonical mode."""
        text = (text.replace(b"&", b"&amp;").replace(b"<", b"&lt;").replace(b">", b"&gt;")
                .replace(b'"', b"&quot;").replace(b"'", b"&apos;"))
        if self.mode == "canonical":
            text = text.replace(b"\r", b"&#13;").replace(b"\n", b"&#10;").replace(b"\t",
                                                                                b"&#9;")
        return text

    def pad(self) -> None:
        self.out += b" " * (self.indent * self.delta)

    def element(self, node: _Element, parent: _Element | None) -> None:
        out = self.out
        indent_mode = self.mode == "indent"
        if indent_mode:
            self.pad()
        out += b"<" + node.name
        for key, value in node.attrs:
            out += b" " + key + b'="' + self.fix(value) + b'"'
        if not node.children:
            out += b"/>"
            if indent_mode:
                out += b"\n"
            return
        out += b">"
        nested_elts = node.has_child_elt()
        if indent_mode and nested_elts:
            out += b"\n"
            self.indent += 1
        type_rewrite = node.name == b"Type" and node.ns == _METINF_NS
        for child in node.children:
            if isinstance(child, _Element):
                if child.nested:
                    sub = _Writer(self.mode, self.delta, self.keep, self.lang, self.indent)
                    sub.element(child, None)
                    out += sub.out
                else:
                    self.element(child, node)
            elif isinstance(child, _CData):
                out += b"<![CDATA[" + child.data.replace(b"]]>", b"]]]]><![CDATA[>") + b"]]>"
                self.in_content = True
            else:
                self.text(child.data, type_rewrite)
                type_rewrite = False
        if indent_mode and nested_elts:
            if self.in_content:
                out += b"\n"
            self.indent -= 1
            self.pad()
        out += b"</" + node.name + b">"
        if indent_mode:
            out += b"\n"
        self.in_content = False

    def text(self, data: bytes, type_rewrite: bool) -> None:
        if not self.keep:
            if not data.strip(_WS):
                return
            data = data.strip(_WS)
        if type_rewrite:
            if self.lang in ("SYNCML10", "SYNCML11", "SYNCML12") \
                    and data == b"application/vnd.syncml-devinf+wbxml":
                data = b"application/vnd.syncml-devinf+xml"
            if self.lang == "SYNCML12" and data == b"application/vnd.syncml.dmtnds+wbxml":
                data = b"application/vnd.syncml.dmtnds+xml"
        self.out += self.fix(data)
        self.in_content = True


_PROLOGUE = re.compile(rb"(<\?xml[^>]*\?>)(<!DOCTYPE[^>]*>)")


def relayout(compact: bytes, *, mode: str, delta: int, keep: bool, lang: str) -> bytes:
    """libwbxml's ``mode`` output (``compact``, ``indent``, ``canonical``) of the document our
    decoder wrote as ``compact`` XML; ``delta`` is the indent width, ``lang`` the document's
    language name (for the Type back-rewrite)."""
    found = _PROLOGUE.match(compact)
    assert found is not None, "our decoder always writes the prologue"
    sep = b"\n" if mode == "indent" else b""
    writer = _Writer(mode, delta, keep, lang)
    writer.element(_parse(compact[found.end():]), None)
    return found.group(1) + sep + found.group(2) + sep + bytes(writer.out)


__all__ = ["relayout"]
