# Declarations of the compiled XML scanner (xmlscan_c.pyx -> omadm_codec.wbxml._xmlscan_c), for
# other Cython modules: `from omadm_codec.wbxml._xmlscan_c cimport Scanner, check_chars_c, EVENT_*`.
# Cython finds this file through _ext/omadm_codec/_xmlscan_c.pxd (the module's qualified name).
# Event fields are valid until the next next_event() call; text_ptr may point into scratch.

cimport cython
from cpython.object cimport PyObject

from omadm_codec.wbxml._xmlbuf cimport Buf

cdef enum:
    EVENT_EOF = 0
    EVENT_START = 1
    EVENT_END = 2
    EVENT_TEXT = 3
    EVENT_CDATA = 4
    EVENT_DOCTYPE = 5

cdef Py_ssize_t check_chars_c(const unsigned char* p, Py_ssize_t start,
                              Py_ssize_t end) except -2


@cython.final  # direct C calls, no vtable: compose, do not subclass
cdef class Scanner:
    cdef object data
    cdef const unsigned char* p
    cdef Py_ssize_t pos, end, max_depth, max_elements, max_text, elements, cap
    cdef readonly Py_ssize_t depth
    cdef Py_ssize_t* name_at
    cdef Py_ssize_t* name_len
    cdef list ns_frames
    cdef Py_ssize_t ns_top       # depth that pushed the last ns_frames entry
    cdef object cur_ns           # default namespace in effect
    cdef PyObject** ns_at        # default namespace of each open element (borrowed)
    cdef list ns_keep            # owns every default namespace ns_at points to
    cdef bint root_seen, root_done, pending_end, seen_doctype
    cdef Buf scratch
    cdef list pending_attrs       # start_tag scratch: raw attributes, xmlns="..." value
    cdef object pending_default
    cdef Py_ssize_t* attr_at      # names of the current tag's attributes (duplicate check)
    cdef Py_ssize_t* attr_len
    cdef Py_ssize_t* attr_slots   # hash table of index + 1 into attr_at, 0 = empty
    cdef Py_ssize_t nattr, attr_cap, slot_count
    # Event fields.
    cdef readonly Py_ssize_t offset
    """Byte offset of the event in the input (tag start, text run start, CDATA start)."""
    cdef const unsigned char* local_ptr
    cdef Py_ssize_t local_len
    cdef unsigned int local_hash   # FNV-1a (_xmlbuf.pxd) of the local name, after any prefix
    cdef object ns_uri
    cdef list attr_list          # namespaced attributes: (local, value, namespace URI)
    cdef Py_ssize_t plain_attrs  # unprefixed attributes other than xmlns (checked, not kept)
    cdef const unsigned char* text_ptr
    cdef Py_ssize_t text_len
    cdef readonly object fpi, sysid

    cdef int setup(self, bytes data, Py_ssize_t start, Py_ssize_t max_depth,
                   Py_ssize_t max_elements, Py_ssize_t max_text) except -1
    cdef void idle(self) noexcept
    cdef int next_event(self) except -1
    cdef object fail(self, str reason, Py_ssize_t offset)
    cdef int text_piece(self, Py_ssize_t pos, Py_ssize_t stop, int mode,
                        bint special) except -1
    cdef int add_normalised(self, Py_ssize_t i, Py_ssize_t stop) except -1
    cdef Py_ssize_t reference(self, Py_ssize_t amp, Py_ssize_t stop, Buf* out) except -1
    cdef int text_event(self, Py_ssize_t run_start, int mode) except -1
    cdef int cdata(self, Py_ssize_t pos) except -1
    cdef int skip_pi(self, Py_ssize_t pos) except -1
    cdef int doctype(self, Py_ssize_t pos) except -1
    cdef Py_ssize_t skip_ws(self, Py_ssize_t i, bint required) except -1
    cdef Py_ssize_t quoted(self, Py_ssize_t i, Py_ssize_t at, bint is_fpi) except -1
    cdef int start_tag(self, Py_ssize_t pos) except -1
    cdef Py_ssize_t parse_attrs(self, Py_ssize_t pos, Py_ssize_t i) except -1
    cdef object attr_value(self, Py_ssize_t k, bint cacheable, bint want=*)
    cdef int note_attribute(self, Py_ssize_t at, Py_ssize_t n) except -1
    cdef int rehash_attributes(self, Py_ssize_t at_least) except -1
    cdef list bind_namespaces(self, list attrs, Py_ssize_t depth, Py_ssize_t pos)
    cdef tuple resolve_prefixed(self, bytes qname, Py_ssize_t pos)
    cdef int resolve_element(self, Py_ssize_t start, Py_ssize_t stop, Py_ssize_t colon,
                             Py_ssize_t pos) except -1
    cdef int keep_namespace(self, object value) except -1
    cdef int push_name(self, Py_ssize_t at, Py_ssize_t length) except -1
    cdef int end_tag(self, Py_ssize_t pos) except -1
    cdef int pop_element(self, Py_ssize_t pos) except -1
    cdef int leaf_text(self) except -1
