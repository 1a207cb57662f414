"""Device accounts, per-device command queues and outcomes: the default server application."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..messages.model import Command
from ..security import auth
from ..session import ServerSession
from ..session import events as ev


@dataclass(slots=True)
class DeviceRegistry:
    """Device accounts and the per-device command queue the server application fills.

    ``enqueue(device_id, commands)`` queues commands for the device's next session (keyed by
    its DevInfo DevId, the SyncHdr Source LocURI); ``outcomes[device_id]`` collects the
    ``CommandCompleted`` events of its sessions.
    """

    secrets: dict[str, str] = field(default_factory=dict)
    """Client user name -> stored ``auth.secret_hash``."""
    queues: dict[str, list[Command]] = field(default_factory=dict)
    outcomes: dict[str, list[ev.CommandCompleted]] = field(default_factory=dict)

    def add_account(self, username: str, password: str) -> None:
        """Register a device account: keep ``auth.secret_hash(username, password)``, never the
        password."""
        self.secrets[username] = auth.secret_hash(username, password)

    def enqueue(self, device_id: str, commands: list[Command]) -> None:
        """Queue ``commands`` for the next session of the device whose DevId is ``device_id``."""
        self.queues.setdefault(device_id, []).extend(commands)

    def __call__(self, session: ServerSession, events: list[ev.Event]) -> None:
        """The default server application: hand the device its queue, record outcomes."""
        for event in events:
            if isinstance(event, ev.SessionStarted):
                queued = self.queues.pop(event.device_id, [])
                if queued:
                    session.send_commands(queued)
            elif isinstance(event, ev.CommandCompleted):
                self.outcomes.setdefault(session.device_id, []).append(event)
