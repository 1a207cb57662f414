"""Issue 13, "The DM server under attack": each numbered attack of the issue, run as the attack.

Every test starts a real server in a subprocess on 127.0.0.1 (``omadm-codec serve`` itself, or
``tests/attack_server.py`` serving ``DMServerApp`` with a ``DeviceRegistry`` through the
project's runner) and talks to it over real HTTP with two clients: an honest device (the
project's ``ClientSession``, driven by ``omadm_codec.http.run_http_session``) and an attacker
(``attack_server.RawDevice``, hand-written messages, or raw sockets). Each test asserts the
behaviour the issue asks for, so on the code the issue was filed against every test fails;
sizes are smaller than the issue's where a smaller one proves the same thing (said where).
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from typing import Any

import pytest

pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from attack_server import (  # noqa: E402
    DEMO_INITIAL_SERVER_NONCE,
    DEVICE_ID,
    DEVICE_SECRET,
    DEVICE_USER,
    DM_WBXML,
    DM_XML,
    SERVE_ACCOUNT,
    SERVER_ID,
    SERVER_SECRET,
    RawDevice,
    Server,
    alert,
    basic_cred,
    chal_nonce,
    commands_of,
    cred_xml,
    decode,
    default_config,
    devinfo,
    header_status,
    honest_tree,
    mac,
    message,
    post_many,
    results,
    start_app,
    start_cli,
    status,
)

from omadm_codec.http import run_http_session  # noqa: E402
from omadm_codec.session import ClientSession, SessionEnded  # noqa: E402

GET_MOD = {"cmd": "Get", "uri": "./DevInfo/Mod"}


def ended(events: list[Any]) -> str | None:
    reasons = [e.reason for e in events if isinstance(e, SessionEnded)]
    return reasons[-1] if reasons else None


def run_device(tree: Any, url: str, trace: Any = None) -> tuple[str | None, list[Any]]:
    """One honest session; (how it ended, or the error it died of; client events)."""
    client = ClientSession(tree)
    try:
        events = run_http_session(client, url, timeout=10, trace=trace)
    except Exception as exc:  # noqa: BLE001 - the test reports how the device died
        return f"error: {type(exc).__name__}: {exc}", []
    return ended(events), events


def first_status(server_messages: list[Any]) -> int | None:
    msg = decode(server_messages[0].body, server_messages[0].content_type)
    hdr = header_status(msg)
    return None if hdr is None else int(hdr.data)


def is_refusal(response: Any) -> bool:
    """A refusal: an HTTP error, or a DM answer whose SyncHdr Status is an error and which
    carries no command for the sender to run."""
    if response.status_code != 200:
        return 400 <= response.status_code < 500
    msg = decode(response.content, response.headers.get("content-type"))
    hdr = header_status(msg)
    return hdr is not None and int(hdr.data) >= 400 and set(commands_of(msg)) <= {"Alert"}


# -- 1. session hijack ----------------------------------------------------------------------


@pytest.mark.parametrize("attack", ["garbage", "other_session_id", "other_source"])
def test_item01_token_holder_cannot_hijack_or_kill_the_session(attack: str) -> None:
    """After the device authenticated, someone holding the RespURI token posts (garbage | a
    message with another SessionID | the device's next MsgID from another LocURI with forged
    Status and Results). The intruder is refused, nothing forged is recorded, and the device's
    own next message carries on to a completed session with its genuine Results."""
    with start_app(default_config(queue={DEVICE_ID: [GET_MOD]})) as server:
        tree = honest_tree(server.dm)
        replies: list[Any] = []
        seen: dict[str, Any] = {}

        def trace(direction: str, out: Any) -> None:
            msg = decode(out.body, out.content_type)
            if direction == "C":
                seen["client"] = msg
                return
            hdr = header_status(msg)
            if seen.get("done") or hdr is None or int(hdr.data) != 212:
                return
            seen["done"] = True  # the device is authenticated, the Get is on its way
            token_url = msg.header.resp_uri
            device_msg = seen["client"]
            next_id = int(device_msg.header.msg_id) + 1
            get = next(c for c in msg.commands if c.ELEMENT == "Get")
            with RawDevice(server.dm).http as http:
                if attack == "garbage":
                    replies.append(http.post(token_url, content=b"<SyncML><SyncHdr>",
                                             headers={"content-type": DM_XML}))
                    return
                session_id = device_msg.header.session_id
                source = DEVICE_ID
                if attack == "other_session_id":
                    session_id = "BAD1"
                else:
                    source = "IMEI:000000000000666"
                body = (status(1, msg.header.msg_id, "0", "SyncHdr", 200)
                        + status(2, msg.header.msg_id, get.cmd_id, "Get", 200)
                        + results(3, msg.header.msg_id, get.cmd_id,
                                  [("./DevInfo/Mod", "PWNED")]))
                forged = message(session_id, next_id, server.dm, source, body,
                                 loc_name=DEVICE_USER)
                replies.append(http.post(token_url, content=forged,
                                         headers={"content-type": DM_XML}))

        how, _ = run_device(tree, server.dm, trace)
        state = server.state()
    assert seen.get("done") and len(replies) == 1
    reply = replies[0]
    problems = []
    if attack == "garbage" and reply.status_code != 400:
        problems.append(f"garbage answered {reply.status_code}, not 400")
    if attack != "garbage" and not is_refusal(reply):
        problems.append(f"the intruder was answered as the device: {reply.content[:600]!r}")
    if how != "completed":
        problems.append(f"the device's session died: {how}")
    outcomes = state["outcomes"]
    if set(outcomes) - {DEVICE_ID}:
        problems.append(f"outcomes filed for others: {outcomes}")
    if outcomes.get(DEVICE_ID) != [{"cmd": "Get", "status": 200, "results": ["AX-5 Pro"]}]:
        problems.append(f"the device's outcome is not its own: {outcomes.get(DEVICE_ID)}")
    assert not problems, "\n".join(problems)


# -- 2. lockout by anyone who knows an account name -----------------------------------------


def stranger_package1(base: str, number: int) -> int:
    """A credential-less package 1 naming the device's account, from a stranger."""
    with RawDevice(base, dev_id=f"IMEI:9{number:014d}", session_id=format(number + 1, "X")
                   ) as stranger:
        response, _ = stranger.send(alert(1, 1201) + devinfo(2, stranger.dev_id))
    return int(response.status_code)


@pytest.mark.parametrize("attack", ["stranger_between_messages", "replayed_package1"])
def test_item02_strangers_cannot_lock_the_device_out(attack: str) -> None:
    """``stranger_between_messages``: before every message of the device, a stranger sends a
    credential-less package 1 naming the device's account (the issue sent a few hundred per
    second; one before each device message is the worst interleaving, deterministically). The
    device still authenticates and completes.

    ``replayed_package1``: a captured package 1 (credentials with the nonce of the last 212)
    is replayed; the device's next session still authenticates with its first message (212),
    no extra 401 round trip."""
    with start_app(default_config()) as server:
        tree = honest_tree(server.dm)
        if attack == "stranger_between_messages":
            codes: list[int] = []

            def trace(direction: str, out: Any) -> None:
                if direction == "C":
                    codes.append(stranger_package1(server.dm, len(codes)))

            how, _ = run_device(tree, server.dm, trace)
            assert codes
            assert how == "completed", f"the stranger locked the device out: {how}"
            return
        # Session 1 leaves the device a NextNonce; session 2 uses it in its package 1.
        assert run_device(tree, server.dm)[0] == "completed"
        captured: list[Any] = []
        answers: list[Any] = []

        def capture(direction: str, out: Any) -> None:
            (captured if direction == "C" else answers).append(out)

        assert run_device(tree, server.dm, capture)[0] == "completed"
        assert first_status(answers) == 212, "precondition: package 1 authenticates at once"
        with RawDevice(server.dm) as attacker:
            attacker.post(captured[0].body, content_type=captured[0].content_type)
        answers.clear()
        how, _ = run_device(tree, server.dm, capture)
    assert how == "completed"
    assert first_status(answers) == 212, (
        f"one replayed package 1 cost the device a {first_status(answers)} round trip")


# -- 3. password guessing -------------------------------------------------------------------


def test_item03_password_guessing_is_throttled_across_sessions() -> None:
    """Every guess opens a new session (a new POST to the base path), so per-session failure
    counting never stops it (the issue measured 363 guesses/s from one thread). After 100
    wrong guesses (8 connections at a time; the issue: thousands, 100 is far past any lockout
    threshold), the attacker's guess with the right password is refused too, and a throttled
    answer does not tell whether the account exists."""
    def package1(user: str, password: str, number: int) -> bytes:
        return message(format(number + 1, "X"), 1, "http://127.0.0.1/dm", DEVICE_ID,
                       alert(1, 1201) + devinfo(2, DEVICE_ID), loc_name=user,
                       cred=cred_xml("BASIC", basic_cred(user, password)))

    with start_app(default_config(client_auth="BASIC")) as server, \
            httpx.Client(timeout=10) as http:
        def guess(user: str, password: str, number: int) -> tuple[int, int | None]:
            response = http.post(server.dm, content=package1(user, password, number),
                                 headers={"content-type": DM_XML})
            msg = None
            if response.status_code == 200 and response.content:
                msg = decode(response.content, response.headers.get("content-type"))
            hdr = header_status(msg) if msg is not None else None
            return int(response.status_code), None if hdr is None else int(hdr.data)

        started = time.perf_counter()
        wrong = post_many(server.port, [package1(DEVICE_USER, f"guess-{n}", n)
                                        for n in range(100)], width=8)
        rate = len(wrong) / (time.perf_counter() - started)
        right = guess(DEVICE_USER, DEVICE_SECRET, 1000)
        post_many(server.port, [package1("no-such-account", f"guess-{n}", 2000 + n)
                                for n in range(100)], width=8)
        unknown = guess("no-such-account", "whatever", 3000)
        known = guess(DEVICE_USER, "whatever", 3001)
    assert right[1] != 212, (
        f"guessing is not throttled: {rate:.0f} guesses/s, the 101st (right) one authenticated")
    assert unknown == known, (
        f"throttled answers tell accounts apart: unknown {unknown}, known {known}")


# -- 4. DevId not bound to the account ------------------------------------------------------


def test_item04_an_account_cannot_claim_another_accounts_device() -> None:
    """A second valid account claims the device's DevId (SyncHdr Source LocURI). It must be
    refused and get nothing of that device's queue (a Replace carrying a secret); the real
    device then receives it."""
    secret = "imap.secret.example"
    intruder_user, intruder_password = "intruder-0002", "intruder-secret-0002"
    config = default_config(
        accounts=[{"user": DEVICE_USER, "password": DEVICE_SECRET, "devices": [DEVICE_ID]},
                  {"user": intruder_user, "password": intruder_password,
                   "devices": ["IMEI:000000000000002"]}],
        queue={DEVICE_ID: [{"cmd": "Replace", "uri": "./Vendor/Acme/Mail/Server",
                            "data": secret}]})
    with start_app(config) as server:
        intruder_tree = honest_tree(server.dm, user=intruder_user, password=intruder_password)
        received: list[str] = []

        def trace(direction: str, out: Any) -> None:
            if direction == "S":
                received.extend(commands_of(decode(out.body, out.content_type)))

        run_device(intruder_tree, server.dm, trace)
        tree = honest_tree(server.dm)
        how, _ = run_device(tree, server.dm)
        state = server.state()
    assert intruder_tree.device_get("./Vendor/Acme/Mail/Server") != secret, (
        "the intruder's account received the other device's queued Replace")
    assert "Replace" not in received
    assert how == "completed"
    assert tree.device_get("./Vendor/Acme/Mail/Server") == secret, (
        f"the real device never got its queued command (outcomes: {state['outcomes']})")


# -- 5. work before authentication ----------------------------------------------------------


def _probe_latencies(url: str, stop: threading.Event, out: list[float]) -> None:
    with httpx.Client(timeout=60) as http:
        while not stop.is_set():
            started = time.perf_counter()
            http.get(url)  # 405: no session work, only the event loop's attention
            out.append(time.perf_counter() - started)
            time.sleep(0.005)


def test_item05_unauthenticated_work_is_bounded() -> None:
    """An unauthenticated package 1 (WBXML, just under the 1 MiB body limit): Alert 1201 and
    30,000 Gets (the issue: 96k commands got a 3.9 MB answer, one 407 Status each, built on
    the event loop in 1.4 s). Expected: refused by size (413) or answered with a header-level
    challenge only (no Status per command), and other clients keep being served (a probe's
    worst latency stays within 100 ms of its usual one; the issue's target is 50 ms)."""
    import omadm_codec

    gets = "".join(f"<Get><CmdID>{n}</CmdID><Item><Target><LocURI>./DevInfo/Mod</LocURI>"
                   f"</Target></Item></Get>" for n in range(3, 30003))
    xml = message("B1", 1, "http://127.0.0.1/dm", "IMEI:000000000000005",
                  alert(1, 1201) + devinfo(2, "IMEI:000000000000005") + gets,
                  loc_name=DEVICE_USER)
    body = omadm_codec.xml_to_wbxml(xml)
    assert len(body) < 1 << 20
    with start_app(default_config()) as server:
        latencies: list[float] = []
        stop = threading.Event()
        prober = threading.Thread(target=_probe_latencies, args=(server.dm, stop, latencies))
        prober.start()
        try:
            time.sleep(0.5)
            usual = statistics.median(latencies)
            seen = len(latencies)
            with httpx.Client(timeout=60) as http:
                started = time.perf_counter()
                response = http.post(server.dm, content=body,
                                     headers={"content-type": DM_WBXML})
                took = time.perf_counter() - started
            time.sleep(0.3)
        finally:
            stop.set()
            prober.join(60)
    stall = max(latencies[seen:]) - usual
    problems = []
    if response.status_code == 200:
        msg = decode(response.content, response.headers.get("content-type"))
        statuses = sum(1 for c in msg.commands if c.ELEMENT == "Status")
        if len(response.content) > 4096 or statuses > 1:
            problems.append(f"{len(body)} unauthenticated bytes got a {len(response.content)}"
                            f"-byte answer with {statuses} Statuses in {took:.2f} s")
    elif response.status_code != 413:
        problems.append(f"answered HTTP {response.status_code}")
    if stall > 0.1:
        problems.append(f"other clients waited {stall * 1000:.0f} ms more than usual "
                        f"({usual * 1000:.0f} ms)")
    assert not problems, "\n".join(problems)


# -- 6. eviction and leaks ------------------------------------------------------------------


def test_item06_unauthenticated_flood_does_not_evict_authenticated_sessions() -> None:
    """A store of 20 sessions (the issue: 100,000; the cap is what matters, not its size) and
    an authenticated device mid-session; a stranger opens 60 unauthenticated sessions. The
    device's session survives, and no per-session table outgrows the store."""
    config = default_config(queue={DEVICE_ID: [GET_MOD]}, max_sessions=20)
    with start_app(config) as server:
        tree = honest_tree(server.dm)
        flooded: list[dict[str, Any]] = []

        def trace(direction: str, out: Any) -> None:
            if direction != "S" or flooded:
                return
            hdr = header_status(decode(out.body, out.content_type))
            if hdr is not None and int(hdr.data) == 212:
                post_many(server.port, [
                    message(format(n + 1, "X"), 1, server.dm, f"IMEI:9{n:014d}",
                            alert(1, 1201), loc_name=DEVICE_USER) for n in range(60)])
                flooded.append(server.state())

        how, _ = run_device(tree, server.dm, trace)
        after = server.state()
    assert flooded
    problems = []
    if how != "completed":
        problems.append(f"the flood evicted the authenticated session: {how}")
    elif after["outcomes"].get(DEVICE_ID, [{}])[0].get("results") != ["AX-5 Pro"]:
        problems.append(f"the device's outcome went missing: {after['outcomes']}")
    if flooded[0]["apps"] > flooded[0]["store"]:
        problems.append(f"{flooded[0]['apps']} application-table entries for "
                        f"{flooded[0]['store']} stored sessions (not pruned on eviction)")
    assert not problems, "\n".join(problems)


# -- 7. unbounded large objects in ----------------------------------------------------------


def _get_sent(device: RawDevice, config_uri: str) -> tuple[str, str]:
    """(server MsgID, CmdID) of the Get the server sent after authenticating ``device``."""
    msg = device.start()
    assert int(header_status(msg).data) == 212
    get = next(c for c in msg.commands if c.ELEMENT == "Get")
    assert get.items[0].target.loc_uri == config_uri
    return msg.header.msg_id, get.cmd_id


def _status_for(msg: Any, cmd_ref: str) -> int | None:
    for command in msg.commands:
        if command.ELEMENT == "Status" and command.cmd_ref == cmd_ref and command.cmd == "Results":
            return int(command.data)
    return None


@pytest.mark.parametrize("case", ["declared_4GB", "past_declared_size", "undeclared"])
def test_item07_incoming_large_objects_are_bounded(case: str) -> None:
    """An authenticated device answers a Get with chunked Results (MoreData). ``declared_4GB``:
    the first chunk declares Size 4 GB -> 413 at once (dm-protocol.md 1.8, hostile-inputs 45:
    "declared Size > our MaxObjSize -> 413 before buffering"). ``past_declared_size``: Size
    30,000 but the chunks go past it -> 424 (or 413) on the chunk that passes it, not 213.
    ``undeclared``: no Size; the server must advertise its MaxObjSize and refuse the object
    once the chunks pass it (the issue streamed 1,000 x 1 MB; here 48 kB chunks up to the
    advertised cap, which this test expects to be at most 16 MiB)."""
    uri = "./Vendor/Acme/Logs/Boot"
    chunk = "x" * 48_000
    with start_app(default_config(queue={DEVICE_ID: [{"cmd": "Get", "uri": uri}]})) as server:
        device = RawDevice(server.dm)
        try:
            msg_ref, cmd_ref = _get_sent(device, uri)
            hdr_meta = device.last.header.meta
            advertised = getattr(hdr_meta, "max_obj_size", None) if hdr_meta else None
            codes: list[int | None] = []
            sent = 0
            size = {"declared_4GB": 4 << 30, "past_declared_size": 30_000,
                    "undeclared": None}[case]
            if case == "undeclared" and advertised is not None and advertised > 16 << 20:
                pytest.fail(f"advertised MaxObjSize {advertised} is past this test's budget")
            limit = (advertised or 0) + 2 * len(chunk)
            while sent <= limit:
                first = not codes
                body = status(1, device.last.header.msg_id, "0", "SyncHdr", 200)
                if first:
                    body += status(2, msg_ref, cmd_ref, "Get", 200)
                body += results(3, msg_ref, cmd_ref, [(uri, chunk)], more_data=True,
                                size=size if first else None)
                response, msg = device.send(body, final=False)
                sent += len(chunk)
                code = _status_for(msg, "3") if msg is not None else response.status_code
                codes.append(code)
                if code != 213 or case != "undeclared":
                    break
                if case == "undeclared" and advertised is None:
                    break
        finally:
            device.close()
    if case == "declared_4GB":
        assert codes[0] == 413, f"a 4 GB declared object was answered {codes[0]}"
    elif case == "past_declared_size":
        assert codes[0] in (413, 424), (
            f"48,000 bytes against a declared Size of 30,000 were answered {codes[0]}")
    else:
        assert advertised is not None, "the server does not advertise a MaxObjSize"
        assert codes[-1] == 413, (
            f"{sent} bytes buffered past the advertised MaxObjSize {advertised}: {codes[-3:]}")


# -- 8. HTTP ----------------------------------------------------------------------------------


def _raw(port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if data:
        sock.sendall(data)
    return sock


def _closed_or_answered_within(sock: socket.socket, seconds: float) -> bytes | None:
    """What the server did with a stalled request within ``seconds``: the bytes it answered
    (b"" if it just closed), or None if it still holds the connection open."""
    sock.settimeout(seconds)
    try:
        return sock.recv(4096)
    except TimeoutError:
        return None
    except OSError:
        return b""
    finally:
        sock.close()


def test_item08_declared_huge_body_is_refused_without_waiting() -> None:
    """``Content-Length: 10 GB`` and 100 bytes sent: the server answers 413 from the header
    (the body can never be within ``max_body``) instead of holding the connection forever."""
    head = (b"POST /dm HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + DM_XML.encode()
            + b"\r\nContent-Length: 10000000000\r\n\r\n")
    with start_cli(*SERVE_ACCOUNT) as server:
        sock = _raw(server.port, head + b"x" * 100)
        got = _closed_or_answered_within(sock, 3)
    assert got is not None, "a 10 GB Content-Length holds its connection (no answer in 3 s)"
    assert got.startswith(b"HTTP/1.1 413") or got == b""


def test_item05_a_challenged_session_takes_small_bodies_only() -> None:
    """A stranger opens a session (package 1, no credentials: challenged) and posts to its
    RespURI a body over the pre-authentication bound: 413 from the ``Content-Length`` header,
    before a byte of it is read (not after reading up to the authenticated bound, 256 KiB per
    connection)."""
    from urllib.parse import urlsplit

    first = message("C1", 1, "http://127.0.0.1/dm", "IMEI:000000000000055",
                    alert(1, 1201) + devinfo(2, "IMEI:000000000000055"), loc_name=DEVICE_USER)
    with start_cli(*SERVE_ACCOUNT) as server:
        with httpx.Client(timeout=10) as http:
            response = http.post(server.dm, content=first, headers={"content-type": DM_XML})
        msg = decode(response.content, response.headers["content-type"])
        assert header_status(msg).data in (401, 407)
        path = urlsplit(msg.header.resp_uri).path
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {DM_XML}\r\n"
                f"Content-Length: {100 << 10}\r\n\r\n").encode()
        sock = _raw(server.port, head)
        got = _closed_or_answered_within(sock, 3)
    assert got is not None, "a challenged session's 100 KiB body is waited for"
    assert got.startswith(b"HTTP/1.1 413"), got[:40]


def test_item08_slow_headers_and_body_time_out() -> None:
    """A request whose headers never end, and one whose body stalls after 100 of 1,000 bytes,
    are both dropped (408 or close) within the read timeouts (defaults up to 10 s; the test
    waits 15)."""
    partial_head = b"POST /dm HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
    stalled_body = (b"POST /dm HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                    + DM_XML.encode() + b"\r\nContent-Length: 1000\r\n\r\n" + b"<" * 100)
    with start_cli(*SERVE_ACCOUNT) as server:
        socks = [_raw(server.port, partial_head), _raw(server.port, stalled_body)]
        got: list[bytes | None] = [None, None]

        def wait(index: int) -> None:
            got[index] = _closed_or_answered_within(socks[index], 15)

        threads = [threading.Thread(target=wait, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
    assert got[0] is not None, "a request with unfinished headers is held for over 15 s"
    assert got[1] is not None, "a request with a stalled body is held for over 15 s"


def _room_for(sockets: int) -> None:
    """Raise this process's descriptor limit so it can hold ``sockets`` connections."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = sockets + 256
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip(f"needs {want} descriptors, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def test_item08_idle_connections_cannot_lock_devices_out() -> None:
    """1,100 idle connections against ``serve`` with the default 1,024 descriptors (as in
    the issue). An honest device gets an HTTP answer within 3 s (a clear 503 refusal counts)
    and, once the idle connections have timed out (within 15 s), is served normally."""
    _room_for(1100)
    idle: list[socket.socket] = []
    with start_cli(*SERVE_ACCOUNT, nofile=1024) as server:
        try:
            for _ in range(1100):
                idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
            time.sleep(0.5)
            first: int | str
            try:
                with httpx.Client(timeout=3) as http:
                    first = http.get(server.dm).status_code
            except httpx.HTTPError as exc:
                first = type(exc).__name__
            later: int | str = "not tried"
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                try:
                    with httpx.Client(timeout=2) as http:
                        later = http.get(server.dm).status_code
                    if later == 405:
                        break
                except httpx.HTTPError as exc:
                    later = type(exc).__name__
                time.sleep(0.5)
            alive = server.alive()
        finally:
            for sock in idle:
                sock.close()
    assert alive
    assert isinstance(first, int), f"a device got no answer at all within 3 s: {first}"
    assert later == 405, f"still locked out after 15 s: {later}"


def test_item08_keep_alive_requests_are_not_delayed() -> None:
    """Twenty package 1s on one keep-alive connection to ``serve``: the issue measured 44 ms
    per request (TCP_NODELAY never set on the sockets ``serve`` accepts) against 2 ms."""
    with start_cli(*SERVE_ACCOUNT) as server, httpx.Client(timeout=10) as http:
        times = []
        for number in range(21):
            body = message(format(number + 1, "X"), 1, server.dm, f"IMEI:7{number:014d}",
                           alert(1, 1201), loc_name=DEVICE_USER)
            started = time.perf_counter()
            response = http.post(server.dm, content=body, headers={"content-type": DM_XML})
            times.append(time.perf_counter() - started)
            assert response.status_code == 200
    median = statistics.median(times[1:])
    assert median < 0.025, f"median keep-alive request {median * 1000:.1f} ms"


def test_item08_mass_expiry_does_not_stall_requests() -> None:
    """6,000 unauthenticated sessions that all go idle past their timeout together (the
    issue: 460 ms to sweep 10,000), then one request: it must not pay for their expiry
    (expiry by a timer structure, in bounded batches, off the request path). On the code the
    issue was filed against, the first request after the sweep period walked and expired the
    whole store itself."""
    config = default_config(idle_timeout=1.0)
    with start_app(config) as server, httpx.Client(timeout=30) as http:
        bodies = [message(format(n + 1, "X"), 1, server.dm, f"IMEI:6{n:014d}",
                          alert(1, 1201), loc_name=f"user-{n}") for n in range(6000)]
        post_many(server.port, bodies)
        times = []
        for _ in range(5):
            started = time.perf_counter()
            http.get(server.dm)
            times.append(time.perf_counter() - started)
        baseline = statistics.median(times)
        time.sleep(1.5)  # every session is now past its idle timeout: expiry is due
        started = time.perf_counter()
        http.get(server.dm)
        stall = time.perf_counter() - started - baseline
        left = server.state()["store"]
    assert stall < 0.035, (
        f"a request paid {stall * 1000:.0f} ms for the expiry of 6,000 sessions ({left} left)")


# -- 9. a crash and a session that never ends -----------------------------------------------


def test_item09_chunked_results_then_two_items_is_answered() -> None:
    """A chunked Results (MoreData) followed by a Results with two Items: today an
    AssertionError in the server session, HTTP 500, the session stuck in SEND (409 forever,
    no timer). Expected: a DM answer (the interrupted object refused, dm-protocol.md 1.8),
    and the session's next message is answered too."""
    uri = "./Vendor/Acme/Logs/Boot"
    with start_app(default_config(queue={DEVICE_ID: [{"cmd": "Get", "uri": uri}]})) as server:
        device = RawDevice(server.dm)
        try:
            msg_ref, cmd_ref = _get_sent(device, uri)
            chunk = (status(1, device.last.header.msg_id, "0", "SyncHdr", 200)
                     + status(2, msg_ref, cmd_ref, "Get", 200)
                     + results(3, msg_ref, cmd_ref, [(uri, "part one")], more_data=True))
            response, _ = device.send(chunk, final=False)
            assert response.status_code == 200
            two = (status(1, device.last.header.msg_id, "0", "SyncHdr", 200)
                   + results(2, msg_ref, cmd_ref, [(uri, "a"), (uri, "b")]))
            crash, _ = device.send(two)
            after, _ = device.send(status(1, device.last.header.msg_id, "0", "SyncHdr", 200))
        finally:
            device.close()
    assert crash.status_code != 500, "the server session raised (HTTP 500)"
    assert after.status_code != 409, "the session is stuck: every later message gets 409"


def test_item09_application_exception_drops_the_session_and_requeues() -> None:
    """The server application raises while handling a message (a Generic Alert it chokes on).
    The request is answered (500 at worst), the session does not linger (no 409 forever) and
    the commands it held go back to the device's queue: its next session gets them."""
    config = default_config(queue={DEVICE_ID: [GET_MOD]}, fail_on_alert="boom")
    with start_app(config) as server:
        device = RawDevice(server.dm)
        try:
            msg = device.start()
            assert "Get" in commands_of(msg)
            boom = (status(1, msg.header.msg_id, "0", "SyncHdr", 200)
                    + alert(2, 1226, "boom"))
            failed, _ = device.send(boom)
            again, _ = device.send(status(1, msg.header.msg_id, "0", "SyncHdr", 200))
        finally:
            device.close()
        tree = honest_tree(server.dm)
        how, _ = run_device(tree, server.dm)
        state = server.state()
    assert failed.status_code in (200, 500)
    assert again.status_code != 409, "the failed session lingers: 409 for every later message"
    assert how == "completed"
    got = state["outcomes"].get(DEVICE_ID, [])
    assert got and got[0]["results"] == ["AX-5 Pro"], (
        f"the Get held by the failed session was lost: {state}")


# -- 10. log flood, Host header ---------------------------------------------------------------


def test_item10_connection_flood_does_not_flood_the_log() -> None:
    """1,100 connections at 1,024 descriptors for 3 s (the issue: 266,052 tracebacks, 54 MB
    in 16 s): the server logs the condition a bounded number of times."""
    _room_for(1100)
    idle: list[socket.socket] = []
    with start_cli(*SERVE_ACCOUNT, nofile=1024) as server:
        try:
            for _ in range(1100):
                idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
            time.sleep(3)
            logged = server.stderr_size()
        finally:
            for sock in idle:
                sock.close()
    assert logged < 64 * 1024, f"{logged} bytes of log in 3 s"


def test_item10_resp_uri_does_not_come_from_the_host_header() -> None:
    """A package 1 with ``Host: evil.example``: the RespURI that later messages of the session
    go to is built from the server's configuration, never from the request."""
    with start_cli(*SERVE_ACCOUNT) as server, httpx.Client(timeout=10) as http:
        body = message("C1", 1, server.dm, "IMEI:000000000000010", alert(1, 1201),
                       loc_name=DEVICE_USER)
        response = http.post(server.dm, content=body,
                             headers={"content-type": DM_XML, "host": "evil.example:8666"})
    assert response.status_code == 200
    resp_uri = decode(response.content, response.headers["content-type"]).header.resp_uri
    assert resp_uri and "evil.example" not in resp_uri, f"RespURI {resp_uri}"


# -- 11. serve without demo secrets -----------------------------------------------------------

# Item 11: ``serve`` takes its accounts from a file or the command line, never the demo's
# published secrets unless asked (``--demo-credentials``), and pre-shares no server nonce.


def _authenticated(server: Server, user: str, password: str) -> tuple[RawDevice, Any, Any]:
    device = RawDevice(server.dm, user=user, password=password)
    _, first = device.send(alert(1, 1201) + devinfo(2, DEVICE_ID))
    nonce = chal_nonce(first) if first is not None else None
    response, msg = device.send(status(1, "1", "0", "SyncHdr", 200) + alert(2, 1201)
                                + devinfo(3, DEVICE_ID), cred=device.cred_for(nonce))
    return device, response, msg


def test_item11_serve_has_no_demo_account_by_default() -> None:
    """``omadm-codec serve`` with no ``--account``: either it refuses to start, or the
    publicly known demo credentials do not authenticate."""
    try:
        server = start_cli()
    except RuntimeError:
        return  # refused to start without accounts: fine
    with server:
        device, _, msg = _authenticated(server, DEVICE_USER, DEVICE_SECRET)
        device.close()
    hdr = header_status(msg) if msg is not None else None
    assert hdr is None or int(hdr.data) != 212, "the demo account authenticates on serve"


def test_item11_serve_has_no_fixed_initial_nonce() -> None:
    """``serve --account U:P --server-password S``: the server's first ``x-syncml-hmac`` is not
    computed with the fixed, published demo nonce (random initial nonces everywhere)."""
    try:
        server = start_cli("--account", "acct-1:pw-1", "--server-id", "srv-test",
                           "--server-password", "srv-secret-test", "--server-auth", "HMAC")
    except RuntimeError as exc:
        pytest.fail(f"serve did not start with explicit accounts and secret: {exc}")
    with server:
        device, response, msg = _authenticated(server, "acct-1", "pw-1")
        device.close()
    assert msg is not None and int(header_status(msg).data) == 212
    header = response.headers.get("x-syncml-hmac", "")
    assert header, "HMAC server authentication sent no x-syncml-hmac"
    demo = mac("srv-test", "srv-secret-test", DEMO_INITIAL_SERVER_NONCE, response.content)
    assert f"mac={demo}" not in header, "the server authenticates with the fixed demo nonce"


def test_item11_serve_has_no_demo_server_secret() -> None:
    """``serve --account U:P`` with no ``--server-password``: either it refuses to start, or
    its server credentials are not the published demo secret. The device gives the server a
    SRVCRED nonce it chose (a Chal in its SyncHdr Status, after authenticating), then checks
    the server's next ``x-syncml-hmac`` against the demo secret with that nonce."""
    try:
        server = start_cli("--account", "acct-1:pw-1", "--server-auth", "HMAC")
    except RuntimeError:
        return  # refused to start without a server secret: fine
    nonce = b"device-chosen-nonce-11"
    with server:
        device, _, msg = _authenticated(server, "acct-1", "pw-1")
        try:
            assert msg is not None and int(header_status(msg).data) == 212
            server_id = msg.header.source.loc_name or SERVER_ID
            response, _ = device.send(status(1, msg.header.msg_id, "0", "SyncHdr", 200,
                                             chal_nonce=nonce))
        finally:
            device.close()
    header = response.headers.get("x-syncml-hmac", "")
    assert header, "HMAC server authentication sent no x-syncml-hmac"
    demo = mac(server_id, SERVER_SECRET, nonce, response.content)
    assert f"mac={demo}" not in header, "serve authenticates itself with the demo secret"


# -- what the issue asks to build, beyond its numbered findings ------------------------------


def _client_on(address: str, timeout: float = 10) -> Any:
    """An httpx client whose connections come from ``address`` (any 127.x.y.z is this host:
    one machine plays devices at several addresses)."""
    return httpx.Client(timeout=timeout, transport=httpx.HTTPTransport(local_address=address))


def _basic_package1(user: str, password: str, number: int, dev_id: str = DEVICE_ID,
                    extra: str = "") -> bytes:
    return message(format(number + 1, "X"), 1, "http://127.0.0.1/dm", dev_id,
                   alert(1, 1201) + devinfo(2, dev_id) + extra, loc_name=user,
                   cred=cred_xml("BASIC", basic_cred(user, password)))


def _hdr_code(response: Any) -> int | None:
    if response.status_code != 200 or not response.content:
        return None
    hdr = header_status(decode(response.content, response.headers.get("content-type")))
    return None if hdr is None else int(hdr.data)


def test_item01_every_message_policy_refuses_a_token_holder_who_copies_the_device() -> None:
    """With ``message_auth="every_message"`` the device's credentials go in every message
    (the server answers them 200 with the next nonce, PRO 2.4.1). Someone holding the token
    who copies everything else of the device (SessionID, LocURI, LocName, the next MsgID) is
    refused, with no credentials or with the device's last ones replayed; the device's
    session completes with its own Results."""
    config = default_config(queue={DEVICE_ID: [GET_MOD]}, message_auth="every_message")
    with start_app(config) as server:
        tree = honest_tree(server.dm)
        replies: list[Any] = []
        seen: dict[str, Any] = {}

        def trace(direction: str, out: Any) -> None:
            msg = decode(out.body, out.content_type)
            if direction == "C":
                seen["client"] = msg
                return
            gets = [c for c in msg.commands if c.ELEMENT == "Get"]
            if seen.get("done") or not gets:
                return
            seen["done"] = True
            hdr = header_status(msg)
            assert hdr is not None and int(hdr.data) == 200, "credentials were not per message"
            device_msg = seen["client"]
            body = (status(1, msg.header.msg_id, "0", "SyncHdr", 200)
                    + status(2, msg.header.msg_id, gets[0].cmd_id, "Get", 200)
                    + results(3, msg.header.msg_id, gets[0].cmd_id,
                              [("./DevInfo/Mod", "PWNED")]))
            copied = dict(session_id=device_msg.header.session_id,
                          msg_id=int(device_msg.header.msg_id) + 1)
            replayed = cred_xml("DIGEST", device_msg.header.cred.data)
            with httpx.Client(timeout=10) as http:
                for cred in ("", replayed):
                    forged = message(copied["session_id"], copied["msg_id"], server.dm,
                                     DEVICE_ID, body, loc_name=DEVICE_USER, cred=cred)
                    replies.append(http.post(msg.header.resp_uri, content=forged,
                                             headers={"content-type": DM_XML}))

        how, _ = run_device(tree, server.dm, trace)
        state = server.state()
    assert seen.get("done") and len(replies) == 2
    assert all(is_refusal(r) for r in replies), [r.content[:300] for r in replies]
    assert how == "completed"
    assert state["outcomes"] == {
        DEVICE_ID: [{"cmd": "Get", "status": 200, "results": ["AX-5 Pro"]}]}


def test_item02_a_lockout_from_elsewhere_does_not_lock_out_the_device() -> None:
    """A stranger at another address guesses the device's password until its account is
    locked; its right guess is refused too (it never authenticated from there), while the
    device, which authenticated from its own address before, still gets in."""
    accounts = [{"user": DEVICE_USER, "password": DEVICE_SECRET, "devices": [DEVICE_ID]}]
    config = default_config(client_auth="BASIC", accounts=accounts, base_lock=30)
    with start_app(config) as server:
        tree = honest_tree(server.dm, client_auth="BASIC")
        with _client_on("127.0.0.1") as http:
            assert run_device_with(tree, server.dm, http) == "completed"
        with _client_on("127.0.0.2") as stranger:
            codes = [_hdr_code(stranger.post(server.dm, content=_basic_package1(
                DEVICE_USER, f"guess-{n}", n), headers={"content-type": DM_XML}))
                for n in range(12)]
            right = stranger.post(server.dm, content=_basic_package1(DEVICE_USER, DEVICE_SECRET,
                                                                     99),
                                  headers={"content-type": DM_XML})
        with _client_on("127.0.0.1") as http:
            again = run_device_with(tree, server.dm, http)
    assert all(code == 401 for code in codes), codes
    assert _hdr_code(right) != 212, "the account was not locked for the stranger"
    assert again == "completed", f"the stranger locked the device out: {again}"


def run_device_with(tree: Any, url: str, http: Any) -> str | None:
    client = ClientSession(tree)
    try:
        events = run_http_session(client, url, http=http)
    except Exception as exc:  # noqa: BLE001 - reported by the caller's assert
        return f"error: {type(exc).__name__}: {exc}"
    return ended(events)


def test_item03_failures_are_throttled_per_device_and_per_address() -> None:
    """Wrong guesses under made-up account names that all claim the device's DevId lock the
    DevId (the device's own right password is then refused until the lock ends); failures
    across made-up accounts and devices from one address lock the address: 429 with
    Retry-After before anything of the request is read, in about a millisecond."""
    with start_app(default_config(client_auth="BASIC", base_lock=30)) as server, \
            _client_on("127.0.0.3") as http:
        for n in range(8):
            http.post(server.dm, content=_basic_package1(f"made-up-{n}", "guess", n),
                      headers={"content-type": DM_XML})
        device = http.post(server.dm, content=_basic_package1(DEVICE_USER, DEVICE_SECRET, 50),
                           headers={"content-type": DM_XML})
    assert _hdr_code(device) == 401, "the DevId was not locked by guesses naming it"
    with start_app(default_config(client_auth="BASIC", base_lock=30)) as server:
        post_many(server.port, [_basic_package1(f"made-up-{n}", "guess", n,
                                                dev_id=f"IMEI:5{n:014d}") for n in range(60)],
                  width=8)
        with httpx.Client(timeout=10) as http:
            times = []
            for n in range(5):
                started = time.perf_counter()
                locked = http.post(server.dm, content=_basic_package1(DEVICE_USER,
                                                                      DEVICE_SECRET, 100 + n),
                                   headers={"content-type": DM_XML})
                times.append(time.perf_counter() - started)
    # The lock is the throttle's (base 30 s, doubling, at most 15 min), not one that never
    # ends (a Retry-After reckoned on another clock than the failures').
    assert locked.status_code == 429 and 1 <= int(locked.headers["retry-after"]) <= 900
    assert statistics.median(times) < 0.02, f"a throttled request took {times}"


def test_item04_an_account_created_without_devices_gets_exactly_one() -> None:
    """An account created without a device list may speak for one device: the first it
    authenticates with. Claiming a second DevId afterwards is refused (403), logged with the
    account and the DevId, and that device's queue is not touched."""
    other = "IMEI:000000000000077"
    config = default_config(accounts=[{"user": DEVICE_USER, "password": DEVICE_SECRET}],
                            queue={other: [{"cmd": "Replace", "uri": "./Vendor/Acme/Mail/Server",
                                            "data": "imap.other.example"}]})
    with start_app(config) as server:
        assert run_device(honest_tree(server.dm), server.dm)[0] == "completed"
        answers: list[Any] = []
        second = honest_tree(server.dm, dev_id=other)
        run_device(second, server.dm,
                   lambda d, out: answers.append(decode(out.body, out.content_type))
                   if d == "S" else None)
        state = server.state()
        log = server.stderr_text()
    codes = [int(header_status(m).data) for m in answers]
    assert 403 in codes and not any("Replace" in commands_of(m) for m in answers), codes
    assert state["queues"].get(other) == 1
    assert "may not speak for device" in log and other in log


def test_item05_an_unauthenticated_message_gets_a_bounded_answer() -> None:
    """Within the bounds (32 commands), an unauthenticated package 1 gets the SyncHdr's Status
    with the challenge and one Status per command (PRO 2.4.1), no larger than a small multiple
    of the request; past them, 413 from the header (bytes) or from decoding (commands), and
    nothing is kept."""
    gets = "".join(f"<Get><CmdID>{n}</CmdID><Item><Target><LocURI>./DevInfo/Mod</LocURI>"
                   f"</Target></Item></Get>" for n in range(3, 33))
    with start_app(default_config()) as server:
        with RawDevice(server.dm) as device:
            response, msg = device.send(alert(1, 1201) + devinfo(2, DEVICE_ID) + gets)
        with RawDevice(server.dm) as device:
            too_many, _ = device.send(alert(1, 1201) + devinfo(2, DEVICE_ID) + gets
                                      + "<Get><CmdID>33</CmdID><Item><Target><LocURI>./A"
                                        "</LocURI></Target></Item></Get>")
        with RawDevice(server.dm) as device:
            too_big, _ = device.send(alert(1, 1201) + devinfo(2, "x" * (17 << 10)))
        kept = server.state()["store"]
    assert response.status_code == 200 and msg is not None
    assert [c.ELEMENT for c in msg.commands] == ["Status"] * 33 and msg.commands[0].chal
    assert {c.data for c in msg.commands[1:]} == {407}
    request = len(alert(1, 1201) + devinfo(2, DEVICE_ID) + gets)
    assert len(response.content) < 3 * request
    assert too_many.status_code == 413 and too_big.status_code == 413
    assert kept == 1


def test_item06_a_full_store_refuses_a_new_authentication_without_evicting() -> None:
    """Room for one running authenticated session: while the device's session runs, a second
    account's authentication is refused (503 with Retry-After: nothing authenticated is
    evicted), and its queued command stays queued; once the first session has ended, the
    second device gets in and receives it."""
    second_dev = "IMEI:000000000000022"
    config = default_config(
        max_sessions=1, queue={DEVICE_ID: [GET_MOD], second_dev: [GET_MOD]},
        accounts=[{"user": DEVICE_USER, "password": DEVICE_SECRET, "devices": [DEVICE_ID]},
                  {"user": "second-0002", "password": "second-secret", "devices": [second_dev]}])
    with start_app(config) as server:
        refused: list[Any] = []

        def trace(direction: str, out: Any) -> None:
            if direction != "S" or refused:
                return
            hdr = header_status(decode(out.body, out.content_type))
            if hdr is not None and int(hdr.data) == 212:  # the device's session now runs
                with RawDevice(server.dm, user="second-0002", password="second-secret",
                               dev_id=second_dev) as second:
                    try:
                        second.start()
                    except AssertionError as exc:
                        refused.append(str(exc))

        how, _ = run_device(honest_tree(server.dm), server.dm, trace)
        queued = server.state()["queues"]
        later = run_device(honest_tree(server.dm, user="second-0002", password="second-secret",
                                       dev_id=second_dev), server.dm)[0]
        state = server.state()
    assert refused and "HTTP 503" in refused[0], refused
    assert how == "completed" and queued.get(second_dev) == 1
    assert later == "completed" and state["outcomes"][second_dev][0]["results"] == ["AX-5 Pro"]


def test_item07_the_memory_budget_bounds_all_sessions_together() -> None:
    """Two devices send large objects at once; the server's budget for objects in flight
    (100 kB here) is shared: the one that would pass it is refused (413) while the other
    completes, and nothing more is buffered for the refused one."""
    uri = "./Vendor/Acme/Logs/Boot"
    second_dev = "IMEI:000000000000033"
    config = default_config(
        incoming_budget=100_000, queue={DEVICE_ID: [{"cmd": "Get", "uri": uri}],
                                        second_dev: [{"cmd": "Get", "uri": uri}]},
        accounts=[{"user": DEVICE_USER, "password": DEVICE_SECRET, "devices": [DEVICE_ID]},
                  {"user": "second-0003", "password": "second-secret", "devices": [second_dev]}])

    def chunk(device: RawDevice, refs: tuple[str, str], data: str, first: bool,
              more: bool) -> int | None:
        body = status(1, device.last.header.msg_id, "0", "SyncHdr", 200)
        if first:
            body += status(2, refs[0], refs[1], "Get", 200)
        body += results(3, refs[0], refs[1], [(uri, data)], more_data=more)
        _, msg = device.send(body, final=not more)
        return _status_for(msg, "3") if msg is not None else None

    with start_app(config) as server:
        a = RawDevice(server.dm)
        b = RawDevice(server.dm, user="second-0003", password="second-secret",
                      dev_id=second_dev)
        try:
            ra, rb = _get_sent(a, uri), _get_sent(b, uri)
            codes = [chunk(a, ra, "a" * 40_000, True, True),
                     chunk(a, ra, "a" * 40_000, False, True),
                     chunk(b, rb, "b" * 40_000, True, True),
                     chunk(a, ra, "a" * 10_000, False, False),
                     chunk(b, rb, "b" * 10_000, False, False)]
        finally:
            a.close()
            b.close()
        state = server.state()
    # The last chunk of a completed object gets no Status (the Get's outcome says it).
    assert codes == [213, 213, 413, None, 413], codes
    got = state["outcomes"]
    assert got[DEVICE_ID][0]["results"] == ["a" * 90_000]
    assert got[second_dev][0]["status"] == 413 and got[second_dev][0]["results"] == []


def test_item08_the_connection_cap_is_a_clear_refusal() -> None:
    """With room for 20 connections, the 21st and later are answered 503 with Retry-After
    at once and closed (not left waiting); once connections go, requests are served."""
    with start_app(default_config(http={"max_connections": 20})) as server:
        idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5)
                for _ in range(20)]
        time.sleep(0.3)
        over = [socket.create_connection(("127.0.0.1", server.port), timeout=5)
                for _ in range(5)]
        answers = [_closed_or_answered_within(sock, 2) for sock in over]
        for sock in idle:
            sock.close()
        time.sleep(0.3)
        with httpx.Client(timeout=5) as http:
            after = http.get(server.dm).status_code
    assert all(a is not None and a.startswith(b"HTTP/1.1 503") and b"Retry-After" in a
               for a in answers), answers
    assert after == 405


def test_item08_an_idle_keep_alive_connection_is_closed() -> None:
    """After a response, a keep-alive connection that sends nothing more is closed after the
    keep-alive timeout (1 s here)."""
    with start_app(default_config(http={"keepalive_timeout": 1.0})) as server:
        sock = _raw(server.port, b"GET /dm HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        sock.settimeout(5)
        first = b""
        while b"\r\n\r\n" not in first:  # the whole (bodiless) response
            first += sock.recv(4096)
        started = time.perf_counter()
        rest = _closed_or_answered_within(sock, 4)
        waited = time.perf_counter() - started
    assert first.startswith(b"HTTP/1.1 405")
    assert rest == b"" and waited < 3, (rest, waited)


def test_item08_shutdown_drains_requests_in_flight() -> None:
    """A stop request while a device's message is being handled (2 s of application work):
    the server stops taking connections but answers that message before it exits."""
    with start_app(default_config(client_auth="BASIC", slow_alert=2.0,
                                  queue={DEVICE_ID: [GET_MOD]})) as server:
        device = RawDevice(server.dm, auth="BASIC")
        msg = device.start()
        # Big enough to be handled in the worker thread: the event loop stays free to stop.
        body = (status(1, msg.header.msg_id, "0", "SyncHdr", 200) + alert(2, 1226, "slow")
                + alert(3, 1226, "x" * (70 << 10)))
        answer: list[Any] = []
        worker = threading.Thread(target=lambda: answer.append(device.send(body)[0]))
        worker.start()
        time.sleep(0.5)
        server.close_stdin()
        time.sleep(0.3)
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
            refused_new = False
        except OSError:
            refused_new = True
        worker.join(15)
        server.proc.wait(20)
        device.close()
        stopped = "STOPPED" in server.stdout_text()
    assert answer and answer[0].status_code == 200, "the request in flight was cut off"
    assert refused_new, "new connections were still accepted while draining"
    assert stopped


def test_item09_error_logging_backs_off_under_a_flood() -> None:
    """Forty requests that each make the application fail: every one is answered 500, and
    the log holds a bounded number of tracebacks (a burst of 10), not forty."""
    config = default_config(client_auth="BASIC", fail_on_alert="boom")
    with start_app(config) as server:
        answers = post_many(server.port, [_basic_package1(DEVICE_USER, DEVICE_SECRET, n,
                                                          extra=alert(3, 1226, "boom"))
                                          for n in range(40)], width=8)
        time.sleep(0.3)
        log = server.stderr_text(200_000)
    assert all(a.startswith(b"HTTP/1.1 500") for a in answers), {a[:12] for a in answers}
    logged = log.count("internal error in the session")
    assert 1 <= logged <= 10, f"{logged} tracebacks for 40 failures"


def test_item10_resp_uri_comes_from_the_configured_base_url() -> None:
    """``serve --public-url`` is what RespURIs are built on (a proxy or TLS front sits
    between devices and this process)."""
    with start_cli(*SERVE_ACCOUNT, "--public-url", "https://dm.example.com/tenant") as server, \
            httpx.Client(timeout=10) as http:
        body = message("C2", 1, server.dm, "IMEI:000000000000011", alert(1, 1201),
                       loc_name=DEVICE_USER)
        response = http.post(server.dm, content=body, headers={"content-type": DM_XML})
    resp_uri = decode(response.content, response.headers["content-type"]).header.resp_uri
    assert resp_uri and resp_uri.startswith("https://dm.example.com/tenant/dm/s/"), resp_uri
