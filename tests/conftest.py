"""Shared fixtures: ``backend`` runs a test once on each twin; corpus paths; the libwbxml peer."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from omadm_codec import _backend  # noqa: E402

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"
CORPUS_XML = sorted(CORPUS.glob("*.xml")) if CORPUS.is_dir() else []
REQUIRE_EXT = os.environ.get("OMADM_CODEC_REQUIRE_EXT") == "1"


class Backend:
    """One twin's modules, with their public names reachable as attributes."""

    def __init__(self, name: str, modules: dict[str, ModuleType]) -> None:
        self.name = name
        self.modules = modules

    def __getattr__(self, attr: str) -> Any:
        for module in self.modules.values():
            if not attr.startswith("_") and hasattr(module, attr):
                return getattr(module, attr)
        raise AttributeError(attr)

    def __repr__(self) -> str:
        return f"<Backend {self.name}>"


def load_backend(kind: str) -> Backend:
    """``kind`` is ``"c"`` or ``"py"``; skips (or fails under REQUIRE_EXT) if not built."""
    try:
        modules = {name: _backend.twin(name, kind) for name in _backend.TWINS}
    except ImportError as exc:
        if kind == "c" and not REQUIRE_EXT:
            pytest.skip(f"compiled twin not built: {exc}")
        raise
    return Backend("cython" if kind == "c" else "python", modules)


@pytest.fixture(params=["c", "py"], ids=["cython", "python"], scope="session")
def backend(request: pytest.FixtureRequest) -> Backend:
    return load_backend(request.param)


@pytest.fixture(scope="session")
def both_backends() -> tuple[Backend, Backend]:
    """(compiled, pure), for differential tests; skips when the compiled twin is absent."""
    return load_backend("c"), load_backend("py")


@pytest.fixture(scope="session")
def libwbxml() -> ModuleType:
    import libwbxml_peer

    if not libwbxml_peer.available():
        pytest.skip(libwbxml_peer.REASON)
    return libwbxml_peer


def corpus_ids() -> list[str]:
    return [p.stem for p in CORPUS_XML]
