"""ACL strings (dm-protocol.md 6.5): parse, check, serialise canonically, scrub a server id.

The one idea: an ``Acl`` is immutable and always canonical. Parsing either yields a complete
``Acl`` or raises; nothing half-parsed is ever stored. The empty ACL is represented by ``None``
on the node (it means "inherit from the nearest ancestor that has one"), never by an empty
``Acl``. Canonical text: commands in the order Add, Delete, Exec, Get, Replace; server ids in
first-seen order without duplicates; an entry holding ``*`` is just ``*`` (it overrides names).
"""

from __future__ import annotations

from ..errors import TreeError

COMMANDS: tuple[str, ...] = ("Add", "Delete", "Exec", "Get", "Replace")
_FORBIDDEN_IN_ID = frozenset("=&*+")


class Acl:
    """A non-empty, canonical ACL. ``grants`` maps a command to the frozenset of its ids."""

    __slots__ = ("entries", "grants", "text")

    entries: tuple[tuple[str, tuple[str, ...]], ...]
    grants: dict[str, frozenset[str]]
    text: str

    def __init__(self, entries: tuple[tuple[str, tuple[str, ...]], ...]) -> None:
        # Invariant (callers: parse_acl, Acl.for_server, Acl.without): entries are canonical.
        self.entries = entries
        self.grants = {command: frozenset(ids) for command, ids in entries}
        self.text = "&".join(f"{command}={'+'.join(ids)}" for command, ids in entries)

    @classmethod
    def for_server(cls, server_id: str, commands: tuple[str, ...]) -> Acl:
        """An ACL granting ``commands`` to ``server_id`` alone."""
        check_server_id(server_id)
        wanted = set(commands)
        return cls(tuple((command, (server_id,)) for command in COMMANDS if command in wanted))

    def allows(self, command: str, server_id: str) -> bool:
        """Whether this ACL lets ``server_id`` run ``command`` (``Get``, ``Replace``...): it is
        listed for it, or ``*`` is."""
        ids = self.grants.get(command)
        return ids is not None and ("*" in ids or server_id in ids)

    def without(self, server_id: str) -> Acl | None:
        """This ACL with ``server_id`` scrubbed; commands left without ids are dropped."""
        entries = []
        for command, ids in self.entries:
            kept = tuple(i for i in ids if i != server_id)
            if kept:
                entries.append((command, kept))
        return Acl(tuple(entries)) if entries else None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Acl) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"Acl({self.text!r})"


def check_server_id(server_id: str) -> str:
    """A grantee id: non-empty, printable, no whitespace and none of ``= & * +``."""
    if (
        not server_id
        or not server_id.isprintable()
        or any(ch.isspace() or ch in _FORBIDDEN_IN_ID for ch in server_id)
    ):
        raise TreeError("bad_server_id", detail=repr(server_id), status=400)
    return server_id


def parse_acl(text: str) -> Acl | None:
    """Parse an ACL string; ``""`` gives None (inherit). A malformed ACL raises
    ``TreeError`` (reason ``bad_acl``, status 400). Repeated commands are merged."""
    if not isinstance(text, str):
        raise TreeError("bad_acl", detail="not a string", status=400)
    if text == "":
        return None
    merged: dict[str, list[str]] = {}
    for entry in text.split("&"):
        command, sep, ids_text = entry.partition("=")
        if not sep or command not in COMMANDS or not ids_text:
            raise TreeError("bad_acl", detail=repr(entry), status=400)
        ids = merged.setdefault(command, [])
        for server_id in ids_text.split("+"):
            if server_id != "*":
                try:
                    check_server_id(server_id)
                except TreeError:
                    raise TreeError("bad_acl", detail=repr(entry), status=400) from None
            if server_id not in ids:
                ids.append(server_id)
    entries = tuple(
        (command, ("*",) if "*" in merged[command] else tuple(merged[command]))
        for command in COMMANDS
        if command in merged
    )
    return Acl(entries)


def format_acl(acl: Acl | None) -> str:
    """The canonical text; ``""`` for the empty ACL."""
    return "" if acl is None else acl.text


__all__ = ["COMMANDS", "Acl", "check_server_id", "format_acl", "parse_acl"]
