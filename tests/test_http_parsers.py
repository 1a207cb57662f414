"""Issue 13's connection guards on both HTTP parsers ``HttpLimits.parser`` offers (uvicorn's
h11 and httptools protocols), over real sockets on 127.0.0.1: requests served whole however
their bytes arrive (split, trickled, pipelined, kept alive), heads bounded in size and in
time, connections capped with a clear refusal."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from omadm_codec.http import HttpLimits, ServerThread

PARSERS = ["h11", "httptools"]


async def echo(scope: Any, receive: Any, send: Any) -> None:
    """Answers every request with its method, path and body (or nothing for lifespan)."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    out = f"{scope['method']} {scope['path']} ".encode() + body
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(out)).encode())]})
    await send({"type": "http.response.body", "body": out})


@pytest.fixture(params=PARSERS)
def parser(request: pytest.FixtureRequest) -> str:
    if request.param == "httptools":
        pytest.importorskip("httptools", reason="the httptools parser needs httptools")
    return str(request.param)


def serve(parser: str, **limits: Any) -> ServerThread:
    return ServerThread(echo, limits=HttpLimits(parser=parser, **limits))  # type: ignore[arg-type]


def connect(server: ServerThread) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_answers(sock: socket.socket, count: int) -> list[bytes]:
    """``count`` whole responses (each with a Content-Length)."""
    data, out = b"", []
    while len(out) < count:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError(f"closed after {out!r} + {data!r}")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while len(rest) < length:
            rest += sock.recv(65536)
        out.append(head + b"\r\n\r\n" + rest[:length])
        data = rest[length:]
    return out


def closed_answer(sock: socket.socket, within: float) -> bytes:
    """Everything the server sends until it closes (AssertionError if it does not close
    within ``within`` seconds)."""
    sock.settimeout(within)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        raise AssertionError(f"still open after {within} s (got {data!r})") from None
    except ConnectionResetError:
        pass
    return data


def post(path: str, body: bytes, extra: bytes = b"") -> bytes:
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)


def test_requests_are_whole_however_their_bytes_arrive(parser: str) -> None:
    with serve(parser) as server, connect(server) as sock:
        request = post("/dm", b"<SyncML>" + b"x" * 3000 + b"</SyncML>")
        for start in range(0, len(request), 700):  # split in the head and in the body
            sock.sendall(request[start:start + 700])
            time.sleep(0.01)
        (first,) = read_answers(sock, 1)
        assert first.startswith(b"HTTP/1.1 200") and first.endswith(b"x</SyncML>")
        # Kept alive, then two pipelined in one write: answered in order.
        sock.sendall(post("/a", b"one") + post("/b", b"two"))
        second, third = read_answers(sock, 2)
        assert second.endswith(b"POST /a one") and third.endswith(b"POST /b two")


def test_a_head_over_the_cap_is_refused_and_closed(parser: str) -> None:
    with serve(parser, max_header_bytes=4096) as server:
        if parser == "httptools":
            # A whole head over the cap, in one write: counted as it is parsed. (h11 caps
            # only a head still incomplete after a read, so it takes this one: one read
            # bounds it, 256 KB.)
            with connect(server) as sock:
                sock.sendall(post("/dm", b"x", b"X-Big: " + b"a" * 6000 + b"\r\n"))
                assert closed_answer(sock, 5).startswith(b"HTTP/1.1 400")
        # One header line that never ends, trickled: refused once past the cap.
        with connect(server) as sock:
            sock.sendall(b"POST /dm HTTP/1.1\r\nHost: x\r\nX-Big: ")
            sent = 0
            try:
                while sent < 64 << 10:
                    sock.sendall(b"a" * 512)
                    sent += 512
                    time.sleep(0.002)
            except (BrokenPipeError, ConnectionResetError):
                pass
            assert closed_answer(sock, 5).startswith((b"HTTP/1.1 4", b""))
            assert sent < 64 << 10, "a never-ending header line was read past the cap"
        # Many headers under the cap, trickled a few bytes at a time: served.
        with connect(server) as sock:
            request = post("/ok", b"body", b"".join(b"X-H%d: %s\r\n" % (n, b"v" * 40)
                                                      for n in range(60)))
            assert len(request) < 4096
            for start in range(0, len(request), 97):
                sock.sendall(request[start:start + 97])
                time.sleep(0.001)
            (answer,) = read_answers(sock, 1)
            assert answer.endswith(b"POST /ok body")


def test_slow_heads_and_silent_connections_time_out(parser: str) -> None:
    with serve(parser, header_timeout=0.5) as server:
        silent, partial = connect(server), connect(server)
        partial.sendall(b"POST /dm HTTP/1.1\r\nHost: x\r\nContent-")
        started = time.monotonic()
        for sock in (silent, partial):
            with sock:
                assert closed_answer(sock, 3).startswith((b"HTTP/1.1 408", b""))
        assert time.monotonic() - started < 3
        # The timer runs per request: a kept-alive connection's next head is timed again.
        with connect(server) as sock:
            sock.sendall(post("/a", b"1"))
            read_answers(sock, 1)
            time.sleep(0.7)  # idle past header_timeout, within the keep-alive timeout
            sock.sendall(post("/b", b"2"))
            (answer,) = read_answers(sock, 1)
            assert answer.endswith(b"POST /b 2")
            sock.sendall(b"POST /c HTTP/1.1\r\n")
            assert closed_answer(sock, 3).startswith(b"HTTP/1.1 408")


def test_the_connection_cap_is_a_clear_refusal(parser: str) -> None:
    with serve(parser, max_connections=3) as server:
        held = [connect(server) for _ in range(3)]
        try:
            time.sleep(0.2)
            with connect(server) as over:
                answer = closed_answer(over, 3)
            assert answer.startswith(b"HTTP/1.1 503") and b"Retry-After" in answer
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.2)
        with connect(server) as sock:
            sock.sendall(post("/dm", b"after"))
            assert read_answers(sock, 1)[0].endswith(b"POST /dm after")

