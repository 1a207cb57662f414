"""Instructions per ``messages.decode`` call, counted by callgrind: every corpus message from its
XML and from its WBXML on the compiled twins, and the ratio of the two (issue 17's
decode(wbxml) >= 2x decode(xml), by instructions rather than by time).

    python benchmarks/instructions.py                      # every message, 100 calls each
    python benchmarks/instructions.py ui_alerts --branches  # one message, with mispredictions

Why counts as well as times: on a machine shared with other work a timing can swing by 30 %
between two runs minutes apart, while a count (``PYTHONHASHSEED=0``: the same dict probes in
every process) moves by under 1 %. A count is
not a time - a WBXML decode spends about as many cycles on mispredicted branches as on
instructions - so ``--branches`` adds callgrind's branch simulation: conditional and indirect
branches executed and mispredicted.

``--floor`` counts the model floor beside them (``Tape(msg).build()`` of
``benchmarks/_floor/model_floor.pyx``, see ``bench_model_floor.py``: the message's model made
and freed without reading any input) and the two readers' own work, ``(xml - floor) /
(wbxml - floor)``. It needs Cython and a C compiler (the floor is built by pyximport).

Each figure is one process running ``2 * calls`` decodes minus one running ``calls`` (the same
start-up, imports, warm-up and one-off costs), divided by ``calls``, with the cyclic GC off (the
decoders turn it off while they build; a collection's cost depends on the rest of the heap).
Needs ``valgrind``; the decoding process runs with ``OMADM_CODEC_REQUIRE_EXT=1`` and stops
unless the compiled twin is loaded.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

WORKER = r'''
import gc
import sys
from pathlib import Path
import omadm_codec
from omadm_codec import messages

assert omadm_codec.BACKEND == "cython", omadm_codec.BACKEND
path, calls = Path(sys.argv[1]), int(sys.argv[2])
if len(sys.argv) > 3:  # the floor of the message in ``path`` (XML), built in sys.argv[3]
    import pyximport
    pyximport.install(build_dir=sys.argv[3], language_level=3)
    sys.path.insert(0, sys.argv[4])
    import model_floor
    call, arg = (lambda tape: tape.build()), model_floor.Tape(messages.decode(path.read_bytes()))
else:
    call, arg = messages.decode, path.read_bytes()


def run(call, arg, calls):  # in a function: no global look-ups in the loop
    for _ in range(calls):
        call(arg)  # the result is freed here, as a server frees a decoded message


gc.disable()  # a collection's cost depends on the whole heap and on when it falls: not counted
run(call, arg, 100)  # warm: one-off costs (caches filled, pools and arenas made) fall here
run(call, arg, calls)
'''
FLOOR_DIR = HERE / "_floor"
FLOOR_BUILD = Path(tempfile.gettempdir()) / "omadm_codec_model_floor"  # bench_model_floor's

EVENTS = re.compile(r"^==\d+== Events\s*:\s*(.+)$", re.M)
COLLECTED = re.compile(r"^==\d+== Collected\s*:\s*(.+)$", re.M)


def count(path: Path, calls: int, branches: bool, python: str,
          floor: bool = False) -> dict[str, int]:
    """callgrind's totals for one process that decodes ``path`` ``calls`` times (``floor``:
    builds and frees the model floor of the XML message ``path``)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMADM_CODEC_REQUIRE_EXT="1", PYTHONHASHSEED="0")
    env.pop("OMADM_CODEC_PUREPYTHON", None)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out"]
        if branches:
            cmd.append("--branch-sim=yes")
        extra = [str(FLOOR_BUILD), str(FLOOR_DIR)] if floor else []
        done = subprocess.run([*cmd, python, "-c", WORKER, str(path), str(calls), *extra], env=env,
                              cwd=tmp, capture_output=True, text=True)
    events, collected = EVENTS.search(done.stderr), COLLECTED.search(done.stderr)
    if done.returncode or not events or not collected:
        raise SystemExit(f"callgrind on {path.name} failed:\n{done.stderr[-2000:]}")
    return dict(zip(events.group(1).split(), map(int, collected.group(1).split()), strict=True))


def per_call(path: Path, calls: int, branches: bool, python: str,
             floor: bool = False) -> dict[str, float]:
    # ``calls`` more after ``calls`` (not after one): a one-off cost in the first tens of
    # calls after the warm-up (about 400,000 instructions for the floor) cancels out too
    base = count(path, calls, branches, python, floor)
    many = count(path, 2 * calls, branches, python, floor)
    return {event: (many[event] - base[event]) / calls for event in many}


def corpus_dir() -> Path:
    corpus = ROOT.parent / "shared" / "corpus"  # as benchmarks/conftest.py chooses it
    return corpus if corpus.is_dir() else ROOT / "tests" / "corpus"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="corpus messages (default: all)")
    parser.add_argument("--calls", type=int, default=100, help="decodes counted per figure")
    parser.add_argument("--branches", action="store_true", help="simulate branch prediction")
    parser.add_argument("--floor", action="store_true", help="count the model floor too")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    paths = sorted(corpus_dir().glob("*.xml"), key=lambda p: p.stat().st_size)
    if args.names:
        paths = [p for p in paths if p.stem in args.names]
    if args.floor and importlib.util.find_spec("pyximport") is None:
        print("--floor needs Cython (pyximport) to build the floor", file=sys.stderr)
        return 2
    kinds = ("xml", "wbxml", "floor") if args.floor else ("xml", "wbxml")
    if args.floor:  # compiled once here, not under valgrind; the counted runs find it built
        subprocess.run([args.python, "-c", WORKER, str(paths[0]), "0", str(FLOOR_BUILD),
                        str(FLOOR_DIR)], check=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT), OMADM_CODEC_REQUIRE_EXT="1"))
    jobs = [(p, kind) for p in paths for kind in kinds]

    def figure(job: tuple[Path, str]) -> dict[str, float]:
        path, kind = job
        return per_call(path if kind == "floor" else path.with_suffix("." + kind), args.calls,
                        args.branches, args.python, kind == "floor")

    with ThreadPoolExecutor(args.jobs) as pool:  # each job is two valgrind processes
        results = list(pool.map(figure, jobs))
    figures = {(p.stem, kind): r for (p, kind), r in zip(jobs, results, strict=True)}
    events = ["Ir", "Bc", "Bcm", "Bi", "Bim"] if args.branches else ["Ir"]
    head = ["message", *(f"{kind} {event}" for event in events for kind in kinds),
            "**Ir xml / wbxml**"]
    if args.floor:
        head += ["Ir xml / floor", "Ir (xml - floor) / (wbxml - floor)",
                 "wbxml's own Ir to cut for 2x"]
    print("| " + " | ".join(head) + " |")
    print("|---|" + "---:|" * (len(head) - 1))
    for p in paths:
        got = {kind: figures[(p.stem, kind)] for kind in kinds}
        row = [p.stem, *(f"{got[kind][event]:,.0f}" for event in events for kind in kinds)]
        x, w = got["xml"]["Ir"], got["wbxml"]["Ir"]
        row.append(f"**{x / w:.2f}x**")
        if args.floor:
            f = got["floor"]["Ir"]
            # 2x by instructions: wbxml <= xml / 2, all of the cut from the reader's own work
            cut = 1 - (x / 2 - f) / (w - f) if w > f else 0.0
            row += [f"{x / f:.2f}x", f"{(x - f) / (w - f):.2f}x" if w > f else "-",
                    f"{100 * cut:.0f} %" if cut > 0 else "-"]
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
