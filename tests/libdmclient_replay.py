"""Replays the libdmclient HTTP captures (``../shared/corpus/libdmclient``) against this
project's DM server, in-process (one ASGI call per request) or over real HTTP (uvicorn on
127.0.0.1), with the server issuing the very nonces the capture shows.

The one idea: every capture is the exact bytes a real, independently written client sent to
``omadm-codec serve`` at commit 2c882d0. The server is rebuilt as it was configured then
(server id ``funambol``, account ``funambol``/``funambol``, server password ``srvpwd``, SRVCRED
nonce ``demo-initial-srv-nonce`` pre-shared, the demo script or the capture's own script), its
``NonceManager`` draws its nonces from ``FixedTokens`` (the ``NextNonce`` of every ``Chal``
the captured server sent, in order) and its RespURI token is pinned to the captured one, so
the client's later bytes (MACs and digests included) still fit. A replay stops where the
fixed server must answer differently and the client's later bytes no longer apply.

Everything the tests need from the package is imported here, in ``_modules``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import importlib
import json
import secrets
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
CAPTURES = SHARED / "corpus" / "libdmclient"
REASON = (f"{CAPTURES} is absent: the libdmclient captures are read from ../shared beside the "
          "checkout (a checkout outside this workplace has none)")

SERVER_ID = "funambol"
ACCOUNT = "funambol"
PASSWORD = "funambol"
SERVER_PASSWORD = "srvpwd"
INITIAL_SERVER_NONCE = b"demo-initial-srv-nonce"
DEVICE = "DMCtest"
DS_XML = "application/vnd.syncml+xml"


def available() -> bool:
    return CAPTURES.is_dir() and any(CAPTURES.glob("*.jsonl"))


# -- the package, imported in one place --------------------------------------------------------


def _modules() -> SimpleNamespace:
    return SimpleNamespace(
        codec=importlib.import_module("omadm_codec"),
        auth=importlib.import_module("omadm_codec.security.auth"),
        nonces=importlib.import_module("omadm_codec.security.nonces"),
        model=importlib.import_module("omadm_codec.messages.model"),
        http=importlib.import_module("omadm_codec.http"),
        session=importlib.import_module("omadm_codec.session"),
        events=importlib.import_module("omadm_codec.session.events"),
        scenario=importlib.import_module("omadm_codec.tools.demo_scenario"),
    )


M = _modules()


# -- captures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    """One captured HTTP exchange (one JSON line)."""

    n: int
    method: str
    path: str
    req_headers: dict[str, str]
    request: bytes
    """The client's body, byte for byte (empty where the server never read it: the 415)."""
    status: int
    resp_headers: dict[str, str]
    response: bytes
    """What the server at 2c882d0 answered (not what it should answer)."""

    @property
    def content_type(self) -> str:
        return self.req_headers.get("content-type", "")

    @property
    def hmac(self) -> str | None:
        return self.req_headers.get("x-syncml-hmac")

    def request_msg(self) -> Any:
        return M.codec.decode(self.request)

    def response_msg(self) -> Any:
        return M.codec.decode(self.response) if self.response else None


def load(name: str) -> list[Exchange]:
    """The exchanges of ``name`` (a file stem in ``CAPTURES``), in order."""
    out = []
    for line in (CAPTURES / f"{name}.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        out.append(Exchange(
            rec["n"], rec["method"], rec["path"],
            {k.lower(): v for k, v in rec["req_headers"]},
            base64.b64decode(rec.get("req_body_b64") or ""), rec["status"],
            {k.lower(): v for k, v in rec["resp_headers"]},
            base64.b64decode(rec.get("resp_body_b64") or "")))
    return out


@dataclass(frozen=True)
class Setup:
    """How ``serve`` was configured for one capture (README of the captures)."""

    name: str
    fmt: str
    client_auth: str
    """DMAcc AAuthType the server demanded: BASIC, DIGEST (auth-md5) or HMAC."""
    server_auth: str
    """How the server authenticated itself: DIGEST (a Cred) or HMAC (x-syncml-hmac)."""
    script: str
    """``demo`` (the ``serve`` demo script) or ``custom`` (the capture's own script)."""


SETUPS = {s.name: s for s in (
    Setup("stock-dsmime", "xml", "BASIC", "DIGEST", "demo"),
    Setup("fixed-xml", "xml", "BASIC", "DIGEST", "demo"),
    Setup("fixed-wbxml", "wbxml", "BASIC", "DIGEST", "demo"),
    Setup("fixed-xml-md5", "xml", "DIGEST", "DIGEST", "demo"),
    Setup("fixed-xml-hmac", "xml", "HMAC", "DIGEST", "demo"),
    Setup("fixed-xml-srvhmac", "xml", "BASIC", "HMAC", "demo"),
    Setup("fixed-xml-custom", "xml", "BASIC", "DIGEST", "custom"),
    Setup("fixed-wbxml-custom", "wbxml", "BASIC", "DIGEST", "custom"),
)}


def stock_request() -> Exchange:
    """The as-shipped client's package 1. The 415 capture has no body (the server never read
    it); the client is the same program, so its bytes are fixed-xml's first request (2886
    bytes, the ``Content-Length`` of the 415 capture too) with the server's port of that run in
    the Target LocURI (same length) and the DS media type it sent."""
    stock = load("stock-dsmime")[0]
    fixed = load("fixed-xml")[0]
    old_host, new_host = fixed.req_headers["host"], stock.req_headers["host"]
    body = fixed.request.replace(old_host.encode(), new_host.encode())
    assert len(body) == int(stock.req_headers["content-length"])
    return dataclasses.replace(stock, request=body)


def captured_nonces(exchanges: list[Exchange]) -> list[bytes]:
    """The ``NextNonce`` of every ``Chal`` in the server's answers (SyncHdr Status), in order:
    the nonces the server issued to the client."""
    out = []
    for exchange in exchanges:
        msg = exchange.response_msg()
        if msg is None:
            continue
        for command in msg.commands:
            chal = getattr(command, "chal", None)
            if chal is not None and chal.meta is not None and chal.meta.next_nonce:
                out.append(M.auth.b64_nonce(chal.meta.next_nonce))
    return out


def captured_token(exchanges: list[Exchange]) -> str | None:
    """The RespURI token the captured server handed out (``/dm/s/<token>``)."""
    for exchange in exchanges:
        if "/s/" in exchange.path:
            return exchange.path.rsplit("/s/", 1)[1]
    return None


class FixedTokens:
    """A ``NonceManager`` token source: the captured nonces in order, then deterministic
    filler (never random: a replay must be repeatable)."""

    def __init__(self, nonces: list[bytes]) -> None:
        self.nonces = list(nonces)
        self.issued: list[bytes] = []
        self._filler = 0

    def __call__(self, size: int) -> bytes:
        if self.nonces:
            value = self.nonces.pop(0)
        else:
            self._filler += 1
            value = hashlib.sha256(b"replay-filler-%d" % self._filler).digest()[:max(size, 16)]
        self.issued.append(value)
        return value


# -- the server as configured for the captures ---------------------------------------------------


def make_config(setup: Setup, tokens: FixedTokens, *, password: str = PASSWORD,
                extra_accounts: dict[str, str] | None = None, bind_device: bool = True,
                strict: bool | None = None) -> Any:
    """``ServerConfig`` as ``serve`` had it for ``setup``; ``bind_device`` binds the device's
    LocURI ``DMCtest`` to the account, ``strict`` asks for strict mode."""
    accounts = {ACCOUNT: M.auth.secret_hash(ACCOUNT, password)}
    for user, pw in (extra_accounts or {}).items():
        accounts[user] = M.auth.secret_hash(user, pw)
    nonces = M.nonces.NonceManager(token=tokens)
    for user in accounts:
        nonces.reset_resync(user, "SRVCRED", INITIAL_SERVER_NONCE)
    kwargs: dict[str, Any] = {}
    if bind_device:
        kwargs["accounts_for_device"] = lambda dev: [ACCOUNT] if dev == DEVICE else []
    if strict is not None:
        kwargs["strict"] = strict
    return M.http.ServerConfig(server_id=SERVER_ID, secret_lookup=accounts.get,
                               server_secret=SERVER_PASSWORD, aauth_type=setup.client_auth,
                               server_auth_type=setup.server_auth, nonces=nonces, **kwargs)


def custom_script() -> Any:
    """The server script of the ``*-custom`` captures, rebuilt from what the captured server
    sent (it reproduces those answers byte for byte): on the client's own ``./Vendor/memory``
    tree an Add, an interior Add, a Get and a large object (the demo's 20 KiB, 27,308 b64
    characters), then, once all have an outcome, a Get of the large object, an Atomic, an
    Exec with a Correlator and a Delete."""
    model, scenario = M.model, M.scenario
    step, item = scenario.Step, scenario._item
    small = "./Vendor/memory/small"
    big = "./Vendor/memory/big"
    first = [
        step("Add small", model.Add("0", [item(small, "hello", "chr", "text/plain")]), 200),
        step("Add interior dir", model.Add("0", [item("./Vendor/memory/dir", None, "node")]),
             200),
        step("Get small", model.Get("0", [item(small)]), 200),
        step("Add large object", model.Add("0", [item(
            big, scenario.LARGE_OBJECT, "b64", "application/octet-stream")]), 200),
    ]
    second = [
        step("Get large object", model.Get("0", [item(big)]), 200),
        step("Atomic Replace small", model.Atomic("0", [
            model.Replace("0", [item(small, "atomic", "chr")])]), 200),
        step("Exec with Correlator", model.Exec("0", [item("./test/execute")],
                                                correlator="corr-42"), 200),
        step("Delete small", model.Delete("0", [item(small)]), 200),
    ]
    return scenario.DemoServerApp(steps=first, later=second)


def make_script(setup: Setup) -> Any:
    return custom_script() if setup.script == "custom" else M.scenario.DemoServerApp()


class Recorder:
    """The per-session application: records every event batch (by request index), then hands
    it to the script."""

    def __init__(self, script: Any) -> None:
        self.script = script
        self.current = 0
        self.events: dict[int, list[Any]] = {}
        self.session: Any = None

    def __call__(self, session: Any, events: list[Any]) -> None:
        self.session = session
        self.events.setdefault(self.current, []).extend(events)
        self.script(session, events)


@contextlib.contextmanager
def pinned_token(token: str | None) -> Iterator[bool]:
    """Make the binding hand out ``token`` as the next RespURI token; yields whether it could
    (the module defining ``DMServerApp`` draws it from ``secrets.token_urlsafe``)."""
    module = sys.modules[M.http.DMServerApp.__module__]
    real = getattr(module, "secrets", None)
    if token is None or real is not secrets:
        yield False
        return
    shim = SimpleNamespace(**{name: getattr(secrets, name) for name in dir(secrets)
                              if not name.startswith("__")})
    shim.token_urlsafe = lambda nbytes=None: token
    module.secrets = shim  # type: ignore[attr-defined]
    try:
        yield True
    finally:
        module.secrets = real  # type: ignore[attr-defined]


# -- driving the server -------------------------------------------------------------------------


@dataclass
class Answer:
    """What the server under test answered one replayed request."""

    status: int
    headers: dict[str, str]
    body: bytes

    def msg(self) -> Any:
        return M.codec.decode(self.body) if self.body else None


async def _asgi_post(app: Any, path: str, headers: dict[str, str], body: bytes) -> Answer:
    host, _, port = headers.get("host", "127.0.0.1:80").partition(":")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "",
             "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
             "client": ("127.0.0.1", 40000), "server": (host, int(port or 80))}
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    started: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return Answer(started["status"],
                  {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in started.get("headers", [])}, b"".join(chunks))


def request_headers(exchange: Exchange, content_type: str | None = None) -> dict[str, str]:
    """The headers the client sent that matter to the server (Host keeps the server's own
    URI as it was in the capture)."""
    headers = {"host": exchange.req_headers.get("host", "127.0.0.1"),
               "accept": exchange.req_headers.get("accept", "*/*"),
               "content-type": content_type or exchange.content_type}
    if exchange.hmac is not None:
        headers["x-syncml-hmac"] = exchange.hmac
    return headers


@dataclass
class Replay:
    """A replay's record: the captured exchanges, the answers of the server under test, the
    server events per request index, the script and the ASGI application."""

    setup: Setup
    captured: list[Exchange]
    answers: list[Answer] = field(default_factory=list)
    recorder: Recorder | None = None
    app: Any = None
    tokens: FixedTokens | None = None
    pinned: bool = False
    token: str | None = None

    @property
    def script(self) -> Any:
        assert self.recorder is not None
        return self.recorder.script

    @property
    def session(self) -> Any:
        return self.recorder.session if self.recorder is not None else None

    def events(self, index: int | None = None) -> list[Any]:
        """Server events of request ``index`` (0-based), or of all requests."""
        assert self.recorder is not None
        if index is not None:
            return list(self.recorder.events.get(index, []))
        return [e for i in sorted(self.recorder.events) for e in self.recorder.events[i]]

    def of_type(self, kind: type, index: int | None = None) -> list[Any]:
        return [e for e in self.events(index) if isinstance(e, kind)]

    def completed(self, element: str, uri: str | None = None,
                  index: int | None = None) -> list[Any]:
        """``CommandCompleted`` events for commands named ``element`` (and first item URI)."""
        out = []
        for event in self.of_type(M.events.CommandCompleted, index):
            command = event.command
            if command.ELEMENT != element:
                continue
            if uri is not None:
                items = getattr(command, "items", None) or []
                if not items or _uri(items[0]) != uri:
                    continue
            out.append(event)
        return out

    def normalized(self, answer: Answer) -> bytes:
        """``answer.body`` with the RespURI token replaced by the captured one (no-op when the
        token was pinned)."""
        body = answer.body
        captured = captured_token(self.captured)
        if self.token and captured and self.token != captured:
            body = body.replace(self.token.encode(), captured.encode())
        return body

    def comparable(self, answer: Answer) -> Any:
        """The model of ``answer`` as the server at the capture's commit would have written it:
        without the MaxObjSize the server advertises since (issue 13: it bounds large objects
        in); compare with ``captured_model``."""
        msg = M.codec.decode(self.normalized(answer))
        return _without_max_obj_size(msg)


def captured_model(exchange: Exchange) -> Any:
    """The captured answer's model, comparable with ``Replay.comparable``."""
    return _without_max_obj_size(exchange.response_msg())


def _without_max_obj_size(msg: Any) -> Any:
    meta = msg.header.meta
    if meta is not None and meta.max_obj_size is not None:
        msg.header.meta = dataclasses.replace(meta, max_obj_size=None)
    return msg


def server_hmac(body: bytes, nonce: bytes = INITIAL_SERVER_NONCE) -> str:
    """The ``x-syncml-hmac`` the captures' server sends with ``body`` (SRVCRED nonce
    ``nonce``, the pre-shared one unless the device gave another)."""
    return str(M.auth.hmac_header(SERVER_ID, SERVER_PASSWORD, nonce, body))


def _uri(item: Any) -> str:
    if item.target is not None:
        return str(item.target.loc_uri)
    if item.source is not None:
        return str(item.source.loc_uri)
    return ""


def replay(name: str, *, transport: str = "asgi", upto: int | None = None,
           config: Any = None, tokens: FixedTokens | None = None,
           requests: list[Exchange] | None = None, path: str = "/dm",
           script: Any = None) -> Replay:
    """Post the client's captured requests of ``name`` in order (the first ``upto`` of them)
    to a fresh ``DMServerApp`` (``transport`` ``asgi``: in-process calls; ``http``: uvicorn on
    loopback, httpx) and record what it answers. Later requests go to the path of the RespURI
    the server gave last (the captured one: the token is pinned)."""
    setup = SETUPS[name]
    captured = load(name)
    requests = list(requests if requests is not None else captured)[:upto]
    if tokens is None:
        tokens = FixedTokens(captured_nonces(captured))
    if config is None:
        config = make_config(setup, tokens)
    recorder = Recorder(script if script is not None else make_script(setup))
    # The server's own URL as the captured one was (the RespURI is built on it).
    host = captured[0].req_headers.get("host", "127.0.0.1")
    app = M.http.DMServerApp(config, path=path, app_factory=lambda: recorder,
                             base_url=f"http://{host}")
    result = Replay(setup, captured, recorder=recorder, app=app, tokens=tokens)
    token = captured_token(captured)
    with pinned_token(token) as pinned:
        result.pinned = pinned
        if transport == "asgi":
            _drive(result, requests, lambda p, h, b: asyncio.run(_asgi_post(app, p, h, b)), path)
        elif transport == "http":
            import httpx

            with M.http.ServerThread(app, timeout=10) as server, \
                    httpx.Client(timeout=10) as http:
                def post(p: str, h: dict[str, str], b: bytes) -> Answer:
                    r = http.post(f"{server.url}{p}", content=b, headers=h)
                    return Answer(r.status_code, {k.lower(): v for k, v in r.headers.items()},
                                  r.content)
                _drive(result, requests, post, path)
        else:
            raise ValueError(transport)
    return result


def _drive(result: Replay, requests: list[Exchange],
           post: Callable[[str, dict[str, str], bytes], Answer], path: str) -> None:
    assert result.recorder is not None
    next_path = path
    for index, exchange in enumerate(requests):
        result.recorder.current = index
        answer = post(next_path, request_headers(exchange), exchange.request)
        result.answers.append(answer)
        msg = None
        if answer.status == 200 and answer.body:
            with contextlib.suppress(Exception):
                msg = answer.msg()
        if msg is not None and msg.header.resp_uri:
            uri = str(msg.header.resp_uri)
            next_path = "/" + uri.split("://", 1)[-1].split("/", 1)[1]
            if "/s/" in uri:
                result.token = uri.rsplit("/s/", 1)[1]


# -- reading outcomes -------------------------------------------------------------------------


def outcome(event: Any) -> str:
    """The named outcome of a ``CommandCompleted`` (``ok``, ``no_status``...)."""
    return str(event.outcome)


def succeeded(event: Any) -> bool:
    """Whether a ``CommandCompleted`` counts as a success."""
    return bool(event.ok)


def session_quirks(session: Any) -> list[str]:
    """The named quirks a server session absorbed."""
    return list(session.quirks)


def header_status(msg: Any) -> Any:
    """The Status for the SyncHdr in ``msg`` (CmdRef 0), or None."""
    return next((c for c in msg.commands
                 if c.ELEMENT == "Status" and c.cmd_ref == "0"), None)


def commands_named(msg: Any, element: str) -> list[Any]:
    return [c for c in msg.commands if c.ELEMENT == element]


def alerts(msg: Any, code: int) -> list[Any]:
    return [c for c in msg.commands if c.ELEMENT == "Alert" and c.data == code]


# -- the libdmclient-like device (omadm_codec.libdmclient_profile) -----------------------------


def profile_module() -> ModuleType:
    return importlib.import_module("omadm_codec.tools.profiles")


DEVICE_OWN_NONCE = b"device-own-srv-nonce"
"""The SRVCRED nonce a device holds when none was pre-shared with the server."""


@dataclass
class DeviceRun:
    """A full session of the libdmclient-like device against the server over HTTP."""

    client: Any
    client_events: list[Any]
    recorder: Recorder
    app: Any
    error: Exception | None = None

    def server_events(self) -> list[Any]:
        return [e for i in sorted(self.recorder.events) for e in self.recorder.events[i]]


def device_session(*, fmt: str = "xml", client_auth: str = "BASIC",
                   server_auth: str = "DIGEST", preshared: bool = True,
                   behaviour: Any = None, path: str | None = None,
                   script: Any = None) -> DeviceRun:
    """Serve ``script`` (default: the custom script) on ``path`` (default: libdmclient's
    ``/funambol/dm``) with ``client_auth`` demanded and ``server_auth`` (``NONE``, ``BASIC``,
    ``DIGEST``) offered; run the libdmclient-like device (``behaviour``, default ``FIXED``)
    against it with ``run_http_session``."""
    profile = profile_module()
    path = path or profile.LIBDMCLIENT_PATH
    setup = Setup("device", fmt, client_auth, "DIGEST" if server_auth == "NONE" else server_auth,
                  "custom")
    tokens = FixedTokens([])
    config = make_config(setup, tokens)
    if server_auth == "NONE":
        config.server_secret = None
    if not preshared:
        config.nonces = M.nonces.NonceManager(token=tokens)  # nothing pre-shared
    recorder = Recorder(script if script is not None else custom_script())
    app = M.http.DMServerApp(config, path=path, app_factory=lambda: recorder)
    with M.http.ServerThread(app, timeout=10) as server:
        url = f"{server.url}{path}"
        tree = profile.build_libdmclient_tree(
            server_addr=url, client_auth=client_auth,
            server_auth="DIGEST" if server_auth == "NONE" else server_auth,
            server_nonce=INITIAL_SERVER_NONCE if preshared else DEVICE_OWN_NONCE)
        client = profile.libdmclient_session(
            tree, fmt=fmt, profile=behaviour if behaviour is not None else profile.FIXED)
        profile.attach(client)
        run = DeviceRun(client, [], recorder, app)
        try:
            run.client_events = M.http.run_http_session(client, url, timeout=10,
                                                        max_messages=60)
        except Exception as exc:  # noqa: BLE001 - the test reports it
            run.error = exc
    return run
