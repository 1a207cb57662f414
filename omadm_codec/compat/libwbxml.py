"""libwbxml 0.11.8's two conversions with its options, as its ``wbxml_conv_*`` API and its
``xml2wbxml`` / ``wbxml2xml`` tools give them: the engine behind ``compat.wbxml`` (python-wbxml)
and ``omadm-codec xml2wbxml`` / ``wbxml2xml``.

``xml_to_wbxml`` gives libwbxml's bytes for every option: WBXML version 1.0-1.3 (an unknown
version is 1.3, as libwbxml ignores it), string table on (libwbxml's own table, rebuilt by
``_reencode``) or off (our encoder's bytes, already libwbxml's), keep whitespace, anonymous
(no public id). ``wbxml_to_xml`` gives libwbxml's text for compact, indent (any width) and
canonical generation, keep whitespace, a forced language and a charset for WBXML 1.0 (our
decoder's output laid out again by ``_xmlgen``).

Where libwbxml's output is not well-formed XML, or loses data, we keep ours, on purpose:

* binary OPAQUE (bytes that are not UTF-8 text) is base64 on an element marked
  ``wbxml:opaque="base64"`` (libwbxml writes the raw bytes: control characters, NUL, invalid
  UTF-8), and ``xml_to_wbxml`` turns the marker back into the same OPAQUE;
* ``]]>`` inside a CDATA section is split (libwbxml writes it raw, ending the section), and
  several OPAQUE tokens in one opaque-class ``Data`` make one section (libwbxml nests them);
* unknown tokens, EXT tokens, undecodable text are errors (libwbxml writes ``<unknown>`` or the
  raw bytes); limits (``omadm_codec.Limits``) apply; DOCTYPE internal subsets and entity
  declarations are refused (libwbxml expands them);
* only the SyncML DM languages are known (SyncML 1.0-1.2, DevInf 1.0-1.2, MetInf, DM DDF 1.2,
  PROV 1.0): forcing WML, SI, CSP, ActiveSync... is an error;
* charsets: Debian's libwbxml has no iconv, so a WBXML document in ISO-8859-1 or UTF-16 fails
  there (its error 30); we convert them, and fail as it does for the other charsets.
"""

from __future__ import annotations

from ..errors import DecodeError, EncodeError
from ..limits import DEFAULT_LIMITS, Limits
from ..wbxml import codepages
from ..wbxml import wbxml_to_xml as _wbxml_to_xml
from ..wbxml import xml_to_wbxml as _xml_to_wbxml
from ..wbxml._encode_rules import mb_u_int32, prepare_input
from ._reencode import rewrite
from ._xmlgen import relayout

VERSIONS = {"1.0": 0, "1.1": 1, "1.2": 2, "1.3": 3}
"""WBXML versions by libwbxml's names; any other string is WBXML_VERSION_UNKNOWN (1.3)."""
GEN_TYPES = ("compact", "indent", "canonical")
"""python-wbxml's generation types (wbxml2xml ``-m 0/1/2``); any other is indent."""
LANGUAGES = ("WML10", "WML11", "WML12", "WML13", "WTA10", "WTAWML12", "CHANNEL11",
             "CHANNEL12", "SI10", "SL10", "CO10", "PROV10", "EMN10", "DRMREL10", "OTA",
             "SYNCML10", "DEVINF10", "SYNCML11", "DEVINF11", "METINF11", "SYNCML12",
             "DEVINF12", "METINF12", "DMDDF12", "CSP11", "CSP12", "AIRSYNC", "ACTIVESYNC",
             "CONML")
"""Every language name libwbxml (and python-wbxml, wbxml2xml ``-l``) knows; another name is
WBXML_LANG_UNKNOWN, which forces nothing."""
CHARSETS = {"ASCII": 3, "ISO-8859-1": 4, "ISO-8859-2": 5, "ISO-8859-3": 6, "ISO-8859-4": 7,
            "ISO-8859-5": 8, "ISO-8859-6": 9, "ISO-8859-7": 10, "ISO-8859-8": 11,
            "ISO-8859-9": 12, "ISO-10646-UCS-2": 1000, "SHIFT_JIS": 17, "BIG5": 2026,
            "UTF-8": 106, "UTF-16": 1015}
"""libwbxml's charset names -> IANA MIBenum; another name is unknown and sets nothing."""

_OURS = {lang.name: lang for lang in codepages.LANGUAGES}


def xml_to_wbxml(xml: bytes | str, *, version: str = "1.3", keep_whitespace: bool = False,
                 string_table: bool = True, anonymous: bool = False,
                 limits: Limits | None = None) -> bytes:
    """libwbxml's WBXML for ``xml`` (``wbxml_conv_xml2wbxml_run``; the defaults are the
    ``xml2wbxml`` tool's: string table on). Raises ``EncodeError``."""
    limits = DEFAULT_LIMITS if limits is None else limits
    number = VERSIONS.get(version, 3)
    ours = _xml_to_wbxml(xml, wbxml_version="1.3" if number in (0, 3) else version,
                         string_table=string_table, keep_whitespace=keep_whitespace,
                         limits=limits)
    if not string_table and number and not anonymous:
        return bytes(ours)
    data, _ = prepare_input(xml, limits)  # the UTF-8 bytes our encoder read
    return rewrite(bytes(ours), data, version=number, string_table=string_table,
                   anonymous=anonymous, keep=keep_whitespace, limits=limits)


def wbxml_to_xml(wbxml: bytes, *, generation: str = "indent", indent: int = 0,
                 keep_whitespace: bool = False, language: str | None = None,
                 charset: str | None = None, limits: Limits | None = None) -> bytes:
    """libwbxml's XML for ``wbxml`` (``wbxml_conv_wbxml2xml_run``; the defaults are the
    ``wbxml2xml`` tool's: indent mode, width 0, as 0.11.8 really runs). Raises
    ``DecodeError``."""
    limits = DEFAULT_LIMITS if limits is None else limits
    data = bytes(wbxml)
    if language is not None or charset is not None:
        data = _retarget(data, language, charset)
    compact = bytes(_wbxml_to_xml(data, limits=limits))
    mode = generation if generation in GEN_TYPES else "indent"
    return relayout(compact, mode=mode, delta=indent % 256, keep=keep_whitespace,
                    lang=_language_of(compact))


def _language_of(xml: bytes) -> str:
    start = xml.find(b'PUBLIC "') + 8
    fpi = xml[start:xml.find(b'"', start)].decode("latin-1").lower()
    lang = codepages.BY_FPI.get(fpi) or codepages.FPI_ALIASES.get(fpi)
    return lang.name if lang is not None else ""


def _mb(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for _ in range(5):
        if pos >= len(data):
            raise DecodeError("truncated", pos)
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos
    raise DecodeError("mb_u_int32_overflow", pos - 5)


def _retarget(data: bytes, language: str | None, charset: str | None) -> bytes:
    """The document with its header saying ``language`` (libwbxml's forced language wins over
    the public id) and, for WBXML 1.0 (no charset field), ``charset``."""
    if not data:
        return data
    version = data[0]
    public_id, pos = _mb(data, 1)
    index = -1
    if public_id == 0:
        index, pos = _mb(data, pos)
    mib = 0
    if version > 0:
        mib, pos = _mb(data, pos)
    length, pos = _mb(data, pos)
    table = data[pos:pos + length]
    body = data[pos + length:]
    if language in LANGUAGES:
        lang = _OURS.get(language)
        if lang is None:
            raise DecodeError("unsupported_language", -1,
                              f"{language} is not a SyncML DM language (omadm_codec knows "
                              f"{', '.join(sorted(_OURS))})")
        if lang.public_id:
            public_id, index = lang.public_id, -1
        else:
            public_id, index = 0, len(table)
            table += lang.fpi.encode("ascii") + b"\x00"
    if version == 0 and charset in CHARSETS:
        mib = CHARSETS[charset]
        if mib not in codepages.CHARSETS:
            raise DecodeError("bad_charset", -1, f"no converter for {charset} (as libwbxml "
                                                 "built without iconv)")
        version = 1  # the same document with the charset field WBXML 1.1 added
    head = bytes((version,)) + mb_u_int32(public_id)
    if public_id == 0:
        head += mb_u_int32(index)
    if version > 0:
        head += mb_u_int32(mib)
    return head + mb_u_int32(len(table)) + table + body


# -- libwbxml's error numbers and words ------------------------------------------------------

_DECODE_CODES = {"truncated": 45, "unknown_public_id": 64, "unknown_token": 65,
                 "bad_string_table_ref": 48, "mb_u_int32_overflow": 70,
                 "unsupported_extension": 62, "unknown_attribute": 60, "bad_charset": 30,
                 "unsupported_language": 64}
_ENCODE_CODES = {"malformed_xml": 104, "invalid_utf8": 104, "undefined_entity": 104,
                 "forbidden_dtd": 104, "unknown_element": 100, "unknown_attribute": 100,
                 "unknown_language": 101, "bad_base64": 19}
ERROR_TEXT = {12: "Bad Parameter", 19: "Failed to decode Base64",
              30: "No built-in charset converter (Compiled without libiconv)",
              45: "Unexpected End Of WBXML Buffer",
              48: "Invalid String Table Index", 60: "Unknown Attribute",
              62: "Unknown Extension Token", 64: "Unknown Public ID", 65: "Unknown Tag",
              70: "Unvalid MultiByte UINT32",
              100: "String Table generation disabled: can't encode Literal",
              101: "The XML language is unknown.", 104: "Parsing of XML Document Failed"}
"""libwbxml's own words for its error numbers (``wbxml_errors_string``)."""


def error_code(exc: DecodeError | EncodeError, size: int) -> int:
    """The libwbxml error number for one of our errors (0 when libwbxml has none: our limits,
    and the inputs libwbxml accepts and we refuse)."""
    if size == 0:
        return 12  # libwbxml refuses an empty input as a bad parameter
    table = _DECODE_CODES if isinstance(exc, DecodeError) else _ENCODE_CODES
    return table.get(exc.reason, 0)


__all__ = ["CHARSETS", "ERROR_TEXT", "GEN_TYPES", "LANGUAGES", "VERSIONS", "error_code",
           "wbxml_to_xml", "xml_to_wbxml"]
