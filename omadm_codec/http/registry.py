"""Device accounts, which devices each account may speak for, per-device command queues and
outcomes: the default server application."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..messages.model import Command
from ..security import auth
from ..session import ServerSession
from ..session import events as ev

# Commands refused for these reasons can never reach the device: they are not queued again.
UNDELIVERABLE = frozenset({"too_large", "max_obj_size"})


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


@dataclass(slots=True)
class DeviceRegistry:
    """Device accounts and the per-device command queue the server application fills.

    ``enqueue(device_id, commands)`` queues commands for the device's next session (keyed by
    its DevInfo DevId, the SyncHdr Source LocURI); ``outcomes[device_id]`` collects the
    ``CommandCompleted`` events of its sessions. Commands a session could not finish (it
    timed out, was aborted, or failed inside the server) go back to the head of their
    device's queue, in order: delivery is at least once.
    """

    secrets: dict[str, str] = field(default_factory=dict)
    """Client user name -> stored ``auth.secret_hash``."""
    queues: dict[str, list[Command]] = field(default_factory=dict)
    outcomes: dict[str, list[ev.CommandCompleted]] = field(default_factory=dict)
    ownership: DeviceOwnership = field(default_factory=DeviceOwnership)

    def add_account(self, username: str, password: str,
                    devices: Iterable[str] | None = None) -> None:
        """Create (or reset) an account, keeping ``auth.secret_hash(username, password)``, never
        the password. ``devices``: the DevIds it may speak for; None: exactly one, the first it
        authenticates with; empty: none."""
        self.secrets[username] = auth.secret_hash(username, password)
        if devices is None:
            self.ownership.forget(username)
        else:
            self.ownership.allow(username, devices)

    def claim(self, account: str, device_id: str) -> bool:
        """The ``SessionGuards.device_claim`` of servers using this registry."""
        return self.ownership.claim(account, device_id)

    def enqueue(self, device_id: str, commands: list[Command]) -> None:
        """Queue ``commands`` for the next session of the device whose DevId is ``device_id``."""
        self.queues.setdefault(device_id, []).extend(commands)

    def __call__(self, session: ServerSession, events: list[ev.Event]) -> None:
        """The default server application: hand the device its queue, record outcomes, take
        back what a session could not deliver."""
        back: list[Command] = []
        for event in events:
            if isinstance(event, ev.SessionStarted):
                queued = self.queues.pop(event.device_id, [])
                if queued:
                    session.send_commands(queued)
            elif isinstance(event, ev.CommandCompleted):
                self.outcomes.setdefault(session.device_id, []).append(event)
            elif isinstance(event, ev.CommandRefused) and event.reason not in UNDELIVERABLE:
                back.append(event.command)
        if back and session.device_id:
            queue = self.queues.setdefault(session.device_id, [])
            queue[:0] = back
