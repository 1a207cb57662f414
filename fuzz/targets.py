"""Fuzz targets: each one feeds the same bytes to the compiled and the pure twin and compares.

The one idea: a target turns one input into an ``Outcome`` per twin, either ``("ok", value)`` or
``("error", class name, reason, offset)``. ``check(name, data)`` raises ``Failure`` when an
outcome is not allowed (an exception that is not a typed ``OmaDmError``) or when the twins
disagree. Atheris harnesses (``fuzz_*.py``) and the replay test (``tests/test_regressions.py``)
both call ``check``, so a committed crash input is judged exactly as the fuzzer judged it.

Where a module has no compiled twin (message model, ACL, package 0, HMAC header) the twin that
varies is the one underneath it (the WBXML decoder, the URI module, the digest module): the
harness swaps that module's binding for the duration of one call. The first input byte selects
options (limits, strictness, ...) so one harness also walks the limit paths.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from omadm_codec import _backend, errors
from omadm_codec.limits import Limits

TWINS = ("c", "py")
Outcome = tuple[Any, ...]


class Failure(AssertionError):
    """An input the codec must not produce: a crash-class exception or a twin mismatch."""


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes, str], Any]
    """``run(data, twin)`` -> a comparable value, or raises."""
    doc: str


def twin_module(name: str, kind: str) -> ModuleType:
    return _backend.twin(name, kind)


@contextlib.contextmanager
def patched(module: ModuleType, attr: str, value: Any) -> Iterator[None]:
    """Bind ``module.attr`` to ``value`` for one call (how single-bodied modules get a twin)."""
    saved = getattr(module, attr)
    setattr(module, attr, value)
    try:
        yield
    finally:
        setattr(module, attr, saved)


def _error_key(exc: BaseException) -> Outcome:
    """What two twins must agree on for an error: class, reason, offset (or segment/status)."""
    reason = getattr(exc, "reason", None)
    where: Any = getattr(exc, "offset", None)
    if isinstance(exc, errors.TreeAddressError):
        where = (exc.segment, exc.status)
    elif isinstance(exc, errors.TreeError):
        where = exc.status
    return ("error", type(exc).__name__, reason, where)


def outcome(target: Target, data: bytes, kind: str) -> Outcome:
    """Run one twin; typed errors become outcomes, anything else becomes a ``Failure``."""
    try:
        return ("ok", target.run(data, kind))
    except errors.OmaDmError as exc:
        if not isinstance(getattr(exc, "reason", None), str) or not exc.reason:
            raise Failure(f"{target.name}[{kind}]: {type(exc).__name__} without reason") from exc
        return _error_key(exc)
    except RecursionError as exc:
        raise Failure(f"{target.name}[{kind}]: RecursionError") from exc
    except Exception as exc:  # every other class is a bug: untyped error
        raise Failure(f"{target.name}[{kind}]: untyped {type(exc).__name__}: {exc}") from exc


def check(name: str, data: bytes) -> Outcome:
    """Run target ``name`` on both twins; return the shared outcome or raise ``Failure``."""
    target = TARGETS[name]
    compiled = outcome(target, data, "c")
    pure = outcome(target, data, "py")
    if compiled != pure:
        dump = os.environ.get("OMADM_FUZZ_DUMP_DIR")
        if dump:  # the full outcomes, for the diff the short message cannot show
            with open(os.path.join(dump, f"{name}-mismatch.txt"), "w") as out:
                out.write(f"{compiled!r}\n{pure!r}\n")
        raise Failure(f"{name}: twins differ\n  compiled: {_short(compiled)}\n"
                      f"  pure:     {_short(pure)}")
    return pure


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 400 else text[:400] + "..."


# -- option byte ---------------------------------------------------------------------------
# Small limits make the limit branches reachable from short inputs.
_SMALL = Limits(max_input_size=4096, max_depth=8, max_string_table=64, max_opaque=256,
                max_elements=64)


def _split(data: bytes) -> tuple[int, bytes]:
    return (data[0], data[1:]) if data else (0, b"")


def _limits(flags: int) -> Limits | None:
    return _SMALL if flags & 1 else None


# -- WBXML decoder -------------------------------------------------------------------------
def _wbxml_decode(data: bytes, kind: str) -> Any:
    flags, body = _split(data)
    indent = 2 if flags & 2 else None
    return twin_module("wbxml._decode", kind).wbxml_to_xml(body, indent=indent,
                                                          limits=_limits(flags))


# -- XML -> WBXML (the XML scanner of the encoder) -------------------------------------------
def _xml_encode(data: bytes, kind: str) -> Any:
    flags, body = _split(data)
    version = ("1.3", "1.2", "1.1", "1.3")[(flags >> 3) & 3]  # 1.0: ValueError by design
    return twin_module("wbxml._encode", kind).xml_to_wbxml(
        body, wbxml_version=version, string_table=bool(flags & 2),
        keep_whitespace=bool(flags & 4), limits=_limits(flags))


# -- whole messages -----------------------------------------------------------------------
_CONTENT_TYPES = (None, "application/vnd.syncml.dm+xml", "application/vnd.syncml.dm+wbxml",
                  "application/vnd.syncml+xml")


def _message(data: bytes, kind: str) -> Any:
    from omadm_codec import messages, wbxml

    flags, body = _split(data)
    limits = _limits(flags) or messages.DEFAULT_LIMITS
    with contextlib.ExitStack() as stack:
        stack.enter_context(patched(wbxml, "wbxml_to_xml",
                                    twin_module("wbxml._decode", kind).wbxml_to_xml))
        stack.enter_context(patched(messages, "_codec", twin_module("messages._fast", kind)))
        msg = messages.decode(body, _CONTENT_TYPES[(flags >> 2) & 3], strict=bool(flags & 2),
                              limits=limits)
    # The model is dataclasses: repr is a complete, comparable rendering.
    return repr(msg)


def _commands(data: bytes, kind: str) -> Any:
    """decode_commands over this twin's WBXML decoder; what decodes must come back equal
    from encode_commands through this twin's WBXML encoder (and from XML)."""
    from omadm_codec import messages, wbxml

    flags, body = _split(data)
    limits = _limits(flags) or messages.DEFAULT_LIMITS
    with patched(wbxml, "wbxml_to_xml", twin_module("wbxml._decode", kind).wbxml_to_xml), \
            patched(wbxml, "xml_to_wbxml", twin_module("wbxml._encode", kind).xml_to_wbxml):
        listed = messages.decode_commands(body, _CONTENT_TYPES[(flags >> 2) & 3],
                                          strict=bool(flags & 2), limits=limits)
        for fmt in ("xml", "wbxml"):
            try:
                encoded = messages.encode_commands(listed, fmt)  # type: ignore[arg-type]
            except errors.EncodeError as exc:
                # A lenient decode may hold what DM cannot send (no CmdID), and WBXML has no
                # form for some (an unknown MetInf child): never strict XML.
                if flags & 2 and fmt == "xml":
                    raise Failure(f"commands[{kind}]: strict, no XML: {exc}") from exc
                continue
            again = messages.decode_commands(encoded)
            if again != listed and (fmt == "xml" or _bin_as_bytes(again) != _bin_as_bytes(
                    listed)):
                raise Failure(f"commands[{kind}]: not equal after encode_commands({fmt})")
    return repr(listed)


def _bin_as_bytes(listed: Any) -> Any:
    """``listed`` with text Data under Format ``bin`` as its UTF-8 bytes: what WBXML gives
    back for it (OPAQUE under ``bin`` is bytes; XML text under ``bin`` is kept as text)."""
    import copy

    listed = copy.deepcopy(listed)
    for command in listed.iter_commands():
        command_meta = getattr(command, "meta", None)
        for item in getattr(command, "items", []):
            meta = item.meta if item.meta is not None and item.meta.format else command_meta
            if isinstance(item.data, str) and meta is not None and meta.format == "bin":
                item.data = item.data.encode("utf-8")
    return listed


# -- URI and ACL ---------------------------------------------------------------------------
def _text(body: bytes) -> str:
    # surrogateescape keeps every byte and yields lone surrogates: hostile str input.
    return body.decode("utf-8", "surrogateescape")


def _uri(data: bytes, kind: str) -> Any:
    flags, body = _split(data)
    uri = twin_module("tree._uri", kind)
    caps = (0, 0, 0) if not flags & 1 else (flags >> 5, 8 * ((flags >> 1) & 15), 6)
    text = _text(body)
    parsed = uri.parse_uri(text, *caps)
    return (tuple(parsed), uri.normalize_uri(text, *caps), uri.format_uri(parsed.segments),
            [uri.escape_segment(s) for s in parsed.segments])


def _check_name(data: bytes, kind: str) -> Any:
    flags, body = _split(data)
    return twin_module("tree._uri", kind).check_name(_text(body), flags & 15)


_SERVERS = ("*", "srv", "a", "b", "", "x y")


def _acl(data: bytes, kind: str) -> Any:
    from omadm_codec.tree import acl as acl_mod

    _flags, body = _split(data)
    parsed = acl_mod.parse_acl(_text(body))
    if parsed is None:
        return None
    grants = twin_module("tree._uri", kind).acl_grants
    table = [grants(parsed, command, server) for command in acl_mod.COMMANDS + ("Copy",)
             for server in _SERVERS]
    # Canonical text must reparse to the same ACL (idempotent serialisation).
    again = acl_mod.parse_acl(acl_mod.format_acl(parsed))
    if again != parsed:
        raise Failure(f"acl: format_acl does not round-trip: {parsed!r} -> {again!r}")
    return (acl_mod.format_acl(parsed), table)


# -- package 0 and the HMAC header ----------------------------------------------------------
_SECRET = b"c2VjcmV0LWhhc2gtb2YtMTZi"  # any stored B64(H(id:pw)) will do
_NONCE = b"\x00\x01\x02\x03"


def _pkg0(data: bytes, kind: str) -> Any:
    from omadm_codec.security import notification

    _flags, body = _split(data)
    with patched(notification, "_digest", twin_module("security._digest", kind)):
        note = notification.decode(body, versions=(notification.VERSION_1_2, 0, 1023))
        found = notification.matching_nonce_with_secret(body, _SECRET, _NONCE,
                                                        allow_resync=True)
        return (repr(note), note.trigger(), found, notification.session_id_hex(note.session_id))


def _hmac(data: bytes, kind: str) -> Any:
    from omadm_codec.security import auth

    flags, body = _split(data)
    digest = twin_module("security._digest", kind)
    with patched(auth, "_digest", digest):
        header = auth.parse_hmac_header(body if flags & 1 else _text(body))
        ok = auth.verify_hmac(header, _SECRET, _NONCE, body)
        # The raw digest primitives on the same bytes (mac may be any 24 ASCII bytes here).
        raw = digest.mac_verify(_SECRET, _NONCE, body, header.mac.encode("ascii"))
        return (header, ok, bool(raw), digest.mac_b64(_SECRET, body[:16], body))


# -- bearers and bootstrap documents (single-bodied; the twin underneath varies) -------------
def _push(data: bytes, kind: str) -> Any:
    from omadm_codec.security import notification

    _flags, body = _split(data)
    with patched(notification, "_digest", twin_module("security._digest", kind)):
        message = notification.wap_push_unwrap(body)
        try:
            routed: Any = repr(notification.route_push(body))
        except errors.DecodeError as exc:
            routed = _error_key(exc)
        return (repr(message), routed)


def _bootstrap(data: bytes, kind: str) -> Any:
    from omadm_codec import wbxml
    from omadm_codec.security import bootstrap_docs
    from omadm_codec.wbxml import prov as prov_wbxml

    flags, body = _split(data)
    # CP WBXML goes through the shared codec's PROV language: bind this twin's decoder.
    decode = twin_module("wbxml._decode", kind).wbxml_to_xml
    with patched(prov_wbxml, "wbxml_to_xml", decode), patched(wbxml, "wbxml_to_xml", decode):
        if flags & 1:
            return prov_wbxml.prov_wbxml_to_xml(body)
        return repr(bootstrap_docs.parse_any(body))


def _tnds(data: bytes, kind: str) -> Any:
    from omadm_codec.tree import tnds

    _flags, body = _split(data)
    return repr(tnds.parse_tnds(body, max_nodes=200))


# -- sessions (client and server), authenticated first: see session_targets.py ---------------
from session_targets import SESSION_SPLIT, client_target, server_target  # noqa: E402

__all__ = ["SESSION_SPLIT", "TARGETS", "Failure", "Target", "check"]


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("wbxml_decode", _wbxml_decode, "wbxml_to_xml: byte0 bit0 small limits, bit1 indent"),
        Target("xml_encode", _xml_encode,
               "xml_to_wbxml: byte0 bit0 small limits, bit1 string table, bit2 keep ws, "
               "bits3-4 WBXML version"),
        Target("message", _message,
               "messages.decode over both WBXML decoders and both XML fast paths (msgcodec): "
               "bit0 small limits, bit1 strict, bits2-3 content type"),
        Target("commands", _commands,
               "messages.decode_commands (header-less command lists) over both WBXML twins, "
               "then encode_commands -> decode_commands equal in XML and WBXML: bit0 small "
               "limits, bit1 strict, bits2-3 content type"),
        Target("uri", _uri, "parse_uri/normalize_uri: bit0 turns on depth/length/segment caps"),
        Target("check_name", _check_name, "check_name: low nibble = max segment length"),
        Target("acl", _acl, "parse_acl, then acl_grants of both URI twins for every command"),
        Target("pkg0", _pkg0, "notification.decode + matching_nonce over both digest twins"),
        Target("hmac", _hmac, "parse_hmac_header + verify_hmac over both digest twins"),
        Target("push", _push, "wap_push_unwrap + route_push (WSP push PDUs, package 0 inside)"),
        Target("bootstrap", _bootstrap,
               "bit0: prov_wbxml_to_xml (CP WBXML, shared codec's PROV 1.0), else "
               "bootstrap_docs.parse_any (CP/DM XML or WBXML)"),
        Target("tnds", _tnds, "tree.tnds.parse_tnds (TNDS XML from ?list=TNDS / Add)"),
        Target("session", client_target,
               "authenticated ClientSession receives server messages (package 4 on): "
               "bit0 WBXML, bit1 small limits; events, replies and tree dump compared"),
        Target("server_session", server_target,
               "authenticated ServerSession receives client messages (package 3 on): "
               "bit0 WBXML; events and replies compared"),
    )
}
