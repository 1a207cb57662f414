"""The session-related command-line sub-commands: ``demo``, ``serve``, ``device``,
``decode``, ``encode`` and ``inspect`` (wired into ``omadm_codec.tools.cli``).

The one idea: each is a thin shell over the public API (``demo.run_demo``,
``http.DMServerApp`` / ``run_http_session``, ``messages.decode`` / ``encode``) and returns the
process exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
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
    print(f"DM server on http://{args.host}:{args.port}{args.path} with {args.workers} "
          f"workers (pids {', '.join(str(w.pid) for w in workers)}), store {args.store}; "
          "Ctrl-C to stop", flush=True)
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
            print("omadm-codec serve: several workers need a shared store "
                  "(--store redis://HOST:PORT/DB)", file=sys.stderr)
            return 2
        argv = [a for a in sys.argv[1:]]
        # Drop --workers N (each child is given --workers 1).
        cleaned, skip = [], False
        for a in argv:
            if skip:
                skip = False
                continue
            if a == "--workers":
                skip = True
                continue
            if a.startswith("--workers="):
                continue
            cleaned.append(a)
        return _serve_workers(args, cleaned)
    from ..http import DMServerApp, ServerConfig, ServerThread, TlsConfig
    from ..http.state import Account, NonceSwap, StateError
    from ..http.state_url import open_store
    from ..security import auth
    from ..security.nonces import NonceManager, StoredNonce
    from ..session import CommandCompleted, SessionEnded
    from .demo import INITIAL_SERVER_NONCE
    from .demo_scenario import DemoServerApp
    from .simulator import DEVICE_SECRET, DEVICE_USER, SERVER_ID, SERVER_SECRET

    nonces = NonceManager()
    accounts = {}
    for text in args.account or [f"{DEVICE_USER}:{DEVICE_SECRET}"]:
        user, sep, password = text.partition(":")
        if not sep or not user:
            print(f"omadm-codec serve: --account needs USER:PASSWORD, not {text!r}",
                  file=sys.stderr)
            return 2
        accounts[user] = auth.secret_hash(user, password)
        nonces.reset_resync(user, "SRVCRED", INITIAL_SERVER_NONCE)
    config = ServerConfig(server_id=args.server_id or SERVER_ID, secret_lookup=accounts.get,
                          server_secret=args.server_password or SERVER_SECRET,
                          aauth_type=args.client_auth, server_auth_type=args.server_auth,
                          nonces=nonces, idle_timeout=args.idle_timeout)

    def log_events(session: Any, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, CommandCompleted):
                print(f"  {session.device_id}: {event.command.ELEMENT} -> {event.status}",
                      flush=True)
            elif isinstance(event, SessionEnded):
                print(f"  {session.device_id}: session ended ({event.reason})", flush=True)

    shared = args.store not in (None, "memory", "memory://")
    if shared:
        key = _seal_key(args)
        if key is None:
            print("omadm-codec serve: a shared store needs the snapshot seal key every "
                  "worker shares: --seal-key-file FILE or OMADM_SEAL_KEY=<hex>",
                  file=sys.stderr)
            return 2
        try:
            store = open_store(args.store)
        except (ValueError, StateError) as exc:
            print(f"omadm-codec serve: {exc}", file=sys.stderr)
            return 2

        async def seed() -> None:
            # The accounts given here go into the store, so every worker and the operator
            # see them; the demo's pre-shared server nonce only where none is stored yet.
            try:
                for user, secret in accounts.items():
                    await store.put_account(Account(user, secret))
                    await store.swap_nonces(user, [NonceSwap(
                        "SRVCRED", None, StoredNonce(INITIAL_SERVER_NONCE, issued_here=False))])
            finally:
                await store.close()

        try:
            asyncio.run(seed())
        except StateError as exc:
            print(f"omadm-codec serve: the store {args.store}: {exc}", file=sys.stderr)
            return 1
        store = open_store(args.store)  # a fresh client for the server's own event loop
        app = DMServerApp(config, path=args.path, store=store, seal_key=key,
                          observers=[log_events])
    else:
        def logged() -> DemoServerApp:
            script = DemoServerApp()

            def app(session: Any, events: list[Any]) -> None:
                script(session, events)
                log_events(session, events)
            return app  # type: ignore[return-value]

        app = DMServerApp(config, path=args.path, app_factory=logged)
    tls = TlsConfig(args.tls_cert, args.tls_key, args.client_ca) if args.tls_cert else None
    with ServerThread(app, host=args.host, port=args.port, tls=tls,
                      reuse_port=args.reuse_port) as server:
        if not args.quiet_banner:
            print(f"DM server on {server.url}{app.path} (accounts: {', '.join(accounts)}; "
                  f"store: {args.store or 'memory'}); Ctrl-C to stop", flush=True)
        else:
            print(f"worker {os.getpid()} on {server.url}{app.path}", flush=True)
        deadline = None if args.duration is None else time.monotonic() + args.duration
        stop = []
        import signal

        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        try:
            while not stop and (deadline is None or time.monotonic() < deadline):
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
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
    from .demo import INITIAL_SERVER_NONCE, Transcript
    from .simulator import ScriptedUser, build_tree, load_tree, save_tree

    db = Path(args.db)
    if db.exists():
        tree = load_tree(db)
    else:
        from .simulator import DEVICE_SECRET, DEVICE_USER, SERVER_ID, SERVER_SECRET

        tree = build_tree(server_addr=args.url, server_auth=args.server_auth,
                          server_nonce=INITIAL_SERVER_NONCE, client_auth=args.client_auth,
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
    serve = sub.add_parser("serve", help="run the demo DM server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--server-auth", choices=["DIGEST", "HMAC"], default="HMAC")
    serve.add_argument("--tls-cert")
    serve.add_argument("--tls-key")
    serve.add_argument("--client-ca", help="require client certificates from this CA")
    serve.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    serve.add_argument("--account", action="append", metavar="USER:PASSWORD",
                       help="a device account (repeatable; default: the demo device)")
    serve.add_argument("--client-auth", choices=["DIGEST", "BASIC", "HMAC"], default="DIGEST")
    serve.add_argument("--server-id")
    serve.add_argument("--server-password")
    serve.add_argument("--path", default="/dm", help="the DM URL path (default /dm)")
    serve.add_argument("--store", default=None, metavar="URL",
                       help="where sessions, nonces, accounts, queues and outcomes live: "
                            "memory:// (default, this process, the demo script), "
                            "redis://HOST:PORT/DB or redis+cluster://HOST:PORT (shared: "
                            "queue commands with 'omadm-codec enqueue')")
    serve.add_argument("--workers", type=int, default=1,
                       help="worker processes on one port (SO_REUSEPORT; needs --store)")
    serve.add_argument("--seal-key-file", help="the key sealing stored session snapshots, "
                       "shared by every worker (default: $OMADM_SEAL_KEY, hex)")
    serve.add_argument("--idle-timeout", type=float, default=300.0,
                       help="seconds a silent session lives (its store TTL)")
    serve.add_argument("--reuse-port", action="store_true",
                       help="bind with SO_REUSEPORT (start several serve processes on one port)")
    serve.add_argument("--quiet-banner", action="store_true", help=argparse.SUPPRESS)
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


__all__ = ["add_commands"]
