"""The operator's sub-commands on a shared state store: ``enqueue DEVICE FILE.xml`` and
``outcomes DEVICE`` (wired into ``omadm_codec.tools.cli``).

The one idea: the DM servers and the operator share one store (``--store redis://HOST:PORT/DB``
or ``$OMADM_STORE``), so queuing work never touches a server process. Failures are one line
(``cli_errors.run``): a missing or unusable store URL is a usage error (exit 2), a store that
cannot be reached or an unreadable file a failure (exit 1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

from ..errors import OmaDmError
from .cli_errors import EXIT_USAGE, CliFailure, about
from .cli_options import display, read_input

STORE_SCHEMES = ("memory://", "redis://", "rediss://", "unix://", "redis+cluster://")


def store_url(text: str) -> str:
    """argparse ``type=`` for a store URL: one of ``STORE_SCHEMES`` (or ``memory``)."""
    if text == "memory" or text.startswith(STORE_SCHEMES):
        return text
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a store URL (memory://, redis://HOST:PORT/DB, rediss://..., "
        "unix://PATH, redis+cluster://HOST:PORT)")


def _shared_store(args: argparse.Namespace) -> str:
    url: str | None = args.store or os.environ.get("OMADM_STORE") or None
    if url is not None and url != "memory" and not url.startswith(STORE_SCHEMES):
        raise CliFailure("OMADM_STORE", f"{url!r} is not a store URL (redis://HOST:PORT/DB, "
                         "rediss://..., unix://PATH, redis+cluster://HOST:PORT)", EXIT_USAGE)
    if not url or url.startswith("memory"):
        raise CliFailure("--store", "give the servers' shared store: --store "
                         "redis://HOST:PORT/DB (or set OMADM_STORE); an in-process store "
                         "cannot be reached from another process", EXIT_USAGE)
    return url


def cmd_enqueue(args: argparse.Namespace) -> int:
    """``omadm-codec enqueue DEVICE FILE``: queue the file's commands for the device."""
    from ..http.operator import DeviceQueues
    from ..http.state_url import open_store
    from ..http.stored import commands_from_file

    url = _shared_store(args)
    with about(display(args.file)):
        data = read_input(args.file)
    with about(display(args.file), data):
        commands = commands_from_file(data)

    async def run() -> list[str]:
        store = open_store(url)
        try:
            return await DeviceQueues(store).enqueue(args.device, commands, key=args.key,
                                                     repeatable=args.repeatable)
        finally:
            await store.close()

    with about(url):
        ids = asyncio.run(run())
    names = ", ".join(c.ELEMENT for c in commands)
    print(f"queued for {args.device}: {names} (entries {', '.join(ids)})")
    return 0


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp)) + f".{int(stamp % 1 * 1000):03d}Z"


def cmd_outcomes(args: argparse.Namespace) -> int:
    """``omadm-codec outcomes DEVICE``: every command of the device, its state and outcome."""
    from ..http.operator import DeviceQueues
    from ..http.state import Entry
    from ..http.state_url import open_store
    from ..http.stored import command_from_xml

    url = _shared_store(args)

    async def run() -> list[Entry]:
        store = open_store(url)
        try:
            return await DeviceQueues(store).entries(args.device)
        finally:
            await store.close()

    with about(url):
        entries = asyncio.run(run())
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


def add_state_commands(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``enqueue`` and ``outcomes`` to the command line's sub-commands."""
    enqueue = sub.add_parser(
        "enqueue", help="queue DM commands for a device in the servers' shared store",
        description="Queue DM commands for a device's next session, in the state store the "
                    "DM servers share (serve --store): no server process is touched. Each "
                    "command is delivered once: queued -> sent -> done, or unknown when its "
                    "session ends without an answer after it may have reached the device.",
        epilog="example: omadm-codec enqueue IMEI:490154203237518 reboot.xml "
               "--store redis://127.0.0.1:6379/0 --key reboot-2026-12-06")
    enqueue.add_argument("device", help="the device's DevId, e.g. IMEI:490154203237518")
    enqueue.add_argument("file", help="a SyncML message or bare DM commands (XML), or - for "
                                      "standard input")
    enqueue.add_argument("--store", type=store_url, metavar="URL",
                         help="the servers' shared store, redis://HOST:PORT/DB (default: "
                              "$OMADM_STORE)")
    enqueue.add_argument("--key", metavar="KEY",
                         help="idempotency key: the same key again queues nothing and prints "
                              "the first call's entries (default: none)")
    enqueue.add_argument("--repeatable", action="store_true",
                         help="safe to run twice: queued again instead of 'unknown' when a "
                              "session ends without its answer")
    enqueue.set_defaults(func=cmd_enqueue)
    outcomes = sub.add_parser(
        "outcomes", help="a device's queued commands: state and outcome",
        description="Every command queued for a device in the servers' shared store: its "
                    "state (queued, sent, done, unknown) and, once done, its Status.",
        epilog="example: omadm-codec outcomes IMEI:490154203237518 --history "
               "--store redis://127.0.0.1:6379/0")
    outcomes.add_argument("device", help="the device's DevId, e.g. IMEI:490154203237518")
    outcomes.add_argument("--store", type=store_url, metavar="URL",
                          help="the servers' shared store, redis://HOST:PORT/DB (default: "
                               "$OMADM_STORE)")
    outcomes.add_argument("--history", action="store_true",
                          help="every state change of each command, with its time (UTC)")
    outcomes.add_argument("--json", action="store_true",
                          help="one JSON array, every field of every command")
    outcomes.set_defaults(func=cmd_outcomes)


__all__ = ["STORE_SCHEMES", "add_state_commands", "cmd_enqueue", "cmd_outcomes", "store_url"]
