"""Package 0: layout vector, digest on both twins, hostile bytes, resync, WAP/HTTP bearers."""

from __future__ import annotations

from types import ModuleType

import pytest
from conftest import twin
from hypothesis import given, settings
from hypothesis import strategies as st

from omadm_codec.errors import DecodeError, EncodeError

VECTOR_TRIGGER = bytes.fromhex("02e800000000ab04") + b"srv1"
VECTOR_DIGEST = bytes.fromhex("05cd8d97c29360e97e5ba882a81573f8")
ZERO4 = b"\0\0\0\0"


@pytest.fixture(params=["c", "py"], ids=["cython", "python"])
def nt(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """omadm_codec.security.notification running on one digest twin."""
    from omadm_codec.security import notification as module

    monkeypatch.setattr(module, "_digest", twin("security._digest", request.param))
    return module


def sample(nt: ModuleType, **kw: object) -> object:
    fields = dict(version=11, ui_mode=2, initiator=1, session_id=0xAB, server_id="srv1",
                  vendor=b"")
    fields.update(kw)
    return nt.Notification(**fields)


def test_spec_vector(nt: ModuleType) -> None:
    raw = sample(nt).encode(password="secret", nonce=ZERO4)
    assert raw == VECTOR_DIGEST + VECTOR_TRIGGER
    note = nt.decode(raw)
    assert note == sample(nt) and note.digest == VECTOR_DIGEST
    assert note.session_id_hex == "AB"
    assert nt.verify(raw, "secret", ZERO4)
    assert not nt.verify(raw, "Secret", ZERO4)
    assert not nt.verify(raw, "secret", b"\0\0\0\1")


def test_fields_roundtrip_with_vendor(nt: ModuleType) -> None:
    note = sample(nt, ui_mode=3, initiator=0, session_id=0xFFFF, server_id="é-server",
                  vendor=b"\x00\xffvendor", version=1023)
    raw = note.encode(password="pw", nonce=b"n" * 16)
    assert nt.decode(raw, versions=(1023,)) == note
    assert nt.verify  # module API present
    with pytest.raises(DecodeError) as err:
        nt.decode(raw)  # version 1023 is not DM 1.2's 11
    assert (err.value.reason, err.value.offset) == ("bad_version", 16)


def test_session_id_hex(nt: ModuleType) -> None:
    assert [nt.session_id_hex(v) for v in (1, 0xAB, 0x0F00, 0xFFFF)] == ["1", "AB", "F00", "FFFF"]
    with pytest.raises(ValueError):
        nt.session_id_hex(0x10000)


def test_truncated_at_every_length(nt: ModuleType) -> None:
    raw = sample(nt).encode(password="secret", nonce=ZERO4)
    for n in range(len(raw)):
        with pytest.raises(DecodeError) as err:
            nt.decode(raw[:n])
        if n < 24:
            assert (err.value.reason, err.value.offset) == ("too_short", n)
        else:
            assert (err.value.reason, err.value.offset) == ("server_id_truncated", 23)
        with pytest.raises(DecodeError):
            nt.verify(raw[:n], "secret", ZERO4)


def test_structural_errors(nt: ModuleType) -> None:
    raw = bytearray(VECTOR_DIGEST + VECTOR_TRIGGER)
    raw[23] = 0
    with pytest.raises(DecodeError) as err:
        nt.decode(bytes(raw))
    assert (err.value.reason, err.value.offset) == ("empty_server_id", 23)
    bad_utf8 = VECTOR_DIGEST + bytes.fromhex("02e800000000ab02") + b"a\xff"
    with pytest.raises(DecodeError) as err:
        nt.decode(bad_utf8)
    assert (err.value.reason, err.value.offset) == ("bad_server_id", 25)


def test_each_reserved_bit(nt: ModuleType) -> None:
    for bit in range(24, 51):  # bit numbers of the 64-bit word at offset 16
        word = int.from_bytes(VECTOR_TRIGGER[:8], "big") | (1 << bit)
        raw = VECTOR_DIGEST + word.to_bytes(8, "big") + b"srv1"
        with pytest.raises(DecodeError) as err:
            nt.decode(raw)
        assert err.value.reason == "reserved_bits"
        assert err.value.offset == 16 + 7 - bit // 8


def test_one_bit_in_every_field_is_rejected(nt: ModuleType) -> None:
    raw = sample(nt, vendor=b"\x01\x02").encode(password="secret", nonce=ZERO4)
    for i in range(len(raw) * 8):
        tampered = bytearray(raw)
        tampered[i // 8] ^= 1 << (i % 8)
        try:
            ok = nt.verify(bytes(tampered), "secret", ZERO4)
        except DecodeError:
            continue
        assert not ok, f"bit {i} flipped and still verified"


def test_resync_off_by_default_both_forms(nt: ModuleType) -> None:
    for resync in nt.RESYNC_NONCES:
        raw = sample(nt).encode(password="secret", nonce=resync)
        stored = b"s" * 16
        assert not nt.verify(raw, "secret", stored)
        assert nt.verify(raw, "secret", stored, allow_resync=True)
        assert nt.matching_nonce(raw, "secret", stored, allow_resync=True) == resync
    raw = sample(nt).encode(password="secret", nonce=b"s" * 16)
    assert nt.matching_nonce(raw, "secret", b"s" * 16, allow_resync=True) == b"s" * 16


def test_server_name_and_secret_forms(nt: ModuleType) -> None:
    from omadm_codec.security import auth

    secret = auth.secret_hash("srv1", "secret")
    raw = sample(nt).encode_with_secret(secret, ZERO4)
    assert raw == VECTOR_DIGEST + VECTOR_TRIGGER
    assert nt.matching_nonce_with_secret(raw, secret, ZERO4) == ZERO4
    other = sample(nt, server_id="srv2").encode(password="secret", nonce=ZERO4)
    assert not nt.verify(other, "secret", ZERO4, server_name="srv1")


def test_encode_ranges(nt: ModuleType) -> None:
    for kw in ({"version": 1024}, {"ui_mode": 4}, {"initiator": 2}, {"session_id": -1},
               {"server_id": ""}, {"server_id": "x" * 256}):
        with pytest.raises(EncodeError):
            sample(nt, **kw).encode(password="p", nonce=ZERO4)


# -- bearers -------------------------------------------------------------------------------


def test_wap_push_layout_and_roundtrip(nt: ModuleType) -> None:
    raw = VECTOR_DIGEST + VECTOR_TRIGGER
    pdu = nt.wap_push_wrap(raw, transaction_id=5)
    assert pdu[:6] == bytes([0x05, 0x06, 0x03, 0xC4, 0xAF, 0x87])
    msg = nt.wap_push_unwrap(pdu)
    assert (msg.transaction_id, msg.content_type, msg.app_id, msg.body, msg.dest_port) == (
        5, "application/vnd.syncml.notification", 7, raw, None)
    sms = nt.wap_push_wrap(raw, sms_udh=True)
    assert sms[:7] == bytes.fromhex("0605040b8423f0")
    assert nt.wap_push_unwrap(sms).dest_port == 2948
    assert nt.route_push(sms) == sample(nt)


def test_wap_push_text_forms_and_dm13(nt: ModuleType) -> None:
    raw = VECTOR_DIGEST + VECTOR_TRIGGER
    headers = (b"application/vnd.syncml.notification\x00" + b"\xaf"
               + b"x-wap-application:syncml.dm\x00" + b"X-Extra\x00v\x00" + b"\x8d\x81")
    pdu = bytes([1, 6, len(headers)]) + headers + raw
    msg = nt.wap_push_unwrap(pdu)
    assert msg.app_id == "x-wap-application:syncml.dm" and msg.body == raw
    dm13 = nt.route_push(nt.wap_push_wrap(b"\x01\x02opaque",
                                          content_type="application/vnd.syncml.dm.notification"))
    assert isinstance(dm13, nt.Dm13Notification) and dm13.raw == b"\x01\x02opaque"
    general = bytes([2, 6, 4, 0x01, 0xC4, 0xAF, 0x87]) + raw  # Value-length media form
    assert nt.wap_push_unwrap(general).content_type == "application/vnd.syncml.notification"


def test_wap_push_hostile(nt: ModuleType) -> None:
    raw = VECTOR_DIGEST + VECTOR_TRIGGER
    good = nt.wap_push_wrap(raw)
    cases = [
        (b"", ("truncated", 0)),
        (bytes([0, 7, 3]) + good[3:], ("not_push", 1)),
        (bytes([0, 6, 0x7F]) + good[3:], ("length_past_end", 2)),
        (bytes([0, 6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]), ("bad_uintvar", 2)),
        (bytes([0, 6, 5]) + b"abcde", ("unterminated_text", 3)),
        (bytes([0, 6, 2, 0xC4, 0x01]), ("unsupported_header", 4)),
        (bytes([0, 6, 3, 0x1E, 0xC4, 0x00]), ("length_past_end", 3)),
        (bytes([0x06, 0x05, 0x04, 0x0B]), ("bad_udh", 0)),
    ]
    for pdu, (reason, offset) in cases:
        with pytest.raises(DecodeError) as err:
            nt.wap_push_unwrap(pdu)
        assert (err.value.reason, err.value.offset) == (reason, offset), pdu.hex()
    for n in range(len(good)):
        try:
            nt.wap_push_unwrap(good[:n])
        except DecodeError as exc:
            assert 0 <= exc.offset <= n
    wrong_app = bytes([0, 6, 3, 0xC4, 0xAF, 0x88]) + raw
    with pytest.raises(DecodeError) as err:
        nt.route_push(wrong_app)
    assert err.value.reason == "wrong_app_id"


def test_http_and_sip_routing(nt: ModuleType) -> None:
    raw = VECTOR_DIGEST + VECTOR_TRIGGER
    ctype, body = nt.http_push(raw)
    assert ctype == "application/vnd.syncml.notification" and body == raw
    assert nt.route(ctype, body) == sample(nt)
    assert nt.route("Application/VND.syncml.notification; charset=x", raw) == sample(nt)
    assert nt.route("application/vnd.syncml.dm.notification", b"\x00").raw == b"\x00"
    with pytest.raises(DecodeError) as err:
        nt.route("text/plain", raw)
    assert err.value.reason == "unknown_content_type"
    with pytest.raises(EncodeError):
        nt.wap_push_wrap(raw, content_type="text/plain")


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=80))
def test_random_bytes_only_typed_errors(data: bytes) -> None:
    from omadm_codec.security import notification as nt

    for parse in (nt.decode, nt.wap_push_unwrap, nt.route_push):
        try:
            parse(data)
        except DecodeError as exc:
            assert -1 <= exc.offset <= len(data)
