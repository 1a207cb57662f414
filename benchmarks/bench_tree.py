"""Management-tree speed on a realistic 10,000-node device tree (DevInfo, DevDetail, 3 DMAcc
accounts, vendor leaves), in one run:

* the Get hot path, URI parse + normalise + lookup + ACL check (``resolve``), on the compiled
  and the pure URI twin, and the whole ``DMTree.get`` (which adds the value record) on both;
* ``?list=TNDS+Value+ACL`` of the whole tree to XML, against building the same document with
  lxml element by element.

Run ``python -m pytest benchmarks/bench_tree.py --benchmark-only --benchmark-json=tree.json``
then ``python benchmarks/bench_tree.py tree.json`` for the README table (best rounds; targets:
compiled resolve >= 500,000/s and >= 10x pure; TNDS faster than lxml).
"""

from __future__ import annotations

import json
import random
import sys
from typing import Any

import pytest
from lxml import etree

from omadm_codec import _backend
from omadm_codec.tree import DMTree, add_dm_account

SRV = "srv1.example"
LOOKUPS = 2000  # URIs per benchmark call


def build_tree(uri_module: Any) -> DMTree:
    tree = DMTree.with_standard_objects(
        dev_id="IMEI:493005100592800",
        man="Acme",
        mod="X1",
        server_id=SRV,
        max_depth=16,
        max_tot_len=255,
        max_seg_len=64,
        uri_backend=uri_module,
    )
    for number in (2, 3):
        add_dm_account(
            tree,
            f"srv{number}example",
            server_id=f"srv{number}.example",
            addr=f"https://dm{number}.example/",
            port=443,
        )
    tree.device_add("./Vendor", format="node", acl=f"Add={SRV}&Get=*&Replace={SRV}")
    group = 0
    while tree.node_count < 10_000:
        tree.device_add(
            f"./Vendor/Acme/Group{group}",
            format="node",
            acl=f"Get={SRV}&Replace={SRV}" if group % 3 == 0 else "",
        )
        for leaf in range(50):
            if tree.node_count >= 10_000:
                break
            tree.device_add(
                f"./Vendor/Acme/Group{group}/Setting{leaf}", str(leaf * group), format="int"
            )
        group += 1
    return tree


def sample_uris(tree: DMTree) -> list[str]:
    """A Get workload: vendor leaves (some without "./"), standard-object leaves."""
    rng = random.Random(4711)
    leaves = [
        tree._uri.format_uri(node.path())
        for node in _all(tree)
        if node.children is None
        and (node.access is None or "Get" in node.access)
        and tree.effective_acl(node).allows("Get", SRV)
    ]
    picked = [rng.choice(leaves) for _ in range(LOOKUPS)]
    return [uri[2:] if i % 4 == 0 else uri for i, uri in enumerate(picked)]


def _all(tree: DMTree) -> list[Any]:
    from omadm_codec.tree.nodes import iter_subtree

    return list(iter_subtree(tree.root))


_CACHE: dict[str, Any] = {}


def _setup(impl: str) -> tuple[DMTree, list[str]]:
    if impl not in _CACHE:
        module = _backend.twin("tree._uri", "c" if impl == "cython" else "py")
        tree = build_tree(module)
        assert tree.node_count == 10_000
        _CACHE[impl] = (tree, sample_uris(tree))
    result: tuple[DMTree, list[str]] = _CACHE[impl]
    return result


@pytest.mark.parametrize("impl", ["cython", "python"])
def test_resolve_get(benchmark: Any, impl: str) -> None:
    tree, uris = _setup(impl)
    resolve = tree._uri.resolve
    root = tree.root
    depth, total, seg = tree.uri_limits()

    def loop() -> int:
        for uri in uris:
            resolve(root, uri, "Get", SRV, depth, total, seg)
        return len(uris)

    benchmark.group = "tree Get hot path (resolve) x2000"
    benchmark.extra_info.update(op="resolve_get", impl=impl, calls=len(uris))
    assert benchmark.pedantic(loop, rounds=30, warmup_rounds=2) == LOOKUPS


@pytest.mark.parametrize("impl", ["cython", "python"])
def test_tree_get(benchmark: Any, impl: str) -> None:
    tree, uris = _setup(impl)
    get = tree.get

    def loop() -> int:
        for uri in uris:
            get(uri, SRV)
        return len(uris)

    benchmark.group = "DMTree.get x2000"
    benchmark.extra_info.update(op="tree_get", impl=impl, calls=len(uris))
    assert benchmark.pedantic(loop, rounds=20, warmup_rounds=2) == LOOKUPS


def lxml_tnds(tree: DMTree) -> bytes:
    """The same ``.?list=TNDS+Value+ACL`` document, built with lxml element by element."""
    import base64

    ns = "{syncml:dmddf1.2}"
    root = etree.Element(ns + "MgmtTree", nsmap={None: "syncml:dmddf1.2"})
    etree.SubElement(root, ns + "VerDTD").text = "1.2"
    stack = [(root, child) for child in reversed(list(tree.root.children.values()))]
    while stack:
        parent, node = stack.pop()
        if not tree.effective_acl(node).allows("Get", SRV) or (
            node.access is not None and "Get" not in node.access
        ):
            continue
        element = etree.SubElement(parent, ns + "Node")
        etree.SubElement(element, ns + "NodeName").text = node.name
        props = etree.SubElement(element, ns + "RTProperties")
        if node.acl is not None:
            etree.SubElement(props, ns + "ACL").text = node.acl.text
        value = node.value
        if isinstance(value, bytes):
            etree.SubElement(etree.SubElement(props, ns + "Format"), ns + "b64")
            value = base64.b64encode(value).decode("ascii")
        kind = "MIME" if node.children is None else "DDFName"
        etree.SubElement(etree.SubElement(props, ns + "Type"), ns + kind).text = node.type
        if node.children is None:
            etree.SubElement(element, ns + "Value").text = value
        else:
            stack.extend((element, child) for child in reversed(list(node.children.values())))
    result: bytes = etree.tostring(root, encoding="utf-8")
    return result


@pytest.mark.parametrize("impl", ["omadm_codec", "lxml"])
def test_tnds_whole_tree(benchmark: Any, impl: str) -> None:
    tree, _ = _setup("cython" if "tree._uri" in _backend.TWINS else "python")
    ours = tree.get(".?list=TNDS+Value+ACL", SRV).value
    assert isinstance(ours, str)
    # Same document: compare canonical forms once, outside the timing.
    assert etree.tostring(etree.fromstring(ours.encode())) == etree.tostring(
        etree.fromstring(lxml_tnds(tree))
    )
    if impl == "omadm_codec":

        def run() -> object:
            return tree.get(".?list=TNDS+Value+ACL", SRV).value
    else:

        def run() -> object:
            return lxml_tnds(tree)

    benchmark.group = "TNDS of the whole 10,000-node tree"
    benchmark.extra_info.update(op="tnds", impl=impl)
    benchmark.pedantic(run, rounds=15, warmup_rounds=1)


def report(path: str) -> str:
    """README table from a ``--benchmark-json`` file (minimum per round: the least disturbed by
    other load on the machine)."""
    data = json.load(open(path))  # noqa: SIM115
    median = {
        (b["extra_info"]["op"], b["extra_info"]["impl"]): (b["stats"]["min"], b["extra_info"])
        for b in data["benchmarks"]
    }
    lines = ["| measurement | compiled | pure | ratio |", "| --- | --- | --- | --- |"]
    for op, label in (
        ("resolve_get", "Get hot path: parse+normalise+lookup+ACL"),
        ("tree_get", "DMTree.get (full command)"),
    ):
        if (op, "cython") in median and (op, "python") in median:
            c_time, info = median[(op, "cython")]
            p_time, _ = median[(op, "python")]
            calls = info["calls"]
            lines.append(
                f"| {label} | {calls / c_time:,.0f}/s | {calls / p_time:,.0f}/s "
                f"| {p_time / c_time:.1f}x |"
            )
    if ("tnds", "omadm_codec") in median and ("tnds", "lxml") in median:
        ours, _ = median[("tnds", "omadm_codec")]
        theirs, _ = median[("tnds", "lxml")]
        lines.append(
            f"| `.?list=TNDS+Value+ACL`, 10,000 nodes | {ours * 1e3:.1f} ms "
            f"| lxml element by element {theirs * 1e3:.1f} ms | {theirs / ours:.1f}x |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(sys.argv[1]))
