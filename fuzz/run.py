"""Run every fuzz harness for a bounded budget; exit non-zero if any of them failed.

    python fuzz/run.py --runs 20000          # fixed executions per harness
    python fuzz/run.py --jobs 2 --runs 100000 \
        --runs-for wbxml_decode=50000 xml_encode=30000 message=10000 session=2000   # CI
    python fuzz/run.py --seconds 600         # wall-clock budget per harness (by hand)
    python fuzz/run.py --seconds 3600 --targets wbxml_decode message --jobs 2
    fuzz/build_instrumented.sh && python fuzz/run.py --instrumented --seconds 600

The one idea: each harness is a separate libFuzzer process (``harness.py TARGET``) started on a
fresh copy of its seed corpus in ``fuzz/build/corpus/TARGET`` (new inputs accumulate there
between runs); a crash, a hang (``-timeout``), an RSS blow-up (``-rss_limit_mb``) or a twin
mismatch makes that process exit non-zero and leaves the input in ``fuzz/build/artifacts/``.
Copy such an input to ``tests/regressions/TARGET/`` to have the test suite replay it.
``--instrumented`` fuzzes the clang-built copy of ``build_instrumented.sh`` (C coverage of the
compiled twins), preloading the libFuzzer runtime built next to it.
The summary (executions, peak RSS, status per harness) is printed and written to
``fuzz/build/last_run.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import seeds  # noqa: E402
import targets  # noqa: E402

BUILD = HERE / "build"
_STAT = re.compile(r"^stat::(\w+):\s+(\d+)", re.M)
_COV = re.compile(r"cov: (\d+) ft: (\d+)")
# Executions for a slow harness when --runs-for does not name it: a target added after
# .ci/run's --runs-for list must not inherit the fast harnesses' --runs (server_session runs
# ~60 inputs/s, so 100000 would add ~30 minutes).
DEFAULT_RUNS_FOR = {"server_session": 1000, "commands": 5000}


def run_one(name: str, args: argparse.Namespace) -> dict[str, object]:
    corpus = BUILD / "corpus" / name
    artifacts = BUILD / "artifacts" / name
    artifacts.mkdir(parents=True, exist_ok=True)
    seeded = seeds.build(name, corpus)
    cmd = [sys.executable, str(HERE / "harness.py"), name, str(corpus),
           f"-max_len={args.max_len}", f"-timeout={args.timeout}",
           f"-rss_limit_mb={args.rss_limit_mb}", f"-artifact_prefix={artifacts}/",
           "-print_final_stats=1", f"-seed={args.seed}"]
    runs = args.runs_for.get(name, DEFAULT_RUNS_FOR.get(name, args.runs) if args.runs else None)
    cmd.append(f"-runs={runs}" if runs else f"-max_total_time={args.seconds}")
    env = dict(os.environ)
    if args.instrumented:
        env["OMADM_FUZZ_INSTRUMENTED"] = str(BUILD / "instrumented")
        env["LD_PRELOAD"] = str(BUILD / "libfuzzer_preload.so")
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", env=env)
    stats = {key: int(value) for key, value in _STAT.findall(proc.stderr)}
    result: dict[str, object] = {
        "target": name, "returncode": proc.returncode, "seeds": seeded,
        "executions": stats.get("number_of_executed_units", 0),
        "peak_rss_mb": stats.get("peak_rss_mb", 0),
        "coverage": int(_COV.findall(proc.stderr)[-1][0]) if _COV.search(proc.stderr) else 0,
        "corpus_size": sum(1 for _ in corpus.iterdir()),
        "seconds": round(time.monotonic() - start, 1),
        "instrumented": bool(args.instrumented),
    }
    if proc.returncode != 0:
        (BUILD / f"{name}.log").write_text(proc.stdout + proc.stderr)
        result["log"] = str(BUILD / f"{name}.log")
        result["tail"] = (proc.stdout + proc.stderr)[-3000:]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--runs", type=int, help="executions per harness")
    budget.add_argument("--seconds", type=int, help="seconds per harness")
    parser.add_argument("--runs-for", nargs="*", default=[], metavar="TARGET=N",
                        help="executions for some harnesses (the slow ones), with --runs")
    parser.add_argument("--targets", nargs="*", default=sorted(targets.TARGETS),
                        choices=sorted(targets.TARGETS))
    parser.add_argument("--jobs", type=int, default=1, help="harnesses run at once")
    parser.add_argument("--max-len", type=int, default=16384)
    parser.add_argument("--timeout", type=int, default=20, help="seconds for one input")
    parser.add_argument("--rss-limit-mb", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=1, help="libFuzzer seed (reproducible runs)")
    parser.add_argument("--instrumented", action="store_true",
                        help="use the clang build of fuzz/build_instrumented.sh")
    args = parser.parse_args(argv)
    try:
        args.runs_for = {k: int(v) for k, v in (item.split("=", 1) for item in args.runs_for)}
    except ValueError:
        parser.error("--runs-for takes TARGET=N items")
    if args.runs_for and not args.runs:
        parser.error("--runs-for goes with --runs")
    if args.instrumented and not (BUILD / "libfuzzer_preload.so").is_file():
        parser.error("run fuzz/build_instrumented.sh first")
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(lambda name: run_one(name, args), args.targets))
    BUILD.mkdir(exist_ok=True)
    (BUILD / "last_run.json").write_text(json.dumps(results, indent=2))
    print(f"{'target':14} {'status':7} {'executions':>10} {'seeds':>6} {'corpus':>6} "
          f"{'coverage':>8} {'peak RSS MB':>11} {'seconds':>7}")
    for r in results:
        status = "ok" if r["returncode"] == 0 else "FAILED"
        print(f"{r['target']:14} {status:7} {r['executions']:>10} {r['seeds']:>6} "
              f"{r['corpus_size']:>6} {r['coverage']:>8} {r['peak_rss_mb']:>11} "
              f"{r['seconds']:>7}")
    failed = [r for r in results if r["returncode"] != 0]
    for r in failed:
        print(f"\n== {r['target']} failed (full log: {r['log']})\n{r['tail']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
