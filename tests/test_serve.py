"""``omadm-codec serve`` for a real client (issue 12; docs/interop.md): the path, the accounts
from the command line or a file (bound to a device or not), BASIC / NONE server auth, no demo
secrets and no pre-shared server nonce unless asked; then a libdmclient-like device against the
real ``serve`` process over HTTP.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from omadm_codec.session import events as ev
from omadm_codec.tools import cli_session
from omadm_codec.tools.cli import main
from omadm_codec.tools.cli_session import ServeAccount, device_binding, parse_account, read_accounts
from omadm_codec.tools.simulator import SERVER_SECRET

REPO = Path(__file__).resolve().parent.parent


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli_session.add_commands(parser.add_subparsers())
    return parser.parse_args(["serve", *argv])


def test_serve_defaults_share_no_secret() -> None:
    args = parse()
    assert args.path == "/dm" and args.server_auth == "DIGEST"
    assert args.server_password is None and args.server_nonce is None
    assert not args.demo_credentials and not args.account and not args.strict


def test_accounts_on_the_command_line() -> None:
    assert parse_account("funambol:funambol") == ServeAccount("funambol", "funambol")
    assert parse_account("u:p:IMEI:490154203237518") == ServeAccount(
        "u", "p", "IMEI:490154203237518")
    for bad in ("nopassword", ":p", "u:", ""):
        with pytest.raises(ValueError):
            parse_account(bad)


def test_accounts_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "accounts"
    path.write_text("# devices\n\nfunambol:funambol:DMCtest\n  phone:pw\n", encoding="utf-8")
    assert read_accounts(str(path)) == [ServeAccount("funambol", "funambol", "DMCtest"),
                                        ServeAccount("phone", "pw")]
    path.write_text("ok:pw\nbroken\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"accounts:2"):
        read_accounts(str(path))


def test_device_binding_prefers_bound_accounts() -> None:
    fits = device_binding([ServeAccount("a", "x", "DEV1"), ServeAccount("b", "y"),
                           ServeAccount("c", "z")])
    assert fits("DEV1") == ["a"]
    assert fits("DEV2") == ["b", "c"]  # two unbound accounts: no single fit for md5
    assert device_binding([ServeAccount("solo", "pw")])("anything") == ["solo"]


def test_serve_refuses_to_start_without_an_account(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("uvicorn")
    assert main(["serve", "--duration", "1"]) == 2
    assert "--account USER:PASSWORD" in capsys.readouterr().err
    assert main(["serve", "--duration", "1", "--account", "broken"]) == 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_serve(tmp_path: Path, *argv: str) -> tuple[subprocess.Popen[str], str, list[str]]:
    port = free_port()
    # The checkout under test, wherever the process starts.
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    serve = subprocess.Popen(
        [sys.executable, "-m", "omadm_codec", "serve", "--port", str(port), "--duration", "60",
         *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": path})
    assert serve.stdout is not None
    lines = [serve.stdout.readline()]
    assert "DM server on" in lines[0], lines[0] + (serve.stderr.read() if serve.stderr else "")
    return serve, f"http://127.0.0.1:{port}", lines


@pytest.mark.parametrize("client_auth", ["BASIC", "DIGEST", "HMAC"])
def test_a_libdmclient_like_device_against_the_serve_process(tmp_path: Path,
                                                             client_auth: str) -> None:
    """``serve --path /funambol/dm --server-auth BASIC`` with one account bound to the device,
    no server nonce pre-shared: libdmclient's way of talking gets a whole session of the demo
    script, every command with its outcome, the deviations named in the log."""
    pytest.importorskip("uvicorn")
    pytest.importorskip("httpx")
    from omadm_codec.http import run_http_session
    from omadm_codec.tools import profiles

    serve, base, _ = start_serve(
        tmp_path, "--path", "/funambol/dm", "--server-auth", "BASIC", "--server-id", "funambol",
        "--account", "funambol:funambol:DMCtest", "--client-auth", client_auth,
        "--server-password", "srvpwd")
    try:
        url = f"{base}/funambol/dm"
        tree = profiles.build_libdmclient_tree(server_addr=url, client_auth=client_auth,
                                               server_auth="BASIC")
        client = profiles.libdmclient_session(tree)
        events = run_http_session(client, url, timeout=20)
        assert [e.reason for e in events if isinstance(e, ev.SessionEnded)] == ["completed"]
    finally:
        serve.send_signal(signal.SIGINT)  # Ctrl-C: it prints its summary and stops
        out, err = serve.communicate(timeout=20)
    assert "session ended (completed); quirks absorbed: " in out, out + err
    quirks = out.split("quirks absorbed: ", 1)[1].splitlines()[0].split(", ")
    expected = {"missing_status", "chunk_status"}
    if client_auth != "BASIC":
        # Challenged once, it answers the server's SyncHdr with 0 (it checked nothing yet).
        expected |= {"missing_loc_name", "status_code_range"}
    assert set(quirks) == expected, quirks
    assert "Atomic -> 0 no_status" in out
    assert "Replace -> 200 large_object_failed" in out
    assert "sessions completed: 1, failed: 0" in out


def test_serve_generates_the_server_password_and_labels_demo_credentials(
        tmp_path: Path) -> None:
    pytest.importorskip("uvicorn")
    serve, _, lines = start_serve(tmp_path, "--account", "a:b")
    try:
        assert serve.stdout is not None
        lines.append(serve.stdout.readline())
    finally:
        serve.terminate()
        serve.communicate(timeout=20)
    assert "server password (generated" in lines[1]
    password = lines[1].rsplit(":", 1)[1].strip()
    assert len(password) >= 16 and password != SERVER_SECRET
    serve, _, lines = start_serve(tmp_path, "--demo-credentials", "--duration", "1")
    try:
        assert serve.stdout is not None
        lines.append(serve.stdout.readline())
    finally:
        time.sleep(0.1)
        serve.terminate()
        serve.communicate(timeout=20)
    assert "publicly known" in lines[1]
