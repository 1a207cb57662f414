"""Each lenient quirk: decoded leniently with its code in ``msg.quirks``, rejected strictly."""

from __future__ import annotations

import pytest
from test_message_xml import wrap

from omadm_codec import DecodeError, EncodeError
from omadm_codec.messages import QUIRKS, decode, encode
from omadm_codec.messages import model as m

ALERT = "<Alert><CmdID>1</CmdID><Data>1201</Data></Alert>"
GET_META = ("<Get><CmdID>2</CmdID><Meta>{meta}</Meta>"
            "<Item><Target><LocURI>./a</LocURI></Target></Item></Get>")

# (quirk code, input, marker of the line the strict error points at (None: offset given),
#  a check of the lenient result)
CASES = [
    ("namespace_case", wrap(ALERT, root='<SyncML xmlns="syncml:syncml1.2">'), b"<SyncML",
     lambda msg: msg.header.ver_dtd == "1.2"),
    ("namespace_missing", wrap(ALERT, root="<SyncML>"), b"<SyncML",
     lambda msg: msg.commands[0].data == 1201),
    ("metinf_namespace", wrap(GET_META.format(meta="<Format>chr</Format>")),
     b"<Format>", lambda msg: msg.commands[0].meta.format == "chr"),
    ("metinf_namespace", wrap(GET_META.format(
        meta='<Format xmlns="syncml:metinf1.2">chr</Format>')),
     b"<Format", lambda msg: msg.commands[0].meta.format == "chr"),
    ("metinf_namespace", wrap(GET_META.format(meta="<Format>chr</Format>").replace(
        "<Meta>", '<Meta xmlns="syncml:metinf">')),
     b"<Meta xmlns", lambda msg: msg.commands[0].meta.format == "chr"),
    ("metinf_prefix", wrap(GET_META.format(meta="<a:Type>text/plain</a:Type>"),
                           root='<SyncML xmlns="SYNCML:SYNCML1.2" xmlns:a="syncml:metinf">'),
     b"<a:Type>", lambda msg: msg.commands[0].meta.type == "text/plain"),
    ("whitespace", wrap("<Get><CmdID> 2 </CmdID>\n"
                        "<Item><Target><LocURI>\n  ./DevInfo/Man\n</LocURI></Target></Item>"
                        "</Get>"),
     b"<CmdID> 2", lambda msg: (msg.commands[0].cmd_id, msg.commands[0].items[0].target.loc_uri)
     == ("2", "./DevInfo/Man")),
    ("bare_ampersand", wrap("<Alert><CmdID>1</CmdID><Data>1101</Data>"
                            "<Item><Data>MAXDT=15&DR=1</Data></Item></Alert>"),
     None, lambda msg: msg.commands[0].items[0].data == "MAXDT=15&DR=1"),
    ("version_mismatch", wrap(ALERT, root='<SyncML xmlns="SYNCML:SYNCML1.1">'), b"<SyncML",
     lambda msg: msg.header.ver_dtd == "1.2"),
    ("version_mismatch", wrap(ALERT, prolog='<!DOCTYPE SyncML PUBLIC "-//SYNCML//DTD SyncML '
                              '1.1//EN" "http://www.syncml.org/docs/syncml_represent_v11.dtd">'),
     b"<SyncML", lambda msg: msg.header.ver_dtd == "1.2"),
    ("utf16_declared", wrap(ALERT, prolog='<?xml version="1.0" encoding="utf-16"?>'), None,
     lambda msg: msg.commands[0].data == 1201),
    ("utf16_declared", wrap("<Alert><CmdID>1</CmdID><Data>1100</Data><Item><Data>Grüße ☃"
                            "</Data></Item></Alert>",
                            prolog='<?xml version="1.0" encoding="UTF-16"?>'
                            ).decode("utf-8").encode("utf-16"),
     None, lambda msg: msg.commands[0].items[0].data == "Grüße ☃"),
    ("empty_data", wrap("<Alert><CmdID>1</CmdID><Data/></Alert>"), b"<Data/>",
     lambda msg: msg.commands[0].data is None),
    ("unsupported_in_dm", wrap("<Sync><CmdID>1</CmdID><Target><LocURI>./contacts</LocURI>"
                               "</Target></Sync>"), b"<Sync>",
     lambda msg: isinstance(msg.commands[0], m.Sync) and msg.commands[0].cmd_id == "1"),
    ("unsupported_in_dm", wrap("<Map><CmdID>1</CmdID><Target><LocURI>a</LocURI></Target>"
                               "<Source><LocURI>b</LocURI></Source><MapItem><Target><LocURI>1"
                               "</LocURI></Target><Source><LocURI>2</LocURI></Source>"
                               "</MapItem></Map>"), b"<Map>",
     lambda msg: isinstance(msg.commands[0], m.Map)),
    ("element_order", wrap("<Replace><CmdID>1</CmdID>\n<Item><Data>v</Data>"
                           "<Target><LocURI>./a</LocURI></Target></Item></Replace>"),
     b"<Target><LocURI>./a", lambda msg: msg.commands[0].items[0].target.loc_uri == "./a"),
    ("element_order", wrap("<Status><CmdID>1</CmdID><Data>200</Data><MsgRef>1</MsgRef>"
                           "<CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd></Status>"),
     b"<MsgRef>1", lambda msg: msg.commands[0].data == 200),
    ("missing_cmd_id", wrap("<Get><Item><Target><LocURI>./a</LocURI></Target></Item></Get>"),
     b"<Get>", lambda msg: msg.commands[0].cmd_id == ""),
    ("unsupported_in_dm", wrap(ALERT, ver_proto="SyncML/1.2"), b"<SyncHdr>",
     lambda msg: msg.header.ver_proto == "SyncML/1.2"),
]


def _id(case: tuple[object, ...]) -> str:
    return str(case[0])


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_quirk_lenient_and_strict(case: tuple) -> None:  # type: ignore[type-arg]
    code, data, marker, check = case
    assert code in QUIRKS
    msg = decode(data)
    assert msg.quirks == [code]
    assert check(msg)
    with pytest.raises(DecodeError) as info:
        decode(data, strict=True)
    assert info.value.reason == code
    if marker is not None:
        assert info.value.offset == data.index(marker)  # the offending element's start tag


def test_bare_ampersand_offset_is_exact_and_cdata_is_left_alone() -> None:
    data = wrap("<Alert><CmdID>1</CmdID><Data>1101</Data>"
                "<Item><Data>MAXDT=15&DR=1</Data></Item>"
                "<Item><Data><![CDATA[a & b]]></Data></Item></Alert>")
    with pytest.raises(DecodeError) as info:
        decode(data, strict=True)
    assert info.value.offset == data.index(b"&DR")
    msg = decode(data)
    assert [i.data for i in msg.commands[0].items] == ["MAXDT=15&DR=1", "a & b"]  # type: ignore[union-attr]
    # A repaired message re-encodes as proper XML and then decodes strictly.
    assert decode(encode(msg), strict=True) == msg


def test_utf16_declaration_offset_points_at_the_value() -> None:
    data = wrap(ALERT, prolog='<?xml version="1.0" encoding="utf-16"?>')
    for bom in (b"", b"\xef\xbb\xbf"):
        with pytest.raises(DecodeError) as info:
            decode(bom + data, strict=True)
        assert info.value.offset == (bom + data).index(b"utf-16")
        assert decode(bom + data).quirks == ["utf16_declared"]


def test_quirks_are_recorded_once_each_in_order() -> None:
    data = wrap("<Get><CmdID> 2 </CmdID><Meta><Format>chr</Format></Meta>"
                "<Item><Target><LocURI> ./a </LocURI></Target></Item></Get>",
                root="<SyncML>")
    assert decode(data).quirks == ["namespace_missing", "whitespace", "metinf_namespace"]


def test_lenient_result_re_encodes_canonically() -> None:
    for code, data, _marker, _check in CASES:
        msg = decode(data)
        if code in ("unsupported_in_dm", "missing_cmd_id"):
            continue  # not re-sendable as decoded (no CmdID, or a DS command)
        again = decode(encode(msg), strict=True)
        assert again == msg, code
        assert again.quirks == []


def test_a_command_without_cmd_id_cannot_be_re_encoded() -> None:
    msg = decode(wrap("<Get><Item><Target><LocURI>./a</LocURI></Target></Item></Get>"))
    with pytest.raises(EncodeError) as info:
        encode(msg)
    assert info.value.reason == "bad_id"
