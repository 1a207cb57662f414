"""DMTree.save / DMTree.load: an exact round trip, atomic replacement, corrupt files refused."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from omadm_codec.errors import TreeError
from omadm_codec.tree import DMTree
from omadm_codec.tree.nodes import iter_subtree

SRV = "srv.example"


def state(tree: DMTree) -> list[tuple[Any, ...]]:
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
            n.permanent,
            n.access,
            tuple(n.children or ()),
        )
        for n in iter_subtree(tree.root)
    ]


def sample(uri_module: Any) -> DMTree:
    ticks = iter(range(10**6))
    tree = DMTree.with_standard_objects(
        dev_id="IMEI:493005100592800",
        man="Acme",
        mod="X1",
        server_id=SRV,
        client_secret="s3cret",
        uri_backend=uri_module,
        clock=lambda: 1e9 + next(ticks),
    )
    tree.device_add("./Vendor", format="node", acl=f"Add=*&Get=*&Replace={SRV}")
    tree.add("./Vendor/B", SRV, b"\x00\xffbin", format="bin")
    tree.add("./Vendor/T", SRV, "ä text", format="chr")
    tree.add("./Vendor/Z", SRV, "1", format="int")
    tree.replace("./Vendor/Z?prop=Title", SRV, "zed")
    tree.device_replace("./DMAcc/srvexample/AppAuth/ClientSide/AAuthData", b"\x01\x02")
    return tree


def test_roundtrip(backend: Any, tmp_path: Path) -> None:
    tree = sample(backend.modules["tree._uri"])
    path = tmp_path / "tree.db"
    tree.save(path)
    loaded = DMTree.load(path, uri_backend=backend.modules["tree._uri"])
    assert state(loaded) == state(tree)
    assert loaded.node_count == tree.node_count
    (account,) = loaded.dm_accounts()
    assert account.credentials("CLCRED").data == b"\x01\x02"
    assert account.credentials("CLCRED").secret == "s3cret"  # device-side view
    assert loaded.get("./Vendor/B", SRV).value == b"\x00\xffbin"
    # Saving again over the file works, and the second load sees the change.
    loaded.replace("./Vendor/Z", SRV, "2")
    loaded.save(path)
    assert DMTree.load(path).get("./Vendor/Z", SRV).value == "2"


def test_failed_save_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = sample(None)
    path = tmp_path / "tree.db"
    tree.save(path)
    before = path.read_bytes()
    tree.replace("./Vendor/Z", SRV, "99")

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        tree.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tree.db"]  # no temp file left
    assert DMTree.load(path).get("./Vendor/Z", SRV).value == "1"


@pytest.mark.parametrize(
    "damage",
    [
        "DELETE FROM meta",
        "UPDATE nodes SET acl='Bogus=1' WHERE id=3",
        "UPDATE nodes SET parent=9999 WHERE id=5",
        "UPDATE nodes SET name='a/b' WHERE id=4",
        "UPDATE nodes SET format='weird' WHERE interior=0",
        "UPDATE nodes SET verno=70000 WHERE id=2",
        "UPDATE nodes SET parent=NULL WHERE id=2",
        "DROP TABLE nodes",
    ],
)
def test_corrupt_store_refused(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "tree.db"
    sample(None).save(path)
    connection = sqlite3.connect(path)
    connection.execute(damage)
    connection.commit()
    connection.close()
    with pytest.raises(TreeError) as info:
        DMTree.load(path)
    assert info.value.reason == "bad_store"


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(TreeError):
        DMTree.load(path)
    with pytest.raises(TreeError):
        DMTree.load(tmp_path / "missing.db")
