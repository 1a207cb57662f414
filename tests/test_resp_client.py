"""The lean Redis client (``omadm_codec.http._resp``) against a real ``redis-server``:
database selection, AUTH, error replies, a deadline per request that keeps later replies in
their places, and reconnection after the server restarts."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis_server import RedisServer, need_redis

pytest.importorskip("hiredis")

from omadm_codec.http._resp import ReplyError, RespClient  # noqa: E402


def test_commands_pipelines_databases_and_errors() -> None:
    need_redis()
    with RedisServer() as server:
        async def body() -> None:
            zero = RespClient(server.url)
            three = RespClient(server.url.rsplit("/", 1)[0] + "/3")
            try:
                await zero.execute_command("SET", "k", "zero")
                await three.execute_command("SET", "k", b"three\x00\xff")
                assert await zero.execute_command("GET", "k") == b"zero"
                assert await three.execute_command("GET", "k") == b"three\x00\xff"
                replies = await zero.execute_many([("INCR", "n"), ("INCR", "n"),
                                                   ("HSET", "k2", "f", "v"), ("INCR", "k")])
                assert replies[:3] == [1, 2, 1] and isinstance(replies[3], ReplyError)
                assert await zero.execute_many([]) == []
                with pytest.raises(ReplyError, match="WRONGTYPE"):
                    await zero.execute_command("HGET", "k", "f")
                many = await asyncio.gather(*(zero.execute_command("INCR", "c")
                                              for _ in range(200)))
                assert sorted(many) == list(range(1, 201))
            finally:
                await zero.aclose()
                await three.aclose()
        asyncio.run(body())


def test_password() -> None:
    need_redis()
    with RedisServer(extra=("--requirepass", "s3cr:t")) as server:
        async def body() -> None:
            good = RespClient(f"redis://:s3cr%3At@127.0.0.1:{server.port}/0")
            bad = RespClient(f"redis://:nope@127.0.0.1:{server.port}/0")
            none = RespClient(server.url)
            try:
                assert await good.execute_command("PING") == b"PONG"
                with pytest.raises(ConnectionError):
                    await bad.execute_command("PING")
                with pytest.raises(ReplyError, match="NOAUTH"):
                    await none.execute_command("PING")
            finally:
                for client in (good, bad, none):
                    await client.aclose()
        asyncio.run(body())


def test_a_deadline_then_replies_stay_in_their_places_and_reconnects() -> None:
    need_redis()
    with RedisServer() as server:
        async def body() -> None:
            client = RespClient(server.url, timeout=0.3)
            try:
                await client.execute_command("SET", "a", "1")
                server.pause()
                started = time.monotonic()
                with pytest.raises(TimeoutError):
                    await client.execute_command("GET", "a")
                assert time.monotonic() - started < 2
                server.resume()
                # The late reply to the GET above is skipped: this one gets its own.
                assert await client.execute_command("SET", "b", "2") == b"OK"
                assert await client.execute_command("GET", "b") == b"2"
                server.stop()
                with pytest.raises((ConnectionError, OSError, TimeoutError)):
                    await client.execute_command("GET", "b")
                server.start()
                assert await client.execute_command("PING") == b"PONG"
            finally:
                if server.process is not None:
                    server.resume()
                await client.aclose()
        asyncio.run(body())
