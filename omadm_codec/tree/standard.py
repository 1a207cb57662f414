"""Standard management objects (dm-protocol.md 7): DevInfo, DevDetail, DMAcc builders, and
``accounts()`` which reads DM server accounts back as typed records.

The one idea: the builders create nodes as the device (``DMTree.device_add``), so they can set
Scope (permanent), AccessType and ACLs that a server could not; the reader is device-side too
(it sees AAuthSecret, which no server may Get). DMAcc comes in the DM 1.2 layout
(``./DMAcc/<x>/AppAddr/<x>/...``, ``AppAuth/<x>/...``) and the DM 1.1 layout
(``./SyncML/DMAcc/<x>/{Addr, ServerId, ClientPW, ...}``: node names recalled from DM 1.1.2
StdObj, not re-read, see the report); Windows' ``./SyncML/DMAcc/<x>`` with 1.2 leaves is read
as the 1.2 layout. MO URNs: ``...:1.0`` for DM 1.2, ``...:1.1`` for DM 1.3 (dm13-deltas 4.1).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import TreeError
from .nodes import Node

if TYPE_CHECKING:
    from .tree import DMTree

_Record = TypeVar("_Record")
GET_ONLY = frozenset({"Get"})
NO_GET = frozenset({"Add", "Replace"})
AAUTH_TYPES = {
    "syncml:auth-basic": "BASIC",
    "syncml:auth-md5": "DIGEST",
    "syncml:auth-MAC": "HMAC",
    "syncml:auth-X509": "X509",
    "syncml:auth-securid": "SECURID",
    "syncml:auth-safeword": "SAFEWORD",
    "syncml:auth-digipass": "DIGIPASS",
}


def mo_urn(kind: str, dm_version: str) -> str:
    """``urn:oma:mo:oma-dm-<kind>:1.0`` (DM 1.1/1.2) or ``:1.1`` (DM 1.3)."""
    return f"urn:oma:mo:oma-dm-{kind}:{'1.1' if dm_version == '1.3' else '1.0'}"


@dataclass(frozen=True, slots=True)
class AccountAddress:
    """One server address of a DM account (AppAddr): the address, its type, its ports."""

    addr: str
    addr_type: str
    """``URI`` (default), ``IPv4`` or ``IPv6``."""
    ports: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class AuthEntry:
    """One AppAuth entry of a DM account: its level, auth type, name, secret and nonce."""

    uri: str
    """The node holding this entry (its AAuthData is where the nonce goes)."""
    level: str
    """``CLCRED`` (client to server), ``SRVCRED`` (server to client), ``OBEX``, ``HTTP``."""
    type: str
    """An AAuthType name: ``BASIC``, ``DIGEST``, ``HMAC``, ..."""
    name: str
    secret: str
    data: bytes
    """The nonce."""


@dataclass(frozen=True, slots=True)
class DMAccount:
    """A DM account read from the tree (``DMTree.dm_accounts()``): the server it trusts, how to
    reach it, and the credentials both ways."""

    uri: str
    layout: str
    """``"1.2"`` (./DMAcc/<x>; also Windows ./SyncML/DMAcc/<x>) or ``"1.1"``."""
    server_id: str
    name: str
    addresses: tuple[AccountAddress, ...]
    auth_pref: str
    auth: tuple[AuthEntry, ...]

    def credentials(self, level: str) -> AuthEntry | None:
        """The first auth entry of ``level`` (``CLCRED`` / ``SRVCRED``), if any."""
        return next((entry for entry in self.auth if entry.level == level), None)


def _leaf(tree: DMTree, uri: str, value: str | bytes, fmt: str = "chr", **kw: Any) -> None:
    tree.device_add(uri, value, format=fmt, **kw)


def add_devinfo(
    tree: DMTree, *, dev_id: str, man: str, mod: str, dmv: str, lang: str, dm_version: str = "1.2"
) -> None:
    """Add ./DevInfo (permanent, Get only, ACL ``Get=*``) with DevId, Man, Mod, DmV and Lang."""
    tree.device_add(
        "./DevInfo",
        format="node",
        type=mo_urn("devinfo", dm_version),
        acl="Get=*",
        permanent=True,
        access=GET_ONLY,
    )
    for name, value in (
        ("DevId", dev_id),
        ("Man", man),
        ("Mod", mod),
        ("DmV", dmv),
        ("Lang", lang),
    ):
        _leaf(tree, f"./DevInfo/{name}", value, permanent=True, access=GET_ONLY)


def add_devdetail(
    tree: DMTree,
    *,
    dev_typ: str,
    oem: str,
    fwv: str,
    swv: str,
    hwv: str,
    lrg_obj: bool,
    max_depth: int,
    max_tot_len: int,
    max_seg_len: int,
    dm_version: str = "1.2",
) -> None:
    """Add ./DevDetail (permanent, Get only) with the device's type, OEM, firmware, software and
    hardware versions, LrgObj and the URI limits (MaxDepth, MaxTotLen, MaxSegLen)."""
    for number in (max_depth, max_tot_len, max_seg_len):
        if not 0 <= number <= 0xFFFF:
            raise TreeError("bad_limit", detail=str(number), status=400)
    tree.device_add(
        "./DevDetail",
        format="node",
        type=mo_urn("devdetail", dm_version),
        acl="Get=*",
        permanent=True,
        access=GET_ONLY,
    )
    tree.device_add("./DevDetail/URI", format="node", permanent=True, access=GET_ONLY)
    for name, number in (
        ("MaxDepth", max_depth),
        ("MaxTotLen", max_tot_len),
        ("MaxSegLen", max_seg_len),
    ):
        _leaf(tree, f"./DevDetail/URI/{name}", str(number), permanent=True, access=GET_ONLY)
    for name, value in (
        ("DevTyp", dev_typ),
        ("OEM", oem),
        ("FwV", fwv),
        ("SwV", swv),
        ("HwV", hwv),
    ):
        _leaf(tree, f"./DevDetail/{name}", value, permanent=True, access=GET_ONLY)
    _leaf(
        tree,
        "./DevDetail/LrgObj",
        "true" if lrg_obj else "false",
        "bool",
        permanent=True,
        access=GET_ONLY,
    )


def add_dm_account(
    tree: DMTree,
    account: str,
    *,
    server_id: str,
    addr: str,
    dm_version: str = "1.2",
    name: str = "",
    addr_type: str = "URI",
    port: int | None = None,
    auth_pref: str = "DIGEST",
    client_name: str = "",
    client_secret: str = "",
    client_nonce: bytes = b"",
    server_secret: str = "",
    server_nonce: bytes = b"",
) -> str:
    """Add one DMAcc account named ``account``; returns its URI. The server gets Add, Delete,
    Get, Replace on the account; AAuthSecret / AAuthData have no Get (AccessType)."""
    acl = f"Add={server_id}&Delete={server_id}&Get={server_id}&Replace={server_id}"
    if dm_version == "1.1":
        for parent in ("./SyncML", "./SyncML/DMAcc"):
            if tree._find_quiet(tree.parse(parent, limits=False).segments) is None:
                tree.device_add(parent, format="node", permanent=True)
        base = f"./SyncML/DMAcc/{account}"
        with tree.transaction():
            tree.device_add(base, format="node", acl=acl)
            for leaf, value in (
                ("Addr", addr),
                ("AddrType", addr_type),
                ("PortNbr", "" if port is None else str(port)),
                ("ServerId", server_id),
                ("UserName", client_name),
                ("Name", name),
                ("AuthPref", _meta_type(auth_pref)),
            ):
                _leaf(tree, f"{base}/{leaf}", value)
            for leaf, value in (("ClientPW", client_secret), ("ServerPW", server_secret)):
                _leaf(tree, f"{base}/{leaf}", value, access=NO_GET)
            for leaf, nonce in (("ClientNonce", client_nonce), ("ServerNonce", server_nonce)):
                _leaf(tree, f"{base}/{leaf}", nonce, "bin", access=NO_GET)
        return base
    if tree._find_quiet(("DMAcc",)) is None:
        tree.device_add("./DMAcc", format="node", permanent=True, acl="Get=*")
    base = f"./DMAcc/{account}"
    with tree.transaction():
        tree.device_add(base, format="node", acl=acl, type=mo_urn("dmacc", dm_version))
        for leaf, value in (
            ("AppID", "w7"),
            ("ServerID", server_id),
            ("Name", name),
            ("AAuthPref", auth_pref),
        ):
            _leaf(tree, f"{base}/{leaf}", value)
        _leaf(tree, f"{base}/AppAddr/1/Addr", addr)
        _leaf(tree, f"{base}/AppAddr/1/AddrType", addr_type)
        if port is not None:
            _leaf(tree, f"{base}/AppAddr/1/Port/1/PortNbr", str(port))
        for entry, level, entry_name, secret, nonce in (
            ("ClientSide", "CLCRED", client_name, client_secret, client_nonce),
            ("ServerSide", "SRVCRED", server_id, server_secret, server_nonce),
        ):
            prefix = f"{base}/AppAuth/{entry}"
            _leaf(tree, f"{prefix}/AAuthLevel", level)
            _leaf(tree, f"{prefix}/AAuthType", auth_pref)
            _leaf(tree, f"{prefix}/AAuthName", entry_name)
            _leaf(tree, f"{prefix}/AAuthSecret", secret, access=NO_GET)
            _leaf(tree, f"{prefix}/AAuthData", nonce, "bin", access=NO_GET)
    return base


def _meta_type(auth_type: str) -> str:
    for meta, name in AAUTH_TYPES.items():
        if name == auth_type:
            return meta
    return auth_type


def build(
    cls: type[DMTree],
    *,
    dev_id: str,
    man: str,
    mod: str,
    server_id: str,
    dm_version: str = "1.2",
    server_addr: str = "https://dm.example/",
    account: str = "",
    dmv: str = "omadm_codec",
    lang: str = "en-US",
    dev_typ: str = "phone",
    oem: str = "",
    fwv: str = "",
    swv: str = "",
    hwv: str = "",
    lrg_obj: bool = True,
    max_depth: int = 0,
    max_tot_len: int = 0,
    max_seg_len: int = 0,
    client_name: str = "",
    client_secret: str = "",
    server_secret: str = "",
    **tree_kwargs: Any,
) -> DMTree:
    """A tree with the root ACL ``Add=*&Get=*``, DevInfo, DevDetail and one DMAcc account
    (layout from ``dm_version``: ``"1.1"``, ``"1.2"`` or ``"1.3"``)."""
    if dm_version not in ("1.1", "1.2", "1.3"):
        raise TreeError("bad_dm_version", detail=dm_version, status=400)
    tree = cls(dm_version=dm_version, **tree_kwargs)
    add_devinfo(tree, dev_id=dev_id, man=man, mod=mod, dmv=dmv, lang=lang, dm_version=dm_version)
    add_devdetail(
        tree,
        dev_typ=dev_typ,
        oem=oem,
        fwv=fwv,
        swv=swv,
        hwv=hwv,
        lrg_obj=lrg_obj,
        max_depth=max_depth,
        max_tot_len=max_tot_len,
        max_seg_len=max_seg_len,
        dm_version=dm_version,
    )
    add_dm_account(
        tree,
        account or _account_name(server_id),
        server_id=server_id,
        addr=server_addr,
        dm_version=dm_version,
        client_name=client_name,
        client_secret=client_secret,
        server_secret=server_secret,
    )
    return tree


def _account_name(server_id: str) -> str:
    cleaned = "".join(ch for ch in server_id if ch.isalnum())
    return cleaned or "Account"


def _value(node: Node | None) -> str:
    if node is None or node.value is None:
        return ""
    if isinstance(node.value, bytes):
        return node.value.decode("utf-8", "replace")
    return node.value


def _bytes(node: Node | None) -> bytes:
    if node is None or node.value is None:
        return b""
    if isinstance(node.value, str):
        return node.value.encode("utf-8")
    return node.value


def _child(node: Node | None, *names: str) -> Node | None:
    for name in names:
        if node is None or node.children is None:
            return None
        node = node.children.get(name)
    return node


def _children(node: Node | None) -> list[Node]:
    if node is None or node.children is None:
        return []
    return list(node.children.values())


def _text_at(children: dict[str, Node], name: str) -> str:
    """``_value(_child(parent, name))`` for a parent whose ``children`` are given."""
    node = children.get(name)
    if node is None:
        return ""
    value = node.value
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


_NO_CHILDREN: dict[str, Node] = {}


def _read_12(tree: DMTree, acc: Node) -> DMAccount:
    # A client reads its account once per session: the children dicts are read directly and
    # the records made through their slots (``_make``), the URIs from the account's path.
    format_uri = tree._uri.format_uri
    path = acc.path()
    children = acc.children if acc.children is not None else _NO_CHILDREN
    addresses = []
    app_addr = children.get("AppAddr")
    for addr_node in _children(app_addr):
        leaves = addr_node.children if addr_node.children is not None else _NO_CHILDREN
        ports = []
        for port in _children(leaves.get("Port")):
            text = _text_at(port.children, "PortNbr") if port.children is not None else ""
            if text.isdigit():
                ports.append(int(text))
        addresses.append(_make_address(_text_at(leaves, "Addr"),
                                       _text_at(leaves, "AddrType") or "URI", tuple(ports)))
    auth = []
    for entry in _children(children.get("AppAuth")):
        leaves = entry.children if entry.children is not None else _NO_CHILDREN
        data = leaves.get("AAuthData")
        auth.append(_make_auth_entry(
            format_uri((*path, "AppAuth", entry.name)),
            _text_at(leaves, "AAuthLevel"),
            _text_at(leaves, "AAuthType"),
            _text_at(leaves, "AAuthName"),
            _text_at(leaves, "AAuthSecret"),
            _bytes(data),
        ))
    return _make_account(
        format_uri(path),
        "1.2",
        _text_at(children, "ServerID"),
        _text_at(children, "Name"),
        tuple(addresses),
        _text_at(children, "AAuthPref"),
        tuple(auth),
    )


def _maker(cls: type[_Record]) -> Callable[..., _Record]:
    """A constructor for the frozen slotted record ``cls`` taking its fields in order, each
    set through its slot's descriptor: the generated ``__init__`` looks ``object.__setattr__``
    up and calls it by name per field (a client reads its account every session)."""
    names = [field.name for field in dataclasses.fields(cls)]  # type: ignore[arg-type]
    lines = [f"def make({', '.join(names)}):", "    record = new(cls)"]
    lines += [f"    set_{name}(record, {name})" for name in names]
    lines.append("    return record")
    scope: dict[str, object] = {"new": object.__new__, "cls": cls}
    scope.update((f"set_{name}", getattr(cls, name).__set__) for name in names)
    exec("\n".join(lines), scope)  # noqa: S102 - the field names of a dataclass, nothing else
    make: Callable[..., _Record] = scope["make"]  # type: ignore[assignment]
    return make


def _read_11(tree: DMTree, acc: Node) -> DMAccount:
    uri = tree._uri.format_uri(acc.path())
    port = _value(_child(acc, "PortNbr"))
    auth_type = AAUTH_TYPES.get(_value(_child(acc, "AuthPref")), _value(_child(acc, "AuthPref")))
    server_id = _value(_child(acc, "ServerId"))
    auth = (
        AuthEntry(
            uri,
            "CLCRED",
            auth_type,
            _value(_child(acc, "UserName")),
            _value(_child(acc, "ClientPW")),
            _bytes(_child(acc, "ClientNonce")),
        ),
        AuthEntry(
            uri,
            "SRVCRED",
            auth_type,
            server_id,
            _value(_child(acc, "ServerPW")),
            _bytes(_child(acc, "ServerNonce")),
        ),
    )
    address = AccountAddress(
        _value(_child(acc, "Addr")),
        _value(_child(acc, "AddrType")) or "URI",
        (int(port),) if port.isdigit() else (),
    )
    return DMAccount(
        uri, "1.1", server_id, _value(_child(acc, "Name")), (address,), auth_type, auth
    )


_make_address = _maker(AccountAddress)
_make_auth_entry = _maker(AuthEntry)
_make_account = _maker(DMAccount)


def accounts(tree: DMTree) -> Iterator[DMAccount]:
    """Every account under ./DMAcc and ./SyncML/DMAcc, in tree order (device-side view)."""
    for acc in _children(tree._find_quiet(("DMAcc",))):
        if _child(acc, "ServerID") is not None:
            yield _read_12(tree, acc)
    for acc in _children(tree._find_quiet(("SyncML", "DMAcc"))):
        if _child(acc, "ServerID") is not None:
            yield _read_12(tree, acc)
        elif _child(acc, "ServerId") is not None:
            yield _read_11(tree, acc)


__all__ = [
    "AccountAddress",
    "AuthEntry",
    "DMAccount",
    "accounts",
    "add_devdetail",
    "add_devinfo",
    "add_dm_account",
    "build",
    "mo_urn",
]
