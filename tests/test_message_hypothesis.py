"""Generated messages (every command, nested Atomic/Sequence, IDs such as "0", Data of every
kind, unicode) round-trip through XML, and through WBXML on both codec twins."""

from __future__ import annotations

import re

import pytest
from conftest import Backend
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_message_wbxml import use

from omadm_codec import DecodeError
from omadm_codec.messages import decode, encode
from omadm_codec.messages import model as m

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

xml_char = st.one_of(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    st.sampled_from("\t\n\r <>&]\"'"),
)
xml_text = st.text(xml_char, max_size=12)
token = xml_text.map(str.strip)
ids = st.one_of(
    st.just("0"),
    st.from_regex(r"[0-9]{1,6}", fullmatch=True),
    st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"),
                          blacklist_characters="\ufffe\uffff\x85\xa0\u180e"),
            min_size=1, max_size=10).filter(lambda s: not re.search(r"\s", s)),
)
any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
not_utf8 = st.binary(max_size=20).map(lambda b: b"\xff" + b)
codes = st.integers(min_value=0, max_value=99_999)
status_codes = st.integers(min_value=100, max_value=599)  # others: the quirk status_code_range


def _opt(strategy: st.SearchStrategy) -> st.SearchStrategy:  # type: ignore[type-arg]
    return st.none() | strategy


def _esc(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;"))


@st.composite
def xml_documents(draw: st.DrawFn) -> m.XmlDocument:
    """Embedded documents in the decoder's canonical form."""
    name = draw(st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,6}", fullmatch=True))
    ns = draw(st.sampled_from(["urn:test", "syncml:dmddf1.2", "http://x.example/ns"]))
    leaves = draw(st.lists(st.tuples(st.from_regex(r"[a-z]{1,5}", fullmatch=True), xml_text),
                           max_size=3))
    if not leaves:
        text = draw(xml_text)
        body = f"<{name} xmlns=\"{ns}\">{_esc(text)}</{name}>" if text else \
            f'<{name} xmlns="{ns}"/>'
        return m.XmlDocument(body)
    inner = "".join(f"<{leaf}>{_esc(text)}</{leaf}>" if text else f"<{leaf}/>"
                    for leaf, text in leaves)
    return m.XmlDocument(f'<{name} xmlns="{ns}">{inner}</{name}>')


metas = st.builds(
    m.Meta,
    field_level=st.booleans(), format=_opt(st.sampled_from(["chr", "int", "b64", "xml", "node"])),
    type=_opt(xml_text), mark=_opt(xml_text), size=_opt(codes),
    anchor=_opt(st.builds(m.Anchor, next=xml_text, last=_opt(xml_text))),
    version=_opt(xml_text), next_nonce=_opt(xml_text), max_msg_size=_opt(codes),
    max_obj_size=_opt(codes), emi=st.lists(xml_text, max_size=2),
    mem=_opt(st.builds(m.Mem, free_mem=xml_text, free_id=xml_text, shared_mem=st.booleans())),
)
hints = st.none() | st.sampled_from(list(m.DataHint))
targets = st.builds(m.Target, loc_uri=token, loc_name=_opt(xml_text))
sources = st.builds(m.Source, loc_uri=token, loc_name=_opt(xml_text))


@st.composite
def items(draw: st.DrawFn, embedded: bool) -> m.Item:
    meta = draw(_opt(metas))
    if draw(st.booleans()):
        # Format bin: the data is bytes (OPAQUE is text only when it is not binary).
        meta = meta if meta is not None else m.Meta()
        meta.format = "bin"
        # Not b"": an empty OPAQUE comes back from WBXML as an empty <Data/>, i.e. "".
        data: m.DataValue | None = draw(_opt(st.binary(min_size=1, max_size=20)))
    else:
        kinds = [any_text, not_utf8] + ([xml_documents()] if embedded else [])
        data = draw(_opt(st.one_of(*kinds)))
    return m.Item(target=draw(_opt(targets)), source=draw(_opt(sources)),
                  source_parent=draw(_opt(token)), target_parent=draw(_opt(token)),
                  meta=meta, data=data, more_data=draw(st.booleans()),
                  data_hint=draw(hints))


def commands(embedded: bool) -> st.SearchStrategy[m.Command]:
    item_list = st.lists(items(embedded), min_size=1, max_size=3)
    command_meta = _opt(metas)  # never Format bin at command level: see items()
    leaves = st.one_of(
        *[st.builds(cls, cmd_id=ids, items=item_list, meta=command_meta, no_resp=st.booleans())
          for cls in (m.Add, m.Copy, m.Delete, m.Get, m.Replace)],
        st.builds(m.Alert, cmd_id=ids, data=_opt(codes), correlator=_opt(token),
                  items=st.lists(items(embedded), max_size=3), no_resp=st.booleans()),
        st.builds(m.Exec, cmd_id=ids, items=item_list, meta=command_meta,
                  correlator=_opt(token), no_resp=st.booleans()),
        st.builds(m.Status, cmd_id=ids, msg_ref=ids, cmd_ref=ids | st.just(""), cmd=token,
                  data=status_codes, target_refs=st.lists(token, max_size=2),
                  source_refs=st.lists(token, max_size=2),
                  chal=_opt(st.builds(m.Chal, meta=metas)),
                  items=st.lists(items(embedded), max_size=2), no_resp=st.booleans()),
        st.builds(m.Results, cmd_id=ids, cmd_ref=ids, items=item_list, msg_ref=_opt(ids),
                  meta=command_meta, target_ref=_opt(token), source_ref=_opt(token)),
    )

    def containers(children: st.SearchStrategy[m.Command]) -> st.SearchStrategy[m.Command]:
        child_list = st.lists(children, min_size=1, max_size=3)
        return st.one_of(
            st.builds(m.Atomic, cmd_id=ids, commands=child_list, meta=command_meta,
                      no_resp=st.booleans()),
            st.builds(m.Sequence, cmd_id=ids, commands=child_list, meta=command_meta,
                      no_resp=st.booleans()),
        )

    return st.recursive(leaves, containers, max_leaves=6)


def messages(embedded: bool, versions: tuple[str, ...]) -> st.SearchStrategy[m.Message]:
    creds = st.builds(m.Cred, data=xml_text.filter(bool), meta=_opt(metas))
    headers = st.builds(
        m.SyncHdr, session_id=ids, msg_id=ids, target=targets, source=sources,
        ver_dtd=st.sampled_from(versions), ver_proto=st.sampled_from(["DM/1.2", "DM/1.3"]),
        resp_uri=_opt(token), no_resp=st.booleans(), cred=_opt(creds), meta=_opt(metas),
    )
    return st.builds(m.Message, header=headers,
                     commands=st.lists(commands(embedded), max_size=4), final=st.booleans())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages(embedded=True, versions=("1.1", "1.2")))
def test_generated_messages_round_trip_xml(msg: m.Message) -> None:
    xml = encode(msg)
    back = decode(xml, strict=True)
    assert back == msg
    assert encode(back) == xml


@settings(max_examples=75, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(msg=messages(embedded=True, versions=("1.2",)))
def test_generated_messages_round_trip_wbxml(backend: Backend, msg: m.Message) -> None:
    # Embedded markup included: foreign XML travels as its text (OPAQUE and the marker).
    with use(backend):
        back = decode(encode(msg, "wbxml"), strict=True)
    assert back == msg


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages(embedded=False, versions=("1.2",)), st.sets(st.sampled_from(
    ["whitespace", "namespace_case", "metinf_namespace"]), min_size=1))
def test_injected_quirks_decode_leniently_to_the_same_model(
        msg: m.Message, injected: set[str]) -> None:
    xml = encode(msg)
    expected = []
    if "namespace_case" in injected:
        xml = xml.replace(b'xmlns="SYNCML:SYNCML1.2"', b'xmlns="SyncML:SyncML1.2"', 1)
        expected.append("namespace_case")
    if "whitespace" in injected and b"<LocURI>" in xml:
        xml = xml.replace(b"<LocURI>", b"<LocURI>\n  ").replace(b"</LocURI>", b" </LocURI>")
        expected.append("whitespace")
    if "metinf_namespace" in injected and b' xmlns="syncml:metinf"' in xml:
        xml = xml.replace(b' xmlns="syncml:metinf"', b"")
        expected.append("metinf_namespace")
    back = decode(xml)
    assert back == msg
    assert sorted(back.quirks) == sorted(expected)
    if expected:
        with pytest.raises(DecodeError) as info:
            decode(xml, strict=True)
        assert info.value.reason in expected
