"""What a session holds between messages about commands in flight: on the server, each
command waiting for its Status (``Pending``), Results arriving in chunks (``Incoming``) and a
large object being sent (``LargeObject``); on the device, a large object being reassembled
(``Chunks``). Plain records: both session sides and the snapshot code read and build them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..limits import Reservation
from ..messages.model import Add, Command, Replace, Results
from . import events as ev


@dataclass(slots=True, eq=False)
class Pending:
    """A command on the wire, waiting for its Status."""

    command: Command
    """The application's command (for a chunk: the whole object's command)."""
    parent: Pending | None = None
    children: list[Pending] | tuple[()] = ()
    """A container's (Atomic, Sequence) commands; ``()`` for any other, as ``results`` and
    ``data`` until something arrives (most commands get neither: no list each)."""
    statuses: list[int] = field(default_factory=list)
    results: list[Results] | tuple[()] = ()
    data: list[str] | tuple[()] = ()
    chunk: bool = False
    """A chunk that is not the last one (its 213 is hidden)."""
    is_last_chunk: bool = False
    receiving: bool = False
    """A Get whose Results are arriving in chunks (it completes with the last one)."""

    def __init__(self, command: Command, parent: Pending | None = None,
                 children: list[Pending] | None = None, statuses: list[int] | None = None,
                 results: list[Results] | None = None, data: list[str] | None = None,
                 chunk: bool = False, is_last_chunk: bool = False,
                 receiving: bool = False) -> None:
        # Written out (one per command sent): the generated one called ``list`` for each of
        # the default factories.
        self.command = command
        self.parent = parent
        self.children = () if children is None else children
        self.statuses = [] if statuses is None else statuses
        self.results = () if results is None else results
        self.data = () if data is None else data
        self.chunk = chunk
        self.is_last_chunk = is_last_chunk
        self.receiving = receiving

    def add_result(self, results: Results) -> None:
        """``results`` came for this command (a list from the first one on)."""
        if isinstance(self.results, list):
            self.results.append(results)
        else:
            self.results = [results]

    def add_data(self, data: list[str]) -> None:
        """The item data of a Status for this command (a list from the first one on)."""
        if isinstance(self.data, list):
            self.data.extend(data)
        else:
            self.data = data

    def busy(self) -> bool:
        if self.receiving:
            return True
        return bool(self.children) and any(child.busy() for child in self.children)

    def event(self, outcome: str = "") -> ev.CommandCompleted:
        """The command's outcome: ``outcome`` if given, else ``no_status`` when no Status came
        (status 0), else what the status says (``events.outcome_of``)."""
        statuses = self.statuses
        status = statuses[0] if statuses else 0
        if not outcome:
            outcome = ev.outcome_of(status) if statuses else "no_status"
        children = tuple([child.event() for child in self.children]) if self.children else ()
        return ev._completed(self.command, status, tuple(self.results), tuple(statuses),
                             children, tuple(self.data), outcome)


@dataclass(slots=True)
class Incoming:
    """Results the device is sending in chunks (dm-protocol.md 1.8). Invariant: ``received``
    is the UTF-8 size of ``parts`` and never passes the server's MaxObjSize or the declared
    ``expected`` size; once ``refused`` is set, nothing more is buffered and every further
    chunk is answered with it."""

    pending: Pending
    first: Results
    expected: int | None
    parts: list[str] = field(default_factory=list)
    received: int = 0
    refused: int | None = None
    """413 (over MaxObjSize or the memory budget) or 424 (past the declared Size)."""
    reservation: Reservation = field(default_factory=Reservation)
    """The bytes of ``parts``, held from the server's budget."""


@dataclass(slots=True)
class LargeObject:
    """A command whose single item is being sent in chunks."""

    command: Add | Replace
    text: str
    format: str | None
    type: str | None
    offset: int = 0


@dataclass(slots=True)
class Chunks:
    """A large object being reassembled (dm-protocol.md 1.8)."""

    uri: str
    command: Add | Replace
    expected: int | None
    parts: list[str] = field(default_factory=list)
    buffered: int = 0
    """UTF-8 bytes of the parts so far."""
