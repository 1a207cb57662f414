"""``omadm-codec loadtest``: drive a fleet of simulated devices against a DM server URL (or our
own server, ``--self N``), headless with a live progress bar, then a terminal table, a JSON
file of every figure and a self-contained HTML report; ``--locust ARGS`` hands over to Locust
(its web UI, or master and workers).

Exit status: 0 clean; 1 the server broke the protocol (violations) or sessions failed at the
transport; 2 bad usage (a mix file, an option); 3 no run possible (unreachable URL, TLS
failure, a non-DM answer), with the partial report still written; 130 interrupted (Ctrl-C),
report written.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_VIOLATIONS, EXIT_USAGE, EXIT_FATAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _fail(message: str, status: int) -> int:
    print(f"omadm-codec loadtest: {message}", file=sys.stderr)
    return status


def _need(*modules: str) -> str | None:
    import importlib.util

    for name in modules:
        if importlib.util.find_spec(name) is None:
            return name
    return None


class SelfServer:
    """Our server in its own process (``selfserver``), for ``--self``."""

    def __init__(self, devices: int, mix_file: Path, store: str) -> None:
        # Its stderr goes to a file: a pipe nobody reads could fill and stall the server.
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "omadm_codec.loadtest.selfserver", "--devices",
             str(devices), "--mix", str(mix_file), "--store", store],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("READY "):
            self.proc.wait(timeout=10)
            self.log.seek(0)
            err = self.log.read().strip()
            self.log.close()
            raise RuntimeError(err.splitlines()[-1] if err else "our server did not start")
        self.url = line.split(" ", 1)[1]
        self.stats_url = self.url.rsplit("/", 1)[0] + "/_loadtest/stats"
        deadline = time.monotonic() + 20
        while True:
            try:
                self.stats()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("our server did not answer") from None
                time.sleep(0.05)

    def stats(self) -> dict[str, Any]:
        """What the server saw so far (``/_loadtest/stats``)."""
        with urllib.request.urlopen(self.stats_url, timeout=5) as response:
            data: dict[str, Any] = json.loads(response.read())
            return data

    def stop(self) -> None:
        """Stop the server process (SIGTERM, then SIGKILL after 10 s)."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()


def cmd_loadtest(args: argparse.Namespace) -> int:
    """The ``loadtest`` sub-command; returns the exit status (module docstring)."""
    from .fleet import Fleet
    from .mix import FleetMix, MixError

    try:
        mix = FleetMix.load(args.mix) if args.mix else FleetMix()
        if args.think_time is not None:
            mix.think_time = (args.think_time, args.think_time)
            mix.validate()
    except MixError as exc:
        return _fail(f"--mix: {exc}", EXIT_USAGE)
    devices = args.self if args.self is not None else args.devices
    if args.self is None and not args.url and args.locust is None:
        return _fail("give a server URL, or --self N to drive our own server", EXIT_USAGE)
    if args.self is not None and args.url:
        return _fail("give a server URL or --self N, not both", EXIT_USAGE)
    if devices < 1 or args.duration <= 0:
        return _fail("--devices / --self need at least 1 device, --duration a positive time",
                     EXIT_USAGE)
    fleet = Fleet(mix, devices)
    if args.accounts_out:
        fleet.write_accounts(args.accounts_out)
    if args.locust is not None:
        return _hand_over(args, mix, devices)
    missing = _need("locust", "rich")
    if missing:
        return _fail(f"this needs the loadtest extra ({missing} is missing): "
                     "pip install 'omadm_codec[loadtest]'", EXIT_USAGE)
    with tempfile.TemporaryDirectory(prefix="omadm-loadtest-") as temp:
        server: SelfServer | None = None
        url = args.url
        if args.self is not None:
            mix_file = Path(temp) / "mix.json"
            mix_file.write_text(json.dumps(mix.to_dict()), encoding="utf-8")
            try:
                server = SelfServer(devices, mix_file, args.store)
            except RuntimeError as exc:
                return _fail(f"--self: {exc}", EXIT_USAGE if "--store" in str(exc)
                             else EXIT_FATAL)
            url = server.url
        try:
            return _run(args, fleet, url, server)
        finally:
            if server is not None:
                server.stop()


def _run(args: argparse.Namespace, fleet: Any, url: str, server: SelfServer | None) -> int:
    from .report import build_report, print_summary, write_reports
    from .stats import FleetStats
    from .transport import TransportError, check_reachable, tls_context

    tls = tls_context(args.ca, insecure=args.insecure) if url.startswith("https") else None
    prefix = Path(args.report)
    meta: dict[str, Any] = {
        "url": url, "devices": len(fleet), "duration_s": args.duration,
        "max_sessions": args.max_sessions, "rate": args.rate, "mix": fleet.mix.to_dict(),
        "census": fleet.census(), "engine": "locust (local runner)",
        "server": "ours (--self)" if server is not None else "external"}
    from .. import BACKEND

    meta["backend"] = BACKEND
    try:
        check_reachable(url, tls=tls)
    except TransportError as exc:
        message = f"{url}: {exc.kind}: {exc.detail}"
        stats = FleetStats()
        stats.ended = time.time()
        meta.update(verdict=f"no run: {message}", exit_status=EXIT_FATAL)
        write_reports(build_report(stats, **meta), prefix)
        return _fail(message, EXIT_FATAL)
    from rich.console import Console

    from .engine import run_fleet

    console = Console(stderr=True)
    server_before = server.stats() if server is not None else None
    result = run_fleet(fleet, url, duration=args.duration, max_sessions=args.max_sessions,
                       rate=args.rate, ca_file=args.ca, insecure=args.insecure,
                       progress=not args.no_progress,
                       console=console)
    stats = result.stats
    sessions = max(1, stats.sessions)
    harness_ms = result.harness_cpu_seconds / max(1, result.measured_sessions) * 1e3
    meta.update(stopped_by=result.stopped_by, locust=result.locust,
                harness_cpu_seconds=result.harness_cpu_seconds,
                harness_cpu_ms_per_session=harness_ms)
    if server is not None and server_before is not None:
        try:
            after = server.stats()
        except OSError:
            after = None
        if after is not None:
            cpu = after["cpu_seconds"] - server_before["cpu_seconds"]
            # The server's CPU over its window, per session it completed in that window (its
            # own count: the sessions the harness had not finished reading at the stop were
            # still the server's work).
            served = after["sessions_completed"] - server_before["sessions_completed"]
            per_session = cpu / (served if served > 0 else sessions) * 1e3
            meta.update(server_stats=after, server_cpu_seconds=cpu,
                        server_sessions_completed=served,
                        server_cpu_ms_per_session=per_session,
                        harness_to_server_cpu=harness_ms / per_session if cpu else None)
    if result.stopped_by == "fatal":
        status, verdict = EXIT_FATAL, f"stopped: {result.fatal}"
    elif stats.sessions == 0 and result.stopped_by != "interrupted":
        result.fatal = "no session ran"
        status, verdict = EXIT_FATAL, "no session ran"
    elif result.stopped_by == "interrupted":
        status, verdict = EXIT_INTERRUPTED, "interrupted: the report holds the run so far"
    elif stats.violation_count or stats.error_count:
        status = EXIT_VIOLATIONS
        verdict = (f"the server broke the protocol {stats.violation_count} times; "
                   f"{stats.error_count} transport errors")
    else:
        status, verdict = EXIT_OK, "no protocol violation, no transport error"
    meta.update(verdict=verdict, exit_status=status)
    report = build_report(stats, **meta)
    json_path, html_path = write_reports(report, prefix)
    print_summary(report, console)
    console.print(f"{verdict}\nreport: {json_path} and {html_path}")
    if status == EXIT_FATAL:
        return _fail(f"{url}: {result.fatal}", status)
    return status


LOCUSTFILE = (
    '"""The fleet\'s locustfile, written by ``omadm-codec loadtest --locust``."""\n'
    "from omadm_codec.loadtest._locust import user_class\n\n"
    "DMDevice = user_class()\n")


def _hand_over(args: argparse.Namespace, mix: Any, devices: int) -> int:
    """Run Locust itself on our locustfile (its web UI, CSV, HTML, distributed mode)."""
    if _need("locust"):
        return _fail("--locust needs the loadtest extra: pip install 'omadm_codec[loadtest]'",
                     EXIT_USAGE)
    with tempfile.TemporaryDirectory(prefix="omadm-loadtest-") as temp:
        mix_file = Path(temp) / "mix.json"
        mix_file.write_text(json.dumps(mix.to_dict()), encoding="utf-8")
        # Written here, not shipped as a module: a module that imports Locust would patch any
        # process that walks the package's modules (a docs build, a test importing them all).
        locustfile = Path(temp) / "omadm_locustfile.py"
        locustfile.write_text(LOCUSTFILE, encoding="utf-8")
        command = [sys.executable, "-m", "locust", "-f", str(locustfile),
                   "--dm-devices", str(devices), "--dm-mix", str(mix_file),
                   "--dm-report", args.report]
        if args.url:
            command += ["--host", args.url]
        if args.max_sessions:
            command += ["--dm-max-sessions", str(args.max_sessions)]
        command += list(args.locust)
        return subprocess.call(command)


def add_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``loadtest`` to the command line's sub-commands."""
    parser = sub.add_parser(
        "loadtest", help="a fleet of simulated devices against a DM server, with reports",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", nargs="?", help="the DM server's URL (e.g. https://host/dm)")
    parser.add_argument("--devices", type=int, default=10, help="devices in the fleet")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds to run")
    parser.add_argument("--rate", type=float, default=None,
                        help="devices started per second (default: all at once)")
    parser.add_argument("--mix", help="the fleet mix: a JSON (or TOML) file, see "
                                      "docs/loadtest.md")
    parser.add_argument("--max-sessions", type=int, default=None,
                        help="stop after this many sessions")
    parser.add_argument("--think-time", type=float, default=None,
                        help="seconds between a device's sessions (overrides the mix)")
    parser.add_argument("--self", type=int, default=None, metavar="N",
                        help="start our own server and drive it with N devices")
    parser.add_argument("--store", default="memory",
                        help="--self: the session store (memory, or redis://... with "
                             "issue 15)")
    parser.add_argument("--report", default="omadm-loadtest",
                        help="write PREFIX.json and PREFIX.html (default: omadm-loadtest)")
    parser.add_argument("--accounts-out", metavar="FILE",
                        help="write the fleet's accounts (user,password,auth) as CSV")
    parser.add_argument("--ca", help="CA file the devices trust (https)")
    parser.add_argument("--insecure", action="store_true",
                        help="do not verify the server's certificate")
    parser.add_argument("--no-progress", action="store_true", help="no live progress bar")
    parser.add_argument("--locust", nargs=argparse.REMAINDER, default=None, metavar="ARGS",
                        help="hand over to Locust with ARGS (all that follow), e.g. "
                             "--locust --headless -u 100 -r 10 -t 60s, or --master")
    parser.set_defaults(func=cmd_loadtest)


__all__ = ["add_command", "cmd_loadtest"]
