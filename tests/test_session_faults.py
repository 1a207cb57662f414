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
from test_session import make_server, make_tree  # noqa: I001

from omadm_codec.errors import LocalProtocolError, RemoteProtocolError
from omadm_codec.model import Atomic, Command, Exec, Item, Meta, Replace, Target
from omadm_codec.session import ClientSession, CommandCompleted, Outgoing, ServerSession, State
from omadm_codec.session import events as ev
from omadm_codec.tree import DMTree

FAULTS = ["none", "none", "none", "drop_c", "drop_s", "dup_c", "reorder", "abort",
          "corrupt_s"]


@dataclass
class Op:
    kind: str  # "replace", "bad_replace", "atomic", "bad_atomic", "exec"
    leaves: tuple[str, ...]
    command: Command


def _ops(kinds: list[str], tree: DMTree) -> list[Op]:
    ops: list[Op] = []
    for index, kind in enumerate(kinds):
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
