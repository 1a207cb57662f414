"""Credentials and the x-syncml-hmac header: spec vectors on both twins, strict parsing."""

from __future__ import annotations

import base64
from types import ModuleType

import pytest
from conftest import twin

from omadm_codec.errors import AuthenticationError, EncodeError


@pytest.fixture(params=["c", "py"], ids=["cython", "python"])
def auth(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """omadm_codec.security.auth running on one digest twin."""
    from omadm_codec.security import auth as module

    monkeypatch.setattr(module, "_digest", twin("security._digest", request.param))
    return module



def lookup(auth: ModuleType) -> dict[str, str]:
    return {"Bruce2": auth.secret_hash("Bruce2", "OhBehave"),
            "user": auth.secret_hash("user", "pass")}


def test_basic_vector(auth: ModuleType) -> None:
    assert auth.basic_credential("Bruce2", "OhBehave") == "QnJ1Y2UyOk9oQmVoYXZl"
    assert auth.verify_basic("QnJ1Y2UyOk9oQmVoYXZl", lookup(auth).get) == "Bruce2"


def test_md5_vector(auth: ModuleType) -> None:
    assert auth.md5_credential("Bruce2", "OhBehave", b"Nonce") == "Zz6EivR3yeaaENcRN6lpAQ=="
    secret = auth.secret_hash("Bruce2", "OhBehave")
    assert auth.md5_credential_from_secret(secret, b"Nonce") == "Zz6EivR3yeaaENcRN6lpAQ=="
    assert auth.verify_md5("Zz6EivR3yeaaENcRN6lpAQ==", secret, b"Nonce")
    assert not auth.verify_md5("Zz6EivR3yeaaENcRN6lpAQ==", secret, b"Nonc")
    assert not auth.verify_md5("Zz6EivR3yeaaENcRN6lpAQ==", None, b"Nonce")
    assert not auth.verify_md5("not base64 at all", secret, b"Nonce")


def test_nonce_is_hashed_as_octets(auth: ModuleType) -> None:
    # On the wire NextNonce is b64; the digest uses the decoded bytes.
    wire = base64.b64encode(b"Nonce").decode()
    nonce = auth.b64_nonce(wire)
    assert auth.md5_credential("Bruce2", "OhBehave", nonce) == "Zz6EivR3yeaaENcRN6lpAQ=="
    with pytest.raises(AuthenticationError) as err:
        auth.b64_nonce("Tm9u*2U=")
    assert err.value.reason == "bad_nonce"


def test_verify_basic_rejects(auth: ModuleType) -> None:
    store = lookup(auth).get
    cases = {
        base64.b64encode(b"Bruce2:wrong").decode(): "bad_password",
        base64.b64encode(b"nobody:OhBehave").decode(): "bad_password",
        base64.b64encode(b"no-colon").decode(): "bad_credential",
        "!!!": "bad_credential",
        base64.b64encode(b"\xff\xfe:x").decode(): "bad_credential",
    }
    for data, reason in cases.items():
        with pytest.raises(AuthenticationError) as err:
            auth.verify_basic(data, store)
        assert err.value.reason == reason, data


def test_build_credential(auth: ModuleType) -> None:
    cred = auth.build_credential("DIGEST", "Bruce2", "OhBehave", b"Nonce")
    assert (cred.meta_type, cred.format, cred.data) == (
        "syncml:auth-md5", "b64", "Zz6EivR3yeaaENcRN6lpAQ==")
    assert auth.build_credential("BASIC", "Bruce2", "OhBehave").data == "QnJ1Y2UyOk9oQmVoYXZl"
    with pytest.raises(EncodeError):
        auth.build_credential("DIGEST", "Bruce2", "OhBehave")
    with pytest.raises(EncodeError):
        auth.build_credential("HMAC", "Bruce2", "OhBehave", b"n")


def test_challenge_record(auth: ModuleType) -> None:
    chal = auth.Challenge("syncml:auth-md5", b"\x01" * 16)
    assert chal.format == "b64"
    assert base64.b64decode(chal.next_nonce_b64) == b"\x01" * 16
    assert auth.Challenge("syncml:auth-basic").next_nonce_b64 is None
    assert auth.AAUTH_TYPE_TO_META["DIGEST"] == "syncml:auth-md5"
    assert auth.META_TO_AAUTH_TYPE["syncml:auth-MAC"] == "HMAC"


def test_hmac_vector(auth: ModuleType) -> None:
    header = auth.hmac_header("user", "pass", b"nonce", b"<SyncML/>")
    assert header == 'algorithm=MD5, username="user", mac=BzE6dDP0ZGNGys1kp3A54Q=='
    assert auth.verify_hmac_header(header, lookup(auth).get, b"nonce", b"<SyncML/>") == "user"
    secret = auth.secret_hash("user", "pass")
    assert auth.hmac_header_from_secret("user", secret, b"nonce", b"<SyncML/>") == header


def test_hmac_every_bit_of_body(auth: ModuleType) -> None:
    body = b"<SyncML><SyncHdr><VerDTD>1.2</VerDTD></SyncHdr></SyncML>"
    header = auth.hmac_header("user", "pass", b"n0", body)
    for i in range(len(body) * 8):
        tampered = bytearray(body)
        tampered[i // 8] ^= 1 << (i % 8)
        with pytest.raises(AuthenticationError) as err:
            auth.verify_hmac_header(header, lookup(auth).get, b"n0", bytes(tampered))
        assert err.value.reason == "bad_mac"


def test_hmac_wrong_nonce_unknown_user(auth: ModuleType) -> None:
    body = b"<SyncML/>"
    header = auth.hmac_header("user", "pass", b"n0", body)
    with pytest.raises(AuthenticationError) as err:
        auth.verify_hmac_header(header, lookup(auth).get, b"n1", body)
    assert err.value.reason == "bad_mac"
    ghost = auth.hmac_header("ghost", "pass", b"n0", body)
    with pytest.raises(AuthenticationError) as err:
        auth.verify_hmac_header(ghost, lookup(auth).get, b"n0", body)
    assert err.value.reason == "bad_mac"


def test_hmac_header_grammar(auth: ModuleType) -> None:
    mac = "BzE6dDP0ZGNGys1kp3A54Q=="
    good = [
        f'algorithm=MD5, username="user", mac={mac}',
        f'username="user",mac={mac}',
        f'mac={mac} ,\tusername = "user" , algorithm=md5',
        f'ALGORITHM=MD5, USERNAME="user", MAC={mac}',
    ]
    for value in good:
        parsed = auth.parse_hmac_header(value)
        assert (parsed.username, parsed.mac, parsed.algorithm) == ("user", mac, "MD5")
    assert auth.parse_hmac_header(f'username="a\\"b\\\\c", mac={mac}').username == 'a"b\\c'
    assert auth.parse_hmac_header(f'username="user", mac={mac}'.encode()).username == "user"
    bad = {
        "": "bad_header",
        'username="user"': "bad_header",
        f"mac={mac}": "bad_header",
        f'username=user, mac={mac}': "bad_header",
        f'username="user", mac="{mac}"': "bad_header",
        f'username="user", username="x", mac={mac}': "bad_header",
        f'username="user", mac={mac}, mac={mac}': "bad_header",
        f'username="user", mac={mac},': "bad_header",
        f'username="user" mac={mac}': "bad_header",
        f'username="us\r\ner", mac={mac}': "bad_header",
        f'username="user", mac={mac}, realm="x"': "bad_header",
        f'username="user", mac={mac}, algorithm=SHA-256': "unsupported_algorithm",
        'username="user", mac=NTI2OTJhMDAwNjYxODkwYmQ3NWUxN2RhN2ZmYmJlMzk': "bad_mac",
        'username="user", mac=BzE6dDP0ZGNGys1kp3A54Q=': "bad_mac",
        f'username="user", mac={mac}' + " " * 1100: "bad_header",
        'username="\xe9", mac=x'.encode("latin-1"): "bad_header",
    }
    for value, reason in bad.items():
        with pytest.raises(AuthenticationError) as err:
            auth.parse_hmac_header(value)
        assert err.value.reason == reason, value


def test_hmac_header_injection_refused(auth: ModuleType) -> None:
    with pytest.raises(EncodeError) as err:
        auth.hmac_header("user\r\nX-Evil: 1", "pass", b"n", b"")
    assert err.value.reason == "bad_username"
    header = auth.hmac_header('we"ird\\', "pass", b"n", b"")
    assert auth.parse_hmac_header(header).username == 'we"ird\\'


def test_hmac_oversize_body_refused_before_hashing(auth: ModuleType) -> None:
    body = b"x" * 1000
    header = auth.hmac_header("user", "pass", b"n", body)
    assert auth.verify_hmac_header(header, lookup(auth).get, b"n", body, max_body=1000) == "user"
    with pytest.raises(AuthenticationError) as err:
        auth.verify_hmac_header(header, lookup(auth).get, b"n", body, max_body=999)
    assert err.value.reason == "too_large"


def test_model_conversions(auth: ModuleType) -> None:
    model = pytest.importorskip("omadm_codec.messages.model")
    cred = auth.build_credential("DIGEST", "Bruce2", "OhBehave", b"Nonce")
    as_model = cred.to_model()
    assert as_model.data == "Zz6EivR3yeaaENcRN6lpAQ=="
    assert (as_model.meta.type, as_model.meta.format) == ("syncml:auth-md5", "b64")
    assert auth.Credential.from_model(as_model) == cred
    with pytest.raises(AuthenticationError) as err:
        auth.Credential.from_model(model.Cred("x"))
    assert err.value.reason == "bad_credential"
    chal = auth.Challenge("syncml:auth-md5", b"\x00\x01nonce")
    assert chal.to_model().meta.next_nonce == "AAFub25jZQ=="
    assert auth.Challenge.from_model(chal.to_model()) == chal
    bad = model.Chal(model.Meta(type="syncml:auth-md5", format="b64", next_nonce="*"))
    with pytest.raises(AuthenticationError) as err:
        auth.Challenge.from_model(bad)
    assert err.value.reason == "bad_nonce"
    plain = model.Chal(model.Meta(type="syncml:auth-md5", format="chr", next_nonce="abc"))
    with pytest.raises(AuthenticationError) as err:
        auth.Challenge.from_model(plain)
    assert err.value.reason == "bad_challenge"
