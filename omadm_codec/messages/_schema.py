"""The SyncML DM vocabulary both directions share: namespaces, the OPAQUE marker, ID and
version rules, and each structural element's content-model order.

The one idea: data only, so that the reader, the writer and a later compiled twin agree by
construction.
"""

from __future__ import annotations

import re

OPAQUE_NS = "urn:omadm-codec:wbxml"
OPAQUE_ATTR = "{urn:omadm-codec:wbxml}opaque"
"""The marker attribute of the XML hub: ``base64`` (binary OPAQUE) or ``markup``."""
OPAQUE_MARKUP = "markup"
"""``wbxml:opaque="markup"``: the Data's elements travel in WBXML as their text in one OPAQUE
(``omadm_codec.wbxml._markup``)."""
NESTED_ROOT = re.compile(
    r"""<(MgmtTree|DevInf)[ \t\r\n]+xmlns[ \t\r\n]*=[ \t\r\n]*(["'])"""
    r"""(syncml:dmddf1\.2|syncml:devinf)\2[ \t\r\n]*/?>""")
"""The start of an embedded TNDS ``MgmtTree`` or ``DevInf`` root with a namespace."""
NESTED_NS = {"MgmtTree": "syncml:dmddf1.2", "DevInf": "syncml:devinf"}


def nested_root(xml: str, ver_dtd: str, found: re.Match[str] | None = None) -> bool:
    """Whether markup in a Data starts with the one kind WBXML carries as a nested WBXML
    document (libwbxml's rule): a DevInf root in ``syncml:devinf``, or a TNDS MgmtTree root
    in ``syncml:dmddf1.2`` under SyncML 1.2 (libwbxml has no DDF code page for 1.0 / 1.1).
    Any other markup travels as its text. ``found``: ``NESTED_ROOT.match(xml)``, if known."""
    if found is None:
        found = NESTED_ROOT.match(xml)
    return (found is not None and NESTED_NS[found.group(1)] == found.group(3)
            and (found.group(1) == "DevInf" or ver_dtd == "1.2"))
METINF_NS = "syncml:metinf"
SYNCML_NS = {"1.0": "SYNCML:SYNCML1.0", "1.1": "SYNCML:SYNCML1.1", "1.2": "SYNCML:SYNCML1.2"}
NS_VERSION = {ns.lower(): version for version, ns in SYNCML_NS.items()}
METINF_NAMES = frozenset({
    "FieldLevel", "Format", "Type", "Mark", "Size", "Anchor", "Version", "NextNonce",
    "MaxMsgSize", "MaxObjSize", "EMI", "Mem",
})
ID_MAX = 256
BAD_ID = re.compile(r"[\s\x00-\x1f\x7f]")
VER_PROTO = re.compile(r"DM/[0-9]+\.[0-9]+")
# Status codes are three digits, 1xx-5xx (dm-protocol.md 2); anything else is the quirk
# ``status_code_range`` (the reference reader) and the fast paths leave it to that reader.
STATUS_MIN = 100
STATUS_MAX = 599


# Content-model order of each structural element (SyncML RepPro 1.2 DTD; wbxml-reppro.md 4).
def _ranks(*names: str) -> dict[str, int]:
    return {name: rank for rank, name in enumerate(names)}


ORDER_ROOT = _ranks("SyncHdr", "SyncBody")
ORDER_HDR = _ranks("VerDTD", "VerProto", "SessionID", "MsgID", "Target", "Source", "RespURI",
                   "NoResp", "Cred", "Meta")
ORDER_LOC = _ranks("LocURI", "LocName")
ORDER_CRED = _ranks("Meta", "Data")
ORDER_ITEM = _ranks("Target", "Source", "SourceParent", "TargetParent", "Meta", "Data",
                    "MoreData")
ORDER_ITEM_COMMAND = _ranks("CmdID", "NoResp", "Meta", "Item")
ORDER_ALERT = _ranks("CmdID", "NoResp", "Data", "Correlator", "Item")
ORDER_EXEC = _ranks("CmdID", "NoResp", "Meta", "Correlator", "Item")
ORDER_STATUS = _ranks("CmdID", "NoResp", "MsgRef", "CmdRef", "Cmd", "TargetRef", "SourceRef",
                      "Chal", "Data", "Item")
ORDER_RESULTS = _ranks("CmdID", "NoResp", "MsgRef", "CmdRef", "Meta", "TargetRef", "SourceRef",
                       "Item")
ORDER_CONTAINER = _ranks("CmdID", "NoResp", "Meta")
