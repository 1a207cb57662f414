"""The session transition table, driven by event types alone (no bytes)."""

from __future__ import annotations

import itertools

import pytest

from omadm_codec.errors import LocalProtocolError
from omadm_codec.session import TERMINAL, TRANSITIONS, Role, State, transition
from omadm_codec.session import events as ev

MOVES = (ev.Started, ev.MessageSent, ev.FinalSent, ev.MessageReceived, ev.DuplicateReceived,
         ev.PeerFinished, ev.TimedOut, ev.Aborted, ev.ProtocolFailed)


def run(role: Role, moves: list[type]) -> State:
    state = State.IDLE
    for move in moves:
        state = transition(role, state, move)
    return state


def test_client_normal_flow() -> None:
    moves = [ev.Started, ev.MessageSent, ev.MessageReceived, ev.MessageSent, ev.MessageReceived,
             ev.PeerFinished]
    assert run(Role.CLIENT, moves) is State.CLOSED


def test_client_resends_after_timeout_then_aborts() -> None:
    assert run(Role.CLIENT, [ev.Started, ev.MessageSent, ev.TimedOut]) is State.SEND
    assert run(Role.CLIENT, [ev.Started, ev.MessageSent, ev.Aborted]) is State.ABORTED
    assert run(Role.CLIENT, [ev.Started, ev.MessageSent, ev.ProtocolFailed]) is State.ERROR


def test_server_normal_flow_and_duplicates() -> None:
    moves = [ev.MessageReceived, ev.MessageSent, ev.MessageReceived, ev.FinalSent]
    assert run(Role.SERVER, moves) is State.CLOSED
    assert run(Role.SERVER, [*moves, ev.DuplicateReceived]) is State.CLOSED
    assert run(Role.SERVER, [ev.MessageReceived, ev.MessageSent, ev.DuplicateReceived]) \
        is State.SEND
    assert run(Role.SERVER, [ev.MessageReceived, ev.MessageSent, ev.TimedOut]) is State.ABORTED


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_every_pair_is_either_in_the_table_or_refused(role: Role) -> None:
    for state, move in itertools.product(State, MOVES):
        key = (role, state, move)
        if key in TRANSITIONS:
            assert transition(role, state, move) is TRANSITIONS[key]
        else:
            with pytest.raises(LocalProtocolError) as info:
                transition(role, state, move)
            assert info.value.reason == "illegal_transition"


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_terminal_states_are_never_left(role: Role) -> None:
    for (r, state, _move), target in TRANSITIONS.items():
        if r is role and state in TERMINAL:
            assert target is state  # only a duplicate, answered from the cache


def test_client_cannot_receive_before_sending() -> None:
    with pytest.raises(LocalProtocolError):
        run(Role.CLIENT, [ev.Started, ev.MessageReceived])
    with pytest.raises(LocalProtocolError):
        run(Role.SERVER, [ev.MessageSent])



def test_fast_constructors_make_what_the_public_ones_make() -> None:
    """The session's own constructors (``events._builder``: no ``__init__``) make exactly what
    the public constructors make: same class, fields, equality, repr, and still frozen."""
    import dataclasses

    from omadm_codec.messages.model import Get, Item, Results, Source, Target
    from omadm_codec.session._common import Outgoing, _outgoing

    get = Get("7", [Item(target=Target("./a"))])
    results = (Results("3", "7", [Item(source=Source("./a"), data="x")], msg_ref="1"),)
    cases = [
        (ev._completed, ev.CommandCompleted, (get, 200, results, (200, 404), (), ("typed",),
                                              "ok")),
        (ev._message_received, ev.MessageReceived, ("3", True)),
        (ev._authenticated, ev.Authenticated, ("dev1", 212)),
        (ev._session_started, ev.SessionStarted, ("1A", "IMEI:1", 1201, (("./DevInfo/Lang",
                                                                          "en"),))),
        (ev._session_ended, ev.SessionEnded, ("completed",)),
        (_outgoing, Outgoing, (b"\x02\x00", "application/vnd.syncml.dm+wbxml", "2", False,
                               None)),
    ]
    for fast_new, cls, fields in cases:
        fast, slow = fast_new(*fields), cls(*fields)
        assert type(fast) is cls
        assert fast == slow and repr(fast) == repr(slow)
        assert dataclasses.astuple(fast) == dataclasses.astuple(slow)
        name = dataclasses.fields(cls)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(fast, name, None)
    assert ev._completed(*cases[0][2]).ok


def test_fast_constructor_refuses_another_layout() -> None:
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Unslotted:
        x: int

    with pytest.raises(TypeError):
        ev._builder(Unslotted)
