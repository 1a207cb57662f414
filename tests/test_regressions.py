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
