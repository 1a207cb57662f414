"""The headless run: Locust as a library (one local runner), a live progress bar, and the stop
rules (``--duration``, the maximum session count, a fatal failure, Ctrl-C or SIGTERM).

The one idea: the engine only starts the Users and watches; what a session does is the
device's, what it counts is ``FleetStats``'s. Whatever ends the run, the Users are stopped and
the figures so far are returned, so the caller always writes a report.
"""

from __future__ import annotations

import gc
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from .fleet import Fleet
from .stats import FleetStats


@dataclass(slots=True)
class EngineResult:
    """What a run left: its figures, what stopped it, the harness's CPU time."""

    stats: FleetStats
    stopped_by: str
    """``duration``, ``max_sessions``, ``fleet_done``, ``fatal``, ``interrupted``."""
    fatal: str | None = None
    harness_cpu_seconds: float = 0.0
    """The harness process's CPU time from the start of the load to the stop rule (Locust's
    own shutdown after it, which walks every frame's module with ``inspect.stack()``, is no
    session's work)."""
    measured_sessions: int = 0
    """Sessions the run had finished when ``harness_cpu_seconds`` was read."""
    locust: dict[str, Any] = field(default_factory=dict)


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def run_fleet(fleet: Fleet, url: str, *, duration: float, max_sessions: int | None = None,
              rate: float | None = None, ca_file: str | None = None, insecure: bool = False,
              progress: bool = True, console: Any = None,
              fatal_after: int | None = None) -> EngineResult:
    """Drive ``fleet`` against ``url`` until a stop rule fires. Imports Locust (gevent
    monkey-patches this process)."""
    import gevent
    import locust
    from locust.env import Environment

    from . import _locust as locust_user

    user = locust_user.user_class()
    run = locust_user.RUN = locust_user.FleetRun(fleet, url, max_sessions, ca_file=ca_file,
                                                 insecure=insecure)
    environment = Environment(user_classes=[user], events=locust.events,
                              host=url)
    runner = environment.create_local_runner()
    threshold = fatal_after if fatal_after is not None else min(len(fleet), 10)
    stop = {"requested": False}

    def on_term(*_: object) -> None:
        stop["requested"] = True

    previous = signal.signal(signal.SIGTERM, on_term)
    thresholds = gc.get_threshold()
    stats = run.stats
    cpu_start = _cpu()
    stats.started = time.time()
    started = time.monotonic()
    stopped_by, fatal = "duration", None
    bar: _Bar | None = None
    try:
        # Inside the ``try``: a Ctrl-C while the devices are built still writes a report.
        run.prepare()
        # Every message allocates thousands of short-lived objects; at the default gen-0
        # threshold (700) the collector runs every few messages and walks every device's
        # tree: 15-20% of the harness's CPU (measured). Collections stay, just rarer.
        gc.set_threshold(50_000, 50, 100)
        # What exists now (the devices' trees, Locust, the modules) lives as long as the run:
        # out of the collector's sight, so a full collection walks only what sessions
        # allocate.
        gc.collect()
        gc.freeze()
        bar = _Bar(duration, max_sessions, console) if progress else None
        cpu_start = _cpu()
        stats.started = time.time()
        started = time.monotonic()
        runner.start(len(fleet), spawn_rate=rate or float(len(fleet)))
        while True:
            gevent.sleep(0.2)
            if bar is not None:
                bar.update(stats, time.monotonic() - started)
            fatal = stats.fatal(threshold)
            if fatal is not None:
                stopped_by = "fatal"
                break
            if stop["requested"]:
                stopped_by = "interrupted"
                break
            if time.monotonic() - started >= duration:
                stopped_by = "duration"
                break
            if max_sessions is not None and stats.sessions >= max_sessions:
                stopped_by = "max_sessions"
                break
            if runner.user_count == 0 and run.taken and time.monotonic() - started > 0.5:
                stopped_by = "fleet_done"
                break
    except KeyboardInterrupt:
        stopped_by = "interrupted"
    finally:
        cpu_end, measured = _cpu(), stats.sessions
        runner.quit()
        signal.signal(signal.SIGTERM, previous)
        gc.set_threshold(*thresholds)
        gc.unfreeze()
        stats.ended = time.time()
        if bar is not None:
            bar.close(stats, time.monotonic() - started)
    return EngineResult(stats, stopped_by, fatal, cpu_end - cpu_start, measured,
                        locust_user.locust_summary(environment))


class _Bar:
    """The live line: elapsed against the duration (or sessions against the maximum),
    sessions/s, p50/p99, errors and violations."""

    def __init__(self, duration: float, max_sessions: int | None, console: Any) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = console if console is not None else Console(stderr=True)
        self.duration = duration
        self.max_sessions = max_sessions
        self.progress = Progress(TextColumn("[bold]DM fleet"), BarColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[figures]}"),
                                 console=self.console, auto_refresh=False, transient=False)
        self.task = self.progress.add_task("run", total=1000, figures="starting")
        self.progress.start()

    def update(self, stats: FleetStats, elapsed: float) -> None:
        live = stats.live()
        done = elapsed / self.duration if self.duration else 0.0
        if self.max_sessions:
            done = max(done, stats.sessions / self.max_sessions)
        figures = (f"{live['sessions']:,} sessions  {live['rate']:,.1f}/s  "
                   f"p50 {live['p50_ms']:.1f} ms  p99 {live['p99_ms']:.1f} ms  "
                   f"errors {live['errors']:,}  violations {live['violations']:,}")
        self.progress.update(self.task, completed=min(1.0, done) * 1000, figures=figures)
        self.progress.refresh()

    def close(self, stats: FleetStats, elapsed: float) -> None:
        self.update(stats, elapsed)
        self.progress.stop()


__all__ = ["EngineResult", "run_fleet"]
