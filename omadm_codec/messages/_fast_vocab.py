"""What both message-codec twins share: the vocabulary as bytes (element names, content-model
ranks) and the small value checks, taken from ``messages._schema`` so that the fast path and
the reference reader agree by construction.

The one idea: data and one-line predicates only; each twin keeps its own walking code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ._guard import _LONG_TAG, MAX_TAG
from ._lxml import escape_text
from ._schema import (
    BAD_ID,
    ID_MAX,
    METINF_NAMES,
    METINF_NS,
    ORDER_ALERT,
    ORDER_CONTAINER,
    ORDER_CRED,
    ORDER_EXEC,
    ORDER_HDR,
    ORDER_ITEM,
    ORDER_ITEM_COMMAND,
    ORDER_LOC,
    ORDER_RESULTS,
    ORDER_STATUS,
    SYNCML_NS,
)
from .model import Add, Copy, Delete, Get, Message, Replace

__all__ = ["COMMAND_RANK", "ITEM_COMMANDS", "MAX_FAST_DEPTH", "MAX_FAST_TEXT", "lexical_ok",
           "name_ok", "doctype_ok", "METINF_NAMES_B", "METINF_NS_B", "NS_VERSION_EXACT",
           "doctype_version", "encode_wbxml", "encode_xml", "escape_text", "good_id",
           "is_number"]


def _b(order: dict[str, int]) -> dict[bytes, int]:
    return {name.encode("ascii"): rank for name, rank in order.items()}


COMMAND_RANK = 99
"""The rank of a name missing from a content model (the commands of Atomic / Sequence)."""
ORDER_HDR_B = _b(ORDER_HDR)
ORDER_LOC_B = _b(ORDER_LOC)
ORDER_CRED_B = _b(ORDER_CRED)
ORDER_ITEM_B = _b(ORDER_ITEM)
ORDER_ITEM_COMMAND_B = _b(ORDER_ITEM_COMMAND)
ORDER_ALERT_B = _b(ORDER_ALERT)
ORDER_EXEC_B = _b(ORDER_EXEC)
ORDER_STATUS_B = _b(ORDER_STATUS)
ORDER_RESULTS_B = _b(ORDER_RESULTS)
ORDER_CONTAINER_B = _b(ORDER_CONTAINER)
METINF_NS_B = METINF_NS.encode("ascii")
METINF_NAMES_B = frozenset(name.encode("ascii") for name in METINF_NAMES)
NS_VERSION_EXACT = {ns.encode("ascii"): version for version, ns in SYNCML_NS.items()}
"""Root namespace -> VerDTD, exact spelling only (another case is the quirk
``namespace_case``)."""
ITEM_COMMANDS = {cls.ELEMENT.encode("ascii"): cls for cls in (Add, Copy, Delete, Get, Replace)}
_DOCTYPE_VERSION = re.compile(r"SyncML ([0-9]\.[0-9])", re.I)


_DECL = re.compile(rb"""<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(["'])1\.[01]\1"""
                   rb"""(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(["'])[Uu][Tt][Ff]-8\2)?"""
                   rb"""(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(["'])(?:yes|no)\3)?"""
                   rb"""[ \t\r\n]*\?>""")
_PI_TARGET = re.compile(rb"<\?([A-Za-z_][A-Za-z0-9_.-]*)(?:[ \t\r\n]|\?>)")
_PUBID = re.compile(rb"[a-zA-Z0-9 \r\n\-'()+,./:=?;!*#@$_%]*")
NS_URI = rb"(?:[A-Za-z][A-Za-z0-9+.-]*:[A-Za-z0-9._~:/-]*)?"
"""The namespace URIs the fast path takes (libxml2 rejects some URIs, e.g. with a space): a
scheme and unreserved characters, or empty. The compiled twin checks the same set in C."""
MAX_FAST_TEXT = 10_000_000
"""libxml2's node limit without huge_tree (XML_MAX_TEXT_LENGTH): a text node (adjacent text
coalesced, across entities and dropped comments / PIs), a CDATA section, a comment or a PI
that long makes lxml refuse the document, so the fast path must not vouch for it. Each twin's
builder counts the text and CDATA bytes between two tags (a run at least as long as any node
libxml2 would make of them) and gives up at this many; ``lexical_ok`` measures comments and
PIs. The input as a whole has no such limit: a long message of ordinary nodes stays fast."""
MAX_FAST_DEPTH = 255
"""libxml2's depth limit (without huge_tree) is 256."""


def lexical_ok(data: bytes) -> bool:
    """What libxml2 checks and the shared scanner does not (so the fast path must not vouch
    for it): the XML declaration's exact form (version 1.0/1.1, UTF-8 only), ``--`` inside a
    comment, the target of a processing instruction. Conservative: a false ``False`` only
    sends the message to the reference path."""
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    after = start
    if data.startswith(b"<?xml", start):
        decl = _DECL.match(data, start)
        if decl is None:
            return False
        after = decl.end()
    pos = data.find(b"<!--", after)
    while pos >= 0:
        close = data.find(b"-->", pos + 4)
        if close < 0 or data.find(b"--", pos + 4, close) >= 0 or data[close - 1] == 0x2D \
                or close - pos >= MAX_FAST_TEXT:
            return False
        pos = data.find(b"<!--", close + 3)
    pos = data.find(b"<?", after)
    while pos >= 0:
        target = _PI_TARGET.match(data, pos)
        close = data.find(b"?>", pos + 2)
        if target is None or target.group(1).lower() == b"xml" or close < 0 \
                or data.find(b"&", pos, close) >= 0 \
                or close - pos >= MAX_FAST_TEXT:  # the guard escapes '&' in a PI too
            return False
        pos = data.find(b"<?", close + 2)
    # The guard refuses a start tag over MAX_TAG bytes (also one inside CDATA or a comment).
    return len(data) <= MAX_TAG or _LONG_TAG.search(data) is None


def doctype_ok(fpi: bytes | None, sysid: bytes | None) -> bool:
    """Only PubidChar in a DOCTYPE public id (libxml2 rejects the others), no '&' in the
    system id (the guard would escape it: the quirk ``bare_ampersand``)."""
    return ((fpi is None or _PUBID.fullmatch(fpi) is not None)
            and (sysid is None or b"&" not in sysid))


def name_ok(local: bytes) -> bool:
    """An element name the fast path may copy into embedded markup: short ASCII (the
    scanner lets any byte >= 0x80 into a name; libxml2 checks the Unicode name classes)."""
    return len(local) <= 256 and local.isascii()


def good_id(value: str, allow_empty: bool) -> bool:
    """An ID the reference reader accepts (``bad_id`` otherwise)."""
    return ((bool(value) or allow_empty) and len(value) <= ID_MAX
            and BAD_ID.search(value) is None)


def is_number(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= 10


def doctype_version(fpi: bytes) -> str | None:
    """The SyncML version a DOCTYPE public id names (``None`` when it names none)."""
    found = _DOCTYPE_VERSION.search(fpi.decode("latin-1"))
    return found.group(1) if found else None


def encode_xml(msg: Message) -> bytes:
    """Canonical XML of ``msg`` (the reference writer)."""
    from ._writer import write_xml

    return write_xml(msg)


def encode_wbxml(msg: Message, xml_to_wbxml: Callable[..., Any]) -> bytes:
    """WBXML of ``msg``: ``xml_to_wbxml`` (the calling twin's) of the writer's intermediate
    XML, whitespace kept (the bytes ``messages.encode(msg, "wbxml")`` has always given)."""
    from ._writer import write_xml

    return bytes(xml_to_wbxml(write_xml(msg, for_wbxml=True), keep_whitespace=True))
