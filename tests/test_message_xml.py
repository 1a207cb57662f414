"""decode/encode in XML: corpus round trips, canonical output, Data fidelity, DM 1.3, errors."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from conftest import CORPUS, CORPUS_XML, corpus_ids

from omadm_codec import DecodeError, EncodeError
from omadm_codec.limits import Limits
from omadm_codec.messages import command_size, decode, encode, encoded_size
from omadm_codec.messages import model as m

NS = b'xmlns="SYNCML:SYNCML1.2"'


def wrap(body: str, *, header_extra: str = "", ver_proto: str = "DM/1.2",
         root: str = '<SyncML xmlns="SYNCML:SYNCML1.2">', prolog: str = "") -> bytes:
    """A small message, one element per line (so line-based offsets are meaningful)."""
    return "\n".join([
        prolog + root, "<SyncHdr>", "<VerDTD>1.2</VerDTD>", f"<VerProto>{ver_proto}</VerProto>",
        "<SessionID>1</SessionID>", "<MsgID>1</MsgID>",
        "<Target><LocURI>https://dm.example/</LocURI></Target>",
        "<Source><LocURI>IMEI:1</LocURI></Source>", header_extra, "</SyncHdr>", "<SyncBody>",
        body, "<Final/>", "</SyncBody>", "</SyncML>",
    ]).encode("utf-8")


@pytest.mark.parametrize("path", CORPUS_XML, ids=corpus_ids())
def test_corpus_round_trip_strict(path: Path) -> None:
    msg = decode(path.read_bytes(), strict=True)
    assert msg.quirks == []
    xml = encode(msg)
    again = decode(xml, strict=True)
    assert again == msg
    assert encode(again) == xml  # canonical: same model, same bytes
    assert encoded_size(msg) == len(xml)
    assert decode(xml, "application/vnd.syncml.dm+xml; charset=utf-8") == msg


@pytest.mark.parametrize("path", CORPUS_XML, ids=corpus_ids())
def test_command_sizes_add_up(path: Path) -> None:
    msg = decode(path.read_bytes())
    empty = m.Message(msg.header, [], final=msg.final)
    assert encoded_size(msg) == encoded_size(empty) + sum(command_size(c) for c in msg.commands)


def test_corpus_content_is_read() -> None:
    msg = decode((CORPUS / "pkg2_server_mgmt.xml").read_bytes())
    status = msg.commands[0]
    assert isinstance(status, m.Status)
    assert (status.cmd_ref, status.cmd, status.data) == ("0", "SyncHdr", 212)
    assert status.chal is not None and status.chal.meta.next_nonce == "eVTkScYJiSnfU57W936B6Q=="
    assert msg.header.cred is not None and msg.header.cred.meta is not None
    assert msg.header.cred.meta.type == "syncml:auth-md5"
    assert msg.header.meta == m.Meta(max_msg_size=65536)
    assert any(isinstance(c, m.Atomic) for c in msg.commands)
    assert any(isinstance(c, m.Sequence) for c in msg.commands)
    ids = [c.cmd_id for c in msg.commands]
    assert ids == sorted(ids, key=int)  # order kept exactly

    alert = decode((CORPUS / "generic_alert_1226.xml").read_bytes()).commands[1]
    assert isinstance(alert, m.Alert)
    assert (alert.data, alert.correlator) == (1226, "fw-0913-x7")
    assert alert.items[0].meta == m.Meta(
        format="int", type="org.openmobilealliance.dm.firmwareupdate.downloadandupdate",
        mark="critical")

    win = decode((CORPUS / "windows_pkg1.xml").read_bytes())
    assert win.header.session_id == "1"
    assert win.header.source.loc_uri == "3C9E51A07B2D4F6E8A1B5C0D2E7F9A34"
    dm11 = decode((CORPUS / "bootstrap_dm11.xml").read_bytes(), strict=True)
    assert (dm11.header.ver_dtd, dm11.header.ver_proto) == ("1.1", "DM/1.1")
    assert encode(dm11).startswith(b'<?xml version="1.0" encoding="UTF-8"?>'
                                   b'<SyncML xmlns="SYNCML:SYNCML1.1">')


def test_data_kinds_and_hints_from_the_corpus() -> None:
    msg = decode((CORPUS / "cdata_data.xml").read_bytes())
    atomic = msg.commands[1]
    assert isinstance(atomic, m.Atomic)
    cdata_item = atomic.commands[1].items[0]  # type: ignore[union-attr]
    assert cdata_item.data_hint is m.DataHint.CDATA
    assert isinstance(cdata_item.data, str) and cdata_item.data.startswith("<WLANProfile")
    assert "Depot &amp; Yard" in cdata_item.data  # CDATA content is literal
    escaped = msg.commands[2].items[0]  # type: ignore[union-attr]
    assert escaped.data == "<https://wiki.example.org><https://status.example.org>"
    assert escaped.data_hint is m.DataHint.TEXT
    out = encode(msg)
    assert b"<![CDATA[<WLANProfile" in out
    assert b"<Data>&lt;https://wiki.example.org&gt;" in out

    tnds = decode((CORPUS / "tnds_embedded.xml").read_bytes()).commands[2]
    item = tnds.items[0]  # type: ignore[union-attr]
    assert item.data_hint is m.DataHint.MARKUP
    assert isinstance(item.data, m.XmlDocument)
    assert item.data.xml.startswith('<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD>')
    assert "Get=dm.example.net&amp;Replace=dm.example.net" in item.data.xml

    ui = decode((CORPUS / "ui_alerts.xml").read_bytes())
    empty = ui.commands[-1].commands[0].items[0]  # type: ignore[union-attr]
    assert empty.data == ""  # an empty <Data></Data> is kept, not dropped


def test_cdata_split_and_special_characters() -> None:
    texts = ["a]]>b", "]]>", "x]]]>y", "line\r\nbreak", " lead and trail ", "tab\tq\"'<&>"]
    for text in texts:
        for hint in (m.DataHint.CDATA, m.DataHint.TEXT):
            item = m.Item(target=m.Target("./a"), data=text, data_hint=hint)
            msg = m.Message(_hdr(), [m.Replace(cmd_id="1", items=[item])])
            back = decode(encode(msg), strict=True)
            assert back == msg, (text, hint)
    out = encode(m.Message(_hdr(), [m.Replace(cmd_id="1", items=[
        m.Item(data="a]]>b", data_hint=m.DataHint.CDATA)])]))
    assert b"<![CDATA[a]]]]><![CDATA[>b]]>" in out


def _hdr() -> m.SyncHdr:
    return m.SyncHdr(session_id="1", msg_id="1", target=m.Target("t"), source=m.Source("s"))


def test_bytes_data_and_text_xml_cannot_carry() -> None:
    raw = bytes(range(256))
    msg = m.Message(_hdr(), [m.Replace(cmd_id="1", items=[m.Item(data=raw)])])
    out = encode(msg)
    assert (b'<Data xmlns:wbxml="urn:omadm-codec:wbxml" wbxml:opaque="base64">'
            + base64.b64encode(raw) + b"</Data>") in out
    back = decode(out, strict=True)
    assert back == msg
    assert back.commands[0].items[0].data_hint is m.DataHint.OPAQUE  # type: ignore[union-attr]
    # Valid UTF-8 bytes stay bytes only under Format bin (OPAQUE is bytes only when binary).
    utf8 = m.Message(_hdr(), [m.Replace(cmd_id="1", meta=m.Meta(format="bin"),
                                        items=[m.Item(data=b"plain")])])
    assert decode(encode(utf8)) == utf8
    as_text = decode(encode(m.Message(_hdr(), [m.Replace(cmd_id="1", items=[
        m.Item(data=b"plain")])])))
    assert as_text.commands[0].items[0].data == "plain"  # type: ignore[union-attr]
    # Text with characters XML 1.0 cannot carry travels as OPAQUE and comes back as text.
    odd = m.Message(_hdr(), [m.Replace(cmd_id="1", items=[m.Item(data="a\x00b\x1f\ufffe")])])
    assert decode(encode(odd), strict=True) == odd


def test_every_meta_element_round_trips() -> None:
    meta = m.Meta(field_level=True, format="b64", type="application/vnd.syncml.dmtnds+xml",
                  mark="critical", size=0, anchor=m.Anchor(next="2", last="1"), version="1.0",
                  next_nonce="Tm9uY2U=", max_msg_size=16384, max_obj_size=1048576,
                  emi=["a", "b"], mem=m.Mem(free_mem="10", free_id="2", shared_mem=True))
    msg = m.Message(_hdr(), [m.Get(cmd_id="1", meta=meta, items=[m.Item(target=m.Target("./x"))])])
    out = encode(msg)
    assert out.count(b'xmlns="syncml:metinf"') == 13  # 11 elements + 2 EMI
    assert decode(out, strict=True) == msg


def test_unknown_metinf_elements_are_kept() -> None:
    data = wrap('<Get><CmdID>1</CmdID><Meta><Format xmlns="syncml:metinf">chr</Format>'
                '<Vendor xmlns="urn:acme"><x a="1">v</x></Vendor></Meta>'
                "<Item><Target><LocURI>./a</LocURI></Target></Item></Get>")
    msg = decode(data, strict=True)
    meta = msg.commands[0].meta  # type: ignore[union-attr]
    assert meta is not None and meta.format == "chr"
    assert meta.extra == [m.MetaExtra("Vendor", '<Vendor xmlns="urn:acme"><x a="1">v</x></Vendor>')]
    assert decode(encode(msg), strict=True) == msg


def test_dm13_header_and_items() -> None:
    item = m.Item(target=m.Target("./A/B"), source=m.Source("./C"), source_parent="./C",
                  target_parent="./A", data="v", more_data=True)
    msg = m.Message(
        m.SyncHdr(session_id="1", msg_id="1", target=m.Target("t"), source=m.Source("s"),
                  ver_proto="DM/1.3", resp_uri="https://r/", no_resp=True),
        [m.Add(cmd_id="1", items=[item]),
         m.Exec(cmd_id="2", correlator="c-1", items=[m.Item(target=m.Target("./E"))]),
         m.Status(cmd_id="3", msg_ref="1", cmd_ref="", cmd="Get", data=217,
                  target_refs=["./a", "./b"], source_refs=["./c"])],
        final=True)
    out = encode(msg)
    assert b"<VerDTD>1.2</VerDTD><VerProto>DM/1.3</VerProto>" in out
    assert decode(out, strict=True) == msg


def test_results_and_nesting() -> None:
    inner = m.Sequence(cmd_id="3", commands=[
        m.Alert(cmd_id="4", data=1101, items=[m.Item(data=""), m.Item(data="Sure?")]),
        m.Delete(cmd_id="5", items=[m.Item(target=m.Target("./x"))])])
    msg = m.Message(_hdr(), [
        m.Atomic(cmd_id="2", meta=m.Meta(type="t"), commands=[inner]),
        m.Results(cmd_id="6", cmd_ref="5", msg_ref="1", meta=m.Meta(format="chr"),
                  target_ref="./t", source_ref="./s", items=[m.Item(source=m.Source("./s"),
                                                                    data="1")]),
        m.Copy(cmd_id="7", no_resp=True, items=[m.Item(target=m.Target("./b"),
                                                        source=m.Source("./a"))]),
    ], final=False)
    out = encode(msg)
    assert b"<Final/>" not in out
    assert decode(out, strict=True) == msg


@pytest.mark.parametrize(("msg", "reason"), [
    (m.Message(m.SyncHdr(session_id=0, msg_id="1", target=m.Target("t"),  # type: ignore[arg-type]
                         source=m.Source("s"))), "bad_id"),
    (m.Message(m.SyncHdr(session_id="", msg_id="1", target=m.Target("t"),
                         source=m.Source("s"))), "bad_id"),
    (m.Message(m.SyncHdr(session_id="a b", msg_id="1", target=m.Target("t"),
                         source=m.Source("s"))), "bad_id"),
    (m.Message(m.SyncHdr(session_id="1", msg_id="1", target=m.Target("t"),
                         source=m.Source("s"), ver_dtd="2.0")), "bad_version"),
    (m.Message(_hdr(), [m.Alert(cmd_id="1", data="1201")]), "bad_code"),  # type: ignore[arg-type]
    (m.Message(_hdr(), [m.Get(cmd_id="1")]), "missing_element"),
    (m.Message(_hdr(), [m.Get(cmd_id="1", items=[m.Item(target=m.Target(" ./a"))])]),
     "bad_value"),
    (m.Message(_hdr(), [m.Get(cmd_id="1", items=[m.Item(target=m.Target("./\x00"))])]),
     "invalid_char"),
    (m.Message(_hdr(), [m.Replace(cmd_id="1", items=[m.Item(data="\ud800")])]), "invalid_char"),
    (m.Message(_hdr(), ["Get"]), "bad_value"),  # type: ignore[list-item]
])
def test_encode_rejects_bad_models(msg: m.Message, reason: str) -> None:
    with pytest.raises(EncodeError) as info:
        encode(msg)
    assert info.value.reason == reason


def test_encode_rejects_unknown_format() -> None:
    with pytest.raises(EncodeError) as info:
        encode(m.Message(_hdr()), "json")  # type: ignore[arg-type]
    assert info.value.reason == "bad_format"


@pytest.mark.parametrize(("data", "reason", "marker"), [
    (wrap("<Get><CmdID>1</CmdID></Get>"), "missing_element", b"<Get>"),
    (wrap("<Status><CmdID>1</CmdID><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>200</Data>"
          "</Status>"), "missing_element", b"<Status>"),
    (wrap("<Get><CmdID>1</CmdID><CmdID>2</CmdID>"
          "<Item><Target><LocURI>./a</LocURI></Target></Item></Get>"),
     "duplicate_element", b"<CmdID>2"),
    (wrap("<Get><CmdID>1</CmdID><Bogus/></Get>"), "unexpected_element", b"<Bogus/>"),
    (wrap("<Frobnicate><CmdID>1</CmdID></Frobnicate>"), "unexpected_element", b"<Frobnicate>"),
    (wrap("<Alert><CmdID>1</CmdID><Data>12x1</Data></Alert>"), "bad_code", b"<Data>12x1"),
    (wrap("<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd>"
          "<Data></Data></Status>"), "empty_data", b"<Data></Data>"),
    (wrap("<Alert><CmdID>1</CmdID>stray<Data>1201</Data></Alert>"), "unexpected_text",
     b"<CmdID>1</CmdID>stray"),
    (wrap('<Alert x="1"><CmdID>1</CmdID><Data>1201</Data></Alert>'), "unexpected_attribute",
     b"<Alert"),
    (wrap("<Alert><CmdID>a b</CmdID><Data>1201</Data></Alert>"), "bad_id", b"<CmdID>a b"),
    (wrap("", header_extra="<Meta><MaxMsgSize xmlns='syncml:metinf'>big</MaxMsgSize></Meta>"),
     "bad_number", b"<MaxMsgSize"),
    (wrap("", ver_proto="XX/1"), "bad_version", b"<SyncHdr>"),
    (wrap("", root='<SyncML xmlns="urn:other">'), "bad_namespace", b"<SyncML"),
    (wrap("").replace(b"SyncML", b"SyncMX"), "not_syncml", b"<SyncMX"),
    (wrap("<Alert><CmdID>1</CmdID><Data>1201</Data></Alert>").replace(b"</SyncBody>", b""),
     "malformed_xml", None),
])
def test_structural_errors(data: bytes, reason: str, marker: bytes | None) -> None:
    for strict in (False, True):
        with pytest.raises(DecodeError) as info:
            decode(data, strict=strict)
        assert info.value.reason == reason
        if marker is not None:
            # Exact: the start tag of the offending element, not just its line.
            assert info.value.offset == data.index(marker)


def test_content_types_and_sniffing() -> None:
    data = (CORPUS / "ui_alerts.xml").read_bytes()
    assert decode(data, "application/vnd.syncml+xml").quirks == ["ds_media_type"]
    with pytest.raises(DecodeError) as info:
        decode(data, "text/html")
    assert info.value.reason == "unsupported_content_type"
    assert decode(data, "application/vnd.syncml.dm+wbxml").quirks == ["content_type_mismatch"]
    with pytest.raises(DecodeError) as info:
        decode(data, "application/vnd.syncml.dm+wbxml", strict=True)
    assert info.value.reason == "content_type_mismatch"
    with pytest.raises(TypeError):
        decode("<SyncML/>")  # type: ignore[arg-type]


def test_limits() -> None:
    data = (CORPUS / "pkg2_server_mgmt.xml").read_bytes()
    with pytest.raises(DecodeError) as info:
        decode(data, limits=Limits(max_input_size=1000))
    assert (info.value.reason, info.value.offset) == ("too_large", 1000)
    big = (CORPUS / "large_object_b64.xml").read_bytes()
    assert decode(big, limits=Limits(max_opaque=300_000)).commands
    with pytest.raises(DecodeError) as info:
        decode(big, limits=Limits(max_opaque=100_000))
    assert info.value.reason == "too_large"
    raw = encode(m.Message(_hdr(), [m.Replace(cmd_id="1", items=[m.Item(data=b"\xff" * 2000)])]))
    with pytest.raises(DecodeError) as info:
        decode(raw, limits=Limits(max_opaque=1000))
    assert info.value.reason == "too_large"
    with pytest.raises(DecodeError) as info:
        decode(data, limits=Limits(max_elements=50))
    assert info.value.reason == "too_many_elements"
    nested = m.Atomic(cmd_id="1", commands=[m.Delete(cmd_id="2", items=[m.Item(
        target=m.Target("./a"))])])
    for depth in range(3, 8):
        nested = m.Sequence(cmd_id=str(depth), commands=[nested])
    xml = encode(m.Message(_hdr(), [nested]))
    assert decode(xml).commands == [nested]
    with pytest.raises(DecodeError) as info:
        decode(xml, limits=Limits(max_depth=4))
    assert info.value.reason == "too_deep"
