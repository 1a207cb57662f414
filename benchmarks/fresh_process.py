"""Codec speed against libwbxml with each measurement in a fresh process.

libwbxml's time depends on the allocator's history: its output buffer grows by ``realloc``,
whose cost follows glibc's dynamic mmap threshold, so the same call can take several times
longer in a fresh process than deep inside a benchmark run (large_object_b64 decode: about
40 µs in the benchmark process, over 300 µs fresh). This script measures both sides the same
way, side by side: every measurement is a new interpreter that loads the message, makes one
warm-up call and reports the fastest of ``--calls`` further calls; the sides alternate
(ours, libwbxml, ours, ...) and each figure is the median of ``--repeat`` measurements.

    python benchmarks/fresh_process.py                 # ordinary corpus messages
    python benchmarks/fresh_process.py --all           # and the two large ones

Prints a markdown table: per message and direction ours µs, libwbxml µs and the ratio. The
in-process ratios (one long-lived process, pytest-benchmark) come from ``bench_wbxml.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# As benchmarks/conftest.py: the reference corpus beside the workplace, else the project's own.
CORPUS = REPO.parent / "shared" / "corpus"
if not CORPUS.is_dir():  # pragma: no cover - depends on the checkout
    CORPUS = REPO / "tests" / "corpus"
LARGE = ("large_object_b64", "results_large")

WORKER = r'''
import json, sys, time
sys.path.insert(0, sys.argv[1])
from impls import codec
impl, direction, path, calls = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
fn = codec(impl, direction)
data = open(path, "rb").read()
if impl == "cython":
    import omadm_codec
    assert omadm_codec.BACKEND == "cython" and fn.__module__.endswith("_c"), fn.__module__
fn(data)
best = float("inf")
for _ in range(calls):
    start = time.perf_counter()
    fn(data)
    best = min(best, time.perf_counter() - start)
print(json.dumps(best))
'''


def measure(impl: str, direction: str, path: Path, calls: int) -> float:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMADM_CODEC_REQUIRE_EXT="1")
    env.pop("OMADM_CODEC_PUREPYTHON", None)
    out = subprocess.run(
        [sys.executable, "-c", WORKER, str(HERE), impl, direction, str(path), str(calls)],
        env=env, check=True, capture_output=True, text=True).stdout
    return float(json.loads(out.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", action="store_true", help="the large messages too")
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per figure")
    parser.add_argument("--calls", type=int, default=20, help="timed calls per process")
    args = parser.parse_args(argv)
    paths = sorted(CORPUS.glob("*.xml"), key=lambda p: p.stat().st_size)
    if not args.all:
        paths = [p for p in paths if p.stem not in LARGE]
    print("| message | direction | ours µs | libwbxml µs (fresh process) | x libwbxml |")
    print("|---|---|---:|---:|---:|")
    for path in paths:
        for direction, source in (("wbxml_to_xml", path.with_suffix(".wbxml")),
                                  ("xml_to_wbxml", path)):
            calls = max(3, args.calls // 10) if path.stem in LARGE else args.calls
            times: dict[str, list[float]] = {"cython": [], "libwbxml": []}
            for _ in range(args.repeat):
                for impl in times:
                    times[impl].append(measure(impl, direction, source, calls))
            ours, lib = (statistics.median(times[i]) for i in ("cython", "libwbxml"))
            print(f"| {path.stem} | {direction} | {ours * 1e6:.2f} | {lib * 1e6:.1f} | "
                  f"**{lib / ours:.1f}x** |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
