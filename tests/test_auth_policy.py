"""NonceManager and AuthPolicy: replay, wrong type, stale nonce, planting, escalation, stateful."""

from __future__ import annotations

import base64
from typing import Any

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


def policy(kind: str = "DIGEST", **kw: Any) -> tuple[AuthPolicy, NonceManager]:
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


def test_unchallenged_wrong_type_gets_a_challenge_of_the_required_type() -> None:
    """Before any challenge, a client cannot know the type: another type is a failure answered
    with a Chal naming the required one (it may switch, as libdmclient does); after that Chal,
    the wrong type again ends the session (SEC 5.1.4.1)."""
    pol, nm = policy("DIGEST")
    basic = auth.Credential(auth.META_BASIC, auth.basic_credential("dev1", "pw1"))
    first = pol.check("dev1", basic)
    assert first.status == 401 and not first.end_session and first.reason == "wrong_type"
    assert first.challenge is not None and first.challenge.meta_type == auth.META_MD5
    # The challenge to a peer that has not authenticated stays in the session.
    assert pol.pending_nonce == first.challenge.next_nonce and nm.current("dev1") is None
    assert pol.check("dev1", basic).end_session
    pol, nm = policy("DIGEST")
    first = pol.check("dev1", basic)
    good = pol.check("dev1", md5_cred("dev1", "pw1", first.challenge.next_nonce or b""))
    assert good.status == 212 and good.authenticated


def test_refuse_is_a_challenged_failure_until_the_limit() -> None:
    pol, _ = policy("HMAC", max_failures=2)
    first = pol.refuse("dev1", "missing_loc_name")
    assert first.status == 401 and first.reason == "missing_loc_name"
    assert first.challenge is not None and first.challenge.meta_type == auth.META_MAC
    second = pol.refuse("dev1", "missing_loc_name")
    assert second.end_session and pol.ended
    assert pol.refuse("dev1", "missing_loc_name").reason == "session_ended"


def test_md5_without_an_account_is_missing_loc_name() -> None:
    pol, nm = policy("DIGEST")
    nonce = pol.challenge("dev1").next_nonce or b""
    out = pol.check(None, md5_cred("dev1", "pw1", nonce))
    assert out.status == 401 and out.reason == "missing_loc_name"
    assert out.challenge is not None and out.challenge.meta_type == auth.META_MD5


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
    # The same header again (a replay within the session) is refused as foreign: the
    # session is not ended by whoever replays, and its peer's next message still counts.
    replayed = pol.check("dev1", hmac_header=header, body=body)
    assert replayed.foreign and replayed.reason == "bad_mac" and not replayed.end_session
    assert not pol.ended and nm.current("dev1") == nonce
    body = b"<SyncML><MsgID>6</MsgID></SyncML>"
    out = pol.check("dev1", hmac_header=auth.hmac_header("dev1", "pw1", nonce, body), body=body)
    assert out.status == 200 and out.authenticated


def test_hmac_tampered_and_missing() -> None:
    pol, nm = policy("HMAC", max_failures=5)
    nonce = pol.challenge("dev1").next_nonce or b""
    body = b"<SyncML><Final/></SyncML>"
    header = auth.hmac_header("dev1", "pw1", nonce, body)
    out = pol.check("dev1", hmac_header=header, body=body[:-1] + b"?")
    assert out.status == 401 and out.reason == "bad_mac"
    # The failure consumed and stored nothing; the 401 carries a fresh nonce of this session.
    assert nm.snapshot() == {}
    assert out.challenge is not None and out.challenge.next_nonce != nonce
    assert pol.pending_nonce == out.challenge.next_nonce
    out = pol.check("dev1", hmac_header='username="dev1"', body=body)
    assert out.status == 401 and out.reason == "bad_header"
    out = pol.check("dev2", hmac_header=header, body=body)
    assert out.reason == "bad_username"
    fresh = pol.challenge("dev1").next_nonce or b""
    good = pol.check("dev1", hmac_header=auth.hmac_header("dev1", "pw1", fresh, body), body=body)
    assert good.status == 200
    # Once HMAC is in use, a message without it is not the peer's: refused, session goes on.
    missing = pol.check("dev1")
    assert missing.foreign and missing.reason == "missing_hmac" and not pol.ended


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


def test_challenges_to_strangers_never_replace_the_stored_nonce() -> None:
    """dm-protocol.md 3.4 (SEC 5.1.3.4): a challenge sent to a peer that has not
    authenticated stays in its session; the nonce the device holds keeps working."""
    pol, nm = policy()
    held = nm.issue("dev1")  # what the last 212 gave the device
    for _ in range(20):  # strangers naming dev1, each in a session of its own
        stranger = AuthPolicy("DIGEST", SECRETS.get, nm)
        assert stranger.check("dev1").status == 407
        stranger.check("dev1", md5_cred("dev1", "guess", held))
    assert nm.current("dev1") == held and not nm.get("dev1").consumed  # type: ignore[union-attr]
    device = AuthPolicy("DIGEST", SECRETS.get, nm)
    ok = device.check("dev1", md5_cred("dev1", "pw1", held))
    assert ok.status == 212 and ok.challenge is not None
    # Only that success wrote the store: the NextNonce it sent.
    assert nm.current("dev1") == ok.challenge.next_nonce != held


def test_session_challenge_and_stored_nonce_both_work() -> None:
    """Credentials may use the stored nonce or this session's challenge, whichever the
    device has; a replay of a used one fails with exactly one more challenge."""
    pol, nm = policy()
    held = nm.issue("dev1")
    chal = pol.check("dev1")  # 407: the device sent no credentials at first
    assert chal.challenge is not None and chal.challenge.next_nonce != held
    assert nm.current("dev1") == held
    ok = pol.check("dev1", md5_cred("dev1", "pw1", chal.challenge.next_nonce or b""))
    assert ok.status == 212
    again = AuthPolicy("DIGEST", SECRETS.get, nm)
    replay = again.check("dev1", md5_cred("dev1", "pw1", chal.challenge.next_nonce or b""))
    assert replay.status == 401 and replay.challenge is not None and not replay.end_session


def test_per_message_policy_demands_credentials_on_every_message() -> None:
    pol, nm = policy(per_message=True)
    first = pol.check("dev1")
    nonce = first.challenge.next_nonce if first.challenge else b""
    for _ in range(3):
        out = pol.check("dev1", md5_cred("dev1", "pw1", nonce or b""))
        # 200, not 212: "send credentials again", with the next message's nonce.
        assert out.status == 200 and out.authenticated and out.challenge is not None
        assert nm.current("dev1") == out.challenge.next_nonce
        nonce = out.challenge.next_nonce
    missing = pol.check("dev1")
    assert missing.foreign and not missing.authenticated and not pol.ended
    replayed = pol.check("dev1", md5_cred("dev1", "pw1", b"old"))
    assert replayed.foreign and replayed.reason == "bad_password"
    basic, _ = policy("BASIC", per_message=True)
    good = auth.Credential(auth.META_BASIC, auth.basic_credential("dev1", "pw1"))
    assert basic.check("dev1", good).status == 200
    assert basic.check("dev1").foreign
    other = auth.Credential(auth.META_BASIC, auth.basic_credential("dev2", "pw2"))
    assert basic.check(None, other).foreign
    assert basic.check("dev1", good).status == 200


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
        pending = self.pol.pending_nonce
        out = self.pol.check(user, cred)
        if out.authenticated and out.status == 212:
            # Only the stored, unconsumed nonce or this session's own challenge can
            # authenticate, and each only once.
            usable = {pending} | ({stored.value} if stored and not stored.consumed else set())
            used = next(n for n in usable
                        if n is not None and md5_cred(user, PASSWORDS[user], n) == cred)
            assert (user, used) not in self.used
            assert cred.data not in self.accepted_creds
            self.used.add((user, used))
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
        # SEC 5.1.4.1: once challenged (or accepted) a wrong type ends the session; before
        # any challenge it is a failure answered with a challenge of the required type.
        asked = self.pol.challenged or self.pol.accepted_type is not None or self.pol.ended
        last = self.pol.failures + 1 >= self.pol.max_failures
        out = self.pol.check(user, auth.Credential(
            auth.META_BASIC, auth.basic_credential(user, PASSWORDS[user])))
        assert not out.authenticated
        if self.pol.accepted_type is not None:
            assert out.foreign  # after acceptance the message is foreign (refused)
        elif asked or last:
            assert out.end_session
        else:
            assert not out.end_session and out.reason == "wrong_type"
            assert out.challenge is not None and out.challenge.meta_type == auth.META_MD5
        self._remember(user, out.challenge)

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
    # The stored nonce and the session's challenge: two digests either way.
    assert known == unknown == ["md5_verify"] * 2 and known_nonce
    hpol, _ = policy("HMAC")
    calls.clear()
    hpol.check(None, hmac_header=auth.hmac_header("ghost", "x", b"n", b"b"), body=b"b")
    assert "mac_verify" in calls
