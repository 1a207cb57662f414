"""The digest twins: spec vectors on both, and the compiled twin equal to the pure one."""

from __future__ import annotations

import base64
import hashlib

import pytest
from conftest import twin
from hypothesis import given, settings
from hypothesis import strategies as st

from omadm_codec import _backend

TWINS = [pytest.param("c", id="cython"), pytest.param("py", id="python")]


@pytest.fixture(params=["c", "py"], ids=["cython", "python"])
def dg(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    return twin("security._digest", request.param)


def test_registered_as_twin() -> None:
    assert "security._digest" in _backend.TWINS


def test_md5_vector(dg) -> None:  # type: ignore[no-untyped-def]
    # dm-protocol.md 3.4 (PRO): Bruce2 / OhBehave / nonce "Nonce".
    secret = dg.secret_hash(b"Bruce2", b"OhBehave")
    assert secret == base64.b64encode(hashlib.md5(b"Bruce2:OhBehave").digest())
    assert dg.md5_b64(secret, b"Nonce") == b"Zz6EivR3yeaaENcRN6lpAQ=="
    assert dg.md5_digest(secret, b"Nonce") == base64.b64decode("Zz6EivR3yeaaENcRN6lpAQ==")
    assert dg.md5_verify(secret, b"Nonce", b"Zz6EivR3yeaaENcRN6lpAQ==")
    assert not dg.md5_verify(secret, b"Nonce", b"Zz6EivR3yeaaENcRN6lpAg==")
    assert not dg.md5_verify(secret, b"Nonce", b"Zz6EivR3yeaaENcRN6lpAQ")  # unpadded
    assert not dg.md5_verify(secret, b"nonce", b"Zz6EivR3yeaaENcRN6lpAQ==")


def test_hmac_vector(dg) -> None:  # type: ignore[no-untyped-def]
    # dm-protocol.md 3.5: user / pass / nonce / <SyncML/>.
    secret = dg.secret_hash(b"user", b"pass")
    assert dg.mac_b64(secret, b"nonce", b"<SyncML/>") == b"BzE6dDP0ZGNGys1kp3A54Q=="
    assert dg.mac_verify(secret, b"nonce", b"<SyncML/>", b"BzE6dDP0ZGNGys1kp3A54Q==")
    assert dg.mac_verify(secret, b"nonce", memoryview(b"<SyncML/>"), b"BzE6dDP0ZGNGys1kp3A54Q==")
    assert not dg.mac_verify(secret, b"nonce", b"<SyncML />", b"BzE6dDP0ZGNGys1kp3A54Q==")


def test_pkg0_vector(dg) -> None:  # type: ignore[no-untyped-def]
    # dm-protocol.md 4.1/4.2: srv1 / secret / four zero octets.
    trigger = bytes.fromhex("02e800000000ab04") + b"srv1"
    secret = dg.secret_hash(b"srv1", b"secret")
    digest = dg.mac_digest(secret, b"\0\0\0\0", trigger)
    assert digest.hex() == "05cd8d97c29360e97e5ba882a81573f8"
    assert dg.pkg0_verify(secret, b"\0\0\0\0", digest + trigger)
    assert not dg.pkg0_verify(secret, b"0x00000000", digest + trigger)
    for n in range(16):
        assert not dg.pkg0_verify(secret, b"\0\0\0\0", (digest + trigger)[:n])


def test_every_flipped_bit_fails(dg) -> None:  # type: ignore[no-untyped-def]
    secret = dg.secret_hash(b"user", b"pass")
    body = b"<SyncML><SyncHdr/></SyncML>"
    mac = dg.mac_b64(secret, b"n", body)
    for i in range(len(body) * 8):
        flipped = bytearray(body)
        flipped[i // 8] ^= 1 << (i % 8)
        assert not dg.mac_verify(secret, b"n", bytes(flipped), mac)


def test_type_errors_match(dg) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError):
        dg.md5_verify(b"s", b"n", "text")
    with pytest.raises(TypeError):
        dg.mac_digest(b"s", b"n", "text")


def test_const_time_eq(dg) -> None:  # type: ignore[no-untyped-def]
    assert dg.const_time_eq(b"abc", b"abc")
    assert not dg.const_time_eq(b"abc", b"abd")
    assert not dg.const_time_eq(b"abc", b"abcd")
    assert dg.const_time_eq(b"", b"")


@settings(max_examples=300, deadline=None)
@given(user=st.binary(max_size=80), password=st.binary(max_size=80),
       nonce=st.binary(max_size=80), body=st.binary(max_size=300),
       other=st.binary(max_size=30))
def test_twins_agree(user: bytes, password: bytes, nonce: bytes, body: bytes,
                     other: bytes) -> None:
    c = twin("security._digest", "c")
    p = twin("security._digest", "py")
    assert c.secret_hash(user, password) == p.secret_hash(user, password)
    secret = p.secret_hash(user, password)
    assert c.md5_b64(secret, nonce) == p.md5_b64(secret, nonce)
    assert c.md5_digest(user, nonce) == p.md5_digest(user, nonce)
    assert c.mac_digest(secret, nonce, body) == p.mac_digest(secret, nonce, body)
    assert c.mac_b64(user, nonce, body) == p.mac_b64(user, nonce, body)
    assert c.mac_verify(secret, nonce, body, other) == p.mac_verify(secret, nonce, body, other)
    assert c.md5_verify(secret, nonce, other) == p.md5_verify(secret, nonce, other)
    assert c.pkg0_verify(secret, nonce, body) == p.pkg0_verify(secret, nonce, body)
    assert c.const_time_eq(body, other) == p.const_time_eq(body, other)


@pytest.mark.parametrize("size", [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 4096, 16384, 70001])
def test_block_boundaries_match_hashlib(size: int) -> None:
    c = twin("security._digest", "c")
    body = bytes(range(256)) * (size // 256 + 1)
    body = body[:size]
    expect = hashlib.md5(b"s:n:" + base64.b64encode(hashlib.md5(body).digest())).digest()
    assert c.mac_digest(b"s", b"n", body) == expect
    assert c.md5_digest(body, b"") == hashlib.md5(body + b":").digest()
