"""What a DM session tells its caller, and the protocol moves its state table is keyed on.

The one idea: every event is a frozen slotted dataclass named in the past tense; the caller
gets them in order from ``receive()`` (and ``handle_timer()``). The first group (moves) drives
``states.transition``; the second group carries outcomes to the application.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from ..messages.model import Command, Item, Results

# -- moves (keys of the transition table) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Started:
    """The client built its package 1."""

    session_id: str
    """The SessionID it carries."""


@dataclass(frozen=True, slots=True)
class MessageSent:
    """A message left through ``data_to_send()``."""

    msg_id: str
    """Its MsgID."""
    final: bool
    """True if it carried Final."""


@dataclass(frozen=True, slots=True)
class FinalSent:
    """The server sent its Final-only package: the session is over."""

    msg_id: str
    """Its MsgID."""


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A message from the peer was accepted."""

    msg_id: str
    """Its MsgID."""
    final: bool
    """True if it carried Final."""


@dataclass(frozen=True, slots=True)
class DuplicateReceived:
    """The client re-sent the message last answered; the cached response goes out again."""

    msg_id: str
    """The repeated MsgID."""


@dataclass(frozen=True, slots=True)
class PeerFinished:
    """The server's package needs no answer: the client's session is over."""

    msg_id: str
    """The MsgID of that package's last message."""


@dataclass(frozen=True, slots=True)
class TimedOut:
    """``handle_timer`` found the deadline passed (client: resend; server: give up)."""

    deadline: float
    """The deadline that passed, in the caller's clock."""


@dataclass(frozen=True, slots=True)
class Aborted:
    """The session was aborted (1223 from either side, failed authentication, too many
    failures, or ``abort()``)."""

    reason: str
    """A short machine code: ``peer_abort``, ``local_abort``, ``auth_failed``, ``timeout``..."""


@dataclass(frozen=True, slots=True)
class ProtocolFailed:
    """The peer broke the protocol; ``RemoteProtocolError`` was raised at ``receive``."""

    reason: str
    """The error's reason code."""
    status: int | None = None
    """The DM status the session answered with, if any."""


# -- outcomes --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Authenticated:
    """The peer's credentials were accepted."""

    username: str
    """The authenticated user (client) or server id."""
    status: int
    """212 (md5, basic) or 200 (HMAC)."""


@dataclass(frozen=True, slots=True)
class AuthenticationFailed:
    """The peer's message did not authenticate; its commands did not run."""

    status: int
    """401 (invalid) or 407 (missing) sent back with a challenge."""
    reason: str
    """As ``AuthenticationError.reason``."""


@dataclass(frozen=True, slots=True)
class SessionStarted:
    """The server accepted package 1."""

    session_id: str
    """The client's SessionID."""
    device_id: str
    """The client's Source LocURI (e.g. ``IMEI:...``)."""
    alert_code: int
    """1201 (client-initiated) or 1200 (answering a package 0)."""
    devinfo: tuple[tuple[str, str], ...] = ()
    """(LocURI, value) of each DevInfo leaf the client sent."""


@dataclass(frozen=True, slots=True)
class AlertReceived:
    """A client alert other than the session alerts: 1224 (client event) or 1226 (generic)."""

    alert_code: int
    """The Alert Data."""
    items: tuple[Item, ...]
    """Its Items, as sent."""
    correlator: str | None = None
    """The Correlator (the Exec it answers), if any."""


OUTCOMES: dict[str, str] = {
    "ok": "the device answered a 2xx status: the command did what was asked",
    "failed": "the device answered a status outside 2xx (a refusal, an error, 304...)",
    "no_status": "the device ended its package (Final) without a Status for the command "
                 "(libdmclient never answers an Atomic); status 0",
    "invalid_status": "the device answered a code outside 100-599 (libdmclient's 0: it "
                      "could not check the server's credentials); nothing is known to have run",
    "large_object_failed": "a chunked object was not taken whole: the device answered a "
                           "chunk before the last with anything but 213 (libdmclient's 200 "
                           "keeps the first chunk only) or refused it; the rest was not sent",
}
"""Every ``CommandCompleted.outcome``, with what it means."""


def outcome_of(status: int) -> str:
    """The outcome a status code alone gives (``ok``, ``failed`` or ``invalid_status``)."""
    if not 100 <= status <= 599:
        return "invalid_status"
    return "ok" if 200 <= status <= 299 else "failed"


@dataclass(frozen=True, slots=True)
class CommandCompleted:
    """One management command the server queued got its outcome from the device.

    For Atomic and Sequence, ``children`` holds one ``CommandCompleted`` per child, in order.
    A chunked large object completes once, with the status of its last chunk (213s hidden).
    ``outcome`` names what happened (``OUTCOMES``); ``ok`` is True for ``ok`` only.
    """

    command: Command
    """The command as the application queued it."""
    status: int
    """The device's status code (the first one when items answered differently)."""
    results: tuple[Results, ...] = ()
    """Results the device returned for it (Get)."""
    item_statuses: tuple[int, ...] = ()
    """Every Status code received for it, in order (one per item when they differed)."""
    children: tuple[CommandCompleted, ...] = field(default=())
    """Atomic / Sequence children."""
    data: tuple[str, ...] = ()
    """Status Item Data (a UI alert's answer: text typed, choices picked)."""
    outcome: str = ""
    """One of ``OUTCOMES``; given as ``""``, it is read from ``status`` (``outcome_of``)."""

    def __init__(self, command: Command, status: int, results: tuple[Results, ...] = (),
                 item_statuses: tuple[int, ...] = (),
                 children: tuple[CommandCompleted, ...] = (), data: tuple[str, ...] = (),
                 outcome: str = "") -> None:
        # Written out (``dataclass`` keeps an ``__init__`` the class has): the generated one
        # looks ``object.__setattr__`` up per field and then runs a ``__post_init__``; a
        # server makes one of these per command. Each field is set through its slot's own
        # descriptor (``_COMPLETED_SETTERS``): ``object.__setattr__`` by name took a third
        # longer.
        (set_command, set_status, set_results, set_item_statuses, set_children, set_data,
         set_outcome) = _COMPLETED_SETTERS
        set_command(self, command)
        set_status(self, status)
        set_results(self, results)
        set_item_statuses(self, item_statuses)
        set_children(self, children)
        set_data(self, data)
        set_outcome(self, outcome or outcome_of(status))

    @property
    def ok(self) -> bool:
        """True only if the device did what was asked (outcome ``ok``)."""
        return self.outcome == "ok"


@dataclass(frozen=True, slots=True)
class CommandExecuted:
    """The client ran (or refused) one server command; what it answered."""

    command: Command
    """The command as received."""
    status: int
    """The status it answered (213 for a buffered chunk)."""
    parent: str | None = None
    """``Atomic`` / ``Sequence`` when the command was one of their children."""

    def __init__(self, command: Command, status: int, parent: str | None = None) -> None:
        # Written out, as ``CommandCompleted``'s: a device makes one per command it runs.
        set_command, set_status, set_parent = _EXECUTED_SETTERS
        set_command(self, command)
        set_status(self, status)
        set_parent(self, parent)


def _slot_setters(cls: type, names: tuple[str, ...]) -> tuple[Callable[[object, object], None],
                                                                ...]:
    """The ``__set__`` of each named slot of ``cls`` (a frozen dataclass refuses
    ``setattr``; its slots' descriptors do not, and are what ``object.__setattr__`` finds)."""
    return tuple(getattr(cls, name).__set__ for name in names)


_COMPLETED_SETTERS = _slot_setters(CommandCompleted, ("command", "status", "results",
                                                      "item_statuses", "children", "data",
                                                      "outcome"))
_EXECUTED_SETTERS = _slot_setters(CommandExecuted, ("command", "status", "parent"))


def _builder(cls: type) -> Callable[..., Any]:
    """A function making a ``cls`` (a frozen slotted dataclass) from every field, in order, a
    third as dear as its ``__init__``: an object of a plain class with the same slots (so the
    same layout) is filled by plain slot stores, then given ``cls`` as its class. No default:
    for what a session builds per message or per command, every field given."""
    names = tuple(f.name for f in fields(cls))
    if names != getattr(cls, "__slots__", None) or cls.__mro__[1:] != (object,):
        raise TypeError(f"{cls.__name__}: not a plain slotted dataclass")
    filler = type(f"_{cls.__name__}Fields", (), {"__slots__": names})
    lines = [f"def build({', '.join(names)}):", "    _built = _filler()"]
    lines += [f"    _built.{name} = {name}" for name in names]
    lines += ["    _built.__class__ = _cls", "    return _built"]
    scope: dict[str, Any] = {"_filler": filler, "_cls": cls}
    exec("\n".join(lines), scope)  # noqa: S102 - the field names of a dataclass, nothing else
    build: Callable[..., Any] = scope["build"]
    try:
        build(*[None] * len(names))
    except TypeError:  # an interpreter that will not give a sibling layout the class
        return cls
    return build


_completed: Callable[[Command, int, tuple[Results, ...], tuple[int, ...],
                      tuple[CommandCompleted, ...], tuple[str, ...], str], CommandCompleted]
_completed = _builder(CommandCompleted)
"""``CommandCompleted(command, status, ..., outcome)``, every field given (``outcome`` one of
``OUTCOMES``): a server makes one per command answered."""


@dataclass(frozen=True, slots=True)
class LargeObjectInterrupted:
    """A chunked object was cut off by another command; 1225 was (client) or will be sent."""

    uri: str
    """The target of the object that was not committed."""


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """The session is over; nothing more will be sent or accepted."""

    reason: str
    """``completed``, ``peer_abort``, ``local_abort``, ``auth_failed`` (with the reason of the
    last failure in ``AuthenticationFailed``), ``timeout``, ``server_not_authenticated`` (the
    device never accepted the server's credentials), a strict-mode refusal (``missing_status``,
    ``chunk_status``) or a ``RemoteProtocolError`` reason."""


@dataclass(frozen=True, slots=True)
class CommandRefused:
    """The server session gave up on a queued command: it could not be sent, or its session
    ended before the device answered it (``sent`` says which)."""

    command: Command
    """The command as queued."""
    reason: str
    """``max_obj_size`` (bigger than the device accepts), ``too_large`` (cannot be split to
    fit MaxMsgSize), ``session_ended``, ``interrupted`` (the device cut a large object off),
    or the reason given to ``ServerSession.abandon``."""
    sent: bool = False
    """True if the command was in a message already built (it may have reached the device,
    so running it again is not known to be safe); False if it provably never left."""


# The events every server session makes, built without their ``__init__`` (``_builder``).
_message_received: Callable[[str, bool], MessageReceived] = _builder(MessageReceived)
_authenticated: Callable[[str, int], Authenticated] = _builder(Authenticated)
_session_started: Callable[[str, str, int, tuple[tuple[str, str], ...]], SessionStarted]
_session_started = _builder(SessionStarted)
_session_ended: Callable[[str], SessionEnded] = _builder(SessionEnded)


Event = (
    Started | MessageSent | FinalSent | MessageReceived | DuplicateReceived | PeerFinished
    | TimedOut | Aborted | ProtocolFailed | Authenticated | AuthenticationFailed
    | SessionStarted | AlertReceived | CommandCompleted | CommandExecuted
    | LargeObjectInterrupted | SessionEnded | CommandRefused
)

__all__ = [
    "Aborted", "AlertReceived", "Authenticated", "AuthenticationFailed", "CommandCompleted",
    "CommandExecuted", "CommandRefused", "DuplicateReceived", "Event", "FinalSent",
    "LargeObjectInterrupted", "OUTCOMES",
    "MessageReceived", "MessageSent", "PeerFinished", "ProtocolFailed", "SessionEnded",
    "SessionStarted", "Started", "TimedOut", "outcome_of",
]
