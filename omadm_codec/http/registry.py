"""Device accounts, per-device command queues and outcomes: the operator's view of the state
store a ``DMServerApp`` serves from.

Two ways in: the coroutines of ``DeviceQueues`` (any store, any process) and, on the
in-process store only, the plain methods and dictionaries below (``enqueue``, ``outcomes``,
``queues``), kept for scripts and tests that run the server in their own process.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

from ..messages.model import Command
from ..security import auth
from ..session import events as ev
from .operator import DeviceQueues
from .state import Account, StateStore
from .state_memory import MemoryState
from .stored import command_from_xml, completed_from_entry

T = TypeVar("T")


def run_now(coro: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine of the in-process store, which never waits for anything."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("this store does I/O: use the coroutines (DeviceQueues) instead")


class DeviceRegistry:
    """Device accounts and the per-device durable command queues of a store.

    ``secrets`` maps a client user name to its stored ``auth.secret_hash`` (give
    ``secrets.get`` as ``ServerConfig.secret_lookup``); ``add_account`` also records the
    account (and the DevIds it may manage) in the store. ``enqueue(device_id, commands)``
    queues commands for the device's next session (keyed by its DevInfo DevId, the SyncHdr
    Source LocURI); ``outcomes[device_id]`` gives the ``CommandCompleted`` of its commands,
    in queue order. The plain methods need the in-process store; ``queues_api`` works on any.
    """

    def __init__(self, secrets: dict[str, str] | None = None, *,
                 state: StateStore | None = None) -> None:
        self.secrets: dict[str, str] = secrets if secrets is not None else {}
        self.state: StateStore = state if state is not None else MemoryState()
        self.queues_api = DeviceQueues(self.state)

    def add_account(self, username: str, password: str,
                    devices: Iterable[str] | None = None) -> None:
        """Register a device account: keep ``auth.secret_hash(username, password)``, never the
        password; ``devices``: the DevIds it alone may manage (None: not bound)."""
        secret = auth.secret_hash(username, password)
        self.secrets[username] = secret
        account = Account(username, secret, None if devices is None else frozenset(devices))
        if self.state.local:
            run_now(self.state.put_account(account))

    def enqueue(self, device_id: str, commands: list[Command], *, key: str | None = None,
                repeatable: bool = False) -> list[str]:
        """Queue commands for the device's next session; returns their entry ids."""
        return run_now(self.queues_api.enqueue(device_id, commands, key=key,
                                               repeatable=repeatable))

    @property
    def outcomes(self) -> dict[str, list[ev.CommandCompleted]]:
        """Device -> the outcomes of its finished commands (a fresh dict on every read)."""
        out: dict[str, list[ev.CommandCompleted]] = {}
        for device_id in self._devices():
            done = [c for c in (completed_from_entry(e) for e in run_now(
                self.state.entries(device_id))) if c is not None]
            if done:
                out[device_id] = done
        return out

    @property
    def queues(self) -> dict[str, list[Command]]:
        """Device -> its commands still queued (a fresh dict on every read)."""
        out: dict[str, list[Command]] = {}
        for device_id in self._devices():
            queued = [command_from_xml(e.command) for e in run_now(self.state.queued(device_id))]
            if queued:
                out[device_id] = queued
        return out

    def _devices(self) -> list[str]:
        if not isinstance(self.state, MemoryState):
            raise RuntimeError("this store does I/O: use registry.queues_api (DeviceQueues)")
        return self.state.devices()


__all__ = ["DeviceRegistry", "run_now"]
