"""The benchmarks time what they say they time (CI-safe: no timing, no corpus needed).

A speed figure for the compiled twin is only worth something if the function timed under
that name really is the compiled extension, not the pure twin that shares its API and results.
"""

from __future__ import annotations

import importlib.machinery
import os
import shutil
import sys
from pathlib import Path

import pytest

import omadm_codec
from omadm_codec import _backend

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _is_extension(module_name: str) -> bool:
    module = sys.modules[module_name]
    return str(module.__file__).endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


@pytest.fixture(scope="module")
def impls():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import impls as module
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


@pytest.mark.parametrize("direction", ["wbxml_to_xml", "xml_to_wbxml"])
def test_compiled_codec_is_the_extension(impls, direction: str) -> None:  # type: ignore[no-untyped-def]
    try:
        fn = impls.codec("cython", direction)
    except ImportError:
        if os.environ.get("OMADM_CODEC_REQUIRE_EXT") == "1":
            raise
        pytest.skip("compiled twins not built")
    assert fn.__module__.endswith("_c"), fn.__module__
    assert _is_extension(fn.__module__), fn.__module__
    assert type(fn).__name__ == "cython_function_or_method"
    pure = impls.codec("python", direction)
    data = impls.TINY_XML
    if direction == "wbxml_to_xml":
        data = impls.codec("python", "xml_to_wbxml")(data)
    assert fn(data) == pure(data)


@pytest.mark.parametrize("direction", ["wbxml_to_xml", "xml_to_wbxml"])
def test_pure_codec_is_python(impls, direction: str) -> None:  # type: ignore[no-untyped-def]
    fn = impls.codec("python", direction)
    assert fn.__module__.endswith("_py")
    assert type(fn).__name__ == "function"


def test_public_api_is_the_active_twin() -> None:
    """What the message, tree and session benchmarks time through the public API."""
    kind = "c" if omadm_codec.BACKEND == "cython" else "py"
    assert omadm_codec.wbxml_to_xml is _backend.twin("wbxml._decode", kind).wbxml_to_xml
    assert omadm_codec.xml_to_wbxml is _backend.twin("wbxml._encode", kind).xml_to_wbxml
    from omadm_codec.tree import DMTree

    tree = DMTree()
    assert tree._uri is _backend.active("tree._uri")
    if omadm_codec.BACKEND == "cython":
        for name in _backend.TWINS:
            assert _is_extension(_backend.active(name).__name__), name
        assert _is_extension(_backend.active("tree._uri").__name__)
        assert _is_extension(_backend.active("messages._fast").__name__)


def test_side_by_side_workers_insist_on_the_compiled_twins() -> None:
    """The old/new and fresh-process workers stop unless both sides run compiled."""
    source = (BENCHMARKS / "side_by_side.py").read_text()
    assert 'assert omadm_codec.BACKEND == "cython"' in source
    assert 'OMADM_CODEC_REQUIRE_EXT="1"' in source
    fresh = (BENCHMARKS / "fresh_process.py").read_text()
    assert 'omadm_codec.BACKEND == "cython"' in fresh
    counted = (BENCHMARKS / "instructions.py").read_text()
    assert 'assert omadm_codec.BACKEND == "cython"' in counted
    assert 'OMADM_CODEC_REQUIRE_EXT="1"' in counted


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
@pytest.mark.skipif(omadm_codec.BACKEND != "cython"
                    or Path(omadm_codec.__file__).resolve().parents[1] != BENCHMARKS.parent,
                    reason="counts the compiled twin of this checkout (built in place) only")
def test_instruction_counts_come_from_callgrind() -> None:
    """instructions.py counts a decode under callgrind: a few thousand instructions per call
    for the smallest message, the XML path more than the WBXML one."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import instructions  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(BENCHMARKS))
    path = min(instructions.corpus_dir().glob("*.xml"), key=lambda p: p.stat().st_size)
    xml = instructions.per_call(path, 3, False, sys.executable)["Ir"]
    wbxml = instructions.per_call(path.with_suffix(".wbxml"), 3, False, sys.executable)["Ir"]
    assert 2_000 < wbxml < xml < 1_000_000, (xml, wbxml)
