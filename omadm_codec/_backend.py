"""Chooses, once for the whole package, the compiled (Cython) or the pure-Python twins.

Invariant: never a mix. Either every module in ``TWINS`` is imported from its compiled
``omadm_codec._NAME_c`` build, or every one from ``omadm_codec._NAME_py``.
``OMADM_CODEC_PUREPYTHON=1`` forces pure; non-CPython gets pure; otherwise compiled, falling back
to pure on ImportError unless ``OMADM_CODEC_REQUIRE_EXT=1``, which makes the fallback an error.
"""

from __future__ import annotations

import importlib
import os
import platform
from types import ModuleType

# Each name has _ext/NAME_c.pyx (-> omadm_codec._NAME_c) and omadm_codec/_NAME_py.py.
TWINS: tuple[str, ...] = ("wbxml_decode", "wbxml_encode", "digest", "uri", "xmlscan",
                          "msgcodec")


def _import_all(suffix: str) -> dict[str, ModuleType]:
    return {name: importlib.import_module(f"omadm_codec._{name}_{suffix}") for name in TWINS}


def _choose() -> tuple[str, dict[str, ModuleType], str]:
    if os.environ.get("OMADM_CODEC_PUREPYTHON") == "1":
        return "python", _import_all("py"), "OMADM_CODEC_PUREPYTHON=1"
    if platform.python_implementation() != "CPython":
        return "python", _import_all("py"), "not CPython"
    try:
        return "cython", _import_all("c"), ""
    except ImportError as exc:
        if os.environ.get("OMADM_CODEC_REQUIRE_EXT") == "1":
            raise ImportError(
                f"OMADM_CODEC_REQUIRE_EXT=1 but a compiled module did not load: {exc}"
            ) from exc
        return "python", _import_all("py"), f"compiled modules unavailable: {exc}"


BACKEND, _MODULES, FALLBACK_REASON = _choose()


def active(name: str) -> ModuleType:
    """The active twin of module ``name`` (one of ``TWINS``)."""
    return _MODULES[name]


def twin(name: str, kind: str) -> ModuleType:
    """Import one specific twin (``kind`` is ``"c"`` or ``"py"``), for tests and benchmarks."""
    return importlib.import_module(f"omadm_codec._{name}_{kind}")
