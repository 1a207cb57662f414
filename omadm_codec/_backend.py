"""Chooses, once for the whole package, the compiled (Cython) or the pure-Python twins.

A twin named ``N`` (one of ``TWINS``, a path below the package such as ``"wbxml._decode"``) is
the compiled module ``omadm_codec.N_c`` (built from ``_ext/omadm_codec/N_c.pyx``) or the pure
module ``omadm_codec.N_py``; both have the same public names, results and errors.

Invariant: never a mix. The choice is made before any twin is imported, from the files on disk
(every compiled twin present, or none used), and each layer then imports its own twin on first
use (``active``), so this module imports nothing above itself.
``OMADM_CODEC_PUREPYTHON=1`` forces pure; non-CPython gets pure; otherwise compiled when every
compiled module is present, else pure, unless ``OMADM_CODEC_REQUIRE_EXT=1``, which turns that
fallback into an ImportError.
"""

from __future__ import annotations

import importlib
import os
import platform
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from types import ModuleType

TWINS: tuple[str, ...] = ("wbxml._xmlscan", "wbxml._decode", "wbxml._encode", "messages._fast",
                          "tree._uri", "security._digest")
"""Every twin, lowest layer first."""

_HERE = Path(__file__).parent


def missing_compiled() -> list[str]:
    """The compiled twins with no extension file for this interpreter (looked up on disk, so
    that choosing imports no package module); all of them on a pure install."""
    missing = []
    for name in TWINS:
        stem = _HERE.joinpath(*name.split(".")).name + "_c"
        folder = _HERE.joinpath(*name.split(".")[:-1])
        if not any((folder / (stem + suffix)).is_file() for suffix in EXTENSION_SUFFIXES):
            missing.append(f"omadm_codec.{name}_c")
    return missing


def _choose() -> tuple[str, str]:
    if os.environ.get("OMADM_CODEC_PUREPYTHON") == "1":
        return "python", "OMADM_CODEC_PUREPYTHON=1"
    if platform.python_implementation() != "CPython":
        return "python", "not CPython"
    missing = missing_compiled()
    if not missing:
        return "cython", ""
    reason = "compiled modules not built: " + ", ".join(missing)
    if os.environ.get("OMADM_CODEC_REQUIRE_EXT") == "1":
        raise ImportError(f"OMADM_CODEC_REQUIRE_EXT=1 but {reason}")
    return "python", reason


BACKEND, FALLBACK_REASON = _choose()
_SUFFIX = "c" if BACKEND == "cython" else "py"
_LOADED: dict[str, ModuleType] = {}


def active(name: str) -> ModuleType:
    """The active twin of ``name`` (one of ``TWINS``), imported on first use."""
    module = _LOADED.get(name)
    if module is None:
        if name not in TWINS:
            raise KeyError(name)
        module = _LOADED[name] = importlib.import_module(f"omadm_codec.{name}_{_SUFFIX}")
    return module


def twin(name: str, kind: str) -> ModuleType:
    """Import one specific twin (``kind`` is ``"c"`` or ``"py"``), for tests and benchmarks.

    Under ``OMADM_CODEC_PUREPYTHON=1`` a compiled twin is refused (ImportError): a pure run
    loads none, even where they are built."""
    if kind == "c" and os.environ.get("OMADM_CODEC_PUREPYTHON") == "1":
        raise ImportError(f"omadm_codec.{name}_c not loaded: OMADM_CODEC_PUREPYTHON=1")
    return importlib.import_module(f"omadm_codec.{name}_{kind}")
