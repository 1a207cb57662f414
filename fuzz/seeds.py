"""Seed corpora: ``build(target, out_dir)`` writes the starting inputs of one harness.

The one idea: seeds are the project's own vectors, prefixed with the option byte the target
reads first (see ``targets.py``): the reference messages of ``../shared/corpus`` (or
``$OMADM_CORPUS``) where present and the project's own ``tests/corpus``, the string and bytes
literals of the unit tests of each area (read with ``ast``, never executed), a few built
package-0 messages, and every committed regression input under ``tests/regressions/<target>/``
(those already carry their option byte).
"""

from __future__ import annotations

import ast
import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("OMADM_CORPUS", ROOT.parent / "shared" / "corpus"))
TESTS = ROOT / "tests"
REGRESSIONS = TESTS / "regressions"
MAX_SEED = 64 * 1024  # larger seeds only slow every mutation; the hostile tests cover size

# Which unit-test files hold literals worth seeding each target with, and a filter on them.
_LITERAL_SOURCES: dict[str, tuple[tuple[str, ...], str]] = {
    "uri": (("test_uri.py", "test_tree.py"), ""),
    "check_name": (("test_uri.py",), ""),
    "acl": (("test_acl.py", "test_tree.py"), "="),
    "hmac": (("test_auth.py", "test_auth_policy.py"), "mac"),
    "pkg0": (("test_notification.py",), ""),
    "push": (("test_notification.py",), ""),
    "bootstrap": (("test_bootstrap.py", "test_bootstrap_prov.py"), "<"),
    "tnds": (("test_tree_tnds.py", "test_tree.py"), "MgmtTree"),
    "commands": (("test_command_lists.py", "test_foreign_payloads.py"), "<"),
}


def _files(pattern: str) -> list[Path]:
    found = sorted(CORPUS.glob(pattern)) if CORPUS.is_dir() else []
    found += sorted((TESTS / "corpus").glob(pattern))
    return [p for p in found if p.stat().st_size <= MAX_SEED]


def _literals(names: Iterable[str], needle: str) -> Iterator[bytes]:
    for name in names:
        path = TESTS / name
        if not path.is_file():
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
                value = node.value
                raw = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
                if 0 < len(raw) <= 2048 and needle.encode() in raw:
                    yield raw


def _pkg0_built() -> Iterator[bytes]:
    from omadm_codec.security import notification as nt

    for server, vendor, session in (("srv", b"", 0), ("com.example.dm", b"\x00\xff", 0xBEEF),
                                    ("é" * 60, b"v" * 40, 1)):
        note = nt.Notification(server_id=server, vendor=vendor, session_id=session, ui_mode=3)
        yield note.encode_with_secret(b"c2VjcmV0LWhhc2gtb2YtMTZi", b"\x00\x01\x02\x03")


def _markup_messages() -> Iterator[bytes]:
    """Messages with CSP markup in Data, as WBXML (OPAQUE + the markup marker) and XML."""
    import sys

    sys.path.insert(0, str(TESTS))
    try:
        from test_foreign_payloads import PAYLOADS, message
    finally:
        sys.path.remove(str(TESTS))
    from omadm_codec.messages import decode, encode

    for body in PAYLOADS.values():
        msg = decode(message(body))
        yield b"\x00" + encode(msg, "wbxml")
        yield b"\x00" + encode(msg)


def _session_exchanges(direction: str) -> Iterator[bytes]:
    """Messages of one real in-memory session after its authenticating first round (see
    ``session_targets``): those ``direction`` ("S" server, "C" client) sent, each alone, each
    with the ones after it, and all joined, as the session targets read them."""
    from session_targets import FORMATS, SESSION_SPLIT, authenticated_exchange

    for flag, fmt in enumerate(FORMATS):
        bodies = [body for who, body in authenticated_exchange(fmt)[2:] if who == direction]
        for index, body in enumerate(bodies):
            yield bytes([flag]) + body
            yield bytes([flag]) + SESSION_SPLIT.join(bodies[index:index + 2])
        yield bytes([flag]) + SESSION_SPLIT.join(bodies)
        yield bytes([flag | 2]) + SESSION_SPLIT.join(bodies[:2])  # small limits


def seeds(target: str) -> Iterator[bytes]:
    if target in ("wbxml_decode", "message"):
        for path in _files("*.wbxml"):
            yield b"\x00" + path.read_bytes()
    if target in ("xml_encode", "message"):
        for path in _files("*.xml"):
            yield b"\x00" + path.read_bytes()
            if target == "xml_encode":
                yield b"\x02" + path.read_bytes()  # string table on
    if target == "commands":
        # Real profiles and CSP examples (read from ../shared, never copied here).
        for path in _files("realworld/*.xml") + _files("realworld/fragments/*.xml"):
            yield b"\x00" + path.read_bytes()
    if target in ("message", "wbxml_decode"):
        yield from _markup_messages()
    if target in _LITERAL_SOURCES:
        names, needle = _LITERAL_SOURCES[target]
        for raw in _literals(names, needle):
            yield b"\x00" + raw
    if target == "pkg0":
        for raw in _pkg0_built():
            yield b"\x00" + raw
    if target == "push":
        from omadm_codec.security import notification

        for raw in _pkg0_built():
            yield b"\x00" + notification.wap_push_wrap(raw)
    if target == "bootstrap":
        for raw in _literals(("test_bootstrap_prov.py",), ""):
            if raw[:1] in (b"\x01", b"\x02", b"\x03"):
                yield b"\x01" + raw  # CP WBXML
    if target == "tnds":
        for path in _files("tnds_embedded.xml"):
            text = path.read_bytes()
            start, end = text.find(b"<MgmtTree"), text.find(b"</MgmtTree>")
            if 0 <= start < end:
                yield b"\x00" + text[start:end + len(b"</MgmtTree>")]
    if target == "session":
        yield from _session_exchanges("S")
    if target == "server_session":
        yield from _session_exchanges("C")
    reg = REGRESSIONS / target
    if reg.is_dir():
        for path in sorted(reg.iterdir()):
            if path.is_file() and path.suffix == ".bin":
                yield path.read_bytes()


def build(target: str, out_dir: Path) -> int:
    """Write the seeds of ``target`` into ``out_dir`` (named by content hash); return the count."""
    out_dir.mkdir(parents=True, exist_ok=True)
    count = 0
    for data in seeds(target):
        name = hashlib.sha1(data).hexdigest()
        (out_dir / name).write_bytes(data)
        count += 1
    return count
