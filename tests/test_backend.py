"""The backend choice: the env vars are honoured and a silent fallback is caught."""

from __future__ import annotations

import os
import subprocess
import sys

import omadm_codec
from omadm_codec import _backend


def test_backend_is_known() -> None:
    assert omadm_codec.BACKEND in ("cython", "python")


def test_required_extension_really_loaded() -> None:
    # The CI's compiled run sets OMADM_CODEC_REQUIRE_EXT=1: then the compiled twins must be active.
    if os.environ.get("OMADM_CODEC_REQUIRE_EXT") == "1":
        assert omadm_codec.BACKEND == "cython", _backend.FALLBACK_REASON
        for name in _backend.TWINS:
            assert _backend.active(name).__name__ == f"omadm_codec.{name}_c"


def test_purepython_env_forces_pure() -> None:
    if os.environ.get("OMADM_CODEC_PUREPYTHON") == "1":
        assert omadm_codec.BACKEND == "python"
    out = subprocess.run(
        [sys.executable, "-c", "import omadm_codec; print(omadm_codec.BACKEND)"],
        env={**os.environ, "OMADM_CODEC_PUREPYTHON": "1", "OMADM_CODEC_REQUIRE_EXT": ""},
        capture_output=True, text=True, check=True,
    )
    assert out.stdout.strip() == "python"


def test_never_a_mix() -> None:
    suffixes = {_backend.active(name).__name__.rsplit("_", 1)[1] for name in _backend.TWINS}
    assert len(suffixes) == 1
