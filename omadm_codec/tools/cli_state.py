"""The operator's sub-commands on a shared state store: ``enqueue DEVICE FILE.xml`` and
``outcomes DEVICE`` (wired into ``omadm_codec.tools.cli``).

The one idea: the DM servers and the operator share one store (``--store redis://HOST:PORT/DB``
or ``$OMADM_STORE``), so queuing work never touches a server process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import OmaDmError


def _store_url(args: argparse.Namespace) -> str | None:
    url: str | None = args.store or os.environ.get("OMADM_STORE")
    if not url or url.startswith("memory"):
        print("omadm-codec: give the servers' shared store: --store redis://HOST:PORT/DB "
              "(or set OMADM_STORE); an in-process store cannot be reached from here",
              file=sys.stderr)
        return None
    return url


def cmd_enqueue(args: argparse.Namespace) -> int:
    """``omadm-codec enqueue DEVICE FILE``: queue the file's commands for the device."""
    from ..http.operator import DeviceQueues
    from ..http.state import StateError
    from ..http.state_url import open_store
    from ..http.stored import commands_from_file

    url = _store_url(args)
    if url is None:
        return 2
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
        commands = commands_from_file(data)
    except (OSError, OmaDmError, UnicodeDecodeError) as exc:
        print(f"omadm-codec enqueue: {args.file}: {exc}", file=sys.stderr)
        return 1

    async def run() -> list[str]:
        store = open_store(url)
        try:
            return await DeviceQueues(store).enqueue(args.device, commands, key=args.key,
                                                     repeatable=args.repeatable)
        finally:
            await store.close()

    try:
        ids = asyncio.run(run())
    except StateError as exc:
        print(f"omadm-codec enqueue: the store: {exc}", file=sys.stderr)
        return 1
    names = ", ".join(c.ELEMENT for c in commands)
    print(f"queued for {args.device}: {names} (entries {', '.join(ids)})")
    return 0


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp)) + f".{int(stamp % 1 * 1000):03d}Z"


def cmd_outcomes(args: argparse.Namespace) -> int:
    """``omadm-codec outcomes DEVICE``: every command of the device, its state and outcome."""
    from ..http.operator import DeviceQueues
    from ..http.state import Entry, StateError
    from ..http.state_url import open_store
    from ..http.stored import command_from_xml

    url = _store_url(args)
    if url is None:
        return 2

    async def run() -> list[Entry]:
        store = open_store(url)
        try:
            return await DeviceQueues(store).entries(args.device)
        finally:
            await store.close()

    try:
        entries = asyncio.run(run())
    except StateError as exc:
        print(f"omadm-codec outcomes: the store: {exc}", file=sys.stderr)
        return 1
    if args.json:
        rows: list[dict[str, Any]] = [
            {"id": e.entry_id, "state": e.state, "command": e.command, "key": e.key,
             "repeatable": e.repeatable, "session": e.session, "outcome": e.outcome,
             "history": [list(h) for h in e.history]} for e in entries]
        print(json.dumps(rows, indent=2))
        return 0
    if not entries:
        print(f"{args.device}: no commands")
        return 0
    for entry in entries:
        try:
            command = command_from_xml(entry.command)
            what = command.ELEMENT
            items = getattr(command, "items", None) or []
            if items and getattr(items[0], "target", None) is not None:
                what += f" {items[0].target.loc_uri}"
        except OmaDmError:
            what = "(unreadable command)"
        status = ""
        if entry.outcome is not None:
            status = (f" -> refused ({entry.outcome['refused']})" if entry.outcome.get("refused")
                      else f" -> {entry.outcome.get('status')}")
        print(f"#{entry.entry_id} {entry.state:<7} {what}{status}")
        if args.history:
            for when, state, detail in entry.history:
                print(f"    {_when(when)} {state}" + (f" ({detail})" if detail else ""))
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``enqueue`` and ``outcomes`` to the command line's sub-commands."""
    enqueue = sub.add_parser("enqueue", help="queue DM commands for a device (shared store)")
    enqueue.add_argument("device", help="the device's DevId, e.g. IMEI:490154203237518")
    enqueue.add_argument("file", help="a SyncML message or bare commands (XML), or - for stdin")
    enqueue.add_argument("--store", help="the shared store, redis://HOST:PORT/DB "
                         "(default: $OMADM_STORE)")
    enqueue.add_argument("--key", help="idempotency key: the same key again queues nothing")
    enqueue.add_argument("--repeatable", action="store_true",
                         help="safe to run twice: requeued instead of 'unknown' when a "
                              "session ends without its answer")
    enqueue.set_defaults(func=cmd_enqueue)
    outcomes = sub.add_parser("outcomes", help="a device's commands: state and outcome")
    outcomes.add_argument("device")
    outcomes.add_argument("--store", help="the shared store (default: $OMADM_STORE)")
    outcomes.add_argument("--history", action="store_true", help="every state change")
    outcomes.add_argument("--json", action="store_true", help="machine-readable")
    outcomes.set_defaults(func=cmd_outcomes)


__all__ = ["add_commands"]
