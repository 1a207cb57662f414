"""The harness must not be the bottleneck: its CPU time per session against what one server
worker spends per session, measured in the same run (issue 16: harness <= 0.5 x server).

Each run is ``omadm-codec loadtest --self N`` with think time 0 and the standard 20-command
mix: our server in its own process (one uvicorn worker, in-memory store), the harness in
another (Locust's local runner, one process). The harness's CPU time is its process CPU from
the start of the load to the stop rule (the devices' trees are built before it, once per
device; Locust's shutdown comes after it); the server's is its process CPU over the whole run
(read by the server itself, ``/_loadtest/stats``). Each is divided by the sessions completed
in its window. The machine's load average is printed before and after: the ratio is what
two processes sharing the same cores measured, not an absolute.

    python benchmarks/bench_loadtest.py [--devices 50] [--duration 15] [--repeat 3]

Prints one row per run and the median, as a Markdown table. Both processes share the
machine's cores with whatever else runs: repeat, and read the ratio, not the absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

MIX = {"think_time": 0, "generic_alert": 0.0, "large_object": 0.0}
"""The standard session: package 1, the 20 commands (10 Get, 10 Replace), their answers, the
Final package; encodings and auth types as the default mix spreads them."""


def one_run(devices: int, duration: float, fmt_share: float | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as temp:
        mix = dict(MIX)
        if fmt_share is not None:
            mix["wbxml"] = fmt_share
        mix_file = Path(temp) / "mix.json"
        mix_file.write_text(json.dumps(mix))
        prefix = Path(temp) / "bench"
        done = subprocess.run(
            [sys.executable, "-m", "omadm_codec", "loadtest", "--self", str(devices),
             "--duration", str(duration), "--mix", str(mix_file), "--report", str(prefix),
             "--no-progress"], capture_output=True, text=True, env=dict(os.environ),
            timeout=duration + 120)
        if done.returncode not in (0, 1):  # 1: the server broke the protocol (reported)
            raise SystemExit(f"the run failed ({done.returncode}): {done.stderr[-2000:]}")
        report = json.loads(prefix.with_name("bench.json").read_text())
    run, summary = report["run"], report["summary"]
    return {"sessions": summary["completed"], "sessions_per_s": summary["completed_per_s"],
            "harness_ms": run["harness_cpu_ms_per_session"],
            "server_ms": run["server_cpu_ms_per_session"],
            "ratio": run["harness_cpu_ms_per_session"] / run["server_cpu_ms_per_session"],
            "violations": summary["violations"], "backend": run["backend"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--wbxml", type=float, default=None,
                        help="share of WBXML devices (default: the default mix's 0.5)")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    before = os.getloadavg()
    rows = [one_run(args.devices, args.duration, args.wbxml) for _ in range(args.repeat)]
    after = os.getloadavg()
    print(f"backend: {rows[0]['backend']}, {args.devices} devices, {args.duration:g} s per run; "
          f"load average {before[0]:.2f} before, {after[0]:.2f} after")
    print("| run | sessions | sessions/s (one harness process) | harness CPU ms/session "
          "| server CPU ms/session | harness / server |")
    print("|---|---:|---:|---:|---:|---:|")
    for index, row in enumerate(rows, 1):
        print(f"| {index} | {row['sessions']:,} | {row['sessions_per_s']:.0f} | "
              f"{row['harness_ms']:.3f} | {row['server_ms']:.3f} | {row['ratio']:.2f} |")
    med = {key: statistics.median(row[key] for row in rows)
           for key in ("sessions_per_s", "harness_ms", "server_ms", "ratio")}
    print(f"| median | | {med['sessions_per_s']:.0f} | {med['harness_ms']:.3f} | "
          f"{med['server_ms']:.3f} | **{med['ratio']:.2f}** |")
    violations = sum(row["violations"] for row in rows)
    if violations:
        print(f"the server broke the protocol {violations} times (see a run's report)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
