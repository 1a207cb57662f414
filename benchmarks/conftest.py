"""Benchmark fixtures: the corpus, both twins, and libwbxml through ctypes (measured in one run)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # libwbxml_peer lives with the tests

# The tables in docs/performance.md were measured on the reference corpus beside the workplace;
# a clone elsewhere measures the project's own messages of the same names and shapes instead.
CORPUS = HERE.parent.parent / "shared" / "corpus"
if not CORPUS.is_dir():  # pragma: no cover - depends on the checkout
    CORPUS = HERE.parent / "tests" / "corpus"
CORPUS_XML = sorted(CORPUS.glob("*.xml"))
