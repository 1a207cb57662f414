"""Management-tree URIs, compiled twin of ``omadm_codec/_uri_py.py`` (same names, same results).

The one idea: one left-to-right scan over the URI text classifies each segment; a segment of
plain ASCII pchars is sliced out as-is (the common case, no copy of the rules in Python), and
only a segment with ``%`` escapes or non-ASCII characters takes the slow decoding path, written
to mirror the pure twin step by step so both raise the same first error. ``resolve`` walks the
node dicts while it parses, but reports a missing node only after the whole URI has been
checked, exactly as the pure twin (parse first, then walk) does.
"""

cimport cython

from omadm_codec._uri_py import SEGMENT_SAFE, ParsedUri
from omadm_codec.errors import NodeNotFound, PermissionDenied, TreeAddressError

# 1 when the ASCII code point may stand unescaped in a segment (pchar minus "%", plus ".").
cdef unsigned char SAFE_TABLE[128]
for _safe_char in SEGMENT_SAFE:
    SAFE_TABLE[ord(_safe_char)] = 1

cdef str _HEX = "0123456789abcdefABCDEF"
cdef str _STRIP = " \t\r\n"


cdef inline bint _is_bad_code(Py_UCS4 ch):
    # C0 controls, DEL, C1 controls and lone surrogates are never part of a name.
    return ch < 0x20 or (0x7F <= ch < 0xA0) or (0xD800 <= ch <= 0xDFFF)


def escape_segment(str name):
    """The canonical escaped form of one decoded node name."""
    cdef Py_UCS4 ch
    cdef bint plain = True
    for ch in name:
        if ch >= 128 or not SAFE_TABLE[<Py_ssize_t>ch]:
            plain = False
            break
    if plain:
        return name
    out = []
    for ch in name:
        if ch < 128 and SAFE_TABLE[<Py_ssize_t>ch]:
            out.append(ch)
        else:
            for byte in chr(ch).encode("utf-8"):
                out.append("%%%02X" % byte)
    return "".join(out)


def format_uri(segments):
    """``.`` for the root, else ``./`` followed by the escaped names joined by ``/``."""
    if not segments:
        return "."
    return "./" + "/".join([escape_segment(name) for name in segments])


cdef str _decode_slow(str raw, Py_ssize_t index, str uri):
    cdef Py_ssize_t length = len(raw)
    cdef Py_ssize_t pos = 0
    cdef Py_UCS4 ch
    if raw == "." or raw == "..":
        raise TreeAddressError("dot_segment", index, uri)
    while pos < length:
        ch = raw[pos]
        if ch == "%":
            if pos + 2 >= length:
                raise TreeAddressError("bad_escape", index, uri)
            if raw[pos + 1] not in _HEX or raw[pos + 2] not in _HEX:
                raise TreeAddressError("bad_escape", index, uri)
            pos += 3
            continue
        if ch >= 128 or not SAFE_TABLE[<Py_ssize_t>ch]:
            if ch < 0xA0 or 0xD800 <= ch <= 0xDFFF:
                raise TreeAddressError("bad_char", index, uri)
        pos += 1
    cdef bytearray data = bytearray()
    pos = 0
    while pos < length:
        ch = raw[pos]
        if ch == "%":
            data.append(int(raw[pos + 1:pos + 3], 16))
            pos += 3
        else:
            data += chr(ch).encode("utf-8")
            pos += 1
    cdef str name
    try:
        name = data.decode("utf-8")
    except UnicodeDecodeError:
        raise TreeAddressError("bad_utf8", index, uri) from None
    for ch in name:
        if ch < 0x20 or 0x7F <= ch < 0xA0:
            raise TreeAddressError("bad_char", index, uri)
        if ch == "/":
            raise TreeAddressError("slash_in_name", index, uri)
    if name == "." or name == "..":
        raise TreeAddressError("dot_segment", index, uri)
    return name


@cython.boundscheck(False)
@cython.wraparound(False)
cdef str _next_name(str path, Py_ssize_t start, Py_ssize_t index, Py_ssize_t max_depth,
                    Py_ssize_t max_seg_len, str uri, Py_ssize_t* end):
    # Indexing is unchecked: every read is at a position below n = len(path).
    cdef Py_ssize_t n = len(path)
    cdef Py_ssize_t pos = start
    cdef Py_UCS4 ch
    cdef bint slow = False
    cdef str name
    if start == n or path[start] == "/":
        if index == 0:
            raise TreeAddressError("leading_slash", 0, uri)
        raise TreeAddressError("trailing_slash" if start == n else "empty_segment", index, uri)
    while pos < n:
        ch = path[pos]
        if ch == "/":
            break
        if ch >= 128 or not SAFE_TABLE[<Py_ssize_t>ch]:
            slow = True
        pos += 1
    end[0] = pos
    if max_depth and index >= max_depth:
        raise TreeAddressError("too_deep", index, uri, status=414)
    name = path[start:pos]
    if slow:
        name = _decode_slow(name, index, uri)
    elif (pos - start == 1 and path[start] == ".") or (
        pos - start == 2 and path[start] == "." and path[start + 1] == "."
    ):
        raise TreeAddressError("dot_segment", index, uri)
    if max_seg_len and len(name) > max_seg_len:
        raise TreeAddressError("segment_too_long", index, uri, status=414)
    return name


cdef inline bint _letters(str word):
    return word.isascii() and word.isalpha()


cdef tuple _parse_query(str query, str uri):
    cdef Py_ssize_t cut, pos
    cdef str body, kind, rest, sign, name
    if query.startswith("prop="):
        name = query[5:]
        if not _letters(name):
            raise TreeAddressError("bad_query", -1, uri)
        return (name, None, "", ())
    if query.startswith("list="):
        body = query[5:]
        cut = len(body)
        for pos in range(len(body)):
            if body[pos] == "+" or body[pos] == "-":
                cut = pos
                break
        kind = body[:cut]
        if not _letters(kind):
            raise TreeAddressError("bad_query", -1, uri)
        rest = body[cut:]
        if not rest:
            return (None, kind, "", ())
        sign = rest[0]
        names = rest[1:].replace("+" if sign == "-" else "-", "\0").split(sign)
        for name in names:
            if not _letters(name):
                raise TreeAddressError("bad_query", -1, uri)
        return (None, kind, sign, tuple(names))
    raise TreeAddressError("bad_query", -1, uri)


cdef tuple _parse_path(str text, str path, str uri, Py_ssize_t max_depth, Py_ssize_t max_seg_len):
    cdef Py_ssize_t start = 0
    cdef Py_ssize_t end = 0
    cdef Py_ssize_t index = 0
    cdef Py_ssize_t n
    if path == ".":
        return ()
    if path.startswith("./"):
        path = path[2:]
    n = len(path)
    if n == 0:
        raise TreeAddressError("trailing_slash" if text.startswith("./") else "empty_uri", 0, uri)
    names = []
    while True:
        names.append(_next_name(path, start, index, max_depth, max_seg_len, uri, &end))
        if end >= n:
            break
        start = end + 1
        index += 1
    return tuple(names)


def parse_uri(uri, Py_ssize_t max_depth=0, Py_ssize_t max_tot_len=0, Py_ssize_t max_seg_len=0):
    """Parse and check ``uri``; raise ``TreeAddressError`` (400/414) on the first problem."""
    if not isinstance(uri, str):
        raise TypeError("uri must be str")
    cdef str text = (<str>uri).strip(_STRIP)
    if max_tot_len and len(text) > max_tot_len:
        raise TreeAddressError("uri_too_long", -1, uri, status=414)
    cdef Py_ssize_t mark = text.find("?")
    cdef str path = text if mark < 0 else text[:mark]
    cdef tuple segments = _parse_path(text, path, uri, max_depth, max_seg_len)
    if mark >= 0:
        prop, list_kind, list_sign, list_props = _parse_query(text[mark + 1:], uri)
        return ParsedUri(segments, prop, list_kind, list_sign, list_props)
    return ParsedUri(segments)


def normalize_uri(uri, Py_ssize_t max_depth=0, Py_ssize_t max_tot_len=0,
                  Py_ssize_t max_seg_len=0):
    """The canonical text of ``uri`` (``.`` or ``./a/b``, names re-escaped, query kept)."""
    parsed = parse_uri(uri, max_depth, max_tot_len, max_seg_len)
    text = format_uri(parsed.segments)
    if parsed.prop is not None:
        return f"{text}?prop={parsed.prop}"
    if parsed.list_kind is not None:
        props = "".join([parsed.list_sign + name for name in parsed.list_props])
        return f"{text}?list={parsed.list_kind}{props}"
    return text


def check_name(name, Py_ssize_t max_seg_len=0):
    """Check a decoded node name (a rename, a TNDS NodeName); return it or raise 400/414."""
    if not isinstance(name, str):
        raise TypeError("name must be str")
    cdef Py_UCS4 ch
    if not name:
        raise TreeAddressError("empty_segment", 0, name)
    for ch in <str>name:
        if ch == "/":
            raise TreeAddressError("slash_in_name", 0, name)
        if _is_bad_code(ch):
            raise TreeAddressError("bad_char", 0, name)
    if name == "." or name == "..":
        raise TreeAddressError("dot_segment", 0, name)
    if max_seg_len and len(name) > max_seg_len:
        raise TreeAddressError("segment_too_long", 0, name, status=414)
    return name


def acl_grants(acl, str command, str server_id):
    """Whether the parsed ACL ``acl`` (an ``Acl``) grants ``command`` to ``server_id``."""
    ids = (<dict?>acl.grants).get(command)
    return ids is not None and ("*" in ids or server_id in ids)


@cython.boundscheck(False)
@cython.wraparound(False)
def resolve(root, uri, str command, str server_id, Py_ssize_t max_depth=0,
            Py_ssize_t max_tot_len=0, Py_ssize_t max_seg_len=0):
    """Parse ``uri``, find its node under ``root``, check ``command`` in its effective ACL.

    Same contract as the pure twin: returns ``(node, parsed)`` with ``parsed`` None when the
    URI has no query; raises 400/414, then 404 (first missing name), then 425, in that order.
    """
    if not isinstance(uri, str):
        raise TypeError("uri must be str")
    cdef str text = (<str>uri).strip(_STRIP)
    if max_tot_len and len(text) > max_tot_len:
        raise TreeAddressError("uri_too_long", -1, uri, status=414)
    cdef Py_ssize_t mark = text.find("?")
    cdef str path = text if mark < 0 else text[:mark]
    cdef str whole_path = path
    cdef Py_ssize_t start = 0
    cdef Py_ssize_t end = 0
    cdef Py_ssize_t index = 0
    cdef Py_ssize_t missing = -1
    cdef Py_ssize_t n
    cdef str name
    cdef object node = root
    cdef object acl = root.acl
    cdef object child, children, child_acl
    if path != ".":
        if path.startswith("./"):
            path = path[2:]
        n = len(path)
        if n == 0:
            raise TreeAddressError(
                "trailing_slash" if text.startswith("./") else "empty_uri", 0, uri)
        while True:
            name = _next_name(path, start, index, max_depth, max_seg_len, uri, &end)
            if missing < 0:
                children = node.children
                child = (<dict?>children).get(name) if children is not None else None
                if child is None:
                    missing = index
                else:
                    node = child
                    child_acl = node.acl
                    if child_acl is not None:
                        acl = child_acl
            if end >= n:
                break
            start = end + 1
            index += 1
    parsed = None
    if mark >= 0:
        prop, list_kind, list_sign, list_props = _parse_query(text[mark + 1:], uri)
        parsed = ParsedUri(_parse_path(text, whole_path, uri, max_depth, max_seg_len),
                           prop, list_kind, list_sign, list_props)
    if missing >= 0:
        raise NodeNotFound("not_found", missing, uri)
    ids = (<dict?>acl.grants).get(command)
    if ids is None or ("*" not in ids and server_id not in ids):
        raise PermissionDenied("acl", uri)
    if parsed is not None and parsed.prop is None and parsed.list_kind is None:
        return node, None
    return node, parsed
