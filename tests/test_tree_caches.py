"""What the tree's speed-ups must not change: the cached URI limits follow every way the
limit nodes change (device writes, server Replace, Add / Delete of the nodes, rollback), a
Replace whose clock fails changes nothing, TStamp text equals ``time.strftime``'s, ``find``'s
remembered paths never return a node that left the tree, and ``coerce_value``'s fast path
answers as its checks do."""

from __future__ import annotations

import time
from typing import Any

import pytest

from omadm_codec.errors import NodeNotFound, TreeAddressError, TreeError
from omadm_codec.tree import DMTree
from omadm_codec.tree.acl import Acl
from omadm_codec.tree.nodes import coerce_value, format_tstamp

SRV = "srv.example"
DEEP = "./Vendor/a/b/c/d"  # depth 5


def _tree(backend: Any, **kw: Any) -> DMTree:
    tree = DMTree.with_standard_objects(dev_id="IMEI:1", man="m", mod="x", server_id=SRV,
                                       max_depth=8, uri_backend=backend.modules["tree._uri"], **kw)
    tree.device_add("./Vendor", format="node", acl=f"Add={SRV}&Get={SRV}&Replace={SRV}"
                    f"&Delete={SRV}")
    tree.device_add(DEEP, "v")
    return tree


def _too_deep(tree: DMTree) -> bool:
    try:
        tree.get(DEEP, SRV)
    except TreeAddressError as exc:
        assert exc.status == 414
        return True
    return False


def test_limits_follow_device_writes_and_ordinary_writes_keep_them(backend: Any) -> None:
    tree = _tree(backend)
    assert tree.uri_limits()[0] == 8 and not _too_deep(tree)
    tree.device_replace("./DevDetail/URI/MaxDepth", "4")
    assert tree.uri_limits()[0] == 4 and _too_deep(tree)
    tree.device_replace("./DevDetail/URI/MaxDepth", "0")
    assert tree.uri_limits()[0] == 0 and not _too_deep(tree)
    # Writes to other leaves leave the cached tuple in place (same object).
    cached = tree.uri_limits()
    tree.device_replace(DEEP, "w")
    assert tree.uri_limits() is cached


def test_limits_follow_server_replace_and_rollback(backend: Any) -> None:
    tree = _tree(backend)
    # Let the server manage the limit (the standard objects do not).
    node = tree.find("./DevDetail/URI/MaxDepth")
    node.acl = Acl.for_server(SRV, ("Get", "Replace"))
    node.access = None
    tree.replace("./DevDetail/URI/MaxDepth", SRV, "4")
    assert tree.uri_limits()[0] == 4 and _too_deep(tree)
    with pytest.raises(RuntimeError), tree.transaction():
        tree.replace("./DevDetail/URI/MaxDepth", SRV, "9")
        assert tree.uri_limits()[0] == 9
        raise RuntimeError
    assert tree.uri_limits()[0] == 4 and _too_deep(tree)


def test_limits_follow_structure_changes(backend: Any) -> None:
    tree = _tree(backend)
    uri_node = tree.find("./DevDetail/URI")
    limit = uri_node.children["MaxDepth"]  # type: ignore[index]
    tree.device_replace("./DevDetail/URI/MaxDepth", "4")
    assert _too_deep(tree)
    tree._detach(limit)  # the journaled primitive Delete uses
    assert tree.uri_limits()[0] == 0 and not _too_deep(tree)
    tree._attach(uri_node, limit)
    assert tree.uri_limits()[0] == 4 and _too_deep(tree)
    tree._rename(limit, "MaxDepthOld")
    assert tree.uri_limits()[0] == 0 and not _too_deep(tree)


def test_replace_whose_clock_fails_changes_nothing(backend: Any) -> None:
    broken = [False]

    class ClockStopped(Exception):
        pass

    def clock() -> float:
        if broken[0]:
            raise ClockStopped
        return 1_700_000_000.0

    tree = _tree(backend, clock=clock)
    node = tree.find(DEEP)
    before = (node.value, node.format, node.type, node.verno, node.tstamp)
    broken[0] = True
    with pytest.raises(ClockStopped):
        tree.replace(DEEP, SRV, "changed", "chr", "text/plain")
    assert (node.value, node.format, node.type, node.verno, node.tstamp) == before


@pytest.mark.parametrize("seconds", [0, 0.999, 1, 59.5, 1_700_000_000, 1_700_000_000.25,
                                     1_700_000_000.75, 1_700_000_001, -0.5, -1, -86_401.5,
                                     2_000_000_000.999])
def test_tstamp_text_is_strftime(seconds: float) -> None:
    expected = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(seconds))
    assert format_tstamp(seconds) == expected
    assert format_tstamp(seconds) == expected  # from the one-entry cache


def test_tstamp_of_a_bad_clock_value_raises_every_time() -> None:
    for _ in range(2):
        with pytest.raises((OverflowError, ValueError, OSError)):
            format_tstamp(float("inf"))
        with pytest.raises((OverflowError, ValueError, OSError)):
            format_tstamp(float("nan"))


def test_find_follows_the_tree_not_its_remembered_paths(backend: Any) -> None:
    tree = _tree(backend)
    first = tree.find(DEEP)
    assert tree.find(DEEP) is first
    tree._detach(first)
    with pytest.raises(NodeNotFound) as info:
        tree.find(DEEP)
    assert info.value.segment == 4  # the missing name's index, as the parse-every-time walk
    tree.device_add(DEEP, "again")
    assert tree.find(DEEP) is not first and tree.find(DEEP).value == "again"
    tree._detach(tree.find("./Vendor/a"))
    with pytest.raises(NodeNotFound) as info:
        tree.find(DEEP)
    assert info.value.segment == 1
    for bad in ("./Vendor//a", "./Vendor/a/", ""):
        for _ in range(2):  # a refused URI is refused again, not remembered
            with pytest.raises(TreeAddressError):
                tree.find(bad)


def _coerced(value: Any, fmt: str, max_size: int) -> object:
    try:
        return coerce_value(value, fmt, max_size)
    except TreeError as exc:
        return type(exc), exc.reason


class _Text(str):
    pass


@pytest.mark.parametrize("value", ["", "0", "45", "-7", "+7", "123456789", "1234567890",
                                   "2147483647", "2147483648", "007", " 1", "1 ", "a b", "x" * 9,
                                   "x" * 10, "\x1f", "\t", "\u00e9", "\u0663", "\ud800", "ok"])
@pytest.mark.parametrize("fmt", ["chr", "int"])
@pytest.mark.parametrize("max_size", [0, 9, 10, 1 << 20])
def test_coerce_fast_path_answers_as_the_checks(value: str, fmt: str, max_size: int) -> None:
    # A ``str`` subclass takes the checks themselves: the reference answer.
    try:
        expected = _coerced(_Text(value), fmt, max_size)
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            coerce_value(value, fmt, max_size)
        return
    got = _coerced(value, fmt, max_size)
    if isinstance(expected, tuple) and len(expected) == 2 and isinstance(expected[0], str):
        assert got == (str(expected[0]), expected[1])
    else:
        assert got == expected
