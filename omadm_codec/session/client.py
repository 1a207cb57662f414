"""``ClientSession``: the device side of a DM session, sans-IO.

The one idea: the client is a loop of ``data_to_send()`` (package 1, then each package 3)
and ``receive(bytes)`` (each server message), with every server command run against a
``DMTree`` as the server's identity by ``executor``. It owns the two credential directions of
its DMAcc account: it presents CLCRED credentials (Cred, or the ``x-syncml-hmac`` header) and
verifies the server's SRVCRED credentials with an ``AuthPolicy`` of its own, so the server's
commands run only after the server authenticated.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Callable

from ..errors import AuthenticationError, LocalProtocolError, RemoteProtocolError, TreeError
from ..limits import DEFAULT_LIMITS, Limits
from ..messages.model import (
    Add,
    Alert,
    Atomic,
    Command,
    Copy,
    Delete,
    Exec,
    Get,
    Item,
    Message,
    Meta,
    Replace,
    Results,
    Sequence,
    Source,
    Status,
    SyncHdr,
    Target,
)
from ..security import auth
from ..security import notification as pkg0
from ..security.nonces import NonceManager
from ..security.policy import AuthPolicy
from ..tree import DMAccount, DMTree
from ..tree.standard import AuthEntry
from . import events as ev
from ._common import (
    _ID_TEXTS,
    ALERT_ABORT,
    ALERT_NEXT_MESSAGE,
    ALERT_NO_END_OF_DATA,
    ANSWERS,
    CONTENT_TYPES,
    CmdIds,
    Format,
    MessageSizer,
    Outgoing,
    check_cmd_ids,
    decode_message,
    encode_message,
    fmt_of,
    header_status,
    id_text,
    item_text,
    item_uri,
    message_id,
)
from ._inflight import Chunks
from .behaviour import SPEC, DeviceBehaviour
from .executor import (
    STATUS_CHUNK_BUFFERED,
    STATUS_SIZE_MISMATCH,
    UiCallback,
    _Context,
    new_context,
    run_command,
)
from .executor import _run_get as run_get
from .executor import _run_items as run_items
from .snapshot import client_restore, client_snapshot
from .states import TERMINAL, Role, State, transition

DEVINFO_LEAVES = ("DevId", "Man", "Mod", "DmV", "Lang")
_DEVINFO_URIS = tuple(f"./DevInfo/{leaf}" for leaf in DEVINFO_LEAVES)
STATUS_RESULTS_TOO_LARGE = 413
_OBJECTS = (Add, Replace)  # what may arrive in chunks
_OBJECT_KINDS = frozenset(_OBJECTS)
# The exact classes of the commands a server sends that are neither answers nor Alerts.
_PLAIN_COMMANDS = frozenset({Add, Atomic, Copy, Delete, Exec, Get, Replace, Sequence})


_random_pool = bytearray()


def _forget_random_pool() -> None:
    _random_pool.clear()  # a forked process draws its own: no SessionID shared with the parent


if hasattr(os, "register_at_fork"):  # POSIX only; elsewhere there is no fork to copy it
    os.register_at_fork(after_in_child=_forget_random_pool)


def _new_session_id() -> str:
    """A random SessionID, 1 to FFFF in hex (uniform, as ``secrets.randbelow(0xFFFF) + 1``).
    The OS random bytes are fetched 512 at a time: one ``getrandom`` per 256 sessions, not
    one per session."""
    while True:
        try:  # each ``pop`` is atomic: threads never draw the same bytes
            value = _random_pool.pop() << 8 | _random_pool.pop()
        except IndexError:
            _random_pool.extend(secrets.token_bytes(512))
            continue
        if value:
            return format(value, "X")


def _lone(group: list[Command]) -> bool:
    """A group of one Status (such as the answer to a 1222): it delivers no answer."""
    return len(group) == 1 and isinstance(group[0], Status)


class ClientSession:
    """One DM session of a device with the server of one DMAcc account.

    ``tree`` holds DevInfo and the account; ``server_id`` picks the account (default: the
    first). ``fmt`` is the encoding of the client's messages. ``ui`` answers UI alerts.
    ``max_auth_attempts`` bounds the 401/407 answers taken before giving up (None: never
    gives up). ``behaviour`` departs from the protocol as a real client does
    (``DeviceBehaviour``; default: the protocol's).
    """

    role = Role.CLIENT

    def __init__(self, tree: DMTree, *, server_id: str | None = None, fmt: Format = "xml",
                 session_id: str | None = None, max_msg_size: int = 65536,
                 max_obj_size: int = 4 << 20, ui: UiCallback | None = None,
                 response_timeout: float = 60.0, max_retries: int = 2,
                 max_auth_attempts: int | None = 3, limits: Limits = DEFAULT_LIMITS,
                 behaviour: DeviceBehaviour = SPEC) -> None:
        self.tree = tree
        self.behaviour = behaviour
        # The first account that fits: the accounts after it are not read.
        account = next((a for a in tree.dm_accounts() if server_id in (None, a.server_id)),
                       None)
        if account is None:
            raise LocalProtocolError("no_account", f"no DMAcc account for {server_id!r}")
        self.account: DMAccount = account
        self.server_id = self.account.server_id
        self.fmt: Format = fmt
        self.session_id = session_id or _new_session_id()
        self.max_msg_size = max_msg_size
        self.max_obj_size = max_obj_size
        self.ui = ui
        self.limits = limits
        self.response_timeout = response_timeout
        self.max_retries = max_retries
        self.max_auth_attempts = max_auth_attempts
        self.state = State.IDLE
        self.server_uri = self.account.addresses[0].addr if self.account.addresses else ""
        self.resp_uri: str | None = None
        """The server's RespURI: where the next message must go (the binding follows it)."""
        self.alert_code = 1201
        self._msg_id = 0
        self._server_msg_id = 0
        self._auth_attempts = 0
        self._authenticated = False
        self._cred_sent_in: set[str] = set()  # MsgIDs of our messages that carried a Cred
        self._cred_every_message = False
        """The server answered our credentials 200, not 212: every message carries them."""
        self._pending: Outgoing | None = None
        self._last_sent: Outgoing | None = None
        self._sent_at: float | None = None
        self._retries = 0
        self._alerts: list[Alert] = []
        self._pkg1_alerts: list[Alert] = []
        self._chunks: Chunks | None = None
        self._refused_uri: str | None = None
        # The server's credentials are checked with the SRVCRED nonce this device issued.
        self._srv = self.account.credentials("SRVCRED")
        self._clcred_entry = self.account.credentials("CLCRED")
        self._server_policy: AuthPolicy | None = None
        self._server_nonces = NonceManager()
        if self._srv is not None and self._srv.type in ("BASIC", "DIGEST", "HMAC"):
            name, secret = self._srv.name, self._srv.secret
            self._server_nonces.reset_resync(name, "SRVCRED", self._srv.data)
            stored = auth.secret_hash(name, secret)
            self._server_policy = AuthPolicy(
                self._srv.type, lambda user: stored if user == name else None,
                self._server_nonces, level="SRVCRED")
        self._issued_srv_nonce: bytes | None = None
        self._dev_id_cache: str | None = None
        self.server_max_msg_size: int | None = None
        """The server's MaxMsgSize (None until it says): our messages stay within it."""
        self._outbox: list[list[Command]] = []
        # id(group) -> (group, MessageSizer.measure(group)) for the groups in the outbox.
        self._group_sizes: dict[int, tuple[list[Command], tuple[int, int]]] = {}
        self._outbox_final = True
        self._outbox_ask_next = False
        self._refused_results: set[str] = set()
        """CmdIDs of the server's commands ``_split`` answered 413 in this ``receive``."""
        self._answering: Message | None = None
        """The server message the next message answers (for ``behaviour.rewrite``)."""
        self._srv_verdict = behaviour.unverified_server_status
        """With ``behaviour.unverified_server_status``: the last verdict on the server's
        credentials, reported in every SyncHdr Status."""

    # -- snapshots ------------------------------------------------------------------------

    def snapshot(self, key: bytes | None = None) -> bytes:
        """This session as versioned, sealed bytes; see ``session.snapshot``."""
        return client_snapshot(self, key)

    @classmethod
    def restore(cls, data: bytes, tree: DMTree, *, ui: UiCallback | None = None,
                key: bytes | None = None, behaviour: DeviceBehaviour = SPEC) -> ClientSession:
        """The session ``snapshot()`` saved, on ``tree``; ``SnapshotError`` if corrupt or
        foreign. ``behaviour`` (hooks are not in a snapshot) is given again."""
        return client_restore(cls, data, tree, ui=ui, key=key, behaviour=behaviour)

    # -- starting -----------------------------------------------------------------------

    @classmethod
    def from_notification(cls, tree: DMTree, package0: bytes, **kwargs: object) -> ClientSession:
        """A session answering a verified package 0: Alert 1200 with its SessionID.

        Raises ``RemoteProtocolError("bad_notification")`` if it does not verify."""
        from ..errors import DecodeError

        try:
            note = pkg0.decode(package0)
        except DecodeError as exc:
            raise RemoteProtocolError("bad_notification", exc.reason) from exc
        try:
            session = cls(tree, server_id=note.server_id, session_id=note.session_id_hex,
                          **kwargs)  # type: ignore[arg-type]
        except LocalProtocolError as exc:
            raise RemoteProtocolError("bad_notification", "unknown server") from exc
        srv = session._srv
        if srv is None:
            raise RemoteProtocolError("bad_notification", "no SRVCRED for the server")
        secret = auth.secret_hash(srv.name, srv.secret)
        if pkg0.matching_nonce_with_secret(package0, secret, srv.data) is None:
            raise RemoteProtocolError("bad_notification", "digest does not verify")
        session.alert_code = 1200
        return session

    def queue_alert(self, alert_code: int, items: list[Item],
                    correlator: str | None = None) -> None:
        """Queue a client alert (1226 generic, 1224 client event) for the next message."""
        if self.state in TERMINAL:
            raise LocalProtocolError("session_over")
        self._alerts.append(Alert("0", alert_code, correlator, list(items)))

    def start(self, *, now: float) -> list[ev.Event]:
        """Build package 1 (Alert 1201/1200, DevInfo, queued alerts, credentials)."""
        self.state = transition(self.role, self.state, ev.Started)
        self._pending = self._package1(statuses=[])
        return [ev.Started(self.session_id)]

    # -- timers -------------------------------------------------------------------------

    def next_timer(self) -> float | None:
        """When ``handle_timer`` must be called (the response deadline), or None."""
        if self.state is State.WAIT and self._sent_at is not None:
            return self._sent_at + self.response_timeout
        return None

    def handle_timer(self, *, now: float) -> list[ev.Event]:
        """Past the deadline: resend the last message (same MsgID) or give up."""
        deadline = self.next_timer()
        if deadline is None or now < deadline:
            return []
        if self._retries >= self.max_retries or self._last_sent is None:
            return self._abort_now("timeout")
        self._retries += 1
        self.state = transition(self.role, self.state, ev.TimedOut)
        self._pending = self._last_sent
        return [ev.TimedOut(deadline)]

    # -- sending ------------------------------------------------------------------------

    def data_to_send(self, *, now: float) -> Outgoing | None:
        """The message to send now, or None if there is none (session over or waiting)."""
        if self.state is not State.SEND or self._pending is None:
            return None
        out = self._pending
        self._pending = None
        self._last_sent = out
        self._sent_at = now
        self.state = transition(self.role, self.state, ev.MessageSent)
        return out

    def abort(self, *, now: float) -> Outgoing | None:
        """Abort (Alert 1223, Final); returns the message to send, if the state allows one."""
        if self.state in TERMINAL:
            raise LocalProtocolError("session_over")
        if self._pending is not None:
            # The unsent message is replaced by the abort, which takes its MsgID.
            self._pending = None
            self._msg_id -= 1
        ids = CmdIds()
        msg = Message(self._header(), [Alert(ids(), ALERT_ABORT)], final=True)
        out = self._encode(msg)
        self.state = transition(self.role, self.state, ev.Aborted)
        return out

    def _header(self) -> SyncHdr:
        clcred = self._clcred_entry
        behaviour = self.behaviour
        name = clcred.name if clcred and behaviour.send_loc_name else None
        max_obj = self.max_obj_size if behaviour.announce_max_obj_size else None
        self._msg_id += 1
        # Meta positional (max_msg_size and max_obj_size are its 9th and 10th fields), its
        # lists given: no keyword parsing nor default factories once per message.
        meta = Meta(False, None, None, None, None, None, None, None, self.max_msg_size,
                    max_obj, [], None, [])
        hdr = SyncHdr(self.session_id, str(self._msg_id), Target(self.server_uri),
                      Source(self._dev_id(), name), "1.2", "DM/1.2", None, False, None, meta)
        if self._cred_every_message:
            self._add_cred(hdr)
        return hdr

    def _add_cred(self, hdr: SyncHdr) -> None:
        clcred = self._clcred()
        if clcred is not None and clcred.type == "BASIC":
            hdr.cred = auth.build_credential("BASIC", clcred.name, clcred.secret).to_model()
        elif clcred is not None and clcred.type == "DIGEST" and (
                clcred.data or self.behaviour.credentials_before_nonce):
            hdr.cred = auth.build_credential("DIGEST", clcred.name, clcred.secret,
                                             clcred.data).to_model()

    def _dev_id(self) -> str:
        if self._dev_id_cache is None:
            value = self.tree.device_get("./DevInfo/DevId")
            self._dev_id_cache = value if isinstance(value, str) else ""
        return self._dev_id_cache

    def _clcred(self) -> AuthEntry | None:
        entry = self._clcred_entry
        if entry is None:
            return None
        # The nonce may have been stored since the account was read: read that one leaf.
        nonce = self.tree.find(f"{entry.uri}/AAuthData").value
        if isinstance(nonce, str):
            nonce = nonce.encode("utf-8")
        if nonce == entry.data:
            return entry
        # ``dataclasses.replace(entry, data=...)``, written out: the nonce changes every session.
        self._clcred_entry = type(entry)(entry.uri, entry.level, entry.type, entry.name,
                                         entry.secret, nonce or b"")
        return self._clcred_entry

    def _encode(self, msg: Message) -> Outgoing:
        behaviour = self.behaviour
        if behaviour.always_final and not msg.final:
            msg = dataclasses.replace(msg, final=True, commands=[
                c for c in msg.commands
                if not (isinstance(c, Alert) and c.data == ALERT_NEXT_MESSAGE)])
        if behaviour.rewrite is not None:
            msg = behaviour.rewrite(msg, self._answering)
        if msg.header.cred is not None:
            self._cred_sent_in.add(msg.header.msg_id)
        body = encode_message(msg, self.fmt)
        if behaviour.rewrite_body is not None:
            body = behaviour.rewrite_body(body, self.fmt)
        hmac_value = None
        # The nonce is read from the tree (``_clcred``) only where HMAC needs it; the type
        # read from the entry already held is the one ``_clcred`` would give.
        held = self._clcred_entry
        clcred = self._clcred() if held is not None and held.type == "HMAC" else None
        if clcred is not None and clcred.type == "HMAC" and (
                clcred.data or behaviour.credentials_before_nonce):
            hmac_value = auth.hmac_header(clcred.name, clcred.secret, clcred.data, body)
        media = (behaviour.media_types or CONTENT_TYPES)[self.fmt]
        return Outgoing(body, media, msg.header.msg_id, msg.final, hmac_value)

    def _package1(self, statuses: list[Status | Results | Alert]) -> Outgoing:
        hdr = self._header()
        self._add_cred(hdr)
        ids = CmdIds()
        commands: list[object] = []
        for status in statuses:
            status.cmd_id = ids()
            commands.append(status)
        commands.append(Alert(ids(), self.alert_code))
        items = []
        device_get = self.tree.device_get
        try:  # the leaves read from ./DevInfo's children; a missing one fails as device_get
            devinfo = self.tree.find("./DevInfo").children or {}
        except TreeError:
            devinfo = {}
        for leaf, uri in zip(DEVINFO_LEAVES, _DEVINFO_URIS, strict=True):
            node = devinfo.get(leaf)
            value = node.value if node is not None else device_get(uri)
            # Positional, as in ``_header``: Meta(format="chr", type="text/plain").
            meta = Meta(False, "chr", "text/plain", None, None, None, None, None, None, None,
                        [], None, [])
            items.append(Item(None, Source(uri), None, None, meta,
                              value if isinstance(value, str) else ""))
        commands.append(Replace(ids(), items))
        # Alerts of package 1 stay until it is accepted: a challenged package 1 is re-sent whole.
        self._pkg1_alerts.extend(self._alerts)
        self._alerts = []
        for alert in self._pkg1_alerts:
            alert.cmd_id = ids()
            commands.append(alert)
        return self._encode(Message(hdr, commands, final=True))  # type: ignore[arg-type]

    # -- receiving ----------------------------------------------------------------------

    def receive(self, data: bytes, *, now: float, content_type: str | None = None,
                hmac: str | None = None) -> list[ev.Event]:
        """Take one server message; run its commands; prepare the answer (if any).

        Raises ``RemoteProtocolError`` for a message the session cannot accept (the session
        is then in ``ERROR``), ``LocalProtocolError`` if no message was expected."""
        if self.state is not State.WAIT:
            raise LocalProtocolError("not_waiting", self.state.name)
        try:
            msg = decode_message(data, content_type, self.limits)
            number = message_id(msg)
            if msg.header.session_id != self.session_id:
                raise RemoteProtocolError("session_id", msg.header.session_id)
            if number <= self._server_msg_id:
                raise RemoteProtocolError("msg_id_order", msg.header.msg_id)
            check_cmd_ids(msg)
        except RemoteProtocolError:
            self.state = transition(self.role, self.state, ev.ProtocolFailed)
            raise
        self._server_msg_id = number
        self._retries = 0
        self._answering = msg
        self.fmt = fmt_of(content_type, data)
        if msg.header.resp_uri:
            self.resp_uri = msg.header.resp_uri
        events: list[ev.Event] = []
        # One pass sorts the message: the SyncHdr Status, the commands to run, an abort.
        header_reply: Status | None = None
        managed: list[Command] = []
        aborted = False
        for command in msg.commands:
            if type(command) in _PLAIN_COMMANDS:
                managed.append(command)  # neither an answer nor an Alert
                continue
            if isinstance(command, ANSWERS):
                if header_reply is None and isinstance(command, Status) \
                        and command.cmd_ref == "0":
                    header_reply = command
                continue
            managed.append(command)
            if isinstance(command, Alert) and command.data == ALERT_ABORT:
                aborted = True
        # 1. How the server judged our credentials.
        retry = self._judge_our_credentials(header_reply, events)
        if self.state in TERMINAL:
            return events
        # 2. Whether the server authenticated itself to us (not judged on a reply that
        # refused our credentials: it carries no command to protect).
        if retry:
            # Nothing of this message runs: the server is not judged (a device reporting its
            # verdict reports the last one).
            srv_code, srv_chal = (200 if self._srv_verdict is None else self._srv_verdict), None
        else:
            srv_code, srv_chal = self._judge_server(msg, data, hmac, events)
        if self.state in TERMINAL:
            return events
        if aborted:
            events.append(ev.MessageReceived(msg.header.msg_id, msg.final))
            events.extend(self._abort_now("peer_abort"))
            return events
        self.state = transition(self.role, self.state, ev.MessageReceived)
        events.append(ev.MessageReceived(msg.header.msg_id, msg.final))
        ids = CmdIds()
        hdr_status = header_status(msg.header, ids(), srv_code, srv_chal)
        if retry:
            self._store_issued_nonce()
            self._pending = self._package1([hdr_status])
            return events
        if msg.header.meta is not None and msg.header.meta.max_msg_size:
            self.server_max_msg_size = msg.header.meta.max_msg_size
        ctx = new_context(self.tree, self.server_id, msg.header.msg_id, ids, self.ui)
        # One group per answered command (its Status, its Results, a container's children):
        # a group never straddles two messages, so the server completes it at once.
        groups: list[list[Command]] = []
        asked_next = False
        owed = 0  # lone Statuses this message adds: those for the server's 1222s
        atomic_status = self.behaviour.atomic_status
        trusted = srv_code in (200, 212)
        for command in managed:
            start = len(ctx.out)
            kind = type(command)
            items = command.items if kind in _OBJECT_KINDS else None  # type: ignore[union-attr]
            if trusted and self._chunks is None and (kind is Get or (
                    items is not None and len(items) == 1 and not items[0].more_data
                    and self._refused_uri is None)):
                # What ``_run`` does with a Get, or an Add / Replace of one whole item, while
                # no object is in flight or refused: run it (``run_command``'s runner for it).
                if kind is Get:
                    run_get(ctx, command, None)  # type: ignore[arg-type]
                else:
                    run_items(ctx, command, None)
            elif isinstance(command, Alert) and command.data == ALERT_NEXT_MESSAGE:
                ctx.status(command, 200)  # the server waits for the rest of our package
                asked_next = True
                owed += 1
            elif srv_code not in (200, 212):
                ctx.status(command, srv_code)
            elif isinstance(command, Get) and self._chunks is None:
                run_command(ctx, command)  # what ``_run`` does with a Get: no object in flight
            else:
                self._run(ctx, command, events)
                if not atomic_status and isinstance(command, Atomic):
                    ctx.out[start:] = [c for c in ctx.out[start:] if not (
                        isinstance(c, Status) and c.cmd_ref == command.cmd_id
                        and c.cmd == "Atomic")]
            groups.append(ctx.out[start:])  # type: ignore[arg-type] # a new list already
        events.extend(ctx.events)
        if self._alerts:
            groups.append(list(self._alerts))
            self._alerts = []
        old = self._outbox
        if old:
            final, ask_next = self._outbox_final, self._outbox_ask_next
        else:
            final, ask_next = msg.final or asked_next, not (msg.final or asked_next)
        self._outbox = []
        hdr = self._header()
        new = [group for group in groups if group]
        if msg.final and not managed and not old and not new:
            # Nothing to answer but the SyncHdr: the session is over (dm-protocol.md 1.1).
            self.state = transition(self.role, self.state, ev.PeerFinished)
            events.append(ev.PeerFinished(msg.header.msg_id))
            events.append(ev.SessionEnded("completed"))
            return events
        self._store_issued_nonce()
        self._pending = self._split(hdr, hdr_status, old, new, final, ask_next, owed)
        if self._refused_results:
            # The device reports what it answered: 413, not the 200 of the Get it ran.
            refused, self._refused_results = self._refused_results, set()
            events[:] = [dataclasses.replace(e, status=STATUS_RESULTS_TOO_LARGE)
                         if isinstance(e, ev.CommandExecuted) and e.command.cmd_id in refused
                         else e for e in events]
        sizes = self._group_sizes
        if sizes:
            self._group_sizes = {id(group): sizes[id(group)] for group in self._outbox
                                 if id(group) in sizes and sizes[id(group)][0] is group}
        return events

    def _split(self, hdr: SyncHdr, hdr_status: Status, old: list[list[Command]],
               new: list[list[Command]], final: bool, ask_next: bool, owed: int) -> Outgoing:
        """The next message of our package within the server's MaxMsgSize; what does not
        fit waits in the outbox for the server's 1222. ``old``: groups from the outbox (already
        chunked); ``new``: this message's answers, chunked here only if they do not all fit;
        ``owed``: how many of them are the lone Statuses of the server's 1222s.

        The rule that drains every package (issue #6): a message takes at least one waiting
        answer, or one lone Status more than the ``owed`` ones the round added, so what the
        device owes shrinks every round. A message goes over the limit only when nothing that
        meets this floor fits, and then it holds only Statuses (or our own queued Alerts,
        which nothing makes smaller): an answer that no message can hold is sent without its
        Results, as a 413 (``_chunked``).
        """

        def build(chosen: list[list[Command]], last: bool) -> Message:
            commands: list[Command] = [hdr_status]
            for group in chosen:
                commands.extend(group)
            if last and ask_next:
                commands.append(Alert("0", ALERT_NEXT_MESSAGE))
            number = 0
            for command in commands:  # unique within the message, in order
                number += 1
                command.cmd_id = _ID_TEXTS[number] if number < 1024 else str(number)
            return Message(hdr, commands, final=final and last)

        limit = self.server_max_msg_size if self.behaviour.split else None
        if limit is None:
            return self._encode(build(old + new, True))
        sizer = MessageSizer(hdr, self.fmt)
        base = 0  # the size of the message holding the SyncHdr Status alone, once needed
        if old:
            # A continuing package (an outbox) is bounded first: its groups' sizes are known.
            base = len(encode_message(build([], False), self.fmt))
            whole = self._whole_if_it_may_fit(build, sizer, base, old + new, limit)
        else:
            whole = self._encode(build(new, True))
        if whole is not None and len(whole.body) <= limit:
            # Both encodings are a plain sequence of elements (no WBXML string table), so a
            # part of this message is never larger: no new group needs chunking.
            return whole
        if not base:
            base = len(encode_message(build([], False), self.fmt))
        # New answers too big for any message are large objects: chunked once, here.
        groups = list(old)
        for group in new:
            # Each message takes at least the outbox's first group, so the group at index i
            # goes within i messages from this one.
            groups += self._chunked(hdr, hdr_status, group, limit, len(groups))
        if len(groups) != len(old) + len(new) or any(
                part is not group for part, group in zip(groups[len(old):], new, strict=True)):
            whole = self._whole_if_it_may_fit(build, sizer, base, groups, limit)
            if whole is not None and len(whole.body) <= limit:
                return whole
        else:
            build(groups, True)  # the CmdIDs the whole message gave them (kept in the outbox)
        if not groups:
            return whole if whole is not None else self._encode(build(groups, True))
        # Take groups while the message fits: by upper bounds where they suffice, else by
        # encoding (each encoding re-anchors the running size).
        known = base + sizer.upper(self._measured(sizer, groups[0]))
        taken = 1
        while taken < len(groups):
            step = sizer.upper(self._measured(sizer, groups[taken]))
            if known + step > limit:
                size = len(encode_message(build(groups[:taken + 1], False), self.fmt))
                if size > limit:
                    break
                known = size
            else:
                known += step
            taken += 1
        chosen = groups[:taken]
        drains = taken > owed or not all(_lone(group) for group in chosen)
        if not drains:
            # Below the floor: the smallest message that still drains the package goes over
            # the limit, with more lone Statuses than it owes (any order suits Statuses),
            # else with the next answer; if nothing is left to add, it is the last one.
            chosen += [group for group in groups[taken:] if _lone(group)][:owed + 1 - taken]
            answer = next((group for group in groups[taken:] if not _lone(group)), None)
            if len(chosen) <= owed and answer is not None:
                chosen.append(answer)
        if len(chosen) == len(groups) and not drains:
            return self._encode(build(groups, True))
        picked = {id(group) for group in chosen}
        self._outbox = [group for group in groups if id(group) not in picked]
        self._outbox_final, self._outbox_ask_next = final, ask_next
        return self._encode(build(chosen, False))

    def _whole_if_it_may_fit(self, build: Callable[[list[list[Command]], bool], Message],
                             sizer: MessageSizer, base: int, groups: list[list[Command]],
                             limit: int) -> Outgoing | None:
        """The whole message of ``groups``, or None (its CmdIDs assigned all the same) when
        the lower bound of its size is already over ``limit``. The groups' sizes measured for
        that serve the split that follows."""
        if base + sum(sizer.lower(self._measured(sizer, group)) for group in groups) > limit:
            build(groups, True)
            return None
        return self._encode(build(groups, True))

    def _measured(self, sizer: MessageSizer, group: list[Command]) -> tuple[int, int]:
        """``sizer.measure(group)``, once per group while it waits in the outbox."""
        entry = self._group_sizes.get(id(group))
        if entry is None or entry[0] is not group:
            entry = self._group_sizes[id(group)] = (group, sizer.measure(group))
        return entry[1]

    def _chunked(self, hdr: SyncHdr, hdr_status: Status, group: list[Command], limit: int,
                 ahead: int) -> list[list[Command]]:
        """``group`` as is when it fits a message alone; else, when it ends with a one-item
        Results, consecutive chunk groups (MoreData; Meta Size on the first); else ``group``
        without its Results, the commands they answer given 413 (``_without_results``).

        Sized alone in the message that will carry it (numbered from CmdID 2), ``ahead``
        messages from this one at most: each a MsgID further, ours and the server's, its
        SyncHdr Status assumed without the Chal this one may carry (a later Chal could push a
        group over; none of the sessions tested sends one)."""

        def size(part: list[Command], rounds: int) -> int:
            header, status = hdr, hdr_status
            if rounds:
                header = dataclasses.replace(hdr, msg_id=str(int(hdr.msg_id) + rounds))
                status = dataclasses.replace(hdr_status, chal=None,
                                             msg_ref=str(int(hdr_status.msg_ref) + rounds))
            saved = [command.cmd_id for command in part]
            for number, command in enumerate(part, 2):
                command.cmd_id = id_text(number)
            try:
                return len(encode_message(Message(header, [status, *part]), self.fmt))
            finally:
                for command, cmd_id in zip(part, saved, strict=True):
                    command.cmd_id = cmd_id

        if size(group, ahead) <= limit:
            return [group]
        results = group[-1]
        if (not isinstance(results, Results) or len(results.items) != 1
                or results.items[0].data is None):
            return [self._without_results(group)]
        item = results.items[0]
        empty = dataclasses.replace(results, items=[dataclasses.replace(item, data="")])
        if size([*group[:-1], empty], ahead) > limit - 64 or size([empty], ahead + 1) > limit - 64:
            # What is too big is the envelope, not the data: no chunk can fit.
            return [self._without_results(group)]
        text = item_text(item)
        total = len(text.encode("utf-8"))
        head: list[Command] = list(group[:-1])
        parts: list[list[Command]] = []
        room, offset = max(64, limit - 700), 0
        while offset < len(text):
            piece = text[offset:offset + room]
            last = offset + len(piece) >= len(text)
            meta = Meta(format=item.meta.format if item.meta else None,
                        type=item.meta.type if item.meta else None,
                        size=None if parts else total)
            chunk = dataclasses.replace(results, items=[dataclasses.replace(
                item, meta=meta, data=piece, more_data=not last)])
            part = [*(head if not parts else []), chunk]
            if size(part, ahead + len(parts)) > limit:
                if room > 1:
                    room //= 2
                    continue
                # Not one character fits beside the chunk's Meta (heavily escaped data).
                return [self._without_results(group)]
            parts.append(part)
            offset += len(piece)
        return parts

    def _without_results(self, group: list[Command]) -> list[Command]:
        """``group`` without its Results; the Status of each command they answer becomes 413
        (Request entity too large): no message within the server's MaxMsgSize can hold them,
        and the Status alone tells the server so."""
        answered = {command.cmd_ref for command in group if isinstance(command, Results)}
        if not answered:
            return group  # Statuses or Alerts: nothing smaller exists
        kept: list[Command] = []
        for command in group:
            if isinstance(command, Results):
                continue
            if isinstance(command, Status) and command.cmd_ref in answered:
                command.data = STATUS_RESULTS_TOO_LARGE
                self._refused_results.add(command.cmd_ref)
            kept.append(command)
        return kept

    def _store_issued_nonce(self) -> None:
        nonce, self._issued_srv_nonce = self._issued_srv_nonce, None
        if nonce is not None and self._srv is not None:
            self.tree.device_replace(f"{self._srv.uri}/AAuthData", nonce, "bin")

    def _judge_our_credentials(self, reply: Status | None, events: list[ev.Event]) -> bool:
        """Apply the server's SyncHdr Status; True if package 1 must be re-sent."""
        if reply is None:
            return False
        clcred = self._clcred()
        chal = None
        if reply.chal is not None:
            try:
                chal = auth.Challenge.from_model(reply.chal)
            except AuthenticationError:
                chal = None
        if reply.data in (200, 212):
            self._pkg1_alerts = []
            first = not self._authenticated
            self._authenticated = True
            if clcred is not None and clcred.type in ("BASIC", "DIGEST") \
                    and reply.msg_ref in self._cred_sent_in:
                # PRO 2.4.1: 212 authenticates the session; 200 asks for the credentials
                # again in the next message (with the Chal's NextNonce for md5).
                self._cred_every_message = reply.data == 200
            if first:
                events.append(ev.Authenticated(clcred.name if clcred else "", reply.data))
            if chal is not None and chal.next_nonce is not None and clcred is not None:
                # An authenticated server's nonce is kept (next message for HMAC, next
                # session for md5).
                self.tree.device_replace(f"{clcred.uri}/AAuthData", chal.next_nonce, "bin")
            return False
        if reply.data in (401, 407):
            events.append(ev.AuthenticationFailed(reply.data, "server_refused"))
            self._auth_attempts += 1
            limit = self.max_auth_attempts
            if ((chal is None and not self.behaviour.retry_without_challenge)
                    or self._authenticated or clcred is None
                    or (limit is not None and self._auth_attempts >= limit)):
                events.extend(self._abort_now("auth_failed"))
                return False
            if chal is None:
                return True  # the same package 1 again
            wanted = auth.META_TO_AAUTH_TYPE.get(chal.meta_type)
            if self.behaviour.follow_challenge_type and wanted and wanted != clcred.type:
                # The server names the type it wants: use it from now on (as stored).
                self.tree.device_replace(f"{clcred.uri}/AAuthType", wanted)
                self._clcred_entry = clcred = dataclasses.replace(clcred, type=wanted)
            if chal.next_nonce is not None:
                # Used for the retry; stored since this device keeps one nonce per account.
                self.tree.device_replace(f"{clcred.uri}/AAuthData", chal.next_nonce, "bin")
            return True
        return False

    def _judge_server(self, msg: Message, body: bytes, hmac_value: str | None,
                      events: list[ev.Event]) -> tuple[int, object]:
        """(status for the server's SyncHdr, Chal or None)."""
        policy = self._server_policy
        if policy is None:
            return 200, None
        cred = None
        if msg.header.cred is not None:
            try:
                cred = auth.Credential.from_model(msg.header.cred)
            except AuthenticationError:
                cred = auth.Credential("invalid", "")
        if self._srv_verdict is not None:
            return self._verdict_on_server(msg, cred, hmac_value, body, events)
        return self._decide(policy, msg, cred, hmac_value, body, events)

    def _decide(self, policy: AuthPolicy, msg: Message, cred: auth.Credential | None,
                hmac_value: str | None, body: bytes,
                events: list[ev.Event]) -> tuple[int, object]:
        was = policy.accepted_type
        decision = policy.check(msg.header.source_name or self.server_id, cred,
                                hmac_value, body)
        chal = decision.challenge.to_model() if decision.challenge is not None else None
        if decision.challenge is not None and decision.challenge.next_nonce is not None:
            # The nonce this device just issued is what the server's next credential uses;
            # it is stored only once it is actually sent (see ``receive``).
            self._issued_srv_nonce = decision.challenge.next_nonce
        if decision.end_session:
            events.append(ev.AuthenticationFailed(decision.status, decision.reason or ""))
            events.extend(self._abort_now("auth_failed"))
            return decision.status, None
        if decision.authenticated:
            if was is None:
                events.append(ev.Authenticated(decision.username or "", decision.status))
            return decision.status, chal
        events.append(ev.AuthenticationFailed(decision.status, decision.reason or ""))
        return decision.status, chal

    def _verdict_on_server(self, msg: Message, cred: auth.Credential | None,
                           hmac_value: str | None, body: bytes,
                           events: list[ev.Event]) -> tuple[int, object]:
        """``behaviour.unverified_server_status``: no challenge for a server whose credentials
        cannot be checked here (none, or an HMAC this device does not check): the last verdict
        stands. A Cred is judged by the policy: 212 (with the next nonce) or 401 + Chal."""
        policy = self._server_policy
        assert policy is not None and self._srv_verdict is not None
        if cred is None or hmac_value is not None or (
                self._srv is not None and self._srv.type == "HMAC"):
            return self._srv_verdict, None
        code, chal = self._decide(policy, msg, cred, None, body, events)
        self._srv_verdict = 212 if code in (200, 212) else code
        return self._srv_verdict, chal

    def _run(self, ctx: _Context, command: Command, events: list[ev.Event]) -> None:
        item = None
        if isinstance(command, _OBJECTS):
            if not self.behaviour.large_objects and any(i.more_data for i in command.items):
                # MoreData ignored: the chunk is taken as the whole value.
                items = [dataclasses.replace(i, more_data=False, meta=None if i.meta is None
                                             else dataclasses.replace(i.meta, size=None))
                         for i in command.items]
                run_command(ctx, type(command)(command.cmd_id, items, meta=command.meta))
                return
            if len(command.items) == 1:
                item = command.items[0]
        chunks = self._chunks
        if chunks is not None and (item is None or item_uri(item) != chunks.uri):
            # Something else arrived before the last chunk: the object is dropped (1225).
            self._chunks = None
            events.append(ev.LargeObjectInterrupted(chunks.uri))
            ctx.out.append(Alert(ctx.ids(), ALERT_NO_END_OF_DATA,
                                 items=[Item(target=Target(chunks.uri))]))
            chunks = None
        if item is not None and (item.more_data or chunks is not None or (
                self._refused_uri is not None and self._refused_uri == item_uri(item))):
            assert isinstance(command, _OBJECTS)
            self._chunk(ctx, command, item)
            return
        run_command(ctx, command)

    def _chunk(self, ctx: _Context, command: Add | Replace, item: Item) -> None:
        uri = item_uri(item)
        meta = item.meta or command.meta
        if self._refused_uri is not None and self._chunks is None and uri == self._refused_uri:
            # The rest of an object already refused: answered, never buffered, and its last
            # chunk is not mistaken for a whole value (a sender must stop after an error).
            if not item.more_data:
                self._refused_uri = None
            ctx.status(command, 413)
            return
        self._refused_uri = None
        if self._chunks is None:
            size = meta.size if meta is not None else None
            if size is not None and size > self.max_obj_size:
                self._refuse(ctx, command, uri, item, 413)
                return
            self._chunks = Chunks(uri, command, size)
        chunks = self._chunks
        text = item_text(item)
        chunks.buffered += len(text.encode("utf-8"))
        # Memory is bounded by what this device accepts, declared Size or not.
        if chunks.buffered > self.max_obj_size:
            self._chunks = None
            self._refuse(ctx, command, uri, item, 413)
            return
        if chunks.expected is not None and chunks.buffered > chunks.expected:
            self._chunks = None
            self._refuse(ctx, command, uri, item, STATUS_SIZE_MISMATCH)
            return
        chunks.parts.append(text)
        if item.more_data:
            ctx.status(command, STATUS_CHUNK_BUFFERED)
            return
        self._chunks = None
        whole = "".join(chunks.parts)
        first_meta = chunks.command.items[0].meta or chunks.command.meta
        if chunks.expected is not None and len(whole.encode("utf-8")) != chunks.expected:
            ctx.status(command, STATUS_SIZE_MISMATCH)
            return
        assembled_meta = Meta(format=first_meta.format if first_meta else None,
                              type=first_meta.type if first_meta else None)
        assembled = type(command)(command.cmd_id, [Item(target=item.target,
                                                        meta=assembled_meta, data=whole)])
        run_command(ctx, assembled)
        # Report the original (last chunk) command, not the reassembled copy.
        last = ctx.events.pop()
        ctx.events.append(ev.CommandExecuted(command, last.status))

    def _refuse(self, ctx: _Context, command: Add | Replace, uri: str, item: Item,
                code: int) -> None:
        if item.more_data:
            self._refused_uri = uri  # later chunks of this object get the same answer
        ctx.status(command, code)

    def _abort_now(self, reason: str) -> list[ev.Event]:
        self.state = transition(self.role, self.state, ev.Aborted)
        self._pending = None
        return [ev.Aborted(reason), ev.SessionEnded(reason)]


__all__ = ["ClientSession"]
