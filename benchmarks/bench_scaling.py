"""Decode cost against message size, 1 MB to 24 MB: is it linear (no cliff at libxml2's 10 MB
node limit, where the fast path used to hand every larger message to lxml)?

Messages are made here (a Results of many ~250-byte items, XML and its WBXML), so no corpus is
needed. Each size is decoded through the public ``omadm_codec.decode`` on the compiled twin and
on the pure one, and parsed by lxml (``etree.fromstring``, a tree and no model) as the peer,
in one run. Run: ``python -m pytest benchmarks/bench_scaling.py --benchmark-json=scale.json``
then ``python benchmarks/bench_scaling.py scale.json`` for the table: the best time per MB at
each size, and its ratio to the time per MB at 1 MB (1.0 = linear).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import pytest
from lxml import etree

import omadm_codec.messages as messages
from omadm_codec import _backend
from omadm_codec.limits import Limits
from omadm_codec.wbxml import xml_to_wbxml

MB = 1_000_000
SIZES = [1, 2, 4, 8, 10, 12, 16, 24]
"""Megabytes of XML; 10 and 12 straddle libxml2's 10,000,000-byte node limit."""
PURE_MAX = 12
"""The pure twin is timed up to this size (it is ~30x slower), across the old 10 MB cliff."""
LIMITS = Limits(max_input_size=64 << 20, max_elements=10_000_000)

_HEAD = (b'<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD>'
         b"<VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>2</MsgID>"
         b"<Target><LocURI>http://dm.example/</LocURI></Target>"
         b"<Source><LocURI>IMEI:1</LocURI></Source></SyncHdr><SyncBody>"
         b"<Results><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>4</CmdRef>")
_TAIL = b"</Results><Final/></SyncBody></SyncML>"


@cache
def message(megabytes: int) -> tuple[bytes, bytes]:
    """(XML, WBXML) of a Results holding enough items for ``megabytes`` MB of XML."""
    items = []
    size = len(_HEAD) + len(_TAIL)
    index = 0
    while size < megabytes * MB:
        item = (b"<Item><Source><LocURI>./Vendor/Acme/Log/%d</LocURI></Source><Data>"
                % index + b"entry %08d " % index + b"x" * 150 + b"</Data></Item>")
        items.append(item)
        size += len(item)
        index += 1
    xml = _HEAD + b"".join(items) + _TAIL
    return xml, bytes(xml_to_wbxml(xml, limits=LIMITS))


@contextmanager
def twin(impl: str) -> Iterator[None]:
    saved = messages._codec
    messages._codec = _backend.twin("messages._fast", "c" if impl == "cython" else "py")
    try:
        yield
    finally:
        messages._codec = saved


CASES = [(impl, fmt, size) for size in SIZES for fmt in ("xml", "wbxml")
         for impl in ("cython", "python", "lxml")
         if not (impl == "lxml" and fmt == "wbxml") and not (impl == "python" and size > PURE_MAX)]


@pytest.mark.parametrize(("impl", "fmt", "size"), CASES,
                         ids=[f"{i}-{f}-{s}MB" for i, f, s in CASES])
def test_decode_scaling(benchmark: Any, impl: str, fmt: str, size: int) -> None:
    xml, wbxml = message(size)
    data = xml if fmt == "xml" else wbxml
    call: Callable[[], Any]
    if impl == "lxml":
        call = lambda: etree.fromstring(data)  # noqa: E731
    else:
        call = lambda: messages.decode(data, limits=LIMITS)  # noqa: E731
        with twin(impl):
            msg = call()
            assert len(msg.commands[0].items) > 1000
    benchmark.extra_info.update(impl=impl, fmt=fmt, size=size, nbytes=len(data))
    rounds = 3 if impl == "python" else 7
    if impl == "lxml":
        benchmark.pedantic(call, rounds=rounds, iterations=1, warmup_rounds=1)
    else:
        with twin(impl):
            benchmark.pedantic(call, rounds=rounds, iterations=1, warmup_rounds=1)


def table(path: str) -> str:
    with open(path) as fh:
        data = json.load(fh)
    per_mb: dict[tuple[str, str], dict[int, float]] = {}
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        xml_bytes = len(message(info["size"])[0])
        per_mb.setdefault((info["impl"], info["fmt"]), {})[info["size"]] = \
            bench["stats"]["min"] / (xml_bytes / MB)
    lines = ["| decode | " + " | ".join(f"{s} MB" for s in SIZES) + " |",
             "|---|" + "---:|" * len(SIZES)]
    for key in sorted(per_mb):
        row = per_mb[key]
        base = row[SIZES[0]]
        cells = [f"{row[s] * 1e3:.1f} ms ({row[s] / base:.2f}x)" if s in row else "-"
                 for s in SIZES]
        lines.append(f"| {key[0]} {key[1]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + ("\n\nEach cell: the best of the rounds' time per MB of XML (the "
                               "machine is shared: the best is the least disturbed), and its "
                               "ratio to the time per MB at 1 MB (1.00x = linear).")


if __name__ == "__main__":
    print(table(sys.argv[1]))
