"""Every exception omadm_codec raises, defined once and shared by both twins.

Decode and encode errors carry ``.reason`` (a short machine-readable code, stable across
releases and identical in both twins) and ``.offset`` (absolute byte offset in the input, or -1
when no single byte is to blame). Tests assert class, reason and offset, never message text.
"""

from __future__ import annotations


class OmaDmError(Exception):
    """Base class of every error raised by omadm_codec."""


class DecodeError(OmaDmError, ValueError):
    """Input bytes (WBXML, XML, a notification, a header) could not be decoded."""

    def __init__(self, reason: str, offset: int = -1, detail: str = "") -> None:
        self.reason = reason
        self.offset = offset
        self.detail = detail
        text = f"{reason} at offset {offset}" if offset >= 0 else reason
        super().__init__(f"{text}: {detail}" if detail else text)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.reason, self.offset, self.detail))


class EncodeError(OmaDmError, ValueError):
    """A document or model cannot be encoded (unknown element, bad namespace, malformed XML)."""

    def __init__(self, reason: str, offset: int = -1, detail: str = "") -> None:
        self.reason = reason
        self.offset = offset
        self.detail = detail
        text = f"{reason} at offset {offset}" if offset >= 0 else reason
        super().__init__(f"{text}: {detail}" if detail else text)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.reason, self.offset, self.detail))


class AuthenticationError(OmaDmError):
    """Credentials, a MAC header, a nonce or a digest were rejected (or were malformed).

    ``.reason`` is a short machine code (``"bad_header"``, ``"bad_mac"``, ``"replay"``,
    ``"wrong_type"``, ...), as for decode errors; tests assert it, never the message text.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.reason, self.detail))
