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

cdef extern from "Python.h":
    void _incref "Py_INCREF"(PyObject* o) noexcept


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
    cdef tuple names
    cdef readonly bint direct   # the layout was learnt: make() fills slots, else calls cls
    cdef Py_ssize_t count
    cdef Py_ssize_t offsets[_MAX_FIELDS]

    def __cinit__(self, object cls):
        cdef PyMemberDef* member
        self.cls = cls
        self.direct = False
        names = [f.name for f in dataclasses.fields(cls) if f.init]
        self.names = tuple(names)
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
        cdef PyObject* v[_MAX_FIELDS]
        if not self.direct or len(values) != self.count:
            return self.cls(*values)
        for i in range(self.count):
            v[i] = <PyObject*>values[i]
        return self.fill(v, self.count)

    cdef inline object get(self, object obj, Py_ssize_t i):
        """Field ``i`` of ``obj`` (of this class, as made here), without the attribute
        lookup when ``direct``."""
        if not self.direct:
            return getattr(obj, self.names[i])
        return <object>(<PyObject**>((<char*><PyObject*>obj) + self.offsets[i]))[0]

    cdef inline object fill(self, PyObject** values, Py_ssize_t n):
        """A new object with its ``n`` slots from ``values`` (``direct`` and ``n == count``);
        the ``makeN`` below pass their arguments this way, with no tuple in between."""
        cdef Py_ssize_t i
        cdef PyObject** slot
        obj = PyType_GenericAlloc(<PyTypeObject*>self.cls, 0)
        for i in range(n):
            _incref(values[i])  # not Py_INCREF(<object>...): that takes and drops one more
            slot = <PyObject**>((<char*><PyObject*>obj) + self.offsets[i])
            slot[0] = values[i]  # a fresh object: every slot is still NULL
        return obj

    cdef object make1(self, object a):
        cdef PyObject* v[1]
        if not self.direct or self.count != 1:
            return self.cls(a)
        v[0] = <PyObject*>a
        return self.fill(v, 1)

    cdef object make2(self, object a, object b):
        cdef PyObject* v[2]
        if not self.direct or self.count != 2:
            return self.cls(a, b)
        v[0] = <PyObject*>a; v[1] = <PyObject*>b
        return self.fill(v, 2)

    cdef object make3(self, object a, object b, object c):
        cdef PyObject* v[3]
        if not self.direct or self.count != 3:
            return self.cls(a, b, c)
        v[0] = <PyObject*>a; v[1] = <PyObject*>b; v[2] = <PyObject*>c
        return self.fill(v, 3)

    cdef object make4(self, object a, object b, object c, object d):
        cdef PyObject* v[4]
        if not self.direct or self.count != 4:
            return self.cls(a, b, c, d)
        v[0] = <PyObject*>a; v[1] = <PyObject*>b; v[2] = <PyObject*>c; v[3] = <PyObject*>d
        return self.fill(v, 4)

    cdef object make5(self, object a, object b, object c, object d, object e):
        cdef PyObject* v[5]
        if not self.direct or self.count != 5:
            return self.cls(a, b, c, d, e)
        v[0] = <PyObject*>a; v[1] = <PyObject*>b; v[2] = <PyObject*>c; v[3] = <PyObject*>d
        v[4] = <PyObject*>e
        return self.fill(v, 5)

    cdef object make8(self, object a, object b, object c, object d, object e, object f,
                      object g, object h):
        cdef PyObject* v[8]
        if not self.direct or self.count != 8:
            return self.cls(a, b, c, d, e, f, g, h)
        v[0] = <PyObject*>a; v[1] = <PyObject*>b; v[2] = <PyObject*>c; v[3] = <PyObject*>d
        v[4] = <PyObject*>e; v[5] = <PyObject*>f; v[6] = <PyObject*>g; v[7] = <PyObject*>h
        return self.fill(v, 8)

    cdef object make10(self, object a, object b, object c, object d, object e, object f,
                       object g, object h, object i, object j):
        cdef PyObject* v[10]
        if not self.direct or self.count != 10:
            return self.cls(a, b, c, d, e, f, g, h, i, j)
        v[0] = <PyObject*>a; v[1] = <PyObject*>b; v[2] = <PyObject*>c; v[3] = <PyObject*>d
        v[4] = <PyObject*>e; v[5] = <PyObject*>f; v[6] = <PyObject*>g; v[7] = <PyObject*>h
        v[8] = <PyObject*>i; v[9] = <PyObject*>j
        return self.fill(v, 10)

    cdef object make13(self, object a, object b, object c, object d, object e, object f,
                       object g, object h, object i, object j, object k, object l, object m):
        cdef PyObject* v[13]
        if not self.direct or self.count != 13:
            return self.cls(a, b, c, d, e, f, g, h, i, j, k, l, m)
        v[0] = <PyObject*>a; v[1] = <PyObject*>b; v[2] = <PyObject*>c; v[3] = <PyObject*>d
        v[4] = <PyObject*>e; v[5] = <PyObject*>f; v[6] = <PyObject*>g; v[7] = <PyObject*>h
        v[8] = <PyObject*>i; v[9] = <PyObject*>j; v[10] = <PyObject*>k; v[11] = <PyObject*>l
        v[12] = <PyObject*>m
        return self.fill(v, 13)


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
assert _META.names[1] == "format"  # _META.get(meta, 1) in _Build.item
