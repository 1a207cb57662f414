"""Atomic on the device when its rollback fails (dm-protocol.md 1.9): the children that ran
are answered 516 (Atomic roll back failed) instead of 216, the failing child keeps its own
code, the rest 215, the Atomic 507; the server reports those codes in its
``CommandCompleted``. A rollback that works keeps answering 216 (the control case).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from omadm_codec.messages.model import Atomic, Command, Delete, Item, Meta, Replace, Target
from omadm_codec.security import auth
from omadm_codec.security.nonces import NonceManager
from omadm_codec.session import ClientSession, CommandCompleted, ServerSession, State
from omadm_codec.session import events as ev
from omadm_codec.tools.simulator import (
    DEVICE_SECRET,
    DEVICE_USER,
    SERVER_ID,
    build_tree,
    run_in_memory,
)
from omadm_codec.tree import DMTree

BRIGHTNESS = "./Vendor/Acme/Settings/Brightness"
RINGTONE = "./Vendor/Acme/Settings/Ringtone"


class StorageLost(OSError):
    """What a persistent tree's storage raises when it cannot undo a write."""


class RollbackFailsTree(DMTree):
    """A tree whose journal cannot undo value writes: like a tree on storage that went away
    between the write and the rollback. The undo raises before restoring anything."""

    def _set(self, obj: Any, attr: str, value: Any) -> None:
        super()._set(obj, attr, value)
        if self._journal is not None and attr == "value":
            def undo_fails() -> None:
                raise StorageLost("storage unavailable during rollback")

            self._journal.append(undo_fails)


def _tree(rollback_fails: bool) -> DMTree:
    tree = build_tree(server_auth="NONE", client_auth="BASIC")
    if rollback_fails:
        tree.__class__ = RollbackFailsTree  # the same tree, with the failing journal
    return tree


def _server() -> ServerSession:
    stored = {DEVICE_USER: auth.secret_hash(DEVICE_USER, DEVICE_SECRET)}
    return ServerSession(server_id=SERVER_ID, server_uri="http://127.0.0.1/dm",
                         secret_lookup=stored.get, nonces=NonceManager(), aauth_type="BASIC")


def _queue(commands: list[Command]) -> Callable[[ServerSession, list[ev.Event]], None]:
    def app(server: ServerSession, events: list[ev.Event]) -> None:
        if any(isinstance(e, ev.SessionStarted) for e in events):
            server.send_commands(commands)
    return app


def _atomic() -> Atomic:
    return Atomic("0", [
        Replace("0", [Item(target=Target(BRIGHTNESS), meta=Meta(format="int"), data="5")]),
        Replace("0", [Item(target=Target(RINGTONE), data="jazz")]),
        Delete("0", [Item(target=Target("./Vendor/Acme/Settings/Missing"))]),  # 404
        Replace("0", [Item(target=Target(RINGTONE), data="never")]),
    ])


@pytest.mark.parametrize("fmt", ["xml", "wbxml"])
@pytest.mark.parametrize("rollback_fails", [False, True])
def test_atomic_children_answer_516_when_the_rollback_fails(fmt: str,
                                                          rollback_fails: bool) -> None:
    tree = _tree(rollback_fails)
    atomic = _atomic()
    client = ClientSession(tree, fmt=fmt)  # type: ignore[arg-type]
    exchange = run_in_memory(client, _server(), app=_queue([atomic]))
    assert client.state is State.CLOSED
    rolled_back = 516 if rollback_fails else 216
    expected = [rolled_back, rolled_back, 404, 215]

    # The device's own record of what it answered (its decoded copies of the commands).
    executed = [e for e in exchange.client_events if isinstance(e, ev.CommandExecuted)]
    assert [(e.command.ELEMENT, e.status) for e in executed if e.parent == "Atomic"] == [
        (c.ELEMENT, code) for c, code in zip(atomic.commands, expected, strict=True)]
    assert [e.status for e in executed if e.command.ELEMENT == "Atomic"] == [507]

    # The server surfaces the same codes on the application's own command objects.
    done = [e for e in exchange.server_events if isinstance(e, CommandCompleted)]
    assert [e.command for e in done] == [atomic]
    assert done[0].status == 507
    assert [child.command for child in done[0].children] == atomic.commands
    assert [child.status for child in done[0].children] == expected

    # 216 promises the changes are gone; 516 does not (here they stayed).
    values = (tree.device_get(BRIGHTNESS), tree.device_get(RINGTONE))
    assert values == (("5", "jazz") if rollback_fails else ("70", "classic"))


def test_a_failure_outside_the_rollback_still_propagates() -> None:
    """Only the rollback's failure becomes 516: an error escaping a child that did not fail
    (here the tree's commit) is not disguised as an Atomic answer."""

    class CommitFails(DMTree):
        def transaction(self) -> Any:
            from contextlib import contextmanager

            @contextmanager
            def failing() -> Any:
                yield self
                raise StorageLost("commit failed")

            return failing()

    tree = _tree(False)
    tree.__class__ = CommitFails
    ok = Atomic("0", [Replace("0", [Item(target=Target(BRIGHTNESS), meta=Meta(format="int"),
                                         data="6")])])
    client = ClientSession(tree)
    with pytest.raises(StorageLost):
        run_in_memory(client, _server(), app=_queue([ok]))
