"""Cut-off delivery: every prefix of a real message is refused the same way by both twins.

The one idea: no omadm_codec API accepts partial input (each call takes a whole message), so
the streaming property that matters is that a message cut anywhere (a dropped connection, a
short read) never decodes to something else silently and never crashes: each prefix gives a
typed error with the same reason and offset on both twins, or, for the few cut points after
the document's end, the same result as the whole message.
"""

from __future__ import annotations

import pytest
from conftest import corpus_files, corpus_id

from omadm_codec import messages
from omadm_codec.errors import DecodeError, EncodeError

SMALL_WBXML = [p for p in corpus_files("*.wbxml") if p.stat().st_size <= 4096]
SMALL_XML = [p for p in corpus_files("*.xml") if p.stat().st_size <= 4096]


def _outcome(call: object, data: bytes) -> tuple[object, ...]:
    try:
        return ("ok", call(data))  # type: ignore[operator]
    except (DecodeError, EncodeError) as exc:
        return (type(exc).__name__, exc.reason, exc.offset)


@pytest.mark.parametrize("path", SMALL_WBXML, ids=corpus_id)
def test_wbxml_prefixes(path, both_backends) -> None:
    compiled, pure = both_backends
    whole = path.read_bytes()
    full = pure.wbxml_to_xml(whole)
    for cut in range(len(whole)):
        prefix = whole[:cut]
        got = _outcome(pure.wbxml_to_xml, prefix)
        assert got == _outcome(compiled.wbxml_to_xml, prefix), cut
        assert got[0] == "DecodeError" or got == ("ok", full), (cut, got)
        if got[0] == "DecodeError":
            assert 0 <= got[2] <= cut, (cut, got)  # the blame lies inside the bytes given


@pytest.mark.parametrize("path", SMALL_XML, ids=corpus_id)
def test_xml_prefixes(path, both_backends) -> None:
    compiled, pure = both_backends
    whole = path.read_bytes()
    for cut in range(0, len(whole), 7):
        prefix = whole[:cut]
        got = _outcome(pure.xml_to_wbxml, prefix)
        assert got == _outcome(compiled.xml_to_wbxml, prefix), cut
        if not whole[cut:].strip():  # only trailing whitespace cut off: the whole document
            assert got == ("ok", pure.xml_to_wbxml(whole)), cut
            continue
        assert got[0] == "EncodeError", (cut, got)


@pytest.mark.parametrize("path", SMALL_WBXML[:4] + SMALL_XML[:4], ids=corpus_id)
def test_message_prefixes(path) -> None:
    whole = path.read_bytes()
    full = messages.decode(whole)
    for cut in list(range(0, len(whole), 5)) + [len(whole) - 1]:
        if not whole[cut:].strip():
            assert messages.decode(whole[:cut]) == full  # only trailing whitespace cut off
            continue
        with pytest.raises(DecodeError):
            messages.decode(whole[:cut])
