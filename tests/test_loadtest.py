"""The load and conformance harness (``omadm_codec.loadtest``): a fleet against our server over
real HTTP on 127.0.0.1 (both encodings, every auth type, every fault with its expected
counts), a deliberately broken server (each breach counted as its kind), the HTML report
rendered by headless Chromium, and the Locust path (headless, and handed over to Locust) in
subprocesses.

Nothing here imports Locust into the pytest process: Locust monkey-patches the process with
gevent on import, so every test of the Locust path runs ``python -m omadm_codec loadtest`` in a
child process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

from omadm_codec.http import ServerThread  # noqa: E402
from omadm_codec.loadtest import (  # noqa: E402
    Fleet,
    FleetMix,
    HttpxTransport,
    MixError,
    SessionResult,
    SimulatedDevice,
)
from omadm_codec.loadtest.conformance import KINDS  # noqa: E402
from omadm_codec.loadtest.report import build_report, render_html, write_reports  # noqa: E402
from omadm_codec.loadtest.selfserver import build_app  # noqa: E402
from omadm_codec.loadtest.stats import FleetStats, Histogram  # noqa: E402
from omadm_codec.messages import decode, encode  # noqa: E402
from omadm_codec.messages.model import Status  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HAS_LOCUST = importlib.util.find_spec("locust") is not None and \
    importlib.util.find_spec("rich") is not None
NEEDS_LOCUST = pytest.mark.skipif(not HAS_LOCUST, reason="the loadtest extra (locust, rich) "
                                                          "is not installed")

FAULTS = {"retransmit": 1 / 12, "abandon": 1 / 12, "corrupt": 1 / 12, "wrong_password": 1 / 12}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    return env


# -- the mix and the fleet ---------------------------------------------------------------------


def test_shares_are_assigned_exactly_and_reproducibly() -> None:
    mix = FleetMix(wbxml=0.25, auth={"basic": 1, "md5": 1, "hmac": 2}, generic_alert=0.1,
                   faults={"corrupt": 0.05, "abandon": 0.1})
    fleet = Fleet(mix, 40)
    census = fleet.census()
    assert census["format"] == {"wbxml": 10, "xml": 30}
    assert census["auth"] == {"basic": 10, "hmac": 20, "md5": 10}
    assert census["generic_alert"] == {"False": 36, "True": 4}
    assert census["fault"] == {"None": 34, "abandon": 4, "corrupt": 2}
    assert [s for s in fleet] == [s for s in Fleet(mix, 40)]
    ids = {spec.dev_id for spec in fleet} | {spec.user for spec in fleet}
    assert len(ids) == 80
    wrong = Fleet(FleetMix(faults={"wrong_password": 1.0}), 1)[0]
    assert wrong.presented_password != wrong.password


@pytest.mark.parametrize(("data", "key"), [
    ({"wbxml": 1.5}, "wbxml"), ({"faults": {"explode": 0.1}}, "faults"),
    ({"auth": {"kerberos": 1}}, "auth"), ({"colour": "red"}, "colour"),
    ({"faults": {"abandon": 0.7, "corrupt": 0.7}}, "faults"), ({"think_time": [5, 1]},
                                                               "think_time"),
    ({"max_msg_size": {"12": 1}}, "max_msg_size"),
])
def test_a_bad_mix_is_refused_naming_the_key(data: dict[str, Any], key: str) -> None:
    with pytest.raises(MixError, match=key):
        FleetMix.from_dict(data)


def test_a_mix_file_round_trips(tmp_path: Path) -> None:
    mix = FleetMix(wbxml=0.3, think_time=(0.5, 2.0), faults={"abandon": 0.2},
                   max_msg_size={4096: 1, 65536: 3})
    path = tmp_path / "mix.json"
    path.write_text(json.dumps(mix.to_dict()))
    assert FleetMix.load(path) == mix
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(MixError, match="not valid"):
        FleetMix.load(tmp_path / "bad.json")


def test_histogram_percentiles_and_merge() -> None:
    hist = Histogram()
    for ms in range(1, 1001):
        hist.add(ms / 1000)
    assert hist.percentile(0.5) == pytest.approx(0.5, rel=0.03)
    assert hist.percentile(0.99) == pytest.approx(0.99, rel=0.03)
    other = Histogram.from_dict(hist.to_dict())
    other.merge(hist)
    assert other.total == 2000 and other.percentile(0.5) == pytest.approx(0.5, rel=0.03)


# -- a fleet against our server, in process ----------------------------------------------------


class FleetRun:
    def __init__(self) -> None:
        self.mix = FleetMix(wbxml=0.5, auth={"basic": 1, "md5": 1, "hmac": 1},
                            generic_alert=0.25, large_object=0.25, think_time=(0, 0),
                            faults=FAULTS, large_object_size=90_000)
        self.fleet = Fleet(self.mix, 24)
        self.app, self.counters = build_app(self.fleet)
        self.stats = FleetStats()
        self.results: list[tuple[Any, SessionResult]] = []
        with ServerThread(self.app) as server, HttpxTransport() as transport:
            devices = [SimulatedDevice(spec, f"{server.url}/dm", self.mix)
                       for spec in self.fleet]
            for _ in range(2):  # the second session uses the nonces the first one left
                for device in devices:
                    result = device.run_session(transport)
                    self.stats.record(result)
                    self.results.append((device.spec, result))
            self.stats.ended = time.time()
            self.timed_out = self.app.sweep(now=time.time() + 3600)


@pytest.fixture(scope="module")
def fleet_run() -> FleetRun:
    return FleetRun()


def test_honest_devices_complete_every_session_without_violation(fleet_run: FleetRun) -> None:
    honest = [(spec, r) for spec, r in fleet_run.results if spec.fault is None]
    assert {spec.fmt for spec, _ in honest} == {"xml", "wbxml"}
    assert {spec.auth for spec, _ in honest} == {"basic", "md5", "hmac"}
    for spec, result in honest:
        assert result.outcome == "completed", (spec, result)
        assert result.error is None, (spec, result)
        assert result.violations == [], (spec, result.violations)
        assert result.device_statuses[("Get", 200)] >= 10
        assert result.device_statuses[("Replace", 200)] == 10
    assert fleet_run.stats.errors == {}


def test_our_server_answers_every_command_of_a_challenged_message(fleet_run: FleetRun) -> None:
    """A 401/407 answer holds a Status for every command of the message it challenges (PRO
    2.4.1): the fleet, wrong passwords included, sees no breach at all."""
    assert fleet_run.stats.violations == {}


def test_each_fault_gives_its_expected_counts(fleet_run: FleetRun) -> None:
    faults = fleet_run.stats.faults
    per_kind = fleet_run.fleet.census()["fault"]
    for kind in FAULTS:
        sessions = per_kind[kind] * 2
        assert faults[kind]["devices_sessions"] == sessions == 4, kind
        assert faults[kind]["injected"] == sessions, kind
        if kind == "abandon":
            assert faults[kind]["handled"] == faults[kind]["mishandled"] == 0
        else:
            assert (faults[kind]["handled"], faults[kind]["mishandled"]) == (sessions, 0), kind
    outcomes = fleet_run.stats.outcomes
    assert outcomes["abandoned"] == 4
    assert outcomes["corrupt_rejected"] == 4
    assert outcomes["auth_failed"] == 4
    honest_or_retransmit = 2 * sum(1 for s in fleet_run.fleet if s.fault in (None, "retransmit"))
    assert outcomes["completed"] == honest_or_retransmit
    # The server saw the same: the abandoned sessions were left to time out, and (since issue
    # 13) so were those whose credentials it refused, once their device gave up.
    assert fleet_run.timed_out == outcomes["abandoned"] + outcomes["auth_failed"] == 8


def test_generic_alerts_and_large_objects_reach_the_server(fleet_run: FleetRun) -> None:
    specs = list(fleet_run.fleet)
    alerts = 2 * sum(s.generic_alert + s.large_object for s in specs
                     if s.fault != "wrong_password")
    assert fleet_run.counters.alerts == alerts
    # A large object goes out only in sessions that reach package 3 intact.
    large = 2 * sum(1 for s in specs if s.large_object and s.fault in (None, "retransmit"))
    assert large > 0
    assert fleet_run.stats.large_objects == fleet_run.counters.large_objects == large


def test_figures_round_trip_through_json(fleet_run: FleetRun) -> None:
    data = json.loads(json.dumps(fleet_run.stats.to_dict()))
    again = FleetStats.from_dict(data)
    assert again.to_dict()["outcomes"] == fleet_run.stats.outcomes
    assert again.session_latency.total == fleet_run.stats.sessions == 48
    merged = FleetStats.from_dict(data)
    merged.merge(data)
    assert merged.sessions == 96 and merged.faults["corrupt"]["injected"] == 8


# -- a broken server ---------------------------------------------------------------------------


class BrokenServer:
    """Our server with one breach injected into its answers (ASGI middleware)."""

    def __init__(self, app: Any, mode: str) -> None:
        self.app, self.mode = app, mode

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        first = not scope["path"].startswith("/dm/s/")
        if self.mode == "http_500" and not first:
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"Internal Server Error"})
            return
        held: dict[str, Any] = {}

        async def capture(message: Any) -> None:
            held[message["type"]] = message

        await self.app(scope, receive, capture)
        start, body = held["http.response.start"], held["http.response.body"]["body"]
        headers = dict(start["headers"])
        content_type = headers.get(b"content-type", b"").decode()
        if start["status"] == 200 and content_type:
            body = self.breach(body, content_type, first)
        headers[b"content-length"] = str(len(body)).encode()
        await send({**start, "headers": list(headers.items())})
        await send({"type": "http.response.body", "body": body})

    def breach(self, body: bytes, content_type: str, first: bool) -> bytes:
        fmt = "wbxml" if "wbxml" in content_type else "xml"
        if self.mode == "over_max_msg_size" and first:
            assert fmt == "xml"
            return body.replace(b"</SyncBody>", b" " * 20_000 + b"</SyncBody>")
        msg = decode(body, content_type)
        if self.mode == "msg_ref" and first:
            header_status = next(c for c in msg.commands
                                 if isinstance(c, Status) and c.cmd_ref == "0")
            header_status.msg_ref = "7"
        elif self.mode == "missing_status" and first:
            msg.commands = [c for c in msg.commands
                            if not (isinstance(c, Status) and c.cmd == "Replace")]
        elif self.mode == "final_missing" and not first:
            msg.final = False
        else:
            return body
        return encode(msg, fmt)


@pytest.mark.parametrize("mode", ["msg_ref", "missing_status", "over_max_msg_size",
                                  "http_500", "final_missing"])
def test_a_broken_server_is_caught_by_kind(mode: str) -> None:
    mix = FleetMix(wbxml=0.0 if mode == "over_max_msg_size" else 0.5, auth={"basic": 1},
                   max_msg_size={16384: 1}, generic_alert=0.0, think_time=(0, 0))
    fleet = Fleet(mix, 4)
    app, _ = build_app(fleet)
    stats = FleetStats()
    with ServerThread(BrokenServer(app, mode)) as server, \
            HttpxTransport(timeout=5) as transport:
        for spec in fleet:
            stats.record(SimulatedDevice(spec, f"{server.url}/dm", mix).run_session(transport))
    counts = {kind: entry["count"] for kind, entry in stats.violations.items()}
    if mode == "final_missing":
        # The device asks (1222) for the rest of a package that never comes; the server,
        # whose session is over, answers with its DM end of session (SyncHdr Status + 1223,
        # issue 12), which answers no command: seen too, as what it is (and the broken server
        # strips its Final as well).
        assert counts == {"final_missing": 8, "missing_status": 4}, stats.violations
        assert "no Status for Alert" in stats.violations["missing_status"]["example"]
        return
    expected = {"http_500": "http_status"}.get(mode, mode)
    assert counts == {expected: 4}, stats.violations
    assert expected in KINDS
    example = stats.violations[expected]["example"]
    assert {"msg_ref": "MsgRef 7", "missing_status": "Replace", "http_status": "HTTP 500",
            "over_max_msg_size": "> MaxMsgSize 16384"}[expected] in example


# -- the reports -------------------------------------------------------------------------------


def _png_pixels(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Width, height and RGB pixels of an 8-bit RGB or RGBA, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and color in (2, 6) and interlace == 0
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytearray] = []
    prev = bytearray(stride)
    for y in range(height):
        line = raw[y * (stride + 1):(y + 1) * (stride + 1)]
        kind, row = line[0], bytearray(line[1:])
        for i in range(stride):
            a = row[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                row[i] = (row[i] + a) & 0xFF
            elif kind == 2:
                row[i] = (row[i] + b) & 0xFF
            elif kind == 3:
                row[i] = (row[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) \
                    & 0xFF
        rows.append(row)
        prev = row
    pixels = [(row[i], row[i + 1], row[i + 2]) for row in rows
              for i in range(0, stride, channels)]
    return width, height, pixels


def test_the_report_has_every_figure(fleet_run: FleetRun, tmp_path: Path) -> None:
    report = build_report(fleet_run.stats, url="http://127.0.0.1/dm", devices=24)
    json_path, html_path = write_reports(report, tmp_path / "run")
    data = json.loads(json_path.read_text())
    assert data["summary"]["sessions"] == 48
    assert set(data["summary"]["package_latency"]) == {"pkg1", "pkg3"}
    assert data["figures"]["faults"]["wrong_password"]["handled"] == 4
    assert data["timeline"] and all("p99_ms" in point for point in data["timeline"])
    page = html_path.read_text()
    assert page.count("<svg") == 5 and "<script" not in page and "http://" not in page.replace(
        "http://127.0.0.1/dm", "").replace("http://www.w3.org/2000/svg", "")
    assert render_html(data) == page  # the JSON alone redraws the page


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed "
                                             "(Debian: apt-get install chromium)")
def test_the_html_report_renders_its_plots_in_chromium(fleet_run: FleetRun,
                                                       tmp_path: Path) -> None:
    _, html_path = write_reports(build_report(fleet_run.stats, url="http://x/dm"),
                                 tmp_path / "run")
    shot = tmp_path / "shot.png"
    assert CHROMIUM is not None
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", f"--screenshot={shot}", "--window-size=1000,1500",
                    html_path.as_uri()], check=False, timeout=120,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert shot.is_file(), "Chromium wrote no screenshot"
    width, height, pixels = _png_pixels(shot.read_bytes())
    assert (width, height) == (1000, 1500)
    assert len(set(pixels)) > 50, "the screenshot is blank"
    # The plots' series colours are drawn: lines and bars in blue, red and green.
    blue = sum(1 for p in pixels if p == (0x1F, 0x77, 0xB4))
    red = sum(1 for p in pixels if p == (0xD6, 0x27, 0x28))
    green = sum(1 for p in pixels if p == (0x2C, 0xA0, 0x2C))
    assert blue > 2000 and red > 200 and green > 200, (blue, red, green)


# -- the command, the Locust path --------------------------------------------------------------


def _loadtest(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "omadm_codec", "loadtest", *args],
                          capture_output=True, text=True, timeout=timeout, env=_env())


def test_importing_every_module_does_not_bring_gevent() -> None:
    # A process that walks the package (the docs build, the pure run's test_backend) must not
    # end up monkey-patched: Locust comes in only when a run starts.
    code = ("import sys, pkgutil, importlib, omadm_codec\n"
            "for info in pkgutil.walk_packages(omadm_codec.__path__, 'omadm_codec.'):\n"
            "    if not info.name.endswith('__main__') and not info.name.endswith('_c'):\n"
            "        importlib.import_module(info.name)\n"
            "assert 'omadm_codec.loadtest._locust' in sys.modules\n"
            "assert 'gevent' not in sys.modules and 'locust' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, env=_env(), timeout=60)


@NEEDS_LOCUST
def test_self_run_on_locust_headless(tmp_path: Path) -> None:
    mix = tmp_path / "mix.json"
    mix.write_text(json.dumps({"think_time": 0.05, "faults": {"corrupt": 0.2},
                               "large_object": 0.2, "auth": {"basic": 1}}))
    done = _loadtest("--self", "10", "--duration", "4", "--mix", str(mix), "--report",
                     str(tmp_path / "r"), "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "r.json").read_text())
    run = report["run"]
    assert report["summary"]["completed"] > 10 and report["summary"]["violations"] == 0
    assert report["figures"]["faults"]["corrupt"]["handled"] > 0
    assert run["server_stats"]["sessions_completed"] >= report["summary"]["completed"]
    assert run["harness_cpu_seconds"] > 0 and run["server_cpu_ms_per_session"] > 0
    assert set(run["locust"]) >= {"POST pkg1", "POST pkg3", "DM session"}
    assert (tmp_path / "r.html").read_text().count("<svg") == 5
    assert "no protocol violation" in done.stderr


@NEEDS_LOCUST
def test_handing_over_to_locust(tmp_path: Path) -> None:
    from omadm_codec.loadtest.command import SelfServer

    mix = tmp_path / "mix.json"
    mix.write_text(json.dumps({"think_time": 0.05, "auth": {"basic": 1}}))
    server = SelfServer(4, mix, "memory")
    try:
        done = _loadtest(server.url, "--devices", "4", "--mix", str(mix), "--report",
                         str(tmp_path / "l"), "--locust", "--headless", "-u", "4", "-r", "4",
                         "-t", "3s", "--only-summary")
        stats = server.stats()
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr[-2000:]
    summary = done.stdout + done.stderr  # Locust's own summary table
    assert all(f" {name} " in summary for name in ("session", "pkg1", "pkg3")), summary[-3000:]
    report = json.loads((tmp_path / "l.json").read_text())
    assert report["summary"]["completed"] > 4 and report["summary"]["violations"] == 0
    assert stats["sessions_completed"] >= report["summary"]["completed"]


@NEEDS_LOCUST
def test_an_unreachable_url_is_one_line_and_exit_3(tmp_path: Path) -> None:
    done = _loadtest("http://127.0.0.1:9/dm", "--devices", "2", "--duration", "5",
                     "--report", str(tmp_path / "u"))
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "connect" in lines[0] and "127.0.0.1:9" in lines[0]
    assert json.loads((tmp_path / "u.json").read_text())["run"]["exit_status"] == 3


class _NotDM(BaseHTTPRequestHandler):
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - the http.server name
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b"<html><body>Welcome to nginx!</body></html>"
        self.send_response(self.status)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


class _Fails(_NotDM):
    status = 500


@pytest.fixture(params=[_NotDM, _Fails], ids=["html", "http_500"])
def not_a_dm_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield (f"http://127.0.0.1:{server.server_address[1]}/dm",
               "not_dm" if request.param is _NotDM else "http_status")
    finally:
        server.shutdown()
        server.server_close()


@NEEDS_LOCUST
def test_a_non_dm_answer_stops_the_run_with_one_line(not_a_dm_server: tuple[str, str],
                                                     tmp_path: Path) -> None:
    url, kind = not_a_dm_server
    started = time.monotonic()
    done = _loadtest(url, "--devices", "3", "--duration", "60", "--think-time", "0.1",
                     "--report", str(tmp_path / "n"), "--no-progress")
    assert done.returncode == 3, done.stderr[-2000:]
    assert time.monotonic() - started < 50  # stopped at once, not after --duration
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("omadm-codec loadtest: ") and kind in last
    report = json.loads((tmp_path / "n.json").read_text())
    assert report["figures"]["violations"][kind]["count"] >= 3
    assert report["run"]["exit_status"] == 3


@NEEDS_LOCUST
def test_ctrl_c_writes_the_report_so_far(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "omadm_codec", "loadtest", "--self", "4", "--duration", "120",
         "--think-time", "0.05", "--report", str(tmp_path / "c"), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    time.sleep(6)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    report = json.loads((tmp_path / "c.json").read_text())
    assert report["run"]["stopped_by"] == "interrupted" and report["summary"]["sessions"] > 0


@NEEDS_LOCUST
def test_max_sessions_bounds_the_run(tmp_path: Path) -> None:
    (tmp_path / "mix.json").write_text('{"auth": {"basic": 1}}')
    done = _loadtest("--self", "3", "--duration", "60", "--max-sessions", "12",
                     "--think-time", "0", "--mix", str(tmp_path / "mix.json"), "--report",
                     str(tmp_path / "m"), "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["run"]["stopped_by"] in ("max_sessions", "fleet_done")
    assert 12 <= report["summary"]["sessions"] <= 15


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    (tmp_path / "mix.json").write_text('{"wbxml": 7}')
    done = _loadtest("--self", "2", "--mix", str(tmp_path / "mix.json"))
    assert done.returncode == 2 and "wbxml" in done.stderr
    assert _loadtest("--devices", "2").returncode == 2  # no URL, no --self
    redis = _loadtest("--self", "2", "--store", "redis://127.0.0.1:1/0", "--report",
                      str(tmp_path / "s"))
    assert redis.returncode == 2 and "--store" in redis.stderr


@NEEDS_LOCUST
def test_tls_a_certificate_the_devices_refuse_then_trust(tmp_path: Path) -> None:
    pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives.asymmetric import ec
    from test_http_tls import _cert, _write

    from omadm_codec.http import TlsConfig

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    _write(tmp_path / "ca", _cert("lt CA", ca_key, "lt CA", ca_key, ca=True), ca_key)
    _write(tmp_path / "server", _cert("lt server", key, "lt CA", ca_key, server=True), key)
    mix_file = tmp_path / "mix.json"
    mix_file.write_text(json.dumps({"think_time": 0.05, "auth": {"basic": 1}}))
    app, _ = build_app(Fleet(FleetMix.load(mix_file), 2))
    tls = TlsConfig(str(tmp_path / "server.crt"), str(tmp_path / "server.key"))
    with ServerThread(app, tls=tls) as server:
        url = f"{server.url}/dm"
        refused = _loadtest(url, "--devices", "2", "--duration", "3", "--mix", str(mix_file),
                            "--report", str(tmp_path / "t1"))
        trusted = _loadtest(url, "--devices", "2", "--duration", "3", "--mix", str(mix_file),
                            "--ca", str(tmp_path / "ca.crt"), "--report", str(tmp_path / "t2"),
                            "--no-progress")
    assert refused.returncode == 3
    line = refused.stderr.strip().splitlines()
    assert len(line) == 1 and ": tls: " in line[0], refused.stderr
    assert trusted.returncode == 0, trusted.stderr[-2000:]
    report = json.loads((tmp_path / "t2.json").read_text())
    assert report["summary"]["completed"] > 2 and report["summary"]["violations"] == 0


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@NEEDS_LOCUST
def test_distributed_master_and_worker_merge_our_figures(tmp_path: Path) -> None:
    from omadm_codec.loadtest.command import SelfServer

    mix = tmp_path / "mix.json"
    mix.write_text(json.dumps({"think_time": 0.05, "faults": {"wrong_password": 0.25},
                               "auth": {"basic": 1}}))
    port = str(_free_port())
    server = SelfServer(4, mix, "memory")
    worker = None
    try:
        master = subprocess.Popen(
            [sys.executable, "-m", "omadm_codec", "loadtest", server.url, "--devices", "4",
             "--mix", str(mix), "--report", str(tmp_path / "d"), "--locust", "--master",
             "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
             "--expect-workers", "1", "--headless", "-u", "4", "-r", "4", "-t", "4s",
             "--only-summary"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env())
        worker = subprocess.Popen(
            [sys.executable, "-m", "omadm_codec", "loadtest", "--devices", "4", "--mix",
             str(mix), "--locust", "--worker", "--master-host", "127.0.0.1",
             "--master-port", port],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
        out, _ = master.communicate(timeout=120)
        worker.wait(timeout=60)
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
        server.stop()
    report = json.loads((tmp_path / "d.json").read_text())
    # The worker ran the sessions; the master's report holds them, merged from its reports.
    figures = report["figures"]
    assert report["summary"]["completed"] > 3
    assert figures["faults"]["wrong_password"]["handled"] == figures["outcomes"]["auth_failed"]
    # Every challenge a wrong password gets answers each of its commands too: a clean run.
    assert figures["violations"] == {}, figures["violations"]
    assert master.returncode == 0, out[-3000:]


@pytest.mark.parametrize("server_auth", ["basic", "md5", "hmac"])
def test_devices_check_the_servers_credentials(server_auth: str) -> None:
    mix = FleetMix(server_auth=server_auth, auth={"basic": 1}, think_time=(0, 0))
    fleet = Fleet(mix, 3)
    app, _ = build_app(fleet)
    stats = FleetStats()
    with ServerThread(app) as server, HttpxTransport() as transport:
        devices = [SimulatedDevice(spec, f"{server.url}/dm", mix) for spec in fleet]
        for _ in range(2):
            for device in devices:
                stats.record(device.run_session(transport))
    assert stats.outcomes == {"completed": 6} and stats.violations == {}
    # A server presenting a wrong password is refused by every device.
    wrong = FleetMix(server_auth=server_auth, server_password="not-the-one", think_time=(0, 0),
                     auth={"basic": 1})
    app, _ = build_app(Fleet(FleetMix(server_auth=server_auth, think_time=(0, 0),
                                      auth={"basic": 1}), 1))
    with ServerThread(app) as server, HttpxTransport() as transport:
        result = SimulatedDevice(Fleet(wrong, 1)[0], f"{server.url}/dm",
                                 wrong).run_session(transport)
    assert result.outcome == "auth_failed" and result.violations == [], result


# -- the lean session of an honest device ------------------------------------------------------


class _Recording:
    """A transport that keeps every request and its answer."""

    def __init__(self, transport: HttpxTransport) -> None:
        self.transport = transport
        self.log: list[tuple[str, bytes, dict[str, str], Any]] = []

    def post(self, url: str, body: bytes, headers: dict[str, str], name: str) -> Any:
        reply = self.transport.post(url, body, headers, name)
        self.log.append((url, body, dict(headers), reply))
        return reply


class _Replaying:
    """A transport that expects exactly the recorded requests and gives the recorded answers."""

    def __init__(self, log: list[tuple[str, bytes, dict[str, str], Any]]) -> None:
        self.log = list(log)

    def post(self, url: str, body: bytes, headers: dict[str, str], name: str) -> Any:
        assert self.log, "a request more than the ClientSession sent"
        want_url, want_body, want_headers, reply = self.log.pop(0)
        assert (url, headers) == (want_url, want_headers)
        assert body == want_body, (body[:300], want_body[:300])
        return reply


@pytest.mark.parametrize("fmt", ["xml", "wbxml"])
@pytest.mark.parametrize("auth_kind", ["basic", "md5", "hmac"])
def test_the_lean_session_sends_what_a_client_session_sends(fmt: str, auth_kind: str) -> None:
    """Byte for byte: a device on a ClientSession runs sessions against our server (the first
    one is challenged for md5 and HMAC); the same device on the lean path, given the same
    SessionIDs and the recorded answers, sends the same requests and counts the same."""
    mix = FleetMix(wbxml=1.0 if fmt == "wbxml" else 0.0, auth={auth_kind: 1},
                   generic_alert=0.0, think_time=(0, 0))
    fleet = Fleet(mix, 1)
    app, _ = build_app(fleet)
    with ServerThread(app) as server, HttpxTransport() as transport:
        full = SimulatedDevice(fleet[0], f"{server.url}/dm", mix, lean=False)
        lean = SimulatedDevice(fleet[0], f"{server.url}/dm", mix)
        assert lean.lean and not full.lean
        for number in range(5):  # from the third on, the memo answers (below)
            recording = _Recording(transport)
            expected = full.run_session(recording, session_id=f"5E{number}")
            replay = _Replaying(recording.log)
            got = lean.run_session(replay, session_id=f"5E{number}")
            assert replay.log == []
            assert expected.outcome == got.outcome == "completed"
            assert got.violations == expected.violations == []
            assert got.device_statuses == expected.device_statuses
            assert got.server_statuses == expected.server_statuses
            assert [(e.package, e.http_status, e.sent, e.received) for e in got.exchanges] == \
                [(e.package, e.http_status, e.sent, e.received) for e in expected.exchanges]
    assert lean.handoffs == {}
    assert lean._memo.known, "the answer memo never learned an answer"


def _odd_commands(kind: str) -> Any:
    from omadm_codec.loadtest.selfserver import standard_commands
    from omadm_codec.messages.model import Add, Get, Item, Meta, Replace, Target

    def commands() -> list[Any]:
        extra = {
            "command": [Add("0", [Item(target=Target("./Vendor/Acme/Settings/Volume"),
                                       meta=Meta(format="int"), data="5")])],
            "interior": [Get("0", [Item(target=Target("./Vendor/Acme/Logs"))])],
            "property": [Get("0", [Item(target=Target("./Vendor/Acme/Logs?list=Struct"))])],
            "overlap": [Replace("0", [Item(target=Target("./Vendor/Acme/Settings/Ringtone"),
                                           data="jazz")])],
        }[kind]
        return standard_commands() + extra
    return commands


@pytest.mark.parametrize("kind", ["command", "interior", "property", "overlap"])
def test_a_lean_session_hands_over_what_it_does_not_answer(kind: str) -> None:
    """A server message outside the lean repertoire (an Add, a Get naming a property, a Get
    and a Replace of one node) goes to a ClientSession set to the same point: the session ends
    as a ClientSession's would, with the same statuses and no violation. A Get of an interior
    node (its child list) the lean path answers itself, the same way."""
    mix = FleetMix(auth={"md5": 1}, generic_alert=0.0, think_time=(0, 0))
    results = {}
    for lean in (True, False):
        fleet = Fleet(mix, 2)
        app, _ = build_app(fleet, commands=_odd_commands(kind))
        with ServerThread(app) as server, HttpxTransport() as transport:
            device = SimulatedDevice(fleet[0], f"{server.url}/dm", mix, lean=lean)
            runs = [device.run_session(transport) for _ in range(2)]
        for result in runs:
            assert result.outcome == "completed" and result.violations == [], result
        results[lean] = [r.device_statuses for r in runs], device.handoffs
    assert results[True][0] == results[False][0]
    assert results[True][1] == ({} if kind == "interior" else {kind: 2})
    assert results[False][1] == {}


def test_a_server_switching_the_session_id_is_caught_on_the_lean_path() -> None:
    """What a ClientSession refuses, the lean path hands to one, which refuses it: the same
    ``protocol`` violation as before the lean path."""

    class WrongSession(BrokenServer):
        def breach(self, body: bytes, content_type: str, first: bool) -> bytes:
            if not first:
                return body
            msg = decode(body, content_type)
            msg.header.session_id = "BAD"
            return encode(msg, "wbxml" if "wbxml" in content_type else "xml")

    mix = FleetMix(auth={"basic": 1}, generic_alert=0.0, think_time=(0, 0))
    fleet = Fleet(mix, 2)
    app, _ = build_app(fleet)
    with ServerThread(WrongSession(app, "session_id")) as server, \
            HttpxTransport(timeout=5) as transport:
        device = SimulatedDevice(fleet[0], f"{server.url}/dm", mix)
        result = device.run_session(transport)
    assert device.handoffs == {"header": 1}
    assert result.outcome == "violation"
    assert [v.kind for v in result.violations] == ["protocol"]
    assert "session_id" in result.violations[0].example


# -- the answer memo (an answer decoded once per device and shape) ----------------------------


def _server_answer(session_id: str, resp_uri: str, nonce: str, code: int = 200,
                   value: str = "ring") -> Any:
    from omadm_codec.messages.model import (
        Chal,
        Get,
        Item,
        Message,
        Meta,
        Replace,
        Source,
        SyncHdr,
        Target,
    )

    header = SyncHdr(session_id, "1", Target("IMEI:1"), Source("http://dm.example/dm"),
                     resp_uri=resp_uri)
    return Message(header, [
        Status("1", "1", "0", "SyncHdr", code, chal=Chal(Meta(
            format="b64", type="syncml:auth-md5", next_nonce=nonce))),
        Status("2", "1", "1", "Alert", 200), Status("3", "1", "2", "Replace", 200),
        Get("4", [Item(target=Target("./DevInfo/Mod"))]),
        Replace("5", [Item(target=Target("./Vendor/Acme/Ring"), data=value)])], final=True)


@pytest.mark.parametrize("fmt", ["xml", "wbxml"])
def test_the_answer_memo_is_exact(fmt: str) -> None:
    """An answer is learned from two full decodes that differ only in SessionID, RespURI and
    nonce; a third with new such values comes back as its full decode would, with the same
    findings. Anything else (another byte outside those values, another length, markup in a
    value) is decoded in full."""
    from omadm_codec.loadtest.conformance import AnswerMemo, SentMessage, check_answer

    content_type = f"application/vnd.syncml.dm+{fmt}"
    sent = SentMessage("1", (("0", "SyncHdr"), ("1", "Alert"), ("2", "Replace"), ("3", "Get")),
                       (), "pkg1")
    memo = AnswerMemo()

    def check(body: bytes) -> tuple[Any, list[Any]]:
        found: list[Any] = []
        return check_answer(sent, 200, content_type, body, 65536, found, memo=memo), found

    def body(*args: Any, **kwargs: Any) -> bytes:
        return encode(_server_answer(*args, **kwargs), fmt)

    first = body("1A2B", "http://dm.example/s/tokenAAAA", "bm9uY2UxMTExMTExMTE=")
    second = body("77C0", "http://dm.example/s/tokenBBBB", "Zm9vYmFyYmF6cXV4eHg=")
    check(first)
    assert not memo.known
    check(second)
    assert len(memo.known) == 1  # learned: the two differ only in the three values
    third = body("F00D", "http://dm.example/s/token-c_D", "cXV4cXV4cXV4cXV4cXU=")
    msg, found = check(third)
    assert memo.recall(sent, content_type, third) is not None
    assert msg == decode(third, content_type)
    assert msg.header.session_id == "F00D" and [v.kind for v in found] == ["missing_status"]
    assert msg.commands[0].chal.meta.next_nonce == "cXV4cXV4cXV4cXV4cXU="
    # The memo's own message is left as learned (the answer is a copy where it differs).
    assert memo.known[id(sent), content_type].msg.header.session_id == "77C0"
    # Each of these decodes in full (the memo does not recall it), and is judged as such.
    others = [
        body("F00D", "http://dm.example/s/tokenCCCC", "cXV4cXV4cXV4cXV4cXU=", code=212),
        body("F00D", "http://dm.example/s/tokenCCCC", "cXV4cXV4cXV4cXV4cXU=", value="rang"),
        body("F00DD", "http://dm.example/s/tokenCCCC", "cXV4cXV4cXV4cXV4cXU="),
        body("F00D", "http://dm.example/s/tokenCCC&", "cXV4cXV4cXV4cXV4cXU=")]
    for other in others:
        assert memo.recall(sent, content_type, other) is None
        msg, found = check(other)
        assert msg == decode(other, content_type)
    # A value the two learned answers shared is not a span: a later answer must repeat it.
    memo = AnswerMemo()
    check(body("1A2B", "http://dm.example/s/tokenSAME", "bm9uY2UxMTExMTExMTE="))
    check(body("77C0", "http://dm.example/s/tokenSAME", "Zm9vYmFyYmF6cXV4eHg="))
    assert len(memo.known) == 1
    assert memo.recall(sent, content_type, body(
        "F00D", "http://dm.example/s/tokenSAME", "cXV4cXV4cXV4cXV4cXU=")) is not None
    moved = body("F00D", "http://dm.example/s/tokenMOVE", "cXV4cXV4cXV4cXV4cXU=")
    assert memo.recall(sent, content_type, moved) is None
    assert check(moved)[0] == decode(moved, content_type)
    # A SessionID span holding markup is not read as a value.
    if fmt == "xml":
        hostile = third.replace(b"<SessionID>F00D<", b"<SessionID>F<!D<")
        assert len(hostile) == len(third)
        memo.known.clear()
        check(first)
        check(second)
        assert memo.recall(sent, content_type, hostile) is None


def test_a_memoised_answer_counts_its_violations_every_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that breaks the protocol the same way in every session: the lean device
    recalls its answers from the memo after two sessions and still counts every breach, as
    many as a device on a ClientSession (no memo) counts."""
    from omadm_codec.loadtest.conformance import AnswerMemo

    recalled = 0
    recall = AnswerMemo.recall

    def counting(self: AnswerMemo, *args: Any) -> Any:
        nonlocal recalled
        known = recall(self, *args)
        recalled += known is not None
        return known

    monkeypatch.setattr(AnswerMemo, "recall", counting)
    mix = FleetMix(auth={"md5": 1}, generic_alert=0.0, think_time=(0, 0))
    counts = {}
    for lean in (True, False):
        fleet = Fleet(mix, 1)
        app, _ = build_app(fleet)
        stats = FleetStats()
        with ServerThread(BrokenServer(app, "msg_ref")) as server, \
                HttpxTransport(timeout=5) as transport:
            device = SimulatedDevice(fleet[0], f"{server.url}/dm", mix, lean=lean)
            for number in range(6):
                # SessionIDs of one length (a random one is shorter 1 time in 16, and an
                # answer of another length is decoded in full, not recalled).
                stats.record(device.run_session(transport, session_id=f"7E{number:02X}"))
        counts[lean] = {kind: entry["count"] for kind, entry in stats.violations.items()}
        assert stats.sessions == 6
    assert recalled >= 3
    assert counts[True] == counts[False] and counts[True]["msg_ref"] >= 6, counts


# -- the devices' HTTP/1.1 client --------------------------------------------------------------


class _RawServer:
    """A TCP server answering each request with the next canned bytes (None: close at once)."""

    def __init__(self, answers: list[bytes | None]) -> None:
        import socket

        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.answers:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                while self.answers:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    if not data:
                        break
                    head, _, body = data.partition(b"\r\n\r\n")
                    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                    while len(body) < length:
                        body += conn.recv(65536)
                    self.requests.append(head + b"\r\n\r\n" + body)
                    answer = self.answers.pop(0)
                    if answer is None:
                        break  # close without answering
                    conn.sendall(answer)
                    if b"connection: close" in answer.lower():
                        break

    def close(self) -> None:
        self.sock.close()


def test_http1_reads_lengths_chunks_close_and_recovers_a_stale_connection() -> None:
    from omadm_codec.loadtest.http1 import Connection, ProtocolError, Target

    ok = (b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.syncml.dm+xml\r\n"
          b"x-syncml-hmac: algorithm=MD5, username=\"s\", mac=AAAA\r\nContent-Length: 5\r\n\r\n"
          b"hello")
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n")
    closing = b"HTTP/1.0 500 Oops\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nboom"
    # 100 Continue, then the answer; a stale keep-alive connection (closed with no answer) is
    # re-opened once for the same request.
    interim = b"HTTP/1.1 100 Continue\r\n\r\n" + ok
    server = _RawServer([ok, chunked, None, interim, closing, b"garbage\r\n\r\n"])
    try:
        target = Target.parse(f"http://127.0.0.1:{server.port}/dm/s/x?y=1")
        assert (target.path, target.host_header) == ("/dm/s/x?y=1", f"127.0.0.1:{server.port}")
        connection = Connection(target, timeout=5)
        first = connection.post(target, b"one", {"content-type": "a/b"})
        assert (first.status, first.body, first.content_type) == \
            (200, b"hello", "application/vnd.syncml.dm+xml")
        assert first.hmac is not None and first.hmac.startswith("algorithm=MD5")
        assert connection.post(target, b"two", {}).body == b"abcde"
        third = connection.post(target, b"three", {})  # the stale connection, then a new one
        assert third.body == b"hello"
        failed = connection.post(target, b"four", {})
        assert (failed.status, failed.body, failed.content_type) == (500, b"boom", "text/plain")
        with pytest.raises(ProtocolError):
            connection.post(target, b"five", {})
        assert [r.split(b"\r\n\r\n")[1] for r in server.requests] == \
            [b"one", b"two", b"three", b"three", b"four", b"five"]
        assert server.requests[0].startswith(b"POST /dm/s/x?y=1 HTTP/1.1\r\nHost: 127.0.0.1:")
        with pytest.raises(ValueError):
            connection.post(target, b"x", {"x-a": "b\r\nInjected: 1"})
        for bad in ("ftp://h/x", "http://", "http://h:port/x"):
            with pytest.raises(ValueError):
                Target.parse(bad)
    finally:
        server.close()
