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


class TreeError(OmaDmError):
    """A management-tree operation was refused; nothing in the tree changed.

    ``.status`` is the DM status code the command answers with (404, 405, 414, 418, 425, ...),
    ``.reason`` a short machine code, ``.uri`` the URI as the caller gave it (may be empty).
    Subclasses fix the usual status; ``TreeError`` itself is used for the rarer codes.
    """

    default_status = 500

    def __init__(
        self, reason: str, uri: str = "", detail: str = "", status: int | None = None
    ) -> None:
        self.reason = reason
        self.uri = uri
        self.detail = detail
        self.status = self.default_status if status is None else status
        text = f"{self.status} {reason}" + (f" ({uri!r})" if uri else "")
        super().__init__(f"{text}: {detail}" if detail else text)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_tree_error, (type(self), self.__dict__.copy()))


def _rebuild_tree_error(cls: type[TreeError], state: dict[str, object]) -> TreeError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, state.get("reason", ""))
    return error


class TreeAddressError(TreeError):
    """A URI is malformed (400), over a DevDetail/URI limit (414) or names no node (404).

    ``.segment`` is the 0-based index of the offending path segment, or -1 when the whole URI
    (its total length, its query) is to blame.
    """

    default_status = 400

    def __init__(
        self,
        reason: str,
        segment: int = -1,
        uri: str = "",
        detail: str = "",
        status: int | None = None,
    ) -> None:
        self.segment = segment
        super().__init__(reason, uri, detail, status)


class NodeNotFound(TreeAddressError):
    """404: the node (``.segment`` = index of the first segment that does not exist) is absent."""

    default_status = 404


class PermissionDenied(TreeError):
    """425: the effective ACL does not grant the acting server this command."""

    default_status = 425


class NotAllowed(TreeError):
    """405: the command is not allowed on this node (root, permanent, AccessType, leaf/interior)."""

    default_status = 405


class AlreadyExists(TreeError):
    """418: Add on an existing node, or a rename onto a sibling's name."""

    default_status = 418


class NotSupported(TreeError):
    """406: an unsupported property, ``?list`` form or TNDS property."""

    default_status = 406


class InvalidValue(TreeError):
    """415: a value does not match its format, or the format / type is unknown."""

    default_status = 415


class ValueTooLarge(TreeError):
    """413: a value, title or document is bigger than the tree accepts."""

    default_status = 413


class LocalProtocolError(OmaDmError):
    """The caller misused a DM session (called something the session's state forbids).

    ``.reason`` is a short machine code; the session's state did not change.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class RemoteProtocolError(OmaDmError):
    """The peer sent a message a DM session cannot accept; the session is now terminal.

    ``.reason`` is a short machine code, ``.status`` the DM status the session answered with
    (or None when it answered nothing), ``.response`` the bytes of that answer (may be empty).
    """

    def __init__(self, reason: str, detail: str = "", status: int | None = None,
                 response: bytes = b"") -> None:
        self.reason = reason
        self.detail = detail
        self.status = status
        self.response = response
        super().__init__(f"{reason}: {detail}" if detail else reason)


class ForeignMessage(RemoteProtocolError):
    """A message a live session refused *without changing anything*: it does not decode, or
    it is not from the session's peer (another SessionID, Source LocURI or account, or it
    fails the authentication every message of the session must carry). Unlike its base
    class, the session is not terminal: its peer's next genuine message is taken as if this
    one never came. ``.response`` is the DM refusal to send back (empty: answer without a
    body, HTTP 400)."""


class SnapshotError(OmaDmError, ValueError):
    """A session snapshot is corrupt, foreign or of an unknown version (``.reason``)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class WBXMLParseError(OmaDmError):
    """python-wbxml's exception (``omadm_codec.compat.wbxml``): a conversion failed.

    The message is python-wbxml's: libwbxml's words for the failure and the call's context.
    ``.reason`` and ``.offset`` are the codec's own (as in ``DecodeError`` / ``EncodeError``),
    ``.code`` the libwbxml error number the failure corresponds to (0 when none does).
    """

    def __init__(self, message: str, reason: str = "", offset: int = -1, code: int = 0) -> None:
        self.reason = reason
        self.offset = offset
        self.code = code
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (str(self), self.reason, self.offset, self.code))
