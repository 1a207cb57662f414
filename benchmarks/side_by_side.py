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
best = float("inf")
deadline = time.perf_counter() + float(sys.argv[1])
rounds = 0
while rounds < 5 or time.perf_counter() < deadline:
    start = time.perf_counter()
    for uri in uris:
        get(uri, SRV)
    best = min(best, time.perf_counter() - start)
    rounds += 1
print(json.dumps({"rate": len(uris) / best, "rounds": rounds,
                  "python": sys.version.split()[0], "uri_twin": tree._uri.__name__}))
'''

WORKERS = {"tree": TREE_WORKER}


def run_side(kind: str, python: str, path: Path, seconds: float) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(path), OMADM_CODEC_REQUIRE_EXT="1")
    env.pop("OMADM_CODEC_PUREPYTHON", None)
    out = subprocess.run([python, "-c", WORKERS[kind], str(seconds)], env=env, check=True,
                         capture_output=True, text=True, cwd=str(path)).stdout
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
    best: dict[str, float] = {"old": 0.0, "new": 0.0}
    for run in range(args.runs):
        for side, path in (("old", args.base), ("new", args.new)):
            result = run_side(args.kind, args.python, path.resolve(), args.seconds)
            rate = float(result["rate"])  # type: ignore[arg-type]
            best[side] = max(best[side], rate)
            print(f"run {run + 1} {side}: {rate:,.0f}/s  ({result['python']}, "
                  f"{result['uri_twin']}, {result['rounds']} rounds)")
    print(f"{args.kind}: old {best['old']:,.0f}/s, new {best['new']:,.0f}/s, "
          f"new/old {best['new'] / best['old']:.2f}x (best run of each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
