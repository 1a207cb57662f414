"""Build script: cythonizes ``_ext/*.pyx`` into ``omadm_codec._*_c`` modules.

``OMADM_CODEC_PUREPYTHON=1`` at build time skips the extensions (the pure twins are used).
``OMADM_CODEC_CYTHON_DEBUG=1`` adds annotation HTML and line tracing.
"""

import os
from pathlib import Path

from setuptools import Extension, setup

HERE = Path(__file__).parent


def extensions() -> list:
    if os.environ.get("OMADM_CODEC_PUREPYTHON") == "1":
        return []
    from Cython.Build import cythonize

    debug = os.environ.get("OMADM_CODEC_CYTHON_DEBUG") == "1"
    directives = {
        "language_level": 3,
        "embedsignature": True,
        "boundscheck": True,
        "wraparound": True,
        "cdivision": True,
        "linetrace": debug,
    }
    macros = [("CYTHON_TRACE", "1")] if debug else []
    # OMADM_CODEC_BUILD_ONLY=a_c,b_c builds just those (developers rebuilding one twin).
    only = {n for n in os.environ.get("OMADM_CODEC_BUILD_ONLY", "").split(",") if n}
    modules = []
    for pyx in sorted((HERE / "_ext").glob("*.pyx")):
        if only and pyx.stem not in only:
            continue
        # _ext/wbxml_c.pyx -> omadm_codec._wbxml_c
        name = "omadm_codec._" + pyx.stem
        modules.append(
            Extension(name, [str(pyx.relative_to(HERE))], define_macros=macros,
                      extra_compile_args=["-O2"])
        )
    return cythonize(
        modules,
        compiler_directives=directives,
        annotate=debug,
        include_path=[str(HERE / "_ext")],
    )


setup(ext_modules=extensions())
