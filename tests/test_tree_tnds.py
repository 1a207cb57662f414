"""TNDS: serialise then parse/apply gives the same subtree; property lists; exact Replace;
hostile documents refused without a partial change. Runs on both URI twins."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from omadm_codec.errors import (
    InvalidValue,
    NotAllowed,
    NotSupported,
    OmaDmError,
    PermissionDenied,
    TreeAddressError,
    ValueTooLarge,
)
from omadm_codec.tree import DMTree
from omadm_codec.tree.nodes import iter_subtree
from omadm_codec.tree.tnds import TNDS_XML_TYPE, parse_tnds

SRV = "srv"
OPEN = f"Add=*&Get=*&Replace={SRV}&Delete={SRV}"


def vendor_tree(uri_module: Any) -> DMTree:
    tree = DMTree(uri_backend=uri_module, root_acl=OPEN, clock=lambda: 1e9)
    tree.add("./Vendor", SRV, format="node")
    tree.add("./Vendor/Acme", SRV, format="node", type="com.acme/1.0/Settings")
    tree.add("./Vendor/Acme/Mode", SRV, "eco & <fast>")
    tree.add("./Vendor/Acme/Level", SRV, "7", format="int")
    tree.add("./Vendor/Acme/On", SRV, "true", format="bool")
    tree.add("./Vendor/Acme/Blob", SRV, b"\x00\xff\x10", format="bin", type="application/x-b")
    tree.add("./Vendor/Acme/Empty", SRV, format="node")
    tree.add("./Vendor/Acme/a%20b", SRV, "spaced")
    tree.replace("./Vendor/Acme/Mode?prop=Title", SRV, "Mode & title")
    tree.replace("./Vendor/Acme?prop=ACL", SRV, f"Get=*&Replace={SRV}+x&Add={SRV}&Delete={SRV}")
    tree.replace("./Vendor/Acme/Level?prop=ACL", SRV, f"Get={SRV}&Replace={SRV}")
    return tree


def shape(tree: DMTree, uri: str) -> list[tuple[Any, ...]]:
    top = tree.find(uri)
    base = len(top.path())
    return [
        (n.path()[base:], n.value, n.format, n.type, n.acl, n.title, tuple(n.children or ()))
        for n in iter_subtree(top)
    ]


def test_roundtrip(backend: Any) -> None:
    tree = vendor_tree(backend.modules["tree._uri"])
    got = tree.get("./Vendor?list=TNDS", SRV)
    assert (got.format, got.type) == ("xml", TNDS_XML_TYPE)
    root = etree.fromstring(got.value.encode())
    assert root.tag == "{syncml:dmddf1.2}MgmtTree"
    other = DMTree(uri_backend=backend.modules["tree._uri"], root_acl=OPEN)
    other.add("./Vendor", SRV, format="node")
    other.add("./Vendor", SRV, got.value, format="xml", type=TNDS_XML_TYPE)
    assert shape(other, "./Vendor") == shape(tree, "./Vendor")
    # And the copy serialises to the same document, apart from the auto-maintained TStamp/VerNo.
    sel = "?list=TNDS-TStamp-VerNo"
    assert other.get("./Vendor" + sel, SRV).value == tree.get("./Vendor" + sel, SRV).value


def test_property_selection(backend: Any) -> None:
    tree = vendor_tree(backend.modules["tree._uri"])
    doc = tree.get("./Vendor/Acme?list=TNDS+Value+ACL", SRV).value
    assert "<ACL>Get=" + SRV + "&amp;Replace=" + SRV + "</ACL>" in doc
    assert "<Value>eco &amp; &lt;fast&gt;</Value>" in doc
    assert "<Title>" not in doc and "<VerNo>" not in doc and "<Format><chr/>" not in doc
    assert "<Format><b64/></Format>" in doc  # binary must say it is b64 even when not asked
    doc = tree.get("./Vendor/Acme?list=TNDS-Value-ACL", SRV).value
    assert "<Value>" not in doc and "<ACL>" not in doc and "<Title>Mode &amp; title</Title>" in doc
    assert "<Size>3</Size>" in doc and "<Format><int/></Format>" in doc
    with pytest.raises(NotSupported) as info:
        tree.get("./Vendor?list=TNDS+Colour", SRV)
    assert info.value.status == 406


def test_only_readable_nodes(backend: Any) -> None:
    tree = vendor_tree(backend.modules["tree._uri"])
    doc = tree.get("./Vendor/Acme?list=TNDS", "x").value  # x may not Get Level
    assert "<NodeName>Mode</NodeName>" in doc and "<NodeName>Level</NodeName>" not in doc
    std = DMTree.with_standard_objects(
        dev_id="IMEI:1",
        man="m",
        mod="x",
        server_id=SRV,
        client_secret="s3cret",
        uri_backend=backend.modules["tree._uri"],
    )
    doc = std.get("./DMAcc?list=TNDS", SRV).value
    assert "AAuthName" in doc and "AAuthSecret" not in doc and "s3cret" not in doc


def test_add_with_path_and_rights(backend: Any) -> None:
    tree = vendor_tree(backend.modules["tree._uri"])
    doc = (
        '<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD>'
        "<Node><NodeName>New</NodeName><Path>Acme</Path><RTProperties><Format><node/></Format>"
        "<Type><DDFName/></Type></RTProperties>"
        "<Node><NodeName>L</NodeName><RTProperties><Format><int/></Format><Type><MIME>text/plain"
        "</MIME></Type></RTProperties><Value>5</Value></Node></Node></MgmtTree>"
    )
    tree.add("./Vendor", SRV, doc, format="xml", type=TNDS_XML_TYPE)
    assert tree.get("./Vendor/Acme/New/L", SRV).value == "5"
    before = shape(tree, ".")
    with pytest.raises(PermissionDenied):  # "other" may not Add under ./Vendor/Acme
        tree.add("./Vendor", "other", doc.replace("New", "New2"), format="xml", type=TNDS_XML_TYPE)
    assert shape(tree, ".") == before


def test_replace_exact(backend: Any) -> None:
    tree = vendor_tree(backend.modules["tree._uri"])
    doc = tree.get("./Vendor/Acme?list=TNDS+Value+ACL+Format+Title", SRV).value
    new = doc.replace("<Value>7</Value>", "<Value>8</Value>").replace(
        "<Node><NodeName>On</NodeName>",
        "<Node><NodeName>Added</NodeName><RTProperties>"
        "<Format><chr/></Format><Type><MIME>text/plain</MIME></Type></RTProperties>"
        "<Value>hi</Value></Node><Node><NodeName>On</NodeName>",
    )
    # Drop the "Empty" node from the document: Replace must delete it.
    start = new.index("<Node><NodeName>Empty</NodeName>")
    end = new.index("</Node>", start) + len("</Node>")
    new = new[:start] + new[end:]
    tree.replace("./Vendor/Acme", SRV, new, type=TNDS_XML_TYPE)
    assert tree.get("./Vendor/Acme", SRV).value == "Mode/Level/Added/On/Blob/a%20b"
    assert tree.get("./Vendor/Acme/Level", SRV).value == "8"
    assert tree.get("./Vendor/Acme?list=TNDS+Value+ACL+Format+Title", SRV).value == new
    # All or nothing: the last node is not writable (permanent, Format change): nothing changes.
    tree.device_add("./Vendor/Acme/Fixed", "1", format="int", permanent=True)
    doc = tree.get("./Vendor/Acme?list=TNDS+Value+ACL+Format+Title", SRV).value
    before = shape(tree, ".")
    bad = doc.replace("<Value>8</Value>", "<Value>9</Value>").replace(
        "<NodeName>Fixed</NodeName><RTProperties><Format><int/>",
        "<NodeName>Fixed</NodeName><RTProperties><Format><chr/>",
    )
    with pytest.raises(NotAllowed):
        tree.replace("./Vendor/Acme", SRV, bad, type=TNDS_XML_TYPE)
    assert shape(tree, ".") == before


def _doc(body: str) -> str:
    return f'<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD>{body}</MgmtTree>'


def _leaf(name: str, value: str = "v") -> str:
    return (
        f"<Node><NodeName>{name}</NodeName><RTProperties><Type><MIME>text/plain</MIME>"
        f"</Type></RTProperties><Value>{value}</Value></Node>"
    )


def _deep(levels: int) -> str:
    opened = "".join(f"<Node><NodeName>d{i}</NodeName>" for i in range(levels))
    return opened + "</Node>" * levels


HOSTILE = [
    (_doc(_deep(200)), ValueTooLarge),
    (_doc(_leaf("x") * 25_000), ValueTooLarge),
    (_doc(_leaf("ok") + _leaf("a/b")), TreeAddressError),
    (_doc(_leaf("ok") + _leaf("..")), TreeAddressError),
    (_doc(_leaf("ok") + _leaf("")), TreeAddressError),
    (_doc(_leaf("ok") + _leaf("ok")), OmaDmError),  # 418 on the second
    (_doc("<Node><NodeName>n</NodeName><Value>v</Value>" + _leaf("c") + "</Node>"), InvalidValue),
    (_doc("<Node><RTProperties/></Node>"), InvalidValue),  # NodeName missing
    (
        _doc(
            "<Node><NodeName>f</NodeName><RTProperties><Format><bogus/></Format></RTProperties>"
            "</Node>"
        ),
        InvalidValue,
    ),
    (
        _doc(
            _leaf("ok") + "<Node><NodeName>i</NodeName><RTProperties><Format><int/></Format>"
            "</RTProperties><Value>notint</Value></Node>"
        ),
        InvalidValue,
    ),
    (
        '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        '<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD>'
        + _leaf("e", "&b;")
        + "</MgmtTree>",
        InvalidValue,
    ),
    ("<MgmtTree><Node>", InvalidValue),
    ("<SyncML/>", InvalidValue),
    (_doc(_leaf("ok") + "<Evil/>"), InvalidValue),
    ("x" * (5 << 20), ValueTooLarge),
    (
        _doc(
            _leaf("ok") + "<Node><NodeName>b</NodeName><RTProperties><Format><b64/></Format>"
            "</RTProperties><Value>!!</Value></Node>"
        ),
        InvalidValue,
    ),
]


@pytest.mark.parametrize(("document", "error"), HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_refused_without_change(backend: Any, document: str, error: type) -> None:
    tree = vendor_tree(backend.modules["tree._uri"])
    before = shape(tree, ".")
    count = tree.node_count
    with pytest.raises(error):
        tree.add("./Vendor", SRV, document, format="xml", type=TNDS_XML_TYPE)
    with pytest.raises(OmaDmError):
        tree.replace("./Vendor/Acme", SRV, document, type=TNDS_XML_TYPE)
    assert shape(tree, ".") == before and tree.node_count == count


def test_parse_limits_are_checked_before_applying() -> None:
    with pytest.raises(ValueTooLarge):
        parse_tnds(_doc(_leaf("x") * 11), max_nodes=10)
    assert len(parse_tnds(_doc(_leaf("x") * 10), max_nodes=10)) == 10


# Random subtrees: serialise, apply to an empty copy, compare.
NAME = st.text(
    st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="/"),
    min_size=1,
    max_size=6,
).filter(lambda n: n not in (".", ".."))
LEAF = st.one_of(
    st.tuples(
        st.just("chr"),
        st.text(
            st.characters(blacklist_categories=["Cs", "Cc"]) | st.sampled_from("\t\n\r"),
            max_size=12,
        ).filter(lambda t: "\ufffe" not in t and "\uffff" not in t),
    ),
    st.tuples(st.just("int"), st.integers(-(2**31), 2**31 - 1).map(str)),
    st.tuples(st.just("bin"), st.binary(max_size=12)),
    st.tuples(st.just("bool"), st.sampled_from(["true", "false"])),
)
TREES = st.recursive(LEAF, lambda kids: st.dictionaries(NAME, kids, max_size=4), max_leaves=12)


def _build(tree: DMTree, segments: tuple[str, ...], spec: Any) -> None:
    uri = tree._uri.format_uri(segments)
    if isinstance(spec, dict):
        tree.add(uri, SRV, format="node")
        for name, child in spec.items():
            _build(tree, segments + (name,), child)
    else:
        tree.add(uri, SRV, spec[1], format=spec[0])


@settings(max_examples=150, deadline=None)
@given(spec=st.dictionaries(NAME, TREES, max_size=4))
def test_roundtrip_random(spec: dict[str, Any]) -> None:
    tree = DMTree(root_acl=OPEN)
    _build(tree, ("T",), spec)
    doc = tree.get("./T?list=TNDS+Value+Format", SRV).value
    other = DMTree(root_acl=OPEN)
    other.add("./T", SRV, format="node")
    other.add("./T", SRV, doc, type=TNDS_XML_TYPE)
    assert shape(other, "./T") == shape(tree, "./T")


def test_wbxml_form(backend: Any) -> None:
    from omadm_codec.tree.tnds import TNDS_WBXML_TYPE, tnds_to_wbxml

    tree = vendor_tree(backend.modules["tree._uri"])
    doc = tree.get("./Vendor?list=TNDS+Value+ACL+Format+Title", SRV).value
    try:
        wbxml = tnds_to_wbxml(doc)
    except (NotImplementedError, AttributeError, ImportError) as exc:
        pytest.skip(f"WBXML codec not available yet: {exc!r}")
    # WBXML 1.3, the DM DDF 1.2 public id (as a string-table FPI), then the DDF code page.
    assert wbxml.startswith(b"\x03\x00\x00") and b"-//OMA//DTD-DM-DDF 1.2//EN\x00" in wbxml[:40]
    assert len(wbxml) < len(doc.encode()) // 2
    other = DMTree(uri_backend=backend.modules["tree._uri"], root_acl=OPEN)
    other.add("./Vendor", SRV, format="node")
    other.add("./Vendor", SRV, wbxml, format="bin", type=TNDS_WBXML_TYPE)
    assert shape(other, "./Vendor") == shape(tree, "./Vendor")


def test_bad_wbxml_refused(backend: Any) -> None:
    from omadm_codec.tree.tnds import TNDS_WBXML_TYPE

    tree = vendor_tree(backend.modules["tree._uri"])
    before = shape(tree, ".")
    for junk in (b"", b"\x03\x00\x00", b"\x03\x01\x6a\x00\x45\xff\xff\xff\xff\xff"):
        with pytest.raises(InvalidValue):
            tree.add("./Vendor", SRV, junk, format="bin", type=TNDS_WBXML_TYPE)
    assert shape(tree, ".") == before
