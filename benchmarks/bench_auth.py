"""Per-message security costs: auth-md5 verify, HMAC verify of a 100 KB body, pkg0 verify.

Each is measured on the compiled and the pure digest twin, with ``hashlib.md5`` of the same
input as the floor, in one run. Run:
``python -m pytest benchmarks/bench_auth.py --benchmark-only --benchmark-json=auth.json``
then ``python benchmarks/bench_auth.py auth.json`` for the README table (medians; targets:
md5 verify and pkg0 verify >= 3x the pure twin, HMAC 100 KB <= 1.2x hashlib.md5).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import pytest

from omadm_codec import _backend

NONCE = bytes(range(16))
BODY = os.urandom(100 * 1024)
PKG0 = bytes.fromhex("02e800000000ab04") + b"srv1"


def _twin(impl: str) -> Any:
    return _backend.twin("security._digest", "c" if impl == "cython" else "py")


def _cases(impl: str) -> dict[str, tuple[Callable[..., object], tuple[object, ...]]]:
    """op -> (callable, args): the twin's verify, or hashlib.md5 over the same input."""
    ref = _backend.twin("security._digest", "py")
    secret = ref.secret_hash(b"device-4711", b"cl13nt-secret")
    cred = ref.md5_b64(secret, NONCE)
    mac = ref.mac_b64(secret, NONCE, BODY)
    raw = ref.mac_digest(secret, NONCE, PKG0) + PKG0
    if impl == "hashlib":
        md5 = hashlib.md5
        return {"md5_verify": (lambda d: md5(d).digest(), (secret + b":" + NONCE,)),
                "hmac_verify_100k": (lambda d: md5(d).digest(), (BODY,)),
                "pkg0_verify": (lambda d: md5(d).digest(), (PKG0,))}
    twin = _twin(impl)
    return {"md5_verify": (twin.md5_verify, (secret, NONCE, cred)),
            "hmac_verify_100k": (twin.mac_verify, (secret, NONCE, BODY, mac)),
            "pkg0_verify": (twin.pkg0_verify, (secret, NONCE, raw))}


@pytest.mark.parametrize("impl", ["cython", "python", "hashlib"])
@pytest.mark.parametrize("op", ["md5_verify", "hmac_verify_100k", "pkg0_verify"])
def test_auth_speed(benchmark, op, impl):  # type: ignore[no-untyped-def]
    fn, args = _cases(impl)[op]
    benchmark.group = f"auth {op}"
    benchmark.extra_info.update(auth_op=op, impl=impl)
    # Sub-microsecond calls: many iterations per round, so timer overhead does not dominate.
    iterations = 20 if op == "hmac_verify_100k" else 5000
    result = benchmark.pedantic(fn, args, iterations=iterations, rounds=200, warmup_rounds=5)
    if impl != "hashlib":
        assert result is True


def report(path: str) -> str:
    """The README table from a pytest-benchmark JSON file (ratios within one run)."""
    with open(path) as fh:
        data = json.load(fh)
    lines = []
    for stat in ("median", "min"):
        val = {(b["extra_info"]["auth_op"], b["extra_info"]["impl"]): b["stats"][stat]
               for b in data["benchmarks"] if "auth_op" in b.get("extra_info", {})}
        lines += [f"{stat} per call:", "",
                  "| operation | compiled µs | pure µs | hashlib.md5 µs | compiled vs pure "
                  "| compiled / hashlib |", "|---|---:|---:|---:|---:|---:|"]
        for op in ("md5_verify", "hmac_verify_100k", "pkg0_verify"):
            c, p, h = (val[(op, impl)] for impl in ("cython", "python", "hashlib"))
            lines.append(f"| {op} | {c * 1e6:.3f} | {p * 1e6:.3f} | {h * 1e6:.3f} "
                         f"| {p / c:.2f}x faster | {c / h:.2f} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(sys.argv[1]))
