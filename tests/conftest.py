"""Shared fixtures: ``backend`` runs a test once on each twin; corpus paths; the libwbxml peer.

Two corpora: the project's own (``tests/corpus``, written by ``tests/corpus/make_corpus.py``,
always there) and the reference corpus beside the workplace (``../shared/corpus``), which a
clone elsewhere does not have. ``CORPUS`` is the project's own; ``CORPUS_XML`` lists the
messages of both, the reference ones only where present (``SHARED_CORPUS_REASON`` says why
they are missing otherwise).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from omadm_codec import _backend  # noqa: E402

TESTS = Path(__file__).resolve().parent
CORPUS = TESTS / "corpus"
SHARED = TESTS.parent.parent / "shared"
SHARED_CORPUS = SHARED / "corpus"
SHARED_CORPUS_REASON = (
    f"the reference corpus {SHARED_CORPUS} is absent (a clone outside the workplace has no "
    "../shared); the project's own tests/corpus runs the same checks")
HAVE_SHARED_CORPUS = SHARED_CORPUS.is_dir()
NEEDS_SHARED_CORPUS = pytest.mark.skipif(not HAVE_SHARED_CORPUS, reason=SHARED_CORPUS_REASON)


def corpus_files(pattern: str) -> list[Path]:
    """The files of both corpora matching ``pattern``: the project's own, then the reference
    corpus' where present."""
    own = sorted(CORPUS.glob(pattern))
    return own + (sorted(SHARED_CORPUS.glob(pattern)) if HAVE_SHARED_CORPUS else [])


CORPUS_XML = corpus_files("*.xml")
CORPUS_WBXML = corpus_files("*.wbxml")
REQUIRE_EXT = os.environ.get("OMADM_CODEC_REQUIRE_EXT") == "1"
PURE = os.environ.get("OMADM_CODEC_PUREPYTHON") == "1"
PURE_REASON = "OMADM_CODEC_PUREPYTHON=1: a pure run loads no compiled twin"


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


def compiled_skip_reason() -> str | None:
    """Why the compiled twins are not to be loaded in this run, or None if they are: a pure
    run (``OMADM_CODEC_PUREPYTHON=1``) never loads them; a build without them skips their
    tests, except under ``OMADM_CODEC_REQUIRE_EXT=1``, where that is a failure."""
    if PURE:
        return PURE_REASON
    missing = _backend.missing_compiled()
    if missing and not REQUIRE_EXT:
        return "compiled twins not built: " + ", ".join(missing)
    return None


def twin(name: str, kind: str) -> ModuleType:
    """One twin (``kind`` ``"c"`` or ``"py"``) of ``name``; skips as ``compiled_skip_reason``."""
    reason = compiled_skip_reason() if kind == "c" else None
    if reason:
        pytest.skip(reason)
    return _backend.twin(name, kind)


def load_backend(kind: str) -> Backend:
    """Every twin of one kind (``"c"`` or ``"py"``); skips as ``compiled_skip_reason``."""
    modules = {name: twin(name, kind) for name in _backend.TWINS}
    return Backend("cython" if kind == "c" else "python", modules)


@pytest.fixture(params=["c", "py"], ids=["cython", "python"], scope="session")
def backend(request: pytest.FixtureRequest) -> Backend:
    return load_backend(request.param)


@pytest.fixture(scope="session")
def both_backends() -> tuple[Backend, Backend]:
    """(compiled, pure), for differential tests; skips when the compiled twin is absent."""
    return load_backend("c"), load_backend("py")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A pure run fails if any test loaded a compiled twin (pure means pure)."""
    loaded = sorted(m for m in sys.modules if m.startswith("omadm_codec.") and m.endswith("_c"))
    if PURE and loaded:
        sys.stderr.write(f"\nOMADM_CODEC_PUREPYTHON=1 but compiled twins were loaded: {loaded}\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that calls live libwbxml (through the ``libwbxml`` fixture) is an interop
    test: ``-m interop`` selects them, ``-m "not interop"`` leaves them out."""
    for item in items:
        if "libwbxml" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.interop)


@pytest.fixture(scope="session")
def libwbxml() -> ModuleType:
    import libwbxml_peer

    if not libwbxml_peer.available():
        pytest.skip(libwbxml_peer.REASON)
    return libwbxml_peer


def corpus_id(path: Path) -> str:
    """A corpus file's test id: its name, prefixed ``shared-`` when from ``../shared``."""
    name = path.name if path.suffix == ".wbxml" else path.stem
    return name if path.parent == CORPUS else f"shared-{name}"


def corpus_ids() -> list[str]:
    return [corpus_id(p) for p in CORPUS_XML]
