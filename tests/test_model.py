"""The typed model: equality ignores hints and quirks, IDs stay strings, data on request."""

from __future__ import annotations

import dataclasses

import pytest

from omadm_codec import DecodeError
from omadm_codec.messages import decode, encode
from omadm_codec.messages import model as m


def _header(**kw: object) -> m.SyncHdr:
    base: dict[str, object] = dict(session_id="0", msg_id="1", target=m.Target("https://s/"),
                                   source=m.Source("IMEI:1"))
    base.update(kw)
    return m.SyncHdr(**base)  # type: ignore[arg-type]


def test_every_command_class_is_named_as_its_element() -> None:
    names = {"Add", "Alert", "Atomic", "Copy", "Delete", "Exec", "Get", "Replace", "Results",
             "Sequence", "Status"}
    assert set(m.DM_COMMANDS) == names
    assert set(m.DS_COMMANDS) == {"Map", "Put", "Search", "Sync"}
    for name, cls in {**m.DM_COMMANDS, **m.DS_COMMANDS}.items():
        assert cls.__name__ == name
        assert "cmd_id" in {f.name for f in dataclasses.fields(cls)}
        assert "no_resp" in {f.name for f in dataclasses.fields(cls)}


def test_model_classes_are_slotted() -> None:
    item = m.Item()
    with pytest.raises(AttributeError):
        item.not_a_field = 1  # type: ignore[attr-defined]
    assert not hasattr(m.Message(_header()), "__dict__")


def test_hint_and_quirks_take_no_part_in_equality() -> None:
    a = m.Item(data="x", data_hint=m.DataHint.CDATA)
    b = m.Item(data="x", data_hint=m.DataHint.OPAQUE)
    assert a == b
    assert m.Message(_header(), quirks=["whitespace"]) == m.Message(_header())
    assert m.Item(data="x") != m.Item(data=b"x")
    assert m.Item(data="") != m.Item(data=None)


def test_ids_are_never_coerced() -> None:
    xml = encode(m.Message(_header(session_id="007", msg_id="0"),
                           [m.Alert(cmd_id="00", data=1201)], final=True))
    msg = decode(xml, strict=True)
    assert msg.header.session_id == "007"
    assert msg.header.msg_id == "0"
    assert msg.commands[0].cmd_id == "00"
    assert msg.commands[0] != m.Alert(cmd_id="0", data=1201)


def test_target_and_source_names() -> None:
    hdr = _header(source=m.Source("IMEI:1", "user"), target=m.Target("https://s/", "srv"))
    assert hdr.source_name == "user"
    assert hdr.target_name == "srv"


def test_data_bytes_decodes_base64_only_on_request() -> None:
    item = m.Item(meta=m.Meta(format="b64"), data="AAEC\n/w==")
    assert item.data == "AAEC\n/w=="
    assert item.data_bytes() == b"\x00\x01\x02\xff"
    assert m.Item(data="AAEC").data_bytes() == b"AAEC"
    assert m.Item(data="AAEC").data_bytes(m.Meta(format="b64")) == b"\x00\x01\x02"
    assert m.Item(data=b"\x00").data_bytes() == b"\x00"
    assert m.Item().data_bytes() is None
    with pytest.raises(ValueError):
        m.Item(meta=m.Meta(format="b64"), data="not base64!").data_bytes()


def test_code_tables_know_dm13_and_keep_unknown_codes() -> None:
    assert m.STATUS_CODES[217] == "OK with inherited ACL"
    assert 1226 in m.ALERT_CODES
    for media in ("application/vnd.syncml.dmtnds+xml", "application/vnd.syncml.dmtnds+wbxml",
                  "application/vnd.syncml.dmddf+xml", "application/vnd.syncml.dmddf+wbxml"):
        assert media in m.MEDIA_TYPES
    msg = m.Message(_header(), [
        m.Alert(cmd_id="1", data=1299),
        m.Status(cmd_id="2", msg_ref="1", cmd_ref="1", cmd="Alert", data=299),
    ])
    assert decode(encode(msg), strict=True) == msg


def test_xml_document_tree_uses_the_hardened_parser() -> None:
    doc = m.XmlDocument('<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD></MgmtTree>')
    tree = doc.tree()
    assert tree.tag == "{syncml:dmddf1.2}MgmtTree"  # type: ignore[attr-defined]
    with pytest.raises(DecodeError):
        m.XmlDocument("<a/><b/>").tree()
    with pytest.raises(DecodeError) as info:
        m.XmlDocument('<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>').tree()
    assert info.value.reason == "forbidden_dtd"


def test_xml_document_from_xml_is_canonical_and_round_trips() -> None:
    doc = m.XmlDocument.from_xml('<Foo xmlns="urn:x" a=\'1\'>\n  <b>1 &amp; 2</b>\n  <c/>\n</Foo>')
    assert doc.xml == '<Foo xmlns="urn:x" a="1"><b>1 &amp; 2</b><c/></Foo>'
    plain = m.XmlDocument.from_xml(b"<Plain><x>y</x></Plain>")
    assert plain.xml == "<Plain><x>y</x></Plain>"
    items = [m.Item(target=m.Target("./a"), data=doc), m.Item(target=m.Target("./b"), data=plain)]
    msg = m.Message(m.SyncHdr(session_id="1", msg_id="1", target=m.Target("t"),
                              source=m.Source("s")), [m.Replace(cmd_id="1", items=items)])
    assert decode(encode(msg), strict=True) == msg
    for bad in ("<a>", "<a/><b/>", '<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'):
        with pytest.raises(DecodeError):
            m.XmlDocument.from_xml(bad)


def test_iter_commands_and_statuses_for() -> None:
    from conftest import CORPUS

    msg = decode((CORPUS / "pkg2_server_mgmt.xml").read_bytes())
    flat = list(msg.iter_commands())
    assert len(flat) > len(msg.commands)
    ids = [c.cmd_id for c in flat]
    assert len(set(ids)) == len(ids)
    assert sorted(ids, key=int) == ids  # containers come before their children
    hdr = msg.statuses_for("0")
    assert [s.data for s in hdr] == [212]
    assert msg.statuses_for("0", msg_ref="9") == []
    assert msg.statuses_for("no such") == []
