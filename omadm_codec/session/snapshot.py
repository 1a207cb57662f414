"""Session snapshots: ``snapshot() -> bytes`` and ``restore(bytes)`` for both session sides,
so a server can keep sessions outside the process and a device can survive a restart.

The one idea: a snapshot is plain data, never pickle: a magic line, then JSON with a format
version and the session's fields, sealed with SHA-256 (or HMAC-SHA256 when the caller gives a
``key``, so a snapshot stored elsewhere cannot be forged). Commands travel as the canonical
XML of a wrapper message (the codec's own format), bytes as base64. Anything that does not
verify, parse and validate is refused with ``SnapshotError`` and nothing is built. From
version 3 the server's larger byte fields (commands in flight and queued, the cached answer)
follow the JSON as raw bytes, after one newline (JSON as written holds none), the JSON naming
each by its ``[start, end]`` there: no base64, no escaping, fewer bytes to seal. Callables
(secret lookups, UI callbacks), secrets and the device's tree are not in the snapshot: the
caller passes them again to ``restore``. Snapshots are taken between messages only.

The session classes call these functions (``ServerSession.snapshot`` / ``.restore`` and the
client's), passing themselves or their class: this module never imports them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._json import dumps_sorted, loads
from ..errors import DecodeError, EncodeError, LocalProtocolError, SnapshotError
from ..limits import Reservation
from ..messages import decode, encode
from ..messages.model import Atomic, Command, Message, Results, Sequence, Source, SyncHdr, Target
from ..security.nonces import NonceManager, StoredNonce
from ._common import Outgoing
from ._inflight import Chunks, Incoming, LargeObject, Pending
from .behaviour import SPEC, DeviceBehaviour
from .states import State

if TYPE_CHECKING:
    from ..tree import DMTree
    from .client import ClientSession
    from .executor import UiCallback
    from .guards import SessionGuards
    from .server import ServerSession

MAGIC = b"omadm-codec-session\n"
VERSION = 3
"""The format written. Version 2 writes a plain in-flight command (one key, nothing
received, no children) as its key alone; version 3 puts the server's queued commands,
commands in flight and cached answer in the raw section. Versions 1 and 2 still restore."""
READABLE = frozenset((1, 2, VERSION))
MAX_SNAPSHOT = 64 << 20
_CONTAINERS = (Atomic, Sequence)  # a tuple: ``Atomic | Sequence`` builds a union each time


# -- envelope ---------------------------------------------------------------------------------


def _seal(role: str, fields: dict[str, Any], key: bytes | None,
          raw: list[bytes] | None = None, floats: dict[str, Any] | None = None) -> bytes:
    """``floats``: the fields that may hold a float, if not any of ``fields``."""
    payload = dumps_sorted({"version": VERSION, "role": role, "fields": fields},
                           floats_in=fields if floats is None else floats)
    if raw:
        payload = b"\n".join((payload, b"".join(raw)))
    return MAGIC + _tag(payload, key) + b"\n" + payload


def _tag(payload: bytes, key: bytes | None) -> bytes:
    # ``hmac.digest``: the one-shot C call (``hmac.new`` builds two hash objects in Python).
    digest = (hmac.digest(key, payload, "sha256") if key is not None
              else hashlib.sha256(payload).digest())
    return digest.hex().encode("ascii")


def _open(data: bytes, role: str, key: bytes | None) -> tuple[dict[str, Any], bytes]:
    """The verified fields and the raw section (empty before version 3)."""
    if not isinstance(data, bytes | bytearray) or len(data) > MAX_SNAPSHOT:
        raise SnapshotError("foreign", "not a snapshot")
    if not data.startswith(MAGIC):
        raise SnapshotError("foreign", "no snapshot header")
    end = data.find(b"\n", len(MAGIC))
    if end < 0:
        raise SnapshotError("corrupt", "truncated")
    tag, payload = bytes(data[len(MAGIC):end]), bytes(data[end + 1:])
    if not hmac.compare_digest(tag, _tag(payload, key)):
        raise SnapshotError("corrupt", "checksum or key does not match")
    split = payload.find(b"\n")
    raw = b""
    if split >= 0:
        payload, raw = payload[:split], payload[split + 1:]
    try:
        document = loads(payload)
    except ValueError as exc:
        raise SnapshotError("corrupt", "not JSON") from exc
    if not isinstance(document, dict) or not isinstance(document.get("fields"), dict):
        raise SnapshotError("corrupt", "bad layout")
    version = document.get("version")
    if version not in READABLE:
        raise SnapshotError("version", repr(version))
    if raw and version != VERSION:
        raise SnapshotError("corrupt", "raw bytes before version 3")
    if document.get("role") != role:
        raise SnapshotError("foreign", f"a {document.get('role')!r} snapshot, not {role!r}")
    fields: dict[str, Any] = document["fields"]
    return fields, raw


class _Reader:
    """Typed access to snapshot fields: a missing or mistyped field is ``SnapshotError``."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def get(self, name: str, kind: type | tuple[type, ...]) -> Any:
        value = self.fields.get(name)
        if type(value) is kind:  # the usual case, decided at once (a bool is never an int)
            return value
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in (
                kind if isinstance(kind, tuple) else (kind,))):
            raise SnapshotError("corrupt", f"field {name!r}")
        return value

    def opt(self, name: str, kind: type | tuple[type, ...]) -> Any:
        value = self.fields.get(name)
        if value is None or type(value) is kind:
            return value
        return self.get(name, kind)


def _typed(fields: dict[str, Any], schema: tuple[tuple[str, tuple[type, ...], bool], ...]
           ) -> list[Any]:
    """The values of ``schema``'s fields in its order, each checked as ``_Reader.get`` (or
    ``opt`` where optional) checks it, in one loop rather than a call per field."""
    values = []
    get = fields.get
    for name, kinds, optional in schema:
        value = get(name)
        if type(value) not in kinds and (value is not None or not optional):
            reader = _Reader(fields)
            value = reader.opt(name, kinds) if optional else reader.get(name, kinds)
        values.append(value)
    return values


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _unb64(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        # ``base64.b64decode(text, validate=True)`` without its two Python calls.
        return binascii.a2b_base64(text, strict_mode=True)
    except ValueError as exc:
        raise SnapshotError("corrupt", "bad base64") from exc


def _commands_out(commands: list[Command]) -> str:
    if not commands:
        return ""
    wrapper = Message(SyncHdr("0", "1", Target("snapshot"), Source("snapshot")), commands)
    try:
        return encode(wrapper).decode("utf-8")
    except EncodeError as exc:
        raise LocalProtocolError("unsnapshottable", f"a command cannot be encoded: {exc}") \
            from exc


class _Raw:
    """The raw section being written: each piece's ``[start, end]`` for the JSON."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.size = 0

    def add(self, data: bytes) -> list[int]:
        start = self.size
        self.size = end = start + len(data)
        self.pieces.append(data)
        return [start, end]


def _commands_raw(commands: list[Command], raw: _Raw) -> str | list[int]:
    """``_commands_out`` into the raw section: "" for none (as before), else its place."""
    if not commands:
        return ""
    wrapper = Message(SyncHdr("0", "1", Target("snapshot"), Source("snapshot")), commands)
    try:
        return raw.add(encode(wrapper))
    except EncodeError as exc:
        raise LocalProtocolError("unsnapshottable", f"a command cannot be encoded: {exc}") \
            from exc


def _piece(value: object, raw: bytes, what: str) -> bytes:
    """The raw bytes a ``[start, end]`` names."""
    if not (type(value) is list and len(value) == 2 and type(value[0]) is int
            and type(value[1]) is int and 0 <= value[0] <= value[1] <= len(raw)):
        raise SnapshotError("corrupt", what)
    return raw[value[0]:value[1]]


def _commands_at(value: object, raw: bytes) -> list[Command]:
    """``_commands_in`` of a field written by ``_commands_raw`` (or, before version 3, by
    ``_commands_out``)."""
    if type(value) is not list:
        return _commands_in(value)
    try:
        return decode(_piece(value, raw, "commands")).commands
    except DecodeError as exc:
        raise SnapshotError("corrupt", f"commands: {exc.reason}") from exc


def _commands_in(text: object) -> list[Command]:
    if text == "":
        return []
    if not isinstance(text, str):
        raise SnapshotError("corrupt", "commands")
    try:
        return decode(text.encode("utf-8")).commands
    except DecodeError as exc:
        raise SnapshotError("corrupt", f"commands: {exc.reason}") from exc


def _outgoing_out(out: Outgoing | None) -> dict[str, Any] | None:
    if out is None:
        return None
    return {"body": _b64(out.body), "content_type": out.content_type, "msg_id": out.msg_id,
            "final": out.final, "hmac": out.hmac}


def _outgoing_raw(out: Outgoing | None, raw: _Raw) -> dict[str, Any] | None:
    """``_outgoing_out`` with the body in the raw section."""
    if out is None:
        return None
    return {"body": raw.add(out.body), "content_type": out.content_type, "msg_id": out.msg_id,
            "final": out.final, "hmac": out.hmac}


def _outgoing_in(value: object, raw: bytes = b"") -> Outgoing | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SnapshotError("corrupt", "message")
    written, content_type, msg_id, final, tag = _typed(value, _OUTGOING_FIELDS)
    body = _piece(written, raw, "message") if type(written) is list else _unb64(written)
    assert body is not None
    return Outgoing(body, content_type, msg_id, final, tag)


def _state_in(text: object, allowed: set[State] | frozenset[State]) -> State:
    try:
        state = State(text)
    except ValueError as exc:
        raise SnapshotError("corrupt", "state") from exc
    if state not in allowed:
        raise SnapshotError("corrupt", f"state {state.name}")
    return state


def _nonces_out(nonces: NonceManager) -> list[list[Any]]:
    return [[account, level, _b64(slot.value), slot.consumed, slot.issued_here]
            for (account, level), slot in nonces.snapshot().items()]


def _nonces_in(rows: object, nonces: NonceManager) -> None:
    if not isinstance(rows, list):
        raise SnapshotError("corrupt", "nonces")
    for row in rows:
        if not (isinstance(row, list) and len(row) == 5 and all(
                isinstance(v, t) for v, t in zip(row, (str, str, str, bool, bool),
                                                 strict=True))):
            raise SnapshotError("corrupt", "nonce row")
        value = _unb64(row[2])
        assert value is not None
        nonces._slots[nonces._key(row[0], row[1])] = StoredNonce(value, row[3], row[4])


# -- server -------------------------------------------------------------------------------------


# The two recursive helpers below live at module level: a nested function that calls itself
# holds itself in its closure, a reference cycle that kept every snapshotted or restored
# session's objects alive until the cyclic collector ran (promoted meanwhile, walked again).


def _tree_out(pending: Pending, keys_of: dict[int, list[list[str]]]
              ) -> dict[str, Any] | list[str]:
    """One pending command (its children within) as snapshot data."""
    keys = keys_of.get(id(pending), [])
    if (len(keys) == 1 and not pending.statuses and not pending.data
            and not pending.children and not pending.chunk and not pending.receiving
            and not pending.is_last_chunk and not pending.results
            and not isinstance(pending.command, _CONTAINERS)):
        return keys[0]  # the common in-flight command: sent, nothing back yet
    node = {"keys": keys, "statuses": pending.statuses, "chunk": pending.chunk,
            "receiving": pending.receiving,
            "last": pending.is_last_chunk, "data": pending.data,
            "children": [_tree_out(child, keys_of) for child in pending.children]}
    if pending.results:  # Results that came ahead of their command's Status
        node["results"] = _commands_out(list(pending.results))
    return node


def _tree_in(node: object, command: Command, parent: Pending | None,
             into: dict[tuple[str, str], Pending]) -> Pending:
    """The ``Pending`` of one ``_tree_out`` node, its keys entered in ``into``."""
    # Checked inline, not through _Reader: a session may hold hundreds of these.
    if type(node) is list:  # a plain command in flight: its one key
        if not (len(node) == 2 and type(node[0]) is str and type(node[1]) is str
                and not isinstance(command, _CONTAINERS)):
            raise SnapshotError("corrupt", "pending key")
        pending = Pending(command, parent)
        into[(node[0], node[1])] = pending
        return pending
    if not isinstance(node, dict):
        raise SnapshotError("corrupt", "pending node")
    chunk, last, receiving = node.get("chunk"), node.get("last"), node.get("receiving")
    statuses, data, keys = node.get("statuses"), node.get("data"), node.get("keys")
    children = node.get("children")
    if not (type(chunk) is bool and type(last) is bool and type(receiving) is bool
            and type(statuses) is list and type(data) is list and type(keys) is list
            and type(children) is list):
        raise SnapshotError("corrupt", "pending node")
    pending = Pending(command, parent, chunk=chunk, is_last_chunk=last,
                      receiving=receiving)
    if not all(type(x) is int for x in statuses) or not all(type(x) is str for x in data):
        raise SnapshotError("corrupt", "pending statuses")
    pending.statuses = statuses
    pending.data = data
    if "results" in node:
        found = _commands_in(node["results"])
        if not found or not all(isinstance(x, Results) for x in found):
            raise SnapshotError("corrupt", "pending results")
        pending.results = found  # type: ignore[assignment]
    for k in keys:
        if not (type(k) is list and len(k) == 2 and type(k[0]) is str
                and type(k[1]) is str):
            raise SnapshotError("corrupt", "pending key")
        into[(k[0], k[1])] = pending
    subcommands = command.commands if isinstance(command, _CONTAINERS) else []
    if len(children) != len(subcommands):
        raise SnapshotError("corrupt", "pending children")
    pending.children = [_tree_in(c, s, pending, into) for c, s in
                        zip(children, subcommands, strict=True)]
    return pending


def _trees_out(session: ServerSession) -> list[Any]:
    """The ``pending`` field: each top-level command in flight by ``_tree_out``."""
    keys_of: dict[int, list[list[str]]] = {}  # one pass: a session holds many pending
    for k, p in session._pending.items():
        found = keys_of.get(id(p))
        if found is None:
            keys_of[id(p)] = [list(k)]
        else:
            found.append(list(k))
    return [_tree_out(p, keys_of) for p in session._top]


def server_snapshot(session: ServerSession, key: bytes | None = None) -> bytes:
    """``ServerSession.snapshot``: the session as sealed bytes (HMAC-SHA256 with ``key``, else
    SHA-256); ``LocalProtocolError("mid_exchange")`` while a message is being answered."""
    if session.state is State.SEND or session._later:
        raise LocalProtocolError("mid_exchange", "snapshot between messages only")
    top, table = session._top, session._pending
    tops: list[Command] = [p.command for p in top]
    pending_out: list[Any] = []
    if len(table) == len(top):
        # The common session: each key names one plain top-level command, in the order of
        # ``_top`` (as ``_fill`` enters them). Written as its key (a tuple is a JSON array).
        for (k, p), q in zip(table.items(), top, strict=True):
            if (p is not q or p.statuses or p.data or p.children or p.results or p.chunk
                    or p.receiving or p.is_last_chunk or isinstance(p.command, _CONTAINERS)):
                pending_out = []
                break
            pending_out.append(k)
    if len(pending_out) != len(top):
        pending_out = _trees_out(session)

    raw = _Raw()
    large = session._large
    policy = session.policy
    incoming = session._incoming
    incoming_key = None
    if incoming is not None:
        incoming_key = next(list(k) for k, p in session._pending.items()
                            if p is incoming.pending)
    fields = {
        "state": session.state.value, "server_id": session.server_id,
        "server_uri": session.server_uri, "aauth_type": policy.aauth_type,
        "server_auth_type": session.server_auth_type, "max_msg_size": session.max_msg_size,
        "idle_timeout": session.idle_timeout, "resp_uri": session.resp_uri,
        "session_id": session.session_id, "device_id": session.device_id,
        "username": session.username, "fmt": session.fmt,
        "client_max_msg_size": session.client_max_msg_size,
        "client_max_obj_size": session.client_max_obj_size, "started": session.started,
        "queue": _commands_raw(list(session._queue), raw), "top": _commands_raw(tops, raw),
        "pending": pending_out,
        "large": None if large is None else {
            "command": _commands_out([large.command]), "text": large.text,
            "format": large.format, "type": large.type, "offset": large.offset},
        "incoming": None if incoming is None else {
            "key": incoming_key, "first": _commands_out([incoming.first]),
            "expected": incoming.expected, "parts": incoming.parts,
            "received": incoming.received, "refused": incoming.refused},
        "msg_id": session._msg_id, "client_msg_id": session._client_msg_id,
        "last_digest": _b64(session._last_digest), "cached": _outgoing_raw(session._cached, raw),
        "end_after_send": session._end_after_send, "cred_sent_in":
            sorted(session._cred_sent_in), "server_authenticated":
            session._server_authenticated, "last_activity": session._last_activity,
        "ended_reported": session._ended_reported,
        "policy": {"accepted_type": policy.accepted_type, "username": policy.username,
                   "failures": policy.failures, "ended": policy.ended,
                   "max_failures": policy.max_failures,
                   "pending_nonce": _b64(policy.pending_nonce), "challenged": policy.challenged},
        "strict": session.strict, "quirks": list(session.quirks),
        "max_commands_per_message": session.max_commands_per_message,
        "end_reason": session.end_reason, "server_verdicts": session._server_verdicts,
        "server_accepted": session._server_accepted,
    }
    # The two fields a float reaches the JSON through (a float elsewhere fails restore's
    # type checks whichever writer wrote it).
    return _seal("server", fields, key, raw.pieces, {
        "idle_timeout": session.idle_timeout, "last_activity": session._last_activity})


_STR, _INT, _BOOL, _LIST, _DICT = (str,), (int,), (bool,), (list,), (dict,)
_NUMBER = (int, float)
_SERVER_FIELDS = (
    ("policy", _DICT, False), ("server_id", _STR, False), ("server_uri", _STR, False),
    ("aauth_type", _STR, False), ("server_auth_type", _STR, False),
    ("max_msg_size", _INT, False), ("idle_timeout", _NUMBER, False), ("resp_uri", _STR, True),
    ("strict", _BOOL, True), ("max_commands_per_message", _INT, True), ("state", _STR, False),
    ("session_id", _STR, True), ("device_id", _STR, False), ("username", _STR, True),
    ("fmt", _STR, False), ("client_max_msg_size", _INT, False),
    ("client_max_obj_size", _INT, True), ("started", _BOOL, False),
    ("queue", (str, list), False), ("top", (str, list), False), ("pending", _LIST, False),
    ("large", _DICT, True), ("incoming", _DICT, True), ("msg_id", _INT, False),
    ("client_msg_id", _INT, False), ("last_digest", _STR, False),
    ("end_after_send", _STR, True), ("cred_sent_in", _LIST, False),
    ("server_authenticated", _BOOL, False), ("last_activity", _NUMBER, True),
    ("ended_reported", _BOOL, False), ("quirks", _LIST, True), ("end_reason", _STR, True),
    ("server_verdicts", _INT, True), ("server_accepted", _BOOL, True))
"""What ``server_restore`` reads, in order: (name, types, optional)."""
_OUTGOING_FIELDS = (
    ("body", (str, list), False), ("content_type", _STR, False), ("msg_id", _STR, False),
    ("final", _BOOL, False), ("hmac", _STR, True))
_POLICY_FIELDS = (
    ("max_failures", _INT, False), ("accepted_type", _STR, True), ("username", _STR, True),
    ("failures", _INT, False), ("ended", _BOOL, False), ("pending_nonce", _STR, True),
    ("challenged", _BOOL, True))
_SERVER_STATES = frozenset((State.IDLE, State.WAIT, State.CLOSED, State.ABORTED, State.ERROR))


def server_restore(cls: type[ServerSession], data: bytes, *,
                   secret_lookup: Callable[[str], Any], nonces: NonceManager | None = None,
                   server_secret: str | None = None, key: bytes | None = None,
                   guards: SessionGuards | None = None,
                   accounts_for_device: Callable[[str], Any] | None = None) -> ServerSession:
    """``ServerSession.restore``: a ``cls`` instance from ``server_snapshot`` bytes, with the secret
    lookup, nonce store, server secret, guards and device binding given again; ``SnapshotError``
    if the bytes do not verify, parse or validate."""
    fields, raw = _open(data, "server", key)
    (policy, server_id, server_uri, aauth_type, server_auth_type, max_msg_size, idle_timeout,
     resp_uri, strict, max_commands_per_message, state, session_id, device_id, username, fmt,
     client_max_msg_size, client_max_obj_size, started, queue, top, trees, large, incoming,
     msg_id, client_msg_id, last_digest, end_after_send, cred_sent_in, server_authenticated,
     last_activity, ended_reported, quirks, end_reason, server_verdicts,
     server_accepted) = _typed(fields, _SERVER_FIELDS)
    (max_failures, accepted_type, policy_username, failures, ended, pending_nonce,
     challenged) = _typed(policy, _POLICY_FIELDS)
    # Fields added after version 1 was fixed are optional: older snapshots still restore.
    session = cls(
        server_id=server_id, server_uri=server_uri, secret_lookup=secret_lookup, nonces=nonces,
        aauth_type=aauth_type, server_secret=server_secret, server_auth_type=server_auth_type,
        max_msg_size=max_msg_size, max_failures=max_failures, idle_timeout=idle_timeout,
        resp_uri=resp_uri, strict=bool(strict), accounts_for_device=accounts_for_device,
        max_commands_per_message=max_commands_per_message)
    if guards is not None:
        session.guards = guards
        session.policy.per_message = guards.message_auth == "every_message"
    session.state = _state_in(state, _SERVER_STATES)
    session.session_id = session_id
    session.device_id = device_id
    session.username = username
    if fmt not in ("xml", "wbxml"):
        raise SnapshotError("corrupt", "fmt")
    session.fmt = fmt
    session.client_max_msg_size = client_max_msg_size
    session.client_max_obj_size = client_max_obj_size
    session.started = started
    session._queue = deque(_commands_at(queue, raw))
    tops = _commands_at(top, raw)
    if len(trees) != len(tops):
        raise SnapshotError("corrupt", "pending")

    into = session._pending
    restored_top = session._top
    for node, command in zip(trees, tops, strict=True):
        # The common node inline (a plain command in flight, its one key): _tree_in's
        # first case, without a call per command.
        if (type(node) is list and len(node) == 2 and type(node[0]) is str
                and type(node[1]) is str and not isinstance(command, _CONTAINERS)):
            pending = Pending(command)
            into[(node[0], node[1])] = pending
            restored_top.append(pending)
        else:
            restored_top.append(_tree_in(node, command, None, into))
    if large is not None:
        lr = _Reader(large)
        commands = _commands_in(lr.get("command", str))
        if len(commands) != 1 or commands[0].ELEMENT not in ("Add", "Replace"):
            raise SnapshotError("corrupt", "large object")
        session._large = LargeObject(commands[0], lr.get("text", str),  # type: ignore[arg-type]
                                      lr.opt("format", str), lr.opt("type", str),
                                      lr.get("offset", int))
    if incoming is not None:
        ir = _Reader(incoming)
        key = ir.get("key", list)
        target = session._pending.get((str(key[0]), str(key[1]))) if len(key) == 2 else None
        first = _commands_in(ir.get("first", str))
        if target is None or len(first) != 1 or not isinstance(first[0], Results):
            raise SnapshotError("corrupt", "incoming results")
        parts = [str(x) for x in ir.get("parts", list)]
        restored = Incoming(target, first[0], ir.opt("expected", int), parts,
                            received=sum(len(x.encode("utf-8")) for x in parts),
                            refused=ir.opt("refused", int),
                            reservation=Reservation(session.guards.incoming_budget))
        restored.reservation.adopt(restored.received)  # the bytes exist again, here
        session._incoming = restored
    session._msg_id = msg_id
    session._client_msg_id = client_msg_id
    session._last_digest = _unb64(last_digest) or b""
    session._cached = _outgoing_in(fields.get("cached"), raw)
    session._end_after_send = end_after_send
    session._cred_sent_in = {str(x) for x in cred_sent_in}
    session._server_authenticated = server_authenticated
    session._last_activity = last_activity
    session._ended_reported = ended_reported
    session.policy.accepted_type = accepted_type
    session.policy.username = policy_username
    session.policy.failures = failures
    session.policy.ended = ended
    session.policy.pending_nonce = _unb64(pending_nonce)
    session.policy.challenged = bool(challenged)
    session.quirks = [str(q) for q in (quirks or [])]
    session.end_reason = end_reason
    session._server_verdicts = server_verdicts or 0
    session._server_accepted = bool(server_accepted)
    return session


# -- client -------------------------------------------------------------------------------------


def client_snapshot(session: ClientSession, key: bytes | None = None) -> bytes:
    """``ClientSession.snapshot``: the device session as sealed bytes (HMAC-SHA256 with ``key``,
    else SHA-256), without its tree and UI callback."""
    chunks = session._chunks
    policy = session._server_policy
    fields = {
        "state": session.state.value, "server_id": session.server_id, "fmt": session.fmt,
        "session_id": session.session_id, "max_msg_size": session.max_msg_size,
        "max_obj_size": session.max_obj_size, "response_timeout": session.response_timeout,
        "max_retries": session.max_retries, "max_auth_attempts": session.max_auth_attempts,
        "resp_uri": session.resp_uri, "alert_code": session.alert_code,
        "msg_id": session._msg_id, "server_msg_id": session._server_msg_id,
        "auth_attempts": session._auth_attempts, "authenticated": session._authenticated,
        "cred_sent_in": sorted(session._cred_sent_in),
        "cred_every_message": session._cred_every_message,
        "pending": _outgoing_out(session._pending), "last_sent": _outgoing_out(
            session._last_sent), "sent_at": session._sent_at, "retries": session._retries,
        "alerts": _commands_out(list(session._alerts)),
        "pkg1_alerts": _commands_out(list(session._pkg1_alerts)),
        "chunks": None if chunks is None else {
            "uri": chunks.uri, "command": _commands_out([chunks.command]),
            "expected": chunks.expected, "parts": chunks.parts},
        "refused_uri": session._refused_uri,
        "issued_srv_nonce": _b64(session._issued_srv_nonce),
        "server_max_msg_size": session.server_max_msg_size,
        "outbox": [_commands_out(group) for group in session._outbox],
        "outbox_final": session._outbox_final, "outbox_ask_next": session._outbox_ask_next,
        "server_nonces": _nonces_out(session._server_nonces),
        "srv_verdict": session._srv_verdict,
        "policy": None if policy is None else {
            "accepted_type": policy.accepted_type, "username": policy.username,
            "failures": policy.failures, "ended": policy.ended},
    }
    return _seal("client", fields, key)


def client_restore(cls: type[ClientSession], data: bytes, tree: DMTree, *,
                   ui: UiCallback | None = None, key: bytes | None = None,
                   behaviour: DeviceBehaviour = SPEC) -> ClientSession:
    """``ClientSession.restore``: a ``cls`` instance from ``client_snapshot`` bytes on the device's
    ``tree``, with its UI callback and ``behaviour`` given again; ``SnapshotError`` if the bytes
    do not verify, parse or validate."""
    r = _Reader(_open(data, "client", key)[0])
    fmt = r.get("fmt", str)
    if fmt not in ("xml", "wbxml"):
        raise SnapshotError("corrupt", "fmt")
    try:
        session = cls(
            tree, server_id=r.get("server_id", str), fmt=fmt,
            session_id=r.get("session_id", str), max_msg_size=r.get("max_msg_size", int),
            max_obj_size=r.get("max_obj_size", int), ui=ui,
            response_timeout=r.get("response_timeout", (int, float)),
            max_retries=r.get("max_retries", int),
            max_auth_attempts=r.opt("max_auth_attempts", int), behaviour=behaviour)
    except LocalProtocolError as exc:
        raise SnapshotError("foreign", "no such account in this tree") from exc
    session.state = _state_in(r.get("state", str), set(State))
    session.resp_uri = r.opt("resp_uri", str)
    session.alert_code = r.get("alert_code", int)
    session._msg_id = r.get("msg_id", int)
    session._server_msg_id = r.get("server_msg_id", int)
    session._auth_attempts = r.get("auth_attempts", int)
    session._authenticated = r.get("authenticated", bool)
    session._cred_sent_in = {str(x) for x in r.fields.get("cred_sent_in") or []}
    session._cred_every_message = bool(r.fields.get("cred_every_message", False))
    session._pending = _outgoing_in(r.fields.get("pending"))
    session._last_sent = _outgoing_in(r.fields.get("last_sent"))
    session._sent_at = r.opt("sent_at", (int, float))
    session._retries = r.get("retries", int)
    session._alerts = _commands_in(r.get("alerts", str))  # type: ignore[assignment]
    session._pkg1_alerts = _commands_in(r.get("pkg1_alerts", str))  # type: ignore[assignment]
    chunks = r.opt("chunks", dict)
    if chunks is not None:
        cr = _Reader(chunks)
        commands = _commands_in(cr.get("command", str))
        if len(commands) != 1 or commands[0].ELEMENT not in ("Add", "Replace"):
            raise SnapshotError("corrupt", "chunks")
        parts = [str(x) for x in cr.get("parts", list)]
        session._chunks = Chunks(cr.get("uri", str), commands[0],  # type: ignore[arg-type]
                                  cr.opt("expected", int), parts,
                                  sum(len(p.encode("utf-8")) for p in parts))
    session._refused_uri = r.opt("refused_uri", str)
    session._issued_srv_nonce = _unb64(r.opt("issued_srv_nonce", str))
    session.server_max_msg_size = r.opt("server_max_msg_size", int)
    session._outbox = [_commands_in(group) for group in r.get("outbox", list)]
    session._outbox_final = r.get("outbox_final", bool)
    session._outbox_ask_next = r.get("outbox_ask_next", bool)
    session._srv_verdict = r.opt("srv_verdict", int)
    session._server_nonces._slots.clear()
    _nonces_in(r.fields.get("server_nonces"), session._server_nonces)
    policy = r.opt("policy", dict)
    if (policy is None) != (session._server_policy is None):
        raise SnapshotError("foreign", "the account's server authentication changed")
    if policy is not None and session._server_policy is not None:
        pr = _Reader(policy)
        session._server_policy.accepted_type = pr.opt("accepted_type", str)
        session._server_policy.username = pr.opt("username", str)
        session._server_policy.failures = pr.get("failures", int)
        session._server_policy.ended = pr.get("ended", bool)
    return session


__all__ = ["MAGIC", "READABLE", "VERSION", "client_restore", "client_snapshot", "server_restore",
           "server_snapshot"]
