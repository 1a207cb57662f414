"""DMTree commands and their status codes, formats, properties, transactions, standard objects.
Every test runs on both URI twins (the ``tree`` fixture builds the tree with each)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from omadm_codec.errors import (
    AlreadyExists,
    InvalidValue,
    NodeNotFound,
    NotAllowed,
    NotSupported,
    PermissionDenied,
    TreeAddressError,
    TreeError,
    ValueTooLarge,
)
from omadm_codec.tree import DMTree
from omadm_codec.tree.nodes import iter_subtree

SRV = "srv.example"


class Clock:
    def __init__(self) -> None:
        self.now = 994_869_497.0  # 2001-07-11T16:38:17Z

    def __call__(self) -> float:
        self.now += 1
        return self.now


@pytest.fixture
def tree(backend: Any) -> DMTree:
    tree = DMTree.with_standard_objects(
        dev_id="IMEI:493005100592800",
        man="Acme",
        mod="X1",
        dm_version="1.2",
        server_id=SRV,
        uri_backend=backend.modules["tree._uri"],
        clock=Clock(),
    )
    tree.device_add("./Vendor", format="node", acl=f"Add=*&Get=*&Replace={SRV}&Delete={SRV}")
    return tree


def test_api_sketch(tree: DMTree) -> None:
    tree.add("./Vendor/Acme", SRV, format="node")
    tree.add("./Vendor/Acme/Mode", server_id=SRV, value="eco", format="chr")
    got = tree.get("./Vendor/Acme/Mode", server_id=SRV)
    assert (got.value, got.format, got.type) == ("eco", "chr", "text/plain")
    assert tree.get("./Vendor/Acme", server_id=SRV).value == "Mode"
    tree.add("./Vendor/Acme/Level", SRV, "3", format="int")
    assert tree.get("Vendor/Acme", SRV).value == "Mode/Level"  # insertion order
    got = tree.get("./Vendor/Acme", SRV)
    assert got.format == "node"
    tree.add("./Vendor/Acme/Empty", SRV, format="node")
    assert tree.get("./Vendor/Acme/Empty", SRV).value == ""  # no children: empty Data


def test_add_status_codes(tree: DMTree) -> None:
    tree.add("./Vendor/L", SRV, "v")
    with pytest.raises(AlreadyExists) as info:
        tree.add("./Vendor/L", SRV, "v")
    assert info.value.status == 418
    with pytest.raises(NotAllowed) as info:
        tree.add("./Vendor/L/child", SRV, "v")  # child of a leaf
    assert info.value.status == 405
    with pytest.raises(NodeNotFound) as info:
        tree.add("./Vendor/Missing/child", SRV, "v")
    assert (info.value.status, info.value.segment) == (404, 1)
    with pytest.raises(PermissionDenied) as info:
        tree.add("./DevInfo/New", SRV, "v")  # DevInfo: Get=*
    assert info.value.status == 425
    with pytest.raises(NotAllowed):
        tree.add("./Vendor?prop=Title", SRV, "t")  # properties cannot be added
    with pytest.raises(TreeAddressError) as info:
        tree.add("./Vendor/a b", SRV, "v")
    assert info.value.status == 400
    with pytest.raises(InvalidValue) as info:
        tree.add("./Vendor/F", SRV, "v", format="bogus")
    assert info.value.status == 415
    with pytest.raises(TreeError):
        tree.add("./Vendor/I", SRV, "not empty", format="node")
    assert "F" not in tree.get("./Vendor", SRV).value.split("/")


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("bool", ["true", "false"], ["True", "1", ""]),
        ("int", ["0", "-2147483648", "2147483647", "+5"], ["2147483648", "1.5", "", "x"]),
        ("float", ["1.5", "-1e10", "INF", "NaN", ".5"], ["1e39", "abc", "1.2.3", ""]),
        ("date", ["2001-07-11", "20010711"], ["2001-13-01", "01-07-11", "2001-0711"]),
        ("time", ["16:38:17", "163817Z", "16:38", "16:38:17.5+02:00"], ["25:00:00", "x"]),
        ("null", [""], ["x"]),
        ("xml", ["<a/>", "<a>1</a><b/>", "text"], ["<a>", "<a></b>"]),
        ("chr", ["anything", "ä"], []),
        ("b64", ["aGVsbG8=", ""], ["***", "aGVsbG8"]),
    ],
)
def test_formats(tree: DMTree, fmt: str, good: list[str], bad: list[str]) -> None:
    for index, value in enumerate(good):
        tree.add(f"./Vendor/g{index}", SRV, value, format=fmt)
    for index, value in enumerate(bad):
        with pytest.raises(InvalidValue):
            tree.add(f"./Vendor/b{index}", SRV, value, format=fmt)
        with pytest.raises(NodeNotFound):
            tree.get(f"./Vendor/b{index}", SRV)


def test_binary(tree: DMTree) -> None:
    tree.add("./Vendor/B64", SRV, "aGVsbG8=", format="b64")
    got = tree.get("./Vendor/B64", SRV)
    assert (got.value, got.format) == (b"hello", "bin")  # b64 over XML is stored as bin
    assert tree.get("./Vendor/B64?prop=Size", SRV).value == "5"
    tree.add("./Vendor/Bin", SRV, b"\x00\xff", format="bin")
    assert tree.get("./Vendor/Bin", SRV).value == b"\x00\xff"
    tree.replace("./Vendor/Bin", SRV, "AAE=", format="b64")
    assert tree.get("./Vendor/Bin", SRV).value == b"\x00\x01"


def test_value_too_large(backend: Any) -> None:
    tree = DMTree(uri_backend=backend.modules["tree._uri"], max_value_size=4,
                  root_acl="Add=*&Get=*")
    tree.add("./ok", "s", "1234")
    with pytest.raises(ValueTooLarge) as info:
        tree.add("./big", "s", "12345")
    assert info.value.status == 413


def test_replace(tree: DMTree) -> None:
    tree.add("./Vendor/L", SRV, "1", format="int")
    tree.replace("./Vendor/L", SRV, "2")  # format kept
    assert tree.get("./Vendor/L", SRV).format == "int"
    with pytest.raises(InvalidValue):
        tree.replace("./Vendor/L", SRV, "two")
    assert tree.get("./Vendor/L", SRV).value == "2"
    tree.replace("./Vendor/L", SRV, "two", format="chr", type="text/x-word")
    got = tree.get("./Vendor/L", SRV)
    assert (got.value, got.format, got.type) == ("two", "chr", "text/x-word")
    with pytest.raises(NodeNotFound):
        tree.replace("./Vendor/Nope", SRV, "x")  # Replace never creates
    with pytest.raises(NotAllowed):
        tree.replace("./Vendor", SRV, "x")  # interior, not TNDS
    with pytest.raises(PermissionDenied):
        tree.replace("./Vendor/L", "other", "x")
    with pytest.raises(PermissionDenied):
        tree.replace("./DevInfo/Man", SRV, "x")


def test_permanent_and_access_type(tree: DMTree) -> None:
    tree.device_add("./Vendor/Perm", "p", permanent=True, access=("Get", "Replace"))
    tree.replace("./Vendor/Perm", SRV, "q")
    with pytest.raises(NotAllowed):
        tree.replace("./Vendor/Perm", SRV, "1", format="int")  # Format of a permanent node
    with pytest.raises(NotAllowed):
        tree.replace("./Vendor/Perm?prop=Name", SRV, "Other")  # rename a permanent node
    with pytest.raises(NotAllowed) as info:
        tree.delete("./Vendor/Perm", SRV)
    assert info.value.status == 405
    with pytest.raises(NotAllowed):
        tree.delete("./Vendor", SRV)  # its subtree holds a permanent node
    tree.device_add("./Vendor/NoGet", "s", access=("Replace",))
    with pytest.raises(NotAllowed):
        tree.get("./Vendor/NoGet", SRV)
    with pytest.raises(NotAllowed):
        tree.delete(".", "anyone")
    tree.device_add("./Inbox", format="node", acl="Add=*&Get=*")
    with pytest.raises(NotAllowed):
        tree.get("./Inbox", SRV)  # Get on ./Inbox: 405


def test_delete_subtree(tree: DMTree) -> None:
    tree.add("./Vendor/D", SRV, format="node")
    tree.add("./Vendor/D/E", SRV, format="node")
    tree.add("./Vendor/D/E/F", SRV, "1")
    count = tree.node_count
    tree.delete("./Vendor/D", SRV)
    assert tree.node_count == count - 3
    with pytest.raises(NodeNotFound):
        tree.get("./Vendor/D/E/F", SRV)
    with pytest.raises(NodeNotFound):
        tree.delete("./Vendor/D", SRV)


def test_copy(tree: DMTree) -> None:
    tree.add("./Vendor/S", SRV, "5", format="int")
    tree.copy("./Vendor/S", "./Vendor/T", SRV)  # creates the target leaf
    got = tree.get("./Vendor/T", SRV)
    assert (got.value, got.format) == ("5", "int")
    tree.add("./Vendor/U", SRV, "x")
    tree.copy("./Vendor/S", "./Vendor/U", SRV)  # overwrites an existing leaf
    assert tree.get("./Vendor/U", SRV).value == "5"
    with pytest.raises(NotAllowed):
        tree.copy("./Vendor", "./Vendor/V", SRV)  # interior source
    tree.device_add("./Vendor/RO", "r", access=("Get",))
    with pytest.raises(TreeError) as info:
        tree.copy("./Vendor/S", "./Vendor/RO", SRV)
    assert info.value.status == 403
    with pytest.raises(NotAllowed):
        tree.get("./DMAcc/srvexample/AppAuth/ClientSide/AAuthSecret", SRV)
    with pytest.raises(NotAllowed):  # copying a secret out needs Get, which AccessType denies
        tree.copy("./DMAcc/srvexample/AppAuth/ClientSide/AAuthSecret", "./Vendor/W", SRV)


def test_exec(tree: DMTree) -> None:
    calls = []

    def handler(t: DMTree, uri: str, server_id: str, data: Any, correlator: Any) -> int:
        calls.append((uri, server_id, data, correlator))
        t.device_replace("./Vendor/Out", "ran")
        return 202

    tree.device_add("./Vendor/Out", "")
    tree.device_add("./Vendor/Reboot", "", acl=f"Exec={SRV}&Get=*")
    with pytest.raises(NotAllowed):
        tree.exec("./Vendor/Reboot", SRV)  # no handler
    tree.register_exec("./Vendor/Reboot", handler)
    assert tree.exec("./Vendor/Reboot", SRV, "now", "c1") == 202
    assert calls == [("./Vendor/Reboot", SRV, "now", "c1")]
    with pytest.raises(PermissionDenied):
        tree.exec("./Vendor/Reboot", "other")

    def failing(t: DMTree, *args: Any) -> None:
        t.device_replace("./Vendor/Out", "half")
        raise RuntimeError("boom")

    tree.register_exec("./Vendor/Reboot", failing)
    with pytest.raises(TreeError) as info:
        tree.exec("./Vendor/Reboot", SRV)
    assert info.value.status == 500
    assert tree.get("./Vendor/Out", SRV).value == "ran"  # the failed Exec's change undone


def test_properties(tree: DMTree) -> None:
    tree.add("./Vendor/P", SRV, "héllo")
    get = lambda prop: tree.get(f"./Vendor/P?prop={prop}", SRV).value  # noqa: E731
    assert get("Format") == "chr" and get("Type") == "text/plain" and get("Name") == "P"
    assert get("Size") == "6"  # UTF-8 bytes
    assert get("VerNo") == "0"
    assert get("TStamp").endswith("Z") and len(get("TStamp")) == 16
    tree.replace("./Vendor/P?prop=Title", SRV, "A title")
    assert get("Title") == "A title" and get("VerNo") == "1"
    with pytest.raises(ValueTooLarge):
        tree.replace("./Vendor/P?prop=Title", SRV, "x" * 256)
    for prop in ("Format", "Size", "Type", "TStamp", "VerNo"):
        with pytest.raises(NotAllowed):
            tree.replace(f"./Vendor/P?prop={prop}", SRV, "1")
    with pytest.raises(NotSupported) as info:
        tree.get("./Vendor/P?prop=Color", SRV)
    assert info.value.status == 406
    with pytest.raises(NotSupported):
        tree.get("./Vendor?prop=Size", SRV)  # no Size on interior nodes
    with pytest.raises(NotSupported):
        tree.get("./Vendor?list=Bogus", SRV)


def test_rename(tree: DMTree) -> None:
    for name in ("A", "B", "C"):
        tree.add(f"./Vendor/{name}", SRV, name)
    tree.replace("./Vendor/B?prop=Name", SRV, "B2")
    assert tree.get("./Vendor", SRV).value == "A/B2/C"  # keeps its place
    assert tree.get("./Vendor/B2", SRV).value == "B"
    with pytest.raises(AlreadyExists):
        tree.replace("./Vendor/B2?prop=Name", SRV, "C")
    with pytest.raises(TreeAddressError):
        tree.replace("./Vendor/B2?prop=Name", SRV, "x/y")


def test_tstamp_clock_and_verno_wrap(backend: Any) -> None:
    tree = DMTree(uri_backend=backend.modules["tree._uri"], clock=lambda: 994_869_497.0)
    tree.add("./N", "s", "0")
    assert tree.get("./N?prop=TStamp", "s").value == "20010711T163817Z"
    tree.find("./N").verno = 0xFFFE
    tree.device_replace("./N", "1")
    assert tree.get("./N?prop=VerNo", "s").value == "65535"
    tree.device_replace("./N", "2")
    assert tree.get("./N?prop=VerNo", "s").value == "0"  # wraps FFFF -> 0000


def test_struct_lists(tree: DMTree) -> None:
    tree.add("./Vendor/X", SRV, format="node")
    tree.add("./Vendor/X/a%20b", SRV, "1")
    tree.device_add("./Vendor/X/Hidden", "h", acl="Get=nobody")
    got = tree.get("./Vendor/X?list=StructData", SRV)
    assert [(i.uri, i.format, i.value) for i in got.items] == [
        ("./Vendor/X", "node", None),
        ("./Vendor/X/a%20b", "chr", "1"),
    ]
    got = tree.get("./Vendor/X?list=Struct", SRV)
    assert [i.value for i in got.items] == [None, None]


def test_limits_from_devdetail(backend: Any) -> None:
    tree = DMTree.with_standard_objects(
        dev_id="IMEI:1",
        man="m",
        mod="x",
        server_id=SRV,
        max_depth=3,
        max_tot_len=26,
        max_seg_len=9,
        uri_backend=backend.modules["tree._uri"],
    )
    assert tree.uri_limits() == (3, 26, 9)
    assert tree.get("./DevDetail/URI/MaxDepth", SRV).value == "3"
    for uri, reason in (
        ("./DevDetail/URI/MaxDepth/x", "too_deep"),
        ("./DevDetail/FwV?prop=TStamp", "uri_too_long"),
        ("./DMAcc/srvexample", "segment_too_long"),  # 10 characters > 9
    ):
        with pytest.raises(TreeAddressError) as info:
            tree.get(uri, SRV)
        assert (info.value.reason, info.value.status) == (reason, 414)
    # Device-side calls are not bound by the limits.
    assert tree.find("./DMAcc/srvexample/AppAuth/ClientSide/AAuthName").value == ""


def test_transaction_rollback_is_exact(tree: DMTree) -> None:
    tree.add("./Vendor/K", SRV, format="node")
    for name in ("a", "b", "c"):
        tree.add(f"./Vendor/K/{name}", SRV, name)
    tree.replace("./Vendor/K/b?prop=Title", SRV, "tb")

    def state() -> list[tuple[Any, ...]]:
        return [
            (
                n.path(),
                n.value,
                n.format,
                n.type,
                n.acl,
                n.title,
                n.tstamp,
                n.verno,
                tuple(n.children or ()),
            )
            for n in iter_subtree(tree.root)
        ]

    before, count = state(), tree.node_count
    with pytest.raises(PermissionDenied), tree.transaction():
        tree.replace("./Vendor/K/a", SRV, "A")
        tree.replace("./Vendor/K/b?prop=Name", SRV, "bb")
        tree.replace("./Vendor/K?prop=ACL", SRV, f"Get=*&Replace={SRV}&Delete={SRV}")
        tree.delete("./Vendor/K/c", SRV)
        tree.add("./Vendor/K/d", SRV, "d")
        tree.add("./Vendor/K/E", SRV, format="node")
        tree.replace("./Vendor/K/a", SRV, "again")
        tree.add("./Vendor/K/never", "intruder", "x")  # 425: everything above is undone
    assert state() == before and tree.node_count == count
    # Nested: an inner failure undoes only the inner part.
    with tree.transaction():
        tree.replace("./Vendor/K/a", SRV, "outer")
        with pytest.raises(AlreadyExists), tree.transaction():
            tree.replace("./Vendor/K/b", SRV, "inner")
            tree.add("./Vendor/K/a", SRV, "dup")
    assert tree.get("./Vendor/K/a", SRV).value == "outer"
    assert tree.get("./Vendor/K/b", SRV).value == "b"


def test_standard_objects(tree: DMTree) -> None:
    assert tree.get("./DevInfo/DevId", "anyone").value == "IMEI:493005100592800"
    assert tree.get("./DevInfo", "anyone").value == "DevId/Man/Mod/DmV/Lang"
    assert tree.get("./DevInfo?prop=Type", "x").value == "urn:oma:mo:oma-dm-devinfo:1.0"
    assert tree.get("./DevDetail/LrgObj", "x").format == "bool"
    assert tree.get("./DMAcc/srvexample?prop=Type", SRV).value == "urn:oma:mo:oma-dm-dmacc:1.0"
    assert tree.get("./DMAcc/srvexample/AppID", SRV).value == "w7"
    with pytest.raises(PermissionDenied):
        tree.get("./DMAcc/srvexample/ServerID", "other.server")
    with pytest.raises(PermissionDenied):
        tree.delete("./DevInfo", SRV)
    (account,) = tree.dm_accounts()
    assert account.server_id == SRV and account.layout == "1.2"
    assert account.addresses[0].addr == "https://dm.example/"
    assert account.credentials("SRVCRED").name == SRV


@pytest.mark.parametrize("dm_version", ["1.1", "1.2", "1.3"])
def test_dm_accounts_layouts(backend: Any, dm_version: str) -> None:
    from omadm_codec.tree import add_dm_account

    tree = DMTree.with_standard_objects(
        dev_id="IMEI:1",
        man="m",
        mod="x",
        server_id="one",
        dm_version=dm_version,
        client_name="dev",
        client_secret="cs",
        server_secret="ss",
        uri_backend=backend.modules["tree._uri"],
    )
    add_dm_account(
        tree,
        "two",
        server_id="two",
        addr="https://two/",
        port=8443,
        dm_version=dm_version,
        client_nonce=b"\x01\x02",
        auth_pref="BASIC",
    )
    accounts = list(tree.dm_accounts())
    assert [a.server_id for a in accounts] == ["one", "two"]
    one, two = accounts
    assert one.layout == ("1.1" if dm_version == "1.1" else "1.2")
    prefix = "./SyncML/DMAcc/" if dm_version == "1.1" else "./DMAcc/"
    assert one.uri == prefix + "one"
    clcred = one.credentials("CLCRED")
    assert (clcred.name, clcred.secret, clcred.type) == ("dev", "cs", "DIGEST")
    assert one.credentials("SRVCRED").secret == "ss"
    assert two.addresses[0].ports == (8443,)
    assert two.credentials("CLCRED").data == b"\x01\x02"
    assert two.auth_pref == "BASIC"
    if dm_version != "1.1":
        urn = "1.1" if dm_version == "1.3" else "1.0"
        assert tree.find("./DMAcc/two").type == f"urn:oma:mo:oma-dm-dmacc:{urn}"
    # Nonces are stored device-side in the entry's AAuthData (1.2) / ClientNonce (1.1).
    nonce_uri = one.uri + "/ClientNonce" if dm_version == "1.1" else clcred.uri + "/AAuthData"
    tree.device_replace(nonce_uri, b"\xaa")
    assert next(iter(tree.dm_accounts())).credentials("CLCRED").data == b"\xaa"


def test_device_full(backend: Any) -> None:
    tree = DMTree(uri_backend=backend.modules["tree._uri"], max_nodes=3)
    tree.add("./a", "s", "1")
    tree.add("./b", "s", "1")
    with pytest.raises(TreeError) as info:
        tree.add("./c", "s", "1")
    assert info.value.status == 420
    assert list(itertools.islice(iter_subtree(tree.root), 10))[-1].name == "b"
