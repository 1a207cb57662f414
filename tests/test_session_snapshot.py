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
