"""Unknown users cost what known ones cost (issue #5: no user enumeration by timing).

Wall-clock comparisons are flaky on a shared machine, so the proof is structural: the digest
primitives are wrapped and every call recorded; a wrong password for a known user and any
password for an unknown one must make the same calls on inputs of the same sizes. The
primitives run in constant time for a given size (md5 over fixed-length inputs,
``hmac.compare_digest`` / the compiled constant-time compare)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from omadm_codec.errors import AuthenticationError
from omadm_codec.security import auth

STORED = {"alice": auth.secret_hash("alice", "correct horse")}
NONCE = b"0123456789abcdef"
BODY = b"<SyncML>" + b"x" * 5000 + b"</SyncML>"


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, tuple[int, ...]]]]:
    """Every call into the digest twin: (function, length of each bytes-like argument)."""
    seen: list[tuple[str, tuple[int, ...]]] = []
    real = auth._digest

    class Recorder:
        def __getattr__(self, name: str) -> Any:
            fn: Callable[..., Any] = getattr(real, name)

            def wrapped(*args: Any) -> Any:
                seen.append((name, tuple(len(a) if isinstance(a, (bytes, bytearray,
                                                                   memoryview)) else -1
                                         for a in args)))
                return fn(*args)
            return wrapped

    monkeypatch.setattr(auth, "_digest", Recorder())
    yield seen


def _trace(calls: list[tuple[str, tuple[int, ...]]], action: Callable[[], object]
           ) -> list[tuple[str, tuple[int, ...]]]:
    calls.clear()
    try:
        action()
    except AuthenticationError:
        pass
    return list(calls)


def test_md5_unknown_user_costs_one_digest_like_a_wrong_password(calls: list[Any]) -> None:
    guess = auth.md5_credential("alice", "wrong guess", NONCE)
    known = _trace(calls, lambda: auth.verify_md5(guess, STORED["alice"], NONCE))
    unknown = _trace(calls, lambda: auth.verify_md5(guess, STORED.get("mallory"), NONCE))
    assert known and known == unknown


def test_basic_unknown_user_costs_like_a_wrong_password(calls: list[Any]) -> None:
    known = _trace(calls, lambda: auth.verify_basic(auth.basic_credential("alice", "guess1"),
                                                    STORED.get))
    unknown = _trace(calls, lambda: auth.verify_basic(auth.basic_credential("bobby", "guess1"),
                                                      STORED.get))
    assert known and known == unknown


def test_hmac_unknown_user_costs_one_mac_like_a_wrong_password(calls: list[Any]) -> None:
    wrong = auth.hmac_header("alice", "wrong guess", NONCE, BODY)
    stranger = auth.hmac_header("malory", "wrong guess", NONCE, BODY)  # same name length
    known = _trace(calls, lambda: auth.verify_hmac_header(wrong, STORED.get, NONCE, BODY))
    unknown = _trace(calls, lambda: auth.verify_hmac_header(stranger, STORED.get, NONCE, BODY))
    assert known and known == unknown
    # The body is hashed in both cases (no early exit before the MAC).
    assert any(len(BODY) in lengths for _, lengths in known)
