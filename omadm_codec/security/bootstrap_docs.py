"""Bootstrap documents: the CP ``wap-provisioningdoc`` (w7) and the DM-profile SyncML message.

One idea: both documents are two spellings of one ``W7Account``. ``build_cp_xml`` /
``parse_cp`` speak the w7 APPLICATION characteristic (PROVIDER-ID, APPADDR, APPAUTH, ...);
``build_dm_xml`` / ``parse_dm`` speak DMAcc Adds (``./DMAcc/<x>/...``, one Add per node,
dm-protocol.md 5.1 and 7.1). The DM profile is WBXML on the wire; that form goes through
``omadm_codec.wbxml``. Parsing uses a hardened lxml parser (no entities, DTDs or network)
and raises ``DecodeError`` with a reason; byte offsets are not available from lxml, so the
offset is -1 except for XML syntax errors, where it is the line's start.
"""

from __future__ import annotations

import binascii
from base64 import b64decode, b64encode
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from lxml import etree  # type: ignore[import-untyped]

from ..errors import DecodeError, EncodeError
from ..messages._lxml import clean_message
from .w7 import DMACC_LEVELS, W7_LEVELS, AppAuth, W7Account

CP_PUBLIC_ID = "-//WAPFORUM//DTD PROV 1.0//EN"
MAX_DOCUMENT = 64 * 1024  # a bootstrap fits in a few SMS; refuse more before parsing


def _parser() -> Any:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_comments=True,
                           remove_pis=True)


def _root(xml: str | bytes) -> Any:
    data = xml.encode("utf-8") if isinstance(xml, str) else bytes(xml)
    if len(data) > MAX_DOCUMENT:
        raise DecodeError("too_large", MAX_DOCUMENT)
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        line = exc.position[0] if exc.position else 1
        offset = 0
        for _ in range(max(line - 1, 0)):
            offset = data.find(b"\n", offset) + 1
        raise DecodeError("malformed_xml", max(offset, 0), clean_message(exc)) from None
    if root is None:
        raise DecodeError("malformed_xml", 0, "empty document")
    for node in root.iter():
        if isinstance(node, etree._Entity):
            raise DecodeError("forbidden_dtd", -1, "entity declarations are not allowed")
    return root


# -- CP: wap-provisioningdoc -------------------------------------------------------------------


def _parm(name: str, value: str | None = None, indent: str = "    ") -> str:
    if value is None:
        return f"{indent}<parm name={quoteattr(name)}/>\n"
    return f"{indent}<parm name={quoteattr(name)} value={quoteattr(value)}/>\n"


def build_cp_xml(account: W7Account) -> str:
    """A ``wap-provisioningdoc`` with one w7 APPLICATION characteristic (UTF-8 XML text)."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n',
           f'<!DOCTYPE wap-provisioningdoc PUBLIC "{CP_PUBLIC_ID}"'
           ' "http://www.wapforum.org/DTD/prov.dtd">\n',
           '<wap-provisioningdoc version="1.1">\n',
           '  <characteristic type="APPLICATION">\n',
           _parm("APPID", "w7"), _parm("PROVIDER-ID", account.server_id)]
    if account.name:
        out.append(_parm("NAME", account.name))
    if account.to_napid:
        out.append(_parm("TO-NAPID", account.to_napid))
    out.append('    <characteristic type="APPADDR">\n')
    out.append(_parm("ADDR", account.addr, "      "))
    out.append(_parm("ADDRTYPE", account.addr_type, "      "))
    if account.port is not None:
        out.append('      <characteristic type="PORT">\n')
        out.append(_parm("PORTNBR", str(account.port), "        "))
        out.append("      </characteristic>\n")
    out.append("    </characteristic>\n")
    for entry in account.auth:
        level = DMACC_LEVELS.get(entry.level)
        if level is None:
            raise EncodeError("bad_auth_level", detail=entry.level)
        out.append('    <characteristic type="APPAUTH">\n')
        out.append(_parm("AAUTHLEVEL", level, "      "))
        for parm, value in (("AAUTHTYPE", entry.type), ("AAUTHNAME", entry.name),
                            ("AAUTHSECRET", entry.secret)):
            if value:
                out.append(_parm(parm, value, "      "))
        if entry.data:
            out.append(_parm("AAUTHDATA", b64encode(entry.data).decode("ascii"), "      "))
        out.append("    </characteristic>\n")
    for parm, value in account.extra:
        out.append(_parm(parm, value))
    if account.init:
        out.append(_parm("INIT"))
    out.append("  </characteristic>\n</wap-provisioningdoc>\n")
    return "".join(out)


def _parms(node: Any) -> list[tuple[str, str | None]]:
    return [(p.get("name", ""), p.get("value")) for p in node if p.tag == "parm"]


def _chars(node: Any, kind: str) -> list[Any]:
    return [c for c in node if c.tag == "characteristic" and c.get("type") == kind]


def _port(text: str | None) -> int:
    if text is None or not text.isascii() or not text.isdigit() or int(text) > 0xFFFF:
        raise DecodeError("bad_port", -1, repr(text))
    return int(text)


def _nonce(text: str | None) -> bytes:
    try:
        return b64decode(text or "", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError("bad_nonce", -1, "AAUTHDATA is not base64") from exc


def _w7(app: Any) -> W7Account:
    fields: dict[str, Any] = {"server_id": None, "addr": None}
    extra: list[tuple[str, str]] = []
    for name, value in _parms(app):
        key = {"PROVIDER-ID": "server_id", "NAME": "name", "ADDR": "addr",
               "TO-NAPID": "to_napid", "TO-PROXY": "to_napid"}.get(name)
        if name == "APPID":
            continue
        if name == "INIT":
            fields["init"] = True
        elif key is not None:
            if fields.get(key) not in (None, "") and key != "to_napid":
                raise DecodeError("duplicate_parm", -1, name)
            fields[key] = value or ""
        else:
            extra.append((name, value or ""))
    addrs = _chars(app, "APPADDR")
    if addrs:
        parms = dict(_parms(addrs[0]))
        fields["addr"] = parms.get("ADDR") or fields["addr"]
        fields["addr_type"] = parms.get("ADDRTYPE") or "URI"
        ports = _chars(addrs[0], "PORT")
        if ports:
            fields["port"] = _port(dict(_parms(ports[0])).get("PORTNBR"))
    auth = []
    for entry in _chars(app, "APPAUTH"):
        parms = dict(_parms(entry))
        level = W7_LEVELS.get(parms.get("AAUTHLEVEL") or "")
        if level is None:
            raise DecodeError("bad_auth_level", -1, repr(parms.get("AAUTHLEVEL")))
        auth.append(AppAuth(level, parms.get("AAUTHTYPE") or "", parms.get("AAUTHNAME") or "",
                            parms.get("AAUTHSECRET") or "", _nonce(parms.get("AAUTHDATA"))))
    if not fields["server_id"]:
        raise DecodeError("missing_parm", -1, "PROVIDER-ID")
    if not fields["addr"]:
        raise DecodeError("missing_parm", -1, "ADDR")
    return W7Account(auth=tuple(auth), extra=tuple(extra), **fields)


def parse_cp(xml: str | bytes) -> list[W7Account]:
    """Every w7 APPLICATION characteristic of a ``wap-provisioningdoc`` (XML or WBXML).

    Raises ``DecodeError``: ``malformed_xml``, ``not_provisioning``, ``missing_parm``,
    ``duplicate_parm``, ``bad_port``, ``bad_auth_level``, ``bad_nonce``, ``too_large``.
    """
    if isinstance(xml, (bytes, bytearray)) and xml[:1] in (b"\x01", b"\x02", b"\x03"):
        xml = _from_wbxml(bytes(xml))
    root = _root(xml)
    if root.tag != "wap-provisioningdoc":
        raise DecodeError("not_provisioning", -1, str(root.tag))
    apps = [c for c in _chars(root, "APPLICATION") if ("APPID", "w7") in _parms(c)]
    return [_w7(app) for app in apps]


# -- DM profile: SyncML with DMAcc Adds --------------------------------------------------------

_NS = "SYNCML:SYNCML1.2"


def _item(uri: str, data: str | None, fmt: str | None = None) -> str:
    meta = f'<Meta><Format xmlns="syncml:metinf">{fmt}</Format></Meta>' if fmt else ""
    body = "" if data is None else f"<Data>{escape(data)}</Data>"
    return f"<Item><Target><LocURI>{escape(uri)}</LocURI></Target>{meta}{body}</Item>"


def dm_items(account: W7Account, name: str) -> list[tuple[str, str | None, str | None]]:
    """(URI, data, Meta Format) for every node of the DMAcc subtree, parents first."""
    base = f"./DMAcc/{name}"
    clcred = account.credentials("CLCRED")
    items: list[tuple[str, str | None, str | None]] = [
        (base, None, "node"), (f"{base}/AppID", "w7", None),
        (f"{base}/ServerID", account.server_id, None)]
    if account.name:
        items.append((f"{base}/Name", account.name, None))
    if account.to_napid:
        items.append((f"{base}/PrefConRef", account.to_napid, None))
    items += [(f"{base}/AppAddr", None, "node"), (f"{base}/AppAddr/1", None, "node"),
              (f"{base}/AppAddr/1/Addr", account.addr, None),
              (f"{base}/AppAddr/1/AddrType", account.addr_type, None)]
    if account.port is not None:
        items += [(f"{base}/AppAddr/1/Port", None, "node"),
                  (f"{base}/AppAddr/1/Port/1", None, "node"),
                  (f"{base}/AppAddr/1/Port/1/PortNbr", str(account.port), None)]
    pref = account.auth_pref or (clcred.type if clcred else "")
    if pref:
        items.append((f"{base}/AAuthPref", pref, None))
    if account.auth:
        items.append((f"{base}/AppAuth", None, "node"))
    for index, entry in enumerate(account.auth, 1):
        prefix = f"{base}/AppAuth/{index}"
        items += [(prefix, None, "node"), (f"{prefix}/AAuthLevel", entry.level, None),
                  (f"{prefix}/AAuthType", entry.type, None),
                  (f"{prefix}/AAuthName", entry.name, None),
                  (f"{prefix}/AAuthSecret", entry.secret, None),
                  (f"{prefix}/AAuthData", b64encode(entry.data).decode("ascii"), "b64")]
    return items


TNDS_XML_TYPE = "application/vnd.syncml.dmtnds+xml"


def dm_tnds(account: W7Account, name: str, *, dm_version: str = "1.2") -> str:
    """The DMAcc account as a TNDS ``MgmtTree`` relative to ``./DMAcc`` (one top ``Node``).

    The account node carries the ACL Get/Replace/Delete for the new server and the DMAcc
    DDFName; AAuthData is ``b64``. Nodes are emitted from ``dm_items``, so both forms agree.
    """
    from ..tree.standard import mo_urn

    sid = account.server_id
    root: dict[str, object] = {}
    leaves: dict[str, tuple[str, str]] = {}
    for uri, data, fmt in dm_items(account, name)[1:]:
        rel = uri.split("/", 3)[3]
        node = root
        parts = rel.split("/")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            assert isinstance(child, dict)
            node = child
        if fmt == "node":
            node.setdefault(parts[-1], {})
        else:
            node[parts[-1]] = None
            leaves[rel] = (fmt or "chr", data or "")

    def emit(node: dict[str, object], prefix: str, out: list[str]) -> None:
        for part, child in node.items():
            rel = f"{prefix}{part}"
            out.append(f"<Node><NodeName>{escape(part)}</NodeName>")
            if child is None:
                fmt, value = leaves[rel]
                out.append(f"<RTProperties><Format><{fmt}/></Format></RTProperties>"
                           f"<Value>{escape(value)}</Value></Node>")
            else:
                assert isinstance(child, dict)
                out.append("<RTProperties><Format><node/></Format></RTProperties>")
                emit(child, rel + "/", out)
                out.append("</Node>")

    out = ['<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD>',
           f"<Node><NodeName>{escape(name)}</NodeName><RTProperties>"
           f"<ACL>Delete={escape(sid)}&amp;Get={escape(sid)}&amp;Replace={escape(sid)}</ACL>"
           f"<Format><node/></Format><Type><DDFName>{mo_urn('dmacc', dm_version)}</DDFName>"
           "</Type></RTProperties>"]
    emit(root, "", out)
    out.append("</Node></MgmtTree>")
    return "".join(out)


def build_dm_xml(account: W7Account, *, device_id: str, name: str = "1",
                 session_id: str = "1", tnds: bool = False) -> str:
    """A DM 1.2 bootstrap message: one Add of the whole DMAcc subtree, no response expected.

    ``tnds=False``: one Item per node; ``tnds=True``: one Item on ``./DMAcc`` whose Data is
    the TNDS document (Meta Type ``application/vnd.syncml.dmtnds+xml``).
    """
    if "/" in name or not name:
        raise EncodeError("bad_account_name", detail=name)
    if tnds:
        meta = (f'<Meta><Format xmlns="syncml:metinf">xml</Format>'
                f'<Type xmlns="syncml:metinf">{TNDS_XML_TYPE}</Type></Meta>')
        items = (f"<Item><Target><LocURI>./DMAcc</LocURI></Target>{meta}"
                 f"<Data>{escape(dm_tnds(account, name))}</Data></Item>")
    else:
        items = "".join(_item(uri, data, fmt) for uri, data, fmt in dm_items(account, name))
    return (f'<SyncML xmlns="{_NS}"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>'
            f"<SessionID>{escape(session_id)}</SessionID><MsgID>1</MsgID>"
            f"<Target><LocURI>{escape(device_id)}</LocURI></Target>"
            f"<Source><LocURI>{escape(account.server_id)}</LocURI></Source></SyncHdr>"
            f"<SyncBody><Add><CmdID>1</CmdID>{items}</Add><Final/></SyncBody></SyncML>")


def build_dm_wbxml(account: W7Account, *, device_id: str, name: str = "1",
                   session_id: str = "1", tnds: bool = False) -> bytes:
    """``build_dm_xml`` as WBXML (mandatory on the wire for the DM profile)."""
    from ..wbxml import xml_to_wbxml

    return xml_to_wbxml(build_dm_xml(account, device_id=device_id, name=name,
                                     session_id=session_id, tnds=tnds))


def _local(tag: object) -> str:
    return tag.split("}", 1)[-1] if isinstance(tag, str) else ""


def _child_text(node: Any, *path: str) -> str | None:
    for step in path:
        node = next((c for c in node if _local(c.tag) == step), None)
        if node is None:
            return None
    return "".join(node.itertext())


def _tnds_values(target: str, document: str, names: set[str], values: dict[str, str]) -> None:
    """Flatten a TNDS document added at ``target`` into ``values`` (paths below <x>)."""
    from ..errors import OmaDmError
    from ..tree.tnds import parse_tnds

    try:
        tops = parse_tnds(document, max_nodes=512)
    except OmaDmError as exc:
        raise DecodeError("bad_tnds", -1, str(exc)) from None
    stack = [(f"{target.rstrip('/')}/{top.path + '/' if top.path else ''}{top.name}", top)
             for top in tops]
    while stack:
        uri, node = stack.pop()
        parts = uri.split("/")
        if len(parts) >= 3 and parts[:2] == [".", "DMAcc"]:
            names.add(parts[2])
            if len(parts) > 3 and node.format != "node":
                value = node.value
                text = b64encode(value).decode("ascii") if isinstance(value, bytes) else value
                values["/".join(parts[3:])] = text or ""
        stack.extend((f"{uri}/{child.name}", child) for child in node.children)


def parse_dm(document: str | bytes) -> W7Account:
    """The account a DM-profile bootstrap adds (XML, or WBXML when it starts with a
    WBXML version octet). Reads Add/Replace items under ``./DMAcc/<x>``; one account only.

    Raises ``DecodeError``: ``malformed_xml``, ``not_syncml``, ``no_account``,
    ``several_accounts``, ``missing_parm``, ``bad_port``, ``bad_nonce``.
    """
    if isinstance(document, (bytes, bytearray)) and document[:1] in (b"\x01", b"\x02", b"\x03"):
        document = _from_wbxml(bytes(document))
    root = _root(document)
    if _local(root.tag) != "SyncML":
        raise DecodeError("not_syncml", -1, str(root.tag))
    values: dict[str, str] = {}
    names: set[str] = set()
    for command in root.iter():
        if _local(command.tag) not in ("Add", "Replace"):
            continue
        for item in (c for c in command if _local(c.tag) == "Item"):
            uri = _child_text(item, "Target", "LocURI") or ""
            if (_child_text(item, "Meta", "Type") or "").strip() == TNDS_XML_TYPE:
                _tnds_values(uri, _child_text(item, "Data") or "", names, values)
                continue
            parts = uri.split("/")
            if len(parts) < 3 or parts[:2] != [".", "DMAcc"]:
                continue
            names.add(parts[2])
            if len(parts) > 3:
                values["/".join(parts[3:])] = _child_text(item, "Data") or ""
    if not names:
        raise DecodeError("no_account", -1)
    if len(names) > 1:
        raise DecodeError("several_accounts", -1, ", ".join(sorted(names)))
    auth = []
    indexes = sorted({k.split("/")[1] for k in values if k.startswith("AppAuth/")})
    for index in indexes:
        leaf = {k.rsplit("/", 1)[1]: v for k, v in values.items()
                if k.startswith(f"AppAuth/{index}/")}
        auth.append(AppAuth(leaf.get("AAuthLevel", ""), leaf.get("AAuthType", ""),
                            leaf.get("AAuthName", ""), leaf.get("AAuthSecret", ""),
                            _nonce(leaf.get("AAuthData"))))
    if not values.get("ServerID"):
        raise DecodeError("missing_parm", -1, "ServerID")
    if not values.get("AppAddr/1/Addr"):
        raise DecodeError("missing_parm", -1, "AppAddr/1/Addr")
    port = values.get("AppAddr/1/Port/1/PortNbr")
    return W7Account(server_id=values["ServerID"], addr=values["AppAddr/1/Addr"],
                     name=values.get("Name", ""),
                     addr_type=values.get("AppAddr/1/AddrType") or "URI",
                     port=None if port is None else _port(port),
                     to_napid=values.get("PrefConRef", ""),
                     auth_pref=values.get("AAuthPref", ""), auth=tuple(auth))


def build_cp_wbxml(account: W7Account) -> bytes:
    """``build_cp_xml`` as WBXML: the shared codec's PROV 1.0 language, libwbxml's bytes."""
    from ..wbxml import xml_to_wbxml

    return xml_to_wbxml(build_cp_xml(account))


def _from_wbxml(document: bytes) -> bytes:
    # The shared decoder knows PROV 1.0 (public id 0x0B or its FPI) and the SyncML languages;
    # a provisioning document is held to the bootstrap limits.
    from ..wbxml import wbxml_to_xml
    from ..wbxml.prov import LIMITS, PUBLIC_ID

    if document[1:2] == bytes([PUBLIC_ID]) or b"//DTD PROV 1.0//" in document[:64]:
        return wbxml_to_xml(document, limits=LIMITS)
    return wbxml_to_xml(document)


def parse_any(document: str | bytes) -> list[W7Account]:
    """The accounts of either profile, XML or WBXML: a ``wap-provisioningdoc`` (CP) or a
    DM SyncML message."""
    if isinstance(document, (bytes, bytearray)) and document[:1] in (b"\x01", b"\x02", b"\x03"):
        document = _from_wbxml(bytes(document))
    root = _root(document)
    if root.tag == "wap-provisioningdoc":
        return parse_cp(document)
    return [parse_dm(document)]
