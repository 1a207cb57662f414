"""N stateless workers on one Redis: every test runs real ``omadm-codec serve --store redis://``
processes and simulated devices over HTTP on 127.0.0.1, and starts its own ``redis-server``
(skipped with the reason when the binary is absent).

What must hold: any worker takes any message of any session; a worker killed (SIGKILL)
mid-session loses nothing, the device's retransmission completes on another; two racing
requests of one session give one outcome; a nonce consumed on one worker is consumed on all;
every worker restarted keeps queues, outcomes and nonces; Redis down or slow gives 503 with
Retry-After, and a tampered snapshot is refused and logged.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")
pytest.importorskip("redis")

from redis_server import RedisCluster, RedisServer, need_redis  # noqa: E402
from worker_procs import Steer, Workers, client_for  # noqa: E402

from omadm_codec.http import DeviceQueues, run_http_session  # noqa: E402
from omadm_codec.http.state import Entry  # noqa: E402
from omadm_codec.http.state_url import open_store  # noqa: E402
from omadm_codec.messages import decode  # noqa: E402
from omadm_codec.messages.model import Command, Exec, Get, Item, Meta, Replace, Status, Target  # noqa: E402
from omadm_codec.session import ClientSession, State  # noqa: E402
from omadm_codec.session import events as ev  # noqa: E402
from omadm_codec.tools.demo import INITIAL_SERVER_NONCE  # noqa: E402
from omadm_codec.tools.simulator import DEVICE_USER, build_tree  # noqa: E402

DEV = "IMEI:490154203237518"


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    need_redis()
    with RedisServer() as server:
        yield server.url


def flush(url: str) -> None:
    import redis

    if url.startswith("redis+cluster://"):
        from redis.cluster import RedisCluster as SyncCluster

        client: Any = SyncCluster.from_url("redis://" + url[len("redis+cluster://"):])
        client.flushall(target_nodes=client.get_primaries())
    else:
        client = redis.Redis.from_url(url)
        client.flushall()
    client.close()


def on_store(url: str, work: Any) -> Any:
    async def main() -> Any:
        store = open_store(url)
        try:
            return await work(store)
        finally:
            await store.close()
    return asyncio.run(main())


def enqueue(url: str, commands: list[Command], **kw: Any) -> list[str]:
    return on_store(url, lambda s: DeviceQueues(s).enqueue(DEV, commands, **kw))  # type: ignore[no-any-return]


def entries(url: str) -> list[Entry]:
    return on_store(url, lambda s: DeviceQueues(s).entries(DEV))  # type: ignore[no-any-return]


def commands() -> list[Command]:
    return [Get("1", [Item(target=Target("./DevInfo/Mod"))]),
            Replace("2", [Item(target=Target("./Vendor/Acme/Settings/Brightness"),
                               meta=Meta(format="int"), data="42")]),
            Exec("3", [Item(target=Target("./Vendor/Acme/Ops/Reboot"))])]


def device(url: str, **kw: Any) -> ClientSession:
    tree = build_tree(dev_id=DEV, server_addr=url, server_auth="HMAC",
                      server_nonce=INITIAL_SERVER_NONCE)
    return ClientSession(tree, **kw)


def assert_done_once(url: str, count: int) -> list[Entry]:
    got = entries(url)
    assert [e.state for e in got] == ["done"] * count, [(e.state, e.history) for e in got]
    for entry in got:
        assert [h[1] for h in entry.history].count("done") == 1
        assert entry.outcome is not None and 200 <= entry.outcome["status"] < 300
    return got


def header_status(body: bytes) -> int:
    msg = decode(body)
    return next(c.data for c in msg.commands if isinstance(c, Status) and c.cmd_ref == "0")


def test_a_session_alternates_between_two_workers(redis_url: str) -> None:
    flush(redis_url)
    enqueue(redis_url, commands())
    with Workers(redis_url, 2) as workers:
        ports = workers.ports()
        steer = Steer(lambda n: ports[n % 2])
        client = device(workers.url(0))
        with client_for(steer) as http:
            events = run_http_session(client, workers.url(0), http=http)
        assert client.state is State.CLOSED
        assert [e.reason for e in events if isinstance(e, ev.SessionEnded)] == ["completed"]
        assert len(steer.log) >= 3 and {p for p, _, _ in steer.log} == set(ports)
        assert all(status == 200 for _, _, status in steer.log)
        assert [p for p, _, _ in steer.log] == [ports[n % 2] for n in range(len(steer.log))]
        # Every message after the first went to the session's RespURI, on either worker.
        assert all("/dm/s/" in path for _, path, _ in steer.log[1:])
        assert "Exec -> 200" in workers.wait_output("Exec -> 200")
    done = assert_done_once(redis_url, 3)
    assert done[0].outcome is not None and "AX-5 Pro" in done[0].outcome["results"][0]


def test_sigkill_mid_session_the_retransmission_completes_on_another_worker(
        redis_url: str) -> None:
    flush(redis_url)
    enqueue(redis_url, commands())
    with Workers(redis_url, 2) as workers:
        a, b = workers.ports()
        killed: list[int] = []

        def choose(n: int) -> int:
            return b if killed else (a if n % 2 == 0 else b)

        steer = Steer(choose)

        def before(n: int, port: int) -> None:
            if n == 2 and port == a:
                # Worker A takes the connection but never answers (stopped), then dies.
                workers.kill(0, signal.SIGSTOP)
            elif n == 3 and not killed:
                workers.kill(0, signal.SIGKILL)
                killed.append(a)

        steer.before = before
        client = device(workers.url(0), response_timeout=3.0, max_retries=4)
        with client_for(steer, timeout=3.0) as http:
            events = run_http_session(client, workers.url(0), http=http)
        assert killed and not workers.workers[0].alive()
        assert client.state is State.CLOSED
        assert [e.reason for e in events if isinstance(e, ev.SessionEnded)] == ["completed"]
        statuses = [s for _, _, s in steer.log]
        assert statuses[2] == 0  # the request A swallowed: the device timed out and resent
        assert statuses[-1] == 200 and all(s in (0, 200) for s in statuses)
    assert_done_once(redis_url, 3)


def test_a_dead_workers_lock_is_waited_for_then_503_until_it_expires(redis_url: str) -> None:
    flush(redis_url)
    enqueue(redis_url, commands()[:1])
    with Workers(redis_url, 2) as workers:
        a, b = workers.ports()
        steer = Steer(lambda n: a if n < 2 else b)
        held: list[str] = []

        def before(n: int, port: int) -> None:
            if n == 2 and not held:
                token = client.resp_uri.rsplit("/", 1)[1] if client.resp_uri else ""

                async def grab(store: Any) -> None:
                    # As if a worker took the session's lock and was killed holding it.
                    assert await store.session_open(token, "dead-worker", 3000) is not None
                on_store(redis_url, grab)
                held.append(token)

        steer.before = before
        client = device(workers.url(0))
        started = time.monotonic()
        with client_for(steer) as http:
            run_http_session(client, workers.url(0), http=http, max_retry_after=1.0)
        assert held and client.state is State.CLOSED
        statuses = [s for _, _, s in steer.log]
        assert 503 in statuses and statuses[-1] == 200
        assert time.monotonic() - started >= 3.0  # the lease ran out, then it went on
    assert_done_once(redis_url, 1)


def _post(http: Any, url: str, out: Any) -> Any:
    headers = {"content-type": out.content_type}
    if out.hmac:
        headers["x-syncml-hmac"] = out.hmac
    return http.post(url, content=out.body, headers=headers)


def test_two_racing_requests_of_one_session_record_one_outcome(redis_url: str) -> None:
    flush(redis_url)
    enqueue(redis_url, commands())
    with Workers(redis_url, 2) as workers, httpx.Client(timeout=10) as http:
        urls = [workers.url(0), workers.url(1)]
        client = device(urls[0])
        client.start(now=time.monotonic())
        raced = 0
        while True:
            out = client.data_to_send(now=time.monotonic())
            if out is None:
                break
            path = client.resp_uri.split("/dm", 1)[1] if client.resp_uri else ""
            targets = [u + path for u in urls]
            if client.resp_uri is None:
                reply = _post(http, targets[0], out)
            else:
                # The same message on both workers at once (a device retransmitting while
                # its first request is still being served).
                replies: list[Any] = [None, None]
                gate = threading.Barrier(2)

                def send(i: int, out: Any = out, targets: list[str] = targets,
                         gate: threading.Barrier = gate, replies: list[Any] = replies) -> None:
                    gate.wait()
                    replies[i] = _post(http, targets[i], out)

                threads = [threading.Thread(target=send, args=(i,)) for i in (0, 1)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                codes = sorted(r.status_code for r in replies)
                assert codes in ([200, 200], [200, 503]), codes
                ok = [r for r in replies if r.status_code == 200]
                if len(ok) == 2:
                    # The loser waited and was answered from the winner's cache.
                    assert ok[0].content == ok[1].content
                reply, raced = ok[0], raced + 1
            assert reply.status_code == 200
            client.receive(reply.content, now=time.monotonic(),
                           content_type=reply.headers["content-type"],
                           hmac=reply.headers.get("x-syncml-hmac"))
        assert raced >= 2 and client.state is State.CLOSED
    assert_done_once(redis_url, 3)


def test_a_nonce_consumed_on_one_worker_is_consumed_on_all(redis_url: str) -> None:
    flush(redis_url)
    with Workers(redis_url, 2) as workers:
        first = device(workers.url(0))
        run_http_session(first, workers.url(0))  # the device now holds the 212 NextNonce
        sent: list[bytes] = []
        second = ClientSession(first.tree)
        with httpx.Client(timeout=10) as http:
            run_http_session(second, workers.url(0), http=http,
                             trace=lambda d, m: sent.append(m.body) if d == "C" else None)
        assert second.state is State.CLOSED
        enqueue(redis_url, commands()[:1])
        # The captured package 1 (its digest made with a nonce now consumed), replayed on
        # the other worker and on the same one: never authenticated, nothing delivered.
        with httpx.Client(timeout=10) as http:
            for url in (workers.url(1), workers.url(0)):
                reply = http.post(url, content=sent[0],
                                  headers={"content-type": "application/vnd.syncml.dm+xml"})
                assert reply.status_code == 200
                assert header_status(reply.content) in (401, 407)
    assert [e.state for e in entries(redis_url)] == ["queued"]


def test_every_worker_restarted_keeps_queues_outcomes_and_nonces(redis_url: str) -> None:
    flush(redis_url)
    enqueue(redis_url, commands())
    with Workers(redis_url, 2) as workers:
        a, b = workers.ports()
        steer = Steer(lambda n: (a, b)[n % 2])
        restarted: list[bool] = []

        def trace(direction: str, message: Any) -> None:
            if direction == "S" and not restarted and b"<Exec>" in message.body:
                # The device holds the server's commands: every worker dies and comes back.
                enqueue(redis_url, [Get("9", [Item(target=Target("./DevInfo/Man"))])],
                        key="later")
                for index in (0, 1):
                    workers.kill(index)
                for index in (0, 1):
                    workers.restart(index)
                restarted.append(True)

        client = device(workers.url(0))
        with client_for(steer) as http:
            run_http_session(client, workers.url(0), http=http, trace=trace)
        assert restarted and client.state is State.CLOSED
        got = entries(redis_url)
        assert [e.state for e in got] == ["done", "done", "done", "queued"]
        # The next session: the nonce of the last 212 is still known (no 401 round), and
        # it gets the command queued before the restart.
        replies: list[bytes] = []
        client = ClientSession(client.tree)
        with httpx.Client(timeout=10) as http:
            run_http_session(client, workers.url(1), http=http,
                             trace=lambda d, m: replies.append(m.body) if d == "S" else None)
        assert header_status(replies[0]) == 212
    assert_done_once(redis_url, 4)


def test_redis_down_or_slow_is_503_with_retry_after_and_nothing_is_lost() -> None:
    need_redis()
    with RedisServer(appendonly=True) as server:
        enqueue(server.url, commands())
        with Workers(server.url, 1) as workers, httpx.Client(timeout=10) as http:
            url = workers.url(0)
            client = device(url)
            client.start(now=time.monotonic())
            out = client.data_to_send(now=time.monotonic())
            reply = _post(http, url, out)
            client.receive(reply.content, now=time.monotonic(),
                           content_type=reply.headers["content-type"],
                           hmac=reply.headers.get("x-syncml-hmac"))
            out = client.data_to_send(now=time.monotonic())
            target = client.resp_uri or url
            server.stop()  # down
            down = _post(http, target, out)
            assert down.status_code == 503 and down.headers["retry-after"] == "1"
            assert down.content == b""
            server.start()  # back, with its data (append-only file)
            server.pause()  # slow: answers nothing
            started = time.monotonic()
            slow = _post(http, target, out)
            assert slow.status_code == 503 and time.monotonic() - started < 8
            server.resume()
            assert workers.workers[0].alive()
            reply = _post(http, target, out)
            assert reply.status_code == 200
            client.receive(reply.content, now=time.monotonic(),
                           content_type=reply.headers["content-type"],
                           hmac=reply.headers.get("x-syncml-hmac"))
            run_http_session(client, url, http=http)
            assert client.state is State.CLOSED
            assert "Traceback" not in workers.output()
        assert_done_once(server.url, 3)


def test_a_tampered_snapshot_is_refused_and_logged(redis_url: str) -> None:
    import redis

    flush(redis_url)
    enqueue(redis_url, commands()[:1])
    with Workers(redis_url, 1) as workers, httpx.Client(timeout=10) as http:
        url = workers.url(0)
        client = device(url)
        client.start(now=time.monotonic())
        out = client.data_to_send(now=time.monotonic())
        reply = _post(http, url, out)
        client.receive(reply.content, now=time.monotonic(),
                       content_type=reply.headers["content-type"],
                       hmac=reply.headers.get("x-syncml-hmac"))
        raw = redis.Redis.from_url(redis_url)
        (key,) = raw.keys("omadm:*:p:*")  # the session's snapshot
        snap = raw.get(key)
        assert snap is not None and b'"username":null' in snap
        # Someone with write access to Redis, not the seal key, makes the session look
        # authenticated.
        forged = snap.replace(b'"username":null', b'"username":"' + DEVICE_USER.encode() + b'"')
        raw.set(key, forged, keepttl=True)
        raw.close()
        out = client.data_to_send(now=time.monotonic())
        refused = _post(http, client.resp_uri or url, out)
        assert refused.status_code == 404
        deadline = time.monotonic() + 5
        while "refused a stored session snapshot" not in workers.output():
            assert time.monotonic() < deadline, workers.output()
            time.sleep(0.05)
    assert [e.state for e in entries(redis_url)] == ["queued"]  # nothing was claimed


def test_the_operator_cli_queues_and_reads_outcomes(redis_url: str) -> None:
    flush(redis_url)
    xml = (b'<Get><CmdID>7</CmdID><Item><Target><LocURI>./DevInfo/Mod</LocURI></Target>'
           b'</Item></Get>')
    cli = [sys.executable, "-m", "omadm_codec"]
    env = Workers(redis_url).env
    for _ in range(2):  # the same key twice: one command
        done = subprocess.run([*cli, "enqueue", DEV, "-", "--store", redis_url, "--key", "k"],
                              input=xml, capture_output=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        assert b"entries 1" in done.stdout
    bad = subprocess.run([*cli, "enqueue", DEV, "-", "--store", redis_url],
                         input=b"<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>1</CmdRef>"
                               b"<Cmd>Get</Cmd><Data>200</Data></Status>",
                         capture_output=True, env=env, timeout=60)
    assert bad.returncode == 1 and b"not_a_command" in bad.stderr
    broken = subprocess.run([*cli, "enqueue", DEV, "-", "--store", redis_url],
                            input=b"<Get><CmdID>1</CmdID><Item></Get>", capture_output=True,
                            env=env, timeout=60)
    assert broken.returncode == 1 and b"at offset" in broken.stderr
    nostore = subprocess.run([*cli, "outcomes", DEV], capture_output=True, timeout=60,
                             env={k: v for k, v in env.items() if k != "OMADM_STORE"})
    assert nostore.returncode == 2 and b"--store" in nostore.stderr
    with Workers(redis_url, 1) as workers:
        run_http_session(device(workers.url(0)), workers.url(0))
    shown = subprocess.run([*cli, "outcomes", DEV, "--store", redis_url, "--json"],
                           capture_output=True, env=env, timeout=60)
    rows = json.loads(shown.stdout)
    assert [(r["id"], r["state"], r["outcome"]["status"]) for r in rows] == [("1", "done", 200)]
    assert [h[1] for h in rows[0]["history"]] == ["queued", "sent", "done"]
    text = subprocess.run([*cli, "outcomes", DEV, "--store", redis_url, "--history"],
                          capture_output=True, env=env, timeout=60, text=True).stdout
    assert "#1 done    Get ./DevInfo/Mod -> 200" in text


def test_workers_on_a_three_node_redis_cluster() -> None:
    need_redis(cluster=True)
    with RedisCluster() as cluster:
        enqueue(cluster.url, commands())
        with Workers(cluster.url, 2) as workers:
            ports = workers.ports()
            steer = Steer(lambda n: ports[n % 2])
            client = device(workers.url(0))
            with client_for(steer) as http:
                run_http_session(client, workers.url(0), http=http)
            assert client.state is State.CLOSED
        assert_done_once(cluster.url, 3)


def test_serve_workers_share_one_port(redis_url: str) -> None:
    flush(redis_url)
    enqueue(redis_url, commands())
    with Workers(redis_url, 2, reuse_port=True) as workers:
        assert len(set(workers.ports())) == 1
        for _ in range(3):  # new connections: the kernel spreads them over both workers
            client = device(workers.url(0))
            with httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) \
                    as http:
                run_http_session(client, workers.url(0), http=http)
            assert client.state is State.CLOSED
    assert_done_once(redis_url, 3)


def test_serve_workers_n_supervises_its_workers(redis_url: str) -> None:
    from redis_server import free_port
    from worker_procs import SERVE_CREDENTIALS, Worker

    flush(redis_url)
    enqueue(redis_url, commands())
    port = free_port()
    env = Workers(redis_url).env
    env.pop("OMADM_SEAL_KEY")  # the parent makes one for its workers
    process = subprocess.Popen([sys.executable, "-m", "omadm_codec", "serve", "--port",
                                str(port), "--store", redis_url, "--workers", "2",
                                *SERVE_CREDENTIALS],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    parent = Worker(process, port)
    try:
        deadline = time.monotonic() + 60
        while sum(line.startswith("worker ") for line in parent.output) < 2:
            assert parent.alive() and time.monotonic() < deadline, parent.output
            time.sleep(0.05)
        pids = [int(line.split()[1]) for line in parent.output if line.startswith("worker ")]
        url = f"http://127.0.0.1:{port}/dm"
        client = device(url)
        run_http_session(client, url)
        assert client.state is State.CLOSED
        os.kill(pids[0], signal.SIGKILL)  # the parent starts another
        deadline = time.monotonic() + 60
        while sum(line.startswith("worker ") for line in parent.output) < 3:
            assert time.monotonic() < deadline, parent.output
            time.sleep(0.05)
        assert any("restarting" in line for line in parent.output)
    finally:
        process.terminate()
        process.wait(30)
    assert_done_once(redis_url, 3)
    for pid in pids[1:]:
        with pytest.raises(OSError):  # the parent stopped its workers
            os.kill(pid, 0)


def test_password_guesses_count_on_every_worker(redis_url: str) -> None:
    """An attacker spreads wrong passwords over the workers (here: all on worker 0); the
    failure records live in the store, so worker 1 refuses the right password too, unverified
    and answered as a wrong one. Each worker counting alone would give N times the guesses,
    and the lock would not hold anywhere but where it was earned."""
    from attack_server import (
        DEVICE_ID,
        DEVICE_SECRET,
        DM_XML,
        alert,
        basic_cred,
        cred_xml,
        devinfo,
        message,
    )

    def package1(password: str, number: int) -> bytes:
        return message(format(number + 1, "X"), 1, "http://127.0.0.1/dm", DEVICE_ID,
                       alert(1, 1201) + devinfo(2, DEVICE_ID), loc_name=DEVICE_USER,
                       cred=cred_xml("BASIC", basic_cred(DEVICE_USER, password)))

    def guess(http: Any, url: str, password: str, number: int) -> int:
        response = http.post(url, content=package1(password, number),
                             headers={"content-type": DM_XML})
        assert response.status_code == 200, response.status_code
        return header_status(response.content)

    flush(redis_url)
    with Workers(redis_url, 2, args=("--client-auth", "BASIC")) as workers, \
            httpx.Client(timeout=10) as http:
        wrong = [guess(http, workers.url(0), f"guess-{n}", n) for n in range(8)]
        right = guess(http, workers.url(1), DEVICE_SECRET, 100)
        again = guess(http, workers.url(1), "guess-again", 101)
    assert all(code == 401 for code in wrong), wrong
    assert right == again == 401, (
        f"worker 1 verified the right password after 8 failures on worker 0 ({right})")


def test_devices_stay_with_their_accounts_on_every_worker(redis_url: str) -> None:
    """Issue 13 item 4 on N workers: which devices an account may speak for is decided by the
    store, not by each worker's memory. Mallory (a valid account) claims alice's device on
    another worker than alice ever used and gets nothing of its queue; an account created
    without a DevId binds its first device once for all workers, so it cannot bind a second
    one on the other worker."""
    from attack_server import DM_XML, alert, basic_cred, cred_xml, devinfo, message

    alice_device = "IMEI:100000000000001"

    def package1(user: str, password: str, device_id: str, number: int) -> bytes:
        return message(format(number + 1, "X"), 1, "http://127.0.0.1/dm", device_id,
                       alert(1, 1201) + devinfo(2, device_id), loc_name=user,
                       cred=cred_xml("BASIC", basic_cred(user, password)))

    def start(http: Any, url: str, user: str, password: str, device_id: str,
              number: int) -> tuple[int, list[str]]:
        response = http.post(url, content=package1(user, password, device_id, number),
                             headers={"content-type": DM_XML})
        assert response.status_code == 200, response.status_code
        msg = decode(response.content)
        return header_status(response.content), [c.ELEMENT for c in msg.commands]

    def queued(device_id: str) -> list[str]:
        return on_store(redis_url, lambda s: DeviceQueues(s).entries(device_id))  # type: ignore[no-any-return]

    flush(redis_url)
    accounts = ("--account", f"alice:alice-pass:{alice_device}",
                "--account", "mallory:mallory-pass", "--client-auth", "BASIC")
    with Workers(redis_url, 2, args=accounts) as workers, httpx.Client(timeout=10) as http:
        on_store(redis_url, lambda s: DeviceQueues(s).enqueue(alice_device, [Replace(
            "1", [Item(target=Target("./Vendor/Acme/Mail/Password"), data="imap.secret")])]))
        stolen = start(http, workers.url(1), "mallory", "mallory-pass", alice_device, 1)
        mine = start(http, workers.url(0), "mallory", "mallory-pass", "IMEI:200000000000002", 2)
        second = start(http, workers.url(1), "mallory", "mallory-pass",
                       "IMEI:300000000000003", 3)
        again = start(http, workers.url(1), "mallory", "mallory-pass", "IMEI:200000000000002",
                      4)
        alice = start(http, workers.url(0), "alice", "alice-pass", alice_device, 5)
    assert stolen[0] in (401, 403) and "Replace" not in stolen[1], stolen
    assert mine[0] == 212 and again[0] == 212, (mine, again)
    assert second[0] in (401, 403), (
        f"an account without a DevId bound a second device on the other worker: {second}")
    assert alice[0] == 212 and "Replace" in alice[1], alice
    assert [e.state for e in queued(alice_device)] == ["sent"]
