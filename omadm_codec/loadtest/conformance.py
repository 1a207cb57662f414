"""Protocol checks on every server answer, against what the device sent.

The one idea: the device records each message it sends (MsgID, and the CmdID and element of
every command); each server answer is decoded here (independently of the device's own
session) and judged: HTTP 200 with a DM media type, within the device's MaxMsgSize, a Status
for every command of the message it answers (SyncHdr as CmdRef 0; Results excepted, whose 200
is never sent) whose MsgRef, CmdRef and Cmd name that command, and Final on every message
except a "next message" reply (Alert 1222) or one carrying a chunk (MoreData). Each breach is
a ``Violation`` of one kind (``KINDS``) with a one-line example.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import DecodeError
from ..messages import decode
from ..messages.model import Alert, Atomic, Message, Results, Sequence, Status

DM_TYPES = ("application/vnd.syncml.dm+xml", "application/vnd.syncml.dm+wbxml")
ALERT_NEXT_MESSAGE = 1222

KINDS: dict[str, str] = {
    "http_status": "an HTTP status other than 200",
    "not_dm": "an answer whose media type is not a DM type (HTML, text, none)",
    "undecodable": "a DM answer that does not decode",
    "over_max_msg_size": "a message larger than the device's MaxMsgSize",
    "missing_status": "a device command without a Status in the answer",
    "msg_ref": "a Status whose MsgRef is not the message it answers",
    "cmd_ref": "a Status whose CmdRef names no command of that message",
    "status_cmd": "a Status whose Cmd is not the element of the command it answers",
    "final_missing": "a message without Final that is neither a 1222 reply nor a chunk",
    "no_end": "a session that did not end within the message bound",
    "retransmit_reprocessed": "a retransmitted message answered as a new one, not replayed",
    "corrupt_accepted": "a corrupt message answered as if it were valid",
    "wrong_password_accepted": "a wrong password authenticated",
    "protocol": "an answer the device's session refused (RemoteProtocolError)",
}
"""Every violation kind, with what it means (the report prints these)."""


@dataclass(frozen=True, slots=True)
class Violation:
    """One breach of the protocol by the server."""

    kind: str
    """One of ``KINDS``."""
    example: str
    """One line saying where and what."""


@dataclass(frozen=True, slots=True)
class SentMessage:
    """What the device sent in one message: what every Status must point at."""

    msg_id: str
    commands: tuple[tuple[str, str], ...]
    """(CmdID, element) of each command that needs a Status, SyncHdr first as ("0", "SyncHdr")."""
    optional: tuple[tuple[str, str], ...]
    """(CmdID, element) of each command a Status may answer but need not (Results: its 200
    is never sent)."""
    package: str
    """``pkg1`` (session alert, also when re-sent with credentials) or ``pkg3``."""


def describe_sent(msg: Message) -> SentMessage:
    """The record of a message the device is about to send."""
    needs: list[tuple[str, str]] = [("0", "SyncHdr")]
    optional: list[tuple[str, str]] = []
    package = "pkg3"
    for command in msg.commands:
        if isinstance(command, Status):
            continue  # a Status is never answered
        if isinstance(command, Results):
            optional.append((command.cmd_id, command.ELEMENT))  # answered unless 200
            continue
        if isinstance(command, Alert) and command.data in (1200, 1201):
            package = "pkg1"
        needs.append((command.cmd_id, command.ELEMENT))
    return SentMessage(msg.header.msg_id, tuple(needs), tuple(optional), package)


def media_type(content_type: str) -> str:
    """The media type of a Content-Type value, lower case, without parameters."""
    return content_type.split(";", 1)[0].strip().lower()


def _has_chunk(msg: Message) -> bool:
    for command in msg.commands:
        items = getattr(command, "items", None)
        if items and any(item.more_data for item in items):
            return True
        if isinstance(command, Atomic | Sequence) and _has_chunk(Message(msg.header, list(
                command.commands))):
            return True
    return False


def check_answer(sent: SentMessage, status: int, content_type: str, body: bytes,
                 max_msg_size: int, found: list[Violation]) -> Message | None:
    """Judge one server answer to ``sent``; append what is wrong to ``found``. Returns the
    decoded message, or None when there is no DM message to go on with."""
    where = f"answer to MsgID {sent.msg_id} ({sent.package})"
    if status != 200:
        found.append(Violation("http_status", f"HTTP {status} as the {where}"))
        return None
    kind = media_type(content_type)
    if kind not in DM_TYPES:
        head = body[:40].decode("latin-1").replace("\n", " ")
        found.append(Violation("not_dm", f"{kind or 'no content-type'} as the {where}: "
                                         f"{head!r}"))
        return None
    if len(body) > max_msg_size:
        found.append(Violation("over_max_msg_size",
                               f"{len(body)} bytes > MaxMsgSize {max_msg_size} in the {where}"))
    try:
        msg = decode(body, content_type)
    except DecodeError as exc:
        found.append(Violation("undecodable", f"{exc.reason} at byte {exc.offset} in the "
                                              f"{where}"))
        return None
    expected = dict(sent.commands)
    expected.update(sent.optional)
    answered: set[str] = set()
    for command in msg.commands:
        if not isinstance(command, Status):
            continue
        if command.msg_ref and command.msg_ref != sent.msg_id:
            # Counted once: the command it names is still taken as answered.
            found.append(Violation("msg_ref", f"Status CmdID {command.cmd_id} has MsgRef "
                                              f"{command.msg_ref}, expected {sent.msg_id}"))
        element = expected.get(command.cmd_ref)
        if element is None:
            found.append(Violation("cmd_ref", f"Status CmdID {command.cmd_id} has CmdRef "
                                              f"{command.cmd_ref!r}: no such command in MsgID "
                                              f"{sent.msg_id}"))
            continue
        if command.cmd != element:
            found.append(Violation("status_cmd", f"Status for CmdRef {command.cmd_ref} says "
                                                 f"Cmd {command.cmd}, the command is {element}"))
        answered.add(command.cmd_ref)
    for cmd_id, element in sent.commands:
        if cmd_id not in answered:
            found.append(Violation("missing_status", f"no Status for {element} CmdID {cmd_id} "
                                                     f"of MsgID {sent.msg_id}"))
    if not msg.final and not _has_chunk(msg) and not any(
            isinstance(c, Alert) and c.data == ALERT_NEXT_MESSAGE for c in msg.commands):
        found.append(Violation("final_missing", f"MsgID {msg.header.msg_id} has no Final, no "
                                                f"1222 and no chunk ({where})"))
    return msg


__all__ = ["DM_TYPES", "KINDS", "SentMessage", "Violation", "check_answer", "describe_sent",
           "media_type"]
