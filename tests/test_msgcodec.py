"""The message fast path (``messages._fast_c`` / ``_fast_py``) against the lxml reference path.

The one idea: the fast path may decline (``decode_xml`` returns ``None``, the reference path
then decides) but it must never vouch for a wrong model. So every test states one of two
things about an input: the fast path gives exactly the reference model (with the same Data
hints and no quirks), or it declines and ``decode`` still gives the reference verdict. Both
twins run every test (``backend``) and the differential tests compare them directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS_WBXML, CORPUS_XML, Backend, corpus_id, twin
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_message_hypothesis import messages

from omadm_codec import decode, encode
from omadm_codec.errors import DecodeError
from omadm_codec.limits import DEFAULT_LIMITS, Limits
from omadm_codec.messages import model as m
from omadm_codec.messages._guard import prepare_xml
from omadm_codec.messages._reader import read_xml

HDR = (b"<SyncML xmlns='SYNCML:SYNCML1.2'><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2"
       b"</VerProto><SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>a</LocURI></Target>"
       b"<Source><LocURI>b</LocURI></Source></SyncHdr><SyncBody>")
END = b"<Final/></SyncBody></SyncML>"


def reference(data: bytes, strict: bool = False,
              limits: Limits = DEFAULT_LIMITS) -> tuple[str, Any]:
    """The lxml path's verdict: ("ok", message) or ("error", (reason, offset))."""
    quirks: list[str] = []
    try:
        prepared = prepare_xml(data, strict, quirks, limits.max_input_size)
        return "ok", read_xml(prepared.data, strict, quirks, limits,
                              prepared.doctype_public_id)
    except DecodeError as exc:
        return "error", (exc.reason, exc.offset)


def hints(msg: m.Message) -> list[m.DataHint | None]:
    return [item.data_hint for command in msg.iter_commands()
            for item in getattr(command, "items", [])]


def check_vouched(fast: m.Message | None, data: bytes) -> None:
    """``fast`` is None or exactly the reference model of ``data`` (which has no quirk)."""
    if fast is None:
        return
    verdict, ref = reference(data)
    assert verdict == "ok", f"fast path vouched for input the reference rejects: {ref}"
    assert ref.quirks == [] and fast.quirks == []
    assert fast == ref
    assert hints(fast) == hints(ref)


@pytest.mark.parametrize("path", CORPUS_XML, ids=corpus_id)
def test_corpus_decodes_on_the_fast_path_to_the_reference_model(
        backend: Backend, path: Path) -> None:
    data = path.read_bytes()
    fast = backend.decode_xml(data, DEFAULT_LIMITS)
    assert fast is not None, "every corpus message is clean: the fast path must take it"
    check_vouched(fast, data)
    assert fast == decode(data, strict=True)


@pytest.mark.parametrize("path", CORPUS_XML, ids=corpus_id)
def test_corpus_round_trips_through_the_twin_encoder(backend: Backend, path: Path) -> None:
    msg = backend.decode_xml(path.read_bytes(), DEFAULT_LIMITS)
    xml = backend.encode_xml(msg)
    assert backend.decode_xml(xml, DEFAULT_LIMITS) == msg
    assert backend.encode_wbxml(msg) == encode(msg, "wbxml")
    assert decode(backend.encode_wbxml(msg)) == msg


# Inputs at the edge of the scanner's subset: each must be declined or decoded exactly as
# the reference does (several are errors for libxml2 that the scanner alone lets through).
EDGES = {
    "comment_with_double_hyphen": HDR + b"<!-- a -- b -->" + END,
    "cdata_end_in_text": HDR + b"<Alert><CmdID>1</CmdID><Data>1200</Data><Item><Data>a]]>b"
                               b"</Data></Item></Alert>" + END,
    "declaration_1_1": b'<?xml version="1.1"?>' + HDR + END,
    "declaration_2_0": b'<?xml version="2.0"?>' + HDR + END,
    "declaration_without_version": b'<?xml encoding="UTF-8"?>' + HDR + END,
    "declaration_bad_standalone": b'<?xml version="1.0" standalone="maybe"?>' + HDR + END,
    "declaration_latin1": b'<?xml version="1.0" encoding="ISO-8859-1"?>' + HDR + END,
    "declaration_utf16": b'<?xml version="1.0" encoding="UTF-16"?>' + HDR + END,
    "whitespace_before_declaration": b' <?xml version="1.0"?>' + HDR + END,
    "non_ascii_name_in_data": HDR + b"<Replace><CmdID>1</CmdID><Item><Data><\xc3\x97a/></Data>"
                                    b"</Item></Replace>" + END,
    "bad_public_id": b'<!DOCTYPE SyncML PUBLIC "-//SYNCML//DTD SyncML 1.2//EN{" "x">' + HDR + END,
    "public_id_1_1": b'<!DOCTYPE SyncML PUBLIC "-//SYNCML//DTD SyncML 1.1//EN" "x">' + HDR + END,
    "pi_after_root": HDR + END + b"<?foo bar?>",
    "pi_named_xml_inside": HDR + b"<?XML x?>" + END,
    "redundant_default_namespace": HDR.replace(
        b"<SyncBody>", b"<SyncBody xmlns='SYNCML:SYNCML1.2'>") + END,
    "char_ref_nul": HDR + b"<Alert><CmdID>1</CmdID><Data>1200</Data><Item><Data>&#0;</Data>"
                          b"</Item></Alert>" + END,
    "nbsp_between_elements": HDR.replace(b"<SyncBody>", b"<SyncBody>\xc2\xa0") + END,
    "empty_namespace_in_data": HDR + b"<Replace><CmdID>1</CmdID><Item><Data><a xmlns=''><b/>"
                                     b"</a></Data></Item></Replace>" + END,
    "foreign_namespace_in_data": HDR + b"<Replace><CmdID>1</CmdID><Item><Data><a xmlns='x:y'>"
                                       b" t <b/>u</a></Data></Item></Replace>" + END,
    "pi_and_comment_in_data": HDR + b"<Replace><CmdID>1</CmdID><Item><Data>x<?pi y?>z<!--c-->"
                                    b"w</Data></Item></Replace>" + END,
    "line_ends_in_data": HDR + b"<Replace><CmdID>1</CmdID><Item><Data>x\r\nz\ry&#13;</Data>"
                               b"</Item></Replace>" + END,
    "attribute_on_command": HDR + b"<Alert a='1'><CmdID>1</CmdID><Data>1200</Data></Alert>"
                            + END,
    "prefixed_metinf": HDR + b"<Alert><CmdID>1</CmdID><Data>1200</Data><Item><Meta>"
                             b"<m:Type xmlns:m='syncml:metinf'>t</m:Type></Meta></Item></Alert>"
                       + END,
    "unknown_metinf_child": HDR + b"<Alert><CmdID>1</CmdID><Data>1200</Data><Item><Meta>"
                                  b"<Foo xmlns='syncml:metinf'>t<Bar/></Foo></Meta></Item>"
                                  b"</Alert>" + END,
    "cdata_data": HDR + b"<Replace><CmdID>1</CmdID><Item><Data><![CDATA[<a>&]]>x</Data></Item>"
                        b"</Replace>" + END,
    "bare_ampersand": HDR + b"<Alert><CmdID>1</CmdID><Data>1100</Data><Item><Data>A=1&B=2"
                            b"</Data></Item></Alert>" + END,
    "ds_command": HDR + b"<Sync><CmdID>1</CmdID></Sync>" + END,
    "out_of_order": HDR + b"<Status><MsgRef>1</MsgRef><CmdID>1</CmdID><CmdRef>0</CmdRef>"
                          b"<Cmd>SyncHdr</Cmd><Data>200</Data></Status>" + END,
    "whitespace_in_id": HDR + b"<Alert><CmdID> 1</CmdID><Data>1200</Data></Alert>" + END,
    "trailing_garbage": HDR + END + b"x",
    "utf8_bom": b"\xef\xbb\xbf" + HDR + END,
    "internal_subset": b'<!DOCTYPE SyncML [<!ENTITY a "x">]>' + HDR + END,
    "billion_laughs": b'<!DOCTYPE SyncML [<!ENTITY a "aa"><!ENTITY b "&a;&a;">]>' + HDR
                      + b"<Alert><CmdID>1</CmdID><Data>1200</Data><Item><Data>&b;</Data>"
                        b"</Item></Alert>" + END,
    "external_entity": b'<!DOCTYPE SyncML SYSTEM "http://x/y.dtd">' + HDR
                       + b"<Alert><CmdID>1</CmdID><Data>1200</Data><Item><Data>&ext;</Data>"
                         b"</Item></Alert>" + END,
    "ampersand_in_pi": HDR + b"<?pi a&b?>" + END,
    "long_tag_in_cdata": HDR + b"<Replace><CmdID>1</CmdID><Item><Data><![CDATA[<a"
                         + b"b" * (64 * 1024 + 1) + b"]]></Data></Item></Replace>" + END,
    "utf16_bytes": ("<?xml version='1.0' encoding='UTF-16'?>").encode("utf-16") + HDR + END,
}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_edges_are_declined_or_exact(backend: Backend, name: str) -> None:
    data = EDGES[name]
    check_vouched(backend.decode_xml(data, DEFAULT_LIMITS), data)


@pytest.mark.parametrize("name", ["comment_with_double_hyphen", "declaration_2_0",
                                  "non_ascii_name_in_data", "bad_public_id", "bare_ampersand",
                                  "ds_command", "out_of_order", "whitespace_in_id",
                                  "public_id_1_1", "attribute_on_command", "prefixed_metinf",
                                  "internal_subset", "billion_laughs", "external_entity",
                                  "ampersand_in_pi", "long_tag_in_cdata", "utf16_bytes"])
def test_what_the_fast_path_declines(backend: Backend, name: str) -> None:
    assert backend.decode_xml(EDGES[name], DEFAULT_LIMITS) is None


@pytest.mark.parametrize("name", sorted(EDGES))
@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_decode_gives_the_reference_verdict(name: str, strict: bool) -> None:
    data = EDGES[name]
    verdict, ref = reference(data, strict)
    if verdict == "error":
        with pytest.raises(DecodeError) as info:
            decode(data, strict=strict)
        assert (info.value.reason, info.value.offset) == ref
    else:
        got = decode(data, strict=strict)
        assert got == ref and got.quirks == ref.quirks


def test_limits_below_the_message_send_it_to_the_reference(backend: Backend) -> None:
    data = CORPUS_XML[0].read_bytes()
    assert backend.decode_xml(data, Limits(max_input_size=len(data) - 1)) is None
    assert backend.decode_xml(data, Limits(max_depth=3)) is None
    assert backend.decode_xml(data, Limits(max_elements=5)) is None


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(msg=messages(embedded=True, versions=("1.1", "1.2")))
def test_generated_messages_take_the_fast_path_on_both_twins(
        both_backends: tuple[Backend, Backend], msg: m.Message) -> None:
    compiled, pure = both_backends
    xml = encode(msg)
    fast_c = compiled.decode_xml(xml, DEFAULT_LIMITS)
    fast_py = pure.decode_xml(xml, DEFAULT_LIMITS)
    if b"wbxml:opaque" in xml:
        # Bytes Data travels in XML as the OPAQUE stand-in (an attribute): declined.
        assert fast_c is None and fast_py is None
        return
    assert fast_c is not None and fast_py is not None  # canonical XML is otherwise clean
    assert fast_c == msg and fast_py == msg
    assert hints(fast_c) == hints(fast_py)
    check_vouched(fast_c, xml)
    assert compiled.encode_xml(fast_c) == pure.encode_xml(fast_py) == xml


_PIECES = [b"<", b">", b"/", b"&", b";", b" ", b"\n", b"'", b'"', b":", b"=", b"x", b"]]>",
           b"<!--", b"-->", b"<?", b"?>", b"<![CDATA[", b"&amp;", b"&#", b"\xc3", b"\xa0",
           b"xmlns", b"<Data>", b"</Data>", b"<Item>", b"</Item>", b"<Meta>", b"\x00"]


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, len(CORPUS_XML) - 1), data=st.data())
def test_mutated_corpus_is_declined_or_exact_on_both_twins(
        both_backends: tuple[Backend, Backend], index: int, data: st.DataObject) -> None:
    raw = CORPUS_XML[index].read_bytes()
    if len(raw) > 20_000:
        raw = raw[:20_000]  # the mutation lands in the part that is checked
    mutated = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(mutated)))
        cut = data.draw(st.integers(0, 3))
        mutated[at:at + cut] = data.draw(st.sampled_from(_PIECES))
    blob = bytes(mutated)
    compiled, pure = both_backends
    fast_c = compiled.decode_xml(blob, DEFAULT_LIMITS)
    fast_py = pure.decode_xml(blob, DEFAULT_LIMITS)
    assert (fast_c is None) == (fast_py is None)
    assert fast_c == fast_py
    check_vouched(fast_c, blob)


# --- WBXML: this twin's wbxml_to_xml, then the same fast path (from_wbxml rules) ------------


def wbxml_reference(data: bytes, strict: bool = False) -> tuple[str, Any]:
    from omadm_codec.wbxml import wbxml_to_xml

    quirks: list[str] = []
    try:
        xml = bytes(wbxml_to_xml(data))
        prepared = prepare_xml(xml, strict, quirks, max(len(xml), DEFAULT_LIMITS.max_input_size))
        return "ok", read_xml(prepared.data, strict, quirks, DEFAULT_LIMITS,
                              prepared.doctype_public_id, from_wbxml=True)
    except DecodeError as exc:
        return "error", (exc.reason, -1)


@pytest.mark.parametrize("path", CORPUS_WBXML, ids=corpus_id)
def test_corpus_wbxml_decodes_on_the_fast_path_to_the_reference_model(
        backend: Backend, path: Path) -> None:
    data = path.read_bytes()
    fast = backend.decode_wbxml(data, DEFAULT_LIMITS)
    assert fast is not None
    verdict, ref = wbxml_reference(data)
    assert verdict == "ok" and fast == ref and hints(fast) == hints(ref)
    xml_twin = Path(str(path).replace(".strtbl", "")).with_suffix(".xml")
    assert fast == backend.decode_xml(xml_twin.read_bytes(), DEFAULT_LIMITS)


@settings(max_examples=75, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(msg=messages(embedded=False, versions=("1.2",)))
def test_generated_wbxml_decodes_equal_on_both_twins(
        both_backends: tuple[Backend, Backend], msg: m.Message) -> None:
    compiled, pure = both_backends
    wbxml = compiled.encode_wbxml(msg)
    assert wbxml == pure.encode_wbxml(msg)
    fast_c = compiled.decode_wbxml(wbxml, DEFAULT_LIMITS)
    fast_py = pure.decode_wbxml(wbxml, DEFAULT_LIMITS)
    assert fast_c == fast_py
    if fast_c is not None:
        assert fast_c == msg
        verdict, ref = wbxml_reference(wbxml)
        assert verdict == "ok" and ref == fast_c


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, len(CORPUS_WBXML) - 1), data=st.data())
def test_mutated_wbxml_is_declined_or_exact_on_both_twins(
        both_backends: tuple[Backend, Backend], index: int, data: st.DataObject) -> None:
    mutated = bytearray(CORPUS_WBXML[index].read_bytes()[:8000])
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(mutated) - 1))
        mutated[at] = data.draw(st.integers(0, 255))
    blob = bytes(mutated)
    compiled, pure = both_backends
    fast_c = compiled.decode_wbxml(blob, DEFAULT_LIMITS)
    assert fast_c == pure.decode_wbxml(blob, DEFAULT_LIMITS)
    if fast_c is not None:
        verdict, ref = wbxml_reference(blob)
        assert verdict == "ok" and ref == fast_c and ref.quirks == []


# --- structural mutations: well-formed XML that breaks the SyncML content models -------------

_TEXTS = ["", " ", "1", " 1", "0", "abc", "a b", "x\ny", "<&>", "12345678901", "-1", "\u00e9",
          "1.2", "DM/1.2", "SyncML/1.2", "DM/1.3", "b64", "bin", "1.1", "\t", "200"]
_NAMES = ["Data", "Meta", "Item", "CmdID", "NoResp", "Final", "Cmd", "Foo", "LocURI", "Format"]
_NAMESPACES = ["syncml:metinf", "SYNCML:SYNCML1.2", "x:y", "SYNCML:SYNCML1.1", "SyncML:SyncML1.2"]


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, len(CORPUS_XML) - 1), rnd=st.randoms(use_true_random=False))
def test_restructured_corpus_is_declined_or_exact_on_both_twins(
        both_backends: tuple[Backend, Backend], index: int, rnd: Any) -> None:
    import copy

    from lxml import etree

    root = etree.fromstring(CORPUS_XML[index].read_bytes())
    elements = list(root.iter())
    for _ in range(rnd.randint(1, 2)):
        el = rnd.choice(elements)
        parent = el.getparent()
        move = rnd.randint(0, 7)
        if move == 0 and parent is not None:
            parent.remove(el)
        elif move == 1 and parent is not None:
            parent.insert(parent.index(el), copy.deepcopy(el))
        elif move == 2:
            el.text = rnd.choice(_TEXTS)
        elif move == 3:
            el.tail = rnd.choice(_TEXTS)
        elif move == 4:
            el.set("a", "1")
        elif move == 5 and parent is not None and len(parent) > 1:
            parent.remove(el)
            parent.insert(rnd.randint(0, len(parent)), el)
        elif move == 6:
            el.tag = f"{{{rnd.choice(_NAMESPACES)}}}{etree.QName(el).localname}"
        elif move == 7:
            child = etree.SubElement(el, "{SYNCML:SYNCML1.2}" + rnd.choice(_NAMES))
            child.text = rnd.choice(_TEXTS)
    blob = etree.tostring(root)
    compiled, pure = both_backends
    fast_c = compiled.decode_xml(blob, DEFAULT_LIMITS)
    fast_py = pure.decode_xml(blob, DEFAULT_LIMITS)
    assert (fast_c is None) == (fast_py is None) and fast_c == fast_py
    check_vouched(fast_c, blob)


def test_compiled_builder_fills_every_model_class_directly() -> None:
    """The compiled builder makes model objects by filling their slots (``_Shape``); a change to
    ``model.py`` that breaks the conditions (a ``__post_init__``, a field outside ``__init__``,
    no slots) must show here, not as a silent fall back to the slow constructor."""
    import dataclasses
    import inspect

    import omadm_codec.messages.model as model

    compiled = twin("messages._fast", "c")
    classes = [c for c in vars(model).values()
               if inspect.isclass(c) and dataclasses.is_dataclass(c)
               and c.__module__ == model.__name__]
    assert len(classes) > 20
    assert [c.__name__ for c in classes if not compiled._Shape(c).direct] == []

    @dataclasses.dataclass(slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            self.a += 1

    @dataclasses.dataclass
    class Unslotted:
        a: int

    @dataclasses.dataclass(slots=True)
    class Hidden:
        a: int
        b: list[int] = dataclasses.field(init=False, default_factory=list)

    assert not any(compiled._Shape(c).direct for c in (Checked, Unslotted, Hidden))


# Around the compiled builder's shortcuts (indentation stepped over before a tag, a leaf's
# one text run and end tag read at once, '<?' and '<!-' found from '?' and '!'): each input
# is declined or decoded exactly, and both twins agree.
_INDENTED = (b"<SyncML xmlns='SYNCML:SYNCML1.2'>\n <SyncHdr>\n  <VerDTD>1.2</VerDTD>\n"
             b"  <VerProto>DM/1.2</VerProto>\n\t<SessionID>1</SessionID>\n  <MsgID>1</MsgID>\n"
             b"  <Target><LocURI>a</LocURI></Target>\n  <Source><LocURI>b</LocURI></Source>\n"
             b" </SyncHdr>\n <SyncBody>\n  <Replace><CmdID>2</CmdID><Item><Target><LocURI>./x"
             b"</LocURI></Target><Data>v</Data></Item></Replace>\n  <Final/>\n </SyncBody>\n"
             b"</SyncML>\n")
SHORTCUTS = {
    "indented": _INDENTED,
    "comment_after_indent": _INDENTED.replace(b"\n  <MsgID>", b"\n  <!-- c -->\n  <MsgID>"),
    "pi_after_indent": _INDENTED.replace(b"\n  <MsgID>", b"\n  <?pi x?>  <MsgID>"),
    "cdata_after_indent": _INDENTED.replace(b"<Data>v", b"<Data>\n  <![CDATA[v]]>"),
    "text_after_indent": _INDENTED.replace(b"\n  <MsgID>", b"\n  x<MsgID>"),
    "crlf_indent": _INDENTED.replace(b"\n", b"\r\n"),
    "nbsp_indent": _INDENTED.replace(b"\n  <MsgID>", b"\n \xc2\xa0<MsgID>"),
    "leaf_with_reference": _INDENTED.replace(b"<Data>v", b"<Data>a&amp;b"),
    "leaf_with_cr": _INDENTED.replace(b"<Data>v", b"<Data>a\r\nb"),
    "leaf_with_cdata_end": _INDENTED.replace(b"<Data>v", b"<Data>a]]>b"),
    "leaf_then_comment": _INDENTED.replace(b"<Data>v", b"<Data>v<!--c-->w"),
    "leaf_then_cdata": _INDENTED.replace(b"<Data>v", b"<Data>v<![CDATA[w]]>"),
    "leaf_end_tag_with_space": _INDENTED.replace(b"<MsgID>1</MsgID>", b"<MsgID>1</MsgID >"),
    "leaf_end_tag_other_name": _INDENTED.replace(b"<MsgID>1</MsgID>", b"<MsgID>1</MsgIDs>"),
    "leaf_blank": _INDENTED.replace(b"<Data>v", b"<Data> \n "),
    "leaf_markup": _INDENTED.replace(b"<Data>v", b"<Data>v<x>y</x>"),
    "leaf_in_namespace_frame": _INDENTED.replace(
        b"<Data>v</Data>", b"<Meta><Format xmlns='syncml:metinf'>chr</Format></Meta>"
                           b"<Data>v</Data>"),
    "question_and_bang_in_text": _INDENTED.replace(b"<Data>v", b"<Data>why? no! <-"),
    "pi_in_data": _INDENTED.replace(b"<Data>v", b"<Data>v<?pi x?>"),
    "comment_in_data": _INDENTED.replace(b"<Data>v", b"<Data>v<!-- c -->"),
    "bang_not_comment": _INDENTED.replace(b"<Data>v", b"<Data>v<!x"),
}


@pytest.mark.parametrize("name", sorted(SHORTCUTS))
@pytest.mark.parametrize("limits", [DEFAULT_LIMITS, Limits(max_opaque=2)],
                         ids=["default", "opaque2"])
def test_shortcut_edges_are_declined_or_exact_on_both_twins(
        both_backends: tuple[Backend, Backend], name: str, limits: Limits) -> None:
    compiled, pure = both_backends
    data = SHORTCUTS[name]
    fast_c = compiled.decode_xml(data, limits)
    fast_py = pure.decode_xml(data, limits)
    assert fast_c == fast_py
    if fast_c is not None:
        assert hints(fast_c) == hints(fast_py)
        if limits is DEFAULT_LIMITS:
            check_vouched(fast_c, data)


def test_indented_message_takes_the_fast_path(backend: Backend) -> None:
    assert backend.decode_xml(SHORTCUTS["indented"], DEFAULT_LIMITS) is not None
    assert backend.decode_xml(SHORTCUTS["leaf_in_namespace_frame"], DEFAULT_LIMITS) is not None
