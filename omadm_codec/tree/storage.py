"""Persist a ``DMTree`` in one SQLite file (standard library ``sqlite3``) and load it back.

The one idea: a save never touches the existing file. It writes a complete new database next
to it, commits and closes it, then ``os.replace``-s it over the old one (atomic on POSIX and
Windows), so a failed save leaves the previous file exactly as it was. Rows are the nodes in
pre-order, so a parent's row always comes before its children's and child order is kept.
Exec handlers are code, not data: they are not saved (register them again after ``load``).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from typing import TYPE_CHECKING, Any

from ..errors import TreeError
from .acl import parse_acl
from .nodes import DM_VERSIONS, FORMATS, Node, iter_subtree

if TYPE_CHECKING:
    from .tree import DMTree

SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE nodes (
    id INTEGER PRIMARY KEY,       -- pre-order position; the root is 0
    parent INTEGER,               -- NULL for the root only
    name TEXT NOT NULL,
    interior INTEGER NOT NULL,
    value BLOB,                   -- bytes for bin, UTF-8 text otherwise, NULL if interior
    format TEXT NOT NULL,
    type TEXT NOT NULL,
    acl TEXT NOT NULL,
    title TEXT NOT NULL,
    tstamp TEXT NOT NULL,
    verno INTEGER NOT NULL,
    permanent INTEGER NOT NULL,
    access TEXT                   -- NULL = no AccessType; else command names joined by ","
);
"""


def _rows(tree: DMTree) -> list[tuple[Any, ...]]:
    ids: dict[int, int] = {}
    rows = []
    for index, node in enumerate(iter_subtree(tree.root)):
        ids[id(node)] = index
        # str is stored as TEXT and bytes as BLOB, so the value's type survives the trip.
        rows.append(
            (
                index,
                ids[id(node.parent)] if node.parent is not None else None,
                node.name,
                int(node.children is not None),
                node.value,
                node.format,
                node.type,
                node.acl.text if node.acl is not None else "",
                node.title,
                node.tstamp,
                node.verno,
                int(node.permanent),
                ",".join(sorted(node.access)) if node.access is not None else None,
            )
        )
    return rows


def save(tree: DMTree, path: str | os.PathLike[str]) -> None:
    """Write ``tree`` to ``path`` (replacing it only once the new file is complete)."""
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    handle, temp = tempfile.mkstemp(prefix=".dmtree-", suffix=".tmp", dir=directory)
    os.close(handle)
    try:
        connection = sqlite3.connect(temp)
        try:
            connection.executescript(_SCHEMA)
            connection.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            connection.execute("INSERT INTO meta VALUES ('dm_version', ?)", (tree.dm_version,))
            connection.executemany(
                "INSERT INTO nodes VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", _rows(tree)
            )
            connection.commit()
        finally:
            connection.close()
        os.replace(temp, target)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def _corrupt(detail: str) -> TreeError:
    return TreeError("bad_store", detail=detail, status=500)


def load(cls: type[DMTree], path: str | os.PathLike[str], **tree_kwargs: Any) -> DMTree:
    """A tree read from ``path``; a file that is not a valid store raises ``TreeError``
    (reason ``bad_store``) and builds nothing."""
    target = os.fspath(path)
    if not os.path.isfile(target):
        raise _corrupt("no such file")
    try:
        connection = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise _corrupt(str(exc)) from None
    try:
        schema = connection.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if schema is None or schema[0] != SCHEMA_VERSION:
            raise _corrupt("schema version")
        version = connection.execute("SELECT value FROM meta WHERE key='dm_version'").fetchone()
        rows = connection.execute("SELECT * FROM nodes ORDER BY id").fetchall()
    except sqlite3.Error as exc:
        raise _corrupt(str(exc)) from None
    finally:
        connection.close()
    # Files written before dm_version was stored have no row: they were DM 1.2 trees.
    if version is not None and version[0] not in DM_VERSIONS:
        raise _corrupt("dm_version")
    if version is not None:
        tree_kwargs.setdefault("dm_version", version[0])
    return _build(cls, rows, tree_kwargs)


def _build(cls: type[DMTree], rows: list[tuple[Any, ...]], tree_kwargs: dict[str, Any]) -> DMTree:
    if not rows or rows[0][1] is not None or rows[0][0] != 0 or not rows[0][3]:
        raise _corrupt("root row")
    root_acl = rows[0][7]
    tree = cls(root_acl=root_acl or "Add=*&Get=*", **tree_kwargs)
    check_name = tree._uri.check_name
    nodes: dict[int, Node] = {}
    for row in rows:
        (
            index,
            parent_id,
            name,
            interior,
            value,
            fmt,
            mime,
            acl_text,
            title,
            tstamp,
            verno,
            permanent,
            access,
        ) = row
        try:
            acl = parse_acl(acl_text)
        except TreeError:
            raise _corrupt(f"ACL of row {index}") from None
        if parent_id is None:
            if index != 0:
                raise _corrupt("second root")
            node = tree.root
            node.acl = acl
        else:
            parent = nodes.get(parent_id)
            if parent is None or parent.children is None or name in parent.children:
                raise _corrupt(f"parent of row {index}")
            try:
                check_name(name)
            except TreeError:
                raise _corrupt(f"name of row {index}") from None
            if interior:
                node = tree._node(name, parent, interior=True, acl=acl)
            else:
                if fmt not in FORMATS or fmt in ("node", "b64"):
                    raise _corrupt(f"format of row {index}")
                if not isinstance(value, bytes if fmt == "bin" else str):
                    raise _corrupt(f"value of row {index}")
                node = tree._node(name, parent, interior=False, value=value, format=fmt, acl=acl)
            parent.children[name] = node
            tree.node_count += 1
        if not isinstance(verno, int) or not 0 <= verno <= 0xFFFF:
            raise _corrupt(f"VerNo of row {index}")
        node.type, node.title, node.tstamp, node.verno = mime, title, tstamp, verno
        node.permanent = bool(permanent)
        node.access = (
            frozenset(cmd for cmd in access.split(",") if cmd) if access is not None else None
        )
        nodes[index] = node
    if tree.node_count > tree.max_nodes:
        raise _corrupt("more nodes than max_nodes")
    return tree


__all__ = ["load", "save"]
