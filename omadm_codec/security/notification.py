"""Package 0: the DM 1.2 General Notification Initiated Session Alert, and its bearers.

One idea: a package 0 is ``digest(16) || trigger``, where ``trigger`` is a 64-bit big-endian
header word (version 10 bits, ui-mode 2, initiator 1, 27 reserved zero bits, session id 16,
server-id length 8), the server identifier and optional vendor bytes; and
``digest = H(B64(H(server-id ":" password)) ":" nonce ":" B64(H(trigger)))`` with the server's
credentials as held by the client (dm-protocol.md 4). Decoding checks structure only; whether
to act on it is ``verify``'s job (a failed digest means: ignore it, start no session).

Bearers: a connectionless WSP push PDU (content type 0x44, X-WAP-Application-ID 0x07, to port
2948, optionally behind an SMS user-data header), or the body of an HTTP/SIP push with content
type ``application/vnd.syncml.notification``. The DM 1.3 type
``application/vnd.syncml.dm.notification`` (WSP 0x58) is recognised and routed apart; its layout
is not public in full (dm13-deltas.md 2.5-2.7), so it is exposed as raw bytes, not parsed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._backend import active
from ..errors import DecodeError, EncodeError

if TYPE_CHECKING:
    from . import _digest_py as _digest
else:
    _digest = active("security._digest")

Buffer = bytes | bytearray | memoryview

CONTENT_TYPE = "application/vnd.syncml.notification"
CONTENT_TYPE_DM13 = "application/vnd.syncml.dm.notification"
WSP_CONTENT_TYPE = 0x44
WSP_CONTENT_TYPE_DM13 = 0x58
WAP_APP_ID_DM = 0x07
WAP_APP_ID_DM_TEXT = "x-wap-application:syncml.dm"
WAP_PUSH_PORT = 2948
WAP_PUSH_SOURCE_PORT = 9200
WSP_PDU_PUSH = 0x06
WSP_HEADER_APP_ID = 0x2F

VERSION_1_2 = 11  # "1.1" x 10; DM 1.2.1 text: MUST be 0000001011
# The spec writes the resync nonce as 0x00000000; libdmclient uses the 10-char ASCII string.
# Both are tried, in this order, and only when resync is enabled (dm-protocol.md 4.2).
RESYNC_NONCES = (b"\x00\x00\x00\x00", b"0x00000000")

DIGEST_SIZE = 16
HEADER_END = 24  # digest (16) + header word (8)
_RESERVED_MASK = ((1 << 27) - 1) << 24


def session_id_hex(session_id: int) -> str:
    """The SyncHdr ``SessionID`` for a package-0 session id: upper-case hex, no leading zeros."""
    if not 0 <= session_id <= 0xFFFF:
        raise ValueError("session id is 16 bits")
    return format(session_id, "X")


@dataclass(frozen=True, slots=True)
class Notification:
    """A DM 1.2 package 0 (General Notification Initiated Session Alert)."""

    version: int = VERSION_1_2
    """Notification version x 10 (10 bits); 11 for DM 1.2."""
    ui_mode: int = 0
    """0 not specified, 1 background, 2 informative, 3 user interaction."""
    initiator: int = 1
    """0 client/end user, 1 server."""
    session_id: int = 0
    """16-bit session id; ``session_id_hex`` gives the SyncHdr SessionID."""
    server_id: str = ""
    """The ServerID (1..255 UTF-8 bytes)."""
    vendor: bytes = b""
    """Vendor-specific trigger body."""
    digest: bytes = field(default=b"", compare=False)
    """The 16 digest bytes as received (empty for a notification built locally)."""

    @property
    def session_id_hex(self) -> str:
        """The SyncHdr ``SessionID`` this notification asks for."""
        return session_id_hex(self.session_id)

    def trigger(self) -> bytes:
        """The digested part: header word, server identifier, vendor bytes."""
        ranges = (("version", self.version, 0x3FF), ("ui_mode", self.ui_mode, 3),
                  ("initiator", self.initiator, 1), ("session_id", self.session_id, 0xFFFF))
        for name, value, top in ranges:
            if not 0 <= value <= top:
                raise EncodeError("field_range", detail=f"{name}={value} outside 0..{top}")
        server = self.server_id.encode("utf-8")
        if not 1 <= len(server) <= 255:
            raise EncodeError("bad_server_id", detail="server identifier must be 1..255 bytes")
        word = ((self.version << 54) | (self.ui_mode << 52) | (self.initiator << 51)
                | (self.session_id << 8) | len(server))
        return word.to_bytes(8, "big") + server + bytes(self.vendor)

    def encode(self, password: str, nonce: bytes) -> bytes:
        """The package-0 bytes, digest first, for the server password and the client's nonce."""
        secret = _digest.secret_hash(self.server_id.encode("utf-8"), password.encode("utf-8"))
        return self.encode_with_secret(secret, nonce)

    def encode_with_secret(self, secret: str | bytes, nonce: bytes) -> bytes:
        """As ``encode``, from the stored ``B64(H(server-id ":" password))``."""
        key = secret.encode("ascii") if isinstance(secret, str) else bytes(secret)
        trigger = self.trigger()
        return _digest.mac_digest(key, bytes(nonce), trigger) + trigger


def decode(raw: Buffer, *, versions: tuple[int, ...] = (VERSION_1_2,)) -> Notification:
    """Parse a package 0 (structure only; see ``verify`` for the digest).

    Raises ``DecodeError``: ``too_short`` (under 24 bytes; offset = length), ``bad_version``
    (16), ``reserved_bits`` (first byte with a reserved bit set), ``empty_server_id`` (23),
    ``server_id_truncated`` (23: the length byte points past the end), ``bad_server_id`` (24).
    """
    data = bytes(raw)
    if len(data) < HEADER_END:
        raise DecodeError("too_short", len(data), "package 0 needs at least 24 bytes")
    word = int.from_bytes(data[DIGEST_SIZE:HEADER_END], "big")
    version = word >> 54
    if version not in versions:
        raise DecodeError("bad_version", DIGEST_SIZE, f"version {version}")
    if word & _RESERVED_MASK:
        # Reserved bits 50..24 live in bytes 17..20; blame the first one with a bit set.
        for offset in range(17, 21):
            shift = (HEADER_END - 1 - offset) * 8
            if (word >> shift) & 0xFF & (_RESERVED_MASK >> shift):
                raise DecodeError("reserved_bits", offset, "future-use bits must be 0")
    id_len = word & 0xFF
    if id_len == 0:
        raise DecodeError("empty_server_id", HEADER_END - 1)
    if HEADER_END + id_len > len(data):
        raise DecodeError("server_id_truncated", HEADER_END - 1,
                          f"{id_len} identifier bytes, {len(data) - HEADER_END} present")
    try:
        server_id = data[HEADER_END:HEADER_END + id_len].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("bad_server_id", HEADER_END + exc.start, "not UTF-8") from exc
    return Notification(version=version, ui_mode=(word >> 52) & 3, initiator=(word >> 51) & 1,
                        session_id=(word >> 8) & 0xFFFF, server_id=server_id,
                        vendor=data[HEADER_END + id_len:], digest=data[:DIGEST_SIZE])


def matching_nonce(raw: Buffer, password: str, nonce: bytes, *, allow_resync: bool = False,
                   server_name: str | None = None) -> bytes | None:
    """The nonce the package-0 digest verifies with, or None if it does not verify.

    ``nonce`` is the stored server nonce (SRVCRED AAuthData). With ``allow_resync`` (off by
    default: fixed-nonce notifications replay forever) both forms of the resync nonce are
    tried after it; a match on one of them means the caller must run the resync procedure
    (rotate the nonces) before trusting the server again. ``server_name`` is the SRVCRED
    AAuthName when it differs from the identifier in the notification. Structure errors
    raise ``DecodeError`` (via ``decode``).
    """
    note = decode(raw)
    name = note.server_id if server_name is None else server_name
    secret = _digest.secret_hash(name.encode("utf-8"), password.encode("utf-8"))
    return matching_nonce_with_secret(raw, secret, nonce, allow_resync=allow_resync)


def matching_nonce_with_secret(raw: Buffer, secret: str | bytes, nonce: bytes, *,
                               allow_resync: bool = False) -> bytes | None:
    """As ``matching_nonce``, from the stored secret (the structure is checked first)."""
    decode(raw)
    key = secret.encode("ascii") if isinstance(secret, str) else bytes(secret)
    candidates = (bytes(nonce),) + (RESYNC_NONCES if allow_resync else ())
    found: bytes | None = None
    for candidate in candidates:
        # Try every candidate (no early exit), so timing does not tell which one matched.
        if _digest.pkg0_verify(key, candidate, raw) and found is None:
            found = candidate
    return found


def verify(raw: Buffer, password: str, nonce: bytes, *, allow_resync: bool = False,
           server_name: str | None = None) -> bool:
    """True iff the digest of a well-formed package 0 verifies (see ``matching_nonce``)."""
    return matching_nonce(raw, password, nonce, allow_resync=allow_resync,
                          server_name=server_name) is not None


# -- bearers -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dm13Notification:
    """A DM 1.3 notification (``application/vnd.syncml.dm.notification``), kept as raw bytes.

    Its layout (fixed header, TLV fields, digest) is not public in full, so this library does
    not parse or verify it; the caller decides what to do with ``raw``.
    """

    raw: bytes
    """The notification bytes exactly as received."""


@dataclass(frozen=True, slots=True)
class PushMessage:
    """A decoded connectionless WSP push PDU."""

    transaction_id: int
    """WSP TID (1 byte)."""
    content_type: str
    """The content type, as a MIME string (well-known codes are mapped)."""
    app_id: int | str | None
    """X-WAP-Application-ID: a well-known code, a URN string, or None if absent."""
    body: bytes
    """The PDU data (the package 0 itself)."""
    dest_port: int | None = None
    """Destination port from the SMS user-data header, if one was present."""


_WSP_CONTENT_TYPES = {WSP_CONTENT_TYPE: CONTENT_TYPE, WSP_CONTENT_TYPE_DM13: CONTENT_TYPE_DM13,
                      0x42: "application/vnd.syncml.dm+wbxml",
                      0x43: "application/vnd.syncml.dm+xml",
                      0x36: "application/vnd.wap.connectivity-wbxml"}
_WSP_CODES = {v: k for k, v in _WSP_CONTENT_TYPES.items()}
# SMS user-data header: IEI 0x05 = 16-bit application port addressing.
_UDH_PORTS = bytes([0x06, 0x05, 0x04]) + WAP_PUSH_PORT.to_bytes(2, "big") \
    + WAP_PUSH_SOURCE_PORT.to_bytes(2, "big")


def wap_push_wrap(body: bytes, *, content_type: str = CONTENT_TYPE, transaction_id: int = 0,
                  sms_udh: bool = False) -> bytes:
    """A connectionless WSP push PDU carrying ``body`` for the DM client (app id 0x07).

    ``sms_udh`` prefixes the SMS user-data header that addresses port 2948 (from 9200).
    Splitting into concatenated SMS is the bearer's job, not done here.
    """
    code = _WSP_CODES.get(content_type)
    if code is None:
        raise EncodeError("unknown_content_type", detail=content_type)
    if not 0 <= transaction_id <= 0xFF:
        raise EncodeError("field_range", detail="transaction id is one byte")
    headers = bytes([0x80 | code, 0x80 | WSP_HEADER_APP_ID, 0x80 | WAP_APP_ID_DM])
    pdu = bytes([transaction_id, WSP_PDU_PUSH, len(headers)]) + headers + bytes(body)
    return (_UDH_PORTS + pdu) if sms_udh else pdu


class _Reader:
    """Bounds-checked cursor over a PDU; every error names the absolute offset."""

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def u8(self) -> int:
        if self.pos >= self.end:
            raise DecodeError("truncated", self.pos)
        value = self.data[self.pos]
        self.pos += 1
        return value

    def uintvar(self) -> int:
        start, value = self.pos, 0
        for _ in range(5):  # at most 5 octets, value below 2**32
            octet = self.u8()
            value = (value << 7) | (octet & 0x7F)
            if not octet & 0x80:
                if value >= 1 << 32:
                    break
                return value
        raise DecodeError("bad_uintvar", start)

    def text(self) -> str:
        stop = self.data.find(b"\x00", self.pos, self.end)
        if stop < 0:
            raise DecodeError("unterminated_text", self.pos)
        raw = self.data[self.pos:stop]
        if raw[:1] == b'"' or raw[:1] == b"\x7f":  # Quote / Quoted-string markers
            raw = raw[1:]
        self.pos = stop + 1
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise DecodeError("bad_text", self.pos - 1 - len(raw) + exc.start) from exc

    def value_length(self, first: int) -> int:
        """Length of a Value-length value whose first octet ``first`` was already read."""
        length = self.uintvar() if first == 31 else first
        if length > self.end - self.pos:
            raise DecodeError("length_past_end", self.pos - 1)
        return length

    def skip_value(self) -> None:
        first = self.u8()
        if first < 32:
            self.pos += self.value_length(first)
        elif first < 128:
            self.pos -= 1
            self.text()


def _content_type(reader: _Reader) -> str:
    first = reader.u8()
    if first >= 0x80:
        code = first & 0x7F
        return _WSP_CONTENT_TYPES.get(code, f"x-wsp-content-type:{code:#04x}")
    if first >= 32:
        reader.pos -= 1
        return reader.text()
    # Content-general-form: Value-length Media-type *(Parameter); parameters are skipped.
    stop = reader.pos + reader.value_length(first)
    inner = _Reader(reader.data, reader.pos, stop)
    media = _content_type(inner) if inner.pos < stop else ""
    if media == "" or inner.pos > stop:
        raise DecodeError("bad_content_type", reader.pos)
    reader.pos = stop
    return media


def wap_push_unwrap(pdu: Buffer) -> PushMessage:
    """Decode a connectionless WSP push PDU (optionally behind an SMS port-addressing UDH).

    Raises ``DecodeError`` (reasons ``truncated``, ``not_push``, ``length_past_end``,
    ``bad_uintvar``, ``unterminated_text``, ``unsupported_header``, ``bad_content_type``,
    ``bad_udh``) with the absolute offset.
    """
    data = bytes(pdu)
    reader = _Reader(data)
    dest_port: int | None = None
    if data[:2] in (b"\x06\x05", b"\x0b\x05"):
        # A UDH with 16-bit port addressing first (UDHL 6; or 11 with a concatenation IE).
        udh_len = reader.u8()
        end = reader.pos + udh_len
        if end > len(data):
            raise DecodeError("bad_udh", 0)
        while reader.pos < end:
            iei, ie_len = reader.u8(), reader.u8()
            if reader.pos + ie_len > end:
                raise DecodeError("bad_udh", reader.pos - 1)
            if iei == 0x05 and ie_len == 4:
                dest_port = int.from_bytes(data[reader.pos:reader.pos + 2], "big")
            reader.pos += ie_len
    tid = reader.u8()
    pdu_type_at = reader.pos
    if reader.u8() != WSP_PDU_PUSH:
        raise DecodeError("not_push", pdu_type_at)
    headers_len = reader.uintvar()
    headers_end = reader.pos + headers_len
    if headers_end > len(data):
        raise DecodeError("length_past_end", pdu_type_at + 1)
    headers = _Reader(data, reader.pos, headers_end)
    content_type = _content_type(headers)
    app_id: int | str | None = None
    while headers.pos < headers_end:
        name_at = headers.pos
        name = headers.u8()
        if name >= 0x80:
            if name & 0x7F == WSP_HEADER_APP_ID:
                first = headers.u8()
                if first >= 0x80:
                    app_id = first & 0x7F
                elif first >= 32:
                    headers.pos -= 1
                    app_id = headers.text()
                else:  # Long-integer: Short-length then big-endian octets
                    if first > 4 or headers.pos + first > headers_end:
                        raise DecodeError("bad_app_id", name_at + 1)
                    app_id = int.from_bytes(data[headers.pos:headers.pos + first], "big")
                    headers.pos += first
            else:
                headers.skip_value()
        elif name >= 32 and name != 0x7F:
            headers.pos -= 1
            headers.text()  # application header name, then its text value
            headers.text()
        else:
            # Code-page shifts (0x01..0x1F, 0x7F) are legal WSP but never used for DM push.
            raise DecodeError("unsupported_header", name_at)
        if headers.pos > headers_end:
            raise DecodeError("length_past_end", name_at)
    return PushMessage(tid, content_type, app_id, data[headers_end:], dest_port)


def route(content_type: str, body: Buffer) -> Notification | Dm13Notification:
    """Dispatch a pushed body by content type (WSP, HTTP or SIP push alike).

    ``application/vnd.syncml.notification`` is decoded as a DM 1.2 package 0 (verify it before
    acting); ``application/vnd.syncml.dm.notification`` is returned raw. Parameters after
    ``;`` are ignored. Anything else is ``DecodeError("unknown_content_type")``.
    """
    media = content_type.split(";", 1)[0].strip().lower()
    if media == CONTENT_TYPE:
        return decode(body)
    if media == CONTENT_TYPE_DM13:
        return Dm13Notification(bytes(body))
    raise DecodeError("unknown_content_type", -1, content_type)


def route_push(pdu: Buffer) -> Notification | Dm13Notification:
    """Unwrap a WAP push and route it; refuses pushes not addressed to the DM client."""
    message = wap_push_unwrap(pdu)
    if message.app_id not in (WAP_APP_ID_DM, WAP_APP_ID_DM_TEXT):
        raise DecodeError("wrong_app_id", -1, repr(message.app_id))
    if message.dest_port not in (None, WAP_PUSH_PORT):
        raise DecodeError("wrong_port", -1, str(message.dest_port))
    return route(message.content_type, message.body)


def http_push(note: bytes) -> tuple[str, bytes]:
    """(Content-Type, body) of an HTTP or SIP push carrying a DM 1.2 package 0."""
    return CONTENT_TYPE, bytes(note)
