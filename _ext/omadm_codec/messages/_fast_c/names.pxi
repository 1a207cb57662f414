# Included by _fast_c.pyx: SyncML element names as small integer codes, and each content
# model's ranks by code.
#
# The one idea: the scanner hashes every tag name (FNV-1a) while reading it; one probe of an
# open-addressing table keyed by that hash, confirmed by memcmp, turns a tag into a code, so the
# builder compares ints, never strings.

cdef enum:
    N_OTHER = 0
    N_SyncML, N_SyncHdr, N_SyncBody, N_VerDTD, N_VerProto, N_SessionID, N_MsgID, N_Target
    N_Source, N_RespURI, N_NoResp, N_Cred, N_Meta, N_LocURI, N_LocName, N_Data, N_Chal
    N_CmdID, N_MsgRef, N_CmdRef, N_Cmd, N_TargetRef, N_SourceRef, N_Item, N_SourceParent
    N_TargetParent, N_MoreData, N_Correlator, N_Final, N_Add, N_Copy, N_Delete, N_Get
    N_Replace, N_Alert, N_Exec, N_Status, N_Results, N_Atomic, N_Sequence
    N_FieldLevel, N_Format, N_Type, N_Mark, N_Size, N_Anchor, N_Version, N_NextNonce
    N_MaxMsgSize, N_MaxObjSize, N_EMI, N_Mem, N_Last, N_Next, N_SharedMem, N_FreeMem, N_FreeID
    N_COUNT

_NAMES = (
    "", "SyncML", "SyncHdr", "SyncBody", "VerDTD", "VerProto", "SessionID", "MsgID", "Target",
    "Source", "RespURI", "NoResp", "Cred", "Meta", "LocURI", "LocName", "Data", "Chal",
    "CmdID", "MsgRef", "CmdRef", "Cmd", "TargetRef", "SourceRef", "Item", "SourceParent",
    "TargetParent", "MoreData", "Correlator", "Final", "Add", "Copy", "Delete", "Get",
    "Replace", "Alert", "Exec", "Status", "Results", "Atomic", "Sequence",
    "FieldLevel", "Format", "Type", "Mark", "Size", "Anchor", "Version", "NextNonce",
    "MaxMsgSize", "MaxObjSize", "EMI", "Mem", "Last", "Next", "SharedMem", "FreeMem", "FreeID",
)
assert len(_NAMES) == N_COUNT
_NAME_BYTES = [name.encode("ascii") for name in _NAMES]

DEF SLOTS = 256  # open-addressing table of name codes, keyed by the scanner's FNV-1a hash
cdef int _slot_code[SLOTS]
cdef unsigned int _slot_hash[SLOTS]
cdef const unsigned char* _name_ptr[N_COUNT]
cdef Py_ssize_t _name_len[N_COUNT]


cdef void _init_names():
    cdef int code
    cdef unsigned int h, slot
    cdef bytes name
    for slot in range(SLOTS):
        _slot_code[slot] = 0
    for code in range(1, N_COUNT):
        name = _NAME_BYTES[code]
        _name_ptr[code] = <const unsigned char*>(<char*>name)
        _name_len[code] = len(name)
        h = name_hash(_name_ptr[code], len(name))
        slot = h % SLOTS
        while _slot_code[slot] != 0:
            slot = (slot + 1) % SLOTS
        _slot_code[slot] = code
        _slot_hash[slot] = h


_init_names()


# Content-model ranks (``_schema.ORDER_*``), by code; a missing name ranks COMMAND_RANK.
ctypedef int Ranks[N_COUNT]
cdef Ranks R_HDR, R_LOC, R_CRED, R_ITEM, R_ITEM_COMMAND, R_ALERT, R_EXEC, R_STATUS, R_RESULTS
cdef Ranks R_CONTAINER


cdef void _fill(int* ranks, dict order):
    cdef int code
    for code in range(N_COUNT):
        ranks[code] = order.get(_NAME_BYTES[code], share.COMMAND_RANK)


_fill(R_HDR, share.ORDER_HDR_B)
_fill(R_LOC, share.ORDER_LOC_B)
_fill(R_CRED, share.ORDER_CRED_B)
_fill(R_ITEM, share.ORDER_ITEM_B)
_fill(R_ITEM_COMMAND, share.ORDER_ITEM_COMMAND_B)
_fill(R_ALERT, share.ORDER_ALERT_B)
_fill(R_EXEC, share.ORDER_EXEC_B)
_fill(R_STATUS, share.ORDER_STATUS_B)
_fill(R_RESULTS, share.ORDER_RESULTS_B)
_fill(R_CONTAINER, share.ORDER_CONTAINER_B)
