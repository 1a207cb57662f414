"""Hostile XML: every attack ends in a typed DecodeError, in both modes, without a hang.

Bounded time is shown by these tests finishing at all (each input is sized so that an
unbounded expansion or a quadratic walk would not); the style forbids timed assertions.
"""

from __future__ import annotations

import pytest
from test_message_xml import wrap

from omadm_codec import DecodeError
from omadm_codec.messages import decode

HEAD = b'<?xml version="1.0"?>\n'
LOL = (b'<!DOCTYPE SyncML [\n <!ENTITY lol "lol">\n'
       + b"".join(b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;")
                                                   * 10) for i in range(1, 10))
       + b"]>\n")


def _attack(doctype: bytes, body: str = "<Alert><CmdID>1</CmdID><Data>1201</Data></Alert>"
            ) -> bytes:
    return HEAD + doctype + wrap(body)


CASES = [
    ("billion_laughs", _attack(LOL, "<Alert><CmdID>1</CmdID><Data>1100</Data><Item><Data>"
                                    "&lol9;</Data></Item></Alert>"),
     "forbidden_dtd", b"<!DOCTYPE"),
    ("external_entity", _attack(b'<!DOCTYPE SyncML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
                                "<Alert><CmdID>1</CmdID><Data>1100</Data><Item><Data>&xxe;"
                                "</Data></Item></Alert>"),
     "forbidden_dtd", b"<!DOCTYPE"),
    ("external_parameter_entity",
     _attack(b'<!DOCTYPE SyncML [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x.dtd"> %p;]>'),
     "forbidden_dtd", b"<!DOCTYPE"),
    ("internal_subset", _attack(b'<!DOCTYPE SyncML [<!ATTLIST SyncML a CDATA "x">]>'),
     "forbidden_dtd", b"<!DOCTYPE"),
    ("entity_outside_doctype", HEAD + b'<!ENTITY x "y">' + wrap(""),
     "forbidden_dtd", b"<!ENTITY"),
    ("undeclared_entity_reference",
     wrap("<Alert><CmdID>1</CmdID><Data>1100</Data><Item><Data>&xxe;</Data></Item></Alert>"),
     "undefined_entity", b"&xxe;"),
]


@pytest.mark.parametrize(("name", "data", "reason", "marker"), CASES,
                         ids=[c[0] for c in CASES])
@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_dtd_attacks(name: str, data: bytes, reason: str, marker: bytes | None,
                     strict: bool) -> None:
    with pytest.raises(DecodeError) as info:
        decode(data, strict=strict)
    assert info.value.reason == reason
    if marker is not None:
        assert info.value.offset == data.index(marker)


def test_external_id_doctype_is_accepted_and_never_loaded() -> None:
    data = (b'<!DOCTYPE SyncML PUBLIC "-//SYNCML//DTD SyncML 1.2//EN" '
            b'"http://127.0.0.1:1/never-fetched.dtd">' + wrap(""))
    assert decode(data, strict=True).final


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_100000_nested_elements(strict: bool) -> None:
    depth = 100_000
    data = wrap("<Alert><CmdID>1</CmdID><Data>1100</Data><Item><Data>"
                + "<a>" * depth + "</a>" * depth + "</Data></Item></Alert>")
    with pytest.raises(DecodeError) as info:
        decode(data, strict=strict)
    assert info.value.reason == "too_deep"


def test_nesting_under_lxml_cap_still_hits_our_depth_limit() -> None:
    depth = 200
    data = wrap("<Alert><CmdID>1</CmdID><Data>1100</Data><Item><Data>"
                + "<a>" * depth + "</a>" * depth + "</Data></Item></Alert>")
    with pytest.raises(DecodeError) as info:
        decode(data)
    assert info.value.reason == "too_deep"


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_10_mb_text_node(strict: bool) -> None:
    data = wrap("<Replace><CmdID>1</CmdID><Item><Target><LocURI>./a</LocURI></Target><Data>"
                + "A" * (10 * 1024 * 1024 + 1) + "</Data></Item></Replace>")
    with pytest.raises(DecodeError) as info:
        decode(data, strict=strict)
    assert info.value.reason == "too_large"


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
@pytest.mark.parametrize("prefix", ["a", "xmlns:p"])
def test_attribute_flood(strict: bool, prefix: str) -> None:
    # 100,000 attributes: refused by a byte scan before lxml builds them (memory stays flat).
    attrs = " ".join(f'{prefix}{i}="urn:{i}"' for i in range(100_000))
    data = wrap("", root=f'<SyncML xmlns="SYNCML:SYNCML1.2" {attrs}>')
    with pytest.raises(DecodeError) as info:
        decode(data, strict=strict)
    assert (info.value.reason, info.value.offset) == ("tag_too_long", 0)
    # A smaller flood reaches lxml and is refused there.
    few = wrap("", root='<SyncML xmlns="SYNCML:SYNCML1.2" '
                        + " ".join(f'a{i}="{i}"' for i in range(1000)) + ">")
    with pytest.raises(DecodeError) as info:
        decode(few, strict=strict)
    assert info.value.reason == "unexpected_attribute"


def test_large_cdata_is_not_a_long_tag() -> None:
    big = "A" * (200 * 1024)
    data = wrap("<Replace><CmdID>1</CmdID><Item><Target><LocURI>./a</LocURI></Target>"
                f"<Data><![CDATA[{big}]]></Data></Item></Replace>")
    assert decode(data, strict=True).commands[0].items[0].data == big  # type: ignore[union-attr]


def test_oversized_input_is_refused_before_parsing() -> None:
    data = wrap("<Replace><CmdID>1</CmdID><Item><Data>" + "A" * (17 * 1024 * 1024)
                + "</Data></Item></Replace>")
    with pytest.raises(DecodeError) as info:
        decode(data)
    assert info.value.reason == "too_large"
    assert info.value.offset == 16 * 1024 * 1024


@pytest.mark.parametrize("data", [
    b"", b"   ", b"<", b"<SyncML", b"<!DOCTYPE SyncML", b"<?xml", b"<!-- x", b"\xff\xfe<\x00",
    b"<SyncML xmlns='SYNCML:SYNCML1.2'/>", b"\xef\xbb\xbf<x/>",
])
def test_truncated_and_tiny_inputs(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode(data)
