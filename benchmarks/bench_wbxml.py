"""XML <-> WBXML speed on every corpus message: compiled twin, pure twin and libwbxml, one run.

Run: ``python -m pytest benchmarks/bench_wbxml.py --benchmark-json=bench.json`` then
``python benchmarks/report.py bench.json`` for the ratio table in the README.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import CORPUS_XML
from impls import codec

IMPLS = ["cython", "python", "libwbxml"]


def _impl(name: str, direction: str) -> Callable[..., bytes]:
    try:
        return codec(name, direction)
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("path", CORPUS_XML, ids=lambda p: p.stem)
def test_wbxml_to_xml(benchmark, path, impl):  # type: ignore[no-untyped-def]
    wbxml = path.with_suffix(".wbxml").read_bytes()
    fn = _impl(impl, "wbxml_to_xml")
    benchmark.group = f"decode {path.stem}"
    benchmark.extra_info.update(file=path.stem, op="decode", impl=impl, nbytes=len(wbxml))
    out = benchmark(fn, wbxml)
    assert out.startswith(b"<?xml")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("path", CORPUS_XML, ids=lambda p: p.stem)
def test_xml_to_wbxml(benchmark, path, impl):  # type: ignore[no-untyped-def]
    xml = path.read_bytes()
    fn = _impl(impl, "xml_to_wbxml")
    benchmark.group = f"encode {path.stem}"
    benchmark.extra_info.update(file=path.stem, op="encode", impl=impl, nbytes=len(xml))
    out = benchmark(fn, xml)
    assert out == path.with_suffix(".wbxml").read_bytes()


@pytest.mark.parametrize("impl", ["cython", "python", "libwbxml"])
@pytest.mark.parametrize("path", CORPUS_XML, ids=lambda p: p.stem)
def test_xml_to_wbxml_string_table(benchmark, path, impl):  # type: ignore[no-untyped-def]
    if impl == "libwbxml" and path.stem == "results_large":
        # libwbxml's string table costs ~40 s here (it grows faster than n^3; measured in
        # shared/spec/libwbxml-measured.md): one round would dominate the whole suite.
        pytest.skip("libwbxml string table on results_large: ~40 s per call (measured once)")
    xml = path.read_bytes()
    fn = _impl(impl, "xml_to_wbxml")
    benchmark.group = f"encode+strtbl {path.stem}"
    benchmark.extra_info.update(file=path.stem, op="encode_strtbl", impl=impl, nbytes=len(xml))
    benchmark(fn, xml, string_table=True)
