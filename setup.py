"""Build script: cythonizes every ``_ext/omadm_codec/**/NAME_c.pyx`` into the module of the same
path, ``omadm_codec.**.NAME_c`` (its ``.pxd`` beside it, where Cython finds it by itself).

``OMADM_CODEC_PUREPYTHON=1`` at build time skips the extensions (the pure twins are used).
``OMADM_CODEC_CYTHON_DEBUG=1`` adds annotation HTML and line tracing.
"""

import os
from pathlib import Path

from setuptools import Extension, setup

HERE = Path(__file__).parent
EXT = HERE / "_ext"


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
    # OMADM_CODEC_BUILD_ONLY=_decode_c,_fast_c builds just those (developers rebuilding one twin).
    only = {n for n in os.environ.get("OMADM_CODEC_BUILD_ONLY", "").split(",") if n}
    modules = []
    for pyx in sorted(EXT.glob("omadm_codec/**/*_c.pyx")):
        if only and pyx.stem not in only:
            continue
        # _ext/omadm_codec/wbxml/_decode_c.pyx -> omadm_codec.wbxml._decode_c
        name = ".".join(pyx.relative_to(EXT).with_suffix("").parts)
        modules.append(
            Extension(name, [str(pyx.relative_to(HERE))], define_macros=macros,
                      include_dirs=[str(EXT)], extra_compile_args=["-O2"])
        )
    return cythonize(modules, compiler_directives=directives, annotate=debug,
                     include_path=[str(EXT)])


setup(ext_modules=extensions())
