"""Helpers for ``tests/test_attacks.py`` (issue 13): a real DM server in a subprocess on
127.0.0.1, and clients that talk to it over real HTTP.

Two kinds of server process:

- ``start_cli(...)``: the product itself, ``python -m omadm_codec serve --port 0 ...``.
- ``start_app(config)``: this file run as a script. It builds ``omadm_codec.http.DMServerApp``
  with a ``DeviceRegistry`` from a JSON ``config`` (accounts, the devices each may speak for,
  queued commands per DevId, store size, ...) and serves it with the project's own runner
  (``omadm_codec.http.ServerThread``). Next to ``/dm`` it answers ``GET /_test/state`` with
  what the registry recorded (outcomes, queues) and the sizes of the session tables, so a
  test can see the server's side of an attack.

Every project internal these tests touch is imported here and nowhere else (module paths are
moving: ``omadm_codec.model`` -> ``omadm_codec.messages.model``, ``omadm_codec.simulator`` ->
``omadm_codec.tools.simulator``); the tests themselves use ``omadm_codec`` (``decode``),
``omadm_codec.http`` (``run_http_session``) and ``omadm_codec.session`` (``ClientSession``).

Client messages are raw XML (``Msg``): an attacker does not go through the project's client.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import importlib
import inspect
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
DM_XML = "application/vnd.syncml.dm+xml"
DM_WBXML = "application/vnd.syncml.dm+wbxml"

SERVER_ID = "omadm-demo-server"
SERVER_SECRET = "server-secret-0001"
DEVICE_USER = "device-0001"
DEVICE_SECRET = "device-secret-0001"
DEVICE_ID = "IMEI:490154203237518"
SRV_NONCE = b"attack-test-srv-nonce"
DEMO_INITIAL_SERVER_NONCE = b"demo-initial-srv-nonce"
"""The fixed SRVCRED nonce ``omadm-codec serve`` starts every account with today (item 11)."""


# -- project internals, in one place ----------------------------------------------------------


def _first(*names: str) -> Any:
    """The first of ``names`` (dotted module paths) that imports."""
    error: ImportError | None = None
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            error = exc
    assert error is not None
    raise error


def model_module() -> Any:
    return _first("omadm_codec.messages.model", "omadm_codec.model")


def simulator_module() -> Any:
    return _first("omadm_codec.tools.simulator", "omadm_codec.simulator")


def honest_tree(url: str, *, dev_id: str = DEVICE_ID, user: str = DEVICE_USER,
                password: str = DEVICE_SECRET, client_auth: str = "DIGEST") -> Any:
    """The simulated device's management tree, pointed at ``url`` (DIGEST client auth unless
    told, HMAC server auth with ``SRV_NONCE``, as ``start_app`` configures the server)."""
    sim = simulator_module()
    return sim.build_tree(server_addr=url, server_auth="HMAC", server_nonce=SRV_NONCE,
                          client_name=user, client_secret=password, dev_id=dev_id,
                          client_auth=client_auth)


# -- the server process ------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The environment of a server process: the same omadm_codec (this checkout) and the same
    twin choice as the test process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Server:
    """A server subprocess; ``url`` is ``http://127.0.0.1:PORT`` (no path)."""

    proc: subprocess.Popen[bytes]
    url: str
    stderr_path: Path
    stdout_path: Path
    _tmp: Any = field(repr=False, default=None)

    @property
    def dm(self) -> str:
        return f"{self.url}/dm"

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stderr_size(self) -> int:
        return self.stderr_path.stat().st_size

    def stderr_text(self, limit: int = 20000) -> str:
        with open(self.stderr_path, "rb") as fh:
            return fh.read(limit).decode("utf-8", "replace")

    def state(self) -> dict[str, Any]:
        """``GET /_test/state`` (``start_app`` servers only)."""
        import httpx

        with httpx.Client(timeout=10) as http:
            response = http.get(f"{self.url}/_test/state")
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close_stdin(self) -> None:
        """Ask a ``start_app`` server to stop gracefully (it serves until stdin closes)."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def stdout_text(self) -> str:
        return self.stdout_path.read_text("utf-8", "replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _spawn(argv: list[str], ready: re.Pattern[str], *, nofile: int | None = None,
           timeout: float = 20.0) -> Server:
    tmp = tempfile.TemporaryDirectory(prefix="omadm-attack-")
    out = Path(tmp.name) / "stdout"
    err = Path(tmp.name) / "stderr"

    def limits() -> None:  # in the child, before exec
        if nofile is not None:
            import resource

            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))

    with open(out, "wb") as fo, open(err, "wb") as fe:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=fo, stderr=fe,
                                env=child_env(), cwd=tmp.name, preexec_fn=limits)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = out.read_text("utf-8", "replace")
        found = ready.search(text)
        if found:
            return Server(proc, found.group(1), err, out, tmp)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait(5)
    message = (f"server did not start: rc={proc.returncode}\nstdout: {out.read_text()[-2000:]}"
               f"\nstderr: {err.read_text()[-4000:]}")
    tmp.cleanup()
    raise RuntimeError(message)


SERVE_ACCOUNT = ("--account", f"{DEVICE_USER}:{DEVICE_SECRET}", "--server-password",
                 "attack-test-server-secret")
"""An explicit account and server secret, for tests of ``serve`` that are not about its
defaults (item 11 is)."""


def start_cli(*args: str, nofile: int | None = None) -> Server:
    """``omadm-codec serve --port 0 ARGS`` (the product's own entry point)."""
    argv = [sys.executable, "-m", "omadm_codec", "serve", "--port", "0", *args]
    return _spawn(argv, re.compile(r"(https?://127\.0\.0\.1:\d+)/dm"), nofile=nofile)


def default_config(**changes: Any) -> dict[str, Any]:
    """The configuration ``start_app`` takes; keys are documented in ``build_app``."""
    config: dict[str, Any] = {
        "client_auth": "DIGEST",
        "server_auth": "HMAC",
        "accounts": [{"user": DEVICE_USER, "password": DEVICE_SECRET, "devices": [DEVICE_ID]}],
        "queue": {},
        "max_sessions": None,
        "idle_timeout": None,
        "fail_on_alert": None,
        "base_url": None,
        "max_unauthenticated": None,
        "message_auth": None,
        "max_obj_size": None,
        "incoming_budget": None,
        "http": None,
        "slow_alert": None,
        "base_lock": None,
    }
    config.update(changes)
    return config


def start_app(config: dict[str, Any] | None = None, *, nofile: int | None = None) -> Server:
    """This file as a server process, configured by ``config`` (see ``default_config``)."""
    text = json.dumps(config if config is not None else default_config())
    argv = [sys.executable, str(Path(__file__).resolve()), text]
    return _spawn(argv, re.compile(r"READY (http://127\.0\.0\.1:\d+)"), nofile=nofile)


# -- the server side (runs in the subprocess) --------------------------------------------------


def _command(spec: dict[str, Any]) -> Any:
    m = model_module()
    if spec["cmd"] == "Get":
        return m.Get("0", [m.Item(target=m.Target(spec["uri"]))])
    if spec["cmd"] == "Replace":
        return m.Replace("0", [m.Item(target=m.Target(spec["uri"]),
                                      meta=m.Meta(format=spec.get("format", "chr")),
                                      data=spec["data"])])
    raise ValueError(spec["cmd"])


def build_app(config: dict[str, Any]) -> tuple[Any, Any]:
    """(ASGI app, DMServerApp) for ``config``:

    - ``client_auth`` / ``server_auth``: AAuthType demanded of the device / used by the server;
    - ``accounts``: ``[{user, password, devices}]``; ``devices`` are the DevIds the account may
      speak for, handed to ``DeviceRegistry.add_account`` when it takes them (issue 13, item 4;
      absent or null: the first device the account authenticates with);
    - ``queue``: ``{DevId: [{cmd: Get|Replace, uri, data?, format?}]}`` queued in the registry;
    - ``max_sessions``, ``max_unauthenticated``: the session caps (authenticated, and not yet
      authenticated sessions): ``DMServerApp(max_sessions=, max_preauth_sessions=)`` on the
      state store, ``MemorySessionStore``'s caps on the code before it;
    - ``message_auth``, ``max_obj_size``, ``incoming_budget``: the sessions' guards;
    - ``http``: ``HttpLimits`` fields for the runner (e.g. ``max_connections``);
    - ``base_lock``: the throttle's first lock in seconds, for every kind of key (a long one
      keeps a test independent of how fast the machine runs it);
    - ``idle_timeout``: the session idle timeout;
    - ``fail_on_alert``: the application raises ``RuntimeError`` on a Generic Alert whose item
      data equals this text (a buggy application, item 9);
    - ``base_url``: ``DMServerApp(base_url=)``;
    - ``slow_alert``: seconds the application takes on a Generic Alert whose item data is
      ``slow`` (a request in flight, for shutdown tests).
    """
    import omadm_codec.http as http_module
    from omadm_codec.http import DeviceRegistry, DMServerApp, ServerConfig
    from omadm_codec.session import AlertReceived

    nonces_module = _first("omadm_codec.security.nonces", "omadm_codec.nonces")
    registry = DeviceRegistry()
    takes_devices = "devices" in inspect.signature(registry.add_account).parameters
    nonces = nonces_module.NonceManager()
    for account in config["accounts"]:
        if takes_devices:
            registry.add_account(account["user"], account["password"],
                                 devices=account.get("devices"))
        else:
            registry.add_account(account["user"], account["password"])
        nonces.reset_resync(account["user"], "SRVCRED", SRV_NONCE)
    # On the durable queue (issue 15) a command that may have reached the device goes back to
    # the queue only if it is safe to repeat: these Gets and Replaces are, and say so.
    repeatable = "repeatable" in inspect.signature(registry.enqueue).parameters
    for dev_id, specs in config["queue"].items():
        commands = [_command(spec) for spec in specs]
        if repeatable:
            registry.enqueue(dev_id, commands, repeatable=True)
        else:
            registry.enqueue(dev_id, commands)
    server_config = ServerConfig(server_id=SERVER_ID, secret_lookup=registry.secrets.get,
                                 server_secret=SERVER_SECRET,
                                 aauth_type=config["client_auth"],
                                 server_auth_type=config["server_auth"], nonces=nonces)
    if config.get("idle_timeout") is not None:
        server_config.idle_timeout = config["idle_timeout"]
    guards = {key: config[key] for key in ("message_auth", "max_obj_size")
              if config.get(key) is not None}
    if config.get("base_lock") is not None:
        from omadm_codec.security.throttle import Throttle, ThrottleRule, ThrottleRules

        lock = float(config["base_lock"])
        guards["throttle"] = Throttle(ThrottleRules(
            account=ThrottleRule(base_lock=lock, max_lock=max(900.0, lock)),
            device=ThrottleRule(base_lock=lock, max_lock=max(900.0, lock)),
            address=ThrottleRule(free_failures=50, base_lock=lock, max_lock=max(900.0, lock))))
    if config.get("incoming_budget") is not None:
        from omadm_codec.limits import MemoryBudget

        guards["incoming_budget"] = MemoryBudget(config["incoming_budget"])
    if guards:
        server_config.guards = dataclasses.replace(server_config.guards, **guards)
    caps: dict[str, Any] = {}
    if config.get("max_sessions") is not None or config.get("max_unauthenticated") is not None:
        max_sessions = config.get("max_sessions") or 100_000
        max_unauthenticated = config.get("max_unauthenticated")
        if hasattr(http_module, "MemorySessionStore"):  # the code before the state store
            caps["store"] = http_module.MemorySessionStore(
                max_sessions=max_sessions, max_unauthenticated=max_unauthenticated)
        else:
            caps.update(max_sessions=max_sessions, max_preauth_sessions=(
                max_unauthenticated if max_unauthenticated is not None
                else min(10_000, max_sessions)))
    marker = config.get("fail_on_alert")
    slow = config.get("slow_alert")
    factory = None
    if marker is not None or slow is not None:
        def factory() -> Any:
            def app(session: Any, events: list[Any]) -> None:
                for event in events:
                    if not isinstance(event, AlertReceived):
                        continue
                    data = [getattr(i, "data", None) for i in event.items]
                    if marker is not None and marker in data:
                        raise RuntimeError("the application failed (test: fail_on_alert)")
                    if slow is not None and "slow" in data:
                        time.sleep(slow)
                if callable(registry):  # before issue 15 the registry was the application
                    registry(session, events)
            return app
    dm = DMServerApp(server_config, registry=registry, app_factory=factory,
                     base_url=config.get("base_url"), **caps)

    def state() -> dict[str, Any]:
        outcomes = {}
        for dev_id, events in registry.outcomes.items():
            outcomes[dev_id] = [{
                "cmd": e.command.ELEMENT, "status": e.status,
                "results": [str(i.data) for r in e.results for i in r.items],
            } for e in events]
        return {"outcomes": outcomes,
                "queues": {k: len(v) for k, v in registry.queues.items()},
                "store": len(dm.store),
                "apps": len(getattr(dm, "_apps", {}))}

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path") == "/_test/state":
            body = json.dumps(state()).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        await dm(scope, receive, send)

    return asgi, dm


def _serve(config: dict[str, Any]) -> None:
    from omadm_codec.http import HttpLimits, ServerThread

    asgi, _ = build_app(config)
    limits = HttpLimits(**(config.get("http") or {}))
    with ServerThread(asgi, host="127.0.0.1", port=0, limits=limits) as server:
        print(f"READY {server.url}", flush=True)
        sys.stdin.read()  # until the test closes our stdin (a graceful stop) or kills us
    print("STOPPED", flush=True)


def post_many(port: int, bodies: list[bytes], *, width: int = 64,
              content_type: str = DM_XML) -> list[bytes]:
    """POST every body to ``/dm``, each on its own connection (``Connection: close``),
    ``width`` connections at a time; returns the raw HTTP answers. Much cheaper per request
    than an HTTP client, and a server's per-connection delays overlap (a flood)."""
    import selectors
    import socket

    selector = selectors.DefaultSelector()
    todo = list(enumerate(bodies))
    answers: list[bytes] = [b""] * len(bodies)
    live = 0
    while todo or live:
        while todo and live < width:
            index, body = todo.pop()
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            sock.sendall(b"POST /dm HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                         b"Content-Type: " + content_type.encode() + b"\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, index)
            live += 1
        events = selector.select(30)
        if not events:
            raise TimeoutError("the server stopped answering")
        for key, _ in events:
            data = key.fileobj.recv(65536)  # type: ignore[union-attr]
            if data:
                answers[key.data] += data
            else:
                selector.unregister(key.fileobj)
                key.fileobj.close()  # type: ignore[union-attr]
                live -= 1
    selector.close()
    return answers


# -- raw client messages ---------------------------------------------------------------------


def md5_cred(user: str, password: str, nonce: bytes) -> str:
    """``syncml:auth-md5`` Cred/Data (dm-protocol.md 3.4), computed here, not by the project."""
    inner = base64.b64encode(hashlib.md5(f"{user}:{password}".encode()).digest())
    return base64.b64encode(hashlib.md5(inner + b":" + nonce).digest()).decode()


def basic_cred(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def mac(user: str, password: str, nonce: bytes, body: bytes) -> str:
    """The ``mac=`` of an ``x-syncml-hmac`` (dm-protocol.md 3.5)."""
    inner = base64.b64encode(hashlib.md5(f"{user}:{password}".encode()).digest())
    body_hash = base64.b64encode(hashlib.md5(body).digest())
    return base64.b64encode(hashlib.md5(inner + b":" + nonce + b":" + body_hash).digest()
                            ).decode()


def cred_xml(kind: str, data: str) -> str:
    meta_type = {"DIGEST": "syncml:auth-md5", "BASIC": "syncml:auth-basic"}[kind]
    return (f'<Cred><Meta><Format xmlns="syncml:metinf">b64</Format>'
            f'<Type xmlns="syncml:metinf">{meta_type}</Type></Meta><Data>{data}</Data></Cred>')


def alert(cmd_id: int, code: int, data: str | None = None) -> str:
    item = f"<Item><Data>{escape(data)}</Data></Item>" if data is not None else ""
    if code == 1226 and data is not None:
        item = (f'<Item><Source><LocURI>./Vendor/Acme</LocURI></Source><Meta>'
                f'<Type xmlns="syncml:metinf">org.example.test</Type>'
                f'<Format xmlns="syncml:metinf">chr</Format></Meta>'
                f'<Data>{escape(data)}</Data></Item>')
    return f"<Alert><CmdID>{cmd_id}</CmdID><Data>{code}</Data>{item}</Alert>"


def devinfo(cmd_id: int, dev_id: str) -> str:
    return (f"<Replace><CmdID>{cmd_id}</CmdID><Item><Source><LocURI>./DevInfo/DevId</LocURI>"
            f"</Source><Data>{escape(dev_id)}</Data></Item></Replace>")


def status(cmd_id: int, msg_ref: str, cmd_ref: str, cmd: str, code: int,
           chal_nonce: bytes | None = None) -> str:
    chal = ""
    if chal_nonce is not None:
        chal = ('<Chal><Meta><Format xmlns="syncml:metinf">b64</Format>'
                '<Type xmlns="syncml:metinf">syncml:auth-MAC</Type>'
                f'<NextNonce xmlns="syncml:metinf">{base64.b64encode(chal_nonce).decode()}'
                '</NextNonce></Meta></Chal>')
    return (f"<Status><CmdID>{cmd_id}</CmdID><MsgRef>{msg_ref}</MsgRef><CmdRef>{cmd_ref}"
            f"</CmdRef><Cmd>{cmd}</Cmd>{chal}<Data>{code}</Data></Status>")


def results(cmd_id: int, msg_ref: str, cmd_ref: str, items: list[tuple[str, str]], *,
            more_data: bool = False, size: int | None = None) -> str:
    """A Results command; ``items`` are (LocURI, data). ``size`` goes in the first item's
    Meta (a large object's declared total), ``more_data`` on the last item."""
    parts = []
    for index, (uri, data) in enumerate(items):
        meta = '<Format xmlns="syncml:metinf">chr</Format>'
        if size is not None and index == 0:
            meta += f'<Size xmlns="syncml:metinf">{size}</Size>'
        more = "<MoreData/>" if more_data and index == len(items) - 1 else ""
        parts.append(f"<Item><Source><LocURI>{escape(uri)}</LocURI></Source><Meta>{meta}</Meta>"
                     f"<Data>{escape(data)}</Data>{more}</Item>")
    return (f"<Results><CmdID>{cmd_id}</CmdID><MsgRef>{msg_ref}</MsgRef><CmdRef>{cmd_ref}"
            f"</CmdRef>{''.join(parts)}</Results>")


def message(session_id: str, msg_id: int, target: str, source: str, body: str, *,
            loc_name: str | None = None, cred: str = "", final: bool = True,
            max_obj_size: int | None = None) -> bytes:
    name = f"<LocName>{escape(loc_name)}</LocName>" if loc_name is not None else ""
    obj = (f'<MaxObjSize xmlns="syncml:metinf">{max_obj_size}</MaxObjSize>'
           if max_obj_size is not None else "")
    text = ('<?xml version="1.0" encoding="UTF-8"?><SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr>'
            f"<VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>{session_id}</SessionID>"
            f"<MsgID>{msg_id}</MsgID><Target><LocURI>{escape(target)}</LocURI></Target>"
            f"<Source><LocURI>{escape(source)}</LocURI>{name}</Source>{cred}"
            f'<Meta><MaxMsgSize xmlns="syncml:metinf">65536</MaxMsgSize>{obj}</Meta></SyncHdr>'
            f"<SyncBody>{body}{'<Final/>' if final else ''}</SyncBody></SyncML>")
    return text.encode("utf-8")


# -- reading answers -----------------------------------------------------------------------


def decode(body: bytes, content_type: str | None = None) -> Any:
    import omadm_codec

    return omadm_codec.decode(body, content_type)


def header_status(msg: Any) -> Any:
    """The Status for the SyncHdr in a server message (None if there is none)."""
    for command in msg.commands:
        if command.ELEMENT == "Status" and command.cmd_ref == "0":
            return command
    return None


def chal_nonce(msg: Any) -> bytes | None:
    hdr = header_status(msg)
    if hdr is None or hdr.chal is None or hdr.chal.meta is None:
        return None
    nonce = hdr.chal.meta.next_nonce
    return None if nonce is None else base64.b64decode(nonce)


def commands_of(msg: Any) -> list[str]:
    """Element names of the commands in a message other than Status / Results."""
    return [c.ELEMENT for c in msg.commands if c.ELEMENT not in ("Status", "Results")]


class RawDevice:
    """A client that writes its DM messages by hand (an attacker, or a device misbehaving
    on purpose), over one ``httpx.Client``."""

    def __init__(self, base: str, *, user: str = DEVICE_USER, password: str = DEVICE_SECRET,
                 dev_id: str = DEVICE_ID, session_id: str = "A7", auth: str = "DIGEST",
                 timeout: float = 10.0, http: Any = None) -> None:
        import httpx

        self.base = base
        self.url = base
        self.user = user
        self.password = password
        self.dev_id = dev_id
        self.session_id = session_id
        self.auth = auth
        self.msg_id = 0
        self._own = http is None
        self.http = http if http is not None else httpx.Client(timeout=timeout)
        self.last: Any = None
        """The last decoded server message."""

    def close(self) -> None:
        if self._own:
            self.http.close()

    def __enter__(self) -> RawDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def post(self, body: bytes, url: str | None = None,
             content_type: str = DM_XML, headers: dict[str, str] | None = None) -> Any:
        return self.http.post(url or self.url, content=body,
                              headers={"content-type": content_type, **(headers or {})})

    def send(self, body: str, *, cred: str = "", final: bool = True,
             max_obj_size: int | None = None) -> tuple[Any, Any]:
        """Post the next message of this session; (response, decoded answer or None).
        Follows the RespURI of a 200 answer."""
        self.msg_id += 1
        data = message(self.session_id, self.msg_id, self.base, self.dev_id, body,
                       loc_name=self.user, cred=cred, final=final, max_obj_size=max_obj_size)
        response = self.post(data)
        msg = None
        if response.status_code == 200 and response.content:
            msg = decode(response.content, response.headers.get("content-type"))
            self.last = msg
            if msg.header.resp_uri:
                self.url = msg.header.resp_uri
        return response, msg

    def cred_for(self, nonce: bytes | None) -> str:
        if self.auth == "BASIC":
            return cred_xml("BASIC", basic_cred(self.user, self.password))
        return cred_xml("DIGEST", md5_cred(self.user, self.password, nonce or b""))

    def start(self, extra: str = "") -> Any:
        """Package 1 without credentials, then again with them (from the challenge's nonce).
        Returns the decoded answer to the second one (212 and the server's commands when the
        account and DevId are accepted)."""
        _, first = self.send(alert(1, 1201) + devinfo(2, self.dev_id) + extra)
        nonce = chal_nonce(first) if first is not None else None
        response, msg = self.send(status(1, "1", "0", "SyncHdr", 200) + alert(2, 1201)
                                  + devinfo(3, self.dev_id) + extra, cred=self.cred_for(nonce))
        if msg is None:
            raise AssertionError(f"package 1 refused: HTTP {response.status_code}")
        return msg


if __name__ == "__main__":
    _serve(json.loads(sys.argv[1]))
