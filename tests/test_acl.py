"""ACLs: grammar and canonical form, inheritance, ``*``, who may change an ACL, creator rights,
scrubbing a server id, and a property test that server B never changes what it may not."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omadm_codec.errors import OmaDmError, PermissionDenied, TreeError
from omadm_codec.tree import DMTree, parse_acl
from omadm_codec.tree.nodes import iter_subtree


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("Get=*", "Get=*"),
        (
            "Add=www.sonera.fi-8765&Delete=www.sonera.fi-8765"
            "&Replace=www.sonera.fi-8765+321_ibm.com&Get=*",
            "Add=www.sonera.fi-8765&Delete=www.sonera.fi-8765&Get=*"
            "&Replace=www.sonera.fi-8765+321_ibm.com",
        ),
        ("Replace=b&Add=a", "Add=a&Replace=b"),  # command order is canonical
        ("Get=a+b+a", "Get=a+b"),  # duplicates dropped, first-seen order kept
        ("Get=a&Get=b", "Get=a+b"),  # repeated commands merge
        ("Get=a+*", "Get=*"),  # "*" overrides names
        ("Exec=srv:1/x", "Exec=srv:1/x"),
    ],
)
def test_parse_canonical(text: str, canonical: str) -> None:
    acl = parse_acl(text)
    assert acl is not None and acl.text == canonical
    assert parse_acl(canonical) == acl


@pytest.mark.parametrize(
    "text",
    [
        "Get",
        "Get=",
        "Copy=a",
        "get=a",
        "Get=a b",
        "Get=a&",
        "&Get=a",
        "Get=a++b",
        "Get=a=b",
        "Get=a*",
        "Get=\x01",
        "Add=a&Bogus=b",
    ],
)
def test_malformed_refused(text: str) -> None:
    with pytest.raises(TreeError) as info:
        parse_acl(text)
    assert (info.value.reason, info.value.status) == ("bad_acl", 400)


def test_empty_is_none() -> None:
    assert parse_acl("") is None


def make_tree(uri_module: Any) -> DMTree:
    tree = DMTree(uri_backend=uri_module, clock=lambda: 0.0)
    tree.device_add("./A", format="node", acl="Add=a+b&Get=*&Replace=a&Delete=a")
    tree.device_add("./A/Leaf", "v")
    tree.device_add("./A/Sub", format="node")
    tree.device_add("./A/Sub/Deep", "d")
    tree.device_add("./A/Own", "o", acl="Get=b&Replace=b")
    return tree


def test_inheritance_and_star(backend: Any) -> None:
    tree = make_tree(backend.modules["tree._uri"])
    # ./A/Sub/Deep has no ACL: the nearest one (./A) counts.
    assert tree.get("./A/Sub/Deep", "anyone").value == "d"
    tree.replace("./A/Sub/Deep", "a", "d2")
    with pytest.raises(PermissionDenied):
        tree.replace("./A/Sub/Deep", "b", "d3")
    # No per-command merging: ./A/Own's ACL is the only one that counts for it.
    with pytest.raises(PermissionDenied):
        tree.get("./A/Own", "a")
    assert tree.get("./A/Own", "b").value == "o"
    # Get ?prop=ACL of an empty ACL is empty, not the inherited value.
    assert tree.get("./A/Leaf?prop=ACL", "x").value == ""
    assert tree.get("./A?prop=ACL", "x").value == "Add=a+b&Delete=a&Get=*&Replace=a"


def test_leaf_acl_needs_parent_replace(backend: Any) -> None:
    tree = make_tree(backend.modules["tree._uri"])
    # b has Replace on ./A/Own itself, but a leaf's ACL needs Replace on the parent.
    with pytest.raises(PermissionDenied):
        tree.replace("./A/Own?prop=ACL", "b", "Get=*")
    tree.replace("./A/Own?prop=ACL", "a", "Get=*&Replace=a")  # a has Replace on ./A
    assert tree.get("./A/Own?prop=ACL", "a").value == "Get=*&Replace=a"
    # Take-over: with Replace on the parent, a could then change the value.
    tree.replace("./A/Own", "a", "mine")
    assert tree.get("./A/Own", "z").value == "mine"


def test_interior_acl_needs_own_replace(backend: Any) -> None:
    tree = make_tree(backend.modules["tree._uri"])
    tree.device_add("./A/Locked", format="node", acl="Get=*&Replace=b")
    with pytest.raises(PermissionDenied):
        tree.replace("./A/Locked?prop=ACL", "a", "Get=*")  # a has Replace on ./A only
    tree.replace("./A/Locked?prop=ACL", "b", "Get=*&Replace=b+a")
    assert tree.get("./A/Locked?prop=ACL", "q").value == "Get=*&Replace=b+a"


def test_malformed_acl_not_half_stored(backend: Any) -> None:
    tree = make_tree(backend.modules["tree._uri"])
    before = tree.get("./A?prop=ACL", "x").value
    verno = tree.get("./A?prop=VerNo", "x").value
    with pytest.raises(TreeError) as info:
        tree.replace("./A?prop=ACL", "a", "Get=*&Replace=a&Nope=a")
    assert info.value.status == 400
    assert tree.get("./A?prop=ACL", "x").value == before
    assert tree.get("./A?prop=VerNo", "x").value == verno


def test_root_acl_keeps_add_star(backend: Any) -> None:
    tree = DMTree(uri_backend=backend.modules["tree._uri"], root_acl="Add=*&Get=*&Replace=srv")
    with pytest.raises(TreeError) as info:
        tree.replace(".?prop=ACL", "srv", "Get=*&Replace=srv")
    assert info.value.status == 405
    with pytest.raises(TreeError):
        tree.replace(".?prop=ACL", "srv", "")
    tree.replace(".?prop=ACL", "srv", "Add=*&Get=*&Replace=srv+other")
    assert tree.get(".?prop=ACL", "x").value == "Add=*&Get=*&Replace=srv+other"


def test_creator_rights(backend: Any) -> None:
    tree = make_tree(backend.modules["tree._uri"])
    # b may Add under ./A but has no Replace there: its new interior node gets an ACL.
    tree.add("./A/ByB", "b", format="node")
    # (Exactly Add, Delete, Replace as TND 8.3.7.1 says; so nobody may Get it, read it as device.)
    assert tree.find("./A/ByB").acl.text == "Add=b&Delete=b&Replace=b"
    with pytest.raises(PermissionDenied):
        tree.get("./A/ByB?prop=ACL", "b")
    tree.add("./A/ByB/Leaf", "b", "1")  # b can now Add below it
    tree.delete("./A/ByB", "b")
    # a has Replace on ./A: its interior node inherits (empty ACL).
    tree.add("./A/ByA", "a", format="node")
    assert tree.get("./A/ByA?prop=ACL", "x").value == ""
    # New leaves never get the creator ACL.
    tree.add("./A/LeafByB", "b", "1")
    assert tree.get("./A/LeafByB?prop=ACL", "x").value == ""


def test_scrub_server(backend: Any) -> None:
    tree = DMTree(uri_backend=backend.modules["tree._uri"], root_acl="Add=*&Get=*&Replace=gone")
    tree.device_add("./X", format="node", acl="Get=gone+kept&Delete=gone")
    tree.device_add("./Y", "1", acl="Replace=gone")
    tree.remove_server("gone")
    assert tree.get("./X?prop=ACL", "kept").value == "Get=kept"  # Delete had only "gone": dropped
    assert tree.get("./Y?prop=ACL", "q").value == ""  # nothing left: inherit
    assert tree.get(".?prop=ACL", "q").value == "Add=*&Get=*&Replace=*"  # root falls back to *


# Property: whatever server B does, nodes whose effective ACL grants B nothing but Get (the
# ./A subtree: B has no Replace on the root or ./A, so it cannot take them over either; ./Locked)
# stay exactly as they were, and every refused command changes nothing at all.
NAMES = ["A", "B", "Leaf", "Sub", "Deep", "Locked", "New"]
PATHS = st.lists(st.sampled_from(NAMES), min_size=0, max_size=3).map(
    lambda names: "./" + "/".join(names) if names else "."
)
OPS = st.one_of(
    st.tuples(st.just("add"), PATHS, st.sampled_from(["node", "chr"])),
    st.tuples(st.just("replace"), PATHS, st.sampled_from(["x", "Get=*&Replace=b", ""])),
    st.tuples(st.just("replace_prop"), PATHS, st.sampled_from(["ACL", "Name", "Title"])),
    st.tuples(st.just("delete"), PATHS, st.just("")),
    st.tuples(st.just("copy"), PATHS, PATHS),
)


def snapshot(tree: DMTree, top: tuple[str, ...] = ()) -> dict[tuple[str, ...], tuple[Any, ...]]:
    start = tree._find_quiet(top)
    assert start is not None
    return {
        node.path(): (
            node.value,
            node.format,
            node.type,
            node.acl,
            node.title,
            node.verno,
            node.tstamp,
            tuple(node.children or ()),
        )
        for node in iter_subtree(start)
    }


def _apply(tree: DMTree, op: tuple[str, str, str]) -> None:
    kind, uri, arg = op
    if kind == "add":
        tree.add(uri, "b", None if arg == "node" else "v", format=arg)
    elif kind == "replace":
        tree.replace(uri, "b", arg)
    elif kind == "replace_prop":
        value = {"ACL": "Get=*&Replace=b&Add=b&Delete=b", "Name": "New", "Title": "t"}[arg]
        tree.replace(f"{uri}?prop={arg}", "b", value)
    elif kind == "delete":
        tree.delete(uri, "b")
    else:
        tree.copy(uri, arg, "b")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, max_size=12))
def test_server_b_never_exceeds_its_rights(ops: list[tuple[str, str, str]]) -> None:
    ticks = iter(range(1, 10_000))
    tree = DMTree(clock=lambda: float(next(ticks)))
    tree.device_add("./A", format="node", acl="Get=*&Replace=a&Delete=a&Add=a")
    tree.device_add("./A/Leaf", "v")
    tree.device_add("./A/Sub", format="node")
    tree.device_add("./A/Sub/Deep", "d")
    tree.device_add("./Locked", format="node", acl="Get=*")
    tree.device_add("./Locked/Leaf", "l")
    tree.device_add("./B", format="node", acl="Add=b&Get=b&Replace=b&Delete=b")
    tree.device_add("./B/Leaf", "w")
    protected = {top: snapshot(tree, top) for top in (("A",), ("Locked",))}
    for op in ops:
        before = snapshot(tree)
        try:
            _apply(tree, op)
        except OmaDmError:
            assert snapshot(tree) == before  # a refused command changes nothing
    for top, state in protected.items():
        assert snapshot(tree, top) == state
