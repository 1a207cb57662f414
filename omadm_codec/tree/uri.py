"""Management-tree URIs: the active twin (compiled ``_uri_c`` or pure ``_uri_py``).

Same names and results in both; see ``omadm_codec/tree/_uri_py.py`` for the rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._backend import active
from ._uri_py import SEGMENT_SAFE, ParsedUri

if TYPE_CHECKING:
    from ._uri_py import (
        acl_grants,
        check_name,
        escape_segment,
        format_uri,
        get_leaf,
        normalize_uri,
        parse_uri,
        resolve,
    )
else:
    _twin = active("tree._uri")
    acl_grants = _twin.acl_grants
    check_name = _twin.check_name
    escape_segment = _twin.escape_segment
    format_uri = _twin.format_uri
    get_leaf = _twin.get_leaf
    normalize_uri = _twin.normalize_uri
    parse_uri = _twin.parse_uri
    resolve = _twin.resolve

__all__ = [
    "SEGMENT_SAFE",
    "ParsedUri",
    "acl_grants",
    "check_name",
    "escape_segment",
    "format_uri",
    "get_leaf",
    "normalize_uri",
    "parse_uri",
    "resolve",
]
