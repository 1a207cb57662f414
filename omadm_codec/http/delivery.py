"""Delivering a device's durable command queue through its sessions: which entries a session
takes, and what each session event does to them (the ``claim``/``complete``/``release`` of the
request's ``SessionCommit``).

The one idea: a queued command goes into the session as a copy whose CmdID names its entry
(``omadm-q:<id>``; the session puts fresh CmdIDs on the wire and keeps this one, snapshots
included), so every ``CommandCompleted``/``CommandRefused`` finds its entry again in any
worker. Commands an application queued itself carry no such CmdID and are left alone.
"""

from __future__ import annotations

from ..messages.model import Command
from ..session import ServerSession
from ..session import events as ev
from .state import Release
from .stored import add_results, commands_from_xml, outcomes_with, refused_json

QUEUE_TAG = "omadm-q:"
_FED = frozenset({ev.CommandCompleted, ev.CommandRefused})
"""The events ``feed`` acts on (the session makes them of these classes exactly)."""
NEVER_SENDABLE = frozenset({"too_large", "max_obj_size"})
"""Refusals that would repeat in every session: the command is done, refused."""


def entry_id_of(command: Command) -> str | None:
    """The queue entry a session's command came from, or None (the application's own)."""
    cmd_id = command.cmd_id or ""
    return cmd_id[len(QUEUE_TAG):] if cmd_id.startswith(QUEUE_TAG) else None


class Delivery:
    """The queue changes of one request."""

    def __init__(self) -> None:
        self.claim: list[str] = []
        self.complete: list[tuple[str, str]] = []
        self.release: list[Release] = []

    def take(self, session: ServerSession, entries: list[tuple[str, str]]) -> None:
        """Hand the device its queued entries, (entry id, command XML) each; they are
        claimed when the request commits."""
        if not entries:
            return
        ids, texts = zip(*entries, strict=True)
        commands = commands_from_xml(list(texts))
        for entry_id, command in zip(ids, commands, strict=True):
            command.cmd_id = QUEUE_TAG + entry_id
        self.claim += ids
        session.send_commands(commands)

    def feed(self, events: list[ev.Event]) -> None:
        """What a batch of session events does to the queue: a ``CommandCompleted`` records
        the outcome, a ``CommandRefused`` releases the command (``unknown`` if it was sent,
        else ``queued``; done and refused if no session could ever send it)."""
        if _FED.isdisjoint(map(type, events)):
            return  # (most batches but a message's answers: a walk in C)
        done_ids: list[str] = []
        done: list[ev.CommandCompleted] = []
        found: list[Command] = []  # their Results, in walk order (``outcomes_with``)
        refused: list[ev.CommandRefused] = []
        completed, tag, skip = ev.CommandCompleted, QUEUE_TAG, len(QUEUE_TAG)
        for event in events:  # one pass; most events of a message complete a command
            if isinstance(event, completed):
                cmd_id = event.command.cmd_id  # (``entry_id_of``, inline: once per command)
                if cmd_id and cmd_id.startswith(tag):
                    done_ids.append(cmd_id[skip:])
                    done.append(event)
                    add_results(found, event)
            elif isinstance(event, ev.CommandRefused):
                refused.append(event)
        if done:
            self.complete.extend(zip(done_ids, outcomes_with(done, found), strict=True))
        for event in refused:
            entry_id = entry_id_of(event.command)
            if entry_id is None:
                continue
            if event.reason in NEVER_SENDABLE:
                self.complete.append((entry_id, refused_json(event.reason)))
            else:
                self.release.append(Release(entry_id, "unknown" if event.sent else "queued",
                                            event.reason))


__all__ = ["NEVER_SENDABLE", "QUEUE_TAG", "Delivery", "entry_id_of"]
