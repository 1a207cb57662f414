"""The fixed cost of one call: ``wbxml_to_xml`` of a 16-byte document and ``xml_to_wbxml`` of
its 81-byte XML, compiled twin against libwbxml in the same run (issue 17 target: at most
0.25 µs a call, i.e. no per-call set-up worth measuring beyond the Python call itself).

Run: ``python -m pytest benchmarks/bench_fixed_cost.py --benchmark-json=fixed.json`` then
``python benchmarks/bench_fixed_cost.py fixed.json`` for the table. The empty-call row is a
Python function of the same signature doing nothing: the floor any call pays here.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from impls import TINY_XML, codec

TINY_WBXML = codec("cython", "xml_to_wbxml")(TINY_XML)


def _empty(data: bytes, **options: Any) -> bytes:
    return data


@pytest.mark.parametrize("impl", ["cython", "libwbxml", "empty"])
@pytest.mark.parametrize("direction", ["wbxml_to_xml", "xml_to_wbxml"])
def test_fixed_cost(benchmark: Any, direction: str, impl: str) -> None:
    data = TINY_WBXML if direction == "wbxml_to_xml" else TINY_XML
    fn = _empty if impl == "empty" else codec(impl, direction)
    benchmark.group = f"fixed cost {direction}"
    benchmark.extra_info.update(op=direction, impl=impl, nbytes=len(data))
    out = benchmark.pedantic(fn, (data,), rounds=200, iterations=200, warmup_rounds=5)
    if impl == "cython":
        assert out == codec("libwbxml", direction)(data)


def table(path: str) -> str:
    with open(path) as fh:
        data = json.load(fh)
    best: dict[tuple[str, str], float] = {}
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        best[(info["op"], info["impl"])] = bench["stats"]["min"]
    lines = ["| call | input bytes | ours µs | libwbxml µs | x libwbxml | empty Python call µs |",
             "|---|---:|---:|---:|---:|---:|"]
    for op, nbytes in (("wbxml_to_xml", len(TINY_WBXML)), ("xml_to_wbxml", len(TINY_XML))):
        ours, lib, empty = (best.get((op, i)) for i in ("cython", "libwbxml", "empty"))
        if ours and lib and empty:
            lines.append(f"| {op} | {nbytes} | {ours * 1e6:.3f} | {lib * 1e6:.2f} | "
                         f"{lib / ours:.0f}x | {empty * 1e6:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(sys.argv[1]))
