# Included by wbxml_writer.pxi: the two reads the WBXML token writer does most, made cheap.
#
# 1. Model fields. The model classes are slotted dataclasses: every field is a member
#    descriptor at a fixed offset in the object. For an object whose class is exactly the
#    model class (checked by the caller, once per object), _tk_attr reads the slot at that
#    offset instead of going through the generic attribute lookup; any other object (a
#    subclass may override a field) gets the plain getattr. An unset slot reads as NULL and
#    takes getattr too, which raises the AttributeError the reference writer would.
# 2. Counting LFs in long text (memchr); the character check is _bad_xml_char, shared with
#    the XML writer.

from omadm_codec.messages.model import Anchor, Chal, Cred, Mem


cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member


cdef Py_ssize_t _tk_offset(type cls, str name) except -1:
    """The offset of slot ``name`` in instances of ``cls``."""
    for klass in cls.__mro__:
        descr = klass.__dict__.get(name)
        if descr is not None:
            if type(descr).__name__ != "member_descriptor":
                raise TypeError(f"{cls.__name__}.{name} is not a slot")
            return (<PyMemberDescrObject*>descr).d_member.offset
    raise TypeError(f"{cls.__name__} has no slot {name}")


cdef inline object _tk_attr(object obj, bint exact, Py_ssize_t offset, str name):
    """``obj.<name>``; ``exact``: obj's class is the model class the offset was taken from."""
    cdef PyObject* value
    if exact:
        value = (<PyObject**>((<char*><PyObject*>obj) + offset))[0]
        if value != NULL:
            return <object>value
    return getattr(obj, name)


cdef Py_ssize_t O_MSG_HEADER = _tk_offset(Message, "header")
cdef Py_ssize_t O_MSG_COMMANDS = _tk_offset(Message, "commands")
cdef Py_ssize_t O_MSG_FINAL = _tk_offset(Message, "final")
cdef Py_ssize_t O_HDR_SESSION_ID = _tk_offset(SyncHdr, "session_id")
cdef Py_ssize_t O_HDR_MSG_ID = _tk_offset(SyncHdr, "msg_id")
cdef Py_ssize_t O_HDR_TARGET = _tk_offset(SyncHdr, "target")
cdef Py_ssize_t O_HDR_SOURCE = _tk_offset(SyncHdr, "source")
cdef Py_ssize_t O_HDR_VER_DTD = _tk_offset(SyncHdr, "ver_dtd")
cdef Py_ssize_t O_HDR_VER_PROTO = _tk_offset(SyncHdr, "ver_proto")
cdef Py_ssize_t O_HDR_RESP_URI = _tk_offset(SyncHdr, "resp_uri")
cdef Py_ssize_t O_HDR_NO_RESP = _tk_offset(SyncHdr, "no_resp")
cdef Py_ssize_t O_HDR_CRED = _tk_offset(SyncHdr, "cred")
cdef Py_ssize_t O_HDR_META = _tk_offset(SyncHdr, "meta")
cdef Py_ssize_t O_CRED_DATA = _tk_offset(Cred, "data")
cdef Py_ssize_t O_CRED_META = _tk_offset(Cred, "meta")
cdef Py_ssize_t O_CHAL_META = _tk_offset(Chal, "meta")
cdef Py_ssize_t O_LOC_URI = _tk_offset(Target, "loc_uri")
cdef Py_ssize_t O_LOC_NAME = _tk_offset(Target, "loc_name")
cdef Py_ssize_t O_META_FIELD_LEVEL = _tk_offset(Meta, "field_level")
cdef Py_ssize_t O_META_FORMAT = _tk_offset(Meta, "format")
cdef Py_ssize_t O_META_TYPE = _tk_offset(Meta, "type")
cdef Py_ssize_t O_META_MARK = _tk_offset(Meta, "mark")
cdef Py_ssize_t O_META_SIZE = _tk_offset(Meta, "size")
cdef Py_ssize_t O_META_ANCHOR = _tk_offset(Meta, "anchor")
cdef Py_ssize_t O_META_VERSION = _tk_offset(Meta, "version")
cdef Py_ssize_t O_META_NEXT_NONCE = _tk_offset(Meta, "next_nonce")
cdef Py_ssize_t O_META_MAX_MSG_SIZE = _tk_offset(Meta, "max_msg_size")
cdef Py_ssize_t O_META_MAX_OBJ_SIZE = _tk_offset(Meta, "max_obj_size")
cdef Py_ssize_t O_META_EMI = _tk_offset(Meta, "emi")
cdef Py_ssize_t O_META_MEM = _tk_offset(Meta, "mem")
cdef Py_ssize_t O_META_EXTRA = _tk_offset(Meta, "extra")
cdef Py_ssize_t O_ANCHOR_NEXT = _tk_offset(Anchor, "next")
cdef Py_ssize_t O_ANCHOR_LAST = _tk_offset(Anchor, "last")
cdef Py_ssize_t O_MEM_FREE_MEM = _tk_offset(Mem, "free_mem")
cdef Py_ssize_t O_MEM_FREE_ID = _tk_offset(Mem, "free_id")
cdef Py_ssize_t O_MEM_SHARED_MEM = _tk_offset(Mem, "shared_mem")
cdef Py_ssize_t O_ITEM_TARGET = _tk_offset(Item, "target")
cdef Py_ssize_t O_ITEM_SOURCE = _tk_offset(Item, "source")
cdef Py_ssize_t O_ITEM_SOURCE_PARENT = _tk_offset(Item, "source_parent")
cdef Py_ssize_t O_ITEM_TARGET_PARENT = _tk_offset(Item, "target_parent")
cdef Py_ssize_t O_ITEM_META = _tk_offset(Item, "meta")
cdef Py_ssize_t O_ITEM_DATA = _tk_offset(Item, "data")
cdef Py_ssize_t O_ITEM_MORE_DATA = _tk_offset(Item, "more_data")
cdef Py_ssize_t O_ITEM_DATA_HINT = _tk_offset(Item, "data_hint")
# Commands: each class's own offsets (Add ... Replace share _ItemCommand's, Atomic and
# Sequence _Container's).
cdef Py_ssize_t O_IC_CMD_ID = _tk_offset(_ItemCommand, "cmd_id")
cdef Py_ssize_t O_IC_ITEMS = _tk_offset(_ItemCommand, "items")
cdef Py_ssize_t O_IC_META = _tk_offset(_ItemCommand, "meta")
cdef Py_ssize_t O_IC_NO_RESP = _tk_offset(_ItemCommand, "no_resp")
cdef Py_ssize_t O_ST_CMD_ID = _tk_offset(Status, "cmd_id")
cdef Py_ssize_t O_ST_MSG_REF = _tk_offset(Status, "msg_ref")
cdef Py_ssize_t O_ST_CMD_REF = _tk_offset(Status, "cmd_ref")
cdef Py_ssize_t O_ST_CMD = _tk_offset(Status, "cmd")
cdef Py_ssize_t O_ST_DATA = _tk_offset(Status, "data")
cdef Py_ssize_t O_ST_TARGET_REFS = _tk_offset(Status, "target_refs")
cdef Py_ssize_t O_ST_SOURCE_REFS = _tk_offset(Status, "source_refs")
cdef Py_ssize_t O_ST_CHAL = _tk_offset(Status, "chal")
cdef Py_ssize_t O_ST_ITEMS = _tk_offset(Status, "items")
cdef Py_ssize_t O_ST_NO_RESP = _tk_offset(Status, "no_resp")
cdef Py_ssize_t O_AL_CMD_ID = _tk_offset(Alert, "cmd_id")
cdef Py_ssize_t O_AL_DATA = _tk_offset(Alert, "data")
cdef Py_ssize_t O_AL_CORRELATOR = _tk_offset(Alert, "correlator")
cdef Py_ssize_t O_AL_ITEMS = _tk_offset(Alert, "items")
cdef Py_ssize_t O_AL_NO_RESP = _tk_offset(Alert, "no_resp")
cdef Py_ssize_t O_RS_CMD_ID = _tk_offset(Results, "cmd_id")
cdef Py_ssize_t O_RS_CMD_REF = _tk_offset(Results, "cmd_ref")
cdef Py_ssize_t O_RS_ITEMS = _tk_offset(Results, "items")
cdef Py_ssize_t O_RS_MSG_REF = _tk_offset(Results, "msg_ref")
cdef Py_ssize_t O_RS_META = _tk_offset(Results, "meta")
cdef Py_ssize_t O_RS_TARGET_REF = _tk_offset(Results, "target_ref")
cdef Py_ssize_t O_RS_SOURCE_REF = _tk_offset(Results, "source_ref")
cdef Py_ssize_t O_RS_NO_RESP = _tk_offset(Results, "no_resp")
cdef Py_ssize_t O_EX_CMD_ID = _tk_offset(Exec, "cmd_id")
cdef Py_ssize_t O_EX_ITEMS = _tk_offset(Exec, "items")
cdef Py_ssize_t O_EX_META = _tk_offset(Exec, "meta")
cdef Py_ssize_t O_EX_CORRELATOR = _tk_offset(Exec, "correlator")
cdef Py_ssize_t O_EX_NO_RESP = _tk_offset(Exec, "no_resp")
cdef Py_ssize_t O_CT_CMD_ID = _tk_offset(_Container, "cmd_id")
cdef Py_ssize_t O_CT_COMMANDS = _tk_offset(_Container, "commands")
cdef Py_ssize_t O_CT_META = _tk_offset(_Container, "meta")
cdef Py_ssize_t O_CT_NO_RESP = _tk_offset(_Container, "no_resp")
assert _tk_offset(Source, "loc_uri") == O_LOC_URI and _tk_offset(Source, "loc_name") == O_LOC_NAME


cdef Py_ssize_t _tk_count_lf(const unsigned char* s, Py_ssize_t n) noexcept:
    cdef Py_ssize_t count = 0, i = 0
    cdef const unsigned char* hit
    while i < n:
        hit = <const unsigned char*>memchr(s + i, 0x0A, n - i)
        if hit == NULL:
            break
        count += 1
        i = hit - s + 1
    return count
