"""Real ``redis-server`` processes for the tests: one server, or a 3-node cluster, each on a
free port of 127.0.0.1 in a temporary directory, torn down afterwards.

``REDIS_SERVER`` is the binary (Debian ``redis-server``; CI installs it with apt); tests that
need it call ``need_redis()``, which skips with the reason when the binary is absent.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")


def need_redis(cluster: bool = False) -> str:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    if cluster and REDIS_CLI is None:
        pytest.skip("redis-cli is not installed (Debian package redis-tools)")
    return REDIS_SERVER


def free_port(highest: int = 65535) -> int:
    """A free TCP port of 127.0.0.1, at most ``highest`` (a cluster node's bus port is its
    port + 10000, so cluster nodes need ports <= 55535)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port <= highest:
            return port
    raise RuntimeError(f"no free port at most {highest}")


def _wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server on port {port} exited ({process.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(64).startswith((b"+PONG", b"-NOAUTH")):
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"redis-server on port {port} did not start")


class RedisServer:
    """One ``redis-server`` (no persistence unless ``appendonly``), as a context manager.
    ``url`` is ``redis://127.0.0.1:PORT/0``; ``stop()``/``start()`` take it down and up on the
    same port (a Redis outage)."""

    def __init__(self, *, cluster: bool = False, appendonly: bool = False,
                 workdir: Path | None = None, extra: tuple[str, ...] = ()) -> None:
        self.extra = extra
        self.binary = need_redis(cluster)
        self.port = free_port(55535 if cluster else 65535)
        self.cluster = cluster
        self.appendonly = appendonly
        self._tmp = None if workdir is not None else tempfile.TemporaryDirectory(
            prefix="omadm-redis-")
        self.dir = workdir if workdir is not None else Path(self._tmp.name)  # type: ignore[union-attr]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.dir), "--save", "", "--daemonize", "no",
                "--appendonly", "yes" if self.appendonly else "no",
                "--protected-mode", "no", "--loglevel", "warning",
                "--logfile", str(self.dir / "redis.log")]
        args += list(self.extra)
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file",
                     str(self.dir / "nodes.conf"), "--cluster-node-timeout", "2000"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        _wait_ready(self.port, self.process)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def pause(self) -> None:
        """SIGSTOP: the server holds connections and answers nothing (Redis slow)."""
        assert self.process is not None
        self.process.send_signal(19)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(18)

    def info_memory(self) -> int:
        assert REDIS_CLI is not None
        out = subprocess.run([REDIS_CLI, "-p", str(self.port), "info", "memory"],
                             capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("used_memory:"):
                return int(line.split(":")[1])
        raise RuntimeError("no used_memory in INFO")

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()


class RedisCluster:
    """Three ``redis-server --cluster-enabled yes`` masters joined with
    ``redis-cli --cluster create`` (no replicas). ``url`` is ``redis+cluster://`` on the first
    node."""

    def __init__(self, nodes: int = 3) -> None:
        need_redis(cluster=True)
        self.nodes = [RedisServer(cluster=True) for _ in range(nodes)]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def __enter__(self) -> RedisCluster:
        try:
            for node in self.nodes:
                node.start()
            assert REDIS_CLI is not None
            subprocess.run([REDIS_CLI, "--cluster", "create",
                            *(f"127.0.0.1:{n.port}" for n in self.nodes),
                            "--cluster-replicas", "0", "--cluster-yes"],
                           check=True, capture_output=True, timeout=60)
            # Every node, not only the first: a node that has not yet heard of every slot
            # answers CLUSTERDOWN to a key it should serve (seen in CI on a loaded machine).
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if all("cluster_state:ok" in subprocess.run(
                        [REDIS_CLI, "-p", str(node.port), "cluster", "info"],
                        capture_output=True, text=True, timeout=10).stdout
                       for node in self.nodes):
                    return self
                time.sleep(0.1)
            raise RuntimeError("the cluster did not reach cluster_state:ok on every node")
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc: object) -> None:
        for node in self.nodes:
            node.__exit__()
