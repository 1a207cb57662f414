"""A drop-in for python-wbxml (``import wbxml``; a Python 2 C extension over libwbxml that no
longer builds): ``from omadm_codec.compat import wbxml``.

The same two functions, with python-wbxml's signatures, defaults and return type (``bytes``,
python-wbxml's ``str``), libwbxml's output for the same arguments (``compat.libwbxml``), and
its exception class, raised with its message: libwbxml's words for the failure, then the
call's context exactly as python-wbxml words it (``execution of `wbxml_conv_wbxml2xml_run`
failed with wbxml_len=N``, the same for both functions). ``WBXMLParseError`` also carries the
codec's ``.reason`` and ``.offset`` and libwbxml's error ``.code``.

Differences, all deliberate (see ``compat.libwbxml`` and docs/migrating.md): ``str`` input is
accepted (encoded as UTF-8; python-wbxml took only byte strings); where libwbxml writes XML
that is not well-formed (binary OPAQUE, ``]]>`` in CDATA) or accepts what the codec refuses
(unknown tokens, entity declarations, input over the limits), the result is the codec's.
"""

from __future__ import annotations

from ..errors import DecodeError, EncodeError, WBXMLParseError
from . import libwbxml

__all__ = ["WBXMLParseError", "wbxml_to_xml", "xml_to_wbxml"]


def _text(value: object, name: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"argument {name} must be str or bytes, not {type(value).__name__}")


def _flag(value: object, name: str) -> bool:
    if isinstance(value, float) or not hasattr(value, "__index__"):
        raise TypeError(f"argument {name} must be an integer, not {type(value).__name__}")
    return bool(value.__index__())


def _failure(exc: DecodeError | EncodeError, size: int) -> WBXMLParseError:
    code = libwbxml.error_code(exc, size)
    words = libwbxml.ERROR_TEXT.get(code) or f"{exc.reason}: {exc}"
    # python-wbxml's context, its wording kept as it is (both functions name the same call).
    return WBXMLParseError(f"{words} (execution of `wbxml_conv_wbxml2xml_run` failed with "
                           f"wbxml_len={size})", exc.reason, exc.offset, code)


def xml_to_wbxml(xml: str | bytes, version: str = "1.3", preserve_whitespaces: int = 0,
                 string_table: int = 0, publicid: int = 1) -> bytes:
    """Converts XML to WBXML.

    Args:
        xml (str): The XML string to be converted
        version (str, optional): Which version of the WBXML standard to consider (can be any
            of: '1.0', '1.1', '1.2', '1.3')
        preserve_whitespaces (bool, optional): Whether whitespaces should be preserved or not
        string_table (bool, optional): Whether a string tables should be used in the resulting
            WBXML document
        publicid (bool, optional): Whether the WBXML Public ID should be included in the
            resulting WBXML document or not

    Returns:
        str: WBXML-formatted result
    """
    data = _text(xml, "xml")
    if not isinstance(version, (str, bytes)):
        raise TypeError(f"argument version must be str, not {type(version).__name__}")
    name = version.decode("latin-1") if isinstance(version, bytes) else version
    keep = _flag(preserve_whitespaces, "preserve_whitespaces")
    table = _flag(string_table, "string_table")
    public = _flag(publicid, "publicid")
    try:
        return libwbxml.xml_to_wbxml(data, version=name, keep_whitespace=keep,
                                     string_table=table, anonymous=not public)
    except EncodeError as exc:
        raise _failure(exc, len(data)) from exc


def wbxml_to_xml(wbxml: str | bytes, charset: str | None = None, language: str | None = None,
                 generation_type: str = "indent", preserve_whitespaces: int = 0,
                 indent: int = 4) -> bytes:
    """Converts WBXML to XML.

    Args:
        wbxml (str): The WBXML string to be converted
        charset (str, optional): Which charset to use (can be any of: 'ASCII', 'ISO-8859-1',
            'ISO-8859-2', 'ISO-8859-3', 'ISO-8859-4', 'ISO-8859-5', 'ISO-8859-6',
            'ISO-8859-7', 'ISO-8859-8', 'ISO-8859-9', 'ISO-10646-UCS-2')
        language (str, optional): Which WBXML language to use for conversion (can be any of:
            'WML10', 'WML11', 'WML12', 'WML13', 'WTA10', 'WTAWML12', 'CHANNEL11', 'CHANNEL12',
            'SI10', 'SL10', 'CO10', 'PROV10', 'EMN10', 'DRMREL10', 'OTA', 'SYNCML10',
            'DEVINF10', 'SYNCML11', 'DEVINF11', 'METINF11', 'SYNCML12', 'DEVINF12', 'METINF12',
            'DMDDF12', 'CSP11', 'CSP12', 'AIRSYNC', 'ACTIVESYNC', 'CONML'); omadm_codec
            decodes the SyncML DM ones
        generation_type (str, optional): How compact the generated XML should be (can be any
            of: 'compact', 'canonical', 'indent')
        preserve_whitespaces (bool, optional): Whether whitespaces should be preserved or not
        indent (int, optional): Number of spaces to use to indent the output XML

    Returns:
        str: XML-formatted result
    """
    data = _text(wbxml, "wbxml")
    for value, name in ((charset, "charset"), (language, "language"),
                        (generation_type, "generation_type")):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"argument {name} must be str or None, not {type(value).__name__}")
    keep = _flag(preserve_whitespaces, "preserve_whitespaces")
    width = indent.__index__() if hasattr(indent, "__index__") and not isinstance(
        indent, float) else None
    if width is None:
        raise TypeError(f"argument indent must be an integer, not {type(indent).__name__}")
    try:
        return libwbxml.wbxml_to_xml(
            data, generation=generation_type or "indent", indent=width % 256,
            keep_whitespace=keep, language=language or None, charset=charset or None)
    except DecodeError as exc:
        raise _failure(exc, len(data)) from exc
