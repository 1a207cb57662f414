"""The session-related command-line sub-commands: ``demo``, ``serve``, ``device``,
``decode``, ``encode`` and ``inspect`` (wired into ``omadm_codec.tools.cli``).

The one idea: each is a thin shell over the public API (``demo.run_demo``,
``http.DMServerApp`` / ``run_http_session``, ``messages.decode`` / ``encode``) and returns the
process exit status.
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import OmaDmError


def _read(path: str) -> bytes:
    return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()


def _need_http() -> bool:
    """True if the ``http`` extra is installed; else say how to get it."""
    try:
        import httpx  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        print(f"omadm-codec: this needs the http extra ({exc.name} is missing): "
              "pip install 'omadm_codec[http]'", file=sys.stderr)
        return False
    return True


def cmd_demo(args: argparse.Namespace) -> int:
    """``omadm-codec demo``: run the checked demo; the exit status is the demo's."""
    from .demo import run_demo

    if not _need_http():
        return 2
    return run_demo(fmt=args.format, show_messages=args.show_messages, timeout=args.timeout)


@dataclass(frozen=True, slots=True)
class ServeAccount:
    """One device account of ``serve``: ``USER:PASSWORD[:DEVID]``."""

    user: str
    password: str
    device: str | None = None
    """The DevId (SyncHdr Source LocURI) bound to the account, if any (may hold ':')."""


def parse_account(text: str) -> ServeAccount:
    """``USER:PASSWORD[:DEVID]`` (the password cannot hold ':'; the DevId may: ``IMEI:...``).
    Raises ``ValueError`` with what is wrong."""
    user, sep, rest = text.strip().partition(":")
    password, _, device = rest.partition(":")
    if not sep or not user or not password:
        raise ValueError(f"an account is USER:PASSWORD[:DEVID], not {text.strip()!r}")
    return ServeAccount(user, password, device or None)


def read_accounts(path: str) -> list[ServeAccount]:
    """The accounts in ``path``: one ``USER:PASSWORD[:DEVID]`` a line; blank lines and lines
    starting with ``#`` are skipped."""
    accounts = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            try:
                accounts.append(parse_account(line))
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: {exc}") from None
    return accounts


def device_binding(accounts: list[ServeAccount]) -> Callable[[str], list[str]]:
    """``accounts_for_device`` of ``serve``: the accounts bound to that DevId, else every
    account bound to none (so one unbound account fits any device)."""

    def fits(device: str) -> list[str]:
        bound = [a.user for a in accounts if a.device == device]
        return bound or [a.user for a in accounts if a.device is None]
    return fits


def cmd_serve(args: argparse.Namespace) -> int:
    """``omadm-codec serve``: run a DM server over HTTP(S) until interrupted (or ``--duration``);
    print how many sessions completed and failed."""
    if not _need_http():
        return 2
    from ..http import (
        DMServerApp,
        HttpLimits,
        MemorySessionStore,
        ServerConfig,
        ServerThread,
        TlsConfig,
    )
    from ..http.connections import raise_descriptor_limit
    from ..security import auth
    from ..security.nonces import NonceManager
    from ..session import CommandCompleted, SessionEnded
    from .demo import INITIAL_SERVER_NONCE
    from .demo_scenario import DemoServerApp
    from .simulator import DEVICE_SECRET, DEVICE_USER, SERVER_ID, SERVER_SECRET

    try:
        accounts = [parse_account(text) for text in args.account or []]
        for path in args.accounts or []:
            accounts += read_accounts(path)
    except (ValueError, OSError) as exc:
        print(f"omadm-codec serve: {exc}", file=sys.stderr)
        return 2
    demo = args.demo_credentials
    if demo:
        accounts.append(ServeAccount(DEVICE_USER, DEVICE_SECRET))
    if not accounts:
        print("omadm-codec serve: no account: give --account USER:PASSWORD[:DEVID] or "
              "--accounts FILE (or --demo-credentials to try the simulated device)",
              file=sys.stderr)
        return 2
    server_password = args.server_password or (SERVER_SECRET if demo else None)
    generated = False
    if args.server_auth != "NONE" and server_password is None:
        server_password, generated = secrets.token_urlsafe(12), True
    server_nonce = (args.server_nonce.encode("utf-8") if args.server_nonce is not None
                    else INITIAL_SERVER_NONCE if demo else None)
    nonces = NonceManager()
    secret_of = {}
    for account in accounts:
        secret_of[account.user] = auth.secret_hash(account.user, account.password)
        if server_nonce is not None:
            # Pre-shared with the device; otherwise its first 401 + Chal resyncs it.
            nonces.reset_resync(account.user, "SRVCRED", server_nonce)
    config = ServerConfig(
        server_id=args.server_id or SERVER_ID, secret_lookup=secret_of.get,
        server_secret=None if args.server_auth == "NONE" else server_password,
        aauth_type=args.client_auth,
        server_auth_type="DIGEST" if args.server_auth == "NONE" else args.server_auth,
        nonces=nonces, strict=args.strict, accounts_for_device=device_binding(accounts),
        max_commands_per_message=args.max_commands_per_message)
    config.guards = dataclasses.replace(config.guards, message_auth=args.message_auth)

    def logged() -> DemoServerApp:
        script = DemoServerApp()

        def app(session: Any, events: list[Any]) -> None:
            script(session, events)
            for event in events:
                if isinstance(event, CommandCompleted):
                    print(f"  {session.device_id}: {event.command.ELEMENT} -> {event.status} "
                          f"{event.outcome}", flush=True)
                elif isinstance(event, SessionEnded):
                    quirks = (f"; quirks absorbed: {', '.join(session.quirks)}"
                              if session.quirks else "")
                    print(f"  {session.device_id}: session ended ({event.reason}){quirks}",
                          flush=True)
        return app  # type: ignore[return-value]

    store = MemorySessionStore(args.max_sessions, args.max_unauthenticated_sessions)
    app = DMServerApp(config, path=args.path, app_factory=logged, store=store,
                      base_url=args.public_url, body_timeout=args.body_timeout)
    tls = TlsConfig(args.tls_cert, args.tls_key, args.client_ca) if args.tls_cert else None
    raise_descriptor_limit()  # the connection cap is then kept below the new limit
    limits = HttpLimits(header_timeout=args.header_timeout,
                        keepalive_timeout=args.keepalive_timeout,
                        max_connections=args.max_connections,
                        graceful_timeout=args.graceful_timeout)
    with ServerThread(app, host=args.host, port=args.port, tls=tls, limits=limits,
                      trusted_proxies=args.trusted_proxies) as server:
        print(f"DM server on {server.url}{app.path} (server id {config.server_id}; accounts: "
              f"{', '.join(a.user for a in accounts)}; client auth {args.client_auth}, server "
              f"auth {args.server_auth}); Ctrl-C to stop", flush=True)
        if demo:
            print("  using the demo's publicly known credentials and initial nonce: for the "
                  "simulated device on this machine only", flush=True)
        if generated:
            print(f"  server password (generated; the device's SRVCRED secret): "
                  f"{server_password}", flush=True)
        deadline = None if args.duration is None else time.monotonic() + args.duration
        # SIGTERM (a service manager stopping us) drains like Ctrl-C: leaving the ``with``
        # stops accepting and lets requests in flight finish (--graceful-timeout).
        stopping = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        try:
            while not stopping.is_set() and (deadline is None or time.monotonic() < deadline):
                stopping.wait(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
    print(f"sessions completed: {app.sessions_completed}, failed: {app.sessions_failed}")
    return 0


def cmd_device(args: argparse.Namespace) -> int:
    """``omadm-codec device URL``: run one session of the simulated device against a DM server and
    print what happened."""
    if not _need_http():
        return 2
    from ..http import client_tls_context, run_http_session
    from ..session import ClientSession, UiResponse
    from ..session import events as ev
    from .demo import Transcript
    from .simulator import ScriptedUser, build_tree, load_tree, save_tree

    db = Path(args.db)
    if db.exists():
        tree = load_tree(db)
    else:
        from .simulator import DEVICE_SECRET, DEVICE_USER, SERVER_ID, SERVER_SECRET

        tree = build_tree(server_addr=args.url, server_auth=args.server_auth,
                          server_nonce=secrets.token_bytes(16),  # the server resyncs it
                          client_auth=args.client_auth,
                          server_id=args.server_id or SERVER_ID,
                          client_name=args.user or DEVICE_USER,
                          client_secret=args.password or DEVICE_SECRET,
                          server_secret=args.server_password or SERVER_SECRET,
                          **({"dev_id": args.dev_id} if args.dev_id else {}))
    verify = client_tls_context(args.ca, args.cert, args.key) if args.url.startswith(
        "https") else True
    client = ClientSession(tree, fmt=args.format,
                           ui=ScriptedUser([UiResponse(200), UiResponse(304)]))
    try:
        events = run_http_session(client, args.url, verify=verify, timeout=args.timeout,
                                  trace=Transcript(sys.stdout, args.show_messages))
    except (OmaDmError, OSError) as exc:
        print(f"omadm-codec device: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        save_tree(tree, db)
    ended = [e for e in events if isinstance(e, ev.SessionEnded)]
    print(f"\nsession ended: {ended[-1].reason if ended else 'unknown'}; tree saved to {db}")
    return 0 if ended and ended[-1].reason == "completed" else 1


def cmd_decode(args: argparse.Namespace) -> int:
    """Any DM message (XML or WBXML) -> canonical XML of the decoded model."""
    from ..messages import decode, encode

    try:
        msg = decode(_read(args.file))
        sys.stdout.buffer.write(encode(msg, "xml") + b"\n")
    except OmaDmError as exc:
        print(f"omadm-codec: {args.file}: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    """Any DM message -> WBXML (``-o`` file, else hex on stdout)."""
    from ..messages import decode, encode

    try:
        wbxml = encode(decode(_read(args.file)), "wbxml")
    except OmaDmError as exc:
        print(f"omadm-codec: {args.file}: {exc}", file=sys.stderr)
        return 1
    if args.output:
        Path(args.output).write_bytes(wbxml)
    else:
        print(wbxml.hex(" "))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    """A readable summary: header fields, then one line per command."""
    from ..messages import decode
    from .demo import describe

    data = _read(args.file)
    try:
        msg = decode(data)
    except OmaDmError as exc:
        print(f"omadm-codec: {args.file}: {exc}", file=sys.stderr)
        return 1
    hdr = msg.header
    kind = "WBXML" if data[:1] and data[0] <= 3 else "XML"
    print(f"{kind}, {len(data)} bytes, {hdr.ver_proto}, SessionID {hdr.session_id}, "
          f"MsgID {hdr.msg_id}, Final: {msg.final}")
    print(f"  from {hdr.source.loc_uri}" + (f" ({hdr.source_name})" if hdr.source_name else "")
          + f" to {hdr.target.loc_uri}")
    if hdr.cred is not None and hdr.cred.meta is not None:
        print(f"  Cred {hdr.cred.meta.type}")
    if hdr.meta is not None and hdr.meta.max_msg_size:
        print(f"  MaxMsgSize {hdr.meta.max_msg_size}, MaxObjSize {hdr.meta.max_obj_size}")
    if msg.quirks:
        print(f"  quirks: {', '.join(msg.quirks)}")
    for command in msg.commands:
        for line in describe(command):
            print(f"  {line}")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the session subcommands (``demo``, ``serve``, ``device``) to the CLI's parser."""
    demo = sub.add_parser("demo", help="a full DM session over HTTP on loopback, checked")
    demo.add_argument("--format", choices=["xml", "wbxml"], default="xml")
    demo.add_argument("--show-messages", action="store_true", help="print every message")
    demo.add_argument("--timeout", type=float, default=10.0, help="per-request seconds")
    demo.set_defaults(func=cmd_demo)
    serve = sub.add_parser(
        "serve", help="run a DM server with the demo's management script",
        description="A DM server on HTTP(S) that runs the demo's management script on every "
                    "device that connects. Pointing a real client at it: docs/interop.md; its "
                    "defences and limits: docs/security.md.")
    where = serve.add_argument_group("where")
    where.add_argument("--host", default="127.0.0.1")
    where.add_argument("--port", type=int, default=8080)
    where.add_argument("--path", default="/dm",
                       help="the DM URL's path (libdmclient's default is /funambol/dm)")
    where.add_argument("--public-url", metavar="URL",
                       help="base URL devices reach this server at (RespURIs are built on it; "
                            "default: the listening address)")
    where.add_argument("--trusted-proxies", metavar="ADDRESSES",
                       help="proxies whose X-Forwarded-For names the device (comma-separated)")
    where.add_argument("--tls-cert")
    where.add_argument("--tls-key")
    where.add_argument("--client-ca", help="require client certificates from this CA")
    where.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    who = serve.add_argument_group("accounts and authentication")
    who.add_argument("--account", action="append", metavar="USER:PASSWORD[:DEVID]",
                     help="a device account (repeatable); with DEVID, bound to that device")
    who.add_argument("--accounts", action="append", metavar="FILE",
                     help="a file of accounts, one USER:PASSWORD[:DEVID] a line, # comments")
    who.add_argument("--demo-credentials", action="store_true",
                     help="add the demo's publicly known account, server password and "
                          "initial nonce (for the simulated device on this machine only)")
    who.add_argument("--client-auth", choices=["DIGEST", "BASIC", "HMAC"], default="DIGEST")
    who.add_argument("--server-auth", choices=["DIGEST", "BASIC", "HMAC", "NONE"],
                     default="DIGEST", help="how the server proves itself to the device")
    who.add_argument("--server-id", help="the ServerID in the devices' DMAcc (default: the "
                                         "simulated device's)")
    who.add_argument("--server-password", help="the device's SRVCRED secret (default: random, "
                                               "printed)")
    who.add_argument("--server-nonce", metavar="TEXT",
                     help="pre-share this SRVCRED nonce with every device (default: none; the "
                          "device's first 401 + Chal resyncs it)")
    who.add_argument("--message-auth", choices=["session", "every_message"],
                     default="session",
                     help="every_message: credentials (or the HMAC header) on every message")
    limits = serve.add_argument_group("limits")
    limits.add_argument("--header-timeout", type=float, default=10.0, metavar="SECONDS")
    limits.add_argument("--body-timeout", type=float, default=10.0, metavar="SECONDS")
    limits.add_argument("--keepalive-timeout", type=float, default=5.0, metavar="SECONDS")
    limits.add_argument("--graceful-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="time requests in flight get to finish at shutdown")
    limits.add_argument("--max-connections", type=int, default=None,
                        help="open connections at once (default: min(1000, descriptors - 64))")
    limits.add_argument("--max-sessions", type=int, default=100_000,
                        help="authenticated sessions kept at once")
    limits.add_argument("--max-unauthenticated-sessions", type=int, default=10_000,
                        help="sessions of peers that have not authenticated kept at once")
    protocol = serve.add_argument_group("protocol")
    protocol.add_argument("--strict", action="store_true",
                          help="absorb no client deviation (docs/interop.md: each quirk "
                               "refused)")
    protocol.add_argument("--max-commands-per-message", type=int, metavar="N",
                          help="send at most N commands per message (libdmclient cannot reply "
                               "to more than about 90 Gets at once)")
    serve.set_defaults(func=cmd_serve)
    device = sub.add_parser("device", help="run the simulated device against a DM server")
    device.add_argument("url")
    device.add_argument("--db", default="omadm-device.sqlite", help="the device's tree")
    device.add_argument("--format", choices=["xml", "wbxml"], default="xml")
    device.add_argument("--server-auth", choices=["DIGEST", "HMAC", "NONE"], default="HMAC")
    device.add_argument("--ca")
    device.add_argument("--cert")
    device.add_argument("--key")
    device.add_argument("--timeout", type=float, default=10.0)
    device.add_argument("--show-messages", action="store_true")
    device.add_argument("--client-auth", choices=["DIGEST", "BASIC", "HMAC"], default="DIGEST")
    device.add_argument("--server-id", help="the DM server's ServerID")
    device.add_argument("--user", help="the device's user name (CLCRED AAuthName)")
    device.add_argument("--password", help="the device's password (CLCRED AAuthSecret)")
    device.add_argument("--server-password", help="the server's password (SRVCRED)")
    device.add_argument("--dev-id", help="DevInfo/DevId, e.g. IMEI:...")
    device.set_defaults(func=cmd_device)
    for name, func, text in (("decode", cmd_decode, "a DM message -> canonical XML"),
                             ("encode", cmd_encode, "a DM message -> WBXML"),
                             ("inspect", cmd_inspect, "summarise a DM message")):
        parser = sub.add_parser(name, help=text)
        parser.add_argument("file", help="input file, or - for standard input")
        if name == "encode":
            parser.add_argument("-o", "--output")
        parser.set_defaults(func=func)


__all__ = ["ServeAccount", "add_commands", "device_binding", "parse_account",
           "read_accounts"]
