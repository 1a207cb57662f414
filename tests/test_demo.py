"""``omadm-codec demo`` as the README runs it (a subprocess, bounded time), and its exit
status when an expected outcome does not happen; the other CLI sub-commands."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS

pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

from omadm_codec.tools import demo  # noqa: E402
from omadm_codec.tools.cli import main  # noqa: E402
from omadm_codec.tools.demo_scenario import DemoServerApp, Step, first_package  # noqa: E402

ROOT = str(Path(demo.__file__).resolve().parent.parent.parent)


def _env(**extra: str) -> dict[str, str]:
    """The subprocess runs the package this test imported, whatever the working directory."""
    path = os.environ.get("PYTHONPATH", "")
    return dict(os.environ, PYTHONPATH=ROOT + (os.pathsep + path if path else ""), **extra)


@pytest.mark.parametrize("fmt", ["xml", "wbxml"])
def test_demo_subprocess_exits_0(fmt: str, tmp_path: Path) -> None:
    env = _env(TMPDIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "omadm_codec", "demo", "--format", fmt],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "OK: every expected outcome happened" in out
    for text in ("Cred syncml:auth-md5", "x-syncml-hmac", "Status 407 for SyncHdr",
                 "[MoreData]", "Alert 1226", "Alert 1101", "507 [216 415]", "200 [304 215]",
                 "session 2: client auth switched to x-syncml-hmac",
                 "outcomes: CmdID 1 -> 200, CmdID 2 -> 200; MACs: device 2/2, server 2/2"):
        assert text in out
    assert list(tmp_path.iterdir()) == []  # the temporary SQLite tree is gone
    assert ".sqlite" not in out  # and the transcript names no file that does not remain


def test_demo_fails_when_an_outcome_differs(monkeypatch: pytest.MonkeyPatch) -> None:
    def wrong() -> DemoServerApp:
        steps = first_package()
        steps[0] = Step(steps[0].label, steps[0].command, 404)  # it will be 200
        return DemoServerApp(steps=steps)

    monkeypatch.setattr(demo, "DemoServerApp", wrong)
    out = io.StringIO()
    assert demo.run_demo(out=out) == 1
    assert "FAILED:" in out.getvalue() and "status 200, expected 404" in out.getvalue()


def test_inspect_decode_encode(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["inspect", str(CORPUS / "pkg2_server_mgmt.wbxml")]) == 0
    text = capsys.readouterr().out
    assert "WBXML" in text and "Atomic 37" in text and "Status 212 for SyncHdr 0 +Chal" in text
    assert main(["decode", str(CORPUS / "pkg1_client_init.wbxml")]) == 0
    assert "<Data>1201</Data>" in capsys.readouterr().out
    target = tmp_path / "out.wbxml"
    assert main(["encode", str(CORPUS / "pkg1_client_init.xml"), "-o", str(target)]) == 0
    assert target.read_bytes()[:1] == b"\x03"
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"<SyncML><oops")
    assert main(["inspect", str(bad)]) == 1
    assert main(["convert", str(CORPUS / "pkg1_client_init.wbxml")]) == 0


def test_serve_and_device_subprocesses(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    serve = subprocess.Popen(
        [sys.executable, "-m", "omadm_codec", "serve", "--port", str(port), "--duration", "60",
         "--account", "phone-7:pa55", "--client-auth", "BASIC", "--server-password", "srv-9"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=_env())
    try:
        assert serve.stdout is not None
        assert "DM server on" in serve.stdout.readline()
        device = subprocess.run(
            [sys.executable, "-m", "omadm_codec", "device", f"http://127.0.0.1:{port}/dm",
             "--db", str(tmp_path / "dev.sqlite"), "--user", "phone-7", "--password", "pa55",
             "--client-auth", "BASIC", "--format", "wbxml", "--server-auth", "DIGEST",
             "--server-password", "srv-9"],
            capture_output=True, text=True, timeout=60, cwd=tmp_path, env=_env())
        assert device.returncode == 0, device.stdout[-2000:] + device.stderr[-2000:]
        assert "session ended: completed" in device.stdout
        assert "Cred syncml:auth-basic" in device.stdout
        assert (tmp_path / "dev.sqlite").exists()
    finally:
        serve.terminate()
        out, _ = serve.communicate(timeout=20)
    assert "Atomic -> 507" in out and "session ended (completed)" in out
