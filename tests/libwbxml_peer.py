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
    _lib.wbxml_conv_xml2wbxml_destroy.restype = None
    _lib.wbxml_conv_wbxml2xml_destroy.restype = None
    _lib.wbxml_free.restype = None
    _lib.wbxml_errors_string.restype = ctypes.c_char_p

_VERSIONS = {"1.0": 0, "1.1": 1, "1.2": 2, "1.3": 3}


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


def xml_to_wbxml(xml: bytes, *, version: str = "1.3", string_table: bool = False,
                 keep_whitespace: bool = False) -> bytes:
    """``wbxml_conv_xml2wbxml_run`` with the corpus settings by default."""
    assert _lib is not None, REASON
    conv = _P()
    _lib.wbxml_conv_xml2wbxml_create(ctypes.byref(conv))
    try:
        _lib.wbxml_conv_xml2wbxml_set_version(conv, _VERSIONS[version])
        if not string_table:
            _lib.wbxml_conv_xml2wbxml_disable_string_table(conv)
        if keep_whitespace:
            _lib.wbxml_conv_xml2wbxml_enable_preserve_whitespaces(conv)
        out, out_len = _UBYTE_P(), ctypes.c_uint()
        rc = _lib.wbxml_conv_xml2wbxml_run(conv, xml, len(xml), ctypes.byref(out),
                                          ctypes.byref(out_len))
        if rc != 0:
            raise LibwbxmlError(rc)
        return _take(out, out_len)
    finally:
        _lib.wbxml_conv_xml2wbxml_destroy(conv)


def wbxml_to_xml(wbxml: bytes, *, indent: int | None = None,
                 keep_whitespace: bool = False) -> bytes:
    """``wbxml_conv_wbxml2xml_run`` in compact mode (or indent mode when ``indent`` is given)."""
    assert _lib is not None, REASON
    conv = _P()
    _lib.wbxml_conv_wbxml2xml_create(ctypes.byref(conv))
    try:
        if indent is None:
            _lib.wbxml_conv_wbxml2xml_set_gen_type(conv, 0)
        else:
            _lib.wbxml_conv_wbxml2xml_set_gen_type(conv, 1)
            _lib.wbxml_conv_wbxml2xml_set_indent(conv, indent)
        if keep_whitespace:
            _lib.wbxml_conv_wbxml2xml_enable_preserve_whitespaces(conv)
        out, out_len = _UBYTE_P(), ctypes.c_uint()
        rc = _lib.wbxml_conv_wbxml2xml_run(conv, wbxml, len(wbxml), ctypes.byref(out),
                                          ctypes.byref(out_len))
        if rc != 0:
            raise LibwbxmlError(rc)
        return _take(out, out_len)
    finally:
        _lib.wbxml_conv_wbxml2xml_destroy(conv)
