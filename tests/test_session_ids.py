"""The device's random SessionIDs: drawn from a pool of OS random bytes (one ``getrandom`` per
256 sessions), uniform over 1-FFFF, and never shared with a forked child."""

from __future__ import annotations

import os

import pytest

from omadm_codec.session import client


def test_session_ids_cover_the_range_and_never_zero() -> None:
    values = [int(client._new_session_id(), 16) for _ in range(100_000)]
    assert min(values) >= 1 and max(values) <= 0xFFFF
    # 100,000 draws over 65,535 values: a pool that repeated itself would show far fewer.
    assert len(set(values)) > 50_000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_forked_child_does_not_reuse_the_parents_pool() -> None:
    client._new_session_id()  # the pool is filled and holds unused bytes
    ahead = bytes(client._random_pool)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.close(read_end)
            os.write(write_end, b"1" if len(client._random_pool) == 0 else b"0")
            ids = ",".join(client._new_session_id() for _ in range(8))
            os.write(write_end, ids.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = pipe.read()
    os.waitpid(pid, 0)
    assert report[:1] == b"1", "the child kept the parent's random bytes"
    child_ids = report[1:].decode().split(",")
    parent_ids = [client._new_session_id() for _ in range(8)]
    assert child_ids != parent_ids
    assert bytes(client._random_pool) != ahead  # the parent drew on from its own pool
