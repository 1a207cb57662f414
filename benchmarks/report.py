"""Turn a pytest-benchmark JSON file into the README's ratio tables (medians, one run).

Usage: ``python benchmarks/report.py bench.json``. Every ratio compares timings taken in the
same run, on the same machine; none is a timed assertion.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict


def _medians(path: str) -> tuple[dict[tuple[str, str, str], float], dict[str, int]]:
    with open(path) as fh:
        data = json.load(fh)
    med: dict[tuple[str, str, str], float] = {}
    sizes: dict[str, int] = {}
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        if "op" not in info or "file" not in info:
            continue
        med[(info["op"], info["file"], info["impl"])] = bench["stats"]["median"]
        if info["op"] == "encode":
            sizes[info["file"]] = info["nbytes"]
    return med, sizes


def wbxml_tables(path: str) -> str:
    med, sizes = _medians(path)
    files = sorted({f for (_, f, _) in med}, key=lambda f: sizes.get(f, 0))
    lines = [
        "| message | XML bytes | decode ours µs | decode libwbxml µs | **x libwbxml** | x pure "
        "| encode ours µs | encode libwbxml µs | **x libwbxml** | x pure | strtbl / plain |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    mbps: dict[tuple[str, str], float] = defaultdict(float)
    for f in files:
        row = [f, f"{sizes.get(f, 0):,}"]
        for op in ("decode", "encode"):
            c, py, lib = (med.get((op, f, i)) for i in ("cython", "python", "libwbxml"))
            row += [f"{c * 1e6:.1f}" if c else "-", f"{lib * 1e6:.1f}" if lib else "-",
                    f"**{lib / c:.1f}x**" if c and lib else "-",
                    f"{py / c:.1f}x" if c and py else "-"]
            if c:
                mbps[(op, f)] = sizes.get(f, 0) / c / 1e6
        plain, strtbl = med.get(("encode", f, "cython")), med.get(("encode_strtbl", f, "cython"))
        row.append(f"{strtbl / plain:.2f}x" if plain and strtbl else "-")
        lines.append("| " + " | ".join(row) + " |")
    out = "\n".join(lines)
    for op in ("decode", "encode"):
        big, ref = mbps.get((op, "results_large")), mbps.get((op, "pkg2_server_mgmt"))
        if big and ref:
            out += (f"\n\nLinear cost, {op}: results_large {big:.0f} MB/s vs pkg2_server_mgmt "
                    f"{ref:.0f} MB/s of XML (ratio {big / ref:.2f})")
    return out


if __name__ == "__main__":
    print(wbxml_tables(sys.argv[1]))
