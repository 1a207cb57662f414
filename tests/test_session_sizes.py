"""``MessageSizer``: the bounds the sessions fill messages with hold for every command shape
the sessions send, wherever the commands sit in a message and whatever CmdIDs they get.

The sessions accept a command without encoding the message when the upper bound fits, and
skip encoding a whole message when the lower bound does not; a bound that does not hold
would change which commands go into which message. These tests pin the codec property the
bounds rest on (a body is a plain sequence of the commands' elements; no WBXML string table).
"""

from __future__ import annotations

import random

import pytest

from omadm_codec.messages import decode, encode
from omadm_codec.messages.model import (
    Alert,
    Atomic,
    Command,
    Cred,
    Get,
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
from omadm_codec.security import auth
from omadm_codec.security.nonces import NonceManager
from omadm_codec.session import ClientSession, ServerSession, State
from omadm_codec.session import events as ev
from omadm_codec.session._common import MessageSizer
from omadm_codec.tools.simulator import (
    DEVICE_SECRET,
    DEVICE_USER,
    SERVER_ID,
    build_tree,
    run_in_memory,
)


def _header(with_meta: bool, with_cred: bool) -> SyncHdr:
    hdr = SyncHdr("1A2B", "7", Target("IMEI:490154203237518"),
                  Source("http://127.0.0.1/dm", "server"), resp_uri="http://x/dm?s=1")
    if with_meta:
        hdr.meta = Meta(max_msg_size=8192, max_obj_size=1 << 20)
    if with_cred:
        hdr.cred = Cred("c2VjcmV0", Meta(format="b64", type="syncml:auth-md5"))
    return hdr


def _command(rng: random.Random) -> Command:
    uri = "./Vendor/Acme/" + "x" * rng.randrange(1, 40)
    kind = rng.randrange(8)
    if kind == 0:
        return Get("0", [Item(target=Target(uri))])
    if kind == 1:
        return Replace("0", [Item(target=Target(uri), meta=Meta(format="int"), data="42")])
    if kind == 2:
        return Status("0", "3", str(rng.randrange(1, 300)), "Get", 200, target_refs=[uri])
    if kind == 3:  # ends inside Meta (code page 1) in WBXML: the next command switches back
        return Results("0", "5", [Item(source=Source(uri), meta=Meta(format="chr",
                                                                      type="text/plain"))],
                       msg_ref="2")
    if kind == 4:
        return Results("0", "5", [Item(source=Source(uri), meta=Meta(format="b64", size=9),
                                       data="QUJD" * rng.randrange(0, 50), more_data=True)])
    if kind == 5:
        return Alert("0", 1222)
    if kind == 6:
        return Atomic("0", [Replace("0", [Item(target=Target(uri), data="v")]),
                            Get("0", [Item(target=Target(uri))])])
    return Sequence("0", [Alert("0", 1100, items=[Item(data="MINDT=5"), Item(data="hi")])])


def _number(commands: list[Command]) -> None:
    number = 1
    stack = list(reversed(commands))
    while stack:
        command = stack.pop()
        command.cmd_id = str(number)
        number += 1
        if isinstance(command, Atomic | Sequence):
            stack.extend(reversed(command.commands))


@pytest.mark.parametrize("fmt", ["xml", "wbxml"])
@pytest.mark.parametrize("seed", range(40))
def test_bounds_hold_in_any_position(fmt: str, seed: int) -> None:
    rng = random.Random(seed)
    hdr = _header(with_meta=seed % 2 == 0, with_cred=seed % 3 == 0)
    sizer = MessageSizer(hdr, fmt)  # type: ignore[arg-type]
    groups = [[_command(rng) for _ in range(rng.randrange(1, 4))] for _ in range(8)]
    before = [[c.cmd_id for c in g] for g in groups]
    measured = [sizer.measure(group) for group in groups]
    assert [[c.cmd_id for c in g] for g in groups] == before  # CmdIDs restored
    first = Status("1", "7", "0", "SyncHdr", 200)
    for final in (False, True):
        for taken in range(len(groups) + 1):
            prefix: list[Command] = [first, *(c for g in groups[:taken] for c in g)]
            _number(prefix)
            base = len(encode(Message(hdr, prefix[:1], final=final), fmt))  # type: ignore[arg-type]
            real = len(encode(Message(hdr, prefix, final=final), fmt))  # type: ignore[arg-type]
            assert base + sum(map(sizer.lower, measured[:taken])) <= real
            assert real <= base + sum(map(sizer.upper, measured[:taken]))


# -- the split decisions: each message of a package is as full as it can be -----------------

def _first_group(msg: Message) -> list[Command]:
    """The first answer group of a client message after its SyncHdr Status: a Status and the
    Results that follow it."""
    rest = msg.commands[1:]
    group: list[Command] = [rest[0]]
    for command in rest[1:]:
        if not isinstance(command, Results):
            break
        group.append(command)
    return group


def _overfull(msg: Message, extra: list[Command], fmt: str) -> int:
    """The size of ``msg`` (not Final) with ``extra`` appended, numbered after its commands."""
    appended = [*msg.commands, *extra]
    _number(appended)
    return len(encode(Message(msg.header, appended, final=False), fmt))  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["xml", "wbxml"])
def test_server_and_device_fill_each_message_of_a_package(fmt: str) -> None:
    device_limit = 700 if fmt == "wbxml" else 2000
    server_limit = 1200 if fmt == "wbxml" else 2500
    for side in ("server", "device"):
        tree = build_tree(server_auth="NONE", client_auth="BASIC")
        stored = {DEVICE_USER: auth.secret_hash(DEVICE_USER, DEVICE_SECRET)}
        server = ServerSession(server_id=SERVER_ID, server_uri="http://127.0.0.1/dm",
                               secret_lookup=stored.get, nonces=NonceManager(),
                               aauth_type="BASIC",
                               max_msg_size=server_limit if side == "device" else 65536)
        uri = "./Vendor/Acme/Settings?list=Struct" if side == "device" else \
            "./Vendor/Acme/Settings/Ringtone"
        gets: list[Command] = [Get("0", [Item(target=Target(uri))]) for _ in range(30)]

        def app(session: ServerSession, events: list[ev.Event], gets: list[Command] = gets
                ) -> None:
            if any(isinstance(e, ev.SessionStarted) for e in events):
                session.send_commands(gets)

        client = ClientSession(tree, fmt=fmt,  # type: ignore[arg-type]
                               max_msg_size=device_limit if side == "server" else 65536)
        exchange = run_in_memory(client, server, app=app)
        direction, limit = ("S", device_limit) if side == "server" else ("C", server_limit)
        sent = [decode(m.body) for d, m in exchange.messages if d == direction]
        if side == "device":
            sent = sent[1:]  # package 1
        split = 0
        for msg, following in zip(sent, sent[1:], strict=False):
            if msg.final:
                break
            assert len(encode(msg, fmt)) <= limit  # type: ignore[arg-type]
            if side == "server":
                statuses = sum(1 for c in following.commands if isinstance(c, Status))
                extra = following.commands[statuses:statuses + 1]
            else:
                extra = _first_group(following)
            if not extra or isinstance(extra[0], Alert):
                continue
            split += 1
            assert _overfull(msg, extra, fmt) > limit, (side, msg.header.msg_id)
        assert split >= 2, side


@pytest.mark.parametrize("fmt", ["xml", "wbxml"])
def test_no_server_message_exceeds_the_device_limit_final_included(fmt: str) -> None:
    """Sweep the device's MaxMsgSize byte by byte across the sizes where the last queued
    command only just fits: the message that takes it is Final, and <Final/> must fit too.
    The SessionID is fixed: its length (a random 1-4 hex digits by default) is in every
    message, and the sweep is placed around the size of package 2 measured with it."""
    stored = {DEVICE_USER: auth.secret_hash(DEVICE_USER, DEVICE_SECRET)}

    def package_2(limit: int) -> list[bytes]:
        tree = build_tree(server_auth="NONE", client_auth="BASIC")
        server = ServerSession(server_id=SERVER_ID, server_uri="http://127.0.0.1/dm",
                               secret_lookup=stored.get, nonces=NonceManager(),
                               aauth_type="BASIC")
        gets: list[Command] = [Get("0", [Item(target=Target("./Vendor/Acme/Settings/Ringtone"))])
                               for _ in range(6)]

        def app(session: ServerSession, events: list[ev.Event], gets: list[Command] = gets
                ) -> None:
            if any(isinstance(e, ev.SessionStarted) for e in events):
                session.send_commands(gets)

        client = ClientSession(tree, fmt=fmt, max_msg_size=limit,  # type: ignore[arg-type]
                               session_id="4D2")
        exchange = run_in_memory(client, server, app=app)
        return [m.body for d, m in exchange.messages if d == "S"]

    full = len(package_2(65536)[0])  # package 2 with all six Gets, Final included
    over = []
    sizes = set()
    for limit in range(full - 90, full + 2):
        server_messages = package_2(limit)
        over += [(limit, len(body)) for body in server_messages if len(body) > limit]
        sizes.add(len(server_messages[0]))
    assert over == []
    assert full in sizes and min(sizes) < full  # the sweep did cross a split point


# -- a tiny MaxMsgSize: the package drains, and only Statuses ever go over it (issue #6) -----

RINGTONE = "./Vendor/Acme/Settings/Ringtone"


Run = tuple[list[Command], ClientSession, ServerSession, list[tuple[str, bytes]],
            list[ev.Event], list[ev.Event]]


def _gets(fmt: str, count: int = 2, *, server_max: int = 65536, device_max: int = 65536,
          uri: str = RINGTONE) -> Run:
    """A session in which the server Gets ``uri`` ``count`` times, run to its end (or 40
    messages)."""
    tree = build_tree(server_auth="NONE", client_auth="BASIC")
    stored = {DEVICE_USER: auth.secret_hash(DEVICE_USER, DEVICE_SECRET)}
    server = ServerSession(server_id=SERVER_ID, server_uri="http://127.0.0.1/dm",
                           secret_lookup=stored.get, nonces=NonceManager(),
                           aauth_type="BASIC", max_msg_size=server_max)
    gets: list[Command] = [Get("0", [Item(target=Target(uri))]) for _ in range(count)]

    def app(session: ServerSession, events: list[ev.Event]) -> None:
        if any(isinstance(e, ev.SessionStarted) for e in events):
            session.send_commands(gets)

    # A fixed SessionID: message sizes are compared across the sessions of a sweep.
    client = ClientSession(tree, fmt=fmt, max_msg_size=device_max,  # type: ignore[arg-type]
                           session_id="4D2")
    exchange = run_in_memory(client, server, app=app, max_messages=40)
    wire = [(direction, out.body) for direction, out in exchange.messages]
    return gets, client, server, wire, exchange.client_events, exchange.server_events


def _ended(events: list[ev.Event]) -> list[str]:
    return [e.reason for e in events if isinstance(e, ev.SessionEnded)]


@pytest.mark.parametrize("count", [2, 5])
@pytest.mark.parametrize(("fmt", "sizes"), [("xml", range(400, 1150)),
                                            ("wbxml", range(100, 420))])
def test_device_package_drains_at_any_server_max_msg_size(fmt: str, sizes: range,
                                                          count: int) -> None:
    """The server's MaxMsgSize swept byte by byte from below the smallest device message to
    past the size at which both answers fit. The rule (``ClientSession._split``): each device
    message carries at least one waiting answer, or one lone Status more than the 1222s it
    answers; it goes over the limit only when nothing meeting that floor fits, and then holds
    only Statuses; an answer whose Results no message can hold is a 413 Status instead."""
    refused_at: list[int] = []
    results_sizes: list[int] = []
    for limit in sizes:
        gets, client, server, wire, client_events, server_events = _gets(
            fmt, count, server_max=limit)
        # Package 1 and 2, then device messages (each with the server's reply) that each
        # deliver an answer, or pay back a 1222 Status owed: one is owed at most per answer.
        assert len(wire) <= 2 + 2 * (2 * count), limit
        assert client.state is State.CLOSED and server.state is State.CLOSED, limit
        assert _ended(client_events) == _ended(server_events) == ["completed"], limit
        done = [e for e in server_events if isinstance(e, ev.CommandCompleted)]
        assert [id(e.command) for e in done] == [id(g) for g in gets], limit
        for event in done:
            if event.status == 413:
                assert event.results == (), limit
            else:
                assert event.status == 200 and event.results[0].items[0].data, limit
        executed = [e.status for e in client_events if isinstance(e, ev.CommandExecuted)
                    and isinstance(e.command, Get)]
        assert executed == [e.status for e in done], limit  # the device reports what it sent
        if any(e.status == 413 for e in done):
            refused_at.append(limit)
        for direction, body in wire[2:]:  # package 1 goes before the server's limit is known
            if direction != "C":
                continue
            msg = decode(body)
            if any(isinstance(c, Results) for c in msg.commands):
                results_sizes.append(len(body))
            if len(body) > limit:
                assert all(isinstance(c, Status) for c in msg.commands), limit
                assert len(msg.commands) <= 3, limit  # its SyncHdr's and at most two more
    # 413 only below the smallest message that carried a Results anywhere in the sweep, and
    # the sweep crossed from one to the other.
    assert refused_at == list(range(sizes.start, refused_at[-1] + 1))
    assert refused_at[-1] < min(results_sizes) <= sizes.stop


@pytest.mark.parametrize(("fmt", "sizes"), [("xml", range(300, 1100)),
                                            ("wbxml", range(50, 420))])
def test_server_package_at_any_device_max_msg_size(fmt: str, sizes: range) -> None:
    """The mirror image: the device's MaxMsgSize swept below the server's smallest message.
    The server never defers a Status, so it cannot loop; a Get that fits no message beside
    the Statuses is refused (``CommandRefused('too_large')``), and only a message of
    Statuses goes over the limit. The session completes either way."""
    outcomes = set()
    for limit in sizes:
        gets, client, server, wire, client_events, server_events = _gets(
            fmt, device_max=limit)
        assert len(wire) <= 6, limit
        assert client.state is State.CLOSED and server.state is State.CLOSED, limit
        assert _ended(client_events) == _ended(server_events) == ["completed"], limit
        done = {id(e.command): e.status for e in server_events
                if isinstance(e, ev.CommandCompleted)}
        refused = {id(e.command): e.reason for e in server_events
                   if isinstance(e, ev.CommandRefused)}
        assert all(done.get(id(g)) == 200 or refused.get(id(g)) == "too_large"
                   for g in gets), limit
        outcomes.add(bool(refused))
        for direction, body in wire:
            if direction == "S" and len(body) > limit:
                assert all(isinstance(c, Status) for c in decode(body).commands), limit
    assert outcomes == {True, False}


@pytest.mark.parametrize(("fmt", "limit"), [("xml", 2500), ("wbxml", 1200)])
def test_results_no_message_can_hold_are_answered_413_within_the_limit(fmt: str,
                                                                       limit: int) -> None:
    """A ``?list=Struct`` answer is one Results of many Items: not a large object (those are
    one Item), and bigger than any message within the server's MaxMsgSize. The device answers
    413 (Request entity too large) rather than send a message over the limit; with room, the
    same Gets get their Results."""
    uri = "./Vendor/Acme?list=Struct"
    for server_max, status in ((limit, 413), (65536, 200)):
        gets, client, server, wire, client_events, server_events = _gets(
            fmt, 3, server_max=server_max, uri=uri)
        assert _ended(client_events) == _ended(server_events) == ["completed"]
        done = [e for e in server_events if isinstance(e, ev.CommandCompleted)]
        assert [(id(e.command), e.status, bool(e.results)) for e in done] == [
            (id(g), status, status == 200) for g in gets]
        assert all(len(body) <= server_max for direction, body in wire[2:] if direction == "C")


@pytest.mark.parametrize("fmt", ["xml", "wbxml"])
@pytest.mark.parametrize("limit", [1, 64, 255])
def test_device_completes_below_any_possible_message(fmt: str, limit: int) -> None:
    """A server MaxMsgSize smaller than any message: every answer is a 413 Status, each
    message the floor of the rule (Statuses only), and the session still completes."""
    gets, client, server, wire, client_events, server_events = _gets(fmt, 5, server_max=limit)
    assert len(wire) <= 2 + 2 * (2 * 5)
    assert _ended(client_events) == _ended(server_events) == ["completed"]
    assert [e.status for e in server_events if isinstance(e, ev.CommandCompleted)] == [413] * 5
    for direction, body in wire[2:]:
        if direction == "C":
            commands = decode(body).commands
            assert all(isinstance(c, Status) for c in commands) and len(commands) <= 3
