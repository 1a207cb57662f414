"""Old commit against new, side by side in one run: each side in its own subprocess with its own
``PYTHONPATH``, the runs interleaved (old, new, old, new, ...) so both see the same machine.

    python benchmarks/side_by_side.py tree --base ../base
    python benchmarks/side_by_side.py tree --base ../base312 --python python3.12

``--base`` is a checkout of the commit to compare against with its extensions built in place
(``git worktree add ../base 2c882d0 && cd ../base && python setup.py build_ext --inplace``),
built for the interpreter given by ``--python``. Both sides must run their compiled twins:
a side that reports another backend stops the run. Prints one line per run and the ratio of
the best rates (new / old).

``tree``: ``DMTree.get`` on random readable leaves of a 10,000-node device tree (the tree of
``bench_tree.py``), through the public API only, so the same code drives both commits.

``codec``: ``wbxml_to_xml`` and ``xml_to_wbxml`` (the public functions) on every corpus message,
calls per second; for the large messages, the check that they did not get slower.

``messages``: ``messages.decode`` of every corpus message from its XML and from its WBXML, calls
per second, and each side's ratio of the two (issue 17's decode(wbxml) >= 2x decode(xml)),
so an old and a new commit's ratios come from the same minutes of the same machine.

    python benchmarks/side_by_side.py messages --base ../base --runs 3

``session``: whole DM sessions in memory as ``benchmarks/bench_session.py`` runs them (one
device, one server, md5 client authentication, 20 commands: 10 Gets and 10 Replaces; package
1 to the Final-only package 4), WBXML and XML, sessions per second of the thread's CPU time
(``time.thread_time``) in rounds of 4 sessions; every round checks that all 80 commands were
completed. Both the server and the device side run in the timed loop, each from its own commit.

    python benchmarks/side_by_side.py session --base ../base --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NEW = HERE.parent

TREE_WORKER = r'''
import json, random, sys, time
import omadm_codec
from omadm_codec.tree import DMTree, add_dm_account

SRV = "srv1.example"
assert omadm_codec.BACKEND == "cython", omadm_codec.BACKEND


def build():
    tree = DMTree.with_standard_objects(dev_id="IMEI:493005100592800", man="Acme", mod="X1",
                                        server_id=SRV, max_depth=16, max_tot_len=255,
                                        max_seg_len=64)
    for number in (2, 3):
        add_dm_account(tree, f"srv{number}example", server_id=f"srv{number}.example",
                       addr=f"https://dm{number}.example/", port=443)
    tree.device_add("./Vendor", format="node", acl=f"Add={SRV}&Get=*&Replace={SRV}")
    group = 0
    while tree.node_count < 10_000:
        tree.device_add(f"./Vendor/Acme/Group{group}", format="node",
                        acl=f"Get={SRV}&Replace={SRV}" if group % 3 == 0 else "")
        for leaf in range(50):
            if tree.node_count >= 10_000:
                break
            tree.device_add(f"./Vendor/Acme/Group{group}/Setting{leaf}", str(leaf * group),
                            format="int")
        group += 1
    assert tree.node_count == 10_000
    return tree


def leaves(node, path):
    if node.children is None:
        yield "./" + "/".join(path)
        return
    for name, child in node.children.items():
        yield from leaves(child, path + (name,))


tree = build()
readable = []
for uri in leaves(tree.root, ()):
    try:
        tree.get(uri, SRV)
    except Exception:
        continue
    readable.append(uri)
rng = random.Random(4711)
uris = [rng.choice(readable) for _ in range(2000)]
uris = [uri[2:] if i % 4 == 0 else uri for i, uri in enumerate(uris)]
get = tree.get
# Short rounds (100 Gets, well inside a scheduler time slice on a shared machine, for the old
# side as for the new), cycling through the 2,000 URIs: the rate is 2,000 over the sum of each
# chunk's best time.
chunks = [uris[k:k + 100] for k in range(0, len(uris), 100)]
best = [float("inf")] * len(chunks)
deadline = time.perf_counter() + float(sys.argv[1])
rounds = 0
while rounds < 5 * len(chunks) or time.perf_counter() < deadline:
    k = rounds % len(chunks)
    start = time.perf_counter()
    for uri in chunks[k]:
        get(uri, SRV)
    best[k] = min(best[k], time.perf_counter() - start)
    rounds += 1
print(json.dumps({"rates": {"DMTree.get": len(uris) / sum(best)}, "rounds": rounds,
                  "python": sys.version.split()[0], "twin": tree._uri.__name__}))
'''

BEST_RATE = r'''
import time


def best_rate(fn, data, calls, seconds):
    """Calls per second of fn(data) in its best round of ``calls`` calls, over at least three
    rounds and ``seconds``."""
    calls = max(1, calls)
    best = float("inf")
    deadline = time.perf_counter() + seconds
    rounds = 0
    while rounds < 3 or time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(calls):
            fn(data)
        best = min(best, (time.perf_counter() - start) / calls)
        rounds += 1
    return 1 / best
'''

CODEC_WORKER = BEST_RATE + r'''
import json, sys, time
from pathlib import Path
import omadm_codec
from omadm_codec import wbxml_to_xml, xml_to_wbxml

assert omadm_codec.BACKEND == "cython", omadm_codec.BACKEND
corpus = Path(sys.argv[2])
seconds = float(sys.argv[1])
rates = {}
for path in sorted(corpus.glob("*.xml"), key=lambda p: p.stat().st_size):
    xml = path.read_bytes()
    wbxml = path.with_suffix(".wbxml").read_bytes()
    for name, fn, data in (("decode", wbxml_to_xml, wbxml), ("encode", xml_to_wbxml, xml)):
        # rounds of ~2 ms at most: inside a time slice
        rates[f"{name} {path.stem}"] = best_rate(fn, data, int(2e4 // len(data)), seconds / 22)
print(json.dumps({"rates": rates, "rounds": 0, "python": sys.version.split()[0],
                  "twin": wbxml_to_xml.__module__}))
'''

MESSAGES_WORKER = BEST_RATE + r'''
import json, sys, time
from pathlib import Path
import omadm_codec
from omadm_codec import messages

assert omadm_codec.BACKEND == "cython", omadm_codec.BACKEND
corpus = Path(sys.argv[2])
seconds = float(sys.argv[1])
rates = {}
paths = sorted(corpus.glob("*.xml"), key=lambda p: p.stat().st_size)
for path in paths:
    for kind in ("xml", "wbxml"):
        data = path.with_suffix("." + kind).read_bytes()
        # rounds of ~1-2 ms: inside a time slice
        rates[f"decode({kind}) {path.stem}"] = best_rate(messages.decode, data,
                                                         int(4e4 // len(data)),
                                                         seconds / (2 * len(paths)))
print(json.dumps({"rates": rates, "rounds": 0, "python": sys.version.split()[0],
                  "twin": omadm_codec.BACKEND}))
'''

SESSION_WORKER = r'''
import json, statistics, sys, time
import omadm_codec
try:  # the layout after issue 14: one package per layer
    from omadm_codec.messages.model import Get, Item, Meta, Replace, Target
    from omadm_codec.security import auth
    from omadm_codec.security.nonces import NonceManager
    from omadm_codec.tools.simulator import (DEVICE_SECRET, DEVICE_USER, SERVER_ID, build_tree,
                                             run_in_memory)
except ImportError:  # the flat layout of 2c882d0
    from omadm_codec import auth
    from omadm_codec.model import Get, Item, Meta, Replace, Target
    from omadm_codec.nonces import NonceManager
    from omadm_codec.simulator import (DEVICE_SECRET, DEVICE_USER, SERVER_ID, build_tree,
                                       run_in_memory)
from omadm_codec.session import ClientSession, ServerSession
from omadm_codec.session import events as ev

assert omadm_codec.BACKEND == "cython", omadm_codec.BACKEND
seconds = float(sys.argv[1])
STORED = {DEVICE_USER: auth.secret_hash(DEVICE_USER, DEVICE_SECRET)}


def twenty_commands():  # as benchmarks/bench_session.py: 10 Gets, 10 Replaces
    gets = [Get("0", [Item(target=Target("./Vendor/Acme/Settings/Ringtone"))])
            for _ in range(10)]
    replaces = [Replace("0", [Item(target=Target("./Vendor/Acme/Settings/Brightness"),
                                   meta=Meta(format="int"), data=str(40 + i))])
                for i in range(10)]
    return gets + replaces


rates = {}
for fmt in ("wbxml", "xml"):
    tree = build_tree(server_auth="NONE")
    nonces = NonceManager()
    completed = [0]

    def app(server, events):
        for event in events:
            if isinstance(event, ev.SessionStarted):
                server.send_commands(twenty_commands())
            elif isinstance(event, ev.CommandCompleted):
                completed[0] += 1

    def session():
        server = ServerSession(server_id=SERVER_ID, server_uri="http://127.0.0.1/dm",
                               secret_lookup=STORED.get, nonces=nonces)
        client = ClientSession(tree, fmt=fmt)
        return run_in_memory(client, server, app=app)

    first = session()  # takes the md5 challenge; the timed sessions reuse the nonce
    done = session()
    assert len(done.messages) == 4, len(done.messages)
    # Rounds of 4 sessions (about 1-2 ms, inside a scheduler time slice), timed in the
    # thread's CPU time; the rate is from the median round (the best round is printed too).
    per_round = 4
    times = []
    deadline = time.perf_counter() + seconds / 2
    while len(times) < 50 or time.perf_counter() < deadline:
        before = completed[0]
        start = time.thread_time()
        for _ in range(per_round):
            session()
        times.append((time.thread_time() - start) / per_round)
        assert completed[0] - before == 20 * per_round, completed[0] - before
    rates[f"sessions/s {fmt}, median round"] = 1 / statistics.median(times)
    rates[f"sessions/s {fmt}, best round"] = 1 / min(times)
print(json.dumps({"rates": rates, "rounds": len(times), "python": sys.version.split()[0],
                  "twin": omadm_codec.BACKEND}))
'''

WORKERS = {"tree": TREE_WORKER, "codec": CODEC_WORKER, "messages": MESSAGES_WORKER,
           "session": SESSION_WORKER}


def run_side(kind: str, python: str, path: Path, seconds: float) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(path), OMADM_CODEC_REQUIRE_EXT="1")
    env.pop("OMADM_CODEC_PUREPYTHON", None)
    corpus = NEW.parent / "shared" / "corpus"  # as benchmarks/conftest.py chooses it
    if not corpus.is_dir():  # pragma: no cover - depends on the checkout
        corpus = NEW / "tests" / "corpus"
    out = subprocess.run([python, "-c", WORKERS[kind], str(seconds), str(corpus)], env=env,
                         check=True, capture_output=True, text=True, cwd=str(path)).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=sorted(WORKERS))
    parser.add_argument("--base", type=Path, default=NEW.parent / "base",
                        help="checkout of the old commit, extensions built (default ../base)")
    parser.add_argument("--new", type=Path, default=NEW, help="this checkout (default)")
    parser.add_argument("--python", default=sys.executable, help="interpreter for both sides")
    parser.add_argument("--runs", type=int, default=4, help="runs per side, interleaved")
    parser.add_argument("--seconds", type=float, default=2.0, help="timing per run")
    args = parser.parse_args(argv)
    best: dict[str, dict[str, float]] = {"old": {}, "new": {}}
    for run in range(args.runs):
        for side, path in (("old", args.base), ("new", args.new)):
            result = run_side(args.kind, args.python, path.resolve(), args.seconds)
            rates: dict[str, float] = result["rates"]  # type: ignore[assignment]
            for name, rate in rates.items():
                best[side][name] = max(best[side].get(name, 0.0), rate)
            shown = ", ".join(f"{name} {rate:,.0f}/s" for name, rate in list(rates.items())[:2])
            print(f"run {run + 1} {side}: {shown}{' ...' if len(rates) > 2 else ''} "
                  f"({result['python']}, {result['twin']})", flush=True)
    print(f"\n| {args.kind} (calls/s, best run of each) | old | new | new / old |")
    print("|---|---:|---:|---:|")
    for name, old_rate in best["old"].items():
        new_rate = best["new"][name]
        print(f"| {name} | {old_rate:,.0f} | {new_rate:,.0f} | **{new_rate / old_rate:.2f}x** |")
    if args.kind == "messages":
        print("\n| message | decode(wbxml) / decode(xml), old | new |")
        print("|---|---:|---:|")
        for name in best["new"]:
            if name.startswith("decode(xml) "):
                stem = name.split(" ", 1)[1]
                ratio = {side: best[side][f"decode(wbxml) {stem}"] / best[side][name]
                         for side in ("old", "new")}
                print(f"| {stem} | {ratio['old']:.2f}x | **{ratio['new']:.2f}x** |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
