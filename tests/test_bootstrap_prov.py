"""The provisioning-document WBXML wrapper (CP profile), checked against libwbxml both ways.

``prov_wbxml`` is a thin wrapper over the shared codec's PROV 1.0 language since the shared
codec has attribute tokens; the error reasons below are the shared codec's (the separate codec
had its own vocabulary), and its two refusals the shared codec does not make (a non-UTF-8
charset, text content) are now checked as accepted. Byte-level PROV tests are in
test_wbxml_prov.py.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omadm_codec.errors import DecodeError, EncodeError
from omadm_codec.security import bootstrap as bs
from omadm_codec.security import bootstrap_docs as docs
from omadm_codec.wbxml.prov import prov_wbxml_to_xml, prov_xml_to_wbxml

ACCOUNT = bs.W7Account(
    server_id="srv1", addr="https://dm.example/x", name="Ex", port=443, init=True,
    to_napid="NAP1", extra=(("AACCEPT", "application/vnd.syncml.dm+wbxml"),),
    auth=(bs.AppAuth("CLCRED", "DIGEST", "dev", "cpw", b"\x01" * 16),
          bs.AppAuth("SRVCRED", "BASIC", "srv1", "spw", b"")))


def test_layout_of_w7_start() -> None:
    wbxml = docs.build_cp_wbxml(ACCOUNT)
    # Header: WBXML 1.3, PROV 1.0 (0x0B), UTF-8, empty string table.
    assert wbxml[:4] == bytes([0x03, 0x0B, 0x6A, 0x00])
    # wap-provisioningdoc version="1.1", then characteristic type=APPLICATION (page 1, 0x55),
    # then parm name=APPID (page 1, 0x36) value (page 0, 0x06) "w7".
    assert wbxml[4:12] == bytes([0xC5, 0x45, 0x03]) + b"1.1\x00\x01"
    assert wbxml[12:17] == bytes([0xC6, 0x00, 0x01, 0x55, 0x01])
    assert wbxml[17:27] == bytes([0x87, 0x36, 0x00, 0x00, 0x06, 0x03]) + b"w7\x00\x01"


def test_roundtrip_ours() -> None:
    wbxml = docs.build_cp_wbxml(ACCOUNT)
    assert docs.parse_cp(wbxml) == [ACCOUNT]
    assert docs.parse_any(wbxml) == [ACCOUNT]


def test_libwbxml_decodes_ours(libwbxml) -> None:  # type: ignore[no-untyped-def]
    xml = libwbxml.wbxml_to_xml(docs.build_cp_wbxml(ACCOUNT))
    assert docs.parse_cp(xml) == [ACCOUNT]


def test_we_decode_libwbxml(libwbxml) -> None:  # type: ignore[no-untyped-def]
    # libwbxml uses attribute value tokens (APPSRV 0x8D, DIGEST 0x93, ...); so do we now.
    theirs = libwbxml.xml_to_wbxml(docs.build_cp_xml(ACCOUNT).encode())
    assert b"\x8d" in theirs
    assert docs.build_cp_wbxml(ACCOUNT) == theirs
    assert docs.parse_cp(theirs) == [ACCOUNT]
    assert prov_wbxml_to_xml(theirs) == prov_wbxml_to_xml(prov_xml_to_wbxml(
        libwbxml.wbxml_to_xml(theirs)))


def test_napdef_page0_tokens_and_mac(libwbxml) -> None:  # type: ignore[no-untyped-def]
    xml = (b'<wap-provisioningdoc><characteristic type="NAPDEF">'
           b'<parm name="NAPID" value="NAP1"/><parm name="BEARER" value="GSM-GPRS"/>'
           b'<parm name="NAP-ADDRTYPE" value="APN"/><parm name="NAP-ADDRESS" value="internet"/>'
           b"</characteristic></wap-provisioningdoc>")
    theirs = libwbxml.xml_to_wbxml(xml)
    assert prov_wbxml_to_xml(theirs).endswith(xml.replace(b"<wap-provisioningdoc>", b"")[-20:])
    ours = prov_xml_to_wbxml(xml)
    assert libwbxml.wbxml_to_xml(ours) == libwbxml.wbxml_to_xml(theirs)
    mac = bs.compute_mac(ours, "USERPIN", pin="1234")
    assert bs.verify(ours, "USERPIN", mac, pin="1234").ok


def test_truncated_at_every_length() -> None:
    wbxml = docs.build_cp_wbxml(ACCOUNT)
    for n in range(len(wbxml)):
        with pytest.raises(DecodeError) as err:
            prov_wbxml_to_xml(wbxml[:n])
        assert 0 <= err.value.offset <= n


@pytest.mark.parametrize("data,reason,offset", [
    (bytes([0x03, 0x01, 0x6A, 0x00, 0x05]), "unknown_public_id", 1),
    (bytes([0x03, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0x01]), "not_provisioning", 1),  # SyncML 1.2
    (bytes([0x03, 0x0B, 0x6A, 0x7F]), "truncated", 3),
    (bytes([0x03, 0x0B, 0x6A, 0x00, 0x06]), "not_provisioning", 4),
    (bytes([0x03, 0x0B, 0x6A, 0x00, 0x09]), "unknown_token", 4),
    (bytes([0x03, 0x0B, 0x6A, 0x00, 0x85, 0x7E, 0x01]), "unknown_attribute", 5),
    (bytes([0x03, 0x0B, 0x6A, 0x00, 0x85, 0x45, 0xF0, 0x01]), "unknown_attribute", 6),
    (bytes([0x03, 0x0B, 0x6A, 0x00, 0x85, 0x45, 0x80, 0x01]), "unsupported_extension", 6),
    (bytes([0x03, 0x0B, 0x6A, 0x00, 0x85, 0x03]), "unknown_attribute", 5),
    (bytes([0x03, 0x0B, 0x6A, 0x00, 0x05, 0x05]), "trailing_data", 5),
    (bytes([0x03, 0x0B, 0x6A, 0x00, 0x85, 0x45, 0x03]) + b"\xff\x00\x01", "invalid_text", 6),
    (bytes([0x03, 0x0B, 0x6A, 0x00, 0x85, 0x45, 0x83, 0x05, 0x01]), "bad_string_table_ref", 7),
    (bytes([0x03, 0x8F, 0xFF, 0xFF, 0xFF, 0xFF]), "mb_u_int32_overflow", 1),
])
def test_hostile(data: bytes, reason: str, offset: int) -> None:
    with pytest.raises(DecodeError) as err:
        prov_wbxml_to_xml(data)
    assert (err.value.reason, err.value.offset) == (reason, offset)


def test_shared_codec_accepts_what_the_separate_one_refused() -> None:
    # ISO-8859-1 (MIBenum 4) strings, and text inside an element (the DTD forbids it, but no
    # codec of ours validates against a DTD; libwbxml keeps such text too).
    latin1 = bytes([0x03, 0x0B, 0x04, 0x00, 0x85, 0x45, 0x03, 0xE9, 0x00, 0x01])
    assert prov_wbxml_to_xml(latin1).endswith('<wap-provisioningdoc version="é"/>'.encode())
    text = bytes([0x03, 0x0B, 0x6A, 0x00, 0x45, 0x03]) + b"x\x00\x01"
    assert prov_wbxml_to_xml(text).endswith(b"<wap-provisioningdoc>x</wap-provisioningdoc>")
    assert prov_xml_to_wbxml(b"<wap-provisioningdoc>x</wap-provisioningdoc>") == text


def test_depth_cap() -> None:
    deep = bytes([0x03, 0x0B, 0x6A, 0x00, 0x45]) + bytes([0x46]) * 40 + bytes([0x01]) * 41
    with pytest.raises(DecodeError) as err:
        prov_wbxml_to_xml(deep)
    assert err.value.reason == "too_deep"


def test_encode_errors() -> None:
    for xml, reason in ((b"<other/>", "not_provisioning"),
                        (b"<wap-provisioningdoc><x/></wap-provisioningdoc>", "unknown_element"),
                        (b'<wap-provisioningdoc foo="1"/>', "unknown_attribute"),
                        (b'<SyncML xmlns="SYNCML:SYNCML1.2"/>', "not_provisioning"),
                        (b"<wap-provisioningdoc", "malformed_xml")):
        with pytest.raises(EncodeError) as err:
            prov_xml_to_wbxml(xml)
        assert err.value.reason == reason


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60))
def test_random_bytes_typed_errors(tail: bytes) -> None:
    data = bytes([0x03, 0x0B, 0x6A, 0x00]) + tail
    try:
        prov_wbxml_to_xml(data)
    except DecodeError as exc:
        assert 0 <= exc.offset <= len(data)
