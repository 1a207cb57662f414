"""Commands and outcomes as the state store keeps them: a command is the canonical XML of one
DM command (the codec's own format, never pickle), an outcome is JSON.

``command_xml``/``command_from_xml`` convert one command; ``commands_from_file`` reads what an
operator hands ``omadm-codec enqueue`` (a SyncML message, one bare command, or several);
``outcome_json`` records a ``CommandCompleted`` and ``completed_from_entry`` gives it back.
"""

from __future__ import annotations

import re
from typing import Any

from .._json import dumps, dumps_string, loads
from ..errors import DecodeError
from ..messages import decode, encode
from ..messages.model import Atomic, Command, Message, Results, Sequence, Source, Status, SyncHdr
from ..messages.model import Target as TargetModel
from ..session import events as ev
from .state import Entry

_ENVELOPE = ('<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD>'
             '<VerProto>DM/1.2</VerProto><SessionID>0</SessionID><MsgID>1</MsgID>'
             '<Target><LocURI>store</LocURI></Target><Source><LocURI>store</LocURI></Source>'
             '</SyncHdr><SyncBody>{}</SyncBody></SyncML>')
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.S)
_DOCTYPE = re.compile(r"^\s*<!DOCTYPE[^>]*>", re.S)


def _wrap(commands: list[Command]) -> Message:
    return Message(_STORE_HDR, commands)


_STORE_HDR = SyncHdr("0", "1", TargetModel("store"), Source("store"))
"""The header of every message ``_wrap`` makes (only encoded, never changed: one will do)."""


def command_xml(command: Command) -> str:
    """One command as canonical XML (its own element, no envelope)."""
    text = encode(_wrap([command])).decode("utf-8")
    start = text.index("<SyncBody>") + len("<SyncBody>")
    end = text.rindex("</SyncBody>")
    return text[start:end]


def command_from_xml(text: str) -> Command:
    """The one command ``command_xml`` wrote; ``DecodeError`` if it is not exactly one."""
    commands = decode(_ENVELOPE.format(text).encode("utf-8")).commands
    if len(commands) != 1:
        raise DecodeError("not_one_command", -1, f"{len(commands)} commands")
    return commands[0]


def commands_from_xml(texts: list[str]) -> list[Command]:
    """Many stored commands in one decode (a session takes a whole queue at once);
    ``DecodeError`` unless each text is exactly one command."""
    commands = decode(_ENVELOPE.format("".join(texts)).encode("utf-8")).commands
    if len(commands) != len(texts):
        raise DecodeError("not_one_command", -1, f"{len(commands)} for {len(texts)}")
    return commands


def commands_from_file(data: bytes) -> list[Command]:
    """The management commands of an operator's file: a whole SyncML message (its SyncBody),
    or one or more bare command elements (``<Get>...</Get><Replace>...</Replace>``). Commands
    without a CmdID are numbered 1, 2, ... (the session renumbers them on the wire anyway).
    Status and Results are not commands a server sends: ``DecodeError``."""
    text = data.decode("utf-8-sig")
    if "<SyncML" in text:
        commands = decode(data).commands
    else:
        body = _DOCTYPE.sub("", _DECLARATION.sub("", text, count=1), count=1)
        prefix = len(_ENVELOPE.split("{}")[0].encode("utf-8"))
        skipped = len(data) - len(body.encode("utf-8"))  # BOM, declaration, DOCTYPE
        try:
            commands = decode(_ENVELOPE.format(body).encode("utf-8")).commands
        except DecodeError as exc:
            # Offsets of the operator's file, not of the envelope added around it.
            offset = exc.offset - prefix + skipped if exc.offset >= prefix else -1
            raise DecodeError(exc.reason, min(offset, len(data)), exc.detail) from exc
    if not commands:
        raise DecodeError("no_commands", -1, "the file holds no DM command")
    for index, command in enumerate(commands, 1):
        if isinstance(command, Status | Results):
            raise DecodeError("not_a_command", -1, f"{command.ELEMENT} is not sent by a server")
        if not command.cmd_id:
            command.cmd_id = str(index)
    return commands


_NESTED = (Atomic, Sequence)


def _body(commands: list[Command]) -> str | None:
    """The SyncBody of one message of ``commands``, or None if it cannot be cut into them:
    a command's canonical XML ends with the first closing tag of its element that follows
    it, which no escaped text can hold (Atomic and Sequence may nest their own kind)."""
    for command in commands:
        if isinstance(command, _NESTED):
            return None
    return _sync_body(commands)


def _sync_body(commands: list[Command]) -> str:
    """The SyncBody's content of one message of ``commands``, as XML text."""
    text = encode(_wrap(commands)).decode("utf-8")
    return text[text.index("<SyncBody>") + len("<SyncBody>"):text.rindex("</SyncBody>")]


def _cut(body: str, commands: list[Command]) -> list[str]:
    """``body`` cut after each command's closing tag."""
    out = []
    start = 0
    for command in commands:
        close = f"</{command.ELEMENT}>"
        end = body.index(close, start) + len(close)
        out.append(body[start:end])
        start = end
    return out


def commands_xml(commands: list[Command]) -> list[str]:
    """``command_xml`` of each command, in one encode (see ``_body``)."""
    body = _body(commands) if commands else None
    if body is None:
        return [command_xml(c) for c in commands]
    return _cut(body, commands)


def _results_json(results: list[Command]) -> list[str]:
    """``dumps_string(command_xml(r))`` of each of ``results``: one encode, one escape of the
    whole body. JSON escaping goes character by character and leaves closing tags as they
    are, so the escaped body cuts where the XML does."""
    if set(map(type, results)) != _ONLY_RESULTS:
        body = _body(results)
        if body is None:
            return [dumps_string(text) for text in commands_xml(results)]
        return [f'"{piece}"' for piece in _cut(dumps_string(body)[1:-1], results)]
    # Results only: none nests (``_body``'s check), and each has one closing tag (a Results
    # holds no Results), where the escaped body splits.
    escaped = dumps_string(_sync_body(results))[1:-1]
    pieces = escaped.split("</Results>")
    if len(pieces) == len(results) + 1 and not pieces[-1]:
        pieces.pop()
        return [f'"{piece}</Results>"' for piece in pieces]
    return [f'"{piece}"' for piece in _cut(escaped, results)]


_ONLY_RESULTS = frozenset({Results})


def _outcome(event: ev.CommandCompleted, results: list[str]) -> dict[str, Any]:
    """The outcome record; ``results`` holds the JSON strings of the XML of every Results of
    ``event`` and its children, in walk order (consumed from the back: reversed by the
    caller)."""
    out: dict[str, Any] = {
        "status": event.status, "item_statuses": list(event.item_statuses),
        "data": list(event.data),
        "results": [loads(results.pop()) for _ in event.results],
        # Richer outcomes: always set by the session (``outcome`` non-empty, ``ok`` from it).
        "outcome": event.outcome, "ok": event.outcome == "ok",
    }
    if event.children:
        out["children"] = [_outcome(child, results) for child in event.children]
    return out


def _all_results(event: ev.CommandCompleted) -> list[Results]:
    """The Results of ``event`` and of its children, in walk order."""
    found = list(event.results)
    for child in event.children:
        found += _all_results(child)
    return found


def add_results(found: list[Command], event: ev.CommandCompleted) -> None:
    """``found += _all_results(event)``, without the copy for a command with no children."""
    if event.children:
        found += _all_results(event)
    elif event.results:
        found += event.results


_TAILS = {name: f'],"outcome":"{name}","ok":{"true" if name == "ok" else "false"}}}'
          for name in ev.OUTCOMES}


_HEADS: dict[tuple[int, tuple[int, ...]], str] = {}
"""The start of a common outcome's text by (status, item statuses): a few codes recur."""


def outcomes_json(events: list[ev.CommandCompleted]) -> list[str]:
    """``outcome_json`` of each event, with every Results among them encoded (and escaped)
    at once. The common outcome (no children, no data, at most one item status) is written
    as text, what ``dumps`` writes for its record byte for byte."""
    found: list[Command] = []
    for event in events:
        add_results(found, event)
    return outcomes_with(events, found)


def outcomes_with(events: list[ev.CommandCompleted], found: list[Command]) -> list[str]:
    """``outcomes_json(events)``, given ``found``: every Results of ``events`` and their
    children, in walk order (gathered by the caller's own pass over the events)."""
    texts = _results_json(found) if found else []
    texts.reverse()  # popped from the back, in walk order
    out = []
    for event in events:
        status, statuses, tail = event.status, event.item_statuses, _TAILS.get(event.outcome)
        if (event.children or event.data or tail is None or type(status) is not int
                or len(statuses) > 1 or (statuses and type(statuses[0]) is not int)):
            out.append(dumps(_outcome(event, texts)))
            continue
        count = len(event.results)
        results = "" if not count else texts.pop() if count == 1 else ",".join(
            [texts.pop() for _ in range(count)])
        head = _HEADS.get((status, statuses))
        if head is None:
            head = (f'{{"status":{status},"item_statuses":[{statuses[0] if statuses else ""}],'
                    f'"data":[],"results":[')
            if len(_HEADS) < 1024:
                _HEADS[(status, statuses)] = head
        out.append(head + results + tail)
    return out


def outcome_json(event: ev.CommandCompleted) -> str:
    """The JSON recorded when a queued command completes."""
    return outcomes_json([event])[0]


def refused_json(reason: str) -> str:
    """The JSON recorded for a command the session could not send at all (``too_large``,
    ``max_obj_size``): it is done, with no status from the device."""
    return dumps({"status": 0, "refused": reason, "item_statuses": [], "data": [],
                  "results": []})


def _completed(command: Command, outcome: dict[str, Any]) -> ev.CommandCompleted:
    results = tuple(r for r in (command_from_xml(x) for x in outcome.get("results", []))
                    if isinstance(r, Results))
    subcommands = command.commands if isinstance(command, Atomic | Sequence) else []
    children = tuple(_completed(c, o) for c, o in zip(subcommands, outcome.get("children", []),
                                                       strict=False))
    return ev.CommandCompleted(command, int(outcome.get("status", 0)), results,
                               tuple(int(s) for s in outcome.get("item_statuses", [])),
                               children, tuple(str(d) for d in outcome.get("data", [])))


def completed_from_entry(entry: Entry) -> ev.CommandCompleted | None:
    """The ``CommandCompleted`` a ``done`` entry recorded (its command as enqueued), or None
    if the entry is not done."""
    if entry.state != "done" or entry.outcome is None:
        return None
    return _completed(command_from_xml(entry.command), entry.outcome)


__all__ = ["add_results", "command_from_xml", "command_xml", "commands_from_file",
           "commands_from_xml", "commands_xml", "completed_from_entry", "outcome_json",
           "outcomes_json", "outcomes_with", "refused_json"]
