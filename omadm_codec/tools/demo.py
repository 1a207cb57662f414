"""``omadm-codec demo``: a full DM session over real HTTP on loopback, with a transcript, then a
short second session in which the device authenticates with ``x-syncml-hmac`` too.

The one idea: everything the demo shows is checked. A uvicorn server (this process, a daemon
thread, 127.0.0.1, a free port) runs ``DemoServerApp``'s script; a simulated device whose tree
lives in a temporary SQLite file answers over httpx; the transcript is printed from the
messages that actually crossed the wire, and the exit status is 0 only if every expected
outcome (``DemoServerApp.failures``) happened and the tree persisted.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .. import BACKEND
from ..messages import decode
from ..messages.model import (
    Alert,
    Atomic,
    Command,
    Get,
    Item,
    Message,
    Meta,
    Replace,
    Results,
    Sequence,
    Status,
    Target,
    XmlDocument,
)
from ..security import auth
from ..security.nonces import NonceManager
from ..session import ClientSession, UiResponse
from ..session import events as ev
from ..session._common import Outgoing, item_uri
from ..tree import DMTree
from .demo_scenario import DemoServerApp, generic_alert_item
from .simulator import (
    DEVICE_SECRET,
    DEVICE_USER,
    SERVER_ID,
    SERVER_SECRET,
    ScriptedUser,
    build_tree,
    load_tree,
    save_tree,
)

if TYPE_CHECKING:
    from ..http import DMServerApp

INITIAL_SERVER_NONCE = b"demo-initial-srv-nonce"
"""The demo's fixed, publicly known SRVCRED nonce (with the simulator's fixed account and
server password): for the demo on loopback only; ``serve`` uses none unless asked."""


def describe(command: Command, indent: str = "", max_items: int = 3) -> list[str]:
    """One line per command (children indented), as the transcript prints them: at most
    ``max_items`` items each, and how many were left out (``+N more``)."""
    name = command.ELEMENT
    if isinstance(command, Status):
        extra = " +Chal" if command.chal is not None else ""
        return [f"{indent}Status {command.data} for {command.cmd} {command.cmd_ref}{extra}"]
    if isinstance(command, Results):
        values = ", ".join(item_uri(i) + ("" if i.data is None else f"={_short(i.data)}")
                           for i in command.items[:max_items])
        return [f"{indent}Results for {command.cmd_ref}: {values}"
                f"{_more(len(command.items), max_items, ', ')}"]
    if isinstance(command, Alert):
        texts = [_short(i.data) for i in command.items[:max_items] if i.data is not None]
        return [f"{indent}Alert {command.data} {' '.join(texts)}".rstrip()
                + _more(len(command.items), max_items, " ")]
    if isinstance(command, Atomic | Sequence):
        lines = [f"{indent}{name} {command.cmd_id}"]
        for child in command.commands:
            lines.extend(describe(child, indent + "    ", max_items))
        return lines
    items = getattr(command, "items", [])
    parts = [describe_item(item, name) for item in items[:max_items]]
    return [f"{indent}{name} {command.cmd_id} {'; '.join(parts)}"
            f"{_more(len(items), max_items, '; ')}".rstrip()]


def describe_item(item: Item, command: str = "") -> str:
    """One item: its URI (source -> target for Copy-like items), its data unless the
    command is a Get, and ``[MoreData]``."""
    text = item_uri(item)
    if item.source is not None and item.target is not None:
        text = f"{item.source.loc_uri} -> {item.target.loc_uri}"
    if item.data is not None and command != "Get":
        text += f" = {_short(item.data)}"
    if item.more_data:
        text += " [MoreData]"
    return text


def _more(count: int, shown: int, separator: str) -> str:
    return f"{separator}+{count - shown} more" if count > shown else ""


def _short(data: object, limit: int = 40) -> str:
    if isinstance(data, bytes):
        return f"<{len(data)} bytes>"
    text = data.xml if isinstance(data, XmlDocument) else str(data)
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[:limit - 3] + "...")


class Transcript:
    """Prints each message as it crosses the wire."""

    def __init__(self, out: TextIO, full: bool) -> None:
        self.out = out
        self.full = full
        self.count = 0

    def __call__(self, direction: str, message: Outgoing) -> None:
        self.count += 1
        try:
            msg: Message = decode(message.body, message.content_type or None)
        except Exception as exc:  # noqa: BLE001 - the transcript reports, the session judges
            print(f"  [{direction}] undecodable message: {exc}", file=self.out)
            return
        arrow = "device -> server" if direction == "C" else "server -> device"
        kind = "WBXML" if "wbxml" in message.content_type else "XML"
        notes = []
        if msg.header.cred is not None and msg.header.cred.meta is not None:
            notes.append(f"Cred {msg.header.cred.meta.type}")
        if message.hmac:
            notes.append("x-syncml-hmac")
        if msg.final:
            notes.append("Final")
        print(f"\n{arrow}  MsgID {msg.header.msg_id}  {kind} {len(message.body)} bytes  "
              f"{', '.join(notes)}", file=self.out)
        for command in msg.commands:
            for line in describe(command):
                print(f"    {line}", file=self.out)
        if self.full:
            from ..wbxml import wbxml_to_xml

            body = message.body
            text = wbxml_to_xml(body, indent=2) if kind == "WBXML" else body
            print(bytes(text).decode("utf-8", "replace"), file=self.out)


def run_demo(*, fmt: str = "xml", show_messages: bool = False, out: TextIO = sys.stdout,
             timeout: float = 10.0, workdir: str | None = None) -> int:
    """Run the demo; 0 if every expected outcome happened, 1 otherwise."""
    from ..http import DMServerApp, ServerConfig, ServerThread, run_http_session

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="omadm-demo-", dir=workdir) as tmp:
        db = Path(tmp) / "device-tree.sqlite"
        nonces = NonceManager()
        nonces.reset_resync(DEVICE_USER, "SRVCRED", INITIAL_SERVER_NONCE)
        accounts = {DEVICE_USER: auth.secret_hash(DEVICE_USER, DEVICE_SECRET)}
        apps: list[DemoServerApp] = []

        def new_app() -> DemoServerApp:
            apps.append(DemoServerApp())
            return apps[-1]

        config = ServerConfig(server_id=SERVER_ID, secret_lookup=accounts.get,
                              server_secret=SERVER_SECRET, aauth_type="DIGEST",
                              server_auth_type="HMAC", nonces=nonces)
        server_app = DMServerApp(config, app_factory=new_app)
        print(f"omadm-codec demo (codec backend: {BACKEND}, messages: {fmt.upper()})", file=out)
        with ServerThread(server_app, timeout=timeout) as server:
            url = f"{server.url}/dm"
            save_tree(build_tree(server_addr=url, server_auth="HMAC",
                                 server_nonce=INITIAL_SERVER_NONCE), db)
            tree = load_tree(db)
            print(f"DM server: {url} (uvicorn, in-process thread)", file=out)
            print(f"device: tree of {tree.node_count} nodes, kept in a temporary SQLite file "
                  "for this run; client auth syncml:auth-md5, server auth x-syncml-hmac",
                  file=out)
            user = ScriptedUser([UiResponse(200), UiResponse(304)])
            client = ClientSession(tree, fmt=fmt, ui=user, max_msg_size=8192)  # type: ignore[arg-type]
            client.queue_alert(1226, [generic_alert_item()])
            transcript = Transcript(out, show_messages)
            error = None
            try:
                client_events = run_http_session(client, url, timeout=timeout, trace=transcript)
            except Exception as exc:  # noqa: BLE001 - reported, and the demo fails
                client_events, error = [], exc
            hmac_problems: list[str] = []
            if error is None:
                hmac_problems = _hmac_session(server_app, tree, url, fmt, timeout, transcript,
                                              out)
        save_tree(tree, db)
        reloaded = load_tree(db)
        app = apps[0] if apps else DemoServerApp()
        problems = app.failures(tree)
        if error is not None:
            problems.insert(0, f"session error: {type(error).__name__}: {error}")
        else:
            problems.extend(hmac_problems)
        if reloaded.device_get("./Vendor/Acme/Settings/Brightness") != "40":
            problems.append("the SQLite tree did not keep the session's changes")
        if not any(isinstance(e, ev.Authenticated) and e.username == SERVER_ID
                   for e in client_events):
            problems.append("the device never authenticated the server")
        _summary(out, app, user, client_events, problems, transcript.count,
                 time.monotonic() - started)
    return 0 if not problems else 1


def _hmac_session(server_app: DMServerApp, tree: DMTree, url: str, fmt: str,
                  timeout: float, transcript: Transcript, out: TextIO) -> list[str]:
    """Session 2: the operator switches the device's account to ``x-syncml-hmac``, so every
    message now carries a MAC both ways (the nonce is the one session 1's 212 left with the
    device). Returns what went wrong, if anything."""
    from ..http import run_http_session

    print("\n== session 2: client auth switched to x-syncml-hmac "
          "(every message MAC-protected both ways)", file=out)
    registry = server_app.registry
    dev_id = str(tree.device_get("./DevInfo/DevId"))
    # The same server, now with its durable command queue (no script) and HMAC demanded of
    # this device.
    registry.enqueue(dev_id, [
        Get("1", [Item(target=Target("./DevInfo/Mod"))]),
        Replace("2", [Item(target=Target("./Vendor/Acme/Settings/WifiEnabled"),
                           meta=Meta(format="bool"), data="false")])])
    server_app.app_factory = None
    server_app.config.aauth_type = "HMAC"
    account = next(tree.dm_accounts())
    clcred = account.credentials("CLCRED")
    if clcred is None:
        return ["the device account has no CLCRED entry"]
    tree.device_replace(f"{clcred.uri}/AAuthType", "HMAC")
    problems: list[str] = []
    macs = {"C": 0, "S": 0}
    messages = {"C": 0, "S": 0}

    def trace(direction: str, message: Outgoing) -> None:
        messages[direction] += 1
        macs[direction] += bool(message.hmac)
        transcript(direction, message)

    client = ClientSession(tree, fmt=fmt)  # type: ignore[arg-type]
    try:
        run_http_session(client, url, timeout=timeout, trace=trace)
    except Exception as exc:  # noqa: BLE001 - reported, and the demo fails
        return [f"HMAC session error: {type(exc).__name__}: {exc}"]
    got = [(o.command.cmd_id, o.status) for o in registry.outcomes.get(dev_id, [])]
    print(f"  outcomes: {', '.join(f'CmdID {c} -> {s}' for c, s in got) or 'none'}; "
          f"MACs: device {macs['C']}/{messages['C']}, server {macs['S']}/{messages['S']}",
          file=out)
    if got != [("1", 200), ("2", 200)]:
        problems.append(f"HMAC session outcomes {got}, expected CmdID 1 and 2 -> 200")
    if macs["C"] != messages["C"] or macs["S"] != messages["S"] or not messages["C"]:
        problems.append("a message of the HMAC session went without x-syncml-hmac")
    if tree.device_get("./Vendor/Acme/Settings/WifiEnabled") != "false":
        problems.append("the HMAC session's Replace did not reach the tree")
    return problems


def _summary(out: TextIO, app: DemoServerApp, user: ScriptedUser,
             client_events: list[ev.Event], problems: list[str], messages: int,
             elapsed: float) -> None:
    line: Callable[[str], None] = lambda text: print(text, file=out)  # noqa: E731
    line("\n== outcomes (server side: one per command)")
    for step in app.steps:
        got = step.outcome
        status = "-" if got is None else str(got.status)
        kids = "" if got is None or not got.children else \
            " [" + " ".join(str(c.status) for c in got.children) + "]"
        mark = "ok  " if step.problem() is None else "FAIL"
        line(f"  {mark} {status:>4}{kids:<16} {step.label} (expected {step.status})")
    for alert in app.alerts:
        line(f"  ok   alert {alert.alert_code} from the device: "
             f"{_short(alert.items[0].data if alert.items else '')}")
    for shown in user.shown:
        line(f"  ok   UI alert {shown.code} shown to the user: {shown.text!r}")
    auth_line = ", ".join(f"{type(a).__name__}({getattr(a, 'status', '')})" for a in app.auth)
    line(f"  auth: {auth_line}")
    line(f"\n== summary: {messages} messages, {elapsed:.2f} s, "
         f"{sum(1 for s in app.steps if s.problem() is None)}/{len(app.steps)} commands as "
         f"expected")
    if problems:
        line("FAILED:")
        for problem in problems:
            line(f"  - {problem}")
    else:
        line("OK: every expected outcome happened")


__all__ = ["Transcript", "describe", "describe_item", "run_demo"]
