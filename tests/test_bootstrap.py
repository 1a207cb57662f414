"""Bootstrap: MAC vectors per SEC method, w7 / DM documents, and applying to a DMTree."""

from __future__ import annotations

import pytest

from omadm_codec.errors import AuthenticationError, DecodeError, OmaDmError
from omadm_codec.security import bootstrap as bs
from omadm_codec.security import bootstrap_docs as docs

IMSI = "001010123456789"
ACCOUNT = bs.W7Account(
    server_id="srv1", addr="https://dm.example/manage", name="Example DM", port=443,
    to_napid="NAP1",
    auth=(bs.AppAuth("CLCRED", "DIGEST", "dev-4711", "cl13nt", b"\x01" * 16),
          bs.AppAuth("SRVCRED", "DIGEST", "srv1", "s3rv3r", b"\x02" * 16)))


def test_imsi_vectors() -> None:
    assert bs.imsi_key(IMSI) == bytes.fromhex("0910101032547698")
    assert bs.imsi_key("00101012345678") == bytes.fromhex("01101010325476f8")
    for bad in ("", "12a4", "1" * 16, "١٢٣"):
        with pytest.raises(ValueError):
            bs.imsi_key(bad)


def test_userpinmac_vector() -> None:
    body = bytes.fromhex("030b6a00")
    assert bs.userpinmac_code(body, "1234") == "12349024"
    assert bs.verify(body, "USERPINMAC", None, user_input="12349024").ok
    assert bs.verify(body, 3, None, user_input="12349024").ok
    for wrong in ("12349025", "1234902", "", "12359024", None):
        assert not bs.verify(body, "USERPINMAC", None, user_input=wrong).ok


def test_hmac_sha1_known_answer() -> None:
    # RFC 2202 test case 2, with the key supplied as a USERPIN.
    mac = bs.compute_mac(b"what do ya want for nothing?", "USERPIN", pin="Jefe")
    assert mac == "EFFCDF6AE5EB2FA2D27416D5F184DF9C259A7C79"


def test_keys_per_method() -> None:
    assert bs.mac_key("NETWPIN", imsi=IMSI) == bs.imsi_key(IMSI)
    assert bs.mac_key("NETWORKID", imsi=IMSI) == bs.imsi_key(IMSI)
    assert bs.mac_key(1, pin="1234") == b"1234"
    assert bs.mac_key("USERNETWPIN", imsi=IMSI, pin="1234") == bs.imsi_key(IMSI) + b"1234"
    assert bs.mac_key("USERPIN_NETWORKID", imsi=IMSI, pin="12") == bs.imsi_key(IMSI) + b"12"
    for sec, kw in (("NETWPIN", {}), ("USERPIN", {}), ("USERNETWPIN", {"imsi": IMSI})):
        with pytest.raises(AuthenticationError) as err:
            bs.mac_key(sec, **kw)
        assert err.value.reason == "missing_secret"
    for sec in ("BOGUS", 7, "USERPINMAC"):
        with pytest.raises(AuthenticationError) as err:
            bs.mac_key(sec, pin="1")
        assert err.value.reason == "unknown_sec"


@pytest.mark.parametrize("sec,kw", [("NETWPIN", {"imsi": IMSI}), ("USERPIN", {"pin": "9999"}),
                                    ("USERNETWPIN", {"imsi": IMSI, "pin": "9999"})])
def test_verify_each_method(sec: str, kw: dict[str, str]) -> None:
    doc = docs.build_dm_wbxml(ACCOUNT, device_id="IMEI:1")
    mac = bs.compute_mac(doc, sec, **kw)
    assert len(mac) == 40 and mac == mac.upper()
    ok = bs.verify(doc, sec, mac.lower(), **kw)
    assert ok.ok and ok.user_authenticated == (sec != "NETWPIN")
    for i in range(0, len(doc) * 8, 7):
        tampered = bytearray(doc)
        tampered[i // 8] ^= 1 << (i % 8)
        assert not bs.verify(bytes(tampered), sec, mac, **kw).ok
    assert not bs.verify(doc, sec, mac[:-1], **kw).ok
    assert not bs.verify(doc, sec, None, **kw).ok
    assert not bs.verify(doc, sec, "é" * 40, **kw).ok


def test_pin_attempts_cap() -> None:
    doc = b"\x03\x0b\x6a\x00"
    attempts = bs.PinAttempts(limit=2)
    for _ in range(2):
        assert not attempts.check("sms:1", bs.verify(doc, "USERPIN", "00" * 20, pin="1")).ok
    with pytest.raises(AuthenticationError) as err:
        attempts.check("sms:1", bs.verify(doc, "USERPIN", bs.compute_mac(doc, 1, pin="1"),
                                          pin="1"))
    assert err.value.reason == "pin_locked"
    # NETWPIN failures do not count against the user PIN budget.
    other = bs.PinAttempts(limit=1)
    other.check("sms:2", bs.verify(doc, "NETWPIN", "00", imsi=IMSI))
    assert other.check("sms:2", bs.verify(doc, "NETWPIN", bs.compute_mac(doc, 0, imsi=IMSI),
                                          imsi=IMSI)).ok


# -- documents ----------------------------------------------------------------------------


def test_cp_roundtrip() -> None:
    account = bs.W7Account(**{**{f: getattr(ACCOUNT, f) for f in ACCOUNT.__slots__},
                              "init": True, "extra": (("ROLE", "32"),)})
    xml = docs.build_cp_xml(account)
    assert '<parm name="APPID" value="w7"/>' in xml
    assert '<parm name="AAUTHLEVEL" value="APPSRV"/>' in xml
    assert docs.parse_cp(xml) == [account]
    assert docs.parse_any(xml.encode()) == [account]


def test_cp_windows_top_level_addr_and_other_apps() -> None:
    xml = """<wap-provisioningdoc>
      <characteristic type="APPLICATION"><parm name="APPID" value="w4"/></characteristic>
      <characteristic type="APPLICATION">
        <parm name="APPID" value="w7"/><parm name="PROVIDER-ID" value="corp"/>
        <parm name="ADDR" value="https://mdm.corp/"/>
        <characteristic type="APPAUTH"><parm name="AAUTHLEVEL" value="CLIENT"/>
          <parm name="AAUTHTYPE" value="DIGEST"/><parm name="AAUTHDATA" value="AAEC"/>
        </characteristic>
      </characteristic></wap-provisioningdoc>"""
    (account,) = docs.parse_cp(xml)
    assert (account.server_id, account.addr, account.addr_type) == ("corp", "https://mdm.corp/",
                                                                    "URI")
    assert account.auth == (bs.AppAuth("SRVCRED", "DIGEST", "", "", b"\x00\x01\x02"),)


@pytest.mark.parametrize("xml,reason", [
    ("<wap-provisioningdoc><characteristic type='APPLICATION'><parm name='APPID' value='w7'/>"
     "<parm name='ADDR' value='x'/></characteristic></wap-provisioningdoc>", "missing_parm"),
    ("<wap-provisioningdoc><characteristic type='APPLICATION'><parm name='APPID' value='w7'/>"
     "<parm name='PROVIDER-ID' value='s'/><characteristic type='APPADDR'>"
     "<parm name='ADDR' value='x'/><characteristic type='PORT'><parm name='PORTNBR' "
     "value='70000'/></characteristic></characteristic></characteristic>"
     "</wap-provisioningdoc>", "bad_port"),
    ("<wap-provisioningdoc><characteristic type='APPLICATION'><parm name='APPID' value='w7'/>"
     "<parm name='PROVIDER-ID' value='s'/><parm name='ADDR' value='x'/>"
     "<characteristic type='APPAUTH'><parm name='AAUTHLEVEL' value='ROOT'/></characteristic>"
     "</characteristic></wap-provisioningdoc>", "bad_auth_level"),
    ("<other/>", "not_provisioning"),
    ("<wap-provisioningdoc>", "malformed_xml"),
    ('<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
     "<wap-provisioningdoc>&b;</wap-provisioningdoc>", "forbidden_dtd"),
])
def test_cp_errors(xml: str, reason: str) -> None:
    with pytest.raises(DecodeError) as err:
        docs.parse_cp(xml)
    assert err.value.reason == reason


def test_dm_roundtrip_xml_and_wbxml() -> None:
    xml = docs.build_dm_xml(ACCOUNT, device_id="IMEI:1", name="7")
    assert "<VerProto>DM/1.2</VerProto>" in xml and "./DMAcc/7/AppAuth/2/AAuthData" in xml
    expected = bs.W7Account(**{**{f: getattr(ACCOUNT, f) for f in ACCOUNT.__slots__},
                               "auth_pref": "DIGEST"})
    assert docs.parse_dm(xml) == expected
    wbxml = docs.build_dm_wbxml(ACCOUNT, device_id="IMEI:1")
    assert wbxml[:1] == b"\x03"
    assert docs.parse_dm(wbxml) == expected


def test_dm_wbxml_matches_libwbxml(libwbxml) -> None:  # type: ignore[no-untyped-def]
    xml = docs.build_dm_xml(ACCOUNT, device_id="IMEI:1")
    ours = docs.build_dm_wbxml(ACCOUNT, device_id="IMEI:1")
    assert docs.parse_dm(libwbxml.wbxml_to_xml(ours)) == docs.parse_dm(xml)


def test_dm_errors() -> None:
    with pytest.raises(DecodeError) as err:
        docs.parse_dm("<SyncML><SyncBody/></SyncML>")
    assert err.value.reason == "no_account"
    two = docs.build_dm_xml(ACCOUNT, device_id="d").replace(
        "</Add>", "<Item><Target><LocURI>./DMAcc/9/Name</LocURI></Target></Item></Add>")
    with pytest.raises(DecodeError) as err:
        docs.parse_dm(two)
    assert err.value.reason == "several_accounts"
    with pytest.raises(DecodeError) as err:
        docs.parse_dm("<Other/>")
    assert err.value.reason == "not_syncml"


# -- apply --------------------------------------------------------------------------------


def _tree():  # type: ignore[no-untyped-def]
    tree_mod = pytest.importorskip("omadm_codec.tree")
    return tree_mod.DMTree()


def test_apply_verified_dm_bootstrap() -> None:
    tree = _tree()
    doc = docs.build_dm_wbxml(ACCOUNT, device_id="IMEI:1")
    verified = bs.verify(doc, "USERPIN", bs.compute_mac(doc, "USERPIN", pin="1234"), pin="1234")
    assert bs.apply(tree, verified) == ["./DMAcc/1"]
    assert tree.get("./DMAcc/1/ServerID", "srv1").value == "srv1"
    assert tree.get("./DMAcc/1/AppID", "srv1").value == "w7"
    assert tree.get("./DMAcc/1/PrefConRef", "srv1").value == "NAP1"
    assert tree.get("./DMAcc/1/AppAddr/1/Port/1/PortNbr", "srv1").value == "443"
    acl = tree.get("./DMAcc/1?prop=ACL", "srv1").value
    assert set(acl.split("&")) == {"Delete=srv1", "Get=srv1", "Replace=srv1"}
    with pytest.raises(OmaDmError):
        tree.get("./DMAcc/1/AppAuth/1/AAuthSecret", "srv1")
    with pytest.raises(OmaDmError):
        tree.get("./DMAcc/1/ServerID", "intruder")
    (account,) = list(tree.dm_accounts())
    assert account.credentials("SRVCRED").data == b"\x02" * 16
    # A second bootstrap gets the next free name.
    assert bs.apply(tree, verified) == ["./DMAcc/2"]


def test_apply_cp_document() -> None:
    tree = _tree()
    xml = docs.build_cp_xml(ACCOUNT).encode()
    verified = bs.verify(xml, "USERNETWPIN",
                         bs.compute_mac(xml, 2, imsi=IMSI, pin="42"), imsi=IMSI, pin="42")
    assert bs.apply(tree, verified, name="corp") == ["./DMAcc/corp"]
    assert tree.get("./DMAcc/corp/AAuthPref", "srv1").value == "DIGEST"


def test_unverified_changes_nothing() -> None:
    tree = _tree()
    doc = docs.build_dm_wbxml(ACCOUNT, device_id="IMEI:1")
    failed = bs.verify(doc, "USERPIN", "0" * 40, pin="1234")
    assert not failed.ok
    with pytest.raises(AuthenticationError) as err:
        bs.apply(tree, failed)
    assert err.value.reason == "unverified"
    assert tree._find_quiet(("DMAcc",)) is None


def test_failed_apply_is_atomic() -> None:
    tree = _tree()
    doc = docs.build_dm_wbxml(ACCOUNT, device_id="IMEI:1")
    verified = bs.verify(doc, "USERPIN", bs.compute_mac(doc, 1, pin="1"), pin="1")
    bs.apply(tree, verified, name="a")
    before = tree.node_count
    with pytest.raises(OmaDmError):
        bs.apply(tree, verified, name="a")  # exists: 418, nothing half-written
    assert tree.node_count == before


def test_content_type_params() -> None:
    mac = bs.compute_mac(b"doc", "USERPIN", pin="1")
    value = bs.dm_content_type("USERPIN", mac)
    assert value == f"application/vnd.syncml.dm+wbxml; SEC=USERPIN; MAC={mac}"
    assert bs.parse_content_type(value) == ("application/vnd.syncml.dm+wbxml", "USERPIN", mac)
    assert bs.parse_content_type('Application/X; mac="ab"; sec=1') == ("application/x", "1", "ab")
    with pytest.raises(DecodeError):
        bs.parse_content_type("a/b; SEC=1; SEC=2")
    with pytest.raises(ValueError):
        bs.dm_content_type("NETWPIN", mac)  # CP naming is not a DM-profile SEC
    with pytest.raises(ValueError):
        bs.dm_content_type("USERPIN", "xyz")
    wsp = bs.cp_wsp_content_type("USERPIN", mac)
    assert wsp[:6] == bytes([0x1F, 45, 0xB6, 0x91, 0x81, 0x92]) and wsp.endswith(b"\x00")
    assert wsp[6:-1].decode() == mac


def test_dm_tnds_form() -> None:
    tnds = docs.dm_tnds(ACCOUNT, "1")
    assert tnds.startswith('<MgmtTree xmlns="syncml:dmddf1.2">')
    assert "<ACL>Delete=srv1&amp;Get=srv1&amp;Replace=srv1</ACL>" in tnds
    assert "<DDFName>urn:oma:mo:oma-dm-dmacc:1.0</DDFName>" in tnds
    plain = docs.parse_dm(docs.build_dm_xml(ACCOUNT, device_id="IMEI:1"))
    xml = docs.build_dm_xml(ACCOUNT, device_id="IMEI:1", tnds=True)
    assert "application/vnd.syncml.dmtnds+xml" in xml
    assert docs.parse_dm(xml) == plain
    wbxml = docs.build_dm_wbxml(ACCOUNT, device_id="IMEI:1", tnds=True)
    assert docs.parse_dm(wbxml) == plain
    tree = _tree()
    verified = bs.verify(wbxml, "USERPIN", bs.compute_mac(wbxml, 1, pin="77"), pin="77")
    assert bs.apply(tree, verified) == ["./DMAcc/1"]
    assert tree.get("./DMAcc/1/AppAddr/1/Addr", "srv1").value == ACCOUNT.addr


def test_dm_tnds_malformed() -> None:
    bad = docs.build_dm_xml(ACCOUNT, device_id="d", tnds=True).replace(
        "&lt;VerDTD&gt;", "&lt;Bogus/&gt;&lt;VerDTD&gt;")
    with pytest.raises(DecodeError) as err:
        docs.parse_dm(bad)
    assert err.value.reason == "bad_tnds"
