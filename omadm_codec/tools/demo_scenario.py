"""The demo's management script: what the server sends, what each command must come back
with, and what the device's tree must hold afterwards.

The one idea: a ``Step`` pairs one command with its expected status (and children statuses,
and a check on its Results); ``DemoServerApp`` queues the steps when the session starts (in
two packages) and records the outcome of each, so ``failures()`` lists every expectation that
did not happen. The same script runs in memory (tests) and over HTTP (``omadm-codec demo``).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field

from ..messages.model import (
    Add,
    Alert,
    Atomic,
    Command,
    Copy,
    Delete,
    Exec,
    Get,
    Item,
    Meta,
    Replace,
    Results,
    Sequence,
    Source,
    Target,
)
from ..session import ServerSession
from ..session import events as ev
from ..tree import DMTree

LARGE_OBJECT = bytes(range(256)) * 80  # 20 KiB: chunked under the device's MaxMsgSize


def _item(uri: str, data: str | bytes | None = None, fmt: str | None = None,
          mime: str | None = None) -> Item:
    meta = Meta(format=fmt, type=mime) if fmt or mime else None
    return Item(target=Target(uri), meta=meta, data=data)


def _results_text(results: tuple[Results, ...]) -> str:
    return "|".join(str(item.data) for r in results for item in r.items)


@dataclass(slots=True)
class Step:
    """One command and what must come back."""

    label: str
    command: Command
    status: int
    children: tuple[int, ...] = ()
    check: Callable[[ev.CommandCompleted], bool] | None = None
    outcome: ev.CommandCompleted | None = None

    def problem(self) -> str | None:
        """What went wrong with this step, in words (no outcome, another status, other children's
        statuses, unexpected results), or None if it went as expected."""
        got = self.outcome
        if got is None:
            return "no outcome"
        if got.status != self.status:
            return f"status {got.status}, expected {self.status}"
        if self.children and tuple(c.status for c in got.children) != self.children:
            return f"children {tuple(c.status for c in got.children)}, expected {self.children}"
        if self.check is not None and not self.check(got):
            return f"unexpected results {_results_text(got.results)[:80]!r}"
        return None


def first_package() -> list[Step]:
    """The demo's first session: the steps the server sends and the outcome each must have (Gets,
    Replace, Add, Delete, Exec, a large object, Atomic and Sequence, UI alerts)."""
    return [
        Step("Get leaf ./DevInfo/Mod", Get("0", [_item("./DevInfo/Mod")]), 200,
             check=lambda o: _results_text(o.results) == "AX-5 Pro"),
        Step("Get interior ./Vendor/Acme/Net/APN", Get("0", [_item("./Vendor/Acme/Net/APN")]),
             200, check=lambda o: _results_text(o.results) == "1/2"),
        Step("Get ./Vendor/Acme/Settings?list=TNDS",
             Get("0", [_item("./Vendor/Acme/Settings?list=TNDS")]), 200,
             check=lambda o: "<MgmtTree" in _results_text(o.results)
             and "Brightness" in _results_text(o.results)),
        Step("Get a missing node", Get("0", [_item("./Vendor/Acme/Nope")]), 404),
        Step("Replace Brightness = 40",
             Replace("0", [_item("./Vendor/Acme/Settings/Brightness", "40", "int")]), 200),
        Step("Replace a Get-only DevInfo leaf",
             Replace("0", [_item("./DevInfo/Man", "Evil Corp", "chr")]), 425),
        Step("Add interior ./Vendor/Acme/Net/APN/3",
             Add("0", [_item("./Vendor/Acme/Net/APN/3", None, "node")]), 200),
        Step("Add leaf ./Vendor/Acme/Net/APN/3/Name",
             Add("0", [_item("./Vendor/Acme/Net/APN/3/Name", "ims.acme", "chr")]), 200),
        Step("Delete ./Vendor/Acme/Logs/Crash",
             Delete("0", [_item("./Vendor/Acme/Logs/Crash")]), 200),
        Step("Copy APN/1/Name -> APN/3/Backup",
             Copy("0", [Item(target=Target("./Vendor/Acme/Net/APN/3/Backup"),
                             source=Source("./Vendor/Acme/Net/APN/1/Name"))]), 200),
        Step("Exec ./Vendor/Acme/Ops/Reboot", Exec("0", [_item("./Vendor/Acme/Ops/Reboot")]),
             200),
        Step("Atomic with a bad int (rolled back)", Atomic("0", [
            Replace("0", [_item("./Vendor/Acme/Mail/Server", "imap.new.example", "chr")]),
            Replace("0", [_item("./Vendor/Acme/Mail/Port", "not-a-number", "int")]),
        ]), 507, children=(216, 415)),
        Step("Sequence: LogLevel, CollectLogs, Get", Sequence("0", [
            Replace("0", [_item("./Vendor/Acme/Diag/LogLevel", "debug", "chr")]),
            Exec("0", [_item("./Vendor/Acme/Ops/CollectLogs")]),
            Get("0", [_item("./Vendor/Acme/Diag/LastCollect")]),
        ]), 200, children=(200, 200, 200),
            check=lambda o: _results_text(o.children[2].results) == "collected at debug"),
        Step("UI alert 1101 (user confirms)", Alert("0", 1101, items=[
            Item(data="MAXDT=30&DR=0"), Item(data="Apply the new mail settings?")]), 200),
        Step("Sequence with a UI alert the user rejects", Sequence("0", [
            Alert("0", 1101, items=[Item(data="MAXDT=30"), Item(data="Change ringtone?")]),
            Replace("0", [_item("./Vendor/Acme/Settings/Ringtone", "beep", "chr")]),
        ]), 200, children=(304, 215)),
        Step("Large object: 20 KiB firmware package", Replace("0", [_item(
            "./Vendor/Acme/Firmware/Package", LARGE_OBJECT, "b64",
            "application/octet-stream")]), 200),
    ]


def second_package() -> list[Step]:
    """The demo's second session (HMAC both ways): Gets that check what the first session left in
    the device's tree."""
    return [
        Step("Get Reboot counter (Exec ran once)", Get("0", [_item("./Vendor/Acme/Ops/Reboot")]),
             200, check=lambda o: _results_text(o.results) == "1"),
        Step("Get Mail/Server (Atomic left it)", Get("0", [_item("./Vendor/Acme/Mail/Server")]),
             200, check=lambda o: _results_text(o.results) == "imap.old.example"),
        Step("Get ./Vendor/Acme/Net/APN/3?list=Struct",
             Get("0", [_item("./Vendor/Acme/Net/APN/3?list=Struct")]), 200,
             check=lambda o: "./Vendor/Acme/Net/APN/3/Backup" in {
                 str(i.source.loc_uri) for r in o.results for i in r.items if i.source}),
    ]


@dataclass(slots=True)
class DemoServerApp:
    """The server application: queues the two packages and records every outcome."""

    steps: list[Step] = field(default_factory=first_package)
    later: list[Step] = field(default_factory=second_package)
    alerts: list[ev.AlertReceived] = field(default_factory=list)
    started: list[ev.SessionStarted] = field(default_factory=list)
    ended: list[ev.SessionEnded] = field(default_factory=list)
    auth: list[ev.Event] = field(default_factory=list)
    refused: list[ev.CommandRefused] = field(default_factory=list)
    _by_command: dict[int, Step] = field(default_factory=dict)

    def __call__(self, server: ServerSession, events: list[ev.Event]) -> None:
        for event in events:
            if isinstance(event, ev.SessionStarted):
                self.started.append(event)
                self._queue(server, self.steps)
            elif isinstance(event, ev.CommandCompleted):
                step = self._by_command.get(id(event.command))
                if step is None:
                    # A restored session (snapshot) hands back equal copies of the commands.
                    step = next((s for s in self.steps if s.outcome is None
                                 and s.command == event.command), None)
                if step is not None:
                    step.outcome = event
                if self.later and all(s.outcome is not None for s in self.steps):
                    batch, self.later = self.later, []
                    self.steps.extend(batch)
                    self._queue(server, batch)
            elif isinstance(event, ev.AlertReceived):
                self.alerts.append(event)
            elif isinstance(event, ev.SessionEnded):
                self.ended.append(event)
            elif isinstance(event, ev.Authenticated | ev.AuthenticationFailed):
                self.auth.append(event)
            elif isinstance(event, ev.CommandRefused):
                self.refused.append(event)

    def _queue(self, server: ServerSession, steps: list[Step]) -> None:
        for step in steps:
            self._by_command[id(step.command)] = step
        server.send_commands([step.command for step in steps])

    def failures(self, tree: DMTree | None = None) -> list[str]:
        """Every expectation that did not happen (empty: the demo succeeded)."""
        problems = [f"{s.label}: {p}" for s in self.steps if (p := s.problem()) is not None]
        if self.later:
            problems.append("second package never sent")
        if not any(a.alert_code == 1226 for a in self.alerts):
            problems.append("no generic alert (1226) received")
        if not self.ended or self.ended[-1].reason != "completed":
            problems.append(f"session did not complete: {self.ended}")
        if not any(isinstance(a, ev.AuthenticationFailed) for a in self.auth):
            problems.append("no authentication challenge happened")
        if tree is not None:
            if tree.device_get("./Vendor/Acme/Firmware/Package") != LARGE_OBJECT:
                problems.append("large object not stored intact")
            if tree.device_get("./Vendor/Acme/Settings/Ringtone") != "classic":
                problems.append("rejected Sequence changed the ringtone")
            if tree.device_get("./Vendor/Acme/Mail/Server") != "imap.old.example":
                problems.append("Atomic rollback left a change")
        return problems


def generic_alert_item() -> Item:
    """The 1226 the device sends: a firmware-update report."""
    return Item(source=Source("./Vendor/Acme/Firmware"),
                meta=Meta(format="chr", type="Reversed-Domain-Name: com.acme.fw.ready",
                          mark="informational"),
                data="firmware 5.1.0 verified")


def b64(data: bytes) -> str:
    """``data`` as base64 text."""
    return base64.b64encode(data).decode("ascii")


__all__ = ["LARGE_OBJECT", "DemoServerApp", "Step", "first_package", "generic_alert_item",
           "second_package"]
