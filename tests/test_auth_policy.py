"""NonceManager and AuthPolicy: replay, wrong type, stale nonce, planting, escalation, stateful."""

from __future__ import annotations

import base64

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from omadm_codec.errors import AuthenticationError
from omadm_codec.security import auth
from omadm_codec.security.nonces import NonceManager
from omadm_codec.security.policy import AuthPolicy

SECRETS = {"dev1": auth.secret_hash("dev1", "pw1"), "dev2": auth.secret_hash("dev2", "pw2")}
PASSWORDS = {"dev1": "pw1", "dev2": "pw2"}


def md5_cred(user: str, password: str, nonce: bytes) -> auth.Credential:
    return auth.Credential(auth.META_MD5, auth.md5_credential(user, password, nonce))


# -- NonceManager --------------------------------------------------------------------------


def test_issue_is_random_and_long() -> None:
    nm = NonceManager()
    seen = {nm.issue("a") for _ in range(2000)}
    assert len(seen) == 2000
    assert all(len(n) >= 16 for n in seen)
    with pytest.raises(ValueError):
        NonceManager(size=8)


def test_consume_once_then_replay() -> None:
    nm = NonceManager()
    nonce = nm.issue("a")
    assert nm.usable("a") == nonce
    nm.consume("a", "CLCRED", nonce)
    before = nm.snapshot()
    with pytest.raises(AuthenticationError) as err:
        nm.consume("a", "CLCRED", nonce)
    assert err.value.reason == "replay"
    with pytest.raises(AuthenticationError) as err:
        nm.usable("a")
    assert err.value.reason == "replay"
    assert nm.snapshot() == before


def test_stale_and_missing() -> None:
    nm = NonceManager()
    old = nm.issue("a")
    nm.issue("a")
    before = nm.snapshot()
    with pytest.raises(AuthenticationError) as err:
        nm.consume("a", "CLCRED", old)
    assert err.value.reason == "stale"
    with pytest.raises(AuthenticationError) as err:
        nm.usable("b")
    assert err.value.reason == "no_nonce"
    assert nm.snapshot() == before


def test_unauthenticated_peer_cannot_plant() -> None:
    nm = NonceManager()
    mine = nm.issue("srv", "SRVCRED")
    assert not nm.offer("srv", "SRVCRED", b"planted-by-attacker", authenticated=False)
    assert nm.current("srv", "SRVCRED") == mine
    assert nm.offer("srv", "SRVCRED", b"from-authenticated-peer", authenticated=True)
    assert nm.current("srv", "SRVCRED") == b"from-authenticated-peer"
    with pytest.raises(ValueError):
        nm.issue("srv", "BOGUS")


# -- AuthPolicy ----------------------------------------------------------------------------


def policy(kind: str = "DIGEST", **kw: int) -> tuple[AuthPolicy, NonceManager]:
    nm = NonceManager()
    return AuthPolicy(kind, SECRETS.get, nm, **kw), nm


def test_md5_accept_then_replay() -> None:
    pol, nm = policy()
    chal = pol.challenge("dev1")
    assert chal.meta_type == "syncml:auth-md5" and len(chal.next_nonce or b"") == 16
    cred = md5_cred("dev1", "pw1", chal.next_nonce or b"")
    ok = pol.check("dev1", cred)
    assert ok.status == 212 and ok.authenticated and ok.username == "dev1"
    assert ok.challenge is not None and ok.challenge.next_nonce != chal.next_nonce
    # A captured pkg1 replayed in a new session: the nonce it used is gone.
    pol2 = AuthPolicy("DIGEST", SECRETS.get, nm)
    replay = pol2.check("dev1", cred)
    assert replay.status == 401 and not replay.authenticated and replay.challenge is not None
    assert pol2.accepted_type is None


def test_stale_nonce_gets_one_fresh_challenge() -> None:
    pol, nm = policy()
    stale = pol.challenge("dev1").next_nonce or b""
    fresh = pol.challenge("dev1").next_nonce or b""
    bad = pol.check("dev1", md5_cred("dev1", "pw1", stale))
    assert bad.status == 401 and bad.challenge is not None
    retry = bad.challenge.next_nonce or b""
    assert retry not in (stale, fresh)
    assert pol.check("dev1", md5_cred("dev1", "pw1", retry)).status == 212


def test_wrong_type_even_if_valid_ends_session() -> None:
    pol, nm = policy("DIGEST")
    pol.challenge("dev1")
    before = nm.snapshot()
    basic = auth.Credential(auth.META_BASIC, auth.basic_credential("dev1", "pw1"))
    out = pol.check("dev1", basic)
    assert out.end_session and out.reason == "wrong_type" and not out.authenticated
    assert nm.snapshot() == before
    assert pol.check("dev1", md5_cred("dev1", "pw1", nm.current("dev1") or b"")).end_session


def test_hmac_required_cred_plus_header_ends() -> None:
    pol, nm = policy("HMAC")
    nonce = pol.challenge("dev1").next_nonce or b""
    body = b"<SyncML/>"
    header = auth.hmac_header("dev1", "pw1", nonce, body)
    out = pol.check("dev1", md5_cred("dev1", "pw1", nonce), hmac_header=header, body=body)
    assert out.end_session and out.reason == "wrong_type"


def test_hmac_per_message_rotation() -> None:
    pol, nm = policy("HMAC")
    nonce = pol.challenge("dev1").next_nonce or b""
    for i in range(5):
        body = f"<SyncML><MsgID>{i}</MsgID></SyncML>".encode()
        header = auth.hmac_header("dev1", "pw1", nonce, body)
        out = pol.check("dev1", hmac_header=header, body=body)
        assert out.status == 200 and out.authenticated
        assert out.challenge is not None and out.challenge.next_nonce != nonce
        nonce = out.challenge.next_nonce or b""
    # The same header again (replay within the session) ends it.
    replayed = pol.check("dev1", hmac_header=header, body=body)
    assert replayed.end_session and replayed.reason == "bad_mac"


def test_hmac_tampered_and_missing() -> None:
    pol, nm = policy("HMAC", max_failures=5)
    nonce = pol.challenge("dev1").next_nonce or b""
    body = b"<SyncML><Final/></SyncML>"
    header = auth.hmac_header("dev1", "pw1", nonce, body)
    before = nm.snapshot()
    out = pol.check("dev1", hmac_header=header, body=body[:-1] + b"?")
    assert out.status == 401 and out.reason == "bad_mac"
    # The failure consumed nothing; the 401 carries a fresh nonce.
    assert not any(slot.consumed for slot in nm.snapshot().values())
    assert before[("dev1", "CLCRED")].value == nonce and out.challenge is not None
    assert nm.current("dev1") == out.challenge.next_nonce != nonce
    out = pol.check("dev1", hmac_header='username="dev1"', body=body)
    assert out.status == 401 and out.reason == "bad_header"
    out = pol.check("dev2", hmac_header=header, body=body)
    assert out.reason == "bad_username"
    fresh = pol.challenge("dev1").next_nonce or b""
    good = pol.check("dev1", hmac_header=auth.hmac_header("dev1", "pw1", fresh, body), body=body)
    assert good.status == 200
    # Once HMAC is in use, a message without it ends the session.
    assert pol.check("dev1").end_session


def test_escalation_and_cap() -> None:
    pol, nm = policy("DIGEST", max_failures=3)
    first = pol.check("dev1")
    assert first.status == 407 and first.challenge is not None
    second = pol.check("dev1", md5_cred("dev1", "wrong", first.challenge.next_nonce or b""))
    assert second.status == 401 and second.challenge is not None and not second.end_session
    third = pol.check("dev1", md5_cred("dev1", "wrong", second.challenge.next_nonce or b""))
    assert third.end_session and pol.ended
    assert pol.check("dev1", md5_cred("dev1", "pw1", nm.current("dev1") or b"")).end_session


def test_unknown_user_gets_unstored_nonce() -> None:
    pol, nm = policy()
    chal = pol.challenge("ghost")
    assert chal.next_nonce is not None and len(chal.next_nonce) == 16
    assert nm.snapshot() == {}
    out = pol.check("ghost", md5_cred("ghost", "pw", chal.next_nonce))
    assert out.status == 401 and out.reason == "bad_password"
    assert nm.snapshot() == {}


def test_basic_policy_and_bad_format() -> None:
    pol, _ = policy("BASIC")
    assert pol.check("dev1", auth.Credential(auth.META_BASIC, "x", format="chr")).status == 401
    good = auth.Credential(auth.META_BASIC, auth.basic_credential("dev1", "pw1"))
    assert pol.check("dev2", good).reason == "bad_username"
    assert pol.check("dev1", good).status == 212
    assert pol.check("dev1").status == 200  # later messages of an authenticated session


# -- stateful ------------------------------------------------------------------------------


class AuthMachine(RuleBasedStateMachine):
    """Random sessions against one shared NonceManager (the server's persistent store)."""

    def __init__(self) -> None:
        super().__init__()
        self.nonces = NonceManager()
        self.pol = AuthPolicy("DIGEST", SECRETS.get, self.nonces, max_failures=3)
        self.known_nonce: dict[str, bytes] = {}
        self.used: set[tuple[str, bytes]] = set()
        self.sent: list[tuple[str, auth.Credential]] = []
        self.first_type: str | None = None
        self.accepted_creds: set[str] = set()

    def _remember(self, user: str, out_chal: auth.Challenge | None) -> None:
        if out_chal is not None and out_chal.next_nonce is not None:
            self.known_nonce[user] = out_chal.next_nonce

    @rule(user=st.sampled_from(["dev1", "dev2"]))
    def challenge(self, user: str) -> None:
        if not self.pol.ended:
            self._remember(user, self.pol.challenge(user))

    def _send(self, user: str, cred: auth.Credential) -> None:
        stored = self.nonces.get(user)
        out = self.pol.check(user, cred)
        if out.authenticated and out.status == 212:
            # Only the stored, unconsumed nonce can authenticate, and only once.
            assert stored is not None and not stored.consumed
            assert (user, stored.value) not in self.used
            assert cred.data not in self.accepted_creds
            self.used.add((user, stored.value))
            self.accepted_creds.add(cred.data)
        self._remember(user, out.challenge)

    @rule(user=st.sampled_from(["dev1", "dev2"]), right=st.booleans())
    def send_md5(self, user: str, right: bool) -> None:
        nonce = self.known_nonce.get(user, b"none")
        cred = md5_cred(user, PASSWORDS[user] if right else "wrong", nonce)
        self.sent.append((user, cred))
        self._send(user, cred)

    @precondition(lambda self: bool(self.sent))
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        user, cred = data.draw(st.sampled_from(self.sent))
        self._send(user, cred)

    @rule(user=st.sampled_from(["dev1", "dev2"]))
    def switch_type(self, user: str) -> None:
        out = self.pol.check(user, auth.Credential(
            auth.META_BASIC, auth.basic_credential(user, PASSWORDS[user])))
        assert out.end_session and not out.authenticated

    @rule()
    def abort_and_new_session(self) -> None:
        self.pol = AuthPolicy("DIGEST", SECRETS.get, self.nonces, max_failures=3)
        self.first_type = None

    @invariant()
    def type_never_changes(self) -> None:
        if self.pol.accepted_type is not None:
            if self.first_type is None:
                self.first_type = self.pol.accepted_type
            assert self.pol.accepted_type == self.first_type == auth.META_MD5

    @invariant()
    def failures_bounded(self) -> None:
        assert self.pol.failures <= self.pol.max_failures


AuthMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
TestAuthMachine = AuthMachine.TestCase


def test_b64_nonce_roundtrip_through_challenge() -> None:
    pol, _ = policy()
    chal = pol.challenge("dev1")
    assert auth.b64_nonce(chal.next_nonce_b64 or "") == chal.next_nonce
    assert base64.b64decode(chal.next_nonce_b64 or "") == chal.next_nonce


def test_unknown_user_costs_a_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = auth._digest

    class Counting:
        def __getattr__(self, name: str) -> object:
            fn = getattr(real, name)

            def wrapper(*args: object) -> object:
                calls.append(name)
                return fn(*args)
            return wrapper

    monkeypatch.setattr(auth, "_digest", Counting())
    pol, _ = policy()
    known_nonce = pol.challenge("dev1").next_nonce or b""
    calls.clear()
    pol.check("dev1", auth.Credential(auth.META_MD5, "Zz6EivR3yeaaENcRN6lpAQ=="))
    known = [c for c in calls if c.endswith("verify")]
    calls.clear()
    pol.check("ghost", auth.Credential(auth.META_MD5, "Zz6EivR3yeaaENcRN6lpAQ=="))
    unknown = [c for c in calls if c.endswith("verify")]
    assert known == unknown == ["md5_verify"] and known_nonce
    hpol, _ = policy("HMAC")
    calls.clear()
    hpol.check(None, hmac_header=auth.hmac_header("ghost", "x", b"n", b"b"), body=b"b")
    assert "mac_verify" in calls
