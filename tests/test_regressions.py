"""Replays the crash corpus: every input that ever failed a fuzz harness, on both twins.

The one idea: ``tests/regressions/TARGET/NAME.bin`` is a raw harness input (option byte first,
see ``fuzz/targets.py``) and is judged by the same ``targets.check`` the fuzzer used: both twins
must give equal results or the same typed error (class, reason, offset). An input whose bug is
still open is listed in ``OPEN`` and runs as a strict xfail, so the fix turns it into a failure
until it is removed from ``OPEN``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "fuzz"))

import targets  # noqa: E402

REGRESSIONS = Path(__file__).resolve().parent / "regressions"
CASES = sorted(p for p in REGRESSIONS.glob("*/*.bin"))

# "TARGET/NAME.bin" -> why it still fails (the bug, for its owner). Remove the line with the fix.
OPEN: dict[str, str] = {}


def _param(path: Path) -> object:
    key = f"{path.parent.name}/{path.name}"
    marks = []
    if key in OPEN:
        marks.append(pytest.mark.xfail(strict=True, raises=targets.Failure, reason=OPEN[key]))
    return pytest.param(path, id=key, marks=marks)


def test_corpus_is_laid_out_by_target() -> None:
    """Every directory names a harness, and every OPEN entry names a committed file."""
    for directory in REGRESSIONS.iterdir():
        if directory.is_dir():
            assert directory.name in targets.TARGETS, directory
    committed = {f"{p.parent.name}/{p.name}" for p in CASES}
    assert set(OPEN) <= committed


@pytest.mark.parametrize("path", [_param(p) for p in CASES])
def test_replay(path: Path, both_backends: object) -> None:
    # both_backends: skips without the compiled twins (fails under OMADM_CODEC_REQUIRE_EXT=1).
    targets.check(path.parent.name, path.read_bytes())


# -- the session harnesses reach command execution (issue 7) --------------------------------
import session_targets  # noqa: E402


@pytest.mark.parametrize("flag", [0, 1], ids=["xml", "wbxml"])
def test_session_harness_executes_commands(flag: int, both_backends: object) -> None:
    """Package 4 of the recorded session, fed after the replayed prefix, runs its commands
    against the tree (no 407: the client is authenticated) and the tree dump shows it."""
    fmt = session_targets.FORMATS[flag]
    package4 = [b for who, b in session_targets.authenticated_exchange(fmt) if who == "S"][1]
    kind, trace = targets.check("session", bytes([flag]) + package4)
    assert kind == "ok"
    events = "".join(trace[1])
    assert events.count("CommandExecuted") >= 15
    assert "status=407" not in events and "status=200" in events
    assert "status=507" in events  # the Atomic was rolled back: it really ran
    tree = {row[0]: row[2] for row in trace[-1]}
    assert tree["./Vendor/Acme/Settings/Brightness"] == "40"
    assert tree["./Vendor/Acme/Net/APN/3/Name"] == "ims.acme"
    assert "./Vendor/Acme/Logs/Crash" not in tree
    fresh = session_targets.new_client(fmt, session_targets.Limits()).tree
    assert {row[0] for row in session_targets.tree_dump(fresh)} != set(tree)


@pytest.mark.parametrize("flag", [0, 1], ids=["xml", "wbxml"])
def test_server_session_harness_completes_commands(flag: int, both_backends: object) -> None:
    """Package 3 (the device's Status and Results for the warm-up Get), fed after the replayed
    prefix, completes that Get on the server and makes it send the demo's first package."""
    fmt = session_targets.FORMATS[flag]
    package3 = [b for who, b in session_targets.authenticated_exchange(fmt) if who == "C"][1]
    kind, trace = targets.check("server_session", bytes([flag]) + package3)
    assert kind == "ok"
    assert any("CommandCompleted" in e and "status=200" in e and "AX-5 Pro" in e
               for e in trace[0])
    reply = trace[1][0]
    assert b"./Vendor/Acme/Settings/Brightness" in reply and b"./Vendor/Acme/Ops/Reboot" in reply
    assert trace[-1] == "WAIT"
