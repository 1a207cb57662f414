"""Every document and fragment of ../shared/corpus/realworld/ gets the outcome its README asks
for (both twins of the WBXML codec, through ``use(backend)``).

The corpus (84 SyncML documents, 49 fragments, copied from Microsoft's CSP documentation,
Fleet's and Mattrax's MDM servers and OMA's spec examples) is read at test time from
../shared and never copied here; without it every test skips, saying so. ``EXPECTED`` names
each file's outcome: decoded (a message with ``decode``, a command list without a SyncHdr
with ``decode_commands``), leniently with the named quirks where real senders deviate, or
refused with a typed error and its byte offset (broken examples: placeholders that break the
syntax or a content model, typos). A placeholder that is a valid value (``$CmdID$``,
``{unique device ID}``, a product key ``XXXXX-...``) is data and decodes as it stands.

Every decoded file then: round-trips through XML and WBXML to an equal model (strict too);
keeps every Data payload and every attribute of the markup inside Data (source, model, the
WBXML hub); and, as a document, converts with ``xml_to_wbxml`` without dropping an attribute
(string table: written; without: a typed refusal).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from conftest import SHARED_CORPUS, Backend
from lxml import etree
from test_message_wbxml import use

from omadm_codec import DecodeError, EncodeError
from omadm_codec.messages import decode, decode_commands, encode, encode_commands
from omadm_codec.messages import model as m
from omadm_codec.messages._reader import _first_element
from omadm_codec.messages._schema import OPAQUE_NS

REALWORLD = SHARED_CORPUS / "realworld"
pytestmark = pytest.mark.skipif(
    not (REALWORLD / "sources.tsv").is_file(),
    reason="../shared/corpus/realworld/ is absent (a checkout outside this workplace)")

Outcome = tuple[Any, ...]


def ok(*quirks: str) -> Outcome:
    return ("ok", quirks)


def err(reason: str, offset: int) -> Outcome:
    return ("error", reason, offset)


# file: (API, lenient outcome, strict outcome). "decode": a message; "commands": a command
# list for decode_commands. A comment says why a file is refused.
EXPECTED: dict[str, tuple[str, Outcome, Outcome]] = {
    "fleet-poc-mdm-server-README-1.xml": ("decode", ok(), ok()),
    "fleet-poc-mdm-server-README-2.xml":
        ("decode", ok("metinf_namespace"), err("metinf_namespace", 1223)),
    "fleet-poc-mdm-server-README-3.xml": ("decode", ok(), ok()),
    "fleet-poc-mdm-server-ngrok-dump-1.xml": ("decode", ok(), ok()),
    "fleet-poc-mdm-server-ngrok-dump-2.xml": ("decode", ok(), ok()),
    "fleet-poc-mdm-server-ngrok-dump-3.xml": ("decode", ok(), ok()),
    "fleet-poc-mdm-server-ngrok-dump-4.xml": ("decode", ok(), ok()),
    "mattrax-ms-mdm-basic-1.xml": ("decode", ok(), ok()),
    # Mattrax's own known-buggy expected output (SessionID text without tags)
    "mattrax-ms-mdm-basic-2.xml":
        ("decode", err("unexpected_text", 100), err("unexpected_text", 100)),
    "mattrax-ms-mdm-basic-3.xml": ("decode", ok(), ok()),
    # the root start tag lacks its '<'
    "msdocs-alljoynmanagement-csp-1.xml":
        ("commands", err("malformed_xml", 39), err("malformed_xml", 39)),
    "msdocs-alljoynmanagement-csp-2.xml": ("commands", ok(), ok()),
    "msdocs-alljoynmanagement-csp-3.xml": ("commands", ok(), ok()),
    "msdocs-bitlocker-csp-1.xml":
        ("commands", ok("namespace_missing"), err("namespace_missing", 0)),
    "msdocs-bitlocker-csp-2.xml":
        ("commands", ok("namespace_missing"), err("namespace_missing", 0)),
    "msdocs-bitlocker-csp-3.xml": ("commands", ok(), ok()),
    # <Replace xmlns=""> leaves the SyncML namespace (and holds three CmdIDs)
    "msdocs-device-update-management-1.xml":
        ("commands", err("bad_namespace", 57), err("bad_namespace", 57)),
    # the root's xmlns is quoted with &#39; entities
    "msdocs-disconnecting-from-mdm-unenrollment-1.xml":
        ("decode", err("malformed_xml", 14), err("malformed_xml", 14)),
    "msdocs-dynamicmanagement-csp-1.xml":
        ("commands", ok("namespace_missing"), err("namespace_missing", 0)),
    "msdocs-dynamicmanagement-csp-2.xml":
        ("commands", ok("namespace_missing"), err("namespace_missing", 0)),
    "msdocs-enable-admx-backed-policies-in-mdm-1.xml": (
        "commands", ok("element_order", "metinf_namespace", "whitespace"),
        err("element_order", 201)),
    "msdocs-enable-admx-backed-policies-in-mdm-2.xml":
        ("commands", ok("element_order", "metinf_namespace"), err("element_order", 270)),
    "msdocs-enable-admx-backed-policies-in-mdm-3.xml":
        ("commands", ok("element_order", "metinf_namespace"), err("element_order", 201)),
    "msdocs-enable-admx-backed-policies-in-mdm-4.xml": ("commands", ok(), ok()),
    "msdocs-enterprisedesktopappmanagement-csp-1.xml": ("commands", ok(), ok()),
    "msdocs-enterprisedesktopappmanagement-csp-2.xml": ("commands", ok(), ok()),
    "msdocs-enterprisedesktopappmanagement-csp-3.xml": ("commands", ok(), ok()),
    "msdocs-enterprisedesktopappmanagement-csp-4.xml": ("commands", ok(), ok()),
    "msdocs-enterprisedesktopappmanagement-csp-5.xml":
        ("commands", ok("whitespace"), err("whitespace", 120)),
    # an empty <SyncHdr /> (a header left out of the page); UTF-16 declared
    "msdocs-enterprisedesktopappmanagement-csp-6.xml":
        ("decode", err("missing_element", 50), err("utf16_declared", 30)),
    "msdocs-office-csp-1.xml": ("commands", ok(), ok()),
    "msdocs-office-csp-2.xml": ("commands", ok(), ok()),
    "msdocs-office-csp-3.xml": ("commands", ok(), ok()),
    "msdocs-policy-csp-deviceinstallation-1.xml":
        ("commands", ok("namespace_missing"), err("namespace_missing", 0)),
    "msdocs-policy-csp-deviceinstallation-2.xml":
        ("commands", ok("namespace_missing"), err("namespace_missing", 0)),
    "msdocs-policy-csp-deviceinstallation-3.xml":
        ("commands", ok("namespace_missing"), err("namespace_missing", 0)),
    "msdocs-policy-csp-deviceinstallation-4.xml":
        ("commands", ok("namespace_missing"), err("namespace_missing", 0)),
    "msdocs-structure-of-oma-dm-provisioning-files-1.xml": ("decode", ok(), ok()),
    "msdocs-understanding-admx-backed-policies-1.xml":
        ("commands", ok("element_order", "metinf_namespace"), err("element_order", 240)),
    "msdocs-understanding-admx-backed-policies-10.xml":
        ("commands", ok("element_order", "metinf_namespace"), err("element_order", 240)),
    "msdocs-understanding-admx-backed-policies-2.xml":
        ("commands", ok("element_order", "metinf_namespace"), err("element_order", 240)),
    "msdocs-understanding-admx-backed-policies-3.xml": ("commands", ok(), ok()),
    "msdocs-understanding-admx-backed-policies-4.xml":
        ("commands", ok("element_order", "metinf_namespace"), err("element_order", 246)),
    "msdocs-understanding-admx-backed-policies-5.xml":
        ("commands", ok("element_order", "metinf_namespace"), err("element_order", 240)),
    "msdocs-understanding-admx-backed-policies-6.xml":
        ("commands", ok("element_order", "metinf_namespace"), err("element_order", 201)),
    "msdocs-understanding-admx-backed-policies-7.xml":
        ("commands", ok("element_order", "metinf_namespace"), err("element_order", 201)),
    "msdocs-understanding-admx-backed-policies-8.xml": ("commands", ok(), ok()),
    "msdocs-understanding-admx-backed-policies-9.xml": ("commands", ok(), ok()),
    "msdocs-win32-and-centennial-app-policy-configuration-1.xml":
        ("commands", ok("element_order", "metinf_namespace"), err("element_order", 199)),
    "msdocs-win32-and-centennial-app-policy-configuration-2.xml":
        ("commands", ok("element_order", "metinf_namespace"), err("element_order", 203)),
    "msdocs-win32-and-centennial-app-policy-configuration-3.xml":
        ("commands", ok("element_order", "metinf_namespace"), err("element_order", 203)),
    "msdocs-win32-and-centennial-app-policy-configuration-4.xml": ("commands", ok(), ok()),
    "msdocs-windowslicensing-csp-1.xml": ("commands", ok(), ok()),
    "msdocs-windowslicensing-csp-2.xml": ("commands", ok(), ok()),
    "msdocs-windowslicensing-csp-3.xml": ("commands", ok(), ok()),
    "msdocs-windowslicensing-csp-4.xml": ("commands", ok(), ok()),
    "msdocs-windowslicensing-csp-5.xml": ("commands", ok(), ok()),
    # ok: the Data holds only a comment: an empty value
    "msdocs-windowslicensing-csp-6.xml": ("commands", ok(), ok()),
    # a '...' placeholder for the body
    "omaspec-24-1.xml": ("decode", err("unexpected_text", 305), err("unexpected_text", 305)),
    # curly quotes around attribute values
    "omaspec-24-2.xml": ("decode", err("malformed_xml", 576), err("malformed_xml", 576)),
    # curly quotes around attribute values
    "omaspec-24-3.xml": ("decode", err("malformed_xml", 328), err("malformed_xml", 328)),
    # a '...' placeholder in a Status
    "omaspec-24-4.xml": ("decode", err("unexpected_text", 317), err("unexpected_text", 317)),
    # curly quotes around attribute values
    "omaspec-24-5.xml": ("decode", err("malformed_xml", 390), err("malformed_xml", 390)),
    # curly quotes around attribute values
    "omaspec-24-6.xml": ("decode", err("malformed_xml", 588), err("malformed_xml", 588)),
    "omaspec-26-1.xml": ("decode", ok(), ok()),
    "omaspec-26-10.xml": ("decode", ok("element_order"), err("element_order", 386)),
    # the Cred Data is a comment placeholder
    "omaspec-26-2.xml": ("decode", err("empty_data", 327), err("empty_data", 327)),
    "omaspec-26-3.xml": ("decode", ok("element_order"), err("element_order", 397)),
    "omaspec-26-4.xml": ("decode", ok("element_order"), err("element_order", 385)),
    # the Cred Data is a comment placeholder
    "omaspec-26-5.xml": ("decode", err("empty_data", 317), err("empty_data", 317)),
    # the Cred Data is a comment placeholder
    "omaspec-26-6.xml": ("decode", err("empty_data", 328), err("empty_data", 328)),
    "omaspec-26-7.xml":
        ("decode", ok("element_order", "missing_cmd_ref"), err("element_order", 390)),
    "omaspec-26-8.xml":
        ("decode", ok("element_order", "missing_cmd_ref"), err("element_order", 387)),
    "omaspec-26-9.xml":
        ("decode", ok("element_order", "missing_cmd_ref"), err("element_order", 396)),
    # curly quotes around the root's xmlns
    "omaspec-41-1.xml": ("decode", err("malformed_xml", 14), err("malformed_xml", 14)),
    # curly quotes around the root's xmlns
    "omaspec-41-2.xml": ("decode", err("malformed_xml", 14), err("malformed_xml", 14)),
    # curly quotes around the root's xmlns
    "omaspec-41-3.xml": ("decode", err("malformed_xml", 14), err("malformed_xml", 14)),
    # curly quotes around the root's xmlns
    "omaspec-41-4.xml": ("decode", err("malformed_xml", 14), err("malformed_xml", 14)),
    # curly quotes around the root's xmlns
    "omaspec-41-5.xml": ("decode", err("malformed_xml", 14), err("malformed_xml", 14)),
    # a comment opened with an em dash
    "omaspec-51-1.xml": ("decode", err("malformed_xml", 333), err("malformed_xml", 333)),
    # '...' placeholders for the header and body
    "omaspec-appendix-1.xml": ("decode", err("unexpected_text", 37), err("unexpected_text", 37)),
    # '...' placeholders for the header and body
    "omaspec-appendix-2.xml": ("decode", err("unexpected_text", 37), err("unexpected_text", 37)),
    # '...' placeholders for the header and body
    "omaspec-appendix-3.xml": ("decode", err("unexpected_text", 37), err("unexpected_text", 37)),
    # '...' placeholders for the header and body
    "omaspec-appendix-4.xml": ("decode", err("unexpected_text", 36), err("unexpected_text", 36)),
    # Go's re-marshal: Target/Source directly in Alert
    "fragments/fleet-poc-mdm-server-ngrok-dump-frag1.xml":
        ("commands", err("unexpected_element", 54), err("element_order", 144)),
    # prefix A undeclared (Fleet binds it in its envelope)
    "fragments/fleet-sample-atomic_install_msi.xml":
        ("commands", err("malformed_xml", 445), err("malformed_xml", 445)),
    # prefix A undeclared (Fleet binds it in its envelope)
    "fragments/fleet-sample-disable_date_time.xml":
        ("commands", err("malformed_xml", 152), err("malformed_xml", 152)),
    # prefix A undeclared (Fleet binds it in its envelope)
    "fragments/fleet-sample-disable_defender_realtime_scanning.xml":
        ("commands", err("malformed_xml", 162), err("malformed_xml", 162)),
    "fragments/fleet-sample-get_device_name.xml": ("commands", ok(), ok()),
    "fragments/fleet-sample-get_hardware_version.xml": ("commands", ok(), ok()),
    "fragments/fleet-sample-get_local_time.xml": ("commands", ok(), ok()),
    "fragments/fleet-sample-get_os_platform.xml": ("commands", ok(), ok()),
    "fragments/fleet-sample-install_orbit.xml":
        ("commands", ok("element_order"), err("element_order", 1219)),
    "fragments/msdocs-bitlocker-csp-frag1.xml": ("commands", ok(), ok()),
    "fragments/msdocs-bitlocker-csp-frag2.xml": ("commands", ok(), ok()),
    "fragments/msdocs-bitlocker-csp-frag3.xml": ("commands", ok(), ok()),
    "fragments/msdocs-bitlocker-csp-frag4.xml": ("commands", ok(), ok()),
    "fragments/msdocs-bitlocker-csp-frag5.xml": ("commands", ok(), ok()),
    "fragments/msdocs-bitlocker-csp-frag6.xml": ("commands", ok(), ok()),
    "fragments/msdocs-disconnecting-from-mdm-unenrollment-frag1.xml": ("commands", ok(), ok()),
    "fragments/msdocs-dynamicmanagement-csp-frag1.xml": ("commands", ok(), ok()),
    "fragments/msdocs-dynamicmanagement-csp-frag2.xml": ("commands", ok(), ok()),
    "fragments/msdocs-dynamicmanagement-csp-frag3.xml": ("commands", ok(), ok()),
    "fragments/msdocs-dynamicmanagement-csp-frag4.xml": ("commands", ok(), ok()),
    "fragments/msdocs-dynamicmanagement-csp-frag5.xml":
        ("commands", ok("whitespace"), err("whitespace", 269)),
    "fragments/msdocs-enterprise-app-management-frag1.xml": ("commands", ok(), ok()),
    "fragments/msdocs-enterprise-app-management-frag2.xml": ("commands", ok(), ok()),
    "fragments/msdocs-enterprise-app-management-frag3.xml": ("commands", ok(), ok()),
    "fragments/msdocs-enterprise-app-management-frag4.xml": ("commands", ok(), ok()),
    "fragments/msdocs-enterprise-app-management-frag5.xml":
        ("commands", ok("metinf_namespace"), err("metinf_namespace", 402)),
    "fragments/msdocs-enterprise-app-management-frag6.xml":
        ("commands", ok("metinf_namespace"), err("metinf_namespace", 416)),
    "fragments/msdocs-enterprise-app-management-frag7.xml": ("commands", ok(), ok()),
    # <License ...> is never closed
    "fragments/msdocs-enterprise-app-management-frag8.xml":
        ("commands", err("malformed_xml", 316), err("malformed_xml", 316)),
    "fragments/msdocs-enterprise-app-management-frag9.xml": ("commands", ok(), ok()),
    "fragments/msdocs-enterprisedesktopappmanagement-csp-frag1.xml": ("commands", ok(), ok()),
    "fragments/msdocs-nodecache-csp-frag1.xml": ("commands", ok(), ok()),
    "fragments/msdocs-nodecache-csp-frag2.xml": ("commands", ok(), ok()),
    "fragments/msdocs-nodecache-csp-frag3.xml": ("commands", ok(), ok()),
    "fragments/msdocs-nodecache-csp-frag4.xml": ("commands", ok(), ok()),
    "fragments/msdocs-nodecache-csp-frag5.xml": ("commands", ok(), ok()),
    "fragments/msdocs-oma-dm-protocol-support-frag1.xml": ("commands", ok(), ok()),
    "fragments/msdocs-structure-of-oma-dm-provisioning-files-frag1.xml": ("commands", ok(), ok()),
    # SyncHdr and SyncBody without a root: neither message nor list
    "fragments/msdocs-structure-of-oma-dm-provisioning-files-frag2.xml":
        ("commands", err("unexpected_element", 0), err("unexpected_element", 0)),
    "fragments/msdocs-understanding-admx-backed-policies-frag1.xml": ("commands", ok(), ok()),
    "fragments/msdocs-understanding-admx-backed-policies-frag2.xml": ("commands", ok(), ok()),
    "fragments/msdocs-understanding-admx-backed-policies-frag3.xml": ("commands", ok(), ok()),
    "fragments/msdocs-win32-and-centennial-app-policy-configuration-frag1.xml":
        ("commands", ok(), ok()),
    "fragments/msdocs-win32-and-centennial-app-policy-configuration-frag2.xml":
        ("commands", ok(), ok()),
    "fragments/msdocs-win32-and-centennial-app-policy-configuration-frag3.xml":
        ("commands", ok(), ok()),
    "fragments/msdocs-win32-and-centennial-app-policy-configuration-frag4.xml":
        ("commands", ok(), ok()),
    # page prose around a SyncBody
    "fragments/omaspec-appendix-body1.xml":
        ("commands", err("malformed_xml", 2366), err("malformed_xml", 2366)),
    # page prose around a SyncBody
    "fragments/omaspec-appendix-body2.xml":
        ("commands", err("malformed_xml", 2322), err("malformed_xml", 2322)),
    "fragments/syncmlviewer-examples-body1.xml":
        ("commands", ok("whitespace", "metinf_namespace"), err("whitespace", 94)),
}

_API = {"decode": decode, "commands": decode_commands}


def outcome(api: str, data: bytes, strict: bool) -> Outcome:
    try:
        got = _API[api](data, strict=strict)
    except DecodeError as exc:
        return err(exc.reason, exc.offset)
    return ok(*got.quirks)


def test_the_table_covers_the_corpus() -> None:
    files = sorted(str(p.relative_to(REALWORLD)) for p in REALWORLD.rglob("*.xml"))
    assert files == sorted(EXPECTED)
    listed = {line.split("\t", 1)[0] for line in
              (REALWORLD / "sources.tsv").read_text().splitlines()[1:] if line}
    assert listed == set(EXPECTED)
    assert sum(1 for name in EXPECTED if "/" not in name) == 84
    assert sum(1 for name in EXPECTED if name.startswith("fragments/")) == 49


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_outcome(name: str) -> None:
    api, lenient, strict = EXPECTED[name]
    data = (REALWORLD / name).read_bytes()
    assert outcome(api, data, False) == lenient
    assert outcome(api, data, True) == strict
    if api == "commands":
        # A command list is never taken for a message.
        with pytest.raises(DecodeError):
            decode(data)
    elif lenient[0] == "ok":
        # ... nor a message for a command list.
        with pytest.raises(DecodeError) as info:
            decode_commands(data)
        assert info.value.reason == "unexpected_element"


DECODED = sorted(name for name, (_, lenient, _) in EXPECTED.items() if lenient[0] == "ok")


def _tree(data: bytes) -> Any:
    """The source as an lxml tree: as it stands, or its commands inside a wrapper."""
    try:
        return etree.fromstring(data)
    except etree.XMLSyntaxError:
        body = data.split(b"?>", 1)[1] if data.startswith(b"<?xml") else data
        return etree.fromstring(b"<wrapper>" + body + b"</wrapper>")


def _local(el: Any) -> str:
    return str(etree.QName(el).localname)


def _data_elements(root: Any) -> list[Any]:
    """The Data elements of Items, not those inside another Data (nested markup)."""
    found = []
    for el in root.iter(etree.Element):
        if _local(el) != "Data" or el.getparent() is None or _local(el.getparent()) != "Item":
            continue
        if not any(_local(a) == "Data" for a in el.iterancestors()):
            found.append(el)
    return found


def _attributes(elements: Any) -> Counter[tuple[str, str, str]]:
    """(element, attribute, value) of every element under the given Data elements (our own
    marker attribute excluded)."""
    seen: Counter[tuple[str, str, str]] = Counter()
    for data in elements:
        for el in data.iter(etree.Element):
            if el is data:
                continue
            for key, value in el.attrib.items():
                if etree.QName(key).namespace != OPAQUE_NS:
                    seen[(_local(el), key, value)] += 1
    return seen


def _model_attributes(decoded: m.Message | m.CommandList) -> Counter[tuple[str, str, str]]:
    seen: Counter[tuple[str, str, str]] = Counter()
    for command in decoded.iter_commands():
        for item in getattr(command, "items", []):
            if isinstance(item.data, m.XmlDocument):
                wrapped = etree.fromstring(f"<Data>{item.data.xml}</Data>".encode())
                seen += _attributes([wrapped])
    return seen


def _items_with_data(decoded: m.Message | m.CommandList) -> int:
    return sum(1 for c in decoded.iter_commands() for i in getattr(c, "items", [])
               if i.data is not None)


@pytest.mark.parametrize("name", DECODED)
def test_round_trips_and_nothing_dropped(backend: Backend, name: str) -> None:
    api = EXPECTED[name][0]
    data = (REALWORLD / name).read_bytes()
    decoded: m.Message | m.CommandList
    with use(backend):
        if api == "decode":
            decoded = decode(data)
            xml, wbxml = encode(decoded), encode(decoded, "wbxml")
            assert decode(xml, strict=True) == decoded
            assert decode(wbxml, strict=True) == decoded
            assert encode(decode(wbxml), "wbxml") == wbxml
        else:
            decoded = decode_commands(data)
            xml, wbxml = encode_commands(decoded), encode_commands(decoded, "wbxml")
            assert decode_commands(xml, strict=True) == decoded
            assert decode_commands(wbxml, strict=True) == decoded
            assert encode_commands(decode_commands(wbxml), "wbxml") == wbxml
        hub = backend.wbxml_to_xml(wbxml)
    # Nothing dropped: every Item's Data, every attribute of the markup inside a Data, in
    # the model and in the WBXML (read back through the hub).
    source = _tree(data)
    assert _items_with_data(decoded) == len(_data_elements(source))
    attributes = _attributes(_data_elements(source))
    assert _model_attributes(decoded) == attributes
    assert _attributes(_data_elements(etree.fromstring(hub))) == attributes


def _document(name: str, data: bytes) -> bytes:
    """The file as one SyncML document: a command list goes into <SyncML><SyncBody>."""
    found = _first_element(data)
    assert found is not None
    at, root = found
    if root == b"SyncML":
        return data
    body = data[at:]
    if root != b"SyncBody":
        body = b"<SyncBody>" + body + b"</SyncBody>"
    return b'<SyncML xmlns="SYNCML:SYNCML1.2">' + body + b"</SyncML>"


@pytest.mark.parametrize("name", DECODED)
def test_xml_to_wbxml_never_drops_an_attribute(backend: Backend, name: str) -> None:
    """The file as a document: with the string table every attribute is written and read
    back (CSP markup as LITERAL elements); without it, a typed refusal where there is one."""
    data = _document(name, (REALWORLD / name).read_bytes())
    everything = _attributes([etree.fromstring(data)])
    tabled = backend.xml_to_wbxml(data, string_table=True, keep_whitespace=True)
    back = etree.fromstring(backend.wbxml_to_xml(tabled))
    assert _attributes([back]) == everything
    try:
        plain = backend.xml_to_wbxml(data)
    except EncodeError as exc:
        assert exc.reason in ("unknown_element", "unknown_attribute")
        assert markup_elements(data)
        return
    assert not everything
    assert _attributes([etree.fromstring(backend.wbxml_to_xml(plain))]) == everything


def markup_elements(data: bytes) -> int:
    """How many elements the file's Data elements hold (CSP markup)."""
    return sum(1 for d in _data_elements(_tree(data)) for _ in d.iter(etree.Element)) - len(
        _data_elements(_tree(data)))
