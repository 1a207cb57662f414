"""The verifier's authentication rules for one DM session: accept, challenge, or end.

One idea: the policy is a small state machine fed one message at a time (sans-IO). It knows
the one ``AAuthType`` configured for the account and answers each message with an
``AuthDecision`` (the status for the SyncHdr, an optional ``Chal``, and whether the session
must end). Rules (dm-protocol.md 3.1, 3.4, 3.5; hostile-inputs.md items 33-38):

- only the configured type is accepted; any other type, even with valid credentials, and any
  Cred sent next to an HMAC header, ends the session (no downgrade);
- once a type is accepted it never changes for the session;
- a nonce authenticates at most one message (``NonceManager`` consumes it); a replay fails;
- missing credentials answer 407, invalid ones 401, each with a fresh challenge, and the
  session ends after ``max_failures`` failures;
- auth-md5 success answers 212 with the next session's nonce; every HMAC message answers 200
  with the next message's nonce, and once HMAC is in use a message without it ends the session;
- unknown users cost the same digest as known ones, and get an unstored random nonce.
"""

from __future__ import annotations

import secrets
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

    @property
    def authenticated(self) -> bool:
        """True if the message's commands may run."""
        return self.status in (STATUS_OK, STATUS_AUTHENTICATED) and not self.end_session


class AuthPolicy:
    """Verifier side of one session for one configured ``AAuthType`` (BASIC, DIGEST, HMAC)."""

    def __init__(self, aauth_type: str, secret_lookup: Callable[[str], Secret | None],
                 nonces: NonceManager, *, max_failures: int = 3, level: str = "CLCRED") -> None:
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

    # -- challenges -----------------------------------------------------------------------

    def challenge(self, account: str | None) -> Challenge:
        """A ``Chal`` for ``account``: a fresh stored nonce if the account is known."""
        if self.aauth_type == "BASIC":
            return Challenge(self.meta_type)
        if account is not None and self._lookup(account) is not None:
            return Challenge(self.meta_type, self._nonces.issue(account, self._level))
        # Same shape as a real challenge, stored nowhere: unknown names cannot fill the store.
        return Challenge(self.meta_type, secrets.token_bytes(16))

    # -- one message ----------------------------------------------------------------------

    def check(self, account: str | None, cred: Credential | None = None,
              hmac_header: str | bytes | None = None, body: Buffer | None = None) -> AuthDecision:
        """Judge one message. ``account`` is its ``SyncHdr/Source/LocName`` (None if unknown),
        ``cred`` its ``SyncHdr/Cred``, ``hmac_header`` the ``x-syncml-hmac`` value and ``body``
        the exact received bytes (needed with HMAC)."""
        if self.ended:
            return AuthDecision(STATUS_INVALID, end_session=True, reason="session_ended")
        if hmac_header is not None and cred is not None:
            return self._end("wrong_type")
        presented = auth.META_MAC if hmac_header is not None else (
            cred.meta_type if cred is not None else None)
        if presented is None:
            if self.accepted_type is not None and self.accepted_type != auth.META_MAC:
                return AuthDecision(STATUS_OK, username=self.username)
            if self.accepted_type == auth.META_MAC:
                return self._end("missing_hmac")
            return self._fail(account, "missing", STATUS_MISSING)
        if presented != self.meta_type or (
                self.accepted_type is not None and presented != self.accepted_type):
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
        return self._accept(user, STATUS_AUTHENTICATED, None)

    def _check_md5(self, account: str | None, cred: Credential) -> AuthDecision:
        if account is None:
            raise AuthenticationError("bad_username", "auth-md5 needs Source/LocName")
        secret = self._lookup(account)
        if secret is None:
            auth.verify_md5(cred.data, None, b"")  # same cost as a known user
            raise AuthenticationError("bad_password")
        nonce = self._nonces.usable(account, self._level)
        if not auth.verify_md5(cred.data, secret, nonce):
            raise AuthenticationError("bad_password")
        self._nonces.consume(account, self._level, nonce)
        # 212 + NextNonce: the next session's credentials use a nonce nobody has seen.
        return self._accept(account, STATUS_AUTHENTICATED, self.challenge(account))

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
            auth.verify_hmac(header, None, b"", body)
            raise AuthenticationError("bad_mac")
        nonce = self._nonces.usable(header.username, self._level)
        if not auth.verify_hmac(header, secret, nonce, body):
            raise AuthenticationError("bad_mac")
        self._nonces.consume(header.username, self._level, nonce)
        # A new nonce per message, sent in every response; header status is 200, not 212.
        return self._accept(header.username, STATUS_OK, self.challenge(header.username))

    # -- outcomes -------------------------------------------------------------------------

    def _accept(self, user: str, status: int, chal: Challenge | None) -> AuthDecision:
        self.accepted_type = self.meta_type
        self.username = user
        return AuthDecision(status, chal, user)

    def _fail(self, account: str | None, reason: str, status: int) -> AuthDecision:
        self.failures += 1
        if self.failures >= self.max_failures:
            return self._end(reason)
        if self.accepted_type is not None:
            # A failure after acceptance (HMAC replay, bad MAC) is not renegotiated.
            return self._end(reason)
        return AuthDecision(status, self.challenge(account), reason=reason)

    def _end(self, reason: str) -> AuthDecision:
        self.ended = True
        return AuthDecision(STATUS_INVALID, end_session=True, reason=reason)
