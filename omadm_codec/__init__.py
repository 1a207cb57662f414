"""omadm_codec: the OMA Device Management (SyncML DM 1.1/1.2/1.3) protocol core.

``BACKEND`` is ``"cython"`` when the compiled twins are in use, ``"python"`` otherwise.
"""

from __future__ import annotations

from ._backend import BACKEND
from .errors import DecodeError, EncodeError, OmaDmError
from .limits import Limits
from .messages import command_size, decode, encode, encoded_size
from .wbxml import wbxml_to_xml, xml_to_wbxml

__version__ = "0.1.0"
__all__ = [
    "BACKEND",
    "DecodeError",
    "EncodeError",
    "Limits",
    "command_size",
    "decode",
    "encode",
    "encoded_size",
    "OmaDmError",
    "wbxml_to_xml",
    "xml_to_wbxml",
]
