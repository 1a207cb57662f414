"""DDF: parsing node descriptions and the rules the tree enforces from them (AccessType,
DFFormat, Scope, Occurrence, undescribed children), also for TNDS Adds. Both URI twins."""

from __future__ import annotations

from typing import Any

import pytest

from omadm_codec.errors import InvalidValue, NotAllowed, ValueTooLarge
from omadm_codec.tree import DMTree
from omadm_codec.tree.ddf import parse_ddf
from omadm_codec.tree.tnds import TNDS_XML_TYPE

SRV = "srv"


def _leaf(name: str, access: str, fmt: str, occurrence: str = "") -> str:
    return (
        f"<Node><NodeName>{name}</NodeName><DFProperties><AccessType>{access}</AccessType>"
        f"<DFFormat><{fmt}/></DFFormat>{occurrence}<DFType><MIME>text/plain</MIME></DFType>"
        "</DFProperties></Node>"
    )


DDF = (
    '<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD>'
    "<Node><NodeName>Vendor</NodeName><Path>.</Path><DFProperties>"
    "<AccessType><Add/><Get/></AccessType><DFFormat><node/></DFFormat>"
    "<Scope><Permanent/></Scope><DFType><DDFName/></DFType></DFProperties>"
    "<Node><NodeName></NodeName><DFProperties>"
    "<AccessType><Add/><Delete/><Get/><Replace/></AccessType><DFFormat><node/></DFFormat>"
    "<Occurrence><ZeroOrN>2</ZeroOrN></Occurrence>"
    "<DFType><DDFName>com.acme/1.0/Profile</DDFName></DFType></DFProperties>"
    + _leaf("Level", "<Add/><Get/><Replace/>", "int", "<Occurrence><ZeroOrOne/></Occurrence>")
    + _leaf("Serial", "<Get/>", "chr")
    + "</Node></Node></MgmtTree>"
)


def test_parse() -> None:
    (vendor,) = parse_ddf(DDF)
    assert (vendor.name, vendor.path, vendor.format, vendor.scope) == (
        "Vendor",
        ".",
        "node",
        "Permanent",
    )
    (profile,) = vendor.children
    assert profile.name == "" and profile.occurrence == "ZeroOrN" and profile.max_count() == 2
    assert profile.df_type == ("com.acme/1.0/Profile",)
    level, serial = profile.children
    assert (level.format, level.access) == ("int", frozenset({"Add", "Get", "Replace"}))
    assert serial.access == frozenset({"Get"}) and serial.scope == "Dynamic"
    assert vendor.child("anything") is profile and profile.child("Level") is level


@pytest.mark.parametrize(
    ("document", "error"),
    [
        (DDF.replace("<DFFormat><int/></DFFormat>", ""), InvalidValue),
        (
            DDF.replace(
                "<Get/></AccessType><DFFormat><chr/>", "<Steal/></AccessType><DFFormat><chr/>"
            ),
            InvalidValue,
        ),
        (DDF.replace("<ZeroOrN>2</ZeroOrN>", "<ZeroOrN>x</ZeroOrN>"), InvalidValue),
        (DDF.replace("<NodeName>Serial</NodeName>", "<NodeName>a/b</NodeName>"), InvalidValue),
        ("<MgmtTree>", InvalidValue),
        ("<x/>" * (5 << 20), ValueTooLarge),
    ],
)
def test_malformed(document: str, error: type) -> None:
    with pytest.raises(error):
        parse_ddf(document)


@pytest.fixture
def tree(backend: Any) -> DMTree:
    tree = DMTree(uri_backend=backend.modules["tree._uri"],
                  root_acl="Add=*&Get=*&Replace=*&Delete=*")
    tree.device_add("./Vendor", format="node")
    tree.describe(DDF)
    return tree


def test_enforced(tree: DMTree) -> None:
    tree.add("./Vendor/P1", SRV, format="node")
    assert tree.get("./Vendor/P1?prop=Type", SRV).value == "com.acme/1.0/Profile"
    tree.add("./Vendor/P1/Level", SRV, "3", format="int")
    with pytest.raises(InvalidValue) as info:  # DFFormat int
        tree.add("./Vendor/P2", SRV, "x", format="chr")
    assert info.value.status == 415
    tree.add("./Vendor/P2", SRV, format="node")
    with pytest.raises(InvalidValue):
        tree.add("./Vendor/P2/Level", SRV, "3", format="chr")
    with pytest.raises(NotAllowed):  # AccessType of Serial has no Add
        tree.add("./Vendor/P1/Serial", SRV, "s")
    with pytest.raises(NotAllowed):  # not described
        tree.add("./Vendor/P1/Other", SRV, "s")
    with pytest.raises(NotAllowed) as info:  # ZeroOrN with N = 2
        tree.add("./Vendor/P3", SRV, format="node")
    assert info.value.status == 405
    with pytest.raises(InvalidValue):
        tree.replace("./Vendor/P1/Level", SRV, "4", format="chr")
    tree.replace("./Vendor/P1/Level", SRV, "4")
    with pytest.raises(NotAllowed):  # Scope Permanent
        tree.delete("./Vendor", SRV)
    with pytest.raises(NotAllowed):  # AccessType of Vendor has no Replace
        tree.replace("./Vendor?prop=Title", SRV, "t")
    tree.delete("./Vendor/P2", SRV)
    tree.add("./Vendor/P3", SRV, format="node")  # a slot is free again
    # The device itself is not bound by the description, but the node gets it.
    tree.device_add("./Vendor/P1/Serial", "SN-1")
    with pytest.raises(NotAllowed):
        tree.replace("./Vendor/P1/Serial", SRV, "SN-2")
    assert tree.get("./Vendor/P1/Serial", SRV).value == "SN-1"


def test_tnds_add_enforced_all_or_nothing(tree: DMTree) -> None:
    doc = (
        '<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD><Node><NodeName>P9</NodeName>'
        "<RTProperties><Format><node/></Format><Type><DDFName/></Type></RTProperties>"
        "<Node><NodeName>Level</NodeName><RTProperties><Format><int/></Format><Type><MIME>"
        "text/plain</MIME></Type></RTProperties><Value>1</Value></Node>"
        "<Node><NodeName>Rogue</NodeName><RTProperties><Format><chr/></Format><Type><MIME>"
        "text/plain</MIME></Type></RTProperties><Value>1</Value></Node></Node></MgmtTree>"
    )
    with pytest.raises(NotAllowed):
        tree.add("./Vendor", SRV, doc, type=TNDS_XML_TYPE)
    assert tree.get("./Vendor", SRV).value == ""
    without_rogue = doc[: doc.index("<Node><NodeName>Rogue")] + "</Node></MgmtTree>"
    tree.add("./Vendor", SRV, without_rogue, type=TNDS_XML_TYPE)
    assert tree.get("./Vendor/P9/Level", SRV).value == "1"
