"""``ServerSession``: the server side of one DM session, sans-IO.

The one idea: every client message is answered by exactly one server message, built lazily in
``data_to_send()`` so the application can queue commands (``send_commands``) after seeing the
events of ``receive()``. Each command sent is remembered under (MsgID, CmdID) until the
device's Status for it arrives; then one ``CommandCompleted`` event carries the app's own
command object, its statuses and Results (Atomic / Sequence children inside, the 213s of a
chunked object hidden). A message is judged (order, duplicates, CmdIDs, credentials) before
anything in it is acted on.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import functools
import hashlib
from collections import deque
from collections.abc import Callable, Collection, Iterable

from ..errors import (
    AuthenticationError,
    DecodeError,
    ForeignMessage,
    LocalProtocolError,
    OmaDmError,
    RemoteProtocolError,
)
from ..limits import DEFAULT_LIMITS, Limits, Reservation
from ..messages import decode
from ..messages.model import (
    DM_COMMANDS,
    DS_COMMANDS,
    Add,
    Alert,
    Atomic,
    Command,
    Item,
    Message,
    Meta,
    Replace,
    Results,
    Sequence,
    Source,
    Status,
    SyncHdr,
    Target,
)
from ..security import auth
from ..security.nonces import NonceManager
from ..security.policy import AuthDecision, AuthPolicy
from . import events as ev
from ._common import (
    _ID_TEXTS,
    ALERT_ABORT,
    ALERT_NEXT_MESSAGE,
    ALERT_NO_END_OF_DATA,
    ANSWERS,
    CONTENT_TYPES,
    CmdIds,
    Format,
    MessageSizer,
    Outgoing,
    _outgoing,
    check_cmd_ids,
    command_status,
    encode_message,
    fmt_of,
    header_status,
    item_text,
    item_uri,
    message_id,
    walk,
)
from ._inflight import Incoming, LargeObject, Pending
from .guards import DEFAULT_GUARDS, SessionGuards
from .snapshot import server_restore, server_snapshot
from .states import TERMINAL, Role, State, transition

SESSION_QUIRKS: dict[str, str] = {
    "missing_loc_name": "credentials without SyncHdr/Source/LocName (auth-md5: the one account "
                        "bound to the device; HMAC: the header's username). Strict: 401 + Chal",
    "missing_status": "the device ended its package (Final) leaving commands without a Status: "
                      "they end now as no_status. Strict: the session ends (1223)",
    "chunk_status": "a 2xx other than 213 for a chunk before the last: the object fails "
                    "(large_object_failed), the rest is not sent. Strict: the session ends",
}
"""Every deviation a lenient ``ServerSession`` absorbs beyond decoding (``messages.QUIRKS``),
with what it does, lenient and strict (docs/interop.md)."""

SESSION_ALERTS = frozenset({1200, 1201})
CLIENT_ALERTS = frozenset({1224, 1226})
# Statuses that must come back for the command to be known done; 213 only acknowledges a chunk.
STATUS_CHUNK = 213
ALERT_INTERRUPTED = 1225  # a chunked object cut off by something else (dm-protocol.md 1.8)
# Elements a command may take in a message from a peer that has not authenticated.
PREAUTH_ELEMENTS_PER_COMMAND = 64
_CONTAINERS = (Atomic, Sequence)
# The model's command classes that are not answers (exactly: a subclass is checked the long way).
_COMMAND_KINDS = frozenset(cls for cls in (*DM_COMMANDS.values(), *DS_COMMANDS.values())
                           if not issubclass(cls, ANSWERS))
_OBJECTS = (Add, Replace)  # what may be sent in chunks
_NEXT_OR_ABORT = (ALERT_NEXT_MESSAGE, ALERT_ABORT)


_COPIERS: dict[type, Callable[[Command], Command]] = {}
_FLAT_COPIERS: dict[type, Callable[[Command], Command]] = {}
"""The copiers of the classes that hold no commands (``_fill`` numbers those inline)."""
_UNDECIDED = AuthDecision(400)  # frozen: one for every session, until its first message


@functools.lru_cache(maxsize=16)
def _preauth_limits(limits: Limits, max_commands: int) -> Limits:
    """``limits`` with the element count a peer that has not authenticated may send."""
    return dataclasses.replace(limits, max_elements=min(
        limits.max_elements, PREAUTH_ELEMENTS_PER_COMMAND * (max_commands + 2)))


def _copied_fields(cls: type, sample: object) -> tuple[str, ...] | None:
    """The fields a shallow copy of a ``cls`` must carry over, or None when ``copy.copy``
    must do it (not a plain slotted dataclass: a ``__dict__``, a custom copy or reduce)."""
    if (not dataclasses.is_dataclass(cls) or hasattr(sample, "__dict__")
            or hasattr(cls, "__copy__") or cls.__reduce_ex__ is not object.__reduce_ex__
            or cls.__reduce__ is not object.__reduce__):
        return None
    names = tuple(f.name for f in dataclasses.fields(cls))
    slots = {name for klass in cls.__mro__ for name in getattr(klass, "__slots__", ())}
    return names if slots == set(names) else None


def _copier(cls: type, sample: Command) -> Callable[[Command], Command]:
    """A function making the shallow copy of a ``cls``: for a plain slotted dataclass, its
    fields assigned one by one in code made for the class (no loop, no ``getattr``); else
    ``copy.copy``."""
    names = _copied_fields(cls, sample)
    if names is None:
        return copy.copy
    lines = ["def copier(command):", "    wire = new(cls)"]
    lines += [f"    wire.{name} = command.{name}" for name in names]
    lines.append("    return wire")
    scope: dict[str, object] = {"new": cls.__new__, "cls": cls}
    exec("\n".join(lines), scope)  # noqa: S102 - the field names of a dataclass, nothing else
    copier: Callable[[Command], Command] = scope["copier"]  # type: ignore[assignment]
    return copier


def _asks_next_or_aborts(commands: list[Command]) -> bool:
    """An Alert 1222 or 1223 among ``commands`` (a plain loop: no generator per message)."""
    for command in commands:
        if isinstance(command, Alert) and command.data in _NEXT_OR_ABORT:
            return True
    return False


def _shallow_copy(command: Command) -> Command:
    """``copy.copy(command)``, without the generic reduce protocol for the model's classes."""
    cls = type(command)
    copier = _COPIERS.get(cls)
    if copier is None:
        copier = _COPIERS[cls] = _copier(cls, command)
        if not issubclass(cls, _CONTAINERS):
            _FLAT_COPIERS[cls] = copier
    return copier(command)


class ServerSession:
    """One DM session as seen by the server.

    ``secret_lookup(username)`` returns the stored ``auth.secret_hash`` of a client, or None.
    ``aauth_type`` is the client authentication demanded (DIGEST, BASIC or HMAC), or a
    callable giving it per account (called with the first message's account, see below). The
    server authenticates itself when ``server_secret`` is given: ``server_auth_type`` DIGEST or
    BASIC (a Cred until the device accepts it) or HMAC (an ``x-syncml-hmac`` on every
    message), with the SRVCRED nonce of the device kept in ``nonces``. ``guards`` bound what
    a peer that has not authenticated can make the session do, and hold the components shared
    by every session of the server (failure throttle, device ownership, memory budget).

    Once the session has taken a message, it belongs to that message's SessionID and Source
    LocURI, and once authenticated to that account: a message naming anything else, or one
    that does not decode, raises ``ForeignMessage`` and changes nothing.

    The account a message's credentials are checked against is its ``Source/LocName``. Real
    clients omit it (libdmclient, docs/interop.md); then, as the quirk ``missing_loc_name``,
    it is the ``username`` of the ``x-syncml-hmac`` header, or for auth-md5 the one account
    ``accounts_for_device(device LocURI)`` gives (none or several: a challenge). auth-basic
    needs no LocName: its Cred names the user.

    ``strict=True`` absorbs nothing: a message showing a decode quirk (``messages.QUIRKS``)
    is refused (400 + Alert 1223, the quirk's code as the reason), and each session quirk
    (``SESSION_QUIRKS``) is refused as documented there. ``quirks`` lists what a lenient
    session absorbed.
    """

    # Slots: a session is made per request (restored from its snapshot) and its ~50
    # attributes overflow the shared-key instance dict (30 keys in CPython 3.11); a
    # ``__dict__`` stays for what a caller adds.
    __slots__ = ("_aauth_for", "_acks", "_cached", "_client_msg_id", "_client_statuses",
                 "_continued", "_cred_sent_in", "_decision", "_end_after_send", "_ended_reported",
                 "_incoming", "_interrupted", "_large", "_last_activity", "_last_digest",
                 "_later", "_msg_id", "_pending", "_queue", "_reply_plan", "_reply_to", "_resend",
                 "_secret_lookup", "_server_accepted", "_server_authenticated",
                 "_server_verdicts", "_top", "accounts_for_device", "client_max_msg_size",
                 "client_max_obj_size", "device_id", "end_reason", "fmt", "guards",
                 "idle_timeout", "limits", "max_commands_per_message", "max_msg_size", "nonces",
                 "policy", "quirks", "resp_uri", "server_auth_type", "server_id", "server_secret",
                 "server_uri", "session_id", "started", "state", "strict", "username", "__dict__",
                 "__weakref__")

    role = Role.SERVER

    def __init__(self, *, server_id: str, server_uri: str,
                 secret_lookup: Callable[[str], auth.Secret | None],
                 nonces: NonceManager | None = None,
                 aauth_type: str | Callable[[str | None], str] = "DIGEST",
                 server_secret: str | None = None, server_auth_type: str = "DIGEST",
                 max_msg_size: int = 65536, max_failures: int = 3,
                 idle_timeout: float = 300.0, resp_uri: str | None = None,
                 limits: Limits = DEFAULT_LIMITS, guards: SessionGuards = DEFAULT_GUARDS,
                 strict: bool = False,
                 accounts_for_device: Callable[[str], Collection[str]] | None = None,
                 max_commands_per_message: int | None = None) -> None:
        self.server_id = server_id
        self.server_uri = server_uri
        self.nonces = nonces if nonces is not None else NonceManager()
        # A callable picks the type per account (from the first message's LocName).
        self._aauth_for = aauth_type if callable(aauth_type) else None
        self._secret_lookup = secret_lookup
        self.guards = guards
        self.policy = AuthPolicy(aauth_type if isinstance(aauth_type, str) else "DIGEST",
                                 secret_lookup, self.nonces, max_failures=max_failures,
                                 per_message=guards.message_auth == "every_message")
        self.server_secret = server_secret
        self.server_auth_type = server_auth_type
        self.max_msg_size = max_msg_size
        self.idle_timeout = idle_timeout
        self.resp_uri = resp_uri
        """Sent as RespURI in every message (the HTTP binding sets its per-session URL)."""
        self.limits = limits
        self.strict = strict
        self.accounts_for_device = accounts_for_device
        """The accounts a device (by LocURI) may authenticate as, for credentials without
        LocName; None: no such fallback."""
        self.max_commands_per_message = max_commands_per_message
        """At most this many queued commands per message (None: as many as MaxMsgSize lets
        in). For clients that cannot split their reply (libdmclient fails above about 40 KB:
        about 90 Gets)."""
        self.quirks: list[str] = []
        """Every deviation this session absorbed: the decode quirks of the messages it accepted
        and the session quirks (``SESSION_QUIRKS``), each once, in the order met."""
        self.end_reason: str | None = None
        """Once the session ended: the reason its ``SessionEnded`` carried (``completed`` is
        the one success)."""
        self.state = State.IDLE
        self.session_id: str | None = None
        self.device_id = ""
        self.username: str | None = None
        self.fmt: Format = "xml"
        self.client_max_msg_size = 65536
        self.client_max_obj_size: int | None = None
        self.started = False
        self._queue: deque[Command] = deque()
        self._pending: dict[tuple[str, str], Pending] = {}
        self._top: list[Pending] = []
        self._large: LargeObject | None = None
        self._msg_id = 0
        self._client_msg_id = 0
        self._last_digest = b""
        self._cached: Outgoing | None = None
        self._reply_to: Message | None = None
        self._reply_plan: str = "commands"
        self._client_statuses: list[tuple[Command, int]] = []
        self._server_authenticated = False
        self._server_verdicts = 0
        """SyncHdr Statuses the device sent for our messages; ``_server_accepted``: one was
        200/212 (it checked and accepted our credentials)."""
        self._server_accepted = False
        self._last_activity: float | None = None
        self._end_after_send: str | None = None
        self._resend = False
        self._cred_sent_in: set[str] = set()
        self._ended_reported = False
        self._later: list[ev.Event] = []
        self._incoming: Incoming | None = None
        self._acks: list[tuple[Results, int]] = []
        self._decision = _UNDECIDED
        self._interrupted: list[Item] = []  # objects cut off: Alert 1225 in the answer
        self._continued = False  # this message carried the next chunk of ``_incoming``

    # -- snapshots ------------------------------------------------------------------------

    def snapshot(self, key: bytes | None = None) -> bytes:
        """This session as versioned, sealed bytes (between messages only); see
        ``session.snapshot``. Secrets and callables are not included."""
        return server_snapshot(self, key)

    @classmethod
    def restore(cls, data: bytes, *, secret_lookup: Callable[[str], auth.Secret | None],
                nonces: NonceManager | None = None, server_secret: str | None = None,
                key: bytes | None = None, guards: SessionGuards = DEFAULT_GUARDS,
                accounts_for_device: Callable[[str], Collection[str]] | None = None
                ) -> ServerSession:
        """The session ``snapshot()`` saved; ``SnapshotError`` if corrupt or foreign."""
        return server_restore(cls, data, secret_lookup=secret_lookup, nonces=nonces,
                              server_secret=server_secret, key=key, guards=guards,
                              accounts_for_device=accounts_for_device)

    # -- the application's side ---------------------------------------------------------

    def send_commands(self, commands: Iterable[Command]) -> None:
        """Queue management commands for the device (CmdIDs are assigned when sent; the
        objects are not modified and come back in ``CommandCompleted``)."""
        if self.state in TERMINAL:
            raise LocalProtocolError("session_over")
        if type(commands) is list and _COMMAND_KINDS.issuperset(map(type, commands)):
            self._queue.extend(commands)  # no answer among them: the loop's outcome at once
            return
        for command in commands:
            if isinstance(command, ANSWERS):
                raise LocalProtocolError("not_a_command", command.ELEMENT)
            self._queue.append(command)

    @property
    def outstanding(self) -> int:
        """Commands queued or sent and not yet answered."""
        return len(self._queue) + len(self._top) + (1 if self._large else 0)

    def next_timer(self) -> float | None:
        """When ``handle_timer`` must run (idle deadline), or None. A peer that has not
        authenticated gets ``guards.preauth_idle_timeout``."""
        if self.state in (State.IDLE, State.WAIT) and self._last_activity is not None:
            idle = self.idle_timeout if self.username is not None else min(
                self.idle_timeout, self.guards.preauth_idle_timeout)
            return self._last_activity + idle
        return None

    def expires_at(self) -> float | None:
        """When whoever keeps this session between messages may stop keeping it: the
        ``next_timer`` while it runs; once ended, the end of ``guards.retain_ended`` (a
        retransmission of its last message is answered until then). None: it has taken no
        message yet."""
        if self._last_activity is None:
            return None
        if self.state in TERMINAL:
            return self._last_activity + self.guards.retain_ended
        return self.next_timer()

    def handle_timer(self, *, now: float) -> list[ev.Event]:
        """Time the session out if the idle deadline (``next_timer``) has passed at ``now``:
        ``TimedOut``, one ``CommandCompleted`` per command still unanswered, and
        ``SessionEnded("timeout")``; no events before the deadline."""
        deadline = self.next_timer()
        if deadline is None or now < deadline:
            return []
        self.state = transition(self.role, self.state, ev.TimedOut)
        self._ended_reported = True
        self.end_reason = "timeout"
        return [ev.TimedOut(deadline), *self._drop_all(), ev.SessionEnded("timeout")]

    def abort(self) -> None:
        """End the session with Alert 1223 in the next message (``data_to_send``)."""
        if self.state in TERMINAL:
            raise LocalProtocolError("session_over")
        self._end_after_send = "local_abort"

    def abandon(self, reason: str) -> list[ev.Event]:
        """End the session now, in any state, sending nothing (its server could not finish a
        request: the caller drops the session). Returns ``CommandRefused`` for every command
        it held (queued, sent and unanswered, a large object), then ``SessionEnded(reason)``;
        nothing if the end was reported already."""
        if self.state not in TERMINAL:
            self.state = transition(self.role, self.state, ev.Aborted)
        self._resend = False
        self._reply_to = None
        if self._ended_reported:
            return []
        self._ended_reported = True
        self.end_reason = reason
        later, self._later = self._later, []
        return [*later, *self._drop_all(reason), ev.SessionEnded(reason)]

    def decode(self, data: bytes, content_type: str | None = None) -> Message:
        """``data`` decoded as this session will take it, changing nothing (it may run in
        another thread, then be handed to ``receive(decoded=...)``). Before the peer
        authenticated a message is bounded by ``guards.preauth_max_commands``
        (``RemoteProtocolError("too_many_commands")``); ``"undecodable"`` otherwise."""
        preauth = self.username is None
        limits = _preauth_limits(self.limits, self.guards.preauth_max_commands) if preauth \
            else self.limits
        try:
            msg = decode(data, content_type, limits=limits)
        except DecodeError as exc:
            if preauth and exc.reason == "too_many_elements":
                raise RemoteProtocolError("too_many_commands", exc.reason) from exc
            raise RemoteProtocolError("undecodable", f"{exc.reason}: {exc.detail}",
                                      status=400) from exc
        if preauth and len(msg.commands) > self.guards.preauth_max_commands:
            raise RemoteProtocolError("too_many_commands", str(len(msg.commands)))
        return msg

    # -- receiving ----------------------------------------------------------------------

    def receive(self, data: bytes, *, now: float, content_type: str | None = None,
                hmac: str | None = None, peer: str | None = None,
                decoded: Message | None = None) -> list[ev.Event]:
        """Take one client message. Afterwards ``data_to_send()`` gives the answer.

        ``peer`` is the client's network address (failures are throttled per address too);
        ``decoded`` is ``decode(data, content_type)`` if the caller already has it.

        Raises ``ForeignMessage`` (nothing changed; ``.response`` is the refusal to send, if
        any) for a message that does not decode on a session that has taken one already,
        or that is not from this session's peer: another SessionID or Source LocURI, another
        account, or credentials that fail where every message must carry them; and
        ``ForeignMessage("session_over")`` for a new message after the session ended (its
        ``.response``: 401 if the peer never authenticated, else 400, with Alert 1223). Raises
        ``RemoteProtocolError`` (session now ``ERROR``) for a message refused before anything
        in it ran: a first message that does not decode (or, unauthenticated, has too many
        commands), a skipped or decreasing MsgID, a CmdID collision, in strict mode a decode
        quirk (its code as the reason). ``LocalProtocolError`` if an answer is still waiting
        to be sent."""
        if self.state is State.SEND:
            raise LocalProtocolError("answer_pending", "call data_to_send() first")
        digest = hashlib.sha256(data).digest()
        fmt = fmt_of(content_type, data)
        msg = decoded
        decision: AuthDecision | None = None
        try:
            if msg is None:
                try:
                    msg = self.decode(data, content_type)
                except RemoteProtocolError as exc:
                    if self._last_activity is not None:
                        raise ForeignMessage(exc.reason, exc.detail) from exc
                    raise
            self._judge_peer(msg)
            number = message_id(msg)
            if number == self._client_msg_id and digest == self._last_digest \
                    and self._cached is not None:
                self._last_activity = now
                self.state = transition(self.role, self.state, ev.DuplicateReceived)
                self._resend = True
                return [ev.DuplicateReceived(msg.header.msg_id)]
            if self.state in TERMINAL:
                # A client that retries after the end (libdmclient does, without limit) gets
                # an answer it can read: 401 if it never authenticated, else 400, and 1223.
                raise ForeignMessage("session_over", self.state.name,
                                     status=401 if self.username is None else 400)
            if self.strict and msg.quirks:
                # The peer's message, readable, with a deviation strict mode does not absorb.
                raise RemoteProtocolError(msg.quirks[0], "refused in strict mode", status=400)
            if self.username is not None:
                # An authenticated session: the message is judged as its peer's first.
                decision = self._authenticate(msg, data, hmac, now, peer)
            if number != self._client_msg_id + 1:
                raise RemoteProtocolError("msg_id_order", msg.header.msg_id, status=400)
            check_cmd_ids(msg)
            if not self.started and not any(
                    isinstance(c, Alert) and c.data in SESSION_ALERTS for c in msg.commands):
                raise RemoteProtocolError("no_session_alert", status=400)
        except ForeignMessage as exc:
            if msg is not None and exc.status is not None:
                exc.response = self._refusal(msg, exc.status, fmt)
            raise exc from exc.__cause__
        except RemoteProtocolError as exc:
            if self.state not in TERMINAL:
                self.state = transition(self.role, self.state, ev.ProtocolFailed)
            self._last_activity = now
            if msg is not None and exc.status is not None:
                exc.response = self._refusal(msg, exc.status, fmt)
            raise exc from exc.__cause__
        self._last_activity = now
        self._client_msg_id = number
        self._last_digest = digest
        self.session_id = msg.header.session_id
        self.device_id = msg.header.source.loc_uri
        self.fmt = fmt
        if msg.header.meta is not None:
            if msg.header.meta.max_msg_size:
                self.client_max_msg_size = msg.header.meta.max_msg_size
            if msg.header.meta.max_obj_size:
                self.client_max_obj_size = msg.header.meta.max_obj_size
        self.state = transition(self.role, self.state, ev.MessageReceived)
        events: list[ev.Event] = [ev._message_received(msg.header.msg_id, msg.final)]
        for quirk in msg.quirks:
            self._note(quirk)
        self._reply_to = msg
        self._client_statuses = []
        self._acks = []
        # 1. Credentials, before anything in the message is acted on.
        was = self.username
        if decision is None:
            decision = self._authenticate(msg, data, hmac, now, peer)
        self._decision = decision
        if not decision.authenticated:
            events.append(ev.AuthenticationFailed(decision.status, decision.reason or ""))
            if decision.end_session:
                self._end_after_send = "auth_failed"
            self._reply_plan = "auth_failed"
            return events
        if was is None:
            self.username = decision.username
            events.append(ev._authenticated(decision.username or "", decision.status))
        # 2. What the device said about our messages (its own commands put aside, in order).
        commands: list[Command] = []
        events.extend(self._take_answers(msg, commands))
        if (msg.final and self._top and self._incoming is None
                and not _asks_next_or_aborts(commands)):
            # The device's package is over: what it left unanswered never will be (an abort
            # ends the session instead: its commands are refused as ``session_ended``).
            events.extend(self._unanswered())
        # 3. The device's own commands.
        asks_next = False
        for command in commands:
            code = 200
            if isinstance(command, Alert):
                code, more, asks = self._client_alert(msg, command)
                events.extend(more)
                asks_next = asks_next or asks
            elif isinstance(command, Replace) and not self.started:
                code = 200
            elif not isinstance(command, Replace):
                code = 405  # a client sends only Replace, Results, Alert and Status
            self._client_statuses.append((command, code))
        if not self.started:
            self.started = True
            alert = next(c for c in msg.commands
                         if isinstance(c, Alert) and c.data in SESSION_ALERTS)
            devinfo = tuple(
                (item_uri(item), item.data if isinstance(item.data, str) else "")
                for c in msg.commands if isinstance(c, Replace) for item in c.items)
            events.insert(1 + (was is None), ev._session_started(
                msg.header.session_id, self.device_id, int(alert.data or 0), devinfo))
        if self._end_after_send == "peer_abort":
            self._reply_plan = "statuses"
        elif not msg.final and not asks_next:
            self._reply_plan = "next_message"
        else:
            self._reply_plan = "commands"
        return events

    def _judge_peer(self, msg: Message) -> None:
        """``ForeignMessage`` if ``msg`` is not from this session's peer (its SessionID and
        Source LocURI, fixed by its first message; its account, once authenticated)."""
        if self._last_activity is None:
            return
        hdr = msg.header
        if self.session_id is not None and hdr.session_id != self.session_id:
            raise ForeignMessage("session_id", hdr.session_id, status=400)
        if hdr.source.loc_uri != self.device_id:
            raise ForeignMessage("source", hdr.source.loc_uri, status=401)
        if self.username is not None and hdr.source_name not in (None, self.username):
            raise ForeignMessage("account", hdr.source_name or "", status=401)

    def _authenticate(self, msg: Message, data: bytes, hmac: str | None, now: float,
                      peer: str | None) -> AuthDecision:
        """The policy's verdict on ``msg``, with the failure throttle and the device
        ownership check around it. On an authenticated session a failing message is
        ``ForeignMessage`` (the policy changed nothing)."""
        cred = None
        if msg.header.cred is not None:
            try:
                cred = auth.Credential.from_model(msg.header.cred)
            except AuthenticationError:
                cred = auth.Credential("invalid", "")
        # The account to check against: LocName, or where a real client omits it, the one
        # found another way (``_account``; quirk ``missing_loc_name``).
        name, refused = self._account(msg, cred, hmac)
        if self._aauth_for is not None and not self.started and self.policy.failures == 0:
            self.policy = AuthPolicy(self._aauth_for(name),
                                     self._secret_lookup, self.nonces,
                                     max_failures=self.policy.max_failures,
                                     per_message=self.policy.per_message)
            self._aauth_for = None
        throttle = self.guards.throttle
        presented = cred is not None or hmac is not None
        device = msg.header.source.loc_uri
        account = self.username or name or auth.claimed_user(None, cred, hmac)
        if throttle is not None and presented and throttle.retry_after(
                now=now, account=account, device=device, address=peer) > 0:
            # Locked: refused unverified, answered as a wrong password would be.
            decision = self.policy.refuse(name, "throttled")
        elif refused is not None:
            decision = self.policy.refuse(name, refused)
            if throttle is not None:
                throttle.failed(now=now, account=account, device=device, address=peer)
        else:
            decision = self.policy.check(name, cred, hmac, data)
            claim = self.guards.device_claim
            if (decision.authenticated and self.username is None and claim is not None
                    and not claim(decision.username or "", device)):
                decision = self.policy.forbid("device_not_owned")
            if throttle is not None and decision.authenticated and presented:
                throttle.succeeded(now=now, account=decision.username, device=device,
                                   address=peer)
            elif throttle is not None and presented and not decision.authenticated:
                throttle.failed(now=now, account=account, device=device, address=peer)
        if decision.foreign:
            raise ForeignMessage("credentials", decision.reason or "", status=decision.status)
        return decision

    def _note(self, code: str) -> bool:
        """A deviation met: recorded in ``quirks`` and absorbed (True), or, in strict mode,
        the session ends with Alert 1223 after this answer, the code its reason (False)."""
        if self.strict:
            if self._end_after_send is None:
                self._end_after_send = code
            return False
        if code not in self.quirks:
            self.quirks.append(code)
        return True

    def _account(self, msg: Message, cred: auth.Credential | None,
                 hmac: str | None) -> tuple[str | None, str | None]:
        """(the account the message's credentials are checked against, or None; the reason
        to refuse them unread, or None)."""
        name = msg.header.source_name
        if name is not None or (cred is None and hmac is None) or (
                cred is not None and hmac is not None):
            return name, None  # (both at once: the policy ends the session)
        if cred is not None and hmac is None and cred.meta_type != auth.META_MD5:
            return None, None  # auth-basic names its user; anything else the policy refuses
        if self.strict:
            return None, "missing_loc_name"  # refused with a challenge, not an end
        if hmac is not None:
            try:
                user = auth.parse_hmac_header(hmac).username
            except AuthenticationError:
                return None, None  # the policy judges the header itself
            self._note("missing_loc_name")
            return user, None
        fits = (list(self.accounts_for_device(msg.header.source.loc_uri))
                if self.accounts_for_device is not None else [])
        if len(fits) != 1:
            # No account, or several, fit the device: nothing to check the digest against.
            return None, "missing_loc_name"
        self._note("missing_loc_name")
        return fits[0], None

    def _unanswered(self) -> list[ev.Event]:
        """At the device's Final: every command it was sent and did not answer ends now with
        the outcome ``no_status`` (session quirk ``missing_status``)."""
        left = [p for p in self._top if not p.statuses]
        if not left:
            return []
        self._note("missing_status")
        events: list[ev.Event] = []
        for pending in left:
            if pending.chunk or pending.is_last_chunk:
                self._large = None  # a chunk never acknowledged: the object is not whole
                events.append(ev.CommandCompleted(pending.command, 0, outcome="no_status"))
            else:
                events.append(pending.event("no_status"))
        gone = {id(p) for p in left}
        self._top = [p for p in self._top if id(p) not in gone]
        self._pending = {k: p for k, p in self._pending.items()
                         if id(self._root(p)) not in gone}
        return events

    def _refusal(self, msg: Message, code: int, fmt: Format) -> bytes:
        """The answer to a refused message: its SyncHdr Status with ``code``, Alert 1223,
        Final (the server answers every client package, even this one)."""
        hdr = SyncHdr(msg.header.session_id, str(self._msg_id + 1),
                      Target(msg.header.source.loc_uri), Source(self.server_uri, self.server_id))
        body: list[Command] = [header_status(msg.header, "1", code), Alert("2", ALERT_ABORT)]
        try:
            return encode_message(Message(hdr, body, final=True), fmt)
        except OmaDmError:
            return b""  # a header too broken to echo: the binding answers without a body

    def _client_alert(self, msg: Message, alert: Alert) -> tuple[int, list[ev.Event], bool]:
        code = alert.data or 0
        if code in SESSION_ALERTS:
            return (200 if not self.started else 405), [], False
        if code in CLIENT_ALERTS:
            if not alert.items:
                return 412, [], False
            return 200, [ev.AlertReceived(code, tuple(alert.items), alert.correlator)], False
        if code == ALERT_NEXT_MESSAGE:
            return 200, [], True
        if code == ALERT_ABORT:
            self._end_after_send = "peer_abort"
            return 200, [ev.AlertReceived(code, tuple(alert.items))], False
        if code == ALERT_NO_END_OF_DATA:
            events: list[ev.Event] = [ev.AlertReceived(code, tuple(alert.items))]
            if self._large is not None:
                events.append(ev.LargeObjectInterrupted(item_uri(alert.items[0])
                                                        if alert.items else ""))
                events.append(ev.CommandRefused(self._large.command, "interrupted",
                                                sent=True))
                self._large = None
            return 200, events, False
        return 406, [], False

    def _take_answers(self, msg: Message, commands: list[Command]) -> list[ev.Event]:
        """Match each Status / Results to the command it answers; complete the commands.
        The message's other commands (the device's own) go to ``commands``, in order."""
        header_reply = None
        last: Pending | None = None
        self._continued = False
        sent = self._pending.get
        for command in msg.commands:
            kind = type(command)
            if kind is not Status and kind is not Results:
                # The one pass over the message: a subclass answers as its class does.
                if isinstance(command, Status):
                    kind = Status
                elif isinstance(command, Results):
                    kind = Results
                else:
                    commands.append(command)
                    continue
            if kind is Status:
                status: Status = command  # type: ignore[assignment]
                if status.cmd_ref == "0":
                    header_reply = status
                    continue
                pending = sent((status.msg_ref, status.cmd_ref))
                if pending is None:
                    continue  # a status for something we never sent: ignored, not reported
                pending.statuses.append(status.data)
                if status.items:
                    found = [i.data for i in status.items if isinstance(i.data, str)]
                    if found:
                        pending.add_data(found)
                last = pending
            else:
                results: Results = command  # type: ignore[assignment]
                pending = sent((results.msg_ref or "", results.cmd_ref)) or last
                if pending is not None and pending.command.ELEMENT == "Get":
                    items = results.items
                    if (self._incoming is None and len(items) == 1
                            and not items[0].more_data):
                        pending.add_result(results)  # ``_take_results``' common case
                    else:
                        self._take_results(pending, results)
        events: list[ev.Event] = []
        if self._incoming is not None and not self._continued:
            # The device's message does not go on with the object it was sending.
            self._interrupt()
        events.extend(ev.LargeObjectInterrupted(item_uri(i)) for i in self._interrupted)
        if header_reply is not None:
            self._server_auth_reply(header_reply)
        requeue: list[Command] = []
        keep: list[Pending] = []
        refused_us = header_reply is not None and header_reply.data in (401, 407)
        completed, outcome_of = ev._completed, ev.outcome_of
        for pending in self._top:
            statuses = pending.statuses
            if not statuses or pending.receiving or (pending.children and pending.busy()):
                keep.append(pending)
                continue
            code = statuses[0]
            if refused_us and code in (401, 407):
                requeue.append(pending.command)  # our credentials failed: send it again
            elif pending.chunk and code == STATUS_CHUNK:
                pass  # an acknowledged chunk: the object completes with its last chunk
            elif pending.chunk:
                # Not 213: the device did not take this chunk as a part (a client that ignores
                # MoreData answers 200 and keeps the chunk alone); the rest is not sent.
                self._large = None
                if 200 <= code <= 299:
                    self._note("chunk_status")
                outcome = ("large_object_failed" if ev.outcome_of(code) != "invalid_status"
                           else "invalid_status")
                events.append(ev.CommandCompleted(pending.command, code, (), (code,),
                                                  outcome=outcome))
            elif not pending.children:
                # ``pending.event()``, written out (once per command answered): a Status came.
                got, data = pending.results, pending.data
                events.append(completed(
                    pending.command, code, tuple(got) if got else (), tuple(statuses), (),
                    tuple(data) if data else (), outcome_of(code)))
            else:
                events.append(pending.event())
        self._top = keep
        if keep:
            kept = {id(p) for p in keep}
            self._pending = {k: p for k, p in self._pending.items()
                             if id(self._root(p)) in kept}
        else:
            self._pending = {}
        self._queue.extendleft(reversed(requeue))
        return events

    def _take_results(self, pending: Pending, results: Results) -> None:
        """Attach Results to their Get; chunks are bounded (413 past ``max_obj_size`` or the
        memory budget, 424 past the declared Size: nothing more is buffered), acknowledged
        213, and joined. Results that are not the next chunk of an object in flight
        interrupt it (Alert 1225) and are then taken as new."""
        item = results.items[0] if len(results.items) == 1 else None
        incoming = self._incoming
        if incoming is not None and (incoming.pending is not pending or item is None):
            self._interrupt()
            incoming = None
        if item is None or (incoming is None and not item.more_data):
            pending.add_result(results)
            return
        if incoming is None:
            size = item.meta.size if item.meta is not None else None
            incoming = self._incoming = Incoming(
                pending, results, size, reservation=Reservation(self.guards.incoming_budget))
            pending.receiving = True
            if size is not None and size > self.guards.max_obj_size:
                incoming.refused = 413  # refused before a byte is buffered
        self._continued = True
        if incoming.refused is None:
            text = item_text(item)
            size = len(text.encode("utf-8"))
            total = incoming.received + size
            if incoming.expected is not None and total > incoming.expected:
                incoming.refused = 424
            elif total > self.guards.max_obj_size or not incoming.reservation.grow(size):
                incoming.refused = 413
            else:
                incoming.parts.append(text)
                incoming.received = total
            if incoming.refused is not None:
                incoming.parts = []
                incoming.reservation.release()
        if item.more_data:
            self._acks.append((results, incoming.refused or STATUS_CHUNK))
            return
        self._incoming = None
        pending.receiving = False
        whole = "".join(incoming.parts)
        incoming.reservation.release()
        code = incoming.refused
        if code is None and incoming.expected is not None and incoming.received != \
                incoming.expected:
            code = 424
        if code is not None:
            self._acks.append((results, code))
            pending.statuses.insert(0, code)  # the object was refused: not reported as data
            return
        first_item = incoming.first.items[0]
        meta = first_item.meta
        joined = Item(source=first_item.source, target=first_item.target,
                      meta=Meta(format=meta.format, type=meta.type) if meta else None,
                      data=whole)
        pending.add_result(dataclasses.replace(incoming.first, items=[joined]))

    def _interrupt(self) -> None:
        """Drop the object arriving in chunks (it is not committed); Alert 1225 goes out with
        the next answer, and its Get completes with whatever else answers it. An object the
        server refused (413, 424) completes its Get with that code instead."""
        incoming = self._incoming
        if incoming is None:
            return
        self._incoming = None
        incoming.pending.receiving = False
        incoming.reservation.release()
        if incoming.refused is not None:
            # We refused it; the device rightly stopped sending it: it ends with our code.
            incoming.pending.statuses.insert(0, incoming.refused)
            return
        first = incoming.first.items[0]
        self._interrupted.append(Item(source=first.source, target=first.target))

    @staticmethod
    def _root(pending: Pending) -> Pending:
        while pending.parent is not None:
            pending = pending.parent
        return pending

    def _server_auth_reply(self, status: Status) -> None:
        chal = None
        if status.chal is not None:
            try:
                chal = auth.Challenge.from_model(status.chal)
            except AuthenticationError:
                chal = None
        if chal is not None and chal.next_nonce is not None and self.username is not None:
            # The device is authenticated, so its nonce may replace the stored one.
            self.nonces.offer(self.username, "SRVCRED", chal.next_nonce, authenticated=True)
        if status.data in (200, 212) and status.msg_ref in self._cred_sent_in:
            self._server_authenticated = True
        self._server_verdicts += 1
        if status.data in (200, 212):
            self._server_accepted = True

    # -- sending ------------------------------------------------------------------------

    def data_to_send(self) -> Outgoing:
        """The answer to the last client message (the same bytes again for a duplicate)."""
        if self._resend:
            assert self._cached is not None
            self._resend = False
            if self.state is State.SEND:
                self.state = transition(self.role, self.state, ev.MessageSent)
            return self._cached
        if self.state is not State.SEND or self._reply_to is None:
            raise LocalProtocolError("nothing_to_send", self.state.name)
        out, final_only = self._build()
        self._cached = out
        self._reply_to = None
        if self._end_after_send is not None:
            self.state = transition(self.role, self.state, ev.Aborted)
        elif final_only:
            self.state = transition(self.role, self.state, ev.FinalSent)
        else:
            self.state = transition(self.role, self.state, ev.MessageSent)
        return out

    def take_events(self) -> list[ev.Event]:
        """After ``data_to_send``: commands that could not be sent (``CommandRefused``) and,
        once, ``SessionEnded`` if that message ended the session."""
        out, self._later = self._later, []
        if self.state is State.CLOSED and not self._ended_reported:
            self._ended_reported = True
            reason = "completed"
            if (self.server_secret is not None and self._server_verdicts
                    and not self._server_accepted):
                # The device answered our messages but never accepted our credentials (it
                # could not check them: libdmclient's Status 0); nothing it did is vouched for.
                reason = "server_not_authenticated"
            self.end_reason = reason
            out.append(ev._session_ended(reason))
        elif self.state is State.ABORTED and not self._ended_reported:
            self._ended_reported = True
            out.extend(self._drop_all())
            self.end_reason = self._end_after_send or "aborted"
            out.append(ev.SessionEnded(self.end_reason))
        return out

    def _drop_all(self, reason: str = "session_ended") -> list[ev.Event]:
        # Sent (may have reached the device) or never sent: the application decides whether
        # a command may run again from that.
        dropped = [ev.CommandRefused(p.command, reason, sent=True) for p in self._top]
        dropped += [ev.CommandRefused(c, reason, sent=False) for c in self._queue]
        if self._large is not None:
            dropped.append(ev.CommandRefused(self._large.command, reason,
                                             sent=self._large.offset > 0))
        if self._incoming is not None:
            self._incoming.reservation.release()
        self._top, self._queue, self._large, self._pending = [], deque(), None, {}
        self._incoming = None
        return list(dropped)

    def _header(self) -> SyncHdr:
        assert self._reply_to is not None and self.session_id is not None
        self._msg_id += 1
        # Meta positional (max_msg_size and max_obj_size are its 9th and 10th fields), its
        # lists given: no keyword parsing nor default factories once per message.
        meta = Meta(False, None, None, None, None, None, None, None, self.max_msg_size,
                    self.guards.max_obj_size, [], None, [])
        hdr = SyncHdr(self.session_id, str(self._msg_id), Target(self.device_id),
                      Source(self.server_uri, self.server_id), "1.2", "DM/1.2",
                      self.resp_uri, False, None, meta)
        if (self.server_secret is not None and self.server_auth_type in ("DIGEST", "BASIC")
                and not self._server_authenticated and self.username is not None):
            # Our credentials go in every message until the device accepts them.
            if self.server_auth_type == "BASIC":
                hdr.cred = auth.Credential(auth.META_BASIC, auth.basic_credential(
                    self.server_id, self.server_secret)).to_model()
            else:
                nonce = self.nonces.current(self.username, "SRVCRED") or b""
                hdr.cred = auth.Credential(auth.META_MD5, auth.md5_credential(
                    self.server_id, self.server_secret, nonce)).to_model()
            self._cred_sent_in.add(hdr.msg_id)
        return hdr

    def _statuses(self, ids: CmdIds) -> list[Command]:
        msg = self._reply_to
        assert msg is not None
        decision = self._decision
        chal = decision.challenge.to_model() if decision.challenge is not None else None
        out: list[Command] = [header_status(msg.header, ids(), decision.status, chal)]
        if not decision.authenticated:
            if not self.guards.preauth_command_statuses:
                # The challenge alone (a deviation from PRO 2.4.1 the operator chose): one
                # Status whatever the message carries.
                return out
            for command in msg.commands:
                if not isinstance(command, ANSWERS):
                    out.append(command_status(msg.header.msg_id, command, ids(),
                                              decision.status))
            return out
        for command, code in self._client_statuses:
            out.append(command_status(msg.header.msg_id, command, ids(), code))
        for results, code in self._acks:
            out.append(command_status(msg.header.msg_id, results, ids(), code))
        self._acks = []
        return out

    def _encode(self, msg: Message, prebuilt: bytes | None = None) -> Outgoing:
        # ``prebuilt``: the bytes ``_fill`` already encoded for exactly this message.
        body = prebuilt if prebuilt is not None else encode_message(msg, self.fmt)
        hmac_value = None
        if (self.server_secret is not None and self.server_auth_type == "HMAC"
                and self.username is not None):
            nonce = self.nonces.current(self.username, "SRVCRED") or b""
            hmac_value = auth.hmac_header(self.server_id, self.server_secret, nonce, body)
        return _outgoing(body, CONTENT_TYPES[self.fmt], msg.header.msg_id, msg.final,
                         hmac_value)

    def _build(self) -> tuple[Outgoing, bool]:
        """(message, True if it is the Final-only package that ends the session)."""
        ids = CmdIds()
        hdr = self._header()
        body = self._statuses(ids)
        fixed = len(body)  # a message of Statuses alone (plus Final) ends the session
        for item in self._interrupted:
            body.append(Alert(ids(), ALERT_INTERRUPTED, items=[item]))
        self._interrupted = []
        if self._end_after_send is not None and self._end_after_send != "peer_abort":
            # Every end the device did not ask for is told with 1223 (local abort, failed
            # authentication, a strict-mode refusal): without it a 401 reads as "retry".
            body.append(Alert(ids(), ALERT_ABORT))
            return self._encode(Message(hdr, body, final=True)), False
        if self._reply_plan in ("auth_failed", "statuses") or self._end_after_send:
            return self._encode(Message(hdr, body, final=True)), False
        if self._reply_plan == "next_message":
            body.append(Alert(ids(), ALERT_NEXT_MESSAGE))
            return self._encode(Message(hdr, body, final=False)), False
        if self._large is not None:
            last = self._add_chunk(hdr, body, ids)
            final = last and not self._queue
            msg = Message(hdr, body, final=final)
            return self._encode(msg), False
        prebuilt = self._fill(hdr, body, ids)
        final = not self._queue and self._large is None
        msg = Message(hdr, body, final=final)
        final_only = len(body) == fixed and final and not self._top
        return self._encode(msg, prebuilt if final else None), final_only

    def _number(self, command: Command, ids: CmdIds, msg_id: str,
                parent: Pending | None) -> tuple[Command, Pending]:
        """A wire copy of ``command`` with fresh CmdIDs, registered as pending."""
        pending = Pending(command, parent)
        # A shallow copy: the application's object keeps its own CmdID and children.
        wire = _shallow_copy(command)
        wire.cmd_id = ids()
        if isinstance(wire, _CONTAINERS):
            wire.commands = []
            children: list[Pending] = []
            pending.children = children
            for child in command.commands:  # type: ignore[union-attr]
                child_wire, child_pending = self._number(child, ids, msg_id, pending)
                wire.commands.append(child_wire)
                children.append(child_pending)
        self._pending[(msg_id, wire.cmd_id)] = pending
        return wire, pending

    def _fits(self, hdr: SyncHdr, body: list[Command], final: bool) -> bool:
        return self._encoded_if_fits(hdr, body, final) is not None

    def _encoded_if_fits(self, hdr: SyncHdr, body: list[Command], final: bool) -> bytes | None:
        encoded = encode_message(Message(hdr, body, final=final), self.fmt)
        return encoded if len(encoded) <= self.client_max_msg_size else None

    def _fill(self, hdr: SyncHdr, body: list[Command], ids: CmdIds) -> bytes | None:
        """Add queued commands while the message stays within the device's MaxMsgSize.
        Returns the encoded Final message when everything fitted at once (else None)."""
        fixed = len(body)
        if not self._queue:
            return None
        cap = self.max_commands_per_message
        if cap is not None and len(self._queue) > cap:
            return self._fill_capped(hdr, body, ids, cap)
        mark = ids.next
        # Common case first: everything fits. The wire copies go straight into ``body`` (cut
        # back below if they do not fit); a plain command is numbered here, not in ``_number``.
        pendings: list[Pending] = []
        msg_id = hdr.msg_id
        table = self._pending
        copiers = _FLAT_COPIERS
        number = mark  # ``ids()``, written out: ``ids.next`` is set back after the loop
        for command in self._queue:
            copier = copiers.get(type(command))
            if copier is None:
                ids.next = number
                wire, pending = self._number(command, ids, msg_id, None)
                number = ids.next
            else:
                pending = Pending(command)
                wire = copier(command)
                cmd_id = wire.cmd_id = _ID_TEXTS[number] if number < 1024 else str(number)
                number += 1
                table[(msg_id, cmd_id)] = pending
            body.append(wire)
            pendings.append(pending)
        ids.next = number
        encoded = self._encoded_if_fits(hdr, body, True)
        if encoded is not None:
            self._top.extend(pendings)
            self._queue.clear()
            return encoded
        # Otherwise one at a time; forget the numbering done above. A command is taken on
        # the upper bound of the message's size where that suffices, else by encoding (which
        # re-anchors the running size): the same commands as encoding every candidate.
        for wire in body[fixed:]:
            self._unregister(msg_id, wire)
        del body[fixed:]
        ids.next = mark
        sizer = MessageSizer(hdr, self.fmt)
        limit = self.client_max_msg_size
        known = len(encode_message(Message(hdr, body, final=False), self.fmt))
        # Taking the last queued command makes the message Final: it is sized with <Final/>.
        final_cost = len(encode_message(Message(hdr, body, final=True), self.fmt)) - known
        while self._queue:
            command = self._queue[0]
            last = len(self._queue) == 1
            wire, pending = self._number(command, ids, hdr.msg_id, None)
            step = sizer.upper(sizer.measure([wire]))
            fits = known + step + (final_cost if last else 0) <= limit
            if fits:
                known += step
            else:
                size = len(encode_message(Message(hdr, [*body, wire], final=last), self.fmt))
                fits = size <= limit
                if fits and last:
                    size -= final_cost
                if fits:
                    known = size
            if fits:
                body.append(wire)
                self._top.append(pending)
                self._queue.popleft()
                continue
            self._unregister(hdr.msg_id, wire)
            ids.next -= sum(1 for _ in walk([wire]))
            if len(body) > fixed:
                return None  # the rest goes in the next message of this package
            self._queue.popleft()
            if self._chunkable(command):
                assert isinstance(command, Add | Replace)
                self._start_large(command)
                if self._large is not None:
                    self._add_chunk(hdr, body, ids)
                return None
            self._later.append(ev.CommandRefused(command, "too_large"))
        return None

    def _fill_capped(self, hdr: SyncHdr, body: list[Command], ids: CmdIds,
                     cap: int) -> bytes | None:
        """``_fill`` with at most ``cap`` queued commands in this message: the rest waits
        for the next one (the device's reply to each message stays small)."""
        rest = list(self._queue)[cap:]
        for _ in rest:
            self._queue.pop()
        try:
            self._fill(hdr, body, ids)
        finally:
            self._queue.extend(rest)
        return None  # not Final: the rest follows

    def _unregister(self, msg_id: str, wire: Command) -> None:
        for command in walk([wire]):
            self._pending.pop((msg_id, command.cmd_id), None)

    @staticmethod
    def _chunkable(command: Command) -> bool:
        return (isinstance(command, _OBJECTS) and len(command.items) == 1
                and command.items[0].data is not None)

    def _start_large(self, command: Add | Replace) -> None:
        item = command.items[0]
        meta = item.meta or command.meta
        fmt = meta.format if meta is not None else None
        mime = meta.type if meta is not None else None
        data = item.data
        if isinstance(data, bytes):
            text, fmt = base64.b64encode(data).decode("ascii"), "b64"
        elif isinstance(data, str):
            text = data
        else:
            text = data.xml if data is not None else ""
        size = len(text.encode("utf-8"))
        if self.client_max_obj_size is not None and size > self.client_max_obj_size:
            self._later.append(ev.CommandRefused(command, "max_obj_size"))
            return
        self._large = LargeObject(command, text, fmt, mime)

    def _add_chunk(self, hdr: SyncHdr, body: list[Command], ids: CmdIds) -> bool:
        """Add the next chunk of the large object; True if it was the last one."""
        large = self._large
        assert large is not None
        first = large.offset == 0
        total = len(large.text.encode("utf-8"))
        room = max(64, self.client_max_msg_size - 600)
        while True:
            piece = large.text[large.offset:large.offset + room]
            last = large.offset + len(piece) >= len(large.text)
            meta = Meta(format=large.format, type=large.type, size=total if first else None)
            item = dataclasses.replace(large.command.items[0], meta=meta, data=piece,
                                       more_data=not last)
            wire = type(large.command)(ids(), [item])
            if self._fits(hdr, [*body, wire], last) or room <= 16:
                break
            ids.next -= 1
            room //= 2
        body.append(wire)
        pending = Pending(large.command, chunk=not last, is_last_chunk=last)
        self._pending[(hdr.msg_id, wire.cmd_id)] = pending
        self._top.append(pending)
        large.offset += len(piece)
        if last:
            self._large = None
        return last


__all__ = ["SESSION_QUIRKS", "ServerSession"]
