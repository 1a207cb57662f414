"""The token-driven WBXML decode (``decode_wbxml_tokens`` of each twin) against the XML hub.

The one idea: the token path may decline (``None``: ``decode`` then takes the XML hub, whose
verdict stands) but whenever it returns a model, that model is exactly the hub's, compared
deeply: every field, its Python type (``str`` / ``bytes`` / ``XmlDocument``) and the Data
hint, which ``==`` on the model ignores. The hub verdict is this twin's ``wbxml_to_xml`` then
the lxml reference reader (and, where it vouches, the XML fast path). Corpus messages must all
take the token path; generated and mutated WBXML checks the rule above on both twins, which
must also agree with each other.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS_WBXML, CORPUS_XML, Backend, corpus_id
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_message_hypothesis import messages
from test_msgcodec import _NAMES, _NAMESPACES, _TEXTS
from test_wbxml_decode import doc, item, mb, nested_devinf, s
from test_wbxml_decode_hostile import CONTENT, SMALL_CORPUS, mutated_corpus, token_docs

from omadm_codec import decode
from omadm_codec.errors import DecodeError, EncodeError
from omadm_codec.limits import DEFAULT_LIMITS, Limits
from omadm_codec.messages import model as m
from omadm_codec.messages._guard import prepare_xml
from omadm_codec.messages._reader import read_xml
from omadm_codec.messages._writer import write_xml

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


def deep_equal(got: Any, want: Any, path: str = "msg") -> None:
    """Equal values of the same types all the way down, compare=False fields included."""
    assert type(got) is type(want), f"{path}: {type(got).__name__} != {type(want).__name__}"
    if dataclasses.is_dataclass(got):
        for field in dataclasses.fields(got):
            deep_equal(getattr(got, field.name), getattr(want, field.name),
                       f"{path}.{field.name}")
    elif isinstance(got, (list, tuple)):
        assert len(got) == len(want), f"{path}: {len(got)} != {len(want)} entries"
        for index, (a, b) in enumerate(zip(got, want, strict=True)):
            deep_equal(a, b, f"{path}[{index}]")
    else:
        assert got == want, f"{path}: {got!r} != {want!r}"


def hub_verdict(backend: Backend, data: bytes,
                limits: Limits = DEFAULT_LIMITS) -> tuple[str, Any]:
    """What ``decode`` gave before the token path: ("ok", model) or ("error", reason)."""
    quirks: list[str] = []
    try:
        xml = bytes(backend.wbxml_to_xml(data, limits=limits))
        prepared = prepare_xml(xml, False, quirks, max(len(xml), limits.max_input_size))
        return "ok", read_xml(prepared.data, False, quirks, limits, prepared.doctype_public_id,
                              from_wbxml=True)
    except DecodeError as exc:
        return "error", exc.reason


def check(backend: Backend, data: bytes, limits: Limits = DEFAULT_LIMITS) -> m.Message | None:
    """The token path's result, after checking it against the hub (see the module doc)."""
    got = backend.decode_wbxml_tokens(data, limits)
    if got is None:
        return None
    verdict, want = hub_verdict(backend, data, limits)
    assert verdict == "ok", f"token path vouched for WBXML the hub rejects: {want}"
    assert want.quirks == [] and got.quirks == []
    deep_equal(got, want)
    via_xml = backend.modules["messages._fast"].decode_wbxml_via_xml(data, limits)
    if via_xml is not None:
        deep_equal(got, via_xml)
    return got  # type: ignore[no-any-return]


def check_twins(both: tuple[Backend, Backend], data: bytes,
                limits: Limits = DEFAULT_LIMITS) -> m.Message | None:
    compiled, pure = both
    got_c = check(compiled, data, limits)
    got_py = check(pure, data, limits)
    assert (got_c is None) == (got_py is None)
    if got_c is not None:
        deep_equal(got_c, got_py)
    return got_c


# --- the corpus: every message on the token path ---------------------------------------------

@pytest.mark.parametrize("path", CORPUS_WBXML, ids=corpus_id)
def test_corpus_takes_the_token_path_to_the_hub_model(backend: Backend, path: Path) -> None:
    assert check(backend, path.read_bytes()) is not None


@pytest.mark.parametrize("path", CORPUS_XML, ids=corpus_id)
@pytest.mark.parametrize("string_table", [False, True])
@pytest.mark.parametrize("keep_whitespace", [False, True])
def test_our_encoding_of_the_corpus_takes_the_token_path(
        backend: Backend, path: Path, string_table: bool, keep_whitespace: bool) -> None:
    data = bytes(backend.xml_to_wbxml(path.read_bytes(), string_table=string_table,
                                      keep_whitespace=keep_whitespace))
    got = check(backend, data)
    assert got is not None
    assert got == decode(path.read_bytes())


@pytest.mark.parametrize("string_table", [False, True])
def test_the_compiled_token_builder_reads_the_corpus(both_backends: tuple[Backend, Backend],
                                                      string_table: bool) -> None:
    """The compiled twin's own WBXML builder (``_TokenBuild``, handing an odd element to the
    events builder) vouches for every corpus message by itself, libwbxml's bytes and ours
    with and without a string table, with the hub's model: it is the path taken, not a
    detour that always gives up. (The pure twin has no such builder.)"""
    compiled = both_backends[0]
    token_build_only = compiled.modules["messages._fast"]._token_build_only
    for path in CORPUS_WBXML:
        data = path.read_bytes()
        if string_table:
            data = bytes(compiled.xml_to_wbxml(path.with_suffix("").with_suffix(".xml")
                                               .read_bytes(), string_table=True))
        got = token_build_only(data, DEFAULT_LIMITS)
        assert got is not None, path.name
        deep_equal(got, check(compiled, data))


@pytest.mark.parametrize("old, new", [
    # An unknown Meta child (a SyncML element there): kept as MetaExtra markup, by _Build.
    (b"<Type xmlns='syncml:metinf'>text/plain</Type>",
     b"<Type xmlns='syncml:metinf'>text/plain</Type><LocURI>odd</LocURI>"),
    # Elements without content where children may come.
    (b"<Data>1201</Data></Alert>", b"<Data>1201</Data><Item/></Alert>"),
    (b"<CmdID>2</CmdID>\n      <Item>", b"<CmdID>2</CmdID>\n      <Meta/>\n      <Item>"),
], ids=["meta_extra", "empty_item", "empty_meta"])
def test_the_compiled_token_builder_reads_the_odd_parts(both_backends: tuple[Backend, Backend],
                                                        old: bytes, new: bytes) -> None:
    """What the token builder hands to _Build or reads as empty, it still vouches for, with
    the hub's model (pkg1_client_init with one change each)."""
    compiled = both_backends[0]
    xml = (CORPUS_XML[0].parent / "pkg1_client_init.xml").read_bytes()
    assert old in xml
    data = bytes(compiled.xml_to_wbxml(xml.replace(old, new, 1)))
    got = compiled.modules["messages._fast"]._token_build_only(data, DEFAULT_LIMITS)
    assert got is not None
    deep_equal(got, check_twins(both_backends, data))


# A nested TNDS document (DMDDF 1.2, page 2) generated token by token: elements with and
# without content, text runs of every kind between them (blank, escaped, non-ASCII, not
# UTF-8, empty), entities, string-table references, page switches, OPAQUE text.
_TNDS_FPI = b"-//OMA//DTD-DM-DDF 1.2//EN\0"
_TNDS_TEXT = st.sampled_from([b"", b" ", b"  \n\t", b"a", b"dm.example.com", b"x & y < z > w",
                              "\u00e9t\u00e9".encode(), b"a\rb", b"]]>",
                              b"\xff", b"a\x07b", b"\xef\xbf\xbe"])  # not UTF-8, not XML
_TNDS_PIECE = st.one_of(
    _TNDS_TEXT.map(s), _TNDS_TEXT.map(s), _TNDS_TEXT.map(s), _TNDS_TEXT.map(s),
    st.sampled_from([b"\x02\x26", b"\x83" + mb(len(_TNDS_FPI)), b"\x00\x02",
                     b"\xc3\x02ab", b"\x00\x03"]))


@st.composite
def tnds_element(draw: st.DrawFn, depth: int = 0) -> bytes:
    token = draw(st.sampled_from([0x24, 0x26, 0x36, 0x2F, 0x1C, 0x25, 0x0B, 0x06]))
    if depth >= 4 or not draw(st.booleans()):
        if draw(st.integers(0, 3)) == 0:
            return bytes([token])  # no content
        return bytes([token | 0x40]) + draw(_TNDS_TEXT.map(s)) + b"\x01"  # a leaf
    parts = draw(st.lists(st.one_of(_TNDS_PIECE, tnds_element(depth + 1)), max_size=4))
    tail = draw(st.sampled_from([b"", s(b" "), s(b"\n  "), s(b" "), s(b"t")]))  # before END
    return bytes([token | 0x40]) + b"".join(parts) + tail + b"\x01"


@st.composite
def nested_tnds(draw: st.DrawFn) -> bytes:
    """A message with one Add whose Data is an OPAQUE nested TNDS document (sometimes with
    something after its root, or after the OPAQUE)."""
    root = (b"\x00\x02\x60" + draw(tnds_element(1)) + draw(tnds_element(1))
            + draw(st.sampled_from([b"", s(b" ")])) + b"\x01")
    inner = (b"\x03\x00\x00\x6a" + mb(len(_TNDS_FPI) + 3) + _TNDS_FPI + b"ab\0" + root
             + draw(st.sampled_from([b""] * 8 + [s(b" "), b"\x01"])))
    data = (b"\xc3" + mb(len(inner)) + inner
            + draw(st.sampled_from([b""] * 5 + [s(b" ")])))
    body = item(0x45, data, b"application/vnd.syncml.dmtnds+wbxml")
    return doc(b"\x6d" + _HEADER + b"\x6b" + body + b"\x12\x01\x01")


@SETTINGS
@given(data=nested_tnds())
def test_nested_documents_on_the_token_path(both_backends: tuple[Backend, Backend],
                                            data: bytes) -> None:
    """The compiled token builder writes a nested document's markup from the tokens: what it
    vouches for is the hub's model (and the events builder's), what it does not read it
    hands over."""
    got = check_twins(both_backends, data)
    alone = both_backends[0].modules["messages._fast"]._token_build_only(data, DEFAULT_LIMITS)
    assert (alone is None) == (got is None)
    if alone is not None:
        deep_equal(alone, got)


def test_nested_documents_are_read_by_the_token_builder(
        both_backends: tuple[Backend, Backend]) -> None:
    """The usual shapes - leaves, empty elements, blank runs between elements, text to
    escape, mixed content - are vouched for, with the hub's markup."""
    leaf = b"\x66" + s(b"a & <b>") + b"\x01"
    root = (b"\x00\x02\x60\x64" + s(b"\n  ") + leaf + s(b" ") + b"\x25\x6f\x5c\x25\x01\x01"
            + s(b"\n") + b"\x01"
            + b"\x76" + s("\u00e9".encode()) + s(b"x") + b"\x01" + b"\x46" + s(b"") + b"\x01"
            + b"\x64" + s(b"t") + leaf + s(b"u") + b"\x01\x01")
    inner = b"\x03\x00\x00\x6a" + mb(len(_TNDS_FPI)) + _TNDS_FPI + root
    body = item(0x45, b"\xc3" + mb(len(inner)) + inner, b"application/vnd.syncml.dmtnds+wbxml")
    data = doc(b"\x6d" + _HEADER + b"\x6b" + body + b"\x12\x01\x01")
    got = both_backends[0].modules["messages._fast"]._token_build_only(data, DEFAULT_LIMITS)
    assert got is not None
    deep_equal(got, check_twins(both_backends, data))
    assert got.commands[0].items[0].data.xml == (
        '<MgmtTree xmlns="syncml:dmddf1.2"><Node><NodeName>a &amp; &lt;b&gt;</NodeName>'
        '<node/><RTProperties><Format><node/></Format></RTProperties></Node>'
        '<Value>\u00e9x</Value><ACL/><Node>t<NodeName>a &amp; &lt;b&gt;</NodeName>u</Node>'
        '</MgmtTree>')


def test_twins_agree_on_the_corpus(both_backends: tuple[Backend, Backend]) -> None:
    for path in CORPUS_WBXML:
        assert check_twins(both_backends, path.read_bytes()) is not None


def test_syncml_10_and_11_take_the_token_path(both_backends: tuple[Backend, Backend]) -> None:
    xml = (CORPUS_XML[0].parent / "bootstrap_dm11.xml").read_bytes()  # SyncML 1.1, DM 1.1
    for version in (b"1.0", b"1.1"):
        data = bytes(both_backends[0].xml_to_wbxml(xml.replace(b">1.1<", b">" + version + b"<")
                                                   .replace(b"SYNCML1.1", b"SYNCML" + version)))
        got = check_twins(both_backends, data)
        assert got is not None and got.header.ver_dtd == version.decode()


def test_decode_takes_the_token_path(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """``decode_wbxml`` returns the token model without calling the hub."""
    codec = backend.modules["messages._fast"]
    if backend.name == "python":
        calls: list[bytes] = []
        real = codec.decode_wbxml_via_xml
        # Patched where decode_wbxml looks it up (the twin's module of that function).
        monkeypatch.setattr(sys.modules[codec.decode_wbxml.__module__], "decode_wbxml_via_xml",
                            lambda data, limits: calls.append(data) or real(data, limits))
        for path in CORPUS_WBXML:
            assert codec.decode_wbxml(path.read_bytes(), DEFAULT_LIMITS) is not None
        assert calls == []
    else:
        for path in CORPUS_WBXML:
            data = path.read_bytes()
            deep_equal(codec.decode_wbxml(data, DEFAULT_LIMITS),
                       codec.decode_wbxml_tokens(data, DEFAULT_LIMITS))


# --- generated messages ----------------------------------------------------------------------

@SETTINGS
@given(msg=messages(embedded=False, versions=("1.2",)), string_table=st.booleans())
def test_generated_messages(both_backends: tuple[Backend, Backend], msg: m.Message,
                            string_table: bool) -> None:
    compiled, _ = both_backends
    data = bytes(compiled.xml_to_wbxml(write_xml(msg, for_wbxml=True), string_table=string_table,
                                       keep_whitespace=True))
    got = check_twins(both_backends, data)
    assert got is not None
    assert got == msg


# A SyncML 1.2 message around generated commands: header, SyncBody, Final (tokens by hand).
_HEADER = (b"\x6c\x71" + s(b"1.2") + b"\x01\x72" + s(b"DM/1.2") + b"\x01\x65" + s(b"1")
           + b"\x01\x5b" + s(b"1") + b"\x01\x6e\x57" + s(b"a") + b"\x01\x01\x67\x57" + s(b"b")
           + b"\x01\x01\x01")
_TYPES = [None, b"text/plain", b"text/clear", b"text/x-vcard",
          b"application/vnd.syncml-devinf+wbxml", b"application/vnd.syncml.dmtnds+wbxml",
          b"application/vnd.syncml-devinf+xml"]
_NESTED_TNDS = (b"\x03\x00\x00\x6a\x1b-//OMA//DTD-DM-DDF 1.2//EN\x00\x00\x02\x60\x77" + s(b"1.2")
                + b"\x01\x64\x66" + s(b"a") + b"\x01\x76" + s(b"v") + b"\x01\x01\x01")
_DATA = st.one_of(CONTENT, st.sampled_from([
    s(b"  \t"), s(b"12"), b"\xc3\x04\x00\x01\x02\xff", b"\xc3\x02\xc3\xa9",
    b"\xc3" + mb(len(_NESTED_TNDS)) + _NESTED_TNDS, s(b"a") + b"\x02\x26" + s(b"b"),
    b"\xc3\x01\x07", b"\x83\x00" + s(b"x"),
]), st.lists(CONTENT, max_size=3).map(b"".join))


@st.composite
def token_messages(draw: st.DrawFn) -> bytes:
    """Messages whose Data content, Meta Type and command come from token-level strategies:
    CDATA classes, OPAQUE text / binary / nested documents, entities, string-table refs."""
    commands = b""
    for _ in range(draw(st.integers(1, 4))):
        cmd = draw(st.sampled_from([0x45, 0x53, 0x60, 0x46, 0x5F]))  # Add Get Replace Alert Put
        commands += item(cmd, draw(_DATA), draw(st.sampled_from(_TYPES)))
    header, table = draw(st.sampled_from([
        (b"\x03\xa4\x01\x6a", b""), (b"\x03\xa4\x01\x6a", b"x\0Type\0"),
        (b"\x00\xa4\x01", b""),                                    # WBXML 1.0: no charset
        (b"\x03\x00\x00\x6a", b"-//SYNCML//DTD SyncML 1.2//EN\0"),  # the FPI in the table
        (b"\x03\x00\x00\x6a", b"-//OMA//DTD SYNCML 1.2//EN\0"),     # an FPI alias
        (b"\x03\xa4\x01\x6a", b"\x02\xa0\0")]))  # a string table that is not UTF-8
    return doc(b"\x6d" + _HEADER + b"\x6b" + commands + b"\x12\x01\x01", header=header,
               table=table)


@SETTINGS
@given(data=token_messages())
def test_token_level_messages(both_backends: tuple[Backend, Backend], data: bytes) -> None:
    check_twins(both_backends, data)


def test_token_level_messages_mostly_take_the_token_path(backend: Backend) -> None:
    """The shapes above are not all declined: binary, nested, CDATA and Type cases vouched."""
    bodies = [item(0x45, b"\xc3\x04\x00\x01\x02\xff", None),             # binary OPAQUE
              item(0x60, b"\xc3\x02\xc3\xa9", b"text/plain"),             # OPAQUE text, CDATA
              item(0x53, b"\xc3" + mb(len(nested_devinf())) + nested_devinf(),
                   b"application/vnd.syncml-devinf+wbxml"),              # nested DevInf
              item(0x45, b"\xc3" + mb(len(_NESTED_TNDS)) + _NESTED_TNDS,
                   b"application/vnd.syncml.dmtnds+wbxml")]              # nested TNDS
    hints = []
    for body in bodies:
        got = check(backend, doc(b"\x6d" + _HEADER + b"\x6b" + body + b"\x12\x01\x01"))
        assert got is not None
        command = got.commands[0]
        assert isinstance(command, m.Add | m.Get | m.Replace)
        hints.append(command.items[0].data_hint)
    assert hints == [m.DataHint.OPAQUE, m.DataHint.CDATA, m.DataHint.MARKUP,
                     m.DataHint.MARKUP]


def test_binary_next_nonce_and_type_rewrite(backend: Backend) -> None:
    """NextNonce OPAQUE reads as its base64 (as libwbxml writes it); a devinf+wbxml Type reads
    as devinf+xml (libwbxml's back-rewrite), and both on the token path."""
    header = (_HEADER[:-1] + b"\x5a\x00\x01\x50\xc3\x03\x00\xff\x10\x01\x01\x00\x00"
              + b"\x01")
    body = item(0x45, s(b"x"), b"application/vnd.syncml-devinf+wbxml")
    got = check(backend, doc(b"\x6d" + header + b"\x6b" + body + b"\x12\x01\x01"))
    assert got is not None and got.header.meta is not None
    assert got.header.meta.next_nonce == "AP8Q"
    command = got.commands[0]
    assert isinstance(command, m.Add) and command.items[0].meta is not None
    assert command.items[0].meta.type == "application/vnd.syncml-devinf+xml"


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, len(CORPUS_XML) - 1), rnd=st.randoms(use_true_random=False),
       keep_whitespace=st.booleans())
def test_restructured_corpus_through_wbxml(both_backends: tuple[Backend, Backend], index: int,
                                           rnd: Any, keep_whitespace: bool) -> None:
    """Corpus XML broken at the content-model level (quirks, wrong order, odd text, moved,
    doubled or foreign elements; the moves of test_msgcodec's XML test), encoded to WBXML."""
    import copy

    from lxml import etree

    root = etree.fromstring(CORPUS_XML[index].read_bytes())
    elements = list(root.iter())
    for _ in range(rnd.randint(1, 2)):
        el = rnd.choice(elements)
        parent = el.getparent()
        move = rnd.randint(0, 6)
        if move == 0 and parent is not None:
            parent.remove(el)
        elif move == 1 and parent is not None:
            parent.insert(parent.index(el), copy.deepcopy(el))
        elif move == 2:
            el.text = rnd.choice(_TEXTS)
        elif move == 3:
            el.tail = rnd.choice(_TEXTS)
        elif move == 4 and parent is not None and len(parent) > 1:
            parent.remove(el)
            parent.insert(rnd.randint(0, len(parent)), el)
        elif move == 5:
            el.tag = f"{{{rnd.choice(_NAMESPACES)}}}{etree.QName(el).localname}"
        elif move == 6:
            child = etree.SubElement(el, "{SYNCML:SYNCML1.2}" + rnd.choice(_NAMES))
            child.text = rnd.choice(_TEXTS)
    compiled, _ = both_backends
    try:
        data = bytes(compiled.xml_to_wbxml(etree.tostring(root), keep_whitespace=keep_whitespace))
    except EncodeError:
        return  # not expressible in WBXML (a foreign namespace, an unknown element)
    check_twins(both_backends, data)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=mutated_corpus())
def test_mutated_corpus(both_backends: tuple[Backend, Backend], data: bytes) -> None:
    check_twins(both_backends, data)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=token_docs())
def test_token_soup(both_backends: tuple[Backend, Backend], data: bytes) -> None:
    """Token soup is hardly ever a message: this checks that no token sequence makes either
    twin's token path raise instead of declining."""
    check_twins(both_backends, data)


_ODD_BYTES = [b" ", b"\t", b"\x7f", b"\x1f", b"\xc3\xa9", b"~", b"!"]
_LENGTHS = [1, 2, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 127, 128, 129]


def _texts() -> list[bytes]:
    """Texts with one odd byte (a space, a tab, DEL, a control, UTF-8, the printable ends)
    at each position: around eight-byte steps, the leaf table's 24 bytes and the compiled
    leaf scan's 128."""
    texts = []
    for n in _LENGTHS:
        for k in (range(n) if n <= 33 else (0, n // 2, n - 1)):
            for odd in _ODD_BYTES:
                texts.append(b"a" * k + odd + b"b" * (n - k - 1))
    return texts


def test_leaf_and_data_texts_byte_by_byte(both_backends: tuple[Backend, Backend]) -> None:
    """Each text as an ID (SessionID), a token (LocURI) and a Data: both twins against the
    hub, vouched for or declined alike; printable ones are vouched for where the content
    model allows them."""
    vouched = 0
    for text in _texts():
        header_id = _HEADER.replace(b"\x65" + s(b"1"), b"\x65" + s(text), 1)
        header_uri = _HEADER.replace(b"\x6e\x57" + s(b"a"), b"\x6e\x57" + s(text), 1)
        body = b"\x6b" + item(0x45, s(b"x")) + b"\x12\x01\x01"
        for data in (doc(b"\x6d" + header_id + body), doc(b"\x6d" + header_uri + body),
                     doc(b"\x6d" + _HEADER + b"\x6b" + item(0x45, s(text)) + b"\x12\x01\x01")):
            vouched += check_twins(both_backends, data) is not None
    assert vouched > len(_texts())


# --- declined input: the hub's verdict, errors included --------------------------------------

@pytest.mark.parametrize("path", SMALL_CORPUS, ids=corpus_id)
def test_truncated_corpus_is_declined_and_decode_gives_the_hub_error(
        backend: Backend, path: Path) -> None:
    data = path.read_bytes()
    for cut in range(1, len(data), 7):
        blob = data[:cut]
        assert backend.decode_wbxml_tokens(blob, DEFAULT_LIMITS) is None
        verdict, reason = hub_verdict(backend, blob)
        assert verdict == "error"
        with pytest.raises(DecodeError) as info:
            _decode_on(backend, blob)
        assert info.value.reason == reason


def _decode_on(backend: Backend, data: bytes, limits: Limits = DEFAULT_LIMITS) -> m.Message:
    import omadm_codec.messages as messages
    import omadm_codec.wbxml as wbxml_module

    saved = messages._codec, wbxml_module.wbxml_to_xml
    messages._codec = backend.modules["messages._fast"]
    wbxml_module.wbxml_to_xml = backend.wbxml_to_xml
    try:
        return decode(data, limits=limits)
    finally:
        messages._codec, wbxml_module.wbxml_to_xml = saved


HOSTILE = {
    "opaque_2_pow_32": doc(b"\x6d\x6c\xc3\x90\x80\x80\x80\x00\x01\x01"),
    "opaque_past_end": doc(b"\x6d\x6c\x4f\xc3\x05ab\x01\x01"),
    "string_table_ref_past_end": doc(b"\x6d\x6c\x83\x09\x01\x01", table=b"ab\0"),
    "unterminated_str_i": doc(b"\x6d\x6c\x03abc"),
    "deep": doc(b"\x6d" + b"\x6c" * 100 + b"\x01" * 101),
    "unknown_token": doc(b"\x6d\x70\x01\x01"),
    "extension": doc(b"\x6d\x40\x01"),
    "trailing_data": doc(b"\x6d\x01\x6d\x01"),
    "unbalanced_end": doc(b"\x6d\x01\x01"),
    "bad_charset": b"\x03\xa4\x01\x81\x00\x00\x6d\x01",
    "invalid_text": doc(b"\x6d\x6c\x03\xff\x00\x01\x01"),
    "binary_opaque_mid_text": doc(b"\x6d\x6c\x4f" + s(b"x") + b"\xc3\x01\xff\x01\x01\x01"),
    "mb_overflow": doc(b"\x6d\x6c\x83\x90\x80\x80\x80\x80\x00\x01\x01", table=b"a\0"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_wbxml_is_declined_with_the_hub_error(backend: Backend, name: str) -> None:
    data = HOSTILE[name]
    assert backend.decode_wbxml_tokens(data, DEFAULT_LIMITS) is None
    verdict, reason = hub_verdict(backend, data)
    assert verdict == "error"
    with pytest.raises(DecodeError) as info:
        _decode_on(backend, data)
    assert info.value.reason == reason


@pytest.mark.parametrize("name, limits, reason", [
    ("pkg2_server_mgmt.wbxml", Limits(max_depth=4), "too_deep"),
    ("pkg2_server_mgmt.wbxml", Limits(max_elements=10), "too_many_elements"),
    ("pkg2_server_mgmt.wbxml", Limits(max_opaque=8), "too_large"),
    ("pkg2_server_mgmt.strtbl.wbxml", Limits(max_string_table=2), "too_large"),
    ("tnds_embedded.wbxml", Limits(max_depth=7), "too_deep"),
    ("tnds_embedded.wbxml", Limits(max_depth=10), "too_deep"),  # inside the nested document
    ("tnds_embedded.wbxml", Limits(max_elements=40), "too_many_elements"),
])
def test_limits_decline_and_decode_reports_them(backend: Backend, name: str, limits: Limits,
                                                reason: str) -> None:
    data = (CORPUS_WBXML[0].parent / name).read_bytes()
    assert backend.decode_wbxml_tokens(data, limits) is None
    assert hub_verdict(backend, data, limits) == ("error", reason)
    with pytest.raises(DecodeError) as info:
        _decode_on(backend, data, limits)
    assert info.value.reason == reason


def test_a_decline_leaves_no_state_behind(backend: Backend) -> None:
    """The compiled twin reuses one builder: a give-up in the middle of a message (open
    elements, a half-read Type, an embedded run) must not leak into the next decode."""
    good = (CORPUS_WBXML[0].parent / "tnds_embedded.wbxml").read_bytes()
    want = backend.decode_wbxml_tokens(good, DEFAULT_LIMITS)
    assert want is not None
    for cut in range(1, len(good) - 1, 3):
        assert backend.decode_wbxml_tokens(good[:cut], DEFAULT_LIMITS) is None
        deep_equal(backend.decode_wbxml_tokens(good, DEFAULT_LIMITS), want)
