"""libwbxml 0.11.x (Debian ``libwbxml2-1``) through ctypes: the peer we match and benchmark against.

Used by the interop tests and the benchmarks only; the package never loads it.
``available()`` says whether the shared library could be loaded; callers skip with ``REASON``
otherwise.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_lib: ctypes.CDLL | None = None
REASON = ""
for _name in ("libwbxml2.so.1", "libwbxml2.so", ctypes.util.find_library("wbxml2") or ""):
    if not _name:
        continue
    try:
        _lib = ctypes.CDLL(_name)
        break
    except OSError as exc:  # pragma: no cover - depends on the machine
        REASON = f"libwbxml not loadable: {exc}"
else:  # pragma: no cover
    REASON = REASON or "libwbxml2 not installed (apt-get install libwbxml2-1)"

_P = ctypes.c_void_p
_UBYTE_P = ctypes.POINTER(ctypes.c_ubyte)

if _lib is not None:
    for fname, args in {
        "wbxml_conv_xml2wbxml_create": [ctypes.POINTER(_P)],
        "wbxml_conv_xml2wbxml_set_version": [_P, ctypes.c_int],
        "wbxml_conv_xml2wbxml_disable_string_table": [_P],
        "wbxml_conv_xml2wbxml_enable_preserve_whitespaces": [_P],
        "wbxml_conv_xml2wbxml_disable_public_id": [_P],
        "wbxml_conv_wbxml2xml_set_language": [_P, ctypes.c_int],
        "wbxml_conv_wbxml2xml_set_charset": [_P, ctypes.c_int],
        "wbxml_conv_xml2wbxml_run": [_P, ctypes.c_char_p, ctypes.c_uint,
                                     ctypes.POINTER(_UBYTE_P), ctypes.POINTER(ctypes.c_uint)],
        "wbxml_conv_xml2wbxml_destroy": [_P],
        "wbxml_conv_wbxml2xml_create": [ctypes.POINTER(_P)],
        "wbxml_conv_wbxml2xml_set_gen_type": [_P, ctypes.c_int],
        "wbxml_conv_wbxml2xml_set_indent": [_P, ctypes.c_ubyte],
        "wbxml_conv_wbxml2xml_enable_preserve_whitespaces": [_P],
        "wbxml_conv_wbxml2xml_run": [_P, ctypes.c_char_p, ctypes.c_uint,
                                     ctypes.POINTER(_UBYTE_P), ctypes.POINTER(ctypes.c_uint)],
        "wbxml_conv_wbxml2xml_destroy": [_P],
        "wbxml_free": [_P],
        "wbxml_errors_string": [ctypes.c_int],
    }.items():
        func = getattr(_lib, fname)
        func.argtypes = args
        func.restype = ctypes.c_int
    for _void in ("wbxml_conv_xml2wbxml_destroy", "wbxml_conv_xml2wbxml_set_version",
                  "wbxml_conv_xml2wbxml_disable_string_table",
                  "wbxml_conv_xml2wbxml_enable_preserve_whitespaces",
                  "wbxml_conv_xml2wbxml_disable_public_id", "wbxml_conv_wbxml2xml_set_gen_type",
                  "wbxml_conv_wbxml2xml_set_indent", "wbxml_conv_wbxml2xml_set_language",
                  "wbxml_conv_wbxml2xml_set_charset",
                  "wbxml_conv_wbxml2xml_enable_preserve_whitespaces"):
        getattr(_lib, _void).restype = None
    _lib.wbxml_conv_xml2wbxml_destroy.restype = None
    _lib.wbxml_conv_wbxml2xml_destroy.restype = None
    _lib.wbxml_free.restype = None
    _lib.wbxml_errors_string.restype = ctypes.c_char_p

_VERSIONS = {"1.0": 0, "1.1": 1, "1.2": 2, "1.3": 3}
GEN_TYPES = {"compact": 0, "indent": 1, "canonical": 2}
"""libwbxml's WBXMLGenXMLType values (python-wbxml's names; anything else is indent)."""
LANGUAGES = {"WML10": 1101, "WML11": 1102, "WML12": 1103, "WML13": 1104, "WTA10": 1201,
             "WTAWML12": 1202, "CHANNEL11": 1203, "CHANNEL12": 1204, "SI10": 1301,
             "SL10": 1401, "CO10": 1501, "PROV10": 1601, "EMN10": 1701, "DRMREL10": 1801,
             "OTA": 1901, "SYNCML10": 2001, "DEVINF10": 2002, "SYNCML11": 2101,
             "DEVINF11": 2102, "METINF11": 2103, "SYNCML12": 2201, "DEVINF12": 2202,
             "METINF12": 2203, "DMDDF12": 2204, "CSP11": 2301, "CSP12": 2302,
             "AIRSYNC": 2401, "ACTIVESYNC": 2402, "CONML": 2501}
"""python-wbxml's / wbxml2xml's language names -> WBXMLLanguage (unknown: 0)."""
CHARSETS = {"ASCII": 3, "ISO-8859-1": 4, "ISO-8859-2": 5, "ISO-8859-3": 6, "ISO-8859-4": 7,
            "ISO-8859-5": 8, "ISO-8859-6": 9, "ISO-8859-7": 10, "ISO-8859-8": 11,
            "ISO-8859-9": 12, "ISO-10646-UCS-2": 1000, "SHIFT_JIS": 17, "BIG5": 2026,
            "UTF-8": 106, "UTF-16": 1015}
"""python-wbxml's / wbxml2xml's charset names -> MIBenum (unknown: 0)."""


class LibwbxmlError(Exception):
    """libwbxml returned an error code."""

    def __init__(self, code: int) -> None:
        assert _lib is not None
        self.code = code
        super().__init__(f"libwbxml error {code}: {_lib.wbxml_errors_string(code).decode()}")


def available() -> bool:
    return _lib is not None


def _take(out: _UBYTE_P, out_len: ctypes.c_uint) -> bytes:
    assert _lib is not None
    data = ctypes.string_at(out, out_len.value)
    _lib.wbxml_free(ctypes.cast(out, _P))
    return data


def error_string(code: int) -> str:
    """libwbxml's own words for an error code (``wbxml_errors_string``)."""
    assert _lib is not None, REASON
    return bytes(_lib.wbxml_errors_string(code)).decode()


def xml_to_wbxml(xml: bytes, *, version: str = "1.3", string_table: bool = False,
                 keep_whitespace: bool = False, public_id: bool = True) -> bytes:
    """``wbxml_conv_xml2wbxml_run`` with the corpus settings by default; ``version`` may be any
    string (one libwbxml does not know is WBXML_VERSION_UNKNOWN, as python-wbxml passes it);
    ``public_id=False`` is libwbxml's anonymous mode (``xml2wbxml -a``)."""
    assert _lib is not None, REASON
    conv = _P()
    _lib.wbxml_conv_xml2wbxml_create(ctypes.byref(conv))
    try:
        _lib.wbxml_conv_xml2wbxml_set_version(conv, _VERSIONS.get(version, -1))
        if not string_table:
            _lib.wbxml_conv_xml2wbxml_disable_string_table(conv)
        if keep_whitespace:
            _lib.wbxml_conv_xml2wbxml_enable_preserve_whitespaces(conv)
        if not public_id:
            _lib.wbxml_conv_xml2wbxml_disable_public_id(conv)
        out, out_len = _UBYTE_P(), ctypes.c_uint()
        rc = _lib.wbxml_conv_xml2wbxml_run(conv, xml, len(xml), ctypes.byref(out),
                                          ctypes.byref(out_len))
        if rc != 0:
            raise LibwbxmlError(rc)
        return _take(out, out_len)
    finally:
        _lib.wbxml_conv_xml2wbxml_destroy(conv)


def wbxml_to_xml(wbxml: bytes, *, indent: int | None = None, keep_whitespace: bool = False,
                 gen_type: str | None = None, language: str | None = None,
                 charset: str | None = None) -> bytes:
    """``wbxml_conv_wbxml2xml_run``: compact mode (or indent mode when ``indent`` is given), or
    ``gen_type`` (``compact``, ``indent``, ``canonical``) with ``indent`` as the width;
    ``language`` / ``charset`` by python-wbxml's names."""
    assert _lib is not None, REASON
    conv = _P()
    _lib.wbxml_conv_wbxml2xml_create(ctypes.byref(conv))
    try:
        if gen_type is None:
            gen_type = "compact" if indent is None else "indent"
        _lib.wbxml_conv_wbxml2xml_set_gen_type(conv, GEN_TYPES.get(gen_type, 1))
        if indent is not None:
            _lib.wbxml_conv_wbxml2xml_set_indent(conv, indent)
        if keep_whitespace:
            _lib.wbxml_conv_wbxml2xml_enable_preserve_whitespaces(conv)
        if language is not None:
            _lib.wbxml_conv_wbxml2xml_set_language(conv, LANGUAGES.get(language, 0))
        if charset is not None:
            _lib.wbxml_conv_wbxml2xml_set_charset(conv, CHARSETS.get(charset, 0))
        out, out_len = _UBYTE_P(), ctypes.c_uint()
        rc = _lib.wbxml_conv_wbxml2xml_run(conv, wbxml, len(wbxml), ctypes.byref(out),
                                          ctypes.byref(out_len))
        if rc != 0:
            raise LibwbxmlError(rc)
        return _take(out, out_len)
    finally:
        _lib.wbxml_conv_wbxml2xml_destroy(conv)
