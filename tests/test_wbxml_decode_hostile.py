"""wbxml_to_xml on hostile input, both twins: typed errors with exact offsets, limits, no
recursion; and a hypothesis differential test (random and mutated corpus WBXML to both twins
gives the same bytes, or the same error class, reason and offset; every success is well-formed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS_WBXML, corpus_id
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from test_wbxml_decode import doc, in_root, item, mb, nested_devinf, s

from omadm_codec import DecodeError, Limits

REASONS = {"truncated", "mb_u_int32_overflow", "bad_string_table_ref", "unknown_token",
           "unbalanced_end", "too_deep", "too_large", "too_many_elements", "unknown_public_id",
           "bad_charset", "invalid_text", "trailing_data", "unsupported_version",
           "unsupported_extension"}
SMALL_CORPUS = [p for p in CORPUS_WBXML if p.stat().st_size < 8000]


def error(backend: Any, wbxml: bytes, **kw: Any) -> tuple[str, int]:
    with pytest.raises(DecodeError) as info:
        backend.wbxml_to_xml(wbxml, **kw)
    assert info.value.reason in REASONS
    return info.value.reason, info.value.offset


def test_empty_and_truncated_header(backend: Any) -> None:
    full = doc(in_root(b""))
    for cut in range(6):
        assert error(backend, full[:cut]) == ("truncated", cut)


@pytest.mark.parametrize("path", SMALL_CORPUS, ids=corpus_id)
def test_corpus_truncated_at_every_byte(backend: Any, path: Path) -> None:
    wbxml = path.read_bytes()
    for cut in range(len(wbxml)):
        reason, offset = error(backend, wbxml[:cut])
        assert 0 <= offset <= cut


def test_opaque_length_2_pow_32_and_past_the_end(backend: Any) -> None:
    assert error(backend, doc(in_root(b"\x4f\xc3\x90\x80\x80\x80\x00"))) == (
        "mb_u_int32_overflow", 8)
    assert error(backend, doc(in_root(b"\x4f\xc3\x05abc"))) == ("truncated", 8)


def test_string_table_length_checked_before_use(backend: Any) -> None:
    assert error(backend, b"\x03\xa4\x01\x6a\x8f\xff\xff\xff\x7f\x6d\x01") == ("truncated", 4)
    assert error(backend, b"\x03\xa4\x01\x6a\x90\x80\x80\x80\x00") == ("mb_u_int32_overflow", 4)
    assert error(backend, doc(b"\x2d", table=b"abcdef\0"),
                 limits=Limits(max_string_table=4)) == ("too_large", 4)


def test_string_table_refs_past_the_end(backend: Any) -> None:
    assert error(backend, doc(in_root(b"\x4f\x83\x04\x01"), table=b"abc\0")) == (
        "bad_string_table_ref", 12)
    assert error(backend, doc(in_root(b"\x4f\x83\x04\x01"))) == ("bad_string_table_ref", 8)
    assert error(backend, doc(in_root(b"\x04\x09"), table=b"abc\0")) == (
        "bad_string_table_ref", 11)
    assert error(backend, doc(b"\x2d", header=b"\x03\x00\x07\x6a", table=b"abc\0")) == (
        "bad_string_table_ref", 2)


def test_unterminated_last_string_table_entry_ends_at_the_table_end(backend: Any) -> None:
    wbxml = doc(in_root(b"\x4f\x83\x04\x01"), table=b"abc\0de")
    assert b"<Data>de</Data>" in backend.wbxml_to_xml(wbxml)


def test_unterminated_inline_string(backend: Any) -> None:
    wbxml = doc(in_root(b"\x4f\x03abc"))
    assert error(backend, wbxml) == ("truncated", len(wbxml))


def test_100000_nested_tags(backend: Any) -> None:
    deep = doc(b"\x6d" * 100_000 + b"\x01" * 100_000)
    assert error(backend, deep) == ("too_deep", 5 + 64)
    # With the depth limit lifted nothing recurses: it decodes (balanced) or stops cleanly.
    lifted = Limits(max_depth=200_000)
    out = backend.wbxml_to_xml(deep, limits=lifted)
    assert out.count(b"<SyncML") == 100_000
    assert out.count(b"</SyncML>") == 100_000 - 1  # the innermost one is <SyncML .../>
    assert error(backend, deep[:-1], limits=lifted) == ("truncated", len(deep) - 1)


def test_limits(backend: Any) -> None:
    wbxml = doc(in_root(b"\x12\x12\x4f\xc3\x03abc\x01"))
    assert error(backend, wbxml, limits=Limits(max_elements=3)) == ("too_many_elements", 8)
    assert error(backend, wbxml, limits=Limits(max_opaque=2)) == ("too_large", 10)
    assert error(backend, wbxml, limits=Limits(max_input_size=10)) == ("too_large", 10)
    assert error(backend, doc(in_root(b"\x4f" + s(b"abc") + b"\x01")),
                 limits=Limits(max_opaque=2)) == ("too_large", 8)


def test_structure_errors(backend: Any) -> None:
    assert error(backend, doc(b"\x01")) == ("unbalanced_end", 5)
    assert error(backend, doc(in_root(b"") + b"\x12")) == ("trailing_data", 7)
    assert error(backend, doc(in_root(b"") + b"\x00\x00")) == ("trailing_data", 7)
    assert error(backend, doc(b"\xc3\x01a\x2d")) == ("unknown_token", 5)
    assert error(backend, doc(b"\x02\x41\x2d")) == ("unknown_token", 5)
    assert error(backend, doc(b"\x6d\x12")) == ("truncated", 7)


@pytest.mark.parametrize("text", [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                                  b"a\x01b", b"\xef\xbf\xbe", b"\xe2\x82"])
def test_invalid_text_in_strings(backend: Any, text: bytes) -> None:
    assert error(backend, doc(in_root(b"\x4f\x03" + text + b"\x00\x01"))) == ("invalid_text", 7)
    assert error(backend, doc(in_root(b"\x4f\x83\x00\x01"), table=text + b"\0")) == (
        "invalid_text", 7 + len(text) + 1)


def test_limit_error_inside_a_nested_document_propagates(backend: Any) -> None:
    inner = nested_devinf()
    wbxml = doc(in_root(item(0x5f, b"\xc3" + mb(len(inner)) + inner,
                             b"application/vnd.syncml-devinf+wbxml")))
    assert backend.wbxml_to_xml(wbxml, limits=Limits(max_depth=6)).count(b"<DevInf") == 1
    reason, offset = error(backend, wbxml, limits=Limits(max_depth=5))
    assert reason == "too_deep"
    assert wbxml[offset] == 0x65 and wbxml[offset - 1] == 0x4A  # VerDTD inside DevInf


def test_well_formed_even_for_awkward_content(backend: Any) -> None:
    content = (b"\x4f" + s("]]>\r\n\t<&\"'é".encode()) + b"\x01"
               + item(0x60, b"\xc3\x05]]>\r\n") + item(0x60, b"\xc3\x02\x00\xff"))
    out = backend.wbxml_to_xml(doc(in_root(content)))
    root = etree.fromstring(out)
    texts = [e.text for e in root.iter("{SYNCML:SYNCML1.2}Data")]
    assert texts == ["]]>\r\n\t<&\"'é", "]]>\r\n", "AP8="]


# -- differential -----------------------------------------------------------------------------

def outcome(backend: Any, wbxml: bytes) -> tuple[str, Any, Any]:
    try:
        out = backend.wbxml_to_xml(wbxml)
    except DecodeError as exc:
        assert exc.reason in REASONS, exc
        return ("error", exc.reason, exc.offset)
    etree.fromstring(out)  # never anything but well-formed XML
    return ("ok", out, None)


def check_twins(both: tuple[Any, Any], wbxml: bytes) -> None:
    compiled, pure = both
    assert outcome(compiled, wbxml) == outcome(pure, wbxml)


SEEDS = [p.read_bytes() for p in SMALL_CORPUS]
TOKENS = st.sampled_from([
    b"\x00\x00", b"\x00\x01", b"\x00\x02", b"\x01", b"\x02\x41", b"\x02\x8f\x7f", b"\x03a\x00",
    b"\x03\xc3\xa9]]>\x00", b"\x83\x00", b"\x83\x03", b"\x04\x00", b"\x44\x00", b"\x84\x00",
    b"\xc4\x00", b"\x43\x04\x00\x01", b"\xc3\x02\x00\xff", b"\xc3\x03a\rb", b"\x40", b"\x5a",
    b"\x53", b"\x4f", b"\x0f", b"\x54", b"\x60", b"\x62", b"\x6d", b"\x12", b"\x50", b"\x4a",
    b"\x30", b"\xcf", b"\x13", b"\x5f",
    b"\xc3\x0d" + nested_devinf()[:13], b"\xc3" + mb(len(nested_devinf())) + nested_devinf(),
    s(b"application/vnd.syncml-devinf+wbxml"), s(b"text/clear"),
])
HEADERS = st.sampled_from([b"\x03\xa4\x01\x6a", b"\x03\xa4\x03\x6a", b"\x03\xa4\x02\x6a",
                           b"\x03\x9f\x53\x6a", b"\x01\xa4\x01\x87\x75", b"\x03\xa4\x01\x04",
                           b"\x03\x00\x00\x6a"])


@st.composite
def token_docs(draw: Any) -> bytes:
    header = draw(HEADERS)
    table = draw(st.sampled_from([b"", b"Foo\0id\0", b"-//SYNCML//DTD SyncML 1.2//EN\0",
                                  b"-//OMA//DTD-DM-DDF 1.2//EN\0ab"]))
    body = b"".join(draw(st.lists(TOKENS, max_size=40)))
    return header + mb(len(table)) + table + body


PAGE_TAGS = {0: [0x0F, 0x14, 0x1A, 0x20, 0x22, 0x1F, 0x05, 0x17, 0x2D],
             1: [0x13, 0x10, 0x07, 0x0D, 0x09]}
CONTENT = st.sampled_from([
    s(b"x"), s(b"a]]>\r\n<&"), s(b"text/clear"), s(b"text/x-vcard"),
    s(b"application/vnd.syncml-devinf+wbxml"), s(b"application/vnd.syncml.dmtnds+wbxml"),
    b"\x83\x00", b"\x02\x81\x69", b"\xc3\x03a]b", b"\xc3\x02\x00\xff", b"\xc3\x00",
    b"\xc3" + mb(len(nested_devinf())) + nested_devinf(), b"\xc3\x06" + nested_devinf()[:6],
    b"\x43\x04\x00\x01",
])


@st.composite
def tree_docs(draw: Any) -> bytes:
    """Mostly balanced documents: SyncML/MetInf tags, content tokens and page switches."""
    out, depth, page = bytearray(b"\x6d"), 1, 0
    for event in draw(st.lists(st.sampled_from("oootcsi"), max_size=40)):
        if event == "i":
            type_text = draw(st.sampled_from([None, b"text/plain", b"text/clear", b"text/x-vcard",
                                              b"application/vnd.syncml-devinf+wbxml"]))
            out += b"\x00\x00" + item(draw(st.sampled_from([0x45, 0x5F, 0x60, 0x62])),
                                      draw(CONTENT), type_text)
            page = 0
        elif event == "o":
            bare = draw(st.integers(0, 4)) == 0
            out.append(draw(st.sampled_from(PAGE_TAGS[page])) | (0 if bare else 0x40))
            depth += 0 if bare else 1
        elif event == "t":
            out += draw(CONTENT)
        elif event == "c" and depth > 1:
            out.append(0x01)
            depth -= 1
        elif event == "s":
            page = draw(st.integers(0, 1))
            out += bytes((0, page))
    out += b"\x01" * depth
    if draw(st.integers(0, 3)) == 0 and out:
        out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(0, 255))
    return doc(bytes(out), table=b"Type\0")


@st.composite
def mutated_corpus(draw: Any) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.integers(0, 2))
        if action == 0 and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif action == 1:
            data[at:at] = draw(TOKENS)
        else:
            del data[at:at + draw(st.integers(1, 8))]
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_differential_random_bytes(both_backends: tuple[Any, Any], data: bytes) -> None:
    check_twins(both_backends, data)
    check_twins(both_backends, b"\x03\xa4\x01\x6a\x00" + data)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(token_docs())
def test_differential_token_soup(both_backends: tuple[Any, Any], data: bytes) -> None:
    check_twins(both_backends, data)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree_docs())
def test_differential_trees(both_backends: tuple[Any, Any], data: bytes) -> None:
    check_twins(both_backends, data)


@pytest.mark.skipif(not SEEDS, reason="corpus not available")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_corpus())
def test_differential_mutated_corpus(both_backends: tuple[Any, Any], data: bytes) -> None:
    check_twins(both_backends, data)


UTF8_EDGES = [bytes([b]) for b in range(1, 256)] + [bytes.fromhex(h) for h in (
    "c080 c1bf c280 dfbf e08080 e09fbf e0a080 ed9fbf eda080 edbfbf ee8080 efbfbd efbfbe efbfbf "
    "f08fbfbf f0908080 f48fbfbf f4908080 f5808080 ff c2 e0a0 f09080 80 bf 7f 09 0a 0d"
).split()]


@pytest.mark.parametrize("raw", UTF8_EDGES, ids=lambda b: b.hex())
def test_twins_agree_on_every_utf8_edge(both_backends: tuple[Any, Any], raw: bytes) -> None:
    for content in (b"\x03" + raw + b"\x00", b"\xc3" + mb(len(raw)) + raw):
        for cmd in (0x60, 0x62):  # Replace (CDATA class) and Results (text class)
            check_twins(both_backends, doc(in_root(item(cmd, content))))
    # A one-character string is fine exactly when it is strict UTF-8 and an XML 1.0 Char.
    out = outcome(both_backends[1], doc(in_root(b"\x4f\x03" + raw + b"\x00\x01")))
    assert (out[0] == "ok") == _xml_char(raw)


def _xml_char(raw: bytes) -> bool:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    code = ord(text)
    return (code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
            or code >= 0x10000)


def test_string_table_expansion_is_budgeted(backend: Any) -> None:
    # A string as large as the table limit allows, then 2-byte references to it: one call may
    # copy out 16 x len(input) + 1 MiB of string-table bytes.
    size = (1 << 20) - 1
    table = b"a" * size + b"\0"
    fits = doc(in_root(b"\x4f" + b"\x83\x00" * 3 + b"\x01"), table=table)
    assert len(backend.wbxml_to_xml(fits)) > 3 * size
    many = 40
    wbxml = doc(in_root(b"\x4f" + b"\x83\x00" * many + b"\x01"), table=table)
    body_start = len(wbxml) - (2 + 2 * many + 2)
    over = (16 * len(wbxml) + (1 << 20)) // size  # 0-based index of the first reference over
    assert over < many
    assert error(backend, wbxml) == ("too_large", body_start + 3 + 2 * over)
