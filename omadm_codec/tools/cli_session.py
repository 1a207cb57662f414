"""The session-related command-line sub-commands: ``demo``, ``serve``, ``device``,
``decode``, ``encode`` and ``inspect`` (wired into ``omadm_codec.tools.cli``).

The one idea: each is a thin shell over the public API (``demo.run_demo``,
``http.DMServerApp`` / ``run_http_session``, ``messages.decode`` / ``encode``) and returns the
process exit status; failures are raised and worded by ``cli_errors.run``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cli_errors import EXIT_USAGE, CliFailure, about
from .cli_options import (
    add_limit_options,
    bounded_int,
    display,
    http_url,
    limits_from,
    port,
    positive_float,
    read_input,
    write_output,
)
from .cli_state import store_url


def _need_http() -> bool:
    """True if the ``http`` extra is installed; else a failure that says how to get it."""
    try:
        import httpx  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise CliFailure("http extra", f"{exc.name} is missing; install it with: "
                                       "pip install 'omadm_codec[http]'") from None
    return True


def _say(text: str) -> None:
    """One line to standard output in one write: ``serve --workers N`` runs N processes on one
    pipe, and ``print`` writes the text and its newline apart (unbuffered, they interleave)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _need_together(args: argparse.Namespace, main: str, others: tuple[str, ...]) -> None:
    """A usage error when an option of ``others`` is given without ``main`` (a TLS key
    without its certificate would otherwise be ignored, silently)."""
    for other in others:
        if getattr(args, other) and not getattr(args, main):
            flag = "--" + main.replace("_", "-")
            raise CliFailure("--" + other.replace("_", "-"), f"needs {flag} too", EXIT_USAGE)


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


def cmd_demo(args: argparse.Namespace) -> int:
    """``omadm-codec demo``: run the checked demo; the exit status is the demo's."""
    from .demo import run_demo

    if not _need_http():
        return 2
    return run_demo(fmt=args.format, show_messages=args.show_messages, timeout=args.timeout)


def _seal_key(args: argparse.Namespace) -> bytes | None:
    """The snapshot seal key every worker shares: --seal-key-file, else $OMADM_SEAL_KEY
    (hex), else None."""
    if args.seal_key_file:
        data = Path(args.seal_key_file).read_bytes().strip()
        try:
            return bytes.fromhex(data.decode("ascii"))
        except ValueError:
            return data
    text = os.environ.get("OMADM_SEAL_KEY")
    return bytes.fromhex(text) if text else None


def _serve_workers(args: argparse.Namespace, argv: list[str]) -> int:
    """``serve --workers N``: N worker processes on one port (SO_REUSEPORT), restarted if one
    dies, stopped together; they share the store and the seal key."""
    import secrets
    import signal
    import subprocess

    env = dict(os.environ)
    if _seal_key(args) is None:
        env["OMADM_SEAL_KEY"] = secrets.token_hex(32)
    command = [sys.executable, "-m", "omadm_codec", *argv, "--workers", "1", "--reuse-port",
               "--quiet-banner"]

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, env=env)

    workers = [spawn() for _ in range(args.workers)]
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    _say(f"DM server on http://{args.host}:{args.port}{args.path} with {args.workers} "
         f"workers (pids {', '.join(str(w.pid) for w in workers)}), store {args.store}; "
         "Ctrl-C to stop")
    deadline = None if args.duration is None else time.monotonic() + args.duration
    try:
        while not stop and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.2)
            for index, worker in enumerate(workers):
                if worker.poll() is not None:
                    print(f"worker {worker.pid} exited ({worker.returncode}); restarting",
                          file=sys.stderr, flush=True)
                    workers[index] = spawn()
    except KeyboardInterrupt:
        pass
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    for worker in workers:
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """``omadm-codec serve``: run a DM server over HTTP(S) until interrupted (or ``--duration``);
    print how many sessions completed and failed."""
    if not _need_http():
        return 2
    if args.workers > 1:
        if args.store in (None, "memory", "memory://"):
            raise CliFailure("--workers", "several workers need a shared store (--store "
                                          "redis://HOST:PORT/DB)", EXIT_USAGE)
        # Each child is given --workers 1 (and the rest of this command line).
        cleaned, skip = [], False
        for arg in sys.argv[1:]:
            if skip:
                skip = False
                continue
            if arg == "--workers":
                skip = True
                continue
            if arg.startswith("--workers="):
                continue
            cleaned.append(arg)
        return _serve_workers(args, cleaned)
    from ..http import DMServerApp, HttpLimits, ServerConfig, ServerThread, TlsConfig
    from ..http.connections import raise_descriptor_limit
    from ..http.runner import settle_heap
    from ..http.state import Account, NonceSwap
    from ..http.state_url import open_store
    from ..security import auth
    from ..security.nonces import NonceManager, StoredNonce
    from ..session import CommandCompleted, SessionEnded
    from .demo import INITIAL_SERVER_NONCE
    from .demo_scenario import DemoServerApp
    from .simulator import DEVICE_SECRET, DEVICE_USER, SERVER_ID, SERVER_SECRET

    _need_together(args, "tls_cert", ("tls_key", "client_ca"))
    try:
        accounts = [parse_account(text) for text in args.account or []]
        for path in args.accounts or []:
            with about(path):
                accounts += read_accounts(path)
    except ValueError as exc:
        raise CliFailure("--account", str(exc), EXIT_USAGE) from None
    demo = args.demo_credentials
    if demo:
        accounts.append(ServeAccount(DEVICE_USER, DEVICE_SECRET))
    if not accounts:
        raise CliFailure("serve", "no account: give --account USER:PASSWORD[:DEVID] or "
                                  "--accounts FILE (or --demo-credentials to try the simulated "
                                  "device)", EXIT_USAGE)
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
        nonces=nonces, idle_timeout=args.idle_timeout, strict=args.strict,
        accounts_for_device=device_binding(accounts),
        max_commands_per_message=args.max_commands_per_message)
    config.guards = dataclasses.replace(config.guards, message_auth=args.message_auth)

    def log_events(session: Any, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, CommandCompleted):
                _say(f"  {session.device_id}: {event.command.ELEMENT} -> {event.status} "
                     f"{event.outcome}")
            elif isinstance(event, SessionEnded):
                quirks = (f"; quirks absorbed: {', '.join(session.quirks)}"
                          if session.quirks else "")
                _say(f"  {session.device_id}: session ended ({event.reason}){quirks}")

    shared = args.store not in (None, "memory", "memory://")
    caps = {"max_sessions": args.max_sessions,
            "max_preauth_sessions": args.max_unauthenticated_sessions}
    if shared:
        key = _seal_key(args)
        if key is None:
            raise CliFailure("--seal-key-file", "a shared store needs the snapshot seal key "
                             "every worker shares: --seal-key-file FILE or OMADM_SEAL_KEY=<hex>",
                             EXIT_USAGE)
        store = open_store(args.store)

        async def seed() -> None:
            # The accounts given here go into the store, so every worker and the operator
            # see them; a pre-shared server nonce only where none is stored yet.
            try:
                for account in accounts:
                    devices = None if account.device is None else frozenset({account.device})
                    await store.put_account(Account(account.user, secret_of[account.user],
                                                    devices))
                    if server_nonce is not None:
                        await store.swap_nonces(account.user, [NonceSwap(
                            "SRVCRED", None, StoredNonce(server_nonce, issued_here=False))])
            finally:
                await store.close()

        with about(args.store):
            asyncio.run(seed())
        store = open_store(args.store)  # a fresh client for the server's own event loop
        app = DMServerApp(config, path=args.path, store=store, seal_key=key,
                          observers=[log_events], base_url=args.public_url,
                          body_timeout=args.body_timeout, **caps)
    else:
        def logged() -> DemoServerApp:
            script = DemoServerApp()

            def app(session: Any, events: list[Any]) -> None:
                script(session, events)
                log_events(session, events)
            return app  # type: ignore[return-value]

        app = DMServerApp(config, path=args.path, app_factory=logged,
                          base_url=args.public_url, body_timeout=args.body_timeout, **caps)
    tls = TlsConfig(args.tls_cert, args.tls_key, args.client_ca) if args.tls_cert else None
    raise_descriptor_limit()  # the connection cap is then kept below the new limit
    limits = HttpLimits(header_timeout=args.header_timeout,
                        keepalive_timeout=args.keepalive_timeout,
                        max_connections=args.max_connections,
                        graceful_timeout=args.graceful_timeout, parser=args.http_parser)
    settle_heap()
    with ServerThread(app, host=args.host, port=args.port, tls=tls, limits=limits,
                      trusted_proxies=args.trusted_proxies, reuse_port=args.reuse_port) as server:
        if args.quiet_banner:
            _say(f"worker {os.getpid()} on {server.url}{app.path}")
        else:
            _say(f"DM server on {server.url}{app.path} (server id {config.server_id}; "
                 f"accounts: {', '.join(a.user for a in accounts)}; client auth "
                 f"{args.client_auth}, server auth {args.server_auth}; store: "
                 f"{args.store or 'memory'}); Ctrl-C to stop")
            if demo:
                _say("  using the demo's publicly known credentials and initial nonce: for "
                     "the simulated device on this machine only")
            if generated:
                _say(f"  server password (generated; the device's SRVCRED secret): "
                     f"{server_password}")
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


# -- device ------------------------------------------------------------------------------------

def user_data_dir() -> Path:
    """Where a user expects an application's own files: ``$XDG_DATA_HOME/omadm-codec``
    (default ``~/.local/share/omadm-codec``); on Windows ``%LOCALAPPDATA%\\omadm-codec``, on
    macOS ``~/Library/Application Support/omadm-codec``."""
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "omadm-codec"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "omadm-codec"
    base = os.environ.get("XDG_DATA_HOME") or ""
    return (Path(base) if os.path.isabs(base) else Path.home() / ".local" / "share") / \
        "omadm-codec"


def device_db_path(dev_id: str) -> Path:
    """The default tree of the simulated device ``dev_id``: one SQLite file per DevId in
    the user's data folder (``devices/IMEI_490154203237518.sqlite``)."""
    return user_data_dir() / "devices" / (re.sub(r"[^A-Za-z0-9.-]+", "_", dev_id) + ".sqlite")


_FLAGS = {"dev_id": "--dev-id", "client_name": "--user", "client_secret": "--password",
          "server_secret": "--server-password", "client_auth": "--client-auth",
          "server_auth": "--server-auth"}
"""``configure_tree``'s field names -> the flags that set them (the URL goes unmentioned)."""


def _device_tree(args: argparse.Namespace, db: Path) -> tuple[Any, str]:
    """The device's tree: the stored one with the flags given applied, or a new one built
    from the flags (defaults: the demo device). Returns the tree and a note for the user."""
    from .simulator import (
        DEVICE_SECRET,
        DEVICE_USER,
        SERVER_ID,
        SERVER_SECRET,
        build_tree,
        configure_tree,
        load_tree,
    )

    if db.exists() and not args.reset:
        with about(str(db)):
            tree = load_tree(db)
            account = next(tree.dm_accounts(), None)
        if account is None:
            raise CliFailure(str(db), "the stored tree has no DM account; start a new one "
                                      "with --reset")
        if args.server_id is not None and args.server_id != account.server_id:
            raise CliFailure("--server-id", (
                f"{args.server_id!r} conflicts with the stored tree {db}, which belongs to "
                f"server {account.server_id!r} (its ACLs and nonces name it); use --reset to "
                "replace that tree, or --db for another one"), EXIT_USAGE)
        changed = configure_tree(tree, dev_id=args.dev_id, server_addr=args.url,
                                 client_name=args.user, client_secret=args.password,
                                 server_secret=args.server_password,
                                 client_auth=args.client_auth, server_auth=args.server_auth)
        flags = [_FLAGS[name] for name in changed if name in _FLAGS]
        note = "stored" + (f"; the flags win: {', '.join(flags)} applied" if flags else "")
        return tree, note
    tree = build_tree(server_addr=args.url, server_auth=args.server_auth or "DIGEST",
                      server_nonce=secrets.token_bytes(16),  # the server resyncs it
                      client_auth=args.client_auth or "DIGEST",
                      server_id=args.server_id or SERVER_ID,
                      client_name=args.user or DEVICE_USER,
                      client_secret=args.password or DEVICE_SECRET,
                      server_secret=args.server_password or SERVER_SECRET,
                      **({"dev_id": args.dev_id} if args.dev_id else {}))
    return tree, "new" if not db.exists() else "new, replacing the stored one (--reset)"


def cmd_device(args: argparse.Namespace) -> int:
    """``omadm-codec device URL``: run one session of the simulated device against a DM server and
    print what happened."""
    if not _need_http():
        return 2
    from ..http import client_tls_context, run_http_session
    from ..session import ClientSession, Outgoing, UiResponse
    from ..session import events as ev
    from .demo import Transcript
    from .simulator import DEVICE_ID, ScriptedUser, save_tree

    _need_together(args, "cert", ("key",))
    if not args.url.lower().startswith("https"):
        for name in ("ca", "cert"):
            if getattr(args, name):
                raise CliFailure(f"--{name}", f"is for an https:// server, not {args.url}",
                                 EXIT_USAGE)
    db = Path(args.db) if args.db else device_db_path(args.dev_id or DEVICE_ID)
    tree, note = _device_tree(args, db)
    verify = client_tls_context(args.ca, args.cert, args.key) if args.url.lower().startswith(
        "https") else True
    _say(f"device {tree.device_get('./DevInfo/DevId')}: tree {db} ({note})")
    client = ClientSession(tree, fmt=args.format,
                           ui=ScriptedUser([UiResponse(200), UiResponse(304)]))
    transcript = Transcript(sys.stdout, args.show_messages)
    answers = 0

    def trace(direction: str, message: Outgoing) -> None:
        nonlocal answers
        answers += direction == "S"
        transcript(direction, message)

    try:
        with about(args.url):
            events = run_http_session(client, args.url, verify=verify, timeout=args.timeout,
                                      trace=trace)
    finally:
        if answers:  # the server answered: the session may have changed the tree
            with about(str(db)):
                db.parent.mkdir(parents=True, exist_ok=True)
                save_tree(tree, db)
    ended = [e for e in events if isinstance(e, ev.SessionEnded)]
    reason = ended[-1].reason if ended else "unknown"
    saved = f"tree saved to {db}" if answers else "tree unchanged (the server never answered)"
    print(f"\nsession ended: {reason}; {saved}")
    if reason != "completed":
        hint = " (raise --timeout, or check the server)" if reason == "timeout" else ""
        raise CliFailure(args.url, f"the session did not complete: {reason}{hint}")
    return 0


# -- message files -------------------------------------------------------------------------

def _decode_file(args: argparse.Namespace) -> tuple[bytes, Any]:
    from ..messages import decode

    with about(display(args.file)):
        data = read_input(args.file, args.max_size)
    with about(display(args.file), data):
        return data, decode(data, limits=limits_from(args))


def cmd_decode(args: argparse.Namespace) -> int:
    """Any DM message (XML or WBXML) -> canonical XML of the decoded model."""
    from ..messages import encode

    _, msg = _decode_file(args)
    xml = encode(msg, "xml")
    if args.indent is not None:
        xml = _indent_xml(xml, args.indent)
    with about(args.output if args.output not in (None, "-") else "standard output"):
        write_output(args.output, xml + b"\n")
    return 0


def _indent_xml(xml: bytes, width: int) -> bytes:
    """Our canonical XML with whitespace added between elements only (never inside text,
    which is data), so it decodes to the same message."""
    from lxml import etree  # type: ignore[import-untyped]

    from ..messages._lxml import parser

    root = etree.fromstring(xml, parser())
    etree.indent(root, space=" " * width)
    return bytes(etree.tostring(root, encoding="utf-8"))


def cmd_encode(args: argparse.Namespace) -> int:
    """Any DM message -> WBXML (``-o`` file, else hex on stdout)."""
    from ..messages import encode

    _, msg = _decode_file(args)
    wbxml = encode(msg, "wbxml")
    if args.output:
        with about(args.output):
            write_output(args.output, wbxml)
    else:
        write_output(None, wbxml.hex(" ").encode("ascii") + b"\n")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    """A readable summary: header fields, then each command with its items."""
    from ..messages.model import Alert, Results, Status
    from .demo import describe, describe_item

    data, msg = _decode_file(args)
    hdr = msg.header
    kind = "WBXML" if data[:1] and data[0] <= 3 else "XML"
    lines = [f"{kind}, {len(data)} bytes, {hdr.ver_proto}, SessionID {hdr.session_id}, "
             f"MsgID {hdr.msg_id}, Final: {msg.final}",
             f"  from {hdr.source.loc_uri}" + (f" ({hdr.source_name})" if hdr.source_name
                                                else "") + f" to {hdr.target.loc_uri}"]
    if hdr.cred is not None and hdr.cred.meta is not None:
        lines.append(f"  Cred {hdr.cred.meta.type}")
    if hdr.meta is not None:
        sizes = [f"{name} {value}" for name, value in (("MaxMsgSize", hdr.meta.max_msg_size),
                                                         ("MaxObjSize", hdr.meta.max_obj_size))
                 if value is not None]
        if sizes:
            lines.append(f"  {', '.join(sizes)}")
    if msg.quirks:
        lines.append(f"  quirks: {', '.join(msg.quirks)}")
    limit = args.items if args.items > 0 else None

    def show(command: Any, indent: str) -> None:
        children = getattr(command, "commands", None)
        items = getattr(command, "items", None) or []
        if children is not None or len(items) <= 1:
            lines.append(describe(command, indent, max_items=1)[0])
            for child in children or []:
                show(child, indent + "    ")
            return
        if isinstance(command, Status | Results):
            head = describe(command, indent, max_items=0)[0].rstrip(": ")
        elif isinstance(command, Alert):
            head = f"{indent}Alert {command.data}"
        else:
            head = f"{indent}{command.ELEMENT} {command.cmd_id}"
        lines.append(f"{head} ({len(items)} items)")
        shown = items if limit is None else items[:limit]
        for item in shown:
            lines.append(f"{indent}    {describe_item(item, command.ELEMENT)}")
        if len(items) > len(shown):
            lines.append(f"{indent}    +{len(items) - len(shown)} more items "
                         "(--items 0 shows all)")

    for command in msg.commands:
        show(command, "  ")
    write_output(None, ("\n".join(lines) + "\n").encode("utf-8"))
    return 0


# -- the parser ----------------------------------------------------------------------------

def add_commands(sub: argparse._SubParsersAction[Any]) -> None:
    """Add the session subcommands (``demo``, ``serve``, ``device``) and the message-file ones
    (``decode``, ``encode``, ``inspect``) to the CLI's parser."""
    demo = sub.add_parser(
        "demo", help="run a full DM session between a server and a simulated phone",
        description="Start a DM server and a simulated phone on 127.0.0.1, run a full DM "
                    "session over HTTP between them (then a short second one with HMAC both "
                    "ways), print what crossed the wire and a summary. Exit status 0 only if "
                    "every expected outcome happened. Writes nothing that stays.")
    demo.add_argument("--format", choices=["xml", "wbxml"], default="xml",
                      help="message encoding the phone uses")
    demo.add_argument("--show-messages", action="store_true",
                      help="print every message in full, as XML")
    demo.add_argument("--timeout", type=positive_float, default=10.0, metavar="SECONDS",
                      help="how long to wait for each HTTP answer")
    demo.set_defaults(func=cmd_demo)
    serve = sub.add_parser(
        "serve", help="run a DM server (the demo's management script) until Ctrl-C",
        description="Run a DM server over HTTP(S) that manages each device that connects "
                    "with the demo's script (reads, writes, an Atomic, an Exec, a UI alert) "
                    "and prints each outcome. Pointing a real client at it: docs/interop.md; "
                    "its defences and limits: docs/security.md.",
        epilog="example: omadm-codec serve --demo-credentials --port 8080 & "
               "omadm-codec device http://127.0.0.1:8080/dm")
    where = serve.add_argument_group("where")
    where.add_argument("--host", default="127.0.0.1", help="address to listen on")
    where.add_argument("--port", type=port, default=8080, help="TCP port (0: any free port)")
    where.add_argument("--path", default="/dm",
                       help="the DM URL's path (default: /dm; libdmclient's is /funambol/dm)")
    where.add_argument("--public-url", metavar="URL",
                       help="base URL devices reach this server at (RespURIs are built on it; "
                            "default: the listening address)")
    where.add_argument("--trusted-proxies", metavar="ADDRESSES",
                       help="proxies whose X-Forwarded-For names the device (comma-separated)")
    where.add_argument("--tls-cert", metavar="PEM",
                       help="serve HTTPS with this certificate chain (needs --tls-key)")
    where.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    where.add_argument("--client-ca", metavar="PEM",
                       help="require client certificates signed by this CA (mutual TLS)")
    where.add_argument("--duration", type=positive_float, default=None, metavar="SECONDS",
                       help="stop after this many seconds (default: run until Ctrl-C)")
    who = serve.add_argument_group("accounts and authentication")
    who.add_argument("--account", action="append", metavar="USER:PASSWORD[:DEVID]",
                     help="a device account (repeatable); with DEVID, bound to that device")
    who.add_argument("--accounts", action="append", metavar="FILE",
                     help="a file of accounts, one USER:PASSWORD[:DEVID] a line, # comments")
    who.add_argument("--demo-credentials", action="store_true",
                     help="add the demo's publicly known account, server password and "
                          "initial nonce (for the simulated device on this machine only)")
    who.add_argument("--client-auth", choices=["DIGEST", "BASIC", "HMAC"], default="DIGEST",
                     help="how devices must authenticate (default: DIGEST)")
    who.add_argument("--server-auth", choices=["DIGEST", "BASIC", "HMAC", "NONE"],
                     default="DIGEST",
                     help="how the server proves itself to the device (default: DIGEST)")
    who.add_argument("--server-id", help="the ServerID in the devices' DMAcc (default: the "
                                         "demo's, omadm-demo-server)")
    who.add_argument("--server-password", help="the device's SRVCRED secret (default: random, "
                                               "printed)")
    who.add_argument("--server-nonce", metavar="TEXT",
                     help="pre-share this SRVCRED nonce with every device (default: none; the "
                          "device's first 401 + Chal resyncs it)")
    who.add_argument("--message-auth", choices=["session", "every_message"],
                     default="session",
                     help="every_message: credentials (or the HMAC header) on every message")
    limits = serve.add_argument_group("limits")
    limits.add_argument("--header-timeout", type=positive_float, default=10.0,
                        metavar="SECONDS", help="time a client gets to send a request's headers")
    limits.add_argument("--body-timeout", type=positive_float, default=10.0, metavar="SECONDS",
                        help="time a client gets to send a request's body")
    limits.add_argument("--keepalive-timeout", type=positive_float, default=5.0,
                        metavar="SECONDS", help="how long an idle connection is kept open")
    limits.add_argument("--graceful-timeout", type=positive_float, default=10.0,
                        metavar="SECONDS",
                        help="time requests in flight get to finish at shutdown")
    limits.add_argument("--http-parser", choices=["auto", "h11", "httptools"],
                        default="auto",
                        help="the HTTP/1.1 parser, both behind the same connection guards: "
                             "httptools (C, less CPU per request) or h11 (pure Python); "
                             "auto: httptools if installed (default: auto)")
    limits.add_argument("--max-connections", type=int, default=None,
                        help="open connections at once (default: min(1000, descriptors - 64))")
    limits.add_argument("--max-sessions", type=int, default=100_000,
                        help="authenticated sessions kept at once")
    limits.add_argument("--max-unauthenticated-sessions", type=int, default=10_000,
                        help="sessions of peers that have not authenticated kept at once")
    state = serve.add_argument_group("shared state and workers (docs/scaling.md)")
    state.add_argument("--store", type=store_url, default=None, metavar="URL",
                       help="where sessions, nonces, accounts, queues and outcomes live: "
                            "memory:// (default: this process, with the demo's management "
                            "script), redis://HOST:PORT/DB or redis+cluster://HOST:PORT "
                            "(shared by every worker; queue commands with 'omadm-codec "
                            "enqueue', read them with 'omadm-codec outcomes')")
    state.add_argument("--workers", type=bounded_int(1, 256), default=1, metavar="N",
                       help="worker processes on one port (SO_REUSEPORT), restarted if one "
                            "dies; more than 1 needs --store")
    state.add_argument("--seal-key-file", metavar="FILE",
                       help="the key sealing stored session snapshots, shared by every worker "
                            "(default: $OMADM_SEAL_KEY, hex; --workers makes one for its "
                            "workers)")
    state.add_argument("--idle-timeout", type=positive_float, default=300.0,
                       metavar="SECONDS", help="how long a silent session lives (its TTL in "
                                               "the store)")
    state.add_argument("--reuse-port", action="store_true",
                       help="bind with SO_REUSEPORT (several serve processes on one port)")
    state.add_argument("--quiet-banner", action="store_true", help=argparse.SUPPRESS)
    protocol = serve.add_argument_group("protocol")
    protocol.add_argument("--strict", action="store_true",
                          help="absorb no client deviation (docs/interop.md: each quirk "
                               "refused)")
    protocol.add_argument("--max-commands-per-message", type=int, metavar="N",
                          help="send at most N commands per message (libdmclient cannot reply "
                               "to more than about 90 Gets at once)")
    serve.set_defaults(func=cmd_serve)
    device = sub.add_parser(
        "device", help="run the simulated phone against a DM server",
        description="Run one DM session of a simulated phone against the DM server at URL. "
                    "The phone's management tree (account, secrets, nonces, values) is kept "
                    "between runs in a SQLite file: --db FILE, or by default one file per "
                    "DevId in your data folder ($XDG_DATA_HOME/omadm-codec/devices/). Flags "
                    "given win over what the stored tree holds; a --server-id other than the "
                    "stored one is refused (use --reset or another --db).",
        epilog="example: omadm-codec device http://127.0.0.1:8080/dm --format wbxml")
    device.add_argument("url", type=http_url, help="the DM server, e.g. http://127.0.0.1:8080/dm")
    device.add_argument("--db", metavar="FILE",
                        help="the phone's tree (SQLite; default: a file per DevId under "
                             f"{user_data_dir() / 'devices'})")
    device.add_argument("--reset", action="store_true",
                        help="start from a new tree built from the flags, replacing the stored "
                             "one")
    device.add_argument("--format", choices=["xml", "wbxml"], default="xml",
                        help="message encoding the phone uses")
    device.add_argument("--server-auth", choices=["DIGEST", "HMAC", "NONE"], default=None,
                        help="how the phone checks the server (default: a new tree uses "
                             "DIGEST, as serve does; a stored tree keeps its own)")
    device.add_argument("--client-auth", choices=["DIGEST", "BASIC", "HMAC"], default=None,
                        help="how the phone authenticates (default: a new tree uses DIGEST; "
                             "a stored tree keeps its own)")
    device.add_argument("--ca", metavar="PEM",
                        help="trust this CA for an https:// server (default: the system's)")
    device.add_argument("--cert", metavar="PEM",
                        help="client certificate for mutual TLS (with --key)")
    device.add_argument("--key", metavar="PEM", help="the private key of --cert")
    device.add_argument("--timeout", type=positive_float, default=10.0, metavar="SECONDS",
                        help="how long to wait for each HTTP answer")
    device.add_argument("--show-messages", action="store_true",
                        help="print every message in full, as XML")
    device.add_argument("--server-id", help="the DM server's ServerID (default: the demo's, "
                                            "omadm-demo-server)")
    device.add_argument("--user", help="the phone's user name, CLCRED AAuthName (default: "
                                       "the demo's, device-0001)")
    device.add_argument("--password", help="the phone's password, CLCRED AAuthSecret "
                                           "(default: the demo's)")
    device.add_argument("--server-password", help="the server's password, SRVCRED "
                                                  "AAuthSecret (default: the demo's)")
    device.add_argument("--dev-id", help="DevInfo/DevId, e.g. IMEI:490154203237518 (default: "
                                         "that one)")
    device.set_defaults(func=cmd_device)
    for name, func, text, about_text in (
        ("decode", cmd_decode, "print a DM message as canonical XML",
         "Decode a DM message (XML or WBXML, told apart by its first byte) and print it as "
         "canonical XML: the bytes any equal message encodes to."),
        ("encode", cmd_encode, "encode a DM message as WBXML",
         "Decode a DM message (XML or WBXML) and encode it as WBXML: to -o FILE, or as hex "
         "on standard output."),
        ("inspect", cmd_inspect, "summarise a DM message: header, commands, items",
         "Decode a DM message (XML or WBXML) and summarise it: the header, then each command "
         "with its items (--items of each; the rest are counted, never dropped silently)."),
    ):
        parser = sub.add_parser(name, help=text, description=about_text)
        parser.add_argument("file", help="input file, or - for standard input")
        if name in ("decode", "encode"):
            parser.add_argument("-o", "--output", metavar="FILE",
                                help="output file, or - for standard output (default: "
                                     "standard output" + (", as hex" if name == "encode"
                                                          else "") + ")")
        if name == "decode":
            parser.add_argument("--indent", type=bounded_int(0, 255), default=None,
                                metavar="N",
                                help="indent nested elements by N spaces (default: compact; "
                                     "text is never touched)")
        if name == "inspect":
            parser.add_argument("--items", type=bounded_int(0, 1 << 40), default=20,
                                metavar="N",
                                help="items shown per command, 0 for all")
        add_limit_options(parser)
        parser.set_defaults(func=func)


__all__ = ["ServeAccount", "add_commands", "device_binding", "device_db_path", "parse_account",
           "read_accounts", "user_data_dir"]
