"""Mutated and random input: decode returns a Message or raises DecodeError, nothing else;
and whatever decodes re-encodes to XML that decodes to the same model."""

from __future__ import annotations

from conftest import CORPUS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omadm_codec import DecodeError, EncodeError
from omadm_codec.messages import decode, encode

SEEDS = [(CORPUS / f"{name}.xml").read_bytes() for name in
         ("ui_alerts", "cdata_data", "tnds_embedded", "pkg1_client_init", "windows_pkg1")]
SEEDS_WBXML = [(CORPUS / f"{name}.wbxml").read_bytes() for name in
               ("ui_alerts", "cdata_data", "tnds_embedded", "pkg1_client_init")]
SNIPPETS = [b"&", b"<", b">", b"]]>", b"<![CDATA[", b"<!DOCTYPE x [", b"<!ENTITY", b"\x00",
            b"\xff", b"\xc3", b" ", b"\n", b"</Item>", b"<Item>", b"<Data/>", b"&amp;", b"&#0;",
            b"encoding='utf-16'", b"xmlns='x'", b"<Meta>", b"<CmdID>", b"\xef\xbb\xbf"]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "flip", "truncate"]))
        if action == "insert":
            data[pos:pos] = draw(st.sampled_from(SNIPPETS) | st.binary(max_size=4))
        elif action == "delete":
            del data[pos:pos + draw(st.integers(1, 16))]
        elif action == "flip" and pos < len(data):
            data[pos] ^= 1 << draw(st.integers(0, 7))
        else:
            del data[pos:]
    return bytes(data)


def _check(data: bytes, strict: bool) -> None:
    try:
        msg = decode(data, strict=strict)
    except DecodeError as exc:
        assert isinstance(exc.reason, str) and exc.reason
        assert isinstance(exc.offset, int) and -1 <= exc.offset <= max(len(data), 16 << 20)
        return
    if strict:
        lenient = decode(data)
        assert lenient == msg and lenient.quirks == []
    try:
        xml = encode(msg)
    except EncodeError:
        # A lenient decode may hold what DM cannot re-send (a DS command without CmdID).
        assert not strict
        return
    assert decode(xml) == msg


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(SEEDS), st.booleans())
def test_mutated_xml(data: bytes, strict: bool) -> None:
    _check(data, strict)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(SEEDS_WBXML), st.booleans())
def test_mutated_wbxml(data: bytes, strict: bool) -> None:
    _check(data, strict)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), st.booleans())
def test_random_bytes(data: bytes, strict: bool) -> None:
    _check(data, strict)
