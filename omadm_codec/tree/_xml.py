"""Reading DDF and TNDS documents: one hardened lxml parse, shared by ``ddf`` and ``tnds``.

The parser is the package's single hardened one (``messages._lxml.parser``: no entities, no
network, no DTD loading); this module only adds the size and ENTITY checks both formats need.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import InvalidValue, ValueTooLarge


def parse_document(document: str | bytes, *, max_bytes: int, too_large: str,
                   bad: Callable[[str], InvalidValue]) -> Any:
    """The root element of ``document``; too big -> ``ValueTooLarge(too_large)``, an ENTITY
    declaration or malformed XML -> ``bad(detail)``."""
    from lxml import etree  # type: ignore[import-untyped]

    from ..messages._lxml import parser

    data = document.encode("utf-8") if isinstance(document, str) else bytes(document)
    if len(data) > max_bytes:
        raise ValueTooLarge(too_large)
    if b"<!ENTITY" in data:
        raise bad("entity declaration")
    try:
        return etree.fromstring(data, parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise bad(str(exc)) from None


def local_name(element: object) -> str:
    """The element's tag without its namespace ("" for comments and other non-elements)."""
    from lxml import etree

    tag = element.tag  # type: ignore[attr-defined]
    return etree.QName(tag).localname if isinstance(tag, str) else ""
