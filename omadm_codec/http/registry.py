"""Device accounts, which devices each account may speak for, per-device command queues and
outcomes: the operator's view of the state store a ``DMServerApp`` serves from.

Two ways in: the coroutines of ``DeviceQueues`` (any store, any process) and, on the
in-process store only, the plain methods and dictionaries below (``enqueue``, ``outcomes``,
``queues``), kept for scripts and tests that run the server in their own process.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
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


@dataclass(slots=True)
class DeviceOwnership:
    """Which devices (DevId = SyncHdr Source LocURI) each account may speak for.

    An account either has a fixed set, given when it is created (``allow``), or, created
    without one, may speak for exactly one device: the first it authenticates with, bound
    then (``claim``). A device belongs to one account at most: an account claiming a device
    another account owns is refused whatever its own set says.
    """

    fixed: dict[str, frozenset[str]] = field(default_factory=dict)
    """Account -> the devices it was created with."""
    bound: dict[str, str] = field(default_factory=dict)
    """Account without a fixed set -> the device it first authenticated with."""
    owner: dict[str, str] = field(default_factory=dict)
    """Device -> its account (the reverse of both)."""

    def allow(self, account: str, devices: Iterable[str]) -> None:
        """Fix the devices ``account`` may speak for (replacing what it had); ValueError if
        one of them belongs to another account."""
        wanted = frozenset(devices)
        taken = [d for d in wanted if self.owner.get(d, account) != account]
        if taken:
            raise ValueError(f"devices owned by another account: {sorted(taken)}")
        for device in self.devices_of(account):
            self.owner.pop(device, None)
        self.bound.pop(account, None)
        self.fixed[account] = wanted
        for device in wanted:
            self.owner[device] = account

    def claim(self, account: str, device: str) -> bool:
        """True if ``account`` may speak for ``device`` (binding it if this is the first
        device of an account created without a set)."""
        owner = self.owner.get(device)
        if owner is not None:
            return owner == account
        if account in self.fixed:
            return False
        if account in self.bound:
            return False  # its one device is another
        self.bound[account] = device
        self.owner[device] = account
        return True

    def devices_of(self, account: str) -> frozenset[str]:
        """The devices ``account`` may speak for now (its fixed set, or its bound device)."""
        if account in self.fixed:
            return self.fixed[account]
        device = self.bound.get(account)
        return frozenset() if device is None else frozenset({device})

    def owner_of(self, device: str) -> str | None:
        """The account that owns ``device``, or None."""
        return self.owner.get(device)

    def forget(self, account: str) -> None:
        """Drop what ``account`` owns (it goes back to binding its first device)."""
        for device in self.devices_of(account):
            self.owner.pop(device, None)
        self.fixed.pop(account, None)
        self.bound.pop(account, None)


class DeviceRegistry:
    """Device accounts and the per-device durable command queues of a store.

    ``secrets`` maps a client user name to its stored ``auth.secret_hash`` (give
    ``secrets.get`` as ``ServerConfig.secret_lookup``); ``add_account`` also records the
    account (and the DevIds it may manage) in the store. ``enqueue(device_id, commands)``
    queues commands for the device's next session (keyed by its DevInfo DevId, the SyncHdr
    Source LocURI); ``outcomes[device_id]`` gives the ``CommandCompleted`` of its commands,
    in queue order. The plain methods need the in-process store; ``queues_api`` works on any.

    ``ownership`` says which devices each account may speak for (``claim`` is the
    ``SessionGuards.device_claim`` of a server using this registry): an account created with
    ``devices`` speaks for those only; one created without, for exactly one, the first it
    authenticates with (bound in this process).
    """

    def __init__(self, secrets: dict[str, str] | None = None, *,
                 state: StateStore | None = None) -> None:
        self.secrets: dict[str, str] = secrets if secrets is not None else {}
        self.state: StateStore = state if state is not None else MemoryState()
        self.queues_api = DeviceQueues(self.state)
        self.ownership = DeviceOwnership()

    def add_account(self, username: str, password: str,
                    devices: Iterable[str] | None = None) -> None:
        """Create (or reset) an account, keeping ``auth.secret_hash(username, password)``, never
        the password. ``devices``: the DevIds it may speak for; None: exactly one, the first it
        authenticates with; empty: none. ``ValueError`` if one of them belongs to another
        account."""
        secret = auth.secret_hash(username, password)
        if devices is None:
            self.ownership.forget(username)
        else:
            devices = list(devices)
            self.ownership.allow(username, devices)
        self.secrets[username] = secret
        account = Account(username, secret, None if devices is None else frozenset(devices))
        if self.state.local:
            run_now(self.state.put_account(account))

    def claim(self, account: str, device_id: str) -> bool:
        """The ``SessionGuards.device_claim`` of servers using this registry."""
        return self.ownership.claim(account, device_id)

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


__all__ = ["DeviceOwnership", "DeviceRegistry", "run_now"]
