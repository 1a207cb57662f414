"""How much of a compiled ``messages.decode`` is the model itself: on every corpus message,
``decode(xml)`` and ``decode(wbxml)`` beside the model floor, ``Tape(msg).build()`` of
``benchmarks/_floor/model_floor.pyx``, which makes an equal ``Message`` from a flattened copy
of it without reading any input.

The floor is a lower bound for any decoder that produces this model: each of its steps is less
than or equal to the matching step of a decoder. It allocates every model object through its
type and fills the slots directly (as ``_fast_c``'s ``_Shape`` does, without the checks), makes
every list at its final size, copies fresh each str or bytes longer than 24 bytes (the decoders
never share those; the floor's copy is their cheapest path, ``PyUnicode_New`` and ``memcpy``),
shares every shorter str, int, enum and ``None`` (the decoders share at most those, through
their leaf table and CPython's small ints), with the cyclic GC disabled as in the decoders; the
result is freed the same way. It reads no input and does no dispatch, checks or limits.

So ``xml time / floor time`` is the most any WBXML reader could gain over the XML one, and
``(xml - floor) / (wbxml - floor)`` compares the two readers' own work.

Run: ``python -m pytest benchmarks/bench_model_floor.py --benchmark-json=floor.json`` (needs
Cython, a C compiler and the compiled twins; skipped otherwise) then
``python benchmarks/bench_model_floor.py floor.json`` for the table (medians).
"""

from __future__ import annotations

import dataclasses
import importlib.machinery
import json
import shlex
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS_XML

import omadm_codec.messages as messages
from omadm_codec import _backend

JOBS = ["decode_xml", "decode_wbxml", "floor"]
FLOOR_DIR = Path(__file__).resolve().parent / "_floor"


def _load_floor() -> Any:
    """``model_floor`` compiled by pyximport (cached under the system temp), or a module-level
    skip when it cannot be built or would not be compared with the compiled decoder."""
    fast = _backend.active("messages._fast")
    if not str(fast.__file__).endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
        pytest.skip("the compiled messages twin is not loaded: the floor is about it",
                    allow_module_level=True)
    try:
        import pyximport  # type: ignore[import-untyped]
    except ImportError:
        pytest.skip("Cython (pyximport) is not installed", allow_module_level=True)
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")[0]
    if shutil.which(cc) is None:
        pytest.skip(f"no C compiler ({cc}) to build the floor", allow_module_level=True)
    build_dir = Path(tempfile.gettempdir()) / "omadm_codec_model_floor"
    importers = pyximport.install(build_dir=str(build_dir), language_level=3)
    sys.path.insert(0, str(FLOOR_DIR))
    try:
        import model_floor  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(FLOOR_DIR))
        pyximport.uninstall(*importers)
    return model_floor


if __name__ != "__main__":  # the table needs only the JSON
    model_floor = _load_floor()


def _job(job: str, path: Path) -> tuple[Callable[[], Any], Any]:
    """The call to time and the tape (or ``None``) it replays."""
    xml = path.read_bytes()
    wbxml = path.with_suffix(".wbxml").read_bytes()
    if job == "decode_xml":
        return (lambda: messages.decode(xml)), None
    if job == "decode_wbxml":
        return (lambda: messages.decode(wbxml)), None
    tape = model_floor.Tape(messages.decode(xml))
    return tape.build, tape


@pytest.mark.parametrize("path", CORPUS_XML, ids=lambda p: p.stem)
@pytest.mark.parametrize("job", JOBS)
def test_model_floor(benchmark, job: str, path: Path) -> None:  # type: ignore[no-untyped-def]
    fn, tape = _job(job, path)
    benchmark.group = f"model floor {path.stem}"
    benchmark.extra_info.update(job=job, file=path.stem, nbytes=len(path.read_bytes()))
    if tape is not None:
        benchmark.extra_info.update(objects=tape.objects, lists=tape.lists, fresh=tape.fresh)
    out = benchmark(fn)
    assert out == messages.decode(path.read_bytes())


def test_floor_keeps_references_balanced() -> None:
    """Builds and frees leave a shared constant's reference count where it was, and a kept
    build holds exactly one reference per place the constant fills."""
    msg = messages.decode(CORPUS_XML[0].read_bytes())
    tape = model_floor.Tape(msg)
    shared = msg.header.msg_id  # short: one object serves every build
    uses = sum(1 for v in _leaves(msg) if v is shared)
    before = sys.getrefcount(shared)
    for _ in range(10_000):
        tape.build()
    assert sys.getrefcount(shared) == before
    kept = tape.build()
    assert sys.getrefcount(shared) == before + uses
    del kept
    assert sys.getrefcount(shared) == before


def _leaves(value: Any) -> list[Any]:
    """Every non-model, non-list value under ``value``, once per place."""
    if dataclasses.is_dataclass(type(value)):
        return [v for f in dataclasses.fields(value) for v in _leaves(getattr(value, f.name))]
    if type(value) is list:
        return [v for item in value for v in _leaves(item)]
    return [value]


def table(path: str) -> str:
    """Per message (by XML size): the three medians and what they say about issue 17's 2x."""
    with open(path) as fh:
        data = json.load(fh)
    med: dict[tuple[str, str], float] = {}
    size: dict[str, int] = {}
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        if info.get("job") in JOBS:
            med[(info["job"], info["file"])] = bench["stats"]["median"]
            size[info["file"]] = info["nbytes"]
    lines = ["| message | XML bytes | decode_xml µs | decode_wbxml µs | floor µs | wbxml/xml "
             "| floor % of xml | most wbxml/xml | (xml-floor)/(wbxml-floor) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for f in sorted(size, key=size.__getitem__):
        x, w, fl = (med.get((job, f)) for job in JOBS)
        if not (x and w and fl):
            continue
        beyond = f"{(x - fl) / (w - fl):.2f}" if w > fl else "-"
        lines.append(f"| {f} | {size[f]:,} | {x * 1e6:.2f} | {w * 1e6:.2f} | {fl * 1e6:.2f} "
                     f"| {x / w:.2f} | {100 * fl / x:.0f} | {x / fl:.2f} | {beyond} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(sys.argv[1]))
