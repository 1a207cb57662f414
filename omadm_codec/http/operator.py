"""The operator's side of the state store: queue commands for devices and read what became of
them, from any process (a script, another service, ``omadm-codec enqueue``/``outcomes``),
without touching the DM server.

``DeviceQueues(store)`` works on any ``StateStore``; with ``RedisState`` the workers serving
the devices see the commands at each device's next session.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ..messages.model import Command
from ..session import events as ev
from .state import Entry, StateStore
from .stored import command_xml, completed_from_entry


class DeviceQueues:
    """Enqueue, inspect and clear per-device command queues."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    async def enqueue(self, device_id: str, commands: Sequence[Command], *,
                      key: str | None = None, repeatable: bool = False) -> list[str]:
        """Queue ``commands`` for the device's next session; returns their entry ids.

        ``key`` makes a retried call one enqueue (the same ids come back, nothing is added).
        ``repeatable`` marks commands safe to run twice: if their session ends without an
        answer they go back to the queue instead of becoming ``unknown``."""
        if not device_id:
            raise ValueError("a device id (the DevInfo DevId, e.g. IMEI:...) is needed")
        texts = [command_xml(c) for c in commands]
        return await self.store.enqueue(device_id, texts, key=key, repeatable=repeatable,
                                        now=time.time())

    async def entries(self, device_id: str) -> list[Entry]:
        """Every command of the device with its state and history. Sessions that expired
        with commands in flight are settled first (their commands become ``unknown``)."""
        await self.store.reap(time.time())
        return await self.store.entries(device_id)

    async def outcomes(self, device_id: str) -> list[ev.CommandCompleted]:
        """The ``CommandCompleted`` of every ``done`` command, in queue order."""
        out = []
        for entry in await self.entries(device_id):
            completed = completed_from_entry(entry)
            if completed is not None:
                out.append(completed)
        return out

    async def forget(self, device_id: str, entry_ids: Sequence[str]) -> int:
        """Drop finished (``done``/``unknown``) entries once read; returns how many."""
        return await self.store.forget(device_id, entry_ids)


__all__ = ["DeviceQueues"]
