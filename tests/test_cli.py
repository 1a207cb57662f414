"""The command line as a new user meets it, run as a subprocess: every ordinary mistake is one
line on stderr, ``omadm-codec: <what>: <why>``, with exit status 2 for a usage error and 1 for
a failure, and never a traceback; ``--version``, help for every option and its default."""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import omadm_codec
from omadm_codec import __version__
from omadm_codec.tools.cli import build_parser

DATA = Path(__file__).resolve().parent / "corpus"
ROOT = str(Path(omadm_codec.__file__).resolve().parent.parent)
"""The subprocesses run the package this test imported (whatever the working directory)."""
MESSAGE = DATA / "pkg1_client_init.xml"
PREFIX = "omadm-codec: "


def cli(*args: str, stdin: bytes | None = None, cwd: Path | None = None,
        env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "omadm_codec", *args], input=stdin.decode(
        "latin-1") if stdin is not None else None, capture_output=True, text=True,
        timeout=timeout, cwd=cwd, env=_env(env))


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return dict(os.environ, PYTHONPATH=ROOT + (os.pathsep + path if path else ""),
                **(extra or {}))


def one_line(done: subprocess.CompletedProcess[str], status: int) -> str:
    """The single error line (without the prefix), after checking status and shape."""
    assert done.returncode == status, (done.returncode, done.stdout[-2000:], done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(PREFIX), lines[0]
    return lines[0][len(PREFIX):]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- usage errors: exit 2 ------------------------------------------------------------------

@pytest.mark.parametrize(("args", "expected"), [
    ((), "no command given: choose one of convert, decode, demo, device, encode, enqueue, "
         "inspect, loadtest, outcomes, serve, wbxml2xml, xml2wbxml (see 'omadm-codec --help')"),
    (("serve", "--store", "postgres://db"), "--store: 'postgres://db' is not a store URL "
     "(memory://, redis://HOST:PORT/DB, rediss://..., unix://PATH, redis+cluster://HOST:PORT) "
     "(see 'omadm-codec serve --help')"),
    (("serve", "--workers", "2", "--demo-credentials", "--port", "0"),
     "--workers: several workers need a shared store (--store redis://HOST:PORT/DB)"),
    (("serve", "--workers", "0"), r"--workers: .*\(see 'omadm-codec serve --help'\)"),
    (("outcomes", "IMEI:1", "--store", "memory://"),
     "--store: give the servers' shared store: --store redis://HOST:PORT/DB (or set "
     "OMADM_STORE); an in-process store cannot be reached from another process"),
    (("enqueue", "IMEI:1", "f.xml", "--store", "http://x"), "--store: 'http://x' is not a "
     "store URL (memory://, redis://HOST:PORT/DB, rediss://..., unix://PATH, "
     "redis+cluster://HOST:PORT) (see 'omadm-codec enqueue --help')"),
    (("frobnicate",), r"COMMAND: invalid choice: 'frobnicate' \(choose from .*\) "
                      r"\(see 'omadm-codec --help'\)"),
    (("decode",), "decode: the following arguments are required: file (see 'omadm-codec "
                  "decode --help')"),
    (("serve", "--port", "99999"), "--port: 99999 is not a TCP port (0-65535) (see "
                                   "'omadm-codec serve --help')"),
    (("serve", "--port", "http"), "--port: 'http' is not a port number (see 'omadm-codec "
                                  "serve --help')"),
    (("serve", "--duration", "-1"), "--duration: -1 is not a positive number of seconds (see "
                                    "'omadm-codec serve --help')"),
    (("device", "localhost:8080"), "url: 'localhost:8080' is not an http:// or https:// URL "
                                   "(e.g. http://127.0.0.1:8080/dm) (see 'omadm-codec device "
                                   "--help')"),
    (("device", "ftp://example.com/dm"), "url: 'ftp://example.com/dm' is not an http:// or "
                                         "https:// URL (e.g. http://127.0.0.1:8080/dm) (see "
                                         "'omadm-codec device --help')"),
    (("device", "http://127.0.0.1:99999/dm"), "url: 'http://127.0.0.1:99999/dm' has no valid "
                                              "port (0-65535) (see 'omadm-codec device "
                                              "--help')"),
    (("decode", "--indent", "x", "f"), "--indent: 'x' is not a whole number (see 'omadm-codec "
                                       "decode --help')"),
    (("decode", "--indent", "300", "f"), "--indent: 300 is not in 0..255 (see 'omadm-codec "
                                         "decode --help')"),
    (("convert", "--max-size", "12Q", "f"), "--max-size: '12Q' is not a size (e.g. 16777216, "
                                            "512k, 64M) (see 'omadm-codec convert --help')"),
    (("convert", "--wbxml-version", "2.0", "f"), "--wbxml-version: invalid choice: '2.0' "
                                                 "(choose from '1.1', '1.2', '1.3') (see "
                                                 "'omadm-codec convert --help')"),
    (("serve", "--account", "nocolon", "--port", "0"), "--account: an account is "
                                                        "USER:PASSWORD[:DEVID], not 'nocolon'"),
    (("wbxml2xml", "-m", "7", "f"), "-m: 7 is not a generation mode: 0 compact, 1 indent, 2 "
                                    "canonical (see 'omadm-codec wbxml2xml --help')"),
    (("serve", "--tls-key", "k.pem", "--port", "0"), "--tls-key: needs --tls-cert too"),
    (("serve", "--client-ca", "ca.pem", "--port", "0"), "--client-ca: needs --tls-cert too"),
    (("device", "https://127.0.0.1:1/dm", "--key", "k.pem"), "--key: needs --cert too"),
    (("device", "http://127.0.0.1:1/dm", "--ca", "ca.pem"),
     "--ca: is for an https:// server, not http://127.0.0.1:1/dm"),
    (("wbxml2xml", "-l", "klingon", "f"), "-l: 'klingon' is not one of WML10, WML11, WML12, "
     "WML13, WTA10, WTAWML12, CHANNEL11, CHANNEL12, SI10, SL10, CO10, PROV10, EMN10, "
     "DRMREL10, OTA, SYNCML10, DEVINF10, SYNCML11, DEVINF11, METINF11, SYNCML12, DEVINF12, "
     "METINF12, DMDDF12, CSP11, CSP12, AIRSYNC, ACTIVESYNC, CONML (see 'omadm-codec "
     "wbxml2xml --help')"),
])
def test_usage_errors(args: tuple[str, ...], expected: str) -> None:
    line = one_line(cli(*args), 2)
    if "\\(" in expected:
        assert re.fullmatch(expected, line), line
    else:
        assert line == expected


# -- files -------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["decode", "encode", "inspect", "convert", "xml2wbxml",
                                     "wbxml2xml"])
def test_missing_input_file(command: str, tmp_path: Path) -> None:
    assert one_line(cli(command, "nope.xml", cwd=tmp_path), 1) == \
        "nope.xml: no such file or directory"


@pytest.mark.parametrize("command", ["decode", "encode", "inspect", "convert"])
def test_input_is_a_directory(command: str, tmp_path: Path) -> None:
    assert one_line(cli(command, str(tmp_path)), 1) == f"{tmp_path}: is a directory, not a file"


@pytest.mark.parametrize("command", ["decode", "encode", "convert", "xml2wbxml"])
def test_output_path_problems(command: str, tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "out"
    assert one_line(cli(command, str(MESSAGE), "-o", str(missing)), 1) == \
        f"{missing}: no such file or directory"
    assert one_line(cli(command, str(MESSAGE), "-o", str(tmp_path)), 1) == \
        f"{tmp_path}: is a directory, not a file"
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert one_line(cli(command, str(MESSAGE), "-o", str(blocker / "out")), 1) == \
        f"{blocker / 'out'}: a part of the path is not a directory"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root writes through file permissions")
def test_unwritable_output(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert one_line(cli("encode", str(MESSAGE), "-o", str(locked / "out.wbxml")), 1) == \
        f"{locked / 'out.wbxml'}: permission denied"


def test_unreadable_input(tmp_path: Path) -> None:
    if os.name != "posix" or os.geteuid() == 0:
        pytest.skip("root reads through file permissions")
    secret = tmp_path / "secret.xml"
    secret.write_bytes(MESSAGE.read_bytes())
    secret.chmod(0)
    assert one_line(cli("decode", str(secret)), 1) == f"{secret}: permission denied"


# -- codec errors: one reason code for one fault, whatever the command -------------------------

BAD = b'<SyncML xmlns="SYNCML:SYNCML1.2">\n<SyncHdr>\n  <VerDTD>1.2</VerDTD>\n</SyncML>'


@pytest.mark.parametrize("command", ["decode", "encode", "inspect", "convert"])
def test_malformed_xml_same_reason_and_offset_from_every_command(command: str,
                                                                 tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(BAD)
    line = one_line(cli(command, str(bad)), 1)
    assert line.startswith(f"{bad}: malformed_xml at offset 67: "), line
    assert line.endswith("(line 4, column 1)")
    assert "<string>" not in line and "line 4, line" not in line


def test_standard_input_is_named_so(tmp_path: Path) -> None:
    assert one_line(cli("encode", "-", stdin=b""), 1) == \
        "standard input: malformed_xml at offset 0: Document is empty (line 1, column 1)"


def test_the_wrong_kind_of_input_says_so(tmp_path: Path) -> None:
    assert one_line(cli("wbxml2xml", str(MESSAGE)), 1) == (
        f"{MESSAGE}: unsupported_version at offset 0: the first byte is not a WBXML version "
        "(0x00-0x03): XML, perhaps?")
    latin = tmp_path / "latin.xml"
    latin.write_bytes(b'<?xml version="1.0" encoding="ISO-8859-1"?><SyncML><a')
    assert one_line(cli("convert", str(latin)), 1) == \
        f"{latin}: malformed_xml: Couldn't find end of Start Tag a"


def test_lxml_internals_never_leak(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"<SyncML><SyncHdr>")
    assert one_line(cli("decode", str(bad)), 1) == (
        f"{bad}: malformed_xml at offset 17: Premature end of data in tag SyncHdr "
        "(line 1, column 18)")


def test_too_large_names_the_limit_and_the_option(tmp_path: Path) -> None:
    size = MESSAGE.stat().st_size
    for command in ("decode", "encode", "inspect", "convert", "xml2wbxml"):
        assert one_line(cli(command, "--max-size", "1k", str(MESSAGE)), 1) == (
            f"{MESSAGE}: too_large: {size:,} bytes is over the 1 KiB input limit (raise it "
            "with --max-size, e.g. --max-size 64M)")
    assert one_line(cli("decode", "--max-size", "100", "-", stdin=MESSAGE.read_bytes()), 1) == (
        "standard input: too_large: 101 bytes is over the 100 bytes input limit (raise it with "
        "--max-size, e.g. --max-size 64M)")


def test_max_size_raises_the_limit(tmp_path: Path) -> None:
    """A message over the default 16 MiB decodes with --max-size (and not without)."""
    big = tmp_path / "big.xml"
    text = MESSAGE.read_bytes()
    item = b"<Alert><CmdID>9</CmdID><Data>1226</Data><Item><Data>" + b"x" * 2000 + \
        b"</Data></Item></Alert>"
    big.write_bytes(text.replace(b"<Final/>", item * 8500 + b"<Final/>"))
    assert big.stat().st_size > 16 * 1024 * 1024
    refused = one_line(cli("decode", str(big)), 1)
    assert refused.startswith(f"{big}: too_large: ") and "--max-size" in refused
    done = cli("decode", "--max-size", "32M", str(big))
    assert done.returncode == 0, done.stderr
    assert "<SyncML" in done.stdout


def test_limit_options_name_their_reason(tmp_path: Path) -> None:
    deep = tmp_path / "deep.xml"
    text = MESSAGE.read_bytes()
    deep.write_bytes(text)
    line = one_line(cli("convert", "--max-depth", "3", str(deep)), 1)
    assert re.fullmatch(rf"{re.escape(str(deep))}: too_deep at offset \d+ \(line \d+, "
                        r"column \d+\); raise the limit with --max-depth", line), line
    line = one_line(cli("convert", "--max-elements", "5", str(deep)), 1)
    assert line.endswith("; raise the limit with --max-elements"), line


# -- output to a reader that goes away -----------------------------------------------------

@pytest.mark.parametrize("command", ["encode", "decode", "convert", "inspect"])
def test_broken_pipe_is_quiet(command: str, tmp_path: Path) -> None:
    """``omadm-codec encode FILE | head``: the reader leaves; no traceback, exit 1."""
    big = tmp_path / "many.xml"
    text = MESSAGE.read_bytes()
    item = b"<Alert><CmdID>9</CmdID><Data>1226</Data><Item><Data>" + b"x" * 900 + \
        b"</Data></Item></Alert>"
    big.write_bytes(text.replace(b"<Final/>", item * 400 + b"<Final/>"))
    reader, writer = os.pipe()
    os.close(reader)  # nobody will read
    try:
        done = subprocess.run([sys.executable, "-m", "omadm_codec", command, str(big)],
                              stdout=writer, stderr=subprocess.PIPE, text=True, timeout=60,
                              env=_env())
    finally:
        os.close(writer)
    assert done.returncode == 1
    assert done.stderr == ""


# -- the network -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """``omadm-codec serve`` on a free port (plain HTTP)."""
    pytest.importorskip("uvicorn")
    pytest.importorskip("httpx")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "omadm_codec", "serve", "--port", str(port),
                             "--duration", "120", "--demo-credentials"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(),
                            cwd=tmp_path_factory.mktemp("serve"))
    try:
        assert proc.stdout is not None
        assert "DM server on" in proc.stdout.readline()
        yield port
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


def device(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return cli("device", *args, "--db", str(tmp_path / "dev.sqlite"), cwd=tmp_path)


def test_server_not_running(tmp_path: Path) -> None:
    pytest.importorskip("httpx")
    url = f"http://127.0.0.1:{free_port()}/dm"
    assert one_line(device(url, tmp_path=tmp_path), 1) == \
        f"{url}: connection refused (is the DM server running, on that port?)"
    assert not (tmp_path / "dev.sqlite").exists()  # nothing happened: nothing stored


def test_https_against_plain_http(server: int, tmp_path: Path) -> None:
    url = f"https://127.0.0.1:{server}/dm"
    assert one_line(device(url, tmp_path=tmp_path), 1) == (
        f"{url}: TLS handshake failed: the server does not speak TLS (use http:// for a "
        "plain-HTTP server)")


def test_wrong_path_on_the_server(server: int, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{server}/nope"
    assert one_line(device(url, tmp_path=tmp_path), 1) == \
        f"{url}: the server answered HTTP 404, not a DM message"


def test_ctrl_c_is_one_line(tmp_path: Path) -> None:
    """A server that accepts and never answers; the user gives up with Ctrl-C."""
    import signal
    import time

    pytest.importorskip("httpx")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/dm"
        proc = subprocess.Popen([sys.executable, "-m", "omadm_codec", "device", url, "--db",
                                 str(tmp_path / "d.sqlite"), "--timeout", "60"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=_env())
        assert proc.stdout is not None
        proc.stdout.readline()  # the device announced itself: it is waiting for an answer
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err == "omadm-codec: interrupted\n"


def test_unknown_host(tmp_path: Path) -> None:
    pytest.importorskip("httpx")
    url = "http://no-such-host.invalid/dm"
    line = one_line(device(url, tmp_path=tmp_path), 1)
    assert line.startswith(f"{url}: unknown host ("), line


def test_busy_port(server: int) -> None:
    assert one_line(cli("serve", "--port", str(server), "--duration", "1",
                        "--demo-credentials"), 1) == \
        f"127.0.0.1:{server}: address already in use (is another server running on that port?)"


def test_missing_tls_files_are_named(tmp_path: Path) -> None:
    pytest.importorskip("uvicorn")
    cert = tmp_path / "cert.pem"
    assert one_line(cli("serve", "--port", "0", "--tls-cert", str(cert), "--tls-key",
                        str(tmp_path / "key.pem"), "--duration", "1", "--demo-credentials"),
                    1) == \
        f"{cert}: no such file or directory"
    cert.write_text("not a certificate\n")
    key = tmp_path / "key.pem"
    key.write_text("not a key\n")
    line = one_line(cli("serve", "--port", "0", "--tls-cert", str(cert), "--tls-key",
                        str(key), "--duration", "1", "--demo-credentials"), 1)
    assert line.startswith(f"{cert}, {key}: not a PEM certificate and key pair"), line
    url = f"https://127.0.0.1:{free_port()}/dm"
    assert one_line(device(url, "--ca", str(tmp_path / "ca.pem"), tmp_path=tmp_path), 1) == \
        f"{tmp_path / 'ca.pem'}: no such file or directory"
    line = one_line(device(url, "--ca", str(cert), tmp_path=tmp_path), 1)
    assert line.startswith(f"{cert}: not a PEM CA certificate"), line


def test_not_a_device_database(tmp_path: Path) -> None:
    pytest.importorskip("httpx")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not SQLite" * 100)
    assert one_line(cli("device", "http://127.0.0.1:1/dm", "--db", str(junk)), 1) == \
        f"{junk}: not a usable device database (file is not a database)"


# -- --version, --help, --debug ------------------------------------------------------------

def test_version() -> None:
    done = cli("--version")
    assert done.returncode == 0 and done.stderr == ""
    assert re.fullmatch(rf"omadm-codec {re.escape(__version__)} \(codec backend: "
                        r"(cython|python), Python 3\.\d+\.\d+\S*\)\n", done.stdout)


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_subcommand_and_option_is_described() -> None:
    """Every sub-command has a summary and a description for users; every option has help;
    an option with a meaningful default shows it."""
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    summaries = {choice.dest: choice.help for choice in action._choices_actions}
    for name, sub in _subcommands().items():
        assert summaries.get(name), name
        assert sub.description and len(sub.description) > 40, name
        text = sub.format_help()
        for option in sub._actions:
            if option.help == argparse.SUPPRESS or isinstance(option, argparse._HelpAction):
                continue
            assert option.help, (name, option.dest)
            default = option.default
            if default not in (None, False, [], argparse.SUPPRESS) and option.option_strings:
                assert f"default: {default}" in text.replace("\n", " ").replace(
                    "                        ", "") or "default:" in (option.help or ""), \
                    (name, option.dest)


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_help_of_each_command(command: str) -> None:
    done = cli(command, "--help")
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith(f"usage: omadm-codec {command}")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    done = cli("decode", "nope.xml", "--debug", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert done.stderr.splitlines()[-1] == "omadm-codec: nope.xml: no such file or directory"


# -- device: where its tree lives, and flags over a stored tree -----------------------------

@pytest.fixture()
def own_server(tmp_path: Path) -> Iterator[int]:
    """A fresh ``omadm-codec serve`` (its nonces start where a new device's do)."""
    pytest.importorskip("uvicorn")
    pytest.importorskip("httpx")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "omadm_codec", "serve", "--port", str(port),
                             "--duration", "120", "--demo-credentials"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(), cwd=tmp_path)
    try:
        assert proc.stdout is not None
        assert "DM server on" in proc.stdout.readline()
        yield port
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


def test_device_tree_lives_in_the_user_data_folder(own_server: int, tmp_path: Path) -> None:
    work, data = tmp_path / "work", tmp_path / "data"
    work.mkdir()
    url = f"http://127.0.0.1:{own_server}/dm"
    done = cli("device", url, cwd=work, env={"XDG_DATA_HOME": str(data)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    stored = data / "omadm-codec" / "devices" / "IMEI_490154203237518.sqlite"
    assert done.stdout.splitlines()[0] == f"device IMEI:490154203237518: tree {stored} (new)"
    assert stored.is_file() and list(work.iterdir()) == []  # nothing in the current folder
    assert f"tree saved to {stored}" in done.stdout


def test_device_flags_win_over_the_stored_tree(own_server: int, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{own_server}/dm"
    db = tmp_path / "phone.sqlite"
    assert cli("device", url, "--db", str(db), cwd=tmp_path).returncode == 0
    # A stored tree and a new DevId and a wrong password: the flags win (and the server
    # refuses the password), the tree stays where --db says.
    done = cli("device", url, "--db", str(db), "--dev-id", "IMEI:111111111111111",
               "--password", "WRONG", cwd=tmp_path)
    assert done.stdout.splitlines()[0] == (
        f"device IMEI:111111111111111: tree {db} (stored; the flags win: --dev-id, "
        "--password applied)")
    assert one_line(done, 1) == f"{url}: the session did not complete: auth_failed"
    conflict = cli("device", url, "--db", str(db), "--server-id", "another-server",
                   cwd=tmp_path)
    assert one_line(conflict, 2) == (
        f"--server-id: 'another-server' conflicts with the stored tree {db}, which belongs "
        "to server 'omadm-demo-server' (its ACLs and nonces name it); use --reset to replace "
        "that tree, or --db for another one")


# -- inspect, decode --------------------------------------------------------------------------

def _message(commands: bytes) -> bytes:
    head, _, _ = MESSAGE.read_bytes().partition(b"<SyncBody>")
    return head + b"<SyncBody>" + commands + b"<Final/></SyncBody></SyncML>"


def test_inspect_shows_every_item_or_counts_the_rest(tmp_path: Path) -> None:
    item = b"<Item><Target><LocURI>./a/%d</LocURI></Target><Data>v%d</Data></Item>"
    path = tmp_path / "five.xml"
    path.write_bytes(_message(b"<Replace><CmdID>2</CmdID>" + b"".join(
        item % (i, i) for i in range(5)) + b"</Replace>"))
    done = cli("inspect", str(path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "  Replace 2 (5 items)" in lines
    assert [line for line in lines if line.startswith("      ./a/")] == [
        f"      ./a/{i} = 'v{i}'" for i in range(5)]
    assert "None" not in done.stdout
    many = tmp_path / "many.xml"
    get = b"<Item><Target><LocURI>./b/%d</LocURI></Target></Item>"
    many.write_bytes(_message(b"<Get><CmdID>3</CmdID>" + b"".join(
        get % i for i in range(200_000)) + b"</Get>"))
    done = cli("inspect", "--max-size", "64M", "--items", "3", str(many))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-5:] == [
        "  Get 3 (200000 items)", "      ./b/0", "      ./b/1", "      ./b/2",
        "      +199997 more items (--items 0 shows all)"]
    assert cli("inspect", "--max-size", "64M", "--items", "0",
               str(many)).stdout.count("./b/") == 200_000


def test_inspect_never_prints_an_absent_size(tmp_path: Path) -> None:
    path = tmp_path / "m.xml"
    text = MESSAGE.read_bytes()
    path.write_bytes(text.replace(b"<MaxObjSize", b"<Ignored", 1).replace(
        b"</MaxObjSize>", b"</Ignored>", 1) if b"<MaxObjSize" in text else text)
    done = cli("inspect", str(path))
    assert "None" not in done.stdout


def test_decode_indent_and_output_file(tmp_path: Path) -> None:
    from omadm_codec import decode

    out = tmp_path / "pretty.xml"
    assert cli("decode", "--indent", "2", "-o", str(out), str(MESSAGE)).returncode == 0
    pretty = out.read_bytes()
    assert b"\n  <SyncHdr>\n    <VerDTD>" in pretty
    assert decode(pretty) == decode(MESSAGE.read_bytes())  # whitespace only between elements
    compact = cli("decode", str(MESSAGE)).stdout.encode()
    assert decode(compact) == decode(pretty) and b"\n  <" not in compact
