"""decode_commands / encode_commands: DM commands without a SyncHdr (MDM profiles).

Fixtures are written here in the shapes profiles take (Microsoft's CSP pages: a ``<SyncML>``
without a header; Fleet's profiles: bare ``<Replace>...</Replace><Add>...``; Go's re-marshal:
a namespace on each command; SyncML viewers: a ``<SyncBody>`` alone). WBXML runs through each
twin of the WBXML codec (``use(backend)``).
"""

from __future__ import annotations

import pytest
from conftest import Backend
from test_foreign_payloads import ADMX, MSI, SETTINGS_PACK, fmt, item
from test_message_wbxml import use

import omadm_codec
from omadm_codec import DecodeError, EncodeError, Limits
from omadm_codec.messages import decode_commands, encode_commands
from omadm_codec.messages import model as m

REPLACE = item("Replace", "./Device/Vendor/MSFT/Policy/Config/Browser/AllowCookies", "1",
               fmt("int"))
ADD = item("Add", "./Vendor/MSFT/Policy/Config/X", ADMX, fmt("chr"))
EXEC = item("Exec", "./Device/Vendor/MSFT/EnterpriseDesktopAppManagement/MSI/%7B1%7D/"
            "DownloadInstall", MSI, fmt("xml", "text/plain"))
GET = "<Get><CmdID>9</CmdID><Item><Target><LocURI>./DevDetail/SwV</LocURI></Target></Item></Get>"
BARE = ("<!-- install the app, then set the policy -->\n" + EXEC + "\n<!-- policy -->\n"
        + REPLACE + "\n" + ADD + "\n" + GET + "\n")


def shapes() -> dict[str, bytes]:
    ns = ' xmlns="SYNCML:SYNCML1.2"'
    return {
        "bare": BARE.encode(),
        "bare_with_declaration": ('<?xml version="1.0" encoding="utf-8"?>\n' + BARE).encode(),
        "go_marshal": "".join(c.replace(">", ns + ">", 1)
                              for c in (EXEC, REPLACE, ADD, GET)).encode(),
        "syncbody": f"<SyncBody{ns}>{EXEC}{REPLACE}{ADD}{GET}<Final/></SyncBody>".encode(),
        "syncml": (f'<SyncML xmlns="SYNCML:SYNCML1.1">\n<SyncBody>\n{EXEC}{REPLACE}{ADD}{GET}'
                   "\n<Final/>\n</SyncBody>\n</SyncML>\n").encode(),
    }


@pytest.mark.parametrize("shape", sorted(shapes()))
def test_profile_shapes_decode_to_the_same_commands(shape: str) -> None:
    got = decode_commands(shapes()[shape], strict=True)
    assert [type(c).__name__ for c in got.commands] == ["Exec", "Replace", "Add", "Get"]
    assert got.final == (shape in ("syncbody", "syncml"))
    assert got.quirks == []
    exec_data = got.commands[0].items[0].data  # type: ignore[union-attr]
    assert isinstance(exec_data, m.XmlDocument) and exec_data.xml.startswith("<MsiInstallJob")
    reference = decode_commands(shapes()["bare"])
    assert got.commands == reference.commands


@pytest.mark.parametrize("shape", sorted(shapes()))
def test_round_trips_xml_and_wbxml(backend: Backend, shape: str) -> None:
    got = decode_commands(shapes()[shape])
    xml = encode_commands(got)
    assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?><SyncML xmlns="SYNCML:SYNCML1.2">'
                          b"<SyncBody><Exec>")
    assert decode_commands(xml, strict=True) == got
    with use(backend):
        wbxml = encode_commands(got, "wbxml")
        assert wbxml[:4] == b"\x03\xa4\x01\x6a"  # WBXML 1.3, SyncML 1.2, UTF-8
        back = decode_commands(wbxml, strict=True)
        assert back == got
        assert encode_commands(back, "wbxml") == wbxml
        assert decode_commands(wbxml, "application/vnd.syncml.dm+wbxml") == got


def test_encode_options(backend: Backend) -> None:
    got = decode_commands(shapes()["syncml"])
    assert got.final
    assert encode_commands(got, final=False).endswith(b"</Get></SyncBody></SyncML>")
    assert encode_commands(got.commands).endswith(b"</Get></SyncBody></SyncML>")
    assert encode_commands(got.commands, final=True).endswith(b"<Final/></SyncBody></SyncML>")
    old = encode_commands(got, ver_dtd="1.1")
    assert b'xmlns="SYNCML:SYNCML1.1"' in old and decode_commands(old) == got
    with use(backend):
        assert decode_commands(encode_commands(got, "wbxml", ver_dtd="1.1")) == got
    for bad, reason in ((dict(fmt="json"), "bad_format"), (dict(ver_dtd="1.3"), "bad_version")):
        with pytest.raises(EncodeError) as info:
            encode_commands(got, **bad)  # type: ignore[arg-type]
        assert info.value.reason == reason
    with pytest.raises(EncodeError) as info:
        encode_commands([m.Get(cmd_id="", items=[m.Item(target=m.Target("./a"))])])
    assert info.value.reason == "bad_id"
    with pytest.raises(EncodeError):
        encode_commands(["<Get/>"])  # type: ignore[list-item]


def test_exported_from_the_package() -> None:
    assert omadm_codec.decode_commands is decode_commands
    assert omadm_codec.encode_commands is encode_commands


def test_wbxml_with_a_syncbody_root(backend: Backend) -> None:
    # Converted as it stands: the CSP markup as LITERAL elements (string table).
    with use(backend):
        wbxml = backend.xml_to_wbxml(shapes()["syncbody"], keep_whitespace=True,
                                     string_table=True)
        assert decode_commands(wbxml) == decode_commands(shapes()["syncbody"])


# -- the same lenient / strict rules as decode, with byte offsets into the input -------------


def quirk_case(xml: bytes, quirk: str, at: int) -> None:
    lenient = decode_commands(xml)
    assert quirk in lenient.quirks
    with pytest.raises(DecodeError) as info:
        decode_commands(xml, strict=True)
    assert (info.value.reason, info.value.offset) == (quirk, at)


def test_quirks_and_their_offsets() -> None:
    # No namespace on a <SyncML> root (Microsoft's BitLocker page): lenient, named.
    xml = f"<SyncML><SyncBody>{REPLACE}</SyncBody></SyncML>".encode()
    quirk_case(xml, "namespace_missing", 0)
    # ... while bare commands are written without one: no quirk.
    assert decode_commands(REPLACE.encode(), strict=True).quirks == []
    # Data before Meta (Fleet's install_orbit sample) at the Meta that comes late.
    late = REPLACE.replace(fmt("int"), "").replace("</Data>", "</Data>" + fmt("int"))
    quirk_case(late.encode(), "element_order", late.index("<Meta>"))
    # Whitespace around a LocURI (a trailing space in Microsoft's pages).
    spaced = (GET + "\n" + GET.replace("SwV<", "SwV <")).encode()
    quirk_case(spaced, "whitespace", spaced.rindex(b"<LocURI>"))
    # MetInf without its namespace, and in another case of the SyncML namespace.
    plain_meta = REPLACE.replace(' xmlns="syncml:metinf"', "").encode()
    quirk_case(plain_meta, "metinf_namespace", plain_meta.index(b"<Format>"))
    cased = f'<SyncBody xmlns="syncml:syncml1.2">{GET}</SyncBody>'.encode()
    quirk_case(cased, "namespace_case", 0)
    # A DS media type.
    assert decode_commands(REPLACE.encode(), "application/vnd.syncml+xml").quirks == [
        "ds_media_type"]


@pytest.mark.parametrize("xml,reason,at", [
    # A message: for decode().
    (b'<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr/><SyncBody/></SyncML>',
     "unexpected_element", 33),
    # SyncHdr and SyncBody side by side, no root (Microsoft's provisioning-files page).
    (b"<SyncHdr/>\n<SyncBody/>", "unexpected_element", 0),
    # Not a command.
    (REPLACE.encode() + b"<Foo/>", "unexpected_element", len(REPLACE)),
    # Text between commands (a '...' placeholder).
    (GET.encode() + b"\n...\n" + GET.encode(), "unexpected_text", 0),
    # A namespace that is not SyncML's, and two namespaces in one list.
    (b'<Get xmlns="urn:x"><CmdID>1</CmdID></Get>', "bad_namespace", 0),
    (GET.encode() + GET.replace("<Get>", '<Get xmlns="SYNCML:SYNCML1.2">').encode(),
     "bad_namespace", len(GET)),
    # A CmdID placeholder that is no ID (whitespace in it).
    (GET.replace("9", "$Cmd ID$").encode(), "bad_id", GET.index("<CmdID>")),
    # Unclosed element inside Data (Microsoft's enterprise-app-management page).
    # (the shared scanner points at the mismatched </Data>: offset 55, as decode() does.)
    (b"<Exec><CmdID>1</CmdID><Item><Data><License Content=\"x\"></Data></Item></Exec>",
     "malformed_xml", 55),
    # Something after Final.
    (b"<SyncBody><Final/>" + GET.encode() + b"</SyncBody>", "unexpected_element", 18),
    (b"", "not_syncml", 0),
    (b"<!-- nothing -->\n", "not_syncml", 17),
])
def test_refusals_carry_reason_and_offset(xml: bytes, reason: str, at: int) -> None:
    for strict in (False, True):
        with pytest.raises(DecodeError) as info:
            decode_commands(xml, strict=strict)
        assert (info.value.reason, info.value.offset) == (reason, at), info.value
    if reason == "malformed_xml":  # one root: the offset decode() gives too
        with pytest.raises(DecodeError) as info:
            omadm_codec.decode(xml)
        assert (info.value.reason, info.value.offset) == (reason, at)


def test_limits_and_types() -> None:
    with pytest.raises(DecodeError) as info:
        decode_commands(BARE.encode(), limits=Limits(max_input_size=100))
    assert info.value.reason == "too_large"
    deep = b"<Atomic><CmdID>1</CmdID>" * 70 + GET.encode() + b"</Atomic>" * 70
    with pytest.raises(DecodeError) as info:
        decode_commands(deep)
    assert info.value.reason in ("too_deep", "malformed_xml")
    with pytest.raises(DecodeError) as info:
        decode_commands(GET.encode(), "text/html")
    assert info.value.reason == "unsupported_content_type"
    with pytest.raises(TypeError):
        decode_commands(GET)  # type: ignore[arg-type]


def test_nested_settings_pack_is_markup_not_a_command_list(backend: Backend) -> None:
    """A SettingsPack is itself a header-less <SyncML> inside a Data: it stays the Data's
    markup, and decode_commands reads it on its own when asked."""
    outer = decode_commands(item("Replace", "./Vendor/MSFT/DynamicManagement/Contexts/a/"
                                 "SettingsPack", SETTINGS_PACK, fmt("chr")).encode())
    pack = outer.commands[0].items[0].data  # type: ignore[union-attr]
    assert isinstance(pack, m.XmlDocument)
    inner = decode_commands(pack.xml.encode())
    assert inner.final and inner.quirks == ["namespace_missing"]
    assert inner.commands[0].items[0].data == "0"  # type: ignore[union-attr]
    with use(backend):
        assert decode_commands(encode_commands(outer, "wbxml")) == outer


def test_wbxml_with_one_command_as_root(backend: Backend) -> None:
    one = REPLACE.replace("<Replace>", '<Replace xmlns="SYNCML:SYNCML1.2">', 1).encode()
    with use(backend):
        wbxml = backend.xml_to_wbxml(one, keep_whitespace=True)
        assert wbxml[:4] == b"\x03\xa4\x01\x6a"
        assert decode_commands(wbxml) == decode_commands(one)
