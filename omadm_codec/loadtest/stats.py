"""The figures of a run: sessions by outcome, latencies (whole session and per package) as
log-bucket histograms, HTTP and DM status codes, violations and transport errors by kind with
one example each, faults, and a per-second series for the plots.

The one idea: everything is a count or a histogram keyed by plain values, so ``to_dict()`` is
the JSON report and ``merge(to_dict())`` adds another process's figures (Locust workers send
theirs to the master this way). Percentiles come from buckets 2% wide: exact enough for a
report, constant memory however long the run.
"""

from __future__ import annotations

import math
import time
from typing import Any

from .device import SessionResult
from .mix import FAULT_KINDS

_SCALE = 50.0
"""Buckets per e-fold of latency: each bucket is exp(1/50) - 1 = 2% wide."""

FATAL_KINDS = ("connect", "tls", "timeout", "reset", "other", "http_status", "not_dm",
               "undecodable")
"""Failures that, when every session so far ends with one, mean the target is no DM server
(or none at all): the engine stops the run with a one-line error."""


class Histogram:
    """Latencies (seconds) in log buckets; mergeable by adding counts."""

    __slots__ = ("counts", "total", "sum")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.total = 0
        self.sum = 0.0

    def add(self, seconds: float) -> None:
        """Count one latency."""
        key = int(math.log(max(seconds, 1e-6) * 1e6) * _SCALE)
        self.counts[key] = self.counts.get(key, 0) + 1
        self.total += 1
        self.sum += seconds

    def percentile(self, q: float) -> float:
        """The ``q`` quantile (0..1) in seconds; 0.0 when empty."""
        if not self.total:
            return 0.0
        rank = max(1, math.ceil(q * self.total))
        seen = 0
        for key in sorted(self.counts):
            seen += self.counts[key]
            if seen >= rank:
                return math.exp((key + 0.5) / _SCALE) / 1e6
        return 0.0  # pragma: no cover - the loop always reaches rank

    @property
    def mean(self) -> float:
        """The mean latency in seconds (0.0 when empty)."""
        return self.sum / self.total if self.total else 0.0

    def merge(self, other: Histogram) -> None:
        """Add ``other``'s counts to these."""
        for key, count in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + count
        self.total += other.total
        self.sum += other.sum

    def to_dict(self) -> dict[str, Any]:
        """The histogram as plain values."""
        return {"counts": {str(k): v for k, v in self.counts.items()}, "total": self.total,
                "sum": self.sum}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Histogram:
        """The histogram ``to_dict`` gave."""
        out = cls()
        out.counts = {int(k): int(v) for k, v in data.get("counts", {}).items()}
        out.total = int(data.get("total", 0))
        out.sum = float(data.get("sum", 0.0))
        return out

    def summary(self) -> dict[str, float]:
        """count, mean and the usual percentiles, in milliseconds."""
        return {"count": self.total, "mean_ms": self.mean * 1e3,
                **{f"p{int(q * 100) if q < 0.999 else 99.9}_ms": self.percentile(q) * 1e3
                   for q in (0.5, 0.9, 0.99, 0.999)}}


def _bump(table: dict[str, int], key: str, count: int = 1) -> None:
    table[key] = table.get(key, 0) + count


class FleetStats:
    """The figures of one run (or of one Locust worker, merged into the master's)."""

    def __init__(self) -> None:
        self.started = time.time()
        self.ended: float | None = None
        self.sessions = 0
        self.outcomes: dict[str, int] = {}
        self.session_latency = Histogram()
        self.package_latency: dict[str, Histogram] = {}
        self.http_statuses: dict[str, int] = {}
        self.device_statuses: dict[str, dict[str, int]] = {}
        """The server's commands by element, then by the status the device answered."""
        self.server_statuses: dict[str, dict[str, int]] = {}
        """The device's commands by element, then by the status the server answered."""
        self.violations: dict[str, dict[str, Any]] = {}
        self.errors: dict[str, dict[str, Any]] = {}
        self.faults: dict[str, dict[str, int]] = {
            kind: {"devices_sessions": 0, "injected": 0, "handled": 0, "mishandled": 0}
            for kind in FAULT_KINDS}
        self.messages = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.large_objects = 0
        self.series: dict[int, dict[str, Any]] = {}
        """Epoch second -> {completed, failed, latency Histogram} (sessions ending then)."""
        self.failed_in_a_row = 0
        self.last_failure: str | None = None

    # -- recording ------------------------------------------------------------------------

    def record(self, result: SessionResult) -> None:
        """Count one session."""
        self.sessions += 1
        _bump(self.outcomes, result.outcome)
        self.session_latency.add(result.duration)
        for exchange in result.exchanges:
            self.messages += 1
            self.bytes_sent += exchange.sent
            self.bytes_received += exchange.received
            if exchange.http_status is not None:
                _bump(self.http_statuses, str(exchange.http_status))
                hist = self.package_latency.get(exchange.package)
                if hist is None:
                    hist = self.package_latency[exchange.package] = Histogram()
                hist.add(exchange.latency)
        for (element, code), count in result.device_statuses.items():
            _bump(self.device_statuses.setdefault(element, {}), str(code), count)
        for (element, code), count in result.server_statuses.items():
            _bump(self.server_statuses.setdefault(element, {}), str(code), count)
        for violation in result.violations:
            self._note(self.violations, violation.kind, violation.example)
        if result.error is not None:
            self._note(self.errors, result.error.kind, result.error.detail[:300])
        if result.fault is not None:
            fault = self.faults[result.fault]
            fault["devices_sessions"] += 1
            fault["injected"] += result.fault_injected
            if result.fault_handled is True:
                fault["handled"] += 1
            elif result.fault_handled is False:
                fault["mishandled"] += 1
        self.large_objects += result.large_object_sent
        second = int(result.started + result.duration)
        point = self.series.get(second)
        if point is None:
            point = self.series[second] = {"completed": 0, "failed": 0,
                                           "latency": Histogram()}
        ok = result.outcome == "completed" or (result.fault is not None
                                               and result.fault_handled is not False
                                               and not result.violations
                                               and result.error is None)
        point["completed" if ok else "failed"] += 1
        point["latency"].add(result.duration)
        fatal = self._fatal_kind(result)
        if result.outcome == "completed":
            self.failed_in_a_row = 0
        elif fatal is not None:
            self.failed_in_a_row += 1
            self.last_failure = fatal

    @staticmethod
    def _fatal_kind(result: SessionResult) -> str | None:
        if result.error is not None:
            return f"{result.error.kind}: {result.error.detail}"
        for violation in result.violations:
            if violation.kind in FATAL_KINDS:
                return f"{violation.kind}: {violation.example}"
        return None

    @staticmethod
    def _note(table: dict[str, dict[str, Any]], kind: str, example: str) -> None:
        entry = table.get(kind)
        if entry is None:
            table[kind] = {"count": 1, "example": example}
        else:
            entry["count"] += 1

    # -- reading --------------------------------------------------------------------------

    @property
    def completed(self) -> int:
        """Sessions that completed."""
        return self.outcomes.get("completed", 0)

    @property
    def violation_count(self) -> int:
        """Protocol violations counted, all kinds."""
        return sum(entry["count"] for entry in self.violations.values())

    @property
    def error_count(self) -> int:
        """Transport errors counted, all kinds."""
        return sum(entry["count"] for entry in self.errors.values())

    def fatal(self, threshold: int) -> str | None:
        """A one-line reason to stop, when no session ever completed and the last
        ``threshold`` sessions all failed at the transport or with a non-DM answer."""
        if self.completed == 0 and self.failed_in_a_row >= threshold and self.last_failure:
            return self.last_failure.splitlines()[0][:300]
        return None

    def live(self, now: float | None = None, window: int = 5) -> dict[str, float]:
        """What the progress bar shows: sessions/s over the last ``window`` whole seconds,
        p50/p99 of session latency over the run, errors and violations so far."""
        now = time.time() if now is None else now
        last = int(now) - 1
        seconds = [s for s in range(last - window + 1, last + 1) if s >= int(self.started)]
        done = sum(self.series[s]["completed"] + self.series[s]["failed"]
                   for s in seconds if s in self.series)
        return {"sessions": self.sessions, "completed": self.completed,
                "rate": done / len(seconds) if seconds else 0.0,
                "p50_ms": self.session_latency.percentile(0.5) * 1e3,
                "p99_ms": self.session_latency.percentile(0.99) * 1e3,
                "errors": self.error_count, "violations": self.violation_count}

    # -- exchange -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Every figure as plain values (the JSON report's ``figures``)."""
        return {
            "started": self.started, "ended": self.ended, "sessions": self.sessions,
            "outcomes": dict(self.outcomes),
            "session_latency": self.session_latency.to_dict(),
            "package_latency": {k: v.to_dict() for k, v in self.package_latency.items()},
            "http_statuses": dict(self.http_statuses),
            "device_statuses": {k: dict(v) for k, v in self.device_statuses.items()},
            "server_statuses": {k: dict(v) for k, v in self.server_statuses.items()},
            "violations": {k: dict(v) for k, v in self.violations.items()},
            "errors": {k: dict(v) for k, v in self.errors.items()},
            "faults": {k: dict(v) for k, v in self.faults.items()},
            "messages": self.messages, "bytes_sent": self.bytes_sent,
            "bytes_received": self.bytes_received, "large_objects": self.large_objects,
            "series": {str(k): {"completed": v["completed"], "failed": v["failed"],
                                "latency": v["latency"].to_dict()}
                       for k, v in sorted(self.series.items())},
            "failed_in_a_row": self.failed_in_a_row, "last_failure": self.last_failure,
        }

    def merge(self, data: dict[str, Any]) -> None:
        """Add the figures of ``data`` (another ``FleetStats.to_dict()``)."""
        self.started = min(self.started, float(data.get("started", self.started)))
        self.sessions += int(data.get("sessions", 0))
        for key, count in data.get("outcomes", {}).items():
            _bump(self.outcomes, key, int(count))
        self.session_latency.merge(Histogram.from_dict(data.get("session_latency", {})))
        for name, hist in data.get("package_latency", {}).items():
            self.package_latency.setdefault(name, Histogram()).merge(Histogram.from_dict(hist))
        for key, count in data.get("http_statuses", {}).items():
            _bump(self.http_statuses, key, int(count))
        for attr in ("device_statuses", "server_statuses"):
            table: dict[str, dict[str, int]] = getattr(self, attr)
            for element, codes in data.get(attr, {}).items():
                for code, count in codes.items():
                    _bump(table.setdefault(element, {}), code, int(count))
        for attr in ("violations", "errors"):
            notes: dict[str, dict[str, Any]] = getattr(self, attr)
            for kind, entry in data.get(attr, {}).items():
                mine = notes.get(kind)
                if mine is None:
                    notes[kind] = {"count": int(entry["count"]), "example": entry["example"]}
                else:
                    mine["count"] += int(entry["count"])
        for kind, counts in data.get("faults", {}).items():
            mine_fault = self.faults.setdefault(kind, {})
            for key, count in counts.items():
                mine_fault[key] = mine_fault.get(key, 0) + int(count)
        for attr in ("messages", "bytes_sent", "bytes_received", "large_objects"):
            setattr(self, attr, getattr(self, attr) + int(data.get(attr, 0)))
        for second, point in data.get("series", {}).items():
            mine_point = self.series.get(int(second))
            if mine_point is None:
                mine_point = self.series[int(second)] = {"completed": 0, "failed": 0,
                                                         "latency": Histogram()}
            mine_point["completed"] += int(point["completed"])
            mine_point["failed"] += int(point["failed"])
            mine_point["latency"].merge(Histogram.from_dict(point["latency"]))
        if data.get("sessions"):
            completed = int(data.get("outcomes", {}).get("completed", 0))
            self.failed_in_a_row = 0 if completed else self.failed_in_a_row + int(
                data.get("failed_in_a_row", 0))
            self.last_failure = data.get("last_failure") or self.last_failure

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FleetStats:
        """The figures ``to_dict`` gave."""
        out = cls()
        out.started = float(data.get("started", out.started))
        out.merge(data)
        out.ended = data.get("ended")
        return out


__all__ = ["FATAL_KINDS", "FleetStats", "Histogram"]
