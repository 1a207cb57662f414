"""The tree layer: the OMA DM management tree. URIs (twin ``_uri``), nodes and properties, ACLs,
transactions, standard objects, DDF, TNDS and SQLite storage.

May import: ``messages`` (the hardened parser, for DDF and TNDS), ``wbxml`` (TNDS in WBXML) and
the base modules.

The one idea: ``DMTree`` is the only thing that changes nodes, and it changes them only after
every check of a command has passed, through a journal that ``transaction()`` can replay
backwards; refused commands raise a ``TreeError`` whose ``.status`` is the DM status code.
"""

from __future__ import annotations

from .acl import COMMANDS, Acl, format_acl, parse_acl
from .nodes import FORMATS, PROPERTIES, Node, NodeValue, StructItem
from .standard import AccountAddress, AuthEntry, DMAccount, add_dm_account
from .tree import DMTree
from .uri import ParsedUri, escape_segment, format_uri, normalize_uri, parse_uri

__all__ = [
    "COMMANDS",
    "FORMATS",
    "PROPERTIES",
    "AccountAddress",
    "Acl",
    "AuthEntry",
    "DMAccount",
    "DMTree",
    "Node",
    "NodeValue",
    "ParsedUri",
    "StructItem",
    "add_dm_account",
    "escape_segment",
    "format_acl",
    "format_uri",
    "normalize_uri",
    "parse_acl",
    "parse_uri",
]
