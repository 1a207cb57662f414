"""Our own DM server for a fleet to drive (``omadm-codec loadtest --self N``): every device of
the fleet has an account (with its auth type), each session gets the standard 20-command mix,
and a device announcing a large object has it fetched.

The one idea: the same ``DMServerApp`` as ``omadm-codec serve``, built for the fleet. It runs in
the harness's process for tests (``build_app``), or as its own process (``python -m
omadm_codec.loadtest.selfserver``, one uvicorn worker, no gevent) so that its CPU time is its
own. ``GET /_loadtest/stats`` answers what the server saw, with its process CPU time.

The state store comes from a URL (``make_store``): ``memory`` (default) is the in-process
store. A shared store (``redis://...``) is refused here: this server hands every session its
commands from an application in its own process, which needs the in-process store; to load a
server on Redis, run ``omadm-codec serve --store redis://... --workers N``, queue its commands
with ``omadm-codec enqueue`` and point the harness at it.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from ..http import DMServerApp, MemoryState, ServerConfig, StateStore
from ..messages.model import Command, Get, Item, Meta, Replace, Target
from ..security import auth
from ..security.nonces import NonceManager
from ..session import ServerSession
from ..session import events as ev
from .device import LARGE_OBJECT_TYPE
from .fleet import AUTH_TYPES, Fleet
from .mix import FleetMix

STATS_PATH = "/_loadtest/stats"


class SelfServerError(Exception):
    """The server cannot be built as asked (a store URL it does not know)."""


def standard_commands() -> list[Command]:
    """The standard 20-command mix: 10 Gets of a leaf, 10 Replaces of another (the session
    benchmark's mix)."""
    gets: list[Command] = [Get("0", [Item(target=Target("./Vendor/Acme/Settings/Ringtone"))])
                           for _ in range(10)]
    replaces: list[Command] = [
        Replace("0", [Item(target=Target("./Vendor/Acme/Settings/Brightness"),
                           meta=Meta(format="int"), data=str(40 + i))]) for i in range(10)]
    return gets + replaces


def make_store(url: str | None, config: ServerConfig) -> StateStore:
    """The state store named by ``url``: None or ``memory`` (the in-process store, sharing
    ``config.nonces``). A shared store is refused (``SelfServerError``): see the module."""
    if url in (None, "", "memory", "memory://"):
        return MemoryState(nonces=config.nonces)
    assert url is not None
    if url.startswith(("redis://", "rediss://", "unix://", "redis+cluster://")):
        raise SelfServerError("--store redis://: the self server gives each session its "
                              "commands from an in-process application; to load a server on "
                              "Redis run 'omadm-codec serve --store URL --workers N', queue "
                              "with 'omadm-codec enqueue' and point the harness at it")
    raise SelfServerError(f"--store: unknown store URL {url!r} (memory or redis://...)")


class Counters:
    """What the server's application saw (read by ``/_loadtest/stats``)."""

    def __init__(self) -> None:
        self.commands_completed = 0
        self.large_objects = 0
        self.alerts = 0


def server_config(fleet: Fleet) -> ServerConfig:
    """Every device's account, its auth type, and the server credentials of the mix."""
    mix = fleet.mix
    secrets: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for user, password, kind in fleet.accounts():
        secrets[user] = auth.secret_hash(user, password)
        kinds[user] = kind

    def kind_of(user: str | None) -> str:
        return kinds.get(user or "", "DIGEST")

    server_auth = AUTH_TYPES[mix.server_auth]
    return ServerConfig(server_id=mix.server_id, secret_lookup=secrets.get,
                        server_secret=None if server_auth == "NONE" else mix.server_password,
                        aauth_type=kind_of,
                        server_auth_type="DIGEST" if server_auth == "NONE" else server_auth,
                        nonces=NonceManager(), idle_timeout=30.0)


def build_app(fleet: Fleet, *, store: str | None = None,
              commands: Callable[[], list[Command]] = standard_commands
              ) -> tuple[DMServerApp, Counters]:
    """The server for ``fleet``: its accounts, the mix's server credentials, and
    ``commands()`` sent in every session."""
    config = server_config(fleet)
    counters = Counters()

    def app_factory() -> Callable[[ServerSession, list[ev.Event]], None]:
        def app(session: ServerSession, events: list[ev.Event]) -> None:
            for event in events:
                if isinstance(event, ev.SessionStarted):
                    session.send_commands(commands())
                elif isinstance(event, ev.AlertReceived):
                    counters.alerts += 1
                    for item in event.items:
                        if item.meta is not None and item.meta.type == LARGE_OBJECT_TYPE \
                                and item.source is not None:
                            session.send_commands([Get("0", [Item(
                                target=Target(item.source.loc_uri))])])
                elif isinstance(event, ev.CommandCompleted):
                    counters.commands_completed += 1
                    if event.results and any(len(r.items) == 1 and isinstance(
                            r.items[0].data, str) and len(r.items[0].data) > 60_000
                            for r in event.results):
                        counters.large_objects += 1
        return app

    app = DMServerApp(config, store=make_store(store, config), app_factory=app_factory)
    return app, counters


def stats_app(app: DMServerApp, counters: Counters) -> Any:
    """``app`` with ``GET /_loadtest/stats`` answered beside it."""

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path") == STATS_PATH:
            times = _cpu()
            body = json.dumps({
                "cpu_seconds": times, "sessions_completed": app.sessions_completed,
                "sessions_failed": app.sessions_failed,
                "commands_completed": counters.commands_completed,
                "large_objects": counters.large_objects, "alerts": counters.alerts}).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    return asgi


def _cpu() -> float:
    import os

    times = os.times()
    return times.user + times.system


def main(argv: list[str] | None = None) -> int:
    """``python -m omadm_codec.loadtest.selfserver``: serve until terminated."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--devices", type=int, required=True)
    parser.add_argument("--mix", help="the fleet's mix (JSON), as the harness uses it")
    parser.add_argument("--store", default="memory")
    args = parser.parse_args(argv)
    import uvicorn

    mix = FleetMix.load(args.mix) if args.mix else FleetMix()
    try:
        app, counters = build_app(Fleet(mix, args.devices), store=args.store)
    except SelfServerError as exc:
        print(f"omadm-codec loadtest: {exc}", file=sys.stderr)
        return 2
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    server = uvicorn.Server(uvicorn.Config(stats_app(app, counters), log_level="warning",
                                           access_log=False, lifespan="off"))
    print(f"READY http://{args.host}:{sock.getsockname()[1]}/dm", flush=True)
    started = time.monotonic()
    server.run(sockets=[sock])
    print(f"stopped after {time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
