"""Hypothesis fault test: random command mixes and random faults on the wire (dropped,
duplicated, reordered or corrupted messages, aborts, wrong credentials) never leave the tree
half-changed and never report an outcome that did not happen.

Every command touches its own leaves, so each reported outcome can be checked against the
device's tree on its own: a reported success must be visible, a reported failure must have
changed nothing, an Atomic is all-or-nothing whatever happened to the session, and an Exec
runs at most once however often its message is retransmitted.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from test_session import make_server, make_tree  # noqa: I001

from omadm_codec.errors import LocalProtocolError, RemoteProtocolError
from omadm_codec.messages.model import Atomic, Command, Exec, Item, Meta, Replace, Target
from omadm_codec.session import (
    TERMINAL,
    ClientSession,
    CommandCompleted,
    Outgoing,
    ServerSession,
    State,
)
from omadm_codec.session import events as ev
from omadm_codec.tree import DMTree

KINDS = ["replace", "bad_replace", "atomic", "bad_atomic", "exec"]
FAULTS = ["none", "none", "none", "drop_c", "drop_s", "dup_c", "reorder", "abort",
          "corrupt_s"]


@dataclass
class Op:
    kind: str  # "replace", "bad_replace", "atomic", "bad_atomic", "exec"
    leaves: tuple[str, ...]
    command: Command


def _ops(kinds: list[str], tree: DMTree, start: int = 0) -> list[Op]:
    ops: list[Op] = []
    for index, kind in enumerate(kinds, start):
        a, b = f"./Vendor/F/L{index}a", f"./Vendor/F/L{index}b"
        for leaf in (a, b):
            tree.device_add(leaf, "0", format="int")
        if kind == "exec":
            counter = f"./Vendor/F/L{index}a"

            def bump(tree: DMTree, uri: str, *_: object, counter: str = counter) -> int:
                value = tree.device_get(counter)
                tree.device_replace(counter, str(int(str(value)) + 1))
                return 200

            tree.register_exec(counter, bump)
            ops.append(Op(kind, (counter,), Exec("0", [Item(target=Target(counter))])))
            continue
        good = Replace("0", [Item(target=Target(a), meta=Meta(format="int"), data="7")])
        bad = Replace("0", [Item(target=Target(b), meta=Meta(format="int"), data="x")])
        second = Replace("0", [Item(target=Target(b), meta=Meta(format="int"), data="7")])
        if kind == "replace":
            ops.append(Op(kind, (a,), good))
        elif kind == "bad_replace":
            ops.append(Op(kind, (b,), bad))
        elif kind == "atomic":
            ops.append(Op(kind, (a, b), Atomic("0", [good, second])))
        else:
            ops.append(Op(kind, (a, b), Atomic("0", [good, bad])))
    return ops


def _drive(client: ClientSession, server: ServerSession, ops: list[Op],
           faults: list[str]) -> list[ev.Event]:
    server_events: list[ev.Event] = []
    client.start(now=0)
    now = 0.0
    queued = False

    def app(events: list[ev.Event]) -> None:
        nonlocal queued
        server_events.extend(events)
        if not queued and any(isinstance(e, ev.SessionStarted) for e in events):
            queued = True
            server.send_commands([op.command for op in ops])

    def exchange(out: Outgoing) -> Outgoing:
        app(server.receive(out.body, now=now, content_type=out.content_type, hmac=out.hmac))
        reply = server.data_to_send()
        app(server.take_events())
        return reply

    try:
        for step in range(60):
            now += 1
            fault = faults[step % len(faults)]
            if fault == "abort" and client.state is State.SEND:
                out = client.abort(now=now)
                if out is not None:
                    exchange(out)
                break
            out = client.data_to_send(now=now)
            if out is None:
                break
            if fault == "drop_c":
                client.handle_timer(now=now + client.response_timeout)
                continue
            if fault == "reorder":
                body = out.body.replace(b"<MsgID>", b"<MsgID>9", 1)
                out = Outgoing(body, out.content_type, out.msg_id, out.final, None)
            reply = exchange(out)
            if fault == "dup_c":
                duplicate = exchange(out)
                assert duplicate.body == reply.body
            if fault == "drop_s":
                client.handle_timer(now=now + client.response_timeout)
                continue
            if fault == "corrupt_s":
                reply = Outgoing(reply.body[: len(reply.body) // 2], reply.content_type,
                                 reply.msg_id, reply.final, reply.hmac)
            client.receive(reply.body, now=now, content_type=reply.content_type,
                           hmac=reply.hmac)
    except (RemoteProtocolError, LocalProtocolError):
        pass  # the session died; the invariants below must hold anyway
    return server_events


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kinds=st.lists(st.sampled_from(["replace", "bad_replace", "atomic", "bad_atomic",
                                       "exec"]), min_size=1, max_size=8),
       faults=st.lists(st.sampled_from(FAULTS), min_size=1, max_size=6),
       fmt=st.sampled_from(["xml", "wbxml"]), wrong_password=st.booleans(),
       max_msg_size=st.sampled_from([1500, 65536]))
def test_faults_never_half_change_or_misreport(kinds: list[str], faults: list[str], fmt: str,
                                               wrong_password: bool,
                                               max_msg_size: int) -> None:
    tree = make_tree(client_secret="wrong" if wrong_password else "device-secret-0001")
    tree.device_add("./Vendor/F", format="node")
    ops = _ops(kinds, tree)
    client = ClientSession(tree, fmt=fmt, max_msg_size=max_msg_size,  # type: ignore[arg-type]
                           max_retries=3)
    server = make_server()
    events = _drive(client, server, ops, faults)
    reported = {id(e.command): e for e in events if isinstance(e, CommandCompleted)}
    if wrong_password:
        assert not reported
    for op in ops:
        values = [tree.device_get(leaf) for leaf in op.leaves]
        outcome: CommandCompleted | None = reported.get(id(op.command))
        if op.kind == "exec":
            assert values[0] in ("0", "1")  # at most once, whatever was retransmitted
            if outcome is not None:
                assert outcome.status == 200 and values[0] == "1"
            continue
        if op.kind in ("atomic", "bad_atomic"):
            assert values in (["0", "0"], ["7", "7"])  # never half-changed
        if outcome is None:
            continue
        if op.kind == "replace":
            assert outcome.status == 200 and values == ["7"]
        elif op.kind == "bad_replace":
            assert outcome.status == 415 and values == ["0"]
        elif op.kind == "atomic":
            assert outcome.status == 200 and values == ["7", "7"]
        else:
            assert outcome.status == 507 and values == ["0", "0"]
            assert [c.status for c in outcome.children] == [216, 415]


class SessionMachine(RuleBasedStateMachine):
    """The same invariants, with hypothesis choosing every step: queue a command, send,
    deliver, drop, duplicate or reorder a message, abort from either side, fire a timer."""

    def __init__(self) -> None:
        super().__init__()
        self.tree = make_tree()
        self.tree.device_add("./Vendor/F", format="node")
        self.ops: list[Op] = []
        self.reported: dict[int, CommandCompleted] = {}
        self.now = 0.0
        self.to_server: Outgoing | None = None
        self.to_client: Outgoing | None = None
        self.last_to_server: Outgoing | None = None
        self.client: ClientSession | None = None
        self.server = make_server()

    @initialize(fmt=st.sampled_from(["xml", "wbxml"]), small=st.booleans(),
                kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=6))
    def start(self, fmt: str, small: bool, kinds: list[str]) -> None:
        self.client = ClientSession(self.tree, fmt=fmt,  # type: ignore[arg-type]
                                    max_msg_size=1500 if small else 65536, max_retries=3)
        self.client.start(now=0)
        self.ops = _ops(kinds, self.tree)
        self.server.send_commands([op.command for op in self.ops])

    def _events(self, events: list[ev.Event]) -> None:
        for event in events:
            if isinstance(event, CommandCompleted):
                self.reported[id(event.command)] = event

    @rule(kind=st.sampled_from(KINDS))
    def queue(self, kind: str) -> None:
        if self.server.state in TERMINAL or self.server.state is State.SEND or len(
                self.ops) >= 12:
            return
        op = _ops([kind], self.tree, len(self.ops))[0]
        self.ops.append(op)
        self.server.send_commands([op.command])

    @rule(rounds=st.integers(1, 4))
    def clean_round_trips(self, rounds: int) -> None:
        """Progress: whole exchanges with nothing going wrong."""
        for _ in range(rounds):
            self.client_sends()
            self.deliver_to_server(False)
            self.deliver_to_client()

    @rule()
    def client_sends(self) -> None:
        assert self.client is not None
        if self.to_server is None:
            out = self.client.data_to_send(now=self.now)
            if out is not None:
                self.to_server = self.last_to_server = out

    @rule(abort=st.booleans())
    def deliver_to_server(self, abort: bool) -> None:
        out, self.to_server = self.to_server, None
        if out is None:
            return
        self._server_round(out, abort)

    def _server_round(self, out: Outgoing, abort: bool = False) -> None:
        try:
            self._events(self.server.receive(out.body, now=self.now,
                                             content_type=out.content_type, hmac=out.hmac))
            if abort and self.server.state is State.SEND:
                self.server.abort()
            self.to_client = self.server.data_to_send()
            self._events(self.server.take_events())
        except (RemoteProtocolError, LocalProtocolError):
            self.to_client = None

    @rule()
    def duplicate_to_server(self) -> None:
        if self.last_to_server is not None and self.to_client is not None:
            before = self.to_client.body
            self._server_round(self.last_to_server)
            if self.server.state is not State.ERROR and self.to_client is not None:
                assert self.to_client.body == before  # answered from the cache

    @rule()
    def reorder_to_server(self) -> None:
        if self.to_server is not None:
            out = self.to_server
            body = out.body.replace(b"<MsgID>", b"<MsgID>9", 1)
            self.to_server = Outgoing(body, out.content_type, out.msg_id, out.final, None)

    @rule()
    def deliver_to_client(self) -> None:
        assert self.client is not None
        back, self.to_client = self.to_client, None
        if back is None or self.client.state is not State.WAIT:
            return
        try:
            self.client.receive(back.body, now=self.now, content_type=back.content_type,
                                hmac=back.hmac)
        except (RemoteProtocolError, LocalProtocolError):
            pass

    @rule(which=st.sampled_from(["to_server", "to_client"]))
    def drop(self, which: str) -> None:
        setattr(self, which, None)

    @rule()
    def timer(self) -> None:
        assert self.client is not None
        self.now += self.client.response_timeout + 1
        if self.to_server is None and self.to_client is None:
            self.client.handle_timer(now=self.now)

    @rule()
    def client_aborts(self) -> None:
        assert self.client is not None
        if self.client.state is State.SEND and self.server.started:
            self.to_server = self.client.abort(now=self.now)

    @invariant()
    def never_half_changed_never_misreported(self) -> None:
        for op in self.ops:
            values = [self.tree.device_get(leaf) for leaf in op.leaves]
            outcome = self.reported.get(id(op.command))
            if op.kind == "exec":
                assert values[0] in ("0", "1")
                assert outcome is None or (outcome.status == 200 and values[0] == "1")
                continue
            if op.kind in ("atomic", "bad_atomic"):
                assert values in (["0", "0"], ["7", "7"])
            if outcome is None:
                continue
            expected = {"replace": (200, ["7"]), "bad_replace": (415, ["0"]),
                        "atomic": (200, ["7", "7"]), "bad_atomic": (507, ["0", "0"])}[op.kind]
            assert (outcome.status, values) == expected


SessionMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=40,
                                            deadline=None)
TestSessionMachine = SessionMachine.TestCase
