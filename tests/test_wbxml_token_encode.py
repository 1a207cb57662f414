"""``encode_wbxml`` writes WBXML tokens straight from the model (issue #3): the bytes, and the
``EncodeError`` reason and offset, of the reference path ``xml_to_wbxml(write_xml(msg,
for_wbxml=True), keep_whitespace=True)`` on every model, in both twins, compiled == pure.

The one idea: each twin has two entry points, ``encode_wbxml`` (the token writer, falling back
to the reference path where only it is exact) and ``encode_wbxml_tokens`` (the token writer
alone, raising ``Fallback``). Equality is asserted on the first; the second shows that the
corpus and the generated messages are answered by the token writer itself, not by the
fallback.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS_XML, Backend, corpus_id
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_message_hypothesis import messages
from test_msgcodec_encode import _break

from omadm_codec import decode
from omadm_codec.errors import EncodeError
from omadm_codec.messages import model as m
from omadm_codec.messages._fast_tokens import Fallback, over_limits
from omadm_codec.messages._fast_vocab import encode_wbxml as share_encode_wbxml
from omadm_codec.wbxml import xml_to_wbxml
from omadm_codec.wbxml._encode_py import xml_to_wbxml as xml_to_wbxml_py


def reference(msg: Any) -> bytes:
    """The contract (``messages._fast_vocab.encode_wbxml``, the old path)."""
    return share_encode_wbxml(msg, xml_to_wbxml)


def tokens_only(backend: Backend) -> Callable[[Any], bytes]:
    """The twin's token writer without its fallback."""
    if backend.name == "cython":
        return backend.modules["messages._fast"].encode_wbxml_tokens  # type: ignore[no-any-return]
    from omadm_codec.messages._fast_py.wbxml_writer import encode_wbxml_tokens

    return encode_wbxml_tokens


def outcome(fn: Callable[[Any], bytes], msg: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(msg)
    except EncodeError as exc:
        return "error", (exc.reason, exc.offset)


def hdr(ver_dtd: str = "1.2", **kw: Any) -> m.SyncHdr:
    fields: dict[str, Any] = {"session_id": "1", "msg_id": "1", "target": m.Target("t"),
                              "source": m.Source("s"), **kw}
    return m.SyncHdr(ver_dtd=ver_dtd, **fields)


def msg_of(*commands: Any, ver_dtd: str = "1.2", **kw: Any) -> m.Message:
    return m.Message(hdr(ver_dtd, **kw), list(commands), final=True)


def test_the_reference_path_agrees_through_either_xml_to_wbxml() -> None:
    """The reference (``messages._fast_vocab.encode_wbxml``) gives the same corpus bytes through
    the compiled and the pure ``xml_to_wbxml``: one contract for both twins."""
    for path in CORPUS_XML:
        msg = decode(path.read_bytes())
        assert reference(msg) == share_encode_wbxml(msg, xml_to_wbxml_py)


# -- the corpus ---------------------------------------------------------------------------------
@pytest.mark.parametrize("source", ["xml", "wbxml"])
@pytest.mark.parametrize("path", CORPUS_XML, ids=corpus_id)
def test_corpus_messages_give_the_reference_bytes(backend: Backend, path: Path,
                                                  source: str) -> None:
    msg = decode(path.with_suffix("." + source).read_bytes())
    expected = reference(msg)
    assert backend.encode_wbxml(msg) == expected
    assert tokens_only(backend)(msg) == expected  # answered by the token writer itself


# -- generated messages -------------------------------------------------------------------------
_TYPES = ["text/clear", "text/x-vcard", "text/x-vcalendar", "text/directory;profile=vCard",
          "application/vnd.syncml.dmtnds+xml", "APPLICATION/VND.SYNCML-DEVINF+XML",
          "application/vnd.syncml-devinf+wbxml", "text/plain", "", " text/clear", "Text/Clear"]
_TEXTS = ["", "0", "\n", "\r", "a\nb", "a\r\nb", "]]>", "a]]>b]]>", "]]>]]>", "x]]", ">",
          "<&>\"'", "é\u00a0\U0001f600", "\ufffe", "\x01", "\ud800", " lead", "trail ",
          "application/vnd.syncml.dmtnds+xml", "Application/Vnd.SyncML-DevInf+XML",
          "application/vnd.syncml.dmddf+xml", "\n\n", "a\n", "\t"]
_TREES = [
    '<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD><Node><NodeName>a</NodeName>'
    '<Value>x\ny</Value></Node></MgmtTree>',
    '<MgmtTree xmlns="syncml:dmddf1.2"/>',
    "<MgmtTree xmlns='syncml:dmddf1.2'>\n  <VerDTD> 1.2 </VerDTD>\n</MgmtTree>",
    '<DevInf xmlns="syncml:devinf"><VerDTD>1.2</VerDTD><Man>m</Man></DevInf>',
    '<MgmtTree xmlns="syncml:dmddf1.2"><Node><NodeName><![CDATA[\n]]></NodeName></Node>'
    "</MgmtTree>",
    '<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD></MgmtTree> ',
    '<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD></MgmtTree><!-- c -->',
    '<MgmtTree xmlns="syncml:devinf"><VerDTD>1.2</VerDTD></MgmtTree>',
    "<MgmtTree><VerDTD>1.2</VerDTD></MgmtTree>",
    '<d:MgmtTree xmlns:d="syncml:dmddf1.2"><d:VerDTD>1.2</d:VerDTD></d:MgmtTree>',
    '<MgmtTree xmlns="syncml:dmddf1.2"><Bogus/></MgmtTree>',
    '<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>\ufffe</VerDTD></MgmtTree>',
    '<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>\ud800</VerDTD></MgmtTree>',
    '<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD>',
    '<Meta xmlns="syncml:metinf"><Type>text/clear</Type></Meta>',
    'text <Type xmlns="syncml:metinf">x</Type>',
]


def _metas(msg: m.Message) -> list[m.Meta]:
    found: list[m.Meta] = []
    for holder in [msg.header, msg.header.cred, *msg.iter_commands()]:
        meta = getattr(holder, "meta", None)
        if isinstance(meta, m.Meta):
            found.append(meta)
        chal = getattr(holder, "chal", None)
        if chal is not None:
            found.append(chal.meta)
        for item in getattr(holder, "items", []) or []:
            if item.meta is not None:
                found.append(item.meta)
    return found


def spice(msg: m.Message, rnd: random.Random, trees: bool) -> m.Message:
    """The generated message with the values that steer the encoder put in at random: Meta
    Types that pick a Data class, Data texts with LF / CR / "]]>", hints, embedded trees."""
    msg = copy.deepcopy(msg)
    for meta in _metas(msg):
        if rnd.random() < 0.5:
            meta.type = rnd.choice(_TYPES)
    for command in msg.iter_commands():
        for item in getattr(command, "items", []):
            roll = rnd.random()
            if roll < 0.4 and not isinstance(item.data, bytes):
                item.data = rnd.choice(_TEXTS) + rnd.choice(_TEXTS)
            elif roll < 0.55 and trees:
                item.data = m.XmlDocument(rnd.choice(_TREES))
            if rnd.random() < 0.5:
                item.data_hint = rnd.choice([None, *m.DataHint])
    return msg


_SETTINGS = settings(max_examples=150, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow,
                                            HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(msg=messages(embedded=True, versions=("1.0", "1.1", "1.2")),
       rnd=st.randoms(use_true_random=False))
def test_generated_messages_give_the_reference_outcome(
        both_backends: tuple[Backend, Backend], msg: m.Message, rnd: random.Random) -> None:
    compiled, pure = both_backends
    for case in (msg, spice(msg, rnd, trees=True)):
        expected = outcome(reference, case)
        assert outcome(compiled.encode_wbxml, case) == expected
        assert outcome(pure.encode_wbxml, case) == expected


@_SETTINGS
@given(msg=messages(embedded=False, versions=("1.2",)), rnd=st.randoms(use_true_random=False))
def test_generated_messages_need_no_fallback(backend: Backend, msg: m.Message,
                                             rnd: random.Random) -> None:
    """SyncML 1.2 without raw XML parts: the token writer answers everything itself (bytes
    or the reference's error), nested MgmtTree / DevInf documents included."""
    tokens = tokens_only(backend)
    case = spice(msg, rnd, trees=False)
    for command in case.iter_commands():
        for item in getattr(command, "items", []):
            if rnd.random() < 0.2:
                item.data = m.XmlDocument(rnd.choice(_TREES[:5]))
    expected = outcome(reference, case)
    assert outcome(tokens, case) == expected


@_SETTINGS
@given(msg=messages(embedded=True, versions=("1.1", "1.2")),
       rnd=st.randoms(use_true_random=False))
def test_compiled_and_pure_give_the_same_bytes(both_backends: tuple[Backend, Backend],
                                               msg: m.Message, rnd: random.Random) -> None:
    compiled, pure = both_backends
    case = spice(msg, rnd, trees=True)
    assert outcome(compiled.encode_wbxml, case) == outcome(pure.encode_wbxml, case)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(msg=messages(embedded=True, versions=("1.2",)), rnd=st.randoms(use_true_random=False))
def test_broken_models_fail_as_the_reference(backend: Backend, msg: m.Message,
                                             rnd: Any) -> None:
    broken = _break(msg, rnd)
    try:
        expected = outcome(reference, broken)
    except Exception as exc:  # the reference writer itself crashes (e.g. a list set to an int)
        # The token writer crashes alike (a crash of another kind fails here), or writes what
        # it can read (``Meta(extra=None)`` as no extra, both twins alike); what the public
        # ``encode`` makes of such models (bytes or EncodeError) is test_message_malformed_models'.
        try:
            backend.encode_wbxml(broken)
        except type(exc):
            pass
        return
    assert outcome(backend.encode_wbxml, broken) == expected


# -- errors and edges, one by one ---------------------------------------------------------------
def _item(**kw: Any) -> m.Item:
    return m.Item(target=m.Target("./a"), **kw)


_CASES: dict[str, Any] = {
    "id_zero": lambda: msg_of(m.Get("0", [_item()]), session_id="0"),
    "bad_id_space": lambda: msg_of(m.Get("1 2", [_item()])),
    "bad_id_empty": lambda: msg_of(m.Get("", [_item()])),
    "bad_id_type": lambda: msg_of(m.Get(1, [_item()])),  # type: ignore[arg-type]
    "bad_id_long": lambda: msg_of(m.Get("9" * 257, [_item()])),
    "id_fffe": lambda: msg_of(m.Get("a\ufffeb", [_item()])),
    "id_ffff_late": lambda: msg_of(m.Get("1", [_item()]), m.Get("\uffff", [_item()])),
    "id_surrogate": lambda: msg_of(m.Get("\udc00", [_item()])),
    "id_surrogate_then_bad_code": lambda: msg_of(
        m.Get("\udc00", [_item()]), m.Alert("2", data=-1)),
    "text_surrogate": lambda: msg_of(m.Get("1", [m.Item(target=m.Target("./\ud800"))])),
    "text_control": lambda: msg_of(m.Get("1", [m.Item(target=m.Target("./a", "\x01"))])),
    "data_surrogate": lambda: msg_of(m.Replace("1", [_item(data="a\ud800")])),
    "data_control": lambda: msg_of(m.Replace("1", [_item(data="a\x01b")])),
    "locuri_space": lambda: msg_of(m.Get("1", [m.Item(target=m.Target(" ./a"))])),
    "status_code_bool": lambda: msg_of(m.Status("1", "1", "0", "SyncHdr", True)),  # type: ignore[arg-type]
    "no_items": lambda: msg_of(m.Replace("1", [])),
    "empty_atomic": lambda: msg_of(m.Atomic("1", [])),
    "cred_empty": lambda: msg_of(cred=m.Cred("")),
    "cred_vcard": lambda: msg_of(cred=m.Cred("a\nb", m.Meta(type="text/x-vcard"))),
    "cred_clear_lf": lambda: msg_of(cred=m.Cred("\n", m.Meta(type="text/clear"))),
    "bad_version": lambda: msg_of(ver_dtd="1.3"),
    "field_level_11": lambda: msg_of(m.Get("1", [_item(meta=m.Meta(field_level=True))]),
                                     ver_dtd="1.1"),
    "field_level_12": lambda: msg_of(m.Get("1", [_item(meta=m.Meta(field_level=True))])),
    "correlator_11": lambda: msg_of(m.Alert("1", 1226, correlator="c"), ver_dtd="1.1"),
    "target_parent_10": lambda: msg_of(m.Add("1", [_item(target_parent="./p")]),
                                       ver_dtd="1.0"),
    "source_parent_11": lambda: msg_of(m.Add("1", [_item(source_parent="./p")]),
                                       ver_dtd="1.1"),
    "empty_meta_item_body": lambda: m.Message(hdr(meta=m.Meta()), [
        m.Get("1", [m.Item()], meta=m.Meta())]),
    "empty_body": lambda: m.Message(hdr()),
    "empty_strings": lambda: msg_of(m.Status("1", "1", "", "", 200, target_refs=[""]),
                                    m.Results("2", "", [_item(data="",
                                              meta=m.Meta(type="", format=""))])),
    "rewrite_everywhere": lambda: msg_of(m.Results("2", "1", [m.Item(
        target=m.Target("APPLICATION/vnd.syncml-devinf+XML"),
        meta=m.Meta(type="application/vnd.syncml.dmtnds+xml"),
        data="application/vnd.syncml.dmtnds+xml")])),
    "cdata_sections": lambda: msg_of(m.Results("2", "1", [
        _item(data="a]]>b]]>", data_hint=m.DataHint.CDATA),
        _item(data="]]>", data_hint=m.DataHint.CDATA),
        _item(data="x\ny", data_hint=m.DataHint.CDATA, meta=m.Meta(format="bin"))]),
        m.Replace("3", [_item(data="\n", data_hint=m.DataHint.CDATA, meta=m.Meta(format="bin")),
                        _item(data="a\nb]]>\n", data_hint=m.DataHint.CDATA,
                              meta=m.Meta(format="bin"))])),
    "bin_lf_classes": lambda: msg_of(*[
        m.Replace(str(i), [_item(data=text, meta=m.Meta(format="bin", type=type_))])
        for i, (text, type_) in enumerate(
            (t, ty) for t in ("\n", "a\nb", "\n\n", "plain")
            for ty in (None, "text/clear", "text/x-vcard", "application/vnd.syncml.dmtnds+xml"))]),
    "container_meta_classes": lambda: msg_of(m.Atomic("1", [
        m.Status("2", "1", "0", "SyncHdr", 200), m.Alert("3", 1100),
        m.Replace("4", [_item(data="x")])], meta=m.Meta(type="text/clear")),
        m.Sequence("5", [m.Status("6", "1", "0", "SyncHdr", 200)],
                   meta=m.Meta(type="text/x-vcard"))),
    "item_meta_without_type": lambda: msg_of(m.Copy("1", [
        _item(data="x", meta=m.Meta(format="chr"))], meta=m.Meta(type="text/clear"))),
    "binary_data": lambda: msg_of(m.Replace("1", [_item(data=b"\x00\xff" * 100,
                                                        meta=m.Meta(format="bin")),
                                                  _item(data=b"", meta=m.Meta(format="bin"))])),
    "opaque_hint_empty": lambda: msg_of(m.Results("1", "1", [
        _item(data="", data_hint=m.DataHint.OPAQUE)])),
    "long_opaque": lambda: msg_of(m.Replace("1", [_item(data="x\n" * 40_000)])),
    "ds_command": lambda: msg_of(m.Map("1", "<Map><CmdID>1</CmdID></Map>")),
    "ds_command_bad": lambda: msg_of(m.Sync("1", 5)),  # type: ignore[arg-type]
    "meta_extra": lambda: msg_of(m.Get("1", [_item(meta=m.Meta(
        extra=[m.MetaExtra("MetInf", '<MetInf xmlns="syncml:metinf"/>')]))])),
    "meta_extra_type": lambda: msg_of(m.Replace("1", [_item(data="a\nb", meta=m.Meta(
        format="bin", extra=[m.MetaExtra("Type", '<Type xmlns="syncml:metinf">text/clear'
                                         "</Type>")]))])),
    "meta_extra_unknown": lambda: msg_of(m.Get("1", [_item(meta=m.Meta(
        extra=[m.MetaExtra("Foo", '<Foo xmlns="syncml:metinf"/>')]))])),
    "tree_11": lambda: msg_of(m.Results("1", "1", [_item(data=m.XmlDocument(_TREES[0]))]),
                              ver_dtd="1.1"),
    "devinf_11": lambda: msg_of(m.Results("1", "1", [_item(data=m.XmlDocument(_TREES[3]))]),
                                ver_dtd="1.1"),
    "devinf_10": lambda: msg_of(m.Results("1", "1", [_item(data=m.XmlDocument(_TREES[3]))]),
                                ver_dtd="1.0"),
    **{f"tree_{i}": (lambda tree=tree: msg_of(
        m.Results("1", "1", [_item(data=m.XmlDocument(tree))]),
        m.Replace("2", [_item(data=m.XmlDocument(tree))])))
       for i, tree in enumerate(_TREES)},
    "deep_tree": lambda: msg_of(m.Results("1", "1", [_item(data=m.XmlDocument(
        '<MgmtTree xmlns="syncml:dmddf1.2">' + "<Node>" * 58 + "</Node>" * 58
        + "</MgmtTree>"))])),
    "not_a_message": lambda: "x",
    "not_a_command": lambda: msg_of("x"),
    "not_an_item": lambda: msg_of(m.Get("1", ["x"])),  # type: ignore[list-item]
    "bad_data_type": lambda: msg_of(m.Get("1", [_item(data=5)])),  # type: ignore[arg-type]
    "bad_meta_type": lambda: msg_of(m.Get("1", [_item(meta="x")])),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("name", sorted(_CASES))
def test_edge_cases_give_the_reference_outcome(backend: Backend, name: str) -> None:
    msg = _CASES[name]()
    expected = outcome(reference, msg)
    assert outcome(backend.encode_wbxml, msg) == expected


@pytest.mark.parametrize("depth", [56, 57, 58, 59, 60, 61, 64, 65, 66])
def test_nesting_near_the_depth_limits_gives_the_reference_outcome(backend: Backend,
                                                                   depth: int) -> None:
    command: Any = m.Get("9", [m.Item(target=m.Target("./a"), meta=m.Meta(
        anchor=m.Anchor("n", "l")))])
    for level in range(depth - 1):
        command = m.Atomic(str(level), [command])
    msg = msg_of(command)
    expected = outcome(reference, msg)
    assert outcome(backend.encode_wbxml, msg) == expected
    if depth >= 60:
        assert expected[0] == "error" and expected[1][0] == "too_deep"


def test_messages_past_the_input_limit_fail_as_the_reference(backend: Backend) -> None:
    """Over 16 MB of intermediate XML: the reference's ``too_large`` (the compiled twin only:
    the pure reference path takes minutes on it)."""
    if backend.name != "cython":
        pytest.skip("the pure twin's reference path is too slow for a 16 MB message")
    items = [m.Item(target=m.Target("./" + "a" * 1000)) for _ in range(17_000)]
    msg = msg_of(m.Get("1", items))
    assert outcome(backend.encode_wbxml, msg) == outcome(reference, msg)
    assert outcome(reference, msg) == ("error", ("too_large", 16 * 1024 * 1024))


def test_messages_past_the_element_limit_fail_as_the_reference(backend: Backend) -> None:
    """Over a million elements in under 16 MB of XML: the reference's ``too_many_elements``
    (the compiled twin only, as above)."""
    if backend.name != "cython":
        pytest.skip("the pure twin's reference path is too slow for a million elements")
    msg = msg_of(m.Get("1", [m.Item() for _ in range(1_000_000)]))
    expected = outcome(reference, msg)
    assert expected[0] == "error" and expected[1][0] == "too_many_elements"
    assert outcome(backend.encode_wbxml, msg) == expected
    with pytest.raises(Fallback):
        tokens_only(backend)(msg)


def test_the_limit_bound_is_an_upper_bound() -> None:
    """``over_limits`` bounds the intermediate XML from above: checked on the corpus, and at
    the two limits."""
    from lxml import etree

    from omadm_codec.messages import _fast_tokens as share
    from omadm_codec.messages._writer import write_xml

    for path in CORPUS_XML:
        msg = decode(path.read_bytes())
        xml = write_xml(msg, for_wbxml=True)
        elements = sum(1 for _ in etree.fromstring(xml).iter())
        bound = (share._XML_FIXED + share._XML_PER_ELEMENT * elements
                 + share._XML_PER_BYTE * len(reference(msg)))
        assert bound >= len(xml)
        assert over_limits(len(reference(msg)), elements, 0, 0) is False
    assert over_limits(0, 1_000_001, 0, 0) is True
    assert over_limits(0, 999_000, 0, 1001) is True
    assert over_limits(4 * 1024 * 1024, 0, 0, 0) is True
    assert over_limits(0, 0, 17 * 1024 * 1024, 0) is True


def test_fallback_is_reported_by_the_token_writer(backend: Backend) -> None:
    msg = _CASES["ds_command"]()
    with pytest.raises(Fallback):
        tokens_only(backend)(msg)
    assert backend.encode_wbxml(msg) == reference(msg)
