"""Resource limits for decoding and encoding, with safe defaults, settable per call.

Hitting a limit raises ``DecodeError`` (or ``EncodeError``) with the limit's reason code and the
offset at which it was hit. No decoder allocates ahead of what the input bytes can back.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits for one decode or encode call, each reached as a ``DecodeError`` or
    ``EncodeError`` with the reason named below (``DEFAULT_LIMITS`` unless a call passes its
    own); docs/limits.md lists the defaults and what reaching each returns."""

    max_input_size: int = 16 * 1024 * 1024
    """Largest input accepted, in bytes (reason ``too_large``)."""
    max_depth: int = 64
    """Deepest element nesting (reason ``too_deep``); nested WBXML documents count on."""
    max_string_table: int = 1024 * 1024
    """Largest WBXML string table, in bytes (reason ``too_large``)."""
    max_opaque: int = 16 * 1024 * 1024
    """Largest single OPAQUE / text run in bytes, never more than the bytes left (``too_large``)."""
    max_elements: int = 1_000_000
    """Most elements in one document (reason ``too_many_elements``)."""

    def __post_init__(self) -> None:
        for name in ("max_input_size", "max_depth", "max_string_table", "max_opaque",
                     "max_elements"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative int, not {value!r}")


DEFAULT_LIMITS = Limits()


class MemoryBudget:
    """A byte budget shared by everything that buffers peer data on one server (e.g. large
    objects arriving in chunks, across all sessions): ``reserve`` before keeping bytes,
    ``release`` when they are gone. Thread-safe; ``reserve`` never takes ``used`` past
    ``total``.
    """

    __slots__ = ("total", "_used", "_lock")

    def __init__(self, total: int) -> None:
        if not isinstance(total, int) or total < 0:
            raise ValueError(f"total must be a non-negative int, not {total!r}")
        self.total = total
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        """Bytes held now."""
        return self._used

    def reserve(self, size: int) -> bool:
        """Take ``size`` bytes of the budget; False (nothing taken) if they are not there."""
        with self._lock:
            if self._used + size > self.total:
                return False
            self._used += size
            return True

    def take(self, size: int) -> None:
        """Count ``size`` bytes that are already held (e.g. restored), even past ``total``:
        later ``reserve`` calls fail until enough is released."""
        with self._lock:
            self._used += size

    def release(self, size: int) -> None:
        """Give back ``size`` bytes (never below zero)."""
        with self._lock:
            self._used = max(0, self._used - size)


class Reservation:
    """Bytes one holder took from a ``MemoryBudget`` (or counts alone, without one). They go
    back with ``release()``, or when the reservation is dropped, so a holder that is thrown
    away (a session evicted, an error) cannot leak budget."""

    __slots__ = ("budget", "size")

    def __init__(self, budget: MemoryBudget | None = None) -> None:
        self.budget = budget
        self.size = 0

    def grow(self, size: int) -> bool:
        """Take ``size`` more bytes; False (nothing taken) if the budget is spent."""
        if self.budget is not None and not self.budget.reserve(size):
            return False
        self.size += size
        return True

    def adopt(self, size: int) -> None:
        """Hold ``size`` bytes that already exist (a restored buffer), budget or not."""
        if self.budget is not None:
            self.budget.take(size)
        self.size += size

    def release(self) -> None:
        """Give every byte held back to the budget (again: nothing)."""
        if self.size and self.budget is not None:
            self.budget.release(self.size)
        self.size = 0

    def __del__(self) -> None:
        self.release()


def over_input_size(size: int, limit: int) -> str:
    """The detail of ``too_large`` for an input over ``max_input_size``: its size, the limit,
    and how to raise it."""
    return (f"input of {size} bytes is over max_input_size = {limit} bytes (pass "
            f"limits=Limits(max_input_size=N) to accept more)")
