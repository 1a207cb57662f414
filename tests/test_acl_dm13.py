"""DM 1.3 status 217 "OK with inherited ACL" (dm13-deltas.md 1.8/4.5, an unverified reading):
on a tree built with ``dm_version="1.3"``, Get ``?prop=ACL`` of a node whose own ACL is empty
answers the inherited (effective) ACL with status 217; a node with its own ACL, any other
property, a plain Get and every DM 1.1/1.2 tree keep status 200 and the 1.2 answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from omadm_codec.errors import NotSupported, PermissionDenied, TreeError
from omadm_codec.tree import DMTree

A_ACL = "Add=a+b&Delete=a&Get=*&Replace=a"


def make_tree(uri_module: Any, dm_version: str) -> DMTree:
    tree = DMTree(uri_backend=uri_module, clock=lambda: 0.0, dm_version=dm_version)
    tree.device_add("./A", format="node", acl=A_ACL)
    tree.device_add("./A/Leaf", "v")
    tree.device_add("./A/Sub", format="node")
    tree.device_add("./A/Sub/Deep", "d")
    tree.device_add("./A/Own", "o", acl="Get=b&Replace=b")
    tree.device_add("./B", "top")  # inherits the root ACL
    return tree


def test_inherited_acl_is_217_on_dm13(backend: Any) -> None:
    tree = make_tree(backend.modules["tree._uri"], "1.3")
    for uri in ("./A/Leaf?prop=ACL", "A/Sub?prop=ACL", "./A/Sub/Deep?prop=ACL"):
        got = tree.get(uri, "x")
        assert (got.value, got.status, got.format, got.type) == (A_ACL, 217, "chr", "text/plain")
    got = tree.get("./B?prop=ACL", "x")
    assert (got.value, got.status) == ("Add=*&Get=*", 217)


def test_own_acl_and_other_gets_stay_200_on_dm13(backend: Any) -> None:
    tree = make_tree(backend.modules["tree._uri"], "1.3")
    own = tree.get("./A?prop=ACL", "x")
    assert (own.value, own.status) == (A_ACL, 200)
    assert tree.get("./A/Own?prop=ACL", "b").status == 200
    assert tree.get(".?prop=ACL", "x").status == 200  # the root always has its own ACL
    # Only the ACL property is inherited: a plain Get and other properties are unchanged.
    assert tree.get("./A/Leaf", "x").status == 200
    assert tree.get("./A/Leaf?prop=Format", "x").status == 200


def test_refusals_come_before_217(backend: Any) -> None:
    tree = make_tree(backend.modules["tree._uri"], "1.3")
    tree.device_add("./C", format="node", acl="Get=c")
    tree.device_add("./C/Leaf", "x")
    with pytest.raises(PermissionDenied):  # the inherited ACL refuses Get: 425, not 217
        tree.get("./C/Leaf?prop=ACL", "x")
    assert tree.get("./C/Leaf?prop=ACL", "c").status == 217
    with pytest.raises(NotSupported):
        tree.get("./A/Leaf?prop=Nope", "x")


def test_217_follows_acl_changes(backend: Any) -> None:
    tree = make_tree(backend.modules["tree._uri"], "1.3")
    tree.replace("./A/Leaf?prop=ACL", "a", "Get=*&Replace=a")
    got = tree.get("./A/Leaf?prop=ACL", "x")
    assert (got.value, got.status) == ("Get=*&Replace=a", 200)
    tree.replace("./A/Leaf?prop=ACL", "a", "")  # back to inheriting
    got = tree.get("./A/Leaf?prop=ACL", "x")
    assert (got.value, got.status) == (A_ACL, 217)
    tree.replace("./A?prop=ACL", "a", "Get=*&Replace=a")
    assert tree.get("./A/Leaf?prop=ACL", "x").value == "Get=*&Replace=a"


@pytest.mark.parametrize("dm_version", ["1.1", "1.2"])
def test_dm12_keeps_empty_acl_answer(backend: Any, dm_version: str) -> None:
    tree = make_tree(backend.modules["tree._uri"], dm_version)
    got = tree.get("./A/Leaf?prop=ACL", "x")
    assert (got.value, got.status) == ("", 200)


def test_default_is_dm12(backend: Any) -> None:
    tree = DMTree(uri_backend=backend.modules["tree._uri"])
    assert tree.dm_version == "1.2"
    tree.device_add("./L", "v")
    assert tree.get("./L?prop=ACL", "x").status == 200


def test_bad_dm_version_is_refused() -> None:
    with pytest.raises(TreeError) as info:
        DMTree(dm_version="1.4")
    assert (info.value.reason, info.value.status) == ("bad_dm_version", 400)


def test_standard_objects_carry_dm_version(backend: Any) -> None:
    tree = DMTree.with_standard_objects(
        dev_id="IMEI:1",
        man="M",
        mod="X",
        server_id="srv",
        dm_version="1.3",
        uri_backend=backend.modules["tree._uri"],
    )
    assert tree.dm_version == "1.3"
    got = tree.get("./DevInfo/DevId?prop=ACL", "srv")
    assert got.status == 217 and got.value == tree.get("./DevInfo?prop=ACL", "srv").value


def test_storage_keeps_dm_version(backend: Any, tmp_path: Path) -> None:
    tree = make_tree(backend.modules["tree._uri"], "1.3")
    path = tmp_path / "t.db"
    tree.save(path)
    loaded = DMTree.load(path, uri_backend=backend.modules["tree._uri"])
    assert loaded.dm_version == "1.3"
    assert loaded.get("./A/Leaf?prop=ACL", "x").status == 217
    # An explicit argument wins over the stored version.
    assert DMTree.load(path, dm_version="1.2").get("./A/Leaf?prop=ACL", "x").status == 200


def test_storage_rejects_bad_stored_version(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "t.db"
    make_tree(None, "1.3").save(path)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE meta SET value='9.9' WHERE key='dm_version'")
    with pytest.raises(TreeError) as info:
        DMTree.load(path)
    assert (info.value.reason, info.value.status) == ("bad_store", 500)


def test_storage_without_version_row_is_dm12(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "t.db"
    make_tree(None, "1.3").save(path)
    with sqlite3.connect(path) as connection:  # a file from before dm_version was stored
        connection.execute("DELETE FROM meta WHERE key='dm_version'")
    assert DMTree.load(path).dm_version == "1.2"
