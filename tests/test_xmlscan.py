"""The XML byte scanner twins (``wbxml._xmlscan_c`` / ``_py``): event streams, fields, errors.

The encoder tests cover the scanner through ``xml_to_wbxml``; these pin the cursor API itself,
which a later typed SyncML decoder will reuse, and compare the twins event by event.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import CORPUS_XML, corpus_id, twin
from hypothesis import given, settings
from hypothesis import strategies as st
from test_wbxml_encode_diff import documents

from omadm_codec.errors import EncodeError
from omadm_codec.limits import DEFAULT_LIMITS, Limits


def events(module: Any, data: bytes, limits: Limits = DEFAULT_LIMITS) -> list[tuple[Any, ...]]:
    """The whole event stream as tuples, ending with EOF or the error."""
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    out: list[tuple[Any, ...]] = []
    try:
        module.check_chars(data, start)
        scanner = module.Scanner(data, start, limits)
        while True:
            event = scanner.next()
            if event == module.EV_START:
                out.append(("start", scanner.offset, scanner.ns, scanner.local,
                            sorted(scanner.attrs), scanner.depth))
            elif event == module.EV_END:
                out.append(("end", scanner.offset, scanner.depth))
            elif event in (module.EV_TEXT, module.EV_CDATA):
                out.append(("text" if event == module.EV_TEXT else "cdata", scanner.offset,
                            scanner.text))
            elif event == module.EV_DOCTYPE:
                out.append(("doctype", scanner.offset, scanner.fpi, scanner.sysid))
            else:
                out.append(("eof",))
                return out
    except EncodeError as exc:
        out.append(("error", exc.reason, exc.offset))
        return out


@pytest.fixture(params=["c", "py"], ids=["cython", "python"])
def scan(request: pytest.FixtureRequest) -> Any:
    return twin("wbxml._xmlscan", request.param)


def test_event_stream(scan: Any) -> None:
    xml = (b'<?xml version="1.0"?>\n<!DOCTYPE SyncML PUBLIC "-//SYNCML//DTD SyncML 1.2//EN" '
           b'"x.dtd"><SyncML xmlns="SYNCML:SYNCML1.2"><a:Meta xmlns:a="syncml:metinf" '
           b"b='&lt;1'> x &amp;<!--c--> y\r\n</a:Meta><Data><![CDATA[q\r\n]]>z</Data><Final/>"
           b"</SyncML>\n")
    assert events(scan, xml) == [
        ("doctype", 22, b"-//SYNCML//DTD SyncML 1.2//EN", b"x.dtd"),
        ("start", 86, b"SYNCML:SYNCML1.2", b"SyncML", [], 1),
        ("start", 119, b"syncml:metinf", b"Meta", [], 2),  # b='...' is unprefixed
        ("text", 161, b" x & y\n"),
        ("end", 181, 1),
        ("start", 190, b"SYNCML:SYNCML1.2", b"Data", [], 2),
        ("cdata", 196, b"q\n"),
        ("text", 211, b"z"),
        ("end", 212, 1),
        ("start", 219, b"SYNCML:SYNCML1.2", b"Final", [], 2),
        ("end", 219, 1),
        ("end", 227, 0),
        ("eof",),
    ]


def test_prefixed_attribute_namespace(scan: Any) -> None:
    xml = b'<Data xmlns:w="urn:omadm-codec:wbxml" w:opaque="base64">AA==</Data>'
    assert events(scan, xml)[0] == ("start", 0, b"", b"Data",
                                    [(b"opaque", b"base64", b"urn:omadm-codec:wbxml")], 1)


def test_unprefixed_attributes_are_checked_not_kept(scan: Any) -> None:
    assert events(scan, b'<a x="1" y="&amp;"/>')[0] == ("start", 0, b"", b"a", [], 1)
    assert events(scan, b'<a x="1" x="2"/>')[-1] == ("error", "malformed_xml", 9)
    assert events(scan, b'<a x="&nope;"/>')[-1] == ("error", "undefined_entity", 6)
    many = b"<a" + b"".join(b' n%d="v"' % i for i in range(50)) + b' n7="w"/>'
    assert events(scan, many)[-1] == ("error", "malformed_xml", many.index(b' n7="w"') + 1)


def test_limits(scan: Any) -> None:
    assert events(scan, b"<a><b><c/></b></a>", Limits(max_depth=2))[-1] == ("error", "too_deep", 6)
    assert events(scan, b"<a><b/><c/></a>", Limits(max_elements=2))[-1] == (
        "error", "too_many_elements", 7)
    assert events(scan, b"<a>12345</a>", Limits(max_opaque=4))[-1] == ("error", "too_large", 3)


@pytest.mark.parametrize("path", CORPUS_XML, ids=corpus_id)
def test_twins_same_events_on_corpus(path: Any) -> None:
    data = path.read_bytes()
    compiled = events(twin("wbxml._xmlscan", "c"), data)
    assert compiled == events(twin("wbxml._xmlscan", "py"), data)
    assert compiled[-1] == ("eof",)


@settings(max_examples=300, deadline=None)
@given(xml=documents(), cut=st.integers(0, 10_000), junk=st.binary(max_size=3))
def test_twins_same_events_generated(xml: bytes, cut: int, junk: bytes) -> None:
    data = xml[:cut] + junk + xml[cut:]
    assert events(twin("wbxml._xmlscan", "c"), data) == events(
        twin("wbxml._xmlscan", "py"), data)


def _check(module: Any, data: bytes) -> tuple[str, int] | None:
    try:
        module.check_chars(data, 0)
    except EncodeError as exc:
        return exc.reason, exc.offset
    return None


CHAR_SOUP = st.binary(max_size=48) | st.lists(
    st.sampled_from([b"a", b" ", b"\n", b"\t", b"\r", b"\x01", b"\x1f", b"\x7f", b"\xc3\xa9",
                     b"\xef\xbf\xbe", b"\xed\xa0\x80", b"\xf0\x9f\x98\x80", b"\xc0\xaf", b"\x80",
                     b"\xe2\x82", b"\xf4\x90\x80\x80"]), max_size=40).map(b"".join)


@settings(max_examples=1000, deadline=None)
@given(data=CHAR_SOUP)
def test_check_chars_twins_agree(data: bytes) -> None:
    """The compiled check walks eight bytes at a time; the pure one decodes: same verdict."""
    assert _check(twin("wbxml._xmlscan", "c"), data) == _check(
        twin("wbxml._xmlscan", "py"), data)
