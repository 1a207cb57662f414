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
import hashlib
from collections import deque
from collections.abc import Callable, Iterable

from ..errors import AuthenticationError, LocalProtocolError, OmaDmError, RemoteProtocolError
from ..limits import DEFAULT_LIMITS, Limits
from ..messages.model import (
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
    ALERT_ABORT,
    ALERT_NEXT_MESSAGE,
    ALERT_NO_END_OF_DATA,
    CONTENT_TYPES,
    CmdIds,
    Format,
    MessageSizer,
    Outgoing,
    check_cmd_ids,
    command_status,
    decode_message,
    encode_message,
    fmt_of,
    header_status,
    item_text,
    item_uri,
    message_id,
    walk,
)
from ._inflight import Incoming, LargeObject, Pending
from .snapshot import server_restore, server_snapshot
from .states import TERMINAL, Role, State, transition

SESSION_ALERTS = frozenset({1200, 1201})
CLIENT_ALERTS = frozenset({1224, 1226})
# Statuses that must come back for the command to be known done; 213 only acknowledges a chunk.
STATUS_CHUNK = 213


_COPIED_FIELDS: dict[type, tuple[str, ...] | None] = {}


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


def _shallow_copy(command: Command) -> Command:
    """``copy.copy(command)``, without the generic reduce protocol for the model's classes."""
    cls = type(command)
    try:
        names = _COPIED_FIELDS[cls]
    except KeyError:
        names = _COPIED_FIELDS[cls] = _copied_fields(cls, command)
    if names is None:
        return copy.copy(command)
    wire: Command = cls.__new__(cls)
    for name in names:
        setattr(wire, name, getattr(command, name))
    return wire


class ServerSession:
    """One DM session as seen by the server.

    ``secret_lookup(username)`` returns the stored ``auth.secret_hash`` of a client, or None.
    ``aauth_type`` is the client authentication demanded (DIGEST, BASIC or HMAC), or a
    callable giving it per account (called with the first message's Source LocName). The server
    authenticates itself when ``server_secret`` is given: ``server_auth_type`` DIGEST (a Cred
    until the device accepts it) or HMAC (an ``x-syncml-hmac`` on every message), with the
    SRVCRED nonce of the device kept in ``nonces``.
    """

    role = Role.SERVER

    def __init__(self, *, server_id: str, server_uri: str,
                 secret_lookup: Callable[[str], auth.Secret | None],
                 nonces: NonceManager | None = None,
                 aauth_type: str | Callable[[str | None], str] = "DIGEST",
                 server_secret: str | None = None, server_auth_type: str = "DIGEST",
                 max_msg_size: int = 65536, max_failures: int = 3,
                 idle_timeout: float = 300.0, resp_uri: str | None = None,
                 limits: Limits = DEFAULT_LIMITS) -> None:
        self.server_id = server_id
        self.server_uri = server_uri
        self.nonces = nonces if nonces is not None else NonceManager()
        # A callable picks the type per account (from the first message's LocName).
        self._aauth_for = aauth_type if callable(aauth_type) else None
        self._secret_lookup = secret_lookup
        self.policy = AuthPolicy(aauth_type if isinstance(aauth_type, str) else "DIGEST",
                                 secret_lookup, self.nonces, max_failures=max_failures)
        self.server_secret = server_secret
        self.server_auth_type = server_auth_type
        self.max_msg_size = max_msg_size
        self.idle_timeout = idle_timeout
        self.resp_uri = resp_uri
        """Sent as RespURI in every message (the HTTP binding sets its per-session URL)."""
        self.limits = limits
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
        self._last_activity: float | None = None
        self._end_after_send: str | None = None
        self._resend = False
        self._cred_sent_in: set[str] = set()
        self._ended_reported = False
        self._later: list[ev.Event] = []
        self._incoming: Incoming | None = None
        self._acks: list[tuple[Results, int]] = []
        self._decision = AuthDecision(400)

    # -- snapshots ------------------------------------------------------------------------

    def snapshot(self, key: bytes | None = None) -> bytes:
        """This session as versioned, sealed bytes (between messages only); see
        ``session.snapshot``. Secrets and callables are not included."""
        return server_snapshot(self, key)

    @classmethod
    def restore(cls, data: bytes, *, secret_lookup: Callable[[str], auth.Secret | None],
                nonces: NonceManager | None = None, server_secret: str | None = None,
                key: bytes | None = None) -> ServerSession:
        """The session ``snapshot()`` saved; ``SnapshotError`` if corrupt or foreign."""
        return server_restore(cls, data, secret_lookup=secret_lookup, nonces=nonces,
                              server_secret=server_secret, key=key)

    # -- the application's side ---------------------------------------------------------

    def send_commands(self, commands: Iterable[Command]) -> None:
        """Queue management commands for the device (CmdIDs are assigned when sent; the
        objects are not modified and come back in ``CommandCompleted``)."""
        if self.state in TERMINAL:
            raise LocalProtocolError("session_over")
        for command in commands:
            if isinstance(command, Status | Results):
                raise LocalProtocolError("not_a_command", command.ELEMENT)
            self._queue.append(command)

    @property
    def outstanding(self) -> int:
        """Commands queued or sent and not yet answered."""
        return len(self._queue) + len(self._top) + (1 if self._large else 0)

    def next_timer(self) -> float | None:
        """When ``handle_timer`` must run (idle deadline), or None."""
        if self.state in (State.IDLE, State.WAIT) and self._last_activity is not None:
            return self._last_activity + self.idle_timeout
        return None

    def handle_timer(self, *, now: float) -> list[ev.Event]:
        """Time the session out if the idle deadline (``next_timer``) has passed at ``now``:
        ``TimedOut``, one ``CommandCompleted`` per command still unanswered, and
        ``SessionEnded("timeout")``; no events before the deadline."""
        deadline = self.next_timer()
        if deadline is None or now < deadline:
            return []
        self.state = transition(self.role, self.state, ev.TimedOut)
        self._ended_reported = True
        return [ev.TimedOut(deadline), *self._drop_all(), ev.SessionEnded("timeout")]

    def abandon(self, reason: str) -> list[ev.Event]:
        """Give the session up at once (the server failed, or its message was refused): no
        more messages. Returns ``CommandRefused`` for every command not answered (``sent``
        telling which may have reached the device) and, once, ``SessionEnded(reason)``."""
        if self.state not in TERMINAL:
            self.state = transition(self.role, self.state, ev.Aborted)
        events = self._drop_all(reason)
        if not self._ended_reported:
            self._ended_reported = True
            events.append(ev.SessionEnded(reason))
        return events

    def abort(self) -> None:
        """End the session with Alert 1223 in the next message (``data_to_send``)."""
        if self.state in TERMINAL:
            raise LocalProtocolError("session_over")
        self._end_after_send = "local_abort"

    # -- receiving ----------------------------------------------------------------------

    def receive(self, data: bytes, *, now: float, content_type: str | None = None,
                hmac: str | None = None) -> list[ev.Event]:
        """Take one client message. Afterwards ``data_to_send()`` gives the answer.

        Raises ``RemoteProtocolError`` (session now ``ERROR``) for a message refused before
        anything in it ran: undecodable, wrong SessionID, skipped or decreasing MsgID, a CmdID
        collision. ``LocalProtocolError`` if an answer is still waiting to be sent."""
        if self.state is State.SEND:
            raise LocalProtocolError("answer_pending", "call data_to_send() first")
        self._last_activity = now
        digest = hashlib.sha256(data).digest()
        msg = None
        try:
            msg = decode_message(data, content_type, self.limits)
            number = message_id(msg)
            if self.session_id is not None and msg.header.session_id != self.session_id:
                raise RemoteProtocolError("session_id", msg.header.session_id, status=400)
            if number == self._client_msg_id and digest == self._last_digest \
                    and self._cached is not None:
                self.state = transition(self.role, self.state, ev.DuplicateReceived)
                self._resend = True
                return [ev.DuplicateReceived(msg.header.msg_id)]
            if self.state in TERMINAL:
                raise LocalProtocolError("session_over", self.state.name)
            if number != self._client_msg_id + 1:
                raise RemoteProtocolError("msg_id_order", msg.header.msg_id, status=400)
            check_cmd_ids(msg)
            if not self.started and not any(
                    isinstance(c, Alert) and c.data in SESSION_ALERTS for c in msg.commands):
                raise RemoteProtocolError("no_session_alert", status=400)
        except RemoteProtocolError as exc:
            if self.state not in TERMINAL:
                self.state = transition(self.role, self.state, ev.ProtocolFailed)
            if msg is not None and exc.status is not None:
                exc.response = self._refusal(msg, exc.status, fmt_of(content_type, data))
            raise exc from exc.__cause__
        self._client_msg_id = number
        self._last_digest = digest
        self.session_id = msg.header.session_id
        self.device_id = msg.header.source.loc_uri
        self.fmt = fmt_of(content_type, data)
        if msg.header.meta is not None:
            if msg.header.meta.max_msg_size:
                self.client_max_msg_size = msg.header.meta.max_msg_size
            if msg.header.meta.max_obj_size:
                self.client_max_obj_size = msg.header.meta.max_obj_size
        self.state = transition(self.role, self.state, ev.MessageReceived)
        events: list[ev.Event] = [ev.MessageReceived(msg.header.msg_id, msg.final)]
        self._reply_to = msg
        self._client_statuses = []
        self._acks = []
        # 1. Credentials, before anything in the message is acted on.
        cred = None
        if msg.header.cred is not None:
            try:
                cred = auth.Credential.from_model(msg.header.cred)
            except AuthenticationError:
                cred = auth.Credential("invalid", "")
        if self._aauth_for is not None and not self.started and self.policy.failures == 0:
            self.policy = AuthPolicy(self._aauth_for(msg.header.source_name),
                                     self._secret_lookup, self.nonces,
                                     max_failures=self.policy.max_failures)
            self._aauth_for = None
        was = self.policy.accepted_type
        decision = self.policy.check(msg.header.source_name, cred, hmac, data)
        self._decision = decision
        if not decision.authenticated:
            events.append(ev.AuthenticationFailed(decision.status, decision.reason or ""))
            if decision.end_session:
                self._end_after_send = "auth_failed"
            self._reply_plan = "auth_failed"
            return events
        if was is None:
            self.username = decision.username
            events.append(ev.Authenticated(decision.username or "", decision.status))
        # 2. What the device said about our messages.
        events.extend(self._take_answers(msg))
        # 3. The device's own commands.
        asks_next = False
        for command in msg.commands:
            if isinstance(command, Status | Results):
                continue
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
            events.insert(1 + (was is None), ev.SessionStarted(
                msg.header.session_id, self.device_id, int(alert.data or 0), devinfo))
        if self._end_after_send == "peer_abort":
            self._reply_plan = "statuses"
        elif not msg.final and not asks_next:
            self._reply_plan = "next_message"
        else:
            self._reply_plan = "commands"
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

    def _take_answers(self, msg: Message) -> list[ev.Event]:
        """Match each Status / Results to the command it answers; complete the commands."""
        header_reply = None
        last: Pending | None = None
        for command in msg.commands:
            if isinstance(command, Status):
                if command.cmd_ref == "0":
                    header_reply = command
                    continue
                pending = self._pending.get((command.msg_ref, command.cmd_ref))
                if pending is None:
                    continue  # a status for something we never sent: ignored, not reported
                pending.statuses.append(command.data)
                if command.items:
                    pending.data.extend(i.data for i in command.items if isinstance(i.data, str))
                last = pending
            elif isinstance(command, Results):
                pending = self._pending.get((command.msg_ref or "", command.cmd_ref)) or last
                if pending is not None and pending.command.ELEMENT == "Get":
                    self._take_results(pending, command)
        events: list[ev.Event] = []
        if header_reply is not None:
            self._server_auth_reply(header_reply)
        requeue: list[Command] = []
        keep: list[Pending] = []
        for pending in self._top:
            if not pending.statuses or pending.busy():
                keep.append(pending)
                continue
            code = pending.statuses[0]
            if code in (401, 407) and header_reply is not None and header_reply.data in (
                    401, 407):
                requeue.append(pending.command)  # our credentials failed: send it again
            elif pending.chunk and code == STATUS_CHUNK:
                pass  # an acknowledged chunk: the object completes with its last chunk
            elif pending.chunk:
                self._large = None  # a chunk failed: the rest is not sent
                events.append(ev.CommandCompleted(pending.command, code, (), (code,)))
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
        """Attach Results to their Get; chunks are buffered, acknowledged 213, and joined."""
        item = results.items[0] if len(results.items) == 1 else None
        incoming = self._incoming
        if incoming is None and (item is None or not item.more_data):
            pending.results.append(results)
            return
        assert item is not None
        if incoming is None:
            size = item.meta.size if item.meta is not None else None
            incoming = self._incoming = Incoming(pending, results, size)
            pending.receiving = True
        incoming.parts.append(item_text(item))
        if item.more_data:
            self._acks.append((results, STATUS_CHUNK))
            return
        self._incoming = None
        pending.receiving = False
        whole = "".join(incoming.parts)
        if incoming.expected is not None and len(whole.encode("utf-8")) != incoming.expected:
            self._acks.append((results, 424))
            pending.statuses.insert(0, 424)  # the object arrived damaged: not reported as data
            return
        first_item = incoming.first.items[0]
        meta = first_item.meta
        joined = Item(source=first_item.source, target=first_item.target,
                      meta=Meta(format=meta.format, type=meta.type) if meta else None,
                      data=whole)
        pending.results.append(dataclasses.replace(incoming.first, items=[joined]))

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
            out.append(ev.SessionEnded("completed"))
        elif self.state is State.ABORTED and not self._ended_reported:
            self._ended_reported = True
            out.extend(self._drop_all())
            out.append(ev.SessionEnded(self._end_after_send or "aborted"))
        return out

    def _drop_all(self, reason: str = "session_ended") -> list[ev.Event]:
        # Sent (may have reached the device) or never sent: the application decides whether
        # a command may run again from that.
        dropped = [ev.CommandRefused(p.command, reason, sent=True) for p in self._top]
        dropped += [ev.CommandRefused(c, reason, sent=False) for c in self._queue]
        if self._large is not None:
            dropped.append(ev.CommandRefused(self._large.command, reason,
                                             sent=self._large.offset > 0))
        self._top, self._queue, self._large, self._pending = [], deque(), None, {}
        return list(dropped)

    def _next_msg_id(self) -> str:
        self._msg_id += 1
        return str(self._msg_id)

    def _header(self) -> SyncHdr:
        assert self._reply_to is not None and self.session_id is not None
        hdr = SyncHdr(self.session_id, self._next_msg_id(), Target(self.device_id),
                      Source(self.server_uri, self.server_id), resp_uri=self.resp_uri,
                      meta=Meta(max_msg_size=self.max_msg_size))
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
            for command in msg.commands:
                if not isinstance(command, Status | Results):
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
        return Outgoing(body, CONTENT_TYPES[self.fmt], msg.header.msg_id, msg.final, hmac_value)

    def _build(self) -> tuple[Outgoing, bool]:
        """(message, True if it is the Final-only package that ends the session)."""
        ids = CmdIds()
        hdr = self._header()
        body = self._statuses(ids)
        if self._end_after_send == "local_abort":
            body.append(Alert(ids(), ALERT_ABORT))
            return self._encode(Message(hdr, body, final=True)), False
        if self._reply_plan in ("auth_failed", "statuses") or self._end_after_send:
            return self._encode(Message(hdr, body, final=True)), False
        if self._reply_plan == "next_message":
            body.append(Alert(ids(), ALERT_NEXT_MESSAGE))
            return self._encode(Message(hdr, body, final=False)), False
        fixed = len(body)
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
        if isinstance(wire, Atomic | Sequence):
            wire.commands = []
            for child in command.commands:  # type: ignore[union-attr]
                child_wire, child_pending = self._number(child, ids, msg_id, pending)
                wire.commands.append(child_wire)
                pending.children.append(child_pending)
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
        mark = ids.next
        # Common case first: everything fits.
        trial = list(body)
        registered: list[tuple[Command, Pending, Command]] = []
        for command in self._queue:
            wire, pending = self._number(command, ids, hdr.msg_id, None)
            trial.append(wire)
            registered.append((command, pending, wire))
        encoded = self._encoded_if_fits(hdr, trial, True)
        if encoded is not None:
            body[:] = trial
            self._top.extend(p for _, p, _ in registered)
            self._queue.clear()
            return encoded
        # Otherwise one at a time; forget the numbering done above. A command is taken on
        # the upper bound of the message's size where that suffices, else by encoding (which
        # re-anchors the running size): the same commands as encoding every candidate.
        for _, _, wire in registered:
            self._unregister(hdr.msg_id, wire)
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

    def _unregister(self, msg_id: str, wire: Command) -> None:
        for command in walk([wire]):
            self._pending.pop((msg_id, command.cmd_id), None)

    @staticmethod
    def _chunkable(command: Command) -> bool:
        return (isinstance(command, Add | Replace) and len(command.items) == 1
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


__all__ = ["ServerSession"]
