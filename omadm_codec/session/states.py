"""Every state a DM session can be in, and every legal move between them, in one table.

The one idea: a session never assigns its ``state`` directly; it calls ``transition(role,
state, move)`` with the *type* of the protocol event that happened (``MessageSent``,
``MessageReceived``, ...) and gets the next state or ``LocalProtocolError``. The table can
therefore be tested with event types alone, without bytes.
"""

from __future__ import annotations

import enum

from ..errors import LocalProtocolError
from .events import (
    Aborted,
    DuplicateReceived,
    FinalSent,
    MessageReceived,
    MessageSent,
    PeerFinished,
    ProtocolFailed,
    Started,
    TimedOut,
)


class Role(enum.Enum):
    """Which side of a session a state machine runs: the DM client (the device) or the server."""

    CLIENT = "client"
    SERVER = "server"

    # Members are singletons compared by identity: hash them the same way (Enum's default
    # hashes the name in Python, on every table lookup and ``in TERMINAL``).
    __hash__ = object.__hash__


class State(enum.Enum):
    """Where a session stands. ``CLOSED``, ``ABORTED`` and ``ERROR`` are terminal."""

    IDLE = "idle"
    """Client: nothing sent yet. Server: waiting for the client's first message."""
    SEND = "send"
    """Our turn: a message is ready (``data_to_send()``)."""
    WAIT = "wait"
    """Waiting for the peer's next message."""
    CLOSED = "closed"
    """Ended normally (the server's Final-only package)."""
    ABORTED = "aborted"
    """Ended by 1223, an authentication failure, too many failures or a timeout."""
    ERROR = "error"
    """Ended because the peer broke the protocol (``RemoteProtocolError``)."""

    __hash__ = object.__hash__  # as for ``Role``


TERMINAL = frozenset({State.CLOSED, State.ABORTED, State.ERROR})

_C, _S = Role.CLIENT, Role.SERVER

TRANSITIONS: dict[tuple[Role, State, type], State] = {
    # client
    (_C, State.IDLE, Started): State.SEND,
    (_C, State.SEND, MessageSent): State.WAIT,
    (_C, State.WAIT, MessageReceived): State.SEND,
    (_C, State.SEND, PeerFinished): State.CLOSED,  # the server's package needs no answer
    (_C, State.WAIT, TimedOut): State.SEND,  # resend the same message (same MsgID)
    (_C, State.IDLE, Aborted): State.ABORTED,
    (_C, State.SEND, Aborted): State.ABORTED,
    (_C, State.WAIT, Aborted): State.ABORTED,
    (_C, State.WAIT, ProtocolFailed): State.ERROR,
    # server
    (_S, State.IDLE, MessageReceived): State.SEND,
    (_S, State.SEND, MessageSent): State.WAIT,
    (_S, State.SEND, FinalSent): State.CLOSED,
    (_S, State.WAIT, MessageReceived): State.SEND,
    (_S, State.WAIT, DuplicateReceived): State.SEND,  # answered from the cached response
    (_S, State.CLOSED, DuplicateReceived): State.CLOSED,
    (_S, State.ABORTED, DuplicateReceived): State.ABORTED,
    (_S, State.WAIT, TimedOut): State.ABORTED,
    (_S, State.IDLE, TimedOut): State.ABORTED,
    (_S, State.IDLE, Aborted): State.ABORTED,
    (_S, State.SEND, Aborted): State.ABORTED,
    (_S, State.WAIT, Aborted): State.ABORTED,
    (_S, State.IDLE, ProtocolFailed): State.ERROR,
    (_S, State.WAIT, ProtocolFailed): State.ERROR,
}
"""(role, state, event type) -> next state. Anything not listed is caller misuse."""


def transition(role: Role, state: State, move: type) -> State:
    """The state after ``move`` happens in ``state``; ``LocalProtocolError`` if illegal."""
    try:
        return TRANSITIONS[(role, state, move)]
    except KeyError:
        raise LocalProtocolError(
            "illegal_transition", f"{role.value}: {move.__name__} in {state.name}"
        ) from None


__all__ = ["TERMINAL", "TRANSITIONS", "Role", "State", "transition"]
