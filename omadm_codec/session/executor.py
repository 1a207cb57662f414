"""The device side of management commands: run one server command against a ``DMTree`` with
the server's identity and produce its Status(es) and Results, in order.

The one idea: every command becomes a list of outgoing model commands (its Status first, then
its Results) plus ``CommandExecuted`` events; a refused command changes nothing in the tree
(``DMTree`` guarantees it per command, ``tree.transaction()`` per Atomic and per chunked
object), so an answer never reports a change that did not happen.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import TreeError
from ..messages.model import (
    Add,
    Alert,
    Atomic,
    Command,
    Copy,
    Delete,
    Exec,
    Get,
    Item,
    Meta,
    Replace,
    Results,
    Sequence,
    Source,
    Status,
)
from ..tree import DMTree
from ._common import _ID_TEXTS, CmdIds, command_status, id_text, item_uri, meta_of
from .events import CommandExecuted

UI_ALERTS = frozenset({1100, 1101, 1102, 1103, 1104})
STATUS_NOT_EXECUTED = 215
STATUS_ROLLED_BACK = 216
STATUS_ROLLBACK_FAILED = 516
STATUS_ATOMIC_FAILED = 507
STATUS_CANCELLED = 214
STATUS_NO = 304
STATUS_CHUNK_BUFFERED = 213
STATUS_SIZE_MISMATCH = 424


@dataclass(frozen=True, slots=True)
class UiAlert:
    """A user-interaction alert (1100-1104) as the UI callback sees it."""

    code: int
    """1100 display, 1101 confirm, 1102 text input, 1103 single, 1104 multiple choice."""
    text: str
    """The display text (Item 2)."""
    options: dict[str, str] = field(default_factory=dict)
    """The option string, decoded (MINDT, MAXDT, DR, MAXLEN, IT, ET)."""
    choices: tuple[str, ...] = ()
    """The choices (1103 / 1104), numbered from 1 in this order."""

    @property
    def max_display_time(self) -> int | None:
        """MAXDT in seconds, if given: how long the UI may wait for the user."""
        value = self.options.get("MAXDT", "")
        return int(value) if value.isdigit() else None


@dataclass(frozen=True, slots=True)
class UiResponse:
    """What the user did: a status (200 yes/ok, 304 no, 214 cancelled) and reply data
    (1102: the text; 1103/1104: the chosen indexes as strings)."""

    status: int = 200
    data: tuple[str, ...] = ()


UiCallback = Callable[[UiAlert], "UiResponse | None"]
"""Returns the user's answer, or None when the user did not answer within MAXDT."""


class _Failed(Exception):
    """Unwinds an Atomic's transaction after a child failed."""


class _Context:
    """Per-message execution state: the tree, the acting server, CmdID allocation, output."""

    def __init__(self, tree: DMTree, server_id: str, msg_id: str, ids: CmdIds,
                 ui: UiCallback | None) -> None:
        self.tree = tree
        self.server_id = server_id
        self.msg_id = msg_id
        self.ids = ids
        self.ui = ui
        self.out: list[Status | Results | Alert] = []
        self.events: list[CommandExecuted] = []

    def status(self, command: Command, code: int, refs: list[str] | None = None,
               parent: str | None = None, data: tuple[str, ...] = ()) -> Status:
        # ``command_status``, written out (the CmdID counter too): this runs once per
        # command answered.
        ids = self.ids
        number = ids.next
        ids.next = number + 1
        status = Status(id_text(number) if number >= 1024 else _ID_TEXTS[number],
                        self.msg_id, command.cmd_id, command.ELEMENT, code,
                        refs or [], [], None, [Item(data=value) for value in data] if data
                        else [])
        self.out.append(status)
        self.events.append(CommandExecuted(command, code, parent))
        return status


def _value_of(item: Item, meta: Meta | None) -> tuple[str | bytes | None, str, str | None]:
    fmt = (meta.format if meta is not None and meta.format else "chr")
    mime = meta.type if meta is not None else None
    data = item.data
    if data is None:
        return None, fmt, mime
    if isinstance(data, bytes):
        return data, "bin" if fmt == "b64" else fmt, mime
    if isinstance(data, str):
        return data, fmt, mime
    return data.xml, fmt, mime


def _item_add(ctx: _Context, command: Command, item: Item) -> int:
    value, fmt, mime = _value_of(item, meta_of(item, getattr(command, "meta", None)))
    try:
        ctx.tree.add(item_uri(item), ctx.server_id, value, fmt, mime)
    except TreeError as exc:
        return exc.status
    return 200


def _item_replace(ctx: _Context, command: Command, item: Item) -> int:
    meta = item.meta
    if meta is None:  # ``meta_of`` without a call when the item has no Meta of its own
        meta = getattr(command, "meta", None)
    elif getattr(command, "meta", None) is not None:
        meta = meta_of(item, getattr(command, "meta", None))
    data = item.data
    if isinstance(data, str):  # ``_value_of``'s common case, written out
        value: str | bytes | None = data
        fmt = meta.format if meta is not None and meta.format else "chr"
        mime = meta.type if meta is not None else None
    else:
        value, fmt, mime = _value_of(item, meta)
    target = item.target  # ``item_uri``, written out
    if target is not None:
        uri = target.loc_uri
    else:
        uri = item.source.loc_uri if item.source is not None else ""
    try:
        ctx.tree.replace(uri, ctx.server_id, value,
                         fmt if meta and meta.format else None, mime)
    except TreeError as exc:
        return exc.status
    return 200


def _item_delete(ctx: _Context, command: Command, item: Item) -> int:
    try:
        ctx.tree.delete(item_uri(item), ctx.server_id)
    except TreeError as exc:
        return exc.status
    return 200


def _item_copy(ctx: _Context, command: Command, item: Item) -> int:
    source = item.source.loc_uri if item.source is not None else ""
    try:
        ctx.tree.copy(source, item_uri(item), ctx.server_id)
    except TreeError as exc:
        return exc.status
    return 200


def _item_exec(ctx: _Context, command: Command, item: Item) -> int:
    assert isinstance(command, Exec)
    value, _fmt, _mime = _value_of(item, meta_of(item, command.meta))
    try:
        return ctx.tree.exec(item_uri(item), ctx.server_id, value, command.correlator)
    except TreeError as exc:
        return exc.status


def _item_get(ctx: _Context, command: Command, item: Item) -> int:
    return 200  # handled by _run_get


def _item_unknown(ctx: _Context, command: Command, item: Item) -> int:
    return 406


_ItemRunner = Callable[[_Context, Command, Item], int]
_ITEM_RUNNERS: dict[type, _ItemRunner] = {}
# In this order, as subclasses match the first class they derive from.
_ITEM_KINDS: tuple[tuple[type, _ItemRunner], ...] = (
    (Add, _item_add), (Replace, _item_replace), (Delete, _item_delete), (Copy, _item_copy),
    (Exec, _item_exec), (Get, _item_get))


def _item_runner(cls: type) -> _ItemRunner:
    runner = _ITEM_RUNNERS.get(cls)
    if runner is None:
        runner = next((run for kind, run in _ITEM_KINDS if issubclass(cls, kind)),
                      _item_unknown)
        _ITEM_RUNNERS[cls] = runner
    return runner


def _get_items(ctx: _Context, uri: str) -> tuple[int, list[Item]]:
    """(status, Results items) of one Get item."""
    try:
        value = ctx.tree.get(uri, ctx.server_id)
    except TreeError as exc:
        return exc.status, []
    if value.items:
        return value.status, [Item(source=Source(entry.uri),
                                   meta=Meta(format=entry.format, type=entry.type or None),
                                   data=_wire(entry.value)) for entry in value.items]
    data = value.value
    if isinstance(data, bytes):
        wire_format, data = "b64", base64.b64encode(data).decode("ascii")
    else:
        wire_format = value.format
    # ``value.status``: 217 on DM 1.3 inherited-ACL Gets. Positional (once per Get): Item
    # (target, source, source_parent, target_parent, meta, data) and Meta (field_level,
    # format, type, mark, size, anchor, version, next_nonce, max_msg_size, max_obj_size, emi,
    # mem, extra), its lists given rather than made by the default factories.
    meta = Meta(False, wire_format, value.type or None, None, None, None, None, None, None,
                None, [], None, [])
    return value.status, [Item(None, Source(uri), None, None, meta, data)]


def _run_get(ctx: _Context, command: Get, parent: str | None) -> None:
    items = command.items
    if len(items) == 1:
        item = items[0]
        target = item.target  # ``item_uri``, written out
        if target is not None:
            uri = target.loc_uri
        else:
            uri = item.source.loc_uri if item.source is not None else ""
        code, found = _get_items(ctx, uri)
        ctx.status(command, code, None, parent)
        if found and (code == 200 or code == 217):
            ids = ctx.ids  # ``ids()``, written out (once per Get)
            number = ids.next
            ids.next = number + 1
            ctx.out.append(Results(_ID_TEXTS[number] if number < 1024 else id_text(number),
                                   command.cmd_id, found, ctx.msg_id))
        return
    outcomes = [(_get_items(ctx, item_uri(item)), item_uri(item)) for item in command.items]
    _statuses(ctx, command, [(code, uri) for (code, _), uri in outcomes], parent)
    found = [item for (code, items), _ in outcomes if code in (200, 217) for item in items]
    if found:
        ctx.out.append(Results(ctx.ids(), command.cmd_id, found, msg_ref=ctx.msg_id))


def _wire(value: str | bytes | None) -> str | None:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _statuses(ctx: _Context, command: Command, outcomes: list[tuple[int, str]],
              parent: str | None) -> int:
    """One Status when every item answered alike, else one per item (with TargetRef)."""
    if len(outcomes) == 1:
        code = outcomes[0][0]
        ctx.status(command, code, None, parent)
        return code
    codes = {code for code, _ in outcomes}
    if len(codes) <= 1:
        code = outcomes[0][0] if outcomes else 412
        refs = [uri for _, uri in outcomes if uri] if len(outcomes) > 1 else []
        ctx.status(command, code, refs, parent)
        return code
    for code, uri in outcomes:
        ctx.status(command, code, [uri] if uri else [], parent)
    return max(codes)


def _ui(ctx: _Context, alert: Alert, parent: str | None) -> int:
    if ctx.ui is None:
        ctx.status(alert, 406, parent=parent)
        return 406
    texts = [item.data if isinstance(item.data, str) else "" for item in alert.items]
    if len(texts) < 2:
        ctx.status(alert, 412, parent=parent)
        return 412
    options = dict(urllib.parse.parse_qsl(texts[0], keep_blank_values=True))
    ui_alert = UiAlert(int(alert.data or 0), texts[1], options, tuple(texts[2:]))
    response = ctx.ui(ui_alert)
    data: tuple[str, ...]
    if response is None:
        default = options.get("DR")
        if default is None or alert.data == 1100:
            code, data = (200, ()) if alert.data == 1100 else (408, ())
        elif alert.data == 1101:
            code, data = (200 if default == "1" else STATUS_NO), ()
        elif alert.data == 1104:
            code, data = 200, tuple(default.split("-"))
        else:
            code, data = 200, (default,)
    else:
        code, data = response.status, response.data
    ctx.status(alert, code, parent=parent, data=data if code == 200 else ())
    return code


def run_command(ctx: _Context, command: Command, parent: str | None = None) -> int:
    """Run one command (not Status / Results); return its status."""
    runner = _RUNNERS.get(type(command))
    if runner is None:
        runner = _runner(type(command))
    return runner(ctx, command, parent)


def _run_atomic_command(ctx: _Context, command: Command, parent: str | None) -> int:
    assert isinstance(command, Atomic)
    return _run_atomic(ctx, command)


def _run_sequence_command(ctx: _Context, command: Command, parent: str | None) -> int:
    assert isinstance(command, Sequence)
    return _run_sequence(ctx, command)


def _run_alert(ctx: _Context, command: Command, parent: str | None) -> int:
    assert isinstance(command, Alert)
    if command.data in UI_ALERTS:
        return _ui(ctx, command, parent)
    ctx.status(command, 406, parent=parent)
    return 406


def _run_get_command(ctx: _Context, command: Command, parent: str | None) -> int:
    assert isinstance(command, Get)
    _run_get(ctx, command, parent)
    return 200


def _run_items(ctx: _Context, command: Command, parent: str | None) -> int:
    """Add, Replace, Delete, Copy, Exec: each item in turn."""
    items: list[Item] = command.items  # type: ignore[union-attr]
    if not items:
        ctx.status(command, 412, parent=parent)
        return 412
    run_item = _ITEM_RUNNERS.get(type(command)) or _item_runner(type(command))
    if len(items) == 1:
        # One item: one Status, no TargetRef (``_statuses`` with one outcome).
        code = run_item(ctx, command, items[0])
        ctx.status(command, code, None, parent)
        return code
    outcomes = [(run_item(ctx, command, item), item_uri(item)) for item in items]
    return _statuses(ctx, command, outcomes, parent)


def _run_unknown(ctx: _Context, command: Command, parent: str | None) -> int:
    ctx.status(command, 406, parent=parent)
    return 406


_Runner = Callable[[_Context, Command, "str | None"], int]
_RUNNERS: dict[type, _Runner] = {}
# Table dispatch on the exact class; a subclass gets what the isinstance chain in this order
# gives it, once.
_KINDS: tuple[tuple[type | tuple[type, ...], _Runner], ...] = (
    (Atomic, _run_atomic_command), (Sequence, _run_sequence_command), (Alert, _run_alert),
    (Get, _run_get_command), ((Add, Replace, Delete, Copy, Exec), _run_items))


def _runner(cls: type) -> _Runner:
    runner = next((run for kind, run in _KINDS if issubclass(cls, kind)), _run_unknown)
    _RUNNERS[cls] = runner
    return runner


def _run_atomic(ctx: _Context, atomic: Atomic) -> int:
    """All or nothing: the children run in order inside one tree transaction; on the first
    failure the transaction unwinds and the children that ran are answered 216, or 516 when
    the unwinding itself failed (dm-protocol.md 1.9: their changes may still be there)."""
    container = command_status(ctx.msg_id, atomic, ctx.ids(), 200)
    ctx.out.append(container)
    start = len(ctx.out)
    codes: list[int] = []
    failed_at = -1
    rolled_back = STATUS_ROLLED_BACK
    try:
        with ctx.tree.transaction():
            for index, child in enumerate(atomic.commands):
                if isinstance(child, (Get, Atomic)):
                    ctx.status(child, 500, parent="Atomic")
                    code = 500
                else:
                    code = run_command(ctx, child, "Atomic")
                codes.append(code)
                if code >= 300 and code != STATUS_CHUNK_BUFFERED:
                    failed_at = index
                    raise _Failed
    except _Failed:
        pass
    except Exception:
        if failed_at < 0:
            raise  # not raised by the rollback: nothing to answer for it here
        # After ``_Failed`` only the transaction's rollback runs: it is what raised (a tree
        # whose storage failed while undoing). The device still answers, truthfully.
        rolled_back = STATUS_ROLLBACK_FAILED
    if failed_at < 0:
        ctx.events.append(CommandExecuted(atomic, 200))
        return 200
    # Rewrite the answers: children before the failure were rolled back (216, or 516 if the
    # rollback failed), the failing child keeps its code, the rest never ran (215).
    ran = ctx.out[start:]
    ctx.out[start:] = []
    ctx.events[:] = [e for e in ctx.events if e.parent != "Atomic"]
    for index, child in enumerate(atomic.commands):
        if index < failed_at:
            ctx.status(child, rolled_back, parent="Atomic")
        elif index == failed_at:
            code = next((s.data for s in ran if isinstance(s, Status)
                         and s.cmd_ref == child.cmd_id), codes[failed_at])
            ctx.status(child, code, parent="Atomic")
        else:
            ctx.status(child, STATUS_NOT_EXECUTED, parent="Atomic")
    container.data = STATUS_ATOMIC_FAILED
    ctx.events.append(CommandExecuted(atomic, STATUS_ATOMIC_FAILED))
    return STATUS_ATOMIC_FAILED


def _run_sequence(ctx: _Context, sequence: Sequence) -> int:
    """In order; a UI alert answered No or cancelled skips the rest (215 each)."""
    ctx.out.append(command_status(ctx.msg_id, sequence, ctx.ids(), 200))
    stopped = False
    for child in sequence.commands:
        if stopped:
            ctx.status(child, STATUS_NOT_EXECUTED, parent="Sequence")
            continue
        if isinstance(child, (Atomic, Sequence)):
            code = run_command(ctx, child)
        else:
            code = run_command(ctx, child, "Sequence")
        if isinstance(child, Alert) and child.data in UI_ALERTS and code in (
                STATUS_NO, STATUS_CANCELLED, 408):
            stopped = True
    ctx.events.append(CommandExecuted(sequence, 200))
    return 200


def new_context(tree: DMTree, server_id: str, msg_id: str, ids: CmdIds,
                ui: UiCallback | None) -> _Context:
    """The context ``run_command`` executes one message's commands in: the device's tree, the
    server's identity, the message's MsgID, the CmdID counter for answers and the UI callback."""
    return _Context(tree, server_id, msg_id, ids, ui)


__all__ = ["UI_ALERTS", "UiAlert", "UiCallback", "UiResponse", "new_context", "run_command"]
