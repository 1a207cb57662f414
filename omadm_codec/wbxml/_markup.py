"""Foreign XML inside a SyncML ``<Data>``, carried as OPAQUE: what every twin shares.

A Windows CSP payload is markup that no code page knows (``<MsiInstallJob id="...">``,
``<enabled/><data id="..." value="..."/>``, a nested SettingsPack ``<SyncML>``), and what a
DM client does with it is read the Data as a *string*: Windows hands the text to the CSP,
the same text whether it came as raw markup, escaped or in CDATA. So in WBXML such a Data is
written as the markup's UTF-8 text in one OPAQUE (the token libwbxml writes for the CDATA
form Microsoft documents for these payloads), followed by an empty inline string, ``03 00``:
the marker. A WBXML reader concatenates a Data's strings, so the value is unchanged (libwbxml
drops the empty string, and renders the OPAQUE as CDATA under Add/Replace, as text
elsewhere); neither libwbxml nor this package ever writes an empty string otherwise, so the
marker tells this package's decoders that the text was markup: ``wbxml_to_xml`` writes it
back as elements, in a ``<Data>`` marked ``wbxml:opaque="markup"`` (namespace
``urn:omadm-codec:wbxml``, like the base64 marker), and ``xml_to_wbxml`` turns such a marked
Data back into the same OPAQUE and marker. The message decoders read it as an
``XmlDocument``, so a model with markup in Data comes back equal from WBXML.

Only markup that stands on its own is carried so (``check_fragment``): well-formed element
content with at least one element, namespace-well-formed with every prefix declared inside
it, no entity but the predefined ones, within the depth and element budgets left. Validation
is libxml2's (through lxml's hardened parser), so the XML written from it is XML every parser
here reads; results are cached (bounded) because a server sends the same payloads again and
again.
"""

from __future__ import annotations

import threading

from lxml import etree  # type: ignore[import-untyped]

__all__ = ["MARKER", "MARKUP_MARKER", "MARKUP_VALUE", "FragmentLimit", "NotMarkup",
           "check_fragment", "declaration_ok", "is_declaration"]

MARKUP_VALUE = b"markup"
"""The value of the ``wbxml:opaque`` marker attribute on a Data whose content is markup."""
MARKUP_MARKER = b' xmlns:wbxml="urn:omadm-codec:wbxml" wbxml:opaque="markup"'
"""What ``wbxml_to_xml`` adds to such a Data's start tag."""
MARKER = b"\x03\x00"
"""The empty inline string that follows the OPAQUE (UTF-8 and the other 1-byte charsets)."""

_WRAP_OPEN = b"<omadm-codec-fragment>"
_WRAP_CLOSE = b"</omadm-codec-fragment>"
_CACHE: dict[bytes, tuple[int, int] | None] = {}
_CACHE_SIZE = 512
_CACHE_KEY_MAX = 64 * 1024
_local = threading.local()


class NotMarkup(Exception):
    """The bytes are not markup that can stand inside a Data on its own."""


class FragmentLimit(Exception):
    """The markup is deeper or has more elements than the budget left (``.reason``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
            huge_tree=False, recover=False, remove_comments=True, remove_pis=True,
        )
        _local.parser = parser
    return parser


def _measure(fragment: bytes) -> tuple[int, int] | None:
    """(elements, depth) of the markup, or None when it is not markup that stands alone."""
    try:
        root = etree.fromstring(_WRAP_OPEN + fragment + _WRAP_CLOSE, _parser())
    except etree.XMLSyntaxError as exc:
        if "Excessive depth" in str(exc):
            return (0, 1 << 30)  # deeper than libxml2 goes: past any budget
        return None
    except ValueError:
        return None
    elements = deepest = 0
    stack = [(child, 1) for child in root if isinstance(child.tag, str)]
    if not stack:
        return None
    while stack:
        element, depth = stack.pop()
        elements += 1
        if depth > deepest:
            deepest = depth
        stack.extend((child, depth + 1) for child in element if isinstance(child.tag, str))
    return elements, deepest


def check_fragment(fragment: bytes, max_depth: int, max_elements: int) -> int:
    """The number of elements of ``fragment``, markup to stand inside a ``<Data>``.

    ``max_depth`` is the nesting the markup may use below the Data (the limit minus the
    elements open around it), ``max_elements`` the elements the document may still hold.
    Raises ``NotMarkup`` for anything that is not well-formed, self-contained element
    content with an element in it, ``FragmentLimit`` when the markup is good but past a
    budget.
    """
    if fragment in _CACHE:
        found = _CACHE[fragment]
    else:
        found = _measure(fragment)
        if len(fragment) <= _CACHE_KEY_MAX and len(_CACHE) < _CACHE_SIZE:
            _CACHE[fragment] = found
    if found is None:
        raise NotMarkup()
    elements, depth = found
    if depth > max_depth:
        raise FragmentLimit("too_deep")
    if elements > max_elements:
        raise FragmentLimit("too_many_elements")
    return elements


_DECLARATIONS: dict[tuple[bytes, bytes], bool] = {}


def is_declaration(name: bytes) -> bool:
    """``xmlns`` or ``xmlns:p``: a namespace declaration, not an attribute."""
    return name == b"xmlns" or name.startswith(b"xmlns:")


def declaration_ok(name: bytes, value: bytes) -> bool:
    """Whether ``name="value"`` (``xmlns`` or ``xmlns:p``, value unescaped UTF-8) is a
    namespace declaration libxml2 accepts: a URI it parses, not the reserved ones, ``p`` a
    name without a colon. A decoder writes a LITERAL element's declarations only then, so
    what it writes stays XML every parser here reads (bounded cache: documents repeat them)."""
    key = (name, value)
    found = _DECLARATIONS.get(key)
    if found is None:
        prefix = name[6:]
        found = (name == b"xmlns" or (bool(prefix) and b":" not in prefix)) and b"<" not in value
        if found:
            quoted = (value.replace(b"&", b"&amp;").replace(b"<", b"&lt;")
                      .replace(b'"', b"&quot;").replace(b"\t", b"&#9;")
                      .replace(b"\n", b"&#10;").replace(b"\r", b"&#13;"))
            try:
                etree.fromstring(b"<w " + name + b'="' + quoted + b'"/>', _parser())
            except (etree.XMLSyntaxError, ValueError):
                found = False
        if len(name) + len(value) <= 4096 and len(_DECLARATIONS) < _CACHE_SIZE:
            _DECLARATIONS[key] = found
    return found
