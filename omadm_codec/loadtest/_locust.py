"""The Locust side: ``DMDevice``, a ``FastHttpUser`` that is one simulated device of the fleet,
and the event hooks that carry our figures through Locust (one process or master and
workers).

The one idea: a User takes the next device of the fleet (worker ``w`` of ``W`` takes devices
``w, w + W, w + 2W...``), runs its sessions on Locust's geventhttpclient with think time
between them, and records each ``SessionResult`` in this process's ``FleetStats``. Every HTTP
request shows in Locust's own statistics under its package (``pkg1``, ``pkg3``), every session
under ``DM session``, every violation under ``DM violation``; workers send our figures to
the master with each report (``report_to_master`` / ``worker_report``), where they merge.

Importing this module does not import Locust; ``user_class()`` does (and with it gevent, which
monkey-patches the process): only the ``loadtest`` engine and the locustfile that ``omadm-codec
loadtest --locust`` writes call it.
"""

from __future__ import annotations

import random
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .conformance import KINDS
from .device import SimulatedDevice
from .fleet import Fleet
from .http1 import Connection, Target
from .mix import FleetMix
from .stats import FleetStats
from .transport import Reply, TransportError, classify, tls_context


class ProtocolViolation(Exception):
    """How a violation shows in Locust's failure table: its kind, then the example."""


class SessionFailed(Exception):
    """How a session that did not complete shows in Locust's failure table."""


PREPARED_DEVICES = 5000
"""Devices ``FleetRun.prepare`` builds before a run (about 3 ms each)."""


@dataclass(slots=True)
class FleetRun:
    """The fleet this process drives, and its figures."""

    fleet: Fleet
    url: str
    max_sessions: int | None = None
    offset: int = 0
    stride: int = 1
    ca_file: str | None = None
    insecure: bool = False
    stats: FleetStats = field(default_factory=FleetStats)
    taken: int = 0
    started_sessions: int = 0
    devices: list[SimulatedDevice] = field(default_factory=list)

    def take(self) -> SimulatedDevice | None:
        """The next device for a new User, or None when the fleet is used up."""
        position = self.offset + self.stride * self.taken
        if position >= len(self.fleet):
            return None
        self.taken += 1
        if self.taken <= len(self.devices):
            return self.devices[self.taken - 1]  # built by ``prepare``
        device = SimulatedDevice(self.fleet[position], self.url, self.fleet.mix)
        self.devices.append(device)
        return device

    def prepare(self, limit: int = PREPARED_DEVICES) -> None:
        """Build the first ``limit`` devices this process drives, trees included, before
        the run: a device's tree is built once, not per session, so a short run's CPU time
        per session should not carry it (the rest are built as their Users start)."""
        while len(self.devices) < limit:
            position = self.offset + self.stride * len(self.devices)
            if position >= len(self.fleet):
                break
            device = SimulatedDevice(self.fleet[position], self.url, self.fleet.mix)
            device.tree  # noqa: B018 - built now, not in the first session
            self.devices.append(device)

    def tls(self) -> ssl.SSLContext | None:
        """The devices' TLS context, made after gevent patched ``ssl`` (so it is gevent's)."""
        if not self.url.startswith("https"):
            return None
        return tls_context(self.ca_file, insecure=self.insecure)

    def may_start(self) -> bool:
        if self.max_sessions is not None and self.started_sessions >= self.max_sessions:
            return False
        self.started_sessions += 1
        return True


RUN: FleetRun | None = None
"""Set by the engine, or built from the command line on the first User (``locust -f``)."""
MASTER_STATS = FleetStats()
"""On a Locust master: the figures the workers sent."""


class HttpStatusError(Exception):
    """How an HTTP answer other than 200 shows in Locust's failure table."""


class LocustTransport:
    """POSTs on our lean HTTP/1.1 client (``http1``; gevent's sockets under Locust), one
    keep-alive connection per server, each request fired as a Locust ``request`` event under
    its package name.

    Why not the User's ``FastHttpSession``, nor geventhttpclient under it: the session's cookie
    jar, redirects and per-request context cost as much CPU as the device's whole DM session
    (1.38 ms per session through it, 0.88 ms on geventhttpclient directly), and
    geventhttpclient's header objects and connection pool still about 0.1 ms per request
    (profiled); a harness must not be the bottleneck."""

    def __init__(self, environment: Any, *, tls: ssl.SSLContext | None = None,
                 timeout: float = 10.0) -> None:
        self.fire = environment.events.request.fire
        self.tls = tls
        self.timeout = timeout
        self.connections: dict[tuple[str, str, int], Connection] = {}
        self.targets: dict[str, Target] = {}

    def post(self, url: str, body: bytes, headers: dict[str, str], name: str) -> Reply:
        start = time.perf_counter()
        try:
            target = self.targets.get(url)
            if target is None:
                target = Target.parse(url)
                if len(self.targets) > 64:
                    self.targets.clear()  # a server handing out a new RespURI per session
                self.targets[url] = target
            key = (target.scheme, target.host, target.port)
            connection = self.connections.get(key)
            if connection is None:
                connection = self.connections[key] = Connection(
                    target, timeout=self.timeout, tls=self.tls)
            answer = connection.post(target, body, headers)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a typed TransportError
            elapsed = time.perf_counter() - start
            self.fire(request_type="POST", name=name, response_time=elapsed * 1e3,
                      response_length=0, exception=exc, context={})
            raise classify(exc) from exc
        elapsed = time.perf_counter() - start
        status = answer.status
        self.fire(request_type="POST", name=name, response_time=elapsed * 1e3,
                  response_length=len(answer.body), context={},
                  exception=None if status == 200 else HttpStatusError(f"HTTP {status}"))
        return Reply(status, answer.content_type, answer.body, answer.hmac, elapsed)

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()
        self.connections.clear()


def _run_from_options(environment: Any) -> FleetRun:
    options = environment.parsed_options
    mix = FleetMix.load(options.dm_mix) if getattr(options, "dm_mix", None) else FleetMix()
    devices = int(getattr(options, "dm_devices", 0) or getattr(options, "num_users", 0) or 1)
    runner = environment.runner
    stride = max(1, int(getattr(options, "expect_workers", 1) or 1)) \
        if getattr(runner, "worker_index", -1) >= 0 and type(runner).__name__ == "WorkerRunner" \
        else 1
    offset = max(0, int(getattr(runner, "worker_index", 0) or 0)) if stride > 1 else 0
    max_sessions = int(getattr(options, "dm_max_sessions", 0) or 0) or None
    if max_sessions is not None and stride > 1:
        max_sessions = -(-max_sessions // stride)
    return FleetRun(Fleet(mix, devices), environment.host, max_sessions, offset, stride)


def _options(parser: Any) -> None:
    group = parser.add_argument_group("omadm-codec fleet")
    group.add_argument("--dm-devices", type=int, default=0,
                       help="devices in the fleet (default: the number of users)")
    group.add_argument("--dm-mix", default="", help="the fleet mix (JSON or TOML file)")
    group.add_argument("--dm-max-sessions", type=int, default=0,
                       help="stop each device after the fleet ran this many sessions")
    group.add_argument("--dm-report", default="",
                       help="write our report to PREFIX.json and PREFIX.html at the end")


def _to_master(client_id: str, data: dict[str, Any]) -> None:
    if RUN is not None:
        data["omadm"] = RUN.stats.to_dict()
        RUN.stats = FleetStats()


def _from_worker(client_id: str, data: dict[str, Any]) -> None:
    if "omadm" in data:
        MASTER_STATS.merge(data["omadm"])


def process_stats() -> FleetStats:
    """This process's figures: the master's merge, or the local run's."""
    if MASTER_STATS.sessions or RUN is None:
        return MASTER_STATS
    return RUN.stats


def _write_report(environment: Any, **kwargs: Any) -> None:
    options = environment.parsed_options
    prefix = getattr(options, "dm_report", "") if options is not None else ""
    if not prefix or type(environment.runner).__name__ == "WorkerRunner":
        return
    from .report import build_report, write_reports

    stats = process_stats()
    stats.ended = time.time()
    report = build_report(stats, url=environment.host or "", engine="locust",
                          locust=locust_summary(environment))
    write_reports(report, Path(prefix))


_USER_CLASS: type | None = None


def user_class() -> type:
    """``DMDevice``, the Locust ``User`` of one simulated device (a ``FastHttpUser``), built on
    the first call: only then is Locust imported (and the process patched by gevent), and our
    event listeners registered with it."""
    global _USER_CLASS
    if _USER_CLASS is not None:
        return _USER_CLASS
    from locust import FastHttpUser, events, task
    from locust.exception import StopUser

    events.init_command_line_parser.add_listener(_options)
    events.report_to_master.add_listener(_to_master)
    events.worker_report.add_listener(_from_worker)
    events.quitting.add_listener(_write_report)

    class DMDevice(FastHttpUser):  # type: ignore[misc]
        """One simulated device of the fleet, on Locust's fast HTTP client."""

        insecure = False
        """Certificates are verified (a harness that hides TLS failures would mislead)."""

        def __init__(self, environment: Any) -> None:
            global RUN
            if RUN is None:
                RUN = _run_from_options(environment)
            super().__init__(environment)
            self.fleet_run = RUN
            self.device = RUN.take()
            self.transport = LocustTransport(environment, tls=RUN.tls(),
                                             timeout=RUN.fleet.mix.request_timeout)

        def on_stop(self) -> None:
            self.transport.close()

        def wait_time(self) -> float:
            low, high = self.fleet_run.fleet.mix.think_time
            return random.uniform(low, high)

        @task  # type: ignore[untyped-decorator]
        def session(self) -> None:
            if self.device is None or not self.fleet_run.may_start():
                raise StopUser()
            result = self.device.run_session(self.transport)
            self.fleet_run.stats.record(result)
            fire = self.environment.events.request.fire
            size = sum(exchange.received for exchange in result.exchanges)
            failure: Exception | None = None
            if result.error is not None:
                failure = SessionFailed(f"{result.error.kind}: {result.error.detail[:120]}")
            elif result.violations:
                failure = SessionFailed(f"{result.outcome}: {result.violations[0].kind}")
            fire(request_type="DM", name="session", response_time=result.duration * 1e3,
                 response_length=size, exception=failure, context={})
            for violation in result.violations:
                fire(request_type="DM violation", name=violation.kind, response_time=0.0,
                     response_length=0, context={},
                     exception=ProtocolViolation(f"{violation.kind}: {KINDS[violation.kind]}"))

    _USER_CLASS = DMDevice
    return DMDevice


def locust_summary(environment: Any) -> dict[str, Any]:
    """Locust's own figures per request name (the packages, sessions, violations)."""
    stats = environment.runner.stats if environment.runner is not None else environment.stats
    out: dict[str, Any] = {}
    for (name, method), entry in sorted(stats.entries.items()):
        out[f"{method} {name}"] = {
            "requests": entry.num_requests, "failures": entry.num_failures,
            "median_ms": entry.median_response_time,
            "p99_ms": entry.get_response_time_percentile(0.99),
            "avg_ms": entry.avg_response_time}
    return out


__all__ = ["FleetRun", "HttpStatusError", "LocustTransport", "ProtocolViolation",
           "SessionFailed", "TransportError", "process_stats", "user_class"]
