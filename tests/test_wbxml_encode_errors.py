"""xml_to_wbxml on bad and hostile XML: every EncodeError reason with its offset, on both twins.

Hostile inputs must fail typed and fast (no entity expansion, no recursion, no network or
file access); nothing here asserts a time, the test run's timeout is the bound.
"""

from __future__ import annotations

from typing import Any

import pytest

from omadm_codec.errors import EncodeError
from omadm_codec.limits import Limits

HEAD = b'<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD></SyncHdr><SyncBody>'
TAIL = b"</SyncBody></SyncML>"


def doc(body: bytes) -> bytes:
    return HEAD + body + TAIL


def raises(backend: Any, xml: bytes | str, **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(EncodeError) as err:
        backend.xml_to_wbxml(xml, **kwargs)
    assert isinstance(err.value, ValueError)
    return err.value.reason, err.value.offset


AT = len(HEAD)

ERRORS: list[tuple[str, bytes, str, int]] = [
    ("unclosed-root", b"<SyncML><SyncHdr/>", "malformed_xml", 18),
    ("empty", b"", "malformed_xml", 0),
    ("ws-only", b"  \n", "malformed_xml", 3),
    ("mismatched-end", doc(b"<Final></Alert>"), "malformed_xml", AT + 7),
    ("stray-end", b"<SyncML></SyncML></SyncML>", "malformed_xml", 17),
    ("two-roots", b"<SyncML/><SyncML/>", "malformed_xml", 9),
    ("text-after-root", b"<SyncML/>x", "malformed_xml", 9),
    ("text-before-root", b"x<SyncML/>", "malformed_xml", 0),
    ("lt-in-attr", doc(b'<Final a="<"/>'), "malformed_xml", AT + 10),
    ("no-quote-attr", doc(b"<Final a=1/>"), "malformed_xml", AT + 9),
    ("dup-attr", doc(b'<Final a="1" a="2"/>'), "malformed_xml", AT + 13),
    ("no-space-attrs", doc(b'<Final a="1"b="2"/>'), "malformed_xml", AT + 12),
    ("bad-name", doc(b"<1Final/>"), "malformed_xml", AT),
    ("cdata-end-in-text", doc(b"<Final>a]]>b</Final>"), "malformed_xml", AT + 8),
    ("unterminated-comment", doc(b"<!-- x"), "malformed_xml", AT),
    ("unterminated-cdata", doc(b"<Final><![CDATA[x"), "malformed_xml", AT + 7),
    ("bad-charref", doc(b"<Final>&#xZZ;</Final>"), "malformed_xml", AT + 7),
    ("nul-charref", doc(b"<Final>&#0;</Final>"), "malformed_xml", AT + 7),
    ("surrogate-charref", doc(b"<Final>&#xD800;</Final>"), "malformed_xml", AT + 7),
    ("big-charref", doc(b"<Final>&#99999999999;</Final>"), "malformed_xml", AT + 7),
    ("amp-alone", doc(b"<Final>a & b</Final>"), "malformed_xml", AT + 9),
    ("control-char", doc(b"<Final>\x01</Final>"), "malformed_xml", AT + 7),
    ("fffe", doc("<Final>\ufffe</Final>".encode()), "malformed_xml", AT + 7),
    ("late-xml-decl", b'<SyncML><?xml version="1.0"?></SyncML>', "malformed_xml", 8),
    ("unbound-prefix", doc(b"<x:Final/>"), "malformed_xml", AT),
    ("undefined-entity", doc(b"<Final>&undef;</Final>"), "undefined_entity", AT + 7),
    ("undefined-entity-attr", doc(b'<Final a="&nbsp;"/>'), "undefined_entity", AT + 10),
    ("invalid-utf8", doc(b"<Final>\xff</Final>"), "invalid_utf8", AT + 7),
    ("overlong-utf8", doc(b"<Final>\xc0\xaf</Final>"), "invalid_utf8", AT + 7),
    ("surrogate-utf8", doc(b"<Final>\xed\xa0\x80</Final>"), "invalid_utf8", AT + 7),
    ("truncated-utf8", doc(b"<Final>\xe2\x82</Final>"), "invalid_utf8", AT + 7),
    ("control-before-bad-utf8", doc(b"<Final>\x02\xff</Final>"), "malformed_xml", AT + 7),
    ("unknown-element", doc(b"<Final/><Foo/>"), "unknown_element", AT + 8),
    ("wrong-case", doc(b"<final/>"), "unknown_element", AT),
    ("unknown-ns", b'<SyncML xmlns="urn:foo"><SyncHdr/></SyncML>', "unknown_language", 0),
    ("metinf-ns-root", b'<MetInf xmlns="syncml:metinf"><Type>t</Type></MetInf>',
     "unknown_language", 0),
    ("unknown-root", b"<Foo/>", "unknown_language", 0),
    ("ddf-under-11",
     b'<SyncML xmlns="SYNCML:SYNCML1.1"><SyncBody><Results><Item><Data>'
     b'<MgmtTree xmlns="syncml:dmddf1.2"/></Data></Item></Results></SyncBody></SyncML>',
     "unknown_language", 64),
    ("internal-subset", b'<!DOCTYPE SyncML [<!ATTLIST SyncML a CDATA "x">]><SyncML/>',
     "forbidden_dtd", 0),
    ("entity-decl", b'<?xml version="1.0"?>\n<!DOCTYPE SyncML [<!ENTITY e "x">]><SyncML/>',
     "forbidden_dtd", 22),
    ("external-id-subset",
     b'<!DOCTYPE SyncML SYSTEM "file:///etc/passwd" [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
     b"<SyncML>&e;</SyncML>", "forbidden_dtd", 0),
    ("doctype-after-root", b"<SyncML><!DOCTYPE SyncML></SyncML>", "malformed_xml", 8),
]


@pytest.mark.parametrize("xml,reason,offset", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_error_reason_and_offset(backend: Any, xml: bytes, reason: str, offset: int) -> None:
    assert raises(backend, xml) == (reason, offset)


def test_errors_agree_with_libwbxml_failing(libwbxml: Any) -> None:
    # Every input above that is an XML error for us is also refused by libwbxml, except the
    # DTD cases, which libwbxml accepts (it expands entities): we refuse them on purpose.
    for _name, xml, reason, _ in ERRORS:
        if reason == "forbidden_dtd" or not xml:
            continue
        with pytest.raises(libwbxml.LibwbxmlError):
            libwbxml.xml_to_wbxml(xml)


def test_billion_laughs(backend: Any) -> None:
    lol = b'<!DOCTYPE SyncML [<!ENTITY a "lol">' + b"".join(
        b'<!ENTITY %c "%s">' % (98 + i, (b"&%c;" % (97 + i)) * 10) for i in range(9)
    ) + b"]><SyncML><SyncHdr><VerDTD>&j;</VerDTD></SyncHdr></SyncML>"
    assert raises(backend, lol) == ("forbidden_dtd", 0)


def test_deep_nesting_is_bounded(backend: Any) -> None:
    depth = 100_000
    xml = b"<SyncML>" + b"<Atomic>" * depth + b"</Atomic>" * depth + b"</SyncML>"
    assert raises(backend, xml) == ("too_deep", len(b"<SyncML>") + 63 * len(b"<Atomic>"))
    assert raises(backend, xml, limits=Limits(max_depth=3)) == ("too_deep", 8 + 2 * 8)


def test_depth_counts_into_nested_documents(backend: Any) -> None:
    xml = doc(b"<Results><Item><Data><MgmtTree xmlns=\"syncml:dmddf1.2\"><Node><Node/></Node>"
              b"</MgmtTree></Data></Item></Results>")
    reason, offset = raises(backend, xml, limits=Limits(max_depth=7))
    assert (reason, offset) == ("too_deep", xml.index(b"<Node/>"))
    backend.xml_to_wbxml(xml, limits=Limits(max_depth=8))


def test_too_many_elements(backend: Any) -> None:
    xml = doc(b"<Final/>" * 10)
    assert raises(backend, xml, limits=Limits(max_elements=8)) == ("too_many_elements", AT + 32)


def test_too_large_input(backend: Any) -> None:
    xml = doc(b"<Final/>")
    assert raises(backend, xml, limits=Limits(max_input_size=50)) == ("too_large", 50)
    assert raises(backend, xml.decode(), limits=Limits(max_input_size=50)) == ("too_large", 50)


def test_ten_megabyte_text(backend: Any) -> None:
    text = b"A" * (10 * 1024 * 1024)
    xml = doc(b"<Alert><CmdID>1</CmdID><Item><Data>" + text + b"</Data></Item></Alert>")
    out = backend.xml_to_wbxml(xml)
    assert out.endswith(text + b"\x00\x01\x01\x01\x01\x01")
    at = xml.index(text)
    assert raises(backend, xml, limits=Limits(max_opaque=1024 * 1024)) == ("too_large", at)


def test_gathered_opaque_limit(backend: Any) -> None:
    # Runs of 3 bytes each, gathered into one OPAQUE of 9 bytes: over a limit of 8.
    xml = doc(b"<Replace><CmdID>1</CmdID><Item><Data>abc<!--x-->def<CmdID>ghi</CmdID></Data>"
              b"</Item></Replace>")
    assert raises(backend, xml, limits=Limits(max_opaque=8)) == ("too_large", xml.index(b"<Data>"))
    assert bytes.fromhex("C3 09") + b"abcdefghi" in backend.xml_to_wbxml(
        xml, limits=Limits(max_opaque=9))


def test_attribute_flood(backend: Any) -> None:
    attrs = b"".join(b' a%d="x"' % i for i in range(100_000))
    flood = doc(b"<Final" + attrs + b"/>")
    # Never dropped: refused without the string table, every one written with it.
    assert raises(backend, flood) == ("unknown_attribute", flood.index(b"<Final"))
    some = doc(b"<Final" + attrs[:attrs.index(b" a20000=")] + b"/>")
    out = backend.xml_to_wbxml(some, string_table=True)
    assert out.count(b"\x04") >= 20_000 and out.endswith(bytes.fromhex("01 01 01"))
    dup = doc(b"<Final" + attrs + b' a5="y"/>')
    assert raises(backend, dup) == ("malformed_xml", dup.index(b' a5="y"/>') + 1)


def test_xmlns_flood(backend: Any) -> None:
    attrs = b"".join(b' xmlns:p%d="urn:x%d"' % (i, i) for i in range(20_000))
    out = backend.xml_to_wbxml(doc(b"<Final" + attrs + b"/>"))
    assert out.endswith(bytes.fromhex("12 01 01"))


def test_external_entity_never_fetched(backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins
    import socket

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no file or socket may be opened")

    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(socket, "socket", refuse)
    xml = (b'<!DOCTYPE SyncML SYSTEM "http://127.0.0.1:1/x.dtd"><SyncML><SyncHdr><VerDTD>'
           b"&ext;</VerDTD></SyncHdr></SyncML>")
    assert raises(backend, xml) == ("undefined_entity", xml.index(b"&ext;"))
    latin = (b'<?xml version="1.0" encoding="ISO-8859-1"?><!DOCTYPE SyncML [<!ENTITY e SYSTEM '
             b'"file:///etc/passwd">]><SyncML><SyncHdr><VerDTD>&e;</VerDTD></SyncHdr></SyncML>')
    assert raises(backend, latin) == ("forbidden_dtd", -1)


def test_lxml_path_errors_have_no_offset(backend: Any) -> None:
    bad = b'<?xml version="1.0" encoding="ISO-8859-1"?><SyncML><SyncHdr></SyncML>'
    assert raises(backend, bad) == ("malformed_xml", -1)
    unknown = b'<?xml version="1.0" encoding="ISO-8859-1"?><SyncML><Foo/></SyncML>'
    assert raises(backend, unknown) == ("unknown_element", -1)


def test_str_with_lone_surrogate(backend: Any) -> None:
    text = (HEAD + b"<Final>").decode() + "\ud800</Final>" + TAIL.decode()
    assert raises(backend, text) == ("invalid_utf8", AT + 7)


def test_bad_argument_types(backend: Any) -> None:
    with pytest.raises(TypeError):
        backend.xml_to_wbxml(12)
    with pytest.raises(TypeError):
        backend.xml_to_wbxml(doc(b""), limits={"max_depth": 3})
