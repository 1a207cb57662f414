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
from typing import cast

from ..errors import DecodeError
from ..messages import decode
from ..messages.model import (
    Alert,
    Atomic,
    Chal,
    Message,
    Meta,
    Results,
    Sequence,
    Status,
    SyncHdr,
)

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
                 max_msg_size: int, found: list[Violation], *,
                 memo: AnswerMemo | None = None) -> Message | None:
    """Judge one server answer to ``sent``; append what is wrong to ``found``. Returns the
    decoded message, or None when there is no DM message to go on with.

    With a ``memo`` (one per device), an answer that repeats one already judged, byte for
    byte but for its SessionID, RespURI and nonces, is not decoded again: its message and
    findings are the memo's (``AnswerMemo``). The message returned then shares its commands
    with the memo: callers read it, never change it."""
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
    if memo is not None:
        known = memo.recall(sent, content_type, body)
        if known is not None:
            msg, violations = known
            found.extend(violations)
            return msg
    try:
        msg = decode(body, content_type)
    except DecodeError as exc:
        found.append(Violation("undecodable", f"{exc.reason} at byte {exc.offset} in the "
                                              f"{where}"))
        return None
    judged = _judge(sent, msg, where)
    found.extend(judged)
    if memo is not None:
        memo.learn(sent, content_type, body, msg, judged)
    return msg


def _judge(sent: SentMessage, msg: Message, where: str) -> list[Violation]:
    """What is wrong in ``msg`` as the answer to ``sent`` (Statuses, Final): a function of
    the two alone, so a memo may keep it."""
    found: list[Violation] = []
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
    return found


MEMO_KNOWN = 4
"""Learned answers one device's memo keeps (by the message they answer and the media type;
the standard session needs two), the oldest dropped first."""
MEMO_SEEN = 2
"""Answers not learned yet one device's memo keeps, the oldest dropped first: each holds a
decoded message, so a server whose answers never repeat costs two messages per device."""
MAX_SPAN_TRIES = 64
"""Places of a varying value tried when learning where it sits in an answer."""
_SAFE_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_.~:?"
"""The bytes a varying value may hold: text as-is in XML and in a WBXML inline string (no
markup, reference, space or NUL)."""
_Path = tuple[str, int]
"""Where a varying value sits in a message: (``session_id``, 0), (``resp_uri``, 0), or
(``next_nonce``, index of the Status among the commands)."""
_Gap = tuple[int, int, bytes]
"""Bytes an answer must hold from ``start`` to ``end`` to be a learned one."""


def _varying(msg: Message) -> list[tuple[_Path, str | None]]:
    """The values a server may change from one session (or message) to the next without
    changing what an answer says: the SessionID, the RespURI, each Status's NextNonce."""
    header = msg.header
    out: list[tuple[_Path, str | None]] = [(("session_id", 0), header.session_id),
                                           (("resp_uri", 0), header.resp_uri)]
    for index, command in enumerate(msg.commands):
        if type(command) is Status and command.chal is not None:
            out.append((("next_nonce", index), command.chal.meta.next_nonce))
    return out


def _with_values(msg: Message, values: dict[_Path, str]) -> Message:
    """A copy of ``msg`` with the varying ``values`` set (the rest shared). Written out, not
    ``copy.copy``: that goes through ``__reduce_ex__``, several times slower on slots."""
    hdr = msg.header
    session_id, resp_uri = hdr.session_id, hdr.resp_uri
    commands = msg.commands
    for (kind, index), value in values.items():
        if kind == "session_id":
            session_id = value
        elif kind == "resp_uri":
            resp_uri = value
        else:
            if commands is msg.commands:
                commands = list(commands)
            old = cast(Status, commands[index])
            assert old.chal is not None
            meta = old.chal.meta
            commands[index] = Status(
                old.cmd_id, old.msg_ref, old.cmd_ref, old.cmd, old.data, old.target_refs,
                old.source_refs, Chal(Meta(
                    meta.field_level, meta.format, meta.type, meta.mark, meta.size, meta.anchor,
                    meta.version, value, meta.max_msg_size, meta.max_obj_size, meta.emi,
                    meta.mem, meta.extra)), old.items, old.no_resp)
    header = SyncHdr(session_id, hdr.msg_id, hdr.target, hdr.source, hdr.ver_dtd,
                     hdr.ver_proto, resp_uri, hdr.no_resp, hdr.cred, hdr.meta)
    return Message(header, commands, msg.final)


@dataclass(slots=True)
class _Known:
    """An answer learned: where its varying values sit (start, end, path; in order), its
    bytes between them, the message as first seen and its findings."""

    sent: SentMessage
    length: int
    spans: tuple[tuple[int, int, _Path], ...]
    gaps: tuple[tuple[int, bytes], ...]
    """(start, bytes) the answer holds between the spans."""
    msg: Message
    violations: tuple[Violation, ...]


@dataclass(slots=True)
class _Seen:
    """The last answer decoded for a key, not learned yet."""

    sent: SentMessage
    body: bytes
    msg: Message
    violations: tuple[Violation, ...]


class AnswerMemo:
    """One device's answers already judged, so that a server sending the same answer in every
    session, but for its SessionID, RespURI and nonces, is decoded once per device and shape,
    not once per message.

    The one idea, and why it is exact: an answer is learned only from two answers to the same
    message (the same ``SentMessage``, the same media type), both decoded in full and judged
    alike, of the same length, whose bytes differ only inside the spans that hold their
    SessionID, RespURI and NextNonces (each value's bytes as they are, of the same length, of
    bytes that are text as-is in both encodings: ``_SAFE_BYTES``), and whose messages are equal but
    for those values: so each span is that value's text and nothing else. A later answer is
    taken as known only if it has that length, the same bytes outside the spans, and safe
    bytes inside them; it gets the learned message with its own values read from the spans,
    and the same findings (they depend on the message and ``sent`` alone, never on those
    values; the size check is made on every answer). Anything else is decoded and judged in
    full. A session handed to a ``ClientSession`` decodes every answer itself."""

    __slots__ = ("known", "seen")

    def __init__(self) -> None:
        self.known: dict[tuple[int, str], _Known] = {}
        self.seen: dict[tuple[int, str], _Seen] = {}

    def recall(self, sent: SentMessage, content_type: str, body: bytes
               ) -> tuple[Message, tuple[Violation, ...]] | None:
        """The message and findings of ``body`` if it is a learned answer with new values in
        its spans; None else."""
        known = self.known.get((id(sent), content_type))
        if known is None or known.sent is not sent or len(body) != known.length:
            return None
        for start, fixed in known.gaps:
            if not body.startswith(fixed, start):
                return None
        values: dict[_Path, str] = {}
        for start, end, path in known.spans:
            raw = body[start:end]
            if raw.translate(None, _SAFE_BYTES):
                return None  # a byte outside _SAFE_BYTES
            values[path] = raw.decode("ascii")
        return _with_values(known.msg, values), known.violations

    def learn(self, sent: SentMessage, content_type: str, body: bytes, msg: Message,
              violations: list[Violation]) -> None:
        """Record a fully judged answer; learn it when it repeats the last one so recorded
        but for its varying values (class docstring)."""
        key = (id(sent), content_type)  # the entry holds ``sent``: the id is not reused
        seen = self.seen.get(key)
        if seen is not None and seen.sent is not sent:
            seen = None
        record = _Seen(sent, body, msg, tuple(violations))
        self.seen.pop(key, None)
        if len(self.seen) >= MEMO_SEEN:
            del self.seen[next(iter(self.seen))]
        self.seen[key] = record
        if seen is None or len(seen.body) != len(body) or seen.violations != record.violations:
            return
        known = _learn(seen.body, seen.msg, body, msg)
        if known is None:
            return
        self.known.pop(key, None)
        if len(self.known) >= MEMO_KNOWN:
            del self.known[next(iter(self.known))]
        self.known[key] = _Known(sent, len(body), known[0], known[1], msg, record.violations)
        del self.seen[key]


def _learn(first: bytes, first_msg: Message, second: bytes, second_msg: Message
           ) -> tuple[tuple[tuple[int, int, _Path], ...], tuple[tuple[int, bytes], ...]] | None:
    """The spans of the varying values and the fixed bytes between them, if ``second`` is
    ``first`` with other varying values (``AnswerMemo``); None else."""
    one, two = _varying(first_msg), _varying(second_msg)
    if [path for path, _ in one] != [path for path, _ in two]:
        return None
    spans: list[tuple[int, int, _Path]] = []
    for (path, value), (_, other) in zip(one, two, strict=True):
        if value is None or other is None:
            if value is not other:
                return None
            continue
        if value == other:
            # Not seen to vary: no span (a span is only where two values were seen), so the
            # value is among the fixed bytes, and a later answer must repeat it.
            continue
        raw, raw_other = value.encode("utf-8"), other.encode("utf-8")
        if len(raw) != len(raw_other) or not raw or raw.translate(None, _SAFE_BYTES) \
                or raw_other.translate(None, _SAFE_BYTES):
            return None
        start = _place(first, raw, second, raw_other)
        if start is None:
            return None
        spans.append((start, start + len(raw), path))
    spans.sort()
    gaps: list[_Gap] = []
    at = 0
    for start, end, _ in spans:
        if start < at:
            return None  # overlapping spans
        gaps.append((at, start, first[at:start]))
        at = end
    gaps.append((at, len(first), first[at:]))
    if any(second[a:b] != fixed for a, b, fixed in gaps):
        return None
    # Equal but for the varying values: the first's values put into the second.
    if first_msg.quirks != second_msg.quirks or _with_values(
            second_msg, {path: value for path, value in one if value is not None}) != first_msg:
        return None
    return tuple(spans), tuple((start, fixed) for start, end, fixed in gaps if start < end)


def _place(first: bytes, raw: bytes, second: bytes, raw_other: bytes) -> int | None:
    """Where ``first`` holds ``raw`` and ``second`` holds ``raw_other`` (None: nowhere)."""
    start = first.find(raw)
    tries = 0
    while start >= 0 and tries < MAX_SPAN_TRIES:
        if second[start:start + len(raw_other)] == raw_other:
            return start
        start = first.find(raw, start + 1)
        tries += 1
    return None


__all__ = ["DM_TYPES", "KINDS", "AnswerMemo", "SentMessage", "Violation", "check_answer",
           "describe_sent", "media_type"]
