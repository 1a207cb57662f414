"""Atheris entry point for one target: ``python fuzz/harness.py TARGET [libFuzzer args...]``.

The one idea: every target lives in ``targets.py`` and is judged by ``targets.check`` (typed
error or equal twins); this file only wires it to libFuzzer. The pure-Python twins and the
single-bodied modules are instrumented for coverage (``atheris.instrument_imports``). By
default the compiled twins are the tree's own, uninstrumented build (CI has no clang), so
coverage feedback comes from the pure twin, which walks the same decision points by
construction. With ``OMADM_FUZZ_INSTRUMENTED=DIR`` (set by ``run.py --instrumented``) the
compiled twins come from the clang build of ``build_instrumented.sh``: libFuzzer coverage of
the generated C and AddressSanitizer on every memory access.
"""

from __future__ import annotations

import os
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# fuzz/run.py --instrumented: import the clang/ASan build of fuzz/build_instrumented.sh instead.
if os.environ.get("OMADM_FUZZ_INSTRUMENTED"):
    sys.path.insert(0, os.environ["OMADM_FUZZ_INSTRUMENTED"])

with atheris.instrument_imports(include=["omadm_codec"]):
    import omadm_codec.messages  # noqa: F401
    import omadm_codec.messages._fast_py.build  # noqa: F401
    import omadm_codec.security._digest_py  # noqa: F401
    import omadm_codec.security.auth  # noqa: F401
    import omadm_codec.security.bootstrap_docs  # noqa: F401
    import omadm_codec.security.notification  # noqa: F401
    import omadm_codec.session  # noqa: F401
    import omadm_codec.tools.simulator  # noqa: F401
    import omadm_codec.tree._uri_py  # noqa: F401
    import omadm_codec.tree.acl  # noqa: F401
    import omadm_codec.tree.tnds  # noqa: F401
    import omadm_codec.wbxml  # noqa: F401
    import omadm_codec.wbxml._decode_py  # noqa: F401
    import omadm_codec.wbxml._encode_py  # noqa: F401
    import omadm_codec.wbxml.prov  # noqa: F401

import targets  # noqa: E402

from omadm_codec import _backend  # noqa: E402

for _kind in targets.TWINS:  # import every twin now, not inside the first input
    for _name in _backend.TWINS:
        targets.twin_module(_name, _kind)


def main() -> None:
    if os.environ.get("OMADM_FUZZ_INSTRUMENTED"):
        where = os.path.dirname(targets.twin_module("wbxml._decode", "c").__file__ or "")
        assert where.startswith(os.environ["OMADM_FUZZ_INSTRUMENTED"]), where
    if len(sys.argv) < 2 or sys.argv[1] not in targets.TARGETS:
        sys.exit(f"usage: harness.py TARGET [libFuzzer args]; TARGET in {sorted(targets.TARGETS)}")
    name = sys.argv[1]

    def one_input(data: bytes) -> None:
        targets.check(name, data)

    atheris.Setup([sys.argv[0]] + sys.argv[2:], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
