"""WBXML for the WAP/OMA provisioning document: a thin wrapper over ``omadm_codec.wbxml``.

The one idea: PROV 1.0 (``-//WAPFORUM//DTD PROV 1.0//EN``, public id 0x0B) is a language of
the shared codec (``codepages.PROV10``, with its attribute code pages), which writes the bytes
libwbxml 0.11.8 writes. This module only adds what a *provisioning* caller wants on top: the
document must be a ``wap-provisioningdoc`` (else ``not_provisioning``), and it must fit the
bootstrap limits (``MAX_SIZE`` bytes, ``MAX_DEPTH`` levels below the root).
"""

from __future__ import annotations

from ..errors import DecodeError, EncodeError
from ..limits import Limits
from . import wbxml_to_xml, xml_to_wbxml
from ._decode_tables import prologue
from .codepages import PROV10

PUBLIC_ID = PROV10.public_id
FPI = PROV10.fpi
DTD_URL = PROV10.dtd
MAX_DEPTH = 16
MAX_SIZE = 64 * 1024

LIMITS = Limits(max_input_size=MAX_SIZE, max_depth=MAX_DEPTH + 1)
"""Shared-codec limits of a provisioning document (the root is level 0 of ``MAX_DEPTH``)."""

_PROLOGUE = prologue(PROV10, None)
_ROOT_TAG = b"<" + PROV10.root.encode()


def prov_xml_to_wbxml(xml: str | bytes) -> bytes:
    """Encode a ``wap-provisioningdoc`` XML document as WBXML 1.3 (UTF-8, no string table)."""
    try:
        wbxml = xml_to_wbxml(xml, limits=LIMITS)
    except EncodeError as exc:
        if exc.reason == "unknown_language":
            raise EncodeError("not_provisioning", exc.offset, exc.detail) from None
        raise
    if wbxml[1:2] != bytes((PUBLIC_ID,)):
        # Another language of the shared codec (a SyncML or DevInf document, say).
        raise EncodeError("not_provisioning", -1)
    return wbxml


def prov_wbxml_to_xml(wbxml: bytes) -> bytes:
    """Decode a provisioning document's WBXML to UTF-8 XML (with the PROV 1.0 DOCTYPE)."""
    data = bytes(wbxml)
    xml = wbxml_to_xml(data, limits=LIMITS)
    # The shared decoder accepts every language it knows and any root element.
    if not xml.startswith(_PROLOGUE):
        raise DecodeError("not_provisioning", 1)
    root = xml[len(_PROLOGUE):len(_PROLOGUE) + len(_ROOT_TAG) + 1]
    if root[:-1] != _ROOT_TAG or root[-1:] not in (b">", b"/", b" "):
        raise DecodeError("not_provisioning", _body_offset(data))
    return xml


def _body_offset(data: bytes) -> int:
    """Where the body starts in a header the shared decoder has already accepted."""
    pos = 1

    def mb() -> int:
        nonlocal pos
        value = 0
        while data[pos] & 0x80:
            value = (value << 7) | (data[pos] & 0x7F)
            pos += 1
        value = (value << 7) | data[pos]
        pos += 1
        return value

    if mb() == 0:
        mb()
    if data[0] != 0:
        mb()
    table_len = mb()
    return pos + table_len
