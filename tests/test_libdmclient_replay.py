"""Sessions of a real DM client (Intel's libdmclient, C) replayed against the server: every
capture in ``../shared/corpus/libdmclient`` (README there; spec/interop-quirks.md L1-L10),
in-process (ASGI calls) and over real HTTP (uvicorn on 127.0.0.1), with the server issuing the
captured nonces so the client's digests and MACs still verify (``libdmclient_replay``).

Issue 12: where the server at the capture's commit answered right, the replay must reproduce
its answer byte for byte; where it answered wrong, the replay runs the part of the client's
bytes that still applies to the fixed server and asserts the outcome the spec requires. The
second kind fails until issue 12 is fixed; that is what they are for.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import libdmclient_replay as R
import pytest

captures = pytest.mark.skipif(not R.available(), reason=R.REASON)
"""For the tests that read the captures (the device profile's full sessions do not)."""

TRANSPORTS = ["asgi", "http"]
DM_TYPES = ("application/vnd.syncml.dm+xml", "application/vnd.syncml.dm+wbxml")

# The named quirk each absorbed deviation is recorded under (lenient), and the strict error
# it becomes (the same code as the DecodeError / RemoteProtocolError reason).
QUIRKS = {
    "ds_media_type": "stock-dsmime",
    "missing_loc_name": "fixed-xml-md5",
    "missing_status": "fixed-xml",
    "chunk_status": "fixed-xml-custom",
    "status_code_range": "fixed-xml-srvhmac",
}


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    if request.param == "http":
        pytest.importorskip("uvicorn")
        pytest.importorskip("httpx")
    return str(request.param)


def run(name: str, transport: str, **kwargs: object) -> R.Replay:
    return R.replay(name, transport=transport, **kwargs)  # type: ignore[arg-type]


def chal_type(msg: object) -> str | None:
    status = R.header_status(msg)
    if status is None or status.chal is None or status.chal.meta is None:
        return None
    return str(status.chal.meta.type)


# -- the replay is faithful where the server was right ---------------------------------------

RIGHT_ANSWERS = [
    ("fixed-xml", 2), ("fixed-wbxml", 2),
    ("fixed-xml-custom", 3), ("fixed-wbxml-custom", 3),
    ("fixed-xml-srvhmac", 4),
]


@captures
@pytest.mark.parametrize(("name", "count"), RIGHT_ANSWERS, ids=[n for n, _ in RIGHT_ANSWERS])
def test_replay_reproduces_the_answers_that_were_right(name: str, count: int,
                                                       transport: str) -> None:
    """Same configuration, same nonces, same token: the same answer for every answer the spec
    agrees with (the same model; only the MaxObjSize the server advertises since issue 13 is
    new), and a server ``x-syncml-hmac`` over the exact bytes sent wherever one was sent."""
    replay = run(name, transport, upto=count)
    assert replay.pinned, "the RespURI token could not be pinned: compare after normalizing"
    assert len(replay.answers) == count
    for answer, captured in zip(replay.answers, replay.captured[:count], strict=True):
        assert answer.status == captured.status == 200
        assert replay.comparable(answer) == R.captured_model(captured)
        theirs = captured.resp_headers.get("x-syncml-hmac")
        ours = answer.headers.get("x-syncml-hmac")
        assert (ours is None) == (theirs is None)
        if theirs is not None:
            assert theirs == R.server_hmac(captured.response)  # the nonce and secret in use
            assert ours == R.server_hmac(answer.body)


@captures
@pytest.mark.parametrize("name", ["fixed-xml-md5", "fixed-xml-hmac"])
def test_first_challenge_is_keyed_on_an_account(name: str, transport: str) -> None:
    """md5 without LocName (account bound to the device) and HMAC (the header's username):
    the challenge nonce is issued for the account, from the server's nonce store, so it is the
    one the client then used (the captured one); at 2c882d0 it was an unstored random nonce."""
    replay = run(name, transport, upto=1)
    answer, captured = replay.answers[0], replay.captured[0]
    assert answer.status == 200
    ours, theirs = replay.comparable(answer), R.captured_model(captured)
    assert ours.header == theirs.header
    # The challenge (type and nonce) the client then answered, and a Status for each of its
    # commands (PRO 2.4.1), as the captured server answered.
    assert R.header_status(ours) == R.header_status(theirs)
    assert [(c.ELEMENT, getattr(c, "cmd_ref", None), getattr(c, "cmd", None))
            for c in ours.commands] == [(c.ELEMENT, getattr(c, "cmd_ref", None),
                                         getattr(c, "cmd", None)) for c in theirs.commands]


# -- L1 / Q12: the DS media type -----------------------------------------------------------


@captures
def test_stock_client_ds_media_type_starts_a_session(transport: str) -> None:
    """As shipped, libdmclient posts ``application/vnd.syncml+xml``: a named quirk, absorbed
    on the DM path (it was a 415 and no session at all)."""
    stock = R.stock_request()
    replay = run("stock-dsmime", transport, requests=[stock])
    answer = replay.answers[0]
    assert answer.status == 200, f"HTTP {answer.status}: the DS media type is refused"
    assert answer.headers.get("content-type", "").split(";")[0] in DM_TYPES
    msg = answer.msg()
    assert R.header_status(msg).data == 212
    # Otherwise the very answer fixed-xml got (the demo script's package 2).
    assert msg.commands[1:] == R.load("fixed-xml")[0].response_msg().commands[1:]


@captures
def test_stock_client_ds_media_type_refused_in_strict_mode() -> None:
    stock = R.stock_request()
    tokens = R.FixedTokens([])
    config = R.make_config(R.SETUPS["stock-dsmime"], tokens, strict=True)
    replay = R.replay("stock-dsmime", requests=[stock], config=config, tokens=tokens)
    assert replay.answers[0].status == 415


# -- L3: no Status for Atomic ------------------------------------------------------------


@captures
@pytest.mark.parametrize("name", ["fixed-xml", "fixed-wbxml"])
def test_atomic_without_status_ends_as_no_status_at_the_clients_final(name: str,
                                                                      transport: str) -> None:
    """The client's package (Final) answers every command but the Atomic: the Atomic ends
    now, with an explicit ``no_status`` outcome (its children as answered), not a timeout."""
    replay = run(name, transport, upto=2)
    atomics = replay.completed("Atomic", index=1)
    assert len(atomics) == 1, "the Atomic got no outcome at the client's Final"
    atomic = atomics[0]
    assert R.outcome(atomic) == "no_status"
    assert not R.succeeded(atomic)
    assert tuple(child.status for child in atomic.children) == (404, 404)
    assert not replay.of_type(R.M.events.TimedOut)


@captures
@pytest.mark.parametrize("name", ["fixed-xml", "fixed-wbxml"])
def test_demo_second_package_follows_once_every_command_has_an_outcome(
        name: str, transport: str) -> None:
    """With the Atomic ended (no_status) and the large object refused by the device (404 on
    its first chunk, the rest not sent), the demo's second package goes out in the answer to
    the client's third message; at 2c882d0 that answer was Final-only and the session then
    waited 300 s. (The capture ends there: the client's next bytes never existed.)"""
    replay = run(name, transport, upto=3)
    large = replay.completed("Replace", "./Vendor/Acme/Firmware/Package", index=2)
    assert [e.status for e in large] == [404] and not R.succeeded(large[0])
    assert replay.script.later == [], "the second package was never queued"
    msg = replay.answers[2].msg()
    gets = [R._uri(c.items[0]) for c in R.commands_named(msg, "Get")]
    assert gets == ["./Vendor/Acme/Ops/Reboot", "./Vendor/Acme/Mail/Server",
                    "./Vendor/Acme/Net/APN/3?list=Struct"]
    assert not R.commands_named(msg, "Replace"), "a further chunk of the refused object"


# -- L2: credentials without LocName ---------------------------------------------------------


@captures
def test_md5_digest_in_the_capture_is_right() -> None:
    """The client's second auth-md5 digest verifies with the account and the nonce the server
    issued first: only the missing LocName stood in the way."""
    captured = R.load("fixed-xml-md5")
    nonce = R.captured_nonces(captured)[0]
    cred = captured[1].request_msg().header.cred
    secret = R.M.auth.secret_hash(R.ACCOUNT, R.PASSWORD)
    assert R.M.auth.verify_md5(cred.data, secret, nonce)


@captures
def test_md5_without_locname_authenticates_through_the_device_binding(transport: str) -> None:
    """The account bound to the device's LocURI (DMCtest -> funambol) is the one the digest is
    checked against: the second message authenticates (212 with a NextNonce) and the session
    starts; at 2c882d0 every message was 401 ``bad_username``."""
    replay = run("fixed-xml-md5", transport, upto=2)
    msg = replay.answers[1].msg()
    status = R.header_status(msg)
    assert status.data == 212, f"SyncHdr status {status.data}"
    assert chal_type(msg) == "syncml:auth-md5" and status.chal.meta.next_nonce
    auth = replay.of_type(R.M.events.Authenticated, 1)
    assert [(a.username, a.status) for a in auth] == [(R.ACCOUNT, 212)]
    started = replay.of_type(R.M.events.SessionStarted, 1)
    assert [s.device_id for s in started] == [R.DEVICE]
    assert R.commands_named(msg, "Get"), "the demo script's package did not follow"


@captures
def test_md5_without_locname_and_no_single_account_is_challenged(transport: str) -> None:
    """No account bound to the device and more than one configured: no account fits, so the
    answer is a challenge of the required type (the session goes on)."""
    tokens = R.FixedTokens([])
    config = R.make_config(R.SETUPS["fixed-xml-md5"], tokens, bind_device=False,
                           extra_accounts={"other": "other-secret"})
    replay = run("fixed-xml-md5", transport, upto=1, config=config, tokens=tokens)
    msg = replay.answers[0].msg()
    assert R.header_status(msg).data == 401
    assert chal_type(msg) == "syncml:auth-md5"
    assert not R.alerts(msg, 1223)
    assert not replay.of_type(R.M.events.SessionEnded)


@captures
def test_hmac_without_locname_keys_the_nonce_on_the_header_username(transport: str) -> None:
    """``x-syncml-hmac: username="funambol"`` names the account: the challenge is stored for
    it and the next MAC verifies (200 with the next message's nonce). No device binding is
    needed."""
    tokens = R.FixedTokens(R.captured_nonces(R.load("fixed-xml-hmac")))
    config = R.make_config(R.SETUPS["fixed-xml-hmac"], tokens, bind_device=False)
    replay = run("fixed-xml-hmac", transport, upto=2, config=config, tokens=tokens)
    first = replay.answers[0].msg()
    assert R.header_status(first).data == 401 and chal_type(first) == "syncml:auth-MAC"
    msg = replay.answers[1].msg()
    status = R.header_status(msg)
    assert status.data == 200, f"SyncHdr status {status.data}"
    assert chal_type(msg) == "syncml:auth-MAC" and status.chal.meta.next_nonce
    auth = replay.of_type(R.M.events.Authenticated, 1)
    assert [(a.username, a.status) for a in auth] == [(R.ACCOUNT, 200)]
    assert [s.device_id for s in replay.of_type(R.M.events.SessionStarted, 1)] == [R.DEVICE]


# -- L6: answers a client can act on ---------------------------------------------------------

AUTH_TYPES = {"fixed-xml-md5": "syncml:auth-md5", "fixed-xml-hmac": "syncml:auth-MAC"}


@captures
@pytest.mark.parametrize("name", sorted(AUTH_TYPES))
def test_auth_failures_carry_a_chal_then_end_with_1223_then_a_readable_answer(
        name: str, transport: str) -> None:
    """The account's password is not the one the client uses: every failure before the limit
    carries a Chal of the required type; the third ends the session with Alert 1223; the
    client's next POST (it retries without limit) gets an answer it can read, not an empty
    409."""
    captured = R.load(name)
    tokens = R.FixedTokens(R.captured_nonces(captured))
    config = R.make_config(R.SETUPS[name], tokens, password="not-the-clients-password")
    replay = run(name, transport, config=config, tokens=tokens)
    first, second, third, fourth = replay.answers
    for answer in (first, second):
        msg = answer.msg()
        assert R.header_status(msg).data == 401
        assert chal_type(msg) == AUTH_TYPES[name]
        assert not R.alerts(msg, 1223)
    last = third.msg()
    assert R.header_status(last).data == 401
    assert R.alerts(last, 1223), "the session ended without Alert 1223"
    assert last.final
    assert not (fourth.status == 409 and not fourth.body), "empty 409 for the client's POST"
    if fourth.status == 200:
        assert R.alerts(fourth.msg(), 1223)
    assert replay.app.sessions_completed == 0 and replay.app.sessions_failed == 1


@captures
def test_unchallenged_wrong_auth_type_gets_a_chal_of_the_required_type(transport: str) -> None:
    """Package 1 with auth-basic to a server that demands auth-md5: no session end at once,
    but a challenge naming auth-md5 (the client switches to the type a Chal names). The rule
    against a downgrade still holds once a type was challenged or accepted."""
    setup = dataclasses.replace(R.SETUPS["fixed-xml"], client_auth="DIGEST")
    tokens = R.FixedTokens([])
    config = R.make_config(setup, tokens)
    replay = run("fixed-xml", transport, upto=1, config=config, tokens=tokens)
    msg = replay.answers[0].msg()
    assert R.header_status(msg).data in (401, 407)
    assert chal_type(msg) == "syncml:auth-md5"
    assert not R.alerts(msg, 1223)
    assert not replay.of_type(R.M.events.SessionEnded)


# -- L5: Status code 0 -------------------------------------------------------------------


@captures
def test_status_zero_never_counts_as_success(transport: str) -> None:
    """Server HMAC, which this client cannot check: it answers every command with 0. None of
    those outcomes is a success; each says the status was not a status."""
    replay = run("fixed-xml-srvhmac", transport)
    completed = replay.of_type(R.M.events.CommandCompleted)
    assert len(completed) == 19
    for event in completed:
        assert event.status == 0
        assert not R.succeeded(event)
        assert R.outcome(event) == "invalid_status", (event.command.ELEMENT, R.outcome(event))


@captures
def test_status_zero_session_is_not_counted_completed() -> None:
    """Every header Status was 0 too: the client never accepted the server's credentials and
    ran nothing. The session is not a completed one (it was counted so at 2c882d0)."""
    replay = R.replay("fixed-xml-srvhmac")
    ended = replay.of_type(R.M.events.SessionEnded)
    assert ended, "the session did not end at its Final-only package"
    assert replay.app.sessions_completed == 0


@captures
def test_status_zero_is_a_decode_error_in_strict_mode_and_a_quirk_otherwise() -> None:
    from omadm_codec import DecodeError, decode

    body = R.load("fixed-xml-srvhmac")[1].request
    with pytest.raises(DecodeError) as info:
        decode(body, strict=True)
    assert info.value.reason == "status_code_range"
    assert "status_code_range" in decode(body).quirks


# -- L4: 200 on a non-last chunk -----------------------------------------------------------


@captures
@pytest.mark.parametrize("name", ["fixed-xml-custom", "fixed-wbxml-custom"])
def test_200_on_a_non_last_chunk_fails_the_large_object(name: str, transport: str) -> None:
    """The client answers the first chunk (MoreData) with 200 and keeps only that chunk: the
    object failed, with a named outcome, and no further chunk is sent."""
    replay = run(name, transport, upto=3)
    large = replay.completed("Add", "./Vendor/memory/big", index=2)
    assert len(large) == 1
    assert large[0].status == 200
    assert not R.succeeded(large[0]), "a truncated large object reported as a success"
    assert R.outcome(large[0]) not in (None, "ok")
    msg = replay.answers[2].msg()
    assert not [c for c in R.commands_named(msg, "Add")
                if R._uri(c.items[0]) == "./Vendor/memory/big"], "the rest was sent"


@captures
@pytest.mark.parametrize("name", ["fixed-xml-custom", "fixed-wbxml-custom"])
def test_custom_session_ends_at_the_clients_last_final(name: str, transport: str) -> None:
    """The whole custom capture replays: the last client package answers everything but the
    Atomic, so the Atomic ends ``no_status``, the server's Final-only answer ends the session
    at once and it counts as completed; the Get shows what the device kept (7,892 of 27,308
    characters), the generic alert answering the Exec carries its Correlator."""
    replay = run(name, transport)
    assert [a.status for a in replay.answers] == [200, 200, 200, 200]
    assert replay.comparable(replay.answers[3]) == R.captured_model(replay.captured[3])
    atomic = replay.completed("Atomic", index=3)
    assert [R.outcome(a) for a in atomic] == ["no_status"]
    assert tuple(c.status for c in atomic[0].children) == (200,)
    get = replay.completed("Get", "./Vendor/memory/big", index=3)
    first_chunk = R.commands_named(replay.captured[1].response_msg(), "Add")[0].items[0].data
    assert len(first_chunk) == (7892 if name == "fixed-xml-custom" else 15784)
    assert len(get) == 1 and get[0].results[0].items[0].data == first_chunk
    assert [(e.status, R.succeeded(e)) for e in replay.completed("Exec", index=3)] == [(200, True)]
    assert [e.status for e in replay.completed("Delete", index=3)] == [200]
    alert = [a for a in replay.of_type(R.M.events.AlertReceived) if a.alert_code == 1226]
    assert [a.correlator for a in alert] == ["corr-42"]
    assert [e.reason for e in replay.of_type(R.M.events.SessionEnded, 3)] == ["completed"]
    assert replay.app.sessions_completed == 1


# -- every absorbed deviation: a named quirk (lenient), an error (strict) ------------------------

QUIRK_STEPS = {
    # quirk: (capture, requests to replay, the request index where the quirk shows)
    "ds_media_type": ("stock-dsmime", 1, 0),
    "missing_loc_name": ("fixed-xml-md5", 1, 0),
    "missing_status": ("fixed-xml", 2, 1),
    "chunk_status": ("fixed-xml-custom", 3, 2),
    "status_code_range": ("fixed-xml-srvhmac", 2, 1),
}


def _quirk_replay(quirk: str, strict: bool | None) -> R.Replay:
    name, upto, _ = QUIRK_STEPS[quirk]
    tokens = R.FixedTokens(R.captured_nonces(R.load(name)))
    config = R.make_config(R.SETUPS[name], tokens, strict=strict)
    requests = [R.stock_request()] if name == "stock-dsmime" else None
    return R.replay(name, upto=upto, config=config, tokens=tokens, requests=requests)


@captures
@pytest.mark.parametrize("quirk", sorted(QUIRK_STEPS))
def test_absorbed_deviation_is_a_named_quirk(quirk: str) -> None:
    replay = _quirk_replay(quirk, None)
    assert all(a.status == 200 for a in replay.answers)
    assert quirk in R.session_quirks(replay.session), R.session_quirks(replay.session)


@captures
@pytest.mark.parametrize("quirk", sorted(set(QUIRK_STEPS) - {"ds_media_type"}))
def test_absorbed_deviation_is_refused_in_strict_mode(quirk: str) -> None:
    """Strict: the message showing the deviation is not absorbed. Credentials without LocName
    are challenged (no Authenticated); the others end the session with a DM answer (1223)."""
    replay = _quirk_replay(quirk, True)
    _, _, index = QUIRK_STEPS[quirk]
    answer = replay.answers[index]
    assert answer.status == 200 and answer.body
    msg = answer.msg()
    if quirk == "missing_loc_name":
        assert R.header_status(msg).data == 401
        assert not replay.of_type(R.M.events.Authenticated)
    else:
        assert R.alerts(msg, 1223), f"strict mode absorbed {quirk}"
        assert replay.app.sessions_failed == 1
    assert quirk not in R.session_quirks(replay.session)


# -- L10 and `serve` ---------------------------------------------------------------------


@captures
def test_replay_on_the_clients_default_path(transport: str) -> None:
    """libdmclient's default server address is ``/funambol/dm``: a server on that path runs
    the same session (``DMServerApp(path=...)`` already can; ``serve --path`` must)."""
    replay = run("fixed-xml-custom", transport, upto=2, path="/funambol/dm")
    assert [a.status for a in replay.answers] == [200, 200]
    uri = replay.answers[0].msg().header.resp_uri
    assert "/funambol/dm/s/" in str(uri)


def test_serve_takes_the_options_a_real_client_needs() -> None:
    """``serve --path /funambol/dm --server-auth BASIC``: the path of the client's default
    address and the BASIC server auth the session layer has."""
    import argparse

    from omadm_codec.tools import cli_session as cli
    parser = argparse.ArgumentParser()
    cli.add_commands(parser.add_subparsers())
    args = parser.parse_args(["serve", "--path", "/funambol/dm", "--server-auth", "BASIC"])
    assert args.path == "/funambol/dm" and args.server_auth == "BASIC"


# -- the libdmclient-like device of the simulator ---------------------------------------------


@captures
@pytest.mark.parametrize("client_auth", ["BASIC", "DIGEST", "HMAC"])
def test_device_profile_package1_is_the_real_clients(client_auth: str) -> None:
    """The profile's package 1 has the captured client's header: SessionID 1, Source
    ``DMCtest`` without LocName, MaxMsgSize 16384 and no MaxObjSize, Final; its auth-basic
    Cred and its auth-md5 Cred over the empty nonce are the captured bytes; HMAC goes in the
    header with ``username="funambol"``."""
    profile = R.profile_module()
    capture = {"BASIC": "fixed-xml", "DIGEST": "fixed-xml-md5", "HMAC": "fixed-xml-hmac"}
    real = R.load(capture[client_auth])[0]
    tree = profile.build_libdmclient_tree(client_auth=client_auth,
                                          server_addr=real.request_msg().header.target.loc_uri)
    for behaviour, media in ((profile.FIXED, "application/vnd.syncml.dm+xml"),
                             (profile.STOCK, R.DS_XML)):
        client = profile.libdmclient_session(tree, profile=behaviour)
        client.start(now=0)
        out = client.data_to_send(now=0)
        assert out.content_type == media
        ours, theirs = R.M.codec.decode(out.body), real.request_msg()
        for field in ("session_id", "msg_id", "target", "source"):
            assert getattr(ours.header, field) == getattr(theirs.header, field), field
        assert ours.header.meta.max_msg_size == 16384 and ours.header.meta.max_obj_size is None
        assert ours.final and [c.ELEMENT for c in ours.commands] == ["Alert", "Replace"]
        if client_auth == "HMAC":
            assert ours.header.cred is None and theirs.header.cred is None
            assert out.hmac.startswith('algorithm=MD5, username="funambol", mac=')
        else:
            assert ours.header.cred == theirs.header.cred


SHAPES = ["fixed-xml-custom", "fixed-wbxml-custom", "fixed-xml-srvhmac"]


@captures
@pytest.mark.parametrize("name", SHAPES)
def test_device_profile_runs_the_captured_session_shape(name: str) -> None:
    """Against the server as it was, the profile runs the captured session's shape: the same
    commands and statuses in every message after package 1 (Final on all its own, 200 for
    the first chunk, no Status for the Atomic it ran, 1226 with the Correlator before the
    Exec's Status; with server HMAC, 0 everywhere and the unrun Atomic labelled Sequence)."""
    setup = R.SETUPS[name]
    profile = R.profile_module()
    from omadm_codec.tools import simulator
    tokens = R.FixedTokens([])
    config = R.make_config(setup, tokens)
    server = R.M.session.ServerSession(
        server_id=config.server_id, server_uri="http://127.0.0.1/dm",
        secret_lookup=config.secret_lookup, nonces=config.nonces, aauth_type="BASIC",
        server_secret=config.server_secret, server_auth_type=setup.server_auth)
    tree = profile.build_libdmclient_tree(server_nonce=R.INITIAL_SERVER_NONCE)
    client = profile.libdmclient_session(tree, fmt=setup.fmt)
    profile.attach(client)
    exchange = simulator.run_in_memory(client, server, app=R.make_script(setup))

    def shape(msg: Any) -> list[Any]:
        return [(c.ELEMENT, getattr(c, "cmd", None),
                 c.data if c.ELEMENT in ("Status", "Alert") else None, c.cmd_ref
                 if c.ELEMENT == "Status" else None) for c in msg.commands] + [msg.final]

    ours = [shape(R.M.codec.decode(m.body)) for _, m in exchange.messages]
    theirs = []
    for captured in R.load(name):
        theirs += [shape(captured.request_msg()), shape(captured.response_msg())]
    assert ours[1:] == theirs[1:]  # package 1 carries each tree's own DevInfo
    assert ours[0][0][:3] == theirs[0][0][:3]


MODES = [(fmt, client_auth, server_auth, preshared)
         for fmt in ("xml", "wbxml") for client_auth in ("BASIC", "DIGEST", "HMAC")
         for server_auth in ("NONE", "BASIC", "DIGEST") for preshared in (True, False)]


@pytest.mark.parametrize(("fmt", "client_auth", "server_auth", "preshared"), MODES,
                         ids=[f"{f}-{c}-srv{s}-{'preshared' if p else 'resync'}"
                              for f, c, s, p in MODES])
def test_device_profile_full_session_over_http(fmt: str, client_auth: str, server_auth: str,
                                               preshared: bool) -> None:
    """The libdmclient-like device, every mode, over HTTP on its default path: the session
    completes on both sides, each command with its right outcome. Server auth NONE: the
    device cannot check the server and answers 0, so nothing counts as a success."""
    pytest.importorskip("uvicorn")
    pytest.importorskip("httpx")
    run = R.device_session(fmt=fmt, client_auth=client_auth, server_auth=server_auth,
                           preshared=preshared)
    assert run.error is None, repr(run.error)
    ended = [e.reason for e in run.client_events if isinstance(e, R.M.events.SessionEnded)]
    assert ended == ["completed"]
    server_ended = [e.reason for e in run.server_events()
                    if isinstance(e, R.M.events.SessionEnded)]
    assert server_ended == ["completed"]
    assert run.app.sessions_completed == 1 and run.app.sessions_failed == 0
    steps = {step.label: step.outcome for step in run.recorder.script.steps}
    assert all(outcome is not None for outcome in steps.values()), steps
    if server_auth == "NONE":
        assert all(R.outcome(o) == "invalid_status" for o in steps.values())
        return
    for label in ("Add small", "Add interior dir", "Get small", "Exec with Correlator",
                  "Delete small"):
        assert R.succeeded(steps[label]) and steps[label].status == 200, label
    assert not R.succeeded(steps["Add large object"])
    assert R.outcome(steps["Atomic Replace small"]) == "no_status"
    big = steps["Get large object"].results[0].items[0].data
    assert 0 < len(big) < 27308  # the device kept the first chunk only
    alerts = [a for a in run.server_events() if isinstance(a, R.M.events.AlertReceived)]
    assert [a.correlator for a in alerts if a.alert_code == 1226] == ["corr-42"]


def test_device_profile_as_shipped_gets_a_session() -> None:
    """The client as shipped posts the DS media type: it gets a session all the same (the
    quirk ``ds_media_type``). Its own crashes (L7) are avoided here by a script without an
    interior-node Add."""
    pytest.importorskip("uvicorn")
    pytest.importorskip("httpx")
    script = R.custom_script()
    script.steps = [s for s in script.steps if s.label != "Add interior dir"]
    run = R.device_session(behaviour=R.profile_module().STOCK, script=script)
    assert run.error is None, repr(run.error)
    ended = [e.reason for e in run.client_events if isinstance(e, R.M.events.SessionEnded)]
    assert ended == ["completed"]
    assert run.app.sessions_completed == 1
    assert "ds_media_type" in R.session_quirks(run.recorder.session)


def test_device_profile_as_shipped_dies_on_an_interior_node_add() -> None:
    """L7: the client as shipped dies on an Add without Data (its own bug): the server saw a
    session start and the device's package, and nothing after (the session times out)."""
    pytest.importorskip("uvicorn")
    pytest.importorskip("httpx")
    profile = R.profile_module()
    run = R.device_session(behaviour=profile.STOCK)
    assert isinstance(run.error, profile.LibdmclientCrash)
    assert run.error.reason == "item_without_data"
    assert [type(e).__name__ for e in run.server_events()
            if isinstance(e, R.M.events.SessionStarted)] == ["SessionStarted"]
    assert run.app.sessions_completed == 0
