"""The DM server account record a bootstrap carries: ``W7Account`` (a w7 APPLICATION
characteristic, or a DMAcc subtree) and its ``AppAuth`` entries. Both bootstrap document
spellings (``bootstrap_docs``) read and write it; ``bootstrap`` applies it to a tree.
"""

from __future__ import annotations

from dataclasses import dataclass

# w7 AAUTHLEVEL -> DMAcc AAuthLevel (dm-protocol.md 5.3).
W7_LEVELS = {"APPSRV": "CLCRED", "CLIENT": "SRVCRED", "OBEX": "OBEX", "HTTP": "HTTP"}
DMACC_LEVELS = {v: k for k, v in W7_LEVELS.items()}


@dataclass(frozen=True, slots=True)
class AppAuth:
    """One ``APPAUTH`` characteristic / ``AppAuth/<x>`` entry."""

    level: str
    """DMAcc AAuthLevel: ``CLCRED``, ``SRVCRED``, ``OBEX`` or ``HTTP``."""
    type: str = ""
    """AAuthType (``BASIC``, ``DIGEST``, ``HMAC``, ...)."""
    name: str = ""
    """AAuthName."""
    secret: str = ""
    """AAuthSecret."""
    data: bytes = b""
    """AAuthData (the nonce octets; base64 in w7 text)."""


@dataclass(frozen=True, slots=True)
class W7Account:
    """A DM server account as a w7 APPLICATION characteristic describes it."""

    server_id: str
    """PROVIDER-ID -> ServerID."""
    addr: str
    """APPADDR/ADDR (or a top-level ADDR) -> AppAddr/<x>/Addr."""
    name: str = ""
    """NAME -> Name."""
    addr_type: str = "URI"
    """APPADDR/ADDRTYPE: URI, IPv4 or IPv6."""
    port: int | None = None
    """APPADDR/PORT/PORTNBR (u16)."""
    to_napid: str = ""
    """TO-NAPID (or TO-PROXY) -> PrefConRef."""
    auth_pref: str = ""
    """AAuthPref (not a w7 parm; filled from the first CLCRED type when absent)."""
    auth: tuple[AppAuth, ...] = ()
    """APPAUTH entries."""
    init: bool = False
    """INIT present: start a session once the account is accepted."""
    extra: tuple[tuple[str, str], ...] = ()
    """Other APPLICATION parms kept verbatim (Windows extensions, AACCEPT, ...)."""

    def credentials(self, level: str) -> AppAuth | None:
        """The first AppAuth entry of ``level``."""
        return next((entry for entry in self.auth if entry.level == level), None)
