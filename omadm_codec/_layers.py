"""The layer order of the package, in one place (read by ``tests/test_layers.py`` and drawn in
``docs/architecture.md``).

A module may import its own layer and the layers listed before it, never one after it.
``BASE`` modules sit below every layer; the package's own ``__init__`` (the public facade)
and ``__main__`` may import any layer. Imports under ``if TYPE_CHECKING:`` are annotations
only and are not counted; imports inside functions are.
"""

from __future__ import annotations

BASE: tuple[str, ...] = ("errors", "limits", "_backend", "_layers", "_json")
"""Modules directly in ``omadm_codec/`` that every layer may import."""

LAYERS: tuple[str, ...] = ("wbxml", "messages", "tree", "security", "session", "http", "compat",
                           "tools", "loadtest")
"""Subpackages of ``omadm_codec``, lowest first."""
