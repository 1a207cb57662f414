"""Choosing a ``StateStore`` engine from a URL (``serve --store``, the operator's CLI)."""

from __future__ import annotations

from typing import Any

from .state import StateStore


def open_store(url: str | None, **options: Any) -> StateStore:
    """``None`` or ``memory://`` -> ``MemoryState``; ``redis://HOST:PORT/DB`` (or
    ``rediss://``, ``unix://``) -> ``RedisState``; ``redis+cluster://HOST:PORT`` ->
    ``RedisState`` on a Redis Cluster (any node as the seed)."""
    if url is None or url in ("memory", "memory://"):
        from .state_memory import MemoryState

        return MemoryState(**options)
    if url.startswith(("redis://", "rediss://", "unix://", "redis+cluster://")):
        from .state_redis import RedisState

        return RedisState.from_url(url, **options)
    raise ValueError(f"unknown store URL {url!r} (memory://, redis://HOST:PORT/DB, "
                     "redis+cluster://HOST:PORT)")


__all__ = ["open_store"]
