"""Build script: cythonizes every ``_ext/omadm_codec/**/NAME_c.pyx`` into the module of the same
path, ``omadm_codec.**.NAME_c`` (its ``.pxd`` beside it, where Cython finds it by itself).

The compiled twins are optional, as msgpack's and yarl's are: where they cannot be compiled (no
C compiler, no Python headers) the build warns once and installs the pure-Python twins, which
give the same results more slowly. Never a mix: on the first failure every compiled twin
already built is removed again.

Environment, at build time:

- ``OMADM_CODEC_REQUIRE_EXT=1``: a compiled twin that cannot be built fails the build.
- ``OMADM_CODEC_PUREPYTHON=1``: build no extension at all (a pure install).
- ``OMADM_CODEC_CYTHON_DEBUG=1``: annotation HTML, line tracing and debug info.
- ``OMADM_CODEC_BUILD_ONLY=_decode_c,_fast_c``: build only those (developers rebuilding one).

Wheels carry no debug information (``-g0``, and the linker told to strip it), unless
``OMADM_CODEC_CYTHON_DEBUG=1``.
"""

import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, ExecError, PlatformError

HERE = Path(__file__).parent
EXT = HERE / "_ext"
DEBUG = os.environ.get("OMADM_CODEC_CYTHON_DEBUG") == "1"
REQUIRE_EXT = os.environ.get("OMADM_CODEC_REQUIRE_EXT") == "1"
PURE = os.environ.get("OMADM_CODEC_PUREPYTHON") == "1"


# What a missing or failing C toolchain raises.
BUILD_ERRORS = (CCompilerError, ExecError, PlatformError, OSError)

# Intel's JCC erratum fix (Skylake-derived cores) keeps a jump that crosses or ends at a 32-byte
# boundary out of the decoded-instruction cache: the WBXML decoder's main loop then ran 5-8%
# slower or faster with the same instructions, as unrelated edits moved it. Padded branches
# (GNU as, also LLVM's) make its speed independent of that layout. Used where the compiler
# takes it.
PAD_BRANCHES_FLAG = "-Wa,-mbranches-within-32B-boundaries"
PADDED_BRANCHES = {"omadm_codec.wbxml._decode_c"}

# The optimization level is pinned (a Python's own CFLAGS differ: Debian -O2, others -O3). The
# message fast path takes -O3: its many small builder and token methods then inline into their
# callers, 4-7 % less time on both decodes (docs/performance.md); the rest measured no gain.
OPT_LEVEL = {"_fast_c": "-O3"}


FALLBACK_WARNING = """
********************************************************************************
WARNING: omadm_codec's compiled twins could not be built:
    {reason}
Installing the pure-Python twins instead: the same results, 10-50x slower.
For the compiled ones, install a C compiler and the Python headers (Debian:
apt-get install gcc python3-dev) and install again; set OMADM_CODEC_REQUIRE_EXT=1
to make this an error instead of a warning.
********************************************************************************
"""


class OptionalBuildExt(build_ext):
    """``build_ext`` that falls back to the pure twins when the compiler fails, and strips
    debug information from what it builds."""

    def run(self) -> None:
        inplace = self.inplace or getattr(self, "editable_mode", False)
        try:
            super().run()
        except BUILD_ERRORS as exc:
            self._fall_back(exc, inplace)

    def build_extensions(self) -> None:
        if self.compiler.compiler_type == "unix" and not DEBUG:
            for ext in self.extensions:
                ext.extra_compile_args = [*ext.extra_compile_args, "-g0"]
                ext.extra_link_args = [*ext.extra_link_args, "-Wl,-S"]
        if self.compiler.compiler_type == "unix":
            for ext in self.extensions:
                if ext.name in PADDED_BRANCHES and self._accepts(PAD_BRANCHES_FLAG):
                    ext.extra_compile_args = [*ext.extra_compile_args, PAD_BRANCHES_FLAG]
        super().build_extensions()

    def _accepts(self, flag: str) -> bool:
        """Whether the C compiler (and its assembler) take ``flag``: a test compile."""
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp, "flag.c")
            src.write_text("int omadm_flag_probe(int x) { return x ? x + 1 : 0; }\n")
            try:
                self.compiler.compile([str(src)], output_dir=tmp, extra_postargs=[flag])
            except BUILD_ERRORS:
                return False
        return True

    def _fall_back(self, exc: BaseException, inplace: bool) -> None:
        reason = f"{type(exc).__name__}: {exc}".strip()
        if REQUIRE_EXT:
            raise SystemExit(
                f"error: OMADM_CODEC_REQUIRE_EXT=1 and a compiled twin could not be built: "
                f"{reason}") from exc
        build_py = self.get_finalized_command("build_py")
        for ext in self.extensions:  # never a mix: remove every twin built so far
            fullname = self.get_ext_fullname(ext.name)
            built = [Path(self.build_lib, self.get_ext_filename(fullname))]
            if inplace:
                package = build_py.get_package_dir(".".join(fullname.split(".")[:-1]))
                built.append(Path(package, Path(self.get_ext_filename(fullname)).name))
            for path in built:
                if path.is_file():
                    path.unlink()
        self.extensions = []
        sys.stderr.write(FALLBACK_WARNING.format(reason=reason))
        sys.stderr.flush()


def extensions() -> list:
    if PURE:
        return []
    try:
        from Cython.Build import cythonize
    except ImportError as exc:  # only without build isolation: pyproject.toml requires Cython
        if REQUIRE_EXT:
            raise SystemExit("error: OMADM_CODEC_REQUIRE_EXT=1 and Cython is not installed") \
                from exc
        sys.stderr.write(FALLBACK_WARNING.format(reason=f"Cython is not installed ({exc})"))
        return []

    directives = {
        "language_level": 3,
        "embedsignature": True,
        "boundscheck": True,
        "wraparound": True,
        "cdivision": True,
        "linetrace": DEBUG,
    }
    macros = [("CYTHON_TRACE", "1")] if DEBUG else []
    only = {n for n in os.environ.get("OMADM_CODEC_BUILD_ONLY", "").split(",") if n}
    modules = []
    for pyx in sorted(EXT.glob("omadm_codec/**/*_c.pyx")):
        if only and pyx.stem not in only:
            continue
        # _ext/omadm_codec/wbxml/_decode_c.pyx -> omadm_codec.wbxml._decode_c
        name = ".".join(pyx.relative_to(EXT).with_suffix("").parts)
        modules.append(
            Extension(name, [str(pyx.relative_to(HERE))], define_macros=macros,
                      include_dirs=[str(EXT)], extra_compile_args=[OPT_LEVEL.get(pyx.stem, "-O2")])
        )
    return cythonize(modules, compiler_directives=directives, annotate=DEBUG,
                     include_path=[str(EXT)])


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
