"""Pure-Python twin of the per-message digest primitives (``hashlib`` + ``base64``).

Every DM digest is one formula: ``H(secret ":" nonce [":" B64(H(body))])`` with H = MD5 and
``secret = B64(H(user ":" password))`` (the value a server stores instead of the password).
auth-md5 omits the body part; the transport HMAC and the package-0 digest include it.
Arguments are ``bytes`` (the public modules encode text first); ``body`` may be any buffer.
Verification compares in constant time (``hmac.compare_digest``) and never raises on a wrong
or malformed value: it returns False.
"""

from __future__ import annotations

import hmac
from base64 import b64encode
from hashlib import md5

# Any contiguous byte buffer the message arrived in.
Buffer = bytes | bytearray | memoryview

__all__ = [
    "const_time_eq",
    "mac_b64",
    "mac_digest",
    "mac_verify",
    "md5_b64",
    "md5_digest",
    "md5_verify",
    "pkg0_verify",
    "secret_hash",
]

DIGEST_SIZE = 16


def secret_hash(user: bytes, password: bytes) -> bytes:
    """``B64(H(user ":" password))``: 24 ASCII bytes, the stored form of a credential."""
    return b64encode(md5(user + b":" + password).digest())


def md5_digest(secret: bytes, nonce: bytes) -> bytes:
    """auth-md5: the raw 16-byte ``H(secret ":" nonce)``."""
    return md5(secret + b":" + nonce).digest()


def md5_b64(secret: bytes, nonce: bytes) -> bytes:
    """auth-md5 ``Cred/Data``: ``B64(H(secret ":" nonce))``."""
    return b64encode(md5(secret + b":" + nonce).digest())


def md5_verify(secret: bytes, nonce: bytes, cred_b64: bytes) -> bool:
    """True iff ``cred_b64`` is exactly the canonical base64 of the auth-md5 digest."""
    return hmac.compare_digest(b64encode(md5(secret + b":" + nonce).digest()), cred_b64)


def mac_digest(secret: bytes, nonce: bytes, body: Buffer) -> bytes:
    """The raw 16-byte ``H(secret ":" nonce ":" B64(H(body)))`` (HMAC header, package 0)."""
    return md5(secret + b":" + nonce + b":" + b64encode(md5(body).digest())).digest()


def mac_b64(secret: bytes, nonce: bytes, body: Buffer) -> bytes:
    """The ``mac=`` value of ``x-syncml-hmac``: base64 of ``mac_digest``."""
    return b64encode(mac_digest(secret, nonce, body))


def mac_verify(secret: bytes, nonce: bytes, body: Buffer, mac: bytes) -> bool:
    """True iff ``mac`` is exactly the canonical base64 MAC of ``body``."""
    return hmac.compare_digest(b64encode(mac_digest(secret, nonce, body)), mac)


def pkg0_verify(secret: bytes, nonce: bytes, raw: Buffer) -> bool:
    """True iff the first 16 bytes of a package-0 message are the digest of the rest."""
    view = memoryview(raw)
    if view.nbytes < DIGEST_SIZE:
        return False
    return hmac.compare_digest(mac_digest(secret, nonce, view[DIGEST_SIZE:]),
                               view[:DIGEST_SIZE].tobytes())


def const_time_eq(a: bytes, b: bytes) -> bool:
    """Equality whose time does not depend on where ``a`` and ``b`` first differ."""
    return hmac.compare_digest(a, b)
