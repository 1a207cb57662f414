"""The backend choice: the env vars are honoured and a silent fallback is caught."""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import re
import subprocess
import sys

import pytest
from conftest import CORPUS

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


PURE = os.environ.get("OMADM_CODEC_PUREPYTHON") == "1"
COMPILED = re.compile(r"omadm_codec(\.\w+)*\.\w+_c$")


def _every_module() -> list[str]:
    """Every pure-Python module of the package, by name."""
    names = ["omadm_codec"]
    for info in pkgutil.walk_packages(omadm_codec.__path__, "omadm_codec."):
        if not COMPILED.match(info.name) and not info.name.endswith("__main__"):
            names.append(info.name)
    return names


@pytest.mark.skipif(not PURE, reason="runs under OMADM_CODEC_PUREPYTHON=1 (CI's pure run)")
def test_pure_run_loads_no_compiled_module() -> None:
    """A pure run imports every module and runs the codec, and not one compiled twin is loaded
    (conftest checks the same at the end of the whole run); the backend refuses to load one."""
    for name in _every_module():
        importlib.import_module(name)
    xml = (CORPUS / "pkg2_server_mgmt.xml").read_bytes()
    msg = omadm_codec.decode(omadm_codec.wbxml_to_xml(omadm_codec.xml_to_wbxml(xml)))
    assert omadm_codec.decode(omadm_codec.encode(msg, "wbxml")) == msg
    assert omadm_codec.BACKEND == "python"
    assert [m for m in sys.modules if COMPILED.match(m)] == []
    for name in _backend.TWINS:
        assert _backend.active(name).__name__ == f"omadm_codec.{name}_py"
        with pytest.raises(ImportError):
            _backend.twin(name, "c")


@pytest.mark.skipif(not PURE, reason="runs under OMADM_CODEC_PUREPYTHON=1 (CI's pure run)")
def test_pure_install_has_no_compiled_twin() -> None:
    """On a pure install (built with OMADM_CODEC_PUREPYTHON=1, or without a compiler) no
    compiled twin is there to import at all."""
    missing = _backend.missing_compiled()
    if len(missing) < len(_backend.TWINS):
        pytest.skip("compiled twins are built in this checkout: a pure run of a compiled "
                    "build, not a pure install")
    for name in _backend.TWINS:
        assert importlib.util.find_spec(f"omadm_codec.{name}_c") is None
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(f"omadm_codec.{name}_c")


def test_compiled_twins_carry_no_debug_info() -> None:
    """setup.py strips debug information (-g0, the linker's -S): the unstripped _fast_c was
    3.4 MB. A debug build (OMADM_CODEC_CYTHON_DEBUG=1) keeps it on purpose."""
    if os.environ.get("OMADM_CODEC_CYTHON_DEBUG") == "1":
        pytest.skip("OMADM_CODEC_CYTHON_DEBUG=1 builds keep debug information")
    built = [spec.origin for name in _backend.TWINS
             if (spec := importlib.util.find_spec(f"omadm_codec.{name}_c")) and spec.origin]
    if not built:
        pytest.skip("no compiled twin built")
    for path in built:
        with open(path, "rb") as handle:
            assert b".debug_info" not in handle.read(), path


def test_interop_marker_selects_the_libwbxml_tests(request: pytest.FixtureRequest) -> None:
    """``-m interop`` selects exactly the tests that call live libwbxml (conftest marks them)."""
    items = request.session.items
    for item in items:
        uses = "libwbxml" in getattr(item, "fixturenames", ())
        assert (item.get_closest_marker("interop") is not None) == uses, item.nodeid


def test_public_errors_importable_from_the_package() -> None:
    from omadm_codec import errors

    public = {name for name, obj in vars(errors).items()
              if isinstance(obj, type) and issubclass(obj, Exception)
              and obj.__module__ == "omadm_codec.errors"}
    assert public <= set(omadm_codec.__all__)
    assert all(getattr(omadm_codec, name) is getattr(errors, name) for name in public)
