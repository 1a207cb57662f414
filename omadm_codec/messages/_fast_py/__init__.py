"""The pure-Python twin of the message fast path (compiled twin: ``messages._fast_c``).

Its parts mirror the compiled twin's: ``build`` (XML scanner or WBXML token events -> model),
``wbxml_events`` (WBXML tokens as scanner events) and ``wbxml_writer`` (model -> WBXML
tokens); the XML writer is the reference one (``messages._writer``).
"""

from __future__ import annotations

from .build import (
    decode_bytes,
    decode_wbxml,
    decode_wbxml_tokens,
    decode_wbxml_via_xml,
    decode_xml,
    encode_wbxml,
    encode_xml,
)
from .wbxml_writer import encode_wbxml_tokens

__all__ = ["decode_bytes", "decode_wbxml", "decode_wbxml_tokens", "decode_wbxml_via_xml",
           "decode_xml", "encode_wbxml", "encode_wbxml_tokens", "encode_xml"]
