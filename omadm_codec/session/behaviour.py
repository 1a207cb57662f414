"""``DeviceBehaviour``: how a ``ClientSession`` departs from the protocol on the wire, so a
simulated device can behave as a real client does (``tools.profiles``: libdmclient).

The one idea: every deviation is a named switch whose default is the protocol's own behaviour,
read by ``ClientSession`` at the one place it decides that thing (media type, header, Cred,
the Status of an Atomic, chunks, the SyncHdr Status, retries, splitting, Final). What no
switch covers (byte order, crashes) goes through two hooks at the send boundary: ``rewrite``
(the model of each message) and ``rewrite_body`` (its bytes), both before the HMAC is computed.
A server is tested against such devices; a device built on the defaults is the spec's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..messages.model import Message

MessageRewrite = Callable[[Message, "Message | None"], Message]
"""``(message about to be sent, the server message it answers or None) -> message to send``."""
BodyRewrite = Callable[[bytes, str], bytes]
"""``(encoded message, "xml" or "wbxml") -> bytes to send``."""


@dataclass(frozen=True, slots=True)
class DeviceBehaviour:
    """Switches for a device's wire behaviour; the defaults follow the protocol."""

    media_types: Mapping[str, str] | None = None
    """The request media type per encoding (``{"xml": ..., "wbxml": ...}``); None: the DM
    types. libdmclient as shipped posts the DS types (``session.DS_CONTENT_TYPES``)."""
    send_loc_name: bool = True
    """Send the CLCRED user name as ``SyncHdr/Source/LocName`` (libdmclient never does)."""
    announce_max_obj_size: bool = True
    """Put ``MaxObjSize`` in the SyncHdr Meta (libdmclient sends ``MaxMsgSize`` only)."""
    credentials_before_nonce: bool = False
    """An auth-md5 Cred or an ``x-syncml-hmac`` in package 1 even without a nonce (over the
    empty nonce), instead of waiting for the server's challenge."""
    atomic_status: bool = True
    """Answer an Atomic that ran with its own Status (libdmclient answers its children only)."""
    large_objects: bool = True
    """Buffer ``MoreData`` chunks and answer 213; False: run each chunk as the whole value
    and answer its status (libdmclient ignores MoreData)."""
    unverified_server_status: int | None = None
    """None: challenge a server that presents no credentials this device can check (the
    protocol). An int: report the last verdict on the server's credentials in every SyncHdr
    Status instead, this code until one was checked (212 accepted, 401 refused), and answer
    every command with it unrun while it is not 212 (libdmclient's ``0``)."""
    follow_challenge_type: bool = False
    """Switch the CLCRED AAuthType to the type a server's ``Chal`` names."""
    retry_without_challenge: bool = False
    """Re-send package 1 after a 401/407 that carries no ``Chal`` (instead of giving up)."""
    split: bool = True
    """Keep each message within the server's MaxMsgSize, spreading a package over messages;
    False: one message whatever its size (libdmclient)."""
    always_final: bool = False
    """Every message carries Final and none asks for the server's next message (Alert 1222),
    even the answer to a server message without Final (libdmclient)."""
    rewrite: MessageRewrite | None = None
    """Last change to each message's model before it is encoded (sizes were judged before)."""
    rewrite_body: BodyRewrite | None = None
    """Last change to each encoded message, before its HMAC is computed."""


SPEC = DeviceBehaviour()
"""The protocol's behaviour: what ``ClientSession`` does unless told otherwise."""

__all__ = ["SPEC", "BodyRewrite", "DeviceBehaviour", "MessageRewrite"]
