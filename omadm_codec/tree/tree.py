"""``DMTree``: the management tree and its DM commands (dm-protocol.md 6.2-6.6, 2).

The one idea: every command first finds its node and checks the acting server's rights
(ACL first: 425; then the node kind / AccessType / Scope: 405, ...), validates everything it
will write, and only then mutates, through three journaled primitives (``_set``, ``_attach``,
``_detach``). A refused command therefore changes nothing, and ``transaction()`` can undo any
sequence of successful ones exactly by replaying the journal backwards.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .._backend import active
from ..errors import (
    AlreadyExists,
    NodeNotFound,
    NotAllowed,
    NotSupported,
    PermissionDenied,
    TreeError,
)
from . import properties
from .acl import Acl, parse_acl
from .ddf import NodeDescription, check_add, check_format, parse_ddf
from .nodes import (
    DEFAULT_LEAF_TYPE,
    DM_VERSIONS,
    TNDS_TYPES,
    ExecHandler,
    Node,
    NodeValue,
    StructItem,
    coerce_value,
    format_tstamp,
    iter_subtree,
    node_class,
    subtree_size,
)
from .standard import accounts  # not inside ``dm_accounts``: 2 µs per call there
from .uri import ParsedUri

if TYPE_CHECKING:
    from .standard import DMAccount

_LIMIT_NAMES = ("MaxDepth", "MaxTotLen", "MaxSegLen")
_DEVICE_PATHS_MAX = 256  # device-side URIs remembered parsed (``find``); a few per account
_PLACE_ATTRS = frozenset({"parent", "name", "children"})
_U16 = 0xFFFF


class DMTree:
    """An in-memory OMA DM management tree.

    ``clock`` returns seconds since the epoch (TStamp); ``uri_backend`` picks a URI twin
    (default: the active one); ``max_value_size`` caps a leaf value (413); ``max_nodes`` caps the
    tree (420 Device full); ``dm_version`` (``"1.1"``, ``"1.2"``, ``"1.3"``) picks version-specific
    answers (DM 1.3: Get of an empty ACL gives the inherited one with status 217).
    """

    def __init__(
        self,
        *,
        root_acl: str = "Add=*&Get=*",
        clock: Callable[[], float] | None = None,
        uri_backend: ModuleType | None = None,
        max_value_size: int = 1 << 20,
        max_nodes: int = 1_000_000,
        dm_version: str = "1.2",
    ) -> None:
        if dm_version not in DM_VERSIONS:
            raise TreeError("bad_dm_version", detail=repr(dm_version), status=400)
        acl = parse_acl(root_acl)
        if acl is None:
            raise TreeError("bad_acl", detail="the root always has an ACL", status=400)
        self.clock: Callable[[], float] = clock if clock is not None else time.time
        self._uri: Any = uri_backend if uri_backend is not None else active("tree._uri")
        self._node: type[Node] = node_class(self._uri)
        self.root = self._node("", None, interior=True, acl=acl, permanent=True)
        self.max_value_size = max_value_size
        self.max_nodes = max_nodes
        self.dm_version = dm_version
        self.node_count = 1
        self._journal: list[Callable[[], None]] | None = None
        self._limits: tuple[int, int, int] | None = None
        # uri -> its segments, for the device's own lookups (``find``): a parse without
        # limits depends on the text alone, so it holds whatever the tree becomes.
        self._device_paths: dict[str, tuple[str, ...]] = {}

    # -- construction -------------------------------------------------------------------

    @classmethod
    def with_standard_objects(cls, **kwargs: Any) -> DMTree:
        """A tree holding DevInfo, DevDetail and one DMAcc account (see ``standard.build``)."""
        from .standard import build

        return build(cls, **kwargs)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Persist the tree to one SQLite file; a failed save leaves the old file intact."""
        from .storage import save

        save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], **kwargs: Any) -> DMTree:
        """A tree read from a file written by ``save`` (``kwargs`` as for ``DMTree``)."""
        from .storage import load

        return load(cls, path, **kwargs)

    def dm_accounts(self) -> Iterator[DMAccount]:
        """The DM server accounts in the tree (DM 1.2 and DM 1.1 layouts), device-side."""
        return accounts(self)

    # -- limits and lookup --------------------------------------------------------------

    def uri_limits(self) -> tuple[int, int, int]:
        """(MaxDepth, MaxTotLen, MaxSegLen) from ./DevDetail/URI; 0 = unlimited."""
        if self._limits is None:
            values = []
            for name in _LIMIT_NAMES:
                node = self._find_quiet(("DevDetail", "URI", name))
                number = 0
                if node is not None and isinstance(node.value, str) and node.value.isdigit():
                    number = min(int(node.value), _U16)
                values.append(number)
            self._limits = (values[0], values[1], values[2])
        return self._limits

    def parse(self, uri: str, *, limits: bool = True) -> ParsedUri:
        """``uri`` parsed and checked against this tree's limits (400 / 414). The device's own
        calls (``device_*``, ``find``) pass ``limits=False``: the limits bound what servers send."""
        depth, total, seg = self.uri_limits() if limits else (0, 0, 0)
        parsed: ParsedUri = self._uri.parse_uri(uri, depth, total, seg)
        return parsed

    def _find_quiet(self, segments: tuple[str, ...]) -> Node | None:
        node = self.root
        for name in segments:
            if node.children is None or name not in node.children:
                return None
            node = node.children[name]
        return node

    def _find(self, segments: tuple[str, ...], uri: str) -> Node:
        node = self.root
        for name in segments:
            children = node.children
            child = children.get(name) if children is not None else None
            if child is None:
                raise NodeNotFound("not_found", len(node.path()), uri)
            node = child
        return node

    def find(self, uri: str) -> Node:
        """The node at ``uri`` (device-side, no ACL check); 404 if absent."""
        segments = self._device_paths.get(uri)
        if segments is None:
            segments = self.parse(uri, limits=False).segments
            if len(self._device_paths) >= _DEVICE_PATHS_MAX:
                self._device_paths.clear()
            self._device_paths[uri] = segments
        return self._find(segments, uri)

    @staticmethod
    def effective_acl(node: Node) -> Acl:
        """The ACL that governs ``node``: its own, else the nearest ancestor's (the root always has
        one)."""
        current: Node | None = node
        while current is not None:
            if current.acl is not None:
                return current.acl
            current = current.parent
        raise AssertionError("the root always has an ACL")

    def _check(self, node: Node, command: str, server_id: str, uri: str) -> None:
        if not self.effective_acl(node).allows(command, server_id):
            raise PermissionDenied("acl", uri)
        if node.access is not None and command not in node.access:
            raise NotAllowed("access_type", uri)

    @staticmethod
    def _in_inbox(node: Node) -> bool:
        while node.parent is not None and node.parent.parent is not None:
            node = node.parent
        return node.parent is not None and node.name == "Inbox"

    # -- journaled primitives -------------------------------------------------------------

    def _set(self, obj: Any, attr: str, value: Any) -> None:
        if self._journal is not None:
            old = getattr(obj, attr)
            self._journal.append(lambda: setattr(obj, attr, old))
        setattr(obj, attr, value)
        # The cached limits come from the values of the nodes named MaxDepth, MaxTotLen and
        # MaxSegLen and from where they sit (``parent`` / ``name`` / ``children`` changes).
        if attr in _PLACE_ATTRS or (attr == "value" and getattr(obj, "name", None)
                                    in _LIMIT_NAMES):
            self._limits = None

    def _save_children(self, parent: Node) -> None:
        self._limits = None  # children are about to change (see ``_set``)
        if self._journal is not None:
            saved = dict(parent.children or {})
            self._journal.append(lambda: setattr(parent, "children", saved))

    def _attach(self, parent: Node, child: Node, count: int = 1) -> None:
        assert parent.children is not None
        if self.node_count + count > self.max_nodes:
            raise TreeError("device_full", status=420)
        self._save_children(parent)
        parent.children[child.name] = child
        self._set(child, "parent", parent)
        self._set(self, "node_count", self.node_count + count)

    def _detach(self, node: Node) -> None:
        parent = node.parent
        assert parent is not None and parent.children is not None
        self._save_children(parent)
        del parent.children[node.name]
        self._set(self, "node_count", self.node_count - subtree_size(node))

    def _rename(self, node: Node, new_name: str) -> None:
        parent = node.parent
        assert parent is not None and parent.children is not None
        self._save_children(parent)
        # Keep the node's place among its siblings.
        parent.children = {
            (new_name if key == node.name else key): child for key, child in parent.children.items()
        }
        self._set(node, "name", new_name)

    def _touch(self, node: Node) -> None:
        self._set(node, "verno", (node.verno + 1) & _U16)
        self._set(node, "tstamp", format_tstamp(self.clock()))

    @contextmanager
    def transaction(self) -> Iterator[DMTree]:
        """All or nothing: an exception inside undoes every change made inside, exactly
        (values, properties, VerNo, TStamp, child order), then propagates. Nests."""
        outer = self._journal is None
        if outer:
            self._journal = []
        journal = self._journal
        assert journal is not None
        mark = len(journal)
        try:
            yield self
        except BaseException:
            while len(journal) > mark:
                journal.pop()()
            self._limits = None
            raise
        finally:
            if outer:
                self._journal = None

    # -- device-side construction (no ACL; the device itself acting) ------------------------

    def device_add(
        self,
        uri: str,
        value: str | bytes | None = None,
        *,
        format: str = "chr",
        type: str | None = None,
        acl: str = "",
        permanent: bool = False,
        access: frozenset[str] | tuple[str, ...] | None = None,
        title: str = "",
        parents: bool = True,
    ) -> Node:
        """Create a node as the device (no ACL check); missing ancestors are created as
        interior nodes when ``parents`` is true. Existing node: 418."""
        parsed = self.parse(uri, limits=False)
        if parsed.prop is not None or parsed.list_kind is not None or not parsed.segments:
            raise NotAllowed("bad_target", uri)
        with self.transaction():
            parent = self.root
            for name in parsed.segments[:-1]:
                if parent.children is None:
                    raise NotAllowed("parent_is_leaf", uri)
                child = parent.children.get(name)
                if child is None:
                    if not parents:
                        raise NodeNotFound("not_found", len(parent.path()), uri)
                    child = self._node(name, parent, interior=True)
                    if parent.description is not None:
                        child.description = parent.description.child(name)
                    self._touch(child)
                    self._attach(parent, child)
                parent = child
            return self._new_node(
                parent,
                parsed.segments[-1],
                uri,
                value,
                format,
                type,
                parse_acl(acl),
                permanent,
                frozenset(access) if access is not None else None,
                title,
                enforce=False,
            )

    def _new_node(
        self,
        parent: Node,
        name: str,
        uri: str,
        value: str | bytes | None,
        format: str,
        type: str | None,
        acl: Acl | None,
        permanent: bool = False,
        access: frozenset[str] | None = None,
        title: str = "",
        enforce: bool = True,
    ) -> Node:
        if parent.children is None:
            raise NotAllowed("parent_is_leaf", uri)
        if name in parent.children:
            raise AlreadyExists("exists", uri)
        if enforce:  # a server's Add: the parent's DDF description decides (405 / 415)
            description = check_add(parent.description, parent.children, name, format, uri)
        else:  # the device itself: the description is attached, not enforced
            description = parent.description.child(name) if parent.description else None
        if description is not None:
            access = description.access if access is None else access
            permanent = permanent or description.permanent
            if type is None and description.df_type:
                type = description.df_type[0]
        if format == "node":
            if value not in (None, "", b""):
                raise TreeError("interior_value", uri, status=400)
            node = self._node(
                name,
                parent,
                interior=True,
                type=type or "",
                acl=acl,
                permanent=permanent,
                access=access,
            )
        else:
            stored, fmt = coerce_value(value, format, self.max_value_size)
            node = self._node(
                name,
                parent,
                interior=False,
                value=stored,
                format=fmt,
                type=DEFAULT_LEAF_TYPE if type is None else type,
                acl=acl,
                permanent=permanent,
                access=access,
            )
        node.title = properties.check_title_value(title)
        node.description = description
        node.verno = 0
        node.tstamp = format_tstamp(self.clock())
        self._attach(parent, node)
        return node

    def describe(self, ddf: str | bytes | list[NodeDescription]) -> None:
        """Attach DDF descriptions (a DDF document or parsed ones) to the nodes they describe;
        from then on Adds, Replaces and Deletes below them are checked against them. A top
        Node is placed at its ``Path`` (default ``.``) and must exist (404)."""
        descriptions = parse_ddf(ddf) if isinstance(ddf, str | bytes) else ddf
        with self.transaction():
            for description in descriptions:
                base = self.parse(description.path or ".", limits=False).segments
                where = base + ((description.name,) if description.name else ())
                self._describe(self._find(where, description.path or "."), description)

    def _describe(self, node: Node, description: NodeDescription) -> None:
        stack = [(node, description)]
        while stack:
            current, desc = stack.pop()
            self._set(current, "description", desc)
            self._set(current, "access", desc.access)
            self._set(current, "permanent", current.permanent or desc.permanent)
            for name, child in (current.children or {}).items():
                child_desc = desc.child(name)
                if child_desc is not None:
                    stack.append((child, child_desc))

    def register_exec(self, uri: str, handler: ExecHandler) -> None:
        """Make ``handler(tree, uri, server_id, data, correlator)`` the Exec target of a node.
        It returns a status (None = 200) or raises ``TreeError``."""
        node = self.find(uri)
        self._set(node, "exec_handler", handler)

    def device_get(self, uri: str) -> str | bytes | None:
        """A leaf value as the device sees it (no ACL); None for interior nodes."""
        return self.find(uri).value

    def device_replace(self, uri: str, value: str | bytes, format: str | None = None) -> None:
        """Overwrite a leaf value as the device (no ACL), e.g. to store a new nonce."""
        node = self.find(uri)
        if node.children is not None:
            raise NotAllowed("interior", uri)
        stored, fmt = coerce_value(value, format or node.format, self.max_value_size)
        self._set(node, "value", stored)
        self._set(node, "format", fmt)
        self._touch(node)

    # -- DM commands ----------------------------------------------------------------------

    def add(
        self,
        uri: str,
        server_id: str,
        value: str | bytes | None = None,
        format: str = "chr",
        type: str | None = None,
    ) -> None:
        """Add a leaf (``format`` != ``node``) or an interior node (``format="node"``).

        A TNDS document (``type`` a dmtnds MIME type) is added under ``uri`` instead.
        404 parent missing, 405 parent is a leaf / property target, 418 exists, 425 ACL.
        """
        if type in TNDS_TYPES:
            from .tnds import add_tnds

            add_tnds(self, uri, server_id, value, type)
            return
        parsed = self.parse(uri)
        if parsed.prop is not None or parsed.list_kind is not None:
            raise NotAllowed("property_add", uri)
        if not parsed.segments:
            raise AlreadyExists("exists", uri)
        parent = self._find(parsed.segments[:-1], uri)
        if parent.children is None:
            raise NotAllowed("parent_is_leaf", uri)
        self._check(parent, "Add", server_id, uri)
        acl = None
        if format == "node" and not self.effective_acl(parent).allows("Replace", server_id):
            # TND 8.3.7.1: a creator without Replace on the parent gets Add, Delete, Replace.
            acl = Acl.for_server(server_id, ("Add", "Delete", "Replace"))
        self._new_node(parent, parsed.segments[-1], uri, value, format, type, acl)

    def get(self, uri: str, server_id: str) -> NodeValue:
        """A leaf value, the child names of an interior node (joined by ``/``), a property
        (``?prop=``), or a list (``?list=Struct|StructData|TNDS...``)."""
        depth, total, seg = self._limits or self.uri_limits()
        # The URI twin finishes the common Get (a readable leaf outside ./Inbox, no query)
        # and hands back resolve's (node, query) for everything else.
        found = self._uri.get_leaf(self.root, uri, server_id, depth, total, seg, NodeValue)
        if type(found) is NodeValue:
            return found
        node, query = found
        if node.access is not None and "Get" not in node.access:
            raise NotAllowed("access_type", uri)
        if node.parent is not None and self._in_inbox(node):
            raise NotAllowed("inbox", uri)
        if query is not None:
            if query.prop is not None:
                inherited = self.effective_acl(node) if self.dm_version == "1.3" else None
                return properties.get_property(node, query.prop, uri, inherited)
            return self._get_list(node, query, server_id, uri)
        if node.children is not None:
            return NodeValue(
                "/".join([self._uri.escape_segment(name) for name in node.children]),
                "node",
                node.type,
            )
        assert node.value is not None
        return NodeValue(node.value, node.format, node.type)

    def _get_list(self, node: Node, query: ParsedUri, server_id: str, uri: str) -> NodeValue:
        if query.list_kind == "TNDS":
            from .tnds import TNDS_XML_TYPE, to_tnds

            document = to_tnds(self, node, server_id, query.list_sign, query.list_props)
            return NodeValue(document, "xml", TNDS_XML_TYPE)
        if query.list_kind not in ("Struct", "StructData") or query.list_sign:
            raise NotSupported("list", uri)
        with_data = query.list_kind == "StructData"
        items = [
            StructItem(
                self._uri.format_uri(path),
                item.format,
                item.type,
                item.value if with_data else None,
            )
            for path, item in self.readable_subtree(node, server_id)
        ]
        return NodeValue("", "node", node.type, tuple(items))

    def readable_subtree(
        self, node: Node, server_id: str
    ) -> Iterator[tuple[tuple[str, ...], Node]]:
        """(path, node) pre-order for the nodes ``server_id`` may Get; a node it may not Get is
        left out with its whole subtree (the structure below could not be expressed)."""
        stack = [(node.path(), node)]
        while stack:
            path, current = stack.pop()
            if not self.effective_acl(current).allows("Get", server_id):
                continue
            if current.access is not None and "Get" not in current.access:
                continue
            if current.parent is not None and self._in_inbox(current):
                continue
            yield path, current
            if current.children:
                stack.extend(
                    (path + (name,), child) for name, child in reversed(current.children.items())
                )

    def replace(
        self,
        uri: str,
        server_id: str,
        value: str | bytes | None,
        format: str | None = None,
        type: str | None = None,
    ) -> None:
        """Replace a leaf value (``format`` None keeps the node's format), a property
        (``?prop=``), or an interior subtree from a TNDS document. Never creates (404)."""
        if type in TNDS_TYPES:
            from .tnds import replace_tnds

            replace_tnds(self, uri, server_id, value, type)
            return
        # The common case in one compiled call (parse, find, ACL); a URI with a query or a
        # refused ACL takes the full path, which keeps the order of the checks (and errors).
        depth, total, seg = self._limits or self.uri_limits()
        try:
            node, query = self._uri.resolve(self.root, uri, "Replace", server_id, depth,
                                            total, seg)
        except PermissionDenied:
            node = query = None
        if node is None or query is not None:
            parsed = self.parse(uri)
            node = self._find(parsed.segments, uri)
            if parsed.list_kind is not None:
                raise NotAllowed("list_replace", uri)
            if parsed.prop is not None:
                properties.replace_property(self, node, parsed.prop, value, server_id, uri)
                return
            self._check(node, "Replace", server_id, uri)
        elif node.access is not None and "Replace" not in node.access:
            raise NotAllowed("access_type", uri)
        if node.children is not None:
            raise NotAllowed("interior_replace", uri)
        fmt = node.format if format is None else format
        if fmt == "b64" and node.format == "bin":
            pass
        elif node.permanent and fmt != node.format:
            raise NotAllowed("permanent_format", uri)
        if node.permanent and type is not None and type != node.type:
            raise NotAllowed("permanent_type", uri)
        if node.description is not None:
            check_format(node.description, fmt, uri)
        stored, stored_format = coerce_value(value, fmt, self.max_value_size)
        # Everything that can fail (the clock too) is done: the writes below cannot.
        tstamp = format_tstamp(self.clock())
        if self._journal is None and node.name not in _LIMIT_NAMES:
            # What ``_set`` does when nothing is journaled and no limit can change.
            node.value = stored
            node.format = stored_format
            if type is not None:
                node.type = type
            node.verno = (node.verno + 1) & _U16
            node.tstamp = tstamp
            return
        self._set(node, "value", stored)
        self._set(node, "format", stored_format)
        if type is not None:
            self._set(node, "type", type)
        self._set(node, "verno", (node.verno + 1) & _U16)
        self._set(node, "tstamp", tstamp)

    def delete(self, uri: str, server_id: str) -> None:
        """Delete a node and its whole subtree. Root, permanent nodes (or a subtree holding
        one) and an AccessType without Delete: 405."""
        parsed = self.parse(uri)
        if parsed.prop is not None or parsed.list_kind is not None:
            raise NotAllowed("property_delete", uri)
        if not parsed.segments:
            raise NotAllowed("root", uri)
        node = self._find(parsed.segments, uri)
        self._check(node, "Delete", server_id, uri)
        if any(n.permanent for n in iter_subtree(node)):
            raise NotAllowed("permanent", uri)
        self._detach(node)

    def copy(self, source: str, target: str, server_id: str) -> None:
        """Copy a leaf value onto a leaf (Replace it) or a new leaf (Add it). Needs Get on the
        source and Replace on the target or Add on its parent; interior nodes: 405."""
        src_parsed = self.parse(source)
        dst_parsed = self.parse(target)
        for parsed, uri in ((src_parsed, source), (dst_parsed, target)):
            if parsed.prop is not None or parsed.list_kind is not None:
                raise NotAllowed("property_copy", uri)
        src = self._find(src_parsed.segments, source)
        self._check(src, "Get", server_id, source)
        if src.children is not None:
            raise NotAllowed("interior_copy", source)
        dst = self._find_quiet(dst_parsed.segments)
        if dst is not None:
            if dst.children is not None:
                raise NotAllowed("interior_copy", target)
            if not self.effective_acl(dst).allows("Replace", server_id):
                raise PermissionDenied("acl", target)
            if dst.access is not None and "Replace" not in dst.access:
                raise TreeError("not_writable", target, status=403)
            if dst.permanent and dst.format != src.format:
                raise TreeError("not_writable", target, status=403)
            check_format(dst.description, src.format, target)
            with self.transaction():
                self._set(dst, "value", src.value)
                self._set(dst, "format", src.format)
                self._set(dst, "type", src.type)
                self._touch(dst)
            return
        if not dst_parsed.segments:
            raise NotAllowed("root", target)
        parent = self._find(dst_parsed.segments[:-1], target)
        if parent.children is None:
            raise NotAllowed("parent_is_leaf", target)
        self._check(parent, "Add", server_id, target)
        self._new_node(
            parent, dst_parsed.segments[-1], target, src.value, src.format, src.type, None
        )

    def exec(
        self,
        uri: str,
        server_id: str,
        data: str | bytes | None = None,
        correlator: str | None = None,
    ) -> int:
        """Run the node's registered handler; returns its status (200 when it returns None).
        No handler: 405. A handler failing with anything but ``TreeError``: 500."""
        parsed = self.parse(uri)
        if parsed.prop is not None or parsed.list_kind is not None:
            raise NotAllowed("property_exec", uri)
        node = self._find(parsed.segments, uri)
        self._check(node, "Exec", server_id, uri)
        handler = node.exec_handler
        if handler is None:
            raise NotAllowed("no_exec", uri)
        with self.transaction():
            try:
                status = handler(self, uri, server_id, data, correlator)
            except TreeError:
                raise
            except Exception as exc:
                raise TreeError("exec_failed", uri, detail=repr(exc), status=500) from exc
        return 200 if status is None else int(status)

    def remove_server(self, server_id: str) -> None:
        """Scrub ``server_id`` from every ACL; the root falls back to ``*`` for a command
        that loses its last id (dm-protocol.md 6.5)."""
        with self.transaction():
            for node in iter_subtree(self.root):
                if node.acl is None or not any(
                    server_id in ids for ids in node.acl.grants.values()
                ):
                    continue
                new = node.acl.without(server_id)
                if node.parent is None:
                    entries = dict(new.entries) if new is not None else {}
                    for command, _ids in node.acl.entries:
                        if command not in entries:
                            entries[command] = ("*",)
                    new = Acl(tuple((c, entries[c]) for c, _ in node.acl.entries))
                self._set(node, "acl", new)
                self._touch(node)


__all__ = ["DMTree"]
