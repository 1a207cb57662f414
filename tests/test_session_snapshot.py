"""Snapshots: both sides saved and restored at every package boundary of the demo script
(XML and WBXML, md5 and HMAC) still reach every expected outcome; corrupt, foreign, forged and
future-version snapshots are refused with ``SnapshotError``."""

from __future__ import annotations

import json

import pytest
from test_session import make_server, make_tree  # noqa: I001

from omadm_codec.errors import LocalProtocolError, SnapshotError
from omadm_codec.messages.model import Alert
from omadm_codec.session import ClientSession, ServerSession, State, UiResponse
from omadm_codec.session.events import CommandCompleted
from omadm_codec.session.snapshot import MAGIC
from omadm_codec.tools.demo_scenario import DemoServerApp, generic_alert_item
from omadm_codec.tools.simulator import ScriptedUser


@pytest.mark.parametrize("fmt", ["xml", "wbxml"])
@pytest.mark.parametrize("server_auth", ["DIGEST", "HMAC"])
@pytest.mark.parametrize("server_max", [65536, 1500])
def test_restore_at_every_package_boundary(fmt: str, server_auth: str,
                                           server_max: int) -> None:
    tree = make_tree(server_auth)
    server = make_server(server_auth=server_auth, max_msg_size=server_max)
    nonces, lookup = server.nonces, server.policy._lookup
    user = ScriptedUser([UiResponse(200), UiResponse(304)])
    client = ClientSession(tree, fmt=fmt, ui=user, max_msg_size=8192)  # type: ignore[arg-type]
    client.queue_alert(1226, [generic_alert_item()])
    app = DemoServerApp()
    client.start(now=0)
    key = b"snapshot-key"
    restores = 0
    split = False
    for _ in range(100):
        client = ClientSession.restore(client.snapshot(key), tree, ui=user, key=key)
        out = client.data_to_send(now=0)
        if out is None:
            break
        client = ClientSession.restore(client.snapshot(), tree, ui=user)
        events = server.receive(out.body, now=0, content_type=out.content_type, hmac=out.hmac)
        app(server, events)
        reply = server.data_to_send()
        app(server, server.take_events())
        split |= bool(client._outbox)
        server = ServerSession.restore(server.snapshot(key), secret_lookup=lookup,
                                       nonces=nonces, server_secret="server-secret-0001",
                                       key=key)
        restores += 1
        client.receive(reply.body, now=0, content_type=reply.content_type, hmac=reply.hmac)
    assert restores >= 6
    assert split == (server_max < 65536)  # the device's package 3 went in several messages
    assert app.failures(tree) == []
    assert client.state is State.CLOSED and server.state is State.CLOSED


def test_bad_snapshots_are_refused() -> None:
    tree = make_tree()
    client = ClientSession(tree)
    client.start(now=0)
    good = client.snapshot()
    header, payload = good[len(MAGIC):].split(b"\n", 1)
    cases = {
        "foreign": [b"", b"PK\x03\x04", b"\x80\x04\x95pickle", make_server().snapshot()],
        "corrupt": [good[:-5], good.replace(b'"fmt":"xml"', b'"fmt":"xmm"'),
                    MAGIC + b"00" + b"\n" + payload, good + b" "],
    }
    for reason, blobs in cases.items():
        for blob in blobs:
            with pytest.raises(SnapshotError) as info:
                ClientSession.restore(blob, tree)
            assert info.value.reason == reason, blob[:40]
    with pytest.raises(SnapshotError) as info:
        ClientSession.restore(good, tree, key=b"a key the snapshot was not sealed with")
    assert info.value.reason == "corrupt"
    # A future version, correctly sealed, is refused for its version.
    import hashlib

    document = json.loads(payload)
    document["version"] = 99
    future = json.dumps(document).encode()
    blob = MAGIC + hashlib.sha256(future).hexdigest().encode() + b"\n" + future
    with pytest.raises(SnapshotError) as info:
        ClientSession.restore(blob, tree)
    assert info.value.reason == "version"
    # A mistyped field inside a valid seal.
    document["version"] = 1
    document["fields"]["msg_id"] = "one"
    typed = json.dumps(document).encode()
    blob = MAGIC + hashlib.sha256(typed).hexdigest().encode() + b"\n" + typed
    with pytest.raises(SnapshotError):
        ClientSession.restore(blob, tree)


def test_server_snapshot_only_between_messages() -> None:
    from test_session import _client_msg

    server = make_server(client_auth="BASIC")
    server.receive(_client_msg("1", "1", [Alert("1", 1201)]), now=0)
    with pytest.raises(LocalProtocolError):
        server.snapshot()


def _in_flight_server() -> tuple[ServerSession, bytes, ClientSession]:
    """A server with an Atomic and two plain commands in flight (its package 2 sent), and the
    device that will answer them."""
    from omadm_codec.messages.model import Atomic, Get, Item, Replace, Target

    tree = make_tree(client_auth="BASIC")
    server = make_server(client_auth="BASIC")
    client = ClientSession(tree)
    client.start(now=0)
    out = client.data_to_send(now=0)
    assert out is not None
    server.receive(out.body, now=0, content_type=out.content_type)
    server.send_commands([
        Get("0", [Item(target=Target("./DevInfo/Mod"))]),
        Atomic("0", [Replace("0", [Item(target=Target("./DevInfo/Lang"), data="fr")])]),
        Get("0", [Item(target=Target("./DevInfo/Man"))])])
    reply = server.data_to_send()
    client.receive(reply.body, now=0, content_type=reply.content_type)
    return server, server.snapshot(b"k"), client


def _document(blob: bytes) -> tuple[dict, bytes]:
    """The JSON document of a sealed snapshot, and its raw section (version 3)."""
    document, _, raw = blob.split(b"\n", 2)[2].partition(b"\n")
    return json.loads(document), raw


def _sealed(document: dict, raw: bytes = b"", key: bytes | None = b"k") -> bytes:
    import hashlib
    import hmac

    payload = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    if raw:
        payload += b"\n" + raw
    tag = (hmac.digest(key, payload, "sha256") if key is not None
           else hashlib.sha256(payload).digest())
    return MAGIC + tag.hex().encode() + b"\n" + payload


def _as_version_2(blob: bytes, key: bytes) -> bytes:
    """``blob`` rewritten as version 2 wrote it: the raw section back in the JSON (commands
    as XML text, the cached answer as base64)."""
    import base64

    document, raw = _document(blob)
    fields = document["fields"]
    for name in ("queue", "top"):
        if isinstance(fields[name], list):
            start, end = fields[name]
            fields[name] = raw[start:end].decode("utf-8")
    cached = fields["cached"]
    if cached is not None and isinstance(cached["body"], list):
        start, end = cached["body"]
        cached["body"] = base64.b64encode(raw[start:end]).decode("ascii")
    document["version"] = 2
    return _sealed(document, key=key)


def _as_version_1(blob: bytes, key: bytes) -> bytes:
    """``blob`` rewritten as version 1 wrote it: every in-flight command as a whole node."""
    document, _raw = _document(_as_version_2(blob, key))

    def whole(node: object) -> object:
        if isinstance(node, list):
            return {"keys": [node], "statuses": [], "chunk": False, "receiving": False,
                    "last": False, "data": [], "children": []}
        assert isinstance(node, dict)
        return {**node, "children": [whole(c) for c in node["children"]]}

    document["version"] = 1
    document["fields"]["pending"] = [whole(n) for n in document["fields"]["pending"]]
    return _sealed(document, key=key)


def test_plain_commands_in_flight_are_written_as_their_key() -> None:
    server, blob, _client = _in_flight_server()
    pending = _document(blob)[0]["fields"]["pending"]
    assert [type(node).__name__ for node in pending] == ["list", "dict", "list"]
    assert isinstance(pending[1]["children"][0], list)  # a plain child of the Atomic too


def test_version_1_and_2_snapshots_still_restore_and_answer_alike() -> None:
    server, blob, client = _in_flight_server()
    answer = client.data_to_send(now=0)
    assert answer is not None
    lookup = server.policy._lookup
    replies, outcomes = [], []
    for sealed in (blob, _as_version_2(blob, b"k"), _as_version_1(blob, b"k")):
        restored = ServerSession.restore(sealed, secret_lookup=lookup, nonces=server.nonces,
                                         server_secret="server-secret-0001", key=b"k")
        events = restored.receive(answer.body, now=0, content_type=answer.content_type)
        outcomes.append([(e.command.ELEMENT, e.status, [c.status for c in e.children])
                         for e in events if isinstance(e, CommandCompleted)])
        replies.append(restored.data_to_send().body)
        assert restored.snapshot(b"k") == ServerSession.restore(
            restored.snapshot(b"k"), secret_lookup=lookup, nonces=server.nonces,
            server_secret="server-secret-0001", key=b"k").snapshot(b"k")
    assert replies[0] == replies[1] == replies[2]
    assert outcomes[0] == outcomes[1] == outcomes[2]
    assert [element for element, _status, _children in outcomes[0]] == ["Get", "Atomic", "Get"]
    assert outcomes[0][0][1] == 200 and outcomes[0][1][2] != []  # answered, child included


def test_snapshot_and_restore_leave_no_reference_cycle() -> None:
    """A restored session, snapshotted again, is freed by reference counting alone: a cycle
    through it (a recursive closure of the restore held the session) would keep a server's
    sessions alive until the cyclic collector ran, promoted meanwhile and walked again by
    every full collection. (An Atomic's pending tree links parent and child both ways:
    that cycle is its own.)"""
    import gc
    import weakref

    server, blob, _client = _in_flight_server()
    lookup = server.policy._lookup
    gc.collect()
    gc.disable()
    try:
        restored = ServerSession.restore(blob, secret_lookup=lookup, nonces=server.nonces,
                                         server_secret="server-secret-0001", key=b"k")
        assert restored.snapshot(b"k") == blob
        assert restored._top[1].children  # the Atomic: a tree with a child, both ways
        gone = weakref.ref(restored)
        del restored
        assert gone() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("node", [["1"], ["1", 2], ["1", "2", "3"], "1,2"])
def test_a_bad_key_for_a_command_in_flight_is_refused(node: object) -> None:
    server, blob, _client = _in_flight_server()
    document, raw = _document(blob)
    document["fields"]["pending"][0] = node
    sealed = _sealed(document, raw)
    with pytest.raises(SnapshotError) as info:
        ServerSession.restore(sealed, secret_lookup=server.policy._lookup, key=b"k")
    assert info.value.reason == "corrupt"


def test_commands_and_the_cached_answer_travel_in_the_raw_section() -> None:
    server, blob, _client = _in_flight_server()
    document, raw = _document(blob)
    fields = document["fields"]
    assert document["version"] == 3 and fields["queue"] == ""
    start, end = fields["top"]
    assert raw[start:end].startswith(b"<?xml") and b"<Atomic>" in raw[start:end]
    start, end = fields["cached"]["body"]
    assert raw[start:end] == server._cached.body and end == len(raw)


@pytest.mark.parametrize("where", [[0, 10**6], [5, 4], [-1, 3], [0], ["0", 3], 7])
def test_a_bad_place_in_the_raw_section_is_refused(where: object) -> None:
    server, blob, _client = _in_flight_server()
    for name in ("top", "cached"):
        document, raw = _document(blob)
        if name == "top":
            document["fields"]["top"] = where
        else:
            document["fields"]["cached"]["body"] = where
        with pytest.raises(SnapshotError) as info:
            ServerSession.restore(_sealed(document, raw), secret_lookup=server.policy._lookup,
                                  key=b"k")
        assert info.value.reason == "corrupt"


def test_every_server_field_is_checked_for_its_type() -> None:
    """A field of the wrong type (a bool is no int, a required field absent) is refused; an
    optional one may be null or absent."""
    from omadm_codec.session.snapshot import _POLICY_FIELDS, _SERVER_FIELDS

    server, blob, client = _in_flight_server()
    lookup = server.policy._lookup
    for schema, where in ((_SERVER_FIELDS, ()), (_POLICY_FIELDS, ("policy",))):
        for name, kinds, optional in schema:
            wrong = True if bool not in kinds else 1
            for value in ([wrong, None, "absent"] if optional is False else [wrong]):
                document, raw = _document(blob)
                fields = document["fields"]
                for step in where:
                    fields = fields[step]
                if value == "absent":
                    del fields[name]
                else:
                    fields[name] = value
                with pytest.raises(SnapshotError) as info:
                    ServerSession.restore(_sealed(document, raw), secret_lookup=lookup,
                                          key=b"k")
                assert info.value.reason == "corrupt", (name, value)
            if optional:
                for absent in (True, False):
                    document, raw = _document(blob)
                    fields = document["fields"]
                    for step in where:
                        fields = fields[step]
                    if absent:
                        fields.pop(name, None)
                    else:
                        fields[name] = None
                    ServerSession.restore(_sealed(document, raw), secret_lookup=lookup,
                                          key=b"k")


def test_a_raw_section_before_version_3_is_refused() -> None:
    server, blob, _client = _in_flight_server()
    document, raw = _document(blob)
    document["version"] = 2
    with pytest.raises(SnapshotError) as info:
        ServerSession.restore(_sealed(document, raw), secret_lookup=server.policy._lookup,
                              key=b"k")
    assert info.value.reason == "corrupt"


def test_a_container_written_as_a_key_is_refused() -> None:
    server, blob, _client = _in_flight_server()
    document, raw = _document(blob)
    document["fields"]["pending"][1] = document["fields"]["pending"][1]["keys"][0]
    sealed = _sealed(document, raw)
    with pytest.raises(SnapshotError) as info:
        ServerSession.restore(sealed, secret_lookup=server.policy._lookup, key=b"k")
    assert info.value.reason == "corrupt"


def test_results_that_came_ahead_of_their_status_survive_a_restore() -> None:
    """A device message (not the package's last) with a Get's Results but not its Status:
    the Results wait in the session, and must wait in its snapshot too."""

    from attack_server import message, results, status
    from test_server_guards import (
        DEVICE_ID,
        DEVICE_USER,
        LOG_URI,
        SECRETS,
        URI,
        authenticated,
        get_ref,
    )

    session = authenticated()
    msg_ref, cmd_ref = get_ref(session)
    session.receive(message("A1", 2, URI, DEVICE_ID, status(1, "1", "0", "SyncHdr", 200)
                            + results(2, msg_ref, cmd_ref, [(LOG_URI, "ahead")],
                                      more_data=False), loc_name=DEVICE_USER, final=False),
                    now=2.0)
    session.data_to_send()
    blob = session.snapshot()
    restored = ServerSession.restore(blob, secret_lookup=SECRETS.get)
    events = restored.receive(message("A1", 3, URI, DEVICE_ID,
                                      status(1, "2", "0", "SyncHdr", 200)
                                      + status(2, msg_ref, cmd_ref, "Get", 200),
                                      loc_name=DEVICE_USER), now=3.0)
    done = [e for e in events if isinstance(e, CommandCompleted)]
    assert len(done) == 1 and done[0].status == 200
    assert [r.items[0].data for r in done[0].results] == ["ahead"]
    # Written as a node with its Results; a node saying it has none is refused.
    document, raw = _document(blob)
    node = document["fields"]["pending"][0]
    assert isinstance(node, dict) and "ahead" in node["results"]
    node["results"] = ""
    forged = _sealed(document, raw, key=None)
    with pytest.raises(SnapshotError, match="pending results"):
        ServerSession.restore(forged, secret_lookup=SECRETS.get)
