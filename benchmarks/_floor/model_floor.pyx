# cython: language_level=3, boundscheck=False, wraparound=False
"""The model floor: the least work any decoder must do to hand back a given ``Message`` - make
its objects, lists and fresh strings, then (the caller) free them - with no input read at all
(``benchmarks/bench_model_floor.py`` times it beside ``messages.decode``).

A decoded message is flattened once into a post-order tape of C ops. ``Tape.build()`` replays it
on a preallocated C stack of references, with the cyclic GC disabled as the decoders disable it:

- a model object is allocated through its type (``PyType_GenericAlloc``, as ``_fast_c``'s
  ``_Shape.fill``) and its slots take the stack's references, with no checks; only classes
  that ``_Shape`` itself would fill directly are accepted (every field an ``__init__`` field
  and a writable ``T_OBJECT_EX`` slot, no ``__post_init__``, the default allocator);
- a list is made at its final size and takes the references of its items;
- a str or bytes longer than ``SHARED_MAX`` UTF-8 bytes is copied fresh (``PyUnicode_New`` of
  the original's kind and ``memcpy``, the decoders' cheapest path, which skips even the ASCII
  scan; ``PyBytes_FromStringAndSize``);
- everything else (``None``, bools, ints, enum members, shorter str and bytes) is a shared
  constant: one ``Py_INCREF``.

Each step costs at most what a decoder's matching step costs: the decoders make objects and
lists the same way (or through the class call, dearer), and where they share a value (the leaf
table keeps text up to ``SHARED_MAX`` bytes, CPython the small ints) a shared constant is the
same increment, while where they make one (an uncached leaf, an int above 256) the floor's
increment is cheaper. The floor reads no input and does no dispatch, checks or limits. So its
time is a lower bound for ``decode`` of that message into this model, whatever the format.
"""

import dataclasses
import enum
import types

from cpython.object cimport PyObject, PyTypeObject
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        int type
        Py_ssize_t offset
        int flags
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member
    # Raw new references (NULL with the exception set), so the stack owns them with no
    # Cython temporaries taking and dropping one more.
    PyObject* _alloc "PyType_GenericAlloc"(PyTypeObject* type, Py_ssize_t nitems) except NULL
    PyObject* _list_new "PyList_New"(Py_ssize_t size) except NULL
    PyObject* _unicode_new "PyUnicode_New"(Py_ssize_t size, Py_UCS4 maxchar) except NULL
    PyObject* _bytes_new "PyBytes_FromStringAndSize"(const char* v, Py_ssize_t n) except NULL
    void* _unicode_data "PyUnicode_DATA"(PyObject* o) noexcept
    Py_ssize_t _unicode_len "PyUnicode_GET_LENGTH"(PyObject* o) noexcept
    int _unicode_kind "PyUnicode_KIND"(PyObject* o) noexcept
    Py_UCS4 _unicode_max "PyUnicode_MAX_CHAR_VALUE"(PyObject* o) noexcept
    char* _bytes_data "PyBytes_AS_STRING"(PyObject* o) noexcept
    Py_ssize_t _bytes_len "PyBytes_GET_SIZE"(PyObject* o) noexcept
    void _list_set "PyList_SET_ITEM"(PyObject* lst, Py_ssize_t i, PyObject* o) noexcept  # steals
    void _incref "Py_INCREF"(PyObject* o) noexcept
    void _decref "Py_DECREF"(PyObject* o) noexcept
    void* PyType_GetSlot(PyTypeObject* type, int slot)
    int Py_tp_alloc
    int PyGC_Enable()
    int PyGC_Disable()

cdef extern from "structmember.h":
    int T_OBJECT_EX  # what ``__slots__`` entries are
    int READONLY

SHARED_MAX = 24  # _fast_c's LEAF_MAX: its leaf table keeps text up to this many bytes

cdef enum:
    OP_CONST = 0   # push a shared constant
    OP_STR = 1     # push a fresh copy of a str
    OP_BYTES = 2   # push a fresh copy of a bytes
    OP_LIST = 3    # pop n, push a list of them
    OP_OBJ = 4     # pop a shape's count, push a new object of its class
    MAX_FIELDS = 16


cdef class _Shape:
    """One model class: its type and the slot offset of each field, in field order."""
    cdef PyTypeObject* cls  # borrowed from keep_cls
    cdef object keep_cls
    cdef Py_ssize_t count
    cdef Py_ssize_t offsets[MAX_FIELDS]


cdef _Shape _shape_of(object cls):
    """The shape of ``cls``, which must be one ``_fast_c``'s ``_Shape`` fills directly."""
    cdef _Shape shape = _Shape()
    cdef PyMemberDef* member
    fields = dataclasses.fields(cls)
    if (len(fields) > MAX_FIELDS or not all(f.init for f in fields)
            or hasattr(cls, "__post_init__")
            or PyType_GetSlot(<PyTypeObject*>cls, Py_tp_alloc)
            != PyType_GetSlot(<PyTypeObject*>object, Py_tp_alloc)):
        raise ValueError(f"{cls.__name__}: not a class the decoders fill by slot")
    for i, f in enumerate(fields):
        descriptor = getattr(cls, f.name, None)
        if type(descriptor) is not types.MemberDescriptorType:
            raise ValueError(f"{cls.__name__}.{f.name} is not a slot")
        member = (<PyMemberDescrObject*><PyObject*>descriptor).d_member
        if member.type != T_OBJECT_EX or member.flags & READONLY:
            raise ValueError(f"{cls.__name__}.{f.name} is not a plain writable slot")
        shape.offsets[i] = member.offset
    shape.keep_cls = cls
    shape.cls = <PyTypeObject*>cls
    shape.count = len(fields)
    return shape


cdef class Tape:
    """A message flattened for ``build()``; ``objects``, ``lists`` and ``fresh`` (strings and
    bytes copied) count what one build makes."""
    cdef int* ops
    cdef Py_ssize_t* nums     # OP_LIST: item count; OP_OBJ: field count
    cdef PyObject** args      # borrowed from self.keep
    cdef PyTypeObject** types  # OP_OBJ: the class, borrowed from its _Shape in self.keep
    cdef Py_ssize_t** offsets  # OP_OBJ: the _Shape's slot offsets
    cdef PyObject** stack
    cdef Py_ssize_t n, stack_max
    cdef list keep
    cdef readonly Py_ssize_t objects, lists, fresh

    def __cinit__(self):
        self.ops = NULL
        self.nums = NULL
        self.args = NULL
        self.types = NULL
        self.offsets = NULL
        self.stack = NULL

    def __dealloc__(self):
        free(self.ops)
        free(self.nums)
        free(self.args)
        free(self.types)
        free(self.offsets)
        free(self.stack)

    def __init__(self, object message):
        ops: list = []
        nums: list = []
        args: list = []
        shapes: dict = {}
        depth = [0, 0]  # current, max
        counts = [0, 0, 0]  # objects, lists, fresh

        def push(op, arg, num=0):
            ops.append(op)
            nums.append(num)
            args.append(arg)
            depth[0] += 1 - num
            depth[1] = max(depth[1], depth[0])

        def walk(value):
            kind = type(value)
            if dataclasses.is_dataclass(kind):
                fields = dataclasses.fields(kind)
                for f in fields:
                    walk(getattr(value, f.name))
                shape = shapes.get(kind)
                if shape is None:
                    shape = shapes[kind] = _shape_of(kind)
                push(OP_OBJ, shape, len(fields))
                counts[0] += 1
            elif kind is list:
                for item in value:
                    walk(item)
                push(OP_LIST, None, len(value))
                counts[1] += 1
            elif kind is str and len(value.encode("utf-8")) > SHARED_MAX:
                push(OP_STR, value)
                counts[2] += 1
            elif kind is bytes and len(value) > SHARED_MAX:
                push(OP_BYTES, value)
                counts[2] += 1
            elif value is None or kind in (bool, int, str, bytes) or isinstance(value, enum.Enum):
                push(OP_CONST, value)  # immutable: one object serves every build
            else:  # a mutable or unknown value shared between builds would falsify the floor
                raise TypeError(f"no floor for a {kind.__name__}")

        walk(message)
        self.objects, self.lists, self.fresh = counts
        self.keep = args
        self.n = len(ops)
        self.stack_max = depth[1]
        self.ops = <int*>malloc(self.n * sizeof(int))
        self.nums = <Py_ssize_t*>malloc(self.n * sizeof(Py_ssize_t))
        self.args = <PyObject**>malloc(self.n * sizeof(PyObject*))
        self.types = <PyTypeObject**>malloc(self.n * sizeof(PyTypeObject*))
        self.offsets = <Py_ssize_t**>malloc(self.n * sizeof(Py_ssize_t*))
        self.stack = <PyObject**>malloc(self.stack_max * sizeof(PyObject*))
        if (self.ops == NULL or self.nums == NULL or self.args == NULL or self.types == NULL
                or self.offsets == NULL or self.stack == NULL):
            raise MemoryError()
        for i in range(self.n):
            self.ops[i] = ops[i]
            self.nums[i] = nums[i]
            self.args[i] = <PyObject*>args[i]
            self.types[i] = NULL
            self.offsets[i] = NULL
            if ops[i] == OP_OBJ:
                self.types[i] = (<_Shape>args[i]).cls
                self.offsets[i] = (<_Shape>args[i]).offsets

    def build(self):
        """A new message equal to the one the tape was made from."""
        cdef PyObject** stack = self.stack
        cdef Py_ssize_t top = 0, i, j, count
        cdef PyObject* arg
        cdef PyObject* made
        cdef PyObject** slots
        cdef int op
        cdef int kind
        cdef Py_ssize_t* offsets
        cdef int gc_was_enabled = PyGC_Disable()  # as the decoders: the model is acyclic
        try:
            for i in range(self.n):
                op = self.ops[i]
                arg = self.args[i]
                if op == OP_CONST:
                    _incref(arg)
                    made = arg
                elif op == OP_STR:
                    count = _unicode_len(arg)
                    kind = _unicode_kind(arg)
                    made = _unicode_new(count, _unicode_max(arg))
                    memcpy(_unicode_data(made), _unicode_data(arg), count * kind)
                elif op == OP_BYTES:
                    made = _bytes_new(_bytes_data(arg), _bytes_len(arg))
                elif op == OP_LIST:
                    count = self.nums[i]
                    made = _list_new(count)
                    top -= count
                    for j in range(count):  # the stack's reference moves into the list
                        _list_set(made, j, stack[top + j])
                else:
                    count = self.nums[i]
                    offsets = self.offsets[i]
                    made = _alloc(self.types[i], 0)  # every slot NULL
                    top -= count
                    for j in range(count):  # the stack's reference moves into the slot
                        slots = <PyObject**>((<char*>made) + offsets[j])
                        slots[0] = stack[top + j]
                stack[top] = made
                top += 1
        except BaseException:
            while top > 0:  # an allocation failed: drop what the stack still owns
                top -= 1
                _decref(stack[top])
            raise
        finally:
            if gc_was_enabled:
                PyGC_Enable()
        assert top == 1
        result = <object>stack[0]  # takes a reference of its own: drop the stack's
        _decref(stack[0])
        return result
