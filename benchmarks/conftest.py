"""Benchmark fixtures: the corpus, both twins, and libwbxml through ctypes (measured in one run)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # libwbxml_peer lives with the tests

# The tables in docs/performance.md were measured on the reference corpus beside the workplace;
# a clone elsewhere measures the project's own messages of the same names and shapes instead.
CORPUS = HERE.parent.parent / "shared" / "corpus"
if not CORPUS.is_dir():  # pragma: no cover - depends on the checkout
    CORPUS = HERE.parent / "tests" / "corpus"
CORPUS_XML = sorted(CORPUS.glob("*.xml"))

# pytest-benchmark's default round is 5 µs, so a call of a few µs runs once per round and each
# sample carries the timer's own cost: time.thread_time (the tables' timer) is a system call,
# about 0.25 µs here, which shrinks every ratio between a fast call and a slower one (decode
# of WBXML against XML, ours against a peer). Rounds of at least 100 µs spread it over tens of
# calls. An explicit --benchmark-min-time still wins.
_DEFAULT_MIN_TIME = "0.000005"
_ROUND_MIN_TIME = "0.0001"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    value = getattr(config.option, "benchmark_min_time", None)
    if value is not None and str(value) == _DEFAULT_MIN_TIME:  # a Decimal, from the plugin
        config.option.benchmark_min_time = type(value)(_ROUND_MIN_TIME)
