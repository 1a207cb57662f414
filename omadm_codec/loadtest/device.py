"""One simulated device: its identity and tree (from ``tools.simulator``), a ``ClientSession``
per session, the fault it was given, and the checks on every answer.

The one idea: ``SimulatedDevice.run_session(transport)`` is the whole device loop, the same
under Locust's gevent client and under a plain blocking one: ``data_to_send`` -> POST ->
``conformance.check_answer`` -> ``receive``, with the fault applied on the way, and a
``SessionResult`` holding everything the statistics need. It never raises for anything the
server does; a caller's bug (``LocalProtocolError``) does propagate. An honest device runs
its sessions on the lean path (``lean``) until a server message needs a ``ClientSession``,
which then takes over at that point.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import RemoteProtocolError
from ..http.wire import ACCEPT, HMAC_HEADER, USER_AGENT
from ..messages.model import Alert, Item, Message, Meta, Source, Status
from ..session import ClientSession, Outgoing, State, UiAlert, UiResponse
from ..session import events as ev
from ..tools.simulator import build_tree
from ..tree import DMTree
from .conformance import AnswerMemo, SentMessage, Violation, check_answer, describe_sent
from .fleet import AUTH_TYPES, DeviceSpec
from .lean import MAX_MESSAGES, MAX_RETRIES, Handoff, LeanProfile, LeanSession
from .mix import FleetMix
from .transport import Reply, Transport, TransportError

GENERIC_ALERT = 1226
GENERIC_ALERT_TYPE = "org.openmobilealliance.dm.firmwareupdate.devicerequest"
LARGE_OBJECT_URI = "./Vendor/Acme/Logs/Dump"
LARGE_OBJECT_TYPE = "org.omadm-codec.loadtest.largeobject"
"""The 1226 Type a large-object device announces its dump with (Source: ``LARGE_OBJECT_URI``);
a server that Gets the URI receives it in chunks."""


@dataclass(slots=True)
class Exchange:
    """One request and its answer."""

    package: str
    latency: float
    http_status: int | None
    sent: int
    received: int


@dataclass(slots=True)
class SessionResult:
    """Everything one session produced."""

    device: int
    fmt: str
    auth: str
    started: float
    """Wall-clock start (epoch seconds)."""
    duration: float = 0.0
    outcome: str = "unfinished"
    """``completed``, ``auth_failed``, ``peer_abort``, ``abandoned``, ``corrupt_rejected``,
    ``violation`` (cut by a protocol violation), ``error`` (transport) or another
    ``SessionEnded`` reason."""
    exchanges: list[Exchange] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    error: TransportError | None = None
    device_statuses: dict[tuple[str, int], int] = field(default_factory=dict)
    """(element, code) the device answered the server's commands with."""
    server_statuses: dict[tuple[str, int], int] = field(default_factory=dict)
    """(element, code) the server answered the device's commands with."""
    fault: str | None = None
    fault_injected: bool = False
    fault_handled: bool | None = None
    """Whether the server handled the injected fault as the protocol asks (None: nothing to
    judge, e.g. an abandoned session)."""
    large_object_sent: bool = False
    """A Results chunked with MoreData went out in this session."""


class _RecordingClient(ClientSession):
    """A ``ClientSession`` that keeps, for each message it encodes, the record its answer is
    checked against (no second decode of our own bytes)."""

    def __init__(self, tree: DMTree, **kwargs: Any) -> None:
        self.records: list[tuple[Outgoing, SentMessage, bool]] = []
        self.last_record: tuple[Outgoing, SentMessage, bool] | None = None
        """The record of the message last sent (a retransmission sends it again)."""
        super().__init__(tree, **kwargs)

    def _encode(self, msg: Message) -> Outgoing:
        out = super()._encode(msg)
        self.records.append((out, describe_sent(msg), _chunked(msg)))
        return out


def _chunked(msg: Message) -> bool:
    return any(item.more_data for command in msg.commands
               for item in getattr(command, "items", ()) or ())


def _accept_ui(alert: UiAlert) -> UiResponse:
    return UiResponse(200)


def corrupt(body: bytes) -> bytes:
    """The message cut in half and its last byte flipped: no DM decoder can accept it."""
    half = body[: max(1, len(body) // 2)]
    return half[:-1] + bytes([half[-1] ^ 0xFF])


class SimulatedDevice:
    """A device of the fleet: ``spec`` says who it is; its tree persists across sessions (so
    md5 and HMAC nonces carry over, as on a real device)."""

    def __init__(self, spec: DeviceSpec, url: str, mix: FleetMix, *, lean: bool = True) -> None:
        self.spec = spec
        self.url = url
        self.mix = mix
        self._tree: DMTree | None = None
        self.sessions = 0
        self.lean = lean and spec.fault is None and not spec.generic_alert \
            and not spec.large_object and mix.server_auth == "none"
        """Whether sessions run on the lean path (``lean``): an honest device with nothing
        queued and no server credentials to check; the others always use a ClientSession."""
        self._profile: LeanProfile | None = None
        self._memo = AnswerMemo()
        """The lean path's answers already judged (``conformance.AnswerMemo``)."""
        self._headers = {"accept": ACCEPT, "accept-charset": "UTF-8", "user-agent": USER_AGENT,
                         "cache-control": "no-store"}
        self.handoffs: dict[str, int] = {}
        """Why lean sessions were handed over to a ClientSession, with how often."""

    @property
    def tree(self) -> DMTree:
        """The device's tree, built on first use (from ``tools.simulator``)."""
        if self._tree is None:
            spec, mix = self.spec, self.mix
            tree = build_tree(
                dev_id=spec.dev_id, server_id=mix.server_id, server_addr=self.url,
                client_name=spec.user, client_secret=spec.presented_password,
                server_secret=mix.server_password, client_auth=AUTH_TYPES[spec.auth],
                server_auth=AUTH_TYPES[mix.server_auth])
            if spec.large_object:
                line = "0123456789 loadtest log line of a simulated device\n"
                dump = (line * (mix.large_object_size // len(line) + 1))[:mix.large_object_size]
                tree.device_add(LARGE_OBJECT_URI, dump, format="chr")
            self._tree = tree
        return self._tree

    def _alerts(self, client: ClientSession) -> None:
        if self.spec.generic_alert:
            client.queue_alert(GENERIC_ALERT, [Item(
                source=Source("./Vendor/Acme/Firmware/Package"),
                meta=Meta(format="chr", type=GENERIC_ALERT_TYPE, mark="informational"),
                data="firmware update requested by the user")])
        if self.spec.large_object:
            client.queue_alert(GENERIC_ALERT, [Item(
                source=Source(LARGE_OBJECT_URI),
                meta=Meta(format="chr", type=LARGE_OBJECT_TYPE),
                data=str(self.mix.large_object_size))])

    def headers(self, out: Outgoing) -> dict[str, str]:
        """The HTTP headers a message goes with (DM binding, HMAC if any)."""
        headers = {"content-type": out.content_type, **self._headers}
        if out.hmac:
            headers[HMAC_HEADER] = out.hmac
        return headers

    def run_session(self, transport: Transport, *,
                    clock: Callable[[], float] = time.monotonic,
                    session_id: str | None = None) -> SessionResult:
        """Run one whole session over ``transport``; never raises for what the server does.
        ``session_id``: the SessionID to use (default: a random one)."""
        spec = self.spec
        result = SessionResult(spec.index, spec.fmt, spec.auth, time.time(), fault=spec.fault)
        began = clock()
        self.sessions += 1
        try:
            if self.lean:
                if self._profile is None:
                    self._profile = LeanProfile.of(self.tree, self.mix.server_id)
                if self._profile is not None:
                    self._run_lean(self._profile, transport, result, clock, session_id)
                    return result
            client = _RecordingClient(self.tree, server_id=self.mix.server_id, fmt=spec.fmt,
                                      max_msg_size=spec.max_msg_size, ui=_accept_ui,
                                      response_timeout=self.mix.request_timeout,
                                      session_id=session_id)
            self._alerts(client)
            client.start(now=clock())
            self._loop(client, transport, result, clock)
        finally:
            result.duration = clock() - began
        return result

    def _run_lean(self, profile: LeanProfile, transport: Transport, result: SessionResult,
                  clock: Callable[[], float], session_id: str | None) -> None:
        """A session on the lean path (``lean``); handed over to a ClientSession at the first
        message the lean path does not answer itself."""
        spec = self.spec
        session = LeanSession(self.tree, profile, fmt=spec.fmt, max_msg_size=spec.max_msg_size,
                              session_id=session_id)
        violations = result.violations
        exchanges = result.exchanges
        memo = self._memo

        def post(out: Outgoing, sent: SentMessage) -> tuple[Reply, Message] | None:
            body = out.body
            headers = self.headers(out)
            url = session.resp_uri or self.url
            tries = 0
            while True:
                try:
                    reply = transport.post(url, body, headers, sent.package)
                    break
                except TransportError as exc:
                    exchanges.append(Exchange(sent.package, 0.0, None, len(body), 0))
                    if exc.kind == "timeout" and tries < MAX_RETRIES:
                        tries += 1  # the device's timer fired: the same message again
                        continue
                    result.error, result.outcome = exc, "error"
                    return None
            exchanges.append(Exchange(sent.package, reply.elapsed, reply.status, len(body),
                                      len(reply.body)))
            msg = check_answer(sent, reply.status, reply.content_type, reply.body,
                               spec.max_msg_size, violations, memo=memo)
            if msg is None:
                result.outcome = "violation"
                return None
            self._count_server_statuses(msg, sent, result)
            return reply, msg

        ended = session.run(post)
        for key, count in ended.device_statuses.items():
            result.device_statuses[key] = result.device_statuses.get(key, 0) + count
        if ended.handoff is not None:
            handoff = ended.handoff
            self.handoffs[handoff.reason] = self.handoffs.get(handoff.reason, 0) + 1
            client = self._take_over(handoff, clock)
            self._loop(client, transport, result, clock, (handoff.reply, handoff.msg))
        elif ended.outcome == "no_end":
            violations.append(Violation("no_end", f"no end after {MAX_MESSAGES} messages"))
            result.outcome = "violation"
        elif ended.outcome is not None:
            result.outcome = ended.outcome

    def _take_over(self, handoff: Handoff, clock: Callable[[], float]) -> _RecordingClient:
        """A ClientSession at the point a lean session stopped: waiting for the answer to
        the device's last message, with the lean session's identity, counters and
        credentials state. (It sets the client's own fields: the test that forces each
        kind of handoff proves the result is a session that goes on as if it had run all
        along.)"""
        spec = self.spec
        client = _RecordingClient(self.tree, server_id=self.mix.server_id, fmt=spec.fmt,
                                  max_msg_size=spec.max_msg_size, ui=_accept_ui,
                                  response_timeout=self.mix.request_timeout,
                                  session_id=handoff.session_id)
        client.state = State.WAIT
        client._msg_id = handoff.msg_id
        client._server_msg_id = handoff.server_msg_id
        client.resp_uri = handoff.resp_uri
        client._authenticated = handoff.authenticated
        client._cred_sent_in = handoff.cred_sent_in
        client._auth_attempts = handoff.auth_attempts
        client.server_max_msg_size = handoff.server_max_msg_size
        client._last_sent = handoff.last_sent
        client._sent_at = clock()
        client.last_record = (handoff.last_sent, handoff.sent, False)
        return client

    def _loop(self, client: _RecordingClient, transport: Transport, result: SessionResult,
              clock: Callable[[], float], answer: tuple[Reply, Message] | None = None) -> None:
        """The ClientSession's loop; ``answer``: a server message already received and
        checked (a lean session's handoff), taken first."""
        spec = self.spec
        fault = spec.fault
        dropped: Reply | None = None  # the answer a ``retransmit`` device pretends it lost
        dropped_msg_id: str | None = None
        authenticated = False
        for _ in range(MAX_MESSAGES):
            if answer is not None:
                reply, _ = answer
                answer = None
            else:
                out = client.data_to_send(now=clock())
                if out is None:
                    return
                sent, chunked = self._record_of(client, out)
                body = out.body
                injecting = (fault == "corrupt" and not result.fault_injected
                             and sent.package == "pkg3")
                if fault == "abandon" and sent.package == "pkg3":
                    result.fault_injected = True
                    result.outcome = "abandoned"
                    return
                if injecting:
                    body = corrupt(body)
                    result.fault_injected = True
                else:
                    result.large_object_sent |= chunked
                try:
                    reply = transport.post(client.resp_uri or self.url, body, self.headers(out),
                                           sent.package)
                except TransportError as exc:
                    result.exchanges.append(Exchange(sent.package, 0.0, None, len(body), 0))
                    if exc.kind == "timeout" and not injecting:
                        deadline = client.next_timer()
                        events = client.handle_timer(now=deadline if deadline else clock())
                        if any(isinstance(e, ev.SessionEnded) for e in events):
                            result.error, result.outcome = exc, "error"
                            return
                        continue
                    result.error, result.outcome = exc, "error"
                    if injecting:
                        # A dropped connection is a crash.
                        result.fault_handled = exc.kind != "reset"
                    return
                result.exchanges.append(Exchange(sent.package, reply.elapsed, reply.status,
                                                 len(body), len(reply.body)))
                if injecting:
                    self._judge_corrupt(reply, result)
                    return
                msg = check_answer(sent, reply.status, reply.content_type, reply.body,
                                   spec.max_msg_size, result.violations)
                if msg is None:
                    result.outcome = "violation"
                    return
                self._count_server_statuses(msg, sent, result)
                if fault == "retransmit" and not result.fault_injected and sent.package == "pkg3":
                    # The answer is lost: the device's timer fires and it re-sends the same MsgID.
                    result.fault_injected = True
                    dropped, dropped_msg_id = reply, msg.header.msg_id
                    deadline = client.next_timer()
                    client.handle_timer(now=deadline if deadline is not None else clock())
                    continue
                if dropped is not None:
                    replayed = reply.body == dropped.body or msg.header.msg_id == dropped_msg_id
                    result.fault_handled = replayed
                    if not replayed:
                        result.violations.append(Violation(
                            "retransmit_reprocessed", f"MsgID {sent.msg_id} re-sent: answered as "
                            f"MsgID {msg.header.msg_id}, the lost answer was {dropped_msg_id}"))
                    dropped = None
            try:
                events = client.receive(reply.body, now=clock(),
                                        content_type=reply.content_type, hmac=reply.hmac)
            except RemoteProtocolError as exc:
                result.violations.append(Violation(
                    "protocol", f"{exc.reason}: {exc.detail}"[:200] if exc.detail
                    else exc.reason))
                result.outcome = "violation"
                return
            for event in events:
                if isinstance(event, ev.CommandExecuted):
                    key = (event.command.ELEMENT, event.status)
                    result.device_statuses[key] = result.device_statuses.get(key, 0) + 1
                elif isinstance(event, ev.Authenticated) and event.username == spec.user:
                    authenticated = True  # the server accepted our credentials
                elif isinstance(event, ev.SessionEnded):
                    result.outcome = event.reason
            if client.state.name in ("CLOSED", "ABORTED", "ERROR"):
                break
        else:
            result.violations.append(Violation(
                "no_end", f"no end after {MAX_MESSAGES} messages"))
            result.outcome = "violation"
        if fault == "wrong_password":
            result.fault_injected = True
            result.fault_handled = not authenticated
            if authenticated:
                result.violations.append(Violation(
                    "wrong_password_accepted", f"user {spec.user} authenticated with a wrong "
                    f"password ({spec.auth})"))

    @staticmethod
    def _record_of(client: _RecordingClient, out: Outgoing) -> tuple[SentMessage, bool]:
        records = client.records
        for item in reversed(records):
            if item[0] is out:
                records.clear()
                client.last_record = item
                return item[1], item[2]
        last = client.last_record
        if last is not None and last[0] is out:
            return last[1], last[2]
        raise AssertionError("a message left that was never encoded")  # pragma: no cover

    @staticmethod
    def _count_server_statuses(msg: Message, sent: SentMessage,
                               result: SessionResult) -> None:
        elements = dict(sent.commands)
        counts = result.server_statuses
        for command in msg.commands:
            if isinstance(command, Status):
                element = elements.get(command.cmd_ref, command.cmd)
                key = (element, command.data)
                counts[key] = counts.get(key, 0) + 1

    def _judge_corrupt(self, reply: Reply, result: SessionResult) -> None:
        """A corrupt message must be refused: a 4xx, or a DM answer that aborts or refuses
        (SyncHdr status >= 400); never a 5xx, never a normal continuation."""
        result.outcome = "corrupt_rejected"
        if 400 <= reply.status < 500:
            result.fault_handled = True
            return
        if reply.status != 200:
            result.fault_handled = False
            result.violations.append(Violation("http_status", f"HTTP {reply.status} to a "
                                                              "corrupt message"))
            return
        from ..errors import DecodeError
        from ..messages import decode

        try:
            msg = decode(reply.body, reply.content_type)
        except DecodeError:
            result.fault_handled = False
            result.violations.append(Violation("undecodable", "undecodable answer to a "
                                                              "corrupt message"))
            return
        refused = any(isinstance(c, Alert) and c.data == 1223 for c in msg.commands) or any(
            isinstance(c, Status) and c.cmd_ref == "0" and c.data >= 400 for c in msg.commands)
        result.fault_handled = refused
        if not refused:
            result.outcome = "violation"
            result.violations.append(Violation("corrupt_accepted", f"a corrupt message got "
                                               f"MsgID {msg.header.msg_id} as a normal answer"))


__all__ = ["GENERIC_ALERT_TYPE", "LARGE_OBJECT_TYPE", "LARGE_OBJECT_URI", "MAX_MESSAGES",
           "Exchange", "SessionResult", "SimulatedDevice", "corrupt"]
