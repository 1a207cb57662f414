"""DM credentials: ``syncml:auth-basic``, ``syncml:auth-md5`` and the ``x-syncml-hmac`` header.

One idea: every secret check works from the *stored* form ``B64(H(user ":" password))``
(``secret_hash``), never from a plaintext password, so a server need not keep passwords. The
digest arithmetic is in the ``security._digest`` twin; this module adds text handling, strict
parsing of what the peer sent, and the challenge/credential records.
Verifiers compare in constant time and raise ``AuthenticationError`` with a ``.reason``; they
never let a parsing exception escape from inside. Nonce bookkeeping lives in ``nonces``, the
accept/escalate rules in ``security.policy``.
"""

from __future__ import annotations

import binascii
import re
from base64 import b64decode, b64encode
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._backend import active
from ..errors import AuthenticationError, EncodeError
from ..limits import DEFAULT_LIMITS
from ..messages.model import Chal, Cred, Meta  # not inside ``to_model``: 2 µs per call there

if TYPE_CHECKING:
    from . import _digest_py as _digest
else:
    _digest = active("security._digest")

Buffer = bytes | bytearray | memoryview
# A stored secret may be given as text or bytes; both are the 24-character base64 form.
Secret = str | bytes

META_BASIC = "syncml:auth-basic"
META_MD5 = "syncml:auth-md5"
META_MAC = "syncml:auth-MAC"

# DMAcc AAuthType value -> SyncML Meta/Type (dm-protocol.md 3.2).
AAUTH_TYPE_TO_META: dict[str, str] = {
    "BASIC": META_BASIC,
    "DIGEST": META_MD5,
    "HMAC": META_MAC,
    "X509": "syncml:auth-X509",
    "SECURID": "syncml:auth-securid",
    "SAFEWORD": "syncml:auth-safeword",
    "DIGIPASS": "syncml:auth-digipass",
}
META_TO_AAUTH_TYPE: dict[str, str] = {v: k for k, v in AAUTH_TYPE_TO_META.items()}

HMAC_HEADER = "x-syncml-hmac"
# A peer's header longer than this is refused before it is parsed.
MAX_HMAC_HEADER = 1024
_B64_DIGEST = re.compile(rb"[A-Za-z0-9+/]{22}==")


def _utf8(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _secret_bytes(secret: Secret) -> bytes:
    return secret.encode("ascii") if isinstance(secret, str) else bytes(secret)


def secret_hash(user: str | bytes, password: str | bytes) -> str:
    """``B64(H(user ":" password))``: what a server stores instead of the password."""
    return _digest.secret_hash(_utf8(user), _utf8(password)).decode("ascii")


def b64_nonce(nonce_b64: str | bytes) -> bytes:
    """Decode a ``NextNonce`` received in base64 (Format b64) into the octets that get hashed.

    Raises ``AuthenticationError("bad_nonce")`` on anything that is not strict base64.
    """
    try:
        return b64decode(nonce_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AuthenticationError("bad_nonce", "NextNonce is not base64") from exc


# -- credentials (SyncHdr/Cred) ----------------------------------------------------------------


def basic_credential(user: str, password: str) -> str:
    """``Cred/Data`` for ``syncml:auth-basic``: ``B64(user ":" password)``."""
    if ":" in user:
        raise EncodeError("bad_username", detail="a basic-auth user name cannot contain ':'")
    return b64encode(_utf8(user) + b":" + _utf8(password)).decode("ascii")


def md5_credential(user: str, password: str, nonce: bytes) -> str:
    """``Cred/Data`` for ``syncml:auth-md5``: ``B64(H(B64(H(user:pass)) ":" nonce))``.

    ``nonce`` is the decoded octets (use ``b64_nonce`` on a received ``NextNonce``).
    """
    secret = _digest.secret_hash(_utf8(user), _utf8(password))
    return _digest.md5_b64(secret, bytes(nonce)).decode("ascii")


def md5_credential_from_secret(secret: Secret, nonce: bytes) -> str:
    """As ``md5_credential``, from the stored ``secret_hash`` value."""
    return _digest.md5_b64(_secret_bytes(secret), bytes(nonce)).decode("ascii")


def verify_basic(cred_data: str | bytes, secret_lookup: Callable[[str], Secret | None]) -> str:
    """Check ``syncml:auth-basic`` data against the stored secret; return the user name.

    Unknown users cost one digest, like known ones. Raises ``AuthenticationError`` with
    ``bad_credential`` (malformed) or ``bad_password`` (unknown user or wrong password).
    """
    try:
        raw = b64decode(cred_data, validate=True)
        user_b, sep, password = raw.partition(b":")
        user = user_b.decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise AuthenticationError("bad_credential", "basic data is not b64(user:pass)") from exc
    if not sep:
        raise AuthenticationError("bad_credential", "basic data has no ':'")
    stored = secret_lookup(user)
    computed = _digest.secret_hash(user_b, password)
    expected = _secret_bytes(stored) if stored is not None else _DUMMY_SECRET
    if not _digest.const_time_eq(computed, expected) or stored is None:
        raise AuthenticationError("bad_password")
    return user


def verify_md5(cred_data: str | bytes, secret: Secret | None, nonce: bytes) -> bool:
    """True iff ``cred_data`` is the auth-md5 credential for ``secret`` and ``nonce``.

    ``secret=None`` (unknown user) still computes a digest, then returns False.
    """
    data = _utf8(cred_data)
    if secret is None:
        _digest.md5_verify(_DUMMY_SECRET, bytes(nonce), data)
        return False
    return bool(_digest.md5_verify(_secret_bytes(secret), bytes(nonce), data))


_DUMMY_SECRET = b"AAAAAAAAAAAAAAAAAAAAAA=="


@dataclass(frozen=True, slots=True)
class Credential:
    """A ``SyncHdr/Cred``: ``Meta/Type``, ``Meta/Format`` and ``Data`` as they travel."""

    meta_type: str
    """``syncml:auth-basic`` or ``syncml:auth-md5`` (``auth-MAC`` never travels in Cred)."""
    data: str
    """The base64 credential text."""
    format: str = "b64"
    """``Meta/Format``; MUST be ``b64`` for both types."""

    def to_model(self) -> Any:
        """This credential as an ``omadm_codec.messages.model.Cred`` (for ``SyncHdr.cred``)."""
        return Cred(self.data, Meta(format=self.format, type=self.meta_type))

    @classmethod
    def from_model(cls, cred: Any) -> Credential:
        """From a decoded ``model.Cred``; a missing Meta/Type is ``bad_credential``.

        A missing Meta/Format is read as ``chr``, which the policy then refuses (must be b64).
        """
        meta = cred.meta
        if meta is None or not meta.type:
            raise AuthenticationError("bad_credential", "Cred without Meta/Type")
        return cls(meta.type.strip(), (cred.data or "").strip(), (meta.format or "chr").strip())


@dataclass(frozen=True, slots=True)
class Challenge:
    """A ``Status/Chal``: the type the sender demands and the nonce to use next."""

    meta_type: str
    """``Meta/Type`` demanded (``syncml:auth-md5``, ``syncml:auth-MAC``, ``syncml:auth-basic``)."""
    next_nonce: bytes | None = None
    """The nonce octets (None for basic); on the wire as base64 in ``Meta/NextNonce``."""
    format: str = "b64"
    """``Meta/Format``; b64 for md5 and MAC."""

    @property
    def next_nonce_b64(self) -> str | None:
        """``NextNonce`` as it is written into the message."""
        return None if self.next_nonce is None else b64encode(self.next_nonce).decode("ascii")

    def to_model(self) -> Any:
        """This challenge as an ``omadm_codec.messages.model.Chal`` (for the SyncHdr Status)."""
        return Chal(Meta(format=self.format, type=self.meta_type,
                         next_nonce=self.next_nonce_b64))

    @classmethod
    def from_model(cls, chal: Any) -> Challenge:
        """From a decoded ``model.Chal``; the NextNonce is base64-decoded (``bad_nonce``)."""
        meta = chal.meta
        if meta is None or not meta.type:
            raise AuthenticationError("bad_challenge", "Chal without Meta/Type")
        fmt = (meta.format or "b64").strip()
        if meta.next_nonce is None:
            return cls(meta.type.strip(), None, fmt)
        if fmt != "b64":
            raise AuthenticationError("bad_challenge", "NextNonce Format must be b64")
        return cls(meta.type.strip(), b64_nonce(meta.next_nonce.strip()), fmt)


def build_credential(aauth_type: str, user: str, password: str,
                     nonce: bytes | None = None) -> Credential:
    """The ``Cred`` for DMAcc ``AAuthType`` ``BASIC`` or ``DIGEST`` (``HMAC`` uses a header)."""
    if aauth_type == "BASIC":
        return Credential(META_BASIC, basic_credential(user, password))
    if aauth_type == "DIGEST":
        if nonce is None:
            raise EncodeError("missing_nonce", detail="auth-md5 needs the peer's nonce")
        return Credential(META_MD5, md5_credential(user, password, nonce))
    raise EncodeError("unsupported_auth_type", detail=f"no Cred form for {aauth_type!r}")


# -- transport HMAC (x-syncml-hmac) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HmacHeader:
    """A parsed ``x-syncml-hmac`` value."""

    username: str
    """The ``username`` parameter (equals ``SyncHdr/Source/LocName``)."""
    mac: str
    """The ``mac`` parameter: base64 of the 16-byte digest."""
    algorithm: str = "MD5"
    """Always ``MD5`` after parsing (other algorithms are rejected)."""


def _quote(username: str) -> str:
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in username):
        # A CR/LF here would inject a header line (hostile-inputs.md item 27).
        raise EncodeError("bad_username", detail="control character in HMAC user name")
    return '"' + username.replace("\\", "\\\\").replace('"', '\\"') + '"'


def hmac_header(user: str, password: str, nonce: bytes, body: Buffer) -> str:
    """The ``x-syncml-hmac`` value for ``body`` (the exact bytes that will be sent)."""
    secret = _digest.secret_hash(_utf8(user), _utf8(password))
    mac = _digest.mac_b64(secret, bytes(nonce), body).decode("ascii")
    return f"algorithm=MD5, username={_quote(user)}, mac={mac}"


def hmac_header_from_secret(user: str, secret: Secret, nonce: bytes, body: Buffer) -> str:
    """As ``hmac_header``, from the stored ``secret_hash`` value."""
    mac = _digest.mac_b64(_secret_bytes(secret), bytes(nonce), body).decode("ascii")
    return f"algorithm=MD5, username={_quote(user)}, mac={mac}"


# param = name "=" (token | quoted-string); LWS is spaces and tabs only (no folding).
_PARAM = re.compile(
    r'[ \t]*([A-Za-z]+)[ \t]*=[ \t]*(?:"((?:[^"\\\x00-\x1f\x7f]|\\[\x20-\x7e])*)"'
    r"|([A-Za-z0-9+/=!#$%&'*.^_`|~-]+))[ \t]*"
)


def parse_hmac_header(value: str | bytes) -> HmacHeader:
    """Parse an ``x-syncml-hmac`` value strictly.

    Raises ``AuthenticationError``: ``bad_header`` (grammar, duplicate or missing parameter,
    oversize), ``unsupported_algorithm`` (anything but MD5), ``bad_mac`` (mac not 24 base64 chars).
    """
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError as exc:
            raise AuthenticationError("bad_header", "non-ASCII header") from exc
    if len(value) > MAX_HMAC_HEADER:
        raise AuthenticationError("bad_header", "header too long")
    params: dict[str, str] = {}
    pos = 0
    while True:
        match = _PARAM.match(value, pos)
        if match is None:
            raise AuthenticationError("bad_header", f"syntax error at {pos}")
        name = match.group(1).lower()
        if name in params:
            raise AuthenticationError("bad_header", f"duplicate {name}")
        if name not in ("algorithm", "username", "mac"):
            raise AuthenticationError("bad_header", f"unknown parameter {name}")
        quoted = match.group(2)
        if name == "username":
            if quoted is None:
                raise AuthenticationError("bad_header", "username must be a quoted-string")
            params[name] = re.sub(r"\\(.)", r"\1", quoted)
        else:
            if quoted is not None:
                raise AuthenticationError("bad_header", f"{name} must not be quoted")
            params[name] = match.group(3)
        pos = match.end()
        if pos == len(value):
            break
        if value[pos] != ",":
            raise AuthenticationError("bad_header", f"expected ',' at {pos}")
        pos += 1
    if "username" not in params or "mac" not in params:
        raise AuthenticationError("bad_header", "username and mac are mandatory")
    if params.get("algorithm", "MD5").upper() != "MD5":
        raise AuthenticationError("unsupported_algorithm", params["algorithm"])
    if not _B64_DIGEST.fullmatch(params["mac"].encode("ascii")):
        raise AuthenticationError("bad_mac", "mac is not the base64 of 16 bytes")
    return HmacHeader(params["username"], params["mac"])


def claimed_user(loc_name: str | None, cred: Credential | None,
                 hmac_header: str | bytes | None) -> str | None:
    """The account a message says it is from, verifying nothing: its LocName, else the user
    inside auth-basic data, else the ``x-syncml-hmac`` username (None if nothing parses).
    For counting failures per account, never for granting anything."""
    if loc_name:
        return loc_name
    if cred is not None and cred.meta_type == META_BASIC:
        try:
            user = b64decode(cred.data, validate=True).partition(b":")[0].decode("utf-8")
        except (binascii.Error, ValueError):
            return None
        return user or None
    if hmac_header is not None:
        try:
            return parse_hmac_header(hmac_header).username
        except AuthenticationError:
            return None
    return None


def verify_hmac(header: HmacHeader, secret: Secret | None, nonce: bytes, body: Buffer) -> bool:
    """True iff ``header.mac`` is the MAC of ``body`` for ``secret`` and ``nonce``.

    ``secret=None`` (unknown user) still costs one MAC computation, then returns False.
    """
    key = _DUMMY_SECRET if secret is None else _secret_bytes(secret)
    ok = _digest.mac_verify(key, bytes(nonce), body, header.mac.encode("ascii"))
    return bool(ok) and secret is not None


def verify_hmac_header(header_value: str | bytes, secret_lookup: Callable[[str], Secret | None],
                       nonce: bytes, body: Buffer, *,
                       max_body: int = DEFAULT_LIMITS.max_input_size) -> str:
    """Parse and verify an ``x-syncml-hmac`` value over the exact ``body`` bytes.

    Call it before parsing the body. Returns the user name; raises ``AuthenticationError``
    (``bad_header``, ``bad_mac``, ``unsupported_algorithm``, ``too_large``: a body over
    ``max_body`` is refused before any hashing) when anything is wrong, unknown user included.
    """
    if memoryview(body).nbytes > max_body:
        raise AuthenticationError("too_large", f"body over {max_body} bytes")
    header = parse_hmac_header(header_value)
    if not verify_hmac(header, secret_lookup(header.username), nonce, body):
        raise AuthenticationError("bad_mac")
    return header.username
