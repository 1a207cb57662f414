"""omadm_codec: the OMA Device Management (SyncML DM 1.1/1.2/1.3) protocol core.

The facade: the WBXML codec (``xml_to_wbxml``, ``wbxml_to_xml``), typed messages (``decode``,
``encode``, ``encoded_size``, ``command_size``), per-call ``Limits`` and every public error
class. The layers below hold the rest: ``omadm_codec.messages.model`` (the message classes),
``omadm_codec.tree``, ``omadm_codec.security``, ``omadm_codec.session``, ``omadm_codec.http``.

``BACKEND`` is ``"cython"`` when the compiled twins are in use, ``"python"`` otherwise.
"""

from __future__ import annotations

from ._backend import BACKEND
from .errors import (
    AlreadyExists,
    AuthenticationError,
    DecodeError,
    EncodeError,
    ForeignMessage,
    InvalidValue,
    LocalProtocolError,
    NodeNotFound,
    NotAllowed,
    NotSupported,
    OmaDmError,
    PermissionDenied,
    RemoteProtocolError,
    SnapshotError,
    TreeAddressError,
    TreeError,
    ValueTooLarge,
    WBXMLParseError,
)
from .limits import Limits
from .messages import (
    command_size,
    decode,
    decode_commands,
    encode,
    encode_commands,
    encoded_size,
)
from .wbxml import wbxml_to_xml, xml_to_wbxml

__version__ = "0.1.0"
__all__ = [
    "BACKEND",
    "AlreadyExists",
    "AuthenticationError",
    "DecodeError",
    "EncodeError",
    "ForeignMessage",
    "InvalidValue",
    "Limits",
    "LocalProtocolError",
    "NodeNotFound",
    "NotAllowed",
    "NotSupported",
    "OmaDmError",
    "PermissionDenied",
    "RemoteProtocolError",
    "SnapshotError",
    "TreeAddressError",
    "TreeError",
    "ValueTooLarge",
    "WBXMLParseError",
    "command_size",
    "decode",
    "decode_commands",
    "encode",
    "encode_commands",
    "encoded_size",
    "wbxml_to_xml",
    "xml_to_wbxml",
]
