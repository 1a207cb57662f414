"""The compiled twin's child index (built on a node after repeated lookups, dropped when the
children dict changes) never changes a result: long-lived trees on both twins get the same
mix of lookups and mutations (tree commands, a failed transaction, direct dict edits), and
every lookup must agree on node, 404 segment or error."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omadm_codec.errors import NodeNotFound, OmaDmError, TreeAddressError
from omadm_codec.tree import DMTree

NAMES = [f"N{i}" for i in range(40)] + ["ä", "c d", "Nx"]


def make_tree(uri_module: Any) -> DMTree:
    tree = DMTree(uri_backend=uri_module, root_acl="Add=*&Get=*&Replace=*&Delete=*")
    tree.device_add("./P", format="node")
    for name in NAMES[:30]:
        tree.device_add(f"./P/{tree._uri.escape_segment(name)}", name)
    return tree


def lookup(tree: DMTree, uri: str) -> Any:
    try:
        node, _ = tree._uri.resolve(tree.root, uri, "Get", "srv", 0, 0, 0)
    except NodeNotFound as exc:
        return ("404", exc.segment)
    except TreeAddressError as exc:
        return ("400", exc.reason, exc.segment)
    return ("ok", node.path(), node.value)


def apply(tree: DMTree, op: tuple[str, str]) -> Any:
    kind, name = op
    uri = "./P/" + tree._uri.escape_segment(name)
    try:
        if kind == "add":
            tree.add(uri, "srv", value=name)
        elif kind == "delete":
            tree.delete(uri, "srv")
        elif kind == "rename":
            tree.replace(uri + "?prop=Name", "srv", name + "r")
        elif kind == "failed_txn":
            with tree.transaction():
                tree.add(uri, "srv", value="t")
                raise RuntimeError("roll back")
        elif kind == "new_dict":  # a replaced dict (same content) must not reuse the index
            parent = tree.find("./P")
            parent.children = dict(parent.children or {})
        elif kind == "clear":
            parent = tree.find("./P")
            for child in list((parent.children or {}).values()):
                tree.delete(tree._uri.format_uri(child.path()), "srv")
    except (OmaDmError, RuntimeError) as exc:
        return ("error", type(exc).__name__)
    return "done"


OPS = st.tuples(
    st.sampled_from(["get", "get", "get", "add", "delete", "rename", "failed_txn", "new_dict"]),
    st.sampled_from(NAMES + [n + "r" for n in NAMES[:5]]),
)


@settings(max_examples=300, deadline=None)
@given(ops=st.lists(OPS, max_size=40), repeat=st.integers(1, 4))
def test_index_matches_pure(both_backends: Any, ops: list[tuple[str, str]], repeat: int) -> None:
    trees = [make_tree(b.modules["tree._uri"]) for b in both_backends]
    for op in ops:
        if op[0] == "get":
            escaped = trees[1]._uri.escape_segment(op[1])
            for uri in (f"./P/{escaped}", f"P/{escaped}/x", f"./P/{escaped}?prop=ACL"):
                for _ in range(repeat):  # repeats let the compiled twin build its index
                    assert lookup(trees[0], uri) == lookup(trees[1], uri)
        else:
            assert apply(trees[0], op) == apply(trees[1], op)


def test_index_follows_mutations(backend: Any) -> None:
    tree = make_tree(backend.modules["tree._uri"])
    uris = [f"./P/{tree._uri.escape_segment(name)}" for name in NAMES[:30]]
    for _ in range(5):  # enough lookups to build the index on ./P
        for uri in uris:
            assert lookup(tree, uri)[0] == "ok"
    assert lookup(tree, "./P/N5")[2] == "N5"
    tree.delete("./P/N5", "srv")
    assert lookup(tree, "./P/N5") == ("404", 1)
    tree.add("./P/N5", "srv", value="again")
    assert lookup(tree, "./P/N5")[2] == "again"
    tree.replace("./P/N6?prop=Name", "srv", "M6")
    assert lookup(tree, "./P/N6") == ("404", 1)
    assert lookup(tree, "./P/M6")[2] == "N6"
    parent = tree.find("./P")
    assert parent.children is not None
    parent.children = {"Only": parent.children["N7"]}
    assert lookup(tree, "./P/N7") == ("404", 1)
    assert lookup(tree, "./P/Only")[2] == "N7"
    for _ in range(5):
        assert lookup(tree, "./P/Only")[2] == "N7"
        assert lookup(tree, "./P/N8") == ("404", 1)
    # Non-ASCII names: by escape, raw, and an ASCII name inside a non-ASCII URI.
    tree.add("./P/%C3%A4", "srv", value="umlaut")
    for _ in range(40):
        assert lookup(tree, "./P/%C3%A4")[2] == "umlaut"
        assert lookup(tree, "./P/ä")[2] == "umlaut"
        assert lookup(tree, "./P/Only/ä") == ("404", 2)


@pytest.mark.parametrize("count", [1, 7, 8, 9, 300])
def test_index_sizes(backend: Any, count: int) -> None:
    tree = DMTree(uri_backend=backend.modules["tree._uri"])
    tree.device_add("./P", format="node")
    for i in range(count):
        tree.device_add(f"./P/K{i}", str(i))
    for _ in range(3):
        for i in range(count):
            assert lookup(tree, f"./P/K{i}")[2] == str(i)
        assert lookup(tree, f"./P/K{count}") == ("404", 1)
        assert lookup(tree, "./P/K") == ("404", 1)
