# cython: language_level=3, boundscheck=False, wraparound=False
"""The model floor: the least work any decoder must do to hand back a given ``Message`` - make
its objects and lists and free them - with no input read at all (benchmarks/bench_model_floor.py).

A decoded message is flattened once into a post-order tape; ``Tape.build()`` replays it with a C
stack: each model object is allocated through its type and its slots filled straight from the
stack (what ``_fast_c``'s ``_Shape`` does, minus its checks), each list made at its final size.
Short strings, ints, enums and ``None`` are shared constants (the decoders' leaf table and small
ints give the same); strings and bytes longer than ``SHARED_MAX`` are copied fresh each time, as
a decoder must make them. Everything here is cheaper than or equal to what a decoder does, so the
replay time is a lower bound for ``decode`` of that message.
"""

import dataclasses

from cpython.object cimport PyObject, PyTypeObject
from cpython.list cimport PyList_New
from libc.stdlib cimport free, malloc

cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        int type
        Py_ssize_t offset
        int flags
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member
    object PyType_GenericAlloc(PyTypeObject* type, Py_ssize_t nitems)
    object PyUnicode_FromKindAndData(int kind, const void* buffer, Py_ssize_t size)
    int PyUnicode_KIND(object o)
    void* PyUnicode_DATA(object o)
    object PyBytes_FromStringAndSize(const char* v, Py_ssize_t n)
    char* PyBytes_AS_STRING(object o)
    void Py_INCREF(PyObject* o)
    void Py_XDECREF(PyObject* o)
    int PyGC_Enable()
    int PyGC_Disable()
    void _set_item "PyList_SET_ITEM"(object lst, Py_ssize_t i, PyObject* o)  # steals o

SHARED_MAX = 24  # the decoders' leaf table keeps strings up to this many bytes

cdef enum:
    OP_CONST = 0   # push a shared constant
    OP_STR = 1     # push a fresh copy of a str
    OP_BYTES = 2   # push a fresh copy of a bytes
    OP_LIST = 3    # pop n, push a list of them
    OP_OBJ = 4     # pop a shape's count, push a new object of its class
    MAX_FIELDS = 16

cdef class _Shape:
    cdef object cls
    cdef Py_ssize_t count
    cdef Py_ssize_t offsets[MAX_FIELDS]


cdef _Shape _shape_of(object cls):
    cdef _Shape shape = _Shape()
    cdef PyMemberDef* member
    fields = dataclasses.fields(cls)
    if len(fields) > MAX_FIELDS:
        raise ValueError(f"{cls.__name__}: too many fields")
    shape.cls = cls
    shape.count = len(fields)
    for i, f in enumerate(fields):
        descriptor = getattr(cls, f.name, None)
        if descriptor is None or type(descriptor).__name__ != "member_descriptor":
            raise ValueError(f"{cls.__name__}.{f.name} is not a plain slot")
        member = (<PyMemberDescrObject*><PyObject*>descriptor).d_member
        shape.offsets[i] = member.offset
    return shape


cdef class Tape:
    cdef int* ops
    cdef PyObject** args     # borrowed from self.keep
    cdef Py_ssize_t n, stack_max
    cdef list keep
    cdef readonly Py_ssize_t objects, lists, fresh  # what one build() makes

    def __cinit__(self):
        self.ops = NULL
        self.args = NULL

    def __dealloc__(self):
        free(self.ops)
        free(self.args)

    def __init__(self, object message):
        ops: list = []
        args: list = []
        shapes: dict = {}
        depth = [0, 0]  # current, max

        def push(op, arg, pops=0):
            ops.append(op)
            args.append(arg)
            depth[0] += 1 - pops
            depth[1] = max(depth[1], depth[0])

        def walk(value):
            kind = type(value)
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                fields = dataclasses.fields(value)
                for f in fields:
                    walk(getattr(value, f.name))
                shape = shapes.get(kind)
                if shape is None:
                    shape = shapes[kind] = _shape_of(kind)
                push(OP_OBJ, shape, len(fields))
                self.objects += 1
            elif kind is list:
                for item in value:
                    walk(item)
                push(OP_LIST, len(value), len(value))
                self.lists += 1
            elif kind is str and len(value.encode("utf-8")) > SHARED_MAX:
                push(OP_STR, value)
                self.fresh += 1
            elif kind is bytes and len(value) > SHARED_MAX:
                push(OP_BYTES, value)
                self.fresh += 1
            else:  # None, bool, int, enum, short str/bytes, tuple: immutable and shared
                push(OP_CONST, value)

        self.objects = self.lists = self.fresh = 0
        walk(message)
        self.keep = args
        self.n = len(ops)
        self.stack_max = depth[1]
        self.ops = <int*>malloc(self.n * sizeof(int))
        self.args = <PyObject**>malloc(self.n * sizeof(PyObject*))
        if self.ops == NULL or self.args == NULL:
            raise MemoryError()
        for i in range(self.n):
            self.ops[i] = ops[i]
            self.args[i] = <PyObject*>args[i]

    def build(self):
        """A new message equal to the one the tape was made from."""
        cdef PyObject** stack = <PyObject**>malloc(self.stack_max * sizeof(PyObject*))
        cdef Py_ssize_t top = 0, i, j, count
        cdef int op
        cdef PyObject* arg
        cdef _Shape shape
        cdef object made
        cdef int gc_was_enabled
        if stack == NULL:
            raise MemoryError()
        gc_was_enabled = PyGC_Disable()  # as the decoders do
        try:
            for i in range(self.n):
                op = self.ops[i]
                arg = self.args[i]
                if op == OP_CONST:
                    Py_INCREF(arg)
                    stack[top] = arg
                    top += 1
                    continue
                if op == OP_STR:
                    made = PyUnicode_FromKindAndData(
                        PyUnicode_KIND(<object>arg), PyUnicode_DATA(<object>arg), len(<str>arg))
                elif op == OP_BYTES:
                    made = PyBytes_FromStringAndSize(PyBytes_AS_STRING(<object>arg),
                                                     len(<bytes>arg))
                elif op == OP_LIST:
                    count = <Py_ssize_t><object>arg
                    made = PyList_New(count)
                    top -= count
                    for j in range(count):
                        _set_item(made, j, stack[top + j])  # the stack's reference moves into the list
                else:
                    shape = <_Shape>arg
                    made = PyType_GenericAlloc(<PyTypeObject*>shape.cls, 0)
                    top -= shape.count
                    for j in range(shape.count):  # the stack's reference moves into the slot
                        (<PyObject**>((<char*><PyObject*>made) + shape.offsets[j]))[0] = \
                            stack[top + j]
                Py_INCREF(<PyObject*>made)
                stack[top] = <PyObject*>made
                top += 1
            made = <object>stack[0]
            Py_XDECREF(stack[0])
            return made
        finally:
            if gc_was_enabled:
                PyGC_Enable()
            free(stack)
