"""Client and server sessions wired together in memory, in XML and WBXML, through the normal
flow and its edges: md5 challenge, HMAC, multi-message packages, large objects, Atomic,
Sequence, UI and generic alerts, retransmission, aborts, refused messages, package 0, timers.

The codec twin is the active one; CI runs this file under both (``OMADM_CODEC_PUREPYTHON``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import CORPUS, NEEDS_SHARED_CORPUS, SHARED_CORPUS

from omadm_codec.errors import LocalProtocolError, RemoteProtocolError
from omadm_codec.messages import decode, encode
from omadm_codec.messages.model import (
    Alert,
    Exec,
    Get,
    Item,
    Message,
    Meta,
    Replace,
    Results,
    Source,
    Status,
    SyncHdr,
    Target,
)
from omadm_codec.security import auth, notification
from omadm_codec.security.nonces import NonceManager
from omadm_codec.session import (
    ClientSession,
    CommandCompleted,
    Outgoing,
    ServerSession,
    State,
    UiResponse,
)
from omadm_codec.session import events as ev
from omadm_codec.tools.demo_scenario import LARGE_OBJECT, DemoServerApp, generic_alert_item
from omadm_codec.tools.simulator import (
    DEVICE_SECRET,
    DEVICE_USER,
    SERVER_ID,
    SERVER_SECRET,
    ScriptedUser,
    build_tree,
    run_in_memory,
)
from omadm_codec.tree import DMTree

SRV_NONCE = b"initial-srv-nonce"
URI = "http://127.0.0.1/dm"
FORMATS = ["xml", "wbxml"]


def make_server(nonces: NonceManager | None = None, server_auth: str = "DIGEST",
                client_auth: str = "DIGEST", **kw: object) -> ServerSession:
    if nonces is None:
        nonces = NonceManager()
        nonces.reset_resync(DEVICE_USER, "SRVCRED", SRV_NONCE)
    stored = {DEVICE_USER: auth.secret_hash(DEVICE_USER, DEVICE_SECRET)}
    return ServerSession(server_id=SERVER_ID, server_uri=URI, secret_lookup=stored.get,
                         nonces=nonces, aauth_type=client_auth, server_secret=SERVER_SECRET,
                         server_auth_type=server_auth, **kw)  # type: ignore[arg-type]


def make_tree(server_auth: str = "DIGEST", client_auth: str = "DIGEST", **kw: object) -> DMTree:
    return build_tree(server_addr=URI, server_auth=server_auth, client_auth=client_auth,
                      server_nonce=SRV_NONCE, **kw)  # type: ignore[arg-type]


def queue_on_start(commands: list[object]) -> Callable[[ServerSession, list[ev.Event]], None]:
    def app(server: ServerSession, events: list[ev.Event]) -> None:
        if any(isinstance(e, ev.SessionStarted) for e in events):
            server.send_commands(commands)  # type: ignore[arg-type]
    return app


def completed(events: list[ev.Event]) -> list[CommandCompleted]:
    return [e for e in events if isinstance(e, CommandCompleted)]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("server_auth", ["DIGEST", "HMAC", "BASIC"])
def test_demo_script_in_memory(fmt: str, server_auth: str) -> None:
    tree = make_tree(server_auth)
    server = make_server(server_auth=server_auth)
    user = ScriptedUser([UiResponse(200), UiResponse(304)])
    client = ClientSession(tree, fmt=fmt, ui=user, max_msg_size=8192)  # type: ignore[arg-type]
    client.queue_alert(1226, [generic_alert_item()])
    app = DemoServerApp()
    exchange = run_in_memory(client, server, app=app)
    assert app.failures(tree) == []
    assert client.state is State.CLOSED and server.state is State.CLOSED
    # The md5 challenge happened first, then 212; the device verified the server.
    assert isinstance(app.auth[0], ev.AuthenticationFailed) and app.auth[0].status == 407
    assert any(isinstance(e, ev.Authenticated) and e.username == SERVER_ID
               for e in exchange.client_events)
    # Chunked large object: some server messages went without Final; every message fits.
    server_msgs = [m for d, m in exchange.messages if d == "S"]
    assert any(not m.final for m in server_msgs)
    assert all(len(m.body) <= 8192 for m in server_msgs)
    assert all(m.content_type.endswith(fmt) for _, m in exchange.messages)
    if server_auth == "HMAC":
        assert all(m.hmac for m in server_msgs[1:])
    assert [a.shown[0].text for a in [user]] == ["Apply the new mail settings?"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_nonce_rotates_and_next_session_needs_no_challenge(fmt: str) -> None:
    tree = make_tree()
    nonces = NonceManager()
    nonces.reset_resync(DEVICE_USER, "SRVCRED", SRV_NONCE)
    first = run_in_memory(ClientSession(tree, fmt=fmt), make_server(nonces))  # type: ignore[arg-type]
    assert any(isinstance(e, ev.AuthenticationFailed) for e in first.server_events)
    clcred = next(tree.dm_accounts()).credentials("CLCRED")
    assert clcred is not None and clcred.data == nonces.current(DEVICE_USER, "CLCRED")
    second = run_in_memory(ClientSession(tree, fmt=fmt), make_server(nonces))  # type: ignore[arg-type]
    assert not any(isinstance(e, ev.AuthenticationFailed) for e in second.server_events)
    assert any(isinstance(e, ev.SessionEnded) and e.reason == "completed"
               for e in second.server_events)


@pytest.mark.parametrize("fmt", FORMATS)
def test_many_commands_span_several_messages(fmt: str) -> None:
    tree = make_tree()
    gets = [Get("0", [Item(target=Target("./Vendor/Acme/Settings/Ringtone"))])
            for _ in range(40)]
    limit = 2000 if fmt == "xml" else 700
    client = ClientSession(tree, fmt=fmt, max_msg_size=limit)  # type: ignore[arg-type]
    exchange = run_in_memory(client, make_server(), app=queue_on_start(gets))
    done = completed(exchange.server_events)
    assert [id(e.command) for e in done] == [id(g) for g in gets]
    assert all(e.status == 200 and e.results[0].items[0].data == "classic" for e in done)
    server_msgs = [m for d, m in exchange.messages if d == "S"]
    assert sum(1 for m in server_msgs if not m.final) >= 2
    assert all(len(m.body) <= limit for m in server_msgs)
    # The client asked for each next message with 1222 and closed only after the server's Final.
    client_msgs = [decode(m.body) for d, m in exchange.messages if d == "C"]
    assert any(isinstance(c, Alert) and c.data == 1222 for m in client_msgs for c in m.commands)


@pytest.mark.parametrize("fmt", FORMATS)
def test_dropped_reply_is_answered_from_cache_without_running_twice(fmt: str) -> None:
    tree = make_tree()
    server = make_server()
    dropped: list[Outgoing] = []

    def wire(direction: str, msg: Outgoing) -> Outgoing | None:
        # Lose the server's answer to the package 3 that ran the Exec, once.
        if direction == "S" and msg.msg_id == "3" and not dropped:
            dropped.append(msg)
            return None
        return msg

    execs = [Exec("0", [Item(target=Target("./Vendor/Acme/Ops/Reboot"))])]
    client = ClientSession(tree, fmt=fmt)  # type: ignore[arg-type]
    exchange = run_in_memory(client, server, app=queue_on_start(execs), wire=wire)
    assert dropped
    duplicates = [e for e in exchange.server_events if isinstance(e, ev.DuplicateReceived)]
    assert len(duplicates) == 1
    resent = [m for d, m in exchange.messages if d == "S" and m.msg_id == "3"]
    assert len(resent) == 2 and resent[0].body == resent[1].body
    assert tree.device_get("./Vendor/Acme/Ops/Reboot") == "1"
    assert [e.status for e in completed(exchange.server_events)] == [200]


def _client_msg(session_id: str, msg_id: str, commands: list[object], fmt: str = "xml",
                cred: bool = True) -> bytes:
    hdr = SyncHdr(session_id, msg_id, Target(URI), Source("IMEI:1", DEVICE_USER))
    if cred:
        hdr.cred = auth.Credential(auth.META_BASIC, auth.basic_credential(
            DEVICE_USER, DEVICE_SECRET)).to_model()
    return encode(Message(hdr, commands, final=True), fmt)  # type: ignore[arg-type]


def test_server_refuses_skipped_msg_id_and_cmd_id_collision() -> None:
    server = make_server(client_auth="BASIC")
    server.receive(_client_msg("1", "1", [Alert("1", 1201)]), now=0)
    server.send_commands([Get("0", [Item(target=Target("./DevInfo/Mod"))])])
    server.data_to_send()
    with pytest.raises(RemoteProtocolError) as info:
        server.receive(_client_msg("1", "3", [Alert("1", 1226, items=[Item(data="x")])]),
                       now=1)
    assert info.value.reason == "msg_id_order" and info.value.status == 400
    assert server.state is State.ERROR
    # The refusal is still a DM answer: SyncHdr Status 400, Alert 1223, Final.
    answer = decode(info.value.response)
    assert answer.final and [type(c).__name__ for c in answer.commands] == ["Status", "Alert"]
    assert answer.commands[0].data == 400 and answer.commands[1].data == 1223  # type: ignore[union-attr]

    other = make_server(client_auth="BASIC")
    with pytest.raises(RemoteProtocolError) as info:
        other.receive(_client_msg("1", "1", [Alert("1", 1201), Alert("1", 1226)]), now=0)
    assert info.value.reason == "cmd_id_collision"
    assert other.state is State.ERROR and not other.started


def test_server_refuses_a_first_message_without_session_alert_and_bad_bytes() -> None:
    server = make_server(client_auth="BASIC")
    with pytest.raises(RemoteProtocolError) as info:
        server.receive(_client_msg("1", "1", [Alert("1", 1226)]), now=0)
    assert info.value.reason == "no_session_alert"
    with pytest.raises(RemoteProtocolError) as info:
        make_server().receive(b"<SyncML><oops", now=0)
    assert info.value.reason == "undecodable"


def test_server_misuse_is_local_error() -> None:
    server = make_server(client_auth="BASIC")
    with pytest.raises(LocalProtocolError):
        server.data_to_send()
    server.receive(_client_msg("1", "1", [Alert("1", 1201)]), now=0)
    with pytest.raises(LocalProtocolError):
        server.receive(_client_msg("1", "2", [Alert("1", 1201)]), now=0)
    with pytest.raises(LocalProtocolError):
        server.send_commands([Status("1", "1", "1", "Alert", 200)])


class _MyResults(Results):
    pass


def test_send_commands_queues_as_far_as_the_first_answer() -> None:
    get = Get("0", [Item(target=Target("./DevInfo/Mod"))])
    results = _MyResults("1", "1", [Item(source=Source("./a"), data="x")])  # a subclass too
    server = make_server()
    server.send_commands(c for c in [get, get])
    assert server.outstanding == 2
    for commands, queued in (((c for c in [get, results, get]), 1), ([get, results, get], 1),
                             ([results, Status("1", "1", "1", "Alert", 200)], 0)):
        server = make_server()
        with pytest.raises(LocalProtocolError) as info:
            server.send_commands(commands)
        assert info.value.reason == "not_a_command"
        assert server.outstanding == queued


@pytest.mark.parametrize("fmt", FORMATS)
def test_wrong_password_ends_both_sides_and_runs_nothing(fmt: str) -> None:
    tree = make_tree(client_secret="not-the-secret")
    server = make_server(max_failures=2)
    client = ClientSession(tree, fmt=fmt)  # type: ignore[arg-type]
    execs = [Exec("0", [Item(target=Target("./Vendor/Acme/Ops/Reboot"))])]
    exchange = run_in_memory(client, server, app=queue_on_start(execs))
    assert server.state is State.ABORTED and client.state is State.ABORTED
    assert not any(isinstance(e, ev.SessionStarted) for e in exchange.server_events)
    assert tree.device_get("./Vendor/Acme/Ops/Reboot") == ""
    assert any(isinstance(e, ev.SessionEnded) and e.reason == "auth_failed"
               for e in exchange.client_events)


@pytest.mark.parametrize("fmt", FORMATS)
def test_server_abort_reaches_the_device(fmt: str) -> None:
    tree = make_tree()

    def app(server: ServerSession, events: list[ev.Event]) -> None:
        if any(isinstance(e, ev.SessionStarted) for e in events):
            server.abort()

    client = ClientSession(tree, fmt=fmt)  # type: ignore[arg-type]
    server = make_server()
    exchange = run_in_memory(client, server, app=app)
    assert server.state is State.ABORTED and client.state is State.ABORTED
    assert any(isinstance(e, ev.SessionEnded) and e.reason == "peer_abort"
               for e in exchange.client_events)


def test_client_abort_reaches_the_server() -> None:
    tree = make_tree(client_auth="BASIC")
    client = ClientSession(tree)
    server = make_server(client_auth="BASIC")
    client.start(now=0)
    first = client.data_to_send(now=0)
    assert first is not None
    server.receive(first.body, now=0, content_type=first.content_type)
    server.send_commands([Get("0", [Item(target=Target("./DevInfo/Mod"))])])
    reply = server.data_to_send()
    client.receive(reply.body, now=0, content_type=reply.content_type)
    abort = client.abort(now=0)
    assert abort is not None and client.state is State.ABORTED
    events = server.receive(abort.body, now=1, content_type=abort.content_type)
    assert any(isinstance(e, ev.AlertReceived) and e.alert_code == 1223 for e in events)
    server.data_to_send()
    after = server.take_events()
    assert server.state is State.ABORTED
    assert [type(e).__name__ for e in after] == ["CommandRefused", "SessionEnded"]


# -- the device side against hand-made server messages -------------------------------------


def _device(**kw: object) -> tuple[ClientSession, DMTree]:
    tree = make_tree(server_auth="NONE", client_auth="BASIC")
    client = ClientSession(tree, **kw)  # type: ignore[arg-type]
    client.start(now=0)
    assert client.data_to_send(now=0) is not None
    return client, tree


def _server_msg(client: ClientSession, msg_id: str, commands: list[object],
                final: bool = True) -> bytes:
    hdr = SyncHdr(client.session_id, msg_id, Target("IMEI:490154203237518"),
                  Source(URI, SERVER_ID))
    status = Status("1", str(client._msg_id), "0", "SyncHdr", 212)
    return encode(Message(hdr, [status, *commands], final=final))  # type: ignore[list-item]


def _reply(client: ClientSession) -> Message:
    out = client.data_to_send(now=0)
    assert out is not None
    return decode(out.body)


def _chunk(cmd_id: str, data: str, more: bool, size: int | None = None) -> Replace:
    meta = Meta(format="chr", size=size)
    return Replace(cmd_id, [Item(target=Target("./Vendor/Acme/Logs/Boot"), meta=meta,
                                 data=data, more_data=more)])


def test_device_large_object_size_mismatch_is_424_and_not_applied() -> None:
    client, tree = _device()
    client.receive(_server_msg(client, "1", [_chunk("2", "abc", True, size=10)], final=False),
                   now=0)
    reply = _reply(client)
    codes = [c.data for c in reply.commands if isinstance(c, Status)]
    assert codes == [200, 213]
    assert any(isinstance(c, Alert) and c.data == 1222 for c in reply.commands)
    client.receive(_server_msg(client, "2", [_chunk("2", "def", False)]), now=0)
    reply = _reply(client)
    assert [c.data for c in reply.commands if isinstance(c, Status)] == [200, 424]
    assert tree.device_get("./Vendor/Acme/Logs/Boot") == "boot ok"


def test_device_large_object_reassembled() -> None:
    client, tree = _device()
    client.receive(_server_msg(client, "1", [_chunk("2", "abc", True, size=6)], final=False),
                   now=0)
    _reply(client)
    client.receive(_server_msg(client, "2", [_chunk("2", "def", False)]), now=0)
    assert [c.data for c in _reply(client).commands if isinstance(c, Status)] == [200, 200]
    assert tree.device_get("./Vendor/Acme/Logs/Boot") == "abcdef"


def test_device_interrupted_large_object_sends_1225() -> None:
    client, tree = _device()
    client.receive(_server_msg(client, "1", [_chunk("2", "abc", True, size=6)], final=False),
                   now=0)
    _reply(client)
    events = client.receive(_server_msg(client, "2", [
        Get("2", [Item(target=Target("./DevInfo/Mod"))])]), now=0)
    assert any(isinstance(e, ev.LargeObjectInterrupted) for e in events)
    reply = _reply(client)
    alerts = [c for c in reply.commands if isinstance(c, Alert)]
    assert alerts[0].data == 1225
    assert alerts[0].items[0].target is not None
    assert alerts[0].items[0].target.loc_uri == "./Vendor/Acme/Logs/Boot"
    assert tree.device_get("./Vendor/Acme/Logs/Boot") == "boot ok"


def test_device_refuses_cmd_id_collision_before_running_anything() -> None:
    client, tree = _device()
    bad = _server_msg(client, "1", [
        Exec("2", [Item(target=Target("./Vendor/Acme/Ops/Reboot"))]),
        Exec("2", [Item(target=Target("./Vendor/Acme/Ops/Reboot"))])])
    with pytest.raises(RemoteProtocolError) as info:
        client.receive(bad, now=0)
    assert info.value.reason == "cmd_id_collision"
    assert client.state is State.ERROR
    assert tree.device_get("./Vendor/Acme/Ops/Reboot") == ""


def test_device_refuses_old_msg_id_and_foreign_session() -> None:
    client, _ = _device()
    client.receive(_server_msg(client, "2", [Get("2", [Item(target=Target("./DevInfo/Mod"))])]),
                   now=0)
    _reply(client)
    with pytest.raises(RemoteProtocolError) as info:
        client.receive(_server_msg(client, "2", []), now=0)
    assert info.value.reason == "msg_id_order"
    other, _ = _device()
    msg = decode(_server_msg(other, "1", []))
    msg.header.session_id = "FFFF" if other.session_id != "FFFF" else "FFFE"
    with pytest.raises(RemoteProtocolError) as info:
        other.receive(encode(msg), now=0)
    assert info.value.reason == "session_id"


def test_device_ui_alerts_use_defaults_on_timeout_and_406_without_ui() -> None:
    client, _ = _device(ui=lambda alert: None)
    client.receive(_server_msg(client, "1", [
        Alert("2", 1103, items=[Item(data="DR=2"), Item(data="Pick"), Item(data="a"),
                                Item(data="b")]),
        Alert("3", 1102, items=[Item(data="MAXDT=5"), Item(data="Name?")])]), now=0)
    statuses = [c for c in _reply(client).commands if isinstance(c, Status)]
    assert [s.data for s in statuses] == [200, 200, 408]
    assert statuses[1].items[0].data == "2"
    bare, _ = _device()
    bare.receive(_server_msg(bare, "1", [Alert("2", 1100, items=[Item(data=""),
                                                                   Item(data="hi")])]), now=0)
    assert [c.data for c in _reply(bare).commands if isinstance(c, Status)] == [200, 406]


def test_device_timer_resends_same_bytes_then_gives_up() -> None:
    tree = make_tree(client_auth="BASIC")
    client = ClientSession(tree, response_timeout=10, max_retries=1)
    client.start(now=0)
    first = client.data_to_send(now=0)
    assert first is not None and client.next_timer() == 10
    assert client.handle_timer(now=5) == []
    assert isinstance(client.handle_timer(now=10)[0], ev.TimedOut)
    again = client.data_to_send(now=10)
    assert again is not None and again.body == first.body
    events = client.handle_timer(now=25)
    assert client.state is State.ABORTED
    assert isinstance(events[-1], ev.SessionEnded) and events[-1].reason == "timeout"


def test_server_idle_timeout() -> None:
    server = make_server(client_auth="BASIC", idle_timeout=30)
    server.receive(_client_msg("1", "1", [Alert("1", 1201)]), now=100)
    server.send_commands([Get("0", [Item(target=Target("./DevInfo/Mod"))])])
    server.data_to_send()
    assert server.next_timer() == 130
    events = server.handle_timer(now=131)
    assert server.state is State.ABORTED
    assert [type(e).__name__ for e in events] == ["TimedOut", "CommandRefused", "SessionEnded"]


def test_package0_starts_a_server_initiated_session() -> None:
    tree = make_tree()
    note = notification.Notification(session_id=0x1A2F, server_id=SERVER_ID)
    raw = note.encode(SERVER_SECRET, SRV_NONCE)
    client = ClientSession.from_notification(tree, raw)
    assert client.session_id == "1A2F" and client.alert_code == 1200
    exchange = run_in_memory(client, make_server())
    started = [e for e in exchange.server_events if isinstance(e, ev.SessionStarted)]
    assert started[0].alert_code == 1200 and started[0].session_id == "1A2F"
    forged = note.encode("wrong password", SRV_NONCE)
    stranger = notification.Notification(session_id=1, server_id="someone-else").encode(
        SERVER_SECRET, SRV_NONCE)
    for bad in (forged, stranger, raw[:10]):
        with pytest.raises(RemoteProtocolError) as info:
            ClientSession.from_notification(tree, bad)
        assert info.value.reason == "bad_notification"


def test_large_object_bigger_than_max_obj_size_is_refused_locally() -> None:
    tree = make_tree()
    client = ClientSession(tree, max_msg_size=4096, max_obj_size=1000)
    big = Replace("0", [Item(target=Target("./Vendor/Acme/Firmware/Package"),
                             meta=Meta(format="b64"), data=LARGE_OBJECT)])
    exchange = run_in_memory(client, make_server(), app=queue_on_start([big]))
    refused = [e for e in exchange.server_events if isinstance(e, ev.CommandRefused)]
    assert refused and refused[0].command is big and refused[0].reason == "max_obj_size"
    assert tree.device_get("./Vendor/Acme/Firmware/Package") == b""
    assert not completed(exchange.server_events)


def test_client_auth_type_chosen_per_account() -> None:
    tree = make_tree(client_auth="BASIC")
    chosen: list[str | None] = []

    def per_account(name: str | None) -> str:
        chosen.append(name)
        return "BASIC" if name == DEVICE_USER else "DIGEST"

    server = make_server(client_auth=per_account)  # type: ignore[arg-type]
    exchange = run_in_memory(ClientSession(tree), server)
    assert chosen == [DEVICE_USER]
    assert [type(e).__name__ for e in exchange.server_events][:3] == [
        "MessageReceived", "Authenticated", "SessionStarted"]
    assert server.policy.accepted_type == auth.META_BASIC


@pytest.mark.parametrize("fmt", FORMATS)
def test_device_splits_its_package_within_the_servers_max_msg_size(fmt: str) -> None:
    tree = make_tree()
    gets = [Get("0", [Item(target=Target("./Vendor/Acme/Settings?list=TNDS"))])
            for _ in range(12)]
    limit = 2500 if fmt == "xml" else 1200
    server = make_server(max_msg_size=limit)
    client = ClientSession(tree, fmt=fmt)  # type: ignore[arg-type]
    exchange = run_in_memory(client, server, app=queue_on_start(gets))
    done = completed(exchange.server_events)
    assert [id(e.command) for e in done] == [id(g) for g in gets]
    assert all(e.status == 200 and "<MgmtTree" in str(e.results[0].items[0].data)
               for e in done)
    client_msgs = [m for d, m in exchange.messages if d == "C"]
    assert sum(1 for m in client_msgs if not m.final) >= 2
    assert all(len(m.body) <= limit for m in client_msgs[2:])  # after package 1
    # The server asked for each next message of the device's package with 1222.
    server_msgs = [decode(m.body) for d, m in exchange.messages if d == "S"]
    assert sum(1 for m in server_msgs for c in m.commands
               if isinstance(c, Alert) and c.data == 1222) >= 2
    assert client.state is State.CLOSED and server.state is State.CLOSED


@pytest.mark.parametrize(("fmt", "tamper"), [("xml", False), ("wbxml", False), ("xml", True)])
def test_device_sends_large_results_in_chunks(fmt: str, tamper: bool) -> None:
    import base64
    import re

    tree = make_tree()
    blob = bytes(range(256)) * 40  # 10 KiB: b64 text of 13,656 bytes
    tree.device_replace("./Vendor/Acme/Firmware/Package", blob, "bin")
    get = Get("0", [Item(target=Target("./Vendor/Acme/Firmware/Package"))])
    server = make_server(max_msg_size=3000)

    def wire(direction: str, msg: Outgoing) -> Outgoing | None:
        if tamper and direction == "C" and b"<Size" in msg.body:
            body = re.sub(rb"(<Size[^>]*>)(\d+)", lambda m: m[1] + str(int(m[2]) + 1).encode(),
                          msg.body)
            return Outgoing(body, msg.content_type, msg.msg_id, msg.final, msg.hmac)
        return msg

    client = ClientSession(tree, fmt=fmt)  # type: ignore[arg-type]
    exchange = run_in_memory(client, server, app=queue_on_start([get]), wire=wire)
    done = completed(exchange.server_events)
    assert [e.command for e in done] == [get]
    client_msgs = [m for d, m in exchange.messages if d == "C"]
    assert sum(1 for m in client_msgs if not m.final) >= 3
    assert all(len(m.body) <= 3000 for m in client_msgs[2:])
    if tamper:
        assert done[0].status == 424 and done[0].results == ()
    else:
        assert done[0].status == 200
        item = done[0].results[0].items[0]
        assert item.meta is not None and item.meta.format == "b64"
        assert base64.b64decode(str(item.data)) == blob
    assert client.state is State.CLOSED and server.state is State.CLOSED


def test_device_bounds_an_undeclared_large_object_by_max_obj_size() -> None:
    client, tree = _device(max_obj_size=10)
    codes: list[int] = []
    for number, (data, more) in enumerate([("abcd", True), ("efgh", True), ("ijkl", True),
                                           ("mnop", True), ("qrst", False)], 1):
        client.receive(_server_msg(client, str(number), [_chunk("2", data, more)],
                                   final=not more), now=0)
        codes += [c.data for c in _reply(client).commands
                  if isinstance(c, Status) and c.cmd == "Replace"]
    assert codes == [213, 213, 413, 413, 413]
    assert client._chunks is None and client._refused_uri is None
    assert tree.device_get("./Vendor/Acme/Logs/Boot") == "boot ok"


@pytest.mark.parametrize("suffix", [".xml", ".wbxml"])
@pytest.mark.parametrize("corpus", [CORPUS, pytest.param(SHARED_CORPUS, marks=NEEDS_SHARED_CORPUS)],
                         ids=["own", "shared"])
def test_device_answers_the_reference_package_2_in_order(corpus: Path, suffix: str) -> None:
    """A corpus' package 2 (45 commands, Atomic, Sequence, UI alert) into a device: one
    Status per command in arrival order (containers before their children), each Get's
    Results right after its Status, and nothing run that the ACLs forbid."""
    raw = (corpus / f"pkg2_server_mgmt{suffix}").read_bytes()
    tree = make_tree(server_auth="NONE", client_auth="BASIC")
    sent = decode(raw)
    client = ClientSession(tree, session_id=sent.header.session_id,
                           ui=lambda alert: UiResponse(200))
    client.start(now=0)
    assert client.data_to_send(now=0) is not None
    client.receive(raw, now=0)
    reply = _reply(client)

    def flat(commands: list[object]) -> list[object]:
        out: list[object] = []
        for command in commands:
            out.append(command)
            out.extend(flat(getattr(command, "commands", [])))
        return out

    expected = [c for c in flat(sent.commands) if not isinstance(c, Status)]
    statuses = [c for c in reply.commands if isinstance(c, Status)]
    assert statuses[0].cmd == "SyncHdr" and statuses[0].cmd_ref == "0"
    assert [(s.cmd_ref, s.cmd) for s in statuses[1:]] == [
        (c.cmd_id, c.ELEMENT) for c in expected]  # type: ignore[attr-defined]
    for index, command in enumerate(reply.commands):
        if isinstance(command, Results):
            before = reply.commands[index - 1]
            assert isinstance(before, Status | Results) and before.cmd_ref == command.cmd_ref
    codes = {s.cmd_ref: s.data for s in statuses}
    assert codes["4"] == 200  # Get ./DevDetail/SwV
    assert codes["7"] == 404  # a vendor node that does not exist here
    assert codes["37"] == 507 and codes["45"] == 200  # Atomic on missing nodes; UI display
    assert reply.final and len({c.cmd_id for c in reply.commands}) == len(reply.commands)


def test_a_pending_command_starts_without_lists_and_keeps_what_arrives() -> None:
    """``Pending`` holds no list for children, Results or data until one arrives (most
    commands get none); what arrives is kept in order and reported."""
    from omadm_codec.messages.model import Get, Item, Results, Target
    from omadm_codec.session._inflight import Pending

    pending = Pending(Get("1", [Item(target=Target("./DevInfo/Mod"))]))
    assert pending.children == () and pending.results == () and pending.data == ()
    first, second = (Results("2", "1", "1", [Item(source=None, data=text)])
                     for text in ("a", "b"))
    pending.add_result(first)
    pending.add_result(second)
    pending.statuses.append(200)
    assert pending.results == [first, second]
    assert pending.event().results == (first, second) and pending.event().outcome == "ok"
