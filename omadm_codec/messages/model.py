"""The typed SyncML DM message model: one slotted dataclass per element the spec names.

The one idea: the model keeps what was sent, in the order it was sent, as strings. IDs
(SessionID, MsgID, CmdID, MsgRef, CmdRef) are ``str`` and are validated, never coerced to int;
only the Alert and Status codes and the MetInf sizes are ints. How a value came on the wire (a
CDATA section, escaped text, nested markup, WBXML OPAQUE) is a presentation hint that, like
``Message.quirks``, takes no part in equality (``field(compare=False)``), so that a message
decoded from XML equals the same message decoded from WBXML.

Element names stay as the spec spells them (``SyncHdr``, ``Status``); their children become
snake_case attributes (``LocURI`` -> ``loc_uri``). Nothing here parses or writes bytes: see
``omadm_codec.messages``.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar, TypeAlias

__all__ = [
    "ALERT_CODES", "DM_COMMANDS", "DS_COMMANDS", "MEDIA_TYPES", "STATUS_CODES",
    "Add", "Alert", "Anchor", "Atomic", "Chal", "Command", "CommandList", "Copy", "Cred",
    "DataHint",
    "DataValue", "Delete", "Exec", "Get", "Item", "Map", "Mem", "Message", "Meta", "MetaExtra",
    "Put", "Replace", "Results", "Search", "Sequence", "Source", "Status", "Sync", "SyncHdr",
    "Target", "XmlDocument",
]


class DataHint(enum.Enum):
    """How a ``<Data>`` value travelled; re-encoding uses it to give back the same kind."""

    TEXT = "text"
    """Character data, markup escaped as ``&lt;`` / ``&amp;`` (the default)."""
    CDATA = "cdata"
    """A ``<![CDATA[...]]>`` section (WBXML: libwbxml turns it into OPAQUE)."""
    MARKUP = "markup"
    """Nested elements (an embedded document such as a TNDS ``MgmtTree``)."""
    OPAQUE = "opaque"
    """WBXML OPAQUE bytes (or the XML stand-in ``wbxml:opaque="base64"``)."""


@dataclass(frozen=True, slots=True)
class XmlDocument:
    """An XML document or fragment carried inside ``<Data>`` as markup (DevInf, MetInf, TNDS
    ``MgmtTree``, a Windows CSP payload).

    ``xml`` is the canonical serialization the decoder produced: elements whose namespace is
    the enclosing SyncML namespace carry no ``xmlns``; any other namespace is declared where it
    starts. Equality is on that string.
    """

    xml: str

    @classmethod
    def from_xml(cls, xml: str | bytes) -> XmlDocument:
        """Parse ``xml`` (one element) with the hardened parser and keep its canonical form,
        so that the document comes back from a round trip equal. Raises ``DecodeError``.
        (The plain constructor trusts its string: the decoder builds it canonical.)"""
        from ._lxml import canonical_fragment

        return cls(canonical_fragment(xml))

    def tree(self) -> object:
        """The document as an lxml element, parsed with the byte-level guards and the
        hardened parser (no entities, no network, no DTD). Raises ``DecodeError``."""
        from ._lxml import parse_fragment

        return parse_fragment(self.xml)


DataValue: TypeAlias = str | bytes | XmlDocument
"""What an ``Item.data`` holds: text, raw bytes, or an embedded XML document."""


@dataclass(slots=True)
class Anchor:
    """MetInf ``Anchor (Last?, Next)`` (a DS sync anchor; kept so nothing is dropped)."""

    next: str
    last: str | None = None


@dataclass(slots=True)
class Mem:
    """MetInf ``Mem (SharedMem?, FreeMem, FreeID)``."""

    free_mem: str
    free_id: str
    shared_mem: bool = False


@dataclass(frozen=True, slots=True)
class MetaExtra:
    """A MetInf child this codec does not know, kept verbatim instead of being dropped."""

    name: str
    """The element's local name."""
    xml: str
    """The whole element, serialized as in ``XmlDocument``."""


@dataclass(slots=True)
class Meta:
    """``<Meta>``: every MetInf 1.2 element, in the MetInf DTD order, plus unknown ones.

    ``size``, ``max_msg_size`` and ``max_obj_size`` are ints (servers compare them); the rest
    are strings as sent. ``field_level`` and ``Mem.shared_mem`` are the two empty elements.
    """

    field_level: bool = False
    format: str | None = None
    type: str | None = None
    mark: str | None = None
    size: int | None = None
    anchor: Anchor | None = None
    version: str | None = None
    next_nonce: str | None = None
    max_msg_size: int | None = None
    max_obj_size: int | None = None
    emi: list[str] = field(default_factory=list)
    mem: Mem | None = None
    extra: list[MetaExtra] = field(default_factory=list)
    """Unknown MetInf children, in the order they came (encoded after the known ones)."""


@dataclass(slots=True)
class Target:
    """``Target (LocURI, LocName?)``."""

    loc_uri: str
    loc_name: str | None = None


@dataclass(slots=True)
class Source:
    """``Source (LocURI, LocName?)``."""

    loc_uri: str
    loc_name: str | None = None


@dataclass(slots=True)
class Cred:
    """``Cred (Meta?, Data)``; DM allows it only in the SyncHdr. ``data`` is the credential
    text as sent (base64 for auth-basic and auth-md5)."""

    data: str
    meta: Meta | None = None


@dataclass(slots=True)
class Chal:
    """``Chal (Meta)``: the challenge in a Status (Type, Format, NextNonce)."""

    meta: Meta


@dataclass(slots=True)
class Item:
    """``Item (Target?, Source?, SourceParent?, TargetParent?, Meta?, Data?, MoreData?)``.

    ``data`` is ``None`` when ``<Data>`` is absent and ``""`` for an empty ``<Data/>``; the two
    differ on the wire (an empty ACL is ``<Data/>``). ``source_parent`` and ``target_parent``
    hold the LocURI of ``SourceParent`` / ``TargetParent``.
    """

    target: Target | None = None
    source: Source | None = None
    source_parent: str | None = None
    target_parent: str | None = None
    meta: Meta | None = None
    data: DataValue | None = None
    more_data: bool = False
    data_hint: DataHint | None = field(default=None, compare=False)
    """How ``data`` came (``None``: let the encoder choose). Not part of equality."""

    def data_bytes(self, command_meta: Meta | None = None) -> bytes | None:
        """The data as bytes, decoding base64 text only here, on request: when the item's (or
        else the command's) Meta Format is ``b64``. Text otherwise comes back UTF-8 encoded.
        Raises ``ValueError`` for b64 text that is not base64."""
        data = self.data
        if data is None or isinstance(data, bytes):
            return data
        if isinstance(data, XmlDocument):
            return data.xml.encode("utf-8")
        meta = self.meta if self.meta is not None and self.meta.format else command_meta
        if meta is not None and meta.format == "b64":
            try:
                return base64.b64decode("".join(data.split()), validate=True)
            except binascii.Error as exc:
                raise ValueError(f"Data is not base64: {exc}") from exc
        return data.encode("utf-8")


@dataclass(slots=True)
class SyncHdr:
    """``SyncHdr (VerDTD, VerProto, SessionID, MsgID, Target, Source, RespURI?, NoResp?, Cred?,
    Meta?)``. ``ver_proto`` is ``DM/1.2`` by default; ``DM/1.1`` and ``DM/1.3`` are kept as
    sent (``ver_dtd`` stays ``1.2`` for DM 1.3)."""

    session_id: str
    msg_id: str
    target: Target
    source: Source
    ver_dtd: str = "1.2"
    ver_proto: str = "DM/1.2"
    resp_uri: str | None = None
    no_resp: bool = False
    cred: Cred | None = None
    meta: Meta | None = None

    @property
    def target_name(self) -> str | None:
        """``Target/LocName``."""
        return self.target.loc_name

    @property
    def source_name(self) -> str | None:
        """``Source/LocName`` (the user id for auth-md5 and HMAC)."""
        return self.source.loc_name


# --- commands: one class per element, named exactly as the element ------------------------


@dataclass(slots=True)
class _ItemCommand:
    """Add, Copy, Delete, Get, Replace: ``(CmdID, NoResp?, Meta?, Item+)``."""

    ELEMENT: ClassVar[str] = ""
    cmd_id: str
    items: list[Item] = field(default_factory=list)
    meta: Meta | None = None
    no_resp: bool = False


@dataclass(slots=True)
class Add(_ItemCommand):
    """Add: create each Item's Target node (interior when its Meta Format is ``node``) with its
    Data."""

    ELEMENT: ClassVar[str] = "Add"


@dataclass(slots=True)
class Copy(_ItemCommand):
    """Copy: copy each Item's Source node to its Target."""

    ELEMENT: ClassVar[str] = "Copy"


@dataclass(slots=True)
class Delete(_ItemCommand):
    """Delete: remove each Item's Target node (an interior node with its subtree)."""

    ELEMENT: ClassVar[str] = "Delete"


@dataclass(slots=True)
class Get(_ItemCommand):
    """Get: read each Item's Target (a node's value, or ``?list=...`` / ``?prop=...``); the device
    answers with Results."""

    ELEMENT: ClassVar[str] = "Get"


@dataclass(slots=True)
class Replace(_ItemCommand):
    """Replace: set each Item's Target node to its Data (or a property, with ``?prop=``)."""

    ELEMENT: ClassVar[str] = "Replace"


@dataclass(slots=True)
class Alert:
    """``Alert (CmdID, NoResp?, Data?, Correlator?, Item*)``; ``data`` is the alert code.
    Unknown 12xx codes pass through."""

    ELEMENT: ClassVar[str] = "Alert"
    cmd_id: str
    data: int | None = None
    correlator: str | None = None
    items: list[Item] = field(default_factory=list)
    no_resp: bool = False


@dataclass(slots=True)
class Exec:
    """``Exec (CmdID, NoResp?, Meta?, Correlator?, Item)``; decoded as ``Item+``."""

    ELEMENT: ClassVar[str] = "Exec"
    cmd_id: str
    items: list[Item] = field(default_factory=list)
    meta: Meta | None = None
    correlator: str | None = None
    no_resp: bool = False


@dataclass(slots=True)
class Status:
    """``Status (CmdID, MsgRef, CmdRef, Cmd, TargetRef*, SourceRef*, Chal?, Data, Item*)``.

    ``data`` is the status code (unknown codes pass through). ``cmd_ref`` may be ``""``: the
    Status for a command that had no CmdID (Windows answers 400 with an empty CmdRef).
    """

    ELEMENT: ClassVar[str] = "Status"
    cmd_id: str
    msg_ref: str
    cmd_ref: str
    cmd: str
    data: int
    target_refs: list[str] = field(default_factory=list)
    source_refs: list[str] = field(default_factory=list)
    chal: Chal | None = None
    items: list[Item] = field(default_factory=list)
    no_resp: bool = False


@dataclass(slots=True)
class Results:
    """``Results (CmdID, MsgRef?, CmdRef, Meta?, TargetRef?, SourceRef?, Item+)``."""

    ELEMENT: ClassVar[str] = "Results"
    cmd_id: str
    cmd_ref: str
    items: list[Item] = field(default_factory=list)
    msg_ref: str | None = None
    meta: Meta | None = None
    target_ref: str | None = None
    source_ref: str | None = None
    no_resp: bool = False


@dataclass(slots=True)
class _Container:
    """Atomic, Sequence: ``(CmdID, NoResp?, Meta?, command+)``, order kept."""

    ELEMENT: ClassVar[str] = ""
    cmd_id: str
    commands: list[Command] = field(default_factory=list)
    meta: Meta | None = None
    no_resp: bool = False


@dataclass(slots=True)
class Atomic(_Container):
    """Atomic: its commands succeed together or the device rolls all of them back (status 216 for
    each, 507 for the Atomic)."""

    ELEMENT: ClassVar[str] = "Atomic"


@dataclass(slots=True)
class Sequence(_Container):
    """Sequence: its commands run in the order given, none interleaved with others."""

    ELEMENT: ClassVar[str] = "Sequence"


@dataclass(slots=True)
class _DsCommand:
    """A SyncML DS command that DM does not use. Decoded (leniently) only so that a DS
    message is recognised: ``xml`` keeps the whole element (serialized as in ``XmlDocument``)
    so that it re-encodes unchanged. Strict decoding rejects it (``unsupported_in_dm``)."""

    ELEMENT: ClassVar[str] = ""
    cmd_id: str
    xml: str
    no_resp: bool = False


@dataclass(slots=True)
class Map(_DsCommand):
    """Map (SyncML DS): kept whole in ``xml``; DM does not use it."""

    ELEMENT: ClassVar[str] = "Map"


@dataclass(slots=True)
class Put(_DsCommand):
    """Put (SyncML DS): kept whole in ``xml``; DM does not use it."""

    ELEMENT: ClassVar[str] = "Put"


@dataclass(slots=True)
class Search(_DsCommand):
    """Search (SyncML DS): kept whole in ``xml``; DM does not use it."""

    ELEMENT: ClassVar[str] = "Search"


@dataclass(slots=True)
class Sync(_DsCommand):
    """Sync (SyncML DS): kept whole in ``xml``; DM does not use it."""

    ELEMENT: ClassVar[str] = "Sync"


Command: TypeAlias = (
    Add | Alert | Atomic | Copy | Delete | Exec | Get | Replace | Results | Sequence | Status
    | Map | Put | Search | Sync
)

DM_COMMANDS: dict[str, type] = {
    cls.ELEMENT: cls
    for cls in (Add, Alert, Atomic, Copy, Delete, Exec, Get, Replace, Results, Sequence, Status)
}
"""Element name -> class, for the commands DM uses."""
DS_COMMANDS: dict[str, type] = {cls.ELEMENT: cls for cls in (Map, Put, Search, Sync)}
"""Element name -> class, for the DS commands decoded only to be reported."""


@dataclass(slots=True)
class Message:
    """``SyncML (SyncHdr, SyncBody)``: the header, the body's commands in order, and Final.

    ``quirks`` lists, once each and in the order met, the short codes of the deviations a
    lenient decode absorbed (see ``omadm_codec.messages.QUIRKS``). Not part of equality.
    """

    header: SyncHdr
    commands: list[Command] = field(default_factory=list)
    final: bool = False
    quirks: list[str] = field(default_factory=list, compare=False)

    def iter_commands(self) -> Iterator[Command]:
        """Every command in body order, the children of Atomic / Sequence right after their
        container (depth first)."""
        return _walk(self.commands)

    def statuses_for(self, cmd_ref: str, msg_ref: str | None = None) -> list[Status]:
        """The Statuses answering command ``cmd_ref`` (``"0"``: the SyncHdr), optionally only
        those for message ``msg_ref``; several when Items had different outcomes."""
        return [c for c in self.commands if isinstance(c, Status) and c.cmd_ref == cmd_ref
                and (msg_ref is None or c.msg_ref == msg_ref)]


@dataclass(slots=True)
class CommandList:
    """DM commands without a SyncHdr: how MDM profiles and CSP examples are written
    (``<SyncML><SyncBody>...`` with no header, a ``<SyncBody>`` alone, or bare
    ``<Replace>...</Replace><Add>...``), read by ``messages.decode_commands`` and written by
    ``messages.encode_commands``. The commands are the same classes as a ``Message``'s,
    ready to be put into one for a device (they still need their CmdIDs checked).

    ``final`` says whether ``<Final/>`` closed the list; ``quirks`` as in ``Message`` (not
    part of equality).
    """

    commands: list[Command] = field(default_factory=list)
    final: bool = False
    quirks: list[str] = field(default_factory=list, compare=False)

    def iter_commands(self) -> Iterator[Command]:
        """Every command in order, the children of Atomic / Sequence right after their
        container (depth first)."""
        return _walk(self.commands)


def _walk(commands: list[Command]) -> Iterator[Command]:
    stack: list[Iterator[Command]] = [iter(commands)]
    while stack:
        command = next(stack[-1], None)
        if command is None:
            stack.pop()
            continue
        yield command
        if isinstance(command, (Atomic, Sequence)):
            stack.append(iter(command.commands))


# --- code tables -------------------------------------------------------------------------

ALERT_CODES: dict[int, str] = {
    1100: "DISPLAY", 1101: "CONFIRM_OR_REJECT", 1102: "TEXT_INPUT", 1103: "SINGLE_CHOICE",
    1104: "MULTIPLE_CHOICE", 1200: "SERVER_INITIATED_MGMT", 1201: "CLIENT_INITIATED_MGMT",
    1222: "NEXT_MESSAGE", 1223: "SESSION_ABORT", 1224: "CLIENT_EVENT", 1225: "NO_END_OF_DATA",
    1226: "GENERIC_ALERT",
}
"""The DM alert codes (dm-protocol.md 1.3). Codes not listed here are kept, not rejected."""

STATUS_CODES: dict[int, str] = {
    101: "In progress", 200: "OK", 201: "Item added", 202: "Accepted for processing",
    203: "Non-authoritative response", 204: "No content", 205: "Reset content",
    206: "Partial content", 207: "Conflict resolved with merge",
    208: "Conflict resolved, client command won", 209: "Conflict resolved with duplicate",
    210: "Delete without archive", 211: "Item not deleted", 212: "Authentication accepted",
    213: "Chunked item accepted and buffered", 214: "Operation cancelled", 215: "Not executed",
    216: "Atomic roll back OK", 217: "OK with inherited ACL", 300: "Multiple choices",
    301: "Moved permanently", 302: "Found", 303: "See other", 304: "Not modified",
    305: "Use proxy", 400: "Bad request", 401: "Invalid credentials", 402: "Payment required",
    403: "Forbidden", 404: "Not found", 405: "Command not allowed",
    406: "Optional feature not supported", 407: "Missing credentials", 408: "Request timeout",
    409: "Conflict", 410: "Gone", 411: "Size required", 412: "Incomplete command",
    413: "Request entity too large", 414: "URI too long",
    415: "Unsupported media type or format", 416: "Requested size too big",
    417: "Retry later", 418: "Already exists", 419: "Conflict resolved with server data",
    420: "Device full", 421: "Unknown search grammar", 422: "Bad CGI script",
    423: "Soft-delete conflict", 424: "Size mismatch", 425: "Permission denied",
    426: "Partial item not accepted", 427: "Item not empty", 428: "Move failed",
    500: "Command failed", 501: "Command not implemented", 502: "Bad gateway",
    503: "Service unavailable", 504: "Gateway timeout", 505: "DTD version not supported",
    506: "Processing error", 507: "Atomic failed", 508: "Refresh required",
    510: "Data store failure", 511: "Server failure", 512: "Synchronization failed",
    513: "Protocol version not supported", 514: "Operation cancelled",
    516: "Atomic roll back failed", 517: "Atomic response too large to fit",
}
"""SyncML status codes as DM uses them, with DM 1.3's 217. Unknown codes pass through."""

MEDIA_TYPES: dict[str, str] = {
    "application/vnd.syncml.dm+xml": "DM message, XML",
    "application/vnd.syncml.dm+wbxml": "DM message, WBXML",
    "application/vnd.syncml.dmtnds+xml": "TNDS, XML",
    "application/vnd.syncml.dmtnds+wbxml": "TNDS, WBXML",
    "application/vnd.syncml.dmddf+xml": "DDF, XML",
    "application/vnd.syncml.dmddf+wbxml": "DDF, WBXML",
    "application/vnd.syncml-devinf+xml": "DevInf, XML",
    "application/vnd.syncml-devinf+wbxml": "DevInf, WBXML",
    "application/vnd.syncml.notification": "DM 1.2 notification (package 0)",
    "application/vnd.syncml.dm.notification": "DM 1.3 notification (package 0)",
}
"""Media types recognised in Meta Type (DM 1.2 and the DM 1.3 TNDS / DDF registrations)."""
