"""TLS and mutual TLS on loopback, with a throwaway CA made by ``cryptography``: a device with
a valid client certificate completes a session; one without a certificate, or with one from
another CA, is refused during the handshake; a device that does not trust the CA refuses the
server."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")
x509 = pytest.importorskip("cryptography.x509")

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from omadm_codec.http import (  # noqa: E402
    DeviceRegistry,
    DMServerApp,
    ServerConfig,
    ServerThread,
    TlsConfig,
    client_tls_context,
    run_http_session,
)
from omadm_codec.messages.model import Get, Item, Target  # noqa: E402
from omadm_codec.security.nonces import NonceManager  # noqa: E402
from omadm_codec.session import ClientSession, State  # noqa: E402
from omadm_codec.tools.simulator import (  # noqa: E402
    DEVICE_SECRET,
    DEVICE_USER,
    SERVER_ID,
    SERVER_SECRET,
    build_tree,
)

NONCE = b"tls-test-srv-nonce"


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str,
          issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool = False,
          server: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False)
        usage = x509.oid.ExtendedKeyUsageOID
        builder = builder.add_extension(x509.ExtendedKeyUsage(
            [usage.SERVER_AUTH if server else usage.CLIENT_AUTH]), critical=False)
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ca, server (signed by ca), client (signed by ca), rogue client (its own CA)."""
    base = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("omadm test CA", ca_key, "omadm test CA", ca_key, ca=True)
    _write(base / "ca", ca, ca_key)
    for name, server in (("server", True), ("client", False)):
        key = ec.generate_private_key(ec.SECP256R1())
        _write(base / name, _cert(f"omadm {name}", key, "omadm test CA", ca_key,
                                  server=server), key)
    rogue_ca_key = ec.generate_private_key(ec.SECP256R1())
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    _write(base / "rogue", _cert("omadm client", rogue_key, "rogue CA", rogue_ca_key),
           rogue_key)
    return base


def _server(pki: Path, mutual: bool) -> tuple[DMServerApp, DeviceRegistry, TlsConfig]:
    registry = DeviceRegistry()
    registry.add_account(DEVICE_USER, DEVICE_SECRET)
    nonces = NonceManager()
    nonces.reset_resync(DEVICE_USER, "SRVCRED", NONCE)
    config = ServerConfig(server_id=SERVER_ID, secret_lookup=registry.secrets.get,
                          server_secret=SERVER_SECRET, server_auth_type="HMAC", nonces=nonces)
    tls = TlsConfig(str(pki / "server.crt"), str(pki / "server.key"),
                    str(pki / "ca.crt") if mutual else None)
    return DMServerApp(config, registry=registry), registry, tls


def _session(url: str, registry: DeviceRegistry, verify: object) -> ClientSession:
    tree = build_tree(server_addr=url, server_auth="HMAC", server_nonce=NONCE)
    registry.enqueue(str(tree.device_get("./DevInfo/DevId")),
                     [Get("0", [Item(target=Target("./DevInfo/Mod"))])])
    client = ClientSession(tree)
    run_http_session(client, url, verify=verify, timeout=10)  # type: ignore[arg-type]
    return client


def test_tls_session_and_untrusted_server(pki: Path) -> None:
    app, registry, tls = _server(pki, mutual=False)
    with ServerThread(app, tls=tls, timeout=10) as server:
        url = f"{server.url}/dm"
        assert url.startswith("https://127.0.0.1:")
        client = _session(url, registry, client_tls_context(str(pki / "ca.crt")))
        assert client.state is State.CLOSED
        assert registry.outcomes[client._dev_id()][0].status == 200
        with pytest.raises(httpx.ConnectError):
            _session(url, registry, client_tls_context(None))  # system CAs: not ours


def test_mutual_tls_needs_a_client_certificate_from_the_ca(pki: Path) -> None:
    app, registry, tls = _server(pki, mutual=True)
    with ServerThread(app, tls=tls, timeout=10) as server:
        url = f"{server.url}/dm"
        good = client_tls_context(str(pki / "ca.crt"), str(pki / "client.crt"),
                                  str(pki / "client.key"))
        assert _session(url, registry, good).state is State.CLOSED
        for context in (client_tls_context(str(pki / "ca.crt")),
                        client_tls_context(str(pki / "ca.crt"), str(pki / "rogue.crt"),
                                           str(pki / "rogue.key"))):
            with pytest.raises((httpx.ConnectError, httpx.ReadError,
                                httpx.RemoteProtocolError)):
                _session(url, registry, context)
        assert app.sessions_completed == 1


def _closed_within(sock: Any, seconds: float) -> bool:
    """True if the peer closes ``sock`` within ``seconds`` (EOF or reset)."""
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    finally:
        sock.close()


def test_a_stalled_tls_handshake_is_closed_after_the_handshake_timeout(pki: Path) -> None:
    """An attacker opening connections and never finishing the handshake holds each
    descriptor for ``handshake_timeout`` at most (asyncio's own default is 60 s, and the
    connection cap cannot count a connection still in its handshake), and an honest device
    is served meanwhile."""
    import socket

    from omadm_codec.http import HttpLimits

    app, registry, tls = _server(pki, mutual=False)
    with ServerThread(app, tls=tls, timeout=10,
                      limits=HttpLimits(handshake_timeout=0.5)) as server:
        stalled = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
        stalled[0].sendall(b"\x16\x03\x01\x00\xff\x01")  # a ClientHello begun, never ended
        url = f"{server.url}/dm"
        assert _session(url, registry, client_tls_context(str(pki / "ca.crt"))).state \
            is State.CLOSED
        assert all(_closed_within(sock, 5.0) for sock in stalled)


@pytest.mark.parametrize("engine", ["asyncio", "uvloop"])
def test_the_bounded_loop_gives_every_tls_server_the_handshake_timeout(
        pki: Path, engine: str) -> None:
    import asyncio
    import socket
    import ssl

    from omadm_codec.http.connections import handshake_bounded_loop_factory

    base = None
    if engine == "uvloop":
        base = pytest.importorskip("uvloop").new_event_loop
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(pki / "server.crt"), str(pki / "server.key"))

    async def main() -> bool:
        server = await asyncio.get_running_loop().create_server(
            asyncio.Protocol, "127.0.0.1", 0, ssl=context)
        port = server.sockets[0].getsockname()[1]
        sock = socket.create_connection(("127.0.0.1", port))
        closed = await asyncio.to_thread(_closed_within, sock, 5.0)
        server.close()
        return closed

    with asyncio.Runner(loop_factory=handshake_bounded_loop_factory(base, 0.3)) as runner:
        assert runner.run(main())
