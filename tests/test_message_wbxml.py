"""decode/encode in WBXML on both twins of the WBXML codec: corpus cross-encoding, round
trips, Data kinds through OPAQUE, and compiled vs pure equality.

WBXML goes through the XML hub (``xml_to_wbxml`` / ``wbxml_to_xml``); ``use(backend)`` points
``omadm_codec.wbxml`` at one twin for the duration of a test. A twin that still raises
NotImplementedError skips with that reason; any other failure fails.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from conftest import CORPUS, CORPUS_XML, Backend, corpus_ids

import omadm_codec.wbxml as wbxml_module
from omadm_codec import DecodeError
from omadm_codec.messages import decode, encode, encoded_size
from omadm_codec.messages import model as m

T = TypeVar("T")
WBXML_CT = "application/vnd.syncml.dm+wbxml"


@contextlib.contextmanager
def use(backend: Backend) -> Iterator[None]:
    """Route ``omadm_codec.wbxml`` to ``backend``'s twin; skip if it is not implemented."""
    saved = wbxml_module.wbxml_to_xml, wbxml_module.xml_to_wbxml
    wbxml_module.wbxml_to_xml = backend.wbxml_to_xml
    wbxml_module.xml_to_wbxml = backend.xml_to_wbxml
    try:
        yield
    except NotImplementedError:
        pytest.skip(f"the {backend.name} twin of the WBXML codec raises NotImplementedError")
    finally:
        wbxml_module.wbxml_to_xml, wbxml_module.xml_to_wbxml = saved


def run(backend: Backend, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    with use(backend):
        return fn(*args, **kwargs)
    raise AssertionError("unreachable")  # pragma: no cover  (skip raises)


def _wbxml_files(path: Path) -> list[Path]:
    return [p for p in (path.with_suffix(".wbxml"), path.with_suffix(".strtbl.wbxml"))
            if p.exists()]


@pytest.mark.parametrize("path", CORPUS_XML, ids=corpus_ids())
def test_corpus_cross_encoding(backend: Backend, path: Path) -> None:
    """decode(xml) == decode(libwbxml's WBXML of it) == decode(xml_to_wbxml(xml))."""
    xml = path.read_bytes()
    expected = decode(xml, strict=True)
    with use(backend):
        for wb in _wbxml_files(path):
            assert decode(wb.read_bytes(), strict=True) == expected, wb.name
            assert decode(wb.read_bytes(), WBXML_CT) == expected, wb.name
        ours = backend.xml_to_wbxml(xml)
        assert decode(ours, strict=True) == expected


@pytest.mark.parametrize("path", CORPUS_XML, ids=corpus_ids())
def test_corpus_round_trip_wbxml(backend: Backend, path: Path) -> None:
    msg = decode(path.read_bytes())
    with use(backend):
        wb = encode(msg, "wbxml")
        assert wb[:1] == b"\x03"
        assert decode(wb, strict=True) == msg
        assert encode(decode(wb), "wbxml") == wb  # stable
        assert encoded_size(msg, "wbxml") == len(wb)


def test_twins_give_equal_models_and_bytes(both_backends: tuple[Backend, Backend]) -> None:
    compiled, pure = both_backends
    for path in CORPUS_XML:
        msg = decode(path.read_bytes())
        wb_c = run(compiled, encode, msg, "wbxml")
        wb_p = run(pure, encode, msg, "wbxml")
        assert wb_c == wb_p, path.name
        assert run(compiled, decode, wb_c) == run(pure, decode, wb_p) == msg


def _hdr() -> m.SyncHdr:
    return m.SyncHdr(session_id="0", msg_id="1", target=m.Target("./t"), source=m.Source("s"))


def test_data_kinds_survive_wbxml(backend: Backend) -> None:
    items = [
        m.Item(target=m.Target("./bin"), meta=m.Meta(format="bin"), data=b"\x00\x01\xfe\xff"),
        m.Item(target=m.Target("./raw"), data=b"\xff\xfe not utf-8"),
        m.Item(target=m.Target("./cdata"), data="<x>a]]>b</x>", data_hint=m.DataHint.CDATA),
        m.Item(target=m.Target("./opaque"), data="text that came as OPAQUE",
               data_hint=m.DataHint.OPAQUE),
        m.Item(target=m.Target("./ws"), data="  padded\n"),
        m.Item(target=m.Target("./empty"), data=""),
        m.Item(target=m.Target("./none")),
        m.Item(target=m.Target("./uni"), data="Grüße ☃ \U0001f600"),
    ]
    msg = m.Message(_hdr(), [m.Replace(cmd_id="1", items=items),
                             m.Alert(cmd_id="2", data=1226, correlator="c"),
                             m.Status(cmd_id="3", msg_ref="1", cmd_ref="", cmd="Get",
                                      data=217)], final=True)
    with use(backend):
        back = decode(encode(msg, "wbxml"), strict=True)
    assert back == msg
    hints = [i.data_hint for i in back.commands[0].items]  # type: ignore[union-attr]
    assert hints[0] is m.DataHint.OPAQUE and hints[1] is m.DataHint.OPAQUE


def test_tnds_document_survives_wbxml(backend: Backend) -> None:
    msg = decode((CORPUS / "tnds_embedded.xml").read_bytes())
    with use(backend):
        back = decode(encode(msg, "wbxml"))
    item = back.commands[2].items[0]  # type: ignore[union-attr]
    assert isinstance(item.data, m.XmlDocument)
    assert back == msg


@pytest.mark.parametrize("data", [b"\x03", b"\x03\x01\x6a\x00\x6d", b"\x03\x01\x6a\x00\x6d\x6c"])
def test_bad_wbxml_is_a_decode_error(backend: Backend, data: bytes) -> None:
    with use(backend), pytest.raises(DecodeError):
        decode(data)
