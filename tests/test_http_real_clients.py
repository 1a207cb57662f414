"""The HTTP binding for clients that retry, post the DS media type or leave commands unanswered
(issue 12; docs/interop.md): uvicorn on loopback, httpx as the device's transport, the
libdmclient-like device of ``tools.profiles`` as the client that deviates."""

from __future__ import annotations

import pytest

pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from omadm_codec.http import (  # noqa: E402
    DMServerApp,
    MemoryState,
    ServerConfig,
    ServerThread,
    run_http_session,
)
from omadm_codec.messages import decode, encode  # noqa: E402
from omadm_codec.messages.model import Alert, Get, Item, Status, Target  # noqa: E402
from omadm_codec.security import auth  # noqa: E402
from omadm_codec.security.nonces import NonceManager  # noqa: E402
from omadm_codec.session import DS_CONTENT_TYPES, ClientSession, ServerSession  # noqa: E402
from omadm_codec.session import events as ev  # noqa: E402
from omadm_codec.tools import profiles  # noqa: E402

ACCOUNT = "funambol"


def make_config(**kw: object) -> ServerConfig:
    stored = {ACCOUNT: auth.secret_hash(ACCOUNT, "funambol")}
    return ServerConfig(server_id="funambol", secret_lookup=stored.get, server_secret="srvpwd",
                        server_auth_type="BASIC", aauth_type="DIGEST", nonces=NonceManager(),
                        accounts_for_device=lambda dev: [ACCOUNT], **kw)  # type: ignore[arg-type]


def one_get(session: ServerSession, events: list[ev.Event]) -> None:
    if any(isinstance(e, ev.SessionStarted) for e in events):
        session.send_commands([Get("0", [Item(target=Target("./DevInfo/Mod"))])])


def device(url: str, fmt: str = "xml", profile: profiles.Libdmclient = profiles.FIXED
           ) -> ClientSession:
    tree = profiles.build_libdmclient_tree(server_addr=url, server_auth="BASIC",
                                           client_auth="DIGEST")
    return profiles.libdmclient_session(tree, fmt=fmt, profile=profile)


@pytest.mark.parametrize("store_kind", ["memory", "sealed"])
def test_a_post_after_the_end_is_answered_and_counted_once(store_kind: str) -> None:
    """After the session ended, the device's retransmission gets the cached answer and a new
    message gets a DM answer (400 + 1223): never an empty 409, never a second count."""
    cfg = make_config()
    # The state store keeps sealed snapshots either way: its default, and a given store and
    # seal key (as every worker of a shared store is given).
    store = None if store_kind == "memory" else MemoryState(nonces=cfg.nonces)
    key = None if store_kind == "memory" else b"k" * 32
    app = DMServerApp(cfg, path=profiles.LIBDMCLIENT_PATH, store=store, seal_key=key,
                      app_factory=lambda: one_get)
    sent = []
    with ServerThread(app, timeout=10) as server, httpx.Client(timeout=10) as http:
        url = f"{server.url}{profiles.LIBDMCLIENT_PATH}"
        client = device(url)
        events = run_http_session(client, url, http=http,
                                  trace=lambda side, out: sent.append((side, out)))
        assert [e.reason for e in events if isinstance(e, ev.SessionEnded)] == ["completed"]
        assert (app.sessions_completed, app.sessions_failed) == (1, 0)
        last_c = next(out for side, out in reversed(sent) if side == "C")
        last_s = next(out for side, out in reversed(sent) if side == "S")
        headers = {"content-type": last_c.content_type}
        again = http.post(client.resp_uri or url, content=last_c.body, headers=headers)
        assert again.status_code == 200 and again.content == last_s.body
        msg = decode(last_c.body)
        msg.header.msg_id = str(int(msg.header.msg_id) + 1)
        late = http.post(client.resp_uri or url, content=encode(msg), headers=headers)
        assert late.status_code == 200
        answer = decode(late.content)
        assert isinstance(answer.commands[0], Status) and answer.commands[0].data == 400
        assert any(isinstance(c, Alert) and c.data == 1223 for c in answer.commands)
        msg.header.session_id = "other"
        assert http.post(client.resp_uri or url, content=encode(msg),
                         headers=headers).status_code == 200
        assert http.post(client.resp_uri or url, content=b"<garbage",
                         headers=headers).status_code == 400
        again = http.post(client.resp_uri or url, content=last_c.body, headers=headers)
        assert again.status_code == 200 and again.content == last_s.body
        assert (app.sessions_completed, app.sessions_failed) == (1, 0)


def test_an_unknown_session_is_a_404_that_says_so() -> None:
    app = DMServerApp(make_config())
    with ServerThread(app, timeout=10) as server, httpx.Client(timeout=10) as http:
        response = http.post(f"{server.url}/dm/s/no-such-token", content=b"<SyncML/>",
                             headers={"content-type": "application/vnd.syncml.dm+xml"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/plain"
    assert b"unknown or expired" in response.content


@pytest.mark.parametrize("fmt", ["xml", "wbxml"])
def test_the_ds_media_type_gets_a_session_answered_in_the_dm_type(fmt: str) -> None:
    app = DMServerApp(make_config(), path=profiles.LIBDMCLIENT_PATH, app_factory=lambda: one_get)
    answered: list[str] = []
    with ServerThread(app, timeout=10) as server:
        url = f"{server.url}{profiles.LIBDMCLIENT_PATH}"
        client = device(url, fmt, profiles.STOCK)
        events = run_http_session(client, url, trace=lambda side, out: answered.append(
            out.content_type) if side == "S" else None)
    assert [e.reason for e in events if isinstance(e, ev.SessionEnded)] == ["completed"]
    assert set(answered) == {f"application/vnd.syncml.dm+{fmt}"}
    assert app.sessions_completed == 1


def test_the_ds_media_type_is_415_in_strict_mode() -> None:
    app = DMServerApp(make_config(strict=True))
    with ServerThread(app, timeout=10) as server, httpx.Client(timeout=10) as http:
        for media in DS_CONTENT_TYPES.values():
            response = http.post(f"{server.url}/dm", content=b"<SyncML/>",
                                 headers={"content-type": media})
            assert response.status_code == 415
