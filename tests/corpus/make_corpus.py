"""Writes the project's own test corpus: eleven SyncML DM messages and libwbxml's WBXML for each.

The messages are written here, by this script, for omadm_codec's tests: the same shapes as the
reference corpus beside the workplace (``../shared/corpus``: a client's package 1, a server's
management package with Atomic and Sequence, a device's results, a 2,000-item Results, a
256 KB large object, a generic alert, a Windows-style package 1, an embedded TNDS tree, UI
alerts, CDATA and escaped markup, a DM 1.1 bootstrap), with their own content, so that a clone
anywhere carries what its tests read. Every value is made up; the random parts come from fixed
seeds, so the script writes the same bytes every time.

For each ``NAME.xml`` it writes, as the reference corpus does:

- ``NAME.wbxml``: libwbxml's ``wbxml_conv_xml2wbxml`` with WBXML 1.3, no string table, ignorable
  whitespace dropped (libwbxml's tool: ``xml2wbxml -v 1.3 -n``);
- ``NAME.strtbl.wbxml``: the same with libwbxml's string table (``xml2wbxml -v 1.3``); not for
  ``results_large``, where libwbxml's string table takes about 40 seconds (it is quadratic).

The WBXML must be libwbxml's own bytes (the tests check that ours are identical), so writing
them needs libwbxml (Debian ``libwbxml2-1``, loaded through ``tests/libwbxml_peer.py``).

    python tests/corpus/make_corpus.py           # (re)write every file
    python tests/corpus/make_corpus.py --check   # compare the files with what it would write
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent

# -- a small XML writer: elements, text (escaped when written) and raw markup ------------------


@dataclass
class Raw:
    """Markup written as it is (CDATA sections, escaped or embedded documents)."""

    text: str


@dataclass
class E:
    """An element; ``kids`` are elements, text (``str``) or ``Raw``."""

    tag: str
    kids: list[E | str | Raw] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)
    pair: bool = False  # write <X></X>, never <X/>, when empty


METINF = "syncml:metinf"


def el(tag: str, *kids: E | str | Raw | None, **attrs: str) -> E:
    return E(tag, [k for k in kids if k is not None], attrs)


def meta(quote: str = '"', **fields: str | None) -> E:
    """A Meta of MetInf fields, each with its own namespace declaration (as devices write it)."""
    names = {"format": "Format", "type": "Type", "mark": "Mark", "size": "Size",
             "next_nonce": "NextNonce", "max_msg_size": "MaxMsgSize",
             "max_obj_size": "MaxObjSize"}
    return el("Meta", *(E(names[k], [v], {"xmlns": METINF}) for k, v in fields.items()
                        if v is not None))


@dataclass
class Style:
    """How a message is laid out: the prolog, the attribute quote, the indentation, and how
    wide a line may grow before an element's children go on lines of their own."""

    prolog: bool = True
    quote: str = "'"
    indent: str = "  "
    width: int = 100


def _attrs(node: E, style: Style) -> str:
    q = style.quote
    return "".join(f" {k}={q}{escape(v, {q: '&quot;' if q == chr(34) else '&apos;'})}{q}"
                   for k, v in node.attrs.items())


def _inline(node: E | str | Raw, style: Style) -> str:
    if isinstance(node, Raw):
        return node.text
    if isinstance(node, str):
        return escape(node)
    head = f"<{node.tag}{_attrs(node, style)}"
    if not node.kids:
        return head + (f"></{node.tag}>" if node.pair else "/>")
    return head + ">" + "".join(_inline(k, style) for k in node.kids) + f"</{node.tag}>"


def _lines(node: E, style: Style, depth: int) -> Iterator[str]:
    pad = style.indent * depth
    one = _inline(node, style)
    if len(pad) + len(one) <= style.width or not all(isinstance(k, E) for k in node.kids):
        yield pad + one
        return
    yield f"{pad}<{node.tag}{_attrs(node, style)}>"
    for kid in node.kids:
        assert isinstance(kid, E)
        yield from _lines(kid, style, depth + 1)
    yield f"{pad}</{node.tag}>"


def render(root: E, style: Style) -> bytes:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>'] if style.prolog else []
    lines += _lines(root, style, 0)
    return ("\n".join(lines) + "\n").encode("utf-8")


# -- SyncML pieces ---------------------------------------------------------------------------

SERVER = "https://dm.example.net/oma/dm"
DEVICE = "IMEI:354981092262735"
DEVICE_NAME = "fieldunit-17"
SERVER_ID = "dm.example.net"
USER, PASSWORD = "fieldunit-17", "k7Pq-Wm2x"


def md5_cred(nonce: bytes) -> str:
    """auth-md5 credentials as a client computes them: B64(H(B64(H(user:password)):nonce))."""
    inner = base64.b64encode(hashlib.md5(f"{USER}:{PASSWORD}".encode()).digest())
    return base64.b64encode(hashlib.md5(inner + b":" + nonce).digest()).decode()


def header(session_id: str, msg_id: str, target: str, source: str, *, source_name: str | None
           = None, cred: str | None = None, max_msg: str | None = None,
           max_obj: str | None = None, version: str = "1.2") -> E:
    src = el("Source", el("LocURI", source), el("LocName", source_name) if source_name else None)
    return el(
        "SyncHdr", el("VerDTD", version), el("VerProto", f"DM/{version}"),
        el("SessionID", session_id), el("MsgID", msg_id), el("Target", el("LocURI", target)), src,
        el("Cred", meta(format="b64", type="syncml:auth-md5"), el("Data", cred)) if cred else None,
        meta(max_msg_size=max_msg, max_obj_size=max_obj) if max_msg or max_obj else None,
    )


def syncml(hdr: E, commands: list[E], version: str = "1.2") -> E:
    return el("SyncML", hdr, el("SyncBody", *commands, el("Final")),
              xmlns=f"SYNCML:SYNCML{version}")


def item(*, target: str | None = None, source: str | None = None, meta_el: E | None = None,
         data: str | Raw | None = None, empty_data: bool = False) -> E:
    data_el = None
    if data is not None:
        data_el = el("Data", data)
    elif empty_data:
        data_el = E("Data", pair=True)
    return el("Item", el("Target", el("LocURI", target)) if target else None,
              el("Source", el("LocURI", source)) if source else None, meta_el, data_el)


def cmd(name: str, cmd_id: int, *kids: E | None) -> E:
    return el(name, el("CmdID", str(cmd_id)), *kids)


def status(cmd_id: int, msg_ref: str, cmd_ref: str, command: str, code: int, *,
           target_refs: tuple[str, ...] = (), source_refs: tuple[str, ...] = (),
           chal: E | None = None) -> E:
    return el("Status", el("CmdID", str(cmd_id)), el("MsgRef", msg_ref),
              el("CmdRef", cmd_ref), el("Cmd", command),
              *(el("TargetRef", t) for t in target_refs),
              *(el("SourceRef", s) for s in source_refs), chal, el("Data", str(code)))


def typed(fmt: str, value: str, uri: str, *, source: bool = False,
          mime: str = "text/plain") -> E:
    m = meta(format=fmt, type=mime)
    return item(source=uri, meta_el=m, data=value) if source else item(target=uri, meta_el=m,
                                                                      data=value)


DEVINFO = [("DevId", DEVICE), ("Man", "Northwind Instruments"), ("Mod", "NW-300 Field"),
           ("DmV", "1.2"), ("Lang", "de-DE")]


def devinfo_replace(cmd_id: int) -> E:
    return cmd("Replace", cmd_id, *(typed("chr", v, f"./DevInfo/{k}", source=True)
                                    for k, v in DEVINFO))


# -- the messages ----------------------------------------------------------------------------

def pkg1_client_init() -> bytes:
    """Package 1: Alert 1201, DevInfo Replace, auth-md5 Cred, MaxMsgSize and MaxObjSize."""
    hdr = header("3E8", "1", SERVER, DEVICE, source_name=DEVICE_NAME,
                 cred=md5_cred(b"initial-nonce-01"), max_msg="16384", max_obj="1048576")
    return render(syncml(hdr, [cmd("Alert", 1, el("Data", "1201")), devinfo_replace(2)]), Style())


V = "./Vendor/Northwind"

# Package 2's commands, numbered 4.. after its three Statuses: (element, CmdID, items or kids).
# Fixed shape, on which the session tests rely: 4 is a Get of a node every device has, 7 a Get of
# a node that does not exist, 37 an Atomic on nodes that do not exist, 45 a display alert.


def _pkg2_commands() -> list[E]:
    g = [(4, "./DevDetail/SwV"), (5, "./DevDetail/FwV"), (6, "./DevDetail/HwV"),
         (7, f"{V}/Sensors/Humidity")]
    out = [cmd("Get", i, item(target=u)) for i, u in g]
    out.append(cmd("Get", 8, item(target="./DevDetail/DevTyp"), item(target="./DevDetail/OEM"),
                   item(target="./DevDetail/LrgObj")))
    for i, u in ((9, "./DMAcc?list=Struct"), (10, "./FUMO/FW01/State"),
                 (11, f"{V}/Storage/FreeMB"), (12, f"{V}/Uplink/Profile/1?list=StructData")):
        out.append(cmd("Get", i, item(target=u)))
    replaces = [
        ("chr", "https://dm-backup.example.net/oma/dm", "./DMAcc/northwind/AppAddr/1/Addr", None),
        ("b64", "q0XzR3c8lT1m5dKb0W9pVY2hT0A=", "./DMAcc/northwind/AppAuth/1/AAuthData",
         "application/octet-stream"),
        ("bool", "true", f"{V}/Policy/Bluetooth/Allowed", None),
        ("int", "6", f"{V}/Policy/Lock/PinLength", None),
        ("int", "30", f"{V}/Policy/Lock/TimeoutMin", None),
        ("chr", "telemetry.northwind", f"{V}/Uplink/Profile/1/APN", None),
        ("chr", "192.0.2.44", f"{V}/Uplink/Profile/1/Gateway", None),
        ("int", "1883", f"{V}/Uplink/Profile/1/Port", None),
    ]
    for n, (fmt, value, uri, mime) in enumerate(replaces):
        out.append(cmd("Replace", 13 + n, typed(fmt, value, uri, mime=mime or "text/plain")))
    adds: list[tuple[str, str | None, str]] = [
        ("node", None, f"{V}/Uplink/Profile/2"), ("node", None, f"{V}/Uplink/Profile/2/Auth"),
        ("chr", "backup.northwind", f"{V}/Uplink/Profile/2/APN"),
        ("chr", "lte,nbiot", f"{V}/Uplink/Profile/2/Bands"),
        ("chr", "PAP", f"{V}/Uplink/Profile/2/Auth/Method"),
        ("chr", "unit17@uplink.example.net", f"{V}/Uplink/Profile/2/Auth/Name"),
        ("node", None, f"{V}/Wifi/Depot"), ("chr", "NW-DEPOT", f"{V}/Wifi/Depot/SSID"),
        ("chr", "WPA3-SAE", f"{V}/Wifi/Depot/Security"),
        ("bool", "true", f"{V}/Wifi/Depot/AutoJoin"),
    ]
    for n, (fmt, value, uri) in enumerate(adds):
        it = item(target=uri, meta_el=meta(format="node")) if value is None else \
            typed(fmt, value, uri)
        out.append(cmd("Add", 21 + n, it))
    for n, uri in enumerate((f"{V}/Uplink/Profile/0", f"{V}/Wifi/Visitor",
                             f"{V}/Journal/2025-03-14", "./FUMO/FW00")):
        out.append(cmd("Delete", 31 + n, item(target=uri)))
    out.append(cmd("Exec", 35, item(target=f"{V}/Maintenance/Recalibrate", data="all-sensors")))
    out.append(cmd("Exec", 36, el("Correlator", "fw-0913-x7"),
                   item(target="./FUMO/FW01/DownloadAndUpdate")))
    out.append(cmd("Atomic", 37, *(
        cmd("Replace", 38 + n, typed(fmt, value, f"{V}/Report/Sink/{leaf}"))
        for n, (fmt, value, leaf) in enumerate((("chr", "mqtts://sink.example.net", "Server"),
                                                ("int", "8883", "Port"),
                                                ("bool", "true", "Verify"))))))
    out.append(cmd("Sequence", 41,
                   cmd("Replace", 42, typed("chr", "verbose", f"{V}/Journal/Level")),
                   cmd("Exec", 43, item(target=f"{V}/Journal/Upload")),
                   cmd("Get", 44, item(target=f"{V}/Journal/LastUpload"))))
    out.append(cmd("Alert", 45, el("Data", "1100"), item(data="MINDT=8"),
                   item(data="Settings & sensors are being updated; keep the unit on mains.")))
    return out


NEXT_NONCE = base64.b64encode(random.Random("pkg2-nonce").randbytes(16)).decode()


def pkg2_server_mgmt() -> bytes:
    """Package 2: a header Status with Chal, then 42 commands incl. Atomic and Sequence."""
    hdr = header("3E8", "1", DEVICE, SERVER, cred=md5_cred(b"srv-nonce-7731"), max_msg="65536")
    chal = el("Chal", meta(format="b64", type="syncml:auth-md5", next_nonce=NEXT_NONCE))
    statuses = [status(1, "1", "0", "SyncHdr", 212, target_refs=(SERVER,),
                       source_refs=(DEVICE,), chal=chal),
                status(2, "1", "1", "Alert", 200), status(3, "1", "2", "Replace", 200)]
    return render(syncml(hdr, statuses + _pkg2_commands()), Style())


_GET_ANSWERS = {
    "./DevDetail/SwV": ("chr", "NW300-7.1.4-rel-250301"),
    "./DevDetail/FwV": ("chr", "BB-2.9.0-r118"),
    "./DevDetail/HwV": ("chr", "revC"),
    "./DevDetail/DevTyp": ("chr", "sensor-gateway"),
    "./DevDetail/OEM": ("chr", "Northwind Instruments"),
    "./DevDetail/LrgObj": ("bool", "true"),
    "./FUMO/FW01/State": ("int", "10"),
    f"{V}/Storage/FreeMB": ("int", "1420"),
    f"{V}/Journal/LastUpload": ("chr", "2025-03-14T09:12:40Z"),
}
_STRUCT = {  # ?list=Struct / ?list=StructData answers: (path, format, value or None)
    "./DMAcc?list=Struct": [("./DMAcc", "node", None), ("./DMAcc/northwind", "node", None)] + [
        (f"./DMAcc/northwind/{leaf}", fmt, None) for leaf, fmt in (
            ("AppID", "chr"), ("ServerID", "chr"), ("Name", "chr"), ("AppAddr", "node"),
            ("AppAddr/1", "node"), ("AppAddr/1/Addr", "chr"), ("AppAddr/1/AddrType", "chr"),
            ("AppAuth", "node"), ("AppAuth/1", "node"), ("AppAuth/1/AAuthLevel", "chr"),
            ("AppAuth/1/AAuthType", "chr"), ("AppAuth/1/AAuthName", "chr"))],
    f"{V}/Uplink/Profile/1?list=StructData": [
        (f"{V}/Uplink/Profile/1", "node", None),
        (f"{V}/Uplink/Profile/1/APN", "chr", "telemetry.northwind"),
        (f"{V}/Uplink/Profile/1/Gateway", "chr", "192.0.2.44"),
        (f"{V}/Uplink/Profile/1/Port", "int", "1883")],
}
# Codes other than 200 the device gives package 2's commands.
_CODES = {7: 404, 23: 418, 35: 202, 36: 202}


def pkg3_client_results() -> bytes:
    """Package 3: the device's answer to package 2, a Status per command and a Results per Get."""
    hdr = header("3E8", "2", SERVER, DEVICE, source_name=DEVICE_NAME,
                 cred=md5_cred(NEXT_NONCE.encode()), max_msg="16384", max_obj="1048576")
    out = [status(1, "1", "0", "SyncHdr", 200, target_refs=(DEVICE,), source_refs=(SERVER,))]

    def answer(command: E) -> None:
        cmd_id = int(command.kids[0].kids[0])  # type: ignore[union-attr]
        items = [k for k in command.kids if isinstance(k, E) and k.tag == "Item"]
        uris = tuple(i.kids[0].kids[0].kids[0] for i in items  # type: ignore[union-attr]
                     if i.kids and isinstance(i.kids[0], E) and i.kids[0].tag == "Target")
        code = _CODES.get(cmd_id, 200)
        out.append(status(len(out) + 1, "1", str(cmd_id), command.tag, code,
                          target_refs=uris))  # type: ignore[arg-type]
        if command.tag == "Get" and code == 200:
            results = []
            for uri in uris:
                assert isinstance(uri, str)
                if uri in _STRUCT:
                    for path, fmt, value in _STRUCT[uri]:
                        m = meta(format=fmt) if value is None else meta(format=fmt,
                                                                        type="text/plain")
                        results.append(item(source=path, meta_el=m, data=value))
                else:
                    fmt, value = _GET_ANSWERS[uri]
                    results.append(typed(fmt, value, uri, source=True))
            out.append(el("Results", el("CmdID", str(len(out) + 1)), el("MsgRef", "1"),
                          el("CmdRef", str(cmd_id)), *results))
        for kid in command.kids:
            if isinstance(kid, E) and kid.tag in ("Replace", "Exec", "Get", "Add"):
                answer(kid)

    for command in _pkg2_commands():
        answer(command)
    return render(syncml(hdr, out), Style())


def results_large() -> bytes:
    """One Results of an inventory with about 2,000 Items (some 540 KB of XML)."""
    rnd = random.Random("results_large")
    words = ["Orbit", "Ledger", "Pulse", "Harbor", "Quill", "Vector", "Meadow", "Cipher", "Relay",
             "Summit", "Beacon", "Atlas", "Fjord", "Nimbus", "Tandem", "Willow"]
    base = f"{V}/Inventory"
    items = [item(source=base, meta_el=meta(format="node")),
             item(source=f"{base}/Packages", meta_el=meta(format="node"))]
    for n in range(250):
        name = f"{rnd.choice(words)} {rnd.choice(words)}"
        node = f"{base}/Packages/P{n:04d}"
        items.append(item(source=node, meta_el=meta(format="node")))
        for leaf, fmt, value in (
                ("Title", "chr", name),
                ("Id", "chr", "net.example." + name.lower().replace(" ", ".") + str(n % 7)),
                ("Release", "chr", f"{rnd.randint(1, 12)}.{rnd.randint(0, 30)}."
                                   f"{rnd.randint(0, 400)}"),
                ("Build", "int", str(rnd.randint(1, 90000))),
                ("SizeKB", "int", str(rnd.randint(40, 250000))),
                ("Enabled", "bool", rnd.choice(["true", "false"]))):
            items.append(typed(fmt, value, f"{node}/{leaf}", source=True))
    items.append(item(source=f"{base}/Radios", meta_el=meta(format="node")))
    for n in range(40):
        node = f"{base}/Radios/R{n:02d}"
        items.append(item(source=node, meta_el=meta(format="node")))
        for leaf, fmt, value in (
                ("Name", "chr", f"{rnd.choice(words).upper()}-{rnd.randint(10, 99)}"),
                ("Channel", "int", str(rnd.randint(1, 165))),
                ("Level", "int", str(-rnd.randint(30, 95))),
                ("Seen", "chr", f"2025-03-{rnd.randint(10, 28)}T{rnd.randint(0, 23):02d}:"
                                f"{rnd.randint(0, 59):02d}:00Z")):
            items.append(typed(fmt, value, f"{node}/{leaf}", source=True))
    items.append(item(source=f"{base}/Config", meta_el=meta(format="node")))
    hdr = header("51F0", "2", SERVER, DEVICE, source_name=DEVICE_NAME, max_msg="1048576",
                 max_obj="1048576")
    body = [status(1, "1", "0", "SyncHdr", 200, target_refs=(DEVICE,), source_refs=(SERVER,)),
            status(2, "1", "4", "Get", 200, target_refs=(f"{base}?list=StructData",)),
            el("Results", el("CmdID", "3"), el("MsgRef", "1"), el("CmdRef", "4"), *items)]
    return render(syncml(hdr, body), Style())


LARGE_OBJECT = random.Random("large_object_b64").randbytes(196_608)


def large_object_b64() -> bytes:
    """A Replace carrying a 196,608-byte firmware image as 262,144 characters of base64."""
    hdr = header("72C1", "2", DEVICE, SERVER, max_msg="524288", max_obj="1048576")
    body = [
        status(1, "1", "0", "SyncHdr", 200, target_refs=(SERVER,), source_refs=(DEVICE,)),
        status(2, "1", "3", "Replace", 200, target_refs=("./FUMO/FW01/Update/PkgURL",)),
        cmd("Replace", 3,
            meta(format="b64", type="application/octet-stream", size=str(len(LARGE_OBJECT))),
            item(target="./FUMO/FW01/Update/PkgData",
                 data=base64.b64encode(LARGE_OBJECT).decode())),
    ]
    return render(syncml(hdr, body), Style())


def generic_alert_1226() -> bytes:
    """Alert 1201 with a Generic Alert (1226): Correlator, Source, Meta Type/Format/Mark."""
    hdr = header("4A7", "1", SERVER, DEVICE, source_name=DEVICE_NAME,
                 cred=md5_cred(b"alert-nonce-22"), max_msg="16384", max_obj="1048576")
    alert = cmd("Alert", 2, el("Data", "1226"), el("Correlator", "fw-0913-x7"), item(
        source="./FUMO/FW01",
        meta_el=meta(format="int",
                     type="org.openmobilealliance.dm.firmwareupdate.downloadandupdate",
                     mark="critical"),
        data="200"))
    body = [cmd("Alert", 1, el("Data", "1201")), alert, devinfo_replace(3)]
    return render(syncml(hdr, body), Style())


WIN_DEVICE = "3C9E51A07B2D4F6E8A1B5C0D2E7F9A34"


def windows_pkg1() -> bytes:
    """A Windows-style package 1: SessionID 1, Alert 1224 LoginStatus, DevInfo, HWDevID."""
    hdr = header("1", "1", "https://mdm.example.org/EnrollmentServer/Manage.svc", WIN_DEVICE)
    info = [("./DevInfo/DevId", WIN_DEVICE), ("./DevInfo/Man", "Contoso Systems"),
            ("./DevInfo/Mod", "Slate 11 LTE"), ("./DevInfo/DmV", "1.3"),
            ("./DevInfo/Lang", "nl-NL"),
            ("./Vendor/MSFT/DMClient/HWDevID", "9F2E4C6A8B0D1E3F5A7C9E1B3D5F7A90")]
    body = [cmd("Alert", 2, el("Data", "1201")),
            cmd("Alert", 3, el("Data", "1224"),
                item(meta_el=meta(type="com.microsoft/MDM/LoginStatus"), data="others")),
            cmd("Replace", 4, *(item(source=uri, data=value) for uri, value in info))]
    return render(syncml(hdr, body), Style(prolog=False, quote='"'))


MGMT_TREE = (
    '<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD>'
    "<Node><NodeName>DMAcc</NodeName>"
    "<RTProperties><ACL>Get=*</ACL><Format><node/></Format>"
    "<Type><DDFName>urn:oma:mo:oma-dm-dmacc:1.0</DDFName></Type></RTProperties>"
    "<Node><NodeName>northwind</NodeName>"
    f"<RTProperties><ACL>Get={SERVER_ID}&amp;Replace={SERVER_ID}&amp;Delete={SERVER_ID}</ACL>"
    "<Format><node/></Format></RTProperties>"
    + "".join(f"<Node><NodeName>{name}</NodeName><RTProperties><Format><chr/></Format>"
              f"</RTProperties><Value>{value}</Value></Node>"
              for name, value in (("AppID", "w7"), ("ServerID", SERVER_ID),
                                  ("Name", "Northwind DM"), ("PrefConRef", "uplink-1"),
                                  ("AAuthPref", "BASIC")))
    + "</Node></Node></MgmtTree>"
)


def tnds_embedded() -> bytes:
    """Results of ``?list=TNDS+Value+ACL``: a MgmtTree (syncml:dmddf1.2) inside ``<Data>``."""
    hdr = header("9C", "3", SERVER, DEVICE)
    body = [
        status(1, "2", "0", "SyncHdr", 200, target_refs=(DEVICE,), source_refs=(SERVER,)),
        status(2, "2", "6", "Get", 200, target_refs=("./DMAcc?list=TNDS+Value+ACL",)),
        el("Results", el("CmdID", "3"), el("MsgRef", "2"), el("CmdRef", "6"), item(
            source="./DMAcc",
            meta_el=meta(format="xml", type="application/vnd.syncml.dmtnds+xml"),
            data=Raw(MGMT_TREE))),
    ]
    return render(syncml(hdr, body), Style(prolog=False, quote='"'))


def ui_alerts() -> bytes:
    """UI alerts 1100-1104 with their option strings, and a confirm inside a Sequence."""
    hdr = header("5D", "2", DEVICE, SERVER)
    alerts = [
        (1100, ["MINDT=3", "Configuration is being applied."]),
        (1101, ["MAXDT=45&DR=0", "Restart the gateway tonight?"]),
        (1102, ["MAXDT=90&MAXLEN=6&IT=N&ET=P", "Service code"]),
        (1103, ["DR=1", "Choose an uplink", "Cellular", "Ethernet", "Satellite"]),
        (1104, ["DR=2-4", "Which sensors may report?", "Temperature", "Pressure", "Vibration",
                "Humidity"]),
    ]
    body = [status(1, "1", "0", "SyncHdr", 212, target_refs=(SERVER,), source_refs=(DEVICE,))]
    for n, (code, texts) in enumerate(alerts):
        body.append(cmd("Alert", 2 + n, el("Data", str(code)), *(item(data=t) for t in texts)))
    body.append(cmd("Sequence", 7,
                    cmd("Alert", 8, el("Data", "1101"), item(empty_data=True),
                        item(data="Apply the new calibration now?")),
                    cmd("Exec", 9, item(target=f"{V}/Maintenance/Recalibrate"))))
    return render(syncml(hdr, body), Style(prolog=False, quote='"', width=400))


CDATA_PAYLOAD = ('<WLANProfile xmlns="http://www.microsoft.com/networking/WLAN/profile/v1">'
                 "<name>Depot</name><SSIDConfig><SSID><name>Depot &amp; Yard</name></SSID>"
                 "</SSIDConfig><connectionMode>auto</connectionMode></WLANProfile>")


def cdata_data() -> bytes:
    """Atomic; a CDATA-wrapped XML payload; escaped markup in Data."""
    hdr = header("12", "2", WIN_DEVICE, "https://mdm.example.org/EnrollmentServer/Manage.svc")
    body = [
        status(1, "1", "0", "SyncHdr", 200),
        cmd("Atomic", 2,
            cmd("Replace", 3, item(target="./Vendor/MSFT/Policy/Config/Power/StandbyTimeout",
                                   meta_el=meta(format="int"), data="900")),
            cmd("Add", 4, item(target="./Vendor/MSFT/WiFi/Profile/Depot/WlanXml",
                               meta_el=meta(format="chr", type="text/plain"),
                               data=Raw(f"<![CDATA[{CDATA_PAYLOAD}]]>")))),
        cmd("Replace", 5, item(target="./Vendor/MSFT/Policy/Config/Browser/Favorites",
                               data="<https://wiki.example.org><https://status.example.org>")),
    ]
    return render(syncml(hdr, body), Style(prolog=False, quote='"', width=140))


def bootstrap_dm11() -> bytes:
    """A DM 1.1 bootstrap: SyncML 1.1 namespace, ./SyncML/DMAcc layout, base64 nonces."""
    acc = "./SyncML/DMAcc/northwind"
    hdr = header("0", "0", "IMSI:262019876543210", SERVER, version="1.1")
    leaves: list[tuple[str, str, bool]] = [
        ("Addr", SERVER, False), ("AddrType", "1", False), ("PortNbr", "443", False),
        ("ServerId", SERVER_ID, False), ("ServerPW", "srv-Zq81-secret", False),
        ("ServerNonce", base64.b64encode(bytes(range(32, 48))).decode(), True),
        ("UserName", USER, False), ("ClientPW", PASSWORD, False),
        ("ClientNonce", base64.b64encode(bytes(range(48, 64))).decode(), True),
        ("AuthPref", "syncml:auth-md5", False), ("Name", "Northwind DM", False),
    ]
    items = [item(target=acc, meta_el=meta(format="node"))]
    items += [item(target=f"{acc}/{name}", meta_el=meta(format="b64") if b64 else None,
                   data=value) for name, value, b64 in leaves]
    return render(syncml(hdr, [cmd("Add", 1, *items)], version="1.1"),
                  Style(prolog=False, quote='"', width=160))


MESSAGES: dict[str, Callable[[], bytes]] = {f.__name__: f for f in (
    pkg1_client_init, pkg2_server_mgmt, pkg3_client_results, results_large, large_object_b64,
    generic_alert_1226, windows_pkg1, tnds_embedded, ui_alerts, cdata_data, bootstrap_dm11)}
NO_STRING_TABLE = {"results_large"}  # libwbxml's string table: ~40 s on it


def xml_files() -> dict[str, bytes]:
    """The XML messages, by file name (no libwbxml needed)."""
    return {f"{name}.xml": make() for name, make in MESSAGES.items()}


def wbxml_files(xml: dict[str, bytes]) -> dict[str, bytes]:
    """libwbxml's WBXML for each message of ``xml``, by file name."""
    sys.path.insert(0, str(HERE.parent))
    import libwbxml_peer

    if not libwbxml_peer.available():
        raise SystemExit(f"libwbxml is needed to write the WBXML files: {libwbxml_peer.REASON}")
    out: dict[str, bytes] = {}
    for file_name, data in xml.items():
        name = file_name.removesuffix(".xml")
        out[f"{name}.wbxml"] = libwbxml_peer.xml_to_wbxml(data)
        if name not in NO_STRING_TABLE:
            out[f"{name}.strtbl.wbxml"] = libwbxml_peer.xml_to_wbxml(data, string_table=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="compare the files on disk with what would be written; exit 1 if "
                             "any differs")
    args = parser.parse_args(argv)
    xml = xml_files()
    wanted = {**xml, **wbxml_files(xml)}
    on_disk = {p.name for p in HERE.iterdir() if p.suffix in (".xml", ".wbxml")}
    if args.check:
        stale = sorted(n for n, data in wanted.items()
                       if not (HERE / n).is_file() or (HERE / n).read_bytes() != data)
        extra = sorted(on_disk - set(wanted))
        for name in stale:
            print(f"differs: {name}")
        for name in extra:
            print(f"not written by this script: {name}")
        return 1 if stale or extra else 0
    for name, data in wanted.items():
        (HERE / name).write_bytes(data)
    for name in sorted(on_disk - set(wanted)):
        (HERE / name).unlink()
    print(f"wrote {len(wanted)} files to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
