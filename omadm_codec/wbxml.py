"""XML <-> WBXML conversion for SyncML DM documents (SyncML, MetInf, DevInf, DM DDF) and WAP
provisioning documents (PROV 1.0, with attribute tokens): ``xml_to_wbxml`` and ``wbxml_to_xml``.

This module only re-exports the active twin (see ``omadm_codec._backend``): the compiled
``_wbxml_*_c`` modules or the pure ``_wbxml_*_py`` ones, which have the same API and results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._backend import active

if TYPE_CHECKING:
    from ._wbxml_decode_py import wbxml_to_xml
    from ._wbxml_encode_py import xml_to_wbxml
else:
    wbxml_to_xml = active("wbxml_decode").wbxml_to_xml
    xml_to_wbxml = active("wbxml_encode").xml_to_wbxml

__all__ = ["wbxml_to_xml", "xml_to_wbxml"]
