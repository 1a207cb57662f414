"""The verifier's authentication rules for one DM session: accept, challenge, or end.

One idea: the policy is a small state machine fed one message at a time (sans-IO). It knows
the one ``AAuthType`` configured for the account and answers each message with an
``AuthDecision`` (the status for the SyncHdr, an optional ``Chal``, and whether the session
must end). Rules (dm-protocol.md 3.1, 3.4, 3.5; hostile-inputs.md items 33-38):

- only the configured type is accepted; any other type, even with valid credentials, and any
  Cred sent next to an HMAC header, ends the session (no downgrade) once a challenge was sent
  (SEC 5.1.4.1: whoever receives a challenge must answer with the requested type); before
  any challenge, another type is a failure answered with a challenge of the required type;
- once a type is accepted it never changes for the session;
- a nonce authenticates at most one message (``NonceManager`` consumes it); a replay fails;
- missing credentials answer 407, invalid ones 401, each with a fresh challenge, and the
  session ends after ``max_failures`` failures;
- a challenge sent to a peer that has not authenticated is kept in this session only, never
  in the ``NonceManager``: a stranger naming an account cannot replace the nonce its device
  holds (dm-protocol.md 3.4, SEC 5.1.3.4). Credentials are checked against the account's
  stored nonce and this session's challenge; only a success writes the store;
- auth-md5 success answers 212 with the next session's nonce; every HMAC message answers 200
  with the next message's nonce. With ``per_message`` every message must authenticate: md5
  and basic success answer 200 (PRO 2.4.1: "send credentials again"), md5 with the next
  message's nonce;
- once the session is authenticated, a message that fails (no credentials where they are
  due, another type, a bad MAC, a replay) is *foreign*: refused with 401, and the session
  goes on untouched, so whoever holds the session's URL cannot end it;
- unknown users cost the same digests as known ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import AuthenticationError
from . import auth
from .auth import Buffer, Challenge, Credential, Secret
from .nonces import NonceManager

STATUS_OK = 200
STATUS_AUTHENTICATED = 212
STATUS_INVALID = 401
STATUS_MISSING = 407


@dataclass(frozen=True, slots=True)
class AuthDecision:
    """The verdict on one incoming message."""

    status: int
    """Status for the SyncHdr: 212 (authenticated), 200, 401 (invalid) or 407 (missing)."""
    challenge: Challenge | None = None
    """The ``Chal`` to send with that status (fresh nonce), if any."""
    username: str | None = None
    """The authenticated user name, when the message authenticated."""
    end_session: bool = False
    """True: send the status and end the session; run no command of this message."""
    reason: str | None = None
    """Machine code of the failure (as ``AuthenticationError.reason``), None on success."""
    foreign: bool = False
    """True: the session is authenticated and this message is not from its peer: refuse it
    and change nothing (the policy did not change either)."""

    @property
    def authenticated(self) -> bool:
        """True if the message's commands may run."""
        return self.status in (STATUS_OK, STATUS_AUTHENTICATED) and not self.end_session


class AuthPolicy:
    """Verifier side of one session for one configured ``AAuthType`` (BASIC, DIGEST, HMAC)."""

    def __init__(self, aauth_type: str, secret_lookup: Callable[[str], Secret | None],
                 nonces: NonceManager, *, max_failures: int = 3, level: str = "CLCRED",
                 per_message: bool = False) -> None:
        if aauth_type not in ("BASIC", "DIGEST", "HMAC"):
            raise ValueError(f"unsupported AAuthType {aauth_type!r}")
        if max_failures < 1:
            raise ValueError("max_failures must be >= 1")
        self.aauth_type = aauth_type
        self.meta_type = auth.AAUTH_TYPE_TO_META[aauth_type]
        self._lookup = secret_lookup
        self._nonces = nonces
        self._level = level
        self.max_failures = max_failures
        self.failures = 0
        self.accepted_type: str | None = None
        """Meta type accepted in this session; never changes once set."""
        self.username: str | None = None
        self.ended = False
        self.per_message = per_message
        """Every message must authenticate (HMAC always does)."""
        self.pending_nonce: bytes | None = None
        """The nonce of the last challenge sent to this (not yet authenticated) peer: kept
        here, never in the shared store."""
        self.challenged = False
        """True once this session sent a challenge (from then on a wrong type ends it)."""

    # -- challenges -----------------------------------------------------------------------

    def challenge(self, account: str | None) -> Challenge:
        """A ``Chal`` with a fresh nonce. Before the peer authenticated, the nonce is this
        session's own (``pending_nonce``, stored nowhere else), whether or not the account
        exists; afterwards it is issued into the store for ``account``."""
        self.challenged = True
        if self.aauth_type == "BASIC":
            return Challenge(self.meta_type)
        if self.accepted_type is not None and account is not None:
            return Challenge(self.meta_type, self._nonces.issue(account, self._level))
        self.pending_nonce = self._nonces.challenge_nonce()
        return Challenge(self.meta_type, self.pending_nonce)

    def refuse(self, account: str | None, reason: str) -> AuthDecision:
        """Refuse this message's credentials without checking them (e.g. the account is
        locked out, or ``missing_loc_name`` in strict mode): answered exactly like invalid
        credentials, challenged until the limit."""
        if self.ended:
            return AuthDecision(STATUS_INVALID, end_session=True, reason="session_ended")
        if self.accepted_type is not None:
            return AuthDecision(STATUS_INVALID, reason=reason, foreign=True)
        return self._fail(account, reason, STATUS_INVALID)

    def forbid(self, reason: str, status: int = 403) -> AuthDecision:
        """End the session although the credentials were right (e.g. the account may not
        speak for that device). The caller must not act on the message."""
        self.ended = True
        return AuthDecision(status, end_session=True, reason=reason)

    # -- one message ----------------------------------------------------------------------

    def check(self, account: str | None, cred: Credential | None = None,
              hmac_header: str | bytes | None = None, body: Buffer | None = None) -> AuthDecision:
        """Judge one message. ``account`` is its ``SyncHdr/Source/LocName`` (None if unknown),
        ``cred`` its ``SyncHdr/Cred``, ``hmac_header`` the ``x-syncml-hmac`` value and ``body``
        the exact received bytes (needed with HMAC)."""
        if self.ended:
            return AuthDecision(STATUS_INVALID, end_session=True, reason="session_ended")
        accepted = self.accepted_type
        if hmac_header is not None and cred is not None:
            return self._end("wrong_type")
        presented = auth.META_MAC if hmac_header is not None else (
            cred.meta_type if cred is not None else None)
        if presented is None:
            if accepted is not None and accepted != auth.META_MAC and not self.per_message:
                return AuthDecision(STATUS_OK, username=self.username)
            if accepted is not None:
                return self._end("missing_hmac" if accepted == auth.META_MAC else "missing")
            return self._fail(account, "missing", STATUS_MISSING)
        if presented != self.meta_type or (accepted is not None and presented != accepted):
            if not self.challenged and accepted is None:
                # Nobody asked for a type yet: say which (libdmclient switches to it).
                return self._fail(account, "wrong_type", STATUS_INVALID)
            return self._end("wrong_type")
        try:
            if presented == auth.META_MAC:
                return self._check_hmac(account, hmac_header, body)
            assert cred is not None
            if cred.format != "b64":
                raise AuthenticationError("bad_credential", "Meta/Format must be b64")
            if presented == auth.META_BASIC:
                return self._check_basic(account, cred)
            return self._check_md5(account, cred)
        except AuthenticationError as exc:
            return self._fail(account, exc.reason, STATUS_INVALID)

    def _check_basic(self, account: str | None, cred: Credential) -> AuthDecision:
        user = auth.verify_basic(cred.data, self._lookup)
        if account is not None and user != account:
            raise AuthenticationError("bad_username", "Cred user differs from LocName")
        if self.username is not None and user != self.username:
            raise AuthenticationError("bad_username", "Cred user changed mid-session")
        return self._accept(user, STATUS_OK if self.per_message else STATUS_AUTHENTICATED,
                            None)

    def _nonce_that_verifies(self, account: str, verify: Callable[[bytes], bool]) -> bytes:
        """The nonce the credentials were computed with: the account's stored one (if not
        used yet) or, before the peer authenticated, this session's challenge. Always two
        digests, whichever exist, so timing tells nothing about the store."""
        slot = self._nonces.get(account, self._level)
        stored = slot.value if slot is not None and not slot.consumed else None
        pending = self.pending_nonce if self.accepted_type is None else None
        found = None
        for nonce in (stored, pending):
            if verify(nonce if nonce is not None else b"") and nonce is not None \
                    and found is None:
                found = nonce
        if found is None:
            if stored is None and pending is None:
                raise AuthenticationError("replay" if slot is not None else "no_nonce")
            raise AuthenticationError("bad_password")
        if found is stored:
            self._nonces.consume(account, self._level, found)
        self.pending_nonce = None
        return found

    def _check_md5(self, account: str | None, cred: Credential) -> AuthDecision:
        if account is None:
            for _ in range(2):  # same cost as a known user
                auth.verify_md5(cred.data, None, b"")
            raise AuthenticationError("missing_loc_name",
                                      "auth-md5 needs Source/LocName (or one account bound "
                                      "to the device)")
        if self.username is not None and account != self.username:
            raise AuthenticationError("bad_username", "LocName changed mid-session")
        secret = self._lookup(account)
        if secret is None:
            for _ in range(2):  # same cost as a known user
                auth.verify_md5(cred.data, None, b"")
            raise AuthenticationError("bad_password")
        self._nonce_that_verifies(account, lambda n: auth.verify_md5(cred.data, secret, n))
        # 212 + NextNonce: the next session's credentials use a nonce nobody has seen (with
        # ``per_message``: 200, and the next message's).
        status = STATUS_OK if self.per_message else STATUS_AUTHENTICATED
        self._accept(account, status, None)
        return AuthDecision(status, self.challenge(account), account)

    def _check_hmac(self, account: str | None, header_value: str | bytes | None,
                    body: Buffer | None) -> AuthDecision:
        assert header_value is not None
        if body is None:
            raise ValueError("HMAC verification needs the exact message body")
        header = auth.parse_hmac_header(header_value)
        if account is not None and header.username != account:
            raise AuthenticationError("bad_username", "HMAC user differs from LocName")
        if self.username is not None and header.username != self.username:
            raise AuthenticationError("bad_username", "HMAC user changed mid-session")
        secret = self._lookup(header.username)
        if secret is None:
            for _ in range(2):
                auth.verify_hmac(header, None, b"", body)
            raise AuthenticationError("bad_mac")
        try:
            self._nonce_that_verifies(header.username,
                                      lambda n: auth.verify_hmac(header, secret, n, body))
        except AuthenticationError as exc:
            if exc.reason != "bad_password":
                raise
            raise AuthenticationError("bad_mac") from exc
        # A new nonce per message, sent in every response; header status is 200, not 212.
        self._accept(header.username, STATUS_OK, None)
        return AuthDecision(STATUS_OK, self.challenge(header.username), header.username)

    # -- outcomes -------------------------------------------------------------------------

    def _accept(self, user: str, status: int, chal: Challenge | None) -> AuthDecision:
        self.accepted_type = self.meta_type
        self.username = user
        return AuthDecision(status, chal, user)

    def _fail(self, account: str | None, reason: str, status: int) -> AuthDecision:
        if self.accepted_type is not None:
            # After acceptance a failing message is not the peer's: refused, nothing changes.
            return AuthDecision(STATUS_INVALID, reason=reason, foreign=True)
        self.failures += 1
        if self.failures >= self.max_failures:
            return self._end(reason)
        return AuthDecision(status, self.challenge(account), reason=reason)

    def _end(self, reason: str) -> AuthDecision:
        if self.accepted_type is not None:
            return AuthDecision(STATUS_INVALID, reason=reason, foreign=True)
        self.ended = True
        return AuthDecision(STATUS_INVALID, end_session=True, reason=reason)
