"""The pure-Python twin's model -> WBXML writer.

Contract: the bytes of ``xml_to_wbxml(write_xml(msg, for_wbxml=True), keep_whitespace=True)``,
the same as the compiled twin's ``_ext/msgcodec_wbxml.pxi``.
"""

from __future__ import annotations

from ._msgcodec_share import encode_wbxml as _share_encode_wbxml
from ._wbxml_encode_py import xml_to_wbxml
from .model import Message

__all__ = ["encode_wbxml"]


def encode_wbxml(msg: Message) -> bytes:
    """WBXML of ``msg`` (the writer's XML through this twin's ``xml_to_wbxml``)."""
    return _share_encode_wbxml(msg, xml_to_wbxml)
