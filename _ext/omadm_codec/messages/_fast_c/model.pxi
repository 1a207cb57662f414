# Included by _fast_c.pyx: the builder's way of making model objects.
#
# The one idea: the model classes are slotted dataclasses without ``__post_init__``, so an
# object is its type plus one pointer per field. Calling the class runs the generated
# ``__init__`` (argument parsing, keyword defaults, a descriptor store per field); a small
# message is dozens of such objects, a large part of its decode. ``_Shape.make`` allocates
# the object through its type and stores the fields straight into their slots, in the order
# of ``dataclasses.fields`` - the positional order the builder always passed. The layout is
# learnt at import from the member descriptors; a class that does not fit (a
# ``__post_init__``, a field that is not a plain slot, another allocator) is called as before.

import dataclasses

from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF


cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        int type
        Py_ssize_t offset
        int flags
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member
    object PyType_GenericAlloc(PyTypeObject* type, Py_ssize_t nitems)
    void* PyType_GetSlot(PyTypeObject* type, int slot)
    int Py_tp_alloc

cdef extern from "structmember.h":
    int T_OBJECT_EX   # what ``__slots__`` entries are
    int READONLY

cdef enum:
    _MAX_FIELDS = 16

_MemberDescriptor = type(Anchor.next)


@cython.final
cdef class _Shape:
    """How to make one model class: its type and the slot offset of each field."""
    cdef object cls
    cdef readonly bint direct   # the layout was learnt: make() fills slots, else calls cls
    cdef Py_ssize_t count
    cdef Py_ssize_t offsets[_MAX_FIELDS]

    def __cinit__(self, object cls):
        cdef PyMemberDef* member
        self.cls = cls
        self.direct = False
        names = [f.name for f in dataclasses.fields(cls) if f.init]
        if (len(names) != len(dataclasses.fields(cls)) or len(names) > _MAX_FIELDS
                or hasattr(cls, "__post_init__")
                or PyType_GetSlot(<PyTypeObject*>cls, Py_tp_alloc)
                != PyType_GetSlot(<PyTypeObject*>object, Py_tp_alloc)):
            return
        for i, name in enumerate(names):
            descriptor = getattr(cls, name, None)
            if type(descriptor) is not _MemberDescriptor:
                return
            member = (<PyMemberDescrObject*><PyObject*>descriptor).d_member
            if member.type != T_OBJECT_EX or member.flags & READONLY:
                return
            self.offsets[i] = member.offset
        self.count = len(names)
        self.direct = True

    cdef object make(self, tuple values):
        """``cls(*values)``, ``values`` holding every field in order."""
        cdef Py_ssize_t i
        cdef PyObject** slot
        if not self.direct or len(values) != self.count:
            return self.cls(*values)
        obj = PyType_GenericAlloc(<PyTypeObject*>self.cls, 0)
        for i in range(self.count):
            value = values[i]
            Py_INCREF(value)
            slot = <PyObject**>((<char*><PyObject*>obj) + self.offsets[i])
            slot[0] = <PyObject*>value  # a fresh object: every slot is still NULL
        return obj


cdef _Shape _MESSAGE = _Shape(Message)
cdef _Shape _SYNC_HDR = _Shape(SyncHdr)
cdef _Shape _TARGET = _Shape(Target)
cdef _Shape _SOURCE = _Shape(Source)
cdef _Shape _CRED = _Shape(Cred)
cdef _Shape _CHAL = _Shape(Chal)
cdef _Shape _META = _Shape(Meta)
cdef _Shape _META_EXTRA = _Shape(MetaExtra)
cdef _Shape _ANCHOR = _Shape(Anchor)
cdef _Shape _MEM = _Shape(Mem)
cdef _Shape _ITEM = _Shape(Item)
cdef _Shape _XML_DOCUMENT = _Shape(XmlDocument)
cdef _Shape _STATUS = _Shape(Status)
cdef _Shape _ALERT = _Shape(Alert)
cdef _Shape _EXEC = _Shape(Exec)
cdef _Shape _RESULTS = _Shape(Results)
cdef _Shape _ATOMIC = _Shape(Atomic)
cdef _Shape _SEQUENCE = _Shape(Sequence)
