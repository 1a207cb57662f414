"""WBXML for the WAP/OMA provisioning document (``-//WAPFORUM//DTD PROV 1.0//EN``, id 0x0B).

One idea: a ``wap-provisioningdoc`` has three elements and four attributes, so its WBXML is
almost all *attribute* tokens on two attribute code pages (page 0 WAP, page 1 OMA: the w7
APPLICATION names live there). The token values below are the published ProvCont tables as
libwbxml carries them (checked against libwbxml in the tests). The encoder emits a combined
``name=VALUE`` attribute-start token when one exists and an inline string otherwise (always
valid, and it sidesteps the AAUTHTYPE value tokens, which differ between ProvCont 1.0 and 1.1
builds); the decoder accepts every token form (AAUTHTYPE as 0x90..0x93; the 0x80..0x83
variant collides with global tokens and is refused as ``unknown_attr_value``).

This codec is separate from ``omadm_codec.wbxml`` (the SyncML codec), whose tables have no
attribute tokens; malformed input raises ``DecodeError(reason, offset)`` / ``EncodeError``.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import quoteattr

from .errors import DecodeError, EncodeError

PUBLIC_ID = 0x0B
FPI = "-//WAPFORUM//DTD PROV 1.0//EN"
DTD_URL = "http://www.wapforum.org/DTD/prov.dtd"
MAX_DEPTH = 16
MAX_SIZE = 64 * 1024

TAGS = {0x05: "wap-provisioningdoc", 0x06: "characteristic", 0x07: "parm"}
TAG_CODES = {name: code for code, name in TAGS.items()}

# (page, token) -> (attribute name, value prefix or None).
_PARM_NAMES_0 = (
    "NAME NAP-ADDRESS NAP-ADDRTYPE CALLTYPE VALIDUNTIL AUTHTYPE AUTHNAME AUTHSECRET LINGER "
    "BEARER NAPID COUNTRY NETWORK INTERNET PROXY-ID PROXY-PROVIDER-ID DOMAIN PROVURL "
    "PXAUTH-TYPE PXAUTH-ID PXAUTH-PW STARTPAGE BASAUTH-ID BASAUTH-PW PUSHENABLED PXADDR "
    "PXADDRTYPE TO-NAPID PORTNBR SERVICE LINKSPEED DNLINKSPEED LOCAL-ADDR LOCAL-ADDRTYPE "
    "CONTEXT-ALLOW TRUST MASTER SID SOC WSP-VERSION PHYSICAL-PROXY-ID CLIENT-ID "
    "DELIVERY-ERR-SDU DELIVERY-ORDER TRAFFIC-CLASS MAX-SDU-SIZE MAX-BITRATE-UPLINK "
    "MAX-BITRATE-DNLINK RESIDUAL-BER SDU-ERROR-RATIO TRAFFIC-HANDL-PRIO TRANSFER-DELAY "
    "GUARANTEED-BITRATE-UPLINK GUARANTEED-BITRATE-DNLINK PXADDR-FQDN PROXY-PW PPGAUTH-TYPE"
).split()
ATTR_STARTS: dict[tuple[int, int], tuple[str, str | None]] = {
    (0, 0x45): ("version", None), (0, 0x46): ("version", "1.0"),
    (0, 0x50): ("type", None), (1, 0x50): ("type", None),
    (0, 0x05): ("name", None), (0, 0x06): ("value", None),
    (1, 0x05): ("name", None), (1, 0x06): ("value", None),
    **{(0, 0x07 + i): ("name", n) for i, n in enumerate(_PARM_NAMES_0)},
    **{(0, code): ("name", n) for code, n in (
        (0x47, "PULLENABLED"), (0x48, "DNS-ADDR"), (0x49, "MAX-NUM-RETRY"),
        (0x4A, "FIRST-RETRY-TIMEOUT"), (0x4B, "REREG-THRESHOLD"), (0x4C, "T-BIT"),
        (0x4E, "AUTH-ENTITY"), (0x4F, "SPI"))},
    **{(0, 0x51 + i): ("type", n) for i, n in enumerate(
        "PXLOGICAL PXPHYSICAL PORT VALIDITY NAPDEF BOOTSTRAP VENDORCONFIG CLIENTIDENTITY "
        "PXAUTHINFO NAPAUTHINFO ACCESS".split())},
    **{(1, code): ("type", n) for code, n in (
        (0x53, "PORT"), (0x55, "APPLICATION"), (0x56, "APPADDR"), (0x57, "APPAUTH"),
        (0x58, "CLIENTIDENTITY"), (0x59, "RESOURCE"))},
    **{(1, code): ("name", n) for code, n in (
        (0x07, "NAME"), (0x14, "INTERNET"), (0x1C, "STARTPAGE"), (0x22, "TO-NAPID"),
        (0x23, "PORTNBR"), (0x24, "SERVICE"), (0x2E, "AACCEPT"), (0x2F, "AAUTHDATA"),
        (0x30, "AAUTHLEVEL"), (0x31, "AAUTHNAME"), (0x32, "AAUTHSECRET"), (0x33, "AAUTHTYPE"),
        (0x34, "ADDR"), (0x35, "ADDRTYPE"), (0x36, "APPID"), (0x37, "APROTOCOL"),
        (0x38, "PROVIDER-ID"), (0x39, "TO-PROXY"), (0x3A, "URI"), (0x3B, "RULE"))},
}
# (page, token >= 0x80) -> attribute value text.
ATTR_VALUES: dict[tuple[int, int], str] = {
    **{(0, 0x85 + i): v for i, v in enumerate(
        "IPV4 IPV6 E164 ALPHA APN SCODE TETRA-ITSI MAN".split())},
    (1, 0x86): "IPV6", (1, 0x87): "E164", (1, 0x88): "ALPHA", (1, 0x8D): "APPSRV",
    (1, 0x8E): "OBEX",
    **{(0, 0x90 + i): v for i, v in enumerate(
        "ANALOG-MODEM V.120 V.110 X.31 BIT-TRANSPARENT DIRECT-ASYNCHRONOUS-DATA-SERVICE"
        .split())},
    **{(0, 0x9A + i): v for i, v in enumerate(
        "PAP CHAP HTTP-BASIC HTTP-DIGEST WTLS-SS MD5".split())},
    **{(0, 0xA2 + i): v for i, v in enumerate(
        "GSM-USSD GSM-SMS ANSI-136-GUTS IS-95-CDMA-SMS IS-95-CDMA-CSD IS-95-CDMA-PACKET "
        "ANSI-136-CSD ANSI-136-GPRS GSM-CSD GSM-GPRS AMPS-CDPD PDC-CSD PDC-PACKET IDEN-SMS "
        "IDEN-CSD IDEN-PACKET FLEX/REFLEX PHS-SMS PHS-CSD TRETRA-SDS TRETRA-PACKET "
        "ANSI-136-GHOST MOBITEX-MPAK CDMA2000-1X-SIMPLE-IP CDMA2000-1X-MOBILE-IP".split())},
    (0, 0xC5): "AUTOBAUDING",
    **{(0, 0xCA + i): v for i, v in enumerate(
        "CL-WSP CO-WSP CL-SEC-WSP CO-SEC-WSP CL-SEC-WTA CO-SEC-WTA OTA-HTTP-TO "
        "OTA-HTTP-TLS-TO OTA-HTTP-PO OTA-HTTP-TLS-PO".split())},
    # AAUTHTYPE pieces. Older tables put them at 0x80..0x83, which collide with the global
    # EXT_T_0..2 / STR_T tokens and so cannot be decoded; ProvCont 1.1 builds use 0x90..0x93.
    **{(1, 0x90 + i): v for i, v in enumerate((",", "HTTP-", "BASIC", "DIGEST"))},
    (0, 0xE0): "AAA", (0, 0xE1): "HA",
}
# Encoder: (name, value) -> (page, token), preferring page 0 when both pages have it.
_COMBINED: dict[tuple[str, str | None], tuple[int, int]] = {}
for (_page, _tok), _key in sorted(ATTR_STARTS.items(), reverse=True):
    _COMBINED[_key] = (_page, _tok)

SWITCH_PAGE, END, STR_I, STR_T, OPAQUE, ENTITY, LITERAL = 0x00, 0x01, 0x03, 0x83, 0xC3, 0x02, 0x04


# -- encode ------------------------------------------------------------------------------------


class _Out:
    def __init__(self) -> None:
        self.buf = bytearray(b"\x03" + bytes([PUBLIC_ID]) + b"\x6a\x00")
        self.attr_page = 0

    def string(self, text: str) -> None:
        raw = text.encode("utf-8")
        if b"\x00" in raw:
            raise EncodeError("nul_in_string", detail=repr(text))
        self.buf += bytes([STR_I]) + raw + b"\x00"

    def attr_token(self, page: int, token: int) -> None:
        if page != self.attr_page:
            self.buf += bytes([SWITCH_PAGE, page])
            self.attr_page = page
        self.buf.append(token)


def _encode_element(out: _Out, element: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise EncodeError("too_deep")
    code = TAG_CODES.get(element.tag) if isinstance(element.tag, str) else None
    if code is None:
        raise EncodeError("unknown_element", detail=str(element.tag))
    if (element.text or "").strip() or any((c.tail or "").strip() for c in element):
        raise EncodeError("text_content", detail=element.tag)
    children = [c for c in element if isinstance(c.tag, str)]
    attrs = list(element.attrib.items())
    out.buf.append(code | (0x80 if attrs else 0) | (0x40 if children else 0))
    if attrs:
        for name, value in attrs:
            combined = _COMBINED.get((name, value))
            if combined is not None:
                out.attr_token(*combined)
                continue
            start = _COMBINED.get((name, None))
            if start is None:
                raise EncodeError("unknown_attribute", detail=name)
            out.attr_token(*start)
            if value:
                out.string(value)
        out.buf.append(END)
    if children:
        for child in children:
            _encode_element(out, child, depth + 1)
        out.buf.append(END)


def prov_xml_to_wbxml(xml: str | bytes) -> bytes:
    """Encode a ``wap-provisioningdoc`` XML document as WBXML 1.3 (UTF-8, no string table)."""
    from .bootstrap_docs import _root

    try:
        root = _root(xml)
    except DecodeError as exc:
        raise EncodeError(exc.reason, exc.offset, exc.detail) from None
    if root.tag != "wap-provisioningdoc":
        raise EncodeError("not_provisioning", detail=str(root.tag))
    out = _Out()
    _encode_element(out, root, 0)
    return bytes(out.buf)


# -- decode ------------------------------------------------------------------------------------


class _In:
    """Bounds-checked cursor; every error carries the absolute offset of the bad byte."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.strtbl = b""
        self.tag_page = 0
        self.attr_page = 0

    def u8(self) -> int:
        if self.pos >= len(self.data):
            raise DecodeError("truncated", self.pos)
        value = self.data[self.pos]
        self.pos += 1
        return value

    def mb_u_int32(self) -> int:
        start, value = self.pos, 0
        for _ in range(5):
            octet = self.u8()
            value = (value << 7) | (octet & 0x7F)
            if not octet & 0x80:
                if value >= 1 << 32:
                    break
                return value
        raise DecodeError("bad_mb_u_int32", start)

    def cstring(self) -> str:
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            raise DecodeError("unterminated_string", self.pos)
        return self._utf8(self.data[self.pos:end], self.pos, end + 1)

    def _utf8(self, raw: bytes, at: int, new_pos: int) -> str:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError("bad_utf8", at + exc.start) from None
        self.pos = new_pos
        return text

    def table_string(self) -> str:
        at = self.pos
        offset = self.mb_u_int32()
        end = self.strtbl.find(b"\x00", offset)
        if offset >= len(self.strtbl) or end < 0:
            raise DecodeError("bad_string_table_ref", at)
        keep = self.pos
        text = self._utf8(self.strtbl[offset:end], at, keep)
        return text

    def attr_value_part(self, token: int) -> str | None:
        """One piece of an attribute value, or None if ``token`` starts something else."""
        if token == STR_I:
            return self.cstring()
        if token == STR_T:
            return self.table_string()
        if token == ENTITY:
            at = self.pos
            code = self.mb_u_int32()
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise DecodeError("bad_entity", at)
            return chr(code)
        if token == OPAQUE:
            at = self.pos
            length = self.mb_u_int32()
            if length > len(self.data) - self.pos:
                raise DecodeError("opaque_past_end", at)
            return self._utf8(self.data[self.pos:self.pos + length], self.pos,
                              self.pos + length)
        if token in (0x80, 0x81, 0x82, 0x84, 0xC0, 0xC1, 0xC2, 0xC4):
            raise DecodeError("extension_unsupported", self.pos - 1)
        if token >= 0x80:
            value = ATTR_VALUES.get((self.attr_page, token))
            if value is None:
                raise DecodeError("unknown_attr_value", self.pos - 1)
            return value
        return None


def _attributes(src: _In) -> list[tuple[str, str]]:
    attrs: list[tuple[str, str]] = []
    while True:
        at = src.pos
        token = src.u8()
        if token == END:
            return attrs
        if token == SWITCH_PAGE:
            src.attr_page = src.u8()
            continue
        if token == LITERAL:
            raise DecodeError("literal_unsupported", at)
        if token >= 0x80 or token in (STR_I, ENTITY):
            raise DecodeError("value_without_attribute", at)
        start = ATTR_STARTS.get((src.attr_page, token))
        if start is None:
            raise DecodeError("unknown_attribute", at)
        name, value = start[0], start[1] or ""
        while True:
            peek = src.pos
            token = src.u8()
            if token == SWITCH_PAGE:
                src.attr_page = src.u8()
                continue
            part = src.attr_value_part(token)
            if part is None:
                src.pos = peek
                break
            value += part
        attrs.append((name, value))


def _element(src: _In, out: list[str], depth: int) -> None:
    while True:
        at = src.pos
        token = src.u8()
        if token != SWITCH_PAGE:
            break
        src.tag_page = src.u8()
    if depth > MAX_DEPTH:
        raise DecodeError("too_deep", at)
    tag = TAGS.get(token & 0x3F) if src.tag_page in (0, 1) else None
    if tag is None or (src.tag_page == 1 and tag == "wap-provisioningdoc"):
        raise DecodeError("unknown_tag", at)
    attrs = _attributes(src) if token & 0x80 else []
    text = "".join(f" {name}={quoteattr(value)}" for name, value in attrs)
    if not token & 0x40:
        out.append(f"<{tag}{text}/>")
        return
    out.append(f"<{tag}{text}>")
    while True:
        peek = src.pos
        token = src.u8()
        if token == END:
            break
        if token in (STR_I, STR_T, ENTITY, OPAQUE):
            raise DecodeError("text_content", peek)
        src.pos = peek
        _element(src, out, depth + 1)
    out.append(f"</{tag}>")


def prov_wbxml_to_xml(wbxml: bytes) -> bytes:
    """Decode a provisioning document's WBXML to UTF-8 XML (with the PROV 1.0 DOCTYPE)."""
    data = bytes(wbxml)
    if len(data) > MAX_SIZE:
        raise DecodeError("too_large", MAX_SIZE)
    src = _In(data)
    if src.u8() not in (0x01, 0x02, 0x03):
        raise DecodeError("bad_version", 0)
    at = src.pos
    public_id = src.mb_u_int32()
    if public_id == 0:
        index = src.mb_u_int32()  # FPI in the string table: checked after the table is read
    elif public_id != PUBLIC_ID:
        raise DecodeError("not_provisioning", at)
    charset_at = src.pos
    if src.mb_u_int32() != 0x6A:
        raise DecodeError("unsupported_charset", charset_at)
    length_at = src.pos
    length = src.mb_u_int32()
    if length > len(data) - src.pos:
        raise DecodeError("string_table_past_end", length_at)
    src.strtbl = data[src.pos:src.pos + length]
    src.pos += length
    if public_id == 0:
        end = src.strtbl.find(b"\x00", index)
        if index >= len(src.strtbl) or end < 0 or src.strtbl[index:end].decode(
                "latin-1") != FPI:
            raise DecodeError("not_provisioning", at)
    out = [f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE wap-provisioningdoc PUBLIC '
           f'"{FPI}" "{DTD_URL}">\n']
    body_at = src.pos
    _element(src, out, 0)
    if not out[1].startswith("<wap-provisioningdoc"):
        raise DecodeError("not_provisioning", body_at)
    if src.pos != len(data):
        raise DecodeError("trailing_bytes", src.pos)
    return "".join(out).encode("utf-8")
