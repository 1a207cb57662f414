"""What both twins' model -> WBXML token writers share: token tables, the Data class rule,
the nested-document splice, and the bounds past which only the reference path is exact.

The contract of ``encode_wbxml(msg)`` is the bytes (or the ``EncodeError``) of the reference
path, ``xml_to_wbxml(write_xml(msg, for_wbxml=True), keep_whitespace=True)``. The one idea:
the token writers produce those bytes straight from the model for everything the writer
emits itself, and raise ``Fallback`` for what they do not reproduce token by token: raw XML
a model carries (``MetaExtra``, DS commands, an embedded document other than one DevInf /
MgmtTree root in its namespace under SyncML 1.2), an element the version's code pages lack
(e.g. FieldLevel, Correlator under SyncML 1.1), an ID holding U+FFFE / U+FFFF (the
scanner's refusal), Atomic / Sequence nested near the scanner's depth limit, a message
whose XML might pass ``max_input_size`` / ``max_elements``. ``Fallback`` sends the whole
message down the reference path, so the answer is the reference's by construction; the
twins also take that path for a model the reference writer itself crashes on (any
exception but ``EncodeError``), so that it crashes alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..errors import EncodeError
from ..limits import DEFAULT_LIMITS, Limits
from ..wbxml import _encode_rules as common
from ..wbxml._markup import FragmentLimit, NotMarkup, check_fragment
from ._fast_vocab import encode_wbxml as _reference_encode_wbxml
from ._schema import METINF_NS, NESTED_NS, NESTED_ROOT, SYNCML_NS, nested_root
from ._writer import _OPAQUE_OPEN
from .model import Message

__all__ = ["CLS_CLEAR", "CLS_PLAIN", "CLS_VOBJECT", "ELEMENTS", "Fallback", "MAX_CONTAINER_DEPTH",
           "TABLES", "TYPE_CLASS", "VersionTable", "embedded_data", "nested_document",
           "over_limits", "reference_encode_wbxml"]

CLS_PLAIN = common.CLS_PLAIN
CLS_CLEAR = common.CLS_CLEAR
CLS_VOBJECT = common.CLS_VOBJECT


class Fallback(Exception):
    """The token writer met a part only the reference path reproduces exactly."""


def reference_encode_wbxml(msg: Message, xml_to_wbxml: Callable[..., Any]) -> bytes:
    """The contract: the writer's XML through ``xml_to_wbxml``, whitespace kept."""
    return _reference_encode_wbxml(msg, xml_to_wbxml)


# -- token tables ---------------------------------------------------------------------------
SYNCML_ELEMENTS = (
    "SyncML", "SyncHdr", "VerDTD", "VerProto", "SessionID", "MsgID", "Target", "Source",
    "LocURI", "LocName", "RespURI", "NoResp", "Cred", "Meta", "Data", "SyncBody", "Final",
    "Item", "SourceParent", "TargetParent", "MoreData", "CmdID", "Add", "Copy", "Delete", "Get",
    "Replace", "Status", "MsgRef", "CmdRef", "Cmd", "TargetRef", "SourceRef", "Chal", "Alert",
    "Correlator", "Results", "Exec", "Atomic", "Sequence",
)
"""The SyncML (page 0 namespace) elements ``messages._writer`` writes."""
METINF_ELEMENTS = (
    "FieldLevel", "Format", "Type", "Mark", "Size", "Anchor", "Last", "Next", "Version",
    "NextNonce", "MaxMsgSize", "MaxObjSize", "EMI", "Mem", "SharedMem", "FreeMem", "FreeID",
)
"""The MetInf elements it writes (``xmlns="syncml:metinf"`` on them or on their parent)."""
ELEMENTS = SYNCML_ELEMENTS + METINF_ELEMENTS
"""Every element name, in the order of the compiled twin's element ids."""


class VersionTable:
    """One VerDTD's WBXML: the header bytes and each element's ``(page, token)`` as the
    encoder's lookup finds it (``None``: the code pages lack it, the encoder fails)."""

    def __init__(self, ver_dtd: str) -> None:
        namespace = SYNCML_NS[ver_dtd].encode("ascii")
        info = common.select_language(None, None, namespace, b"SyncML", 0)
        self.header = common.header(3, info, b"")
        self.codes: dict[str, tuple[int, int] | None] = {}
        for name in ELEMENTS:
            ns = namespace if name in SYNCML_ELEMENTS else METINF_NS.encode("ascii")
            code = info.lookup(ns, name.encode("ascii"))
            self.codes[name] = None if code < 0 else (code >> 8, code & 0x3F)


TABLES = {ver_dtd: VersionTable(ver_dtd) for ver_dtd in SYNCML_NS}
"""VerDTD -> its table (the writer refuses any other VerDTD)."""


TYPE_CLASS: dict[str, int] = {
    text.decode("utf-8"): common.data_class(text, None)
    for text in (*common._PLAIN_TYPES, b"text/clear", *common._VOBJECT_TYPES)
}
"""Meta Type text -> the Data class it decides; any other text (an empty Type too) and no Type
leave it to the grandparent rule (opaque with LF -> CRLF under Add / Replace, else plain).
The sets of ``wbxml._encode_rules.data_class``, keyed by ``str``."""


# -- bounds ---------------------------------------------------------------------------------
MAX_CONTAINER_DEPTH = DEFAULT_LIMITS.max_depth - 6
"""Deepest Atomic / Sequence nesting with no element past the scanner's depth limit: a command
at depth d has d + 1 open ancestors and its deepest element (Item/Meta/Anchor/Last) four more;
deeper messages take the reference path (its scanner or its writer raises ``too_deep``)."""
_XML_PER_ELEMENT = len(_OPAQUE_OPEN) + len("</Data>") + 4
"""Most XML bytes one element adds beyond its text (the opaque Data's tags, base64 padding)."""
_XML_FIXED = 200
"""The XML declaration and the root's tags, generously."""
_XML_PER_BYTE = 5
"""Most XML bytes per WBXML byte of text (``&amp;`` / ``&#13;`` for one byte)."""


def over_limits(wbxml_len: int, elements: int, raw_len: int, raw_elements: int) -> bool:
    """Whether the intermediate XML might pass ``max_input_size`` or hold more than
    ``max_elements`` elements (the reference then raises ``too_large`` /
    ``too_many_elements``). An upper bound: ``raw_len`` / ``raw_elements`` are the UTF-8
    length of the spliced embedded documents and a bound on their elements."""
    limits = DEFAULT_LIMITS
    xml_bound = (_XML_FIXED + _XML_PER_ELEMENT * elements + _XML_PER_BYTE * wbxml_len + raw_len)
    return xml_bound > limits.max_input_size or elements + raw_elements > limits.max_elements


# -- embedded documents ---------------------------------------------------------------------
_NESTED_ROOT = NESTED_ROOT
_NESTED_NS = NESTED_NS
_NESTED_LIMITS: dict[int, Limits] = {}


def nested_document(xml: str, ver_dtd: str, open_elements: int,
                    xml_to_wbxml: Callable[..., Any],
                    found: re.Match[str] | None = None) -> tuple[bytes, int, int]:
    """(WBXML document, UTF-8 length, a bound on its elements) of ``XmlDocument.xml`` when it is one
    ``MgmtTree`` / ``DevInf`` root in its exact namespace, whose start tag declares only that
    namespace and which ends the string: the encoder writes such a root, met inside
    ``<Data>``, as a nested document, and the same bytes come from encoding it alone. Raises
    ``Fallback`` for every other string (the reference path decides).

    ``open_elements`` is the number of elements open around it (SyncML ... Data): the
    reference's scanner counts depth on from there, so the document alone gets the rest of
    ``max_depth`` and fails (-> ``Fallback``) exactly where the reference would. ``found``:
    ``NESTED_ROOT``'s match of ``xml``, when the caller has it.
    """
    if found is None:
        found = _NESTED_ROOT.match(xml)
    if (found is None or _NESTED_NS[found.group(1)] != found.group(3)
            or not xml.endswith(">") or xml.endswith(("-->", "?>"))):
        raise Fallback("not one nested DevInf / MgmtTree root")
    # The nested language follows the outer SyncML version (MgmtTree: 1.2 only); alone, the
    # document would be read as DevInf 1.2: only SyncML 1.2 gives the same bytes.
    if ver_dtd != "1.2":
        raise Fallback("nested document under SyncML 1.0 / 1.1")
    try:
        data = xml.encode("utf-8")
    except UnicodeEncodeError:
        raise Fallback("lone surrogate") from None
    limits = _NESTED_LIMITS.get(open_elements)
    if limits is None:
        depth = DEFAULT_LIMITS.max_depth - open_elements
        if depth <= 0:
            raise Fallback("too deep")
        limits = Limits(max_depth=depth)
        if len(_NESTED_LIMITS) < 128:
            _NESTED_LIMITS[open_elements] = limits
    try:
        nested = bytes(xml_to_wbxml(data, keep_whitespace=True, limits=limits))
    except EncodeError:
        raise Fallback("the nested document fails") from None
    # Every element takes four bytes at least ("<a/>"): a bound on its element count.
    return nested, len(data), len(data) // 4


def embedded_data(xml: str, ver_dtd: str, open_elements: int,
                  xml_to_wbxml: Callable[..., Any]) -> tuple[bytes, bool, int, int]:
    """What an ``XmlDocument`` in a Data becomes: (OPAQUE payload, followed by the markup
    marker?, UTF-8 length, elements). An embedded TNDS / DevInf root is a nested document
    (``nested_document``); other markup travels as its text, the marker after it, when it
    stands alone within the depth left (``open_elements``: the elements open around its
    first element, the Data included). Raises ``Fallback`` wherever the reference path must
    decide (text without an element, markup the reference refuses, a limit near).
    """
    if "<" not in xml:
        raise Fallback("XmlDocument without an element: written as text")
    found = _NESTED_ROOT.match(xml)
    if found is not None and nested_root(xml, ver_dtd, found):
        nested, size, elements = nested_document(xml, ver_dtd, open_elements, xml_to_wbxml,
                                                 found)
        return nested, False, size, elements
    try:
        data = xml.encode("utf-8")
    except UnicodeEncodeError:
        raise Fallback("lone surrogate") from None
    try:
        elements = check_fragment(data, DEFAULT_LIMITS.max_depth - open_elements,
                                  DEFAULT_LIMITS.max_elements)
    except (NotMarkup, FragmentLimit):
        raise Fallback("markup the reference path refuses") from None
    return data, True, len(data), elements
