"""Resource limits for decoding and encoding, with safe defaults, settable per call.

Hitting a limit raises ``DecodeError`` (or ``EncodeError``) with the limit's reason code and the
offset at which it was hit. No decoder allocates ahead of what the input bytes can back.
"""

from __future__ import annotations

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
