"""xml_to_wbxml never drops an attribute (both twins), and wbxml_to_xml reads them back.

SyncML, DevInf and DDF have no attribute tokens; libwbxml drops every attribute (and the
namespace of an unknown element), which loses CSP payloads such as ``<data id=".." value=".."/>``.
Here: with the string table, an attribute is a LITERAL attribute start and an inline string;
without it (a LITERAL has nowhere to point) it is the error ``unknown_attribute`` at the start
tag, as an unknown element is ``unknown_element``. Where libwbxml loses nothing (no
attribute), the bytes stay libwbxml's (checked against the live library when present).
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Backend

from omadm_codec import DecodeError, EncodeError, decode

HEAD = b'<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD></SyncHdr><SyncBody>'
TAIL = b"</SyncBody></SyncML>"


def doc(body: bytes) -> bytes:
    return HEAD + body + TAIL


def in_data(content: bytes) -> bytes:
    return doc(b"<Exec><CmdID>1</CmdID><Item><Data>" + content + b"</Data></Item></Exec>")


def error(backend: Backend, xml: bytes, **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(EncodeError) as info:
        backend.xml_to_wbxml(xml, **kwargs)
    return info.value.reason, info.value.offset


def test_without_the_string_table_an_attribute_is_an_error(backend: Backend) -> None:
    # An unknown element is refused first (libwbxml: "can't encode Literal")...
    xml = in_data(b'<data id="a" value="b"/>')
    assert error(backend, xml) == ("unknown_element", xml.index(b"<data"))
    # ... a known one with an attribute is refused at its start tag.
    xml = in_data(b'<Data id="x"/><enabled/>')
    assert error(backend, xml) == ("unknown_attribute", xml.index(b'<Data id'))
    # A known element with an attribute: libwbxml drops it silently; we refuse.
    xml = doc(b'<Alert foo="bar"><CmdID x="1">1</CmdID></Alert>')
    assert error(backend, xml) == ("unknown_attribute", xml.index(b"<Alert"))
    assert error(backend, xml, keep_whitespace=True) == ("unknown_attribute",
                                                         xml.index(b"<Alert"))


def test_libwbxml_drops_what_we_refuse(backend: Backend, libwbxml: Any) -> None:
    """The deliberate difference, pinned: libwbxml's bytes for the document with attributes
    are its (and our) bytes for the document without them."""
    xml = doc(b'<Alert foo="bar"><CmdID x="1">1</CmdID></Alert>')
    stripped = doc(b"<Alert><CmdID>1</CmdID></Alert>")
    assert libwbxml.xml_to_wbxml(xml) == libwbxml.xml_to_wbxml(stripped)
    assert backend.xml_to_wbxml(stripped) == libwbxml.xml_to_wbxml(stripped)
    assert b"foo" not in libwbxml.wbxml_to_xml(libwbxml.xml_to_wbxml(xml, string_table=True))


def test_literal_attributes_with_the_string_table(backend: Backend) -> None:
    xml = in_data(b'<data id="a" value="1&#xF000;x"/><Foo k="v">t</Foo>')
    out = backend.xml_to_wbxml(xml, string_table=True)
    # String table: data, id, value, Foo, k (in order of first use, each once).
    assert out.startswith(bytes.fromhex("03 A4 01 6A 14") + b"data\0id\0value\0Foo\0k\0")
    # LITERAL_A data, LITERAL id, STR_I "a", LITERAL value, STR_I "1\uf000x", END
    assert bytes.fromhex("84 00 04 05 03 61 00 04 08 03 31 EF 80 80 78 00 01") in out
    # LITERAL_AC Foo, LITERAL k, STR_I "v", END, STR_I "t", END
    assert bytes.fromhex("C4 0E 04 12 03 76 00 01 03 74 00 01") in out
    back = backend.wbxml_to_xml(out)
    assert b'<Data><data id="a" value="1\xef\x80\x80x"/><Foo k="v">t</Foo></Data>' in back


def test_attributes_on_known_elements(backend: Backend) -> None:
    # DeviceInstallation's payload: a <Data> inside the Data, with attributes.
    xml = in_data(b'<enabled/><Data id="IDs" value="1"/>')
    out = backend.xml_to_wbxml(xml, string_table=True)
    assert bytes.fromhex("8F 04 08 03 49 44 73 00 04 0B 03 31 00 01") in out  # Data|0x80
    assert b'<Data><enabled/><Data id="IDs" value="1"/></Data>' in backend.wbxml_to_xml(out)
    # An empty value has no value token; a value with references comes back escaped.
    xml = in_data(b"<job a=\"\" b='&lt;&amp;&quot;\t'/>")
    back = backend.wbxml_to_xml(backend.xml_to_wbxml(xml, string_table=True))
    assert b'<job a="" b="&lt;&amp;&quot; "/>' in back


def test_namespaces_of_literal_elements(backend: Backend) -> None:
    content = (b'<WLANProfile xmlns="http://www.microsoft.com/networking/WLAN/profile/v1">'
               b'<name>n</name><x xmlns=""/></WLANProfile><y xmlns:q="urn:q" a="1"/>')
    out = backend.xml_to_wbxml(in_data(content), string_table=True)
    assert content in backend.wbxml_to_xml(out)
    # Redundant declarations of the same namespace produce nothing.
    same = b'<z xmlns="SYNCML:SYNCML1.2"/>'
    assert b"<Data><z/></Data>" in backend.wbxml_to_xml(
        backend.xml_to_wbxml(in_data(same), string_table=True))


def test_prefixed_names_have_no_literal_form(backend: Backend) -> None:
    xml = doc(b'<Exec xmlns:p="urn:p"><CmdID>1</CmdID><Item><Data><p:a/></Data></Item></Exec>')
    assert error(backend, xml, string_table=True) == ("unknown_element", xml.index(b"<p:a"))
    xml = in_data(b'<a xmlns:p="urn:p" p:b="1"/>')
    assert error(backend, xml, string_table=True) == ("unknown_attribute", xml.index(b"<a "))
    xml = in_data(b'<a xml:lang="en"/>')
    assert error(backend, xml, string_table=True) == ("unknown_attribute", xml.index(b"<a "))


def test_models_read_back_equal_through_literal_attributes(backend: Backend) -> None:
    """decode(xml) == decode(xml_to_wbxml(xml, string_table=True, keep_whitespace=True)) for a
    message with CSP payloads as markup: attributes, namespaces and text all come back."""
    from test_foreign_payloads import HEAD as MSG_HEAD
    from test_foreign_payloads import PAYLOADS
    from test_foreign_payloads import TAIL as MSG_TAIL
    from test_message_wbxml import use

    body = "".join(PAYLOADS[name] for name in sorted(PAYLOADS))
    xml = (MSG_HEAD + body + MSG_TAIL).encode()
    expected = decode(xml)
    with use(backend):
        wbxml = backend.xml_to_wbxml(xml, string_table=True, keep_whitespace=True)
        assert decode(wbxml) == expected


def test_decoder_reads_literal_declarations_only_on_literals(backend: Backend) -> None:
    def s(text: bytes) -> bytes:
        return b"\x03" + text + b"\x00"

    table = b"ab\0xmlns\0xmlns:p\0"
    head = b"\x03\xa4\x01\x6a" + bytes([len(table)]) + table
    ok = head + b"\x6d\x84\x00\x04\x03" + s(b"urn:x") + b"\x04\x09" + s(b"urn:p") + b"\x01\x01"
    assert b'<ab xmlns="urn:x" xmlns:p="urn:p"/>' in backend.wbxml_to_xml(ok)
    with pytest.raises(DecodeError) as info:
        backend.wbxml_to_xml(head + b"\x6d\x8b\x04\x09" + s(b"urn:p") + b"\x01\x01")
    assert (info.value.reason, info.value.offset) == ("invalid_text", len(head) + 2)


def test_foreign_markup_in_an_opaque_data_keeps_its_text(backend: Backend) -> None:
    """libwbxml gathers all text of an Add/Replace Data into one OPAQUE at its end, text of
    child elements included; around a LITERAL element that would move the markup's own text
    out of it. What was gathered is written before it instead, and its text stays inside."""
    content = b"\n  <rule a=\"1\"><ipv4Gateway>192.168.0.1</ipv4Gateway></rule>\n"
    xml = doc(b"<Replace><CmdID>1</CmdID><Item><Data>" + content + b"</Data></Item></Replace>")
    out = backend.xml_to_wbxml(xml, string_table=True, keep_whitespace=True)
    back = backend.wbxml_to_xml(out)
    assert b"<ipv4Gateway>192.168.0.1</ipv4Gateway></rule>" in back
    # Data: OPAQUE "\r\n  " (LF -> CRLF, as libwbxml), the rule, then the trailing "\r\n".
    assert b"\x4f\xc3\x04\r\n  \xc4" in out
    assert out.endswith(b"\x01\xc3\x02\r\n\x01\x01\x01\x01\x01")
    # Known elements keep libwbxml's order (its probe "gather-child"): x, 1 and y together.
    known = doc(b"<Replace><CmdID>1</CmdID><Item><Data>x<CmdID>1</CmdID>y</Data></Item>"
                b"</Replace>")
    assert bytes.fromhex("4F 4B 01 C3 03 78 31 79 01") in backend.xml_to_wbxml(
        known, string_table=True)
