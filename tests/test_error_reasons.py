"""One fault, one reason code, whatever reads the bytes: ``xml_to_wbxml`` (``omadm-codec
convert``) and ``decode`` (``omadm-codec decode``) give the same reason and byte offset for
malformed XML, on both twins; and no error text carries lxml's location noise."""

from __future__ import annotations

import pytest
from conftest import Backend
from test_message_wbxml import use

from omadm_codec.errors import DecodeError, EncodeError
from omadm_codec.messages import decode
from omadm_codec.wbxml import xml_to_wbxml

ROOT = b'<SyncML xmlns="SYNCML:SYNCML1.2">'
CASES = {
    "unclosed": b"<SyncML><SyncHdr>",
    "mismatched_end": ROOT + b"<SyncHdr></SyncML>",
    "truncated_tag": ROOT + b"<SyncHdr><Ver",
    "internal_subset_entity": b'<!DOCTYPE SyncML [<!ENTITY a "b">]>' + ROOT + b"&a;</SyncML>",
    "internal_subset": b"<!DOCTYPE SyncML [<!ELEMENT a ANY>]>" + ROOT + b"</SyncML>",
    "undefined_entity": ROOT + b"<SyncHdr>&foo;</SyncHdr></SyncML>",
    "invalid_utf8": ROOT + b"<SyncHdr>\xff\xfe</SyncHdr></SyncML>",
    "control_character": ROOT + b"\x01</SyncML>",
    "empty": b"",
    "no_markup": b"hello",
    "two_roots": ROOT + b"</SyncML><SyncML/>",
    "bad_attribute": b"<SyncML a=b/>",
    "unterminated_comment": ROOT + b"<!-- never closed",
}


def reason(call: object) -> tuple[str, int, str]:
    try:
        call()  # type: ignore[operator]
    except (DecodeError, EncodeError) as exc:
        return exc.reason, exc.offset, str(exc)
    raise AssertionError("no error")


@pytest.mark.parametrize("name", sorted(CASES))
def test_convert_and_decode_agree(backend: Backend, name: str) -> None:
    data = CASES[name]
    with use(backend):
        encoded = reason(lambda: xml_to_wbxml(data))
        decoded = reason(lambda: decode(data))
    assert encoded[:2] == decoded[:2], (encoded, decoded)
    assert encoded[0] in ("malformed_xml", "invalid_utf8", "undefined_entity", "forbidden_dtd")
    for text in (encoded[2], decoded[2]):
        assert "<string>" not in text and ", line " not in text
