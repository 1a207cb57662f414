"""Bootstrap (DM-3 / DM-4 / CP-1): the MAC check, and applying the account record it carries.

One idea: a bootstrap is *data plus a MAC*. ``verify`` decides, from the SEC method and the
secrets the device holds (IMSI, user PIN), whether the exact bytes received are authentic;
only a ``Verification`` that passed may be handed to ``apply``, which writes the account into
a ``DMTree`` in one transaction. Everything else (an unverified or NETWPIN-only document when
the caller demands a user PIN, a failed MAC) changes nothing.

MAC (dm-protocol.md 5.2): ``HMAC-SHA1(K, document)`` as 40 hex digits, K by SEC method:
NETWPIN / NETWORKID = the IMSI in semi-octets (``imsi_key``), USERPIN = the PIN's ASCII,
USERNETWPIN / USERPIN_NETWORKID = IMSI key || PIN (the CP implementations' form; the DM
Security text's ``"PIN:secret"`` reading is unverified and not implemented), USERPINMAC = the
user-entered string K || m, checked digit by digit. The documents themselves (w7
``wap-provisioningdoc`` and DM-profile SyncML) are in ``bootstrap_docs``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from hashlib import sha1
from typing import TYPE_CHECKING

from ..errors import AuthenticationError
from .bootstrap_docs import parse_any
from .w7 import DMACC_LEVELS, W7_LEVELS, AppAuth, W7Account

if TYPE_CHECKING:
    from ..tree import DMTree

Buffer = bytes | bytearray | memoryview

# SEC names: CP profile (WSP param 0x11 values 0..3) and DM profile (Content-Type param).
CP_SEC = {0: "NETWPIN", 1: "USERPIN", 2: "USERNETWPIN", 3: "USERPINMAC"}
DM_SEC_TO_CP = {"NETWORKID": "NETWPIN", "USERPIN": "USERPIN", "USERPIN_NETWORKID": "USERNETWPIN"}
WSP_PARAM_SEC = 0x11
WSP_PARAM_MAC = 0x12
WSP_CONTENT_TYPE_CP = 0x36  # application/vnd.wap.connectivity-wbxml
WSP_CONTENT_TYPE_DM_WBXML = 0x42  # application/vnd.syncml.dm+wbxml


def imsi_key(imsi: str) -> bytes:
    """The NETWPIN key: the IMSI in semi-octet (BCD) form with the 1/9 parity nibble.

    Odd digit count: prefix nibble 9; even: prefix 1 and pad with F. Digit pairs are packed
    with the nibbles swapped (first digit in the low nibble).
    """
    if not imsi.isascii() or not imsi.isdigit() or not 1 <= len(imsi) <= 15:
        raise ValueError("an IMSI is 1..15 decimal digits")
    nibbles = [9 if len(imsi) % 2 else 1] + [int(ch) for ch in imsi]
    if len(nibbles) % 2:
        nibbles.append(0xF)
    return bytes((nibbles[i + 1] << 4) | nibbles[i] for i in range(0, len(nibbles), 2))


def _sec_name(sec: str | int) -> str:
    if isinstance(sec, int):
        if sec not in CP_SEC:
            raise AuthenticationError("unknown_sec", f"SEC value {sec}")
        return CP_SEC[sec]
    name = DM_SEC_TO_CP.get(sec.upper(), sec.upper())
    if name not in CP_SEC.values():
        raise AuthenticationError("unknown_sec", sec)
    return name


def mac_key(sec: str | int, *, imsi: str | None = None, pin: str | None = None) -> bytes:
    """The HMAC-SHA1 key for a SEC method (not for USERPINMAC, whose key is in the PIN)."""
    name = _sec_name(sec)
    if name in ("NETWPIN", "USERNETWPIN") and imsi is None:
        raise AuthenticationError("missing_secret", f"{name} needs the IMSI")
    if name in ("USERPIN", "USERNETWPIN") and not pin:
        raise AuthenticationError("missing_secret", f"{name} needs the user PIN")
    if name == "NETWPIN":
        assert imsi is not None
        return imsi_key(imsi)
    if name == "USERPIN":
        assert pin is not None
        return pin.encode("ascii")
    if name == "USERNETWPIN":
        assert imsi is not None and pin is not None
        return imsi_key(imsi) + pin.encode("ascii")
    raise AuthenticationError("unknown_sec", "USERPINMAC has no header MAC; use userpinmac_code")


def compute_mac(document: Buffer, sec: str | int, *, imsi: str | None = None,
                pin: str | None = None) -> str:
    """The ``MAC`` parameter for ``document`` (its exact WBXML bytes): 40 upper-case hex."""
    key = mac_key(sec, imsi=imsi, pin=pin)
    return hmac.new(key, bytes(document), sha1).hexdigest().upper()


def userpinmac_code(document: Buffer, pin: str) -> str:
    """The string the user is given for USERPINMAC: ``pin`` followed by as many MAC digits."""
    digest = hmac.new(pin.encode("ascii"), bytes(document), sha1).digest()
    if len(pin) > len(digest):
        raise ValueError("PIN longer than the MAC")
    return pin + "".join(chr(0x30 + digest[i] % 10) for i in range(len(pin)))


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of ``verify``; ``apply`` accepts only one whose ``ok`` is True."""

    ok: bool
    """The MAC matched the document under the given SEC method."""
    sec: str
    """The SEC method, CP naming (NETWPIN, USERPIN, USERNETWPIN, USERPINMAC)."""
    user_authenticated: bool
    """False for NETWPIN: the IMSI is not secret, so a NETWPIN MAC proves little."""
    document: bytes = field(repr=False, default=b"")
    """The checked bytes; ``apply`` parses the accounts from these and nothing else."""


def verify(document: Buffer, sec: str | int, mac: str | None, *, imsi: str | None = None,
           pin: str | None = None, user_input: str | None = None) -> Verification:
    """Check a bootstrap's MAC over its exact bytes, in constant time.

    ``mac`` is the received MAC parameter (hex, any case); for USERPINMAC pass the string the
    user typed as ``user_input`` instead. Missing secrets raise ``AuthenticationError``
    (``missing_secret``); a MAC mismatch returns ``ok=False``.
    """
    name = _sec_name(sec)
    data = bytes(document)
    if name == "USERPINMAC":
        if not user_input or len(user_input) % 2 or not user_input.isascii():
            return Verification(False, name, True, data)
        half = len(user_input) // 2
        expected = userpinmac_code(data, user_input[:half])
        ok = hmac.compare_digest(expected.encode("ascii"), user_input.encode("ascii"))
        return Verification(ok, name, True, data)
    expected = compute_mac(data, name, imsi=imsi, pin=pin)
    given = (mac or "").strip().upper()
    ok = given.isascii() and hmac.compare_digest(expected.encode("ascii"), given.encode("ascii"))
    return Verification(ok, name, name != "NETWPIN", data)


class PinAttempts:
    """Counts failed USERPIN checks per source and refuses after ``limit`` (brute force)."""

    def __init__(self, limit: int = 3) -> None:
        self.limit = limit
        self.failures: dict[str, int] = {}

    def check(self, source: str, verification: Verification) -> Verification:
        """Record ``verification``; raises ``AuthenticationError("pin_locked")`` once over."""
        if self.failures.get(source, 0) >= self.limit:
            raise AuthenticationError("pin_locked", source)
        if not verification.ok and verification.user_authenticated:
            self.failures[source] = self.failures.get(source, 0) + 1
        return verification


def _free_name(tree: DMTree) -> str:
    number = 1
    while tree._find_quiet(("DMAcc", str(number))) is not None:
        number += 1
    return str(number)


def apply(tree: DMTree, verification: Verification, *, name: str | None = None,
          dm_version: str = "1.2") -> list[str]:
    """Write the accounts of a verified bootstrap into ``tree``; return their URIs.

    The accounts are parsed from ``verification.document`` itself, so only the bytes whose
    MAC was checked can reach the tree. Refuses (``AuthenticationError("unverified")``)
    unless ``verification.ok``. Each account becomes ``./DMAcc/<name>`` (default: the first
    free number); its server gets Get, Replace and Delete on it; AAuthSecret and AAuthData
    are not readable (no Get in AccessType). All or nothing: on any error the tree is as it
    was (parse errors are ``DecodeError``, tree refusals ``TreeError``).
    """
    if not verification.ok:
        raise AuthenticationError("unverified", "bootstrap MAC not verified")
    accounts = parse_any(verification.document)
    if name is not None and len(accounts) != 1:
        raise ValueError("name= applies to a bootstrap with exactly one account")
    with tree.transaction():
        return [_add_account(tree, account, name, dm_version) for account in accounts]


def _add_account(tree: DMTree, account: W7Account, name: str | None, dm_version: str) -> str:
    from ..tree.standard import NO_GET, mo_urn

    sid = account.server_id
    if tree._find_quiet(("DMAcc",)) is None:
        tree.device_add("./DMAcc", format="node", permanent=True, acl="Get=*")
    base = f"./DMAcc/{name or _free_name(tree)}"
    tree.device_add(base, format="node", acl=f"Delete={sid}&Get={sid}&Replace={sid}",
                    type=mo_urn("dmacc", dm_version))
    clcred = account.credentials("CLCRED")
    auth_pref = account.auth_pref or (clcred.type if clcred else "")
    leaves = [("AppID", "w7"), ("ServerID", sid), ("Name", account.name),
              ("AAuthPref", auth_pref), ("AppAddr/1/Addr", account.addr),
              ("AppAddr/1/AddrType", account.addr_type)]
    if account.to_napid:
        leaves.append(("PrefConRef", account.to_napid))
    if account.port is not None:
        leaves.append(("AppAddr/1/Port/1/PortNbr", str(account.port)))
    for leaf, value in leaves:
        tree.device_add(f"{base}/{leaf}", value)
    for index, entry in enumerate(account.auth, 1):
        prefix = f"{base}/AppAuth/{index}"
        for leaf, value in (("AAuthLevel", entry.level), ("AAuthType", entry.type),
                            ("AAuthName", entry.name)):
            tree.device_add(f"{prefix}/{leaf}", value)
        tree.device_add(f"{prefix}/AAuthSecret", entry.secret, access=NO_GET)
        tree.device_add(f"{prefix}/AAuthData", entry.data, format="bin", access=NO_GET)
    return base


# -- transport parameters (SEC and MAC travel next to the document) ---------------------------

DM_CONTENT_TYPE = "application/vnd.syncml.dm+wbxml"
CP_CONTENT_TYPE = "application/vnd.wap.connectivity-wbxml"
CP_SEC_CODES = {name: code for code, name in CP_SEC.items()}


def dm_content_type(sec: str, mac: str) -> str:
    """``Content-Type`` of a DM-profile bootstrap: ``...dm+wbxml; SEC=<sec>; MAC=<hex>``."""
    if sec not in DM_SEC_TO_CP:
        raise ValueError(f"DM-profile SEC is one of {sorted(DM_SEC_TO_CP)}")
    if len(mac) != 40 or any(ch not in "0123456789abcdefABCDEF" for ch in mac):
        raise ValueError("MAC is 40 hex digits")
    return f"{DM_CONTENT_TYPE}; SEC={sec}; MAC={mac}"


def parse_content_type(value: str) -> tuple[str, str | None, str | None]:
    """(media type, SEC, MAC) from a bootstrap ``Content-Type`` value (either profile).

    Parameter names are case-insensitive; a repeated SEC or MAC is ``DecodeError``.
    """
    from ..errors import DecodeError

    media, *params = (part.strip() for part in value.split(";"))
    found: dict[str, str] = {}
    for param in params:
        key, sep, val = param.partition("=")
        key = key.strip().upper()
        if not sep or key in found:
            raise DecodeError("bad_content_type", -1, value)
        found[key] = val.strip().strip('"')
    return media.lower(), found.get("SEC"), found.get("MAC")


def cp_wsp_content_type(sec: str | int, mac: str) -> bytes:
    """WSP Content-Type of a CP push: general form, 0x36 + SEC (0x11) + MAC (0x12) params."""
    code = sec if isinstance(sec, int) else CP_SEC_CODES.get(sec.upper())
    if code not in CP_SEC:
        raise ValueError(f"unknown SEC {sec!r}")
    assert code is not None
    body = bytes([0x80 | WSP_CONTENT_TYPE_CP, 0x80 | WSP_PARAM_SEC, 0x80 | code,
                  0x80 | WSP_PARAM_MAC]) + mac.encode("ascii") + b"\x00"
    if len(body) > 30:
        return b"\x1f" + bytes([len(body)]) + body  # Length-quote + uintvar (< 128 here)
    return bytes([len(body)]) + body


__all__ = [
    "AppAuth",
    "CP_CONTENT_TYPE",
    "CP_SEC",
    "CP_SEC_CODES",
    "DMACC_LEVELS",
    "DM_CONTENT_TYPE",
    "DM_SEC_TO_CP",
    "PinAttempts",
    "Verification",
    "W7Account",
    "W7_LEVELS",
    "WSP_CONTENT_TYPE_CP",
    "WSP_CONTENT_TYPE_DM_WBXML",
    "WSP_PARAM_MAC",
    "WSP_PARAM_SEC",
    "apply",
    "compute_mac",
    "cp_wsp_content_type",
    "dm_content_type",
    "imsi_key",
    "mac_key",
    "parse_content_type",
    "userpinmac_code",
    "verify",
]
