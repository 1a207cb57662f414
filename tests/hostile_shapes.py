"""Hostile input shapes, and a child-process runner that measures one of them.

The one idea: peak memory of a single call is only measurable in a fresh process, so
``python tests/hostile_shapes.py SHAPE TWIN`` builds the input, resets the kernel's peak-RSS
mark (``/proc/self/clear_refs``), makes the one call, and prints a JSON line: input size, peak
RSS above the pre-call RSS, and the outcome (``ok`` + output size, or error class + reason).
``tests/test_hostile.py`` runs every shape on both twins and asserts the bounds; ``docs/
fuzzing.md`` reports the same numbers (``python tests/hostile_shapes.py --table``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

MiB = 1024 * 1024
HEADER = b"\x03\xa4\x01\x6a\x00"  # WBXML 1.3, SyncML 1.2, UTF-8, no string table
XML_ROOT = b'<SyncML xmlns="SYNCML:SYNCML1.2">'


def mb_u_int32(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _twin(name: str, kind: str) -> Any:
    from omadm_codec import _backend

    return _backend.twin(name, kind)  # the parent chose the kinds (test_hostile.measured)


def _decode(kind: str) -> Callable[[bytes], Any]:
    return _twin("wbxml._decode", kind).wbxml_to_xml  # type: ignore[no-any-return]


def _encode(kind: str) -> Callable[[bytes], Any]:
    return _twin("wbxml._encode", kind).xml_to_wbxml  # type: ignore[no-any-return]


def _encode_tabled(kind: str) -> Callable[[bytes], Any]:
    encode = _encode(kind)
    return lambda data: encode(data, string_table=True)


def _message(kind: str) -> Callable[[bytes], Any]:
    from omadm_codec import messages, wbxml

    # This process runs one call on one twin: bind both twins the message reader uses.
    wbxml.wbxml_to_xml = _decode(kind)
    messages._codec = _twin("messages._fast", kind)
    return lambda data: messages.decode(data)


def _billion_laughs() -> bytes:
    lines = [b'<!ENTITY a0 "lol">']
    lines += [b'<!ENTITY a%d "%s">' % (i, b"&a%d;" % (i - 1) * 10) for i in range(1, 10)]
    return (b"<?xml version='1.0'?><!DOCTYPE SyncML [" + b"".join(lines) + b"]>"
            + XML_ROOT + b"<SyncBody>&a9;</SyncBody></SyncML>")


def _message_xml(body: bytes) -> bytes:
    return (XML_ROOT + b"<SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>"
            b"<SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>dev</LocURI></Target>"
            b"<Source><LocURI>srv</LocURI></Source></SyncHdr><SyncBody>" + body
            + b"<Final/></SyncBody></SyncML>")


def _string_table_loop() -> bytes:
    table = b"A" * (MiB - 1) + b"\x00"
    refs = b"\x4f\x83\x00\x01" * 250_000  # 1 MB of <Data>STR_T 0</Data>, each naming 1 MB
    return b"\x03\xa4\x01\x6a" + mb_u_int32(len(table)) + table + b"\x6d\x6b" + refs + b"\x01\x01"


def _large_objects() -> bytes:
    item = (b"<Item><Target><LocURI>./a</LocURI></Target><Meta><Size xmlns='syncml:metinf'>"
            b"2147483647</Size></Meta><Data>" + b"Q" * 8000 + b"</Data><MoreData/></Item>")
    return _message_xml(b"<Replace><CmdID>2</CmdID>" + item * 500 + b"</Replace>")


# name -> (module twinned, builder of the input, maker of the call for a twin)
SHAPES: dict[str, tuple[Callable[[], bytes], Callable[[str], Callable[[bytes], Any]]]] = {
    "wbxml_deep_1m": (lambda: HEADER + b"\x6d" + b"\x6b" * MiB, _decode),
    "wbxml_opaque_4g": (lambda: HEADER + b"\x6d\x6b\xc3" + mb_u_int32(2**32 - 1) + b"x" * 64,
                        _decode),
    "wbxml_table_4g": (lambda: b"\x03\xa4\x01\x6a" + mb_u_int32(2**32 - 1) + b"x" * 64, _decode),
    "wbxml_mb_overflow": (lambda: HEADER + b"\x6d\x6b\xc3" + b"\xff" * 64, _decode),
    "wbxml_table_loop": (_string_table_loop, _decode),
    "wbxml_element_flood": (lambda: HEADER + b"\x6d" + b"\x2b" * 999_000 + b"\x01", _decode),
    "wbxml_opaque_8m": (lambda: HEADER + b"\x6d\x6b\xc3" + mb_u_int32(8 * MiB) + b"\xa5" * (8 * MiB)
                        + b"\x01\x01", _decode),
    "xml_deep_100k": (lambda: XML_ROOT + b"<SyncBody>" * 100_000, _encode),
    "xml_billion_laughs": (_billion_laughs, _encode),
    "xml_text_8m": (lambda: XML_ROOT + b"<SyncBody>" + b"x" * (8 * MiB) + b"</SyncBody></SyncML>",
                    _encode),
    "xml_attribute_flood": (lambda: b"<SyncML " + b"".join(b'a%d="1" ' % i for i in range(100_000))
                            + b"/>", _encode),
    # The same flood with the string table: every attribute written (a LITERAL each).
    "xml_attribute_flood_table": (lambda: b"<SyncML " + b"".join(
        b'a%d="1" ' % i for i in range(100_000)) + b"/>", _encode_tabled),
    "message_deep_100k": (lambda: _message_xml(b"<Atomic>" * 100_000), _message),
    "message_billion_laughs": (_billion_laughs, _message),
    "message_external_entity": (lambda: b'<!DOCTYPE SyncML [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                                + _message_xml(b"<Alert><CmdID>1</CmdID><Data>&x;</Data></Alert>"),
                                _message),
    "message_large_object_flood": (_large_objects, _message),
    "message_wbxml_deep_1m": (lambda: HEADER + b"\x6d" + b"\x6b" * MiB, _message),
}


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def measure(shape: str, kind: str) -> dict[str, Any]:
    build, call_for = SHAPES[shape]
    data = build()
    call = call_for(kind)
    import gc

    gc.collect()
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset VmHWM (peak RSS) to the current RSS
    before = _rss_kb("VmRSS")
    start = time.process_time()
    try:
        result = call(data)
        size = len(result) if isinstance(result, (bytes, bytearray, str)) else 0
        outcome: list[Any] = ["ok", size]
    except Exception as exc:  # reported, then judged by the test
        outcome = ["error", type(exc).__name__, getattr(exc, "reason", None)]
    cpu = time.process_time() - start
    peak = _rss_kb("VmHWM")
    return {"shape": shape, "twin": kind, "input": len(data), "peak_kb": max(0, peak - before),
            "cpu_s": round(cpu, 3), "outcome": outcome}


def run_child(shape: str, kind: str, timeout: float = 120.0) -> dict[str, Any]:
    """Measure one shape on one twin in a fresh interpreter (``timeout`` is a hang guard)."""
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), shape, kind],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{shape}[{kind}] exited {proc.returncode}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _table() -> None:
    print("| shape | twin | input bytes | output bytes | peak RSS added | / (input + output) "
          "| CPU s | outcome |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for shape in SHAPES:
        for kind in ("c", "py"):
            r = run_child(shape, kind)
            out = r["outcome"][1] if r["outcome"][0] == "ok" else 0
            total = r["input"] + out
            # Below 100 KB the ratio is first-call noise (code pages, caches), not the input.
            ratio = f"{r['peak_kb'] * 1024 / total:.2f}x" if total >= 100_000 else "n/a"
            outcome = "ok" if r["outcome"][0] == "ok" else " ".join(map(str, r["outcome"][1:]))
            print(f"| {shape} | {kind} | {r['input']:,} | {out:,} | {r['peak_kb']:,} KB | "
                  f"{ratio} | {r['cpu_s']} | {outcome} |")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if sys.argv[1:] == ["--table"]:
        _table()
    else:
        print(json.dumps(measure(sys.argv[1], sys.argv[2])))
