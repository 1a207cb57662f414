"""Management-tree URIs on both twins: spec and interop cases, limits, and a differential test."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omadm_codec.errors import NodeNotFound, PermissionDenied, TreeAddressError
from omadm_codec.tree import DMTree

VALID = [
    (".", ()),
    ("./A", ("A",)),
    ("A", ("A",)),
    ("A/B/C", ("A", "B", "C")),
    ("./Vendor/MSFT/Policy", ("Vendor", "MSFT", "Policy")),
    ("./A/b%20c", ("A", "b c")),
    ("./A/%C3%A4", ("A", "ä")),
    ("./A/ä", ("A", "ä")),  # raw non-ASCII is accepted and means the same name
    ("./A/x.y", ("A", "x.y")),  # "." inside a name (Windows)
    ("./A/...", ("A", "...")),
    (" ./A\n", ("A",)),  # Q6: whitespace around a LocURI
    ("\t./A/B \r\n", ("A", "B")),
    ("./a/A", ("a", "A")),  # case is kept: names are case-sensitive
    ("./A/%2e%2e%2e", ("A", "...")),
    ("./A/*", ("A", "*")),
    ("./A/:@&=+$,", ("A", ":@&=+$,")),
]

INVALID = [
    ("", "empty_uri", 0, 400),
    ("   ", "empty_uri", 0, 400),
    ("./", "trailing_slash", 0, 400),
    ("/A", "leading_slash", 0, 400),  # Q7: LocURI may not start with "/"
    ("/", "leading_slash", 0, 400),
    (".//A", "leading_slash", 0, 400),
    ("A/", "trailing_slash", 1, 400),
    ("./A/B/", "trailing_slash", 2, 400),
    ("A//B", "empty_segment", 1, 400),
    ("A/../B", "dot_segment", 1, 400),
    ("../A", "dot_segment", 0, 400),
    ("./A/.", "dot_segment", 1, 400),
    ("././A", "dot_segment", 0, 400),
    ("A/%2E%2E", "dot_segment", 1, 400),
    ("A/%2F", "slash_in_name", 1, 400),  # "/" can never be part of a name
    ("A/x%2fy", "slash_in_name", 1, 400),
    ("A/%2", "bad_escape", 1, 400),
    ("A/%zz", "bad_escape", 1, 400),
    ("A/%", "bad_escape", 1, 400),
    ("A/%FF", "bad_utf8", 1, 400),
    ("A/%C3", "bad_utf8", 1, 400),
    ("A B", "bad_char", 0, 400),  # inner whitespace
    ("A/B\tC", "bad_char", 1, 400),
    ("A/%00", "bad_char", 1, 400),
    ("A/#", "bad_char", 1, 400),
    ("A/<x>", "bad_char", 1, 400),
    ("A/\x85", "bad_char", 1, 400),
    ("A?x", "bad_query", -1, 400),
    ("A?", "bad_query", -1, 400),
    ("A?prop=", "bad_query", -1, 400),
    ("A?prop=AC L", "bad_query", -1, 400),
    ("A?list=", "bad_query", -1, 400),
    ("A?list=TNDS+", "bad_query", -1, 400),
    ("A?list=TNDS+Value-ACL", "bad_query", -1, 400),  # "+" and "-" cannot be mixed
    ("A/B?list=TNDS++ACL", "bad_query", -1, 400),
    ("A/../B?prop=x x", "dot_segment", 1, 400),  # the path is checked before the query
]


def _outcome(func: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return func(*args, **kwargs)
    except TreeAddressError as exc:
        return (type(exc).__name__, exc.reason, exc.segment, exc.status)


@pytest.mark.parametrize(("uri", "segments"), VALID)
def test_valid(backend: Any, uri: str, segments: tuple[str, ...]) -> None:
    parsed = backend.parse_uri(uri)
    assert parsed.segments == segments
    assert parsed.prop is None and parsed.list_kind is None


@pytest.mark.parametrize(("uri", "reason", "segment", "status"), INVALID)
def test_invalid(backend: Any, uri: str, reason: str, segment: int, status: int) -> None:
    with pytest.raises(TreeAddressError) as info:
        backend.parse_uri(uri)
    assert (info.value.reason, info.value.segment, info.value.status) == (reason, segment, status)


def test_queries(backend: Any) -> None:
    parsed = backend.parse_uri("./DMAcc/xyzInc?prop=ACL")
    assert parsed.segments == ("DMAcc", "xyzInc") and parsed.prop == "ACL"
    parsed = backend.parse_uri("./Vendor?list=TNDS+Value+ACL")
    assert (parsed.list_kind, parsed.list_sign, parsed.list_props) == (
        "TNDS",
        "+",
        ("Value", "ACL"),
    )
    parsed = backend.parse_uri(".?list=TNDS-Format")
    assert (parsed.segments, parsed.list_sign, parsed.list_props) == ((), "-", ("Format",))
    parsed = backend.parse_uri("A?list=Struct")
    assert (parsed.list_kind, parsed.list_sign, parsed.list_props) == ("Struct", "", ())


@pytest.mark.parametrize(
    ("uri", "normal"),
    [
        (".", "."),
        ("A", "./A"),
        ("./A/B", "./A/B"),
        ("A/%41%62", "./A/Ab"),  # needless escapes are dropped
        ("A/b c".replace(" ", "%20"), "./A/b%20c"),
        ("A/ä", "./A/%C3%A4"),  # non-ASCII is escaped as UTF-8 bytes, upper-case hex
        ("A/%c3%a4", "./A/%C3%A4"),
        ("A/100%25", "./A/100%25"),
        (" A?prop=ACL ", "./A?prop=ACL"),
        ("A?list=TNDS+Value+ACL", "./A?list=TNDS+Value+ACL"),
    ],
)
def test_normalize(backend: Any, uri: str, normal: str) -> None:
    assert backend.normalize_uri(uri) == normal
    assert backend.normalize_uri(normal) == normal  # idempotent


def test_limits(backend: Any) -> None:
    parse = backend.parse_uri
    assert parse("./A/B/C", max_depth=3).segments == ("A", "B", "C")
    assert _outcome(parse, "./A/B/C/D", max_depth=3) == ("TreeAddressError", "too_deep", 3, 414)
    # MaxTotLen counts every character of the URI, "./" and the query included.
    assert parse("./ABC", max_tot_len=5).segments == ("ABC",)
    assert _outcome(parse, "./ABCD", max_tot_len=5) == ("TreeAddressError", "uri_too_long", -1, 414)
    assert _outcome(parse, "./A?prop=ACL", max_tot_len=11)[1] == "uri_too_long"
    # MaxSegLen counts characters of the decoded name.
    assert parse("./ABCD/%C3%A4%C3%A4", max_seg_len=4).segments == ("ABCD", "ää")
    assert _outcome(parse, "./A/ABCDE", max_seg_len=4) == (
        "TreeAddressError",
        "segment_too_long",
        1,
        414,
    )
    # 0 means unlimited.
    long_uri = "./" + "/".join(["x" * 300] * 300)
    assert len(parse(long_uri, 0, 0, 0).segments) == 300
    # The first problem left to right wins: a bad segment 1 before a too-deep segment 2.
    assert _outcome(parse, "./A/%zz/C/D", max_depth=2) == ("TreeAddressError", "bad_escape", 1, 400)
    assert _outcome(parse, "./A/B/%zz", max_depth=2) == ("TreeAddressError", "too_deep", 2, 414)


def test_check_name(backend: Any) -> None:
    assert backend.check_name("a b") == "a b"
    for name, reason in (
        ("", "empty_segment"),
        ("a/b", "slash_in_name"),
        ("..", "dot_segment"),
        ("a\x00", "bad_char"),
    ):
        assert _outcome(backend.check_name, name)[1] == reason
    assert _outcome(backend.check_name, "abcd", 3)[1:] == ("segment_too_long", 0, 414)


def test_escape_roundtrip(backend: Any) -> None:
    for name in ("plain", "a b", "ä/ö".replace("/", ""), "100%", "x?y", "#"):
        assert backend.parse_uri("./" + backend.escape_segment(name)).segments == (name,)


def test_non_str_refused(backend: Any) -> None:
    with pytest.raises(TypeError):
        backend.parse_uri(b"./A")


def _small_tree(uri_module: Any) -> DMTree:
    tree = DMTree(uri_backend=uri_module)
    tree.device_add("./A/B/c%20d", "1")
    tree.device_add("./A/ä", "2")
    tree.device_add("./P/Q", "3", acl="Get=srv2")
    return tree


def test_resolve(backend: Any) -> None:
    tree = _small_tree(backend.modules["tree._uri"])
    resolve = backend.resolve
    node, query = resolve(tree.root, "./A/B/c%20d", "Get", "srv")
    assert node.value == "1" and query is None
    node, query = resolve(tree.root, "A/%C3%A4?prop=ACL", "Get", "srv")
    assert node.value == "2" and query.prop == "ACL"
    with pytest.raises(NodeNotFound) as info:
        resolve(tree.root, "./A/X/Y", "Get", "srv")
    assert (info.value.segment, info.value.status) == (1, 404)
    with pytest.raises(NodeNotFound) as info:
        resolve(tree.root, "./A/B/c%20d/e", "Get", "srv")  # below a leaf
    assert info.value.segment == 3
    with pytest.raises(PermissionDenied):
        resolve(tree.root, "./P/Q", "Get", "srv")
    assert resolve(tree.root, "./P/Q", "Get", "srv2")[0].value == "3"
    with pytest.raises(PermissionDenied):
        resolve(tree.root, "./A", "Replace", "srv")  # root ACL: Add=*&Get=*
    # A syntax error after a missing segment still wins: the URI is checked first.
    with pytest.raises(TreeAddressError) as info:
        resolve(tree.root, "./X/%zz", "Get", "srv")
    assert info.value.reason == "bad_escape"


# Differential: random URIs over an alphabet that reaches every branch of the parser.
_ALPHABET = st.sampled_from(
    list("aZ09./%?=+-&*:~ \t\n#\x00")
    + [
        "%2F",
        "%2e",
        "%C3",
        "%A4",
        "%zz",
        "ä",
        "\x85",
        "\ud800",
        "prop=",
        "list=",
        "TNDS",
        "ACL",
        "./",
        "../",
        "//",
        # names of the small tree, so lookups, 404s and ACL checks are reached too
        "./A",
        "/B",
        "/c%20d",
        "P",
        "/Q",
        "/%C3%A4",
    ]
)
URIS = st.lists(_ALPHABET, max_size=24).map("".join)
# Well-formed URIs over the small tree's names: found nodes, 404s, 425s and the limits.
STRUCTURED = st.builds(
    lambda prefix, names, query: (prefix + "/".join(names) if names else ".") + query,
    st.sampled_from(["", "./", " ./"]),
    st.lists(st.sampled_from(["A", "B", "c%20d", "%C3%A4", "P", "Q", "X"]), max_size=4),
    st.sampled_from(["", "", "?prop=ACL", "?list=TNDS+Value", "?list=Struct-ACL"]),
)
LIMITS = st.tuples(st.integers(0, 6), st.integers(0, 30), st.integers(0, 6))


def _result(module: Any, func: str, *args: Any) -> Any:
    try:
        return ("ok", getattr(module, func)(*args))
    except (TreeAddressError, PermissionDenied) as exc:
        return (type(exc).__name__, exc.reason, getattr(exc, "segment", None), exc.status)
    except (UnicodeError, TypeError) as exc:
        return ("py-error", type(exc).__name__)


@settings(max_examples=3000, deadline=None)
@given(uri=URIS, limits=LIMITS)
def test_differential_parse(both_backends: Any, uri: str, limits: tuple[int, int, int]) -> None:
    compiled, pure = (b.modules["tree._uri"] for b in both_backends)
    for func in ("parse_uri", "normalize_uri"):
        assert _result(compiled, func, uri, *limits) == _result(pure, func, uri, *limits)


@settings(max_examples=1500, deadline=None)
@given(uri=URIS | STRUCTURED, limits=LIMITS, command=st.sampled_from(["Get", "Replace"]))
def test_differential_resolve(
    both_backends: Any, uri: str, limits: tuple[int, int, int], command: str
) -> None:
    compiled, pure = (b.modules["tree._uri"] for b in both_backends)
    # Each twin walks the node type it is deployed with (compiled: C-struct NodeBase fields),
    # and the compiled twin also walks plain Python nodes.

    def run(module: Any, tree: DMTree) -> Any:
        got = _result(module, "resolve", tree.root, uri, command, "srv", *limits)
        if got[0] == "ok":  # nodes of different trees: compare where they are
            return ("ok", got[1][0].path(), got[1][1])
        return got

    own = [run(m, _small_tree(m)) for m in (compiled, pure)]
    assert own[0] == own[1] == run(compiled, _small_tree(pure))


@settings(max_examples=500, deadline=None)
@given(names=st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=4))
def test_differential_names(both_backends: Any, names: list[str]) -> None:
    compiled, pure = (b.modules["tree._uri"] for b in both_backends)
    for name in names:
        assert _result(compiled, "check_name", name) == _result(pure, "check_name", name)
        if _result(pure, "check_name", name)[0] == "ok":
            uri = compiled.format_uri(names[:1] + [name])
            assert uri == pure.format_uri(names[:1] + [name])
            if all(_result(pure, "check_name", n)[0] == "ok" for n in names[:1]):
                assert pure.parse_uri(uri).segments == (names[0], name)
                assert compiled.parse_uri(uri).segments == (names[0], name)
