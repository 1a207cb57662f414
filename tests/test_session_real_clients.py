"""What the server session does with what real clients send (issue 12; docs/interop.md), sans-IO,
against devices that deviate through ``DeviceBehaviour``: each absorbed deviation is a named
quirk (lenient) and refused in strict mode; every command ends with a named outcome; every
end the device did not ask for carries Alert 1223; a message after the end gets a DM answer.

The codec twin is the active one; CI runs this file under both (``OMADM_CODEC_PUREPYTHON``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import pytest

from omadm_codec.errors import RemoteProtocolError
from omadm_codec.messages import decode, encode
from omadm_codec.messages.model import (
    Alert,
    Atomic,
    Command,
    Get,
    Item,
    Message,
    Meta,
    Replace,
    Status,
    Target,
)
from omadm_codec.security import auth
from omadm_codec.security.nonces import NonceManager
from omadm_codec.session import (
    DS_CONTENT_TYPES,
    SESSION_QUIRKS,
    ClientSession,
    CommandCompleted,
    DeviceBehaviour,
    ServerSession,
    State,
)
from omadm_codec.session import events as ev
from omadm_codec.tools.demo_scenario import LARGE_OBJECT
from omadm_codec.tools.simulator import (
    DEVICE_SECRET,
    DEVICE_USER,
    SERVER_ID,
    SERVER_SECRET,
    Exchange,
    build_tree,
    run_in_memory,
)
from omadm_codec.tree import DMTree

SRV_NONCE = b"initial-srv-nonce"
URI = "http://127.0.0.1/dm"
FORMATS = ["xml", "wbxml"]
DEV_ID = "IMEI:490154203237518"


def make_server(*, client_auth: str = "DIGEST", server_auth: str | None = "DIGEST",
                password: str = DEVICE_SECRET, **kw: object) -> ServerSession:
    nonces = NonceManager()
    nonces.reset_resync(DEVICE_USER, "SRVCRED", SRV_NONCE)
    stored = {DEVICE_USER: auth.secret_hash(DEVICE_USER, password)}
    return ServerSession(server_id=SERVER_ID, server_uri=URI, secret_lookup=stored.get,
                         nonces=nonces, aauth_type=client_auth,
                         server_secret=SERVER_SECRET if server_auth else None,
                         server_auth_type=server_auth or "DIGEST", **kw)  # type: ignore[arg-type]


def make_tree(*, client_auth: str = "DIGEST", server_auth: str = "DIGEST") -> DMTree:
    return build_tree(server_addr=URI, server_auth=server_auth, client_auth=client_auth,
                      server_nonce=SRV_NONCE)


def device(behaviour: DeviceBehaviour, *, fmt: str = "xml", client_auth: str = "DIGEST",
           server_auth: str = "DIGEST", **kw: object) -> ClientSession:
    return ClientSession(make_tree(client_auth=client_auth, server_auth=server_auth),
                         fmt=fmt, behaviour=behaviour, **kw)  # type: ignore[arg-type]


def queue_on_start(commands: Sequence[Command]) -> Callable[[ServerSession, list[ev.Event]], None]:
    def app(server: ServerSession, events: list[ev.Event]) -> None:
        if any(isinstance(e, ev.SessionStarted) for e in events):
            server.send_commands(commands)
    return app


def item(uri: str, data: str | bytes | None = None, fmt: str | None = None) -> Item:
    return Item(target=Target(uri), meta=Meta(format=fmt) if fmt else None, data=data)


def completed(exchange: Exchange, command: Command) -> CommandCompleted:
    found = [e for e in exchange.server_events
             if isinstance(e, CommandCompleted) and e.command is command]
    assert len(found) == 1, found
    return found[0]


def server_ended(exchange: Exchange) -> list[str]:
    return [e.reason for e in exchange.server_events if isinstance(e, ev.SessionEnded)]


def server_messages(exchange: Exchange) -> list[Message]:
    return [decode(out.body) for side, out in exchange.messages if side == "S"]


def alerts(msg: Message, code: int) -> list[Alert]:
    return [c for c in msg.commands if isinstance(c, Alert) and c.data == code]


def test_every_quirk_and_outcome_is_named() -> None:
    assert set(SESSION_QUIRKS) == {"missing_loc_name", "missing_status", "chunk_status"}
    assert set(ev.OUTCOMES) == {"ok", "failed", "no_status", "invalid_status",
                                "large_object_failed"}
    assert [ev.outcome_of(code) for code in (0, 99, 100, 200, 299, 304, 404, 599, 600)] == [
        "invalid_status", "invalid_status", "failed", "ok", "ok", "failed", "failed", "failed",
        "invalid_status"]


# -- a package that ends without a Status for every command --------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_unanswered_atomic_ends_no_status_at_the_devices_final(fmt: str) -> None:
    """A device that never answers an Atomic (libdmclient): at its Final the Atomic ends with
    the outcome ``no_status`` (its children as answered) and the session completes at once,
    not after the idle timeout."""
    atomic = Atomic("0", [Replace("0", [item("./Vendor/Acme/Settings/Brightness", "10",
                                             "int")])])
    get = Get("0", [item("./DevInfo/Mod")])
    server = make_server()
    exchange = run_in_memory(device(DeviceBehaviour(atomic_status=False), fmt=fmt), server,
                             app=queue_on_start([atomic, get]))
    done = completed(exchange, atomic)
    assert (done.status, done.outcome, done.ok) == (0, "no_status", False)
    assert [(c.status, c.outcome) for c in done.children] == [(200, "ok")]
    assert completed(exchange, get).ok
    assert server.quirks == ["missing_status"]
    assert server_ended(exchange) == ["completed"] and server.state is State.CLOSED
    assert server.next_timer() is None


def test_unanswered_command_in_strict_mode_ends_the_session_with_1223() -> None:
    atomic = Atomic("0", [Replace("0", [item("./Vendor/Acme/Settings/Brightness", "10",
                                             "int")])])
    later = Get("0", [item("./DevInfo/Man")])
    server = make_server(strict=True)

    def app(srv: ServerSession, events: list[ev.Event]) -> None:
        if any(isinstance(e, ev.SessionStarted) for e in events):
            srv.send_commands([atomic])
        if any(isinstance(e, CommandCompleted) for e in events):
            srv.send_commands([later])  # queued after the refusal: never sent

    exchange = run_in_memory(device(DeviceBehaviour(atomic_status=False)), server, app=app)
    assert completed(exchange, atomic).outcome == "no_status"
    refused = [e for e in exchange.server_events if isinstance(e, ev.CommandRefused)]
    assert [(e.command, e.reason) for e in refused] == [(later, "session_ended")]
    assert server_ended(exchange) == ["missing_status"]
    assert server.end_reason == "missing_status" and server.quirks == []
    assert alerts(server_messages(exchange)[-1], 1223)


def test_a_spec_device_leaves_nothing_unanswered() -> None:
    server = make_server(strict=True)
    atomic = Atomic("0", [Replace("0", [item("./Vendor/Acme/Settings/Brightness", "10",
                                             "int")])])
    exchange = run_in_memory(device(DeviceBehaviour()), server, app=queue_on_start([atomic]))
    assert completed(exchange, atomic).outcome == "ok"
    assert server_ended(exchange) == ["completed"] and server.quirks == []


# -- large objects -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_200_on_a_chunk_fails_the_object_and_stops_it(fmt: str) -> None:
    """A device that ignores MoreData answers the first chunk 200 and keeps it alone: the
    object failed (``large_object_failed``, status 200 kept), no further chunk is sent, the
    quirk ``chunk_status`` is recorded."""
    big = Replace("0", [item("./Vendor/Acme/Firmware/Package", LARGE_OBJECT, "b64")])
    server = make_server()
    client = device(DeviceBehaviour(large_objects=False), fmt=fmt, max_msg_size=8192)
    exchange = run_in_memory(client, server, app=queue_on_start([big]))
    done = completed(exchange, big)
    assert (done.status, done.outcome, done.ok) == (200, "large_object_failed", False)
    chunks = [c for msg in server_messages(exchange) for c in msg.commands
              if isinstance(c, Replace)]
    assert len(chunks) == 1 and chunks[0].items[0].more_data
    assert server.quirks == ["chunk_status"] and server_ended(exchange) == ["completed"]
    kept = client.tree.device_get("./Vendor/Acme/Firmware/Package")
    assert isinstance(kept, bytes) and 0 < len(kept) < len(LARGE_OBJECT)


def test_200_on_a_chunk_in_strict_mode_ends_the_session() -> None:
    big = Replace("0", [item("./Vendor/Acme/Firmware/Package", LARGE_OBJECT, "b64")])
    server = make_server(strict=True)
    exchange = run_in_memory(device(DeviceBehaviour(large_objects=False), max_msg_size=8192),
                             server, app=queue_on_start([big]))
    assert completed(exchange, big).outcome == "large_object_failed"
    assert server_ended(exchange) == ["chunk_status"]
    assert alerts(server_messages(exchange)[-1], 1223)


def test_a_refused_chunk_fails_the_object_without_a_quirk() -> None:
    """413 on the first chunk (bigger than the device takes, which it did not announce): a
    plain refusal."""
    big = Replace("0", [item("./Vendor/Acme/Firmware/Package", LARGE_OBJECT, "b64")])
    server = make_server(strict=True)
    exchange = run_in_memory(device(DeviceBehaviour(announce_max_obj_size=False),
                                    max_msg_size=8192, max_obj_size=1000),
                             server, app=queue_on_start([big]))
    done = completed(exchange, big)
    assert (done.status, done.outcome) == (413, "large_object_failed")
    assert server.quirks == [] and server_ended(exchange) == ["completed"]


# -- status codes outside 100-599 --------------------------------------------------------------


def test_status_zero_is_invalid_status_never_ok() -> None:
    """A device that cannot check a server that sends no credentials answers 0 everywhere:
    every outcome is ``invalid_status``; nothing ran on the device."""
    get = Get("0", [item("./DevInfo/Mod")])
    replace = Replace("0", [item("./Vendor/Acme/Settings/Brightness", "10", "int")])
    server = make_server(server_auth=None)
    client = device(DeviceBehaviour(unverified_server_status=0))
    exchange = run_in_memory(client, server, app=queue_on_start([get, replace]))
    for command in (get, replace):
        done = completed(exchange, command)
        assert (done.status, done.outcome, done.ok) == (0, "invalid_status", False)
    assert client.tree.device_get("./Vendor/Acme/Settings/Brightness") == "70"
    assert "status_code_range" in server.quirks
    assert server_ended(exchange) == ["completed"]  # the server asked for no trust


def test_a_server_the_device_never_accepted_is_not_a_completed_session() -> None:
    """Server HMAC to a device that cannot check it: 0 for the SyncHdr every time. The session
    ends at the server's Final-only package, but not as ``completed``."""
    get = Get("0", [item("./DevInfo/Mod")])
    server = make_server(server_auth="HMAC")
    exchange = run_in_memory(device(DeviceBehaviour(unverified_server_status=0)), server,
                             app=queue_on_start([get]))
    assert completed(exchange, get).outcome == "invalid_status"
    assert server_ended(exchange) == ["server_not_authenticated"]
    assert server.state is State.CLOSED and server.end_reason == "server_not_authenticated"


def test_a_device_that_checks_the_server_answers_with_its_verdict() -> None:
    """The same device against a server whose md5 Cred it can check: 212, commands run."""
    get = Get("0", [item("./DevInfo/Mod")])
    server = make_server()
    exchange = run_in_memory(device(DeviceBehaviour(unverified_server_status=0)), server,
                             app=queue_on_start([get]))
    assert completed(exchange, get).ok
    assert server_ended(exchange) == ["completed"]
    header = [c for msg in (decode(o.body) for s, o in exchange.messages if s == "C")
              for c in msg.commands if isinstance(c, Status) and c.cmd_ref == "0"]
    assert [s.data for s in header][-1] == 212


# -- credentials without LocName -------------------------------------------------------------


NO_LOC_NAME = DeviceBehaviour(send_loc_name=False, credentials_before_nonce=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_md5_without_loc_name_uses_the_one_account_bound_to_the_device(fmt: str) -> None:
    get = Get("0", [item("./DevInfo/Mod")])
    server = make_server(accounts_for_device=lambda dev: [DEVICE_USER] if dev == DEV_ID else [])
    exchange = run_in_memory(device(NO_LOC_NAME, fmt=fmt), server, app=queue_on_start([get]))
    auths = [e for e in exchange.server_events if isinstance(e, ev.Authenticated)]
    assert [(a.username, a.status) for a in auths] == [(DEVICE_USER, 212)]
    failed = [e.reason for e in exchange.server_events if isinstance(e, ev.AuthenticationFailed)]
    assert failed == ["no_nonce"]  # the digest over the empty nonce, then the challenged one
    assert completed(exchange, get).ok and server.quirks == ["missing_loc_name"]


@pytest.mark.parametrize("fits", [[], [DEVICE_USER, "other"]], ids=["none", "several"])
def test_md5_without_loc_name_and_no_single_fit_is_challenged_then_ended(
        fits: list[str]) -> None:
    server = make_server(accounts_for_device=lambda dev: fits)
    exchange = run_in_memory(device(NO_LOC_NAME, max_auth_attempts=None), server)
    failed = [e.reason for e in exchange.server_events if isinstance(e, ev.AuthenticationFailed)]
    assert failed == ["missing_loc_name"] * 3
    messages = server_messages(exchange)
    for msg in messages[:2]:
        status = msg.commands[0]
        assert isinstance(status, Status) and status.data == 401 and not alerts(msg, 1223)
        assert status.chal is not None and status.chal.meta is not None
        assert status.chal.meta.type == auth.META_MD5
    assert alerts(messages[2], 1223) and messages[2].final
    assert server_ended(exchange) == ["auth_failed"] and server.quirks == []


def test_hmac_without_loc_name_is_keyed_on_the_header_username() -> None:
    get = Get("0", [item("./DevInfo/Mod")])
    server = make_server(client_auth="HMAC")
    exchange = run_in_memory(device(NO_LOC_NAME, client_auth="HMAC"), server,
                             app=queue_on_start([get]))
    first = server_messages(exchange)[0].commands[0]
    assert isinstance(first, Status) and first.data == 401 and first.chal is not None
    auths = [e for e in exchange.server_events if isinstance(e, ev.Authenticated)]
    assert [(a.username, a.status) for a in auths] == [(DEVICE_USER, 200)]
    assert completed(exchange, get).ok and server.quirks == ["missing_loc_name"]


def test_credentials_without_loc_name_in_strict_mode_are_challenged_never_accepted() -> None:
    server = make_server(client_auth="HMAC", strict=True)
    exchange = run_in_memory(device(NO_LOC_NAME, client_auth="HMAC"), server)
    assert not [e for e in exchange.server_events if isinstance(e, ev.Authenticated)]
    failed = [e.reason for e in exchange.server_events if isinstance(e, ev.AuthenticationFailed)]
    assert failed == ["missing_loc_name"] * 3
    assert server_ended(exchange) == ["auth_failed"]


def test_basic_without_loc_name_names_its_user() -> None:
    """auth-basic carries the user: no LocName needed, no quirk (dm-protocol.md: LocName is
    the user id for md5 and HMAC)."""
    server = make_server(client_auth="BASIC", strict=True)
    exchange = run_in_memory(device(DeviceBehaviour(send_loc_name=False), client_auth="BASIC"),
                             server)
    auths = [e for e in exchange.server_events if isinstance(e, ev.Authenticated)]
    assert [a.username for a in auths] == [DEVICE_USER] and server.quirks == []


# -- answers a client can act on -------------------------------------------------------------


def test_auth_failures_carry_a_chal_and_the_last_one_1223() -> None:
    server = make_server(password="not-the-devices")
    exchange = run_in_memory(device(DeviceBehaviour(), max_auth_attempts=None), server)
    messages = server_messages(exchange)
    assert len(messages) == 3
    for msg in messages[:2]:
        status = msg.commands[0]
        assert isinstance(status, Status) and status.data in (401, 407)
        assert status.chal is not None and not alerts(msg, 1223)
    assert alerts(messages[2], 1223) and messages[2].final
    assert server_ended(exchange) == ["auth_failed"]


def test_unchallenged_wrong_type_is_told_the_required_type() -> None:
    """auth-basic to a server demanding md5: a Chal naming auth-md5, and a device that follows
    it authenticates; a device that does not ends the session (1223)."""
    server = make_server()
    follows = device(DeviceBehaviour(follow_challenge_type=True), client_auth="BASIC")
    exchange = run_in_memory(follows, server)
    assert [e.reason for e in exchange.server_events
            if isinstance(e, ev.AuthenticationFailed)] == ["wrong_type"]
    assert [e.status for e in exchange.server_events if isinstance(e, ev.Authenticated)] == [212]
    clcred = follows.account.credentials("CLCRED")
    assert clcred is not None
    assert follows.tree.device_get(f"{clcred.uri}/AAuthType") == "DIGEST"
    server = make_server()
    exchange = run_in_memory(device(DeviceBehaviour(retry_without_challenge=True),
                                    client_auth="BASIC"), server)
    assert server_ended(exchange) == ["auth_failed"]
    assert alerts(server_messages(exchange)[-1], 1223)


def after_the_end(server: ServerSession, exchange: Exchange) -> Message:
    """The device's last message again, as a new message (next MsgID): refused with a DM
    answer, the session untouched."""
    last = decode(next(o for s, o in reversed(exchange.messages) if s == "C").body)
    again = dataclasses.replace(last, header=dataclasses.replace(
        last.header, msg_id=str(int(last.header.msg_id) + 1)))
    state = server.state
    with pytest.raises(RemoteProtocolError) as info:
        server.receive(encode(again), now=5)
    assert info.value.reason == "session_over" and server.state is state
    assert info.value.response
    return decode(info.value.response)


def test_a_message_after_the_end_gets_a_readable_answer() -> None:
    server = make_server(password="not-the-devices")
    exchange = run_in_memory(device(DeviceBehaviour(), max_auth_attempts=None), server)
    answer = after_the_end(server, exchange)
    status = answer.commands[0]
    assert isinstance(status, Status) and status.data == 401 and alerts(answer, 1223)
    server = make_server()
    exchange = run_in_memory(device(DeviceBehaviour()), server)
    assert server.state is State.CLOSED
    answer = after_the_end(server, exchange)
    status = answer.commands[0]
    assert isinstance(status, Status) and status.data == 400 and alerts(answer, 1223)
    # A retransmission of the last message is still answered from the cache.
    last = next(o for s, o in reversed(exchange.messages) if s == "C")
    assert [type(e) for e in server.receive(last.body, now=6)] == [ev.DuplicateReceived]
    assert server.data_to_send() == next(o for s, o in reversed(exchange.messages) if s == "S")


@pytest.mark.parametrize("fmt", FORMATS)
def test_ds_media_type_is_a_quirk_then_refused_in_strict_mode(fmt: str) -> None:
    behaviour = DeviceBehaviour(media_types=DS_CONTENT_TYPES)
    server = make_server()
    exchange = run_in_memory(device(behaviour, fmt=fmt), server)
    assert exchange.messages[0][1].content_type == DS_CONTENT_TYPES[fmt]
    assert server_ended(exchange) == ["completed"] and server.quirks == ["ds_media_type"]
    server = make_server(strict=True)
    client = device(behaviour, fmt=fmt)
    client.start(now=0)
    out = client.data_to_send(now=0)
    assert out is not None
    with pytest.raises(RemoteProtocolError) as info:
        server.receive(out.body, now=0, content_type=out.content_type)
    assert info.value.reason == "ds_media_type"
    answer = decode(info.value.response or b"")
    assert answer.commands[0].data == 400 and alerts(answer, 1223)  # type: ignore[union-attr]


# -- bounding what a device must answer at once ----------------------------------------------


def test_max_commands_per_message_spreads_a_package() -> None:
    gets = [Get("0", [item("./DevInfo/Mod")]) for _ in range(25)]
    server = make_server(max_commands_per_message=10)
    exchange = run_in_memory(device(DeviceBehaviour()), server, app=queue_on_start(gets))
    carrying = [sum(isinstance(c, Get) for c in msg.commands)
                for msg in server_messages(exchange)]
    assert [n for n in carrying if n] == [10, 10, 5]
    assert all(completed(exchange, get).ok for get in gets)
    assert server_ended(exchange) == ["completed"]


# -- snapshots keep what this adds -----------------------------------------------------------


def test_snapshots_keep_quirks_strictness_and_verdicts() -> None:
    server = make_server(client_auth="HMAC", max_commands_per_message=7)
    client = device(NO_LOC_NAME, client_auth="HMAC", max_auth_attempts=None)
    client.start(now=0)
    out = client.data_to_send(now=0)
    assert out is not None
    server.receive(out.body, now=0, content_type=out.content_type, hmac=out.hmac)
    server.data_to_send()
    restored = ServerSession.restore(server.snapshot(), secret_lookup=lambda u: None,
                                     accounts_for_device=lambda d: ["x"])
    assert restored.quirks == ["missing_loc_name"] and restored.max_commands_per_message == 7
    assert restored.policy.challenged and not restored.strict
    assert restored.accounts_for_device is not None
    unverified = device(DeviceBehaviour(unverified_server_status=0), max_auth_attempts=None)
    again = ClientSession.restore(unverified.snapshot(), unverified.tree,
                                  behaviour=unverified.behaviour)
    assert again.max_auth_attempts is None and again._srv_verdict == 0
    assert again.behaviour is unverified.behaviour


def test_a_capped_package_keeps_a_libdmclient_reply_under_its_ceiling() -> None:
    """L8: libdmclient cannot split its reply and fails above about 40 KB. 70 Gets of a
    300-character value in one server message make it fail; at most 40 per message, the same
    package completes."""
    from omadm_codec.tools import profiles

    def run(cap: int | None) -> Exchange:
        tree = profiles.build_libdmclient_tree(server_nonce=SRV_NONCE)
        tree.device_add("./Vendor/memory/blob", "x" * 300, format="chr")
        client = profiles.libdmclient_session(
            tree, profile=profiles.Libdmclient(max_reply_size=40_000))
        nonces = NonceManager()
        nonces.reset_resync("funambol", "SRVCRED", SRV_NONCE)
        stored = {"funambol": auth.secret_hash("funambol", "funambol")}
        server = ServerSession(server_id="funambol", server_uri=URI, secret_lookup=stored.get,
                               nonces=nonces, aauth_type="BASIC", server_secret="srvpwd",
                               max_commands_per_message=cap)
        gets = [Get("0", [item("./Vendor/memory/blob")]) for _ in range(70)]
        exchange = run_in_memory(client, server, app=queue_on_start(gets))
        assert all(completed(exchange, get).ok for get in gets)
        return exchange

    with pytest.raises(profiles.LibdmclientCrash) as info:
        run(None)
    assert info.value.reason == "reply_too_large"
    exchange = run(40)
    assert server_ended(exchange) == ["completed"]
    assert max(len(out.body) for side, out in exchange.messages if side == "C") <= 40_000
