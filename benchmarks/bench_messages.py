"""Message decode / encode speed on every corpus message: compiled twin, pure twin, and lxml
(``etree.fromstring`` / ``etree.tostring`` of the same XML bytes, which build or read a tree
and no model) as the peer, one run.

Run: ``python -m pytest benchmarks/bench_messages.py --benchmark-json=msg.json`` then
``python benchmarks/bench_messages.py msg.json`` for the ratio table (medians).
Each twin is measured through the public ``omadm_codec.decode`` / ``encode`` with that twin
forced, so the numbers include the dispatch and any fall-back a message would take.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS_XML
from lxml import etree

import omadm_codec.messages as messages
from omadm_codec import _backend
from omadm_codec.messages.model import Message

IMPLS = ["cython", "python", "lxml"]
OPS = ["decode_xml", "decode_wbxml", "encode_xml", "encode_wbxml"]


@contextmanager
def twin(impl: str) -> Iterator[None]:
    """``messages.decode`` / ``encode`` on the given twin for the duration."""
    saved = messages._codec
    messages._codec = _backend.twin("messages._fast", "c" if impl == "cython" else "py")
    try:
        yield
    finally:
        messages._codec = saved


def _job(op: str, impl: str, path: Path) -> tuple[Callable[[], Any], int]:
    """The call to time and the input size in bytes (XML bytes for the lxml peer)."""
    xml = path.read_bytes()
    wbxml = path.with_suffix(".wbxml").read_bytes()
    if impl == "lxml":
        if op.startswith("decode"):
            return (lambda: etree.fromstring(xml)), len(xml)
        tree = etree.fromstring(xml)
        return (lambda: etree.tostring(tree)), len(xml)
    msg: Message = messages.decode(xml)
    if op == "decode_xml":
        return (lambda: messages.decode(xml)), len(xml)
    if op == "decode_wbxml":
        return (lambda: messages.decode(wbxml)), len(wbxml)
    if op == "encode_xml":
        return (lambda: messages.encode(msg)), len(xml)
    return (lambda: messages.encode(msg, "wbxml")), len(wbxml)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("path", CORPUS_XML, ids=lambda p: p.stem)
@pytest.mark.parametrize("op", OPS)
def test_messages(benchmark, op: str, path: Path, impl: str) -> None:  # type: ignore[no-untyped-def]
    with twin(impl if impl != "lxml" else "cython"):
        fn, nbytes = _job(op, impl, path)
        benchmark.group = f"{op} {path.stem}"
        benchmark.extra_info.update(op=op, file=path.stem, impl=impl, nbytes=nbytes)
        out = benchmark(fn)
        if impl != "lxml":
            if op.startswith("decode"):
                assert out == messages.decode(path.read_bytes())
            elif op == "encode_wbxml":
                assert messages.decode(out) == messages.decode(path.read_bytes())


def table(path: str) -> str:
    """The README table: per message and operation, compiled µs, x lxml, x pure; then the
    WBXML-vs-XML decode ratio and the linear-cost line."""
    with open(path) as fh:
        data = json.load(fh)
    med: dict[tuple[str, str, str], float] = {}
    size: dict[tuple[str, str], int] = {}
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        if info.get("op") in OPS:
            med[(info["op"], info["file"], info["impl"])] = bench["stats"]["median"]
            size[(info["op"], info["file"])] = info["nbytes"]
    files = sorted({f for (_, f, _) in med}, key=lambda f: size.get(("decode_xml", f), 0))
    head = "| message | XML bytes |"
    for op in OPS:
        head += f" {op} µs | x lxml | x pure |"
    lines = [head + " wbxml/xml decode |", "|---|---:|" + "---:|---:|---:|" * 4 + "---:|"]
    for f in files:
        row = [f, f"{size.get(('decode_xml', f), 0):,}"]
        for op in OPS:
            c, py, lx = (med.get((op, f, i)) for i in IMPLS)
            row += [f"{c * 1e6:.1f}" if c else "-", f"{lx / c:.2f}" if c and lx else "-",
                    f"{py / c:.1f}" if c and py else "-"]
        x, w = med.get(("decode_xml", f, "cython")), med.get(("decode_wbxml", f, "cython"))
        row.append(f"{x / w:.2f}" if x and w else "-")
        lines.append("| " + " | ".join(row) + " |")
    out = "\n".join(lines)
    for op in OPS:
        mbps = {f: size[(op, f)] / med[(op, f, "cython")] / 1e6 for f in files
                if (op, f, "cython") in med}
        if "results_large" in mbps and "pkg2_server_mgmt" in mbps:
            out += (f"\n\nLinear cost, {op}: results_large {mbps['results_large']:.0f} MB/s vs "
                    f"pkg2_server_mgmt {mbps['pkg2_server_mgmt']:.0f} MB/s "
                    f"(ratio {mbps['results_large'] / mbps['pkg2_server_mgmt']:.2f})")
    return out


if __name__ == "__main__":
    print(table(sys.argv[1]))
