"""Foreign XML inside <Data> (Windows CSP payloads as markup) through WBXML, on both twins.

Fixtures are written here in the shapes Microsoft's CSP documentation and open MDM servers
use (an MSI install job, ADMX policy ``<enabled/><data .../>``, DeviceInstallation's
``<Data id=... value=...>``, a nested SettingsPack ``<SyncML>``, a DynamicManagement rule, a
WLAN profile in its own namespace), so that none of this needs ../shared.

What is checked: ``encode(msg, "wbxml")`` writes such a Data as one OPAQUE holding the
markup's text followed by an empty inline string (the marker) and decodes back to an equal
model (``XmlDocument``, hint MARKUP) in strict mode; the token writers give the reference
path's bytes; ``wbxml_to_xml`` writes the markup back under ``wbxml:opaque="markup"`` and
``xml_to_wbxml`` turns that into the same bytes; the same payload escaped or in CDATA stays
text (a different model); libwbxml reads the Data as the markup's text; hostile OPAQUE behind
the marker never becomes markup (never injected into the XML) and cannot bust the limits.
"""

from __future__ import annotations

import pytest
from conftest import Backend
from test_message_wbxml import use

from omadm_codec import DecodeError, EncodeError, Limits
from omadm_codec.messages import decode, encode
from omadm_codec.messages import model as m
from omadm_codec.messages._fast_tokens import reference_encode_wbxml

HEAD = ('<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2'
        "</VerProto><SessionID>7</SessionID><MsgID>2</MsgID><Target><LocURI>device-1</LocURI>"
        "</Target><Source><LocURI>https://mdm.example.com/dm</LocURI></Source></SyncHdr>"
        "<SyncBody>")
TAIL = "<Final/></SyncBody></SyncML>"


def item(cmd: str, uri: str, data: str, meta: str = "") -> str:
    return (f"<{cmd}><CmdID>4</CmdID><Item><Target><LocURI>{uri}</LocURI></Target>{meta}"
            f"<Data>{data}</Data></Item></{cmd}>")


def fmt(value: str, typ: str = "") -> str:
    type_el = f'<Type xmlns="syncml:metinf">{typ}</Type>' if typ else ""
    return f'<Meta><Format xmlns="syncml:metinf">{value}</Format>{type_el}</Meta>'


MSI = ('\n  <MsiInstallJob id="{9BD4F7CD-880A-40B5-B74C-1BEECB51E596}">\n'
       '    <Product Version="1.0.0"><Download><ContentURLList>\n'
       "      <ContentURL>\n        http://dp.example.com/apps/reboot.msi\n      </ContentURL>\n"
       "      <ContentURL>https://dp2.example.com/packages/app.msi</ContentURL>\n"
       "    </ContentURLList></Download>\n"
       "    <Validation><FileHash>134D8F1F7C3C036DC3DCDA9F97515C8C7951DB15</FileHash>"
       "</Validation>\n    <Enforcement><CommandLine>/quiet</CommandLine><TimeOut>5</TimeOut>"
       "<RetryCount>3</RetryCount></Enforcement></Product>\n  </MsiInstallJob>\n")
ADMX = '<enabled/><data id="Publishing_Server2_Name_Prompt" value="name &amp; prompt"/>'
DEVICE_INSTALL = ('<enabled/><Data id="DeviceInstall_IDs_Allow_List" '
                  'value="1&#xF000;USB\\Composite&#xF000;2&#xF000;USB\\Class_FF"/>')
SETTINGS_PACK = ("<SyncML>\n  <SyncBody><Replace><CmdID>1001</CmdID><Item><Target><LocURI>"
                 "./Vendor/MSFT/Policy/Config/Experience/AllowCortana</LocURI></Target>"
                 '<Meta><Format xmlns="syncml:metinf">int</Format></Meta><Data>0</Data>'
                 "</Item></Replace><Final/></SyncBody></SyncML>")
RULE = ('\n  <rule schemaVersion="1.0">\n   <and>\n    <signal type="geoloc" latitude="47.6375" '
        'longitude="-122.1402" radiusInMeters="100"/>\n    <signal type="time">'
        '<daily startTime="09:00:00" endTime="17:00:00"/></signal>\n   </and>\n  </rule>\n')
WLAN = ('<WLANProfile xmlns="http://www.microsoft.com/networking/WLAN/profile/v1">'
        "<name>Office</name><SSIDConfig><SSID><name>Office &amp; Lab</name></SSID>"
        "</SSIDConfig><connectionType>ESS</connectionType></WLANProfile>")
APP = '<Application id="{ProductID}" flags="0" skuid=" " />'
NO_NS = '<x xmlns=""><y a="1">t</y></x><z/>'

PAYLOADS = {
    "msi_exec": item("Exec", "./Device/Vendor/MSFT/EnterpriseDesktopAppManagement/MSI/"
                     "%7B1803A630%7D/DownloadInstall", MSI, fmt("xml", "text/plain")),
    "admx_replace": item("Replace", "./Device/Vendor/MSFT/Policy/Config/AppVirtualization/"
                         "PublishingAllowServer2", ADMX, fmt("chr")),
    "device_install": item("Replace", "./Device/Vendor/MSFT/Policy/Config/DeviceInstallation/"
                           "AllowInstallationOfMatchingDeviceIDs", DEVICE_INSTALL,
                           fmt("string")),
    "settings_pack": item("Replace", "./Vendor/MSFT/DynamicManagement/Contexts/Bldg109/"
                          "SettingsPack", SETTINGS_PACK, fmt("chr", "text/plain")),
    "rule_add": item("Add", "./Vendor/MSFT/DynamicManagement/Contexts/Bldg109/"
                     "SignalDefinition", RULE, fmt("chr", "text/plain")),
    "wlan_add": item("Add", "./Vendor/MSFT/WiFi/Profile/Office/WlanXml", WLAN, fmt("chr")),
    "app_results": ("<Results><CmdID>5</CmdID><MsgRef>1</MsgRef><CmdRef>4</CmdRef><Item>"
                    "<Source><LocURI>./User/Vendor/MSFT/App</LocURI></Source>"
                    f"<Data>{APP}</Data></Item></Results>"),
    "no_namespace_status": ("<Status><CmdID>6</CmdID><MsgRef>1</MsgRef><CmdRef>4</CmdRef>"
                            f"<Cmd>Get</Cmd><Data>200</Data><Item><Data>{NO_NS}</Data></Item>"
                            "</Status>"),
    "in_atomic": ("<Atomic><CmdID>8</CmdID>" + item("Replace", "./Vendor/x", ADMX) + "</Atomic>"),
}


def message(body: str) -> bytes:
    return (HEAD + body + TAIL).encode()


def markup_items(msg: m.Message) -> list[m.Item]:
    return [i for c in msg.iter_commands() for i in getattr(c, "items", [])
            if isinstance(i.data, m.XmlDocument)]


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_markup_survives_wbxml(backend: Backend, name: str) -> None:
    msg = decode(message(PAYLOADS[name]), strict=True)
    found = markup_items(msg)
    assert found and all(i.data_hint is m.DataHint.MARKUP for i in found)
    with use(backend):
        wbxml = encode(msg, "wbxml")
        back = decode(wbxml, strict=True)
        assert back == msg
        assert [i.data_hint for i in markup_items(back)] == [m.DataHint.MARKUP] * len(found)
        assert encode(back, "wbxml") == wbxml  # stable
        # The token writer (no XML in between) gives the reference path's bytes.
        assert backend.encode_wbxml_tokens(msg) == wbxml
        assert reference_encode_wbxml(msg, backend.xml_to_wbxml) == wbxml
        # The XML hub: the markup under the marker, and back to the same bytes.
        hub = backend.wbxml_to_xml(wbxml)
        assert b'wbxml:opaque="markup"' in hub
        assert backend.xml_to_wbxml(hub, keep_whitespace=True) == wbxml
    for doc in found:
        assert isinstance(doc.data, m.XmlDocument)
        text = doc.data.xml.encode()
        # On the wire: Data (content bit), OPAQUE holding the markup's text, 03 00, END.
        assert b"\x4f\xc3" in wbxml and text + b"\x03\x00\x01" in wbxml


def test_wire_shape_of_one_payload(backend: Backend) -> None:
    msg = decode(message(item("Exec", "./x", APP)))
    text = b'<Application id="{ProductID}" flags="0" skuid=" "/>'
    with use(backend):
        wbxml = encode(msg, "wbxml")
    assert bytes([0x4F, 0xC3, len(text)]) + text + b"\x03\x00\x01" in wbxml


@pytest.mark.parametrize("wrap", ["cdata", "escaped"])
def test_the_same_payload_as_text_stays_text(backend: Backend, wrap: str) -> None:
    """``<![CDATA[<enabled/>...]]>`` and ``&lt;enabled/&gt;...`` are text, markup is not:
    three different models, each equal to itself after WBXML."""
    raw = decode(message(item("Replace", "./Vendor/p", ADMX)))
    payload = raw.commands[0].items[0].data  # type: ignore[union-attr]
    assert isinstance(payload, m.XmlDocument)
    body = (f"<![CDATA[{payload.xml}]]>" if wrap == "cdata" else
            payload.xml.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
    msg = decode(message(item("Replace", "./Vendor/p", body)))
    data = msg.commands[0].items[0].data  # type: ignore[union-attr]
    assert data == payload.xml and msg != raw
    with use(backend):
        back = decode(encode(msg, "wbxml"), strict=True)
    assert back == msg and back.commands[0].items[0].data == payload.xml  # type: ignore


def test_libwbxml_reads_the_markup_as_its_text(backend: Backend, libwbxml: object) -> None:
    from lxml import etree

    msg = decode(message(PAYLOADS["admx_replace"] + PAYLOADS["app_results"]))
    with use(backend):
        wbxml = encode(msg, "wbxml")
    root = etree.fromstring(libwbxml.wbxml_to_xml(wbxml))  # type: ignore[attr-defined]
    texts = [d.text for d in root.iter("{SYNCML:SYNCML1.2}Data") if d.text and "<" in d.text]
    # Replace: CDATA (opaque class); Results: escaped text. Either way the markup's text.
    assert texts == [i.data.xml for i in markup_items(msg)]  # type: ignore[union-attr]


def test_markup_in_a_message_of_version_1_1(backend: Backend) -> None:
    body = HEAD.replace("1.2", "1.1") + PAYLOADS["msi_exec"] + TAIL
    msg = decode(body.encode(), strict=True)
    assert msg.header.ver_dtd == "1.1"
    with use(backend):
        assert decode(encode(msg, "wbxml"), strict=True) == msg


def test_tnds_mgmttree_under_1_1_travels_as_text(backend: Backend) -> None:
    # libwbxml has no DDF code page for SyncML 1.1 (its error 101): not a nested document
    # there, so the tree travels as its text instead of failing.
    tree = ('<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD><Node><NodeName>a'
            "</NodeName></Node></MgmtTree>")
    body = HEAD.replace("1.2", "1.1").replace("DM/1.1", "DM/1.2") + item("Replace", "./a", tree)
    msg = decode((body + TAIL).encode())
    with use(backend):
        assert decode(encode(msg, "wbxml"), strict=True) == msg


# -- the hub: what wbxml_to_xml makes of OPAQUE + marker, and xml_to_wbxml of the marker ----

SYNCML = b"\x03\xa4\x01\x6a\x00"  # WBXML 1.3, SyncML 1.2, UTF-8, no string table


def data_doc(content: bytes, command: int = 0x60) -> bytes:
    """<SyncML><SyncBody><command><Item><Data>content</Data></Item></command></SyncBody>."""
    return (SYNCML + b"\x6d\x6b" + bytes([command]) + b"\x54\x4f" + content
            + b"\x01\x01\x01\x01\x01")


def opaque(raw: bytes) -> bytes:
    length = [len(raw) & 0x7F]
    rest = len(raw) >> 7
    while rest:
        length.insert(0, 0x80 | (rest & 0x7F))
        rest >>= 7
    return b"\xc3" + bytes(length) + raw


@pytest.mark.parametrize("raw", [
    b"just text", b"<a>", b"</Data></Item></Add><Add><a/>", b"<p:a/>", b"<a>&ent;</a>",
    b"<!DOCTYPE a><a/>", b'<?xml version="1.0"?><a/>', b"<a>]]></a>", b"<a\xff/>",
    b"<a b='1' b='2'/>", b'<a xmlns:p=""/>', b"<a\x01/>", b"",
])
def test_marker_on_bytes_that_are_not_markup(backend: Backend, raw: bytes) -> None:
    """Behind the marker, anything but markup that stands alone is written as the OPAQUE it
    is (never copied into the XML as markup)."""
    wbxml = data_doc(opaque(raw) + b"\x03\x00")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = "\x01"
    if "\x01" in text:
        # Binary: only a Data's whole content may be (base64 on the hub), and it is not.
        with pytest.raises(DecodeError) as info:
            backend.wbxml_to_xml(wbxml)
        assert (info.value.reason, info.value.offset) == ("invalid_text", len(SYNCML) + 5)
        return
    out = backend.wbxml_to_xml(wbxml)
    assert out == backend.wbxml_to_xml(data_doc(opaque(raw)))
    assert b"markup" not in out


def test_marker_needs_the_data_as_its_whole_content(backend: Backend) -> None:
    raw = b"<a/>"
    for content in (b"\x03x\x00" + opaque(raw) + b"\x03\x00",   # text first
                    opaque(raw) + b"\x03\x00\x03y\x00",           # more after the marker
                    opaque(raw) + b"\x03z\x00"):                   # not an empty string
        assert b"markup" not in backend.wbxml_to_xml(data_doc(content))
    # Only in a SyncML Data: in CmdID it is text.
    cmd_id = SYNCML + b"\x6d\x6b\x60\x4b" + opaque(raw) + b"\x03\x00\x01\x01\x01\x01"
    assert b"<CmdID>&lt;a/&gt;</CmdID>" in backend.wbxml_to_xml(cmd_id)


def test_markup_counts_towards_the_limits(backend: Backend) -> None:
    deep = b"<a>" * 60 + b"</a>" * 60
    wbxml = data_doc(opaque(deep) + b"\x03\x00")
    where = len(SYNCML) + 5  # the OPAQUE token
    with pytest.raises(DecodeError) as info:
        backend.wbxml_to_xml(wbxml)
    assert (info.value.reason, info.value.offset) == ("too_deep", where)
    many = b"<a/>" * 50
    wbxml = data_doc(opaque(many[:124]) + b"\x03\x00")
    with pytest.raises(DecodeError) as info:
        backend.wbxml_to_xml(wbxml, limits=Limits(max_elements=30))
    assert (info.value.reason, info.value.offset) == ("too_many_elements", where)
    assert b"<a/>" * 31 in backend.wbxml_to_xml(wbxml, limits=Limits(max_elements=40))


def test_marker_in_indent_mode(backend: Backend) -> None:
    out = backend.wbxml_to_xml(data_doc(opaque(b"<a>x</a>") + b"\x03\x00"), indent=2)
    assert b'wbxml:opaque="markup"><a>x</a></Data>' in out


MARKED = b'<Data xmlns:wbxml="urn:omadm-codec:wbxml" wbxml:opaque="markup">'


def xml_doc(data: bytes, root_extra: bytes = b"") -> bytes:
    return (b'<SyncML xmlns="SYNCML:SYNCML1.2"' + root_extra + b"><SyncHdr><VerDTD>1.2</VerDTD>"
            b"</SyncHdr><SyncBody><Exec><CmdID>1</CmdID><Item>" + data
            + b"</Item></Exec></SyncBody></SyncML>")


def test_xml_to_wbxml_writes_the_marked_data_verbatim(backend: Backend) -> None:
    content = b'\n <job  id="1"><![CDATA[x<y]]><!-- c --><n>&amp;&#65;</n></job>\n'
    for string_table in (False, True):
        out = backend.xml_to_wbxml(xml_doc(MARKED + content + b"</Data>"),
                                   string_table=string_table)
        assert b"\x4f\xc3" + bytes([len(content)]) + content + b"\x03\x00\x01" in out


@pytest.mark.parametrize("data,reason", [
    (MARKED + b"text only</Data>", "bad_markup"),
    (MARKED + b"</Data>", "bad_markup"),
    (MARKED + b"<p:a/></Data>", "bad_markup"),   # p is declared outside the Data
    (b'<LocURI xmlns:wbxml="urn:omadm-codec:wbxml" wbxml:opaque="markup"><a/></LocURI>',
     "unknown_attribute"),
])
def test_marked_data_that_cannot_travel(backend: Backend, data: bytes, reason: str) -> None:
    xml = xml_doc(data, b' xmlns:p="urn:p"')
    with pytest.raises(EncodeError) as info:
        backend.xml_to_wbxml(xml)
    assert info.value.reason == reason
    assert info.value.offset == xml.index(data[:5], len(b"<SyncML"))


def test_reader_takes_the_marker_from_xml_too() -> None:
    xml = message(item("Exec", "./x", "")).replace(
        b"<Data></Data>", MARKED + APP.encode() + b"</Data>")
    msg = decode(xml, strict=True)
    data = msg.commands[0].items[0].data  # type: ignore[union-attr]
    assert data == m.XmlDocument('<Application id="{ProductID}" flags="0" skuid=" "/>')


def test_model_markup_that_cannot_travel_is_an_encode_error(backend: Backend) -> None:
    base = decode(message(item("Exec", "./x", APP)))
    # (The hub's own marker prefix is bound around the Data, not inside the markup.)
    for bad, reason in (("<a>", "malformed_xml"), ("<p:a/>", "malformed_xml"),
                        ("<wbxml:a/>", "bad_markup")):
        base.commands[0].items[0].data = m.XmlDocument(bad)  # type: ignore[union-attr]
        with use(backend), pytest.raises(EncodeError) as info:
            encode(base, "wbxml")
        assert info.value.reason == reason


def test_unknown_metinf_children_never_change_silently(backend: Backend) -> None:
    """A MetInf child this codec does not know (``MetaExtra``) goes into WBXML only if the
    encoder can write it as what it is: SyncML elements of the SyncML namespace. A name a
    code page knows, in another namespace, would come back as that other element: refused."""
    meta = ('<Meta><Format xmlns="syncml:metinf">chr</Format>'
            '<Format xmlns="urn:x">int</Format><CmdID>7</CmdID></Meta>')
    msg = decode(message(item("Replace", "./a", "1", meta)), strict=True)
    extras = msg.commands[0].items[0].meta.extra  # type: ignore[union-attr]
    assert [e.name for e in extras] == ["Format", "CmdID"]
    with use(backend), pytest.raises(EncodeError) as info:
        encode(msg, "wbxml")
    assert info.value.reason == "unknown_element"
    extras.pop(0)  # the SyncML-namespace CmdID alone travels and comes back equal
    with use(backend):
        assert decode(encode(msg, "wbxml"), strict=True) == msg
