"""The lean session of an honest device: the standard session without a ``ClientSession``,
handed over to one at the first server message it does not answer itself.

The one idea: a harness must not be the bottleneck (issue 16: half a server worker's CPU per
session), and a ``ClientSession`` costs about what the server's session costs. An honest device
of the common kind (no fault, no queued alert, no large object, no server credentials to check)
meets a narrow repertoire in practice: a SyncHdr Status (200/212, or 401/407 with a Chal before
it authenticated), Statuses, and single-item Gets and Replaces in a Final message. For those,
``LeanSession`` answers exactly as ``ClientSession`` would, byte for byte (the differential test
replays recorded sessions through both): the same messages, built from the same model objects
and encoded once per device and shape with the SessionID (and package 1's credential text)
filled in per session; the same tree calls as the executor (``DMTree.get`` / ``replace`` as
the server, so ACLs, formats and errors are the tree's); the same credentials and HMAC per
message, the nonce of every Chal stored in the tree. Each server message is decoded once, by
``conformance.check_answer`` (the compiled codec), and that message is reused. DevInfo is read
once per device (its ACL lets no server change it).

Anything else (another command, a chunk, a message without Final, a header or MsgID the client
would refuse, an answer over the server's MaxMsgSize, a server switching encodings) is not
judged here: the session returns a ``Handoff`` holding its state, the device sets a
``ClientSession`` to that point and gives it the same message, so an unusual server is judged
the full way and the conformance checks are as strict as without this path. A handed-over
message may re-run Gets and Replaces the lean path already ran; a message whose Gets and
Replaces touch the same node is handed over before anything runs, so re-running gives the same
answers and the same tree.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, cast

from ..errors import AuthenticationError, TreeError
from ..messages import encode
from ..messages.model import (
    Alert,
    Command,
    Get,
    Item,
    Message,
    Meta,
    Replace,
    Results,
    Source,
    Status,
    SyncHdr,
    Target,
)
from ..security import auth
from ..session import CONTENT_TYPES, Outgoing
from ..tree import DMTree
from ..tree.standard import AuthEntry
from .conformance import SentMessage, describe_sent
from .transport import Reply

DEVINFO_LEAVES = ("DevId", "Man", "Mod", "DmV", "Lang")
"""What package 1's Replace carries (as ``ClientSession``)."""
MAX_OBJ_SIZE = 4 << 20
"""``ClientSession``'s default MaxObjSize, announced in every SyncHdr."""
MAX_RETRIES = 2
"""Re-sends of one message after a timeout (``ClientSession``'s default)."""
MAX_MESSAGES = 200
"""Messages one session may take before it is cut (``no_end``)."""
MAX_AUTH_ATTEMPTS = 3
"""401/407 answers taken before giving up (``ClientSession``'s default)."""
Format = Literal["xml", "wbxml"]
SESSION_PLACEHOLDER = "LEANSESSIONPLACEHOLDER"
CRED_PLACEHOLDER = "LEANCRED"
"""Repeated to the credential's length in a cached package 1 (base64 never holds it there:
the count is checked)."""
"""The SessionID a cached answer is encoded with (never a real one: those are hex)."""
MAX_CACHED_ANSWERS = 16
"""Answers kept per device (a server varying its commands clears them)."""


@dataclass(slots=True)
class Handoff:
    """Where a lean session stopped: the server message it leaves to a ``ClientSession``
    (``reply`` and its decoded ``msg``), and the session state the client takes over."""

    reply: Reply
    msg: Message
    session_id: str
    msg_id: int
    """The MsgID of the device's last message (the one ``reply`` answers)."""
    server_msg_id: int
    """The MsgID of the server's message before ``reply`` (0: none)."""
    resp_uri: str | None
    authenticated: bool
    cred_sent_in: set[str]
    auth_attempts: int
    server_max_msg_size: int | None
    last_sent: Outgoing
    sent: SentMessage
    reason: str
    """Why the lean path stopped (for tests and profiling)."""


@dataclass(slots=True)
class LeanProfile:
    """What every session of one device reuses: its identity and account, read once."""

    dev_id: str
    server_uri: str
    server_id: str
    clcred: AuthEntry | None
    devinfo: list[tuple[str, str]]
    hmac_secret: str | None = None
    """``B64(H(user:password))`` of an HMAC account, computed once (not per message)."""
    answers: dict[object, tuple[bytes, SentMessage]] = field(default_factory=dict)
    """Encoded answers by shape, SessionID left as ``SESSION_PLACEHOLDER``."""
    package1: dict[object, tuple[bytes, SentMessage]] = field(default_factory=dict)
    """Encoded first packages 1 by MsgID and credential, SessionID and credential text left
    as placeholders."""

    random: bytearray = field(default_factory=bytearray)
    """Unused random bytes for SessionIDs, fetched in bulk (per device: a device runs one
    session at a time, so no two threads draw from it at once)."""

    def new_session_id(self) -> str:
        """A SessionID as ``ClientSession`` draws one (uniform in 1..0xFFFF, in hex), from
        random bytes fetched 256 at a time: one ``getrandom`` call per session was 2% of
        the harness's CPU."""
        pool = self.random
        while True:
            if len(pool) < 2:
                pool.extend(secrets.token_bytes(256))
            value = pool[0] << 8 | pool[1]
            del pool[:2]
            if value != 0xFFFF:  # 0..0xFFFE, as ``secrets.randbelow(0xFFFF)``
                return format(value + 1, "X")

    @classmethod
    def of(cls, tree: DMTree, server_id: str) -> LeanProfile | None:
        """The profile of ``tree``'s account for ``server_id`` (None: no such account)."""
        accounts = [a for a in tree.dm_accounts() if a.server_id == server_id]
        if not accounts:
            return None
        account = accounts[0]
        devinfo = []
        for leaf in DEVINFO_LEAVES:
            value = tree.device_get(f"./DevInfo/{leaf}")
            devinfo.append((f"./DevInfo/{leaf}", value if isinstance(value, str) else ""))
        clcred = account.credentials("CLCRED")
        secret = auth.secret_hash(clcred.name, clcred.secret) \
            if clcred is not None and clcred.type == "HMAC" else None
        return cls(devinfo[0][1], account.addresses[0].addr if account.addresses else "",
                   account.server_id, clcred, devinfo, secret)


@dataclass(slots=True)
class LeanOutcome:
    """How a lean session ended, or the ``Handoff`` it left."""

    outcome: str | None = None
    handoff: Handoff | None = None
    device_statuses: dict[tuple[str, int], int] = field(default_factory=dict)


class LeanSession:
    """One session of an honest device without a ``ClientSession`` (module docstring).

    ``post(out, sent)`` sends a message and returns the server's decoded, checked answer
    (``None`` when the device's loop already recorded why there is none); the device owns the
    transport, the exchanges and the violations."""

    def __init__(self, tree: DMTree, profile: LeanProfile, *, fmt: str, max_msg_size: int,
                 session_id: str | None = None) -> None:
        self.tree = tree
        self.profile = profile
        self.fmt: Format = "wbxml" if fmt == "wbxml" else "xml"
        self.content_type = CONTENT_TYPES[self.fmt]
        self.max_msg_size = max_msg_size
        self.session_id = session_id or profile.new_session_id()
        self.msg_id = 0
        self.server_msg_id = 0
        self.resp_uri: str | None = None
        self.authenticated = False
        self.cred_sent_in: set[str] = set()
        self.auth_attempts = 0
        self.server_max_msg_size: int | None = None
        self.device_statuses: dict[tuple[str, int], int] = {}

    # -- building messages (as ``ClientSession`` builds them) -----------------------------

    def _nonce(self) -> bytes:
        entry = self.profile.clcred
        assert entry is not None
        value = self.tree.find(f"{entry.uri}/AAuthData").value
        if isinstance(value, str):
            value = value.encode("utf-8")
        return value or b""

    def _header(self) -> SyncHdr:
        self.msg_id += 1
        return self._header_of(self.session_id, self.msg_id)

    def _header_of(self, session_id: str, msg_id: int) -> SyncHdr:
        profile = self.profile
        name = profile.clcred.name if profile.clcred is not None else None
        return SyncHdr(session_id, str(msg_id), Target(profile.server_uri),
                       Source(profile.dev_id, name),
                       meta=Meta(max_msg_size=self.max_msg_size, max_obj_size=MAX_OBJ_SIZE))

    def _hmac(self, body: bytes) -> str | None:
        """The ``x-syncml-hmac`` value for ``body`` (HMAC accounts with a nonce)."""
        clcred = self.profile.clcred
        secret = self.profile.hmac_secret
        if clcred is None or secret is None:
            return None
        nonce = self._nonce()
        return auth.hmac_header_from_secret(clcred.name, secret, nonce, body) if nonce else None

    def _encode(self, msg: Message) -> tuple[Outgoing, SentMessage]:
        if msg.header.cred is not None:
            self.cred_sent_in.add(msg.header.msg_id)
        body = encode(msg, self.fmt)
        return (Outgoing(body, self.content_type, msg.header.msg_id, msg.final,
                         self._hmac(body)), describe_sent(msg))

    def package1(self, statuses: list[Status]) -> tuple[Outgoing, SentMessage]:
        """Package 1 (Alert 1201, DevInfo, credentials), after ``statuses``. The first one of
        a session is encoded once per device, MsgID and credential type, with the SessionID
        and the credential text (same length: an md5 digest, or the device's own basic
        credential) filled in per session."""
        clcred = self.profile.clcred
        cred = None
        if clcred is not None and clcred.type == "BASIC":
            cred = auth.build_credential("BASIC", clcred.name, clcred.secret)
        elif clcred is not None and clcred.type == "DIGEST":
            nonce = self._nonce()
            if nonce:
                cred = auth.build_credential("DIGEST", clcred.name, clcred.secret, nonce)
        if statuses or (cred is not None and len(cred.data) < 16):
            return self._package1_message(statuses, cred, self.session_id)
        self.msg_id += 1
        key = (self.msg_id, None if cred is None else (cred.meta_type, len(cred.data)))
        cached = self.profile.package1.get(key)
        if cached is None:
            self.msg_id -= 1
            placeholder = None if cred is None else (CRED_PLACEHOLDER * 8)[:len(cred.data)]
            template, sent = self._package1_message(
                [], None if cred is None else auth.Credential(cred.meta_type, placeholder or ""),
                SESSION_PLACEHOLDER)
            cached = (template.body, sent)
            if template.body.count(SESSION_PLACEHOLDER.encode("ascii")) != 1 or (
                    placeholder is not None
                    and template.body.count(placeholder.encode("ascii")) != 1):
                self.msg_id -= 1
                return self._package1_message([], cred, self.session_id)
            self.profile.package1[key] = cached
        body = cached[0].replace(SESSION_PLACEHOLDER.encode("ascii"),
                                 self.session_id.encode("ascii"), 1)
        if cred is not None:
            body = body.replace((CRED_PLACEHOLDER * 8)[:len(cred.data)].encode("ascii"),
                                cred.data.encode("ascii"), 1)
            self.cred_sent_in.add(str(self.msg_id))
        return (Outgoing(body, self.content_type, str(self.msg_id), True, self._hmac(body)),
                cached[1])

    def _package1_message(self, statuses: list[Status], cred: auth.Credential | None,
                          session_id: str) -> tuple[Outgoing, SentMessage]:
        self.msg_id += 1
        hdr = self._header_of(session_id, self.msg_id)
        if cred is not None:
            hdr.cred = cred.to_model()
        commands: list[Command] = []
        number = 0
        for status in statuses:
            number += 1
            status.cmd_id = str(number)
            commands.append(status)
        commands.append(Alert(str(number + 1), 1201))
        commands.append(Replace(str(number + 2), [
            Item(source=Source(uri), meta=Meta(format="chr", type="text/plain"), data=value)
            for uri, value in self.profile.devinfo]))
        return self._encode(Message(hdr, commands, final=True))

    # -- the session ----------------------------------------------------------------------

    def run(self, post: Callable[[Outgoing, SentMessage], tuple[Reply, Message] | None]
            ) -> LeanOutcome:
        """Run the session: package 1, then each answer, until it ends, ``post`` gives no
        answer (outcome None: the caller recorded why), or a ``Handoff``."""
        out, sent = self.package1([])
        for _ in range(MAX_MESSAGES):
            answer = post(out, sent)
            if answer is None:
                return LeanOutcome(device_statuses=self.device_statuses)
            reply, msg = answer
            step = self._answer(reply, msg, out, sent)
            if isinstance(step, Handoff):
                return LeanOutcome(handoff=step, device_statuses=self.device_statuses)
            if step is None:
                return LeanOutcome("completed", device_statuses=self.device_statuses)
            out, sent = step
        return LeanOutcome("no_end", device_statuses=self.device_statuses)

    def _handoff(self, reply: Reply, msg: Message, out: Outgoing, sent: SentMessage,
                 reason: str) -> Handoff:
        return Handoff(reply, msg, self.session_id, self.msg_id, self.server_msg_id,
                       self.resp_uri, self.authenticated, set(self.cred_sent_in),
                       self.auth_attempts, self.server_max_msg_size, out, sent, reason)

    def _answer(self, reply: Reply, msg: Message, out: Outgoing, sent: SentMessage
                ) -> tuple[Outgoing, SentMessage] | Handoff | None:
        """The device's answer to ``msg``, None when the session completed, or a
        ``Handoff`` when the lean path does not answer this message itself."""
        hdr = msg.header
        # What ``ClientSession.receive`` would refuse or treat specially is its to judge.
        number = hdr.msg_id
        if hdr.session_id != self.session_id or not number.isdigit() or len(number) > 9 \
                or int(number) <= self.server_msg_id:
            return self._handoff(reply, msg, out, sent, "header")
        if ("wbxml" if "wbxml" in reply.content_type.lower() else "xml") != self.fmt:
            return self._handoff(reply, msg, out, sent, "encoding")
        header_reply: Status | None = None
        managed: list[Get | Replace] = []
        ids: set[str] = set()
        for command in msg.commands:
            cmd_id = command.cmd_id
            if cmd_id in ids or cmd_id in ("", "0"):
                return self._handoff(reply, msg, out, sent, "cmd_id")
            ids.add(cmd_id)
            kind = type(command)  # exact types: a subclass is the client's to judge
            if kind is Status:
                if header_reply is None and cast(Status, command).cmd_ref == "0":
                    header_reply = cast(Status, command)
            elif kind is Results:
                pass  # a client runs no Results
            elif (kind is Get or kind is Replace) and len(
                    items := cast("Get | Replace", command).items) == 1 \
                    and not items[0].more_data:
                managed.append(cast("Get | Replace", command))
            else:
                return self._handoff(reply, msg, out, sent, "command")
        if header_reply is None:
            return self._handoff(reply, msg, out, sent, "no_header_status")
        code = header_reply.data
        chal = None
        if header_reply.chal is not None:
            try:
                chal = auth.Challenge.from_model(header_reply.chal)
            except AuthenticationError:
                chal = None
        clcred = self.profile.clcred
        if code in (401, 407):
            if self.authenticated or chal is None or clcred is None \
                    or self.auth_attempts + 1 >= MAX_AUTH_ATTEMPTS:
                return self._handoff(reply, msg, out, sent, "auth")
            self.auth_attempts += 1
            self.server_msg_id = int(number)
            if hdr.resp_uri:
                self.resp_uri = hdr.resp_uri
            if chal.next_nonce is not None:
                self.tree.device_replace(f"{clcred.uri}/AAuthData", chal.next_nonce, "bin")
            return self.package1([_header_status(hdr, "1")])
        if code not in (200, 212):
            return self._handoff(reply, msg, out, sent, "header_status")
        if clcred is not None and clcred.type in ("BASIC", "DIGEST") and code == 200 \
                and header_reply.msg_ref in self.cred_sent_in:
            return self._handoff(reply, msg, out, sent, "credentials_every_message")
        if not msg.final:
            return self._handoff(reply, msg, out, sent, "not_final")
        doubt = _doubt(managed) if managed else None
        if doubt is not None:
            return self._handoff(reply, msg, out, sent, doubt)
        # Accepted: from here on the lean path answers this message.
        previous = (self.server_msg_id, self.resp_uri, self.server_max_msg_size,
                    self.authenticated)
        self.server_msg_id = int(number)
        if hdr.resp_uri:
            self.resp_uri = hdr.resp_uri
        self.authenticated = True
        if chal is not None and chal.next_nonce is not None and clcred is not None:
            self.tree.device_replace(f"{clcred.uri}/AAuthData", chal.next_nonce, "bin")
        if hdr.meta is not None and hdr.meta.max_msg_size:
            self.server_max_msg_size = hdr.meta.max_msg_size
        if not managed:
            return None  # nothing to answer but the SyncHdr: the session is over
        done: list[tuple[Get | Replace, int, Item | None]] = []
        server_id = self.profile.server_id
        tree = self.tree
        for command in managed:
            item = command.items[0]
            uri = item.target.loc_uri if item.target is not None else (
                item.source.loc_uri if item.source is not None else "")
            if isinstance(command, Get):
                status, found = _get(tree, server_id, uri)
                done.append((command, status, found if status in (200, 217) else None))
            else:
                done.append((command, _replace(tree, server_id, uri, item, command), None))
        answer = self._answer_message(hdr, done)
        limit = self.server_max_msg_size
        if limit is not None and len(answer[0].body) > limit:
            # The client splits what does not fit; it re-runs this message's commands,
            # which give the same answers (no Get reads what a Replace of it wrote).
            self.msg_id -= 1
            (self.server_msg_id, self.resp_uri, self.server_max_msg_size,
                     self.authenticated) = previous
            return self._handoff(reply, msg, out, sent, "split")
        statuses = self.device_statuses
        for command, status, _ in done:
            key = (command.ELEMENT, status)
            statuses[key] = statuses.get(key, 0) + 1
        return answer

    def _answer_message(self, hdr: SyncHdr, done: list[tuple[Get | Replace, int, Item | None]]
                        ) -> tuple[Outgoing, SentMessage]:
        """The answer to the commands ``done`` ran (a Status each, Results for a Get that
        found its node): built and encoded once per device and shape, with the SessionID
        left as a placeholder; later sessions fill in theirs (the SessionID is an inline
        string in both encodings, so the bytes around it do not change)."""
        self.msg_id += 1
        key = (hdr.msg_id, self.msg_id, hdr.target.loc_uri, hdr.source.loc_uri,
               tuple((command.cmd_id, command.ELEMENT, status, None if found is None else (
                   found.source.loc_uri if found.source is not None else "",
                   found.meta.format if found.meta is not None else None,
                   found.meta.type if found.meta is not None else None, found.data))
                     for command, status, found in done))
        cached = self.profile.answers.get(key)
        if cached is None:
            msg_ref = hdr.msg_id
            answers: list[Command] = [_header_status(hdr, "1")]
            for command, status, found in done:
                answers.append(Status("0", msg_ref, command.cmd_id, command.ELEMENT, status))
                if found is not None:
                    answers.append(Results("0", command.cmd_id, [found], msg_ref=msg_ref))
            for index, answer in enumerate(answers, 1):
                answer.cmd_id = str(index)
            header = self._header_of(SESSION_PLACEHOLDER, self.msg_id)
            msg = Message(header, answers, final=True)
            body = encode(msg, self.fmt)
            if body.count(SESSION_PLACEHOLDER.encode("ascii")) != 1:
                # The placeholder also in a value: this answer is built for this session only.
                header.session_id = self.session_id
                body = encode(msg, self.fmt)
                return Outgoing(body, self.content_type, str(self.msg_id), True,
                                self._hmac(body)), describe_sent(msg)
            if len(self.profile.answers) >= MAX_CACHED_ANSWERS:
                self.profile.answers.clear()
            cached = self.profile.answers[key] = (body, describe_sent(msg))
        template, sent = cached
        body = template.replace(SESSION_PLACEHOLDER.encode("ascii"),
                                self.session_id.encode("ascii"), 1)
        return Outgoing(body, self.content_type, str(self.msg_id), True,
                        self._hmac(body)), sent


def _header_status(received: SyncHdr, cmd_id: str) -> Status:
    """The device's Status for the server's SyncHdr (no server credentials to judge: 200)."""
    return Status(cmd_id, received.msg_id, "0", "SyncHdr", 200,
                  target_refs=[received.target.loc_uri],
                  source_refs=[received.source.loc_uri])


def _doubt(commands: list[Get | Replace]) -> str | None:
    """Why the lean path leaves these commands to the client: a URI naming a property or
    none (``property``), or a Get and a Replace touching the same node, or one inside the
    other (``overlap``); None when it runs them."""
    gets: set[str] = set()
    replaces: set[str] = set()
    for command in commands:
        item = command.items[0]
        uri = item.target.loc_uri if item.target is not None else ""
        if "?" in uri or not uri:
            return "property"
        (gets if isinstance(command, Get) else replaces).add(uri.rstrip("/"))
    if gets and replaces and (gets & replaces or _ancestors(gets) & replaces
                              or _ancestors(replaces) & gets):
        return "overlap"
    return None


def _ancestors(uris: set[str]) -> set[str]:
    out: set[str] = set()
    for uri in uris:
        while True:
            uri = uri.rpartition("/")[0]
            if not uri or uri in out:
                break
            out.add(uri)
    return out


def _get(tree: DMTree, server_id: str, uri: str) -> tuple[int, Item | None]:
    """A Get of one item, as the executor runs it: (status, the Results item)."""
    try:
        value = tree.get(uri, server_id)
    except TreeError as exc:
        return exc.status, None
    if value.items:
        # Only a ``?list=`` Get has items, and a URI with a property never gets here.
        raise AssertionError(f"a Get of {uri} with items on the lean path")
    data = value.value
    if isinstance(data, bytes):
        wire_format, data = "b64", base64.b64encode(data).decode("ascii")
    else:
        wire_format = value.format
    return value.status, Item(source=Source(uri), meta=Meta(format=wire_format,
                                                            type=value.type or None), data=data)


def _replace(tree: DMTree, server_id: str, uri: str, item: Item, command: Command) -> int:
    """A Replace of one item, as the executor runs it: its status."""
    meta = item.meta if item.meta is not None else getattr(command, "meta", None)
    fmt = meta.format if meta is not None and meta.format else "chr"
    mime = meta.type if meta is not None else None
    data = item.data
    value: str | bytes | None
    if data is None or isinstance(data, str):
        value = data
    elif isinstance(data, bytes):
        value, fmt = data, "bin" if fmt == "b64" else fmt
    else:
        value = data.xml
    try:
        tree.replace(uri, server_id, value, fmt if meta is not None and meta.format else None,
                     mime)
    except TreeError as exc:
        return exc.status
    return 200


__all__ = ["MAX_MESSAGES", "MAX_RETRIES", "Handoff", "LeanOutcome", "LeanProfile", "LeanSession"]
