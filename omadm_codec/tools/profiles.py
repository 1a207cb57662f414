"""Device profiles for the simulator: ``ClientSession`` set up to behave on the wire as a real,
independently written DM client was seen to behave, so a server can be held to what such a
client needs (issue 12; docs/interop.md).

The one idea: a profile is data. ``Libdmclient`` lists libdmclient's behaviours
(shared/spec/interop-quirks.md L1-L9; the captures in shared/corpus/libdmclient) and turns them
into a ``session.DeviceBehaviour`` (the session's own switches, plus its two send-boundary
hooks for the byte order and the crashes); ``libdmclient_session`` builds the ``ClientSession``
with it, on a tree shaped like libdmclient's test client (``build_libdmclient_tree``,
``attach``). Nothing here overrides a session method.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from ..errors import LocalProtocolError
from ..messages.model import (
    Add,
    Alert,
    Atomic,
    Command,
    Exec,
    Item,
    Message,
    Meta,
    Replace,
    Sequence,
    Source,
    Status,
)
from ..session import DS_CONTENT_TYPES, ClientSession
from ..session.behaviour import DeviceBehaviour
from ..tree import DMTree

LIBDMCLIENT_DEVICE_ID = "DMCtest"
"""The DevId (SyncHdr Source LocURI) of libdmclient's test client."""
LIBDMCLIENT_PATH = "/funambol/dm"
"""L10: the path of libdmclient's default server address."""
LIBDMCLIENT_SESSION_ID = "1"


class LibdmclientCrash(RuntimeError):
    """The simulated client died where libdmclient does (L7, L8): the session stops there."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        """``sequence``, ``item_without_data`` (L7) or ``reply_too_large`` (L8)."""


@dataclass(frozen=True, slots=True)
class Libdmclient:
    """libdmclient's wire behaviour (Intel's C OMA DM 1.2 client, commit 9d4e3e8, its test
    client). The defaults are the "fixed" client of the captures: libdmclient with its two
    crash fixes, posting the DM media type."""

    ds_media_type: bool = False
    """L1: post ``application/vnd.syncml+xml|+wbxml`` (True: the client as shipped)."""
    crash_on_known_bugs: bool = False
    """L7: die on a Sequence or an Add/Replace Item without Data (as shipped)."""
    max_reply_size: int | None = None
    """L8: die building a reply over this many bytes (as shipped: about 40 KB; it cannot
    split its package). None: no ceiling."""
    correlator_first: bool = True
    """L9: write an Alert's Correlator before its Data (XML; WBXML is written in DTD order)."""
    unverified_server_status: int = 0
    """L5: the SyncHdr (and command) status while the server's credentials are unchecked."""
    max_msg_size: int = 16384
    """L8: the MaxMsgSize it announces."""

    def behaviour(self) -> DeviceBehaviour:
        """The session switches and hooks that show this behaviour."""
        return DeviceBehaviour(
            media_types=DS_CONTENT_TYPES if self.ds_media_type else None,
            send_loc_name=False,  # L2, with basic, md5 and HMAC alike
            announce_max_obj_size=False,
            credentials_before_nonce=True,  # md5 / HMAC over the empty nonce in package 1
            atomic_status=False,  # L3
            large_objects=False,  # L4: MoreData ignored, each chunk answered as a value
            unverified_server_status=self.unverified_server_status,  # L5
            follow_challenge_type=True,  # L6
            retry_without_challenge=True,  # L6
            split=False,  # L8
            always_final=True,  # every message Final, never Alert 1222
            rewrite=self._rewrite,
            rewrite_body=self._rewrite_body)

    def _rewrite(self, msg: Message, answering: Message | None) -> Message:
        if self.crash_on_known_bugs and answering is not None:
            for command in answering.iter_commands():
                if isinstance(command, Sequence):
                    raise LibdmclientCrash("sequence")
                if isinstance(command, Add | Replace) and any(
                        item.data is None for item in command.items):
                    raise LibdmclientCrash("item_without_data")
        if answering is None:
            return msg
        atomics = {c.cmd_id: c for c in answering.commands if isinstance(c, Atomic)}
        execs = {c.cmd_id: c.correlator for c in answering.commands
                 if isinstance(c, Exec) and c.correlator}
        commands: list[Command] = []
        alerts = [c for c in msg.commands if isinstance(c, Alert) and c.correlator
                  and c.correlator in execs.values()]
        moved = {id(a) for a in alerts}
        for command in msg.commands:
            if id(command) in moved:
                continue
            if isinstance(command, Status) and command.cmd == "Exec" \
                    and command.cmd_ref in execs:
                # The test plugin's 1226 goes out before the Status of the Exec it answers.
                commands += [a for a in alerts if a.correlator == execs[command.cmd_ref]]
            commands.append(command)
            if isinstance(command, Status) and command.cmd == "Atomic" \
                    and command.cmd_ref in atomics:
                # An Atomic not run (server unchecked) is answered as a "Sequence", then one
                # Status per child with the same code (the srvhmac capture).
                command.cmd = "Sequence"
                commands += [Status("0", command.msg_ref, child.cmd_id, child.ELEMENT,
                                    command.data) for child in atomics[command.cmd_ref].commands]
        for number, command in enumerate(commands, 1):
            command.cmd_id = str(number)
        return dataclasses.replace(msg, commands=commands)

    def _rewrite_body(self, body: bytes, fmt: str) -> bytes:
        if self.correlator_first and fmt == "xml":
            body = _CORRELATOR_AFTER_DATA.sub(rb"\2\1", body)
        if self.max_reply_size is not None and len(body) > self.max_reply_size:
            raise LibdmclientCrash("reply_too_large")
        return body


_CORRELATOR_AFTER_DATA = re.compile(rb"(<Data>\d+</Data>)(<Correlator>[^<]*</Correlator>)")

FIXED = Libdmclient()
"""libdmclient of the ``fixed-*`` captures (its two crash fixes, the DM media type)."""
STOCK = Libdmclient(ds_media_type=True, crash_on_known_bugs=True, max_reply_size=40_000)
"""libdmclient as shipped (the ``stock-dsmime`` capture)."""


def libdmclient_session(tree: DMTree, *, profile: Libdmclient = FIXED,
                        **kwargs: Any) -> ClientSession:
    """A ``ClientSession`` behaving as libdmclient (SessionID 1, MaxMsgSize 16384, retries
    after 401 without limit); ``kwargs`` go to ``ClientSession`` (``fmt``, ``ui``...)."""
    kwargs.setdefault("session_id", LIBDMCLIENT_SESSION_ID)
    kwargs.setdefault("max_msg_size", profile.max_msg_size)
    kwargs.setdefault("max_auth_attempts", None)
    return ClientSession(tree, behaviour=profile.behaviour(), **kwargs)


def build_libdmclient_tree(*, server_addr: str = f"http://127.0.0.1{LIBDMCLIENT_PATH}",
                           server_id: str = "funambol", client_name: str = "funambol",
                           client_secret: str = "funambol", server_secret: str = "srvpwd",
                           client_auth: str = "BASIC", server_auth: str = "DIGEST",
                           server_nonce: bytes = b"") -> DMTree:
    """The simulator's phone tree as libdmclient's test client has it: DevId ``DMCtest``, the
    ``funambol`` account of the captures, a ``./Vendor/memory`` subtree (its memory MO) and
    ``./test/execute``, whose Exec answers with a Generic Alert (``attach``)."""
    from .simulator import build_tree

    tree = build_tree(dev_id=LIBDMCLIENT_DEVICE_ID, server_id=server_id, server_addr=server_addr,
                      client_name=client_name, client_secret=client_secret,
                      server_secret=server_secret, client_auth=client_auth,
                      server_auth=server_auth, server_nonce=server_nonce)
    full = f"Add={server_id}&Delete={server_id}&Exec={server_id}&Get={server_id}" \
           f"&Replace={server_id}"
    tree.device_add("./Vendor/memory", format="node", acl=full)
    tree.device_add("./test", format="node", acl=full)
    tree.device_add("./test/execute", "", format="chr")
    return tree


def attach(session: ClientSession) -> None:
    """Register ``./test/execute`` on the session's tree: its Exec queues Generic Alert 1226
    (Data ``200``, Format ``text/plain``, Type ``urn:test``, the Exec's Correlator), as
    libdmclient's test plugin does."""

    def execute(tree: DMTree, uri: str, server_id: str, data: object,
                correlator: str | None) -> int:
        try:
            session.queue_alert(1226, [Item(source=Source(uri), meta=Meta(
                format="text/plain", type="urn:test"), data="200")], correlator)
        except LocalProtocolError:
            pass  # the session ended meanwhile: nothing to report to
        return 200

    session.tree.register_exec("./test/execute", execute)


__all__ = ["FIXED", "LIBDMCLIENT_DEVICE_ID", "LIBDMCLIENT_PATH", "LIBDMCLIENT_SESSION_ID",
           "STOCK", "Libdmclient", "LibdmclientCrash", "attach", "build_libdmclient_tree",
           "libdmclient_session"]
