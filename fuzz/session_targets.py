"""Session fuzz targets: a client or a server session, already authenticated, receives one
fuzzed peer package; both twins must end with the same events, replies and tree.

The one idea: ``authenticated_exchange(fmt)`` runs one real in-memory session (BASIC both
ways, session id 1F, fixed clock, counter nonces) whose server first sends only a small
package, then the demo's management script. Its first client package and first server package
are the fixed PREFIX every harness run replays to reach the authenticated state; the packages
after them are the seeds (``fuzz/seeds.py``). A run replays the prefix on one twin, then feeds
each fuzzed message (split on ``SESSION_SPLIT``) and returns the events, the outgoing bytes and
a canonical dump of the device tree (client target).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import secrets
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from omadm_codec import errors
from omadm_codec.limits import Limits

SESSION_SPLIT = b"\n--next-server-message--\n"
"""Separates successive peer messages in one session input."""
SESSION_URI = "http://127.0.0.1/dm"
FORMATS = ("xml", "wbxml")
_DEFAULT = Limits()
_SMALL = Limits(max_input_size=4096, max_depth=8, max_string_table=64, max_opaque=256,
                max_elements=64)


class _FixedClock:
    """Stands in for ``time`` in ``omadm_codec.tree.tree`` (the default TStamp clock)."""

    @staticmethod
    def time() -> float:
        return 1_800_000_000.0


class _Tokens:
    """Stands in for ``secrets``: a counter, not randomness (both twins draw the same)."""

    def __init__(self) -> None:
        self.count = 0

    def token_bytes(self, size: int = 16) -> bytes:
        self.count += 1
        return hashlib.sha256(b"%d" % self.count).digest()[:size]

    def compare_digest(self, a: bytes, b: bytes) -> bool:
        return secrets.compare_digest(a, b)

    def randbelow(self, upper: int) -> int:
        return self.count % upper


def _twin(name: str, kind: str) -> ModuleType:
    from omadm_codec import _backend

    return _backend.twin(name, kind)


@contextlib.contextmanager
def _patched(module: ModuleType, attr: str, value: Any) -> Iterator[None]:
    saved = getattr(module, attr)
    setattr(module, attr, value)
    try:
        yield
    finally:
        setattr(module, attr, saved)


@contextlib.contextmanager
def deterministic(kind: str) -> Iterator[Callable[[], Any]]:
    """Bind every twin-backed module to twin ``kind``, fix the clock and the nonces.
    Yields a factory of NonceManagers drawing from the same counter."""
    from omadm_codec import messages, wbxml
    from omadm_codec.security import auth, notification
    from omadm_codec.security.nonces import NonceManager
    from omadm_codec.session import client as client_mod
    from omadm_codec.tree import tree as tree_mod

    digest = _twin("security._digest", kind)
    tokens = _Tokens()

    def nonces(*a: Any, **k: Any) -> Any:
        return NonceManager(*a, token=tokens.token_bytes, **k)

    with contextlib.ExitStack() as stack:
        stack.enter_context(_patched(tree_mod, "active", lambda name: _twin(name, kind)))
        stack.enter_context(_patched(wbxml, "wbxml_to_xml", _twin("wbxml._decode", kind)
                                     .wbxml_to_xml))
        stack.enter_context(_patched(wbxml, "xml_to_wbxml", _twin("wbxml._encode", kind)
                                     .xml_to_wbxml))
        stack.enter_context(_patched(messages, "_codec", _twin("messages._fast", kind)))
        stack.enter_context(_patched(auth, "_digest", digest))
        stack.enter_context(_patched(notification, "_digest", digest))
        stack.enter_context(_patched(tree_mod, "time", _FixedClock))
        stack.enter_context(_patched(client_mod, "NonceManager", nonces))
        yield nonces


def _warmup_package() -> list[Any]:
    from omadm_codec.messages.model import Get, Item, Target

    return [Get("0", [Item(target=Target("./DevInfo/Mod"))])]


class _ScriptApp:
    """Server application: a one-Get first package, then the demo script's packages."""

    def __init__(self) -> None:
        from omadm_codec.tools.demo_scenario import first_package, second_package

        self.batches = [_warmup_package(), [s.command for s in first_package()],
                        [s.command for s in second_package()]]
        self.waiting = 0

    def __call__(self, server: Any, events: list[Any]) -> None:
        from omadm_codec.session import events as ev

        for event in events:
            # CommandCompleted is reported for top-level commands only (children nest in it).
            if isinstance(event, ev.SessionStarted | ev.CommandCompleted):
                if isinstance(event, ev.CommandCompleted):
                    self.waiting -= 1
                if self.waiting <= 0 and self.batches:
                    batch = self.batches.pop(0)
                    self.waiting = len(batch)
                    server.send_commands(batch)


def new_client(fmt: str, limits: Limits) -> Any:
    from omadm_codec.session import ClientSession
    from omadm_codec.tools.simulator import build_tree

    tree = build_tree(server_addr=SESSION_URI, client_auth="BASIC", server_auth="BASIC")
    return ClientSession(tree, fmt=fmt, session_id="1F",  # type: ignore[arg-type]
                         max_msg_size=8192, limits=limits)


def new_server(nonces: Callable[[], Any]) -> Any:
    from omadm_codec.security import auth
    from omadm_codec.session import ServerSession
    from omadm_codec.tools.simulator import DEVICE_SECRET, DEVICE_USER, SERVER_ID, SERVER_SECRET

    stored = {DEVICE_USER: auth.secret_hash(DEVICE_USER, DEVICE_SECRET)}
    return ServerSession(server_id=SERVER_ID, server_uri=SESSION_URI, secret_lookup=stored.get,
                         nonces=nonces(), aauth_type="BASIC", server_secret=SERVER_SECRET,
                         server_auth_type="BASIC")


@functools.cache
def authenticated_exchange(fmt: str) -> tuple[tuple[str, bytes], ...]:
    """The (direction, body) messages of one whole deterministic session in ``fmt``."""
    from omadm_codec.tools.simulator import run_in_memory

    with deterministic("py") as nonces:
        client = new_client(fmt, _DEFAULT)
        exchange = run_in_memory(client, new_server(nonces), app=_ScriptApp())
    return tuple((direction, m.body) for direction, m in exchange.messages)


def prefix(fmt: str) -> tuple[bytes, bytes]:
    """(client package 1, server package 2): the authenticating round every run replays."""
    messages = authenticated_exchange(fmt)
    return messages[0][1], messages[1][1]


def tree_dump(tree: Any) -> list[tuple[Any, ...]]:
    """Every node in document order with every field a command can change."""
    from omadm_codec.tools.simulator import _walk
    from omadm_codec.tree.acl import format_acl

    return [(uri, node.children is not None, node.value, node.format, node.type,
             None if node.acl is None else format_acl(node.acl), node.title, node.tstamp,
             node.verno, node.permanent, None if node.access is None else sorted(node.access))
            for uri, node in _walk(tree.root, ".")]


def _events(events: list[Any]) -> list[str]:
    return [repr(event) for event in events]


def client_target(data: bytes, kind: str) -> Any:
    """Option byte: bit0 WBXML client, bit1 small limits for the fuzzed messages. The client
    replays the prefix (it is authenticated both ways after it), then receives each message."""
    from omadm_codec.session import State

    flags, body = (data[0], data[1:]) if data else (0, b"")
    fmt = FORMATS[flags & 1]
    package1, package2 = prefix(fmt)
    with deterministic(kind):
        client = new_client(fmt, _DEFAULT)
        client.start(now=0.0)
        out = client.data_to_send(now=0.0)
        if out is None or out.body != package1:
            raise AssertionError("session prefix: package 1 is not the recorded one")
        client.receive(package2, now=0.0)
        if client.state is not State.SEND:
            raise AssertionError(f"session prefix: client in {client.state.name} after pkg 2")
        if flags & 2:
            client.limits = _SMALL
        trace: list[Any] = []
        for number, message in enumerate(body.split(SESSION_SPLIT), start=1):
            if client.state is not State.WAIT:
                sent = client.data_to_send(now=float(number))
                trace.append(None if sent is None else (sent.body, sent.hmac))
            if client.state is not State.WAIT:
                break
            try:
                trace.append(_events(client.receive(message, now=float(number))))
            except errors.RemoteProtocolError as exc:
                trace.append(("refused", exc.reason, exc.status, client.state.name))
                break
        if client.state is not State.WAIT and not client.state.name == "CLOSED":
            sent = client.data_to_send(now=99.0)
            trace.append(None if sent is None else (sent.body, sent.hmac))
        trace.append(client.state.name)
        trace.append(tree_dump(client.tree))
        return trace


def server_target(data: bytes, kind: str) -> Any:
    """Option byte: bit0 WBXML session. The server receives the recorded package 1 (the client
    is authenticated after it) and sends package 2; then it receives each fuzzed message."""
    flags, body = (data[0], data[1:]) if data else (0, b"")
    fmt = FORMATS[flags & 1]
    package1, package2 = prefix(fmt)
    with deterministic(kind) as nonces:
        server = new_server(nonces)
        app = _ScriptApp()
        app(server, server.receive(package1, now=0.0))
        reply = server.data_to_send()
        app(server, server.take_events())
        if reply.body != package2:
            raise AssertionError("session prefix: package 2 is not the recorded one")
        trace: list[Any] = []
        for number, message in enumerate(body.split(SESSION_SPLIT), start=1):
            try:
                events = server.receive(message, now=float(number))
            except errors.RemoteProtocolError as exc:
                trace.append(("refused", exc.reason, exc.status))
                break
            app(server, events)
            trace.append(_events(events))
            if server.state.name == "CLOSED":
                break
            reply = server.data_to_send()
            after = server.take_events()
            app(server, after)
            trace.append((reply.body, reply.hmac, _events(after)))
        trace.append(server.state.name)
        return trace
