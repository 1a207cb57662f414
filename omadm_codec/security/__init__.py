"""The security layer: every DM security mechanism, independent of sessions and transport.

Owns: credentials and the ``x-syncml-hmac`` header (``auth``), the verifier's rules for one
session (``policy``), nonce bookkeeping (``nonces``), package 0 and its bearers
(``notification``), bootstrap (``w7`` the account record, ``bootstrap_docs`` its two document
spellings, ``bootstrap`` the MAC check and applying it), and the per-message digests (twin
``_digest``). May import: ``tree`` (bootstrap writes DMAcc), ``messages``, ``wbxml`` and the
base modules.
"""
