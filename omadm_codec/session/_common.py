"""Pieces both session sides share: the outgoing-message record, message building and
checking helpers, and the codec calls.

The one idea: a session speaks the typed model (``omadm_codec.messages.model``) and touches
bytes only here, through the public ``messages.decode`` / ``encode``; every decode failure becomes a
``RemoteProtocolError`` at the receive boundary.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from ..errors import DecodeError, EncodeError, RemoteProtocolError
from ..limits import DEFAULT_LIMITS, Limits
from ..messages import decode, encode
from ..messages.model import (
    DM_COMMANDS,
    DS_COMMANDS,
    Alert,
    Atomic,
    Command,
    Item,
    Message,
    Meta,
    Results,
    Sequence,
    Status,
    SyncHdr,
)
from .events import _builder

Format = Literal["xml", "wbxml"]
CONTENT_TYPES: dict[str, str] = {
    "xml": "application/vnd.syncml.dm+xml",
    "wbxml": "application/vnd.syncml.dm+wbxml",
}
DS_CONTENT_TYPES: dict[str, str] = {
    "xml": "application/vnd.syncml+xml",
    "wbxml": "application/vnd.syncml+wbxml",
}
"""The SyncML DS media types, which some DM clients post (the quirk ``ds_media_type``)."""
ALERT_NEXT_MESSAGE = 1222
ALERT_ABORT = 1223
ALERT_NO_END_OF_DATA = 1225


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message ready to go to the peer."""

    body: bytes
    """The exact bytes to send (the HMAC, if any, covers exactly these)."""
    content_type: str
    """``application/vnd.syncml.dm+xml`` or ``+wbxml``."""
    msg_id: str
    """Its MsgID."""
    final: bool
    """True if it carries Final."""
    hmac: str | None = None
    """The ``x-syncml-hmac`` header value to send with it, if HMAC is in use."""


_outgoing: Callable[[bytes, str, str, bool, str | None], Outgoing] = _builder(Outgoing)
"""``Outgoing`` with every field given, without its ``__init__`` (a session makes one per
message)."""


def fmt_of(content_type: str | None, body: bytes) -> Format:
    """The encoding of ``body`` (media type first, else sniffed)."""
    if content_type is not None and "wbxml" in content_type.lower():
        return "wbxml"
    if content_type is None and body and body[0] <= 3 and body[:2] != b"\x00<":
        return "wbxml"
    return "xml"


def decode_message(body: bytes, content_type: str | None, limits: Limits,
                   strict: bool = False) -> Message:
    try:
        return decode(body, content_type, strict=strict, limits=limits)
    except DecodeError as exc:
        raise RemoteProtocolError("undecodable", f"{exc.reason}: {exc.detail}",
                                  status=400) from exc


def encode_message(msg: Message, fmt: Format) -> bytes:
    return encode(msg, fmt)


def message_id(msg: Message) -> int:
    """The MsgID as a positive int (DM ids are decimal), else ``RemoteProtocolError``."""
    text = msg.header.msg_id
    if not text.isdigit() or len(text) > 9 or int(text) < 1:
        raise RemoteProtocolError("bad_msg_id", text, status=400)
    return int(text)


_CONTAINERS = (Atomic, Sequence)
# Built once: ``isinstance(x, A | B)`` would build a union object on every call.
ANSWERS = (Status, Results)
"""What answers a command (never itself answered): Status and Results."""


_FLAT = frozenset(cls for cls in (*DM_COMMANDS.values(), *DS_COMMANDS.values())
                  if not issubclass(cls, _CONTAINERS))
"""The model's command classes that hold no commands (a subclass is checked the long way)."""


def walk(commands: Iterable[Command]) -> Iterator[Command]:
    """Every command, containers before their children."""
    for command in commands:
        yield command
        if isinstance(command, _CONTAINERS):
            yield from walk(command.commands)


def check_cmd_ids(msg: Message) -> None:
    """CmdIDs unique within the message (containers' children included), never ``0``."""
    commands = msg.commands
    top = {command.cmd_id for command in commands}
    if (len(top) == len(commands) and "" not in top and "0" not in top
            and _FLAT.issuperset(map(type, commands))):
        return  # the common flat message; anything else is walked below (its first fault named)
    seen: set[str] = set()
    stack = list(reversed(msg.commands))
    while stack:
        command = stack.pop()
        cmd_id = command.cmd_id
        if cmd_id in seen or cmd_id == "" or cmd_id == "0":
            raise RemoteProtocolError("cmd_id_collision", repr(cmd_id), status=400)
        seen.add(cmd_id)
        if isinstance(command, _CONTAINERS):
            stack.extend(reversed(command.commands))


_WIDEST_CMD_ID = "9" * 9  # CmdIDs are numbered from 1 per message: never this wide


class MessageSizer:
    """Bounds on the bytes commands add to an encoded message with header ``hdr``, from each
    group of commands encoded once on its own (with the widest CmdIDs), so filling a message up
    to a MaxMsgSize needs no encode per candidate.

    Invariant relied on (checked in tests/test_session_sizes.py): both encodings write the
    body as a plain sequence of the commands' elements. XML sizes are additive; WBXML ones too
    (no string table), except that a command may need or save a code page switch (2 bytes)
    at its start and the first command opens the SyncBody (its end: 1 byte).
    """

    __slots__ = ("_empty", "fmt", "hdr")

    def __init__(self, hdr: SyncHdr, fmt: Format) -> None:
        self.hdr = hdr
        self.fmt = fmt
        self._empty = -1  # the message without commands, encoded on first use

    @property
    def empty(self) -> int:
        """The size of the message with no command."""
        if self._empty < 0:
            self._empty = len(encode_message(Message(self.hdr, []), self.fmt))
        return self._empty

    def measure(self, commands: list[Command]) -> tuple[int, int]:
        """(bytes of ``commands`` alone with 9-digit CmdIDs, number of commands walked).
        The commands' CmdIDs are restored."""
        walked = list(walk(commands))
        saved = [command.cmd_id for command in walked]
        for command in walked:
            command.cmd_id = _WIDEST_CMD_ID
        try:
            size = len(encode_message(Message(self.hdr, commands), self.fmt)) - self.empty
        finally:
            for command, cmd_id in zip(walked, saved, strict=True):
                command.cmd_id = cmd_id
        return size, len(walked)

    @staticmethod
    def upper(measured: tuple[int, int]) -> int:
        """At least what the measured commands add to any message (switches: 2 each)."""
        size, count = measured
        return size + 2 * count + 3

    @staticmethod
    def lower(measured: tuple[int, int]) -> int:
        """At most what they add (narrower CmdIDs: up to 8 bytes, switches, SyncBody end)."""
        size, count = measured
        return size - 10 * count - 3


_ID_TEXTS = tuple(str(number) for number in range(1024))  # the usual CmdIDs, made once


def id_text(number: int) -> str:
    """``str(number)``; the usual CmdIDs are not made anew each time."""
    return _ID_TEXTS[number] if 0 <= number < 1024 else str(number)


class CmdIds:
    """CmdID allocator for one outgoing message (1, 2, 3, ...)."""

    __slots__ = ("next",)

    def __init__(self) -> None:
        self.next = 1

    def __call__(self) -> str:
        value = self.next
        self.next = value + 1
        return _ID_TEXTS[value] if value < 1024 else str(value)


def header_status(received: SyncHdr, cmd_id: str, code: int, chal: object = None) -> Status:
    """The Status for a received SyncHdr (CmdRef 0, TargetRef/SourceRef from it)."""
    status = Status(cmd_id, received.msg_id, "0", "SyncHdr", code,
                    target_refs=[received.target.loc_uri],
                    source_refs=[received.source.loc_uri])
    if chal is not None:
        status.chal = chal  # type: ignore[assignment]
    return status


def command_status(msg_id: str, command: Command, cmd_id: str, code: int,
                   target_refs: list[str] | None = None) -> Status:
    return Status(cmd_id, msg_id, command.cmd_id, command.ELEMENT, code,
                  target_refs=target_refs or [])


def abort_alert(cmd_id: str) -> Alert:
    return Alert(cmd_id, ALERT_ABORT)


def item_uri(item: Item) -> str:
    if item.target is not None:
        return item.target.loc_uri
    if item.source is not None:
        return item.source.loc_uri
    return ""


def item_text(item: Item) -> str:
    """The Item's Data as text (bytes as base64, documents as their XML)."""
    data = item.data
    if data is None:
        return ""
    if isinstance(data, bytes):
        return base64.b64encode(data).decode("ascii")
    if isinstance(data, str):
        return data
    return data.xml


def meta_of(item: Item, command_meta: Meta | None) -> Meta | None:
    """Item Meta overrides command Meta (field by field for Format and Type)."""
    if item.meta is None:
        return command_meta
    if command_meta is None:
        return item.meta
    return Meta(format=item.meta.format or command_meta.format,
                type=item.meta.type or command_meta.type, size=item.meta.size)


def results_items(results: Iterable[Results]) -> list[Item]:
    return [item for result in results for item in result.items]


__all__ = [
    "ALERT_ABORT", "ALERT_NEXT_MESSAGE", "ALERT_NO_END_OF_DATA", "ANSWERS", "CONTENT_TYPES",
    "DEFAULT_LIMITS", "DS_CONTENT_TYPES",
    "CmdIds", "EncodeError", "Format", "MessageSizer", "Outgoing", "abort_alert", "check_cmd_ids",
    "command_status", "decode_message", "encode_message", "fmt_of", "header_status",
    "id_text", "item_text", "item_uri", "message_id", "meta_of", "walk",
]
