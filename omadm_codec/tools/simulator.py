"""A simulated OMA DM device: a realistic management tree (persisted in SQLite), Exec
handlers that do something observable, a scripted user for UI alerts, and the loops that drive
a ``ClientSession`` against a ``ServerSession`` in memory or a DM server over HTTP.

The one idea: the device is only a ``DMTree`` plus a ``ClientSession``; everything it does to
its tree goes through the session's command execution, and the tree is saved to SQLite after
each session (node by node, device-side fields included), so a restarted device resumes with
the nonces and values the last session left.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..session import ClientSession, Outgoing, ServerSession, UiAlert, UiResponse
from ..session import events as ev
from ..tree import DMTree, Node
from ..tree.acl import format_acl

# The demo's fixed, publicly known identities and secrets: for the demo and the simulated
# device on loopback only (``serve`` takes them only with ``--demo-credentials``).
SERVER_ID = "omadm-demo-server"
DEVICE_USER = "device-0001"
DEVICE_SECRET = "device-secret-0001"
SERVER_SECRET = "server-secret-0001"
DEVICE_ID = "IMEI:490154203237518"


def build_tree(*, dev_id: str = DEVICE_ID, server_id: str = SERVER_ID,
               server_addr: str = "http://127.0.0.1/dm", client_name: str = DEVICE_USER,
               client_secret: str = DEVICE_SECRET, server_secret: str = SERVER_SECRET,
               client_auth: str = "DIGEST", server_auth: str = "DIGEST",
               server_nonce: bytes = b"") -> DMTree:
    """A phone-like tree: DevInfo, DevDetail, DMAcc, and a vendor subtree the server may
    manage (settings, an APN list, logs, operations with Exec handlers, a firmware slot)."""
    tree = DMTree.with_standard_objects(
        dev_id=dev_id, man="Acme Devices", mod="AX-5 Pro", server_id=server_id,
        server_addr=server_addr, client_name=client_name, client_secret=client_secret,
        server_secret=server_secret, fwv="5.1.0", swv="5.1.0-r12", hwv="B2", oem="Acme",
        max_depth=16, max_tot_len=255, max_seg_len=64)
    account = next(tree.dm_accounts())
    for entry in account.auth:
        kind = client_auth if entry.level == "CLCRED" else server_auth
        tree.device_replace(f"{entry.uri}/AAuthType", kind)
    srv = account.credentials("SRVCRED")
    assert srv is not None
    tree.device_replace(f"{srv.uri}/AAuthData", server_nonce, "bin")
    full = f"Add={server_id}&Delete={server_id}&Exec={server_id}&Get={server_id}" \
           f"&Replace={server_id}"
    tree.device_add("./Vendor", format="node", acl=full)
    for uri, value, fmt in (
        ("./Vendor/Acme/Settings/Brightness", "70", "int"),
        ("./Vendor/Acme/Settings/Ringtone", "classic", "chr"),
        ("./Vendor/Acme/Settings/WifiEnabled", "true", "bool"),
        ("./Vendor/Acme/Net/APN/1/Name", "internet.acme", "chr"),
        ("./Vendor/Acme/Net/APN/1/Port", "8080", "int"),
        ("./Vendor/Acme/Net/APN/2/Name", "mms.acme", "chr"),
        ("./Vendor/Acme/Logs/Boot", "boot ok", "chr"),
        ("./Vendor/Acme/Logs/Crash", "none", "chr"),
        ("./Vendor/Acme/Mail/Server", "imap.old.example", "chr"),
        ("./Vendor/Acme/Mail/Port", "143", "int"),
        ("./Vendor/Acme/Diag/LogLevel", "info", "chr"),
        ("./Vendor/Acme/Diag/LastCollect", "never", "chr"),
        ("./Vendor/Acme/Ops/Reboot", "", "chr"),
        ("./Vendor/Acme/Ops/CollectLogs", "", "chr"),
        ("./Vendor/Acme/Firmware/Package", b"", "bin"),
    ):
        tree.device_add(uri, value, format=fmt)
    register_handlers(tree)
    return tree


def configure_tree(tree: DMTree, *, dev_id: str | None = None, server_addr: str | None = None,
                   client_name: str | None = None, client_secret: str | None = None,
                   server_secret: str | None = None, client_auth: str | None = None,
                   server_auth: str | None = None) -> list[str]:
    """Set what is given (None: keep) on a tree ``build_tree`` made, e.g. one loaded from
    SQLite: DevId and the first DM account's address, names, secrets and auth types. Returns
    the names of the fields that changed. The ServerID is not settable here: the ACLs and the
    nonces of the tree name it."""
    account = next(tree.dm_accounts(), None)
    if account is None or account.layout != "1.2":
        raise ValueError("the tree has no DM 1.2 account to configure")
    changes: list[tuple[str, str, str | None]] = [("dev_id", "./DevInfo/DevId", dev_id)]
    address = tree.find(f"{account.uri}/AppAddr")
    for name in (address.children or {}):
        changes.append(("server_addr", f"{account.uri}/AppAddr/{name}/Addr", server_addr))
        break
    for entry in account.auth:
        if entry.level == "CLCRED":
            changes += [("client_name", f"{entry.uri}/AAuthName", client_name),
                        ("client_secret", f"{entry.uri}/AAuthSecret", client_secret),
                        ("client_auth", f"{entry.uri}/AAuthType", client_auth)]
        elif entry.level == "SRVCRED":
            changes += [("server_secret", f"{entry.uri}/AAuthSecret", server_secret),
                        ("server_auth", f"{entry.uri}/AAuthType", server_auth)]
    changed: list[str] = []
    with tree.transaction():
        for field_name, uri, value in changes:
            if value is not None and tree.device_get(uri) != value:
                tree.device_replace(uri, value)
                if field_name not in changed:
                    changed.append(field_name)
    return changed


def register_handlers(tree: DMTree) -> None:
    """Exec targets: Reboot counts reboots; CollectLogs stamps LastCollect."""

    def reboot(tree: DMTree, uri: str, server_id: str, data: object,
               correlator: str | None) -> int:
        node = tree.find("./Vendor/Acme/Ops/Reboot")
        count = int(node.value) + 1 if isinstance(node.value, str) and node.value else 1
        tree.device_replace("./Vendor/Acme/Ops/Reboot", str(count))
        return 200

    def collect(tree: DMTree, uri: str, server_id: str, data: object,
                correlator: str | None) -> int:
        level = tree.device_get("./Vendor/Acme/Diag/LogLevel")
        tree.device_replace("./Vendor/Acme/Diag/LastCollect", f"collected at {level!s}")
        return 200

    for uri, handler in (("./Vendor/Acme/Ops/Reboot", reboot),
                         ("./Vendor/Acme/Ops/CollectLogs", collect)):
        try:
            tree.register_exec(uri, handler)
        except Exception:  # noqa: BLE001 - a restored tree may lack the node: no handler then
            continue


# -- SQLite persistence ---------------------------------------------------------------------

_SCHEMA = """CREATE TABLE IF NOT EXISTS nodes (
    ord INTEGER PRIMARY KEY, uri TEXT NOT NULL, interior INTEGER NOT NULL,
    value BLOB, is_text INTEGER NOT NULL, format TEXT NOT NULL, type TEXT NOT NULL,
    acl TEXT NOT NULL, title TEXT NOT NULL, permanent INTEGER NOT NULL, access TEXT)"""


def _walk(node: Node, path: str) -> Iterator[tuple[str, Node]]:
    for name, child in (node.children or {}).items():
        uri = f"{path}/{name}"
        yield uri, child
        yield from _walk(child, uri)


def save_tree(tree: DMTree, path: str | Path) -> None:
    """Write every node (device view: secrets, nonces, ACLs, AccessType) to SQLite."""
    rows = []
    for order, (uri, node) in enumerate(_walk(tree.root, ".")):
        value = node.value
        rows.append((order, uri, node.children is not None,
                     value.encode("utf-8") if isinstance(value, str) else value,
                     isinstance(value, str), node.format, node.type, format_acl(node.acl),
                     node.title, node.permanent,
                     None if node.access is None else ",".join(sorted(node.access))))
    with sqlite3.connect(path) as db:
        db.execute(_SCHEMA)
        db.execute("DELETE FROM nodes")
        db.executemany("INSERT INTO nodes VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.close()


def load_tree(path: str | Path) -> DMTree:
    """The tree ``save_tree`` wrote (Exec handlers re-registered)."""
    tree = DMTree()
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT uri, interior, value, is_text, format, type, acl, title, "
                          "permanent, access FROM nodes ORDER BY ord").fetchall()
    db.close()
    for uri, interior, value, is_text, fmt, mime, acl, title, permanent, access in rows:
        if interior:
            tree.device_add(uri, format="node", type=mime, acl=acl, permanent=bool(permanent),
                            access=None if access is None else tuple(access.split(",")),
                            title=title, parents=False)
        else:
            data = value.decode("utf-8") if is_text and value is not None else value
            tree.device_add(uri, data, format=fmt, type=mime, acl=acl,
                            permanent=bool(permanent),
                            access=None if access is None else tuple(access.split(",")),
                            title=title, parents=False)
    register_handlers(tree)
    return tree


# -- a scripted user ------------------------------------------------------------------------


@dataclass(slots=True)
class ScriptedUser:
    """Answers UI alerts from a list (in order); records what it was shown."""

    answers: list[UiResponse | None] = field(default_factory=list)
    shown: list[UiAlert] = field(default_factory=list)

    def __call__(self, alert: UiAlert) -> UiResponse | None:
        self.shown.append(alert)
        if self.answers:
            return self.answers.pop(0)
        return UiResponse(200)


# -- driving a session ----------------------------------------------------------------------


@dataclass(slots=True)
class Exchange:
    """What one session run produced, side by side."""

    client_events: list[ev.Event] = field(default_factory=list)
    server_events: list[ev.Event] = field(default_factory=list)
    messages: list[tuple[str, Outgoing]] = field(default_factory=list)
    """("C" or "S", message) in the order they travelled."""


ServerApp = Callable[[ServerSession, list[ev.Event]], None]


def run_in_memory(client: ClientSession, server: ServerSession, *, app: ServerApp | None = None,
                  now: float = 0.0, max_messages: int = 200,
                  wire: Callable[[str, Outgoing], Outgoing | None] | None = None) -> Exchange:
    """Drive both sessions until the client has nothing more to send.

    ``app(server, events)`` sees every batch of server events (it may queue commands).
    ``wire(direction, message)`` may change or drop (None) a message in flight (fault tests).
    """
    result = Exchange()
    if client.state.name == "IDLE":
        result.client_events.extend(client.start(now=now))
    for _ in range(max_messages):
        out = client.data_to_send(now=now)
        if out is None:
            break
        result.messages.append(("C", out))
        delivered = wire("C", out) if wire is not None else out
        if delivered is None:
            result.client_events.extend(client.handle_timer(now=now + client.response_timeout))
            continue
        server_events = server.receive(delivered.body, now=now,
                                       content_type=delivered.content_type,
                                       hmac=delivered.hmac)
        result.server_events.extend(server_events)
        if app is not None:
            app(server, server_events)
        reply = server.data_to_send()
        after = server.take_events()
        result.server_events.extend(after)
        if app is not None and after:
            app(server, after)
        result.messages.append(("S", reply))
        back = wire("S", reply) if wire is not None else reply
        if back is None:
            result.client_events.extend(client.handle_timer(now=now + client.response_timeout))
            continue
        result.client_events.extend(client.receive(back.body, now=now,
                                                   content_type=back.content_type,
                                                   hmac=back.hmac))
    return result


__all__ = [
    "DEVICE_ID", "DEVICE_SECRET", "DEVICE_USER", "SERVER_ID", "SERVER_SECRET", "Exchange",
    "ScriptedUser", "build_tree", "configure_tree", "load_tree", "register_handlers",
    "run_in_memory", "save_tree",
]
