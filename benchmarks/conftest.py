"""Benchmark fixtures: the corpus, both twins, and libwbxml through ctypes (measured in one run)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # libwbxml_peer lives with the tests

CORPUS = HERE.parent.parent / "shared" / "corpus"
if not CORPUS.is_dir():  # pragma: no cover
    raise SystemExit(f"benchmarks need the reference corpus at {CORPUS}")
CORPUS_XML = sorted(CORPUS.glob("*.xml"))
