"""WBXML code pages and public identifiers of the SyncML DM languages, as data.

One ``Language`` per document type. Each maps ``page -> {token: tag name}``; the reverse maps are
derived. Token values are from ``shared/spec/wbxml-reppro.md`` section 3, checked against
libwbxml 0.11.8. Both codec twins read these tables; nothing here is code-page logic.

A language may also have *attribute* tables (only PROV 1.0 does): attribute-start tokens
(``name`` or ``name="value prefix"``) and attribute-value tokens, each on attribute code pages
that are separate from the tag pages. They are kept as tuples in libwbxml's own table order,
because its encoder's choices depend on that order (first exact match, first longest prefix,
value tokens substituted one table entry at a time).
"""

from __future__ import annotations

from dataclasses import dataclass, field

_SYNCML_COMMON = {
    0x05: "Add", 0x06: "Alert", 0x07: "Archive", 0x08: "Atomic", 0x09: "Chal", 0x0A: "Cmd",
    0x0B: "CmdID", 0x0C: "CmdRef", 0x0D: "Copy", 0x0E: "Cred", 0x0F: "Data", 0x10: "Delete",
    0x11: "Exec", 0x12: "Final", 0x13: "Get", 0x14: "Item", 0x15: "Lang", 0x16: "LocName",
    0x17: "LocURI", 0x18: "Map", 0x19: "MapItem", 0x1A: "Meta", 0x1B: "MsgID", 0x1C: "MsgRef",
    0x1D: "NoResp", 0x1E: "NoResults", 0x1F: "Put", 0x20: "Replace", 0x21: "RespURI",
    0x22: "Results", 0x23: "Search", 0x24: "Sequence", 0x25: "SessionID", 0x26: "SftDel",
    0x27: "Source", 0x28: "SourceRef", 0x29: "Status", 0x2A: "Sync", 0x2B: "SyncBody",
    0x2C: "SyncHdr", 0x2D: "SyncML", 0x2E: "Target", 0x2F: "TargetRef",
    # 0x30 is reserved: an unknown token, never a tag.
    0x31: "VerDTD", 0x32: "VerProto", 0x33: "NumberOfChanges", 0x34: "MoreData",
}
# libwbxml uses one table for SyncML 1.0 and 1.1 and, as a Nokia workaround, maps SourceParent.
SYNCML11_PAGE0 = {**_SYNCML_COMMON, 0x39: "SourceParent"}
SYNCML12_PAGE0 = {
    **_SYNCML_COMMON,
    0x35: "Field", 0x36: "Filter", 0x37: "Record", 0x38: "FilterType", 0x39: "SourceParent",
    0x3A: "TargetParent", 0x3B: "Move", 0x3C: "Correlator",
}
METINF11_PAGE1 = {
    0x05: "Anchor", 0x06: "EMI", 0x07: "Format", 0x08: "FreeID", 0x09: "FreeMem", 0x0A: "Last",
    0x0B: "Mark", 0x0C: "MaxMsgSize", 0x0D: "Mem", 0x0E: "MetInf", 0x0F: "Next",
    0x10: "NextNonce", 0x11: "SharedMem", 0x12: "Size", 0x13: "Type", 0x14: "Version",
    0x15: "MaxObjSize",
}
METINF12_PAGE1 = {**METINF11_PAGE1, 0x16: "FieldLevel"}
DEVINF11_PAGE0 = {
    0x05: "CTCap", 0x06: "CTType", 0x07: "DataStore", 0x08: "DataType", 0x09: "DevID",
    0x0A: "DevInf", 0x0B: "DevTyp", 0x0C: "DisplayName", 0x0D: "DSMem", 0x0E: "Ext", 0x0F: "FwV",
    0x10: "HwV", 0x11: "Man", 0x12: "MaxGUIDSize", 0x13: "MaxID", 0x14: "MaxMem", 0x15: "Mod",
    0x16: "OEM", 0x17: "ParamName", 0x18: "PropName", 0x19: "Rx", 0x1A: "Rx-Pref",
    0x1B: "SharedMem", 0x1C: "Size", 0x1D: "SourceRef", 0x1E: "SwV", 0x1F: "SyncCap",
    0x20: "SyncType", 0x21: "Tx", 0x22: "Tx-Pref", 0x23: "ValEnum", 0x24: "VerCT",
    0x25: "VerDTD", 0x26: "XNam", 0x27: "XVal", 0x28: "UTC", 0x29: "SupportNumberOfChanges",
    0x2A: "SupportLargeObjs",
}
DEVINF12_PAGE0 = {
    **DEVINF11_PAGE0, 0x1C: "MaxSize", 0x2B: "Property", 0x2C: "PropParam", 0x2D: "MaxOccur",
    0x2E: "NoTruncate", 0x30: "Filter-Rx", 0x31: "FilterCap", 0x32: "FilterKeyword",
    0x33: "FieldLevel", 0x34: "SupportHierarchicalSync",
}
DMDDF12_PAGE2 = {
    0x05: "AccessType", 0x06: "ACL", 0x07: "Add", 0x08: "b64", 0x09: "bin", 0x0A: "bool",
    0x0B: "chr", 0x0C: "CaseSense", 0x0D: "CIS", 0x0E: "Copy", 0x0F: "CS", 0x10: "date",
    0x11: "DDFName", 0x12: "DefaultValue", 0x13: "Delete", 0x14: "Description",
    0x15: "DFFormat", 0x16: "DFProperties", 0x17: "DFTitle", 0x18: "DFType", 0x19: "Dynamic",
    0x1A: "Exec", 0x1B: "float", 0x1C: "Format", 0x1D: "Get", 0x1E: "int", 0x1F: "Man",
    0x20: "MgmtTree", 0x21: "MIME", 0x22: "Mod", 0x23: "Name", 0x24: "Node", 0x25: "node",
    0x26: "NodeName", 0x27: "null", 0x28: "Occurrence", 0x29: "One", 0x2A: "OneOrMore",
    0x2B: "OneOrN", 0x2C: "Path", 0x2D: "Permanent", 0x2E: "Replace", 0x2F: "RTProperties",
    0x30: "Scope", 0x31: "Size", 0x32: "time", 0x33: "Title", 0x34: "TStamp", 0x35: "Type",
    0x36: "Value", 0x37: "VerDTD", 0x38: "VerNo", 0x39: "xml", 0x3A: "ZeroOrMore",
    0x3B: "ZeroOrN", 0x3C: "ZeroOrOne",
}

# -- WAP provisioning (PROV 1.0, WAP-183-ProvCont + OMA ProvCont 1.1), as libwbxml 0.11.8 --------
PROV10_PAGES = {
    0: {0x05: "wap-provisioningdoc", 0x06: "characteristic", 0x07: "parm"},
    1: {0x06: "characteristic", 0x07: "parm"},  # OMA page: the same elements again
}
_PROV_PARM_NAMES_0 = (
    "NAME NAP-ADDRESS NAP-ADDRTYPE CALLTYPE VALIDUNTIL AUTHTYPE AUTHNAME AUTHSECRET LINGER "
    "BEARER NAPID COUNTRY NETWORK INTERNET PROXY-ID PROXY-PROVIDER-ID DOMAIN PROVURL "
    "PXAUTH-TYPE PXAUTH-ID PXAUTH-PW STARTPAGE BASAUTH-ID BASAUTH-PW PUSHENABLED PXADDR "
    "PXADDRTYPE TO-NAPID PORTNBR SERVICE LINKSPEED DNLINKSPEED LOCAL-ADDR LOCAL-ADDRTYPE "
    "CONTEXT-ALLOW TRUST MASTER SID SOC WSP-VERSION PHYSICAL-PROXY-ID CLIENT-ID "
    "DELIVERY-ERR-SDU DELIVERY-ORDER TRAFFIC-CLASS MAX-SDU-SIZE MAX-BITRATE-UPLINK "
    "MAX-BITRATE-DNLINK RESIDUAL-BER SDU-ERROR-RATIO TRAFFIC-HANDL-PRIO TRANSFER-DELAY "
    "GUARANTEED-BITRATE-UPLINK GUARANTEED-BITRATE-DNLINK PXADDR-FQDN PROXY-PW PPGAUTH-TYPE"
).split()
PROV10_ATTR_STARTS: tuple[tuple[int, int, str, str | None], ...] = (
    (0, 0x45, "version", None), (0, 0x46, "version", "1.0"),
    (0, 0x50, "type", None),
    *((0, 0x51 + i, "type", value) for i, value in enumerate(
        "PXLOGICAL PXPHYSICAL PORT VALIDITY NAPDEF BOOTSTRAP VENDORCONFIG CLIENTIDENTITY "
        "PXAUTHINFO NAPAUTHINFO ACCESS".split())),
    (1, 0x50, "type", None), (1, 0x53, "type", "PORT"), (1, 0x58, "type", "CLIENTIDENTITY"),
    (1, 0x55, "type", "APPLICATION"), (1, 0x56, "type", "APPADDR"),
    (1, 0x57, "type", "APPAUTH"), (1, 0x59, "type", "RESOURCE"),
    (0, 0x05, "name", None), (0, 0x06, "value", None),
    *((0, 0x07 + i, "name", value) for i, value in enumerate(_PROV_PARM_NAMES_0)),
    *((0, token, "name", value) for token, value in (
        (0x47, "PULLENABLED"), (0x48, "DNS-ADDR"), (0x49, "MAX-NUM-RETRY"),
        (0x4A, "FIRST-RETRY-TIMEOUT"), (0x4B, "REREG-THRESHOLD"), (0x4C, "T-BIT"),
        (0x4E, "AUTH-ENTITY"), (0x4F, "SPI"))),
    (1, 0x05, "name", None), (1, 0x06, "value", None),
    *((1, token, "name", value) for token, value in (
        (0x07, "NAME"), (0x14, "INTERNET"), (0x1C, "STARTPAGE"), (0x22, "TO-NAPID"),
        (0x23, "PORTNBR"), (0x24, "SERVICE"), (0x2E, "AACCEPT"), (0x2F, "AAUTHDATA"),
        (0x30, "AAUTHLEVEL"), (0x31, "AAUTHNAME"), (0x32, "AAUTHSECRET"), (0x33, "AAUTHTYPE"),
        (0x34, "ADDR"), (0x35, "ADDRTYPE"), (0x36, "APPID"), (0x37, "APROTOCOL"),
        (0x38, "PROVIDER-ID"), (0x39, "TO-PROXY"), (0x3A, "URI"), (0x3B, "RULE"))),
)
"""(attribute page, token, attribute name, value prefix or None), in libwbxml's table order."""
PROV10_ATTR_VALUES: tuple[tuple[int, int, str], ...] = (
    *((0, 0x85 + i, text) for i, text in enumerate(
        "IPV4 IPV6 E164 ALPHA APN SCODE TETRA-ITSI MAN".split())),
    (1, 0x86, "IPV6"), (1, 0x87, "E164"), (1, 0x88, "ALPHA"), (1, 0x8D, "APPSRV"),
    (1, 0x8E, "OBEX"),
    *((0, 0x90 + i, text) for i, text in enumerate(
        "ANALOG-MODEM V.120 V.110 X.31 BIT-TRANSPARENT DIRECT-ASYNCHRONOUS-DATA-SERVICE"
        .split())),
    *((0, 0x9A + i, text) for i, text in enumerate(
        "PAP CHAP HTTP-BASIC HTTP-DIGEST WTLS-SS MD5".split())),
    *((0, 0xA2 + i, text) for i, text in enumerate(
        "GSM-USSD GSM-SMS ANSI-136-GUTS IS-95-CDMA-SMS IS-95-CDMA-CSD IS-95-CDMA-PACKET "
        "ANSI-136-CSD ANSI-136-GPRS GSM-CSD GSM-GPRS AMPS-CDPD PDC-CSD PDC-PACKET IDEN-SMS "
        "IDEN-CSD IDEN-PACKET FLEX/REFLEX PHS-SMS PHS-CSD TRETRA-SDS TRETRA-PACKET "
        "ANSI-136-GHOST MOBITEX-MPAK CDMA2000-1X-SIMPLE-IP CDMA2000-1X-MOBILE-IP".split())),
    (0, 0xC5, "AUTOBAUDING"),
    *((0, 0xCA + i, text) for i, text in enumerate(
        "CL-WSP CO-WSP CL-SEC-WSP CO-SEC-WSP CL-SEC-WTA CO-SEC-WTA OTA-HTTP-TO "
        "OTA-HTTP-TLS-TO OTA-HTTP-PO OTA-HTTP-TLS-PO".split())),
    # AAUTHTYPE pieces at 0x90..0x93 (libwbxml's WBXML_SUPPORT_PROV_11 build, the 0.11.8
    # default; the older 0x80..0x83 collide with the global EXT_T_0..2 / STR_T tokens).
    *((1, 0x90 + i, text) for i, text in enumerate((",", "HTTP-", "BASIC", "DIGEST"))),
    (0, 0xE0, "AAA"), (0, 0xE1, "HA"),
)
"""(attribute page, token, value text), in libwbxml's table order."""

NS_METINF = "syncml:metinf"
NS_DEVINF = "syncml:devinf"
NS_DMDDF12 = "syncml:dmddf1.2"


@dataclass(frozen=True)
class Language:
    """One WBXML document type: its public id, FPI, DTD, code pages and namespaces."""

    name: str
    root: str
    public_id: int
    """Registered numeric id, or 0 when the FPI must travel in the string table."""
    fpi: str
    dtd: str
    pages: dict[int, dict[int, str]]
    """page -> token -> tag name."""
    namespaces: dict[int, str]
    """page -> xmlns written by the decoder (and matched by the encoder)."""
    root_xmlns: bool = True
    """False for a stand-alone MetInf document, whose root carries no xmlns."""
    tokens: dict[str, tuple[int, int]] = field(init=False, repr=False)
    """tag name -> (page, token); the first page holding the name wins."""
    attr_starts: tuple[tuple[int, int, str, str | None], ...] = ()
    """Attribute-start tokens: (page, token, name, value prefix or None), in table order."""
    attr_values: tuple[tuple[int, int, str], ...] = ()
    """Attribute-value tokens: (page, token, text), in table order."""
    attr_start_by_token: dict[tuple[int, int], tuple[str, str]] = field(init=False, repr=False)
    """(page, token) -> (name, value prefix, "" for none): the decoder's view."""
    attr_value_by_token: dict[tuple[int, int], str] = field(init=False, repr=False)
    """(page, token) -> value text."""

    def __post_init__(self) -> None:
        tokens: dict[str, tuple[int, int]] = {}
        for page in sorted(self.pages):
            for token, tag in sorted(self.pages[page].items()):
                tokens.setdefault(tag, (page, token))
        object.__setattr__(self, "tokens", tokens)
        object.__setattr__(self, "attr_start_by_token", {
            (page, token): (name, prefix or "") for page, token, name, prefix in self.attr_starts})
        object.__setattr__(self, "attr_value_by_token", {
            (page, token): text for page, token, text in self.attr_values})


_OMA = "http://www.openmobilealliance.org/tech/DTD/"
_SYNCML_ORG = "http://www.syncml.org/docs/"

SYNCML10 = Language("SYNCML10", "SyncML", 0x0FD1, "-//SYNCML//DTD SyncML 1.0//EN",
                    _SYNCML_ORG + "syncml_represent_v10_20001207.dtd",
                    {0: SYNCML11_PAGE0, 1: METINF11_PAGE1},
                    {0: "SYNCML:SYNCML1.0", 1: NS_METINF})
SYNCML11 = Language("SYNCML11", "SyncML", 0x0FD3, "-//SYNCML//DTD SyncML 1.1//EN",
                    _SYNCML_ORG + "syncml_represent_v11_20020213.dtd",
                    {0: SYNCML11_PAGE0, 1: METINF11_PAGE1},
                    {0: "SYNCML:SYNCML1.1", 1: NS_METINF})
SYNCML12 = Language("SYNCML12", "SyncML", 0x1201, "-//SYNCML//DTD SyncML 1.2//EN",
                    _OMA + "OMA-TS-SyncML_RepPro_DTD-V1_2.dtd",
                    {0: SYNCML12_PAGE0, 1: METINF12_PAGE1},
                    {0: "SYNCML:SYNCML1.2", 1: NS_METINF})
DEVINF10 = Language("DEVINF10", "DevInf", 0x0FD2, "-//SYNCML//DTD DevInf 1.0//EN",
                    _SYNCML_ORG + "syncml_devinf_v10_20001207.dtd",
                    {0: DEVINF11_PAGE0}, {0: NS_DEVINF})
DEVINF11 = Language("DEVINF11", "DevInf", 0x0FD4, "-//SYNCML//DTD DevInf 1.1//EN",
                    _SYNCML_ORG + "devinf_v11_20020215.dtd",
                    {0: DEVINF11_PAGE0}, {0: NS_DEVINF})
DEVINF12 = Language("DEVINF12", "DevInf", 0x1203, "-//SYNCML//DTD DevInf 1.2//EN",
                    _OMA + "OMA-SyncML-Device_Information-DTD-1.2.dtd",
                    {0: DEVINF12_PAGE0}, {0: NS_DEVINF})
METINF11 = Language("METINF11", "MetInf", 0, "-//SYNCML//DTD MetInf 1.1//EN",
                    _SYNCML_ORG + "syncml_metinf_v11_20020215.dtd",
                    {1: METINF11_PAGE1}, {1: NS_METINF}, root_xmlns=False)
METINF12 = Language("METINF12", "MetInf", 0x1202, "-//SYNCML//DTD MetInf 1.2//EN",
                    _OMA + "OMA-TS-SyncML_MetaInfo_DTD-V1_2.dtd",
                    {1: METINF12_PAGE1}, {1: NS_METINF}, root_xmlns=False)
DMDDF12 = Language("DMDDF12", "MgmtTree", 0, "-//OMA//DTD-DM-DDF 1.2//EN",
                   _OMA + "dm_ddf-v1_2.dtd",
                   {2: DMDDF12_PAGE2}, {2: NS_DMDDF12})
PROV10 = Language("PROV10", "wap-provisioningdoc", 0x0B, "-//WAPFORUM//DTD PROV 1.0//EN",
                  "http://www.wapforum.org/DTD/prov.dtd", PROV10_PAGES, {}, root_xmlns=False,
                  attr_starts=PROV10_ATTR_STARTS, attr_values=PROV10_ATTR_VALUES)
"""No namespace: its elements are written without xmlns, whatever their tag page."""

LANGUAGES: tuple[Language, ...] = (
    SYNCML12, DEVINF12, DMDDF12, SYNCML11, DEVINF11, SYNCML10, DEVINF10, METINF12, METINF11,
    PROV10,
)
"""In libwbxml's namespace-matching order (SyncML 1.2, DevInf 1.2, DDF 1.2, 1.1s, 1.0s), then
the languages without a namespace."""

BY_PUBLIC_ID: dict[int, Language] = {lang.public_id: lang for lang in LANGUAGES if lang.public_id}
BY_FPI: dict[str, Language] = {lang.fpi.lower(): lang for lang in LANGUAGES}
"""Lower-cased FPI -> language (FPIs are matched case-insensitively)."""

# Extra FPI spellings seen in the wild (shared/spec/wbxml-reppro.md 2.3); decode-side aliases.
FPI_ALIASES: dict[str, Language] = {
    "-//oma//dtd syncml 1.2//en": SYNCML12,
    "-//syncml//dtd metainf 1.2//en": METINF12,
    "-//oma//dtd syncml-metinf 1.2//en": METINF12,
}

CHARSETS: dict[int, str] = {
    0: "utf-8", 3: "us-ascii", 4: "iso-8859-1", 106: "utf-8",
    1013: "utf-16-be", 1014: "utf-16-le", 1015: "utf-16",
}
"""IANA MIBenum -> Python codec. 0 (unknown) is read as UTF-8, as libwbxml does."""

# The SyncML version of an embedded document follows the outer document (libwbxml rule).
DEVINF_FOR_SYNCML = {"SYNCML12": DEVINF12, "SYNCML11": DEVINF11, "SYNCML10": DEVINF10}
