"""The fast path's one-call entry (``decode_bytes``) and its short-leaf cache, on both twins.

The one idea: ``decode_bytes`` is ``decode_wbxml`` or ``decode_xml`` as the first bytes tell,
so it must give exactly what they give (deeply, types included) and ``None`` where they
decline; ``decode`` takes it for a call without a content type and must still give the
reference verdict. The compiled twin keeps short leaves in a table keyed by their bytes: a
value that collides with, or extends, one seen before must still come back as its own text.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CORPUS_WBXML, CORPUS_XML, Backend, corpus_id
from test_wbxml_token_decode import deep_equal

from omadm_codec import decode, encode
from omadm_codec.errors import DecodeError
from omadm_codec.limits import DEFAULT_LIMITS, Limits
from omadm_codec.messages import model as m
from omadm_codec.messages._guard import prepare_xml
from omadm_codec.messages._reader import read_xml


@pytest.mark.parametrize("path", CORPUS_XML + CORPUS_WBXML, ids=corpus_id)
def test_decode_bytes_is_the_sniffed_path(backend: Backend, path: Path) -> None:
    data = path.read_bytes()
    if path.suffix == ".wbxml":
        want = backend.decode_wbxml(data, DEFAULT_LIMITS)
    else:
        want = backend.decode_xml(data, DEFAULT_LIMITS)
    got = backend.decode_bytes(data, DEFAULT_LIMITS)
    if want is None:
        assert got is None
    else:
        deep_equal(got, want)


def test_decode_bytes_declines_what_the_paths_decline(backend: Backend) -> None:
    xml = CORPUS_XML[0].read_bytes()
    small = Limits(max_input_size=len(xml) - 1)
    assert backend.decode_bytes(xml, small) is None
    assert backend.decode_bytes(encode(decode(xml), "wbxml"), Limits(max_input_size=8)) is None
    assert backend.decode_bytes(b"", DEFAULT_LIMITS) is None
    # UTF-16BE '<' is not WBXML 1.0: the XML path declines it, the reference path decides.
    assert backend.decode_bytes(b"\x00<\x00S", DEFAULT_LIMITS) is None
    with pytest.raises(DecodeError):
        decode(b"\x00<\x00S")
    # A quirk: the fast path declines, decode() still reports it through the reference path.
    quirky = xml.replace(b"<Final/>", b"<Final/><Final/>") if b"<Final/>" in xml else None
    if quirky is not None:
        assert backend.decode_bytes(quirky, DEFAULT_LIMITS) is None


def _message(values: list[str]) -> bytes:
    """A clean message whose Status commands carry ``values`` as CmdRef, TargetRef and Cmd
    texts (short leaves: the cached kind)."""
    statuses = "".join(
        f"<Status><CmdID>{i + 1}</CmdID><MsgRef>1</MsgRef><CmdRef>{value}</CmdRef>"
        f"<Cmd>{value}</Cmd><TargetRef>{value}</TargetRef><Data>200</Data></Status>"
        for i, value in enumerate(values))
    return ('<?xml version="1.0" encoding="UTF-8"?><SyncML xmlns="SYNCML:SYNCML1.2">'
            "<SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID>"
            "<MsgID>2</MsgID><Target><LocURI>IMEI:1</LocURI></Target>"
            "<Source><LocURI>https://dm.example.com</LocURI></Source></SyncHdr>"
            f"<SyncBody>{statuses}<Final/></SyncBody></SyncML>").encode()


# Prefixes and extensions of one another, one past the cache's 24-byte bound, non-ASCII text
# of the same byte length as an ASCII one, and enough distinct values to collide in a table of
# 1,024 slots.
_VALUES = (["a", "ab", "abc", "abcd" * 6, "abcd" * 6 + "e", "é", "xy", "Ünïcödé", "Unicode.."]
           + [f"v{n}" for n in range(3000)])


def test_cached_leaves_come_back_as_their_own_text(backend: Backend) -> None:
    for start in range(0, len(_VALUES), 500):
        values = _VALUES[start:start + 500]
        data = _message(values)
        for source in (data, encode(read_xml(prepare_xml(data, False, [], 1 << 24).data, False,
                                             [], DEFAULT_LIMITS, None), "wbxml")):
            msg = backend.decode_bytes(source, DEFAULT_LIMITS)
            assert msg is not None
            got = [(c.cmd_ref, c.cmd, c.target_refs) for c in msg.commands
                   if isinstance(c, m.Status)]
            assert got == [(v, v, [v]) for v in values]
            assert all(c.data == 200 for c in msg.commands if isinstance(c, m.Status))
