"""The WBXML layer: XML <-> WBXML for SyncML DM documents (SyncML, MetInf, DevInf, DM DDF) and
WAP provisioning documents (PROV 1.0, with attribute tokens): ``xml_to_wbxml``, ``wbxml_to_xml``.

Owns: the code pages as data (``codepages``), the XML byte scanner every XML reader here uses
(twin ``_xmlscan``), the WBXML decoder (twin ``_decode``, with ``_decode_tables`` shared by both
twins), the encoder (twin ``_encode``, with ``_encode_rules``), foreign markup carried in a
SyncML Data as OPAQUE text (``_markup``, shared by both twins), and the PROV wrapper (``prov``).
May import: ``omadm_codec.errors``, ``limits``, ``_backend`` only.

This package re-exports the active twins (see ``omadm_codec._backend``): the compiled
``_decode_c`` / ``_encode_c`` or the pure ``_decode_py`` / ``_encode_py``, same API and results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._backend import active

if TYPE_CHECKING:
    from ._decode_py import wbxml_to_xml
    from ._encode_py import xml_to_wbxml
else:
    wbxml_to_xml = active("wbxml._decode").wbxml_to_xml
    xml_to_wbxml = active("wbxml._encode").xml_to_wbxml

__all__ = ["wbxml_to_xml", "xml_to_wbxml"]
