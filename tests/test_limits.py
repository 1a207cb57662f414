"""One test per row of docs/limits.md: the default value, and what hitting it returns.

The one idea: each test checks the DEFAULT number (so the table cannot drift from the code)
and then crosses the limit by one, on both twins where the limit lives in a twin, asserting
the exact error class, reason and offset (or status). Inputs just past a default are built
cheaply (a length prefix, a run of one byte) so the size limits are tested at their real value.
"""

from __future__ import annotations

import pytest

from omadm_codec import messages
from omadm_codec.errors import (
    AuthenticationError,
    DecodeError,
    EncodeError,
    TreeAddressError,
    TreeError,
    ValueTooLarge,
)
from omadm_codec.limits import DEFAULT_LIMITS, Limits
from omadm_codec.security import auth
from omadm_codec.security.nonces import NonceManager
from omadm_codec.security.policy import AuthPolicy

MiB = 1024 * 1024
# WBXML 1.3, SyncML 1.2 public id (0x1201), UTF-8, empty string table.
HEADER = b"\x03\xa4\x01\x6a\x00"
SYNCML, SYNCBODY, OPAQUE, END = 0x6D, 0x6B, 0xC3, 0x01
XML_ROOT = b'<SyncML xmlns="SYNCML:SYNCML1.2">'


def mb_u_int32(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def nested_wbxml(depth: int) -> bytes:
    """SyncML with ``depth`` elements on the deepest path (SyncML counts as 1)."""
    return HEADER + bytes([SYNCML]) + bytes([SYNCBODY]) * (depth - 1) + bytes([END]) * depth


def nested_xml(depth: int) -> bytes:
    return XML_ROOT + b"<SyncBody>" * (depth - 1) + b"</SyncBody>" * (depth - 1) + b"</SyncML>"


def decode_error(call: object, *args: object, **kwargs: object) -> tuple[str, int]:
    with pytest.raises(DecodeError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    return info.value.reason, info.value.offset


def encode_error(call: object, *args: object, **kwargs: object) -> tuple[str, int]:
    with pytest.raises(EncodeError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    return info.value.reason, info.value.offset


# -- the codec Limits (both twins) ---------------------------------------------------------
def test_input_size(backend) -> None:
    assert DEFAULT_LIMITS.max_input_size == 16 * MiB
    over = HEADER + bytes(16 * MiB + 1 - len(HEADER))
    assert decode_error(backend.wbxml_to_xml, over) == ("too_large", 16 * MiB)
    assert encode_error(backend.xml_to_wbxml, b" " * (16 * MiB + 1)) == ("too_large", 16 * MiB)


def test_input_size_message() -> None:
    over = b"<" + b" " * (16 * MiB)
    assert decode_error(messages.decode, over) == ("too_large", 16 * MiB)
    assert decode_error(messages.decode, HEADER + bytes(16 * MiB)) == ("too_large", 16 * MiB)


def test_depth(backend) -> None:
    assert DEFAULT_LIMITS.max_depth == 64
    assert backend.wbxml_to_xml(nested_wbxml(64)).count(b"<SyncBody") == 63
    # The 65th open tag is at HEADER + 64.
    assert decode_error(backend.wbxml_to_xml, nested_wbxml(65)) == ("too_deep", len(HEADER) + 64)
    assert backend.xml_to_wbxml(nested_xml(64))
    reason, offset = encode_error(backend.xml_to_wbxml, nested_xml(65))
    assert reason == "too_deep"
    assert offset == len(XML_ROOT) + 10 * 63  # the 64th <SyncBody>


def test_element_count(backend) -> None:
    assert DEFAULT_LIMITS.max_elements == 1_000_000
    small = Limits(max_elements=100)
    flat = HEADER + bytes([SYNCML]) + b"\x2b" * 100 + bytes([END])  # 101 elements
    assert decode_error(backend.wbxml_to_xml, flat, limits=small) == (
        "too_many_elements", len(HEADER) + 100)
    assert backend.wbxml_to_xml(flat[:-2] + bytes([END]), limits=small)
    xml = XML_ROOT + b"<SyncBody/>" * 100 + b"</SyncML>"
    assert encode_error(backend.xml_to_wbxml, xml, limits=small) == (
        "too_many_elements", len(XML_ROOT) + 11 * 99)


def test_element_count_default(backend) -> None:
    """The default, crossed for real: 1,000,001 one-byte elements (1 MB of WBXML)."""
    flat = HEADER + bytes([SYNCML]) + b"\x2b" * 1_000_000 + bytes([END])
    expected = ("too_many_elements", len(HEADER) + 1_000_000)
    assert decode_error(backend.wbxml_to_xml, flat) == expected


def test_string_table(backend) -> None:
    assert DEFAULT_LIMITS.max_string_table == MiB
    length = mb_u_int32(MiB + 1)
    doc = b"\x03\xa4\x01\x6a" + length + b"a" * (MiB + 1) + bytes([SYNCML & 0x3F])
    assert decode_error(backend.wbxml_to_xml, doc) == ("too_large", 4)
    # A claimed table the input cannot back is "truncated", never an allocation.
    short = b"\x03\xa4\x01\x6a" + mb_u_int32(2**32 - 1) + b"a"
    assert decode_error(backend.wbxml_to_xml, short) == ("truncated", 4)


def test_string_table_copy_budget(backend) -> None:
    """STR_T references may copy out at most 16 x input + 1 MiB of table bytes per call."""
    from omadm_codec.wbxml._decode_tables import TABLE_BUDGET_BASE, TABLE_BUDGET_FACTOR

    assert (TABLE_BUDGET_FACTOR, TABLE_BUDGET_BASE) == (16, MiB)
    table = b"A" * 65_535 + b"\x00"
    head = b"\x03\xa4\x01\x6a" + mb_u_int32(len(table)) + table + bytes([SYNCML, SYNCBODY])
    refs = 200
    doc = head + b"\x4f\x83\x00\x01" * refs + bytes([END, END])  # <Data>STR_T 0</Data>
    budget = TABLE_BUDGET_FACTOR * len(doc) + TABLE_BUDGET_BASE
    allowed = budget // len(table[:-1])  # whole copies that fit; the next one is refused
    assert allowed < refs
    reason, offset = decode_error(backend.wbxml_to_xml, doc)
    assert reason == "too_large"
    assert offset == len(head) + 4 * allowed + 2  # the index of the first refused STR_T
    fits = head + b"\x4f\x83\x00\x01" * 10 + bytes([END, END])
    assert backend.wbxml_to_xml(fits).count(b"A" * 65_535) == 10


def test_opaque(backend) -> None:
    assert DEFAULT_LIMITS.max_opaque == 16 * MiB
    prefix = HEADER + bytes([SYNCML, SYNCBODY, OPAQUE])
    length = mb_u_int32(16 * MiB + 1)
    doc = prefix + length + bytes(16 * MiB + 1) + bytes([END, END])
    assert decode_error(backend.wbxml_to_xml, doc, limits=Limits(max_input_size=32 * MiB)) == (
        "too_large", len(prefix))
    small = prefix + mb_u_int32(2**31) + b"x" * 10
    assert decode_error(backend.wbxml_to_xml, small)[0] in ("too_large", "truncated")


# -- management tree -----------------------------------------------------------------------
def test_uri_length(backend) -> None:
    """No URI limit by default (0 = unlimited); DevDetail/URI MaxTotLen/MaxDepth/MaxSegLen
    turn on 414s. The message size bounds the URI when no limit is configured."""
    long_uri = "./" + "/".join(["a"] * 50_000)
    assert len(backend.parse_uri(long_uri).segments) == 50_000
    with pytest.raises(TreeAddressError) as info:
        backend.parse_uri("./abc/def", 0, 8, 0)
    assert (info.value.reason, info.value.segment, info.value.status) == ("uri_too_long", -1, 414)
    with pytest.raises(TreeAddressError) as info:
        backend.parse_uri("./a/b/c", 2, 0, 0)
    assert (info.value.reason, info.value.segment, info.value.status) == ("too_deep", 2, 414)
    with pytest.raises(TreeAddressError) as info:
        backend.parse_uri("./a/bcd", 0, 0, 2)
    assert (info.value.reason, info.value.segment, info.value.status) == (
        "segment_too_long", 1, 414)


def test_acl_length() -> None:
    """No ACL length limit of its own: an ACL is a node property, bounded by the message."""
    from omadm_codec.tree import format_acl, parse_acl

    ids = [f"s{i}" for i in range(20_000)]
    acl = parse_acl("Get=" + "+".join(ids))
    assert acl is not None and format_acl(acl).count("+") == 19_999
    with pytest.raises(TreeError) as info:
        parse_acl("Get=" + "+".join(ids) + "&Bad=x")
    assert (info.value.reason, info.value.status) == ("bad_acl", 400)


def test_value_size() -> None:
    from omadm_codec.tree import DMTree

    tree = DMTree()
    assert tree.max_value_size == MiB
    tree.add("./big", "srv", b"x" * MiB, format="bin")
    with pytest.raises(ValueTooLarge) as info:
        tree.add("./bigger", "srv", b"x" * (MiB + 1), format="bin")
    assert (info.value.reason, info.value.status) == ("value_too_large", 413)
    with pytest.raises(TreeError):
        tree.find("./bigger")  # nothing was added


def test_title_length() -> None:
    from omadm_codec.tree import DMTree

    tree = DMTree(root_acl="Add=*&Get=*&Replace=*")
    tree.add("./a", "srv", "1")
    tree.replace("./a?prop=Title", "srv", "t" * 255)
    with pytest.raises(ValueTooLarge) as info:
        tree.replace("./a?prop=Title", "srv", "t" * 256)
    assert (info.value.reason, info.value.status) == ("title_too_long", 413)


def test_tree_nodes() -> None:
    from omadm_codec.tree import DMTree

    assert DMTree().max_nodes == 1_000_000
    tree = DMTree(max_nodes=3)
    tree.add("./a", "srv", "1")
    tree.add("./b", "srv", "2")
    with pytest.raises(TreeError) as info:
        tree.add("./c", "srv", "3")
    assert (info.value.reason, info.value.status) == ("device_full", 420)


def test_tnds() -> None:
    from omadm_codec.tree import tnds

    assert (tnds.MAX_DOCUMENT_BYTES, tnds.MAX_DEPTH, tnds.MAX_NODES) == (4 * MiB, 32, 20_000)
    with pytest.raises(ValueTooLarge) as info:
        tnds.parse_tnds(b" " * (4 * MiB + 1))
    assert info.value.reason == "tnds_too_large"

    def doc(depth: int, width: int = 0) -> bytes:
        node = b"<Node><NodeName>n</NodeName>"
        return (b'<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD>'
                + node * depth + b"</Node>" * depth
                + (node + b"</Node>") * width + b"</MgmtTree>")

    assert len(tnds.parse_tnds(doc(32))) == 1
    with pytest.raises(ValueTooLarge) as info:
        tnds.parse_tnds(doc(33))
    assert info.value.reason == "tnds_too_deep"
    with pytest.raises(ValueTooLarge) as info:
        tnds.parse_tnds(doc(0, 11), max_nodes=10)
    assert info.value.reason == "tnds_too_many_nodes"


# -- messages ------------------------------------------------------------------------------
def _with_atomics(depth: int) -> bytes:
    from conftest import CORPUS

    xml = (CORPUS / "pkg2_server_mgmt.xml").read_bytes()
    inner = b"<Get><CmdID>999</CmdID><Item><Target><LocURI>./a</LocURI></Target></Item></Get>"
    for level in range(depth):
        inner = b"<Atomic><CmdID>%d</CmdID>" % (1000 + level) + inner + b"</Atomic>"
    return xml.replace(b"<SyncBody>", b"<SyncBody>\n" + inner, 1)


def test_atomic_sequence_nesting() -> None:
    """Atomic/Sequence nesting is capped by ``Limits.max_depth`` (64)."""
    msg = messages.decode(_with_atomics(64))
    assert type(msg.commands[0]).__name__ == "Atomic"
    reason, offset = decode_error(messages.decode, _with_atomics(65))
    assert reason == "too_deep"
    # XML offsets of the message reader are line-granular: the line holding the bad element.
    assert offset == _with_atomics(65).index(b"\n<Atomic>") + 1


def test_messages_per_package() -> None:
    """No cap on the messages of one package: 40 server messages of one package (chunks of one
    large object, none with Final) are all accepted (213 each). MaxObjSize bounds the object."""
    statuses, peak = _large_object_session(64_000, 40, 40_000)
    assert statuses == [213] * 40 and peak == 40_000


# -- security ------------------------------------------------------------------------------
def test_failures_per_session() -> None:
    secrets = {"dev1": auth.secret_hash("dev1", "pw1")}
    policy = AuthPolicy("DIGEST", secrets.get, NonceManager())
    assert policy.max_failures == 3
    # Failure 1: no credentials (407 + challenge); then two wrong passwords.
    first = policy.check("dev1")
    assert first.status == 407 and not first.end_session and first.challenge is not None
    nonce = first.challenge.next_nonce
    for attempt in (2, 3):
        cred = auth.Credential("syncml:auth-md5", auth.md5_credential("dev1", "bad", nonce))
        decision = policy.check("dev1", cred)
        assert decision.end_session is (attempt == 3)
        if decision.challenge is not None:
            nonce = decision.challenge.next_nonce
    assert policy.ended


def test_hmac_header_length() -> None:
    assert auth.MAX_HMAC_HEADER == 1024
    mac = "A" * 22 + "=="
    head = f'algorithm=MD5, mac={mac}, username="'
    fits = head + "u" * (1024 - len(head) - 1) + '"'
    assert auth.parse_hmac_header(fits).mac == mac
    with pytest.raises(AuthenticationError) as info:
        auth.parse_hmac_header(head + "u" * (1024 - len(head)) + '"')
    assert info.value.reason == "bad_header"


def test_hmac_body_size() -> None:
    header = auth.hmac_header("dev1", "pw1", b"n", b"body")
    with pytest.raises(AuthenticationError) as info:
        auth.verify_hmac_header(header, {"dev1": auth.secret_hash("dev1", "pw1")}.get, b"n",
                                b"x" * 101, max_body=100)
    assert info.value.reason == "too_large"


def test_pkg0_sizes() -> None:
    from omadm_codec.security import notification

    assert decode_error(notification.decode, bytes(23)) == ("too_short", 23)
    head = bytes(16) + ((11 << 54) | 200).to_bytes(8, "big")
    assert decode_error(notification.decode, head + b"s" * 199) == ("server_id_truncated", 23)


def test_bootstrap_sizes() -> None:
    from omadm_codec.security import bootstrap_docs
    from omadm_codec.wbxml import prov as prov_wbxml

    assert (bootstrap_docs.MAX_DOCUMENT, prov_wbxml.MAX_SIZE, prov_wbxml.MAX_DEPTH) == (
        64 * 1024, 64 * 1024, 16)
    assert decode_error(bootstrap_docs.parse_cp, b" " * (64 * 1024 + 1)) == (
        "too_large", 64 * 1024)


# -- sessions ------------------------------------------------------------------------------
def _large_object_session(max_obj_size: int, chunks: int, size: int | None) -> tuple[list, int]:
    """A real in-memory session whose server sends ``chunks`` 1000-char MoreData chunks of one
    Replace (Meta/Size = ``size``). Returns the client's statuses and its peak buffered chars."""
    from test_session import make_server, make_tree

    from omadm_codec.messages.model import Item, Meta, Replace, Target
    from omadm_codec.session import ClientSession
    from omadm_codec.session import events as ev
    from omadm_codec.tools.simulator import run_in_memory

    client = ClientSession(make_tree(), fmt="xml", max_obj_size=max_obj_size)
    sent, peak = [0], [0]

    def app(server: object, events: list) -> None:
        if client._chunks is not None:
            peak[0] = max(peak[0], sum(len(part) for part in client._chunks.parts))
        if sent[0] < chunks and any(isinstance(e, (ev.SessionStarted, ev.CommandCompleted))
                                    for e in events):
            meta = Meta(size=size) if size is not None and sent[0] == 0 else None
            sent[0] += 1
            item = Item(target=Target("./Vendor/Acme/Settings/Ringtone"), data="x" * 1000,
                        more_data=True, meta=meta)
            server.send_commands([Replace(cmd_id="1", items=[item])])  # type: ignore[attr-defined]

    exchange = run_in_memory(client, make_server(), app=app)
    statuses = [e.status for e in exchange.client_events if isinstance(e, ev.CommandExecuted)]
    return statuses, peak[0]


def test_large_object_declared_size() -> None:
    """ClientSession.max_obj_size (4 MiB) refuses a large object whose Meta/Size is over it."""
    from omadm_codec.session import ClientSession

    assert ClientSession.__init__.__kwdefaults__["max_obj_size"] == 4 * MiB
    statuses, peak = _large_object_session(10_000, 1, 10_001)
    assert statuses == [413] and peak == 0
    # Declared 5,000, then 40 chunks of 1,000: nothing past the declared size is buffered.
    statuses, peak = _large_object_session(10_000, 40, 5_000)
    assert peak <= 5_000 and statuses[:5] == [213] * 5 and set(statuses[5:]) <= {413, 424}


def test_large_object_undeclared_size_is_bounded() -> None:
    statuses, peak = _large_object_session(10_000, 40, None)
    assert peak <= 10_000
    assert 413 in statuses
