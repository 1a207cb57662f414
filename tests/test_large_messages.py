"""Messages over 10 MB stay on the fast path (no cliff at libxml2's 10,000,000-byte limit,
which applies to one node, not to a document), and a node that long still gets lxml's verdict
(the fast path declines it), on both twins. The cost curve itself is measured in
``benchmarks/bench_scaling.py``."""

from __future__ import annotations

from functools import cache

import pytest
from conftest import Backend

from omadm_codec.errors import DecodeError
from omadm_codec.limits import Limits
from omadm_codec.messages import decode
from omadm_codec.messages._fast_vocab import MAX_FAST_TEXT
from omadm_codec.wbxml import xml_to_wbxml

LIMITS = Limits(max_input_size=64 << 20, max_opaque=64 << 20)
HEAD = (b'<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD>'
        b"<VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>2</MsgID>"
        b"<Target><LocURI>http://dm.example/</LocURI></Target>"
        b"<Source><LocURI>IMEI:1</LocURI></Source></SyncHdr><SyncBody>"
        b"<Results><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>4</CmdRef>")
TAIL = b"</Results><Final/></SyncBody></SyncML>"


@cache
def many_items(size: int) -> bytes:
    """A Results of ~250-byte items, ``size`` bytes or a little more."""
    item = (b"<Item><Source><LocURI>./Vendor/Log/%d</LocURI></Source><Data>" + b"x" * 180
            + b"</Data></Item>")
    count = size // len(item % 0) + 1
    return HEAD + b"".join(item % i for i in range(count)) + TAIL


def one_data(length: int, *, split: bytes = b"") -> bytes:
    """One Item whose Data text is ``length`` bytes (``split`` inserted in its middle)."""
    half = length // 2
    text = b"y" * half + split + b"y" * (length - half)
    return HEAD + b"<Item><Source><LocURI>./a</LocURI></Source><Data>" + text + \
        b"</Data></Item>" + TAIL


def test_a_long_message_of_ordinary_nodes_stays_on_the_fast_path(backend: Backend) -> None:
    xml = many_items(12_000_000)
    assert len(xml) > MAX_FAST_TEXT
    fast = backend.decode_xml(xml, LIMITS)
    assert fast is not None, "the fast path declined a message over 10 MB"
    wbxml = bytes(xml_to_wbxml(xml, limits=LIMITS))
    assert backend.decode_wbxml_tokens(wbxml, LIMITS) == fast
    assert backend.decode_wbxml_via_xml(wbxml, LIMITS) == fast
    assert len(fast.commands[0].items) == xml.count(b"<Item>")


def test_the_fast_path_gives_what_lxml_gives(backend: Backend) -> None:
    """The reference path (lxml) on the same 12 MB: the same model."""
    from omadm_codec.messages._guard import prepare_xml
    from omadm_codec.messages._reader import read_xml

    xml = many_items(12_000_000)
    prepared = prepare_xml(xml, False, [], LIMITS.max_input_size)
    assert read_xml(prepared.data, False, [], LIMITS, None) == backend.decode_xml(xml, LIMITS)


@pytest.mark.parametrize("split", [b"", b"<!-- between -->", b"&amp;", b"<![CDATA[c]]>"],
                         ids=["plain", "comment", "entity", "cdata"])
def test_a_node_at_libxml2_s_limit_is_left_to_lxml(backend: Backend, split: bytes) -> None:
    """libxml2 (huge_tree off) refuses a text node of 10,000,000 bytes or more, coalesced
    across comments and entities: the fast path must not vouch for one (nor for a text and
    CDATA run that long), so decode reports lxml's too_large."""
    xml = one_data(MAX_FAST_TEXT + 10, split=split)
    assert backend.decode_xml(xml, LIMITS) is None
    if split in (b"", b"<!-- between -->", b"&amp;"):
        with pytest.raises(DecodeError) as info:
            decode(xml, limits=LIMITS)
        assert info.value.reason == "too_large"


def test_a_node_just_under_the_limit_is_fast(backend: Backend) -> None:
    xml = one_data(MAX_FAST_TEXT - 1000)
    fast = backend.decode_xml(xml, LIMITS)
    assert fast is not None and len(fast.commands[0].items[0].data) == MAX_FAST_TEXT - 1000


def test_wbxml_token_path_declines_a_node_at_the_limit(backend: Backend) -> None:
    wbxml = bytes(xml_to_wbxml(one_data(MAX_FAST_TEXT + 10), limits=LIMITS))
    assert backend.decode_wbxml_tokens(wbxml, LIMITS) is None
    with pytest.raises(DecodeError) as info:
        decode(wbxml, limits=LIMITS)
    assert info.value.reason == "too_large"


def test_a_long_comment_is_left_to_lxml(backend: Backend) -> None:
    xml = many_items(1000).replace(b"<SyncBody>", b"<SyncBody><!--" + b" " * MAX_FAST_TEXT
                                   + b"-->", 1)
    assert backend.decode_xml(xml, LIMITS) is None
