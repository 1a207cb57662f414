"""Status codes outside 100-599 and a SyncHdr Status without CmdRef (issue 12; libdmclient).

The one idea: libdmclient answers ``0`` for the SyncHdr and every command when it could not
check the server's credentials (spec/interop-quirks.md L5). Lenient decoding reads such a code
as is and records the quirk ``status_code_range``; strict decoding raises
``DecodeError("status_code_range")`` at the ``<Data>``. The fast paths of both twins never vouch
for such a message (they decline, the reference reader decides), so every path and both
encodings agree: checked here per twin and differentially.
"""

from __future__ import annotations

import pytest
from conftest import Backend

from omadm_codec import decode, encode
from omadm_codec.errors import DecodeError
from omadm_codec.limits import DEFAULT_LIMITS
from omadm_codec.messages import QUIRKS
from omadm_codec.messages import model as m

HDR = (b"<SyncML xmlns='SYNCML:SYNCML1.2'><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2"
       b"</VerProto><SessionID>1</SessionID><MsgID>2</MsgID><Target><LocURI>srv</LocURI>"
       b"</Target><Source><LocURI>DMCtest</LocURI></Source></SyncHdr><SyncBody>")
END = b"<Final/></SyncBody></SyncML>"


def status(code: bytes, cmd_ref: bytes | None = b"0", cmd: bytes = b"SyncHdr") -> bytes:
    ref = b"" if cmd_ref is None else b"<CmdRef>" + cmd_ref + b"</CmdRef>"
    return (b"<Status><CmdID>1</CmdID><MsgRef>1</MsgRef>" + ref + b"<Cmd>" + cmd
            + b"</Cmd><Data>" + code + b"</Data></Status>")


def message(*bodies: bytes) -> bytes:
    return HDR + b"".join(bodies) + END


OUT_OF_RANGE = [b"0", b"99", b"600", b"1000", b"0000000001"]
IN_RANGE = [b"100", b"200", b"212", b"599"]


def test_the_quirks_are_named() -> None:
    assert "status_code_range" in QUIRKS and "missing_cmd_ref" in QUIRKS


@pytest.mark.parametrize("code", OUT_OF_RANGE, ids=lambda c: c.decode())
def test_out_of_range_code_is_a_quirk_then_a_strict_error(code: bytes) -> None:
    data = message(status(code), status(b"200", b"3", b"Get"))
    msg = decode(data)
    assert msg.quirks == ["status_code_range"]
    first = msg.commands[0]
    assert isinstance(first, m.Status) and first.data == int(code)
    with pytest.raises(DecodeError) as info:
        decode(data, strict=True)
    assert info.value.reason == "status_code_range"
    assert info.value.offset == data.index(b"<Data>" + code)
    # The same verdict from WBXML (offsets there point into our intermediate XML: -1).
    wbxml = encode(msg, "wbxml")
    again = decode(wbxml)
    assert again == msg and again.quirks == ["status_code_range"]
    with pytest.raises(DecodeError) as info:
        decode(wbxml, strict=True)
    assert info.value.reason == "status_code_range"


@pytest.mark.parametrize("code", IN_RANGE, ids=lambda c: c.decode())
def test_codes_in_range_are_clean(backend: Backend, code: bytes) -> None:
    data = message(status(code))
    fast = backend.decode_xml(data, DEFAULT_LIMITS)
    assert fast is not None and fast.commands[0].data == int(code)
    assert decode(data, strict=True) == fast
    assert backend.decode_wbxml(encode(fast, "wbxml"), DEFAULT_LIMITS) == fast


@pytest.mark.parametrize("code", OUT_OF_RANGE, ids=lambda c: c.decode())
def test_fast_paths_decline_out_of_range_codes(backend: Backend, code: bytes) -> None:
    """Neither twin vouches for it, from XML or from WBXML: the reference reader records it."""
    data = message(status(code))
    assert backend.decode_xml(data, DEFAULT_LIMITS) is None
    wbxml = encode(decode(data), "wbxml")
    assert backend.decode_wbxml(wbxml, DEFAULT_LIMITS) is None


def test_twins_agree_on_every_code(both_backends: tuple[Backend, Backend]) -> None:
    """Differential: for codes across the range boundaries, the compiled and the pure fast
    paths take or decline the same messages and build equal models."""
    compiled, pure = both_backends
    for value in (0, 1, 99, 100, 101, 199, 200, 404, 599, 600, 999, 1000, 9999999999):
        data = message(status(str(value).encode()), status(b"200", b"4", b"Get"))
        for source in (data, encode(decode(data), "wbxml")):
            decoder = "decode_xml" if source is data else "decode_wbxml"
            ours = getattr(compiled, decoder)(source, DEFAULT_LIMITS)
            theirs = getattr(pure, decoder)(source, DEFAULT_LIMITS)
            assert ours == theirs, (value, decoder)
            assert (ours is None) is not (100 <= value <= 599), (value, decoder)


def test_an_out_of_range_code_never_hides_in_a_container_or_results_message() -> None:
    """A code 0 after other Statuses and Results is found too (the reference reader walks the
    whole message once the fast path declined)."""
    results = (b"<Results><CmdID>3</CmdID><MsgRef>1</MsgRef><CmdRef>4</CmdRef><Item><Source>"
               b"<LocURI>./a</LocURI></Source><Data>x</Data></Item></Results>")
    data = message(status(b"212"), status(b"200", b"4", b"Get"), results,
                   status(b"0", b"5", b"Atomic"))
    assert decode(data).quirks == ["status_code_range"]
    with pytest.raises(DecodeError) as info:
        decode(data, strict=True)
    assert info.value.offset == data.index(b"<Data>0</Data>")


def test_synchdr_status_without_cmdref_reads_as_cmdref_0() -> None:
    data = message(status(b"212", None))
    msg = decode(data)
    assert msg.quirks == ["missing_cmd_ref"]
    first = msg.commands[0]
    assert isinstance(first, m.Status) and first.cmd_ref == "0" and first.cmd == "SyncHdr"
    with pytest.raises(DecodeError) as info:
        decode(data, strict=True)
    assert info.value.reason == "missing_cmd_ref"
    assert info.value.offset == data.index(b"<Status>")
    assert decode(encode(msg, "wbxml")) == msg  # written back with its CmdRef 0


def test_command_status_without_cmdref_stays_an_error() -> None:
    """Only the SyncHdr's CmdRef is implied; a command's cannot be guessed."""
    data = message(status(b"200", None, b"Get"))
    for strict in (False, True):
        with pytest.raises(DecodeError) as info:
            decode(data, strict=strict)
        assert info.value.reason == "missing_element"


@pytest.mark.parametrize("media", ["application/vnd.syncml+xml", "application/vnd.syncml+wbxml"])
def test_ds_media_type_is_a_quirk_then_a_strict_error(media: str) -> None:
    msg = m.Message(m.SyncHdr("1", "1", m.Target("srv"), m.Source("dev")), [], final=True)
    fmt = "wbxml" if "wbxml" in media else "xml"
    data = encode(msg, fmt)  # type: ignore[arg-type]
    assert decode(data, media).quirks == ["ds_media_type"]
    with pytest.raises(DecodeError) as info:
        decode(data, media, strict=True)
    assert info.value.reason == "ds_media_type"
