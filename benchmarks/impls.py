"""Which function each benchmark times, in one place, so a test can check it.

``codec("cython", "wbxml_to_xml")`` is the compiled twin's function, ``"python"`` the pure
twin's, ``"libwbxml"`` the peer's (through ctypes; a missing peer fails the benchmark, never
skips it). ``tests/test_benchmark_twins.py`` checks that "cython" really is the compiled
extension, so a benchmark cannot time the pure twin under the compiled name.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from omadm_codec import _backend

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import libwbxml_peer  # noqa: E402  (lives with the tests)

MODULES = {"wbxml_to_xml": "wbxml._decode", "xml_to_wbxml": "wbxml._encode"}


def codec(impl: str, direction: str) -> Callable[..., bytes]:
    """The ``direction`` function ("wbxml_to_xml" or "xml_to_wbxml") of ``impl``."""
    if impl == "libwbxml":
        if not libwbxml_peer.available():
            raise RuntimeError(f"the peer must be measured: {libwbxml_peer.REASON}")
        fn: Callable[..., bytes] = getattr(libwbxml_peer, direction)
        return fn
    kind = {"cython": "c", "python": "py"}[impl]
    fn = getattr(_backend.twin(MODULES[direction], kind), direction)
    return fn


TINY_XML = (b'<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD></SyncHdr>'
            b'</SyncML>')
"""The smallest useful document: 81 bytes of XML, 16 of WBXML (the issue's fixed-cost probe)."""
