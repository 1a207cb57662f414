"""OPAQUE text in Data: the compiled decoder's one-pass path for ASCII text with nothing to
escape (base64 payloads) must write what the general path writes, for every placement of an
unsafe byte across its 64- and 16-byte blocks, in plain and CDATA-rendered Data."""

from __future__ import annotations

import re

from conftest import CORPUS, Backend
from hypothesis import given, settings
from hypothesis import strategies as st

from omadm_codec.errors import DecodeError

# A SyncML 1.2 message whose Replace carries <Data> as OPAQUE, built from the corpus so that
# the Data takes the decoder's real classification (large_object_b64: CDATA-rendered b64).
_LOB = (CORPUS / "large_object_b64.wbxml").read_bytes()
_AT = _LOB.index(b"\xc3\x90\x80\x00")  # OPAQUE, length 262144 as a multi-byte integer
_BEFORE, _AFTER = _LOB[:_AT], _LOB[_AT + 4 + 262144:]


def _mb(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _decode(backend: Backend, doc: bytes) -> object:
    try:
        return backend.wbxml_to_xml(doc)
    except DecodeError as exc:
        return ("error", exc.reason, exc.offset)


SAFE = b"ABCXYZabcxyz0189+/="
UNSAFE = b"\n\t <>&\r]'\"!#~\x7f\x80\xc3\xa9\x00\x1f"


@settings(max_examples=400, deadline=None)
@given(length=st.integers(0, 300), hits=st.lists(st.tuples(st.integers(0, 299),
                                                           st.sampled_from(list(UNSAFE))),
                                                 max_size=3))
def test_opaque_text_in_data_is_written_alike_by_both_twins(
        both_backends: tuple[Backend, Backend], length: int,
        hits: list[tuple[int, int]]) -> None:
    payload = bytearray(SAFE[i % len(SAFE)] for i in range(length))
    for at, byte in hits:
        if at < length:
            payload[at] = byte
    doc = _BEFORE + b"\xc3" + _mb(len(payload)) + bytes(payload) + _AFTER
    compiled, pure = both_backends
    assert _decode(compiled, doc) == _decode(pure, doc)


def test_base64_payload_is_written_as_cdata(backend: Backend) -> None:
    xml = backend.wbxml_to_xml(_LOB)
    assert b"<Data><![CDATA[TK+V7AYGPW+n" in xml and xml.endswith(b"</SyncML>")


# cdata_data: the first OPAQUE is a CDATA-rendered Data (chr, text/plain), the second a plain
# (escaped) one. The compiled twin's text scans jump to the next byte to handle 16 bytes at a
# time with a last step that overlaps bytes already seen: every length across one and two
# steps, with the byte (or "]]>") at every position.
_CD = (CORPUS / "cdata_data.wbxml").read_bytes()


def _opaque_span(marker: bytes) -> tuple[int, int]:
    """[start, stop) of the OPAQUE token (with its length) whose data starts with marker."""
    found = re.search(rb"\xc3([\x80-\xff]*[\x00-\x7f])" + re.escape(marker), _CD)
    assert found is not None
    length = 0
    for byte in found.group(1):
        length = (length << 7) | (byte & 0x7F)
    return found.start(), found.end(1) + length


_CD_SPANS = (_opaque_span(b"<WLAN"), _opaque_span(b"<https"))


def test_text_escapes_and_cdata_splits_at_every_position_alike_in_both_twins(
        both_backends: tuple[Backend, Backend]) -> None:
    compiled, pure = both_backends
    for start, stop in _CD_SPANS:
        for length in range(1, 40):
            for at in range(length):
                for special in (b"]]>", b"\r", b"&", b"<", b'"', b"]>", b"]]]>"):
                    payload = b"abc defghijklmnopqrstuvwxyz ABCDEFGHIJKLMN"[:length]
                    payload = payload[:at] + special + payload[at:]
                    doc = _CD[:start] + b"\xc3" + _mb(len(payload)) + payload + _CD[stop:]
                    got = _decode(compiled, doc)
                    assert got == _decode(pure, doc), (payload, got)
                    assert isinstance(got, bytes)
