#!/usr/bin/env bash
# Build a throwaway copy of omadm_codec whose Cython extensions are compiled by clang with
# libFuzzer coverage (-fsanitize=fuzzer-no-link, as the Atheris docs describe) into
# fuzz/build/instrumented/. (--asan adds AddressSanitizer, but with the Atheris wheel and a
# preloaded ASan runtime coverage feedback is lost; it needs Atheris built from source.) Also builds
# fuzz/build/libfuzzer_preload.so (clang's libFuzzer without main) that run.py preloads so the
# extensions' coverage hooks resolve (Atheris then reports "Using preloaded libfuzzer").
# Nothing in the source tree is written: _ext/ and setup.py are copied to fuzz/build/src/.
# Needs clang (Debian: apt-get install clang). Use with: python fuzz/run.py --instrumented ...
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=fuzz/build/instrumented
SRC=fuzz/build/src
SANITIZE=fuzzer-no-link
[ "${1:-}" = "--asan" ] && SANITIZE=address,fuzzer-no-link
rm -rf "$OUT" "$SRC"
mkdir -p "$OUT" "$SRC"
cp -r _ext setup.py "$SRC"/
find "$SRC/_ext" -name "*.c" -delete  # regenerate every module from its .pyx
# The Python half of the package, without any compiled module of the tree.
(cd omadm_codec && find . -name '*.py' -o -name 'py.typed') | while read -r f; do
    mkdir -p "$OUT/omadm_codec/$(dirname "$f")"; cp "omadm_codec/$f" "$OUT/omadm_codec/$f"
done
FLAGS="-fsanitize=$SANITIZE -fno-omit-frame-pointer -g -O1"
(cd "$SRC" && CC=clang LDSHARED="clang -shared" CFLAGS="$FLAGS" LDFLAGS="$FLAGS" \
    python setup.py -q build_ext -b "$ROOT/$OUT" -t "$ROOT/$SRC/tmp" >/dev/null)
RT=$(dirname "$(clang -print-file-name=libclang_rt.fuzzer_no_main-x86_64.a)")
clang++ -shared -o fuzz/build/libfuzzer_preload.so \
    -Wl,--whole-archive "$RT/libclang_rt.fuzzer_no_main-x86_64.a" -Wl,--no-whole-archive -lpthread
echo "$SANITIZE" > "$OUT/SANITIZE"
find "$OUT/omadm_codec" -name "*.so"
