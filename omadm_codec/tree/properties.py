"""Node properties through ``?prop=`` (dm-protocol.md 6.3, 6.5): Get and Replace rules.

The one idea: Get of a property needs Get on the node; Replace differs per property. ACL,
Name and Title are Replace-able (an interior node's ACL needs Replace in its own effective
ACL, a leaf's ACL needs Replace in its parent's); Format, Size, Type, TStamp and VerNo are
Get-only (405); any other name is unsupported (406); Size does not exist on interior nodes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import AlreadyExists, InvalidValue, NotAllowed, NotSupported, PermissionDenied
from .acl import Acl, format_acl, parse_acl
from .nodes import PROPERTIES, Node, NodeValue, check_title

if TYPE_CHECKING:
    from .tree import DMTree

_PLAIN = "text/plain"


def check_title_value(title: str) -> str:
    """``check_title``: ``title`` if valid as a Title property, else ``InvalidValue`` /
    ``ValueTooLarge``."""
    return check_title(title)


def get_property(node: Node, prop: str, uri: str, inherited: Acl | None = None) -> NodeValue:
    """The property text; the caller has checked Get on ``node``.

    ``inherited`` is the node's effective ACL, passed only by a DM 1.3 tree: then a Get of an
    empty ACL answers that inherited ACL with status 217 "OK with inherited ACL". UNVERIFIED
    reading: dm13-deltas.md 1.8/4.5 (marked "~", from oneM2M's DM 1.3 status mapping, not the
    DM 1.3 TND text itself) says 217 is "returned for a Get of the ACL of a node whose ACL is
    empty" and that the inherited ACL is what is returned. DM 1.1/1.2 keep TND 8.3.7.1: an empty
    ACL reads as empty (status 200).
    """
    if prop == "ACL":
        if node.acl is None and inherited is not None:
            return NodeValue(inherited.text, "chr", _PLAIN, status=217)
        # An empty ACL reads as empty, never as the inherited value (TND 8.3.7.1).
        text = format_acl(node.acl)
    elif prop == "Format":
        text = node.format
    elif prop == "Name":
        text = node.name
    elif prop == "Size":
        if node.children is not None:
            raise NotSupported("size_on_interior", uri)
        text = str(node.size)
    elif prop == "Title":
        text = node.title
    elif prop == "TStamp":
        text = node.tstamp
    elif prop == "Type":
        text = node.type
    elif prop == "VerNo":
        text = str(node.verno)
    else:
        raise NotSupported("unknown_property", uri)
    return NodeValue(text, "chr", _PLAIN)


def _text_value(value: str | bytes | None, uri: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidValue("bad_utf8", uri) from None
    return value


def replace_property(
    tree: DMTree, node: Node, prop: str, value: str | bytes | None, server_id: str, uri: str
) -> None:
    """Replace ACL, Name or Title of ``node`` as ``server_id``; all checks before any change."""
    if prop not in PROPERTIES:
        raise NotSupported("unknown_property", uri)
    if prop not in ("ACL", "Name", "Title"):
        raise NotAllowed("get_only_property", uri)
    text = _text_value(value, uri)
    if prop == "ACL":
        # Interior: Replace in its own ACL; leaf: Replace in the parent's (TND 8.3.7.1).
        holder = node if node.children is not None or node.parent is None else node.parent
        if not tree.effective_acl(holder).allows("Replace", server_id):
            raise PermissionDenied("acl", uri)
        acl = parse_acl(text)
        if node.parent is None and (acl is None or "*" not in acl.grants.get("Add", ())):
            # The root always has an ACL and keeps Add=* (dm-protocol.md 6.5).
            raise NotAllowed("root_acl", uri)
        with tree.transaction():
            tree._set(node, "acl", acl)
            tree._touch(node)
        return
    tree._check(node, "Replace", server_id, uri)
    if prop == "Title":
        title = check_title(text)
        with tree.transaction():
            tree._set(node, "title", title)
            tree._touch(node)
        return
    # Name: a rename.
    if node.parent is None or node.permanent:
        raise NotAllowed("permanent_name", uri)
    name = tree._uri.check_name(text, tree.uri_limits()[2])
    parent = node.parent
    assert parent.children is not None
    if name == node.name:
        return
    if name in parent.children:
        raise AlreadyExists("sibling_exists", uri)
    with tree.transaction():
        tree._rename(node, name)
        tree._touch(node)


__all__ = ["check_title_value", "get_property", "replace_property"]
